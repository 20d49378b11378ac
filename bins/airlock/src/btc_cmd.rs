//! `airlock chain bitcoin …` and `airlock btc …`: Bitcoin vaults on the coordinator. A thin layer
//! over `airlock_chain_bitcoin` (the descriptor vault, the watch-only wallet `online::BitcoinOnline`)
//! and the coordinator's `propose_payload`.
//!
//! Payments go through `airlock propose --to ADDRESS:SATS` (the configured fee rate) or
//! `airlock btc propose` (a fee rate per proposal); `btc sweep` moves everything to a new
//! descriptor (key rotation); `btc import-psbt` proposes a PSBT built by another wallet (reviewed
//! as signers review it, every signature it already carries verified, before anything is stored). Coins and
//! confirmations arrive by `btc sync` (Electrum) or by hand (`btc add-tx`, as Electrum's
//! `addtransaction`).
//!
//! This module must never accept a private key: descriptors with secrets are refused.

use std::path::{Path, PathBuf};

use airlock_chain_bitcoin::{BtcVault, parse_network, parse_psbt, psbt_to_base64};
use airlock_chain_bitcoin_online::{BitcoinOnline, BlockConfirmation};
use airlock_cli_support::{CliError, CliResult, now, print_json};
use airlock_coordinator::CoordinatorHome;
use airlock_coordinator::chains::{self, BitcoinSettings, ChainSettings};
use airlock_core::chain::BuiltPayload;
use airlock_core::{Intent, Transfer, VaultDefinition};
use clap::Subcommand;

use crate::payload_proposal::{ProposalOut, propose_built};
use serde_json::json;

#[derive(Subcommand)]
pub enum BtcCommand {
    /// Assemble a multisig descriptor from the signers' exported keys (`[fp/path]xpub`), or read
    /// one from a BSMS (BIP-129) descriptor record.
    Descriptor {
        /// Signatures required.
        #[arg(long, default_value_t = 0)]
        threshold: u32,
        /// A signer's key with origin; repeat.
        #[arg(long = "key")]
        keys: Vec<String>,
        /// A member device's key export (Coldcard JSON, UR crypto-account / crypto-hdkey text,
        /// …): its P2WSH multisig key (m/48'/coin'/account'/2') is used; repeat.
        #[arg(long = "key-file")]
        key_files: Vec<PathBuf>,
        /// A BSMS descriptor record (4 lines: BSMS 1.0, descriptor template, path restrictions,
        /// first address); its first address is re-derived and checked.
        #[arg(long, conflicts_with_all = ["keys", "key_files"])]
        from_bsms: Option<PathBuf>,
        /// "wsh" (sortedmulti, P2WSH) or "tr" (multi_a under an unspendable internal key).
        #[arg(long, default_value = "wsh")]
        script: String,
        #[arg(long, default_value = "bitcoin")]
        network: String,
    },
    /// Export a vault for other wallets and devices: descriptor text (Electrum, Bitcoin Core),
    /// a BSMS record, a Coldcard multisig file, Specter JSON, Sparrow's descriptor file, or QR
    /// frames (UR crypto-output, BBQr of the Coldcard file) for devices to register it.
    Export {
        #[arg(long)]
        vault: String,
        /// Same as --format bsms.
        #[arg(long, conflicts_with = "format")]
        bsms: bool,
        /// descriptor | bsms | coldcard | specter | sparrow | ur | bbqr.
        #[arg(long, default_value = "descriptor")]
        format: String,
        /// Write to this file (atomically) instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
        /// QR density for ur / bbqr frames: low, medium, high, max.
        #[arg(long, default_value = "medium")]
        density: String,
    },
    /// Read another wallet's or device's export: member keys (Coldcard JSON, UR crypto-account,
    /// crypto-hdkey, crypto-output cosigner) or a whole vault (Coldcard multisig file, UR
    /// crypto-output, Specter JSON, Sparrow descriptor file, BSMS). UR text may be many parts,
    /// one per line, in any order. Nothing is stored: the output is what `btc descriptor --key`
    /// and `vault draft --account` take.
    ImportDevice {
        file: PathBuf,
        #[arg(long, default_value = "bitcoin")]
        network: String,
    },
    /// The next unused receive address of a vault.
    Receive {
        #[arg(long)]
        vault: String,
    },
    /// Balance, coins and history of a vault.
    Balance {
        #[arg(long)]
        vault: String,
    },
    /// Feed a raw transaction by hand (hex or a file), confirmed at a height or unconfirmed; the
    /// vault's new state is committed to the log as a sync's is.
    AddTx {
        #[arg(long)]
        vault: String,
        /// The raw transaction as hex, or @FILE.
        tx: String,
        /// The block height it is confirmed in (omit: unconfirmed).
        #[arg(long)]
        height: Option<u32>,
        /// The block time (UNIX seconds; default: now).
        #[arg(long)]
        time: Option<u64>,
    },
    /// A FROST group's vault: add the nonce commitments members handed over
    /// (`airlock-signer frost commitments`) to the vault's pool; payments name them per input.
    FrostCommitments {
        #[arg(long)]
        vault: String,
        /// The members' commitment files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Sync a vault from the configured Electrum server.
    Sync {
        #[arg(long)]
        vault: String,
    },
    /// Propose a payment with a fee rate of its own.
    Propose {
        #[arg(long)]
        vault: String,
        /// ADDRESS:SATS; repeat for several.
        #[arg(long = "to", required = true)]
        to: Vec<String>,
        /// sat/vB (default: the configured one).
        #[arg(long)]
        fee_rate: Option<f64>,
        /// Spend on the vault's timelocked recovery path (a miniscript vault's emergency key):
        /// only coins old enough, with the descriptor's nSequence / nLockTime.
        #[arg(long)]
        recovery: bool,
        #[command(flatten)]
        out: ProposalOut,
    },
    /// Propose moving every coin to the first receive address of another descriptor (key
    /// rotation: the new vault's descriptor).
    Sweep {
        #[arg(long)]
        vault: String,
        /// The destination descriptor (multipath `<0;1>/*`, public keys).
        #[arg(long)]
        to_descriptor: String,
        #[arg(long)]
        fee_rate: Option<f64>,
        #[command(flatten)]
        out: ProposalOut,
    },
    /// Propose a PSBT built by another wallet (Sparrow, Electrum, bdk) for this vault.
    ImportPsbt {
        #[arg(long)]
        vault: String,
        file: PathBuf,
        #[command(flatten)]
        out: ProposalOut,
    },
    /// Write a proposal's PSBT (binary, or base64 with --base64) for other wallets.
    ExportPsbt {
        proposal: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        base64: bool,
    },
    /// Print a finalized proposal's raw transaction (hex), to broadcast elsewhere.
    ExportTx { proposal: String },
}

pub fn run_chain_bitcoin(
    home: &Path,
    json: bool,
    fee_rate: Option<f64>,
    electrum: Option<String>,
) -> CliResult {
    CoordinatorHome::open(home)?;
    let mut settings = ChainSettings::load(home)?;
    let btc = BitcoinSettings { fee_rate, electrum };
    let candidate = ChainSettings {
        bitcoin: Some(btc.clone()),
        ..settings.clone()
    };
    chains::bitcoin(&candidate)?;
    if let Some(rate) = fee_rate {
        airlock_chain_bitcoin_online::fee_rate_from_sat_per_vb(rate)
            .map_err(|e| CliError::new(format!("--fee-rate: {e}")))?;
    }
    settings.bitcoin = Some(btc.clone());
    settings.save(home)?;
    if json {
        print_json(&serde_json::to_value(&btc)?);
    } else {
        println!(
            "bitcoin: fee rate {} sat/vB, {}",
            fee_rate.unwrap_or(airlock_chain_bitcoin_online::chain::DEFAULT_FEE_RATE),
            match &btc.electrum {
                Some(url) => format!("Electrum server {url}"),
                None => "no server (feed transactions with `airlock btc add-tx`)".into(),
            }
        );
    }
    Ok(())
}

fn chain(home: &Path) -> CliResult<BitcoinOnline> {
    Ok(chains::bitcoin(&ChainSettings::load(home)?)?)
}

fn vault_def(home: &Path, vault: &str) -> CliResult<VaultDefinition> {
    let c = CoordinatorHome::open(home)?.coordinator()?;
    let (def, _) = c.vault_latest(vault)?;
    if def.chain != airlock_chain_bitcoin::CHAIN {
        return Err(CliError::new(format!(
            "vault {vault:?} is a {} vault, not a Bitcoin vault",
            def.chain
        )));
    }
    Ok(def)
}

fn parse_payment(spec: &str) -> CliResult<Transfer> {
    let (address, sats) = spec
        .rsplit_once(':')
        .ok_or_else(|| CliError::new(format!("--to {spec:?} is not ADDRESS:SATS")))?;
    Ok(Transfer {
        destination: address.to_owned(),
        amount: sats
            .parse::<u64>()
            .map_err(|_| CliError::new(format!("--to {spec:?}: {sats:?} is not an amount in sat")))?
            .into(),
        asset: String::new(),
    })
}

pub fn run(home: &Path, json: bool, cmd: BtcCommand) -> CliResult {
    match cmd {
        BtcCommand::Descriptor {
            threshold,
            mut keys,
            key_files,
            from_bsms,
            script,
            network,
        } => {
            if let Some(file) = from_bsms {
                let text = String::from_utf8(airlock_transport::read_bounded(&file, 64 * 1024)?)
                    .map_err(|_| CliError::new(format!("{}: not text", file.display())))?;
                let vault = airlock_chain_bitcoin::import_descriptor_record(
                    &text,
                    parse_network(&network)?,
                )?;
                let descriptor = vault.descriptor_text();
                if json {
                    print_json(&json!({
                        "descriptor": descriptor, "wallet_fingerprint": vault.wallet_fingerprint(),
                        "first_receive_address": vault.first_receive_address()?.to_string(),
                    }));
                } else {
                    println!("{descriptor}");
                    println!("wallet fingerprint {}", vault.wallet_fingerprint());
                    println!("first receive address {}", vault.first_receive_address()?);
                }
                return Ok(());
            }
            for file in &key_files {
                let export = read_device_file(file, parse_network(&network)?)?;
                let key = export
                    .multisig_key()
                    .map_err(|e| CliError::new(format!("{}: {e}", file.display())))?;
                keys.push(key.with_origin());
            }
            if threshold == 0 || threshold as usize > keys.len() {
                return Err(CliError::new(format!(
                    "threshold {threshold} with {} key(s)",
                    keys.len()
                )));
            }
            let branch: Vec<String> = keys
                .iter()
                .map(|k| {
                    let k = k.trim();
                    if k.ends_with("/<0;1>/*") {
                        k.to_owned()
                    } else {
                        format!("{k}/<0;1>/*")
                    }
                })
                .collect();
            let text = match script.as_str() {
                "wsh" => format!("wsh(sortedmulti({threshold},{}))", branch.join(",")),
                // BIP-341's NUMS point: the internal key nobody can spend with.
                "tr" => format!(
                    "tr(50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0,sortedmulti_a({threshold},{}))",
                    branch.join(",")
                ),
                other => {
                    return Err(CliError::new(format!("--script {other:?}: use wsh or tr")));
                }
            };
            let vault = BtcVault::parse(&text, &network)?;
            let descriptor = vault.descriptor_text();
            if json {
                print_json(&json!({
                    "descriptor": descriptor, "wallet_fingerprint": vault.wallet_fingerprint(),
                    "first_receive_address": vault.first_receive_address()?.to_string(),
                    "policy": vault.policy_summary(),
                }));
            } else {
                println!("{descriptor}");
                println!("wallet fingerprint {}", vault.wallet_fingerprint());
                println!("first receive address {}", vault.first_receive_address()?);
            }
            Ok(())
        }
        BtcCommand::Export {
            vault,
            bsms,
            format,
            out,
            density,
        } => {
            let def = vault_def(home, &vault)?;
            let v = airlock_chain_bitcoin::Bitcoin::vault(&def)?;
            let format = if bsms { "bsms".to_owned() } else { format };
            export_vault(&vault, &v, &format, out.as_deref(), &density, json)
        }
        BtcCommand::ImportDevice { file, network } => {
            let export = read_device_file(&file, parse_network(&network)?)?;
            print_device_export(&export, json)
        }
        BtcCommand::Receive { vault } => {
            let def = vault_def(home, &vault)?;
            let mut wallet = chain(home)?.wallet(&def)?;
            let a = wallet.next_unused_address()?;
            if json {
                print_json(
                    &json!({ "vault": vault, "address": a.address.to_string(), "index": a.index, "script_pubkey": hex::encode(a.address.script_pubkey().as_bytes()) }),
                );
            } else {
                println!("{} (receive index {})", a.address, a.index);
            }
            Ok(())
        }
        BtcCommand::Balance { vault } => {
            let def = vault_def(home, &vault)?;
            let wallet = chain(home)?.wallet(&def)?;
            let b = wallet.balance();
            let utxos = wallet.utxos();
            let history = wallet.history();
            if json {
                print_json(&json!({
                    "vault": vault, "confirmed": b.confirmed.to_sat(),
                    "unconfirmed": b.unconfirmed().to_sat(), "immature": b.immature.to_sat(),
                    "total": b.total().to_sat(), "tip_height": wallet.tip_height(),
                    "utxos": utxos.iter().map(|u| json!({ "outpoint": u.outpoint.to_string(), "sat": u.value.to_sat(), "address": u.address.to_string() })).collect::<Vec<_>>(),
                    "history": history.iter().map(|h| json!({ "txid": h.txid.to_string(), "net": h.net().to_sat(), "confirmed": h.status.is_confirmed() })).collect::<Vec<_>>(),
                }));
            } else {
                println!(
                    "{vault}: {} sat confirmed, {} unconfirmed, {} immature (tip {})",
                    b.confirmed.to_sat(),
                    b.unconfirmed().to_sat(),
                    b.immature.to_sat(),
                    wallet.tip_height()
                );
                for u in &utxos {
                    println!("  {} {} sat {}", u.outpoint, u.value.to_sat(), u.address);
                }
            }
            Ok(())
        }
        BtcCommand::FrostCommitments { vault, files } => {
            let def = vault_def(home, &vault)?;
            let chain = chain(home)?;
            let mut added = Vec::new();
            for file in &files {
                let bytes = airlock_transport::read_bounded(file, 16 * 1024 * 1024)?;
                for (member, count) in chain
                    .import_frost_commitments(&def, &bytes)
                    .map_err(CliError::context(file.display()))?
                {
                    added.push((member, count));
                }
            }
            let left = chain.frost_commitments_left(&def)?;
            if json {
                print_json(&json!({
                    "vault": vault,
                    "added": added.iter().map(|(m, c)| json!({"member": m, "commitments": c})).collect::<Vec<_>>(),
                    "unused": left.iter().map(|(m, c)| json!({"member": m, "commitments": c})).collect::<Vec<_>>(),
                }));
            } else {
                for (member, count) in &added {
                    println!("member {member}: {count} commitment(s) added");
                }
                for (member, count) in &left {
                    println!("member {member}: {count} unused");
                }
            }
            Ok(())
        }
        BtcCommand::AddTx {
            vault,
            tx,
            height,
            time,
        } => {
            let text = match tx.strip_prefix('@') {
                Some(path) => String::from_utf8(airlock_transport::read_bounded(
                    Path::new(path),
                    4 * 1024 * 1024,
                )?)
                .map_err(|_| CliError::new(format!("{path}: not hex text")))?,
                None => tx,
            };
            let raw = hex::decode(text.trim())
                .map_err(|_| CliError::new("the transaction is not hex"))?;
            let def = vault_def(home, &vault)?;
            let mut wallet = chain(home)?.wallet(&def)?;
            let confirmation =
                height.map(|h| BlockConfirmation::at(h, time.unwrap_or(now().unwrap_or(0))));
            let txid = wallet.add_raw_transaction(&raw, confirmation)?;
            let b = wallet.balance();
            drop(wallet);
            // Fed by hand is synced by hand: the new state is committed like a sync's.
            let commitment = crate::commit_state(home, &vault)?;
            if json {
                print_json(
                    &json!({ "vault": vault, "txid": txid.to_string(), "confirmed": b.confirmed.to_sat(), "total": b.total().to_sat(), "commitment": commitment }),
                );
            } else {
                println!(
                    "added {txid} ({}); balance {} sat",
                    height.map_or("unconfirmed".into(), |h| format!("confirmed at {h}")),
                    b.total().to_sat()
                );
            }
            Ok(())
        }
        BtcCommand::Sync { vault } => {
            let def = vault_def(home, &vault)?;
            let c = chain(home)?;
            let source = c.source().cloned().ok_or_else(|| {
                CliError::new(
                    "no Electrum server configured: `airlock chain bitcoin --electrum URL`",
                )
            })?;
            let mut wallet = c.wallet(&def)?;
            let summary = wallet.sync(
                &source,
                true,
                airlock_chain_bitcoin_online::DEFAULT_STOP_GAP,
            )?;
            drop(wallet);
            let commitment = crate::commit_state(home, &vault)?;
            if json {
                print_json(
                    &json!({ "vault": vault, "summary": format!("{summary:?}"), "commitment": commitment }),
                );
            } else {
                println!("synced {vault}: {summary:?}");
            }
            Ok(())
        }
        BtcCommand::Propose {
            vault,
            to,
            fee_rate,
            recovery,
            out,
        } => {
            let def = vault_def(home, &vault)?;
            let intent = Intent {
                transfers: to
                    .iter()
                    .map(|t| parse_payment(t))
                    .collect::<CliResult<_>>()?,
                memo: String::new(),
            };
            let path = if recovery {
                airlock_chain_bitcoin_online::SpendPath::Recovery
            } else {
                airlock_chain_bitcoin_online::SpendPath::Normal
            };
            let reserved = CoordinatorHome::open(home)?
                .coordinator()?
                .open_spends(&vault, now()?)?;
            let built = chain(home)?.build_payment(&def, &intent, fee_rate, path, &reserved)?;
            propose_built(
                home,
                json,
                &vault,
                built,
                out,
                String::new(),
                &airlock_chain_bitcoin::Bitcoin::default(),
            )
        }
        BtcCommand::Sweep {
            vault,
            to_descriptor,
            fee_rate,
            out,
        } => {
            let def = vault_def(home, &vault)?;
            let built = chain(home)?.build_sweep(&def, &to_descriptor, fee_rate)?;
            let memo = format!("sweep of vault {vault} to a new descriptor (key rotation)");
            propose_built(
                home,
                json,
                &vault,
                built,
                out,
                memo,
                &airlock_chain_bitcoin::Bitcoin::default(),
            )
        }
        BtcCommand::ImportPsbt { vault, file, out } => {
            let def = vault_def(home, &vault)?;
            let bytes = airlock_transport::read_bounded(
                &file,
                airlock_chain_bitcoin::MAX_PSBT_BYTES as u64,
            )?;
            let psbt = parse_psbt(&bytes)
                .map_err(|e| CliError::new(format!("{}: {e}", file.display())))?;
            parse_network(&def.network)?;
            // The signers' review, before anything is stored: the PSBT must be the vault's, and
            // every signature it already carries (another wallet's cosigner) must verify against
            // the key it is filed under, or every honest approval added to it would be refused.
            airlock_chain_bitcoin::review(
                &airlock_chain_bitcoin::Bitcoin::vault(&def)?,
                &psbt,
                &airlock_chain_bitcoin::ReviewPolicy::default(),
            )
            .map_err(|e| CliError::new(format!("{}: {e}", file.display())))?;
            let built = BuiltPayload {
                spends: psbt
                    .unsigned_tx
                    .input
                    .iter()
                    .map(|i| i.previous_output.to_string())
                    .collect(),
                payload: airlock_chain_bitcoin::serialize_psbt(&psbt),
            };
            let memo = format!("PSBT imported from {}", file.display());
            propose_built(
                home,
                json,
                &vault,
                built,
                out,
                memo,
                &airlock_chain_bitcoin::Bitcoin::default(),
            )
        }
        BtcCommand::ExportPsbt {
            proposal,
            out,
            base64,
        } => {
            let c = CoordinatorHome::open(home)?.coordinator()?;
            let id = c.resolve(&proposal)?;
            let state = c.proposal_state(&id)?;
            let psbt = parse_psbt(&state.proposal.payload)?;
            let data = if base64 {
                psbt_to_base64(&psbt).into_bytes()
            } else {
                airlock_chain_bitcoin::serialize_psbt(&psbt)
            };
            airlock_transport::write_atomic(&out, &data)?;
            if json {
                print_json(&json!({ "proposal": id.to_hex(), "out": out, "bytes": data.len() }));
            } else {
                println!(
                    "PSBT of {} ({} bytes) -> {}",
                    id.short(),
                    data.len(),
                    out.display()
                );
            }
            Ok(())
        }
        BtcCommand::ExportTx { proposal } => {
            let c = CoordinatorHome::open(home)?.coordinator()?;
            let id = c.resolve(&proposal)?;
            let state = c.proposal_state(&id)?;
            let (_, record) = state.finalized.ok_or_else(|| {
                CliError::new(format!("proposal {} is not finalized", id.short()))
            })?;
            if json {
                print_json(
                    &json!({ "proposal": id.to_hex(), "txid": record.txid, "hex": hex::encode(&record.transaction) }),
                );
            } else {
                println!("{}", hex::encode(&record.transaction));
            }
            Ok(())
        }
    }
}

/// Largest device export file read (a 15-key Coldcard file is under 2 KiB; UR text of a
/// crypto-account under 4 KiB).
const MAX_DEVICE_FILE: u64 = 256 * 1024;

/// Reads a device or wallet export file: UR text (one part per line, any order) or any text
/// format `airlock_chain_bitcoin::devices` recognises.
fn read_device_file(
    file: &Path,
    network: airlock_chain_bitcoin::bitcoin::Network,
) -> CliResult<airlock_chain_bitcoin::devices::DeviceExport> {
    let bytes = airlock_transport::read_bounded(file, MAX_DEVICE_FILE)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::new(format!("{}: not text (UTF-8)", file.display())))?;
    let in_file = |e: &dyn std::fmt::Display| CliError::new(format!("{}: {e}", file.display()));
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let is_frame = |l: &&str| airlock_qr::Format::detect(l).is_some();
    if !lines.is_empty() && lines.iter().all(is_frame) {
        // QR frames as scanned: UR (registry types or `bytes`) or BBQr, any order.
        let mut decoder = airlock_qr::Decoder::new();
        for line in &lines {
            decoder.receive(line).map_err(|e| in_file(&e))?;
        }
        let decoded = decoder.finish().map_err(|e| in_file(&e))?;
        if airlock_qr::ur_codec::REGISTRY_TYPES.contains(&decoded.kind.as_str()) {
            return airlock_chain_bitcoin::devices::read_ur(&decoded.kind, &decoded.bytes, network)
                .map_err(|e| in_file(&e));
        }
        let inner = String::from_utf8(decoded.bytes).map_err(|_| {
            CliError::new(format!(
                "{}: the QR frames hold a binary file, not a wallet export",
                file.display()
            ))
        })?;
        return airlock_chain_bitcoin::devices::read_text_export(&inner, network)
            .map_err(|e| in_file(&e));
    }
    airlock_chain_bitcoin::devices::read_text_export(&text, network).map_err(|e| in_file(&e))
}

fn print_device_export(
    export: &airlock_chain_bitcoin::devices::DeviceExport,
    json: bool,
) -> CliResult {
    use airlock_chain_bitcoin::devices::DeviceExport;
    match export {
        DeviceExport::Keys {
            format,
            fingerprint,
            keys,
        } => {
            let multisig = export.multisig_key().ok().map(|k| k.with_origin());
            if json {
                print_json(&json!({
                    "format": format, "kind": "keys", "fingerprint": fingerprint.to_string(),
                    "keys": keys.iter().map(|k| json!({
                        "script": k.script.name(), "path": format!("m/{}", k.path),
                        "key": k.with_origin(),
                    })).collect::<Vec<_>>(),
                    "multisig_key": multisig,
                }));
            } else {
                println!("{format}: keys of master fingerprint {fingerprint}");
                for k in keys {
                    println!("  {:<20} {}", k.script.name(), k.with_origin());
                }
                match multisig {
                    Some(k) => println!("multisig key (for `btc descriptor --key`): {k}"),
                    None => {
                        println!("no P2WSH multisig key (m/48'/coin'/account'/2') in this export")
                    }
                }
            }
        }
        DeviceExport::Vault {
            format,
            name,
            vault,
        } => {
            let descriptor = vault.descriptor_text();
            let keys: Vec<String> = vault.keys().iter().map(|k| k.with_origin()).collect();
            if json {
                print_json(&json!({
                    "format": format, "kind": "vault", "name": name,
                    "descriptor": descriptor, "wallet_fingerprint": vault.wallet_fingerprint(),
                    "first_receive_address": vault.first_receive_address()?.to_string(),
                    "policy": vault.policy_summary(), "keys": keys,
                }));
            } else {
                println!(
                    "{format}: vault{}",
                    name.as_deref()
                        .map(|n| format!(" {n:?}"))
                        .unwrap_or_default()
                );
                println!("{descriptor}");
                println!("policy {}", vault.policy_summary());
                println!("wallet fingerprint {}", vault.wallet_fingerprint());
                println!("first receive address {}", vault.first_receive_address()?);
                for k in keys {
                    println!("  key {k}");
                }
            }
        }
    }
    Ok(())
}

/// Writes or prints `v` in `format` (see `BtcCommand::Export`).
fn export_vault(
    name: &str,
    v: &BtcVault,
    format: &str,
    out: Option<&Path>,
    density: &str,
    json: bool,
) -> CliResult {
    use airlock_chain_bitcoin::devices::{self, coldcard, ur_registry, wallet_files};
    let density_of = || {
        airlock_qr::Density::parse(density).ok_or_else(|| {
            CliError::new(format!(
                "--density {density:?}: use low, medium, high or max"
            ))
        })
    };
    let (text, frames) = match format {
        "descriptor" => (v.descriptor_text() + "\n", None),
        "bsms" => (airlock_chain_bitcoin::export_descriptor_record(v)?, None),
        "coldcard" => (coldcard::write_setup_file(v, name)?, None),
        "specter" => (wallet_files::write_specter(v, name)? + "\n", None),
        "sparrow" => (wallet_files::write_descriptor_file(v), None),
        "ur" => {
            let shape = devices::multisig_shape(v).ok_or_else(|| {
                CliError::new(
                    "a crypto-output export needs a sorted multisig vault (wsh(sortedmulti) or sh(wsh(sortedmulti)) at /<0;1>/*)",
                )
            })?;
            let keys: Vec<_> = v
                .keys()
                .iter()
                .map(|k| (k.fingerprint, k.origin_path.clone(), k.xpub))
                .collect();
            let cbor = ur_registry::encode_multisig_output(shape.nested, shape.threshold, &keys);
            let frames = airlock_qr::encode(
                &cbor,
                airlock_qr::Format::Ur,
                airlock_qr::Content::CryptoOutput,
                density_of()?,
            )?;
            (frames.texts.join("\n") + "\n", Some(frames))
        }
        "bbqr" => {
            let file = coldcard::write_setup_file(v, name)?;
            let frames = airlock_qr::encode(
                file.as_bytes(),
                airlock_qr::Format::Bbqr,
                airlock_qr::Content::WalletText,
                density_of()?,
            )?;
            (frames.texts.join("\n") + "\n", Some(frames))
        }
        other => {
            return Err(CliError::new(format!(
                "--format {other:?}: use descriptor, bsms, coldcard, specter, sparrow, ur or bbqr"
            )));
        }
    };
    if let Some(path) = out {
        airlock_transport::write_atomic(path, text.as_bytes())?;
    }
    if json {
        print_json(&json!({
            "vault": name, "format": format, "text": text,
            "wallet_fingerprint": v.wallet_fingerprint(),
            "frames": frames.as_ref().map(|f| f.texts.len()),
            "frames_needed": frames.as_ref().map(|f| f.needed),
            "out": out.map(|p| p.display().to_string()),
        }));
    } else if let Some(path) = out {
        println!(
            "wrote {} ({format}{})",
            path.display(),
            frames
                .as_ref()
                .map(|f| format!(", {} frames, {} needed", f.texts.len(), f.needed))
                .unwrap_or_default()
        );
    } else {
        print!("{text}");
    }
    Ok(())
}
