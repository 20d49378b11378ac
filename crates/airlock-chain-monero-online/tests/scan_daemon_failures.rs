//! A daemon that goes away mid-sync or answers garbage: a clear error naming the daemon, and the
//! saved scan state left byte for byte as it was (no temporary files left behind).

mod scan_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use airlock_chain_monero::subaddress::Lookahead;
use airlock_chain_monero_online::daemon::{DaemonClient, DaemonError};
use airlock_chain_monero_online::scan::{ScanKeys, ScanState, SyncError, SyncOptions, ViewScanner};

fn scanner() -> ViewScanner {
    let wallet = scan_support::bench_wallet();
    ViewScanner::new(
        ScanKeys::new(&wallet.address, &wallet.view_key).unwrap(),
        Lookahead {
            accounts: 5,
            indices: 50,
        },
    )
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn daemon_killed_mid_sync_leaves_the_saved_state_unchanged() {
    let work = scan_support::unpack_bench_chain();
    let logs = work.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut daemon = scan_support::Monerod::start(&work.path().join("chain"), &logs);
    let url = daemon.url();
    let client = DaemonClient::connect_with_timeout(&url, Duration::from_secs(20)).unwrap();
    let mut scanner = scanner();

    let state_dir = work.path().join("vault");
    std::fs::create_dir_all(&state_dir).unwrap();
    let path = state_dir.join("scan.json");
    let state = ScanState::new(
        scanner.keys(),
        0,
        Lookahead {
            accounts: 5,
            indices: 50,
        },
    );
    state.save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let entries_before = dir_entries(&state_dir);

    // Small batches make the sync take many calls; the daemon is killed after the first ones.
    let options = SyncOptions {
        blocks_per_batch: 3,
        prefetch_batches: 1,
        progress: None,
    };
    let outcome = std::thread::scope(|scope| {
        let sync = scope.spawn(|| scanner.sync_file(&path, &client, options));
        std::thread::sleep(Duration::from_millis(700));
        assert!(
            !sync.is_finished(),
            "the sync finished before the daemon could be killed"
        );
        daemon.proc.kill_now();
        sync.join().unwrap()
    });
    let err = outcome.expect_err("a sync against a dead daemon must fail");
    assert!(
        matches!(err, SyncError::Daemon(DaemonError::Unreachable { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&url),
        "the error names the daemon: {err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the saved state changed"
    );
    assert_eq!(
        dir_entries(&state_dir),
        entries_before,
        "temporary files were left behind"
    );
    assert_eq!(ScanState::load(&path).unwrap().scanned_height(), 0);
}

/// A fake "daemon" on a loopback port answering every request with `answer`.
fn fake_daemon(
    answer: &'static [u8],
) -> (
    String,
    std::thread::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::spawn(move || {
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => serve_junk(stream, answer),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    (url, handle, stop)
}

fn serve_junk(mut stream: TcpStream, answer: &[u8]) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf);
    let _ = stream.write_all(answer);
    let _ = stream.flush();
}

#[test]
fn garbage_answering_daemon_gives_a_clear_error_and_changes_nothing() {
    let cases: [&'static [u8]; 3] = [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"not\": \"monero\"}",
        b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n\x01\x11\x01\x01\x01\x01\x02\x01\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\x00\x01\x02 this is not HTTP at all \xff\xfe\r\n\r\n",
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.json");
    let mut scanner = scanner();
    ScanState::new(
        scanner.keys(),
        0,
        Lookahead {
            accounts: 5,
            indices: 50,
        },
    )
    .save(&path)
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    for answer in cases {
        let (url, handle, stop) = fake_daemon(answer);
        let result = DaemonClient::connect_with_timeout(&url, Duration::from_secs(5))
            .map_err(SyncError::from)
            .and_then(|client| {
                scanner
                    .sync_file(&path, &client, SyncOptions::default())
                    .map(|_| ())
            });
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        handle.join().unwrap();
        let err = result.expect_err("garbage must not sync");
        let text = err.to_string();
        assert!(text.contains(&url), "the error names the daemon: {text}");
        assert!(
            matches!(
                err,
                SyncError::Daemon(
                    DaemonError::InvalidAnswer { .. } | DaemonError::Unreachable { .. }
                )
            ),
            "{err:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}

#[test]
fn garbage_blocks_from_a_daemon_that_otherwise_answers_are_refused() {
    // A proxy in front of a real monerod that passes JSON-RPC through but answers
    // get_blocks.bin with a well-formed HTTP reply carrying a truncated, corrupted epee body.
    let work = scan_support::unpack_bench_chain();
    let logs = work.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let daemon = scan_support::Monerod::start(&work.path().join("chain"), &logs);
    let real_port = daemon.rpc_port;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let proxy = std::thread::spawn(move || {
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            // Serve requests on this connection until it closes.
            while let Some((path, body)) = read_request(&mut stream) {
                let reply = if path == "/get_blocks.bin" {
                    let mut real =
                        scan_support::http_post(real_port, &path, &body).unwrap_or_default();
                    real.truncate(real.len() / 3);
                    for byte in real.iter_mut().skip(200).step_by(97) {
                        *byte ^= 0x5a;
                    }
                    real
                } else {
                    scan_support::http_post(real_port, &path, &body).unwrap_or_default()
                };
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", reply.len());
                if stream
                    .write_all(head.as_bytes())
                    .and_then(|_| stream.write_all(&reply))
                    .is_err()
                {
                    break;
                }
            }
        }
    });
    let mut scanner = scanner();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.json");
    ScanState::new(
        scanner.keys(),
        0,
        Lookahead {
            accounts: 5,
            indices: 50,
        },
    )
    .save(&path)
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    let client = DaemonClient::connect_with_timeout(&url, Duration::from_secs(20))
        .expect("JSON passes through");
    let err = scanner
        .sync_file(&path, &client, SyncOptions::default())
        .expect_err("corrupted blocks must not sync");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    proxy.join().unwrap();
    assert!(
        matches!(err, SyncError::Daemon(DaemonError::InvalidAnswer { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&url) && err.to_string().contains("get_blocks.bin"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((path, body))
}
