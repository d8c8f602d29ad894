//! `PostgresStore` against a real PostgreSQL of its own (one per test, on 127.0.0.1, stopped
//! when the test ends): the store conformance suite, lease takeover with fencing, connections
//! killed under load and a server restart, and the errors of bad addresses.

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use oauthgen_runtime::store::{PostgresOptions, PostgresStore, StoreError, TokenStore};
use oauthgen_tests::conformance::{self, credentials};
use oauthgen_tests::postgres::PgServer;

const PASSWORD: &str = "hunter2-not-shown";

/// Run `test` within `seconds`.
async fn bounded<F: Future<Output = ()>>(seconds: u64, test: F) {
    tokio::time::timeout(Duration::from_secs(seconds), test).await.expect("the test finished in time");
}

/// The server's URL with a password in it (trust authentication ignores it).
fn url_with_password(server: &PgServer) -> String {
    format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres?application_name=test", server.port())
}

fn access(c: Option<oauthgen_runtime::Credentials>) -> Option<String> {
    c.map(|c| c.access_token.secret().clone())
}

/// An error fit for a log line: one line, naming the store, without the password.
fn assert_clear(e: &StoreError, port: u16) {
    let text = e.to_string();
    assert!(!text.contains('\n'), "one line: {text:?}");
    assert!(!text.contains(PASSWORD), "no password: {text:?}");
    assert!(text.contains(&format!("postgres://postgres@127.0.0.1:{port}/postgres")), "names the store: {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_conforms() {
    let server = PgServer::start();
    bounded(60, async {
        // Concurrent first users create the tables once, without colliding.
        let url = server.url();
        let stores = futures_join_all((0..6).map(|_| {
            let url = url.clone();
            async move { PostgresStore::connect(&url).await }
        }))
        .await;
        for s in &stores {
            assert!(s.is_ok(), "concurrent first connects: {s:?}");
        }
        let a = PostgresStore::connect(&server.url()).await.unwrap();
        let b = PostgresStore::connect(&server.url()).await.unwrap();
        conformance::check(&a, &b, "pg").await;

        // Another table prefix: its own tables, the same behaviour.
        let options = || PostgresOptions::default().table_prefix("other_").pool_size(4);
        let c = PostgresStore::connect_with(&server.url(), options()).await.unwrap();
        let d = PostgresStore::connect_with(&server.url(), options()).await.unwrap();
        conformance::check(&c, &d, "pg-prefixed").await;
        let tables =
            server.query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").await;
        let tables: Vec<String> = tables.iter().map(|r| r.get(0)).collect();
        assert_eq!(tables, ["oauthgen_credentials", "oauthgen_locks", "other_credentials", "other_locks"]);

        // A row that is not JSON is corrupt, and the error names its key.
        a.save("pg-corrupt", &credentials("at", "rt")).await.unwrap();
        server.query("UPDATE oauthgen_credentials SET credentials = '{not json' WHERE key = 'pg-corrupt'").await;
        let e = a.load("pg-corrupt").await.unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
        assert!(e.to_string().contains("pg-corrupt"), "names the key: {e}");
    })
    .await;
}

/// `join_all` without the futures crate: every future run concurrently, results in order.
async fn futures_join_all<F: Future + Send + 'static>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abandoned_lease_expires_and_stale_saves_are_fenced() {
    const KEY: &str = "lease-user";
    let server = PgServer::start();
    bounded(60, async {
        let a = PostgresStore::connect(&server.url()).await.unwrap();
        let b = PostgresStore::connect(&server.url()).await.unwrap();
        a.save(KEY, &credentials("at-1", "rt-1")).await.unwrap();

        // The old holder: takes the lock (a 3 s lease), reads the version, and stops dead (its
        // runtime is dropped with the lock leaked: no renewal, no release).
        let url = server.url();
        let old_version = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let version = runtime.block_on(async {
                let old = PostgresStore::connect(&url).await.unwrap().with_lease(Duration::from_secs(3));
                let lock = old.lock(KEY).await.unwrap();
                let version = old.load_versioned(KEY).await.unwrap().unwrap().version;
                std::mem::forget(lock);
                version
            });
            drop(runtime);
            version
        })
        .join()
        .unwrap();
        let fence = |rows: Vec<tokio_postgres::Row>| -> (i64, String) { (rows[0].get(0), rows[0].get(1)) };
        let lease_row = "SELECT fence, holder FROM oauthgen_locks WHERE key = 'lease-user'";
        let (fence_1, holder_1) = fence(server.query(lease_row).await);

        // Still held: nobody else gets it before it expires.
        let early = tokio::time::timeout(Duration::from_millis(300), b.lock(KEY)).await;
        assert!(early.is_err(), "the abandoned lease is still valid");

        // Taken over once the database's clock passes its expiry.
        let start = Instant::now();
        let lock = tokio::time::timeout(Duration::from_secs(20), b.lock(KEY)).await.expect("taken over").unwrap();
        assert!(start.elapsed() < Duration::from_secs(10), "taken soon after expiry: {:?}", start.elapsed());
        let (fence_2, holder_2) = fence(server.query(lease_row).await);
        assert_eq!(fence_2, fence_1 + 1, "the fence grows at each acquisition");
        assert_ne!(holder_1, holder_2);
        let valid = server
            .query("SELECT expires_at > now() + interval '20 seconds' FROM oauthgen_locks WHERE key = 'lease-user'")
            .await;
        assert!(valid[0].get::<_, bool>(0), "a default lease of 30 s on the database's clock");

        // The new holder reads and saves under the lock.
        let current = b.load_versioned(KEY).await.unwrap().unwrap().version;
        assert_eq!(current, old_version);
        b.save_if(KEY, Some(current), &credentials("at-new", "rt-new")).await.unwrap();

        // The old holder's save, fenced on the version it read, is refused and changes nothing.
        let stale = a.save_if(KEY, Some(old_version), &credentials("at-stale", "rt-stale")).await;
        assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
        assert_eq!(access(a.load(KEY).await.unwrap()).as_deref(), Some("at-new"));

        // Released on drop (in the background): the next holder gets it at once, fence + 1.
        drop(lock);
        let next = tokio::time::timeout(Duration::from_secs(5), a.lock(KEY)).await.expect("released").unwrap();
        let (fence_3, _) = fence(server.query(lease_row).await);
        assert_eq!(fence_3, fence_2 + 1);
        drop(next);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_connections_and_restarts_are_survived() {
    const KEY: &str = "churn-user";
    let mut server = PgServer::start();
    let port = server.port();
    let url = url_with_password(&server);
    let a = PostgresStore::connect(&url).await.unwrap();
    let b = PostgresStore::connect(&url).await.unwrap();
    let shown = format!("{a:?}");
    assert!(!shown.contains(PASSWORD) && shown.contains("127.0.0.1"), "Debug without the password: {shown}");

    bounded(90, async {
        a.save(KEY, &credentials("at-0", "rt-0")).await.unwrap();

        // Operations from several tasks while every connection is killed, again and again:
        // each succeeds or fails with a clear error.
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let (a, b) = (a.clone(), b.clone());
                tokio::spawn(async move {
                    let mut errors = Vec::new();
                    for i in 0..60 {
                        let result = match i % 4 {
                            0 => a.save(KEY, &credentials(&format!("at-{w}-{i}"), "rt")).await,
                            1 => b.load(KEY).await.map(drop),
                            2 => a.load_versioned(KEY).await.map(drop),
                            _ => b.lock(&format!("{KEY}-{w}")).await.map(drop),
                        };
                        if let Err(e) = result {
                            errors.push(e);
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    errors
                })
            })
            .collect();
        let mut killed = 0;
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            killed += server.kill_connections().await;
        }
        assert!(killed > 0, "connections were killed");
        let mut errors = Vec::new();
        for w in workers {
            errors.extend(w.await.unwrap());
        }
        for e in &errors {
            assert!(matches!(e, StoreError::Io { .. }), "{e:?}");
            assert_clear(e, port);
        }
        println!("{} operations failed while connections were killed, e.g. {:?}", errors.len(), errors.first());

        // Right after a kill, every operation works: the pool replaces dead connections.
        for round in 0..3 {
            let held = a.lock(KEY).await.unwrap();
            assert!(server.kill_connections().await > 0);
            let v = b.load_versioned(KEY).await.unwrap().unwrap().version;
            b.save_if(KEY, Some(v), &credentials(&format!("at-round-{round}"), "rt")).await.unwrap();
            assert_eq!(access(a.load(KEY).await.unwrap()), Some(format!("at-round-{round}")));
            // The lease lives in a table: killing its holder's connections does not free it.
            let waiting = tokio::time::timeout(Duration::from_millis(300), b.lock(KEY)).await;
            assert!(waiting.is_err(), "still held after the kill");
            drop(held);
            let next = tokio::time::timeout(Duration::from_secs(5), b.lock(KEY)).await;
            drop(next.expect("released").unwrap());
        }

        // The last release runs in the background: let it finish before the server goes down
        // (a release lost to a restart leaves the lease to expire, 30 s later).
        let released = "SELECT count(*) FROM oauthgen_locks WHERE key = 'churn-user' AND holder = ''";
        while server.query(released).await[0].get::<_, i64>(0) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // The server restarts on the same port and data: the same stores carry on.
        tokio::task::block_in_place(|| server.restart());
        assert_eq!(access(b.load(KEY).await.unwrap()), Some("at-round-2".to_owned()));
        a.save(KEY, &credentials("at-after-restart", "rt")).await.unwrap();
        assert_eq!(access(b.load(KEY).await.unwrap()), Some("at-after-restart".to_owned()));
        drop(b.lock(KEY).await.unwrap());

        // While it is down, operations fail promptly and clearly.
        tokio::task::block_in_place(|| server.stop());
        let start = Instant::now();
        let e = a.load(KEY).await.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(15));
        assert_clear(&e, port);
        tokio::task::block_in_place(|| server.resume());
        assert!(a.load(KEY).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_addresses_give_one_line_errors_without_the_password() {
    bounded(30, async {
        let refused = |url: &str| {
            let url = url.to_owned();
            async move {
                let e = PostgresStore::connect(&url).await.expect_err(&url);
                let text = e.to_string();
                assert!(!text.contains('\n') && !text.contains(PASSWORD), "{url}: {text:?}");
                println!("{url}\n  -> {text}");
                e
            }
        };

        let e = refused(&format!("postgres://app:{PASSWORD}@127.0.0.1:notaport/db")).await;
        assert!(matches!(e, StoreError::Config(_)), "{e:?}");
        assert!(e.to_string().starts_with("postgres://app@127.0.0.1:notaport/db: "), "{e}");

        let e = refused(&format!("mysql://app:{PASSWORD}@127.0.0.1/db")).await;
        assert!(matches!(e, StoreError::Config(_)), "{e:?}");

        let e = refused(&format!("postgresql://app:{PASSWORD}@127.0.0.1/db?sslmode=allow")).await;
        assert!(matches!(e, StoreError::Config(_)) && e.to_string().contains("sslmode `allow`"), "{e}");

        let e = PostgresStore::connect_with(
            &format!("postgres://app:{PASSWORD}@127.0.0.1/db"),
            PostgresOptions::default().table_prefix("x; DROP TABLE y"),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, StoreError::Config(_)), "{e:?}");

        // A free port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap().port();
        let e = refused(&format!("postgres://app:{PASSWORD}@127.0.0.1:{port}/db")).await;
        assert!(matches!(e, StoreError::Io { .. }), "{e:?}");
        assert!(e.to_string().starts_with(&format!("postgres://app@127.0.0.1:{port}/db: ")), "{e}");
    })
    .await;
}
