//! BLAKE-256 (the SHA-3 finalist, 14 rounds), one of CryptoNight's four final hashes.
//!
//! No maintained crate of the RustCrypto generation Airlock pins implements BLAKE-256 (only
//! BLAKE2), so it is written here from the BLAKE specification (Aumasson et al., version 1.3):
//! SHA-256's initial value, the sixteen words of π as constants, BLAKE2's message schedule, no
//! salt. It is used only inside [`super::cryptonight`] and is checked against Monero's own test
//! vectors. It must never be used as a general-purpose hash.

const INITIAL_VALUE: [u32; 8] = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
];

const PI_WORDS: [u32; 16] = [
    0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344, 0xA4093822, 0x299F31D0, 0x082EFA98, 0xEC4E6C89,
    0x452821E6, 0x38D01377, 0xBE5466CF, 0x34E90C6C, 0xC0AC29B7, 0xC97C50DD, 0x3F84D5B5, 0xB5470917,
];

const SCHEDULE: [[usize; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

const ROUNDS: usize = 14;

fn compress(chain: &mut [u32; 8], block: &[u8; 64], bits_so_far: u64) {
    let mut message = [0u32; 16];
    for (word, bytes) in message.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes(bytes.try_into().expect("four bytes"));
    }
    let (low, high) = (bits_so_far as u32, (bits_so_far >> 32) as u32);
    let mut v = [0u32; 16];
    v[..8].copy_from_slice(chain);
    v[8..12].copy_from_slice(&PI_WORDS[..4]);
    v[12] = low ^ PI_WORDS[4];
    v[13] = low ^ PI_WORDS[5];
    v[14] = high ^ PI_WORDS[6];
    v[15] = high ^ PI_WORDS[7];
    const STEPS: [[usize; 4]; 8] = [
        [0, 4, 8, 12],
        [1, 5, 9, 13],
        [2, 6, 10, 14],
        [3, 7, 11, 15],
        [0, 5, 10, 15],
        [1, 6, 11, 12],
        [2, 7, 8, 13],
        [3, 4, 9, 14],
    ];
    for round in 0..ROUNDS {
        let sigma = &SCHEDULE[round % 10];
        for (step, &[a, b, c, d]) in STEPS.iter().enumerate() {
            let (first, second) = (sigma[2 * step], sigma[2 * step + 1]);
            v[a] = v[a]
                .wrapping_add(v[b])
                .wrapping_add(message[first] ^ PI_WORDS[second]);
            v[d] = (v[d] ^ v[a]).rotate_right(16);
            v[c] = v[c].wrapping_add(v[d]);
            v[b] = (v[b] ^ v[c]).rotate_right(12);
            v[a] = v[a]
                .wrapping_add(v[b])
                .wrapping_add(message[second] ^ PI_WORDS[first]);
            v[d] = (v[d] ^ v[a]).rotate_right(8);
            v[c] = v[c].wrapping_add(v[d]);
            v[b] = (v[b] ^ v[c]).rotate_right(7);
        }
    }
    for i in 0..8 {
        chain[i] ^= v[i] ^ v[i + 8];
    }
}

/// BLAKE-256 of `data`.
pub fn blake256(data: &[u8]) -> [u8; 32] {
    let mut chain = INITIAL_VALUE;
    let total_bits = (data.len() as u64) * 8;
    let mut blocks = data.chunks_exact(64);
    let mut hashed_bits = 0u64;
    for block in blocks.by_ref() {
        hashed_bits += 512;
        compress(&mut chain, block.try_into().expect("64 bytes"), hashed_bits);
    }
    let rest = blocks.remainder();
    // Padding: a one bit, zeros, a one bit, then the 64-bit big-endian message length.
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let tail_len = if rest.len() <= 55 { 64 } else { 128 };
    tail[tail_len - 9] |= 0x01;
    tail[tail_len - 8..tail_len].copy_from_slice(&total_bits.to_be_bytes());
    // The counter counts message bits only; a block holding none of them counts zero.
    let first_counter = if rest.is_empty() { 0 } else { total_bits };
    compress(
        &mut chain,
        tail[..64].try_into().expect("64 bytes"),
        first_counter,
    );
    if tail_len == 128 {
        compress(&mut chain, tail[64..].try_into().expect("64 bytes"), 0);
    }
    let mut out = [0u8; 32];
    for (bytes, word) in out.chunks_exact_mut(4).zip(chain) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of Monero's `tests/hash/tests-extra-blake.txt` (hash, then input; `x` is empty),
    /// chosen to cover one-block, two-block and padding-only final blocks.
    const VECTORS: [(&str, &str); 7] = [
        (
            "716f6e863f744b9ac22c97ec7b76ea5f5908bc5b2f67c61510bfc4751384ea7a",
            "",
        ),
        (
            "e104256a2bc501f459d03fac96b9014f593e22d30f4de525fa680c3aa189eb4f",
            "cc",
        ),
        (
            "ad373db6defaefbeeff69e78e220a4ca9ef510ad5f85f0c698a749e0e6dcaeb5",
            "de286ba4206e8b005714f80fb1cdfaebde91d29f84603e4a3ebc04686f99a46c9e880b96c574825582e8812a26e5a857ffc6579f63742f",
        ),
        (
            "cad656a57a59591a03e7b540a1e5a76a7645a60228e1057ea39b34f6b691510d",
            "eebcc18057252cbf3f9c070f1a73213356d5d4bc19ac2a411ec8cdeee7a571e2e20eaf61fd0c33a0ffeb297ddb77a97f0a415347db66bcaf",
        ),
        (
            "a17d2cdd3e3fd0aa2790ee8c3802606b46ae91b66db66684a56768fe52fb9760",
            "f57c64006d9ea761892e145c99df1b24640883da79d9ed5262859dcda8c3c32e05b03d984f1ab4a230242ab6b78d368dc5aaa1e6d3498d53371e84b0c1d4ba",
        ),
        (
            "f76305a1bb52917ce0882111f20f57eb51ee545cf064ce331a61d35ef17272c3",
            "e926ae8b0af6e53176dbffcc2a6b88c6bd765f939d3d178a9bde9ef3aa131c61e31c1e42cdfaf4b4dcde579a37e150efbef5555b4c1cb40439d835a724e2fae7",
        ),
        (
            "9213860134edd9693b7455405a1139e72fc1637fc7c6f4deb05950fe1cc4c8ae",
            "b771d5cef5d1a41a93d15643d7181d2a2ef0a8e84d91812f20ed21f147bef732bf3a60ef4067c3734b85bc8cd471780f10dc9e8291b58339a677b960218f71e793f2797aea349406512829065d37bb55ea796fa4f56fd8896b49b2cd19b43215ad967c712b24e5032d065232e02c127409d2ed4146b9d75d763d52db98d949d3b0fed6a8052fbb",
        ),
    ];

    #[test]
    fn matches_monero_blake_vectors() {
        for (expected, input) in VECTORS {
            let hash = blake256(&hex::decode(input).unwrap());
            assert_eq!(hex::encode(hash), expected, "input {input}");
        }
    }
}
