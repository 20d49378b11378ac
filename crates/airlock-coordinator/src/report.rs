//! The coordinator's state as JSON for scripts and for the service's API: one shape for
//! `airlock status --json`, `GET /api/v1/proposals` and the dashboard, so they never disagree.
//!
//! This module only describes; it must never decide anything (statuses come from
//! [`ProposalState`] itself).

use airlock_core::lifecycle::ProposalState;
use airlock_core::{Envelope, JsonAmount, UnixTime, VaultDefinition};
use serde_json::{Value, json};

/// One proposal with everything that happened to it, as of `now` (which decides "expired").
pub fn proposal_json(s: &ProposalState, now: UnixTime) -> Value {
    let t = s.tally();
    json!({
        "proposal": s.id.to_hex(),
        "vault": s.vault.vault_id,
        "vault_version": s.vault.version,
        "status": s.status(now).as_str(),
        "rule": s.rule.name,
        "transfers": s.proposal.intent.transfers.iter().map(|t| json!({ "destination": t.destination, "amount": JsonAmount(t.amount), "asset": t.asset })).collect::<Vec<_>>(),
        "memo": s.proposal.intent.memo,
        "spends": s.proposal.spends,
        "created": s.proposal.created,
        "expires": s.proposal.expires,
        "approved": t.approved,
        "rejected": t.rejected.iter().map(|(n, r)| json!({ "signer": n, "reason": r })).collect::<Vec<_>>(),
        "undecided": t.undecided,
        "missing": t.missing.iter().map(|g| json!({ "role": g.role, "needed": g.needed, "have": g.have })).collect::<Vec<_>>(),
        "finalized": s.finalized.as_ref().map(|(id, r)| json!({ "record": id.to_hex(), "txid": r.txid })),
        "broadcast": s.broadcast.as_ref().map(|e| e.detail.clone()),
        "confirmed": s.confirmed.as_ref().map(|e| e.detail.clone()),
        "reorged": s.reorged.as_ref().map(|e| json!({ "detail": e.detail, "at": e.at, "times": s.reorgs })),
        "abandoned": s.abandoned.as_ref().map(|e| e.detail.clone()),
    })
}

/// A vault's current version in one line: `airlock vault list --json`, `GET /api/v1/vaults`.
pub fn vault_row(def: &VaultDefinition, env: &Envelope) -> Value {
    json!({ "vault": def.vault_id, "version": def.version, "chain": def.chain, "network": def.network, "signers": def.signers.len(), "threshold": def.threshold, "id": env.id().to_hex() })
}
