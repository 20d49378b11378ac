//! The offline Monero wallet (the signer's side): create a new wallet or restore one from a
//! 25-word seed or a polyseed, give out addresses, and export the view-only information the online
//! side needs (primary address, secret view key, restore height), as a documented struct and as
//! the JSON Feather reads for a view-only wallet.
//!
//! This module must never export, print or log the spend key or the seed; only
//! [`OfflineWallet::chain_secret`] hands the spend key to the signing code, in a zeroizing buffer.

use airlock_core::chain::ChainSecret;
use monero_wallet::address::MoneroAddress;
use zeroize::Zeroizing;

use crate::error::MoneroError;
use crate::keys::{MoneroNetwork, ViewKeys, WalletKeys, parse_address};
use crate::seed::{Polyseed, legacy_seed_from_key, legacy_seed_to_key};

/// Which kind of mnemonic a new wallet is shown as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedKind {
    /// The classic 25-word Monero seed (English).
    Legacy25,
    /// A 16-word polyseed (English, no passphrase).
    Polyseed16,
}

/// A spendable wallet held by the offline signer.
#[derive(Debug)]
pub struct OfflineWallet {
    keys: WalletKeys,
    network: MoneroNetwork,
    restore_height: u64,
}

impl OfflineWallet {
    /// Creates a new random wallet; returns it with the phrase to write down (shown once, never
    /// stored by this crate). `restore_height` is the current chain height as the person states it
    /// (the offline device cannot ask a node); `unix_time` dates a polyseed's birthday.
    pub fn create(
        rng: &mut (impl rand_core::RngCore + rand_core::CryptoRng),
        network: MoneroNetwork,
        kind: SeedKind,
        restore_height: u64,
        unix_time: u64,
    ) -> Result<(Self, Zeroizing<String>), MoneroError> {
        let (keys, phrase) = match kind {
            SeedKind::Legacy25 => {
                let keys = WalletKeys::random(rng);
                let phrase = legacy_seed_from_key(&keys.spend_secret_bytes());
                (keys, phrase)
            }
            SeedKind::Polyseed16 => {
                let seed = Polyseed::random(rng, unix_time);
                (seed.wallet_keys()?, seed.to_phrase())
            }
        };
        Ok((
            OfflineWallet {
                keys,
                network,
                restore_height,
            },
            phrase,
        ))
    }

    /// Restores from a 25-word Monero seed or a 16-word polyseed (told apart by word count).
    pub fn restore(
        phrase: &str,
        network: MoneroNetwork,
        restore_height: u64,
    ) -> Result<Self, MoneroError> {
        let count = phrase.split_whitespace().count();
        let keys = match count {
            25 => WalletKeys::from_seed_bytes(&*legacy_seed_to_key(phrase)?)?,
            16 => Polyseed::from_phrase(phrase)?.wallet_keys()?,
            n => {
                return Err(MoneroError::invalid(format!(
                    "a seed has 25 words (Monero) or 16 words (polyseed), this one has {n}"
                )));
            }
        };
        Ok(OfflineWallet {
            keys,
            network,
            restore_height,
        })
    }

    /// From the 32-byte secret spend key (what [`Self::chain_secret`] carries).
    pub fn from_spend_key(
        spend_secret: &[u8; 32],
        network: MoneroNetwork,
        restore_height: u64,
    ) -> Result<Self, MoneroError> {
        Ok(OfflineWallet {
            keys: WalletKeys::from_spend_secret(spend_secret)?,
            network,
            restore_height,
        })
    }

    pub fn keys(&self) -> &WalletKeys {
        &self.keys
    }

    pub fn network(&self) -> MoneroNetwork {
        self.network
    }

    pub fn restore_height(&self) -> u64 {
        self.restore_height
    }

    pub fn primary_address(&self) -> MoneroAddress {
        self.keys.primary_address(self.network)
    }

    /// The address for `(account, index)`; `(0, 0)` is the primary address.
    pub fn address(&self, account: u32, index: u32) -> MoneroAddress {
        self.keys.address(self.network, account, index)
    }

    /// The 25-word seed of this wallet's spend key (also for wallets restored from a polyseed:
    /// it restores the same keys in wallet2-based wallets, without the polyseed birthday).
    pub fn legacy_seed(&self) -> Zeroizing<String> {
        legacy_seed_from_key(&self.keys.spend_secret_bytes())
    }

    /// The key material Airlock's signer hands to [`crate::Monero`]'s `sign`: exactly the 32-byte
    /// canonical secret spend key `b` (little-endian scalar), nothing else.
    pub fn chain_secret(&self) -> ChainSecret {
        ChainSecret(Zeroizing::new(self.keys.spend_secret_bytes().to_vec()))
    }

    /// What the online side needs to watch this wallet.
    pub fn view_only_export(&self) -> ViewOnlyExport {
        ViewOnlyExport {
            network: self.network,
            primary_address: self.primary_address().to_string(),
            secret_view_key: self.keys.view_keys().view_secret_bytes(),
            restore_height: self.restore_height,
        }
    }
}

/// The view-only information (Feather: Wallet → View-Only): enough to see incoming outputs and
/// build unsigned transactions, not to spend or to know which outputs are spent.
///
/// - `network`: the network the address is for (regtest uses mainnet prefixes).
/// - `primary_address`: the wallet's standard address (base58, 95 characters).
/// - `secret_view_key`: the 32-byte secret view key `a` (hex in JSON, 64 characters).
/// - `restore_height`: the block height to scan from (the wallet has nothing before it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewOnlyExport {
    pub network: MoneroNetwork,
    pub primary_address: String,
    pub secret_view_key: Zeroizing<[u8; 32]>,
    pub restore_height: u64,
}

impl ViewOnlyExport {
    /// Checks the address is for the network and the view key belongs to it; returns the keys.
    pub fn view_keys(&self) -> Result<ViewKeys, MoneroError> {
        let address = parse_address(self.network, &self.primary_address)?;
        ViewKeys::from_address(&address, &self.secret_view_key)
    }

    /// The JSON Feather's view-only QR code / restore reads:
    /// `{"primaryAddress":…,"privateViewKey":…,"restoreHeight":…,"version":0,"walletName":…}`
    /// (keys in Qt's sorted order, compact).
    pub fn to_feather_json(&self, wallet_name: &str) -> Zeroizing<String> {
        let value = serde_json::json!({
            "version": 0,
            "primaryAddress": self.primary_address,
            "privateViewKey": hex::encode(self.secret_view_key.as_ref()),
            "restoreHeight": self.restore_height,
            "walletName": wallet_name,
        });
        Zeroizing::new(value.to_string())
    }

    /// Reads Feather's view-only JSON; the network comes from the caller (Feather's JSON does not
    /// carry it) and must match the address.
    pub fn from_feather_json(json: &str, network: MoneroNetwork) -> Result<Self, MoneroError> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| MoneroError::invalid(format!("view-only JSON does not parse: {e}")))?;
        let version = value.get("version").and_then(|v| v.as_u64());
        if version != Some(0) {
            return Err(MoneroError::invalid(format!(
                "view-only JSON version {:?} is not supported (expected 0)",
                value.get("version")
            )));
        }
        let field = |name: &str| {
            value
                .get(name)
                .and_then(|v| v.as_str())
                .ok_or_else(|| MoneroError::invalid(format!("view-only JSON lacks {name:?}")))
        };
        let primary_address = field("primaryAddress")?.to_owned();
        let key_hex = Zeroizing::new(field("privateViewKey")?.to_owned());
        let mut secret_view_key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(key_hex.as_bytes(), secret_view_key.as_mut())
            .map_err(|_| MoneroError::invalid("privateViewKey is not 64 hexadecimal characters"))?;
        let restore_height = value
            .get("restoreHeight")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| {
                MoneroError::invalid("view-only JSON lacks a numeric \"restoreHeight\"")
            })?;
        let export = ViewOnlyExport {
            network,
            primary_address,
            secret_view_key,
            restore_height,
        };
        export.view_keys()?;
        Ok(export)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_from_either_seed_kind_gives_the_same_wallet() {
        for kind in [SeedKind::Legacy25, SeedKind::Polyseed16] {
            let (wallet, phrase) = OfflineWallet::create(
                &mut rand_core::OsRng,
                MoneroNetwork::Stagenet,
                kind,
                1000,
                1_763_790_000,
            )
            .unwrap();
            let back = OfflineWallet::restore(&phrase, MoneroNetwork::Stagenet, 1000).unwrap();
            assert_eq!(back.primary_address(), wallet.primary_address());
            assert_eq!(back.address(0, 3), wallet.address(0, 3));
            let legacy =
                OfflineWallet::restore(&wallet.legacy_seed(), MoneroNetwork::Stagenet, 0).unwrap();
            assert_eq!(legacy.primary_address(), wallet.primary_address());
        }
    }

    #[test]
    fn feather_json_roundtrip_and_refusals() {
        let (wallet, _) = OfflineWallet::create(
            &mut rand_core::OsRng,
            MoneroNetwork::Mainnet,
            SeedKind::Legacy25,
            3_100_000,
            0,
        )
        .unwrap();
        let export = wallet.view_only_export();
        let json = export.to_feather_json("cold");
        assert!(
            json.starts_with("{\"primaryAddress\":\""),
            "{}",
            json.as_str()
        );
        let back = ViewOnlyExport::from_feather_json(&json, MoneroNetwork::Mainnet).unwrap();
        assert_eq!(back, export);
        // Wrong network, foreign view key, missing fields.
        assert!(ViewOnlyExport::from_feather_json(&json, MoneroNetwork::Stagenet).is_err());
        let (other, _) = OfflineWallet::create(
            &mut rand_core::OsRng,
            MoneroNetwork::Mainnet,
            SeedKind::Legacy25,
            0,
            0,
        )
        .unwrap();
        let forged = json.replace(
            &hex::encode(export.secret_view_key.as_ref()),
            &hex::encode(other.view_only_export().secret_view_key.as_ref()),
        );
        let err = ViewOnlyExport::from_feather_json(&forged, MoneroNetwork::Mainnet)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not belong"), "{err}");
        assert!(
            ViewOnlyExport::from_feather_json("{\"version\":0}", MoneroNetwork::Mainnet).is_err()
        );
        assert!(ViewOnlyExport::from_feather_json("garbage", MoneroNetwork::Mainnet).is_err());
    }

    #[test]
    fn chain_secret_is_the_32_byte_spend_key() {
        let (wallet, _) = OfflineWallet::create(
            &mut rand_core::OsRng,
            MoneroNetwork::Mainnet,
            SeedKind::Polyseed16,
            0,
            1_763_790_000,
        )
        .unwrap();
        let secret = wallet.chain_secret();
        assert_eq!(secret.0.len(), 32);
        let bytes: [u8; 32] = secret.0[..].try_into().unwrap();
        let again = OfflineWallet::from_spend_key(&bytes, MoneroNetwork::Mainnet, 0).unwrap();
        assert_eq!(again.primary_address(), wallet.primary_address());
    }
}
