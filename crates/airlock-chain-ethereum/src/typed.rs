//! Generic EIP-712 typed data (`eth_signTypedData_v4` JSON): parsing, the signing hash, and every
//! field of the message flattened with its path and type so a person sees all of it.
//!
//! The hash is alloy's EIP-712 implementation over the same JSON; the flattening walks the
//! message along the declared types (fields in declaration order, nested structs as `a.b.c`,
//! arrays as `a[0]`), so a field the types do not declare is refused rather than hidden.
//!
//! This module must never hash a message it could not show in full.

use alloy_dyn_abi::TypedData;
use alloy_primitives::B256;
use serde_json::Value as Json;

use crate::error::EthError;

/// The largest typed-data JSON accepted, and the most fields shown.
pub const MAX_JSON: usize = 256 * 1024;
pub const MAX_FIELDS: usize = 4096;
const MAX_DEPTH: usize = 16;

/// One shown field: path, declared type, value as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypedField {
    pub path: String,
    pub ty: String,
    pub value: String,
}

/// Typed data parsed, hashed and flattened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypedReview {
    pub primary_type: String,
    /// The domain's fields (name, version, chainId, verifyingContract, salt) that are present.
    pub domain: Vec<TypedField>,
    pub chain_id: Option<u64>,
    pub fields: Vec<TypedField>,
    pub domain_separator: B256,
    pub hash: B256,
}

fn err(s: impl Into<String>) -> EthError {
    EthError::TypedData(s.into())
}

/// Parses typed-data JSON and computes its EIP-712 signing hash.
pub fn parse(json: &str) -> Result<(TypedData, B256), EthError> {
    if json.len() > MAX_JSON {
        return Err(err(format!(
            "JSON is {} bytes, at most {MAX_JSON} accepted",
            json.len()
        )));
    }
    let td: TypedData =
        serde_json::from_str(json).map_err(|e| err(format!("not valid typed data: {e}")))?;
    let hash = td
        .eip712_signing_hash()
        .map_err(|e| err(format!("cannot be hashed: {e}")))?;
    Ok((td, hash))
}

fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses, hashes and flattens typed data.
pub fn review(json: &str) -> Result<TypedReview, EthError> {
    let (td, hash) = parse(json)?;
    let raw: Json = serde_json::from_str(json).map_err(|e| err(format!("not JSON: {e}")))?;
    let types = raw
        .get("types")
        .and_then(Json::as_object)
        .ok_or_else(|| err("missing \"types\""))?;
    let mut fields = Vec::new();
    walk(types, &td.primary_type, &td.message, "", 0, &mut fields)?;
    let d = &td.domain;
    let mut domain = Vec::new();
    if let Some(n) = &d.name {
        domain.push(("name", "string", n.to_string()));
    }
    if let Some(v) = &d.version {
        domain.push(("version", "string", v.to_string()));
    }
    let mut chain_id = None;
    if let Some(c) = &d.chain_id {
        if *c > alloy_primitives::U256::from(u64::MAX) {
            return Err(err(format!("domain chainId {c} is out of range")));
        }
        chain_id = Some(c.to::<u64>());
        domain.push(("chainId", "uint256", c.to_string()));
    }
    if let Some(v) = &d.verifying_contract {
        domain.push(("verifyingContract", "address", v.to_checksum(None)));
    }
    if let Some(s) = &d.salt {
        domain.push(("salt", "bytes32", s.to_string()));
    }
    Ok(TypedReview {
        primary_type: td.primary_type.clone(),
        domain: domain
            .into_iter()
            .map(|(p, t, v)| TypedField {
                path: p.into(),
                ty: t.into(),
                value: v,
            })
            .collect(),
        chain_id,
        fields,
        domain_separator: d.separator(),
        hash,
    })
}

fn walk(
    types: &serde_json::Map<String, Json>,
    ty: &str,
    value: &Json,
    path: &str,
    depth: usize,
    out: &mut Vec<TypedField>,
) -> Result<(), EthError> {
    if depth > MAX_DEPTH {
        return Err(err(format!(
            "{path}: nested deeper than {MAX_DEPTH} levels"
        )));
    }
    if out.len() > MAX_FIELDS {
        return Err(err(format!("more than {MAX_FIELDS} fields")));
    }
    if let Some(inner) = ty.strip_suffix(']') {
        let open = inner
            .rfind('[')
            .ok_or_else(|| err(format!("{path}: malformed array type {ty}")))?;
        let elem = &inner[..open];
        let items = value
            .as_array()
            .ok_or_else(|| err(format!("{path}: {ty} must be an array")))?;
        if items.is_empty() {
            out.push(TypedField {
                path: path.to_owned(),
                ty: ty.to_owned(),
                value: "[] (empty)".into(),
            });
        }
        for (i, item) in items.iter().enumerate() {
            walk(types, elem, item, &format!("{path}[{i}]"), depth + 1, out)?;
        }
        return Ok(());
    }
    if let Some(members) = types.get(ty) {
        let members = members
            .as_array()
            .ok_or_else(|| err(format!("type {ty} must list its fields")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| err(format!("{path}: a {ty} must be an object")))?;
        let mut declared = Vec::new();
        for m in members {
            let name = m
                .get("name")
                .and_then(Json::as_str)
                .ok_or_else(|| err(format!("type {ty}: a field has no name")))?;
            let mty = m
                .get("type")
                .and_then(Json::as_str)
                .ok_or_else(|| err(format!("type {ty}: field {name} has no type")))?;
            declared.push(name);
            let p = if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            let v = obj
                .get(name)
                .ok_or_else(|| err(format!("{p}: missing from the message")))?;
            walk(types, mty, v, &p, depth + 1, out)?;
        }
        if let Some(extra) = obj.keys().find(|k| !declared.contains(&k.as_str())) {
            return Err(err(format!(
                "{path}: field {extra:?} is not declared in type {ty} (it would not be signed \
                 but could be shown by another wallet)"
            )));
        }
        return Ok(());
    }
    out.push(TypedField {
        path: path.to_owned(),
        ty: ty.to_owned(),
        value: text(value),
    });
    Ok(())
}
