//! SLIP-0039 Shamir backups: split a master secret into mnemonic shares, in groups, and combine
//! enough of them to recover it.
//!
//! Written here from the specification (SatoshiLabs SLIP-0039, "Shamir's Secret-Sharing for
//! Mnemonic Codes", including the extendable-backup flag); its behaviour is checked against the
//! official test vectors and, both ways, against the reference implementation (PyPI
//! `shamir-mnemonic`) in `tests/slip39.rs`.
//!
//! What it does:
//!
//! * [`split`] encrypts the master secret under a passphrase (a four-round Feistel network with
//!   PBKDF2-HMAC-SHA256 rounds, `2500 << e` iterations each), splits the encrypted master secret
//!   into group shares (`group_threshold` of them needed), splits each group share into member
//!   shares (`member_threshold` of a group needed) and writes every member share as a mnemonic of
//!   words from the 1024-word list, ending in a three-word RS1024 checksum.
//! * [`combine`] checks every share (word list, checksum, padding), that they belong together
//!   and that exactly the required number of groups and members is present, interpolates in
//!   GF(256), checks the digest share and decrypts.
//! * [`extend`] makes a new, independent share set (new identifier, any group setup) of an
//!   extendable backup from enough of its shares, without the passphrase.
//! * [`Share`] is one parsed share.
//!
//! Rules this module keeps, and callers must keep too:
//!
//! * **Never log or print a share, the master secret or a passphrase**, except where the person
//!   asked for the shares (the `backup split` command writes them to stdout or to the files it
//!   was told to). Errors name a share by its position in the input (1-based) and a word by its
//!   position, never by its content.
//! * **Zeroize intermediate secrets.** Every buffer holding a secret, a share value, an encrypted
//!   master secret or a mnemonic is a [`Zeroizing`] buffer allocated at its final size; [`Share`]
//!   zeroizes its value on drop and its `Debug` omits it.
//! * **Never panic on input.** Any string list makes [`combine`] return a value or an error.
//!
//! Multiplication of secret bytes in GF(256) is branch-free and table-free (no secret-dependent
//! memory access); only the public share indices go through the (also table-free) inversion.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use hmac::{Hmac, Mac as _};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize as _, Zeroizing};

/// The 1024 words, alphabetical, one per line (the list published with the specification).
const WORDLIST_TEXT: &str = include_str!("slip39_wordlist.txt");

static WORDLIST: LazyLock<Vec<&'static str>> = LazyLock::new(|| WORDLIST_TEXT.lines().collect());

/// Bits per word.
const RADIX_BITS: usize = 10;
/// Words of identifier, extendable flag and iteration exponent.
const ID_EXP_WORDS: usize = 2;
/// Words of group index, group threshold, group count, member index, member threshold.
const PARAMS_WORDS: usize = 2;
/// Checksum words.
const CHECKSUM_WORDS: usize = 3;
/// Words in a share that are not the share value.
const METADATA_WORDS: usize = ID_EXP_WORDS + PARAMS_WORDS + CHECKSUM_WORDS;
/// Shortest master secret, in bytes (128 bits).
pub const MIN_SECRET_LEN: usize = 16;
/// Longest master secret [`split`] accepts, in bytes (256 bits).
pub const MAX_SECRET_LEN: usize = 32;
/// Fewest words in a share (a 128-bit share value).
pub const MIN_MNEMONIC_WORDS: usize = METADATA_WORDS + (MIN_SECRET_LEN * 8).div_ceil(RADIX_BITS);
/// Most words [`combine`] reads in one share (values far beyond 256 bits are refused early).
const MAX_MNEMONIC_WORDS: usize = METADATA_WORDS + (1024 * 8_usize).div_ceil(RADIX_BITS);
/// Most groups, and most members in a group.
pub const MAX_SHARE_COUNT: u8 = 16;
/// Largest iteration exponent (4 bits).
pub const MAX_ITERATION_EXPONENT: u8 = 15;
/// PBKDF2 iterations per Feistel round at exponent 0 (10000 in total over four rounds).
const BASE_ROUND_ITERATIONS: u32 = 2500;
const ROUNDS: u8 = 4;
const DIGEST_LEN: usize = 4;
const DIGEST_INDEX: u8 = 254;
const SECRET_INDEX: u8 = 255;
const CUSTOMIZATION: &[u8] = b"shamir";
const CUSTOMIZATION_EXTENDABLE: &[u8] = b"shamir_extendable";

/// Why splitting or combining failed. No message contains a word, a share value or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Slip39Error {
    /// [`combine`] was given no share.
    #[error("no share was given")]
    NoShares,
    /// A share has too few or too many words.
    #[error(
        "share {share} has {words} words; a SLIP-39 share has at least {MIN_MNEMONIC_WORDS} (20 for a 128-bit secret, 33 for 256 bits)"
    )]
    WordCount {
        /// Position of the share in the input, from 1.
        share: usize,
        /// Its number of words.
        words: usize,
    },
    /// A word is not in the SLIP-39 word list.
    #[error("share {share}: word {word} is not in the SLIP-39 word list")]
    UnknownWord {
        /// Position of the share in the input, from 1.
        share: usize,
        /// Position of the word in the share, from 1.
        word: usize,
    },
    /// The RS1024 checksum does not match: a word is wrong or missing.
    #[error("share {share}: checksum mismatch (a word is wrong, missing or out of order)")]
    Checksum {
        /// Position of the share in the input, from 1.
        share: usize,
    },
    /// The share value's padding is too long or not all zero.
    #[error("share {share}: invalid padding (not a valid SLIP-39 share value)")]
    Padding {
        /// Position of the share in the input, from 1.
        share: usize,
    },
    /// A share's own parameters are impossible (group threshold above group count, group index
    /// beyond the group count, member threshold 1 in a group of several).
    #[error("share {share}: invalid parameters ({reason})")]
    InvalidShare {
        /// Position of the share in the input, from 1.
        share: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A share belongs to a different backup than share 1.
    #[error(
        "share {share} is from a different backup than share 1 (its {field} differs): shares of different secrets cannot be combined"
    )]
    DifferentBackup {
        /// Position of the share in the input, from 1.
        share: usize,
        /// `identifier`, `extendable flag` or `iteration exponent`.
        field: &'static str,
    },
    /// A share disagrees with share 1 about the group setup or the secret length.
    #[error("share {share} disagrees with share 1 about the {field}: shares are mixed up")]
    GroupParametersMismatch {
        /// Position of the share in the input, from 1.
        share: usize,
        /// `group threshold`, `group count` or `share length`.
        field: &'static str,
    },
    /// Shares of the same group disagree about the member threshold.
    #[error(
        "share {share} disagrees with share {first} about the member threshold of group {group}"
    )]
    MemberThresholdMismatch {
        /// Position of the share in the input, from 1.
        share: usize,
        /// The first share of that group, from 1.
        first: usize,
        /// Group number, from 1.
        group: u8,
    },
    /// Two shares have the same group and member index.
    #[error("share {share} {} share {first} (group {group}, member {member})", if *.identical { "is a duplicate of" } else { "has the same group and member index as" })]
    DuplicateShare {
        /// Position of the later share, from 1.
        share: usize,
        /// Position of the first share, from 1.
        first: usize,
        /// Group number, from 1.
        group: u8,
        /// Member number, from 1.
        member: u8,
        /// True when the two mnemonics are identical.
        identical: bool,
    },
    /// Fewer groups than the group threshold.
    #[error("too few groups: shares of {have} group(s) given, {need} needed")]
    TooFewGroups {
        /// Groups present.
        have: usize,
        /// Group threshold.
        need: u8,
    },
    /// More groups than the group threshold (the specification requires exactly the threshold).
    #[error("too many groups: shares of {have} groups given, exactly {need} must be given")]
    TooManyGroups {
        /// Groups present.
        have: usize,
        /// Group threshold.
        need: u8,
    },
    /// A group has fewer shares than its member threshold.
    #[error("too few shares of group {group}: {have} given, {need} needed")]
    TooFewShares {
        /// Group number, from 1.
        group: u8,
        /// Shares present.
        have: usize,
        /// Member threshold.
        need: u8,
    },
    /// A group has more shares than its member threshold (the specification requires exactly the
    /// threshold).
    #[error("too many shares of group {group}: {have} given, exactly {need} must be given")]
    TooManyShares {
        /// Group number, from 1.
        group: u8,
        /// Shares present.
        have: usize,
        /// Member threshold.
        need: u8,
    },
    /// The recovered digest does not match: the shares are well formed but do not belong together
    /// (a forged or altered share, or shares from different backups with equal identifiers).
    #[error(
        "the shares do not combine: digest mismatch (a share is altered or from another backup)"
    )]
    DigestMismatch,
    /// [`extend`] was given shares of a non-extendable backup.
    #[error(
        "these shares are not extendable: a new share set of this backup cannot be made (split the secret again instead)"
    )]
    NotExtendable,
    /// The passphrase has characters outside printable ASCII (32..=126), which SLIP-39 forbids.
    #[error("the passphrase must contain only printable ASCII characters")]
    InvalidPassphrase,
    /// The master secret length is not allowed.
    #[error(
        "master secret is {0} bytes; it must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes and even"
    )]
    SecretLength(usize),
    /// [`split`] was asked for an impossible group setup.
    #[error("invalid sharing parameters: {0}")]
    InvalidParameters(String),
    /// The random number generator failed.
    #[error("the random number generator failed: {0}")]
    Randomness(String),
}

type Result<T> = std::result::Result<T, Slip39Error>;

// ---------------------------------------------------------------------------------------------
// GF(256) with the Rijndael polynomial x^8 + x^4 + x^3 + x + 1.

/// Product in GF(256), constant time (no branch or memory access depends on the operands).
fn gf_mul(a: u8, b: u8) -> u8 {
    let (mut a, mut b, mut p) = (a, b, 0u8);
    for _ in 0..8 {
        p ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    p
}

/// Inverse in GF(256) (a^254); only ever applied to public share-index differences, never 0.
fn gf_inv(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e > 0 {
        if e & 1 == 1 {
            result = gf_mul(result, base);
        }
        base = gf_mul(base, base);
        e >>= 1;
    }
    result
}

/// The values at `x` of the polynomials of least degree through `points` (x, y-vector).
/// The x values must be distinct and the vectors of equal length (callers check).
fn interpolate(x: u8, points: &[(u8, &[u8])]) -> Zeroizing<Vec<u8>> {
    let len = points.first().map_or(0, |p| p.1.len());
    if let Some((_, y)) = points.iter().find(|(xi, _)| *xi == x) {
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        out.extend_from_slice(y);
        return out;
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    for (i, (xi, yi)) in points.iter().enumerate() {
        // Lagrange basis polynomial i at x: prod_{j != i} (x - xj) / (xi - xj); minus is xor.
        let mut num = 1u8;
        let mut den = 1u8;
        for (j, (xj, _)) in points.iter().enumerate() {
            if i != j {
                num = gf_mul(num, x ^ xj);
                den = gf_mul(den, xi ^ xj);
            }
        }
        let basis = gf_mul(num, gf_inv(den));
        for (o, y) in out.iter_mut().zip(yi.iter()) {
            *o ^= gf_mul(*y, basis);
        }
    }
    out
}

fn fill_random<R: RngCore + CryptoRng>(rng: &mut R, buf: &mut [u8]) -> Result<()> {
    rng.try_fill_bytes(buf)
        .map_err(|e| Slip39Error::Randomness(e.to_string()))
}

/// First four bytes of HMAC-SHA256(key = `random`, msg = `secret`).
fn digest(random: &[u8], secret: &[u8]) -> [u8; DIGEST_LEN] {
    let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(random)
        .expect("HMAC accepts keys of any length");
    mac.update(secret);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(&full[..DIGEST_LEN]);
    out
}

/// SplitSecret(T, N, S): `count` shares (indices 0..count) of which `threshold` recover `secret`.
fn split_secret<R: RngCore + CryptoRng>(
    threshold: u8,
    count: u8,
    secret: &[u8],
    rng: &mut R,
) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    if threshold == 0 || threshold > count || count > MAX_SHARE_COUNT {
        return Err(Slip39Error::InvalidParameters(format!(
            "threshold {threshold} of {count} (need 1 <= threshold <= count <= {MAX_SHARE_COUNT})"
        )));
    }
    let n = secret.len();
    if threshold == 1 {
        return Ok((0..count)
            .map(|_| Zeroizing::new(secret.to_vec()))
            .collect());
    }
    let random_count = usize::from(threshold - 2);
    let mut shares: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(usize::from(count));
    for _ in 0..random_count {
        let mut s = Zeroizing::new(vec![0u8; n]);
        fill_random(rng, &mut s)?;
        shares.push(s);
    }
    let mut digest_share = Zeroizing::new(vec![0u8; n]);
    fill_random(rng, &mut digest_share[DIGEST_LEN..])?;
    let d = digest(&digest_share[DIGEST_LEN..], secret);
    digest_share[..DIGEST_LEN].copy_from_slice(&d);

    let mut base: Vec<(u8, &[u8])> = Vec::with_capacity(random_count + 2);
    for (i, s) in shares.iter().enumerate() {
        base.push((i as u8, s.as_slice()));
    }
    base.push((DIGEST_INDEX, digest_share.as_slice()));
    base.push((SECRET_INDEX, secret));
    let mut rest = Vec::with_capacity(usize::from(count) - random_count);
    for i in (random_count as u8)..count {
        rest.push(interpolate(i, &base));
    }
    drop(base);
    shares.extend(rest);
    Ok(shares)
}

/// RecoverSecret(T, shares): interpolates the secret and checks the digest.
fn recover_secret(threshold: u8, points: &[(u8, &[u8])]) -> Result<Zeroizing<Vec<u8>>> {
    if threshold == 1 {
        let first = points.first().ok_or(Slip39Error::NoShares)?;
        return Ok(Zeroizing::new(first.1.to_vec()));
    }
    let secret = interpolate(SECRET_INDEX, points);
    let digest_share = interpolate(DIGEST_INDEX, points);
    if digest_share.len() < DIGEST_LEN {
        return Err(Slip39Error::DigestMismatch);
    }
    let expected = digest(&digest_share[DIGEST_LEN..], &secret);
    let diff = expected
        .iter()
        .zip(&digest_share[..DIGEST_LEN])
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 {
        return Err(Slip39Error::DigestMismatch);
    }
    Ok(secret)
}

// ---------------------------------------------------------------------------------------------
// Encryption of the master secret.

fn check_passphrase(passphrase: &[u8]) -> Result<()> {
    if passphrase.iter().all(|b| (32..=126).contains(b)) {
        Ok(())
    } else {
        Err(Slip39Error::InvalidPassphrase)
    }
}

/// Runs the four Feistel rounds in `order` over `input` (both halves equal length).
fn feistel(
    input: &[u8],
    passphrase: &[u8],
    iteration_exponent: u8,
    identifier: u16,
    extendable: bool,
    order: [u8; ROUNDS as usize],
) -> Zeroizing<Vec<u8>> {
    let half = input.len() / 2;
    let mut left = Zeroizing::new(input[..half].to_vec());
    let mut right = Zeroizing::new(input[half..].to_vec());
    let iterations = BASE_ROUND_ITERATIONS << iteration_exponent;
    let mut salt = Zeroizing::new(Vec::with_capacity(CUSTOMIZATION.len() + 2 + half));
    if !extendable {
        salt.extend_from_slice(CUSTOMIZATION);
        salt.extend_from_slice(&identifier.to_be_bytes());
    }
    let salt_prefix = salt.len();
    let mut password = Zeroizing::new(Vec::with_capacity(1 + passphrase.len()));
    password.push(0);
    password.extend_from_slice(passphrase);
    let mut f = Zeroizing::new(vec![0u8; half]);
    for i in order {
        password[0] = i;
        salt.truncate(salt_prefix);
        salt.extend_from_slice(&right);
        pbkdf2::pbkdf2_hmac::<Sha256>(&password, &salt, iterations, &mut f);
        // (L, R) = (R, L xor F(i, R))
        for (l, fb) in left.iter_mut().zip(f.iter()) {
            *l ^= fb;
        }
        std::mem::swap(&mut left, &mut right);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(input.len()));
    out.extend_from_slice(&right);
    out.extend_from_slice(&left);
    out
}

fn encrypt(
    master_secret: &[u8],
    passphrase: &[u8],
    e: u8,
    id: u16,
    ext: bool,
) -> Zeroizing<Vec<u8>> {
    feistel(master_secret, passphrase, e, id, ext, [0, 1, 2, 3])
}

fn decrypt(ems: &[u8], passphrase: &[u8], e: u8, id: u16, ext: bool) -> Zeroizing<Vec<u8>> {
    feistel(ems, passphrase, e, id, ext, [3, 2, 1, 0])
}

// ---------------------------------------------------------------------------------------------
// RS1024 checksum.

fn rs1024_polymod(values: impl IntoIterator<Item = u32>) -> u32 {
    const GEN: [u32; 10] = [
        0x00E0_E040,
        0x01C1_C080,
        0x0383_8100,
        0x0707_0200,
        0x0E0E_0009,
        0x1C0C_2412,
        0x3808_6C24,
        0x3090_FC48,
        0x21B1_F890,
        0x03F3_F120,
    ];
    let mut chk: u32 = 1;
    for v in values {
        let b = chk >> 20;
        chk = ((chk & 0xF_FFFF) << 10) ^ v;
        for (i, g) in GEN.iter().enumerate() {
            if (b >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn customization(extendable: bool) -> &'static [u8] {
    if extendable {
        CUSTOMIZATION_EXTENDABLE
    } else {
        CUSTOMIZATION
    }
}

fn rs1024_checksum(extendable: bool, data: &[u16]) -> [u16; CHECKSUM_WORDS] {
    let values = customization(extendable)
        .iter()
        .map(|&c| u32::from(c))
        .chain(data.iter().map(|&w| u32::from(w)))
        .chain([0, 0, 0]);
    let polymod = rs1024_polymod(values) ^ 1;
    [
        ((polymod >> 20) & 1023) as u16,
        ((polymod >> 10) & 1023) as u16,
        (polymod & 1023) as u16,
    ]
}

fn rs1024_verify(extendable: bool, words: &[u16]) -> bool {
    let values = customization(extendable)
        .iter()
        .map(|&c| u32::from(c))
        .chain(words.iter().map(|&w| u32::from(w)));
    rs1024_polymod(values) == 1
}

// ---------------------------------------------------------------------------------------------
// Words.

/// The SLIP-39 word list (1024 words, sorted).
pub fn wordlist() -> &'static [&'static str] {
    &WORDLIST
}

/// Index of `word` in the list, case-insensitively; `None` if it is not a word.
fn word_index(word: &str) -> Option<u16> {
    let bytes = word.as_bytes();
    if bytes.len() > 8 {
        return None;
    }
    let mut lower = [0u8; 8];
    for (l, b) in lower.iter_mut().zip(bytes) {
        *l = b.to_ascii_lowercase();
    }
    let key = &lower[..bytes.len()];
    let found = WORDLIST.binary_search_by(|w| w.as_bytes().cmp(key)).ok();
    lower.zeroize();
    found.and_then(|i| u16::try_from(i).ok())
}

// ---------------------------------------------------------------------------------------------
// Shares.

/// One parsed SLIP-39 share. Thresholds and counts are the real values (1-based), indices are
/// 0-based as in the format. Read-only: a `Share` always holds what a valid mnemonic encodes.
/// `Debug` omits the share value, which is zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Share {
    identifier: u16,
    extendable: bool,
    iteration_exponent: u8,
    group_index: u8,
    group_threshold: u8,
    group_count: u8,
    member_index: u8,
    member_threshold: u8,
    value: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("identifier", &self.identifier)
            .field("extendable", &self.extendable)
            .field("iteration_exponent", &self.iteration_exponent)
            .field("group_index", &self.group_index)
            .field("group_threshold", &self.group_threshold)
            .field("group_count", &self.group_count)
            .field("member_index", &self.member_index)
            .field("member_threshold", &self.member_threshold)
            .field("value_len", &self.value.len())
            .finish_non_exhaustive()
    }
}

impl Share {
    /// Parses one mnemonic (words separated by whitespace, any case).
    pub fn parse(mnemonic: &str) -> Result<Share> {
        Share::parse_at(mnemonic, 1)
    }

    /// Random 15-bit identifier common to all shares of one backup.
    pub fn identifier(&self) -> u16 {
        self.identifier
    }

    /// The extendable-backup flag: the identifier is not part of the encryption salt.
    pub fn extendable(&self) -> bool {
        self.extendable
    }

    /// PBKDF2 iterations per round are `2500 << iteration_exponent`.
    pub fn iteration_exponent(&self) -> u8 {
        self.iteration_exponent
    }

    /// Group index, 0-based.
    pub fn group_index(&self) -> u8 {
        self.group_index
    }

    /// Groups needed.
    pub fn group_threshold(&self) -> u8 {
        self.group_threshold
    }

    /// Groups in the backup.
    pub fn group_count(&self) -> u8 {
        self.group_count
    }

    /// Member index within the group, 0-based.
    pub fn member_index(&self) -> u8 {
        self.member_index
    }

    /// Members of this group needed.
    pub fn member_threshold(&self) -> u8 {
        self.member_threshold
    }

    /// Length of the share value in bytes (equal to the master secret's length).
    pub fn value_len(&self) -> usize {
        self.value.len()
    }

    /// Label for the person: "group G of GC (GT needed), member M (T needed)", all 1-based.
    pub fn describe(&self) -> String {
        format!(
            "group {} of {} ({} needed), share {} ({} of this group needed)",
            self.group_index + 1,
            self.group_count,
            self.group_threshold,
            self.member_index + 1,
            self.member_threshold
        )
    }

    fn parse_at(mnemonic: &str, position: usize) -> Result<Share> {
        let count = mnemonic.split_whitespace().count();
        if !(MIN_MNEMONIC_WORDS..=MAX_MNEMONIC_WORDS).contains(&count) {
            return Err(Slip39Error::WordCount {
                share: position,
                words: count,
            });
        }
        let mut indices: Zeroizing<Vec<u16>> = Zeroizing::new(Vec::with_capacity(count));
        for (i, w) in mnemonic.split_whitespace().enumerate() {
            match word_index(w) {
                Some(ix) => indices.push(ix),
                None => {
                    return Err(Slip39Error::UnknownWord {
                        share: position,
                        word: i + 1,
                    });
                }
            }
        }
        let value_words = count - METADATA_WORDS;
        let padding = (RADIX_BITS * value_words) % 16;
        if padding > 8 {
            return Err(Slip39Error::Padding { share: position });
        }
        let id_exp = (u32::from(indices[0]) << 10) | u32::from(indices[1]);
        let identifier = (id_exp >> 5) as u16;
        let extendable = (id_exp >> 4) & 1 == 1;
        let iteration_exponent = (id_exp & 0xF) as u8;
        if !rs1024_verify(extendable, &indices) {
            return Err(Slip39Error::Checksum { share: position });
        }
        let params = (u32::from(indices[2]) << 10) | u32::from(indices[3]);
        let nibble = |shift: u32| ((params >> shift) & 0xF) as u8;
        let group_index = nibble(16);
        let group_threshold = nibble(12) + 1;
        let group_count = nibble(8) + 1;
        let member_index = nibble(4);
        let member_threshold = nibble(0) + 1;
        if group_threshold > group_count {
            return Err(Slip39Error::InvalidShare {
                share: position,
                reason: "group threshold is greater than the group count",
            });
        }
        if group_index >= group_count {
            return Err(Slip39Error::InvalidShare {
                share: position,
                reason: "group index is beyond the group count",
            });
        }

        // Share value: the value words as one big-endian bit string, minus the leading padding.
        let data = &indices[ID_EXP_WORDS + PARAMS_WORDS..count - CHECKSUM_WORDS];
        let total_bits = RADIX_BITS * value_words;
        let value_len = (total_bits - padding) / 8;
        let mut value = Zeroizing::new(vec![0u8; value_len]);
        let mut acc: u32 = 0;
        let mut acc_bits = 0usize;
        let mut out = 0usize;
        let mut skipped = 0usize;
        let mut padding_bits_set = false;
        for &w in data {
            acc = (acc << 10) | u32::from(w);
            acc_bits += 10;
            if skipped < padding {
                let take = (padding - skipped).min(acc_bits);
                let mask = (1u32 << acc_bits) - 1;
                let top = (acc & mask) >> (acc_bits - take);
                if top != 0 {
                    padding_bits_set = true;
                }
                acc_bits -= take;
                skipped += take;
            }
            while acc_bits >= 8 {
                value[out] = ((acc >> (acc_bits - 8)) & 0xFF) as u8;
                out += 1;
                acc_bits -= 8;
            }
            acc &= (1u32 << acc_bits) - 1;
        }
        acc.zeroize();
        if padding_bits_set {
            return Err(Slip39Error::Padding { share: position });
        }
        if value_len < MIN_SECRET_LEN || out != value_len {
            return Err(Slip39Error::Padding { share: position });
        }
        Ok(Share {
            identifier,
            extendable,
            iteration_exponent,
            group_index,
            group_threshold,
            group_count,
            member_index,
            member_threshold,
            value,
        })
    }

    /// The word indices of this share, checksum included.
    fn to_indices(&self) -> Zeroizing<Vec<u16>> {
        let value_bits = self.value.len() * 8;
        let value_words = value_bits.div_ceil(RADIX_BITS);
        let padding = value_words * RADIX_BITS - value_bits;
        let mut out = Zeroizing::new(Vec::with_capacity(METADATA_WORDS + value_words));
        let id_exp = (u32::from(self.identifier) << 5)
            | (u32::from(self.extendable) << 4)
            | u32::from(self.iteration_exponent);
        out.push((id_exp >> 10) as u16 & 1023);
        out.push(id_exp as u16 & 1023);
        let params = (u32::from(self.group_index) << 16)
            | (u32::from(self.group_threshold - 1) << 12)
            | (u32::from(self.group_count - 1) << 8)
            | (u32::from(self.member_index) << 4)
            | u32::from(self.member_threshold - 1);
        out.push((params >> 10) as u16 & 1023);
        out.push(params as u16 & 1023);
        // `padding` zero bits, then the value bits, in 10-bit words.
        let mut acc: u32 = 0;
        let mut acc_bits = padding;
        for &b in self.value.iter() {
            acc = (acc << 8) | u32::from(b);
            acc_bits += 8;
            if acc_bits >= 10 {
                out.push(((acc >> (acc_bits - 10)) & 1023) as u16);
                acc_bits -= 10;
                acc &= (1u32 << acc_bits) - 1;
            }
        }
        acc.zeroize();
        let checksum = rs1024_checksum(self.extendable, &out);
        out.extend_from_slice(&checksum);
        out
    }

    /// The mnemonic: words separated by single spaces. Secret: show it only to the person who
    /// asked for it.
    pub fn to_mnemonic(&self) -> Zeroizing<String> {
        let indices = self.to_indices();
        let len: usize = indices
            .iter()
            .map(|&i| WORDLIST[usize::from(i)].len() + 1)
            .sum();
        let mut s = Zeroizing::new(String::with_capacity(len));
        for (n, &i) in indices.iter().enumerate() {
            if n > 0 {
                s.push(' ');
            }
            s.push_str(WORDLIST[usize::from(i)]);
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Split and combine.

/// Splits `master_secret` into SLIP-39 mnemonic shares: `result[g][m]` is member `m` of group `g`.
///
/// `groups` lists `(member_threshold, member_count)` per group; `group_threshold` groups are
/// needed to recover. The passphrase (printable ASCII; empty for none) encrypts the secret:
/// recovering with another passphrase yields a different secret, by design. New backups should be
/// `extendable` (the specification's recommendation): more share sets with the same secret and
/// passphrase can then be made. `iteration_exponent` (0..=15) sets PBKDF2 to `10000 << e`
/// iterations in total.
#[allow(clippy::type_complexity)]
pub fn split<R: RngCore + CryptoRng>(
    master_secret: &[u8],
    passphrase: &str,
    group_threshold: u8,
    groups: &[(u8, u8)],
    extendable: bool,
    iteration_exponent: u8,
    rng: &mut R,
) -> Result<Vec<Vec<Zeroizing<String>>>> {
    let n = master_secret.len();
    if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&n) || !n.is_multiple_of(2) {
        return Err(Slip39Error::SecretLength(n));
    }
    check_passphrase(passphrase.as_bytes())?;
    if iteration_exponent > MAX_ITERATION_EXPONENT {
        return Err(Slip39Error::InvalidParameters(format!(
            "iteration exponent {iteration_exponent} is above {MAX_ITERATION_EXPONENT}"
        )));
    }
    check_setup(group_threshold, groups)?;
    let identifier = random_identifier(rng)?;
    let ems = encrypt(
        master_secret,
        passphrase.as_bytes(),
        iteration_exponent,
        identifier,
        extendable,
    );
    split_ems(
        &ems,
        identifier,
        extendable,
        iteration_exponent,
        group_threshold,
        groups,
        rng,
    )
}

/// Checks a group setup; returns the group count.
fn check_setup(group_threshold: u8, groups: &[(u8, u8)]) -> Result<u8> {
    if groups.is_empty() || groups.len() > usize::from(MAX_SHARE_COUNT) {
        return Err(Slip39Error::InvalidParameters(format!(
            "{} groups (must be 1 to {MAX_SHARE_COUNT})",
            groups.len()
        )));
    }
    let group_count = groups.len() as u8;
    if group_threshold == 0 || group_threshold > group_count {
        return Err(Slip39Error::InvalidParameters(format!(
            "group threshold {group_threshold} with {group_count} group(s) (must be 1 to {group_count})"
        )));
    }
    for (g, &(t, count)) in groups.iter().enumerate() {
        if t == 0 || t > count || count > MAX_SHARE_COUNT {
            return Err(Slip39Error::InvalidParameters(format!(
                "group {}: {t}-of-{count} (need 1 <= threshold <= count <= {MAX_SHARE_COUNT})",
                g + 1
            )));
        }
        if t == 1 && count > 1 {
            return Err(Slip39Error::InvalidParameters(format!(
                "group {}: 1-of-{count} gives {count} copies of one share; use a 1-of-1 group instead",
                g + 1
            )));
        }
    }
    Ok(group_count)
}

fn random_identifier<R: RngCore + CryptoRng>(rng: &mut R) -> Result<u16> {
    let mut id_bytes = [0u8; 2];
    fill_random(rng, &mut id_bytes)?;
    Ok(u16::from_be_bytes(id_bytes) & 0x7FFF)
}

/// Splits an encrypted master secret into mnemonic shares.
#[allow(clippy::type_complexity)]
fn split_ems<R: RngCore + CryptoRng>(
    ems: &[u8],
    identifier: u16,
    extendable: bool,
    iteration_exponent: u8,
    group_threshold: u8,
    groups: &[(u8, u8)],
    rng: &mut R,
) -> Result<Vec<Vec<Zeroizing<String>>>> {
    let group_count = check_setup(group_threshold, groups)?;
    let group_shares = split_secret(group_threshold, group_count, ems, rng)?;
    let mut out = Vec::with_capacity(groups.len());
    for (g, (&(t, count), group_secret)) in groups.iter().zip(group_shares.iter()).enumerate() {
        let members = split_secret(t, count, group_secret, rng)?;
        let mut mnemonics = Vec::with_capacity(members.len());
        for (m, value) in members.into_iter().enumerate() {
            let share = Share {
                identifier,
                extendable,
                iteration_exponent,
                group_index: g as u8,
                group_threshold,
                group_count,
                member_index: m as u8,
                member_threshold: t,
                value,
            };
            mnemonics.push(share.to_mnemonic());
        }
        out.push(mnemonics);
    }
    Ok(out)
}

/// Makes a new, independent set of shares of an **extendable** backup, with another group setup
/// and a new identifier, from enough shares of the existing set. The passphrase is not needed: the
/// encrypted master secret is re-split as it is, so every passphrase gives the same secret with the
/// new shares as with the old ones. Shares of the two sets cannot be mixed (their identifiers
/// differ). Non-extendable backups are refused ([`Slip39Error::NotExtendable`]): the
/// specification says not to make a second set with the same identifier and secret.
#[allow(clippy::type_complexity)]
pub fn extend<S: AsRef<str>, R: RngCore + CryptoRng>(
    mnemonics: &[S],
    group_threshold: u8,
    groups: &[(u8, u8)],
    rng: &mut R,
) -> Result<Vec<Vec<Zeroizing<String>>>> {
    let shares = parse_all(mnemonics)?;
    let (ems, first) = recover_ems(&shares)?;
    if !first.extendable {
        return Err(Slip39Error::NotExtendable);
    }
    check_setup(group_threshold, groups)?;
    let mut identifier = random_identifier(rng)?;
    while identifier == first.identifier {
        identifier = random_identifier(rng)?;
    }
    split_ems(
        &ems,
        identifier,
        true,
        first.iteration_exponent,
        group_threshold,
        groups,
        rng,
    )
}

/// Recovers the master secret from mnemonic shares: exactly `group_threshold` groups, each with
/// exactly its member threshold of shares. Any passphrase gives *a* secret (SLIP-39 cannot tell a
/// wrong passphrase); the right one gives the right secret.
pub fn combine<S: AsRef<str>>(mnemonics: &[S], passphrase: &str) -> Result<Zeroizing<Vec<u8>>> {
    check_passphrase(passphrase.as_bytes())?;
    combine_shares(&parse_all(mnemonics)?, passphrase)
}

fn parse_all<S: AsRef<str>>(mnemonics: &[S]) -> Result<Vec<Share>> {
    mnemonics
        .iter()
        .enumerate()
        .map(|(i, m)| Share::parse_at(m.as_ref(), i + 1))
        .collect()
}

/// [`combine`] for already parsed shares (positions in errors are positions in `shares`, from 1).
pub fn combine_shares(shares: &[Share], passphrase: &str) -> Result<Zeroizing<Vec<u8>>> {
    check_passphrase(passphrase.as_bytes())?;
    let (ems, first) = recover_ems(shares)?;
    Ok(decrypt(
        &ems,
        passphrase.as_bytes(),
        first.iteration_exponent,
        first.identifier,
        first.extendable,
    ))
}

/// Checks that the shares belong together and are exactly enough; returns the encrypted master
/// secret and the first share (for the common parameters).
fn recover_ems(shares: &[Share]) -> Result<(Zeroizing<Vec<u8>>, &Share)> {
    let first = shares.first().ok_or(Slip39Error::NoShares)?;
    for (i, s) in shares.iter().enumerate().skip(1) {
        let share = i + 1;
        let field = if s.identifier != first.identifier {
            Some("identifier")
        } else if s.extendable != first.extendable {
            Some("extendable flag")
        } else if s.iteration_exponent != first.iteration_exponent {
            Some("iteration exponent")
        } else {
            None
        };
        if let Some(field) = field {
            return Err(Slip39Error::DifferentBackup { share, field });
        }
        let field = if s.group_threshold != first.group_threshold {
            Some("group threshold")
        } else if s.group_count != first.group_count {
            Some("group count")
        } else if s.value.len() != first.value.len() {
            Some("share length")
        } else {
            None
        };
        if let Some(field) = field {
            return Err(Slip39Error::GroupParametersMismatch { share, field });
        }
    }
    // Group the shares (by position), checking thresholds and duplicates.
    let mut groups: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
    for (i, s) in shares.iter().enumerate() {
        let members = groups.entry(s.group_index).or_default();
        if let Some(&f) = members.first()
            && shares[f].member_threshold != s.member_threshold
        {
            return Err(Slip39Error::MemberThresholdMismatch {
                share: i + 1,
                first: f + 1,
                group: s.group_index + 1,
            });
        }
        if let Some(&d) = members
            .iter()
            .find(|&&j| shares[j].member_index == s.member_index)
        {
            return Err(Slip39Error::DuplicateShare {
                share: i + 1,
                first: d + 1,
                group: s.group_index + 1,
                member: s.member_index + 1,
                identical: shares[d] == *s,
            });
        }
        members.push(i);
    }
    let need = first.group_threshold;
    if groups.len() < usize::from(need) {
        return Err(Slip39Error::TooFewGroups {
            have: groups.len(),
            need,
        });
    }
    if groups.len() > usize::from(need) {
        return Err(Slip39Error::TooManyGroups {
            have: groups.len(),
            need,
        });
    }
    for (&g, members) in &groups {
        let t = shares[members[0]].member_threshold;
        if members.len() < usize::from(t) {
            return Err(Slip39Error::TooFewShares {
                group: g + 1,
                have: members.len(),
                need: t,
            });
        }
        if members.len() > usize::from(t) {
            return Err(Slip39Error::TooManyShares {
                group: g + 1,
                have: members.len(),
                need: t,
            });
        }
    }
    let mut group_secrets: Vec<(u8, Zeroizing<Vec<u8>>)> = Vec::with_capacity(groups.len());
    for (&g, members) in &groups {
        let points: Vec<(u8, &[u8])> = members
            .iter()
            .map(|&j| (shares[j].member_index, shares[j].value.as_slice()))
            .collect();
        let secret = recover_secret(shares[members[0]].member_threshold, &points)?;
        group_secrets.push((g, secret));
    }
    let points: Vec<(u8, &[u8])> = group_secrets
        .iter()
        .map(|(g, s)| (*g, s.as_slice()))
        .collect();
    let ems = recover_secret(need, &points)?;
    Ok((ems, first))
}

impl airlock_severity::Classify for Slip39Error {
    fn severity(&self) -> airlock_severity::Severity {
        airlock_severity::Severity::Refused
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn wordlist_is_1024_sorted_unique_words() {
        let w = wordlist();
        assert_eq!(w.len(), 1024);
        assert!(w.windows(2).all(|p| p[0] < p[1]));
        assert_eq!(word_index("ACADEMIC"), Some(0));
        assert_eq!(word_index("zero"), Some(1023));
        assert_eq!(word_index("bitcoin"), None);
    }

    #[test]
    fn gf_arithmetic() {
        // FIPS-197 section 4.2: {57} x {83} = {c1}.
        assert_eq!(gf_mul(0x57, 0x83), 0xc1);
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1);
        }
    }

    #[test]
    fn feistel_round_trips() {
        let ms = [7u8; 16];
        for ext in [false, true] {
            let ems = encrypt(&ms, b"TREZOR", 0, 1234, ext);
            assert_ne!(ems.as_slice(), ms);
            assert_eq!(decrypt(&ems, b"TREZOR", 0, 1234, ext).as_slice(), ms);
        }
    }

    #[test]
    fn mnemonic_round_trips_and_checksum_detects_change() {
        let groups = split(&[1u8; 32], "", 1, &[(2, 3)], true, 0, &mut OsRng).unwrap();
        for m in &groups[0] {
            let share = Share::parse(m).unwrap();
            assert_eq!(share.to_mnemonic().as_str(), m.as_str());
            assert_eq!(m.split_whitespace().count(), 33);
        }
    }

    /// Random word sequences with a *valid* checksum reach every later check (padding, group
    /// parameters, combination): none may panic, and single shares must parse or be refused.
    #[test]
    fn random_checksummed_mnemonics_never_panic() {
        let mut rng = OsRng;
        let mut seen_ok = 0;
        for round in 0..1000 {
            let len = 20 + (rng.next_u32() as usize % 40);
            let extendable = round % 2 == 0;
            let mut data: Vec<u16> = (0..len - CHECKSUM_WORDS)
                .map(|_| (rng.next_u32() % 1024) as u16)
                .collect();
            // Set the extendable bit to match the customization string used.
            data[1] = (data[1] & !0x10) | (u16::from(extendable) << 4);
            let c = rs1024_checksum(extendable, &data);
            data.extend_from_slice(&c);
            let m: Vec<&str> = data.iter().map(|&i| WORDLIST[usize::from(i)]).collect();
            let m = m.join(" ");
            if let Ok(share) = Share::parse(&m) {
                seen_ok += 1;
                assert_eq!(share.to_mnemonic().as_str(), m);
            }
            let _ = combine(&[m.as_str()], "");
            let _ = combine(&[m.as_str(), m.as_str()], "");
        }
        assert!(seen_ok > 0);
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            String::new(),
            "academic ".repeat(20),
            "academic ".repeat(2000),
            "zero ".repeat(33),
            "é".repeat(100),
        ];
        for i in &inputs {
            assert!(combine(&[i], "").is_err());
        }
    }
}
