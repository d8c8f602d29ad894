//! The installed-app (loopback) flow: the classic `tools.run(flow, storage)`.
//!
//! Binds 127.0.0.1, sends the user's browser to the provider with a redirect URI on that
//! port, and finishes when the provider redirects back. State and PKCE as in every
//! authorization; stray requests (`/favicon.ico`) are ignored; a callback whose `state` does
//! not match is answered with an error page and the wait goes on; an `error=` callback ends it.
//!
//! Each connection is served in a task of its own, so a browser's idle preconnect socket or a
//! slow client never delays the callback: a request head must arrive within 10 s and fit in
//! 16 KiB, at most 64 connections are served at once (more are closed at once), and accept
//! errors (out of file descriptors) pause the listener, 10 ms doubling to 1 s, instead of
//! spinning. Nothing from a request (code, state) is logged.

use std::io::ErrorKind;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::Error;
use crate::provider::AuthorizationCode;
use crate::{Authorization, Callback, Credentials, authorize, exchange};

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

/// A loopback sign-in in progress: listening, with the URL to send the user to. `Debug`
/// hides the URL's query (`state`, `nonce`).
pub struct LoopbackLogin<'p, P> {
    provider: &'p P,
    listener: TcpListener,
    auth: Authorization,
    options: LoopbackOptions,
}

impl<P> std::fmt::Debug for LoopbackLogin<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackLogin")
            .field("listener", &self.listener.local_addr().ok())
            .field("auth", &self.auth)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<'p, P: AuthorizationCode> LoopbackLogin<'p, P> {
    /// Listen on 127.0.0.1 and build the authorization URL, whose redirect URI uses the host
    /// the spec asks for (`127.0.0.1` or `localhost`) and the port listened on.
    pub async fn start<S: AsRef<str>>(provider: &'p P, scopes: &[S], options: LoopbackOptions) -> Result<Self, Error> {
        let listener = TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|e| Error::Loopback(format!("cannot listen on 127.0.0.1:{}: {e}", options.port)))?;
        let port = listener.local_addr().map_err(|e| Error::Loopback(e.to_string()))?.port();
        let host = provider.config().spec().redirect.loopback_host.as_str();
        let redirect_uri = format!("http://{host}:{port}{}", options.path);
        let auth = authorize(provider, &redirect_uri, scopes, &[]).await?;
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

/// How long a connection may take to send its whole request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head read; a larger one is answered 431 and the connection closed.
const MAX_HEAD: usize = 16 * 1024;
/// Connections served at once; one more is closed as soon as it is accepted.
const MAX_CONNECTIONS: usize = 64;
/// How long writing a response may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The first pause after an accept error; it doubles with each error in a row.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause after accept errors.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A request for the callback path, handed by its connection's task to the flow.
struct CallbackRequest {
    socket: TcpStream,
    query: String,
    /// Held until the answer is written, so that the connection counts against the limit.
    permit: OwnedSemaphorePermit,
}

/// The pause before accepting again after an error: 10 ms doubling to 1 s, reset by a
/// successful accept.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    const fn new() -> Self {
        Self { next: ACCEPT_BACKOFF_MIN }
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = delay.saturating_mul(2).min(ACCEPT_BACKOFF_MAX);
        delay
    }

    const fn reset(&mut self) {
        self.next = ACCEPT_BACKOFF_MIN;
    }
}

/// Accept connections and serve each in its own task until a callback ends the wait.
///
/// Each connection's task reads the request head (within [`HEAD_TIMEOUT`], at most
/// [`MAX_HEAD`] bytes), answers requests for other paths itself, and hands callbacks to this
/// loop, which checks them one at a time: an idle or slow connection never delays another.
/// Dropping the future (the overall timeout) aborts every connection's task.
async fn serve<P: AuthorizationCode>(
    provider: &P,
    listener: &TcpListener,
    auth: &Authorization,
    path: &str,
) -> Result<Credentials, Error> {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let path: Arc<str> = Arc::from(path);
    let (sender, mut callbacks) = mpsc::channel::<CallbackRequest>(MAX_CONNECTIONS);
    let mut tasks = JoinSet::new();
    let mut backoff = Backoff::new();
    let mut paused_until: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            // Never `None`: this function holds a sender.
            Some(request) = callbacks.recv() => {
                if let Some(outcome) = check_callback(provider, auth, request, &mut tasks).await {
                    return outcome;
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = tokio::time::sleep_until(paused_until.unwrap_or_else(Instant::now)), if paused_until.is_some() => {
                paused_until = None;
            }
            accepted = listener.accept(), if paused_until.is_none() => match accepted {
                Ok((socket, _)) => {
                    backoff.reset();
                    if let Ok(permit) = Arc::clone(&limit).try_acquire_owned() {
                        tasks.spawn(connection(socket, Arc::clone(&path), permit, sender.clone()));
                    } else {
                        tracing::debug!(limit = MAX_CONNECTIONS, "loopback sign-in: too many connections; closing a new one");
                        drop(socket);
                    }
                }
                // The connection went away before it was accepted; the next one may be fine.
                Err(e) if matches!(
                    e.kind(),
                    ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
                ) => {
                    tracing::debug!(error = %e, "loopback sign-in: a connection failed before it was accepted");
                }
                // Out of file descriptors (EMFILE, ENFILE), of memory ...: pause rather than spin.
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, ?delay, "loopback sign-in: cannot accept connections; retrying");
                    paused_until = Some(Instant::now() + delay);
                }
            },
        }
    }
}

/// Check a callback; `Some` when it ends the wait. A forged or malformed callback is refused
/// (answered in a task of its own) and the wait goes on.
async fn check_callback<P: AuthorizationCode>(
    provider: &P,
    auth: &Authorization,
    request: CallbackRequest,
    tasks: &mut JoinSet<()>,
) -> Option<Result<Credentials, Error>> {
    let CallbackRequest { mut socket, query, permit } = request;
    let outcome = match Callback::from_query(&query) {
        Ok(callback) => exchange(provider, &auth.pending, &callback).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(credentials) => {
            let _ = respond(&mut socket, 200, SUCCESS).await;
            Some(Ok(credentials))
        }
        // A forged or stale callback: refuse it and keep waiting for the real one. The
        // messages name no parameter values.
        Err(e @ (Error::StateMismatch | Error::InvalidCallback(_))) => {
            tracing::debug!(reason = %e, "loopback sign-in: refused a callback");
            let page = failure_page(&e.to_string());
            tasks.spawn(async move {
                let _ = respond(&mut socket, 400, &page).await;
                drop(permit);
            });
            None
        }
        Err(e) => {
            let _ = respond(&mut socket, 400, &failure_page(&e.to_string())).await;
            Some(Err(e))
        }
    }
}

/// Serve one connection: read its request head, answer anything but the callback path
/// (404) or an oversized head (431) here, and hand a callback to the flow.
async fn connection(
    mut socket: TcpStream,
    path: Arc<str>,
    permit: OwnedSemaphorePermit,
    callbacks: mpsc::Sender<CallbackRequest>,
) {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut socket)).await {
        Ok(Head::Complete(head)) => head,
        Ok(Head::TooLarge) => {
            tracing::debug!(limit = MAX_HEAD, "loopback sign-in: request head too large; closing");
            let _ = respond(&mut socket, 431, "<!doctype html><title>Request header fields too large</title>").await;
            return;
        }
        Ok(Head::Closed) => return,
        Err(_) => {
            tracing::debug!("loopback sign-in: no request within {} s; closing", HEAD_TIMEOUT.as_secs());
            return;
        }
    };
    let (request_path, query) = request_target(&head);
    if request_path != *path {
        // `/favicon.ico` and anything else: not ours.
        let _ = respond(&mut socket, 404, "<!doctype html><title>Not found</title>").await;
        return;
    }
    let request = CallbackRequest { socket, query, permit };
    // Fails only once the wait is over.
    let _ = callbacks.send(request).await;
}

/// The path and the query of a request head's target (`GET /callback?code=... HTTP/1.1`);
/// empty when the head has none. Bytes that are not UTF-8 are replaced.
pub(crate) fn request_target(head: &[u8]) -> (String, String) {
    let head = String::from_utf8_lossy(head);
    let target = head.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (path.to_owned(), query.to_owned())
}

/// What [`read_head`] found.
pub(crate) enum Head {
    /// The head, without the blank line that ends it.
    Complete(Vec<u8>),
    /// More than [`MAX_HEAD`] bytes without the end of the head.
    TooLarge,
    /// The connection closed or failed before the end of the head.
    Closed,
}

/// Read up to the blank line that ends a request head, keeping at most [`MAX_HEAD`] bytes
/// (plus one read).
async fn read_head(socket: &mut TcpStream) -> Head {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return Head::Closed,
            Ok(n) => n,
        };
        if let Some(head) = scan_head(&mut buf, &chunk[..n]) {
            return head;
        }
    }
}

/// Add one read to `buf`: the head once the blank line that ends it has arrived (`buf`
/// then holds it), [`Head::TooLarge`] past [`MAX_HEAD`], else `None` (read on).
pub(crate) fn scan_head(buf: &mut Vec<u8>, read: &[u8]) -> Option<Head> {
    // The terminator may straddle two reads.
    let from = buf.len().saturating_sub(3);
    buf.extend_from_slice(read);
    if let Some(at) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
        let end = from + at;
        if end + 4 > MAX_HEAD {
            return Some(Head::TooLarge);
        }
        buf.truncate(end);
        return Some(Head::Complete(std::mem::take(buf)));
    }
    (buf.len() >= MAX_HEAD).then_some(Head::TooLarge)
}

/// Write a complete response (within [`WRITE_TIMEOUT`]) and close the sending side.
async fn respond(socket: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        socket.write_all(response.as_bytes()).await?;
        socket.shutdown().await
    };
    tokio::time::timeout(WRITE_TIMEOUT, write).await.unwrap_or_else(|_| Err(ErrorKind::TimedOut.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_to_a_second_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<_> = (0..10).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), ACCEPT_BACKOFF_MIN);
    }
}
