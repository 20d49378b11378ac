//! Test harness: a real `monerod --regtest --offline --fixed-difficulty 1` and a real
//! `monero-wallet-rpc` (Debian package `monero` 0.18; `scripts/install-monero.sh`), each on free
//! 127.0.0.1 ports in its own temporary directory, killed on Drop. A missing binary fails the test
//! (it never skips). `AIRLOCK_MONEROD` / `AIRLOCK_MONERO_WALLET_RPC` override the paths.
//!
//! This harness must never talk to anything but loopback.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airlock_chain_monero::keys::{MoneroNetwork, ViewKeys};
use airlock_chain_monero::subaddress::Lookahead;
use airlock_chain_monero_online::daemon::DaemonClient;
use airlock_chain_monero_online::scan::{ScanKeys, ScanState, SyncOptions, ViewScanner};
use serde_json::{Value, json};

/// The wallet of `view` scanned from `from` to the tip with the vault's scanner (a small
/// subaddress lookahead: these wallets receive on the primary address and a few subaddresses).
pub fn scan_wallet(url: &str, view: &ViewKeys, network: MoneroNetwork, from: u64) -> ScanState {
    let keys = ScanKeys::from_view_keys(view, network).unwrap();
    let lookahead = Lookahead {
        accounts: 2,
        indices: 10,
    };
    let mut scanner = ViewScanner::new(keys, lookahead);
    let mut state = ScanState::new(scanner.keys(), from, lookahead);
    sync_wallet(url, &mut scanner, &mut state);
    state
}

/// Brings `state` to the tip.
pub fn sync_wallet(url: &str, scanner: &mut ViewScanner, state: &mut ScanState) {
    let client = DaemonClient::connect(url).unwrap();
    scanner
        .sync(state, &client, SyncOptions::default())
        .expect("scan");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

fn binary(env: &str, name: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| {
        for dir in ["/usr/bin", "/usr/local/bin"] {
            let p = format!("{dir}/{name}");
            if std::path::Path::new(&p).exists() {
                return p;
            }
        }
        panic!(
            "{name} not found: run scripts/install-monero.sh (Debian package monero) or set {env}"
        )
    })
}

/// POST `body` to `http://127.0.0.1:port/path`, returns the JSON answer.
pub fn http_json(port: u16, path: &str, body: &Value) -> Result<Value, String> {
    let body = body.to_string();
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect {port}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&answer);
    let (head, payload) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP body from port {port}"))?;
    let payload = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    serde_json::from_str(&payload).map_err(|e| format!("bad JSON from port {port}: {e}: {payload}"))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

pub fn json_rpc(port: u16, method: &str, params: Value) -> Result<Value, String> {
    let answer = http_json(
        port,
        "/json_rpc",
        &json!({"jsonrpc": "2.0", "id": "0", "method": method, "params": params}),
    )?;
    if let Some(err) = answer.get("error") {
        return Err(format!("{method}: {err}"));
    }
    Ok(answer["result"].clone())
}

/// A regtest monerod of its own.
pub struct Monerod {
    child: Child,
    pub rpc_port: u16,
    pub p2p_port: u16,
    _dir: tempfile::TempDir,
}

impl Monerod {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rpc_port = free_port();
        let p2p_port = free_port();
        let child = Command::new(binary("AIRLOCK_MONEROD", "monerod"))
            .args([
                "--regtest",
                "--offline",
                "--fixed-difficulty",
                "1",
                "--non-interactive",
                "--no-igd",
                "--no-zmq",
                "--log-level",
                "0",
                "--data-dir",
            ])
            .arg(dir.path())
            .args(["--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port"])
            .arg(rpc_port.to_string())
            .args(["--p2p-bind-ip", "127.0.0.1", "--p2p-bind-port"])
            .arg(p2p_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start monerod");
        let mut node = Monerod {
            child,
            rpc_port,
            p2p_port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(info) = json_rpc(rpc_port, "get_info", json!({}))
                && info["status"] == "OK"
            {
                break;
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("monerod exited early: {status}");
            }
            assert!(Instant::now() < deadline, "monerod did not answer in 120 s");
            std::thread::sleep(Duration::from_millis(300));
        }
        node
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    /// Mines `count` blocks to `address` in one call (faster than one by one).
    pub fn mine(&self, address: &str, count: u64) {
        let mut left = count;
        while left > 0 {
            let n = left.min(100);
            json_rpc(
                self.rpc_port,
                "generateblocks",
                json!({"amount_of_blocks": n, "wallet_address": address}),
            )
            .expect("generateblocks");
            left -= n;
        }
    }

    pub fn height(&self) -> u64 {
        json_rpc(self.rpc_port, "get_info", json!({})).unwrap()["height"]
            .as_u64()
            .unwrap()
    }
}

impl Drop for Monerod {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A monero-wallet-rpc of its own, pointed at a Monerod.
pub struct WalletRpc {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl WalletRpc {
    pub fn start(daemon: &Monerod) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(binary("AIRLOCK_MONERO_WALLET_RPC", "monero-wallet-rpc"))
            .arg("--wallet-dir")
            .arg(dir.path())
            .args([
                "--disable-rpc-login",
                "--non-interactive",
                "--trusted-daemon",
            ])
            .args(["--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port"])
            .arg(port.to_string())
            .arg("--daemon-address")
            .arg(format!("127.0.0.1:{}", daemon.rpc_port))
            .args(["--log-level", "0"])
            .arg("--log-file")
            .arg(dir.path().join("wallet-rpc.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start monero-wallet-rpc");
        let mut rpc = WalletRpc {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if json_rpc(port, "get_version", json!({})).is_ok() {
                break;
            }
            if let Ok(Some(status)) = rpc.child.try_wait() {
                panic!("monero-wallet-rpc exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "monero-wallet-rpc did not answer in 120 s"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        rpc
    }

    pub fn call(&self, method: &str, params: Value) -> Value {
        json_rpc(self.port, method, params).unwrap_or_else(|e| panic!("wallet-rpc {e}"))
    }
}

impl Drop for WalletRpc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
