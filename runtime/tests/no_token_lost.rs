//! "A received token is never lost": short-lived tokens, callers that give up, saves that
//! fail, answers that never arrive, leases and untrusted numbers, against a scriptable token
//! endpoint that enforces refresh-token rotation like a real provider (a refresh token works
//! once; reusing one is `invalid_grant`).

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use oauthgen_runtime::{
    AccessToken, Credentials, Error, ManagerOptions, MemoryStore, Provider, SqliteStore, TokenEvent, TokenManager,
    TokenStore,
};
use support::{Flaky, MockServer, Reply, credentials, fast, token_json};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/plain.yaml")]
struct Plain;

fn provider(server: &MockServer, timeout: Duration) -> Plain {
    let mut p = Plain::new(server.port.to_string(), "id", "secret");
    p.config_mut().set_timeout(timeout);
    p
}

/// A token endpoint with rotation: `rt-N` is accepted once and answered with `at-N+1` /
/// `rt-N+1` living `lifetime` seconds after `delay`; a reused refresh token is refused.
struct Rotating {
    server: MockServer,
    issued: Arc<AtomicUsize>,
}

impl Rotating {
    async fn start(lifetime: u64, delay: Duration) -> Self {
        let used = Arc::new(Mutex::new(HashSet::<String>::new()));
        let issued = Arc::new(AtomicUsize::new(1));
        let n = issued.clone();
        let server = MockServer::start(move |seen| {
            let refresh =
                seen.body.split('&').find_map(|p| p.strip_prefix("refresh_token=")).unwrap_or_default().to_owned();
            if !used.lock().unwrap().insert(refresh) {
                return Reply::json(400, r#"{"error":"invalid_grant","error_description":"reused"}"#);
            }
            let next = n.fetch_add(1, Ordering::SeqCst) + 1;
            let reply = Reply::json(200, token_json(&format!("at-{next}"), Some(&format!("rt-{next}")), lifetime));
            Reply::After(delay, Box::new(reply))
        })
        .await;
        Self { server, issued }
    }

    fn requests(&self) -> usize {
        self.server.requests().len()
    }
}

async fn stored_refresh(store: &impl TokenStore) -> String {
    store.load("user").await.unwrap().unwrap().refresh_token.unwrap().secret().clone()
}

/// Defect 1: a 4-second token is not due the moment it arrives. Sequential and concurrent
/// callers share one refresh, then use the new token until half its lifetime has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_lived_tokens_are_refreshed_once_not_on_every_call() {
    let op = Rotating::start(4, Duration::ZERO).await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    // The spec's default margin is 60 s, longer than the token lives.
    let manager =
        TokenManager::with_options(provider(&op.server, Duration::from_secs(5)), store.clone(), "user", fast());
    for _ in 0..50 {
        assert_eq!(manager.token().await.unwrap().secret(), "at-2");
    }
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            tokio::spawn({
                let m = manager.clone();
                async move { m.token().await.map(|t| t.secret().to_owned()) }
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "at-2");
    }
    assert_eq!(op.requests(), 1, "one refresh for 150 calls within the token's first half-life");
    // Half-way through its life (2 s) it falls due, and is refreshed once more.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(manager.token().await.unwrap().secret(), "at-3");
    assert_eq!(op.requests(), 2);
    assert_eq!(stored_refresh(&store).await, "rt-3");
}

/// A token that is due the moment it arrives (no lifetime at all) still goes to every caller
/// that waited for its refresh: one request, not one per waiter.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn everyone_who_waited_gets_the_token_just_obtained() {
    let op = Rotating::start(0, Duration::from_millis(300)).await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let manager = TokenManager::with_options(provider(&op.server, Duration::from_secs(5)), store, "user", fast());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            tokio::spawn({
                let m = manager.clone();
                async move { m.token().await.map(|t| t.secret().to_owned()) }
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "at-2");
    }
    assert_eq!(op.requests(), 1);
}

/// Defect 2: callers that give up while the provider is answering (a timeout, a client that
/// disconnected) do not cancel the refresh: the rotated refresh token is stored anyway, and
/// the next call uses it without a request.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_caller_does_not_lose_the_rotated_refresh_token() {
    let op = Rotating::start(3600, Duration::from_millis(1500)).await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let manager =
        TokenManager::with_options(provider(&op.server, Duration::from_secs(5)), store.clone(), "user", fast());
    let start = std::time::Instant::now();
    for _ in 0..5 {
        let gave_up = tokio::time::timeout(Duration::from_millis(50), manager.token()).await;
        assert!(
            gave_up.is_err(),
            "the caller gave up before the answer ({:?})",
            gave_up.map(|r| r.map(|t| t.secret().to_owned()))
        );
    }
    assert!(start.elapsed() < Duration::from_millis(1500), "all gave up before the provider answered");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stored_refresh(&store).await, "rt-2", "the answer was stored though nobody waited");
    assert_eq!(manager.token().await.unwrap().secret(), "at-2");
    assert_eq!(op.requests(), 1, "no second request, and so no reuse of rt-1");
    // A second manager (another process) refreshes from what was stored: still valid.
    let expired = Credentials { expires_at: Some(Utc::now()), ..store.load("user").await.unwrap().unwrap() };
    store.save("user", &expired).await.unwrap();
    let other = TokenManager::with_options(provider(&op.server, Duration::from_secs(5)), store.clone(), "user", fast());
    assert_eq!(other.token().await.unwrap().secret(), "at-3");
}

/// Defect 3: when saving fails after a successful refresh, the new credentials are handed
/// out, kept in memory, used for the next refresh (never the consumed refresh token), and
/// saved once the store works again; the failure is reported as an event.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_save_keeps_the_received_token() {
    let op = Rotating::start(2, Duration::ZERO).await;
    let store = Flaky::default();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let manager =
        TokenManager::with_options(provider(&op.server, Duration::from_secs(5)), store.clone(), "user", fast());
    let mut events = manager.subscribe();
    store.failing.store(true, Ordering::SeqCst);

    assert_eq!(manager.token().await.unwrap().secret(), "at-2", "handed out although unsaved");
    assert!(manager.has_unsaved());
    assert!(
        matches!(events.recv().await.unwrap(), TokenEvent::SaveFailed { reason, .. } if reason.contains("disk full"))
    );
    assert_eq!(stored_refresh(&store.inner).await, "rt-1", "the store could not be written");

    // Due again (2 s tokens fall due after 1 s): the refresh uses rt-2 from memory, not the
    // stored rt-1 that the provider already consumed.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(manager.token().await.unwrap().secret(), "at-3");
    assert!(manager.has_unsaved());

    // The store recovers: the next call saves in the background.
    store.failing.store(false, Ordering::SeqCst);
    assert_eq!(manager.token().await.unwrap().secret(), "at-3");
    tokio::time::timeout(Duration::from_secs(5), async {
        while manager.has_unsaved() || stored_refresh(&store.inner).await != "rt-3" {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("saved after the store recovered");
    assert_eq!(op.requests(), 2, "no refresh token was reused");
}

/// Defect 4: a request that timed out may have rotated the token at the provider. The retry
/// then gets `invalid_grant`, and the error says the earlier outcome is unknown.
#[tokio::test(flavor = "multi_thread")]
async fn an_ambiguous_failure_then_invalid_grant_says_so() {
    // The provider consumes rt-1 but answers too late; the retry reuses rt-1.
    let op = Rotating::start(3600, Duration::from_millis(800)).await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let manager =
        TokenManager::with_options(provider(&op.server, Duration::from_millis(300)), store.clone(), "user", fast());
    let err = manager.token().await.unwrap_err();
    assert!(matches!(&err, Error::RefreshOutcomeUnknown { earlier, .. } if earlier.contains("timed out")), "{err}");
    assert!(err.to_string().contains("may have rotated"), "{err}");
    assert!(store.load("user").await.unwrap().unwrap().invalid, "the consumed grant is marked invalid");
}

/// Defect 4: before retrying after an ambiguous failure, the store is read again; what
/// another process stored meanwhile is used instead of a second request.
#[tokio::test(flavor = "multi_thread")]
async fn an_ambiguous_failure_rereads_the_store_before_retrying() {
    let server = MockServer::start(|_| Reply::Hang).await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let manager = TokenManager::with_options(
        provider(&server, Duration::from_millis(300)),
        store.clone(),
        "user",
        ManagerOptions { backoff: Duration::from_millis(200), ..fast() },
    );
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            // Another process whose lease began stores its refresh while ours hangs.
            tokio::time::sleep(Duration::from_millis(350)).await;
            store.save("user", &credentials("at-other", "rt-other", 3600)).await.unwrap();
        })
    };
    assert_eq!(manager.token().await.unwrap().secret(), "at-other");
    writer.await.unwrap();
    assert_eq!(server.requests().len(), 1, "no retry once the store had the answer");
}

/// Defect 5: an SQLite lease held longer than its length is renewed, so no second process
/// takes it; a holder that stops renewing loses it after the lease.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_leases_are_renewed_while_held_and_expire_when_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let lease = Duration::from_millis(300);
    let (a, b) =
        (SqliteStore::open(&path).unwrap().with_lease(lease), SqliteStore::open(&path).unwrap().with_lease(lease));
    let held = a.lock("user").await.unwrap();
    let taken = tokio::time::timeout(Duration::from_millis(1500), b.lock("user")).await;
    assert!(taken.is_err(), "held for five lease lengths, renewed all along");
    assert!(held.is_held());
    drop(held);
    let again = tokio::time::timeout(Duration::from_secs(2), b.lock("user")).await;
    assert!(again.is_ok_and(|l| l.is_ok()), "released on drop");

    // A holder that dies: its runtime (and so its renewal task) is gone, the row stays.
    let c = SqliteStore::open(&path).unwrap().with_lease(lease);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let lock = rt.block_on(c.lock("dead")).unwrap();
        std::mem::forget(lock);
    })
    .join()
    .unwrap();
    let start = std::time::Instant::now();
    let taken = tokio::time::timeout(Duration::from_secs(3), a.lock("dead")).await;
    assert!(taken.is_ok_and(|l| l.is_ok()), "taken over after the lease");
    assert!(start.elapsed() >= Duration::from_millis(150), "not before the lease ran out");
}

/// Defect 6: a stored expiry far in the future (oauth2client files carry 9999-12-31) is
/// clamped: no overflow, a fresh token, no request.
#[tokio::test]
async fn far_future_expiries_do_not_overflow() {
    let server = MockServer::scripted(vec![Reply::json(500, "{}")]).await;
    let store = MemoryStore::new();
    let mut c = credentials("at-forever", "rt-1", 0);
    c.expires_at = Some("9999-12-31T23:59:59Z".parse().unwrap());
    c.issued_at = Some(chrono::DateTime::UNIX_EPOCH);
    store.save("user", &c).await.unwrap();
    let manager = TokenManager::new(provider(&server, Duration::from_secs(1)), store.clone(), "user");
    for _ in 0..3 {
        assert_eq!(manager.token().await.unwrap().secret(), "at-forever");
    }
    c.issued_at = Some("9999-12-31T23:59:59Z".parse().unwrap());
    c.access_token = AccessToken::new("at-odd".into());
    store.save("user", &c).await.unwrap();
    let manager = TokenManager::new(provider(&server, Duration::from_secs(1)), store, "user");
    assert_eq!(manager.token().await.unwrap().secret(), "at-odd", "an issue time after the expiry is harmless");
    assert!(server.requests().is_empty());
}

/// Proactive refresh: the background task renews before the token falls due, so callers
/// never wait; it stops when the manager is dropped.
#[tokio::test(flavor = "multi_thread")]
async fn proactive_refresh_renews_before_callers_need_it() {
    let op = Rotating::start(2, Duration::ZERO).await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let manager = TokenManager::with_options(
        provider(&op.server, Duration::from_secs(5)),
        store.clone(),
        "user",
        ManagerOptions { proactive: Some(Duration::from_millis(400)), ..fast() },
    );
    // The task loads (and here refreshes) by itself, and keeps renewing every ~1 s.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let before = manager.token_requests();
    assert!(before >= 2, "renewed in the background ({before} requests)");
    // Every request the manager sent reached the provider, and no other (one may still be on
    // its way when the counters are read on a busy machine: wait for them to agree).
    let mut before = before;
    for _ in 0..100 {
        if op.requests() == usize::try_from(before).unwrap() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        before = manager.token_requests();
    }
    assert_eq!(op.requests(), usize::try_from(before).unwrap());
    let n = op.issued.load(Ordering::SeqCst);
    assert_eq!(manager.token().await.unwrap().secret(), format!("at-{n}"), "the newest token, at once");
    assert_eq!(manager.token_requests(), before, "the caller did not refresh");
    drop(manager);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = op.requests();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(op.requests(), after, "the task ended with the manager");
}
