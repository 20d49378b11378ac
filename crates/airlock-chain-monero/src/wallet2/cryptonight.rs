//! CryptoNight, variant 0 (`cn_slow_hash`): the key-derivation hash wallet2 uses to turn a
//! secret into the ChaCha20 key of its export files (`crypto::generate_chacha_key`).
//!
//! There is no maintained crate for it in the RustCrypto generation Airlock pins, so the
//! algorithm (CryptoNote standard 008, as Monero's `slow-hash.c` runs it) is written here over
//! the field's own primitives: the Keccak-f\[1600\] permutation (`keccak`), AES rounds (`aes`'s
//! hazmat `cipher_round`), and three of the four final hashes (`groestl`, `jh`, `skein`); the
//! fourth, BLAKE-256, is [`super::blake256`]. Checked against Monero's `tests-slow.txt` vectors.
//!
//! It allocates a 2 MiB scratchpad per call and must never be used for proof of work or with
//! any variant other than 0.

use aes::Block;
use aes::hazmat::cipher_round;
use digest::Digest;

const SCRATCHPAD_BYTES: usize = 1 << 21;
const ITERATIONS: usize = 1 << 19;
const KECCAK_RATE: usize = 136;
const INIT_BYTES: usize = 128;
const ADDRESS_MASK: usize = (SCRATCHPAD_BYTES / 16 - 1) << 4;

/// Monero's `keccak1600`: original Keccak padding (0x01 … 0x80), rate 136 bytes, the whole
/// 200-byte state returned as 25 little-endian lanes.
fn keccak_state(data: &[u8]) -> [u64; 25] {
    let mut lanes = [0u64; 25];
    let absorb = |lanes: &mut [u64; 25], block: &[u8]| {
        for (lane, bytes) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane ^= u64::from_le_bytes(bytes.try_into().expect("eight bytes"));
        }
        keccak::f1600(lanes);
    };
    let mut blocks = data.chunks_exact(KECCAK_RATE);
    for block in blocks.by_ref() {
        absorb(&mut lanes, block);
    }
    let rest = blocks.remainder();
    let mut last = [0u8; KECCAK_RATE];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] = 0x01;
    last[KECCAK_RATE - 1] |= 0x80;
    absorb(&mut lanes, &last);
    lanes
}

fn lanes_to_bytes(lanes: &[u64; 25]) -> [u8; 200] {
    let mut bytes = [0u8; 200];
    for (chunk, lane) in bytes.chunks_exact_mut(8).zip(lanes) {
        chunk.copy_from_slice(&lane.to_le_bytes());
    }
    bytes
}

/// The AES S-box, computed (multiplicative inverse in GF(2^8), then the affine map).
fn sbox() -> [u8; 256] {
    fn multiply(mut a: u8, mut b: u8) -> u8 {
        let mut product = 0u8;
        while b != 0 {
            if b & 1 != 0 {
                product ^= a;
            }
            let carry = a & 0x80 != 0;
            a <<= 1;
            if carry {
                a ^= 0x1b;
            }
            b >>= 1;
        }
        product
    }
    let mut table = [0u8; 256];
    for (value, entry) in table.iter_mut().enumerate() {
        // x^254 = x^-1 in GF(2^8) (and 0 for 0).
        let mut inverse = 1u8;
        for _ in 0..254 {
            inverse = multiply(inverse, value as u8);
        }
        let inverse = if value == 0 { 0 } else { inverse };
        *entry = inverse
            ^ inverse.rotate_left(1)
            ^ inverse.rotate_left(2)
            ^ inverse.rotate_left(3)
            ^ inverse.rotate_left(4)
            ^ 0x63;
    }
    table
}

/// The first ten round keys of the AES-256 key schedule of `key` (CryptoNight uses no more).
fn round_keys(key: &[u8], sbox: &[u8; 256]) -> [Block; 10] {
    let mut words = [[0u8; 4]; 40];
    for (word, bytes) in words.iter_mut().zip(key.chunks_exact(4)) {
        word.copy_from_slice(bytes);
    }
    let mut round_constant = 1u8;
    for i in 8..40 {
        let mut temp = words[i - 1];
        if i % 8 == 0 {
            temp.rotate_left(1);
            temp = temp.map(|byte| sbox[byte as usize]);
            temp[0] ^= round_constant;
            round_constant =
                (round_constant << 1) ^ if round_constant & 0x80 != 0 { 0x1b } else { 0 };
        } else if i % 8 == 4 {
            temp = temp.map(|byte| sbox[byte as usize]);
        }
        for byte in 0..4 {
            words[i][byte] = words[i - 8][byte] ^ temp[byte];
        }
    }
    std::array::from_fn(|round| {
        let mut block = Block::default();
        for word in 0..4 {
            block[4 * word..4 * word + 4].copy_from_slice(&words[4 * round + word]);
        }
        block
    })
}

fn ten_rounds(block: &mut Block, keys: &[Block; 10]) {
    for key in keys {
        cipher_round(block, key);
    }
}

fn read_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("eight bytes"))
}

fn address(block: &[u8]) -> usize {
    u32::from_le_bytes(block[..4].try_into().expect("four bytes")) as usize & ADDRESS_MASK
}

fn xor_into(target: &mut [u8], other: &[u8]) {
    for (t, o) in target.iter_mut().zip(other) {
        *t ^= o;
    }
}

/// `cn_slow_hash(data, variant 0, not prehashed)`.
pub fn cn_slow_hash_v0(data: &[u8]) -> [u8; 32] {
    let sbox = sbox();
    let mut lanes = keccak_state(data);
    let mut state = lanes_to_bytes(&lanes);

    // Fill the scratchpad: the state's bytes 64..192, encrypted again and again.
    let keys = round_keys(&state[..32], &sbox);
    let mut scratchpad = vec![0u8; SCRATCHPAD_BYTES];
    let mut text = [0u8; INIT_BYTES];
    text.copy_from_slice(&state[64..64 + INIT_BYTES]);
    for chunk in scratchpad.chunks_exact_mut(INIT_BYTES) {
        for block in text.chunks_exact_mut(16) {
            let block = Block::from_mut_slice(block);
            ten_rounds(block, &keys);
        }
        chunk.copy_from_slice(&text);
    }

    // The memory-hard loop.
    let mut a = [0u8; 16];
    let mut b = [0u8; 16];
    for i in 0..16 {
        a[i] = state[i] ^ state[32 + i];
        b[i] = state[16 + i] ^ state[48 + i];
    }
    for _ in 0..ITERATIONS {
        let j = address(&a);
        let mut c1 = Block::clone_from_slice(&scratchpad[j..j + 16]);
        cipher_round(&mut c1, Block::from_slice(&a));
        let slot = &mut scratchpad[j..j + 16];
        slot.copy_from_slice(&c1);
        xor_into(slot, &b);

        let j = address(&c1);
        let c: [u8; 16] = scratchpad[j..j + 16].try_into().expect("sixteen bytes");
        let product = u128::from(read_u64(&c1)) * u128::from(read_u64(&c));
        let (high, low) = ((product >> 64) as u64, product as u64);
        let summed_low = read_u64(&a).wrapping_add(high);
        let summed_high = read_u64(&a[8..]).wrapping_add(low);
        scratchpad[j..j + 8].copy_from_slice(&summed_low.to_le_bytes());
        scratchpad[j + 8..j + 16].copy_from_slice(&summed_high.to_le_bytes());
        a[..8].copy_from_slice(&(summed_low ^ read_u64(&c)).to_le_bytes());
        a[8..].copy_from_slice(&(summed_high ^ read_u64(&c[8..])).to_le_bytes());
        b.copy_from_slice(&c1);
    }

    // Fold the scratchpad back into the state with the second key.
    let keys = round_keys(&state[32..64], &sbox);
    text.copy_from_slice(&state[64..64 + INIT_BYTES]);
    for chunk in scratchpad.chunks_exact(INIT_BYTES) {
        for (block, pad) in text.chunks_exact_mut(16).zip(chunk.chunks_exact(16)) {
            xor_into(block, pad);
            ten_rounds(Block::from_mut_slice(block), &keys);
        }
    }
    state[64..64 + INIT_BYTES].copy_from_slice(&text);
    for (lane, bytes) in lanes.iter_mut().zip(state.chunks_exact(8)) {
        *lane = u64::from_le_bytes(bytes.try_into().expect("eight bytes"));
    }
    keccak::f1600(&mut lanes);
    let state = lanes_to_bytes(&lanes);
    match state[0] & 3 {
        0 => super::blake256::blake256(&state),
        1 => groestl::Groestl256::digest(state).into(),
        2 => jh::Jh256::digest(state).into(),
        _ => skein::Skein512::<digest::consts::U32>::digest(state).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monero's `tests/hash/tests-slow.txt` (variant 0): hash, then the input.
    const SLOW_VECTORS: [(&str, &str); 4] = [
        (
            "2f8e3df40bd11f9ac90c743ca8e32bb391da4fb98612aa3b6cdc639ee00b31f5",
            "6465206f6d6e69627573206475626974616e64756d",
        ),
        (
            "722fa8ccd594d40e4a41f3822734304c8d5eff7e1b528408e2229da38ba553c4",
            "6162756e64616e732063617574656c61206e6f6e206e6f636574",
        ),
        (
            "bbec2cacf69866a8e740380fe7b818fc78f8571221742d729d9d02d7f8989b87",
            "63617665617420656d70746f72",
        ),
        (
            "b1257de4efc5ce28c6b40ceb1c6c8f812a64634eb3e81c5220bee9b2b76a6f05",
            "6578206e6968696c6f206e6968696c20666974",
        ),
    ];

    #[test]
    fn matches_monero_slow_hash_vectors() {
        for (expected, input) in SLOW_VECTORS {
            let hash = cn_slow_hash_v0(&hex::decode(input).unwrap());
            assert_eq!(hex::encode(hash), expected, "input {input}");
        }
    }
}
