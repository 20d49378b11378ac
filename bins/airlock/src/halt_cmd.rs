//! `airlock halt …`: the witnesses' circuit breakers on this coordinator. `import` records a
//! HALT a witness signed (a verifying witness delivers its halts to `airlock serve` itself);
//! `list` shows every halt and where it stands; `resume` proposes the RESUME that the vault's
//! signers approve offline to lift one, written as a bundle like any proposal. Finalizing the
//! approved RESUME (`airlock finalize`) lifts the halt for that vault.
//! A thin layer over `airlock_coordinator::halts`.

use std::path::{Path, PathBuf};

use airlock_cli_support::{CliError, CliResult, print_json, read_signed_envelope, write_envelope};
use airlock_core::ArtifactKind;
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub enum HaltCommand {
    /// Record a HALT file a witness signed (`airlock-witness halt … --out FILE`). A halt not
    /// signed by a witness of the vault it names is refused and nothing is recorded.
    Import { file: PathBuf },
    /// Every recorded halt and where it stands.
    List {
        #[arg(long)]
        vault: Option<String>,
    },
    /// Propose to lift HALT (an id or unique prefix) for VAULT: a RESUME its signers review and
    /// approve with the vault's threshold; writes its bundle to --out.
    Resume {
        halt: String,
        #[arg(long)]
        vault: String,
        /// What the signers are told about why it is safe to resume.
        #[arg(long, default_value = "")]
        memo: String,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(home: &Path, json: bool, cmd: HaltCommand) -> CliResult {
    let now = crate::now()?;
    match cmd {
        HaltCommand::Import { file } => {
            let env = read_signed_envelope(&file)?;
            if env.kind() != Some(ArtifactKind::Halt) {
                return Err(CliError::new(format!(
                    "{} is not a halt (it is a {})",
                    file.display(),
                    env.kind().map(|k| k.name()).unwrap_or("unknown artifact")
                )));
            }
            let mut c = crate::open(home)?;
            let recorded = c.record_halt(&env, now)?;
            if json {
                print_json(&serde_json::to_value(&recorded).expect("serializes"));
            } else if recorded.new {
                println!(
                    "HALT {} recorded: witness {} halted {} ({}). Nothing is finalized for it until its signers approve a RESUME (`airlock halt resume`).",
                    &recorded.id[..12],
                    recorded.witness,
                    if recorded.vault.is_empty() {
                        "every vault".to_owned()
                    } else {
                        format!("vault {}", recorded.vault)
                    },
                    recorded.reason
                );
            } else {
                println!("HALT {} was already recorded", &recorded.id[..12]);
            }
            Ok(())
        }
        HaltCommand::List { vault } => {
            let c = crate::open(home)?;
            let halts = c.halts(vault.as_deref(), now)?;
            if json {
                print_json(&serde_json::to_value(&halts).expect("serializes"));
            } else if halts.is_empty() {
                println!("no halts");
            } else {
                for h in halts {
                    let state = if h.in_force_for.is_empty() {
                        "lifted".to_owned()
                    } else {
                        format!("IN FORCE for {}", h.in_force_for.join(", "))
                    };
                    println!(
                        "{}  {}  by {} at {}  {}: {}",
                        &h.id[..12],
                        state,
                        h.witness,
                        airlock_core::format_time(h.issued),
                        h.reason,
                        h.detail
                    );
                    for (id, status) in h.resumes {
                        println!("    RESUME {}  {status}", &id[..12]);
                    }
                }
            }
            Ok(())
        }
        HaltCommand::Resume {
            halt,
            vault,
            memo,
            out,
        } => {
            let mut c = crate::open(home)?;
            let halt = c.resolve(&halt)?;
            let id = c.propose_resume(&vault, &halt, &memo, now)?;
            let (env, witnessed) =
                airlock_service::witnesses::export_bundle(&mut c, home, &id, &[])?;
            write_envelope(&out, &env, false)?;
            if json {
                print_json(
                    &json!({ "proposal": id.to_hex(), "halt": halt.to_hex(), "bundle": out, "witnesses": witnessed }),
                );
            } else {
                crate::witness_cmd::report(&witnessed);
                println!(
                    "RESUME proposal {} for halt {} in vault {vault}: bundle written to {} (signers: `airlock-signer approve`; then `airlock submit` and `airlock finalize {}`)",
                    id.short(),
                    halt.short(),
                    out.display(),
                    id.short()
                );
            }
            Ok(())
        }
    }
}
