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
//! what is written here is only the group xpub's fixed chain code, the memo of path prefixes
//! ([`PathTweaks`]) and the shift of the shares (in the threshold library's own k256 types,
//! through frost-core's `internals` accessors).
//!
//! The group xpub holds the group key lifted to an even y (the x-only key every member shows
//! names exactly one such point), and the shares are negated with it when key generation gave an
//! odd y. The chain code is SHA-256 of a fixed label and that compressed key: anyone who knows the
//! group key can derive the vault's addresses, exactly as anyone who knows a multisig vault's
//! xpubs can. A refresh keeps the group key, so it keeps every address.
//!
//! This module must never accept a hardened step (members could not derive it without the
//! group secret, which no device holds) and never derive from anything but the group key.

use bitcoin::bip32::{ChainCode, ChildNumber, Fingerprint, Xpub};
use bitcoin::secp256k1::{self, PublicKey, Secp256k1, SecretKey};
use bitcoin::{NetworkKind, bip32};
use k256::elliptic_curve::PrimeField as _;
use k256::{ProjectivePoint, Scalar};
use sha2::{Digest, Sha256};

use crate::frost::VerifyingKey;
use crate::frost::keys::{EvenY as _, KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare};
use crate::{Result, refused};

const CHAIN_CODE_LABEL: &[u8] = b"airlock-frost group chain code v1\n";

/// The group's extended public key: the group key with its fixed chain code, at depth 0.
/// `network` only chooses the `xpub`/`tpub` prefix it prints with.
pub fn group_xpub(group: &VerifyingKey, network: NetworkKind) -> Result<Xpub> {
    let bytes = even(group)
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

/// The group key with an even y (BIP-340's lift of its x-only key): what the group xpub holds,
/// so that every member derives the same xpub from the x-only group key it shows, whatever the
/// parity key generation happened to give. Shares are moved to it ([`shift_key`]) before they
/// are moved along a path.
pub fn even(group: &VerifyingKey) -> VerifyingKey {
    group.into_even_y(None)
}

/// The vault's descriptor for the group (without checksum): a key-path-only taproot output at
/// `/<0;1>/*` of the group xpub, whose origin is the group xpub's own fingerprint.
pub fn descriptor(group: &VerifyingKey, network: NetworkKind) -> Result<String> {
    let xpub = group_xpub(group, network)?;
    Ok(format!("tr([{}]{xpub}/<0;1>/*)", xpub.fingerprint()))
}

/// The scalars BIP-32 adds to the group key along unhardened paths from the group xpub, with
/// the xpubs of the paths' prefixes computed once (a vault's inputs share `0/` or `1/`).
pub struct PathTweaks {
    group: VerifyingKey,
    root: Xpub,
    /// Each prefix's xpub and the sum of the tweaks along it (`None` for the root).
    nodes: std::collections::HashMap<Vec<u32>, (Xpub, Option<SecretKey>)>,
}

impl PathTweaks {
    pub fn new(group: &VerifyingKey) -> Result<PathTweaks> {
        Ok(PathTweaks {
            group: even(group),
            root: group_xpub(group, NetworkKind::Test)?,
            nodes: std::collections::HashMap::new(),
        })
    }

    fn step(
        parent: &Xpub,
        sum: Option<SecretKey>,
        index: u32,
    ) -> Result<(SecretKey, ChainCode, SecretKey)> {
        let step = ChildNumber::from_normal_idx(index).map_err(|_| {
            refused(format!(
                "derivation step {index} is hardened; a FROST group derives unhardened steps only"
            ))
        })?;
        let (tweak, chain_code) = parent
            .ckd_pub_tweak(step)
            .map_err(|e: bip32::Error| refused(format!("cannot derive step {index}: {e}")))?;
        let total = match sum {
            None => tweak,
            Some(sum) => sum
                .add_tweak(&secp256k1::Scalar::from(tweak))
                .map_err(|_| refused("a derivation tweak sums to zero"))?,
        };
        Ok((tweak, chain_code, total))
    }

    /// The xpub at `prefix` and the tweak sum along it.
    fn node(&mut self, prefix: &[u32]) -> Result<(Xpub, Option<SecretKey>)> {
        if prefix.is_empty() {
            return Ok((self.root, None));
        }
        if let Some(found) = self.nodes.get(prefix) {
            return Ok(*found);
        }
        let (parent, sum) = self.node(&prefix[..prefix.len() - 1])?;
        let index = prefix[prefix.len() - 1];
        let (tweak, chain_code, total) = Self::step(&parent, sum, index)?;
        let secp = Secp256k1::verification_only();
        let child = Xpub {
            network: parent.network,
            depth: parent.depth.saturating_add(1),
            parent_fingerprint: parent.fingerprint(),
            child_number: ChildNumber::Normal { index },
            public_key: parent
                .public_key
                .add_exp_tweak(&secp, &secp256k1::Scalar::from(tweak))
                .map_err(|_| refused(format!("cannot derive step {index}")))?,
            chain_code,
        };
        self.nodes.insert(prefix.to_vec(), (child, Some(total)));
        Ok((child, Some(total)))
    }

    /// The scalar BIP-32 adds to the group key along `path`, or `None` for the empty path (the
    /// group key itself). A hardened step is refused.
    pub fn tweak(&mut self, path: &[u32]) -> Result<Option<Scalar>> {
        let Some((&index, prefix)) = path.split_last() else {
            return Ok(None);
        };
        let (parent, sum) = self.node(prefix)?;
        let (_, _, total) = Self::step(&parent, sum, index)?;
        let scalar: Option<Scalar> = Scalar::from_repr(total.secret_bytes().into()).into();
        scalar
            .map(Some)
            .ok_or_else(|| refused("a derivation tweak is not a scalar"))
    }
}

impl PathTweaks {
    /// The x-only internal key of the vault's output at `path` (see [`internal_key`]).
    pub fn internal_key(&mut self, path: &[u32]) -> Result<[u8; 32]> {
        let group = self.group;
        x_only(&match self.tweak(path)? {
            None => group,
            Some(tweak) => {
                VerifyingKey::new(group.to_element() + ProjectivePoint::GENERATOR * tweak)
            }
        })
    }
}

fn x_only(key: &VerifyingKey) -> Result<[u8; 32]> {
    // The x coordinate of the compressed encoding; BIP-340 keys are x-only.
    let bytes = key
        .serialize()
        .map_err(|e| refused(format!("a derived key does not encode: {e}")))?;
    bytes[1..]
        .try_into()
        .map_err(|_| refused("a derived key is not 33 bytes"))
}

fn path_tweak(group: &VerifyingKey, path: &[u32]) -> Result<Option<Scalar>> {
    PathTweaks::new(group)?.tweak(path)
}

/// This member's key package moved by a tweak (see the module docs).
pub fn shift_key(key: &KeyPackage, tweak: &Scalar) -> KeyPackage {
    let key = key.clone().into_even_y(None);
    let point = ProjectivePoint::GENERATOR * tweak;
    KeyPackage::new(
        *key.identifier(),
        SigningShare::new(key.signing_share().to_scalar() + tweak),
        VerifyingShare::new(key.verifying_share().to_element() + point),
        VerifyingKey::new(key.verifying_key().to_element() + point),
        *key.min_signers(),
    )
}

/// The group's public package moved by a tweak: every verifying share and the group key.
pub fn shift_public(public: &PublicKeyPackage, tweak: &Scalar) -> PublicKeyPackage {
    let public = public.clone().into_even_y(None);
    let point = ProjectivePoint::GENERATOR * tweak;
    let shares = public
        .verifying_shares()
        .iter()
        .map(|(id, share)| (*id, VerifyingShare::new(share.to_element() + point)))
        .collect();
    PublicKeyPackage::new(
        shares,
        VerifyingKey::new(public.verifying_key().to_element() + point),
        public.min_signers(),
    )
}

/// This member's key package for the child key at `path` of the group xpub.
pub fn derive_key(key: &KeyPackage, path: &[u32]) -> Result<KeyPackage> {
    Ok(match path_tweak(key.verifying_key(), path)? {
        None => key.clone(),
        Some(tweak) => shift_key(key, &tweak),
    })
}

/// The group's public package for the child key at `path` of the group xpub: every verifying
/// share and the group key moved by the same step.
pub fn derive_public(public: &PublicKeyPackage, path: &[u32]) -> Result<PublicKeyPackage> {
    Ok(match path_tweak(public.verifying_key(), path)? {
        None => public.clone(),
        Some(tweak) => shift_public(public, &tweak),
    })
}

/// The x-only internal key of the vault's output at `path` (what the descriptor derives), so a
/// caller can check a PSBT input's `tap_internal_key` against the group before signing.
pub fn internal_key(group: &VerifyingKey, path: &[u32]) -> Result<[u8; 32]> {
    PathTweaks::new(group)?.internal_key(path)
}
