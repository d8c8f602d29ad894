//! Cached `token()` of oauthgen's `TokenManager`, of yup-oauth2's `Authenticator` and of a bare
//! `ArcSwap` load with an expiry check (the floor), with 1 and 64 concurrent tasks; then the
//! number of token requests 10,000 concurrent callers on an expired token cause, ours vs
//! yup-oauth2, against the same loopback token endpoint. All in one run.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::{Criterion, criterion_group, criterion_main};
use oauthgen_benches::{Plain, TokenEndpoint};
use oauthgen_runtime::{AccessToken, Credentials, MemoryStore, RefreshToken, TokenManager, TokenStore as _};
use time::OffsetDateTime;
use yup_oauth2::storage::{TokenInfo, TokenStorage, TokenStorageError};

const TASKS: usize = 64;

fn credentials(expires_in: i64) -> Credentials {
    Credentials {
        access_token: AccessToken::new("at-0".into()),
        token_type: "Bearer".into(),
        refresh_token: Some(RefreshToken::new("rt-0".into())),
        expires_at: Some(OffsetDateTime::now_utc() + time::Duration::seconds(expires_in)),
        issued_at: Some(OffsetDateTime::now_utc()),
        scopes: vec![],
        id_token: None,
        extra: std::collections::BTreeMap::new(),
        invalid: false,
    }
}

/// yup-oauth2's custom storage, pre-filled: its fastest cached path.
struct YupStorage(tokio::sync::Mutex<TokenInfo>);

#[async_trait::async_trait]
impl TokenStorage for YupStorage {
    async fn set(&self, _scopes: &[&str], token: TokenInfo) -> Result<(), TokenStorageError> {
        *self.0.lock().await = token;
        Ok(())
    }

    async fn get(&self, _scopes: &[&str]) -> Option<TokenInfo> {
        Some(self.0.lock().await.clone())
    }
}

type Yup = yup_oauth2::authenticator::DefaultAuthenticator;

async fn yup(port: u16, expires_in: i64) -> Yup {
    let secret = yup_oauth2::ApplicationSecret {
        client_id: "id".into(),
        client_secret: "secret".into(),
        token_uri: format!("http://127.0.0.1:{port}/token"),
        auth_uri: format!("http://127.0.0.1:{port}/authorize"),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        ..Default::default()
    };
    let token = TokenInfo {
        access_token: Some("at-0".into()),
        refresh_token: Some("rt-0".into()),
        expires_at: Some(OffsetDateTime::now_utc() + time::Duration::seconds(expires_in)),
        id_token: None,
    };
    yup_oauth2::InstalledFlowAuthenticator::builder(secret, yup_oauth2::InstalledFlowReturnMethod::Interactive)
        .with_storage(Box::new(YupStorage(tokio::sync::Mutex::new(token))))
        .build()
        .await
        .expect("yup authenticator")
}

async fn ours(port: u16, expires_in: i64) -> TokenManager<Plain, MemoryStore> {
    let store = MemoryStore::new();
    store.save("bench", &credentials(expires_in)).await.expect("save");
    TokenManager::new(Plain::new(port.to_string(), "id", "secret"), store, "bench")
}

/// Run `iters` calls of `$call` split over `$tasks` tasks, each task holding its own clone of
/// `$shared` (so no per-call reference counting is measured); the elapsed time.
macro_rules! concurrent {
    ($tasks:expr, $iters:expr, $shared:expr, |$x:ident| $call:expr) => {{
        let (tasks, iters) = ($tasks as u64, $iters);
        let per_task = (iters / tasks).max(1);
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let $x = $shared.clone();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        black_box($call);
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
        // Scaled back to `iters` calls (counts stay far below 2^52).
        #[allow(clippy::cast_precision_loss, reason = "iteration counts are far below 2^52")]
        let scale = iters as f64 / (per_task * tasks) as f64;
        start.elapsed().mul_f64(scale)
    }};
}

fn cached(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let endpoint = rt.block_on(TokenEndpoint::start(Duration::ZERO));
    let ours = Arc::new(rt.block_on(ours(endpoint.port, 3600)));
    let yup = Arc::new(rt.block_on(yup(endpoint.port, 3600)));
    rt.block_on(async {
        assert_eq!(ours.token().await.expect("ours").secret(), "at-0");
        assert_eq!(yup.token(&["s"]).await.expect("yup").token(), Some("at-0"));
    });
    let deadline = Instant::now() + Duration::from_secs(3600);
    let floor = Arc::new(ArcSwap::from_pointee(("at-0".to_owned(), deadline)));

    for tasks in [1, TASKS] {
        let mut group = c.benchmark_group(format!("cached token, {tasks} task(s)"));
        group.bench_function("ArcSwap load + expiry check (floor)", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let floor = floor.clone();
                async move {
                    concurrent!(tasks, iters, floor, |f| {
                        let guard = f.load();
                        Instant::now() < guard.1 && !guard.0.is_empty()
                    })
                }
            });
        });
        group.bench_function("oauthgen TokenManager::token", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let ours = ours.clone();
                async move { concurrent!(tasks, iters, ours, |o| o.token().await.expect("token")) }
            });
        });
        group.bench_function("yup-oauth2 Authenticator::token", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let yup = yup.clone();
                async move { concurrent!(tasks, iters, yup, |y| y.token(&["s"]).await.expect("token")) }
            });
        });
        group.finish();
    }
    assert_eq!(endpoint.requests(), 0, "cached benchmarks must not refresh");
}

/// 10,000 concurrent callers on an expired token: token requests sent, ours vs yup-oauth2,
/// against an endpoint that takes 10 ms to answer. Printed, and timed by criterion.
fn storm(c: &mut Criterion) {
    const CALLERS: usize = 10_000;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut group = c.benchmark_group(format!("{CALLERS} callers, expired token"));
    group.sample_size(10);
    group.bench_function("oauthgen", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let endpoint = TokenEndpoint::start(Duration::from_millis(10)).await;
                let manager = Arc::new(ours(endpoint.port, -10).await);
                let start = Instant::now();
                let tasks: Vec<_> = (0..CALLERS)
                    .map(|_| {
                        let m = manager.clone();
                        tokio::spawn(async move { m.token().await.map(|t| t.secret().len()) })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task").expect("token");
                }
                total += start.elapsed();
                assert_eq!(endpoint.requests(), 1, "oauthgen: exactly one token request");
            }
            total
        });
    });
    group.bench_function("yup-oauth2", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let endpoint = TokenEndpoint::start(Duration::from_millis(10)).await;
                let auth = Arc::new(yup(endpoint.port, -10).await);
                let start = Instant::now();
                let tasks: Vec<_> = (0..CALLERS)
                    .map(|_| {
                        let a = auth.clone();
                        tokio::spawn(async move { a.token(&["s"]).await.map(|t| t.token().map(str::len)) })
                    })
                    .collect();
                for t in tasks {
                    let _ = t.await.expect("task");
                }
                total += start.elapsed();
                println!("yup-oauth2: {} token requests for {CALLERS} callers", endpoint.requests());
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, cached, storm);
criterion_main!(benches);
