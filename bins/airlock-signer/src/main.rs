//! `airlock-signer`: the offline signer's command line. A thin layer over `airlock-signer-app`.
//! It contains no network code (a test of this package proves it from `cargo tree`), hardens the
//! process against core dumps before touching keys, and signs nothing a person was not shown.

mod backup_cmd;
mod batch_cmd;
mod device_cmd;
mod frost_cmd;
mod hsm_cmd;
mod key_cmd;
mod keystore_cmd;
mod psbt_cmd;
mod qr_cmd;
mod transfer_cmd;
mod xmr_cmd;

use std::path::{Path, PathBuf};

use airlock_cli_support::inspect::{envelope_json, inspect_text};
use airlock_cli_support::{
    CliError, CliResult, confirm, exit_with, now, passphrase, print_json, read_envelope,
    read_signed_envelope, write_envelope,
};
use airlock_core::{Decision, ProposalBundle, PublicKey};
use airlock_custody::KdfParams;
use airlock_signer_app::{SignerError, SignerHome, describe_vault};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "airlock-signer",
    version,
    about = "Airlock offline signer: registered vaults, independent review, approvals and rejections",
    after_help = airlock_cli_support::EXIT_CODES_HELP
)]
struct Cli {
    /// State directory.
    #[arg(
        long,
        global = true,
        env = "AIRLOCK_HOME",
        default_value = "airlock-signer-home"
    )]
    home: PathBuf,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// Read the passphrase from this file (one trailing newline is ignored).
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum KdfProfile {
    /// RFC 9106 second profile: Argon2id, 64 MiB, 3 passes, 4 lanes.
    Default,
    /// 8 MiB, 1 pass: for test suites only.
    InsecureFast,
}

#[derive(Subcommand)]
enum Command {
    /// Create the signer's state directory with a new identity key, encrypted under a passphrase.
    Init {
        /// This signer's name (as the vault definition will list it).
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "default")]
        kdf: KdfProfile,
        /// Restore a lost device's identity from its SLIP-39 share files (made with
        /// `airlock-signer backup split --identity`) instead of making a new one.
        #[arg(long, value_name = "SHARE_FILE", num_args = 1..)]
        restore_identity: Vec<PathBuf>,
        /// File holding the SLIP-39 passphrase of those shares (none by default).
        #[arg(long, requires = "restore_identity")]
        share_passphrase_file: Option<PathBuf>,
        /// The identity (hex) the shares must hold, as the vault lists it.
        #[arg(long, requires = "restore_identity")]
        expect_identity: Option<String>,
    },
    /// Print this signer's identity key (to give to the coordinator).
    Id,
    /// Vault definitions: review and sign drafts, register approved versions.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Verify a proposal bundle and show what it really does, without deciding.
    Review { bundle: PathBuf },
    /// Approve a proposal after review: signs and records it in the journal.
    Approve {
        bundle: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Approve without the interactive confirmation (after reviewing).
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        armor: bool,
        /// The PIN of the token holding this signer's chain key, when the vault records it as
        /// HSM-backed (one trailing newline ignored).
        #[arg(long, env = "AIRLOCK_HSM_PIN_FILE")]
        hsm_pin_file: Option<PathBuf>,
        /// The QR device's answer (`ur:eth-signature`, one per line) to the requests
        /// `device-request` wrote, when the vault records this signer's key as on a device.
        #[arg(long, conflicts_with = "hsm_pin_file")]
        device_signature: Option<PathBuf>,
    },
    /// For a member whose Ethereum key is on a QR signer (EIP-4527, e.g. Keystone): review the
    /// proposal and write the `ur:eth-sign-request` frames to show the device (one file per
    /// signature needed: OUT, or OUT-1, OUT-2… for a batch of transactions). Nothing is
    /// recorded; approve with `--device-signature`.
    DeviceRequest {
        bundle: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// QR density: low, medium, high, max.
        #[arg(long, default_value = "medium")]
        density: String,
    },
    /// Reject a proposal with a reason: signs and records it in the journal.
    Reject {
        bundle: PathBuf,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        armor: bool,
    },
    /// End the reservation an approval holds on its coins, nonce or key images, given the
    /// coordinator's signed record that the proposal was abandoned (`airlock abandon`).
    Release { file: PathBuf },
    /// Halts handed over by a witness's operator (not through the coordinator): kept when a
    /// witness of a registered vault signed them, and weighed in every review of that vault.
    #[command(subcommand)]
    Halt(HaltCommand),
    /// Write again the decision this signer made on a proposal (from the journal).
    Reexport {
        /// Proposal id (64 hex digits).
        proposal: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// The signer's journal of decisions.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Print any artifact and check its signatures.
    Inspect { file: PathBuf },
    /// Show this signer's identity, vaults, log state and journal head.
    Status,
    /// Carry artifacts across the air gap: signed transfer directories, their journal, the allowlist.
    #[command(subcommand)]
    Transfer(transfer_cmd::TransferCommand),
    /// Show a file as (animated) QR codes, or read one back from images.
    #[command(subcommand)]
    Qr(qr_cmd::QrCommand),
    /// Backups: SLIP-39 Shamir shares (split, recover) and BIP-39 mnemonics (new, verify).
    #[command(subcommand)]
    Backup(backup_cmd::BackupCommand),
    /// Sign a plain PSBT file for a registered Bitcoin vault (as handed over by Sparrow,
    /// Electrum, Bitcoin Core): reviewed, shown, signed.
    #[command(subcommand)]
    Psbt(psbt_cmd::PsbtCommand),
    /// Chain keys that sign transactions (Ethereum…): add from a mnemonic or a raw secret, list.
    #[command(subcommand)]
    Key(key_cmd::KeyCommand),
    /// FROST threshold groups (Bitcoin taproot): key generation across the gap, nonce
    /// commitments handed over in advance.
    #[command(subcommand)]
    Frost(frost_cmd::FrostCommand),
    /// Ethereum keystore v3 import/export, and the identity unlock benchmark.
    #[command(subcommand)]
    Keystore(keystore_cmd::KeystoreCommand),
    /// Keys in a PKCS#11 token (HSM, SoftHSM2): generate inside it, list, sign.
    #[command(subcommand)]
    Hsm(hsm_cmd::HsmCommand),
    /// Monero: offline wallet (new, restore), view-only export, key images for the coordinator.
    #[command(subcommand)]
    Xmr(xmr_cmd::XmrCommand),
}

#[derive(Subcommand)]
enum VaultCommand {
    /// Review a vault draft and sign it (approving that version).
    Sign {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        yes: bool,
    },
    /// Register an approved vault version (checked against the rotation rule).
    Register { file: PathBuf },
    /// List registered vaults.
    List,
    /// Show a registered vault (newest version).
    Show { vault: String },
}

#[derive(Subcommand)]
enum HaltCommand {
    /// Keep a witness's HALT (a file from `airlock-witness halt issue --out`): approvals of the
    /// vaults it names stop until this signer approves its RESUME.
    Import { file: PathBuf },
    /// The halts held here and the vaults each stops.
    List,
}

#[derive(Subcommand)]
enum JournalCommand {
    /// Check the journal's hash chain and head.
    Verify,
    /// List the decisions in the journal.
    Show,
}

fn main() {
    airlock_cli_support::reset_sigpipe();
    let cli = Cli::parse();
    let json = cli.json;
    exit_with(run(cli), json)
}

/// A signer error keeps its severity (alarms exit 3).
pub(crate) fn signer_err(e: SignerError) -> CliError {
    CliError::from(e)
}

/// The name of a command that changes this signer's home (it runs under the home's lock), or
/// `None` for commands that only read it or do not use it.
fn changes_home(command: &Command) -> Option<&'static str> {
    use backup_cmd::BackupCommand;
    use key_cmd::KeyCommand;
    use keystore_cmd::KeystoreCommand;
    use transfer_cmd::TransferCommand;
    use xmr_cmd::XmrCommand;
    Some(match command {
        Command::Init { .. } => "airlock-signer init",
        Command::Vault(VaultCommand::Register { .. }) => "airlock-signer vault register",
        Command::Approve { .. } => "airlock-signer approve",
        Command::Reject { .. } => "airlock-signer reject",
        Command::Release { .. } => "airlock-signer release",
        Command::Halt(HaltCommand::Import { .. }) => "airlock-signer halt import",
        Command::Transfer(TransferCommand::Out { .. }) => "airlock-signer transfer out",
        Command::Transfer(TransferCommand::In { .. }) => "airlock-signer transfer in",
        Command::Transfer(TransferCommand::AllowDir { .. }) => "airlock-signer transfer allow-dir",
        Command::Key(KeyCommand::Add { .. }) => "airlock-signer key add",
        Command::Keystore(KeystoreCommand::ImportEth { .. }) => {
            "airlock-signer keystore import-eth"
        }
        Command::Xmr(XmrCommand::New { .. }) => "airlock-signer xmr new",
        Command::Xmr(XmrCommand::Restore { .. }) => "airlock-signer xmr restore",
        Command::Xmr(XmrCommand::SignKeyImages { .. }) => "airlock-signer xmr sign-key-images",
        Command::Xmr(XmrCommand::SignTxSet { .. }) => "airlock-signer xmr sign-tx-set",
        Command::Psbt(_) => "airlock-signer psbt sign",
        Command::Frost(f) => return f.changes_home(),
        Command::Backup(BackupCommand::Bip39New { .. } | BackupCommand::Bip39Verify { .. }) => {
            "airlock-signer backup"
        }
        _ => return None,
    })
}

pub(crate) fn home(dir: &Path) -> CliResult<SignerHome> {
    SignerHome::open(dir).map_err(signer_err)
}

fn known_keys(h: &SignerHome) -> Vec<(PublicKey, String)> {
    let mut out = Vec::new();
    if let Ok(me) = h.public_key() {
        out.push((me, format!("{} (this signer)", h.config.name)));
    }
    for id in h.vault_ids().unwrap_or_default() {
        for (def, _) in h.vault_versions(&id).unwrap_or_default() {
            if !out.iter().any(|(k, _)| *k == def.coordinator.key) {
                out.push((
                    def.coordinator.key,
                    format!("coordinator {}", def.coordinator.origin),
                ));
            }
            for s in def.signers {
                if !out.iter().any(|(k, _)| *k == s.identity) {
                    out.push((
                        s.identity,
                        format!("{} ({} of vault {})", s.name, s.role, def.vault_id),
                    ));
                }
            }
        }
    }
    out
}

fn read_bundle(path: &Path) -> CliResult<ProposalBundle> {
    let env = read_signed_envelope(path)?;
    let bundle = env
        .open::<ProposalBundle>()
        .map_err(CliError::context(path.display()))?;
    only_coordinator_signed(&env, &bundle.vault, path)?;
    Ok(bundle)
}

/// A bundle's own envelope may carry the signature of the coordinator named by the vault inside
/// it and nothing else (the review then checks that vault against the registered one).
pub(crate) fn only_coordinator_signed(
    env: &airlock_core::Envelope,
    vault: &[u8],
    path: &Path,
) -> CliResult {
    let def: airlock_core::VaultDefinition = airlock_core::Envelope::from_bytes(vault)
        .and_then(|v| v.open())
        .map_err(CliError::context(path.display()))?;
    env.require_only_signers(&[def.coordinator.key], "the bundle")
        .map_err(CliError::context(path.display()))
}

fn run(cli: Cli) -> CliResult {
    let hardening = airlock_custody::harden_process();
    let json = cli.json;
    let pass_file = cli.passphrase_file.as_deref();
    // One writer per home: held from before the first read of the state a command validates
    // until after its last write.
    let _home_lock = airlock_cli_support::lock_home(
        &cli.home,
        matches!(cli.command, Command::Init { .. }),
        changes_home(&cli.command),
    )?;
    match cli.command {
        Command::Init {
            name,
            kdf,
            restore_identity,
            share_passphrase_file,
            expect_identity,
        } => {
            let params = match kdf {
                KdfProfile::Default => KdfParams::DEFAULT,
                KdfProfile::InsecureFast => KdfParams::INSECURE_FAST,
            };
            // A restored identity is checked before anything is asked or written.
            let restored = if restore_identity.is_empty() {
                None
            } else {
                let key = backup_cmd::recover_identity(
                    &restore_identity,
                    share_passphrase_file.as_deref(),
                )?;
                let found = hex::encode(key.verifying_key().to_bytes());
                if let Some(expected) = &expect_identity
                    && !expected.trim().eq_ignore_ascii_case(&found)
                {
                    return Err(CliError::new(format!(
                        "the shares hold identity {found}, not the expected {}; nothing was written",
                        expected.trim()
                    )));
                }
                Some(key)
            };
            let pass = passphrase(pass_file, true)?;
            let h = match restored {
                Some(key) => SignerHome::restore(&cli.home, &name, key, &pass, params, now()?),
                None => SignerHome::init(&cli.home, &name, &pass, params, now()?),
            }
            .map_err(signer_err)?;
            if json {
                print_json(
                    &json!({ "home": cli.home, "name": h.config.name, "identity": h.config.identity, "restored": h.config.restored, "hardening": hardening.to_string() }),
                );
            } else if h.config.restored.is_some() {
                println!(
                    "Signer {} restored in {} from its SLIP-39 shares",
                    h.config.name,
                    cli.home.display()
                );
                println!("identity {}", h.config.identity);
                println!(
                    "Register the vault versions again (`airlock-signer vault register`). Proposals made before now \
                     are refused: the lost device's decisions are not here; the coordinator proposes them again."
                );
            } else {
                println!(
                    "Signer {} initialized in {}",
                    h.config.name,
                    cli.home.display()
                );
                println!("identity {}", h.config.identity);
                println!(
                    "Give this key to the coordinator: --signer {}:ROLE:{}",
                    h.config.name, h.config.identity
                );
            }
            Ok(())
        }
        Command::Id => {
            let h = home(&cli.home)?;
            if json {
                print_json(&json!({ "name": h.config.name, "identity": h.config.identity }));
            } else {
                println!("{} {}", h.config.name, h.config.identity);
            }
            Ok(())
        }
        Command::Vault(v) => vault(&cli.home, json, pass_file, v),
        Command::Review { bundle } => {
            let env = read_signed_envelope(&bundle)?;
            if env.kind() == Some(airlock_core::ArtifactKind::ProposalBatch) {
                return batch_cmd::review(&cli.home, json, &batch_cmd::open_batch(&env, &bundle)?);
            }
            let h = home(&cli.home)?;
            let review = h
                .review(&read_bundle(&bundle)?, now()?)
                .map_err(signer_err)?;
            if json {
                print_json(&serde_json::to_value(review.to_json())?);
            } else {
                print!("{}", review.text);
            }
            Ok(())
        }
        Command::Approve {
            bundle,
            out,
            yes,
            armor,
            hsm_pin_file,
            device_signature,
        } => decide(
            &cli.home,
            json,
            pass_file,
            &bundle,
            Decision::Approve,
            "",
            yes,
            &out,
            armor,
            Unlock {
                hsm_pin_file: hsm_pin_file.as_deref(),
                device_signature: device_signature.as_deref(),
            },
        ),
        Command::DeviceRequest {
            bundle,
            out,
            density,
        } => device_cmd::request(&cli.home, json, &bundle, &out, &density),
        Command::Reject {
            bundle,
            reason,
            out,
            armor,
        } => decide(
            &cli.home,
            json,
            pass_file,
            &bundle,
            Decision::Reject,
            &reason,
            true,
            &out,
            armor,
            Unlock::default(),
        ),
        Command::Halt(HaltCommand::Import { file }) => {
            let h = home(&cli.home)?;
            let env = read_signed_envelope(&file)?;
            let held = h
                .import_halt(&env)
                .map_err(CliError::context(file.display()))?;
            if json {
                print_json(&serde_json::to_value(&held).expect("serializes"));
            } else {
                println!(
                    "HALT {} {}: witness {} halted {} ({}: {}). No approval for {} until this signer approves its RESUME.",
                    &held.id[..12],
                    if held.new { "kept" } else { "was already held" },
                    held.witness,
                    held.vaults.join(", "),
                    held.reason,
                    held.detail,
                    if held.vaults.len() == 1 { "it" } else { "them" }
                );
            }
            Ok(())
        }
        Command::Halt(HaltCommand::List) => {
            let h = home(&cli.home)?;
            let held = h.held_halt_status().map_err(signer_err)?;
            if json {
                print_json(&serde_json::to_value(&held).expect("serializes"));
            } else if held.is_empty() {
                println!("No halts held here.");
            } else {
                for s in held {
                    println!(
                        "{}  {} ({}): {}  in force for: {}",
                        &s.id[..12],
                        s.witness,
                        s.reason,
                        s.detail,
                        if s.in_force_for.is_empty() {
                            "nothing (resumed here)".to_owned()
                        } else {
                            s.in_force_for.join(", ")
                        }
                    );
                }
            }
            Ok(())
        }
        Command::Release { file } => {
            let h = home(&cli.home)?;
            let env = read_signed_envelope(&file)?;
            let bundle: airlock_core::ReleaseBundle =
                env.open().map_err(CliError::context(file.display()))?;
            only_coordinator_signed(&env, &bundle.vault, &file)?;
            let released = h.release(&bundle, now()?).map_err(signer_err)?;
            if json {
                print_json(&json!({
                    "proposal": released.proposal.to_hex(),
                    "detail": released.detail,
                    "already_released_at": released.already_at,
                }));
            } else if let Some(at) = released.already_at {
                println!(
                    "Proposal {} was already released at {}; nothing changed.",
                    released.proposal.short(),
                    airlock_core::format_time(at)
                );
            } else {
                println!(
                    "Released proposal {} (abandoned by the coordinator: {}). What it spends may be approved again; \
                     its signature stays valid on chain, so only one of them can ever confirm.",
                    released.proposal.short(),
                    released.detail
                );
            }
            Ok(())
        }
        Command::Reexport { proposal, out } => {
            let h = home(&cli.home)?;
            let id = airlock_core::ArtifactId::from_hex(&proposal)?;
            let env = h.decision_artifact(&id).map_err(signer_err)?;
            write_envelope(&out, &env, false)?;
            if !json {
                println!("Wrote decision {} to {}", env.id().short(), out.display());
            } else {
                print_json(&json!({ "decision": env.id().to_hex(), "out": out }));
            }
            Ok(())
        }
        Command::Journal(JournalCommand::Verify) => {
            let h = home(&cli.home)?;
            let journal = h.journal().map_err(signer_err)?;
            let head = journal.entries().last().map(|e| (e.seq, e.hash.clone()));
            if json {
                print_json(
                    &json!({ "valid": true, "entries": journal.entries().len(), "head": head.as_ref().map(|(s, h)| json!({ "seq": s, "hash": h })) }),
                );
            } else {
                match head {
                    Some((seq, hash)) => println!("Journal verified: {seq} entries, head {hash}"),
                    None => println!("Journal verified: empty"),
                }
            }
            Ok(())
        }
        Command::Journal(JournalCommand::Show) => {
            let h = home(&cli.home)?;
            let journal = h.journal().map_err(signer_err)?;
            if json {
                println!("{}", serde_json::to_string_pretty(journal.entries())?);
            } else {
                for e in journal.entries() {
                    println!(
                        "{:>4}  {}  {:<7} proposal {}  vault {} v{}  amount {}{}",
                        e.seq,
                        airlock_core::format_time(e.at),
                        e.decision,
                        &e.proposal[..12],
                        e.vault,
                        e.version,
                        e.amount,
                        if e.reason.is_empty() {
                            String::new()
                        } else {
                            format!("  reason: {}", e.reason)
                        }
                    );
                }
            }
            Ok(())
        }
        Command::Inspect { file } => {
            let env = read_envelope(&file)?;
            let known = SignerHome::open(&cli.home)
                .map(|h| known_keys(&h))
                .unwrap_or_default();
            if json {
                print_json(&envelope_json(&env, &known));
            } else {
                print!("{}", inspect_text(&env, &known));
            }
            Ok(())
        }
        Command::Transfer(t) => transfer_cmd::run(&cli.home, json, pass_file, t),
        Command::Qr(q) => qr_cmd::run(json, q),
        Command::Backup(b) => backup_cmd::run(&cli.home, json, pass_file, b),
        Command::Key(k) => key_cmd::run(&cli.home, json, pass_file, k),
        Command::Frost(f) => frost_cmd::run(&cli.home, json, pass_file, f),
        Command::Psbt(p) => psbt_cmd::run(&cli.home, json, pass_file, p),
        Command::Keystore(k) => keystore_cmd::run(&cli.home, json, pass_file, k),
        Command::Xmr(x) => xmr_cmd::run(&cli.home, json, pass_file, x),
        Command::Hsm(c) => hsm_cmd::run(json, c),
        Command::Status => {
            let h = home(&cli.home)?;
            let journal = h.journal().map_err(signer_err)?;
            let mut vaults = Vec::new();
            let mut logs = Vec::new();
            for id in h.vault_ids().map_err(signer_err)? {
                if let Some((def, env)) = h.vault_latest(&id).map_err(signer_err)? {
                    let note = h
                        .log_state()
                        .accepted_note(&def.coordinator.origin)
                        .map_err(signer_err)?;
                    logs.push(json!({ "origin": def.coordinator.origin, "checkpoint": note }));
                    vaults.push(json!({ "vault": def.vault_id, "version": def.version, "chain": def.chain, "id": env.id().to_hex() }));
                }
            }
            let report = json!({
                "name": h.config.name,
                "identity": h.config.identity,
                "vaults": vaults,
                "logs": logs,
                "journal_entries": journal.entries().len(),
                "hardening": hardening.to_string(),
            });
            if json {
                print_json(&report);
            } else {
                println!("signer   {} {}", h.config.name, h.config.identity);
                println!("process  {hardening}");
                for v in report["vaults"].as_array().into_iter().flatten() {
                    println!(
                        "vault    {} v{} ({})",
                        v["vault"].as_str().unwrap_or(""),
                        v["version"],
                        v["chain"].as_str().unwrap_or("")
                    );
                }
                for l in report["logs"].as_array().into_iter().flatten() {
                    let first = l["checkpoint"]
                        .as_str()
                        .map(|n| n.lines().take(2).collect::<Vec<_>>().join(" size "))
                        .unwrap_or_else(|| "none yet".into());
                    println!(
                        "log      {} — last accepted: {first}",
                        l["origin"].as_str().unwrap_or("")
                    );
                }
                println!("journal  {} decision(s)", journal.entries().len());
            }
            Ok(())
        }
    }
}

/// Reviews a bundle, shows the review, and records the decision (approval asks for confirmation).
#[allow(clippy::too_many_arguments)]
fn decide(
    dir: &Path,
    json: bool,
    pass_file: Option<&Path>,
    bundle: &Path,
    decision: Decision,
    reason: &str,
    confirmed: bool,
    out: &Path,
    armor: bool,
    unlock: Unlock<'_>,
) -> CliResult {
    let hsm_pin_file = unlock.hsm_pin_file;
    let env = read_signed_envelope(bundle)?;
    if env.kind() == Some(airlock_core::ArtifactKind::ProposalBatch) {
        if unlock.device_signature.is_some() {
            return Err(CliError::new(
                "a QR device signs one proposal at a time: approve the batch's proposals one by one with --device-signature",
            ));
        }
        let batch = batch_cmd::open_batch(&env, bundle)?;
        return batch_cmd::decide(
            dir,
            json,
            pass_file,
            &batch,
            decision,
            reason,
            confirmed,
            out,
            armor,
            hsm_pin_file,
        );
    }
    let h = home(dir)?;
    let now = now()?;
    let bundle = read_bundle(bundle)?;
    // Run again after a crash (or a lost file): the decision already in the journal is written
    // again, byte for byte; a contradicting one is refused.
    let proposal_id = airlock_core::Envelope::from_bytes(&bundle.proposal)?.id();
    if let Some(entry) = h
        .journal()
        .map_err(signer_err)?
        .decision_on(&proposal_id.to_hex())
        .cloned()
    {
        if entry.decision != decision.as_str() {
            return Err(CliError::new(format!(
                "this signer already decided '{}' on proposal {} at {}; it cannot also {} it",
                entry.decision,
                proposal_id.short(),
                airlock_core::format_time(entry.at),
                decision.as_str()
            )));
        }
        let env = h.decision_artifact(&proposal_id).map_err(signer_err)?;
        write_envelope(out, &env, armor)?;
        if json {
            print_json(
                &json!({ "decision": entry.decision, "proposal": proposal_id.to_hex(), "artifact": env.id().to_hex(), "out": out, "already_recorded_at": entry.at }),
            );
        } else {
            println!(
                "This signer already decided '{}' on this proposal at {}; the recorded decision {} was written again to {}",
                entry.decision,
                airlock_core::format_time(entry.at),
                env.id().short(),
                out.display()
            );
        }
        return Ok(());
    }
    let review = h.review(&bundle, now).map_err(signer_err)?;
    if !json {
        print!("{}", review.text);
    }
    if decision == Decision::Approve {
        if !review.can_approve() {
            return Err(CliError::new(format!(
                "approval refused: {}",
                review.problems.join("; ")
            )));
        }
        confirm("approve", confirmed)?;
    }
    let (key, chain_signer) = match unlock.device_signature {
        Some(answer) if decision == Decision::Approve => {
            // Checked before the passphrase is asked for: a wrong answer costs nothing.
            let responses = device_cmd::read_signatures(answer)?;
            let signer = h.device_signer(&review, &responses).map_err(signer_err)?;
            let pass = passphrase(pass_file, false)?;
            (h.unlock(&pass).map_err(signer_err)?, Some(signer))
        }
        _ => unlock_to_decide(&h, pass_file, decision, &review.vault, hsm_pin_file)?,
    };
    let env = h
        .decide(&review, decision, reason, &key, chain_signer.as_ref(), now)
        .map_err(signer_err)?;
    write_envelope(out, &env, armor)?;
    let word = decision.as_str();
    if json {
        print_json(
            &json!({ "decision": word, "proposal": review.proposal_id.to_hex(), "artifact": env.id().to_hex(), "out": out, "review": review.to_json() }),
        );
    } else {
        println!(
            "Decision '{word}' recorded. {} written to {}",
            env.id().short(),
            out.display()
        );
    }
    Ok(())
}

/// What unlocks an approval's chain key besides the passphrase: a token's PIN, or a QR device's
/// signatures.
#[derive(Clone, Copy, Default)]
pub(crate) struct Unlock<'a> {
    pub hsm_pin_file: Option<&'a Path>,
    pub device_signature: Option<&'a Path>,
}

/// One unlock for a decision: the identity key, and for an approval the chain key the vault
/// lists for this signer (from the keystore, or the token with its PIN).
pub(crate) fn unlock_to_decide(
    h: &SignerHome,
    pass_file: Option<&Path>,
    decision: Decision,
    vault: &airlock_core::VaultDefinition,
    hsm_pin_file: Option<&Path>,
) -> CliResult<(
    airlock_custody::IdentityKey,
    Option<airlock_signer_app::chain_keys::ChainSigner>,
)> {
    let pass = passphrase(pass_file, false)?;
    let key = h.unlock(&pass).map_err(signer_err)?;
    let chain_signer = match decision {
        Decision::Approve => {
            let pin = hsm_pin_file
                .map(airlock_custody::hsm::Pin::from_file)
                .transpose()?;
            h.chain_signer(vault, &pass, pin.as_ref())
                .map_err(signer_err)?
        }
        Decision::Reject => None,
    };
    Ok((key, chain_signer))
}

fn vault(dir: &Path, json: bool, pass_file: Option<&Path>, cmd: VaultCommand) -> CliResult {
    let h = home(dir)?;
    match cmd {
        VaultCommand::Sign { file, out, yes } => {
            let env = read_signed_envelope(&file)?;
            let review = h.review_vault_draft(&env).map_err(signer_err)?;
            if !json {
                print!("{}", review.text);
            }
            confirm("sign", yes)?;
            let pass = passphrase(pass_file, false)?;
            let key = h.unlock(&pass).map_err(signer_err)?;
            // The chain key the draft lists for this signer must derive from the key it holds.
            h.verify_own_chain_key(&review.definition, &pass)
                .map_err(signer_err)?;
            drop(pass);
            let mut signed = env.clone();
            signed.sign(key.signing_key());
            write_envelope(&out, &signed, false)?;
            if json {
                print_json(
                    &json!({ "vault": review.definition.vault_id, "version": review.definition.version, "id": env.id().to_hex(), "out": out }),
                );
            } else {
                println!(
                    "Signed vault {} v{} ({}) -> {}",
                    review.definition.vault_id,
                    review.definition.version,
                    env.id().short(),
                    out.display()
                );
            }
            Ok(())
        }
        VaultCommand::Register { file } => {
            let env = read_signed_envelope(&file)?;
            let def = h.register_vault(&env).map_err(signer_err)?;
            let me = h.public_key().map_err(signer_err)?;
            if json {
                print_json(
                    &json!({ "vault": def.vault_id, "version": def.version, "id": env.id().to_hex(), "member": def.signer(&me).is_some() }),
                );
            } else {
                println!(
                    "Registered vault {} v{} ({})",
                    def.vault_id,
                    def.version,
                    env.id().short()
                );
                println!(
                    "Compare this id with the other signers' devices before approving proposals."
                );
                if def.signer(&me).is_none() {
                    println!(
                        "Note: this signer is not a member of this version; it will refuse its proposals."
                    );
                }
            }
            Ok(())
        }
        VaultCommand::List => {
            let mut rows = Vec::new();
            for id in h.vault_ids().map_err(signer_err)? {
                if let Some((def, env)) = h.vault_latest(&id).map_err(signer_err)? {
                    rows.push(json!({ "vault": def.vault_id, "version": def.version, "chain": def.chain, "network": def.network, "id": env.id().to_hex() }));
                }
            }
            if json {
                print_json(&json!(rows));
            } else if rows.is_empty() {
                println!("No vaults registered.");
            } else {
                for r in rows {
                    println!(
                        "{:<16} v{:<3} {} ({}) {}",
                        r["vault"].as_str().unwrap_or(""),
                        r["version"],
                        r["chain"].as_str().unwrap_or(""),
                        r["network"].as_str().unwrap_or(""),
                        r["id"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        VaultCommand::Show { vault } => {
            let (def, env) = h
                .vault_latest(&vault)
                .map_err(signer_err)?
                .ok_or_else(|| CliError::new(format!("vault {vault:?} is not registered")))?;
            if json {
                print_json(&envelope_json(&env, &known_keys(&h)));
            } else {
                let versions = h.vault_versions(&vault).map_err(signer_err)?;
                let previous = versions.len().checked_sub(2).map(|i| versions[i].0.clone());
                print!(
                    "{}",
                    describe_vault(
                        &def,
                        previous.as_ref(),
                        &h.public_key().map_err(signer_err)?
                    )
                );
                println!("id {}", env.id());
            }
            Ok(())
        }
    }
}
