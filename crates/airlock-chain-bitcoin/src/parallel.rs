//! Splitting per-input work of large PSBTs over the machine's cores.
//!
//! Deriving every input's vault keys and making every signature are independent per input; for
//! PSBTs of [`PARALLEL_MIN_ITEMS`] inputs or more the inputs are cut into one contiguous range per
//! core (scoped threads, no shared mutable state), and results are put back in input order. This
//! module must never reorder results nor hide an error: the first error in input order wins.
//! `AIRLOCK_BITCOIN_THREADS` caps the number of threads (1 keeps everything on one thread).

use std::ops::Range;

/// Below this many items the work stays on the calling thread.
pub const PARALLEL_MIN_ITEMS: usize = 64;

/// Environment variable capping the worker threads (1 = everything on the calling thread).
pub const THREADS_ENV: &str = "AIRLOCK_BITCOIN_THREADS";

fn workers(items: usize) -> usize {
    if items < PARALLEL_MIN_ITEMS {
        return 1;
    }
    let cap = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(8);
    airlock_core::parallel::cores(cap.min(8))
}

/// Runs `work` over contiguous ranges covering `0..items` and concatenates the results in order
/// ([`airlock_core::parallel::map_ranges`] on this module's thread count).
pub(crate) fn map_ranges<T, E, F>(items: usize, work: F) -> Result<Vec<T>, E>
where
    T: Send,
    E: Send,
    F: Fn(Range<usize>) -> Result<Vec<T>, E> + Sync,
{
    airlock_core::parallel::map_ranges(workers(items), items, work)
}
