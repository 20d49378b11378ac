//! `airlock frost`: the coordinator's part in a FROST group's key generation and refresh. It writes the
//! roster every member checks (who takes part, their numbers and identities, the threshold) and
//! relays each round: it reads the members' answers, checks every message against the roster
//! (signed by its member, of this ceremony, none twice, none missing) and writes the one file
//! every member reads next. The coordinator learns nothing secret: round-2 packages are
//! encrypted to their recipients.
//!
//! This command must never relay a message it could not attribute to a member of the roster,
//! nor a round that lacks a member's part (the members would then fail one by one).

use std::path::{Path, PathBuf};

use airlock_cli_support::{CliError, CliResult, print_json};
use airlock_frost::Roster;
use airlock_frost::wire::{bundle, relay, unbundle};
use clap::Subcommand;
use ed25519_dalek::VerifyingKey;
use serde_json::json;

/// Largest answer file read (a 64-member round 2 is about 60 KB).
const MAX_ANSWER: u64 = 4 * 1024 * 1024;

#[derive(Subcommand)]
pub enum FrostCommand {
    /// Write the roster of a ceremony: `--member NAME:IDENTITY` for each member of a new group,
    /// in order (numbered from 1 in that order, for the group's life), or
    /// `--member NUMBER:NAME:IDENTITY` with the members' numbers in the group (a refresh of some
    /// or all of them: leaving one out removes it).
    Roster {
        /// What the ceremony is (shown on every device), e.g. "cold vault 2027".
        #[arg(long)]
        label: String,
        /// Signature shares needed to spend.
        #[arg(long)]
        threshold: u16,
        /// [NUMBER:]NAME:IDENTITY (the identity is the signer's `airlock-signer id`).
        #[arg(
            long = "member",
            value_name = "[NUMBER:]NAME:IDENTITY",
            required = true
        )]
        members: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check the members' answers to one round and write the file every member reads next.
    Relay {
        #[arg(long)]
        roster: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The members' answer files.
        #[arg(required = true)]
        answers: Vec<PathBuf>,
    },
}

fn read_roster(path: &Path) -> CliResult<Roster> {
    let bytes = airlock_transport::read_bounded(path, MAX_ANSWER)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::new(format!("{}: a roster file is UTF-8 JSON", path.display())))?;
    Roster::from_json(&text).map_err(CliError::context(path.display()))
}

/// `[NUMBER:]NAME:IDENTITY`.
fn parse_member(text: &str) -> CliResult<(Option<u16>, String, VerifyingKey)> {
    let (name, identity) = text.rsplit_once(':').ok_or_else(|| {
        CliError::new(format!(
            "--member {text:?}: expected [NUMBER:]NAME:IDENTITY"
        ))
    })?;
    let (number, name) = match name.split_once(':') {
        Some((n, rest)) => (
            Some(n.parse::<u16>().map_err(|_| {
                CliError::new(format!("--member {text:?}: {n:?} is not a member number"))
            })?),
            rest,
        ),
        None => (None, name),
    };
    let bytes: [u8; 32] = hex::decode(identity.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            CliError::new(format!(
                "--member {name}: the identity is not 32 bytes of hex (`airlock-signer id` prints it)"
            ))
        })?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| {
        CliError::new(format!(
            "--member {name}: the identity is not an Ed25519 public key"
        ))
    })?;
    Ok((number, name.to_owned(), key))
}

pub fn run(json: bool, cmd: FrostCommand) -> CliResult {
    match cmd {
        FrostCommand::Roster {
            label,
            threshold,
            members,
            out,
        } => {
            let members = members
                .iter()
                .map(|m| parse_member(m))
                .collect::<CliResult<Vec<_>>>()?;
            let numbered = members.iter().filter(|(n, _, _)| n.is_some()).count();
            let roster = if numbered == 0 {
                Roster::new(
                    &label,
                    threshold,
                    members
                        .into_iter()
                        .map(|(_, name, key)| (name, key))
                        .collect(),
                )?
            } else if numbered == members.len() {
                Roster::numbered(
                    &label,
                    threshold,
                    members
                        .into_iter()
                        .map(|(n, name, key)| (n.expect("numbered"), name, key))
                        .collect(),
                )?
            } else {
                return Err(CliError::new(
                    "give every --member a number (NUMBER:NAME:IDENTITY, for a refresh) or none",
                ));
            };
            airlock_transport::write_atomic(&out, roster.to_json().as_bytes())?;
            if json {
                let mut v = roster.to_value();
                v["out"] = json!(out);
                print_json(&v);
            } else {
                print!("Roster of {}", roster.describe());
                println!(
                    "Written to {}: every member starts with `airlock-signer frost keygen start --roster {}`.",
                    out.display(),
                    out.display()
                );
            }
            Ok(())
        }
        FrostCommand::Relay {
            roster,
            out,
            answers,
        } => {
            let roster = read_roster(&roster)?;
            let mut messages = Vec::new();
            for path in &answers {
                let bytes = airlock_transport::read_bounded(path, MAX_ANSWER)?;
                messages.extend(unbundle(&bytes).map_err(CliError::context(path.display()))?);
            }
            let (kind, messages) = relay(&roster, messages)?;
            airlock_transport::write_atomic(&out, &bundle(&messages))?;
            if json {
                print_json(&json!({
                    "out": out,
                    "kind": kind.name(),
                    "messages": messages.len(),
                    "session": hex::encode(roster.session()),
                }));
            } else {
                println!(
                    "{} messages of the {} checked and written to {}: give it to every member.",
                    messages.len(),
                    kind.name(),
                    out.display()
                );
            }
            Ok(())
        }
    }
}
