//! What every [`TokenStore`] must do, as one suite that each store's tests run against two
//! handles on the same data (two connections, as two servers of a fleet would have).

use std::time::Duration;

use oauthgen_runtime::store::{StoreError, TokenStore};
use oauthgen_runtime::{AccessToken, Credentials, RefreshToken};

/// Credentials whose tokens are `access` and `refresh`, expiring in an hour.
pub fn credentials(access: &str, refresh: &str) -> Credentials {
    let now = chrono::Utc::now();
    Credentials {
        access_token: AccessToken::new(access.into()),
        token_type: "Bearer".into(),
        refresh_token: Some(RefreshToken::new(refresh.into())),
        expires_at: Some(now + chrono::TimeDelta::hours(1)),
        issued_at: Some(now),
        scopes: vec!["openid".into()],
        id_token: None,
        extra: std::collections::BTreeMap::new(),
        invalid: false,
        dpop_key: None,
    }
}

fn access(c: Option<Credentials>) -> Option<String> {
    c.map(|c| c.access_token.secret().clone())
}

/// Run the suite with keys prefixed by `prefix` (so that runs can share a database).
///
/// # Panics
/// When the store breaks a rule of [`TokenStore`].
pub async fn check<S: TokenStore>(a: &S, b: &S, prefix: &str) {
    let key = format!("{prefix}-user");
    let key = key.as_str();

    // Absent, then saved; both handles see it.
    assert!(a.load(key).await.unwrap().is_none(), "a new key is absent");
    assert!(a.load_versioned(key).await.unwrap().is_none());
    a.save(key, &credentials("at-1", "rt-1")).await.unwrap();
    assert_eq!(access(b.load(key).await.unwrap()).as_deref(), Some("at-1"));
    let v1 = b.load_versioned(key).await.unwrap().unwrap().version;

    // A save changes the version.
    a.save(key, &credentials("at-2", "rt-2")).await.unwrap();
    let v2 = b.load_versioned(key).await.unwrap().unwrap().version;
    assert_ne!(v1, v2, "every save gives a new version");

    // Fenced saves: the current version wins, an old one is refused and changes nothing.
    let v3 = b.save_if(key, Some(v2), &credentials("at-3", "rt-3")).await.unwrap();
    assert_eq!(a.load_versioned(key).await.unwrap().unwrap().version, v3, "save_if returns the new version");
    let refused = a.save_if(key, Some(v2), &credentials("at-stale", "rt-stale")).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "a stale version is refused: {refused:?}");
    assert_eq!(access(b.load(key).await.unwrap()).as_deref(), Some("at-3"), "nothing written on conflict");
    let refused = a.save_if(key, None, &credentials("at-stale", "rt-stale")).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "`None` means absent: {refused:?}");

    // Delete, and a fenced create.
    assert!(a.delete(key).await.unwrap());
    assert!(!b.delete(key).await.unwrap(), "deleting twice says it was not there");
    assert!(b.load(key).await.unwrap().is_none());
    b.save_if(key, None, &credentials("at-4", "rt-4")).await.unwrap();
    assert_eq!(access(a.load(key).await.unwrap()).as_deref(), Some("at-4"));

    // A key deleted and created again never reuses a version: a save fenced on the old
    // entry (a holder whose lease ran out across a sign-out and a new sign-in) is refused.
    let old = b.load_versioned(key).await.unwrap().unwrap().version;
    assert!(a.delete(key).await.unwrap());
    a.save(key, &credentials("at-5", "rt-5")).await.unwrap();
    let stale = b.save_if(key, Some(old), &credentials("at-stale", "rt-stale")).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "an old version after a re-create: {stale:?}");
    assert_eq!(access(a.load(key).await.unwrap()).as_deref(), Some("at-5"));

    // Keys are independent.
    let other = format!("{prefix}-other");
    assert!(a.load(&other).await.unwrap().is_none());

    // The lock excludes the other handle until it is dropped.
    let held = a.lock(key).await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(300), b.lock(key)).await;
    assert!(waiting.is_err(), "the lock is exclusive across handles");
    let other_key = tokio::time::timeout(Duration::from_secs(5), b.lock(&other)).await;
    assert!(other_key.is_ok_and(|l| l.is_ok()), "locks of other keys are independent");
    drop(held);
    let next = tokio::time::timeout(Duration::from_secs(5), b.lock(key)).await;
    let next = next.expect("a dropped lock is released").unwrap();
    drop(next);

    // Lock attempts cancelled at any point leave no lock behind.
    for delay_ms in [0, 1, 2, 5, 10, 20] {
        let blocker = a.lock(key).await.unwrap();
        let attempt = tokio::time::timeout(Duration::from_millis(delay_ms), b.lock(key)).await;
        assert!(attempt.is_err(), "held by the blocker");
        drop(blocker);
        let attempt = tokio::time::timeout(Duration::from_millis(delay_ms), b.lock(key));
        drop(attempt.await);
        let again = tokio::time::timeout(Duration::from_secs(5), a.lock(key)).await;
        assert!(again.is_ok_and(|l| l.is_ok()), "no orphan lock after a cancelled attempt ({delay_ms} ms)");
    }
    a.delete(key).await.unwrap();
}
