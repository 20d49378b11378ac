//! `sim_scenario`: `airlock sim`'s scenario files (TOML through the `toml` crate, then
//! Airlock's own checks), as `Scenario::parse` meets a team's file.
//!
//! Checks: parsing never panics on any text; what it accepts satisfies every bound the
//! simulation relies on (so a run cannot divide by zero, overflow a delay or look up a signer
//! it does not have).

use airlock_sim::{Inject, Scenario};

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = Scenario::parse(text) else {
        return;
    };
    assert!(s.days > 0.0 && s.days <= 366.0, "days {}", s.days);
    let signers = s.signers();
    assert!(!signers.is_empty() && signers.len() <= 20);
    assert!(s.team.threshold >= 1 && s.team.threshold as usize <= signers.len());
    assert!(s.load.proposals_per_day >= 1 && s.load.max_amount >= 1);
    let [low, high] = s.load.decision_minutes;
    assert!(low <= high && high <= 7 * 24 * 60);
    assert!(!s.load.payees.is_empty() && s.load.reject_per_mille <= 1000);
    for inject in &s.injects {
        assert!((0.0..s.days * 24.0).contains(&inject.at_hours()));
        if let Some(name) = inject.signer() {
            assert!(signers.iter().any(|(n, _)| n == name), "unknown {name}");
        }
        if let Inject::CompromisedSigner {
            attacks_per_day, ..
        }
        | Inject::CompromisedCoordinator {
            attacks_per_day, ..
        }
        | Inject::EquivocatingWitness {
            attacks_per_day, ..
        } = inject
        {
            assert!(*attacks_per_day >= 1);
        }
        if let Inject::CompromisedCoordinator { .. } | Inject::EquivocatingWitness { .. } = inject {
            let first = inject.first_attack_hours();
            assert!(first > 0.0 && first.is_finite());
        }
        if let Inject::EquivocatingWitness { witness, .. } = inject {
            assert!(
                s.team.witness_names().contains(witness),
                "unknown {witness}"
            );
        }
    }
    let wt = s.team.witness_threshold();
    assert!(s.team.witnesses <= 16);
    assert!(if s.team.witnesses == 0 {
        wt == 0
    } else {
        (1..=s.team.witnesses).contains(&wt)
    });
}
