//! SLIP-39 against facts and against the reference implementation.
//!
//! * `tests/data/slip39_vectors.json` is the official test-vector file of the reference
//!   implementation (trezor/python-shamir-mnemonic `vectors.json`, commit 17fcce1): every valid
//!   vector must recover the stated master secret with passphrase "TREZOR", every invalid one must
//!   be refused.
//! * Interoperability both ways with the reference implementation, PyPI `shamir-mnemonic`
//!   (its `shamir create` / `shamir recover` commands and its Python API). These tests FAIL, not
//!   skip, when it is missing: install it with `pip install shamir-mnemonic==0.3.0`.

use std::io::Write as _;
use std::process::{Command, Stdio};

use airlock_custody::slip39::{self, Share, Slip39Error};
use rand_core::OsRng;

const INSTALL: &str = "the SLIP-39 reference implementation is required for this test: install it with `pip install shamir-mnemonic==0.3.0` (provides the `shamir` command and the `shamir_mnemonic` Python module)";

fn vectors() -> Vec<(String, Vec<String>, String)> {
    let text = include_str!("data/slip39_vectors.json");
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let name = t[0].as_str().unwrap().to_string();
            let shares = t[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            let secret = t[2].as_str().unwrap().to_string();
            (name, shares, secret)
        })
        .collect()
}

#[test]
fn official_vectors() {
    let all = vectors();
    assert_eq!(all.len(), 45, "the vector file has 45 cases");
    let mut valid = 0;
    for (name, shares, secret) in &all {
        let result = slip39::combine(shares, "TREZOR");
        if secret.is_empty() {
            assert!(result.is_err(), "{name}: must be refused, was accepted");
        } else {
            let got = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(hex::encode(got.as_slice()), *secret, "{name}");
            valid += 1;
        }
    }
    assert_eq!(valid, 15);
}

/// The invalid vectors fail for the reason their name gives.
#[test]
fn official_invalid_vectors_fail_for_the_stated_reason() {
    for (name, shares, secret) in vectors() {
        if !secret.is_empty() {
            continue;
        }
        let err = slip39::combine(&shares, "TREZOR").unwrap_err();
        let ok = if name.contains("invalid checksum") {
            matches!(err, Slip39Error::Checksum { share: 1 })
        } else if name.contains("invalid padding") || name.contains("invalid master secret length")
        {
            matches!(err, Slip39Error::Padding { .. })
        } else if name.contains("different identifiers") {
            matches!(
                err,
                Slip39Error::DifferentBackup {
                    field: "identifier",
                    ..
                }
            )
        } else if name.contains("different iteration exponents") {
            matches!(
                err,
                Slip39Error::DifferentBackup {
                    field: "iteration exponent",
                    ..
                }
            )
        } else if name.contains("mismatching group thresholds") {
            matches!(
                err,
                Slip39Error::GroupParametersMismatch {
                    field: "group threshold",
                    ..
                }
            )
        } else if name.contains("mismatching group counts") {
            matches!(
                err,
                Slip39Error::GroupParametersMismatch {
                    field: "group count",
                    ..
                }
            )
        } else if name.contains("greater group threshold than group counts") {
            matches!(err, Slip39Error::InvalidShare { .. })
        } else if name.contains("duplicate member indices") {
            matches!(err, Slip39Error::DuplicateShare { .. })
        } else if name.contains("mismatching member thresholds") {
            matches!(err, Slip39Error::MemberThresholdMismatch { .. })
        } else if name.contains("invalid digest") {
            matches!(err, Slip39Error::DigestMismatch)
        } else if name.contains("Insufficient number of groups") {
            matches!(err, Slip39Error::TooFewGroups { .. })
        } else if name.contains("insufficient number of members") {
            matches!(err, Slip39Error::TooFewShares { .. })
        } else if name.contains("insufficient length") {
            matches!(err, Slip39Error::WordCount { .. })
        } else if name.contains("Basic sharing 2-of-3") {
            // One share of a 2-of-3 set.
            matches!(err, Slip39Error::TooFewShares { .. })
        } else {
            panic!("{name}: no expectation written for this vector ({err})");
        };
        assert!(ok, "{name}: unexpected error {err:?}");
    }
}

#[test]
fn split_then_combine_every_setup() {
    let secret = [0x5au8; 32];
    let groups = slip39::split(
        &secret,
        "pass",
        2,
        &[(3, 5), (2, 3), (1, 1)],
        true,
        0,
        &mut OsRng,
    )
    .unwrap();
    assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [5, 3, 1]);
    let pick = |g: usize, ms: &[usize]| -> Vec<String> {
        ms.iter().map(|&m| groups[g][m].to_string()).collect()
    };
    for set in [
        [pick(0, &[0, 2, 4]), pick(1, &[1, 2])].concat(),
        [pick(2, &[0]), pick(0, &[4, 3, 1])].concat(),
        [pick(1, &[2, 0]), pick(2, &[0])].concat(),
    ] {
        assert_eq!(slip39::combine(&set, "pass").unwrap().as_slice(), secret);
        // Another passphrase gives another secret (SLIP-39 cannot tell).
        assert_ne!(slip39::combine(&set, "other").unwrap().as_slice(), secret);
    }
    // 128-bit, non-extendable, exponent 1, single group.
    let secret = [0x11u8; 16];
    let g = slip39::split(&secret, "", 1, &[(2, 3)], false, 1, &mut OsRng).unwrap();
    assert_eq!(g[0][0].split_whitespace().count(), 20);
    let s = Share::parse(&g[0][1]).unwrap();
    assert!(!s.extendable());
    assert_eq!(s.iteration_exponent(), 1);
    assert_eq!(
        slip39::combine(&[&*g[0][2], &*g[0][1]], "")
            .unwrap()
            .as_slice(),
        secret
    );
}

#[test]
fn split_refuses_bad_parameters() {
    let s = [1u8; 16];
    let r = &mut OsRng;
    assert!(matches!(
        slip39::split(&[1u8; 15], "", 1, &[(1, 1)], true, 0, r),
        Err(Slip39Error::SecretLength(15))
    ));
    assert!(matches!(
        slip39::split(&[1u8; 18 + 1], "", 1, &[(1, 1)], true, 0, r),
        Err(Slip39Error::SecretLength(19))
    ));
    assert!(slip39::split(&s, "", 0, &[(1, 1)], true, 0, r).is_err());
    assert!(slip39::split(&s, "", 2, &[(1, 1)], true, 0, r).is_err());
    assert!(slip39::split(&s, "", 1, &[(1, 3)], true, 0, r).is_err());
    assert!(slip39::split(&s, "", 1, &[(4, 3)], true, 0, r).is_err());
    assert!(slip39::split(&s, "", 1, &[(2, 17)], true, 0, r).is_err());
    assert!(slip39::split(&s, "", 1, &[(1, 1)], true, 16, r).is_err());
    assert!(matches!(
        slip39::split(&s, "caf\u{e9}", 1, &[(1, 1)], true, 0, r),
        Err(Slip39Error::InvalidPassphrase)
    ));
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let secret = [0x42u8; 16];
    let g = slip39::split(
        &secret,
        "",
        2,
        &[(2, 3), (2, 3), (1, 1)],
        true,
        0,
        &mut OsRng,
    )
    .unwrap();
    let m = |grp: usize, i: usize| g[grp][i].to_string();

    // Too few shares in a group.
    let e = slip39::combine(&[m(0, 0), m(1, 0), m(1, 1)], "").unwrap_err();
    assert_eq!(
        e,
        Slip39Error::TooFewShares {
            group: 1,
            have: 1,
            need: 2
        }
    );
    // Too few groups.
    let e = slip39::combine(&[m(0, 0), m(0, 1)], "").unwrap_err();
    assert_eq!(e, Slip39Error::TooFewGroups { have: 1, need: 2 });
    // Too many groups / shares.
    let e = slip39::combine(&[m(0, 0), m(0, 1), m(2, 0), m(1, 0), m(1, 1)], "").unwrap_err();
    assert_eq!(e, Slip39Error::TooManyGroups { have: 3, need: 2 });
    let e = slip39::combine(&[m(0, 0), m(0, 1), m(0, 2), m(2, 0)], "").unwrap_err();
    assert!(
        matches!(e, Slip39Error::TooManyShares { group: 1, .. }),
        "{e}"
    );
    // Duplicate share.
    let e = slip39::combine(&[m(0, 0), m(0, 0), m(2, 0)], "").unwrap_err();
    assert_eq!(
        e,
        Slip39Error::DuplicateShare {
            share: 2,
            first: 1,
            group: 1,
            member: 1,
            identical: true
        }
    );
    // No shares.
    assert_eq!(
        slip39::combine::<String>(&[], "").unwrap_err(),
        Slip39Error::NoShares
    );

    // Shares of a different secret (another split: another identifier).
    let other = slip39::split(
        &secret,
        "",
        2,
        &[(2, 3), (2, 3), (1, 1)],
        true,
        0,
        &mut OsRng,
    )
    .unwrap();
    let e = slip39::combine(&[m(0, 0), m(0, 1), other[2][0].to_string()], "").unwrap_err();
    assert!(
        matches!(
            e,
            Slip39Error::DifferentBackup {
                share: 3,
                field: "identifier"
            }
        ) || e == Slip39Error::DigestMismatch, // 1 in 32768: equal random identifiers
        "{e}"
    );
    // Mixed-up group parameters: a share of a 1-group backup among a 3-group backup.
    let single = slip39::split(&secret, "", 1, &[(2, 2)], true, 0, &mut OsRng).unwrap();
    let e = slip39::combine(&[m(2, 0), single[0][0].to_string()], "").unwrap_err();
    assert!(
        matches!(e, Slip39Error::DifferentBackup { share: 2, .. })
            || matches!(e, Slip39Error::GroupParametersMismatch { share: 2, .. }),
        "{e}"
    );
    // Different length (256-bit share among 128-bit shares), same parsing rules.
    let long = slip39::split(&[1u8; 32], "", 1, &[(1, 1)], true, 0, &mut OsRng).unwrap();
    assert!(slip39::combine(&[m(2, 0), long[0][0].to_string()], "").is_err());

    // A flipped word: the checksum names the share.
    let mut words: Vec<String> = m(0, 1).split_whitespace().map(str::to_string).collect();
    let list = slip39::wordlist();
    let pos = list.iter().position(|w| *w == words[6]).unwrap();
    words[6] = list[(pos + 1) % 1024].to_string();
    let flipped = words.join(" ");
    let e = slip39::combine(&[m(0, 0), flipped, m(2, 0)], "").unwrap_err();
    assert_eq!(e, Slip39Error::Checksum { share: 2 });
    // Two swapped words: checksum too.
    let mut words: Vec<String> = m(0, 1).split_whitespace().map(str::to_string).collect();
    words.swap(8, 9);
    if words[8] != words[9] {
        let e = slip39::combine(&[words.join(" ")], "").unwrap_err();
        assert_eq!(e, Slip39Error::Checksum { share: 1 });
    }
    // A word not in the list, named by position only.
    let mut words: Vec<String> = m(0, 1).split_whitespace().map(str::to_string).collect();
    words[4] = "bitcoin".into();
    let e = slip39::combine(&[m(0, 0), words.join(" ")], "").unwrap_err();
    assert_eq!(e, Slip39Error::UnknownWord { share: 2, word: 5 });
    assert!(!e.to_string().contains("bitcoin"));
    // A missing word.
    let mut words: Vec<String> = m(0, 1).split_whitespace().map(str::to_string).collect();
    words.remove(10);
    assert!(slip39::combine(&[words.join(" ")], "").is_err());
    // Case and spacing do not matter.
    let upper = format!("  {}  ", m(2, 0).to_uppercase().replace(' ', "\n "));
    let lower = m(0, 2);
    let ok = slip39::combine(&[upper, m(0, 0), lower], "").unwrap();
    assert_eq!(ok.as_slice(), secret);
}

#[test]
fn extend_makes_a_new_set_of_the_same_backup() {
    let secret = [0x77u8; 32];
    let old = slip39::split(&secret, "TREZOR", 1, &[(2, 3)], true, 0, &mut OsRng).unwrap();
    let old_set = [old[0][0].to_string(), old[0][2].to_string()];
    let new = slip39::extend(&old_set, 2, &[(2, 3), (1, 1)], &mut OsRng).unwrap();
    let new_set = [
        new[1][0].to_string(),
        new[0][1].to_string(),
        new[0][0].to_string(),
    ];
    assert_eq!(
        slip39::combine(&new_set, "TREZOR").unwrap().as_slice(),
        secret
    );
    // Every passphrase gives the same secret from either set.
    assert_eq!(
        slip39::combine(&new_set, "decoy").unwrap(),
        slip39::combine(&old_set, "decoy").unwrap()
    );
    let a = Share::parse(&old_set[0]).unwrap();
    let b = Share::parse(&new_set[0]).unwrap();
    assert_ne!(a.identifier(), b.identifier());
    assert!(b.extendable());
    // The two sets cannot be mixed.
    let e = slip39::combine(&[old_set[0].clone(), new[0][1].to_string()], "TREZOR").unwrap_err();
    assert!(
        matches!(e, Slip39Error::DifferentBackup { share: 2, .. }),
        "{e}"
    );
    // The reference recovers the new set too.
    assert_eq!(
        python_combine(&new_set, "TREZOR").unwrap(),
        hex::encode(secret)
    );
    // Non-extendable backups are refused; too few shares are refused.
    let fixed = slip39::split(&secret, "", 1, &[(2, 3)], false, 0, &mut OsRng).unwrap();
    let e = slip39::extend(&[&*fixed[0][0], &*fixed[0][1]], 1, &[(2, 3)], &mut OsRng).unwrap_err();
    assert_eq!(e, Slip39Error::NotExtendable);
    assert!(slip39::extend(&old_set[..1], 1, &[(2, 3)], &mut OsRng).is_err());
}

#[test]
fn share_debug_omits_the_value() {
    let g = slip39::split(&[9u8; 16], "", 1, &[(1, 1)], true, 0, &mut OsRng).unwrap();
    let s = Share::parse(&g[0][0]).unwrap();
    let dbg = format!("{s:?}");
    assert!(dbg.contains("value_len: 16"));
    for w in g[0][0].split_whitespace().skip(4) {
        assert!(!dbg.contains(w), "Debug shows a word");
    }
}

// ------------------------------------------------------------------------------------------
// Interoperability with the reference implementation.

fn require_reference() {
    let py = Command::new("python3")
        .args(["-c", "import shamir_mnemonic"])
        .output();
    match py {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("{INSTALL}\n{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("python3 cannot be run ({e}); {INSTALL}"),
    }
}

/// The reference's `shamir` command; when it is not on PATH (e.g. a pyenv without rehash), the
/// same command through `python3 -m shamir_mnemonic.cli`.
fn shamir() -> Command {
    require_reference();
    match Command::new("shamir").arg("--help").output() {
        Ok(o) if o.status.success() => Command::new("shamir"),
        _ => {
            let mut c = Command::new("python3");
            c.args(["-m", "shamir_mnemonic.cli"]);
            c
        }
    }
}

/// Runs `shamir create ARGS`; returns the master secret it used and the shares per group.
fn shamir_create(args: &[&str]) -> (String, Vec<Vec<String>>) {
    let out = shamir().arg("create").args(args).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "shamir create {args:?} failed: {text}"
    );
    let mut secret = None;
    let mut groups: Vec<Vec<String>> = Vec::new();
    for line in text.lines() {
        if let Some(hex) = line.strip_prefix("Using master secret: ") {
            secret = Some(hex.trim().to_string());
        } else if line.starts_with("Group ") {
            groups.push(Vec::new());
        } else if line.split_whitespace().count() >= 20 {
            groups
                .last_mut()
                .expect("a share line before any group header")
                .push(line.trim().to_string());
        }
    }
    (secret.expect("no master secret line"), groups)
}

/// The python reference's `combine_mnemonics` (mnemonics passed on stdin, not the command line).
fn python_combine(mnemonics: &[String], passphrase: &str) -> Result<String, String> {
    require_reference();
    let script = "import sys, json, shamir_mnemonic as s\n\
                  d = json.load(sys.stdin)\n\
                  print(s.combine_mnemonics(d['m'], d['p'].encode('ascii')).hex())";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::json!({ "m": mnemonics, "p": passphrase }).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap().trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// The reference's interactive `shamir recover`, shares typed on stdin (no passphrase).
fn shamir_recover_cli(mnemonics: &[String]) -> String {
    let mut child = shamir()
        .arg("recover")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = mnemonics.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("Your master secret is: "))
        .unwrap_or_else(|| panic!("shamir recover did not recover: {text}"))
        .trim()
        .to_string()
}

#[test]
fn reference_2of3_shares_recover_with_ours() {
    let (secret, groups) = shamir_create(&["2of3", "-S", "00112233445566778899aabbccddeeff"]);
    assert_eq!(secret, "00112233445566778899aabbccddeeff");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].len(), 3);
    for (a, b) in [(0, 1), (1, 2), (2, 0)] {
        let set = [groups[0][a].clone(), groups[0][b].clone()];
        let got = slip39::combine(&set, "").unwrap();
        assert_eq!(hex::encode(got.as_slice()), secret);
    }
    // Its own random 256-bit secret.
    let (secret, groups) = shamir_create(&["3of5", "-s", "256"]);
    assert_eq!(secret.len(), 64);
    let got = slip39::combine(&groups[0][1..4], "").unwrap();
    assert_eq!(hex::encode(got.as_slice()), secret);
}

#[test]
fn reference_custom_groups_recover_with_ours_extendable_and_not() {
    let ms = "8d3f0b1c6e5a4f2e9d1c0b2a39485766a5b4c3d2e1f00112233445566778899a";
    for flag in ["--extendable", "--no-extendable"] {
        let (secret, groups) = shamir_create(&[
            "custom",
            "--group-threshold",
            "2",
            "--group",
            "2",
            "3",
            "--group",
            "1",
            "1",
            "--group",
            "3",
            "5",
            flag,
            "--exponent",
            "1",
            "--master-secret",
            ms,
            "--passphrase",
            "TREZOR",
        ]);
        assert_eq!(secret, ms);
        assert_eq!(
            groups.iter().map(Vec::len).collect::<Vec<_>>(),
            [3, 1, 5],
            "{flag}"
        );
        let first = Share::parse(&groups[0][0]).unwrap();
        assert_eq!(first.extendable(), flag == "--extendable");
        assert_eq!(first.iteration_exponent(), 1);
        assert_eq!((first.group_threshold(), first.group_count()), (2, 3));
        let set = [
            groups[0][2].clone(),
            groups[2][4].clone(),
            groups[0][0].clone(),
            groups[2][1].clone(),
            groups[2][2].clone(),
        ];
        let got = slip39::combine(&set, "TREZOR").unwrap();
        assert_eq!(hex::encode(got.as_slice()), ms, "{flag}");
        let set = [
            groups[1][0].clone(),
            groups[0][1].clone(),
            groups[0][2].clone(),
        ];
        let got = slip39::combine(&set, "TREZOR").unwrap();
        assert_eq!(hex::encode(got.as_slice()), ms, "{flag}");
    }
}

#[test]
fn our_shares_recover_with_the_reference() {
    let secret =
        hex::decode("f1e2d3c4b5a6978877665544332211000112233445566778899aabbccddeeff0").unwrap();
    for extendable in [true, false] {
        let g = slip39::split(
            &secret,
            "TREZOR",
            2,
            &[(2, 3), (1, 1), (3, 5)],
            extendable,
            0,
            &mut OsRng,
        )
        .unwrap();
        let s = |grp: usize, i: usize| g[grp][i].to_string();
        let got = python_combine(&[s(0, 0), s(0, 2), s(2, 1), s(2, 3), s(2, 4)], "TREZOR").unwrap();
        assert_eq!(got, hex::encode(&secret), "extendable={extendable}");
        let got = python_combine(&[s(1, 0), s(2, 0), s(2, 1), s(2, 2)], "TREZOR").unwrap();
        assert_eq!(got, hex::encode(&secret), "extendable={extendable}");
        // The reference refuses what we refuse.
        assert!(python_combine(&[s(0, 0), s(1, 0)], "TREZOR").is_err());
    }
    // 128-bit, 2-of-3, no passphrase, through the reference's own `shamir recover` command.
    let secret = [0xa5u8; 16];
    let g = slip39::split(&secret, "", 1, &[(2, 3)], true, 0, &mut OsRng).unwrap();
    let got = shamir_recover_cli(&[g[0][2].to_string(), g[0][0].to_string()]);
    assert_eq!(got, hex::encode(secret));
}

/// SLIP-39 split/recover timings for a 256-bit secret, 2-of-3 groups of 3-of-5 (exponent 1 is
/// the reference CLI's default; 0 the minimum). Run:
/// `cargo test --release -p airlock-custody --test slip39 -- --ignored --nocapture slip39_timings`
#[test]
#[ignore = "timing figures, run by hand in release mode"]
fn slip39_timings() {
    use std::time::Instant;
    let secret = [0x33u8; 32];
    let groups = [(3u8, 5u8), (3, 5), (3, 5)];
    for e in [0u8, 1] {
        let runs = 10;
        let t = Instant::now();
        let mut last = None;
        for _ in 0..runs {
            last = Some(slip39::split(&secret, "", 2, &groups, true, e, &mut OsRng).unwrap());
        }
        let split_ms = t.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        let g = last.unwrap();
        let set: Vec<String> = [&g[0][..3], &g[2][1..4]]
            .concat()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let t = Instant::now();
        for _ in 0..runs {
            assert_eq!(slip39::combine(&set, "").unwrap().as_slice(), secret);
        }
        let combine_ms = t.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        println!(
            "SLIP-39 256-bit, 2-of-3 groups of 3-of-5, iteration exponent {e} ({} PBKDF2 iterations): split {split_ms:.1} ms, recover {combine_ms:.1} ms",
            10000u32 << e
        );
    }
}
