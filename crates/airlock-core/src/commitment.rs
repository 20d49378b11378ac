//! State commitments: what a vault holds on chain, as the coordinator saw it at one height,
//! committed to the log as a Merkle root over canonical text leaves (seed 004's state
//! commitments).
//!
//! At each sync that finds a vault's state changed, the coordinator signs a [`StateCommitment`]
//! and appends it to the log (leaf kind `state`). Each leaf is one fact in a fixed text form,
//! written by the chain's online crate:
//! - Bitcoin: `utxo <txid>:<vout> <sats> <scriptPubKey hex>`, the UTXO set at `height`;
//! - Ethereum: `balance <wei>`, `nonce <n>` (the account's, or the Safe's own nonce), and for a
//!   Safe `owner <0x…>` per owner and `threshold <k>`, read at block `height`;
//! - Monero: `output <tx hash>:<index> <piconero>` per output the view key found, and
//!   `spent <tx hash>:<index> <key image>` per output whose key image is seen on chain.
//!
//! The leaves are sorted and unique, so one state has one encoding and one root (RFC 6962's
//! Merkle tree hash, the log's own). A witness with its own node recomputes the leaves at the
//! same height and compares roots; one that only follows the log compares successive
//! commitments with the proposals finalized between them ([`StateDiff`]).
//!
//! This module only encodes, checks and compares; it must never read a node, and never accept a
//! commitment whose root is not the root of its leaves.

use std::collections::BTreeSet;

use crate::cbor::Value;
use crate::envelope::{Artifact, ArtifactKind};
use crate::fields::{Fields, FormatError, MapBuilder};

/// The most leaves one commitment carries (a vault with more UTXOs or outputs than this is
/// refused a commitment rather than given a partial one).
pub const MAX_LEAVES: usize = 100_000;
/// The most leaf bytes one commitment carries, so that the signed artifact stays well inside
/// the 16 MiB every reader accepts (about 80,000 Bitcoin UTXOs with P2WSH scripts).
pub const MAX_LEAF_BYTES: usize = 12 * 1024 * 1024;
/// The longest leaf, in bytes (a Bitcoin leaf with a 10,000-byte script would not fit; no
/// standard output script comes close).
pub const MAX_LEAF_LEN: usize = 1024;

/// A vault's on-chain state at one height, signed by the coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateCommitment {
    pub vault_id: String,
    /// The vault version in force when the state was read.
    pub vault_version: u64,
    /// The vault's chain (`bitcoin`, `ethereum`, `monero`).
    pub chain: String,
    /// The chain height the state holds at (Bitcoin: the tip synced to; Ethereum: the block
    /// read; Monero: the number of blocks scanned).
    pub height: u64,
    /// The hash of the block at `height`, hex (empty when the chain source gives none).
    pub block: String,
    /// Sorted, unique, canonical leaves.
    pub leaves: Vec<String>,
    /// [`state_root`] of `leaves`.
    pub root: [u8; 32],
    pub created: u64,
}

impl StateCommitment {
    /// A commitment over `leaves` (sorted and de-duplicated here).
    pub fn new(
        vault_id: &str,
        vault_version: u64,
        chain: &str,
        height: u64,
        block: &str,
        leaves: impl IntoIterator<Item = String>,
        created: u64,
    ) -> Result<StateCommitment, crate::CoreError> {
        let leaves: Vec<String> = leaves
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        check_leaves(&leaves).map_err(crate::CoreError::Invalid)?;
        Ok(StateCommitment {
            vault_id: vault_id.to_owned(),
            vault_version,
            chain: chain.to_owned(),
            height,
            block: block.to_owned(),
            root: state_root(&leaves),
            leaves,
            created,
        })
    }

    /// The leaves whose first word is `tag` (e.g. `utxo`), without the tag.
    pub fn facts<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.leaves
            .iter()
            .filter_map(move |l| l.strip_prefix(tag).and_then(|rest| rest.strip_prefix(' ')))
    }

    /// The single fact tagged `tag` (`nonce`, `balance`, `threshold`), if present.
    pub fn fact<'a>(&'a self, tag: &'a str) -> Option<&'a str> {
        self.facts(tag).next()
    }
}

/// The Merkle tree hash (RFC 6962, as the log hashes its entries) of `leaves`.
pub fn state_root(leaves: &[String]) -> [u8; 32] {
    let mut tree = airlock_log::MemoryLog::new();
    for leaf in leaves {
        tree.append(leaf.as_bytes());
    }
    tree.root()
}

fn check_leaves(leaves: &[String]) -> Result<(), String> {
    if leaves.len() > MAX_LEAVES {
        return Err(format!(
            "{} leaves: more than the {MAX_LEAVES} one commitment may carry",
            leaves.len()
        ));
    }
    let total: usize = leaves.iter().map(String::len).sum();
    if total > MAX_LEAF_BYTES {
        return Err(format!(
            "{total} bytes of leaves: more than the {MAX_LEAF_BYTES} one commitment may carry"
        ));
    }
    for (i, leaf) in leaves.iter().enumerate() {
        if leaf.is_empty() || leaf.len() > MAX_LEAF_LEN {
            return Err(format!(
                "leaf {i} is {} bytes (1 to {MAX_LEAF_LEN} allowed)",
                leaf.len()
            ));
        }
        if leaf.chars().any(|c| c.is_control()) {
            return Err(format!("leaf {i} holds a control character"));
        }
        if i > 0 && leaves[i - 1] >= *leaf {
            return Err(format!(
                "leaf {i} is out of order or repeated: the leaves must be sorted and unique"
            ));
        }
    }
    Ok(())
}

impl Artifact for StateCommitment {
    const KIND: ArtifactKind = ArtifactKind::StateCommitment;

    fn to_value(&self) -> Value {
        MapBuilder::new()
            .uint(0, crate::artifacts::ARTIFACT_FORMAT_VERSION)
            .text(1, &self.vault_id)
            .uint(2, self.vault_version)
            .text(3, &self.chain)
            .uint(4, self.height)
            .text(5, &self.block)
            .array(
                6,
                self.leaves.iter().map(|l| Value::Text(l.clone())).collect(),
            )
            .bytes(7, &self.root)
            .uint(8, self.created)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "state commitment")?;
        f.version(crate::artifacts::ARTIFACT_FORMAT_VERSION)?;
        let c = StateCommitment {
            vault_id: f.text(1, "vault id")?,
            vault_version: f.uint(2, "vault version")?,
            chain: f.text(3, "chain")?,
            height: f.uint(4, "height")?,
            block: f.text_or_empty(5, "block")?,
            leaves: f.texts(6, "leaves")?,
            root: f.fixed::<32>(7, "root")?,
            created: f.uint(8, "created")?,
        };
        check_leaves(&c.leaves).map_err(|e| f.error(e))?;
        if state_root(&c.leaves) != c.root {
            return Err(f.error("the root is not the Merkle root of the leaves"));
        }
        f.finish()?;
        Ok(c)
    }
}

/// How a vault's state moved from one commitment to the next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateDiff {
    /// Leaves of the earlier commitment the later one lacks.
    pub gone: Vec<String>,
    /// Leaves of the later commitment the earlier one lacked.
    pub new: Vec<String>,
}

impl StateDiff {
    pub fn between(before: &StateCommitment, after: &StateCommitment) -> StateDiff {
        StateDiff::of_leaves(&before.leaves, &after.leaves)
    }

    /// The difference between two sets of leaves.
    pub fn of_leaves<'a>(
        before: impl IntoIterator<Item = &'a String>,
        after: impl IntoIterator<Item = &'a String>,
    ) -> StateDiff {
        let a: BTreeSet<&String> = before.into_iter().collect();
        let b: BTreeSet<&String> = after.into_iter().collect();
        StateDiff {
            gone: a.difference(&b).map(|s| (*s).clone()).collect(),
            new: b.difference(&a).map(|s| (*s).clone()).collect(),
        }
    }

    /// A committed state (`before`) against the chain (`after`), for a halt: what was committed
    /// but is not on chain, and what is on chain but was not committed (the empty side left out).
    pub fn contradiction(&self) -> String {
        let mut parts = Vec::new();
        if !self.gone.is_empty() {
            parts.push(format!(
                "committed but not on chain: [{}]",
                self.gone.join("; ")
            ));
        }
        if !self.new.is_empty() {
            parts.push(format!(
                "on chain but not committed: [{}]",
                self.new.join("; ")
            ));
        }
        parts.join("; ")
    }

    /// The leaves gone and new, as one line a person can read (at most `max` of each).
    pub fn describe(&self, max: usize) -> String {
        let list = |items: &[String]| {
            let mut s = items
                .iter()
                .take(max)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ");
            if items.len() > max {
                s.push_str(&format!("; and {} more", items.len() - max));
            }
            s
        };
        match (self.gone.is_empty(), self.new.is_empty()) {
            (true, true) => "no difference".into(),
            (false, true) => format!("missing: {}", list(&self.gone)),
            (true, false) => format!("extra: {}", list(&self.new)),
            (false, false) => format!("missing: {}; extra: {}", list(&self.gone), list(&self.new)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Artifact;

    fn commitment(leaves: &[&str]) -> StateCommitment {
        StateCommitment::new(
            "v",
            1,
            "ethereum",
            7,
            "ab",
            leaves.iter().map(|s| s.to_string()),
            9,
        )
        .unwrap()
    }

    #[test]
    fn leaves_are_sorted_and_the_root_is_checked_on_decode() {
        let c = commitment(&["nonce 3", "balance 10", "nonce 3"]);
        assert_eq!(c.leaves, vec!["balance 10", "nonce 3"]);
        assert_eq!(c.fact("nonce"), Some("3"));
        let back = StateCommitment::from_value(c.to_value()).unwrap();
        assert_eq!(back, c);

        let mut forged = c.clone();
        forged.leaves[0] = "balance 11".into();
        let err = StateCommitment::from_value(forged.to_value()).unwrap_err();
        assert!(err.to_string().contains("not the Merkle root"), "{err}");

        let mut unsorted = c.clone();
        unsorted.leaves.reverse();
        unsorted.root = state_root(&unsorted.leaves);
        let err = StateCommitment::from_value(unsorted.to_value()).unwrap_err();
        assert!(err.to_string().contains("sorted and unique"), "{err}");
    }

    #[test]
    fn the_root_is_rfc6962_over_the_leaf_bytes() {
        use sha2::{Digest, Sha256};
        let leaf = |s: &str| Sha256::new().chain_update([0u8]).chain_update(s).finalize();
        let both = Sha256::new()
            .chain_update([1u8])
            .chain_update(leaf("a"))
            .chain_update(leaf("b"))
            .finalize();
        assert_eq!(
            state_root(&["a".into(), "b".into()]),
            <[u8; 32]>::from(both)
        );
        assert_eq!(
            state_root(&[]),
            <[u8; 32]>::from(Sha256::digest(b"")),
            "the empty state is SHA-256 of nothing"
        );
    }

    #[test]
    fn the_diff_names_what_left_and_what_came() {
        let a = commitment(&["utxo a:0 5 00", "utxo b:1 7 00"]);
        let b = commitment(&["utxo b:1 7 00", "utxo c:0 3 00"]);
        let d = StateDiff::between(&a, &b);
        assert_eq!(d.gone, vec!["utxo a:0 5 00"]);
        assert_eq!(d.new, vec!["utxo c:0 3 00"]);
        assert_eq!(
            d.describe(5),
            "missing: utxo a:0 5 00; extra: utxo c:0 3 00"
        );
    }
}
