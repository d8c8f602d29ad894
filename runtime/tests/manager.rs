//! The token manager and the stores, against a scriptable token endpoint on 127.0.0.1.

mod support;

use std::time::Duration;

use chrono::Utc;
use oauthgen_runtime::{
    AccessToken, Credentials, Error, FileStore, ManagerOptions, MemoryStore, Provider, RefreshToken, SqliteStore,
    StoreError, TokenEvent, TokenManager, TokenStore, authorized_client,
};
use support::{MockServer, Reply, token_json};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/plain.yaml")]
struct Plain;

fn credentials(access: &str, refresh: &str, expires_in: i64) -> Credentials {
    Credentials {
        access_token: AccessToken::new(access.into()),
        token_type: "Bearer".into(),
        refresh_token: Some(RefreshToken::new(refresh.into())),
        expires_at: Some(Utc::now() + chrono::TimeDelta::seconds(expires_in)),
        issued_at: Some(Utc::now()),
        scopes: vec!["read".into()],
        id_token: None,
        extra: std::collections::BTreeMap::default(),
        invalid: false,
        dpop_key: None,
    }
}

fn fast() -> ManagerOptions {
    ManagerOptions { backoff: Duration::from_millis(10), max_backoff: Duration::from_millis(100), ..Default::default() }
}

fn provider(server: &MockServer) -> Plain {
    let mut p = Plain::new(server.port.to_string(), "id", "secret");
    p.config_mut().set_timeout(Duration::from_millis(500));
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_request_for_a_thousand_callers_and_a_rotated_token_saved_first() {
    let server = MockServer::start(|_| {
        std::thread::sleep(Duration::from_millis(50)); // a slow endpoint widens the race
        Reply::json(200, token_json("at-2", Some("rt-2"), 3600))
    })
    .await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let manager = TokenManager::with_options(provider(&server), store.clone(), "user", fast());
    let mut events = manager.subscribe();

    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.token().await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().secret(), "at-2");
    }
    assert_eq!(server.requests().len(), 1, "exactly one token request");
    assert_eq!(manager.token_requests(), 1);
    let stored = store.load("user").await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.unwrap().secret(), "rt-2", "the rotated refresh token is stored");
    assert!(matches!(events.recv().await.unwrap(), TokenEvent::Refreshed { .. }));
    // The body carried the old refresh token.
    assert!(server.requests()[0].body.contains("refresh_token=rt-1"));
}

#[tokio::test]
async fn fresh_tokens_are_served_from_the_store_without_a_request() {
    let server = MockServer::scripted(vec![Reply::json(500, "{}")]).await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", 3600)).await.unwrap();
    let manager = TokenManager::new(provider(&server), store, "user");
    let mut events = manager.subscribe();
    for _ in 0..10 {
        assert_eq!(manager.token().await.unwrap().secret(), "at-1");
    }
    assert!(server.requests().is_empty());
    assert!(matches!(events.recv().await.unwrap(), TokenEvent::Loaded { .. }));
}

#[tokio::test]
async fn another_process_refreshed_already() {
    // Two managers on one file stand for two processes: the second finds the first's token.
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::scripted(vec![Reply::json(200, token_json("at-2", Some("rt-2"), 3600))]).await;
    let store = FileStore::new(dir.path().join("tokens.json"));
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let first = TokenManager::new(provider(&server), store.clone(), "user");
    let second = TokenManager::new(provider(&server), FileStore::new(dir.path().join("tokens.json")), "user");
    assert_eq!(first.token().await.unwrap().secret(), "at-2");
    assert_eq!(second.token().await.unwrap().secret(), "at-2");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let server = MockServer::scripted(vec![
        Reply::json(503, "{}"),
        Reply::json(429, "{}").with_header("retry-after", "1"),
        Reply::json(200, token_json("at-2", Some("rt-2"), 3600)),
    ])
    .await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let manager = TokenManager::with_options(
        provider(&server),
        store,
        "user",
        ManagerOptions { max_backoff: Duration::from_secs(2), ..fast() },
    );
    let start = std::time::Instant::now();
    assert_eq!(manager.token().await.unwrap().secret(), "at-2");
    assert_eq!(server.requests().len(), 3);
    assert!(start.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
}

/// Each fault gives a typed error and leaves the stored file byte for byte as it was.
#[tokio::test]
async fn faults_give_typed_errors_and_change_no_stored_byte() {
    type Expect = fn(&Error) -> bool;
    let faults: Vec<(&str, Reply, Expect)> = vec![
        ("500", Reply::json(500, r#"{"error":"server_error"}"#), |e| {
            matches!(e, Error::Unavailable { status: 500, .. })
        }),
        ("429", Reply::json(429, "").with_header("retry-after", "0"), |e| {
            matches!(e, Error::Unavailable { status: 429, .. })
        }),
        ("hang", Reply::Hang, |e| matches!(e, Error::Http { reason, .. } if reason.contains("timed out"))),
        ("truncated JSON", Reply::json(200, r#"{"access_token":"x","tok"#), |e| {
            matches!(e, Error::MalformedResponse { .. })
        }),
        (
            "HTML page",
            Reply::Respond {
                status: 200,
                headers: vec![("content-type", "text/html".into())],
                body: "<html>oops</html>".into(),
            },
            |e| matches!(e, Error::MalformedResponse { reason, .. } if reason.contains("HTML")),
        ),
        (
            "error in 200",
            Reply::json(200, r#"{"error":"invalid_request"}"#),
            |e| matches!(e, Error::OAuth { error, .. } if error == "invalid_request"),
        ),
        (
            "4xx",
            Reply::json(400, r#"{"error":"invalid_client"}"#),
            |e| matches!(e, Error::OAuth { error, .. } if error == "invalid_client"),
        ),
    ];
    for (name, reply, expected) in faults {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let store = FileStore::new(&path);
        store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
        store.save("other", &credentials("at-9", "rt-9", 3600)).await.unwrap();
        let before = std::fs::read(&path).unwrap();
        let server = MockServer::scripted(vec![reply]).await;
        let manager =
            TokenManager::with_options(provider(&server), store, "user", ManagerOptions { attempts: 2, ..fast() });
        let err = manager.token().await.unwrap_err();
        assert!(expected(&err), "{name}: {err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "{name}: the store changed");
        let retried = err.is_transient();
        assert_eq!(server.requests().len(), if retried { 2 } else { 1 }, "{name}: attempts");
    }
}

#[tokio::test]
async fn invalid_grant_marks_the_stored_credentials() {
    let server = MockServer::scripted(vec![Reply::json(400, r#"{"error":"invalid_grant"}"#)]).await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let manager = TokenManager::new(provider(&server), store.clone(), "user");
    let mut events = manager.subscribe();
    let err = manager.token().await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_grant"), "{err:?}");
    assert!(store.load("user").await.unwrap().unwrap().invalid);
    assert!(matches!(events.recv().await.unwrap(), TokenEvent::Invalidated { .. }));
    // From now on: a clear error, and no request.
    assert!(matches!(manager.token().await, Err(Error::InvalidCredentials(_))));
    assert_eq!(server.requests().len(), 1);
    let empty = TokenManager::new(provider(&server), MemoryStore::new(), "nobody");
    assert!(matches!(empty.token().await, Err(Error::NoCredentials(_))));
}

#[tokio::test]
async fn authorized_client_adds_the_token_and_replays_once_after_a_401() {
    let server = MockServer::start(|seen| match (seen.path(), seen.head.contains("Bearer at-1")) {
        ("/token", _) => Reply::json(200, token_json("at-2", Some("rt-2"), 3600)),
        ("/api", true) => Reply::json(401, r#"{"error":"invalid_token"}"#),
        ("/api", false) if seen.head.contains("Bearer at-2") => Reply::json(200, r#"{"ok":true}"#),
        _ => Reply::json(401, "{}"),
    })
    .await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", 3600)).await.unwrap();
    let manager = TokenManager::new(provider(&server), store, "user");
    let http = authorized_client(manager.clone());
    let url = format!("http://127.0.0.1:{}/api", server.port);
    let response = http.post(&url).body("payload").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let paths: Vec<String> = server.requests().iter().map(|s| s.path().to_owned()).collect();
    assert_eq!(paths, ["/api", "/token", "/api"]);
    assert_eq!(server.requests()[2].body, "payload", "the body was replayed");

    // A server that refuses every token: one replay, then the 401 is returned. No loop.
    let refusing = MockServer::start(|seen| match seen.path() {
        "/token" => Reply::json(200, token_json(&format!("at-{}", fastrand::u32(..)), Some("rt"), 3600)),
        _ => Reply::json(401, "{}"),
    })
    .await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", 3600)).await.unwrap();
    let http = authorized_client(TokenManager::new(provider(&refusing), store, "user"));
    let response = http.get(format!("http://127.0.0.1:{}/api", refusing.port)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(refusing.requests().len(), 3, "api, token, api: one replay only");
}

#[tokio::test]
async fn authorized_client_replaces_an_authorization_header_and_replays_no_stream() {
    let server = MockServer::start(|seen| match (seen.path(), seen.head.contains("Bearer at-1")) {
        ("/token", _) => Reply::json(200, token_json("at-2", Some("rt-2"), 3600)),
        ("/api", true) => Reply::json(401, "{}"),
        _ => Reply::json(200, "{}"),
    })
    .await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", 3600)).await.unwrap();
    let http = authorized_client(TokenManager::new(provider(&server), store, "user"));
    let url = format!("http://127.0.0.1:{}/api", server.port);

    // A built request's own Authorization header gives way to the manager's token.
    let request = http.get(&url).header("authorization", "Bearer forged").build().unwrap();
    let response = http.execute(request).await.unwrap();
    assert_eq!(response.status(), 200, "replayed with the refreshed token");
    let heads: Vec<String> = server.requests().iter().map(|s| s.head.clone()).collect();
    assert!(heads.iter().all(|h| !h.contains("forged")), "{heads:?}");
    assert!(heads[0].contains("Bearer at-1") && heads[2].contains("Bearer at-2"), "{heads:?}");

    // A streamed body cannot be sent twice: the 401 comes back, with no refresh.
    let refused = MockServer::start(|_| Reply::json(401, "{}")).await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", 3600)).await.unwrap();
    let http = authorized_client(TokenManager::new(provider(&refused), store, "user"));
    let stream = futures_stream(b"streamed".to_vec());
    let response = http
        .post(format!("http://127.0.0.1:{}/api", refused.port))
        .body(oauthgen_runtime::reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(refused.requests().len(), 1, "no refresh and no replay");
}

/// A one-chunk body stream, which reqwest cannot clone.
fn futures_stream(
    bytes: Vec<u8>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + Sync + 'static {
    struct Once(Option<Vec<u8>>);
    impl futures_core::Stream for Once {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.take().map(Ok))
        }
    }
    Once(Some(bytes))
}

#[tokio::test]
async fn file_store_is_private_atomic_and_refuses_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = FileStore::new(&path);
    assert!(store.load("a").await.unwrap().is_none());
    store.save("a", &credentials("at-a", "rt-a", 60)).await.unwrap();
    store.save("b", &credentials("at-b", "rt-b", 60)).await.unwrap();
    assert_eq!(store.load("a").await.unwrap().unwrap().access_token.secret(), "at-a");
    assert!(store.delete("a").await.unwrap());
    assert!(!store.delete("a").await.unwrap());
    assert_eq!(store.load("b").await.unwrap().unwrap().access_token.secret(), "at-b");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let linked = FileStore::new(&link);
        assert!(matches!(linked.load("b").await, Err(StoreError::Symlink(_))));
        assert!(matches!(linked.save("b", &credentials("x", "y", 1)).await, Err(StoreError::Symlink(_))));
    }
    // No temporary files are left behind.
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // A symbolic link swapped in after the store was created: every open refuses it
        // (`O_NOFOLLOW`), so there is no window between a check and a read.
        let swapped = dir.path().join("swapped.json");
        let store = FileStore::new(&swapped);
        std::os::unix::fs::symlink(&path, &swapped).unwrap();
        assert!(matches!(store.load("b").await, Err(StoreError::Symlink(_))));
        assert!(store.lock("b").await.is_ok(), "the lock file is not the link");
        // A directory others may write to is refused; with the sticky bit (like /tmp) it is not.
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let open = FileStore::new(shared.join("tokens.json"));
        let refused = open.save("a", &credentials("x", "y", 1)).await;
        assert!(
            matches!(&refused, Err(StoreError::Io { reason, .. }) if reason.contains("writable by other users")),
            "{refused:?}"
        );
        assert!(matches!(open.load("a").await, Err(StoreError::Io { .. })));
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        open.save("a", &credentials("x", "y", 1)).await.unwrap();
    }

    // A corrupt file is reported, and never overwritten.
    std::fs::write(&path, b"{\"a\": {broken").unwrap();
    assert!(matches!(store.load("a").await, Err(StoreError::Corrupt { .. })));
    assert!(matches!(store.save("a", &credentials("x", "y", 1)).await, Err(StoreError::Corrupt { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\": {broken");
}

#[tokio::test]
async fn sqlite_store_keeps_rows_by_key_and_leases_locks() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("tokens.db")).unwrap();
    store.save("alice", &credentials("at-a", "rt-a", 60)).await.unwrap();
    store.save("bob", &credentials("at-b", "rt-b", 60)).await.unwrap();
    store.save("alice", &credentials("at-a2", "rt-a2", 60)).await.unwrap();
    assert_eq!(store.load("alice").await.unwrap().unwrap().access_token.secret(), "at-a2");
    assert!(store.delete("bob").await.unwrap());
    assert!(store.load("bob").await.unwrap().is_none());

    // The lock is exclusive per key: a second taker waits until the first lets go.
    let first = store.lock("alice").await.unwrap();
    let other_key = store.lock("carol").await.unwrap();
    let s2 = store.clone();
    let waiter = tokio::spawn(async move { s2.lock("alice").await.map(|_| std::time::Instant::now()) });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let released = std::time::Instant::now();
    drop(first);
    let acquired = waiter.await.unwrap().unwrap();
    assert!(acquired >= released, "the second lock was taken only after the first was released");
    drop(other_key);

    // A manager on SQLite.
    let server = MockServer::scripted(vec![Reply::json(200, token_json("at-3", Some("rt-3"), 3600))]).await;
    store.save("dave", &credentials("at-1", "rt-1", -1)).await.unwrap();
    let manager = TokenManager::new(provider(&server), store.clone(), "dave");
    assert_eq!(manager.token().await.unwrap().secret(), "at-3");
    assert_eq!(store.load("dave").await.unwrap().unwrap().refresh_token.unwrap().secret(), "rt-3");
}
