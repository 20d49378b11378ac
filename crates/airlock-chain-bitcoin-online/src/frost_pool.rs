//! The coordinator's side of a FROST group's vault (account option `frost=T`, members listing
//! `frost:<number>:<verifying share>`, custody `frost`): the pool of nonce commitments the
//! members handed over, the choice of signing set and commitments when a payment is built, the
//! check of a member's signature shares when its approval is submitted, and the aggregation into
//! BIP-340 signatures at finalize.
//!
//! The pool is one file per vault in the coordinator's Bitcoin directory,
//! `frost-<vault id>.pool.json`: each member's commitments (the threshold library's encoding,
//! hex) and whether a proposal named them. A commitment is marked named, and the file replaced
//! (temporary file, fsync, rename), before the payload that names it is returned: a crash can
//! waste commitments, never name one twice. Writers in one process take a lock; processes are
//! serialized by the coordinator's home lock (`airlock propose`, `airlock serve`).
//!
//! The signing set is the `T` lowest-numbered members who have a commitment for every input
//! (`--frost-signers` is not offered yet): a proposal whose set includes a member who rejects
//! it cannot be finalized, and is proposed again.
//!
//! This module must never name a commitment twice, accept a share message not signed by the
//! member's listed identity, nor finalize a signature the group key does not verify.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use airlock_chain_bitcoin::account::{BtcAccount, check_frost_members};
use airlock_chain_bitcoin::bitcoin::Psbt;
use airlock_chain_bitcoin::chain::Bitcoin;
use airlock_chain_bitcoin::frost_psbt;
use airlock_core::chain::ChainError;
use airlock_core::{PublicKey, VaultDefinition};
use airlock_frost::frost::VerifyingKey;
use airlock_frost::frost::keys::PublicKeyPackage;
use airlock_frost::frost::round1::SigningCommitments;
use airlock_frost::wire::{Kind, Message, unbundle};
use serde::{Deserialize, Serialize};

use super::chain::err;

/// One lock for every pool file of this process (payments built on several threads).
static POOL_LOCK: Mutex<()> = Mutex::new(());

/// A FROST vault's group, from its definition alone.
pub struct FrostVault {
    pub threshold: u16,
    pub group: VerifyingKey,
    pub public: PublicKeyPackage,
    /// (number, name, identity) of each member listing a share.
    pub members: Vec<(u16, String, PublicKey)>,
}

impl FrostVault {
    /// The vault's FROST group, or `None` for any other Bitcoin vault.
    pub fn of(vault: &VaultDefinition) -> Result<Option<FrostVault>, ChainError> {
        let account = BtcAccount::parse(&vault.account)?;
        let Some(threshold) = account.frost_threshold else {
            return Ok(None);
        };
        let btc = Bitcoin::vault(vault)?;
        let (group, public) = check_frost_members(&btc, threshold, &vault.signers)?;
        let mut members = Vec::new();
        for s in vault.signers.iter().filter(|s| !s.chain_key.is_empty()) {
            let (number, _) = airlock_frost::group::parse_member_chain_key(&s.chain_key)
                .map_err(|e| err(e.to_string()))?;
            members.push((number, s.name.clone(), s.identity));
        }
        members.sort_by_key(|m| m.0);
        Ok(Some(FrostVault {
            threshold,
            group,
            public,
            members,
        }))
    }

    fn member(&self, number: u16) -> Result<&(u16, String, PublicKey), ChainError> {
        self.members.iter().find(|m| m.0 == number).ok_or_else(|| {
            err(format!(
                "member {number} is not a member of this FROST vault"
            ))
        })
    }

    fn identity(&self, number: u16) -> Result<ed25519_dalek::VerifyingKey, ChainError> {
        let (_, name, identity) = self.member(number)?;
        ed25519_dalek::VerifyingKey::from_bytes(&identity.0)
            .map_err(|_| err(format!("member {name}'s identity is not an Ed25519 key")))
    }

    /// The roster the threshold library's aggregation names members by.
    fn roster(&self) -> Result<airlock_frost::Roster, ChainError> {
        let mut members = Vec::with_capacity(self.members.len());
        for (number, name, _) in &self.members {
            members.push((*number, name.clone(), self.identity(*number)?));
        }
        airlock_frost::Roster::numbered("airlock vault", self.threshold, members)
            .map_err(|e| err(e.to_string()))
    }
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pool {
    /// Member number → its commitments in the order handed over.
    members: BTreeMap<u16, Vec<PoolEntry>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolEntry {
    commitment: String,
    named: bool,
}

fn pool_path(dir: &std::path::Path, vault_id: &str) -> PathBuf {
    dir.join(format!("frost-{vault_id}.pool.json"))
}

fn read_pool(path: &std::path::Path) -> Result<Pool, ChainError> {
    if !path.exists() {
        return Ok(Pool::default());
    }
    let bytes = airlock_transport::read_bounded(path, 64 * 1024 * 1024)
        .map_err(|e| err(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| err(format!("{} is damaged: {e}", path.display())))
}

fn write_pool(path: &std::path::Path, pool: &Pool) -> Result<(), ChainError> {
    let bytes = serde_json::to_vec(pool).expect("a pool encodes");
    airlock_transport::write_atomic(path, &bytes).map_err(|e| err(e.to_string()))
}

/// Adds a member's handed-over commitments (a file of signed messages) to the vault's pool,
/// each message checked against the listed identity of the member it names. Returns (member
/// number, commitments added) per message; a commitment already in the pool is not added twice.
pub fn import_commitments(
    dir: &std::path::Path,
    vault: &VaultDefinition,
    file: &[u8],
) -> Result<Vec<(u16, usize)>, ChainError> {
    let frost = FrostVault::of(vault)?.ok_or_else(|| {
        err(format!(
            "vault {:?} is not a FROST group's vault",
            vault.vault_id
        ))
    })?;
    let messages = unbundle(file).map_err(|e| err(e.to_string()))?;
    let mut checked = Vec::new();
    for m in &messages {
        m.verify_by(&frost.identity(m.from)?, Kind::Commitments)
            .map_err(|e| err(e.to_string()))?;
        let list = airlock_frost::nonces::parse_commitments(&m.body)
            .map_err(|e| err(format!("member {}: {e}", m.from)))?;
        checked.push((m.from, list));
    }
    let _guard = POOL_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let path = pool_path(dir, &vault.vault_id);
    let mut pool = read_pool(&path)?;
    let mut out = Vec::new();
    for (member, list) in checked {
        let entries = pool.members.entry(member).or_default();
        let mut added = 0;
        for c in list {
            let hex = hex::encode(c.serialize().map_err(|e| err(e.to_string()))?);
            if !entries.iter().any(|e| e.commitment == hex) {
                entries.push(PoolEntry {
                    commitment: hex,
                    named: false,
                });
                added += 1;
            }
        }
        out.push((member, added));
    }
    write_pool(&path, &pool)?;
    Ok(out)
}

/// Each member's commitments not yet named, for `frost status`-style reports.
pub fn unnamed_counts(
    dir: &std::path::Path,
    vault: &VaultDefinition,
) -> Result<BTreeMap<u16, usize>, ChainError> {
    let pool = read_pool(&pool_path(dir, &vault.vault_id))?;
    Ok(pool
        .members
        .iter()
        .map(|(m, list)| (*m, list.iter().filter(|e| !e.named).count()))
        .collect())
}

/// Names commitments of the signing set for every input of `psbt` (see the module docs) and
/// marks them in the pool before returning.
pub fn attach(
    dir: &std::path::Path,
    vault: &VaultDefinition,
    frost: &FrostVault,
    psbt: &mut Psbt,
) -> Result<Vec<u16>, ChainError> {
    let inputs = psbt.inputs.len();
    let _guard = POOL_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let path = pool_path(dir, &vault.vault_id);
    let mut pool = read_pool(&path)?;
    let mut set = Vec::new();
    let mut short = Vec::new();
    for (number, name, _) in &frost.members {
        let unnamed = pool
            .members
            .get(number)
            .map_or(0, |l| l.iter().filter(|e| !e.named).count());
        if unnamed >= inputs {
            set.push(*number);
            if set.len() == usize::from(frost.threshold) {
                break;
            }
        } else {
            short.push(format!("{name} ({unnamed})"));
        }
    }
    if set.len() < usize::from(frost.threshold) {
        return Err(err(format!(
            "a FROST payment of {inputs} input(s) needs {} members with a commitment per input; short: {} — import more with `airlock btc frost-commitments --vault {} FILE`",
            frost.threshold,
            short.join(", "),
            vault.vault_id
        )));
    }
    let mut chosen: Vec<BTreeMap<u16, SigningCommitments>> = vec![BTreeMap::new(); inputs];
    for number in &set {
        let list = pool.members.get_mut(number).expect("counted above");
        let mut free = list.iter_mut().filter(|e| !e.named);
        for per_input in chosen.iter_mut() {
            let entry = free.next().expect("counted above");
            let bytes = hex::decode(&entry.commitment)
                .map_err(|_| err(format!("{}: a commitment is not hex", path.display())))?;
            let c = SigningCommitments::deserialize(&bytes)
                .map_err(|e| err(format!("{}: {e}", path.display())))?;
            entry.named = true;
            per_input.insert(*number, c);
        }
    }
    frost_psbt::attach_commitments(psbt, &chosen)?;
    write_pool(&path, &pool)?;
    Ok(set)
}

/// A member's approval material for a FROST vault: its signed shares message, checked (signed by
/// the member's listed identity, one share per input, the member in the PSBT's signing set).
/// `inputs`: the PSBT's [`frost_psbt::inputs_to_sign`], computed once by the caller.
pub fn check_shares(
    frost: &FrostVault,
    inputs: &[airlock_frost::sign::InputToSign],
    material: &[u8],
) -> Result<(u16, Vec<airlock_frost::frost::round2::SignatureShare>), ChainError> {
    let message = Message::from_bytes(material).map_err(|e| err(e.to_string()))?;
    message
        .verify_by(&frost.identity(message.from)?, Kind::Shares)
        .map_err(|e| err(e.to_string()))?;
    if !inputs
        .iter()
        .all(|i| i.commitments.contains_key(&message.from))
    {
        return Err(err(format!(
            "member {} is not in this proposal's signing set",
            message.from
        )));
    }
    let shares = airlock_frost::sign::parse_shares(&message.body, inputs.len())
        .map_err(|e| err(format!("member {}: {e}", message.from)))?;
    if shares.len() != inputs.len() {
        return Err(err(format!(
            "member {} sent {} shares for {} inputs",
            message.from,
            shares.len(),
            inputs.len()
        )));
    }
    Ok((message.from, shares))
}

/// The PSBT finalized with the group's signatures aggregated from the members' materials (a
/// share that does not verify names its member).
pub fn finalize(
    frost: &FrostVault,
    mut psbt: Psbt,
    materials: &[&[u8]],
) -> Result<Psbt, ChainError> {
    let inputs = frost_psbt::inputs_to_sign(&psbt, &frost.group)?;
    let mut by_member = BTreeMap::new();
    for m in materials.iter().filter(|m| !m.is_empty()) {
        let (member, shares) = check_shares(frost, &inputs, m)?;
        by_member.insert(member, shares);
    }
    let signatures =
        airlock_frost::sign::aggregate(&frost.roster()?, &frost.public, &inputs, &by_member, None)
            .map_err(|e| err(e.to_string()))?;
    frost_psbt::finalize_with_signatures(&mut psbt, &frost.group, &signatures)?;
    Ok(psbt)
}
