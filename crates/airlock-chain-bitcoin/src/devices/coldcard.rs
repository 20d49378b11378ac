//! Coldcard's files: the multisig setup file (read and written), the generic JSON wallet export
//! (`coldcard-export.json`) and the multisig key export (`ccxp-XFP.json`) (read).
//!
//! The setup file, as Coldcard documents and writes it:
//!
//! ```text
//! # Coldcard Multisig setup file (exported by Airlock)
//! #
//! Name: treasury
//! Policy: 2 of 3
//! Format: P2WSH
//!
//! Derivation: m/48'/0'/0'/2'
//!
//! 0F056943: xpub6E…
//! 6BA6CFD0: xpub6D…
//! 747B698E: xpub6F…
//! ```
//!
//! `Derivation:` applies to the keys after it (one line for all, or one per key); `Format:` is
//! `P2WSH`, `P2SH-P2WSH` (or its old name `P2WSH-P2SH`) or `P2SH`; keys are `XFP: xpub`, with
//! SLIP-132 prefixes (`Zpub`, `Vpub`…) accepted. Coldcard always sorts keys (BIP-67), so the
//! vault is `wsh(sortedmulti(M,…))` with every key at `/<0;1>/*`. Reading refuses legacy P2SH
//! (Airlock builds segwit vaults only), a missing derivation, a policy that disagrees with the
//! keys, duplicate lines, and keys whose depth disagrees with their derivation. This module must
//! never write a file Coldcard would read as a different vault than the one given.

use bitcoin::Network;
use bitcoin::bip32::{DerivationPath, Fingerprint, Xpub};
use serde_json::Value;

use super::{
    AccountKey, DeviceExport, KeyScript, check_keys, check_origin, device_err, multisig_shape,
    multisig_vault, parse_slip132,
};
use crate::error::BtcError;
use crate::vault::BtcVault;

const SETUP: &str = "coldcard-multisig";
/// Coldcard shows at most 20 characters of a wallet name.
pub const MAX_NAME_LEN: usize = 20;

/// Whether `text` has one of the setup file's header lines (`Policy:`, `Name:`, `Format:`,
/// `Derivation:`), which no descriptor file has.
pub fn looks_like_setup_file(text: &str) -> bool {
    text.lines().any(|l| {
        let Some((label, _)) = l.trim().split_once(':') else {
            return false;
        };
        ["policy", "name", "format", "derivation"]
            .iter()
            .any(|h| label.trim().eq_ignore_ascii_case(h))
    })
}

fn parse_path(text: &str) -> Result<DerivationPath, BtcError> {
    let text = text.trim();
    let normalized = text.replace(['h', 'H'], "'");
    normalized
        .parse::<DerivationPath>()
        .map_err(|e| device_err(SETUP, format!("derivation {text:?}: {e}")))
}

fn parse_policy(text: &str) -> Result<(usize, usize), BtcError> {
    let bad = || device_err(SETUP, format!("policy {text:?} is not \"M of N\""));
    let lower = text.trim().to_ascii_lowercase();
    let (m, n) = lower
        .split_once(" of ")
        .or_else(|| lower.split_once('/'))
        .ok_or_else(bad)?;
    let m: usize = m.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if m == 0 || m > n || n > 15 {
        return Err(device_err(
            SETUP,
            format!("policy {m} of {n}: 1 ≤ M ≤ N ≤ 15 is needed"),
        ));
    }
    Ok((m, n))
}

/// Reads a Coldcard multisig setup file into the vault it defines.
pub fn read_setup_file(text: &str, network: Network) -> Result<DeviceExport, BtcError> {
    let mut name: Option<String> = None;
    let mut policy: Option<(usize, usize)> = None;
    let mut format: Option<String> = None;
    let mut derivation: Option<DerivationPath> = None;
    let mut keys: Vec<(Fingerprint, DerivationPath, String)> = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |m: String| device_err(SETUP, format!("line {}: {m}", number + 1));
        let (label, value) = line
            .split_once(':')
            .ok_or_else(|| at(format!("{line:?} is not \"Label: value\"")))?;
        let value = value.trim();
        let once = |slot: bool, what: &str| {
            if slot {
                Err(at(format!("a second {what} line")))
            } else {
                Ok(())
            }
        };
        match label.trim().to_ascii_lowercase().as_str() {
            "name" => {
                once(name.is_some(), "Name")?;
                name = Some(value.to_owned());
            }
            "policy" => {
                once(policy.is_some(), "Policy")?;
                policy = Some(parse_policy(value).map_err(|e| at(e.to_string()))?);
            }
            "format" => {
                once(format.is_some(), "Format")?;
                format = Some(value.to_ascii_uppercase());
            }
            "derivation" => derivation = Some(parse_path(value).map_err(|e| at(e.to_string()))?),
            xfp if xfp.len() == 8 && xfp.chars().all(|c| c.is_ascii_hexdigit()) => {
                let fingerprint: Fingerprint = xfp
                    .parse()
                    .map_err(|_| at(format!("{xfp:?} is not a fingerprint")))?;
                let path = derivation.clone().ok_or_else(|| {
                    at(format!(
                        "key {} comes before any Derivation line: its origin is unknown",
                        xfp.to_ascii_uppercase()
                    ))
                })?;
                keys.push((fingerprint, path, value.to_owned()));
            }
            other => return Err(at(format!("unknown label {other:?}"))),
        }
    }
    let (m, n) = policy.ok_or_else(|| device_err(SETUP, "no Policy line"))?;
    let (nested, script) = match format.as_deref().unwrap_or("P2SH") {
        "P2WSH" => (false, KeyScript::MultisigWsh),
        "P2SH-P2WSH" | "P2WSH-P2SH" => (true, KeyScript::MultisigShWsh),
        "P2SH" => {
            return Err(device_err(
                SETUP,
                "legacy P2SH multisig (no Format line, or Format: P2SH): Airlock builds segwit vaults only",
            ));
        }
        other => {
            return Err(device_err(
                SETUP,
                format!("Format {other:?} is not P2WSH or P2SH-P2WSH"),
            ));
        }
    };
    if keys.len() != n {
        return Err(device_err(
            SETUP,
            format!(
                "the policy says {m} of {n} but the file lists {} keys",
                keys.len()
            ),
        ));
    }
    let mut members = Vec::with_capacity(keys.len());
    for (fingerprint, path, text) in keys {
        let xpub = parse_slip132(&text, script, SETUP)?;
        members.push(AccountKey {
            script,
            fingerprint,
            path,
            xpub,
        });
    }
    let members = check_member_keys(members, network)?;
    let triples: Vec<(Fingerprint, DerivationPath, Xpub)> = members
        .into_iter()
        .map(|k| (k.fingerprint, k.path, k.xpub))
        .collect();
    let vault = multisig_vault(m, nested, &triples, network)
        .map_err(|e| device_err(SETUP, e.to_string()))?;
    Ok(DeviceExport::Vault {
        format: SETUP,
        name,
        vault: Box::new(vault),
    })
}

/// Keys in a setup file may sit at any path (Coldcard allows it): network, depth and child
/// number are checked, not the BIP-48 path.
fn check_member_keys(keys: Vec<AccountKey>, network: Network) -> Result<Vec<AccountKey>, BtcError> {
    let want = bitcoin::NetworkKind::from(network);
    for k in &keys {
        if k.xpub.network != want {
            return Err(device_err(
                SETUP,
                format!(
                    "key {} is for another network than {network}",
                    k.fingerprint
                ),
            ));
        }
        check_origin(SETUP, k)?;
    }
    Ok(keys)
}

/// Coldcard's name rule: printable ASCII, at most [`MAX_NAME_LEN`] characters.
pub fn coldcard_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_NAME_LEN)
        .collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.is_empty() {
        "airlock".to_owned()
    } else {
        cleaned
    }
}

/// Writes `vault` as a Coldcard multisig setup file named `name` (cut to Coldcard's rule).
/// Only sorted multisig vaults (`wsh(sortedmulti)`, `sh(wsh(sortedmulti))`) at `/<0;1>/*` can
/// be written; anything else is refused, naming why.
pub fn write_setup_file(vault: &BtcVault, name: &str) -> Result<String, BtcError> {
    let shape = multisig_shape(vault).ok_or_else(|| {
        device_err(
            SETUP,
            "only sorted multisig vaults (wsh(sortedmulti(…)) or sh(wsh(sortedmulti(…))) with keys at /<0;1>/*) can be written as a Coldcard file",
        )
    })?;
    let mut out = String::new();
    out += "# Coldcard Multisig setup file (exported by Airlock)\n#\n";
    out += &format!("Name: {}\n", coldcard_name(name));
    out += &format!("Policy: {} of {}\n", shape.threshold, vault.keys().len());
    out += if shape.nested {
        "Format: P2SH-P2WSH\n"
    } else {
        "Format: P2WSH\n"
    };
    let mut last: Option<&DerivationPath> = None;
    for key in vault.keys() {
        if last != Some(&key.origin_path) {
            out += &format!("\nDerivation: m/{}\n\n", key.origin_path);
            last = Some(&key.origin_path);
        }
        out += &format!(
            "{}: {}\n",
            key.fingerprint.to_string().to_ascii_uppercase(),
            key.xpub
        );
    }
    Ok(out)
}

const GENERIC: &str = "coldcard-json";

fn json_str<'a>(v: &'a Value, field: &str, format: &str) -> Result<&'a str, BtcError> {
    v.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| device_err(format, format!("field {field:?} is missing or not text")))
}

/// Reads Coldcard's generic JSON export or its multisig key export (`ccxp-XFP.json`).
pub fn read_json(value: &Value, network: Network) -> Result<DeviceExport, BtcError> {
    let format = if value.get("p2wsh").is_some() || value.get("p2sh_p2wsh").is_some() {
        "coldcard-multisig-keys"
    } else {
        GENERIC
    };
    let fingerprint: Fingerprint = json_str(value, "xfp", format)?
        .parse()
        .map_err(|_| device_err(format, "xfp is not an 8-hex-digit fingerprint"))?;
    if let Some(chain) = value.get("chain").and_then(Value::as_str) {
        let mainnet = chain == "BTC";
        if mainnet != (network == Network::Bitcoin) {
            return Err(device_err(
                format,
                format!("the export is for chain {chain}, not {network}"),
            ));
        }
    }
    let mut keys = Vec::new();
    if format == GENERIC {
        for (section, script) in [
            ("bip48_2", KeyScript::MultisigWsh),
            ("bip48_1", KeyScript::MultisigShWsh),
            ("bip45", KeyScript::MultisigSh),
            ("bip84", KeyScript::Wpkh),
            ("bip49", KeyScript::ShWpkh),
            ("bip44", KeyScript::Pkh),
            ("bip86", KeyScript::Taproot),
        ] {
            let Some(s) = value.get(section) else {
                continue;
            };
            let path = parse_path(json_str(s, "deriv", format)?)
                .map_err(|e| device_err(format, format!("{section}: {e}")))?;
            let xpub = parse_slip132(json_str(s, "xpub", format)?, script, format)?;
            if let Some(xfp) = s.get("xfp").and_then(Value::as_str)
                && !xfp.eq_ignore_ascii_case(&xpub.fingerprint().to_string())
            {
                return Err(device_err(
                    format,
                    format!("{section}: xfp {xfp} is not the key's own fingerprint"),
                ));
            }
            if let Some(pub_text) = s.get("_pub").and_then(Value::as_str) {
                let again = parse_slip132(pub_text, script, format)?;
                if again != xpub {
                    return Err(device_err(
                        format,
                        format!("{section}: \"_pub\" and \"xpub\" are different keys"),
                    ));
                }
            }
            let key = AccountKey {
                script,
                fingerprint,
                path,
                xpub,
            };
            if let Some(first) = s.get("first").and_then(Value::as_str) {
                check_first_address(&key, first, network, format, section)?;
            }
            keys.push(key);
        }
    } else {
        for (field, script) in [
            ("p2wsh", KeyScript::MultisigWsh),
            ("p2sh_p2wsh", KeyScript::MultisigShWsh),
            ("p2sh", KeyScript::MultisigSh),
        ] {
            let Some(text) = value.get(field).and_then(Value::as_str) else {
                continue;
            };
            let path = parse_path(json_str(value, &format!("{field}_deriv"), format)?)
                .map_err(|e| device_err(format, format!("{field}: {e}")))?;
            keys.push(AccountKey {
                script,
                fingerprint,
                path,
                xpub: parse_slip132(text, script, format)?,
            });
        }
    }
    let keys = check_keys(format, keys, network)?;
    Ok(DeviceExport::Keys {
        format,
        fingerprint,
        keys,
    })
}

/// The generic export states each single-key account's first receive address; it must be the
/// address the key derives.
fn check_first_address(
    key: &AccountKey,
    first: &str,
    network: Network,
    format: &str,
    section: &str,
) -> Result<(), BtcError> {
    let origin = crate::vault::format_key_origin(key.fingerprint, &key.path, &key.xpub);
    let text = match key.script {
        KeyScript::Wpkh => format!("wpkh({origin}/<0;1>/*)"),
        KeyScript::ShWpkh => format!("sh(wpkh({origin}/<0;1>/*))"),
        KeyScript::Taproot => format!("tr({origin}/<0;1>/*)"),
        // Multisig accounts have no address of their own; legacy ones are not built here.
        _ => return Ok(()),
    };
    let derived = BtcVault::parse_for(&text, network)?
        .first_receive_address()?
        .to_string();
    if derived != first {
        return Err(device_err(
            format,
            format!("{section}: the stated first address {first} is not the key's {derived}"),
        ));
    }
    Ok(())
}

/// Coldcard's multisig key export (`ccxp-XFP.json`) of one master key's BIP-48 keys, as Sparrow,
/// Specter and Nunchuk import a cosigner: `p2sh_p2wsh` and `p2wsh` in SLIP-132 form with their
/// derivations (BIP-45 `p2sh` is left out: Airlock builds segwit vaults only).
pub fn write_multisig_keys(
    fingerprint: Fingerprint,
    account: u32,
    keys: &[AccountKey],
) -> Result<String, BtcError> {
    let mut value = serde_json::json!({
        "xfp": fingerprint.to_string().to_ascii_uppercase(),
        "account": account,
    });
    for k in keys {
        let field = match k.script {
            KeyScript::MultisigWsh => "p2wsh",
            KeyScript::MultisigShWsh => "p2sh_p2wsh",
            _ => continue,
        };
        value[field] = super::to_slip132(&k.xpub, k.script).into();
        value[format!("{field}_deriv")] = format!("m/{}", k.path).into();
    }
    if value.get("p2wsh").is_none() {
        return Err(device_err(
            "coldcard-multisig-keys",
            "no BIP-48 P2WSH key to write",
        ));
    }
    serde_json::to_string_pretty(&value).map_err(|e| BtcError::Device(e.to_string()))
}
