//! A throwaway PostgreSQL server for tests and benchmarks: `initdb` into a fresh temporary
//! directory, `postgres` on a free loopback port, stopped and deleted when dropped.
//!
//! It uses the machine's own server binaries (Debian `postgresql`: the newest
//! `/usr/lib/postgresql/*/bin`, or `AIRLOCK_PG_BIN`). PostgreSQL refuses to run as root, so
//! under root the server runs as the `postgres` account the Debian package creates.
//!
//! This module must never be used by the service itself, and never listen beyond 127.0.0.1.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running test server.
pub struct TestPostgres {
    dir: PathBuf,
    port: u16,
    server: Child,
}

fn server_binaries() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("AIRLOCK_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| {
            "PostgreSQL's server is not installed (apt-get install postgresql, or set AIRLOCK_PG_BIN)"
                .to_string()
        })?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no PostgreSQL server binaries under /usr/lib/postgresql".to_string())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl TestPostgres {
    /// Creates and starts a server (a few seconds).
    pub fn start() -> Result<TestPostgres, String> {
        let bin = server_binaries()?;
        let as_postgres = running_as_root();
        let dir = std::env::temp_dir().join(format!(
            "airlock-pg-{}-{}",
            std::process::id(),
            rand_core::RngCore::next_u64(&mut rand_core::OsRng)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if as_postgres {
            let chowned = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .map_err(|e| e.to_string())?;
            if !chowned.success() {
                return Err("cannot hand the test directory to the postgres account".into());
            }
        }
        let data = dir.join("data");
        let command = |program: &str| -> Command {
            let path = bin.join(program);
            if as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(path);
                c
            } else {
                Command::new(path)
            }
        };
        let initdb = command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "airlock",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !initdb.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&initdb.stderr)
            ));
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
        let server = command("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
                "-c",
                "synchronous_commit=on",
                "-c",
                "fsync=on",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("postgres: {e}"))?;
        let server = TestPostgres { dir, port, server };
        server.watch_over();
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match postgres::Client::connect(&self.url("postgres"), postgres::NoTls) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!(
                        "the test server did not start: {e}\n{}",
                        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://airlock@127.0.0.1:{}/{name}", self.port)
    }

    /// The URL of database `name` through the server's Unix socket (no TCP round trip).
    pub fn socket_url(&self, name: &str) -> String {
        format!(
            "postgres://airlock@/{name}?host={}&port={}",
            self.dir.display(),
            self.port
        )
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|e| e.to_string())?;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .map_err(|e| e.to_string())?;
        Ok(self.url(name))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A watchdog that stops the server and deletes its directory once this process is gone,
    /// however it ends (a server in a `static` is never dropped; a test may be killed).
    fn watch_over(&self) {
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; \
             kill -INT $(head -1 '{dir}/data/postmaster.pid' 2>/dev/null) 2>/dev/null; \
             sleep 3; rm -rf '{dir}'",
            me = std::process::id(),
            dir = self.dir.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    fn stop(&mut self) {
        // Fast shutdown (SIGINT to the postmaster, which may run under runuser): the server
        // ends its backends and exits.
        let postmaster = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().map(str::to_string))
            .unwrap_or_else(|| self.server.id().to_string());
        let _ = Command::new("kill").args(["-INT", &postmaster]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.server.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
