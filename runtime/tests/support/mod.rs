//! A scriptable HTTP server on 127.0.0.1 for the runtime's tests: it records every request
//! and answers each with what the test's handler says, including hanging or cutting off.

#![allow(dead_code, unreachable_pub, reason = "a test module: each test file uses a part")]

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub head: String,
    pub body: String,
}

impl Seen {
    pub fn path(&self) -> &str {
        self.head.split_whitespace().nth(1).unwrap_or_default()
    }
}

/// What to do with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer with a status, extra headers and a body.
    Respond { status: u16, headers: Vec<(&'static str, String)>, body: String },
    /// Never answer.
    Hang,
    /// Answer after a while, without blocking the server's thread.
    After(Duration, Box<Reply>),
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self::Respond { status, headers: vec![("content-type", "application/json".into())], body: body.into() }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        if let Self::Respond { headers, .. } = &mut self {
            headers.push((name, value.into()));
        }
        self
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// A running server; it stops when the test's runtime does.
#[derive(Clone)]
pub struct MockServer {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub count: Arc<AtomicUsize>,
}

impl MockServer {
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let handler: Handler = Arc::new(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = Self { port, seen: Arc::default(), count: Arc::default() };
        let s = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { return };
                let (h, s) = (handler.clone(), s.clone());
                tokio::spawn(async move { s.serve(socket, h).await });
            }
        });
        server
    }

    /// Answer with `replies` in order, then with the last one forever.
    pub async fn scripted(replies: Vec<Reply>) -> Self {
        let queue = Mutex::new(VecDeque::from(replies));
        Self::start(move |_| {
            let mut q = queue.lock().unwrap();
            if q.len() > 1 { q.pop_front().unwrap() } else { q.front().cloned().unwrap_or(Reply::Hang) }
        })
        .await
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn serve(&self, mut socket: tokio::net::TcpStream, handler: Handler) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head, start) = loop {
            let Ok(n) = socket.read(&mut chunk).await else { return };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break (String::from_utf8_lossy(&buf[..i]).into_owned(), i + 4);
            }
        };
        let len: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or(0);
        while buf.len() < start + len {
            let Ok(n) = socket.read(&mut chunk).await else { return };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let seen = Seen { head, body: String::from_utf8_lossy(&buf[start..start + len]).into_owned() };
        self.count.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap().push(seen.clone());
        let mut reply = handler(&seen);
        while let Reply::After(delay, then) = reply {
            tokio::time::sleep(delay).await;
            reply = *then;
        }
        match reply {
            Reply::After(..) => {}
            Reply::Hang => tokio::time::sleep(Duration::from_secs(600)).await,
            Reply::Respond { status, headers, body } => {
                let mut response =
                    format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
                for (k, v) in headers {
                    let _ = write!(response, "{k}: {v}\r\n");
                }
                response.push_str("\r\n");
                response.push_str(&body);
                let _ = socket.write_all(response.as_bytes()).await;
            }
        }
    }
}

/// A successful token response.
pub fn token_json(access: &str, refresh: Option<&str>, expires_in: u64) -> String {
    let refresh = refresh.map(|r| format!(r#","refresh_token":"{r}""#)).unwrap_or_default();
    format!(r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{expires_in}{refresh}}}"#)
}

/// Credentials with tokens `access` and `refresh`, expiring in `expires_in` seconds, issued an
/// hour ago (so the refresh margin is not capped by a short lifetime).
pub fn credentials(access: &str, refresh: &str, expires_in: i64) -> oauthgen_runtime::Credentials {
    let now = chrono::Utc::now();
    oauthgen_runtime::Credentials {
        access_token: oauthgen_runtime::AccessToken::new(access.into()),
        token_type: "Bearer".into(),
        refresh_token: Some(oauthgen_runtime::RefreshToken::new(refresh.into())),
        expires_at: Some(now + chrono::TimeDelta::seconds(expires_in)),
        issued_at: Some(now - chrono::TimeDelta::hours(1)),
        scopes: vec!["read".into()],
        id_token: None,
        extra: std::collections::BTreeMap::default(),
        invalid: false,
        dpop_key: None,
    }
}

/// Manager options with short backoffs.
pub fn fast() -> oauthgen_runtime::ManagerOptions {
    oauthgen_runtime::ManagerOptions {
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        ..Default::default()
    }
}

/// A store whose writes fail while `failing` is set (a full disk, a lock timeout, a
/// database that went away).
#[derive(Clone, Default)]
pub struct Flaky {
    pub inner: oauthgen_runtime::MemoryStore,
    pub failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Flaky {
    fn check(&self) -> Result<(), oauthgen_runtime::StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(oauthgen_runtime::StoreError::Io { path: "flaky".into(), reason: "disk full".into() })
        } else {
            Ok(())
        }
    }
}

impl oauthgen_runtime::TokenStore for Flaky {
    type Lock = <oauthgen_runtime::MemoryStore as oauthgen_runtime::TokenStore>::Lock;

    async fn load_versioned(
        &self,
        key: &str,
    ) -> Result<Option<oauthgen_runtime::store::Stored>, oauthgen_runtime::StoreError> {
        self.inner.load_versioned(key).await
    }

    async fn save(
        &self,
        key: &str,
        credentials: &oauthgen_runtime::Credentials,
    ) -> Result<(), oauthgen_runtime::StoreError> {
        self.check()?;
        self.inner.save(key, credentials).await
    }

    async fn save_if(
        &self,
        key: &str,
        expected: Option<oauthgen_runtime::store::Version>,
        credentials: &oauthgen_runtime::Credentials,
    ) -> Result<oauthgen_runtime::store::Version, oauthgen_runtime::StoreError> {
        self.check()?;
        self.inner.save_if(key, expected, credentials).await
    }

    async fn delete(&self, key: &str) -> Result<bool, oauthgen_runtime::StoreError> {
        self.check()?;
        self.inner.delete(key).await
    }

    async fn lock(&self, key: &str) -> Result<Self::Lock, oauthgen_runtime::StoreError> {
        self.inner.lock(key).await
    }
}
