//! `airlock-witness` through its real binary: the C2SP tlog-witness protocol's answers, refusals
//! that change nothing, racing requests across two serving processes on one home, and crashes at
//! the commit point. The log side is built with `airlock_log` (the coordinator's own tree, proofs
//! and checkpoint signer); the witness is only ever reached over HTTP on 127.0.0.1.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use airlock_log::witness::{AddCheckpoint, WitnessVerifier, note_body};
use airlock_log::{CheckpointSigner, MemoryLog, prove_consistency};
use ed25519_dalek::SigningKey;
use serde_json::Value;

const NOW: u64 = 1_767_225_600;
const ORIGIN: &str = "log.test/airlock";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_airlock-witness")
}

fn witness(home: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .env("AIRLOCK_NOW", NOW.to_string())
        .envs(envs.iter().copied())
        .output()
        .expect("airlock-witness runs")
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(home: &Path, envs: &[(&str, &str)]) -> Server {
    serve_with(home, envs, &[])
}

fn serve_with(home: &Path, envs: &[(&str, &str)], extra: &[&str]) -> Server {
    let mut child = Command::new(bin())
        .arg("--home")
        .arg(home)
        .args(["--json", "serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("AIRLOCK_NOW", NOW.to_string())
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("serve says where it listens");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    Server {
        child,
        url: v["listening"].as_str().unwrap().to_owned(),
    }
}

/// Status, content type and body of a POST.
fn post(url: &str, body: &[u8]) -> Result<(u16, String, String), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(&format!("{url}/add-checkpoint"))
        .send(body)
        .map_err(|e| e.to_string())?;
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
    Ok((r.status().as_u16(), content_type, body))
}

/// A log of `size` leaves (leaf i is `"{tag} {i}"`) and its checkpoint signed by `key`.
fn log_of(size: u64, tag: &str, key: u8) -> (MemoryLog, String) {
    let mut log = MemoryLog::new();
    for i in 0..size {
        log.append(format!("{tag} {i}").as_bytes());
    }
    let signer = CheckpointSigner::new(ORIGIN, SigningKey::from_bytes(&[key; 32])).unwrap();
    let note = signer.sign(log.size(), log.root()).unwrap().note;
    (log, note)
}

fn request(old: u64, log: &MemoryLog, note: &str) -> Vec<u8> {
    let proof = if old == 0 || old >= log.size() {
        vec![]
    } else {
        prove_consistency(old, log.size(), log).unwrap().hashes
    };
    AddCheckpoint {
        old_size: old,
        proof,
        checkpoint: note.to_owned(),
    }
    .to_bytes()
}

fn log_vkey(key: u8) -> String {
    CheckpointSigner::new(ORIGIN, SigningKey::from_bytes(&[key; 32]))
        .unwrap()
        .verifier()
        .vkey()
}

/// A witness home trusting the test log; its verifier.
fn new_witness(dir: &Path) -> WitnessVerifier {
    let made = json_of(&witness(
        dir,
        &["--json", "init", "--name", "witness.test/w1"],
        &[],
    ));
    json_of(&witness(dir, &["--json", "log", "add", &log_vkey(1)], &[]));
    WitnessVerifier::from_vkey(made["vkey"].as_str().unwrap()).unwrap()
}

fn stored_size(home: &Path) -> u64 {
    let logs = json_of(&witness(home, &["--json", "log", "list"], &[]));
    logs[0]["size"].as_u64().unwrap()
}

#[test]
fn add_checkpoint_answers_with_the_protocols_codes_and_refusals_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("w");
    let verifier = new_witness(&home);
    // init twice is refused; the key stays.
    let again = witness(&home, &["init", "--name", "witness.test/w1"], &[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a witness"));
    let id = witness(&home, &["id"], &[]);
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), verifier.vkey());
    let server = serve(&home, &[]);

    // The first checkpoint: old 0, no proof. The answer is a cosignature line that verifies
    // with the witness's published key over the checkpoint body, timestamped now.
    let (log10, note10) = log_of(10, "leaf", 1);
    let (status, content_type, body) = post(&server.url, &request(0, &log10, &note10)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/plain"));
    assert_eq!(body.lines().count(), 1);
    let checkpoint_body = note_body(&note10).unwrap();
    assert_eq!(verifier.verify_line(checkpoint_body, &body), Some(NOW));
    assert_eq!(verifier.cosigned_at(&format!("{note10}{body}")), Some(NOW));

    // The same request again: the witness is at 10 now (409, its size as text/x.tlog.size).
    let (status, content_type, body) = post(&server.url, &request(0, &log10, &note10)).unwrap();
    assert_eq!(
        (status, content_type.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "10\n")
    );
    // Same size, same root: cosigned again (a client that lost the first answer).
    assert_eq!(
        post(&server.url, &request(10, &log10, &note10)).unwrap().0,
        200
    );

    // Grow to 15: a bad proof is 422, a stale old size 409, old > new 400, a checkpoint signed by
    // another key 403, an unknown log 404, a same-size fork 409, malformed bodies 400, an
    // oversized one 413; none changes the witness's state.
    let (log15, note15) = log_of(15, "leaf", 1);
    let mut bad = AddCheckpoint::parse(&request(10, &log15, &note15)).unwrap();
    bad.proof[0][0] ^= 1;
    assert_eq!(post(&server.url, &bad.to_bytes()).unwrap().0, 422);
    let mut short = AddCheckpoint::parse(&request(10, &log15, &note15)).unwrap();
    short.proof.pop();
    assert_eq!(post(&server.url, &short.to_bytes()).unwrap().0, 422);
    assert_eq!(
        post(&server.url, &request(9, &log15, &note15)).unwrap().0,
        409
    );
    let (status, _, body) = post(&server.url, &request(16, &log15, &note15)).unwrap();
    assert_eq!(status, 400, "{body}");
    let (_, forged) = log_of(15, "leaf", 2);
    let (status, _, body) = post(&server.url, &request(10, &log15, &forged)).unwrap();
    assert_eq!(status, 403, "{body}");
    let stranger = CheckpointSigner::new("other.test/log", SigningKey::from_bytes(&[1; 32]))
        .unwrap()
        .sign(log15.size(), log15.root())
        .unwrap()
        .note;
    let (status, _, body) = post(&server.url, &request(10, &log15, &stranger)).unwrap();
    assert_eq!(status, 404, "{body}");
    let (fork10, fork_note) = log_of(10, "other leaf", 1);
    let (status, _, body) = post(&server.url, &request(10, &fork10, &fork_note)).unwrap();
    assert_eq!((status, body.as_str()), (409, "10\n"));
    for malformed in [
        b"".as_slice(),
        b"old 01\n\nx",
        b"old 10\nnot a hash\n\nx",
        b"new 10\n\n",
        b"old 10\n",
    ] {
        let (status, _, body) = post(&server.url, malformed).unwrap();
        assert_eq!(
            status,
            400,
            "{:?}: {body}",
            String::from_utf8_lossy(malformed)
        );
    }
    assert_eq!(post(&server.url, &vec![b'x'; 70_000]).unwrap().0, 413);
    assert_eq!(stored_size(&home), 10);

    // The valid extension is cosigned; the witness is at 15.
    let (status, _, body) = post(&server.url, &request(10, &log15, &note15)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        verifier.verify_line(note_body(&note15).unwrap(), &body),
        Some(NOW)
    );
    let logs = json_of(&witness(&home, &["--json", "log", "list"], &[]));
    assert_eq!(logs[0]["size"], 15);
    assert_eq!(logs[0]["root"], hex(&log15.root()));
    assert_eq!(logs[0]["cosigned_at"], NOW);
    // A fork of the grown log is refused as a split view.
    let (fork20, fork20_note) = log_of(20, "other leaf", 1);
    assert_eq!(
        post(&server.url, &request(15, &fork20, &fork20_note))
            .unwrap()
            .0,
        422
    );

    // Trusting a second key for a known log is refused.
    let out = witness(&home, &["log", "add", &log_vkey(2)], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already trusted"));
}

/// A client that opens a connection and drips its headers is cut off after the header timeout,
/// while the witness goes on answering others.
#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("w");
    new_witness(&home);
    let server = serve_with(&home, &[], &["--header-timeout", "1"]);
    let address = server.url.trim_start_matches("http://");
    let mut slow = std::net::TcpStream::connect(address).unwrap();
    slow.write_all(b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\n")
        .unwrap();
    // Without a header timeout the read below would block until its own 20 s timeout (an error).
    slow.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut answer = Vec::new();
    let read = slow.read_to_end(&mut answer);
    assert!(
        read.is_ok(),
        "the half-sent request's connection was not closed by the witness: {read:?}"
    );
    let (status, _, body) = post(&server.url, b"not a request").unwrap();
    assert_eq!(status, 400, "{body}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn racing_requests_through_two_processes_never_roll_the_log_back() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("w");
    let verifier = new_witness(&home);
    let servers = [serve(&home, &[]), serve(&home, &[])];
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    // Eight clients, each pushing its own larger checkpoint of one log, learning the witness's
    // size from 409s and retrying from there; they alternate between the two processes.
    let results: Vec<(u64, bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=8u64)
            .map(|n| {
                let urls = urls.clone();
                let verifier = verifier.clone();
                scope.spawn(move || {
                    let (log, note) = log_of(n * 10, "leaf", 1);
                    let mut known = 0;
                    for attempt in 0..200 {
                        let url = &urls[(n as usize + attempt) % 2];
                        let (status, _, body) = post(url, &request(known, &log, &note)).unwrap();
                        match status {
                            200 => {
                                assert!(
                                    verifier
                                        .verify_line(note_body(&note).unwrap(), &body)
                                        .is_some()
                                );
                                return (n * 10, true);
                            }
                            409 => known = body.trim().parse().unwrap(),
                            // The witness moved past this client's checkpoint.
                            400 => return (n * 10, false),
                            other => panic!("status {other}: {body}"),
                        }
                    }
                    panic!("client {n} never got an answer it could act on")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let largest_cosigned = results
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(size, _)| *size)
        .max()
        .expect("someone was cosigned");
    assert_eq!(
        stored_size(&home),
        largest_cosigned,
        "the witness's state is the largest checkpoint it cosigned: {results:?}"
    );
    assert!(
        results.iter().any(|(size, ok)| *size == 80 && *ok),
        "{results:?}"
    );
}

#[test]
fn a_witness_killed_at_its_commit_point_restarts_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("w");
    let verifier = new_witness(&home);
    let (log10, note10) = log_of(10, "leaf", 1);
    let (log15, note15) = log_of(15, "leaf", 1);
    {
        let server = serve(&home, &[]);
        assert_eq!(
            post(&server.url, &request(0, &log10, &note10)).unwrap().0,
            200
        );
    }
    // Killed before the commit: the old state, and the same request then succeeds.
    {
        let server = serve(&home, &[("AIRLOCK_FAILPOINT", "witness.commit")]);
        assert!(post(&server.url, &request(10, &log15, &note15)).is_err());
    }
    assert_eq!(stored_size(&home), 10);
    // Killed after the commit, before answering: the new state; the client, told the size by a
    // 409, asks again from there and gets its cosignature.
    {
        let server = serve(&home, &[("AIRLOCK_FAILPOINT", "witness.committed")]);
        assert!(post(&server.url, &request(10, &log15, &note15)).is_err());
    }
    assert_eq!(stored_size(&home), 15);
    let server = serve(&home, &[]);
    let (status, _, body) = post(&server.url, &request(10, &log15, &note15)).unwrap();
    assert_eq!((status, body.as_str()), (409, "15\n"));
    let (status, _, body) = post(&server.url, &request(15, &log15, &note15)).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        verifier.verify_line(note_body(&note15).unwrap(), &body),
        Some(NOW)
    );
}
