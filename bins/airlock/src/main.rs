//! `airlock`: the online coordinator's command line. A thin layer over `airlock-coordinator`:
//! each subcommand parses its arguments, calls one library operation and prints the result for a
//! person or, with `--json`, for a script. It holds no spend keys.

mod bench;
mod btc_cmd;
mod drill_cmd;
mod eth_cmd;
mod frost_cmd;
mod halt_cmd;
mod metrics_bench;
mod metrics_cmd;
mod payload_proposal;
mod qr_cmd;
mod remote_cmd;
mod sim_cmd;
mod transfer_cmd;
mod witness_cmd;
mod xmr_cmd;

use std::path::{Path, PathBuf};

use airlock_cli_support::inspect::{envelope_json, inspect_text};
use airlock_cli_support::{
    CliError, CliResult, exit_with, now, print_json, read_envelope, read_signed_envelope,
    write_envelope,
};
use airlock_coordinator::{Coordinator, CoordinatorHome, VaultDraft};
use airlock_core::lifecycle::{Status, describe_gaps};
use airlock_core::vault::{describe_rule, parse_duration, parse_rule};
use airlock_core::{Artifact, EventKind, Intent, PublicKey, SignerEntry, Transfer, format_time};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "Airlock coordinator: watch-only vaults, proposals, approvals, the transparency log",
    after_help = airlock_cli_support::EXIT_CODES_HELP
)]
struct Cli {
    /// State directory.
    #[arg(
        long,
        global = true,
        env = "AIRLOCK_HOME",
        default_value = "airlock-home"
    )]
    home: PathBuf,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// Run against an `airlock serve` instead of a local home (status, submit, export, vault
    /// list/submit, log verify, id).
    #[arg(long, global = true, env = "AIRLOCK_SERVER")]
    server: Option<String>,
    /// A member's device key (`airlock member keygen`) that signs writes sent to --server
    /// (propose, finalize, broadcast, confirm, abandon); its passphrase from
    /// AIRLOCK_PASSPHRASE_FILE or a prompt.
    #[arg(long, global = true, env = "AIRLOCK_MEMBER_KEY", requires = "server")]
    member_key: Option<PathBuf>,
    /// A PEM certificate to trust for an https --server (e.g. its self-signed one).
    #[arg(long, global = true, env = "AIRLOCK_SERVER_CA", requires = "server")]
    server_ca: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create the coordinator's state directory and identity key.
    Init {
        /// The log's origin name (also its checkpoint key name).
        #[arg(long)]
        origin: Option<String>,
    },
    /// Print the coordinator's identity and log key.
    Id,
    /// Vault definitions: draft, activate, list, show.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Propose a payment under a vault's newest version and write the bundle for signers.
    Propose(ProposeArgs),
    /// Write a proposal's bundle (with fresh log proofs) for signers; with several proposals (or
    /// `--open VAULT`), one batch for signers to decide in one session.
    Export {
        /// Proposal ids (or unique prefixes). Two or more make a batch.
        #[arg(required_unless_present = "open")]
        proposals: Vec<String>,
        /// Batch every proposal of this vault that is still open for decisions.
        #[arg(long, value_name = "VAULT", conflicts_with = "proposals")]
        open: Option<String>,
        /// With --open: only the proposals this signer (by name) has not decided yet.
        #[arg(long, value_name = "SIGNER", requires = "open")]
        undecided_by: Option<String>,
        #[arg(long)]
        out: PathBuf,
        /// Also prove consistency from this checkpoint size (a signer's last accepted size).
        #[arg(long)]
        since: Vec<u64>,
        #[arg(long)]
        armor: bool,
    },
    /// Accept approval or rejection files from signers.
    Submit { files: Vec<PathBuf> },
    /// Show proposals: who approved, who rejected and why, what is missing.
    Status {
        proposal: Option<String>,
        #[arg(long)]
        vault: Option<String>,
    },
    /// Finalize a ready proposal (combine signatures into the final transaction).
    Finalize {
        proposal: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Record that a proposal will never be finalized (rejected, expired or given up), and write
    /// the release bundle that lets its signers end the reservation their approvals hold.
    Abandon {
        proposal: String,
        #[arg(long)]
        reason: String,
        /// Where to write the release bundle for signers (also `airlock export` later).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        armor: bool,
    },
    /// Broadcast a finalized proposal's transaction through its chain.
    Broadcast { proposal: String },
    /// Check a broadcast transaction for confirmations: records it confirmed once it has
    /// `--confirmations` of them. Run again on a confirmed proposal, records a reorganization
    /// if its transaction has left the chain (it is then broadcast again: `airlock broadcast`
    /// re-sends it).
    Confirm {
        proposal: String,
        /// Confirmations needed before the proposal is recorded confirmed (your chain's finality
        /// depth: e.g. 6 for Bitcoin, 10 for Monero).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        confirmations: u64,
    },
    /// The transparency log.
    #[command(subcommand)]
    Log(LogCommand),
    /// Serve this coordinator to a team over HTTP: the API, the log as C2SP tiles, /metrics.
    Serve(ServeArgs),
    /// Move this home's state from its SQLite file into an empty PostgreSQL database (for a
    /// service run as several processes); the log is verified identical before the switch.
    Migrate {
        /// The database: postgres://USER[:PASSWORD]@HOST:PORT/DATABASE
        #[arg(long)]
        to: String,
    },
    /// Rebuild this home's lost database from its published log (a service URL, or a directory
    /// `airlock log publish` wrote): verified in full with this home's own log key first, then
    /// written in one transaction. Restore `coordinator.json` and `identity.key` from their
    /// backup before; sync the vaults' chain state after (docs/RECOVERY.md).
    Recover {
        /// http(s)://SERVICE, or a directory written by `airlock log publish`.
        #[arg(long)]
        from_log: String,
        /// A PEM certificate to trust for https.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
    },
    /// How the signing process performs, computed from the log alone: time to each decision,
    /// to ready, finalized, broadcast and confirmed (p50/p90/max per vault, rule and signer),
    /// approval/rejection/expiry rates, disputes, signer responsiveness, air-gap crossings.
    Metrics(metrics_cmd::MetricsArgs),
    /// Simulate the team through a scenario file's failures (key loss, outages, a compromised
    /// signer) with the real coordinator and signer code on a virtual clock; exit 3 when an
    /// invariant broke.
    Sim(sim_cmd::SimArgs),
    /// A tabletop drill on the team's real vault: the failures to rehearse, the answers its
    /// policy gives, and the team's answers and timings recorded in the log.
    #[command(subcommand)]
    Drill(drill_cmd::DrillCommand),
    /// The service's members: device keys with roles per vault (proposer, operator, viewer).
    #[command(subcommand)]
    Member(MemberCommand),
    /// Sign the dashboard in: sign the challenge it shows with your member key (with --server
    /// and --member-key).
    Login { challenge: String },
    /// Print any artifact and check its signatures.
    Inspect { file: PathBuf },
    /// Measure log appends, proof verification and artifact decoding on this machine.
    Bench(bench::BenchArgs),
    /// Carry artifacts across the air gap: signed transfer directories, their log, the allowlist.
    #[command(subcommand)]
    Transfer(transfer_cmd::TransferCommand),
    /// Show a file as (animated) QR codes, or read one back from images.
    #[command(subcommand)]
    Qr(qr_cmd::QrCommand),
    /// How this coordinator reaches each chain's node.
    #[command(subcommand)]
    Chain(eth_cmd::ChainCommand),
    /// Ethereum: Safe deployment, arbitrary calls, typed data, owner rotation, account status.
    #[command(subcommand)]
    Eth(eth_cmd::EthCommand),
    /// Bitcoin: descriptors, receive addresses, balances, hand-fed transactions, proposals with
    /// a fee rate, sweeps, PSBT import/export.
    #[command(subcommand)]
    Btc(btc_cmd::BtcCommand),
    /// Independent witnesses that cosign this log's checkpoints (C2SP tlog-witness).
    #[command(subcommand)]
    Witness(witness_cmd::WitnessCommand),
    /// Witnesses' HALTs (circuit breakers): record, list, and propose the RESUME that lifts one.
    #[command(subcommand)]
    Halt(halt_cmd::HaltCommand),
    /// Monero: view-only vault sync, balance, outputs and key-image sync with the signer.
    #[command(subcommand)]
    Xmr(xmr_cmd::XmrCommand),
    /// FROST threshold groups: the roster of a key generation, and the relay of each round
    /// between the members' signers.
    #[command(subcommand)]
    Frost(frost_cmd::FrostCommand),
}

#[derive(Subcommand)]
pub(crate) enum VaultCommand {
    /// Draft version 1 of a new vault, or the next version of an existing one (signers sign it).
    Draft(DraftArgs),
    /// Merge signed copies of a draft and activate it once the signatures meet the rotation rule.
    Submit { files: Vec<PathBuf> },
    /// List vaults.
    List,
    /// Show a vault version (the newest by default), optionally writing it to a file.
    Show {
        vault: String,
        #[arg(long)]
        version: Option<u64>,
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        armor: bool,
    },
    /// Show the vault's newest state commitment in the log (written by each sync that found its
    /// on-chain state changed): height, block, Merkle root and every leaf.
    State { vault: String },
}

#[derive(Args)]
struct DraftArgs {
    /// Vault id (a-z, 0-9, '-', '_').
    #[arg(long)]
    vault: String,
    /// Chain of a new vault ("none" records decisions only).
    #[arg(long)]
    chain: Option<String>,
    #[arg(long)]
    network: Option<String>,
    /// Chain account description (descriptor, address…).
    #[arg(long)]
    account: Option<String>,
    /// A signer as NAME:ROLE:IDENTITY_KEY_HEX[:CHAIN_KEY[:keystore|hsm|device]]; replaces the signer list.
    #[arg(long = "signer")]
    signers: Vec<String>,
    /// Add a signer to the current version's list.
    #[arg(long = "add-signer")]
    add_signers: Vec<String>,
    /// Remove a signer (by name) from the current version's list.
    #[arg(long = "remove-signer")]
    remove_signers: Vec<String>,
    /// Distinct signer keys needed to approve the next version.
    #[arg(long)]
    threshold: Option<u32>,
    /// A rule: 'NAME: CONDITIONS => COUNT ROLE, …' (first match applies); replaces the rule list.
    #[arg(long = "rule")]
    rules: Vec<String>,
    /// A witness whose cosignature every bundle's checkpoint must carry, as `airlock-witness id`
    /// prints its key; replaces the witness list (default: the current version's).
    #[arg(long = "witness", value_name = "WITNESS_KEY")]
    witnesses: Vec<String>,
    /// How many distinct witnesses of the list must have cosigned (default: all of them).
    #[arg(long, requires = "witnesses")]
    witness_threshold: Option<u32>,
    /// Drop the current version's witnesses.
    #[arg(long, conflicts_with = "witnesses")]
    no_witnesses: bool,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    armor: bool,
}

#[derive(Args)]
pub(crate) struct ProposeArgs {
    #[arg(long)]
    pub(crate) vault: String,
    /// A payment as DESTINATION:AMOUNT[:ASSET] (amount in base units); repeat for several.
    #[arg(long = "to")]
    pub(crate) to: Vec<String>,
    #[arg(long, default_value = "")]
    pub(crate) memo: String,
    /// Override the rule's expiry (e.g. 30m, 24h).
    #[arg(long)]
    pub(crate) expires_in: Option<String>,
    /// Where to write the bundle for signers.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    #[arg(long)]
    pub(crate) armor: bool,
}

#[derive(Subcommand)]
pub(crate) enum MemberCommand {
    /// Make a device key for a member (Ed25519, sealed under a passphrase); prints its public key.
    Keygen {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Argon2 parameters: "default" or "insecure-fast" (tests only).
        #[arg(long, default_value = "default")]
        kdf: String,
    },
    /// Add a member, or give one more role to it.
    Add {
        name: String,
        /// The member's device key (64 hex digits, from `member keygen`).
        #[arg(long)]
        key: String,
        /// proposer, operator or viewer.
        #[arg(long)]
        role: String,
        /// The vault the role is on; `*` for every vault.
        #[arg(long, default_value = "*")]
        vault: String,
    },
    /// Remove a member and all its roles.
    Remove { name: String },
    /// List the members and their roles.
    List,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on. Plain HTTP is served on loopback only, unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:8320")]
    listen: std::net::SocketAddr,
    /// The database the home keeps its state in. A new home (nothing recorded yet) adopts a
    /// postgres:// URL given here; a home with records is moved by `airlock migrate --to`.
    /// Omitted: the home's own (its SQLite file by default).
    #[arg(long)]
    database: Option<String>,
    /// Serve TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP beyond loopback (without TLS, anyone on the path reads what is served).
    #[arg(long)]
    allow_remote: bool,
    /// Most connections open at once.
    #[arg(long, default_value_t = 2048)]
    max_connections: usize,
    /// Signed requests and dashboard writes per member key per second (0: no limit); bursts
    /// of five times as many are let through.
    #[arg(long, default_value_t = 20)]
    member_rate: u32,
    /// Sync every Bitcoin and Monero vault from the configured nodes every SECS seconds (as
    /// `airlock btc sync` / `xmr sync` do, which the home's lock keeps out while serving).
    /// Omitted: an operator syncs one on demand (POST /api/v1/vaults/VAULT/sync).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    sync_every: Option<u64>,
    /// Ask the registered witnesses (`airlock witness add`) to cosign the newest checkpoint
    /// every SECS seconds: verifying witnesses then replay new entries (and act on their
    /// anomaly rules) within one round, and /log/checkpoint carries their cosignatures.
    /// Omitted: witnesses are asked when a bundle leaves.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    witness_every: Option<u64>,
}

#[derive(Subcommand)]
pub(crate) enum LogCommand {
    /// Re-check the whole log: hashes, checkpoints, every transition. With --url, a log
    /// published by `airlock serve` (or a mirror), from its tiles and artifacts alone.
    Verify {
        /// The service's base URL (http:// or https://).
        #[arg(long)]
        url: Option<String>,
        /// The log's key as `airlock id` prints it ("log key"); without it the key the
        /// service names is used, and the output says the key was not pinned.
        #[arg(long, requires = "url")]
        log_key: Option<String>,
        /// A PEM certificate to trust for https (e.g. the service's self-signed one).
        #[arg(long, requires = "url")]
        ca_cert: Option<PathBuf>,
    },
    /// Publish the log into a directory as the service serves it (C2SP tiles, the checkpoint,
    /// every artifact), for a verifying witness on this machine (`airlock-witness log add KEY
    /// --verify-dir DIR`) or a static web server. Incremental; the directory is remembered and
    /// published again before every round of asking the witnesses.
    Publish { dir: PathBuf },
    /// Print (or write) the newest signed checkpoint.
    Checkpoint {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the log's records.
    Show,
}

fn main() {
    airlock_cli_support::reset_sigpipe();
    // Two chain clients (Electrum for Bitcoin, monerod's RPC) bring rustls with different crypto
    // backends; rustls then cannot pick one by itself, so the process chooses aws-lc-rs once.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let json = cli.json;
    exit_with(run(cli), json)
}

/// A coordinator error keeps its severity (alarms exit 3, busy 4).
pub(crate) fn coord_err(e: airlock_coordinator::CoordinatorError) -> CliError {
    CliError::from(e)
}

/// Whether a command changes the coordinator's home (it then runs under the home's lock: one
/// writer at a time, however many processes start). Commands that only read it, or do not use
/// it, return `None`; anything else, chain commands included, is treated as a writer.
fn changes_home(command: &Command) -> Option<&'static str> {
    use transfer_cmd::TransferCommand;
    match command {
        Command::Id
        | Command::Status { .. }
        | Command::Log(
            LogCommand::Verify { .. } | LogCommand::Checkpoint { .. } | LogCommand::Show,
        )
        | Command::Inspect { .. }
        | Command::Bench(_)
        | Command::Metrics(_)
        | Command::Sim(_)
        | Command::Drill(drill_cmd::DrillCommand::Plan(_) | drill_cmd::DrillCommand::List { .. })
        | Command::Qr(_)
        | Command::Frost(_)
        | Command::Vault(
            VaultCommand::List
            | VaultCommand::Show { .. }
            | VaultCommand::State { .. }
            | VaultCommand::Draft(_),
        )
        | Command::Transfer(TransferCommand::Log | TransferCommand::Policy) => None,
        Command::Init { .. } => Some("airlock init"),
        Command::Log(LogCommand::Publish { .. }) => Some("airlock log publish"),
        Command::Vault(_) => Some("airlock vault submit"),
        Command::Propose(_) => Some("airlock propose"),
        Command::Export { .. } => Some("airlock export"),
        Command::Submit { .. } => Some("airlock submit"),
        Command::Finalize { .. } => Some("airlock finalize"),
        Command::Abandon { .. } => Some("airlock abandon"),
        Command::Broadcast { .. } => Some("airlock broadcast"),
        Command::Confirm { .. } => Some("airlock confirm"),
        Command::Serve(_) => Some("airlock serve"),
        Command::Migrate { .. } => Some("airlock migrate"),
        Command::Recover { .. } => Some("airlock recover"),
        // Members live in the database (one transaction per change), so they can be managed
        // while `airlock serve` holds the home.
        Command::Member(_) | Command::Login { .. } => None,
        Command::Transfer(_) => Some("airlock transfer"),
        Command::Chain(_) => Some("airlock chain"),
        Command::Eth(_) => Some("airlock eth"),
        Command::Btc(_) => Some("airlock btc"),
        Command::Witness(witness_cmd::WitnessCommand::Add { .. }) => Some("airlock witness add"),
        // Reads the home; the witnesses' state is theirs.
        Command::Witness(_) => None,
        Command::Halt(halt_cmd::HaltCommand::List { .. }) => None,
        Command::Halt(_) => Some("airlock halt"),
        Command::Xmr(_) => Some("airlock xmr"),
        Command::Drill(_) => Some("airlock drill run"),
    }
}

/// A release bundle's checkpoint with the home's witnesses' cosignatures (signers of a vault
/// with witnesses check them on releases too).
fn witness_release(
    c: &Coordinator,
    home: &Path,
    bundle: &mut airlock_core::artifacts::ReleaseBundle,
) -> CliResult {
    let (note, outcomes) = airlock_service::witnesses::witness_note(
        c,
        home,
        bundle.evidence.tree_size,
        &bundle.evidence.checkpoint,
    )?;
    witness_cmd::report(&outcomes);
    bundle.evidence.checkpoint = note;
    Ok(())
}

/// A vault's witness policy from `--witness` keys and `--witness-threshold` (default: all).
fn witness_policy(
    keys: &[String],
    threshold: Option<u32>,
) -> CliResult<airlock_core::vault::WitnessPolicy> {
    let witnesses = keys
        .iter()
        .map(|k| {
            let v = airlock_log::witness::WitnessVerifier::from_vkey(k)
                .map_err(|e| CliError::new(format!("--witness: {e}")))?;
            Ok(airlock_core::vault::WitnessKey {
                name: v.name().to_owned(),
                key: airlock_core::PublicKey(v.public_key()),
            })
        })
        .collect::<CliResult<Vec<_>>>()?;
    Ok(airlock_core::vault::WitnessPolicy {
        threshold: threshold.unwrap_or(witnesses.len() as u32),
        witnesses,
    })
}

fn open(home: &Path) -> CliResult<Coordinator> {
    Ok(CoordinatorHome::open(home)?.coordinator()?)
}

/// After a sync: commits the vault's chain state to the log when it changed
/// (`Coordinator::commit_state`) and says so on stderr.
fn commit_state(
    home: &Path,
    vault: &str,
) -> CliResult<Option<airlock_coordinator::commitments::StateCommitted>> {
    let committed = open(home)?.commit_state(vault, now()?)?;
    if let Some(c) = &committed {
        eprintln!(
            "state of {vault} at height {}: root {} over {} leaves ({})",
            c.height,
            &c.root[..16],
            c.leaves,
            if c.new {
                "committed to the log"
            } else {
                "unchanged since the last commitment"
            }
        );
    }
    Ok(committed)
}

fn run(cli: Cli) -> CliResult {
    let json = cli.json;
    if let Some(server) = &cli.server
        && !matches!(cli.command, Command::Serve(_))
    {
        return remote_cmd::run(
            server,
            cli.server_ca.as_deref(),
            cli.member_key.as_deref(),
            json,
            cli.command,
        );
    }
    // One writer per home, from before the first read a command validates to after its commit.
    let _home_lock = airlock_cli_support::lock_home(
        &cli.home,
        matches!(cli.command, Command::Init { .. }),
        changes_home(&cli.command),
    )?;
    match cli.command {
        Command::Init { origin } => {
            let home = CoordinatorHome::init(&cli.home, origin.as_deref(), now()?)?;
            let c = home.coordinator()?;
            if json {
                print_json(
                    &json!({ "home": cli.home, "origin": c.origin(), "identity": c.public_key().to_hex(), "log_key": c.log_verifier().vkey() }),
                );
            } else {
                println!("Coordinator initialized in {}", cli.home.display());
                println!("identity   {}", c.public_key());
                println!("log origin {}", c.origin());
                println!("log key    {}", c.log_verifier().vkey());
            }
            Ok(())
        }
        Command::Id => {
            let c = open(&cli.home)?;
            if json {
                print_json(
                    &json!({ "origin": c.origin(), "identity": c.public_key().to_hex(), "log_key": c.log_verifier().vkey() }),
                );
            } else {
                println!("identity   {}", c.public_key());
                println!("log origin {}", c.origin());
                println!("log key    {}", c.log_verifier().vkey());
            }
            Ok(())
        }
        Command::Vault(v) => vault(&cli.home, json, v),
        Command::Propose(args) => propose(&cli.home, json, args),
        Command::Export {
            proposals,
            open: open_vault,
            undecided_by,
            out,
            since,
            armor,
        } => {
            let mut c = open(&cli.home)?;
            if proposals.len() != 1 {
                return export_batch(
                    &mut c,
                    &cli.home,
                    json,
                    &proposals,
                    open_vault.as_deref().map(|v| (v, undecided_by.as_deref())),
                    &out,
                    &since,
                    armor,
                );
            }
            let id = c.resolve(&proposals[0])?;
            if c.proposal_state(&id)?.abandoned.is_some() {
                let mut bundle = c.release_bundle(&id, &since)?;
                witness_release(&c, &cli.home, &mut bundle)?;
                write_release(&cli.home, &bundle, &out, armor)?;
                if json {
                    print_json(
                        &json!({ "proposal": id.to_hex(), "release_bundle": out, "tree_size": bundle.evidence.tree_size }),
                    );
                } else {
                    println!(
                        "Proposal {} was abandoned: wrote its release bundle to {} (signers: `airlock-signer release`)",
                        id.short(),
                        out.display()
                    );
                }
                return Ok(());
            }
            let (env, witnessed) =
                airlock_service::witnesses::export_bundle(&mut c, &cli.home, &id, &since)?;
            let bundle: airlock_core::ProposalBundle = env.open()?;
            write_envelope(&out, &env, armor)?;
            if json {
                print_json(
                    &json!({ "proposal": id.to_hex(), "bundle": out, "tree_size": bundle.evidence.tree_size, "witnesses": witnessed }),
                );
            } else {
                witness_cmd::report(&witnessed);
                println!(
                    "Wrote the bundle of proposal {} to {}",
                    id.short(),
                    out.display()
                );
            }
            Ok(())
        }
        Command::Submit { files } => submit(&cli.home, json, files),
        Command::Status { proposal, vault } => status(&cli.home, json, proposal, vault),
        Command::Finalize { proposal, out } => {
            let mut c = open(&cli.home)?;
            let id = c.resolve(&proposal)?;
            let (fid, record) = c.finalize(&id, now()?)?;
            if let Some(out) = &out {
                write_envelope(out, &c.envelope(&fid)?, false)?;
            }
            if json {
                print_json(
                    &json!({ "proposal": id.to_hex(), "finalized": fid.to_hex(), "txid": record.txid, "approvals": record.approvals.iter().map(|a| a.to_hex()).collect::<Vec<_>>() }),
                );
            } else {
                println!(
                    "Proposal {} finalized (record {}) with {} approval(s)",
                    id.short(),
                    fid.short(),
                    record.approvals.len()
                );
                if !record.txid.is_empty() {
                    println!("txid {}", record.txid);
                }
            }
            Ok(())
        }
        Command::Abandon {
            proposal,
            reason,
            out,
            armor,
        } => {
            let mut c = open(&cli.home)?;
            let id = c.resolve(&proposal)?;
            let event = c.abandon(&id, &reason, now()?)?;
            if let Some(out) = &out {
                let mut bundle = c.release_bundle(&id, &[])?;
                witness_release(&c, &cli.home, &mut bundle)?;
                write_release(&cli.home, &bundle, out, armor)?;
            }
            if json {
                print_json(
                    &json!({ "proposal": id.to_hex(), "abandoned": event.detail, "release_bundle": out }),
                );
            } else {
                println!("Proposal {} abandoned: {}", id.short(), event.detail);
                match &out {
                    Some(out) => println!(
                        "Release bundle written to {}: each signer that approved it runs `airlock-signer release {}`",
                        out.display(),
                        out.display()
                    ),
                    None => println!(
                        "Signers that approved it need its release bundle: `airlock export {} --out FILE`",
                        id.short()
                    ),
                }
            }
            Ok(())
        }
        Command::Broadcast { proposal } => {
            let mut c = open(&cli.home)?;
            let id = c.resolve(&proposal)?;
            let event = c.broadcast(&id, now()?)?;
            if json {
                print_json(&json!({ "proposal": id.to_hex(), "broadcast": event.detail }));
            } else {
                println!("Broadcast {}", event.detail);
            }
            Ok(())
        }
        Command::Confirm {
            proposal,
            confirmations,
        } => {
            let mut c = open(&cli.home)?;
            let id = c.resolve(&proposal)?;
            let event = c.check_confirmation(&id, now()?, confirmations)?;
            let status = c.proposal_state(&id)?.status(now()?);
            let of = |kind: EventKind| {
                event
                    .as_ref()
                    .filter(|e| e.kind == kind)
                    .map(|e| e.detail.clone())
            };
            if json {
                print_json(&json!({
                    "proposal": id.to_hex(),
                    "status": status.to_string(),
                    "confirmed": of(EventKind::Confirmed),
                    "reorged": of(EventKind::Reorged),
                }));
            } else {
                match (&event, status) {
                    (Some(e), _) if e.kind == EventKind::Reorged => println!(
                        "REORGANIZED: {}. Proposal {} is broadcast again: `airlock broadcast {}` re-sends it.",
                        e.detail,
                        id.short(),
                        id.short()
                    ),
                    (Some(e), _) => println!("Confirmed: {}", e.detail),
                    (None, Status::Confirmed) => println!("Still confirmed"),
                    (None, _) => {
                        println!("Not confirmed yet (waiting for {confirmations} confirmation(s))")
                    }
                }
            }
            Ok(())
        }
        Command::Log(l) => log(&cli.home, json, l),
        Command::Serve(args) => serve(&cli.home, json, args),
        Command::Migrate { to } => migrate(&cli.home, json, &to),
        Command::Recover { from_log, ca_cert } => recover(&cli.home, json, &from_log, ca_cert),
        Command::Metrics(args) => metrics_cmd::run(&cli.home, json, args),
        Command::Sim(args) => sim_cmd::run(json, args),
        Command::Drill(d) => drill_cmd::run(&cli.home, json, d),
        Command::Member(m) => member(&cli.home, json, m),
        Command::Login { .. } => Err(CliError::new(
            "login signs a dashboard in: give --server URL and --member-key FILE",
        )),
        Command::Inspect { file } => {
            let env = read_envelope(&file)?;
            let known = CoordinatorHome::open(&cli.home)
                .ok()
                .and_then(|h| h.coordinator().ok())
                .map(|c| c.known_keys())
                .unwrap_or_default();
            if json {
                print_json(&envelope_json(&env, &known));
            } else {
                print!("{}", inspect_text(&env, &known));
            }
            Ok(())
        }
        Command::Bench(args) => bench::run(args, json),
        Command::Transfer(t) => transfer_cmd::run(&cli.home, json, t),
        Command::Qr(q) => qr_cmd::run(json, q),
        Command::Chain(c) => eth_cmd::run_chain(&cli.home, json, c),
        Command::Eth(e) => eth_cmd::run_eth(&cli.home, json, e),
        Command::Btc(b) => btc_cmd::run(&cli.home, json, b),
        Command::Witness(w) => witness_cmd::run(&cli.home, json, w),
        Command::Halt(h) => halt_cmd::run(&cli.home, json, h),
        Command::Xmr(x) => xmr_cmd::run(&cli.home, json, x),
        Command::Frost(f) => frost_cmd::run(json, f),
    }
}

/// Writes a release bundle, signed by the coordinator like a proposal bundle.
fn write_release(
    home: &Path,
    bundle: &airlock_core::ReleaseBundle,
    out: &Path,
    armor: bool,
) -> CliResult {
    let mut env = bundle.envelope();
    env.sign(&identity_signing(home)?);
    write_envelope(out, &env, armor)
}

fn identity_signing(home: &Path) -> CliResult<ed25519_dalek::SigningKey> {
    Ok(CoordinatorHome::open(home)?
        .identity()?
        .signing_key()
        .clone())
}

fn parse_signer(spec: &str) -> CliResult<SignerEntry> {
    let mut parts: Vec<&str> = spec.split(':').collect();
    // A FROST member's chain key is itself `frost:<number>:<verifying share>`.
    let frost_key = (parts.len() >= 6 && parts[3] == "frost").then(|| parts[3..6].join(":"));
    if let Some(key) = &frost_key {
        let custody = parts.get(6).copied();
        parts.truncate(3);
        parts.push(key.as_str());
        parts.push(custody.unwrap_or("frost"));
    }
    if parts.len() < 3 || parts.len() > 5 {
        return Err(CliError::new(format!(
            "signer {spec:?} is not NAME:ROLE:IDENTITY_KEY_HEX[:CHAIN_KEY[:keystore|hsm|device|frost]]"
        )));
    }
    Ok(SignerEntry {
        name: parts[0].to_owned(),
        role: parts[1].to_owned(),
        identity: PublicKey::from_hex(parts[2])
            .map_err(|e| CliError::new(format!("signer {:?}: {e}", parts[0])))?,
        chain_key: parts.get(3).map(|s| s.to_string()).unwrap_or_default(),
        custody: parts
            .get(4)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "keystore".into()),
    })
}

fn vault(home: &Path, json: bool, cmd: VaultCommand) -> CliResult {
    match cmd {
        VaultCommand::Draft(a) => {
            let c = open(home)?;
            let current = c.vault_latest(&a.vault).ok().map(|(d, _)| d);
            let mut signers = match (&current, a.signers.is_empty()) {
                (_, false) => a
                    .signers
                    .iter()
                    .map(|s| parse_signer(s))
                    .collect::<CliResult<Vec<_>>>()?,
                (Some(cur), true) => cur.signers.clone(),
                (None, true) => {
                    return Err(CliError::new(
                        "a new vault needs --signer NAME:ROLE:KEY (one per signer)",
                    ));
                }
            };
            for name in &a.remove_signers {
                let before = signers.len();
                signers.retain(|s| &s.name != name);
                if signers.len() == before {
                    return Err(CliError::new(format!(
                        "--remove-signer {name}: no such signer"
                    )));
                }
            }
            for s in &a.add_signers {
                signers.push(parse_signer(s)?);
            }
            let rules = if a.rules.is_empty() {
                match &current {
                    Some(cur) => cur.rules.clone(),
                    None => {
                        let t = a.threshold.unwrap_or(1);
                        vec![parse_rule(&format!("default: => {t} any"))?]
                    }
                }
            } else {
                a.rules
                    .iter()
                    .map(|r| parse_rule(r))
                    .collect::<Result<Vec<_>, _>>()?
            };
            let draft = VaultDraft {
                vault_id: a.vault.clone(),
                chain: a
                    .chain
                    .or_else(|| current.as_ref().map(|c| c.chain.clone()))
                    .unwrap_or_else(|| "none".into()),
                network: a
                    .network
                    .or_else(|| current.as_ref().map(|c| c.network.clone()))
                    .unwrap_or_else(|| "main".into()),
                account: a
                    .account
                    .or_else(|| current.as_ref().map(|c| c.account.clone()))
                    .unwrap_or_default(),
                threshold: a
                    .threshold
                    .or_else(|| current.as_ref().map(|c| c.threshold))
                    .unwrap_or(1),
                signers,
                rules,
                witnesses: if a.no_witnesses {
                    Default::default()
                } else if a.witnesses.is_empty() {
                    current
                        .as_ref()
                        .map(|c| c.witnesses.clone())
                        .unwrap_or_default()
                } else {
                    witness_policy(&a.witnesses, a.witness_threshold)?
                },
            };
            let env = c.draft_vault(draft, now()?)?;
            let def: airlock_core::VaultDefinition = env.open()?;
            // What every signer will be shown as a warning (exceptions the account allows).
            let warnings = airlock_coordinator::chains::validate_vault(&def)?;
            write_envelope(&a.out, &env, a.armor)?;
            if json {
                print_json(
                    &json!({ "draft": env.id().to_hex(), "vault": def.vault_id, "version": def.version, "out": a.out, "warnings": warnings }),
                );
            } else {
                for w in &warnings {
                    println!("WARNING {w}");
                }
                println!(
                    "Drafted vault {} version {} ({}) -> {}",
                    def.vault_id,
                    def.version,
                    env.id().short(),
                    a.out.display()
                );
                println!(
                    "Each signer reviews and signs it (`airlock-signer vault sign`); then `airlock vault submit` the signed copies."
                );
            }
            Ok(())
        }
        VaultCommand::Submit { files } => {
            let mut c = open(home)?;
            let copies = files
                .iter()
                .map(|f| read_signed_envelope(f))
                .collect::<CliResult<Vec<_>>>()?;
            let (def, id) = c.submit_vault(&copies, now()?)?;
            if json {
                print_json(
                    &json!({ "vault": def.vault_id, "version": def.version, "id": id.to_hex() }),
                );
            } else {
                println!(
                    "Vault {} version {} is active ({})",
                    def.vault_id,
                    def.version,
                    id.short()
                );
                println!(
                    "Give the signed definition to every signer: `airlock vault show {} --out FILE`, then `airlock-signer vault register FILE`.",
                    def.vault_id
                );
            }
            Ok(())
        }
        VaultCommand::List => {
            let c = open(home)?;
            let mut rows = Vec::new();
            for id in c.vault_ids()? {
                let (def, env) = c.vault_latest(&id)?;
                rows.push(airlock_coordinator::report::vault_row(&def, &env));
            }
            print_vault_rows(&rows, json);
            Ok(())
        }
        VaultCommand::Show {
            vault,
            version,
            out,
            armor,
        } => {
            let c = open(home)?;
            let (def, env) = match version {
                Some(v) => c.vault_version(&vault, v)?,
                None => c.vault_latest(&vault)?,
            };
            if let Some(out) = &out {
                write_envelope(out, &env, armor)?;
            }
            if json {
                print_json(&envelope_json(&env, &c.known_keys()));
            } else {
                print!("{}", airlock_signer_free_describe(&def));
                println!("id {}", env.id());
                if let Some(out) = out {
                    println!("written to {}", out.display());
                }
            }
            Ok(())
        }
        VaultCommand::State { vault } => {
            let c = open(home)?;
            c.vault_latest(&vault)?;
            let Some((id, state)) = c.latest_commitment(&vault)? else {
                return Err(CliError::new(format!(
                    "vault {vault:?} has no state commitment yet: sync it (`airlock btc|xmr|eth sync --vault {vault}`)"
                )));
            };
            if json {
                print_json(&json!({
                    "id": id.to_hex(), "vault": state.vault_id, "vault_version": state.vault_version,
                    "chain": state.chain, "height": state.height, "block": state.block,
                    "root": hex::encode(state.root), "leaves": state.leaves, "created": state.created,
                }));
            } else {
                println!(
                    "{} v{} ({}) at height {} block {}\nroot {} over {} leaves (commitment {})",
                    state.vault_id,
                    state.vault_version,
                    state.chain,
                    state.height,
                    if state.block.is_empty() {
                        "?"
                    } else {
                        &state.block
                    },
                    hex::encode(state.root),
                    state.leaves.len(),
                    id
                );
                for leaf in &state.leaves {
                    println!("  {leaf}");
                }
            }
            Ok(())
        }
    }
}

/// Prints vaults (as `report::vault_row` describes them): the same from a home and `--server`.
pub(crate) fn print_vault_rows(rows: &[serde_json::Value], json: bool) {
    if json {
        print_json(&json!(rows));
    } else if rows.is_empty() {
        println!("No vaults yet (`airlock vault draft`).");
    } else {
        for r in rows {
            println!(
                "{:<16} v{:<3} {} ({})  {} signers, threshold {}",
                r["vault"].as_str().unwrap_or(""),
                r["version"],
                r["chain"].as_str().unwrap_or(""),
                r["network"].as_str().unwrap_or(""),
                r["signers"],
                r["threshold"]
            );
        }
    }
}

/// A vault version for people (the coordinator's view).
fn airlock_signer_free_describe(def: &airlock_core::VaultDefinition) -> String {
    let mut t = format!(
        "VAULT {} version {} — chain {} ({}), created {}\n",
        def.vault_id,
        def.version,
        def.chain,
        def.network,
        format_time(def.created)
    );
    t.push_str(&format!(
        "SIGNERS (vault changes need {} of {})\n",
        def.threshold,
        def.signers.len()
    ));
    for s in &def.signers {
        t.push_str(&format!(
            "  {:<12} role {:<12} key {} ({})\n",
            s.name, s.role, s.identity, s.custody
        ));
    }
    t.push_str("RULES (first match applies)\n");
    for r in &def.rules {
        t.push_str(&format!("  {}\n", describe_rule(r)));
    }
    t
}

pub(crate) fn parse_transfer(spec: &str) -> CliResult<Transfer> {
    // The destination may itself contain ':' (URIs); amount and asset are taken from the right.
    let mut parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    parts.reverse();
    let (destination, amount, asset) = match parts.as_slice() {
        [d, a] => (*d, *a, ""),
        [d, a, asset] if a.parse::<u128>().is_ok() => (*d, *a, *asset),
        [d1, d2, a] => {
            return Ok(Transfer {
                destination: format!("{d1}:{d2}"),
                amount: a
                    .parse()
                    .map_err(|_| CliError::new(format!("--to {spec:?}: {a:?} is not an amount")))?,
                asset: String::new(),
            });
        }
        _ => {
            return Err(CliError::new(format!(
                "--to {spec:?} is not DESTINATION:AMOUNT[:ASSET]"
            )));
        }
    };
    if destination.is_empty() {
        return Err(CliError::new(format!("--to {spec:?} has no destination")));
    }
    Ok(Transfer {
        destination: destination.to_owned(),
        amount: amount.parse().map_err(|_| {
            CliError::new(format!(
                "--to {spec:?}: {amount:?} is not an amount in base units"
            ))
        })?,
        asset: asset.to_owned(),
    })
}

fn propose(home: &Path, json: bool, a: ProposeArgs) -> CliResult {
    let mut c = open(home)?;
    let transfers =
        a.to.iter()
            .map(|t| parse_transfer(t))
            .collect::<CliResult<Vec<_>>>()?;
    let expires_in = a.expires_in.as_deref().map(parse_duration).transpose()?;
    let id = c.propose(
        &a.vault,
        Intent {
            transfers,
            memo: a.memo,
        },
        expires_in,
        now()?,
    )?;
    let state = c.proposal_state(&id)?;
    if let Some(out) = &a.out {
        let (env, witnessed) = airlock_service::witnesses::export_bundle(&mut c, home, &id, &[])?;
        witness_cmd::report(&witnessed);
        write_envelope(out, &env, a.armor)?;
    }
    if json {
        print_json(
            &json!({ "proposal": id.to_hex(), "rule": state.rule.name, "expires": state.proposal.expires, "bundle": a.out }),
        );
    } else {
        println!(
            "Proposal {} under vault {} v{}",
            id, state.vault.vault_id, state.vault.version
        );
        println!("rule {} — {}", state.rule.name, describe_rule(&state.rule));
        println!("expires {}", format_time(state.proposal.expires));
        if let Some(out) = a.out {
            println!("bundle for signers: {}", out.display());
        }
    }
    Ok(())
}

/// `airlock export` of several proposals (or every open one of a vault) as one batch.
#[allow(clippy::too_many_arguments)]
fn export_batch(
    c: &mut Coordinator,
    home: &Path,
    json: bool,
    proposals: &[String],
    open_vault: Option<(&str, Option<&str>)>,
    out: &Path,
    since: &[u64],
    armor: bool,
) -> CliResult {
    let now = now()?;
    let ids: Vec<airlock_core::ArtifactId> = match open_vault {
        Some((vault, undecided_by)) => {
            let newest = c.vault_latest(vault)?.0;
            if let Some(name) = undecided_by
                && !newest.signers.iter().any(|s| s.name == name)
            {
                return Err(CliError::new(format!(
                    "{name:?} is not a signer of vault {vault:?} v{}",
                    newest.version
                )));
            }
            let open: Vec<_> = c
                .proposals(Some(vault))?
                .into_iter()
                .filter(|s| {
                    let tally = s.tally();
                    matches!(
                        s.status(now),
                        airlock_core::lifecycle::Status::Collecting
                            | airlock_core::lifecycle::Status::Ready
                    ) && s.vault.version == newest.version
                        && undecided_by.is_none_or(|name| {
                            !tally.approved.iter().any(|a| a == name)
                                && !tally.rejected.iter().any(|(r, _)| r == name)
                        })
                })
                .map(|s| s.id)
                .collect();
            if open.is_empty() {
                return Err(CliError::new(format!(
                    "vault {vault:?} has no proposal open for decisions under its newest version{}",
                    undecided_by
                        .map(|n| format!(" that {n} has not decided"))
                        .unwrap_or_default()
                )));
            }
            open
        }
        None => proposals
            .iter()
            .map(|p| c.resolve(p))
            .collect::<Result<_, _>>()?,
    };
    let (env, witnessed) = airlock_service::witnesses::export_batch(c, home, &ids, since, now)?;
    let batch: airlock_core::ProposalBatch = env.open()?;
    write_envelope(out, &env, armor)?;
    if json {
        print_json(&json!({
            "batch": out, "items": ids.len(), "tree_size": batch.tree_size,
            "proposals": ids.iter().map(|i| i.to_hex()).collect::<Vec<_>>(),
            "witnesses": witnessed,
        }));
    } else {
        witness_cmd::report(&witnessed);
        println!(
            "Wrote a batch of {} proposal(s) to {} (signers: `airlock-signer approve {}`)",
            ids.len(),
            out.display(),
            out.display()
        );
    }
    Ok(())
}

fn submit(home: &Path, json: bool, files: Vec<PathBuf>) -> CliResult {
    if files.is_empty() {
        return Err(CliError::new(
            "give one or more approval or rejection files",
        ));
    }
    let mut c = open(home)?;
    let mut results = Vec::new();
    // Read and decode every file (a decision batch gives each of its decisions), then check all
    // decisions before recording any: they are recorded in one transaction, or none is.
    let mut envs = Vec::new();
    let mut sources = Vec::new();
    for file in &files {
        let env = read_signed_envelope(file)?;
        if env.kind() == Some(airlock_core::ArtifactKind::DecisionBatch) {
            let batch: airlock_core::DecisionBatch =
                env.open().map_err(CliError::context(file.display()))?;
            for (n, bytes) in batch.decisions.iter().enumerate() {
                let item = airlock_core::Envelope::from_bytes(bytes).map_err(CliError::context(
                    format!("{} decision {}", file.display(), n + 1),
                ))?;
                if let Some(bad) = item.check_signatures().into_iter().find(|c| !c.valid) {
                    return Err(CliError::new(format!(
                        "{} decision {}: the signature by key {} does not verify",
                        file.display(),
                        n + 1,
                        bad.key
                    )));
                }
                envs.push(item);
                sources.push(file.clone());
            }
        } else {
            envs.push(env);
            sources.push(file.clone());
        }
    }
    let outcomes = c.submit_decisions(&envs, now()?).map_err(coord_err)?;
    for ((file, env), (id, status)) in sources.iter().zip(&envs).zip(outcomes) {
        let approval: airlock_core::Approval = env.open()?;
        results.push(json!({ "file": file, "id": id.to_hex(), "proposal": approval.proposal.to_hex(), "decision": approval.decision.as_str(), "status": status.as_str() }));
        if !json {
            println!(
                "Accepted {} {} for proposal {}: now {}",
                approval.decision.as_str(),
                id.short(),
                approval.proposal.short(),
                status
            );
        }
    }
    if json {
        print_json(&json!(results));
    }
    Ok(())
}

fn status(home: &Path, json: bool, proposal: Option<String>, vault: Option<String>) -> CliResult {
    let c = open(home)?;
    let now = now()?;
    let states = match proposal {
        Some(p) => vec![c.proposal_state(&c.resolve(&p)?)?],
        None => c.proposals(vault.as_deref())?,
    };
    if json {
        print_json(&json!(
            states
                .iter()
                .map(|s| airlock_coordinator::report::proposal_json(s, now))
                .collect::<Vec<_>>()
        ));
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = states
        .iter()
        .map(|s| airlock_coordinator::report::proposal_json(s, now))
        .collect();
    print_status_rows(&rows);
    Ok(())
}

/// Prints proposals (as `report::proposal_json` describes them) for people: the same text from
/// a local home and from `--server`.
pub(crate) fn print_status_rows(rows: &[serde_json::Value]) {
    if rows.is_empty() {
        println!("No proposals.");
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let names = |v: &serde_json::Value| {
        v.as_array()
            .map(|a| a.iter().map(text).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    for r in rows {
        let transfers = r["transfers"].as_array().cloned().unwrap_or_default();
        let total: u128 = transfers
            .iter()
            .map(|t| match &t["amount"] {
                serde_json::Value::Number(n) => n.as_u64().map(u128::from).unwrap_or(0),
                serde_json::Value::String(s) => s.parse().unwrap_or(0),
                _ => 0,
            })
            .sum();
        let status = text(&r["status"]);
        println!(
            "{}  {:<10} vault {} v{}  rule {}  {} to {}",
            text(&r["proposal"]).chars().take(12).collect::<String>(),
            status.to_uppercase(),
            text(&r["vault"]),
            r["vault_version"],
            text(&r["rule"]),
            total,
            transfers
                .iter()
                .map(|t| text(&t["destination"]))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let approved = names(&r["approved"]);
        println!(
            "    approved:  {}",
            if approved.is_empty() {
                "-".into()
            } else {
                approved.join(", ")
            }
        );
        for rejection in r["rejected"].as_array().into_iter().flatten() {
            println!(
                "    rejected:  {} — {}",
                text(&rejection["signer"]),
                text(&rejection["reason"])
            );
        }
        let missing = r["missing"].as_array().cloned().unwrap_or_default();
        if !missing.is_empty() && (status == "collecting" || status == "ready") {
            let gaps: Vec<airlock_core::lifecycle::Gap> = missing
                .iter()
                .map(|g| airlock_core::lifecycle::Gap {
                    role: text(&g["role"]),
                    needed: g["needed"].as_u64().unwrap_or(0) as u32,
                    have: g["have"].as_u64().unwrap_or(0) as u32,
                })
                .collect();
            println!("    missing:   {}", describe_gaps(&gaps));
            println!("    undecided: {}", names(&r["undecided"]).join(", "));
        }
        if let Some(expires) = r["expires"].as_u64() {
            println!("    expires:   {}", format_time(expires));
        }
    }
}

fn member(home: &Path, json: bool, cmd: MemberCommand) -> CliResult {
    use airlock_coordinator::members::{Grant, Role};
    if let MemberCommand::Keygen {
        out,
        passphrase_file,
        kdf,
    } = &cmd
    {
        let params = match kdf.as_str() {
            "default" => airlock_custody::KdfParams::DEFAULT,
            "insecure-fast" => airlock_custody::KdfParams::INSECURE_FAST,
            other => {
                return Err(CliError::new(format!(
                    "--kdf {other:?}: give default or insecure-fast"
                )));
            }
        };
        if out.exists() {
            return Err(CliError::new(format!(
                "{} exists; refusing to overwrite a key",
                out.display()
            )));
        }
        let pass = airlock_cli_support::passphrase(passphrase_file.as_deref(), true)?;
        let key = airlock_custody::IdentityKey::generate();
        airlock_custody::save_encrypted_identity(out, &key, &pass, params)?;
        let public = hex::encode(key.verifying_key().to_bytes());
        if json {
            print_json(&json!({ "key": public, "file": out }));
        } else {
            println!("Member key {public} sealed in {}", out.display());
            println!(
                "The service's operator adds it: `airlock member add NAME --key {public} --role proposer --vault VAULT`"
            );
        }
        return Ok(());
    }
    let mut c = open(home)?;
    match cmd {
        MemberCommand::Keygen { .. } => unreachable!("handled above"),
        MemberCommand::Add {
            name,
            key,
            role,
            vault,
        } => {
            let key = PublicKey::from_hex(&key)?;
            let member = c.grant(
                &name,
                key,
                Grant {
                    vault,
                    role: Role::parse(&role)?,
                },
            )?;
            if json {
                print_json(&member.to_json());
            } else {
                println!(
                    "Member {} ({}): {}",
                    member.name,
                    member.key.short(),
                    member
                        .grants
                        .iter()
                        .map(|g| format!("{} on {}", g.role.as_str(), g.vault))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        MemberCommand::Remove { name } => {
            c.remove_member(&name)?;
            if json {
                print_json(&json!({ "removed": name }));
            } else {
                println!("Member {name} removed");
            }
        }
        MemberCommand::List => {
            let members = c.members()?;
            if json {
                print_json(&json!(
                    members.iter().map(|m| m.to_json()).collect::<Vec<_>>()
                ));
            } else if members.is_empty() {
                println!("No members (`airlock member add`).");
            }
            for m in members.iter().filter(|_| !json) {
                println!(
                    "{:<16} {}  {}",
                    m.name,
                    m.key.to_hex(),
                    m.grants
                        .iter()
                        .map(|g| format!("{} on {}", g.role.as_str(), g.vault))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    Ok(())
}

fn serve(home: &Path, json: bool, args: ServeArgs) -> CliResult {
    let mut opened = CoordinatorHome::open(home)?;
    if let Some(db) = &args.database
        && opened.config.database.is_none()
        && airlock_coordinator::pgstore::is_postgres_url(db)
        && home_is_empty(&opened)?
    {
        // A new home adopts the database it is told to serve (there is nothing to move; the
        // same checks as `airlock migrate` run, and coordinator.json names it from now on).
        opened.migrate_to_postgres(db, &mut |step| eprintln!("{step}..."))?;
        eprintln!(
            "This home now keeps its state in {}",
            opened.database_label()
        );
    }
    if let Some(db) = &args.database {
        let same = match &opened.config.database {
            Some(url) => url == db,
            None => db
                .strip_prefix("sqlite:")
                .map(|p| Path::new(p.trim_start_matches("//")) == opened.database_path())
                .unwrap_or(false),
        };
        if !same {
            let hint = if airlock_coordinator::pgstore::is_postgres_url(db) {
                format!(
                    " (to move it there: airlock --home {} migrate --to URL)",
                    home.display()
                )
            } else {
                String::new()
            };
            return Err(CliError::new(format!(
                "--database {}: this home keeps its state in {}{hint}",
                airlock_coordinator::pgstore::redacted(db),
                opened.database_label()
            )));
        }
    }
    let database = opened.database_label();
    let config = airlock_service::ServeConfig {
        home: home.to_path_buf(),
        listen: args.listen,
        allow_remote: args.allow_remote,
        tls: args
            .tls_cert
            .zip(args.tls_key)
            .map(|(cert, key)| airlock_service::TlsFiles { cert, key }),
        limits: airlock_service::Limits {
            max_connections: args.max_connections,
            member_rate: args.member_rate,
            member_burst: args.member_rate.saturating_mul(5),
            ..airlock_service::Limits::default()
        },
        sync_every: args.sync_every.map(std::time::Duration::from_secs),
        witness_every: args.witness_every.map(std::time::Duration::from_secs),
    };
    airlock_service::init_logging();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    airlock_service::run(config, |addr| {
        if json {
            // One line, so a supervisor or test can read where the service listens.
            println!("{}", json!({ "listening": format!("{scheme}://{addr}") }));
        } else {
            println!(
                "Serving {} ({database}) on {scheme}://{addr} (SIGTERM or Ctrl-C stops it gracefully)",
                home.display()
            );
        }
    })?;
    if !json {
        println!("Stopped.");
    }
    Ok(())
}

/// Whether a home on SQLite has recorded nothing yet (no log entry, no member).
fn home_is_empty(home: &CoordinatorHome) -> CliResult<bool> {
    let c = home.coordinator()?;
    Ok(c.store().log_size()? == 0 && c.store().members()?.is_empty())
}

fn migrate(home: &Path, json: bool, url: &str) -> CliResult {
    let mut opened = CoordinatorHome::open(home)?;
    let report = opened.migrate_to_postgres(url, &mut |step| eprintln!("{step}..."))?;
    let database = opened.database_label();
    if json {
        print_json(&json!({
            "database": database,
            "size": report.size,
            "root": report.root,
            "checkpoints": report.checkpoints,
        }));
    } else {
        println!(
            "Migrated to {database}: {} records, root {}, {} checkpoints, verified identical",
            report.size, report.root, report.checkpoints
        );
        println!(
            "  {} is kept as it was and no longer used; every command and `airlock serve` on this home now use PostgreSQL",
            opened.database_path().display()
        );
    }
    Ok(())
}

/// A published log's location: a URL as given, or a directory as `file:///ABSOLUTE`.
fn published_url(at: &str) -> CliResult<String> {
    if at.contains("://") {
        return Ok(at.to_owned());
    }
    let dir = std::path::absolute(at).map_err(|e| CliError::new(format!("{at}: {e}")))?;
    Ok(format!("file://{}", dir.display()))
}

/// `airlock recover`: verify the published log with this home's own key, then write it into the
/// home's empty database; nothing is written (not even an empty database) when anything fails.
fn recover(home: &Path, json: bool, from: &str, ca_cert: Option<PathBuf>) -> CliResult {
    let coordinator_home = CoordinatorHome::open(home)?;
    let database = coordinator_home.database_path();
    let had_database = database.exists();
    let result = (|| -> CliResult<serde_json::Value> {
        let mut c = coordinator_home.coordinator()?;
        let held = c.store().log_size()?;
        if held != 0 {
            return Err(CliError::new(format!(
                "this home's database already holds {held} log entries: recover only into an empty one (move {} aside first)",
                database.display()
            )));
        }
        let options = airlock_service::RemoteOptions {
            url: published_url(from)?,
            log_key: Some(c.log_verifier().vkey()),
            ca_cert,
        };
        let verified =
            airlock_service::remote::verify_and_keep(&options, &mut |line| eprintln!("{line}"))?;
        let (size, note) = c.restore_log(&verified.leaves, &verified.artifacts)?;
        let local = c.verify_log()?;
        let published = &verified.report.log;
        if local.size != published.size || local.root != published.root {
            return Err(CliError::new(format!(
                "the rebuilt log ({} entries, root {}) is not the published one ({} entries, root {})",
                local.size, local.root, published.size, published.root
            )));
        }
        Ok(json!({
            "from": verified.report.url,
            "size": size,
            "root": local.root,
            "checkpoint_identical": note == verified.checkpoint,
            "log": local,
        }))
    })();
    match result {
        Ok(report) => {
            if json {
                print_json(&report);
            } else {
                println!(
                    "Recovered {} log entries from {} (root {}); the checkpoint is {}",
                    report["size"],
                    report["from"].as_str().unwrap_or(""),
                    report["root"].as_str().unwrap_or(""),
                    if report["checkpoint_identical"] == true {
                        "the published one"
                    } else {
                        "re-signed"
                    }
                );
                println!(
                    "Next: sync each vault's chain state (`airlock btc|xmr|eth sync --vault V`); re-add service members."
                );
            }
            Ok(())
        }
        Err(e) => {
            // An empty database this command created is removed: a failed recovery leaves the
            // home as it found it.
            if !had_database {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
                }
            }
            Err(e)
        }
    }
}

pub(crate) fn verify_remote(json: bool, options: airlock_service::RemoteOptions) -> CliResult {
    let report = airlock_service::verify_remote(&options, &mut |line| eprintln!("{line}"))?;
    if json {
        print_json(&serde_json::to_value(&report)?);
    } else {
        let l = &report.log;
        println!(
            "Log at {} verified: {} records, root {}",
            report.url, l.size, l.root
        );
        println!(
            "  checkpoint signed by {} ({}), {} vault versions, {} proposals, {} approvals, {} rejections, {} finalized, {} events, {} transfers",
            report.log_key,
            if report.key_pinned {
                "pinned"
            } else {
                "NOT pinned: named by the service itself"
            },
            l.vault_versions,
            l.proposals,
            l.approvals,
            l.rejections,
            l.finalized,
            l.events,
            l.transfers
        );
        println!(
            "  {} requests, {} artifacts, {} bytes",
            report.requests, report.artifacts_read, report.bytes_read
        );
    }
    Ok(())
}

fn log(home: &Path, json: bool, cmd: LogCommand) -> CliResult {
    if let LogCommand::Verify {
        url: Some(url),
        log_key,
        ca_cert,
    } = cmd
    {
        return verify_remote(
            json,
            airlock_service::RemoteOptions {
                url: published_url(&url)?,
                log_key,
                ca_cert,
            },
        );
    }
    let c = open(home)?;
    match cmd {
        LogCommand::Verify { .. } => {
            let report = c
                .verify_log()
                .map_err(|e| CliError::alarm(format!("log verification FAILED: {e}")))?;
            if json {
                print_json(&serde_json::to_value(&report)?);
            } else {
                println!(
                    "Log verified: {} records, root {}",
                    report.size, report.root
                );
                println!(
                    "  {} checkpoints (all signatures valid), {} vault versions, {} proposals, {} approvals, {} rejections, {} finalized, {} events, {} transfers",
                    report.checkpoints,
                    report.vault_versions,
                    report.proposals,
                    report.approvals,
                    report.rejections,
                    report.finalized,
                    report.events,
                    report.transfers
                );
            }
            Ok(())
        }
        LogCommand::Publish { dir } => {
            let published = airlock_service::mirror::publish(&c, home, &dir)?;
            if json {
                print_json(&serde_json::to_value(&published).expect("serializes"));
            } else {
                println!(
                    "published {} entries into {} ({} new since {}: {} tiles, {} artifacts written)",
                    published.size,
                    published.dir,
                    published.size - published.previous_size,
                    published.previous_size,
                    published.tiles_written,
                    published.artifacts_written
                );
            }
            Ok(())
        }
        LogCommand::Checkpoint { out } => {
            let (size, note) = c.latest_checkpoint()?;
            if let Some(out) = &out {
                let mut env = airlock_core::CheckpointArtifact { note: note.clone() }.envelope();
                env.sign(&identity_signing(home)?);
                write_envelope(out, &env, false)?;
            }
            if json {
                print_json(
                    &json!({ "size": size, "note": note, "log_key": c.log_verifier().vkey() }),
                );
            } else {
                print!("{note}");
            }
            Ok(())
        }
        LogCommand::Show => {
            let store = c.store();
            let size = store.log_size()?;
            let mut rows = Vec::new();
            for i in 0..size {
                let r = airlock_core::LogRecord::from_bytes(&store.leaf(i)?)?;
                let actor = c.actor_of(i)?;
                rows.push(json!({ "index": i, "kind": r.kind, "artifact": r.artifact.to_hex(), "vault": r.vault_id, "at": r.at, "by": actor }));
                if !json {
                    println!(
                        "{:>6}  {:<14} {}  vault {}  {}",
                        i,
                        r.kind,
                        r.artifact.short(),
                        r.vault_id,
                        format_time(r.at)
                    );
                }
            }
            if json {
                print_json(&json!(rows));
            }
            Ok(())
        }
    }
}
