//! Outputs and key-image sync across the air gap (Feather: Export outputs → Import outputs →
//! Export key images → Import key images).
//!
//! A view-only wallet sees its incoming outputs but cannot tell which are spent: that needs each
//! output's key image `I = x·Hp(P)`, where `x = b + k` is the one-time secret key (spend key `b`,
//! key offset `k`) of the output key `P`. So:
//!
//! 1. online, [`OutputsFile`] lists the owned outputs (output key `P`, key offset `k`, amount) for
//!    one wallet, named by its primary address;
//! 2. offline, [`sign_key_images`] refuses a file of another wallet (or another network), checks
//!    every output is the wallet's (`(b + k)·G = P`), derives each key image and proves it;
//! 3. online, [`KeyImagesFile::verify`] checks the file is for this wallet, that each output is one
//!    it exported, and every proof; the caller then asks monerod which key images are spent.
//!
//! **Proof** (documented choice): the one-member ring signature wallet2 uses for exported key
//! images — a dual Schnorr / DLEq proof that the signer knows `x` with `x·G = P` and
//! `x·Hp(P) = I`: `c = Hs(m ‖ q·G ‖ q·Hp(P))`, `s = q − c·x`, stored as `c ‖ s` (64 bytes) and
//! verified with monero-oxide's `RingSignature::verify` (ring `[P]`). As in wallet2, the message is
//! the key image itself (`m = I`), so the signatures also import into wallet2 / monero-wallet-rpc
//! (`import_key_images`); the proof binds `P` and `I`, the file header names the wallet.
//!
//! Formats (all integers little-endian; strings as one length byte + ASCII):
//!
//! ```text
//! outputs file:    "AIRLOCK-XMR-OUTPUTS" 0x01 network address count:u32
//!                  count × ( P[32] k[32] amount:u64 )
//! key-image file:  "AIRLOCK-XMR-KEYIMAGES" 0x01 network address count:u32
//!                  count × ( P[32] I[32] c[32] s[32] )
//! ```
//!
//! This module must never write the spend key or a one-time secret into a file, and contains no
//! network code (the daemon query lives in `tx`, feature `online`).

use std::collections::BTreeMap;

use curve25519_dalek::Scalar as DalekScalar;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use monero_wallet::ed25519::{CompressedPoint, Point, Scalar};
use monero_wallet::ring_signatures::RingSignature;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::error::MoneroError;
use crate::keys::{MoneroNetwork, WalletKeys, key_image_with, public_of};

const OUTPUTS_MAGIC: &[u8] = b"AIRLOCK-XMR-OUTPUTS";
const KEY_IMAGES_MAGIC: &[u8] = b"AIRLOCK-XMR-KEYIMAGES";
const FORMAT_VERSION: u8 = 1;
const MAX_ENTRIES: u32 = 1_000_000;

/// One owned output as the online side exports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedOutput {
    /// The one-time output key `P` (compressed).
    pub output_key: [u8; 32],
    /// The key offset `k` (canonical scalar): `P = (b + k)·G`.
    pub key_offset: [u8; 32],
    /// Atomic units.
    pub amount: u64,
}

/// The outputs file (online → offline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputsFile {
    pub network: MoneroNetwork,
    pub primary_address: String,
    pub outputs: Vec<ExportedOutput>,
}

/// One key image with its proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedKeyImage {
    pub output_key: [u8; 32],
    pub key_image: [u8; 32],
    /// `c ‖ s` of the one-member ring signature.
    pub proof: [u8; 64],
}

/// The key-image file (offline → online).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyImagesFile {
    pub network: MoneroNetwork,
    pub primary_address: String,
    pub key_images: Vec<SignedKeyImage>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.push(u8::try_from(s.len()).expect("network names and addresses are < 256 bytes"));
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MoneroError> {
        if self.bytes.len() < n {
            return Err(MoneroError::invalid(format!("{} is truncated", self.what)));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], MoneroError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }
    fn string(&mut self) -> Result<String, MoneroError> {
        let len = self.take(1)?[0] as usize;
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| MoneroError::invalid(format!("{}: a text field is not UTF-8", self.what)))
    }
    fn header(&mut self, magic: &[u8]) -> Result<(MoneroNetwork, String, u32), MoneroError> {
        if self.take(magic.len()).ok() != Some(magic) {
            return Err(MoneroError::invalid(format!(
                "not an Airlock Monero {} (wrong magic)",
                self.what
            )));
        }
        let version = self.take(1)?[0];
        if version != FORMAT_VERSION {
            return Err(MoneroError::invalid(format!(
                "{} format version {version} is not supported",
                self.what
            )));
        }
        let network = MoneroNetwork::parse(&self.string()?)?;
        let address = self.string()?;
        let count = u32::from_le_bytes(self.array()?);
        if count > MAX_ENTRIES {
            return Err(MoneroError::invalid(format!(
                "{} claims {count} entries",
                self.what
            )));
        }
        Ok((network, address, count))
    }
    fn finish(self) -> Result<(), MoneroError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(MoneroError::invalid(format!(
                "{} has trailing bytes",
                self.what
            )))
        }
    }
}

impl OutputsFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = OUTPUTS_MAGIC.to_vec();
        out.push(FORMAT_VERSION);
        put_str(&mut out, self.network.name());
        put_str(&mut out, &self.primary_address);
        out.extend_from_slice(&(self.outputs.len() as u32).to_le_bytes());
        for o in &self.outputs {
            out.extend_from_slice(&o.output_key);
            out.extend_from_slice(&o.key_offset);
            out.extend_from_slice(&o.amount.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MoneroError> {
        let mut r = Reader {
            bytes,
            what: "outputs file",
        };
        let (network, primary_address, count) = r.header(OUTPUTS_MAGIC)?;
        let mut outputs = Vec::with_capacity(count as usize);
        for _ in 0..count {
            outputs.push(ExportedOutput {
                output_key: r.array()?,
                key_offset: r.array()?,
                amount: u64::from_le_bytes(r.array()?),
            });
        }
        r.finish()?;
        Ok(OutputsFile {
            network,
            primary_address,
            outputs,
        })
    }
}

impl KeyImagesFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = KEY_IMAGES_MAGIC.to_vec();
        out.push(FORMAT_VERSION);
        put_str(&mut out, self.network.name());
        put_str(&mut out, &self.primary_address);
        out.extend_from_slice(&(self.key_images.len() as u32).to_le_bytes());
        for k in &self.key_images {
            out.extend_from_slice(&k.output_key);
            out.extend_from_slice(&k.key_image);
            out.extend_from_slice(&k.proof);
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MoneroError> {
        let mut r = Reader {
            bytes,
            what: "key-image file",
        };
        let (network, primary_address, count) = r.header(KEY_IMAGES_MAGIC)?;
        let mut key_images = Vec::with_capacity(count as usize);
        for _ in 0..count {
            key_images.push(SignedKeyImage {
                output_key: r.array()?,
                key_image: r.array()?,
                proof: r.array()?,
            });
        }
        r.finish()?;
        Ok(KeyImagesFile {
            network,
            primary_address,
            key_images,
        })
    }

    /// Checks the file belongs to the wallet `(network, primary_address)`, that every entry is an
    /// output of `exported` (the outputs this wallet sent across) and that every proof verifies.
    /// Returns output key → key image.
    pub fn verify(
        &self,
        network: MoneroNetwork,
        primary_address: &str,
        exported: &OutputsFile,
    ) -> Result<BTreeMap<[u8; 32], [u8; 32]>, MoneroError> {
        if self.network != network || self.primary_address != primary_address {
            return Err(MoneroError::not_ours(format!(
                "the key-image file is for {} on {}, this wallet is {primary_address} on {}",
                self.primary_address,
                self.network.name(),
                network.name()
            )));
        }
        let known: BTreeMap<[u8; 32], ()> = exported
            .outputs
            .iter()
            .map(|o| (o.output_key, ()))
            .collect();
        let mut result = BTreeMap::new();
        for (i, entry) in self.key_images.iter().enumerate() {
            if !known.contains_key(&entry.output_key) {
                return Err(MoneroError::not_ours(format!(
                    "key image {} is for output {}, which this wallet did not export",
                    i + 1,
                    hex::encode(entry.output_key)
                )));
            }
            let message = entry.key_image;
            let proof = RingSignature::read(1, &mut &entry.proof[..]).map_err(|e| {
                MoneroError::invalid(format!("key image {}: malformed proof ({e})", i + 1))
            })?;
            if !proof.verify(
                &message,
                &[CompressedPoint::from(entry.output_key)],
                &CompressedPoint::from(entry.key_image),
            ) {
                return Err(MoneroError::invalid(format!(
                    "key image {} (output {}): the proof does not verify",
                    i + 1,
                    hex::encode(entry.output_key)
                )));
            }
            result.insert(entry.output_key, entry.key_image);
        }
        Ok(result)
    }
}

fn prove(
    rng: &mut (impl RngCore + CryptoRng),
    x: &DalekScalar,
    output_key: &EdwardsPoint,
    message: &[u8; 32],
) -> [u8; 64] {
    let q = Zeroizing::new(Scalar::random(rng).into());
    let hp = Point::biased_hash(output_key.compress().to_bytes()).into();
    let mut transcript = message.to_vec();
    transcript.extend_from_slice(public_of(&q).compress().as_bytes());
    transcript.extend_from_slice((*q * hp).compress().as_bytes());
    let c: DalekScalar = Scalar::hash(transcript).into();
    let s = *q - c * x;
    let mut proof = [0u8; 64];
    proof[..32].copy_from_slice(c.as_bytes());
    proof[32..].copy_from_slice(s.as_bytes());
    proof
}

/// The key image of the output `output_key` with key offset `key_offset` and wallet2's proof
/// of it (the one-member ring signature over the key image). Fails if the keys do not derive
/// the output.
pub(crate) fn key_image_and_proof(
    wallet: &WalletKeys,
    output_key: &EdwardsPoint,
    key_offset: &DalekScalar,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<([u8; 32], [u8; 64]), MoneroError> {
    let x = wallet.one_time_secret(output_key, key_offset)?;
    let key_image = key_image_with(&x, output_key);
    Ok((key_image, prove(rng, &x, output_key, &key_image)))
}

/// Offline: derives and proves the key image of every output in `file`. Refuses a file of another
/// wallet or network, and any output that is not derivable from this wallet's keys.
pub fn sign_key_images(
    file: &OutputsFile,
    network: MoneroNetwork,
    wallet: &WalletKeys,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<KeyImagesFile, MoneroError> {
    let own = wallet.primary_address(network).to_string();
    if file.network != network || file.primary_address != own {
        return Err(MoneroError::not_ours(format!(
            "the outputs file is for {} on {}, this wallet is {own} on {}",
            file.primary_address,
            file.network.name(),
            network.name()
        )));
    }
    let mut key_images = Vec::with_capacity(file.outputs.len());
    for (i, o) in file.outputs.iter().enumerate() {
        let key = CompressedEdwardsY(o.output_key)
            .decompress()
            .ok_or_else(|| {
                MoneroError::invalid(format!("output {}: the output key is not a point", i + 1))
            })?;
        let offset: Option<DalekScalar> = DalekScalar::from_canonical_bytes(o.key_offset).into();
        let offset = offset.ok_or_else(|| {
            MoneroError::invalid(format!("output {}: the key offset is not canonical", i + 1))
        })?;
        let x = wallet.one_time_secret(&key, &offset).map_err(|_| {
            MoneroError::not_ours(format!(
                "output {} ({}) is not derivable from this wallet's keys",
                i + 1,
                hex::encode(o.output_key)
            ))
        })?;
        let key_image = key_image_with(&x, &key);
        key_images.push(SignedKeyImage {
            output_key: o.output_key,
            key_image,
            proof: prove(rng, &x, &key, &key_image),
        });
    }
    Ok(KeyImagesFile {
        network,
        primary_address: own,
        key_images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    fn fake_outputs(wallet: &WalletKeys, n: usize) -> OutputsFile {
        let outputs = (0..n)
            .map(|i| {
                let k = DalekScalar::from(1000u64 + i as u64);
                let p = wallet.view_keys().spend_public() + public_of(&k);
                ExportedOutput {
                    output_key: p.compress().to_bytes(),
                    key_offset: k.to_bytes(),
                    amount: 1_000_000 * (i as u64 + 1),
                }
            })
            .collect();
        OutputsFile {
            network: MoneroNetwork::Regtest,
            primary_address: wallet.primary_address(MoneroNetwork::Regtest).to_string(),
            outputs,
        }
    }

    #[test]
    fn key_images_roundtrip_verify_and_match_the_signer() {
        let wallet = WalletKeys::random(&mut OsRng);
        let outputs = OutputsFile::from_bytes(&fake_outputs(&wallet, 3).to_bytes()).unwrap();
        let signed =
            sign_key_images(&outputs, MoneroNetwork::Regtest, &wallet, &mut OsRng).unwrap();
        let signed = KeyImagesFile::from_bytes(&signed.to_bytes()).unwrap();
        let address = wallet.primary_address(MoneroNetwork::Regtest).to_string();
        let map = signed
            .verify(MoneroNetwork::Regtest, &address, &outputs)
            .unwrap();
        assert_eq!(map.len(), 3);
        for o in &outputs.outputs {
            let p = CompressedEdwardsY(o.output_key).decompress().unwrap();
            let k = DalekScalar::from_canonical_bytes(o.key_offset).unwrap();
            assert_eq!(map[&o.output_key], wallet.key_image(&p, &k).unwrap());
        }
    }

    #[test]
    fn files_of_another_wallet_are_refused() {
        let wallet = WalletKeys::random(&mut OsRng);
        let other = WalletKeys::random(&mut OsRng);
        let theirs = fake_outputs(&other, 2);
        let err = sign_key_images(&theirs, MoneroNetwork::Regtest, &wallet, &mut OsRng)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not this wallet's"), "{err}");
        // Their file relabelled with our address: the outputs themselves are refused.
        let mut relabelled = theirs.clone();
        relabelled.primary_address = wallet.primary_address(MoneroNetwork::Regtest).to_string();
        let err = sign_key_images(&relabelled, MoneroNetwork::Regtest, &wallet, &mut OsRng)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not derivable"), "{err}");
        // A key-image file of the other wallet, imported into ours.
        let their_images =
            sign_key_images(&theirs, MoneroNetwork::Regtest, &other, &mut OsRng).unwrap();
        let ours = fake_outputs(&wallet, 2);
        let address = wallet.primary_address(MoneroNetwork::Regtest).to_string();
        let err = their_images
            .verify(MoneroNetwork::Regtest, &address, &ours)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not this wallet's"), "{err}");
    }

    #[test]
    fn forged_key_image_or_truncated_file_is_refused() {
        let wallet = WalletKeys::random(&mut OsRng);
        let outputs = fake_outputs(&wallet, 2);
        let mut signed =
            sign_key_images(&outputs, MoneroNetwork::Regtest, &wallet, &mut OsRng).unwrap();
        signed.key_images.swap(0, 1);
        let (a, b) = (
            signed.key_images[0].key_image,
            signed.key_images[1].key_image,
        );
        signed.key_images[0].key_image = b;
        signed.key_images[1].key_image = a;
        signed.key_images.swap(0, 1);
        let address = wallet.primary_address(MoneroNetwork::Regtest).to_string();
        let err = signed
            .verify(MoneroNetwork::Regtest, &address, &outputs)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not verify"), "{err}");
        let bytes = outputs.to_bytes();
        assert!(
            OutputsFile::from_bytes(&bytes[..bytes.len() - 1])
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        assert!(
            KeyImagesFile::from_bytes(&bytes)
                .unwrap_err()
                .to_string()
                .contains("wrong magic")
        );
    }
}
