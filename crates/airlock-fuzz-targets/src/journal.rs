//! The signer's chained files: the decision journal and the transfer journal, read against their
//! head file (`airlock_signer_app::journal::verify_chained`, the function every reader uses).
//!
//! Input: `head text \0|\0| file bytes`; the mode byte picks the entry type. Checks: the
//! verdict never panics; an accepted file's verified prefix ends at a line break and lies inside
//! the input; a torn line is exactly what follows that prefix; entries are numbered 1.. and
//! chained; the head names the last entry (or, for a head one behind, the one before it).

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
            let before = entries.len().checked_sub(2).map(|i| line(&entries[i]));
            assert_eq!(head.map(str::to_owned), before);
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
