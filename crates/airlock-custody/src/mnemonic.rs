//! BIP-39 mnemonics (English word list): generation, restore, seed, BIP-32 master fingerprint,
//! and re-verifying a written-down backup.
//!
//! The word list, checksum and seed derivation are rust-bitcoin's `bip39` crate. What is ours:
//!
//! * [`generate`] takes its entropy from the operating system and, if the person supplies some of
//!   their own (dice rolls, coin flips, anything typed), **mixes** it in:
//!   `SHA-256("airlock-bip39-entropy-v1" || len(os) || os || len(user) || user)`, truncated to the
//!   entropy length. Person-supplied entropy never *replaces* the operating system's: weak or
//!   manipulated dice cannot make the mnemonic weaker than the OS random number generator alone,
//!   and good dice protect against a backdoored generator.
//! * [`master_fingerprint`]: the BIP-32 master key fingerprint (first four bytes of
//!   HASH160 of the master public key, compressed), which identifies a wallet without revealing
//!   anything usable about it. A signer can show it, and [`verify_backup`] lets a person retype a
//!   written-down mnemonic and learn whether it matches, without the signer ever showing the words
//!   again.
//!
//! Rules: never log or print the words, the entropy or the seed except where the person asked for
//! them (the `backup bip39-new` command); they are held in zeroizing memory (`bip39::Mnemonic`
//! zeroizes itself on drop). Errors never contain a word.

use std::fmt;

use hmac::{Hmac, Mac as _};
use k256::elliptic_curve::sec1::ToEncodedPoint as _;
use rand_core::{OsRng, RngCore as _};
use ripemd::Ripemd160;
use sha2::{Digest as _, Sha256, Sha512};
use zeroize::Zeroizing;

pub use bip39::Mnemonic;

/// Domain separation for mixing person-supplied entropy.
const MIX_DOMAIN: &[u8] = b"airlock-bip39-entropy-v1";

/// Why a mnemonic operation failed. Messages never contain a word of the mnemonic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MnemonicError {
    /// Only 12, 15, 18, 21 or 24 words exist.
    #[error("{0} words: a BIP-39 mnemonic has 12, 15, 18, 21 or 24 words")]
    WordCount(usize),
    /// A word is not in the BIP-39 English list.
    #[error("word {0} is not in the BIP-39 English word list")]
    UnknownWord(usize),
    /// The checksum does not match (a word is wrong or the order is).
    #[error("the mnemonic's checksum does not match: a word is wrong or out of order")]
    Checksum,
    /// Dice rolls must be digits 1 to 6.
    #[error(
        "dice rolls must be the digits 1 to 6 (spaces allowed); found something else at position {0}"
    )]
    BadDice(usize),
    /// The master key derived from this seed is invalid (probability about 2^-127).
    #[error("this seed gives an invalid BIP-32 master key")]
    InvalidMasterKey,
    /// A fingerprint is not 8 hex digits.
    #[error("a fingerprint is 8 hex digits")]
    BadFingerprint,
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Randomness(String),
    /// Any other error of the bip39 crate.
    #[error("invalid mnemonic: {0}")]
    Other(String),
}

fn map_bip39(e: bip39::Error) -> MnemonicError {
    match e {
        bip39::Error::BadWordCount(n) => MnemonicError::WordCount(n),
        bip39::Error::UnknownWord(i) => MnemonicError::UnknownWord(i + 1),
        bip39::Error::InvalidChecksum => MnemonicError::Checksum,
        other => MnemonicError::Other(other.to_string()),
    }
}

/// Person-supplied entropy from dice rolls: the digits 1-6 (whitespace ignored). Returns the
/// rolls as bytes and the entropy they carry in bits (log2(6) each), for the person to judge.
pub fn dice_entropy(rolls: &str) -> Result<(Zeroizing<Vec<u8>>, f64), MnemonicError> {
    let mut out = Zeroizing::new(Vec::with_capacity(rolls.len()));
    for (i, c) in rolls.chars().enumerate() {
        if c.is_whitespace() {
            continue;
        }
        match c {
            '1'..='6' => out.push(c as u8),
            _ => return Err(MnemonicError::BadDice(i + 1)),
        }
    }
    let bits = out.len() as f64 * 6f64.log2();
    Ok((out, bits))
}

/// A new mnemonic of `words` words (12, 15, 18, 21 or 24) from the operating system's random
/// number generator, mixed with `user_entropy` if given (see the module docs).
pub fn generate(words: usize, user_entropy: Option<&[u8]>) -> Result<Mnemonic, MnemonicError> {
    if !matches!(words, 12 | 15 | 18 | 21 | 24) {
        return Err(MnemonicError::WordCount(words));
    }
    let mut os = Zeroizing::new([0u8; 32]);
    OsRng
        .try_fill_bytes(os.as_mut())
        .map_err(|e| MnemonicError::Randomness(e.to_string()))?;
    generate_from(words, &os, user_entropy)
}

/// [`generate`] with the OS entropy given (for tests of the mixing).
fn generate_from(
    words: usize,
    os: &[u8; 32],
    user_entropy: Option<&[u8]>,
) -> Result<Mnemonic, MnemonicError> {
    let len = words * 4 / 3;
    let mut entropy = Zeroizing::new([0u8; 32]);
    match user_entropy {
        None => entropy.copy_from_slice(os),
        Some(user) => {
            let mut h = Sha256::new();
            h.update(MIX_DOMAIN);
            h.update((os.len() as u64).to_be_bytes());
            h.update(os);
            h.update((user.len() as u64).to_be_bytes());
            h.update(user);
            entropy.copy_from_slice(&h.finalize());
        }
    }
    Mnemonic::from_entropy(&entropy[..len]).map_err(map_bip39)
}

/// Parses a written-down mnemonic: English words, any case, any whitespace between them.
pub fn restore(words: &str) -> Result<Mnemonic, MnemonicError> {
    let mut normalized = Zeroizing::new(String::with_capacity(words.len()));
    for (i, w) in words.split_whitespace().enumerate() {
        if i > 0 {
            normalized.push(' ');
        }
        for c in w.chars() {
            normalized.extend(c.to_lowercase());
        }
    }
    Mnemonic::parse_in_normalized(bip39::Language::English, &normalized).map_err(map_bip39)
}

/// The 64-byte BIP-39 seed of `mnemonic` with `passphrase` (empty for none).
pub fn seed(mnemonic: &Mnemonic, passphrase: &str) -> Zeroizing<[u8; 64]> {
    Zeroizing::new(mnemonic.to_seed(passphrase))
}

/// A BIP-32 key fingerprint: the first 4 bytes of HASH160 of the compressed public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 4]);

impl Fingerprint {
    /// Parses 8 hex digits.
    pub fn from_hex(s: &str) -> Result<Fingerprint, MnemonicError> {
        let s = s.trim();
        if s.len() != 8 || !s.is_ascii() {
            return Err(MnemonicError::BadFingerprint);
        }
        let mut out = [0u8; 4];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
                .map_err(|_| MnemonicError::BadFingerprint)?;
        }
        Ok(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The BIP-32 master key fingerprint of a seed: the master secret key is the left half of
/// HMAC-SHA512(key = "Bitcoin seed", seed); the fingerprint is HASH160 of its compressed public
/// key, first 4 bytes.
pub fn master_fingerprint(seed: &[u8]) -> Result<Fingerprint, MnemonicError> {
    let mut mac = <Hmac<Sha512> as hmac::Mac>::new_from_slice(b"Bitcoin seed")
        .expect("HMAC accepts keys of any length");
    mac.update(seed);
    let mut i = Zeroizing::new([0u8; 64]);
    i.copy_from_slice(&mac.finalize().into_bytes());
    let key = k256::SecretKey::from_slice(&i[..32]).map_err(|_| MnemonicError::InvalidMasterKey)?;
    let public = key.public_key().to_encoded_point(true);
    let sha = Sha256::digest(public.as_bytes());
    let hash160 = Ripemd160::digest(sha);
    let mut fp = [0u8; 4];
    fp.copy_from_slice(&hash160[..4]);
    Ok(Fingerprint(fp))
}

/// The master fingerprint of `mnemonic` with `passphrase`.
pub fn mnemonic_fingerprint(
    mnemonic: &Mnemonic,
    passphrase: &str,
) -> Result<Fingerprint, MnemonicError> {
    master_fingerprint(seed(mnemonic, passphrase).as_ref())
}

/// Re-checks a written-down backup: parses `words` and tells whether, with `passphrase`, they give
/// the `expected` master fingerprint. Nothing about the words is returned or shown.
pub fn verify_backup(
    words: &str,
    passphrase: &str,
    expected: Fingerprint,
) -> Result<bool, MnemonicError> {
    let m = restore(words)?;
    Ok(mnemonic_fingerprint(&m, passphrase)? == expected)
}

impl airlock_severity::Classify for MnemonicError {
    fn severity(&self) -> airlock_severity::Severity {
        airlock_severity::Severity::Refused
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_entropy_is_mixed_not_substituted() {
        let os1 = [1u8; 32];
        let os2 = [2u8; 32];
        let dice = b"123456";
        let a = generate_from(24, &os1, Some(dice)).unwrap();
        let b = generate_from(24, &os2, Some(dice)).unwrap();
        let c = generate_from(24, &os1, None).unwrap();
        assert_ne!(
            a.to_entropy(),
            b.to_entropy(),
            "same dice, different OS entropy"
        );
        assert_ne!(a.to_entropy(), c.to_entropy(), "dice change the result");
        assert_eq!(c.to_entropy(), os1.to_vec());
        assert_eq!(generate_from(12, &os1, None).unwrap().word_count(), 12);
    }

    #[test]
    fn generate_gives_fresh_valid_mnemonics() {
        let a = generate(24, None).unwrap();
        let b = generate(24, Some(b"6666")).unwrap();
        assert_eq!(a.word_count(), 24);
        assert_ne!(a.to_entropy(), b.to_entropy());
        assert!(generate(13, None).is_err());
    }

    #[test]
    fn dice_parsing() {
        let (d, bits) = dice_entropy("1 2 3\n456").unwrap();
        assert_eq!(d.as_slice(), b"123456");
        assert!((bits - 15.5).abs() < 0.1);
        assert_eq!(dice_entropy("1270").unwrap_err(), MnemonicError::BadDice(3));
    }

    #[test]
    fn fingerprint_hex_round_trips() {
        let f = Fingerprint::from_hex("3442193e").unwrap();
        assert_eq!(f.to_string(), "3442193e");
        assert!(Fingerprint::from_hex("3442193").is_err());
        assert!(Fingerprint::from_hex("3442193g").is_err());
    }
}
