//! Support for oauthgen's benchmarks (`benches/`): a provider on loopback and a token endpoint
//! that counts the requests it answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The benchmarks' provider: a standard spec on 127.0.0.1.
#[oauthgen_runtime::oauth_provider(spec = "specs/plain.yaml")]
pub struct Plain;

/// A token endpoint on 127.0.0.1 that answers every request with a fresh token, after
/// `delay`, and counts the requests.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    /// Its port.
    pub port: u16,
    count: Arc<AtomicUsize>,
}

impl TokenEndpoint {
    /// Start it on port 0 within the current tokio runtime.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(delay: std::time::Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut filled = 0;
                    // Read until the end of the head and the declared body.
                    loop {
                        let Ok(n) = socket.read(&mut buf[filled..]).await else { return };
                        if n == 0 {
                            return;
                        }
                        filled += n;
                        let text = String::from_utf8_lossy(&buf[..filled]);
                        if let Some(head_end) = text.find("\r\n\r\n") {
                            let len = text[..head_end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse().unwrap_or(0))
                                })
                                .unwrap_or(0usize);
                            if filled >= head_end + 4 + len {
                                break;
                            }
                        }
                        if filled == buf.len() {
                            return;
                        }
                    }
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::time::sleep(delay).await;
                    let body = format!(
                        r#"{{"access_token":"at-{n}","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-{n}"}}"#
                    );
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Self { port, count }
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// Credentials as a sign-in leaves them: access token `at-0`, refresh token `rt-0`, expiring
/// `expires_in` seconds from now (negative: already expired), issued an hour before that.
pub fn credentials(expires_in: i64) -> oauthgen_runtime::Credentials {
    let expires_at = chrono::Utc::now() + chrono::TimeDelta::seconds(expires_in);
    oauthgen_runtime::Credentials {
        access_token: oauthgen_runtime::AccessToken::new("at-0".into()),
        token_type: "Bearer".into(),
        refresh_token: Some(oauthgen_runtime::RefreshToken::new("rt-0".into())),
        expires_at: Some(expires_at),
        issued_at: Some(expires_at - chrono::TimeDelta::hours(1)),
        scopes: vec![],
        id_token: None,
        extra: std::collections::BTreeMap::new(),
        invalid: false,
        dpop_key: None,
    }
}
