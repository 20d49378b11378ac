//! BSMS (BIP-129) descriptor records, unencrypted: what a coordinator hands every signer after
//! assembling a multisig vault, and what signers check.
//!
//! A record is four lines (LF; CRLF accepted on import):
//!
//! ```text
//! BSMS 1.0
//! wsh(sortedmulti(2,[fp/48'/1'/0'/2']tpub…/**,…))#checksum
//! /0/*,/1/*
//! <first receive address>
//! ```
//!
//! `/**` is BIP-129's short form of `/<0;1>/*`. Import accepts that template or the full
//! multipath form, verifies the checksum when present, requires the path restrictions to be
//! `/0/*,/1/*` (or `No path restrictions`), parses the vault with all of [`BtcVault`]'s checks
//! and refuses the record unless the first address re-derives to the stated one. Encrypted
//! records (BIP-129 with a token) are not supported and are refused as such.
//!
//! This module must never accept a record whose first address does not match its descriptor.

use bitcoin::Network;

use crate::error::BtcError;
use crate::vault::BtcVault;

/// The only record version this module reads and writes.
pub const BSMS_VERSION: &str = "BSMS 1.0";
/// Path restrictions of a vault with receive and change branches.
pub const PATH_RESTRICTIONS: &str = "/0/*,/1/*";
const NO_RESTRICTIONS: &str = "No path restrictions";

/// The record of `vault`: template with `/**` keys and checksum, path restrictions, first
/// receive address. Each line ends with LF.
pub fn export_descriptor_record(vault: &BtcVault) -> Result<String, BtcError> {
    let canonical = format!("{:#}", vault.descriptor());
    let template = canonical.replace("/<0;1>/*", "/**");
    if template.contains('<') {
        return Err(BtcError::Bsms(
            "only vaults whose keys end in /<0;1>/* can be written as a BSMS template".into(),
        ));
    }
    let checksum = miniscript::descriptor::checksum::desc_checksum(&template)
        .map_err(|e| BtcError::Bsms(format!("cannot compute the checksum: {e}")))?;
    let address = vault.first_receive_address()?;
    Ok(format!(
        "{BSMS_VERSION}\n{template}#{checksum}\n{PATH_RESTRICTIONS}\n{address}\n"
    ))
}

/// Reads a descriptor record for `network` and returns the vault it defines (see the module
/// docs for every check).
pub fn import_descriptor_record(record: &str, network: Network) -> Result<BtcVault, BtcError> {
    let lines: Vec<&str> = record
        .lines()
        .map(|l| l.trim_end_matches('\r').trim())
        .filter(|l| !l.is_empty())
        .collect();
    let first = lines.first().copied().unwrap_or("");
    if first != BSMS_VERSION {
        return Err(BtcError::Bsms(
            if first.chars().all(|c| c.is_ascii_hexdigit()) && !first.is_empty() {
                "the record looks encrypted; only unencrypted BSMS 1.0 records are supported".into()
            } else {
                format!("the record must start with {BSMS_VERSION:?}, found {first:?}")
            },
        ));
    }
    if lines.len() != 4 {
        return Err(BtcError::Bsms(format!(
            "a descriptor record has 4 lines (version, descriptor, path restrictions, first address); this one has {}",
            lines.len()
        )));
    }
    let (descriptor, restrictions, address) = (lines[1], lines[2], lines[3]);
    if restrictions != PATH_RESTRICTIONS && restrictions != NO_RESTRICTIONS {
        return Err(BtcError::Bsms(format!(
            "path restrictions {restrictions:?} are not supported (expected {PATH_RESTRICTIONS:?})"
        )));
    }
    let body = match descriptor.rsplit_once('#') {
        Some((body, checksum)) => {
            let expected = miniscript::descriptor::checksum::desc_checksum(body)
                .map_err(|e| BtcError::Bsms(format!("cannot compute the checksum: {e}")))?;
            if checksum != expected {
                return Err(BtcError::Bsms(format!(
                    "descriptor checksum mismatch: the record says #{checksum}, its text gives #{expected}"
                )));
            }
            body
        }
        None => descriptor,
    };
    let expanded = body.replace("/**", "/<0;1>/*");
    let vault = BtcVault::parse_for(&expanded, network)?;
    let derived = vault.first_receive_address()?.to_string();
    if derived != address {
        return Err(BtcError::Bsms(format!(
            "the record's first address {address} is not the descriptor's first address {derived}: refusing the record"
        )));
    }
    Ok(vault)
}
