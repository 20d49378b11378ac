//! Figures of FROST ceremonies for `docs/PERFORMANCE.md` (issue 15): key generation and refresh
//! for 3-of-5 (every member's rounds, through their byte encodings), signature shares for a
//! 100-input transaction per signer and their aggregation, and the size and QR frames of each
//! artifact that crosses the gap.
//!
//! `cargo run --release -p airlock-frost --example frost_figures`

use std::collections::BTreeMap;
use std::time::Instant;

use airlock_custody::{KdfParams, Passphrase};
use airlock_frost::Roster;
use airlock_frost::dkg::{self, Ceremony};
use airlock_frost::nonces::NonceStore;
use airlock_frost::sign;
use airlock_frost::testkit::{hand_over_commitments, inputs_for, two_rounds};
use airlock_qr::{Content, Density, Format, encode};
use ed25519_dalek::SigningKey;
use rand_core::OsRng;

const RUNS: u32 = 20;

fn ms(since: Instant, runs: u32) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0 / f64::from(runs)
}

fn frames(bytes: usize) -> String {
    let data = vec![0x5a; bytes];
    [Density::Low, Density::Medium, Density::High]
        .iter()
        .map(|d| {
            encode(&data, Format::Ur, Content::Artifact, *d)
                .map(|f| f.needed.to_string())
                .unwrap_or_else(|e| e.to_string())
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

fn main() {
    let keys: Vec<SigningKey> = (1u8..=5)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let roster = Roster::new(
        "figures",
        3,
        ["alice", "bob", "carol", "dave", "erin"]
            .iter()
            .zip(&keys)
            .map(|(n, k)| (n.to_string(), k.verifying_key()))
            .collect(),
    )
    .expect("roster");

    let start = Instant::now();
    let mut shares = Vec::new();
    for _ in 0..RUNS {
        shares = two_rounds(&roster, &keys, None, &mut OsRng).expect("key generation");
    }
    let dkg_ms = ms(start, RUNS);
    let start = Instant::now();
    for _ in 0..RUNS {
        two_rounds(&roster, &keys, Some(&shares), &mut OsRng).expect("refresh");
    }
    let refresh_ms = ms(start, RUNS);
    println!("3-of-5 key generation, all five members' rounds: {dkg_ms:.2} ms (mean of {RUNS})");
    println!("3-of-5 refresh, all five members' rounds: {refresh_ms:.2} ms (mean of {RUNS})");

    // Signing a 100-input transaction by members 1, 3 and 5.
    let dir = tempfile::tempdir().expect("temporary directory");
    let stores: Vec<NonceStore> = (1..=5)
        .map(|i| NonceStore::new(&dir.path().join(i.to_string())))
        .collect();
    let pass = Passphrase::new("figures".into()).expect("passphrase");
    let inputs_n = 100;
    let signers = [1u16, 3, 5];
    let commitments = hand_over_commitments(
        &shares,
        &keys,
        &stores,
        &signers,
        inputs_n as u32 * (2 * RUNS + 2),
        &pass,
        &mut OsRng,
    )
    .expect("commitments");
    let messages: Vec<[u8; 32]> = (0..inputs_n).map(|i| [i as u8; 32]).collect();
    // The threshold arithmetic alone: 100 shares by one signer (nonces in memory).
    let share = &shares[0];
    let mut nonce_list = Vec::new();
    for _ in 0..inputs_n {
        nonce_list.push(airlock_frost::frost::round1::commit(
            share.key.signing_share(),
            &mut OsRng,
        ));
    }
    let packages: Vec<_> = messages
        .iter()
        .zip(&nonce_list)
        .map(|(m, (_, mine))| {
            let mut by = BTreeMap::new();
            by.insert(*share.key.identifier(), *mine);
            for other in [3u16, 5] {
                by.insert(
                    airlock_frost::identifier(other).expect("id"),
                    commitments[&other][0],
                );
            }
            airlock_frost::frost::SigningPackage::new(by, m)
        })
        .collect();
    let tweaked = {
        use airlock_frost::frost::keys::Tweak as _;
        share.key.clone().tweak(None::<&[u8]>)
    };
    let start = Instant::now();
    for _ in 0..RUNS {
        for (p, (n, _)) in packages.iter().zip(&nonce_list) {
            airlock_frost::frost::round2::sign(p, n, &tweaked).expect("share");
        }
    }
    let arithmetic_ms = ms(start, RUNS);
    // The whole `sign`: nonces taken from the sealed store and journaled (fsync), shares computed,
    // the message signed (the store's seal with the fast KDF; see below for the real one).
    let mut total = 0.0;
    let mut shares_message = None;
    for run in 0..RUNS as usize {
        let inputs = inputs_for(&messages, &commitments, run * inputs_n);
        let start = Instant::now();
        let m = sign::sign(share, &keys[0], &stores[0], &inputs, None, &pass).expect("sign");
        total += ms(start, 1);
        shares_message = Some(m);
    }
    let sign_ms = total / f64::from(RUNS);
    // Aggregation of one run's shares by the coordinator.
    let inputs = inputs_for(&messages, &commitments, RUNS as usize * inputs_n);
    let mut by_member = BTreeMap::new();
    for &m in &signers {
        let i = usize::from(m - 1);
        let msg = sign::sign(&shares[i], &keys[i], &stores[i], &inputs, None, &pass).expect("sign");
        by_member.insert(
            m,
            sign::read_shares(&roster, &msg, inputs_n).expect("shares"),
        );
    }
    let start = Instant::now();
    for _ in 0..RUNS {
        sign::aggregate(&roster, &shares[0].public, &inputs, &by_member, None).expect("aggregate");
    }
    let aggregate_ms = ms(start, RUNS);
    // The same with every input at its own address (receive path 0/k of the group xpub): each
    // signer derives 100 key shares, the coordinator 100 public packages.
    let at_own_address = |offset: usize| {
        let mut inputs = inputs_for(&messages, &commitments, offset);
        for (k, input) in inputs.iter_mut().enumerate() {
            input.path = vec![0, k as u32];
        }
        inputs
    };
    let mut total = 0.0;
    for run in 0..RUNS as usize {
        let inputs = at_own_address((RUNS as usize + 1 + run) * inputs_n);
        let start = Instant::now();
        sign::sign(share, &keys[0], &stores[0], &inputs, None, &pass).expect("sign");
        total += ms(start, 1);
    }
    let derived_sign_ms = total / f64::from(RUNS);
    let inputs = at_own_address((2 * RUNS as usize + 1) * inputs_n);
    let mut derived_by_member = BTreeMap::new();
    for &m in &signers {
        let i = usize::from(m - 1);
        let msg = sign::sign(&shares[i], &keys[i], &stores[i], &inputs, None, &pass).expect("sign");
        derived_by_member.insert(
            m,
            sign::read_shares(&roster, &msg, inputs_n).expect("shares"),
        );
    }
    let start = Instant::now();
    for _ in 0..RUNS {
        sign::aggregate(
            &roster,
            &shares[0].public,
            &inputs,
            &derived_by_member,
            None,
        )
        .expect("aggregate");
    }
    let derived_aggregate_ms = ms(start, RUNS);
    println!(
        "100 inputs each at its own address (0/k of the group xpub): {derived_sign_ms:.2} ms for the whole `sign` (100 key shares derived); {derived_aggregate_ms:.2} ms aggregation (100 public packages derived)"
    );
    println!(
        "100-input shares per signer: {arithmetic_ms:.2} ms of threshold arithmetic on one core; {sign_ms:.2} ms for the whole `sign` (nonces taken and journaled with fsync, shares on all cores, message signed; the store's key opened with the fast KDF)"
    );
    println!("100-input aggregation with share verification (3 signers): {aggregate_ms:.2} ms");
    let start = Instant::now();
    airlock_frost::seal::seal(b"x", &pass, KdfParams::DEFAULT).expect("seal");
    println!(
        "one Argon2id derivation with the keystore's default parameters (opening the nonce store's key: once per signature session, as the unlock): {:.0} ms",
        ms(start, 1)
    );

    // Sizes and frames.
    let (state, round1) =
        dkg::round1(&roster, &keys[0], Ceremony::KeyGeneration, &mut OsRng).expect("round 1");
    let mut r1 = vec![round1];
    let mut states = vec![state];
    for k in &keys[1..] {
        let (s, m) = dkg::round1(&roster, k, Ceremony::KeyGeneration, &mut OsRng).expect("r1");
        r1.push(m);
        states.push(s);
    }
    let (_, round2) = dkg::round2(
        &roster,
        &keys[0],
        states.remove(0),
        &r1,
        Ceremony::KeyGeneration,
        &mut OsRng,
    )
    .expect("round 2");
    let batch = stores[1]
        .generate(
            &shares[1],
            &keys[1],
            100,
            &pass,
            KdfParams::INSECURE_FAST,
            &mut OsRng,
        )
        .expect("commitments");
    let rows = [
        (
            "key generation round 1 (one member)",
            r1[0].to_bytes().len(),
        ),
        (
            "key generation round 2 (one member, all four shares)",
            airlock_frost::wire::bundle(&round2).len(),
        ),
        ("100 nonce commitments", batch.to_bytes().len()),
        (
            "100-input signature shares",
            shares_message.expect("ran").to_bytes().len(),
        ),
    ];
    println!("| artifact (3-of-5) | bytes | UR frames low / medium / high |");
    println!("|---|---|---|");
    for (what, bytes) in rows {
        println!("| {what} | {bytes} | {} |", frames(bytes));
    }
}
