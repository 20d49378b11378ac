//! One writer per device home: an exclusive advisory lock on `<home>/lock`.
//!
//! Every command that changes a signer's or a coordinator's state holds this lock from before it
//! reads the state it validates until after its last write, so two processes on one home can
//! never both decide on what they read (two contradictory decisions, two finalizations, a lost
//! key-image import). A second writer waits its turn (saying whom it waits for) or, with a wait
//! limit, stops with [`HomeBusy`] naming the holder.
//!
//! The lock is `flock`-style (`File::lock`): the kernel releases it when the holder exits or
//! dies, so a crash never leaves a home locked. The file's contents (pid and command of the
//! holder) are informational only; nothing trusts them.
//!
//! This module must never be used to guard a read that only needs a consistent snapshot (readers
//! do not take it), and never hold the lock across waiting for a person's input it could avoid.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file's name inside a home directory.
pub const LOCK_FILE: &str = "lock";

/// The home is held by another process and the wait limit passed.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} is busy: another process holds its lock ({holder}); waited {waited_secs} s. Try again when it has finished",
    home.display()
)]
pub struct HomeBusy {
    /// The home directory.
    pub home: PathBuf,
    /// What the holder wrote about itself ("pid 123: airlock-signer approve"), or "unknown".
    pub holder: String,
    /// How long this process waited.
    pub waited_secs: u64,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Busy(#[from] HomeBusy),
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How long to wait for a busy home.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Until the holder finishes.
    Forever,
    /// At most this long, then [`HomeBusy`].
    AtMost(Duration),
}

impl Wait {
    /// `AIRLOCK_LOCK_WAIT` (seconds; `0` = do not wait) or [`Wait::Forever`] when unset.
    pub fn from_env() -> Wait {
        match std::env::var("AIRLOCK_LOCK_WAIT") {
            Ok(s) => match s.trim().parse::<f64>() {
                Ok(secs) if secs.is_finite() && secs >= 0.0 => {
                    Wait::AtMost(Duration::from_secs_f64(secs))
                }
                _ => Wait::Forever,
            },
            Err(_) => Wait::Forever,
        }
    }
}

/// A held home lock; released when dropped (or when the process ends in any way).
#[derive(Debug)]
pub struct HomeLock {
    file: File,
    path: PathBuf,
}

impl HomeLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for HomeLock {
    fn drop(&mut self) {
        // Clearing the holder note is cosmetic; the unlock is what matters (and closing the file
        // would release it anyway).
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.take(256).read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        "unknown".into()
    } else {
        text.to_owned()
    }
}

/// Takes the exclusive lock of `home` (which must exist) for `command` (a few words saying what
/// runs, for whoever has to wait). While it waits, `on_wait` is called once with the holder's
/// description.
pub fn lock_home(
    home: &Path,
    command: &str,
    wait: Wait,
    on_wait: &mut dyn FnMut(&str),
) -> Result<HomeLock, LockError> {
    let path = home.join(LOCK_FILE);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    let started = Instant::now();
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::Error(e)) => return Err(io(e)),
        Err(TryLockError::WouldBlock) => {
            let holder = read_holder(&mut file);
            match wait {
                Wait::Forever => {
                    on_wait(&holder);
                    file.lock().map_err(io)?;
                }
                Wait::AtMost(limit) => {
                    let mut told = false;
                    let mut pause = Duration::from_millis(2);
                    loop {
                        if started.elapsed() >= limit {
                            return Err(HomeBusy {
                                home: home.to_path_buf(),
                                holder,
                                waited_secs: started.elapsed().as_secs(),
                            }
                            .into());
                        }
                        if !told {
                            on_wait(&holder);
                            told = true;
                        }
                        std::thread::sleep(pause.min(limit.saturating_sub(started.elapsed())));
                        pause = (pause * 2).min(Duration::from_millis(50));
                        match file.try_lock() {
                            Ok(()) => break,
                            Err(TryLockError::WouldBlock) => {}
                            Err(TryLockError::Error(e)) => return Err(io(e)),
                        }
                    }
                }
            }
        }
    }
    let note = format!("pid {}: {command}\n", std::process::id());
    let _ = file
        .set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(note.as_bytes()));
    Ok(HomeLock { file, path })
}

impl airlock_severity::Classify for LockError {
    fn severity(&self) -> airlock_severity::Severity {
        match self {
            LockError::Busy(_) => airlock_severity::Severity::Busy,
            LockError::Io { .. } => airlock_severity::Severity::Refused,
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_or_is_told_who_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_home(dir.path(), "first", Wait::Forever, &mut |_| {}).unwrap();
        let mut seen = String::new();
        let err = lock_home(
            dir.path(),
            "second",
            Wait::AtMost(Duration::from_millis(30)),
            &mut |h| seen = h.to_owned(),
        )
        .unwrap_err();
        assert!(seen.contains("first"), "{seen}");
        match err {
            LockError::Busy(b) => assert!(b.holder.contains(&std::process::id().to_string())),
            other => panic!("{other}"),
        }
        drop(first);
        lock_home(
            dir.path(),
            "third",
            Wait::AtMost(Duration::ZERO),
            &mut |_| {},
        )
        .unwrap();
    }
}
