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
    /// Answer C2SP tlog-witness add-checkpoint requests (POST <prefix>/add-checkpoint) until
    /// SIGTERM or Ctrl-C.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8321")]
        listen: SocketAddr,
        /// The submission prefix (e.g. /witness): requests go to <prefix>/add-checkpoint.
        #[arg(long, default_value = "")]
        prefix: String,
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
        #[arg(long)]
        verify_url: Option<String>,
    },
    /// Every trusted log and the latest checkpoint cosigned for it.
    List,
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
        Command::Log(LogCommand::Add { vkey, verify_url }) => {
            let home = open(&cli.home)?;
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
        Command::Serve { listen, prefix } => {
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
