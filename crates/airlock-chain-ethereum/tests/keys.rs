//! Key derivation and signature form: BIP-44 from the well-known anvil mnemonic, low-S,
//! deterministic signatures, v = 27/28.

mod common;

use airlock_chain_ethereum::{EthKey, recover, sign_safe_tx};
use alloy_primitives::{B256, U256, keccak256};

fn seed() -> [u8; 64] {
    let m = bip39::Mnemonic::parse_normalized(
        "test test test test test test test test test test test junk",
    )
    .unwrap();
    m.to_seed("")
}

#[test]
fn bip44_gives_anvils_accounts() {
    let s = seed();
    let k0 = EthKey::from_seed(&s, 0).unwrap();
    let k1 = EthKey::from_seed(&s, 1).unwrap();
    assert_eq!(
        k0.address().to_string(),
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    );
    assert_eq!(
        k1.address().to_string(),
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    );
    // The derived key is the well-known secret: it signs identically to the raw key.
    let h = keccak256(b"airlock");
    assert_eq!(
        k0.sign_hash(&h).unwrap(),
        common::key(common::KEY0).sign_hash(&h).unwrap()
    );
    assert_eq!(common::key(common::KEY1).address(), k1.address());
    // Another index, another key.
    assert_ne!(EthKey::from_seed(&s, 2).unwrap().address(), k1.address());
    assert!(EthKey::from_seed(&s, 0x8000_0000).is_err());
    assert!(EthKey::from_seed(&[1u8; 8], 0).is_err());
    // Debug never shows the secret.
    let dbg = format!("{k0:?}");
    assert!(!dbg.to_lowercase().contains(common::KEY0), "{dbg}");
}

#[test]
fn raw_keys_out_of_range_are_refused() {
    assert!(EthKey::from_bytes(&[0u8; 32]).is_err());
    assert!(EthKey::from_bytes(&[0xffu8; 32]).is_err());
}

#[test]
fn signatures_are_low_s_deterministic_and_recover() {
    let k = common::key(common::KEY2);
    let half_n = U256::from_str_radix(
        "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0",
        16,
    )
    .unwrap();
    for i in 0u32..300 {
        let h = keccak256(i.to_be_bytes());
        let a = sign_safe_tx(&h, &k).unwrap();
        assert_eq!(a, sign_safe_tx(&h, &k).unwrap(), "deterministic");
        assert!(a[64] == 27 || a[64] == 28);
        assert!(U256::from_be_slice(&a[32..64]) <= half_n, "low S");
        assert_eq!(recover(&h, &a).unwrap(), k.address());
        let mut high = a;
        // s' = n - s with flipped v is the malleable twin: refused.
        let n = U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .unwrap();
        let s2 = n - U256::from_be_slice(&a[32..64]);
        high[32..64].copy_from_slice(&s2.to_be_bytes::<32>());
        high[64] = if a[64] == 27 { 28 } else { 27 };
        assert!(recover(&h, &high).is_err());
    }
    let mut bad = sign_safe_tx(&B256::ZERO, &k).unwrap();
    bad[64] = 31;
    assert!(recover(&B256::ZERO, &bad).is_err());
}
