//! wallet2's encryption of export files under a secret key (`wallet2::encrypt`, authenticated):
//!
//! ```text
//! key        = cn_slow_hash_v0(secret)                  (generate_chacha_key, one KDF round)
//! file body  = iv[8] ‖ ChaCha20(key, iv, plaintext) ‖ c[32] ‖ r[32]
//! (c, r)     = Schnorr signature (crypto::generate_signature) by the secret key over
//!              Keccak-256(iv ‖ ciphertext), with c = Hs(hash ‖ public key ‖ k·G), r = k − c·secret
//! ```
//!
//! ChaCha20 is the original 64-bit-nonce variant (the `chacha20` crate's `ChaCha20Legacy`).
//! Both sides of the gap hold the view secret key, so this authenticates the file as coming from
//! someone with the wallet's view key; it is not a signature by the spend key. [`decrypt`]
//! checks the signature before it decrypts anything. This module never writes or logs the key.

use chacha20::ChaCha20Legacy;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use curve25519_dalek::Scalar;
use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use rand_core::{CryptoRng, RngCore};
use sha3::{Digest, Keccak256};
use zeroize::Zeroizing;

use crate::error::MoneroError;

const IV_BYTES: usize = 8;
const SIGNATURE_BYTES: usize = 64;

fn cipher_key(secret: &Scalar) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(super::cryptonight::cn_slow_hash_v0(secret.as_bytes()))
}

fn hash_to_scalar(parts: &[&[u8]]) -> Scalar {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    Scalar::from_bytes_mod_order(hasher.finalize().into())
}

/// `crypto::generate_signature(hash, public, secret)`: `c ‖ r`.
fn sign(
    hash: &[u8; 32],
    public: &[u8; 32],
    secret: &Scalar,
    rng: &mut (impl RngCore + CryptoRng),
) -> [u8; 64] {
    loop {
        let nonce: Zeroizing<Scalar> =
            Zeroizing::new(monero_wallet::ed25519::Scalar::random(rng).into());
        let commitment = (&*nonce * ED25519_BASEPOINT_TABLE).compress();
        let c = hash_to_scalar(&[hash, public, commitment.as_bytes()]);
        let r = *nonce - c * secret;
        if c != Scalar::ZERO && r != Scalar::ZERO {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(c.as_bytes());
            signature[32..].copy_from_slice(r.as_bytes());
            return signature;
        }
    }
}

/// `crypto::check_signature`: canonical `c` and `r`, `c = Hs(hash ‖ public ‖ c·P + r·G)`.
fn signature_holds(hash: &[u8; 32], public: &EdwardsPoint, signature: &[u8; 64]) -> bool {
    let canonical = |bytes: &[u8]| -> Option<Scalar> {
        Scalar::from_canonical_bytes(bytes.try_into().expect("32 bytes")).into()
    };
    let (Some(c), Some(r)) = (canonical(&signature[..32]), canonical(&signature[32..])) else {
        return false;
    };
    let commitment = EdwardsPoint::vartime_double_scalar_mul_basepoint(&c, public, &r);
    if commitment == EdwardsPoint::default() {
        return false;
    }
    let public = public.compress();
    hash_to_scalar(&[hash, public.as_bytes(), commitment.compress().as_bytes()]) == c
}

/// Encrypts and authenticates `plaintext` under `secret` as wallet2 does.
pub fn encrypt(plaintext: &[u8], secret: &Scalar, rng: &mut (impl RngCore + CryptoRng)) -> Vec<u8> {
    let mut iv = [0u8; IV_BYTES];
    rng.fill_bytes(&mut iv);
    let mut body = Vec::with_capacity(IV_BYTES + plaintext.len() + SIGNATURE_BYTES);
    body.extend_from_slice(&iv);
    body.extend_from_slice(plaintext);
    let key = cipher_key(secret);
    ChaCha20Legacy::new(key.as_ref().into(), &iv.into()).apply_keystream(&mut body[IV_BYTES..]);
    let hash: [u8; 32] = Keccak256::digest(&body).into();
    let public = (secret * ED25519_BASEPOINT_TABLE).compress().to_bytes();
    body.extend_from_slice(&sign(&hash, &public, secret, rng));
    body
}

/// Checks the signature, then decrypts. `what` names the file in errors.
pub fn decrypt(
    body: &[u8],
    secret: &Scalar,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, MoneroError> {
    if body.len() < IV_BYTES + SIGNATURE_BYTES {
        return Err(MoneroError::invalid(format!(
            "the {what} is truncated ({} encrypted bytes, at least {} expected)",
            body.len(),
            IV_BYTES + SIGNATURE_BYTES
        )));
    }
    let (signed, signature) = body.split_at(body.len() - SIGNATURE_BYTES);
    let hash: [u8; 32] = Keccak256::digest(signed).into();
    let public = secret * ED25519_BASEPOINT_TABLE;
    if !signature_holds(&hash, &public, signature.try_into().expect("64 bytes")) {
        return Err(MoneroError::not_ours(format!(
            "the {what} does not authenticate under this wallet's view key: it was altered, or \
             it belongs to another wallet"
        )));
    }
    let iv: [u8; IV_BYTES] = signed[..IV_BYTES].try_into().expect("eight bytes");
    let mut plaintext = Zeroizing::new(signed[IV_BYTES..].to_vec());
    let key = cipher_key(secret);
    ChaCha20Legacy::new(key.as_ref().into(), &iv.into()).apply_keystream(&mut plaintext);
    Ok(plaintext)
}

/// The compressed point is a valid curve point (wallet2 refuses keys that are not).
pub(crate) fn point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    CompressedEdwardsY(*bytes).decompress()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn round_trips_and_refuses_alterations_and_other_keys() {
        let secret: Scalar = monero_wallet::ed25519::Scalar::random(&mut OsRng).into();
        let body = encrypt(b"outputs", &secret, &mut OsRng);
        assert_eq!(
            decrypt(&body, &secret, "file").unwrap().as_slice(),
            b"outputs"
        );
        for at in [0, 8, body.len() - 1] {
            let mut altered = body.clone();
            altered[at] ^= 1;
            let err = decrypt(&altered, &secret, "file").unwrap_err().to_string();
            assert!(err.contains("does not authenticate"), "{err}");
        }
        let other: Scalar = monero_wallet::ed25519::Scalar::random(&mut OsRng).into();
        assert!(decrypt(&body, &other, "file").is_err());
        assert!(
            decrypt(&body[..70], &secret, "file")
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
    }
}
