//! `psbt`: the signer's PSBT import and review path (`airlock_chain_bitcoin`).
//!
//! The input is a PSBT file as a signer receives it: binary or base64, version 0 or version 2
//! (BIP-370, converted to version 0 on import). Checks:
//! - `parse_psbt` never panics and never allocates beyond its 16 MiB cap;
//! - an accepted PSBT serializes to bytes that import to the same PSBT, and its base64 form
//!   imports to the same PSBT too (binary/base64 and v2→v0 conversion agree);
//! - the review (`review`, then `to_description` and the details a person is shown) and the
//!   partial-signature verifier never panic, against four registered regtest vaults: 2-of-3
//!   `wsh(sortedmulti)`, taproot `multi_a` 2-of-3, a `wsh` miniscript with a timelocked recovery
//!   key, and a single-key `wpkh` (the seeds' PSBTs spend from these vaults, so mutations reach
//!   deep into the review). Cosigner `i`'s seed is SHA-256("seed<i>"), as in the crate's tests;
//! - a FROST group's reading of the PSBT (`frost_psbt::inputs_to_sign`: proprietary commitment
//!   fields, origins, paths, spent outputs, sighashes) never panics, for the group key G.

use std::sync::OnceLock;

use airlock_chain_bitcoin::bitcoin::Network;
use airlock_chain_bitcoin::bitcoin::hashes::{Hash, sha256};
use airlock_chain_bitcoin::{
    BtcVault, ReviewPolicy, SignerKey, SingleKeyScript, parse_psbt, psbt_to_base64, review,
    serialize_psbt, to_description, verify_partial_signatures,
};

/// BIP-341's provably unspendable internal key.
pub const NUMS_KEY: &str = "50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0";

/// Cosigner `i` of the harness's vaults (regtest).
pub fn signer(i: usize) -> SignerKey {
    let seed = sha256::Hash::hash(format!("seed{i}").as_bytes()).to_byte_array();
    SignerKey::from_seed(&seed, Network::Regtest).expect("seed")
}

fn key(i: usize) -> String {
    format!("{}/<0;1>/*", signer(i).export_multisig_key().expect("key"))
}

/// The descriptors of the harness's vaults.
pub fn descriptors() -> Vec<String> {
    vec![
        format!("wsh(sortedmulti(2,{},{},{}))", key(0), key(1), key(2)),
        format!("tr({NUMS_KEY},multi_a(2,{},{},{}))", key(0), key(1), key(2)),
        format!(
            "wsh(or_d(multi(2,{},{},{}),and_v(v:pk({}),older(144))))",
            key(0),
            key(1),
            key(3),
            key(2)
        ),
        signer(4)
            .single_key_descriptor(SingleKeyScript::Wpkh)
            .expect("wpkh"),
    ]
}

/// The vaults, each with a small registration cache (as a signer keeps beside the vault).
pub fn vaults() -> &'static [BtcVault] {
    static VAULTS: OnceLock<Vec<BtcVault>> = OnceLock::new();
    VAULTS.get_or_init(|| {
        descriptors()
            .iter()
            .map(|d| {
                let mut v = BtcVault::parse_for(d, Network::Regtest).expect("vault");
                let cache = v.build_derivation_cache(8).expect("cache");
                v.load_derivation_cache(&cache).expect("load");
                v
            })
            .collect()
    })
}

pub fn run(data: &[u8]) {
    let Ok(psbt) = parse_psbt(data) else {
        return;
    };
    let binary = serialize_psbt(&psbt);
    let again = parse_psbt(&binary).expect("a serialized PSBT imports again");
    assert_eq!(again, psbt, "serialize→import changed the PSBT");
    let text = psbt_to_base64(&psbt);
    assert_eq!(parse_psbt(text.as_bytes()).ok().as_ref(), Some(&psbt));

    let policy = ReviewPolicy::default();
    for vault in vaults() {
        if let Ok(r) = review(vault, &psbt, &policy) {
            let _ = r.details();
            let _ = r.payments_total();
            let _ = to_description(&r);
            let _ = verify_partial_signatures(vault, &psbt, &policy);
        }
    }
    let group = airlock_frost::frost::VerifyingKey::deserialize(&crate::frost_messages::GENERATOR)
        .expect("the generator");
    if let Ok(inputs) = airlock_chain_bitcoin::frost_psbt::inputs_to_sign(&psbt, &group) {
        assert_eq!(inputs.len(), psbt.inputs.len());
    }
}
