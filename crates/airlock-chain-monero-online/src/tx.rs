//! The coordinator's half of sending: build an unsigned transaction from outputs the vault's
//! scan found (fee rate and decoys from monerod, change to the vault's primary address),
//! broadcast a signed one, count confirmations, and ask monerod which key images are spent.
//!
//! The unsigned transaction is monero-wallet's `SignableTransaction` serialization; the proposal
//! carries it as its payload and the key images of its inputs (known from the key-image sync) as
//! its spends. Only outputs with a known key image are inputs: the wallets sync first.
//! monero-wallet builds from its own `WalletOutput`, whose fields are private, so each chosen
//! input's block is fetched again and scanned with monero-wallet's `Scanner` (the input's
//! subaddress registered): a second, independent scan of every coin spent.
//!
//! This module must never hold a spend key; it only sees the view key and public chain data.

use std::future::Future;

use monero_simple_request_rpc::SimpleRequestTransport;
use monero_simple_request_rpc::prelude::*;
use monero_wallet::address::MoneroAddress;
use monero_wallet::ringct::RctType;
use monero_wallet::send::{Change, SendError, SignableTransaction};
use monero_wallet::transaction::{Input, Transaction};
use monero_wallet::{OutputWithDecoys, Scanner, WalletOutput};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::error::MoneroError;
use crate::keys::{MoneroNetwork, ViewKeys, parse_address};
use crate::scan::OwnedOutput;
use crate::subaddress::AddressIndex;

/// An output the builder may spend: found by the vault's scan, with its key image known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpendableOutput {
    /// The one-time output key `P`.
    pub output_key: [u8; 32],
    pub key_image: [u8; 32],
    /// Atomic units.
    pub amount: u64,
    /// Height of the block holding it.
    pub block_height: u64,
    /// The wallet address that received it.
    pub address: AddressIndex,
}

impl SpendableOutput {
    /// From a scanned output; `None` while its key image is unknown.
    pub fn from_owned(output: &OwnedOutput) -> Option<SpendableOutput> {
        Some(SpendableOutput {
            output_key: output.output_key,
            key_image: output.key_image?,
            amount: output.amount,
            block_height: output.block_height,
            address: output.address,
        })
    }
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

    /// monero-wallet's own view of the output with key `output_key` that the vault's scan found
    /// in block `block_height` for `address`: the block fetched again and scanned with
    /// monero-wallet's `Scanner` (that subaddress registered). Fails when the output is not in
    /// that block (the chain reorganized since the vault's sync, or the scan state is not this
    /// wallet's).
    pub fn wallet_output(
        &self,
        view: &ViewKeys,
        output_key: &[u8; 32],
        block_height: u64,
        address: AddressIndex,
    ) -> Result<WalletOutput, MoneroError> {
        let mut scanner = Scanner::new(view.view_pair());
        if let Some(subaddress) = address.to_subaddress_index() {
            scanner.register_subaddress(subaddress);
        }
        let height = block_height as usize;
        let mut blocks = self.run(
            "get block",
            self.rpc.contiguous_scannable_blocks(height..=height),
        )?;
        let block = blocks
            .pop()
            .ok_or_else(|| MoneroError::daemon(format!("monerod sent no block {height}")))?;
        let found = scanner
            .scan(block)
            .map_err(|e| MoneroError::daemon(format!("block {height} does not scan: {e}")))?
            .ignore_additional_timelock();
        found
            .into_iter()
            .find(|o| o.key().compress().to_bytes() == *output_key)
            .ok_or_else(|| {
                MoneroError::refused(format!(
                    "output {} is not in block {height} any more (the chain reorganized?): sync the vault again",
                    hex::encode(output_key)
                ))
            })
    }

    /// Builds an unsigned transaction paying `destinations` (address, atomic units) from
    /// `candidates` (the caller passes unlocked outputs with known key images; those monerod
    /// reports spent are skipped), largest first, with change to the wallet's primary address.
    pub fn build_unsigned(
        &self,
        network: MoneroNetwork,
        view: &ViewKeys,
        candidates: &[SpendableOutput],
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
        let images: Vec<[u8; 32]> = candidates.iter().map(|o| o.key_image).collect();
        let spent = self.key_images_spent(&images)?;
        let mut usable: Vec<&SpendableOutput> = candidates
            .iter()
            .zip(spent)
            .filter(|(_, spent)| !spent)
            .map(|(o, _)| o)
            .collect();
        usable.sort_by_key(|o| std::cmp::Reverse(o.amount));

        let (rct_type, ring_len, fee_rate) = self.network_parameters()?;
        let mut inputs: Vec<OutputWithDecoys> = Vec::new();
        let mut chosen: Vec<&SpendableOutput> = Vec::new();
        let mut sum: u64 = 0;
        for output in usable {
            let wallet_output = self.wallet_output(
                view,
                &output.output_key,
                output.block_height,
                output.address,
            )?;
            inputs.push(self.with_decoys(&wallet_output, ring_len)?);
            chosen.push(output);
            sum = sum.saturating_add(output.amount);
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
                        spends: chosen.iter().map(|o| hex::encode(o.key_image)).collect(),
                        inputs: chosen.iter().map(|o| hex::encode(o.output_key)).collect(),
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
            "not enough unlocked, unspent funds with known key images: {} for {} plus fee",
            crate::review::format_xmr(sum),
            crate::review::format_xmr(total)
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
        output: &WalletOutput,
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
                output.clone(),
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
