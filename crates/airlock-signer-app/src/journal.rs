//! The signer's journal: an append-only, hash-chained, fsynced record of every approval and
//! rejection this signer issued, with the artifact itself.
//!
//! Each line is a JSON entry whose `hash` is SHA-256 over the canonical CBOR encoding of its other
//! fields, `prev` included; `journal.head` (written atomically after each append) names the last
//! entry, so a truncated journal is caught too. The signer consults the journal before every
//! decision: it never approves two proposals that consume the same funds or nonce, never decides
//! twice on one proposal, and sums its own approvals for rolling-window limits.
//!
//! The chaining itself (`ChainedLog`) is generic: the transfer journal (`transfers`) is a second
//! chained file built on it.
//!
//! This module must never rewrite or drop an entry, and never trust a journal that fails `verify`.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use airlock_core::cbor::{self, Value};
use airlock_core::fields::MapBuilder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::SignerError;

const JOURNAL_FILE: &str = "journal.log";
const HEAD_FILE: &str = "journal.head";
/// Largest journal read (a line per decision; 64 MiB is a lifetime of decisions).
const MAX_JOURNAL_LEN: u64 = 64 * 1024 * 1024;

/// One decision in the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub seq: u64,
    /// Hash of the previous entry (64 zeros for the first).
    pub prev: String,
    pub at: u64,
    pub proposal: String,
    pub approval: String,
    pub vault: String,
    pub version: u64,
    /// "approve", "reject", or "release" (the reservation of an earlier approval ends: the
    /// coordinator's signed, logged record says that proposal will never be finalized).
    pub decision: String,
    /// Total of the transfers approved (as the signer computed them).
    pub amount: u128,
    pub spends: Vec<String>,
    pub reason: String,
    /// The approval envelope, hex-encoded, so a lost output file can be written again (for a
    /// release: the coordinator's record that ended the reservation).
    pub envelope: String,
    /// When the proposal expires (0 in entries written before expiry was journaled: such an
    /// approval's reservation ends only by a release).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub expires: u64,
    /// For an entry written by a batch decision: the sequence number of the batch's last entry
    /// (0 otherwise). A batch is one commit: entries of a batch cut short by a crash are dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub batch_end: u64,
    pub hash: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The journal's decision words.
pub const APPROVE: &str = "approve";
pub const REJECT: &str = "reject";
pub const RELEASE: &str = "release";

impl JournalEntry {
    fn compute_hash(&self) -> String {
        let value = MapBuilder::new()
            .uint(1, self.seq)
            .text(2, &self.prev)
            .uint(3, self.at)
            .text(4, &self.proposal)
            .text(5, &self.approval)
            .text(6, &self.vault)
            .uint(7, self.version)
            .text(8, &self.decision)
            .amount(9, self.amount)
            .array(
                10,
                self.spends.iter().map(|s| Value::Text(s.clone())).collect(),
            )
            .text(11, &self.reason)
            .text(12, &self.envelope)
            // Absent in older entries, so that they keep their hashes.
            .opt(
                13,
                (self.expires != 0).then_some(Value::Unsigned(self.expires)),
            )
            .opt(
                14,
                (self.batch_end != 0).then_some(Value::Unsigned(self.batch_end)),
            )
            .build();
        hex::encode(Sha256::digest(cbor::encode(&value)))
    }
}

/// A new decision to record.
pub struct NewJournalEntry {
    pub at: u64,
    pub proposal: String,
    pub approval: String,
    pub vault: String,
    pub version: u64,
    pub decision: String,
    pub amount: u128,
    pub spends: Vec<String>,
    pub reason: String,
    pub envelope: Vec<u8>,
    pub expires: u64,
}

/// An entry of a hash-chained file: numbered from 1, naming the previous entry's hash, and
/// hashed over the canonical CBOR of its other fields.
pub trait ChainedEntry: Serialize + serde::de::DeserializeOwned {
    fn seq(&self) -> u64;
    fn prev(&self) -> &str;
    fn hash(&self) -> &str;
    /// SHA-256 (hex) over the canonical CBOR of every field but `hash`.
    fn compute_hash(&self) -> String;
    /// Sets the chain fields of a new entry.
    fn link(&mut self, seq: u64, prev: String, hash: String);
    /// The sequence number of the last entry of the batch this entry was appended with (0: not
    /// part of a batch). Files whose entries are never batched keep the default.
    fn batch_end(&self) -> u64 {
        0
    }
    /// Marks a new entry as part of a batch ending at `end` (before its hash is computed).
    fn set_batch_end(&mut self, _end: u64) {}
}

/// What a crash (a kill or a power cut at any write, fsync or rename of an append) can leave
/// behind, as opposed to tampering. Both are told apart exactly: anything else that does not
/// verify is tampering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Residue {
    /// Bytes after the last complete line (a line is complete with its newline): an append that
    /// was cut short. The entry was never acknowledged; it is dropped.
    TornLine { bytes: usize },
    /// The last entry is complete and valid but the head still names the one before it: the
    /// append was cut between the entry's fsync and the head's rename. The entry stands (for a
    /// batch: every entry of the batch is there, and they all stand).
    HeadBehind { seq: u64 },
    /// Only part of a batch reached the file (a crash during its write): the whole batch was
    /// never acknowledged, and all of it is dropped.
    TornBatch { entries: usize, bytes: usize },
}

impl std::fmt::Display for Residue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Residue::TornLine { bytes } => write!(
                f,
                "an interrupted append left {bytes} byte(s) of an unfinished entry (dropped)"
            ),
            Residue::HeadBehind { seq } => write!(
                f,
                "entry {seq} was written but its head update was interrupted (entry kept)"
            ),
            Residue::TornBatch { entries, bytes } => write!(
                f,
                "an interrupted batch left {entries} of its entries ({bytes} bytes) (dropped: a batch is recorded whole or not at all)"
            ),
        }
    }
}

/// An append-only JSON-lines file whose entries are hash-chained, with a head file naming the
/// last entry so truncation is caught too. The decision journal and the transfer journal are
/// both one.
///
/// Commit point: an entry is recorded once its complete line (with the newline) is fsynced. The
/// head is then replaced atomically; it may lag by exactly one entry after a crash, which
/// [`Residue::HeadBehind`] recognizes. Readers tolerate the residue of a crash in memory; the next
/// append (which runs under the home lock) repairs it on disk first.
#[derive(Debug)]
pub struct ChainedLog<E> {
    /// What the file is, for messages ("journal", "transfer journal").
    what: &'static str,
    path: PathBuf,
    head_path: PathBuf,
    entries: Vec<E>,
    /// Length of the file's verified prefix (every complete entry).
    verified_len: u64,
    residue: Option<Residue>,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What verifying a chained file found: its entries, the length of its verified prefix, and the
/// residue of a crash, if any.
pub type Verified<E> = (Vec<E>, u64, Option<Residue>);

/// Verifies the bytes of a chained file against its head file's text (`None`: no head file).
/// Pure: the file readers and the fuzz target share it. The error is the problem found, in words
/// (every error is tampering: crash residue is not an error).
pub fn verify_chained<E: ChainedEntry>(
    bytes: &[u8],
    head: Option<&str>,
    what: &str,
    head_name: &str,
) -> Result<Verified<E>, String> {
    // Complete lines end with a newline; what follows the last one is an unfinished append.
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let torn = bytes.len() - complete;
    let text =
        std::str::from_utf8(&bytes[..complete]).map_err(|_| "it is not UTF-8 text".to_owned())?;
    let mut entries: Vec<E> = Vec::new();
    // The byte offset just past each entry's line.
    let mut line_ends: Vec<usize> = Vec::new();
    for (n, line) in text.split_inclusive('\n').enumerate() {
        line_ends.push(line_ends.last().copied().unwrap_or(0) + line.len());
        let line = line.trim_end_matches('\n');
        let entry: E = serde_json::from_str(line)
            .map_err(|e| format!("line {} is not a {what} entry ({e})", n + 1))?;
        let expected_prev = entries.last().map(|e| e.hash()).unwrap_or(GENESIS);
        if entry.seq() != n as u64 + 1 {
            return Err(format!(
                "line {} has sequence number {}",
                n + 1,
                entry.seq()
            ));
        }
        if entry.prev() != expected_prev {
            return Err(format!(
                "entry {} does not follow entry {} (hash chain broken)",
                entry.seq(),
                n
            ));
        }
        if entry.compute_hash() != entry.hash() {
            return Err(format!("entry {} does not match its hash", entry.seq()));
        }
        if entry.batch_end() != 0 && entry.batch_end() < entry.seq() {
            return Err(format!(
                "entry {} names a batch that ended before it",
                entry.seq()
            ));
        }
        entries.push(entry);
    }
    let head_line = |e: &E| format!("{} {}", e.seq(), e.hash());
    let head = head.map(|h| h.trim().to_owned());
    let actual = entries.last().map(head_line);
    let before_last = match entries.len() {
        0 => None,
        n => Some(entries[..n - 1].last().map(head_line)),
    };
    // An unacknowledged batch: the head names the entry just before it, and every entry after
    // the head belongs to that one batch.
    let head_at = match head.as_deref() {
        None | Some("") => Some(0),
        Some(h) => entries
            .iter()
            .position(|e| head_line(e) == h)
            .map(|i| i + 1),
    };
    let batch_tail = head_at.filter(|&at| at < entries.len()).and_then(|at| {
        let end = entries[at].batch_end();
        let first = entries[at].seq();
        (end != 0
            && entries[at..]
                .iter()
                .all(|e| e.batch_end() == end && e.seq() >= first))
        .then_some((at, end))
    });
    let residue = if head == actual {
        (torn > 0).then_some(Residue::TornLine { bytes: torn })
    } else if let Some((at, end)) = batch_tail {
        let last = entries.last().map(|e| e.seq()).unwrap_or(0);
        if last == end && torn == 0 {
            Some(Residue::HeadBehind { seq: last })
        } else {
            let kept_len = if at == 0 { 0 } else { line_ends[at - 1] };
            let dropped = entries.len() - at;
            entries.truncate(at);
            return Ok((
                entries,
                kept_len as u64,
                Some(Residue::TornBatch {
                    entries: dropped,
                    bytes: bytes.len() - kept_len,
                }),
            ));
        }
    } else if torn == 0 && before_last.as_ref() == Some(&head) {
        Some(Residue::HeadBehind {
            seq: entries.len() as u64,
        })
    } else {
        return Err(format!(
            "{head_name} says {:?} but the {what} ends at {:?} (entries removed or added)",
            head.unwrap_or_else(|| "nothing".into()),
            actual.unwrap_or_else(|| "nothing".into())
        ));
    };
    Ok((entries, complete as u64, residue))
}

impl<E: ChainedEntry> ChainedLog<E> {
    /// Opens and verifies `dir/file` with its head `dir/head`; a missing file is empty.
    pub fn open(
        dir: &Path,
        file: &str,
        head: &str,
        what: &'static str,
    ) -> Result<ChainedLog<E>, SignerError> {
        let path = dir.join(file);
        let head_path = dir.join(head);
        let (entries, verified_len, residue) = Self::read_verified(what, &path, &head_path)?;
        Ok(ChainedLog {
            what,
            path,
            head_path,
            entries,
            verified_len,
            residue,
        })
    }

    fn tampered(what: &str, problem: String) -> SignerError {
        SignerError::Journal(format!(
            "the {what} has been tampered with or damaged: {problem}; the signer refuses to decide until it is restored"
        ))
    }

    fn head_line(entry: &E) -> String {
        format!("{} {}", entry.seq(), entry.hash())
    }

    /// Reads and verifies the files. A reader that holds no lock may meet appends in flight: the
    /// head is read before the entries (so one append in flight reads as a head one behind), and
    /// a read that looks tampered is read again after a pause; only a verdict that stands on a
    /// second reading of unchanged files is reported.
    fn read_verified(
        what: &str,
        path: &Path,
        head_path: &Path,
    ) -> Result<Verified<E>, SignerError> {
        let read = || -> Result<(Option<String>, Vec<u8>), SignerError> {
            let head = match std::fs::read_to_string(head_path) {
                Ok(h) => Some(h),
                Err(_) if !head_path.exists() => None,
                Err(e) => return Err(SignerError::Io(format!("{}: {e}", head_path.display()))),
            };
            let bytes = match airlock_transport::read_bounded(path, MAX_JOURNAL_LEN) {
                Ok(bytes) => bytes,
                Err(_) if !path.exists() => Vec::new(),
                Err(e) => return Err(SignerError::Io(e.to_string())),
            };
            Ok((head, bytes))
        };
        let head_name = head_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut files = read()?;
        let mut attempts = 0;
        loop {
            let verdict = verify_chained::<E>(&files.1, files.0.as_deref(), what, &head_name);
            match verdict {
                Ok(v) => return Ok(v),
                Err(problem) => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    let again = read()?;
                    if again == files || attempts >= 20 {
                        return Err(Self::tampered(what, problem));
                    }
                    files = again;
                }
            }
        }
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    /// What a crash left behind, if anything (tolerated; repaired by the next append).
    pub fn residue(&self) -> Option<&Residue> {
        self.residue.as_ref()
    }

    fn io(&self) -> impl Fn(std::io::Error) -> SignerError + '_ {
        move |e| SignerError::Io(format!("{}: {e}", self.path.display()))
    }

    /// Puts the files back into the shape of a completed append: drops a torn line, makes the
    /// kept entries durable, then brings the head up to date. Only under the home lock.
    fn repair(&mut self) -> Result<(), SignerError> {
        if self.residue.is_none() {
            return Ok(());
        }
        if self.path.exists() {
            let file = OpenOptions::new()
                .write(true)
                .open(&self.path)
                .map_err(self.io())?;
            file.set_len(self.verified_len).map_err(self.io())?;
            file.sync_all().map_err(self.io())?;
        }
        let head = self
            .entries
            .last()
            .map(|e| format!("{}\n", Self::head_line(e)))
            .unwrap_or_default();
        airlock_transport::write_atomic(&self.head_path, head.as_bytes())
            .map_err(|e| SignerError::Io(format!("{}: {e}", self.what)))?;
        self.residue = None;
        Ok(())
    }

    /// Appends an entry (its chain fields are set here): repair any crash residue, write the
    /// line, fsync it (the commit point), then replace the head atomically. The caller holds the
    /// home lock.
    pub fn append(&mut self, mut entry: E) -> Result<&E, SignerError> {
        self.repair()?;
        let seq = self.entries.len() as u64 + 1;
        let prev = self
            .entries
            .last()
            .map(|e| e.hash().to_owned())
            .unwrap_or_else(|| GENESIS.to_owned());
        entry.link(seq, prev.clone(), String::new());
        let hash = entry.compute_hash();
        entry.link(seq, prev, hash);
        let mut line = serde_json::to_string(&entry).expect("entry serializes");
        line.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(self.io())?;
        file.write_all(line.as_bytes()).map_err(self.io())?;
        airlock_transport::failpoint::hit("chained-log.written", &self.path.display());
        file.sync_all().map_err(self.io())?;
        airlock_transport::failpoint::hit("chained-log.synced", &self.path.display());
        airlock_transport::write_atomic(
            &self.head_path,
            format!("{}\n", Self::head_line(&entry)).as_bytes(),
        )
        .map_err(|e| SignerError::Io(format!("{}: {e}", self.what)))?;
        self.verified_len += line.len() as u64;
        self.entries.push(entry);
        Ok(self.entries.last().expect("just pushed"))
    }

    /// Appends several entries as one commit: repair any crash residue, write every line with
    /// one write, fsync once, then replace the head. Each entry names the batch's last sequence
    /// number, so a crash that leaves only part of the batch in the file drops all of it
    /// ([`Residue::TornBatch`]). One entry is a plain [`ChainedLog::append`]. The caller holds
    /// the home lock.
    pub fn append_batch(&mut self, batch: Vec<E>) -> Result<&[E], SignerError> {
        let count = batch.len();
        if count <= 1 {
            if let Some(entry) = batch.into_iter().next() {
                self.append(entry)?;
            }
            let start = self.entries.len() - count;
            return Ok(&self.entries[start..]);
        }
        self.repair()?;
        let first_seq = self.entries.len() as u64 + 1;
        let end = first_seq + count as u64 - 1;
        let mut prev = self
            .entries
            .last()
            .map(|e| e.hash().to_owned())
            .unwrap_or_else(|| GENESIS.to_owned());
        let mut text = String::new();
        let mut linked = Vec::with_capacity(count);
        for (n, mut entry) in batch.into_iter().enumerate() {
            let seq = first_seq + n as u64;
            entry.set_batch_end(end);
            entry.link(seq, prev.clone(), String::new());
            let hash = entry.compute_hash();
            entry.link(seq, prev, hash.clone());
            prev = hash;
            text.push_str(&serde_json::to_string(&entry).expect("entry serializes"));
            text.push('\n');
            linked.push(entry);
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(self.io())?;
        file.write_all(text.as_bytes()).map_err(self.io())?;
        airlock_transport::failpoint::hit("chained-log.batch-written", &self.path.display());
        file.sync_all().map_err(self.io())?;
        airlock_transport::failpoint::hit("chained-log.synced", &self.path.display());
        let last = linked.last().expect("a batch of two or more");
        airlock_transport::write_atomic(
            &self.head_path,
            format!("{}\n", Self::head_line(last)).as_bytes(),
        )
        .map_err(|e| SignerError::Io(format!("{}: {e}", self.what)))?;
        self.verified_len += text.len() as u64;
        self.entries.extend(linked);
        Ok(&self.entries[self.entries.len() - count..])
    }
}

impl ChainedEntry for JournalEntry {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn prev(&self) -> &str {
        &self.prev
    }
    fn hash(&self) -> &str {
        &self.hash
    }
    fn compute_hash(&self) -> String {
        JournalEntry::compute_hash(self)
    }
    fn link(&mut self, seq: u64, prev: String, hash: String) {
        self.seq = seq;
        self.prev = prev;
        self.hash = hash;
    }
    fn batch_end(&self) -> u64 {
        self.batch_end
    }
    fn set_batch_end(&mut self, end: u64) {
        self.batch_end = end;
    }
}

/// The decision journal in a signer's home directory, with in-memory indexes so that the checks
/// a review makes per proposal (one decision per proposal, funds already reserved) do not scan
/// every entry: a batch of thousands against a journal of tens of thousands stays linear.
#[derive(Debug)]
pub struct Journal {
    log: ChainedLog<JournalEntry>,
    /// Per proposal: the position of its first decision and of its first release.
    by_proposal: HashMap<String, (Option<usize>, Option<usize>)>,
    /// Per spend: the positions of the approvals that consume it, in journal order.
    by_spend: HashMap<String, Vec<usize>>,
}

impl Journal {
    /// Opens and verifies the journal; a missing journal is empty.
    pub fn open(dir: &Path) -> Result<Journal, SignerError> {
        let mut journal = Journal {
            log: ChainedLog::open(dir, JOURNAL_FILE, HEAD_FILE, "journal")?,
            by_proposal: HashMap::new(),
            by_spend: HashMap::new(),
        };
        journal.index_from(0);
        Ok(journal)
    }

    /// Adds the entries from position `start` on to the indexes.
    fn index_from(&mut self, start: usize) {
        for (at, e) in self.log.entries().iter().enumerate().skip(start) {
            let slot = self.by_proposal.entry(e.proposal.clone()).or_default();
            if e.decision == RELEASE {
                slot.1.get_or_insert(at);
            } else {
                slot.0.get_or_insert(at);
            }
            if e.decision == APPROVE {
                for spend in &e.spends {
                    let positions = self.by_spend.entry(spend.clone()).or_default();
                    if positions.last() != Some(&at) {
                        positions.push(at);
                    }
                }
            }
        }
    }

    pub fn entries(&self) -> &[JournalEntry] {
        self.log.entries()
    }

    /// What a crash left in the journal, if anything (tolerated; repaired by the next append).
    pub fn residue(&self) -> Option<&Residue> {
        self.log.residue()
    }

    /// Appends an entry: repair crash residue, write, fsync, then update the head atomically.
    /// The caller holds the home lock.
    pub fn append(&mut self, new: NewJournalEntry) -> Result<&JournalEntry, SignerError> {
        let start = self.entries().len();
        self.log.append(Self::unlinked(new))?;
        self.index_from(start);
        Ok(&self.entries()[start])
    }

    /// Appends the decisions of a batch as one commit (see [`ChainedLog::append_batch`]): after
    /// a crash either all of them are in the journal or none is. The caller holds the home lock.
    pub fn append_batch(
        &mut self,
        batch: Vec<NewJournalEntry>,
    ) -> Result<&[JournalEntry], SignerError> {
        let start = self.entries().len();
        self.log
            .append_batch(batch.into_iter().map(Self::unlinked).collect())?;
        self.index_from(start);
        Ok(&self.entries()[start..])
    }

    fn unlinked(new: NewJournalEntry) -> JournalEntry {
        JournalEntry {
            seq: 0,
            prev: String::new(),
            at: new.at,
            proposal: new.proposal,
            approval: new.approval,
            vault: new.vault,
            version: new.version,
            decision: new.decision,
            amount: new.amount,
            spends: new.spends,
            reason: new.reason,
            envelope: hex::encode(new.envelope),
            expires: new.expires,
            batch_end: 0,
            hash: String::new(),
        }
    }

    /// The decision (approval or rejection) this signer made on a proposal, if any.
    pub fn decision_on(&self, proposal_hex: &str) -> Option<&JournalEntry> {
        let at = self.by_proposal.get(proposal_hex)?.0?;
        self.entries().get(at)
    }

    /// The release of a proposal's reservation, if one was recorded.
    pub fn release_of(&self, proposal_hex: &str) -> Option<&JournalEntry> {
        let at = self.by_proposal.get(proposal_hex)?.1?;
        self.entries().get(at)
    }

    /// Why an approval no longer reserves what it spends at `now`, if it does not: its proposal
    /// expired by this signer's clock, or the coordinator's record released it.
    pub fn reservation_ended(&self, approval: &JournalEntry, now: u64) -> Option<String> {
        if let Some(release) = self.release_of(&approval.proposal) {
            return Some(format!(
                "released at {}: {}",
                airlock_core::format_time(release.at),
                release.reason
            ));
        }
        (approval.expires != 0 && now >= approval.expires)
            .then(|| format!("expired at {}", airlock_core::format_time(approval.expires)))
    }

    /// Earlier approvals (of proposals other than `proposal_hex`) that spend one of `spends`,
    /// each with the first shared spend and, when its reservation has ended, why.
    pub fn approvals_spending(
        &self,
        proposal_hex: &str,
        spends: &[String],
        now: u64,
    ) -> Vec<SpendConflict<'_>> {
        // The approvals consuming any of `spends`, in journal order.
        let mut positions: Vec<usize> = spends
            .iter()
            .filter_map(|s| self.by_spend.get(s))
            .flatten()
            .copied()
            .collect();
        positions.sort_unstable();
        positions.dedup();
        positions
            .into_iter()
            .filter_map(|at| self.entries().get(at))
            .filter(|e| e.decision == APPROVE && e.proposal != proposal_hex)
            .filter_map(|e| {
                let spend = spends.iter().find(|s| e.spends.contains(s))?;
                Some(SpendConflict {
                    approval: e,
                    spend: spend.clone(),
                    ended: self.reservation_ended(e, now),
                })
            })
            .collect()
    }

    /// An approval whose reservation still holds (other than `proposal_hex`) that consumes one
    /// of `spends`.
    pub fn conflicting_approval(
        &self,
        proposal_hex: &str,
        spends: &[String],
        now: u64,
    ) -> Option<(&JournalEntry, String)> {
        self.approvals_spending(proposal_hex, spends, now)
            .into_iter()
            .find(|c| c.ended.is_none())
            .map(|c| (c.approval, c.spend))
    }

    /// The amount this signer approved in a vault in the `secs` seconds before `now`. Released
    /// and expired approvals still count: their signatures do not expire on chain.
    pub fn approved_in_window(&self, vault: &str, now: u64, secs: u64) -> u128 {
        self.entries()
            .iter()
            .filter(|e| e.decision == APPROVE && e.vault == vault && e.at + secs > now)
            .map(|e| e.amount)
            .fold(0u128, u128::saturating_add)
    }
}

/// An earlier approval that spends what a new payload spends.
#[derive(Debug)]
pub struct SpendConflict<'a> {
    pub approval: &'a JournalEntry,
    /// The first spend both consume.
    pub spend: String,
    /// `None` while the earlier approval's reservation holds; otherwise why it ended.
    pub ended: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(proposal: &str, spends: &[&str], at: u64) -> NewJournalEntry {
        NewJournalEntry {
            at,
            proposal: proposal.into(),
            approval: "aa".into(),
            vault: "treasury".into(),
            version: 1,
            decision: "approve".into(),
            amount: 100,
            spends: spends.iter().map(|s| s.to_string()).collect(),
            reason: String::new(),
            envelope: vec![1, 2, 3],
            expires: at + 3600,
        }
    }

    #[test]
    fn appends_verify_and_detect_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(new("p1", &["utxo:1"], 1000)).unwrap();
        j.append(new("p2", &["utxo:2"], 2000)).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.entries().len(), 2);
        assert!(
            j.conflicting_approval("p3", &["utxo:2".into()], 2500)
                .is_some()
        );
        assert!(
            j.conflicting_approval("p2", &["utxo:2".into()], 2500)
                .is_none()
        );
        // The reservation ends when the proposal expires by this signer's clock …
        assert!(
            j.conflicting_approval("p3", &["utxo:2".into()], 2000 + 3600)
                .is_none()
        );
        let ended = j.approvals_spending("p3", &["utxo:2".into()], 2000 + 3600);
        assert!(ended[0].ended.as_deref().unwrap().starts_with("expired"));
        assert_eq!(j.approved_in_window("treasury", 2500, 1000), 100);
        assert_eq!(j.approved_in_window("treasury", 2500, 2000), 200);
        assert!(j.decision_on("p1").is_some());
    }

    #[test]
    fn tampering_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(new("p1", &["utxo:1"], 1000)).unwrap();
        j.append(new("p2", &["utxo:2"], 2000)).unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let original = std::fs::read_to_string(&path).unwrap();
        // An edited amount.
        std::fs::write(
            &path,
            original.replacen("\"amount\":100", "\"amount\":1", 1),
        )
        .unwrap();
        assert!(
            Journal::open(dir.path())
                .unwrap_err()
                .to_string()
                .contains("does not match its hash")
        );
        // A dropped last line.
        let first_line = original.lines().next().unwrap().to_owned() + "\n";
        std::fs::write(&path, &first_line).unwrap();
        assert!(
            Journal::open(dir.path())
                .unwrap_err()
                .to_string()
                .contains("entries removed")
        );
        // A dropped first line.
        let second_line = original.lines().nth(1).unwrap().to_owned() + "\n";
        std::fs::write(&path, second_line).unwrap();
        assert!(Journal::open(dir.path()).is_err());
        std::fs::write(&path, &original).unwrap();
        assert!(Journal::open(dir.path()).is_ok());
    }

    #[test]
    fn a_release_ends_a_reservation_and_old_entries_keep_their_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        let mut old = new("p1", &["utxo:1"], 1000);
        old.expires = 0;
        j.append(old).unwrap();
        // An entry without an expiry (older journals) reserves until released.
        assert!(
            j.conflicting_approval("p2", &["utxo:1".into()], u64::MAX - 1)
                .is_some()
        );
        let line = std::fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
        assert!(!line.contains("expires"), "{line}");
        let mut release = new("p1", &[], 1500);
        release.decision = RELEASE.into();
        release.reason = "abandoned".into();
        j.append(release).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert!(
            j.conflicting_approval("p2", &["utxo:1".into()], 1600)
                .is_none()
        );
        assert_eq!(j.decision_on("p1").unwrap().decision, APPROVE);
        assert!(j.release_of("p1").is_some());
    }

    /// Every state a crash can leave an append in opens (with the residue named), and the next
    /// append repairs it; the same shapes made by hand beyond one entry are tampering.
    #[test]
    fn crash_residue_is_repaired_and_told_apart_from_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let head = dir.path().join(HEAD_FILE);
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(new("p1", &["utxo:1"], 1000)).unwrap();
        let one_line = std::fs::read_to_string(&path).unwrap();
        let one_head = std::fs::read_to_string(&head).unwrap();
        j.append(new("p2", &["utxo:2"], 2000)).unwrap();
        let two_lines = std::fs::read_to_string(&path).unwrap();

        // Cut after the line was written, before the head was replaced: the entry stands.
        std::fs::write(&head, &one_head).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.entries().len(), 2);
        assert_eq!(j.residue(), Some(&Residue::HeadBehind { seq: 2 }));
        // The first append ever, cut before its head existed.
        let first = tempfile::tempdir().unwrap();
        std::fs::write(first.path().join(JOURNAL_FILE), &one_line).unwrap();
        assert_eq!(Journal::open(first.path()).unwrap().entries().len(), 1);

        // Cut in the middle of writing the line: the unfinished entry is dropped.
        let torn = &two_lines[..one_line.len() + 40];
        std::fs::write(&path, torn).unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.entries().len(), 1);
        assert_eq!(j.residue(), Some(&Residue::TornLine { bytes: 40 }));
        // The next append repairs first and continues the chain from entry 1.
        j.append(new("p3", &["utxo:3"], 3000)).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.residue(), None);
        assert_eq!(j.entries().len(), 2);
        assert_eq!(j.entries()[1].proposal, "p3");

        // Tampering stays tampering: a head two entries behind, a removed entry, an invalid
        // complete last line.
        let good = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&head, "").unwrap();
        assert!(Journal::open(dir.path()).is_err());
        std::fs::write(&head, &one_head).unwrap();
        std::fs::write(&path, &one_line[..one_line.len() - 1]).unwrap();
        assert!(Journal::open(dir.path()).is_err());
        std::fs::write(&path, format!("{one_line}{{\"seq\":2}}\n")).unwrap();
        assert!(Journal::open(dir.path()).is_err());
        std::fs::write(&path, good).unwrap();
    }

    #[test]
    fn a_batch_is_recorded_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let head = dir.path().join(HEAD_FILE);
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(new("p1", &["utxo:1"], 1000)).unwrap();
        let before = std::fs::read_to_string(&path).unwrap();
        let before_head = std::fs::read_to_string(&head).unwrap();
        let written = j
            .append_batch(vec![
                new("p2", &["utxo:2"], 2000),
                new("p3", &["utxo:3"], 2000),
                new("p4", &["utxo:4"], 2000),
            ])
            .unwrap();
        assert_eq!(written.len(), 3);
        assert!(written.iter().all(|e| e.batch_end == 4));
        let full = std::fs::read_to_string(&path).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.entries().len(), 4);
        assert_eq!(j.residue(), None);

        // Every cut of the batch's write at a line boundary or inside a line, before the head
        // moved: nothing of the batch stands, and the next append continues from entry 1.
        let lines: Vec<usize> = full
            .match_indices('\n')
            .map(|(i, _)| i + 1)
            .filter(|&end| end > before.len())
            .collect();
        for cut in [
            before.len() + 1,
            lines[0],
            lines[0] + 7,
            lines[1],
            lines[2] - 1,
        ] {
            std::fs::write(&path, &full[..cut]).unwrap();
            std::fs::write(&head, &before_head).unwrap();
            let j = Journal::open(dir.path()).unwrap();
            assert_eq!(j.entries().len(), 1, "cut at {cut}");
            assert!(
                matches!(
                    j.residue(),
                    Some(Residue::TornBatch { .. }) | Some(Residue::TornLine { .. })
                ),
                "cut at {cut}: {:?}",
                j.residue()
            );
            assert!(j.decision_on("p2").is_none());
        }
        // The whole batch written, the head not yet moved: the batch stands.
        std::fs::write(&path, &full).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.entries().len(), 4);
        assert_eq!(j.residue(), Some(&Residue::HeadBehind { seq: 4 }));
        // A torn batch is repaired by the next append, which chains from entry 1.
        std::fs::write(&path, &full[..lines[1]]).unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(new("p5", &["utxo:5"], 3000)).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.residue(), None);
        let proposals: Vec<&str> = j.entries().iter().map(|e| e.proposal.as_str()).collect();
        assert_eq!(proposals, ["p1", "p5"]);

        // Tampering stays tampering: batch entries after a head that names a later entry, and
        // plain entries presented as the tail of a batch.
        std::fs::write(&path, &full).unwrap();
        std::fs::write(&head, "").unwrap();
        assert!(Journal::open(dir.path()).is_err());
    }

    /// The indexed lookups answer exactly what a scan of every entry answers, after single
    /// appends, batches and a reopen.
    #[test]
    fn indexed_lookups_match_a_scan_of_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let made = |next: &mut dyn FnMut(u64) -> u64| {
            let mut e = new(
                &format!("p{}", next(40)),
                &[&format!("utxo:{}", next(30)), &format!("utxo:{}", next(30))],
                1000 + next(5000),
            );
            e.decision = [APPROVE, APPROVE, REJECT, RELEASE][next(4) as usize].into();
            e
        };
        for round in 0..30 {
            if round % 3 == 0 {
                let batch = (0..1 + next(4)).map(|_| made(&mut next)).collect();
                j.append_batch(batch).unwrap();
            } else {
                j.append(made(&mut next)).unwrap();
            }
        }
        let check = |j: &Journal| {
            for p in 0..42 {
                let p = format!("p{p}");
                let scan = j
                    .entries()
                    .iter()
                    .find(|e| e.proposal == p && e.decision != RELEASE);
                assert_eq!(j.decision_on(&p), scan);
                let scan = j
                    .entries()
                    .iter()
                    .find(|e| e.proposal == p && e.decision == RELEASE);
                assert_eq!(j.release_of(&p), scan);
                for spends in [
                    vec!["utxo:1".to_string()],
                    vec!["utxo:2".into(), "utxo:7".into()],
                ] {
                    let scan: Vec<(u64, String)> = j
                        .entries()
                        .iter()
                        .filter(|e| e.decision == APPROVE && e.proposal != p)
                        .filter_map(|e| {
                            let s = spends.iter().find(|s| e.spends.contains(s))?;
                            Some((e.seq, s.clone()))
                        })
                        .collect();
                    let indexed: Vec<(u64, String)> = j
                        .approvals_spending(&p, &spends, 3000)
                        .into_iter()
                        .map(|c| (c.approval.seq, c.spend))
                        .collect();
                    assert_eq!(indexed, scan, "{p} {spends:?}");
                }
            }
        };
        check(&j);
        check(&Journal::open(dir.path()).unwrap());
    }
}
