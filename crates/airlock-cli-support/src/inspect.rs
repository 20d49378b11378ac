//! `inspect`: any artifact, for a person (text) or a script (JSON), with every signature checked.
//!
//! Names next to keys come from the caller's own records (a registered vault, the coordinator's
//! database) or from the artifact itself when it is a vault definition; they are labels, and a
//! signature is reported valid only when it verifies. This module must never hide an invalid
//! signature or show a payload field it could not decode as if it were fine.

use airlock_core::cbor::{self, Limits};
use airlock_core::vault::describe_rule;
use airlock_core::{
    AccountExport, Approval, ArtifactKind, CheckpointArtifact, Envelope, Event, Finalized,
    LogRecord, Proposal, ProposalBundle, PublicKey, TransferManifest, VaultDefinition, format_time,
};
use serde_json::{Value as Json, json};

/// Keys a caller can name.
pub type KnownKeys = Vec<(PublicKey, String)>;

fn hex_preview(bytes: &[u8]) -> String {
    if bytes.len() <= 64 {
        hex::encode(bytes)
    } else {
        format!("{}… ({} bytes)", hex::encode(&bytes[..64]), bytes.len())
    }
}

fn vault_json(d: &VaultDefinition) -> Json {
    json!({
        "vault_id": d.vault_id,
        "version": d.version,
        "previous": d.previous.map(|p| p.to_hex()),
        "chain": d.chain,
        "network": d.network,
        "account": d.account,
        "coordinator": { "origin": d.coordinator.origin, "key": d.coordinator.key.to_hex() },
        "signers": d.signers.iter().map(|s| json!({
            "name": s.name, "role": s.role, "identity": s.identity.to_hex(),
            "chain_key": s.chain_key, "custody": s.custody,
        })).collect::<Vec<_>>(),
        "threshold": d.threshold,
        "rules": d.rules.iter().map(describe_rule).collect::<Vec<_>>(),
        "created": d.created,
        "created_utc": format_time(d.created),
        "witnesses": d.witnesses.witnesses.iter().map(|w| json!({
            "name": w.name, "key": w.key.to_hex(),
        })).collect::<Vec<_>>(),
        "witness_threshold": d.witnesses.threshold,
    })
}

fn proposal_json(p: &Proposal) -> Json {
    json!({
        "vault_id": p.vault_id,
        "vault_version": p.vault_version,
        "vault_artifact": p.vault_artifact.to_hex(),
        "chain": p.chain,
        "intent": {
            "transfers": p.intent.transfers.iter().map(|t| json!({
                "destination": t.destination, "amount": airlock_core::JsonAmount(t.amount), "asset": t.asset,
            })).collect::<Vec<_>>(),
            "memo": p.intent.memo,
        },
        "payload": hex_preview(&p.payload),
        "spends": p.spends,
        "rule": p.rule,
        "created": p.created,
        "created_utc": format_time(p.created),
        "expires": p.expires,
        "expires_utc": format_time(p.expires),
        "proposer": p.proposer.to_hex(),
    })
}

fn approval_json(a: &Approval) -> Json {
    json!({
        "proposal": a.proposal.to_hex(),
        "vault_id": a.vault_id,
        "vault_version": a.vault_version,
        "decision": a.decision.as_str(),
        "reason": a.reason,
        "chain_signature": hex_preview(&a.chain_signature),
        "signer": a.signer.to_hex(),
        "signed_at": a.signed_at,
        "signed_at_utc": format_time(a.signed_at),
        "seen_checkpoint": { "size": a.seen_checkpoint.size, "root": hex::encode(a.seen_checkpoint.root) },
        "review_digest": hex::encode(a.review_digest),
    })
}

/// Verifies a bundle's contents as far as the bundle itself allows (the coordinator key comes
/// from the vault version inside it; a signer's `review` checks it against its registered copy).
fn bundle_json(b: &ProposalBundle) -> Json {
    let proposal = Envelope::from_bytes(&b.proposal);
    let vault = Envelope::from_bytes(&b.vault);
    let mut out = json!({
        "evidence": {
            "leaf_index": b.evidence.leaf_index,
            "tree_size": b.evidence.tree_size,
            "inclusion_hashes": b.evidence.inclusion.len(),
            "consistency_from": b.evidence.consistency.iter().map(|c| c.old_size).collect::<Vec<_>>(),
            "checkpoint": b.evidence.checkpoint,
        }
    });
    if !b.halts.is_empty() {
        out["halts"] = b
            .halts
            .iter()
            .map(|h| {
                Envelope::from_bytes(h)
                    .map(|e| envelope_json(&e, &[]))
                    .unwrap_or_else(|e| json!(e.to_string()))
            })
            .collect();
    }
    match (&proposal, &vault) {
        (Ok(p), Ok(v)) => {
            out["proposal"] = envelope_json(p, &[]);
            out["vault"] = envelope_json(v, &[]);
            if let Ok(def) = v.open::<VaultDefinition>() {
                let key = ed25519_dalek_key(&def.coordinator.key);
                let checks = key.and_then(|k| {
                    let verifier = airlock_log::CheckpointVerifier::new(&def.coordinator.origin, k).ok()?;
                    let cp = verifier.open(&b.evidence.checkpoint);
                    let included = cp.as_ref().ok().map(|cp| {
                        airlock_log::verify_inclusion(
                            &airlock_log::InclusionProof {
                                leaf_index: b.evidence.leaf_index,
                                tree_size: b.evidence.tree_size,
                                hashes: b.evidence.inclusion.clone(),
                            },
                            &airlock_log::leaf_hash(&b.evidence.leaf),
                            &cp.root,
                        )
                        .is_ok()
                    });
                    let leaf_names_proposal = LogRecord::from_bytes(&b.evidence.leaf)
                        .map(|r| r.artifact == p.id() && r.kind == "proposal")
                        .unwrap_or(false);
                    Some(json!({
                        "checkpoint_signature_valid": cp.is_ok(),
                        "inclusion_proof_valid": included.unwrap_or(false) && leaf_names_proposal,
                        "proposal_signed_by_vault_coordinator": p.is_signed_by(&def.coordinator.key),
                    }))
                });
                out["checks"] =
                    checks.unwrap_or(json!({ "error": "the vault's coordinator key is invalid" }));
            }
        }
        (p, v) => {
            out["error"] = json!(format!(
                "{}{}",
                p.as_ref()
                    .err()
                    .map(|e| format!("proposal: {e}. "))
                    .unwrap_or_default(),
                v.as_ref()
                    .err()
                    .map(|e| format!("vault: {e}"))
                    .unwrap_or_default()
            ));
        }
    }
    out
}

/// A transfer manifest: who sent it, for whom, why, and the files it lists.
pub fn manifest_json(m: &TransferManifest) -> Json {
    json!({
        "origin": { "name": m.origin_name, "key": m.origin_key.to_hex(), "role": m.origin_role.as_str() },
        "destination_role": m.destination_role.as_str(),
        "purpose": m.purpose,
        "sequence": m.sequence,
        "created": m.created,
        "created_utc": format_time(m.created),
        "expires": m.expires,
        "expires_utc": format_time(m.expires),
        "entries": m.entries.iter().map(|e| json!({
            "file": e.file, "kind": e.kind.name(), "artifact": e.artifact.to_hex(),
            "size": e.size, "sha256": hex::encode(e.digest),
        })).collect::<Vec<_>>(),
    })
}

/// A recorded transfer as JSON (`airlock transfer log --json`, `GET /api/v1/transfers`).
pub fn transfer_record_json(
    direction: &str,
    at: u64,
    log_index: u64,
    manifest_id: &airlock_core::ArtifactId,
    m: &TransferManifest,
) -> Json {
    json!({
        "direction": direction, "at": at, "log_index": log_index,
        "manifest_id": manifest_id.to_hex(), "manifest": manifest_json(m),
    })
}

fn ed25519_dalek_key(k: &PublicKey) -> Option<ed25519_dalek::VerifyingKey> {
    ed25519_dalek::VerifyingKey::from_bytes(&k.0).ok()
}

/// A drill record as JSON (`airlock inspect`, `airlock drill --json`).
pub fn drill_json(d: &airlock_core::drill::DrillRecord) -> Json {
    json!({
        "vault": d.vault_id, "vault_version": d.vault_version, "facilitator": d.facilitator,
        "started": d.started, "started_utc": format_time(d.started),
        "finished": d.finished, "finished_utc": format_time(d.finished),
        "correct": d.correct(), "questions": d.answers.len(),
        "answers": d.answers.iter().map(|a| json!({
            "inject": a.inject, "question": a.question, "expected": a.expected,
            "given": a.given, "correct": a.correct(), "seconds": a.seconds,
        })).collect::<Vec<_>>(),
    })
}

/// The payload as JSON, or an error string.
fn payload_json(env: &Envelope) -> Result<Json, String> {
    let r = match env.kind() {
        Some(ArtifactKind::VaultDefinition) => {
            env.open::<VaultDefinition>().map(|d| vault_json(&d))
        }
        Some(ArtifactKind::Proposal) => env.open::<Proposal>().map(|p| proposal_json(&p)),
        Some(ArtifactKind::Approval) => env.open::<Approval>().map(|a| approval_json(&a)),
        Some(ArtifactKind::Finalized) => env.open::<Finalized>().map(|f| {
            json!({
                "proposal": f.proposal.to_hex(),
                "approvals": f.approvals.iter().map(|a| a.to_hex()).collect::<Vec<_>>(),
                "transaction": hex_preview(&f.transaction),
                "txid": f.txid,
                "finalized_at": f.finalized_at,
                "finalized_at_utc": format_time(f.finalized_at),
            })
        }),
        Some(ArtifactKind::Event) => env.open::<Event>().map(|e| {
            json!({ "kind": e.kind.as_str(), "proposal": e.proposal.to_hex(), "detail": e.detail,
                    "at": e.at, "at_utc": format_time(e.at) })
        }),
        Some(ArtifactKind::Checkpoint) => env
            .open::<CheckpointArtifact>()
            .map(|c| json!({ "note": c.note })),
        Some(ArtifactKind::ProposalBundle) => env.open::<ProposalBundle>().map(|b| bundle_json(&b)),
        Some(ArtifactKind::ReleaseBundle) => env.open::<airlock_core::ReleaseBundle>().map(|b| {
            json!({
                "event": Envelope::from_bytes(&b.event).map(|e| envelope_json(&e, &[])).unwrap_or_else(|e| json!(e.to_string())),
                "vault": Envelope::from_bytes(&b.vault).map(|e| e.id().to_hex()).unwrap_or_else(|e| e.to_string()),
                "evidence": {
                    "leaf_index": b.evidence.leaf_index,
                    "tree_size": b.evidence.tree_size,
                    "checkpoint": b.evidence.checkpoint,
                },
            })
        }),
        Some(ArtifactKind::TransferManifest) => {
            env.open::<TransferManifest>().map(|m| manifest_json(&m))
        }
        Some(ArtifactKind::Halt) => env.open::<airlock_core::halt::Halt>().map(|h| {
            json!({ "log_origin": h.log_origin, "vault": h.vault_id, "scope": h.scope(),
                    "reason": h.reason, "detail": h.detail, "log_size": h.log_size,
                    "witness": h.witness, "issued": h.issued,
                    "issued_utc": format_time(h.issued) })
        }),
        Some(ArtifactKind::StateCommitment) => env
            .open::<airlock_core::commitment::StateCommitment>()
            .map(|c| {
                json!({ "vault": c.vault_id, "vault_version": c.vault_version,
                        "chain": c.chain, "height": c.height, "block": c.block,
                        "root": hex::encode(c.root), "leaves": c.leaves,
                        "created": c.created, "created_utc": format_time(c.created) })
            }),
        Some(ArtifactKind::DrillRecord) => env
            .open::<airlock_core::drill::DrillRecord>()
            .map(|d| drill_json(&d)),
        Some(ArtifactKind::ProposalBatch) => env.open::<airlock_core::ProposalBatch>().map(|b| {
            json!({
                "vault": Envelope::from_bytes(&b.vault).map(|e| e.id().to_hex()).unwrap_or_else(|e| e.to_string()),
                "items": b.items.len(),
                "proposals": b.items.iter().map(|i| Envelope::from_bytes(&i.proposal).map(|e| e.id().to_hex()).unwrap_or_else(|e| e.to_string())).collect::<Vec<_>>(),
                "halts": b.halts.len(),
                "tree_size": b.tree_size,
                "checkpoint": b.checkpoint,
                "consistency_from": b.consistency.iter().map(|c| c.old_size).collect::<Vec<_>>(),
            })
        }),
        Some(ArtifactKind::DecisionBatch) => env.open::<airlock_core::DecisionBatch>().map(|b| {
            json!({
                "decisions": b.decisions.iter().map(|d| Envelope::from_bytes(d).map(|e| envelope_json(&e, &[])).unwrap_or_else(|e| json!(e.to_string()))).collect::<Vec<_>>(),
            })
        }),
        Some(ArtifactKind::AccountExport) => env.open::<AccountExport>().map(|e| {
            json!({ "chain": e.chain, "network": e.network, "account": e.account,
                    "chain_key": e.chain_key, "created": e.created,
                    "created_utc": format_time(e.created) })
        }),
        None => {
            return Err(format!(
                "unknown payload type {:?}; payload in CBOR diagnostic notation: {}",
                env.payload_type,
                cbor::decode(&env.payload, Limits::ARTIFACT)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|e| format!("(not CBOR: {e})"))
            ));
        }
    };
    r.map_err(|e| e.to_string())
}

/// The whole envelope as JSON: id, kind, signatures (each checked), payload.
pub fn envelope_json(env: &Envelope, known: &[(PublicKey, String)]) -> Json {
    let mut names: KnownKeys = known.to_vec();
    if let Ok(def) = env.open::<VaultDefinition>() {
        names.extend(def.signers.iter().map(|s| (s.identity, s.name.clone())));
    }
    let checks = env.check_signatures();
    let signatures: Vec<Json> = checks
        .iter()
        .map(|c| {
            json!({
                "key": c.key.to_hex(),
                "signer": names.iter().find(|(k, _)| *k == c.key).map(|(_, n)| n.clone()),
                "valid": c.valid,
            })
        })
        .collect();
    let mut out = json!({
        "id": env.id().to_hex(),
        "kind": env.kind().map(|k| k.name()).unwrap_or("unknown"),
        "payload_type": env.payload_type,
        "signatures": signatures,
        "all_signatures_valid": !checks.is_empty() && checks.iter().all(|c| c.valid),
    });
    match payload_json(env) {
        Ok(p) => out["payload"] = p,
        Err(e) => out["payload_error"] = json!(e),
    }
    out
}

/// Renders JSON for people: one `key: value` per line, nested with indentation.
pub fn render_text(value: &Json) -> String {
    let mut out = String::new();
    render_into(value, 0, &mut out);
    out
}

fn render_into(value: &Json, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match value {
        Json::Object(map) => {
            for (k, v) in map {
                match v {
                    Json::Object(_) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        render_into(v, indent + 1, out);
                    }
                    Json::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        for (i, item) in items.iter().enumerate() {
                            out.push_str(&format!("{pad}  [{i}]\n"));
                            render_into(item, indent + 2, out);
                        }
                    }
                    Json::Array(items) if items.is_empty() => {
                        out.push_str(&format!("{pad}{k}: (none)\n"))
                    }
                    Json::Array(items) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        for item in items {
                            out.push_str(&format!("{pad}  - {}\n", scalar(item)));
                        }
                    }
                    other => {
                        let s = scalar(other);
                        if s.contains('\n') {
                            out.push_str(&format!("{pad}{k}:\n"));
                            for line in s.lines() {
                                out.push_str(&format!("{pad}  | {line}\n"));
                            }
                        } else {
                            out.push_str(&format!("{pad}{k}: {s}\n"));
                        }
                    }
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

fn scalar(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Text for `inspect`: a headline with the signature verdicts, then the fields.
pub fn inspect_text(env: &Envelope, known: &[(PublicKey, String)]) -> String {
    let j = envelope_json(env, known);
    let mut out = format!(
        "{} artifact {}\n",
        j["kind"].as_str().unwrap_or("unknown").to_uppercase(),
        env.id()
    );
    if env.signatures.is_empty() {
        out.push_str("signatures: none (unsigned)\n");
    }
    for s in j["signatures"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "signature by {} ({}): {}\n",
            s["key"].as_str().unwrap_or("?"),
            s["signer"].as_str().unwrap_or("unknown key"),
            if s["valid"].as_bool() == Some(true) {
                "VALID"
            } else {
                "INVALID"
            }
        ));
    }
    if let Some(e) = j.get("payload_error") {
        out.push_str(&format!("payload: CANNOT DECODE: {}\n", scalar(e)));
    } else {
        out.push_str(&render_text(&j["payload"]));
    }
    out
}
