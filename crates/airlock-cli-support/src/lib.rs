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
///
/// Every error converts into it through [`Classify`], so the exit code comes from the error's own
/// severity (an alarm exits 3 however many layers it crossed); there is no conversion from a
/// plain message that could lose it.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

pub use airlock_severity::{
    Classify, EXIT_ALARM, EXIT_BUSY, EXIT_CODES_HELP, EXIT_REFUSED as EXIT_FAILURE, Severity,
};

impl CliError {
    /// A refusal (exit code 1) with this message.
    pub fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_FAILURE,
        }
    }

    /// An alarm (exit code 3) with this message.
    pub fn alarm(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_ALARM,
        }
    }

    /// Converts an error with a prefix (e.g. the file concerned); its severity stays.
    pub fn context<E: Classify>(prefix: impl std::fmt::Display) -> impl FnOnce(E) -> CliError {
        move |e| CliError {
            message: format!("{prefix}: {e}"),
            code: e.severity().exit_code(),
        }
    }
}

impl<E: Classify> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError {
            message: e.to_string(),
            code: e.severity().exit_code(),
        }
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

/// Takes the exclusive lock of a device home for a command that changes its state, waiting for
/// another process that holds it (saying so on standard error) or, with `AIRLOCK_LOCK_WAIT=SECS`
/// set, at most that long (then exit code 4, busy). `create` makes the directory first (for
/// `init`); otherwise a home that does not exist is not locked (the command then says it is
/// missing). The lock is released when the returned guard drops or the process ends.
///
/// `command` names what runs ("airlock-signer approve"), for whoever has to wait; `None` (a
/// command that only reads the home) takes no lock.
pub fn lock_home(
    home: &Path,
    create: bool,
    command: Option<&str>,
) -> CliResult<Option<airlock_transport::lock::HomeLock>> {
    let Some(command) = command else {
        return Ok(None);
    };
    if !home.is_dir() {
        if !create {
            return Ok(None);
        }
        std::fs::create_dir_all(home).map_err(CliError::context(format!(
            "cannot create {}",
            home.display()
        )))?;
    }
    let lock = airlock_transport::lock::lock_home(
        home,
        command,
        airlock_transport::lock::Wait::from_env(),
        &mut |holder| {
            eprintln!(
                "waiting for {}: another process is using it ({holder})…",
                home.display()
            )
        },
    )?;
    Ok(Some(lock))
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

/// Whether [`passphrase`] will read the passphrase from a file (`file`, or
/// `AIRLOCK_PASSPHRASE_FILE`) rather than ask for it.
pub fn passphrase_is_given(file: Option<&Path>) -> bool {
    file.is_some() || std::env::var_os("AIRLOCK_PASSPHRASE_FILE").is_some()
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
