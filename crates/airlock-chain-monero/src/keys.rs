//! Monero wallet keys: the secret spend key, the view key derived from it (wallet2's rule,
//! `a = Hs(b)`), public keys, the primary address and subaddresses for a network.
//!
//! The secret spend key `b` is the only secret a wallet needs: the view key is `Hs(b)` (Keccak-256
//! reduced mod l), exactly as wallet2 derives it for 25-word seeds and polyseeds. Secrets live in
//! [`Zeroizing`] buffers and are never printed: `Debug` shows public keys only.
//!
//! This module must never print, log or serialize a secret key except through the explicit
//! accessors named `*_secret_bytes`, and contains no network code.

use core::fmt;

use curve25519_dalek::Scalar as DalekScalar;
use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::EdwardsPoint;
use monero_wallet::ViewPair;
use monero_wallet::address::{AddressType, MoneroAddress, Network, SubaddressIndex};
use monero_wallet::ed25519::{Point, Scalar};
use zeroize::Zeroizing;

use crate::error::MoneroError;

/// The network a wallet lives on. Regtest uses mainnet address prefixes (monerod's `--regtest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MoneroNetwork {
    Mainnet,
    Testnet,
    Stagenet,
    Regtest,
}

impl MoneroNetwork {
    /// The address prefix family this network uses.
    pub fn address_network(self) -> Network {
        match self {
            MoneroNetwork::Mainnet | MoneroNetwork::Regtest => Network::Mainnet,
            MoneroNetwork::Testnet => Network::Testnet,
            MoneroNetwork::Stagenet => Network::Stagenet,
        }
    }

    /// The name used in vault definitions and files: "mainnet", "testnet", "stagenet", "regtest".
    pub fn name(self) -> &'static str {
        match self {
            MoneroNetwork::Mainnet => "mainnet",
            MoneroNetwork::Testnet => "testnet",
            MoneroNetwork::Stagenet => "stagenet",
            MoneroNetwork::Regtest => "regtest",
        }
    }

    /// Parses a network name (see [`MoneroNetwork::name`]).
    pub fn parse(name: &str) -> Result<Self, MoneroError> {
        match name {
            "mainnet" => Ok(MoneroNetwork::Mainnet),
            "testnet" => Ok(MoneroNetwork::Testnet),
            "stagenet" => Ok(MoneroNetwork::Stagenet),
            "regtest" => Ok(MoneroNetwork::Regtest),
            other => Err(MoneroError::invalid(format!(
                "unknown Monero network {other:?} (expected mainnet, testnet, stagenet or regtest)"
            ))),
        }
    }
}

/// Parses an address and checks it belongs to `network`.
pub fn parse_address(network: MoneroNetwork, text: &str) -> Result<MoneroAddress, MoneroError> {
    let address = MoneroAddress::from_str_with_unchecked_network(text.trim())
        .map_err(|e| MoneroError::invalid(format!("not a Monero address ({e}): {text:?}")))?;
    if address.network() != network.address_network() {
        return Err(MoneroError::invalid(format!(
            "address {text} is for {:?}, this wallet is on {}",
            address.network(),
            network.name()
        )));
    }
    Ok(address)
}

pub(crate) fn public_of(secret: &DalekScalar) -> EdwardsPoint {
    secret * ED25519_BASEPOINT_TABLE
}

/// The public half every reviewer needs: the public spend key `B` and the secret view key `a`.
/// Enough to scan, to recognise change and to check that an input belongs to the wallet
/// (`P = B + k·G` for the input's key offset `k`); not enough to spend.
#[derive(Clone)]
pub struct ViewKeys {
    spend_public: EdwardsPoint,
    view_secret: Zeroizing<DalekScalar>,
}

impl ViewKeys {
    /// From the public spend key and the secret view key (32 bytes each). The view key must be a
    /// canonical scalar and the spend key a torsion-free point.
    pub fn new(spend_public: [u8; 32], view_secret: &[u8; 32]) -> Result<Self, MoneroError> {
        let spend_public = monero_wallet::ed25519::CompressedPoint::from(spend_public)
            .decompress()
            .ok_or_else(|| MoneroError::invalid("the public spend key is not a curve point"))?
            .into();
        if !EdwardsPoint::is_torsion_free(&spend_public) {
            return Err(MoneroError::invalid(
                "the public spend key has a torsion component",
            ));
        }
        let view: Option<DalekScalar> = DalekScalar::from_canonical_bytes(*view_secret).into();
        let view = view
            .ok_or_else(|| MoneroError::invalid("the secret view key is not a canonical scalar"))?;
        Ok(ViewKeys {
            spend_public,
            view_secret: Zeroizing::new(view),
        })
    }

    /// From a primary address and its secret view key; refuses a view key that does not belong
    /// to the address.
    pub fn from_address(
        address: &MoneroAddress,
        view_secret: &[u8; 32],
    ) -> Result<Self, MoneroError> {
        if address.is_subaddress() || address.payment_id().is_some() {
            return Err(MoneroError::invalid(
                "a view-only wallet needs the primary address, not a subaddress or integrated address",
            ));
        }
        let keys = ViewKeys::new(address.spend().compress().to_bytes(), view_secret)?;
        if keys.view_public() != address.view().into() {
            return Err(MoneroError::invalid(
                "the secret view key does not belong to this address",
            ));
        }
        Ok(keys)
    }

    pub fn spend_public(&self) -> EdwardsPoint {
        self.spend_public
    }

    pub fn view_public(&self) -> EdwardsPoint {
        public_of(&self.view_secret)
    }

    /// The secret view key as 32 bytes (what the view-only export carries).
    pub fn view_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.view_secret.to_bytes())
    }

    pub(crate) fn view_scalar(&self) -> &DalekScalar {
        &self.view_secret
    }

    /// monero-wallet's view pair (for its Scanner and change outputs).
    pub fn view_pair(&self) -> ViewPair {
        ViewPair::new(
            Point::from(self.spend_public),
            Zeroizing::new(Scalar::from(*self.view_secret)),
        )
        .expect("the spend key was checked torsion-free at construction")
    }

    /// The primary (standard) address.
    pub fn primary_address(&self, network: MoneroNetwork) -> MoneroAddress {
        MoneroAddress::new(
            network.address_network(),
            AddressType::Legacy,
            Point::from(self.spend_public),
            Point::from(self.view_public()),
        )
    }

    /// The address for `(account, index)`; `(0, 0)` is the primary address.
    pub fn address(&self, network: MoneroNetwork, account: u32, index: u32) -> MoneroAddress {
        match SubaddressIndex::new(account, index) {
            None => self.primary_address(network),
            Some(sub) => self.view_pair().subaddress(network.address_network(), sub),
        }
    }

    /// True when `address` (any network) has exactly this wallet's primary keys.
    pub fn is_primary(&self, address: &MoneroAddress) -> bool {
        !address.is_subaddress()
            && address.spend().into() == self.spend_public
            && address.view().into() == self.view_public()
    }
}

impl fmt::Debug for ViewKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ViewKeys")
            .field(
                "spend_public",
                &hex::encode(self.spend_public.compress().to_bytes()),
            )
            .finish_non_exhaustive()
    }
}

/// A full wallet: secret spend key `b` and the view key `a = Hs(b)`.
#[derive(Clone)]
pub struct WalletKeys {
    spend_secret: Zeroizing<DalekScalar>,
    view: ViewKeys,
}

impl WalletKeys {
    /// From a secret spend key; `bytes` must be a canonical scalar (what [`Self::spend_secret_bytes`]
    /// returns and what a ChainSecret carries).
    pub fn from_spend_secret(bytes: &[u8; 32]) -> Result<Self, MoneroError> {
        let spend: Option<DalekScalar> = DalekScalar::from_canonical_bytes(*bytes).into();
        let spend = spend.ok_or_else(|| {
            MoneroError::invalid("the secret spend key is not a canonical scalar (32 bytes, < l)")
        })?;
        Self::from_scalar(Zeroizing::new(spend))
    }

    /// From 32 seed bytes reduced mod l, as wallet2 does for a 25-word seed (`sc_reduce32`).
    pub fn from_seed_bytes(bytes: &[u8; 32]) -> Result<Self, MoneroError> {
        Self::from_scalar(Zeroizing::new(DalekScalar::from_bytes_mod_order(*bytes)))
    }

    fn from_scalar(spend: Zeroizing<DalekScalar>) -> Result<Self, MoneroError> {
        if *spend == DalekScalar::ZERO {
            return Err(MoneroError::invalid("the secret spend key is zero"));
        }
        let view = Zeroizing::new(Scalar::hash(Zeroizing::new(spend.to_bytes())).into());
        Ok(WalletKeys {
            view: ViewKeys {
                spend_public: public_of(&spend),
                view_secret: view,
            },
            spend_secret: spend,
        })
    }

    /// A fresh random wallet.
    pub fn random(rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng)) -> Self {
        let mut wide = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(wide.as_mut());
        let spend = Zeroizing::new(DalekScalar::from_bytes_mod_order_wide(&wide));
        Self::from_scalar(spend).expect("a random scalar is not zero")
    }

    /// The view half (safe to hand to the online side together with the address).
    pub fn view_keys(&self) -> &ViewKeys {
        &self.view
    }

    /// The secret spend key as 32 canonical bytes: the ChainSecret for Monero.
    pub fn spend_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.spend_secret.to_bytes())
    }

    /// monero-wallet's form of the spend key, for `SignableTransaction::sign`.
    pub(crate) fn spend_for_signing(&self) -> Zeroizing<Scalar> {
        Zeroizing::new(Scalar::from(*self.spend_secret))
    }

    pub fn primary_address(&self, network: MoneroNetwork) -> MoneroAddress {
        self.view.primary_address(network)
    }

    pub fn address(&self, network: MoneroNetwork, account: u32, index: u32) -> MoneroAddress {
        self.view.address(network, account, index)
    }

    /// The one-time secret key `x = b + k` of an output whose key offset is `k`, after checking
    /// `x·G` equals the output key (refuses an output that is not this wallet's).
    pub(crate) fn one_time_secret(
        &self,
        output_key: &EdwardsPoint,
        key_offset: &DalekScalar,
    ) -> Result<Zeroizing<DalekScalar>, MoneroError> {
        let x = Zeroizing::new(*self.spend_secret + key_offset);
        if public_of(&x) != *output_key {
            return Err(MoneroError::not_ours(format!(
                "output key {} is not derivable from this wallet's spend key",
                hex::encode(output_key.compress().to_bytes())
            )));
        }
        Ok(x)
    }

    /// The key image `I = x·Hp(P)` of an output with key `P` and key offset `k` (`x = b + k`).
    pub fn key_image(
        &self,
        output_key: &EdwardsPoint,
        key_offset: &DalekScalar,
    ) -> Result<[u8; 32], MoneroError> {
        let x = self.one_time_secret(output_key, key_offset)?;
        Ok(key_image_with(&x, output_key))
    }
}

pub(crate) fn key_image_with(x: &DalekScalar, output_key: &EdwardsPoint) -> [u8; 32] {
    let hp = Point::biased_hash(output_key.compress().to_bytes()).into();
    (x * hp).compress().to_bytes()
}

impl fmt::Debug for WalletKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletKeys")
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Independent vector (python `monero` 1.1.1, `Seed("00..01")`): the 32 seed bytes 00..01,
    // its view key and mainnet primary address.
    #[test]
    fn view_key_and_address_match_an_independent_implementation() {
        let mut seed = [0u8; 32];
        seed[31] = 1;
        let keys = WalletKeys::from_seed_bytes(&seed).unwrap();
        assert_eq!(
            hex::encode(keys.view_keys().view_secret_bytes().as_ref()),
            "cea3c5dfea43f31197bd4b7166da59f90af44b4afac2b0732d9fcbe2b7fa0c06"
        );
        assert_eq!(
            keys.primary_address(MoneroNetwork::Mainnet).to_string(),
            "42nsXK8WbVGTNayQ6Kjw5UdgqbQY5KCCufdxdCgF7NgTfjC69Mna7DJSYyie77hZTQ8H92G2HwgFhgEUYnDzrnLnQdF28r3"
        );
    }

    #[test]
    fn view_keys_refuse_a_foreign_view_key() {
        let keys = WalletKeys::random(&mut rand_core::OsRng);
        let other = WalletKeys::random(&mut rand_core::OsRng);
        let address = keys.primary_address(MoneroNetwork::Stagenet);
        let err = ViewKeys::from_address(&address, &other.view_keys().view_secret_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not belong"), "{err}");
        ViewKeys::from_address(&address, &keys.view_keys().view_secret_bytes()).unwrap();
    }

    #[test]
    fn wrong_network_address_is_refused() {
        let keys = WalletKeys::random(&mut rand_core::OsRng);
        let a = keys.primary_address(MoneroNetwork::Stagenet).to_string();
        assert!(parse_address(MoneroNetwork::Mainnet, &a).is_err());
        assert!(parse_address(MoneroNetwork::Stagenet, &a).is_ok());
        assert!(parse_address(MoneroNetwork::Mainnet, "4garbage").is_err());
    }
}
