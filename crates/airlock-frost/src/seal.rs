//! Encryption of secret packages to their recipient, and sealing of state at rest.
//!
//! Secret packages (key generation round 2, refresh round 2, repair deltas and sigmas) pass
//! through the online coordinator, so each is encrypted to its one recipient with `crypto_box`
//! (X25519 + XChaCha20-Poly1305, authenticated by the sender's key). The X25519 keys are the
//! members' Ed25519 identity keys in Montgomery form (libsodium's ed25519→curve25519), so no
//! extra key needs to cross the gap; the message around each ciphertext is also signed.
//!
//! At rest, key shares and nonces are sealed with the keystore's format (Argon2id +
//! XChaCha20-Poly1305, `airlock_custody::keystore`). This module must never return or write a
//! plaintext secret anywhere but into a zeroized buffer.

use airlock_custody::{KdfParams, Passphrase};
use crypto_box::aead::{Aead, AeadCore};
use crypto_box::{ChaChaBox, PublicKey, SecretKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::{Result, refused};

const NONCE: usize = 24;

fn box_secret(identity: &SigningKey) -> SecretKey {
    SecretKey::from_bytes(identity.to_scalar_bytes())
}

fn box_public(identity: &VerifyingKey) -> PublicKey {
    PublicKey::from_bytes(identity.to_montgomery().to_bytes())
}

/// Encrypts `plain` from `sender` to `recipient`: nonce ‖ ciphertext.
pub fn encrypt_to(
    sender: &SigningKey,
    recipient: &VerifyingKey,
    plain: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>> {
    let b = ChaChaBox::new(&box_public(recipient), &box_secret(sender));
    let nonce = ChaChaBox::generate_nonce(rng);
    let mut out = nonce.to_vec();
    out.extend(
        b.encrypt(&nonce, plain)
            .map_err(|_| refused("encryption failed"))?,
    );
    Ok(out)
}

/// Decrypts what `sender` encrypted to `recipient` ([`encrypt_to`]).
pub fn decrypt_from(
    recipient: &SigningKey,
    sender: &VerifyingKey,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE + 16 {
        return Err(refused("the encrypted package is truncated"));
    }
    let b = ChaChaBox::new(&box_public(sender), &box_secret(recipient));
    let nonce = crypto_box::Nonce::from_slice(&sealed[..NONCE]);
    b.decrypt(nonce, &sealed[NONCE..])
        .map(Zeroizing::new)
        .map_err(|_| {
            refused("the encrypted package does not open with this member's key: it was altered, or is for someone else")
        })
}

/// Seals `plain` under the passphrase (the keystore's format).
pub fn seal(plain: &[u8], passphrase: &Passphrase, params: KdfParams) -> Result<Vec<u8>> {
    Ok(airlock_custody::keystore::seal(plain, passphrase, params)?)
}

/// Opens what [`seal`] sealed.
pub fn open(sealed: &[u8], passphrase: &Passphrase) -> Result<Zeroizing<Vec<u8>>> {
    Ok(airlock_custody::keystore::open(sealed, passphrase)?)
}
