//! Monero end to end through the real binaries against a real `monerod --regtest --offline
//! --fixed-difficulty 1` (Debian package `monero` 0.18; `scripts/install-monero.sh`), started by
//! the test on free 127.0.0.1 ports and killed on drop, and an independent `monero-wallet-rpc`
//! view-only wallet that must agree with Airlock.
//!
//! The signer creates (and restores) the offline wallet and exports the view-only JSON; the
//! coordinator drafts a `monero` vault from it; the test mines to the vault; the coordinator syncs
//! (balance unverified until key images cross the gap), exports outputs, the signer signs key
//! images, the coordinator imports them; a payment is proposed, approved offline, finalized,
//! broadcast, mined and confirmed, and the recipient's view-only wallet sees it. Hostile cases:
//! key-image and outputs files of another wallet, a forged key image, a replayed broadcast.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const XMR: u64 = 1_000_000_000_000;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn binary(env: &str, name: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| {
        for dir in ["/usr/bin", "/usr/local/bin"] {
            let p = format!("{dir}/{name}");
            if Path::new(&p).exists() {
                return p;
            }
        }
        panic!(
            "{name} not found: run scripts/install-monero.sh (Debian package monero) or set {env}"
        )
    })
}

/// One JSON-RPC call. The answer is read to its Content-Length on a kept-alive connection:
/// epee (monerod, monero-wallet-rpc) may cut a large answer short when asked to close.
fn json_rpc(port: u16, method: &str, params: Value) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "id": "0", "method": method, "params": params}).to_string();
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect {port}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    write!(
        stream,
        "POST /json_rpc HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        // A signal may interrupt the read (EINTR): read again.
        let n = match stream.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => other.map_err(|e| e.to_string())?,
        };
        if n == 0 {
            return Err(format!("no HTTP answer from port {port}"));
        }
        answer.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Content-Length from port {port}: {head}"))?;
    let mut payload = vec![0u8; length];
    stream
        .read_exact(&mut payload)
        .map_err(|e| format!("port {port}: answer cut short: {e}"))?;
    let value: Value =
        serde_json::from_slice(&payload).map_err(|e| format!("bad JSON from {port}: {e}"))?;
    if let Some(err) = value.get("error") {
        return Err(format!("{method}: {err}"));
    }
    Ok(value["result"].clone())
}

/// A process killed on drop, with its temporary directory.
struct Peer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    fn wait_for(mut self, method: &str) -> Peer {
        let deadline = Instant::now() + Duration::from_secs(120);
        while json_rpc(self.port, method, json!({})).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("peer on port {} exited early: {status}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "peer on {} did not answer",
                self.port
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        self
    }

    fn call(&self, method: &str, params: Value) -> Value {
        json_rpc(self.port, method, params).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn monerod() -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
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
        .arg(port.to_string())
        .args(["--p2p-bind-ip", "127.0.0.1", "--p2p-bind-port"])
        .arg(free_port().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start monerod");
    Peer {
        child,
        port,
        _dir: dir,
    }
    .wait_for("get_info")
}

fn wallet_rpc(daemon: &Peer) -> Peer {
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
        .arg(format!("127.0.0.1:{}", daemon.port))
        .args(["--log-level", "0", "--log-file"])
        .arg(dir.path().join("wallet-rpc.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start monero-wallet-rpc");
    Peer {
        child,
        port,
        _dir: dir,
    }
    .wait_for("get_version")
}

fn mine(daemon: &Peer, address: &str, count: u64) {
    let mut left = count;
    while left > 0 {
        let n = left.min(100);
        daemon.call(
            "generateblocks",
            json!({"amount_of_blocks": n, "wallet_address": address}),
        );
        left -= n;
    }
}

/// An independent view-only wallet (wallet2) from the view-only JSON a signer exported.
fn view_only_wallet(rpc: &Peer, view: &Value, name: &str) {
    rpc.call(
        "generate_from_keys",
        json!({
            "filename": name, "password": "", "address": view["primary_address"],
            "viewkey": view["view_key"], "restore_height": view["restore_height"],
        }),
    );
    rpc.call("refresh", json!({}));
}

fn amount(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
        .unwrap_or_else(|| panic!("not an amount: {v}"))
}

/// A regtest monerod and a coordinator configured with it (and the daemon's URL).
fn coordinator_on_monerod() -> (Peer, World, String) {
    let daemon = monerod();
    let w = World::new();
    w.init_coordinator();
    let url = format!("http://127.0.0.1:{}", daemon.port);
    w.airlock(&["chain", "monero", "--daemon", &url]).ok();
    (daemon, w, url)
}

/// Registers the 1-of-1 regtest vault `cold` of `alice`'s wallet.
fn cold_vault(w: &World, alice: &str, address: &str, account: &str) {
    w.make_vault(
        &[
            "--vault",
            "cold",
            "--chain",
            "monero",
            "--network",
            "regtest",
            "--account",
            account,
            "--signer",
            &format!("alice:ops:{alice}:{address}"),
            "--threshold",
            "1",
        ],
        &["alice"],
        &["alice"],
    );
}

/// A signer with a new regtest Monero wallet; returns its `export-view --json` output.
fn xmr_signer(w: &World, who: &str) -> (String, Value) {
    let id = w.init_signer(who);
    let words = w.p(&format!("{who}.words"));
    let new = w
        .signer(
            who,
            &[
                "--json",
                "xmr",
                "new",
                "--network",
                "regtest",
                "--restore-height",
                "0",
                "--words-out",
                s(&words),
            ],
        )
        .ok()
        .json();
    let view_file = w.p(&format!("{who}-view.json"));
    let artifact = w.p(&format!("{who}-view.airlock"));
    let view = w
        .signer(
            who,
            &[
                "--json",
                "xmr",
                "export-view",
                "--out",
                s(&view_file),
                "--artifact",
                s(&artifact),
            ],
        )
        .ok()
        .json();
    assert_eq!(view["primary_address"], new["primary_address"]);
    (id, view)
}

#[test]
fn monero_vault_from_offline_wallet_to_confirmed_payment() {
    let (daemon, w, _) = coordinator_on_monerod();

    // 1. The offline wallet: seed words only in the 0600 file, restore gives the same wallet.
    let (alice, view) = xmr_signer(&w, "alice");
    let address = view["primary_address"].as_str().unwrap().to_owned();
    let words_file = w.p("alice.words");
    let words = std::fs::read_to_string(&words_file).unwrap();
    assert_eq!(words.split_whitespace().count(), 25);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&words_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    w.init_signer("restored");
    let restored = w
        .signer(
            "restored",
            &[
                "--json",
                "xmr",
                "restore",
                "--words-file",
                s(&words_file),
                "--network",
                "regtest",
                "--restore-height",
                "0",
            ],
        )
        .ok()
        .json();
    assert_eq!(restored["primary_address"].as_str(), Some(address.as_str()));
    // The recipient: another offline wallet (its view-only JSON feeds an independent wallet2).
    let (_, carol_view) = xmr_signer(&w, "carol");
    let carol = carol_view["primary_address"].as_str().unwrap().to_owned();

    // 2. The view-only vault, its account text from Feather's JSON.
    let account = w
        .airlock(&[
            "xmr",
            "vault-account",
            "--view-file",
            s(&w.p("alice-view.json")),
            "--network",
            "regtest",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(account, view["account"].as_str().unwrap());
    // The same account from the signer's signed account-export artifact, which names its
    // network and the signer that signed it; altered or for another network, it is refused.
    let artifact = w.p("alice-view.airlock");
    let from_artifact = w
        .airlock(&[
            "--json",
            "xmr",
            "vault-account",
            "--view-file",
            s(&artifact),
        ])
        .ok()
        .json();
    assert_eq!(from_artifact["account"].as_str(), Some(account.as_str()));
    assert_eq!(from_artifact["network"], "regtest");
    assert_eq!(from_artifact["signed_by"].as_str(), Some(alice.as_str()));
    w.airlock(&[
        "xmr",
        "vault-account",
        "--view-file",
        s(&artifact),
        "--network",
        "mainnet",
    ])
    .fails(1, "not mainnet");
    let armored = std::fs::read_to_string(&artifact).unwrap();
    let body_line = armored
        .lines()
        .position(|l| l.len() > 40 && !l.starts_with("-----"))
        .unwrap();
    let mut lines: Vec<String> = armored.lines().map(str::to_owned).collect();
    let flipped: String = lines[body_line]
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 20 {
                if c == 'A' { 'B' } else { 'A' }
            } else {
                c
            }
        })
        .collect();
    lines[body_line] = flipped;
    let altered = w.p("altered.airlock");
    std::fs::write(&altered, lines.join("\n") + "\n").unwrap();
    let out = w.airlock(&["xmr", "vault-account", "--view-file", s(&altered)]);
    assert_eq!(
        out.code, 1,
        "an altered account export was accepted: {out:?}"
    );
    assert!(!out.stdout.contains("view_key="), "{out:?}");
    assert!(
        account.starts_with(&format!("{address} view_key=")),
        "{account}"
    );
    cold_vault(&w, &alice, &address, &account);

    // A vault whose view key is not its address's is refused before anything is logged.
    let forged_account = account.replace(
        view["view_key"].as_str().unwrap(),
        carol_view["view_key"].as_str().unwrap(),
    );
    w.airlock(&[
        "vault",
        "draft",
        "--vault",
        "forged",
        "--chain",
        "monero",
        "--network",
        "regtest",
        "--account",
        &forged_account,
        "--signer",
        &format!("alice:ops:{alice}:{address}"),
        "--threshold",
        "1",
        "--out",
        s(&w.p("forged.draft")),
    ])
    .fails(1, "does not belong");

    // 3. Funds: 300 coinbase outputs to the vault, 20 to a wallet2 wallet with spend keys (the
    // funder), then 60 blocks elsewhere to unlock them.
    let funder = wallet_rpc(&daemon);
    funder.call(
        "create_wallet",
        json!({"filename": "funder", "password": "", "language": "English"}),
    );
    let funder_address = funder.call("get_address", json!({"account_index": 0}))["address"]
        .as_str()
        .unwrap()
        .to_owned();
    mine(&daemon, &address, 300);
    mine(&daemon, &funder_address, 20);
    mine(&daemon, &carol, 60);
    let synced = w
        .airlock(&["--json", "xmr", "sync", "--vault", "cold"])
        .ok()
        .json();
    let coinbase_total = amount(&synced["total"]);
    assert!(coinbase_total > 0, "{synced}");
    assert_eq!(synced["outputs"], 300);
    assert_eq!(synced["sync"]["scanned_from"], 0);
    assert_eq!(
        amount(&synced["unverified"]),
        coinbase_total,
        "no key image yet"
    );
    assert_eq!(
        amount(&synced["unlocked"]),
        coinbase_total,
        "60 blocks passed"
    );

    // Receive addresses are subaddresses the scan watches: the funder pays 40 XMR to 0/1 (the
    // account's next unused index) and 0.5 XMR to 1/5; one beyond the lookahead is refused.
    let sub_0_1 = w
        .airlock(&["--json", "xmr", "receive", "--vault", "cold"])
        .ok()
        .json();
    assert_eq!(
        (sub_0_1["account"].as_u64(), sub_0_1["index"].as_u64()),
        (Some(0), Some(1))
    );
    let sub_1_5 = w
        .airlock(&[
            "--json",
            "xmr",
            "receive",
            "--vault",
            "cold",
            "--account",
            "1",
            "--index",
            "5",
        ])
        .ok()
        .json();
    assert_ne!(sub_0_1["address"], sub_1_5["address"]);
    assert_ne!(sub_0_1["address"].as_str(), Some(address.as_str()));
    w.airlock(&["xmr", "receive", "--vault", "cold", "--index", "500"])
        .fails(1, "beyond what the vault's scan watches");
    funder.call("refresh", json!({}));
    let funding = funder.call(
        "transfer",
        json!({"destinations": [
            {"amount": 40 * XMR, "address": sub_0_1["address"]},
            {"amount": XMR / 2, "address": sub_1_5["address"]},
        ]}),
    );
    assert!(funding["tx_hash"].is_string(), "{funding}");
    // The funding transaction must be in the first block mined after it: monerod can build that
    // block from a template made before the transaction reached its pool. Mine one block at a
    // time until it is in one, then the rest of the ten that unlock it.
    let mut mined = 0;
    loop {
        mine(&daemon, &carol, 1);
        mined += 1;
        funder.call("refresh", json!({}));
        let t = funder.call("get_transfer_by_txid", json!({"txid": funding["tx_hash"]}));
        if t["transfer"]["height"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(mined < 10, "the funding transaction was never mined: {t}");
    }
    mine(&daemon, &carol, 9);
    let synced = w
        .airlock(&["--json", "xmr", "sync", "--vault", "cold"])
        .ok()
        .json();
    assert_eq!(
        synced["sync"]["blocks_scanned"],
        mined + 9,
        "only the new blocks: {synced}"
    );
    assert_eq!(synced["sync"]["new_outputs"], 2, "{synced}");
    // Each sync that found something committed the vault's outputs to the log.
    let verified = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(verified["state_commitments"], 2, "{verified}");
    let total = amount(&synced["total"]);
    assert_eq!(total, coinbase_total + 40 * XMR + XMR / 2);
    assert_eq!(amount(&synced["unlocked"]), total, "10 blocks passed");
    let listed = w
        .airlock(&["--json", "xmr", "outputs", "--vault", "cold"])
        .ok()
        .json();
    let mut received_at: Vec<(u64, u64, u64, String)> = listed["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["coinbase"] == false)
        .map(|o| {
            (
                o["account"].as_u64().unwrap(),
                o["index"].as_u64().unwrap(),
                amount(&o["amount"]),
                o["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    received_at.sort(); // wallet2 shuffles a transaction's outputs
    assert_eq!(
        received_at,
        vec![
            (0, 1, 40 * XMR, "needs key image".to_owned()),
            (1, 5, XMR / 2, "needs key image".to_owned()),
        ]
    );

    // wallet2, view-only from the same address and view key, sees the same funds.
    let peer = wallet_rpc(&daemon);
    view_only_wallet(&peer, &view, "vault");
    let theirs = peer.call("get_balance", json!({"all_accounts": true}));
    assert_eq!(amount(&theirs["balance"]), total, "{theirs}");
    assert_eq!(amount(&theirs["unlocked_balance"]), total, "{theirs}");
    // … and the same transfers: per transaction and account, the same amounts.
    let mut wallet2_transfers = std::collections::BTreeMap::new();
    let incoming = peer.call("get_transfers", json!({"in": true, "all_accounts": true}));
    for t in incoming["in"].as_array().unwrap() {
        let key = (
            t["txid"].as_str().unwrap().to_owned(),
            t["subaddr_index"]["major"].as_u64().unwrap(),
        );
        *wallet2_transfers.entry(key).or_insert(0) += amount(&t["amount"]);
    }
    let mut airlock_transfers = std::collections::BTreeMap::new();
    for o in listed["outputs"].as_array().unwrap() {
        let key = (
            o["tx_hash"].as_str().unwrap().to_owned(),
            o["account"].as_u64().unwrap(),
        );
        *airlock_transfers.entry(key).or_insert(0) += amount(&o["amount"]);
    }
    assert_eq!(airlock_transfers.len(), 302);
    assert_eq!(airlock_transfers, wallet2_transfers);

    // A vault whose restore height is above the wallet's first output would miss funds: its
    // first sync is refused, naming the block; one above the chain's height as well.
    for (vault_id, height, expected) in [
        ("late", "350", "above the wallet's first output"),
        ("future", "100000", "above the chain's height"),
    ] {
        let late_account = account.replace("restore_height=0", &format!("restore_height={height}"));
        w.make_vault(
            &[
                "--vault",
                vault_id,
                "--chain",
                "monero",
                "--network",
                "regtest",
                "--account",
                &late_account,
                "--signer",
                &format!("alice:ops:{alice}:{address}"),
                "--threshold",
                "1",
            ],
            &["alice"],
            &["alice"],
        );
        w.airlock(&["xmr", "sync", "--vault", vault_id])
            .fails(1, expected);
        w.airlock(&["xmr", "balance", "--vault", vault_id])
            .fails(1, "never synced");
    }

    // Without key images the coordinator cannot know what is spent: it refuses to build.
    w.airlock(&[
        "propose",
        "--vault",
        "cold",
        "--to",
        &format!("{carol}:{XMR}"),
    ])
    .fails(1, "no key image yet");

    // Key images across the gap.
    let (outputs, key_images) = sign_key_images(&w, "alice", "cold");

    // Hostile files first: another wallet's labels, a forged key image; nothing changes.
    let good_ki = std::fs::read(&key_images).unwrap();
    let relabelled = w.p("ki-other.bin");
    let forged = swap_bytes(&good_ki, address.as_bytes(), carol.as_bytes());
    std::fs::write(&relabelled, &forged).unwrap();
    w.airlock(&[
        "xmr",
        "import-key-images",
        "--vault",
        "cold",
        s(&relabelled),
    ])
    .fails(1, "not this wallet's");
    let mut flipped = good_ki.clone();
    let last = flipped.len() - 70; // inside the last key image
    flipped[last] ^= 1;
    let flipped_file = w.p("ki-flipped.bin");
    std::fs::write(&flipped_file, &flipped).unwrap();
    let out = w.airlock(&[
        "xmr",
        "import-key-images",
        "--vault",
        "cold",
        s(&flipped_file),
    ]);
    assert_ne!(out.code, 0, "a forged key image was accepted");
    let other_outputs = w.p("outputs-other.bin");
    std::fs::write(
        &other_outputs,
        swap_bytes(
            &std::fs::read(&outputs).unwrap(),
            address.as_bytes(),
            carol.as_bytes(),
        ),
    )
    .unwrap();
    w.signer(
        "alice",
        &[
            "xmr",
            "sign-key-images",
            s(&other_outputs),
            "--vault",
            "cold",
            "--out",
            s(&w.p("ki-refused.bin")),
        ],
    )
    .fails(1, "the outputs file is for");
    let still = w
        .airlock(&["--json", "xmr", "balance", "--vault", "cold"])
        .ok()
        .json();
    assert_eq!(amount(&still["unverified"]), total);

    w.airlock(&[
        "xmr",
        "import-key-images",
        "--vault",
        "cold",
        s(&key_images),
    ])
    .ok();
    let verified = w
        .airlock(&["--json", "xmr", "balance", "--vault", "cold"])
        .ok()
        .json();
    assert_eq!(amount(&verified["unverified"]), 0, "{verified}");
    assert_eq!(amount(&verified["total"]), total);
    // The service shows the same synced state on the vault's page and in /metrics.
    {
        let server = Server::start(&w, &[]);
        let page = common::http::get(&format!("{}/api/v1/vaults/cold", server.url)).json();
        assert_eq!(page["synced"]["balance"], total.to_string(), "{page}");
        assert_eq!(page["synced"]["unverified"], "0", "{page}");
        let metrics = common::http::get(&format!("{}/metrics", server.url));
        let metrics = String::from_utf8_lossy(&metrics.body);
        assert!(
            metrics.contains("airlock_vault_synced_height{vault=\"cold\"}")
                && metrics.contains("airlock_vault_sync_age_seconds{vault=\"cold\"}"),
            "{metrics}"
        );

        // While the service holds the home, the service syncs: on an operator's signed request
        // (here through `airlock --server … xmr sync`), never a proposer's or a stranger's.
        let height = page["synced"]["height"].as_u64().unwrap();
        mine(&daemon, &carol, 2);
        let home = w.coordinator_home();
        run(
            &airlock_bin(),
            &["--home", s(&home), "xmr", "sync", "--vault", "cold"],
            w.now.get(),
            &[("AIRLOCK_LOCK_WAIT", "0.2")],
        )
        .fails(4, "is busy");
        let olga = common::http::add_member(&w, "olga", "operator");
        let pete = common::http::add_member(&w, "pete", "proposer");
        let remote_sync = |member: &common::http::TestMember| {
            run(
                &airlock_bin(),
                &[
                    "--home",
                    "/nonexistent/airlock-laptop",
                    "--server",
                    &server.url,
                    "--member-key",
                    s(&member.file),
                    "--json",
                    "xmr",
                    "sync",
                    "--vault",
                    "cold",
                ],
                w.now.get(),
                &[("AIRLOCK_PASSPHRASE_FILE", s(&member.pass))],
            )
        };
        remote_sync(&pete).fails(1, "not a operator of vault cold");
        let unsigned = common::http::post(
            &format!("{}/api/v1/vaults/cold/sync", server.url),
            "application/json",
            b"{}",
        );
        unsigned.problem(401, "not signed");
        let answer = remote_sync(&olga).ok().json();
        assert_eq!(answer["by"], "olga", "{answer}");
        assert_eq!(answer["synced"]["height"], height + 2, "{answer}");
        assert_eq!(answer["synced"]["summary"]["blocks_scanned"], 2, "{answer}");
        assert_eq!(answer["synced"]["balance"], total.to_string(), "{answer}");
        let page = common::http::get(&format!("{}/api/v1/vaults/cold", server.url)).json();
        assert_eq!(page["synced"]["height"], height + 2, "{page}");
        drop(server);

        // `serve --sync-every` keeps every vault synced by itself.
        let server = Server::start(&w, &["--sync-every", "1"]);
        mine(&daemon, &carol, 1);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let page = common::http::get(&format!("{}/api/v1/vaults/cold", server.url)).json();
            if page["synced"]["height"] == height + 3 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the service did not sync within 60 s: {page}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // A Monero vault pays XMR only.
    w.airlock(&[
        "propose",
        "--vault",
        "cold",
        "--to",
        &format!("{carol}:{XMR}:USDT"),
    ])
    .fails(1, "XMR only");

    // 4. A payment: proposed, reviewed and signed offline, finalized, broadcast, confirmed.
    let pay = 3 * XMR / 2;
    let (proposal, bundle) = w.propose("cold", &format!("{carol}:{pay}"), &[]);
    let review = w
        .signer("alice", &["--json", "review", s(&bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], true, "{review}");
    let fee = amount(&review["fee"]);
    assert!(fee > 0 && fee < XMR / 100, "{review}");
    let approval = w.approve("alice", &bundle);
    w.submit(&[&approval]).ok();
    let fin = w.airlock(&["--json", "finalize", &proposal]).ok().json();
    w.airlock(&["broadcast", &proposal]).ok();
    mine(&daemon, &carol, 1);
    w.airlock(&["confirm", &proposal]).ok();
    assert_eq!(w.status(&proposal)["status"], "confirmed");

    let after = w
        .airlock(&["--json", "xmr", "sync", "--vault", "cold"])
        .ok()
        .json();
    assert_eq!(amount(&after["total"]), total - pay - fee, "{after}");
    // The input was the largest output, the 40 XMR at subaddress 0/1: the scan saw it spent by
    // key image. The change is new, yet its key image is known: the signer proved it with the
    // signed transaction, and finalize kept it until the scan found the change.
    assert_eq!(amount(&after["unverified"]), 0, "{after}");
    assert_eq!(
        amount(&after["unlocked"]),
        total - 40 * XMR,
        "the change is locked for 10 blocks: {after}"
    );
    let listed = w
        .airlock(&["--json", "xmr", "outputs", "--vault", "cold"])
        .ok()
        .json();
    let spent: Vec<&Value> = listed["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["status"] == "spent")
        .collect();
    assert_eq!(spent.len(), 1, "{listed}");
    assert_eq!(
        (spent[0]["account"].as_u64(), spent[0]["index"].as_u64()),
        (Some(0), Some(1))
    );
    let change = 40 * XMR - pay - fee;
    let change_output: Vec<&Value> = listed["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| amount(&o["amount"]) == change)
        .collect();
    assert_eq!(change_output.len(), 1, "{listed}");
    assert_eq!(change_output[0]["status"], "locked", "{listed}");

    // 5. Ten blocks later the change (the largest output now) pays again, with no key-image
    // round trip in between.
    mine(&daemon, &carol, 10);
    w.airlock(&["xmr", "sync", "--vault", "cold"]).ok();
    let second = 2 * XMR;
    let (proposal2, bundle2) = w.propose("cold", &format!("{carol}:{second}"), &[]);
    let review2 = w
        .signer("alice", &["--json", "review", s(&bundle2)])
        .ok()
        .json();
    let fee2 = amount(&review2["fee"]);
    // One input, the change: what comes back is the change less the payment and the fee.
    assert_eq!(review2["spends"].as_array().unwrap().len(), 1, "{review2}");
    assert_eq!(
        amount(&review2["change"][0][1]),
        change - second - fee2,
        "{review2}"
    );
    let approval2 = w.approve("alice", &bundle2);
    w.submit(&[&approval2]).ok();
    w.airlock(&["finalize", &proposal2]).ok();
    w.airlock(&["broadcast", &proposal2]).ok();
    mine(&daemon, &carol, 1);
    w.airlock(&["confirm", &proposal2]).ok();
    let after = w
        .airlock(&["--json", "xmr", "sync", "--vault", "cold"])
        .ok()
        .json();
    assert_eq!(
        amount(&after["total"]),
        total - pay - fee - second - fee2,
        "{after}"
    );
    assert_eq!(amount(&after["unverified"]), 0, "{after}");

    // The recipient's independent view-only wallet sees the payment.
    let carol_peer = wallet_rpc(&daemon);
    view_only_wallet(&carol_peer, &carol_view, "carol");
    let transfers = carol_peer.call("get_transfers", json!({"in": true}));
    let received: u64 = transfers["in"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "in")
        .map(|t| amount(&t["amount"]))
        .sum();
    assert_eq!(received, pay + second, "{transfers}");
    let _ = fin;

    // A replayed broadcast is refused with a clear error.
    let replay = w.airlock(&["broadcast", &proposal]);
    assert_ne!(replay.code, 0, "a replayed broadcast was accepted");
    let said = format!("{}{}", replay.stdout, replay.stderr).to_lowercase();
    assert!(
        said.contains("double spend") || said.contains("already"),
        "{said}"
    );

    // monerod goes away: the sync fails naming it, and the saved state is untouched.
    drop(carol_peer);
    drop(peer);
    drop(funder);
    drop(daemon);
    w.airlock(&["xmr", "sync", "--vault", "cold"])
        .fails(1, "monerod");
    let kept = w
        .airlock(&["--json", "xmr", "balance", "--vault", "cold"])
        .ok()
        .json();
    let mut after_balance = after.clone();
    after_balance.as_object_mut().unwrap().remove("sync");
    assert_eq!(kept, after_balance);
}

/// The coordinator exports `vault`'s outputs and signer `who` signs their key images; returns the
/// two files (outputs, key images).
fn sign_key_images(w: &World, who: &str, vault: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let outputs = w.p("outputs.bin");
    w.airlock(&[
        "xmr",
        "export-outputs",
        "--vault",
        vault,
        "--out",
        s(&outputs),
    ])
    .ok();
    let key_images = w.p("ki.bin");
    w.signer(
        who,
        &[
            "xmr",
            "sign-key-images",
            s(&outputs),
            "--vault",
            vault,
            "--out",
            s(&key_images),
        ],
    )
    .ok();
    (outputs, key_images)
}

/// `haystack` with every occurrence of `from` replaced by `to` (same length).
fn swap_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = haystack.to_vec();
    let mut i = 0;
    let mut found = false;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            found = true;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(found, "the address is not in the file");
    out
}

/// The offline wallet commands without a node: a polyseed wallet restores to the same address,
/// and bad input (no place for the words, an existing words file, a wrong word count, a view-only
/// JSON that is garbage or for another network) is refused with a clear error.
#[test]
fn offline_wallet_commands_and_their_refusals() {
    let w = World::new();
    w.init_coordinator();
    w.init_signer("dave");
    let words = w.p("dave.words");
    let new = w
        .signer(
            "dave",
            &[
                "--json",
                "xmr",
                "new",
                "--network",
                "stagenet",
                "--seed-kind",
                "polyseed",
                "--restore-height",
                "1000",
                "--words-out",
                s(&words),
            ],
        )
        .ok()
        .json();
    let address = new["primary_address"].as_str().unwrap().to_owned();
    assert!(address.starts_with('5'), "a stagenet address: {address}");
    assert!(
        new.get("seed_words").is_none(),
        "words went to the file only"
    );
    let text = std::fs::read_to_string(&words).unwrap();
    assert_eq!(text.split_whitespace().count(), 16);
    let out = w.signer("dave", &["xmr", "new", "--network", "stagenet"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--words-out"), "{out:?}");
    w.signer(
        "dave",
        &[
            "xmr",
            "new",
            "--network",
            "stagenet",
            "--words-out",
            s(&words),
        ],
    )
    .fails(1, "exists");

    w.init_signer("erin");
    let restored = w
        .signer(
            "erin",
            &[
                "--json",
                "xmr",
                "restore",
                "--words-file",
                s(&words),
                "--network",
                "stagenet",
                "--restore-height",
                "1000",
            ],
        )
        .ok()
        .json();
    assert_eq!(restored["primary_address"].as_str(), Some(address.as_str()));
    let short = w.p("short.words");
    let first: Vec<&str> = text.split_whitespace().take(15).collect();
    std::fs::write(&short, first.join(" ")).unwrap();
    w.signer(
        "erin",
        &[
            "xmr",
            "restore",
            "--words-file",
            s(&short),
            "--network",
            "stagenet",
            "--restore-height",
            "0",
        ],
    )
    .fails(1, "15");

    let view_file = w.p("dave-view.json");
    let view_qr = w.p("dave-view.png");
    let view = w
        .signer(
            "dave",
            &[
                "--json",
                "xmr",
                "export-view",
                "--out",
                s(&view_file),
                "--qr",
                s(&view_qr),
            ],
        )
        .ok()
        .json();
    assert_eq!(view["restore_height"], 1000);
    // The QR code holds exactly the view-only JSON (read back by zbar, an independent decoder).
    let scanned = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&view_qr)
        .output()
        .expect("zbarimg (Debian zbar-tools; scripts/test.sh installs it)");
    assert!(scanned.status.success(), "{scanned:?}");
    assert_eq!(
        String::from_utf8(scanned.stdout).unwrap().trim_end(),
        std::fs::read_to_string(&view_file).unwrap().trim_end()
    );
    let account = w
        .airlock(&[
            "xmr",
            "vault-account",
            "--view-file",
            s(&view_file),
            "--network",
            "stagenet",
        ])
        .ok()
        .stdout;
    assert_eq!(account.trim(), view["account"].as_str().unwrap());
    w.airlock(&[
        "xmr",
        "vault-account",
        "--view-file",
        s(&view_file),
        "--network",
        "mainnet",
    ])
    .fails(1, "stagenet");
    let garbage = w.p("garbage.json");
    std::fs::write(&garbage, "{\"version\":0,\"primaryAddress\":\"x\"}").unwrap();
    w.airlock(&["xmr", "vault-account", "--view-file", s(&garbage)])
        .fails(1, "lacks");
    w.init_signer("frank");
    w.signer(
        "frank",
        &["xmr", "export-view", "--out", s(&w.p("none.json"))],
    )
    .fails(1, "no Monero wallet");
}

/// Issue 12, item 8 for Monero (offline: no node needed): the vault's wallet has one spend key,
/// so exactly its holder lists the account's primary address. The coordinator refuses a draft
/// where alice is listed with another wallet's address, or where a second member lists one; a
/// draft forged that way is refused by the signers' `vault sign`, naming the member.
#[test]
fn a_monero_vault_lists_its_wallet_holder() {
    let w = World::new();
    w.init_coordinator();
    let (alice, view) = xmr_signer(&w, "alice");
    let (bob, bob_view) = xmr_signer(&w, "bob");
    let address = view["primary_address"].as_str().unwrap().to_owned();
    let other = bob_view["primary_address"].as_str().unwrap().to_owned();
    let account = view["account"].as_str().unwrap().to_owned();
    let draft = |alice_key: &str, bob_key: &str, out: &Path| {
        let bob_signer = if bob_key.is_empty() {
            format!("bob:ops:{bob}")
        } else {
            format!("bob:ops:{bob}:{bob_key}")
        };
        w.airlock(&[
            "vault",
            "draft",
            "--vault",
            "cold",
            "--chain",
            "monero",
            "--network",
            "regtest",
            "--account",
            &account,
            "--signer",
            &format!("alice:ops:{alice}:{alice_key}"),
            "--signer",
            &bob_signer,
            "--threshold",
            "1",
            "--out",
            s(out),
        ])
    };
    draft(&other, "", &w.p("x.draft")).fails(
        1,
        &format!("member alice lists {other}, which is not the vault's wallet"),
    );
    draft(&address, &other, &w.p("y.draft")).fails(1, "member bob lists");
    assert!(!w.p("x.draft").exists() && !w.p("y.draft").exists());
    let honest = w.p("cold.draft");
    draft(&address, "", &honest).ok();
    let forged = w.p("forged.draft");
    w.forge_draft(&honest, &account, &[("alice", &other)], &forged);
    for who in ["alice", "bob"] {
        let out = w.p(&format!("forged.{who}"));
        w.signer(
            who,
            &["vault", "sign", s(&forged), "--out", s(&out), "--yes"],
        )
        .fails(1, "member alice lists");
        assert!(!out.exists());
    }
    w.signer(
        "alice",
        &[
            "vault",
            "sign",
            s(&honest),
            "--out",
            s(&w.p("ok.alice")),
            "--yes",
        ],
    )
    .ok();
}

/// Every `*.scan.json` under `dir`, recursively.
fn scan_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(scan_files(&path));
        } else if path.to_string_lossy().ends_with(".scan.json") {
            found.push(path);
        }
    }
    found
}

/// Issue 14, item 4 (Monero): each `xmr sync` that finds new outputs commits them to the log; a
/// coordinator that hides one (its scan state altered, then synced again) commits a state the
/// chain contradicts, and a witness that scans the vault itself with the view key from the log
/// and its own monerod (`airlock-witness chain --monero-daemon`) halts the vault naming the
/// hidden output.
#[test]
fn a_witness_scanning_with_its_own_monerod_halts_a_vault_whose_commitment_hides_an_output() {
    let (daemon, w, url) = coordinator_on_monerod();
    let (alice, view) = xmr_signer(&w, "alice");
    let address = view["primary_address"].as_str().unwrap().to_owned();
    let log_key = log_key(&w);
    let witness = start_witness_process(&w, "witness-home", &log_key, &["--watch-every", "1"]);
    let witness_home = w.p("witness-home");
    run(
        &witness_bin(),
        &["--home", s(&witness_home), "chain", "--monero-daemon", &url],
        w.now.get(),
        &[],
    )
    .ok();
    w.make_vault(
        &[
            "--vault",
            "cold",
            "--chain",
            "monero",
            "--network",
            "regtest",
            "--account",
            view["account"].as_str().unwrap(),
            "--signer",
            &format!("alice:ops:{alice}:{address}"),
            "--threshold",
            "1",
            "--witness",
            &witness.vkey,
        ],
        &["alice"],
        &["alice"],
    );
    w.airlock(&["witness", "add", &witness.vkey, "--url", &witness.url])
        .ok();
    mine(&daemon, &address, 5);
    w.airlock(&["xmr", "sync", "--vault", "cold"]).ok();
    let honest = w.airlock(&["--json", "vault", "state", "cold"]).ok().json();
    let outputs: Vec<&str> = honest["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str().filter(|l| l.starts_with("output ")))
        .collect();
    assert_eq!(outputs.len(), 5, "five coinbase outputs: {honest}");

    // The coordinator hides its newest output and commits what it now claims.
    let scans = scan_files(&w.coordinator_home());
    assert_eq!(scans.len(), 1, "{scans:?}");
    let mut state: Value = serde_json::from_slice(&std::fs::read(&scans[0]).unwrap()).unwrap();
    let hidden = state["outputs"].as_array_mut().unwrap().pop().unwrap();
    std::fs::write(&scans[0], serde_json::to_vec(&state).unwrap()).unwrap();
    w.airlock(&["xmr", "sync", "--vault", "cold"]).ok();
    let lying = w.airlock(&["--json", "vault", "state", "cold"]).ok().json();
    assert_ne!(lying["root"], honest["root"]);
    let hidden_leaf = format!(
        "output {}:{} {}",
        hidden["tx_hash"].as_str().unwrap(),
        hidden["index_in_tx"],
        hidden["amount"]
    );
    assert!(
        outputs.contains(&hidden_leaf.as_str()),
        "{hidden_leaf} in {outputs:?}"
    );

    let server = Server::start(&w, &["--witness-every", "1"]);
    witness_follow(&w, &witness_home, &log_key, &server.url);
    let halts = wait_for_halts(&server.url, 1);
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(halts[0]["reason"], "chain", "{halts:?}");
    let detail = halts[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("does not match the witness's own scan")
            && detail.contains(&format!("on chain but not committed: [{hidden_leaf}]")),
        "{detail}"
    );
    drop(server);
    drop(witness);
}

/// Issue 14, item 4 (Monero): a payment through Airlock is explained by its finalized proposal;
/// the vault's seed used outside Airlock (restored into wallet2, which spends an output) shows
/// at the coordinator's next sync, once the signer's key images are imported, as an output spent
/// with a key image no finalized proposal spends; the verifying witness halts the vault from the
/// log alone, naming that output only.
#[test]
fn a_monero_output_spent_with_the_vault_seed_outside_airlock_halts_the_vault() {
    let (daemon, w, _) = coordinator_on_monerod();
    let (alice, view) = xmr_signer(&w, "alice");
    let address = view["primary_address"].as_str().unwrap().to_owned();
    let (_, carol) = xmr_signer(&w, "carol");
    let carol = carol["primary_address"].as_str().unwrap().to_owned();
    let log_key = log_key(&w);
    let witness = start_witness_process(&w, "witness-home", &log_key, &[]);
    w.make_vault(
        &[
            "--vault",
            "cold",
            "--chain",
            "monero",
            "--network",
            "regtest",
            "--account",
            view["account"].as_str().unwrap(),
            "--signer",
            &format!("alice:ops:{alice}:{address}"),
            "--threshold",
            "1",
            "--witness",
            &witness.vkey,
        ],
        &["alice"],
        &["alice"],
    );
    w.airlock(&["witness", "add", &witness.vkey, "--url", &witness.url])
        .ok();
    // Enough other outputs for wallet2's rings, then the vault's, then 60 blocks to unlock them.
    mine(&daemon, &carol, 300);
    mine(&daemon, &address, 3);
    mine(&daemon, &carol, 60);
    w.airlock(&["xmr", "sync", "--vault", "cold"]).ok();
    // The signer's key images, so the coordinator can see spends.
    let (_, key_images) = sign_key_images(&w, "alice", "cold");
    w.airlock(&[
        "xmr",
        "import-key-images",
        "--vault",
        "cold",
        s(&key_images),
    ])
    .ok();

    // Through Airlock: a payment, whose spend the finalized proposal explains.
    let (proposal, bundle) = w.propose("cold", &format!("{carol}:{XMR}"), &[]);
    let approval = w.approve("alice", &bundle);
    w.submit(&[&approval]).ok();
    w.airlock(&["finalize", &proposal]).ok();
    w.airlock(&["broadcast", &proposal]).ok();
    mine(&daemon, &carol, 1);
    w.airlock(&["xmr", "sync", "--vault", "cold"]).ok();
    let paid = w.airlock(&["--json", "vault", "state", "cold"]).ok().json();
    let explained: Vec<String> = paid["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str().filter(|l| l.starts_with("spent ")))
        .map(str::to_owned)
        .collect();
    assert_eq!(explained.len(), 1, "the payment's input: {paid}");

    // Outside Airlock: the seed words restored into wallet2, which spends.
    let thief = wallet_rpc(&daemon);
    let words = std::fs::read_to_string(w.p("alice.words")).unwrap();
    thief.call(
        "restore_deterministic_wallet",
        json!({"filename": "thief", "password": "", "seed": words.trim(), "restore_height": 0}),
    );
    thief.call("refresh", json!({}));
    let sent = thief.call(
        "transfer",
        json!({"destinations": [{"amount": XMR, "address": carol}]}),
    );
    assert!(sent["tx_hash"].is_string(), "{sent}");
    // Mined (a block or two: the pool may take it a moment) and seen by the coordinator's sync.
    let unexplained_spends = |state: &Value| -> Vec<String> {
        state["leaves"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l.as_str())
            .filter(|l| l.starts_with("spent ") && !explained.iter().any(|e| e == l))
            .map(str::to_owned)
            .collect()
    };
    let mut state = Value::Null;
    for _ in 0..10 {
        mine(&daemon, &carol, 1);
        w.airlock(&["xmr", "sync", "--vault", "cold"]).ok();
        state = w.airlock(&["--json", "vault", "state", "cold"]).ok().json();
        if !unexplained_spends(&state).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let spent = unexplained_spends(&state);
    assert!(
        !spent.is_empty(),
        "the coordinator never saw wallet2's spend {sent}: {state}"
    );

    let server = Server::start(&w, &["--witness-every", "1"]);
    witness_follow(&w, &w.p("witness-home"), &log_key, &server.url);
    let halts = wait_for_halts(&server.url, 1);
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(halts[0]["reason"], "chain", "{halts:?}");
    let detail = halts[0]["detail"].as_str().unwrap();
    let first_spent = spent[0].split(' ').nth(1).unwrap();
    let paid_spent = explained[0].split(' ').nth(1).unwrap();
    assert!(
        detail.contains("spent with key images no finalized proposal spends")
            && detail.contains(first_spent)
            && !detail.contains(paid_spent),
        "only the spend outside Airlock is named: {detail}"
    );
    drop(server);
    drop(witness);
}

/// One monero-wallet-cli command on the wallet file `wallet` of `rpc`'s directory (closed in
/// the RPC first); it exits 0 even when the command fails, and says "Error:" then.
fn wallet_cli(rpc: &Peer, daemon: &Peer, wallet: &str, command: &[&str]) -> String {
    let output = Command::new(binary("AIRLOCK_MONERO_WALLET_CLI", "monero-wallet-cli"))
        .arg("--wallet-file")
        .arg(rpc._dir.path().join(wallet))
        .args(["--password", "", "--trusted-daemon", "--daemon-address"])
        .arg(format!("127.0.0.1:{}", daemon.port))
        .args(["--log-level", "0", "--log-file"])
        .arg(rpc._dir.path().join("wallet-cli.log"))
        .args(command)
        .stdin(Stdio::null())
        .output()
        .expect("run monero-wallet-cli");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && !printed.contains("Error:"),
        "monero-wallet-cli {command:?}: {printed}"
    );
    printed
}

/// alice's seed restored into a wallet2 cold wallet ("cold" in a new monero-wallet-rpc), which
/// imports vault `cold`'s outputs in wallet2 0.18.0's layout; returns the RPC with the
/// coordinator's `export-outputs --json` and the RPC's `import_outputs` answers.
fn outputs_into_cold_wallet(w: &World, daemon: &Peer) -> (Peer, Value, Value) {
    let rpc = wallet_rpc(daemon);
    let words = std::fs::read_to_string(w.p("alice.words")).unwrap();
    rpc.call(
        "restore_deterministic_wallet",
        json!({"filename": "cold", "password": "", "seed": words.trim(), "restore_height": 0, "language": "English"}),
    );
    let outputs = w.p("vault.outputs");
    let exported = w
        .airlock(&[
            "--json",
            "xmr",
            "export-outputs",
            "--vault",
            "cold",
            "--format",
            "wallet2-0.18.0",
            "--out",
            s(&outputs),
        ])
        .ok()
        .json();
    let imported = rpc.call(
        "import_outputs",
        json!({"outputs_data_hex": hex::encode(std::fs::read(&outputs).unwrap())}),
    );
    (rpc, exported, imported)
}

/// wallet2 as the other side of the gap, through the binaries: the coordinator's outputs in
/// wallet2's format go to a wallet2 cold wallet and its key-images file comes back; a wallet2
/// view-only wallet's outputs export goes to `airlock-signer`, whose key-images file wallet2
/// imports. Altered and foreign files are refused, naming why, and change nothing.
#[test]
fn wallet2_wallets_sync_key_images_with_airlock_both_ways() {
    let (daemon, w, _) = coordinator_on_monerod();
    let (alice, view) = xmr_signer(&w, "alice");
    let (_, carol_view) = xmr_signer(&w, "carol");
    let address = view["primary_address"].as_str().unwrap().to_owned();
    let account = view["account"].as_str().unwrap().to_owned();
    cold_vault(&w, &alice, &address, &account);
    mine(&daemon, &address, 3);
    mine(&daemon, carol_view["primary_address"].as_str().unwrap(), 10);
    let synced = w
        .airlock(&["--json", "xmr", "sync", "--vault", "cold"])
        .ok()
        .json();
    let received = amount(&synced["total"]);
    assert!(received > 0, "{synced}");

    // The coordinator's outputs, in wallet2 0.18.0's layout, imported by the wallet2 cold wallet.
    let (rpc, exported, imported) = outputs_into_cold_wallet(&w, &daemon);
    assert_eq!(exported["outputs"], 3);
    assert_eq!(imported["num_imported"], 3, "{imported}");
    // The same key images as monero-wallet-rpc answers them (JSON), kept for later.
    let rpc_images = w.p("cold-keyimages.json");
    let answer = rpc.call("export_key_images", json!({"all": true}));
    std::fs::write(&rpc_images, answer.to_string()).unwrap();
    rpc.call("close_wallet", json!({}));
    let cold_images = rpc._dir.path().join("cold.keyimages");
    wallet_cli(
        &rpc,
        &daemon,
        "cold",
        &["export_key_images", "all", s(&cold_images)],
    );
    // Altered: refused, nothing imported.
    let mut altered = std::fs::read(&cold_images).unwrap();
    let at = altered.len() / 2;
    altered[at] ^= 0x20;
    let altered_file = w.p("altered.keyimages");
    std::fs::write(&altered_file, &altered).unwrap();
    w.airlock(&[
        "xmr",
        "import-key-images",
        "--vault",
        "cold",
        s(&altered_file),
    ])
    .fails(1, "does not authenticate under this wallet's view key");
    let balance = w
        .airlock(&["--json", "xmr", "balance", "--vault", "cold"])
        .ok()
        .json();
    assert_eq!(amount(&balance["unverified"]), received, "{balance}");
    // monero-wallet-rpc's JSON answer is accepted, then wallet2's file (nothing new left).
    for images in [&rpc_images, &cold_images] {
        let after = w
            .airlock(&[
                "--json",
                "xmr",
                "import-key-images",
                "--vault",
                "cold",
                s(images),
            ])
            .ok()
            .json();
        assert_eq!(amount(&after["unverified"]), 0, "{after}");
        assert_eq!(amount(&after["total"]), received, "{after}");
    }

    // A wallet2 view-only wallet's outputs (the RPC's hex) signed by airlock-signer.
    view_only_wallet(&rpc, &view, "watch");
    let hex_export = rpc.call("export_outputs", json!({"all": true}))["outputs_data_hex"]
        .as_str()
        .unwrap()
        .to_owned();
    let watch_outputs = w.p("watch.outputs.hex");
    std::fs::write(&watch_outputs, &hex_export).unwrap();
    let signer_images = w.p("signer.keyimages");
    let signed = w
        .signer(
            "alice",
            &[
                "--json",
                "xmr",
                "sign-key-images",
                s(&watch_outputs),
                "--vault",
                "cold",
                "--out",
                s(&signer_images),
            ],
        )
        .ok()
        .json();
    assert_eq!(
        (signed["format"].as_str(), signed["key_images"].as_u64()),
        (Some("wallet2"), Some(3))
    );
    rpc.call("close_wallet", json!({}));
    let printed = wallet_cli(
        &rpc,
        &daemon,
        "watch",
        &["import_key_images", s(&signer_images)],
    );
    assert!(printed.contains("0.000000000000 spent"), "{printed}");
    // Another wallet's wallet2 export is refused before the passphrase; no file is written.
    view_only_wallet(&rpc, &carol_view, "carol-watch");
    let theirs = rpc.call("export_outputs", json!({"all": true}))["outputs_data_hex"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(w.p("carol.outputs.hex"), theirs).unwrap();
    let refused = w.p("refused.keyimages");
    w.signer(
        "alice",
        &[
            "xmr",
            "sign-key-images",
            s(&w.p("carol.outputs.hex")),
            "--vault",
            "cold",
            "--out",
            s(&refused),
        ],
    )
    .fails(1, "does not authenticate");
    assert!(!refused.exists());
}

/// A coordinator on a regtest monerod with two offline Monero wallets: alice's (a vault's) and
/// carol's (a payee's).
struct TwoWallets {
    daemon: Peer,
    w: World,
    alice: String,
    /// alice's `export-view --json` output.
    view: Value,
    address: String,
    account: String,
    carol: String,
    carol_view: Value,
}

fn two_wallets() -> TwoWallets {
    let (daemon, w, _) = coordinator_on_monerod();
    let (alice, view) = xmr_signer(&w, "alice");
    let (_, carol_view) = xmr_signer(&w, "carol");
    let address = view["primary_address"].as_str().unwrap().to_owned();
    let account = view["account"].as_str().unwrap().to_owned();
    TwoWallets {
        daemon,
        alice,
        address,
        account,
        carol: carol_view["primary_address"].as_str().unwrap().to_owned(),
        carol_view,
        view,
        w,
    }
}

/// Registers vault `name` of alice's wallet with bob (`bob`: his identity; no Monero key)
/// beside her, `threshold` of the two.
fn vault_with_bob(t: &TwoWallets, name: &str, bob: &str, threshold: &str) {
    t.w.make_vault(
        &[
            "--vault",
            name,
            "--chain",
            "monero",
            "--network",
            "regtest",
            "--account",
            &t.account,
            "--signer",
            &format!("alice:ops:{}:{}", t.alice, t.address),
            "--signer",
            &format!("bob:ops:{bob}"),
            "--threshold",
            threshold,
        ],
        &["alice", "bob"],
        &["alice", "bob"],
    );
}

/// A wallet2 view-only wallet as the coordinator and `airlock-signer` as its cold wallet:
/// monero-wallet-rpc's `transfer` makes the unsigned set, `airlock-signer xmr sign-tx-set`
/// reviews it (payments recomputed, checked against the stated payment and the vault's rule)
/// and signs it, and monero-wallet-rpc's `submit_transfer` relays the signed set: monerod mines
/// it and the payee's own wallet2 sees the payment. A set paying another amount than stated,
/// an altered set and another wallet's set are refused and nothing is written.
#[test]
fn a_wallet2_view_only_wallet_pays_with_a_set_signed_by_airlock_signer() {
    let t = two_wallets();
    let TwoWallets {
        daemon,
        w,
        alice,
        view,
        address,
        account,
        carol,
        carol_view,
    } = &t;
    cold_vault(w, alice, address, account);
    mine(daemon, address, 3);
    mine(daemon, carol, 100);

    // The view-only wallet learns its key images from airlock-signer first, as Feather asks.
    let rpc = wallet_rpc(daemon);
    view_only_wallet(&rpc, view, "watch");
    let outputs_hex = rpc.call("export_outputs", json!({"all": true}))["outputs_data_hex"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(w.p("watch.outputs.hex"), &outputs_hex).unwrap();
    // (As the JSON monero-wallet-rpc's import_key_images takes.)
    w.signer(
        "alice",
        &[
            "xmr",
            "sign-key-images",
            s(&w.p("watch.outputs.hex")),
            "--vault",
            "cold",
            "--rpc-json",
            "--out",
            s(&w.p("watch.keyimages.json")),
        ],
    )
    .ok();
    let answer: Value =
        serde_json::from_slice(&std::fs::read(w.p("watch.keyimages.json")).unwrap()).unwrap();
    let imported = rpc.call("import_key_images", answer);
    assert_eq!(amount(&imported["spent"]), 0, "{imported}");
    assert!(amount(&imported["unspent"]) > 0, "{imported}");

    // wallet2 builds the unsigned set.
    let pay = 1_234_567_890_000u64;
    let built = rpc.call(
        "transfer",
        json!({"destinations": [{"amount": pay, "address": carol}], "do_not_relay": true}),
    );
    let unsigned = w.p("payment.unsigned");
    std::fs::write(&unsigned, built["unsigned_txset"].as_str().unwrap()).unwrap();
    let signed_file = w.p("payment.signed");
    let sign = |file: &Path, to: &str| {
        w.signer(
            "alice",
            &[
                "--json",
                "xmr",
                "sign-tx-set",
                s(file),
                "--vault",
                "cold",
                "--out",
                s(&signed_file),
                "--to",
                to,
                "--yes",
            ],
        )
    };

    // Refused, nothing written: another amount than stated, an altered set, another wallet's,
    // and a vault whose rule needs two approvals (a set is signed by one signer alone).
    sign(&unsigned, &format!("{carol}:{}", pay + 1)).fails(1, "does not match the stated intent");
    let bob = w.init_signer("bob");
    vault_with_bob(&t, "team", &bob, "2");
    w.signer(
        "alice",
        &[
            "xmr",
            "sign-tx-set",
            s(&unsigned),
            "--vault",
            "team",
            "--out",
            s(&signed_file),
            "--yes",
        ],
    )
    .fails(1, "needs 2 approvals");
    let mut altered = hex::decode(built["unsigned_txset"].as_str().unwrap()).unwrap();
    let at = altered.len() / 2;
    altered[at] ^= 1;
    std::fs::write(w.p("altered.unsigned"), &altered).unwrap();
    sign(&w.p("altered.unsigned"), &format!("{carol}:{pay}"))
        .fails(1, "does not authenticate under this wallet's view key");
    assert!(!signed_file.exists());

    // A power cut at any write of the signing (the journal, the signed set), each on a copy of
    // alice's home as it is now: the journal still verifies, and signing the set again completes
    // with one journal entry for it.
    let before = w.p("alice-before");
    copy_dir(&w.signer_home("alice"), &before);
    let pass = w.pass_file("alice");
    let sign_in = |home: &Path, envs: &[(&str, &str)]| {
        run(
            &signer_bin(),
            &[
                "--home",
                s(home),
                "--passphrase-file",
                s(&pass),
                "xmr",
                "sign-tx-set",
                s(&unsigned),
                "--vault",
                "cold",
                "--out",
                s(&home.join("signed")),
                "--yes",
            ],
            w.now.get(),
            envs,
        )
    };
    let listing = w.p("alice-listing");
    copy_dir(&before, &listing);
    let points = failpoints(&sign_in(&listing, &[("AIRLOCK_FAILPOINT", "list")]).ok());
    assert!(
        points.iter().any(|p| p.starts_with("chained-log.synced"))
            && points.iter().any(|p| p.starts_with("atomic-write.renamed")),
        "{points:?}"
    );
    for (n, point) in points.iter().enumerate() {
        let home = w.p(&format!("alice-crash-{n}"));
        copy_dir(&before, &home);
        let crash = sign_in(&home, &[("AIRLOCK_FAILPOINT", point)]);
        assert!(crashed(&crash), "{point}: {crash:#?}");
        let journal_of = |home: &Path| {
            run(
                &signer_bin(),
                &["--home", s(home), "--json", "journal", "show"],
                w.now.get(),
                &[],
            )
            .ok()
            .json()
        };
        journal_of(&home);
        sign_in(&home, &[]).ok();
        let entries = journal_of(&home);
        let for_the_set = entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["proposal"].as_str().unwrap().starts_with("wallet2-set:"))
            .count();
        assert_eq!(for_the_set, 1, "{point}: {entries}");
        let signed = std::fs::read(home.join("signed")).unwrap();
        assert!(signed.starts_with(b"Monero signed tx set\x05"), "{point}");
    }

    let signed = sign(&unsigned, &format!("{carol}:{pay}")).ok().json();
    let txid = signed["txids"][0].as_str().unwrap().to_owned();
    let signed_bytes = std::fs::read(&signed_file).unwrap();
    assert!(signed_bytes.starts_with(b"Monero signed tx set\x05"));

    // wallet2 relays it; monerod mines it; the payee's wallet2 sees exactly the payment.
    let submitted = rpc.call(
        "submit_transfer",
        json!({"tx_data_hex": hex::encode(&signed_bytes)}),
    );
    assert_eq!(submitted["tx_hash_list"][0], txid, "{submitted}");
    mine(daemon, carol, 1);
    rpc.call("refresh", json!({}));
    let sent = rpc.call("get_transfer_by_txid", json!({"txid": txid}));
    assert_eq!(sent["transfer"]["type"], "out", "{sent}");
    assert_eq!(
        amount(&sent["transfer"]["fee"]),
        amount(&built["fee"]),
        "{sent}"
    );
    rpc.call("close_wallet", json!({}));
    view_only_wallet(&rpc, carol_view, "carol-watch");
    let received = rpc.call("get_transfer_by_txid", json!({"txid": txid}));
    assert_eq!(amount(&received["transfer"]["amount"]), pay, "{received}");
    assert_eq!(received["transfer"]["type"], "in", "{received}");

    // carol's set, handed to alice's signer: not this wallet's.
    let theirs = rpc.call(
        "transfer",
        json!({"destinations": [{"amount": pay, "address": address}], "do_not_relay": true}),
    );
    std::fs::write(
        w.p("carol.unsigned"),
        theirs["unsigned_txset"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::remove_file(&signed_file).unwrap();
    sign(&w.p("carol.unsigned"), &format!("{address}:{pay}")).fails(1, "does not authenticate");
    assert!(!signed_file.exists());
}

/// Airlock's coordinator with a wallet2 cold wallet holding the vault's keys: the vault names
/// the wallet's holder (alice) and bob, an Airlock signer without the Monero key, whose
/// approval is the quorum; the proposal
/// goes to monero-wallet-rpc as wallet2's unsigned set (`describe_transfer` shows the very
/// payment and fee), its `sign_transfer` answer comes back, is checked against the proposal
/// and recorded as the finalized transaction, and `airlock broadcast` sends it: monerod mines it
/// and the payee's wallet2 sees the payment. A signed set altered, or for another proposal, is
/// refused and nothing is recorded.
#[test]
fn a_wallet2_cold_wallet_signs_an_airlock_proposal() {
    let t = two_wallets();
    let TwoWallets {
        daemon,
        w,
        address,
        carol,
        carol_view,
        ..
    } = &t;
    let bob = w.init_signer("bob");
    vault_with_bob(&t, "cold", &bob, "1");
    mine(daemon, address, 3);
    // Enough outputs on chain for monero-wallet's decoy selection.
    mine(daemon, carol, 300);
    w.airlock(&["xmr", "sync", "--vault", "cold"]).ok();

    // The wallet2 cold wallet (the seed alice wrote down) and the key-image sync with it.
    let (rpc, _, _) = outputs_into_cold_wallet(w, daemon);
    let images = w.p("cold-keyimages.json");
    std::fs::write(
        &images,
        rpc.call("export_key_images", json!({"all": true}))
            .to_string(),
    )
    .unwrap();
    w.airlock(&["xmr", "import-key-images", "--vault", "cold", s(&images)])
        .ok();

    // The proposal, approved by bob (no Monero key: his approval carries no transaction).
    let pay = 2_500_000_000_000u64;
    let (proposal, bundle) = w.propose("cold", &format!("{carol}:{pay}"), &[]);
    let approval = w.approve("bob", &bundle);
    w.airlock(&["submit", s(&approval)]).ok();
    w.airlock(&["finalize", &proposal])
        .fails(1, "no approval carries the signed transaction");
    // A second payment while this one is open is built from another output.
    let (second, _) = w.propose("cold", &format!("{carol}:{pay}"), &[]);
    let open = w
        .airlock(&["--json", "status", "--vault", "cold"])
        .ok()
        .json();
    let spends: Vec<&Value> = open
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["spends"][0])
        .collect();
    assert_eq!(spends.len(), 2, "{open}");
    assert_ne!(spends[0], spends[1], "{open}");
    w.airlock(&["abandon", &second, "--reason", "one payment at a time here"])
        .ok();

    // wallet2's unsigned set: wallet2 itself reads the payment and the fee from it.
    let unsigned = w.p("proposal.unsigned");
    w.airlock(&[
        "xmr",
        "export-tx-set",
        "--proposal",
        &proposal,
        "--format",
        "wallet2-0.18.0",
        "--out",
        s(&unsigned),
    ])
    .ok();
    let unsigned_hex = hex::encode(std::fs::read(&unsigned).unwrap());
    let described = rpc.call("describe_transfer", json!({"unsigned_txset": unsigned_hex}));
    let desc = &described["desc"][0];
    assert_eq!(
        desc["recipients"][0]["address"],
        carol.as_str(),
        "{described}"
    );
    assert_eq!(amount(&desc["recipients"][0]["amount"]), pay, "{described}");
    let signed = rpc.call("sign_transfer", json!({"unsigned_txset": unsigned_hex}));
    let signed_hex = signed["signed_txset"].as_str().unwrap().to_owned();
    let txid = signed["tx_hash_list"][0].as_str().unwrap().to_owned();

    // Refused, nothing recorded: an altered set.
    let mut altered = hex::decode(&signed_hex).unwrap();
    let at = altered.len() / 2;
    altered[at] ^= 1;
    std::fs::write(w.p("altered.signed"), &altered).unwrap();
    w.airlock(&[
        "xmr",
        "import-tx-set",
        "--proposal",
        &proposal,
        s(&w.p("altered.signed")),
    ])
    .fails(1, "does not authenticate under this wallet's view key");
    let signed_file = w.p("proposal.signed");
    std::fs::write(&signed_file, &signed_hex).unwrap();

    // The signed set, checked and recorded; then broadcast, mined and received.
    let imported = w
        .airlock(&[
            "--json",
            "xmr",
            "import-tx-set",
            "--proposal",
            &proposal,
            s(&signed_file),
        ])
        .ok()
        .json();
    assert_eq!(imported["txid"], txid.as_str(), "{imported}");
    w.airlock(&["broadcast", &proposal]).ok();
    w.airlock(&[
        "xmr",
        "export-tx-set",
        "--proposal",
        &proposal,
        "--out",
        s(&unsigned),
    ])
    .fails(1, "only an open proposal");
    mine(daemon, carol, 1);
    rpc.call("close_wallet", json!({}));
    view_only_wallet(&rpc, carol_view, "carol-watch");
    let received = rpc.call("get_transfer_by_txid", json!({"txid": txid}));
    assert_eq!(amount(&received["transfer"]["amount"]), pay, "{received}");
    let verified = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(verified["finalized"], 1, "{verified}");

    // The same signed set for the next proposal (spending another output): refused.
    w.airlock(&["xmr", "sync", "--vault", "cold"]).ok();
    let (next, next_bundle) = w.propose("cold", &format!("{carol}:{pay}"), &[]);
    let next_approval = w.approve("bob", &next_bundle);
    w.airlock(&["submit", s(&next_approval)]).ok();
    w.airlock(&["xmr", "import-tx-set", "--proposal", &next, s(&signed_file)])
        .fails(1, "than the proposal");
    let status = w.airlock(&["--json", "status", &next]).ok().json();
    assert_eq!(status[0]["status"], "ready", "{status}");
}
