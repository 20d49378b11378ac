//! A FROST taproot vault on chain terms (issue 15): a 2-of-3 group made by dealerless key
//! generation gives a key-only taproot output `tr(GROUP)`; a BDK watch-only wallet of that
//! descriptor sees the vault's coins and builds the spend; every threshold pair of members signs
//! each input's BIP-341 key-path sighash in one crossing; the transaction passes Bitcoin Core's
//! script interpreter (libbitcoinconsensus, taproot checked with all spent outputs), each
//! signature passes libsecp256k1 and an independent BIP-340 implementation (embit's pure Python),
//! and the wallet recognises the spend. A signature for another input's sighash is refused by
//! the interpreter.
//!
//! A FROST vault with fresh addresses: the group xpub's descriptor `tr([FP]XPUB/<0;1>/*)` is an
//! ordinary single-key taproot vault to Airlock's descriptor checks and to BDK; coins at several
//! receive and change indexes are spent together, each input signed with the key share derived
//! along the path the wallet wrote in the PSBT.

mod wallet_support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use airlock_custody::Passphrase;
use airlock_frost::Roster;
use airlock_frost::nonces::NonceStore;
use airlock_frost::testkit::{hand_over_commitments, inputs_for, sign_all, two_rounds};
use bdk_wallet::bitcoin::hashes::Hash;
use bdk_wallet::bitcoin::key::TapTweak;
use bdk_wallet::bitcoin::secp256k1::{Message, Secp256k1, XOnlyPublicKey, schnorr};
use bdk_wallet::bitcoin::sighash::{Prevouts, SighashCache};
use bdk_wallet::bitcoin::{Address, Amount, FeeRate, Network, OutPoint, TapSighashType, taproot};
use bdk_wallet::{KeychainKind, SignOptions, Wallet};
use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use wallet_support::*;

/// A 2-of-3 group (alice, bob, carol) made by key generation: identity keys from `seed`.
fn two_of_three(
    label: &str,
    seed: u8,
) -> (Vec<SigningKey>, Roster, Vec<airlock_frost::dkg::KeyShare>) {
    let keys: Vec<SigningKey> = (0..3u8)
        .map(|i| SigningKey::from_bytes(&[i + seed; 32]))
        .collect();
    let roster = Roster::new(
        label,
        2,
        ["alice", "bob", "carol"]
            .iter()
            .zip(&keys)
            .map(|(n, k)| (n.to_string(), k.verifying_key()))
            .collect(),
    )
    .unwrap();
    let shares = two_rounds(&roster, &keys, None, &mut OsRng).unwrap();
    (keys, roster, shares)
}

/// A BDK watch-only wallet (regtest) of a `/<0;1>/*` descriptor: receive and change branches.
fn wallet_of(descriptor: &str) -> Wallet {
    Wallet::create(
        descriptor.replace("<0;1>", "0"),
        descriptor.replace("<0;1>", "1"),
    )
    .network(Network::Regtest)
    .create_wallet_no_persist()
    .unwrap()
}

fn embit_verifies(items: &[(String, [u8; 32], [u8; 64])]) -> Option<Vec<bool>> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/peers/bitcoin/schnorr_verify.py");
    let child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            if std::env::var_os("AIRLOCK_REQUIRE_PEERS").is_some() {
                panic!("python3: {e}");
            }
            return None;
        }
    };
    let mut input = String::new();
    for (key, msg, sig) in items {
        input.push_str(&format!(
            "{{\"key\":\"{key}\",\"msg\":\"{}\",\"sig\":\"{}\"}}\n",
            hex::encode(msg),
            hex::encode(sig)
        ));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).to_string();
        if std::env::var_os("AIRLOCK_REQUIRE_PEERS").is_some() || !why.contains("No module") {
            panic!("schnorr_verify.py failed: {why}");
        }
        eprintln!("SKIPPED the embit check: {why}");
        return None;
    }
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l == "ok")
            .collect(),
    )
}

#[test]
fn a_frost_taproot_vault_spends_by_key_path_with_every_threshold_pair() {
    let (keys, _, shares) = two_of_three("frost vault key generation", 50);
    let group = shares[0].group_key_hex().unwrap();
    let secp = Secp256k1::new();
    let internal = XOnlyPublicKey::from_slice(&hex::decode(&group).unwrap()).unwrap();
    let expected = Address::p2tr(&secp, internal, None, Network::Regtest);

    let mut wallet = Wallet::create_single(format!("tr({group})"))
        .network(Network::Regtest)
        .create_wallet_no_persist()
        .unwrap();
    let address = wallet.reveal_next_address(KeychainKind::External).address;
    assert_eq!(
        address, expected,
        "BDK and rust-bitcoin agree on the vault address"
    );
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<NonceStore> = (1..=3)
        .map(|i| NonceStore::new(&dir.path().join(format!("m{i}"))))
        .collect();
    let pass = Passphrase::new("frost taproot test".into()).unwrap();
    let commitments =
        hand_over_commitments(&shares, &keys, &stores, &[1, 2, 3], 6, &pass, &mut OsRng).unwrap();

    for (round, pair) in [[1u16, 2], [1, 3], [2, 3]].iter().enumerate() {
        let funding = funding_transaction(
            &format!("frost funding {round}"),
            &[
                (address.script_pubkey(), 60_000),
                (address.script_pubkey(), 40_000),
            ],
        );
        wallet.apply_unconfirmed_txs([(funding.clone(), 1_700_000_000 + round as u64)]);
        let before = wallet.balance().total();
        let to = foreign_taproot_address(&format!("payee {round}"));
        let mut builder = wallet.build_tx();
        let txid = funding.compute_txid();
        builder
            .add_utxos(&[OutPoint::new(txid, 0), OutPoint::new(txid, 1)])
            .unwrap()
            .manually_selected_only()
            .add_recipient(to.script_pubkey(), Amount::from_sat(75_000))
            .fee_rate(FeeRate::from_sat_per_vb(2).unwrap());
        let mut psbt = builder.finish().unwrap();
        let spent = spent_outputs(&psbt);
        assert_eq!(spent.len(), 2, "both vault coins are spent");
        let mut cache = SighashCache::new(&psbt.unsigned_tx);
        let sighashes: Vec<[u8; 32]> = (0..spent.len())
            .map(|i| {
                cache
                    .taproot_key_spend_signature_hash(
                        i,
                        &Prevouts::All(&spent),
                        TapSighashType::Default,
                    )
                    .unwrap()
                    .to_byte_array()
            })
            .collect();
        let chosen = commitments
            .iter()
            .filter(|(m, _)| pair.contains(m))
            .map(|(m, c)| (*m, c.clone()))
            .collect();
        // Round r spends each signer's commitments 2r and 2r+1 (one per input).
        let inputs = inputs_for(&sighashes, &chosen, 2 * round);
        let signatures = sign_all(&shares, &keys, &stores, &inputs, None, &pass).unwrap();

        // libsecp256k1 and embit's pure-Python BIP-340 accept each for the output key.
        let (output, _) = internal.tap_tweak(&secp, None);
        let output = output.to_x_only_public_key();
        for (msg, sig) in sighashes.iter().zip(&signatures) {
            secp.verify_schnorr(
                &schnorr::Signature::from_slice(sig).unwrap(),
                &Message::from_digest(*msg),
                &output,
            )
            .unwrap();
        }
        let items: Vec<_> = sighashes
            .iter()
            .zip(&signatures)
            .map(|(m, s)| (hex::encode(output.serialize()), *m, *s))
            .collect();
        if let Some(verdicts) = embit_verifies(&items) {
            assert_eq!(
                verdicts,
                vec![true; items.len()],
                "embit's pure-Python BIP-340"
            );
        }

        // Swapped signatures: Bitcoin Core's interpreter refuses.
        let mut swapped = psbt.clone();
        for (i, input) in swapped.inputs.iter_mut().enumerate() {
            input.tap_key_sig = Some(taproot::Signature {
                signature: schnorr::Signature::from_slice(&signatures[1 - i]).unwrap(),
                sighash_type: TapSighashType::Default,
            });
        }
        wallet
            .finalize_psbt(&mut swapped, SignOptions::default())
            .unwrap();
        let bad = swapped.extract_tx().unwrap();
        assert!(verify_with_bitcoin_core(&bad, &spent).is_err());

        for (input, sig) in psbt.inputs.iter_mut().zip(&signatures) {
            input.tap_key_sig = Some(taproot::Signature {
                signature: schnorr::Signature::from_slice(sig).unwrap(),
                sighash_type: TapSighashType::Default,
            });
        }
        assert!(
            wallet
                .finalize_psbt(&mut psbt, SignOptions::default())
                .unwrap()
        );
        let tx = psbt.extract_tx().unwrap();
        for input in &tx.input {
            assert_eq!(input.witness.len(), 1, "a key-path spend: one signature");
            assert_eq!(input.witness.to_vec()[0].len(), 64);
        }
        verify_with_bitcoin_core(&tx, &spent).unwrap();
        let (sent, received) = wallet.sent_and_received(&tx);
        assert_eq!(sent, Amount::from_sat(100_000));
        wallet.apply_unconfirmed_txs([(tx.clone(), 1_800_000_000 + round as u64)]);
        assert_eq!(
            wallet.balance().total(),
            before - Amount::from_sat(100_000) + received
        );
    }
}

/// The PSBT input's path from the group xpub (its `tap_key_origins` entry for the internal key,
/// under the group's fingerprint).
fn group_path(
    input: &bdk_wallet::bitcoin::psbt::Input,
    fingerprint: bdk_wallet::bitcoin::bip32::Fingerprint,
) -> Vec<u32> {
    let internal = input.tap_internal_key.expect("an internal key");
    let (leaves, (fp, path)) = &input.tap_key_origins[&internal];
    assert!(leaves.is_empty(), "the group key is the internal key");
    assert_eq!(*fp, fingerprint);
    path.into_iter().map(|c| u32::from(*c)).collect()
}

#[test]
fn a_frost_group_xpub_gives_fresh_addresses_and_each_derived_key_signs() {
    use airlock_chain_bitcoin::vault::{BtcVault, CHANGE, RECEIVE, VaultKind};
    use airlock_frost::derive;
    use bdk_wallet::bitcoin::NetworkKind;

    let (keys, _, shares) = two_of_three("frost vault with fresh addresses", 90);
    let group = *shares[0].public.verifying_key();
    let descriptor = derive::descriptor(&group, NetworkKind::Test).unwrap();
    let xpub = derive::group_xpub(&group, NetworkKind::Test).unwrap();
    assert!(descriptor.starts_with(&format!("tr([{}]tpub", xpub.fingerprint())));
    // Every member computes the same descriptor from its own share.
    for share in &shares[1..] {
        assert_eq!(
            derive::descriptor(share.public.verifying_key(), NetworkKind::Test).unwrap(),
            descriptor
        );
    }

    // Airlock's descriptor checks take it as a single-key taproot vault.
    let vault = BtcVault::parse(&descriptor, "regtest").unwrap();
    assert_eq!(vault.kind(), VaultKind::SingleKeyTaproot);

    let mut wallet = wallet_of(&descriptor);
    let receive: Vec<Address> = (0..5)
        .map(|_| wallet.reveal_next_address(KeychainKind::External).address)
        .collect();
    let change: Vec<Address> = (0..3)
        .map(|_| wallet.reveal_next_address(KeychainKind::Internal).address)
        .collect();
    assert_ne!(receive[0], receive[1], "fresh addresses");
    for (i, a) in receive.iter().enumerate() {
        assert_eq!(*a, vault.address(RECEIVE, i as u32).unwrap(), "receive {i}");
        let internal = derive::internal_key(&group, &[0, i as u32]).unwrap();
        let internal = XOnlyPublicKey::from_slice(&internal).unwrap();
        assert_eq!(
            *a,
            Address::p2tr(&Secp256k1::new(), internal, None, Network::Regtest)
        );
    }
    assert_eq!(change[2], vault.address(CHANGE, 2).unwrap());

    let funding = funding_transaction(
        "frost fresh addresses",
        &[
            (receive[1].script_pubkey(), 60_000),
            (receive[4].script_pubkey(), 30_000),
            (change[2].script_pubkey(), 20_000),
        ],
    );
    wallet.apply_unconfirmed_txs([(funding.clone(), 1_700_000_000)]);
    assert_eq!(wallet.balance().total(), Amount::from_sat(110_000));
    let txid = funding.compute_txid();
    let mut builder = wallet.build_tx();
    builder
        .add_utxos(&[
            OutPoint::new(txid, 0),
            OutPoint::new(txid, 1),
            OutPoint::new(txid, 2),
        ])
        .unwrap()
        .manually_selected_only()
        .add_recipient(
            foreign_taproot_address("fresh payee").script_pubkey(),
            Amount::from_sat(95_000),
        )
        .fee_rate(FeeRate::from_sat_per_vb(2).unwrap());
    let psbt = builder.finish().unwrap();
    let spent = spent_outputs(&psbt);
    let paths: Vec<Vec<u32>> = psbt
        .inputs
        .iter()
        .map(|input| group_path(input, xpub.fingerprint()))
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(sorted, vec![vec![0, 1], vec![0, 4], vec![1, 2]]);
    for (input, path) in psbt.inputs.iter().zip(&paths) {
        assert_eq!(
            input.tap_internal_key.unwrap().serialize(),
            derive::internal_key(&group, path).unwrap(),
            "the path gives the input's internal key"
        );
    }
    let mut cache = SighashCache::new(&psbt.unsigned_tx);
    let sighashes: Vec<[u8; 32]> = (0..spent.len())
        .map(|i| {
            cache
                .taproot_key_spend_signature_hash(
                    i,
                    &Prevouts::All(&spent),
                    TapSighashType::Default,
                )
                .unwrap()
                .to_byte_array()
        })
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<NonceStore> = (1..=3)
        .map(|i| NonceStore::new(&dir.path().join(format!("m{i}"))))
        .collect();
    let pass = Passphrase::new("frost fresh addresses".into()).unwrap();
    let commitments =
        hand_over_commitments(&shares, &keys, &stores, &[1, 2, 3], 12, &pass, &mut OsRng).unwrap();
    let with_paths = |offset: usize, members: &[u16], paths: &[Vec<u32>]| {
        let chosen = commitments
            .iter()
            .filter(|(m, _)| members.contains(m))
            .map(|(m, c)| (*m, c.clone()))
            .collect();
        let mut inputs = inputs_for(&sighashes, &chosen, offset);
        for (input, path) in inputs.iter_mut().zip(paths) {
            input.path = path.clone();
        }
        inputs
    };

    // A hardened step is refused before any nonce is spent.
    let mut hardened = paths.clone();
    hardened[0] = vec![0x8000_0000, 1];
    let before = stores[0].remaining(&pass).unwrap();
    let err = sign_all(
        &shares,
        &keys,
        &stores,
        &with_paths(0, &[1, 2], &hardened),
        None,
        &pass,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("hardened"), "{err}");
    assert_eq!(
        stores[0].remaining(&pass).unwrap(),
        before,
        "no nonce spent"
    );

    // Signed along the wrong paths (the first two swapped): the signatures are for other keys
    // and Bitcoin Core's interpreter refuses the transaction.
    let mut swapped = paths.clone();
    swapped.swap(0, 1);
    let wrong = sign_all(
        &shares,
        &keys,
        &stores,
        &with_paths(0, &[1, 2], &swapped),
        None,
        &pass,
    )
    .unwrap();
    let mut bad = psbt.clone();
    for (input, sig) in bad.inputs.iter_mut().zip(&wrong) {
        input.tap_key_sig = Some(taproot::Signature {
            signature: schnorr::Signature::from_slice(sig).unwrap(),
            sighash_type: TapSighashType::Default,
        });
    }
    wallet
        .finalize_psbt(&mut bad, SignOptions::default())
        .unwrap();
    assert!(verify_with_bitcoin_core(&bad.extract_tx().unwrap(), &spent).is_err());

    // Each threshold pair signs along the right paths; every signature verifies for its own
    // input's output key (libsecp256k1, embit) and the spend passes the interpreter.
    let secp = Secp256k1::new();
    let mut last = None;
    for (round, pair) in [[1u16, 2], [1, 3], [2, 3]].iter().enumerate() {
        let signatures = sign_all(
            &shares,
            &keys,
            &stores,
            &with_paths(3 * (round + 1), pair, &paths),
            None,
            &pass,
        )
        .unwrap();
        let mut items = Vec::new();
        for ((input, msg), sig) in psbt.inputs.iter().zip(&sighashes).zip(&signatures) {
            let (output, _) = input.tap_internal_key.unwrap().tap_tweak(&secp, None);
            let output = output.to_x_only_public_key();
            secp.verify_schnorr(
                &schnorr::Signature::from_slice(sig).unwrap(),
                &Message::from_digest(*msg),
                &output,
            )
            .unwrap();
            items.push((hex::encode(output.serialize()), *msg, *sig));
        }
        if let Some(verdicts) = embit_verifies(&items) {
            assert_eq!(verdicts, vec![true; 3], "embit's pure-Python BIP-340");
        }
        let mut signed = psbt.clone();
        for (input, sig) in signed.inputs.iter_mut().zip(&signatures) {
            input.tap_key_sig = Some(taproot::Signature {
                signature: schnorr::Signature::from_slice(sig).unwrap(),
                sighash_type: TapSighashType::Default,
            });
        }
        assert!(
            wallet
                .finalize_psbt(&mut signed, SignOptions::default())
                .unwrap()
        );
        let tx = signed.extract_tx().unwrap();
        verify_with_bitcoin_core(&tx, &spent).unwrap();
        last = Some(tx);
    }
    let tx = last.unwrap();
    let (sent, _) = wallet.sent_and_received(&tx);
    assert_eq!(
        sent,
        Amount::from_sat(110_000),
        "the wallet sees its three coins spent"
    );
}

/// The spend crosses as a PSBT: the coordinator names each input's commitments in proprietary
/// fields; each signer computes every input's sighash and key path from the PSBT itself
/// (`frost_psbt::inputs_to_sign`); the aggregated signatures finalize the PSBT and Bitcoin
/// Core's interpreter accepts the transaction. A PSBT that misstates a spent output's script, an
/// input's origin or a commitment is refused before any nonce is spent; one that misstates an
/// amount gets signatures the interpreter refuses; commitments named again in another PSBT are
/// refused by the signer.
#[test]
fn a_frost_spend_crosses_as_a_psbt_with_commitments_in_proprietary_fields() {
    use airlock_chain_bitcoin::frost_psbt;
    use airlock_frost::derive;
    use airlock_frost::sign;
    use bdk_wallet::bitcoin::{NetworkKind, Psbt};
    use std::collections::BTreeMap;

    let (keys, roster, shares) = two_of_three("frost psbt", 120);
    let group = *shares[0].public.verifying_key();
    let descriptor = derive::descriptor(&group, NetworkKind::Test).unwrap();
    let mut wallet = wallet_of(&descriptor);
    let receive: Vec<Address> = (0..4)
        .map(|_| wallet.reveal_next_address(KeychainKind::External).address)
        .collect();
    let change = wallet.reveal_next_address(KeychainKind::Internal).address;
    let funding = funding_transaction(
        "frost psbt funding",
        &[
            (receive[0].script_pubkey(), 50_000),
            (receive[3].script_pubkey(), 30_000),
            (change.script_pubkey(), 20_000),
        ],
    );
    wallet.apply_unconfirmed_txs([(funding.clone(), 1_700_000_000)]);
    let txid = funding.compute_txid();
    let build = |wallet: &mut Wallet, amount: u64| {
        let mut builder = wallet.build_tx();
        builder
            .add_utxos(&[
                OutPoint::new(txid, 0),
                OutPoint::new(txid, 1),
                OutPoint::new(txid, 2),
            ])
            .unwrap()
            .manually_selected_only()
            .add_recipient(
                foreign_taproot_address("psbt payee").script_pubkey(),
                Amount::from_sat(amount),
            )
            .fee_rate(FeeRate::from_sat_per_vb(2).unwrap());
        builder.finish().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<NonceStore> = (1..=3)
        .map(|i| NonceStore::new(&dir.path().join(format!("m{i}"))))
        .collect();
    let pass = Passphrase::new("frost psbt".into()).unwrap();
    let pool =
        hand_over_commitments(&shares, &keys, &stores, &[1, 3], 6, &pass, &mut OsRng).unwrap();
    // The coordinator's choice for a PSBT of n inputs: each signer's commitments from `offset`.
    let chosen = |offset: usize, n: usize| -> Vec<BTreeMap<u16, _>> {
        (0..n)
            .map(|k| pool.iter().map(|(m, c)| (*m, c[offset + k])).collect())
            .collect()
    };
    let mut unsigned = build(&mut wallet, 90_000);
    frost_psbt::attach_commitments(&mut unsigned, &chosen(0, 3)).unwrap();
    let crossed = unsigned.serialize();

    // Misstated PSBTs are refused by the signer before anything is spent.
    let remaining = stores[0].remaining(&pass).unwrap();
    let refuse = |edit: &dyn Fn(&mut Psbt), needle: &str| {
        let mut bad = Psbt::deserialize(&crossed).unwrap();
        edit(&mut bad);
        let e = frost_psbt::inputs_to_sign(&bad, &group)
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    };
    refuse(
        &|p| {
            p.inputs[1].witness_utxo.as_mut().unwrap().script_pubkey =
                foreign_taproot_address("not ours").script_pubkey()
        },
        "input 1: the output it spends is not the key-path taproot output",
    );
    refuse(
        &|p| {
            let internal = p.inputs[0].tap_internal_key.unwrap();
            p.inputs[0].tap_key_origins.get_mut(&internal).unwrap().1.0 =
                bdk_wallet::bitcoin::bip32::Fingerprint::from([1, 2, 3, 4]);
        },
        "input 0: its internal key is not this group's",
    );
    refuse(
        &|p| {
            let internal = p.inputs[2].tap_internal_key.unwrap();
            let origin = p.inputs[2].tap_key_origins.get_mut(&internal).unwrap();
            origin.1.1 = "m/0/2".parse().unwrap();
        },
        "input 2: the group's key at its path is not its internal key",
    );
    refuse(
        &|p| {
            let key = p.inputs[0].proprietary.keys().next().cloned().unwrap();
            p.inputs[0].proprietary.insert(key, vec![1, 2, 3]);
        },
        "FROST commitment does not decode",
    );
    refuse(
        &|p| p.inputs[1].witness_utxo = None,
        "input 1 has no witness_utxo",
    );
    assert_eq!(
        stores[0].remaining(&pass).unwrap(),
        remaining,
        "no nonce spent"
    );

    // Each signer reads the PSBT on its own and signs; the coordinator aggregates.
    let sign_psbt = |bytes: &[u8]| -> Result<Vec<[u8; 64]>, String> {
        let mut by_member = BTreeMap::new();
        for m in [1u16, 3] {
            let i = usize::from(m - 1);
            let psbt = Psbt::deserialize(bytes).unwrap();
            let inputs = frost_psbt::inputs_to_sign(&psbt, &group).map_err(|e| e.to_string())?;
            let message = sign::sign(&shares[i], &keys[i], &stores[i], &inputs, None, &pass)
                .map_err(|e| e.to_string())?;
            let message = airlock_frost::testkit::cross(&[message]).unwrap().remove(0);
            by_member.insert(
                m,
                sign::read_shares(&roster, &message, inputs.len()).unwrap(),
            );
        }
        let psbt = Psbt::deserialize(bytes).unwrap();
        let inputs = frost_psbt::inputs_to_sign(&psbt, &group).unwrap();
        sign::aggregate(&roster, &shares[0].public, &inputs, &by_member, None)
            .map_err(|e| e.to_string())
    };
    let spent = spent_outputs(&unsigned);

    // A PSBT that understates an amount: signed, but for another sighash than the chain's.
    let mut lying = Psbt::deserialize(&crossed).unwrap();
    lying.inputs[2].witness_utxo.as_mut().unwrap().value = Amount::from_sat(19_000);
    frost_psbt::attach_commitments(&mut lying, &chosen(3, 3)).unwrap();
    let lied = lying.serialize();
    let signatures = sign_psbt(&lied).unwrap();
    frost_psbt::finalize_with_signatures(&mut lying, &group, &signatures).unwrap();
    let tx = lying.extract_tx_unchecked_fee_rate();
    assert!(
        verify_with_bitcoin_core(&tx, &spent).is_err(),
        "the real amounts refuse it"
    );

    // The honest PSBT: signed, finalized, accepted.
    let signatures = sign_psbt(&crossed).unwrap();
    let mut signed = Psbt::deserialize(&crossed).unwrap();
    // A wrong signature is not written.
    let mut wrong = signatures.clone();
    wrong.swap(0, 1);
    let e = frost_psbt::finalize_with_signatures(&mut signed.clone(), &group, &wrong)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("input 0: the aggregate signature does not verify"),
        "{e}"
    );
    frost_psbt::finalize_with_signatures(&mut signed, &group, &signatures).unwrap();
    let tx = signed.extract_tx().unwrap();
    for input in &tx.input {
        assert_eq!(input.witness.len(), 1, "a key-path spend: one signature");
    }
    verify_with_bitcoin_core(&tx, &spent).unwrap();
    let (sent, _) = wallet.sent_and_received(&tx);
    assert_eq!(sent, Amount::from_sat(100_000));

    // A coordinator naming the same commitments in another PSBT: the signer refuses.
    let mut again = build(&mut wallet, 80_000);
    frost_psbt::attach_commitments(&mut again, &chosen(0, 3)).unwrap();
    let e = sign_psbt(&again.serialize()).unwrap_err();
    assert!(e.contains("was already used for a signature"), "{e}");
}
