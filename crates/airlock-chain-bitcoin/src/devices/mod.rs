//! What other signers and coordinators write, read and written here: member keys and whole
//! vaults exported by hardware wallets and wallet programs, and vault files they register.
//!
//! Read ([`read_text_export`], [`read_ur`]):
//! - UR `crypto-account` (BCR-2020-015), `crypto-hdkey` (BCR-2020-007) and `crypto-output`
//!   (BCR-2020-010): Keystone, Passport, Jade, SeedSigner, Krux, Sparrow ([`ur_registry`]);
//! - Coldcard's multisig setup file, its generic JSON export (`coldcard-export.json`) and its
//!   multisig key export (`ccxp-XFP.json`) ([`coldcard`]);
//! - Specter's wallet JSON, Sparrow's output-descriptor file and plain descriptor text
//!   ([`wallet_files`]); BIP-129 BSMS records ([`crate::bsms`]).
//!
//! Written: Coldcard's multisig setup file, `crypto-output`, Specter JSON and Sparrow's
//! descriptor file, each from a [`BtcVault`].
//!
//! An export is either member keys ([`DeviceExport::Keys`], to assemble a vault from) or a whole
//! vault ([`DeviceExport::Vault`], parsed with every check of [`BtcVault`]). SLIP-132 key
//! prefixes (`ypub`, `Zpub`, `vpub`, `Vpub`…) are rewritten to `xpub`/`tpub` with the script type
//! they imply checked; a key whose depth disagrees with its stated derivation, a key of another
//! network, an address the file states that does not re-derive, and anything not understood is
//! refused with the format and the field named. This module must never accept a private key nor
//! guess an origin (fingerprint and path) the file does not state.

pub mod coldcard;
pub mod ur_registry;
pub mod wallet_files;

use bitcoin::Network;
use bitcoin::NetworkKind;
use bitcoin::bip32::{DerivationPath, Fingerprint, Xpub};
use miniscript::descriptor::{Descriptor, ShInner, WshInner};

use crate::error::BtcError;
use crate::vault::{BtcVault, format_key_origin};

/// The script a member key is exported for (by its BIP-44-family purpose).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScript {
    /// BIP-48 script type 2: `wsh(multi…)` cosigner (`m/48'/coin'/account'/2'`).
    MultisigWsh,
    /// BIP-48 script type 1: `sh(wsh(multi…))` cosigner (`m/48'/coin'/account'/1'`).
    MultisigShWsh,
    /// BIP-45 legacy `sh(multi…)` cosigner (`m/45'`); Airlock does not build legacy vaults.
    MultisigSh,
    /// BIP-84 single key.
    Wpkh,
    /// BIP-49 single key.
    ShWpkh,
    /// BIP-44 single key (legacy).
    Pkh,
    /// BIP-86 single key.
    Taproot,
}

impl KeyScript {
    /// A short name for output and `--json`.
    pub fn name(self) -> &'static str {
        match self {
            KeyScript::MultisigWsh => "multisig-p2wsh",
            KeyScript::MultisigShWsh => "multisig-p2sh-p2wsh",
            KeyScript::MultisigSh => "multisig-p2sh",
            KeyScript::Wpkh => "p2wpkh",
            KeyScript::ShWpkh => "p2sh-p2wpkh",
            KeyScript::Pkh => "p2pkh",
            KeyScript::Taproot => "p2tr",
        }
    }
}

/// A member key as a device exports it: script type, master fingerprint, origin path, xpub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountKey {
    pub script: KeyScript,
    pub fingerprint: Fingerprint,
    pub path: DerivationPath,
    pub xpub: Xpub,
}

impl AccountKey {
    /// `[fingerprint/path]xpub`, as `airlock btc descriptor --key` takes it.
    pub fn with_origin(&self) -> String {
        format_key_origin(self.fingerprint, &self.path, &self.xpub)
    }
}

/// What a file or UR from another wallet holds.
#[derive(Clone, Debug)]
pub enum DeviceExport {
    /// One device's account keys, for joining a vault.
    Keys {
        format: &'static str,
        fingerprint: Fingerprint,
        keys: Vec<AccountKey>,
    },
    /// A whole vault, checked as every Airlock vault is.
    Vault {
        format: &'static str,
        name: Option<String>,
        vault: Box<BtcVault>,
    },
}

impl DeviceExport {
    /// The format's name (`coldcard-multisig`, `crypto-account`…).
    pub fn format(&self) -> &'static str {
        match self {
            DeviceExport::Keys { format, .. } | DeviceExport::Vault { format, .. } => format,
        }
    }

    /// The key to put into a multisig vault (`wsh` or `tr(NUMS, multi_a)`: BIP-48 type 2).
    pub fn multisig_key(&self) -> Result<&AccountKey, BtcError> {
        match self {
            DeviceExport::Keys { keys, format, .. } => keys
                .iter()
                .find(|k| k.script == KeyScript::MultisigWsh)
                .ok_or_else(|| {
                    device_err(
                        format,
                        format!(
                            "no P2WSH multisig key (m/48'/coin'/account'/2') in the export; it has {}",
                            keys.iter()
                                .map(|k| k.script.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                }),
            DeviceExport::Vault { format, .. } => Err(device_err(
                format,
                "the file is a whole vault, not one member's keys",
            )),
        }
    }
}

pub(crate) fn device_err(format: &str, message: impl Into<String>) -> BtcError {
    BtcError::Device(format!("{format}: {}", message.into()))
}

/// Largest text export read (a 15-of-15 Coldcard file is under 2 KiB).
pub const MAX_EXPORT_TEXT: usize = 256 * 1024;

/// Reads a text export, recognising its format: a BSMS record, a Coldcard multisig setup file,
/// Coldcard's generic or multisig-key JSON, Specter's wallet JSON, or descriptor text (one
/// descriptor, or Sparrow's file of commented descriptors). UR text is read with [`read_ur`]
/// after reassembly.
pub fn read_text_export(text: &str, network: Network) -> Result<DeviceExport, BtcError> {
    consistent(read_text_export_unchecked(text, network)?)
}

/// Reads a reassembled UR of type `ur_type` (`crypto-account`, `crypto-hdkey`,
/// `crypto-output`) whose CBOR item is `cbor`.
pub fn read_ur(ur_type: &str, cbor: &[u8], network: Network) -> Result<DeviceExport, BtcError> {
    consistent(read_ur_unchecked(ur_type, cbor, network)?)
}

/// A vault's every key must be what its origin says: depth = origin length, child number = the
/// origin's last step (descriptor text cannot make a key say otherwise, but an export can).
fn consistent(export: DeviceExport) -> Result<DeviceExport, BtcError> {
    if let DeviceExport::Vault { format, vault, .. } = &export {
        for k in vault.keys() {
            let key = AccountKey {
                script: KeyScript::MultisigWsh,
                fingerprint: k.fingerprint,
                path: k.origin_path.clone(),
                xpub: k.xpub,
            };
            check_origin(format, &key)?;
        }
    }
    Ok(export)
}

fn read_text_export_unchecked(text: &str, network: Network) -> Result<DeviceExport, BtcError> {
    if text.len() > MAX_EXPORT_TEXT {
        return Err(BtcError::Device(format!(
            "the export is {} bytes; wallet exports are under {MAX_EXPORT_TEXT}",
            text.len()
        )));
    }
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(BtcError::Device("the export is empty".into()));
    }
    if trimmed.starts_with("BSMS ") {
        let vault = crate::bsms::import_descriptor_record(trimmed, network)?;
        return Ok(DeviceExport::Vault {
            format: "bsms",
            name: None,
            vault: Box::new(vault),
        });
    }
    if trimmed.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(trimmed)
            .map_err(|e| BtcError::Device(format!("the JSON export does not parse: {e}")))?;
        if value.get("descriptor").is_some() {
            return wallet_files::read_specter(&value, network);
        }
        if value.get("xfp").is_some() {
            return coldcard::read_json(&value, network);
        }
        return Err(BtcError::Device(
            "a JSON export with neither \"descriptor\" (Specter) nor \"xfp\" (Coldcard)".into(),
        ));
    }
    if trimmed
        .as_bytes()
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"ur:"))
    {
        return Err(BtcError::Device(
            "UR text: reassemble it first (`airlock btc import-device` does)".into(),
        ));
    }
    if coldcard::looks_like_setup_file(trimmed) {
        return coldcard::read_setup_file(trimmed, network);
    }
    wallet_files::read_descriptor_text(trimmed, network)
}

fn read_ur_unchecked(
    ur_type: &str,
    cbor: &[u8],
    network: Network,
) -> Result<DeviceExport, BtcError> {
    match ur_type {
        "crypto-account" => {
            let account = ur_registry::decode_account(cbor)?;
            let keys = account
                .outputs
                .iter()
                .filter_map(|o| account_key_of(o, Some(account.master_fingerprint)).transpose())
                .collect::<Result<Vec<_>, _>>()?;
            let keys = check_keys("crypto-account", keys, network)?;
            Ok(DeviceExport::Keys {
                format: "crypto-account",
                fingerprint: account.master_fingerprint,
                keys,
            })
        }
        "crypto-hdkey" => {
            let key = ur_registry::decode_hdkey(cbor)?;
            let fingerprint = key.master_fingerprint().ok_or_else(|| {
                device_err(
                    "crypto-hdkey",
                    "the key has no master fingerprint in its origin",
                )
            })?;
            let path = key.origin_path();
            let script = script_of_path(&path).ok_or_else(|| {
                device_err(
                    "crypto-hdkey",
                    format!("origin m/{path} is not a BIP-44/48/49/84/86 account path"),
                )
            })?;
            let keys = check_keys(
                "crypto-hdkey",
                vec![AccountKey {
                    script,
                    fingerprint,
                    path,
                    xpub: key.xpub,
                }],
                network,
            )?;
            Ok(DeviceExport::Keys {
                format: "crypto-hdkey",
                fingerprint,
                keys,
            })
        }
        "crypto-output" => {
            let output = ur_registry::decode_output(cbor)?;
            if let Some(key) = account_key_of(&output, None)? {
                let fingerprint = key.fingerprint;
                let keys = check_keys("crypto-output", vec![key], network)?;
                return Ok(DeviceExport::Keys {
                    format: "crypto-output",
                    fingerprint,
                    keys,
                });
            }
            let text = output.descriptor(None);
            let vault = vault_from_branch_descriptor(&text, network)
                .map_err(|e| device_err("crypto-output", format!("{text}: {e}")))?;
            Ok(DeviceExport::Vault {
                format: "crypto-output",
                name: None,
                vault: Box::new(vault),
            })
        }
        other => Err(BtcError::Device(format!(
            "UR type {other:?} holds no Bitcoin keys or descriptor (crypto-account, crypto-hdkey and crypto-output do)"
        ))),
    }
}

/// The account keys a signer offers to coordinators, as a hardware wallet exports them: BIP-48
/// P2WSH and P2SH-P2WSH multisig, BIP-84, BIP-49 and BIP-86 single key, for `account`.
pub fn account_keys(
    key: &crate::keys::SignerKey,
    account: u32,
) -> Result<Vec<AccountKey>, BtcError> {
    use bitcoin::bip32::ChildNumber::Hardened;
    let coin = crate::vault::coin_type(key.network());
    let scripts: [(KeyScript, &[u32]); 5] = [
        (KeyScript::MultisigWsh, &[48, coin, account, 2]),
        (KeyScript::MultisigShWsh, &[48, coin, account, 1]),
        (KeyScript::Wpkh, &[84, coin, account]),
        (KeyScript::ShWpkh, &[49, coin, account]),
        (KeyScript::Taproot, &[86, coin, account]),
    ];
    scripts
        .into_iter()
        .map(|(script, steps)| {
            let path = DerivationPath::from(
                steps
                    .iter()
                    .map(|&index| Hardened { index })
                    .collect::<Vec<_>>(),
            );
            Ok(AccountKey {
                script,
                fingerprint: key.fingerprint(),
                xpub: key.xpub_at(&path)?,
                path,
            })
        })
        .collect()
}

/// The purpose-implied script of an account path (`48'/c'/a'/2'` → P2WSH multisig…).
pub fn script_of_path(path: &DerivationPath) -> Option<KeyScript> {
    use bitcoin::bip32::ChildNumber::Hardened;
    let steps = path.as_ref();
    match steps {
        [Hardened { index: 45 }] => Some(KeyScript::MultisigSh),
        [
            Hardened { index: 48 },
            Hardened { .. },
            Hardened { .. },
            Hardened { index: 2 },
        ] => Some(KeyScript::MultisigWsh),
        [
            Hardened { index: 48 },
            Hardened { .. },
            Hardened { .. },
            Hardened { index: 1 },
        ] => Some(KeyScript::MultisigShWsh),
        [Hardened { index: p }, Hardened { .. }, Hardened { .. }] => match p {
            44 => Some(KeyScript::Pkh),
            49 => Some(KeyScript::ShWpkh),
            84 => Some(KeyScript::Wpkh),
            86 => Some(KeyScript::Taproot),
            _ => None,
        },
        _ => None,
    }
}

/// The member key of a single-key or cosigner output (`wsh(cosigner(K))`, `wpkh(K)`…); `None`
/// for outputs that describe a whole wallet (multisig).
fn account_key_of(
    output: &ur_registry::ScriptExpr,
    fallback: Option<Fingerprint>,
) -> Result<Option<AccountKey>, BtcError> {
    use ur_registry::ScriptExpr::{Key, Wrap};
    let (script, key) = match output {
        Wrap("wsh", inner) => match inner.as_ref() {
            Wrap("cosigner", k) => (KeyScript::MultisigWsh, k),
            _ => return Ok(None),
        },
        Wrap("sh", inner) => match inner.as_ref() {
            Wrap("cosigner", k) => (KeyScript::MultisigSh, k),
            Wrap("wpkh", k) => (KeyScript::ShWpkh, k),
            Wrap("wsh", w) => match w.as_ref() {
                Wrap("cosigner", k) => (KeyScript::MultisigShWsh, k),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        },
        Wrap("wpkh", k) => (KeyScript::Wpkh, k),
        Wrap("pkh", k) => (KeyScript::Pkh, k),
        Wrap("tr", k) if matches!(k.as_ref(), Key(_)) => (KeyScript::Taproot, k),
        _ => return Ok(None),
    };
    let Key(ur_registry::OutputKey::Hd(hd)) = key.as_ref() else {
        return Err(device_err(
            "crypto-output",
            format!("the {} key is not an extended key", script.name()),
        ));
    };
    let fingerprint = hd.master_fingerprint().or(fallback).ok_or_else(|| {
        device_err(
            "crypto-output",
            format!("the {} key has no master fingerprint", script.name()),
        )
    })?;
    Ok(Some(AccountKey {
        script,
        fingerprint,
        path: hd.origin_path(),
        xpub: hd.xpub,
    }))
}

/// Every key: the network of its version bytes matches `network`, its depth matches its path,
/// and its path matches the script it is exported for.
pub(crate) fn check_keys(
    format: &str,
    keys: Vec<AccountKey>,
    network: Network,
) -> Result<Vec<AccountKey>, BtcError> {
    if keys.is_empty() {
        return Err(device_err(format, "the export holds no account keys"));
    }
    let want = NetworkKind::from(network);
    for k in &keys {
        if k.xpub.network != want {
            return Err(device_err(
                format,
                format!(
                    "the {} key {} is for {}, not {network}",
                    k.script.name(),
                    k.fingerprint,
                    if k.xpub.network == NetworkKind::Main {
                        "mainnet"
                    } else {
                        "a test network"
                    }
                ),
            ));
        }
        check_origin(format, k)?;
        if script_of_path(&k.path) != Some(k.script) {
            return Err(device_err(
                format,
                format!(
                    "the {} key {} is at m/{}, not at that script's account path",
                    k.script.name(),
                    k.fingerprint,
                    k.path
                ),
            ));
        }
        let coin = crate::vault::coin_type(network);
        if k.script != KeyScript::MultisigSh
            && k.path.as_ref().get(1)
                != Some(&bitcoin::bip32::ChildNumber::Hardened { index: coin })
        {
            return Err(device_err(
                format,
                format!(
                    "the {} key {} is at m/{}: coin type {coin}' is expected on {network}",
                    k.script.name(),
                    k.fingerprint,
                    k.path
                ),
            ));
        }
    }
    Ok(keys)
}

/// An extended key records its depth and the last step of the path it was derived at: both must
/// agree with the stated path (a key exported at another path than its file says is refused).
pub(crate) fn check_origin(format: &str, k: &AccountKey) -> Result<(), BtcError> {
    if usize::from(k.xpub.depth) != k.path.len() {
        return Err(device_err(
            format,
            format!(
                "key {} has depth {} but its derivation m/{} has {} steps",
                k.fingerprint,
                k.xpub.depth,
                k.path,
                k.path.len()
            ),
        ));
    }
    if let Some(last) = k.path.as_ref().last()
        && *last != k.xpub.child_number
    {
        return Err(device_err(
            format,
            format!(
                "the key {} was derived at child {} but its derivation m/{} ends in {last}",
                k.fingerprint, k.xpub.child_number, k.path
            ),
        ));
    }
    Ok(())
}

/// The version bytes SLIP-132 gives each prefix: (mainnet?, script) for `ypub`, `Zpub`….
fn slip132_version(prefix: &str) -> Option<(NetworkKind, Option<KeyScript>)> {
    Some(match prefix {
        "xpub" => (NetworkKind::Main, None),
        "tpub" => (NetworkKind::Test, None),
        "ypub" => (NetworkKind::Main, Some(KeyScript::ShWpkh)),
        "zpub" => (NetworkKind::Main, Some(KeyScript::Wpkh)),
        "Ypub" => (NetworkKind::Main, Some(KeyScript::MultisigShWsh)),
        "Zpub" => (NetworkKind::Main, Some(KeyScript::MultisigWsh)),
        "upub" => (NetworkKind::Test, Some(KeyScript::ShWpkh)),
        "vpub" => (NetworkKind::Test, Some(KeyScript::Wpkh)),
        "Upub" => (NetworkKind::Test, Some(KeyScript::MultisigShWsh)),
        "Vpub" => (NetworkKind::Test, Some(KeyScript::MultisigWsh)),
        _ => return None,
    })
}

/// `xpub` written with the SLIP-132 prefix of `script` (`Zpub`/`Vpub` for P2WSH multisig…);
/// legacy and taproot keys keep `xpub`/`tpub`, as Coldcard writes them.
pub fn to_slip132(xpub: &Xpub, script: KeyScript) -> String {
    let main = xpub.network == NetworkKind::Main;
    let version: [u8; 4] = match (script, main) {
        (KeyScript::ShWpkh, true) => [0x04, 0x9d, 0x7c, 0xb2],
        (KeyScript::Wpkh, true) => [0x04, 0xb2, 0x47, 0x46],
        (KeyScript::MultisigShWsh, true) => [0x02, 0x95, 0xb4, 0x3f],
        (KeyScript::MultisigWsh, true) => [0x02, 0xaa, 0x7e, 0xd3],
        (KeyScript::ShWpkh, false) => [0x04, 0x4a, 0x52, 0x62],
        (KeyScript::Wpkh, false) => [0x04, 0x5f, 0x1c, 0xf6],
        (KeyScript::MultisigShWsh, false) => [0x02, 0x42, 0x89, 0xef],
        (KeyScript::MultisigWsh, false) => [0x02, 0x57, 0x54, 0x83],
        _ => return xpub.to_string(),
    };
    let mut data = xpub.encode();
    data[..4].copy_from_slice(&version);
    bitcoin::base58::encode_check(&data)
}

/// Reads an extended public key written with any SLIP-132 prefix as the standard `xpub`/`tpub`;
/// a prefix that implies another script than `script` is refused.
pub fn parse_slip132(text: &str, script: KeyScript, format: &str) -> Result<Xpub, BtcError> {
    let text = text.trim();
    let prefix = text.get(..4).unwrap_or("");
    let (network, implied) = slip132_version(prefix).ok_or_else(|| {
        device_err(
            format,
            if prefix.ends_with("prv") {
                "a private key: only public keys are imported".to_string()
            } else {
                format!("{prefix:?} is not an extended public key prefix")
            },
        )
    })?;
    if let Some(implied) = implied
        && implied != script
    {
        return Err(device_err(
            format,
            format!(
                "a {prefix} key implies {}, but it is given for {}",
                implied.name(),
                script.name()
            ),
        ));
    }
    let mut data = bitcoin::base58::decode_check(text)
        .map_err(|e| device_err(format, format!("the {prefix} key does not decode: {e}")))?;
    if data.len() != 78 {
        return Err(device_err(
            format,
            format!("the {prefix} key is {} bytes, not 78", data.len()),
        ));
    }
    data[..4].copy_from_slice(match network {
        NetworkKind::Main => &[0x04, 0x88, 0xb2, 0x1e],
        NetworkKind::Test => &[0x04, 0x35, 0x87, 0xcf],
    });
    Xpub::decode(&data).map_err(|e| device_err(format, format!("the {prefix} key: {e}")))
}

/// A multisig vault from member keys: `wsh(sortedmulti(M,…))` or `sh(wsh(sortedmulti(M,…)))`
/// with every key at `/<0;1>/*`, checked by [`BtcVault::parse_for`].
pub fn multisig_vault(
    threshold: usize,
    nested: bool,
    keys: &[(Fingerprint, DerivationPath, Xpub)],
    network: Network,
) -> Result<BtcVault, BtcError> {
    if threshold == 0 || threshold > keys.len() {
        return Err(BtcError::Device(format!(
            "a policy of {threshold} of {} keys",
            keys.len()
        )));
    }
    let keys: Vec<String> = keys
        .iter()
        .map(|(fp, path, xpub)| format!("{}/<0;1>/*", format_key_origin(*fp, path, xpub)))
        .collect();
    let inner = format!("wsh(sortedmulti({threshold},{}))", keys.join(","));
    let text = if nested {
        format!("sh({inner})")
    } else {
        inner
    };
    BtcVault::parse_for(&text, network)
}

/// The multisig shape of a vault, for formats that can only say "M of N sorted keys".
pub struct MultisigShape {
    /// `sh(wsh(…))` rather than `wsh(…)`.
    pub nested: bool,
    pub threshold: usize,
}

/// `Some` for `wsh(sortedmulti)` and `sh(wsh(sortedmulti))` vaults whose keys are all extended
/// keys ending in `/<0;1>/*` directly under the account key: the vaults Coldcard-style files can describe.
pub fn multisig_shape(vault: &BtcVault) -> Option<MultisigShape> {
    let (nested, inner) = match vault.descriptor() {
        Descriptor::Wsh(wsh) => (false, wsh.as_inner()),
        Descriptor::Sh(sh) => match sh.as_inner() {
            ShInner::Wsh(wsh) => (true, wsh.as_inner()),
            _ => return None,
        },
        _ => return None,
    };
    let WshInner::SortedMulti(multi) = inner else {
        return None;
    };
    // Every key extended (a bare public key has no place in a Coldcard file or an account).
    if multi.pks().len() != vault.keys().len() {
        return None;
    }
    let plain_branches = vault
        .keys()
        .iter()
        .all(|k| k.branch_paths[0].to_string() == "0" && k.branch_paths[1].to_string() == "1");
    plain_branches.then_some(MultisigShape {
        nested,
        threshold: multi.k(),
    })
}

/// A vault from descriptor text whose keys name one branch (`/0/*` or `/1/*`, as Specter, older
/// Sparrow and BCR-2020-010 write them), no branch (account keys), or both (`/<0;1>/*`).
pub fn vault_from_branch_descriptor(text: &str, network: Network) -> Result<BtcVault, BtcError> {
    let body = match text.trim().rsplit_once('#') {
        Some((body, checksum)) => {
            let expected = miniscript::descriptor::checksum::desc_checksum(body)
                .map_err(|e| BtcError::Descriptor(format!("cannot compute the checksum: {e}")))?;
            if checksum != expected {
                return Err(BtcError::Descriptor(format!(
                    "checksum mismatch: the text says #{checksum}, its descriptor gives #{expected}"
                )));
            }
            body
        }
        None => text.trim(),
    };
    let normalized = normalize_branches(body);
    BtcVault::parse_for(&normalized, network)
}

/// Rewrites each extended key's suffix: `/0/*`, `/1/*` or nothing become `/<0;1>/*`.
fn normalize_branches(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 64);
    let mut rest = body;
    while let Some(at) = find_xkey(rest) {
        out.push_str(&rest[..at]);
        let key_len = rest[at..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len() - at);
        out.push_str(&rest[at..at + key_len]);
        rest = &rest[at + key_len..];
        let suffix_len = rest.find([',', ')']).unwrap_or(rest.len());
        match &rest[..suffix_len] {
            "" | "/0/*" | "/1/*" => out.push_str("/<0;1>/*"),
            other => out.push_str(other),
        }
        rest = &rest[suffix_len..];
    }
    out.push_str(rest);
    out
}

fn find_xkey(s: &str) -> Option<usize> {
    ["xpub", "tpub"].iter().filter_map(|p| s.find(p)).min()
}
