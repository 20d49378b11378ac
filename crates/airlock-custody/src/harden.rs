//! Best-effort hardening of the signer process.

use std::fmt;

/// What [`harden_process`] managed to do. Each field is `false` where the step failed or does not
/// exist on this platform.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardeningReport {
    /// The core-dump size limit is now 0 (`setrlimit(RLIMIT_CORE, 0)`, unix), so a crash does not
    /// write memory (and the secrets in it) to disk.
    pub core_dumps_disabled: bool,
    /// The process is marked non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`, Linux): no core dumps
    /// even if the limit is raised again, and other processes of the same user cannot ptrace it
    /// or read its memory through `/proc`.
    pub non_dumpable: bool,
}

impl HardeningReport {
    /// True when every step worked.
    pub fn fully_hardened(&self) -> bool {
        self.core_dumps_disabled && self.non_dumpable
    }
}

impl fmt::Display for HardeningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = |ok: bool| if ok { "yes" } else { "NO" };
        write!(
            f,
            "core dumps disabled: {}; process non-dumpable: {}",
            state(self.core_dumps_disabled),
            state(self.non_dumpable)
        )
    }
}

/// Best-effort process hardening for the signer: disables core dumps and (on Linux) marks the
/// process non-dumpable. Never fails; the report says what worked, for the caller to show or
/// insist on. Call it first thing in `main`, before any secret is loaded.
pub fn harden_process() -> HardeningReport {
    HardeningReport {
        core_dumps_disabled: disable_core_dumps(),
        non_dumpable: set_non_dumpable(),
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn disable_core_dumps() -> bool {
    let limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `setrlimit` only reads the struct we pass by reference, which outlives the call.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) == 0 }
}

#[cfg(not(unix))]
fn disable_core_dumps() -> bool {
    false
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
fn set_non_dumpable() -> bool {
    // SAFETY: PR_SET_DUMPABLE takes plain integer arguments and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0) == 0 }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_non_dumpable() -> bool {
    false
}
