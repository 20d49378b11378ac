//! Replays every committed seed (`fuzz/seeds/<target>/*`) and every saved regression input
//! (`fuzz/regressions/<target>/*`) through the same functions the fuzz targets run, then seeded
//! mutations of every seed (bit flips, truncations, inserted, removed and repeated bytes): what
//! a few seconds of libFuzzer per target would catch first, with every `cargo test --workspace`
//! and without libFuzzer's instrumented build. Coverage-guided fuzzing proper is
//! `scripts/fuzz.sh SECONDS`, run on its own.

use std::path::{Path, PathBuf};

/// Mutations tried per seed (deterministic: the same inputs on every run).
const MUTATIONS_PER_SEED: usize = 48;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.expect("entry").path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let data = std::fs::read(&f).expect("read seed");
            (f, data)
        })
        .collect()
}

fn run_one(name: &str, run: airlock_fuzz::Target, data: &[u8], what: &dyn Fn() -> String) {
    let outcome = std::panic::catch_unwind(|| run(data));
    assert!(
        outcome.is_ok(),
        "target {name} panicked on {} (input, hex: {})",
        what(),
        hex::encode(&data[..data.len().min(4096)])
    );
}

fn replay(dir: &Path) -> usize {
    let mut n = 0;
    for (name, run) in airlock_fuzz::TARGETS {
        for (file, data) in inputs(dir, name) {
            run_one(name, *run, &data, &|| file.display().to_string());
            n += 1;
        }
    }
    n
}

/// xorshift64*: a small deterministic generator for the mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    // One to three edits, like libFuzzer's first rounds.
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.truncate(at),
            2 => data.insert(at, rng.next() as u8),
            3 if at < data.len() => {
                data.remove(at);
            }
            4 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] = [0x00, 0xff, 0x7f, 0x80, 0x1b, 0x5f][rng.below(6)];
            }
            5 if at < data.len() => {
                let len = 1 + rng.below(16.min(data.len() - at));
                let chunk = data[at..at + len].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, chunk);
            }
            _ if data.len() > 1 => {
                // Swap two bytes.
                let j = rng.below(data.len());
                let i = at.min(data.len() - 1);
                data.swap(i, j);
            }
            _ => data.push(rng.next() as u8),
        }
    }
    data
}

#[test]
fn seeds_and_regressions_pass_every_target() {
    let seeds = replay(&fuzz_dir().join("seeds"));
    assert!(seeds >= 50, "only {seeds} seeds found under fuzz/seeds");
    replay(&fuzz_dir().join("regressions"));
}

#[test]
fn seeded_mutations_of_every_seed_pass_every_target() {
    let mut tried = 0;
    for (name, run) in airlock_fuzz::TARGETS {
        for (i, (file, seed)) in inputs(&fuzz_dir().join("seeds"), name)
            .into_iter()
            .enumerate()
        {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((i as u64 + 1) << 20) ^ name.len() as u64);
            for m in 0..MUTATIONS_PER_SEED {
                let data = mutate(&mut rng, &seed);
                run_one(name, *run, &data, &|| {
                    format!("mutation {m} of {}", file.display())
                });
                tried += 1;
            }
        }
    }
    assert!(tried > 1000, "only {tried} mutations tried");
}

#[test]
fn every_target_has_seeds() {
    let root = fuzz_dir().join("seeds");
    for (name, _) in airlock_fuzz::TARGETS {
        let count = std::fs::read_dir(root.join(name))
            .map(|d| d.count())
            .unwrap_or(0);
        assert!(count > 0, "no seeds for target {name}");
    }
}
