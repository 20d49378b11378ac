//! `airlock chain …` (how the coordinator reaches each chain's node) and `airlock eth …`
//! (Ethereum work beyond plain transfers: Safe deployment, arbitrary calls, typed data, owner
//! rotation, account status). A thin layer over `airlock_coordinator::chains` and
//! `airlock_chain_ethereum`'s online half.
//!
//! Plain ETH and ERC-20 transfers go through `airlock propose --to DEST:WEI[:TOKEN]` like any
//! chain. Everything proposed here passes the same checks as `propose`: the payload is described
//! from the vault, the intent is what that description pays, and the nonces are the next ones.
//!
//! This module must never hold a vault owner's key: the only Ethereum key it reads is the relayer
//! (gas for `execTransaction`, deployments).

use std::path::{Path, PathBuf};

use airlock_chain_ethereum::{EthAddress, EthVault, calldata};
use airlock_chain_ethereum_online::chain_online::{EthereumOnline, typed_data_payload};
use airlock_chain_ethereum_online::deploy::{self, SafeDeployment};
use airlock_chain_ethereum_online::online::{Call, SafeClient};
use airlock_cli_support::{CliError, CliResult, print_json};
use airlock_coordinator::CoordinatorHome;
use airlock_coordinator::chains::{self, ChainSettings, EthereumSettings};
use airlock_core::chain::BuiltPayload;
use alloy_primitives::U256;
use clap::Subcommand;

use crate::payload_proposal::{ProposalOut, propose_built};
use serde_json::json;

#[derive(Subcommand)]
pub enum ChainCommand {
    /// Set the Ethereum node (JSON-RPC over http) and the relayer key file that pays gas for
    /// Safe executions; checks the node answers.
    Ethereum {
        /// The node's JSON-RPC URL, e.g. http://127.0.0.1:8545.
        #[arg(long)]
        rpc: String,
        /// A file holding the relayer's secret key as hex (keep it mode 0600; it only pays gas).
        #[arg(long)]
        relayer_key_file: Option<PathBuf>,
    },
    /// Set Bitcoin's default fee rate and the Electrum server used to sync and broadcast.
    Bitcoin {
        /// sat/vB for `airlock propose` (default 2).
        #[arg(long)]
        fee_rate: Option<f64>,
        /// tcp://host:port or ssl://host:port (none: feed transactions with `btc add-tx`).
        #[arg(long)]
        electrum: Option<String>,
    },
    /// Set monerod's RPC URL (checked to answer); Monero vaults' scan states go to `monero/`.
    Monero {
        #[arg(long)]
        daemon: String,
    },
    /// Show the configured chains.
    Show,
}

#[derive(Subcommand)]
pub enum EthCommand {
    /// Read a vault's account (balance, nonce, a Safe's owners and threshold) from the node at
    /// its latest block and commit it to the log when it changed (witnesses recompute it).
    Sync {
        #[arg(long)]
        vault: String,
    },
    /// Deploy the Safe 1.4.1 contracts (singleton, proxy factory, MultiSendCallOnly, fallback
    /// handler) from the relayer, on a development chain; writes their addresses as JSON.
    DeploySafeContracts {
        /// Where to write the deployment's addresses.
        #[arg(long)]
        out: PathBuf,
    },
    /// Create a Safe through the factory of a deployment; prints the vault account text.
    CreateSafe {
        /// The deployment file written by `deploy-safe-contracts`.
        #[arg(long)]
        deployment: PathBuf,
        /// An owner's address (the signers' chain keys); repeat.
        #[arg(long = "owner", required = true)]
        owners: Vec<String>,
        #[arg(long)]
        threshold: u64,
        /// The CREATE2 salt nonce.
        #[arg(long, default_value_t = 0)]
        salt: u64,
    },
    /// Propose arbitrary calls (one transaction each for an account, one SafeTx or a
    /// MultiSendCallOnly batch for a Safe).
    Call {
        #[arg(long)]
        vault: String,
        /// A call as TO:WEI[:0xDATA]; repeat for a batch.
        #[arg(long = "call", required = true)]
        calls: Vec<String>,
        #[command(flatten)]
        out: ProposalOut,
    },
    /// Propose signing EIP-712 typed data (the JSON of eth_signTypedData_v4).
    TypedData {
        #[arg(long)]
        vault: String,
        file: PathBuf,
        #[command(flatten)]
        out: ProposalOut,
    },
    /// Propose replacing a Safe owner (key rotation): `swapOwner` on the Safe itself.
    SwapOwner {
        #[arg(long)]
        vault: String,
        /// The owner to remove.
        #[arg(long)]
        old: String,
        /// The new owner.
        #[arg(long)]
        new: String,
        #[command(flatten)]
        out: ProposalOut,
    },
    /// Propose a Safe transaction made in Safe{Wallet}: the Safe Transaction Service's JSON of
    /// it (`GET …/multisig-transactions/{safeTxHash}/`). Its safeTxHash is recomputed and every
    /// confirmation it carries verified against the Safe's owners; members still approve it in
    /// Airlock, where the vault's rules apply.
    ImportSafeTx {
        #[arg(long)]
        vault: String,
        file: PathBuf,
        #[command(flatten)]
        out: ProposalOut,
    },
    /// Write a Safe proposal as the Safe Transaction Service's JSON, with the owner signatures
    /// of its Airlock approvals as confirmations, for Safe{Wallet} (same safeTxHash).
    ExportSafeTx {
        proposal: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// The vault's account on chain: balance, nonce, Safe owners and threshold.
    Status {
        #[arg(long)]
        vault: String,
    },
}

fn settings_path_note(home: &Path) -> String {
    home.join(chains::CHAINS_FILE).display().to_string()
}

pub fn run_chain(home: &Path, json: bool, cmd: ChainCommand) -> CliResult {
    CoordinatorHome::open(home)?;
    let mut settings = ChainSettings::load(home)?;
    match cmd {
        ChainCommand::Ethereum {
            rpc,
            relayer_key_file,
        } => {
            let relayer_key_file = relayer_key_file
                .map(|p| std::path::absolute(&p).unwrap_or(p))
                .map(|p| -> CliResult<PathBuf> {
                    chains::read_relayer_key(&p)?;
                    Ok(p)
                })
                .transpose()?;
            let candidate = ChainSettings {
                ethereum: Some(EthereumSettings {
                    rpc: rpc.clone(),
                    relayer_key_file,
                }),
                ..settings.clone()
            };
            let chain = chains::ethereum(&candidate)?;
            let chain_id = chain.rpc().chain_id().map_err(|e| {
                CliError::new(format!("the node does not answer, nothing saved: {e}"))
            })?;
            let relayer = match &candidate.ethereum.as_ref().expect("set").relayer_key_file {
                Some(p) => {
                    let key = chains::read_relayer_key(p)?;
                    let balance = chain.rpc().balance(key.address().0)?;
                    Some((key.address(), balance))
                }
                None => None,
            };
            settings.ethereum = candidate.ethereum;
            settings.save(home)?;
            if json {
                print_json(&json!({
                    "rpc": rpc, "chain_id": chain_id,
                    "relayer": relayer.as_ref().map(|(a, _)| a.to_string()),
                    "relayer_balance_wei": relayer.as_ref().map(|(_, b)| b.to_string()),
                    "settings": settings_path_note(home),
                }));
            } else {
                println!("Ethereum node {rpc}: chain id {chain_id}");
                match relayer {
                    Some((a, b)) => println!(
                        "relayer {a} ({}) pays gas for Safe executions",
                        airlock_chain_ethereum::format_eth(b)
                    ),
                    None => println!(
                        "no relayer: account vaults work; Safe executions need --relayer-key-file"
                    ),
                }
                println!("saved in {}", settings_path_note(home));
            }
            Ok(())
        }
        ChainCommand::Bitcoin { fee_rate, electrum } => {
            crate::btc_cmd::run_chain_bitcoin(home, json, fee_rate, electrum)
        }
        ChainCommand::Monero { daemon } => crate::xmr_cmd::configure(home, json, daemon),
        ChainCommand::Show => {
            if json {
                print_json(&serde_json::to_value(&settings)?);
            } else {
                match &settings.ethereum {
                    Some(e) => println!(
                        "ethereum  rpc {}  relayer {}",
                        e.rpc,
                        e.relayer_key_file
                            .as_ref()
                            .map_or("none".into(), |p| p.display().to_string())
                    ),
                    None => println!("ethereum  not configured"),
                }
                println!("none      built in (decision-only vaults)");
            }
            Ok(())
        }
    }
}

fn ethereum(home: &Path) -> CliResult<EthereumOnline> {
    Ok(chains::ethereum(&ChainSettings::load(home)?)?)
}

fn relayer(home: &Path) -> CliResult<airlock_chain_ethereum::EthKey> {
    let settings = ChainSettings::load(home)?;
    let path = settings
        .ethereum
        .and_then(|e| e.relayer_key_file)
        .ok_or_else(|| {
            CliError::new("no relayer configured: `airlock chain ethereum --relayer-key-file FILE`")
        })?;
    Ok(chains::read_relayer_key(&path)?)
}

fn address(s: &str, what: &str) -> CliResult<EthAddress> {
    EthAddress::parse(s).map_err(|e| CliError::new(format!("{what}: {e}")))
}

fn parse_call(spec: &str) -> CliResult<Call> {
    let mut parts = spec.splitn(3, ':');
    let (to, value, data) = (parts.next(), parts.next(), parts.next());
    let (Some(to), Some(value)) = (to, value) else {
        return Err(CliError::new(format!(
            "--call {spec:?} is not TO:WEI[:0xDATA]"
        )));
    };
    let value: U256 = value.parse().map_err(|_| {
        CliError::new(format!(
            "--call {spec:?}: {value:?} is not an amount in wei"
        ))
    })?;
    let data = match data {
        None | Some("") | Some("0x") => Vec::new(),
        Some(d) => hex::decode(d.strip_prefix("0x").unwrap_or(d))
            .map_err(|_| CliError::new(format!("--call {spec:?}: the data is not hex")))?,
    };
    Ok(Call {
        to: address(to, "--call")?.0,
        value,
        input: data,
    })
}

pub fn run_eth(home: &Path, json: bool, cmd: EthCommand) -> CliResult {
    CoordinatorHome::open(home)?;
    match cmd {
        EthCommand::Sync { vault } => {
            let (def, _) = crate::open(home)?.vault_latest(&vault)?;
            if def.chain != airlock_chain_ethereum::CHAIN {
                return Err(CliError::new(format!(
                    "vault {vault:?} is a {} vault, not an Ethereum vault",
                    def.chain
                )));
            }
            let commitment = crate::commit_state(home, &vault)?;
            if json {
                print_json(&json!({ "vault": vault, "commitment": commitment }));
            }
            Ok(())
        }
        EthCommand::DeploySafeContracts { out } => {
            let chain = ethereum(home)?;
            let artifacts = deploy::SafeArtifacts::load(&deploy::peers_dir())?;
            let relayer = relayer(home)?;
            let d = deploy::deploy_safe_contracts(chain.rpc(), &relayer, &artifacts)?;
            let text = serde_json::to_vec_pretty(&json!({
                "singleton": EthAddress(d.singleton).to_string(),
                "proxy_factory": EthAddress(d.proxy_factory).to_string(),
                "multi_send_call_only": EthAddress(d.multi_send_call_only).to_string(),
                "fallback_handler": EthAddress(d.fallback_handler).to_string(),
            }))?;
            airlock_transport::write_atomic(&out, &text)?;
            if json {
                print_json(&serde_json::from_slice(&text)?);
            } else {
                println!(
                    "Safe 1.4.1 contracts deployed; addresses in {}",
                    out.display()
                );
                println!("{}", String::from_utf8_lossy(&text));
            }
            Ok(())
        }
        EthCommand::CreateSafe {
            deployment,
            owners,
            threshold,
            salt,
        } => {
            let d = read_deployment(&deployment)?;
            let owners = owners
                .iter()
                .map(|o| address(o, "--owner").map(|a| a.0))
                .collect::<CliResult<Vec<_>>>()?;
            let chain = ethereum(home)?;
            let safe = deploy::create_safe(
                chain.rpc(),
                &relayer(home)?,
                &d,
                &owners,
                threshold,
                U256::from(salt),
            )?;
            let ms = EthAddress(d.multi_send_call_only);
            let account = format!(
                "safe:{} threshold={threshold} version=1.4.1 multisend={ms} delegatecall={ms}",
                EthAddress(safe)
            );
            if json {
                print_json(&json!({ "safe": EthAddress(safe).to_string(), "account": account }));
            } else {
                println!("Safe {} created", EthAddress(safe));
                println!("vault account: --account '{account}'");
            }
            Ok(())
        }
        EthCommand::Call { vault, calls, out } => {
            let calls = calls
                .iter()
                .map(|c| parse_call(c))
                .collect::<CliResult<Vec<_>>>()?;
            let c = CoordinatorHome::open(home)?.coordinator()?;
            let (def, _) = c.vault_latest(&vault)?;
            let built = ethereum(home)?.build_calls(&def, &calls)?;
            let targets: Vec<String> = calls.iter().map(|c| EthAddress(c.to).to_string()).collect();
            let memo = format!("{} call(s) to {}", calls.len(), targets.join(", "));
            propose_built(
                home,
                json,
                &vault,
                built,
                out,
                memo,
                &airlock_chain_ethereum::Ethereum,
            )
        }
        EthCommand::TypedData { vault, file, out } => {
            let bytes = airlock_transport::read_bounded(&file, 1024 * 1024)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| CliError::new(format!("{}: not UTF-8 JSON", file.display())))?;
            let payload = typed_data_payload(&text)?;
            let c = CoordinatorHome::open(home)?.coordinator()?;
            let (def, _) = c.vault_latest(&vault)?;
            let spec = EthVault::from_vault(&def)?;
            let review = airlock_chain_ethereum::describe(
                &airlock_chain_ethereum::EthPayload::from_bytes(&payload)?,
                &spec.account,
                &spec.policy,
            )?;
            let spends = airlock_chain_ethereum::chain::spends_of(&spec, &review);
            let memo = format!("sign EIP-712 typed data from {}", file.display());
            propose_built(
                home,
                json,
                &vault,
                BuiltPayload { payload, spends },
                out,
                memo,
                &airlock_chain_ethereum::Ethereum,
            )
        }
        EthCommand::ImportSafeTx { vault, file, out } => {
            let bytes = airlock_transport::read_bounded(
                &file,
                airlock_chain_ethereum::safe_service::MAX_SERVICE_JSON as u64,
            )?;
            let text = String::from_utf8(bytes)
                .map_err(|_| CliError::new(format!("{}: not UTF-8 JSON", file.display())))?;
            let c = CoordinatorHome::open(home)?.coordinator()?;
            let (def, _) = c.vault_latest(&vault)?;
            let spec = EthVault::from_vault(&def)?;
            let (owners, _) = spec
                .safe_owners()
                .ok_or_else(|| CliError::new(format!("vault {vault:?} is not a Safe")))?;
            let read = airlock_chain_ethereum::safe_service::read(
                &text,
                spec.chain_id,
                spec.address(),
                owners,
            )
            .map_err(|e| CliError::new(format!("{}: {e}", file.display())))?;
            let payload = airlock_chain_ethereum::EthPayload::SafeTx {
                chain_id: spec.chain_id,
                safe: spec.address(),
                safe_version: match &spec.account.kind {
                    airlock_chain_ethereum::AccountKind::Safe { version, .. } => version.clone(),
                    airlock_chain_ethereum::AccountKind::Eoa { .. } => String::new(),
                },
                tx: read.tx.clone(),
            };
            let review = airlock_chain_ethereum::describe(&payload, &spec.account, &spec.policy)?;
            let spends = airlock_chain_ethereum::chain::spends_of(&spec, &review);
            let confirmed: Vec<String> = read
                .confirmations
                .iter()
                .map(|c| c.owner.to_string())
                .collect();
            if !json && !confirmed.is_empty() {
                println!(
                    "Safe{{Wallet}} confirmations verified (shown, not counted: members approve in Airlock): {}",
                    confirmed.join(", ")
                );
            }
            let memo = format!(
                "Safe transaction {} from Safe{{Wallet}} ({})",
                read.safe_tx_hash,
                file.display()
            );
            propose_built(
                home,
                json,
                &vault,
                BuiltPayload {
                    payload: payload.to_bytes()?,
                    spends,
                },
                out,
                memo,
                &airlock_chain_ethereum::Ethereum,
            )
        }
        EthCommand::ExportSafeTx { proposal, out } => {
            let c = CoordinatorHome::open(home)?.coordinator()?;
            let id = c.resolve(&proposal)?;
            let state = c.proposal_state(&id)?;
            let payload = airlock_chain_ethereum::EthPayload::from_bytes(&state.proposal.payload)?;
            let airlock_chain_ethereum::EthPayload::SafeTx {
                chain_id, safe, tx, ..
            } = &payload
            else {
                return Err(CliError::new(format!(
                    "proposal {} is not a Safe transaction",
                    id.short()
                )));
            };
            let hash = airlock_chain_ethereum::safe_tx_hash(*chain_id, *safe, tx);
            let mut confirmations = Vec::new();
            for d in state.approvals_used() {
                let material = &d.approval.chain_signature;
                if material.is_empty() {
                    continue;
                }
                let sig = airlock_chain_ethereum::chain::decode_signature_material(material)?;
                let owner = d.signer.chain_key.parse::<EthAddress>()?;
                confirmations.push((owner, sig));
            }
            let value = airlock_chain_ethereum::safe_service::write(
                *chain_id,
                *safe,
                tx,
                &confirmations,
                "airlock",
            );
            let text = serde_json::to_string_pretty(&value)? + "\n";
            airlock_transport::write_atomic(&out, text.as_bytes())?;
            if json {
                print_json(&json!({
                    "proposal": id.to_hex(), "safe_tx_hash": hash.to_string(),
                    "confirmations": confirmations.len(), "out": out,
                }));
            } else {
                println!(
                    "Safe transaction {hash} with {} confirmation(s) -> {}",
                    confirmations.len(),
                    out.display()
                );
            }
            Ok(())
        }
        EthCommand::SwapOwner {
            vault,
            old,
            new,
            out,
        } => {
            let (old, new) = (address(&old, "--old")?, address(&new, "--new")?);
            let c = CoordinatorHome::open(home)?.coordinator()?;
            let (def, _) = c.vault_latest(&vault)?;
            let spec = EthVault::from_vault(&def)?;
            if spec.safe_owners().is_none() {
                return Err(CliError::new(format!("vault {vault:?} is not a Safe")));
            }
            let chain = ethereum(home)?;
            let owners = SafeClient::new(chain.rpc(), spec.address().0).owners()?;
            let pos = owners.iter().position(|o| *o == old.0).ok_or_else(|| {
                CliError::new(format!("{old} is not an owner of Safe {}", spec.address()))
            })?;
            if owners.contains(&new.0) {
                return Err(CliError::new(format!("{new} is already an owner")));
            }
            let prev = if pos == 0 {
                calldata::SENTINEL_OWNERS
            } else {
                EthAddress(owners[pos - 1])
            };
            let call = Call {
                to: spec.address().0,
                value: U256::ZERO,
                input: calldata::encode_swap_owner(prev, old, new),
            };
            let built = chain.build_calls(&def, &[call])?;
            let memo = format!("key rotation: Safe owner {old} replaced by {new} (swapOwner)");
            propose_built(
                home,
                json,
                &vault,
                built,
                out,
                memo,
                &airlock_chain_ethereum::Ethereum,
            )
        }
        EthCommand::Status { vault } => {
            let c = CoordinatorHome::open(home)?.coordinator()?;
            let (def, _) = c.vault_latest(&vault)?;
            let spec = EthVault::from_vault(&def)?;
            let chain = ethereum(home)?;
            let rpc = chain.rpc();
            let balance = rpc.balance(spec.address().0)?;
            let mut v = json!({
                "vault": vault, "address": spec.address().to_string(), "chain_id": spec.chain_id,
                "node_chain_id": rpc.chain_id()?, "balance_wei": balance.to_string(),
            });
            match spec.safe_owners() {
                Some(_) => {
                    let safe = SafeClient::new(rpc, spec.address().0);
                    v["safe_nonce"] = json!(safe.nonce()?.to_string());
                    v["owners"] = json!(
                        safe.owners()?
                            .iter()
                            .map(|o| EthAddress(*o).to_string())
                            .collect::<Vec<_>>()
                    );
                    v["threshold"] = json!(safe.threshold()?.to_string());
                }
                None => {
                    v["nonce"] = json!(rpc.transaction_count(spec.address().0)?);
                }
            }
            if json {
                print_json(&v);
            } else {
                println!(
                    "{vault}: {} on chain {} — {}",
                    spec.address(),
                    spec.chain_id,
                    airlock_chain_ethereum::format_eth(balance)
                );
                for key in ["nonce", "safe_nonce", "threshold", "owners"] {
                    if let Some(x) = v.get(key) {
                        println!("  {key}: {x}");
                    }
                }
            }
            Ok(())
        }
    }
}

fn read_deployment(path: &Path) -> CliResult<SafeDeployment> {
    let bytes = airlock_transport::read_bounded(path, 64 * 1024)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    let get = |k: &str| -> CliResult<alloy_primitives::Address> {
        let s = v[k]
            .as_str()
            .ok_or_else(|| CliError::new(format!("{}: no {k}", path.display())))?;
        Ok(address(s, k)?.0)
    };
    Ok(SafeDeployment {
        singleton: get("singleton")?,
        proxy_factory: get("proxy_factory")?,
        multi_send_call_only: get("multi_send_call_only")?,
        fallback_handler: get("fallback_handler")?,
    })
}
