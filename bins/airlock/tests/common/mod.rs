//! Shared harness for the end-to-end CLI suites: runs the real `airlock` and `airlock-signer`
//! binaries in temporary home directories with a fixed clock, and crafts hostile artifact files
//! byte by byte (a small CBOR reader/writer of its own, so the attack inputs do not depend on the
//! code under test).

#![allow(dead_code)]

pub mod http;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::Value;
use tempfile::TempDir;

/// 2026-01-01 00:00:00 UTC: the fixed clock of every world (`AIRLOCK_NOW`).
pub const T0: u64 = 1_767_225_600;

pub const HOUR: u64 = 3600;

// ----- binaries ---------------------------------------------------------------------------------

pub fn airlock_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_airlock"))
}

/// `airlock-signer`, next to `airlock` in the target directory. Cargo builds it before integration
/// tests with `cargo test --workspace`; with `cargo test -p airlock` it must be built first.
pub fn signer_bin() -> PathBuf {
    let airlock = airlock_bin();
    let name = format!("airlock-signer{}", std::env::consts::EXE_SUFFIX);
    let path = airlock
        .parent()
        .expect("the airlock binary has a directory")
        .join(name);
    assert!(
        path.is_file(),
        "the signer binary {} is missing: run `cargo build --bins` (or `cargo test --workspace`) first",
        path.display()
    );
    path
}

/// The `airlock-witness` binary (built by `cargo build --bins`, as the signer's is).
pub fn witness_bin() -> PathBuf {
    let path = airlock_bin()
        .parent()
        .expect("the airlock binary has a directory")
        .join(format!("airlock-witness{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "the witness binary {} is missing: run `cargo build --bins` first",
        path.display()
    );
    path
}

/// What a command did.
#[derive(Debug)]
pub struct Out {
    pub cmd: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    fn describe(&self) -> String {
        format!(
            "`{}` exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }

    /// Asserts success.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "expected success: {}", self.describe());
        self
    }

    /// Asserts exit `code` and that stderr names the problem (`needle`, case-insensitive).
    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> Out {
        assert_eq!(self.code, code, "expected exit {code}: {}", self.describe());
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "expected stderr to mention {needle:?}: {}",
            self.describe()
        );
        assert!(
            !self.stderr.contains("panicked"),
            "the program panicked: {}",
            self.describe()
        );
        self
    }

    /// Asserts that stdout mentions `needle`.
    #[track_caller]
    pub fn says(self, needle: &str) -> Out {
        assert!(
            self.stdout.contains(needle),
            "expected stdout to mention {needle:?}: {}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.describe()))
    }
}

/// Runs a binary with a clean environment for the variables Airlock reads.
pub fn run(bin: &Path, args: &[&str], now: u64, envs: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_remove("AIRLOCK_HOME")
        .env_remove("AIRLOCK_PASSPHRASE_FILE")
        .env("AIRLOCK_NOW", now.to_string())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    Out {
        cmd: format!(
            "{} {}",
            bin.file_name().unwrap().to_string_lossy(),
            args.join(" ")
        ),
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// The failpoints a command reaches, in order, as `NAME@N` (from `AIRLOCK_FAILPOINT=list`).
pub fn failpoints(out: &Out) -> Vec<String> {
    out.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("failpoint: "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Whether a command was stopped by its failpoint: abort() (killed by SIGABRT, no exit code), as
/// a `kill -9` or a power cut leaves it.
pub fn crashed(out: &Out) -> bool {
    out.code == -1 && out.stderr.contains("failpoint: crashing at")
}

// ----- worlds -----------------------------------------------------------------------------------

/// One coordinator and any number of signers, each in its own directory under a temporary root,
/// with a clock the test moves.
pub struct World {
    pub root: TempDir,
    pub now: std::cell::Cell<u64>,
    signer_bin: PathBuf,
}

impl World {
    pub fn new() -> World {
        World {
            root: tempfile::tempdir().expect("temporary directory"),
            now: std::cell::Cell::new(T0),
            signer_bin: signer_bin(),
        }
    }

    pub fn p(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    pub fn set_now(&self, t: u64) {
        self.now.set(t);
    }

    pub fn coordinator_home(&self) -> PathBuf {
        self.p("coordinator")
    }

    /// `airlock --home <coordinator> ARGS`.
    pub fn airlock(&self, args: &[&str]) -> Out {
        self.airlock_in(&self.coordinator_home(), args)
    }

    /// `airlock` with another home directory (a copy of the coordinator).
    pub fn airlock_in(&self, home: &Path, args: &[&str]) -> Out {
        let mut all = vec!["--home", s(home)];
        all.extend_from_slice(args);
        run(&airlock_bin(), &all, self.now.get(), &[])
    }

    pub fn signer_home(&self, who: &str) -> PathBuf {
        self.p(who)
    }

    pub fn pass_file(&self, who: &str) -> PathBuf {
        self.p(&format!("{who}.pass"))
    }

    /// `airlock-signer --home <who> --passphrase-file <who>.pass ARGS`.
    pub fn signer(&self, who: &str, args: &[&str]) -> Out {
        self.signer_with_passphrase(who, &self.pass_file(who), args)
    }

    /// `airlock-signer` in `who`'s home with the passphrase in `pass` (e.g. a wrong one).
    pub fn signer_with_passphrase(&self, who: &str, pass: &Path, args: &[&str]) -> Out {
        let home = self.signer_home(who);
        let mut all = vec!["--home", s(&home), "--passphrase-file", s(pass)];
        all.extend_from_slice(args);
        run(&self.signer_bin, &all, self.now.get(), &[])
    }

    /// `airlock-signer` with exactly these arguments.
    pub fn signer_raw(&self, args: &[&str]) -> Out {
        run(&self.signer_bin, args, self.now.get(), &[])
    }

    pub fn init_coordinator(&self) {
        let home = self.coordinator_home();
        run(
            &airlock_bin(),
            &["--home", s(&home), "init", "--origin", "test.airlock/log"],
            self.now.get(),
            &[],
        )
        .ok();
    }

    /// Creates a signer (fast KDF) and returns its identity key (hex).
    pub fn init_signer(&self, who: &str) -> String {
        std::fs::write(
            self.pass_file(who),
            format!("correct horse battery staple {who}\n"),
        )
        .unwrap();
        self.signer(who, &["init", "--name", who, "--kdf", "insecure-fast"])
            .ok();
        self.signer_key(who)
    }

    pub fn signer_key(&self, who: &str) -> String {
        let id = self.signer(who, &["--json", "id"]).ok().json();
        id["identity"].as_str().expect("identity").to_owned()
    }

    /// Drafts a vault (version 1 or the next), has `sign_by` sign it, submits the signed copies,
    /// writes the active definition to `<vault>-v<N>.airlock` and registers it on `register_on`.
    /// Returns that file.
    pub fn make_vault(
        &self,
        draft_args: &[&str],
        sign_by: &[&str],
        register_on: &[&str],
    ) -> PathBuf {
        let vault = draft_args
            .windows(2)
            .find(|w| w[0] == "--vault")
            .map(|w| w[1])
            .expect("draft args name the vault");
        let draft = self.p(&format!("{vault}.draft"));
        let mut args = vec!["--json", "vault", "draft"];
        args.extend_from_slice(draft_args);
        args.extend_from_slice(&["--out", s(&draft)]);
        let version = self.airlock(&args).ok().json()["version"].as_u64().unwrap();
        let mut copies = Vec::new();
        for who in sign_by {
            let out = self.p(&format!("{vault}-v{version}.signed-{who}"));
            self.signer(
                who,
                &["vault", "sign", s(&draft), "--out", s(&out), "--yes"],
            )
            .ok();
            copies.push(out);
        }
        let mut submit = vec!["--json", "vault", "submit"];
        submit.extend(copies.iter().map(|c| s(c)));
        let active = self.airlock(&submit).ok().json();
        assert_eq!(active["version"].as_u64(), Some(version));
        let file = self.p(&format!("{vault}-v{version}.airlock"));
        self.airlock(&["vault", "show", vault, "--out", s(&file)])
            .ok();
        for who in register_on {
            self.signer(who, &["vault", "register", s(&file)]).ok();
        }
        file
    }

    /// Drafts (unsigned) vault "treasury" v1 for alice and bob (ops) and carol (compliance),
    /// threshold 2, with `keys` their identity keys in that order; returns the draft file.
    pub fn draft_treasury(&self, keys: &[String]) -> PathBuf {
        let draft = self.p("v1.draft");
        let signers = [
            format!("alice:ops:{}", keys[0]),
            format!("bob:ops:{}", keys[1]),
            format!("carol:compliance:{}", keys[2]),
        ];
        self.airlock(&[
            "vault",
            "draft",
            "--vault",
            "treasury",
            "--signer",
            &signers[0],
            "--signer",
            &signers[1],
            "--signer",
            &signers[2],
            "--threshold",
            "2",
            "--out",
            s(&draft),
        ])
        .ok();
        draft
    }

    /// Proposes a payment (`--to DEST:AMOUNT`, plus `extra` arguments) and writes its bundle;
    /// returns the `--json` output and the bundle file.
    pub fn propose_json(&self, vault: &str, to: &str, extra: &[&str]) -> (Value, PathBuf) {
        let bundle = self.fresh("proposal.bundle");
        let mut args = vec![
            "--json",
            "propose",
            "--vault",
            vault,
            "--to",
            to,
            "--out",
            s(&bundle),
        ];
        args.extend_from_slice(extra);
        let out = self.airlock(&args).ok().json();
        assert!(bundle.is_file(), "propose wrote no bundle");
        (out, bundle)
    }

    /// Proposes a payment; returns (proposal id, bundle file).
    pub fn propose(&self, vault: &str, to: &str, extra: &[&str]) -> (String, PathBuf) {
        let (out, bundle) = self.propose_json(vault, to, extra);
        (out["proposal"].as_str().unwrap().to_owned(), bundle)
    }

    /// Proposes a payment; returns (proposal id, bundle file, the rule the coordinator applied).
    pub fn propose_rule(&self, vault: &str, to: &str) -> (String, PathBuf, String) {
        let (out, bundle) = self.propose_json(vault, to, &[]);
        (
            out["proposal"].as_str().unwrap().to_owned(),
            bundle,
            out["rule"].as_str().unwrap().to_owned(),
        )
    }

    /// `who` approves a bundle; returns the approval file.
    pub fn approve(&self, who: &str, bundle: &Path) -> PathBuf {
        let out = self.fresh(&format!("{who}.approval"));
        self.signer(who, &["approve", s(bundle), "--out", s(&out), "--yes"])
            .ok();
        out
    }

    /// `who` carries `file` across the gap: a signed transfer directory written under `usb`
    /// (allowed first); returns the directory.
    pub fn transfer_out(&self, who: &str, file: &Path, purpose: &str) -> PathBuf {
        let usb = self.p("usb");
        std::fs::create_dir_all(&usb).unwrap();
        self.signer(who, &["transfer", "allow-dir", s(&usb)]).ok();
        let out = self
            .signer(
                who,
                &[
                    "--json",
                    "transfer",
                    "out",
                    s(file),
                    "--to",
                    s(&usb),
                    "--purpose",
                    purpose,
                ],
            )
            .ok()
            .json();
        PathBuf::from(out["dir"].as_str().expect("transfer dir"))
    }

    /// `who` rejects a bundle; returns the rejection file.
    pub fn reject(&self, who: &str, bundle: &Path, reason: &str) -> PathBuf {
        let out = self.fresh(&format!("{who}.rejection"));
        self.signer(
            who,
            &["reject", s(bundle), "--reason", reason, "--out", s(&out)],
        )
        .ok();
        out
    }

    /// A path under the root that does not exist yet.
    pub fn fresh(&self, stem: &str) -> PathBuf {
        for i in 0.. {
            let p = self.p(&format!("{stem}.{i}"));
            if !p.exists() {
                return p;
            }
        }
        unreachable!()
    }

    pub fn submit(&self, files: &[&Path]) -> Out {
        let mut args = vec!["--json", "submit"];
        args.extend(files.iter().map(|f| s(f)));
        self.airlock(&args)
    }

    /// The coordinator's log size, as `log verify` finds it.
    pub fn log_size(&self) -> u64 {
        self.airlock(&["--json", "log", "verify"]).ok().json()["size"]
            .as_u64()
            .unwrap()
    }

    /// The status of one proposal (JSON object).
    pub fn status(&self, proposal: &str) -> Value {
        let v = self.airlock(&["--json", "status", proposal]).ok().json();
        v[0].clone()
    }

    /// Everything the coordinator shows about its state.
    pub fn coordinator_state(&self) -> String {
        self.coordinator_state_in(&self.coordinator_home())
    }

    pub fn coordinator_state_in(&self, home: &Path) -> String {
        let status = self.airlock_in(home, &["--json", "status"]).ok().stdout;
        let log = self
            .airlock_in(home, &["--json", "log", "show"])
            .ok()
            .stdout;
        let vaults = self
            .airlock_in(home, &["--json", "vault", "list"])
            .ok()
            .stdout;
        let checkpoint = self
            .airlock_in(home, &["--json", "log", "checkpoint"])
            .stdout;
        format!("{status}\n{log}\n{vaults}\n{checkpoint}")
    }

    /// Every file of a signer's home, by relative path.
    pub fn signer_files(&self, who: &str) -> BTreeMap<PathBuf, Vec<u8>> {
        dir_contents(&self.signer_home(who))
    }

    pub fn journal(&self, who: &str) -> Value {
        self.signer(who, &["--json", "journal", "show"]).ok().json()
    }

    /// A vault draft as a dishonest coordinator would write it: the draft file `draft` (written
    /// by `vault draft`) with its account replaced by `account` and the chain key of each named
    /// signer by the one given, written unsigned to `out`.
    pub fn forge_draft(
        &self,
        draft: &Path,
        account: &str,
        chain_keys: &[(&str, &str)],
        out: &Path,
    ) {
        let env = Env::read(draft);
        let mut def = env.payload_cbor();
        def.set(6, Cbor::T(account.to_owned()));
        let Cbor::A(mut signers) = def.get(8).clone() else {
            panic!("no signers")
        };
        for (name, key) in chain_keys {
            let entry = signers
                .iter_mut()
                .find(|s| *s.get(1) == Cbor::T((*name).to_owned()))
                .unwrap_or_else(|| panic!("no signer {name}"));
            entry.set(4, Cbor::T((*key).to_owned()));
        }
        def.set(8, Cbor::A(signers));
        Env {
            payload: encode(&def),
            sigs: Vec::new(),
            ..env
        }
        .write(out);
    }

    /// `who`'s identity key, decrypted from its home with its passphrase: what a tricked or
    /// compromised device signs with, for attacks a correct signer refuses to sign.
    pub fn identity_key(&self, who: &str) -> SigningKey {
        let pass = airlock_custody::Passphrase::from_file(&self.pass_file(who)).unwrap();
        airlock_custody::load_encrypted_identity(&self.signer_home(who).join("identity.key"), &pass)
            .unwrap()
            .signing_key()
            .clone()
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// Every regular file under `dir` with its contents.
pub fn dir_contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(base).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Copies a directory tree (a coordinator or signer home).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Replaces a directory tree with a copy of another.
pub fn restore_dir(from: &Path, to: &Path) {
    std::fs::remove_dir_all(to).unwrap();
    copy_dir(from, to);
}

/// The standard world of the demo: alice and bob (ops), carol (compliance), vault `treasury`
/// (threshold 2) with a routine rule (1 ops, up to 1000 to two payees, 2h) and a large rule
/// (2 ops and 1 compliance). Every signer has registered version 1.
pub fn treasury() -> World {
    let w = World::new();
    w.init_coordinator();
    let alice = w.init_signer("alice");
    let bob = w.init_signer("bob");
    let carol = w.init_signer("carol");
    let signers = [
        format!("alice:ops:{alice}"),
        format!("bob:ops:{bob}"),
        format!("carol:compliance:{carol}"),
    ];
    w.make_vault(
        &[
            "--vault",
            "treasury",
            "--signer",
            &signers[0],
            "--signer",
            &signers[1],
            "--signer",
            &signers[2],
            "--threshold",
            "2",
            "--rule",
            "routine: max=1000, to=acme-payroll|acme-rent, expiry=2h => 1 ops",
            "--rule",
            "large: => 2 ops, 1 compliance",
        ],
        &["alice", "bob", "carol"],
        &["alice", "bob", "carol"],
    );
    w
}

pub fn path_str(p: &Path) -> &str {
    s(p)
}

// ----- hostile bytes ----------------------------------------------------------------------------

/// A CBOR data item (the subset Airlock uses). Maps keep the order they are built in, so a test can
/// write them unsorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cbor {
    U(u64),
    N(u64),
    B(Vec<u8>),
    T(String),
    A(Vec<Cbor>),
    M(Vec<(Cbor, Cbor)>),
    Bool(bool),
    Null,
}

/// An item head in its shortest form.
pub fn head(major: u8, arg: u64) -> Vec<u8> {
    let m = major << 5;
    match arg {
        0..=23 => vec![m | arg as u8],
        24..=0xff => vec![m | 24, arg as u8],
        0x100..=0xffff => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&(arg as u16).to_be_bytes());
            v
        }
        0x1_0000..=0xffff_ffff => {
            let mut v = vec![m | 26];
            v.extend_from_slice(&(arg as u32).to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![m | 27];
            v.extend_from_slice(&arg.to_be_bytes());
            v
        }
    }
}

/// An item head with an 8-byte argument whatever its value (non-canonical for small values).
pub fn head_long(major: u8, arg: u64) -> Vec<u8> {
    let mut v = vec![(major << 5) | 27];
    v.extend_from_slice(&arg.to_be_bytes());
    v
}

pub fn encode(v: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(v, &mut out);
    out
}

fn encode_into(v: &Cbor, out: &mut Vec<u8>) {
    match v {
        Cbor::U(n) => out.extend(head(0, *n)),
        Cbor::N(n) => out.extend(head(1, *n)),
        Cbor::B(b) => {
            out.extend(head(2, b.len() as u64));
            out.extend_from_slice(b);
        }
        Cbor::T(t) => {
            out.extend(head(3, t.len() as u64));
            out.extend_from_slice(t.as_bytes());
        }
        Cbor::A(items) => {
            out.extend(head(4, items.len() as u64));
            for i in items {
                encode_into(i, out);
            }
        }
        Cbor::M(entries) => {
            out.extend(head(5, entries.len() as u64));
            for (k, v) in entries {
                encode_into(k, out);
                encode_into(v, out);
            }
        }
        Cbor::Bool(false) => out.push(0xf4),
        Cbor::Bool(true) => out.push(0xf5),
        Cbor::Null => out.push(0xf6),
    }
}

/// Decodes one item that must fill `bytes` (a test helper: panics on anything else).
pub fn decode(bytes: &[u8]) -> Cbor {
    let mut pos = 0;
    let v = decode_at(bytes, &mut pos);
    assert_eq!(pos, bytes.len(), "trailing bytes after the CBOR item");
    v
}

fn decode_at(b: &[u8], pos: &mut usize) -> Cbor {
    let initial = b[*pos];
    *pos += 1;
    let major = initial >> 5;
    let info = initial & 0x1f;
    if major == 7 {
        return match info {
            20 => Cbor::Bool(false),
            21 => Cbor::Bool(true),
            22 => Cbor::Null,
            _ => panic!("unexpected simple value {info}"),
        };
    }
    let width = match info {
        0..=23 => 0,
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => panic!("unexpected additional information {info}"),
    };
    let mut arg = if width == 0 { info as u64 } else { 0 };
    for _ in 0..width {
        arg = (arg << 8) | b[*pos] as u64;
        *pos += 1;
    }
    let n = arg as usize;
    match major {
        0 => Cbor::U(arg),
        1 => Cbor::N(arg),
        2 => {
            let v = b[*pos..*pos + n].to_vec();
            *pos += n;
            Cbor::B(v)
        }
        3 => {
            let v = String::from_utf8(b[*pos..*pos + n].to_vec()).unwrap();
            *pos += n;
            Cbor::T(v)
        }
        4 => Cbor::A((0..n).map(|_| decode_at(b, pos)).collect()),
        5 => Cbor::M(
            (0..n)
                .map(|_| {
                    let k = decode_at(b, pos);
                    let v = decode_at(b, pos);
                    (k, v)
                })
                .collect(),
        ),
        _ => panic!("unexpected major type {major}"),
    }
}

impl Cbor {
    /// The value of integer key `k` of a map.
    pub fn get(&self, k: u64) -> &Cbor {
        let Cbor::M(entries) = self else {
            panic!("not a map")
        };
        &entries
            .iter()
            .find(|(key, _)| *key == Cbor::U(k))
            .unwrap_or_else(|| panic!("no key {k}"))
            .1
    }

    /// Replaces the value of integer key `k` of a map.
    pub fn set(&mut self, k: u64, v: Cbor) {
        let Cbor::M(entries) = self else {
            panic!("not a map")
        };
        let slot = entries
            .iter_mut()
            .find(|(key, _)| *key == Cbor::U(k))
            .unwrap_or_else(|| panic!("no key {k}"));
        slot.1 = v;
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Cbor::B(b) => b,
            other => panic!("not a byte string: {other:?}"),
        }
    }
}

/// An envelope taken apart: `{0: 1, 1: type, 2: payload, 3: [{1: key, 2: signature}…]}`.
#[derive(Clone, Debug)]
pub struct Env {
    pub version: u64,
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub sigs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Env {
    pub fn parse(bytes: &[u8]) -> Env {
        let v = decode(bytes);
        let Cbor::U(version) = v.get(0) else {
            panic!("no version")
        };
        let Cbor::T(payload_type) = v.get(1) else {
            panic!("no payload type")
        };
        let Cbor::A(sigs) = v.get(3) else {
            panic!("no signatures")
        };
        Env {
            version: *version,
            payload_type: payload_type.clone(),
            payload: v.get(2).bytes().to_vec(),
            sigs: sigs
                .iter()
                .map(|s| (s.get(1).bytes().to_vec(), s.get(2).bytes().to_vec()))
                .collect(),
        }
    }

    pub fn read(path: &Path) -> Env {
        Env::parse(&std::fs::read(path).unwrap())
    }

    pub fn to_cbor(&self) -> Cbor {
        Cbor::M(vec![
            (Cbor::U(0), Cbor::U(self.version)),
            (Cbor::U(1), Cbor::T(self.payload_type.clone())),
            (Cbor::U(2), Cbor::B(self.payload.clone())),
            (
                Cbor::U(3),
                Cbor::A(
                    self.sigs
                        .iter()
                        .map(|(k, s)| {
                            Cbor::M(vec![
                                (Cbor::U(1), Cbor::B(k.clone())),
                                (Cbor::U(2), Cbor::B(s.clone())),
                            ])
                        })
                        .collect(),
                ),
            ),
        ])
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        encode(&self.to_cbor())
    }

    /// The DSSE pre-authentication encoding the signatures cover.
    pub fn pae(&self) -> Vec<u8> {
        let mut out = format!(
            "DSSEv1 {} {} {} ",
            self.payload_type.len(),
            self.payload_type,
            self.payload.len()
        )
        .into_bytes();
        out.extend_from_slice(&self.payload);
        out
    }

    /// Adds a signature by `key` (kept sorted by key, as the format requires).
    pub fn sign_with(&mut self, key: &SigningKey) {
        let public = key.verifying_key().to_bytes().to_vec();
        let sig = key.sign(&self.pae()).to_bytes().to_vec();
        self.sigs.retain(|(k, _)| *k != public);
        self.sigs.push((public, sig));
        self.sigs.sort();
    }

    pub fn payload_cbor(&self) -> Cbor {
        decode(&self.payload)
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.to_bytes()).unwrap();
    }
}

/// A key no vault knows.
pub fn outsider_key() -> SigningKey {
    SigningKey::from_bytes(&[0x5a; 32])
}

/// Position of `needle` in `haystack` (it must occur exactly once).
pub fn find_unique(haystack: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> = haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "needle found {} times", hits.len());
    hits[0]
}

/// A copy of `bytes` with one bit flipped.
pub fn flip(bytes: &[u8], index: usize, bit: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[index] ^= 1 << bit;
    b
}

// ----- airlock serve ----------------------------------------------------------------------------

/// A running `airlock serve`, killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub url: String,
}

impl Server {
    pub fn start(w: &World, extra: &[&str]) -> Server {
        Server::start_in(w, &w.coordinator_home(), extra)
    }

    pub fn start_in(w: &World, home: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(airlock_bin())
            .args([
                "--home",
                path_str(home),
                "--json",
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("AIRLOCK_NOW", w.now.get().to_string())
            .env("AIRLOCK_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("airlock serve starts");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("serve prints where it listens");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("serve printed {line:?}: {e}"));
        let url = v["listening"].as_str().expect("listening").to_string();
        Server { child, url }
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("airlock serve did not stop on SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `airlock member keygen` (fast KDF) under passphrase file `pass`: the key file and its key.
pub fn member_keygen(w: &World, who: &str, pass: &Path) -> (PathBuf, String) {
    let file = w.p(&format!("{who}.member-key"));
    let out = w
        .airlock(&[
            "--json",
            "member",
            "keygen",
            "--out",
            path_str(&file),
            "--passphrase-file",
            path_str(pass),
            "--kdf",
            "insecure-fast",
        ])
        .ok()
        .json();
    (file, out["key"].as_str().expect("key").to_string())
}

/// An `airlock-witness serve` process on loopback (killed when dropped).
pub struct WitnessProcess {
    pub child: std::process::Child,
    pub url: String,
    pub vkey: String,
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a witness named witness.test/w1 in `dir`, trusting the log `log_key`, and serves it
/// on a free loopback port with `serve_args` added.
pub fn start_witness_process(
    w: &World,
    dir: &str,
    log_key: &str,
    serve_args: &[&str],
) -> WitnessProcess {
    use std::io::BufRead;
    let home = w.p(dir);
    let home = path_str(&home);
    let made = run(
        &witness_bin(),
        &[
            "--home",
            home,
            "--json",
            "init",
            "--name",
            "witness.test/w1",
        ],
        w.now.get(),
        &[],
    )
    .ok()
    .json();
    run(
        &witness_bin(),
        &["--home", home, "log", "add", log_key],
        w.now.get(),
        &[],
    )
    .ok();
    let mut args = vec!["--home", home, "--json", "serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(serve_args);
    let mut child = std::process::Command::new(witness_bin())
        .args(&args)
        .env("AIRLOCK_NOW", w.now.get().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("the witness starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    WitnessProcess {
        child,
        url: v["listening"].as_str().unwrap().to_owned(),
        vkey: made["vkey"].as_str().unwrap().to_owned(),
    }
}

/// The coordinator's log key (`airlock id`), which witnesses trust.
pub fn log_key(w: &World) -> String {
    w.airlock(&["--json", "id"]).ok().json()["log_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Turns on a witness home's verifying mode for the log `log_key`, published by the service at
/// `url`.
pub fn witness_follow(w: &World, witness_home: &Path, log_key: &str, url: &str) {
    run(
        &witness_bin(),
        &[
            "--home",
            path_str(witness_home),
            "log",
            "add",
            log_key,
            "--verify-url",
            url,
        ],
        w.now.get(),
        &[],
    )
    .ok();
}

/// Waits (60 s at most) until the service at `url` holds at least `count` halts; returns them.
pub fn wait_for_halts(url: &str, count: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let halts = http::get(&format!("{url}/api/v1/halts")).json();
        if let Some(list) = halts.as_array().filter(|a| a.len() >= count) {
            return list.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than {count} halts within 60 s: {halts}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
