//! `airlock transfer`: carry artifacts across the gap as a signed transfer directory, import the
//! signers' transfers, list every crossing, and manage the export allowlist.

use std::path::{Path, PathBuf};

use airlock_cli_support::transfer::{
    StagedDir, allow_dir, export_target, load_policy, read_transfer, report_transfer_out,
    stage_transfer, transfer_file_name,
};
use airlock_cli_support::{CliError, CliResult, now, print_json, read_envelope};
use airlock_coordinator::CoordinatorHome;
use airlock_core::vault::parse_duration;
use airlock_core::{DeviceRole, format_time};
use clap::Subcommand;
use serde_json::json;

const ROLE: DeviceRole = DeviceRole::Coordinator;

#[derive(Subcommand)]
pub enum TransferCommand {
    /// Write artifacts (vault definitions, proposal bundles) with a signed manifest into a new
    /// directory under DIR (an allowed export directory, e.g. a mounted USB stick).
    Out {
        files: Vec<PathBuf>,
        #[arg(long)]
        to: PathBuf,
        /// Why the transfer is made (recorded on both sides).
        #[arg(long)]
        purpose: String,
        /// The destination role (a coordinator sends to signers).
        #[arg(long = "for", default_value = "signer")]
        for_role: String,
        /// How long the transfer stays valid.
        #[arg(long, default_value = "24h")]
        expires_in: String,
    },
    /// Verify a signer's transfer directory and import it (all or nothing).
    In { dir: PathBuf },
    /// List every transfer recorded in the log.
    Log,
    /// Allow `transfer out` to write under DIR.
    AllowDir { dir: PathBuf },
    /// Show the transfer policy: export directories, kinds sent and accepted.
    Policy,
}

pub fn run(home: &Path, json: bool, cmd: TransferCommand) -> CliResult {
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
                    "--for {for_role:?}: a coordinator sends transfers to signers only (--for signer)"
                )));
            }
            let expires_in = parse_duration(&expires_in)?;
            let h = CoordinatorHome::open(home)?;
            let policy = load_policy(home, ROLE)?;
            let target = export_target(home, &policy, &to, "airlock")?;
            let mut c = h.coordinator()?;
            let envs = files
                .iter()
                .map(|f| Ok((transfer_file_name(f)?, read_envelope(f)?)))
                .collect::<CliResult<Vec<_>>>()?;
            let now = now()?;
            let t = c.prepare_transfer(envs, &purpose, expires_in, &policy, now)?;
            let staged = stage_transfer(&target, &t.dir_name, &t.files, &t.envelope)?;
            c.record_transfer_out(&t, now)?;
            let dir = staged.commit()?;
            report_transfer_out(
                json,
                &dir,
                &t.manifest,
                &t.envelope,
                "the log",
                "airlock-signer transfer in",
            );
            Ok(())
        }
        TransferCommand::In { dir } => {
            let h = CoordinatorHome::open(home)?;
            let policy = load_policy(home, ROLE)?;
            let (manifest, files) = read_transfer(&dir)?;
            let mut c = h.coordinator()?;
            let refused = |e: airlock_coordinator::CoordinatorError| {
                let alarm = matches!(e, airlock_coordinator::CoordinatorError::SplitView(_));
                let message = format!("transfer refused, nothing imported: {e}");
                if alarm {
                    CliError::alarm(message)
                } else {
                    CliError::new(message)
                }
            };
            let checked = c
                .check_transfer(&manifest, &files, &policy, now()?)
                .map_err(refused)?;
            // Signed vault drafts go to the inbox, staged before the transfer is recorded and
            // put in place after.
            let drafts = &checked.transfer.drafts;
            let staged = if drafts.is_empty() {
                None
            } else {
                let inbox = home.join("inbox");
                std::fs::create_dir_all(&inbox)?;
                let m = &checked.transfer.manifest;
                let name = airlock_core::transfer::bundle_dir_name(&m.origin_name, m.sequence);
                let staged = StagedDir::new(&inbox, &name)?;
                for (file, env) in drafts {
                    staged.write(file, &env.to_bytes())?;
                }
                Some(staged)
            };
            let imported = c.commit_transfer(checked).map_err(refused)?;
            let mut draft_paths = Vec::new();
            if let Some(staged) = staged {
                let copied = staged.commit()?;
                for (file, _) in &imported.drafts {
                    draft_paths.push(copied.join(file));
                }
            }
            let m = &imported.manifest;
            if json {
                print_json(&json!({
                    "direction": "in", "manifest": imported.manifest_id.to_hex(),
                    "origin": m.origin_name, "origin_key": m.origin_key.to_hex(), "sequence": m.sequence,
                    "purpose": m.purpose,
                    "decisions": imported.decisions.iter().map(|(id, s)| json!({ "id": id.to_hex(), "status": s.as_str() })).collect::<Vec<_>>(),
                    "vault_drafts": draft_paths,
                }));
            } else {
                println!(
                    "Accepted transfer {} from {} (sequence {}): {}",
                    imported.manifest_id.short(),
                    m.origin_name,
                    m.sequence,
                    m.purpose
                );
                for (id, status) in &imported.decisions {
                    println!("  decision {} recorded: proposal now {status}", id.short());
                }
                for p in &draft_paths {
                    println!("  signed vault draft: {}", p.display());
                }
                if !draft_paths.is_empty() {
                    println!(
                        "Activate the draft once enough signers signed it: `airlock vault submit {}`",
                        draft_paths
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                }
            }
            Ok(())
        }
        TransferCommand::Log => {
            let c = CoordinatorHome::open(home)?.coordinator()?;
            let records = c.transfers()?;
            if json {
                print_json(&airlock_service::transfers_json(&records));
            } else if records.is_empty() {
                println!("No transfers yet.");
            } else {
                for t in &records {
                    println!(
                        "{:>6}  {}  {:<3} {} seq {} from {} ({}) to {}: {} — {}",
                        t.log_index,
                        format_time(t.at),
                        t.direction.as_str(),
                        t.manifest_id.short(),
                        t.manifest.sequence,
                        t.manifest.origin_name,
                        t.manifest.origin_role,
                        t.manifest.destination_role,
                        t.manifest
                            .entries
                            .iter()
                            .map(|e| format!("{} {}", e.kind.name(), e.artifact.short()))
                            .collect::<Vec<_>>()
                            .join(", "),
                        t.manifest.purpose
                    );
                }
            }
            Ok(())
        }
        TransferCommand::AllowDir { dir } => {
            CoordinatorHome::open(home)?;
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
            CoordinatorHome::open(home)?;
            let policy = load_policy(home, ROLE)?;
            if json {
                print_json(&serde_json::to_value(&policy)?);
            } else {
                print_policy(&policy);
            }
            Ok(())
        }
    }
}

fn print_policy(policy: &airlock_core::TransferPolicy) {
    println!(
        "export directories: {}",
        if policy.export_dirs.is_empty() {
            "none (add one with `transfer allow-dir DIR`)".into()
        } else {
            policy.export_dirs.join(", ")
        }
    );
    println!("sends:   {}", policy.send.join(", "));
    println!("accepts: {}", policy.accept.join(", "));
}
