//! PSBT version 2 (BIP-370) input is converted to version 0: a v2 encoding of a PSBT built here
//! (field types from BIP-370) must read back as the very same PSBT; malformed v2 is refused.

mod offline_support;

use airlock_chain_bitcoin::{ReviewPolicy, parse_psbt, review};
use bitcoin::hashes::Hash as _;
use bitcoin::{Psbt, Sequence};
use offline_support::*;

fn compact(out: &mut Vec<u8>, n: usize) {
    if n < 0xfd {
        out.push(n as u8);
    } else {
        out.push(0xfd);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    }
}

fn pair(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    compact(out, key.len());
    out.extend_from_slice(key);
    compact(out, value.len());
    out.extend_from_slice(value);
}

fn read_compact(bytes: &[u8], at: &mut usize) -> usize {
    let first = bytes[*at];
    *at += 1;
    match first {
        0xfd => {
            let n = u16::from_le_bytes([bytes[*at], bytes[*at + 1]]) as usize;
            *at += 2;
            n
        }
        0xfe => {
            let n = u32::from_le_bytes(bytes[*at..*at + 4].try_into().unwrap()) as usize;
            *at += 4;
            n
        }
        n => n as usize,
    }
}

/// The raw bytes of each key-value pair of the map starting at `at` (separator consumed).
fn map_pairs(bytes: &[u8], at: &mut usize) -> Vec<Vec<u8>> {
    let mut pairs = Vec::new();
    loop {
        let start = *at;
        let key_len = read_compact(bytes, at);
        if key_len == 0 {
            return pairs;
        }
        *at += key_len;
        let value_len = read_compact(bytes, at);
        *at += value_len;
        pairs.push(bytes[start..*at].to_vec());
    }
}

/// Re-encodes a v0 PSBT (without global xpubs) as v2, with the lock time as a required height.
fn to_v2(psbt: &Psbt, required_height: Option<u32>) -> Vec<u8> {
    let v0 = psbt.serialize();
    let mut at = 5;
    let _global = map_pairs(&v0, &mut at);
    let tx = &psbt.unsigned_tx;
    let mut out = b"psbt\xff".to_vec();
    pair(&mut out, &[0x02], &tx.version.0.to_le_bytes());
    pair(
        &mut out,
        &[0x03],
        &tx.lock_time.to_consensus_u32().to_le_bytes(),
    );
    pair(&mut out, &[0x04], &[tx.input.len() as u8]);
    pair(&mut out, &[0x05], &[tx.output.len() as u8]);
    pair(&mut out, &[0xfb], &2u32.to_le_bytes());
    out.push(0);
    for txin in &tx.input {
        pair(&mut out, &[0x0e], txin.previous_output.txid.as_byte_array());
        pair(&mut out, &[0x0f], &txin.previous_output.vout.to_le_bytes());
        pair(&mut out, &[0x10], &txin.sequence.0.to_le_bytes());
        if let Some(h) = required_height {
            pair(&mut out, &[0x12], &h.to_le_bytes());
        }
        for p in map_pairs(&v0, &mut at) {
            out.extend_from_slice(&p);
        }
        out.push(0);
    }
    for txout in &tx.output {
        pair(
            &mut out,
            &[0x03],
            &(txout.value.to_sat() as i64).to_le_bytes(),
        );
        pair(&mut out, &[0x04], txout.script_pubkey.as_bytes());
        for p in map_pairs(&v0, &mut at) {
            out.extend_from_slice(&p);
        }
        out.push(0);
    }
    assert_eq!(at, v0.len());
    out
}

#[test]
fn v2_reads_back_as_the_same_v0_psbt() {
    for text in [sortedmulti_2of3(), taproot_multi_a()] {
        let vault = vault(&text);
        let funding = funding(&vault, &[30_000, 20_000]);
        let psbt = spend(
            &vault,
            &funding,
            (foreign_script(), 40_000),
            Some(9_000),
            Sequence::ENABLE_RBF_NO_LOCKTIME,
        );
        let v2 = to_v2(&psbt, None);
        let back = parse_psbt(&v2).unwrap();
        assert_eq!(back, psbt);
        review(&vault, &back, &ReviewPolicy::default()).unwrap();
    }
}

#[test]
fn v2_required_height_lock_time_becomes_the_lock_time() {
    let vault = vault(&sortedmulti_2of3());
    let funding = funding(&vault, &[30_000]);
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 20_000),
        Some(9_000),
        Sequence::ENABLE_RBF_NO_LOCKTIME,
    );
    let back = parse_psbt(&to_v2(&psbt, Some(800_000))).unwrap();
    assert_eq!(back.unsigned_tx.lock_time.to_consensus_u32(), 800_000);
    assert_eq!(back.unsigned_tx.input, psbt.unsigned_tx.input);
}

#[test]
fn malformed_v2_is_refused() {
    let vault = vault(&sortedmulti_2of3());
    let funding = funding(&vault, &[30_000]);
    let psbt = spend(
        &vault,
        &funding,
        (foreign_script(), 20_000),
        Some(9_000),
        Sequence::MAX,
    );
    let v2 = to_v2(&psbt, None);
    for cut in [12, v2.len() / 2, v2.len() - 1] {
        let err = parse_psbt(&v2[..cut]).unwrap_err().to_string();
        assert!(
            err.contains("PSBT version 2") || err.contains("truncated"),
            "{cut}: {err}"
        );
    }
    // Missing PSBT_GLOBAL_TX_VERSION.
    let mut no_version = b"psbt\xff".to_vec();
    no_version.extend_from_slice(&[0x01, 0xfb, 0x04, 0x02, 0, 0, 0, 0x00]);
    let err = parse_psbt(&no_version).unwrap_err().to_string();
    assert!(err.contains("PSBT_GLOBAL_TX_VERSION is missing"), "{err}");
    // Version 3 is unknown.
    let mut v3 = b"psbt\xff".to_vec();
    v3.extend_from_slice(&[0x01, 0xfb, 0x04, 0x03, 0, 0, 0, 0x00]);
    let err = parse_psbt(&v3).unwrap_err().to_string();
    assert!(err.contains("version 3 is not supported"), "{err}");
}
