//! `airlock-witness-app`: the witness, an independent party that cosigns a coordinator's
//! checkpoints.
//!
//! A witness keeps, for every log it was told to trust (origin and the log's checkpoint key), the
//! latest checkpoint it cosigned. It answers C2SP tlog-witness `add-checkpoint` requests
//! ([`WitnessHome::add_checkpoint`], served over HTTP by [`server`]): a checkpoint signed by the
//! log's key and proven consistent with the latest one gets a C2SP `cosignature/v1` line; any
//! other gets the protocol's status code and changes nothing. A coordinator that shows two
//! signers two different histories then needs the witnesses to cosign both, which they never do.
//!
//! The home directory holds `witness.json` (the name), `witness.key` (the Ed25519 cosigning key,
//! mode 0600, plain like a TLS key so the service restarts unattended: it signs cosignatures only
//! and moves no funds) and `witness.db` (SQLite: trusted logs and the latest cosigned checkpoint of
//! each). Check and update happen in one `BEGIN IMMEDIATE` transaction committed before the answer
//! is sent, so no interleaving of requests or processes can roll a log back, and a crash at any
//! point leaves the old state or the new one.
//!
//! In verifying mode (a log added with the URL of the service that publishes it) the witness also
//! fetches the new entries and their artifacts and replays every transition with the
//! coordinator's own rules (`coordinator::replay::Replayer`) before it cosigns; the replay state
//! lives in memory and is rebuilt from the published log after a restart.
//!
//! This crate must never cosign a checkpoint it has not verified against the stored state, never
//! answer 200 before the new state is durable, and never hold or ask for a key that moves funds.

pub mod commitments;
pub mod halts;
pub mod server;
pub mod watch;

use std::path::{Path, PathBuf};

use airlock_log::witness::{AddCheckpoint, WitnessSigner, note_body};
use airlock_log::{
    CheckpointVerifier, ConsistencyProof, LogError, LogHash, empty_root, verify_consistency,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

const CONFIG_FILE: &str = "witness.json";
const KEY_FILE: &str = "witness.key";
const DATABASE_FILE: &str = "witness.db";

/// Why a witness refused a request; each maps to the protocol's HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// 400: the body is not an add-checkpoint request, or the checkpoint is not well formed.
    #[error("{0}")]
    Malformed(String),
    /// 400: the old size is larger than the checkpoint's.
    #[error("old size {old} is larger than the checkpoint's size {new}")]
    OldAfterNew { old: u64, new: u64 },
    /// 404: no trusted log has this origin.
    #[error("this witness does not know the log {0:?}")]
    UnknownLog(String),
    /// 403: no signature by the log's trusted key verifies.
    #[error("the checkpoint is not signed by the trusted key of log {origin:?}: {why}")]
    NotSigned { origin: String, why: String },
    /// 409: the old size is not the latest cosigned size, or the same size with another root.
    #[error("{why}")]
    Conflict { latest: u64, why: String },
    /// 422: the consistency proof does not verify.
    #[error("the consistency proof from size {old} to {new} does not verify")]
    BadProof { old: u64, new: u64 },
    /// 422 (verifying mode): the log's entries up to the checkpoint do not hash to its root, or
    /// a transition among them breaks the coordinator's own rules.
    #[error("{0}")]
    Invalid(String),
    /// 503 (verifying mode): the log's entries or artifacts could not be fetched.
    #[error("cannot verify the log's entries now: {0}")]
    Unverifiable(String),
}

/// A witness failure that is not a refusal of the request.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Setup(String),
    #[error("witness database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl airlock_severity::Classify for WitnessError {
    fn severity(&self) -> airlock_severity::Severity {
        match self {
            WitnessError::Refused(Refusal::Conflict { .. }) => airlock_severity::Severity::Alarm,
            WitnessError::Database(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                airlock_severity::Severity::Busy
            }
            _ => airlock_severity::Severity::Refused,
        }
    }
}

pub type Result<T, E = WitnessError> = std::result::Result<T, E>;

/// `witness.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    name: String,
}

/// A log the witness trusts and the latest checkpoint it cosigned for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogState {
    pub origin: String,
    /// The log's checkpoint verifier key.
    pub vkey: String,
    /// Latest cosigned size (0: none yet).
    pub size: u64,
    /// Its root, hex.
    pub root: String,
    /// When it was cosigned (Unix seconds; 0: never).
    pub cosigned_at: u64,
    /// Verifying mode: the published log (`airlock serve`) whose entries are replayed before
    /// each cosignature.
    pub verify_url: Option<String>,
}

/// A cosigned checkpoint: what was recorded and the cosignature line(s) to answer.
#[derive(Clone, Debug)]
pub struct Cosigned {
    pub origin: String,
    pub size: u64,
    /// Signed-note signature lines, each ending in a newline.
    pub cosignatures: String,
}

/// A witness's state directory.
pub struct WitnessHome {
    dir: PathBuf,
    signer: WitnessSigner,
    /// The same key, for the halts this witness signs (envelopes).
    identity: airlock_custody::IdentityKey,
    /// Verifying mode: each followed log's entries so far and their replay (in memory; rebuilt
    /// from the published log after a restart).
    followers: std::sync::Mutex<std::collections::HashMap<String, Follower>>,
}

/// A log followed in verifying mode: the tree of the entries replayed and the replay state.
#[derive(Clone)]
struct Follower {
    tree: airlock_log::MemoryLog,
    replayer: airlock_coordinator::replay::Replayer,
    anomalies: halts::AnomalyState,
}

impl WitnessHome {
    /// Creates a witness home: a fresh cosigning key under `name` (a schema-less URL, e.g.
    /// `witness.example/w1`). Refuses a directory that already holds a witness. Callers hold the
    /// home's lock (two inits at once would replace each other's key).
    pub fn init(dir: &Path, name: &str) -> Result<WitnessHome> {
        let key = airlock_custody::IdentityKey::generate();
        // The name is checked before anything is written.
        WitnessSigner::new(name, key.signing_key().clone())?;
        std::fs::create_dir_all(dir)
            .map_err(|e| WitnessError::Setup(format!("cannot create {}: {e}", dir.display())))?;
        if dir.join(CONFIG_FILE).exists() {
            return Err(WitnessError::Setup(format!(
                "{} already holds a witness",
                dir.display()
            )));
        }
        // A key without the configuration is what an interrupted init leaves (the configuration
        // is written last): that key was never shown to anyone, so a new one replaces it.
        match std::fs::remove_file(dir.join(KEY_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(WitnessError::Setup(format!(
                    "cannot replace the key an interrupted init left in {}: {e}",
                    dir.display()
                )));
            }
        }
        airlock_custody::save_plain_identity(&dir.join(KEY_FILE), &key)
            .map_err(|e| WitnessError::Setup(e.to_string()))?;
        let config = serde_json::to_vec_pretty(&Config {
            name: name.to_owned(),
        })
        .expect("config serializes");
        // Written last: a home without it is not a witness yet, and init may run again.
        airlock_transport::write_atomic(&dir.join(CONFIG_FILE), &config)
            .map_err(|e| WitnessError::Setup(e.to_string()))?;
        let home = WitnessHome::open(dir)?;
        home.connect()?;
        Ok(home)
    }

    /// Opens a witness home.
    pub fn open(dir: &Path) -> Result<WitnessHome> {
        let config_path = dir.join(CONFIG_FILE);
        let bytes = airlock_transport::read_bounded(&config_path, 64 * 1024).map_err(|e| {
            WitnessError::Setup(format!(
                "{} is not a witness home ({e}); create one with `airlock-witness init --name NAME`",
                dir.display()
            ))
        })?;
        let config: Config = serde_json::from_slice(&bytes).map_err(|e| {
            WitnessError::Setup(format!("{} is damaged: {e}", config_path.display()))
        })?;
        let key = airlock_custody::load_plain_identity(&dir.join(KEY_FILE))
            .map_err(|e| WitnessError::Setup(e.to_string()))?;
        Ok(WitnessHome {
            dir: dir.to_owned(),
            signer: WitnessSigner::new(&config.name, key.signing_key().clone())?,
            identity: key,
            followers: Default::default(),
        })
    }

    /// The witness's name and key as a signed-note verifier key (for the coordinator and the
    /// vault policies that name this witness).
    pub fn vkey(&self) -> String {
        self.signer.verifier().vkey()
    }

    pub fn name(&self) -> &str {
        self.signer.name()
    }

    /// A connection to the witness database, schema created.
    pub fn connect(&self) -> Result<Connection> {
        let conn = Connection::open(self.dir.join(DATABASE_FILE))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS logs (
                origin TEXT PRIMARY KEY,
                vkey TEXT NOT NULL,
                size INTEGER NOT NULL DEFAULT 0,
                root BLOB NOT NULL,
                note TEXT NOT NULL DEFAULT '',
                cosigned_at INTEGER NOT NULL DEFAULT 0,
                verify_url TEXT
            ) STRICT;",
        )?;
        conn.execute_batch(halts::SCHEMA)?;
        conn.execute_batch(watch::SCHEMA)?;
        Ok(conn)
    }

    /// Trusts a log: its checkpoints, signed by this key, will be cosigned. Adding a log already
    /// trusted with the same key changes nothing; another key for a known origin is refused.
    ///
    /// `verify_url` (an `airlock serve` base URL, or `file:///DIR` for a directory written by
    /// `airlock log publish`) turns on the verifying mode for this log: before
    /// cosigning, the witness fetches the entries up to the checkpoint from the published tiles,
    /// checks they hash to its root, and replays every new transition with the coordinator's own
    /// rules; an invalid one is never cosigned.
    pub fn trust_log(&self, vkey: &str, verify_url: Option<&str>) -> Result<LogState> {
        let verifier = CheckpointVerifier::from_vkey(vkey)?;
        if let Some(url) = verify_url
            && !(url.starts_with("http://")
                || url.starts_with("https://")
                || url.starts_with("file:///"))
        {
            return Err(WitnessError::Setup(format!(
                "--verify-url {url:?}: give the service's http(s):// base URL"
            )));
        }
        let mut conn = self.connect()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let known: Option<String> = tx
            .query_row(
                "SELECT vkey FROM logs WHERE origin = ?1",
                [verifier.origin()],
                |r| r.get(0),
            )
            .optional()?;
        match known {
            Some(k) if k == verifier.vkey() => {
                tx.execute(
                    "UPDATE logs SET verify_url = ?2 WHERE origin = ?1",
                    params![verifier.origin(), verify_url],
                )?;
            }
            Some(k) => {
                return Err(WitnessError::Setup(format!(
                    "log {:?} is already trusted with key {k}; a log keeps its key",
                    verifier.origin()
                )));
            }
            None => {
                tx.execute(
                    "INSERT INTO logs (origin, vkey, root, verify_url) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        verifier.origin(),
                        verifier.vkey(),
                        empty_root().to_vec(),
                        verify_url
                    ],
                )?;
            }
        }
        tx.commit()?;
        self.log(verifier.origin())?
            .ok_or_else(|| WitnessError::Setup("the log vanished".into()))
    }

    /// Every trusted log with its latest cosigned checkpoint.
    pub fn logs(&self) -> Result<Vec<LogState>> {
        let conn = self.connect()?;
        let mut stmt = conn.prepare(
            "SELECT origin, vkey, size, root, cosigned_at, verify_url FROM logs ORDER BY origin",
        )?;
        let rows = stmt.query_map([], row_state)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One trusted log.
    pub fn log(&self, origin: &str) -> Result<Option<LogState>> {
        let conn = self.connect()?;
        Ok(conn
            .query_row(
                "SELECT origin, vkey, size, root, cosigned_at, verify_url FROM logs WHERE origin = ?1",
                [origin],
                row_state,
            )
            .optional()?)
    }

    /// Handles one add-checkpoint request body at time `now` (Unix seconds), on `conn`: verifies
    /// the checkpoint's signature, the old size against the latest cosigned one and the
    /// consistency proof, records the checkpoint, commits, then cosigns. Refusals change nothing.
    ///
    /// A split view (another root at the size cosigned, a consistency proof that fails) and, in
    /// verifying mode, an invalid transition make the witness sign a HALT for every vault of the
    /// log; an anomaly rule that fires, or a state commitment showing a movement no finalized
    /// proposal explains (`commitments`), halts that vault while the checkpoint is still
    /// cosigned. Halts are stored before the answer and delivered to the followed service.
    pub fn add_checkpoint(&self, conn: &mut Connection, body: &[u8], now: u64) -> Result<Cosigned> {
        let request = AddCheckpoint::parse(body).map_err(|e| Refusal::Malformed(e.to_string()))?;
        let outcome = self.check_checkpoint(conn, &request, now);
        let origin = request.checkpoint.split('\n').next().unwrap_or_default();
        if let Err(WitnessError::Refused(refusal)) = &outcome
            && let Some((reason, cause)) = halt_worthy(refusal)
        {
            let size = parse_checkpoint_size(&request.checkpoint);
            let detail = refusal.to_string();
            self.issue_halt(
                conn,
                halts::NewHalt {
                    origin,
                    vault_id: "",
                    reason,
                    detail: &detail,
                    log_size: size,
                    cause: &cause,
                },
                now,
            )?;
        }
        // Halts not delivered yet go to the followed service (best effort: what cannot be
        // delivered now stays pending for the next request). One query when there are none.
        let pending: Option<String> = conn
            .query_row(
                "SELECT l.verify_url FROM logs l WHERE l.origin = ?1 AND l.verify_url IS NOT NULL
                 AND EXISTS (SELECT 1 FROM halts h WHERE h.origin = ?1 AND h.delivery = '')",
                [origin],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(url) = pending
            && let Err(e) = self.deliver_halts(origin, &url)
        {
            tracing::warn!(error = %e, "delivering halts failed");
        }
        outcome
    }

    fn check_checkpoint(
        &self,
        conn: &mut Connection,
        request: &AddCheckpoint,
        now: u64,
    ) -> Result<Cosigned> {
        let origin = request
            .checkpoint
            .split_once('\n')
            .map(|(first, _)| first.to_owned())
            .ok_or_else(|| Refusal::Malformed("the checkpoint has no origin line".into()))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = tx
            .query_row(
                "SELECT vkey, size, root, verify_url FROM logs WHERE origin = ?1",
                [&origin],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((vkey, latest, latest_root, verify_url)) = stored else {
            return Err(Refusal::UnknownLog(origin).into());
        };
        let latest = u64::try_from(latest)
            .map_err(|_| WitnessError::Setup("a stored size is negative".into()))?;
        let latest_root: LogHash = latest_root
            .try_into()
            .map_err(|_| WitnessError::Setup("a stored root is not 32 bytes".into()))?;
        let verifier = CheckpointVerifier::from_vkey(&vkey)?;
        let checkpoint = verifier.open(&request.checkpoint).map_err(|e| match e {
            LogError::MalformedCheckpoint(why) => Refusal::Malformed(why),
            other => Refusal::NotSigned {
                origin: origin.clone(),
                why: other.to_string(),
            },
        })?;
        if request.old_size > checkpoint.size {
            return Err(Refusal::OldAfterNew {
                old: request.old_size,
                new: checkpoint.size,
            }
            .into());
        }
        if request.old_size != latest {
            return Err(Refusal::Conflict {
                latest,
                why: format!(
                    "old size {} is not the latest size this witness cosigned for {origin:?} ({latest})",
                    request.old_size
                ),
            }
            .into());
        }
        if checkpoint.size == latest {
            if checkpoint.root != latest_root || !request.proof.is_empty() {
                return Err(Refusal::Conflict {
                    latest,
                    why: format!(
                        "a checkpoint of size {latest} with another root than the one this witness cosigned: a split view"
                    ),
                }
                .into());
            }
        } else {
            let proof = ConsistencyProof {
                old_size: latest,
                new_size: checkpoint.size,
                hashes: request.proof.clone(),
            };
            verify_consistency(&proof, &latest_root, &checkpoint.root).map_err(|_| {
                Refusal::BadProof {
                    old: latest,
                    new: checkpoint.size,
                }
            })?;
        }
        let size = i64::try_from(checkpoint.size)
            .map_err(|_| Refusal::Malformed("the checkpoint's size is too large".into()))?;
        let followed = match &verify_url {
            Some(url) => {
                let rules = self.rules(&tx)?;
                let (follower, findings) =
                    self.follow(&origin, url, &verifier, &checkpoint, &rules)?;
                for (reason, a) in findings {
                    self.issue_halt(
                        &tx,
                        halts::NewHalt {
                            origin: &origin,
                            vault_id: &a.vault_id,
                            reason,
                            detail: &a.detail,
                            log_size: checkpoint.size,
                            cause: &a.cause,
                        },
                        now,
                    )?;
                }
                Some(follower)
            }
            None => None,
        };
        tx.execute(
            "UPDATE logs SET size = ?2, root = ?3, note = ?4, cosigned_at = ?5 WHERE origin = ?1",
            params![
                origin,
                size,
                checkpoint.root.to_vec(),
                request.checkpoint,
                now.min(i64::MAX as u64) as i64
            ],
        )?;
        airlock_transport::failpoint::hit("witness.commit", &checkpoint.size);
        tx.commit()?;
        airlock_transport::failpoint::hit("witness.committed", &checkpoint.size);
        if let Some(f) = followed {
            self.followers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(origin.clone(), f);
        }
        let body = note_body(&request.checkpoint)?;
        Ok(Cosigned {
            origin,
            size: checkpoint.size,
            cosignatures: self.signer.cosign(body, now),
        })
    }
}

impl WitnessHome {
    /// Verifying mode: brings the followed log up to `checkpoint` from the service at `url`
    /// (entry tiles, then each new entry's artifact) and replays every new transition; returns
    /// the follower to keep once the checkpoint is committed. Nothing is kept on a refusal.
    fn follow(
        &self,
        origin: &str,
        url: &str,
        verifier: &CheckpointVerifier,
        checkpoint: &airlock_log::Checkpoint,
        rules: &halts::AnomalyRules,
    ) -> Result<(Follower, Findings)> {
        let mut f = self
            .followers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(origin)
            .cloned()
            .unwrap_or_else(|| Follower {
                tree: airlock_log::MemoryLog::new(),
                replayer: airlock_coordinator::replay::Replayer::new(airlock_core::PublicKey(
                    verifier.public_key().to_bytes(),
                )),
                anomalies: Default::default(),
            });
        let start = f.replayer.size();
        if checkpoint.size <= start {
            let root = f.tree.root_at(checkpoint.size)?;
            if root != checkpoint.root {
                return Err(Refusal::Invalid(format!(
                    "the checkpoint of size {} is not the root of the entries this witness replayed: a split view",
                    checkpoint.size
                ))
                .into());
            }
            return Ok((f, Vec::new()));
        }
        let unverifiable = |e: airlock_service::ClientError| Refusal::Unverifiable(e.to_string());
        // The service, or a directory `airlock log publish` writes (`file:///DIR`).
        let client = airlock_service::ServiceClient::new(url, None).map_err(unverifiable)?;
        let mut fresh = Vec::new();
        for tile in airlock_log::tiles::tiles_for(checkpoint.size, true) {
            let first = tile.level_index() * airlock_log::tiles::TILE_WIDTH;
            if first + u64::from(tile.width()) <= start {
                continue;
            }
            let path = format!("log/{}", airlock_log::tiles::path(&tile));
            let bundle = client.get(&path).map_err(unverifiable)?;
            let entries = airlock_log::tiles::decode_entries(&bundle)
                .map_err(|e| Refusal::Invalid(format!("{url}/{path}: {e}")))?;
            if entries.len() != tile.width() as usize {
                return Err(Refusal::Invalid(format!(
                    "{url}/{path} holds {} entries, not {}",
                    entries.len(),
                    tile.width()
                ))
                .into());
            }
            for (k, entry) in entries.into_iter().enumerate() {
                if first + k as u64 >= start {
                    f.tree.append(&entry);
                    fresh.push(entry);
                }
            }
        }
        if f.tree.root() != checkpoint.root {
            return Err(Refusal::Invalid(format!(
                "the entries {url} publishes hash to another root than the checkpoint of size {}: a split view",
                checkpoint.size
            ))
            .into());
        }
        let fetched = fetch_artifact_ranges(url, start, &fresh);
        let mut fetch_failed = None;
        let mut fetch = |id: &airlock_core::ArtifactId| {
            if let Some(bytes) = fetched.get(id) {
                return Ok(Some(bytes.clone()));
            }
            client
                .get_optional(&format!("api/v1/artifacts/{}", id.to_hex()))
                .map_err(|e| {
                    let message = e.to_string();
                    fetch_failed = Some(message.clone());
                    airlock_coordinator::CoordinatorError::NotFound(message)
                })
        };
        let mut findings = Vec::new();
        for (k, leaf) in fresh.iter().enumerate() {
            if k % WARM_WINDOW == 0 {
                let end = (k + WARM_WINDOW).min(fresh.len());
                warm_signatures(&fresh[k..end], &fetched);
            }
            let index = f.replayer.size();
            let record = airlock_core::LogRecord::from_bytes(leaf).ok();
            let commitment_before = record
                .as_ref()
                .filter(|r| r.kind == "state")
                .and_then(|r| f.replayer.latest_commitment(&r.vault_id).cloned());
            if let Err(e) = f.replayer.push(leaf, &mut fetch) {
                return Err(match fetch_failed.take() {
                    Some(why) => Refusal::Unverifiable(why),
                    None => Refusal::Invalid(format!("invalid transition: {e}")),
                }
                .into());
            }
            // The replay accepted (so decoded) this leaf.
            let Some(record) = record else {
                continue;
            };
            if record.kind == "state"
                && let Some(after) = f.replayer.latest_commitment(&record.vault_id)
                && let Some(vault) = f
                    .replayer
                    .latest_vaults()
                    .find(|v| v.vault_id == record.vault_id)
            {
                findings.extend(
                    commitments::unexplained(
                        vault,
                        commitment_before.as_ref(),
                        after,
                        f.replayer.finalized_proposals(&record.vault_id),
                    )
                    .into_iter()
                    .map(|a| ("chain", a)),
                );
            }
            if record.kind == "proposal"
                && !rules.is_empty()
                && let Some(state) = f.replayer.proposal(&record.artifact)
            {
                findings.extend(
                    f.anomalies
                        .observe(rules, index, record.at, &state.proposal)
                        .into_iter()
                        .map(|a| ("anomaly", a)),
                );
            }
        }
        Ok((f, findings))
    }
}

/// What a replay found that halts a vault: each with its halt reason (`anomaly`: a rule fired;
/// `chain`: a state commitment shows a movement no finalized proposal explains).
type Findings = Vec<(&'static str, halts::Anomaly)>;

/// Connections that fetch a batch of new entries' artifacts at once.
const FETCHERS: usize = 8;

/// Leaves whose signatures are checked ahead of their replay at once (well under the 65,536
/// verdicts `airlock_core::envelope` remembers, so none is forgotten before it is used).
const WARM_WINDOW: usize = 16_384;

/// Checks the signatures of the artifacts `leaves` name on every core at once, so that the
/// replay, which must run in order on one thread, finds their verdicts remembered
/// (`airlock_core::envelope::verify_raw`): a valid signature is then one SHA-256, not a
/// verification. An invalid one is not remembered and fails again in the replay, in order.
fn warm_signatures(
    leaves: &[Vec<u8>],
    fetched: &std::collections::HashMap<airlock_core::ArtifactId, Vec<u8>>,
) {
    let artifacts: Vec<&[u8]> = leaves
        .iter()
        .filter_map(|leaf| airlock_core::LogRecord::from_bytes(leaf).ok())
        .filter_map(|r| fetched.get(&r.artifact).map(Vec::as_slice))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = artifacts.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for part in artifacts.chunks(chunk) {
            scope.spawn(move || {
                for bytes in part {
                    if let Ok(env) = airlock_core::Envelope::from_bytes(bytes) {
                        env.check_signatures();
                    }
                }
            });
        }
    });
}

/// The artifacts of the new leaves (`leaves[k]` is leaf `start + k`), fetched a tile's width at
/// a time from the service's `/api/v1/log/artifacts` over [`FETCHERS`] connections; an
/// artifact too large for that bundle, or a range the service does not answer (an older
/// service), is fetched by id instead ([`prefetch_artifacts`]). Bytes are keyed by the id their
/// leaf names and checked against it by the replay.
fn fetch_artifact_ranges(
    url: &str,
    start: u64,
    leaves: &[Vec<u8>],
) -> std::collections::HashMap<airlock_core::ArtifactId, Vec<u8>> {
    let width = airlock_log::tiles::TILE_WIDTH;
    let end = start + leaves.len() as u64;
    // Ranges aligned to tiles, so that every reader asks the same (cacheable) ranges.
    let mut ranges = Vec::new();
    let mut at = start;
    while at < end {
        let next = ((at / width + 1) * width).min(end);
        ranges.push((at, next - at));
        at = next;
    }
    let answered: Vec<(u64, Vec<Vec<u8>>)> = on_fetchers(url, &ranges, |client, (from, count)| {
        let bundle = client
            .get(&format!("api/v1/log/artifacts?start={from}&count={count}"))
            .ok()?;
        let entries = airlock_log::tiles::decode_entries(&bundle).ok()?;
        (entries.len() as u64 == *count).then_some((*from, entries))
    });
    let mut fetched = std::collections::HashMap::new();
    let mut have = vec![false; leaves.len()];
    for (from, entries) in answered {
        for (k, bytes) in entries.into_iter().enumerate() {
            let i = (from - start) as usize + k;
            if bytes.is_empty() {
                continue;
            }
            if let Ok(record) = airlock_core::LogRecord::from_bytes(&leaves[i]) {
                fetched.insert(record.artifact, bytes);
                have[i] = true;
            }
        }
    }
    let missing: Vec<Vec<u8>> = leaves
        .iter()
        .zip(&have)
        .filter(|(_, got)| !**got)
        .map(|(leaf, _)| leaf.clone())
        .collect();
    if !missing.is_empty() {
        fetched.extend(prefetch_artifacts(url, &missing));
    }
    fetched
}

/// The artifacts the `leaves` name, fetched from the service over [`FETCHERS`] connections at
/// once (one request each would otherwise wait on the last). What cannot be fetched here is
/// left out: the replay asks again for it, one at a time, and reports the failure.
fn prefetch_artifacts(
    url: &str,
    leaves: &[Vec<u8>],
) -> std::collections::HashMap<airlock_core::ArtifactId, Vec<u8>> {
    let ids: Vec<airlock_core::ArtifactId> = leaves
        .iter()
        .filter_map(|leaf| airlock_core::LogRecord::from_bytes(leaf).ok())
        .map(|r| r.artifact)
        .collect();
    on_fetchers(url, &ids, |client, id| {
        client
            .get_optional(&format!("api/v1/artifacts/{}", id.to_hex()))
            .ok()
            .flatten()
            .map(|bytes| (*id, bytes))
    })
    .into_iter()
    .collect()
}

/// Runs `fetch` on every item over [`FETCHERS`] connections to the service at `url` at once
/// (each worker its own client and a contiguous share of the items); what a fetch does not
/// return is left out, for the caller to ask again or report.
fn on_fetchers<T: Sync, R: Send>(
    url: &str,
    items: &[T],
    fetch: impl Fn(&airlock_service::ServiceClient, &T) -> Option<R> + Sync,
) -> Vec<R> {
    let share = items.len().div_ceil(FETCHERS).max(1);
    let fetch = &fetch;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(share)
            .map(|part| {
                scope.spawn(move || {
                    let Ok(client) = airlock_service::ServiceClient::new(url, None) else {
                        return Vec::new();
                    };
                    part.iter()
                        .filter_map(|item| fetch(&client, item))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}

/// Whether a refusal is one a witness halts for (a split view, an invalid transition), with the
/// halt's reason and the cause that keeps one event from being halted for twice.
fn halt_worthy(refusal: &Refusal) -> Option<(&'static str, String)> {
    match refusal {
        Refusal::BadProof { old, new } => Some(("split-view", format!("bad-proof:{old}:{new}"))),
        Refusal::Conflict { latest, why } if why.contains("split view") => {
            Some(("split-view", format!("same-size:{latest}")))
        }
        // The replay's refusals say which they are: the entries' root differs (a split view) or
        // a transition is invalid; the message names the leaf, so one event is one cause.
        Refusal::Invalid(why) if why.contains("split view") => {
            Some(("split-view", format!("replay:{why}")))
        }
        Refusal::Invalid(why) => Some(("invalid-transition", format!("replay:{why}"))),
        _ => None,
    }
}

/// The size line of a checkpoint note (0 when it has none).
fn parse_checkpoint_size(note: &str) -> u64 {
    note.lines()
        .nth(1)
        .and_then(airlock_log::witness::parse_decimal)
        .unwrap_or(0)
}

fn row_state(r: &rusqlite::Row<'_>) -> rusqlite::Result<LogState> {
    Ok(LogState {
        origin: r.get(0)?,
        vkey: r.get(1)?,
        size: r.get::<_, i64>(2)?.max(0) as u64,
        root: hex::encode(r.get::<_, Vec<u8>>(3)?),
        cosigned_at: r.get::<_, i64>(4)?.max(0) as u64,
        verify_url: r.get(5)?,
    })
}
