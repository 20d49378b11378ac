//! Adversarial EIP-712 JSON: recursive types, absurd array sizes, bad types, deep nesting,
//! wrong value shapes. Every one is an error (or a complete review), never a panic or a hang.

mod common;

use airlock_chain_ethereum::{
    AccountKind, AccountRecord, EthPayload, EthPolicy, describe, sign_typed_data,
};
use common::*;

fn check(json: &str) -> Result<(), String> {
    let acct = AccountRecord {
        kind: AccountKind::Eoa {
            address: key(KEY0).address(),
        },
    };
    let policy = EthPolicy {
        delegatecall_allowlist: vec![],
        expected_chain_id: 1,
        expected_nonce: None,
    };
    let p = EthPayload::TypedData { json: json.into() };
    let r = describe(&p, &acct, &policy).map_err(|e| e.to_string());
    let s = sign_typed_data(json, &key(KEY0)).map_err(|e| e.to_string());
    // A message is signable only if it can be shown.
    if let (Ok(_), Err(e)) = (&s, &r) {
        // Refusals by policy (chain) are fine; parse/hash failures must agree.
        assert!(
            !e.contains("cannot be hashed") && !e.contains("not valid"),
            "{e}"
        );
    }
    r.map(|_| ())
}

fn doc(types: &str, primary: &str, message: &str) -> String {
    format!(
        r#"{{"types":{{"EIP712Domain":[{{"name":"chainId","type":"uint256"}}],{types}}},"primaryType":"{primary}","domain":{{"chainId":1}},"message":{message}}}"#
    )
}

#[test]
fn adversarial_typed_data_is_refused_without_panic() {
    let cases = [
        doc(r#""A":[{"name":"a","type":"A"}]"#, "A", r#"{"a":{"a":{}}}"#),
        doc(
            r#""A":[{"name":"b","type":"B"}],"B":[{"name":"a","type":"A[]"}]"#,
            "A",
            r#"{"b":{"a":[]}}"#,
        ),
        doc(
            r#""A":[{"name":"x","type":"uint256[99999999999999]"}]"#,
            "A",
            r#"{"x":[1]}"#,
        ),
        doc(r#""A":[{"name":"x","type":"uint999"}]"#, "A", r#"{"x":1}"#),
        doc(r#""A":[{"name":"x","type":"uint8"}]"#, "A", r#"{"x":256}"#),
        doc(r#""A":[{"name":"x","type":"uint8"}]"#, "A", r#"{"x":-1}"#),
        doc(
            r#""A":[{"name":"x","type":"address"}]"#,
            "A",
            r#"{"x":"0x12"}"#,
        ),
        doc(
            r#""A":[{"name":"x","type":"bytes4"}]"#,
            "A",
            r#"{"x":"0x1234567890"}"#,
        ),
        doc(r#""A":[{"name":"x","type":"string"}]"#, "A", r#"{"y":"z"}"#),
        doc(r#""A":[{"name":"x","type":"string"}]"#, "B", r#"{"x":"z"}"#),
        doc(r#""A":[{"name":"x","type":"Missing"}]"#, "A", r#"{"x":{}}"#),
        doc(r#""A":[{"name":"x","type":"uint8[]"}]"#, "A", r#"{"x":3}"#),
        doc(
            r#""A":[{"name":"x","type":"uint8[2]"}]"#,
            "A",
            r#"{"x":[1,2,3]}"#,
        ),
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        "null".into(),
        "".into(),
    ];
    for (i, c) in cases.iter().enumerate() {
        assert!(check(c).is_err(), "case {i} was accepted: {c}");
    }
    // Deep but legal nesting is reviewed in full or refused as too deep; never a crash.
    let mut types = String::new();
    let mut msg = String::from(r#"{"v":1}"#);
    for i in 0..40 {
        types.push_str(&format!(r#""T{i}":[{{"name":"n","type":"T{}"}}],"#, i + 1));
        msg = format!(r#"{{"n":{msg}}}"#);
    }
    types.push_str(r#""T40":[{"name":"v","type":"uint8"}]"#);
    let deep = doc(&types, "T0", &msg);
    let _ = check(&deep);
}
