//! Vault definitions: who may approve what, under which rules, and how a vault changes.
//!
//! A vault definition is versioned. Version 1 is valid when a threshold of its own signers'
//! identity keys sign it; version N+1 is valid only when signed by a threshold of *distinct* keys
//! of version N and a threshold of distinct keys of version N+1 (as TUF rotates root keys). Old
//! versions stay on record, so approvals made under them stay verifiable against them.
//!
//! Rules are ordered: the first rule whose conditions all hold decides what a proposal needs
//! (approvals per role). Routine templates are simply early rules with lighter requirements.
//!
//! This module must never accept a definition that could not be satisfied, nor count one key
//! (or a signature that does not verify) twice towards a threshold.

use std::collections::BTreeSet;

use crate::cbor::Value;
use crate::envelope::{Artifact, ArtifactId, ArtifactKind, Envelope};
use crate::fields::{Fields, FormatError, MapBuilder, records};
use crate::{CoreError, PublicKey};

pub const VAULT_FORMAT_VERSION: u64 = 1;
/// Role name that a requirement uses to count approvals from any role.
pub const ANY_ROLE: &str = "any";
/// Expiry of proposals when a rule does not say.
pub const DEFAULT_EXPIRY_SECS: u64 = 24 * 3600;

/// One signer of a vault version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerEntry {
    pub name: String,
    pub role: String,
    /// Ed25519 device identity key: signs approvals and vault versions.
    pub identity: PublicKey,
    /// Chain key material as the chain crate writes it (an xpub with origin, an address, a Monero
    /// address…); empty when the vault's chain needs none.
    pub chain_key: String,
    /// Where the signer keeps its chain key: "keystore", "hsm" (a PKCS#11 token), "device" (a
    /// QR signer speaking EIP-4527, Ethereum only) or "frost" (a share of a FROST group, Bitcoin
    /// only: the chain key is `frost:<number>:<verifying share>`).
    pub custody: String,
}

/// A condition of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The proposal moves at most this amount (sum of its transfers, in base units).
    MaxAmount(u128),
    /// This proposal plus everything approved in the vault in the last `window_secs` stays within `limit`.
    WindowAmount { limit: u128, window_secs: u64 },
    /// Every destination is in this list.
    Destinations(Vec<String>),
    /// The proposal is made on one of these days (bit 0 = Monday … bit 6 = Sunday), between these
    /// minutes of the day, UTC (start inclusive, end exclusive).
    TimeWindow {
        days: u8,
        start_minute: u16,
        end_minute: u16,
    },
}

/// Approvals needed from a role ("any" counts every approving signer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub role: String,
    pub count: u32,
}

/// An ordered policy rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub conditions: Vec<Condition>,
    pub requirements: Vec<Requirement>,
    /// How long a proposal under this rule stays open.
    pub expiry_secs: u64,
}

/// The coordinator a vault trusts for its log (the checkpoint key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordinatorRef {
    /// The log's origin line, also the signed-note key name.
    pub origin: String,
    pub key: PublicKey,
}

/// A witness a vault names: its signed-note key name and Ed25519 cosigning key (C2SP
/// tlog-cosignature `cosignature/v1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessKey {
    pub name: String,
    pub key: PublicKey,
}

/// The independent witnesses whose cosignatures the checkpoint of every bundle under this vault
/// version must carry before a signer approves: `threshold` distinct ones of `witnesses`. A
/// coordinator that shows two signers different histories then needs that many witnesses to
/// cosign both, which honest witnesses never do. Empty (threshold 0): no witness is required.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WitnessPolicy {
    pub witnesses: Vec<WitnessKey>,
    pub threshold: u32,
}

impl WitnessPolicy {
    pub fn is_empty(&self) -> bool {
        self.witnesses.is_empty()
    }
}

/// One version of a vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultDefinition {
    pub vault_id: String,
    pub version: u64,
    /// The artifact id of version N-1; absent for version 1.
    pub previous: Option<ArtifactId>,
    pub chain: String,
    pub network: String,
    /// Chain-specific account description (a descriptor, a Safe address, a Monero address).
    pub account: String,
    pub coordinator: CoordinatorRef,
    pub signers: Vec<SignerEntry>,
    /// Distinct signer keys needed to approve the next version of this vault.
    pub threshold: u32,
    pub rules: Vec<Rule>,
    pub created: u64,
    /// Witnesses whose cosignatures bundles must carry (none by default).
    pub witnesses: WitnessPolicy,
}

/// Whether a signer of `role` counts toward a requirement of `required` ("any" counts every
/// signer). The one definition the tally, the drills and the simulations share.
pub fn fills(required: &str, role: &str) -> bool {
    required == ANY_ROLE || required == role
}

impl Rule {
    /// Whether approvals from signers of these roles (one entry per approving signer) meet every
    /// requirement of the rule, each counted on its own as the tally counts them.
    pub fn met_by(&self, roles: &[&str]) -> bool {
        self.requirements.iter().all(|r| {
            roles.iter().filter(|role| fills(&r.role, role)).count() as u64 >= u64::from(r.count)
        })
    }
}

impl VaultDefinition {
    /// The signer with this identity key.
    pub fn signer(&self, key: &PublicKey) -> Option<&SignerEntry> {
        self.signers.iter().find(|s| s.identity == *key)
    }

    pub fn signer_by_name(&self, name: &str) -> Option<&SignerEntry> {
        self.signers.iter().find(|s| s.name == name)
    }

    /// Checks that the definition is well formed and satisfiable.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |m: String| {
            Err(CoreError::Invalid(format!(
                "vault {:?}: {m}",
                self.vault_id
            )))
        };
        if !valid_name(&self.vault_id) {
            return bad("vault id must be 1-64 characters of a-z, 0-9, '-', '_'".into());
        }
        if self.version == 0 {
            return bad("version numbers start at 1".into());
        }
        if (self.version == 1) != self.previous.is_none() {
            return bad("version 1 has no previous version; every later version names one".into());
        }
        if self.chain.is_empty() || self.coordinator.origin.is_empty() {
            return bad("chain and coordinator origin must be set".into());
        }
        if self.signers.is_empty() {
            return bad("a vault needs at least one signer".into());
        }
        let mut names = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for s in &self.signers {
            if !valid_name(&s.name) || !valid_name(&s.role) {
                return bad(format!(
                    "signer {:?}: names and roles must be 1-64 characters of a-z, 0-9, '-', '_'",
                    s.name
                ));
            }
            if s.role == ANY_ROLE {
                return bad(format!(
                    "signer {:?}: role {ANY_ROLE:?} is reserved",
                    s.name
                ));
            }
            if !names.insert(s.name.as_str()) {
                return bad(format!("signer name {:?} appears twice", s.name));
            }
            if !keys.insert(s.identity) {
                return bad(format!(
                    "identity key {} appears twice (signer {:?}): each signer needs its own key",
                    s.identity.short(),
                    s.name
                ));
            }
            if !["keystore", "hsm", "device", "frost"].contains(&s.custody.as_str()) {
                return bad(format!(
                    "signer {:?}: custody must be keystore, hsm, device or frost",
                    s.name
                ));
            }
        }
        if self.threshold == 0 || self.threshold as usize > self.signers.len() {
            return bad(format!(
                "threshold {} must be between 1 and the number of signers ({})",
                self.threshold,
                self.signers.len()
            ));
        }
        if self.rules.is_empty() {
            return bad("a vault needs at least one rule".into());
        }
        let w = &self.witnesses;
        if w.witnesses.len() > MAX_WITNESSES {
            return bad(format!("at most {MAX_WITNESSES} witnesses"));
        }
        if w.threshold as usize > w.witnesses.len() || (w.threshold == 0) != w.witnesses.is_empty()
        {
            return bad(format!(
                "witness threshold {} must be between 1 and the number of witnesses ({}), or 0 with none",
                w.threshold,
                w.witnesses.len()
            ));
        }
        let mut witness_names = BTreeSet::new();
        let mut witness_keys = BTreeSet::new();
        for wk in &w.witnesses {
            if !valid_key_name(&wk.name) {
                return bad(format!(
                    "witness name {:?}: 1-255 characters without spaces, '+' or control characters",
                    wk.name
                ));
            }
            if !witness_names.insert(wk.name.as_str()) || !witness_keys.insert(wk.key) {
                return bad(format!("witness {:?} appears twice", wk.name));
            }
        }
        let mut rule_names = BTreeSet::new();
        for rule in &self.rules {
            if !rule_names.insert(rule.name.as_str()) {
                return bad(format!("rule name {:?} appears twice", rule.name));
            }
            if rule.name.starts_with('@') {
                return bad(format!(
                    "rule name {:?}: names starting with '@' are reserved",
                    rule.name
                ));
            }
            if rule.requirements.is_empty() {
                return bad(format!("rule {:?} requires no approvals", rule.name));
            }
            if rule.expiry_secs == 0 {
                return bad(format!("rule {:?} has a zero expiry", rule.name));
            }
            for req in &rule.requirements {
                let available = self.count_role(&req.role);
                if req.count == 0 || req.count as usize > available {
                    return bad(format!(
                        "rule {:?} needs {} approvals from role {:?}, which has {available} signer(s)",
                        rule.name, req.count, req.role
                    ));
                }
            }
            for c in &rule.conditions {
                match c {
                    Condition::WindowAmount { window_secs: 0, .. } => {
                        return bad(format!("rule {:?}: window of zero seconds", rule.name));
                    }
                    Condition::Destinations(list) if list.is_empty() => {
                        return bad(format!("rule {:?}: empty destination allowlist", rule.name));
                    }
                    Condition::TimeWindow {
                        days,
                        start_minute,
                        end_minute,
                    } if *days == 0
                        || *days > 0x7f
                        || start_minute >= end_minute
                        || *end_minute > 1440 =>
                    {
                        return bad(format!(
                            "rule {:?}: empty or invalid time window",
                            rule.name
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Signers with this role ("any": all signers).
    pub fn count_role(&self, role: &str) -> usize {
        if role == ANY_ROLE {
            self.signers.len()
        } else {
            self.signers.iter().filter(|s| s.role == role).count()
        }
    }
}

/// Most witnesses a vault version names.
pub const MAX_WITNESSES: usize = 32;

/// A signed-note key name: non-empty, no whitespace, no '+', no control characters.
fn valid_key_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Artifact for VaultDefinition {
    const KIND: ArtifactKind = ArtifactKind::VaultDefinition;

    fn to_value(&self) -> Value {
        let signers = self
            .signers
            .iter()
            .map(|s| {
                MapBuilder::new()
                    .text(1, &s.name)
                    .text(2, &s.role)
                    .bytes(3, &s.identity.0)
                    .text(4, &s.chain_key)
                    .text(5, &s.custody)
                    .build()
            })
            .collect();
        let rules = self.rules.iter().map(rule_to_value).collect();
        MapBuilder::new()
            .uint(0, VAULT_FORMAT_VERSION)
            .text(1, &self.vault_id)
            .uint(2, self.version)
            .opt(3, self.previous.map(|p| Value::Bytes(p.0.to_vec())))
            .text(4, &self.chain)
            .text(5, &self.network)
            .text(6, &self.account)
            .value(
                7,
                MapBuilder::new()
                    .text(1, &self.coordinator.origin)
                    .bytes(2, &self.coordinator.key.0)
                    .build(),
            )
            .array(8, signers)
            .uint(9, self.threshold as u64)
            .array(10, rules)
            .uint(11, self.created)
            // Written only when there are witnesses: a vault without keeps its encoding (and id).
            .opt(
                12,
                (!self.witnesses.is_empty()).then(|| {
                    MapBuilder::new()
                        .array(
                            1,
                            self.witnesses
                                .witnesses
                                .iter()
                                .map(|w| {
                                    MapBuilder::new()
                                        .text(1, &w.name)
                                        .bytes(2, &w.key.0)
                                        .build()
                                })
                                .collect(),
                        )
                        .uint(2, self.witnesses.threshold as u64)
                        .build()
                }),
            )
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "vault definition")?;
        f.version(VAULT_FORMAT_VERSION)?;
        let vault_id = f.text(1, "vault id")?;
        let version = f.uint(2, "version")?;
        let previous = f.opt_fixed::<32>(3, "previous version")?.map(ArtifactId);
        let chain = f.text(4, "chain")?;
        let network = f.text(5, "network")?;
        let account = f.text(6, "account")?;
        let mut c = f.record_field(7, "coordinator")?;
        let coordinator = CoordinatorRef {
            origin: c.text(1, "origin")?,
            key: PublicKey(c.fixed::<32>(2, "key")?),
        };
        c.finish()?;
        let mut signers = Vec::new();
        for mut s in records(f.array(8, "signers")?, "signer")? {
            signers.push(SignerEntry {
                name: s.text(1, "name")?,
                role: s.text(2, "role")?,
                identity: PublicKey(s.fixed::<32>(3, "identity key")?),
                chain_key: s.text(4, "chain key")?,
                custody: s.text(5, "custody")?,
            });
            s.finish()?;
        }
        let threshold = u32::try_from(f.uint(9, "threshold")?)
            .map_err(|_| f.error("threshold out of range"))?;
        let mut rules = Vec::new();
        for r in records(f.array(10, "rules")?, "rule")? {
            rules.push(rule_from_fields(r)?);
        }
        let created = f.uint(11, "created")?;
        let mut witnesses = WitnessPolicy::default();
        if let Some(mut w) = f.opt_record_field(12, "witnesses")? {
            for mut k in records(w.array(1, "witness keys")?, "witness")? {
                witnesses.witnesses.push(WitnessKey {
                    name: k.text(1, "name")?,
                    key: PublicKey(k.fixed::<32>(2, "key")?),
                });
                k.finish()?;
            }
            witnesses.threshold = u32::try_from(w.uint(2, "witness threshold")?)
                .map_err(|_| w.error("witness threshold out of range"))?;
            w.finish()?;
            if witnesses.is_empty() {
                return Err(f.error("an empty witness set is written by leaving it out"));
            }
        }
        f.finish()?;
        Ok(VaultDefinition {
            vault_id,
            version,
            previous,
            chain,
            network,
            account,
            coordinator,
            signers,
            threshold,
            rules,
            created,
            witnesses,
        })
    }
}

fn rule_to_value(rule: &Rule) -> Value {
    let conditions = rule
        .conditions
        .iter()
        .map(|c| match c {
            Condition::MaxAmount(n) => MapBuilder::new().uint(1, 1).amount(2, *n).build(),
            Condition::WindowAmount { limit, window_secs } => MapBuilder::new()
                .uint(1, 2)
                .amount(2, *limit)
                .uint(3, *window_secs)
                .build(),
            Condition::Destinations(list) => MapBuilder::new()
                .uint(1, 3)
                .array(2, list.iter().map(|d| Value::Text(d.clone())).collect())
                .build(),
            Condition::TimeWindow {
                days,
                start_minute,
                end_minute,
            } => MapBuilder::new()
                .uint(1, 4)
                .uint(2, *days as u64)
                .uint(3, *start_minute as u64)
                .uint(4, *end_minute as u64)
                .build(),
        })
        .collect();
    let requirements = rule
        .requirements
        .iter()
        .map(|r| {
            MapBuilder::new()
                .text(1, &r.role)
                .uint(2, r.count as u64)
                .build()
        })
        .collect();
    MapBuilder::new()
        .text(1, &rule.name)
        .array(2, conditions)
        .array(3, requirements)
        .uint(4, rule.expiry_secs)
        .build()
}

fn rule_from_fields(mut r: Fields) -> Result<Rule, FormatError> {
    let name = r.text(1, "name")?;
    let mut conditions = Vec::new();
    for mut c in records(
        r.array(2, "conditions")?,
        &format!("rule {name:?} condition"),
    )? {
        let condition = match c.uint(1, "condition type")? {
            1 => Condition::MaxAmount(c.amount(2, "amount")?),
            2 => Condition::WindowAmount {
                limit: c.amount(2, "limit")?,
                window_secs: c.uint(3, "window seconds")?,
            },
            3 => Condition::Destinations(c.texts(2, "destinations")?),
            4 => {
                let days = c.uint(2, "days")?;
                let start = c.uint(3, "start minute")?;
                let end = c.uint(4, "end minute")?;
                if days > 0x7f || start > 1440 || end > 1440 {
                    return Err(c.error("time window out of range"));
                }
                Condition::TimeWindow {
                    days: days as u8,
                    start_minute: start as u16,
                    end_minute: end as u16,
                }
            }
            other => return Err(c.error(format!("unknown condition type {other}"))),
        };
        c.finish()?;
        conditions.push(condition);
    }
    let mut requirements = Vec::new();
    for mut q in records(
        r.array(3, "requirements")?,
        &format!("rule {name:?} requirement"),
    )? {
        let role = q.text(1, "role")?;
        let count =
            u32::try_from(q.uint(2, "count")?).map_err(|_| q.error("count out of range"))?;
        q.finish()?;
        requirements.push(Requirement { role, count });
    }
    let expiry_secs = r.uint(4, "expiry seconds")?;
    r.finish()?;
    Ok(Rule {
        name,
        conditions,
        requirements,
        expiry_secs,
    })
}

/// Counts distinct keys of `def` that validly signed `env`.
fn distinct_signers(env: &Envelope, def: &VaultDefinition) -> usize {
    let valid: BTreeSet<PublicKey> = env.valid_signers().into_iter().collect();
    def.signers
        .iter()
        .filter(|s| valid.contains(&s.identity))
        .count()
}

/// Verifies a vault version envelope against the version before it (`None` for version 1) and
/// returns the definition. `previous` carries the prior definition and its artifact id.
pub fn verify_vault_version(
    env: &Envelope,
    previous: Option<(&VaultDefinition, ArtifactId)>,
) -> Result<VaultDefinition, CoreError> {
    env.require_all_valid()?;
    let def: VaultDefinition = env.open()?;
    def.validate()?;
    let label = format!("vault {:?} version {}", def.vault_id, def.version);
    match previous {
        None => {
            if def.version != 1 {
                return Err(CoreError::Invalid(format!(
                    "{label}: the previous version (v{}) is needed to check it",
                    def.version - 1
                )));
            }
        }
        Some((prev, prev_id)) => {
            if prev.vault_id != def.vault_id {
                return Err(CoreError::Invalid(format!(
                    "{label} does not follow vault {:?}",
                    prev.vault_id
                )));
            }
            if def.version != prev.version + 1 {
                return Err(CoreError::Invalid(format!(
                    "{label} does not follow version {} (versions must increase by one)",
                    prev.version
                )));
            }
            if def.previous != Some(prev_id) {
                return Err(CoreError::Invalid(format!(
                    "{label} names a different previous version than v{} ({})",
                    prev.version,
                    prev_id.short()
                )));
            }
            if def.chain != prev.chain || def.network != prev.network {
                return Err(CoreError::Invalid(format!(
                    "{label} changes chain or network; create a new vault instead"
                )));
            }
            let old = distinct_signers(env, prev);
            if old < prev.threshold as usize {
                return Err(CoreError::Policy(format!(
                    "{label} needs signatures from {} distinct keys of version {}, has {old}",
                    prev.threshold, prev.version
                )));
            }
        }
    }
    let new = distinct_signers(env, &def);
    if new < def.threshold as usize {
        return Err(CoreError::Policy(format!(
            "{label} needs signatures from {} distinct keys of its own signers, has {new}",
            def.threshold
        )));
    }
    let members: Vec<PublicKey> = def
        .signers
        .iter()
        .chain(previous.iter().flat_map(|(p, _)| p.signers.iter()))
        .map(|s| s.identity)
        .collect();
    env.require_only_signers(&members, &label)?;
    Ok(def)
}

/// Verifies a vault version taken as a trust anchor by a device that joins at version N > 1
/// without the earlier history: only its own threshold of distinct signer keys is checked, so the
/// person must compare its id with another device's (the CLI says so).
pub fn verify_vault_anchor(env: &Envelope) -> Result<VaultDefinition, CoreError> {
    env.require_all_valid()?;
    let def: VaultDefinition = env.open()?;
    def.validate()?;
    let have = distinct_signers(env, &def);
    if have < def.threshold as usize {
        return Err(CoreError::Policy(format!(
            "vault {:?} version {} needs signatures from {} distinct keys of its own signers, has {have}",
            def.vault_id, def.version, def.threshold
        )));
    }
    // Signatures by keys outside this version are not refused here: a joining device cannot
    // tell the previous version's signers (who sign it too) from strangers.
    Ok(def)
}

/// Parses a duration such as `90`, `30s`, `15m`, `24h`, `7d`.
pub fn parse_duration(s: &str) -> Result<u64, CoreError> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86_400),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            CoreError::Invalid(format!("{s:?} is not a duration (e.g. 90s, 15m, 24h, 7d)"))
        })
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_days(s: &str) -> Result<u8, CoreError> {
    let day = |d: &str| {
        DAY_NAMES
            .iter()
            .position(|n| *n == d)
            .ok_or_else(|| CoreError::Invalid(format!("{d:?} is not a day (mon … sun)")))
    };
    let mut mask = 0u8;
    for part in s.split('+') {
        if let Some((a, b)) = part.split_once('-') {
            let (a, b) = (day(a)?, day(b)?);
            if a > b {
                return Err(CoreError::Invalid(format!(
                    "day range {part:?} runs backwards"
                )));
            }
            for d in a..=b {
                mask |= 1 << d;
            }
        } else {
            mask |= 1 << day(part)?;
        }
    }
    Ok(mask)
}

fn parse_minute(s: &str) -> Result<u16, CoreError> {
    let err = || CoreError::Invalid(format!("{s:?} is not a time of day (HH:MM, UTC)"));
    let (h, m) = s.split_once(':').ok_or_else(err)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
    if h > 24 || m > 59 || (h == 24 && m != 0) {
        return Err(err());
    }
    Ok(h * 60 + m)
}

/// Parses a rule written for the command line:
/// `NAME: CONDITION, CONDITION… => COUNT ROLE, COUNT ROLE…`
///
/// Conditions: `max=AMOUNT`, `window=AMOUNT/DURATION`, `to=DEST|DEST…`, `days=mon-fri` (or
/// `mon+wed`), `hours=09:00-17:00` (UTC), `expiry=DURATION`. Requirements: `2 ops`, `1 any`.
/// Example: `routine: max=100000, to=bc1q…|bc1p…, days=mon-fri, hours=09:00-17:00 => 1 ops`.
pub fn parse_rule(spec: &str) -> Result<Rule, CoreError> {
    let bad = |m: String| CoreError::Invalid(format!("rule {spec:?}: {m}"));
    let (head, reqs) = spec
        .split_once("=>")
        .ok_or_else(|| bad("missing '=>' before the requirements".into()))?;
    let (name, conds) = head
        .split_once(':')
        .ok_or_else(|| bad("missing 'NAME:' at the start".into()))?;
    let name = name.trim().to_owned();
    if !valid_name(&name) {
        return Err(bad(
            "rule names are 1-64 characters of a-z, 0-9, '-', '_'".into()
        ));
    }
    let mut conditions = Vec::new();
    let mut expiry_secs = DEFAULT_EXPIRY_SECS;
    let mut days = None;
    let mut hours = None;
    for cond in conds.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let (key, value) = cond
            .split_once('=')
            .ok_or_else(|| bad(format!("condition {cond:?} is not KEY=VALUE")))?;
        let value = value.trim();
        match key.trim() {
            "max" => conditions.push(Condition::MaxAmount(parse_amount(value).map_err(bad)?)),
            "window" => {
                let (amount, dur) = value
                    .split_once('/')
                    .ok_or_else(|| bad("window is AMOUNT/DURATION, e.g. 500000/24h".into()))?;
                conditions.push(Condition::WindowAmount {
                    limit: parse_amount(amount).map_err(bad)?,
                    window_secs: parse_duration(dur)?,
                });
            }
            "to" => conditions.push(Condition::Destinations(
                value
                    .split('|')
                    .map(|d| d.trim().to_owned())
                    .filter(|d| !d.is_empty())
                    .collect(),
            )),
            "days" => days = Some(parse_days(value)?),
            "hours" => {
                let (a, b) = value
                    .split_once('-')
                    .ok_or_else(|| bad("hours is HH:MM-HH:MM".into()))?;
                hours = Some((parse_minute(a)?, parse_minute(b)?));
            }
            "expiry" => expiry_secs = parse_duration(value)?,
            other => return Err(bad(format!("unknown condition {other:?}"))),
        }
    }
    if days.is_some() || hours.is_some() {
        let (start_minute, end_minute) = hours.unwrap_or((0, 1440));
        conditions.push(Condition::TimeWindow {
            days: days.unwrap_or(0x7f),
            start_minute,
            end_minute,
        });
    }
    let mut requirements = Vec::new();
    for req in reqs.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let (count, role) = req
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad(format!("requirement {req:?} is not 'COUNT ROLE'")))?;
        let count: u32 = count
            .parse()
            .map_err(|_| bad(format!("{count:?} is not a count")))?;
        requirements.push(Requirement {
            role: role.trim().to_owned(),
            count,
        });
    }
    Ok(Rule {
        name,
        conditions,
        requirements,
        expiry_secs,
    })
}

fn parse_amount(s: &str) -> Result<u128, String> {
    s.trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{s:?} is not an amount in base units"))
}

/// Renders a rule back in the command-line syntax.
pub fn describe_rule(rule: &Rule) -> String {
    let mut parts = Vec::new();
    for c in &rule.conditions {
        parts.push(match c {
            Condition::MaxAmount(n) => format!("max={n}"),
            Condition::WindowAmount { limit, window_secs } => {
                format!("window={limit}/{window_secs}s")
            }
            Condition::Destinations(list) => format!("to={}", list.join("|")),
            Condition::TimeWindow {
                days,
                start_minute,
                end_minute,
            } => {
                let names: Vec<&str> = (0..7)
                    .filter(|d| days & (1 << d) != 0)
                    .map(|d| DAY_NAMES[d])
                    .collect();
                format!(
                    "days={}, hours={:02}:{:02}-{:02}:{:02}",
                    names.join("+"),
                    start_minute / 60,
                    start_minute % 60,
                    end_minute / 60,
                    end_minute % 60
                )
            }
        });
    }
    parts.push(format!("expiry={}s", rule.expiry_secs));
    let reqs: Vec<String> = rule
        .requirements
        .iter()
        .map(|r| format!("{} {}", r.count, r.role))
        .collect();
    format!("{}: {} => {}", rule.name, parts.join(", "), reqs.join(", "))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    pub fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    pub fn pk(seed: u8) -> PublicKey {
        PublicKey(key(seed).verifying_key().to_bytes())
    }

    pub fn signer(name: &str, role: &str, seed: u8) -> SignerEntry {
        SignerEntry {
            name: name.into(),
            role: role.into(),
            identity: pk(seed),
            chain_key: String::new(),
            custody: "keystore".into(),
        }
    }

    pub fn sample_vault() -> VaultDefinition {
        VaultDefinition {
            vault_id: "treasury".into(),
            version: 1,
            previous: None,
            chain: "none".into(),
            network: "test".into(),
            account: String::new(),
            coordinator: CoordinatorRef {
                origin: "airlock.test/log".into(),
                key: pk(99),
            },
            signers: vec![
                signer("alice", "ops", 1),
                signer("bob", "ops", 2),
                signer("carol", "compliance", 3),
            ],
            threshold: 2,
            rules: vec![
                parse_rule("routine: max=1000, to=dest-a|dest-b, expiry=1h => 1 ops").unwrap(),
                parse_rule("default: => 2 ops, 1 compliance").unwrap(),
            ],
            created: 1_700_000_000,
            witnesses: Default::default(),
        }
    }

    fn signed(def: &VaultDefinition, seeds: &[u8]) -> Envelope {
        let mut env = def.envelope();
        for s in seeds {
            env.sign(&key(*s));
        }
        env
    }

    #[test]
    fn witness_policies_round_trip_and_are_checked() {
        let plain = sample_vault();
        // Without witnesses the encoding has no field 12 (ids of such vaults do not change).
        assert!(!matches!(
            crate::cbor::decode(&plain.to_bytes(), crate::cbor::Limits::ARTIFACT),
            Ok(crate::cbor::Value::Map(ref m)) if m.iter().any(|(k, _)| *k == crate::cbor::Value::Unsigned(12))
        ));
        let mut d = sample_vault();
        d.witnesses = WitnessPolicy {
            witnesses: vec![
                WitnessKey {
                    name: "w1.example/a".into(),
                    key: pk(50),
                },
                WitnessKey {
                    name: "w2.example/b".into(),
                    key: pk(51),
                },
            ],
            threshold: 2,
        };
        d.validate().unwrap();
        assert_eq!(VaultDefinition::from_bytes(&d.to_bytes()).unwrap(), d);
        assert_ne!(d.to_bytes(), plain.to_bytes());
        for (threshold, ok) in [(0, false), (1, true), (3, false)] {
            let mut t = d.clone();
            t.witnesses.threshold = threshold;
            assert_eq!(t.validate().is_ok(), ok, "threshold {threshold}");
        }
        let mut twice = d.clone();
        twice.witnesses.witnesses[1].name = "w1.example/a".into();
        assert!(twice.validate().unwrap_err().to_string().contains("twice"));
        let mut spaced = d.clone();
        spaced.witnesses.witnesses[0].name = "bad name".into();
        assert!(spaced.validate().is_err());
        let mut none = plain.clone();
        none.witnesses.threshold = 1;
        assert!(none.validate().is_err());
    }

    #[test]
    fn round_trips_and_validates() {
        let def = sample_vault();
        def.validate().unwrap();
        let back = VaultDefinition::from_bytes(&def.to_bytes()).unwrap();
        assert_eq!(back, def);
    }

    #[test]
    fn rejects_unsatisfiable_or_ambiguous_definitions() {
        let mut d = sample_vault();
        d.threshold = 4;
        assert!(d.validate().unwrap_err().to_string().contains("threshold"));
        let mut d = sample_vault();
        d.signers[1].identity = d.signers[0].identity;
        assert!(
            d.validate()
                .unwrap_err()
                .to_string()
                .contains("appears twice")
        );
        let mut d = sample_vault();
        d.rules[1].requirements[1].count = 2;
        assert!(d.validate().unwrap_err().to_string().contains("compliance"));
    }

    #[test]
    fn version_one_needs_threshold_of_its_own_keys() {
        let def = sample_vault();
        assert!(verify_vault_version(&signed(&def, &[1, 2]), None).is_ok());
        let err = verify_vault_version(&signed(&def, &[1, 50]), None).unwrap_err();
        assert!(err.to_string().contains("has 1"), "{err}");
    }

    #[test]
    fn rotation_needs_threshold_of_old_and_new_keys() {
        let v1 = sample_vault();
        let v1_env = signed(&v1, &[1, 2]);
        let mut v2 = v1.clone();
        v2.version = 2;
        v2.previous = Some(v1_env.id());
        v2.signers[1] = signer("dave", "ops", 4); // bob lost his key
        // Signed by alice and dave: one old key only.
        let err =
            verify_vault_version(&signed(&v2, &[1, 4]), Some((&v1, v1_env.id()))).unwrap_err();
        assert!(
            err.to_string()
                .contains("distinct keys of version 1, has 1"),
            "{err}"
        );
        // Signed by alice, bob (old) and dave: fine.
        let ok = verify_vault_version(&signed(&v2, &[1, 2, 4]), Some((&v1, v1_env.id())));
        assert!(ok.is_ok(), "{ok:?}");
        // Same signature counted twice cannot happen: a duplicate key in the envelope is refused at decode.
        let mut wrong_prev = v2.clone();
        wrong_prev.previous = Some(ArtifactId([7; 32]));
        let err = verify_vault_version(&signed(&wrong_prev, &[1, 2, 4]), Some((&v1, v1_env.id())))
            .unwrap_err();
        assert!(
            err.to_string().contains("different previous version"),
            "{err}"
        );
    }

    #[test]
    fn a_damaged_signature_is_refused_even_beside_enough_valid_ones() {
        let def = sample_vault();
        let mut env = signed(&def, &[1, 2, 3]);
        assert!(verify_vault_version(&env, None).is_ok());
        env.signatures[2].signature[0] ^= 1;
        let err = verify_vault_version(&env, None).unwrap_err().to_string();
        assert!(err.contains("does not verify"), "{err}");
        assert!(verify_vault_anchor(&env).is_err());
    }

    #[test]
    fn parses_rules() {
        let r = parse_rule(
            "routine: max=100_000, window=500000/24h, to=a|b, days=mon-fri, hours=09:00-17:30, expiry=2h => 1 ops, 1 any",
        )
        .unwrap();
        assert_eq!(r.name, "routine");
        assert_eq!(r.expiry_secs, 7200);
        assert_eq!(
            r.conditions,
            vec![
                Condition::MaxAmount(100_000),
                Condition::WindowAmount {
                    limit: 500_000,
                    window_secs: 86_400
                },
                Condition::Destinations(vec!["a".into(), "b".into()]),
                Condition::TimeWindow {
                    days: 0b1_1111,
                    start_minute: 540,
                    end_minute: 1050
                },
            ]
        );
        assert_eq!(r.requirements.len(), 2);
        for bad in [
            "x: => ",
            "no-arrow: max=1",
            ": => 1 ops",
            "r: max=abc => 1 ops",
            "r: days=funday => 1 ops",
        ] {
            let parsed = parse_rule(bad);
            assert!(
                parsed.is_err() || parsed.unwrap().requirements.is_empty(),
                "{bad}"
            );
        }
    }
}
