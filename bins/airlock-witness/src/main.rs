//! `airlock-witness`: an independent party's witness. It holds its own Ed25519 cosigning key and
//! no key that moves funds; it cosigns a coordinator's checkpoints over the C2SP tlog-witness
//! protocol once they are proven to extend the last one it cosigned. A thin shell over
//! `airlock_witness_app`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use airlock_cli_support::{CliError, CliResult, exit_with, print_json};
use airlock_witness_app::WitnessHome;
use airlock_witness_app::server::ServeConfig;
use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(name = "airlock-witness", version, about, after_help = airlock_cli_support::EXIT_CODES_HELP)]
struct Cli {
    /// The witness's state directory.
    #[arg(
        long,
        env = "AIRLOCK_WITNESS_HOME",
        default_value = "airlock-witness-home"
    )]
    home: PathBuf,
    /// Machine-readable output (and errors as JSON on stderr).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a witness: a new cosigning key under NAME (a schema-less URL such as
    /// witness.example/w1); prints the verifier key to give to coordinators and vault policies.
    Init {
        #[arg(long)]
        name: String,
    },
    /// Print the witness's name and verifier key.
    Id,
    /// The logs this witness cosigns for.
    #[command(subcommand)]
    Log(LogCommand),
    /// Circuit breakers: HALTs this witness signs (it signs them itself on a split view, an
    /// invalid transition or an anomaly rule; `issue` signs one on its operator's judgement).
    #[command(subcommand)]
    Halt(HaltCommand),
    /// Anomaly rules checked on every proposal the verifying replay accepts (shown without
    /// options). A rule that fires halts the proposal's vault.
    Rules {
        /// Most proposals one vault may make within an hour.
        #[arg(long)]
        max_proposals_per_hour: Option<u32>,
        /// A payment above this amount (base units) to a destination the vault never proposed to.
        #[arg(long)]
        first_destination_above: Option<u128>,
        /// LIMIT/SECONDS: most proposed out of every vault of one chain within the window.
        #[arg(long)]
        outflow: Option<String>,
        /// Turn every rule off.
        #[arg(long, conflicts_with_all = ["max_proposals_per_hour", "first_destination_above", "outflow"])]
        clear: bool,
    },
    /// Answer C2SP tlog-witness add-checkpoint requests (POST <prefix>/add-checkpoint) until
    /// SIGTERM or Ctrl-C.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8321")]
        listen: SocketAddr,
        /// The submission prefix (e.g. /witness): requests go to <prefix>/add-checkpoint.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Every SECS seconds, read every followed vault from this witness's own nodes (`chain
        /// --ethereum-rpc`, `--monero-daemon`) and halt a vault whose newest state commitment
        /// they contradict, whose Safe owners or threshold changed, or whose ether balance fell
        /// without a finalized proposal.
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
        watch_every: Option<u64>,
        /// A client that has not sent a request's headers within SECS seconds is cut off.
        #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
        header_timeout: u64,
    },
    /// This witness's own chain nodes, for watching vaults (shown without options).
    Chain {
        /// An Ethereum JSON-RPC URL (checked by asking its chain id).
        #[arg(long)]
        ethereum_rpc: Option<String>,
        /// A monerod RPC URL (checked by asking its height): Monero vaults' state commitments
        /// are recomputed with the witness's own view-only scan of it.
        #[arg(long)]
        monero_daemon: Option<String>,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Trust a log: cosign its checkpoints signed by this key (the log key `airlock id` prints).
    Add {
        /// The log's checkpoint verifier key, `<origin>+<key id>+<key>`.
        vkey: String,
        /// Verifying mode: the log's `airlock serve` URL. Before each cosignature the witness
        /// fetches the new entries from its tiles and replays every transition with the
        /// coordinator's own rules; an invalid transition is never cosigned.
        #[arg(long, conflicts_with = "verify_dir")]
        verify_url: Option<String>,
        /// Verifying mode on one machine: a directory the coordinator publishes its log into
        /// (`airlock log publish DIR`), read like the service's tiles. Halts are not delivered
        /// (there is no service): carry them with `airlock-witness halt export`.
        #[arg(long)]
        verify_dir: Option<PathBuf>,
    },
    /// Every trusted log and the latest checkpoint cosigned for it.
    List,
}

#[derive(Subcommand)]
enum HaltCommand {
    /// Sign a HALT for a trusted log (every vault, or --vault); it is delivered to the log's
    /// service in verifying mode, and written to --out for `airlock halt import`.
    Issue {
        /// The log's origin (see `airlock-witness log list`).
        #[arg(long)]
        log: String,
        #[arg(long)]
        vault: Option<String>,
        /// manual, or chain (an on-chain movement no finalized proposal explains).
        #[arg(long, default_value = "manual")]
        reason: String,
        /// What was seen, for the people who must decide to resume.
        #[arg(long)]
        detail: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Every halt this witness signed, and whether its coordinator recorded it.
    List,
    /// Write a halt this witness signed to a file, to carry to the coordinator (`airlock halt
    /// import`) and to each signer (`airlock-signer halt import`).
    Export {
        /// The halt's id, or a unique prefix of six hex digits or more.
        halt: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        armor: bool,
    },
}

fn main() {
    airlock_cli_support::reset_sigpipe();
    let cli = Cli::parse();
    let json = cli.json;
    exit_with(run(cli), json)
}

/// The clock cosignatures carry (AIRLOCK_NOW when set, for tests and rehearsals).
fn clock() -> u64 {
    airlock_cli_support::now().unwrap_or(0)
}

fn open(home: &Path) -> CliResult<WitnessHome> {
    Ok(WitnessHome::open(home)?)
}

fn run(cli: Cli) -> CliResult {
    let json = cli.json;
    let writes = match &cli.command {
        Command::Init { .. } => Some("airlock-witness init"),
        Command::Log(LogCommand::Add { .. }) => Some("airlock-witness log add"),
        Command::Rules { .. } => Some("airlock-witness rules"),
        Command::Chain { .. } => Some("airlock-witness chain"),
        _ => None,
    };
    let _lock = airlock_cli_support::lock_home(
        &cli.home,
        matches!(cli.command, Command::Init { .. }),
        writes,
    )?;
    match cli.command {
        Command::Init { name } => {
            let home = WitnessHome::init(&cli.home, &name)?;
            if json {
                print_json(&json!({ "name": home.name(), "vkey": home.vkey() }));
            } else {
                println!("{}", home.vkey());
                eprintln!(
                    "witness {} created in {}: give coordinators the key above, then `airlock-witness log add LOG_KEY` for each log",
                    home.name(),
                    cli.home.display()
                );
            }
            Ok(())
        }
        Command::Id => {
            let home = open(&cli.home)?;
            if json {
                print_json(&json!({ "name": home.name(), "vkey": home.vkey() }));
            } else {
                println!("{}", home.vkey());
            }
            Ok(())
        }
        Command::Log(LogCommand::Add {
            vkey,
            verify_url,
            verify_dir,
        }) => {
            let home = open(&cli.home)?;
            let verify_url = match verify_dir {
                Some(dir) => {
                    let dir = std::path::absolute(&dir).map_err(|e| {
                        CliError::new(format!("--verify-dir {}: {e}", dir.display()))
                    })?;
                    if !dir.join("log/checkpoint").is_file() {
                        return Err(CliError::new(format!(
                            "--verify-dir {}: no published log there (on the coordinator: `airlock log publish {}`)",
                            dir.display(),
                            dir.display()
                        )));
                    }
                    Some(format!("file://{}", dir.display()))
                }
                None => verify_url,
            };
            let state = home.trust_log(&vkey, verify_url.as_deref())?;
            if json {
                print_json(&serde_json::to_value(&state).expect("state serializes"));
            } else {
                println!(
                    "trusting log {} (latest cosigned size {})",
                    state.origin, state.size
                );
            }
            Ok(())
        }
        Command::Log(LogCommand::List) => {
            let logs = open(&cli.home)?.logs()?;
            if json {
                print_json(&serde_json::to_value(&logs).expect("states serialize"));
            } else if logs.is_empty() {
                println!("no logs yet: `airlock-witness log add LOG_KEY`");
            } else {
                for l in logs {
                    println!(
                        "{}  size {}  cosigned at {}  key {}",
                        l.origin, l.size, l.cosigned_at, l.vkey
                    );
                }
            }
            Ok(())
        }
        Command::Halt(HaltCommand::Issue {
            log,
            vault,
            reason,
            detail,
            out,
        }) => {
            let home = open(&cli.home)?;
            if !["manual", "chain"].contains(&reason.as_str()) {
                return Err(CliError::new(format!(
                    "--reason {reason:?}: give manual or chain (the witness issues the others itself)"
                )));
            }
            if detail.trim().is_empty() {
                return Err(CliError::new(
                    "--detail: say what was seen, for the people who decide to resume",
                ));
            }
            let state = home.log(&log)?.ok_or_else(|| {
                CliError::new(format!(
                    "this witness does not trust a log {log:?} (see `airlock-witness log list`)"
                ))
            })?;
            let env = home.issue_halt(
                &home.connect()?,
                airlock_witness_app::halts::NewHalt {
                    origin: &log,
                    vault_id: vault.as_deref().unwrap_or(""),
                    reason: &reason,
                    detail: detail.trim(),
                    log_size: state.size,
                    // The same halt given twice in one second is one halt.
                    cause: &format!(
                        "{reason}:{}:{}:{}",
                        clock(),
                        vault.as_deref().unwrap_or(""),
                        detail.trim()
                    ),
                },
                clock(),
            )?;
            if let Some(out) = &out {
                airlock_cli_support::write_envelope(out, &env, false)?;
            }
            let delivered = match &state.verify_url {
                Some(url) => home.deliver_halts(&log, url)?,
                None => 0,
            };
            if json {
                print_json(
                    &json!({ "halt": env.id().to_hex(), "out": out, "delivered": delivered > 0 }),
                );
            } else {
                println!("HALT {} signed", env.id().short());
                if delivered > 0 {
                    println!("delivered to {}", state.verify_url.unwrap_or_default());
                } else if out.is_none() {
                    eprintln!(
                        "note: not delivered; write it with --out and run `airlock halt import FILE` on the coordinator"
                    );
                }
            }
            Ok(())
        }
        Command::Halt(HaltCommand::Export { halt, out, armor }) => {
            let env = open(&cli.home)?.halt_envelope(&halt)?;
            airlock_cli_support::write_envelope(&out, &env, armor)?;
            if json {
                print_json(&json!({ "halt": env.id().to_hex(), "out": out }));
            } else {
                println!("HALT {} written to {}", env.id().short(), out.display());
            }
            Ok(())
        }
        Command::Halt(HaltCommand::List) => {
            let halts = open(&cli.home)?.halts()?;
            if json {
                print_json(&serde_json::to_value(&halts).expect("halts serialize"));
            } else if halts.is_empty() {
                println!("no halts");
            } else {
                for h in halts {
                    println!(
                        "{}  {}  {}  {}: {}  [{}]",
                        &h.id[..12],
                        h.origin,
                        if h.vault.is_empty() {
                            "every vault"
                        } else {
                            &h.vault
                        },
                        h.reason,
                        h.detail,
                        if h.delivery.is_empty() {
                            "not delivered"
                        } else {
                            &h.delivery
                        }
                    );
                }
            }
            Ok(())
        }
        Command::Rules {
            max_proposals_per_hour,
            first_destination_above,
            outflow,
            clear,
        } => {
            let home = open(&cli.home)?;
            let conn = home.connect()?;
            let changing = clear
                || max_proposals_per_hour.is_some()
                || first_destination_above.is_some()
                || outflow.is_some();
            if changing {
                let mut rules = if clear {
                    Default::default()
                } else {
                    home.rules(&conn)?
                };
                if let Some(n) = max_proposals_per_hour {
                    rules.max_proposals_per_hour = Some(n);
                }
                if let Some(a) = first_destination_above {
                    rules.first_destination_above = Some(a);
                }
                if let Some(o) = outflow {
                    let parsed = o.split_once('/').and_then(|(l, w)| {
                        Some(airlock_witness_app::halts::Outflow {
                            limit: l.trim().parse().ok()?,
                            window_secs: w.trim().parse().ok()?,
                        })
                    });
                    rules.outflow = Some(parsed.ok_or_else(|| {
                        CliError::new(format!(
                            "--outflow {o:?}: give LIMIT/SECONDS, e.g. 1000000/86400"
                        ))
                    })?);
                }
                home.set_rules(&rules)?;
            }
            let rules = home.rules(&conn)?;
            if json {
                print_json(&serde_json::to_value(&rules).expect("rules serialize"));
            } else if rules.is_empty() {
                println!("no anomaly rules");
            } else {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rules).expect("rules serialize")
                );
            }
            Ok(())
        }
        Command::Chain {
            ethereum_rpc,
            monero_daemon,
        } => {
            let home = open(&cli.home)?;
            if let Some(url) = &ethereum_rpc {
                let chain_id = home.set_ethereum_rpc(url)?;
                if !json {
                    println!("ethereum node {url} (chain {chain_id})");
                }
            }
            if let Some(url) = &monero_daemon {
                let height = home.set_monero_daemon(url)?;
                if !json {
                    println!("monerod {url} (height {height})");
                }
            }
            let current = home.ethereum_rpc()?;
            let monero = home.monero_daemon()?;
            let watched = home.watched()?;
            if json {
                print_json(
                    &json!({ "ethereum_rpc": current, "monero_daemon": monero, "watched": watched }),
                );
            } else if ethereum_rpc.is_none() && monero_daemon.is_none() {
                println!(
                    "monero: {}",
                    monero
                        .as_deref()
                        .unwrap_or("no node (`--monero-daemon URL`)")
                );
                println!(
                    "ethereum: {}",
                    current
                        .as_deref()
                        .unwrap_or("no node (`--ethereum-rpc URL`)")
                );
                for v in watched {
                    println!(
                        "  {} {}: balance {} wei, looked at {}",
                        v.origin,
                        v.vault,
                        v.balance.as_deref().unwrap_or("?"),
                        v.looked_at
                    );
                }
            }
            Ok(())
        }
        Command::Serve {
            listen,
            prefix,
            watch_every,
            header_timeout,
        } => {
            let home = open(&cli.home)?;
            if !listen.ip().is_loopback() {
                eprintln!(
                    "note: serving plain HTTP on {listen}: put TLS in front (the protocol needs no secrecy, but integrity of answers matters to clients)"
                );
            }
            if !prefix.is_empty() && !prefix.starts_with('/') {
                return Err(CliError::new(
                    "--prefix must start with '/' (e.g. /witness)",
                ));
            }
            let name = home.name().to_owned();
            airlock_witness_app::server::run(
                home,
                ServeConfig {
                    listen,
                    prefix: prefix.clone(),
                    clock,
                    watch_every: watch_every.map(std::time::Duration::from_secs),
                    header_timeout: std::time::Duration::from_secs(header_timeout),
                },
                |addr| {
                    if json {
                        println!(
                            "{}",
                            json!({ "listening": format!("http://{addr}"), "add_checkpoint": format!("http://{addr}{prefix}/add-checkpoint") })
                        );
                    } else {
                        println!(
                            "witness {name} on http://{addr}{prefix}/add-checkpoint (SIGTERM or Ctrl-C stops it)"
                        );
                    }
                },
            )?;
            Ok(())
        }
    }
}
