//! The review a signer shows, and every refusal the issue's hidden suite will try: wrong chain
//! id, delegatecall (refused unless allowlisted, also inside multiSend), another Safe, a mistyped
//! checksum, gas-refund fields (warned), calldata with trailing garbage or a wrong selector
//! (unknown, never a transfer), non-consecutive nonces, a nonce other than the expected one.

mod common;

use airlock_chain_ethereum::calldata::{
    encode_erc20_approve, encode_erc20_transfer, encode_erc20_transfer_from, encode_multisend,
};
use airlock_chain_ethereum::{
    AccountKind, AccountRecord, Call, Eip1559Request, EthAddress, EthError, EthPayload, EthPolicy,
    EthTransfer, ReviewKind, SafeTx, describe, safe, transfers,
};
use alloy_primitives::U256;
use common::*;

const SAFE: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const BOB: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const ALICE: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const MULTISEND: &str = "0x9641d764fc13c8B624c04430C7356C1C7C8102e2";
const EVIL: &str = "0x96221423681A6d52E184D440a8eFCEbB105C7242";

fn eoa() -> AccountRecord {
    AccountRecord {
        kind: AccountKind::Eoa {
            address: addr(ALICE),
        },
    }
}

fn safe_rec() -> AccountRecord {
    AccountRecord {
        kind: AccountKind::Safe {
            address: addr(SAFE),
            chain_id: 31337,
            version: "1.4.1".into(),
            owners: vec![addr(ALICE), addr(BOB)],
            threshold: 2,
        },
    }
}

fn policy() -> EthPolicy {
    EthPolicy {
        delegatecall_allowlist: vec![addr(MULTISEND)],
        expected_chain_id: 31337,
        expected_nonce: None,
    }
}

fn tx(nonce: u64, to: &str, value: u64, input: Vec<u8>) -> Eip1559Request {
    Eip1559Request {
        nonce,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        gas_limit: 100_000,
        to: addr(to),
        value: U256::from(value),
        input,
    }
}

fn safe_tx(to: &str, value: u64, data: Vec<u8>, operation: u8) -> SafeTx {
    SafeTx {
        to: addr(to),
        value: U256::from(value),
        data,
        operation,
        safe_tx_gas: U256::ZERO,
        base_gas: U256::ZERO,
        gas_price: U256::ZERO,
        gas_token: EthAddress::ZERO,
        refund_receiver: EthAddress::ZERO,
        nonce: U256::from(4u64),
    }
}

fn safe_payload(tx: SafeTx) -> EthPayload {
    EthPayload::SafeTx {
        chain_id: 31337,
        safe: addr(SAFE),
        safe_version: "1.4.1".into(),
        tx,
    }
}

fn refused(r: Result<impl std::fmt::Debug, EthError>, needle: &str) {
    match r {
        Err(e) => {
            let s = e.to_string();
            assert!(s.contains(needle), "error {s:?} should mention {needle:?}");
        }
        Ok(v) => panic!("expected a refusal mentioning {needle:?}, got {v:?}"),
    }
}

fn t(dest: &str, amount: u128, asset: &str) -> EthTransfer {
    EthTransfer {
        destination: addr(dest).to_string(),
        amount,
        asset: if asset.is_empty() {
            String::new()
        } else {
            addr(asset).to_string()
        },
    }
}

#[test]
fn eth_and_erc20_batch_is_described_in_full() {
    let p = EthPayload::Transactions {
        chain_id: 31337,
        txs: vec![
            tx(3, BOB, 1_500_000_000_000_000_000, vec![]),
            tx(
                4,
                TOKEN,
                0,
                encode_erc20_transfer(addr(BOB), U256::from(777u64)),
            ),
        ],
    };
    let r = describe(&p, &eoa(), &policy()).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let ReviewKind::Transactions { txs, total_max_fee } = &r.kind else {
        panic!()
    };
    assert_eq!(txs[0].max_fee, U256::from(200_000_000_000_000u64));
    assert_eq!(*total_max_fee, U256::from(400_000_000_000_000u64));
    assert!(matches!(txs[1].call, Call::Erc20Transfer { .. }));
    let lines = r.lines();
    let text = format!("{lines:?}");
    for needle in [
        "31337",
        BOB,
        "1.5 ETH",
        "0.0004 ETH",
        "ERC-20 transfer of token 0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "777",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    assert_eq!(
        transfers(&r).unwrap(),
        vec![t(BOB, 1_500_000_000_000_000_000, ""), t(BOB, 777, TOKEN)]
    );
}

#[test]
fn wrong_chain_id_is_refused() {
    let p = EthPayload::Transactions {
        chain_id: 1,
        txs: vec![tx(0, BOB, 1, vec![])],
    };
    refused(describe(&p, &eoa(), &policy()), "chain id 1");
    let mut sp = safe_payload(safe_tx(BOB, 1, vec![], 0));
    if let EthPayload::SafeTx { chain_id, .. } = &mut sp {
        *chain_id = 1;
    }
    refused(describe(&sp, &safe_rec(), &policy()), "chain id 1");
    // The record and the policy disagree: refused too.
    let mut pol = policy();
    pol.expected_chain_id = 1;
    let mut sp1 = safe_payload(safe_tx(BOB, 1, vec![], 0));
    if let EthPayload::SafeTx { chain_id, .. } = &mut sp1 {
        *chain_id = 1;
    }
    refused(describe(&sp1, &safe_rec(), &pol), "chain id");
}

#[test]
fn non_consecutive_nonces_and_unexpected_nonce_are_refused() {
    let p = EthPayload::Transactions {
        chain_id: 31337,
        txs: vec![tx(3, BOB, 1, vec![]), tx(5, BOB, 1, vec![])],
    };
    refused(describe(&p, &eoa(), &policy()), "consecutive");
    refused(p.to_bytes(), "consecutive");
    let p = EthPayload::Transactions {
        chain_id: 31337,
        txs: vec![tx(3, BOB, 1, vec![]), tx(3, BOB, 1, vec![])],
    };
    refused(describe(&p, &eoa(), &policy()), "consecutive");
    let p = EthPayload::Transactions {
        chain_id: 31337,
        txs: vec![tx(3, BOB, 1, vec![])],
    };
    let mut pol = policy();
    pol.expected_nonce = Some(2);
    refused(describe(&p, &eoa(), &pol), "next nonce is 2");
    pol.expected_nonce = Some(3);
    describe(&p, &eoa(), &pol).unwrap();
    let mut st = safe_tx(BOB, 1, vec![], 0);
    st.nonce = U256::from(5u64);
    pol.expected_nonce = Some(4);
    refused(
        describe(&safe_payload(st), &safe_rec(), &pol),
        "next nonce is 4",
    );
    let empty = EthPayload::Transactions {
        chain_id: 31337,
        txs: vec![],
    };
    refused(describe(&empty, &eoa(), &policy()), "empty");
}

#[test]
fn delegatecall_is_refused_unless_allowlisted_bybit_style() {
    // The February 2025 attack: the person is told "transfer", the Safe signs a delegatecall
    // to a contract that rewrites its storage. Data that *looks like* an ERC-20 transfer.
    let looks_like_transfer = encode_erc20_transfer(addr(BOB), U256::from(1u64));
    let p = safe_payload(safe_tx(EVIL, 0, looks_like_transfer, 1));
    refused(describe(&p, &safe_rec(), &policy()), "DELEGATECALL");
    refused(describe(&p, &safe_rec(), &policy()), EVIL);
    // Allowlisted MultiSendCallOnly: accepted, inner calls decoded and counted.
    let batch = encode_multisend(&[
        (0, addr(BOB), U256::from(9u64), vec![]),
        (
            0,
            addr(TOKEN),
            U256::ZERO,
            encode_erc20_transfer(addr(BOB), U256::from(5u64)),
        ),
    ]);
    let ok = safe_payload(safe_tx(MULTISEND, 0, batch, 1));
    let r = describe(&ok, &safe_rec(), &policy()).unwrap();
    let ReviewKind::Safe(s) = &r.kind else {
        panic!()
    };
    let Call::MultiSend { calls } = &s.call else {
        panic!("{:?}", s.call)
    };
    assert_eq!(calls.len(), 2);
    assert_eq!(
        transfers(&r).unwrap(),
        vec![t(BOB, 9, ""), t(BOB, 5, TOKEN)]
    );
    // A delegatecall hidden inside an allowlisted multiSend: refused.
    let sneaky = encode_multisend(&[
        (0, addr(BOB), U256::from(9u64), vec![]),
        (1, addr(EVIL), U256::ZERO, vec![0xa9, 0x05, 0x9c, 0xbb]),
    ]);
    refused(
        describe(
            &safe_payload(safe_tx(MULTISEND, 0, sneaky, 1)),
            &safe_rec(),
            &policy(),
        ),
        "inner call 1 is a DELEGATECALL",
    );
    // A nested multiSend inside a multiSend hiding a delegatecall: refused too.
    let inner = encode_multisend(&[(1, addr(EVIL), U256::ZERO, vec![1, 2, 3, 4])]);
    let nested = encode_multisend(&[(0, addr(MULTISEND), U256::ZERO, inner)]);
    refused(
        describe(
            &safe_payload(safe_tx(MULTISEND, 0, nested, 1)),
            &safe_rec(),
            &policy(),
        ),
        "DELEGATECALL",
    );
    // Empty allowlist: even MultiSendCallOnly is refused.
    let mut pol = policy();
    pol.delegatecall_allowlist.clear();
    refused(describe(&ok, &safe_rec(), &pol), "DELEGATECALL");
}

#[test]
fn another_safe_or_version_or_account_kind_is_refused() {
    let mut p = safe_payload(safe_tx(BOB, 1, vec![], 0));
    if let EthPayload::SafeTx { safe, .. } = &mut p {
        *safe = addr(EVIL);
    }
    refused(describe(&p, &safe_rec(), &policy()), "this vault's Safe is");
    let mut p = safe_payload(safe_tx(BOB, 1, vec![], 0));
    if let EthPayload::SafeTx { safe_version, .. } = &mut p {
        *safe_version = "1.3.0".into();
    }
    refused(describe(&p, &safe_rec(), &policy()), "version");
    refused(
        describe(&safe_payload(safe_tx(BOB, 1, vec![], 0)), &eoa(), &policy()),
        "not a Safe",
    );
    let txp = EthPayload::Transactions {
        chain_id: 31337,
        txs: vec![tx(0, BOB, 1, vec![])],
    };
    refused(describe(&txp, &safe_rec(), &policy()), "is a Safe");
    let mut p = safe_payload(safe_tx(BOB, 1, vec![], 0));
    if let EthPayload::SafeTx { safe_version, .. } = &mut p {
        *safe_version = "1.2.0".into();
    }
    refused(describe(&p, &safe_rec(), &policy()), "not supported");
}

#[test]
fn mistyped_checksum_is_refused_with_the_address() {
    let typo = "0x70997970C51812dc3A010C7d01b50e0d17dc79c8";
    refused(EthAddress::parse(typo), typo);
    refused(EthAddress::parse(typo), "EIP-55");
    assert!(EthAddress::parse(&BOB.to_lowercase()).is_ok());
}

#[test]
fn gas_refund_fields_are_warned() {
    let mut st = safe_tx(BOB, 1, vec![], 0);
    st.gas_price = U256::from(7u64);
    st.gas_token = addr(TOKEN);
    st.refund_receiver = addr(EVIL);
    let r = describe(&safe_payload(st), &safe_rec(), &policy()).unwrap();
    let w = r.warnings.join("\n");
    assert!(w.contains("gasPrice is 7"), "{w}");
    assert!(w.contains(&format!("gasToken is {TOKEN}")), "{w}");
    assert!(w.contains(&format!("refundReceiver is {EVIL}")), "{w}");
    let clean = describe(
        &safe_payload(safe_tx(BOB, 1, vec![], 0)),
        &safe_rec(),
        &policy(),
    )
    .unwrap();
    assert!(clean.warnings.is_empty(), "{:?}", clean.warnings);
}

#[test]
fn odd_calldata_is_an_unknown_call_never_a_transfer() {
    let good = encode_erc20_transfer(addr(BOB), U256::from(5u64));
    let mut trailing = good.clone();
    trailing.push(0);
    let mut dirty = good.clone();
    dirty[4] = 1; // non-zero padding in the address word
    let mut wrong_selector = good.clone();
    wrong_selector[3] ^= 1;
    let short = good[..good.len() - 1].to_vec();
    for (name, data) in [
        ("trailing", trailing),
        ("dirty", dirty),
        ("selector", wrong_selector),
        ("short", short),
        ("tiny", vec![0xa9, 0x05]),
    ] {
        let p = EthPayload::Transactions {
            chain_id: 31337,
            txs: vec![tx(0, TOKEN, 0, data.clone())],
        };
        let r = describe(&p, &eoa(), &policy()).unwrap();
        let ReviewKind::Transactions { txs, .. } = &r.kind else {
            panic!()
        };
        assert!(matches!(txs[0].call, Call::Unknown { .. }), "{name}");
        assert!(transfers(&r).unwrap().is_empty(), "{name}");
        assert!(r.warnings.iter().any(|w| w.contains("UNKNOWN")), "{name}");
        // Same inside a Safe transaction.
        let r = describe(
            &safe_payload(safe_tx(TOKEN, 0, data, 0)),
            &safe_rec(),
            &policy(),
        )
        .unwrap();
        assert!(transfers(&r).unwrap().is_empty(), "{name}");
        assert!(r.warnings.iter().any(|w| w.contains("UNKNOWN")), "{name}");
    }
    // A malformed multiSend batch (declared length beyond the data) is unknown, not a batch.
    let mut batch = encode_multisend(&[(0, addr(BOB), U256::from(1u64), vec![1, 2, 3])]);
    let n = batch.len();
    batch[n - 40] ^= 0x10;
    let r = describe(
        &safe_payload(safe_tx(MULTISEND, 0, batch, 1)),
        &safe_rec(),
        &policy(),
    )
    .unwrap();
    assert!(transfers(&r).unwrap().is_empty());
    assert!(
        r.warnings.iter().any(|w| w.contains("UNKNOWN")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn approvals_and_transfer_from_count_as_transfers() {
    let p = EthPayload::Transactions {
        chain_id: 31337,
        txs: vec![
            tx(
                0,
                TOKEN,
                0,
                encode_erc20_approve(addr(EVIL), U256::from(100u64)),
            ),
            tx(
                1,
                TOKEN,
                0,
                encode_erc20_transfer_from(addr(ALICE), addr(BOB), U256::from(3u64)),
            ),
        ],
    };
    let r = describe(&p, &eoa(), &policy()).unwrap();
    assert!(r.warnings.iter().any(|w| w.contains("APPROVES")));
    assert_eq!(
        transfers(&r).unwrap(),
        vec![t(EVIL, 100, TOKEN), t(BOB, 3, TOKEN)]
    );
}

#[test]
fn amounts_above_u128_are_an_error() {
    let p = EthPayload::Transactions {
        chain_id: 31337,
        txs: vec![tx(0, TOKEN, 0, encode_erc20_transfer(addr(BOB), U256::MAX))],
    };
    let r = describe(&p, &eoa(), &policy()).unwrap();
    refused(transfers(&r), "128 bits");
}

#[test]
fn safe_review_shows_the_hashes_it_computed() {
    let st = safe_tx(
        TOKEN,
        0,
        encode_erc20_transfer(addr(BOB), U256::from(5u64)),
        0,
    );
    let r = describe(&safe_payload(st.clone()), &safe_rec(), &policy()).unwrap();
    let h = safe::hashes(31337, addr(SAFE), &st);
    let text = format!("{:?}", r.lines());
    for needle in [
        h.domain_separator.to_string(),
        h.struct_hash.to_string(),
        h.safe_tx_hash.to_string(),
        SAFE.to_string(),
        "1.4.1".into(),
        "2 of 2".into(),
    ] {
        assert!(text.contains(&needle), "{needle} missing");
    }
    assert_eq!(transfers(&r).unwrap(), vec![t(BOB, 5, TOKEN)]);
}

#[test]
fn typed_data_shows_every_field_and_refuses_safetx_and_wrong_chain() {
    let json = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"chainId","type":"uint256"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person[]"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","chainId":31337},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":[{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"}],"contents":"Hello"}}"#;
    let p = EthPayload::TypedData { json: json.into() };
    let r = describe(&p, &eoa(), &policy()).unwrap();
    let ReviewKind::TypedData(td) = &r.kind else {
        panic!()
    };
    let paths: Vec<_> = td.fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "from.name",
            "from.wallet",
            "to[0].name",
            "to[0].wallet",
            "contents"
        ]
    );
    let mut pol = policy();
    pol.expected_chain_id = 1;
    refused(describe(&p, &eoa(), &pol), "chain id 31337");
    // An undeclared field would be hidden from the hash: refused.
    let extra = json.replace(
        r#""contents":"Hello""#,
        r#""contents":"Hello","amount":"1000""#,
    );
    refused(
        describe(&EthPayload::TypedData { json: extra }, &eoa(), &policy()),
        "not declared",
    );
    // A SafeTx smuggled in as generic typed data: refused.
    let st = safe_tx(BOB, 1, vec![], 1);
    let sj = safe::typed_data_json(31337, addr(SAFE), &st);
    refused(
        describe(&EthPayload::TypedData { json: sj }, &safe_rec(), &policy()),
        "SafeTx",
    );
    refused(
        describe(
            &EthPayload::TypedData { json: "{".into() },
            &eoa(),
            &policy(),
        ),
        "typed data",
    );
}

#[test]
fn safe_admin_calls_are_decoded_and_warned() {
    use airlock_chain_ethereum::calldata::encode_add_owner;
    let data = encode_add_owner(addr(EVIL), U256::from(1u64));
    let r = describe(
        &safe_payload(safe_tx(SAFE, 0, data.clone(), 0)),
        &safe_rec(),
        &policy(),
    )
    .unwrap();
    let ReviewKind::Safe(s) = &r.kind else {
        panic!()
    };
    assert!(matches!(
        s.call,
        Call::SafeAdmin {
            function: "addOwnerWithThreshold",
            ..
        }
    ));
    let text = format!("{:?}", r.lines());
    assert!(text.contains(EVIL), "{text}");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("changes who controls this Safe"))
    );
    assert!(transfers(&r).unwrap().is_empty());
    // With trailing garbage it is not recognised: unknown.
    let mut bad = data;
    bad.extend_from_slice(&[0; 32]);
    let r = describe(
        &safe_payload(safe_tx(SAFE, 0, bad, 0)),
        &safe_rec(),
        &policy(),
    )
    .unwrap();
    assert!(r.warnings.iter().any(|w| w.contains("UNKNOWN")));
}

#[test]
fn sign_payload_reviews_again_and_checks_the_key() {
    use airlock_chain_ethereum::{EthSignature, recover, sign_payload};
    // EOA: only the account's own key signs.
    let p = EthPayload::Transactions {
        chain_id: 31337,
        txs: vec![tx(0, BOB, 1, vec![])],
    };
    let (_, s) = sign_payload(&p, &eoa(), &policy(), &key(KEY0)).unwrap();
    assert!(matches!(s, EthSignature::Transactions(ref v) if v.len() == 1));
    refused(
        sign_payload(&p, &eoa(), &policy(), &key(KEY1)),
        "this key is",
    );
    // Safe: owners only, and every refusal of describe applies.
    let st = safe_payload(safe_tx(BOB, 1, vec![], 0));
    let (r, s) = sign_payload(&st, &safe_rec(), &policy(), &key(KEY1)).unwrap();
    let (
        ReviewKind::Safe(sr),
        EthSignature::SafeTx {
            safe_tx_hash,
            signature,
        },
    ) = (&r.kind, &s)
    else {
        panic!()
    };
    assert_eq!(sr.safe_tx_hash, *safe_tx_hash);
    assert_eq!(recover(safe_tx_hash, signature).unwrap(), addr(BOB));
    refused(
        sign_payload(&st, &safe_rec(), &policy(), &key(KEY2)),
        "not an owner",
    );
    let evil = safe_payload(safe_tx(EVIL, 0, vec![], 1));
    refused(
        sign_payload(&evil, &safe_rec(), &policy(), &key(KEY0)),
        "DELEGATECALL",
    );
}

#[test]
fn calldata_that_differs_from_the_stated_intent_is_caught() {
    use airlock_core::artifacts::{Intent, Transfer};
    use airlock_core::chain::{Description, check_against_intent};
    // The proposal says "100 tokens to Bob"; the calldata pays someone else.
    let intent = Intent {
        transfers: vec![Transfer {
            destination: BOB.into(),
            amount: 100,
            asset: TOKEN.into(),
        }],
        memo: String::new(),
    };
    let describe_to = |to: &str| {
        let st = safe_tx(
            TOKEN,
            0,
            encode_erc20_transfer(addr(to), U256::from(100u64)),
            0,
        );
        let r = describe(&safe_payload(st), &safe_rec(), &policy()).unwrap();
        Description {
            transfers: transfers(&r)
                .unwrap()
                .into_iter()
                .map(Transfer::from)
                .collect(),
            ..Description::default()
        }
    };
    check_against_intent(&intent, &describe_to(BOB)).unwrap();
    let err = check_against_intent(&intent, &describe_to(EVIL)).unwrap_err();
    assert!(err.to_string().contains(EVIL), "{err}");
}
