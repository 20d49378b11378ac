//! Process hardening (its own test binary, since it changes the process it runs in).

use airlock_custody::harden_process;

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
    // Calling it again is harmless.
    assert_eq!(harden_process(), report);
}
