//! `drill_answers`: `airlock drill run --answers FILE`, the answers of a drill held on paper
//! (JSON through `serde_json`, then Airlock's own checks in `airlock_core::drill::parse_answers`).
//!
//! Checks: reading never panics on any text; what it accepts is within what a drill record can
//! hold (at most `MAX_DRILL_ANSWERS` answers, texts of 1 to `MAX_DRILL_TEXT` bytes, at most a
//! week per answer, no question answered twice), so grading it cannot make a record the format
//! refuses for any reason but the plan's own.

use airlock_core::drill::{MAX_DRILL_ANSWERS, MAX_DRILL_TEXT, parse_answers};

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((facilitator, answers)) = parse_answers(text) else {
        return;
    };
    let fits = |s: &str| !s.is_empty() && s.len() <= MAX_DRILL_TEXT;
    assert!(facilitator.as_deref().is_none_or(fits));
    assert!(answers.len() <= MAX_DRILL_ANSWERS);
    for (i, (question, answer, seconds)) in answers.iter().enumerate() {
        assert!(fits(question) && fits(answer), "answer {i}");
        assert!(*seconds <= 7 * 86_400);
        assert!(
            answers[..i].iter().all(|(q, ..)| q != question),
            "{question} twice"
        );
    }
}
