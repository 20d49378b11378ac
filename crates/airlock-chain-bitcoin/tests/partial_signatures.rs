//! Signatures a PSBT already carries when it is reviewed (a cosigner signed it in another wallet,
//! or someone tampered with it): every review verifies each one against the key it is filed
//! under and the recomputed sighash, so a PSBT with a bad one is refused before anyone approves
//! it (otherwise every honest approval added to it would be refused at `submit`). Refusals name
//! the input and the key and say whether the signature "does not verify" or "is filed under a
//! key this input does not use". Segwit v0 (`wsh(sortedmulti)`) and taproot (`multi_a` under the
//! NUMS internal key), through `review`, `sign_psbt` and the chain interface (`describe`, what
//! the signer's proposal review and the coordinator's import run).

mod offline_support;

use airlock_chain_bitcoin::{
    Bitcoin, BtcVault, ReviewPolicy, review, sign_psbt, verify_partial_signatures,
};
use airlock_core::artifacts::{Intent, Proposal};
use airlock_core::chain::ChainReview;
use airlock_core::vault::{CoordinatorRef, VaultDefinition};
use airlock_core::{ArtifactId, PublicKey};
use bitcoin::secp256k1::{ecdsa, schnorr};
use bitcoin::{Psbt, Sequence, taproot};
use offline_support::*;

fn signed_by(vault: &BtcVault, psbt: &Psbt, cosigner: usize) -> Psbt {
    let mut copy = psbt.clone();
    sign_psbt(
        vault,
        &mut copy,
        &signer(cosigner),
        &ReviewPolicy::default(),
    )
    .expect("sign");
    copy
}

fn refusal(vault: &BtcVault, psbt: &Psbt) -> String {
    review(vault, psbt, &ReviewPolicy::default())
        .expect_err("the review must refuse this PSBT")
        .to_string()
}

fn flip_ecdsa(sig: &bitcoin::ecdsa::Signature) -> bitcoin::ecdsa::Signature {
    let mut compact = sig.signature.serialize_compact();
    compact[63] ^= 0x01;
    bitcoin::ecdsa::Signature {
        signature: ecdsa::Signature::from_compact(&compact).expect("still a signature"),
        sighash_type: sig.sighash_type,
    }
}

fn flip_schnorr(sig: &taproot::Signature) -> taproot::Signature {
    let mut bytes = sig.signature.serialize();
    bytes[63] ^= 0x01;
    taproot::Signature {
        signature: schnorr::Signature::from_slice(&bytes).expect("64 bytes"),
        sighash_type: sig.sighash_type,
    }
}

fn two_input_spend(vault: &BtcVault) -> Psbt {
    let funding = funding(vault, &[60_000, 40_000]);
    spend(
        vault,
        &funding,
        (foreign_script(), 70_000),
        Some(29_000),
        Sequence::MAX,
    )
}

#[test]
fn segwit_v0_partial_signatures_are_verified_on_review() {
    let vault = vault(&sortedmulti_2of3());
    let psbt = two_input_spend(&vault);
    let by_a = signed_by(&vault, &psbt, 0);
    let by_b = signed_by(&vault, &psbt, 1);

    // An honest partially signed PSBT: accepted, its signatures counted and shown.
    let reviewed = review(&vault, &by_a, &ReviewPolicy::default()).unwrap();
    assert_eq!(reviewed.signature_report().per_input, vec![1, 1]);
    assert!(
        reviewed
            .details()
            .iter()
            .any(|(l, v)| l == "signatures already present" && v.starts_with("2,")),
        "{:?}",
        reviewed.details()
    );
    assert_eq!(
        verify_partial_signatures(&vault, &by_a, &ReviewPolicy::default())
            .unwrap()
            .total(),
        2
    );
    // A second cosigner still signs it, and the result carries both.
    let both = signed_by(&vault, &by_a, 1);
    assert_eq!(both.inputs[0].partial_sigs.len(), 2);

    let (key_a0, sig_a0) = by_a.inputs[0]
        .partial_sigs
        .iter()
        .next()
        .map(|(k, s)| (*k, *s))
        .unwrap();
    let key_b0 = *by_b.inputs[0].partial_sigs.keys().next().unwrap();
    let key_a1 = *by_a.inputs[1].partial_sigs.keys().next().unwrap();

    // A flipped byte: refused, naming the input, the key and its origin.
    let mut flipped = by_a.clone();
    flipped.inputs[0]
        .partial_sigs
        .insert(key_a0, flip_ecdsa(&sig_a0));
    let err = refusal(&vault, &flipped);
    assert!(
        err.contains("input 0")
            && err.contains(&key_a0.to_string())
            && err.contains("[350826d2/48'/1'/0'/2'/0/0]")
            && err.contains("does not verify"),
        "{err}"
    );

    // Cosigner A's valid signature filed under cosigner B's key.
    let mut misfiled = psbt.clone();
    misfiled.inputs[0].partial_sigs.insert(key_b0, sig_a0);
    let err = refusal(&vault, &misfiled);
    assert!(
        err.contains("input 0")
            && err.contains(&key_b0.to_string())
            && err.contains("74ee38f0")
            && err.contains("does not verify"),
        "{err}"
    );

    // Filed under a key this input's script does not use (A's key of the other input).
    let mut elsewhere = psbt.clone();
    elsewhere.inputs[0].partial_sigs.insert(key_a1, sig_a0);
    let err = refusal(&vault, &elsewhere);
    assert!(
        err.contains("input 0")
            && err.contains(&key_a1.to_string())
            && err.contains("is filed under")
            && err.contains("a key this input does not use"),
        "{err}"
    );

    // A non-default sighash type stays refused.
    let mut none = by_a.clone();
    none.inputs[1].partial_sigs.values_mut().for_each(|s| {
        s.sighash_type = bitcoin::EcdsaSighashType::None;
    });
    let err = refusal(&vault, &none);
    assert!(err.contains("input 1") && err.contains("only ALL"), "{err}");

    // Nobody signs on top of a bad signature, and the PSBT is left as it was.
    let mut copy = flipped.clone();
    let err = sign_psbt(&vault, &mut copy, &signer(1), &ReviewPolicy::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not verify"), "{err}");
    assert_eq!(copy, flipped);
}

#[test]
fn taproot_signatures_are_verified_on_review() {
    let vault = vault(&taproot_multi_a());
    let psbt = two_input_spend(&vault);
    let by_a = signed_by(&vault, &psbt, 0);
    let by_b = signed_by(&vault, &psbt, 1);
    let reviewed = review(&vault, &by_a, &ReviewPolicy::default()).unwrap();
    assert_eq!(reviewed.signature_report().per_input, vec![1, 1]);

    let ((xa0, leaf), sig_a0) = by_a.inputs[0]
        .tap_script_sigs
        .iter()
        .next()
        .map(|(k, s)| (*k, *s))
        .unwrap();
    let (xb0, _) = *by_b.inputs[0].tap_script_sigs.keys().next().unwrap();
    let (xa1, _) = *by_a.inputs[1].tap_script_sigs.keys().next().unwrap();

    let mut flipped = by_a.clone();
    flipped.inputs[0]
        .tap_script_sigs
        .insert((xa0, leaf), flip_schnorr(&sig_a0));
    let err = refusal(&vault, &flipped);
    assert!(
        err.contains("input 0")
            && err.contains(&xa0.to_string())
            && err.contains("does not verify"),
        "{err}"
    );

    let mut misfiled = psbt.clone();
    misfiled.inputs[0]
        .tap_script_sigs
        .insert((xb0, leaf), sig_a0);
    let err = refusal(&vault, &misfiled);
    assert!(
        err.contains("input 0")
            && err.contains(&xb0.to_string())
            && err.contains("does not verify"),
        "{err}"
    );

    let mut elsewhere = psbt.clone();
    elsewhere.inputs[0]
        .tap_script_sigs
        .insert((xa1, leaf), sig_a0);
    let err = refusal(&vault, &elsewhere);
    assert!(
        err.contains("input 0")
            && err.contains(&xa1.to_string())
            && err.contains("a key this input does not use"),
        "{err}"
    );

    let (_, other_leaf) = *by_a.inputs[1].tap_script_sigs.keys().next().unwrap();
    let mut foreign_leaf = psbt.clone();
    foreign_leaf.inputs[0]
        .tap_script_sigs
        .insert((xa0, other_leaf), sig_a0);
    let err = refusal(&vault, &foreign_leaf);
    assert!(
        err.contains("input 0") && err.contains("not a leaf") && err.contains("does not use"),
        "{err}"
    );

    // No key path: the internal key is the NUMS point.
    let mut key_path = psbt.clone();
    key_path.inputs[0].tap_key_sig = Some(sig_a0);
    let err = refusal(&vault, &key_path);
    assert!(
        err.contains("input 0") && err.contains("a key this input does not use"),
        "{err}"
    );
}

#[test]
fn the_chain_interface_refuses_a_poisoned_proposal() {
    let descriptor = sortedmulti_2of3();
    let vault = vault(&descriptor);
    let psbt = two_input_spend(&vault);
    let by_a = signed_by(&vault, &psbt, 0);
    let mut flipped = by_a.clone();
    let (key, sig) = flipped.inputs[1]
        .partial_sigs
        .iter()
        .next()
        .map(|(k, s)| (*k, *s))
        .unwrap();
    flipped.inputs[1].partial_sigs.insert(key, flip_ecdsa(&sig));
    let def = VaultDefinition {
        vault_id: "treasury".into(),
        version: 1,
        previous: None,
        chain: "bitcoin".into(),
        network: "regtest".into(),
        account: descriptor,
        coordinator: CoordinatorRef {
            origin: "test/log".into(),
            key: PublicKey([1; 32]),
        },
        signers: Vec::new(),
        threshold: 1,
        rules: Vec::new(),
        created: 0,
        witnesses: Default::default(),
    };
    let proposal = |payload: Vec<u8>| Proposal {
        vault_id: "treasury".into(),
        vault_version: 1,
        vault_artifact: ArtifactId([2; 32]),
        chain: "bitcoin".into(),
        intent: Intent::default(),
        payload,
        spends: Vec::new(),
        rule: "default".into(),
        created: 0,
        expires: 1,
        proposer: PublicKey([3; 32]),
        nonce: [0; 16],
    };
    let chain = Bitcoin::default();
    let honest = chain.describe(&def, &proposal(by_a.serialize())).unwrap();
    assert!(
        honest
            .details
            .iter()
            .any(|(l, _)| l == "signatures already present")
    );
    let err = chain
        .describe(&def, &proposal(flipped.serialize()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("input 1")
            && err.contains(&key.to_string())
            && err.contains("does not verify"),
        "{err}"
    );
}
