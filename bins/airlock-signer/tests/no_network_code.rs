//! The offline signer must not link network or database code. This test walks the resolved
//! dependency graph from `cargo metadata` (normal dependencies only: what is compiled into the
//! binary) and fails if any crate that talks to a network or a database server appears. The same
//! walk from the online `airlock` package must find such crates, proving the check can fail.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Crates that open sockets, speak network protocols or drive databases.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "hyper",
    "h2",
    "reqwest",
    "ureq",
    "isahc",
    "curl",
    "surf",
    "async-std",
    "smol",
    "tungstenite",
    "tokio-tungstenite",
    "tonic",
    "axum",
    "warp",
    "actix-web",
    "rustls",
    "native-tls",
    "openssl",
    "simple-request",
    "monero-simple-request-rpc",
    "monero-daemon-rpc",
    "monero-rpc",
    "alloy-provider",
    "alloy-transport",
    "alloy-transport-http",
    "alloy-transport-ws",
    "alloy-rpc-client",
    "bdk_electrum",
    "bdk_esplora",
    "bdk_bitcoind_rpc",
    "electrum-client",
    "esplora-client",
    "bitcoincore-rpc",
    "jsonrpc",
    "jsonrpsee",
    "zmq",
    "rusqlite",
    "libsqlite3-sys",
    "sqlx",
    "postgres",
    "tokio-postgres",
    "diesel",
    "redis",
];

/// The host target triple, so the graph is resolved for the platform the signer is built for.
fn host_triple() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host")
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let host = host_triple();
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Names of every package reachable from `root` through normal (non-dev, non-build) dependencies.
fn normal_closure(meta: &Value, root: &str) -> BTreeSet<String> {
    let packages: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root_id = packages
        .iter()
        .find(|(_, name)| **name == root)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("package {root} is in the workspace"));
    let mut seen = BTreeSet::new();
    let mut stack = vec![root_id];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            if normal {
                stack.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    seen.into_iter().map(|id| packages[id].to_owned()).collect()
}

fn forbidden_in(closure: &BTreeSet<String>) -> Vec<String> {
    closure
        .iter()
        .filter(|n| FORBIDDEN.contains(&n.as_str()))
        .cloned()
        .collect()
}

#[test]
fn signer_links_no_network_or_database_crate() {
    let meta = metadata();
    let closure = normal_closure(&meta, "airlock-signer");
    assert!(
        closure.contains("airlock-signer-app"),
        "the walk must reach the signer's own crates"
    );
    let found = forbidden_in(&closure);
    assert!(
        found.is_empty(),
        "airlock-signer depends on network/database crates: {found:?}"
    );
}

#[test]
fn the_check_finds_the_coordinators_database_driver() {
    let meta = metadata();
    let found = forbidden_in(&normal_closure(&meta, "airlock"));
    assert!(
        found.iter().any(|n| n == "rusqlite"),
        "the walk should find rusqlite under the coordinator: {found:?}"
    );
}
