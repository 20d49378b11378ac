//! The coordinator on PostgreSQL, end to end: a real server the test starts itself (`initdb`
//! into a temporary directory, a free loopback port), `airlock migrate --to` moving a SQLite
//! home with its log verified identical, and two `airlock serve` processes on one database
//! serving the same team at once — concurrent decisions through both, a request replayed from
//! one to the other refused, a sign-in begun on one and finished on the other, a kill -9 of one
//! under load losing nothing it acknowledged — with `log verify` passing after all of it.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use airlock_coordinator::test_server::TestPostgres;
use common::http::*;
use common::*;

fn server() -> &'static TestPostgres {
    static SERVER: OnceLock<TestPostgres> = OnceLock::new();
    SERVER.get_or_init(|| TestPostgres::start().expect("a PostgreSQL test server starts"))
}

fn leaves_in(url: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .query_one("SELECT COUNT(*) FROM leaves", &[])
        .unwrap()
        .get(0)
}

#[test]
fn a_home_migrates_to_postgres_with_its_log_verified_identical() {
    let w = treasury();
    let (proposal, bundle) = w.propose("treasury", "acme-payroll:250", &[]);
    w.submit(&[&w.approve("alice", &bundle)]).ok();
    let before = w.airlock(&["--json", "log", "verify"]).ok().json();
    let config = w.coordinator_home().join("coordinator.json");
    let config_before = std::fs::read(&config).unwrap();

    // Bad targets are refused and change nothing.
    w.airlock(&["migrate", "--to", "mysql://db/airlock"])
        .fails(1, "not a PostgreSQL URL");
    w.airlock(&[
        "migrate",
        "--to",
        "postgres://airlock:secret@127.0.0.1:1/none",
    ])
    .fails(4, "cannot connect");
    // The server answers but refuses: not worth retrying.
    w.airlock(&["migrate", "--to", &server().url("no_such_database")])
        .fails(1, "does not exist");
    assert_eq!(std::fs::read(&config).unwrap(), config_before);

    let url = server().create_database("migrated").unwrap();
    let out = w.airlock(&["--json", "migrate", "--to", &url]).ok().json();
    assert_eq!(out["root"], before["root"]);
    assert_eq!(out["size"], before["size"]);
    assert_eq!(
        leaves_in(&url),
        before["size"].as_i64().unwrap(),
        "the records are in PostgreSQL"
    );
    let after = w.airlock(&["--json", "log", "verify"]).ok().json();
    assert_eq!(after["root"], before["root"]);
    assert_eq!(after["checkpoints"], before["checkpoints"]);

    // The home now works on PostgreSQL: bob's approval lands there.
    w.submit(&[&w.approve("bob", &bundle)]).ok();
    assert_eq!(w.status(&proposal)["approved"].as_array().unwrap().len(), 2);
    assert_eq!(leaves_in(&url), before["size"].as_i64().unwrap() + 1);
    w.airlock(&["log", "verify"]).ok();

    // Again: refused; another coordinator cannot write into this database either.
    w.airlock(&["migrate", "--to", &url])
        .fails(1, "already keeps its state");
    let other = World::new();
    other.init_coordinator();
    other
        .airlock(&["migrate", "--to", &url])
        .fails(1, "holds another log");
    // Serving names the database; --database must agree with the home.
    w.airlock(&["serve", "--database", "postgres://elsewhere/db"])
        .fails(1, "keeps its state in postgres://airlock@127.0.0.1");
}

/// Uploads decision files concurrently, each to `urls[i % urls.len()]`; returns the ids the
/// services acknowledged (201).
fn upload_all(files: &[std::path::PathBuf], urls: &[String]) -> Arc<Mutex<Vec<String>>> {
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let bytes = std::fs::read(file).unwrap();
            let url = format!("{}/api/v1/decisions", urls[i % urls.len()]);
            let acknowledged = Arc::clone(&acknowledged);
            std::thread::spawn(move || {
                if let Ok(r) = agent()
                    .post(&url)
                    .header("content-type", ARTIFACT)
                    .send(&bytes[..])
                {
                    let r = reply(r);
                    if r.status == 201 {
                        let id = r.json()[0]["id"].as_str().unwrap().to_string();
                        acknowledged.lock().unwrap().push(id);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    acknowledged
}

fn second_home(w: &World) -> std::path::PathBuf {
    // A second machine of the same coordinator: its identity and configuration (which names
    // the database), nothing else.
    let home = w.p("second-coordinator");
    std::fs::create_dir_all(&home).unwrap();
    for file in ["coordinator.json", "identity.key"] {
        std::fs::copy(w.coordinator_home().join(file), home.join(file)).unwrap();
    }
    home
}

#[test]
fn two_services_on_one_database_serve_the_team_at_once() {
    let w = treasury();
    let paul = add_member(&w, "paul", "proposer");
    let mut decisions = Vec::new();
    for i in 0..12 {
        let (_, bundle) = w.propose("treasury", &format!("acme-payroll:{}", 10 + i), &[]);
        decisions.push(w.approve("alice", &bundle));
        decisions.push(w.approve("bob", &bundle));
    }
    let url = server().create_database("two_services").unwrap();
    w.airlock(&["migrate", "--to", &url]).ok();
    let home2 = second_home(&w);
    let a = Server::start(&w, &[]);
    let b = Server::start_in(&w, &home2, &[]);

    // Decisions through both at once: every one accepted exactly once.
    let (first, rest) = decisions.split_at(12);
    let acknowledged = upload_all(first, &[a.url.clone(), b.url.clone()]);
    assert_eq!(acknowledged.lock().unwrap().len(), 12);
    let checkpoint_a = get(&format!("{}/log/checkpoint", a.url));
    let checkpoint_b = get(&format!("{}/log/checkpoint", b.url));
    assert_eq!(checkpoint_a.status, 200);
    assert_eq!(checkpoint_a.body, checkpoint_b.body, "one log, one head");
    w.airlock(&["log", "verify"]).ok();
    w.airlock(&["log", "verify", "--url", &b.url]).ok();

    // A signed request made to one is refused when replayed to the other.
    let body = br#"{"vault":"treasury","transfers":[{"destination":"acme-payroll","amount":7}]}"#;
    let signed = airlock_transport::httpsig::sign(
        &paul.key,
        "POST",
        "/api/v1/proposals",
        "",
        body,
        w.now.get(),
        "two-services-nonce",
    );
    let send = |base: &str| post_signed(&format!("{base}/api/v1/proposals"), &signed, body);
    assert_eq!(send(&a.url).status, 201);
    send(&b.url).problem(401, "replays are refused");

    // A sign-in shown by one service is signed through the other and redeemed on the first.
    let challenge = post(&format!("{}/api/v1/session/challenge", a.url), "", b"").json();
    let code = challenge["challenge"].as_str().unwrap();
    run(
        &airlock_bin(),
        &[
            "--home",
            "/nonexistent/airlock-laptop",
            "--server",
            &b.url,
            "--member-key",
            path_str(&paul.file),
            "login",
            code,
        ],
        w.now.get(),
        &[("AIRLOCK_PASSPHRASE_FILE", path_str(&paul.pass))],
    )
    .ok();
    let signed_in = get(&format!("{}/api/v1/session/challenge/{code}", a.url));
    assert_eq!(
        signed_in.status,
        200,
        "{}",
        String::from_utf8_lossy(&signed_in.body)
    );
    assert_eq!(signed_in.json()["member"], "paul");

    // kill -9 of one service under load: the other keeps serving, nothing acknowledged is lost.
    let mut a = a;
    let load = {
        let files = rest.to_vec();
        let urls = vec![a.url.clone(), b.url.clone()];
        std::thread::spawn(move || upload_all(&files, &urls))
    };
    std::thread::sleep(std::time::Duration::from_millis(30));
    a.child.kill().expect("kill -9");
    a.child.wait().unwrap();
    let acknowledged_now = load.join().unwrap();
    for id in acknowledged_now.lock().unwrap().iter() {
        let r = get(&format!("{}/api/v1/artifacts/{id}", b.url));
        assert_eq!(r.status, 200, "acknowledged decision {id} was lost");
    }
    // The rest, again through the survivor: all proposals end fully approved.
    for file in rest {
        let r = post(
            &format!("{}/api/v1/decisions", b.url),
            ARTIFACT,
            &std::fs::read(file).unwrap(),
        );
        assert!(
            r.status == 201 || r.status == 422,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let states = get(&format!("{}/api/v1/proposals", b.url)).json();
    let approved = states
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["approved"].as_array().unwrap().len() == 2)
        .count();
    assert_eq!(approved, 12, "{states}");
    drop(b);
    w.airlock(&["log", "verify"]).ok();
    w.airlock_in(Path::new(&home2), &["log", "verify"]).ok();
}

#[test]
fn a_migration_crashed_at_any_point_is_finished_by_running_it_again() {
    let w = treasury();
    let (_, bundle) = w.propose("treasury", "acme-payroll:75", &[]);
    w.submit(&[&w.approve("alice", &bundle)]).ok();
    let before = w.airlock(&["--json", "log", "verify"]).ok().json();
    let original = w.coordinator_home();
    let migrate = |home: &Path, url: &str, failpoint: &str| {
        run(
            &airlock_bin(),
            &["--home", path_str(home), "migrate", "--to", url],
            w.now.get(),
            &[("AIRLOCK_FAILPOINT", failpoint)],
        )
    };
    // Every point where `migrate` writes, fsyncs, renames or commits, in order.
    let listing = w.p("home-listed");
    copy_dir(&original, &listing);
    let listed = migrate(
        &listing,
        &server().create_database("crash_list").unwrap(),
        "list",
    )
    .ok();
    let points: Vec<String> = listed
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("failpoint: "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(
        points.iter().any(|p| p.starts_with("store.committed"))
            && points.iter().any(|p| p.starts_with("atomic-write.renamed")),
        "{points:?}"
    );
    for (i, point) in points.iter().enumerate() {
        let home = w.p(&format!("home-crash-{i}"));
        copy_dir(&original, &home);
        let url = server().create_database(&format!("crash_{i}")).unwrap();
        let crashed = migrate(&home, &url, point);
        assert_ne!(crashed.code, 0, "{point}: the crash was injected");
        // Run again: it finishes (or finds it finished); the log is the same log either way.
        let again = migrate(&home, &url, "");
        assert!(
            again.code == 0 || again.stderr.contains("already keeps its state"),
            "{point}: {}",
            again.stderr
        );
        let after = w
            .airlock_in(&home, &["--json", "log", "verify"])
            .ok()
            .json();
        assert_eq!(after["root"], before["root"], "{point}");
        assert_eq!(after["size"], before["size"], "{point}");
        assert_eq!(leaves_in(&url), before["size"].as_i64().unwrap(), "{point}");
        let config = std::fs::read_to_string(home.join("coordinator.json")).unwrap();
        assert!(config.contains(&url), "{point}: the home uses the database");
    }
    eprintln!("migrate crashed and finished at {} points", points.len());
}

#[test]
fn a_new_home_serves_the_database_it_is_given() {
    let w = World::new();
    w.init_coordinator();
    let url = server().create_database("adopted").unwrap();
    let served = Server::start(&w, &["--database", &url]);
    let health = get(&format!("{}/healthz", served.url)).json();
    assert_eq!(health["status"], "ok");
    drop(served);
    let config = std::fs::read_to_string(w.coordinator_home().join("coordinator.json")).unwrap();
    assert!(config.contains(&url), "{config}");
    // Served again (or from a copy of the home), it is the same database.
    let again = Server::start(&w, &["--database", &url]);
    assert_eq!(get(&format!("{}/healthz", again.url)).status, 200);
    drop(again);
    // A home with records is not switched by serving: it is migrated.
    let busy = treasury();
    let other = server().create_database("not_adopted").unwrap();
    busy.airlock(&["serve", "--database", &other])
        .fails(1, "migrate --to");
}
