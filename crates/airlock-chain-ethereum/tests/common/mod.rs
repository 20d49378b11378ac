//! Shared helpers for the offline tests: the anvil test keys and the peer tools (`cast`, Safe's
//! protocol-kit). A missing peer FAILS the test with the install command; it never skips.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use airlock_chain_ethereum::{EthAddress, EthKey};

/// anvil's account 0 and 1 secret keys (public, well-known test keys).
pub const KEY0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
pub const KEY1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
pub const KEY2: &str = "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";

pub fn key(hex_key: &str) -> EthKey {
    let b: [u8; 32] = hex::decode(hex_key).unwrap().try_into().unwrap();
    EthKey::from_bytes(&b).unwrap()
}

pub fn addr(s: &str) -> EthAddress {
    EthAddress::parse(s).unwrap()
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub const CAST_INSTALL: &str =
    "npm install --prefix target/peers/cast @foundry-rs/cast-linux-amd64@1.7.1";
pub const SAFE_INSTALL: &str =
    "npm install --prefix target/peers/safe @safe-global/protocol-kit@8.0.7";

/// The `cast` binary: `AIRLOCK_CAST`, else `target/peers/cast/…/bin/cast`. Panics with the
/// install command when absent.
pub fn cast() -> PathBuf {
    let p = match std::env::var("AIRLOCK_CAST") {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            workspace().join("target/peers/cast/node_modules/@foundry-rs/cast-linux-amd64/bin/cast")
        }
    };
    assert!(
        p.is_file(),
        "peer `cast` 1.7.1 is missing at {}; install it from the workspace root with:\n  {CAST_INSTALL}",
        p.display()
    );
    p
}

/// Runs cast with `args`; returns trimmed stdout; panics with stderr on failure.
pub fn run_cast(args: &[&str]) -> String {
    let out = Command::new(cast()).args(args).output().expect("run cast");
    assert!(
        out.status.success(),
        "cast {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The protocol-kit package directory; panics with the install command when absent.
pub fn protocol_kit() -> PathBuf {
    let p = workspace().join("target/peers/safe/node_modules/@safe-global/protocol-kit");
    assert!(
        p.join("package.json").is_file(),
        "peer @safe-global/protocol-kit is missing at {}; install it from the workspace root with:\n  {SAFE_INSTALL}\n(node must be on PATH)",
        p.display()
    );
    p
}
