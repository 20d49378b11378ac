//! End to end offline: synthetic funding, a PSBT built with rust-bitcoin, two of three cosigners
//! sign (each on its own copy), the copies are combined (every partial signature verified),
//! finalized through miniscript, extracted, and judged by Bitcoin Core's interpreter
//! (`bitcoinconsensus`, taproot with all spent outputs). Also the time-locked recovery path,
//! taproot `multi_a`, single-key `wpkh` and `tr`, low-R signatures, and refusals at combine time.

mod offline_support;

use airlock_chain_bitcoin::{
    BtcVault, ReviewPolicy, SignerKey, SingleKeyScript, combine, finalize, sign_psbt,
    verify_partial_signatures,
};
use bitcoin::{Psbt, Sequence};
use offline_support::*;

fn signed_by(vault: &BtcVault, psbt: &Psbt, cosigner: usize) -> Psbt {
    let mut copy = psbt.clone();
    let report = sign_psbt(
        vault,
        &mut copy,
        &signer(cosigner),
        &ReviewPolicy::default(),
    )
    .expect("sign");
    assert_eq!(report.signed_inputs, psbt.inputs.len());
    copy
}

fn finalize_and_judge(vault: &BtcVault, mut psbt: Psbt) -> bitcoin::Transaction {
    let spent: Vec<_> = psbt
        .inputs
        .iter()
        .map(|i| i.witness_utxo.clone().expect("witness utxo"))
        .collect();
    let tx = finalize(vault, &mut psbt, &ReviewPolicy::default()).expect("finalize");
    consensus_verify(&tx, &spent).expect("Bitcoin Core accepts the transaction");
    tx
}

#[test]
fn wsh_sortedmulti_two_of_three() {
    let vault = vault(&sortedmulti_2of3());
    let funding = funding(&vault, &[60_000, 40_000]);
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 70_000),
        Some(29_000),
        Sequence::ENABLE_RBF_NO_LOCKTIME,
    );
    let a = signed_by(&vault, &psbt, 0);
    let c = signed_by(&vault, &psbt, 2);
    // Low-R: every DER signature is at most 70 bytes (R < 2^255 encodes in 32 bytes).
    for input in &a.inputs {
        for sig in input.partial_sigs.values() {
            assert!(sig.signature.serialize_der().len() <= 70);
        }
    }
    let combined = combine(&vault, vec![a, c], &ReviewPolicy::default()).expect("combine");
    assert_eq!(
        verify_partial_signatures(&vault, &combined, &ReviewPolicy::default())
            .unwrap()
            .per_input,
        vec![2, 2]
    );
    let tx = finalize_and_judge(&vault, combined);
    assert_eq!(tx.compute_txid(), psbt.unsigned_tx.compute_txid());
    // A single signature is not enough: the interpreter refuses.
    let mut only_one = signed_by(&vault, &psbt, 1);
    let err = finalize(&vault, &mut only_one, &ReviewPolicy::default()).unwrap_err();
    assert!(err.to_string().contains("cannot finalize"), "{err}");
}

#[test]
fn taproot_multi_a_two_of_three_script_path() {
    let vault = vault(&taproot_multi_a());
    let funding = funding(&vault, &[50_000]);
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 30_000),
        Some(19_000),
        Sequence::MAX,
    );
    let a = signed_by(&vault, &psbt, 1);
    let b = signed_by(&vault, &psbt, 2);
    assert_eq!(a.inputs[0].tap_script_sigs.len(), 1);
    assert!(
        a.inputs[0].tap_key_sig.is_none(),
        "the NUMS internal key has no key path"
    );
    let combined = combine(&vault, vec![a, b], &ReviewPolicy::default()).unwrap();
    finalize_and_judge(&vault, combined);
}

#[test]
fn recovery_path_after_the_time_lock() {
    let blocks = 144;
    let vault = vault(&recovery_policy(blocks));
    let funding = funding(&vault, &[80_000]);
    // The recovery key (cosigner 2) alone, sequence = the relative lock.
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 79_000),
        None,
        Sequence::from_height(blocks),
    );
    let review = airlock_chain_bitcoin::review(&vault, &psbt, &ReviewPolicy::default()).unwrap();
    assert!(
        review
            .details()
            .iter()
            .any(|(label, value)| label.contains("relative lock") && value == "144 blocks"),
        "{:?}",
        review.details()
    );
    let alone = signed_by(&vault, &psbt, 2);
    finalize_and_judge(&vault, alone);

    // Before the lock (sequence below N) the recovery key alone cannot finalize.
    let early = spend(
        &vault,
        &funding,
        (foreign_script(), 79_000),
        None,
        Sequence::from_height(blocks - 1),
    );
    let mut alone = signed_by(&vault, &early, 2);
    assert!(finalize(&vault, &mut alone, &ReviewPolicy::default()).is_err());

    // The 2-of-3 path works without waiting.
    let now = spend(
        &vault,
        &funding,
        (foreign_script(), 79_000),
        None,
        Sequence::ENABLE_RBF_NO_LOCKTIME,
    );
    let combined = combine(
        &vault,
        vec![signed_by(&vault, &now, 0), signed_by(&vault, &now, 1)],
        &ReviewPolicy::default(),
    )
    .unwrap();
    finalize_and_judge(&vault, combined);
}

#[test]
fn single_key_wpkh_and_taproot_key_path() {
    for script in [SingleKeyScript::Wpkh, SingleKeyScript::Taproot] {
        let key = signer(0);
        let vault = vault(&key.single_key_descriptor(script).unwrap());
        let funding = funding(&vault, &[10_000, 20_000, 30_000]);
        let mut psbt = spend(
            &vault,
            &funding,
            (foreign_script(), 50_000),
            Some(9_000),
            Sequence::MAX,
        );
        let report = sign_psbt(&vault, &mut psbt, &key, &ReviewPolicy::default()).unwrap();
        assert_eq!(report.signed_inputs, 3);
        if script == SingleKeyScript::Taproot {
            assert!(psbt.inputs.iter().all(|i| i.tap_key_sig.is_some()));
        }
        finalize_and_judge(&vault, psbt);
    }
}

#[test]
fn a_different_unsigned_transaction_is_not_combined() {
    let vault = vault(&sortedmulti_2of3());
    let funding = funding(&vault, &[60_000]);
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 50_000),
        Some(9_000),
        Sequence::MAX,
    );
    let other = spend(
        &vault,
        &funding,
        (foreign_script(), 49_000),
        Some(10_000),
        Sequence::MAX,
    );
    let err = combine(
        &vault,
        vec![signed_by(&vault, &psbt, 0), signed_by(&vault, &other, 1)],
        &ReviewPolicy::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("different unsigned transaction"), "{err}");
}

#[test]
fn a_partial_signature_that_does_not_verify_is_refused() {
    let vault = vault(&sortedmulti_2of3());
    let funding = funding(&vault, &[60_000, 10_000]);
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 60_000),
        Some(9_000),
        Sequence::MAX,
    );
    let good = signed_by(&vault, &psbt, 0);

    // A signature made over another transaction, moved onto this one.
    let other = spend(
        &vault,
        &funding,
        (foreign_script(), 59_000),
        Some(10_000),
        Sequence::MAX,
    );
    let foreign = signed_by(&vault, &other, 1);
    let mut forged = signed_by(&vault, &psbt, 1);
    forged.inputs[1].partial_sigs = foreign.inputs[1].partial_sigs.clone();
    let err = verify_partial_signatures(&vault, &forged, &ReviewPolicy::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("input 1") && err.contains("does not verify"),
        "{err}"
    );
    let err = combine(
        &vault,
        vec![good.clone(), forged.clone()],
        &ReviewPolicy::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not verify"), "{err}");
    let err = finalize(&vault, &mut forged, &ReviewPolicy::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not verify"), "{err}");

    // A valid signature by a key that is not the vault's.
    let outsider = SignerKey::from_seed(&seed(9), NETWORK).unwrap();
    let stranger_vault = BtcVault::parse_for(
        &format!(
            "wsh(sortedmulti(2,{}/<0;1>/*,{},{}))",
            outsider.export_multisig_key().unwrap(),
            multisig_key(1),
            multisig_key(2)
        ),
        NETWORK,
    )
    .unwrap();
    let mut with_stranger = good.clone();
    let stranger_funding = offline_support::funding(&stranger_vault, &[60_000, 10_000]);
    let stranger_psbt = spend(
        &stranger_vault,
        &stranger_funding,
        (foreign_script(), 60_000),
        Some(9_000),
        Sequence::MAX,
    );
    let mut stranger_signed = stranger_psbt.clone();
    sign_psbt(
        &stranger_vault,
        &mut stranger_signed,
        &outsider,
        &ReviewPolicy::default(),
    )
    .unwrap();
    let (pk, sig) = stranger_signed.inputs[0]
        .partial_sigs
        .iter()
        .next()
        .unwrap();
    with_stranger.inputs[0].partial_sigs.insert(*pk, *sig);
    let err = verify_partial_signatures(&vault, &with_stranger, &ReviewPolicy::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("a key this input does not use"), "{err}");
}

#[test]
fn a_signer_outside_the_vault_signs_nothing() {
    let vault = vault(&sortedmulti_2of3());
    let funding = funding(&vault, &[60_000]);
    let mut psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 50_000),
        Some(9_000),
        Sequence::MAX,
    );
    let err = sign_psbt(&vault, &mut psbt, &signer(7), &ReviewPolicy::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a key of the vault"), "{err}");
    assert!(psbt.inputs[0].partial_sigs.is_empty());
}

#[test]
fn finalize_fills_scripts_the_psbt_lacks() {
    for text in [sortedmulti_2of3(), taproot_multi_a()] {
        let vault = vault(&text);
        let funding = funding(&vault, &[40_000]);
        let psbt = spend(
            &vault,
            &funding,
            (foreign_script(), 30_000),
            Some(9_000),
            Sequence::MAX,
        );
        let mut combined = combine(
            &vault,
            vec![signed_by(&vault, &psbt, 0), signed_by(&vault, &psbt, 2)],
            &ReviewPolicy::default(),
        )
        .unwrap();
        combined.inputs[0].witness_script = None;
        combined.inputs[0].tap_internal_key = None;
        combined.inputs[0].tap_merkle_root = None;
        combined.inputs[0].tap_scripts.clear();
        finalize_and_judge(&vault, combined);
    }
}

#[test]
fn nested_segwit_sh_wsh_and_sh_wpkh() {
    let multisig = format!(
        "sh(wsh(sortedmulti(2,{},{},{})))",
        multisig_key(0),
        multisig_key(1),
        multisig_key(2)
    );
    let vault = vault(&multisig);
    let funding = funding(&vault, &[40_000, 5_000]);
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 30_000),
        Some(14_000),
        Sequence::MAX,
    );
    let combined = combine(
        &vault,
        vec![signed_by(&vault, &psbt, 1), signed_by(&vault, &psbt, 2)],
        &ReviewPolicy::default(),
    )
    .unwrap();
    finalize_and_judge(&vault, combined);

    let key = signer(0);
    let single = format!(
        "sh(wpkh({}/<0;1>/*))",
        key.export_key(&"m/49'/1'/0'".parse().unwrap()).unwrap()
    );
    let vault = offline_support::vault(&single);
    let funding = offline_support::funding(&vault, &[40_000]);
    let mut psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 30_000),
        Some(9_000),
        Sequence::MAX,
    );
    sign_psbt(&vault, &mut psbt, &key, &ReviewPolicy::default()).unwrap();
    finalize_and_judge(&vault, psbt);
}

#[test]
fn registration_derivation_cache_gives_the_same_review_and_signatures() {
    let text = sortedmulti_2of3();
    let plain = vault(&text);
    let mut cached = vault(&text);
    // Indexes 0..3 cached; the PSBT spends receive 0..6, so both paths are used.
    let bytes = plain.build_derivation_cache(3).unwrap();
    cached.load_derivation_cache(&bytes).unwrap();
    let funding = funding(&plain, &[10_000; 6]);
    let psbt = spend(
        &plain,
        &funding,
        (foreign_script(), 50_000),
        Some(9_000),
        Sequence::MAX,
    );
    let a = airlock_chain_bitcoin::review(&plain, &psbt, &ReviewPolicy::default()).unwrap();
    let b = airlock_chain_bitcoin::review(&cached, &psbt, &ReviewPolicy::default()).unwrap();
    assert_eq!(a.inputs, b.inputs);
    assert_eq!(a.change, b.change);
    let combined = combine(
        &cached,
        vec![signed_by(&cached, &psbt, 0), signed_by(&plain, &psbt, 1)],
        &ReviewPolicy::default(),
    )
    .unwrap();
    finalize_and_judge(&plain, combined);

    // A damaged cache, or one of another vault, is refused.
    let mut damaged = bytes.clone();
    damaged[100] ^= 1;
    let err = vault(&text)
        .load_derivation_cache(&damaged)
        .unwrap_err()
        .to_string();
    assert!(err.contains("damaged"), "{err}");
    let other = vault(&taproot_multi_a()).build_derivation_cache(2).unwrap();
    let err = vault(&text)
        .load_derivation_cache(&other)
        .unwrap_err()
        .to_string();
    assert!(err.contains("another descriptor"), "{err}");
}
