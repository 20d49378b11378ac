//! Offline signing time for a 2-input / 2-output Monero transaction (one payment + change, ring
//! size 16, CLSAG + Bulletproofs+), median of N runs; also the review alone and one key-image
//! proof. Builds the transaction against its own regtest monerod (Debian package `monero`).
//!
//! ```sh
//! cargo run --release -p airlock-chain-monero --features online --example sign_bench -- 25
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

    let mut sign_times = Vec::with_capacity(runs);
    let mut review_times = Vec::with_capacity(runs);
    for _ in 0..runs {
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
    println!("  key image + proof per output: {}", ms(per_image));
}
