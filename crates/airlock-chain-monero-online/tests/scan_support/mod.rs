//! Shared by the scan tests and `examples/scan_bench.rs`: the fixed regtest bench chain
//! (`../shared/bench/monero-scan`), a real `monerod` and `monero-wallet-rpc` on free loopback
//! ports (killed on drop, by their own pid), and a tiny JSON-RPC client for them.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The bench directory: `$MONERO_SCAN_BENCH_DIR` or `<workspace>/../shared/bench/monero-scan`.
pub fn bench_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MONERO_SCAN_BENCH_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/monero-scan")
}

/// The bench wallet (`wallet.json`).
pub struct BenchWallet {
    pub address: String,
    pub view_key: String,
    pub expected_outputs: usize,
    pub expected_amount: u64,
    pub expected_accounts: usize,
    pub expected_addresses: usize,
    pub expected_height: u64,
    pub expected_top_hash: String,
}

pub fn bench_wallet() -> BenchWallet {
    let path = bench_dir().join("wallet.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).expect("wallet.json is JSON");
    let e = &v["expected"];
    BenchWallet {
        address: v["address"].as_str().expect("address").to_owned(),
        view_key: v["view_key"].as_str().expect("view_key").to_owned(),
        expected_outputs: e["owned_outputs"].as_u64().expect("owned_outputs") as usize,
        expected_amount: e["owned_amount"].as_u64().expect("owned_amount"),
        expected_accounts: e["accounts"].as_u64().expect("accounts") as usize,
        expected_addresses: v["addresses_incl_subaddresses"]
            .as_u64()
            .expect("addresses") as usize,
        expected_height: e["height"].as_u64().expect("height"),
        expected_top_hash: e["top_hash"].as_str().expect("top_hash").to_owned(),
    }
}

/// Unpacks the bench chain into a fresh temporary directory (its `chain/` subdirectory).
pub fn unpack_bench_chain() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = dir.path().join("chain");
    std::fs::create_dir_all(&chain).expect("mkdir chain");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&chain)
        .arg("-xJf")
        .arg(bench_dir().join("chain.tar.xz"))
        .status()
        .expect("run tar");
    assert!(status.success(), "unpacking the bench chain failed");
    dir
}

/// A free loopback TCP port (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn require(binary: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(binary).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{binary} not found: run scripts/install-monero.sh (Debian package `monero`)"
    );
}

/// A child process killed (by its pid) and reaped on drop.
pub struct Proc {
    pub child: Child,
    pub name: &'static str,
}

impl Proc {
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// A regtest monerod on free loopback ports.
pub struct Monerod {
    pub proc: Proc,
    pub rpc_port: u16,
}

impl Monerod {
    /// Starts `monerod --regtest --offline --fixed-difficulty 1 --keep-fakechain` on `data_dir`.
    pub fn start(data_dir: &Path, log_dir: &Path) -> Monerod {
        require("monerod");
        for _attempt in 0..3 {
            let rpc_port = free_port();
            let p2p_port = free_port();
            let log = std::fs::File::create(log_dir.join(format!("monerod-{rpc_port}.log")))
                .expect("log file");
            let child = Command::new("monerod")
                .args([
                    "--regtest",
                    "--offline",
                    "--fixed-difficulty",
                    "1",
                    "--keep-fakechain",
                ])
                .arg("--data-dir")
                .arg(data_dir)
                .args([
                    "--rpc-bind-ip",
                    "127.0.0.1",
                    "--rpc-bind-port",
                    &rpc_port.to_string(),
                ])
                .args([
                    "--p2p-bind-ip",
                    "127.0.0.1",
                    "--p2p-bind-port",
                    &p2p_port.to_string(),
                ])
                .args([
                    "--no-igd",
                    "--no-zmq",
                    "--non-interactive",
                    "--disable-dns-checkpoints",
                ])
                .args(["--check-updates", "disabled", "--log-level", "0"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn monerod");
            let mut daemon = Monerod {
                proc: Proc {
                    child,
                    name: "monerod",
                },
                rpc_port,
            };
            if daemon.wait_ready(Duration::from_secs(120)) {
                return daemon;
            }
            daemon.proc.kill_now();
        }
        panic!(
            "monerod did not start (see the logs in {})",
            log_dir.display()
        );
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(_)) = self.proc.child.try_wait() {
                return false;
            }
            if json_rpc(self.rpc_port, "get_info", json!({})).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }
}

/// A monero-wallet-rpc bound to a monerod, wallets in `wallet_dir`.
pub struct WalletRpc {
    pub proc: Proc,
    pub rpc_port: u16,
}

impl WalletRpc {
    pub fn start(daemon_port: u16, wallet_dir: &Path, log_dir: &Path) -> WalletRpc {
        require("monero-wallet-rpc");
        std::fs::create_dir_all(wallet_dir).expect("wallet dir");
        for _attempt in 0..3 {
            let rpc_port = free_port();
            let log = std::fs::File::create(log_dir.join(format!("wallet-rpc-{rpc_port}.stdout")))
                .expect("log file");
            let child = Command::new("monero-wallet-rpc")
                .arg("--wallet-dir")
                .arg(wallet_dir)
                .args([
                    "--disable-rpc-login",
                    "--daemon-address",
                    &format!("127.0.0.1:{daemon_port}"),
                    "--trusted-daemon",
                ])
                .args([
                    "--rpc-bind-ip",
                    "127.0.0.1",
                    "--rpc-bind-port",
                    &rpc_port.to_string(),
                ])
                .arg("--shared-ringdb-dir")
                .arg(wallet_dir.join("ringdb"))
                .arg("--log-file")
                .arg(log_dir.join(format!("wallet-rpc-{rpc_port}.log")))
                .args(["--log-level", "0", "--non-interactive", "--no-dns"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn monero-wallet-rpc");
            let mut wallet = WalletRpc {
                proc: Proc {
                    child,
                    name: "monero-wallet-rpc",
                },
                rpc_port,
            };
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(60) {
                if let Ok(Some(_)) = wallet.proc.child.try_wait() {
                    break;
                }
                if json_rpc(rpc_port, "get_version", json!({})).is_ok() {
                    json_rpc(rpc_port, "auto_refresh", json!({"enable": false}))
                        .expect("auto_refresh");
                    return wallet;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            wallet.proc.kill_now();
        }
        panic!(
            "monero-wallet-rpc did not start (see {})",
            log_dir.display()
        );
    }

    pub fn call(&self, method: &str, params: Value) -> Value {
        json_rpc(self.rpc_port, method, params)
            .unwrap_or_else(|e| panic!("wallet rpc {method}: {e}"))
    }
}

/// One JSON-RPC call to `127.0.0.1:port/json_rpc` (HTTP/1.1, reads exactly Content-Length).
pub fn json_rpc(port: u16, method: &str, params: Value) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "id": "0", "method": method, "params": params}).to_string();
    let raw = http_post(port, "/json_rpc", body.as_bytes())?;
    let value: Value = serde_json::from_slice(&raw).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(error) = value.get("error") {
        return Err(format!("{method}: {error}"));
    }
    Ok(value["result"].clone())
}

pub fn http_post(port: u16, path: &str, body: &[u8]) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(600)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())?;
    stream.write_all(body).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let header_end = loop {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the headers".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let headers = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    if !headers.starts_with("http/1.1 200") && !headers.starts_with("http/1.0 200") {
        return Err(format!(
            "HTTP status: {}",
            headers.lines().next().unwrap_or("")
        ));
    }
    let length: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or("no content-length")?;
    let mut body = buf[header_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed mid-body".into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(body)
}

/// wallet2's view of a wallet: owned outputs (as `(txid, amount, account, minor)`), per account.
pub fn wallet2_incoming(wallet: &WalletRpc) -> Vec<(String, u64, u32, u32, u64)> {
    let accounts = wallet.call("get_accounts", json!({}));
    let mut out = Vec::new();
    for account in accounts["subaddress_accounts"]
        .as_array()
        .expect("accounts")
    {
        let index = account["account_index"].as_u64().expect("index");
        let transfers = wallet.call(
            "incoming_transfers",
            json!({"transfer_type": "all", "account_index": index}),
        );
        for t in transfers["transfers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            out.push((
                t["tx_hash"].as_str().expect("tx_hash").to_owned(),
                t["amount"].as_u64().expect("amount"),
                t["subaddr_index"]["major"].as_u64().expect("major") as u32,
                t["subaddr_index"]["minor"].as_u64().expect("minor") as u32,
                t["global_index"].as_u64().expect("global_index"),
            ));
        }
    }
    out.sort();
    out
}

/// Creates a fresh view-only wallet2 from (address, view key) with restore height 0.
pub fn wallet2_view_only(
    wallet: &WalletRpc,
    name: &str,
    address: &str,
    view_key: &str,
    restore_height: u64,
) {
    let r = wallet.call(
        "generate_from_keys",
        json!({"filename": name, "password": "", "address": address, "viewkey": view_key,
               "restore_height": restore_height, "autosave_current": false}),
    );
    assert!(
        r["info"].as_str().unwrap_or("").contains("Watch-only"),
        "{r}"
    );
}
