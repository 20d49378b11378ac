//! The offline half of the `ethereum` chain as the signer uses it: [`Ethereum`] implements
//! `airlock_core::chain::ChainReview` on top of [`crate::describe`] and [`crate::sign_payload`].
//!
//! - The account, owners, chain id and delegatecall allowlist come from the registered vault
//!   ([`crate::vault_spec::EthVault`]), never from the proposal.
//! - What the payload consumes (`Description::spends`) is one entry per nonce: `0x…:nonce:N`
//!   for an account transaction, `0x…:safe-nonce:N` for a Safe transaction, `typed-data:0x…` for
//!   a typed-data hash. Two proposals using the same nonce therefore conflict, in the
//!   coordinator and in each signer's journal.
//! - The chain secret is the 32-byte secp256k1 secret of the signer's Ethereum address.
//! - Signature material ([`encode_material`]): a CBOR array of raw signed transactions for an
//!   account batch, 65 bytes r ‖ s ‖ v for a Safe owner or typed-data signature.
//!
//! This module must never sign a payload that [`crate::describe`] refused, nor with a key that
//! is not the vault's account or one of its Safe owners.

use airlock_core::cbor::{self, Limits, Value};
use airlock_core::chain::{ChainError, ChainReview, ChainSecret, Description, DigestSigner};
use airlock_core::{Proposal, VaultDefinition};

use crate::CHAIN;
use crate::error::EthError;
use crate::keys::EthKey;
use crate::payload::EthPayload;
use crate::review::{EthReview, ReviewKind, describe, transfers};
use crate::sign::{EthSignature, sign_payload, sign_payload_with};
use crate::vault_spec::EthVault;

/// The `ethereum` chain for the signer (review and signing, no network).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ethereum;

/// Reads and reviews a proposal's payload against the vault.
pub fn review_proposal(
    vault: &VaultDefinition,
    proposal: &Proposal,
) -> Result<(EthVault, EthPayload, EthReview), EthError> {
    let spec = EthVault::from_vault(vault)?;
    let payload = EthPayload::from_bytes(&proposal.payload)?;
    let review = describe(&payload, &spec.account, &spec.policy)?;
    Ok((spec, payload, review))
}

/// The spends of a payload: one per nonce (see the module documentation).
pub fn spends_of(spec: &EthVault, review: &EthReview) -> Vec<String> {
    match &review.kind {
        ReviewKind::Transactions { txs, .. } => txs
            .iter()
            .map(|t| format!("{}:nonce:{}", spec.address(), t.nonce))
            .collect(),
        ReviewKind::Safe(s) => vec![format!("{}:safe-nonce:{}", s.safe, s.tx.nonce)],
        ReviewKind::TypedData(t) => vec![format!("typed-data:{}", t.hash)],
    }
}

/// The chain-agnostic description of a reviewed payload.
pub fn description_of(spec: &EthVault, review: &EthReview) -> Result<Description, EthError> {
    let fee = match &review.kind {
        ReviewKind::Transactions { total_max_fee, .. } => {
            Some(u128::try_from(*total_max_fee).unwrap_or(u128::MAX))
        }
        _ => None,
    };
    let mut details = vec![("account".to_owned(), spec.address().to_string())];
    details.extend(review.lines());
    Ok(Description {
        transfers: transfers(review)?.into_iter().map(Into::into).collect(),
        change: Vec::new(),
        fee,
        spends: spends_of(spec, review),
        warnings: review.warnings.clone(),
        details,
    })
}

/// Encodes what a signer returns for the coordinator.
pub fn encode_material(sig: &EthSignature) -> Vec<u8> {
    match sig {
        EthSignature::Transactions(raws) => cbor::encode(&Value::Array(
            raws.iter().map(|r| Value::Bytes(r.clone())).collect(),
        )),
        EthSignature::SafeTx { signature, .. } | EthSignature::TypedData { signature, .. } => {
            signature.to_vec()
        }
    }
}

/// The raw signed transactions of an account approval's material.
pub fn decode_transactions_material(material: &[u8]) -> Result<Vec<Vec<u8>>, EthError> {
    let value = cbor::decode(material, Limits::ARTIFACT)?;
    let Value::Array(items) = value else {
        return Err(EthError::Signature(
            "the material of an account approval must be an array of raw transactions".into(),
        ));
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::Bytes(b) => Ok(b),
            other => Err(EthError::Signature(format!(
                "a raw transaction is a {}, not bytes",
                other.type_name()
            ))),
        })
        .collect()
}

/// The 65-byte signature of a Safe owner or typed-data approval.
pub fn decode_signature_material(material: &[u8]) -> Result<[u8; 65], EthError> {
    material.try_into().map_err(|_| {
        EthError::Signature(format!(
            "an owner signature is 65 bytes, this material is {}",
            material.len()
        ))
    })
}

/// The address of a SEC1-encoded secp256k1 public key.
pub fn address_of_public_key(sec1: &[u8]) -> Result<crate::EthAddress, EthError> {
    let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
        .map_err(|_| EthError::Key("not a secp256k1 public key".into()))?;
    Ok(crate::EthAddress(
        alloy_primitives::Address::from_public_key(&key),
    ))
}

impl ChainReview for Ethereum {
    fn chain(&self) -> &'static str {
        CHAIN
    }

    fn check_account(&self, vault: &VaultDefinition) -> Result<Vec<String>, ChainError> {
        Ok(crate::vault_spec::EthVault::check_members(vault)?)
    }

    fn describe(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
    ) -> Result<Description, ChainError> {
        let (spec, _, review) = review_proposal(vault, proposal)?;
        Ok(description_of(&spec, &review)?)
    }

    fn sign(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        secret: &ChainSecret,
    ) -> Result<Vec<u8>, ChainError> {
        let bytes: &[u8; 32] = secret.0.as_slice().try_into().map_err(|_| {
            ChainError::new(
                CHAIN,
                format!(
                    "the signer's Ethereum key must be 32 bytes, not {}",
                    secret.0.len()
                ),
            )
        })?;
        let key = EthKey::from_bytes(bytes)?;
        let (spec, payload, _) = review_proposal(vault, proposal)?;
        let (_, sig) = sign_payload(&payload, &spec.account, &spec.policy, &key)?;
        Ok(encode_material(&sig))
    }

    fn sign_external(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        signer: &dyn DigestSigner,
    ) -> Result<Vec<u8>, ChainError> {
        let me = address_of_public_key(&signer.public_key())?;
        let (spec, payload, _) = review_proposal(vault, proposal)?;
        let sign =
            |hash: &alloy_primitives::B256| -> Result<alloy_primitives::Signature, EthError> {
                let rsv = signer
                    .sign_digest(&hash.0)
                    .map_err(|e| EthError::Signature(e.to_string()))?;
                if rsv[64] > 1 {
                    return Err(EthError::Signature(format!(
                        "the external signer gave recovery id {}",
                        rsv[64]
                    )));
                }
                Ok(alloy_primitives::Signature::from_bytes_and_parity(
                    &rsv[..64],
                    rsv[64] == 1,
                ))
            };
        let (_, sig) = sign_payload_with(&payload, &spec.account, &spec.policy, me, &sign)?;
        Ok(encode_material(&sig))
    }
}
