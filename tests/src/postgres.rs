//! A private PostgreSQL server on 127.0.0.1 for the PostgreSQL store's tests: `initdb` into a
//! temporary directory, a free port, trust authentication for `postgres`, stopped (by PID)
//! and removed when dropped.
//!
//! Run as root (as the tests and CI are), the server runs as the `postgres` system user,
//! which Debian's `postgresql` package creates: PostgreSQL refuses to run as root.
//!
//! [`PgServer::start_tls`] starts one with `ssl=on` and a given certificate and key.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A PostgreSQL server of its own (`initdb` + `postgres`, from Debian's
/// `/usr/lib/postgresql/<version>/bin` or `PATH`) on 127.0.0.1; stopped when dropped.
#[derive(Debug)]
pub struct PgServer {
    child: Option<Child>,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
    /// `ssl_cert_file` and `ssl_key_file`, for a server with TLS.
    tls: Option<(PathBuf, PathBuf)>,
    dir: tempfile::TempDir,
}

/// The directory holding `initdb` and `postgres`: the newest of Debian's
/// `/usr/lib/postgresql/<version>/bin`, else the one of `initdb` on `PATH`.
fn bin_dir() -> PathBuf {
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return bin;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("initdb"))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("PostgreSQL is not installed: no initdb in /usr/lib/postgresql/*/bin or on PATH (apt-get install postgresql)")
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl PgServer {
    /// Initialise a database cluster in a temporary directory and start a server on a free
    /// port of 127.0.0.1.
    ///
    /// # Panics
    /// When PostgreSQL is missing, `initdb` fails, or the server does not accept connections
    /// within 30 seconds.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// [`PgServer::start`] with TLS on (`ssl=on`), presenting `cert_pem` (the server's
    /// certificate, then any intermediates) with the private key `key_pem`. The server
    /// still accepts connections without TLS (its `pg_hba.conf` says `host`, not
    /// `hostssl`), so that [`PgServer::query`] works as for any server.
    ///
    /// # Panics
    /// As [`PgServer::start`], and when the files cannot be written.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Self {
        Self::launch(Some((cert_pem, key_pem)))
    }

    fn launch(tls: Option<(&str, &str)>) -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let as_postgres = running_as_root();
        if as_postgres {
            let ok = Command::new("chown").arg("postgres:postgres").arg(dir.path()).status().is_ok_and(|s| s.success());
            assert!(ok, "cannot chown the test cluster's directory to the `postgres` user (does it exist?)");
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut server = Self { child: None, port, bin, as_postgres, tls: None, dir };
        if let Some((cert, key)) = tls {
            // The server reads them as `postgres`, and refuses a key that others can read.
            let cert_file = server.dir.path().join("server.crt");
            let key_file = server.dir.path().join("server.key");
            for (path, pem) in [(&cert_file, cert), (&key_file, key)] {
                std::fs::write(path, pem).expect("write the TLS files");
                std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                    .expect("chmod 0600");
                if as_postgres {
                    let ok =
                        Command::new("chown").arg("postgres:postgres").arg(path).status().is_ok_and(|s| s.success());
                    assert!(ok, "cannot chown {} to the `postgres` user", path.display());
                }
            }
            server.tls = Some((cert_file, key_file));
        }
        let out = server
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "-D"])
            .arg(server.data())
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        server.resume();
        server
    }

    /// A command of PostgreSQL's, run as the `postgres` user when we are root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            // setpriv execs the program: the child's PID is the server's, to signal it by.
            let mut c = Command::new("setpriv");
            c.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Start the server (again) on the same port and data; waits until it accepts
    /// connections. Does nothing when it is running.
    ///
    /// # Panics
    /// When it does not accept connections within 30 seconds.
    pub fn resume(&mut self) {
        if self.child.is_some() {
            return;
        }
        let log = std::fs::File::create(self.log()).expect("server log");
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .arg("-k")
            .arg(self.dir.path())
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-c", "fsync=off", "-c", "max_connections=200", "-c", "synchronous_commit=off"])
            .args(self.tls.iter().flat_map(|(cert, key)| {
                [
                    "-c".into(),
                    "ssl=on".into(),
                    "-c".into(),
                    format!("ssl_cert_file={}", cert.display()),
                    "-c".into(),
                    format!("ssl_key_file={}", key.display()),
                ]
            }))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-t", "2"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.log()).unwrap_or_default();
                self.stop();
                panic!(
                    "PostgreSQL on 127.0.0.1:{} did not accept connections within 30 s ({}); its log:\n{log}",
                    self.port,
                    exited.map_or_else(|| "still starting".to_owned(), |s| s.to_string())
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the server (a fast shutdown: SIGINT, which ends open sessions, where SIGTERM
    /// would wait for them; SIGKILL after 10 seconds). Does nothing when it is not running.
    pub fn stop(&mut self) {
        let Some(child) = self.child.take() else { return };
        crate::stop_process(child, "INT");
    }

    /// Stop the server and start it again on the same port, with the same data.
    ///
    /// # Panics
    /// As [`PgServer::resume`].
    pub fn restart(&mut self) {
        self.stop();
        self.resume();
    }

    /// Run `sql` on a connection of its own; the rows.
    ///
    /// # Panics
    /// When the statement fails.
    pub async fn query(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        let (client, connection) =
            tokio_postgres::connect(&self.url(), tokio_postgres::NoTls).await.expect("connect to the test server");
        let task = tokio::spawn(connection);
        let rows = client.query(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        drop(client);
        let _ = task.await;
        rows
    }

    /// Terminate every other client connection (`pg_terminate_backend`, waiting up to 5 s
    /// for each to end); how many there were.
    pub async fn kill_connections(&self) -> usize {
        self.query(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
             WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
        )
        .await
        .len()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}
