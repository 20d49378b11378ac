//! Mnemonic seeds a Monero wallet is created from or restored with: the classic 25-word seed
//! (wallet2 / Feather "Monero" seed, English) and the 16-word polyseed (Feather's default).
//!
//! The crates.io `monero-seed` and `polyseed` crates are empty placeholders (0.0.1), so both
//! encodings are implemented here from their published formats:
//!
//! - 25 words: the 32-byte secret spend key as 8 little-endian `u32`s, each as 3 words of the
//!   1626-word English list (`w1 = x mod n`, `w2 = (x/n + w1) mod n`, `w3 = (x/n² + w2) mod n`),
//!   then a checksum word chosen by CRC-32 of the 24 words' 3-letter prefixes. Words may be given by
//!   their 3-letter unique prefix. Restoring reduces the 32 bytes mod l (wallet2's `sc_reduce32`).
//! - Polyseed: 16 words of the BIP-39 English list, coefficients of a polynomial over GF(2¹¹)
//!   whose value at 2 is 0 (checksum word first); 150 secret bits, a 10-bit birthday (months since
//!   November 2021) and 5 feature bits. The spend key is `sc_reduce32(PBKDF2-HMAC-SHA256(secret,
//!   "POLYSEED key"…coin‖birthday‖features, 10000, 32))`, coin 0 = Monero. Encrypted polyseeds
//!   (passphrase feature) are refused with a clear error.
//!
//! This module must never print or log a phrase or secret; phrases are returned in [`Zeroizing`]
//! strings.

use std::sync::OnceLock;

use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::error::MoneroError;
use crate::keys::WalletKeys;

const LEGACY_WORDS: usize = 1626;
const LEGACY_PREFIX: usize = 3;

fn legacy_list() -> &'static [&'static str] {
    static LIST: OnceLock<Vec<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        let list: Vec<&'static str> = include_str!("wordlists/monero_english.txt")
            .lines()
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(list.len(), LEGACY_WORDS, "bundled Monero English word list");
        list
    })
}

fn prefix(word: &str, n: usize) -> &str {
    match word.char_indices().nth(n) {
        Some((i, _)) => &word[..i],
        None => word,
    }
}

fn legacy_index(word: &str) -> Result<usize, MoneroError> {
    let list = legacy_list();
    if let Some(i) = list.iter().position(|w| *w == word) {
        return Ok(i);
    }
    if word.chars().count() >= LEGACY_PREFIX {
        let p = prefix(word, LEGACY_PREFIX);
        if let Some(i) = list.iter().position(|w| prefix(w, LEGACY_PREFIX) == p) {
            return Ok(i);
        }
    }
    Err(MoneroError::invalid(format!(
        "{word:?} is not a word of the Monero English seed list"
    )))
}

fn legacy_checksum_index(words: &[&str]) -> usize {
    let mut joined = Zeroizing::new(String::new());
    for w in words {
        joined.push_str(prefix(w, LEGACY_PREFIX));
    }
    (crc32fast::hash(joined.as_bytes()) as usize) % words.len()
}

/// The 25-word seed of a 32-byte secret spend key.
pub fn legacy_seed_from_key(key: &[u8; 32]) -> Zeroizing<String> {
    let list = legacy_list();
    let n = LEGACY_WORDS as u64;
    let mut words: Vec<&str> = Vec::with_capacity(25);
    for chunk in key.chunks(4) {
        let x = u64::from(u32::from_le_bytes(chunk.try_into().expect("4-byte chunk")));
        let w1 = x % n;
        let w2 = (x / n + w1) % n;
        let w3 = (x / n / n + w2) % n;
        words.extend([list[w1 as usize], list[w2 as usize], list[w3 as usize]]);
    }
    let check = words[legacy_checksum_index(&words)];
    words.push(check);
    Zeroizing::new(words.join(" "))
}

/// The 32 bytes a 25-word seed encodes (not yet reduced mod l). Refuses a wrong word count, an
/// unknown word, a bad checksum word or an impossible word triple.
pub fn legacy_seed_to_key(phrase: &str) -> Result<Zeroizing<[u8; 32]>, MoneroError> {
    let lowered = Zeroizing::new(phrase.to_lowercase());
    let words: Vec<&str> = lowered.split_whitespace().collect();
    if words.len() != 25 {
        return Err(MoneroError::invalid(format!(
            "a Monero seed has 25 words, this one has {}",
            words.len()
        )));
    }
    let mut indices = Zeroizing::new(Vec::with_capacity(25));
    for w in &words {
        indices.push(legacy_index(w)?);
    }
    let expected = legacy_checksum_index(&words[..24]);
    if prefix(words[24], LEGACY_PREFIX) != prefix(words[expected], LEGACY_PREFIX) {
        return Err(MoneroError::invalid(
            "the seed's checksum (25th) word does not match: a word is mistyped or out of order",
        ));
    }
    let n = LEGACY_WORDS as u64;
    let mut key = Zeroizing::new([0u8; 32]);
    for (i, triple) in indices[..24].chunks(3).enumerate() {
        let (w1, w2, w3) = (triple[0] as u64, triple[1] as u64, triple[2] as u64);
        let x = w1 + n * ((n - w1 + w2) % n) + n * n * ((n - w2 + w3) % n);
        if x % n != w1 || x > u64::from(u32::MAX) {
            return Err(MoneroError::invalid(format!(
                "seed words {}–{} do not encode a valid value",
                3 * i + 1,
                3 * i + 3
            )));
        }
        key[4 * i..4 * i + 4].copy_from_slice(&(x as u32).to_le_bytes());
    }
    Ok(key)
}

// ---------------------------------------------------------------------------------------------
// Polyseed

const POLY_WORDS: usize = 16;
const POLY_SECRET_BITS: usize = 150;
const POLY_SECRET_SIZE: usize = 19;
const POLY_CLEAR_MASK: u8 = 0x3f;
const POLY_DATE_BITS: u32 = 10;
const POLY_DATE_MASK: u32 = (1 << POLY_DATE_BITS) - 1;
const POLY_FEATURE_BITS: u32 = 5;
const POLY_ENCRYPTED_MASK: u32 = 16;
const POLY_EPOCH: u64 = 1_635_768_000;
const POLY_TIME_STEP: u64 = 2_629_746;
const POLY_KDF_ITERATIONS: u32 = 10_000;
/// Polyseed's coin number for Monero.
const POLY_COIN_MONERO: u32 = 0;

fn gf_mul2(x: u32) -> u32 {
    const TABLE: [u32; 8] = [5, 7, 1, 3, 13, 15, 9, 11];
    if x < 1024 {
        2 * x
    } else {
        TABLE[(x % 8) as usize] + 16 * ((x - 1024) / 8)
    }
}

fn gf_eval(coeff: &[u32; POLY_WORDS]) -> u32 {
    let mut result = coeff[POLY_WORDS - 1];
    for i in (0..POLY_WORDS - 1).rev() {
        result = gf_mul2(result) ^ coeff[i];
    }
    result
}

/// A decoded polyseed: its secret, birthday and features.
pub struct Polyseed {
    secret: Zeroizing<[u8; 32]>,
    birthday: u32,
    features: u32,
}

impl std::fmt::Debug for Polyseed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Polyseed")
            .field("birthday", &self.birthday)
            .finish_non_exhaustive()
    }
}

impl Polyseed {
    /// A fresh polyseed with today's birthday (`unix_time` seconds).
    pub fn random(rng: &mut (impl RngCore + CryptoRng), unix_time: u64) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut secret[..POLY_SECRET_SIZE]);
        secret[POLY_SECRET_SIZE - 1] &= POLY_CLEAR_MASK;
        let birthday = if unix_time < POLY_EPOCH {
            0
        } else {
            (((unix_time - POLY_EPOCH) / POLY_TIME_STEP) as u32) & POLY_DATE_MASK
        };
        Polyseed {
            secret,
            birthday,
            features: 0,
        }
    }

    /// Decodes a 16-word English polyseed. Words may be abbreviated to a unique prefix of at
    /// least 4 letters.
    pub fn from_phrase(phrase: &str) -> Result<Self, MoneroError> {
        let lowered = Zeroizing::new(phrase.to_lowercase());
        let words: Vec<&str> = lowered.split_whitespace().collect();
        if words.len() != POLY_WORDS {
            return Err(MoneroError::invalid(format!(
                "a polyseed has 16 words, this one has {}",
                words.len()
            )));
        }
        let list = bip39::Language::English.word_list();
        let mut coeff = [0u32; POLY_WORDS];
        for (i, w) in words.iter().enumerate() {
            let found = match list.iter().position(|x| x == w) {
                Some(p) => Some(p),
                None if w.len() >= 4 => {
                    let mut matches = list.iter().enumerate().filter(|(_, x)| x.starts_with(w));
                    match (matches.next(), matches.next()) {
                        (Some((p, _)), None) => Some(p),
                        _ => None,
                    }
                }
                None => None,
            };
            coeff[i] = found.ok_or_else(|| {
                MoneroError::invalid(format!(
                    "word {} ({w:?}) is not a word of the polyseed English list",
                    i + 1
                ))
            })? as u32;
        }
        coeff[1] ^= POLY_COIN_MONERO;
        if gf_eval(&coeff) != 0 {
            coeff.zeroize();
            return Err(MoneroError::invalid(
                "the polyseed checksum does not match: a word is mistyped or out of order (or it is not a Monero polyseed)",
            ));
        }
        let seed = Self::from_coefficients(&coeff);
        coeff.zeroize();
        if seed.features & !POLY_ENCRYPTED_MASK != 0 {
            return Err(MoneroError::invalid(
                "this polyseed uses features this wallet does not support",
            ));
        }
        if seed.features & POLY_ENCRYPTED_MASK != 0 {
            return Err(MoneroError::invalid(
                "this polyseed is encrypted with a passphrase, which is not supported here",
            ));
        }
        Ok(seed)
    }

    fn from_coefficients(coeff: &[u32; POLY_WORDS]) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        let mut extra: u32 = 0;
        let mut idx = 0usize;
        let mut bits_in_byte = 0u32;
        for &c in &coeff[1..] {
            let mut word = c;
            extra = (extra << 1) | (word & 1);
            word >>= 1;
            let mut word_bits = 10u32;
            while word_bits > 0 {
                if bits_in_byte == 8 {
                    idx += 1;
                    bits_in_byte = 0;
                }
                let chunk = word_bits.min(8 - bits_in_byte);
                word_bits -= chunk;
                let mask = (1u32 << chunk) - 1;
                secret[idx] =
                    ((u32::from(secret[idx]) << chunk) as u8) | ((word >> word_bits) & mask) as u8;
                bits_in_byte += chunk;
            }
        }
        debug_assert_eq!(idx * 8 + bits_in_byte as usize, POLY_SECRET_BITS);
        Polyseed {
            secret,
            birthday: extra & POLY_DATE_MASK,
            features: extra >> POLY_DATE_BITS,
        }
    }

    fn to_coefficients(&self) -> Zeroizing<[u32; POLY_WORDS]> {
        let mut coeff = Zeroizing::new([0u32; POLY_WORDS]);
        let extra_val = (self.features << POLY_DATE_BITS) | self.birthday;
        let mut extra_bits = POLY_FEATURE_BITS + POLY_DATE_BITS;
        let mut idx = 0usize;
        let mut secret_bits = 8u32;
        let mut remaining = (POLY_SECRET_BITS - 8) as u32;
        for slot in coeff.iter_mut().skip(1) {
            let mut word_val = 0u32;
            let mut word_bits = 0u32;
            while word_bits < 10 {
                if secret_bits == 0 {
                    idx += 1;
                    secret_bits = remaining.min(8);
                    remaining -= secret_bits;
                }
                let chunk = secret_bits.min(10 - word_bits);
                secret_bits -= chunk;
                word_bits += chunk;
                word_val = (word_val << chunk)
                    | ((u32::from(self.secret[idx]) >> secret_bits) & ((1 << chunk) - 1));
            }
            extra_bits -= 1;
            *slot = (word_val << 1) | ((extra_val >> extra_bits) & 1);
        }
        coeff[0] = gf_eval(&coeff);
        coeff
    }

    /// The 16-word English phrase.
    pub fn to_phrase(&self) -> Zeroizing<String> {
        let list = bip39::Language::English.word_list();
        let mut coeff = self.to_coefficients();
        coeff[1] ^= POLY_COIN_MONERO;
        let words: Vec<&str> = coeff.iter().map(|&c| list[c as usize]).collect();
        Zeroizing::new(words.join(" "))
    }

    /// The birthday as a Unix time (the start of the month the seed was made in).
    pub fn birthday_unix_time(&self) -> u64 {
        POLY_EPOCH + u64::from(self.birthday) * POLY_TIME_STEP
    }

    /// The 32-byte key polyseed derives for Monero (before reduction mod l).
    fn derive_key(&self) -> Zeroizing<[u8; 32]> {
        let mut salt = [0u8; 32];
        salt[..12].copy_from_slice(b"POLYSEED key");
        salt[13..16].copy_from_slice(&[0xff, 0xff, 0xff]);
        salt[16..20].copy_from_slice(&POLY_COIN_MONERO.to_le_bytes());
        salt[20..24].copy_from_slice(&self.birthday.to_le_bytes());
        salt[24..28].copy_from_slice(&self.features.to_le_bytes());
        let mut key = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(
            self.secret.as_ref(),
            &salt,
            POLY_KDF_ITERATIONS,
            key.as_mut(),
        );
        key
    }

    /// The Monero wallet keys this polyseed derives: spend key = the derived key mod l.
    pub fn wallet_keys(&self) -> Result<WalletKeys, MoneroError> {
        WalletKeys::from_seed_bytes(&self.derive_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // tevador/polyseed's test vector: secret dd76…f3 (cleared to …33), birthday month 1
    // (Dec 2021), no features.
    const VECTOR: &str = "raven tail swear infant grief assist regular lamp duck valid someone little harsh puppy airport language";

    #[test]
    fn polyseed_vector_decodes_and_roundtrips() {
        let seed = Polyseed::from_phrase(VECTOR).unwrap();
        assert_eq!(
            hex::encode(&seed.secret[..]),
            "dd76e7359a0ded37cd0ff0f3c829a5ae01673300000000000000000000000000"
        );
        assert_eq!(seed.birthday, 1);
        assert_eq!(seed.features, 0);
        assert_eq!(seed.to_phrase().as_str(), VECTOR);
        // Abbreviations (4-letter prefixes) decode to the same seed.
        let short =
            "rave tail swea infan grie assi regul lamp duck vali some litt hars pupp airp langua";
        assert_eq!(Polyseed::from_phrase(short).unwrap().secret, seed.secret);
    }

    // cake-tech/polyseed_dart's vector: phrase → birthday and derived key.
    #[test]
    fn polyseed_key_derivation_matches_an_independent_implementation() {
        let seed = Polyseed::from_phrase(
            "unaware yard donate shallow slot sing oil oxygen loyal bench near hill surround forum execute lamp",
        )
        .unwrap();
        assert_eq!(seed.birthday_unix_time(), 1_693_622_412);
        assert_eq!(
            hex::encode(*seed.derive_key()),
            "cbbd142d38347773d44aa830f5f01442aa6d0d3bb48571884479531248e6fa1c"
        );
        let key: [u8; 32] =
            hex::decode("cbbd142d38347773d44aa830f5f01442aa6d0d3bb48571884479531248e6fa1c")
                .unwrap()
                .try_into()
                .unwrap();
        assert_eq!(
            *seed.wallet_keys().unwrap().spend_secret_bytes(),
            curve25519_dalek::Scalar::from_bytes_mod_order(key).to_bytes()
        );
    }

    #[test]
    fn polyseed_rejects_typos_and_counts() {
        let swapped = VECTOR.replacen("raven tail", "tail raven", 1);
        assert!(
            Polyseed::from_phrase(&swapped)
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
        let bad = VECTOR.replacen("infant", "infantile", 1);
        assert!(
            Polyseed::from_phrase(&bad)
                .unwrap_err()
                .to_string()
                .contains("word 4")
        );
        assert!(
            Polyseed::from_phrase("raven tail")
                .unwrap_err()
                .to_string()
                .contains("16 words")
        );
    }

    #[test]
    fn random_polyseed_roundtrips() {
        for _ in 0..20 {
            let seed = Polyseed::random(&mut rand_core::OsRng, 1_763_790_000);
            let back = Polyseed::from_phrase(&seed.to_phrase()).unwrap();
            assert_eq!(back.secret, seed.secret);
            assert_eq!(back.birthday, seed.birthday);
        }
    }

    #[test]
    fn legacy_seed_vector_and_roundtrip() {
        // python `monero` 1.1.1: Seed("00…01").phrase
        let mut key = [0u8; 32];
        key[31] = 1;
        assert_eq!(
            legacy_seed_from_key(&key).as_str(),
            "abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey abbey bamboo jaws jerseys abbey"
        );
        for _ in 0..20 {
            let keys = WalletKeys::random(&mut rand_core::OsRng);
            let phrase = legacy_seed_from_key(&keys.spend_secret_bytes());
            let back = legacy_seed_to_key(&phrase).unwrap();
            assert_eq!(*back, *keys.spend_secret_bytes());
        }
    }

    #[test]
    fn legacy_seed_rejects_bad_checksum_and_words() {
        let keys = WalletKeys::random(&mut rand_core::OsRng);
        let phrase = legacy_seed_from_key(&keys.spend_secret_bytes());
        // A wrong checksum word (the legacy checksum catches most but not all swaps, so the test
        // changes the checksum word itself).
        let mut words: Vec<&str> = phrase.split(' ').collect();
        words[24] = if words[24].starts_with("abb") {
            "zoom"
        } else {
            "abbey"
        };
        let err = legacy_seed_to_key(&words.join(" "))
            .unwrap_err()
            .to_string();
        assert!(err.contains("checksum"), "{err}");
        let err = legacy_seed_to_key("abbey abbey").unwrap_err().to_string();
        assert!(err.contains("25 words"), "{err}");
        let mut words: Vec<&str> = phrase.split(' ').collect();
        words[3] = "zzzzz";
        let err = legacy_seed_to_key(&words.join(" "))
            .unwrap_err()
            .to_string();
        assert!(err.contains("zzzzz"), "{err}");
    }
}
