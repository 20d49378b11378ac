//! wallet2's unsigned and signed transaction sets, the files of monero-wallet-cli's and
//! Feather's cold signing (`transfer` on a view-only wallet → `sign_transfer` on the cold
//! wallet → `submit_transfer`; the RPC's `unsigned_txset` / `signed_txset` hex are the same
//! bytes).
//!
//! ```text
//! unsigned set: "Monero unsigned tx set" 0x05 ‖ encrypt(varint(version) txes transfers)
//!   version 1 (wallet2 0.18.0): transfers = the outputs export body, layout V0
//!   version 2 (later releases): transfers = the outputs export body, layout V1
//!   txes: varint(n) n × tx_construction_data
//! tx_construction_data:
//!   sources: varint(n) n × ( ring: varint(m) m × (varint(2) varint(global index) P[32] C[32])
//!            real_output:u64 R[32] varint(k) k × R'[32] index_in_tx:u64 amount:u64
//!            rct:u8 mask[32] multisig[128] )
//!   change: destination   splitted: varint(n) n × destination   selected: varint(n) n × varint
//!   extra: varint(n) n bytes   unlock_time:u64   flags:u8 (1 RingCT, 2 view tags)
//!   rct_config: varint(0) varint(range proof type) varint(bulletproof version)
//!   dests: varint(n) n × destination   account:u32   subaddress indices: varint(n) n × varint
//! destination: varint(len) address text, varint(amount), B[32] A[32], is_subaddress:u8,
//!              is_integrated:u8
//! signed set: "Monero signed tx set" 0x05 ‖ encrypt(varint(0) ptx key_images tx_key_images)
//!   ptx: varint(n) n × ( varint(1) transaction (Monero's wire form) dust:u64 fee:u64 u8
//!        change:destination selected: varint(n) n × varint  key_images: varint(len) text
//!        tx_key[32] varint(k) k × [32] dests tx_construction_data multisig: varint(0) [32] )
//!   key_images: varint(n) n × I[32] (the view-only wallet's outputs from position 0)
//!   tx_key_images: varint(n) n × (varint(2) P[32] I[32]) (the new transaction's own outputs)
//! ```
//! Fixed-width integers are little-endian. `encrypt` is [`super::cipher`] under the view key.
//!
//! [`signable_transaction`] turns one transaction of an unsigned set into Airlock's own
//! unsigned form (monero-wallet's `SignableTransaction`) after checking every input is the
//! wallet's (key offset re-derived from its transaction key, amount opened against its ring
//! commitment), that the destinations and change add up, and that the change comes back to
//! the wallet: the signer then reviews and signs that exactly as it does an Airlock proposal.
//! The fee is wallet2's, to the atomic unit.
//!
//! This module holds no spend key and signs nothing; it must never pass on a set whose sums do
//! not add up, or a change output that is not the wallet's.

use curve25519_dalek::Scalar as DalekScalar;
use curve25519_dalek::edwards::EdwardsPoint;
use monero_wallet::OutputWithDecoys;
use monero_wallet::address::{AddressType, MoneroAddress, SubaddressIndex};
use monero_wallet::ed25519::{Commitment, Point, Scalar};
use monero_wallet::interface::FeeRate;
use monero_wallet::ringct::RctType;
use monero_wallet::ringct::clsag::Decoys;
use monero_wallet::send::{Change, SignableTransaction};
use monero_wallet::transaction::Transaction;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::cipher::{self, point};
use super::files::{
    OutputOwner, OutputsLayout, Reader, Wallet2Outputs, decrypt_checked, view_secret, write_varint,
};
use crate::error::MoneroError;
use crate::keys::{MoneroNetwork, ViewKeys};
use crate::subaddress::Lookahead;

pub const UNSIGNED_TX_MAGIC: &[u8] = b"Monero unsigned tx set\x05";
pub const SIGNED_TX_MAGIC: &[u8] = b"Monero signed tx set\x05";
const UNSIGNED_WHAT: &str = "wallet2 unsigned transaction set";
const SIGNED_WHAT: &str = "wallet2 signed transaction set";
/// Monero's largest ring and a generous bound on inputs, outputs and extra per transaction.
const MAX_RING: usize = 16;
const MAX_EXTRA: usize = 1060;

pub fn is_unsigned_tx_set(bytes: &[u8]) -> bool {
    bytes.starts_with(UNSIGNED_TX_MAGIC)
}

pub fn is_signed_tx_set(bytes: &[u8]) -> bool {
    bytes.starts_with(SIGNED_TX_MAGIC)
}

/// One member of an input's ring: global output index, output key `P`, commitment `C`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingMember {
    pub global_index: u64,
    pub output_key: [u8; 32],
    pub commitment: [u8; 32],
}

/// One input (wallet2's `tx_source_entry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub ring: Vec<RingMember>,
    /// Position of the real output in `ring`.
    pub real_output: u64,
    pub real_out_tx_key: [u8; 32],
    pub real_out_additional_tx_keys: Vec<[u8; 32]>,
    pub real_output_in_tx_index: u64,
    pub amount: u64,
    pub rct: bool,
    /// The real output's commitment mask.
    pub mask: [u8; 32],
    /// wallet2's multisig fields (k, L, R, ki), zero outside multisig.
    pub multisig: [u8; 128],
}

/// A destination (wallet2's `tx_destination_entry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The address as the user typed it (wallet2 may leave it empty).
    pub original: String,
    pub amount: u64,
    pub spend_public: [u8; 32],
    pub view_public: [u8; 32],
    pub is_subaddress: bool,
    pub is_integrated: bool,
}

impl Destination {
    fn same_output(&self, other: &Destination) -> bool {
        (
            self.amount,
            self.spend_public,
            self.view_public,
            self.is_subaddress,
        ) == (
            other.amount,
            other.spend_public,
            other.view_public,
            other.is_subaddress,
        )
    }

    /// The destination as an address of `network` (refuses keys that are not points).
    pub fn address(&self, network: MoneroNetwork) -> Result<MoneroAddress, MoneroError> {
        let (Some(spend), Some(view)) = (point(&self.spend_public), point(&self.view_public))
        else {
            return Err(MoneroError::invalid(format!(
                "a destination of {} has keys that are not curve points",
                crate::review::format_xmr(self.amount)
            )));
        };
        let kind = if self.is_subaddress {
            AddressType::Subaddress
        } else {
            AddressType::Legacy
        };
        Ok(MoneroAddress::new(
            network.address_network(),
            kind,
            Point::from(spend),
            Point::from(view),
        ))
    }
}

/// What wallet2 needs to build one transaction (`tx_construction_data`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxConstructionData {
    pub sources: Vec<Source>,
    pub change: Destination,
    /// The outputs: `destinations` plus the change.
    pub splitted_destinations: Vec<Destination>,
    /// Positions of the spent outputs in the view-only wallet's list.
    pub selected_transfers: Vec<u64>,
    pub extra: Vec<u8>,
    pub unlock_time: u64,
    /// Bit 0 RingCT, bit 1 view tags.
    pub flags: u8,
    pub range_proof_type: u64,
    pub bulletproof_version: u64,
    pub destinations: Vec<Destination>,
    pub subaddress_account: u32,
    pub subaddress_indices: Vec<u32>,
}

/// A decrypted unsigned transaction set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsignedTxSet {
    pub txes: Vec<TxConstructionData>,
    /// The view-only wallet's outputs the signer has not answered yet (an outputs export).
    pub transfers: Wallet2Outputs,
}

/// One signed transaction of a signed set (wallet2's `pending_tx`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTx {
    /// The transaction in Monero's wire form.
    pub tx: Vec<u8>,
    pub dust: u64,
    pub fee: u64,
    pub dust_added_to_fee: bool,
    pub change: Destination,
    pub selected_transfers: Vec<u64>,
    /// wallet2's display string: `<I> ` per input.
    pub key_images: String,
    /// The transaction secret key; wallet2 sends the identity to the view-only wallet.
    pub tx_key: [u8; 32],
    pub additional_tx_keys: Vec<[u8; 32]>,
    pub destinations: Vec<Destination>,
    pub construction: TxConstructionData,
    /// wallet2's multisig nonce entropy (unused outside multisig).
    pub multisig_entropy: [u8; 32],
}

/// A decrypted signed transaction set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTxSet {
    pub txes: Vec<PendingTx>,
    /// Key images of the view-only wallet's outputs from position 0, imported as they are.
    pub key_images: Vec<[u8; 32]>,
    /// Key images of the new transactions' outputs back to the wallet: `(P, I)`.
    pub tx_key_images: Vec<([u8; 32], [u8; 32])>,
}

impl Reader<'_> {
    fn u64_le(&mut self, field: &str) -> Result<u64, MoneroError> {
        Ok(u64::from_le_bytes(
            self.take(8, field)?.try_into().expect("8 bytes"),
        ))
    }

    fn u32_le(&mut self, field: &str) -> Result<u32, MoneroError> {
        Ok(u32::from_le_bytes(
            self.take(4, field)?.try_into().expect("4 bytes"),
        ))
    }

    fn flag(&mut self, field: &str) -> Result<bool, MoneroError> {
        match self.take(1, field)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.error(format!("{field} is {other}, not a boolean"))),
        }
    }

    fn text(&mut self, field: &str) -> Result<String, MoneroError> {
        let len = self.count(field, 1)?;
        String::from_utf8(self.take(len, field)?.to_vec())
            .map_err(|_| self.error(format!("{field} is not UTF-8")))
    }

    fn keys(&mut self, field: &str) -> Result<Vec<[u8; 32]>, MoneroError> {
        let n = self.count(field, 32)?;
        (0..n).map(|_| self.key(field)).collect()
    }

    fn varints(&mut self, field: &str) -> Result<Vec<u64>, MoneroError> {
        let n = self.count(field, 1)?;
        (0..n).map(|_| self.varint(field)).collect()
    }

    fn pair_header(&mut self, field: &str) -> Result<(), MoneroError> {
        match self.varint(field)? {
            2 => Ok(()),
            other => Err(self.error(format!("{field} has {other} members, 2 expected"))),
        }
    }

    fn destination(&mut self) -> Result<Destination, MoneroError> {
        Ok(Destination {
            original: self.text("a destination's address")?,
            amount: self.varint("a destination's amount")?,
            spend_public: self.key("a destination's spend key")?,
            view_public: self.key("a destination's view key")?,
            is_subaddress: self.flag("a destination's subaddress flag")?,
            is_integrated: self.flag("a destination's integrated flag")?,
        })
    }

    fn destinations(&mut self, field: &str) -> Result<Vec<Destination>, MoneroError> {
        let n = self.count(field, 1 + 1 + 64 + 2)?;
        (0..n).map(|_| self.destination()).collect()
    }

    fn source(&mut self) -> Result<Source, MoneroError> {
        let members = self.count("a ring", 1 + 1 + 1 + 64)?;
        if members == 0 || members > MAX_RING {
            return Err(self.error(format!("a ring has {members} members")));
        }
        let mut ring = Vec::with_capacity(members);
        for _ in 0..members {
            self.pair_header("a ring member")?;
            ring.push(RingMember {
                global_index: self.varint("a ring member's global index")?,
                output_key: self.key("a ring member's key")?,
                commitment: self.key("a ring member's commitment")?,
            });
        }
        let real_output = self.u64_le("the real output's position")?;
        if real_output >= members as u64 {
            return Err(self.error(format!(
                "the real output's position {real_output} is outside its ring of {members}"
            )));
        }
        let mut multisig = [0u8; 128];
        let real_out_tx_key = self.key("the real output's transaction key")?;
        let real_out_additional_tx_keys = self.keys("the real output's additional keys")?;
        let real_output_in_tx_index = self.u64_le("the real output's index")?;
        let amount = self.u64_le("an input amount")?;
        let rct = self.flag("an input's RingCT flag")?;
        let mask = self.key("an input's mask")?;
        multisig.copy_from_slice(self.take(128, "an input's multisig fields")?);
        Ok(Source {
            ring,
            real_output,
            real_out_tx_key,
            real_out_additional_tx_keys,
            real_output_in_tx_index,
            amount,
            rct,
            mask,
            multisig,
        })
    }

    fn construction_data(&mut self) -> Result<TxConstructionData, MoneroError> {
        let n = self.count("the inputs", 1 + 67 + 8 + 32 + 1 + 8 + 8 + 1 + 32 + 128)?;
        let sources = (0..n).map(|_| self.source()).collect::<Result<_, _>>()?;
        let change = self.destination()?;
        let splitted_destinations = self.destinations("the outputs")?;
        let selected_transfers = self.varints("the selected outputs")?;
        let extra_len = self.count("the extra field", 1)?;
        if extra_len > MAX_EXTRA {
            return Err(self.error(format!("the extra field has {extra_len} bytes")));
        }
        let extra = self.take(extra_len, "the extra field")?.to_vec();
        let unlock_time = self.u64_le("the unlock time")?;
        let flags = self.take(1, "the construction flags")?[0];
        if self.varint("the RingCT configuration's version")? != 0 {
            return Err(self.error("an unknown RingCT configuration version".into()));
        }
        let range_proof_type = self.varint("the range proof type")?;
        let bulletproof_version = self.varint("the bulletproof version")?;
        let destinations = self.destinations("the destinations")?;
        let subaddress_account = self.u32_le("the subaddress account")?;
        let subaddress_indices = self
            .varints("the subaddress indices")?
            .into_iter()
            .map(|i| u32::try_from(i).map_err(|_| self.error(format!("subaddress index {i}"))))
            .collect::<Result<_, _>>()?;
        Ok(TxConstructionData {
            sources,
            change,
            splitted_destinations,
            selected_transfers,
            extra,
            unlock_time,
            flags,
            range_proof_type,
            bulletproof_version,
            destinations,
            subaddress_account,
            subaddress_indices,
        })
    }

    fn pending_tx(&mut self) -> Result<PendingTx, MoneroError> {
        if self.varint("a signed transaction's version")? != 1 {
            return Err(self.error("a signed transaction of an unknown version".into()));
        }
        let mut rest = self.bytes;
        let tx: Transaction = Transaction::read(&mut rest)
            .map_err(|e| self.error(format!("a signed transaction does not parse: {e}")))?;
        let consumed = self.bytes.len() - rest.len();
        let tx_bytes = self.take(consumed, "a signed transaction")?;
        if tx.serialize() != tx_bytes {
            return Err(self.error("a signed transaction is not in canonical form".into()));
        }
        let tx = tx_bytes.to_vec();
        let dust = self.u64_le("the dust")?;
        let fee = self.u64_le("the fee")?;
        let dust_added_to_fee = self.flag("the dust flag")?;
        let change = self.destination()?;
        let selected_transfers = self.varints("the selected outputs")?;
        let key_images = self.text("the key images")?;
        let tx_key = self.key("the transaction key")?;
        let additional_tx_keys = self.keys("the additional transaction keys")?;
        let destinations = self.destinations("the destinations")?;
        let construction = self.construction_data()?;
        if self.varint("the multisig signatures")? != 0 {
            return Err(self
                .error("it carries multisig signatures (multisig sets are not supported)".into()));
        }
        let multisig_entropy = self.key("the multisig entropy")?;
        Ok(PendingTx {
            tx,
            dust,
            fee,
            dust_added_to_fee,
            change,
            selected_transfers,
            key_images,
            tx_key,
            additional_tx_keys,
            destinations,
            construction,
            multisig_entropy,
        })
    }

    fn finish(&self) -> Result<(), MoneroError> {
        if !self.bytes.is_empty() {
            return Err(self.error(format!("{} bytes after its end", self.bytes.len())));
        }
        Ok(())
    }
}

fn write_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn write_text(out: &mut Vec<u8>, text: &str) {
    write_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn write_keys(out: &mut Vec<u8>, keys: &[[u8; 32]]) {
    write_varint(out, keys.len() as u64);
    for key in keys {
        out.extend_from_slice(key);
    }
}

fn write_varints(out: &mut Vec<u8>, values: impl ExactSizeIterator<Item = u64>) {
    write_varint(out, values.len() as u64);
    for v in values {
        write_varint(out, v);
    }
}

impl Destination {
    fn write(&self, out: &mut Vec<u8>) {
        write_text(out, &self.original);
        write_varint(out, self.amount);
        out.extend_from_slice(&self.spend_public);
        out.extend_from_slice(&self.view_public);
        out.push(u8::from(self.is_subaddress));
        out.push(u8::from(self.is_integrated));
    }
}

fn write_destinations(out: &mut Vec<u8>, destinations: &[Destination]) {
    write_varint(out, destinations.len() as u64);
    for d in destinations {
        d.write(out);
    }
}

impl TxConstructionData {
    fn write(&self, out: &mut Vec<u8>) {
        write_varint(out, self.sources.len() as u64);
        for s in &self.sources {
            write_varint(out, s.ring.len() as u64);
            for m in &s.ring {
                write_varint(out, 2);
                write_varint(out, m.global_index);
                out.extend_from_slice(&m.output_key);
                out.extend_from_slice(&m.commitment);
            }
            write_u64(out, s.real_output);
            out.extend_from_slice(&s.real_out_tx_key);
            write_keys(out, &s.real_out_additional_tx_keys);
            write_u64(out, s.real_output_in_tx_index);
            write_u64(out, s.amount);
            out.push(u8::from(s.rct));
            out.extend_from_slice(&s.mask);
            out.extend_from_slice(&s.multisig);
        }
        self.change.write(out);
        write_destinations(out, &self.splitted_destinations);
        write_varints(out, self.selected_transfers.iter().copied());
        write_varint(out, self.extra.len() as u64);
        out.extend_from_slice(&self.extra);
        write_u64(out, self.unlock_time);
        out.push(self.flags);
        write_varint(out, 0);
        write_varint(out, self.range_proof_type);
        write_varint(out, self.bulletproof_version);
        write_destinations(out, &self.destinations);
        out.extend_from_slice(&self.subaddress_account.to_le_bytes());
        write_varints(out, self.subaddress_indices.iter().map(|i| u64::from(*i)));
    }
}

impl PendingTx {
    fn write(&self, out: &mut Vec<u8>) {
        write_varint(out, 1);
        out.extend_from_slice(&self.tx);
        write_u64(out, self.dust);
        write_u64(out, self.fee);
        out.push(u8::from(self.dust_added_to_fee));
        self.change.write(out);
        write_varints(out, self.selected_transfers.iter().copied());
        write_text(out, &self.key_images);
        out.extend_from_slice(&self.tx_key);
        write_keys(out, &self.additional_tx_keys);
        write_destinations(out, &self.destinations);
        self.construction.write(out);
        write_varint(out, 0);
        out.extend_from_slice(&self.multisig_entropy);
    }
}

fn encrypted(
    magic: &[u8],
    plain: &[u8],
    view: &ViewKeys,
    rng: &mut (impl RngCore + CryptoRng),
) -> Vec<u8> {
    let mut file = magic.to_vec();
    file.extend_from_slice(&cipher::encrypt(plain, &view_secret(view), rng));
    file
}

impl UnsignedTxSet {
    /// Reads an unsigned set made by the wallet `view` (the file, or the RPC's
    /// `unsigned_txset` decoded).
    pub fn read(bytes: &[u8], view: &ViewKeys) -> Result<Self, MoneroError> {
        Self::from_plaintext(&open_set(bytes, UNSIGNED_TX_MAGIC, UNSIGNED_WHAT, view)?)
    }

    /// Parses a decrypted set (public for the fuzz target).
    pub fn from_plaintext(plain: &[u8]) -> Result<Self, MoneroError> {
        let mut reader = Reader {
            bytes: plain,
            what: UNSIGNED_WHAT,
        };
        let layout = match reader.varint("the version")? {
            1 => OutputsLayout::V0,
            2 => OutputsLayout::V1,
            other => {
                return Err(reader.error(format!(
                    "version {other} (1 from wallet2 0.18.0, 2 from later releases)"
                )));
            }
        };
        let n = reader.count("the transactions", 100)?;
        let txes = (0..n)
            .map(|_| reader.construction_data())
            .collect::<Result<Vec<_>, _>>()?;
        let transfers = Wallet2Outputs::read_body(&mut reader)?;
        if transfers.layout != layout {
            return Err(reader.error("its outputs are not in its version's layout".into()));
        }
        reader.finish()?;
        Ok(Self { txes, transfers })
    }

    /// The set before encryption.
    pub fn to_plaintext(&self) -> Vec<u8> {
        let mut plain = Vec::new();
        write_varint(
            &mut plain,
            match self.transfers.layout {
                OutputsLayout::V0 => 1,
                OutputsLayout::V1 => 2,
            },
        );
        write_varint(&mut plain, self.txes.len() as u64);
        for tx in &self.txes {
            tx.write(&mut plain);
        }
        self.transfers.write_body(&mut plain);
        plain
    }

    /// Writes the set for the wallet `view`, encrypted as wallet2 does.
    pub fn write(&self, view: &ViewKeys, rng: &mut (impl RngCore + CryptoRng)) -> Vec<u8> {
        encrypted(UNSIGNED_TX_MAGIC, &self.to_plaintext(), view, rng)
    }
}

impl SignedTxSet {
    /// Reads a signed set for the wallet `view` (the file, or the RPC's `signed_txset`
    /// decoded).
    pub fn read(bytes: &[u8], view: &ViewKeys) -> Result<Self, MoneroError> {
        Self::from_plaintext(&open_set(bytes, SIGNED_TX_MAGIC, SIGNED_WHAT, view)?)
    }

    /// Parses a decrypted set (public for the fuzz target).
    pub fn from_plaintext(plain: &[u8]) -> Result<Self, MoneroError> {
        let mut reader = Reader {
            bytes: plain,
            what: SIGNED_WHAT,
        };
        if reader.varint("the version")? != 0 {
            return Err(reader.error("an unknown version".into()));
        }
        let n = reader.count("the transactions", 200)?;
        let txes = (0..n)
            .map(|_| reader.pending_tx())
            .collect::<Result<Vec<_>, _>>()?;
        let key_images = reader.keys("the key images")?;
        let n = reader.count("the key images of new outputs", 65)?;
        let mut tx_key_images = Vec::with_capacity(n);
        for _ in 0..n {
            reader.pair_header("a key image of a new output")?;
            tx_key_images.push((reader.key("an output key")?, reader.key("a key image")?));
        }
        reader.finish()?;
        Ok(Self {
            txes,
            key_images,
            tx_key_images,
        })
    }

    pub fn to_plaintext(&self) -> Vec<u8> {
        let mut plain = vec![0u8];
        write_varint(&mut plain, self.txes.len() as u64);
        for tx in &self.txes {
            tx.write(&mut plain);
        }
        write_keys(&mut plain, &self.key_images);
        write_varint(&mut plain, self.tx_key_images.len() as u64);
        for (output_key, key_image) in &self.tx_key_images {
            write_varint(&mut plain, 2);
            plain.extend_from_slice(output_key);
            plain.extend_from_slice(key_image);
        }
        plain
    }

    /// Writes the set for the wallet `view`, encrypted as wallet2 does.
    pub fn write(&self, view: &ViewKeys, rng: &mut (impl RngCore + CryptoRng)) -> Vec<u8> {
        encrypted(SIGNED_TX_MAGIC, &self.to_plaintext(), view, rng)
    }
}

/// A set's plaintext: its magic checked, decrypted and authenticated under the view key.
/// wallet2's set versions 3 and 4 are Boost archives, which wallet2 itself reads only with
/// `--load-deprecated-formats`: named rather than reported as a wrong magic.
fn open_set(
    bytes: &[u8],
    magic: &[u8],
    what: &str,
    view: &ViewKeys,
) -> Result<Zeroizing<Vec<u8>>, MoneroError> {
    let stem = &magic[..magic.len() - 1];
    if bytes.len() >= magic.len()
        && bytes.starts_with(stem)
        && bytes[stem.len()] != magic[stem.len()]
    {
        return Err(MoneroError::invalid(format!(
            "the {what} has format version {} (a Boost archive from an older wallet2); \
             only version 5 is read",
            bytes[stem.len()]
        )));
    }
    decrypt_checked(bytes, magic, what, view)
}

/// One transaction of a wallet2 set in Airlock's unsigned form, with wallet2's sums.
#[derive(Clone, Debug)]
pub struct Wallet2Spend {
    /// monero-wallet's `SignableTransaction`, for the signer's review and signing.
    pub payload: Vec<u8>,
    /// Sum of the inputs, atomic units.
    pub input_total: u64,
    /// The fee (inputs less outputs), as wallet2 built it.
    pub fee: u64,
    /// The change back to the wallet (0 when there is none).
    pub change: u64,
}

fn ring_size(rct_type: RctType) -> usize {
    match rct_type {
        RctType::ClsagBulletproof => 11,
        _ => 16,
    }
}

/// Checks one transaction of an unsigned set against the wallet `view` and turns it into
/// Airlock's unsigned form (see the module documentation). Refuses, naming the reason:
/// an input that is not the wallet's or whose amount does not open its commitment, a ring out
/// of order, outputs that are not the destinations plus the change, change to another wallet,
/// integrated addresses, a time lock, extra data other than a payment-ID nonce, pre-RingCT or
/// Borromean transactions.
pub fn signable_transaction(
    tx: &TxConstructionData,
    view: &ViewKeys,
    network: MoneroNetwork,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Wallet2Spend, MoneroError> {
    signable_transaction_within(tx, view, network, Lookahead::default(), rng)
}

/// [`signable_transaction`] with subaddresses looked up within `lookahead`.
pub fn signable_transaction_within(
    tx: &TxConstructionData,
    view: &ViewKeys,
    network: MoneroNetwork,
    lookahead: Lookahead,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Wallet2Spend, MoneroError> {
    let refused = |why: String| MoneroError::refused(format!("the {UNSIGNED_WHAT}: {why}"));
    if tx.unlock_time != 0 {
        return Err(refused(format!(
            "it locks its outputs until {} (Airlock signs no time-locked transaction)",
            tx.unlock_time
        )));
    }
    if tx.flags & 1 == 0 || tx.sources.iter().any(|s| !s.rct) {
        return Err(refused("it is not a RingCT transaction".into()));
    }
    let rct_type = match tx.bulletproof_version {
        4 => RctType::ClsagBulletproofPlus,
        3 => RctType::ClsagBulletproof,
        v => return Err(refused(format!("bulletproof version {v} is not supported"))),
    };
    check_extra(&tx.extra).map_err(refused)?;
    if let Some(d) = tx.splitted_destinations.iter().find(|d| d.is_integrated) {
        return Err(refused(format!(
            "it pays an integrated address ({}); integrated addresses are not supported",
            if d.original.is_empty() {
                "unnamed"
            } else {
                &d.original
            }
        )));
    }

    // Inputs: each the wallet's, its amount opening its commitment.
    let mut owner = OutputOwner::new(view, lookahead);
    let mut inputs = Vec::with_capacity(tx.sources.len());
    let mut input_total: u64 = 0;
    for (n, s) in tx.sources.iter().enumerate() {
        let which = || format!("input {} of {}", n + 1, crate::review::format_xmr(s.amount));
        if s.ring.len() != ring_size(rct_type) {
            return Err(refused(format!(
                "{} has a ring of {}",
                which(),
                s.ring.len()
            )));
        }
        if s.ring
            .windows(2)
            .any(|w| w[0].global_index >= w[1].global_index)
        {
            return Err(refused(format!(
                "{}'s ring is not in increasing order",
                which()
            )));
        }
        let real = &s.ring[s.real_output as usize];
        let output_key = point(&real.output_key)
            .ok_or_else(|| refused(format!("{}'s output key is not a point", which())))?;
        let (_, key_offset) = owner
            .key_offset(
                &output_key,
                &s.real_out_tx_key,
                &s.real_out_additional_tx_keys,
                s.real_output_in_tx_index,
            )
            .ok_or_else(|| {
                MoneroError::not_ours(format!(
                    "the {UNSIGNED_WHAT}: {} ({}) is not this wallet's",
                    which(),
                    hex::encode(real.output_key)
                ))
            })?;
        let mask = Option::<DalekScalar>::from(DalekScalar::from_canonical_bytes(s.mask))
            .ok_or_else(|| refused(format!("{}'s mask is not a canonical scalar", which())))?;
        let opened = Commitment::new(Scalar::from(mask), s.amount).commit();
        if opened.compress().to_bytes() != real.commitment {
            return Err(refused(format!(
                "{}: its amount and mask do not open its commitment",
                which()
            )));
        }
        input_total = input_total
            .checked_add(s.amount)
            .ok_or_else(|| refused("the input amounts overflow".into()))?;
        inputs.push(
            output_with_decoys(s, &output_key, &key_offset, &mask).ok_or_else(|| {
                refused(format!(
                    "{}'s ring has a member that is not a point",
                    which()
                ))
            })?,
        );
    }

    // Outputs: the destinations plus the change, which must come back to this wallet.
    let change_entries = tx.splitted_destinations.len() as i64 - tx.destinations.len() as i64;
    let mut outputs: Vec<&Destination> = tx.splitted_destinations.iter().collect();
    for d in &tx.destinations {
        let Some(at) = outputs.iter().position(|o| o.same_output(d)) else {
            return Err(refused(format!(
                "its destination of {} is not among its outputs",
                crate::review::format_xmr(d.amount)
            )));
        };
        outputs.remove(at);
    }
    let change_amount = match (change_entries, outputs.as_slice()) {
        (0, []) => 0,
        (1, [rest]) if rest.same_output(&tx.change) => tx.change.amount,
        _ => {
            return Err(refused(
                "its outputs are not its destinations plus one change".into(),
            ));
        }
    };
    let account = tx.subaddress_account;
    let own_change = view.address(network, account, 0);
    let change_is_ours = tx.change.spend_public == own_change.spend().compress().to_bytes()
        && tx.change.view_public == own_change.view().compress().to_bytes();
    if change_amount != 0 && !change_is_ours {
        return Err(refused(format!(
            "its change of {} goes to an address that is not this wallet's account {account}",
            crate::review::format_xmr(change_amount)
        )));
    }
    let output_total = tx
        .splitted_destinations
        .iter()
        .try_fold(0u64, |sum, d| sum.checked_add(d.amount))
        .ok_or_else(|| refused("the output amounts overflow".into()))?;
    let fee = input_total.checked_sub(output_total).ok_or_else(|| {
        refused(format!(
            "its outputs ({}) exceed its inputs ({})",
            crate::review::format_xmr(output_total),
            crate::review::format_xmr(input_total)
        ))
    })?;
    let payments = tx
        .destinations
        .iter()
        .map(|d| Ok((d.address(network)?, d.amount)))
        .collect::<Result<Vec<_>, MoneroError>>()?;
    // Change (also a zero one, where wallet2 pays a throwaway address) comes back to the
    // account's own address; none when wallet2 made none.
    let change = if change_entries == 0 {
        Change::fingerprintable(None)
    } else {
        Change::new(view.view_pair(), SubaddressIndex::new(account, 0))
    };
    // A fee rate of one unit per weight rounded up to multiples of wallet2's fee makes the
    // necessary fee exactly wallet2's (checked below).
    let fee_rate = FeeRate::new(1, fee.max(1)).expect("non-zero");
    let mut outgoing_view_key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(outgoing_view_key.as_mut());
    let stx = SignableTransaction::new(
        rct_type,
        outgoing_view_key,
        inputs,
        payments,
        change,
        vec![],
        fee_rate,
    )
    .map_err(|e| refused(format!("monero-wallet cannot build it: {e}")))?;
    if stx.necessary_fee() != fee {
        return Err(refused(format!(
            "its fee of {} is below one atomic unit per unit of weight",
            crate::review::format_xmr(fee)
        )));
    }
    Ok(Wallet2Spend {
        payload: stx.serialize(),
        input_total,
        fee,
        change: change_amount,
    })
}

/// wallet2's extra before signing holds at most a transaction key (replaced when the
/// transaction is built) and its dummy payment ID (zero until encrypted); anything else, a real
/// payment ID included, would be dropped by signing here, so it is refused.
fn check_extra(extra: &[u8]) -> Result<(), String> {
    let mut rest = extra;
    while let Some((&tag, tail)) = rest.split_first() {
        rest = match (tag, tail) {
            (1, _) if tail.len() >= 32 => &tail[32..],
            (2, [9, 1, id @ ..]) if id.len() >= 8 && id[..8] == [0u8; 8] => &id[8..],
            (2, [9, 1, ..]) => return Err("it carries a payment ID (not supported)".into()),
            _ => {
                return Err(format!(
                    "it carries extra data Airlock does not sign: {}",
                    hex::encode(extra)
                ));
            }
        };
    }
    Ok(())
}

/// monero-wallet's input (the output, its key offset and opened commitment, with its ring)
/// from a wallet2 source; `None` when a ring member is not a point.
fn output_with_decoys(
    s: &Source,
    output_key: &EdwardsPoint,
    key_offset: &DalekScalar,
    mask: &DalekScalar,
) -> Option<OutputWithDecoys> {
    let mut ring = Vec::with_capacity(s.ring.len());
    let mut offsets = Vec::with_capacity(s.ring.len());
    let mut previous = 0;
    for m in &s.ring {
        ring.push([
            Point::from(point(&m.output_key)?),
            Point::from(point(&m.commitment)?),
        ]);
        offsets.push(m.global_index - previous);
        previous = m.global_index;
    }
    let decoys = Decoys::new(offsets, u8::try_from(s.real_output).ok()?, ring)?;
    // monero-wallet builds its inputs only by reading them: key, key offset, commitment
    // (mask, amount), then the decoys.
    let mut bytes = Zeroizing::new(Vec::with_capacity(200 + 64 * s.ring.len()));
    bytes.extend_from_slice(output_key.compress().as_bytes());
    bytes.extend_from_slice(key_offset.as_bytes());
    bytes.extend_from_slice(mask.as_bytes());
    bytes.extend_from_slice(&s.amount.to_le_bytes());
    bytes.extend_from_slice(&decoys.serialize());
    OutputWithDecoys::read(&mut bytes.as_slice()).ok()
}

/// Where an input of an Airlock payload came from, as the vault's scan recorded it: what a
/// wallet2 cold wallet needs to re-derive its key.
#[derive(Clone, Debug)]
pub struct InputOrigin {
    pub output_key: [u8; 32],
    pub tx_public_key: [u8; 32],
    pub additional_tx_keys: Vec<[u8; 32]>,
    pub index_in_tx: u64,
    /// The receiving subaddress (account, index).
    pub subaddress: (u32, u32),
    /// The output's position in `transfers` (the outputs export the set carries).
    pub position: u64,
}

fn destination_of(address: &str, amount: u64) -> Result<Destination, MoneroError> {
    let parsed = MoneroAddress::from_str_with_unchecked_network(address)
        .map_err(|e| MoneroError::invalid(format!("address {address}: {e}")))?;
    if parsed.payment_id().is_some() {
        return Err(MoneroError::refused(format!(
            "{address} is an integrated address; wallet2 sets from Airlock pay plain addresses only"
        )));
    }
    Ok(Destination {
        original: address.to_owned(),
        amount,
        spend_public: parsed.spend().compress().to_bytes(),
        view_public: parsed.view().compress().to_bytes(),
        is_subaddress: parsed.is_subaddress(),
        is_integrated: false,
    })
}

/// Airlock's unsigned transaction (a proposal's payload) as a wallet2 unsigned set for a
/// wallet2 cold wallet: the same inputs with the same rings, the same payments, the change to
/// the primary address and the same fee. `origins` gives each input's transaction keys (every
/// input must have one); `transfers` is the vault's outputs export, which the cold wallet
/// imports before signing. Only account 0 is spent from.
pub fn unsigned_set_from_payload(
    payload: &[u8],
    network: MoneroNetwork,
    view: &ViewKeys,
    origins: &[InputOrigin],
    transfers: Wallet2Outputs,
) -> Result<UnsignedTxSet, MoneroError> {
    let (_, parsed) = crate::review::parse(payload)?;
    let review = crate::review::review_unsigned(payload, network, view, None)?;
    let mut sources = Vec::with_capacity(parsed.inputs.len());
    let mut selected_transfers = Vec::with_capacity(parsed.inputs.len());
    let mut subaddress_indices = Vec::new();
    for input in &parsed.inputs {
        let key = input.key().compress().to_bytes();
        let origin = origins
            .iter()
            .find(|o| o.output_key == key)
            .ok_or_else(|| {
                MoneroError::refused(format!(
                    "input {} is not among the vault's scanned outputs",
                    hex::encode(key)
                ))
            })?;
        if origin.subaddress.0 != 0 {
            return Err(MoneroError::refused(format!(
                "input {} is in account {}; wallet2 sets from Airlock spend account 0 only",
                hex::encode(key),
                origin.subaddress.0
            )));
        }
        let decoys = input.decoys();
        let ring = decoys
            .positions()
            .into_iter()
            .zip(decoys.ring())
            .map(|(global_index, [output_key, commitment])| RingMember {
                global_index,
                output_key: output_key.compress().to_bytes(),
                commitment: commitment.compress().to_bytes(),
            })
            .collect();
        let commitment = input.commitment();
        sources.push(Source {
            ring,
            real_output: u64::from(decoys.signer_index()),
            real_out_tx_key: origin.tx_public_key,
            real_out_additional_tx_keys: origin.additional_tx_keys.clone(),
            real_output_in_tx_index: origin.index_in_tx,
            amount: commitment.amount,
            rct: true,
            mask: <[u8; 32]>::from(commitment.mask),
            multisig: [0u8; 128],
        });
        selected_transfers.push(origin.position);
        if !subaddress_indices.contains(&origin.subaddress.1) {
            subaddress_indices.push(origin.subaddress.1);
        }
    }
    subaddress_indices.sort_unstable();
    let destinations = review
        .payments
        .iter()
        .map(|p| destination_of(&p.address, p.amount))
        .collect::<Result<Vec<_>, _>>()?;
    let change = match &review.change {
        crate::review::ReviewedChange::Own { address, amount } => destination_of(address, *amount)?,
        crate::review::ReviewedChange::None => {
            destination_of(&view.primary_address(network).to_string(), 0)?
        }
        crate::review::ReviewedChange::Foreign { address, .. } => {
            return Err(MoneroError::refused(format!(
                "the payload's change goes to {address}, not to the vault"
            )));
        }
    };
    let mut splitted_destinations = destinations.clone();
    if !matches!(review.change, crate::review::ReviewedChange::None) {
        splitted_destinations.push(change.clone());
    }
    // wallet2 adds a dummy encrypted payment ID to two-output transactions.
    let extra = if splitted_destinations.len() == 2 {
        [2u8, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0].to_vec()
    } else {
        Vec::new()
    };
    let (flags, bulletproof_version) = match parsed.rct_type {
        RctType::ClsagBulletproofPlus => (0b11, 4),
        RctType::ClsagBulletproof => (0b01, 3),
        other => {
            return Err(MoneroError::refused(format!(
                "RingCT type {other:?} is not supported"
            )));
        }
    };
    Ok(UnsignedTxSet {
        txes: vec![TxConstructionData {
            sources,
            change,
            splitted_destinations,
            selected_transfers,
            extra,
            unlock_time: 0,
            flags,
            // wallet2's RangeProofPaddedBulletproof.
            range_proof_type: 3,
            bulletproof_version,
            destinations,
            subaddress_account: 0,
            subaddress_indices,
        }],
        transfers,
    })
}

/// A wallet2-signed transaction checked against the Airlock payload it was made from.
#[derive(Clone, Debug)]
pub struct CheckedWallet2Spend {
    /// The transaction in Monero's wire form.
    pub bytes: Vec<u8>,
    pub txid: String,
    /// Key images of its inputs (hex).
    pub key_images: Vec<String>,
}

/// Checks a wallet2 signed set against the payload its unsigned set was made from
/// ([`unsigned_set_from_payload`]): one transaction, spending exactly the payload's inputs
/// (their key images, as the vault knows them, with the same rings), with the payload's fee and
/// number of outputs, and its change output (found and opened with the view key) carrying the
/// payload's change. The payments' destinations are encrypted to their recipients; their total
/// follows from the inputs, the fee and the change, which the network's balance check enforces.
pub fn check_signed_set(
    set: &SignedTxSet,
    payload: &[u8],
    network: MoneroNetwork,
    view: &ViewKeys,
    input_key_images: &[([u8; 32], [u8; 32])],
) -> Result<CheckedWallet2Spend, MoneroError> {
    let refused = |why: String| MoneroError::refused(format!("the {SIGNED_WHAT}: {why}"));
    let [pending] = set.txes.as_slice() else {
        return Err(refused(format!(
            "it holds {} transactions, the proposal one",
            set.txes.len()
        )));
    };
    let (_, parsed) = crate::review::parse(payload)?;
    let review = crate::review::review_unsigned(payload, network, view, None)?;
    let tx: Transaction = Transaction::read(&mut pending.tx.as_slice())
        .map_err(|e| refused(format!("its transaction does not parse: {e}")))?;
    let prefix = tx.prefix();
    let mut expected: Vec<([u8; 32], Vec<u64>)> = Vec::with_capacity(parsed.inputs.len());
    for input in &parsed.inputs {
        let key = input.key().compress().to_bytes();
        let image = input_key_images
            .iter()
            .find(|(output, _)| *output == key)
            .map(|(_, image)| *image)
            .ok_or_else(|| refused(format!("input {} has no known key image", hex::encode(key))))?;
        expected.push((image, input.decoys().positions()));
    }
    let mut spent: Vec<([u8; 32], Vec<u64>)> = Vec::with_capacity(prefix.inputs.len());
    for input in &prefix.inputs {
        let monero_wallet::transaction::Input::ToKey {
            key_offsets,
            key_image,
            ..
        } = input
        else {
            return Err(refused("it has a coinbase input".into()));
        };
        let mut positions = Vec::with_capacity(key_offsets.len());
        let mut at = 0u64;
        for offset in key_offsets {
            at = at.saturating_add(*offset);
            positions.push(at);
        }
        spent.push((key_image.to_bytes(), positions));
    }
    expected.sort();
    spent.sort();
    if expected != spent {
        return Err(refused(
            "it spends other outputs (key images or rings) than the proposal".into(),
        ));
    }
    let fee = match &tx {
        Transaction::V2 {
            proofs: Some(proofs),
            ..
        } => proofs.base.fee,
        _ => return Err(refused("it is not a RingCT transaction".into())),
    };
    if fee != review.fee {
        return Err(refused(format!(
            "its fee is {}, the proposal's {}",
            crate::review::format_xmr(fee),
            crate::review::format_xmr(review.fee)
        )));
    }
    let change = match review.change {
        crate::review::ReviewedChange::Own { amount, .. } => Some(amount),
        _ => None,
    };
    let outputs = review.payments.len() + usize::from(change.is_some());
    if prefix.outputs.len() != outputs {
        return Err(refused(format!(
            "it has {} outputs, the proposal {outputs}",
            prefix.outputs.len()
        )));
    }
    if let Some(amount) = change {
        let own = crate::review::own_output_amounts(&tx, view);
        if !own.contains(&amount) {
            return Err(refused(format!(
                "no output returns the change of {} to the vault",
                crate::review::format_xmr(amount)
            )));
        }
    }
    Ok(CheckedWallet2Spend {
        bytes: pending.tx.clone(),
        txid: hex::encode(tx.hash()),
        key_images: spent.iter().map(|(image, _)| hex::encode(image)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::files::tests::paid_output;
    use super::*;
    use crate::keys::WalletKeys;
    use crate::review::{ReviewedChange, sign_unsigned};
    use crate::subaddress::AddressIndex;
    use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
    use rand_core::OsRng;

    const NET: MoneroNetwork = MoneroNetwork::Regtest;
    const XMR: u64 = 1_000_000_000_000;
    const FEE: u64 = 40_000_000;

    fn random_point() -> [u8; 32] {
        let k: DalekScalar = Scalar::random(&mut OsRng).into();
        (&k * ED25519_BASEPOINT_TABLE).compress().to_bytes()
    }

    /// An input of `amount` paid to `wallet`, hidden at position 5 of a ring of 16.
    fn source(wallet: &WalletKeys, amount: u64) -> (Source, crate::wallet2::files::Wallet2Output) {
        let mut output = paid_output(wallet, AddressIndex::PRIMARY, 1);
        output.amount = amount;
        let mask: DalekScalar = Scalar::random(&mut OsRng).into();
        let commitment = Commitment::new(Scalar::from(mask), amount).commit();
        let mut ring: Vec<RingMember> = (0..16)
            .map(|i| RingMember {
                global_index: 100 + 7 * i,
                output_key: random_point(),
                commitment: random_point(),
            })
            .collect();
        ring[5].output_key = output.output_key;
        ring[5].commitment = commitment.compress().to_bytes();
        let source = Source {
            ring,
            real_output: 5,
            real_out_tx_key: output.tx_public_key,
            real_out_additional_tx_keys: Vec::new(),
            real_output_in_tx_index: 1,
            amount,
            rct: true,
            mask: mask.to_bytes(),
            multisig: [0; 128],
        };
        (source, output)
    }

    fn destination(address: &MoneroAddress, amount: u64) -> Destination {
        Destination {
            original: address.to_string(),
            amount,
            spend_public: address.spend().compress().to_bytes(),
            view_public: address.view().compress().to_bytes(),
            is_subaddress: address.is_subaddress(),
            is_integrated: false,
        }
    }

    /// A set paying 3 XMR to `payee` from a 10 XMR input of `wallet`, change back.
    fn unsigned_set(wallet: &WalletKeys, payee: &MoneroAddress) -> UnsignedTxSet {
        let (source, output) = source(wallet, 10 * XMR);
        let pay = destination(payee, 3 * XMR);
        let change = destination(&wallet.primary_address(NET), 7 * XMR - FEE);
        UnsignedTxSet {
            txes: vec![TxConstructionData {
                sources: vec![source],
                change: change.clone(),
                splitted_destinations: vec![pay.clone(), change],
                selected_transfers: vec![0],
                extra: [2, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0].to_vec(),
                unlock_time: 0,
                flags: 3,
                range_proof_type: 3,
                bulletproof_version: 4,
                destinations: vec![pay],
                subaddress_account: 0,
                subaddress_indices: vec![0],
            }],
            transfers: Wallet2Outputs {
                layout: OutputsLayout::V0,
                offset: 0,
                total: None,
                outputs: vec![output],
            },
        }
    }

    #[test]
    fn a_set_signs_exactly_as_wallet2_built_it_and_both_sets_round_trip() {
        let wallet = WalletKeys::random(&mut OsRng);
        let view = wallet.view_keys();
        let payee = WalletKeys::random(&mut OsRng).primary_address(NET);
        let set = unsigned_set(&wallet, &payee);
        let bytes = set.write(view, &mut OsRng);
        assert!(is_unsigned_tx_set(&bytes));
        assert_eq!(UnsignedTxSet::read(&bytes, view).unwrap(), set);

        let spend = signable_transaction(&set.txes[0], view, NET, &mut OsRng).unwrap();
        assert_eq!((spend.fee, spend.change), (FEE, 7 * XMR - FEE));
        let (review, signed) = sign_unsigned(&spend.payload, NET, &wallet).unwrap();
        assert_eq!(review.fee, FEE);
        assert_eq!(review.payments.len(), 1);
        assert_eq!(review.payments[0].address, payee.to_string());
        assert_eq!(review.payments[0].amount, 3 * XMR);
        assert!(
            matches!(review.change, ReviewedChange::Own { amount, .. } if amount == 7 * XMR - FEE)
        );

        let tx = &set.txes[0];
        let signed_set = SignedTxSet {
            txes: vec![PendingTx {
                tx: signed.bytes.clone(),
                dust: 0,
                fee: spend.fee,
                dust_added_to_fee: false,
                change: tx.change.clone(),
                selected_transfers: tx.selected_transfers.clone(),
                key_images: format!("<{}> ", signed.key_images[0]),
                tx_key: [1; 32],
                additional_tx_keys: Vec::new(),
                destinations: tx.destinations.clone(),
                construction: tx.clone(),
                multisig_entropy: [0; 32],
            }],
            key_images: Vec::new(),
            tx_key_images: vec![([7; 32], [8; 32])],
        };
        let bytes = signed_set.write(view, &mut OsRng);
        assert!(is_signed_tx_set(&bytes));
        let read = SignedTxSet::read(&bytes, view).unwrap();
        assert_eq!(read, signed_set);

        // The coordinator's check of the signed set against the payload.
        let image: [u8; 32] = hex::decode(&signed.key_images[0])
            .unwrap()
            .try_into()
            .unwrap();
        let output_key = set.txes[0].sources[0].ring[5].output_key;
        let checked =
            check_signed_set(&read, &spend.payload, NET, view, &[(output_key, image)]).unwrap();
        assert_eq!(checked.txid, signed.txid);
        let other = check_signed_set(&read, &spend.payload, NET, view, &[(output_key, [9; 32])]);
        assert!(other.unwrap_err().to_string().contains("other outputs"));
        // Another payload (same input, another payment): the fee or outputs differ.
        let mut cheaper = set.txes[0].clone();
        cheaper.destinations[0].amount += 1000;
        cheaper.splitted_destinations[0].amount += 1000;
        let other_payload = signable_transaction(&cheaper, view, NET, &mut OsRng).unwrap();
        let refused = check_signed_set(
            &read,
            &other_payload.payload,
            NET,
            view,
            &[(output_key, image)],
        );
        assert!(refused.unwrap_err().to_string().contains("fee"));
    }

    #[test]
    fn sets_that_do_not_add_up_or_pay_elsewhere_are_refused_by_name() {
        let wallet = WalletKeys::random(&mut OsRng);
        let view = wallet.view_keys();
        let stranger = WalletKeys::random(&mut OsRng);
        let payee = stranger.primary_address(NET);
        let good = unsigned_set(&wallet, &payee).txes.remove(0);
        type Alteration = Box<dyn Fn(&mut TxConstructionData)>;
        let cases: Vec<(&str, Alteration)> = vec![
            (
                "not this wallet's account 0",
                Box::new(move |t| {
                    let foreign = destination(&payee, t.change.amount);
                    t.change = foreign.clone();
                    t.splitted_destinations[1] = foreign;
                }),
            ),
            (
                "not among its outputs",
                Box::new(|t| t.splitted_destinations[0].amount -= 1),
            ),
            (
                "destinations plus one change",
                Box::new(|t| {
                    t.splitted_destinations[1].amount -= 1;
                }),
            ),
            (
                "do not open its commitment",
                Box::new(|t| t.sources[0].amount += 1),
            ),
            ("locks its outputs", Box::new(|t| t.unlock_time = 5000)),
            ("payment ID", Box::new(|t| t.extra[10] = 1)),
            ("extra data", Box::new(|t| t.extra = vec![0xde, 0xad])),
            (
                "increasing order",
                Box::new(|t| t.sources[0].ring.swap(0, 1)),
            ),
            ("ring of 11", Box::new(|t| t.sources[0].ring.truncate(11))),
            ("not a RingCT", Box::new(|t| t.flags = 0)),
            (
                "exceed its inputs",
                Box::new(|t| {
                    t.destinations[0].amount += 8 * XMR;
                    t.splitted_destinations[0].amount += 8 * XMR;
                }),
            ),
            (
                "integrated",
                Box::new(|t| t.splitted_destinations[0].is_integrated = true),
            ),
        ];
        for (expected, change) in cases {
            let mut tx = good.clone();
            change(&mut tx);
            let error = signable_transaction(&tx, view, NET, &mut OsRng).unwrap_err();
            assert!(error.to_string().contains(expected), "{expected}: {error}");
        }
        // Another wallet's input.
        let mut theirs = good.clone();
        theirs.sources[0] = source(&stranger, 10 * XMR).0;
        let error = signable_transaction(&theirs, view, NET, &mut OsRng).unwrap_err();
        assert!(
            error.to_string().contains("is not this wallet's"),
            "{error}"
        );
    }

    #[test]
    fn malformed_and_foreign_sets_are_refused_by_name() {
        let wallet = WalletKeys::random(&mut OsRng);
        let view = wallet.view_keys();
        let payee = WalletKeys::random(&mut OsRng).primary_address(NET);
        let set = unsigned_set(&wallet, &payee);
        let plain = set.to_plaintext();
        for cut in [1, 40, plain.len() / 2, plain.len() - 1] {
            let error = UnsignedTxSet::from_plaintext(&plain[..cut]).unwrap_err();
            assert!(error.to_string().contains("malformed"), "{cut}: {error}");
        }
        let mut trailing = plain.clone();
        trailing.push(0);
        assert!(
            UnsignedTxSet::from_plaintext(&trailing)
                .unwrap_err()
                .to_string()
                .contains("after its end")
        );
        let mut version = plain.clone();
        version[0] = 7;
        assert!(
            UnsignedTxSet::from_plaintext(&version)
                .unwrap_err()
                .to_string()
                .contains("version 7")
        );
        let bytes = set.write(view, &mut OsRng);
        let other = WalletKeys::random(&mut OsRng);
        let error = UnsignedTxSet::read(&bytes, other.view_keys()).unwrap_err();
        assert!(
            error.to_string().contains("does not authenticate"),
            "{error}"
        );
        let mut boost = bytes.clone();
        boost[UNSIGNED_TX_MAGIC.len() - 1] = 4;
        let error = UnsignedTxSet::read(&boost, view).unwrap_err();
        assert!(error.to_string().contains("Boost archive"), "{error}");
        let error = SignedTxSet::read(&bytes, view).unwrap_err();
        assert!(
            error.to_string().contains("not a wallet2 signed"),
            "{error}"
        );
    }
}
