//! The coordinator's half of sending (feature `online`): scan the view-only wallet's outputs
//! (interim: monero-wallet's `Scanner` block by block; the vault's own scanner replaces it), build
//! an unsigned transaction (destinations, fee rate and decoys from monerod, change to the vault's
//! primary address), broadcast a signed one, and ask monerod which key images are spent.
//!
//! The unsigned transaction is monero-wallet's `SignableTransaction` serialization; the proposal
//! carries it as its payload and the key images of its inputs (known from the key-image sync) as
//! its spends. Inputs whose key image is unknown are refused: the wallets must sync first.
//!
//! This module must never hold a spend key; it only sees the view key and public chain data.

use std::collections::BTreeMap;
use std::future::Future;

use monero_simple_request_rpc::SimpleRequestTransport;
use monero_simple_request_rpc::prelude::*;
use monero_wallet::address::MoneroAddress;
use monero_wallet::ringct::RctType;
use monero_wallet::send::{Change, SendError, SignableTransaction};
use monero_wallet::transaction::{Input, Transaction};
use monero_wallet::{
    COINBASE_LOCK_WINDOW, DEFAULT_LOCK_WINDOW, OutputWithDecoys, Scanner, WalletOutput,
};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::error::MoneroError;
use crate::keyimages::{ExportedOutput, KeyImagesFile, OutputsFile};
use crate::keys::{MoneroNetwork, ViewKeys, parse_address};

/// An output of the wallet found by [`MoneroNode::scan`].
#[derive(Clone, Debug)]
pub struct ScannedOutput {
    pub output: WalletOutput,
    /// Height of the block holding it.
    pub block_height: u64,
    /// A miner (coinbase) output: locked for 60 blocks rather than 10.
    pub coinbase: bool,
}

impl ScannedOutput {
    pub fn amount(&self) -> u64 {
        self.output.commitment().amount
    }

    /// The one-time output key `P`.
    pub fn output_key(&self) -> [u8; 32] {
        self.output.key().compress().to_bytes()
    }

    /// Spendable at a chain of `chain_height` blocks (10 blocks, 60 for coinbase).
    pub fn is_unlocked(&self, chain_height: u64) -> bool {
        let window = if self.coinbase {
            COINBASE_LOCK_WINDOW
        } else {
            DEFAULT_LOCK_WINDOW
        } as u64;
        self.block_height + window <= chain_height
    }

    pub fn to_exported(&self) -> ExportedOutput {
        ExportedOutput {
            output_key: self.output_key(),
            key_offset: <[u8; 32]>::from(self.output.key_offset()),
            amount: self.amount(),
        }
    }
}

/// The outputs file for the key-image sync.
pub fn outputs_file(
    network: MoneroNetwork,
    view: &ViewKeys,
    outputs: &[ScannedOutput],
) -> OutputsFile {
    OutputsFile {
        network,
        primary_address: view.primary_address(network).to_string(),
        outputs: outputs.iter().map(ScannedOutput::to_exported).collect(),
    }
}

/// One output's key image after the online import, with its spent status from monerod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyImageState {
    pub output_key: [u8; 32],
    pub key_image: [u8; 32],
    /// Spent in the chain or the pool.
    pub spent: bool,
}

/// An unsigned transaction ready to be a proposal.
#[derive(Clone, Debug)]
pub struct UnsignedMoneroTransaction {
    /// The proposal payload (monero-wallet `SignableTransaction` serialization).
    pub payload: Vec<u8>,
    /// Key images (hex) of the inputs: the proposal's spends.
    pub spends: Vec<String>,
    /// Output keys (hex) of the inputs.
    pub inputs: Vec<String>,
    /// The fee the transaction pays (change is present, so the necessary fee).
    pub fee: u64,
}

/// A monerod connection with a private single-threaded runtime (blocking API).
pub struct MoneroNode {
    runtime: tokio::runtime::Runtime,
    rpc: MoneroDaemon<SimpleRequestTransport>,
    url: String,
}

impl MoneroNode {
    /// Connects to monerod's RPC at `url` (e.g. `http://127.0.0.1:18081`).
    pub fn connect(url: &str) -> Result<Self, MoneroError> {
        // A process linking rustls with two crypto backends (the coordinator, a workspace test
        // build) cannot pick one by itself: choose ring unless the process already chose.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| MoneroError::daemon(format!("cannot start the RPC runtime: {e}")))?;
        let rpc = runtime
            .block_on(SimpleRequestTransport::new(url.to_owned()))
            .map_err(|e| MoneroError::daemon(format!("{url}: {e}")))?;
        Ok(MoneroNode {
            runtime,
            rpc,
            url: url.to_owned(),
        })
    }

    fn run<T, E: std::fmt::Display>(
        &self,
        what: &str,
        f: impl Future<Output = Result<T, E>>,
    ) -> Result<T, MoneroError> {
        self.runtime
            .block_on(f)
            .map_err(|e| MoneroError::daemon(format!("{} ({what}): {e}", self.url)))
    }

    /// The number of blocks in the chain.
    pub fn height(&self) -> Result<u64, MoneroError> {
        Ok(self.run("height", self.rpc.latest_block_number())? as u64 + 1)
    }

    /// Regtest only: mines `count` blocks paying `address`.
    pub fn generate_blocks(
        &self,
        address: &MoneroAddress,
        count: usize,
    ) -> Result<(), MoneroError> {
        self.run("generateblocks", self.rpc.generate_blocks(address, count))?;
        Ok(())
    }

    /// Interim view-only scan from `from_height` to the tip with monero-wallet's Scanner (primary
    /// address only). Returns every output received, spent or not.
    pub fn scan(
        &self,
        view: &ViewKeys,
        from_height: u64,
    ) -> Result<Vec<ScannedOutput>, MoneroError> {
        let mut scanner = Scanner::new(view.view_pair());
        let tip = self.height()?;
        let mut found = Vec::new();
        let mut start = from_height;
        while start < tip {
            let end = (start + 99).min(tip - 1);
            let blocks = self.run(
                "get blocks",
                self.rpc
                    .contiguous_scannable_blocks(start as usize..=end as usize),
            )?;
            for block in blocks {
                let height = block.block.number() as u64;
                let miner_tx = block.block.miner_transaction().hash();
                let outputs = scanner
                    .scan(block)
                    .map_err(|e| MoneroError::daemon(format!("block {height} does not scan: {e}")))?
                    .ignore_additional_timelock();
                for output in outputs {
                    found.push(ScannedOutput {
                        coinbase: output.transaction() == miner_tx,
                        output,
                        block_height: height,
                    });
                }
            }
            start = end + 1;
        }
        Ok(found)
    }

    /// Builds an unsigned transaction paying `destinations` (address, atomic units) from
    /// `candidates` (largest first, only unlocked ones with a known key image that is not spent),
    /// with change to the wallet's primary address. `key_images` maps output key → key image
    /// (from the verified key-image file).
    pub fn build_unsigned(
        &self,
        network: MoneroNetwork,
        view: &ViewKeys,
        candidates: &[ScannedOutput],
        key_images: &BTreeMap<[u8; 32], [u8; 32]>,
        destinations: &[(String, u64)],
    ) -> Result<UnsignedMoneroTransaction, MoneroError> {
        if destinations.is_empty() {
            return Err(MoneroError::invalid(
                "a transaction needs at least one destination",
            ));
        }
        let mut payments = Vec::with_capacity(destinations.len());
        let mut total: u64 = 0;
        for (address, amount) in destinations {
            if *amount == 0 {
                return Err(MoneroError::invalid(format!(
                    "payment to {address} has amount 0"
                )));
            }
            payments.push((parse_address(network, address)?, *amount));
            total = total
                .checked_add(*amount)
                .ok_or_else(|| MoneroError::invalid("payment amounts overflow"))?;
        }
        let height = self.height()?;
        let mut usable: Vec<&ScannedOutput> = candidates
            .iter()
            .filter(|o| o.is_unlocked(height))
            .collect();
        if let Some(missing) = usable
            .iter()
            .find(|o| !key_images.contains_key(&o.output_key()))
        {
            return Err(MoneroError::refused(format!(
                "output {} has no key image yet: sync outputs and key images with the signer first",
                hex::encode(missing.output_key())
            )));
        }
        let images: Vec<[u8; 32]> = usable.iter().map(|o| key_images[&o.output_key()]).collect();
        let spent = self.key_images_spent(&images)?;
        usable = usable
            .into_iter()
            .zip(spent)
            .filter(|(_, spent)| !spent)
            .map(|(o, _)| o)
            .collect();
        usable.sort_by_key(|o| std::cmp::Reverse(o.amount()));

        let (rct_type, ring_len, fee_rate) = self.network_parameters()?;
        let mut inputs: Vec<OutputWithDecoys> = Vec::new();
        let mut chosen: Vec<&ScannedOutput> = Vec::new();
        let mut sum: u64 = 0;
        for output in usable {
            inputs.push(self.with_decoys(output, ring_len)?);
            chosen.push(output);
            sum = sum.saturating_add(output.amount());
            if sum <= total {
                continue;
            }
            let mut outgoing_view_key = Zeroizing::new([0u8; 32]);
            OsRng.fill_bytes(outgoing_view_key.as_mut());
            match SignableTransaction::new(
                rct_type,
                outgoing_view_key,
                inputs.clone(),
                payments.clone(),
                Change::new(view.view_pair(), None),
                vec![],
                fee_rate,
            ) {
                Ok(stx) => {
                    return Ok(UnsignedMoneroTransaction {
                        payload: stx.serialize(),
                        spends: chosen
                            .iter()
                            .map(|o| hex::encode(key_images[&o.output_key()]))
                            .collect(),
                        inputs: chosen.iter().map(|o| hex::encode(o.output_key())).collect(),
                        fee: stx.necessary_fee(),
                    });
                }
                Err(SendError::NotEnoughFunds { .. }) => continue,
                Err(e) => {
                    return Err(MoneroError::invalid(format!(
                        "cannot build the transaction: {e}"
                    )));
                }
            }
        }
        Err(MoneroError::refused(format!(
            "not enough unlocked, unspent funds: {sum} atomic units for {total} plus fee"
        )))
    }

    /// The RingCT type and ring size of the tip's hard fork, and the daemon's normal fee rate.
    pub fn network_parameters(&self) -> Result<(RctType, u8, FeeRate), MoneroError> {
        let height = self.height()?;
        let tip = self.run("tip block", self.rpc.block_by_number(height as usize - 1))?;
        let (rct_type, ring_len) = match tip.header.hardfork_version {
            14 => (RctType::ClsagBulletproof, 11u8),
            15 | 16 => (RctType::ClsagBulletproofPlus, 16u8),
            v => {
                return Err(MoneroError::daemon(format!(
                    "unsupported hard fork version {v} at the tip"
                )));
            }
        };
        let fee_rate = self.run(
            "fee estimate",
            self.rpc.fee_rate(FeePriority::Normal, u64::MAX),
        )?;
        Ok((rct_type, ring_len, fee_rate))
    }

    /// Picks decoys for `output` from the daemon (monero-wallet's selection) for a ring of
    /// `ring_len`.
    pub fn with_decoys(
        &self,
        output: &ScannedOutput,
        ring_len: u8,
    ) -> Result<OutputWithDecoys, MoneroError> {
        let height = self.height()?;
        self.run(
            "decoy selection",
            OutputWithDecoys::new(
                &mut OsRng,
                &self.rpc,
                ring_len,
                height as usize - 1,
                output.output.clone(),
            ),
        )
    }

    /// Broadcasts a signed transaction; returns its hash. A rejection names monerod's reason
    /// (a double spend — e.g. a replayed transaction — is named as such).
    pub fn broadcast(&self, signed: &[u8]) -> Result<String, MoneroError> {
        let tx = Transaction::read(&mut &signed[..]).map_err(|e| {
            MoneroError::invalid(format!("the signed transaction does not parse: {e}"))
        })?;
        if tx.serialize() != signed {
            return Err(MoneroError::invalid(
                "the signed transaction has trailing bytes",
            ));
        }
        let txid = hex::encode(tx.hash());
        let key_images: Vec<[u8; 32]> = tx
            .prefix()
            .inputs
            .iter()
            .filter_map(|input| match input {
                Input::ToKey { key_image, .. } => Some(key_image.to_bytes()),
                Input::Gen(_) => None,
            })
            .collect();
        let in_chain = self.key_images_in_chain(&key_images)?;
        if in_chain.iter().any(|spent| *spent) {
            return Err(MoneroError::daemon(format!(
                "refusing to broadcast transaction {txid}: double spend — its key images are already spent in the chain (a replayed or conflicting transaction)"
            )));
        }
        let params = format!(
            r#"{{ "tx_as_hex": "{}", "do_not_relay": false }}"#,
            hex::encode(signed)
        );
        let answer = self.run(
            "send_raw_transaction",
            self.rpc.rpc_call("send_raw_transaction", Some(params), 0),
        )?;
        let value: serde_json::Value = serde_json::from_str(&answer).map_err(|e| {
            MoneroError::daemon(format!("send_raw_transaction answered garbage: {e}"))
        })?;
        if value.get("status").and_then(|s| s.as_str()) == Some("OK") {
            return Ok(txid);
        }
        let flag = |name: &str| value.get(name).and_then(|v| v.as_bool()).unwrap_or(false);
        let reason = value.get("reason").and_then(|v| v.as_str()).unwrap_or("");
        let mut why = Vec::new();
        if flag("double_spend") {
            why.push("double spend: its key images are already spent (a replayed or conflicting transaction)");
        }
        for (name, text) in [
            ("fee_too_low", "fee too low"),
            ("invalid_input", "invalid input"),
            ("invalid_output", "invalid output"),
            ("low_mixin", "ring too small"),
            ("overspend", "overspend"),
            ("too_big", "too big"),
        ] {
            if flag(name) {
                why.push(text);
            }
        }
        Err(MoneroError::daemon(format!(
            "monerod rejected transaction {txid}: {}{}",
            if why.is_empty() {
                "no reason given".to_owned()
            } else {
                why.join(", ")
            },
            if reason.is_empty() {
                String::new()
            } else {
                format!(" ({reason})")
            }
        )))
    }

    /// Online import of a key-image file: checks it belongs to this wallet, covers only outputs it
    /// exported and that every proof verifies ([`KeyImagesFile::verify`]), then asks monerod
    /// which of the key images are spent.
    pub fn import_key_images(
        &self,
        file: &KeyImagesFile,
        network: MoneroNetwork,
        view: &ViewKeys,
        exported: &OutputsFile,
    ) -> Result<Vec<KeyImageState>, MoneroError> {
        let address = view.primary_address(network).to_string();
        let verified = file.verify(network, &address, exported)?;
        let pairs: Vec<([u8; 32], [u8; 32])> = verified.into_iter().collect();
        let images: Vec<[u8; 32]> = pairs.iter().map(|(_, image)| *image).collect();
        let spent = self.key_images_spent(&images)?;
        Ok(pairs
            .into_iter()
            .zip(spent)
            .map(|((output_key, key_image), spent)| KeyImageState {
                output_key,
                key_image,
                spent,
            })
            .collect())
    }

    /// Confirmations of a transaction: `Some(0)` in the pool, `Some(n)` when mined `n` blocks
    /// deep (the block holding it counts), `None` when monerod does not know it.
    pub fn confirmations(&self, txid: &str) -> Result<Option<u64>, MoneroError> {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(txid, &mut hash)
            .map_err(|_| MoneroError::invalid(format!("{txid:?} is not a transaction hash")))?;
        let params = serde_json::json!({ "txs_hashes": [txid] }).to_string();
        let answer = self.run(
            "get_transactions",
            self.rpc.rpc_call("get_transactions", Some(params), 0),
        )?;
        let value: serde_json::Value = serde_json::from_str(&answer)
            .map_err(|e| MoneroError::daemon(format!("get_transactions answered garbage: {e}")))?;
        let Some(tx) = value
            .get("txs")
            .and_then(|t| t.as_array())
            .and_then(|t| t.first())
        else {
            return Ok(None);
        };
        if tx.get("in_pool").and_then(|v| v.as_bool()) == Some(true) {
            return Ok(Some(0));
        }
        let mined_at = tx
            .get("block_height")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| {
                MoneroError::daemon("get_transactions answered without a block height")
            })?;
        Ok(Some(self.height()?.saturating_sub(mined_at)))
    }

    /// For each key image: spent (in the chain or the pool) or not.
    pub fn key_images_spent(&self, key_images: &[[u8; 32]]) -> Result<Vec<bool>, MoneroError> {
        Ok(self
            .key_image_status(key_images)?
            .into_iter()
            .map(|s| s != 0)
            .collect())
    }

    fn key_images_in_chain(&self, key_images: &[[u8; 32]]) -> Result<Vec<bool>, MoneroError> {
        Ok(self
            .key_image_status(key_images)?
            .into_iter()
            .map(|s| s == 1)
            .collect())
    }

    /// monerod's status per key image: 0 unspent, 1 spent in the chain, 2 spent in the pool.
    fn key_image_status(&self, key_images: &[[u8; 32]]) -> Result<Vec<u64>, MoneroError> {
        if key_images.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = key_images.iter().map(hex::encode).collect();
        let params = serde_json::json!({ "key_images": list }).to_string();
        let answer = self.run(
            "is_key_image_spent",
            self.rpc.rpc_call("is_key_image_spent", Some(params), 0),
        )?;
        let value: serde_json::Value = serde_json::from_str(&answer).map_err(|e| {
            MoneroError::daemon(format!("is_key_image_spent answered garbage: {e}"))
        })?;
        let status = value
            .get("spent_status")
            .and_then(|v| v.as_array())
            .filter(|a| a.len() == key_images.len())
            .ok_or_else(|| {
                MoneroError::daemon("is_key_image_spent answered without a status per key image")
            })?;
        status
            .iter()
            .map(|s| match s.as_u64() {
                Some(v @ 0..=2) => Ok(v),
                _ => Err(MoneroError::daemon(
                    "is_key_image_spent answered an unknown status",
                )),
            })
            .collect()
    }
}
