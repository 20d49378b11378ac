//! Keys at rest: how the offline signer (and, for its own identity, the online coordinator) keeps
//! secret keys on disk. This first part covers device identity keys (Ed25519).
//!
//! * [`seal`] / [`open`] encrypt a secret under a passphrase: Argon2id stretches the passphrase,
//!   XChaCha20-Poly1305 encrypts, and a SHA-256 checksum over the whole file tells a damaged file
//!   ([`CustodyError::Corrupted`]) apart from a wrong passphrase ([`CustodyError::WrongPassphrase`]).
//!   The byte layout is documented in [`keystore`].
//! * [`IdentityKey`] is a device's signing key; [`save_encrypted_identity`] /
//!   [`load_encrypted_identity`] keep it sealed (the signer), [`save_plain_identity`] /
//!   [`load_plain_identity`] keep it in a mode-0600 text file (the online coordinator, which has
//!   to run unattended).
//! * [`harden_process`] disables core dumps and locks memory where the OS allows, so secrets in
//!   memory do not end up on disk.
//! * [`eth_keystore`]: import and export of Ethereum keystore v3 files (Web3 Secret Storage).
//! * [`slip39`]: SLIP-0039 Shamir backups (split a secret into mnemonic shares, in groups, and
//!   combine them), our own implementation of the specification.
//! * [`hsm`]: keys generated and kept inside a PKCS#11 token (SoftHSM2, hardware HSMs): secp256k1
//!   signatures for Bitcoin and Ethereum (low-S, recovery id) and Ed25519; the token never lets
//!   the private key out.
//! * [`mnemonic`]: BIP-39 mnemonics (generation with optional dice entropy mixed in, restore,
//!   seed, BIP-32 master fingerprint, re-verifying a written-down backup).
//!
//! Rules this crate keeps, and callers must keep too:
//!
//! * **Never log or print a secret.** Secrets live in zeroizing memory ([`zeroize::Zeroizing`],
//!   ed25519-dalek's zeroize-on-drop) and types holding them have a `Debug` that omits them.
//! * **Never put a secret in an error message.** Errors name files, sizes and problems only.
//! * **Never trust a file.** Parameters read from a keystore are bounded before anything is
//!   allocated, so a hostile file cannot exhaust the machine, and no input makes opening panic.
//! * Nothing here talks to a network: this crate is compiled into the offline signer.

#![deny(unsafe_code)]

pub mod eth_keystore;
mod harden;
pub mod hsm;
mod identity;
pub mod keystore;
pub mod mnemonic;
pub mod slip39;

use std::path::PathBuf;

pub use harden::{HardeningReport, MemoryLock, harden_process};
pub use identity::{
    IdentityKey, load_encrypted_identity, load_plain_identity, save_encrypted_identity,
    save_plain_identity,
};
pub use keystore::{KdfParams, Passphrase, open, seal, sealed_params};

/// Why a custody operation failed. No message ever contains secret material.
#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    /// The keystore is intact (its checksum matches) but does not decrypt with this passphrase.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The keystore file is damaged: truncated, or its checksum does not match its contents.
    #[error("keystore file is corrupted ({0})")]
    Corrupted(String),
    /// The file is intact but not something this build can read: not a keystore, an unknown
    /// format version, or parameters outside the accepted bounds.
    #[error("unsupported key file format ({0})")]
    UnsupportedFormat(String),
    /// An empty passphrase was given.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// A passphrase file was empty (or held only a line ending).
    #[error("passphrase file {} is empty", .0.display())]
    EmptyPassphraseFile(PathBuf),
    /// [`seal`] was asked to use KDF parameters outside the accepted bounds.
    #[error("invalid key-derivation parameters ({0})")]
    InvalidKdfParams(String),
    /// [`seal`] was given a secret larger than [`keystore::MAX_SECRET_LEN`].
    #[error("secret is {len} bytes, over the limit of {max} bytes")]
    SecretTooLarge {
        /// Length of the secret.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The memory for Argon2 could not be allocated.
    #[error("cannot allocate {memory_kib} KiB of memory for key derivation")]
    OutOfMemory {
        /// The memory parameter that was asked for.
        memory_kib: u32,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Randomness(String),
    /// Reading or writing a file failed (the message names the path); this includes refusing to
    /// overwrite an existing key file
    /// ([`airlock_transport::TransportError::AlreadyExists`]).
    #[error(transparent)]
    Transport(#[from] airlock_transport::TransportError),
}

impl airlock_severity::Classify for CustodyError {
    fn severity(&self) -> airlock_severity::Severity {
        airlock_severity::Severity::Refused
    }
}
