//! Best-effort hardening of the signer process.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// How much of the process's memory is locked into RAM (kept out of swap).
    pub memory_locked: MemoryLock,
}

/// How secrets are kept out of swap (see [`harden_process`] for the choice).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemoryLock {
    /// Nothing is locked (the platform has no `mlock`, or the limit is 0).
    #[default]
    None,
    /// Each buffer that holds a decrypted secret in this crate is locked on its own page
    /// (`mlock`), within `RLIMIT_MEMLOCK`; KDF working memory (Argon2, scrypt) is not.
    SecretBuffers,
    /// Every page of the process, present and future, is locked
    /// (`mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)`), KDF working memory included.
    AllPages,
}

impl fmt::Display for MemoryLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemoryLock::None => "NO",
            MemoryLock::SecretBuffers => "secret buffers only",
            MemoryLock::AllPages => "all pages",
        })
    }
}

impl HardeningReport {
    /// True when core dumps are off and the process is non-dumpable. Memory locking is reported
    /// in [`HardeningReport::memory_locked`] and not required here: it depends on limits the
    /// administrator sets (`RLIMIT_MEMLOCK`, `CAP_IPC_LOCK`).
    pub fn fully_hardened(&self) -> bool {
        self.core_dumps_disabled && self.non_dumpable
    }
}

impl fmt::Display for HardeningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = |ok: bool| if ok { "yes" } else { "NO" };
        write!(
            f,
            "core dumps disabled: {}; process non-dumpable: {}; memory locked: {}",
            state(self.core_dumps_disabled),
            state(self.non_dumpable),
            self.memory_locked
        )
    }
}

/// Best-effort process hardening for the signer: disables core dumps, (on Linux) marks the
/// process non-dumpable, and locks memory into RAM. Never fails; the report says what worked, for
/// the caller to show or insist on. Call it first thing in `main`, before any secret is loaded.
///
/// # Memory locking, and why not always `mlockall`
///
/// `mlockall(MCL_FUTURE)` makes every later mapping count against `RLIMIT_MEMLOCK` (8 MiB by
/// default on current Linux, 64 KiB on older systems). Past the limit, `mmap`/`brk` fail, and a
/// failed allocation aborts a Rust program: Argon2's 64 MiB or scrypt's 256 MiB would crash the
/// signer instead of unlocking. So all pages are locked only when no limit applies to this
/// process (it has `CAP_IPC_LOCK`, or the limit is unlimited), with `MCL_ONFAULT` so pages are
/// locked as they are touched rather than all faulted in at once. Otherwise the process stays
/// unlocked and this crate locks, one page each, the buffers that hold decrypted secrets
/// ([`MemoryLock::SecretBuffers`]); the KDF working memory (mostly passphrase-derived data, freed
/// right after) is then not locked. [`HardeningReport::fully_hardened`] does not require memory
/// locking, which depends on the administrator's limits.
pub fn harden_process() -> HardeningReport {
    HardeningReport {
        core_dumps_disabled: disable_core_dumps(),
        non_dumpable: set_non_dumpable(),
        memory_locked: lock_memory(),
    }
}

/// Set once `mlockall` succeeded: every page is locked, so buffers are not locked one by one.
static ALL_PAGES_LOCKED: AtomicBool = AtomicBool::new(false);

/// Alignment (and so exclusive pages) of [`LockedBytes`]: 16 KiB covers 4 KiB and 16 KiB pages.
const LOCK_ALIGN: usize = 16 * 1024;

#[repr(C, align(16384))]
struct Aligned<const N: usize>([u8; N]);

/// A fixed-size secret buffer on pages of its own, locked into RAM (`mlock`) when the limit
/// allows, zeroed and unlocked when dropped. Whether the lock succeeded does not change the
/// behaviour: it is best effort.
pub(crate) struct LockedBytes<const N: usize> {
    buf: Box<Aligned<N>>,
    locked: bool,
}

impl<const N: usize> LockedBytes<N> {
    /// A zeroed, locked (where possible) buffer.
    pub(crate) fn new() -> Self {
        const { assert!(N <= LOCK_ALIGN) };
        let buf = Box::new(Aligned([0u8; N]));
        // Under mlockall the page is locked already; munlock on drop would unlock it for good.
        let locked = !ALL_PAGES_LOCKED.load(Ordering::Relaxed) && lock_region(buf.0.as_ptr(), N);
        LockedBytes { buf, locked }
    }

    pub(crate) fn as_ref(&self) -> &[u8; N] {
        &self.buf.0
    }

    pub(crate) fn as_mut(&mut self) -> &mut [u8; N] {
        &mut self.buf.0
    }
}

impl<const N: usize> Drop for LockedBytes<N> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.buf.0);
        if self.locked {
            unlock_region(self.buf.0.as_ptr(), N);
        }
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

#[cfg(unix)]
#[allow(unsafe_code)]
fn lock_region(ptr: *const u8, len: usize) -> bool {
    // SAFETY: `mlock` only changes the paging of the range, which we own for its whole lifetime.
    len > 0 && unsafe { libc::mlock(ptr.cast(), len) == 0 }
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn unlock_region(ptr: *const u8, len: usize) {
    // SAFETY: as for `mlock`; the range was locked by `lock_region` and is still ours.
    unsafe {
        libc::munlock(ptr.cast(), len);
    }
}

#[cfg(not(unix))]
fn lock_region(_ptr: *const u8, _len: usize) -> bool {
    false
}

#[cfg(not(unix))]
fn unlock_region(_ptr: *const u8, _len: usize) {}

/// True when `RLIMIT_MEMLOCK` does not constrain this process (Linux): the capability
/// `CAP_IPC_LOCK` (bit 14 of `CapEff` in `/proc/self/status`) or an unlimited soft limit.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
fn memlock_unlimited() -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    let cap = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes into the struct we own.
    let unlimited = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) == 0 }
        && limit.rlim_cur == libc::RLIM_INFINITY;
    cap || unlimited
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
fn lock_memory() -> MemoryLock {
    if memlock_unlimited() {
        // SAFETY: `mlockall` takes flags only. MCL_ONFAULT needs Linux 4.4; retry without it.
        let all = unsafe {
            libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT) == 0
                || libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) == 0
        };
        if all {
            ALL_PAGES_LOCKED.store(true, Ordering::Relaxed);
            return MemoryLock::AllPages;
        }
    }
    probe_buffer_lock()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn lock_memory() -> MemoryLock {
    probe_buffer_lock()
}

/// Whether a secret buffer can be locked at all under the current limit.
fn probe_buffer_lock() -> MemoryLock {
    let probe = LockedBytes::<32>::new();
    if probe.locked {
        MemoryLock::SecretBuffers
    } else {
        MemoryLock::None
    }
}
