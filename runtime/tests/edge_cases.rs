//! Regressions from a review of the token manager's concurrency: a flight whose task dies,
//! `invalid_grant` on unsaved credentials, a chain of failed saves, versions reused after a
//! delete, the proactive task after the manager is dropped, and a 401 answered with the
//! refused token.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oauthgen_runtime::{ManagerOptions, MemoryStore, Provider, SqliteStore, StoreError, TokenManager, TokenStore};
use support::{Flaky, MockServer, Reply, credentials, fast, token_json};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/plain.yaml")]
struct Plain;

fn provider(server: &MockServer) -> Plain {
    let mut p = Plain::new(server.port.to_string(), "id", "secret");
    p.config_mut().set_timeout(Duration::from_secs(5));
    p
}

/// A refresh whose task dies with its runtime does not leave every later refresh waiting on
/// it: the next call starts a new one.
#[tokio::test(flavor = "multi_thread")]
async fn a_flight_whose_runtime_ended_does_not_wedge_the_manager() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let server = MockServer::start(move |_| {
        if n2.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::Hang
        } else {
            Reply::json(200, token_json("at-2", Some("rt-2"), 3600))
        }
    })
    .await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let manager = TokenManager::with_options(provider(&server), store, "user", fast());
    let other = tokio::runtime::Runtime::new().unwrap();
    let m = manager.clone();
    other.spawn(async move {
        let _ = m.token().await;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    other.shutdown_background();
    assert_eq!(manager.token().await.unwrap().secret(), "at-2", "a new refresh, not RefreshAborted forever");
}

/// `invalid_grant` for credentials kept in memory after a failed save ends with
/// `InvalidCredentials`, not a request on every call.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_grant_for_unsaved_credentials_stops_requests() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let server = MockServer::start(move |_| {
        if n2.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(200, token_json("at-2", Some("rt-2"), 2))
        } else {
            Reply::json(400, r#"{"error":"invalid_grant"}"#)
        }
    })
    .await;
    let store = Flaky::default();
    store.save("user", &credentials("at-1", "rt-1", -10)).await.unwrap();
    let manager = TokenManager::with_options(provider(&server), store.clone(), "user", fast());
    store.failing.store(true, Ordering::SeqCst);
    assert_eq!(manager.token().await.unwrap().secret(), "at-2");
    store.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..5 {
        assert!(manager.token().await.is_err());
    }
    assert_eq!(server.requests().len(), 2, "after invalid_grant no more requests");
    assert!(matches!(manager.token().await, Err(oauthgen_runtime::Error::InvalidCredentials(_))));
}

/// Two failed saves in a row, then a new version of the same stored content (what
/// `EncryptedStore::reencrypt` does): the newest refresh token still wins over the consumed
/// one.
#[tokio::test(flavor = "multi_thread")]
async fn a_chain_of_failed_saves_survives_a_rewrite_of_the_old_entry() {
    let n = Arc::new(AtomicUsize::new(1));
    let used = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let n2 = n.clone();
    let server = MockServer::start(move |seen| {
        let rt = seen.body.split('&').find_map(|p| p.strip_prefix("refresh_token=")).unwrap_or_default().to_owned();
        if !used.lock().unwrap().insert(rt) {
            return Reply::json(400, r#"{"error":"invalid_grant"}"#);
        }
        let k = n2.fetch_add(1, Ordering::SeqCst) + 1;
        Reply::json(200, token_json(&format!("at-{k}"), Some(&format!("rt-{k}")), 2))
    })
    .await;
    let store = Flaky::default();
    let c1 = credentials("at-1", "rt-1", -10);
    store.save("user", &c1).await.unwrap();
    let manager = TokenManager::with_options(provider(&server), store.clone(), "user", fast());
    store.failing.store(true, Ordering::SeqCst);
    assert_eq!(manager.token().await.unwrap().secret(), "at-2");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(manager.token().await.unwrap().secret(), "at-3");
    store.failing.store(false, Ordering::SeqCst);
    // Same content, new version (what EncryptedStore::reencrypt or any re-save does).
    store.inner.save("user", &c1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(manager.token().await.unwrap().secret(), "at-4", "refreshed with rt-3, not the consumed rt-1");
    let stored = store.inner.load("user").await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.unwrap().secret(), "rt-4");
    assert!(!stored.invalid);
}

/// A key deleted and created again gets a version never used before: a fenced save based on
/// the old entry is refused.
#[tokio::test]
async fn sqlite_versions_are_not_reused_after_a_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    store.save("user", &credentials("at-old", "rt-old", 3600)).await.unwrap();
    let read = store.load_versioned("user").await.unwrap().unwrap();
    store.delete("user").await.unwrap();
    store.save("user", &credentials("at-new", "rt-new-grant", 3600)).await.unwrap();
    let r = store.save_if("user", Some(read.version), &credentials("at-stale", "rt-stale", 3600)).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "a stale holder overwrote the new sign-in: {r:?}");
    let fresh = store.save_if("user", None, &credentials("x", "y", 1)).await;
    assert!(matches!(fresh, Err(StoreError::Conflict(_))));
}

/// The proactive task ends as soon as the manager is dropped, not when the token falls due.
#[tokio::test(flavor = "multi_thread")]
async fn the_proactive_task_ends_with_the_manager() {
    let server = MockServer::start(|_| Reply::json(200, token_json("at-2", Some("rt-2"), 3600))).await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", 3600)).await.unwrap();
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let manager = TokenManager::with_options(
        provider(&server),
        store,
        "user",
        ManagerOptions { proactive: Some(Duration::from_secs(30)), ..fast() },
    );
    let _ = manager.token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(manager);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(metrics.num_alive_tasks(), before, "the proactive task ended");
}

/// A 401 replay gets a token other than the one refused, even when it joins a flight that
/// only reloaded the refused token.
#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_token_is_never_handed_back() {
    let server = MockServer::start(|_| Reply::json(200, token_json("at-2", Some("rt-2"), 3600))).await;
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", 3600)).await.unwrap();
    let manager = TokenManager::with_options(provider(&server), store, "user", fast());
    let first = manager.token().await.unwrap();
    assert_eq!(first.secret(), "at-1");
    let replaced = manager.token_after_rejection(&first).await.unwrap();
    assert_eq!(replaced.secret(), "at-2");
    assert_eq!(server.requests().len(), 1);
}
