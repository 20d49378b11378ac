//! Watch-only vaults of the other kinds: taproot 2-of-3 `tr(NUMS, multi_a)`, single-key `wpkh` and
//! single-key `tr`. Each is funded by hand, pays out through a PSBT whose BIP-32 / BIP-371 fields are
//! checked, is signed, finalized through miniscript and judged by Bitcoin Core's interpreter (taproot
//! with all spent outputs), then applied.

mod wallet_support;

use std::str::FromStr;

use airlock_chain_bitcoin_online::{BlockConfirmation, KeychainKind, WatchOnlyVault};
use bdk_wallet::bitcoin::bip32::Xpub;
use bdk_wallet::bitcoin::secp256k1::{Secp256k1, XOnlyPublicKey};
use bdk_wallet::bitcoin::{Amount, Network, Psbt, Transaction};
use bdk_wallet::miniscript::{Descriptor, DescriptorPublicKey};
use wallet_support::*;

/// Funds a new vault of `kind` with two coins, pays 1,200,000 sat out at 3 sat/vB, and returns the
/// vault, the unsigned PSBT and the total funded.
fn funded_vault_and_payment(
    kind: VaultKind,
    dir: &tempfile::TempDir,
) -> (WatchOnlyVault, Psbt, u64) {
    let mut vault = WatchOnlyVault::create(
        &dir.path().join("vault.sqlite"),
        &vault_descriptor(kind),
        Network::Regtest,
    )
    .expect("vault created");
    let first = vault.reveal_next_address().unwrap();
    // Independent derivation of the first receive address.
    let parsed = Descriptor::<DescriptorPublicKey>::from_str(&vault_descriptor(kind)).unwrap();
    let expected = parsed.into_single_descriptors().unwrap()[0]
        .at_derivation_index(0)
        .unwrap()
        .address(Network::Regtest)
        .unwrap();
    assert_eq!(first.address, expected);
    let second = vault.reveal_next_address().unwrap();
    let fund_a = funding_transaction("single-a", &[(first.address.script_pubkey(), 1_000_000)]);
    let fund_b = funding_transaction("single-b", &[(second.address.script_pubkey(), 800_000)]);
    vault
        .add_raw_transaction(
            &raw(&fund_a),
            Some(BlockConfirmation::at(50, 1_700_000_000)),
        )
        .unwrap();
    vault
        .add_raw_transaction(
            &raw(&fund_b),
            Some(BlockConfirmation::at(51, 1_700_000_600)),
        )
        .unwrap();
    assert_eq!(vault.balance().confirmed, Amount::from_sat(1_800_000));
    assert_eq!(vault.utxos().len(), 2);
    let psbt = vault
        .build_payment(&[(&foreign_address("payee").to_string(), 1_200_000)], 3.0)
        .expect("payment built");
    assert_eq!(psbt.unsigned_tx.input.len(), 2, "both coins needed");
    (vault, psbt, 1_800_000)
}

/// Finalizes, has Bitcoin Core judge it, applies it and checks the balance that is left.
fn finalize_verify_apply(
    vault: &mut WatchOnlyVault,
    unsigned: &Psbt,
    signed: &Psbt,
    funded: u64,
) -> Transaction {
    let final_tx = vault.finalize_psbt(signed).expect("finalized");
    let spent = spent_outputs(unsigned);
    verify_with_bitcoin_core(&final_tx, &spent).expect("Bitcoin Core accepts");
    let output_sum: u64 = final_tx
        .output
        .iter()
        .map(|output| output.value.to_sat())
        .sum();
    let fee = funded - output_sum;
    // At least 3 sat/vB of the real weight (3 sat per 4 weight units), at most 4 sat/vB (BDK budgets
    // worst-case signature sizes).
    let weight = final_tx.weight().to_wu();
    assert!(4 * fee >= 3 * weight, "fee {fee} for {weight} WU");
    assert!(
        fee <= 4 * final_tx.vsize() as u64,
        "fee {fee} for {weight} WU"
    );
    vault.apply_final_transaction(&final_tx).unwrap();
    let balance = vault.balance();
    assert_eq!(balance.total().to_sat(), funded - 1_200_000 - fee);
    assert_eq!(balance.unconfirmed_change, balance.total());
    final_tx
}

fn change_index(vault: &WatchOnlyVault, psbt: &Psbt) -> usize {
    let indexes: Vec<usize> = psbt
        .unsigned_tx
        .output
        .iter()
        .enumerate()
        .filter(|(_, output)| vault.wallet().is_mine(output.script_pubkey.clone()))
        .map(|(index, _)| index)
        .collect();
    assert_eq!(indexes.len(), 1, "one change output");
    indexes[0]
}

#[test]
fn taproot_multi_a_2_of_3() {
    let kind = VaultKind::TrMultiA2of3;
    let dir = tempfile::tempdir().unwrap();
    let (mut vault, psbt, funded) = funded_vault_and_payment(kind, &dir);
    let nums = XOnlyPublicKey::from_str(NUMS_KEY).unwrap();

    assert_eq!(psbt.xpub.len(), 3, "global xpubs");
    for input in &psbt.inputs {
        let witness_utxo = input.witness_utxo.as_ref().expect("witness_utxo");
        assert!(witness_utxo.script_pubkey.is_p2tr());
        assert_eq!(input.tap_internal_key, Some(nums));
        assert!(input.tap_merkle_root.is_some());
        assert_eq!(input.tap_scripts.len(), 1, "one multi_a leaf");
        // Three cosigner keys with origins, each under the one leaf.
        let with_origin: Vec<_> = input
            .tap_key_origins
            .iter()
            .filter(|(_, (leaves, _))| leaves.len() == 1)
            .collect();
        assert_eq!(with_origin.len(), 3, "{:#?}", input.tap_key_origins);
        assert!(
            input.bip32_derivation.is_empty(),
            "taproot uses tap_key_origins"
        );
        // The leaf and internal key reproduce the output key.
        let (control_block, (leaf_script, _)) = input.tap_scripts.iter().next().unwrap();
        let output_key =
            XOnlyPublicKey::from_slice(&witness_utxo.script_pubkey.as_bytes()[2..]).unwrap();
        assert!(control_block.verify_taproot_commitment(
            &Secp256k1::new(),
            output_key,
            leaf_script
        ));
    }
    let change = change_index(&vault, &psbt);
    let output = &psbt.outputs[change];
    assert_eq!(output.tap_internal_key, Some(nums));
    assert!(output.tap_tree.is_some(), "change carries its script tree");
    // Three cosigner keys under the leaf, plus the internal (NUMS) key with no leaf.
    assert_eq!(
        output.tap_key_origins.len(),
        4,
        "{:#?}",
        output.tap_key_origins
    );
    assert!(
        output
            .tap_key_origins
            .get(&nums)
            .is_some_and(|(leaves, _)| leaves.is_empty())
    );
    for (_, (_, (_, path))) in output
        .tap_key_origins
        .iter()
        .filter(|(key, _)| **key != nums)
    {
        let steps: Vec<u32> = path.into_iter().map(|step| u32::from(*step)).collect();
        assert_eq!(steps[4], 1, "change chain");
    }

    let mut signed = psbt.clone();
    sign_with_bdk(&mut signed, kind, 0);
    sign_with_bdk(&mut signed, kind, 1);
    assert!(
        signed
            .inputs
            .iter()
            .all(|input| input.tap_script_sigs.len() == 2)
    );
    // One more check that the interpreter is not vacuous for taproot: drop a signature.
    let mut one_signature = psbt.clone();
    sign_with_bdk(&mut one_signature, kind, 2);
    assert!(vault.finalize_psbt(&one_signature).is_err());

    let final_tx = finalize_verify_apply(&mut vault, &psbt, &signed, funded);
    let mut damaged = final_tx.clone();
    let mut items: Vec<Vec<u8>> = damaged.input[1]
        .witness
        .iter()
        .map(<[u8]>::to_vec)
        .collect();
    let signature = items.iter_mut().find(|item| item.len() == 64).unwrap();
    signature[5] ^= 0x80;
    damaged.input[1].witness = bdk_wallet::bitcoin::Witness::from_slice(&items);
    assert!(verify_with_bitcoin_core(&damaged, &spent_outputs(&psbt)).is_err());
}

#[test]
fn single_key_wpkh() {
    let kind = VaultKind::Wpkh;
    let dir = tempfile::tempdir().unwrap();
    let (mut vault, psbt, funded) = funded_vault_and_payment(kind, &dir);
    assert!(
        vault
            .reveal_next_address()
            .unwrap()
            .address
            .to_string()
            .starts_with("bcrt1q")
    );

    assert_eq!(psbt.xpub.len(), 1);
    let xpub = Xpub::from_priv(&Secp256k1::new(), &account_xpriv(0, WPKH_ACCOUNT));
    assert_eq!(psbt.xpub.get(&xpub).unwrap().0, fingerprint(0));
    for (index, input) in psbt.inputs.iter().enumerate() {
        let outpoint = psbt.unsigned_tx.input[index].previous_output;
        let witness_utxo = input.witness_utxo.as_ref().expect("witness_utxo");
        let previous = input.non_witness_utxo.as_ref().expect("non_witness_utxo");
        assert_eq!(&previous.output[outpoint.vout as usize], witness_utxo);
        assert!(witness_utxo.script_pubkey.is_p2wpkh());
        assert_eq!(input.bip32_derivation.len(), 1);
        assert!(
            input.witness_script.is_none(),
            "P2WPKH has no witness script"
        );
    }
    let change = change_index(&vault, &psbt);
    let output = &psbt.outputs[change];
    assert_eq!(output.bip32_derivation.len(), 1);
    let (_, (fp, path)) = output.bip32_derivation.iter().next().unwrap();
    assert_eq!(*fp, fingerprint(0));
    let steps: Vec<u32> = path.into_iter().map(|step| u32::from(*step)).collect();
    let (keychain, child) = vault
        .wallet()
        .derivation_of_spk(psbt.unsigned_tx.output[change].script_pubkey.clone())
        .unwrap();
    assert_eq!(keychain, KeychainKind::Internal);
    assert_eq!(&steps[3..], &[1, child]);

    let mut signed = psbt.clone();
    assert_eq!(sign_with_rust_bitcoin(&mut signed, 0), 2);
    finalize_verify_apply(&mut vault, &psbt, &signed, funded);
}

#[test]
fn single_key_taproot() {
    let kind = VaultKind::TrSingle;
    let dir = tempfile::tempdir().unwrap();
    let (mut vault, psbt, funded) = funded_vault_and_payment(kind, &dir);
    for input in &psbt.inputs {
        assert!(input.witness_utxo.as_ref().unwrap().script_pubkey.is_p2tr());
        assert!(input.tap_internal_key.is_some());
        assert!(input.tap_merkle_root.is_none(), "key path only");
        assert_eq!(input.tap_key_origins.len(), 1);
        let (_, (_, (fp, _))) = input.tap_key_origins.iter().next().unwrap();
        assert_eq!(*fp, fingerprint(0));
    }
    let change = change_index(&vault, &psbt);
    assert!(psbt.outputs[change].tap_internal_key.is_some());
    assert_eq!(psbt.outputs[change].tap_key_origins.len(), 1);

    let mut signed = psbt.clone();
    sign_with_bdk(&mut signed, kind, 0);
    assert!(
        signed
            .inputs
            .iter()
            .all(|input| input.tap_key_sig.is_some())
    );
    finalize_verify_apply(&mut vault, &psbt, &signed, funded);
}
