//! `airlock xmr` and `airlock chain monero`: the coordinator's view-only Monero vaults. A thin
//! layer over `airlock_chain_monero_online::online_chain`:
//!
//! - `chain monero --daemon URL` records monerod (checked to answer) in `chains.json`; scan
//!   states live in the home's `monero/` directory;
//! - `vault-account` turns the signer's view-only JSON (Feather's format) into the vault's
//!   account text;
//! - `sync` rescans a vault from its restore height, `balance` shows total, unlocked and
//!   unverified (outputs without a key image) amounts from the last sync;
//! - `export-outputs` / `import-key-images` are the coordinator's half of the key-image sync
//!   with the offline signer.
//!
//! Sending goes through the ordinary `airlock propose` (chain `monero`). This command never holds
//! a spend key; it prints the view key only inside the account text the person asked for.

use std::path::{Path, PathBuf};

use airlock_chain_monero::MoneroVault;
use airlock_chain_monero::keys::MoneroNetwork;
use airlock_chain_monero::review::format_xmr;
use airlock_chain_monero::wallet::ViewOnlyExport;
use airlock_chain_monero_online::online_chain::{MoneroOnline, MoneroSettings, VaultScanState};
use airlock_cli_support::{CliError, CliResult, print_json};
use airlock_coordinator::CoordinatorHome;
use airlock_coordinator::chains::{self, ChainSettings};
use clap::Subcommand;
use serde_json::json;
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub enum XmrCommand {
    /// Print the vault account text of a view-only wallet (Feather's view-only JSON).
    VaultAccount {
        #[arg(long)]
        view_file: PathBuf,
        /// The wallet's network (Feather's JSON does not say): mainnet, testnet, stagenet, regtest.
        #[arg(long, default_value = "mainnet")]
        network: String,
    },
    /// Rescan a Monero vault from its restore height and show its balance.
    Sync {
        #[arg(long)]
        vault: String,
    },
    /// The balance of a Monero vault at its last sync (total, unlocked, unverified).
    Balance {
        #[arg(long)]
        vault: String,
    },
    /// Write the outputs file the signer turns into key images.
    ExportOutputs {
        #[arg(long)]
        vault: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Import the signer's key-image file (checked: this wallet's outputs, valid proofs).
    ImportKeyImages {
        #[arg(long)]
        vault: String,
        file: PathBuf,
    },
}

/// `airlock chain monero --daemon URL`.
pub fn configure(home: &Path, json: bool, daemon: String) -> CliResult {
    CoordinatorHome::open(home)?;
    let home_abs = std::path::absolute(home).unwrap_or_else(|_| home.to_owned());
    let settings = MoneroSettings {
        daemon: daemon.clone(),
        state_dir: home_abs.join("monero"),
    };
    let height = settings
        .chain()
        .node()
        .and_then(|n| n.height())
        .map_err(|e| CliError::new(format!("monerod does not answer, nothing saved: {e}")))?;
    let mut all = ChainSettings::load(home)?;
    all.monero = Some(settings);
    all.save(home)?;
    if json {
        print_json(&json!({ "daemon": daemon, "height": height }));
    } else {
        println!("monerod {daemon}: {height} blocks");
        println!("saved in {}", home.join(chains::CHAINS_FILE).display());
    }
    Ok(())
}

fn chain(home: &Path) -> CliResult<MoneroOnline> {
    ChainSettings::load(home)?
        .monero
        .map(|m| m.chain())
        .ok_or_else(|| {
            CliError::new(
                "no monerod configured: run `airlock chain monero --daemon http://HOST:PORT`",
            )
        })
}

fn vault_spec(home: &Path, vault: &str) -> CliResult<MoneroVault> {
    let coordinator = CoordinatorHome::open(home)?.coordinator()?;
    let (def, _) = coordinator.vault_latest(vault)?;
    if def.chain != airlock_chain_monero::CHAIN {
        return Err(CliError::new(format!(
            "vault {vault:?} is on chain {:?}, not monero",
            def.chain
        )));
    }
    Ok(MoneroVault::from_vault(&def)?)
}

fn show_balance(json: bool, vault: &str, state: &VaultScanState) {
    let b = state.balance();
    if json {
        print_json(&json!({
            "vault": vault,
            "primary_address": state.primary_address,
            "chain_height": b.chain_height,
            "total": b.total,
            "unlocked": b.unlocked,
            "unverified": b.unverified,
            "outputs": b.outputs,
            "unverified_outputs": b.unverified_outputs,
        }));
    } else {
        println!("vault {vault} at height {}", b.chain_height);
        println!("  total      {}", format_xmr(b.total));
        println!("  unlocked   {}", format_xmr(b.unlocked));
        println!(
            "  unverified {} in {} output(s) without a key image (sync key images with the signer)",
            format_xmr(b.unverified),
            b.unverified_outputs
        );
    }
}

pub fn run(home: &Path, json: bool, cmd: XmrCommand) -> CliResult {
    match cmd {
        XmrCommand::VaultAccount { view_file, network } => {
            let bytes = Zeroizing::new(airlock_transport::read_bounded(&view_file, 64 * 1024)?);
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| CliError::new(format!("{}: not UTF-8", view_file.display())))?;
            let export = ViewOnlyExport::from_feather_json(text, MoneroNetwork::parse(&network)?)
                .map_err(|e| CliError::new(format!("{}: {e}", view_file.display())))?;
            let spec = MoneroVault::from_export(&export)?;
            if json {
                print_json(&json!({
                    "network": network,
                    "primary_address": spec.primary_address,
                    "restore_height": spec.restore_height,
                    "account": spec.account_text(),
                }));
            } else {
                println!("{}", spec.account_text());
            }
            Ok(())
        }
        XmrCommand::Sync { vault } => {
            let spec = vault_spec(home, &vault)?;
            let state = chain(home)?.sync(&spec)?;
            show_balance(json, &vault, &state);
            Ok(())
        }
        XmrCommand::Balance { vault } => {
            let spec = vault_spec(home, &vault)?;
            let state = chain(home)?.load_state(&spec)?.ok_or_else(|| {
                CliError::new(format!(
                    "vault {vault:?} was never synced: `airlock xmr sync --vault {vault}`"
                ))
            })?;
            show_balance(json, &vault, &state);
            Ok(())
        }
        XmrCommand::ExportOutputs { vault, out } => {
            let spec = vault_spec(home, &vault)?;
            let file = chain(home)?.export_outputs(&spec)?;
            airlock_transport::write_atomic(&out, &file.to_bytes())?;
            if json {
                print_json(&json!({ "vault": vault, "outputs": file.outputs.len(), "file": out }));
            } else {
                println!("{} output(s) -> {}", file.outputs.len(), out.display());
                println!(
                    "sign them offline: airlock-signer xmr sign-key-images FILE --vault {vault} --out KEYIMAGES"
                );
            }
            Ok(())
        }
        XmrCommand::ImportKeyImages { vault, file } => {
            let spec = vault_spec(home, &vault)?;
            let bytes = airlock_transport::read_bounded(&file, 128 * 1024 * 1024)?;
            let (count, state) = chain(home)?.import_key_images(&spec, &bytes)?;
            if !json {
                println!("{count} key image(s) imported");
            }
            show_balance(json, &vault, &state);
            Ok(())
        }
    }
}
