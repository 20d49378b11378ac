//! End to end against a real regtest monerod, with monero-wallet-rpc as the independent peer:
//! offline wallet → view-only export → scan → outputs / key-image sync (imported into the peer
//! too) → unsigned 2-destination transaction → offline review and signing through ChainReview →
//! broadcast → confirmation → rescan (payments seen, change back, key images spent) → the peer
//! reports the same balance and sees the transaction; a replayed transaction is rejected.

mod common;

use airlock_chain_monero::Monero;
use airlock_chain_monero::keyimages::{KeyImagesFile, OutputsFile, sign_key_images};
use airlock_chain_monero::keys::WalletKeys;
use airlock_chain_monero::review::{review_unsigned, verify_signed};
use airlock_chain_monero::wallet::{OfflineWallet, SeedKind, ViewOnlyExport};
use airlock_chain_monero_online::online_chain::spendable_outputs;
use airlock_chain_monero_online::scan::{ScanKeys, ViewScanner};
use airlock_chain_monero_online::tx::MoneroNode;
use airlock_core::chain::{ChainReview, check_against_intent};
use common::{Monerod, NET, WalletRpc, proposal, vault_for, xmr};
use serde_json::json;

#[test]
fn cold_signing_round_trip_against_monerod_and_wallet_rpc() {
    let node_proc = Monerod::start();
    let node = MoneroNode::connect(&node_proc.url()).unwrap();

    // Offline: a new wallet; the online side gets only the view-only JSON.
    let (wallet, phrase) = OfflineWallet::create(
        &mut rand_core::OsRng,
        NET,
        SeedKind::Legacy25,
        0,
        1_763_790_000,
    )
    .unwrap();
    let address = wallet.primary_address().to_string();
    let json = wallet.view_only_export().to_feather_json("cold");
    let export = ViewOnlyExport::from_feather_json(&json, NET).unwrap();
    let view = export.view_keys().unwrap();

    // The peer restores the same 25 words to the same address (seed compatibility with wallet2).
    let peer = WalletRpc::start(&node_proc);
    let restored = peer.call(
        "restore_deterministic_wallet",
        json!({"filename": "spend", "password": "", "seed": phrase.as_str(), "restore_height": 0, "language": "English"}),
    );
    assert_eq!(
        restored["address"], address,
        "wallet2 derives another address from our seed"
    );
    peer.call("close_wallet", json!({}));

    // Mine: 8 coinbase outputs to the wallet, then 300 blocks elsewhere (decoys, unlock).
    let elsewhere = WalletKeys::random(&mut rand_core::OsRng)
        .primary_address(NET)
        .to_string();
    node_proc.mine(&address, 8);
    node_proc.mine(&elsewhere, 300);

    // Online: scan.
    let mut state = common::scan_wallet(&node_proc.url(), &view, NET, export.restore_height);
    assert_eq!(
        state.outputs().len(),
        8,
        "one coinbase output per mined block"
    );
    assert!(state.outputs().iter().all(|o| o.coinbase));
    let received: u64 = state.outputs().iter().map(|o| o.amount).sum();
    assert_eq!(
        state.balance().unverified,
        received,
        "no key image known yet"
    );

    // The independent view-only wallet (address + view key) sees the same.
    peer.call(
        "generate_from_keys",
        json!({"filename": "view", "password": "", "address": address,
               "viewkey": hex::encode(export.secret_view_key.as_ref()), "restore_height": 0}),
    );
    peer.call("refresh", json!({}));
    let balance = peer.call("get_balance", json!({}));
    assert_eq!(balance["balance"].as_u64().unwrap(), received);

    // Sync across the gap: outputs out, key images back (also imported into the peer).
    let outputs_bytes = state.outputs_file(NET, false).to_bytes();
    let offline_outputs = OutputsFile::from_bytes(&outputs_bytes).unwrap();
    let signed_images =
        sign_key_images(&offline_outputs, NET, wallet.keys(), &mut rand_core::OsRng).unwrap();
    let images_bytes = signed_images.to_bytes();
    let images = KeyImagesFile::from_bytes(&images_bytes)
        .unwrap()
        .verify(NET, &address, &offline_outputs)
        .unwrap();
    assert_eq!(images.len(), 8);
    let spent_before = node
        .key_images_spent(&images.values().copied().collect::<Vec<_>>())
        .unwrap();
    assert!(spent_before.iter().all(|s| !s));
    assert_eq!(state.import_key_images_by_output_key(&images).unwrap(), 8);
    assert_eq!(state.balance().unverified, 0);
    let candidates = spendable_outputs(&state);
    assert_eq!(candidates.len(), 8, "all unlocked after 300 blocks");
    let peer_import = peer.call(
        "import_key_images",
        json!({"signed_key_images": signed_images.key_images.iter().map(|k| json!({
            "key_image": hex::encode(k.key_image),
            "signature": hex::encode(k.proof),
        })).collect::<Vec<_>>()}),
    );
    assert_eq!(
        peer_import["unspent"].as_u64().unwrap(),
        received,
        "{peer_import}"
    );

    // Online: build the unsigned 2-destination transaction.
    let alice = WalletKeys::random(&mut rand_core::OsRng);
    let bob = WalletKeys::random(&mut rand_core::OsRng);
    let alice_address = alice.primary_address(NET).to_string();
    let bob_address = bob.address(NET, 0, 1).to_string();
    let (pay_alice, pay_bob) = (1_500_000_000_000u64, 2_250_000_000_000u64);
    let destinations = vec![
        (alice_address.clone(), pay_alice),
        (bob_address.clone(), pay_bob),
    ];
    let unsigned = node
        .build_unsigned(NET, &view, &candidates, &destinations)
        .unwrap();

    // Offline: review and sign through ChainReview.
    let intent = vec![xmr(&alice_address, pay_alice), xmr(&bob_address, pay_bob)];
    let prop = proposal(intent, unsigned.payload.clone(), unsigned.spends.clone());
    let vault = vault_for(&address);
    let signer = Monero::for_signer(NET, wallet.keys());
    let description = signer.describe(&vault, &prop).unwrap();
    check_against_intent(&prop.intent, &description).unwrap();
    assert_eq!(description.fee, Some(u128::from(unsigned.fee)));
    assert_eq!(description.change.len(), 1);
    assert_eq!(description.change[0].destination, address);
    let input_total: u64 = review_unsigned(&unsigned.payload, NET, &view, None)
        .unwrap()
        .input_total;
    assert_eq!(
        description.change[0].amount,
        u128::from(input_total - pay_alice - pay_bob - unsigned.fee)
    );
    let mut spends = description.spends.clone();
    spends.sort();
    let mut stated = unsigned.spends.clone();
    stated.sort();
    assert_eq!(spends, stated, "key images re-derived by the signer");
    let signed = signer.sign(&vault, &prop, &wallet.chain_secret()).unwrap();

    // The coordinator checks the material is the proposal's transaction before broadcasting;
    // the signed transaction of another proposal is refused.
    let checked = verify_signed(&unsigned.payload, &signed).unwrap();
    let mut checked_images = checked.key_images.clone();
    checked_images.sort();
    assert_eq!(checked_images, stated);
    let other = node
        .build_unsigned(
            NET,
            &view,
            &candidates,
            &[(alice_address.clone(), pay_alice)],
        )
        .unwrap();
    let err = verify_signed(&other.payload, &signed)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not the proposal's transaction") || err.contains("does not spend input"),
        "{err}"
    );

    // Online: broadcast. Signing the same proposal again gives another transaction spending the
    // same key images: monerod refuses it (conflict with its pool).
    let txid = node.broadcast(&checked.bytes).unwrap();
    assert_eq!(txid, checked.txid);
    let resigned = signer.sign(&vault, &prop, &wallet.chain_secret()).unwrap();
    assert_ne!(resigned, signed, "CLSAG signing is randomised");
    let resigned = verify_signed(&unsigned.payload, &resigned).unwrap().bytes;
    let err = node.broadcast(&resigned).unwrap_err().to_string();
    assert!(
        err.contains("monerod rejected") && err.contains("double spend"),
        "{err}"
    );

    // Confirm, rescan.
    node_proc.mine(&elsewhere, 1);
    let alice_seen = common::scan_wallet(&node_proc.url(), alice.view_keys(), NET, 300);
    assert_eq!(
        alice_seen
            .outputs()
            .iter()
            .map(|o| o.amount)
            .collect::<Vec<_>>(),
        vec![pay_alice]
    );
    assert_eq!(hex::encode(alice_seen.outputs()[0].tx_hash), txid);
    // The vault's next sync scans only the new block: it sees the change (key image unknown)
    // and the spends of its inputs, by key image, in the broadcast transaction.
    let keys = ScanKeys::from_view_keys(&view, NET).unwrap();
    let mut scanner = ViewScanner::new(keys, state.lookahead());
    let before = state.scanned_height();
    common::sync_wallet(&node_proc.url(), &mut scanner, &mut state);
    assert_eq!(state.scanned_height(), before + 1);
    let after = state.outputs().to_vec();
    assert_eq!(after.len(), 9, "the change output came back");
    let change = after
        .iter()
        .find(|o| hex::encode(o.tx_hash) == txid)
        .expect("change output in the broadcast transaction");
    assert_eq!(u128::from(change.amount), description.change[0].amount);
    // The signer proved the change's key image with the signed transaction: verified against
    // the wallet and the transaction's outputs, it is imported once the scan finds the change.
    assert!(change.needs_key_image());
    let tx_outputs = OutputsFile {
        network: NET,
        primary_address: address.clone(),
        outputs: vec![airlock_chain_monero::keyimages::ExportedOutput {
            output_key: change.output_key,
            key_offset: [0; 32],
            amount: 0,
        }],
    };
    let change_images = checked
        .change_key_images
        .as_ref()
        .expect("the signer proves the change's key image")
        .verify(NET, &address, &tx_outputs)
        .unwrap();
    assert_eq!(state.add_key_images_ahead(&change_images).unwrap(), 1);
    let change = state
        .outputs()
        .iter()
        .find(|o| hex::encode(o.tx_hash) == txid)
        .unwrap();
    assert!(!change.needs_key_image());
    assert!(
        !node.key_images_spent(&[change.key_image.unwrap()]).unwrap()[0],
        "the change's key image is real and unspent"
    );
    let mut spent_inputs: Vec<String> = after
        .iter()
        .filter(|o| {
            o.spent
                .as_ref()
                .is_some_and(|s| hex::encode(s.tx_hash) == txid)
        })
        .map(|o| hex::encode(o.key_image.unwrap()))
        .collect();
    let mut expected_spent = unsigned.spends.clone();
    expected_spent.sort();
    spent_inputs.sort();
    assert_eq!(spent_inputs, expected_spent);
    let spent_keys: Vec<[u8; 32]> = unsigned
        .spends
        .iter()
        .map(|h| hex::decode(h).unwrap().try_into().unwrap())
        .collect();
    assert!(
        node.key_images_spent(&spent_keys)
            .unwrap()
            .iter()
            .all(|s| *s)
    );

    // Airlock's balance: unspent outputs, all with known key images.
    let airlock_balance = state.balance();
    assert_eq!(
        airlock_balance.total,
        received - pay_alice - pay_bob - unsigned.fee
    );
    assert_eq!(airlock_balance.unverified, 0);
    let airlock_balance = airlock_balance.total;

    // The peer (view-only with imported key images) agrees and sees the transaction.
    peer.call("refresh", json!({}));
    let balance = peer.call("get_balance", json!({}));
    assert_eq!(
        balance["balance"].as_u64().unwrap(),
        airlock_balance,
        "{balance}"
    );
    let seen = peer.call("get_transfer_by_txid", json!({"txid": txid}));
    assert_eq!(seen["transfer"]["txid"], txid, "{seen}");

    // Replaying the mined transaction is refused with a clear error.
    let err = node.broadcast(&checked.bytes).unwrap_err().to_string();
    assert!(
        err.contains("double spend") && err.contains("already spent in the chain"),
        "{err}"
    );
}
