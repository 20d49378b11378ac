//! The coordinator's blocking client for monerod: a thin wrapper over
//! monero-oxide's `monero-daemon-rpc` (with the `monero-simple-request-rpc` HTTP transport) that
//! drives its async calls on a private single-threaded tokio runtime and turns every failure into
//! a [`DaemonError`] naming the daemon's URL.
//!
//! Blocks are fetched in bulk through the binary `get_blocks.bin` endpoint (pruned, as wallet2
//! asks), checked by monero-daemon-rpc to chain together and to carry the transactions their
//! headers commit to.
//!
//! This module must never see a secret key: it moves public chain data only.

use std::time::Duration;

use monero_daemon_rpc::MoneroDaemon;
use monero_daemon_rpc::prelude::{InterfaceError, ProvidesBlockchain, ProvidesBlockchainMeta};
use monero_simple_request_rpc::SimpleRequestTransport;
use monero_wallet::block::Block;
use monero_wallet::interface::ScannableBlock;
use monero_wallet::transaction::{Pruned, Transaction};

/// Default deadline for one RPC call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong talking to monerod; the message names the daemon.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaemonError {
    /// The daemon could not be reached, stopped answering, or the connection broke.
    #[error("monerod at {url} is unreachable or stopped answering: {reason}")]
    Unreachable {
        /// The daemon's URL.
        url: String,
        /// What the transport reported.
        reason: String,
    },
    /// The daemon answered something that is not a valid answer (garbage, wrong chain data).
    #[error("monerod at {url} sent an invalid answer: {reason}")]
    InvalidAnswer {
        /// The daemon's URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The client could not be set up (bad URL, runtime).
    #[error("monerod client for {url}: {reason}")]
    Setup {
        /// The daemon's URL.
        url: String,
        /// What failed.
        reason: String,
    },
}

impl DaemonError {
    /// The daemon's URL this error is about.
    pub fn url(&self) -> &str {
        match self {
            DaemonError::Unreachable { url, .. }
            | DaemonError::InvalidAnswer { url, .. }
            | DaemonError::Setup { url, .. } => url,
        }
    }

    fn from_interface(url: &str, error: InterfaceError) -> Self {
        let url = url.to_owned();
        match error {
            InterfaceError::InterfaceError(reason) => {
                // The transport reports unreachable hosts and broken connections here; a reply that
                // is not HTTP at all also lands here (hyper's parse errors).
                if reason.contains("Parse")
                    || reason.contains("parse")
                    || reason.contains("invalid")
                {
                    DaemonError::InvalidAnswer { url, reason }
                } else {
                    DaemonError::Unreachable { url, reason }
                }
            }
            InterfaceError::InvalidInterface(reason) => DaemonError::InvalidAnswer { url, reason },
            InterfaceError::InternalError(reason) => DaemonError::InvalidAnswer { url, reason },
        }
    }
}

/// A blocking connection to one monerod.
pub struct DaemonClient {
    url: String,
    timeout: Duration,
    runtime: tokio::runtime::Runtime,
    rpc: MoneroDaemon<SimpleRequestTransport>,
    genesis: std::sync::OnceLock<[u8; 32]>,
}

impl std::fmt::Debug for DaemonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn runtime(url: &str) -> Result<tokio::runtime::Runtime, DaemonError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Setup {
            url: url.to_owned(),
            reason: format!("tokio runtime: {e}"),
        })
}

impl DaemonClient {
    /// Connects to monerod at `url` (e.g. `http://127.0.0.1:18081`) with [`DEFAULT_TIMEOUT`].
    pub fn connect(url: &str) -> Result<Self, DaemonError> {
        Self::connect_with_timeout(url, DEFAULT_TIMEOUT)
    }

    /// Connects with a custom per-call deadline. The daemon is asked one call at once, so an
    /// unreachable or non-Monero server fails here.
    pub fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Self, DaemonError> {
        // See `MoneroNode::connect`: with two rustls backends linked, the process must choose.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(DaemonError::Setup {
                url: url.to_owned(),
                reason: "the URL must start with http:// or https://".into(),
            });
        }
        let runtime = runtime(url)?;
        let rpc = runtime
            .block_on(async {
                tokio::time::timeout(
                    timeout,
                    SimpleRequestTransport::with_custom_timeout(url.to_owned(), timeout),
                )
                .await
            })
            .map_err(|_| DaemonError::Unreachable {
                url: url.to_owned(),
                reason: format!("no answer within {timeout:?}"),
            })?
            .map_err(|e| DaemonError::from_interface(url, e))?;
        Ok(DaemonClient {
            url: url.to_owned(),
            timeout,
            runtime,
            rpc,
            genesis: std::sync::OnceLock::new(),
        })
    }

    /// A second, independent connection to the same daemon (for a fetching thread; the HTTP
    /// client is bound to the runtime it was made on, so it is not shared).
    pub fn try_clone(&self) -> Result<Self, DaemonError> {
        Self::connect_with_timeout(&self.url, self.timeout)
    }

    /// The daemon's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn call<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, InterfaceError>>,
    ) -> Result<T, DaemonError> {
        let timeout = self.timeout;
        self.runtime
            .block_on(async { tokio::time::timeout(timeout, fut).await })
            .map_err(|_| DaemonError::Unreachable {
                url: self.url.clone(),
                reason: format!("{what}: no answer within {timeout:?}"),
            })?
            .map_err(|e| {
                let mut err = DaemonError::from_interface(&self.url, e);
                match &mut err {
                    DaemonError::Unreachable { reason, .. }
                    | DaemonError::InvalidAnswer { reason, .. }
                    | DaemonError::Setup { reason, .. } => *reason = format!("{what}: {reason}"),
                }
                err
            })
    }

    /// The chain's height: the number of blocks (the top block's number + 1).
    pub fn height(&self) -> Result<u64, DaemonError> {
        let top = self.call(
            "get_height",
            ProvidesBlockchainMeta::latest_block_number(&self.rpc),
        )?;
        Ok(top as u64 + 1)
    }

    /// The hash of the block at `height`.
    pub fn block_hash(&self, height: u64) -> Result<[u8; 32], DaemonError> {
        let number = usize::try_from(height).map_err(|_| DaemonError::Setup {
            url: self.url.clone(),
            reason: format!("height {height} is not addressable"),
        })?;
        self.call(
            "get_block_hash",
            ProvidesBlockchain::block_hash(&self.rpc, number),
        )
    }

    /// Whether each key image is spent on chain (`is_key_image_spent`; a key image only in the
    /// pool counts as unspent). One answer per key image, in order.
    pub fn key_images_spent(&self, key_images: &[[u8; 32]]) -> Result<Vec<bool>, DaemonError> {
        let mut spent = Vec::with_capacity(key_images.len());
        for chunk in key_images.chunks(1000) {
            let params = serde_json::json!({ "key_images": chunk.iter().map(hex::encode).collect::<Vec<_>>() });
            let answer = self.call(
                "is_key_image_spent",
                self.rpc.rpc_call(
                    "is_key_image_spent",
                    Some(params.to_string()),
                    64 * 1024 + 16 * chunk.len(),
                ),
            )?;
            let invalid = |reason: &str| DaemonError::InvalidAnswer {
                url: self.url.clone(),
                reason: format!("is_key_image_spent: {reason}"),
            };
            let value: serde_json::Value =
                serde_json::from_str(&answer).map_err(|_| invalid("not JSON"))?;
            if value["status"] != "OK" {
                return Err(invalid(&format!("status {}", value["status"])));
            }
            let statuses = value["spent_status"]
                .as_array()
                .ok_or_else(|| invalid("no spent_status"))?;
            if statuses.len() != chunk.len() {
                return Err(invalid("a different number of answers than key images"));
            }
            for status in statuses {
                // 0 = unspent, 1 = spent in a block, 2 = only in the pool.
                match status.as_u64() {
                    Some(0) | Some(2) => spent.push(false),
                    Some(1) => spent.push(true),
                    _ => return Err(invalid("an unknown spent status")),
                }
            }
        }
        Ok(spent)
    }

    /// Blocks `first..=last` with their (pruned) transactions and output indices, ready to
    /// scan, fetched in bulk with `get_blocks.bin` (as many blocks per call as monerod sends).
    ///
    /// Checked here: each answer starts where asked, every block carries as many transactions
    /// as its header lists and decodes with monero-oxide, output indices cover every output,
    /// and the blocks chain together by hash and number. Not checkable with monerod 0.18's
    /// pruned answers (their `prunable_hash` is zero): that a pruned transaction is the one its
    /// hash names, so, as with wallet2, the daemon is trusted for transaction contents.
    pub fn scannable_blocks(
        &self,
        first: u64,
        last: u64,
    ) -> Result<Vec<ScannableBlock>, DaemonError> {
        if last < first {
            return Ok(Vec::new());
        }
        let genesis = match self.genesis.get() {
            Some(hash) => *hash,
            None => {
                let hash = self.block_hash(0)?;
                let _ = self.genesis.set(hash);
                hash
            }
        };
        let wanted = last - first + 1;
        let mut blocks: Vec<ScannableBlock> = Vec::with_capacity(wanted as usize);
        let mut next = first;
        while next <= last {
            let request = blocks_bin_request(next, last - next + 1, &genesis);
            let raw = self.call(
                "get_blocks.bin",
                self.rpc
                    .bin_call("get_blocks.bin", request, MAX_BLOCKS_BIN_RESPONSE),
            )?;
            let invalid = |reason: String| DaemonError::InvalidAnswer {
                url: self.url.clone(),
                reason: format!("get_blocks.bin from {next}: {reason}"),
            };
            let (start, fetched) =
                parse_blocks_bin(&raw, (last - next + 1) as usize).map_err(invalid)?;
            if start != next {
                return Err(invalid(format!("the answer starts at height {start}")));
            }
            if fetched.is_empty() {
                return Err(invalid("no blocks in the answer".into()));
            }
            for (offset, block) in fetched.iter().enumerate() {
                let height = next + offset as u64;
                if block.block.number() as u64 != height {
                    return Err(invalid(format!(
                        "block {offset} of the answer claims height {}",
                        block.block.number()
                    )));
                }
            }
            next += fetched.len() as u64;
            blocks.extend(fetched);
        }
        for pair in blocks.windows(2) {
            if pair[1].block.header.previous != pair[0].block.hash() {
                return Err(DaemonError::InvalidAnswer {
                    url: self.url.clone(),
                    reason: format!(
                        "get_blocks.bin: block {} does not build on block {}",
                        pair[1].block.number(),
                        pair[0].block.number()
                    ),
                });
            }
        }
        Ok(blocks)
    }
}

/// Cap on one `get_blocks.bin` answer.
const MAX_BLOCKS_BIN_RESPONSE: usize = 100 * 1024 * 1024;

fn epee_varint(n: usize, out: &mut Vec<u8>) {
    if n < 1 << 6 {
        out.push((n << 2) as u8);
    } else if n < 1 << 14 {
        out.extend(((n << 2) as u16 | 1).to_le_bytes());
    } else if n < 1 << 30 {
        out.extend(((n << 2) as u32 | 2).to_le_bytes());
    } else {
        out.extend(((n as u64) << 2 | 3).to_le_bytes());
    }
}

fn epee_key(name: &str, kind: monero_epee::Type, out: &mut Vec<u8>) {
    out.push(name.len() as u8);
    out.extend(name.as_bytes());
    out.push(kind as u8);
}

/// `{prune: true, start_height, max_block_count, block_ids: genesis}` in epee portable storage.
fn blocks_bin_request(start_height: u64, max_blocks: u64, genesis: &[u8; 32]) -> Vec<u8> {
    use monero_epee::Type;
    let mut out = Vec::with_capacity(128);
    out.extend(monero_epee::HEADER);
    out.push(monero_epee::VERSION);
    epee_varint(4, &mut out);
    epee_key("prune", Type::Bool, &mut out);
    out.push(1);
    epee_key("start_height", Type::Uint64, &mut out);
    out.extend(start_height.to_le_bytes());
    // Honoured from monerod 0.18.4.3 on; older daemons send what fits and the rest is dropped.
    epee_key("max_block_count", Type::Uint64, &mut out);
    out.extend(max_blocks.to_le_bytes());
    // Only consulted for start_height 0: the genesis hash as the (one-entry) chain history.
    epee_key("block_ids", Type::String, &mut out);
    epee_varint(32, &mut out);
    out.extend(genesis);
    out
}

type EpeeResult<T> = Result<T, String>;

fn epee_err(e: monero_epee::EpeeError) -> String {
    format!("malformed epee ({e:?})")
}

/// Decodes a `get_blocks.bin` answer into at most `limit` scannable blocks.
///
/// Public only for the fuzz target (`fuzz/`); callers use [`DaemonClient::scannable_blocks`].
#[doc(hidden)]
pub fn parse_blocks_bin(raw: &[u8], limit: usize) -> EpeeResult<(u64, Vec<ScannableBlock>)> {
    let mut epee = monero_epee::Epee::new(raw).map_err(epee_err)?;
    let mut fields = epee.entry().map_err(epee_err)?.fields().map_err(epee_err)?;
    let mut start_height = None;
    let mut parsed: Vec<(Block, Vec<Transaction<Pruned>>)> = Vec::new();
    let mut output_indices: Vec<Vec<u64>> = Vec::new();
    while let Some(field) = fields.next() {
        let (key, value) = field.map_err(epee_err)?;
        match key.consume() {
            b"start_height" => start_height = Some(value.to_u64().map_err(epee_err)?),
            b"blocks" => {
                let mut entries = value.iterate().map_err(epee_err)?;
                while let Some(entry) = entries.next() {
                    let entry = entry.map_err(epee_err)?;
                    if parsed.len() >= limit {
                        continue;
                    }
                    let mut block_fields = entry.fields().map_err(epee_err)?;
                    let mut block = None;
                    let mut txs = Vec::new();
                    while let Some(field) = block_fields.next() {
                        let (key, value) = field.map_err(epee_err)?;
                        match key.consume() {
                            b"block" => {
                                let mut bytes: &[u8] = value.to_str().map_err(epee_err)?.consume();
                                let decoded = Block::read(&mut bytes)
                                    .map_err(|e| format!("undecodable block: {e}"))?;
                                if !bytes.is_empty() {
                                    return Err("trailing bytes after a block".into());
                                }
                                block = Some(decoded);
                            }
                            b"txs" => {
                                let mut tx_entries = value.iterate().map_err(epee_err)?;
                                while let Some(tx_entry) = tx_entries.next() {
                                    let tx_entry = tx_entry.map_err(epee_err)?;
                                    let mut blob: Option<&[u8]> = None;
                                    if tx_entry.kind() == monero_epee::Type::String {
                                        blob = Some(tx_entry.to_str().map_err(epee_err)?.consume());
                                    } else {
                                        let mut tx_fields = tx_entry.fields().map_err(epee_err)?;
                                        while let Some(field) = tx_fields.next() {
                                            let (key, value) = field.map_err(epee_err)?;
                                            if key.consume() == b"blob" {
                                                blob = Some(
                                                    value.to_str().map_err(epee_err)?.consume(),
                                                );
                                            }
                                        }
                                    }
                                    let mut bytes =
                                        blob.ok_or("a transaction entry without a blob")?;
                                    let tx = Transaction::<Pruned>::read(&mut bytes)
                                        .map_err(|e| format!("undecodable transaction: {e}"))?;
                                    if !bytes.is_empty() {
                                        return Err("trailing bytes after a transaction".into());
                                    }
                                    txs.push(tx);
                                }
                            }
                            _ => {}
                        }
                    }
                    parsed.push((block.ok_or("a block entry without a block")?, txs));
                }
            }
            b"output_indices" => {
                let mut per_block = value.iterate().map_err(epee_err)?;
                while let Some(block_entry) = per_block.next() {
                    let block_entry = block_entry.map_err(epee_err)?;
                    if output_indices.len() >= limit {
                        continue;
                    }
                    let mut flat = Vec::new();
                    let mut block_fields = block_entry.fields().map_err(epee_err)?;
                    while let Some(field) = block_fields.next() {
                        let (key, value) = field.map_err(epee_err)?;
                        if key.consume() != b"indices" {
                            continue;
                        }
                        let mut per_tx = value.iterate().map_err(epee_err)?;
                        while let Some(tx_entry) = per_tx.next() {
                            let mut tx_fields =
                                tx_entry.map_err(epee_err)?.fields().map_err(epee_err)?;
                            let mut indices = Vec::new();
                            while let Some(field) = tx_fields.next() {
                                let (key, value) = field.map_err(epee_err)?;
                                if key.consume() != b"indices" {
                                    continue;
                                }
                                let mut items = value.iterate().map_err(epee_err)?;
                                while let Some(item) = items.next() {
                                    indices
                                        .push(item.map_err(epee_err)?.to_u64().map_err(epee_err)?);
                                }
                            }
                            flat.push(indices.first().copied().unwrap_or(u64::MAX));
                            flat.push(indices.len() as u64);
                        }
                    }
                    output_indices.push(flat);
                }
            }
            _ => {}
        }
    }
    drop(fields);
    let start_height = start_height.ok_or("no start_height")?;
    if output_indices.len() != parsed.len() {
        return Err(format!(
            "{} blocks but output indices for {}",
            parsed.len(),
            output_indices.len()
        ));
    }
    let mut blocks = Vec::with_capacity(parsed.len());
    for ((block, transactions), indices) in parsed.into_iter().zip(output_indices) {
        if block.transactions.len() != transactions.len() {
            return Err(format!(
                "block {} lists {} transactions but came with {}",
                block.number(),
                block.transactions.len(),
                transactions.len()
            ));
        }
        // indices holds (first index, count) per transaction, the miner transaction first.
        if indices.len() != 2 * (transactions.len() + 1) {
            return Err(format!(
                "block {}: output indices for the wrong number of transactions",
                block.number()
            ));
        }
        let miner = Transaction::<Pruned>::from(block.miner_transaction().clone());
        let mut first_ringct = None;
        for (at, tx) in std::iter::once(&miner)
            .chain(transactions.iter())
            .enumerate()
        {
            let (first, count) = (indices[2 * at], indices[2 * at + 1]);
            if count != tx.prefix().outputs.len() as u64 {
                return Err(format!(
                    "block {}: output indices do not match the outputs of transaction {at}",
                    block.number()
                ));
            }
            if first_ringct.is_none() && matches!(tx, Transaction::V2 { .. }) && count > 0 {
                first_ringct = Some(first);
            }
        }
        blocks.push(ScannableBlock {
            block,
            transactions,
            output_index_for_first_ringct_output: first_ringct,
        });
    }
    Ok((start_height, blocks))
}

impl airlock_core::Classify for DaemonError {
    fn severity(&self) -> airlock_core::Severity {
        airlock_core::Severity::Refused
    }
}
