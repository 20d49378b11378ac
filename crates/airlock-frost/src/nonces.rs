//! A signer's FROST nonces: made in batches ahead of time (their commitments cross the gap in
//! advance, so a signature needs only one crossing), sealed at rest, and spent through a journal.
//!
//! Two files in the store's directory:
//! - `nonces.sealed`: the unused nonces, sealed with the keystore's format, replaced atomically;
//! - `nonces.used`: an append-only list of the commitments spent (SHA-256, hex, one per line),
//!   fsynced before any nonce leaves [`NonceStore::take`].
//!
//! The journal is the commit point: a crash after it and before the share is released wastes
//! the nonce; nothing can make `take` hand out a nonce whose commitment is in the journal, or one
//! this store did not make. This module must never return a nonce before its commitment is
//! durably journaled, and never write a nonce unencrypted. The caller holds the signer home's
//! lock, so one process at a time spends from a store.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use airlock_custody::{KdfParams, Passphrase};
use ed25519_dalek::SigningKey;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::dkg::{KeyShare, Reader, Writer};
use crate::frost::round1::{SigningCommitments, SigningNonces};
use crate::wire::{Kind, Message};
use crate::{FrostError, Result, Roster, refused, seal};

const POOL: &str = "nonces.sealed";
const USED: &str = "nonces.used";
const POOL_MAGIC: &[u8] = b"airlock-frost-nonces-v1\n";
const LIST_MAGIC: &[u8] = b"airlock-frost-commitments-v1\n";
/// Largest batch made at once.
pub const MAX_BATCH: u32 = 10_000;

fn io(e: impl std::fmt::Display) -> FrostError {
    FrostError::Io(e.to_string())
}

/// The id of a commitment: SHA-256 of its encoding.
pub fn commitment_id(c: &SigningCommitments) -> Result<[u8; 32]> {
    Ok(Sha256::digest(c.serialize()?).into())
}

/// A signer's nonce store in `dir`.
pub struct NonceStore {
    dir: PathBuf,
}

impl NonceStore {
    pub fn new(dir: &Path) -> NonceStore {
        NonceStore {
            dir: dir.to_owned(),
        }
    }

    fn pool(&self, passphrase: &Passphrase) -> Result<Vec<([u8; 32], SigningNonces)>> {
        let path = self.dir.join(POOL);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let sealed = airlock_transport::read_bounded(&path, 64 << 20).map_err(io)?;
        let plain = seal::open(&sealed, passphrase)?;
        let mut r = Reader::open(&plain, POOL_MAGIC, "a FROST nonce store")?;
        let mut out = Vec::new();
        loop {
            if r.0.is_empty() {
                break;
            }
            let id: [u8; 32] = r
                .bytes()?
                .try_into()
                .map_err(|_| refused("damaged nonce store"))?;
            out.push((id, SigningNonces::deserialize(r.bytes()?)?));
        }
        Ok(out)
    }

    fn write_pool(
        &self,
        pool: &[([u8; 32], SigningNonces)],
        passphrase: &Passphrase,
        params: KdfParams,
    ) -> Result<()> {
        let mut w = Writer::new(POOL_MAGIC);
        for (id, nonces) in pool {
            w.bytes(id);
            w.bytes(&Zeroizing::new(nonces.serialize()?));
        }
        let sealed = seal::seal(&w.0, passphrase, params)?;
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        airlock_transport::write_atomic_private(&self.dir.join(POOL), &sealed).map_err(io)
    }

    /// The commitments already spent.
    pub fn used(&self) -> Result<HashSet<[u8; 32]>> {
        let path = self.dir.join(USED);
        if !path.exists() {
            return Ok(HashSet::new());
        }
        let text = airlock_transport::read_bounded(&path, 256 << 20).map_err(io)?;
        let text = String::from_utf8(text).map_err(|_| refused("damaged nonce journal"))?;
        let mut out = HashSet::new();
        for line in text.lines() {
            let mut id = [0u8; 32];
            // A torn last line (a crash mid-append) is not a spend that happened.
            if hex::decode_to_slice(line.trim(), &mut id).is_ok() {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// Makes `count` new nonces for `share`, seals them with the rest, and returns the signed
    /// message of their commitments to hand to the coordinator.
    pub fn generate(
        &self,
        share: &KeyShare,
        identity: &SigningKey,
        count: u32,
        passphrase: &Passphrase,
        params: KdfParams,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Message> {
        if count == 0 || count > MAX_BATCH {
            return Err(refused(format!(
                "a batch of nonces is 1 to {MAX_BATCH}, not {count}"
            )));
        }
        let mut pool = self.pool(passphrase)?;
        let mut list = Writer::new(LIST_MAGIC);
        for _ in 0..count {
            let (nonces, commitments) =
                crate::frost::round1::commit(share.key.signing_share(), &mut *rng);
            list.bytes(&commitments.serialize()?);
            pool.push((commitment_id(&commitments)?, nonces));
        }
        self.write_pool(&pool, passphrase, params)?;
        Message::sign(
            Kind::Commitments,
            share.roster.session(),
            share.me,
            0,
            list.0.to_vec(),
            identity,
        )
    }

    /// Hands out the nonces of `wanted` (this signer's commitments named by a proposal), after
    /// journaling them as spent. Unknown, already spent or repeated commitments are refused and
    /// nothing is journaled.
    pub fn take(
        &self,
        wanted: &[SigningCommitments],
        passphrase: &Passphrase,
        params: KdfParams,
    ) -> Result<Vec<SigningNonces>> {
        let ids = wanted
            .iter()
            .map(commitment_id)
            .collect::<Result<Vec<_>>>()?;
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Err(FrostError::Nonce(format!(
                    "commitment {} is named twice: a nonce is never used for two signatures",
                    hex::encode(&id[..8])
                )));
            }
        }
        let used = self.used()?;
        if let Some(id) = ids.iter().find(|id| used.contains(*id)) {
            return Err(FrostError::Nonce(format!(
                "commitment {} was already used for a signature: using its nonce again would reveal the key share; refused",
                hex::encode(&id[..8])
            )));
        }
        let mut pool = self.pool(passphrase)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            let nonces = pool
                .iter()
                .find(|(p, _)| p == id)
                .map(|(_, n)| n.clone())
                .ok_or_else(|| {
                    FrostError::Nonce(format!(
                        "commitment {} is not one of this signer's unused nonces",
                        hex::encode(&id[..8])
                    ))
                })?;
            out.push(nonces);
        }
        // The commit point: durable before any nonce leaves.
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let mut journal = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(USED))
            .map_err(io)?;
        let mut lines = String::new();
        for id in &ids {
            lines.push_str(&hex::encode(id));
            lines.push('\n');
        }
        journal.write_all(lines.as_bytes()).map_err(io)?;
        journal.sync_all().map_err(io)?;
        airlock_transport::failpoint::hit("frost-nonces-journaled", &self.dir.display());
        pool.retain(|(p, _)| !ids.contains(p));
        self.write_pool(&pool, passphrase, params)?;
        Ok(out)
    }

    /// Unused nonces left (needs the passphrase).
    pub fn remaining(&self, passphrase: &Passphrase) -> Result<usize> {
        let used = self.used()?;
        Ok(self
            .pool(passphrase)?
            .iter()
            .filter(|(id, _)| !used.contains(id))
            .count())
    }
}

/// The commitments a signer handed over (its signed message), checked against the roster.
pub fn read_commitments(roster: &Roster, message: &Message) -> Result<Vec<SigningCommitments>> {
    message.verify(roster, Kind::Commitments, None)?;
    parse_commitments(&message.body).map_err(|e| FrostError::Cheater {
        member: message.from,
        name: roster.name(message.from),
        what: format!("its list of nonce commitments does not decode: {e}"),
    })
}

/// The body of a commitments message (after its signature is checked).
pub fn parse_commitments(body: &[u8]) -> Result<Vec<SigningCommitments>> {
    let mut r = Reader::open(body, LIST_MAGIC, "a list of nonce commitments")?;
    let mut out = Vec::new();
    while !r.0.is_empty() {
        if out.len() as u32 >= MAX_BATCH {
            return Err(refused("more commitments than a batch holds"));
        }
        out.push(SigningCommitments::deserialize(r.bytes()?)?);
    }
    Ok(out)
}
