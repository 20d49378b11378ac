//! The service's members: who may ask `airlock serve` for what. A member is a name, an Ed25519
//! device key (the key that signs its requests) and grants: a role on a vault, or on every vault
//! (`*`).
//!
//! Roles: `proposer` may propose; `operator` may finalize, broadcast, confirm and abandon;
//! `viewer` is recorded for the dashboard to come (reads are open today). Decisions and vault
//! versions need no role: they are signed by the signers the vault names.
//!
//! Members live in the coordinator's database (one transaction per change), so every process
//! serving it sees the same list. This module must never grant a role that was not written down,
//! and never treat a vault name as a wildcard except the literal `*`.

use airlock_core::PublicKey;
use serde::{Deserialize, Serialize};

use crate::{Coordinator, CoordinatorError, Result};

/// What a member may do on a vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Proposer,
    Operator,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "proposer" => Ok(Role::Proposer),
            "operator" => Ok(Role::Operator),
            other => Err(CoordinatorError::Refused(format!(
                "role {other:?} is not one of viewer, proposer, operator"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Proposer => "proposer",
            Role::Operator => "operator",
        }
    }
}

/// One role on one vault (or `*`, every vault).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub vault: String,
    pub role: Role,
}

/// A member of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub key: PublicKey,
    pub grants: Vec<Grant>,
}

impl Member {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "name": self.name, "key": self.key.to_hex(), "grants": self.grants })
    }

    /// Whether the member holds `role` on `vault`.
    pub fn may(&self, role: Role, vault: &str) -> bool {
        self.grants
            .iter()
            .any(|g| g.role == role && (g.vault == "*" || g.vault == vault))
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(CoordinatorError::Refused(format!(
            "member name {name:?} must be 1-64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

impl Coordinator {
    /// Every member, by name.
    pub fn members(&self) -> Result<Vec<Member>> {
        self.store()
            .members()?
            .into_iter()
            .map(|(name, key, grants)| {
                let grants: Vec<Grant> = serde_json::from_str(&grants).map_err(|e| {
                    CoordinatorError::Setup(format!("member {name}: unreadable grants: {e}"))
                })?;
                Ok(Member {
                    name,
                    key: PublicKey(key),
                    grants,
                })
            })
            .collect()
    }

    /// The member whose device key is `key`.
    pub fn member_by_key(&self, key: &PublicKey) -> Result<Option<Member>> {
        Ok(self.members()?.into_iter().find(|m| m.key == *key))
    }

    /// Adds a member, or grants an existing one (same name and key) one more role.
    pub fn grant(&mut self, name: &str, key: PublicKey, grant: Grant) -> Result<Member> {
        check_name(name)?;
        if grant.vault != "*" {
            check_name(&grant.vault)?;
        }
        self.transact(|c| {
            let members = c.members()?;
            if let Some(other) = members.iter().find(|m| m.key == key && m.name != name) {
                return Err(CoordinatorError::Refused(format!(
                    "key {} already belongs to member {}",
                    key.short(),
                    other.name
                )));
            }
            let mut member = match members.into_iter().find(|m| m.name == name) {
                Some(m) if m.key != key => {
                    return Err(CoordinatorError::Refused(format!(
                        "member {name} has another key ({}); remove it first to change its key",
                        m.key.short()
                    )));
                }
                Some(m) => m,
                None => Member {
                    name: name.to_string(),
                    key,
                    grants: Vec::new(),
                },
            };
            if !member.grants.contains(&grant) {
                member.grants.push(grant.clone());
            }
            let grants = serde_json::to_string(&member.grants).expect("grants serialize");
            c.store().put_member(name, &key.0, &grants)?;
            Ok(member)
        })
    }

    /// Removes a member and every grant it had.
    pub fn remove_member(&mut self, name: &str) -> Result<()> {
        self.transact(|c| {
            if c.store().remove_member(name)? {
                Ok(())
            } else {
                Err(CoordinatorError::NotFound(format!("no member {name:?}")))
            }
        })
    }
}
