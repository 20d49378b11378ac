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
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::CHAIN;
use crate::account::{BtcAccount, check_members};
use crate::encoding::{parse_psbt, serialize_psbt};
use crate::error::BtcError;
use crate::keys::SignerKey;
use crate::review::{PsbtReview, ReviewPolicy, review};
use crate::sign::{PreparedSigner, sign_reviewed_prepared};
use crate::vault::{BtcVault, parse_address};

/// The asset name of bitcoin in Airlock transfers: empty, Airlock's convention for a chain's
/// native asset (what the coordinator's intents carry).
pub const NATIVE_ASSET: &str = "";

/// The Bitcoin chain for Airlock's signer, with its review limits.
///
/// It remembers the reviews it computed in `describe` (keyed by SHA-256 over the vault's
/// network, descriptor and the payload bytes; up to [`MAX_CACHED_REVIEWS`], for a batch), so that
/// `sign` of the same bytes signs under that very review instead of recomputing it; anything else
/// is reviewed afresh. Parsed vaults (with their registration derivation cache loaded) and this
/// signer's branch keys of the last vault it signed for are kept too, so that a batch parses and
/// derives them once; the keys are erased when the chain is dropped.
#[derive(Default)]
pub struct Bitcoin {
    pub policy: ReviewPolicy,
    reviews: Mutex<HashMap<[u8; 32], CachedReview>>,
    /// Registration derivation caches by vault (network + descriptor), checked when added.
    derivation_caches: Vec<([u8; 32], Vec<u8>)>,
    /// Vaults parsed (and their derivation caches loaded), by the same key.
    vaults: Mutex<Vec<([u8; 32], Arc<Registered>)>>,
    /// This signer's branch keys for the last vault signed for, by a hash of vault and secret.
    prepared: Mutex<Option<([u8; 32], Arc<PreparedSigner>)>>,
}

impl std::fmt::Debug for Bitcoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bitcoin")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Most reviews kept between `describe` and `sign` (a batch's size).
pub const MAX_CACHED_REVIEWS: usize = 10_000;

/// A parsed vault with the line every description shows about it (computed once: it formats
/// the whole descriptor).
#[derive(Debug)]
struct Registered {
    vault: BtcVault,
    summary: String,
}

impl Registered {
    fn new(vault: BtcVault) -> Registered {
        let summary = format!(
            "{} {}, wallet fingerprint {}",
            vault.kind(),
            vault.policy_summary(),
            vault.wallet_fingerprint()
        );
        Registered { vault, summary }
    }
}

#[derive(Debug)]
struct CachedReview {
    vault: Arc<Registered>,
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
            ..Bitcoin::default()
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
        // The vault just loaded is the one reviews use (loading a cache parses every key in it).
        let registered = Arc::new(Registered::new(vault));
        if let Ok(mut vaults) = self.vaults.lock() {
            vaults.retain(|(k, _)| *k != key);
            vaults.push((key, registered));
        }
        Ok(())
    }

    fn registered_vault(&self, definition: &VaultDefinition) -> Result<Arc<Registered>, BtcError> {
        let key = cache_key(definition, &[]);
        if let Some((_, vault)) = self
            .vaults
            .lock()
            .ok()
            .and_then(|v| v.iter().find(|(k, _)| *k == key).cloned())
        {
            return Ok(vault);
        }
        let mut vault = Self::vault(definition)?;
        if let Some((_, cache)) = self.derivation_caches.iter().find(|(k, _)| *k == key) {
            vault.load_derivation_cache(cache)?;
        }
        let vault = Arc::new(Registered::new(vault));
        if let Ok(mut vaults) = self.vaults.lock() {
            vaults.push((key, vault.clone()));
        }
        Ok(vault)
    }

    /// This signer's branch keys for `vault`, derived on first use and kept for the next PSBT of
    /// the same vault and secret.
    fn prepared_signer(
        &self,
        definition: &VaultDefinition,
        vault: &BtcVault,
        secret: &ChainSecret,
    ) -> Result<Arc<PreparedSigner>, BtcError> {
        let mut hasher = Sha256::new();
        hasher.update(cache_key(definition, &[]));
        hasher.update(&secret.0);
        let key: [u8; 32] = hasher.finalize().into();
        if let Some((_, prepared)) = self
            .prepared
            .lock()
            .ok()
            .and_then(|p| p.as_ref().filter(|(k, _)| *k == key).cloned())
        {
            return Ok(prepared);
        }
        let signer = SignerKey::from_secret(&secret.0, vault.network())?;
        let prepared = Arc::new(PreparedSigner::new(vault, &signer)?);
        if let Ok(mut slot) = self.prepared.lock() {
            *slot = Some((key, prepared.clone()));
        }
        Ok(prepared)
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
            parse_address(&transfer.destination, vault.vault.network())?;
        }
        let psbt = parse_psbt(&proposal.payload)?;
        let review = review(&vault.vault, &psbt, &self.policy)?;
        Ok(CachedReview {
            vault,
            psbt,
            review,
        })
    }

    fn take_cached(&self, key: &[u8; 32]) -> Option<CachedReview> {
        self.reviews.lock().ok()?.remove(key)
    }
}

/// A FROST vault's proposal: every input checked as the group's key-path spend with the
/// commitments the coordinator named (`frost_psbt::inputs_to_sign`, before anyone approves), and
/// the signing set and the nonces each of its members spends, for the person to see.
fn frost_signing_set(
    btc: &BtcVault,
    threshold: u16,
    vault: &VaultDefinition,
    proposal: &Proposal,
) -> Result<(String, String), BtcError> {
    let (group, _) = crate::account::check_frost_members(btc, threshold, &vault.signers)?;
    let psbt = parse_psbt(&proposal.payload)?;
    let inputs = crate::frost_psbt::inputs_to_sign(&psbt, &group)?;
    let set: Vec<u16> = inputs
        .first()
        .map(|i| i.commitments.keys().copied().collect())
        .unwrap_or_default();
    if set.len() < usize::from(threshold)
        || inputs
            .iter()
            .any(|i| i.commitments.keys().copied().collect::<Vec<_>>() != set)
    {
        return Err(BtcError::refused(format!(
            "the PSBT must name the same {threshold} or more members' commitments for every input"
        )));
    }
    let names: Vec<String> = set
        .iter()
        .map(|n| {
            let name = vault
                .signers
                .iter()
                .find(|s| {
                    airlock_frost::group::parse_member_chain_key(&s.chain_key)
                        .is_ok_and(|(m, _)| m == *n)
                })
                .map_or("?", |s| s.name.as_str());
            format!("{name} ({n})")
        })
        .collect();
    Ok((
        "FROST signing set".to_owned(),
        format!(
            "{}: each spends {} nonce(s), one per input; members outside the set approve without signing",
            names.join(", "),
            inputs.len()
        ),
    ))
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
        let key = cache_key(vault, &proposal.payload);
        // A review of these very bytes made earlier (a batch's parallel pass) is used as is.
        let known = self.reviews.lock().ok().and_then(|r| {
            r.get(&key)
                .map(|c| (c.vault.clone(), to_description(&c.review)))
        });
        let (btc_vault, mut description) = match known {
            Some((btc_vault, description)) => {
                for transfer in &proposal.intent.transfers {
                    parse_address(&transfer.destination, btc_vault.vault.network())?;
                }
                (btc_vault, description)
            }
            None => {
                let cached = self.review(vault, proposal)?;
                let description = to_description(&cached.review);
                let btc_vault = cached.vault.clone();
                if let Ok(mut reviews) = self.reviews.lock() {
                    if reviews.len() >= MAX_CACHED_REVIEWS {
                        reviews.clear();
                    }
                    reviews.insert(key, cached);
                }
                (btc_vault, description)
            }
        };
        description
            .details
            .insert(0, ("vault".to_owned(), btc_vault.summary.clone()));
        if let Some(threshold) = BtcAccount::parse(&vault.account)?.frost_threshold {
            description.details.push(frost_signing_set(
                &btc_vault.vault,
                threshold,
                vault,
                proposal,
            )?);
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
            parse_address(&transfer.destination, cached.vault.vault.network())?;
        }
        let prepared = self.prepared_signer(vault, &cached.vault.vault, secret)?;
        sign_reviewed_prepared(
            &cached.vault.vault,
            &mut cached.psbt,
            &cached.review,
            &prepared,
        )?;
        Ok(serialize_psbt(&cached.psbt))
    }

    fn as_sync(&self) -> Option<&(dyn ChainReview + Sync)> {
        Some(self)
    }
}
