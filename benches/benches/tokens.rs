//! Cached `token()` of oauthgen's `TokenManager` over every store (memory, file, SQLite,
//! PostgreSQL, Redis: the cache is in memory, so all should be alike), of yup-oauth2's
//! `Authenticator` and of a bare `ArcSwap` load with an expiry check (the floor), with 1 and
//! 64 concurrent tasks, ending with a table of the ratios; then the number of token requests
//! 10,000 concurrent callers on an expired token cause, ours vs yup-oauth2, against the same
//! loopback token endpoint. All in one run. PostgreSQL and Redis are private servers on
//! 127.0.0.1 (`oauthgen-tests`).

mod common;

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use common::yup;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use oauthgen_benches::{Plain, TokenEndpoint, credentials};
use oauthgen_runtime::{FileStore, MemoryStore, PostgresStore, RedisStore, SqliteStore, TokenManager, TokenStore};
use oauthgen_tests::postgres::PgServer;
use oauthgen_tests::redis::RedisServer;

const TASKS: usize = 64;
/// Samples per cached benchmark; the table is computed from the last this many.
const SAMPLES: usize = 100;
const FLOOR: &str = "ArcSwap load + expiry check (floor)";
const YUP: &str = "yup-oauth2 Authenticator::token";

/// Every `iter_custom` call of the cached benchmarks: task count, benchmark name, iterations
/// and elapsed seconds.
static TIMINGS: Mutex<Vec<(usize, String, f64, f64)>> = Mutex::new(Vec::new());

/// Note `elapsed` for `iters` calls of benchmark `name` with `tasks` tasks; `elapsed`.
fn record(tasks: usize, name: &str, iters: u64, elapsed: Duration) -> Duration {
    #[allow(clippy::cast_precision_loss, reason = "iteration counts are far below 2^52")]
    let iters = iters as f64;
    TIMINGS.lock().expect("timings").push((tasks, name.to_owned(), iters, elapsed.as_secs_f64()));
    elapsed
}

/// Nanoseconds per call of benchmark `name`: criterion's own point estimate, the slope of
/// elapsed time over iterations (least squares through the origin) of its `SAMPLES` samples,
/// which come after its warm-up calls; `None` when it did not run in full.
fn slope(tasks: usize, name: &str) -> Option<f64> {
    let timings = TIMINGS.lock().expect("timings");
    let all: Vec<(f64, f64)> =
        timings.iter().filter(|(t, n, ..)| *t == tasks && n == name).map(|&(_, _, x, y)| (x, y)).collect();
    let samples = all.get(all.len().checked_sub(SAMPLES)?..)?;
    let (xy, xx) = samples.iter().fold((0.0, 0.0), |(xy, xx), (x, y)| (xy + x * y, xx + x * x));
    Some(xy / xx * 1e9)
}

async fn ours<S: TokenStore>(store: S, port: u16, expires_in: i64) -> TokenManager<Plain, S> {
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

/// One oauthgen benchmark: `manager.token()` over its store, `tasks` tasks.
fn bench_ours<S: TokenStore>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    tasks: usize,
    store: &str,
    manager: &Arc<TokenManager<Plain, S>>,
) {
    let name = format!("oauthgen TokenManager::token, {store}");
    group.bench_function(&name, |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (manager, name) = (manager.clone(), name.clone());
            async move {
                let elapsed = concurrent!(tasks, iters, manager, |m| m.token().await.expect("token"));
                record(tasks, &name, iters, elapsed)
            }
        });
    });
}

/// The stores of the cached benchmarks, by name.
const STORES: [&str; 5] = ["MemoryStore", "FileStore", "SqliteStore", "PostgresStore", "RedisStore"];

fn cached(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let pg = PgServer::start();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let endpoint = rt.block_on(TokenEndpoint::start(Duration::ZERO));
    let port = endpoint.port;
    let (memory, file, sqlite, postgres, redis_store) = rt.block_on(async {
        (
            Arc::new(ours(MemoryStore::new(), port, 3600).await),
            Arc::new(ours(FileStore::new(dir.path().join("tokens.json")), port, 3600).await),
            Arc::new(ours(SqliteStore::open(dir.path().join("tokens.db")).expect("sqlite"), port, 3600).await),
            Arc::new(ours(PostgresStore::connect(&pg.url()).await.expect("postgres"), port, 3600).await),
            Arc::new(ours(RedisStore::connect(&redis.url()).await.expect("redis"), port, 3600).await),
        )
    });
    let yup = Arc::new(rt.block_on(yup(port, 3600)));
    rt.block_on(async {
        for token in [
            memory.token().await,
            file.token().await,
            sqlite.token().await,
            postgres.token().await,
            redis_store.token().await,
        ] {
            assert_eq!(token.expect("ours").secret(), "at-0");
        }
        assert_eq!(yup.token(&["s"]).await.expect("yup").token(), Some("at-0"));
    });
    let deadline = Instant::now() + Duration::from_secs(3600);
    let floor = Arc::new(ArcSwap::from_pointee(("at-0".to_owned(), deadline)));

    for tasks in [1, TASKS] {
        let mut group = c.benchmark_group(format!("cached token, {tasks} task(s)"));
        group.sample_size(SAMPLES);
        group.bench_function(FLOOR, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let floor = floor.clone();
                async move {
                    let elapsed = concurrent!(tasks, iters, floor, |f| {
                        let guard = f.load();
                        Instant::now() < guard.1 && !guard.0.is_empty()
                    });
                    record(tasks, FLOOR, iters, elapsed)
                }
            });
        });
        group.bench_function(YUP, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let yup = yup.clone();
                async move {
                    let elapsed = concurrent!(tasks, iters, yup, |y| y.token(&["s"]).await.expect("token"));
                    record(tasks, YUP, iters, elapsed)
                }
            });
        });
        bench_ours(&mut group, &rt, tasks, STORES[0], &memory);
        bench_ours(&mut group, &rt, tasks, STORES[1], &file);
        bench_ours(&mut group, &rt, tasks, STORES[2], &sqlite);
        bench_ours(&mut group, &rt, tasks, STORES[3], &postgres);
        bench_ours(&mut group, &rt, tasks, STORES[4], &redis_store);
        group.finish();
    }
    assert_eq!(endpoint.requests(), 0, "cached benchmarks must not refresh");
    // The managers (and their connections) go before the servers.
    drop((memory, file, sqlite, postgres, redis_store));
    drop(rt);
    drop((pg, redis));
}

/// The cached benchmarks side by side: ns per call; `yup/ours` is how many times
/// faster oauthgen is than yup-oauth2 (target: 10x with 1 task, 30x with 64), `ours/floor`
/// how close it is to the bare `ArcSwap` load (below 1: faster).
fn summary() {
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let counts = [1, TASKS];
    if counts.iter().any(|&t| slope(t, YUP).is_none()) {
        return;
    }
    println!("\ncached token(): ns per call (criterion's slope estimate, {SAMPLES} samples), this run");
    println!("| what | 1 task | yup/ours | ours/floor | {TASKS} tasks | yup/ours | ours/floor |");
    println!("|---|---|---|---|---|---|---|");
    for name in [FLOOR, YUP] {
        println!("| {name} | {} | | | {} | | |", fmt(slope(1, name)), fmt(slope(TASKS, name)));
    }
    for store in STORES {
        let name = format!("oauthgen TokenManager::token, {store}");
        print!("| oauthgen, {store} |");
        for tasks in counts {
            let ours = slope(tasks, &name);
            let vs_yup = ratio(slope(tasks, YUP), ours);
            let vs_floor = ratio(ours, slope(tasks, FLOOR));
            let vs_floor = vs_floor.map_or_else(|| "-".into(), |v| format!("{v:.2}"));
            print!(" {} | {}x | {vs_floor} |", fmt(ours), fmt(vs_yup));
        }
        println!();
    }
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
                let manager = Arc::new(ours(MemoryStore::new(), endpoint.port, -10).await);
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

fn main() {
    let mut c = Criterion::default().configure_from_args();
    cached(&mut c);
    storm(&mut c);
    c.final_summary();
    summary();
}
