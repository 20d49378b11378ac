//! The witness's reading of state commitments (issue 14, item 4): what the log itself says about
//! a vault's on-chain state, checked against what the log finalized.
//!
//! Each `state` leaf the verifying replay accepts is compared with the vault's commitment before
//! it, and with the vault's finalized proposals:
//! - Bitcoin: every UTXO that left the set must be an input of a finalized proposal of the
//!   vault (a coin spent otherwise was spent by a key used outside Airlock);
//! - Ethereum: every nonce the account (or the Safe) used between the two commitments must be
//!   the nonce of a finalized proposal of the vault (a transaction sent otherwise, including a
//!   Safe transaction changing its owners), and a Safe's committed owners and threshold must be
//!   the vault's.
//!
//! - Monero: every output newly committed as spent must be spent with a key image that a
//!   finalized proposal of the vault spends (a Monero proposal's spends are its inputs' key
//!   images). The coordinator sees a spend only once the signers' key images are imported.
//!
//! A witness with its own node also recomputes the commitment itself (`watch`); this module
//! needs only the log. It must never read a node, and never call a movement explained without a
//! finalized proposal that names it.

use std::collections::BTreeSet;

use airlock_chain_ethereum_online::{EthPayload, EthVault};
use airlock_core::VaultDefinition;
use airlock_core::commitment::{StateCommitment, StateDiff};
use airlock_core::lifecycle::ProposalState;

use crate::halts::Anomaly;

/// The most unexplained items named in one halt's detail.
const NAMED: usize = 8;

/// What in `after` (a vault's new commitment) no finalized proposal of the vault explains,
/// given the vault's commitment `before` it (none: the first, which is the baseline).
pub fn unexplained<'a>(
    vault: &VaultDefinition,
    before: Option<&StateCommitment>,
    after: &StateCommitment,
    finalized: impl Iterator<Item = &'a ProposalState>,
) -> Vec<Anomaly> {
    let mut found = Vec::new();
    let root = hex::encode(&after.root[..8]);
    let finalized: Vec<&ProposalState> = finalized.collect();
    match after.chain.as_str() {
        airlock_chain_bitcoin::CHAIN => {
            let Some(before) = before else {
                return found;
            };
            let spent: BTreeSet<String> = finalized
                .iter()
                .filter_map(|p| {
                    airlock_chain_bitcoin::encoding::parse_psbt(&p.proposal.payload).ok()
                })
                .flat_map(|psbt| {
                    psbt.unsigned_tx
                        .input
                        .iter()
                        .map(|i| i.previous_output.to_string())
                        .collect::<Vec<_>>()
                })
                .collect();
            let gone: Vec<String> = StateDiff::between(before, after)
                .gone
                .into_iter()
                .filter_map(|leaf| {
                    let outpoint = leaf.strip_prefix("utxo ")?.split(' ').next()?.to_owned();
                    (!spent.contains(&outpoint)).then_some(outpoint)
                })
                .collect();
            if !gone.is_empty() {
                found.push(Anomaly {
                    vault_id: vault.vault_id.clone(),
                    cause: format!("state:{root}:utxo"),
                    detail: format!(
                        "between heights {} and {} the coordinator's state commitments show {} coin(s) of vault {:?} spent that no finalized proposal spends ({}): a key used outside Airlock",
                        before.height,
                        after.height,
                        gone.len(),
                        vault.vault_id,
                        name_some(&gone)
                    ),
                });
            }
        }
        airlock_chain_ethereum_online::CHAIN => {
            let Ok(spec) = EthVault::from_vault(vault) else {
                return found;
            };
            if let Some((owners, threshold)) = spec.safe_owners() {
                let ours: BTreeSet<String> = owners.iter().map(|o| o.to_string()).collect();
                let theirs: BTreeSet<String> = after.facts("owner").map(str::to_owned).collect();
                let t = after.fact("threshold").unwrap_or("?");
                if ours != theirs || t != threshold.to_string() {
                    found.push(Anomaly {
                        vault_id: vault.vault_id.clone(),
                        cause: format!("state:{root}:safe"),
                        detail: format!(
                            "at block {} the coordinator's state commitment shows the Safe with owners [{}] and threshold {t}; vault {:?} v{} lists [{}] and {threshold}: an owner changed behind Airlock's back",
                            after.height,
                            theirs.into_iter().collect::<Vec<_>>().join(", "),
                            vault.vault_id,
                            vault.version,
                            ours.into_iter().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
            }
            let nonce = |c: &StateCommitment| c.fact("nonce").and_then(|n| n.parse::<u64>().ok());
            let (Some(from), Some(to)) = (before.and_then(nonce), nonce(after)) else {
                return found;
            };
            let used: BTreeSet<u64> = finalized
                .iter()
                .filter_map(|p| EthPayload::from_bytes(&p.proposal.payload).ok())
                .flat_map(|payload| match payload {
                    EthPayload::Transactions { txs, .. } => {
                        txs.iter().map(|t| t.nonce).collect::<Vec<_>>()
                    }
                    EthPayload::SafeTx { tx, .. } => u64::try_from(tx.nonce).into_iter().collect(),
                    EthPayload::TypedData { .. } => Vec::new(),
                })
                .collect();
            // A nonce far beyond anything finalized is named once, not counted one by one.
            let unexplained: Vec<String> = (from..to)
                .take(10_000)
                .filter(|n| !used.contains(n))
                .map(|n| n.to_string())
                .collect();
            if !unexplained.is_empty() {
                found.push(Anomaly {
                    vault_id: vault.vault_id.clone(),
                    cause: format!("state:{root}:nonce"),
                    detail: format!(
                        "between blocks {} and {} the nonce of {} went from {from} to {to}, and no finalized proposal of vault {:?} used nonce {}: a transaction sent outside Airlock",
                        before.map_or(0, |b| b.height),
                        after.height,
                        spec.address(),
                        vault.vault_id,
                        name_some(&unexplained)
                    ),
                });
            }
        }
        airlock_chain_monero_online::CHAIN => {
            let Some(before) = before else {
                return found;
            };
            // A Monero proposal's spends are the key images of its inputs (the signers check
            // them against their own keys before approving).
            let spent: BTreeSet<&str> = finalized
                .iter()
                .flat_map(|p| p.proposal.spends.iter().map(String::as_str))
                .collect();
            let gone: Vec<String> = StateDiff::between(before, after)
                .new
                .into_iter()
                .filter_map(|leaf| {
                    let (at, image) = leaf.strip_prefix("spent ")?.split_once(' ')?;
                    (!spent.contains(image)).then(|| format!("{at} (key image {image})"))
                })
                .collect();
            if !gone.is_empty() {
                found.push(Anomaly {
                    vault_id: vault.vault_id.clone(),
                    cause: format!("state:{root}:spent"),
                    detail: format!(
                        "between heights {} and {} the coordinator's state commitments show {} output(s) of vault {:?} spent with key images no finalized proposal spends ({}): a key used outside Airlock",
                        before.height,
                        after.height,
                        gone.len(),
                        vault.vault_id,
                        name_some(&gone)
                    ),
                });
            }
        }
        _ => {}
    }
    found
}

fn name_some(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMED {
        s.push_str(&format!(" and {} more", items.len() - NAMED));
    }
    s
}
