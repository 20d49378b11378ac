//! Passphrase-sealed secrets: the keystore file format.
//!
//! # Layout (format version 1)
//!
//! All integers are big-endian.
//!
//! | offset     | length   | field                                                       |
//! |------------|----------|-------------------------------------------------------------|
//! | 0          | 16       | magic `AIRLOCK-KEYSTORE` (ASCII)                            |
//! | 16         | 1        | format version, `1`                                         |
//! | 17         | 4        | Argon2id memory, KiB (u32)                                  |
//! | 21         | 4        | Argon2id iterations (u32)                                   |
//! | 25         | 4        | Argon2id parallelism (u32)                                  |
//! | 29         | 16       | Argon2id salt (random)                                      |
//! | 45         | 24       | XChaCha20-Poly1305 nonce (random)                           |
//! | 69         | n + 16   | ciphertext of the n-byte secret, then the Poly1305 tag      |
//! | 85 + n     | 32       | SHA-256 of bytes `0 .. 85 + n` (everything before it)       |
//!
//! Version 1 means Argon2id (version 0x13) producing a 32-byte key, and XChaCha20-Poly1305 with
//! bytes `0 .. 69` (the header) as associated data, so the parameters cannot be swapped without
//! the decryption failing.
//!
//! # Opening, in order
//!
//! 1. The first 16 bytes must be the magic or within a few flipped bits of it; otherwise the file
//!    is not a keystore ([`CustodyError::UnsupportedFormat`]).
//! 2. Length at least [`MIN_SEALED_LEN`] and a matching checksum, else
//!    [`CustodyError::Corrupted`]. Any damage, including a single flipped bit anywhere, stops here.
//! 3. Exact magic, known version, parameters within bounds (memory at most 4 GiB, 1 to 64
//!    iterations, 1 to 64 lanes, at least 8 KiB per lane), else
//!    [`CustodyError::UnsupportedFormat`]. Nothing has been allocated for the KDF yet.
//! 4. Argon2id, then AEAD decryption; failure now means [`CustodyError::WrongPassphrase`].
//!
//! The checksum is not a security mechanism (anyone can recompute it); the AEAD tag is. It exists
//! so that a damaged file is reported as damaged rather than as a wrong passphrase.

use std::fmt;
use std::path::Path;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use chacha20poly1305::aead::AeadInPlace as _;
use chacha20poly1305::{Key, KeyInit as _, XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::CustodyError;

/// The 16-byte magic at the start of every keystore file.
pub const MAGIC: &[u8; 16] = b"AIRLOCK-KEYSTORE";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;
const KEY_LEN: usize = 32;
const PARAMS_OFFSET: usize = MAGIC.len() + 1;
const SALT_OFFSET: usize = PARAMS_OFFSET + 12;
const NONCE_OFFSET: usize = SALT_OFFSET + SALT_LEN;
/// Length of the header (magic, version, parameters, salt, nonce): the AEAD associated data.
pub const HEADER_LEN: usize = NONCE_OFFSET + NONCE_LEN;
/// Length of a sealed empty secret; every keystore is at least this long.
pub const MIN_SEALED_LEN: usize = HEADER_LEN + TAG_LEN + CHECKSUM_LEN;
/// Largest secret [`seal`] accepts.
pub const MAX_SECRET_LEN: usize = 64 * 1024;
/// Largest sealed file this crate produces (for callers choosing a read cap).
pub const MAX_SEALED_LEN: usize = MIN_SEALED_LEN + MAX_SECRET_LEN;

/// Upper bound on Argon2 memory accepted from a file or for sealing: 4 GiB.
pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
/// Upper bound on Argon2 iterations.
pub const MAX_ITERATIONS: u32 = 64;
/// Upper bound on Argon2 parallelism (lanes).
pub const MAX_PARALLELISM: u32 = 64;

/// A file whose first 16 bytes differ from the magic in more bits than this is not a keystore at
/// all (rather than a damaged one). Random data differs in about 64 bits.
const MAGIC_TOLERANCE_BITS: u32 = 16;

/// Largest passphrase file [`Passphrase::from_file`] reads.
pub const MAX_PASSPHRASE_FILE_LEN: u64 = 4096;

/// Argon2id parameters, stored in every keystore file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes over memory (Argon2 `t`).
    pub iterations: u32,
    /// Number of lanes (Argon2 `p`). Lanes are computed one after another here; the value still
    /// changes the result and must be kept.
    pub parallelism: u32,
}

impl KdfParams {
    /// RFC 9106's second recommended profile: 64 MiB, t = 3, p = 4.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 4,
    };

    /// Small parameters for test suites (8 MiB, t = 1, p = 1). Files sealed with them record them
    /// like any others; never use them for real keys.
    pub const INSECURE_FAST: KdfParams = KdfParams {
        memory_kib: 8 * 1024,
        iterations: 1,
        parallelism: 1,
    };

    /// Checks the bounds that every keystore's parameters must satisfy.
    pub fn check(&self) -> Result<(), String> {
        let KdfParams {
            memory_kib: m,
            iterations: t,
            parallelism: p,
        } = *self;
        if m > MAX_MEMORY_KIB {
            return Err(format!(
                "Argon2 memory {m} KiB is over the limit of {MAX_MEMORY_KIB} KiB (4 GiB)"
            ));
        }
        if t == 0 || t > MAX_ITERATIONS {
            return Err(format!(
                "Argon2 iterations {t} outside the accepted range 1..={MAX_ITERATIONS}"
            ));
        }
        if p == 0 || p > MAX_PARALLELISM {
            return Err(format!(
                "Argon2 parallelism {p} outside the accepted range 1..={MAX_PARALLELISM}"
            ));
        }
        if u64::from(m) < 8 * u64::from(p) {
            return Err(format!(
                "Argon2 memory {m} KiB is below 8 KiB per lane for {p} lanes"
            ));
        }
        Ok(())
    }

    fn to_bytes(self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[0..4].copy_from_slice(&self.memory_kib.to_be_bytes());
        out[4..8].copy_from_slice(&self.iterations.to_be_bytes());
        out[8..12].copy_from_slice(&self.parallelism.to_be_bytes());
        out
    }

    fn from_bytes(b: &[u8; 12]) -> KdfParams {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        KdfParams {
            memory_kib: word(0),
            iterations: word(4),
            parallelism: word(8),
        }
    }
}

impl fmt::Display for KdfParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Argon2id m={} KiB, t={}, p={}",
            self.memory_kib, self.iterations, self.parallelism
        )
    }
}

/// A passphrase, held in memory that is zeroed when dropped. Its `Debug` does not show it.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    /// A second zeroizing copy, for a signer that must open its keystore again later in the same
    /// command (a FROST share's nonce store).
    pub fn duplicate(&self) -> Passphrase {
        Passphrase(Zeroizing::new(self.0.to_vec()))
    }

    /// Wraps a passphrase; an empty one is refused ([`CustodyError::EmptyPassphrase`]).
    pub fn new(s: String) -> Result<Self, CustodyError> {
        // Taking ownership moves the buffer in without copying it.
        let bytes = Zeroizing::new(s.into_bytes());
        if bytes.is_empty() {
            return Err(CustodyError::EmptyPassphrase);
        }
        Ok(Passphrase(bytes))
    }

    /// Reads a passphrase from a file (at most [`MAX_PASSPHRASE_FILE_LEN`] bytes). Exactly one
    /// trailing `"\n"` or `"\r\n"` is removed; everything else, including other whitespace, is
    /// part of the passphrase. The bytes are used as they are (no UTF-8 requirement). A file that
    /// is empty after that is refused with an error naming it.
    pub fn from_file(path: &Path) -> Result<Self, CustodyError> {
        let mut bytes = Zeroizing::new(airlock_transport::read_bounded(
            path,
            MAX_PASSPHRASE_FILE_LEN,
        )?);
        if bytes.ends_with(b"\r\n") {
            let n = bytes.len() - 2;
            bytes.truncate(n);
        } else if bytes.ends_with(b"\n") {
            let n = bytes.len() - 1;
            bytes.truncate(n);
        }
        if bytes.is_empty() {
            return Err(CustodyError::EmptyPassphraseFile(path.to_path_buf()));
        }
        Ok(Passphrase(bytes))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Derives the 32-byte encryption key. The Argon2 working memory is allocated fallibly and zeroed
/// afterwards (it holds enough state to recompute the key).
fn derive_key(
    passphrase: &Passphrase,
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; KEY_LEN]>, CustodyError> {
    // Callers have run `params.check()`, so this cannot fail; map it anyway rather than panic.
    let argon_params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(KEY_LEN),
    )
    .map_err(|e| CustodyError::UnsupportedFormat(format!("Argon2 parameters rejected: {e}")))?;
    let block_count = argon_params.block_count();
    let mut blocks: Zeroizing<Vec<Block>> = Zeroizing::new(Vec::new());
    blocks
        .try_reserve_exact(block_count)
        .map_err(|_| CustodyError::OutOfMemory {
            memory_kib: params.memory_kib,
        })?;
    blocks.resize(block_count, Block::default());
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into_with_memory(
            passphrase.as_bytes(),
            salt,
            &mut key[..],
            blocks.as_mut_slice(),
        )
        .map_err(|e| CustodyError::UnsupportedFormat(format!("Argon2 failed: {e}")))?;
    Ok(key)
}

/// Encrypts `secret` under `passphrase`. See the [module docs](self) for the layout.
///
/// Fails if `params` are outside the bounds [`open`] accepts ([`KdfParams::check`]), if the
/// secret is over [`MAX_SECRET_LEN`], or if the system RNG fails.
pub fn seal(
    secret: &[u8],
    passphrase: &Passphrase,
    params: KdfParams,
) -> Result<Vec<u8>, CustodyError> {
    params.check().map_err(CustodyError::InvalidKdfParams)?;
    if secret.len() > MAX_SECRET_LEN {
        return Err(CustodyError::SecretTooLarge {
            len: secret.len(),
            max: MAX_SECRET_LEN,
        });
    }
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    OsRng
        .try_fill_bytes(&mut salt)
        .and_then(|()| OsRng.try_fill_bytes(&mut nonce))
        .map_err(|e| CustodyError::Randomness(e.to_string()))?;

    let mut out = Vec::with_capacity(MIN_SEALED_LEN + secret.len());
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&params.to_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    debug_assert_eq!(out.len(), HEADER_LEN);

    let key = derive_key(passphrase, &salt, params)?;
    let cipher = XChaCha20Poly1305::new(Key::from_slice(&key[..]));
    // Room for the tag up front, so the plaintext is never left behind by a reallocation.
    let mut buf = Zeroizing::new(Vec::with_capacity(secret.len() + TAG_LEN));
    buf.extend_from_slice(secret);
    cipher
        .encrypt_in_place(XNonce::from_slice(&nonce), &out, &mut *buf)
        .map_err(|_| CustodyError::SecretTooLarge {
            len: secret.len(),
            max: MAX_SECRET_LEN,
        })?;
    out.extend_from_slice(&buf);

    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    Ok(out)
}

/// The parts of a checked keystore.
struct Parsed<'a> {
    header: &'a [u8],
    params: KdfParams,
    salt: &'a [u8],
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

/// Steps 1–3 of opening: everything that needs no passphrase. Never panics, allocates nothing.
fn parse(sealed: &[u8]) -> Result<Parsed<'_>, CustodyError> {
    let prefix_len = sealed.len().min(MAGIC.len());
    let differing_bits: u32 = sealed[..prefix_len]
        .iter()
        .zip(MAGIC)
        .map(|(a, b)| (a ^ b).count_ones())
        .sum();
    if differing_bits > MAGIC_TOLERANCE_BITS {
        return Err(CustodyError::UnsupportedFormat(
            "not an Airlock keystore (unrecognized header)".into(),
        ));
    }
    if sealed.len() < MIN_SEALED_LEN {
        return Err(CustodyError::Corrupted(format!(
            "truncated: {} bytes, a keystore is at least {MIN_SEALED_LEN} bytes",
            sealed.len()
        )));
    }
    let (body, checksum) = sealed.split_at(sealed.len() - CHECKSUM_LEN);
    if Sha256::digest(body).as_slice() != checksum {
        return Err(CustodyError::Corrupted("checksum mismatch".into()));
    }
    if &body[..MAGIC.len()] != MAGIC {
        return Err(CustodyError::UnsupportedFormat(
            "not an Airlock keystore (unrecognized header)".into(),
        ));
    }
    let version = body[MAGIC.len()];
    if version != FORMAT_VERSION {
        return Err(CustodyError::UnsupportedFormat(format!(
            "keystore format version {version}; this build reads version {FORMAT_VERSION}"
        )));
    }
    let mut param_bytes = [0u8; 12];
    param_bytes.copy_from_slice(&body[PARAMS_OFFSET..SALT_OFFSET]);
    let params = KdfParams::from_bytes(&param_bytes);
    params.check().map_err(CustodyError::UnsupportedFormat)?;
    Ok(Parsed {
        header: &body[..HEADER_LEN],
        params,
        salt: &body[SALT_OFFSET..NONCE_OFFSET],
        nonce: &body[NONCE_OFFSET..HEADER_LEN],
        ciphertext: &body[HEADER_LEN..],
    })
}

/// Decrypts a keystore made by [`seal`].
///
/// Errors: [`CustodyError::Corrupted`] for a damaged or truncated file,
/// [`CustodyError::UnsupportedFormat`] for something that is not a version-1 keystore or whose
/// parameters are out of bounds (checked before any memory is allocated for the KDF),
/// [`CustodyError::WrongPassphrase`] when an intact file does not decrypt. Never panics.
pub fn open(sealed: &[u8], passphrase: &Passphrase) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
    let parsed = parse(sealed)?;
    let key = derive_key(passphrase, parsed.salt, parsed.params)?;
    let cipher = XChaCha20Poly1305::new(Key::from_slice(&key[..]));
    let mut buf = Zeroizing::new(Vec::with_capacity(parsed.ciphertext.len()));
    buf.extend_from_slice(parsed.ciphertext);
    cipher
        .decrypt_in_place(XNonce::from_slice(parsed.nonce), parsed.header, &mut *buf)
        .map_err(|_| CustodyError::WrongPassphrase)?;
    Ok(buf)
}

/// The KDF parameters of a keystore, without the passphrase (for display and benchmarks). The
/// file is checked exactly as [`open`] checks it before deriving a key.
pub fn sealed_params(sealed: &[u8]) -> Result<KdfParams, CustodyError> {
    parse(sealed).map(|p| p.params)
}
