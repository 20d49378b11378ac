//! Tabletop drills on the team's real vault: the failures a team should rehearse (a lost
//! device, a stolen key, a compromised coordinator, an equivocating witness), the questions each
//! raises, the answers the vault's own policy gives and the controls that act, and the record of
//! how the team answered (a `drill` leaf in the log, see `airlock_core::drill`).
//!
//! Expected answers are computed from the vault version's signers, roles, rules and witnesses
//! with the same rule arithmetic the tally uses (`Rule::met_by`), not written by hand per team.
//! This module must never record a drill against a vault version the log does not hold, nor
//! grade an answer against anything but the version the drill was planned on.

use std::fmt;
use std::str::FromStr;

use airlock_core::drill::{DrillAnswer, DrillRecord};
pub use airlock_core::drill::{GivenAnswers, parse_answers};
use airlock_core::{Artifact, ArtifactId, Envelope, Requirement, Rule, UnixTime, VaultDefinition};
use serde::Serialize;

use crate::{Coordinator, CoordinatorError, Result};

/// A failure to rehearse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InjectSpec {
    /// A signer's device and key are lost.
    KeyLoss(String),
    /// An attacker holds a signer's key.
    StolenKey(String),
    /// An attacker holds the coordinator's keys.
    Coordinator,
    /// One of the vault's witnesses cosigns whatever it is shown.
    Witness(String),
}

impl fmt::Display for InjectSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InjectSpec::KeyLoss(s) => write!(f, "key-loss:{s}"),
            InjectSpec::StolenKey(s) => write!(f, "stolen-key:{s}"),
            InjectSpec::Coordinator => write!(f, "coordinator"),
            InjectSpec::Witness(w) => write!(f, "witness:{w}"),
        }
    }
}

impl FromStr for InjectSpec {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<InjectSpec, String> {
        let (kind, who) = s.split_once(':').unwrap_or((s, ""));
        let who = who.trim().to_owned();
        let named = |make: fn(String) -> InjectSpec| {
            if who.is_empty() {
                Err(format!("inject {s:?} needs a name after ':'"))
            } else {
                Ok(make(who.clone()))
            }
        };
        match kind.trim() {
            "key-loss" => named(InjectSpec::KeyLoss),
            "stolen-key" => named(InjectSpec::StolenKey),
            "witness" => named(InjectSpec::Witness),
            "coordinator" if who.is_empty() => Ok(InjectSpec::Coordinator),
            _ => Err(format!(
                "inject {s:?} is not one of key-loss:SIGNER, stolen-key:SIGNER, coordinator, witness:NAME"
            )),
        }
    }
}

/// A question the team answers, with the answer the vault's policy gives.
#[derive(Clone, Debug, Serialize)]
pub struct Question {
    pub id: String,
    pub text: String,
    pub choices: Vec<String>,
    pub expected: String,
    /// Why the policy gives that answer.
    pub why: String,
}

/// One failure of the drill.
#[derive(Clone, Debug, Serialize)]
pub struct DrillInject {
    pub id: String,
    pub situation: String,
    pub questions: Vec<Question>,
    /// What Airlock's code does about it, whatever the team answers.
    pub controls: Vec<String>,
}

/// The whole exercise for one vault version.
#[derive(Clone, Debug, Serialize)]
pub struct DrillPlan {
    pub vault: String,
    pub vault_version: u64,
    pub injects: Vec<DrillInject>,
}

impl DrillPlan {
    pub fn questions(&self) -> impl Iterator<Item = (&DrillInject, &Question)> {
        self.injects
            .iter()
            .flat_map(|i| i.questions.iter().map(move |q| (i, q)))
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

fn requirements(reqs: &[Requirement]) -> String {
    reqs.iter()
        .map(|r| format!("{} {}", r.count, r.role))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The signers left, by role: `ops: alice, bob; compliance: dave`.
fn by_role(def: &VaultDefinition, without: &str) -> String {
    let mut roles: Vec<&str> = def.signers.iter().map(|s| s.role.as_str()).collect();
    roles.sort_unstable();
    roles.dedup();
    roles
        .iter()
        .map(|role| {
            let names: Vec<&str> = def
                .signers
                .iter()
                .filter(|s| s.role == *role && s.name != without)
                .map(|s| s.name.as_str())
                .collect();
            if names.is_empty() {
                format!("{role}: nobody")
            } else {
                format!("{role}: {}", names.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn rule_question(id: String, text: String, rule: &Rule, roles: &[&str], left: String) -> Question {
    let met = rule.met_by(roles);
    Question {
        id,
        text,
        choices: vec!["yes".into(), "no".into()],
        expected: yes_no(met),
        why: format!(
            "rule {:?} needs {}; {left}: {}",
            rule.name,
            requirements(&rule.requirements),
            if met { "enough" } else { "not enough" }
        ),
    }
}

/// The failures a drill rehearses when none is named: the loss of the signer whose absence
/// leaves the fewest rules reachable (the first listed on a tie), the theft of the key that
/// alone passes the most rules, a compromised coordinator, and one equivocating witness when
/// the vault names witnesses.
pub fn default_injects(def: &VaultDefinition) -> Vec<InjectSpec> {
    let mut out = Vec::new();
    let reachable_without = |name: &str| {
        let roles: Vec<&str> = def
            .signers
            .iter()
            .filter(|s| s.name != name)
            .map(|s| s.role.as_str())
            .collect();
        def.rules.iter().filter(|r| r.met_by(&roles)).count()
    };
    if let Some(lost) = def
        .signers
        .iter()
        .min_by_key(|s| reachable_without(&s.name))
    {
        out.push(InjectSpec::KeyLoss(lost.name.clone()));
    }
    let alone = |role: &str| def.rules.iter().filter(|r| r.met_by(&[role])).count();
    if let Some(stolen) = def.signers.iter().rev().max_by_key(|s| alone(&s.role)) {
        out.push(InjectSpec::StolenKey(stolen.name.clone()));
    }
    out.push(InjectSpec::Coordinator);
    if let Some(w) = def.witnesses.witnesses.first() {
        out.push(InjectSpec::Witness(w.name.clone()));
    }
    out
}

/// The drill for `def`: each inject's situation, questions with the policy's answers, and the
/// controls that act. Names that are not the vault's are refused.
pub fn plan(def: &VaultDefinition, specs: &[InjectSpec]) -> Result<DrillPlan> {
    if specs.is_empty() {
        return Err(CoordinatorError::Refused(
            "a drill needs at least one inject".into(),
        ));
    }
    let n = def.signers.len();
    let t = def.threshold as usize;
    let mut injects = Vec::new();
    for spec in specs {
        let id = spec.to_string();
        if injects.iter().any(|i: &DrillInject| i.id == id) {
            return Err(CoordinatorError::Refused(format!(
                "inject {id} is named twice"
            )));
        }
        let signer = |name: &str| {
            def.signer_by_name(name).ok_or_else(|| {
                CoordinatorError::Refused(format!(
                    "vault {:?} v{} has no signer {name:?} (its signers: {})",
                    def.vault_id,
                    def.version,
                    def.signers
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        };
        let rotate = |who: &str| Question {
            id: format!("{id}/rotate"),
            text: format!(
                "Can the other signers rotate {who} out (activate a vault version without {who}'s key) without {who}?"
            ),
            choices: vec!["yes".into(), "no".into()],
            expected: yes_no(n > t),
            why: format!(
                "a new version needs the signatures of {t} of v{}'s {n} signers; {} remain",
                def.version,
                n - 1
            ),
        };
        let inject = match spec {
            InjectSpec::KeyLoss(name) => {
                let lost = signer(name)?;
                let roles: Vec<&str> = def
                    .signers
                    .iter()
                    .filter(|s| s.name != lost.name)
                    .map(|s| s.role.as_str())
                    .collect();
                let mut questions: Vec<Question> = def
                    .rules
                    .iter()
                    .map(|rule| {
                        rule_question(
                            format!("{id}/rule:{}", rule.name),
                            format!(
                                "A payment falls under rule {:?}. Can the team still approve it without {name}?",
                                rule.name
                            ),
                            rule,
                            &roles,
                            format!("without {name}: {}", by_role(def, name)),
                        )
                    })
                    .collect();
                questions.push(rotate(name));
                DrillInject {
                    situation: format!(
                        "{name}'s signing device ({} role) is lost with its key. Nobody can sign as {name} until the vault is rotated.",
                        lost.role
                    ),
                    questions,
                    controls: vec![
                        format!(
                            "a new vault version activates only with {t} signatures of v{}'s signers (`airlock vault submit`, checked again by `airlock log verify` and every witness)",
                            def.version
                        ),
                        "a proposal no quorum can approve expires at its rule's expiry; nothing is finalized without the rule's approvals".into(),
                    ],
                    id,
                }
            }
            InjectSpec::StolenKey(name) => {
                let stolen = signer(name)?;
                let mut questions: Vec<Question> = def
                    .rules
                    .iter()
                    .map(|rule| {
                        rule_question(
                            format!("{id}/rule:{}", rule.name),
                            format!(
                                "Can the attacker move funds under rule {:?} with {name}'s key alone?",
                                rule.name
                            ),
                            rule,
                            &[stolen.role.as_str()],
                            format!("{name}'s key alone is 1 {}", stolen.role),
                        )
                    })
                    .collect();
                questions.push(Question {
                    id: format!("{id}/change-vault"),
                    text: format!(
                        "Can the attacker change the vault (add a key of its own) with {name}'s key alone?"
                    ),
                    choices: vec!["yes".into(), "no".into()],
                    expected: yes_no(t <= 1),
                    why: format!("a new version needs {t} signatures of v{}'s signers", def.version),
                });
                questions.push(rotate(name));
                DrillInject {
                    situation: format!(
                        "An attacker holds {name}'s key ({} role) and can approve anything {name} could, as {name}.",
                        stolen.role
                    ),
                    questions,
                    controls: vec![
                        "every honest signer reviews each proposal on its own device: payees, amounts and change re-derived from its registered vault".into(),
                        "finalization needs each rule's approvals from distinct registered signers; `airlock log verify` and every witness replay refuse a finalized record without them".into(),
                        format!("rotating {name} out needs {t} signatures of the other signers"),
                    ],
                    id,
                }
            }
            InjectSpec::Coordinator => {
                let wt = def.witnesses.threshold;
                DrillInject {
                    situation: "An attacker holds the coordinator's keys (its identity and log key) and can write and sign anything the coordinator could.".into(),
                    questions: vec![
                        Question {
                            id: format!("{id}/finalize"),
                            text: "Can the attacker finalize a payment that no signer approved?".into(),
                            choices: vec!["yes".into(), "no".into()],
                            expected: "no".into(),
                            why: "finalization needs approvals signed by the signers' own keys; a log holding a finalized record without them fails `airlock log verify` and every witness's replay".into(),
                        },
                        Question {
                            id: format!("{id}/fork"),
                            text: "Will a signer that has followed the real log approve a proposal the attacker shows it from a forked log?".into(),
                            choices: vec!["yes".into(), "no".into()],
                            expected: "no".into(),
                            why: "the signer's review checks every bundle's checkpoint against the one it accepted before (a consistency proof); a fork is a split-view alarm".into(),
                        },
                        if wt == 0 {
                            Question {
                                id: format!("{id}/new-signer"),
                                text: "Would a signer with no history yet (a new or restored device) notice that the log it is shown is a fork?".into(),
                                choices: vec!["yes".into(), "no".into()],
                                expected: "no".into(),
                                why: "the vault names no witnesses, so a signer's first checkpoint is trusted as shown; witnesses (`airlock witness add`) close this".into(),
                            }
                        } else {
                            Question {
                                id: format!("{id}/witnesses"),
                                text: "How many of the vault's witnesses must the attacker also control to show a signer with no history yet a forked log it accepts?".into(),
                                choices: (0..=def.witnesses.witnesses.len()).map(|k| k.to_string()).collect(),
                                expected: wt.to_string(),
                                why: format!(
                                    "v{} requires {wt} of its {} witnesses' cosignatures on every bundle's checkpoint, and honest witnesses never cosign two histories",
                                    def.version,
                                    def.witnesses.witnesses.len()
                                ),
                            }
                        },
                    ],
                    controls: vec![
                        "signer reviews raise a split-view alarm on a checkpoint inconsistent with the one they accepted".into(),
                        "honest witnesses refuse to cosign an inconsistent checkpoint and halt every vault of the log".into(),
                    ],
                    id,
                }
            }
            InjectSpec::Witness(name) => {
                if !def.witnesses.witnesses.iter().any(|w| w.name == *name) {
                    return Err(CoordinatorError::Refused(format!(
                        "vault {:?} v{} names no witness {name:?}",
                        def.vault_id, def.version
                    )));
                }
                let wt = def.witnesses.threshold;
                DrillInject {
                    situation: format!(
                        "Witness {name} is compromised: it cosigns any checkpoint it is shown, even two histories at once."
                    ),
                    questions: vec![Question {
                        id: format!("{id}/fork"),
                        text: format!(
                            "With the coordinator's keys and {name}'s key, can the attacker show a signer with no history yet a forked log it accepts?"
                        ),
                        choices: vec!["yes".into(), "no".into()],
                        expected: yes_no(wt <= 1),
                        why: format!(
                            "bundles need {wt} distinct witnesses' cosignatures; {name} alone is 1"
                        ),
                    }],
                    controls: vec![
                        "the honest witnesses refuse the fork's checkpoints and halt every vault of the log".into(),
                        format!("signers refuse a bundle with fewer than {wt} cosignatures of the vault's witnesses"),
                    ],
                    id,
                }
            }
        };
        injects.push(inject);
    }
    Ok(DrillPlan {
        vault: def.vault_id.clone(),
        vault_version: def.version,
        injects,
    })
}

/// Normalizes an answer: trimmed, lowercase, `y`/`n` for yes/no.
pub fn normalize_answer(answer: &str) -> String {
    let a = answer.trim().to_lowercase();
    match a.as_str() {
        "y" => "yes".into(),
        "n" => "no".into(),
        _ => a,
    }
}

impl Coordinator {
    /// Signs a drill and appends it to the log (leaf kind `drill`), after checking that its vault
    /// version is one the log holds and its times are not in the future.
    pub fn record_drill(&mut self, record: &DrillRecord, now: UnixTime) -> Result<ArtifactId> {
        record
            .validate()
            .map_err(|e| CoordinatorError::Refused(format!("drill record: {e}")))?;
        if record.finished > now {
            return Err(CoordinatorError::Refused(
                "drill record: it finishes in the future".into(),
            ));
        }
        self.transact(|c| {
            c.vault_version(&record.vault_id, record.vault_version)?;
            let mut env: Envelope = record.envelope();
            env.sign(c.identity.signing_key());
            let id = env.id();
            let entry = c.entry(&env, "drill", &record.vault_id, None, None, now);
            c.append(vec![entry])?;
            Ok(id)
        })
    }

    /// The drills recorded in the log, oldest first, with their ids and record times.
    pub fn drills(
        &self,
        vault_id: Option<&str>,
    ) -> Result<Vec<(ArtifactId, UnixTime, DrillRecord)>> {
        let mut out = Vec::new();
        for a in self
            .store()
            .artifacts_of_kind(airlock_core::ArtifactKind::DrillRecord.name(), vault_id)?
        {
            let env = Envelope::from_bytes(&a.bytes)?;
            let record: DrillRecord = env.open()?;
            let leaf = self.store().leaf(a.log_index)?;
            let at = airlock_core::LogRecord::from_bytes(&leaf)?.at;
            out.push((a.id, at, record));
        }
        out.sort_by_key(|(_, at, _)| *at);
        Ok(out)
    }
}

/// A drill's record from the plan and the team's answers, checked: every question answered with
/// one of its choices, no answer to a question the drill does not ask.
pub fn grade(
    plan: &DrillPlan,
    facilitator: &str,
    answers: &[(String, String, u64)],
    started: UnixTime,
    finished: UnixTime,
) -> Result<DrillRecord> {
    let mut out = Vec::new();
    for (inject, q) in plan.questions() {
        let (_, given, seconds) = answers.iter().find(|(id, ..)| *id == q.id).ok_or_else(|| {
            CoordinatorError::Refused(format!("question {} is not answered", q.id))
        })?;
        let given = normalize_answer(given);
        if !q.choices.contains(&given) {
            return Err(CoordinatorError::Refused(format!(
                "the answer {given:?} to question {} is not one of {}",
                q.id,
                q.choices.join(", ")
            )));
        }
        out.push(DrillAnswer {
            inject: inject.id.clone(),
            question: q.id.clone(),
            expected: q.expected.clone(),
            given,
            seconds: *seconds,
        });
    }
    if let Some((id, ..)) = answers
        .iter()
        .find(|(id, ..)| !plan.questions().any(|(_, q)| q.id == *id))
    {
        return Err(CoordinatorError::Refused(format!(
            "{id} is not a question of this drill"
        )));
    }
    let record = DrillRecord {
        vault_id: plan.vault.clone(),
        vault_version: plan.vault_version,
        facilitator: facilitator.trim().to_owned(),
        started,
        finished,
        answers: out,
    };
    record
        .validate()
        .map_err(|e| CoordinatorError::Refused(format!("drill record: {e}")))?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::vault::parse_rule;

    fn team() -> VaultDefinition {
        let signer = |name: &str, role: &str, seed: u8| airlock_core::SignerEntry {
            name: name.into(),
            role: role.into(),
            identity: airlock_core::PublicKey([seed; 32]),
            chain_key: String::new(),
            custody: "keystore".into(),
        };
        VaultDefinition {
            vault_id: "team".into(),
            version: 1,
            previous: None,
            chain: "none".into(),
            network: "main".into(),
            account: String::new(),
            coordinator: airlock_core::vault::CoordinatorRef {
                origin: "airlock.test/log".into(),
                key: airlock_core::PublicKey([99; 32]),
            },
            signers: vec![
                signer("alice", "ops", 1),
                signer("bob", "ops", 2),
                signer("carol", "ops", 3),
                signer("dave", "compliance", 4),
            ],
            threshold: 3,
            rules: vec![
                parse_rule("routine: max=1000 => 2 ops").unwrap(),
                parse_rule("large: => 2 ops, 1 compliance").unwrap(),
            ],
            created: 1_700_000_000,
            witnesses: Default::default(),
        }
    }

    /// The question `id` of a plan.
    fn question<'a>(plan: &'a DrillPlan, id: &str) -> &'a Question {
        plan.questions()
            .map(|(_, q)| q)
            .find(|q| q.id == id)
            .unwrap_or_else(|| panic!("no question {id}"))
    }

    #[test]
    fn expected_answers_follow_the_vaults_own_rules() {
        let def = team();
        let expected = |spec: InjectSpec, id: &str| {
            let plan = plan(&def, std::slice::from_ref(&spec)).unwrap();
            question(&plan, &format!("{spec}/{id}")).expected.clone()
        };
        // Two ops remain without alice, but no compliance signer without dave.
        assert_eq!(
            expected(InjectSpec::KeyLoss("alice".into()), "rule:routine"),
            "yes"
        );
        assert_eq!(
            expected(InjectSpec::KeyLoss("dave".into()), "rule:large"),
            "no"
        );
        assert_eq!(
            expected(InjectSpec::KeyLoss("dave".into()), "rotate"),
            "yes"
        );
        // One ops key alone meets neither rule, nor the threshold of 3.
        assert_eq!(
            expected(InjectSpec::StolenKey("bob".into()), "rule:routine"),
            "no"
        );
        assert_eq!(
            expected(InjectSpec::StolenKey("bob".into()), "change-vault"),
            "no"
        );
        assert_eq!(expected(InjectSpec::Coordinator, "new-signer"), "no");
        // The default drill loses dave (the one compliance signer: "large" unreachable).
        assert_eq!(default_injects(&def)[0], InjectSpec::KeyLoss("dave".into()));
    }

    #[test]
    fn witness_questions_follow_the_witness_quorum() {
        let witness = |name: &str, seed: u8| airlock_core::vault::WitnessKey {
            name: name.into(),
            key: airlock_core::PublicKey([seed; 32]),
        };
        for (threshold, fork_alone) in [(1, "yes"), (2, "no")] {
            let mut def = team();
            def.witnesses = airlock_core::vault::WitnessPolicy {
                witnesses: vec![witness("w1.example", 50), witness("w2.example", 51)],
                threshold,
            };
            let defaults = default_injects(&def);
            assert_eq!(
                defaults.last(),
                Some(&InjectSpec::Witness("w1.example".into()))
            );
            let plan = plan(&def, &defaults).unwrap();
            let needed = question(&plan, "coordinator/witnesses");
            assert_eq!(needed.expected, threshold.to_string());
            assert_eq!(needed.choices, ["0", "1", "2"]);
            assert_eq!(
                question(&plan, "witness:w1.example/fork").expected,
                fork_alone
            );
        }
        let e = plan(&team(), &[InjectSpec::Witness("w9".into())]).unwrap_err();
        assert!(e.to_string().contains("names no witness \"w9\""), "{e}");
    }

    #[test]
    fn a_single_signer_vault_is_rehearsed_for_its_one_key() {
        let mut def = team();
        def.signers.truncate(1);
        def.threshold = 1;
        def.rules = vec![parse_rule("all: => 1 ops").unwrap()];
        let defaults = default_injects(&def);
        assert!(
            defaults.contains(&InjectSpec::StolenKey("alice".into())),
            "{defaults:?}"
        );
        let plan = plan(&def, &defaults).unwrap();
        let expected = |id: &str| question(&plan, id).expected.clone();
        // The one key passes everything and can change the vault; nobody can rotate it out.
        assert_eq!(expected("stolen-key:alice/rule:all"), "yes");
        assert_eq!(expected("stolen-key:alice/change-vault"), "yes");
        assert_eq!(expected("key-loss:alice/rotate"), "no");
    }

    #[test]
    fn unknown_names_and_bad_answers_are_refused() {
        let def = team();
        let e = plan(&def, &[InjectSpec::KeyLoss("mallory".into())]).unwrap_err();
        assert!(e.to_string().contains("no signer \"mallory\""), "{e}");
        assert!("witness".parse::<InjectSpec>().is_err());
        assert!("stolen:bob".parse::<InjectSpec>().is_err());
        let p = plan(&def, &[InjectSpec::Coordinator]).unwrap();
        let mut answers: Vec<(String, String, u64)> = p
            .questions()
            .map(|(_, q)| (q.id.clone(), q.expected.clone(), 10))
            .collect();
        let r = grade(&p, "lead", &answers, 0, 100).unwrap();
        assert_eq!(r.correct(), r.answers.len());
        answers[0].1 = "maybe".into();
        let e = grade(&p, "lead", &answers, 0, 100).unwrap_err();
        assert!(e.to_string().contains("not one of yes, no"), "{e}");
        answers.pop();
        answers[0].1 = "Y".into();
        let e = grade(&p, "lead", &answers, 0, 100).unwrap_err();
        assert!(e.to_string().contains("is not answered"), "{e}");
    }
}
