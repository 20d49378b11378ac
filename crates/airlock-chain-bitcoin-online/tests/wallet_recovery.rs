//! A miniscript vault with an emergency path, "2 of 3 now, or the recovery key alone after 144
//! blocks": the everyday proposal is spent by two cosigners; the recovery proposal commits to
//! nSequence = 144, spends only coins with 144 confirmations, and is spent by the recovery key
//! alone. Bitcoin Core's interpreter judges both (CHECKSEQUENCEVERIFY included).

mod wallet_support;

use airlock_chain_bitcoin_online::{
    BlockConfirmation, OnlineError, SpendPath, WatchOnlyVault, recovery_timelocks,
};
use bdk_wallet::bitcoin::{Network, Sequence};
use wallet_support::*;

const KIND: VaultKind = VaultKind::WshMultiOrRecovery;

/// Coins: 1,000,000 sat at height 100 and 400,000 sat at height 200; tip at 250, so only the
/// first has 144 confirmations.
fn funded_recovery_vault(dir: &tempfile::TempDir) -> WatchOnlyVault {
    let mut vault = WatchOnlyVault::create(
        &dir.path().join("vault.sqlite"),
        &vault_descriptor(KIND),
        Network::Regtest,
    )
    .unwrap();
    for (label, sats, height) in [("old", 1_000_000u64, 100u32), ("young", 400_000, 200)] {
        let address = vault.reveal_next_address().unwrap().address;
        let funding = funding_transaction(label, &[(address.script_pubkey(), sats)]);
        vault
            .add_raw_transaction(
                &raw(&funding),
                Some(BlockConfirmation::at(height, 1_700_000_000)),
            )
            .unwrap();
    }
    vault
        .record_block(BlockConfirmation::at(250, 1_700_090_000))
        .unwrap();
    assert_eq!(vault.tip_height(), 250);
    vault
}

#[test]
fn everyday_path_needs_two_cosigners() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = funded_recovery_vault(&dir);
    let payee = foreign_address("payee").to_string();
    let psbt = vault.build_payment(&[(&payee, 1_200_000)], 2.0).unwrap();
    assert_eq!(psbt.unsigned_tx.input.len(), 2);
    assert!(
        psbt.unsigned_tx
            .input
            .iter()
            .all(|input| input.sequence == Sequence::ENABLE_RBF_NO_LOCKTIME)
    );
    // Every input names all four keys (three cosigners and the recovery key).
    assert!(
        psbt.inputs
            .iter()
            .all(|input| input.bip32_derivation.len() == 4)
    );
    assert_eq!(psbt.xpub.len(), 4);

    // The recovery key alone cannot spend the everyday proposal: older(144) is not committed to.
    let mut recovery_only = psbt.clone();
    sign_with_rust_bitcoin(&mut recovery_only, 3);
    assert!(vault.finalize_psbt(&recovery_only).is_err());

    let mut signed = psbt.clone();
    sign_with_bdk(&mut signed, KIND, 0);
    sign_with_bdk(&mut signed, KIND, 2);
    let final_tx = vault.finalize_psbt(&signed).unwrap();
    verify_with_bitcoin_core(&final_tx, &spent_outputs(&psbt)).unwrap();
}

#[test]
fn recovery_path_spends_mature_coins_with_the_recovery_key_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = funded_recovery_vault(&dir);
    let locks = recovery_timelocks(vault.descriptor(bdk_wallet::KeychainKind::External)).unwrap();
    assert_eq!(
        locks.relative,
        Some(Sequence::from_height(RECOVERY_BLOCKS as u16))
    );
    assert_eq!(locks.absolute, None);
    let payee = foreign_address("payee").to_string();

    // Only the coin with 151 confirmations counts; the 51-confirmation one is not yet recoverable.
    let error = vault
        .build_payment_on_path(&[(&payee, 1_200_000)], 2.0, SpendPath::Recovery)
        .unwrap_err();
    match error {
        OnlineError::InsufficientFunds { available_sat, .. } => {
            assert_eq!(available_sat, 1_000_000)
        }
        other => panic!("unexpected {other:?}"),
    }

    let psbt = vault
        .build_payment_on_path(&[(&payee, 600_000)], 2.0, SpendPath::Recovery)
        .unwrap();
    assert_eq!(psbt.unsigned_tx.input.len(), 1);
    assert_eq!(
        psbt.unsigned_tx.input[0].sequence,
        Sequence::from_height(144)
    );
    assert!(psbt.unsigned_tx.version.0 >= 2, "CSV needs version 2");

    let mut signed = psbt.clone();
    assert_eq!(sign_with_rust_bitcoin(&mut signed, 3), 1);
    assert_eq!(signed.inputs[0].partial_sigs.len(), 1);
    let final_tx = vault
        .finalize_psbt(&signed)
        .expect("recovery branch satisfied");
    let spent = spent_outputs(&psbt);
    verify_with_bitcoin_core(&final_tx, &spent).expect("Bitcoin Core accepts the recovery spend");

    // Bitcoin Core enforces the lock itself: the same spend re-signed with nSequence 143 (valid
    // signature for that transaction) fails CHECKSEQUENCEVERIFY; re-signed with 144 it passes.
    let resigned_with_sequence = |sequence: Sequence| {
        let mut variant = psbt.clone();
        variant.unsigned_tx.input[0].sequence = sequence;
        sign_with_rust_bitcoin(&mut variant, 3);
        let new_signature = variant.inputs[0]
            .partial_sigs
            .values()
            .next()
            .unwrap()
            .to_vec();
        let old_signature = signed.inputs[0]
            .partial_sigs
            .values()
            .next()
            .unwrap()
            .to_vec();
        let mut tx = final_tx.clone();
        tx.input[0].sequence = sequence;
        let items: Vec<Vec<u8>> = tx.input[0]
            .witness
            .iter()
            .map(|item| {
                if item == old_signature.as_slice() {
                    new_signature.clone()
                } else {
                    item.to_vec()
                }
            })
            .collect();
        assert!(items.contains(&new_signature), "signature replaced");
        tx.input[0].witness = bdk_wallet::bitcoin::Witness::from_slice(&items);
        tx
    };
    verify_with_bitcoin_core(&resigned_with_sequence(Sequence::from_height(144)), &spent)
        .expect("re-signed at the lock passes");
    let error =
        verify_with_bitcoin_core(&resigned_with_sequence(Sequence::from_height(143)), &spent)
            .expect_err("one block short fails");
    assert!(error.contains("input 0"), "{error}");

    // Once more blocks pass, the younger coin becomes recoverable too.
    vault
        .record_block(BlockConfirmation::at(343, 1_700_150_000))
        .unwrap();
    let sweep_everything = vault
        .build_payment_on_path(&[(&payee, 1_300_000)], 2.0, SpendPath::Recovery)
        .unwrap();
    assert_eq!(sweep_everything.unsigned_tx.input.len(), 2);
}

#[test]
fn recovery_path_is_refused_for_vaults_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = WatchOnlyVault::create(
        &dir.path().join("vault.sqlite"),
        &vault_descriptor(VaultKind::WshSortedMulti2of3),
        Network::Regtest,
    )
    .unwrap();
    let address = vault.reveal_next_address().unwrap().address;
    let funding = funding_transaction("plain", &[(address.script_pubkey(), 100_000)]);
    vault
        .add_raw_transaction(
            &raw(&funding),
            Some(BlockConfirmation::at(5, 1_700_000_000)),
        )
        .unwrap();
    let before = snapshot(&vault);
    let error = vault
        .build_payment_on_path(
            &[(&foreign_address("p").to_string(), 10_000)],
            2.0,
            SpendPath::Recovery,
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("no timelocked recovery path"),
        "{error}"
    );
    assert_eq!(snapshot(&vault), before);
}
