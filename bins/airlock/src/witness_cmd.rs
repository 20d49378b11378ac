//! `airlock witness …`: the independent witnesses this coordinator asks to cosign its
//! checkpoints (C2SP tlog-witness). Registered witnesses are asked on every bundle export
//! (`airlock export`, `propose --out`, the service's bundle endpoint); `cosign` asks them now.
//! A thin layer over `airlock_service::witnesses`.

use std::path::Path;

use airlock_cli_support::{CliError, CliResult, print_json};
use airlock_service::witnesses::{self, Outcome};
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub enum WitnessCommand {
    /// Register a witness: its key (as `airlock-witness id` prints it) and its URL (requests go to
    /// URL/add-checkpoint). On the witness, trust this log with `airlock-witness log add LOG_KEY`.
    Add {
        vkey: String,
        #[arg(long)]
        url: String,
    },
    /// The registered witnesses.
    List,
    /// Ask every witness to cosign the log's latest checkpoint now; prints the cosigned checkpoint.
    Cosign,
}

/// Prints what each witness answered (on stderr, or in the JSON of the command).
pub fn report(outcomes: &[Outcome]) {
    for o in outcomes {
        match (&o.cosigned_at, &o.error) {
            (Some(_), _) => eprintln!("witness {} cosigned", o.witness),
            (None, Some(e)) => eprintln!("warning: witness {}: {e}", o.witness),
            (None, None) => {}
        }
    }
}

pub fn run(home: &Path, json: bool, cmd: WitnessCommand) -> CliResult {
    match cmd {
        WitnessCommand::Add { vkey, url } => {
            // The home must be a coordinator's (and the log key is shown for the witness side).
            let c = crate::open(home)?;
            let w = witnesses::add(home, &vkey, &url)?;
            if json {
                print_json(
                    &json!({ "vkey": w.vkey, "url": w.url, "log_key": c.log_verifier().vkey() }),
                );
            } else {
                println!("witness {} at {}", w.vkey, w.url);
                println!(
                    "on the witness: airlock-witness log add \"{}\"",
                    c.log_verifier().vkey()
                );
            }
            Ok(())
        }
        WitnessCommand::List => {
            let c = crate::open(home)?;
            let all = witnesses::overview(&c, home)?;
            if json {
                print_json(&serde_json::to_value(&all).expect("witnesses serialize"));
            } else if all.is_empty() {
                println!("no witnesses: `airlock witness add KEY --url URL`");
            } else {
                for w in all {
                    println!("{}  {}", w.vkey, w.url);
                    let cosigned = match (w.status.cosigned_size, w.status.cosigned_at) {
                        (Some(size), Some(at)) => {
                            format!("cosigned size {size} at {}", airlock_core::format_time(at))
                        }
                        _ => "has cosigned nothing yet".into(),
                    };
                    let last = match (&w.status.error, w.status.split_view) {
                        (Some(e), true) => format!("; SPLIT VIEW at the last ask: {e}"),
                        (Some(e), false) => format!("; the last ask failed: {e}"),
                        (None, _) => String::new(),
                    };
                    println!("  {cosigned}{last}");
                    println!(
                        "  in the witness set of: {}",
                        if w.vaults.is_empty() {
                            "no vault".to_owned()
                        } else {
                            w.vaults.join(", ")
                        }
                    );
                    for (id, reason, in_force_for) in &w.halts {
                        println!(
                            "  halt {} ({reason}): {}",
                            &id[..12],
                            if in_force_for.is_empty() {
                                "lifted".to_owned()
                            } else {
                                format!("in force for {}", in_force_for.join(", "))
                            }
                        );
                    }
                }
            }
            Ok(())
        }
        WitnessCommand::Cosign => {
            let all = witnesses::load(home)?;
            if all.is_empty() {
                return Err(CliError::new(
                    "no witnesses registered: `airlock witness add KEY --url URL`",
                ));
            }
            let c = crate::open(home)?;
            let (size, note) = c.latest_checkpoint()?;
            let (cosigned, outcomes) = witnesses::cosign(&c, home, &all, size, &note)?;
            if let Some(split) = outcomes.iter().find(|o| o.split_view) {
                return Err(CliError::alarm(split.error.clone().unwrap_or_default()));
            }
            if json {
                print_json(&json!({ "size": size, "checkpoint": cosigned, "witnesses": outcomes }));
            } else {
                report(&outcomes);
                print!("{cosigned}");
            }
            Ok(())
        }
    }
}
