//! The interface each chain crate implements, split along the air gap.
//!
//! `ChainReview` is everything the offline signer needs: describe a payload *independently* from
//! the signer's own registered vault (never trusting the proposal's stated intent), and sign it.
//! `ChainOnline` adds what only the coordinator does: build a payload from an intent, combine and
//! verify signatures, finalize, broadcast, watch for confirmations and sync. Chain crates put
//! their `ChainOnline` implementation behind a feature so that the signer build has no network code.
//!
//! `DecisionOnly` (chain `none`) is the built-in chain for vaults that record decisions without
//! moving funds through Airlock (approving a payment made elsewhere, a policy change, a key
//! ceremony); it is also what the demo uses until a chain crate is configured.
//!
//! This module must never let a signer sign something whose description it did not compute itself.

use zeroize::Zeroizing;

use crate::CoreError;
use crate::artifacts::{Intent, Proposal, Transfer};
use crate::vault::VaultDefinition;

/// A chain error: what failed, in words a person can act on.
#[derive(Debug, thiserror::Error)]
#[error("{chain}: {message}")]
pub struct ChainError {
    pub chain: String,
    pub message: String,
}

impl ChainError {
    pub fn new(chain: &str, message: impl Into<String>) -> Self {
        ChainError {
            chain: chain.to_owned(),
            message: message.into(),
        }
    }
}

/// What a payload really does, as the signer recomputed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description {
    /// Payments leaving the vault (change excluded).
    pub transfers: Vec<Transfer>,
    /// Outputs that return to the vault, re-derived from the signer's own keys.
    pub change: Vec<Transfer>,
    /// The absolute fee in base units, when the chain has one.
    pub fee: Option<u128>,
    /// What the payload consumes (outpoints, nonces, key images).
    pub spends: Vec<String>,
    /// Things a person must notice (odd sighash, high fee…).
    pub warnings: Vec<String>,
    /// Further facts worth showing, as label/value pairs.
    pub details: Vec<(String, String)>,
}

/// Secret key material handed to a chain for signing; zeroized on drop.
pub struct ChainSecret(pub Zeroizing<Vec<u8>>);

/// A secp256k1 key held outside the signer process (a PKCS#11 token): it signs 32-byte digests
/// the chain computed and never reveals the key.
pub trait DigestSigner {
    /// The SEC1 compressed public key (33 bytes).
    fn public_key(&self) -> Vec<u8>;

    /// ECDSA over `digest`: `r ‖ s ‖ recovery id` (0 or 1), `s` low.
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 65], ChainError>;
}

/// A final transaction ready to broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalTransaction {
    pub bytes: Vec<u8>,
    pub txid: String,
}

/// A payload built by the coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltPayload {
    pub payload: Vec<u8>,
    pub spends: Vec<String>,
}

/// The offline half of a chain: compiled into the signer.
pub trait ChainReview {
    /// The chain name used in vault definitions ("bitcoin", "ethereum", "monero", "none").
    fn chain(&self) -> &'static str;

    /// Cross-checks a vault definition's account against its members: the keys that can spend
    /// from the account (descriptor keys, Safe owners, the Monero wallet) must be exactly the
    /// members' listed chain keys, as each chain defines it, so that nobody holds a key the
    /// members did not list and every listed member can sign. Offline. Returns warnings every
    /// signer must be shown (exceptions the definition allows explicitly); an error names the
    /// keys and members at fault. The coordinator calls it when drafting and activating a vault
    /// version, each signer before signing a draft and before registering a version.
    fn check_account(&self, vault: &VaultDefinition) -> Result<Vec<String>, ChainError>;

    /// Recomputes what the proposal's payload does, from the registered vault only.
    fn describe(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
    ) -> Result<Description, ChainError>;

    /// Produces this signer's signature material for the payload.
    fn sign(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        secret: &ChainSecret,
    ) -> Result<Vec<u8>, ChainError>;

    /// As [`ChainReview::sign`], with a key that signs digests outside the process (an HSM).
    /// Chains that cannot sign that way say so.
    fn sign_external(
        &self,
        _vault: &VaultDefinition,
        _proposal: &Proposal,
        _signer: &dyn DigestSigner,
    ) -> Result<Vec<u8>, ChainError> {
        Err(ChainError::new(
            self.chain(),
            "this chain cannot sign with an external (HSM) key",
        ))
    }

    /// This chain as one that many threads may use at once (describing and signing the items of
    /// a batch in parallel), when it is one; `None` (the default) keeps a batch on one thread.
    fn as_sync(&self) -> Option<&(dyn ChainReview + Sync)> {
        None
    }
}

/// The online half of a chain: compiled into the coordinator only.
pub trait ChainOnline: ChainReview {
    /// Builds an unsigned payload for an intent.
    fn build(&self, vault: &VaultDefinition, intent: &Intent) -> Result<BuiltPayload, ChainError>;

    /// [`ChainOnline::build`] choosing none of `reserved` (spends held by the vault's open
    /// proposals, as their `spends` name them), so that many proposals can be open at once.
    /// The default ignores them (the coordinator still refuses a payload that conflicts).
    fn build_avoiding(
        &self,
        vault: &VaultDefinition,
        intent: &Intent,
        reserved: &std::collections::BTreeSet<String>,
    ) -> Result<BuiltPayload, ChainError> {
        let _ = reserved;
        self.build(vault, intent)
    }

    /// Writes an intent's destinations and assets in the chain's canonical form (e.g. EIP-55
    /// checksummed addresses), refusing malformed ones. The default keeps the intent as is.
    fn normalize_intent(&self, intent: Intent) -> Result<Intent, ChainError> {
        Ok(intent)
    }

    /// Checks a payload built elsewhere against the node before it is proposed (e.g. that its
    /// nonces are the account's next ones). The default accepts it.
    fn check_payload(&self, _vault: &VaultDefinition, _payload: &[u8]) -> Result<(), ChainError> {
        Ok(())
    }

    /// Checks a vault definition's account against the node when a version is drafted and when
    /// it is activated (e.g. that a Safe's owners and threshold on chain are the members' keys
    /// and the definition's threshold). The default checks nothing: the chain's account is fully
    /// described offline ([`ChainReview::check_account`]).
    fn check_vault(&self, _vault: &VaultDefinition) -> Result<(), ChainError> {
        Ok(())
    }

    /// Verifies one signer's signature material against the payload before it is accepted.
    fn verify_signature(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        material: &[u8],
    ) -> Result<(), ChainError>;

    /// Combines verified signature material into a final transaction.
    fn finalize(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        materials: &[&[u8]],
    ) -> Result<FinalTransaction, ChainError>;

    /// Sends a final transaction to the network.
    fn broadcast(&self, tx: &FinalTransaction) -> Result<(), ChainError>;

    /// Confirmations of a transaction, `None` when unknown to the network.
    fn confirmations(&self, txid: &str) -> Result<Option<u64>, ChainError>;
}

/// Checks the signer's own description against the proposal's stated intent: every payment must
/// appear in both, with the same amount and asset, and nothing else may leave the vault.
pub fn check_against_intent(intent: &Intent, description: &Description) -> Result<(), CoreError> {
    let key = |t: &Transfer| (t.destination.clone(), t.amount, t.asset.clone());
    let mut stated: Vec<_> = intent.transfers.iter().map(key).collect();
    let mut actual: Vec<_> = description.transfers.iter().map(key).collect();
    stated.sort();
    actual.sort();
    if stated == actual {
        return Ok(());
    }
    let show = |list: &[(String, u128, String)]| {
        list.iter()
            .map(|(d, a, asset)| {
                if asset.is_empty() {
                    format!("{a} to {d}")
                } else {
                    format!("{a} {asset} to {d}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(CoreError::Policy(format!(
        "the payload does not match the stated intent: it pays [{}], the proposal says [{}]",
        show(&actual),
        show(&stated)
    )))
}

/// Chain `none`: decisions recorded in the log, no transaction.
pub struct DecisionOnly;

impl DecisionOnly {
    pub const NAME: &'static str = "none";
}

impl ChainReview for DecisionOnly {
    fn chain(&self) -> &'static str {
        Self::NAME
    }

    /// A decision-only vault holds no funds: there is no account to compare keys with.
    fn check_account(&self, _vault: &VaultDefinition) -> Result<Vec<String>, ChainError> {
        Ok(Vec::new())
    }

    fn describe(
        &self,
        _vault: &VaultDefinition,
        proposal: &Proposal,
    ) -> Result<Description, ChainError> {
        if !proposal.payload.is_empty() {
            return Err(ChainError::new(
                Self::NAME,
                "a decision-only proposal must carry no chain payload",
            ));
        }
        Ok(Description {
            transfers: proposal.intent.transfers.clone(),
            spends: proposal.spends.clone(),
            warnings: vec![
                "decision-only vault: approving records your decision in the log; no transaction is signed"
                    .into(),
            ],
            ..Description::default()
        })
    }

    fn sign(
        &self,
        _vault: &VaultDefinition,
        _proposal: &Proposal,
        _secret: &ChainSecret,
    ) -> Result<Vec<u8>, ChainError> {
        Ok(Vec::new())
    }
}

impl ChainOnline for DecisionOnly {
    fn build(
        &self,
        _vault: &VaultDefinition,
        _intent: &Intent,
    ) -> Result<BuiltPayload, ChainError> {
        Ok(BuiltPayload {
            payload: Vec::new(),
            spends: Vec::new(),
        })
    }

    fn verify_signature(
        &self,
        _vault: &VaultDefinition,
        _proposal: &Proposal,
        material: &[u8],
    ) -> Result<(), ChainError> {
        if material.is_empty() {
            Ok(())
        } else {
            Err(ChainError::new(
                Self::NAME,
                "a decision-only approval carries no chain signature",
            ))
        }
    }

    fn finalize(
        &self,
        _vault: &VaultDefinition,
        _proposal: &Proposal,
        _materials: &[&[u8]],
    ) -> Result<FinalTransaction, ChainError> {
        Ok(FinalTransaction {
            bytes: Vec::new(),
            txid: String::new(),
        })
    }

    fn broadcast(&self, _tx: &FinalTransaction) -> Result<(), ChainError> {
        Err(ChainError::new(
            Self::NAME,
            "a decision-only vault has nothing to broadcast",
        ))
    }

    fn confirmations(&self, _txid: &str) -> Result<Option<u64>, ChainError> {
        Ok(None)
    }
}

impl crate::Classify for ChainError {
    fn severity(&self) -> crate::Severity {
        crate::Severity::Refused
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn t(dest: &str, amount: u128) -> Transfer {
        Transfer {
            destination: dest.into(),
            amount,
            asset: String::new(),
        }
    }

    #[test]
    fn intent_must_match_description_exactly() {
        let intent = Intent {
            transfers: vec![t("a", 5), t("b", 7)],
            memo: String::new(),
        };
        let same = Description {
            transfers: vec![t("b", 7), t("a", 5)],
            ..Default::default()
        };
        check_against_intent(&intent, &same).unwrap();
        for wrong in [
            vec![t("a", 5)],
            vec![t("a", 5), t("b", 8)],
            vec![t("a", 5), t("c", 7)],
            vec![t("a", 5), t("b", 7), t("c", 1)],
        ] {
            let d = Description {
                transfers: wrong,
                ..Default::default()
            };
            let err = check_against_intent(&intent, &d).unwrap_err().to_string();
            assert!(err.contains("does not match the stated intent"), "{err}");
        }
    }
}
