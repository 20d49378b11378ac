//! Device identity keys (Ed25519) and their files.

use std::fmt;
use std::path::Path;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::OsRng;
use zeroize::Zeroizing;

use crate::CustodyError;
use crate::keystore::{self, KdfParams, Passphrase};

/// Largest encrypted identity file read (a real one is 149 bytes).
const MAX_ENCRYPTED_IDENTITY_LEN: u64 = 4096;
/// Largest plain identity file read (a real one is 85 bytes).
const MAX_PLAIN_IDENTITY_LEN: u64 = 1024;
/// First word of a plain identity file, followed by one space and 64 hex digits.
const PLAIN_PREFIX: &str = "airlock-identity-v1 ";

/// A device identity key (Ed25519), used to sign artifacts.
///
/// The secret is zeroed when the key is dropped (ed25519-dalek's `zeroize` feature). `Debug`
/// shows only the public key. There is deliberately no `Clone`: copies of secrets are avoided.
pub struct IdentityKey {
    signing: SigningKey,
}

impl IdentityKey {
    /// A fresh key from the operating system's RNG.
    ///
    /// # Panics
    ///
    /// If the operating system's RNG fails, as ed25519-dalek does.
    pub fn generate() -> Self {
        IdentityKey {
            signing: SigningKey::generate(&mut OsRng),
        }
    }

    /// The key with this 32-byte secret (seed).
    pub fn from_secret_bytes(b: &[u8; 32]) -> Self {
        IdentityKey {
            signing: SigningKey::from_bytes(b),
        }
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The underlying ed25519-dalek key, for APIs that need it.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Signs `msg` (pure Ed25519).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.signing.sign(msg)
    }

    /// The 32-byte secret (seed), for a backup the person asked for (SLIP-39 shares); zeroed
    /// when dropped. Never log or store it unencrypted.
    pub fn secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityKey { public: ")?;
        for b in self.verifying_key().as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(", secret: <redacted> }")
    }
}

/// Puts the file name in front of the detail of file-format errors.
fn in_file(path: &Path, err: CustodyError) -> CustodyError {
    match err {
        CustodyError::Corrupted(d) => CustodyError::Corrupted(format!("{}: {d}", path.display())),
        CustodyError::UnsupportedFormat(d) => {
            CustodyError::UnsupportedFormat(format!("{}: {d}", path.display()))
        }
        other => other,
    }
}

/// Writes `key` to a new encrypted identity file (the signer's): [`keystore::seal`] of the 32-byte
/// secret, written atomically with mode 0600. Refuses to overwrite anything already at `path`
/// ([`airlock_transport::TransportError::AlreadyExists`]).
pub fn save_encrypted_identity(
    path: &Path,
    key: &IdentityKey,
    passphrase: &Passphrase,
    params: KdfParams,
) -> Result<(), CustodyError> {
    let sealed = keystore::seal(&key.secret()[..], passphrase, params)?;
    airlock_transport::write_atomic_private_new(path, &sealed)?;
    Ok(())
}

/// Reads an identity file written by [`save_encrypted_identity`].
pub fn load_encrypted_identity(
    path: &Path,
    passphrase: &Passphrase,
) -> Result<IdentityKey, CustodyError> {
    let sealed = airlock_transport::read_bounded(path, MAX_ENCRYPTED_IDENTITY_LEN)?;
    let secret = keystore::open(&sealed, passphrase).map_err(|e| in_file(path, e))?;
    let seed: &[u8; 32] = secret[..].try_into().map_err(|_| {
        CustodyError::UnsupportedFormat(format!(
            "{}: keystore holds a {}-byte secret, not a 32-byte identity key",
            path.display(),
            secret.len()
        ))
    })?;
    Ok(IdentityKey::from_secret_bytes(seed))
}

/// Writes `key` to a new plain identity file (the online coordinator's), mode 0600, atomically:
/// one line `airlock-identity-v1 <64 lowercase hex digits>\n`. Refuses to overwrite anything
/// already at `path`.
pub fn save_plain_identity(path: &Path, key: &IdentityKey) -> Result<(), CustodyError> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let secret = key.secret();
    let mut text = Zeroizing::new(String::with_capacity(PLAIN_PREFIX.len() + 64 + 1));
    text.push_str(PLAIN_PREFIX);
    for b in secret.iter() {
        text.push(char::from(HEX[usize::from(b >> 4)]));
        text.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    text.push('\n');
    airlock_transport::write_atomic_private_new(path, text.as_bytes())?;
    Ok(())
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Reads an identity file written by [`save_plain_identity`]. One trailing `"\n"` or `"\r\n"` is
/// accepted; hex digits may be upper or lower case. Errors never show the file's contents.
pub fn load_plain_identity(path: &Path) -> Result<IdentityKey, CustodyError> {
    let bytes = Zeroizing::new(airlock_transport::read_bounded(
        path,
        MAX_PLAIN_IDENTITY_LEN,
    )?);
    let line = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(&bytes);
    let digits = line.strip_prefix(PLAIN_PREFIX.as_bytes()).ok_or_else(|| {
        CustodyError::UnsupportedFormat(format!(
            "{}: not an Airlock plain identity file (expected \"airlock-identity-v1 <64 hex digits>\")",
            path.display()
        ))
    })?;
    let bad_secret = || {
        CustodyError::Corrupted(format!(
            "{}: the identity secret is not exactly 64 hex digits",
            path.display()
        ))
    };
    if digits.len() != 64 {
        return Err(bad_secret());
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    for (out, pair) in seed.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = hex_digit(pair[0]).ok_or_else(bad_secret)?;
        let lo = hex_digit(pair[1]).ok_or_else(bad_secret)?;
        *out = (hi << 4) | lo;
    }
    Ok(IdentityKey::from_secret_bytes(&seed))
}
