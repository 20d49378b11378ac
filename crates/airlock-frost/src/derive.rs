//! Fresh addresses for a FROST group: the group key becomes the public key of an extended key
//! (the group xpub), so the vault's descriptor is an ordinary single-key taproot descriptor,
//! `tr([FINGERPRINT]XPUB/<0;1>/*)`, that any watch-only wallet (BDK, Sparrow, Bitcoin Core)
//! derives receive and change addresses from, and every member derives the matching key share.
//!
//! BIP-32 public derivation adds a public scalar `t` (from HMAC-SHA512 over the chain code and
//! the parent key) to the parent key. Because the Lagrange coefficients of any signing set sum
//! to one, adding the same `t` to every member's signing share (and `t·G` to every verifying
//! share and to the group key) gives a valid sharing of the child key: no new ceremony, and the
//! group's threshold is unchanged. The BIP-32 arithmetic is rust-bitcoin's (`Xpub::ckd_pub_tweak`);
//! what is written here is only the group xpub's fixed chain code and the shift of the shares.
//!
//! The chain code is SHA-256 of a fixed label and the compressed group key: anyone who knows the
//! group key can derive the vault's addresses, exactly as anyone who knows a multisig vault's
//! xpubs can. A refresh keeps the group key, so it keeps every address.
//!
//! This module must never accept a hardened step (members could not derive it without the
//! group secret, which no device holds) and never derive from anything but the group key.

use bitcoin::bip32::{ChainCode, ChildNumber, Fingerprint, Xpub};
use bitcoin::secp256k1::{self, PublicKey, Secp256k1, SecretKey};
use bitcoin::{NetworkKind, bip32};
use sha2::{Digest, Sha256};

use crate::frost::VerifyingKey;
use crate::frost::keys::{KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare};
use crate::{Result, refused};

const CHAIN_CODE_LABEL: &[u8] = b"airlock-frost group chain code v1\n";

/// The group's extended public key: the group key with its fixed chain code, at depth 0.
/// `network` only chooses the `xpub`/`tpub` prefix it prints with.
pub fn group_xpub(group: &VerifyingKey, network: NetworkKind) -> Result<Xpub> {
    let bytes = group
        .serialize()
        .map_err(|e| refused(format!("the group key does not encode: {e}")))?;
    let public_key = PublicKey::from_slice(&bytes)
        .map_err(|e| refused(format!("the group key is not a secp256k1 point: {e}")))?;
    let chain_code: [u8; 32] = Sha256::new()
        .chain_update(CHAIN_CODE_LABEL)
        .chain_update(&bytes)
        .finalize()
        .into();
    Ok(Xpub {
        network,
        depth: 0,
        parent_fingerprint: Fingerprint::default(),
        child_number: ChildNumber::Normal { index: 0 },
        public_key,
        chain_code: ChainCode::from(chain_code),
    })
}

/// The vault's descriptor for the group (without checksum): a key-path-only taproot output at
/// `/<0;1>/*` of the group xpub, whose origin is the group xpub's own fingerprint.
pub fn descriptor(group: &VerifyingKey, network: NetworkKind) -> Result<String> {
    let xpub = group_xpub(group, network)?;
    Ok(format!("tr([{}]{xpub}/<0;1>/*)", xpub.fingerprint()))
}

/// The scalar BIP-32 adds to the group key along `path` (unhardened steps from the group xpub),
/// or `None` for the empty path (the group key itself).
fn path_tweak(group: &VerifyingKey, path: &[u32]) -> Result<Option<SecretKey>> {
    let mut xpub = group_xpub(group, NetworkKind::Test)?;
    let secp = Secp256k1::verification_only();
    let mut total: Option<SecretKey> = None;
    for &index in path {
        let step = ChildNumber::from_normal_idx(index).map_err(|_| {
            refused(format!(
                "derivation step {index} is hardened; a FROST group derives unhardened steps only"
            ))
        })?;
        let (tweak, chain_code) = xpub
            .ckd_pub_tweak(step)
            .map_err(|e: bip32::Error| refused(format!("cannot derive step {index}: {e}")))?;
        xpub = xpub
            .ckd_pub(&secp, step)
            .map_err(|e| refused(format!("cannot derive step {index}: {e}")))?;
        debug_assert_eq!(xpub.chain_code, chain_code);
        total = Some(match total {
            None => tweak,
            Some(sum) => sum
                .add_tweak(&secp256k1::Scalar::from(tweak))
                .map_err(|_| refused("a derivation tweak sums to zero"))?,
        });
    }
    Ok(total)
}

fn shift_point(bytes: &[u8], tweak: &SecretKey) -> Result<Vec<u8>> {
    let secp = Secp256k1::verification_only();
    let point =
        PublicKey::from_slice(bytes).map_err(|e| refused(format!("a key does not decode: {e}")))?;
    Ok(point
        .add_exp_tweak(&secp, &secp256k1::Scalar::from(*tweak))
        .map_err(|_| refused("a derived key is the point at infinity"))?
        .serialize()
        .to_vec())
}

fn shifted_verifying_key(key: &VerifyingKey, tweak: &SecretKey) -> Result<VerifyingKey> {
    let bytes = key
        .serialize()
        .map_err(|e| refused(format!("the group key does not encode: {e}")))?;
    VerifyingKey::deserialize(&shift_point(&bytes, tweak)?)
        .map_err(|e| refused(format!("a derived group key does not decode: {e}")))
}

fn shifted_verifying_share(share: &VerifyingShare, tweak: &SecretKey) -> Result<VerifyingShare> {
    let bytes = share
        .serialize()
        .map_err(|e| refused(format!("a verifying share does not encode: {e}")))?;
    VerifyingShare::deserialize(&shift_point(&bytes, tweak)?)
        .map_err(|e| refused(format!("a derived verifying share does not decode: {e}")))
}

/// This member's key package for the child key at `path` of the group xpub.
pub fn derive_key(key: &KeyPackage, path: &[u32]) -> Result<KeyPackage> {
    let Some(tweak) = path_tweak(key.verifying_key(), path)? else {
        return Ok(key.clone());
    };
    let mut secret = zeroize::Zeroizing::new(key.signing_share().serialize());
    let shifted = SecretKey::from_slice(&secret)
        .map_err(|_| refused("the signing share is not a valid scalar"))?
        .add_tweak(&secp256k1::Scalar::from(tweak))
        .map_err(|_| refused("a derived signing share is zero"))?;
    secret.copy_from_slice(&shifted.secret_bytes());
    let signing_share = SigningShare::deserialize(&secret)
        .map_err(|e| refused(format!("a derived signing share does not decode: {e}")))?;
    Ok(KeyPackage::new(
        *key.identifier(),
        signing_share,
        shifted_verifying_share(key.verifying_share(), &tweak)?,
        shifted_verifying_key(key.verifying_key(), &tweak)?,
        *key.min_signers(),
    ))
}

/// The group's public package for the child key at `path` of the group xpub: every verifying
/// share and the group key moved by the same step.
pub fn derive_public(public: &PublicKeyPackage, path: &[u32]) -> Result<PublicKeyPackage> {
    let Some(tweak) = path_tweak(public.verifying_key(), path)? else {
        return Ok(public.clone());
    };
    let mut shares = std::collections::BTreeMap::new();
    for (id, share) in public.verifying_shares() {
        shares.insert(*id, shifted_verifying_share(share, &tweak)?);
    }
    Ok(PublicKeyPackage::new(
        shares,
        shifted_verifying_key(public.verifying_key(), &tweak)?,
        public.min_signers(),
    ))
}

/// The x-only internal key of the vault's output at `path` (what the descriptor derives), so a
/// caller can check a PSBT input's `tap_internal_key` against the group before signing.
pub fn internal_key(group: &VerifyingKey, path: &[u32]) -> Result<[u8; 32]> {
    let key = match path_tweak(group, path)? {
        None => *group,
        Some(tweak) => shifted_verifying_key(group, &tweak)?,
    };
    // The x coordinate of the compressed encoding; BIP-340 keys are x-only.
    let bytes = key
        .serialize()
        .map_err(|e| refused(format!("a derived key does not encode: {e}")))?;
    bytes[1..]
        .try_into()
        .map_err(|_| refused("a derived key is not 33 bytes"))
}
