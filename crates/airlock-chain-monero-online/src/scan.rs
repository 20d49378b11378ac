//! The view-only vault's scanner: finds the outputs a wallet received, from
//! its primary address and secret view key alone, in blocks fetched from monerod; keeps the
//! scan state (outputs, block hashes for reorg detection, key-image knowledge) in a file that is
//! replaced atomically, so a daemon that dies or lies mid-sync leaves the previous state intact.
//!
//! Speed: one ECDH (`8·a·R`) per transaction public key, view tags to discard ~255/256 of the
//! other wallets' outputs before any further work, transactions spread over all cores (rayon),
//! the next batch of blocks fetched (`get_blocks.bin`) while the current one is scanned, and the
//! subaddress table built once beforehand. Only outputs whose view tag matches get the full
//! check: `P - Hs(8aR || o)·G` looked up in the subaddress table, the amount decrypted and its
//! commitment rebuilt. The primitives (hash-to-scalar, Keccak, commitments, extra parsing,
//! transaction and block parsing) are monero-oxide's; the results are checked against
//! monero-wallet's own `Scanner` and against wallet2 in the tests.
//!
//! Like monero-wallet, only RingCT outputs (v2 transactions, all outputs since 2017) are scanned.
//!
//! This module must never hold a spend key or sign anything, and never prints the view key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar as DalekScalar;
use monero_wallet::address::{AddressType, MoneroAddress, Network};
use monero_wallet::ed25519::{Commitment, Scalar};
use monero_wallet::extra::ExtraField;
use monero_wallet::interface::ScannableBlock;
use monero_wallet::primitives::keccak256;
use monero_wallet::ringct::EncryptedAmount;
use monero_wallet::transaction::{Input, Pruned, Timelock, Transaction};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::daemon::{DaemonClient, DaemonError};
use crate::keyimages::{ExportedOutput, OutputsFile};
use crate::keys::MoneroNetwork;
use crate::subaddress::{AddressIndex, Lookahead, SubaddressTable, subaddress_scalar};

/// Blocks an ordinary output must be buried under before it can be spent (wallet2's
/// `CRYPTONOTE_DEFAULT_TX_SPENDABLE_AGE`).
pub const SPENDABLE_AGE: u64 = 10;
/// Blocks a coinbase output stays locked (`CRYPTONOTE_MINED_MONEY_UNLOCK_WINDOW`).
pub const COINBASE_UNLOCK_WINDOW: u64 = 60;
/// Seconds of slack for time-based unlock times (wallet2's `..._DELTA_SECONDS_V2`).
const UNLOCK_TIME_SLACK_SECONDS: u64 = 120;
/// Unlock times below this are block heights, above it UNIX times (`CRYPTONOTE_MAX_BLOCK_NUMBER`).
const MAX_BLOCK_NUMBER: u64 = 500_000_000;
/// Block hashes kept for reorg detection.
pub const REORG_WINDOW: u64 = 10_000;
/// Highest hard-fork version this scanner understands.
const MAX_HARDFORK: u8 = 16;
/// Format 2 added each output's key offset (format 1 files are rescanned from the restore height).
const STATE_FORMAT: u32 = 2;

/// Errors in the wallet's public keys or view key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// The address does not decode.
    #[error("the address is not a valid Monero address ({0})")]
    Address(String),
    /// A subaddress or integrated address was given where the primary address is needed.
    #[error(
        "the address must be the wallet's primary (standard) address, not a subaddress or integrated address"
    )]
    NotPrimary,
    /// The view key is not 64 hex characters of a canonical scalar.
    #[error("the secret view key must be 64 hex characters encoding a canonical scalar")]
    ViewKeyFormat,
    /// The view key does not belong to the address.
    #[error("the secret view key does not belong to this address (its public view key differs)")]
    ViewKeyMismatch,
}

/// The view-only keys of a wallet: primary address (public spend and view keys) and secret view
/// key. Never prints the secret.
pub struct ScanKeys {
    address: MoneroAddress,
    view_secret: Zeroizing<Scalar>,
}

impl std::fmt::Debug for ScanKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanKeys")
            .field("address", &self.address.to_string())
            .finish_non_exhaustive()
    }
}

impl ScanKeys {
    /// From the primary address and the secret view key (hex), checking they belong together.
    pub fn new(primary_address: &str, secret_view_key_hex: &str) -> Result<Self, KeysError> {
        let address = MoneroAddress::from_str_with_unchecked_network(primary_address.trim())
            .map_err(|e| KeysError::Address(e.to_string()))?;
        if !matches!(address.kind(), AddressType::Legacy) {
            return Err(KeysError::NotPrimary);
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(secret_view_key_hex.trim(), bytes.as_mut_slice())
            .map_err(|_| KeysError::ViewKeyFormat)?;
        Self::from_parts(address, &bytes)
    }

    /// From the offline wallet's view keys (`keys::ViewKeys`, e.g. an imported view-only export)
    /// on `network`.
    pub fn from_view_keys(
        keys: &crate::keys::ViewKeys,
        network: crate::keys::MoneroNetwork,
    ) -> Result<Self, KeysError> {
        Self::from_parts(keys.primary_address(network), &keys.view_secret_bytes())
    }

    fn from_parts(address: MoneroAddress, bytes: &Zeroizing<[u8; 32]>) -> Result<Self, KeysError> {
        if !matches!(address.kind(), AddressType::Legacy) {
            return Err(KeysError::NotPrimary);
        }
        let dalek: Option<DalekScalar> = DalekScalar::from_canonical_bytes(**bytes).into();
        let dalek = Zeroizing::new(dalek.ok_or(KeysError::ViewKeyFormat)?);
        if (&*dalek * ED25519_BASEPOINT_TABLE).compress().to_bytes()
            != address.view().compress().to_bytes()
        {
            return Err(KeysError::ViewKeyMismatch);
        }
        Ok(ScanKeys {
            address,
            view_secret: Zeroizing::new(Scalar::from(*dalek)),
        })
    }

    /// The primary address.
    pub fn primary_address(&self) -> String {
        self.address.to_string()
    }

    /// The address's network (regtest uses mainnet addresses).
    pub fn network(&self) -> Network {
        self.address.network()
    }

    /// monero-wallet's view pair for the same keys (for its `Scanner` and transaction builder).
    pub fn view_pair(&self) -> monero_wallet::ViewPair {
        monero_wallet::ViewPair::new(self.address.spend(), self.view_secret.clone()).expect(
            "the spend key of a decoded address is a valid point; torsion is checked by ViewPair",
        )
    }

    /// Builds the subaddress table (the slow part of setting up a scanner; do it once).
    pub fn subaddress_table(&self, lookahead: Lookahead) -> SubaddressTable {
        SubaddressTable::new(self.address.spend(), &self.view_secret, lookahead)
    }
}

/// When an output's own unlock time (the transaction's `unlock_time` field) is satisfied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlockTime {
    /// No extra lock (`unlock_time = 0`).
    None,
    /// Locked until the chain has this many blocks.
    Block(u64),
    /// Locked until this UNIX time (by the chain's clock).
    Time(u64),
}

/// Where an owned output was spent (seen in a scanned block, or reported by the daemon).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    /// The spending transaction (all zero when only the daemon's spent flag is known).
    #[serde(with = "hex32")]
    pub tx_hash: [u8; 32],
    /// Height of the block holding it (0 when only the daemon's spent flag is known).
    pub block_height: u64,
}

/// Identifies an output: transaction hash and index within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutputRef {
    /// Hash of the transaction that created the output.
    #[serde(with = "hex32")]
    pub tx_hash: [u8; 32],
    /// Index of the output in that transaction.
    pub index_in_tx: u64,
}

/// An output the wallet owns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedOutput {
    /// Hash of the transaction that created it.
    #[serde(with = "hex32")]
    pub tx_hash: [u8; 32],
    /// Index in that transaction.
    pub index_in_tx: u64,
    /// Global (RingCT) output index, as rings reference it.
    pub global_index: u64,
    /// Height of the block holding the transaction.
    pub block_height: u64,
    /// Amount in piconero.
    pub amount: u64,
    /// Which of the wallet's addresses received it.
    pub address: AddressIndex,
    /// Whether it is a coinbase (miner transaction) output.
    pub coinbase: bool,
    /// The transaction's own unlock time.
    pub unlock_time: UnlockTime,
    /// The one-time output public key.
    #[serde(with = "hex32")]
    pub output_key: [u8; 32],
    /// The key offset `k` with `P = (b + k)·G`: the shared secret `Hs(8aR || o)` plus the
    /// subaddress scalar. With the spend key `b` it gives the one-time secret, so the signer
    /// needs it to derive the key image; derived from the view key alone, it cannot spend.
    #[serde(with = "hex32")]
    pub key_offset: [u8; 32],
    /// The key image, once a key-image import supplied it; `None` = unknown, so whether the
    /// output is spent cannot be known (Feather's crossed-out eye).
    #[serde(with = "hex32_opt", default)]
    pub key_image: Option<[u8; 32]>,
    /// Where it was spent, when known.
    #[serde(default)]
    pub spent: Option<Spend>,
    /// The transaction public key the output was found with (the transaction's main key when it
    /// was found with an additional key), for wallet2's outputs export; `None` in states
    /// scanned before it was recorded.
    #[serde(with = "hex32_opt", default, skip_serializing_if = "Option::is_none")]
    pub tx_public_key: Option<[u8; 32]>,
    /// The transaction's additional public keys (one per output, for subaddress payments).
    #[serde(with = "hex32_vec", default, skip_serializing_if = "Vec::is_empty")]
    pub additional_tx_keys: Vec<[u8; 32]>,
}

impl OwnedOutput {
    /// Its reference (transaction hash, index).
    pub fn output_ref(&self) -> OutputRef {
        OutputRef {
            tx_hash: self.tx_hash,
            index_in_tx: self.index_in_tx,
        }
    }

    /// Whether its key image is unknown (it needs a key-image sync before its spent status is
    /// known).
    pub fn needs_key_image(&self) -> bool {
        self.key_image.is_none()
    }

    /// Whether it can be spent on a chain of `chain_height` blocks whose top block has timestamp
    /// `chain_time`: buried under 10 blocks (60 for coinbase) and its unlock time satisfied.
    pub fn is_unlocked(&self, chain_height: u64, chain_time: u64) -> bool {
        let age = if self.coinbase {
            COINBASE_UNLOCK_WINDOW
        } else {
            SPENDABLE_AGE
        };
        if chain_height < self.block_height.saturating_add(age) {
            return false;
        }
        match self.unlock_time {
            UnlockTime::None => true,
            UnlockTime::Block(height) => chain_height >= height,
            UnlockTime::Time(time) => chain_time.saturating_add(UNLOCK_TIME_SLACK_SECONDS) >= time,
        }
    }
}

/// Balances in piconero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Every owned output not known to be spent.
    pub total: u64,
    /// The part of `total` that is unlocked now.
    pub unlocked: u64,
    /// The part of `total` whose key images are unknown: possibly already spent.
    pub unverified: u64,
    /// Number of outputs counted in `total`.
    pub outputs: usize,
}

impl Balance {
    fn add(&mut self, output: &OwnedOutput, unlocked: bool) {
        self.total += output.amount;
        self.outputs += 1;
        if unlocked {
            self.unlocked += output.amount;
        }
        if output.needs_key_image() {
            self.unverified += output.amount;
        }
    }
}

/// Errors reading or writing the scan state file.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// Reading or writing failed.
    #[error("scan state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a scan state.
    #[error("scan state file {path} is not a valid scan state: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Errors importing key images.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyImageImportError {
    /// A key image for an output this vault never saw: another wallet's file, or a restore
    /// height above the wallet's first output.
    #[error(
        "key image for output {output} which this vault has not seen: the key images are from another wallet, \
         or the restore height ({restore_height}) is above the wallet's first output"
    )]
    UnknownOutput {
        /// The output (`txhash:index`).
        output: String,
        /// The vault's restore height.
        restore_height: u64,
    },
    /// A different key image than the one already recorded.
    #[error("output {output} already has a different key image")]
    Conflict {
        /// The output (`txhash:index`).
        output: String,
    },
}

/// The persistent state of a view-only vault's scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanState {
    format: u32,
    primary_address: String,
    restore_height: u64,
    /// Height of `block_hashes[0]`.
    hashes_from: u64,
    #[serde(with = "hex32_vec")]
    block_hashes: Vec<[u8; 32]>,
    tip_timestamp: u64,
    lookahead: Lookahead,
    outputs: Vec<OwnedOutput>,
    /// Proved key images of outputs not scanned yet (the change of a transaction the signer
    /// signed), applied when the scan finds them.
    #[serde(default)]
    pending_key_images: Vec<PendingKeyImage>,
}

/// A key image proved for an output the scan has not found yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PendingKeyImage {
    #[serde(with = "hex32")]
    output_key: [u8; 32],
    #[serde(with = "hex32")]
    key_image: [u8; 32],
}

impl ScanState {
    /// A fresh state for `keys`, to scan from `restore_height`. Outputs in earlier blocks are
    /// never seen; choose a height at or below the wallet's first output.
    pub fn new(keys: &ScanKeys, restore_height: u64, lookahead: Lookahead) -> Self {
        ScanState {
            format: STATE_FORMAT,
            primary_address: keys.primary_address(),
            restore_height,
            hashes_from: restore_height,
            block_hashes: Vec::new(),
            tip_timestamp: 0,
            lookahead,
            outputs: Vec::new(),
            pending_key_images: Vec::new(),
        }
    }

    /// The wallet's primary address.
    pub fn primary_address(&self) -> &str {
        &self.primary_address
    }

    /// The height the scan started from.
    pub fn restore_height(&self) -> u64 {
        self.restore_height
    }

    /// The subaddress lookahead this vault scans with.
    pub fn lookahead(&self) -> Lookahead {
        self.lookahead
    }

    /// The chain height scanned so far (number of blocks; the next block to scan).
    pub fn scanned_height(&self) -> u64 {
        self.hashes_from + self.block_hashes.len() as u64
    }

    /// The hash of the last scanned block.
    pub fn tip_hash(&self) -> Option<[u8; 32]> {
        self.block_hashes.last().copied()
    }

    /// Every owned output found (spent ones included), in chain order.
    pub fn outputs(&self) -> &[OwnedOutput] {
        &self.outputs
    }

    /// The scanned state as state-commitment leaves (`airlock_core::commitment`): an
    /// `output <tx hash>:<index> <piconero>` per output the view key found, and
    /// `spent <tx hash>:<index> <key image>` per output whose key image was seen spent on chain.
    /// With [`ScanState::scanned_height`] and [`ScanState::tip_hash`] they say what the vault
    /// held when the scan stopped.
    pub fn state_leaves(&self) -> Vec<String> {
        self.state_leaves_below(self.scanned_height())
    }

    /// [`ScanState::state_leaves`] as they stood when the scan had reached `height`: only the
    /// outputs of blocks below it (a witness that scanned further compares at a coordinator's
    /// committed height). Spends are listed as known now.
    pub fn state_leaves_below(&self, height: u64) -> Vec<String> {
        let mut leaves = Vec::with_capacity(self.outputs.len());
        for o in self.outputs.iter().filter(|o| o.block_height < height) {
            let at = format!("{}:{}", hex::encode(o.tx_hash), o.index_in_tx);
            leaves.push(format!("output {at} {}", o.amount));
            if o.spent.is_some()
                && let Some(image) = o.key_image
            {
                leaves.push(format!("spent {at} {}", hex::encode(image)));
            }
        }
        leaves
    }

    /// Owned outputs not known to be spent.
    pub fn unspent_outputs(&self) -> impl Iterator<Item = &OwnedOutput> {
        self.outputs.iter().filter(|o| o.spent.is_none())
    }

    /// Whether `output` is unlocked at the scanned tip.
    pub fn is_unlocked(&self, output: &OwnedOutput) -> bool {
        output.is_unlocked(self.scanned_height(), self.tip_timestamp)
    }

    /// The wallet's balance at the scanned tip.
    pub fn balance(&self) -> Balance {
        let mut balance = Balance::default();
        for output in self.unspent_outputs() {
            balance.add(output, self.is_unlocked(output));
        }
        balance
    }

    /// Balances per address (account, index) that received anything.
    pub fn balance_by_address(&self) -> BTreeMap<AddressIndex, Balance> {
        let mut map: BTreeMap<AddressIndex, Balance> = BTreeMap::new();
        for output in self.unspent_outputs() {
            map.entry(output.address)
                .or_default()
                .add(output, self.is_unlocked(output));
        }
        map
    }

    /// Balances per account.
    pub fn balance_by_account(&self) -> BTreeMap<u32, Balance> {
        let mut map: BTreeMap<u32, Balance> = BTreeMap::new();
        for output in self.unspent_outputs() {
            map.entry(output.address.account)
                .or_default()
                .add(output, self.is_unlocked(output));
        }
        map
    }

    /// Records key images (from the signer's key-image export) for owned outputs. All or
    /// nothing: an unknown output or a conflicting key image rejects the whole import. Returns
    /// how many outputs learned their key image. Spends in blocks scanned later are detected by
    /// the scanner; for earlier spends call [`ScanState::refresh_spent_from_daemon`] or rescan.
    pub fn import_key_images(
        &mut self,
        items: &[(OutputRef, [u8; 32])],
    ) -> Result<usize, KeyImageImportError> {
        let position: HashMap<OutputRef, usize> = self
            .outputs
            .iter()
            .enumerate()
            .map(|(i, o)| (o.output_ref(), i))
            .collect();
        let mut updates = Vec::with_capacity(items.len());
        for (output, key_image) in items {
            let name = format!("{}:{}", hex::encode(output.tx_hash), output.index_in_tx);
            let Some(&at) = position.get(output) else {
                return Err(KeyImageImportError::UnknownOutput {
                    output: name,
                    restore_height: self.restore_height,
                });
            };
            match self.outputs[at].key_image {
                Some(known) if known != *key_image => {
                    return Err(KeyImageImportError::Conflict { output: name });
                }
                Some(_) => {}
                None => updates.push((at, *key_image)),
            }
        }
        for (at, key_image) in &updates {
            self.outputs[*at].key_image = Some(*key_image);
        }
        Ok(updates.len())
    }

    /// Records the key images of a verified key-image file (output key → key image, from
    /// `KeyImagesFile::verify` against [`ScanState::outputs_file`]). All or nothing, as
    /// [`ScanState::import_key_images`].
    pub fn import_key_images_by_output_key(
        &mut self,
        verified: &BTreeMap<[u8; 32], [u8; 32]>,
    ) -> Result<usize, KeyImageImportError> {
        let by_key: HashMap<[u8; 32], OutputRef> = self
            .outputs
            .iter()
            .map(|o| (o.output_key, o.output_ref()))
            .collect();
        let mut items = Vec::with_capacity(verified.len());
        for (output_key, key_image) in verified {
            let Some(output) = by_key.get(output_key) else {
                return Err(KeyImageImportError::UnknownOutput {
                    output: hex::encode(output_key),
                    restore_height: self.restore_height,
                });
            };
            items.push((*output, *key_image));
        }
        self.import_key_images(&items)
    }

    /// Records verified key images (output key → key image) for outputs that may not be scanned
    /// yet, such as the change of a transaction just signed: those already found are imported
    /// now, the others when [`ScanState::apply_pending_key_images`] finds them. Returns how many
    /// were imported now.
    pub fn add_key_images_ahead(
        &mut self,
        verified: &BTreeMap<[u8; 32], [u8; 32]>,
    ) -> Result<usize, KeyImageImportError> {
        for (output_key, key_image) in verified {
            if !self
                .pending_key_images
                .iter()
                .any(|p| p.output_key == *output_key)
            {
                self.pending_key_images.push(PendingKeyImage {
                    output_key: *output_key,
                    key_image: *key_image,
                });
            }
        }
        self.apply_pending_key_images()
    }

    /// Imports the pending key images whose outputs the scan has found. Returns how many.
    pub fn apply_pending_key_images(&mut self) -> Result<usize, KeyImageImportError> {
        let found: HashSet<[u8; 32]> = self.outputs.iter().map(|o| o.output_key).collect();
        let ready: BTreeMap<[u8; 32], [u8; 32]> = self
            .pending_key_images
            .iter()
            .filter(|p| found.contains(&p.output_key))
            .map(|p| (p.output_key, p.key_image))
            .collect();
        let imported = self.import_key_images_by_output_key(&ready)?;
        self.pending_key_images
            .retain(|p| !ready.contains_key(&p.output_key));
        Ok(imported)
    }

    /// The outputs file for the signer's key-image sync: every output found (`all`), or only
    /// those whose key image is unknown.
    pub fn outputs_file(&self, network: MoneroNetwork, all: bool) -> OutputsFile {
        OutputsFile {
            network,
            primary_address: self.primary_address.clone(),
            outputs: self
                .outputs
                .iter()
                .filter(|o| all || o.needs_key_image())
                .map(|o| ExportedOutput {
                    output_key: o.output_key,
                    key_offset: o.key_offset,
                    amount: o.amount,
                })
                .collect(),
        }
    }

    /// Asks the daemon which outputs with a known key image are spent, in the chain or the pool,
    /// and marks them. Spends known only from the daemon (no transaction hash or height: the
    /// key image arrived after the spending block was scanned, or the spend is in the pool) are
    /// asked again each time, so a pool transaction that is dropped frees its outputs. Returns
    /// how many outputs are newly marked spent.
    pub fn refresh_spent_from_daemon(
        &mut self,
        daemon: &DaemonClient,
    ) -> Result<usize, DaemonError> {
        let daemon_only = |spend: &Option<Spend>| {
            spend
                .as_ref()
                .is_none_or(|s| s.tx_hash == [0; 32] && s.block_height == 0)
        };
        let pending: Vec<(usize, [u8; 32])> = self
            .outputs
            .iter()
            .enumerate()
            .filter(|(_, o)| daemon_only(&o.spent))
            .filter_map(|(i, o)| o.key_image.map(|k| (i, k)))
            .collect();
        let key_images: Vec<[u8; 32]> = pending.iter().map(|(_, k)| *k).collect();
        let spent = daemon.key_images_spent(&key_images)?;
        let mut marked = 0;
        for ((at, _), is_spent) in pending.iter().zip(spent) {
            let output = &mut self.outputs[*at];
            if is_spent && output.spent.is_none() {
                marked += 1;
            }
            output.spent = is_spent.then_some(Spend {
                tx_hash: [0; 32],
                block_height: 0,
            });
        }
        Ok(marked)
    }

    /// Marks outputs spent by key image (e.g. from the daemon's `is_key_image_spent`).
    pub fn mark_spent(&mut self, key_image: &[u8; 32], spend: Spend) -> bool {
        for output in &mut self.outputs {
            if output.key_image.as_ref() == Some(key_image) {
                output.spent = Some(spend);
                return true;
            }
        }
        false
    }

    /// Reads a state file.
    pub fn load(path: &Path) -> Result<Self, StateFileError> {
        let bytes = std::fs::read(path).map_err(|source| StateFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let state: ScanState =
            serde_json::from_slice(&bytes).map_err(|e| StateFileError::Format {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        if state.format != STATE_FORMAT {
            return Err(StateFileError::Format {
                path: path.to_owned(),
                reason: format!("unknown format version {}", state.format),
            });
        }
        Ok(state)
    }

    /// Writes the state atomically: a temporary file in the same directory, fsynced, renamed
    /// over `path`, then the directory fsynced. A crash leaves either the old or the new file.
    pub fn save(&self, path: &Path) -> Result<(), StateFileError> {
        let io = |source| StateFileError::Io {
            path: path.to_owned(),
            source,
        };
        let json = serde_json::to_vec(self).map_err(|e| StateFileError::Format {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scan-state".into());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, path)?;
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    fn known_key_images(&self) -> HashSet<[u8; 32]> {
        self.outputs.iter().filter_map(|o| o.key_image).collect()
    }

    /// Drops everything above `fork_height` (the last block both chains share).
    fn roll_back_to(&mut self, fork_height: u64) -> usize {
        let keep = (fork_height + 1).saturating_sub(self.hashes_from) as usize;
        self.block_hashes.truncate(keep);
        let before = self.outputs.len();
        self.outputs.retain(|o| o.block_height <= fork_height);
        for output in &mut self.outputs {
            if output
                .spent
                .as_ref()
                .is_some_and(|s| s.block_height > fork_height)
            {
                output.spent = None;
            }
        }
        before - self.outputs.len()
    }
}

/// Errors scanning blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// A block that breaks the rules the scanner relies on.
    #[error("invalid block at height {height}: {reason}")]
    InvalidBlock {
        /// Its height.
        height: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Errors syncing a vault with monerod. Nothing is changed when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The daemon failed or answered garbage.
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// The daemon's blocks are not scannable (named daemon).
    #[error("monerod at {url} sent {source}")]
    Block {
        /// The daemon's URL.
        url: String,
        /// The problem.
        source: ScanError,
    },
    /// The chain changed under the sync (a reorg between two calls); syncing again resolves it.
    #[error("monerod at {url}: the chain changed during the sync at height {height}; sync again")]
    ChainMoved {
        /// The daemon's URL.
        url: String,
        /// Where it was noticed.
        height: u64,
    },
    /// A reorg deeper than the kept block hashes.
    #[error(
        "monerod at {url} reports a reorg deeper than the {kept} block hashes kept; rescan from the restore height"
    )]
    ReorgTooDeep {
        /// The daemon's URL.
        url: String,
        /// Hashes kept.
        kept: usize,
    },
    /// The state file belongs to another wallet.
    #[error("the scan state is for {state_address}, not for the given keys ({keys_address})")]
    WrongWallet {
        /// Address in the state.
        state_address: String,
        /// Address of the keys.
        keys_address: String,
    },
    /// The state file could not be read or written.
    #[error(transparent)]
    State(#[from] StateFileError),
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// First height scanned in this sync.
    pub scanned_from: u64,
    /// Chain height after the sync (number of blocks).
    pub chain_height: u64,
    /// Blocks scanned.
    pub blocks_scanned: u64,
    /// Outputs found.
    pub new_outputs: usize,
    /// Spends of owned outputs found.
    pub new_spends: usize,
    /// Set when a reorg was found: the last block both chains share.
    pub reorg_fork_height: Option<u64>,
    /// Outputs dropped by the reorg.
    pub rolled_back_outputs: usize,
    /// Outputs ignored because their one-time key was already received (the burning bug).
    pub duplicate_output_keys: usize,
    /// The restore height; outputs in earlier blocks are not visible to a view-only scan.
    pub restore_height: u64,
}

/// Options for [`ViewScanner::sync`].
#[derive(Clone, Copy, Debug)]
pub struct SyncOptions {
    /// Blocks per `get_blocks.bin` batch (monerod 0.18.0 sends up to 1000 per answer).
    pub blocks_per_batch: u64,
    /// Batches fetched ahead of the scan.
    pub prefetch_batches: usize,
    /// Called after each batch with the height scanned so far and the chain's height.
    pub progress: Option<fn(u64, u64)>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            blocks_per_batch: 1000,
            prefetch_batches: 2,
            progress: None,
        }
    }
}

/// Outputs and spends found in a run of blocks.
#[derive(Clone, Debug, Default)]
pub struct BlocksScan {
    /// Owned outputs, in chain order.
    pub outputs: Vec<OwnedOutput>,
    /// Key images of owned outputs spent in these blocks, with where.
    pub spends: Vec<([u8; 32], Spend)>,
}

/// A scanner for one wallet: its view keys and subaddress table (built once).
pub struct ViewScanner {
    keys: ScanKeys,
    view: Zeroizing<DalekScalar>,
    table: SubaddressTable,
}

impl std::fmt::Debug for ViewScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewScanner")
            .field("keys", &self.keys)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// What one transaction holds for the wallet: owned outputs, spends of known key images, and
/// near misses.
type TxScan = (Vec<OwnedOutput>, Vec<([u8; 32], Spend)>, Vec<NearMiss>);

/// An output whose view tag matched but whose spend key is not (yet) in the subaddress table.
struct NearMiss {
    output: usize,
    shared: Zeroizing<Scalar>,
    spend_key: [u8; 32],
    found_with: FoundWith,
}

/// One transaction to scan, with where it sits.
struct TxJob<'a> {
    height: u64,
    tx_hash: [u8; 32],
    coinbase: bool,
    first_global_index: u64,
    tx: &'a Transaction<Pruned>,
}

fn write_varint(mut value: u64, out: &mut [u8]) -> usize {
    let mut n = 0;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out[n] = byte;
            return n + 1;
        }
        out[n] = byte | 0x80;
        n += 1;
    }
}

impl ViewScanner {
    /// A scanner for `keys` with a freshly built subaddress table.
    pub fn new(keys: ScanKeys, lookahead: Lookahead) -> Self {
        let table = keys.subaddress_table(lookahead);
        let view = Zeroizing::new((*keys.view_secret).into());
        ViewScanner { keys, view, table }
    }

    /// The wallet's keys.
    pub fn keys(&self) -> &ScanKeys {
        &self.keys
    }

    /// The subaddress table.
    pub fn table(&self) -> &SubaddressTable {
        &self.table
    }

    /// Scans `blocks` (consecutive, the first at `first_height`). `known_key_images` are the
    /// key images of owned outputs, to find their spends. The subaddress table grows past every
    /// address that receives something (like wallet2's); outputs in the same run to addresses
    /// that only the growth added are found by re-checking the outputs whose view tag matched
    /// but whose spend key was not in the table (about 1 in 256 of other wallets' outputs), so
    /// nothing is rescanned.
    pub fn scan_blocks(
        &mut self,
        first_height: u64,
        blocks: &[ScannableBlock],
        known_key_images: &HashSet<[u8; 32]>,
    ) -> Result<BlocksScan, ScanError> {
        let miners: Vec<Transaction<Pruned>> = blocks
            .iter()
            .map(|b| Transaction::<Pruned>::from(b.block.miner_transaction().clone()))
            .collect();
        let mut jobs = Vec::new();
        for (offset, (block, miner_pruned)) in blocks.iter().zip(&miners).enumerate() {
            let height = first_height + offset as u64;
            let invalid = |reason: String| ScanError::InvalidBlock { height, reason };
            if block.block.number() as u64 != height {
                return Err(invalid(format!(
                    "it claims height {}",
                    block.block.number()
                )));
            }
            if block.block.transactions.len() != block.transactions.len() {
                return Err(invalid(
                    "the block and its transaction list disagree".into(),
                ));
            }
            if block.block.header.hardfork_version > MAX_HARDFORK {
                return Err(invalid(format!(
                    "unsupported hard fork version {}",
                    block.block.header.hardfork_version
                )));
            }
            let miner = block.block.miner_transaction();
            let mut next_global = block.output_index_for_first_ringct_output;
            let txs = std::iter::once((miner.hash(), true, miner_pruned)).chain(
                block
                    .block
                    .transactions
                    .iter()
                    .zip(&block.transactions)
                    .map(|(h, t)| (*h, false, t)),
            );
            for (tx_hash, coinbase, tx) in txs {
                if !matches!(tx, Transaction::V2 { .. }) {
                    continue;
                }
                let Some(first_global_index) = next_global else {
                    if tx.prefix().outputs.is_empty() {
                        continue;
                    }
                    return Err(invalid("RingCT outputs but no output index".into()));
                };
                next_global = Some(
                    first_global_index
                        .checked_add(tx.prefix().outputs.len() as u64)
                        .ok_or_else(|| invalid("output index overflow".into()))?,
                );
                jobs.push(TxJob {
                    height,
                    tx_hash,
                    coinbase,
                    first_global_index,
                    tx,
                });
            }
        }
        let results: Vec<Result<TxScan, ScanError>> = jobs
            .par_iter()
            .with_min_len(4)
            .map(|job| self.scan_transaction(job, known_key_images))
            .collect();
        let mut found = BlocksScan::default();
        let mut misses: Vec<(usize, NearMiss)> = Vec::new();
        for (job_index, result) in results.into_iter().enumerate() {
            let (outputs, spends, job_misses) = result?;
            found.outputs.extend(outputs);
            found.spends.extend(spends);
            misses.extend(job_misses.into_iter().map(|miss| (job_index, miss)));
        }
        let mut grown_past = 0;
        loop {
            let mut grew = false;
            for output in &found.outputs[grown_past..] {
                grew |= self.table.grow_past(output.address);
            }
            grown_past = found.outputs.len();
            if !grew || misses.is_empty() {
                break;
            }
            let mut remaining = Vec::new();
            for (job_index, miss) in std::mem::take(&mut misses) {
                let job = &jobs[job_index];
                let already = found
                    .outputs
                    .iter()
                    .any(|o| o.tx_hash == job.tx_hash && o.index_in_tx == miss.output as u64);
                if already {
                    continue;
                }
                match self.table.lookup(&miss.spend_key) {
                    Some(address) => {
                        if let Some(output) = self.finish_output(
                            job,
                            miss.output,
                            &miss.shared,
                            address,
                            miss.found_with,
                        )? {
                            found.outputs.push(output);
                        }
                    }
                    None => remaining.push((job_index, miss)),
                }
            }
            misses = remaining;
            if found.outputs.len() == grown_past {
                break;
            }
        }
        found.outputs.sort_by_key(|o| o.global_index);
        Ok(found)
    }

    fn derivation(&self, tx_key: &EdwardsPoint) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(
            (*self.view * tx_key)
                .mul_by_cofactor()
                .compress()
                .to_bytes(),
        )
    }

    fn scan_transaction(
        &self,
        job: &TxJob<'_>,
        known_key_images: &HashSet<[u8; 32]>,
    ) -> Result<TxScan, ScanError> {
        let prefix = job.tx.prefix();
        let mut spends = Vec::new();
        if !known_key_images.is_empty() {
            for input in &prefix.inputs {
                if let Input::ToKey { key_image, .. } = input {
                    let key_image = key_image.to_bytes();
                    if known_key_images.contains(&key_image) {
                        spends.push((
                            key_image,
                            Spend {
                                tx_hash: job.tx_hash,
                                block_height: job.height,
                            },
                        ));
                    }
                }
            }
        }
        // As monero-wallet and wallet2: an unparsable extra or one without a transaction key
        // means nothing is addressed to anyone.
        let (tx_keys, additional_keys) = transaction_keys(&prefix.extra);
        if tx_keys.is_empty() {
            return Ok((Vec::new(), spends, Vec::new()));
        }
        let main_derivations: Vec<Zeroizing<[u8; 32]>> =
            tx_keys.iter().map(|k| self.derivation(k)).collect();

        let mut owned = Vec::new();
        let mut misses = Vec::new();
        let mut buffer = Zeroizing::new([0u8; 8 + 32 + 10]);
        for (o, output) in prefix.outputs.iter().enumerate() {
            let output_key_bytes = output.key.to_bytes();
            if output_key_bytes == CompressedEdwardsY::default().to_bytes() {
                continue;
            }
            let additional = additional_keys
                .as_ref()
                .and_then(|keys| keys.get(o))
                .map(|k| self.derivation(k));
            for (d, derivation) in main_derivations.iter().chain(additional.iter()).enumerate() {
                // view tag = Keccak("view_tag" || 8aR || varint(o))[0]
                buffer[..8].copy_from_slice(b"view_tag");
                buffer[8..40].copy_from_slice(derivation.as_slice());
                let len = 40 + write_varint(o as u64, &mut buffer[40..]);
                if let Some(tag) = output.view_tag
                    && keccak256(&buffer[..len])[0] != tag
                {
                    continue;
                }
                // shared scalar s = Hs(8aR || varint(o)); the spend key is P - s·G
                let shared = Zeroizing::new(Scalar::hash(&buffer[8..len]));
                let Some(output_key) = CompressedEdwardsY(output_key_bytes).decompress() else {
                    break;
                };
                let shared_dalek = Zeroizing::new((*shared).into());
                let spend_key = output_key - &*shared_dalek * ED25519_BASEPOINT_TABLE;
                let found_with = FoundWith {
                    tx_public_key: tx_keys[if d < tx_keys.len() { d } else { 0 }]
                        .compress()
                        .to_bytes(),
                    additional_tx_keys: additional_keys
                        .iter()
                        .flatten()
                        .map(|k| k.compress().to_bytes())
                        .collect(),
                };
                let spend_key = spend_key.compress().to_bytes();
                let Some(address) = self.table.lookup(&spend_key) else {
                    misses.push(NearMiss {
                        output: o,
                        shared: shared.clone(),
                        spend_key,
                        found_with,
                    });
                    continue;
                };
                if let Some(found) = self.finish_output(job, o, &shared, address, found_with)? {
                    owned.push(found);
                    break;
                }
            }
        }
        Ok((owned, spends, misses))
    }

    /// Decrypts the amount of output `o` of `job` (a match on `address`), checks it against the
    /// output's commitment, and builds the owned output; `None` if the commitment disagrees.
    fn finish_output(
        &self,
        job: &TxJob<'_>,
        o: usize,
        shared: &Scalar,
        address: AddressIndex,
        found_with: FoundWith,
    ) -> Result<Option<OwnedOutput>, ScanError> {
        let invalid = |reason: &str| ScanError::InvalidBlock {
            height: job.height,
            reason: format!("transaction {}: {reason}", hex::encode(job.tx_hash)),
        };
        let prefix = job.tx.prefix();
        let output = &prefix.outputs[o];
        let key_offset = match subaddress_scalar(&self.keys.view_secret, address) {
            None => Zeroizing::new(<[u8; 32]>::from(*shared)),
            Some(m) => {
                let (shared, m): (DalekScalar, DalekScalar) = ((*shared).into(), (*m).into());
                let sum = Zeroizing::new(shared + m);
                Zeroizing::new(sum.to_bytes())
            }
        };
        let amount = match output.amount {
            Some(amount) => amount,
            None => {
                let Transaction::V2 {
                    proofs: Some(proofs),
                    ..
                } = job.tx
                else {
                    return Err(invalid("a RingCT output without RingCT data"));
                };
                let encrypted = proofs
                    .base
                    .encrypted_amounts
                    .get(o)
                    .ok_or_else(|| invalid("no encrypted amount for an output"))?;
                let commitment = decrypt_amount(shared, encrypted);
                let expected = proofs
                    .base
                    .commitments
                    .get(o)
                    .ok_or_else(|| invalid("no commitment for an output"))?;
                if commitment.commit().compress() != *expected {
                    return Ok(None);
                }
                commitment.amount
            }
        };
        Ok(Some(OwnedOutput {
            tx_hash: job.tx_hash,
            index_in_tx: o as u64,
            global_index: job.first_global_index + o as u64,
            block_height: job.height,
            amount,
            address,
            coinbase: job.coinbase,
            unlock_time: match prefix.additional_timelock {
                Timelock::None => UnlockTime::None,
                Timelock::Block(height) => UnlockTime::Block(height as u64),
                Timelock::Time(time) => {
                    if time < MAX_BLOCK_NUMBER {
                        UnlockTime::Block(time)
                    } else {
                        UnlockTime::Time(time)
                    }
                }
            },
            output_key: output.key.to_bytes(),
            key_offset: *key_offset,
            key_image: None,
            spent: None,
            tx_public_key: Some(found_with.tx_public_key),
            additional_tx_keys: found_with.additional_tx_keys,
        }))
    }

    /// Brings `state` up to the daemon's tip: detects a reorg (rolls back what was above the
    /// fork), then fetches blocks in batches with `get_blocks.bin` on a second thread while this
    /// one scans. All or nothing: on any error `state` is unchanged.
    pub fn sync(
        &mut self,
        state: &mut ScanState,
        daemon: &DaemonClient,
        options: SyncOptions,
    ) -> Result<SyncReport, SyncError> {
        if state.primary_address != self.keys.primary_address() {
            return Err(SyncError::WrongWallet {
                state_address: state.primary_address.clone(),
                keys_address: self.keys.primary_address(),
            });
        }
        let url = daemon.url().to_owned();
        let mut work = state.clone();
        let mut report = SyncReport {
            restore_height: work.restore_height,
            ..SyncReport::default()
        };
        let chain_height = daemon.height()?;

        // Reorg detection: walk back from our tip until the daemon agrees on a hash.
        if !work.block_hashes.is_empty() {
            let mut height = work.scanned_height() - 1;
            if height >= chain_height {
                height = chain_height.saturating_sub(1);
            }
            let fork = loop {
                if height < work.hashes_from {
                    break None;
                }
                let ours = work.block_hashes[(height - work.hashes_from) as usize];
                if daemon.block_hash(height)? == ours {
                    break Some(height);
                }
                if height == 0 {
                    break None;
                }
                height -= 1;
            };
            match fork {
                Some(fork) if fork + 1 == work.scanned_height() => {}
                Some(fork) => {
                    report.reorg_fork_height = Some(fork);
                    report.rolled_back_outputs = work.roll_back_to(fork);
                }
                None if work.hashes_from == work.restore_height => {
                    let fork = work.restore_height.checked_sub(1);
                    report.reorg_fork_height = fork;
                    report.rolled_back_outputs = work.outputs.len();
                    work.block_hashes.clear();
                    work.outputs.clear();
                }
                None => {
                    return Err(SyncError::ReorgTooDeep {
                        url,
                        kept: work.block_hashes.len(),
                    });
                }
            }
        }
        // Grow the table past every address already used (a reloaded state).
        for output in &work.outputs {
            self.table.grow_past(output.address);
        }

        let start = work.scanned_height();
        report.scanned_from = start;
        if start < chain_height {
            let batch = options.blocks_per_batch.max(1);
            let fetcher = daemon.try_clone()?;
            let (sender, receiver) = mpsc::sync_channel::<
                Result<(u64, Vec<ScannableBlock>), DaemonError>,
            >(options.prefetch_batches.max(1));
            let mut seen_keys: HashSet<[u8; 32]> =
                work.outputs.iter().map(|o| o.output_key).collect();
            let outcome = std::thread::scope(|scope| {
                scope.spawn(move || {
                    let mut first = start;
                    while first < chain_height {
                        let last = (first + batch - 1).min(chain_height - 1);
                        let fetched = fetcher
                            .scannable_blocks(first, last)
                            .map(|blocks| (first, blocks));
                        let failed = fetched.is_err();
                        if sender.send(fetched).is_err() || failed {
                            return;
                        }
                        first = last + 1;
                    }
                });
                let mut key_images = work.known_key_images();
                while work.scanned_height() < chain_height {
                    let (first, blocks) = match receiver.recv() {
                        Ok(fetched) => fetched?,
                        Err(_) => {
                            return Err(SyncError::Daemon(DaemonError::Unreachable {
                                url: url.clone(),
                                reason: "the block fetcher stopped".into(),
                            }));
                        }
                    };
                    debug_assert_eq!(first, work.scanned_height());
                    if let (Some(tip), Some(block)) = (work.tip_hash(), blocks.first())
                        && block.block.header.previous != tip
                    {
                        return Err(SyncError::ChainMoved {
                            url: url.clone(),
                            height: first,
                        });
                    }
                    let found =
                        self.scan_blocks(first, &blocks, &key_images)
                            .map_err(|source| SyncError::Block {
                                url: url.clone(),
                                source,
                            })?;
                    for output in found.outputs {
                        if seen_keys.insert(output.output_key) {
                            report.new_outputs += 1;
                            work.outputs.push(output);
                        } else {
                            report.duplicate_output_keys += 1;
                        }
                    }
                    for (key_image, spend) in found.spends {
                        if work.mark_spent(&key_image, spend) {
                            report.new_spends += 1;
                            key_images.remove(&key_image);
                        }
                    }
                    for block in &blocks {
                        work.block_hashes.push(block.block.hash());
                    }
                    if let Some(last) = blocks.last() {
                        work.tip_timestamp = last.block.header.timestamp;
                    }
                    report.blocks_scanned += blocks.len() as u64;
                    if let Some(progress) = options.progress {
                        progress(work.scanned_height(), chain_height);
                    }
                }
                drop(receiver);
                Ok(())
            });
            outcome?;
        }
        // Keep only the last REORG_WINDOW hashes.
        let excess = work
            .block_hashes
            .len()
            .saturating_sub(REORG_WINDOW as usize);
        if excess > 0 {
            work.block_hashes.drain(..excess);
            work.hashes_from += excess as u64;
        }
        report.chain_height = work.scanned_height();
        *state = work;
        Ok(report)
    }

    /// Loads the state at `path`, syncs it and saves it atomically. On any error the file is
    /// left as it was.
    pub fn sync_file(
        &mut self,
        path: &Path,
        daemon: &DaemonClient,
        options: SyncOptions,
    ) -> Result<(SyncReport, ScanState), SyncError> {
        let mut state = ScanState::load(path)?;
        let report = self.sync(&mut state, daemon, options)?;
        state.save(path)?;
        Ok((report, state))
    }
}

/// The transaction public keys and additional (per-output) keys in a transaction's extra, read
/// with monero-oxide's field parser, with monero-wallet's and wallet2's rules: fields are read
/// until the end or the first unreadable one, every `PublicKey` field counts, the first
/// `PublicKeys` field gives the additional keys, and a key that is not a point acts as the
/// identity (it can pay no one). Decompressed with dalek directly: monero-oxide's decompression
/// also re-compresses to reject non-canonical encodings, an extra field inversion per key that
/// the scan does not need (a non-canonical key derives the same shared secret as its canonical
/// twin).
/// The transaction keys an output was found with, kept for wallet2's outputs export.
struct FoundWith {
    tx_public_key: [u8; 32],
    additional_tx_keys: Vec<[u8; 32]>,
}

fn transaction_keys(extra: &[u8]) -> (Vec<EdwardsPoint>, Option<Vec<EdwardsPoint>>) {
    let decompress = |key: &monero_wallet::ed25519::CompressedPoint| {
        CompressedEdwardsY(key.to_bytes())
            .decompress()
            .unwrap_or_default()
    };
    let mut reader = extra;
    let mut keys = Vec::new();
    let mut additional = None;
    while !reader.is_empty() {
        let Ok(field) = ExtraField::read(&mut reader) else {
            break;
        };
        match field {
            ExtraField::PublicKey(key) => keys.push(decompress(&key)),
            ExtraField::PublicKeys(list) if additional.is_none() => {
                additional = Some(list.iter().map(decompress).collect());
            }
            _ => {}
        }
    }
    (keys, additional)
}

/// Decrypts an amount with the shared scalar `s` (both RingCT amount encodings).
fn decrypt_amount(shared: &Scalar, encrypted: &EncryptedAmount) -> Commitment {
    let s_bytes = Zeroizing::new(<[u8; 32]>::from(*shared));
    match encrypted {
        EncryptedAmount::Compact { amount } => {
            let mut mask_preimage = Zeroizing::new(Vec::with_capacity(15 + 32));
            mask_preimage.extend_from_slice(b"commitment_mask");
            mask_preimage.extend_from_slice(s_bytes.as_slice());
            let mask = Scalar::hash(mask_preimage.as_slice());
            let mut amount_preimage = Zeroizing::new(Vec::with_capacity(6 + 32));
            amount_preimage.extend_from_slice(b"amount");
            amount_preimage.extend_from_slice(s_bytes.as_slice());
            let pad = keccak256(amount_preimage.as_slice());
            let mut pad8 = [0u8; 8];
            pad8.copy_from_slice(&pad[..8]);
            Commitment::new(mask, u64::from_le_bytes(*amount) ^ u64::from_le_bytes(pad8))
        }
        EncryptedAmount::Original { mask, amount } => {
            let mask_secret = Scalar::hash(s_bytes.as_slice());
            let amount_secret = Scalar::hash(<[u8; 32]>::from(mask_secret));
            let mask = DalekScalar::from_bytes_mod_order(*mask) - mask_secret.into();
            let amount = DalekScalar::from_bytes_mod_order(*amount) - amount_secret.into();
            let mut amount8 = [0u8; 8];
            amount8.copy_from_slice(&amount.to_bytes()[..8]);
            Commitment::new(Scalar::from(mask), u64::from_le_bytes(amount8))
        }
    }
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub fn parse(text: &str) -> Result<[u8; 32], String> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out)
            .map_err(|_| format!("expected 64 hex characters, got {text:?}"))?;
        Ok(out)
    }
}

mod hex32_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| super::hex32::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

mod hex32_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(items: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(items.iter().map(hex::encode))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| super::hex32::parse(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_matches_monero_encoding() {
        let encode = |n: u64| {
            let mut buf = [0u8; 10];
            let len = write_varint(n, &mut buf);
            buf[..len].to_vec()
        };
        assert_eq!(encode(0), [0]);
        assert_eq!(encode(127), [127]);
        assert_eq!(encode(128), [0x80, 1]);
        assert_eq!(encode(300), [0xac, 2]);
    }

    #[test]
    fn unlock_rules() {
        let output = OwnedOutput {
            tx_hash: [0; 32],
            index_in_tx: 0,
            global_index: 0,
            block_height: 100,
            amount: 1,
            address: AddressIndex::PRIMARY,
            coinbase: false,
            unlock_time: UnlockTime::None,
            output_key: [0; 32],
            key_offset: [0; 32],
            key_image: None,
            spent: None,
            tx_public_key: None,
            additional_tx_keys: Vec::new(),
        };
        assert!(!output.is_unlocked(109, 0));
        assert!(output.is_unlocked(110, 0));
        let coinbase = OwnedOutput {
            coinbase: true,
            unlock_time: UnlockTime::Block(160),
            ..output.clone()
        };
        assert!(!coinbase.is_unlocked(159, 0));
        assert!(coinbase.is_unlocked(160, 0));
        let timed = OwnedOutput {
            unlock_time: UnlockTime::Time(1_000_000_000),
            ..output
        };
        assert!(!timed.is_unlocked(200, 1_000_000_000 - 121));
        assert!(timed.is_unlocked(200, 1_000_000_000 - 120));
    }

    #[test]
    fn scan_keys_from_the_offline_wallets_view_keys() {
        let address = "42sYQ7MNLw1iQrDBah5dNAgU38NCxQUQxZD55soF41pNQJLhhG6hg4sPWy5955Fd9xSacDBkszX8zEnbdonJuZNZKuUqnfY";
        let mut view = [0u8; 32];
        hex::decode_to_slice(
            "43d9d1bc4a81a75065e349319d1408acf2e9386971607c5d3ee668638be3e902",
            &mut view,
        )
        .unwrap();
        let parsed = MoneroAddress::from_str_with_unchecked_network(address).unwrap();
        let wallet_keys = crate::keys::ViewKeys::from_address(&parsed, &view).unwrap();
        let keys =
            ScanKeys::from_view_keys(&wallet_keys, crate::keys::MoneroNetwork::Mainnet).unwrap();
        assert_eq!(keys.primary_address(), address);
    }

    #[test]
    fn view_keys_reject_bad_input() {
        let address = "42sYQ7MNLw1iQrDBah5dNAgU38NCxQUQxZD55soF41pNQJLhhG6hg4sPWy5955Fd9xSacDBkszX8zEnbdonJuZNZKuUqnfY";
        let view = "43d9d1bc4a81a75065e349319d1408acf2e9386971607c5d3ee668638be3e902";
        assert!(ScanKeys::new(address, view).is_ok());
        assert!(matches!(
            ScanKeys::new("4xyz", view),
            Err(KeysError::Address(_))
        ));
        assert_eq!(
            ScanKeys::new(address, "zz").unwrap_err(),
            KeysError::ViewKeyFormat
        );
        let other = "53d9d1bc4a81a75065e349319d1408acf2e9386971607c5d3ee668638be3e902";
        assert_eq!(
            ScanKeys::new(address, &other[..64]).unwrap_err(),
            KeysError::ViewKeyMismatch
        );
        assert!(!format!("{:?}", ScanKeys::new(address, view).unwrap()).contains(view));
    }
}
