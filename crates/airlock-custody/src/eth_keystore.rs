//! Ethereum keystore v3 files (the Web3 Secret Storage Definition): import and export of a
//! secp256k1 private key, so a key can move between Airlock and geth, Foundry (`cast wallet`),
//! MetaMask, eth-account and other wallets.
//!
//! # What a v3 file is
//!
//! A JSON object `{"version": 3, "id": <UUID>, "address": <40 hex>, "crypto": {...}}` where
//! `crypto` holds:
//!
//! * `kdf` and `kdfparams`: `scrypt` (`n`, `r`, `p`, `dklen`, `salt`) or `pbkdf2` (`c`,
//!   `prf` = `hmac-sha256`, `dklen`, `salt`) stretch the password into a 32-byte key `DK`;
//! * `cipher` = `aes-128-ctr`, `cipherparams.iv` (16 bytes), `ciphertext`: the 32-byte private key
//!   encrypted under `DK[0..16]`;
//! * `mac` = keccak256(`DK[16..32]` ‖ `ciphertext`).
//!
//! # What this module must never do
//!
//! * **Never derive before bounding.** Every KDF parameter read from a file is checked against
//!   [`MAX_SCRYPT_LOG_N`], [`MAX_SCRYPT_MEMORY`], [`MAX_SCRYPT_R_TIMES_P`], [`MAX_SCRYPT_WORK`],
//!   [`MAX_PBKDF2_ROUNDS`] and `dklen == 32` before any memory is allocated or any round is run,
//!   so a hostile file cannot exhaust the machine. Files larger than [`MAX_FILE_LEN`] are refused before parsing.
//! * **Never decrypt before the MAC is checked**, and compare it in constant time.
//! * **Never panic** on any input (malformed JSON, wrong types, huge numbers, odd hex), and never
//!   put a secret or a password in an error or a `Debug` output. Decrypted keys live in zeroizing
//!   memory, locked into RAM where the operating system allows ([`crate::harden_process`]).
//! * **Never return a key that does not match the file's `address`** when the file has one.
//!
//! # What the format cannot tell
//!
//! Unlike Airlock's own keystore ([`crate::keystore`]), a v3 file has no checksum. A flipped bit
//! in the `ciphertext`, the `mac` or the KDF `salt` and a wrong password all end in the same MAC
//! mismatch ([`EthKeystoreError::WrongPasswordOrDamaged`]); a flipped bit in the `iv` is not
//! covered by the MAC at all and is caught only by the `address` check
//! ([`EthKeystoreError::AddressMismatch`]) or, rarely, because the result is not a valid key.
//! Malformed files (bad JSON, missing fields, wrong lengths, bad hex) are a different error
//! ([`EthKeystoreError::Malformed`]), as are unsupported algorithms and refused parameters.
//!
//! # Borrowed and ours
//!
//! The primitives are RustCrypto crates of the generation the workspace pins (digest 0.10):
//! `pbkdf2` 0.12, the Salsa20/8 core of `salsa20` 0.10, `aes` 0.8 with `ctr` 0.9, `sha3` 0.10
//! (Keccak-256), `k256` 0.13. The file glue is written here rather than taken from the
//! `eth-keystore` crate, which depends on another generation of these crates and does not bound KDF
//! parameters before deriving. scrypt's ROMix/BlockMix are written here too (see `scrypt` below:
//! the `scrypt` crate refuses the definition's own scrypt vector); the tests compare them with the
//! `scrypt` crate.

use std::fmt;

use aes::Aes128;
use ctr::cipher::{KeyIvInit as _, StreamCipher as _};
use k256::elliptic_curve::sec1::ToEncodedPoint as _;
use rand_core::{OsRng, RngCore as _};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use sha3::{Digest as _, Keccak256};
use zeroize::{Zeroize as _, Zeroizing};

use crate::harden::LockedBytes;
use crate::keystore::Passphrase;

type Aes128Ctr = ctr::Ctr128BE<Aes128>;

/// Largest v3 file accepted (a real one is about 500 bytes).
pub const MAX_FILE_LEN: usize = 64 * 1024;
/// Largest scrypt cost accepted from a file: `n <= 2^20`.
pub const MAX_SCRYPT_LOG_N: u8 = 20;
/// Largest scrypt memory accepted from a file, `128 * r * n` bytes: 1 GiB.
pub const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// Largest scrypt work accepted from a file, `n * r * p` (geth's standard is `2^21`): `2^25`.
pub const MAX_SCRYPT_WORK: u64 = 1 << 25;
/// Largest scrypt `r * p` accepted from a file (bounds the `128 * r * p`-byte buffer to 512 KiB;
/// geth's files use 8 or 48).
pub const MAX_SCRYPT_R_TIMES_P: u64 = 1 << 12;
/// Largest PBKDF2 iteration count accepted from a file.
pub const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;
/// Longest KDF salt accepted from a file, in bytes.
pub const MAX_SALT_LEN: usize = 1024;

const DK_LEN: usize = 32;
const IV_LEN: usize = 16;
const KEY_LEN: usize = 32;
const MAC_LEN: usize = 32;
const SALT_LEN: usize = 32;

/// Why a v3 file could not be imported or exported. No message contains secret material.
#[derive(Debug, thiserror::Error)]
pub enum EthKeystoreError {
    /// The MAC does not match: the password is wrong, or the ciphertext, MAC or salt was altered
    /// (the format has no checksum to tell these apart).
    #[error(
        "MAC mismatch: wrong password, or the file's ciphertext, mac or salt was altered (a keystore v3 file cannot tell these apart)"
    )]
    WrongPasswordOrDamaged,
    /// The file is not a well-formed v3 file: not JSON, a field missing or of the wrong type, bad
    /// hex, a wrong length.
    #[error("malformed Ethereum keystore v3 file: {0}")]
    Malformed(String),
    /// A well-formed file using something this build does not support (version, KDF, PRF, cipher).
    #[error("unsupported Ethereum keystore: {0}")]
    Unsupported(String),
    /// KDF parameters outside the accepted bounds (refused before deriving anything).
    #[error("refused key-derivation parameters: {0}")]
    KdfParamsRefused(String),
    /// The MAC matched but the decrypted key does not give the file's `address`: the `iv` (which
    /// the MAC does not cover) or the `address` field was altered.
    #[error(
        "the decrypted key belongs to address {computed}, not to the file's address {stored}: the file was altered (its iv or address)"
    )]
    AddressMismatch {
        /// The address in the file.
        stored: String,
        /// The address of the decrypted key.
        computed: String,
    },
    /// The decrypted 32 bytes are not a valid secp256k1 private key (zero or not below the group
    /// order): the file was altered.
    #[error("the decrypted bytes are not a valid secp256k1 private key: the file was altered")]
    InvalidKey,
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Randomness(String),
}

type Result<T, E = EthKeystoreError> = std::result::Result<T, E>;

/// The key-derivation function of a v3 file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EthKdf {
    /// scrypt with `n = 2^log_n`.
    Scrypt {
        /// log2 of the CPU/memory cost `n`.
        log_n: u8,
        /// Block size.
        r: u32,
        /// Parallelism.
        p: u32,
    },
    /// PBKDF2-HMAC-SHA256 with `c` iterations.
    Pbkdf2 {
        /// Iteration count.
        c: u32,
    },
}

impl EthKdf {
    /// geth's standard: scrypt `n = 2^18`, `r = 8`, `p = 1` (256 MiB). The default for export.
    pub const STANDARD: EthKdf = EthKdf::Scrypt {
        log_n: 18,
        r: 8,
        p: 1,
    };
    /// geth's "light" parameters: scrypt `n = 2^12`, `r = 8`, `p = 6` (4 MiB).
    pub const LIGHT: EthKdf = EthKdf::Scrypt {
        log_n: 12,
        r: 8,
        p: 6,
    };
    /// Tiny parameters for test suites only (scrypt `n = 2^10`, `r = 8`, `p = 1`).
    pub const INSECURE_FAST: EthKdf = EthKdf::Scrypt {
        log_n: 10,
        r: 8,
        p: 1,
    };

    /// Checks the bounds every file's parameters must satisfy (also applied on export).
    pub fn check(&self) -> Result<()> {
        match *self {
            EthKdf::Scrypt { log_n, r, p } => {
                if log_n == 0 || log_n > MAX_SCRYPT_LOG_N {
                    return Err(EthKeystoreError::KdfParamsRefused(format!(
                        "scrypt n = 2^{log_n} outside 2^1..=2^{MAX_SCRYPT_LOG_N}"
                    )));
                }
                if r == 0 || p == 0 {
                    return Err(EthKeystoreError::KdfParamsRefused(
                        "scrypt r and p must be at least 1".into(),
                    ));
                }
                let n = 1u64 << log_n;
                let memory = 128 * u64::from(r) * n;
                if memory > MAX_SCRYPT_MEMORY {
                    return Err(EthKeystoreError::KdfParamsRefused(format!(
                        "scrypt needs 128*r*n = {memory} bytes, over the limit of {MAX_SCRYPT_MEMORY}"
                    )));
                }
                let rp = u64::from(r) * u64::from(p);
                if rp > MAX_SCRYPT_R_TIMES_P {
                    return Err(EthKeystoreError::KdfParamsRefused(format!(
                        "scrypt r*p = {rp} is over the limit of {MAX_SCRYPT_R_TIMES_P}"
                    )));
                }
                let work = n * u64::from(r) * u64::from(p);
                if work > MAX_SCRYPT_WORK {
                    return Err(EthKeystoreError::KdfParamsRefused(format!(
                        "scrypt work n*r*p = {work} is over the limit of {MAX_SCRYPT_WORK}"
                    )));
                }
                Ok(())
            }
            EthKdf::Pbkdf2 { c } => {
                if c == 0 || c > MAX_PBKDF2_ROUNDS {
                    return Err(EthKeystoreError::KdfParamsRefused(format!(
                        "pbkdf2 c = {c} outside 1..={MAX_PBKDF2_ROUNDS}"
                    )));
                }
                Ok(())
            }
        }
    }

    fn derive(&self, password: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; DK_LEN]>> {
        self.check()?;
        let mut dk = Zeroizing::new([0u8; DK_LEN]);
        match *self {
            EthKdf::Scrypt { log_n, r, p } => {
                scrypt(password, salt, log_n, r, p, &mut dk[..])?;
            }
            EthKdf::Pbkdf2 { c } => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, c, &mut dk[..]);
            }
        }
        Ok(dk)
    }
}

impl fmt::Display for EthKdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EthKdf::Scrypt { log_n, r, p } => write!(f, "scrypt n=2^{log_n}, r={r}, p={p}"),
            EthKdf::Pbkdf2 { c } => write!(f, "pbkdf2-hmac-sha256 c={c}"),
        }
    }
}

/// scrypt (RFC 7914) with `n = 2^log_n`, parameters already checked by [`EthKdf::check`].
///
/// Written here rather than taken from the `scrypt` crate: that crate enforces RFC 7914's
/// `n < 2^(16 r)`, which geth and eth-keyfile do not, and which the definition's own scrypt vector
/// (`n = 2^18`, `r = 1`) breaks. The Salsa20/8 core is the `salsa20` crate's; the tests check this
/// function against the `scrypt` crate wherever that crate accepts the parameters.
fn scrypt(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32, out: &mut [u8]) -> Result<()> {
    let n = 1usize << log_n;
    let r = r as usize;
    let p = p as usize;
    let block_words = 32 * r; // 128 * r bytes
    let mut b = Zeroizing::new(vec![0u8; 128 * r * p]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, 1, &mut b);
    let mut v: Zeroizing<Vec<u32>> = Zeroizing::new(Vec::new());
    v.try_reserve_exact(n * block_words).map_err(|_| {
        EthKeystoreError::KdfParamsRefused(format!(
            "cannot allocate {} bytes for scrypt",
            n * 128 * r
        ))
    })?;
    v.resize(n * block_words, 0);
    let mut x = Zeroizing::new(vec![0u32; block_words]);
    let mut scratch = Zeroizing::new(vec![0u32; block_words]);
    for chunk in b.chunks_exact_mut(128 * r) {
        for (w, bytes) in x.iter_mut().zip(chunk.chunks_exact(4)) {
            *w = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for i in 0..n {
            v[i * block_words..(i + 1) * block_words].copy_from_slice(&x);
            block_mix(&mut x, &mut scratch, r);
        }
        for _ in 0..n {
            // Integerify: the first word of the last 64-byte block, modulo n (a power of two).
            let j = (x[block_words - 16] as usize) & (n - 1);
            for (a, b) in x.iter_mut().zip(&v[j * block_words..(j + 1) * block_words]) {
                *a ^= *b;
            }
            block_mix(&mut x, &mut scratch, r);
        }
        for (w, bytes) in x.iter().zip(chunk.chunks_exact_mut(4)) {
            bytes.copy_from_slice(&w.to_le_bytes());
        }
    }
    pbkdf2::pbkdf2_hmac::<Sha256>(password, &b, 1, out);
    Ok(())
}

/// scrypt's BlockMix over `2 r` 64-byte blocks (as 16-word groups), in place.
fn block_mix(b: &mut [u32], y: &mut [u32], r: usize) {
    use salsa20::cipher::StreamCipherCore as _;
    let mut t = [0u32; 16];
    t.copy_from_slice(&b[(2 * r - 1) * 16..]);
    let mut bytes = Zeroizing::new([0u8; 64]);
    for i in 0..2 * r {
        for (tw, bw) in t.iter_mut().zip(&b[i * 16..(i + 1) * 16]) {
            *tw ^= *bw;
        }
        salsa20::SalsaCore::<salsa20::cipher::consts::U4>::from_raw_state(t)
            .write_keystream_block((&mut *bytes).into());
        for (tw, c) in t.iter_mut().zip(bytes.chunks_exact(4)) {
            *tw = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        // Even blocks go to the first half, odd ones to the second.
        let dest = (i / 2 + (i % 2) * r) * 16;
        y[dest..dest + 16].copy_from_slice(&t);
    }
    b.copy_from_slice(y);
    t.zeroize();
}

/// A secp256k1 private key taken out of (or going into) a v3 file.
///
/// The 32 bytes live in zeroizing memory, locked into RAM where the operating system allows;
/// `Debug` shows only the address. No `Clone`.
pub struct EthSecretKey {
    secret: LockedBytes<KEY_LEN>,
    address: [u8; 20],
}

impl EthSecretKey {
    /// The key with these 32 bytes; refuses zero and values not below the group order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        let address = address_of(bytes)?;
        let mut secret = LockedBytes::new();
        secret.as_mut().copy_from_slice(bytes);
        Ok(EthSecretKey { secret, address })
    }

    /// The 32-byte private key (big-endian scalar). Handle with care.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        self.secret.as_ref()
    }

    /// The Ethereum address: the last 20 bytes of keccak256 of the uncompressed public key.
    pub fn address(&self) -> [u8; 20] {
        self.address
    }

    /// The address as 40 lowercase hex digits, no `0x` (as v3 files write it).
    pub fn address_hex(&self) -> String {
        hex_lower(&self.address)
    }

    /// The address with the EIP-55 mixed-case checksum and `0x`.
    pub fn address_checksummed(&self) -> String {
        let lower = self.address_hex();
        let hash = Keccak256::digest(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl fmt::Debug for EthSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EthSecretKey {{ address: {}, secret: <redacted> }}",
            self.address_hex()
        )
    }
}

/// The Ethereum address of a private key: keccak256 of the 64-byte uncompressed public point
/// (without the `04` prefix), last 20 bytes.
pub fn address_of(secret: &[u8; 32]) -> Result<[u8; 20]> {
    let sk = k256::SecretKey::from_slice(secret).map_err(|_| EthKeystoreError::InvalidKey)?;
    let point = sk.public_key().to_encoded_point(false);
    let hash = Keccak256::digest(&point.as_bytes()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    Ok(out)
}

/// What [`decrypt`] found besides the key: the file's facts (none secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EthKeystoreInfo {
    /// The KDF and its parameters.
    pub kdf: EthKdf,
    /// The file's `id`, if any.
    pub id: Option<String>,
    /// Whether the file had an `address` field (which was then checked).
    pub had_address: bool,
}

/// Everything read from a file before the password is used.
struct Parsed {
    kdf: EthKdf,
    salt: Vec<u8>,
    iv: [u8; IV_LEN],
    ciphertext: [u8; KEY_LEN],
    mac: [u8; MAC_LEN],
    address: Option<[u8; 20]>,
    id: Option<String>,
}

fn malformed(s: impl Into<String>) -> EthKeystoreError {
    EthKeystoreError::Malformed(s.into())
}

fn field<'a>(obj: &'a Map<String, Value>, name: &str, at: &str) -> Result<&'a Value> {
    obj.get(name)
        .ok_or_else(|| malformed(format!("{at}{name} is missing")))
}

fn str_field<'a>(obj: &'a Map<String, Value>, name: &str, at: &str) -> Result<&'a str> {
    field(obj, name, at)?
        .as_str()
        .ok_or_else(|| malformed(format!("{at}{name} is not a string")))
}

fn obj_field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<&'a Map<String, Value>> {
    field(obj, name, at)?
        .as_object()
        .ok_or_else(|| malformed(format!("{at}{name} is not an object")))
}

fn uint_field(obj: &Map<String, Value>, name: &str, at: &str) -> Result<u64> {
    field(obj, name, at)?.as_u64().ok_or_else(|| {
        malformed(format!(
            "{at}{name} is not a non-negative integer below 2^64"
        ))
    })
}

fn hex_value(s: &str) -> Option<u8> {
    match s.as_bytes() {
        [c] => match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        },
        _ => None,
    }
}

/// Decodes hex (an optional `0x` prefix allowed, either case) of exactly `len` bytes when given.
fn decode_hex(s: &str, what: &str, len: Option<usize>) -> Result<Vec<u8>> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if !digits.is_ascii() || !digits.len().is_multiple_of(2) {
        return Err(malformed(format!("{what} is not hex")));
    }
    if let Some(n) = len
        && digits.len() != 2 * n
    {
        return Err(malformed(format!(
            "{what} is {} hex digits, expected {}",
            digits.len(),
            2 * n
        )));
    }
    let mut out = Vec::with_capacity(digits.len() / 2);
    for i in (0..digits.len()).step_by(2) {
        let hi = hex_value(&digits[i..i + 1]);
        let lo = hex_value(&digits[i + 1..i + 2]);
        match (hi, lo) {
            (Some(h), Some(l)) => out.push((h << 4) | l),
            _ => return Err(malformed(format!("{what} is not hex"))),
        }
    }
    Ok(out)
}

fn fixed<const N: usize>(s: &str, what: &str) -> Result<[u8; N]> {
    let v = decode_hex(s, what, Some(N))?;
    let mut out = [0u8; N];
    out.copy_from_slice(&v);
    Ok(out)
}

fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// Reads and bounds everything; derives nothing.
fn parse(file: &[u8]) -> Result<Parsed> {
    if file.len() > MAX_FILE_LEN {
        return Err(malformed(format!(
            "{} bytes, over the limit of {MAX_FILE_LEN}",
            file.len()
        )));
    }
    let root: Value =
        serde_json::from_slice(file).map_err(|e| malformed(format!("not JSON: {e}")))?;
    let root = root
        .as_object()
        .ok_or_else(|| malformed("not a JSON object"))?;
    let version = uint_field(root, "version", "")?;
    if version != 3 {
        return Err(EthKeystoreError::Unsupported(format!(
            "version {version}; only version 3 is supported"
        )));
    }
    // geth writes "crypto"; some older wallets wrote "Crypto".
    let crypto_key = if root.contains_key("crypto") {
        "crypto"
    } else {
        "Crypto"
    };
    let crypto = obj_field(root, crypto_key, "")?;
    let at = "crypto.";

    let cipher = str_field(crypto, "cipher", at)?;
    if cipher != "aes-128-ctr" {
        return Err(EthKeystoreError::Unsupported(format!(
            "cipher {cipher:?}; only aes-128-ctr is supported"
        )));
    }
    let cipherparams = obj_field(crypto, "cipherparams", at)?;
    let iv = fixed::<IV_LEN>(
        str_field(cipherparams, "iv", "crypto.cipherparams.")?,
        "crypto.cipherparams.iv",
    )?;
    let ciphertext_hex = str_field(crypto, "ciphertext", at)?;
    let ciphertext = fixed::<KEY_LEN>(ciphertext_hex, "crypto.ciphertext")?;
    let mac = fixed::<MAC_LEN>(str_field(crypto, "mac", at)?, "crypto.mac")?;

    let kdf_name = str_field(crypto, "kdf", at)?;
    let kp = obj_field(crypto, "kdfparams", at)?;
    let kat = "crypto.kdfparams.";
    let dklen = uint_field(kp, "dklen", kat)?;
    if dklen != DK_LEN as u64 {
        return Err(EthKeystoreError::KdfParamsRefused(format!(
            "dklen {dklen}; only 32 is accepted"
        )));
    }
    let salt_hex = str_field(kp, "salt", kat)?;
    if salt_hex.len() > 2 * MAX_SALT_LEN + 2 {
        return Err(EthKeystoreError::KdfParamsRefused(format!(
            "salt longer than {MAX_SALT_LEN} bytes"
        )));
    }
    let salt = decode_hex(salt_hex, "crypto.kdfparams.salt", None)?;
    if salt.is_empty() {
        return Err(malformed("crypto.kdfparams.salt is empty"));
    }
    let kdf = match kdf_name {
        "scrypt" => {
            let n = uint_field(kp, "n", kat)?;
            let r = uint_field(kp, "r", kat)?;
            let p = uint_field(kp, "p", kat)?;
            if n < 2 || !n.is_power_of_two() {
                return Err(EthKeystoreError::KdfParamsRefused(format!(
                    "scrypt n = {n} is not a power of two above 1"
                )));
            }
            let log_n = n.trailing_zeros();
            if log_n > u32::from(MAX_SCRYPT_LOG_N) {
                return Err(EthKeystoreError::KdfParamsRefused(format!(
                    "scrypt n = 2^{log_n} is over the limit of 2^{MAX_SCRYPT_LOG_N}"
                )));
            }
            let small = |v: u64, name: &str| {
                u32::try_from(v).map_err(|_| {
                    EthKeystoreError::KdfParamsRefused(format!("scrypt {name} = {v} is too large"))
                })
            };
            EthKdf::Scrypt {
                log_n: log_n as u8,
                r: small(r, "r")?,
                p: small(p, "p")?,
            }
        }
        "pbkdf2" => {
            let prf = str_field(kp, "prf", kat)?;
            if prf != "hmac-sha256" {
                return Err(EthKeystoreError::Unsupported(format!(
                    "pbkdf2 prf {prf:?}; only hmac-sha256 is supported"
                )));
            }
            let c = uint_field(kp, "c", kat)?;
            let c = u32::try_from(c).map_err(|_| {
                EthKeystoreError::KdfParamsRefused(format!(
                    "pbkdf2 c = {c} is over the limit of {MAX_PBKDF2_ROUNDS}"
                ))
            })?;
            EthKdf::Pbkdf2 { c }
        }
        other => {
            return Err(EthKeystoreError::Unsupported(format!(
                "kdf {other:?}; scrypt and pbkdf2 are supported"
            )));
        }
    };
    kdf.check()?;

    let address = match root.get("address") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(fixed::<20>(s, "address")?),
        Some(_) => return Err(malformed("address is not a string")),
    };
    let id = match root.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("id is not a string")),
    };
    Ok(Parsed {
        kdf,
        salt,
        iv,
        ciphertext,
        mac,
        address,
        id,
    })
}

fn mac_of(dk: &[u8; DK_LEN], ciphertext: &[u8]) -> [u8; MAC_LEN] {
    let mut h = Keccak256::new();
    h.update(&dk[16..32]);
    h.update(ciphertext);
    h.finalize().into()
}

/// Constant-time equality of two equal-length byte strings (no early exit on a difference).
fn ct_eq(a: &[u8; MAC_LEN], b: &[u8; MAC_LEN]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The KDF parameters of a v3 file, checked exactly as [`decrypt`] checks them, without the
/// password (for display and benchmarks).
pub fn file_kdf(file: &[u8]) -> Result<EthKdf> {
    parse(file).map(|p| p.kdf)
}

/// Decrypts a keystore v3 file (its bytes) with `password`.
///
/// Order: size cap, JSON structure, version / cipher / KDF names, KDF bounds (nothing derived
/// yet), key derivation, MAC (constant time), decryption, key validity, `address` check.
pub fn decrypt(file: &[u8], password: &Passphrase) -> Result<(EthSecretKey, EthKeystoreInfo)> {
    decrypt_with_bytes(file, password.as_bytes())
}

/// [`decrypt`] with the password as raw bytes (v3 passwords are arbitrary byte strings, usually
/// UTF-8; an empty one is allowed by the format).
pub fn decrypt_with_bytes(file: &[u8], password: &[u8]) -> Result<(EthSecretKey, EthKeystoreInfo)> {
    let parsed = parse(file)?;
    let dk = parsed.kdf.derive(password, &parsed.salt)?;
    let mac = mac_of(&dk, &parsed.ciphertext);
    if !ct_eq(&mac, &parsed.mac) {
        return Err(EthKeystoreError::WrongPasswordOrDamaged);
    }
    let mut plain = LockedBytes::<KEY_LEN>::new();
    plain.as_mut().copy_from_slice(&parsed.ciphertext);
    let mut cipher = Aes128Ctr::new(dk[..16].into(), (&parsed.iv).into());
    cipher.apply_keystream(plain.as_mut());
    let key = EthSecretKey::from_bytes(plain.as_ref())?;
    if let Some(stored) = parsed.address
        && stored != key.address
    {
        return Err(EthKeystoreError::AddressMismatch {
            stored: hex_lower(&stored),
            computed: key.address_hex(),
        });
    }
    Ok((
        key,
        EthKeystoreInfo {
            kdf: parsed.kdf,
            id: parsed.id,
            had_address: parsed.address.is_some(),
        },
    ))
}

/// A random UUID version 4, in its 8-4-4-4-12 text form.
fn uuid_v4() -> Result<String> {
    let mut b = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut b)
        .map_err(|e| EthKeystoreError::Randomness(e.to_string()))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex_lower(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Encrypts `key` into a keystore v3 file (pretty JSON, with `address`, a random UUID v4 `id`,
/// a random 32-byte salt and 16-byte iv). Use [`EthKdf::STANDARD`] for real keys.
pub fn encrypt(key: &EthSecretKey, password: &Passphrase, kdf: EthKdf) -> Result<String> {
    encrypt_with_bytes(key, password.as_bytes(), kdf)
}

/// [`encrypt`] with the password as raw bytes.
pub fn encrypt_with_bytes(key: &EthSecretKey, password: &[u8], kdf: EthKdf) -> Result<String> {
    kdf.check()?;
    let mut salt = [0u8; SALT_LEN];
    let mut iv = [0u8; IV_LEN];
    OsRng
        .try_fill_bytes(&mut salt)
        .and_then(|()| OsRng.try_fill_bytes(&mut iv))
        .map_err(|e| EthKeystoreError::Randomness(e.to_string()))?;
    let dk = kdf.derive(password, &salt)?;
    let mut ciphertext = *key.secret_bytes();
    let mut cipher = Aes128Ctr::new(dk[..16].into(), (&iv).into());
    cipher.apply_keystream(&mut ciphertext);
    let mac = mac_of(&dk, &ciphertext);
    let kdfparams = match kdf {
        EthKdf::Scrypt { log_n, r, p } => json!({
            "dklen": DK_LEN, "n": 1u64 << log_n, "r": r, "p": p, "salt": hex_lower(&salt),
        }),
        EthKdf::Pbkdf2 { c } => json!({
            "dklen": DK_LEN, "c": c, "prf": "hmac-sha256", "salt": hex_lower(&salt),
        }),
    };
    let kdf_name = match kdf {
        EthKdf::Scrypt { .. } => "scrypt",
        EthKdf::Pbkdf2 { .. } => "pbkdf2",
    };
    let doc = json!({
        "address": key.address_hex(),
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": { "iv": hex_lower(&iv) },
            "ciphertext": hex_lower(&ciphertext),
            "kdf": kdf_name,
            "kdfparams": kdfparams,
            "mac": hex_lower(&mac),
        },
        "id": uuid_v4()?,
        "version": 3,
    });
    ciphertext.zeroize();
    let mut text = serde_json::to_string_pretty(&doc)
        .map_err(|e| malformed(format!("cannot serialize: {e}")))?;
    text.push('\n');
    Ok(text)
}

impl airlock_severity::Classify for EthKeystoreError {
    fn severity(&self) -> airlock_severity::Severity {
        airlock_severity::Severity::Refused
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// The intermediate values the Web3 Secret Storage Definition publishes for its PBKDF2
    /// vector (password "testpassword").
    #[test]
    fn spec_pbkdf2_intermediates() {
        let salt = decode_hex(
            "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd",
            "",
            None,
        )
        .unwrap();
        let dk = EthKdf::Pbkdf2 { c: 262_144 }
            .derive(b"testpassword", &salt)
            .unwrap();
        assert_eq!(
            hex_lower(&dk[..]),
            "f06d69cdc7da0faffb1008270bca38f5e31891a3a773950e6d0fea48a7188551"
        );
        let ct = decode_hex(
            "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
            "",
            None,
        )
        .unwrap();
        assert_eq!(
            hex_lower(&mac_of(&dk, &ct)),
            "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"
        );
    }

    /// Our scrypt agrees with the `scrypt` crate wherever that crate accepts the parameters, and
    /// with RFC 7914's second test vector.
    #[test]
    fn scrypt_matches_the_scrypt_crate_and_rfc7914() {
        for (log_n, r, p) in [
            (1, 1, 1),
            (4, 1, 1),
            (4, 2, 3),
            (10, 8, 1),
            (12, 8, 6),
            (5, 3, 2),
        ] {
            let mut ours = [0u8; 32];
            scrypt(b"pw", b"salt", log_n, r, p, &mut ours).unwrap();
            let mut theirs = [0u8; 32];
            let params = ::scrypt::Params::new(log_n, r, p, 32).unwrap();
            ::scrypt::scrypt(b"pw", b"salt", &params, &mut theirs).unwrap();
            assert_eq!(ours, theirs, "n=2^{log_n} r={r} p={p}");
        }
        // RFC 7914 section 12: P="password", S="NaCl", N=1024, r=8, p=16, dkLen=64.
        let mut out = [0u8; 64];
        scrypt(b"password", b"NaCl", 10, 8, 16, &mut out).unwrap();
        assert_eq!(
            hex_lower(&out),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        );
    }

    #[test]
    fn uuid_is_version_4() {
        let u = uuid_v4().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn hex_decoding_never_panics_on_odd_input() {
        for s in ["", "0", "zz", "0x", "é1", "0xgg", "ab\u{0}c"] {
            let _ = decode_hex(s, "x", None);
            let _ = decode_hex(s, "x", Some(1));
        }
        assert_eq!(decode_hex("0xAb", "x", Some(1)).unwrap(), vec![0xab]);
    }
}
