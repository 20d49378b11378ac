//! Combining Safe owner signatures: each must recover to an owner, no owner twice, ordered by
//! owner address ascending (Safe's `checkSignatures` walks owners in increasing order).

mod common;

use airlock_chain_ethereum::{combine_safe_signatures, recover, sign_safe_tx};
use alloy_primitives::{B256, keccak256};
use common::*;

#[test]
fn signatures_are_verified_deduplicated_and_ordered_by_owner() {
    let hash = keccak256(b"a safeTxHash");
    let keys = [key(KEY0), key(KEY1), key(KEY2)];
    let owners: Vec<_> = keys.iter().map(|k| k.address()).collect();
    let sigs: Vec<[u8; 65]> = keys
        .iter()
        .map(|k| sign_safe_tx(&hash, k).unwrap())
        .collect();
    // In any input order, the output is ordered by owner address.
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let input: Vec<_> = order.iter().map(|&i| sigs[i]).collect();
        let packed = combine_safe_signatures(&hash, &input, &owners).unwrap();
        assert_eq!(packed.len(), 195);
        let signers: Vec<_> = packed
            .chunks(65)
            .map(|c| recover(&hash, c.try_into().unwrap()).unwrap())
            .collect();
        let mut sorted = signers.clone();
        sorted.sort();
        assert_eq!(signers, sorted);
        assert_eq!(signers.len(), 3);
    }
    // anvil #1 (0x7099…) sorts after anvil #2 (0x3C44…).
    let two = combine_safe_signatures(&hash, &[sigs[1], sigs[2]], &owners).unwrap();
    assert_eq!(&two[..65], &sigs[2][..]);
    assert_eq!(&two[65..], &sigs[1][..]);

    let dup = combine_safe_signatures(&hash, &[sigs[0], sigs[0]], &owners).unwrap_err();
    assert!(dup.to_string().contains("second signature"), "{dup}");
    let stranger = combine_safe_signatures(&hash, &[sigs[0]], &owners[1..]).unwrap_err();
    assert!(stranger.to_string().contains("not an owner"), "{stranger}");
    // A signature over another hash recovers to someone else: not an owner.
    let other = sign_safe_tx(&B256::ZERO, &keys[0]).unwrap();
    assert!(combine_safe_signatures(&hash, &[other], &owners).is_err());
    // eth_sign style v (31/32) and garbage are refused.
    let mut v = sigs[0];
    v[64] += 4;
    assert!(combine_safe_signatures(&hash, &[v], &owners).is_err());
    assert!(combine_safe_signatures(&hash, &[[0u8; 65]], &owners).is_err());
    assert!(combine_safe_signatures(&hash, &[], &owners).is_err());
}
