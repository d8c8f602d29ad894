//! A fleet refreshing through a shared store: 1,000 tasks across 3 OS processes call
//! `token()` on an expired token, against a loopback token endpoint that answers after 10 ms.
//!
//! Per iteration the store holds an expired token; each process (this binary, re-executed as
//! a worker) makes a fresh `TokenManager` (empty cache) and spawns its ~333 tasks, held at a
//! gate; then every process opens its gate at one shared wall-clock instant. Measured: from
//! that instant until every task of every process holds the new token. Every iteration must
//! make exactly one token request (the endpoint counts), and every task must get the same new
//! token. Stores: file, SQLite, PostgreSQL, Redis (private servers on 127.0.0.1). The peer,
//! yup-oauth2, runs the same fleet in the same run (it has no shared store: each process
//! keeps its token in memory). Then: the latency of an uncontended `lock()` + drop per store.
//!
//! `cargo bench -p oauthgen-benches --bench fleet`; `FLEET_ITERATIONS` (default 50) sets the
//! iterations per store. Without `--bench` (`cargo test --benches`) it runs 2 iterations.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oauthgen_benches::{Plain, TokenEndpoint, credentials};
use oauthgen_runtime::{AnyStore, MemoryStore, TokenManager, TokenStore};
use oauthgen_tests::postgres::PgServer;
use oauthgen_tests::redis::RedisServer;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Set in a worker's environment: `oauthgen` or `yup`.
const WORKER: &str = "OAUTHGEN_BENCH_FLEET_WORKER";
/// The store a worker opens (`oauthgen` workers).
const ADDRESS: &str = "OAUTHGEN_BENCH_FLEET_ADDRESS";
/// The token endpoint's port.
const PORT: &str = "OAUTHGEN_BENCH_FLEET_PORT";
/// The worker's number of tasks.
const TASKS: &str = "OAUTHGEN_BENCH_FLEET_TASKS";

const PROCESSES: usize = 3;
const CALLERS: usize = 1000;
const KEY: &str = "fleet";
const ENDPOINT_DELAY: Duration = Duration::from_millis(10);
/// How far ahead of "now" the shared start instant is set, for the "go" lines to arrive.
const LEAD: Duration = Duration::from_millis(5);

/// Wall-clock nanoseconds since the epoch: the one clock all processes share.
fn wall_nanos() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    u64::try_from(since.as_nanos()).expect("before 2554")
}

fn main() {
    if let Ok(kind) = std::env::var(WORKER) {
        worker(&kind);
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let iterations =
        if full { std::env::var("FLEET_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(50) } else { 2 };
    coordinator(iterations, if full { 200 } else { 5 });
}

// ---- the worker: one process of the fleet ----

/// The tasks of one iteration, held at `gate`; each reports the token it got.
struct Round {
    gate: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<String, String>>>,
    /// The latest wall-clock instant a task finished at.
    finished: Arc<AtomicU64>,
}

/// A worker: reads `prep` (make a fresh manager, spawn the gated tasks; answers `prepped`)
/// and `go <wall nanos>` (open the gate then; answers `done <ns from then until the last
/// task finished> <the token> <tasks without it>`) until its standard input closes.
fn worker(kind: &str) {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("worker without {name}"));
    let port: u16 = var(PORT).parse().expect("port");
    let tasks: usize = var(TASKS).parse().expect("tasks");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let store = match kind {
        "oauthgen" => Some(rt.block_on(AnyStore::open(&var(ADDRESS))).expect("open the store")),
        "yup" => None,
        other => panic!("unknown worker kind {other}"),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").and_then(|()| out.flush()).expect("stdout");
    let mut round: Option<Round> = None;
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        if line == "prep" {
            round = Some(rt.block_on(prepare(store.as_ref(), port, tasks)));
            writeln!(out, "prepped").and_then(|()| out.flush()).expect("stdout");
        } else if let Some(start) = line.strip_prefix("go ") {
            let start: u64 = start.parse().expect("start instant");
            let Round { gate, tasks, finished } = round.take().expect("go before prep");
            // Sleep to just before the instant, then spin to it.
            let wait = start.saturating_sub(wall_nanos());
            std::thread::sleep(Duration::from_nanos(wait).saturating_sub(Duration::from_micros(300)));
            while wall_nanos() < start {
                std::hint::spin_loop();
            }
            gate.send_replace(true);
            let results = rt.block_on(async {
                let mut results = Vec::with_capacity(tasks.len());
                for t in tasks {
                    results.push(t.await.unwrap_or_else(|e| Err(e.to_string())));
                }
                results
            });
            let token = results.iter().find_map(|r| r.as_ref().ok()).cloned().unwrap_or_default();
            let missing = results.iter().filter(|r| r.as_deref() != Ok(token.as_str())).count();
            let elapsed = finished.load(Ordering::SeqCst).saturating_sub(start);
            writeln!(out, "done {elapsed} {token} {missing}").and_then(|()| out.flush()).expect("stdout");
        }
    }
}

/// `tasks` tasks that wait for the gate to open, then run `call()`, note when they finished
/// in `finished` and report its result.
fn gated<F, Fut>(
    tasks: usize,
    open: &watch::Receiver<bool>,
    finished: &Arc<AtomicU64>,
    call: F,
) -> Vec<JoinHandle<Fut::Output>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<String, String>> + Send + 'static,
{
    (0..tasks)
        .map(|_| {
            let (mut open, finished, call) = (open.clone(), finished.clone(), call());
            tokio::spawn(async move {
                let _ = open.wait_for(|open| *open).await;
                let token = call.await;
                finished.fetch_max(wall_nanos(), Ordering::SeqCst);
                token
            })
        })
        .collect()
}

/// A fresh `TokenManager` over the worker's store (or a fresh yup-oauth2 authenticator whose
/// storage holds an expired token), and `tasks` tasks waiting at the gate to call `token()`.
async fn prepare(store: Option<&AnyStore>, port: u16, tasks: usize) -> Round {
    let (gate, open) = watch::channel(false);
    let finished = Arc::new(AtomicU64::new(0));
    let tasks = if let Some(store) = store {
        let manager = TokenManager::new(Plain::new(port.to_string(), "id", "secret"), store.clone(), KEY);
        gated(tasks, &open, &finished, || {
            let manager = manager.clone();
            async move { manager.token().await.map(|t| t.secret().to_owned()).map_err(|e| e.to_string()) }
        })
    } else {
        let auth = Arc::new(common::yup(port, -10).await);
        gated(tasks, &open, &finished, || {
            let auth = auth.clone();
            async move {
                let token = auth.token(&["s"]).await.map_err(|e| e.to_string())?;
                token.token().map(str::to_owned).ok_or_else(|| "no access token".to_owned())
            }
        })
    };
    Round { gate, tasks, finished }
}

// ---- the coordinator: servers, stores, workers, figures ----

/// One process of the fleet.
struct Member {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Member {
    fn spawn(kind: &str, address: &str, port: u16, tasks: usize) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("this benchmark's path"))
            .env(WORKER, kind)
            .env(ADDRESS, address)
            .env(PORT, port.to_string())
            .env(TASKS, tasks.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a worker");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut member = Self { child, stdin, stdout };
        assert_eq!(member.read(), "ready");
        member
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush()).expect("write to a worker");
    }

    fn read(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from a worker");
        assert!(!line.is_empty(), "a worker exited");
        line.trim_end().to_owned()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a fleet measurement found.
struct Fleet {
    /// Milliseconds from the start instant until the last task of the last process held the
    /// new token, per iteration.
    latencies: Vec<f64>,
    /// Token requests per iteration.
    requests: Vec<usize>,
}

/// `iterations` iterations (after one warm-up) of 3 processes x ~333 tasks on an expired
/// token. `address`: the store (`None`: the yup-oauth2 peer). oauthgen must make exactly one
/// token request per iteration and hand every task the same new token.
fn fleet(rt: &tokio::runtime::Runtime, endpoint: &TokenEndpoint, address: Option<&str>, iterations: usize) -> Fleet {
    let store = address.map(|a| rt.block_on(AnyStore::open(a)).expect("open the store"));
    let mut members: Vec<Member> = (0..PROCESSES)
        .map(|i| {
            let tasks = CALLERS / PROCESSES + usize::from(i < CALLERS % PROCESSES);
            Member::spawn(
                if address.is_some() { "oauthgen" } else { "yup" },
                address.unwrap_or(""),
                endpoint.port,
                tasks,
            )
        })
        .collect();
    let mut result = Fleet { latencies: Vec::new(), requests: Vec::new() };
    for iteration in 0..=iterations {
        if let Some(store) = &store {
            rt.block_on(store.save(KEY, &credentials(-10))).expect("store an expired token");
        }
        let before = endpoint.requests();
        for m in &mut members {
            m.send("prep");
        }
        for m in &mut members {
            assert_eq!(m.read(), "prepped");
        }
        let start = wall_nanos() + u64::try_from(LEAD.as_nanos()).expect("small");
        for m in &mut members {
            m.send(&format!("go {start}"));
        }
        let mut slowest = 0u64;
        let mut tokens = Vec::new();
        for m in &mut members {
            let line = m.read();
            let mut fields = line.strip_prefix("done ").expect("a done line").split(' ');
            let (Some(elapsed), Some(token), Some(missing)) = (fields.next(), fields.next(), fields.next()) else {
                panic!("bad line from a worker: {line:?}")
            };
            slowest = slowest.max(elapsed.parse().expect("elapsed"));
            if address.is_some() {
                assert_eq!(missing, "0", "every task of every process holds the new token");
            }
            tokens.push(token.to_owned());
        }
        let requests = endpoint.requests() - before;
        if address.is_some() {
            assert!(tokens.iter().all(|t| t == &tokens[0] && t != "at-0"), "one new token for all: {tokens:?}");
            assert_eq!(requests, 1, "exactly one token request per iteration ({address:?}, iteration {iteration})");
        }
        if iteration > 0 {
            #[allow(clippy::cast_precision_loss, reason = "nanoseconds of one iteration, far below 2^52")]
            result.latencies.push(slowest as f64 / 1e6);
            result.requests.push(requests);
        }
    }
    result
}

/// The `p` quantile (nearest rank) of `values`.
fn quantile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank between 1 and the number of values"
    )]
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Microseconds of `samples` uncontended `lock()` + drop (each on a key of its own, after 20
/// unmeasured ones, with a pause after each for a background release to finish).
async fn lock_latency<S: TokenStore>(store: &S, samples: usize) -> Vec<f64> {
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples + 20 {
        let key = format!("lock-{i}");
        let start = Instant::now();
        drop(store.lock(&key).await.expect("lock"));
        let elapsed = start.elapsed();
        if i >= 20 {
            latencies.push(elapsed.as_secs_f64() * 1e6);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    latencies
}

fn coordinator(iterations: usize, lock_samples: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let pg = PgServer::start();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let endpoint = rt.block_on(TokenEndpoint::start(ENDPOINT_DELAY));
    let stores = [
        ("FileStore", dir.path().join("tokens.json").display().to_string()),
        ("SqliteStore", format!("sqlite:{}", dir.path().join("tokens.db").display())),
        ("PostgresStore", pg.url()),
        ("RedisStore", redis.url()),
    ];

    let mut fleets = Vec::new();
    for (name, address) in &stores {
        let started = Instant::now();
        let f = fleet(&rt, &endpoint, Some(address), iterations);
        println!(
            "fleet, {name}: p50 {:.1} ms, p99 {:.1} ms over {iterations} iterations ({:.1} s)",
            quantile(&f.latencies, 0.5),
            quantile(&f.latencies, 0.99),
            started.elapsed().as_secs_f64()
        );
        fleets.push((format!("oauthgen, {name}"), f));
    }
    let started = Instant::now();
    let f = fleet(&rt, &endpoint, None, iterations);
    println!(
        "fleet, yup-oauth2: p50 {:.1} ms, p99 {:.1} ms over {iterations} iterations ({:.1} s)",
        quantile(&f.latencies, 0.5),
        quantile(&f.latencies, 0.99),
        started.elapsed().as_secs_f64()
    );
    fleets.push(("yup-oauth2 (a token in each process's memory; no shared store)".to_owned(), f));

    let mut locks = vec![("MemoryStore".to_owned(), rt.block_on(lock_latency(&MemoryStore::new(), lock_samples)))];
    for (name, address) in &stores {
        let store = rt.block_on(AnyStore::open(address)).expect("open the store");
        locks.push(((*name).to_owned(), rt.block_on(lock_latency(&store, lock_samples))));
    }

    println!(
        "\nfleet refresh: {CALLERS} tasks in {PROCESSES} processes on an expired token, endpoint delay {} ms, \
         {iterations} iterations; ms from the shared start until every task holds the new token",
        ENDPOINT_DELAY.as_millis()
    );
    println!("| fleet | p50 ms | p99 ms | max ms | token requests per iteration |");
    println!("|---|---|---|---|---|");
    for (name, f) in &fleets {
        let mut requests = f.requests.clone();
        requests.sort_unstable();
        let requests = if requests.first() == requests.last() {
            format!("{} every time", requests[0])
        } else {
            format!("{}..{} (median {})", requests[0], requests[requests.len() - 1], requests[requests.len() / 2])
        };
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {requests} |",
            quantile(&f.latencies, 0.5),
            quantile(&f.latencies, 0.99),
            quantile(&f.latencies, 1.0)
        );
    }
    println!("\nuncontended lock() + drop, {lock_samples} samples, µs");
    println!("| store | p50 µs | p99 µs |");
    println!("|---|---|---|");
    for (name, l) in &locks {
        println!("| {name} | {:.1} | {:.1} |", quantile(l, 0.5), quantile(l, 0.99));
    }
    drop(rt);
    drop((pg, redis));
}
