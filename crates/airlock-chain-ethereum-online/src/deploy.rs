//! Safe 1.4.1 deployment from the official npm artifacts, and a local anvil node for tests
//! (feature `online`).
//!
//! The contract bytecode is never part of this repository: it is read at run time from the npm
//! package `@safe-global/safe-contracts@1.4.1` installed under a peers directory
//! (`target/peers` by default, `AIRLOCK_PEERS` to override), in
//! `node_modules/@safe-global/safe-contracts/build/artifacts/contracts/…/<Name>.json`.
//! anvil comes from the npm package `@foundry-rs/anvil-linux-amd64@1.7.1`, which ships the binary
//! at `node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airlock_core::chain::ChainError;
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::{SolCall, SolEvent};

use crate::address::EthAddress;
use crate::online::{HashSigner, ISafe, ISafeProxyFactory, send};
use crate::rpc::{CallRequest, RpcClient};

/// The Safe contracts package and version whose artifacts are deployed.
pub const SAFE_CONTRACTS_PACKAGE: &str = "@safe-global/safe-contracts@1.4.1";
/// The anvil package.
pub const ANVIL_PACKAGE: &str = "@foundry-rs/anvil-linux-amd64@1.7.1";
/// The mnemonic anvil's development accounts derive from (`m/44'/60'/0'/0/i`).
pub const ANVIL_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// The chain id the test node runs with.
pub const ANVIL_CHAIN_ID: u64 = 31337;

fn err(message: impl Into<String>) -> ChainError {
    ChainError::new("ethereum", message)
}

/// The peers directory: `AIRLOCK_PEERS`, else `<workspace>/target/peers`.
pub fn peers_dir() -> PathBuf {
    match std::env::var_os("AIRLOCK_PEERS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            let workspace = crate_dir
                .parent()
                .and_then(Path::parent)
                .unwrap_or(crate_dir);
            workspace.join("target").join("peers")
        }
    }
}

/// The command that installs an npm package into `peers`.
pub fn install_command(peers: &Path, package: &str) -> String {
    format!("npm install --prefix {} {package}", peers.display())
}

fn package_dir(peers: &Path, package: &str) -> PathBuf {
    let name = package.rsplit_once('@').map_or(package, |(n, _)| n);
    peers.join("node_modules").join(name)
}

/// Checks that `package` (name@version) is installed under `peers` at that version.
fn installed_package(peers: &Path, package: &str) -> Result<PathBuf, ChainError> {
    let dir = package_dir(peers, package);
    let want = package.rsplit_once('@').map_or("", |(_, v)| v);
    let manifest = std::fs::read(dir.join("package.json")).map_err(|e| {
        err(format!(
            "{package} is not installed ({}: {e}); install it with: {}",
            dir.display(),
            install_command(peers, package)
        ))
    })?;
    let version = serde_json::from_slice::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|v| v.get("version")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    if version != want {
        return Err(err(format!(
            "{} holds version {version:?}, {want} is needed; install it with: {}",
            dir.display(),
            install_command(peers, package)
        )));
    }
    Ok(dir)
}

/// A compiled contract read from a Hardhat artifact.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub name: String,
    /// Creation code (constructor arguments are appended by the caller).
    pub bytecode: Vec<u8>,
}

impl Artifact {
    /// Reads a Hardhat artifact JSON (`contractName`, `bytecode`; no unlinked libraries).
    pub fn load(path: &Path) -> Result<Artifact, ChainError> {
        let text = std::fs::read(path)
            .map_err(|e| err(format!("cannot read artifact {}: {e}", path.display())))?;
        let v: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| err(format!("artifact {} is not JSON: {e}", path.display())))?;
        let name = v
            .get("contractName")
            .and_then(|n| n.as_str())
            .ok_or_else(|| err(format!("artifact {} has no contractName", path.display())))?;
        let links = v.get("linkReferences");
        if links.is_some_and(|l| l.as_object().is_some_and(|o| !o.is_empty())) {
            return Err(err(format!("artifact {name} needs libraries linked")));
        }
        let bytecode = v
            .get("bytecode")
            .and_then(|b| b.as_str())
            .and_then(|b| b.strip_prefix("0x"))
            .and_then(|b| hex::decode(b).ok())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| err(format!("artifact {name} has no usable bytecode")))?;
        Ok(Artifact {
            name: name.to_owned(),
            bytecode,
        })
    }
}

/// The Safe 1.4.1 artifacts Airlock deploys or uses.
#[derive(Clone, Debug)]
pub struct SafeArtifacts {
    /// `Safe.sol` (the L1 singleton; SafeL2 only adds events).
    pub safe: Artifact,
    pub proxy_factory: Artifact,
    pub multi_send_call_only: Artifact,
    pub fallback_handler: Artifact,
    /// The package's test token (`ERC20Token`, OpenZeppelin ERC20 "TestToken"/"TT" minting
    /// 10^15 units to its deployer): for tests only.
    pub test_erc20: Artifact,
}

impl SafeArtifacts {
    /// Loads the artifacts from `@safe-global/safe-contracts@1.4.1` under `peers`; a missing
    /// package is an error that gives the install command.
    pub fn load(peers: &Path) -> Result<SafeArtifacts, ChainError> {
        let root = installed_package(peers, SAFE_CONTRACTS_PACKAGE)?
            .join("build")
            .join("artifacts")
            .join("contracts");
        let a = |rel: &str| Artifact::load(&root.join(rel));
        Ok(SafeArtifacts {
            safe: a("Safe.sol/Safe.json")?,
            proxy_factory: a("proxies/SafeProxyFactory.sol/SafeProxyFactory.json")?,
            multi_send_call_only: a("libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json")?,
            fallback_handler: a(
                "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json",
            )?,
            test_erc20: a("test/ERC20Token.sol/ERC20Token.json")?,
        })
    }
}

/// Addresses of a Safe 1.4.1 deployment on one chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SafeDeployment {
    pub singleton: Address,
    pub proxy_factory: Address,
    /// Batches are a delegatecall from the Safe to this contract: a vault policy must allowlist
    /// exactly this address for `operation = 1`.
    pub multi_send_call_only: Address,
    pub fallback_handler: Address,
}

/// Deploys creation code from `deployer`; returns the new contract's address once it has code.
pub fn deploy_contract(
    rpc: &RpcClient,
    deployer: &dyn HashSigner,
    init_code: Vec<u8>,
) -> Result<Address, ChainError> {
    let receipt = send(rpc, deployer, None, U256::ZERO, init_code, None)?;
    if !receipt.success {
        return Err(err(format!(
            "deployment {} reverted",
            receipt.transaction_hash
        )));
    }
    let address = receipt
        .contract_address
        .ok_or_else(|| err("the deployment receipt names no contract address"))?;
    if rpc.code(address)?.is_empty() {
        return Err(err(format!("no code at the deployed address {address}")));
    }
    Ok(address)
}

/// Deploys the Safe singleton, SafeProxyFactory, MultiSendCallOnly and
/// CompatibilityFallbackHandler (none takes constructor arguments).
pub fn deploy_safe_contracts(
    rpc: &RpcClient,
    deployer: &dyn HashSigner,
    artifacts: &SafeArtifacts,
) -> Result<SafeDeployment, ChainError> {
    Ok(SafeDeployment {
        singleton: deploy_contract(rpc, deployer, artifacts.safe.bytecode.clone())?,
        proxy_factory: deploy_contract(rpc, deployer, artifacts.proxy_factory.bytecode.clone())?,
        multi_send_call_only: deploy_contract(
            rpc,
            deployer,
            artifacts.multi_send_call_only.bytecode.clone(),
        )?,
        fallback_handler: deploy_contract(
            rpc,
            deployer,
            artifacts.fallback_handler.bytecode.clone(),
        )?,
    })
}

/// `setup(owners, threshold, to = 0, data = 0x, fallbackHandler, paymentToken = 0, payment = 0,
/// paymentReceiver = 0)` calldata: the proxy's initializer.
pub fn setup_calldata(owners: &[Address], threshold: u64, fallback_handler: Address) -> Vec<u8> {
    ISafe::setupCall {
        _owners: owners.to_vec(),
        _threshold: U256::from(threshold),
        to: Address::ZERO,
        data: Default::default(),
        fallbackHandler: fallback_handler,
        paymentToken: Address::ZERO,
        payment: U256::ZERO,
        paymentReceiver: Address::ZERO,
    }
    .abi_encode()
}

/// The CREATE2 address `createProxyWithNonce(singleton, initializer, salt_nonce)` deploys to:
/// salt = keccak256(keccak256(initializer) ‖ saltNonce), init code = proxyCreationCode ‖
/// uint256(singleton).
pub fn predict_safe_address(
    factory: Address,
    singleton: Address,
    proxy_creation_code: &[u8],
    initializer: &[u8],
    salt_nonce: U256,
) -> Address {
    let mut salt_input = keccak256(initializer).to_vec();
    salt_input.extend_from_slice(&salt_nonce.to_be_bytes::<32>());
    let salt = keccak256(&salt_input);
    let mut init_code = proxy_creation_code.to_vec();
    init_code.extend_from_slice(B256::left_padding_from(singleton.as_slice()).as_slice());
    factory.create2(salt, keccak256(&init_code))
}

/// Creates a Safe proxy with `owners` and `threshold` through the factory, after predicting its
/// address; fails unless the factory's `ProxyCreation` event names the predicted address and the
/// new Safe reports the owners and threshold asked for.
pub fn create_safe(
    rpc: &RpcClient,
    sender: &dyn HashSigner,
    deployment: &SafeDeployment,
    owners: &[Address],
    threshold: u64,
    salt_nonce: U256,
) -> Result<Address, ChainError> {
    if threshold == 0 || threshold > owners.len() as u64 {
        return Err(err(format!(
            "threshold {threshold} for {} owners",
            owners.len()
        )));
    }
    let initializer = setup_calldata(owners, threshold, deployment.fallback_handler);
    let code = rpc.eth_call(&CallRequest {
        to: Some(deployment.proxy_factory),
        data: ISafeProxyFactory::proxyCreationCodeCall {}
            .abi_encode()
            .into(),
        ..CallRequest::default()
    })?;
    let code = ISafeProxyFactory::proxyCreationCodeCall::abi_decode_returns(&code)
        .map_err(|e| err(format!("proxyCreationCode: {e}")))?;
    let predicted = predict_safe_address(
        deployment.proxy_factory,
        deployment.singleton,
        &code,
        &initializer,
        salt_nonce,
    );
    let call = ISafeProxyFactory::createProxyWithNonceCall {
        _singleton: deployment.singleton,
        initializer: initializer.into(),
        saltNonce: salt_nonce,
    };
    let receipt = send(
        rpc,
        sender,
        Some(deployment.proxy_factory),
        U256::ZERO,
        call.abi_encode(),
        None,
    )?;
    if !receipt.success {
        return Err(err(format!(
            "createProxyWithNonce {} reverted",
            receipt.transaction_hash
        )));
    }
    let created = receipt
        .logs
        .iter()
        .find(|l| {
            l.address == deployment.proxy_factory
                && l.topics.first() == Some(&ISafeProxyFactory::ProxyCreation::SIGNATURE_HASH)
        })
        .and_then(|l| l.topics.get(1))
        .map(|t| Address::from_word(*t))
        .ok_or_else(|| err("the factory emitted no ProxyCreation event"))?;
    if created != predicted {
        return Err(err(format!(
            "the factory created {} but {} was predicted",
            EthAddress(created).checksummed(),
            EthAddress(predicted).checksummed()
        )));
    }
    let safe = crate::online::SafeClient::new(rpc, created);
    let (mut got, mut want) = (safe.owners()?, owners.to_vec());
    got.sort();
    want.sort();
    if got != want || safe.threshold()? != U256::from(threshold) {
        return Err(err(
            "the new Safe does not report the owners and threshold set up",
        ));
    }
    Ok(created)
}

/// A local anvil node on a free loopback port, killed on drop.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    pub port: u16,
    pub url: String,
}

impl Anvil {
    /// The anvil binary shipped in the npm package under `peers`.
    pub fn binary(peers: &Path) -> Result<PathBuf, ChainError> {
        let bin = installed_package(peers, ANVIL_PACKAGE)?
            .join("bin")
            .join("anvil");
        if !bin.is_file() {
            return Err(err(format!(
                "{} is missing; install it with: {}",
                bin.display(),
                install_command(peers, ANVIL_PACKAGE)
            )));
        }
        Ok(bin)
    }

    /// Starts anvil from the npm package under `peers` on 127.0.0.1 at a free port (chain id
    /// 31337, the test mnemonic, 10 accounts of 10,000 ETH, a block per transaction) and waits
    /// until it answers.
    pub fn start(peers: &Path) -> Result<Anvil, ChainError> {
        let bin = Self::binary(peers)?;
        let mut last = String::new();
        // Another process may take the port between our probe and anvil's bind: retry.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| err(format!("no free loopback port: {e}")))?
                .port();
            let child = Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--chain-id", &ANVIL_CHAIN_ID.to_string()])
                .args(["--mnemonic", ANVIL_MNEMONIC, "--accounts", "10"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| err(format!("cannot run {}: {e}", bin.display())))?;
            let mut node = Anvil {
                child,
                port,
                url: format!("http://127.0.0.1:{port}"),
            };
            match node.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return Ok(node),
                Err(e) => last = e,
            }
        }
        Err(err(format!("anvil did not start: {last}")))
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let rpc = RpcClient::new(&self.url)
            .map_err(|e| e.to_string())?
            .with_timeout(Duration::from_secs(2));
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("anvil exited with {status}"));
            }
            match rpc.chain_id() {
                Ok(ANVIL_CHAIN_ID) => return Ok(()),
                Ok(other) => return Err(format!("a node with chain id {other} answered")),
                Err(e) if Instant::now() >= deadline => return Err(e.to_string()),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// A client for this node.
    pub fn rpc(&self) -> RpcClient {
        RpcClient::new(&self.url).expect("a loopback http URL")
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_packages_name_the_install_command() {
        let dir = std::env::temp_dir().join("airlock-no-peers-here");
        let e = SafeArtifacts::load(&dir).unwrap_err().to_string();
        assert!(
            e.contains("npm install --prefix") && e.contains(SAFE_CONTRACTS_PACKAGE),
            "{e}"
        );
        let e = Anvil::start(&dir).unwrap_err().to_string();
        assert!(e.contains(ANVIL_PACKAGE), "{e}");
    }

    #[test]
    fn create2_prediction_matches_the_formula() {
        // EIP-1014 example 1: deployer 0, salt 0, init code 0x00.
        let a = Address::ZERO.create2(B256::ZERO, keccak256([0u8]));
        assert_eq!(
            a,
            "0x4D1A2e2bB4F88F0250f26Ffff098B0b30B26BF38"
                .parse::<Address>()
                .unwrap()
        );
    }
}
