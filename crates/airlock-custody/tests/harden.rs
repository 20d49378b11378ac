//! Process hardening (its own test binary, since it changes the process it runs in).

use airlock_custody::{MemoryLock, harden_process};

#[test]
fn hardening_reports_what_it_did() {
    let report = harden_process();
    #[cfg(unix)]
    {
        assert!(report.core_dumps_disabled, "{report}");
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit writes into the struct we own.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) };
        assert_eq!(rc, 0);
        assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
    }
    #[cfg(target_os = "linux")]
    {
        assert!(report.non_dumpable, "{report}");
        // SAFETY: PR_GET_DUMPABLE takes no pointers.
        let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        assert_eq!(dumpable, 0);
        assert!(report.fully_hardened());
    }
    // Memory: this process may lock everything when no RLIMIT_MEMLOCK applies to it
    // (CAP_IPC_LOCK or an unlimited limit); otherwise secret buffers alone (or nothing).
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) },
            0
        );
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let cap_ipc_lock = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|c| c & (1 << 14) != 0);
        if cap_ipc_lock || limit.rlim_cur == libc::RLIM_INFINITY {
            assert_eq!(report.memory_locked, MemoryLock::AllPages, "{report}");
            let vm_lck = status
                .lines()
                .find(|l| l.starts_with("VmLck:"))
                .unwrap()
                .to_owned();
            assert!(vm_lck.contains("kB"), "{vm_lck}");
            // MCL_FUTURE must not break large allocations (Argon2's 64 MiB, scrypt's 256 MiB).
            let big = vec![1u8; 256 << 20];
            assert_eq!(big.iter().map(|&b| u64::from(b)).sum::<u64>(), 256 << 20);
        } else if limit.rlim_cur >= 64 * 1024 {
            assert_eq!(report.memory_locked, MemoryLock::SecretBuffers, "{report}");
        }
        assert!(report.to_string().contains("memory locked: "));
    }
    // Calling it again is harmless.
    assert_eq!(harden_process(), report);
}
