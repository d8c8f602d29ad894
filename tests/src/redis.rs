//! A real `redis-server` on 127.0.0.1 for the Redis store's tests: a free port, a temporary
//! directory, stopped (by PID) when dropped.

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

    fn launch(persistent: bool) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut server = Self { child: None, port, persistent, dir };
        server.resume();
        server
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stop the server (SIGTERM, then SIGKILL after 10 seconds); [`RedisServer::resume`]
    /// starts it again. Does nothing when it is not running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
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
        command
            .arg("--port")
            .arg(self.port.to_string())
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

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn redis_server() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/redis-server");
    if debian.exists() { debian } else { PathBuf::from("redis-server") }
}
