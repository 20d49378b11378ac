//! A signer's FROST nonces: made in batches ahead of time (their commitments cross the gap in
//! advance, so a signature needs only one crossing), sealed at rest, and spent through a journal.
//!
//! Three files in the store's directory:
//! - `nonces.key`: a random 32-byte key sealed with the keystore's format (Argon2id under the
//!   signer's passphrase: one derivation per signing session, however many nonces);
//! - `nonces.sealed`: the unused nonces, XChaCha20-Poly1305 under that key, replaced atomically;
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
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::SigningKey;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::dkg::{KeyShare, Reader, Writer};
use crate::frost::round1::{SigningCommitments, SigningNonces};
use crate::wire::{Kind, Message};
use crate::{FrostError, Result, Roster, refused, seal};

const KEY: &str = "nonces.key";
const POOL: &str = "nonces.sealed";
const USED: &str = "nonces.used";
const POOL_MAGIC: &[u8] = b"airlock-frost-nonces-v1\n";
const LIST_MAGIC: &[u8] = b"airlock-frost-commitments-v1\n";
/// Largest batch made at once.
pub const MAX_BATCH: u32 = 10_000;

fn io(e: impl std::fmt::Display) -> FrostError {
    FrostError::Io(e.to_string())
}

/// A pool entry: a commitment's id and its nonces, encoded.
type PoolEntry = ([u8; 32], Zeroizing<Vec<u8>>);

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

    /// The pool's key, opened with the passphrase; `None` before the first batch.
    fn open_key(&self, passphrase: &Passphrase) -> Result<Option<Zeroizing<[u8; 32]>>> {
        let path = self.dir.join(KEY);
        if !path.exists() {
            return Ok(None);
        }
        let sealed = airlock_transport::read_bounded(&path, 4096).map_err(io)?;
        let plain = seal::open(&sealed, passphrase)?;
        let key: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| refused("the nonce store's key is damaged"))?;
        Ok(Some(Zeroizing::new(key)))
    }

    /// The pool's key, made and sealed the first time.
    fn pool_key(&self, passphrase: &Passphrase, params: KdfParams) -> Result<Zeroizing<[u8; 32]>> {
        if let Some(key) = self.open_key(passphrase)? {
            return Ok(key);
        }
        let mut key = Zeroizing::new([0u8; 32]);
        rand_core::OsRng.fill_bytes(key.as_mut());
        let sealed = seal::seal(key.as_ref(), passphrase, params)?;
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        airlock_transport::write_atomic_private_new(&self.dir.join(KEY), &sealed).map_err(io)?;
        Ok(key)
    }

    /// The pool: (commitment id, encoded nonces). Nonces are decoded only when taken (decoding
    /// one recomputes its commitments, two scalar multiplications).
    fn pool(&self, key: &[u8; 32]) -> Result<Vec<PoolEntry>> {
        let path = self.dir.join(POOL);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let sealed = airlock_transport::read_bounded(&path, 64 << 20).map_err(io)?;
        if sealed.len() < 24 {
            return Err(refused("the nonce store is damaged"));
        }
        let cipher = XChaCha20Poly1305::new(key.into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&sealed[..24]),
                    Payload {
                        msg: &sealed[24..],
                        aad: POOL_MAGIC,
                    },
                )
                .map_err(|_| {
                    refused("the nonce store does not open with its key: damaged or replaced")
                })?,
        );
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
            out.push((id, Zeroizing::new(r.bytes()?.to_vec())));
        }
        Ok(out)
    }

    fn write_pool(&self, pool: &[PoolEntry], key: &[u8; 32]) -> Result<()> {
        let mut w = Writer::new(POOL_MAGIC);
        for (id, nonces) in pool {
            w.bytes(id);
            w.bytes(nonces);
        }
        let cipher = XChaCha20Poly1305::new(key.into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut rand_core::OsRng);
        let mut sealed = nonce.to_vec();
        sealed.extend(
            cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: &w.0,
                        aad: POOL_MAGIC,
                    },
                )
                .map_err(|_| refused("encrypting the nonce store failed"))?,
        );
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
        let key = self.pool_key(passphrase, params)?;
        let mut pool = self.pool(&key)?;
        let mut list = Writer::new(LIST_MAGIC);
        for _ in 0..count {
            let (nonces, commitments) =
                crate::frost::round1::commit(share.key.signing_share(), &mut *rng);
            list.bytes(&commitments.serialize()?);
            pool.push((
                commitment_id(&commitments)?,
                Zeroizing::new(nonces.serialize()?),
            ));
        }
        self.write_pool(&pool, &key)?;
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
        let key = self.open_key(passphrase)?.ok_or_else(|| {
            FrostError::Nonce("this signer has made no nonces yet (none to sign with)".into())
        })?;
        let mut pool = self.pool(&key)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            let encoded = pool.iter().find(|(p, _)| p == id).ok_or_else(|| {
                FrostError::Nonce(format!(
                    "commitment {} is not one of this signer's unused nonces",
                    hex::encode(&id[..8])
                ))
            })?;
            let nonces = SigningNonces::deserialize(&encoded.1)?;
            if commitment_id(nonces.commitments())? != *id {
                return Err(refused(
                    "the nonce store is damaged: a nonce does not match its commitment",
                ));
            }
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
        self.write_pool(&pool, &key)?;
        Ok(out)
    }

    /// Unused nonces left (needs the passphrase).
    pub fn remaining(&self, passphrase: &Passphrase) -> Result<usize> {
        let used = self.used()?;
        let Some(key) = self.open_key(passphrase)? else {
            return Ok(0);
        };
        Ok(self
            .pool(&key)?
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
