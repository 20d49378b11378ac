//! ASCII armor.

use std::collections::HashSet;

use airlock_transport::{ArmorError, TransportError, armor, dearmor, is_armored, is_valid_label};

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + 7) as u8).collect()
}

fn armor_err(text: &str) -> ArmorError {
    match dearmor(text) {
        Err(TransportError::Armor(e)) => e,
        other => panic!("expected an armor error for {text:?}, got {other:?}"),
    }
}

#[test]
fn round_trip_many_sizes() {
    for len in 1..=300 {
        let bytes = sample(len);
        let text = armor("SIGNED PROPOSAL", &bytes);
        assert!(is_armored(text.as_bytes()));
        let (label, decoded) = dearmor(&text).unwrap();
        assert_eq!(label, "SIGNED PROPOSAL");
        assert_eq!(decoded, bytes, "length {len}");
    }
}

#[test]
fn layout_is_exact() {
    let bytes = sample(100);
    let text = armor("APPROVAL", &bytes);
    let lines: Vec<&str> = text.split('\n').collect();
    // 100 bytes -> 136 base64 chars -> lines of 64, 64, 8; then END; then "" after final \n.
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(lines[0], "-----BEGIN AIRLOCK APPROVAL-----");
    assert_eq!(lines[1].len(), 64);
    assert_eq!(lines[2].len(), 64);
    assert_eq!(lines[3].len(), 8);
    assert!(lines[3].ends_with('='));
    assert_eq!(lines[4], "-----END AIRLOCK APPROVAL-----");
    assert_eq!(lines[5], "");

    // Exactly 48 bytes -> one full line of 64, no padding, no blank line.
    let text = armor("X", &sample(48));
    assert_eq!(text.lines().count(), 3);
    assert!(
        text.lines()
            .all(|l| l.len() <= 64 || l.starts_with("-----"))
    );
}

#[test]
fn tolerates_whitespace_crlf_and_rewrapping() {
    let bytes = sample(200);
    let text = armor("KEY-PACKAGE 2", &bytes);
    let crlf = format!("\r\n  \n\t{}\r\n\r\n  ", text.replace('\n', "\r\n"));
    assert_eq!(
        dearmor(&crlf).unwrap(),
        ("KEY-PACKAGE 2".into(), bytes.clone())
    );

    // Re-wrapped to 20 columns with trailing spaces.
    let mut lines = text.lines();
    let begin = lines.next().unwrap();
    let body: String = lines
        .clone()
        .take_while(|l| !l.starts_with("-----"))
        .collect();
    let end = lines.find(|l| l.starts_with("-----END")).unwrap();
    let mut rewrapped = format!("{begin}\n");
    for chunk in body.as_bytes().chunks(20) {
        rewrapped.push_str(std::str::from_utf8(chunk).unwrap());
        rewrapped.push_str("  \n");
    }
    rewrapped.push_str(end);
    assert_eq!(dearmor(&rewrapped).unwrap().1, bytes);
}

#[test]
fn each_malformation_has_its_own_error() {
    let good = armor("PROPOSAL", b"hello, air gap");
    let body_line = good.lines().nth(1).unwrap().to_owned();

    let cases: Vec<(&str, String, ArmorError)> = vec![
        ("empty input", String::new(), ArmorError::MissingBegin),
        (
            "no block at all",
            "just some text\n".into(),
            ArmorError::MissingBegin,
        ),
        (
            "other armor kind",
            good.replace("AIRLOCK", "PGP"),
            ArmorError::MissingBegin,
        ),
        (
            "missing END",
            good.lines().take(2).collect::<Vec<_>>().join("\n"),
            ArmorError::MissingEnd,
        ),
        (
            "text before",
            format!("hello\n{good}"),
            ArmorError::TextBeforeBlock,
        ),
        (
            "text after",
            format!("{good}trailing words\n"),
            ArmorError::TextAfterBlock,
        ),
        (
            "two blocks",
            format!("{good}{good}"),
            ArmorError::TextAfterBlock,
        ),
        (
            "lowercase label",
            good.replace("PROPOSAL", "proposal"),
            ArmorError::BadLabel { line: "BEGIN" },
        ),
        (
            "BEGIN without trailing dashes",
            good.replace("BEGIN AIRLOCK PROPOSAL-----", "BEGIN AIRLOCK PROPOSAL"),
            ArmorError::BadLabel { line: "BEGIN" },
        ),
        (
            "bad END label",
            good.replace("END AIRLOCK PROPOSAL", "END AIRLOCK PRO_POSAL"),
            ArmorError::BadLabel { line: "END" },
        ),
        (
            "mismatched labels",
            good.replace("END AIRLOCK PROPOSAL", "END AIRLOCK APPROVAL"),
            ArmorError::LabelMismatch {
                begin: "PROPOSAL".into(),
                end: "APPROVAL".into(),
            },
        ),
        (
            "empty body",
            "-----BEGIN AIRLOCK PROPOSAL-----\n-----END AIRLOCK PROPOSAL-----\n".into(),
            ArmorError::EmptyBody,
        ),
        (
            "armor of empty bytes",
            armor("PROPOSAL", b""),
            ArmorError::EmptyBody,
        ),
        (
            "invalid base64 character",
            good.replace(&body_line, &format!("{}*", &body_line[1..])),
            ArmorError::BadBase64(String::new()),
        ),
        (
            "missing padding",
            good.replace(&body_line, body_line.trim_end_matches('=')),
            ArmorError::BadBase64(String::new()),
        ),
        (
            "URL-safe alphabet",
            armor("PROPOSAL", &[0xfb, 0xff, 0xfe])
                .replace('+', "-")
                .replace('/', "_"),
            ArmorError::BadBase64(String::new()),
        ),
    ];

    let mut seen: Vec<(std::mem::Discriminant<ArmorError>, String)> = Vec::new();
    for (name, text, expected) in cases {
        let err = armor_err(&text);
        match (&err, &expected) {
            (ArmorError::BadBase64(_), ArmorError::BadBase64(_)) => {}
            _ => assert_eq!(err, expected, "case {name:?}"),
        }
        let kind = std::mem::discriminant(&err);
        let msg = TransportError::from(err).to_string();
        assert!(msg.starts_with("armored text: "), "{msg}");
        seen.push((kind, msg));
    }
    // All eight kinds are exercised, and no two kinds render the same message.
    let kinds: HashSet<_> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds.len(), 8);
    for (k1, m1) in &seen {
        for (k2, m2) in &seen {
            if k1 != k2 {
                assert_ne!(m1, m2);
            }
        }
    }
}

#[test]
fn is_armored_detects_the_marker() {
    assert!(is_armored(b"-----BEGIN AIRLOCK X-----\n"));
    assert!(is_armored(b" \r\n\t-----BEGIN AIRLOCK X-----\n"));
    assert!(!is_armored(b""));
    assert!(!is_armored(b"   "));
    assert!(!is_armored(b"-----BEGIN PGP MESSAGE-----\n"));
    assert!(!is_armored(b"\x00\x01-----BEGIN AIRLOCK X-----"));
    assert!(!is_armored(b"-----BEGIN AIRLOCK"));
}

#[test]
fn label_rules() {
    for ok in ["A", "SIGNED PROPOSAL", "KEY-PACKAGE 2", "X9"] {
        assert!(is_valid_label(ok), "{ok:?}");
    }
    for bad in [
        "",
        " A",
        "A ",
        "A  B",
        "a",
        "A_B",
        "A\tB",
        "É",
        &"A".repeat(41),
    ] {
        assert!(!is_valid_label(bad), "{bad:?}");
    }
}

#[test]
#[should_panic(expected = "invalid armor label")]
fn armor_panics_on_invalid_label() {
    let _ = armor("lower", b"x");
}
