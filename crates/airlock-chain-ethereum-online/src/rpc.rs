//! A small blocking Ethereum JSON-RPC client for the coordinator (feature `online`).
//!
//! HTTP/1.1 is spoken directly over `std::net::TcpStream`: one `POST` per call with
//! `Connection: close`, a `Content-Length` or chunked answer. Airlock's coordinator talks to its
//! own node on loopback or the LAN, so there is no TLS (an `https://` URL is refused with a hint),
//! and a hand-rolled client keeps the coordinator's network surface to a few hundred audited lines
//! with no dependency beyond `serde_json`, with a hard cap on the answer's size and an overall
//! deadline per call that a slow or hostile node cannot stretch.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::{Value, json};

/// Default overall deadline for one call (connect, send, answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on an answer's size (headers and body).
pub const DEFAULT_MAX_RESPONSE: usize = 16 * 1024 * 1024;
const MAX_HEAD: usize = 64 * 1024;

/// What went wrong talking to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcErrorKind {
    /// The URL is not one this client accepts.
    Url(String),
    /// No connection could be made.
    Unreachable(String),
    /// The connection broke or the node stopped answering mid-way.
    Transport(String),
    /// The overall deadline passed.
    Timeout(Duration),
    /// The answer exceeded the size cap.
    TooLarge(usize),
    /// A non-200 HTTP status.
    Http { status: u16, body: String },
    /// The node answered something that is not a JSON-RPC answer to this call.
    Garbage(String),
    /// A JSON-RPC error object.
    Rpc {
        code: i64,
        message: String,
        /// The error's `data` member, as JSON text (revert data for `eth_call` / `eth_estimateGas`).
        data: Option<String>,
    },
}

/// A failed call: the method and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{method} at {url}: {}", describe(.kind))]
pub struct RpcError {
    pub url: String,
    pub method: String,
    pub kind: RpcErrorKind,
}

fn describe(kind: &RpcErrorKind) -> String {
    match kind {
        RpcErrorKind::Url(m) => format!("bad node URL: {m}"),
        RpcErrorKind::Unreachable(m) => format!("cannot reach the node: {m}"),
        RpcErrorKind::Transport(m) => format!("the node went away: {m}"),
        RpcErrorKind::Timeout(d) => format!("no complete answer within {d:?}"),
        RpcErrorKind::TooLarge(n) => format!("the answer exceeds the {n}-byte cap"),
        RpcErrorKind::Http { status, body } => format!("HTTP status {status}: {body}"),
        RpcErrorKind::Garbage(m) => format!("the node answered garbage: {m}"),
        RpcErrorKind::Rpc {
            code,
            message,
            data,
        } => {
            let mut s = format!("node error {code}: {message}");
            if let Some(reason) = data.as_deref().and_then(revert_reason_hex) {
                s.push_str(&format!(" (revert reason: {reason})"));
            } else if let Some(d) = data {
                s.push_str(&format!(" (data: {d})"));
            }
            s
        }
    }
}

impl RpcError {
    /// The Solidity revert reason carried by an `eth_call`/`eth_estimateGas` error, if any
    /// (`Error(string)` data, e.g. Safe's "GS026").
    pub fn revert_reason(&self) -> Option<String> {
        match &self.kind {
            RpcErrorKind::Rpc { data, message, .. } => {
                data.as_deref().and_then(revert_reason_hex).or_else(|| {
                    message
                        .strip_prefix("execution reverted: ")
                        .map(str::to_owned)
                })
            }
            _ => None,
        }
    }
}

impl From<RpcError> for airlock_core::chain::ChainError {
    fn from(e: RpcError) -> Self {
        airlock_core::chain::ChainError::new("ethereum", e.to_string())
    }
}

/// Decodes `Error(string)` revert data given as a JSON string of hex.
fn revert_reason_hex(data: &str) -> Option<String> {
    let text: String = serde_json::from_str(data).ok()?;
    let bytes = hex::decode(text.strip_prefix("0x")?).ok()?;
    revert_reason(&bytes)
}

/// Decodes `Error(string)` revert data (selector 0x08c379a0).
pub fn revert_reason(data: &[u8]) -> Option<String> {
    use alloy_sol_types::{Revert, SolError};
    Revert::abi_decode(data).ok().map(|r| r.reason)
}

/// EIP-1559 fee suggestion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeSuggestion {
    /// Base fee of the next block.
    pub next_base_fee: u128,
    pub max_priority_fee_per_gas: u128,
    /// 2 × next base fee + priority fee: survives six full blocks of base-fee increases.
    pub max_fee_per_gas: u128,
}

/// The answer of `eth_feeHistory`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeHistory {
    pub oldest_block: u64,
    /// One per block plus the next block's.
    pub base_fee_per_gas: Vec<u128>,
    /// Per block, the priority fees at the requested percentiles.
    pub reward: Vec<Vec<u128>>,
}

/// A call for `eth_call` / `eth_estimateGas`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallRequest {
    pub from: Option<Address>,
    pub to: Option<Address>,
    pub value: U256,
    pub data: Bytes,
}

impl CallRequest {
    fn to_json(&self) -> Value {
        let mut o = serde_json::Map::new();
        if let Some(f) = self.from {
            o.insert("from".into(), json!(f.to_string()));
        }
        if let Some(t) = self.to {
            o.insert("to".into(), json!(t.to_string()));
        }
        if !self.value.is_zero() {
            o.insert("value".into(), json!(format!("{:#x}", self.value)));
        }
        o.insert(
            "input".into(),
            json!(format!("0x{}", hex::encode(&self.data))),
        );
        Value::Object(o)
    }
}

/// A log entry of a receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log {
    pub address: Address,
    pub topics: Vec<B256>,
    pub data: Bytes,
}

/// The parts of a transaction receipt the coordinator uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub transaction_hash: B256,
    pub block_number: u64,
    /// `true` for status 1.
    pub success: bool,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    pub contract_address: Option<Address>,
    pub logs: Vec<Log>,
}

/// A JSON-RPC node over plain HTTP.
#[derive(Debug)]
pub struct RpcClient {
    url: String,
    host: String,
    port: u16,
    path: String,
    timeout: Duration,
    max_response: usize,
    next_id: AtomicU64,
}

impl RpcClient {
    /// `http://host[:port][/path]`; `https` is refused (put a TLS-terminating proxy on loopback).
    pub fn new(url: &str) -> Result<Self, RpcError> {
        let err = |m: &str| RpcError {
            url: url.to_owned(),
            method: "connect".into(),
            kind: RpcErrorKind::Url(m.to_owned()),
        };
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(err(
                    "https is not supported: the coordinator talks plain HTTP to a node on loopback \
                     or the LAN (run a TLS-terminating proxy locally for a remote node)",
                ));
            }
            _ => return Err(err("expected http://host:port")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(err("expected http://host:port (no user info)"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, tail) = v6
                .split_once(']')
                .ok_or_else(|| err("unclosed [ in host"))?;
            let port = match tail.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| err("bad port"))?,
                None if tail.is_empty() => 80,
                None => return Err(err("bad authority")),
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| err("bad port"))?),
                None => (authority.to_owned(), 80),
            }
        };
        if host.is_empty() || path.contains(['\r', '\n', ' ']) {
            return Err(err("bad host or path"));
        }
        Ok(RpcClient {
            url: url.to_owned(),
            host,
            port,
            path: path.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            max_response: DEFAULT_MAX_RESPONSE,
            next_id: AtomicU64::new(1),
        })
    }

    /// Sets the overall deadline of each call.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the cap on an answer's size.
    pub fn with_max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn error(&self, method: &str, kind: RpcErrorKind) -> RpcError {
        RpcError {
            url: self.url.clone(),
            method: method.to_owned(),
            kind,
        }
    }

    /// One JSON-RPC call; returns the `result` member.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::to_vec(&json!({
            "jsonrpc": "2.0", "id": id, "method": method, "params": params,
        }))
        .expect("a JSON value serializes");
        let answer = self.post(&body).map_err(|kind| self.error(method, kind))?;
        let value: Value = serde_json::from_slice(&answer).map_err(|e| {
            self.error(
                method,
                RpcErrorKind::Garbage(format!("not JSON ({e}): {}", snippet(&answer))),
            )
        })?;
        let Value::Object(mut obj) = value else {
            return Err(self.error(
                method,
                RpcErrorKind::Garbage(format!("not a JSON object: {}", snippet(&answer))),
            ));
        };
        if obj.get("id") != Some(&json!(id)) {
            return Err(self.error(
                method,
                RpcErrorKind::Garbage(format!("answer id does not match request id {id}")),
            ));
        }
        if let Some(e) = obj.remove("error") {
            let code = e.get("code").and_then(Value::as_i64);
            let message = e.get("message").and_then(Value::as_str);
            return Err(match (code, message) {
                (Some(code), Some(message)) => self.error(
                    method,
                    RpcErrorKind::Rpc {
                        code,
                        message: message.to_owned(),
                        data: e.get("data").map(Value::to_string),
                    },
                ),
                _ => self.error(
                    method,
                    RpcErrorKind::Garbage(format!("malformed error object: {e}")),
                ),
            });
        }
        obj.remove("result").ok_or_else(|| {
            self.error(
                method,
                RpcErrorKind::Garbage("neither result nor error".into()),
            )
        })
    }

    fn post(&self, body: &[u8]) -> Result<Vec<u8>, RpcErrorKind> {
        let deadline = Instant::now() + self.timeout;
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| RpcErrorKind::Unreachable(format!("cannot resolve {}: {e}", self.host)))?
            .collect();
        let mut stream = None;
        let mut last = String::from("no address");
        for addr in addrs {
            let left = remaining(deadline)?;
            match TcpStream::connect_timeout(&addr, left) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        let mut stream = stream.ok_or(RpcErrorKind::Unreachable(last))?;
        let _ = stream.set_nodelay(true);
        let host_header = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            body.len()
        );
        let io = |e: std::io::Error| {
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                RpcErrorKind::Timeout(self.timeout)
            } else {
                RpcErrorKind::Transport(e.to_string())
            }
        };
        stream
            .set_write_timeout(Some(remaining(deadline)?))
            .map_err(io)?;
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request).map_err(io)?;
        stream.flush().map_err(io)?;

        let mut reader = Reader {
            stream,
            buf: Vec::new(),
            pos: 0,
            deadline,
            timeout: self.timeout,
            cap: self.max_response,
            total: 0,
        };
        // Status line and headers.
        let head = reader.read_until_blank_line()?;
        let head = String::from_utf8(head)
            .map_err(|_| RpcErrorKind::Garbage("HTTP head is not UTF-8".into()))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let (proto, status) = (parts.next(), parts.next());
        if !proto.is_some_and(|p| p.starts_with("HTTP/1.")) {
            return Err(RpcErrorKind::Garbage(format!(
                "not an HTTP/1.x answer: {}",
                snippet(status_line.as_bytes())
            )));
        }
        let status: u16 = status
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| RpcErrorKind::Garbage(format!("bad status line: {status_line}")))?;
        let mut content_length = None;
        let mut chunked = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let n: usize = value
                    .parse()
                    .map_err(|_| RpcErrorKind::Garbage(format!("bad Content-Length: {value}")))?;
                if n > self.max_response {
                    return Err(RpcErrorKind::TooLarge(self.max_response));
                }
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
        let body = if chunked {
            reader.read_chunked()?
        } else if let Some(n) = content_length {
            reader.read_exact_n(n)?
        } else {
            reader.read_to_end()?
        };
        if status != 200 {
            // Some nodes and proxies put a JSON-RPC error object in a non-200 answer: surface it.
            let rpc_error = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                let e = v.get("error")?;
                Some(RpcErrorKind::Rpc {
                    code: e.get("code")?.as_i64()?,
                    message: e.get("message")?.as_str()?.to_owned(),
                    data: e.get("data").map(Value::to_string),
                })
            });
            return Err(rpc_error.unwrap_or(RpcErrorKind::Http {
                status,
                body: snippet(&body),
            }));
        }
        Ok(body)
    }

    // ---- typed methods ----

    /// `eth_chainId`.
    pub fn chain_id(&self) -> Result<u64, RpcError> {
        let v = self.call("eth_chainId", json!([]))?;
        self.quantity_u64("eth_chainId", &v)
    }

    /// `eth_blockNumber`.
    pub fn block_number(&self) -> Result<u64, RpcError> {
        let v = self.call("eth_blockNumber", json!([]))?;
        self.quantity_u64("eth_blockNumber", &v)
    }

    /// `eth_getTransactionCount` at `pending`: the next nonce to use.
    pub fn transaction_count(&self, address: Address) -> Result<u64, RpcError> {
        let m = "eth_getTransactionCount";
        let v = self.call(m, json!([address.to_string(), "pending"]))?;
        self.quantity_u64(m, &v)
    }

    /// `eth_getBalance` at `latest`, in wei.
    pub fn balance(&self, address: Address) -> Result<U256, RpcError> {
        self.balance_at(address, None)
    }

    /// `eth_getBalance` at block `block` (`None`: `latest`), in wei.
    pub fn balance_at(&self, address: Address, block: Option<u64>) -> Result<U256, RpcError> {
        let m = "eth_getBalance";
        let v = self.call(m, json!([address.to_string(), block_tag(block)]))?;
        self.quantity(m, &v)
    }

    /// `eth_getTransactionCount` at block `block`: the transactions the account had sent by then.
    pub fn transaction_count_at(&self, address: Address, block: u64) -> Result<u64, RpcError> {
        let m = "eth_getTransactionCount";
        let v = self.call(m, json!([address.to_string(), block_tag(Some(block))]))?;
        self.quantity_u64(m, &v)
    }

    /// The hash of block `number` (`eth_getBlockByNumber`), `None` when the node has no such block.
    pub fn block_hash(&self, number: u64) -> Result<Option<B256>, RpcError> {
        let m = "eth_getBlockByNumber";
        let v = self.call(m, json!([block_tag(Some(number)), false]))?;
        if v.is_null() {
            return Ok(None);
        }
        let hash = v
            .get("hash")
            .and_then(Value::as_str)
            .and_then(|h| h.parse::<B256>().ok())
            .ok_or_else(|| self.garbage(m, &format!("block {number} without a hash")))?;
        Ok(Some(hash))
    }

    /// `eth_getCode` at `latest`.
    pub fn code(&self, address: Address) -> Result<Bytes, RpcError> {
        let m = "eth_getCode";
        let v = self.call(m, json!([address.to_string(), "latest"]))?;
        self.data(m, &v)
    }

    /// `eth_maxPriorityFeePerGas`.
    pub fn max_priority_fee_per_gas(&self) -> Result<u128, RpcError> {
        let m = "eth_maxPriorityFeePerGas";
        let v = self.call(m, json!([]))?;
        self.quantity_u128(m, &v)
    }

    /// `eth_feeHistory` over the last `blocks` blocks at the given reward percentiles.
    pub fn fee_history(&self, blocks: u64, percentiles: &[f64]) -> Result<FeeHistory, RpcError> {
        let m = "eth_feeHistory";
        let v = self.call(m, json!([format!("{blocks:#x}"), "latest", percentiles]))?;
        let oldest = self.quantity_u64(m, field(&v, "oldestBlock"))?;
        let base = field(&v, "baseFeePerGas")
            .as_array()
            .ok_or_else(|| self.garbage(m, "baseFeePerGas is not an array"))?
            .iter()
            .map(|x| self.quantity_u128(m, x))
            .collect::<Result<Vec<_>, _>>()?;
        if base.is_empty() {
            return Err(self.garbage(m, "empty baseFeePerGas"));
        }
        let reward = match v.get("reward") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(rows)) => rows
                .iter()
                .map(|row| {
                    row.as_array()
                        .ok_or_else(|| self.garbage(m, "reward row is not an array"))?
                        .iter()
                        .map(|x| self.quantity_u128(m, x))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(self.garbage(m, "reward is not an array")),
        };
        Ok(FeeHistory {
            oldest_block: oldest,
            base_fee_per_gas: base,
            reward,
        })
    }

    /// EIP-1559 fees: the next block's base fee from `eth_feeHistory`, the priority fee from
    /// `eth_maxPriorityFeePerGas` (or, when the node does not implement it, the median of the
    /// last blocks' 50th-percentile rewards), and `max_fee = 2 × base + priority`.
    pub fn suggest_fees(&self) -> Result<FeeSuggestion, RpcError> {
        let history = self.fee_history(10, &[50.0])?;
        let next_base_fee = *history.base_fee_per_gas.last().expect("checked non-empty");
        let priority = match self.max_priority_fee_per_gas() {
            Ok(p) => p,
            Err(RpcError {
                kind: RpcErrorKind::Rpc { .. },
                ..
            }) => {
                let mut r: Vec<u128> = history
                    .reward
                    .iter()
                    .filter_map(|row| row.first().copied())
                    .collect();
                r.sort_unstable();
                r.get(r.len() / 2).copied().unwrap_or(1_000_000_000)
            }
            Err(e) => return Err(e),
        };
        Ok(FeeSuggestion {
            next_base_fee,
            max_priority_fee_per_gas: priority,
            max_fee_per_gas: next_base_fee.saturating_mul(2).saturating_add(priority),
        })
    }

    /// `eth_estimateGas` at `latest`.
    pub fn estimate_gas(&self, call: &CallRequest) -> Result<u64, RpcError> {
        let m = "eth_estimateGas";
        let v = self.call(m, json!([call.to_json(), "latest"]))?;
        self.quantity_u64(m, &v)
    }

    /// `eth_call` at `latest`: the return data.
    pub fn eth_call(&self, call: &CallRequest) -> Result<Bytes, RpcError> {
        self.eth_call_at(call, None)
    }

    /// `eth_call` at block `block` (`None`: `latest`): the return data.
    pub fn eth_call_at(&self, call: &CallRequest, block: Option<u64>) -> Result<Bytes, RpcError> {
        let m = "eth_call";
        let v = self.call(m, json!([call.to_json(), block_tag(block)]))?;
        self.data(m, &v)
    }

    /// `eth_sendRawTransaction`: the transaction hash the node reports.
    pub fn send_raw_transaction(&self, raw: &[u8]) -> Result<B256, RpcError> {
        let m = "eth_sendRawTransaction";
        let v = self.call(m, json!([format!("0x{}", hex::encode(raw))]))?;
        self.hash(m, &v)
    }

    /// `eth_getTransactionReceipt`: `None` while the transaction is pending or unknown.
    pub fn transaction_receipt(&self, hash: B256) -> Result<Option<Receipt>, RpcError> {
        let m = "eth_getTransactionReceipt";
        let v = self.call(m, json!([hash.to_string()]))?;
        if v.is_null() {
            return Ok(None);
        }
        let status = self.quantity_u64(m, field(&v, "status"))?;
        let contract_address = match v.get("contractAddress") {
            None | Some(Value::Null) => None,
            Some(a) => Some(self.address(m, a)?),
        };
        let logs = field(&v, "logs")
            .as_array()
            .ok_or_else(|| self.garbage(m, "logs is not an array"))?
            .iter()
            .map(|l| {
                Ok(Log {
                    address: self.address(m, field(l, "address"))?,
                    topics: field(l, "topics")
                        .as_array()
                        .ok_or_else(|| self.garbage(m, "topics is not an array"))?
                        .iter()
                        .map(|t| self.hash(m, t))
                        .collect::<Result<_, _>>()?,
                    data: self.data(m, field(l, "data"))?,
                })
            })
            .collect::<Result<Vec<_>, RpcError>>()?;
        let receipt = Receipt {
            transaction_hash: self.hash(m, field(&v, "transactionHash"))?,
            block_number: self.quantity_u64(m, field(&v, "blockNumber"))?,
            success: match status {
                1 => true,
                0 => false,
                s => return Err(self.garbage(m, &format!("receipt status {s}"))),
            },
            gas_used: self.quantity_u64(m, field(&v, "gasUsed"))?,
            effective_gas_price: self.quantity_u128(m, field(&v, "effectiveGasPrice"))?,
            contract_address,
            logs,
        };
        if receipt.transaction_hash != hash {
            return Err(self.garbage(m, "receipt for a different transaction"));
        }
        Ok(Some(receipt))
    }

    /// Polls `eth_getTransactionReceipt` until the transaction is mined or `timeout` passes.
    pub fn wait_for_receipt(&self, hash: B256, timeout: Duration) -> Result<Receipt, RpcError> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(r) = self.transaction_receipt(hash)? {
                return Ok(r);
            }
            if Instant::now() >= deadline {
                return Err(self.error("eth_getTransactionReceipt", RpcErrorKind::Timeout(timeout)));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    // ---- value parsing ----

    fn garbage(&self, method: &str, what: &str) -> RpcError {
        self.error(method, RpcErrorKind::Garbage(what.to_owned()))
    }

    fn quantity(&self, method: &str, v: &Value) -> Result<U256, RpcError> {
        v.as_str()
            .and_then(parse_quantity)
            .ok_or_else(|| self.garbage(method, &format!("expected a hex quantity, got {v}")))
    }

    fn quantity_u64(&self, method: &str, v: &Value) -> Result<u64, RpcError> {
        let q = self.quantity(method, v)?;
        u64::try_from(q).map_err(|_| self.garbage(method, &format!("quantity {q} exceeds u64")))
    }

    fn quantity_u128(&self, method: &str, v: &Value) -> Result<u128, RpcError> {
        let q = self.quantity(method, v)?;
        u128::try_from(q).map_err(|_| self.garbage(method, &format!("quantity {q} exceeds u128")))
    }

    fn data(&self, method: &str, v: &Value) -> Result<Bytes, RpcError> {
        v.as_str()
            .and_then(|s| s.strip_prefix("0x"))
            .and_then(|h| hex::decode(h).ok())
            .map(Bytes::from)
            .ok_or_else(|| self.garbage(method, &format!("expected hex data, got {}", short(v))))
    }

    fn hash(&self, method: &str, v: &Value) -> Result<B256, RpcError> {
        let d = self.data(method, v)?;
        if d.len() != 32 {
            return Err(self.garbage(method, &format!("expected a 32-byte hash, got {v}")));
        }
        Ok(B256::from_slice(&d))
    }

    fn address(&self, method: &str, v: &Value) -> Result<Address, RpcError> {
        let d = self.data(method, v)?;
        if d.len() != 20 {
            return Err(self.garbage(method, &format!("expected an address, got {v}")));
        }
        Ok(Address::from_slice(&d))
    }
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or(&Value::Null)
}

/// Parses a JSON-RPC hex quantity ("0x0", "0x1a").
/// A JSON-RPC block parameter: the number as a quantity, or `latest`.
fn block_tag(block: Option<u64>) -> String {
    match block {
        Some(n) => format!("0x{n:x}"),
        None => "latest".into(),
    }
}

pub fn parse_quantity(s: &str) -> Option<U256> {
    let h = s.strip_prefix("0x")?;
    if h.is_empty() || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    U256::from_str_radix(h, 16).ok()
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}…", &s[..80])
    } else {
        s
    }
}

fn snippet(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
    if bytes.len() > 200 {
        format!("{s}…")
    } else {
        s
    }
}

fn remaining(deadline: Instant) -> Result<Duration, RpcErrorKind> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(RpcErrorKind::Timeout(Duration::ZERO))
    } else {
        Ok(left)
    }
}

/// Buffered reading of one HTTP answer under a deadline and a size cap.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    deadline: Instant,
    timeout: Duration,
    cap: usize,
    total: usize,
}

impl Reader {
    /// Reads more bytes into the buffer; `Ok(false)` at end of stream.
    fn fill(&mut self) -> Result<bool, RpcErrorKind> {
        let left = remaining(self.deadline).map_err(|_| RpcErrorKind::Timeout(self.timeout))?;
        self.stream
            .set_read_timeout(Some(left))
            .map_err(|e| RpcErrorKind::Transport(e.to_string()))?;
        let mut chunk = [0u8; 16 * 1024];
        let n = match self.stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(RpcErrorKind::Timeout(self.timeout));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(true),
            Err(e) => return Err(RpcErrorKind::Transport(e.to_string())),
        };
        if n == 0 {
            return Ok(false);
        }
        self.total += n;
        if self.total > self.cap.saturating_add(MAX_HEAD) {
            return Err(RpcErrorKind::TooLarge(self.cap));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(true)
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn eof_error(&self, what: &str) -> RpcErrorKind {
        RpcErrorKind::Transport(format!("connection closed before the end of the {what}"))
    }

    fn read_until_blank_line(&mut self) -> Result<Vec<u8>, RpcErrorKind> {
        loop {
            if let Some(i) = self.unread().windows(4).position(|w| w == b"\r\n\r\n") {
                let head = self.unread()[..i].to_vec();
                self.pos += i + 4;
                return Ok(head);
            }
            if self.unread().len() > MAX_HEAD {
                return Err(RpcErrorKind::Garbage("HTTP head too large".into()));
            }
            if !self.fill()? {
                return Err(if self.buf.is_empty() {
                    RpcErrorKind::Transport("connection closed without an answer".into())
                } else {
                    self.eof_error("HTTP head")
                });
            }
        }
    }

    fn read_line(&mut self) -> Result<String, RpcErrorKind> {
        loop {
            if let Some(i) = self.unread().windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.unread()[..i]).into_owned();
                self.pos += i + 2;
                return Ok(line);
            }
            if self.unread().len() > 1024 {
                return Err(RpcErrorKind::Garbage("chunk header too long".into()));
            }
            if !self.fill()? {
                return Err(self.eof_error("chunked body"));
            }
        }
    }

    fn read_exact_n(&mut self, n: usize) -> Result<Vec<u8>, RpcErrorKind> {
        while self.unread().len() < n {
            if !self.fill()? {
                return Err(self.eof_error("body"));
            }
        }
        let out = self.unread()[..n].to_vec();
        self.pos += n;
        Ok(out)
    }

    fn read_to_end(&mut self) -> Result<Vec<u8>, RpcErrorKind> {
        while self.fill()? {
            if self.unread().len() > self.cap {
                return Err(RpcErrorKind::TooLarge(self.cap));
            }
        }
        Ok(self.unread().to_vec())
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>, RpcErrorKind> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| RpcErrorKind::Garbage(format!("bad chunk size: {line}")))?;
            if size == 0 {
                // Trailers, then the final blank line.
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            if body.len().saturating_add(size) > self.cap {
                return Err(RpcErrorKind::TooLarge(self.cap));
            }
            body.extend(self.read_exact_n(size)?);
            if !self.read_line()?.is_empty() {
                return Err(RpcErrorKind::Garbage("chunk not followed by CRLF".into()));
            }
        }
    }
}

impl airlock_core::Classify for RpcError {
    fn severity(&self) -> airlock_core::Severity {
        airlock_core::Severity::Refused
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot fake node that answers each connection with `answer` (raw HTTP bytes).
    fn fake_node(answers: Vec<Vec<u8>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for answer in answers {
                let (mut s, _) = listener.accept().unwrap();
                read_request(&mut s);
                let _ = s.write_all(&answer);
            }
        });
        format!("http://127.0.0.1:{port}")
    }

    /// Reads a whole request (head and Content-Length body) so that closing never resets it.
    fn read_request(s: &mut TcpStream) {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..i]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if got.len() >= i + 4 + len {
                    return;
                }
            }
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn http(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn parses_urls_and_refuses_https() {
        let c = RpcClient::new("http://127.0.0.1:8545").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.path.as_str()),
            ("127.0.0.1", 8545, "/")
        );
        let c = RpcClient::new("http://[::1]:9/rpc").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.path.as_str()),
            ("::1", 9, "/rpc")
        );
        let e = RpcClient::new("https://node.example:443").unwrap_err();
        assert!(e.to_string().contains("https is not supported"), "{e}");
        assert!(RpcClient::new("ftp://x").is_err());
        assert!(RpcClient::new("http://:80").is_err());
    }

    #[test]
    fn quantities_are_strict() {
        assert_eq!(parse_quantity("0x1a"), Some(U256::from(26)));
        assert_eq!(parse_quantity("0x0"), Some(U256::ZERO));
        for bad in ["", "0x", "1a", "0xzz", "0x-1"] {
            assert_eq!(parse_quantity(bad), None, "{bad}");
        }
    }

    #[test]
    fn surfaces_rpc_errors_with_code_message_and_revert_reason() {
        // Error(string) "GS026"
        let data = "0x08c379a0\
            0000000000000000000000000000000000000000000000000000000000000020\
            0000000000000000000000000000000000000000000000000000000000000005\
            4753303236000000000000000000000000000000000000000000000000000000";
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":3,"message":"execution reverted: GS026","data":"{data}"}}}}"#
        );
        let c = RpcClient::new(&fake_node(vec![http(&body)])).unwrap();
        let e = c.chain_id().unwrap_err();
        assert!(matches!(e.kind, RpcErrorKind::Rpc { code: 3, .. }), "{e:?}");
        assert_eq!(e.revert_reason().as_deref(), Some("GS026"));
        let text = e.to_string();
        assert!(
            text.contains("node error 3") && text.contains("GS026"),
            "{text}"
        );
    }

    #[test]
    fn reads_chunked_answers() {
        let body = r#"{"jsonrpc":"2.0","id":1,"result":"0x7a69"}"#;
        let (a, b) = body.split_at(10);
        let raw = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        );
        let c = RpcClient::new(&fake_node(vec![raw.into_bytes()])).unwrap();
        assert_eq!(c.chain_id().unwrap(), 31337);
    }

    #[test]
    fn garbage_truncation_wrong_id_oversize_and_silence_are_clear_errors() {
        let url = fake_node(vec![
            b"hello there\r\n\r\n".to_vec(),
            http("<html>not json</html>"),
            http(r#"{"jsonrpc":"2.0","id":99,"result":"0x1"}"#),
            http(r#"{"jsonrpc":"2.0","id":4,"result":"12"}"#),
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"".to_vec(),
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy".to_vec(),
            b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 65\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32005,\"message\":\"slow\"}}".to_vec(),
            http(&format!(
                r#"{{"jsonrpc":"2.0","id":8,"result":"0x{}"}}"#,
                "0".repeat(4096)
            )),
            Vec::new(),
        ]);
        let c = RpcClient::new(&url).unwrap().with_max_response(1024);
        let kinds: Vec<RpcErrorKind> = (0..9).map(|_| c.chain_id().unwrap_err().kind).collect();
        let ok = [
            matches!(kinds[0], RpcErrorKind::Garbage(_)),
            matches!(kinds[1], RpcErrorKind::Garbage(_)),
            matches!(&kinds[2], RpcErrorKind::Garbage(m) if m.contains("id")),
            matches!(&kinds[3], RpcErrorKind::Garbage(m) if m.contains("quantity")),
            matches!(kinds[4], RpcErrorKind::Transport(_)),
            matches!(kinds[5], RpcErrorKind::Http { status: 503, .. }),
            matches!(&kinds[6], RpcErrorKind::Rpc { code: -32005, message, .. } if message == "slow"),
            matches!(kinds[7], RpcErrorKind::TooLarge(1024)),
            matches!(kinds[8], RpcErrorKind::Transport(_)),
        ];
        for (i, ok) in ok.iter().enumerate() {
            assert!(ok, "answer {i}: {:?}", kinds[i]);
        }
        // Nobody listening any more.
        let e = c.chain_id().unwrap_err();
        assert!(matches!(e.kind, RpcErrorKind::Unreachable(_)), "{e:?}");
    }

    #[test]
    fn a_silent_node_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(800));
            drop(s);
        });
        let c = RpcClient::new(&format!("http://127.0.0.1:{port}"))
            .unwrap()
            .with_timeout(Duration::from_millis(200));
        let start = Instant::now();
        let e = c.block_number().unwrap_err();
        assert!(matches!(e.kind, RpcErrorKind::Timeout(_)), "{e:?}");
        assert!(start.elapsed() < Duration::from_millis(700));
        hold.join().unwrap();
    }
}
