//! The coordinator's witnesses: which ones it asks (`witnesses.json` in the home, written by
//! `airlock witness add`), and the client side of the C2SP tlog-witness protocol that gets their
//! cosignatures on a checkpoint before a bundle leaves (`airlock export`, the service's bundle
//! endpoint) or on demand (`airlock witness cosign`).
//!
//! A witness answers 409 with its latest cosigned size when the request's old size is not it;
//! the client then asks again from that size with a consistency proof from the coordinator's own
//! tree. A witness that refuses the proof (422), or holds another root at the same size (409 at
//! the size asked from), has cosigned a history this log does not extend: that is a split view,
//! reported as an alarm and never papered over. Only cosignature lines that verify with the
//! registered witness key are kept.
//!
//! This module must never add a cosignature it has not verified, and never treat a split view as
//! a transient failure.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use airlock_coordinator::{Coordinator, CoordinatorError};
use airlock_log::witness::{WitnessVerifier, note_body, parse_decimal};
use serde::{Deserialize, Serialize};

/// The file in the coordinator's home.
pub const WITNESSES_FILE: &str = "witnesses.json";

/// A registered witness: its verifier key and its submission prefix URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Witness {
    /// `<name>+<key id>+<base64(0x04 || key)>`.
    pub vkey: String,
    /// `http(s)://host:port[/prefix]`: requests go to `<url>/add-checkpoint`.
    pub url: String,
}

impl Witness {
    pub fn verifier(&self) -> Result<WitnessVerifier, CoordinatorError> {
        WitnessVerifier::from_vkey(&self.vkey).map_err(|e| {
            CoordinatorError::Setup(format!("{WITNESSES_FILE}: witness {}: {e}", self.url))
        })
    }
}

/// The registered witnesses (none when the file is absent).
pub fn load(home: &Path) -> Result<Vec<Witness>, CoordinatorError> {
    let path = home.join(WITNESSES_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let bytes = airlock_transport::read_bounded(&path, 1024 * 1024)
        .map_err(|e| CoordinatorError::Setup(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| CoordinatorError::Setup(format!("{} is damaged: {e}", path.display())))
}

/// Registers a witness (or changes the URL of one with the same key); the file is replaced
/// atomically. Callers hold the home's lock.
pub fn add(home: &Path, vkey: &str, url: &str) -> Result<Witness, CoordinatorError> {
    let verifier = WitnessVerifier::from_vkey(vkey)
        .map_err(|e| CoordinatorError::Refused(format!("witness key: {e}")))?;
    let url = url.trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(CoordinatorError::Refused(format!(
            "witness URL {url:?}: give http(s)://HOST:PORT[/PREFIX]"
        )));
    }
    let mut all = load(home)?;
    if let Some(same_name) = all.iter().find(|w| {
        w.verifier()
            .map(|v| v.name() == verifier.name() && v != verifier)
            .unwrap_or(false)
    }) {
        return Err(CoordinatorError::Refused(format!(
            "a witness named {} is registered with another key ({}); a witness keeps its key",
            verifier.name(),
            same_name.vkey
        )));
    }
    all.retain(|w| w.vkey != verifier.vkey());
    let witness = Witness {
        vkey: verifier.vkey(),
        url: url.to_owned(),
    };
    all.push(witness.clone());
    let json = serde_json::to_vec_pretty(&all).expect("witnesses serialize");
    airlock_transport::write_atomic(&home.join(WITNESSES_FILE), &json)
        .map_err(|e| CoordinatorError::Setup(e.to_string()))?;
    Ok(witness)
}

/// The file in the coordinator's home where the last answer of each witness is kept (a status
/// cache for people: `airlock witness list`, `GET /api/v1/witnesses`, the dashboard; nothing is
/// decided from it).
pub const STATUS_FILE: &str = "witness-status.json";

/// What this coordinator last heard from one witness.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessStatus {
    /// The largest checkpoint size it cosigned for this coordinator, and when (its timestamp).
    pub cosigned_size: Option<u64>,
    pub cosigned_at: Option<u64>,
    /// When it was last asked (Unix seconds), and what went wrong then, if anything.
    pub asked_at: Option<u64>,
    pub error: Option<String>,
    /// Its last answer was a split view.
    pub split_view: bool,
}

/// The last answer of every witness, by verifier key (empty before any was asked).
pub fn statuses(
    home: &Path,
) -> Result<std::collections::BTreeMap<String, WitnessStatus>, CoordinatorError> {
    let path = home.join(STATUS_FILE);
    if !path.exists() {
        return Ok(Default::default());
    }
    let bytes = airlock_transport::read_bounded(&path, 1024 * 1024)
        .map_err(|e| CoordinatorError::Setup(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| CoordinatorError::Setup(format!("{} is damaged: {e}", path.display())))
}

/// Serializes this process's updates of the status file (another process's update may win over
/// one of ours: it is a cache of observations, each true when made).
static STATUS_WRITES: Mutex<()> = Mutex::new(());

fn record_statuses(home: &Path, witnesses: &[Witness], outcomes: &[Outcome], size: u64, now: u64) {
    let _gate = STATUS_WRITES.lock().unwrap_or_else(|p| p.into_inner());
    // A damaged cache is replaced, not fatal.
    let mut all = statuses(home).unwrap_or_default();
    for (w, o) in witnesses.iter().zip(outcomes) {
        let s = all.entry(w.vkey.clone()).or_default();
        s.asked_at = Some(now);
        s.error = o.error.clone();
        s.split_view = o.split_view;
        if o.cosigned_at.is_some() && s.cosigned_size.is_none_or(|had| had <= size) {
            s.cosigned_size = Some(size);
            s.cosigned_at = o.cosigned_at;
        }
    }
    let json = serde_json::to_vec_pretty(&all).expect("statuses serialize");
    if let Err(e) = airlock_transport::write_atomic(&home.join(STATUS_FILE), &json) {
        tracing::warn!(error = %e, "cannot record the witnesses' answers");
    }
}

/// What one witness answered.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub witness: String,
    pub url: String,
    /// The cosignature's timestamp when it cosigned.
    pub cosigned_at: Option<u64>,
    /// Why not, when it did not.
    pub error: Option<String>,
    /// The witness holds a history this log does not extend.
    pub split_view: bool,
}

/// The last size each witness (by key) was seen to hold, so the next request usually starts
/// right (a stale guess costs one 409).
static KNOWN_SIZES: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

fn known_size(vkey: &str) -> u64 {
    KNOWN_SIZES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|m| m.get(vkey).copied())
        .unwrap_or(0)
}

fn remember_size(vkey: &str, size: u64) {
    KNOWN_SIZES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(vkey.to_owned(), size);
}

/// Asks every witness to cosign `note` (this log's checkpoint of `size`); returns the note with
/// the verified cosignature lines appended, and each witness's outcome (also kept in the home's
/// [`STATUS_FILE`]).
pub fn cosign(
    c: &Coordinator,
    home: &Path,
    witnesses: &[Witness],
    size: u64,
    note: &str,
) -> Result<(String, Vec<Outcome>), CoordinatorError> {
    // A witness on this machine verifies from the published directory: publish first.
    if let Err(e) = crate::mirror::publish_remembered(c, home, size) {
        tracing::warn!(error = %e, "cannot publish the log to its directory");
    }
    let (cosigned, outcomes) = ask_all(c, witnesses, size, note)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    record_statuses(home, witnesses, &outcomes, size, now);
    Ok((cosigned, outcomes))
}

fn ask_all(
    c: &Coordinator,
    witnesses: &[Witness],
    size: u64,
    note: &str,
) -> Result<(String, Vec<Outcome>), CoordinatorError> {
    let body = note_body(note)
        .map_err(|e| CoordinatorError::Setup(format!("this log's checkpoint: {e}")))?
        .to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut cosigned = note.to_owned();
    let mut outcomes = Vec::new();
    for w in witnesses {
        let verifier = w.verifier()?;
        let mut outcome = Outcome {
            witness: verifier.name().to_owned(),
            url: w.url.clone(),
            cosigned_at: None,
            error: None,
            split_view: false,
        };
        match ask(c, &agent, w, &verifier, size, note, &body) {
            Ok(line) => {
                outcome.cosigned_at = verifier.verify_line(&body, &line);
                cosigned.push_str(&line);
            }
            Err(Asked::SplitView(why)) => {
                outcome.split_view = true;
                outcome.error = Some(why);
            }
            Err(Asked::Failed(why)) => outcome.error = Some(why),
            Err(Asked::Coordinator(e)) => return Err(e),
        }
        outcomes.push(outcome);
    }
    Ok((cosigned, outcomes))
}

enum Asked {
    SplitView(String),
    Failed(String),
    Coordinator(CoordinatorError),
}

/// One witness, up to three requests (a stale old size costs one), returning its verified line.
fn ask(
    c: &Coordinator,
    agent: &ureq::Agent,
    w: &Witness,
    verifier: &WitnessVerifier,
    size: u64,
    note: &str,
    body: &str,
) -> Result<String, Asked> {
    let url = format!("{}/add-checkpoint", w.url);
    let mut old = known_size(&w.vkey).min(size);
    for _ in 0..3 {
        let request = c
            .witness_request(old, size, note)
            .map_err(Asked::Coordinator)?;
        let mut response = agent
            .post(&url)
            .send(&request[..])
            .map_err(|e| Asked::Failed(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .map_err(|e| Asked::Failed(format!("{url}: {e}")))?;
        match status {
            200 => {
                let line = text
                    .lines()
                    .find(|l| verifier.verify_line(body, l).is_some())
                    .ok_or_else(|| {
                        Asked::Failed(format!(
                            "{url} answered 200 without a cosignature that verifies with {}",
                            verifier.vkey()
                        ))
                    })?;
                remember_size(&w.vkey, size);
                return Ok(format!("{line}\n"));
            }
            409 => {
                let theirs = parse_decimal(text.trim_end_matches('\n')).ok_or_else(|| {
                    Asked::Failed(format!("{url} answered 409 without a size: {text:?}"))
                })?;
                remember_size(&w.vkey, theirs);
                if theirs == old {
                    return Err(Asked::SplitView(format!(
                        "witness {} holds another checkpoint of size {theirs} than this log: a split view",
                        verifier.name()
                    )));
                }
                let ours = c
                    .store()
                    .log_size()
                    .map_err(|e| Asked::Coordinator(e.into()))?;
                if theirs > ours {
                    return Err(Asked::SplitView(format!(
                        "witness {} has cosigned size {theirs} of this log, which holds {ours} entries: it was shown another history (a split view) or this database lost entries",
                        verifier.name()
                    )));
                }
                if theirs > size {
                    return Err(Asked::Failed(format!(
                        "witness {} has cosigned size {theirs}, past this checkpoint ({size}); export again",
                        verifier.name()
                    )));
                }
                old = theirs;
            }
            422 => {
                return Err(Asked::SplitView(format!(
                    "witness {} refuses checkpoint {size} (from size {old}): {} — it cosigned a history this log does not extend (a split view), or found an invalid transition in it",
                    verifier.name(),
                    text.trim()
                )));
            }
            403 | 404 => {
                return Err(Asked::Failed(format!(
                    "witness {} does not cosign this log ({status}: {}); on the witness: airlock-witness log add \"{}\"",
                    verifier.name(),
                    text.trim(),
                    c.log_verifier().vkey()
                )));
            }
            other => {
                return Err(Asked::Failed(format!(
                    "{url} answered {other}: {}",
                    text.trim()
                )));
            }
        }
    }
    Err(Asked::Failed(format!("{url} kept moving; try again")))
}

/// A checkpoint note with the home's witnesses' cosignatures (the note itself when none are
/// registered). A witness that reports a split view is an alarm ([`CoordinatorError::SplitView`]).
pub fn witness_note(
    c: &Coordinator,
    home: &Path,
    size: u64,
    note: &str,
) -> Result<(String, Vec<Outcome>), CoordinatorError> {
    let witnesses = load(home)?;
    if witnesses.is_empty() {
        return Ok((note.to_owned(), Vec::new()));
    }
    let (cosigned, outcomes) = cosign(c, home, &witnesses, size, note)?;
    if let Some(split) = outcomes.iter().find(|o| o.split_view) {
        return Err(CoordinatorError::SplitView(
            split.error.clone().unwrap_or_default(),
        ));
    }
    Ok((cosigned, outcomes))
}

/// [`Coordinator::export_bundle`] with the home's witnesses' cosignatures on the bundle's
/// checkpoint. A witness that reports a split view stops the export (an alarm: this coordinator's
/// history is not what the witness cosigned); one that is unreachable or behind is reported in
/// the outcomes and the bundle leaves without its cosignature.
pub fn export_bundle(
    c: &mut Coordinator,
    home: &Path,
    id: &airlock_core::ArtifactId,
    extra_sizes: &[u64],
) -> Result<(airlock_core::Envelope, Vec<Outcome>), CoordinatorError> {
    let mut outcomes = Vec::new();
    let env = c.export_bundle_witnessed(id, extra_sizes, |c, size, note| {
        let (cosigned, all) = witness_note(c, home, size, note)?;
        outcomes = all;
        Ok(cosigned)
    })?;
    Ok((env, outcomes))
}

/// [`export_bundle`] for a batch of proposals ([`Coordinator::export_batch_witnessed`]).
pub fn export_batch(
    c: &mut Coordinator,
    home: &Path,
    ids: &[airlock_core::ArtifactId],
    extra_sizes: &[u64],
    now: u64,
) -> Result<(airlock_core::Envelope, Vec<Outcome>), CoordinatorError> {
    let mut outcomes = Vec::new();
    let env = c.export_batch_witnessed(ids, extra_sizes, now, |c, size, note| {
        let (cosigned, all) = witness_note(c, home, size, note)?;
        outcomes = all;
        Ok(cosigned)
    })?;
    Ok((env, outcomes))
}

/// One registered witness as people see it: its answers so far, the vaults whose newest version
/// names it, and the halts it signed that this log recorded.
#[derive(Clone, Debug, Serialize)]
pub struct WitnessView {
    pub name: String,
    pub vkey: String,
    pub url: String,
    #[serde(flatten)]
    pub status: WitnessStatus,
    pub vaults: Vec<String>,
    /// (halt id, reason, the vaults it is in force for).
    pub halts: Vec<(String, String, Vec<String>)>,
}

/// Every registered witness with its state ([`WitnessView`]), as `airlock witness list`, `GET
/// /api/v1/witnesses` and the dashboard show them.
pub fn overview(c: &Coordinator, home: &Path) -> Result<Vec<WitnessView>, CoordinatorError> {
    let statuses = statuses(home)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let halts = c.halts(None, now)?;
    let mut vaults = Vec::new();
    for id in c.vault_ids()? {
        vaults.push(c.vault_latest(&id)?.0);
    }
    let mut out = Vec::new();
    for w in load(home)? {
        let verifier = w.verifier()?;
        let key = verifier.public_key();
        out.push(WitnessView {
            name: verifier.name().to_owned(),
            status: statuses.get(&w.vkey).cloned().unwrap_or_default(),
            vaults: vaults
                .iter()
                .filter(|v| v.witnesses.witnesses.iter().any(|k| k.key.0 == key))
                .map(|v| v.vault_id.clone())
                .collect(),
            halts: halts
                .iter()
                .filter(|h| h.witness == verifier.name())
                .map(|h| (h.id.clone(), h.reason.clone(), h.in_force_for.clone()))
                .collect(),
            vkey: w.vkey,
            url: w.url,
        });
    }
    Ok(out)
}
