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
    /// "approve" or "reject".
    pub decision: String,
    /// Total of the transfers approved (as the signer computed them).
    pub amount: u128,
    pub spends: Vec<String>,
    pub reason: String,
    /// The approval envelope, hex-encoded, so a lost output file can be written again.
    pub envelope: String,
    pub hash: String,
}

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
}

/// An append-only JSON-lines file whose entries are hash-chained, with a head file (written
/// atomically after each fsynced append) naming the last entry so truncation is caught too.
/// The decision journal and the transfer journal are both one.
#[derive(Debug)]
pub struct ChainedLog<E> {
    /// What the file is, for messages ("journal", "transfer journal").
    what: &'static str,
    path: PathBuf,
    head_path: PathBuf,
    entries: Vec<E>,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
        let entries = Self::read_verified(what, &path, &head_path)?;
        Ok(ChainedLog {
            what,
            path,
            head_path,
            entries,
        })
    }

    fn tampered(what: &str, problem: String) -> SignerError {
        SignerError::Journal(format!(
            "the {what} has been tampered with or damaged: {problem}; the signer refuses to decide until it is restored"
        ))
    }

    fn read_verified(what: &str, path: &Path, head_path: &Path) -> Result<Vec<E>, SignerError> {
        let text = match airlock_transport::read_bounded(path, MAX_JOURNAL_LEN) {
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|_| Self::tampered(what, "it is not UTF-8 text".into()))?,
            Err(_) if !path.exists() => String::new(),
            Err(e) => return Err(SignerError::Io(e.to_string())),
        };
        let mut entries: Vec<E> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let entry: E = serde_json::from_str(line).map_err(|e| {
                Self::tampered(what, format!("line {} is not a {what} entry ({e})", n + 1))
            })?;
            let expected_prev = entries.last().map(|e| e.hash()).unwrap_or(GENESIS);
            if entry.seq() != n as u64 + 1 {
                return Err(Self::tampered(
                    what,
                    format!("line {} has sequence number {}", n + 1, entry.seq()),
                ));
            }
            if entry.prev() != expected_prev {
                return Err(Self::tampered(
                    what,
                    format!(
                        "entry {} does not follow entry {} (hash chain broken)",
                        entry.seq(),
                        n
                    ),
                ));
            }
            if entry.compute_hash() != entry.hash() {
                return Err(Self::tampered(
                    what,
                    format!("entry {} does not match its hash", entry.seq()),
                ));
            }
            entries.push(entry);
        }
        let head = match std::fs::read_to_string(head_path) {
            Ok(h) => Some(h.trim().to_owned()),
            Err(_) if !head_path.exists() => None,
            Err(e) => return Err(SignerError::Io(format!("{}: {e}", head_path.display()))),
        };
        let actual = entries.last().map(|e| format!("{} {}", e.seq(), e.hash()));
        if head != actual {
            let head_name = head_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(Self::tampered(
                what,
                format!(
                    "{head_name} says {:?} but the {what} ends at {:?} (entries removed or added)",
                    head.unwrap_or_else(|| "nothing".into()),
                    actual.unwrap_or_else(|| "nothing".into())
                ),
            ));
        }
        Ok(entries)
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    /// Appends an entry (its chain fields are set here): write, fsync, then update the head
    /// atomically.
    pub fn append(&mut self, mut entry: E) -> Result<&E, SignerError> {
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
        let io = |e: std::io::Error| SignerError::Io(format!("{}: {e}", self.path.display()));
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        airlock_transport::write_atomic(
            &self.head_path,
            format!("{} {}\n", entry.seq(), entry.hash()).as_bytes(),
        )
        .map_err(|e| SignerError::Io(format!("{}: {e}", self.what)))?;
        self.entries.push(entry);
        Ok(self.entries.last().expect("just pushed"))
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
}

/// The decision journal in a signer's home directory.
#[derive(Debug)]
pub struct Journal {
    log: ChainedLog<JournalEntry>,
}

impl Journal {
    /// Opens and verifies the journal; a missing journal is empty.
    pub fn open(dir: &Path) -> Result<Journal, SignerError> {
        Ok(Journal {
            log: ChainedLog::open(dir, JOURNAL_FILE, HEAD_FILE, "journal")?,
        })
    }

    pub fn entries(&self) -> &[JournalEntry] {
        self.log.entries()
    }

    /// Appends an entry: write, fsync, then update the head atomically.
    pub fn append(&mut self, new: NewJournalEntry) -> Result<&JournalEntry, SignerError> {
        self.log.append(JournalEntry {
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
            hash: String::new(),
        })
    }

    /// The entry for a proposal, if this signer already decided on it.
    pub fn decision_on(&self, proposal_hex: &str) -> Option<&JournalEntry> {
        self.entries().iter().find(|e| e.proposal == proposal_hex)
    }

    /// An approved proposal (other than `proposal_hex`) that consumes one of `spends`.
    pub fn conflicting_approval(
        &self,
        proposal_hex: &str,
        spends: &[String],
    ) -> Option<(&JournalEntry, String)> {
        self.entries()
            .iter()
            .filter(|e| e.decision == "approve" && e.proposal != proposal_hex)
            .find_map(|e| {
                spends
                    .iter()
                    .find(|s| e.spends.contains(s))
                    .map(|s| (e, s.clone()))
            })
    }

    /// The amount this signer approved in a vault in the `secs` seconds before `now`.
    pub fn approved_in_window(&self, vault: &str, now: u64, secs: u64) -> u128 {
        self.entries()
            .iter()
            .filter(|e| e.decision == "approve" && e.vault == vault && e.at + secs > now)
            .map(|e| e.amount)
            .fold(0u128, u128::saturating_add)
    }
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
        assert!(j.conflicting_approval("p3", &["utxo:2".into()]).is_some());
        assert!(j.conflicting_approval("p2", &["utxo:2".into()]).is_none());
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
}
