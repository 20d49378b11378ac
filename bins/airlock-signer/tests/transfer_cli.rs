//! End to end through both real binaries: a full crossing of the air gap with signed transfer
//! directories (vault draft out and back, the approved vault out, a proposal out, the approval
//! back → the proposal is ready), then every kind of bad transfer, each refused with exit 1 and
//! no change on either side.
//!
//! Needs the `airlock` binary beside `airlock-signer` (`cargo build --bins` first when testing
//! this package alone).

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_core::transfer::{MANIFEST_FILE, entry_for};
use airlock_core::{Artifact, DeviceRole, Envelope, TransferManifest};
use serde_json::Value;

/// 2026-01-01 00:00:00 UTC.
const T0: u64 = 1_767_225_600;

fn signer_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_airlock-signer"))
}

fn airlock_bin() -> PathBuf {
    let path = signer_bin()
        .parent()
        .expect("binary directory")
        .join(format!("airlock{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --bins` first",
        path.display()
    );
    path
}

#[derive(Debug)]
struct Out {
    cmd: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    #[track_caller]
    fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "{} failed:\n{}\n{}",
            self.cmd, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    fn refused(self, needle: &str) -> Out {
        assert_eq!(
            self.code, 1,
            "{} should exit 1:\n{}\n{}",
            self.cmd, self.stdout, self.stderr
        );
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "{}: stderr should mention {needle:?}:\n{}",
            self.cmd,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}):\n{}", self.cmd, self.stdout))
    }
}

struct World {
    dir: tempfile::TempDir,
    now: std::cell::Cell<u64>,
}

impl World {
    fn new() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
            now: std::cell::Cell::new(T0),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, bin: &Path, home: &str, args: &[&str]) -> Out {
        let mut cmd = Command::new(bin);
        cmd.arg("--home").arg(self.path(home));
        if bin == signer_bin() {
            cmd.arg("--passphrase-file").arg(self.path("alice.pass"));
        }
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("AIRLOCK_NOW", self.now.get().to_string())
            .env_remove("AIRLOCK_HOME")
            .env_remove("AIRLOCK_PASSPHRASE_FILE");
        let o = cmd.output().expect("runs");
        Out {
            cmd: format!(
                "{} {}",
                bin.file_name().unwrap().to_string_lossy(),
                args.join(" ")
            ),
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn coord(&self, args: &[&str]) -> Out {
        self.run(&airlock_bin(), "coord", args)
    }

    fn alice(&self, args: &[&str]) -> Out {
        self.run(&signer_bin(), "alice", args)
    }

    /// Everything either side could change: the coordinator's proposals, log and transfers, the
    /// signer's journals, status and inbox, and what is on the stick.
    fn snapshot(&self) -> String {
        let mut s = String::new();
        for args in [
            &["--json", "status"][..],
            &["--json", "log", "show"],
            &["--json", "transfer", "log"],
            &["--json", "transfer", "policy"],
        ] {
            s.push_str(&self.coord(args).ok().stdout);
        }
        for args in [
            &["--json", "status"][..],
            &["--json", "journal", "show"],
            &["--json", "transfer", "log"],
            &["--json", "transfer", "policy"],
        ] {
            s.push_str(&self.alice(args).ok().stdout);
        }
        for dir in ["alice/inbox", "coord/inbox", "usb", "outside"] {
            s.push_str(&format!("{dir}: {:?}\n", list_tree(&self.path(dir))));
        }
        s
    }
}

fn list_tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            out.push(name.clone());
            if e.file_type().unwrap().is_dir() {
                for sub in list_tree(&e.path()) {
                    out.push(format!("{name}/{sub}"));
                }
            }
        }
    }
    out.sort();
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn read_manifest(dir: &Path) -> (Envelope, TransferManifest) {
    let env = Envelope::from_bytes(&std::fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    let m = env.open().unwrap();
    (env, m)
}

/// Sets up coordinator + signer alice, and crosses the gap three times: the draft out and its
/// signed copy back, the approved vault out. Returns the world.
fn world_with_vault() -> World {
    let w = World::new();
    std::fs::write(w.path("alice.pass"), "correct horse battery staple\n").unwrap();
    for d in ["usb", "outside"] {
        std::fs::create_dir(w.path(d)).unwrap();
    }
    w.coord(&["init", "--origin", "test.airlock/log"]).ok();
    w.alice(&["init", "--name", "alice", "--kdf", "insecure-fast"])
        .ok();
    let alice_key = w.alice(&["--json", "id"]).ok().json()["identity"]
        .as_str()
        .unwrap()
        .to_owned();
    let usb = w.path("usb");

    // A fresh device allows no export directory, and says how to allow one.
    w.coord(&[
        "vault",
        "draft",
        "--vault",
        "treasury",
        "--signer",
        &format!("alice:ops:{alice_key}"),
        "--threshold",
        "1",
        "--out",
        "treasury.draft",
    ])
    .ok();
    w.coord(&[
        "transfer",
        "out",
        "treasury.draft",
        "--to",
        s(&usb),
        "--purpose",
        "draft",
    ])
    .refused("transfer allow-dir");
    w.coord(&["transfer", "allow-dir", s(&usb)]).ok();
    w.alice(&["transfer", "allow-dir", s(&usb)]).ok();

    // Crossing 1: the draft to the signer (first contact).
    let out = w
        .coord(&[
            "--json",
            "transfer",
            "out",
            "treasury.draft",
            "--to",
            s(&usb),
            "--purpose",
            "vault treasury v1 draft for review",
        ])
        .ok()
        .json();
    let t1 = PathBuf::from(out["dir"].as_str().unwrap());
    assert_eq!(out["sequence"], 1);
    let got = w.alice(&["--json", "transfer", "in", s(&t1)]).ok().json();
    assert_eq!(got["first_contact"], true);
    let draft = got["artifacts"][0]["path"].as_str().unwrap().to_owned();
    w.alice(&["vault", "sign", &draft, "--out", "treasury.alice", "--yes"])
        .ok();

    // Crossing 2: the signed draft back.
    let out = w
        .alice(&[
            "--json",
            "transfer",
            "out",
            "treasury.alice",
            "--to",
            s(&usb),
            "--purpose",
            "signed treasury v1",
        ])
        .ok()
        .json();
    let t2 = PathBuf::from(out["dir"].as_str().unwrap());
    let got = w.coord(&["--json", "transfer", "in", s(&t2)]).ok().json();
    let signed = got["vault_drafts"][0].as_str().unwrap().to_owned();
    w.coord(&["vault", "submit", &signed]).ok();
    w.coord(&["vault", "show", "treasury", "--out", "treasury-v1.airlock"])
        .ok();

    // Crossing 3: the approved version to the signer, who registers it.
    let out = w
        .coord(&[
            "--json",
            "transfer",
            "out",
            "treasury-v1.airlock",
            "--to",
            s(&usb),
            "--purpose",
            "treasury v1 approved",
        ])
        .ok()
        .json();
    let got = w
        .alice(&["--json", "transfer", "in", out["dir"].as_str().unwrap()])
        .ok()
        .json();
    // Still first contact: nothing is registered until the person registers it.
    assert_eq!(got["first_contact"], true);
    w.alice(&[
        "vault",
        "register",
        got["artifacts"][0]["path"].as_str().unwrap(),
    ])
    .ok();
    w
}

/// Proposes a payment and carries its bundle to the signer's side (not imported yet).
fn propose_and_send(w: &World, memo: &str) -> PathBuf {
    let file = format!("{memo}.bundle");
    w.coord(&[
        "propose", "--vault", "treasury", "--to", "acme:100", "--memo", memo, "--out", &file,
    ])
    .ok();
    let out = w
        .coord(&[
            "--json",
            "transfer",
            "out",
            &file,
            "--to",
            s(&w.path("usb")),
            "--purpose",
            memo,
        ])
        .ok()
        .json();
    PathBuf::from(out["dir"].as_str().unwrap())
}

#[test]
fn a_full_crossing_makes_the_proposal_ready() {
    let w = world_with_vault();
    let t = propose_and_send(&w, "rent");
    let got = w.alice(&["--json", "transfer", "in", s(&t)]).ok().json();
    assert_eq!(got["artifacts"][0]["kind"], "proposal-bundle");
    assert_eq!(
        got["first_contact"], false,
        "the coordinator is known from the registered vault"
    );
    let bundle = got["artifacts"][0]["path"].as_str().unwrap().to_owned();
    w.alice(&["approve", &bundle, "--out", "rent.alice", "--yes"])
        .ok();
    let status = w.coord(&["--json", "status"]).ok().json();
    assert_eq!(status[0]["status"], "collecting");

    let out = w
        .alice(&[
            "--json",
            "transfer",
            "out",
            "rent.alice",
            "--to",
            s(&w.path("usb")),
            "--purpose",
            "approval of rent",
        ])
        .ok()
        .json();
    assert_eq!(out["sequence"], 2, "the signer's second transfer");
    let got = w
        .coord(&["--json", "transfer", "in", out["dir"].as_str().unwrap()])
        .ok()
        .json();
    assert_eq!(got["decisions"][0]["status"], "ready");
    let status = w.coord(&["--json", "status"]).ok().json();
    assert_eq!(status[0]["status"], "ready");
    assert_eq!(status[0]["approved"][0], "alice");

    // Every crossing is recorded on both sides, and the log still verifies.
    let log = w.coord(&["--json", "transfer", "log"]).ok().json();
    let dirs: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["direction"].as_str().unwrap())
        .collect();
    assert_eq!(dirs, ["out", "in", "out", "out", "in"]);
    assert_eq!(log[4]["manifest"]["purpose"], "approval of rent");
    let verified = w.coord(&["--json", "log", "verify"]).ok().json();
    assert_eq!(verified["transfers"], 5);
    let kinds: Vec<String> = w
        .coord(&["--json", "log", "show"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "transfer").count(), 5);
    let journal = w.alice(&["--json", "transfer", "log"]).ok().json();
    let entries = journal.as_array().unwrap();
    let summary: Vec<(String, u64)> = entries
        .iter()
        .map(|e| {
            (
                e["direction"].as_str().unwrap().to_owned(),
                e["sequence"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("in".to_owned(), 1),
            ("out".into(), 1),
            ("in".into(), 2),
            ("in".into(), 3),
            ("out".into(), 2)
        ]
    );
    assert_eq!(entries[4]["purpose"], "approval of rent");
    assert_eq!(entries[3]["origin_name"], "test.airlock/log");

    // A signer's transfer journal edited by hand stops it (exit 3).
    let path = w.path("alice/transfers.log");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("approval of rent", "approval of rant", 1),
    )
    .unwrap();
    let o = w.alice(&["transfer", "log"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("transfer journal"), "{}", o.stderr);
}

#[test]
fn bad_transfers_are_refused_and_change_nothing() {
    let w = world_with_vault();
    let usb = w.path("usb");
    let t4 = propose_and_send(&w, "first");
    let t5 = propose_and_send(&w, "second");
    let before = w.snapshot();

    // The artifact file edited on the stick: its hash no longer matches.
    let edited = w.path("usb-edited");
    copy_dir(&t4, &edited);
    let (_, m) = read_manifest(&edited);
    let file = edited.join(&m.entries[0].file);
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len() - 3;
    bytes[n] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    w.alice(&["transfer", "in", s(&edited)])
        .refused("does not match the manifest");

    // An extra file the manifest does not list.
    let extra = w.path("usb-extra");
    copy_dir(&t4, &extra);
    std::fs::write(extra.join("run-me.sh"), "#!/bin/sh\n").unwrap();
    w.alice(&["transfer", "in", s(&extra)])
        .refused("not in the manifest");

    // A symlink or a subdirectory in the transfer.
    #[cfg(unix)]
    {
        let linked = w.path("usb-link");
        copy_dir(&t4, &linked);
        std::os::unix::fs::symlink("/etc/passwd", linked.join("passwd")).unwrap();
        w.alice(&["transfer", "in", s(&linked)]).refused("symlinks");
    }

    // Expired (the default validity is 24 hours).
    w.now.set(T0 + 25 * 3600);
    w.alice(&["transfer", "in", s(&t4)]).refused("expired");
    w.now.set(T0);

    // Unsigned, and signed by a key the signer does not know (claiming the coordinator's name).
    let unsigned = w.path("usb-unsigned");
    copy_dir(&t4, &unsigned);
    let (mut env, _) = read_manifest(&unsigned);
    env.signatures.clear();
    std::fs::write(unsigned.join(MANIFEST_FILE), env.to_bytes()).unwrap();
    w.alice(&["transfer", "in", s(&unsigned)])
        .refused("unsigned");
    let forged = w.path("usb-forged");
    copy_dir(&t4, &forged);
    let (_, mut m) = read_manifest(&forged);
    let stranger = airlock_custody::IdentityKey::generate();
    let mut env = m.envelope();
    env.sign(stranger.signing_key());
    std::fs::write(forged.join(MANIFEST_FILE), env.to_bytes()).unwrap();
    w.alice(&["transfer", "in", s(&forged)])
        .refused("not signed by");
    m.origin_key = airlock_core::PublicKey(stranger.verifying_key().to_bytes());
    let mut env = m.envelope();
    env.sign(stranger.signing_key());
    std::fs::write(forged.join(MANIFEST_FILE), env.to_bytes()).unwrap();
    w.alice(&["transfer", "in", s(&forged)])
        .refused("does not know");

    // A transfer directory without its manifest.
    let bare = w.path("usb-bare");
    copy_dir(&t4, &bare);
    std::fs::remove_file(bare.join(MANIFEST_FILE)).unwrap();
    w.alice(&["transfer", "in", s(&bare)])
        .refused("no manifest.airlock");
    assert_eq!(w.snapshot(), before, "a refused transfer changed something");

    // A kind the direction does not allow: the signer receiving an approval (in a manifest
    // properly signed by the coordinator), the coordinator receiving a proposal bundle (properly
    // signed by the signer).
    let coord_key = airlock_custody::load_plain_identity(&w.path("coord/identity.key")).unwrap();
    let approval_dir = w.path("usb-approval");
    std::fs::create_dir(&approval_dir).unwrap();
    w.alice(&["transfer", "in", s(&t4)]).ok();
    let bundle = w.path("alice/inbox").join(
        list_tree(&w.path("alice/inbox"))
            .into_iter()
            .find(|p| p.ends_with(".bundle"))
            .unwrap(),
    );
    w.alice(&["approve", s(&bundle), "--out", "first.alice", "--yes"])
        .ok();
    let approval = std::fs::read(w.path("first.alice")).unwrap();
    let (entry, _) = entry_for("first.alice", &approval).unwrap();
    std::fs::write(approval_dir.join("first.alice"), &approval).unwrap();
    let mut m = read_manifest(&t5).1;
    m.entries = vec![entry];
    m.sequence = 99;
    let mut env = m.envelope();
    env.sign(coord_key.signing_key());
    std::fs::write(approval_dir.join(MANIFEST_FILE), env.to_bytes()).unwrap();
    let before_alice = w.snapshot();
    w.alice(&["transfer", "in", s(&approval_dir)])
        .refused("does not accept approval");
    assert_eq!(w.snapshot(), before_alice);

    let home = airlock_signer_app::SignerHome::open(&w.path("alice")).unwrap();
    let alice_key = home
        .unlock(&airlock_custody::Passphrase::from_file(&w.path("alice.pass")).unwrap())
        .unwrap();
    let bundle_dir = w.path("usb-bundle-to-coord");
    std::fs::create_dir(&bundle_dir).unwrap();
    let bundle_bytes = std::fs::read(&bundle).unwrap();
    std::fs::write(bundle_dir.join("first.bundle"), &bundle_bytes).unwrap();
    let m = TransferManifest {
        entries: vec![entry_for("first.bundle", &bundle_bytes).unwrap().0],
        origin_key: airlock_core::PublicKey(alice_key.verifying_key().to_bytes()),
        origin_name: "alice".into(),
        origin_role: DeviceRole::Signer,
        destination_role: DeviceRole::Coordinator,
        purpose: "sneak a bundle back".into(),
        sequence: 50,
        created: T0,
        expires: T0 + 3600,
    };
    let mut env = m.envelope();
    env.sign(alice_key.signing_key());
    std::fs::write(bundle_dir.join(MANIFEST_FILE), env.to_bytes()).unwrap();
    w.coord(&["transfer", "in", s(&bundle_dir)])
        .refused("does not accept proposal-bundle");
    // …and a transfer addressed to a signer, fed to the coordinator.
    w.coord(&["transfer", "in", s(&t5)])
        .refused("accepts transfers from a signer only");
    // The signer's own policy will not send a bundle either.
    w.alice(&[
        "transfer",
        "out",
        s(&bundle),
        "--to",
        s(&usb),
        "--purpose",
        "x",
    ])
    .refused("does not send proposal-bundle");
    assert_eq!(w.snapshot(), before_alice);

    // Sequence numbers: bundle 5 accepted, then the older 4 (a replay) is refused.
    w.alice(&["transfer", "in", s(&t5)]).ok();
    let after_5 = w.snapshot();
    w.alice(&["transfer", "in", s(&t4)])
        .refused("not after the last one accepted");
    w.alice(&["transfer", "in", s(&t5)])
        .refused("not after the last one accepted");
    assert_eq!(w.snapshot(), after_5);

    // Paths outside the allowlist: elsewhere, through `..`, through a symlink; nothing written.
    let outside = w.path("outside");
    let dotdot = format!("{}/../outside", s(&usb));
    let before_paths = w.snapshot();
    for to in [s(&outside), dotdot.as_str()] {
        w.coord(&[
            "transfer",
            "out",
            "first.bundle",
            "--to",
            to,
            "--purpose",
            "x",
        ])
        .refused("not inside an allowed export directory");
        w.alice(&[
            "transfer",
            "out",
            "first.alice",
            "--to",
            to,
            "--purpose",
            "x",
        ])
        .refused("not inside an allowed export directory");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, usb.join("escape")).unwrap();
        let via = usb.join("escape");
        w.coord(&[
            "transfer",
            "out",
            "first.bundle",
            "--to",
            s(&via),
            "--purpose",
            "x",
        ])
        .refused("not inside an allowed export directory");
        w.alice(&[
            "transfer",
            "out",
            "first.alice",
            "--to",
            s(&via),
            "--purpose",
            "x",
        ])
        .refused("not inside an allowed export directory");
        std::fs::remove_file(&via).unwrap();
    }
    // A missing purpose is refused too.
    w.alice(&[
        "transfer",
        "out",
        "first.alice",
        "--to",
        s(&usb),
        "--purpose",
        " ",
    ])
    .refused("purpose");
    assert_eq!(w.snapshot(), before_paths);
}
