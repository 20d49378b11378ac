//! The coordinator's `monero` chain: [`MoneroOnline`] implements
//! `airlock_core::chain::ChainOnline` against monerod, and keeps each view-only vault's scan
//! state.
//!
//! - Scan state: one [`ScanState`] file per wallet in the coordinator's `monero/` directory
//!   and restore height (`<first 16 bytes of SHA-256("<primary address> <restore height>")>.scan.json`,
//!   replaced atomically): the outputs
//!   found from the vault's restore height on the primary address and every subaddress within
//!   the lookahead (wallet2's 50 accounts × 200 indices, growing past each used one), block
//!   hashes for reorg detection, and the key image of each output once the signer has sent it
//!   across the gap. A sync scans only the blocks since the last one (a reorg rolls back what was
//!   above the fork first); a daemon that fails or lies mid-sync leaves the file untouched.
//! - Before the first scan, the 1,440 blocks below the restore height are probed: an output of
//!   the wallet there means the restore height is above its first output, which is refused.
//! - Balance: `total` (outputs not known to be spent), `unlocked` (10 blocks, 60 for coinbase,
//!   and the transaction's own unlock time), `unverified` (outputs whose key image is unknown:
//!   they may already be spent — Feather's crossed-out eye).
//! - `build`: syncs, then spends only unlocked outputs with known, unspent key images (fee rate
//!   and decoys from monerod, change to the vault's primary address;
//!   [`crate::tx::MoneroNode::build_unsigned`]). The proposal's spends are the inputs' key
//!   images.
//! - `verify_signature` / `finalize`: the signer's material must be the proposal's transaction
//!   signed ([`crate::review::verify_signed`]) with exactly the proposal's key images.
//! - `finalize` also keeps the signer's proved key images of the transaction's change (checked:
//!   this wallet's, outputs of that transaction), applied when the scan finds the change, so it
//!   is spendable without another key-image round trip.
//! - `broadcast` refuses a transaction whose key images are already spent (a replay), and names
//!   monerod's reason for any rejection; `confirmations` asks monerod.
//!
//! This module must never hold a spend key: it sees the vault's view key and public chain data.

use std::path::{Path, PathBuf};

use airlock_core::chain::{
    BuiltPayload, ChainError, ChainOnline, ChainReview, ChainSecret, Description, FinalTransaction,
};
use airlock_core::{Intent, Proposal, VaultDefinition};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::daemon::DaemonClient;
use crate::error::MoneroError;
use crate::keyimages::{KeyImagesFile, OutputsFile};
use crate::review::{format_xmr, verify_signed};
use crate::scan::{ScanKeys, ScanState, StateFileError, SyncOptions, SyncReport, ViewScanner};
use crate::subaddress::Lookahead;
use crate::tx::{MoneroNode, SpendableOutput};
use crate::vault_spec::{MoneroVault, MoneroVaultReview};
use crate::wallet2::files::{
    FLAG_KEY_IMAGE_KNOWN, FLAG_KEY_IMAGE_REQUESTED, FLAG_RINGCT, FLAG_SPENT, OutputsLayout,
    Wallet2KeyImages, Wallet2Output, Wallet2Outputs,
};
use crate::wallet2::txsets::{
    CheckedWallet2Spend, InputOrigin, SignedTxSet, check_signed_set, unsigned_set_from_payload,
};

/// Blocks below a vault's restore height checked for the wallet's outputs before its first scan
/// (two days of Monero blocks).
pub const RESTORE_HEIGHT_PROBE: u64 = 1440;

fn err(message: impl Into<String>) -> ChainError {
    ChainError::new(crate::CHAIN, message)
}

/// Balances in atomic units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MoneroBalance {
    /// Outputs not known to be spent.
    pub total: u64,
    /// Of which spendable at the last synced height.
    pub unlocked: u64,
    /// Of which have no key image yet (spent status unknown).
    pub unverified: u64,
    pub outputs: usize,
    pub unverified_outputs: usize,
    /// Blocks scanned (the chain's height at the last sync).
    pub chain_height: u64,
}

impl MoneroBalance {
    pub fn of(state: &ScanState) -> MoneroBalance {
        let b = state.balance();
        MoneroBalance {
            total: b.total,
            unlocked: b.unlocked,
            unverified: b.unverified,
            outputs: b.outputs,
            unverified_outputs: state
                .unspent_outputs()
                .filter(|o| o.needs_key_image())
                .count(),
            chain_height: state.scanned_height(),
        }
    }
}

/// The unlocked outputs of `state` that a transaction may spend: key image known, not known to
/// be spent.
pub fn spendable_outputs(state: &ScanState) -> Vec<SpendableOutput> {
    state
        .unspent_outputs()
        .filter(|o| state.is_unlocked(o))
        .filter_map(SpendableOutput::from_owned)
        .collect()
}

/// The coordinator's Monero settings (in its `chains.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneroSettings {
    /// monerod's RPC URL (`http://host:port`).
    pub daemon: String,
    /// The directory of the vaults' scan states (the coordinator home's `monero/`).
    pub state_dir: PathBuf,
}

impl MoneroSettings {
    pub fn chain(&self) -> MoneroOnline {
        MoneroOnline::new(&self.daemon, &self.state_dir)
    }
}

/// The coordinator's Monero chain: a monerod and the directory of scan states.
pub struct MoneroOnline {
    daemon: String,
    state_dir: PathBuf,
    lookahead: Lookahead,
    progress: Option<fn(u64, u64)>,
}

fn daemon_error(e: impl std::fmt::Display) -> MoneroError {
    MoneroError::daemon(e.to_string())
}

impl MoneroOnline {
    /// A monerod at `daemon` (`http://host:port`), scan states under `state_dir`, wallet2's
    /// subaddress lookahead.
    pub fn new(daemon: &str, state_dir: &Path) -> MoneroOnline {
        MoneroOnline {
            daemon: daemon.to_owned(),
            state_dir: state_dir.to_owned(),
            lookahead: Lookahead::default(),
            progress: None,
        }
    }

    /// Reports sync progress (height scanned, chain height) after each batch of blocks.
    pub fn with_progress(mut self, progress: fn(u64, u64)) -> MoneroOnline {
        self.progress = Some(progress);
        self
    }

    /// monerod's RPC client for transactions and key-image status.
    pub fn node(&self) -> Result<MoneroNode, MoneroError> {
        MoneroNode::connect(&self.daemon)
    }

    fn client(&self) -> Result<DaemonClient, MoneroError> {
        DaemonClient::connect(&self.daemon).map_err(daemon_error)
    }

    /// Where a wallet's scan state lives: one per primary address and restore height (vaults of
    /// the same wallet with another restore height see other outputs).
    pub fn state_path(&self, spec: &MoneroVault) -> PathBuf {
        let digest = sha2::Sha256::digest(
            format!("{} {}", spec.primary_address, spec.restore_height).as_bytes(),
        );
        self.state_dir
            .join(format!("{}.scan.json", hex::encode(&digest[..16])))
    }

    /// The saved scan state, `None` before the first sync.
    pub fn load_state(&self, spec: &MoneroVault) -> Result<Option<ScanState>, MoneroError> {
        let path = self.state_path(spec);
        let state = match ScanState::load(&path) {
            Ok(state) => state,
            Err(StateFileError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None);
            }
            Err(e) => return Err(MoneroError::File(e.to_string())),
        };
        if state.primary_address() != spec.primary_address
            || state.restore_height() != spec.restore_height
        {
            return Err(MoneroError::File(format!(
                "{} holds the state of {} from height {}, not {} from height {}",
                path.display(),
                state.primary_address(),
                state.restore_height(),
                spec.primary_address,
                spec.restore_height
            )));
        }
        Ok(Some(state))
    }

    fn require_state(&self, spec: &MoneroVault) -> Result<ScanState, MoneroError> {
        self.load_state(spec)?.ok_or_else(|| {
            MoneroError::refused("this vault was never synced: run `airlock xmr sync --vault …`")
        })
    }

    fn save_state(&self, spec: &MoneroVault, state: &ScanState) -> Result<(), MoneroError> {
        std::fs::create_dir_all(&self.state_dir)
            .map_err(|e| MoneroError::File(format!("{}: {e}", self.state_dir.display())))?;
        state
            .save(&self.state_path(spec))
            .map_err(|e| MoneroError::File(e.to_string()))
    }

    /// Brings the wallet's scan state to monerod's tip (the first sync scans from the vault's
    /// restore height; later ones only new blocks, after rolling back a reorg), asks monerod
    /// which outputs with known key images are spent, and saves the state. Nothing is written
    /// when the daemon fails or answers garbage.
    pub fn sync(&self, spec: &MoneroVault) -> Result<(SyncReport, ScanState), MoneroError> {
        let keys = ScanKeys::from_view_keys(&spec.view, spec.network)
            .map_err(|e| MoneroError::invalid(e.to_string()))?;
        let client = self.client()?;
        let chain_height = client.height().map_err(daemon_error)?;
        if spec.restore_height > chain_height {
            return Err(MoneroError::refused(format!(
                "the vault's restore height {} is above the chain's height {chain_height} at {}: \
                 wrong daemon or network, or a mistyped restore height",
                spec.restore_height, self.daemon
            )));
        }
        let mut state = match self.load_state(spec)? {
            Some(state) => state,
            None => ScanState::new(&keys, spec.restore_height, self.lookahead),
        };
        let mut scanner = ViewScanner::new(keys, state.lookahead());
        if state.scanned_height() == spec.restore_height {
            self.check_nothing_below_restore_height(&mut scanner, &client, spec)?;
        }
        let report = scanner
            .sync(
                &mut state,
                &client,
                SyncOptions {
                    progress: self.progress,
                    ..SyncOptions::default()
                },
            )
            .map_err(daemon_error)?;
        state
            .apply_pending_key_images()
            .map_err(|e| MoneroError::File(e.to_string()))?;
        state
            .refresh_spent_from_daemon(&client)
            .map_err(daemon_error)?;
        self.save_state(spec, &state)?;
        Ok((report, state))
    }

    /// Before the first scan: the [`RESTORE_HEIGHT_PROBE`] blocks below the restore height must
    /// hold no output of the wallet. One there means the restore height is above the wallet's
    /// first output, and the vault would silently miss funds: refused, naming the height.
    fn check_nothing_below_restore_height(
        &self,
        scanner: &mut ViewScanner,
        client: &DaemonClient,
        spec: &MoneroVault,
    ) -> Result<(), MoneroError> {
        let end = spec.restore_height;
        let mut first = end.saturating_sub(RESTORE_HEIGHT_PROBE);
        while first < end {
            let last = (first + 999).min(end - 1);
            let blocks = client.scannable_blocks(first, last).map_err(daemon_error)?;
            let found = scanner
                .scan_blocks(first, &blocks, &Default::default())
                .map_err(|e| MoneroError::daemon(format!("{}: {e}", self.daemon)))?;
            if let Some(output) = found.outputs.first() {
                return Err(MoneroError::refused(format!(
                    "the vault's restore height {end} is above the wallet's first output: \
                     block {} pays it {} (transaction {}); the vault would miss funds. \
                     Register a vault version with restore_height={} or lower",
                    output.block_height,
                    format_xmr(output.amount),
                    hex::encode(output.tx_hash),
                    output.block_height
                )));
            }
            first = last + 1;
        }
        Ok(())
    }

    /// Keeps the signer's proved key images of a finalized transaction's change, checked to be
    /// this wallet's and outputs of that transaction, so that the change is spendable after the
    /// next sync without another key-image round trip.
    fn remember_change_key_images(
        &self,
        spec: &MoneroVault,
        signed: &crate::review::SignedMoneroTransaction,
        file: &KeyImagesFile,
    ) -> Result<(), MoneroError> {
        let tx: monero_wallet::transaction::Transaction =
            monero_wallet::transaction::Transaction::read(&mut signed.bytes.as_slice())
                .map_err(|e| MoneroError::invalid(format!("the signed transaction: {e}")))?;
        let outputs = OutputsFile {
            network: spec.network,
            primary_address: spec.primary_address.clone(),
            outputs: tx
                .prefix()
                .outputs
                .iter()
                .map(|o| crate::keyimages::ExportedOutput {
                    output_key: o.key.to_bytes(),
                    key_offset: [0; 32],
                    amount: 0,
                })
                .collect(),
        };
        let verified = file.verify(spec.network, &spec.primary_address, &outputs)?;
        let mut state = self.require_state(spec)?;
        state
            .add_key_images_ahead(&verified)
            .map_err(|e| MoneroError::not_ours(e.to_string()))?;
        self.save_state(spec, &state)
    }

    /// The outputs file to carry to the signer (from the last sync): the outputs whose key
    /// image is unknown, or every output with `all`.
    pub fn export_outputs(
        &self,
        spec: &MoneroVault,
        all: bool,
    ) -> Result<OutputsFile, MoneroError> {
        let state = self.require_state(spec)?;
        let file = state.outputs_file(spec.network, all);
        if file.outputs.is_empty() {
            return Err(MoneroError::refused(if state.outputs().is_empty() {
                "the vault has no outputs to export (sync after funds arrive)"
            } else {
                "every output already has its key image (export them all again with --all)"
            }));
        }
        Ok(file)
    }

    /// wallet2's outputs export of every output the last sync found (offset 0, in the scan's
    /// order), encrypted under the vault's view key, for a wallet2 cold wallet (monero-wallet-cli
    /// `import_outputs`, the RPC's `import_outputs`, Feather). Returns how many outputs it holds.
    pub fn export_wallet2_outputs(
        &self,
        spec: &MoneroVault,
        layout: OutputsLayout,
    ) -> Result<(usize, Vec<u8>), MoneroError> {
        let state = self.require_state(spec)?;
        let export = self.wallet2_outputs(spec, &state, layout)?;
        Ok((
            export.outputs.len(),
            export.write(&spec.view, &mut rand_core::OsRng),
        ))
    }

    /// Every output of the vault's scan, in scan order, as wallet2's outputs export holds them.
    fn wallet2_outputs(
        &self,
        spec: &MoneroVault,
        state: &ScanState,
        layout: OutputsLayout,
    ) -> Result<Wallet2Outputs, MoneroError> {
        if state.outputs().is_empty() {
            return Err(MoneroError::refused(
                "the vault has no outputs to export (sync after funds arrive)",
            ));
        }
        let mut outputs = Vec::with_capacity(state.outputs().len());
        for o in state.outputs() {
            let tx_public_key = o.tx_public_key.ok_or_else(|| {
                MoneroError::refused(format!(
                    "output {}:{} was scanned by an Airlock that did not keep transaction keys; \
                     delete {} and sync again to export in wallet2's format",
                    hex::encode(o.tx_hash),
                    o.index_in_tx,
                    self.state_path(spec).display()
                ))
            })?;
            let mut flags = FLAG_RINGCT;
            if o.spent.is_some() {
                flags |= FLAG_SPENT;
            }
            if o.key_image.is_some() {
                flags |= FLAG_KEY_IMAGE_KNOWN;
            } else {
                flags |= FLAG_KEY_IMAGE_REQUESTED;
            }
            outputs.push(Wallet2Output {
                output_key: o.output_key,
                index_in_tx: o.index_in_tx,
                global_index: o.global_index,
                tx_public_key,
                flags,
                amount: o.amount,
                additional_tx_keys: o.additional_tx_keys.clone(),
                subaddress: Some((o.address.account, o.address.index)),
            });
        }
        Ok(Wallet2Outputs {
            layout,
            offset: 0,
            total: Some(outputs.len() as u64),
            outputs,
        })
    }

    /// A proposal's unsigned transaction (`payload`) as a wallet2 unsigned set for a wallet2
    /// cold wallet holding the vault's keys: the same inputs, rings, payments and fee, with
    /// the vault's outputs export the cold wallet imports first.
    pub fn export_wallet2_tx_set(
        &self,
        spec: &MoneroVault,
        payload: &[u8],
        layout: OutputsLayout,
    ) -> Result<Vec<u8>, MoneroError> {
        let state = self.require_state(spec)?;
        let transfers = self.wallet2_outputs(spec, &state, layout)?;
        let origins: Vec<InputOrigin> = state
            .outputs()
            .iter()
            .enumerate()
            .filter_map(|(position, o)| {
                Some(InputOrigin {
                    output_key: o.output_key,
                    tx_public_key: o.tx_public_key?,
                    additional_tx_keys: o.additional_tx_keys.clone(),
                    index_in_tx: o.index_in_tx,
                    subaddress: (o.address.account, o.address.index),
                    position: position as u64,
                })
            })
            .collect();
        let set =
            unsigned_set_from_payload(payload, spec.network, &spec.view, &origins, transfers)?;
        Ok(set.write(&spec.view, &mut rand_core::OsRng))
    }

    /// Checks a wallet2 cold wallet's signed set against the proposal's `payload`: the inputs
    /// by the key images this vault learned for them, the rings, the fee and the change.
    pub fn check_wallet2_signed_set(
        &self,
        spec: &MoneroVault,
        payload: &[u8],
        signed: &[u8],
    ) -> Result<CheckedWallet2Spend, MoneroError> {
        let state = self.require_state(spec)?;
        let set = SignedTxSet::read(signed, &spec.view)?;
        let key_images: Vec<([u8; 32], [u8; 32])> = state
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key, o.key_image?)))
            .collect();
        check_signed_set(&set, payload, spec.network, &spec.view, &key_images)
    }

    /// Imports wallet2's key images answering [`MoneroOnline::export_wallet2_outputs`] (its
    /// key-images file, or monero-wallet-rpc's `export_key_images` JSON): each key image proven
    /// for the output at its position; then asks monerod which are spent. All or nothing.
    /// Returns how many outputs got a key image and the state.
    pub fn import_wallet2_key_images(
        &self,
        spec: &MoneroVault,
        bytes: &[u8],
    ) -> Result<(usize, ScanState), MoneroError> {
        let file = if bytes.trim_ascii_start().starts_with(b"{") {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| MoneroError::invalid("the key-images JSON is not UTF-8"))?;
            Wallet2KeyImages::from_rpc_json(text)?
        } else {
            Wallet2KeyImages::read(bytes, &spec.view)?
        };
        let state = self.require_state(spec)?;
        let order: Vec<[u8; 32]> = state.outputs().iter().map(|o| o.output_key).collect();
        let verified = file.verify_against(&order)?;
        self.learn_key_images(spec, state, &verified)
    }

    /// Imports the signer's key-image file: it must be this wallet's, for outputs this vault
    /// found, with valid proofs; then asks monerod which are spent. All or nothing. Returns how
    /// many outputs got a key image and the new state.
    pub fn import_key_images(
        &self,
        spec: &MoneroVault,
        bytes: &[u8],
    ) -> Result<(usize, ScanState), MoneroError> {
        let file = KeyImagesFile::from_bytes(bytes)?;
        let state = self.require_state(spec)?;
        let exported = state.outputs_file(spec.network, true);
        let verified = file.verify(spec.network, &spec.primary_address, &exported)?;
        self.learn_key_images(spec, state, &verified)
    }

    /// Adds verified key images (output key → key image) to `state`, asks monerod which are
    /// spent, and saves the state; nothing is saved when either step fails.
    fn learn_key_images(
        &self,
        spec: &MoneroVault,
        mut state: ScanState,
        verified: &std::collections::BTreeMap<[u8; 32], [u8; 32]>,
    ) -> Result<(usize, ScanState), MoneroError> {
        let learned = state
            .import_key_images_by_output_key(verified)
            .map_err(|e| MoneroError::not_ours(e.to_string()))?;
        let client = self.client()?;
        state
            .refresh_spent_from_daemon(&client)
            .map_err(daemon_error)?;
        self.save_state(spec, &state)?;
        Ok((learned, state))
    }
}

impl ChainReview for MoneroOnline {
    fn chain(&self) -> &'static str {
        crate::CHAIN
    }

    fn check_account(&self, vault: &VaultDefinition) -> Result<Vec<String>, ChainError> {
        MoneroVaultReview.check_account(vault)
    }

    fn describe(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
    ) -> Result<Description, ChainError> {
        MoneroVaultReview.describe(vault, proposal)
    }

    fn sign(
        &self,
        _vault: &VaultDefinition,
        _proposal: &Proposal,
        _secret: &ChainSecret,
    ) -> Result<Vec<u8>, ChainError> {
        Err(err("the coordinator holds no spend key and never signs"))
    }
}

/// The signed transaction of an approval, checked against the proposal.
fn checked_material(
    proposal: &Proposal,
    material: &[u8],
) -> Result<crate::review::SignedMoneroTransaction, ChainError> {
    let signed = verify_signed(&proposal.payload, material)?;
    let mut stated = proposal.spends.clone();
    let mut actual = signed.key_images.clone();
    stated.sort();
    actual.sort();
    if stated != actual {
        return Err(err(
            "the signed transaction spends other key images than the proposal states",
        ));
    }
    Ok(signed)
}

impl ChainOnline for MoneroOnline {
    fn build(&self, vault: &VaultDefinition, intent: &Intent) -> Result<BuiltPayload, ChainError> {
        self.build_avoiding(vault, intent, &std::collections::BTreeSet::new())
    }

    /// Builds from the outputs no open proposal spends (`reserved` names them by key image, as
    /// proposals' spends do), so that several payments can be open at once.
    fn build_avoiding(
        &self,
        vault: &VaultDefinition,
        intent: &Intent,
        reserved: &std::collections::BTreeSet<String>,
    ) -> Result<BuiltPayload, ChainError> {
        let spec = MoneroVault::from_vault(vault)?;
        self.require_state(&spec)?;
        let (_, state) = self.sync(&spec)?;
        let destinations = intent
            .transfers
            .iter()
            .map(|t| {
                if !t.asset.is_empty() {
                    return Err(err(format!(
                        "asset {:?}: a Monero vault pays XMR only (asset \"\")",
                        t.asset
                    )));
                }
                let amount = u64::try_from(t.amount)
                    .map_err(|_| err(format!("amount {} is too large", t.amount)))?;
                Ok((t.destination.clone(), amount))
            })
            .collect::<Result<Vec<_>, ChainError>>()?;
        let candidates: Vec<SpendableOutput> = spendable_outputs(&state)
            .into_iter()
            .filter(|o| !reserved.contains(&hex::encode(o.key_image)))
            .collect();
        let balance = MoneroBalance::of(&state);
        let unsigned = self
            .node()?
            .build_unsigned(spec.network, &spec.view, &candidates, &destinations)
            .map_err(|e| match e {
                MoneroError::Refused(text) if balance.unverified > 0 => {
                    MoneroError::refused(format!(
                        "{text}; {} more in {} output(s) has no key image yet: \
                     `airlock xmr export-outputs`, `airlock-signer xmr sign-key-images`, \
                     `airlock xmr import-key-images`",
                        format_xmr(balance.unverified),
                        balance.unverified_outputs
                    ))
                }
                other => other,
            })?;
        Ok(BuiltPayload {
            payload: unsigned.payload,
            spends: unsigned.spends,
        })
    }

    fn normalize_intent(&self, mut intent: Intent) -> Result<Intent, ChainError> {
        for t in &mut intent.transfers {
            if t.asset.eq_ignore_ascii_case("xmr") {
                t.asset = String::new();
            }
            if !t.asset.is_empty() {
                return Err(err(format!(
                    "asset {:?}: a Monero vault pays XMR only (leave the asset empty)",
                    t.asset
                )));
            }
            monero_wallet::address::MoneroAddress::from_str_with_unchecked_network(
                t.destination.trim(),
            )
            .map_err(|e| err(format!("destination {:?}: {e}", t.destination)))?;
            t.destination = t.destination.trim().to_owned();
        }
        Ok(intent)
    }

    fn verify_signature(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        material: &[u8],
    ) -> Result<(), ChainError> {
        if material.is_empty() {
            // A member who holds no key of this wallet approves without a signature.
            return Ok(());
        }
        MoneroVault::from_vault(vault)?;
        checked_material(proposal, material).map(drop)
    }

    fn finalize(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        materials: &[&[u8]],
    ) -> Result<FinalTransaction, ChainError> {
        let spec = MoneroVault::from_vault(vault)?;
        let material = materials
            .iter()
            .find(|m| !m.is_empty())
            .ok_or_else(|| err("no approval carries the signed transaction"))?;
        let signed = checked_material(proposal, material)?;
        if let Some(file) = &signed.change_key_images {
            self.remember_change_key_images(&spec, &signed, file)?;
        }
        Ok(FinalTransaction {
            bytes: signed.bytes,
            txid: signed.txid,
        })
    }

    fn broadcast(&self, tx: &FinalTransaction) -> Result<(), ChainError> {
        let txid = self.node()?.broadcast(&tx.bytes)?;
        if txid != tx.txid {
            return Err(err(format!(
                "monerod accepted transaction {txid}, the finalized record says {}",
                tx.txid
            )));
        }
        Ok(())
    }

    fn confirmations(&self, txid: &str) -> Result<Option<u64>, ChainError> {
        Ok(self.node()?.confirmations(txid)?)
    }
}
