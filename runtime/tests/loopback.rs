//! The installed-app loopback listener under hostile or careless clients: idle sockets (a
//! browser's preconnects), an oversized head, a slowloris and forged callbacks on concurrent
//! connections never delay the real callback; connections beyond the limit are closed at once.
//!
//! Each test drives `LoopbackLogin` as the CLI's `--no-browser` path does: the URL gives the
//! port and the `state`, and the test plays the browser over raw TCP on 127.0.0.1.

mod support;

use std::future::Future;
use std::time::Duration;

use oauthgen_runtime::{Credentials, Error, LoopbackLogin, LoopbackOptions};
use support::{MockServer, Reply, token_json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/plain.yaml")]
struct Plain;

/// Well under the listener's 10 s head timeout: a test that needs it has been stalled.
const QUICK: Duration = Duration::from_secs(3);

/// The listener's connection limit.
const MAX_CONNECTIONS: usize = 64;

struct Setup {
    server: MockServer,
    provider: Plain,
}

impl Setup {
    async fn new() -> Self {
        let server = MockServer::scripted(vec![Reply::json(200, token_json("at-1", Some("rt-1"), 3600))]).await;
        let provider = Plain::new(server.port.to_string(), "id", "secret");
        Self { server, provider }
    }

    /// Start listening; the port and the `state` the browser would come back with.
    async fn start(&self) -> (LoopbackLogin<'_, Plain>, u16, String) {
        let options =
            LoopbackOptions { open_browser: false, timeout: Duration::from_secs(20), ..LoopbackOptions::default() };
        let login = LoopbackLogin::start(&self.provider, &[] as &[&str], options).await.unwrap();
        let param = |name: &str| login.url().query_pairs().find(|(k, _)| k == name).unwrap().1.into_owned();
        let redirect = url::Url::parse(&param("redirect_uri")).unwrap();
        assert_eq!(redirect.path(), "/callback");
        let port = redirect.port().unwrap();
        let state = param("state");
        (login, port, state)
    }

    /// The token requests the flow made: exactly one, for `code`.
    fn assert_exchanged_once(&self, code: &str) {
        let requests = self.server.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert!(requests[0].body.contains(&format!("code={code}&")), "{}", requests[0].body);
    }
}

/// Run the flow and the browser side together, both within [`QUICK`].
async fn run<B: Future>(login: LoopbackLogin<'_, Plain>, browser: B) -> (Result<Credentials, Error>, B::Output) {
    tokio::time::timeout(QUICK, async { tokio::join!(login.finish(), browser) })
        .await
        .expect("the callback was delayed: the flow and the browser did not finish within 3 s")
}

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).await.unwrap()
}

/// Send `GET target` on `stream` and read the whole answer: its status and text.
async fn request_on(stream: &mut TcpStream, target: &str) -> std::io::Result<(u16, String)> {
    stream.write_all(format!("GET {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, text))
}

async fn request(port: u16, target: &str) -> (u16, String) {
    request_on(&mut connect(port).await, target).await.unwrap()
}

fn assert_signed_in(outcome: Result<Credentials, Error>, (status, page): (u16, String)) {
    let credentials = outcome.unwrap();
    assert_eq!(credentials.access_token.secret(), "at-1");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in"), "{page}");
}

#[tokio::test]
async fn idle_connections_do_not_delay_the_callback() {
    let setup = Setup::new().await;
    let (login, port, state) = setup.start().await;
    // Connected before the callback, so they are first in the listener's queue.
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(connect(port).await);
    }
    let (outcome, answer) = run(login, request(port, &format!("/callback?code=the-code&state={state}"))).await;
    assert_signed_in(outcome, answer);
    setup.assert_exchanged_once("the-code");
    drop(idle);
}

#[tokio::test]
async fn an_oversized_head_is_refused_and_the_callback_still_works() {
    let setup = Setup::new().await;
    let (login, port, state) = setup.start().await;
    let mut big = connect(port).await;
    let flood = tokio::spawn(async move {
        // 1 MiB with no blank line: the listener refuses it (or resets the connection while
        // the rest is still being written); either way it closes, and quickly.
        let _ = big.write_all(&vec![b'a'; 1024 * 1024]).await;
        let mut response = Vec::new();
        let read = tokio::time::timeout(QUICK, big.read_to_end(&mut response)).await;
        (read.is_ok(), String::from_utf8_lossy(&response).into_owned())
    });
    let browser = async {
        // Let the flood start first.
        tokio::time::sleep(Duration::from_millis(100)).await;
        request(port, &format!("/callback?code=the-code&state={state}")).await
    };
    let (outcome, answer) = run(login, browser).await;
    assert_signed_in(outcome, answer);
    setup.assert_exchanged_once("the-code");
    let (closed, response) = flood.await.unwrap();
    assert!(closed, "the oversized connection was left open");
    assert!(response.is_empty() || response.starts_with("HTTP/1.1 431 "), "{response}");
}

#[tokio::test]
async fn a_slowloris_does_not_delay_the_callback() {
    let setup = Setup::new().await;
    let (login, port, state) = setup.start().await;
    let mut slow = connect(port).await;
    let trickle = tokio::spawn(async move {
        // A plausible head, one byte every 100 ms: it never ends within the test.
        for byte in b"GET /callback?code=slow&state=slow HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".iter().cycle() {
            if slow.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let browser = async {
        // Let the slowloris be accepted first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        request(port, &format!("/callback?code=the-code&state={state}")).await
    };
    let (outcome, answer) = run(login, browser).await;
    trickle.abort();
    assert_signed_in(outcome, answer);
    setup.assert_exchanged_once("the-code");
}

#[tokio::test]
async fn forged_callbacks_on_concurrent_connections_are_refused_and_the_wait_goes_on() {
    let setup = Setup::new().await;
    let (login, port, state) = setup.start().await;
    // Opened first and silent while the forged callbacks come in on other connections; the
    // real callback arrives on it last.
    let mut early = connect(port).await;
    let browser = async {
        let forged = request(port, "/callback?code=evil&state=forged").await;
        let forged_error = request(port, "/callback?error=access_denied&state=forged").await;
        let stray = request(port, "/favicon.ico").await;
        let real = request_on(&mut early, &format!("/callback?code=the-code&state={state}")).await.unwrap();
        (forged, forged_error, stray, real)
    };
    let (outcome, (forged, forged_error, stray, real)) = run(login, browser).await;
    for (status, page) in [forged, forged_error] {
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("does not match"), "{page}");
        assert!(!page.contains(&state), "{page}");
    }
    assert_eq!(stray.0, 404);
    assert_signed_in(outcome, real);
    setup.assert_exchanged_once("the-code");
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_once() {
    let setup = Setup::new().await;
    let (login, port, state) = setup.start().await;
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        idle.push(connect(port).await);
    }
    let browser = async {
        // Let the listener take the idle connections, then one more is closed unread.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut excess = connect(port).await;
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(1), excess.read(&mut buf)).await;
        assert!(matches!(closed, Ok(Ok(0) | Err(_))), "{closed:?}");
        // Once the idle connections go away, the callback is served.
        drop(idle);
        let mut last = None;
        for _ in 0..20 {
            match request_on(&mut connect(port).await, &format!("/callback?code=the-code&state={state}")).await {
                Ok(answer) if answer.0 != 0 => return answer,
                other => last = Some(other),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the callback was never served: {last:?}");
    };
    let (outcome, answer) = run(login, browser).await;
    assert_signed_in(outcome, answer);
    setup.assert_exchanged_once("the-code");
}
