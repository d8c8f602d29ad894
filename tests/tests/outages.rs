//! Stores that go away mid-run: Redis and PostgreSQL stopped (every connection cut) for 300 ms,
//! and once for 12 s, at random moments of refreshes, against `oidc-provider` with rotating refresh tokens
//! and 2-second access tokens. Callers get clear errors meanwhile, the manager recovers by
//! itself, and the stored refresh token is never older than the newest the provider issued
//! (an older one would be refused, since rotation consumed it).

use std::time::Duration;

use oauthgen_runtime::{AnyStore, Callback, TokenManager, TokenStore as _, authorize_url, exchange};
use oauthgen_tests::{OidcServer, TestOp, TestOpScope, follow_to_callback};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A server that can be stopped and started again (same port, same data).
trait Outage {
    fn stop(&mut self);
    fn resume(&mut self);
}

impl Outage for oauthgen_tests::redis::RedisServer {
    fn stop(&mut self) {
        Self::stop(self);
    }
    fn resume(&mut self) {
        Self::resume(self);
    }
}

impl Outage for oauthgen_tests::postgres::PgServer {
    fn stop(&mut self) {
        Self::stop(self);
    }
    fn resume(&mut self) {
        Self::resume(self);
    }
}

/// Eight refreshes, each hit by an outage at a different moment: 300 ms long, except the
/// fourth, which outlasts the stores' 10-second operation timeout.
async fn survives_outages(address: &str, kind: &str, database: &mut impl Outage) {
    let server = OidcServer::start(2);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let auth = authorize_url(&op, REDIRECT, TestOpScope::DEFAULT).unwrap();
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    let credentials = exchange(&op, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap();
    let store = AnyStore::open(address).await.unwrap();
    store.save("user", &credentials).await.unwrap();
    let manager = TokenManager::new(op.clone(), store.clone(), "user");

    let mut errors = Vec::new();
    for round in 0..8u64 {
        tokio::time::sleep(Duration::from_millis(1100)).await; // due again
        let long = round == 3;
        if long {
            // Down before the refresh starts, for longer than an operation may take.
            database.stop();
        }
        let call = tokio::spawn({
            let m = manager.clone();
            async move { m.token().await.map(|t| t.secret().to_owned()) }
        });
        if long {
            tokio::time::sleep(Duration::from_secs(12)).await;
        } else {
            // An outage at a different moment of the refresh each round.
            tokio::time::sleep(Duration::from_millis(round * 7 % 40)).await;
            database.stop();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        database.resume();
        match tokio::time::timeout(Duration::from_secs(30), call).await.expect("bounded").unwrap() {
            Ok(token) => assert!(!token.is_empty()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    eprintln!("{kind}: {} of 8 rounds failed during an outage: {errors:?}", errors.len());
    assert!(!errors.is_empty(), "{kind}: the outages hit refreshes");
    for e in &errors {
        assert!(!e.contains("invalid_grant"), "{kind}: never a lost grant: {e}");
        assert!(e.contains("token store") || e.contains("lock"), "{kind}: a clear store error: {e}");
    }
    // Recovered: a token, and whatever was held unsaved is now stored.
    let token = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(t) = manager.token().await
                && !manager.has_unsaved()
            {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the manager recovers");
    assert!(!token.secret().is_empty());
    let mut stored = store.load("user").await.unwrap().unwrap();
    assert!(!stored.invalid, "{kind}");
    oauthgen_runtime::refresh(&op, &mut stored)
        .await
        .unwrap_or_else(|e| panic!("{kind}: the stored refresh token is the newest one: {e}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_outages_lose_nothing() {
    let mut redis = oauthgen_tests::redis::RedisServer::start_persistent();
    let url = redis.url();
    survives_outages(&url, "redis", &mut redis).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_outages_lose_nothing() {
    let mut pg = oauthgen_tests::postgres::PgServer::start();
    let url = pg.url();
    survives_outages(&url, "postgres", &mut pg).await;
}
