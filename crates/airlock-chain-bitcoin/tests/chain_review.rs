//! `ChainReview for Bitcoin`: describe and sign through Airlock's chain interface, with a vault
//! definition whose `account` is the descriptor and a proposal whose payload is the PSBT.

mod offline_support;

use airlock_chain_bitcoin::{Bitcoin, ReviewPolicy, combine, finalize, parse_psbt};
use airlock_core::artifacts::{Intent, Proposal, Transfer};
use airlock_core::chain::{ChainReview, ChainSecret, check_against_intent};
use airlock_core::vault::{CoordinatorRef, VaultDefinition};
use airlock_core::{ArtifactId, PublicKey};
use bitcoin::{Network, Sequence};
use offline_support::*;
use zeroize::Zeroizing;

fn definition(descriptor: &str, network: &str) -> VaultDefinition {
    VaultDefinition {
        vault_id: "treasury".into(),
        version: 1,
        previous: None,
        chain: "bitcoin".into(),
        network: network.into(),
        account: descriptor.into(),
        coordinator: CoordinatorRef {
            origin: "test/log".into(),
            key: PublicKey([1; 32]),
        },
        signers: Vec::new(),
        threshold: 1,
        rules: Vec::new(),
        created: 0,
        witnesses: Default::default(),
    }
}

fn proposal(payload: Vec<u8>, transfers: Vec<Transfer>) -> Proposal {
    Proposal {
        vault_id: "treasury".into(),
        vault_version: 1,
        vault_artifact: ArtifactId([2; 32]),
        chain: "bitcoin".into(),
        intent: Intent {
            transfers,
            memo: String::new(),
        },
        payload,
        spends: Vec::new(),
        rule: "default".into(),
        created: 0,
        expires: 1,
        proposer: PublicKey([3; 32]),
        nonce: [0; 16],
    }
}

fn secret(index: usize) -> ChainSecret {
    ChainSecret(Zeroizing::new(seed(index).to_vec()))
}

#[test]
fn describe_then_sign_two_of_three_and_finalize() {
    let descriptor = sortedmulti_2of3();
    let vault = vault(&descriptor);
    let def = definition(&descriptor, "regtest");
    let funding = funding(&vault, &[60_000, 40_000]);
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 70_000),
        Some(29_000),
        Sequence::MAX,
    );
    let payee = bitcoin::Address::from_script(&foreign_script(), Network::Regtest)
        .unwrap()
        .to_string();
    let transfers = vec![Transfer {
        destination: payee.clone(),
        amount: 70_000,
        asset: String::new(),
    }];
    let p = proposal(psbt.serialize(), transfers.clone());
    let chain = Bitcoin::default();
    assert_eq!(chain.chain(), "bitcoin");
    let description = chain.describe(&def, &p).unwrap();
    assert_eq!(description.transfers, transfers);
    assert_eq!(description.fee, Some(1_000));
    assert_eq!(description.change.len(), 1);
    assert_eq!(description.change[0].amount, 29_000);
    assert_eq!(
        description.spends,
        vec![
            format!("{}:0", funding.compute_txid()),
            format!("{}:1", funding.compute_txid())
        ]
    );
    assert!(
        description
            .details
            .iter()
            .any(|(l, v)| l == "vault" && v.contains(&vault.wallet_fingerprint()))
    );
    check_against_intent(&p.intent, &description).unwrap();

    // Signed under the description just computed (same bytes), then by a second signer afresh.
    let first = chain.sign(&def, &p, &secret(0)).unwrap();
    let second = Bitcoin::new(ReviewPolicy::default())
        .sign(&def, &p, &secret(1))
        .unwrap();
    let first = parse_psbt(&first).unwrap();
    let second = parse_psbt(&second).unwrap();
    assert_eq!(first.inputs[0].partial_sigs.len(), 1);
    let mut combined = combine(&vault, vec![first, second], &ReviewPolicy::default()).unwrap();
    let spent: Vec<_> = combined
        .inputs
        .iter()
        .map(|i| i.witness_utxo.clone().unwrap())
        .collect();
    let tx = finalize(&vault, &mut combined, &ReviewPolicy::default()).unwrap();
    consensus_verify(&tx, &spent).unwrap();
}

#[test]
fn wrong_network_destination_in_the_intent_is_refused() {
    let descriptor = sortedmulti_2of3();
    let vault = vault(&descriptor);
    let funding = funding(&vault, &[60_000]);
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 50_000),
        Some(9_000),
        Sequence::MAX,
    );
    let p = proposal(
        psbt.serialize(),
        vec![Transfer {
            destination: "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu".into(),
            amount: 50_000,
            asset: String::new(),
        }],
    );
    let def = definition(&descriptor, "regtest");
    let chain = Bitcoin::default();
    let err = chain.describe(&def, &p).unwrap_err().to_string();
    assert!(
        err.contains("not an address of the vault's network"),
        "{err}"
    );
    let err = chain.sign(&def, &p, &secret(0)).unwrap_err().to_string();
    assert!(
        err.contains("not an address of the vault's network"),
        "{err}"
    );
}

#[test]
fn a_vault_on_another_network_than_its_keys_is_refused() {
    let descriptor = sortedmulti_2of3();
    let def = definition(&descriptor, "bitcoin");
    let p = proposal(Vec::new(), Vec::new());
    let err = Bitcoin::default()
        .describe(&def, &p)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("bitcoin: descriptor:"), "{err}");
}

#[test]
fn a_changed_payload_is_reviewed_again_before_signing() {
    let descriptor = sortedmulti_2of3();
    let vault = vault(&descriptor);
    let def = definition(&descriptor, "regtest");
    let funding = funding(&vault, &[60_000]);
    let good = spend(
        &vault,
        &funding,
        (foreign_script(), 50_000),
        Some(9_000),
        Sequence::MAX,
    );
    let chain = Bitcoin::default();
    chain
        .describe(&def, &proposal(good.serialize(), Vec::new()))
        .unwrap();
    // Another payload (change pays a foreign script) is described afresh, not under the cached
    // review: its "change" is a payment, which the signer app then finds missing from the intent.
    let mut bad = good.clone();
    bad.unsigned_tx.output[1].script_pubkey = foreign_script();
    let described = chain
        .describe(&def, &proposal(bad.serialize(), Vec::new()))
        .unwrap();
    assert_eq!(described.transfers.len(), 2);
    assert!(described.change.is_empty());
    assert!(
        described
            .warnings
            .iter()
            .any(|w| w.contains("NOT the vault's change")),
        "{:?}",
        described.warnings
    );
    // Truncated payload.
    let bytes = good.serialize();
    let err = chain
        .describe(
            &def,
            &proposal(bytes[..bytes.len() / 2].to_vec(), Vec::new()),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("PSBT:"), "{err}");
}

#[test]
fn a_registration_cache_is_checked_when_added_and_used_in_reviews() {
    let descriptor = sortedmulti_2of3();
    let vault = vault(&descriptor);
    let def = definition(&descriptor, "regtest");
    let mut chain = Bitcoin::default();
    chain
        .add_derivation_cache(&def, vault.build_derivation_cache(4).unwrap())
        .unwrap();
    let other = offline_support::vault(&taproot_multi_a())
        .build_derivation_cache(4)
        .unwrap();
    let err = chain
        .add_derivation_cache(&def, other)
        .unwrap_err()
        .to_string();
    assert!(err.contains("another descriptor"), "{err}");
    let funding = funding(&vault, &[20_000, 20_000]);
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 30_000),
        Some(9_000),
        Sequence::MAX,
    );
    let p = proposal(psbt.serialize(), Vec::new());
    let description = chain.describe(&def, &p).unwrap();
    assert_eq!(description.fee, Some(1_000));
    let signed = parse_psbt(&chain.sign(&def, &p, &secret(2)).unwrap()).unwrap();
    airlock_chain_bitcoin::verify_partial_signatures(&vault, &signed, &ReviewPolicy::default())
        .unwrap();
    assert_eq!(signed.inputs[1].partial_sigs.len(), 1);
}
