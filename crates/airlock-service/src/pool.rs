//! Coordinators for request handlers: a pool of open coordinators over one home (each its own
//! database connection, at most [`MAX_OPEN`] at once: a request beyond that waits for one to be
//! given back), a gate that lets one write through at a time within this process (other
//! processes are kept out by the database's write lock), and the decision writer that commits
//! concurrent uploads together.
//!
//! Group commit: decisions that arrive while a write is in progress are checked and appended in
//! one transaction (one fsync for many). If that batch is refused as a whole — one bad or
//! conflicting decision refuses all — each is retried alone, so every upload gets the answer it
//! would have got by itself. Either way each decision is validated inside the transaction that
//! appends it, and a caller hears "accepted" only after the commit.
//!
//! The writer is a pipeline of two threads: a checker runs a batch's snapshot check (signatures,
//! chain material: [`Coordinator::precheck_decisions`]) while the committer records the batch
//! before it ([`Coordinator::record_prechecked_decisions`], which checks everything again in its
//! transaction but the chain material). At most one checked batch waits for the committer.
//!
//! This module must never hand one coordinator to two threads, never answer a decision before
//! its transaction committed, and never drop a queued decision without an answer.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use airlock_coordinator::{Coordinator, CoordinatorHome, Result};
use airlock_core::lifecycle::Status;
use airlock_core::{ArtifactId, Envelope, UnixTime};

/// Most coordinators (database connections) open at once; all are kept once opened.
pub const MAX_OPEN: usize = 24;
/// Most decisions committed in one transaction.
const MAX_BATCH: usize = 256;

/// The answer to one decision upload.
pub type DecisionOutcome = Result<(ArtifactId, Status)>;

/// The coordinators not in use, and how many are open in all.
struct Idle {
    coordinators: Vec<Coordinator>,
    open: usize,
}

struct DecisionJob {
    envelope: Envelope,
    reply: tokio::sync::oneshot::Sender<DecisionOutcome>,
}

pub struct Pool {
    home: PathBuf,
    idle: Mutex<Idle>,
    returned: Condvar,
    write_gate: Mutex<()>,
    /// One chain sync at a time: syncs write the home's chain state files, never the log.
    sync_gate: Mutex<()>,
    decisions: Mutex<Option<mpsc::Sender<DecisionJob>>>,
}

impl Pool {
    pub fn open(home: &Path) -> Result<Arc<Pool>> {
        let first = CoordinatorHome::open(home)?.coordinator()?;
        let pool = Arc::new(Pool {
            home: home.to_path_buf(),
            idle: Mutex::new(Idle {
                coordinators: vec![first],
                open: 1,
            }),
            returned: Condvar::new(),
            write_gate: Mutex::new(()),
            sync_gate: Mutex::new(()),
            decisions: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel();
        let (checked_tx, checked_rx) = mpsc::sync_channel(1);
        *pool.decisions.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        let started = |e: std::io::Error| {
            airlock_coordinator::CoordinatorError::Setup(format!(
                "cannot start the decision writer: {e}"
            ))
        };
        let checker = Arc::clone(&pool);
        std::thread::Builder::new()
            .name("airlock-check".into())
            .spawn(move || checker.decision_checker(rx, checked_tx))
            .map_err(started)?;
        let committer = Arc::clone(&pool);
        std::thread::Builder::new()
            .name("airlock-decisions".into())
            .spawn(move || committer.decision_committer(checked_rx))
            .map_err(started)?;
        Ok(pool)
    }

    /// The coordinator home this pool serves.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// An idle coordinator, a new one while fewer than [`MAX_OPEN`] are open, or else the next
    /// one given back.
    fn take(&self) -> Result<Coordinator> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(c) = idle.coordinators.pop() {
                return Ok(c);
            }
            if idle.open < MAX_OPEN {
                idle.open += 1;
                drop(idle);
                let opened = CoordinatorHome::open(&self.home).and_then(|h| h.coordinator());
                if opened.is_err() {
                    self.forget_one();
                }
                return opened;
            }
            idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give_back(&self, c: Coordinator) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.coordinators.push(c);
        drop(idle);
        self.returned.notify_one();
    }

    /// A coordinator taken will not come back (it failed to open, or its user panicked).
    fn forget_one(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.open -= 1;
        drop(idle);
        self.returned.notify_one();
    }

    /// Runs `f` on a coordinator of the pool (blocking: call from a blocking thread). Reads in
    /// `f` that must agree with each other go through [`Coordinator::read`].
    pub fn with<T>(&self, f: impl FnOnce(&mut Coordinator) -> Result<T>) -> Result<T> {
        let mut lease = Lease {
            pool: self,
            coordinator: Some(self.take()?),
        };
        f(lease.coordinator.as_mut().expect("leased"))
    }

    /// Runs a write: one at a time within this process, each a coordinator transition.
    pub fn write<T>(&self, f: impl FnOnce(&mut Coordinator) -> Result<T>) -> Result<T> {
        let _gate = self.write_gate.lock().unwrap_or_else(|p| p.into_inner());
        self.with(f)
    }

    /// Runs a write made for a member, in one transaction with the check that lets it:
    /// `authorize` names the member (or refuses; an empty name records nobody), then `f` runs with each entry it appends
    /// recording that member. The coordinator goes back to the pool with no actor set.
    pub fn write_as<T>(
        &self,
        authorize: impl FnOnce(&Coordinator) -> Result<String>,
        f: impl FnOnce(&mut Coordinator, &str) -> Result<T>,
    ) -> Result<T> {
        self.write(|c| {
            c.transact(|c| {
                let actor = authorize(c)?;
                c.set_actor((!actor.is_empty()).then(|| actor.clone()));
                let out = f(c, &actor);
                c.set_actor(None);
                out
            })
        })
    }

    /// Syncs a vault's chain state from its node ([`Coordinator::sync_vault`]), one sync at a
    /// time in this process (the home's lock keeps the CLI's syncs out while the service runs).
    pub fn sync_vault(&self, vault_id: &str) -> Result<serde_json::Value> {
        let _gate = self.sync_gate.lock().unwrap_or_else(|p| p.into_inner());
        let now = now()?;
        self.with(|c| c.sync_vault(vault_id, now))
    }

    /// Queues a decision for the writer and waits (asynchronously) for its committed outcome.
    pub async fn submit_decision(&self, envelope: Envelope) -> DecisionOutcome {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|tx| tx.send(DecisionJob { envelope, reply }).is_ok())
            .unwrap_or(false);
        if !sent {
            return Err(shutting_down());
        }
        answer.await.unwrap_or_else(|_| Err(shutting_down()))
    }

    /// Stops the decision writer once the queued decisions are answered.
    pub fn close(&self) {
        self.decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Forms batches of the queued decisions and runs their snapshot check, handing each to the
    /// committer with the check's verdict.
    fn decision_checker(
        &self,
        jobs: mpsc::Receiver<DecisionJob>,
        checked: mpsc::SyncSender<CheckedBatch>,
    ) {
        while let Ok(first) = jobs.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let at = now();
            let passed = match &at {
                Ok(now) => {
                    let envelopes: Vec<Envelope> =
                        batch.iter().map(|j| j.envelope.clone()).collect();
                    // A panic here is a failed check: the committer then takes each alone.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.with(|c| c.precheck_decisions(&envelopes, *now))
                    }))
                    .is_ok_and(|r| r.is_ok())
                }
                _ => false,
            };
            if checked.send(CheckedBatch { batch, at, passed }).is_err() {
                return;
            }
        }
    }

    /// Records checked batches; a batch that failed its check (or whose recording is refused as
    /// a whole) is submitted decision by decision.
    fn decision_committer(&self, batches: mpsc::Receiver<CheckedBatch>) {
        while let Ok(checked) = batches.recv() {
            // A panic in one batch must not stop the writer: its callers hear "shutting down"
            // (their reply channels close) and later uploads are served.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.commit_decisions(checked)
            }))
            .is_err()
            {
                tracing::error!("the decision writer recovered from a panic");
            }
        }
    }

    fn commit_decisions(&self, checked: CheckedBatch) {
        let CheckedBatch { batch, at, passed } = checked;
        let now = match at {
            Ok(now) => now,
            Err(e) => {
                for job in batch {
                    let _ = job.reply.send(Err(clone_error(&e)));
                }
                return;
            }
        };
        if passed {
            let envelopes: Vec<Envelope> = batch.iter().map(|j| j.envelope.clone()).collect();
            if let Ok(outcomes) = self.write(|c| c.record_prechecked_decisions(&envelopes, now))
                && outcomes.len() == batch.len()
            {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
                return;
            }
        }
        for job in batch {
            let outcome = self
                .write(|c| c.submit_decisions(std::slice::from_ref(&job.envelope), now))
                .and_then(|mut v| {
                    v.pop().ok_or_else(|| {
                        airlock_coordinator::CoordinatorError::Setup(
                            "the coordinator recorded nothing".into(),
                        )
                    })
                });
            let _ = job.reply.send(outcome);
        }
    }
}

/// A batch of decisions with the outcome of its snapshot check.
struct CheckedBatch {
    batch: Vec<DecisionJob>,
    /// The time the batch is judged at (both halves use the same).
    at: Result<UnixTime>,
    /// Whether the whole batch passed [`Coordinator::precheck_decisions`].
    passed: bool,
}

/// A coordinator out of the pool, given back when dropped (or forgotten when its user
/// panicked: its connection may be mid-transaction).
struct Lease<'a> {
    pool: &'a Pool,
    coordinator: Option<Coordinator>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.coordinator.take() {
            if std::thread::panicking() {
                drop(c);
                self.pool.forget_one();
            } else {
                self.pool.give_back(c);
            }
        }
    }
}

/// What a decision upload hears when the writer cannot answer it.
pub const SHUTTING_DOWN: &str = "the service is shutting down";

fn shutting_down() -> airlock_coordinator::CoordinatorError {
    airlock_coordinator::CoordinatorError::Setup(SHUTTING_DOWN.into())
}

fn clone_error(e: &airlock_coordinator::CoordinatorError) -> airlock_coordinator::CoordinatorError {
    airlock_coordinator::CoordinatorError::Setup(e.to_string())
}

/// The current time as the CLI reads it: the system clock, or `AIRLOCK_NOW` for rehearsals.
pub fn now() -> Result<UnixTime> {
    airlock_cli_support::now().map_err(|e| airlock_coordinator::CoordinatorError::Setup(e.message))
}
