//! The Electrum-made benchmark PSBT (`shared/bench/psbt-sign/psbt_100.b64`, 2-of-3 P2WSH,
//! regtest): reviewed from the vault assembled from the published account keys, signed by
//! cosigners 0 and 1, combined, finalized and judged by Bitcoin Core's interpreter.

mod offline_support;

use airlock_chain_bitcoin::{
    BtcVault, ReviewPolicy, combine, finalize, parse_psbt, review, sign_psbt,
};
use offline_support::*;

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/psbt-sign")
}

#[test]
fn electrum_psbt_100_reviews_signs_and_finalizes() {
    let dir = fixture_dir();
    let facts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("psbt_100.json")).expect("fixture json"))
            .unwrap();
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("keys.json")).expect("keys.json")).unwrap();
    let origins: Vec<String> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            format!(
                "[{}/48'/1'/0'/2']{}/<0;1>/*",
                k["fp"].as_str().unwrap(),
                k["tpub"].as_str().unwrap()
            )
        })
        .collect();
    let vault = BtcVault::parse_for(
        &format!("wsh(sortedmulti(2,{}))", origins.join(",")),
        NETWORK,
    )
    .unwrap();
    // Our own key export gives the same vault.
    assert_eq!(
        vault.descriptor_text(),
        offline_support::vault(&sortedmulti_2of3()).descriptor_text()
    );

    let psbt = parse_psbt(&std::fs::read(dir.join("psbt_100.b64")).unwrap()).unwrap();
    let r = review(&vault, &psbt, &ReviewPolicy::default()).unwrap();
    assert_eq!(r.txid.to_string(), facts["txid"].as_str().unwrap());
    assert_eq!(r.fee.to_sat(), facts["fee"].as_u64().unwrap());
    assert_eq!(r.inputs.len(), 100);
    assert_eq!(r.payments.len(), 1);
    assert_eq!(r.change.len(), 1);
    assert!(r.inputs.iter().all(|i| i.has_previous_transaction));

    let mut a = psbt.clone();
    sign_psbt(&vault, &mut a, &signer(0), &ReviewPolicy::default()).unwrap();
    let mut b = psbt.clone();
    sign_psbt(&vault, &mut b, &signer(1), &ReviewPolicy::default()).unwrap();
    let mut combined = combine(&vault, vec![a, b], &ReviewPolicy::default()).unwrap();
    let tx = finalize(&vault, &mut combined, &ReviewPolicy::default()).unwrap();
    consensus_verify(&tx, r.spent_outputs()).unwrap();
}
