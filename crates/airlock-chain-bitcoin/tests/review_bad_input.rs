//! The review refuses or warns as a person would need: foreign change, foreign inputs,
//! mismatched UTXO data, wrong-network addresses, absurd fees, non-default sighash types,
//! truncated, damaged or huge PSBTs. Each case checks the error names the problem.

mod offline_support;

use airlock_chain_bitcoin::{
    BtcVault, MAX_PSBT_BYTES, ReviewPolicy, parse_address, parse_psbt, psbt_to_base64, review,
    sign_psbt,
};
use bitcoin::psbt::PsbtSighashType;
use bitcoin::{Amount, EcdsaSighashType, Network, Psbt, Sequence, TapSighashType};
use offline_support::*;

fn setup() -> (BtcVault, Psbt) {
    let vault = vault(&sortedmulti_2of3());
    let funding = funding(&vault, &[60_000, 40_000]);
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 70_000),
        Some(29_000),
        Sequence::MAX,
    );
    (vault, psbt)
}

fn refusal(vault: &BtcVault, psbt: &Psbt) -> String {
    review(vault, psbt, &ReviewPolicy::default())
        .expect_err("the review must refuse")
        .to_string()
}

#[test]
fn a_good_psbt_is_described_exactly() {
    let (vault, psbt) = setup();
    let r = review(&vault, &psbt, &ReviewPolicy::default()).unwrap();
    assert_eq!(r.inputs.len(), 2);
    assert_eq!(r.total_in, Amount::from_sat(100_000));
    assert_eq!(r.fee, Amount::from_sat(1_000));
    assert_eq!(r.payments.len(), 1);
    assert_eq!(r.payments[0].amount, Amount::from_sat(70_000));
    assert_eq!(
        r.payments[0].destination,
        bitcoin::Address::from_script(&foreign_script(), Network::Regtest)
            .unwrap()
            .to_string()
    );
    assert_eq!(r.change.len(), 1);
    assert_eq!(r.change[0].derivation, Some((1, 0)));
    // 2 P2WSH 2-of-3 inputs + 2 outputs: ~ 2*104.5 + 10.5 + 43 + 31 vB.
    assert!(
        (280..=300).contains(&r.estimated_vsize),
        "{}",
        r.estimated_vsize
    );
    assert!(r.fee_rate > 3.0 && r.fee_rate < 4.0, "{}", r.fee_rate);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn change_paying_a_foreign_script_is_a_payment_with_a_warning() {
    let (vault, mut psbt) = setup();
    // The change output keeps its vault derivation but pays someone else: not change, a payment.
    psbt.unsigned_tx.output[1].script_pubkey = foreign_script();
    let r = review(&vault, &psbt, &ReviewPolicy::default()).unwrap();
    assert!(r.change.is_empty(), "{:?}", r.change);
    assert_eq!(r.payments.len(), 2);
    let warning = r.warnings.join("\n");
    assert!(
        warning.contains("output 1 claims to return to the vault")
            && warning.contains("NOT the vault's change"),
        "{warning}"
    );
}

#[test]
fn change_without_derivation_is_a_payment() {
    let (vault, mut psbt) = setup();
    psbt.outputs[1].bip32_derivation.clear();
    psbt.outputs[1].witness_script = None;
    let r = review(&vault, &psbt, &ReviewPolicy::default()).unwrap();
    assert_eq!(r.payments.len(), 2);
    assert!(r.change.is_empty());
}

#[test]
fn an_input_that_does_not_belong_to_the_vault_is_refused() {
    let (vault, psbt) = setup();
    // A foreign output spent as if it were the vault's: same derivations, another script.
    let mut foreign = psbt.clone();
    let mut prev = foreign.inputs[0].non_witness_utxo.clone().unwrap();
    prev.output[0].script_pubkey = foreign_script();
    let txid = prev.compute_txid();
    foreign.unsigned_tx.input[0].previous_output.txid = txid;
    foreign.inputs[0].witness_utxo = Some(prev.output[0].clone());
    foreign.inputs[0].non_witness_utxo = Some(prev);
    foreign.inputs[0].witness_script = None;
    let err = refusal(&vault, &foreign);
    assert!(
        err.contains("input 0") && err.contains("does not belong to the vault"),
        "{err}"
    );

    // No derivation of a vault key at all.
    let mut bare = psbt.clone();
    bare.inputs[1].bip32_derivation.clear();
    let err = refusal(&vault, &bare);
    assert!(
        err.contains("input 1") && err.contains("no BIP-32 derivation"),
        "{err}"
    );
}

#[test]
fn mismatched_utxo_data_is_refused() {
    let (vault, psbt) = setup();
    // witness_utxo claims another amount than the previous transaction's output.
    let mut amount = psbt.clone();
    amount.inputs[0].witness_utxo.as_mut().unwrap().value = Amount::from_sat(1);
    let err = refusal(&vault, &amount);
    assert!(
        err.contains("witness_utxo") && err.contains("does not match"),
        "{err}"
    );

    // non_witness_utxo is another transaction than the one the input spends.
    let mut other_tx = psbt.clone();
    let mut prev = other_tx.inputs[0].non_witness_utxo.clone().unwrap();
    prev.lock_time = bitcoin::absolute::LockTime::from_consensus(5);
    other_tx.inputs[0].non_witness_utxo = Some(prev);
    let err = refusal(&vault, &other_tx);
    assert!(err.contains("non_witness_utxo is transaction"), "{err}");

    // No UTXO data at all.
    let mut none = psbt.clone();
    none.inputs[1].witness_utxo = None;
    none.inputs[1].non_witness_utxo = None;
    let err = refusal(&vault, &none);
    assert!(
        err.contains("neither witness_utxo nor non_witness_utxo"),
        "{err}"
    );

    // Only witness_utxo: accepted with a warning, or refused when the policy requires both.
    let mut witness_only = psbt.clone();
    witness_only.inputs[0].non_witness_utxo = None;
    let r = review(&vault, &witness_only, &ReviewPolicy::default()).unwrap();
    assert!(
        r.warnings.iter().any(|w| w.contains("no non_witness_utxo")),
        "{:?}",
        r.warnings
    );
    let strict = ReviewPolicy {
        require_non_witness_utxo: true,
        ..ReviewPolicy::default()
    };
    let err = review(&vault, &witness_only, &strict)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no non_witness_utxo"), "{err}");
}

#[test]
fn wrong_network_addresses_are_refused() {
    let mainnet = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu";
    let err = parse_address(mainnet, Network::Regtest)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not an address of the vault's network"),
        "{err}"
    );
    let regtest = vault(&sortedmulti_2of3())
        .first_receive_address()
        .unwrap()
        .to_string();
    parse_address(&regtest, Network::Regtest).unwrap();
    let err = parse_address(&regtest, Network::Testnet)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not an address of the vault's network"),
        "{err}"
    );
    let err = parse_address("bc1qnotanaddress", Network::Bitcoin)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a Bitcoin address"), "{err}");
}

#[test]
fn absurd_fees_are_refused_and_high_fees_warned() {
    let vault = vault(&sortedmulti_2of3());
    let funding = funding(&vault, &[6_000_000]);
    // Fee above the payment.
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 10_000),
        Some(5_900_000),
        Sequence::MAX,
    );
    let err = refusal(&vault, &psbt);
    assert!(
        err.contains("absurd fee") && err.contains("more than the payments"),
        "{err}"
    );
    // Fee above the absolute cap.
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 100_000),
        None,
        Sequence::MAX,
    );
    let err = refusal(&vault, &psbt);
    assert!(err.contains("absurd fee") && err.contains("cap"), "{err}");
    // High but allowed: warnings about rate and percentage.
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 500_000),
        Some(5_470_000),
        Sequence::MAX,
    );
    let r = review(&vault, &psbt, &ReviewPolicy::default()).unwrap();
    assert!(
        r.warnings.iter().any(|w| w.contains("high fee rate")),
        "{:?}",
        r.warnings
    );
    assert!(
        r.warnings.iter().any(|w| w.contains("% of the payments")),
        "{:?}",
        r.warnings
    );
    // Outputs above inputs.
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 7_000_000),
        None,
        Sequence::MAX,
    );
    let err = refusal(&vault, &psbt);
    assert!(err.contains("exceed the inputs"), "{err}");
}

#[test]
fn non_default_sighash_types_are_refused_unless_allowed() {
    let (vault, psbt) = setup();
    for ty in [
        EcdsaSighashType::None,
        EcdsaSighashType::Single,
        EcdsaSighashType::AllPlusAnyoneCanPay,
    ] {
        let mut odd = psbt.clone();
        odd.inputs[1].sighash_type = Some(PsbtSighashType::from(ty));
        let err = refusal(&vault, &odd);
        assert!(
            err.contains("input 1") && err.contains("non-default sighash"),
            "{err}"
        );
        let mut signed = odd.clone();
        assert!(sign_psbt(&vault, &mut signed, &signer(0), &ReviewPolicy::default()).is_err());
        assert!(
            signed.inputs[0].partial_sigs.is_empty(),
            "nothing signed after a refusal"
        );
        let lenient = ReviewPolicy {
            allow_non_default_sighash: true,
            ..ReviewPolicy::default()
        };
        let r = review(&vault, &odd, &lenient).unwrap();
        assert!(
            r.warnings.iter().any(|w| w.contains("sighash")),
            "{:?}",
            r.warnings
        );
        sign_psbt(&vault, &mut signed, &signer(0), &lenient).unwrap();
        assert_eq!(
            signed.inputs[1]
                .partial_sigs
                .values()
                .next()
                .unwrap()
                .sighash_type,
            ty
        );
    }
    // Explicit ALL is fine.
    let mut all = psbt.clone();
    all.inputs[0].sighash_type = Some(PsbtSighashType::from(EcdsaSighashType::All));
    review(&vault, &all, &ReviewPolicy::default()).unwrap();

    // Taproot: DEFAULT and ALL are fine, SINGLE is refused.
    let tr = offline_support::vault(&taproot_multi_a());
    let funding = funding(&tr, &[50_000]);
    let mut tpsbt = spend(
        &tr,
        &funding,
        (foreign_script(), 40_000),
        Some(9_000),
        Sequence::MAX,
    );
    tpsbt.inputs[0].sighash_type = Some(PsbtSighashType::from(TapSighashType::Default));
    review(&tr, &tpsbt, &ReviewPolicy::default()).unwrap();
    tpsbt.inputs[0].sighash_type = Some(PsbtSighashType::from(TapSighashType::Single));
    let err = refusal(&tr, &tpsbt);
    assert!(err.contains("non-default sighash"), "{err}");
}

#[test]
fn truncated_damaged_and_huge_psbts_are_refused() {
    let (_, psbt) = setup();
    let bytes = psbt.serialize();
    for cut in [5, bytes.len() / 3, bytes.len() - 1] {
        let err = parse_psbt(&bytes[..cut]).unwrap_err().to_string();
        assert!(err.starts_with("PSBT:"), "{err}");
        assert!(
            err.contains("truncated") || err.contains("malformed"),
            "{cut}: {err}"
        );
    }
    let text = psbt_to_base64(&psbt);
    let err = parse_psbt(&text.as_bytes()[..text.len() - 7])
        .unwrap_err()
        .to_string();
    assert!(err.contains("base64") || err.contains("truncated"), "{err}");
    // Base64 and binary give the same PSBT.
    assert_eq!(parse_psbt(text.as_bytes()).unwrap(), psbt);
    assert_eq!(parse_psbt(&bytes).unwrap(), psbt);

    let mut huge = bytes.clone();
    huge.resize(MAX_PSBT_BYTES + 1, 0);
    let err = parse_psbt(&huge).unwrap_err().to_string();
    assert!(err.contains("too large"), "{err}");
    let huge_text = vec![b'A'; MAX_PSBT_BYTES / 3 * 4 + 100];
    let err = parse_psbt(&huge_text).unwrap_err().to_string();
    assert!(err.contains("too large"), "{err}");

    for junk in [&b""[..], b"hello", b"\x00\x01\x02"] {
        let err = parse_psbt(junk).unwrap_err().to_string();
        assert!(err.contains("not a PSBT") || err.contains("empty"), "{err}");
    }
}

#[test]
fn witness_script_that_is_not_the_vaults_is_refused() {
    let (vault, mut psbt) = setup();
    psbt.inputs[0].witness_script = Some(foreign_script());
    let err = refusal(&vault, &psbt);
    assert!(
        err.contains("witness_script is not the vault's script"),
        "{err}"
    );
}

#[test]
fn a_derivation_lying_about_this_signers_key_is_refused() {
    let (vault, mut psbt) = setup();
    // Cosigner 0's derivation entry names cosigner 1's public key.
    let entries: Vec<_> = psbt.inputs[0]
        .bip32_derivation
        .clone()
        .into_iter()
        .collect();
    let fp0 = signer(0).fingerprint();
    let (mine, source) = entries.iter().find(|(_, s)| s.0 == fp0).unwrap().clone();
    let (other, _) = entries.iter().find(|(_, s)| s.0 != fp0).unwrap().clone();
    psbt.inputs[0].bip32_derivation.remove(&mine);
    psbt.inputs[0].bip32_derivation.insert(other, source);
    let err = sign_psbt(
        &vault,
        &mut psbt.clone(),
        &signer(0),
        &ReviewPolicy::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("which is not the key at that path"), "{err}");
}

#[test]
fn large_psbts_report_the_first_bad_input_in_order() {
    // 80 inputs: above the threshold where derivation runs on several threads.
    let vault = vault(&sortedmulti_2of3());
    let funding = funding(&vault, &[10_000; 80]);
    let mut psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 700_000),
        Some(99_000),
        Sequence::MAX,
    );
    let good = review(&vault, &psbt, &ReviewPolicy::default()).unwrap();
    assert_eq!(good.inputs.len(), 80);
    assert!(
        good.inputs
            .iter()
            .enumerate()
            .all(|(i, input)| input.index == i as u32)
    );
    psbt.inputs[77].bip32_derivation.clear();
    psbt.inputs[45].bip32_derivation.clear();
    let err = refusal(&vault, &psbt);
    assert!(err.contains("input 45 "), "{err}");
}
