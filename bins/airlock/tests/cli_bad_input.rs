//! Hostile and broken input through the real binaries: malformed, non-canonical, oversized,
//! tampered and misattributed artifacts, duplicate and conflicting decisions, under-signed vault
//! versions, usage errors. Every refusal must exit non-zero, name the problem, and change nothing.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A treasury world with one open routine proposal, its bundle, alice's (unsubmitted) approval and
/// the vault v1 file.
struct Fixture {
    w: World,
    proposal: String,
    bundle: PathBuf,
    approval: PathBuf,
    vault: PathBuf,
}

fn fixture() -> Fixture {
    let w = treasury();
    let (proposal, bundle) = w.propose("treasury", "acme-rent:900", &[]);
    let approval = w.approve("alice", &bundle);
    let vault = w.p("treasury-v1.airlock");
    assert!(vault.is_file());
    Fixture {
        w,
        proposal,
        bundle,
        approval,
        vault,
    }
}

/// Every command that reads an artifact file, run on `file`; `out` is where the writing ones would
/// write. Inspect commands come first.
fn every_reader(w: &World, file: &Path, out: &Path) -> Vec<Out> {
    let f = path_str(file);
    let o = path_str(out);
    vec![
        w.airlock(&["inspect", f]),
        w.signer("bob", &["inspect", f]),
        w.airlock(&["submit", f]),
        w.airlock(&["vault", "submit", f]),
        w.signer("bob", &["review", f]),
        w.signer("bob", &["approve", f, "--out", o, "--yes"]),
        w.signer("bob", &["reject", f, "--reason", "no", "--out", o]),
        w.signer("bob", &["vault", "register", f]),
        w.signer("bob", &["vault", "sign", f, "--out", o, "--yes"]),
    ]
}

/// The coordinator's and bob's complete observable state.
fn snapshot(w: &World) -> (String, std::collections::BTreeMap<PathBuf, Vec<u8>>) {
    (w.coordinator_state(), w.signer_files("bob"))
}

fn armor(label: &str, bytes: &[u8]) -> String {
    // Standard padded base64, written here so the test does not borrow the code under test.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut body = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | (b[2] as u32);
        for i in 0..4 {
            if i <= chunk.len() {
                body.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                body.push('=');
            }
        }
    }
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN AIRLOCK {label}-----\n{}\n-----END AIRLOCK {label}-----\n",
        lines.join("\n")
    )
}

/// Files no reader may accept, each with the words its error must contain.
fn undecodable(fx: &Fixture) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let approval = std::fs::read(&fx.approval).unwrap();
    let env = Env::parse(&approval);
    let mut cases: Vec<(&'static str, Vec<u8>, &'static str)> = vec![
        ("empty", Vec::new(), "empty"),
        (
            "binary garbage",
            vec![0xff, 0x00, 0x13, 0x37],
            "unsupported",
        ),
        (
            "text garbage",
            b"hello, I am not an artifact\n".to_vec(),
            "trailing bytes",
        ),
    ];
    cases.push((
        "truncated",
        approval[..approval.len() * 2 / 3].to_vec(),
        "truncated",
    ));
    cases.push((
        "truncated by one byte",
        approval[..approval.len() - 1].to_vec(),
        "truncated",
    ));
    let mut trailing = approval.clone();
    trailing.push(0x00);
    cases.push(("trailing byte", trailing, "trailing bytes"));
    let mut trailing_copy = approval.clone();
    trailing_copy.extend_from_slice(&approval);
    cases.push(("two artifacts in one file", trailing_copy, "trailing bytes"));

    // Non-canonical encodings of the very same envelope, built by hand.
    let Cbor::M(entries) = env.to_cbor() else {
        unreachable!()
    };
    let mut unsorted = entries.clone();
    unsorted.swap(0, 1);
    cases.push((
        "map keys out of order",
        encode(&Cbor::M(unsorted)),
        "not in sorted order",
    ));
    let mut long_int = head(5, 4);
    long_int.extend(head_long(0, 0));
    long_int.extend(head_long(0, 1));
    for (k, v) in &entries[1..] {
        long_int.extend(encode(k));
        long_int.extend(encode(v));
    }
    cases.push(("integer not in shortest form", long_int, "shortest form"));
    let mut long_len = head(5, 4);
    for (k, v) in &entries {
        long_len.extend(encode(k));
        if let Cbor::T(t) = v {
            // The payload type's length in two bytes instead of one.
            long_len.push(0x79);
            long_len.extend_from_slice(&(t.len() as u16).to_be_bytes());
            long_len.extend_from_slice(t.as_bytes());
        } else {
            long_len.extend(encode(v));
        }
    }
    cases.push((
        "string length not in shortest form",
        long_len,
        "shortest form",
    ));
    let mut dup = entries.clone();
    dup.insert(1, dup[0].clone());
    cases.push((
        "duplicate map key",
        encode(&Cbor::M(dup)),
        "duplicate map key",
    ));
    let mut indefinite = vec![0xbf];
    for (k, v) in &entries {
        indefinite.extend(encode(k));
        indefinite.extend(encode(v));
    }
    indefinite.push(0xff);
    cases.push(("indefinite-length map", indefinite, "indefinite"));
    let mut float = entries.clone();
    float[0].1 = Cbor::U(0);
    let mut float_bytes = encode(&Cbor::M(float));
    float_bytes[2] = 0xf9; // version 0 -> half-float (then two bytes 0x00 0x00 would follow)
    float_bytes.splice(3..3, [0x3c, 0x00]);
    cases.push(("floating-point number", float_bytes, "floating-point"));
    let mut tagged = vec![0xc0];
    tagged.extend_from_slice(&approval);
    cases.push(("tagged item", tagged, "tagged"));

    // Well-formed CBOR that is not a valid envelope.
    let mut v2 = env.clone();
    v2.version = 2;
    cases.push((
        "unknown envelope format version",
        v2.to_bytes(),
        "unsupported format version 2",
    ));
    let mut extra = entries.clone();
    extra.push((Cbor::U(4), Cbor::T("surprise".into())));
    cases.push((
        "unknown envelope field",
        encode(&Cbor::M(extra)),
        "unknown field",
    ));
    let mut no_payload = entries.clone();
    no_payload.remove(2);
    cases.push(("missing payload", encode(&Cbor::M(no_payload)), "payload"));
    cases.push((
        "an array, not a map",
        encode(&Cbor::A(vec![Cbor::U(1)])),
        "expected a map",
    ));
    let mut two = env.clone();
    two.sign_with(&outsider_key());
    two.sigs.reverse();
    cases.push(("signatures out of order", two.to_bytes(), "sorted by key"));
    let mut dup_sig = env.clone();
    dup_sig.sigs.push(dup_sig.sigs[0].clone());
    cases.push((
        "one key signing twice",
        dup_sig.to_bytes(),
        "one signature per key",
    ));
    let mut short_sig = env.clone();
    short_sig.sigs[0].1.truncate(63);
    cases.push(("63-byte signature", short_sig.to_bytes(), "signature"));

    // Oversized: just over the 16 MiB artifact limit (decoded and refused by size), and far over
    // it (refused before reading).
    let mut big = env.clone();
    big.payload = vec![0x41; 16 * 1024 * 1024];
    cases.push(("17 MiB artifact", big.to_bytes(), "over the"));
    cases.push(("25 MiB file", vec![0u8; 25 * 1024 * 1024], "over the limit"));

    // Armored variants.
    let good = armor("APPROVAL", &approval);
    cases.push((
        "armor with a bad base64 character",
        good.replacen("\n", "\n!", 1).into_bytes(),
        "base64",
    ));
    let no_end: String = good.lines().take(2).map(|l| format!("{l}\n")).collect();
    cases.push(("armor without its END line", no_end.into_bytes(), "END"));
    cases.push((
        "armor with text after the END line",
        format!("{good}PS: trust me\n").into_bytes(),
        "after the END",
    ));
    cases.push((
        "armor with mismatched labels",
        good.replace("END AIRLOCK APPROVAL", "END AIRLOCK VAULT")
            .into_bytes(),
        "does not match",
    ));
    cases.push((
        "armor around a truncated artifact",
        armor("APPROVAL", &approval[..approval.len() / 2]).into_bytes(),
        "truncated",
    ));
    cases.push((
        "armor with an empty body",
        b"-----BEGIN AIRLOCK APPROVAL-----\n-----END AIRLOCK APPROVAL-----\n".to_vec(),
        "empty",
    ));
    cases
}

/// Every reader refuses every undecodable file with exit 1 and an error naming the file and the
/// problem; nothing is written, nothing changes.
#[test]
fn undecodable_files_are_refused_by_every_command_without_state_change() {
    let fx = fixture();
    let w = &fx.w;
    let before = snapshot(w);
    let out = w.p("must-not-exist.out");
    for (what, bytes, needle) in undecodable(&fx) {
        let file = w.p("hostile.file");
        std::fs::write(&file, &bytes).unwrap();
        for result in every_reader(w, &file, &out) {
            let cmd = result.cmd.clone();
            let result = result.fails(1, needle);
            assert!(
                result.stderr.contains("hostile.file"),
                "{what}: `{cmd}` does not name the file: {}",
                result.stderr
            );
            assert!(!out.exists(), "{what}: `{cmd}` wrote a file");
        }
    }
    // A directory and a missing file.
    let dir = w.p("a-directory");
    std::fs::create_dir(&dir).unwrap();
    for result in every_reader(w, &dir, &out) {
        result.fails(1, "directory");
    }
    for result in every_reader(w, &w.p("no-such-file"), &out) {
        result.fails(1, "no-such-file");
    }
    assert!(!out.exists());
    // With --json the error is JSON on stderr, with the exit code.
    let file = w.p("hostile.file");
    std::fs::write(&file, b"").unwrap();
    let r = w
        .airlock(&["--json", "submit", path_str(&file)])
        .fails(1, "empty");
    let err: serde_json::Value = serde_json::from_str(r.stderr.trim()).expect("JSON error");
    assert_eq!(err["exit_code"], 1);
    assert!(err["error"].as_str().unwrap().contains("hostile.file"));
    let r = w
        .signer("bob", &["--json", "review", path_str(&file)])
        .fails(1, "empty");
    let err: serde_json::Value = serde_json::from_str(r.stderr.trim()).expect("JSON error");
    assert_eq!(err["exit_code"], 1);
    assert_eq!(snapshot(w), before, "a refused command changed state");
    // The good approval still goes through afterwards.
    w.submit(&[&fx.approval]).ok();
}

/// Artifacts that decode as envelopes but carry an unknown payload type, an unknown payload format
/// version, a non-canonical payload or the wrong kind: `inspect` shows them (exit 0) with the
/// problem; every command that would act on them refuses.
#[test]
fn decodable_but_unusable_artifacts_are_shown_by_inspect_and_refused_elsewhere() {
    let fx = fixture();
    let w = &fx.w;
    let before = snapshot(w);
    let out = w.p("must-not-exist.out");
    let approval = Env::read(&fx.approval);

    let mut unknown_type = approval.clone();
    unknown_type.payload_type = "application/vnd.airlock.bogus+cbor".into();
    unknown_type.sigs.clear();
    unknown_type.sign_with(&outsider_key());

    let mut payload = approval.payload_cbor();
    payload.set(0, Cbor::U(2));
    let mut future = approval.clone();
    future.payload = encode(&payload);
    future.sigs.clear();
    future.sign_with(&outsider_key());

    let Cbor::M(mut fields) = approval.payload_cbor() else {
        unreachable!()
    };
    fields.reverse();
    let mut noncanonical = approval.clone();
    noncanonical.payload = encode(&Cbor::M(fields));
    noncanonical.sigs.clear();
    noncanonical.sign_with(&outsider_key());

    let mut not_cbor = approval.clone();
    not_cbor.payload = b"\xff\xff\xff".to_vec();
    not_cbor.sigs.clear();
    not_cbor.sign_with(&outsider_key());

    let cases = [
        ("unknown payload type", unknown_type, "unknown payload type"),
        (
            "unknown payload version",
            future,
            "unsupported format version 2",
        ),
        ("non-canonical payload", noncanonical, "not in sorted order"),
        ("payload that is not CBOR", not_cbor, "unsupported"),
    ];
    for (what, env, needle) in cases {
        let file = w.p("odd.airlock");
        env.write(&file);
        let mut results = every_reader(w, &file, &out).into_iter();
        for inspect in [results.next().unwrap(), results.next().unwrap()] {
            let text = inspect.ok();
            assert!(
                text.stdout.contains("payload: CANNOT DECODE") && text.stdout.contains(needle),
                "{what}: {}",
                text.stdout
            );
            assert!(text.stdout.contains(": VALID"), "{what}: {}", text.stdout);
        }
        for (n, refused) in results.enumerate() {
            // `submit` (the first) decodes the approval and names the payload's problem; the
            // others expect another kind and say so.
            let expected = if what == "unknown payload type" {
                "found unknown type \"application/vnd.airlock.bogus+cbor\""
            } else if n == 0 {
                needle
            } else {
                ", found approval"
            };
            refused.fails(1, expected);
            assert!(!out.exists(), "{what}");
        }
        let j = w
            .airlock(&["--json", "inspect", path_str(&file)])
            .ok()
            .json();
        assert!(
            j["payload_error"].as_str().unwrap().contains(needle),
            "{what}: {j}"
        );
        assert!(j.get("payload").is_none());
    }
    let j = w
        .signer("bob", &["--json", "inspect", path_str(&w.p("odd.airlock"))])
        .ok()
        .json();
    assert_eq!(j["signatures"][0]["valid"], true);

    // Each kind in the wrong place.
    w.submit(&[&fx.bundle]).fails(
        1,
        "expected an artifact of kind approval, found proposal-bundle",
    );
    w.submit(&[&fx.vault]).fails(1, "found vault");
    w.airlock(&["vault", "submit", path_str(&fx.approval)])
        .fails(1, "found approval");
    w.signer("bob", &["review", path_str(&fx.approval)])
        .fails(1, "found approval");
    w.signer(
        "bob",
        &[
            "approve",
            path_str(&fx.vault),
            "--out",
            path_str(&out),
            "--yes",
        ],
    )
    .fails(1, "found vault");
    w.signer("bob", &["vault", "register", path_str(&fx.bundle)])
        .fails(1, "found proposal-bundle");
    assert!(!out.exists());
    assert_eq!(snapshot(w), before);
}

/// `inspect` on valid artifacts prints every signature as VALID, with names from its own records.
#[test]
fn inspect_reports_each_signature() {
    let fx = fixture();
    let w = &fx.w;
    let text = w.airlock(&["inspect", path_str(&fx.bundle)]).ok().stdout;
    assert!(text.starts_with("PROPOSAL-BUNDLE artifact "), "{text}");
    assert!(
        text.contains("(coordinator test.airlock/log): VALID"),
        "{text}"
    );
    assert!(text.contains("inclusion_proof_valid: true"), "{text}");
    let j = w
        .signer("carol", &["--json", "inspect", path_str(&fx.vault)])
        .ok()
        .json();
    assert_eq!(j["kind"], "vault");
    let sigs = j["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 3);
    assert!(sigs.iter().all(|s| s["valid"] == true));
    let mut names: Vec<&str> = sigs.iter().map(|s| s["signer"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names[0], "alice (ops of vault treasury)");
    assert_eq!(names[2], "carol (this signer)");
    let j = w
        .airlock(&["--json", "inspect", path_str(&fx.approval)])
        .ok()
        .json();
    assert_eq!(
        j["payload"]["proposal"].as_str(),
        Some(fx.proposal.as_str())
    );
}

/// Bit flips anywhere in an approval: the coordinator never accepts the result, and `inspect`
/// never calls it intact. Flips in the signature and in the payload decode, and inspect says
/// INVALID.
#[test]
fn bit_flips_in_an_approval_are_never_accepted() {
    let fx = fixture();
    let w = &fx.w;
    let bytes = std::fs::read(&fx.approval).unwrap();
    let env = Env::parse(&bytes);
    let before = w.coordinator_state();
    let file = w.p("flipped.approval");

    let sig_at = find_unique(&bytes, &env.sigs[0].1);
    let payload_at = find_unique(&bytes, &env.payload);
    for (what, index) in [
        ("first signature byte", sig_at),
        ("last signature byte", sig_at + 63),
        ("signature middle", sig_at + 30),
        (
            "payload: last byte (review digest)",
            payload_at + env.payload.len() - 1,
        ),
        (
            "payload: seen checkpoint root",
            payload_at + env.payload.len() - 40,
        ),
    ] {
        std::fs::write(&file, flip(&bytes, index, 0)).unwrap();
        let text = w.airlock(&["inspect", path_str(&file)]).ok().stdout;
        assert!(text.contains(": INVALID"), "{what}: {text}");
        assert!(!text.contains(": VALID"), "{what}: {text}");
        let j = w
            .signer("bob", &["--json", "inspect", path_str(&file)])
            .ok()
            .json();
        assert_eq!(j["signatures"][0]["valid"], false, "{what}");
        assert_eq!(j["all_signatures_valid"], false, "{what}");
        w.submit(&[&file]).fails(1, "signature");
    }
    // A flip in the proposal id: the signature check comes first.
    std::fs::write(&file, flip(&bytes, payload_at + 10, 0)).unwrap();
    assert!(
        w.airlock(&["inspect", path_str(&file)])
            .ok()
            .stdout
            .contains(": INVALID")
    );
    w.submit(&[&file]).fails(1, "does not verify");

    // Every 3rd byte, a different bit each time: never accepted, never called intact.
    for index in (0..bytes.len()).step_by(3) {
        let flipped = flip(&bytes, index, (index % 8) as u8);
        std::fs::write(&file, &flipped).unwrap();
        let submit = w.submit(&[&file]);
        assert_eq!(submit.code, 1, "byte {index}: {submit:?}");
        assert!(!submit.stderr.contains("panicked"), "{submit:?}");
        let inspect = w.airlock(&["--json", "inspect", path_str(&file)]);
        if inspect.code == 0 {
            let j = inspect.json();
            assert!(
                j["all_signatures_valid"] == false || j.get("payload_error").is_some(),
                "byte {index} flipped and inspect calls it intact: {j}"
            );
        } else {
            assert_eq!(inspect.code, 1, "{inspect:?}");
        }
    }
    assert_eq!(w.coordinator_state(), before);
    w.submit(&[&fx.approval]).ok();
}

/// Bit flips in a bundle (its own signature, the proposal inside, its signature, the vault inside,
/// the checkpoint, the inclusion proof, the log leaf) are refused by review and approve, which
/// write nothing.
#[test]
fn bit_flips_in_a_bundle_are_refused_by_the_signer() {
    let fx = fixture();
    let w = &fx.w;
    let bytes = std::fs::read(&fx.bundle).unwrap();
    let outer = Env::parse(&bytes);
    let bundle = outer.payload_cbor();
    let proposal_bytes = bundle.get(1).bytes().to_vec();
    let proposal = Env::parse(&proposal_bytes);
    let vault_bytes = bundle.get(2).bytes().to_vec();
    let evidence = bundle.get(3);
    let Cbor::T(note) = evidence.get(5) else {
        panic!("no checkpoint note")
    };
    let Cbor::A(inclusion) = evidence.get(4) else {
        panic!("no inclusion proof")
    };
    let leaf = evidence.get(1).bytes().to_vec();
    let note_at = find_unique(&bytes, note.as_bytes());
    // The note is "origin\nsize\nroot-base64\n\n— origin signature\n".
    let root_line = note.lines().nth(2).unwrap();
    let root_at = note_at + note.find(root_line).unwrap();
    let proposal_payload_at = find_unique(&bytes, &proposal.payload);
    let amount_at = proposal_payload_at + find_unique(&proposal.payload, b"acme-rent") + 9;

    let vault_at = find_unique(&bytes, &vault_bytes);
    let alice_in_vault = vault_at + find_unique(&vault_bytes, b"alice");
    // (what, byte, bit, what the signer says once the bundle's own signature is out of the way)
    let positions = [
        (
            "proposal signature",
            find_unique(&bytes, &proposal.sigs[0].1) + 7,
            0,
            "the proposal's signature by the vault's coordinator",
        ),
        (
            "proposal payload: destination",
            amount_at - 3,
            0,
            "does not verify",
        ),
        (
            "proposal payload: a length",
            amount_at + 1,
            1,
            "malformed artifact",
        ),
        (
            "vault definition: a signer's name",
            alice_in_vault + 2,
            0,
            "differs from the one registered",
        ),
        (
            "vault definition: its structure",
            vault_at + 40,
            2,
            "malformed artifact",
        ),
        (
            "checkpoint root",
            root_at + 3,
            1,
            "checkpoint is not signed by the vault's coordinator",
        ),
        (
            "checkpoint signature",
            note_at + note.len() - 6,
            1,
            "checkpoint is not signed",
        ),
        (
            "inclusion proof",
            find_unique(&bytes, inclusion[0].bytes()) + 5,
            3,
            "not in the log",
        ),
        (
            "log leaf",
            find_unique(&bytes, &leaf) + leaf.len() - 3,
            0,
            "not in the log",
        ),
        (
            "bundle signature",
            find_unique(&bytes, &outer.sigs[0].1) + 7,
            0,
            "",
        ),
    ];
    let before = snapshot(w);
    let out = w.p("must-not-exist.approval");
    let file = w.p("flipped.bundle");
    let payload_at = find_unique(&bytes, &outer.payload);
    let refused = |what: &str, file: &Path, expected: &str| {
        let review = w.signer("bob", &["review", path_str(file)]);
        assert_eq!(
            review.code, 1,
            "{what}: review accepted a tampered bundle: {review:?}"
        );
        assert!(
            review.stderr.contains(expected),
            "{what}: {}",
            review.stderr
        );
        let approve = w.signer(
            "bob",
            &["approve", path_str(file), "--out", path_str(&out), "--yes"],
        );
        assert_eq!(approve.code, 1, "{what}: {approve:?}");
        assert!(!approve.stderr.contains("panicked"));
        assert!(!out.exists(), "{what}: an approval was written");
    };
    for (what, index, bit, inner) in positions {
        // As delivered: the bundle's own signature no longer verifies.
        std::fs::write(&file, flip(&bytes, index, bit)).unwrap();
        refused(what, &file, "does not verify");
        // With the bundle's signature stripped (bundles need none): the contents are checked
        // one by one.
        if index >= payload_at && index < payload_at + outer.payload.len() {
            let mut unsigned = outer.clone();
            unsigned.sigs.clear();
            unsigned.payload = flip(&outer.payload, index - payload_at, bit);
            unsigned.write(&file);
            refused(what, &file, inner);
        }
    }
    // The unsigned but intact bundle is fine: the refusals above are about the flipped bit.
    let mut unsigned = outer.clone();
    unsigned.sigs.clear();
    unsigned.write(&file);
    w.signer("bob", &["review", path_str(&file)]).ok();
    assert_eq!(snapshot(w), before);
    // The intact bundle is still fine.
    w.signer("bob", &["review", path_str(&fx.bundle)]).ok();
}

/// Decisions whose signature is missing, belongs to another key, or comes from a key outside the
/// vault version are refused, and change nothing.
#[test]
fn decisions_with_missing_foreign_or_outsider_signatures_are_refused() {
    let fx = fixture();
    let w = &fx.w;
    let alice = Env::read(&fx.approval);
    let bob_file = w.approve("bob", &fx.bundle);
    let bob = Env::read(&bob_file);
    let before = w.coordinator_state();
    let file = w.p("forged.approval");

    let mut unsigned = alice.clone();
    unsigned.sigs.clear();
    unsigned.write(&file);
    assert!(
        w.airlock(&["inspect", path_str(&file)])
            .ok()
            .stdout
            .contains("signatures: none (unsigned)")
    );
    w.submit(&[&file]).fails(1, "not signed by alice");

    let mut bobs_signature = alice.clone();
    bobs_signature.sigs = bob.sigs.clone();
    bobs_signature.write(&file);
    let text = w.airlock(&["inspect", path_str(&file)]).ok().stdout;
    assert!(
        text.contains("(bob (ops of vault treasury)): INVALID"),
        "{text}"
    );
    w.submit(&[&file]).fails(1, "does not verify");

    let mut bob_sig_alice_key = alice.clone();
    bob_sig_alice_key.sigs[0].1 = bob.sigs[0].1.clone();
    bob_sig_alice_key.write(&file);
    w.submit(&[&file]).fails(1, "does not verify");

    // An outsider rewrites the signer field to its own key and signs: not a signer of the vault.
    let outsider = outsider_key();
    let mut payload = alice.payload_cbor();
    payload.set(7, Cbor::B(outsider.verifying_key().to_bytes().to_vec()));
    let mut foreign = alice.clone();
    foreign.payload = encode(&payload);
    foreign.sigs.clear();
    foreign.sign_with(&outsider);
    foreign.write(&file);
    assert!(
        w.airlock(&["inspect", path_str(&file)])
            .ok()
            .stdout
            .contains("(unknown key): VALID")
    );
    w.submit(&[&file])
        .fails(1, "is not a signer of vault treasury version 1");

    // Alice's approval re-signed by the outsider only.
    let mut resigned = alice.clone();
    resigned.sigs.clear();
    resigned.sign_with(&outsider);
    resigned.write(&file);
    w.submit(&[&file]).fails(1, "not signed by alice");

    // A refused file in a batch refuses the batch: bob's good approval is not recorded either.
    w.submit(&[&bob_file, &file])
        .fails(1, "not signed by alice");
    assert_eq!(w.coordinator_state(), before);
    assert_eq!(w.submit(&[&bob_file]).ok().json()[0]["status"], "ready");
}

/// The same decision twice, and two different decisions by one signer (a copied signer home that
/// approves while the original rejects), are refused at the coordinator; the signer itself refuses
/// to decide twice and writes nothing.
#[test]
fn duplicate_and_conflicting_decisions_are_refused() {
    let w = treasury();
    let (p, bundle) = w.propose("treasury", "unknown-exchange:5000", &[]);
    // A second device with alice's key (a copied home directory).
    copy_dir(&w.signer_home("alice"), &w.signer_home("alice2"));
    std::fs::copy(w.pass_file("alice"), w.pass_file("alice2")).unwrap();
    let approve = w.approve("alice", &bundle);
    let reject = w.reject("alice2", &bundle, "changed my mind");

    // Signer side: a second decision is refused, nothing written, journal unchanged.
    let files = w.signer_files("alice");
    let review = w
        .signer("alice", &["--json", "review", path_str(&bundle)])
        .ok()
        .json();
    assert_eq!(review["can_approve"], false);
    assert!(
        review["problems"]
            .to_string()
            .contains("already decided on this proposal (approve"),
        "{review}"
    );
    // The same decision again (after a crash, a lost file) writes the recorded one, byte for byte.
    let out = w.p("second.decision");
    w.signer(
        "alice",
        &[
            "approve",
            path_str(&bundle),
            "--out",
            path_str(&out),
            "--yes",
        ],
    )
    .ok()
    .says("already decided 'approve'");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&approve).unwrap()
    );
    std::fs::remove_file(&out).unwrap();
    // A contradicting one is refused.
    w.signer(
        "alice",
        &[
            "reject",
            path_str(&bundle),
            "--reason",
            "oops",
            "--out",
            path_str(&out),
        ],
    )
    .fails(1, "already decided");
    assert!(!out.exists());
    assert_eq!(w.signer_files("alice"), files);
    // The decision can be written again from the journal, byte for byte.
    w.signer("alice", &["reexport", &p, "--out", path_str(&out)])
        .ok();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&approve).unwrap()
    );

    // Coordinator side.
    let before = w.coordinator_state();
    w.submit(&[&approve, &approve])
        .fails(1, "already submitted");
    w.submit(&[&approve, &reject])
        .fails(1, "alice already decided on this proposal (approve)");
    assert_eq!(
        w.coordinator_state(),
        before,
        "a refused batch recorded something"
    );
    w.submit(&[&approve]).ok();
    let before = w.coordinator_state();
    w.submit(&[&approve]).fails(1, "already submitted");
    w.submit(&[&reject])
        .fails(1, "alice already decided on this proposal (approve)");
    assert_eq!(w.coordinator_state(), before);
    let st = w.status(&p);
    assert_eq!(st["approved"], serde_json::json!(["alice"]));
    assert_eq!(st["rejected"], serde_json::json!([]));
}

/// Vault versions need a threshold of distinct keys: v1 of its own signers, v2 of v1's signers
/// (new keys cannot outvote old ones) and of its own. One signer's copy given twice counts once.
#[test]
fn vault_versions_need_a_threshold_of_distinct_keys() {
    let w = World::new();
    w.init_coordinator();
    let keys: Vec<String> = ["alice", "bob", "carol", "dave"]
        .iter()
        .map(|n| w.init_signer(n))
        .collect();
    let draft = w.draft_treasury(&keys);
    let sign = |who: &str, draft: &Path, tag: &str| {
        let out = w.p(&format!("{tag}.{who}"));
        w.signer(
            who,
            &[
                "vault",
                "sign",
                path_str(draft),
                "--out",
                path_str(&out),
                "--yes",
            ],
        )
        .ok();
        out
    };
    let a1 = sign("alice", &draft, "v1");
    let before = w.coordinator_state();
    let bob_files = w.signer_files("bob");
    w.airlock(&["vault", "submit", path_str(&a1)]).fails(
        1,
        "needs signatures from 2 distinct keys of its own signers, has 1",
    );
    w.airlock(&["vault", "submit", path_str(&a1), path_str(&a1)])
        .fails(1, "has 1");
    w.airlock(&["vault", "submit", path_str(&draft)])
        .fails(1, "has 0");
    // A signer will not register it either.
    w.signer("bob", &["vault", "register", path_str(&a1)])
        .fails(1, "has 1");
    // An outsider's signature does not count.
    let mut with_outsider = Env::read(&a1);
    with_outsider.sign_with(&outsider_key());
    let outsider_file = w.p("v1.outsider");
    with_outsider.write(&outsider_file);
    w.airlock(&["vault", "submit", path_str(&outsider_file)])
        .fails(1, "has 1");
    w.signer("bob", &["vault", "register", path_str(&outsider_file)])
        .fails(1, "has 1");
    // dave is not in the draft and will not sign it.
    let dave_out = w.p("v1.dave");
    w.signer(
        "dave",
        &[
            "vault",
            "sign",
            path_str(&draft),
            "--out",
            path_str(&dave_out),
            "--yes",
        ],
    )
    .fails(1, "not a signer");
    assert!(!dave_out.exists());
    assert_eq!(w.coordinator_state(), before);
    assert_eq!(w.signer_files("bob"), bob_files);

    let b1 = sign("bob", &draft, "v1");
    w.airlock(&["vault", "submit", path_str(&a1), path_str(&b1)])
        .ok();
    let v1 = w.p("v1.airlock");
    w.airlock(&["vault", "show", "treasury", "--out", path_str(&v1)])
        .ok();
    for who in ["alice", "bob", "carol"] {
        w.signer(who, &["vault", "register", path_str(&v1)]).ok();
    }

    // v2: bob out, eve in (eve's key is held by this test, so it can sign by hand; a signer
    // that is not in v1 cannot sign a v2 draft with the CLI). Alice alone, alice twice, alice +
    // eve (eve is not a v1 key): refused.
    let eve = outsider_key();
    let eve_hex: String = eve
        .verifying_key()
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let draft2 = w.p("v2.draft");
    w.airlock(&[
        "vault",
        "draft",
        "--vault",
        "treasury",
        "--remove-signer",
        "bob",
        "--add-signer",
        &format!("eve:ops:{eve_hex}"),
        "--out",
        path_str(&draft2),
    ])
    .ok();
    let a2 = sign("alice", &draft2, "v2");
    let mut eve_copy = Env::read(&draft2);
    eve_copy.sign_with(&eve);
    let e2 = w.p("v2.eve");
    eve_copy.write(&e2);
    let before = w.coordinator_state();
    w.airlock(&["vault", "submit", path_str(&a2)]).fails(
        1,
        "needs signatures from 2 distinct keys of version 1, has 1",
    );
    w.airlock(&["vault", "submit", path_str(&a2), path_str(&a2)])
        .fails(1, "of version 1, has 1");
    w.airlock(&["vault", "submit", path_str(&a2), path_str(&e2)])
        .fails(1, "of version 1, has 1");
    // The same merge, made by hand and given to a signer.
    let mut merged = Env::read(&a2);
    merged.sigs.extend(eve_copy.sigs.clone());
    merged.sigs.sort();
    let merged_file = w.p("v2.merged");
    merged.write(&merged_file);
    let carol_files = w.signer_files("carol");
    w.signer("carol", &["vault", "register", path_str(&merged_file)])
        .fails(1, "of version 1, has 1");
    assert_eq!(w.signer_files("carol"), carol_files);
    assert_eq!(w.coordinator_state(), before);
    assert_eq!(
        w.airlock(&["--json", "vault", "list"]).ok().json()[0]["version"],
        1
    );

    // Bob (a v1 key) completes the v1 side, but v2 needs 2 of its own keys too: alice + bob is
    // 2 of v1 and only 1 of v2 (bob is not in v2).
    let b2 = sign("bob", &draft2, "v2");
    w.airlock(&["vault", "submit", path_str(&a2), path_str(&b2)])
        .fails(1, "distinct keys of its own signers, has 1");
    assert_eq!(w.coordinator_state(), before);
    w.airlock(&[
        "vault",
        "submit",
        path_str(&a2),
        path_str(&b2),
        path_str(&e2),
    ])
    .ok();
    assert_eq!(
        w.airlock(&["--json", "vault", "list"]).ok().json()[0]["version"],
        2
    );
}

/// Usage errors are clap's: exit 2, and nothing happens.
#[test]
fn usage_errors_exit_2() {
    let fx = fixture();
    let w = &fx.w;
    let before = snapshot(w);
    let out = w.p("usage.out");
    assert_eq!(w.airlock(&["frobnicate"]).code, 2);
    assert_eq!(
        w.airlock(&["submit", "--bogus", path_str(&fx.approval)])
            .code,
        2
    );
    assert_eq!(w.airlock(&["propose", "--vault"]).code, 2);
    assert_eq!(
        w.signer("bob", &["approve", path_str(&fx.bundle), "--yes"])
            .code,
        2,
        "approve without --out"
    );
    assert_eq!(
        w.signer(
            "bob",
            &["reject", path_str(&fx.bundle), "--out", path_str(&out)]
        )
        .code,
        2,
        "reject without --reason"
    );
    assert_eq!(
        w.signer_raw(&[
            "--home",
            path_str(&w.p("x")),
            "init",
            "--name",
            "x",
            "--kdf",
            "weak"
        ])
        .code,
        2
    );
    assert!(!out.exists());
    assert!(!w.p("x").exists());
    assert_eq!(snapshot(w), before);
    // Bad values that clap accepts are refused by the program with exit 1.
    w.airlock(&["propose", "--vault", "treasury", "--to", "acme-rent:lots"])
        .fails(1, "is not an amount");
    w.airlock(&["propose", "--vault", "nope", "--to", "acme-rent:1"])
        .fails(1, "no vault named");
    w.airlock(&[
        "propose",
        "--vault",
        "treasury",
        "--to",
        "acme-rent:1",
        "--expires-in",
        "soon",
    ])
    .fails(1, "is not a duration");
    w.airlock(&["submit"]).fails(1, "give one or more");
    assert_eq!(snapshot(w), before);
}

/// Refused commands that would write a file write none.
#[test]
fn refused_commands_write_no_files() {
    let fx = fixture();
    let w = &fx.w;
    let before = snapshot(w);
    let out = w.p("never.out");
    let o = path_str(&out);
    w.airlock(&["propose", "--vault", "treasury", "--out", o])
        .fails(1, "nothing to decide");
    w.airlock(&[
        "propose",
        "--vault",
        "treasury",
        "--to",
        "acme-rent:1",
        "--to",
        "acme-rent:x",
        "--out",
        o,
    ])
    .fails(1, "is not an amount");
    w.airlock(&[
        "vault",
        "draft",
        "--vault",
        "treasury",
        "--threshold",
        "9",
        "--out",
        o,
    ])
    .fails(
        1,
        "threshold 9 must be between 1 and the number of signers (3)",
    );
    w.airlock(&[
        "vault",
        "draft",
        "--vault",
        "treasury",
        "--remove-signer",
        "zed",
        "--out",
        o,
    ])
    .fails(1, "no such signer");
    w.airlock(&[
        "vault", "draft", "--vault", "other", "--signer", "a:ops:zz", "--out", o,
    ])
    .fails(1, "signer \"a\"");
    w.airlock(&["export", &"ab".repeat(32), "--out", o])
        .fails(1, "no proposal abababababab");
    w.airlock(&["finalize", &fx.proposal, "--out", o])
        .fails(1, "not ready");
    w.airlock(&["vault", "show", "nope", "--out", o])
        .fails(1, "no vault named");
    w.signer("bob", &["reexport", &fx.proposal, "--out", o])
        .fails(1, "has not decided");
    w.signer("bob", &["reexport", "not-hex", "--out", o])
        .fails(1, "not hex");
    assert!(!out.exists());
    assert_eq!(snapshot(w), before);
}

/// A signature that does not verify means the file was altered after signing: vault copies,
/// vault definitions, drafts and decisions carrying one are refused, even when the valid
/// signatures alone would meet the threshold (a bad signature must never be stored or passed on).
#[test]
fn a_signature_that_does_not_verify_is_refused_even_beside_enough_valid_ones() {
    let w = World::new();
    w.init_coordinator();
    let keys: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| w.init_signer(n))
        .collect();
    let draft = w.draft_treasury(&keys);
    let copies: Vec<std::path::PathBuf> = ["alice", "bob", "carol"]
        .iter()
        .map(|who| {
            let out = w.p(&format!("v1.{who}"));
            w.signer(
                who,
                &[
                    "vault",
                    "sign",
                    path_str(&draft),
                    "--out",
                    path_str(&out),
                    "--yes",
                ],
            )
            .ok();
            out
        })
        .collect();
    let mut carol = Env::read(&copies[2]);
    carol.sigs[0].1[10] ^= 0x20;
    let bad_carol = w.p("v1.carol-tampered");
    carol.write(&bad_carol);

    // The coordinator does not merge a bad signature into the vault it activates.
    let before = w.coordinator_state();
    w.airlock(&[
        "vault",
        "submit",
        path_str(&copies[0]),
        path_str(&copies[1]),
        path_str(&bad_carol),
    ])
    .fails(1, "does not verify");
    assert_eq!(w.coordinator_state(), before);
    // Signing a draft that carries a bad signature passes it on: refused.
    let out = w.p("v1.bob-again");
    w.signer(
        "bob",
        &[
            "vault",
            "sign",
            path_str(&bad_carol),
            "--out",
            path_str(&out),
            "--yes",
        ],
    )
    .fails(1, "does not verify");
    assert!(!out.exists());

    w.airlock(&[
        "vault",
        "submit",
        path_str(&copies[0]),
        path_str(&copies[1]),
        path_str(&copies[2]),
    ])
    .ok();
    let v1 = w.p("v1.airlock");
    w.airlock(&["vault", "show", "treasury", "--out", path_str(&v1)])
        .ok();
    let mut v1_bad = Env::read(&v1);
    assert_eq!(v1_bad.sigs.len(), 3);
    let carol_key = v1_bad
        .sigs
        .iter()
        .position(|(k, _)| k.iter().map(|b| format!("{b:02x}")).collect::<String>() == keys[2])
        .unwrap();
    v1_bad.sigs[carol_key].1[0] ^= 0x01;
    let v1_bad_file = w.p("v1-tampered.airlock");
    v1_bad.write(&v1_bad_file);
    let text = w.airlock(&["inspect", path_str(&v1_bad_file)]).ok().stdout;
    assert_eq!(text.matches(": VALID").count(), 2, "{text}");
    assert_eq!(text.matches(": INVALID").count(), 1, "{text}");
    let files = w.signer_files("alice");
    w.signer("alice", &["vault", "register", path_str(&v1_bad_file)])
        .fails(1, "does not verify");
    assert_eq!(w.signer_files("alice"), files);
    for who in ["alice", "bob", "carol"] {
        w.signer(who, &["vault", "register", path_str(&v1)]).ok();
    }

    // A decision with a second, broken signature next to the signer's valid one.
    let (_, bundle) = w.propose("treasury", "x:1", &[]);
    let approval = w.approve("alice", &bundle);
    let mut two = Env::read(&approval);
    two.sign_with(&outsider_key());
    let i = two
        .sigs
        .iter()
        .position(|(k, _)| *k == outsider_key().verifying_key().to_bytes().to_vec())
        .unwrap();
    two.sigs[i].1[5] ^= 0x80;
    let file = w.p("approval.two-signatures");
    two.write(&file);
    let before = w.coordinator_state();
    w.submit(&[&file]).fails(1, "does not verify");
    assert_eq!(w.coordinator_state(), before);
    w.submit(&[&approval]).ok();
}
