//! `airlock drill`: a tabletop exercise on the team's real vault. `plan` prints the facilitator's
//! sheet (each failure, its questions, the answers the vault's policy gives and why, the controls
//! that act); `run` asks the team, times each answer, debriefs, and records the outcome in the
//! log (a `drill` leaf) so `airlock metrics` shows it; `list` shows the drills recorded.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use airlock_cli_support::{CliError, CliResult, now, print_json};
use airlock_coordinator::drill::{
    DrillPlan, GivenAnswers, InjectSpec, grade, normalize_answer, parse_answers, plan,
};
use airlock_coordinator::{Coordinator, CoordinatorHome};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum DrillCommand {
    /// The facilitator's sheet: every failure, its questions, the policy's answers and why.
    Plan(DrillTarget),
    /// Hold the drill: ask each question (or read the answers from --answers), time the answers,
    /// debrief, and record the outcome in the log.
    Run {
        #[command(flatten)]
        target: DrillTarget,
        /// Who runs the exercise (recorded).
        #[arg(long, default_value = "facilitator")]
        facilitator: String,
        /// The team's answers as JSON, for a drill held on paper or by a script:
        /// {"facilitator": "…", "answers": [{"question": ID, "answer": "yes", "seconds": 240}]}
        /// (question ids from `airlock drill plan --json`).
        #[arg(long)]
        answers: Option<PathBuf>,
        /// Grade and debrief without recording anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// The drills recorded in the log.
    List {
        #[arg(long)]
        vault: Option<String>,
    },
}

#[derive(Args)]
pub struct DrillTarget {
    /// The vault (its current version); may be left out when the home has one vault.
    #[arg(long)]
    vault: Option<String>,
    /// A failure to rehearse, repeatable: key-loss:SIGNER, stolen-key:SIGNER, coordinator,
    /// witness:NAME. Without it: the loss that hurts the policy most, the key that alone passes
    /// the most, a compromised coordinator and (when the vault names witnesses) one
    /// equivocating witness.
    #[arg(long = "inject")]
    injects: Vec<String>,
}

fn the_vault(c: &Coordinator, vault: Option<&str>) -> CliResult<String> {
    if let Some(v) = vault {
        return Ok(v.to_owned());
    }
    match &c.vault_ids()?[..] {
        [one] => Ok(one.clone()),
        [] => Err(CliError::new("this home has no vault yet")),
        many => Err(CliError::new(format!(
            "this home has {} vaults: name one with --vault ({})",
            many.len(),
            many.join(", ")
        ))),
    }
}

fn make_plan(c: &Coordinator, target: &DrillTarget) -> CliResult<DrillPlan> {
    let vault = the_vault(c, target.vault.as_deref())?;
    let (def, _) = c.vault_latest(&vault)?;
    let specs = if target.injects.is_empty() {
        airlock_coordinator::drill::default_injects(&def)
    } else {
        target
            .injects
            .iter()
            .map(|s| s.parse::<InjectSpec>().map_err(CliError::new))
            .collect::<CliResult<Vec<_>>>()?
    };
    Ok(plan(&def, &specs)?)
}

pub fn run(home: &Path, json: bool, command: DrillCommand) -> CliResult {
    let mut c = CoordinatorHome::open(home)?.coordinator()?;
    match command {
        DrillCommand::Plan(target) => {
            let plan = make_plan(&c, &target)?;
            if json {
                print_json(&serde_json::to_value(&plan)?);
            } else {
                print_sheet(&plan);
            }
            Ok(())
        }
        DrillCommand::Run {
            target,
            facilitator,
            answers,
            dry_run,
        } => {
            let plan = make_plan(&c, &target)?;
            let started = Instant::now();
            let (facilitator, given) = match &answers {
                Some(file) => read_answers(file, &facilitator)?,
                None => (facilitator, ask(&plan)?),
            };
            let finished = now()?;
            let total: u64 = given.iter().map(|(_, _, s)| *s).sum();
            let elapsed = if answers.is_some() {
                total
            } else {
                started.elapsed().as_secs().max(total)
            };
            let record = grade(
                &plan,
                &facilitator,
                &given,
                finished.saturating_sub(elapsed),
                finished,
            )?;
            let id = if dry_run {
                None
            } else {
                Some(c.record_drill(&record, finished)?)
            };
            if json {
                let mut out = airlock_cli_support::inspect::drill_json(&record);
                out["id"] = id.map(|i| json!(i.to_hex())).unwrap_or(Value::Null);
                out["recorded"] = json!(id.is_some());
                out["debrief"] = serde_json::to_value(&plan)?;
                print_json(&out);
            } else {
                debrief(&plan, &record);
                match id {
                    Some(id) => println!(
                        "Recorded in the log as drill {} ({}); `airlock metrics` counts it.",
                        id.short(),
                        id.to_hex()
                    ),
                    None => println!("Not recorded (--dry-run)."),
                }
            }
            Ok(())
        }
        DrillCommand::List { vault } => {
            let drills = c.drills(vault.as_deref())?;
            if json {
                print_json(&json!(
                    drills
                        .iter()
                        .map(|(id, at, d)| {
                            let mut v = airlock_cli_support::inspect::drill_json(d);
                            v["id"] = json!(id.to_hex());
                            v["recorded_at"] = json!(at);
                            v
                        })
                        .collect::<Vec<_>>()
                ));
            } else if drills.is_empty() {
                println!("No drill is recorded yet (`airlock drill run`).");
            } else {
                for (id, at, d) in &drills {
                    println!(
                        "{}  {}  vault {} v{}  by {}: {}/{} answers matched the policy in {} min",
                        id.short(),
                        airlock_core::format_time(*at),
                        d.vault_id,
                        d.vault_version,
                        d.facilitator,
                        d.correct(),
                        d.answers.len(),
                        (d.finished - d.started).div_ceil(60)
                    );
                }
            }
            Ok(())
        }
    }
}

fn print_sheet(plan: &DrillPlan) {
    println!(
        "Drill on vault {} v{} (facilitator's sheet: the answers are the vault's policy's)",
        plan.vault, plan.vault_version
    );
    for inject in &plan.injects {
        println!();
        println!("== {} ==", inject.id);
        println!("{}", inject.situation);
        for q in &inject.questions {
            println!("  {} [{}]", q.text, q.choices.join("/"));
            println!("    answer: {} ({})", q.expected, q.why);
            println!("    id: {}", q.id);
        }
        println!("  Controls that act:");
        for c in &inject.controls {
            println!("    - {c}");
        }
    }
}

/// Asks every question on the terminal (or reads the answers, one per line, from stdin), timing
/// each; an answer that is not a choice is asked again (on a terminal) or refused.
fn ask(plan: &DrillPlan) -> CliResult<GivenAnswers> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut lines = stdin.lock().lines();
    let mut err = std::io::stderr();
    let mut out = Vec::new();
    for inject in &plan.injects {
        writeln!(err, "\n== {} ==\n{}", inject.id, inject.situation)?;
        for q in &inject.questions {
            let asked = Instant::now();
            let answer = loop {
                write!(err, "{} [{}] ", q.text, q.choices.join("/"))?;
                err.flush()?;
                let line = match lines.next() {
                    Some(line) => line?,
                    None => {
                        return Err(CliError::new(format!(
                            "the answers ended before question {} (give one answer per line, or --answers FILE)",
                            q.id
                        )));
                    }
                };
                let a = normalize_answer(&line);
                if q.choices.contains(&a) {
                    break a;
                }
                if !interactive {
                    return Err(CliError::new(format!(
                        "the answer {a:?} to question {} is not one of {}",
                        q.id,
                        q.choices.join(", ")
                    )));
                }
                writeln!(err, "  (answer one of: {})", q.choices.join(", "))?;
            };
            out.push((q.id.clone(), answer, asked.elapsed().as_secs()));
        }
    }
    Ok(out)
}

/// Reads an answers file (`airlock_core::drill::parse_answers`): the facilitator it names, or
/// `facilitator`, and the answers.
fn read_answers(file: &Path, facilitator: &str) -> CliResult<(String, GivenAnswers)> {
    let what = file.display();
    let bytes = airlock_transport::read_bounded(file, airlock_core::drill::MAX_ANSWERS_FILE as u64)
        .map_err(|e| CliError::new(format!("{what}: {e}")))?;
    let text =
        String::from_utf8(bytes).map_err(|_| CliError::new(format!("{what}: not UTF-8 text")))?;
    let (named, answers) =
        parse_answers(&text).map_err(|e| CliError::new(format!("{what}: {e}")))?;
    Ok((named.unwrap_or_else(|| facilitator.to_owned()), answers))
}

fn debrief(plan: &DrillPlan, record: &airlock_core::drill::DrillRecord) {
    println!(
        "Drill on vault {} v{}: {}/{} answers matched the policy",
        record.vault_id,
        record.vault_version,
        record.correct(),
        record.answers.len()
    );
    for inject in &plan.injects {
        println!();
        println!("== {} ==", inject.id);
        for q in &inject.questions {
            let Some(a) = record.answers.iter().find(|a| a.question == q.id) else {
                continue;
            };
            let mark = if a.correct() { "ok   " } else { "WRONG" };
            println!(
                "  {mark} {} -> {} ({} s){}",
                q.text,
                a.given,
                a.seconds,
                if a.correct() {
                    String::new()
                } else {
                    format!("; the policy says {}", a.expected)
                }
            );
            println!("        {}", q.why);
        }
        println!("  Controls that act:");
        for c in &inject.controls {
            println!("    - {c}");
        }
    }
    println!();
}
