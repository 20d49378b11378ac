//! `monero_blocks_bin`: monerod's `get_blocks.bin` answer as the coordinator's scanner reads it
//! (`airlock_chain_monero_online::daemon::parse_blocks_bin`: epee portable storage through
//! `monero-epee`, blocks and pruned transactions through monero-oxide, output indices).
//!
//! The first byte sets the block limit (1-256); the rest is the answer's body. Checks: never a
//! panic; at most `limit` blocks returned; every returned block carries as many transactions as
//! its header lists; parsing is deterministic (a second parse gives the same heights and
//! hashes). The seed is an answer captured from monerod on the shared regtest bench chain.

use airlock_chain_monero_online::daemon::parse_blocks_bin;

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    let limit = usize::from(m) + 1;
    let Ok((start, blocks)) = parse_blocks_bin(rest, limit) else {
        return;
    };
    assert!(
        blocks.len() <= limit,
        "{} blocks over the limit {limit}",
        blocks.len()
    );
    for b in &blocks {
        assert_eq!(b.block.transactions.len(), b.transactions.len());
    }
    let (start2, again) = parse_blocks_bin(rest, limit).expect("parses twice");
    assert_eq!(start, start2);
    assert_eq!(again.len(), blocks.len());
    for (a, b) in again.iter().zip(&blocks) {
        assert_eq!(a.block.hash(), b.block.hash());
        assert_eq!(a.block.number(), b.block.number());
    }
}
