//! Crash injection for tests: named points at every write, fsync and rename of durable state.
//!
//! With `AIRLOCK_FAILPOINT=NAME@N` set, the process aborts (no destructors, no buffered output:
//! what a `kill -9` leaves) the N-th time it reaches the point called NAME (`NAME` alone means
//! the first time). With `AIRLOCK_FAILPOINT=list`, every point reached is printed to standard
//! error as `failpoint: NAME@N DETAIL`, so a test can first list the points of a command and then
//! crash it at each one in turn.
//!
//! Unset (the normal case) a point costs one relaxed atomic load. This module must never change
//! what a program does when the variable is unset, and never be the only guard of anything.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the environment asked for.
enum Plan {
    Off,
    List,
    CrashAt { name: String, nth: u64 },
}

static PLAN: OnceLock<Plan> = OnceLock::new();
static HITS: OnceLock<std::sync::Mutex<Vec<(String, u64)>>> = OnceLock::new();
static ACTIVE: AtomicU64 = AtomicU64::new(u64::MAX);

fn plan() -> &'static Plan {
    PLAN.get_or_init(|| match std::env::var("AIRLOCK_FAILPOINT") {
        Ok(v) if v == "list" => Plan::List,
        Ok(v) if !v.is_empty() => match v.rsplit_once('@') {
            Some((name, n)) => Plan::CrashAt {
                name: name.to_owned(),
                nth: n.parse().unwrap_or(1).max(1),
            },
            None => Plan::CrashAt { name: v, nth: 1 },
        },
        _ => Plan::Off,
    })
}

fn active() -> bool {
    match ACTIVE.load(Ordering::Relaxed) {
        0 => false,
        1 => true,
        _ => {
            let on = !matches!(plan(), Plan::Off);
            ACTIVE.store(on as u64, Ordering::Relaxed);
            on
        }
    }
}

/// Marks a crash point. `detail` (e.g. the file concerned) is only shown in list mode.
pub fn hit(name: &str, detail: &dyn std::fmt::Display) {
    if !active() {
        return;
    }
    let counts = HITS.get_or_init(Default::default);
    let nth = {
        let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
        match counts.iter_mut().find(|(n, _)| n == name) {
            Some((_, c)) => {
                *c += 1;
                *c
            }
            None => {
                counts.push((name.to_owned(), 1));
                1
            }
        }
    };
    match plan() {
        Plan::Off => {}
        Plan::List => eprintln!("failpoint: {name}@{nth} {detail}"),
        Plan::CrashAt {
            name: target,
            nth: at,
        } => {
            if target == name && *at == nth {
                eprintln!("failpoint: crashing at {name}@{nth} {detail}");
                std::process::abort();
            }
        }
    }
}
