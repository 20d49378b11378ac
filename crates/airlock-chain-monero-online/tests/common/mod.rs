//! Test harness: a real `monerod --regtest --offline --fixed-difficulty 1` and a real
//! `monero-wallet-rpc` (Debian package `monero` 0.18; `scripts/install-monero.sh`), each on free
//! 127.0.0.1 ports in its own temporary directory, killed on Drop. A missing binary fails the test
//! (it never skips). `AIRLOCK_MONEROD` / `AIRLOCK_MONERO_WALLET_RPC` override the paths.
//!
//! This harness must never talk to anything but loopback.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airlock_chain_monero::CHAIN;
use airlock_chain_monero::keys::{MoneroNetwork, ViewKeys};
use airlock_chain_monero::review::ASSET;
use airlock_chain_monero::subaddress::Lookahead;
use airlock_chain_monero_online::daemon::DaemonClient;
use airlock_chain_monero_online::scan::{ScanKeys, ScanState, SyncOptions, ViewScanner};
use airlock_core::artifacts::{Intent, Proposal, Transfer};
use airlock_core::vault::{CoordinatorRef, VaultDefinition};
use airlock_core::{ArtifactId, PublicKey};
use serde_json::{Value, json};

/// The network of every regtest wallet in these tests.
pub const NET: MoneroNetwork = MoneroNetwork::Regtest;

/// A one-signer `monero` vault whose account is `address` (review needs no more).
pub fn vault_for(address: &str) -> VaultDefinition {
    VaultDefinition {
        vault_id: "xmr-cold".into(),
        version: 1,
        previous: None,
        chain: CHAIN.into(),
        network: NET.name().into(),
        account: address.into(),
        coordinator: CoordinatorRef {
            origin: "test".into(),
            key: PublicKey([1; 32]),
        },
        signers: vec![],
        threshold: 1,
        rules: vec![],
        created: 0,
        witnesses: Default::default(),
    }
}

/// A proposal of `vault_for`'s vault with the given intent, payload and spends.
pub fn proposal(transfers: Vec<Transfer>, payload: Vec<u8>, spends: Vec<String>) -> Proposal {
    Proposal {
        vault_id: "xmr-cold".into(),
        vault_version: 1,
        vault_artifact: ArtifactId([0; 32]),
        chain: CHAIN.into(),
        intent: Intent {
            transfers,
            memo: String::new(),
        },
        payload,
        spends,
        rule: "default".into(),
        created: 0,
        expires: 0,
        proposer: PublicKey([2; 32]),
        nonce: [0; 16],
    }
}

/// A payment of `amount` piconero to `destination`.
pub fn xmr(destination: &str, amount: u64) -> Transfer {
    Transfer {
        destination: destination.into(),
        amount: u128::from(amount),
        asset: ASSET.into(),
    }
}

/// The wallet of `view` scanned from `from` to the tip with the vault's scanner (a small
/// subaddress lookahead: these wallets receive on the primary address and a few subaddresses).
pub fn scan_wallet(url: &str, view: &ViewKeys, network: MoneroNetwork, from: u64) -> ScanState {
    let keys = ScanKeys::from_view_keys(view, network).unwrap();
    let lookahead = Lookahead {
        accounts: 2,
        indices: 10,
    };
    let mut scanner = ViewScanner::new(keys, lookahead);
    let mut state = ScanState::new(scanner.keys(), from, lookahead);
    sync_wallet(url, &mut scanner, &mut state);
    state
}

/// Brings `state` to the tip.
pub fn sync_wallet(url: &str, scanner: &mut ViewScanner, state: &mut ScanState) {
    let client = DaemonClient::connect(url).unwrap();
    scanner
        .sync(state, &client, SyncOptions::default())
        .expect("scan");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

fn binary(env: &str, name: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| {
        for dir in ["/usr/bin", "/usr/local/bin"] {
            let p = format!("{dir}/{name}");
            if std::path::Path::new(&p).exists() {
                return p;
            }
        }
        panic!(
            "{name} not found: run scripts/install-monero.sh (Debian package monero) or set {env}"
        )
    })
}

/// POST `body` to `http://127.0.0.1:port/path`, returns the JSON answer.
pub fn http_json(port: u16, path: &str, body: &Value) -> Result<Value, String> {
    let body = body.to_string();
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect {port}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    // Kept alive and read to its Content-Length: epee may cut a large answer short when asked
    // to close the connection.
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        // A signal may interrupt the read (EINTR): read again.
        let n = match stream.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => other.map_err(|e| e.to_string())?,
        };
        if n == 0 {
            return Err(format!("no HTTP answer from port {port}"));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Content-Length from port {port}: {head}"))?;
    let mut payload = vec![0u8; length];
    stream
        .read_exact(&mut payload)
        .map_err(|e| format!("port {port}: answer cut short: {e}"))?;
    serde_json::from_slice(&payload).map_err(|e| {
        format!(
            "bad JSON from port {port}: {e}: {}",
            String::from_utf8_lossy(&payload)
        )
    })
}

pub fn json_rpc(port: u16, method: &str, params: Value) -> Result<Value, String> {
    let answer = http_json(
        port,
        "/json_rpc",
        &json!({"jsonrpc": "2.0", "id": "0", "method": method, "params": params}),
    )?;
    if let Some(err) = answer.get("error") {
        return Err(format!("{method}: {err}"));
    }
    Ok(answer["result"].clone())
}

/// A regtest monerod of its own.
pub struct Monerod {
    child: Child,
    pub rpc_port: u16,
    pub p2p_port: u16,
    _dir: tempfile::TempDir,
}

impl Monerod {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rpc_port = free_port();
        let p2p_port = free_port();
        let child = Command::new(binary("AIRLOCK_MONEROD", "monerod"))
            .args([
                "--regtest",
                "--offline",
                "--fixed-difficulty",
                "1",
                "--non-interactive",
                "--no-igd",
                "--no-zmq",
                "--log-level",
                "0",
                "--data-dir",
            ])
            .arg(dir.path())
            .args(["--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port"])
            .arg(rpc_port.to_string())
            .args(["--p2p-bind-ip", "127.0.0.1", "--p2p-bind-port"])
            .arg(p2p_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start monerod");
        let mut node = Monerod {
            child,
            rpc_port,
            p2p_port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(info) = json_rpc(rpc_port, "get_info", json!({}))
                && info["status"] == "OK"
            {
                break;
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("monerod exited early: {status}");
            }
            assert!(Instant::now() < deadline, "monerod did not answer in 120 s");
            std::thread::sleep(Duration::from_millis(300));
        }
        node
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    /// Mines `count` blocks to `address` in one call (faster than one by one).
    pub fn mine(&self, address: &str, count: u64) {
        let mut left = count;
        while left > 0 {
            let n = left.min(100);
            json_rpc(
                self.rpc_port,
                "generateblocks",
                json!({"amount_of_blocks": n, "wallet_address": address}),
            )
            .expect("generateblocks");
            left -= n;
        }
    }

    pub fn height(&self) -> u64 {
        json_rpc(self.rpc_port, "get_info", json!({})).unwrap()["height"]
            .as_u64()
            .unwrap()
    }
}

impl Drop for Monerod {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A monero-wallet-rpc of its own, pointed at a Monerod.
pub struct WalletRpc {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl WalletRpc {
    pub fn start(daemon: &Monerod) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(binary("AIRLOCK_MONERO_WALLET_RPC", "monero-wallet-rpc"))
            .arg("--wallet-dir")
            .arg(dir.path())
            .args([
                "--disable-rpc-login",
                "--non-interactive",
                "--trusted-daemon",
            ])
            .args(["--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port"])
            .arg(port.to_string())
            .arg("--daemon-address")
            .arg(format!("127.0.0.1:{}", daemon.rpc_port))
            .args(["--log-level", "0"])
            .arg("--log-file")
            .arg(dir.path().join("wallet-rpc.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start monero-wallet-rpc");
        let mut rpc = WalletRpc {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if json_rpc(port, "get_version", json!({})).is_ok() {
                break;
            }
            if let Ok(Some(status)) = rpc.child.try_wait() {
                panic!("monero-wallet-rpc exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "monero-wallet-rpc did not answer in 120 s"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        rpc
    }

    pub fn call(&self, method: &str, params: Value) -> Value {
        json_rpc(self.port, method, params).unwrap_or_else(|e| panic!("wallet-rpc {e}"))
    }

    /// The directory the wallet files live in.
    pub fn wallet_dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

/// Runs one monero-wallet-cli command on a wallet file of `rpc`'s directory (closed in the RPC
/// first) and returns what it printed; panics unless the command succeeded.
#[allow(dead_code)]
pub fn wallet_cli(rpc: &WalletRpc, daemon: &Monerod, wallet: &str, command: &[&str]) -> String {
    let output = Command::new(binary("AIRLOCK_MONERO_WALLET_CLI", "monero-wallet-cli"))
        .arg("--wallet-file")
        .arg(rpc.wallet_dir().join(wallet))
        .args(["--password", "", "--trusted-daemon", "--daemon-address"])
        .arg(format!("127.0.0.1:{}", daemon.rpc_port))
        .args(["--log-level", "0", "--log-file"])
        .arg(rpc.wallet_dir().join("wallet-cli.log"))
        .args(command)
        .stdin(Stdio::null())
        .output()
        .expect("run monero-wallet-cli");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // It exits 0 even when the command fails; it says "Error:" then.
    assert!(
        output.status.success() && !printed.contains("Error:"),
        "monero-wallet-cli {command:?}: {printed}"
    );
    printed
}

impl Drop for WalletRpc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
