//! Offline signing time for a 2-input / 2-output Monero transaction (one payment + change, ring
//! size 16, CLSAG + Bulletproofs+), median of N runs; also the review alone and one key-image
//! proof. Builds the transaction against its own regtest monerod (Debian package `monero`).
//!
//! Beside it, in the same run, the floor the signature cannot go below: monero-oxide's own CLSAG
//! signing of the same two rings and its Bulletproofs+ proof of two outputs, called directly
//! (issue 18, item 3 measures signing against their sum).
//!
//! ```sh
//! cargo run --release -p airlock-chain-monero-online --example sign_bench -- 25
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use airlock_chain_monero::keyimages::sign_key_images;
use airlock_chain_monero::keys::WalletKeys;
use airlock_chain_monero::review::{review_unsigned, sign_unsigned};
use airlock_chain_monero::wallet::{OfflineWallet, SeedKind};
use airlock_chain_monero_online::online_chain::spendable_outputs;
use airlock_chain_monero_online::tx::MoneroNode;

use common::NET;
use monero_wallet::OutputWithDecoys;
use monero_wallet::ed25519::{Commitment, Point, Scalar};
use monero_wallet::io::{read_byte, read_vec};
use monero_wallet::ringct::bulletproofs::Bulletproof;
use monero_wallet::ringct::clsag::{Clsag, ClsagContext, Decoys};
use zeroize::Zeroizing;

/// The inputs (with their rings) of a serialized `SignableTransaction`: its type byte and
/// outgoing view key come first.
fn inputs_of(payload: &[u8]) -> Vec<OutputWithDecoys> {
    let mut r = payload;
    read_byte(&mut r).unwrap();
    r = &r[32..];
    read_vec(OutputWithDecoys::read, Some(16), &mut r).unwrap()
}

/// One CLSAG signing of `inputs`' rings (the real member replaced by a key of our own, which
/// costs the same) and one Bulletproofs+ proof of `outputs` commitments: the proving floor.
fn proving_floor(inputs: &[OutputWithDecoys], outputs: usize) -> (Duration, Duration) {
    let rng = &mut rand_core::OsRng;
    let mut signing = Vec::new();
    let mut mask_sum = curve25519_dalek::Scalar::ZERO;
    for input in inputs {
        let decoys = input.decoys();
        let key = Scalar::random(rng).into();
        let commitment = Commitment::new(Scalar::random(rng), 1_000_000);
        mask_sum += commitment.mask.into();
        let mut ring = decoys.ring().to_vec();
        ring[usize::from(decoys.signer_index())] = [
            Point::from(&key * curve25519_dalek::constants::ED25519_BASEPOINT_TABLE),
            commitment.commit(),
        ];
        let decoys = Decoys::new(decoys.offsets().to_vec(), decoys.signer_index(), ring).unwrap();
        signing.push((
            Zeroizing::new(Scalar::from(key)),
            ClsagContext::new(decoys, commitment).unwrap(),
        ));
    }
    let start = Instant::now();
    std::hint::black_box(Clsag::sign(rng, signing, Scalar::from(mask_sum), [7; 32]).unwrap());
    let clsag = start.elapsed();
    let commitments = (0..outputs)
        .map(|i| Commitment::new(Scalar::random(rng), 1_000 + i as u64))
        .collect();
    let start = Instant::now();
    std::hint::black_box(Bulletproof::prove_plus(rng, commitments).unwrap());
    (clsag, start.elapsed())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(25)
        .max(1);
    let monerod = common::Monerod::start();
    let node = MoneroNode::connect(&monerod.url()).expect("connect to monerod");
    let (wallet, _) =
        OfflineWallet::create(&mut rand_core::OsRng, NET, SeedKind::Legacy25, 0, 0).unwrap();
    let elsewhere = WalletKeys::random(&mut rand_core::OsRng);
    monerod.mine(&wallet.primary_address().to_string(), 2);
    monerod.mine(&elsewhere.primary_address(NET).to_string(), 300);

    let view = wallet.keys().view_keys();
    let mut state = common::scan_wallet(&monerod.url(), view, NET, 0);
    let file = state.outputs_file(NET, true);
    let images = sign_key_images(&file, NET, wallet.keys(), &mut rand_core::OsRng)
        .unwrap()
        .verify(NET, &wallet.primary_address().to_string(), &file)
        .unwrap();
    state.import_key_images_by_output_key(&images).unwrap();
    let outputs = spendable_outputs(&state);
    let mut amounts: Vec<u64> = outputs.iter().map(|o| o.amount).collect();
    amounts.sort();
    // More than the larger output alone: two inputs; one payment plus change: two outputs.
    let pay = amounts[1] + amounts[0] / 2;
    let unsigned = node
        .build_unsigned(
            NET,
            view,
            &outputs,
            &[(elsewhere.primary_address(NET).to_string(), pay)],
        )
        .unwrap();
    let review = review_unsigned(&unsigned.payload, NET, view, Some(wallet.keys())).unwrap();
    assert_eq!(review.inputs.len(), 2, "two inputs");
    assert_eq!(
        review.payments.len(),
        1,
        "one payment (+ change = two outputs)"
    );

    let inputs = inputs_of(&unsigned.payload);

    let mut sign_times = Vec::with_capacity(runs);
    let mut review_times = Vec::with_capacity(runs);
    let mut clsag_times = Vec::with_capacity(runs);
    let mut bp_times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (clsag, bp) = proving_floor(&inputs, 2);

        clsag_times.push(clsag);
        bp_times.push(bp);
        let start = Instant::now();
        let (_, signed) = sign_unsigned(&unsigned.payload, NET, wallet.keys()).unwrap();
        sign_times.push(start.elapsed());
        std::hint::black_box(signed);
        let start = Instant::now();
        std::hint::black_box(
            review_unsigned(&unsigned.payload, NET, view, Some(wallet.keys())).unwrap(),
        );
        review_times.push(start.elapsed());
    }
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(
            sign_key_images(&file, NET, wallet.keys(), &mut rand_core::OsRng).unwrap(),
        );
    }
    let per_image = start.elapsed() / (runs as u32 * file.outputs.len() as u32);

    let (_, signed) = sign_unsigned(&unsigned.payload, NET, wallet.keys()).unwrap();
    node.broadcast(&signed.bytes)
        .expect("monerod accepts the benchmarked transaction");
    println!("Monero offline signing, 2 inputs / 2 outputs, ring 16, {runs} runs");
    println!(
        "  payload {} bytes, signed transaction {} bytes",
        unsigned.payload.len(),
        signed.bytes.len()
    );
    println!(
        "  review + sign (median): {}",
        ms(median(sign_times.clone()))
    );
    println!(
        "  min / max: {} / {}",
        ms(*sign_times.iter().min().unwrap()),
        ms(*sign_times.iter().max().unwrap())
    );
    println!("  review alone (median): {}", ms(median(review_times)));
    let floor = median(clsag_times.clone()) + median(bp_times.clone());
    println!(
        "  monero-oxide alone, same run (median): CLSAG x2 {} + Bulletproofs+ x2 outputs {} = {}",
        ms(median(clsag_times)),
        ms(median(bp_times)),
        ms(floor)
    );
    println!(
        "  signing / proving floor: {:.2}x (issue 18, item 3: <= 1.25x)",
        median(sign_times.clone()).as_secs_f64() / floor.as_secs_f64()
    );
    println!("  key image + proof per output: {}", ms(per_image));
}
