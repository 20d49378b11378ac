//! `airlock-signer psbt sign`: sign a plain PSBT file (binary or base64, as Sparrow, Electrum,
//! Bitcoin Core or bdk hand it over) for a registered Bitcoin vault, outside Airlock's proposal
//! flow. The signer still reviews it from its own registered vault (inputs tied to the vault,
//! change re-derived, fees, sighash types, every signature already present verified against the
//! key it is filed under), shows the review, asks for confirmation, refuses a
//! PSBT that spends coins this signer already approved spending elsewhere, and writes the PSBT with
//! its signatures added (temp file, fsync, rename).
//!
//! `--json` reports the phases' wall and CPU times, the keystore unlock separately: this is the
//! command the Bitcoin signing benchmark runs.
//!
//! When nobody has to be asked anything (`--yes`, and the passphrase comes from a file), the
//! keystore is unlocked on a second core while the PSBT is parsed and reviewed: Argon2 runs on
//! one core, and the key is ready when the review is. Nothing is signed before the review
//! passed; a review that fails drops the unlocked key unused.
//!
//! This command must never sign inputs it did not review against the registered vault.

use std::path::{Path, PathBuf};
use std::time::Instant;

use airlock_chain_bitcoin::{
    ReviewPolicy, SignerKey, encoding::serialize_psbt, parse_psbt, psbt_to_base64, review,
    sign_reviewed,
};
use airlock_cli_support::{CliError, CliResult, confirm, passphrase, print_json};
use airlock_signer_app::SignerHome;
use airlock_signer_app::chain_keys::ChainSigner;
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub enum PsbtCommand {
    /// Review a PSBT against a registered Bitcoin vault, show it, and add this signer's
    /// signatures.
    Sign {
        /// The PSBT file (binary or base64 text).
        file: PathBuf,
        /// The registered vault it spends from.
        #[arg(long)]
        vault: String,
        /// Where to write the signed PSBT (default: FILE with `.signed.psbt`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write base64 text instead of binary.
        #[arg(long)]
        base64: bool,
        /// Sign without the interactive confirmation (after reviewing).
        #[arg(long)]
        yes: bool,
    },
}

/// CPU time so far, seconds, of this process (`libc::RUSAGE_SELF`) or the calling thread
/// (`libc::RUSAGE_THREAD`).
fn cpu_seconds_of(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// CPU time of this process so far, seconds.
fn cpu_seconds() -> f64 {
    cpu_seconds_of(libc::RUSAGE_SELF)
}

/// Unlocks this signer's Bitcoin key for `def` (the passphrase from `pass_file` or the
/// environment, else asked), with the unlock's wall and CPU time (of the calling thread).
fn unlock_key(
    h: &SignerHome,
    def: &airlock_core::VaultDefinition,
    pass_file: Option<&Path>,
    network: airlock_chain_bitcoin::bitcoin::Network,
) -> CliResult<(SignerKey, Phase)> {
    let (wall, cpu) = (Instant::now(), cpu_seconds_of(libc::RUSAGE_THREAD));
    let pass = passphrase(pass_file, false)?;
    let signer = h.chain_signer(def, &pass, None).map_err(CliError::from)?;
    drop(pass);
    let key = match signer {
        Some(ChainSigner::Secret(secret)) => SignerKey::from_secret(&secret.0, network)?,
        Some(ChainSigner::Hsm(_) | ChainSigner::Device(_)) => {
            return Err(CliError::new(
                "this signer's Bitcoin key is HSM-backed; PSBT signing through a token is not wired",
            ));
        }
        Some(ChainSigner::Frost(_)) => {
            return Err(CliError::new(
                "this signer holds a FROST share of the vault: it signs proposals (`approve`), not loose PSBTs",
            ));
        }
        None => {
            return Err(CliError::new(format!(
                "vault {:?} lists no Bitcoin key for this signer",
                def.vault_id
            )));
        }
    };
    let phase = Phase {
        name: "unlock",
        wall_ms: wall.elapsed().as_secs_f64() * 1000.0,
        cpu_ms: (cpu_seconds_of(libc::RUSAGE_THREAD) - cpu) * 1000.0,
    };
    Ok((key, phase))
}

struct Phase {
    name: &'static str,
    wall_ms: f64,
    cpu_ms: f64,
}

struct Clock {
    wall: Instant,
    cpu: f64,
    phases: Vec<Phase>,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu: cpu_seconds(),
            phases: Vec::new(),
        }
    }

    fn lap(&mut self, name: &'static str) {
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        self.phases.push(Phase {
            name,
            wall_ms: (wall - self.wall).as_secs_f64() * 1000.0,
            cpu_ms: (cpu - self.cpu) * 1000.0,
        });
        self.wall = wall;
        self.cpu = cpu;
    }
}

pub fn run(home: &Path, json: bool, pass_file: Option<&Path>, cmd: PsbtCommand) -> CliResult {
    let PsbtCommand::Sign {
        file,
        vault: vault_id,
        out,
        base64,
        yes,
    } = cmd;
    let started = (Instant::now(), cpu_seconds());
    let mut clock = Clock::start();
    let h = SignerHome::open(home).map_err(CliError::from)?;
    let (def, _) = h
        .vault_latest(&vault_id)
        .map_err(CliError::from)?
        .ok_or_else(|| CliError::new(format!("vault {vault_id:?} is not registered here")))?;
    if def.chain != airlock_chain_bitcoin::CHAIN {
        return Err(CliError::new(format!(
            "vault {vault_id:?} is a {} vault; `psbt sign` signs Bitcoin vaults",
            def.chain
        )));
    }
    let mut vault = airlock_chain_bitcoin::Bitcoin::vault(&def)?;
    let network = vault.network();
    let unlock_beside_review = yes && airlock_cli_support::passphrase_is_given(pass_file);
    std::thread::scope(|scope| -> CliResult {
        let unlocking =
            unlock_beside_review.then(|| scope.spawn(|| unlock_key(&h, &def, pass_file, network)));
        let cache = h.bitcoin_cache_path(&def);
        if let Ok(bytes) = airlock_transport::read_bounded(&cache, 64 * 1024 * 1024) {
            vault.load_derivation_cache(&bytes)?;
        }
        clock.lap("load vault");
        let bytes =
            airlock_transport::read_bounded(&file, airlock_chain_bitcoin::MAX_PSBT_BYTES as u64)
                .map_err(|e| CliError::new(format!("{}: {e}", file.display())))?;
        let mut psbt =
            parse_psbt(&bytes).map_err(|e| CliError::new(format!("{}: {e}", file.display())))?;
        clock.lap("parse");
        let policy = ReviewPolicy::default();
        // The review also verifies every signature the PSBT already carries (another
        // cosigner's): one that does not verify is refused here, before this signer adds its own.
        let reviewed = review(&vault, &psbt, &policy)
            .map_err(|e| CliError::new(format!("{}: {e}", file.display())))?;
        let spends: Vec<String> = reviewed
            .inputs
            .iter()
            .map(|i| i.outpoint.to_string())
            .collect();
        // A tampered journal is an alarm (exit 3) here as everywhere.
        let journal = h.journal().map_err(CliError::from)?;
        if let Some((entry, spend)) =
            journal.conflicting_approval("", &spends, airlock_cli_support::now()?)
        {
            return Err(CliError::new(format!(
                "refused: {spend} is already spent by proposal {} that this signer approved",
                &entry.proposal[..12.min(entry.proposal.len())]
            )));
        }
        clock.lap("review");
        if !json {
            println!(
                "PSBT {} for vault {} v{} ({} input(s))",
                file.display(),
                def.vault_id,
                def.version,
                reviewed.inputs.len()
            );
            println!("PAYMENTS (recomputed by this signer)");
            for p in &reviewed.payments {
                println!("  {} sat -> {}", p.amount.to_sat(), p.destination);
            }
            for c in &reviewed.change {
                println!(
                    "CHANGE {} sat -> {} (re-derived from the vault)",
                    c.amount.to_sat(),
                    c.destination
                );
            }
            for (label, value) in reviewed.details() {
                println!("{}: {value}", label.to_uppercase());
            }
            for w in &reviewed.warnings {
                println!("WARNING: {w}");
            }
        }
        confirm("sign", yes)?;
        let (key, unlock) = match unlocking {
            Some(handle) => {
                let unlocked = handle
                    .join()
                    .map_err(|_| CliError::new("unlocking the keystore failed unexpectedly"))?;
                clock.lap("wait for the unlock");
                unlocked?
            }
            None => {
                let unlocked = unlock_key(&h, &def, pass_file, network)?;
                // Asked after the review: the time beyond the unlock starts again here.
                clock.wall = Instant::now();
                clock.cpu = cpu_seconds();
                unlocked
            }
        };
        let (signed_inputs, signatures) = sign_reviewed(&vault, &mut psbt, &reviewed, &key)?;
        clock.lap("sign");
        if signatures == 0 {
            return Err(CliError::new(
                "no input of this PSBT is this signer's to sign (nothing written)",
            ));
        }
        let out = out
            .clone()
            .unwrap_or_else(|| file.with_extension("signed.psbt"));
        let data = if base64 {
            psbt_to_base64(&psbt).into_bytes()
        } else {
            serialize_psbt(&psbt)
        };
        airlock_transport::write_atomic(&out, &data)
            .map_err(|e| CliError::new(format!("{}: {e}", out.display())))?;
        clock.lap("write");
        // Beyond the unlock: with the unlock beside the review, the whole run less the unlock
        // (its own thread's CPU); else the phases themselves.
        let (total_wall, total_cpu) = if unlock_beside_review {
            (
                started.0.elapsed().as_secs_f64() * 1000.0 - unlock.wall_ms,
                (cpu_seconds() - started.1) * 1000.0 - unlock.cpu_ms,
            )
        } else {
            (
                clock.phases.iter().map(|p| p.wall_ms).sum(),
                clock.phases.iter().map(|p| p.cpu_ms).sum(),
            )
        };
        if json {
            let phases: Vec<_> = clock
                .phases
                .iter()
                .map(|p| json!({ "phase": p.name, "wall_ms": p.wall_ms, "cpu_ms": p.cpu_ms }))
                .collect();
            print_json(&json!({
                "vault": def.vault_id, "out": out, "txid": reviewed.txid.to_string(),
                "signed_inputs": signed_inputs, "signatures": signatures,
                "fee_sat": reviewed.fee.to_sat(), "warnings": reviewed.warnings,
                "phases": phases, "unlock_beside_review": unlock_beside_review,
                "unlock": { "wall_ms": unlock.wall_ms, "cpu_ms": unlock.cpu_ms },
                "total_beyond_unlock": { "wall_ms": total_wall, "cpu_ms": total_cpu },
            }));
        } else {
            println!(
                "Signed {signed_inputs} input(s) ({signatures} signature(s)) -> {}",
                out.display()
            );
            println!(
                "time beyond the keystore unlock: {total_wall:.1} ms wall, {total_cpu:.1} ms CPU \
                 (unlock {:.0} ms{})",
                unlock.wall_ms,
                if unlock_beside_review {
                    ", beside the review"
                } else {
                    ""
                }
            );
        }
        Ok(())
    })
}
