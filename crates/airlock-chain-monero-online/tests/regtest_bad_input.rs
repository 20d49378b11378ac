//! Bad input against a real regtest chain: unsigned transactions built from real outputs with real
//! decoys, then altered the way a hostile coordinator would. Each must be refused (or shown for
//! what it is) with an error naming the problem; nothing is signed that the person was not shown.

mod common;

use airlock_chain_monero::Monero;
use airlock_chain_monero::keyimages::{KeyImagesFile, OutputsFile, sign_key_images};
use airlock_chain_monero::keys::ViewKeys;
use airlock_chain_monero::keys::WalletKeys;
use airlock_chain_monero::review::{ReviewedChange, review_unsigned, sign_unsigned, verify_signed};
use airlock_chain_monero::wallet::{OfflineWallet, SeedKind};
use airlock_chain_monero_online::scan::{OwnedOutput, ScanState};
use airlock_chain_monero_online::tx::MoneroNode;
use airlock_core::chain::{ChainReview, ChainSecret};
use common::{Monerod, NET, proposal, vault_for, xmr};
use monero_wallet::ViewPair;
use monero_wallet::address::MoneroAddress;
use monero_wallet::ed25519::{Point, Scalar};
use monero_wallet::send::{Change, SignableTransaction};
use zeroize::Zeroizing;

struct Setup {
    node_proc: Monerod,
    node: MoneroNode,
    wallet: OfflineWallet,
    stranger: WalletKeys,
    ours: ScanState,
    theirs: ScanState,
}

fn setup() -> Setup {
    let node_proc = Monerod::start();
    let node = MoneroNode::connect(&node_proc.url()).unwrap();
    let (wallet, _) = OfflineWallet::create(
        &mut rand_core::OsRng,
        NET,
        SeedKind::Polyseed16,
        0,
        1_763_790_000,
    )
    .unwrap();
    let stranger = WalletKeys::random(&mut rand_core::OsRng);
    node_proc.mine(&wallet.primary_address().to_string(), 2);
    node_proc.mine(&stranger.primary_address(NET).to_string(), 500);
    let ours = common::scan_wallet(&node_proc.url(), wallet.keys().view_keys(), NET, 0);
    let theirs = common::scan_wallet(&node_proc.url(), stranger.view_keys(), NET, 0);
    assert_eq!(ours.outputs().len(), 2);
    Setup {
        node_proc,
        node,
        wallet,
        stranger,
        ours,
        theirs,
    }
}

/// An unsigned transaction spending `input` with the given payments and change.
fn assemble(
    s: &Setup,
    view: &ViewKeys,
    input: &OwnedOutput,
    payments: Vec<(MoneroAddress, u64)>,
    change: Change,
) -> Vec<u8> {
    let (rct_type, ring_len, fee_rate) = s.node.network_parameters().unwrap();
    let input = s
        .node
        .wallet_output(view, &input.output_key, input.block_height, input.address)
        .unwrap();
    let with_decoys = s.node.with_decoys(&input, ring_len).unwrap();
    SignableTransaction::new(
        rct_type,
        Zeroizing::new([7u8; 32]),
        vec![with_decoys],
        payments,
        change,
        vec![],
        fee_rate,
    )
    .unwrap()
    .serialize()
}

fn view_pair(spend_public: Point, view_secret: Scalar) -> ViewPair {
    ViewPair::new(spend_public, Zeroizing::new(view_secret)).unwrap()
}

#[test]
fn hostile_payloads_and_files_are_refused() {
    let s = setup();
    let keys = s.wallet.keys();
    let own_address = s.wallet.primary_address().to_string();
    let vault = vault_for(&own_address);
    let signer = Monero::for_signer(NET, keys);
    let secret = s.wallet.chain_secret();
    let alice = WalletKeys::random(&mut rand_core::OsRng);
    let alice_address = alice.primary_address(NET);
    let pay = 1_000_000_000_000u64;
    let honest = assemble(
        &s,
        keys.view_keys(),
        &s.ours.outputs()[0],
        vec![(alice_address, pay)],
        Change::new(keys.view_keys().view_pair(), None),
    );
    let intent = vec![xmr(&alice_address.to_string(), pay)];

    // The honest payload signs; the material carries the change's proved key image, for an
    // output of the transaction and this wallet.
    let material = signer
        .sign(
            &vault,
            &proposal(intent.clone(), honest.clone(), vec![]),
            &secret,
        )
        .unwrap();
    let checked = verify_signed(&honest, &material).unwrap();
    let change_images = checked.change_key_images.clone().expect("change key image");
    assert_eq!(change_images.key_images.len(), 1);
    assert_eq!(change_images.primary_address, own_address);
    // Tampered material: garbage after the transaction; a key image for an output the
    // transaction does not have; a forged proof.
    let tx_len = checked.bytes.len();
    let err = verify_signed(&honest, &[&checked.bytes[..], b"garbage"].concat())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a key-image file"), "{err}");
    let mut stray = change_images.clone();
    stray.key_images[0].output_key = s.theirs.outputs()[0].output_key;
    let err = verify_signed(
        &honest,
        &[&checked.bytes[..], &stray.to_bytes()[..]].concat(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not in the signed transaction"), "{err}");
    let mut forged = material.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(forged.len() > tx_len);
    let forged = verify_signed(&honest, &forged)
        .unwrap()
        .change_key_images
        .unwrap();
    let tx_outputs = OutputsFile {
        network: NET,
        primary_address: own_address.clone(),
        outputs: vec![airlock_chain_monero::keyimages::ExportedOutput {
            output_key: forged.key_images[0].output_key,
            key_offset: [0; 32],
            amount: 0,
        }],
    };
    let err = forged
        .verify(NET, &own_address, &tx_outputs)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not verify") || err.contains("malformed"),
        "{err}"
    );

    // 1. Destinations differ from the stated intent: another amount, another address.
    for wrong in [
        vec![xmr(&alice_address.to_string(), pay - 1)],
        vec![xmr(&s.stranger.primary_address(NET).to_string(), pay)],
        vec![],
    ] {
        let err = signer
            .sign(&vault, &proposal(wrong, honest.clone(), vec![]), &secret)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not match the stated intent"), "{err}");
    }

    // 2. "Change" with a foreign view key, with a foreign spend key, to a foreign bare address:
    //    shown as payments, refused against the intent.
    let foreign = WalletKeys::random(&mut rand_core::OsRng);
    let own_spend = Point::from(keys.view_keys().spend_public());
    let own_view = Scalar::from(
        curve25519_dalek::Scalar::from_canonical_bytes(*keys.view_keys().view_secret_bytes())
            .unwrap(),
    );
    let foreign_view = Scalar::from(
        curve25519_dalek::Scalar::from_canonical_bytes(*foreign.view_keys().view_secret_bytes())
            .unwrap(),
    );
    let foreign_spend = Point::from(foreign.view_keys().spend_public());
    for (change, reason) in [
        (
            Change::new(view_pair(own_spend, foreign_view), None),
            "foreign view key",
        ),
        (
            Change::new(view_pair(foreign_spend, own_view), None),
            "foreign spend key",
        ),
        (
            Change::fingerprintable(Some(foreign.primary_address(NET))),
            "not this wallet's",
        ),
    ] {
        let payload = assemble(
            &s,
            keys.view_keys(),
            &s.ours.outputs()[0],
            vec![(alice_address, pay)],
            change,
        );
        let review = review_unsigned(&payload, NET, keys.view_keys(), Some(keys)).unwrap();
        assert!(
            matches!(&review.change, ReviewedChange::Foreign { reason: r, .. } if r.contains(reason)),
            "{:?}",
            review.change
        );
        let description = signer
            .describe(&vault, &proposal(intent.clone(), payload.clone(), vec![]))
            .unwrap();
        assert_eq!(
            description.transfers.len(),
            2,
            "the foreign change is a payment"
        );
        assert!(description.change.is_empty());
        assert!(
            description.warnings.iter().any(|w| w.contains("PAYMENT")),
            "{:?}",
            description.warnings
        );
        let err = signer
            .sign(&vault, &proposal(intent.clone(), payload, vec![]), &secret)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not match the stated intent"), "{err}");
    }

    // 2b. Change to the wallet's own subaddress far outside the look-ahead: still change (both
    //     keys are the wallet's), but the person is warned the vault may not see it.
    let far = monero_wallet::address::SubaddressIndex::new(7, 100_000).unwrap();
    let payload = assemble(
        &s,
        keys.view_keys(),
        &s.ours.outputs()[0],
        vec![(alice_address, pay)],
        Change::new(keys.view_keys().view_pair(), Some(far)),
    );
    let description = signer
        .describe(&vault, &proposal(intent.clone(), payload, vec![]))
        .unwrap();
    assert_eq!(description.change.len(), 1);
    assert_eq!(
        description.change[0].destination,
        keys.address(NET, 7, 100_000).to_string()
    );
    assert!(
        description
            .warnings
            .iter()
            .any(|w| w.contains("outside the look-ahead")),
        "{:?}",
        description.warnings
    );

    // 3. An input that is not the wallet's (the stranger's coinbase output).
    let payload = assemble(
        &s,
        s.stranger.view_keys(),
        &s.theirs.outputs()[0],
        vec![(alice_address, pay)],
        Change::new(keys.view_keys().view_pair(), None),
    );
    let err = signer
        .describe(&vault, &proposal(intent.clone(), payload.clone(), vec![]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is not derivable from this wallet's keys"),
        "{err}"
    );
    // Signing runs the review beside monero-wallet's signing: the review's verdict is the answer
    // and no signed transaction comes out.
    let err = sign_unsigned(&payload, NET, keys).unwrap_err().to_string();
    assert!(
        err.contains("is not derivable from this wallet's keys"),
        "{err}"
    );

    // 4. Key images stated by the proposal that are not its inputs'.
    let err = signer
        .describe(
            &vault,
            &proposal(intent.clone(), honest.clone(), vec!["00".repeat(32)]),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("key images"), "{err}");

    // 4b. A view-only reviewer reports the stated key images (count must match the inputs);
    //     signing then re-derives them and refuses a proposal that lied about them.
    let viewer = Monero::view_only(NET, keys.view_keys().clone());
    let err = viewer
        .describe(&vault, &proposal(intent.clone(), honest.clone(), vec![]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("states 0 key images for 1 inputs"), "{err}");
    let lying = proposal(intent.clone(), honest.clone(), vec!["11".repeat(32)]);
    let shown = viewer.describe(&vault, &lying).unwrap();
    assert_eq!(shown.spends, vec!["11".repeat(32)]);
    let err = viewer
        .sign(&vault, &lying, &secret)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not the key images of its inputs"), "{err}");
    let truthful = signer
        .describe(&vault, &proposal(intent.clone(), honest.clone(), vec![]))
        .unwrap()
        .spends;
    viewer
        .sign(
            &vault,
            &proposal(intent.clone(), honest.clone(), truthful),
            &secret,
        )
        .unwrap();

    // 5. Another wallet's spend key, a wrong-length secret, another wallet's vault, garbage.
    let err = signer
        .sign(
            &vault,
            &proposal(intent.clone(), honest.clone(), vec![]),
            &ChainSecret(Zeroizing::new(s.stranger.spend_secret_bytes().to_vec())),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("not the vault wallet's"), "{err}");
    let err = signer
        .sign(
            &vault,
            &proposal(intent.clone(), honest.clone(), vec![]),
            &ChainSecret(Zeroizing::new(vec![1; 31])),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("32-byte spend key"), "{err}");
    let err = signer
        .describe(
            &vault_for(&s.stranger.primary_address(NET).to_string()),
            &proposal(intent.clone(), honest.clone(), vec![]),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("not this wallet's primary address"), "{err}");
    for garbage in [
        vec![],
        vec![0xff; 10],
        honest[..honest.len() - 3].to_vec(),
        [honest.clone(), vec![0]].concat(),
    ] {
        let err = signer
            .describe(&vault, &proposal(intent.clone(), garbage, vec![]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsigned transaction"), "{err}");
    }

    // 6. Outputs file from another wallet; key-image file from another wallet.
    let mut their_outputs = s.theirs.outputs_file(NET, true);
    their_outputs.outputs.truncate(3);
    let err = sign_key_images(
        &OutputsFile::from_bytes(&their_outputs.to_bytes()).unwrap(),
        NET,
        keys,
        &mut rand_core::OsRng,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("outputs file is for"), "{err}");
    let their_images =
        sign_key_images(&their_outputs, NET, &s.stranger, &mut rand_core::OsRng).unwrap();
    let our_outputs = s.ours.outputs_file(NET, true);
    let err = KeyImagesFile::from_bytes(&their_images.to_bytes())
        .unwrap()
        .verify(NET, &own_address, &our_outputs)
        .unwrap_err()
        .to_string();
    assert!(err.contains("key-image file is for"), "{err}");

    // The chain itself is untouched by all of the above: our outputs are unspent.
    let ours = sign_key_images(&our_outputs, NET, keys, &mut rand_core::OsRng)
        .unwrap()
        .verify(NET, &own_address, &our_outputs)
        .unwrap();
    let images: Vec<[u8; 32]> = ours.values().copied().collect();
    assert!(
        s.node
            .key_images_spent(&images)
            .unwrap()
            .iter()
            .all(|spent| !spent)
    );
    drop(s.node_proc);
}

#[test]
fn daemon_that_is_gone_or_answers_garbage_gives_clear_errors() {
    // Nothing listens on this port.
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let err = MoneroNode::connect(&url)
        .and_then(|node| node.height())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("monerod") && err.contains(&port.to_string()),
        "{err}"
    );

    // A server that answers garbage to every request.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot json!",
            );
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let result = MoneroNode::connect(&url).and_then(|node| {
        let h = node.height();
        let k = node.key_images_spent(&[[1; 32]]);
        h.and(k)
    });
    let err = result.unwrap_err().to_string();
    assert!(err.contains("monerod"), "{err}");
    drop(server);
}
