//! Splitting independent per-item work over threads: large PSBTs (one input per item), batch
//! decisions (one proposal per item).
//!
//! The items are cut into one contiguous range per thread (scoped threads, no shared mutable
//! state) and the results are put back in item order. This module must never reorder results nor
//! hide an error: the first error in item order wins, and a panic in a worker is re-raised.

use std::ops::Range;

/// The machine's cores, at most `cap` and at least 1.
pub fn cores(cap: usize) -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(cap)
        .max(1)
}

/// Runs `work` over contiguous ranges covering `0..items`, on up to `threads` threads (the first
/// range on the calling thread), and concatenates the results in order. `work` returns one
/// result per index of its range, or the first error of its range.
pub fn map_ranges<T, E, F>(threads: usize, items: usize, work: F) -> Result<Vec<T>, E>
where
    T: Send,
    E: Send,
    F: Fn(Range<usize>) -> Result<Vec<T>, E> + Sync,
{
    let threads = threads.clamp(1, items.max(1));
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
        let handles: Vec<_> = ranges
            .iter()
            .skip(1)
            .cloned()
            .map(|range| scope.spawn(move || work(range)))
            .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_item_order_and_the_first_error_wins() {
        for threads in [1, 2, 3, 8] {
            let squares =
                map_ranges(threads, 10, |r| Ok::<_, ()>(r.map(|i| i * i).collect())).unwrap();
            assert_eq!(squares, (0..10).map(|i| i * i).collect::<Vec<_>>());
            let err = map_ranges(threads, 10, |r| {
                r.map(|i| if i % 4 == 3 { Err(i) } else { Ok(i) })
                    .collect::<Result<Vec<_>, _>>()
            });
            assert_eq!(err, Err(3));
            assert_eq!(
                map_ranges(threads, 0, |r| Ok::<_, ()>(r.collect())),
                Ok(vec![])
            );
        }
    }
}
