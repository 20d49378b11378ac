//! `airlock --server URL …`: the usual coordinator commands against an `airlock serve`, so an
//! online laptop can carry files for signers without holding the coordinator's database.
//!
//! Served: `id`, `status`, `submit`, `export` (proposal bundles), `vault list`, `vault submit`,
//! `transfer in` (a signer's transfer directory), `transfer log`, `log verify`, and — signed by a member's device key (`--member-key`) — `propose`, `finalize`,
//! `broadcast`, `confirm`, `abandon`, `btc sync` and `xmr sync` (the service syncs from its
//! nodes). Everything else is refused with a pointer to run it on the
//! service's host. This module must never touch a local home: with `--server` there is none.

use std::path::{Path, PathBuf};

use airlock_cli_support::{CliError, CliResult, print_json, read_signed_envelope};
use airlock_service::ServiceClient;
use serde_json::{Value, json};

use crate::{Command, LogCommand, VaultCommand};

pub fn run(
    server: &str,
    ca: Option<&Path>,
    member_key: Option<&Path>,
    json: bool,
    command: Command,
) -> CliResult {
    let client = ServiceClient::new(server, ca)?;
    let signing_key = || -> CliResult<ed25519_dalek::SigningKey> {
        let path = member_key.ok_or_else(|| {
            CliError::new(
                "this write is signed by a member's device key: give --member-key FILE (or AIRLOCK_MEMBER_KEY); `airlock member keygen` makes one",
            )
        })?;
        let pass = airlock_cli_support::passphrase(None, false)?;
        Ok(airlock_custody::load_encrypted_identity(path, &pass)?
            .signing_key()
            .clone())
    };
    match command {
        Command::Propose(a) => {
            let transfers =
                a.to.iter()
                    .map(|t| crate::parse_transfer(t))
                    .collect::<CliResult<Vec<_>>>()?;
            let expires_in = a
                .expires_in
                .as_deref()
                .map(airlock_core::vault::parse_duration)
                .transpose()?;
            let body = json!({
                "vault": a.vault,
                "transfers": transfers.iter().map(|t| json!({ "destination": t.destination, "amount": t.amount.to_string(), "asset": t.asset })).collect::<Vec<_>>(),
                "memo": a.memo,
                "expires_in": expires_in,
            });
            let row = client.post_signed(
                "api/v1/proposals",
                &body,
                &signing_key()?,
                airlock_cli_support::now()?,
            )?;
            let id = row["proposal"].as_str().unwrap_or("").to_string();
            if let Some(out) = &a.out {
                let bundle = client.get(&format!(
                    "api/v1/proposals/{}/bundle{}",
                    segment(&id)?,
                    if a.armor { "?armor=true" } else { "" }
                ))?;
                airlock_transport::write_atomic(out, &bundle)?;
            }
            if json {
                print_json(
                    &json!({ "proposal": id, "rule": row["rule"], "expires": row["expires"], "bundle": a.out, "proposed_by": row["proposed_by"] }),
                );
            } else {
                println!(
                    "Proposal {id} under vault {} v{} (by {})",
                    row["vault"].as_str().unwrap_or(""),
                    row["vault_version"],
                    row["proposed_by"].as_str().unwrap_or("")
                );
                println!("rule {}", row["rule"].as_str().unwrap_or(""));
                if let Some(out) = a.out {
                    println!("bundle for signers: {}", out.display());
                }
            }
            Ok(())
        }
        Command::Login { challenge } => {
            let answer = client.post_signed(
                "api/v1/session/sign",
                &json!({ "challenge": challenge }),
                &signing_key()?,
                airlock_cli_support::now()?,
            )?;
            if json {
                print_json(&answer);
            } else {
                println!(
                    "Signed in as {} on {}: the page continues by itself",
                    answer["signed_in"].as_str().unwrap_or(""),
                    client.base()
                );
            }
            Ok(())
        }
        Command::Finalize {
            proposal,
            out: None,
        } => action(
            &client,
            json,
            &proposal,
            "finalize",
            json!({}),
            &signing_key()?,
        ),
        Command::Broadcast { proposal } => action(
            &client,
            json,
            &proposal,
            "broadcast",
            json!({}),
            &signing_key()?,
        ),
        Command::Confirm {
            proposal,
            confirmations,
        } => action(
            &client,
            json,
            &proposal,
            "confirm",
            json!({ "confirmations": confirmations }),
            &signing_key()?,
        ),
        Command::Abandon {
            proposal,
            reason,
            out: None,
            ..
        } => action(
            &client,
            json,
            &proposal,
            "abandon",
            json!({ "reason": reason }),
            &signing_key()?,
        ),
        Command::Id => {
            let id = client.get_json("api/v1/identity")?;
            if json {
                print_json(&id);
            } else {
                println!("server     {}", client.base());
                println!("identity   {}", id["identity"].as_str().unwrap_or(""));
                println!("log origin {}", id["origin"].as_str().unwrap_or(""));
                println!("log key    {}", id["log_key"].as_str().unwrap_or(""));
            }
            Ok(())
        }
        Command::Status { proposal, vault } => {
            let rows = match (proposal, vault) {
                (Some(p), _) => {
                    vec![client.get_json(&format!("api/v1/proposals/{}", segment(&p)?))?]
                }
                (None, Some(v)) => {
                    list(client.get_json(&format!("api/v1/proposals?vault={}", segment(&v)?))?)
                }
                (None, None) => list(client.get_json("api/v1/proposals")?),
            };
            if json {
                print_json(&json!(rows));
            } else {
                crate::print_status_rows(&rows);
            }
            Ok(())
        }
        Command::Submit { files } => {
            // A decision batch goes up as its decisions: the service records them in one
            // transaction, as it does any upload of several.
            let mut decisions = Vec::new();
            for bytes in read_files(&files, "approval or rejection")? {
                let env = airlock_core::Envelope::from_bytes(&bytes)?;
                match env.kind() {
                    Some(airlock_core::ArtifactKind::DecisionBatch) => {
                        let batch: airlock_core::DecisionBatch = env.open()?;
                        decisions.extend(batch.decisions);
                    }
                    _ => decisions.push(bytes),
                }
            }
            let answer = client.post_artifacts("api/v1/decisions", &decisions)?;
            if json {
                print_json(&answer);
            } else {
                for row in list(answer) {
                    println!(
                        "Accepted {} {} for proposal {}: now {}",
                        row["decision"].as_str().unwrap_or(""),
                        short(&row["id"]),
                        short(&row["proposal"]),
                        row["status"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        Command::Export {
            proposals,
            open,
            undecided_by: _,
            out,
            since,
            armor,
        } => {
            let [proposal] = &proposals[..] else {
                return Err(CliError::new(
                    "a batch (several proposals or --open) is not available with --server yet: export it from the coordinator's home",
                ));
            };
            let proposal = proposal.clone();
            if open.is_some() {
                return Err(CliError::new("--open is not available with --server yet"));
            }
            if !since.is_empty() {
                return Err(CliError::new(
                    "--since is not available with --server: the service adds the sizes signers reported",
                ));
            }
            let path = format!(
                "api/v1/proposals/{}/bundle{}",
                segment(&proposal)?,
                if armor { "?armor=true" } else { "" }
            );
            let bytes = client.get(&path)?;
            airlock_transport::write_atomic(&out, &bytes)?;
            if json {
                print_json(
                    &json!({ "proposal": proposal, "bundle": out, "server": client.base() }),
                );
            } else {
                println!(
                    "Wrote the bundle of proposal {proposal} from {} to {}",
                    client.base(),
                    out.display()
                );
            }
            Ok(())
        }
        Command::Vault(VaultCommand::List) => {
            crate::print_vault_rows(&list(client.get_json("api/v1/vaults")?), json);
            Ok(())
        }
        Command::Vault(VaultCommand::Submit { files }) => {
            // A new vault takes an operator's signed request; a new version of one is
            // authorized by its signers' signatures alone.
            let answer = match member_key {
                Some(_) => client.post_signed(
                    "api/v1/vaults",
                    &airlock_service::client::artifacts_batch(&read_files(
                        &files,
                        "signed vault definition",
                    )?),
                    &signing_key()?,
                    airlock_cli_support::now()?,
                )?,
                None => upload(&client, "api/v1/vaults", &files, "signed vault definition")?,
            };
            if json {
                print_json(&answer);
            } else {
                println!(
                    "Vault {} version {} is active ({})",
                    answer["vault"].as_str().unwrap_or(""),
                    answer["version"],
                    short(&answer["id"])
                );
            }
            Ok(())
        }
        Command::Transfer(crate::transfer_cmd::TransferCommand::In { dir }) => {
            let (manifest, files) = airlock_cli_support::transfer::read_transfer(&dir)?;
            let body = airlock_service::client::transfer_upload(&manifest.to_bytes(), &files);
            let answer = client
                .post_json("api/v1/transfers", &body)
                .map_err(CliError::context("transfer refused, nothing imported"))?;
            if json {
                print_json(&answer);
            } else {
                println!(
                    "Accepted transfer {} from {} (sequence {}): {}",
                    short(&answer["manifest"]),
                    answer["origin"].as_str().unwrap_or(""),
                    answer["sequence"],
                    answer["purpose"].as_str().unwrap_or("")
                );
                for d in answer["decisions"].as_array().into_iter().flatten() {
                    println!(
                        "  decision {} recorded: proposal now {}",
                        short(&d["id"]),
                        d["status"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        Command::Transfer(crate::transfer_cmd::TransferCommand::Log) => {
            let records = client.get_json("api/v1/transfers")?;
            if json {
                print_json(&records);
            } else if records.as_array().is_none_or(|r| r.is_empty()) {
                println!("No transfers yet.");
            } else {
                for t in records.as_array().into_iter().flatten() {
                    let m = &t["manifest"];
                    println!(
                        "{:>6}  {:<3} {} seq {} from {} ({}): {}",
                        t["log_index"],
                        t["direction"].as_str().unwrap_or(""),
                        short(&t["manifest_id"]),
                        m["sequence"],
                        m["origin"]["name"].as_str().unwrap_or(""),
                        m["origin"]["role"].as_str().unwrap_or(""),
                        m["purpose"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        Command::Btc(crate::btc_cmd::BtcCommand::Sync { vault })
        | Command::Xmr(crate::xmr_cmd::XmrCommand::Sync { vault }) => {
            let answer = client.post_signed(
                &format!("api/v1/vaults/{}/sync", segment(&vault)?),
                &json!({}),
                &signing_key()?,
                airlock_cli_support::now()?,
            )?;
            if json {
                print_json(&answer);
            } else {
                let synced = &answer["synced"];
                println!(
                    "synced {vault} on the service (by {}): height {}, balance {}",
                    answer["by"].as_str().unwrap_or(""),
                    synced["height"],
                    synced["balance"].as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
        Command::Log(LogCommand::Verify {
            url: None,
            log_key,
            ca_cert,
        }) => crate::verify_remote(
            json,
            airlock_service::RemoteOptions {
                url: server.to_string(),
                log_key,
                ca_cert: ca_cert.or_else(|| ca.map(Path::to_path_buf)),
            },
        ),
        _ => Err(CliError::new(
            "this command is not available with --server: run it on the service's host (finalize --out and abandon --out write files only that host has; run them there, or without --out)",
        )),
    }
}

/// A signed action on a proposal.
fn action(
    client: &ServiceClient,
    json: bool,
    proposal: &str,
    action: &str,
    body: Value,
    key: &ed25519_dalek::SigningKey,
) -> CliResult {
    let row = client.post_signed(
        &format!("api/v1/proposals/{}/{action}", segment(proposal)?),
        &body,
        key,
        airlock_cli_support::now()?,
    )?;
    if json {
        print_json(&row);
    } else {
        println!(
            "Proposal {}: {action} by {} — now {} ({})",
            short(&row["proposal"]),
            row["by"].as_str().unwrap_or(""),
            row["status"].as_str().unwrap_or(""),
            row["result"]
        );
    }
    Ok(())
}

/// Reads the files (every signature must verify) and uploads them as one batch.
fn upload(client: &ServiceClient, path: &str, files: &[PathBuf], what: &str) -> CliResult<Value> {
    Ok(client.post_artifacts(path, &read_files(files, what)?)?)
}

/// Reads artifact files for an upload; every signature each carries must verify.
fn read_files(files: &[PathBuf], what: &str) -> CliResult<Vec<Vec<u8>>> {
    if files.is_empty() {
        return Err(CliError::new(format!("give one or more {what} files")));
    }
    files
        .iter()
        .map(|f| read_signed_envelope(f).map(|env| env.to_bytes()))
        .collect()
}

/// An id or name as one URL path segment (or query value): refused if it could escape it.
fn segment(s: &str) -> CliResult<&str> {
    if s.is_empty()
        || s == "."
        || s == ".."
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(CliError::new(format!(
            "{s:?}: ids and vault names are letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(s)
}

fn list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(rows) => rows,
        other => vec![other],
    }
}

fn short(v: &Value) -> String {
    v.as_str().unwrap_or("").chars().take(12).collect()
}
