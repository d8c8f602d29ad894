//! The installed-app (loopback) flow: the classic `tools.run(flow, storage)`.
//!
//! Binds 127.0.0.1, sends the user's browser to the provider with a redirect URI on that
//! port, and finishes when the provider redirects back. State and PKCE as in every
//! authorization; stray requests (`/favicon.ico`) are ignored; a callback whose `state` does
//! not match is answered with an error page and the wait goes on; an `error=` callback ends it.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::error::Error;
use crate::provider::AuthorizationCode;
use crate::{Authorization, Callback, Credentials, authorize_url, exchange};

/// How to run the loopback flow.
#[derive(Debug, Clone)]
pub struct LoopbackOptions {
    /// The port to listen on; 0 picks a free one.
    pub port: u16,
    /// How long to wait for the user.
    pub timeout: Duration,
    /// Open the browser (through `$BROWSER`, else the platform's opener). The URL is always
    /// printed to standard error as well.
    pub open_browser: bool,
    /// The callback path.
    pub path: String,
}

impl Default for LoopbackOptions {
    fn default() -> Self {
        Self { port: 0, timeout: Duration::from_secs(300), open_browser: true, path: "/callback".into() }
    }
}

const SUCCESS: &str = "<!doctype html><meta charset=utf-8><title>Signed in</title><h1>Signed in</h1><p>You can close this window and return to the application.</p>";

fn failure_page(message: &str) -> String {
    let escaped = message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!("<!doctype html><meta charset=utf-8><title>Sign-in failed</title><h1>Sign-in failed</h1><p>{escaped}</p>")
}

/// Open `url` in the user's browser: the command in `$BROWSER` (given the URL as its
/// argument, or in place of `%s`), else `xdg-open` / `open` / `start`.
pub fn open_browser(url: &str) -> std::io::Result<()> {
    let (program, args): (String, Vec<String>) = match std::env::var("BROWSER").ok().filter(|b| !b.trim().is_empty()) {
        Some(browser) => {
            // `$BROWSER` may list several commands separated by `:`; the first is used.
            let first = browser.split(':').next().unwrap_or_default().to_owned();
            let mut parts = first.split_whitespace().map(str::to_owned);
            let program = parts.next().unwrap_or_default();
            let mut args: Vec<String> = parts.collect();
            if args.iter().any(|a| a.contains("%s")) {
                args = args.into_iter().map(|a| a.replace("%s", url)).collect();
            } else {
                args.push(url.to_owned());
            }
            (program, args)
        }
        None if cfg!(target_os = "macos") => ("open".into(), vec![url.to_owned()]),
        None if cfg!(windows) => ("cmd".into(), vec!["/C".into(), "start".into(), String::new(), url.to_owned()]),
        None => ("xdg-open".into(), vec![url.to_owned()]),
    };
    std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(())
}

/// A loopback sign-in in progress: listening, with the URL to send the user to.
#[derive(Debug)]
pub struct LoopbackLogin<'p, P> {
    provider: &'p P,
    listener: TcpListener,
    auth: Authorization,
    options: LoopbackOptions,
}

impl<'p, P: AuthorizationCode> LoopbackLogin<'p, P> {
    /// Listen on 127.0.0.1 and build the authorization URL, whose redirect URI uses the host
    /// the spec asks for (`127.0.0.1` or `localhost`) and the port listened on.
    pub async fn start<S: AsRef<str>>(provider: &'p P, scopes: &[S], options: LoopbackOptions) -> Result<Self, Error> {
        let listener = TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|e| Error::Loopback(format!("cannot listen on 127.0.0.1:{}: {e}", options.port)))?;
        let port = listener.local_addr().map_err(|e| Error::Loopback(e.to_string()))?.port();
        let host = provider.config().spec().redirect.loopback_host;
        let redirect_uri = format!("http://{host}:{port}{}", options.path);
        let auth = authorize_url(provider, &redirect_uri, scopes)?;
        Ok(Self { provider, listener, auth, options })
    }

    /// The URL to send the user to.
    pub fn url(&self) -> &url::Url {
        &self.auth.url
    }

    /// The pending authorization, to finish with [`crate::exchange`] from a redirected URL
    /// the user pastes instead (for a browser on another machine).
    pub fn pending(&self) -> &crate::PendingAuthorization {
        &self.auth.pending
    }

    /// Wait for the callback (until the timeout) and exchange its code.
    pub async fn finish(self) -> Result<Credentials, Error> {
        let timeout = self.options.timeout;
        tokio::time::timeout(timeout, serve(self.provider, &self.listener, &self.auth, &self.options.path))
            .await
            .map_err(|_| Error::Loopback(format!("no sign-in within {} s", timeout.as_secs())))?
    }
}

/// Run the loopback flow to the end: print the URL, open the browser, wait, exchange.
pub async fn loopback_login<P: AuthorizationCode, S: AsRef<str>>(
    provider: &P,
    scopes: &[S],
    options: LoopbackOptions,
) -> Result<Credentials, Error> {
    let open = options.open_browser;
    let login = LoopbackLogin::start(provider, scopes, options).await?;
    eprintln!("Open this URL to sign in to {}:\n\n    {}\n", provider.config().spec().name, login.url());
    if open && open_browser(login.url().as_str()).is_err() {
        eprintln!("(the browser could not be started: open the URL yourself)");
    }
    login.finish().await
}

async fn serve<P: AuthorizationCode>(
    provider: &P,
    listener: &TcpListener,
    auth: &Authorization,
    path: &str,
) -> Result<Credentials, Error> {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else { continue };
        let mut buf = vec![0u8; 16 * 1024];
        let mut filled = 0;
        while !buf[..filled].windows(4).any(|w| w == b"\r\n\r\n") && filled < buf.len() {
            match tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf[filled..])).await {
                Ok(Ok(n)) if n > 0 => filled += n,
                _ => break,
            }
        }
        let head = String::from_utf8_lossy(&buf[..filled]).into_owned();
        let target = head.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or_default().to_owned();
        let (request_path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
        if request_path != path {
            // `/favicon.ico` and anything else: not ours.
            let _ = respond(&mut socket, 404, "<!doctype html><title>Not found</title>").await;
            continue;
        }
        let outcome = match Callback::from_query(query) {
            Ok(callback) => exchange(provider, &auth.pending, &callback).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(credentials) => {
                let _ = respond(&mut socket, 200, SUCCESS).await;
                return Ok(credentials);
            }
            // A forged or stale callback: refuse it and keep waiting for the real one.
            Err(e @ (Error::StateMismatch | Error::InvalidCallback(_))) => {
                let _ = respond(&mut socket, 400, &failure_page(&e.to_string())).await;
            }
            Err(e) => {
                let _ = respond(&mut socket, 400, &failure_page(&e.to_string())).await;
                return Err(e);
            }
        }
    }
}

async fn respond(socket: &mut tokio::net::TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}
