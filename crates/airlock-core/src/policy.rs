//! The policy engine: which rule of a vault applies to an intent, and why the others do not.
//!
//! Rules are tried in order; the first whose conditions all hold applies. Amount windows need the
//! amount already approved in the window, which the caller supplies from its own records (the
//! coordinator from its database, a signer from its own journal), so the same code answers for both.
//!
//! This module must never consult a clock or storage itself, and never pick a rule whose conditions
//! do not all hold.

use crate::artifacts::Intent;
use crate::vault::{Condition, Rule, VaultDefinition};
use crate::{CoreError, UnixTime};

/// Day of the week of a Unix time, 0 = Monday (1970-01-01 was a Thursday).
pub fn weekday(t: UnixTime) -> u8 {
    (((t / 86_400) + 3) % 7) as u8
}

/// Minute of the day (UTC).
pub fn minute_of_day(t: UnixTime) -> u16 {
    ((t % 86_400) / 60) as u16
}

/// Checks one rule's conditions; `Err` says which condition fails and why.
///
/// `window_spent(secs)` returns the amount already approved in the vault in the last `secs` seconds.
pub fn check_conditions(
    rule: &Rule,
    intent: &Intent,
    now: UnixTime,
    window_spent: &dyn Fn(u64) -> u128,
) -> Result<(), String> {
    let total = intent.total().map_err(|e| e.to_string())?;
    for c in &rule.conditions {
        match c {
            Condition::MaxAmount(max) => {
                if total > *max {
                    return Err(format!("amount {total} is over the limit of {max}"));
                }
            }
            Condition::WindowAmount { limit, window_secs } => {
                let spent = window_spent(*window_secs);
                let after = spent.saturating_add(total);
                if after > *limit {
                    return Err(format!(
                        "{spent} already approved in the last {window_secs}s plus {total} is over the window limit of {limit}"
                    ));
                }
            }
            Condition::Destinations(allowed) => {
                if let Some(t) = intent
                    .transfers
                    .iter()
                    .find(|t| !allowed.iter().any(|a| a == &t.destination))
                {
                    return Err(format!(
                        "destination {} is not on the allowlist",
                        t.destination
                    ));
                }
            }
            Condition::TimeWindow {
                days,
                start_minute,
                end_minute,
            } => {
                let day = weekday(now);
                let minute = minute_of_day(now);
                if days & (1 << day) == 0 {
                    return Err("today is not an allowed day".into());
                }
                if minute < *start_minute || minute >= *end_minute {
                    return Err(format!(
                        "{:02}:{:02} UTC is outside the allowed hours",
                        minute / 60,
                        minute % 60
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Selects the first rule whose conditions hold. The error lists why each rule did not apply.
pub fn select_rule<'a>(
    vault: &'a VaultDefinition,
    intent: &Intent,
    now: UnixTime,
    window_spent: &dyn Fn(u64) -> u128,
) -> Result<&'a Rule, CoreError> {
    if intent.transfers.is_empty() && intent.memo.trim().is_empty() {
        return Err(CoreError::Policy(
            "the proposal has no transfers and no memo: nothing to decide".into(),
        ));
    }
    let mut reasons = Vec::new();
    for rule in &vault.rules {
        match check_conditions(rule, intent, now, window_spent) {
            Ok(()) => return Ok(rule),
            Err(why) => reasons.push(format!("rule {:?}: {why}", rule.name)),
        }
    }
    Err(CoreError::Policy(format!(
        "no rule of vault {:?} v{} permits this proposal ({})",
        vault.vault_id,
        vault.version,
        reasons.join("; ")
    )))
}

/// Finds a rule by name.
/// The rule `name` of `vault`. The reserved [`crate::halt::RESUME_RULE`] is the vault's own
/// threshold of signers of any role (the quorum that changes the vault), without conditions.
pub fn rule_named(vault: &VaultDefinition, name: &str) -> Result<Rule, CoreError> {
    if name == crate::halt::RESUME_RULE {
        return Ok(Rule {
            name: name.to_owned(),
            conditions: Vec::new(),
            requirements: vec![crate::vault::Requirement {
                role: crate::vault::ANY_ROLE.to_owned(),
                count: vault.threshold,
            }],
            expiry_secs: crate::vault::DEFAULT_EXPIRY_SECS,
        });
    }
    vault
        .rules
        .iter()
        .find(|r| r.name == name)
        .cloned()
        .ok_or_else(|| {
            CoreError::Policy(format!(
                "vault {:?} v{} has no rule named {name:?}",
                vault.vault_id, vault.version
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::Transfer;
    use crate::vault::parse_rule;
    use crate::vault::tests::sample_vault;

    fn intent(dest: &str, amount: u128) -> Intent {
        Intent {
            transfers: vec![Transfer {
                destination: dest.into(),
                amount,
                asset: String::new(),
            }],
            memo: String::new(),
        }
    }

    const MONDAY_NOON: u64 = 1_700_438_400; // 2023-11-20 00:00 UTC is a Monday
    const NOTHING: &dyn Fn(u64) -> u128 = &|_| 0;

    #[test]
    fn weekdays() {
        assert_eq!(weekday(0), 3); // Thursday
        assert_eq!(weekday(MONDAY_NOON), 0);
    }

    #[test]
    fn first_matching_rule_applies() {
        let v = sample_vault();
        assert_eq!(
            select_rule(&v, &intent("dest-a", 500), 0, NOTHING)
                .unwrap()
                .name,
            "routine"
        );
        assert_eq!(
            select_rule(&v, &intent("dest-a", 5000), 0, NOTHING)
                .unwrap()
                .name,
            "default"
        );
        assert_eq!(
            select_rule(&v, &intent("elsewhere", 5), 0, NOTHING)
                .unwrap()
                .name,
            "default"
        );
    }

    #[test]
    fn no_rule_explains_each_failure() {
        let mut v = sample_vault();
        v.rules.pop();
        let err = select_rule(&v, &intent("elsewhere", 5000), 0, NOTHING)
            .unwrap_err()
            .to_string();
        assert!(err.contains("over the limit of 1000"), "{err}");
    }

    #[test]
    fn windows_and_hours() {
        let mut v = sample_vault();
        v.rules.insert(
            0,
            parse_rule("daily: window=1000/24h, days=mon-fri, hours=09:00-17:00 => 1 ops").unwrap(),
        );
        let nine_thirty = MONDAY_NOON + 9 * 3600 + 1800;
        assert_eq!(
            select_rule(&v, &intent("x", 400), nine_thirty, NOTHING)
                .unwrap()
                .name,
            "daily"
        );
        let spent: &dyn Fn(u64) -> u128 = &|secs| if secs == 86_400 { 700 } else { 0 };
        assert_eq!(
            select_rule(&v, &intent("x", 400), nine_thirty, spent)
                .unwrap()
                .name,
            "default"
        );
        let saturday = MONDAY_NOON + 5 * 86_400 + 10 * 3600;
        assert_eq!(
            select_rule(&v, &intent("x", 400), saturday, NOTHING)
                .unwrap()
                .name,
            "default"
        );
        let evening = MONDAY_NOON + 17 * 3600;
        assert_eq!(
            select_rule(&v, &intent("x", 400), evening, NOTHING)
                .unwrap()
                .name,
            "default"
        );
    }
}
