//! The record of a tabletop drill: a team rehearsed how it would answer failures of its own
//! vault (a lost device, a stolen key, a compromised coordinator…), and this is what it answered,
//! what the real policy says the answer is, and how long each answer took. The coordinator signs
//! it and appends it to the log (leaf kind `drill`), so the exercise is as verifiable as a
//! payment and its timings show up in `airlock metrics`.
//!
//! This module is the format only (pure, no clock). It must never accept a record whose answers
//! cannot be told apart (two with one question id), whose times run backwards, or that is larger
//! than a drill needs.

use std::collections::BTreeSet;

use crate::UnixTime;
use crate::artifacts::ARTIFACT_FORMAT_VERSION;
use crate::cbor::Value;
use crate::envelope::{Artifact, ArtifactKind};
use crate::fields::{Fields, FormatError, MapBuilder, records};

/// Most answers one drill records.
pub const MAX_DRILL_ANSWERS: usize = 256;
/// Longest text field of a drill record.
pub const MAX_DRILL_TEXT: usize = 1024;

/// One question of the drill and how the team answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillAnswer {
    /// The failure the question belongs to, e.g. `key-loss:carol`.
    pub inject: String,
    /// A stable id, e.g. `key-loss:carol/rule:routine`.
    pub question: String,
    /// What the vault's real policy says.
    pub expected: String,
    /// What the team answered.
    pub given: String,
    /// How long the team took to answer.
    pub seconds: u64,
}

impl DrillAnswer {
    pub fn correct(&self) -> bool {
        self.given == self.expected
    }
}

/// A drill the team held on one vault version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillRecord {
    pub vault_id: String,
    pub vault_version: u64,
    /// Who ran the exercise.
    pub facilitator: String,
    pub started: UnixTime,
    pub finished: UnixTime,
    pub answers: Vec<DrillAnswer>,
}

impl DrillRecord {
    /// Answers that match the policy's.
    pub fn correct(&self) -> usize {
        self.answers.iter().filter(|a| a.correct()).count()
    }

    /// Checks what the format promises: bounded texts and counts, unique question ids, time
    /// running forwards.
    pub fn validate(&self) -> Result<(), String> {
        if self.answers.is_empty() || self.answers.len() > MAX_DRILL_ANSWERS {
            return Err(format!(
                "a drill records 1 to {MAX_DRILL_ANSWERS} answers, not {}",
                self.answers.len()
            ));
        }
        if self.finished < self.started {
            return Err("the drill finished before it started".into());
        }
        let texts = [&self.vault_id, &self.facilitator];
        if texts
            .iter()
            .any(|t| t.is_empty() || t.len() > MAX_DRILL_TEXT)
        {
            return Err(format!(
                "the vault id and the facilitator must be 1 to {MAX_DRILL_TEXT} bytes"
            ));
        }
        let mut ids = BTreeSet::new();
        for (i, a) in self.answers.iter().enumerate() {
            let fields = [&a.inject, &a.question, &a.expected, &a.given];
            if fields
                .iter()
                .any(|t| t.is_empty() || t.len() > MAX_DRILL_TEXT)
            {
                return Err(format!(
                    "answer {i}: inject, question, expected and given answers must be 1 to {MAX_DRILL_TEXT} bytes"
                ));
            }
            if !ids.insert(a.question.as_str()) {
                return Err(format!("question {:?} is answered twice", a.question));
            }
        }
        let total: u64 = self
            .answers
            .iter()
            .try_fold(0u64, |sum, a| sum.checked_add(a.seconds))
            .ok_or("the answers' seconds overflow")?;
        if total > self.finished - self.started {
            return Err(format!(
                "the answers took {total} s, longer than the drill ({} s)",
                self.finished - self.started
            ));
        }
        Ok(())
    }
}

impl Artifact for DrillRecord {
    const KIND: ArtifactKind = ArtifactKind::DrillRecord;

    fn to_value(&self) -> Value {
        let answers = self
            .answers
            .iter()
            .map(|a| {
                MapBuilder::new()
                    .text(1, &a.inject)
                    .text(2, &a.question)
                    .text(3, &a.expected)
                    .text(4, &a.given)
                    .uint(5, a.seconds)
                    .build()
            })
            .collect();
        MapBuilder::new()
            .uint(0, ARTIFACT_FORMAT_VERSION)
            .text(1, &self.vault_id)
            .uint(2, self.vault_version)
            .text(3, &self.facilitator)
            .uint(4, self.started)
            .uint(5, self.finished)
            .array(6, answers)
            .build()
    }

    fn from_value(value: Value) -> Result<Self, FormatError> {
        let mut f = Fields::open(value, "drill record")?;
        f.version(ARTIFACT_FORMAT_VERSION)?;
        let vault_id = f.text(1, "vault id")?;
        let vault_version = f.uint(2, "vault version")?;
        let facilitator = f.text(3, "facilitator")?;
        let started = f.uint(4, "started")?;
        let finished = f.uint(5, "finished")?;
        let mut answers = Vec::new();
        for mut a in records(f.array(6, "answers")?, "drill answer")? {
            answers.push(DrillAnswer {
                inject: a.text(1, "inject")?,
                question: a.text(2, "question")?,
                expected: a.text(3, "expected")?,
                given: a.text(4, "given")?,
                seconds: a.uint(5, "seconds")?,
            });
            a.finish()?;
        }
        let record = DrillRecord {
            vault_id,
            vault_version,
            facilitator,
            started,
            finished,
            answers,
        };
        record.validate().map_err(|e| f.error(e))?;
        f.finish()?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DrillRecord {
        DrillRecord {
            vault_id: "team".into(),
            vault_version: 2,
            facilitator: "ops lead".into(),
            started: 1_000,
            finished: 1_600,
            answers: vec![
                DrillAnswer {
                    inject: "key-loss:carol".into(),
                    question: "key-loss:carol/rule:routine".into(),
                    expected: "yes".into(),
                    given: "yes".into(),
                    seconds: 120,
                },
                DrillAnswer {
                    inject: "key-loss:carol".into(),
                    question: "key-loss:carol/rotate".into(),
                    expected: "yes".into(),
                    given: "no".into(),
                    seconds: 300,
                },
            ],
        }
    }

    #[test]
    fn a_drill_record_round_trips_and_scores() {
        let r = sample();
        let back = DrillRecord::from_bytes(&r.to_bytes()).unwrap();
        assert_eq!(back, r);
        assert_eq!(r.correct(), 1);
    }

    #[test]
    fn a_record_that_breaks_the_format_is_refused_with_the_reason() {
        let mut twice = sample();
        twice.answers[1].question = twice.answers[0].question.clone();
        let e = DrillRecord::from_bytes(&twice.to_bytes()).unwrap_err();
        assert!(e.to_string().contains("answered twice"), "{e}");

        let mut backwards = sample();
        backwards.finished = 999;
        let e = DrillRecord::from_bytes(&backwards.to_bytes()).unwrap_err();
        assert!(e.to_string().contains("finished before it started"), "{e}");

        let mut slow = sample();
        slow.answers[0].seconds = 10_000;
        let e = DrillRecord::from_bytes(&slow.to_bytes()).unwrap_err();
        assert!(e.to_string().contains("longer than the drill"), "{e}");

        let mut empty = sample();
        empty.answers.clear();
        assert!(DrillRecord::from_bytes(&empty.to_bytes()).is_err());
    }
}
