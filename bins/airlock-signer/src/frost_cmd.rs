//! `airlock-signer frost`: this signer's part in a FROST group's key generation, refresh and
//! repair across the air gap, and the nonce commitments it hands over in advance. A thin layer over
//! `airlock_signer_app::frost_groups`.
//!
//! This command must never print or write a secret: the round states and the key share stay
//! sealed in the signer home; what it writes out is signed messages (round-2 packages are
//! encrypted to their recipients).

use std::path::{Path, PathBuf};

use airlock_cli_support::{CliError, CliResult, passphrase, print_json};
use airlock_frost::Roster;
use airlock_frost::dkg::Ceremony;
use airlock_signer_app::SignerHome;
use airlock_signer_app::frost_groups::{
    Answer, GroupSummary, MAX_CEREMONY_INPUT, check_group_name, describe_stage, group_facts,
};
use clap::Subcommand;
use serde_json::json;

use crate::{home, signer_err};

#[derive(Subcommand)]
pub enum FrostCommand {
    /// Key generation without a dealer, in three crossings.
    #[command(subcommand)]
    Keygen(StepCommand),
    /// Proactive refresh of a finished group, in three crossings: new shares for the same group
    /// key (old shares no longer sign with new ones); members left out of the roster leave.
    #[command(subcommand)]
    Refresh(StepCommand),
    /// Repair of a lost member's share by the threshold of helpers, in two crossings; the new
    /// device gets a share for the lost member's number, the group key and addresses stay.
    #[command(subcommand)]
    Repair(RepairCommand),
    /// Show this signer's FROST groups, or one of them: the group key, descriptor and first
    /// address to compare across every member's device.
    Show {
        #[arg(long)]
        group: Option<String>,
        /// The Bitcoin network the descriptor and address are shown for.
        #[arg(long, default_value = "bitcoin")]
        network: String,
    },
    /// Make nonces for a finished group and write their signed commitments, to hand to the
    /// coordinator before proposals are signed (each signature share spends one).
    Commitments {
        #[arg(long)]
        group: String,
        #[arg(long, default_value_t = 100)]
        count: u32,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum StepCommand {
    /// Round 1: check the roster the coordinator made and write this member's signed commitment.
    Start {
        /// A name for the group in this signer home (a-z, 0-9, '-', '_', '.').
        #[arg(long)]
        group: String,
        /// The roster file (`airlock frost roster`).
        #[arg(long)]
        roster: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Round 2: read every member's round-1 messages (the coordinator's relay) and write one
    /// package per other member, each encrypted to it.
    Continue {
        #[arg(long)]
        group: String,
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// The end: read the packages addressed to this member and seal its key share; shows the
    /// group key, descriptor and first address.
    Finish {
        #[arg(long)]
        group: String,
        #[arg(long = "in")]
        input: PathBuf,
        /// The Bitcoin network the descriptor and address are shown for.
        #[arg(long, default_value = "bitcoin")]
        network: String,
    },
}

#[derive(Subcommand)]
pub enum RepairCommand {
    /// On each helper: check the repair's roster (the group's, with the lost member's new
    /// device in its place) and write one encrypted delta per helper.
    Start {
        #[arg(long)]
        group: String,
        #[arg(long)]
        roster: PathBuf,
        /// The lost member's number.
        #[arg(long)]
        lost: u16,
        /// The helpers' numbers (at least the threshold), e.g. 1,3.
        #[arg(long, value_delimiter = ',', required = true)]
        helpers: Vec<u16>,
        #[arg(long)]
        out: PathBuf,
    },
    /// On each helper: read the helpers' deltas (relayed) and write the sigma for the new device.
    Forward {
        #[arg(long)]
        group: String,
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// On the new device, after `receive`: write its proof that it holds the lost member's
    /// share, for the members who did not help.
    Prove {
        #[arg(long)]
        group: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// On a member who did not help: check the new device's proof and list it in the lost
    /// member's place (needed before this member refreshes with it).
    Adopt {
        #[arg(long)]
        group: String,
        #[arg(long)]
        roster: PathBuf,
        #[arg(long)]
        lost: u16,
        /// The new device's proof (`frost repair prove`).
        #[arg(long = "in")]
        input: PathBuf,
    },
    /// On the new device: read the helpers' sigmas (relayed) and seal the repaired share.
    Receive {
        /// A name for the group in this (new) signer home.
        #[arg(long)]
        group: String,
        #[arg(long)]
        roster: PathBuf,
        #[arg(long)]
        lost: u16,
        #[arg(long, value_delimiter = ',', required = true)]
        helpers: Vec<u16>,
        #[arg(long = "in")]
        input: PathBuf,
        /// The Bitcoin network the descriptor and address are shown for.
        #[arg(long, default_value = "bitcoin")]
        network: String,
    },
}

impl FrostCommand {
    /// The name of the command when it changes the home (it then runs under the home lock).
    pub fn changes_home(&self) -> Option<&'static str> {
        match self {
            FrostCommand::Keygen(_) => Some("airlock-signer frost keygen"),
            FrostCommand::Refresh(_) => Some("airlock-signer frost refresh"),
            FrostCommand::Repair(_) => Some("airlock-signer frost repair"),
            FrostCommand::Commitments { .. } => Some("airlock-signer frost commitments"),
            FrostCommand::Show { .. } => None,
        }
    }
}

fn read_input(path: &Path) -> CliResult<Vec<u8>> {
    Ok(airlock_transport::read_bounded(path, MAX_CEREMONY_INPUT)?)
}

/// Said of an answer given again (a step run after a crash or a lost file).
fn repeated(answer: &Answer) -> &'static str {
    if answer.repeated {
        "(the same as before) "
    } else {
        ""
    }
}

fn write_answer(path: &Path, bytes: &[u8]) -> CliResult {
    airlock_transport::write_atomic(path, bytes)?;
    Ok(())
}

fn summary_json(g: &GroupSummary, network: &str) -> CliResult<serde_json::Value> {
    let facts = match &g.group_key {
        Some(key) => Some(group_facts(key, network).map_err(signer_err)?),
        None => None,
    };
    let mut v = g.roster.to_value();
    let extra = json!({
        "group": g.group,
        "me": g.me,
        "stage": describe_stage(&g.stage),
        "group_key": g.group_key,
        "network": facts.as_ref().map(|_| network),
        "descriptor": facts.as_ref().map(|f| f.descriptor.clone()),
        "wallet_fingerprint": facts.as_ref().map(|f| f.wallet_fingerprint.clone()),
        "first_address": facts.as_ref().map(|f| f.first_address.clone()),
        "member_keys": g.members,
    });
    for (k, value) in extra.as_object().expect("an object") {
        v[k] = value.clone();
    }
    Ok(v)
}

fn print_summary(g: &GroupSummary, network: &str) -> CliResult {
    let v = summary_json(g, network)?;
    println!(
        "group {} ({}): {}",
        g.group,
        g.roster.label,
        describe_stage(&g.stage)
    );
    println!(
        "  {}-of-{}; this signer is member {} ({})",
        g.roster.threshold,
        g.roster.size(),
        g.me,
        g.roster.name(g.me)
    );
    println!("  session {}", hex::encode(g.roster.session()));
    if let Some(key) = &g.group_key {
        println!("  group key        {key}");
        println!(
            "  descriptor       {}",
            v["descriptor"].as_str().unwrap_or("")
        );
        println!(
            "  wallet           {}",
            v["wallet_fingerprint"].as_str().unwrap_or("")
        );
        println!(
            "  first address    {} ({network})",
            v["first_address"].as_str().unwrap_or("")
        );
        println!("  members' verifying shares (what a vault definition lists):");
        for entry in &g.members {
            println!("    {entry}");
        }
        println!(
            "Compare the group key and first address with every other member's device before \
             any coin is sent to the group."
        );
    }
    Ok(())
}

pub fn run(home_dir: &Path, json: bool, pass_file: Option<&Path>, cmd: FrostCommand) -> CliResult {
    let h = home(home_dir)?;
    match cmd {
        FrostCommand::Keygen(step) => {
            ceremony_step(&h, json, pass_file, Ceremony::KeyGeneration, step)
        }
        FrostCommand::Refresh(step) => ceremony_step(&h, json, pass_file, Ceremony::Refresh, step),
        FrostCommand::Repair(step) => repair_step(&h, json, pass_file, step),
        FrostCommand::Show { group, network } => {
            let listing_all = group.is_none();
            let names = match group {
                Some(g) => vec![g],
                None => h.frost_groups().map_err(signer_err)?,
            };
            let mut out = Vec::new();
            for name in names {
                let Some(g) = h.frost_group(&name).map_err(signer_err)? else {
                    if listing_all {
                        // A directory a crash left before its first step was kept.
                        continue;
                    }
                    return Err(CliError::new(format!(
                        "no FROST group {name:?} in this signer home"
                    )));
                };
                if json {
                    out.push(summary_json(&g, &network)?);
                } else {
                    print_summary(&g, &network)?;
                }
            }
            if json {
                print_json(&json!(out));
            }
            Ok(())
        }
        FrostCommand::Commitments { group, count, out } => {
            let pass = passphrase(pass_file, false)?;
            let bytes = h
                .frost_commitments(&group, count, &pass)
                .map_err(signer_err)?;
            write_answer(&out, &bytes)?;
            if json {
                print_json(&json!({ "group": group, "count": count, "out": out }));
            } else {
                println!(
                    "{count} nonce commitments of group {group} written to {}: give them to the coordinator.",
                    out.display()
                );
            }
            Ok(())
        }
    }
}

fn read_roster(path: &Path) -> CliResult<Roster> {
    let text = String::from_utf8(read_input(path)?)
        .map_err(|_| CliError::new(format!("{}: a roster file is UTF-8 JSON", path.display())))?;
    Roster::from_json(&text).map_err(|e| CliError::new(format!("{}: {e}", path.display())))
}

fn repair_step(
    h: &SignerHome,
    json: bool,
    pass_file: Option<&Path>,
    step: RepairCommand,
) -> CliResult {
    match step {
        RepairCommand::Start {
            group,
            roster,
            lost,
            helpers,
            out,
        } => {
            let roster = read_roster(&roster)?;
            let pass = passphrase(pass_file, false)?;
            let answer = h
                .frost_repair_help(&group, &roster, lost, &helpers, &pass)
                .map_err(signer_err)?;
            write_answer(&out, &answer.bytes)?;
            if json {
                print_json(&json!({
                    "group": group, "lost": lost, "helpers": helpers,
                    "new_identity": roster.members.iter().find(|m| m.0 == lost).map(|m| hex::encode(m.2.as_bytes())),
                    "out": out, "repeated": answer.repeated,
                }));
            } else {
                println!(
                    "Repair of member {lost} ({}) of group {group} by helpers {helpers:?}: deltas {}written to {}; give them to the coordinator.",
                    roster.name(lost),
                    repeated(&answer),
                    out.display()
                );
            }
            Ok(())
        }
        RepairCommand::Forward { group, input, out } => {
            let bytes = read_input(&input)?;
            let pass = passphrase(pass_file, false)?;
            let answer = h
                .frost_repair_forward(&group, &bytes, &pass)
                .map_err(CliError::context(input.display()))?;
            write_answer(&out, &answer.bytes)?;
            if json {
                print_json(&json!({ "group": group, "out": out, "repeated": answer.repeated }));
            } else {
                println!(
                    "Sigma for the new device {}written to {}; give it to the coordinator.",
                    repeated(&answer),
                    out.display()
                );
            }
            Ok(())
        }
        RepairCommand::Prove { group, out } => {
            let pass = passphrase(pass_file, false)?;
            let bytes = h.frost_member_proof(&group, &pass).map_err(signer_err)?;
            write_answer(&out, &bytes)?;
            if json {
                print_json(&json!({ "group": group, "out": out }));
            } else {
                println!(
                    "Proof that this device holds its member's share written to {}: give it to the members who did not help the repair.",
                    out.display()
                );
            }
            Ok(())
        }
        RepairCommand::Adopt {
            group,
            roster,
            lost,
            input,
        } => {
            let roster = read_roster(&roster)?;
            let bytes = read_input(&input)?;
            let pass = passphrase(pass_file, false)?;
            let g = h
                .frost_repair_adopt(&group, &roster, lost, &bytes, &pass)
                .map_err(CliError::context(input.display()))?;
            if json {
                print_json(&summary_json(&g, "bitcoin")?);
            } else {
                println!(
                    "Member {lost} ({}) of group {group} is now the repaired device.",
                    roster.name(lost)
                );
            }
            Ok(())
        }
        RepairCommand::Receive {
            group,
            roster,
            lost,
            helpers,
            input,
            network,
        } => {
            check_group_name(&group).map_err(signer_err)?;
            let roster = read_roster(&roster)?;
            let bytes = read_input(&input)?;
            let pass = passphrase(pass_file, false)?;
            let g = h
                .frost_repair_receive(&group, &roster, lost, &helpers, &bytes, &pass)
                .map_err(CliError::context(input.display()))?;
            if json {
                print_json(&summary_json(&g, &network)?);
            } else {
                print_summary(&g, &network)?;
            }
            Ok(())
        }
    }
}

fn ceremony_step(
    h: &SignerHome,
    json: bool,
    pass_file: Option<&Path>,
    ceremony: Ceremony,
    step: StepCommand,
) -> CliResult {
    let what = match ceremony {
        Ceremony::KeyGeneration => "key generation",
        Ceremony::Refresh => "refresh",
    };
    match step {
        StepCommand::Start { group, roster, out } => {
            check_group_name(&group).map_err(signer_err)?;
            let roster_value = read_roster(&roster)?;
            let pass = passphrase(pass_file, false)?;
            let answer = h
                .frost_start(&group, ceremony, &roster_value, &pass)
                .map_err(signer_err)?;
            write_answer(&out, &answer.bytes)?;
            if json {
                let mut v = roster_value.to_value();
                v["group"] = json!(group);
                v["ceremony"] = json!(what);
                v["stage"] = json!("round 1 answered");
                v["out"] = json!(out);
                v["repeated"] = json!(answer.repeated);
                print_json(&v);
            } else {
                print!("{what} of group {group}, {}", roster_value.describe());
                println!(
                    "Round 1 {}written to {}: give it to the coordinator.",
                    repeated(&answer),
                    out.display()
                );
            }
            Ok(())
        }
        StepCommand::Continue { group, input, out } => {
            let bytes = read_input(&input)?;
            let pass = passphrase(pass_file, false)?;
            let answer = h
                .frost_continue(&group, ceremony, &bytes, &pass)
                .map_err(CliError::context(input.display()))?;
            write_answer(&out, &answer.bytes)?;
            if json {
                print_json(&json!({
                    "group": group, "ceremony": what, "stage": "round 2 answered",
                    "out": out, "repeated": answer.repeated,
                }));
            } else {
                println!(
                    "Round 2 {}written to {}: packages encrypted to each other member; give it to the coordinator.",
                    repeated(&answer),
                    out.display()
                );
            }
            Ok(())
        }
        StepCommand::Finish {
            group,
            input,
            network,
        } => {
            let bytes = read_input(&input)?;
            let pass = passphrase(pass_file, false)?;
            let g = h
                .frost_finish(&group, ceremony, &bytes, &pass)
                .map_err(CliError::context(input.display()))?;
            if json {
                print_json(&summary_json(&g, &network)?);
            } else {
                print_summary(&g, &network)?;
            }
            Ok(())
        }
    }
}
