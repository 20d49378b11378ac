//! `airlock xmr` and `airlock chain monero`: the coordinator's view-only Monero vaults. A thin
//! layer over `airlock_chain_monero_online::online_chain`:
//!
//! - `chain monero --daemon URL` records monerod (checked to answer) in `chains.json`; scan
//!   states live in the home's `monero/` directory;
//! - `vault-account` turns the signer's view-only JSON (Feather's format) into the vault's
//!   account text;
//! - `sync` scans the blocks since the last sync (the first from the vault's restore height:
//!   primary address and subaddresses within the lookahead; reorgs rolled back), `balance`
//!   shows total, unlocked and unverified (outputs without a key image) amounts from the last
//!   sync, `outputs` lists every output with its state;
//! - `export-outputs` / `import-key-images` are the coordinator's half of the key-image sync
//!   with the offline signer;
//! - `export-tx-set` / `import-tx-set` carry a ready proposal to a wallet2 cold wallet holding
//!   the vault's key (monero-wallet-cli, monero-wallet-rpc, Feather) and back: its signed set
//!   is checked against the proposal and recorded as the proposal's finalized transaction.
//!
//! Sending goes through the ordinary `airlock propose` (chain `monero`). This command never holds
//! a spend key; it prints the view key only inside the account text the person asked for.

use std::path::{Path, PathBuf};

use airlock_chain_monero::MoneroVault;
use airlock_chain_monero::keys::MoneroNetwork;
use airlock_chain_monero::review::format_xmr;
use airlock_chain_monero::subaddress::Lookahead;
use airlock_chain_monero::wallet::ViewOnlyExport;
use airlock_chain_monero::wallet2::files::{OutputsLayout, is_key_images_export};
use airlock_chain_monero_online::online_chain::{MoneroBalance, MoneroOnline, MoneroSettings};
use airlock_chain_monero_online::scan::{OwnedOutput, ScanState, SyncReport};
use airlock_cli_support::{CliError, CliResult, now, print_json, read_signed_envelope};
use airlock_coordinator::CoordinatorHome;
use airlock_coordinator::chains::{self, ChainSettings};
use airlock_core::{AccountExport, ArtifactKind};
use clap::Subcommand;
use serde_json::json;
use zeroize::Zeroizing;

/// The outputs file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputsFormat {
    Airlock,
    Wallet2,
    #[value(name = "wallet2-0.18.0")]
    Wallet2Legacy,
}

#[derive(Subcommand)]
pub enum XmrCommand {
    /// Print the vault account text of a view-only wallet: the signer's signed account-export
    /// artifact (`airlock-signer xmr export-view --artifact`, signature checked) or Feather's
    /// view-only JSON.
    VaultAccount {
        #[arg(long)]
        view_file: PathBuf,
        /// The wallet's network: mainnet, testnet, stagenet, regtest. Feather's JSON does not say
        /// (default mainnet); the artifact does, and must agree when this is given.
        #[arg(long)]
        network: Option<String>,
    },
    /// Scan a Monero vault's new blocks (the first time from its restore height) and show its
    /// balance.
    Sync {
        #[arg(long)]
        vault: String,
    },
    /// The balance of a Monero vault at its last sync (total, unlocked, unverified).
    Balance {
        #[arg(long)]
        vault: String,
    },
    /// A receive address of a Monero vault: a subaddress (account, index) its scan watches. By
    /// default the next unused index of the account.
    Receive {
        #[arg(long)]
        vault: String,
        #[arg(long, default_value_t = 0)]
        account: u32,
        #[arg(long)]
        index: Option<u32>,
    },
    /// Every output of a Monero vault at its last sync: amount, address, lock and key-image
    /// state ("needs key image" until the signer's key images are imported).
    Outputs {
        #[arg(long)]
        vault: String,
    },
    /// Write the outputs file the signer turns into key images (the outputs without one).
    ExportOutputs {
        #[arg(long)]
        vault: String,
        #[arg(long)]
        out: PathBuf,
        /// Every output, including those whose key image is already known (wallet2's format
        /// always holds every output).
        #[arg(long)]
        all: bool,
        /// `airlock` (for `airlock-signer`), `wallet2` (wallet2's outputs export for a wallet2
        /// cold wallet: monero-wallet-cli `import_outputs`, Feather; releases since 0.18.1), or
        /// `wallet2-0.18.0` (the older layout that wallet2 0.18.0.x reads).
        #[arg(long, value_enum, default_value_t = OutputsFormat::Airlock)]
        format: OutputsFormat,
    },
    /// Import the signer's key-image file (checked: this wallet's outputs, valid proofs): an
    /// `airlock-signer` file, or wallet2's key images answering `export-outputs --format
    /// wallet2` (monero-wallet-cli's `export_key_images` file, Feather's, or monero-wallet-rpc's
    /// `export_key_images` answer saved as JSON).
    ImportKeyImages {
        #[arg(long)]
        vault: String,
        file: PathBuf,
    },
    /// Write a proposal's unsigned transaction as wallet2's unsigned set, for a wallet2 cold
    /// wallet holding the vault's keys (monero-wallet-cli `sign_transfer`, monero-wallet-rpc
    /// `sign_transfer`, Feather's offline signing): the same inputs, rings, payments and fee.
    ExportTxSet {
        /// The proposal (id or unique prefix).
        #[arg(long)]
        proposal: String,
        #[arg(long)]
        out: PathBuf,
        /// `wallet2` (releases since 0.18.1, Feather) or `wallet2-0.18.0`.
        #[arg(long, value_enum, default_value_t = OutputsFormat::Wallet2)]
        format: OutputsFormat,
    },
    /// Import the wallet2 cold wallet's signed set for a ready proposal: checked against the
    /// proposal (inputs by their key images, rings, fee, change) and recorded as its finalized
    /// transaction; then `airlock broadcast`.
    ImportTxSet {
        #[arg(long)]
        proposal: String,
        /// The signed set (wallet2's file, or the RPC's `signed_txset` hex in a file).
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
    monero_spec(&def)
}

fn monero_spec(def: &airlock_core::VaultDefinition) -> CliResult<MoneroVault> {
    if def.chain != airlock_chain_monero::CHAIN {
        return Err(CliError::new(format!(
            "vault {:?} is on chain {:?}, not monero",
            def.vault_id, def.chain
        )));
    }
    Ok(MoneroVault::from_vault(def)?)
}

fn show_balance(json: bool, vault: &str, state: &ScanState, report: Option<&SyncReport>) {
    let b = MoneroBalance::of(state);
    if json {
        let mut out = json!({
            "vault": vault,
            "primary_address": state.primary_address(),
            "chain_height": b.chain_height,
            "total": b.total,
            "unlocked": b.unlocked,
            "unverified": b.unverified,
            "outputs": b.outputs,
            "unverified_outputs": b.unverified_outputs,
        });
        if let Some(r) = report {
            out["sync"] = json!({
                "scanned_from": r.scanned_from,
                "blocks_scanned": r.blocks_scanned,
                "new_outputs": r.new_outputs,
                "new_spends": r.new_spends,
                "reorg_fork_height": r.reorg_fork_height,
                "rolled_back_outputs": r.rolled_back_outputs,
            });
        }
        print_json(&out);
    } else {
        if let Some(r) = report {
            println!(
                "scanned {} block(s) from height {}: {} new output(s), {} spend(s) seen",
                r.blocks_scanned, r.scanned_from, r.new_outputs, r.new_spends
            );
            if let Some(fork) = r.reorg_fork_height {
                println!(
                    "reorg: rolled back to height {fork}, {} output(s) dropped",
                    r.rolled_back_outputs
                );
            }
        }
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

fn output_status(state: &ScanState, o: &OwnedOutput) -> &'static str {
    match (&o.spent, o.key_image) {
        (Some(_), _) => "spent",
        (None, None) => "needs key image",
        (None, Some(_)) if state.is_unlocked(o) => "unspent",
        (None, Some(_)) => "locked",
    }
}

fn show_outputs(json: bool, vault: &str, state: &ScanState) {
    if json {
        let outputs: Vec<_> = state
            .outputs()
            .iter()
            .map(|o| {
                json!({
                    "tx_hash": hex::encode(o.tx_hash),
                    "index_in_tx": o.index_in_tx,
                    "global_index": o.global_index,
                    "block_height": o.block_height,
                    "amount": o.amount,
                    "account": o.address.account,
                    "index": o.address.index,
                    "coinbase": o.coinbase,
                    "unlocked": state.is_unlocked(o),
                    "key_image_known": o.key_image.is_some(),
                    "spent": o.spent.is_some(),
                    "status": output_status(state, o),
                })
            })
            .collect();
        print_json(
            &json!({ "vault": vault, "chain_height": state.scanned_height(), "outputs": outputs }),
        );
        return;
    }
    println!(
        "vault {vault} at height {}: {} output(s)",
        state.scanned_height(),
        state.outputs().len()
    );
    for o in state.outputs() {
        println!(
            "  {}:{}  height {:>8}  {:>20}  address {}{}  {}{}",
            hex::encode(o.tx_hash),
            o.index_in_tx,
            o.block_height,
            format_xmr(o.amount),
            o.address,
            if o.coinbase { " (coinbase)" } else { "" },
            output_status(state, o),
            if state.is_unlocked(o) || o.spent.is_some() {
                ""
            } else {
                ", locked"
            },
        );
    }
}

/// The subaddress (`account`, `index`) of the vault, the index defaulting to the account's next
/// unused one. Refused beyond the lookahead the vault's scan watches (50 accounts past the
/// highest used one, 200 indices past the highest used index of the account).
fn receive_address(
    spec: &MoneroVault,
    outputs: &[OwnedOutput],
    account: u32,
    index: Option<u32>,
) -> CliResult<(String, u32, u32)> {
    let lookahead = Lookahead::default();
    let highest_account = outputs.iter().map(|o| o.address.account).max().unwrap_or(0);
    let highest_index = outputs
        .iter()
        .filter(|o| o.address.account == account)
        .map(|o| o.address.index)
        .max();
    let index = index.unwrap_or(match highest_index {
        Some(i) => i.saturating_add(1),
        None if account == 0 => 1,
        None => 0,
    });
    if account >= highest_account.saturating_add(lookahead.accounts)
        || index >= highest_index.unwrap_or(0).saturating_add(lookahead.indices)
    {
        return Err(CliError::new(format!(
            "subaddress {account}/{index} is beyond what the vault's scan watches ({} accounts \
             past the highest used one, {} indices past the highest used index): funds sent there \
             would not be seen",
            lookahead.accounts, lookahead.indices
        )));
    }
    let address = spec.view.address(spec.network, account, index).to_string();
    Ok((address, account, index))
}

/// A view-only wallet read from a file, and the signer identity that signed it (artifacts only).
struct ViewOnlyAccount {
    spec: MoneroVault,
    signed_by: Option<String>,
}

/// Reads Feather's view-only JSON, or the signer's account-export artifact: every signature must
/// verify, the chain must be monero, the account text must parse and name the export's wallet.
fn view_only_account(path: &Path, network: Option<&str>) -> CliResult<ViewOnlyAccount> {
    let bytes = Zeroizing::new(airlock_transport::read_bounded(path, 64 * 1024)?);
    let bad = |what: String| CliError::new(format!("{}: {what}", path.display()));
    if bytes.trim_ascii_start().starts_with(b"{") {
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8".into()))?;
        let network = MoneroNetwork::parse(network.unwrap_or("mainnet"))?;
        let export =
            ViewOnlyExport::from_feather_json(text, network).map_err(|e| bad(e.to_string()))?;
        return Ok(ViewOnlyAccount {
            spec: MoneroVault::from_export(&export)?,
            signed_by: None,
        });
    }
    let env = read_signed_envelope(path)?;
    if env.kind() != Some(ArtifactKind::AccountExport) {
        return Err(bad(format!(
            "a {} artifact, not an account export or Feather's view-only JSON",
            env.kind().map(|k| k.name()).unwrap_or("unknown")
        )));
    }
    let signers = env.valid_signers();
    let [signer] = signers.as_slice() else {
        return Err(bad(format!(
            "an account export carries exactly one signer's signature, this one {}",
            signers.len()
        )));
    };
    let export: AccountExport = env.open().map_err(|e| bad(e.to_string()))?;
    if export.chain != airlock_chain_monero::CHAIN {
        return Err(bad(format!(
            "an account export for chain {:?}, not monero",
            export.chain
        )));
    }
    if let Some(wanted) = network
        && MoneroNetwork::parse(wanted)? != MoneroNetwork::parse(&export.network)?
    {
        return Err(bad(format!(
            "the wallet is on {}, not {wanted}",
            export.network
        )));
    }
    // The account must be the wallet of the export's chain key (checked by the vault parser).
    let spec = MoneroVault::parse(&export.network, &export.account, &[&export.chain_key])
        .map_err(|e| bad(e.to_string()))?;
    Ok(ViewOnlyAccount {
        spec,
        signed_by: Some(signer.to_hex()),
    })
}

/// Sync progress on stderr, when it is a terminal (scripts read stdout).
fn show_progress(scanned: u64, chain_height: u64) {
    use std::io::IsTerminal;
    let mut err = std::io::stderr();
    if err.is_terminal() {
        use std::io::Write;
        let _ = write!(err, "\rscanned {scanned} / {chain_height} blocks");
        if scanned >= chain_height {
            let _ = writeln!(err);
        }
    }
}

fn synced_state(home: &Path, vault: &str, spec: &MoneroVault) -> CliResult<ScanState> {
    chain(home)?.load_state(spec)?.ok_or_else(|| {
        CliError::new(format!(
            "vault {vault:?} was never synced: `airlock xmr sync --vault {vault}`"
        ))
    })
}

pub fn run(home: &Path, json: bool, cmd: XmrCommand) -> CliResult {
    match cmd {
        XmrCommand::VaultAccount { view_file, network } => {
            let account = view_only_account(&view_file, network.as_deref())?;
            if json {
                print_json(&json!({
                    "network": account.spec.network.name(),
                    "primary_address": account.spec.primary_address,
                    "restore_height": account.spec.restore_height,
                    "account": account.spec.account_text(),
                    "signed_by": account.signed_by,
                }));
            } else {
                println!("{}", account.spec.account_text());
                if let Some(signer) = &account.signed_by {
                    eprintln!(
                        "signed by signer {signer}: check it is the identity the vault lists for this wallet"
                    );
                }
            }
            Ok(())
        }
        XmrCommand::Sync { vault } => {
            let spec = vault_spec(home, &vault)?;
            let (report, state) = chain(home)?.with_progress(show_progress).sync(&spec)?;
            crate::commit_state(home, &vault)?;
            show_balance(json, &vault, &state, Some(&report));
            Ok(())
        }
        XmrCommand::Balance { vault } => {
            let spec = vault_spec(home, &vault)?;
            let state = synced_state(home, &vault, &spec)?;
            show_balance(json, &vault, &state, None);
            Ok(())
        }
        XmrCommand::Receive {
            vault,
            account,
            index,
        } => {
            let spec = vault_spec(home, &vault)?;
            let state = chain(home)?.load_state(&spec)?;
            let outputs = state.as_ref().map(|s| s.outputs()).unwrap_or_default();
            let (address, account, index) = receive_address(&spec, outputs, account, index)?;
            if json {
                print_json(&json!({
                    "vault": vault, "address": address, "account": account, "index": index,
                }));
            } else {
                println!("{address}");
                eprintln!("vault {vault}, account {account}, index {index}");
            }
            Ok(())
        }
        XmrCommand::Outputs { vault } => {
            let spec = vault_spec(home, &vault)?;
            let state = synced_state(home, &vault, &spec)?;
            show_outputs(json, &vault, &state);
            Ok(())
        }
        XmrCommand::ExportTxSet {
            proposal,
            out,
            format,
        } => {
            let layout = match format {
                OutputsFormat::Wallet2 => OutputsLayout::V1,
                OutputsFormat::Wallet2Legacy => OutputsLayout::V0,
                OutputsFormat::Airlock => {
                    return Err(CliError::new(
                        "a proposal is Airlock's own unsigned set already: \
                         --format wallet2 or wallet2-0.18.0",
                    ));
                }
            };
            let c = CoordinatorHome::open(home)?.coordinator()?;
            let id = c.resolve(&proposal)?;
            let state = c.proposal_state(&id)?;
            let status = state.status(now()?);
            if !matches!(
                status,
                airlock_core::lifecycle::Status::Collecting
                    | airlock_core::lifecycle::Status::Ready
            ) {
                return Err(CliError::new(format!(
                    "proposal {} is {status}: only an open proposal goes to the cold wallet",
                    id.short()
                )));
            }
            let spec = monero_spec(&state.vault)?;
            let bytes =
                chain(home)?.export_wallet2_tx_set(&spec, &state.proposal.payload, layout)?;
            airlock_transport::write_atomic(&out, &bytes)?;
            if json {
                print_json(&json!({
                    "proposal": id.to_hex(), "vault": state.vault.vault_id, "file": out,
                }));
            } else {
                println!(
                    "proposal {} as wallet2's unsigned set -> {}",
                    id.short(),
                    out.display()
                );
                println!(
                    "sign it with the cold wallet (monero-wallet-cli `sign_transfer`), then \
                     `airlock xmr import-tx-set --proposal {} SIGNED`",
                    id.short()
                );
            }
            Ok(())
        }
        XmrCommand::ImportTxSet { proposal, file } => {
            let mut c = CoordinatorHome::open(home)?.coordinator()?;
            let id = c.resolve(&proposal)?;
            let state = c.proposal_state(&id)?;
            let spec = monero_spec(&state.vault)?;
            let raw = airlock_transport::read_bounded(&file, 64 * 1024 * 1024)?;
            let bytes = airlock_chain_monero::wallet2::file_bytes(
                &raw,
                airlock_chain_monero::wallet2::txsets::SIGNED_TX_MAGIC,
            )
            .unwrap_or(raw);
            let checked = chain(home)?
                .check_wallet2_signed_set(&spec, &state.proposal.payload, &bytes)
                .map_err(CliError::context(file.display()))?;
            let mut declared = state.proposal.spends.clone();
            let mut spent = checked.key_images.clone();
            declared.sort();
            spent.sort();
            if declared != spent {
                return Err(CliError::new(
                    "the signed transaction spends other key images than the proposal states",
                ));
            }
            let (fid, record) = c.finalize_with_transaction(
                &id,
                airlock_core::chain::FinalTransaction {
                    bytes: checked.bytes,
                    txid: checked.txid,
                },
                now()?,
            )?;
            if json {
                print_json(&json!({
                    "proposal": id.to_hex(), "finalized": fid.to_hex(), "txid": record.txid,
                }));
            } else {
                println!(
                    "Proposal {} finalized with the wallet2 cold wallet's transaction {} (record {}): \
                     `airlock broadcast {}`",
                    id.short(),
                    record.txid,
                    fid.short(),
                    id.short()
                );
            }
            Ok(())
        }
        XmrCommand::ExportOutputs {
            vault,
            out,
            all: _,
            format: format @ (OutputsFormat::Wallet2 | OutputsFormat::Wallet2Legacy),
        } => {
            let spec = vault_spec(home, &vault)?;
            let layout = if format == OutputsFormat::Wallet2 {
                OutputsLayout::V1
            } else {
                OutputsLayout::V0
            };
            let (count, bytes) = chain(home)?.export_wallet2_outputs(&spec, layout)?;
            airlock_transport::write_atomic(&out, &bytes)?;
            if json {
                print_json(
                    &json!({ "vault": vault, "format": "wallet2", "outputs": count, "file": out }),
                );
            } else {
                println!("{count} output(s) in wallet2's format -> {}", out.display());
                println!(
                    "import them in the cold wallet (monero-wallet-cli `import_outputs FILE`), then bring back its `export_key_images all FILE`"
                );
            }
            Ok(())
        }
        XmrCommand::ExportOutputs {
            vault, out, all, ..
        } => {
            let spec = vault_spec(home, &vault)?;
            let file = chain(home)?.export_outputs(&spec, all)?;
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
            let wallet2 =
                is_key_images_export(&bytes) || bytes.trim_ascii_start().starts_with(b"{");
            let (count, state) = if wallet2 {
                chain(home)?.import_wallet2_key_images(&spec, &bytes)?
            } else {
                chain(home)?.import_key_images(&spec, &bytes)?
            };
            if !json {
                println!("{count} key image(s) imported");
            }
            show_balance(json, &vault, &state, None);
            Ok(())
        }
    }
}
