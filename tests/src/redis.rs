//! A real `redis-server` on 127.0.0.1 for the Redis store's tests: a free port, a temporary
//! directory, stopped (by PID) when dropped. [`RedisServer::start_tls`] serves TLS only
//! (Debian's `redis-server` is built with TLS), and talks to it through `redis-cli --tls`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` (Debian's `/usr/bin/redis-server`, or the first on `PATH`) on
/// 127.0.0.1; stopped when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    persistent: bool,
    /// The certificate, key and CA files of a server that serves TLS only, and whether it
    /// asks clients for a certificate.
    tls: Option<([PathBuf; 3], bool)>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A server that keeps nothing on disk (no snapshots, no append-only file).
    ///
    /// # Panics
    /// When `redis-server` is missing or does not answer `PING` within 30 seconds.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// A server with the append-only file, fsynced on every write (`appendfsync always`),
    /// so that its data survives [`RedisServer::restart`].
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    pub fn start_persistent() -> Self {
        Self::launch(true)
    }

    /// A server that speaks TLS only (`--port 0 --tls-port PORT`), presenting `cert_pem`
    /// (its certificate, then any intermediates) with the private key `key_pem`, and
    /// asking no client certificate (`--tls-auth-clients no`); `ca_pem` is its
    /// `--tls-ca-cert-file`, the CA that [`RedisServer::query`] trusts. Keeps nothing on disk.
    ///
    /// # Panics
    /// As [`RedisServer::start`], and when the files cannot be written.
    pub fn start_tls(cert_pem: &str, key_pem: &str, ca_pem: &str) -> Self {
        Self::launch_with(false, Some(([cert_pem, key_pem, ca_pem], false)))
    }

    /// [`RedisServer::start_tls`] that refuses clients without a certificate signed by
    /// `ca_pem` (`--tls-auth-clients yes`). [`RedisServer::query`] presents the server's own
    /// certificate, which must then allow client authentication (no extended key usage,
    /// or `clientAuth` among them).
    ///
    /// # Panics
    /// As [`RedisServer::start_tls`].
    pub fn start_tls_with_client_auth(cert_pem: &str, key_pem: &str, ca_pem: &str) -> Self {
        Self::launch_with(false, Some(([cert_pem, key_pem, ca_pem], true)))
    }

    fn launch(persistent: bool) -> Self {
        Self::launch_with(persistent, None)
    }

    fn launch_with(persistent: bool, tls: Option<([&str; 3], bool)>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tls = tls.map(|(pems, client_auth)| {
            let files = ["server.crt", "server.key", "ca.crt"].map(|name| dir.path().join(name));
            for (path, pem) in files.iter().zip(pems) {
                std::fs::write(path, pem).expect("write the TLS files");
            }
            (files, client_auth)
        });
        let mut server = Self { child: None, port, persistent, tls, dir };
        server.resume();
        server
    }

    /// `redis://127.0.0.1:PORT/0`, or `rediss://127.0.0.1:PORT/0` for a server started with
    /// [`RedisServer::start_tls`].
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stop the server (SIGTERM, then SIGKILL after 10 seconds); [`RedisServer::resume`]
    /// starts it again. Does nothing when it is not running.
    pub fn stop(&mut self) {
        let Some(child) = self.child.take() else { return };
        crate::stop_process(child, "TERM");
    }

    /// Start the server again, on the same port and directory (a persistent server reloads
    /// its append-only file), and wait until it answers `PING`.
    ///
    /// # Panics
    /// When it does not answer within 30 seconds.
    pub fn resume(&mut self) {
        if self.child.is_some() {
            return;
        }
        let log = self.dir.path().join("redis.log");
        let mut command = Command::new(redis_server());
        match &self.tls {
            None => command.arg("--port").arg(self.port.to_string()),
            Some(([cert, key, ca], client_auth)) => command
                .args(["--port", "0", "--tls-port"])
                .arg(self.port.to_string())
                .arg("--tls-cert-file")
                .arg(cert)
                .arg("--tls-key-file")
                .arg(key)
                .arg("--tls-ca-cert-file")
                .arg(ca)
                .args(["--tls-auth-clients", if *client_auth { "yes" } else { "no" }]),
        };
        command
            .args(["--bind", "127.0.0.1", "--save", "", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(["--appendonly", if self.persistent { "yes" } else { "no" }])
            .args(["--appendfsync", "always"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start redis-server (install it): {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.try_query(&["PING"]).is_ok_and(|r| r.as_deref() == Some("PONG")) {
                return;
            }
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                self.stop();
                panic!("redis-server did not start on port {} ({exited:?}); its log:\n{log}", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop the server and start it again on the same port and directory.
    ///
    /// # Panics
    /// As [`RedisServer::resume`].
    pub fn restart(&mut self) {
        self.stop();
        self.resume();
    }

    /// Close every client connection (`CLIENT KILL TYPE normal`, from a connection of its
    /// own); how many were closed.
    ///
    /// # Panics
    /// When the server does not answer.
    pub fn kill_clients(&self) -> u64 {
        let reply = self.query(&["CLIENT", "KILL", "TYPE", "normal"]);
        reply.and_then(|n| n.parse().ok()).expect("CLIENT KILL answers a count")
    }

    /// Run one command on a connection of its own: a simple, integer or bulk reply as text,
    /// `None` for nil.
    ///
    /// # Panics
    /// When the server cannot be reached or answers with an error.
    pub fn query(&self, args: &[&str]) -> Option<String> {
        self.try_query(args).unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }

    fn try_query(&self, args: &[&str]) -> Result<Option<String>, String> {
        if let Some((files, _)) = &self.tls {
            return self.try_query_tls(files, args);
        }
        let stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        let request: String = std::iter::once(format!("*{}\r\n", args.len()))
            .chain(args.iter().map(|a| format!("${}\r\n{a}\r\n", a.len())))
            .collect();
        (&stream).write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let line = line.trim_end();
        let (kind, rest) = line.split_at_checked(1).ok_or("empty reply")?;
        match kind {
            "+" | ":" => Ok(Some(rest.to_owned())),
            "-" => Err(rest.to_owned()),
            "$" if rest == "-1" => Ok(None),
            "$" => {
                let len: usize = rest.parse().map_err(|_| format!("bad reply {line:?}"))?;
                let mut body = vec![0; len + 2];
                reader.read_exact(&mut body).map_err(|e| e.to_string())?;
                body.truncate(len);
                String::from_utf8(body).map(Some).map_err(|e| e.to_string())
            }
            _ => Err(format!("unexpected reply {line:?}")),
        }
    }
}

impl RedisServer {
    /// [`RedisServer::try_query`] through `redis-cli --tls`, whose replies read `(nil)`,
    /// `(integer) 1`, `(error) ERR ...`, `"text"` or `PONG`.
    fn try_query_tls(&self, [cert, key, ca]: &[PathBuf; 3], args: &[&str]) -> Result<Option<String>, String> {
        let out = Command::new(redis_cli())
            .args(["--tls", "--cacert"])
            .arg(ca)
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run redis-cli (install redis-tools): {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
        if !out.status.success() || text.starts_with("Could not connect") {
            return Err(format!("redis-cli: {text} {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        if let Some(error) = text.strip_prefix("(error) ") {
            return Err(error.to_owned());
        }
        if text == "(nil)" {
            return Ok(None);
        }
        let text = text.strip_prefix("(integer) ").unwrap_or(&text);
        let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
        Ok(Some(text.to_owned()))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn redis_cli() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/redis-cli");
    if debian.exists() { debian } else { PathBuf::from("redis-cli") }
}

fn redis_server() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/redis-server");
    if debian.exists() { debian } else { PathBuf::from("redis-server") }
}
