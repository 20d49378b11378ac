//! `airlock-signer transfer`: send this signer's decisions and signed vault drafts across the gap
//! as a signed transfer directory, accept the coordinator's transfers into the inbox, list every
//! crossing (the transfer journal), and manage the export allowlist.

use std::path::{Path, PathBuf};

use airlock_cli_support::transfer::{
    allow_dir, export_target, load_policy, read_transfer, report_transfer_out, stage_transfer,
    transfer_file_name,
};
use airlock_cli_support::{CliError, CliResult, now, passphrase, print_json, read_envelope};
use airlock_core::vault::parse_duration;
use airlock_core::{ArtifactKind, DeviceRole, format_time};
use airlock_signer_app::{SignerError, SignerHome};
use clap::Subcommand;
use serde_json::json;

const ROLE: DeviceRole = DeviceRole::Signer;

#[derive(Subcommand)]
pub enum TransferCommand {
    /// Write this signer's approvals/rejections or signed vault drafts with a signed manifest
    /// into a new directory under DIR (an allowed export directory, e.g. a mounted USB stick).
    Out {
        files: Vec<PathBuf>,
        #[arg(long)]
        to: PathBuf,
        /// Why the transfer is made (recorded on both sides).
        #[arg(long)]
        purpose: String,
        /// The destination role (a signer sends to the coordinator).
        #[arg(long = "for", default_value = "coordinator")]
        for_role: String,
        /// How long the transfer stays valid.
        #[arg(long, default_value = "24h")]
        expires_in: String,
    },
    /// Verify the coordinator's transfer directory and copy it to the inbox (all or nothing).
    In { dir: PathBuf },
    /// List every crossing in the transfer journal (verifying its hash chain).
    Log,
    /// Allow `transfer out` to write under DIR.
    AllowDir { dir: PathBuf },
    /// Show the transfer policy: export directories, kinds sent and accepted.
    Policy,
}

fn signer_err(e: SignerError) -> CliError {
    match e {
        SignerError::SplitView(_) | SignerError::Journal(_) => CliError::alarm(e.to_string()),
        other => CliError::new(other.to_string()),
    }
}

fn open(home: &Path) -> CliResult<SignerHome> {
    SignerHome::open(home).map_err(signer_err)
}

pub fn run(home: &Path, json: bool, pass_file: Option<&Path>, cmd: TransferCommand) -> CliResult {
    match cmd {
        TransferCommand::Out {
            files,
            to,
            purpose,
            for_role,
            expires_in,
        } => {
            if DeviceRole::parse(&for_role) != Some(ROLE.other()) {
                return Err(CliError::new(format!(
                    "--for {for_role:?}: a signer sends transfers to the coordinator only (--for coordinator)"
                )));
            }
            let expires_in = parse_duration(&expires_in)?;
            let h = open(home)?;
            let policy = load_policy(home, ROLE)?;
            let target = export_target(home, &policy, &to, "airlock-signer")?;
            let envs = files
                .iter()
                .map(|f| Ok((transfer_file_name(f)?, read_envelope(f)?)))
                .collect::<CliResult<Vec<_>>>()?;
            let key = h
                .unlock(&passphrase(pass_file, false)?)
                .map_err(signer_err)?;
            let now = now()?;
            let t = h
                .prepare_transfer(envs, &purpose, expires_in, &policy, &key, now)
                .map_err(signer_err)?;
            let staged = stage_transfer(&target, &t.dir_name, &t.files, &t.envelope)?;
            h.record_transfer_out(&t, &staged.target().display().to_string(), now)
                .map_err(signer_err)?;
            let dir = staged.commit()?;
            report_transfer_out(
                json,
                &dir,
                &t.manifest,
                &t.envelope,
                "the transfer journal",
                "airlock transfer in",
            );
            Ok(())
        }
        TransferCommand::In { dir } => {
            let h = open(home)?;
            let policy = load_policy(home, ROLE)?;
            let (manifest, files) = read_transfer(&dir)?;
            let imported = h
                .import_transfer(&manifest, &files, &policy, now()?)
                .map_err(|e| match e {
                    SignerError::Journal(_) => signer_err(e),
                    other => CliError::new(format!("transfer refused, nothing imported: {other}")),
                })?;
            let m = &imported.manifest;
            let paths: Vec<(PathBuf, ArtifactKind)> = imported
                .files
                .iter()
                .map(|(f, k)| (imported.inbox.join(f), *k))
                .collect();
            if json {
                print_json(&json!({
                    "direction": "in", "manifest": imported.manifest_id.to_hex(),
                    "origin": m.origin_name, "origin_key": m.origin_key.to_hex(), "sequence": m.sequence,
                    "purpose": m.purpose, "inbox": imported.inbox, "first_contact": imported.first_contact,
                    "artifacts": paths.iter().map(|(p, k)| json!({ "path": p, "kind": k.name() })).collect::<Vec<_>>(),
                }));
            } else {
                println!(
                    "Accepted transfer {} from {} (sequence {}): {}",
                    imported.manifest_id.short(),
                    m.origin_name,
                    m.sequence,
                    m.purpose
                );
                if imported.first_contact {
                    println!(
                        "First contact: coordinator key {} is known only from the vault definition it carries; compare it with the coordinator's `airlock id` before signing.",
                        m.origin_key
                    );
                }
                println!("Copied to {}. Next:", imported.inbox.display());
                for (p, k) in &paths {
                    match k {
                        ArtifactKind::ProposalBundle => println!(
                            "  proposal bundle: `airlock-signer review {0}`, then `approve {0} --out FILE` or `reject {0} --reason … --out FILE`",
                            p.display()
                        ),
                        ArtifactKind::ProposalBatch => println!(
                            "  proposal batch: `airlock-signer review {0}`, then `approve {0} --out FILE` (every proposal in one session)",
                            p.display()
                        ),
                        ArtifactKind::VaultDefinition => println!(
                            "  vault definition: a draft → `airlock-signer vault sign {0} --out FILE`; an approved version → `airlock-signer vault register {0}`",
                            p.display()
                        ),
                        other => println!("  {}: {}", other.name(), p.display()),
                    }
                }
            }
            Ok(())
        }
        TransferCommand::Log => {
            let h = open(home)?;
            let journal = h.transfer_journal().map_err(signer_err)?;
            if json {
                print_json(&serde_json::to_value(journal.entries())?);
            } else if journal.entries().is_empty() {
                println!("No transfers yet.");
            } else {
                for e in journal.entries() {
                    println!(
                        "{:>4}  {}  {:<3} {} seq {} from {} ({}) to {}: {} — {}",
                        e.seq,
                        format_time(e.at),
                        e.direction,
                        &e.manifest[..12],
                        e.sequence,
                        e.origin_name,
                        e.origin_role,
                        e.destination_role,
                        e.kinds
                            .iter()
                            .zip(&e.artifacts)
                            .map(|(k, a)| format!("{k} {}", &a[..12]))
                            .collect::<Vec<_>>()
                            .join(", "),
                        e.purpose
                    );
                }
            }
            Ok(())
        }
        TransferCommand::AllowDir { dir } => {
            open(home)?;
            let (canonical, new) = allow_dir(home, ROLE, &dir)?;
            if json {
                print_json(&json!({ "export_dir": canonical, "added": new }));
            } else if new {
                println!("Transfers may now be written under {}", canonical.display());
            } else {
                println!("{} was already allowed", canonical.display());
            }
            Ok(())
        }
        TransferCommand::Policy => {
            open(home)?;
            let policy = load_policy(home, ROLE)?;
            if json {
                print_json(&serde_json::to_value(&policy)?);
            } else {
                println!(
                    "export directories: {}",
                    if policy.export_dirs.is_empty() {
                        "none (add one with `airlock-signer transfer allow-dir DIR`)".into()
                    } else {
                        policy.export_dirs.join(", ")
                    }
                );
                println!("sends:   {}", policy.send.join(", "));
                println!("accepts: {}", policy.accept.join(", "));
            }
            Ok(())
        }
    }
}
