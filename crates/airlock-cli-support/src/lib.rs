//! What both command-line programs share: reading and writing artifact files (binary or
//! ASCII-armored), `inspect` for people and scripts, the clock, passphrase input and error exits.
//!
//! It is linked into the offline signer, so it must never depend on networking or database crates,
//! and it must never print secret material.

pub mod inspect;
pub mod transfer;

use std::io::IsTerminal;
use std::path::Path;

use airlock_core::cbor::Limits;
use airlock_core::{Envelope, UnixTime};
use airlock_custody::Passphrase;

/// A command failure: the message, and the process exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

/// Exit code for ordinary failures (bad input, refused operation).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for security alarms: split view, tampered journal, forged artifacts.
pub const EXIT_ALARM: i32 = 3;

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_FAILURE,
        }
    }

    pub fn alarm(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_ALARM,
        }
    }
}

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError::new(e.to_string())
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// Runs a command body and exits with its code, printing errors to stderr (as JSON with `--json`).
pub fn exit_with(result: CliResult, json: bool) -> ! {
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            if json {
                eprintln!(
                    "{}",
                    serde_json::json!({ "error": e.message, "exit_code": e.code })
                );
            } else {
                eprintln!("error: {}", e.message);
            }
            std::process::exit(e.code)
        }
    }
}

/// Restores the default SIGPIPE action, so that writing to a closed pipe (`… | head`) ends the
/// program quietly, as for other Unix tools, instead of a panic. Safe for the signer: output is
/// written before anything is signed, so a reader that goes away stops the signing too.
pub fn reset_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to SIG_DFL at start-up, before any thread is spawned.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The current time: the system clock, or `AIRLOCK_NOW` (Unix seconds) when set, for rehearsals
/// and tests that need a fixed clock.
pub fn now() -> CliResult<UnixTime> {
    if let Ok(s) = std::env::var("AIRLOCK_NOW") {
        return s.trim().parse().map_err(|_| {
            CliError::new(format!("AIRLOCK_NOW={s:?} is not a Unix time in seconds"))
        });
    }
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| CliError::new("the system clock is before 1970"))?
        .as_secs())
}

/// Reads an artifact file (binary `.airlock` or ASCII armor), refusing oversized input before
/// reading it.
pub fn read_envelope(path: &Path) -> CliResult<Envelope> {
    // Armor is 4/3 of the binary size plus line breaks.
    let cap = (Limits::ARTIFACT.max_len as u64) * 3 / 2;
    let bytes = airlock_transport::read_bounded(path, cap)?;
    let binary = if airlock_transport::is_armored(&bytes) {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| CliError::new(format!("{}: armored text is not UTF-8", path.display())))?;
        airlock_transport::dearmor(text)
            .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?
            .1
    } else {
        bytes
    };
    Envelope::from_bytes(&binary).map_err(|e| CliError::new(format!("{}: {e}", path.display())))
}

/// Reads an artifact that a command is about to act on (submit, register, sign, review): every
/// signature it carries must verify. A signature that does not verify means the file was altered
/// or damaged after signing; it is refused rather than ignored, so it is never stored or passed on
/// (`inspect` uses [`read_envelope`] and shows it as INVALID instead).
pub fn read_signed_envelope(path: &Path) -> CliResult<Envelope> {
    let env = read_envelope(path)?;
    if let Some(bad) = env.check_signatures().into_iter().find(|c| !c.valid) {
        return Err(CliError::new(format!(
            "{}: the signature by key {} does not verify: the file was altered or damaged after it was signed",
            path.display(),
            bad.key
        )));
    }
    Ok(env)
}

/// Writes an artifact atomically, binary or (with `armor`) as ASCII armor.
pub fn write_envelope(path: &Path, env: &Envelope, armor: bool) -> CliResult {
    let bytes = if armor {
        let label = env
            .kind()
            .map(|k| k.name().to_ascii_uppercase())
            .unwrap_or_else(|| "ARTIFACT".into());
        airlock_transport::armor(&label, &env.to_bytes()).into_bytes()
    } else {
        env.to_bytes()
    };
    airlock_transport::write_atomic(path, &bytes)?;
    Ok(())
}

/// Gets a passphrase: from `file` when given, else from `AIRLOCK_PASSPHRASE_FILE`, else by asking
/// on the terminal (twice when `confirm`). Refuses to guess when there is no terminal.
pub fn passphrase(file: Option<&Path>, confirm: bool) -> CliResult<Passphrase> {
    if let Some(f) = file {
        return Ok(Passphrase::from_file(f)?);
    }
    if let Ok(f) = std::env::var("AIRLOCK_PASSPHRASE_FILE") {
        return Ok(Passphrase::from_file(Path::new(&f))?);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new(
            "a passphrase is needed: pass --passphrase-file FILE (standard input is not a terminal)",
        ));
    }
    let first = rpassword::prompt_password("Passphrase: ")?;
    if confirm {
        let second = rpassword::prompt_password("Repeat passphrase: ")?;
        if first != second {
            return Err(CliError::new("the passphrases differ"));
        }
    }
    Ok(Passphrase::new(first)?)
}

/// Asks the person to type `word` to go on, unless `yes` was given. Without a terminal and
/// without `--yes`, refuses.
pub fn confirm(word: &str, yes: bool) -> CliResult {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new(format!(
            "refusing to {word} without confirmation: review the output above, then run again with --yes"
        )));
    }
    eprint!("Type '{word}' to go on: ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if line.trim() != word {
        return Err(CliError::new("not confirmed; nothing was signed"));
    }
    Ok(())
}

/// Prints a JSON value on stdout.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON serializes")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::{Artifact, CheckpointArtifact};

    #[test]
    fn files_round_trip_binary_and_armored() {
        let dir = tempfile::tempdir().unwrap();
        let env = CheckpointArtifact { note: "x\n".into() }.envelope();
        for armor in [false, true] {
            let path = dir.path().join(format!("a{armor}"));
            write_envelope(&path, &env, armor).unwrap();
            assert_eq!(read_envelope(&path).unwrap(), env);
        }
        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"\xa1\x00").unwrap();
        assert!(read_envelope(&bad).unwrap_err().message.contains("bad"));
    }
}
