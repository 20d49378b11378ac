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

/// The team's answers: (question id, answer, seconds taken).
pub type GivenAnswers = Vec<(String, String, u64)>;

/// Longest answers file read.
pub const MAX_ANSWERS_FILE: usize = 1024 * 1024;

/// Reads an answers file (a drill held on paper, or by a script):
/// `{"facilitator"?: TEXT, "answers": [{"question": ID, "answer": TEXT, "seconds": N}]}`.
/// Unknown fields, a question answered twice, more answers than a drill holds, texts longer than
/// a record allows and times over a week are refused with where they are.
pub fn parse_answers(text: &str) -> Result<(Option<String>, GivenAnswers), String> {
    use serde_json::Value;
    if text.len() > MAX_ANSWERS_FILE {
        return Err(format!("larger than {MAX_ANSWERS_FILE} bytes"));
    }
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("expected a JSON object")?;
    if let Some(k) = obj.keys().find(|k| *k != "facilitator" && *k != "answers") {
        return Err(format!(
            "unknown field {k:?} (expected facilitator, answers)"
        ));
    }
    let text_ok = |s: &str| !s.is_empty() && s.len() <= MAX_DRILL_TEXT;
    let facilitator = match obj.get("facilitator") {
        None => None,
        Some(Value::String(s)) if text_ok(s) => Some(s.clone()),
        Some(_) => {
            return Err(format!(
                "\"facilitator\" must be text of 1 to {MAX_DRILL_TEXT} bytes"
            ));
        }
    };
    let items = obj
        .get("answers")
        .and_then(Value::as_array)
        .ok_or("\"answers\" must be an array")?;
    if items.len() > MAX_DRILL_ANSWERS {
        return Err(format!(
            "{} answers; a drill holds at most {MAX_DRILL_ANSWERS}",
            items.len()
        ));
    }
    let mut out: GivenAnswers = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let bad = |m: &str| format!("answers[{i}]: {m}");
        let o = item.as_object().ok_or_else(|| bad("expected an object"))?;
        if let Some(k) = o
            .keys()
            .find(|k| !["question", "answer", "seconds"].contains(&k.as_str()))
        {
            return Err(bad(&format!(
                "unknown field {k:?} (expected question, answer, seconds)"
            )));
        }
        let field = |name: &str| {
            o.get(name)
                .and_then(Value::as_str)
                .filter(|s| text_ok(s))
                .ok_or_else(|| {
                    bad(&format!(
                        "{name:?} must be text of 1 to {MAX_DRILL_TEXT} bytes"
                    ))
                })
        };
        let question = field("question")?;
        let answer = field("answer")?;
        let seconds = o
            .get("seconds")
            .and_then(Value::as_u64)
            .filter(|s| *s <= 7 * 86_400)
            .ok_or_else(|| bad("\"seconds\" must be a whole number of seconds, at most a week"))?;
        if out.iter().any(|(q, _, _)| q == question) {
            return Err(bad(&format!("question {question:?} is answered twice")));
        }
        out.push((question.to_owned(), answer.to_owned(), seconds));
    }
    Ok((facilitator, out))
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
    fn answers_files_are_read_strictly() {
        let (who, answers) = parse_answers(
            r#"{"facilitator": "lead", "answers": [{"question": "q1", "answer": "yes", "seconds": 30}]}"#,
        )
        .unwrap();
        assert_eq!(who.as_deref(), Some("lead"));
        assert_eq!(answers, vec![("q1".into(), "yes".into(), 30)]);
        for (text, needle) in [
            ("[]", "expected a JSON object"),
            (r#"{"answers": [], "score": 1}"#, "unknown field \"score\""),
            (
                r#"{"answers": [{"question": "q", "answer": "", "seconds": 1}]}"#,
                "\"answer\" must be text",
            ),
            (
                r#"{"answers": [{"question": "q", "answer": "y", "seconds": 1e9}]}"#,
                "\"seconds\" must be",
            ),
            (
                r#"{"answers": [{"question": "q", "answer": "y", "seconds": 1}, {"question": "q", "answer": "n", "seconds": 1}]}"#,
                "answered twice",
            ),
            ("{", "not JSON"),
        ] {
            let e = parse_answers(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
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
