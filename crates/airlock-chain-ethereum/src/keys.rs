//! secp256k1 keys for Ethereum accounts: BIP-32 derivation along BIP-44 `m/44'/60'/0'/0/i` from a
//! 64-byte BIP-39 seed, the account address, and recoverable signatures over 32-byte hashes.
//!
//! Signatures are deterministic (RFC 6979) and low-S (EIP-2): the same key and hash always give
//! the same 65 bytes, which is what makes byte-for-byte comparison with `cast` possible.
//!
//! This module must never print, log or return secret key bytes, and never sign anything but a
//! 32-byte hash the caller computed from a payload the person was shown.

use alloy_primitives::{Address, B256, Signature};
use hmac::{Hmac, Mac};
use k256::ecdsa::SigningKey;
use k256::elliptic_curve::PrimeField;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::{NonZeroScalar, Scalar};
use sha2::Sha512;
use zeroize::Zeroizing;

use crate::address::EthAddress;
use crate::error::EthError;

const HARDENED: u32 = 0x8000_0000;

/// A secp256k1 private key of an Ethereum account. `Debug` shows only the address.
pub struct EthKey {
    key: SigningKey,
}

impl std::fmt::Debug for EthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EthKey({})", self.address())
    }
}

/// The BIP-44 path of account index `i`: `m/44'/60'/0'/0/i`.
pub fn bip44_path(index: u32) -> [u32; 5] {
    [44 | HARDENED, 60 | HARDENED, HARDENED, 0, index]
}

impl EthKey {
    /// A key from its 32 secret bytes (refused when zero or not below the curve order).
    pub fn from_bytes(secret: &[u8; 32]) -> Result<EthKey, EthError> {
        let key = SigningKey::from_bytes(secret.into())
            .map_err(|_| EthError::Key("the secret is zero or not below the curve order".into()))?;
        Ok(EthKey { key })
    }

    /// The key of account `index` (`m/44'/60'/0'/0/index`) from a 64-byte BIP-39 seed.
    pub fn from_seed(seed: &[u8], index: u32) -> Result<EthKey, EthError> {
        if index >= HARDENED {
            return Err(EthError::Key(format!(
                "account index {index} is too large (must be below 2^31)"
            )));
        }
        Self::derive(seed, &bip44_path(index))
    }

    /// BIP-32 private derivation along `path` (indices ≥ 2^31 are hardened).
    pub fn derive(seed: &[u8], path: &[u32]) -> Result<EthKey, EthError> {
        if seed.len() < 16 || seed.len() > 64 {
            return Err(EthError::Key(format!(
                "a BIP-32 seed is 16 to 64 bytes, found {}",
                seed.len()
            )));
        }
        let mut mac = Hmac::<Sha512>::new_from_slice(b"Bitcoin seed").expect("any key length");
        mac.update(seed);
        let i = Zeroizing::new(<[u8; 64]>::from(mac.finalize().into_bytes()));
        let mut secret = scalar_from(&i[..32])?;
        let mut chain = Zeroizing::new([0u8; 32]);
        chain.copy_from_slice(&i[32..]);
        for &index in path {
            let mut mac = Hmac::<Sha512>::new_from_slice(&chain[..]).expect("any key length");
            if index >= HARDENED {
                mac.update(&[0]);
                mac.update(&secret.to_bytes());
            } else {
                let public = (k256::ProjectivePoint::GENERATOR * *secret)
                    .to_affine()
                    .to_encoded_point(true);
                mac.update(public.as_bytes());
            }
            mac.update(&index.to_be_bytes());
            let i = Zeroizing::new(<[u8; 64]>::from(mac.finalize().into_bytes()));
            let tweak = scalar_from(&i[..32])?;
            let child = *tweak + *secret;
            secret = Option::from(NonZeroScalar::new(child))
                .ok_or_else(|| EthError::Key("derived a zero key (skip this index)".into()))?;
            chain.copy_from_slice(&i[32..]);
        }
        Ok(EthKey {
            key: SigningKey::from(secret),
        })
    }

    /// The 32 secret bytes (to seal in a keystore); zeroized when dropped.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes().into())
    }

    /// The account's address.
    pub fn address(&self) -> EthAddress {
        EthAddress(Address::from_public_key(self.key.verifying_key()))
    }

    /// Signs a 32-byte hash: deterministic (RFC 6979), low-S, with its recovery parity. The
    /// signature is libsecp256k1's (RFC 6979 without extra entropy, low-S), which is the same 65
    /// bytes k256 and `cast` produce for the key and hash; the secret is copied into
    /// libsecp256k1's key for the call and erased after.
    pub fn sign_hash(&self, hash: &B256) -> Result<Signature, EthError> {
        let secret = Zeroizing::new(<[u8; 32]>::from(self.key.to_bytes()));
        let mut sk = secp256k1::SecretKey::from_slice(&secret[..])
            .map_err(|e| EthError::Signature(format!("signing failed: {e}")))?;
        let msg = secp256k1::Message::from_digest(hash.0);
        let signature = signing_context().sign_ecdsa_recoverable(&msg, &sk);
        sk.non_secure_erase();
        let (recid, rs) = signature.serialize_compact();
        let r = alloy_primitives::U256::from_be_slice(&rs[..32]);
        let s = alloy_primitives::U256::from_be_slice(&rs[32..]);
        Ok(Signature::new(r, s, recid.to_i32() == 1))
    }
}

/// One libsecp256k1 signing context for the process (its creation costs more than a signature).
fn signing_context() -> &'static secp256k1::Secp256k1<secp256k1::SignOnly> {
    static CONTEXT: std::sync::OnceLock<secp256k1::Secp256k1<secp256k1::SignOnly>> =
        std::sync::OnceLock::new();
    CONTEXT.get_or_init(secp256k1::Secp256k1::signing_only)
}

fn scalar_from(bytes: &[u8]) -> Result<NonZeroScalar, EthError> {
    let mut repr = k256::FieldBytes::default();
    repr.copy_from_slice(bytes);
    let s: Option<Scalar> = Scalar::from_repr(repr).into();
    let s = s.ok_or_else(|| EthError::Key("derived value is not below the curve order".into()))?;
    Option::from(NonZeroScalar::new(s)).ok_or_else(|| EthError::Key("derived a zero key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// k256's recoverable signature, low-S normalized: the signer before libsecp256k1 signed.
    fn k256_signature(key: &EthKey, hash: &B256) -> Signature {
        let (sig, recid) = key.key.sign_prehash_recoverable(hash.as_slice()).unwrap();
        let mut parity = recid.is_y_odd();
        let sig = match sig.normalize_s() {
            Some(low) => {
                parity = !parity;
                low
            }
            None => sig,
        };
        Signature::from_signature_and_parity(sig, parity)
    }

    #[test]
    fn libsecp256k1_signs_the_same_bytes_as_k256_and_recovers_the_address() {
        for index in 0..4 {
            let key = EthKey::from_seed(&[7u8; 64], index).unwrap();
            for i in 0u32..64 {
                let hash = alloy_primitives::keccak256(i.to_be_bytes());
                let ours = key.sign_hash(&hash).unwrap();
                assert_eq!(ours, k256_signature(&key, &hash), "key {index}, hash {i}");
                assert_eq!(
                    ours.recover_address_from_prehash(&hash).unwrap(),
                    key.address().0
                );
            }
        }
    }
}
