//! `airlock serve` end to end: the real binary serving a real coordinator home on a free loopback
//! port, the real signer deciding offline on the bundle it served, decisions uploaded over HTTP,
//! the log read back as C2SP tiles and verified remotely by `airlock log verify --url`; hostile
//! requests answered with problem documents and nothing written; TLS with a self-signed
//! certificate; a kill -9 under load losing nothing acknowledged.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::http::*;
use common::*;
use serde_json::Value;

#[test]
fn a_team_decides_through_the_service_and_anyone_verifies_the_published_log() {
    let w = treasury();
    let (proposal, _) = w.propose("treasury", "vendor-x:5000", &[]);
    let server = Server::start(&w, &[]);
    let api = format!("{}/api/v1", server.url);

    let health = get(&format!("{}/healthz", server.url));
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    let listed = get(&format!("{api}/proposals")).json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["proposal"], proposal.as_str());
    assert_eq!(listed[0]["status"], "collecting");
    assert_eq!(listed[0]["rule"], "large");
    let vaults = get(&format!("{api}/vaults")).json();
    assert_eq!(vaults[0]["vault"], "treasury");
    let vault = get(&format!("{api}/vaults/treasury")).json();
    assert_eq!(vault["versions"].as_array().unwrap().len(), 1);

    // The bundle the service hands out is what the offline signers review and decide on.
    let downloaded = get(&format!("{api}/proposals/{}/bundle", &proposal[..12]));
    assert_eq!(downloaded.status, 200);
    assert_eq!(downloaded.content_type, ARTIFACT);
    let bundle = w.p("served.bundle");
    std::fs::write(&bundle, &downloaded.body).unwrap();
    let armored = get(&format!("{api}/proposals/{proposal}/bundle?armor=true"));
    assert!(String::from_utf8_lossy(&armored.body).contains("BEGIN AIRLOCK"));
    let alice = w.approve("alice", &bundle);
    let bob = w.approve("bob", &bundle);
    let carol = w.reject("carol", &bundle, "vendor-x is not on the approved list");

    // Whoever carries a decision may upload it: its signature authenticates it.
    let size_before = log_size(&w);
    let accepted = post(
        &format!("{api}/decisions"),
        ARTIFACT,
        &std::fs::read(&alice).unwrap(),
    );
    assert_eq!(
        accepted.status,
        201,
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    assert_eq!(accepted.json()[0]["decision"], "approve");
    assert_eq!(accepted.json()[0]["status"], "collecting");

    // Hostile and broken uploads: a clear problem each, nothing written.
    let bob_bytes = std::fs::read(&bob).unwrap();
    post(&format!("{api}/decisions"), "image/png", &bob_bytes).problem(415, "image/png");
    post(&format!("{api}/decisions"), ARTIFACT, b"not an artifact").problem(400, "artifact 0");
    let sig_at = bob_bytes.len() - 10; // inside the trailing signature
    let mut forged = bob_bytes.clone();
    forged[sig_at] ^= 1;
    post(&format!("{api}/decisions"), ARTIFACT, &forged).problem(422, "does not verify");
    // Oversized: refused from its Content-Length before the body is read (curl sends
    // `Expect: 100-continue` for large bodies, so it hears the 413 instead of a reset).
    let big = w.p("big.bin");
    std::fs::write(&big, vec![0u8; 3 * 1024 * 1024]).unwrap();
    let curl = Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            "-H",
            &format!("content-type: {ARTIFACT}"),
        ])
        .arg("--data-binary")
        .arg(format!("@{}", path_str(&big)))
        .arg(format!("{api}/decisions"))
        .output()
        .expect("curl runs");
    let out = String::from_utf8_lossy(&curl.stdout).to_string();
    assert!(out.ends_with("\n413"), "{out}");
    assert!(out.contains("limited to 2097152 bytes"), "{out}");
    post(
        &format!("{api}/decisions"),
        "application/json",
        br#"{"artifacts": "nope"}"#,
    )
    .problem(400, "expected");
    let vault_file = w.p("treasury-v1.airlock");
    post(
        &format!("{api}/decisions"),
        ARTIFACT,
        &std::fs::read(&vault_file).unwrap(),
    )
    .problem(400, "not an approval");
    post(
        &format!("{api}/decisions"),
        ARTIFACT,
        &std::fs::read(&alice).unwrap(),
    )
    .problem(422, "");
    get(&format!("{api}/nothing-here")).problem(404, "openapi");
    reply(agent().delete(&format!("{api}/decisions")).call().unwrap()).problem(405, "method");
    get(&format!("{api}/proposals/zz")).problem(404, "");
    get(&format!("{api}/artifacts/12")).problem(400, "64 hex digits");
    assert_eq!(
        log_size(&w),
        size_before + 1,
        "refused uploads wrote nothing"
    );

    // A batch (bob's approval and carol's rejection) is one transaction.
    use base64::Engine;
    let b64 =
        |p: &Path| base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap());
    let batch = serde_json::json!({ "artifacts": [b64(&bob), b64(&carol)] });
    let accepted = post(
        &format!("{api}/decisions"),
        "application/json",
        batch.to_string().as_bytes(),
    );
    assert_eq!(
        accepted.status,
        201,
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    let state = get(&format!("{api}/proposals/{proposal}")).json();
    assert_eq!(state["approved"].as_array().unwrap().len(), 2);
    assert_eq!(
        state["rejected"][0]["reason"],
        "vendor-x is not on the approved list"
    );
    assert_eq!(state["status"], "rejected");

    // The log as C2SP tiles: the checkpoint verifies with the coordinator's log key, tiles are
    // immutable, paths outside the tree or non-canonical are refused.
    let size = log_size(&w);
    let checkpoint = get(&format!("{}/log/checkpoint", server.url));
    let note = String::from_utf8(checkpoint.body.clone()).unwrap();
    assert!(note.starts_with("test.airlock/log\n"));
    assert_eq!(note.lines().nth(1).unwrap(), size.to_string());
    let entries = get(&format!("{}/log/tile/entries/000.p/{size}", server.url));
    assert_eq!(entries.status, 200);
    assert!(entries.cache.contains("immutable"));
    let hashes = get(&format!("{}/log/tile/0/000.p/{size}", server.url));
    assert_eq!(hashes.body.len() as u64, 32 * size);
    get(&format!("{}/log/tile/0/000.p/{}", server.url, size + 1)).problem(404, "beyond");
    get(&format!("{}/log/tile/0/000", server.url)).problem(404, "beyond");
    get(&format!("{}/log/tile/0/0", server.url)).problem(404, "C2SP tile path");
    get(&format!("{}/log/tile/8/data/000", server.url)).problem(404, "C2SP tile path");

    // Anyone verifies the published log from tiles and artifacts: the same verdict as the
    // coordinator's own `log verify`.
    let local = w.airlock(&["--json", "log", "verify"]).ok().json();
    let log_key = w.airlock(&["--json", "id"]).ok().json()["log_key"]
        .as_str()
        .unwrap()
        .to_string();
    let remote = w
        .airlock(&[
            "--json",
            "log",
            "verify",
            "--url",
            &server.url,
            "--log-key",
            &log_key,
        ])
        .ok()
        .json();
    for field in [
        "size",
        "root",
        "vault_versions",
        "proposals",
        "approvals",
        "rejections",
    ] {
        assert_eq!(remote[field], local[field], "{field}");
    }
    assert_eq!(remote["key_pinned"], true);
    // Another log's key: the checkpoint does not verify, an alarm.
    let other = World::new();
    other.init_coordinator();
    let other_key = other.airlock(&["--json", "id"]).ok().json()["log_key"]
        .as_str()
        .unwrap()
        .to_string();
    w.airlock(&[
        "log",
        "verify",
        "--url",
        &server.url,
        "--log-key",
        &other_key,
    ])
    .fails(3, "checkpoint");

    // Metrics from the counters and from the log.
    let metrics = String::from_utf8(get(&format!("{}/metrics", server.url)).body).unwrap();
    assert!(
        metrics.contains(&format!("airlock_log_size {size}")),
        "{metrics}"
    );
    assert!(metrics.contains("airlock_decision_uploads_total{outcome=\"accepted\"} 2"));
    assert!(metrics.contains("airlock_proposals{vault=\"treasury\",state=\"rejected\"} 1"));
    // `airlock metrics`' figures, the same through the API as from the CLI on the same log.
    assert!(
        metrics.contains("airlock_process_proposals{vault=\"treasury\",outcome=\"rejected\"} 1"),
        "{metrics}"
    );
    let api = get(&format!("{}/api/v1/metrics?vault=treasury", server.url)).json();
    let cli = w
        .airlock(&["--json", "metrics", "--quick", "--vault", "treasury"])
        .ok()
        .json();
    assert_eq!(api["outcomes"]["rejected"], 1, "{api}");
    assert_eq!(api["latency"], cli["latency"], "{api}\n{cli}");
    assert_eq!(api["signers"], cli["signers"]);
    let chart = get(&format!("{}/api/v1/metrics/charts/stages.svg", server.url));
    assert!(String::from_utf8(chart.body).unwrap().starts_with("<svg"));
    get(&format!("{}/api/v1/metrics/charts/secrets.svg", server.url)).problem(404, "no chart");
    assert!(
        get(&format!("{}/openapi.json", server.url)).json()["paths"]["/api/v1/decisions"]
            .is_object()
    );

    // The service owns the home: a CLI writer is told who holds it instead of racing it.
    let busy = run(
        &airlock_bin(),
        &[
            "--home",
            path_str(&w.coordinator_home()),
            "submit",
            path_str(&alice),
        ],
        w.now.get(),
        &[("AIRLOCK_LOCK_WAIT", "0")],
    );
    assert_eq!(busy.code, 4, "{}", busy.stderr);
    assert!(busy.stderr.contains("airlock serve"), "{}", busy.stderr);

    let status = server.terminate();
    assert!(status.success(), "SIGTERM is a graceful stop: {status:?}");
    w.airlock(&["log", "verify"]).ok();
}

#[test]
fn plain_http_is_served_on_loopback_only_unless_asked() {
    let w = treasury();
    let out = w.airlock(&["serve", "--listen", "0.0.0.0:0"]);
    let out = out.fails(1, "--allow-remote");
    assert!(out.stderr.contains("refusing to serve plain HTTP"));
    // --database names the home's own store; moving a home to PostgreSQL is `migrate`.
    w.airlock(&["serve", "--database", "postgres://db/airlock"])
        .fails(1, "migrate --to");
}

#[test]
fn tls_with_a_self_signed_certificate() {
    let w = treasury();
    w.propose("treasury", "acme-payroll:100", &[]);
    let cert = w.p("cert.pem");
    let key = w.p("key.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=airlock-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
            path_str(&key),
            "-out",
            path_str(&cert),
        ])
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let server = Server::start(
        &w,
        &["--tls-cert", path_str(&cert), "--tls-key", path_str(&key)],
    );
    assert!(server.url.starts_with("https://127.0.0.1:"));
    let local = w.airlock(&["--json", "log", "verify"]).ok().json();
    let remote = w
        .airlock(&[
            "--json",
            "log",
            "verify",
            "--url",
            &server.url,
            "--ca-cert",
            path_str(&cert),
        ])
        .ok()
        .json();
    assert_eq!(remote["root"], local["root"]);
    assert_eq!(remote["key_pinned"], false);
    // Without trusting the certificate, the client refuses to talk.
    w.airlock(&["log", "verify", "--url", &server.url])
        .fails(1, "GET");
    // Plain HTTP to the TLS port gets nowhere.
    let plain = server.url.replace("https://", "http://");
    assert!(agent().get(&format!("{plain}/healthz")).call().is_err());
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged() {
    let w = treasury();
    // Proposals under the routine rule (1 ops approval each), approved offline by alice and bob.
    let mut decisions = Vec::new();
    for i in 0..8 {
        let (_, bundle) = w.propose("treasury", &format!("acme-payroll:{}", 10 + i), &[]);
        decisions.push(w.approve("alice", &bundle));
        decisions.push(w.approve("bob", &bundle));
    }
    let server = Server::start(&w, &[]);
    let url = format!("{}/api/v1/decisions", server.url);
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let threads: Vec<_> = decisions
        .iter()
        .map(|file| {
            let bytes = std::fs::read(file).unwrap();
            let url = url.clone();
            let acknowledged = acknowledged.clone();
            std::thread::spawn(move || {
                let r = agent()
                    .post(&url)
                    .header("content-type", ARTIFACT)
                    .send(&bytes[..]);
                if let Ok(r) = r {
                    let r = reply(r);
                    if r.status == 201 {
                        let id = r.json()[0]["id"].as_str().unwrap().to_string();
                        acknowledged.lock().unwrap().push(id);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(30));
    let mut server = server;
    server.child.kill().expect("kill -9");
    server.child.wait().unwrap();
    for t in threads {
        t.join().unwrap();
    }
    // Restarted, the log verifies and holds every decision the service acknowledged.
    w.airlock(&["log", "verify"]).ok();
    let restarted = Server::start(&w, &[]);
    let acknowledged = acknowledged.lock().unwrap().clone();
    for id in &acknowledged {
        let r = get(&format!("{}/api/v1/artifacts/{id}", restarted.url));
        assert_eq!(r.status, 200, "acknowledged decision {id} was lost");
    }
    // Uploading everything again completes the set: acknowledged ones are refused as
    // already recorded, the rest are accepted now.
    for file in &decisions {
        let r = post(
            &url.replace(&server.url, &restarted.url),
            ARTIFACT,
            &std::fs::read(file).unwrap(),
        );
        assert!(
            r.status == 201 || r.status == 422,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let states = get(&format!("{}/api/v1/proposals", restarted.url)).json();
    assert!(
        states
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["approved"].as_array().unwrap().len() == 2),
        "{states}"
    );
    drop(restarted);
    w.airlock(&["log", "verify"]).ok();
}

#[test]
fn the_cli_carries_files_through_the_service_without_the_database() {
    let w = treasury();
    let (proposal, _) = w.propose("treasury", "acme-payroll:250", &[]);
    let server = Server::start(&w, &[]);
    // A laptop with no coordinator home: everything goes through --server.
    let laptop = w.p("laptop-home");
    let remote = |args: &[&str]| {
        let mut all = vec!["--home", path_str(&laptop), "--server", server.url.as_str()];
        all.extend_from_slice(args);
        run(&airlock_bin(), &all, w.now.get(), &[])
    };
    let local_status = w.airlock(&["--json", "status"]).ok().json();
    let remote_status = remote(&["--json", "status"]).ok().json();
    assert_eq!(
        remote_status, local_status,
        "the same view through the service"
    );
    assert_eq!(
        remote(&["--json", "vault", "list"]).ok().json()[0]["vault"],
        "treasury"
    );
    let id = remote(&["--json", "id"]).ok().json();
    assert_eq!(id, {
        let mut local = w.airlock(&["--json", "id"]).ok().json();
        local.as_object_mut().unwrap().retain(|k, _| k != "home");
        local
    });

    let bundle = w.p("laptop.bundle");
    remote(&["export", &proposal[..10], "--out", path_str(&bundle)]).ok();
    let alice = w.approve("alice", &bundle);
    let accepted = remote(&["--json", "submit", path_str(&alice)]).ok().json();
    assert_eq!(accepted[0]["status"], "ready");
    let text = remote(&["status", &proposal]).ok().stdout;
    assert!(
        text.contains("READY") && text.contains("approved:  alice"),
        "{text}"
    );
    // The same file again: refused by the coordinator's rules, exit 1, nothing written.
    remote(&["submit", path_str(&alice)]).fails(1, "HTTP 422");
    remote(&["log", "verify"]).ok();
    // Writes that are not signed artifacts need a member's key.
    remote(&["finalize", &proposal]).fails(1, "--member-key");
    remote(&["status", "../x"]).fails(1, "ids and vault names");
    assert!(!laptop.exists(), "--server never creates a local home");
}

#[test]
fn members_sign_what_they_do_and_hold_only_their_roles() {
    let w = treasury();
    let pass = w.p("member.pass");
    std::fs::write(&pass, "member passphrase\n").unwrap();
    let keygen = |who: &str| member_keygen(&w, who, &pass);
    let (paul_file, paul) = keygen("paul");
    let (olivia_file, olivia) = keygen("olivia");
    let (mallory_file, _) = keygen("mallory");
    w.airlock(&[
        "member", "add", "paul", "--key", &paul, "--role", "proposer", "--vault", "treasury",
    ])
    .ok();
    let server = Server::start(&w, &[]);
    // Members are managed while the service runs (they live in the database, not under the lock).
    w.airlock(&[
        "member", "add", "olivia", "--key", &olivia, "--role", "operator",
    ])
    .ok();
    w.airlock(&[
        "member", "add", "olivia", "--key", &paul, "--role", "viewer",
    ])
    .fails(1, "already belongs to member paul");
    let members = get(&format!("{}/api/v1/members", server.url)).json();
    assert_eq!(members.as_array().unwrap().len(), 2);

    let as_member = |file: &Path, args: &[&str]| {
        let mut all = vec![
            "--home",
            "/nonexistent/airlock-laptop",
            "--server",
            server.url.as_str(),
            "--member-key",
            path_str(file),
        ];
        all.extend_from_slice(args);
        run(
            &airlock_bin(),
            &all,
            w.now.get(),
            &[("AIRLOCK_PASSPHRASE_FILE", path_str(&pass))],
        )
    };
    let bundle = w.p("member.bundle");
    let proposed = as_member(
        &paul_file,
        &[
            "--json",
            "propose",
            "--vault",
            "treasury",
            "--to",
            "acme-payroll:100",
            "--out",
            path_str(&bundle),
        ],
    )
    .ok()
    .json();
    assert_eq!(proposed["proposed_by"], "paul");
    let proposal = proposed["proposal"].as_str().unwrap().to_string();
    as_member(
        &mallory_file,
        &["propose", "--vault", "treasury", "--to", "acme-payroll:1"],
    )
    .fails(1, "not a member");
    as_member(&paul_file, &["finalize", &proposal]).fails(1, "not a operator");

    let alice = w.approve("alice", &bundle);
    as_member(&paul_file, &["submit", path_str(&alice)]).ok();

    // A new vault has no previous signers to authorize it: only an operator may create one.
    let alice_key = w.signer_key("alice");
    let draft = w.p("ops-fund.draft");
    w.airlock(&[
        "vault",
        "draft",
        "--vault",
        "ops-fund",
        "--signer",
        &format!("alice:ops:{alice_key}"),
        "--threshold",
        "1",
        "--out",
        path_str(&draft),
    ])
    .ok();
    let signed = w.p("ops-fund.signed");
    w.signer(
        "alice",
        &[
            "vault",
            "sign",
            path_str(&draft),
            "--out",
            path_str(&signed),
            "--yes",
        ],
    )
    .ok();
    post(
        &format!("{}/api/v1/vaults", server.url),
        ARTIFACT,
        &std::fs::read(&signed).unwrap(),
    )
    .problem(
        403,
        "creating a vault takes a signed request by an operator",
    );
    as_member(&paul_file, &["vault", "submit", path_str(&signed)]).fails(1, "not a operator");
    as_member(&olivia_file, &["vault", "submit", path_str(&signed)]).ok();
    assert_eq!(
        get(&format!("{}/api/v1/vaults", server.url))
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let finalized = as_member(&olivia_file, &["--json", "finalize", &proposal[..12]])
        .ok()
        .json();
    assert_eq!(finalized["status"], "finalized");
    assert_eq!(finalized["by"], "olivia");
    drop(server);
    // The log says who made each write (signed decisions name their signer themselves).
    let log = w.airlock(&["--json", "log", "show"]).ok().json();
    let by: Vec<(String, Value)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap().to_string(), r["by"].clone()))
        .collect();
    assert!(
        by.contains(&("proposal".into(), Value::from("paul"))),
        "{by:?}"
    );
    assert!(
        by.contains(&("finalized".into(), Value::from("olivia"))),
        "{by:?}"
    );
    w.airlock(&["log", "verify"]).ok();
}

#[test]
fn unsigned_forged_and_replayed_requests_are_refused_and_write_nothing() {
    use airlock_transport::httpsig;
    let w = treasury();
    let key = add_member(&w, "paul", "proposer").key;
    let server = Server::start(&w, &[]);
    let url = format!("{}/api/v1/proposals", server.url);
    let body = br#"{"vault":"treasury","transfers":[{"destination":"acme-payroll","amount":5}]}"#;
    let size = log_size(&w);
    let send = |h: &httpsig::SignedHeaders, body: &[u8]| post_signed(&url, h, body);
    post(&url, "application/json", body).problem(401, "not signed");
    let now = w.now.get();
    let signed = httpsig::sign(
        &key,
        "POST",
        "/api/v1/proposals",
        "",
        body,
        now,
        "replay-test-nonce-1",
    );
    assert_eq!(send(&signed, body).status, 201);
    send(&signed, body).problem(401, "replays are refused");
    let other = httpsig::sign(
        &key,
        "POST",
        "/api/v1/proposals",
        "",
        body,
        now,
        "replay-test-nonce-2",
    );
    send(
        &other,
        br#"{"vault":"treasury","transfers":[{"destination":"mallory","amount":5}]}"#,
    )
    .problem(401, "Content-Digest");
    let elsewhere = httpsig::sign(
        &key,
        "POST",
        "/api/v1/members",
        "",
        body,
        now,
        "replay-test-nonce-3",
    );
    send(&elsewhere, body).problem(401, "does not verify");
    let old = httpsig::sign(
        &key,
        "POST",
        "/api/v1/proposals",
        "",
        body,
        now - 3600,
        "replay-test-nonce-4",
    );
    send(&old, body).problem(401, "server's clock");
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let forged = httpsig::sign(
        &stranger,
        "POST",
        "/api/v1/proposals",
        "",
        body,
        now,
        "replay-test-nonce-5",
    );
    send(&forged, body).problem(403, "not a member");
    assert_eq!(log_size(&w), size + 1, "only the one good request wrote");
    // One member cannot crowd out the others: past its burst, 429 with Retry-After.
    let mut limited = None;
    for i in 0..300 {
        let h = httpsig::sign(
            &key,
            "POST",
            "/api/v1/proposals",
            "",
            b"{}",
            now,
            &format!("burst-nonce-{i:08}"),
        );
        let r = send(&h, b"{}");
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("a burst of signed requests is limited");
    limited.problem(429, "wait a moment");
    assert_eq!(log_size(&w), size + 1, "nothing written by the burst");
    drop(server);
    // Nonces are claimed in the database: a captured request cannot be replayed after a
    // restart either.
    w.set_now(now + 60);
    let restarted = Server::start(&w, &[]);
    post_signed(
        &format!("{}/api/v1/proposals", restarted.url),
        &signed,
        body,
    )
    .problem(401, "replays are refused");
}

#[test]
fn a_signers_transfer_is_uploaded_by_whoever_carries_it() {
    let w = treasury();
    let (proposal, bundle) = w.propose("treasury", "acme-payroll:40", &[]);
    let approval = w.approve("alice", &bundle);
    let dir = w.transfer_out("alice", &approval, "approval of payroll");
    let body = |tamper: bool| {
        let mut manifest = Vec::new();
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let mut data = std::fs::read(entry.path()).unwrap();
            if name == "manifest.airlock" {
                manifest = data;
            } else {
                if tamper {
                    let last = data.len() - 1;
                    data[last] ^= 1;
                }
                files.push((name, data));
            }
        }
        airlock_service::client::transfer_upload(&manifest, &files)
            .to_string()
            .into_bytes()
    };
    let server = Server::start(&w, &[]);
    let url = format!("{}/api/v1/transfers", server.url);
    let size = log_size(&w);
    // A tampered file, a body that is not JSON, a manifest that is not base64: refused,
    // nothing written.
    post(&url, "application/json", &body(true)).problem(422, "altered in transit");
    post(&url, "application/json", b"{\"manifest\": 1}").problem(400, "JSON");
    post(
        &url,
        "application/json",
        br#"{"manifest":"%%%","files":[]}"#,
    )
    .problem(400, "not base64");
    post(&url, "text/plain", &body(false)).problem(415, "application/json");
    assert_eq!(log_size(&w), size);

    // A laptop with no coordinator home carries the directory to the service.
    let laptop = |args: &[&str]| {
        let mut all = vec![
            "--home",
            "/nonexistent/airlock-laptop",
            "--server",
            server.url.as_str(),
            "--json",
        ];
        all.extend_from_slice(args);
        run(&airlock_bin(), &all, w.now.get(), &[])
    };
    let got = laptop(&["transfer", "in", path_str(&dir)]).ok().json();
    assert_eq!(got["origin"], "alice");
    assert_eq!(got["decisions"][0]["status"], "ready");
    assert_eq!(w.status(&proposal)["approved"][0], "alice");
    // The same transfer again: its sequence number was used.
    post(&url, "application/json", &body(false)).problem(422, "sequence");
    laptop(&["transfer", "in", path_str(&dir)]).fails(1, "sequence");
    let listed = laptop(&["transfer", "log"]).ok().json();
    assert_eq!(listed, get(&url).json());
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["direction"], "in");
    assert_eq!(listed[0]["manifest"]["origin"]["name"], "alice");
    drop(server);
    w.airlock(&["log", "verify"]).ok();
}
