//! Wallet programs' vault files: Specter's wallet JSON and Sparrow's output-descriptor file (and
//! any file of plain descriptor text), read and written.
//!
//! Specter writes `{"label", "blockheight", "descriptor", "devices"}` with the receive-branch
//! descriptor (`…/0/*`); Sparrow writes commented lines holding the BIP-389 multipath descriptor
//! and the receive and change descriptors Bitcoin Core takes. Reading takes every descriptor in
//! the file, checks each checksum, reads `/0/*`, `/1/*` or account-level keys as the vault's
//! `/<0;1>/*`, and requires all of them to define the same vault. This module must never accept
//! a file whose descriptors disagree.

use bitcoin::Network;
use serde_json::{Value, json};

use super::{DeviceExport, device_err, vault_from_branch_descriptor};
use crate::error::BtcError;
use crate::vault::BtcVault;

const SPECTER: &str = "specter-json";
const DESCRIPTORS: &str = "descriptor-text";

/// Reads Specter's wallet JSON (Sparrow writes and reads the same shape).
pub fn read_specter(value: &Value, network: Network) -> Result<DeviceExport, BtcError> {
    let descriptor = value
        .get("descriptor")
        .and_then(Value::as_str)
        .ok_or_else(|| device_err(SPECTER, "\"descriptor\" is not text"))?;
    let vault = vault_from_branch_descriptor(descriptor, network)
        .map_err(|e| device_err(SPECTER, e.to_string()))?;
    let name = value
        .get("label")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(DeviceExport::Vault {
        format: SPECTER,
        name,
        vault: Box::new(vault),
    })
}

/// Writes `vault` as Specter's wallet JSON (receive-branch descriptor with checksum).
pub fn write_specter(vault: &BtcVault, name: &str) -> Result<String, BtcError> {
    let [receive, _] = vault.branch_descriptors();
    let value = json!({
        "label": name,
        "blockheight": 0,
        "descriptor": receive,
        "devices": vault.keys().iter().map(|k| json!({
            "type": "other",
            "label": k.fingerprint.to_string(),
        })).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&value).map_err(|e| BtcError::Device(e.to_string()))
}

/// Reads a file of descriptor text: one descriptor, or Sparrow's commented file of the
/// multipath, receive and change descriptors.
pub fn read_descriptor_text(text: &str, network: Network) -> Result<DeviceExport, BtcError> {
    let mut vault: Option<(usize, BtcVault)> = None;
    for (number, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let this = vault_from_branch_descriptor(line, network)
            .map_err(|e| device_err(DESCRIPTORS, format!("line {}: {e}", number + 1)))?;
        match &vault {
            None => vault = Some((number + 1, this)),
            Some((first, v)) if v.descriptor_text() != this.descriptor_text() => {
                return Err(device_err(
                    DESCRIPTORS,
                    format!(
                        "line {} describes another vault than line {first}",
                        number + 1
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let (_, vault) = vault.ok_or_else(|| device_err(DESCRIPTORS, "no descriptor in the file"))?;
    Ok(DeviceExport::Vault {
        format: DESCRIPTORS,
        name: None,
        vault: Box::new(vault),
    })
}

/// Writes Sparrow's output-descriptor file: the multipath descriptor, then the receive and the
/// change descriptor, each with a comment line.
pub fn write_descriptor_file(vault: &BtcVault) -> String {
    let [receive, change] = vault.branch_descriptors();
    format!(
        "# Receive and change descriptor (BIP389):\n{}\n\n# Receive descriptor (Bitcoin Core):\n{receive}\n\n# Change descriptor (Bitcoin Core):\n{change}\n",
        vault.descriptor_text()
    )
}
