//! The dashboard tested in a real browser: `airlock serve` with a real coordinator home and
//! real signers; Debian's chromium driven by playwright-core walks the whole flow
//! (`tests/dashboard/flow.mjs`). Needs `scripts/install-dashboard-peers.sh` (run by
//! `scripts/test.sh`); `AIRLOCK_DASHBOARD_SHOTS=DIR` keeps the screenshots (docs/ has them).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn playwright_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/dashboard");
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .is_file()
            && Path::new("/usr/bin/chromium").exists(),
        "the dashboard suite needs chromium and playwright-core: run scripts/install-dashboard-peers.sh"
    );
    dir
}

#[test]
fn the_whole_flow_in_a_real_browser() {
    let playwright = playwright_dir();
    let w = treasury();
    let pass = w.p("member.pass");
    std::fs::write(&pass, "member passphrase\n").unwrap();
    let (key_file, key) = member_keygen(&w, "olivia", &pass);
    for role in ["proposer", "operator"] {
        w.airlock(&[
            "member", "add", "olivia", "--key", &key, "--role", role, "--vault", "treasury",
        ])
        .ok();
    }
    let server = Server::start(&w, &[]);
    let shots =
        std::env::var("AIRLOCK_DASHBOARD_SHOTS").unwrap_or_else(|_| path_str(&w.p("")).to_string());
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard/flow.mjs"))
        .env("PLAYWRIGHT_DIR", &playwright)
        .env("SERVICE_URL", &server.url)
        .env("WORK_DIR", w.root.path())
        .env("SHOTS_DIR", &shots)
        .env("AIRLOCK_BIN", airlock_bin())
        .env("SIGNER_BIN", signer_bin())
        .env("MEMBER_KEY", &key_file)
        .env("MEMBER_PASS", &pass)
        .env("AIRLOCK_NOW", w.now.get().to_string())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser flow failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);
    // What the page did is in the coordinator: finalized by olivia, and the log verifies.
    let states = w.airlock(&["--json", "status"]).ok().json();
    assert_eq!(states[0]["status"], "finalized");
    assert_eq!(states[0]["approved"].as_array().unwrap().len(), 3);
    let log = w.airlock(&["--json", "log", "show"]).ok().json();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "finalized" && r["by"] == "olivia")
    );
    w.airlock(&["log", "verify"]).ok();
}
