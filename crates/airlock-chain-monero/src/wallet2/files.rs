//! wallet2's outputs export and key-images export, the two files of Feather's and
//! monero-wallet-cli's cold-signing sync (`export_outputs` / `import_outputs`,
//! `export_key_images` / `import_key_images`; the RPC's `outputs_data_hex` is the same bytes).
//!
//! ```text
//! outputs export:    "Monero output export" 0x04 ‖ encrypt(B ‖ A ‖ body)
//!   body (layout V0, wallet2 0.18.0):  varint(2) varint(offset) outputs
//!   body (layout V1, later releases):  varint(3) varint(offset) varint(total) outputs
//!   outputs: varint(n), n × ( varint(version) P[32] varint(index in tx) varint(global index)
//!            R[32] flags[1] varint(amount) varint(m) m × additional R[32]
//!            (V1 only:) varint(account) varint(subaddress index) )
//!   flags: bit 0 spent, 1 frozen, 2 RingCT, 3 key image known, 4 key image requested, 5 partial
//! key-images export: "Monero key image export" 0x03 ‖ encrypt(offset:u32 LE ‖ B ‖ A ‖
//!                    n × ( I[32] ‖ ring signature c[32] s[32] over I, ring [P] ))
//! ```
//!
//! `encrypt` is [`super::cipher`] under the view secret key; `B`, `A` are the wallet's public
//! spend and view keys, checked on reading. Entry `i` of a key-images file answers the output at
//! position `offset + i` of the wallet's own list, the order the outputs export gave.
//!
//! Decoders here bound every count by the bytes left and refuse trailing bytes. This module
//! holds no spend key: signing key images takes the wallet's keys as an argument and writes
//! only key images and their proofs.

use curve25519_dalek::Scalar as DalekScalar;
use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::EdwardsPoint;
use monero_wallet::ed25519::{CompressedPoint, Point, Scalar};
use monero_wallet::ring_signatures::RingSignature;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::cipher::{self, point};
use crate::error::MoneroError;
use crate::keys::{ViewKeys, WalletKeys};
use crate::subaddress::{AddressIndex, Lookahead, SubaddressTable, subaddress_scalar};

pub const OUTPUTS_MAGIC: &[u8] = b"Monero output export\x04";
pub const KEY_IMAGES_MAGIC: &[u8] = b"Monero key image export\x03";
const OUTPUTS_WHAT: &str = "wallet2 outputs export";
const KEY_IMAGES_WHAT: &str = "wallet2 key-images export";
/// wallet2 refuses internal output indices at or above this.
const MAX_INDEX_IN_TX: u64 = 65_536;

/// Which body layout an outputs export uses (the element version wallet2 writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputsLayout {
    /// wallet2 0.18.0 (the release tested here): `(offset, outputs)`, elements of version 0.
    V0,
    /// Later wallet2 releases: `(offset, total, outputs)`, elements of version 1 with the
    /// receiving subaddress.
    V1,
}

/// One entry of an outputs export (wallet2's `exported_transfer_details`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet2Output {
    pub output_key: [u8; 32],
    pub index_in_tx: u64,
    pub global_index: u64,
    pub tx_public_key: [u8; 32],
    pub flags: u8,
    pub amount: u64,
    pub additional_tx_keys: Vec<[u8; 32]>,
    /// The receiving subaddress (layout V1 only).
    pub subaddress: Option<(u32, u32)>,
}

pub const FLAG_SPENT: u8 = 1;
pub const FLAG_RINGCT: u8 = 1 << 2;
pub const FLAG_KEY_IMAGE_KNOWN: u8 = 1 << 3;
pub const FLAG_KEY_IMAGE_REQUESTED: u8 = 1 << 4;

/// A decrypted outputs export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet2Outputs {
    pub layout: OutputsLayout,
    /// Position of the first entry in the exporting wallet's list of outputs.
    pub offset: u64,
    /// How many outputs the exporting wallet knows (layout V1 only).
    pub total: Option<u64>,
    pub outputs: Vec<Wallet2Output>,
}

/// A decrypted key-images export: `(key image, ring signature)` for the outputs at
/// `offset`, `offset + 1`, ….
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet2KeyImages {
    pub offset: u32,
    pub key_images: Vec<([u8; 32], [u8; 64])>,
}

pub fn is_outputs_export(bytes: &[u8]) -> bool {
    bytes.starts_with(OUTPUTS_MAGIC)
}

pub fn is_key_images_export(bytes: &[u8]) -> bool {
    bytes.starts_with(KEY_IMAGES_MAGIC)
}

pub(super) fn view_secret(view: &ViewKeys) -> Zeroizing<DalekScalar> {
    Zeroizing::new(DalekScalar::from_bytes_mod_order(*view.view_secret_bytes()))
}

pub(super) fn public_keys(view: &ViewKeys) -> [u8; 64] {
    let mut keys = [0u8; 64];
    keys[..32].copy_from_slice(view.spend_public().compress().as_bytes());
    keys[32..].copy_from_slice(view.view_public().compress().as_bytes());
    keys
}

pub(super) fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) what: &'static str,
}

impl<'a> Reader<'a> {
    pub(super) fn error(&self, reason: String) -> MoneroError {
        MoneroError::invalid(format!("the {} is malformed: {reason}", self.what))
    }

    pub(super) fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], MoneroError> {
        if self.bytes.len() < n {
            return Err(self.error(format!("truncated in {field}")));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(super) fn key(&mut self, field: &str) -> Result<[u8; 32], MoneroError> {
        Ok(self.take(32, field)?.try_into().expect("32 bytes"))
    }

    /// Monero's varint: seven bits per byte, least significant first; refuses overlong and
    /// non-minimal encodings.
    pub(super) fn varint(&mut self, field: &str) -> Result<u64, MoneroError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1, field)?[0];
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.error(format!("{field} overflows 64 bits")));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    return Err(self.error(format!("{field} is not minimally encoded")));
                }
                return Ok(value);
            }
        }
        Err(self.error(format!("{field} overflows 64 bits")))
    }

    pub(super) fn count(
        &mut self,
        field: &str,
        min_entry_bytes: usize,
    ) -> Result<usize, MoneroError> {
        let count = self.varint(field)?;
        if count > (self.bytes.len() / min_entry_bytes) as u64 {
            return Err(self.error(format!(
                "{field} claims {count} entries, more than the {} bytes left can hold",
                self.bytes.len()
            )));
        }
        Ok(count as usize)
    }

    pub(super) fn u32_varint(&mut self, field: &str) -> Result<u32, MoneroError> {
        let value = self.varint(field)?;
        u32::try_from(value).map_err(|_| self.error(format!("{field} {value} exceeds 32 bits")))
    }
}

pub(super) fn decrypt_checked(
    bytes: &[u8],
    magic: &[u8],
    what: &str,
    view: &ViewKeys,
) -> Result<Zeroizing<Vec<u8>>, MoneroError> {
    let body = bytes.strip_prefix(magic).ok_or_else(|| {
        MoneroError::invalid(format!(
            "not a {what}: it does not start with wallet2's magic {:?}",
            String::from_utf8_lossy(&magic[..magic.len() - 1])
        ))
    })?;
    cipher::decrypt(body, &view_secret(view), what)
}

pub(super) fn check_wallet(keys: &[u8], view: &ViewKeys, what: &str) -> Result<(), MoneroError> {
    if keys != public_keys(view) {
        return Err(MoneroError::not_ours(format!(
            "the {what} is for another wallet (its public keys are not this wallet's)"
        )));
    }
    Ok(())
}

impl Wallet2Outputs {
    /// Reads an outputs export of the wallet `view` (wallet2's file, or the RPC's
    /// `outputs_data_hex` decoded).
    pub fn read(bytes: &[u8], view: &ViewKeys) -> Result<Self, MoneroError> {
        let plaintext = decrypt_checked(bytes, OUTPUTS_MAGIC, OUTPUTS_WHAT, view)?;
        Self::from_plaintext(&plaintext, view)
    }

    /// Parses a decrypted export (what [`Wallet2Outputs::read`] does after decrypting; public
    /// for the fuzz target).
    pub fn from_plaintext(plaintext: &[u8], view: &ViewKeys) -> Result<Self, MoneroError> {
        let mut reader = Reader {
            bytes: plaintext,
            what: OUTPUTS_WHAT,
        };
        check_wallet(
            reader.take(64, "the wallet's public keys")?,
            view,
            OUTPUTS_WHAT,
        )?;
        let outputs = Self::read_body(&mut reader)?;
        if !reader.bytes.is_empty() {
            return Err(reader.error(format!(
                "{} bytes after the last output",
                reader.bytes.len()
            )));
        }
        Ok(outputs)
    }

    /// Reads the body after the wallet's keys: `(offset, outputs)` or `(offset, total,
    /// outputs)` (also the transfers an unsigned transaction set carries).
    pub(super) fn read_body(reader: &mut Reader<'_>) -> Result<Self, MoneroError> {
        let (layout, offset, total) = match reader.varint("the field count")? {
            2 => (OutputsLayout::V0, reader.varint("the offset")?, None),
            3 => {
                let offset = reader.varint("the offset")?;
                (OutputsLayout::V1, offset, Some(reader.varint("the total")?))
            }
            other => {
                return Err(reader.error(format!("{other} top-level fields (2 or 3 expected)")));
            }
        };
        // Smallest entry: version, two keys, flags and five one-byte varints.
        let count = reader.count("the output count", 1 + 32 + 32 + 1 + 5)?;
        let mut outputs = Vec::with_capacity(count);
        for n in 0..count {
            let version = reader.varint("an output's version")?;
            let expected = match layout {
                OutputsLayout::V0 => 0,
                OutputsLayout::V1 => 1,
            };
            if version != expected {
                return Err(reader.error(format!(
                    "output {} has version {version}, {expected} expected in this layout",
                    n + 1
                )));
            }
            let output_key = reader.key("an output key")?;
            let index_in_tx = reader.varint("an output's index")?;
            if index_in_tx >= MAX_INDEX_IN_TX {
                return Err(reader.error(format!(
                    "output {} has index {index_in_tx} in its transaction",
                    n + 1
                )));
            }
            let global_index = reader.varint("a global index")?;
            let tx_public_key = reader.key("a transaction key")?;
            let flags = reader.take(1, "the flags")?[0];
            let amount = reader.varint("an amount")?;
            let additional = reader.count("the additional keys", 32)?;
            let additional_tx_keys = (0..additional)
                .map(|_| reader.key("an additional key"))
                .collect::<Result<_, _>>()?;
            let subaddress = match layout {
                OutputsLayout::V0 => None,
                OutputsLayout::V1 => Some((
                    reader.u32_varint("the account")?,
                    reader.u32_varint("the subaddress index")?,
                )),
            };
            outputs.push(Wallet2Output {
                output_key,
                index_in_tx,
                global_index,
                tx_public_key,
                flags,
                amount,
                additional_tx_keys,
                subaddress,
            });
        }
        Ok(Self {
            layout,
            offset,
            total,
            outputs,
        })
    }

    /// Writes the export for the wallet `view`, encrypted and authenticated as wallet2 does.
    pub fn write(&self, view: &ViewKeys, rng: &mut (impl RngCore + CryptoRng)) -> Vec<u8> {
        let plain = self.to_plaintext(view);
        let mut file = OUTPUTS_MAGIC.to_vec();
        file.extend_from_slice(&cipher::encrypt(&plain, &view_secret(view), rng));
        file
    }

    /// The export before encryption (the inverse of [`Wallet2Outputs::from_plaintext`]).
    pub fn to_plaintext(&self, view: &ViewKeys) -> Zeroizing<Vec<u8>> {
        let mut plain = Zeroizing::new(public_keys(view).to_vec());
        self.write_body(&mut plain);
        plain
    }

    /// Writes the body (the inverse of [`Wallet2Outputs::read_body`]).
    pub(super) fn write_body(&self, out: &mut Vec<u8>) {
        match self.layout {
            OutputsLayout::V0 => {
                write_varint(out, 2);
                write_varint(out, self.offset);
            }
            OutputsLayout::V1 => {
                write_varint(out, 3);
                write_varint(out, self.offset);
                write_varint(
                    out,
                    self.total
                        .unwrap_or(self.offset + self.outputs.len() as u64),
                );
            }
        }
        write_varint(out, self.outputs.len() as u64);
        for o in &self.outputs {
            write_varint(out, u64::from(self.layout == OutputsLayout::V1));
            out.extend_from_slice(&o.output_key);
            write_varint(out, o.index_in_tx);
            write_varint(out, o.global_index);
            out.extend_from_slice(&o.tx_public_key);
            out.push(o.flags);
            write_varint(out, o.amount);
            write_varint(out, o.additional_tx_keys.len() as u64);
            for key in &o.additional_tx_keys {
                out.extend_from_slice(key);
            }
            if self.layout == OutputsLayout::V1 {
                let (account, index) = o.subaddress.unwrap_or((0, 0));
                write_varint(out, u64::from(account));
                write_varint(out, u64::from(index));
            }
        }
    }
}

impl Wallet2KeyImages {
    /// Reads a key-images export of the wallet `view`. The proofs are checked against the
    /// outputs they answer by [`Wallet2KeyImages::verify_against`].
    pub fn read(bytes: &[u8], view: &ViewKeys) -> Result<Self, MoneroError> {
        let plaintext = decrypt_checked(bytes, KEY_IMAGES_MAGIC, KEY_IMAGES_WHAT, view)?;
        Self::from_plaintext(&plaintext, view)
    }

    /// Parses a decrypted export (public for the fuzz target).
    pub fn from_plaintext(plaintext: &[u8], view: &ViewKeys) -> Result<Self, MoneroError> {
        let mut reader = Reader {
            bytes: plaintext,
            what: KEY_IMAGES_WHAT,
        };
        let offset = u32::from_le_bytes(reader.take(4, "the offset")?.try_into().expect("4 bytes"));
        check_wallet(
            reader.take(64, "the wallet's public keys")?,
            view,
            KEY_IMAGES_WHAT,
        )?;
        if !reader.bytes.len().is_multiple_of(96) {
            return Err(reader.error(format!(
                "{} bytes of records are not a whole number of 96-byte records",
                reader.bytes.len()
            )));
        }
        let key_images = reader
            .bytes
            .chunks_exact(96)
            .map(|record| {
                (
                    record[..32].try_into().expect("32 bytes"),
                    record[32..].try_into().expect("64 bytes"),
                )
            })
            .collect();
        Ok(Self { offset, key_images })
    }

    /// Reads monero-wallet-rpc's `export_key_images` answer (`{"offset": N, "signed_key_images":
    /// [{"key_image": hex, "signature": hex}, …]}`), the same content as the file but neither
    /// encrypted nor naming its wallet: the proofs, checked by
    /// [`Wallet2KeyImages::verify_against`], are what bind it to this wallet's outputs.
    pub fn from_rpc_json(text: &str) -> Result<Self, MoneroError> {
        #[derive(serde::Deserialize)]
        struct Entry {
            key_image: String,
            signature: String,
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            offset: u32,
            signed_key_images: Vec<Entry>,
        }
        let bad = |reason: String| {
            MoneroError::invalid(format!(
                "not monero-wallet-rpc's export_key_images answer: {reason}"
            ))
        };
        let answer: Answer = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let key_images = answer
            .signed_key_images
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let mut key_image = [0u8; 32];
                let mut signature = [0u8; 64];
                hex::decode_to_slice(&entry.key_image, &mut key_image)
                    .and_then(|()| hex::decode_to_slice(&entry.signature, &mut signature))
                    .map_err(|e| bad(format!("entry {}: {e}", i + 1)))?;
                Ok((key_image, signature))
            })
            .collect::<Result<_, MoneroError>>()?;
        Ok(Self {
            offset: answer.offset,
            key_images,
        })
    }

    /// The request body of monero-wallet-rpc's `import_key_images` (the inverse of
    /// [`Wallet2KeyImages::from_rpc_json`]).
    pub fn to_rpc_json(&self) -> String {
        let entries: Vec<serde_json::Value> = self
            .key_images
            .iter()
            .map(|(key_image, signature)| {
                serde_json::json!({
                    "key_image": hex::encode(key_image),
                    "signature": hex::encode(signature),
                })
            })
            .collect();
        serde_json::json!({ "offset": self.offset, "signed_key_images": entries }).to_string()
    }

    pub fn write(&self, view: &ViewKeys, rng: &mut (impl RngCore + CryptoRng)) -> Vec<u8> {
        let plain = self.to_plaintext(view);
        let mut file = KEY_IMAGES_MAGIC.to_vec();
        file.extend_from_slice(&cipher::encrypt(&plain, &view_secret(view), rng));
        file
    }

    /// The export before encryption (the inverse of [`Wallet2KeyImages::from_plaintext`]).
    pub fn to_plaintext(&self, view: &ViewKeys) -> Vec<u8> {
        let mut plain = self.offset.to_le_bytes().to_vec();
        plain.extend_from_slice(&public_keys(view));
        for (key_image, signature) in &self.key_images {
            plain.extend_from_slice(key_image);
            plain.extend_from_slice(signature);
        }
        plain
    }

    /// Pairs each key image with the output it answers (`output_keys[offset + i]`, the order
    /// the outputs were exported in) and checks its proof. Returns output key → key image.
    pub fn verify_against(
        &self,
        output_keys: &[[u8; 32]],
    ) -> Result<std::collections::BTreeMap<[u8; 32], [u8; 32]>, MoneroError> {
        let start = self.offset as usize;
        if start + self.key_images.len() > output_keys.len() {
            return Err(MoneroError::not_ours(format!(
                "the {KEY_IMAGES_WHAT} answers outputs {}..{}, but this wallet exported {}",
                start + 1,
                start + self.key_images.len(),
                output_keys.len()
            )));
        }
        self.key_images
            .iter()
            .enumerate()
            .map(|(i, (key_image, signature))| {
                let output_key = output_keys[start + i];
                let holds = RingSignature::read(1, &mut &signature[..])
                    .map(|proof| {
                        proof.verify(
                            key_image,
                            &[CompressedPoint::from(output_key)],
                            &CompressedPoint::from(*key_image),
                        )
                    })
                    .unwrap_or(false);
                if !holds {
                    return Err(MoneroError::invalid(format!(
                        "key image {} of the {KEY_IMAGES_WHAT} does not prove output {} ({}): \
                         altered, or exported from a wallet whose outputs are in another order",
                        i + 1,
                        start + i + 1,
                        hex::encode(output_key)
                    )));
                }
                Ok((output_key, *key_image))
            })
            .collect()
    }
}

/// Recognises the wallet's own outputs from their transaction keys, as wallet2 does: the
/// primary address first, then subaddresses within a lookahead (the table is built only when an
/// output is not the primary address's).
pub(super) struct OutputOwner {
    view_secret: Zeroizing<DalekScalar>,
    spend_public: EdwardsPoint,
    lookahead: Lookahead,
    table: Option<SubaddressTable>,
}

impl OutputOwner {
    pub(super) fn new(view: &ViewKeys, lookahead: Lookahead) -> Self {
        Self {
            view_secret: view_secret(view),
            spend_public: view.spend_public(),
            lookahead,
            table: None,
        }
    }

    /// The receiving address and key offset `k` (`P = (b + k)·G`) of `output_key`, output
    /// `index_in_tx` of a transaction with key `tx_public_key` (or the additional key at that
    /// index); `None` when it is not this wallet's.
    pub(super) fn key_offset(
        &mut self,
        output_key: &EdwardsPoint,
        tx_public_key: &[u8; 32],
        additional_tx_keys: &[[u8; 32]],
        index_in_tx: u64,
    ) -> Option<(AddressIndex, Zeroizing<DalekScalar>)> {
        let candidates = std::iter::once(tx_public_key).chain(
            usize::try_from(index_in_tx)
                .ok()
                .and_then(|i| additional_tx_keys.get(i)),
        );
        for tx_key in candidates {
            let Some(tx_key) = point(tx_key) else {
                continue;
            };
            let derivation = Zeroizing::new(
                (*self.view_secret * tx_key)
                    .mul_by_cofactor()
                    .compress()
                    .to_bytes(),
            );
            let mut preimage = Zeroizing::new(derivation.to_vec());
            write_varint(&mut preimage, index_in_tx);
            let shared: DalekScalar = Scalar::hash(&preimage[..]).into();
            let spend_key = output_key - &shared * ED25519_BASEPOINT_TABLE;
            let address = if spend_key == self.spend_public {
                AddressIndex::PRIMARY
            } else {
                let (view_secret, spend_public, lookahead) =
                    (&self.view_secret, self.spend_public, self.lookahead);
                let table = self.table.get_or_insert_with(|| {
                    SubaddressTable::new(
                        Point::from(spend_public),
                        &Scalar::from(**view_secret),
                        lookahead,
                    )
                });
                match table.lookup(&spend_key.compress().to_bytes()) {
                    Some(address) => address,
                    None => continue,
                }
            };
            let key_offset = match subaddress_scalar(&Scalar::from(*self.view_secret), address) {
                None => shared,
                Some(m) => {
                    let m: DalekScalar = (*m).into();
                    shared + m
                }
            };
            return Some((address, Zeroizing::new(key_offset)));
        }
        None
    }
}

/// Offline: the key images of every output of a wallet2 outputs export, in its order, each with
/// wallet2's proof. Refuses an output the wallet's keys do not derive (naming it). Subaddresses
/// are looked up within wallet2's default lookahead.
pub fn sign_key_images(
    outputs: &Wallet2Outputs,
    wallet: &WalletKeys,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Wallet2KeyImages, MoneroError> {
    sign_key_images_within(outputs, wallet, Lookahead::default(), rng)
}

/// [`sign_key_images`] with subaddresses looked up within `lookahead` (the table is built only
/// when an output is not the primary address's).
pub fn sign_key_images_within(
    outputs: &Wallet2Outputs,
    wallet: &WalletKeys,
    lookahead: Lookahead,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Wallet2KeyImages, MoneroError> {
    let mut owner = OutputOwner::new(wallet.view_keys(), lookahead);
    let offset = u32::try_from(outputs.offset).map_err(|_| {
        MoneroError::invalid(format!(
            "the outputs export's offset {} exceeds 32 bits",
            outputs.offset
        ))
    })?;
    let mut key_images = Vec::with_capacity(outputs.outputs.len());
    for (n, o) in outputs.outputs.iter().enumerate() {
        let not_ours = || {
            MoneroError::not_ours(format!(
                "output {} ({}) of the outputs export is not this wallet's",
                outputs.offset + n as u64 + 1,
                hex::encode(o.output_key)
            ))
        };
        let output_key = point(&o.output_key).ok_or_else(not_ours)?;
        let (_, key_offset) = owner
            .key_offset(
                &output_key,
                &o.tx_public_key,
                &o.additional_tx_keys,
                o.index_in_tx,
            )
            .ok_or_else(not_ours)?;
        let (key_image, proof) =
            crate::keyimages::key_image_and_proof(wallet, &output_key, &key_offset, rng)
                .map_err(|_| not_ours())?;
        key_images.push((key_image, proof));
    }
    Ok(Wallet2KeyImages { offset, key_images })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use curve25519_dalek::edwards::EdwardsPoint;
    use rand_core::OsRng;

    fn compressed(point: &EdwardsPoint) -> [u8; 32] {
        point.compress().to_bytes()
    }

    /// An output paid to `wallet` at `address` the way a sender builds it: `R = r·D` for a
    /// subaddress (`r·G` for the primary), `P = Hs(8·r·C ‖ i)·G + D`.
    pub(in crate::wallet2) fn paid_output(
        wallet: &WalletKeys,
        address: AddressIndex,
        index_in_tx: u64,
    ) -> Wallet2Output {
        let r: DalekScalar = Scalar::random(&mut OsRng).into();
        let view = wallet.view_keys();
        let view_secret = view_secret(view);
        let spend = Point::from(view.spend_public());
        let d: EdwardsPoint =
            crate::subaddress::subaddress_spend_key(&spend, &Scalar::from(*view_secret), address)
                .into();
        // The address's view key C: a·G for the primary address, a·D for a subaddress.
        let (c, tx_key) = if address == AddressIndex::PRIMARY {
            (
                &*view_secret * ED25519_BASEPOINT_TABLE,
                &r * ED25519_BASEPOINT_TABLE,
            )
        } else {
            (*view_secret * d, r * d)
        };
        let mut preimage = (r * c).mul_by_cofactor().compress().to_bytes().to_vec();
        write_varint(&mut preimage, index_in_tx);
        let shared: DalekScalar = Scalar::hash(&preimage[..]).into();
        Wallet2Output {
            output_key: compressed(&(&shared * ED25519_BASEPOINT_TABLE + d)),
            index_in_tx,
            global_index: 1000 + index_in_tx,
            tx_public_key: compressed(&tx_key),
            flags: FLAG_RINGCT | FLAG_KEY_IMAGE_REQUESTED,
            amount: 1_000_000 * (index_in_tx + 1),
            additional_tx_keys: Vec::new(),
            subaddress: None,
        }
    }

    fn export(wallet: &WalletKeys, layout: OutputsLayout) -> Wallet2Outputs {
        let sub = AddressIndex {
            account: 1,
            index: 7,
        };
        let mut outputs = vec![
            paid_output(wallet, AddressIndex::PRIMARY, 0),
            paid_output(wallet, sub, 1),
            paid_output(wallet, AddressIndex::PRIMARY, 300),
        ];
        if layout == OutputsLayout::V1 {
            outputs[0].subaddress = Some((0, 0));
            outputs[1].subaddress = Some((1, 7));
            outputs[2].subaddress = Some((0, 0));
        }
        Wallet2Outputs {
            layout,
            offset: 2,
            total: (layout == OutputsLayout::V1).then_some(5),
            outputs,
        }
    }

    #[test]
    fn both_layouts_round_trip_and_key_images_match_the_wallet() {
        let wallet = WalletKeys::random(&mut OsRng);
        let view = wallet.view_keys();
        for layout in [OutputsLayout::V0, OutputsLayout::V1] {
            let outputs = export(&wallet, layout);
            let bytes = outputs.write(view, &mut OsRng);
            assert!(is_outputs_export(&bytes));
            let read = Wallet2Outputs::read(&bytes, view).unwrap();
            assert_eq!(read, outputs);
            let images = sign_key_images(&read, &wallet, &mut OsRng).unwrap();
            assert_eq!(images.offset, 2);
            let file = images.write(view, &mut OsRng);
            assert!(is_key_images_export(&file));
            let back = Wallet2KeyImages::read(&file, view).unwrap();
            assert_eq!(back, images);
            // The wallet's list: two earlier outputs, then the exported ones.
            let mut order = vec![[9u8; 32], [8u8; 32]];
            order.extend(outputs.outputs.iter().map(|o| o.output_key));
            let verified = back.verify_against(&order).unwrap();
            assert_eq!(verified.len(), 3);
            // Shifted by one position: refused, naming the first output it fails for.
            let shifted = Wallet2KeyImages {
                offset: 1,
                ..back.clone()
            };
            let err = shifted.verify_against(&order).unwrap_err().to_string();
            assert!(err.contains("does not prove output 2"), "{err}");
            let too_far = Wallet2KeyImages { offset: 3, ..back };
            let err = too_far.verify_against(&order).unwrap_err().to_string();
            assert!(err.contains("this wallet exported 5"), "{err}");
        }
        // The subaddress output found through the lookahead table, the additional key path too.
        let mut with_additional = export(&wallet, OutputsLayout::V0);
        let real = with_additional.outputs[0].tx_public_key;
        with_additional.outputs[0].tx_public_key =
            compressed(&curve25519_dalek::constants::ED25519_BASEPOINT_POINT);
        with_additional.outputs[0].additional_tx_keys = vec![real];
        assert_eq!(
            sign_key_images(&with_additional, &wallet, &mut OsRng)
                .unwrap()
                .key_images
                .len(),
            3
        );
    }

    #[test]
    fn malformed_and_foreign_exports_are_refused_by_name() {
        let wallet = WalletKeys::random(&mut OsRng);
        let view = wallet.view_keys();
        let secret = view_secret(view);
        let seal = |plain: &[u8]| {
            let mut file = OUTPUTS_MAGIC.to_vec();
            file.extend_from_slice(&cipher::encrypt(plain, &secret, &mut OsRng));
            file
        };
        let keys = public_keys(view).to_vec();
        let cases: [(Vec<u8>, &str); 7] = [
            (
                [&keys[..], &[2, 0, 1, 1], &[0u8; 70]].concat(),
                "has version 1, 0 expected",
            ),
            ([&keys[..], &[4]].concat(), "4 top-level fields"),
            ([&keys[..], &[2, 0, 100]].concat(), "claims 100 entries"),
            (
                [&keys[..], &[2, 0, 0, 7]].concat(),
                "1 bytes after the last output",
            ),
            (
                [&keys[..], &[2, 0x80, 0x00]].concat(),
                "not minimally encoded",
            ),
            (vec![0; 64], "is for another wallet"),
            (keys[..40].to_vec(), "truncated in the wallet's public keys"),
        ];
        for (plain, expected) in cases {
            let err = Wallet2Outputs::read(&seal(&plain), view)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let err = Wallet2Outputs::read(b"Monero unsigned tx set\x05", view)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a wallet2 outputs export"), "{err}");
        // Another wallet's export does not even authenticate.
        let other = WalletKeys::random(&mut OsRng);
        let theirs = export(&other, OutputsLayout::V0).write(other.view_keys(), &mut OsRng);
        let err = Wallet2Outputs::read(&theirs, view).unwrap_err().to_string();
        assert!(err.contains("does not authenticate"), "{err}");
    }
}
