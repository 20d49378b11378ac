//! `airlock_core::chain::ChainReview` for Bitcoin: the signer's entry points.
//!
//! - Vault: `chain` = "bitcoin", `network` = "bitcoin" | "testnet" | "testnet4" | "signet" |
//!   "regtest", `account` = the vault's output descriptor text (multipath `<0;1>/*`, key origins),
//!   optionally followed by options ([`crate::account`]).
//! - `check_account`: the descriptor's keys are exactly the members' listed chain keys
//!   ([`check_members`]).
//! - Payload: the PSBT, binary (base64 text is accepted too).
//! - `describe`: [`review`](fn@crate::review::review) mapped to `Description` (a PSBT carrying a
//!   signature that does not verify is refused there); the proposal's stated destinations must be
//!   addresses of the vault's network.
//! - `sign`: `ChainSecret` = the signer's BIP-32 seed bytes (16–64 bytes; normally the 64-byte
//!   BIP-39 seed) or the ASCII text of a master `xprv`/`tprv`; returns the whole PSBT (binary)
//!   with this signer's partial signatures added.
//!
//! This module must never sign a payload whose description it did not compute itself in the
//! same call.

use airlock_core::artifacts::{Proposal, Transfer};
use airlock_core::chain::{ChainError, ChainReview, ChainSecret, Description};
use airlock_core::vault::VaultDefinition;
use bitcoin::Psbt;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

use crate::CHAIN;
use crate::account::{BtcAccount, check_members};
use crate::encoding::{parse_psbt, serialize_psbt};
use crate::error::BtcError;
use crate::keys::SignerKey;
use crate::review::{PsbtReview, ReviewPolicy, review};
use crate::sign::sign_reviewed;
use crate::vault::{BtcVault, parse_address};

/// The asset name of bitcoin in Airlock transfers: empty, Airlock's convention for a chain's
/// native asset (what the coordinator's intents carry).
pub const NATIVE_ASSET: &str = "";

/// The Bitcoin chain for Airlock's signer, with its review limits.
///
/// It remembers the last review it computed in `describe` (keyed by SHA-256 over the vault's
/// network, descriptor and the payload bytes), so that `sign` of the same bytes signs under that
/// very review instead of recomputing it; anything else is reviewed afresh.
#[derive(Debug, Default)]
pub struct Bitcoin {
    pub policy: ReviewPolicy,
    last_review: Mutex<Option<CachedReview>>,
    /// Registration derivation caches by vault (network + descriptor), checked when added.
    derivation_caches: Vec<([u8; 32], Vec<u8>)>,
}

#[derive(Debug)]
struct CachedReview {
    key: [u8; 32],
    vault: BtcVault,
    psbt: Psbt,
    review: PsbtReview,
}

fn cache_key(definition: &VaultDefinition, payload: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [
        definition.network.as_bytes(),
        definition.account.as_bytes(),
        payload,
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

impl Bitcoin {
    pub fn new(policy: ReviewPolicy) -> Self {
        Bitcoin {
            policy,
            last_review: Mutex::new(None),
            derivation_caches: Vec::new(),
        }
    }

    /// Adds the registration derivation cache of a vault (bytes from
    /// [`BtcVault::build_derivation_cache`], stored by the signer beside the vault); it is checked
    /// against the vault now and loaded whenever that vault is reviewed.
    pub fn add_derivation_cache(
        &mut self,
        definition: &VaultDefinition,
        cache: Vec<u8>,
    ) -> Result<(), BtcError> {
        let mut vault = Self::vault(definition)?;
        vault.load_derivation_cache(&cache)?;
        let key = cache_key(definition, &[]);
        self.derivation_caches.retain(|(k, _)| *k != key);
        self.derivation_caches.push((key, cache));
        Ok(())
    }

    fn registered_vault(&self, definition: &VaultDefinition) -> Result<BtcVault, BtcError> {
        let mut vault = Self::vault(definition)?;
        let key = cache_key(definition, &[]);
        if let Some((_, cache)) = self.derivation_caches.iter().find(|(k, _)| *k == key) {
            vault.load_derivation_cache(cache)?;
        }
        Ok(vault)
    }

    /// The registered vault of a vault definition.
    pub fn vault(definition: &VaultDefinition) -> Result<BtcVault, BtcError> {
        if definition.chain != CHAIN {
            return Err(BtcError::Descriptor(format!(
                "vault {:?} is a {:?} vault, not a Bitcoin vault",
                definition.vault_id, definition.chain
            )));
        }
        let account = BtcAccount::parse(&definition.account)?;
        BtcVault::parse(&account.descriptor, &definition.network)
    }

    /// The vault's keys checked against its members ([`check_members`]): the warnings every
    /// signer must be shown, or an error naming the keys and members at fault.
    pub fn check_vault_members(definition: &VaultDefinition) -> Result<Vec<String>, BtcError> {
        let vault = Self::vault(definition)?;
        let account = BtcAccount::parse(&definition.account)?;
        check_members(&vault, &account, &definition.signers)
    }

    fn review(
        &self,
        definition: &VaultDefinition,
        proposal: &Proposal,
    ) -> Result<CachedReview, BtcError> {
        let vault = self.registered_vault(definition)?;
        for transfer in &proposal.intent.transfers {
            parse_address(&transfer.destination, vault.network())?;
        }
        let psbt = parse_psbt(&proposal.payload)?;
        let review = review(&vault, &psbt, &self.policy)?;
        Ok(CachedReview {
            key: cache_key(definition, &proposal.payload),
            vault,
            psbt,
            review,
        })
    }

    fn take_cached(&self, key: &[u8; 32]) -> Option<CachedReview> {
        let mut slot = self.last_review.lock().ok()?;
        match slot.take() {
            Some(cached) if cached.key == *key => Some(cached),
            _ => None,
        }
    }
}

/// Maps a review to Airlock's chain-neutral description.
pub fn to_description(review: &PsbtReview) -> Description {
    let transfer = |o: &crate::review::ReviewedOutput| Transfer {
        destination: o.destination.clone(),
        amount: u128::from(o.amount.to_sat()),
        asset: NATIVE_ASSET.to_owned(),
    };
    Description {
        transfers: review.payments.iter().map(transfer).collect(),
        change: review.change.iter().map(transfer).collect(),
        fee: Some(u128::from(review.fee.to_sat())),
        spends: review
            .inputs
            .iter()
            .map(|i| i.outpoint.to_string())
            .collect(),
        warnings: review.warnings.clone(),
        details: review.details(),
    }
}

impl ChainReview for Bitcoin {
    fn chain(&self) -> &'static str {
        CHAIN
    }

    fn check_account(&self, vault: &VaultDefinition) -> Result<Vec<String>, ChainError> {
        Ok(Self::check_vault_members(vault)?)
    }

    fn describe(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
    ) -> Result<Description, ChainError> {
        let cached = self.review(vault, proposal)?;
        let mut description = to_description(&cached.review);
        description.details.insert(
            0,
            (
                "vault".to_owned(),
                format!(
                    "{} {}, wallet fingerprint {}",
                    cached.vault.kind(),
                    cached.vault.policy_summary(),
                    cached.vault.wallet_fingerprint()
                ),
            ),
        );
        if let Ok(mut slot) = self.last_review.lock() {
            *slot = Some(cached);
        }
        Ok(description)
    }

    fn sign(
        &self,
        vault: &VaultDefinition,
        proposal: &Proposal,
        secret: &ChainSecret,
    ) -> Result<Vec<u8>, ChainError> {
        // Signs under the review `describe` showed for these exact bytes, or reviews afresh.
        let key = cache_key(vault, &proposal.payload);
        let mut cached = match self.take_cached(&key) {
            Some(cached) => cached,
            None => self.review(vault, proposal)?,
        };
        for transfer in &proposal.intent.transfers {
            parse_address(&transfer.destination, cached.vault.network())?;
        }
        let signer = SignerKey::from_secret(&secret.0, cached.vault.network())?;
        sign_reviewed(&cached.vault, &mut cached.psbt, &cached.review, &signer)?;
        Ok(serialize_psbt(&cached.psbt))
    }
}
