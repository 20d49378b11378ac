//! How a Monero vault is written in a vault definition, and the review chain the signer uses for
//! it before any passphrase is typed.
//!
//! - `network`: `mainnet`, `testnet`, `stagenet` or `regtest` (regtest uses mainnet addresses).
//! - `account`: `<primary address> view_key=<64 hex digits> restore_height=<n>`, separated by
//!   single spaces, in that canonical order ([`MoneroVault::account_text`]). The secret view key
//!   is in the vault on purpose: the vault is view-only, and every member who can read the vault
//!   definition can see the wallet's incoming funds (not spend them, nor see its spends).
//! - exactly one signer lists the primary address as its chain key: that signer holds the spend
//!   key (`airlock-signer xmr new|restore`); the other members list none and approve without
//!   signing ([`MoneroVault::check_members`] names a member listing anything else).
//!
//! Parsing is strict: unknown, repeated or missing settings, an address of another network, a
//! subaddress, or a view key that does not belong to the address are refused.
//!
//! This module must never read keys or the network from anywhere but the registered vault, and
//! never handle a spend key except through [`MoneroVaultReview::sign`], which passes it on.

use airlock_core::chain::{ChainError, ChainReview, ChainSecret, Description};
use airlock_core::{Proposal, VaultDefinition};
use monero_wallet::address::{AddressType, MoneroAddress, Network};
use zeroize::Zeroizing;

use crate::error::MoneroError;
use crate::keys::{MoneroNetwork, ViewKeys, WalletKeys, parse_address};
use crate::review::Monero;
use crate::wallet::ViewOnlyExport;

/// A Monero vault as the signer and coordinator read it from a vault definition.
#[derive(Clone, Debug)]
pub struct MoneroVault {
    pub network: MoneroNetwork,
    pub primary_address: String,
    pub view: ViewKeys,
    pub restore_height: u64,
}

fn bad(message: impl Into<String>) -> MoneroError {
    MoneroError::invalid(format!("vault account: {}", message.into()))
}

/// The network-independent form of a chain key (a primary address): the same keys written with
/// mainnet prefixes. Two spellings of one wallet on different networks give the same text.
pub fn canonical_chain_key(address: &str) -> Result<String, MoneroError> {
    let parsed = MoneroAddress::from_str_with_unchecked_network(address.trim())
        .map_err(|e| MoneroError::invalid(format!("not a Monero address ({e}): {address:?}")))?;
    if parsed.is_subaddress() || parsed.payment_id().is_some() {
        return Err(MoneroError::invalid(format!(
            "{address} is not a primary address (a subaddress or integrated address)"
        )));
    }
    Ok(MoneroAddress::new(
        Network::Mainnet,
        AddressType::Legacy,
        parsed.spend(),
        parsed.view(),
    )
    .to_string())
}

/// The chain key of a 32-byte secret spend key, in canonical (mainnet-prefix) form.
pub fn chain_key_of_spend_secret(secret: &[u8]) -> Result<String, MoneroError> {
    let bytes: &[u8; 32] = secret.try_into().map_err(|_| {
        MoneroError::invalid(format!(
            "a Monero spend key is 32 bytes, this one is {}",
            secret.len()
        ))
    })?;
    let keys = WalletKeys::from_spend_secret(bytes)?;
    Ok(keys.primary_address(MoneroNetwork::Mainnet).to_string())
}

/// Whether two chain keys (primary addresses, any network) name the same wallet.
pub fn same_chain_key(a: &str, b: &str) -> bool {
    match (canonical_chain_key(a), canonical_chain_key(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl MoneroVault {
    /// Reads the vault's `network`, `account` and signers' chain keys.
    pub fn from_vault(vault: &VaultDefinition) -> Result<MoneroVault, MoneroError> {
        if vault.chain != crate::CHAIN {
            return Err(bad(format!("the vault's chain is {:?}", vault.chain)));
        }
        let chain_keys: Vec<&str> = vault
            .signers
            .iter()
            .map(|s| s.chain_key.as_str())
            .filter(|k| !k.is_empty())
            .collect();
        Self::parse(&vault.network, &vault.account, &chain_keys)
    }

    /// Parses `network` and `account` with the signers' non-empty chain keys.
    pub fn parse(
        network: &str,
        account: &str,
        chain_keys: &[&str],
    ) -> Result<MoneroVault, MoneroError> {
        let network = MoneroNetwork::parse(network)?;
        let mut words = account.split(' ');
        let address_text = words.next().unwrap_or("");
        if address_text.is_empty() {
            return Err(bad(
                "expected `<primary address> view_key=<hex> restore_height=<n>`",
            ));
        }
        let address = parse_address(network, address_text).map_err(|e| bad(e.to_string()))?;
        let mut view_hex: Option<&str> = None;
        let mut height: Option<&str> = None;
        for word in words {
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| bad(format!("{word:?} is not key=value (or a double space)")))?;
            let slot = match k {
                "view_key" => &mut view_hex,
                "restore_height" => &mut height,
                other => {
                    return Err(bad(format!(
                        "unknown setting {other:?} (view_key, restore_height)"
                    )));
                }
            };
            if slot.replace(v).is_some() {
                return Err(bad(format!("{k} is given twice")));
            }
        }
        let view_hex = view_hex.ok_or_else(|| bad("view_key=<64 hex digits> is missing"))?;
        let mut view_secret = Zeroizing::new([0u8; 32]);
        if view_hex.len() != 64 || hex::decode_to_slice(view_hex, view_secret.as_mut()).is_err() {
            return Err(bad("view_key must be 64 hexadecimal digits"));
        }
        let height = height.ok_or_else(|| bad("restore_height=<n> is missing"))?;
        let restore_height: u64 = height
            .parse()
            .ok()
            .filter(|h: &u64| h.to_string() == height)
            .ok_or_else(|| bad(format!("restore_height {height:?} is not a number")))?;
        let view =
            ViewKeys::from_address(&address, &view_secret).map_err(|e| bad(e.to_string()))?;
        let primary_address = address.to_string();
        let holders = chain_keys
            .iter()
            .filter(|k| same_chain_key(k, &primary_address))
            .count();
        if let Some(foreign) = chain_keys
            .iter()
            .find(|k| !same_chain_key(k, &primary_address))
        {
            return Err(bad(format!(
                "signer chain key {foreign} is not the vault's primary address {primary_address} \
                 (a Monero vault has one spend key)"
            )));
        }
        if holders != 1 {
            return Err(bad(format!(
                "exactly one signer must list the primary address as its chain key ({holders} do)"
            )));
        }
        Ok(MoneroVault {
            network,
            primary_address,
            view,
            restore_height,
        })
    }

    /// Checks that the wallet's one spend key is exactly the members' listed chain keys: one
    /// member (the spend-key holder) lists the account's primary address (any network's
    /// spelling), no member lists anything else. Errors name the member at fault. Returns the
    /// warnings to show (none today).
    pub fn check_members(vault: &VaultDefinition) -> Result<Vec<String>, MoneroError> {
        let address = vault.account.split(' ').next().unwrap_or("");
        let mut problems = Vec::new();
        let mut holders = Vec::new();
        for s in vault.signers.iter().filter(|s| !s.chain_key.is_empty()) {
            if same_chain_key(&s.chain_key, address) {
                holders.push(s.name.as_str());
            } else {
                problems.push(format!(
                    "member {} lists {}, which is not the vault's wallet {address}",
                    s.name, s.chain_key
                ));
            }
        }
        if holders.len() > 1 {
            problems.push(format!(
                "members {} all list the wallet: a Monero vault has one spend key, listed by its one holder",
                holders.join(", ")
            ));
        }
        if !problems.is_empty() {
            return Err(bad(format!(
                "the wallet's spend key must be exactly the members' chain keys: {}",
                problems.join("; ")
            )));
        }
        Self::from_vault(vault)?;
        Ok(Vec::new())
    }

    /// From a view-only export (the account text of a new vault).
    pub fn from_export(export: &ViewOnlyExport) -> Result<MoneroVault, MoneroError> {
        let view = export.view_keys()?;
        Ok(MoneroVault {
            network: export.network,
            primary_address: export.primary_address.clone(),
            view,
            restore_height: export.restore_height,
        })
    }

    /// The canonical account text for a vault definition.
    pub fn account_text(&self) -> String {
        format!(
            "{} view_key={} restore_height={}",
            self.primary_address,
            hex::encode(self.view.view_secret_bytes().as_ref()),
            self.restore_height
        )
    }

    /// The signer's review chain for this vault, from its view keys only.
    pub fn view_only_review(&self) -> Monero {
        Monero::view_only(self.network, self.view.clone())
    }
}

/// The `monero` chain for the signer: each call reads the registered vault's address and view
/// key ([`MoneroVault`]) and reviews view-only ([`Monero::view_only`]); `sign` is given the
/// 32-byte spend key, re-derives the key images and refuses any that differ from the proposal's.
#[derive(Clone, Copy, Debug, Default)]
pub struct MoneroVaultReview;

impl ChainReview for MoneroVaultReview {
    fn chain(&self) -> &'static str {
        crate::CHAIN
    }

    fn check_account(&self, vault: &VaultDefinition) -> Result<Vec<String>, ChainError> {
        Ok(MoneroVault::check_members(vault)?)
    }

    fn describe(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
    ) -> Result<Description, ChainError> {
        let spec = MoneroVault::from_vault(vault)?;
        let mut description = spec.view_only_review().describe(vault, proposal)?;
        description
            .details
            .insert(0, ("wallet".into(), spec.primary_address.clone()));
        Ok(description)
    }

    fn sign(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        secret: &ChainSecret,
    ) -> Result<Vec<u8>, ChainError> {
        let spec = MoneroVault::from_vault(vault)?;
        spec.view_only_review().sign(vault, proposal, secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wallet(network: MoneroNetwork) -> (WalletKeys, String, String) {
        let keys = WalletKeys::random(&mut rand_core::OsRng);
        let address = keys.primary_address(network).to_string();
        let view = hex::encode(keys.view_keys().view_secret_bytes().as_ref());
        (keys, address, view)
    }

    #[test]
    fn round_trip_and_chain_keys_across_networks() {
        let (keys, address, view) = wallet(MoneroNetwork::Stagenet);
        let text = format!("{address} view_key={view} restore_height=12");
        let v = MoneroVault::parse("stagenet", &text, &[&address]).unwrap();
        assert_eq!(v.account_text(), text);
        assert_eq!(v.restore_height, 12);
        let secret = keys.spend_secret_bytes();
        let canonical = chain_key_of_spend_secret(secret.as_ref()).unwrap();
        assert!(same_chain_key(&canonical, &address));
        // The mainnet spelling of the same wallet is accepted as its chain key.
        MoneroVault::parse("stagenet", &text, &[&canonical]).unwrap();
    }

    #[test]
    fn refusals_name_the_problem() {
        let (_, address, view) = wallet(MoneroNetwork::Regtest);
        let (_, other, other_view) = wallet(MoneroNetwork::Regtest);
        let good = format!("{address} view_key={view} restore_height=0");
        let cases = [
            (format!("{address} view_key={view}"), "restore_height"),
            (format!("{address} restore_height=0"), "view_key"),
            (format!("{good} restore_height=1"), "twice"),
            (format!("{good} lookahead=5"), "unknown setting"),
            (format!("{good} "), "not key=value"),
            (
                format!("{address} view_key={other_view} restore_height=0"),
                "does not belong",
            ),
            (
                format!("{address} view_key=zz restore_height=0"),
                "64 hexadecimal",
            ),
            (
                format!("{address} view_key={view} restore_height=-1"),
                "not a number",
            ),
            (String::new(), "expected"),
        ];
        for (text, want) in cases {
            let e = MoneroVault::parse("regtest", &text, &[&address])
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let e = MoneroVault::parse("stagenet", &good, &[&address])
            .unwrap_err()
            .to_string();
        assert!(e.contains("this wallet is on stagenet"), "{e}");
        let e = MoneroVault::parse("regtest", &good, &[&other])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not the vault's primary address"), "{e}");
        let e = MoneroVault::parse("regtest", &good, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly one signer"), "{e}");
        let e = MoneroVault::parse("regtest", &good, &[&address, &address])
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly one signer"), "{e}");
    }

    #[test]
    fn members_name_the_one_holder() {
        use airlock_core::PublicKey;
        use airlock_core::vault::{CoordinatorRef, SignerEntry};
        let (_, address, view) = wallet(MoneroNetwork::Regtest);
        let (_, other, _) = wallet(MoneroNetwork::Regtest);
        let member = |name: &str, n: u8, key: &str| SignerEntry {
            name: name.into(),
            role: "ops".into(),
            identity: PublicKey([n; 32]),
            chain_key: key.into(),
            custody: "keystore".into(),
        };
        let def = |signers| VaultDefinition {
            vault_id: "cold".into(),
            version: 1,
            previous: None,
            chain: crate::CHAIN.into(),
            network: "regtest".into(),
            account: format!("{address} view_key={view} restore_height=0"),
            coordinator: CoordinatorRef {
                origin: "test/log".into(),
                key: PublicKey([1; 32]),
            },
            signers,
            threshold: 1,
            rules: Vec::new(),
            created: 0,
            witnesses: Default::default(),
        };
        let good = def(vec![member("alice", 2, &address), member("bob", 3, "")]);
        assert!(MoneroVault::check_members(&good).unwrap().is_empty());
        let e = MoneroVault::check_members(&def(vec![
            member("alice", 2, &other),
            member("bob", 3, ""),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("member alice lists") && e.contains("not the vault's wallet"),
            "{e}"
        );
        let e = MoneroVault::check_members(&def(vec![
            member("alice", 2, &address),
            member("bob", 3, &address),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("members alice, bob all list the wallet"), "{e}");
    }
}
