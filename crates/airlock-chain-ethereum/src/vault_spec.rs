//! How an Ethereum vault is written in a vault definition, and what the signer reads back from it.
//!
//! - `network`: `mainnet` (1), `sepolia` (11155111), `holesky` (17000), `anvil` (31337) or
//!   `eip155:<chain id>`. The vault signs for that chain id only.
//! - `account`: the kind and address, then `key=value` settings, separated by spaces:
//!   - `eoa:0x…`: one externally owned account; exactly one signer of the vault lists the same
//!     address as its chain key (that signer holds the key; the others list none and approve
//!     without signing; [`EthVault::check_members`] refuses a member listing another address).
//!   - `safe:0x… threshold=2 version=1.4.1 [multisend=0x…] [delegatecall=0x…,0x…]`: a Safe
//!     whose owners are exactly the chain keys (addresses) of the vault's signers: the signed
//!     definition states the owners through its members, and the coordinator checks them and
//!     the threshold against the Safe on chain when a version is drafted and activated.
//!     `delegatecall` is the only list of targets the Safe may delegatecall (usually the
//!     MultiSendCallOnly 1.4.1 deployment); `multisend` is the MultiSendCallOnly the coordinator
//!     uses for batches (it must be on the delegatecall list for signers to accept a batch).
//!
//! The text is parsed strictly: unknown keys, repeated keys, a mistyped checksum or an owner
//! list that cannot reach the threshold are refused. [`EthVault::account_text`] writes the
//! canonical form.
//!
//! This module must never take owners, chain id or allowlist from anywhere but the registered
//! vault definition.

use airlock_core::VaultDefinition;

use crate::address::EthAddress;
use crate::error::EthError;
use crate::payload::SUPPORTED_SAFE_VERSIONS;
use crate::review::{AccountKind, AccountRecord, EthPolicy};

/// Named networks and their chain ids.
pub const NETWORKS: &[(&str, u64)] = &[
    ("mainnet", 1),
    ("sepolia", 11_155_111),
    ("holesky", 17_000),
    ("anvil", 31_337),
];

/// The chain id a vault's `network` names.
pub fn chain_id_of(network: &str) -> Result<u64, EthError> {
    if let Some((_, id)) = NETWORKS.iter().find(|(name, _)| *name == network) {
        return Ok(*id);
    }
    if let Some(n) = network.strip_prefix("eip155:")
        && let Ok(id) = n.parse::<u64>()
        && id > 0
        && n == id.to_string()
    {
        return Ok(id);
    }
    Err(EthError::Refused(format!(
        "network {network:?} is not an Ethereum network (use {} or eip155:<chain id>)",
        NETWORKS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// An Ethereum vault as the signer and coordinator read it from a vault definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EthVault {
    pub chain_id: u64,
    pub account: AccountRecord,
    pub policy: EthPolicy,
    /// The MultiSendCallOnly used for Safe batches, when set.
    pub multisend: Option<EthAddress>,
}

fn bad(message: impl Into<String>) -> EthError {
    EthError::Refused(format!("vault account: {}", message.into()))
}

impl EthVault {
    /// Reads the vault's `network`, `account` and signers' chain keys.
    pub fn from_vault(vault: &VaultDefinition) -> Result<EthVault, EthError> {
        let chain_keys: Vec<&str> = vault
            .signers
            .iter()
            .map(|s| s.chain_key.as_str())
            .filter(|k| !k.is_empty())
            .collect();
        Self::parse(&vault.network, &vault.account, &chain_keys)
    }

    /// Parses `network` and `account` with the signers' non-empty chain keys.
    pub fn parse(network: &str, account: &str, chain_keys: &[&str]) -> Result<EthVault, EthError> {
        let chain_id = chain_id_of(network)?;
        let mut words = account.split(' ').filter(|w| !w.is_empty());
        let head = words
            .next()
            .ok_or_else(|| bad("empty; expected eoa:0x… or safe:0x… threshold=N"))?;
        let (kind, address) = head
            .split_once(':')
            .ok_or_else(|| bad(format!("{head:?} must be eoa:0x… or safe:0x…")))?;
        let address = EthAddress::parse(address)?;
        let mut settings: Vec<(&str, &str)> = Vec::new();
        for w in words {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| bad(format!("{w:?} is not key=value")))?;
            if settings.iter().any(|(seen, _)| *seen == k) {
                return Err(bad(format!("{k} is given twice")));
            }
            settings.push((k, v));
        }
        let get = |k: &str| settings.iter().find(|(s, _)| *s == k).map(|(_, v)| *v);
        let mut owners = Vec::with_capacity(chain_keys.len());
        for key in chain_keys {
            let owner =
                EthAddress::parse(key).map_err(|e| bad(format!("signer chain key: {e}")))?;
            if owners.contains(&owner) {
                return Err(bad(format!("two signers list the same address {owner}")));
            }
            owners.push(owner);
        }
        let addresses = |v: Option<&str>| -> Result<Vec<EthAddress>, EthError> {
            match v {
                None | Some("") => Ok(Vec::new()),
                Some(list) => list.split(',').map(EthAddress::parse).collect(),
            }
        };
        match kind {
            "eoa" => {
                if let Some((k, _)) = settings.first() {
                    return Err(bad(format!("an eoa account takes no setting ({k})")));
                }
                if !owners.contains(&address) {
                    return Err(bad(format!(
                        "no signer lists the account {address} as its chain key, so none can sign"
                    )));
                }
                Ok(EthVault {
                    chain_id,
                    account: AccountRecord {
                        kind: AccountKind::Eoa { address },
                    },
                    policy: EthPolicy {
                        delegatecall_allowlist: Vec::new(),
                        expected_chain_id: chain_id,
                        expected_nonce: None,
                    },
                    multisend: None,
                })
            }
            "safe" => {
                for (k, _) in &settings {
                    if !["threshold", "version", "multisend", "delegatecall"].contains(k) {
                        return Err(bad(format!(
                            "unknown setting {k:?} (threshold, version, multisend, delegatecall)"
                        )));
                    }
                }
                let threshold: u32 = get("threshold")
                    .ok_or_else(|| bad("a safe account needs threshold=N"))?
                    .parse()
                    .map_err(|_| bad("threshold must be a number"))?;
                if threshold == 0 || threshold as usize > owners.len() {
                    return Err(bad(format!(
                        "threshold {threshold} with {} owner(s) (the signers' chain keys)",
                        owners.len()
                    )));
                }
                let version = get("version").unwrap_or("1.4.1").to_owned();
                if !SUPPORTED_SAFE_VERSIONS.contains(&version.as_str()) {
                    return Err(bad(format!(
                        "Safe version {version} is not supported ({})",
                        SUPPORTED_SAFE_VERSIONS.join(", ")
                    )));
                }
                let multisend = get("multisend").map(EthAddress::parse).transpose()?;
                let allowlist = addresses(get("delegatecall"))?;
                Ok(EthVault {
                    chain_id,
                    account: AccountRecord {
                        kind: AccountKind::Safe {
                            address,
                            chain_id,
                            version,
                            owners,
                            threshold,
                        },
                    },
                    policy: EthPolicy {
                        delegatecall_allowlist: allowlist,
                        expected_chain_id: chain_id,
                        expected_nonce: None,
                    },
                    multisend,
                })
            }
            other => Err(bad(format!("unknown account kind {other:?} (eoa or safe)"))),
        }
    }

    /// Checks that the account's keys are exactly the members' listed chain keys: an account
    /// (EOA) vault has one key, so exactly one member lists its address and no member lists
    /// another; a Safe's owners are the members' addresses, each listed once (whether the Safe on
    /// chain has exactly these owners and the threshold is checked by the coordinator against
    /// its node when the version is drafted and activated, and before every build). Members
    /// who list no address approve without signing. Returns the warnings to show (none today).
    pub fn check_members(vault: &VaultDefinition) -> Result<Vec<String>, EthError> {
        let spec = EthVault::from_vault(vault)?;
        if let AccountKind::Eoa { address } = spec.account.kind {
            let mut problems = Vec::new();
            for s in vault.signers.iter().filter(|s| !s.chain_key.is_empty()) {
                let listed = EthAddress::parse(&s.chain_key)?;
                if listed != address {
                    problems.push(format!(
                        "member {} lists {listed}, which is not the account {address}",
                        s.name
                    ));
                }
            }
            if !problems.is_empty() {
                return Err(bad(format!(
                    "an account (eoa) vault has one key, the account's: only its holder lists a chain key ({})",
                    problems.join("; ")
                )));
            }
        }
        Ok(Vec::new())
    }

    /// The account's address (the EOA or the Safe).
    pub fn address(&self) -> EthAddress {
        match &self.account.kind {
            AccountKind::Eoa { address } | AccountKind::Safe { address, .. } => *address,
        }
    }

    /// The Safe's owners and threshold, `None` for an EOA.
    pub fn safe_owners(&self) -> Option<(&[EthAddress], u32)> {
        match &self.account.kind {
            AccountKind::Safe {
                owners, threshold, ..
            } => Some((owners, *threshold)),
            AccountKind::Eoa { .. } => None,
        }
    }

    /// The canonical account text for a vault definition.
    pub fn account_text(&self) -> String {
        match &self.account.kind {
            AccountKind::Eoa { address } => format!("eoa:{address}"),
            AccountKind::Safe {
                address,
                version,
                threshold,
                ..
            } => {
                let mut s = format!("safe:{address} threshold={threshold} version={version}");
                if let Some(m) = self.multisend {
                    s.push_str(&format!(" multisend={m}"));
                }
                if !self.policy.delegatecall_allowlist.is_empty() {
                    let list: Vec<String> = self
                        .policy
                        .delegatecall_allowlist
                        .iter()
                        .map(|a| a.to_string())
                        .collect();
                    s.push_str(&format!(" delegatecall={}", list.join(",")));
                }
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0x52908400098527886E0F7030069857D2E4169EE7";
    const B: &str = "0x8617E340B3D01FA5F11F306F4090FD50E238070D";
    const C: &str = "0xde709f2102306220921060314715629080e2fb77";

    #[test]
    fn networks() {
        assert_eq!(chain_id_of("anvil").unwrap(), 31_337);
        assert_eq!(chain_id_of("eip155:10").unwrap(), 10);
        assert!(chain_id_of("eip155:010").is_err());
        assert!(chain_id_of("eip155:0").is_err());
        assert!(chain_id_of("bitcoin").is_err());
    }

    #[test]
    fn safe_round_trip() {
        let text = format!("safe:{A} threshold=2 version=1.4.1 multisend={B} delegatecall={B}");
        let v = EthVault::parse("anvil", &text, &[A, B, C]).unwrap();
        assert_eq!(v.safe_owners().unwrap().1, 2);
        assert_eq!(v.policy.delegatecall_allowlist.len(), 1);
        let again = EthVault::parse("anvil", &v.account_text(), &[A, B, C]).unwrap();
        assert_eq!(again, v);
    }

    #[test]
    fn refusals() {
        let cases = [
            (format!("safe:{A} threshold=4"), "threshold 4 with 3 owner"),
            (format!("safe:{A}"), "needs threshold"),
            (format!("safe:{A} threshold=1 threshold=2"), "twice"),
            (format!("safe:{A} threshold=1 refund=1"), "unknown setting"),
            (
                format!("safe:{A} threshold=1 version=1.0.0"),
                "not supported",
            ),
            (format!("eoa:{A} threshold=1"), "takes no setting"),
            (
                "eoa:0x0000000000000000000000000000000000000001".into(),
                "no signer lists",
            ),
            (format!("vault:{A}"), "unknown account kind"),
            (
                "eoa:0x52908400098527886E0F7030069857D2E4169Ee7".into(),
                "checksum",
            ),
        ];
        for (text, want) in cases {
            let e = EthVault::parse("anvil", &text, &[A, B, C])
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let e = EthVault::parse("anvil", &format!("safe:{A} threshold=1"), &[A, A])
            .unwrap_err()
            .to_string();
        assert!(e.contains("same address"), "{e}");
    }

    #[test]
    fn an_account_vault_has_one_listed_key() {
        use airlock_core::PublicKey;
        use airlock_core::vault::{CoordinatorRef, SignerEntry};
        let member = |name: &str, n: u8, key: &str| SignerEntry {
            name: name.into(),
            role: "ops".into(),
            identity: PublicKey([n; 32]),
            chain_key: key.into(),
            custody: "keystore".into(),
        };
        let def = |account: String, signers| VaultDefinition {
            vault_id: "hot".into(),
            version: 1,
            previous: None,
            chain: crate::CHAIN.into(),
            network: "anvil".into(),
            account,
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
        let eoa = format!("eoa:{A}");
        EthVault::check_members(&def(
            eoa.clone(),
            vec![member("a", 2, A), member("b", 3, "")],
        ))
        .unwrap();
        let e = EthVault::check_members(&def(eoa, vec![member("a", 2, A), member("b", 3, B)]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("member b lists") && e.contains("not the account"),
            "{e}"
        );
        // A Safe's owners are the members' addresses.
        let safe = format!("safe:{C} threshold=2");
        EthVault::check_members(&def(
            safe,
            vec![member("a", 2, A), member("b", 3, B), member("c", 4, "")],
        ))
        .unwrap();
    }
}
