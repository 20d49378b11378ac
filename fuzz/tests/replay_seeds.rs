//! Replays every committed seed (`fuzz/seeds/<target>/*`) and every saved regression input
//! (`fuzz/regressions/<target>/*`) through the same functions the fuzz targets run, on the stable
//! toolchain: `cargo test --manifest-path fuzz/Cargo.toml`. A seed that makes a target panic (a
//! decoder regression, or a broken round trip) fails this test without nightly or libFuzzer.

use std::path::Path;

fn replay(dir: &Path) -> usize {
    let mut n = 0;
    for (name, run) in airlock_fuzz::TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(name)) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.expect("entry").path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).expect("read seed");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "target {name} panicked on {}", f.display());
            n += 1;
        }
    }
    n
}

#[test]
fn seeds_and_regressions_pass_every_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = replay(&root.join("seeds"));
    assert!(seeds >= 50, "only {seeds} seeds found under fuzz/seeds");
    replay(&root.join("regressions"));
}

#[test]
fn every_target_has_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for (name, _) in airlock_fuzz::TARGETS {
        let count = std::fs::read_dir(root.join(name))
            .map(|d| d.count())
            .unwrap_or(0);
        assert!(count > 0, "no seeds for target {name}");
    }
}
