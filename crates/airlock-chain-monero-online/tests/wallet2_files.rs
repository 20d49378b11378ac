//! wallet2's own export files against the real wallet2 (monero-wallet-rpc and monero-wallet-cli
//! on a regtest monerod), both directions:
//!
//! - Airlock's signer serving a wallet2 view-only wallet: wallet2's outputs export read and
//!   decrypted, key images derived and proven offline, written as wallet2's key-images file,
//!   imported by wallet2 (the RPC's JSON and monero-wallet-cli's file import).
//! - Airlock's coordinator with a wallet2 cold wallet: the vault's outputs exported in wallet2's
//!   format and imported by wallet2, wallet2's key images (its file and its RPC) imported back.
//!
//! Altered, truncated and foreign files are refused with the reason named.

mod common;

use airlock_chain_monero::MoneroVault;
use airlock_chain_monero::keys::WalletKeys;
use airlock_chain_monero::wallet::{OfflineWallet, SeedKind};
use airlock_chain_monero::wallet2::files::{
    OutputsLayout, Wallet2KeyImages, Wallet2Outputs, sign_key_images,
};
use airlock_chain_monero_online::online_chain::MoneroOnline;
use common::{Monerod, NET, WalletRpc, wallet_cli};
use serde_json::{Value, json};

fn key_images_json(images: &Wallet2KeyImages) -> Value {
    json!(
        images
            .key_images
            .iter()
            .map(|(image, signature)| json!({
                "key_image": hex::encode(image),
                "signature": hex::encode(signature),
            }))
            .collect::<Vec<_>>()
    )
}

#[test]
fn wallet2_outputs_and_key_image_files_cross_both_ways() {
    let node = Monerod::start();
    let (wallet, phrase) = OfflineWallet::create(
        &mut rand_core::OsRng,
        NET,
        SeedKind::Legacy25,
        0,
        1_763_790_000,
    )
    .unwrap();
    let address = wallet.primary_address().to_string();
    let export = wallet.view_only_export();
    let view = export.view_keys().unwrap();
    let elsewhere = WalletKeys::random(&mut rand_core::OsRng)
        .primary_address(NET)
        .to_string();
    node.mine(&address, 4);
    node.mine(&elsewhere, 20);

    // wallet2: a view-only wallet (the coordinator) and the full wallet (the cold signer).
    let peer = WalletRpc::start(&node);
    peer.call(
        "restore_deterministic_wallet",
        json!({"filename": "cold", "password": "", "seed": phrase.as_str(), "restore_height": 0, "language": "English"}),
    );
    peer.call("close_wallet", json!({}));
    peer.call(
        "generate_from_keys",
        json!({"filename": "view", "password": "", "address": address,
               "viewkey": hex::encode(export.secret_view_key.as_ref()), "restore_height": 0}),
    );
    peer.call("refresh", json!({}));
    let received = peer.call("get_balance", json!({}))["balance"]
        .as_u64()
        .unwrap();
    assert!(received > 0);

    // --- Airlock's signer serves the wallet2 view-only wallet ---
    let outputs_hex = peer.call("export_outputs", json!({"all": true}))["outputs_data_hex"]
        .as_str()
        .unwrap()
        .to_owned();
    let outputs_bytes = hex::decode(&outputs_hex).unwrap();
    let outputs = Wallet2Outputs::read(&outputs_bytes, &view).unwrap();
    assert_eq!(
        outputs.layout,
        OutputsLayout::V0,
        "wallet2 0.18.0 writes layout V0"
    );
    assert_eq!((outputs.offset, outputs.outputs.len()), (0, 4));
    assert_eq!(
        outputs.outputs.iter().map(|o| o.amount).sum::<u64>(),
        received
    );
    let images = sign_key_images(&outputs, wallet.keys(), &mut rand_core::OsRng).unwrap();
    let images_file = images.write(&view, &mut rand_core::OsRng);
    // Our file reads back, and wallet2 accepts the same key images and proofs over its RPC.
    assert_eq!(Wallet2KeyImages::read(&images_file, &view).unwrap(), images);
    let imported = peer.call(
        "import_key_images",
        json!({"signed_key_images": key_images_json(&images), "offset": images.offset}),
    );
    assert_eq!(
        imported["unspent"].as_u64().unwrap(),
        received,
        "{imported}"
    );
    assert_eq!(imported["spent"].as_u64().unwrap(), 0, "{imported}");
    // monero-wallet-cli imports our encrypted file itself.
    peer.call("close_wallet", json!({}));
    let file = peer.wallet_dir().join("airlock.keyimages");
    std::fs::write(&file, &images_file).unwrap();
    let printed = wallet_cli(
        &peer,
        &node,
        "view",
        &["import_key_images", file.to_str().unwrap()],
    );
    assert!(printed.contains("0.000000000000 spent"), "{printed}");

    // Bad input: altered, truncated, another wallet's, the wrong kind of file.
    let mut altered = outputs_bytes.clone();
    let last = altered.len() - 70;
    altered[last] ^= 1;
    let err = Wallet2Outputs::read(&altered, &view)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not authenticate"), "{err}");
    let err = Wallet2Outputs::read(&outputs_bytes[..60], &view)
        .unwrap_err()
        .to_string();
    assert!(err.contains("truncated"), "{err}");
    let stranger = WalletKeys::random(&mut rand_core::OsRng);
    let err = Wallet2Outputs::read(&outputs_bytes, stranger.view_keys())
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not authenticate"), "{err}");
    let err = sign_key_images(&outputs, &stranger, &mut rand_core::OsRng)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not this wallet's"), "{err}");
    let err = Wallet2KeyImages::read(&outputs_bytes, &view)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a wallet2 key-images export"), "{err}");

    // --- Airlock's coordinator with the wallet2 cold wallet ---
    let home = tempfile::tempdir().unwrap();
    let online = MoneroOnline::new(&node.url(), home.path());
    let spec = MoneroVault {
        network: NET,
        primary_address: address.clone(),
        view: view.clone(),
        restore_height: 0,
    };
    online.sync(&spec).unwrap();
    let (count, ours) = online
        .export_wallet2_outputs(&spec, OutputsLayout::V0)
        .unwrap();
    assert_eq!(count, 4);
    // A scan state written before transaction keys were kept cannot be exported: it says so.
    let state_path = online.state_path(&spec);
    let saved = std::fs::read(&state_path).unwrap();
    let mut old: Value = serde_json::from_slice(&saved).unwrap();
    for output in old["outputs"].as_array_mut().unwrap() {
        output.as_object_mut().unwrap().remove("tx_public_key");
    }
    std::fs::write(&state_path, serde_json::to_vec(&old).unwrap()).unwrap();
    let err = online
        .export_wallet2_outputs(&spec, OutputsLayout::V1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sync again to export in wallet2's format"),
        "{err}"
    );
    std::fs::write(&state_path, &saved).unwrap();
    peer.call("open_wallet", json!({"filename": "cold", "password": ""}));
    let imported = peer.call(
        "import_outputs",
        json!({"outputs_data_hex": hex::encode(&ours)}),
    );
    assert_eq!(imported["num_imported"].as_u64().unwrap(), 4, "{imported}");
    // wallet2's key images over its RPC, written as a file, imported by Airlock.
    let exported = peer.call("export_key_images", json!({"all": true}));
    let from_rpc = Wallet2KeyImages::from_rpc_json(&exported.to_string()).unwrap();
    assert_eq!(from_rpc.key_images.len(), 4);
    // The key images wallet2 derived are the ones Airlock's signer derived.
    let mut ours_sorted: Vec<_> = images.key_images.iter().map(|k| k.0).collect();
    let mut theirs_sorted: Vec<_> = from_rpc.key_images.iter().map(|k| k.0).collect();
    ours_sorted.sort();
    theirs_sorted.sort();
    assert_eq!(ours_sorted, theirs_sorted);

    // monero-wallet-cli writes its own encrypted key-images file; Airlock imports it.
    peer.call("close_wallet", json!({}));
    let theirs = peer.wallet_dir().join("wallet2.keyimages");
    wallet_cli(
        &peer,
        &node,
        "cold",
        &["export_key_images", "all", theirs.to_str().unwrap()],
    );
    let theirs_bytes = std::fs::read(&theirs).unwrap();
    let read = Wallet2KeyImages::read(&theirs_bytes, &view).unwrap();
    // The same key images as its RPC listed (the proofs are randomized per export).
    assert_eq!(read.offset, 0);
    let images_of = |set: &Wallet2KeyImages| set.key_images.iter().map(|k| k.0).collect::<Vec<_>>();
    assert_eq!(images_of(&read), images_of(&from_rpc));
    // A file answering other outputs (shifted by one) is refused and changes nothing.
    let shifted = Wallet2KeyImages {
        offset: 0,
        key_images: read.key_images[1..].to_vec(),
    };
    let err = online
        .import_wallet2_key_images(&spec, &shifted.write(&view, &mut rand_core::OsRng))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not prove output 1"), "{err}");
    assert_eq!(
        online
            .load_state(&spec)
            .unwrap()
            .unwrap()
            .balance()
            .unverified,
        received
    );
    // The RPC's JSON answer, with one key image altered: refused, nothing imported.
    let mut altered = exported.clone();
    let first = altered["signed_key_images"][0]["key_image"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = format!(
        "{}{}",
        if first.starts_with('0') { "1" } else { "0" },
        &first[1..]
    );
    altered["signed_key_images"][0]["key_image"] = json!(flipped);
    let err = online
        .import_wallet2_key_images(&spec, altered.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not prove output 1"), "{err}");
    let err = online
        .import_wallet2_key_images(&spec, b"{\"signed_key_images\": [{\"key_image\": \"zz\"}]}")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not monero-wallet-rpc's export_key_images answer"),
        "{err}"
    );
    let (learned, state) = online
        .import_wallet2_key_images(&spec, &theirs_bytes)
        .unwrap();
    assert_eq!(learned, 4);
    assert_eq!(state.balance().unverified, 0);
    assert_eq!(state.balance().total, received);
}
