//! The coordinator's `monero` chain (feature `online`): [`MoneroOnline`] implements
//! `airlock_core::chain::ChainOnline` against monerod, and keeps each view-only vault's scan
//! state.
//!
//! - Scan state: one JSON file per wallet in the coordinator's `monero/` directory
//!   (`<first 16 bytes of SHA-256(primary address)>.json`, replaced atomically): the outputs found
//!   from the vault's restore height (output key, key offset, amount, height, coinbase), the key
//!   image of each once the signer has sent it across the gap, and whether it is spent. A sync
//!   rescans from the restore height (so a reorg is absorbed by the next sync) and keeps the key
//!   images already learned; a daemon that fails mid-sync leaves the previous file untouched.
//! - Balance: `total` (outputs not known to be spent), `unlocked` (10 blocks, 60 for coinbase),
//!   `unverified` (outputs whose key image is unknown: they may already be spent).
//! - `build`: inputs from the scan with known, unspent key images; fee rate and decoys from
//!   monerod; change to the vault's primary address ([`crate::tx::MoneroNode::build_unsigned`]).
//!   The proposal's spends are the inputs' key images.
//! - `verify_signature` / `finalize`: the signer's material must be the proposal's transaction
//!   signed ([`crate::review::verify_signed`]) with exactly the proposal's key images.
//! - `broadcast` refuses a transaction whose key images are already spent (a replay), and names
//!   monerod's reason for any rejection; `confirmations` asks monerod.
//!
//! This module must never hold a spend key: it sees the vault's view key and public chain data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_core::chain::{
    BuiltPayload, ChainError, ChainOnline, ChainReview, ChainSecret, Description, FinalTransaction,
};
use airlock_core::{Intent, Proposal, VaultDefinition};
use monero_wallet::{COINBASE_LOCK_WINDOW, DEFAULT_LOCK_WINDOW};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::MoneroError;
use crate::keyimages::{ExportedOutput, KeyImagesFile, OutputsFile};
use crate::review::verify_signed;
use crate::tx::MoneroNode;
use crate::vault_spec::{MoneroVault, MoneroVaultReview};

fn err(message: impl Into<String>) -> ChainError {
    ChainError::new(crate::CHAIN, message)
}

/// One output of the vault as the coordinator tracks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackedOutput {
    /// The one-time output key `P`, hex.
    pub output_key: String,
    /// The key offset `k` (`P = (b + k)·G`), hex.
    pub key_offset: String,
    /// Atomic units.
    pub amount: u64,
    pub block_height: u64,
    pub coinbase: bool,
    /// Known once the signer has signed key images for it.
    pub key_image: Option<String>,
    /// Spent in the chain or the pool (known only with the key image).
    pub spent: bool,
}

impl TrackedOutput {
    fn unlocked_at(&self, chain_height: u64) -> bool {
        let window = if self.coinbase {
            COINBASE_LOCK_WINDOW
        } else {
            DEFAULT_LOCK_WINDOW
        } as u64;
        self.block_height + window <= chain_height
    }
}

/// The scan state of one view-only wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultScanState {
    pub network: String,
    pub primary_address: String,
    pub restore_height: u64,
    /// Blocks in the chain at the last sync.
    pub chain_height: u64,
    pub outputs: Vec<TrackedOutput>,
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
    pub chain_height: u64,
}

impl VaultScanState {
    pub fn balance(&self) -> MoneroBalance {
        let mut b = MoneroBalance {
            chain_height: self.chain_height,
            ..MoneroBalance::default()
        };
        for o in self.outputs.iter().filter(|o| !o.spent) {
            b.total += o.amount;
            b.outputs += 1;
            if o.unlocked_at(self.chain_height) {
                b.unlocked += o.amount;
            }
            if o.key_image.is_none() {
                b.unverified += o.amount;
                b.unverified_outputs += 1;
            }
        }
        b
    }

    /// The outputs file for the signer (every output found, so that all key images come back).
    pub fn outputs_file(&self, spec: &MoneroVault) -> Result<OutputsFile, MoneroError> {
        let outputs = self
            .outputs
            .iter()
            .map(|o| {
                Ok(ExportedOutput {
                    output_key: hex32(&o.output_key)?,
                    key_offset: hex32(&o.key_offset)?,
                    amount: o.amount,
                })
            })
            .collect::<Result<Vec<_>, MoneroError>>()?;
        Ok(OutputsFile {
            network: spec.network,
            primary_address: spec.primary_address.clone(),
            outputs,
        })
    }

    fn known_key_images(&self) -> Result<BTreeMap<[u8; 32], [u8; 32]>, MoneroError> {
        self.outputs
            .iter()
            .filter_map(|o| o.key_image.as_ref().map(|k| (&o.output_key, k)))
            .map(|(p, k)| Ok((hex32(p)?, hex32(k)?)))
            .collect()
    }
}

fn hex32(text: &str) -> Result<[u8; 32], MoneroError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| {
        MoneroError::invalid(format!("scan state: {text:?} is not 32 bytes of hex"))
    })?;
    Ok(out)
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
}

impl MoneroOnline {
    /// A monerod at `daemon` (`http://host:port`), scan states under `state_dir`.
    pub fn new(daemon: &str, state_dir: &Path) -> MoneroOnline {
        MoneroOnline {
            daemon: daemon.to_owned(),
            state_dir: state_dir.to_owned(),
        }
    }

    pub fn node(&self) -> Result<MoneroNode, MoneroError> {
        MoneroNode::connect(&self.daemon)
    }

    /// Where a wallet's scan state lives.
    pub fn state_path(&self, spec: &MoneroVault) -> PathBuf {
        let digest = sha2::Sha256::digest(spec.primary_address.as_bytes());
        self.state_dir
            .join(format!("{}.json", hex::encode(&digest[..16])))
    }

    /// The saved scan state, `None` before the first sync.
    pub fn load_state(&self, spec: &MoneroVault) -> Result<Option<VaultScanState>, MoneroError> {
        let path = self.state_path(spec);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(MoneroError::File(format!("{}: {e}", path.display()))),
        };
        let state: VaultScanState = serde_json::from_slice(&bytes)
            .map_err(|e| MoneroError::File(format!("{} is damaged: {e}", path.display())))?;
        if state.primary_address != spec.primary_address {
            return Err(MoneroError::File(format!(
                "{} holds the state of {}, not {}",
                path.display(),
                state.primary_address,
                spec.primary_address
            )));
        }
        Ok(Some(state))
    }

    fn require_state(&self, spec: &MoneroVault) -> Result<VaultScanState, MoneroError> {
        self.load_state(spec)?.ok_or_else(|| {
            MoneroError::refused("this vault was never synced: run `airlock xmr sync --vault …`")
        })
    }

    fn save_state(&self, spec: &MoneroVault, state: &VaultScanState) -> Result<(), MoneroError> {
        std::fs::create_dir_all(&self.state_dir)
            .map_err(|e| MoneroError::File(format!("{}: {e}", self.state_dir.display())))?;
        let json = serde_json::to_vec_pretty(state).expect("scan state serializes");
        airlock_transport::write_atomic(&self.state_path(spec), &json)
            .map_err(|e| MoneroError::File(e.to_string()))
    }

    /// Rescans the wallet from its restore height, keeps the key images already learned, asks
    /// monerod which are spent, and saves the state. Nothing is written when the daemon fails.
    pub fn sync(&self, spec: &MoneroVault) -> Result<VaultScanState, MoneroError> {
        let previous = self.load_state(spec)?;
        let known: BTreeMap<String, String> = previous
            .iter()
            .flat_map(|s| s.outputs.iter())
            .filter_map(|o| o.key_image.clone().map(|k| (o.output_key.clone(), k)))
            .collect();
        let node = self.node()?;
        let scanned = node.scan(&spec.view, spec.restore_height)?;
        let chain_height = node.height()?;
        let mut outputs: Vec<TrackedOutput> = scanned
            .iter()
            .map(|o| {
                let output_key = hex::encode(o.output_key());
                TrackedOutput {
                    key_image: known.get(&output_key).cloned(),
                    output_key,
                    key_offset: hex::encode(o.to_exported().key_offset),
                    amount: o.amount(),
                    block_height: o.block_height,
                    coinbase: o.coinbase,
                    spent: false,
                }
            })
            .collect();
        refresh_spent(&node, &mut outputs)?;
        let state = VaultScanState {
            network: spec.network.name().to_owned(),
            primary_address: spec.primary_address.clone(),
            restore_height: spec.restore_height,
            chain_height,
            outputs,
        };
        self.save_state(spec, &state)?;
        Ok(state)
    }

    /// The outputs file to carry to the signer (from the last sync).
    pub fn export_outputs(&self, spec: &MoneroVault) -> Result<OutputsFile, MoneroError> {
        let state = self.require_state(spec)?;
        if state.outputs.is_empty() {
            return Err(MoneroError::refused(
                "the vault has no outputs to export (sync after funds arrive)",
            ));
        }
        state.outputs_file(spec)
    }

    /// Imports the signer's key-image file: it must be this wallet's, for outputs this vault
    /// found, with valid proofs. Returns how many outputs got a key image and the new state.
    pub fn import_key_images(
        &self,
        spec: &MoneroVault,
        bytes: &[u8],
    ) -> Result<(usize, VaultScanState), MoneroError> {
        let file = KeyImagesFile::from_bytes(bytes)?;
        let mut state = self.require_state(spec)?;
        let exported = state.outputs_file(spec)?;
        let verified = file.verify(spec.network, &spec.primary_address, &exported)?;
        for o in &mut state.outputs {
            if let Some(image) = verified.get(&hex32(&o.output_key)?) {
                o.key_image = Some(hex::encode(image));
            }
        }
        let node = self.node()?;
        refresh_spent(&node, &mut state.outputs)?;
        self.save_state(spec, &state)?;
        Ok((verified.len(), state))
    }
}

fn refresh_spent(node: &MoneroNode, outputs: &mut [TrackedOutput]) -> Result<(), MoneroError> {
    let with_images: Vec<usize> = (0..outputs.len())
        .filter(|i| outputs[*i].key_image.is_some())
        .collect();
    let images = with_images
        .iter()
        .map(|i| hex32(outputs[*i].key_image.as_deref().expect("filtered")))
        .collect::<Result<Vec<_>, _>>()?;
    let spent = node.key_images_spent(&images)?;
    for (i, s) in with_images.into_iter().zip(spent) {
        outputs[i].spent = s;
    }
    Ok(())
}

impl ChainReview for MoneroOnline {
    fn chain(&self) -> &'static str {
        crate::CHAIN
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
        let spec = MoneroVault::from_vault(vault)?;
        let state = self.require_state(&spec)?;
        let key_images = state.known_key_images()?;
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
        // Only outputs with a known key image that are not known spent can be inputs: rescan
        // from the oldest of them (fresh data for decoy selection, not the saved state).
        let from = state
            .outputs
            .iter()
            .filter(|o| o.key_image.is_some() && !o.spent)
            .map(|o| o.block_height)
            .min()
            .unwrap_or(spec.restore_height)
            .max(spec.restore_height);
        let node = self.node()?;
        let candidates = node.scan(&spec.view, from)?;
        let unsigned = node.build_unsigned(
            spec.network,
            &spec.view,
            &candidates,
            &key_images,
            &destinations,
        )?;
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
        MoneroVault::from_vault(vault)?;
        let material = materials
            .iter()
            .find(|m| !m.is_empty())
            .ok_or_else(|| err("no approval carries the signed transaction"))?;
        let signed = checked_material(proposal, material)?;
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
