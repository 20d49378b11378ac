//! `airlock-signer xmr`: the offline Monero wallet. A thin layer over `airlock_chain_monero`:
//!
//! - `new` / `restore` create or restore the wallet (25-word seed or polyseed) and seal its
//!   32-byte spend key as this signer's `monero` chain key (the vault lists its primary address);
//!   the wallet's public facts (network, primary address, restore height) go to
//!   `monero/<key id>.json` in the signer home.
//! - `export-view` writes the view-only JSON Feather reads (primary address, secret view key,
//!   restore height; mode 0600) for the coordinator's vault.
//! - `sign-key-images` turns the coordinator's outputs file into signed key images (the sync
//!   across the gap).
//! - `sign-tx-set` reviews and signs a wallet2 view-only wallet's unsigned transaction set
//!   (monero-wallet-cli, monero-wallet-rpc, Feather) under the vault's policy and this signer's
//!   journal, and answers with wallet2's signed set.
//!
//! This command must never print or log the spend key, and prints the seed words only to
//! `--words-out` (mode 0600) or, when asked with `--show-words`, to stdout.

use std::path::{Path, PathBuf};

use airlock_chain_monero::keyimages::{OutputsFile, sign_key_images};
use airlock_chain_monero::keys::{MoneroNetwork, WalletKeys};
use airlock_chain_monero::review::{format_xmr, review_unsigned, sign_unsigned};
use airlock_chain_monero::wallet::{OfflineWallet, SeedKind};
use airlock_chain_monero::wallet2;
use airlock_chain_monero::wallet2::files::{
    OUTPUTS_MAGIC, Wallet2Outputs, sign_key_images as wallet2_sign_key_images,
};
use airlock_chain_monero::wallet2::txsets::{
    PendingTx, SignedTxSet, UNSIGNED_TX_MAGIC, UnsignedTxSet, signable_transaction,
};
use airlock_chain_monero::{CHAIN, MoneroVault};
use airlock_cli_support::confirm;
use airlock_cli_support::{CliError, CliResult, now, passphrase, print_json};
use airlock_core::artifacts::Transfer;
use airlock_core::chain::{Description, check_against_intent};
use airlock_core::policy::select_rule;
use airlock_core::{AccountExport, Artifact, Intent};
use airlock_custody::Passphrase;
use airlock_signer_app::SignerHome;
use airlock_signer_app::chain_keys::{ChainSigner, chain_key_file};
use airlock_signer_app::journal::NewJournalEntry;
use clap::{Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Largest seed or outputs file read.
const MAX_WORDS: u64 = 4096;
const MAX_OUTPUTS_FILE: u64 = 128 * 1024 * 1024;

#[derive(Clone, Copy, ValueEnum)]
pub enum SeedKindArg {
    /// The classic 25-word Monero seed.
    Legacy25,
    /// A 16-word polyseed.
    Polyseed,
}

#[derive(Subcommand)]
pub enum XmrCommand {
    /// Create a new Monero wallet; seals its spend key and prints its primary address.
    New {
        /// mainnet, testnet, stagenet or regtest.
        #[arg(long)]
        network: String,
        #[arg(long, value_enum, default_value = "legacy25")]
        seed_kind: SeedKindArg,
        /// The current chain height (this device cannot ask a node); scanning starts there.
        #[arg(long, default_value_t = 0)]
        restore_height: u64,
        /// Write the seed words to this new file (mode 0600).
        #[arg(long)]
        words_out: Option<PathBuf>,
        /// Print the seed words on stdout instead.
        #[arg(long, conflicts_with = "words_out")]
        show_words: bool,
    },
    /// Restore a Monero wallet from a 25-word seed or a 16-word polyseed in a file.
    Restore {
        #[arg(long)]
        words_file: PathBuf,
        #[arg(long)]
        network: String,
        /// The height to scan from (at or below the wallet's first output).
        #[arg(long)]
        restore_height: u64,
    },
    /// Write the view-only JSON (Feather's format: address, secret view key, restore height).
    ExportView {
        /// The wallet's primary address (default: this signer's only Monero wallet).
        #[arg(long)]
        address: Option<String>,
        /// Where to write the JSON (mode 0600).
        #[arg(long)]
        out: PathBuf,
        /// The name Feather gives the view-only wallet.
        #[arg(long, default_value = "airlock-view-only")]
        wallet_name: String,
        /// Also write the same facts as an Airlock account-export artifact signed by this
        /// signer's identity key (armored, mode 0600), for `airlock xmr vault-account`.
        #[arg(long)]
        artifact: Option<PathBuf>,
        /// Also write the view-only JSON as one QR code (PNG, mode 0600), for a view-only wallet
        /// made by scanning it.
        #[arg(long)]
        qr: Option<PathBuf>,
    },
    /// Derive and sign the key images of the outputs a vault's coordinator exported.
    SignKeyImages {
        /// The outputs file: `airlock xmr export-outputs`'s, or wallet2's outputs export
        /// (monero-wallet-cli `export_outputs`, Feather, or the hex of monero-wallet-rpc's
        /// `export_outputs`), answered in the same format.
        outputs: PathBuf,
        /// The registered vault the outputs belong to.
        #[arg(long)]
        vault: String,
        /// Where to write the key-image file.
        #[arg(long)]
        out: PathBuf,
        /// For wallet2's outputs: answer with the JSON monero-wallet-rpc's `import_key_images`
        /// takes (`offset`, `signed_key_images`) instead of wallet2's encrypted file.
        #[arg(long)]
        rpc_json: bool,
    },
    /// Review and sign a wallet2 unsigned transaction set (monero-wallet-cli `transfer` on a
    /// view-only wallet, Feather's offline send, or the hex of monero-wallet-rpc's
    /// `unsigned_txset`); writes wallet2's signed set for `submit_transfer`.
    SignTxSet {
        /// The unsigned set (wallet2's file, or the RPC's hex in a file).
        file: PathBuf,
        /// The registered vault whose wallet made the set.
        #[arg(long)]
        vault: String,
        /// Where to write the signed set (wallet2's file).
        #[arg(long)]
        out: PathBuf,
        /// The payments intended, ADDRESS:ATOMIC_UNITS (repeat per payment): the set is refused
        /// unless its destinations are exactly these.
        #[arg(long = "to")]
        intended: Vec<String>,
        /// Sign without asking (after the review is printed).
        #[arg(long)]
        yes: bool,
    },
}

/// The public facts of a wallet this signer holds.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WalletRecord {
    network: String,
    primary_address: String,
    restore_height: u64,
}

fn records_dir(h: &SignerHome) -> PathBuf {
    h.dir.join("monero")
}

fn network(name: &str) -> CliResult<MoneroNetwork> {
    Ok(MoneroNetwork::parse(name)?)
}

fn store(
    h: &SignerHome,
    json: bool,
    pass_file: Option<&Path>,
    wallet: &OfflineWallet,
    show_words: Option<&str>,
) -> CliResult<String> {
    let pass = passphrase(pass_file, false)?;
    let secret = wallet.chain_secret();
    let (_, path) = h.store_chain_key(CHAIN, &secret.0, &pass)?;
    let address = wallet.primary_address().to_string();
    let record = WalletRecord {
        network: wallet.network().name().to_owned(),
        primary_address: address.clone(),
        restore_height: wallet.restore_height(),
    };
    let dir = records_dir(h);
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or("monero")
        .to_owned();
    airlock_transport::write_atomic(
        &dir.join(format!("{name}.json")),
        &serde_json::to_vec_pretty(&record).expect("serializes"),
    )?;
    if json {
        let mut out = json!({
            "chain": CHAIN, "network": record.network, "primary_address": address,
            "restore_height": record.restore_height, "chain_key": address, "file": path,
        });
        if let Some(words) = show_words {
            out["seed_words"] = json!(words);
        }
        print_json(&out);
    } else {
        if let Some(words) = show_words {
            println!("seed words (write them down): {words}");
        }
        println!("Monero wallet on {}: {address}", record.network);
        println!("spend key sealed -> {}", path.display());
        println!(
            "List it in a vault: --signer {}:ROLE:{}:{address}",
            h.config.name, h.config.identity
        );
    }
    Ok(address)
}

fn records(h: &SignerHome) -> CliResult<Vec<WalletRecord>> {
    let Ok(entries) = std::fs::read_dir(records_dir(h)) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            let bytes = airlock_transport::read_bounded(&path, 64 * 1024)?;
            out.push(
                serde_json::from_slice(&bytes)
                    .map_err(|e| CliError::new(format!("{} is damaged: {e}", path.display())))?,
            );
        }
    }
    Ok(out)
}

/// Unseals the spend key of `address` (checked against it).
fn unseal(h: &SignerHome, pass: &Passphrase, address: &str) -> CliResult<WalletKeys> {
    let path = chain_key_file(&h.dir, CHAIN, address);
    let sealed = airlock_transport::read_bounded(&path, 64 * 1024).map_err(|_| {
        CliError::new(format!(
            "this signer holds no spend key for {address} (create or restore it with `xmr new|restore`)"
        ))
    })?;
    let secret = airlock_custody::open(&sealed, pass)?;
    wallet_keys(&secret, address)
}

fn wallet_keys(secret: &[u8], address: &str) -> CliResult<WalletKeys> {
    let bytes: &[u8; 32] = secret
        .try_into()
        .map_err(|_| CliError::new("the sealed Monero key is not 32 bytes"))?;
    let keys = WalletKeys::from_spend_secret(bytes)?;
    let mine = airlock_chain_monero::vault_spec::chain_key_of_spend_secret(secret)?;
    if !airlock_chain_monero::vault_spec::same_chain_key(&mine, address) {
        return Err(CliError::new(format!(
            "the sealed key is not the key of {address}: the keys directory was tampered with"
        )));
    }
    Ok(keys)
}

pub fn run(home: &Path, json: bool, pass_file: Option<&Path>, cmd: XmrCommand) -> CliResult {
    let h = SignerHome::open(home)?;
    match cmd {
        XmrCommand::New {
            network: net,
            seed_kind,
            restore_height,
            words_out,
            show_words,
        } => {
            if words_out.is_none() && !show_words {
                return Err(CliError::new(
                    "the seed words must be written down: give --words-out FILE or --show-words",
                ));
            }
            if let Some(p) = &words_out
                && p.exists()
            {
                return Err(CliError::new(format!(
                    "{} exists; refusing to overwrite it",
                    p.display()
                )));
            }
            let kind = match seed_kind {
                SeedKindArg::Legacy25 => SeedKind::Legacy25,
                SeedKindArg::Polyseed => SeedKind::Polyseed16,
            };
            let (wallet, words) = OfflineWallet::create(
                &mut rand_core::OsRng,
                network(&net)?,
                kind,
                restore_height,
                now()?,
            )?;
            if let Some(p) = &words_out {
                let mut text = Zeroizing::new(words.as_bytes().to_vec());
                text.push(b'\n');
                airlock_transport::write_atomic_private_new(p, &text)?;
            }
            store(
                &h,
                json,
                pass_file,
                &wallet,
                show_words.then_some(words.as_str()),
            )?;
            Ok(())
        }
        XmrCommand::Restore {
            words_file,
            network: net,
            restore_height,
        } => {
            let bytes = Zeroizing::new(airlock_transport::read_bounded(&words_file, MAX_WORDS)?);
            let words = std::str::from_utf8(&bytes)
                .map_err(|_| CliError::new(format!("{}: not UTF-8 text", words_file.display())))?;
            let wallet = OfflineWallet::restore(words.trim(), network(&net)?, restore_height)?;
            store(&h, json, pass_file, &wallet, None)?;
            Ok(())
        }
        XmrCommand::ExportView {
            address,
            out,
            wallet_name,
            artifact,
            qr,
        } => {
            let all = records(&h)?;
            let record = match &address {
                Some(a) => all
                    .iter()
                    .find(|r| {
                        airlock_chain_monero::vault_spec::same_chain_key(&r.primary_address, a)
                    })
                    .ok_or_else(|| {
                        CliError::new(format!("this signer holds no Monero wallet {a}"))
                    })?,
                None => match all.as_slice() {
                    [one] => one,
                    [] => return Err(CliError::new("this signer holds no Monero wallet")),
                    _ => {
                        return Err(CliError::new(
                            "this signer holds several Monero wallets: name one with --address",
                        ));
                    }
                },
            };
            let pass = passphrase(pass_file, false)?;
            let keys = unseal(&h, &pass, &record.primary_address)?;
            let wallet = OfflineWallet::from_spend_key(
                &keys.spend_secret_bytes(),
                network(&record.network)?,
                record.restore_height,
            )?;
            let export = wallet.view_only_export();
            let feather = export.to_feather_json(&wallet_name);
            let spec = MoneroVault::from_export(&export)?;
            let signed_export = match &artifact {
                Some(path) => {
                    let mut env = AccountExport {
                        chain: CHAIN.to_owned(),
                        network: record.network.clone(),
                        account: spec.account_text(),
                        chain_key: record.primary_address.clone(),
                        created: now()?,
                    }
                    .envelope();
                    env.sign(h.unlock(&pass)?.signing_key());
                    Some((path, env))
                }
                None => None,
            };
            let qr_png = match &qr {
                Some(_) => {
                    let matrix =
                        airlock_qr::render::qr(&feather, airlock_qr::Density::Medium, true)
                            .map_err(CliError::from)?;
                    let scale = airlock_qr::render::default_scale(&matrix);
                    Some(Zeroizing::new(
                        airlock_qr::render::png(&matrix, scale).map_err(CliError::from)?,
                    ))
                }
                None => None,
            };
            airlock_transport::write_atomic_private(&out, feather.as_bytes())?;
            if let (Some(path), Some(png)) = (&qr, &qr_png) {
                airlock_transport::write_atomic_private(path, png)?;
            }
            if let Some((path, env)) = &signed_export {
                let armored = airlock_transport::armor("ACCOUNT-EXPORT", &env.to_bytes());
                airlock_transport::write_atomic_private(path, armored.as_bytes())?;
            }
            if json {
                print_json(&json!({
                    "network": record.network,
                    "primary_address": export.primary_address,
                    "view_key": hex::encode(&export.secret_view_key[..]),
                    "restore_height": export.restore_height,
                    "account": spec.account_text(),
                    "file": out,
                    "artifact": artifact,
                    "qr": qr,
                }));
            } else {
                println!(
                    "view-only wallet {} -> {}",
                    export.primary_address,
                    out.display()
                );
                println!("vault account: {}", spec.account_text());
                if let Some(path) = &qr {
                    println!("view-only JSON as a QR code -> {}", path.display());
                }
                if let Some(path) = &artifact {
                    println!(
                        "signed account export -> {} (airlock xmr vault-account --view-file)",
                        path.display()
                    );
                }
            }
            Ok(())
        }
        XmrCommand::SignKeyImages {
            outputs,
            vault,
            out,
            rpc_json,
        } => {
            let (def, _) = h
                .vault_latest(&vault)?
                .ok_or_else(|| CliError::new(format!("no registered vault {vault:?}")))?;
            let spec = MoneroVault::from_vault(&def)?;
            let raw = airlock_transport::read_bounded(&outputs, MAX_OUTPUTS_FILE)?;
            if let Some(bytes) = wallet2::file_bytes(&raw, OUTPUTS_MAGIC) {
                return sign_wallet2_key_images(
                    &h, &def, &spec, pass_file, json, &vault, &bytes, &out, rpc_json,
                );
            }
            if rpc_json {
                return Err(CliError::new(
                    "--rpc-json answers wallet2's outputs export; this is Airlock's outputs file",
                ));
            }
            let file = OutputsFile::from_bytes(&raw)?;
            // Refuse another wallet's file before asking for the passphrase.
            if file.network != spec.network
                || !airlock_chain_monero::vault_spec::same_chain_key(
                    &file.primary_address,
                    &spec.primary_address,
                )
            {
                return Err(CliError::new(format!(
                    "the outputs file is for {} on {}, vault {vault:?} is {} on {}",
                    file.primary_address,
                    file.network.name(),
                    spec.primary_address,
                    spec.network.name()
                )));
            }
            let keys = monero_keys(&h, &def, &spec, pass_file, &vault)?;
            let images = sign_key_images(&file, spec.network, &keys, &mut rand_core::OsRng)?;
            airlock_transport::write_atomic(&out, &images.to_bytes())?;
            if json {
                print_json(&json!({
                    "vault": vault, "key_images": images.key_images.len(), "file": out,
                }));
            } else {
                println!(
                    "{} key image(s) for vault {vault} -> {}",
                    images.key_images.len(),
                    out.display()
                );
            }
            Ok(())
        }
        XmrCommand::SignTxSet {
            file,
            vault,
            out,
            intended,
            yes,
        } => sign_tx_set(&h, pass_file, json, &vault, &file, &out, &intended, yes),
    }
}

/// The wallet's keys from this signer's keystore (after the passphrase).
fn monero_keys(
    h: &SignerHome,
    def: &airlock_core::VaultDefinition,
    spec: &MoneroVault,
    pass_file: Option<&Path>,
    vault: &str,
) -> CliResult<WalletKeys> {
    let pass = passphrase(pass_file, false)?;
    match h.chain_signer(def, &pass, None)? {
        Some(ChainSigner::Secret(secret)) => wallet_keys(&secret.0, &spec.primary_address),
        Some(ChainSigner::Hsm(_) | ChainSigner::Device(_) | ChainSigner::Frost(_)) => {
            Err(CliError::new(
                "a Monero key lives in this signer's keystore only (not an HSM, device or FROST group)",
            ))
        }
        None => Err(CliError::new(format!(
            "vault {vault:?} lists no Monero key for this signer"
        ))),
    }
}

/// `sign-key-images` on wallet2's outputs export (a wallet2 view-only wallet, Feather or
/// monero-wallet-cli as the online side): checked against the vault's view key before the
/// passphrase is asked, answered with wallet2's key-images file.
#[allow(clippy::too_many_arguments)]
fn sign_wallet2_key_images(
    h: &SignerHome,
    def: &airlock_core::VaultDefinition,
    spec: &MoneroVault,
    pass_file: Option<&Path>,
    json: bool,
    vault: &str,
    bytes: &[u8],
    out: &Path,
    rpc_json: bool,
) -> CliResult {
    let outputs = Wallet2Outputs::read(bytes, &spec.view)?;
    let keys = monero_keys(h, def, spec, pass_file, vault)?;
    let images = wallet2_sign_key_images(&outputs, &keys, &mut rand_core::OsRng)?;
    let answer = if rpc_json {
        images.to_rpc_json().into_bytes()
    } else {
        images.write(&spec.view, &mut rand_core::OsRng)
    };
    airlock_transport::write_atomic(out, &answer)?;
    if json {
        print_json(&json!({
            "vault": vault, "format": if rpc_json { "wallet2-rpc-json" } else { "wallet2" },
            "offset": images.offset,
            "key_images": images.key_images.len(), "file": out,
        }));
    } else {
        println!(
            "{} key image(s) for vault {vault} in wallet2's format (outputs {} to {}) -> {}",
            images.key_images.len(),
            images.offset + 1,
            images.offset as usize + images.key_images.len(),
            out.display()
        );
        println!(
            "import them in the view-only wallet: monero-wallet-cli `import_key_images FILE`, or Feather's Import key images"
        );
    }
    Ok(())
}

/// `sign-tx-set`: wallet2's unsigned set, checked against the vault's view key and turned into
/// Airlock's unsigned form (inputs re-derived, sums checked), reviewed and checked against the
/// stated payments, the vault's policy and this signer's journal before the passphrase is asked;
/// signed, journaled (fsynced) before the signed set is written.
#[allow(clippy::too_many_arguments)]
fn sign_tx_set(
    h: &SignerHome,
    pass_file: Option<&Path>,
    json: bool,
    vault: &str,
    file: &Path,
    out: &Path,
    intended: &[String],
    yes: bool,
) -> CliResult {
    let (def, _) = h
        .vault_latest(vault)?
        .ok_or_else(|| CliError::new(format!("no registered vault {vault:?}")))?;
    let spec = MoneroVault::from_vault(&def)?;
    let raw = airlock_transport::read_bounded(file, MAX_OUTPUTS_FILE)?;
    let bytes = wallet2::file_bytes(&raw, UNSIGNED_TX_MAGIC).unwrap_or(raw);
    let set = UnsignedTxSet::read(&bytes, &spec.view).map_err(CliError::context(file.display()))?;
    if set.txes.is_empty() {
        return Err(CliError::new(format!(
            "{}: the set holds no transaction",
            file.display()
        )));
    }
    // The journal keys a set by its hash, marked apart from proposal ids.
    let set_id = format!("wallet2-set:{}", hex::encode(Sha256::digest(&bytes)));
    let mut spends = Vec::with_capacity(set.txes.len());
    let mut reviews = Vec::with_capacity(set.txes.len());
    for tx in &set.txes {
        let spend = signable_transaction(tx, &spec.view, spec.network, &mut rand_core::OsRng)
            .map_err(CliError::context(file.display()))?;
        let review = review_unsigned(&spend.payload, spec.network, &spec.view, None)
            .map_err(CliError::context(file.display()))?;
        spends.push(spend);
        reviews.push(review);
    }
    let mut transfers = Vec::new();
    for review in &reviews {
        transfers.extend(review.to_description().transfers);
    }
    let stated = Intent {
        transfers: transfers.clone(),
        memo: String::new(),
    };
    if !intended.is_empty() {
        let intent = Intent {
            transfers: intended
                .iter()
                .map(|spec| intended_payment(spec))
                .collect::<CliResult<_>>()?,
            memo: String::new(),
        };
        check_against_intent(
            &intent,
            &Description {
                transfers: transfers.clone(),
                ..Default::default()
            },
        )
        .map_err(|e| CliError::new(format!("refused: {e}")))?;
    }
    let now = now()?;
    let journal = h.journal()?;
    // A set is signed by this signer alone: only a rule one signer satisfies may let it through.
    let rule = select_rule(&def, &stated, now, &|secs| {
        journal.approved_in_window(&def.vault_id, now, secs)
    })
    .map_err(|e| CliError::new(format!("refused: {e}")))?;
    let approvals: u32 = rule.requirements.iter().map(|r| r.count).sum();
    if approvals > 1 {
        return Err(CliError::new(format!(
            "refused: vault {vault:?}'s rule {:?} needs {approvals} approvals; a wallet2 set is \
             signed by this signer alone, so propose the payment through the coordinator instead",
            rule.name
        )));
    }
    if !json {
        println!(
            "wallet2 unsigned set {} for vault {} v{} ({} transaction(s), rule {:?})",
            file.display(),
            def.vault_id,
            def.version,
            set.txes.len(),
            rule.name
        );
        for (n, (review, spend)) in reviews.iter().zip(&spends).enumerate() {
            println!("TRANSACTION {} (recomputed by this signer)", n + 1);
            for p in &review.payments {
                println!("  PAY {} -> {}", format_xmr(p.amount), p.address);
            }
            println!(
                "  CHANGE {} back to this wallet; FEE {}; {} input(s) of {}",
                format_xmr(spend.change),
                format_xmr(spend.fee),
                review.inputs.len(),
                format_xmr(spend.input_total)
            );
            for w in &review.warnings {
                println!("  WARNING: {w}");
            }
        }
    }
    confirm("sign", yes)?;
    let keys = monero_keys(h, &def, &spec, pass_file, vault)?;
    let mut signed = Vec::with_capacity(spends.len());
    for (spend, shown) in spends.iter().zip(&reviews) {
        let (review, tx) = sign_unsigned(&spend.payload, spec.network, &keys)?;
        if review.payments != shown.payments || review.fee != shown.fee {
            return Err(CliError::new(
                "the signed transaction differs from the one reviewed; nothing written",
            ));
        }
        signed.push(tx);
    }
    let key_images: Vec<String> = signed
        .iter()
        .flat_map(|s| s.key_images.iter().cloned())
        .collect();
    let mut journal = journal;
    if let Some((entry, spend)) = journal.conflicting_approval(&set_id, &key_images, now) {
        return Err(CliError::new(format!(
            "refused: {spend} is already spent by proposal {} that this signer approved",
            &entry.proposal[..12.min(entry.proposal.len())]
        )));
    }
    // The view-only wallet imports key images by position from its first output: answered
    // when the set's outputs start there.
    let known_images = if set.transfers.offset == 0 {
        wallet2_sign_key_images(&set.transfers, &keys, &mut rand_core::OsRng)?
            .key_images
            .into_iter()
            .map(|(image, _)| image)
            .collect()
    } else {
        Vec::new()
    };
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let signed_set = SignedTxSet {
        txes: set
            .txes
            .iter()
            .zip(&spends)
            .zip(&signed)
            .map(|((tx, spend), s)| PendingTx {
                tx: s.bytes.clone(),
                dust: 0,
                fee: spend.fee,
                dust_added_to_fee: false,
                change: tx.change.clone(),
                selected_transfers: tx.selected_transfers.clone(),
                key_images: s.key_images.iter().map(|k| format!("<{k}> ")).collect(),
                // As wallet2 does: the view-only wallet is not given the transaction key.
                tx_key: identity,
                additional_tx_keys: Vec::new(),
                destinations: tx.destinations.clone(),
                construction: tx.clone(),
                multisig_entropy: [0; 32],
            })
            .collect(),
        key_images: known_images,
        tx_key_images: signed
            .iter()
            .filter_map(|s| s.change_key_images.as_ref())
            .flat_map(|f| f.key_images.iter().map(|k| (k.output_key, k.key_image)))
            .collect(),
    };
    if journal.decision_on(&set_id).is_none() {
        journal.append(NewJournalEntry {
            at: now,
            proposal: set_id.clone(),
            approval: String::new(),
            vault: def.vault_id.clone(),
            version: def.version,
            decision: airlock_signer_app::journal::APPROVE.into(),
            amount: transfers
                .iter()
                .fold(0u128, |a, t| a.saturating_add(t.amount)),
            spends: key_images,
            reason: format!("wallet2 unsigned set {}", file.display()),
            envelope: Vec::new(),
            expires: 0,
        })?;
    }
    airlock_transport::write_atomic(out, &signed_set.write(&spec.view, &mut rand_core::OsRng))?;
    let txids: Vec<&str> = signed.iter().map(|s| s.txid.as_str()).collect();
    if json {
        print_json(&json!({
            "vault": vault, "set": set_id, "txids": txids, "rule": rule.name,
            "fee": spends.iter().map(|s| s.fee).sum::<u64>(), "file": out,
        }));
    } else {
        println!(
            "Signed {} transaction(s) ({}) -> {}",
            signed.len(),
            txids.join(", "),
            out.display()
        );
        println!(
            "submit it from the view-only wallet: monero-wallet-cli `submit_transfer`, \
             monero-wallet-rpc `submit_transfer`, or Feather's offline send"
        );
    }
    Ok(())
}

/// One `--to ADDRESS:ATOMIC_UNITS`.
fn intended_payment(spec: &str) -> CliResult<Transfer> {
    let (address, amount) = spec
        .rsplit_once(':')
        .ok_or_else(|| CliError::new(format!("--to {spec:?} is not ADDRESS:ATOMIC_UNITS")))?;
    Ok(Transfer {
        destination: address.to_owned(),
        amount: amount.parse().map_err(|_| {
            CliError::new(format!(
                "--to {spec:?}: {amount:?} is not an amount in atomic units"
            ))
        })?,
        asset: airlock_chain_monero::review::ASSET.to_owned(),
    })
}
