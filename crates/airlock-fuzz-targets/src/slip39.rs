//! `slip39`: SLIP-39 shares (`airlock_custody::slip39`) and recovery from them.
//!
//! Two modes, by the first byte:
//! - `0x00..=0x7f` — **mnemonic text**: one share per line (at most 16). Each accepted share's
//!   `to_mnemonic` must be the input's words, lower case, single spaced, and parse to the same
//!   share; when every line is a share, the set goes through recovery (`recover`: share-set checks, interpolation, decryption).
//! - `0x80..=0xff` — **word indices with a valid checksum**: the harness turns bytes into 10-bit
//!   word indices (20-33 words) and appends the RS1024 checksum, computed here from the SLIP-39
//!   specification independently of the crate, so the fuzzer reaches the share-value, padding,
//!   parameter and recovery checks; the crate must never call such a share's checksum wrong.
//!   Several shares are separated by [`crate::parts`]'s marker and then go through the share-set
//!   checks and interpolation (without the PBKDF2 work, to keep this mode fast).

use airlock_custody::slip39::{self, Share, Slip39Error};

/// RS1024 over GF(1024) as SLIP-39 defines it (customization string, then the words).
fn polymod(values: impl IntoIterator<Item = u32>) -> u32 {
    const GEN: [u32; 10] = [
        0xE0E040, 0x1C1C080, 0x3838100, 0x7070200, 0xE0E0009, 0x1C0C2412, 0x38086C24, 0x3090FC48,
        0x21B1F890, 0x3F3F120,
    ];
    let mut chk = 1u32;
    for v in values {
        let top = chk >> 20;
        chk = ((chk & 0xFFFFF) << 10) ^ v;
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn with_checksum(mut words: Vec<u16>) -> Vec<u16> {
    let extendable = words.len() >= 2 && (words[1] >> 4) & 1 == 1;
    let custom: &[u8] = if extendable {
        b"shamir_extendable"
    } else {
        b"shamir"
    };
    let pm = polymod(
        custom
            .iter()
            .map(|&c| u32::from(c))
            .chain(words.iter().map(|&w| u32::from(w)))
            .chain([0, 0, 0]),
    ) ^ 1;
    words.extend([(pm >> 20) & 1023, (pm >> 10) & 1023, pm & 1023].map(|w| w as u16));
    words
}

fn mnemonic_from_bytes(bytes: &[u8]) -> String {
    let Some((&len, rest)) = bytes.split_first() else {
        return String::new();
    };
    let count = 17 + usize::from(len) % 14; // 17-30 words before the 3 checksum words
    let mut words = Vec::with_capacity(count + 3);
    let mut acc = 0u32;
    let mut bits = 0;
    let mut it = rest.iter();
    while words.len() < count {
        while bits < 10 {
            acc = (acc << 8) | u32::from(*it.next().unwrap_or(&0));
            bits += 8;
        }
        bits -= 10;
        words.push(((acc >> bits) & 1023) as u16);
        acc &= (1 << bits) - 1;
    }
    let list = slip39::wordlist();
    with_checksum(words)
        .iter()
        .map(|&w| list[w as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn check_share(text: &str) -> Option<Share> {
    let share = Share::parse(text).ok()?;
    let m = share.to_mnemonic();
    let normalized = text
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(*m, normalized, "to_mnemonic differs from the parsed words");
    assert_eq!(Share::parse(&m).ok().as_ref(), Some(&share));
    let _ = share.describe();
    Some(share)
}

/// A deterministic RNG for `extend` (fuzz runs must be reproducible). Not random at all: only
/// for the harness.
struct CountingRng(u64);

impl rand_core::RngCore for CountingRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for CountingRng {}

/// Recovery from `shares`: always the share-set checks and interpolation (through `extend`,
/// which re-splits an extendable backup without the PBKDF2 work); with `derive`, also the
/// passphrase decryption (`combine`, 10,000 PBKDF2 rounds at exponent 0), and then the new shares
/// of an extended backup must give the same secret as the old ones.
fn recover(shares: &[String], derive: bool) {
    let parsed: Vec<Share> = shares.iter().filter_map(|s| check_share(s)).collect();
    if parsed.is_empty() || parsed.len() != shares.len() {
        return;
    }
    let extended = slip39::extend(shares, 1, &[(1, 1)], &mut CountingRng(7));
    let mut new_share = None;
    if let Ok(groups) = &extended {
        let s: &str = &groups[0][0];
        let share = check_share(s).expect("a share made by extend parses");
        assert_ne!(share.identifier(), parsed[0].identifier());
        new_share = Some(s.to_owned());
    }
    if !derive || parsed.iter().any(|s| s.iteration_exponent() != 0) {
        return;
    }
    if let Ok(secret) = slip39::combine(shares, "TREZOR") {
        assert_eq!(secret.len(), parsed[0].value_len());
        if let Some(s) = new_share {
            let again = slip39::combine(&[s], "TREZOR").expect("extended share recovers");
            assert_eq!(*again, *secret, "an extended backup gives another secret");
        }
    }
}

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    if m < 0x80 {
        let text = String::from_utf8_lossy(rest);
        let lines: Vec<String> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(16)
            .map(str::to_owned)
            .collect();
        recover(&lines, true);
    } else {
        let shares: Vec<String> = crate::parts(rest, 16)
            .into_iter()
            .map(mnemonic_from_bytes)
            .collect();
        for s in &shares {
            if let Err(Slip39Error::Checksum { .. }) = Share::parse(s) {
                panic!("a share with a valid RS1024 checksum is refused for its checksum: {s}");
            }
        }
        recover(&shares, false);
    }
}
