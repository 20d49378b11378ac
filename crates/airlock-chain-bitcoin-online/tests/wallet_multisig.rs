//! Watch-only 2-of-3 `wsh(sortedmulti)` vault on regtest, end to end: addresses checked against an
//! independent miniscript derivation and against Electrum's own PSBT fixture, funding fed by hand,
//! persistence, a payment PSBT with every signer-facing field, two cosigners' signatures (BDK's
//! signer and rust-bitcoin's), miniscript finalization, Bitcoin Core's interpreter on the result,
//! applying it and confirming it; then a key-rotation sweep to a new descriptor.

mod wallet_support;

use std::str::FromStr;

use airlock_chain_bitcoin_online::{
    BlockConfirmation, KeychainKind, OnlineError, TxStatus, WatchOnlyVault, psbt_to_base64,
    psbt_to_binary, write_psbt_file,
};
use bdk_wallet::bitcoin::bip32::{DerivationPath, Xpub};
use bdk_wallet::bitcoin::psbt::Psbt;
use bdk_wallet::bitcoin::{Amount, Network, ScriptBuf};
use bdk_wallet::miniscript::{Descriptor, DescriptorPublicKey};
use wallet_support::*;

const KIND: VaultKind = VaultKind::WshSortedMulti2of3;

fn new_vault(dir: &tempfile::TempDir) -> WatchOnlyVault {
    WatchOnlyVault::create(
        &dir.path().join("vault.sqlite"),
        &vault_descriptor(KIND),
        Network::Regtest,
    )
    .expect("vault created")
}

#[test]
fn cosigner_keys_match_the_benchmark_fixture() {
    for (index, (fixture_fingerprint, fixture_tpub)) in FIXTURE_KEYS.iter().enumerate() {
        assert_eq!(fingerprint(index).to_string(), *fixture_fingerprint);
        let xpub = Xpub::from_priv(
            &bdk_wallet::bitcoin::secp256k1::Secp256k1::new(),
            &account_xpriv(index, MULTISIG_ACCOUNT),
        );
        assert_eq!(xpub.to_string(), *fixture_tpub);
    }
}

#[test]
fn receive_addresses_match_miniscript_and_electrum() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = new_vault(&dir);
    let first = vault.reveal_next_address().unwrap();
    assert_eq!((first.keychain, first.index), (KeychainKind::External, 0));

    // Independent derivation: miniscript straight from the descriptor text.
    let parsed = Descriptor::<DescriptorPublicKey>::from_str(&vault_descriptor(KIND)).unwrap();
    let receive = parsed.into_single_descriptors().unwrap().remove(0);
    let expected = receive
        .at_derivation_index(0)
        .unwrap()
        .address(Network::Regtest)
        .unwrap();
    assert_eq!(first.address, expected);
    assert!(first.address.to_string().starts_with("bcrt1q"));

    // Electrum 4.3.4 made the benchmark PSBT for this very wallet: each input spends one of its
    // receive addresses, with the BIP-32 path .../0/<index>. Ours must be the same scripts.
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/bench/psbt-sign/psbt_100.b64");
    let text = std::fs::read_to_string(&fixture)
        .unwrap_or_else(|error| panic!("reading {}: {error}", fixture.display()));
    let electrum = Psbt::from_str(text.trim()).expect("Electrum's PSBT parses");
    let mut compared = 0;
    for input in &electrum.inputs {
        let (_, (_, path)) = input.bip32_derivation.iter().next().expect("derivation");
        let steps: Vec<u32> = path.into_iter().map(|step| u32::from(*step)).collect();
        let (branch, index) = (steps[steps.len() - 2], steps[steps.len() - 1]);
        assert_eq!(branch, 0, "Electrum's inputs are on the receive chain");
        let ours = vault.peek_address(KeychainKind::External, index).unwrap();
        assert_eq!(
            ours.address.script_pubkey(),
            input.witness_utxo.as_ref().unwrap().script_pubkey,
            "receive address {index}"
        );
        compared += 1;
    }
    assert_eq!(compared, 100);
}

#[test]
fn fund_pay_sign_finalize_verify_apply_confirm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.sqlite");
    let mut vault = new_vault(&dir);
    let address0 = vault.reveal_next_address().unwrap();
    let address1 = vault.reveal_next_address().unwrap();
    assert_eq!(address1.index, 1);

    // Funding: 0.5 BTC confirmed at height 100, 0.25 BTC unconfirmed.
    let funding_confirmed = funding_transaction(
        "fund-1",
        &[
            (address0.address.script_pubkey(), 50_000_000),
            (foreign_address("stranger").script_pubkey(), 1_000_000),
        ],
    );
    let funding_pending =
        funding_transaction("fund-2", &[(address1.address.script_pubkey(), 25_000_000)]);
    let txid_confirmed = vault
        .add_raw_transaction(
            &raw(&funding_confirmed),
            Some(BlockConfirmation::at(100, 1_700_000_000)),
        )
        .unwrap();
    let txid_pending = vault
        .add_raw_transaction(&raw(&funding_pending), None)
        .unwrap();
    assert_eq!(txid_confirmed, funding_confirmed.compute_txid());

    let balance = vault.balance();
    assert_eq!(balance.confirmed, Amount::from_sat(50_000_000));
    assert_eq!(balance.unconfirmed_incoming, Amount::from_sat(25_000_000));
    assert_eq!(balance.unconfirmed_change, Amount::ZERO);
    assert_eq!(balance.total(), Amount::from_sat(75_000_000));
    let utxos = vault.utxos();
    assert_eq!(utxos.len(), 2);
    assert_eq!(utxos[0].value, Amount::from_sat(50_000_000));
    assert_eq!(utxos[0].address, address0.address);
    assert!(matches!(
        utxos[0].status,
        TxStatus::Confirmed { height: 100, .. }
    ));
    assert!(!utxos[1].status.is_confirmed());
    let history = vault.history();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].txid, txid_confirmed);
    assert_eq!(history[0].received, Amount::from_sat(50_000_000));
    assert_eq!(history[1].txid, txid_pending);
    // Next unused receive address is index 2 now that 0 and 1 received coins.
    assert_eq!(vault.next_unused_address().unwrap().index, 2);

    // Persistence: the same state comes back from the file, and the descriptor is checked.
    drop(vault);
    let mut vault = WatchOnlyVault::open_checked(&path, &vault_descriptor(KIND), Network::Regtest)
        .expect("reopened");
    assert_eq!(vault.balance().total(), Amount::from_sat(75_000_000));
    assert_eq!(vault.history().len(), 2);

    // Proposal: two payees, 60,000,000 sat in all, 5 sat/vB. The unconfirmed incoming coin is not
    // spent by default (as Bitcoin Core), so 50,000,000 sat are not enough...
    let payee_a = foreign_address("payee-a");
    let payee_b = foreign_taproot_address("payee-b");
    let payments = [
        (payee_a.to_string(), 40_000_000u64),
        (payee_b.to_string(), 20_000_000),
    ];
    let payments: Vec<(&str, u64)> = payments.iter().map(|(a, s)| (a.as_str(), *s)).collect();
    match vault.build_payment(&payments, 5.0).unwrap_err() {
        OnlineError::InsufficientFunds { available_sat, .. } => {
            assert_eq!(available_sat, 50_000_000)
        }
        other => panic!("unexpected {other:?}"),
    }
    // ...unless allowed; then a block confirms it and it is spendable by default too.
    vault.set_spend_unconfirmed_incoming(true);
    let with_unconfirmed = vault.build_payment(&payments, 5.0).unwrap();
    assert_eq!(with_unconfirmed.unsigned_tx.input.len(), 2);
    vault.set_spend_unconfirmed_incoming(false);
    vault
        .confirm_transaction(txid_pending, BlockConfirmation::at(100, 1_700_000_000))
        .unwrap();
    assert_eq!(vault.balance().confirmed, Amount::from_sat(75_000_000));
    let psbt = vault
        .build_payment(
            &[
                (&payee_a.to_string(), 40_000_000),
                (&payee_b.to_string(), 20_000_000),
            ],
            5.0,
        )
        .expect("payment built");
    assert_psbt_has_signer_fields(&vault, &psbt);

    // Export: base64 and binary agree and round-trip; the .psbt file holds the binary form.
    let base64 = psbt_to_base64(&psbt);
    let binary = psbt_to_binary(&psbt);
    assert_eq!(Psbt::from_str(&base64).unwrap(), psbt);
    assert_eq!(Psbt::deserialize(&binary).unwrap(), psbt);
    let file = dir.path().join("proposal.psbt");
    write_psbt_file(&file, &psbt).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), binary);

    // One signature is not enough to finalize.
    let mut signed = psbt.clone();
    sign_with_bdk(&mut signed, KIND, 0);
    assert!(
        signed
            .inputs
            .iter()
            .all(|input| input.partial_sigs.len() == 1)
    );
    let error = vault.finalize_psbt(&signed).unwrap_err();
    assert!(error.to_string().contains("finalize"), "{error}");

    // Second cosigner signs with rust-bitcoin's own signer.
    assert_eq!(sign_with_rust_bitcoin(&mut signed, 2), signed.inputs.len());
    assert!(
        signed
            .inputs
            .iter()
            .all(|input| input.partial_sigs.len() == 2)
    );
    let final_tx = vault.finalize_psbt(&signed).expect("finalized");
    let spent = spent_outputs(&psbt);
    verify_with_bitcoin_core(&final_tx, &spent).expect("Bitcoin Core accepts every input");

    // The judge is not vacuous: a damaged signature fails.
    let mut damaged = final_tx.clone();
    let mut items: Vec<Vec<u8>> = damaged.input[0]
        .witness
        .iter()
        .map(<[u8]>::to_vec)
        .collect();
    let signature = items
        .iter_mut()
        .find(|item| item.len() > 60 && item.len() < 75)
        .unwrap();
    signature[10] ^= 0x01;
    damaged.input[0].witness = bdk_wallet::bitcoin::Witness::from_slice(&items);
    assert!(verify_with_bitcoin_core(&damaged, &spent).is_err());

    // Fee: at least 5 sat/vB of the real size, and not much more (BDK budgets worst-case witnesses).
    let input_sum: u64 = spent.iter().map(|output| output.value.to_sat()).sum();
    let output_sum: u64 = final_tx
        .output
        .iter()
        .map(|output| output.value.to_sat())
        .sum();
    let fee = input_sum - output_sum;
    let vsize = final_tx.vsize() as u64;
    assert!(
        4 * fee >= 5 * final_tx.weight().to_wu(),
        "fee {fee} for {vsize} vB"
    );
    assert!(fee <= 6 * vsize, "fee {fee} for {vsize} vB");

    // Change goes back to the change chain.
    let change: Vec<_> = final_tx
        .output
        .iter()
        .filter(|output| vault.wallet().is_mine(output.script_pubkey.clone()))
        .collect();
    assert_eq!(change.len(), 1);
    let change_value = change[0].value;
    assert_eq!(
        vault
            .wallet()
            .derivation_of_spk(change[0].script_pubkey.clone())
            .unwrap()
            .0,
        KeychainKind::Internal
    );
    assert_eq!(change_value.to_sat(), input_sum - 60_000_000 - fee);

    // A PSBT is not a final transaction.
    assert!(vault.apply_final_transaction(&psbt.unsigned_tx).is_err());

    // Applied as broadcast: the balance drops by payments plus fee at once.
    let txid = vault.apply_final_transaction(&final_tx).unwrap();
    let balance = vault.balance();
    assert_eq!(balance.total().to_sat(), 75_000_000 - 60_000_000 - fee);
    assert_eq!(balance.unconfirmed_change, change_value);
    let entry = vault
        .history()
        .into_iter()
        .find(|entry| entry.txid == txid)
        .unwrap();
    assert_eq!(entry.sent.to_sat(), input_sum);
    assert_eq!(entry.received, change_value);
    assert_eq!(entry.fee, Some(Amount::from_sat(fee)));
    assert_eq!(entry.net().to_sat(), -(60_000_000 + fee as i64));
    assert!(!entry.status.is_confirmed());

    // A block confirms it.
    vault
        .confirm_transaction(txid, BlockConfirmation::at(101, 1_700_000_600))
        .unwrap();
    let balance = vault.balance();
    assert_eq!(balance.confirmed.to_sat(), 75_000_000 - 60_000_000 - fee);
    assert_eq!(balance.unconfirmed(), Amount::ZERO);
    drop(vault);
    let vault = WatchOnlyVault::open(&path, Network::Regtest).unwrap();
    let entry = vault
        .history()
        .into_iter()
        .find(|entry| entry.txid == txid)
        .unwrap();
    assert!(matches!(
        entry.status,
        TxStatus::Confirmed {
            height: 101,
            time: 1_700_000_600,
            ..
        }
    ));
    assert_eq!(
        vault.balance().confirmed.to_sat(),
        75_000_000 - 60_000_000 - fee
    );
}

/// Every field a signer needs, on every input and on the change output.
fn assert_psbt_has_signer_fields(vault: &WatchOnlyVault, psbt: &Psbt) {
    // PSBT_GLOBAL_XPUB for each of the three cosigners, with its origin.
    assert_eq!(psbt.xpub.len(), 3);
    for (index, (fixture_fingerprint, fixture_tpub)) in FIXTURE_KEYS.iter().enumerate() {
        let xpub = Xpub::from_str(fixture_tpub).unwrap();
        let (origin_fingerprint, origin_path) = psbt.xpub.get(&xpub).expect("global xpub");
        assert_eq!(
            origin_fingerprint.to_string(),
            *fixture_fingerprint,
            "cosigner {index}"
        );
        assert_eq!(
            *origin_path,
            DerivationPath::from_str("m/48h/1h/0h/2h").unwrap()
        );
    }
    assert_eq!(psbt.version, 0);
    for (index, input) in psbt.inputs.iter().enumerate() {
        let outpoint = psbt.unsigned_tx.input[index].previous_output;
        let witness_utxo = input.witness_utxo.as_ref().expect("witness_utxo");
        let previous = input.non_witness_utxo.as_ref().expect("non_witness_utxo");
        assert_eq!(previous.compute_txid(), outpoint.txid);
        assert_eq!(&previous.output[outpoint.vout as usize], witness_utxo);
        let witness_script = input.witness_script.as_ref().expect("witness_script");
        assert_eq!(
            ScriptBuf::new_p2wsh(&witness_script.wscript_hash()),
            witness_utxo.script_pubkey
        );
        assert_eq!(input.bip32_derivation.len(), 3);
        let fingerprints: Vec<String> = input
            .bip32_derivation
            .values()
            .map(|(fp, _)| fp.to_string())
            .collect();
        for (fixture_fingerprint, _) in FIXTURE_KEYS {
            assert!(fingerprints.contains(&fixture_fingerprint.to_string()));
        }
        for (_, path) in input.bip32_derivation.values() {
            assert_eq!(path.len(), 6, "m/48'/1'/0'/2'/branch/index");
        }
        assert!(input.sighash_type.is_none(), "default sighash");
    }
    let mut change_outputs = 0;
    for (index, output) in psbt.outputs.iter().enumerate() {
        let script = &psbt.unsigned_tx.output[index].script_pubkey;
        match vault.wallet().derivation_of_spk(script.clone()) {
            Some((keychain, child)) => {
                change_outputs += 1;
                assert_eq!(keychain, KeychainKind::Internal);
                let witness_script = output
                    .witness_script
                    .as_ref()
                    .expect("change witness_script");
                assert_eq!(
                    &ScriptBuf::new_p2wsh(&witness_script.wscript_hash()),
                    script
                );
                assert_eq!(output.bip32_derivation.len(), 3);
                for (_, path) in output.bip32_derivation.values() {
                    let steps: Vec<u32> = path.into_iter().map(|step| u32::from(*step)).collect();
                    assert_eq!(&steps[4..], &[1, child], "change path .../1/{child}");
                }
            }
            None => {
                assert!(
                    output.bip32_derivation.is_empty(),
                    "payments carry no derivations"
                );
                assert!(output.witness_script.is_none());
            }
        }
    }
    assert_eq!(change_outputs, 1);
}

#[test]
fn key_rotation_sweeps_everything_to_the_new_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = new_vault(&dir);
    let mut expected_total = 0;
    for (label, sats, height) in [
        ("a", 3_000_000u64, 10u32),
        ("b", 7_000_000, 11),
        ("c", 1_500_000, 12),
    ] {
        let address = vault.reveal_next_address().unwrap();
        let funding = funding_transaction(label, &[(address.address.script_pubkey(), sats)]);
        vault
            .add_raw_transaction(
                &raw(&funding),
                Some(BlockConfirmation::at(height, 1_700_000_000)),
            )
            .unwrap();
        expected_total += sats;
    }
    assert_eq!(vault.balance().confirmed.to_sat(), expected_total);

    let (psbt, target) = vault
        .build_sweep_to_descriptor(&rotated_vault_descriptor(), 2.0)
        .expect("sweep built");
    // The destination is the new vault's first receive address, derived independently.
    let new_vault =
        Descriptor::<DescriptorPublicKey>::from_str(&rotated_vault_descriptor()).unwrap();
    let new_receive = new_vault.into_single_descriptors().unwrap().remove(0);
    let new_first = new_receive.at_derivation_index(0).unwrap();
    assert_eq!(target.address, new_first.address(Network::Regtest).unwrap());
    assert_eq!(psbt.unsigned_tx.input.len(), 3, "every coin is swept");
    assert_eq!(psbt.unsigned_tx.output.len(), 1, "no change");
    assert_eq!(
        psbt.unsigned_tx.output[0].script_pubkey,
        target.script_pubkey
    );
    // The new vault's signers can recognise the output: its scripts and derivations are there.
    let output = &psbt.outputs[0];
    assert_eq!(
        output.witness_script.as_ref().unwrap(),
        &new_first.explicit_script().unwrap()
    );
    assert_eq!(output.bip32_derivation.len(), 3);
    for (_, path) in output.bip32_derivation.values() {
        assert_eq!(
            *path,
            DerivationPath::from_str("m/48h/1h/1h/2h/0/0").unwrap()
        );
    }

    let mut signed = psbt.clone();
    sign_with_bdk(&mut signed, KIND, 1);
    sign_with_bdk(&mut signed, KIND, 2);
    let final_tx = vault.finalize_psbt(&signed).unwrap();
    verify_with_bitcoin_core(&final_tx, &spent_outputs(&psbt)).unwrap();
    let fee = expected_total - final_tx.output[0].value.to_sat();
    assert!(4 * fee >= 2 * final_tx.weight().to_wu());

    vault.apply_final_transaction(&final_tx).unwrap();
    assert_eq!(vault.balance().total(), Amount::ZERO);
    assert!(vault.utxos().is_empty());
    // Nothing left to sweep.
    let error = vault
        .build_sweep_to_descriptor(&rotated_vault_descriptor(), 2.0)
        .unwrap_err();
    assert!(error.to_string().contains("no coins"), "{error}");
}
