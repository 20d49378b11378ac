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
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cap = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(8);
    cores.min(cap).clamp(1, 8)
}

/// Runs `work` over contiguous ranges covering `0..items` and concatenates the results in order.
/// `work` returns one result per index of its range, or the first error of its range.
pub(crate) fn map_ranges<T, E, F>(items: usize, work: F) -> Result<Vec<T>, E>
where
    T: Send,
    E: Send,
    F: Fn(Range<usize>) -> Result<Vec<T>, E> + Sync,
{
    let threads = workers(items);
    if threads <= 1 {
        return work(0..items);
    }
    let chunk = items.div_ceil(threads);
    let ranges: Vec<Range<usize>> = (0..threads)
        .map(|t| (t * chunk).min(items)..((t + 1) * chunk).min(items))
        .filter(|r| !r.is_empty())
        .collect();
    let results: Vec<Result<Vec<T>, E>> = std::thread::scope(|scope| {
        let work = &work;
        let mut handles = Vec::new();
        // The first range runs here, the others on scoped threads.
        for range in ranges.iter().skip(1).cloned() {
            handles.push(scope.spawn(move || work(range)));
        }
        let mut results = vec![work(ranges[0].clone())];
        for handle in handles {
            match handle.join() {
                Ok(result) => results.push(result),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        results
    });
    let mut all = Vec::with_capacity(items);
    for result in results {
        all.extend(result?);
    }
    Ok(all)
}
