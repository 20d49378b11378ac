//! EIP-4527 (`eth-sign-request` / `eth-signature`): Airlock's requests read by Keystone's own UR
//! library and signed by cast (`tests/peers/qr_device.cjs`) for both kinds Airlock asks for
//! (EIP-712 typed data, EIP-2718 typed transactions); answers checked to recover over Airlock's
//! digests; CBOR round trips and bad input. The Safe flow end to end (signer, coordinator, anvil)
//! is `bins/airlock/tests/eth_cli.rs::safe_owner_signs_with_a_qr_device`.

mod common;

use std::process::Command;

use airlock_chain_ethereum::eip4527::{
    DevicePath, DeviceSignature, DeviceSignatures, SignRequest, device_requests, request_id,
};
use airlock_chain_ethereum::{
    AccountKind, AccountRecord, Eip1559Request, EthKey, EthPayload, EthPolicy, describe,
};
use alloy_primitives::U256;
use common::{cast, workspace};

/// anvil's development key 5 (the device's key in these tests).
const DEVICE_KEY: &str = "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";

fn device_key() -> EthKey {
    EthKey::from_bytes(&hex::decode(DEVICE_KEY).unwrap().try_into().unwrap()).unwrap()
}

fn path() -> DevicePath {
    DevicePath::parse("m/44'/60'/0'/0/0", Some(0xf23f_9fd2)).unwrap()
}

/// Requests for `payload` from the EOA `device_key()`.
fn eoa_requests(payload: &EthPayload) -> Vec<(SignRequest, alloy_primitives::B256)> {
    let me = device_key().address();
    let account = AccountRecord {
        kind: AccountKind::Eoa { address: me },
    };
    let policy = EthPolicy {
        delegatecall_allowlist: vec![],
        expected_chain_id: 31337,
        expected_nonce: None,
    };
    let review = describe(payload, &account, &policy).unwrap();
    device_requests(payload, &review, 31337, me, &path(), "airlock test").unwrap()
}

fn transactions(n: u64) -> EthPayload {
    EthPayload::Transactions {
        chain_id: 31337,
        txs: (0..n)
            .map(|i| Eip1559Request {
                nonce: 7 + i,
                max_fee_per_gas: 30_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                gas_limit: 21_000,
                to: "0x00000000000000000000000000000000000A11cE"
                    .parse()
                    .unwrap(),
                value: U256::from(1_000 + i),
                input: vec![],
            })
            .collect(),
    }
}

/// The device: Keystone's library reads `request`, cast signs with `key`.
fn device(request: &SignRequest, key: &str) -> serde_json::Value {
    let frames = airlock_qr::encode(
        &request.to_cbor(),
        airlock_qr::Format::Ur,
        airlock_qr::Content::EthSignRequest,
        airlock_qr::Density::Low,
    )
    .unwrap();
    let keystone = workspace().join("target/peers/keystone");
    assert!(
        keystone
            .join("node_modules/@keystonehq/bc-ur-registry-eth")
            .is_dir(),
        "peer missing: scripts/install-eth-peers.sh --all"
    );
    let mut child = Command::new("node")
        .arg(workspace().join("crates/airlock-chain-ethereum/tests/peers/qr_device.cjs"))
        .arg(&keystone)
        .arg(cast())
        .arg(format!("0x{key}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(frames.texts.join("\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn answer_of(device_out: &serde_json::Value) -> DeviceSignature {
    let mut d = airlock_qr::Decoder::new();
    d.receive(device_out["signature_ur"].as_str().unwrap())
        .unwrap();
    DeviceSignature::from_cbor(&d.finish().unwrap().bytes).unwrap()
}

#[test]
fn a_typed_transaction_request_is_read_and_signed_by_keystones_library_and_cast() {
    use airlock_core::chain::DigestSigner;
    let payload = transactions(1);
    let requests = eoa_requests(&payload);
    assert_eq!(requests.len(), 1);
    let out = device(&requests[0].0, DEVICE_KEY);
    assert_eq!(out["data_type"], 4, "EIP-2718 typed transaction");
    assert_eq!(out["chain_id"], 31337);
    assert_eq!(out["path"], "44'/60'/0'/0/0");
    assert_eq!(out["xfp"], "f23f9fd2");
    assert_eq!(out["request_id"], hex::encode(requests[0].0.request_id));
    // The device hashed the bytes it was given (keccak256 of 0x02 ‖ rlp) to Airlock's digest:
    // its signature recovers to the key over it.
    let answer = answer_of(&out);
    let signer = DeviceSignatures::check(&requests, &[answer], device_key().address()).unwrap();
    let digest = requests[0].1;
    let sig = signer.sign_digest(&digest.0).unwrap();
    assert!(sig[64] <= 1);
    // Only the digests it answered.
    assert!(signer.sign_digest(&[7u8; 32]).is_err());
    // The same signature is refused for another member.
    let other = EthKey::from_bytes(&[9u8; 32]).unwrap().address();
    let e = DeviceSignatures::check(&requests, &[answer_of(&out)], other)
        .err()
        .unwrap();
    assert!(e.to_string().contains("not to this member's key"), "{e}");
}

#[test]
fn a_batch_needs_one_answer_per_request_matched_by_id() {
    let payload = transactions(2);
    let requests = eoa_requests(&payload);
    assert_eq!(requests.len(), 2);
    assert_ne!(requests[0].0.request_id, requests[1].0.request_id);
    let a = answer_of(&device(&requests[0].0, DEVICE_KEY));
    let b = answer_of(&device(&requests[1].0, DEVICE_KEY));
    let me = device_key().address();
    // In any order.
    assert!(DeviceSignatures::check(&requests, &[b.clone(), a.clone()], me).is_ok());
    // One missing, or one answered twice.
    let e = DeviceSignatures::check(&requests, std::slice::from_ref(&a), me)
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .contains("needs 2 device signature(s), 1 were given"),
        "{e}"
    );
    let e = DeviceSignatures::check(&requests, &[a.clone(), a], me)
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .contains("no device signature answers request 2"),
        "{e}"
    );
}

#[test]
fn cbor_round_trips_and_bad_input_is_refused() {
    let (request, digest) = eoa_requests(&transactions(1)).remove(0);
    assert_eq!(SignRequest::from_cbor(&request.to_cbor()).unwrap(), request);
    assert_eq!(
        request.request_id,
        request_id(&digest, &device_key().address())
    );
    assert_eq!(request.request_id[6] >> 4, 4, "a version-4-shaped UUID");
    let sig = DeviceSignature {
        request_id: Some(request.request_id),
        signature: [1u8; 65],
        origin: Some("device".into()),
    };
    assert_eq!(DeviceSignature::from_cbor(&sig.to_cbor()).unwrap(), sig);
    let cbor = sig.to_cbor();
    for len in 0..cbor.len() {
        assert!(DeviceSignature::from_cbor(&cbor[..len]).is_err(), "{len}");
    }
    let mut trailing = cbor.clone();
    trailing.push(0);
    let e = DeviceSignature::from_cbor(&trailing)
        .unwrap_err()
        .to_string();
    assert!(e.contains("1 bytes after the map"), "{e}");
    // A 64-byte signature, an unknown key, a request id without its UUID tag.
    let short = DeviceSignature {
        request_id: None,
        signature: [1u8; 65],
        origin: None,
    }
    .to_cbor();
    let short = [&short[..2], &[0x58, 64], &short[4..short.len() - 1]].concat();
    let e = DeviceSignature::from_cbor(&short).unwrap_err().to_string();
    assert!(e.contains("not 65 bytes"), "{e}");
    let e = DeviceSignature::from_cbor(
        &hex::decode("a2025841".to_owned() + &"01".repeat(65) + "0900").unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown key 9"), "{e}");
    let e = DeviceSignature::from_cbor(
        &hex::decode("a20150".to_owned() + &"00".repeat(16) + "025841" + &"01".repeat(65)).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not a tag-37 UUID"), "{e}");
    // v values a device may write.
    let me = device_key().address();
    let requests = eoa_requests(&transactions(1));
    let good = answer_of(&device(&requests[0].0, DEVICE_KEY));
    let parity = good.signature[64] - 27;
    assert!(parity <= 1, "cast writes v = 27 or 28");
    for (v, accepted) in [
        (parity, true),
        (27 + parity, true),
        (1 - parity, false),
        (28 - parity, false),
    ] {
        let mut s = good.clone();
        s.signature[64] = v;
        assert_eq!(
            DeviceSignatures::check(&requests, &[s], me).is_ok(),
            accepted,
            "v = {v}"
        );
    }
    let mut bad_v = good.clone();
    bad_v.signature[64] = 5;
    let e = DeviceSignatures::check(&requests, &[bad_v], me)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("v = 5"), "{e}");
}
