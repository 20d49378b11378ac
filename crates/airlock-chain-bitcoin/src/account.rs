//! A Bitcoin vault's `account` text, and the check that its keys are exactly its members' keys.
//!
//! The account is the output descriptor, optionally followed by options (`key=value`, separated
//! by spaces; the descriptor itself has none):
//!
//! - `shared-fingerprint=<fp>[,<fp>…]`: these master fingerprints may name more than one key of
//!   the vault. Without it, two keys from one master key (one seed) are refused: whoever holds
//!   that seed would hold several of the vault's keys. The option is part of the signed
//!   definition and every signer is shown a WARNING naming the keys and their members.
//!
//! [`check_members`] cross-checks the descriptor against the vault's members (`SignerEntry`):
//! the descriptor's extended keys, with their origins `[fingerprint/path]`, must be exactly the
//! chain keys the members list, one key per listing member, each in one place; a member's key
//! missing from the descriptor, a descriptor key no member lists (also a timelocked recovery
//! key: its holder must be a member, listing it, and is then the one who signs the recovery
//! path), a key listed by two members, an origin that differs from the listing, and fixed keys
//! other than BIP-341's unspendable NUMS point are refused, every problem named in one error.
//! Members who list no key approve without signing.
//!
//! This module must never accept a vault whose keys are not exactly its members' keys, nor
//! accept keys sharing a master fingerprint that the definition does not name.

use std::collections::BTreeMap;
use std::str::FromStr;

use airlock_core::SignerEntry;
use bitcoin::bip32::{DerivationPath, Fingerprint, Xpub};
use miniscript::ForEachKey;
use miniscript::descriptor::{DescriptorPublicKey, SinglePubKey};

use crate::error::BtcError;
use crate::vault::{BtcVault, NUMS_INTERNAL_KEY, VaultKey, format_key_origin};

/// The account option naming master fingerprints that may appear on several keys.
pub const SHARED_FINGERPRINT: &str = "shared-fingerprint";
/// The account option of a FROST group's vault: its threshold (`frost=2`).
pub const FROST: &str = "frost";

/// A Bitcoin vault's account text: the descriptor and its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BtcAccount {
    /// The output descriptor text, as written.
    pub descriptor: String,
    /// Master fingerprints allowed on more than one key (`shared-fingerprint=`).
    pub shared_fingerprints: Vec<Fingerprint>,
    /// A FROST group's threshold (`frost=T`): the descriptor is the group xpub's key-path-only
    /// taproot output and the members list their verifying shares (see [`check_frost_members`]).
    pub frost_threshold: Option<u16>,
}

impl BtcAccount {
    /// Splits account text into the descriptor and its options; refuses unknown, repeated or
    /// malformed options.
    pub fn parse(text: &str) -> Result<BtcAccount, BtcError> {
        let bad = |m: String| BtcError::Descriptor(format!("account: {m}"));
        let mut words = text.split_whitespace();
        let descriptor = words.next().unwrap_or("").to_owned();
        let mut shared_fingerprints: Option<Vec<Fingerprint>> = None;
        let mut frost_threshold: Option<u16> = None;
        for word in words {
            let (key, value) = word.split_once('=').ok_or_else(|| {
                bad(format!(
                    "{word:?} is neither part of the descriptor nor an option (key=value)"
                ))
            })?;
            match key {
                SHARED_FINGERPRINT => {
                    if shared_fingerprints.is_some() {
                        return Err(bad(format!("{key} is given twice")));
                    }
                    let mut list = Vec::new();
                    for fp in value.split(',') {
                        let parsed = parse_fingerprint(fp).ok_or_else(|| {
                            bad(format!(
                                "{key}: {fp:?} is not a master fingerprint (8 hex digits)"
                            ))
                        })?;
                        if list.contains(&parsed) {
                            return Err(bad(format!("{key}: {fp} is given twice")));
                        }
                        list.push(parsed);
                    }
                    shared_fingerprints = Some(list);
                }
                FROST => {
                    if frost_threshold.is_some() {
                        return Err(bad(format!("{key} is given twice")));
                    }
                    let t: u16 = value.parse().ok().filter(|t| *t >= 2).ok_or_else(|| {
                        bad(format!(
                            "{key}={value}: the threshold is a number of 2 or more"
                        ))
                    })?;
                    frost_threshold = Some(t);
                }
                other => {
                    return Err(bad(format!(
                        "unknown option {other:?} (the options are {SHARED_FINGERPRINT}=FP,… and {FROST}=T)"
                    )));
                }
            }
        }
        if frost_threshold.is_some() && shared_fingerprints.is_some() {
            return Err(bad(format!(
                "{SHARED_FINGERPRINT} has no meaning for a FROST group's vault"
            )));
        }
        Ok(BtcAccount {
            descriptor,
            shared_fingerprints: shared_fingerprints.unwrap_or_default(),
            frost_threshold,
        })
    }

    /// The account text: the descriptor, then the options.
    pub fn text(&self) -> String {
        let mut text = self.descriptor.clone();
        if !self.shared_fingerprints.is_empty() {
            let list: Vec<String> = self
                .shared_fingerprints
                .iter()
                .map(|f| f.to_string())
                .collect();
            text.push_str(&format!(" {SHARED_FINGERPRINT}={}", list.join(",")));
        }
        if let Some(t) = self.frost_threshold {
            text.push_str(&format!(" {FROST}={t}"));
        }
        text
    }
}

fn parse_fingerprint(text: &str) -> Option<Fingerprint> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Fingerprint::from_str(text).ok()
}

/// A member's Bitcoin chain key as listed: `[fingerprint/path]xpub`, optionally followed by the
/// multipath suffix `/<0;1>/*` (ignored: the descriptor's own steps are what derive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedKey {
    pub fingerprint: Fingerprint,
    pub origin_path: DerivationPath,
    pub xpub: Xpub,
}

impl ListedKey {
    /// Parses a listed chain key.
    pub fn parse(text: &str) -> Result<ListedKey, BtcError> {
        let bad = |m: &str| {
            BtcError::Key(format!(
                "{text:?} is not a Bitcoin key with origin ([fingerprint/path]xpub): {m}"
            ))
        };
        let text = text.trim();
        let rest = text.strip_prefix('[').ok_or_else(|| bad("no [origin]"))?;
        let (origin, key) = rest.split_once(']').ok_or_else(|| bad("no closing ]"))?;
        let (fp, path) = origin.split_once('/').unwrap_or((origin, ""));
        let fingerprint = parse_fingerprint(fp).ok_or_else(|| bad("bad fingerprint"))?;
        let origin_path = DerivationPath::from_str(&format!("m/{path}"))
            .map_err(|e| bad(&format!("bad origin path: {e}")))?;
        let xpub_text = key.strip_suffix("/<0;1>/*").unwrap_or(key);
        let xpub = Xpub::from_str(xpub_text).map_err(|e| bad(&format!("bad xpub: {e}")))?;
        Ok(ListedKey {
            fingerprint,
            origin_path,
            xpub,
        })
    }

    fn matches_origin(&self, key: &VaultKey) -> bool {
        self.fingerprint == key.fingerprint && self.origin_path == key.origin_path
    }

    /// `[fingerprint/path]xpub`.
    pub fn with_origin(&self) -> String {
        format_key_origin(self.fingerprint, &self.origin_path, &self.xpub)
    }
}

/// Checks that the vault's keys are exactly its members' listed chain keys (see the module
/// docs). Returns the warnings every signer must be shown (keys sharing a master fingerprint the
/// account allows); any problem is an error naming every key and member at fault.
pub fn check_members(
    vault: &BtcVault,
    account: &BtcAccount,
    signers: &[SignerEntry],
) -> Result<Vec<String>, BtcError> {
    if let Some(threshold) = account.frost_threshold {
        return check_frost_members(vault, threshold, signers).map(|_| Vec::new());
    }
    let mut problems = Vec::new();
    let mut listed: Vec<(&str, ListedKey)> = Vec::new();
    for s in signers.iter().filter(|s| !s.chain_key.is_empty()) {
        match ListedKey::parse(&s.chain_key) {
            Ok(key) => listed.push((s.name.as_str(), key)),
            Err(e) => problems.push(format!("member {}'s chain key: {e}", s.name)),
        }
    }
    for (n, (name, key)) in listed.iter().enumerate() {
        if let Some((other, _)) = listed[..n].iter().find(|(_, k)| k.xpub == key.xpub) {
            problems.push(format!(
                "members {other} and {name} list the same key {}",
                key.with_origin()
            ));
        }
    }
    // Each member's key must be in the descriptor, with the origin it lists.
    let keys = vault.keys();
    let mut holder: Vec<Option<&str>> = vec![None; keys.len()];
    for (name, key) in &listed {
        match keys.iter().position(|k| k.xpub == key.xpub) {
            Some(position) if !key.matches_origin(&keys[position]) => problems.push(format!(
                "member {name} lists its key as {} but the descriptor gives it the origin {}",
                key.with_origin(),
                keys[position].with_origin()
            )),
            Some(position) => {
                holder[position].get_or_insert(name);
            }
            None => problems.push(format!(
                "member {name}'s key {} is not in the descriptor: {name} could never sign for this vault",
                key.with_origin()
            )),
        }
    }
    // Every descriptor key must be a member's.
    for (key, who) in keys.iter().zip(&holder) {
        if who.is_none() {
            problems.push(format!(
                "the descriptor's key {} is listed by no member: every key of a vault must be a member's chain key (a recovery key's holder is a member listing it)",
                key.with_origin()
            ));
        }
    }
    vault.descriptor().for_each_key(|key| {
        if let DescriptorPublicKey::Single(single) = key {
            let xonly = match single.key {
                SinglePubKey::FullKey(k) => k.inner.x_only_public_key().0,
                SinglePubKey::XOnly(k) => k,
            };
            if xonly.serialize() != NUMS_INTERNAL_KEY {
                problems.push(format!(
                    "the descriptor holds the fixed key {key}, which no member can list (only BIP-341's unspendable NUMS point may appear without an origin)"
                ));
            }
        }
        true
    });
    // One master key behind several vault keys only when the account says so.
    let mut by_fingerprint: BTreeMap<Fingerprint, Vec<usize>> = BTreeMap::new();
    for (position, key) in keys.iter().enumerate() {
        by_fingerprint
            .entry(key.fingerprint)
            .or_default()
            .push(position);
    }
    let mut warnings = Vec::new();
    for (fingerprint, positions) in &by_fingerprint {
        if positions.len() < 2 {
            continue;
        }
        let named: Vec<String> = positions
            .iter()
            .map(|p| {
                format!(
                    "{} ({})",
                    keys[*p].with_origin(),
                    holder[*p].unwrap_or("no member")
                )
            })
            .collect();
        if account.shared_fingerprints.contains(fingerprint) {
            warnings.push(format!(
                "{} keys of this vault come from one master key (fingerprint {fingerprint}, allowed by {SHARED_FINGERPRINT}={fingerprint}): {}. Whoever holds that seed holds all of them",
                positions.len(),
                named.join(", ")
            ));
        } else {
            problems.push(format!(
                "keys {} share the master fingerprint {fingerprint}: whoever holds that seed would hold {} of this vault's keys (if intended, the account must say so with {SHARED_FINGERPRINT}={fingerprint}, and every signer is warned)",
                named.join(" and "),
                positions.len()
            ));
        }
    }
    for fingerprint in &account.shared_fingerprints {
        if by_fingerprint.get(fingerprint).is_none_or(|p| p.len() < 2) {
            problems.push(format!(
                "{SHARED_FINGERPRINT}={fingerprint}: no two keys of the descriptor share that fingerprint"
            ));
        }
    }
    if problems.is_empty() {
        Ok(warnings)
    } else {
        Err(BtcError::Descriptor(format!(
            "the vault's keys are not exactly its members' keys: {}",
            problems.join("; ")
        )))
    }
}

/// A FROST group's vault: the descriptor must be `tr([FP]XPUB/<0;1>/*)` where XPUB is the group
/// xpub of its own key (the fixed chain code, depth 0) and FP its fingerprint; every member that
/// lists a chain key lists `frost:<number>:<verifying share>`, and those shares must be one
/// `threshold`-of-n sharing of the group key (`airlock_frost::group::public_package`). Returns
/// the group key and its public key package; members who list no key approve without signing.
pub fn check_frost_members(
    vault: &BtcVault,
    threshold: u16,
    signers: &[SignerEntry],
) -> Result<
    (
        airlock_frost::frost::VerifyingKey,
        airlock_frost::frost::keys::PublicKeyPackage,
    ),
    BtcError,
> {
    let bad = |m: String| BtcError::Descriptor(format!("FROST vault: {m}"));
    let keys = vault.keys();
    let [key] = keys else {
        return Err(bad(format!(
            "the descriptor must hold exactly the group's key, not {} keys",
            keys.len()
        )));
    };
    if vault.kind() != crate::vault::VaultKind::SingleKeyTaproot {
        return Err(bad(format!(
            "the descriptor must be a key-path-only taproot output of the group key, not {}",
            vault.kind()
        )));
    }
    let group = airlock_frost::frost::VerifyingKey::deserialize(&key.xpub.public_key.serialize())
        .map_err(|e| bad(format!("the key is not a group key: {e}")))?;
    let expected = airlock_frost::derive::group_xpub(&group, key.xpub.network)
        .map_err(|e| bad(e.to_string()))?;
    if key.xpub != expected
        || key.fingerprint != expected.fingerprint()
        || !key.origin_path.is_empty()
    {
        return Err(bad(format!(
            "the key must be the group xpub {} with origin [{}] (airlock-signer frost show prints the descriptor)",
            expected,
            expected.fingerprint()
        )));
    }
    let mut members = Vec::new();
    for s in signers.iter().filter(|s| !s.chain_key.is_empty()) {
        let entry = airlock_frost::group::parse_member_chain_key(&s.chain_key)
            .map_err(|e| bad(format!("member {}: {e}", s.name)))?;
        members.push(entry);
    }
    let public = airlock_frost::group::public_package(&group, threshold, &members)
        .map_err(|e| bad(e.to_string()))?;
    Ok((group, public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_options() {
        let f = BtcAccount::parse("tr(x) frost=2").unwrap();
        assert_eq!(f.frost_threshold, Some(2));
        assert_eq!(f.text(), "tr(x) frost=2");
        for bad in ["tr(x) frost=1", "tr(x) frost=two", "tr(x) frost=2 frost=2"] {
            assert!(BtcAccount::parse(bad).is_err(), "{bad}");
        }
        let a = BtcAccount::parse("wsh(x) shared-fingerprint=350826d2,74EE38F0").unwrap();
        assert_eq!(a.descriptor, "wsh(x)");
        assert_eq!(a.shared_fingerprints.len(), 2);
        assert_eq!(a.text(), "wsh(x) shared-fingerprint=350826d2,74ee38f0");
        assert_eq!(BtcAccount::parse("  wsh(x) ").unwrap().text(), "wsh(x)");
        for (text, want) in [
            ("wsh(x) foo=1", "unknown option"),
            ("wsh(x) shared-fingerprint=1234", "not a master fingerprint"),
            (
                "wsh(x) shared-fingerprint=350826d2 shared-fingerprint=350826d2",
                "twice",
            ),
            ("wsh(x) shared-fingerprint=350826d2,350826d2", "twice"),
            ("wsh(a, b)", "neither part of the descriptor"),
        ] {
            let e = BtcAccount::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
