//! How serious a failure is, said by the error itself.
//!
//! Each Airlock crate's error type implements [`Classify`] for its own variants (a tampered
//! journal is an alarm, a malformed file is refused, a held home lock is busy); the command-line
//! programs turn the severity into the exit code in one place, so an alarm exits 3 from every
//! command however many layers it crossed. This crate has no other job and must never depend on
//! another Airlock crate (every one depends on it).

use std::fmt;

/// How serious a failure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Bad input, a refused operation or a missing prerequisite: exit code 1, nothing changed.
    Refused,
    /// Evidence that state this device trusts was tampered with, or that it is shown a history
    /// contradicting one it accepted (a split view): exit code 3. Stop and investigate.
    Alarm,
    /// Another process holds the device's home: exit code 4. Try again when it has finished.
    Busy,
}

/// Exit code for ordinary failures (bad input, refused operation); nothing changed.
pub const EXIT_REFUSED: i32 = 1;
/// Exit code for alarms: tampered state, split view.
pub const EXIT_ALARM: i32 = 3;
/// Exit code when another process holds the home.
pub const EXIT_BUSY: i32 = 4;

impl Severity {
    /// The process exit code for this severity.
    pub fn exit_code(self) -> i32 {
        match self {
            Severity::Refused => EXIT_REFUSED,
            Severity::Alarm => EXIT_ALARM,
            Severity::Busy => EXIT_BUSY,
        }
    }

    /// The more serious of two severities (an alarm outranks everything).
    pub fn max(self, other: Severity) -> Severity {
        match (self, other) {
            (Severity::Alarm, _) | (_, Severity::Alarm) => Severity::Alarm,
            (Severity::Busy, _) | (_, Severity::Busy) => Severity::Busy,
            _ => Severity::Refused,
        }
    }
}

/// The exit codes, for `--help` texts.
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0  done
  1  refused: bad input, a refused operation or a missing prerequisite; nothing was changed
  2  the command line itself is wrong (unknown command or option)
  3  ALARM: state this device trusts was tampered with, or it was shown a history that
     contradicts one it accepted (split view); evidence is kept; stop and investigate
  4  busy: another process holds this home; try again when it has finished";

/// An error that knows its [`Severity`].
pub trait Classify: fmt::Display {
    fn severity(&self) -> Severity;
}

/// Errors from outside Airlock (files, JSON, text parsing) are never alarms by themselves.
macro_rules! refused {
    ($($t:ty),* $(,)?) => {
        $(impl Classify for $t {
            fn severity(&self) -> Severity {
                Severity::Refused
            }
        })*
    };
}

refused!(
    String,
    &str,
    std::io::Error,
    std::fmt::Error,
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::string::FromUtf8Error,
    std::str::Utf8Error,
    serde_json::Error,
    hex::FromHexError,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_outrank_and_map_to_their_codes() {
        assert_eq!(Severity::Refused.max(Severity::Alarm), Severity::Alarm);
        assert_eq!(Severity::Busy.max(Severity::Refused), Severity::Busy);
        assert_eq!(Severity::Alarm.exit_code(), 3);
        assert_eq!("x".severity(), Severity::Refused);
    }
}
