//! The signer's chained files: the decision journal and the transfer journal, read against their
//! head file (`airlock_signer_app::journal::verify_chained`, the function every reader uses).
//!
//! Input: `head text \0|\0| file bytes`; the mode byte picks the entry type. Checks: the
//! verdict never panics; an accepted file's verified prefix ends at a line break and lies inside
//! the input; a torn line is exactly what follows that prefix; entries are numbered 1.. and
//! chained; the head names the last entry (or, for a head one behind, the one before it or
//! before a whole batch); a torn batch drops exactly what follows the entry the head names.

use airlock_signer_app::journal::{ChainedEntry, JournalEntry, Residue, Verified, verify_chained};
use airlock_signer_app::transfers::TransferEntry;

fn check<E: ChainedEntry>(verdict: Result<Verified<E>, String>, file: &[u8], head: Option<&str>) {
    let Ok((entries, verified_len, residue)) = verdict else {
        return;
    };
    let verified_len = verified_len as usize;
    assert!(verified_len <= file.len());
    assert!(verified_len == 0 || file[verified_len - 1] == b'\n');
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq(), i as u64 + 1);
        assert_eq!(e.compute_hash(), e.hash());
    }
    let line = |e: &E| format!("{} {}", e.seq(), e.hash());
    let head = head.map(str::trim);
    match residue {
        None => {
            assert_eq!(verified_len, file.len());
            assert_eq!(head.map(str::to_owned), entries.last().map(line));
        }
        Some(Residue::TornLine { bytes }) => {
            assert_eq!(verified_len + bytes, file.len());
            assert!(bytes > 0);
            assert_eq!(head.map(str::to_owned), entries.last().map(line));
        }
        Some(Residue::HeadBehind { seq }) => {
            assert_eq!(seq as usize, entries.len());
            assert_eq!(verified_len, file.len());
            // The head names the entry before the unacknowledged append: one entry, or a whole
            // batch whose entries all name its last.
            let named = match head.filter(|h| !h.is_empty()) {
                None => 0,
                Some(h) => {
                    entries
                        .iter()
                        .position(|e| line(e) == h)
                        .expect("the head names an entry")
                        + 1
                }
            };
            let tail = &entries[named..];
            assert!(
                tail.len() == 1 || tail.iter().all(|e| e.batch_end() == seq),
                "a head behind by more than one entry outside a batch"
            );
        }
        Some(Residue::TornBatch {
            entries: dropped,
            bytes,
        }) => {
            assert!(dropped > 0 && bytes > 0);
            assert_eq!(verified_len + bytes, file.len());
            let kept = entries.last().map(line);
            match head.filter(|h| !h.is_empty()) {
                None => assert!(kept.is_none()),
                Some(h) => assert_eq!(Some(h.to_owned()), kept),
            }
        }
    }
}

pub fn run(data: &[u8]) {
    let (mode, rest) = crate::mode(data);
    let parts = crate::parts(rest, 2);
    let (head, file) = match parts.as_slice() {
        [file] => (None, *file),
        [head, file] => (std::str::from_utf8(head).ok(), *file),
        _ => return,
    };
    if mode % 2 == 0 {
        check::<JournalEntry>(
            verify_chained(file, head, "journal", "journal.head"),
            file,
            head,
        );
    } else {
        check::<TransferEntry>(
            verify_chained(file, head, "transfer journal", "transfers.head"),
            file,
            head,
        );
    }
}
