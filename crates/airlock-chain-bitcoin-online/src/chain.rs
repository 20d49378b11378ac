//! The coordinator's `bitcoin` chain: [`BitcoinOnline`] implements
//! `airlock_core::chain::ChainOnline` over one watch-only wallet per vault version.
//!
//! - Wallet files live in the coordinator's directory, one per descriptor:
//!   `<dir>/<vault id>-<wallet fingerprint>.sqlite` (a rotated vault with a new descriptor gets a
//!   new wallet; the old one stays, with its coins, until they are swept).
//! - `build`: a payment PSBT at the configured fee rate (coin selection, change to the vault).
//! - `verify_signature`: the material is the signer's PSBT; it must be of the proposal's unsigned
//!   transaction and every partial signature in it must verify against the vault's keys.
//! - `finalize`: combine the payload with every signed copy (each verified), finalize through
//!   miniscript, extract; the wallet records the transaction as unconfirmed.
//! - A FROST group's vault (account option `frost=T`): `build` names the signing set's nonce
//!   commitments in the PSBT, `verify_signature` checks a member's signed shares, `finalize`
//!   aggregates them into BIP-340 signatures (see `frost_pool`).
//! - `broadcast`: through the configured Electrum server; without one it refuses (export the
//!   transaction with `airlock btc export-tx` and broadcast it elsewhere, then feed it back).
//! - `confirmations`: from the wallets' own view (synced or fed by hand).
//!
//! This module must never hold a private key; it never signs.

use std::path::{Path, PathBuf};

use airlock_core::chain::{
    BuiltPayload, ChainError, ChainOnline, ChainReview, ChainSecret, Description, FinalTransaction,
};
use airlock_core::{Intent, Proposal, VaultDefinition};
use bdk_wallet::bitcoin::consensus::encode::{deserialize, serialize};
use bdk_wallet::bitcoin::{Transaction, Txid};

use super::frost_pool::{self, FrostVault};
use super::{SyncSource, WatchOnlyVault};
use airlock_chain_bitcoin::CHAIN;
use airlock_chain_bitcoin::chain::Bitcoin;
use airlock_chain_bitcoin::combine::{combine, finalize, verify_partial_signatures};
use airlock_chain_bitcoin::encoding::{parse_psbt, serialize_psbt};
use airlock_chain_bitcoin::review::ReviewPolicy;
use airlock_chain_bitcoin::vault::{BtcVault, parse_network};

/// Default fee rate when none is configured, sat/vB.
pub const DEFAULT_FEE_RATE: f64 = 2.0;

pub(crate) fn err(message: impl Into<String>) -> ChainError {
    ChainError::new(CHAIN, message)
}

/// The coordinator's Bitcoin chain.
pub struct BitcoinOnline {
    dir: PathBuf,
    fee_rate: f64,
    source: Option<SyncSource>,
    policy: ReviewPolicy,
}

impl BitcoinOnline {
    /// Wallets under `dir`, proposals at `fee_rate` sat/vB, broadcast and sync through `source`.
    pub fn new(dir: &Path, fee_rate: f64, source: Option<SyncSource>) -> BitcoinOnline {
        BitcoinOnline {
            dir: dir.to_owned(),
            fee_rate,
            source,
            policy: ReviewPolicy::default(),
        }
    }

    /// The sync source, when configured.
    pub fn source(&self) -> Option<&SyncSource> {
        self.source.as_ref()
    }

    /// The wallet file of a vault definition.
    pub fn wallet_path(&self, vault: &VaultDefinition) -> Result<PathBuf, ChainError> {
        let btc = Bitcoin::vault(vault)?;
        Ok(self.dir.join(format!(
            "{}-{}.sqlite",
            vault.vault_id,
            btc.wallet_fingerprint()
        )))
    }

    /// Opens (or creates, the first time) the watch-only wallet of a vault definition.
    pub fn wallet(&self, vault: &VaultDefinition) -> Result<WatchOnlyVault, ChainError> {
        let btc = Bitcoin::vault(vault)?;
        let network = parse_network(&vault.network)?;
        let path = self.wallet_path(vault)?;
        let descriptor = btc.descriptor_text();
        let wallet = if path.exists() {
            WatchOnlyVault::open_checked(&path, &descriptor, network)
        } else {
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| err(format!("cannot create {}: {e}", self.dir.display())))?;
            WatchOnlyVault::create(&path, &descriptor, network)
        };
        wallet.map_err(|e| err(format!("vault {:?}: {e}", vault.vault_id)))
    }

    /// A payment proposal at `fee_rate` sat/vB (the configured one when `None`), on the normal
    /// spending path or the timelocked recovery path of a miniscript vault.
    pub fn build_payment(
        &self,
        vault: &VaultDefinition,
        intent: &Intent,
        fee_rate: Option<f64>,
        path: super::SpendPath,
        reserved: &std::collections::BTreeSet<String>,
    ) -> Result<BuiltPayload, ChainError> {
        let mut wallet = self.wallet(vault)?;
        // Coins open proposals spend (their `spends` are outpoints) are left out of selection.
        wallet.set_reserved_coins(reserved.iter().filter_map(|s| s.parse().ok()).collect());
        let mut payments = Vec::with_capacity(intent.transfers.len());
        for t in &intent.transfers {
            if !t.asset.is_empty() {
                return Err(err(format!(
                    "asset {:?}: a Bitcoin vault pays bitcoin only (leave the asset empty)",
                    t.asset
                )));
            }
            let sats = u64::try_from(t.amount)
                .map_err(|_| err(format!("{} sat is more bitcoin than exists", t.amount)))?;
            payments.push((t.destination.as_str(), sats));
        }
        let psbt = wallet
            .build_payment_on_path(&payments, fee_rate.unwrap_or(self.fee_rate), path)
            .map_err(|e| {
                let held: Vec<String> = wallet
                    .utxos()
                    .iter()
                    .map(|u| u.outpoint.to_string())
                    .filter(|o| reserved.contains(o))
                    .collect();
                match held.first() {
                    None => err(e.to_string()),
                    Some(first) => err(format!(
                        "{e}: {first}{} is already spent by an open proposal (left out of coin selection)",
                        if held.len() > 1 {
                            format!(" and {} more coin(s)", held.len() - 1)
                        } else {
                            String::new()
                        }
                    )),
                }
            })?;
        let mut psbt = psbt;
        // A FROST vault's payment names its signing set's commitments (sweeps too, below).
        if let Some(frost) = FrostVault::of(vault)? {
            frost_pool::attach(&self.dir, vault, &frost, &mut psbt)?;
        }
        Ok(BuiltPayload {
            spends: psbt
                .unsigned_tx
                .input
                .iter()
                .map(|i| i.previous_output.to_string())
                .collect(),
            payload: serialize_psbt(&psbt),
        })
    }

    /// Adds a FROST vault member's handed-over nonce commitments to the vault's pool.
    pub fn import_frost_commitments(
        &self,
        vault: &VaultDefinition,
        file: &[u8],
    ) -> Result<Vec<(u16, usize)>, ChainError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| err(e.to_string()))?;
        frost_pool::import_commitments(&self.dir, vault, file)
    }

    /// Each FROST member's commitments not yet named by a proposal.
    pub fn frost_commitments_left(
        &self,
        vault: &VaultDefinition,
    ) -> Result<std::collections::BTreeMap<u16, usize>, ChainError> {
        frost_pool::unnamed_counts(&self.dir, vault)
    }

    /// A sweep of every coin to the first receive address of `descriptor` (key rotation).
    pub fn build_sweep(
        &self,
        vault: &VaultDefinition,
        descriptor: &str,
        fee_rate: Option<f64>,
    ) -> Result<BuiltPayload, ChainError> {
        let mut wallet = self.wallet(vault)?;
        let (mut psbt, _) = wallet
            .build_sweep_to_descriptor(descriptor, fee_rate.unwrap_or(self.fee_rate))
            .map_err(|e| err(e.to_string()))?;
        if let Some(frost) = FrostVault::of(vault)? {
            frost_pool::attach(&self.dir, vault, &frost, &mut psbt)?;
        }
        Ok(BuiltPayload {
            spends: psbt
                .unsigned_tx
                .input
                .iter()
                .map(|i| i.previous_output.to_string())
                .collect(),
            payload: serialize_psbt(&psbt),
        })
    }

    fn btc_vault(vault: &VaultDefinition) -> Result<BtcVault, ChainError> {
        Ok(Bitcoin::vault(vault)?)
    }

    /// Every wallet file in the directory (for `confirmations`, which knows only a txid).
    fn wallet_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sqlite"))
            .collect();
        files.sort();
        files
    }

    /// Records a final transaction in the vault's wallet (unconfirmed until a block is fed).
    pub fn record_final(
        &self,
        vault: &VaultDefinition,
        tx_bytes: &[u8],
    ) -> Result<Txid, ChainError> {
        let tx: Transaction = deserialize(tx_bytes)
            .map_err(|e| err(format!("the final transaction does not decode: {e}")))?;
        let mut wallet = self.wallet(vault)?;
        wallet
            .apply_final_transaction(&tx)
            .map_err(|e| err(e.to_string()))
    }
}

impl ChainReview for BitcoinOnline {
    fn chain(&self) -> &'static str {
        CHAIN
    }

    fn check_account(&self, vault: &VaultDefinition) -> Result<Vec<String>, ChainError> {
        Ok(Bitcoin::check_vault_members(vault)?)
    }

    fn describe(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
    ) -> Result<Description, ChainError> {
        Bitcoin::new(self.policy.clone()).describe(vault, proposal)
    }

    fn sign(
        &self,
        _vault: &VaultDefinition,
        _proposal: &Proposal,
        _secret: &ChainSecret,
    ) -> Result<Vec<u8>, ChainError> {
        Err(err("the coordinator holds no private key and never signs"))
    }
}

impl ChainOnline for BitcoinOnline {
    fn build(&self, vault: &VaultDefinition, intent: &Intent) -> Result<BuiltPayload, ChainError> {
        self.build_avoiding(vault, intent, &Default::default())
    }

    fn build_avoiding(
        &self,
        vault: &VaultDefinition,
        intent: &Intent,
        reserved: &std::collections::BTreeSet<String>,
    ) -> Result<BuiltPayload, ChainError> {
        self.build_payment(vault, intent, None, super::SpendPath::Normal, reserved)
    }

    fn verify_signature(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        material: &[u8],
    ) -> Result<(), ChainError> {
        if material.is_empty() {
            // An approval by a member who holds no key of this vault (or, in a FROST vault, who
            // is not in the proposal's signing set).
            return Ok(());
        }
        if let Some(frost) = FrostVault::of(vault)? {
            let psbt = parse_psbt(&proposal.payload)?;
            let inputs = airlock_chain_bitcoin::frost_psbt::inputs_to_sign(&psbt, &frost.group)?;
            frost_pool::check_shares(&frost, &inputs, material)?;
            return Ok(());
        }
        let btc = Self::btc_vault(vault)?;
        let ours = parse_psbt(&proposal.payload)?;
        let theirs = parse_psbt(material)?;
        if theirs.unsigned_tx != ours.unsigned_tx {
            return Err(err(format!(
                "the signed PSBT is of transaction {}, the proposal's is {}",
                theirs.unsigned_tx.compute_txid(),
                ours.unsigned_tx.compute_txid()
            )));
        }
        let report = verify_partial_signatures(&btc, &theirs, &self.policy)?;
        if report.total() == 0 {
            return Err(err("the signed PSBT carries no signature"));
        }
        Ok(())
    }

    fn finalize(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        materials: &[&[u8]],
    ) -> Result<FinalTransaction, ChainError> {
        if let Some(frost) = FrostVault::of(vault)? {
            let psbt = frost_pool::finalize(&frost, parse_psbt(&proposal.payload)?, materials)?;
            let tx = psbt
                .extract_tx()
                .map_err(|e| err(format!("the finalized PSBT does not extract: {e}")))?;
            let bytes = serialize(&tx);
            self.record_final(vault, &bytes)?;
            return Ok(FinalTransaction {
                bytes,
                txid: tx.compute_txid().to_string(),
            });
        }
        let btc = Self::btc_vault(vault)?;
        let mut psbts = vec![parse_psbt(&proposal.payload)?];
        for m in materials.iter().filter(|m| !m.is_empty()) {
            psbts.push(parse_psbt(m)?);
        }
        let mut combined = combine(&btc, psbts, &self.policy)?;
        let tx = finalize(&btc, &mut combined, &self.policy)?;
        let bytes = serialize(&tx);
        let txid = tx.compute_txid();
        self.record_final(vault, &bytes)?;
        Ok(FinalTransaction {
            bytes,
            txid: txid.to_string(),
        })
    }

    fn broadcast(&self, tx: &FinalTransaction) -> Result<(), ChainError> {
        let source = self.source.as_ref().ok_or_else(|| {
            err(
                "no Bitcoin backend configured (`airlock chain bitcoin --electrum URL`): \
                 `airlock btc export-tx PROPOSAL` prints the transaction to broadcast elsewhere",
            )
        })?;
        let parsed: Transaction = deserialize(&tx.bytes)
            .map_err(|e| err(format!("the final transaction does not decode: {e}")))?;
        source.broadcast(&parsed).map_err(|e| err(e.to_string()))?;
        Ok(())
    }

    fn confirmations(&self, txid: &str) -> Result<Option<u64>, ChainError> {
        let txid: Txid = txid
            .parse()
            .map_err(|_| err(format!("{txid:?} is not a transaction id")))?;
        for path in self.wallet_files() {
            let Ok(network) = network_of_wallet(&path) else {
                continue;
            };
            let Ok(wallet) = WatchOnlyVault::open(&path, network) else {
                continue;
            };
            if let Some(entry) = wallet.history().into_iter().find(|h| h.txid == txid) {
                return Ok(match entry.status {
                    super::TxStatus::Confirmed { height, .. } => {
                        Some(u64::from(wallet.tip_height().saturating_sub(height)) + 1)
                    }
                    super::TxStatus::Unconfirmed { .. } => None,
                });
            }
        }
        Ok(None)
    }
}

/// The network a wallet file was created for (tries each; the store checks it).
fn network_of_wallet(path: &Path) -> Result<bdk_wallet::bitcoin::Network, ChainError> {
    use bdk_wallet::bitcoin::Network;
    for network in [
        Network::Bitcoin,
        Network::Testnet,
        Network::Testnet4,
        Network::Signet,
        Network::Regtest,
    ] {
        if WatchOnlyVault::open(path, network).is_ok() {
            return Ok(network);
        }
    }
    Err(err(format!(
        "{} is not a wallet of any network",
        path.display()
    )))
}
