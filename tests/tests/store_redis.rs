//! `RedisStore` against a real `redis-server` on 127.0.0.1: the store conformance suite,
//! lease takeover with fenced saves, restarts and dropped connections, and its errors.

use std::future::Future;
use std::time::{Duration, Instant};

use oauthgen_runtime::store::{StoreError, TokenStore as _, Version};
use oauthgen_runtime::{Credentials, RedisStore};
use oauthgen_tests::conformance::{self, credentials};
use oauthgen_tests::redis::RedisServer;
use tokio::time::timeout;

/// Every test body is bounded.
async fn bounded<T>(what: &str, secs: u64, f: impl Future<Output = T>) -> T {
    timeout(Duration::from_secs(secs), f).await.unwrap_or_else(|_| panic!("{what} took more than {secs} s"))
}

async fn connect(server: &RedisServer) -> RedisStore {
    bounded("connect", 15, RedisStore::connect(&server.url())).await.expect("connect")
}

fn access(c: Option<Credentials>) -> Option<String> {
    c.map(|c| c.access_token.secret().clone())
}

/// One line, naming the server, without `secret`.
fn assert_clear(e: &StoreError, server: &str, secret: &str) {
    let text = e.to_string();
    assert!(!text.contains('\n'), "one line: {text:?}");
    assert!(text.contains(server), "names {server}: {text}");
    assert!(!text.contains(secret), "no password: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_store_conforms() {
    let server = RedisServer::start();
    let (a, b) = (connect(&server).await, connect(&server).await);
    bounded("the conformance suite", 120, conformance::check(&a, &b, "redis")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_layout_prefixes_and_corrupt_entries() {
    let server = RedisServer::start();
    let store = connect(&server).await;
    bounded("layout", 30, async {
        store.save("alice", &credentials("at-1", "rt-1")).await.unwrap();
        assert_eq!(server.query(&["TYPE", "oauthgen:cred:alice"]).as_deref(), Some("hash"));
        let json = server.query(&["HGET", "oauthgen:cred:alice", "credentials"]).unwrap();
        assert!(json.contains("\"at-1\""), "credentials as JSON: {json}");
        let version = server.query(&["HGET", "oauthgen:cred:alice", "version"]).unwrap();
        let stored = store.load_versioned("alice").await.unwrap().unwrap();
        assert_eq!(version, stored.version.get().to_string(), "the version is the hash's `version`");

        // The lease: a string with a TTL, gone once released.
        let lock = store.lock("alice").await.unwrap();
        let ttl: i64 = server.query(&["PTTL", "oauthgen:lock:alice"]).unwrap().parse().unwrap();
        assert!(ttl > 0 && ttl <= 30_000, "the lease expires ({ttl} ms)");
        drop(lock);
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.query(&["EXISTS", "oauthgen:lock:alice"]).as_deref() == Some("1") {
            assert!(Instant::now() < deadline, "a dropped lock is deleted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // A deleted key that comes back does not reuse its version.
        assert!(store.delete("alice").await.unwrap());
        let again = store.save_if("alice", None, &credentials("at-2", "rt-2")).await.unwrap();
        assert_ne!(again, stored.version);

        // Prefixes separate applications.
        let other = connect(&server).await.with_prefix("other-app:");
        assert!(other.load("alice").await.unwrap().is_none());
        other.save("alice", &credentials("at-x", "rt-x")).await.unwrap();
        assert_eq!(server.query(&["EXISTS", "other-app:cred:alice"]).as_deref(), Some("1"));
        assert_eq!(access(store.load("alice").await.unwrap()).as_deref(), Some("at-2"));

        // Corrupt JSON: an error naming the key, and the entry left as it was.
        server.query(&["HSET", "oauthgen:cred:bob", "credentials", "{not json", "version", "7"]);
        let err = store.load("bob").await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("oauthgen:cred:bob"), "names the key: {err}");
        assert_eq!(server.query(&["HGET", "oauthgen:cred:bob", "credentials"]).as_deref(), Some("{not json"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_lease_is_taken_over_and_its_holder_is_fenced() {
    let server = RedisServer::start();
    let lease = Duration::from_millis(600);
    let a = connect(&server).await.with_lease(lease);
    let b = connect(&server).await.with_lease(lease);
    bounded("takeover", 60, async {
        a.save("carol", &credentials("at-1", "rt-1")).await.unwrap();

        // The old holder takes the lock and reads the version on a runtime of its own, which
        // then ends: like a process that froze, its lease is no longer renewed.
        let old = a.clone();
        let (old_lock, seen) = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let lock = old.lock("carol").await.unwrap();
                let seen = old.load_versioned("carol").await.unwrap().unwrap().version;
                (lock, seen)
            })
        })
        .join()
        .unwrap();
        assert!(server.query(&["EXISTS", "oauthgen:lock:carol"]).as_deref() == Some("1"), "the old lease is there");

        // The new holder waits for the lease to expire, then takes it.
        let start = Instant::now();
        let new_lock = timeout(Duration::from_secs(10), b.lock("carol")).await.expect("taken over").unwrap();
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(100), "it waited for the old lease to expire ({waited:?})");

        // The new holder rotates the credentials; the old holder's save, fenced on the version
        // it read before the takeover, is refused and changes nothing.
        let current = b.load_versioned("carol").await.unwrap().unwrap().version;
        assert_eq!(current, seen);
        b.save_if("carol", Some(current), &credentials("at-2", "rt-2")).await.unwrap();
        let stale = a.save_if("carol", Some(seen), &credentials("at-stale", "rt-stale")).await;
        assert!(matches!(stale, Err(StoreError::Conflict(_))), "the old holder is fenced: {stale:?}");
        assert_eq!(access(a.load("carol").await.unwrap()).as_deref(), Some("at-2"));

        // The old holder's late release does not free the new holder's lease, which stays
        // renewed for several lease lengths.
        drop(old_lock);
        tokio::time::sleep(lease * 3).await;
        assert!(new_lock.is_held());
        let third = timeout(Duration::from_millis(300), a.lock("carol")).await;
        assert!(third.is_err(), "still held by the new holder");
        drop(new_lock);
        let next = timeout(Duration::from_secs(5), a.lock("carol")).await;
        assert!(next.is_ok_and(|l| l.is_ok()), "free once the new holder drops it");
    })
    .await;
}

/// The credentials' access token and version under `key`, which must be there.
async fn current(store: &RedisStore, key: &str) -> (String, Version) {
    let stored = store.load_versioned(key).await.expect("a read succeeds").expect("the entry is there");
    (stored.credentials.access_token.secret().clone(), stored.version)
}

#[tokio::test(flavor = "multi_thread")]
async fn restarts_and_dropped_connections() {
    let mut server = RedisServer::start_persistent();
    let store = connect(&server).await.with_timeout(Duration::from_secs(3));
    let name = format!("redis://127.0.0.1:{}/0", server.port());
    bounded("restarts", 120, async {
        store.save("dave", &credentials("at-1", "rt-1")).await.unwrap();
        let (_, v1) = current(&store, "dave").await;

        // During an outage every operation fails, with a clear error, within its deadline.
        server.stop();
        for _ in 0..2 {
            let start = Instant::now();
            let err = store.load("dave").await.unwrap_err();
            assert!(start.elapsed() < Duration::from_secs(5), "failed in {:?}", start.elapsed());
            assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
            assert_clear(&err, &name, "hunter2");
            let start = Instant::now();
            let err = store.save("dave", &credentials("at-x", "rt-x")).await.unwrap_err();
            assert!(start.elapsed() < Duration::from_secs(5), "failed in {:?}", start.elapsed());
            assert_clear(&err, &name, "hunter2");
            let start = Instant::now();
            let err = store.save_if("dave", Some(v1), &credentials("at-x", "rt-x")).await.unwrap_err();
            assert!(start.elapsed() < Duration::from_secs(5), "failed in {:?}", start.elapsed());
            assert_clear(&err, &name, "hunter2");
            let err = timeout(Duration::from_secs(10), store.lock("dave")).await.expect("bounded").unwrap_err();
            assert_clear(&err, &name, "hunter2");
        }

        // Back: the same store works again by itself (its first command is not lost to the
        // dead connection), and the data survived the restart.
        server.resume();
        assert_eq!(current(&store, "dave").await, ("at-1".to_owned(), v1), "data and version survived");
        let v2 = store.save_if("dave", Some(v1), &credentials("at-2", "rt-2")).await.unwrap();

        // A restart while idle: the next save goes through.
        server.restart();
        store.save("dave", &credentials("at-3", "rt-3")).await.expect("the first save after a restart");
        let (access_token, v3) = current(&store, "dave").await;
        assert_eq!(access_token, "at-3");
        assert_ne!(v3, v2);

        // Every client connection killed: the next lock and reads go through.
        assert!(server.kill_clients() >= 1);
        let lock = store.lock("dave").await.expect("the first lock after CLIENT KILL");
        assert_eq!(current(&store, "dave").await, ("at-3".to_owned(), v3));
        store.save_if("dave", Some(v3), &credentials("at-4", "rt-4")).await.unwrap();
        drop(lock);
        assert_eq!(current(&store, "dave").await.0, "at-4");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clear_errors_without_the_password() {
    bounded("errors", 60, async {
        for url in ["redis://:hunter2@[::1", "redis://:hunter2@host:notaport", "redis://user:hunter2@/0"] {
            let err = RedisStore::connect(url).await.unwrap_err();
            assert!(matches!(err, StoreError::Config(_)), "{url}: {err:?}");
            assert_clear(&err, "Redis store", "hunter2");
        }
        let err = RedisStore::connect("http://user:hunter2@127.0.0.1:6379").await.unwrap_err();
        assert!(matches!(err, StoreError::Config(_)), "{err:?}");
        assert_clear(&err, "unsupported scheme `http`", "hunter2");

        // Nobody listening: an I/O error, quickly.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let start = Instant::now();
        let err = RedisStore::connect(&format!("redis://user:hunter2@127.0.0.1:{port}/0")).await.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(11), "{:?}", start.elapsed());
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert_clear(&err, &format!("redis://127.0.0.1:{port}/0"), "hunter2");

        // A server that refuses the password; TLS to a server that does not speak it.
        let server = RedisServer::start();
        let url = format!("redis://:hunter2@127.0.0.1:{}/0", server.port());
        let err = RedisStore::connect(&url).await.unwrap_err();
        assert_clear(&err, &format!("127.0.0.1:{}", server.port()), "hunter2");
        let start = Instant::now();
        let url = format!("rediss://:hunter2@127.0.0.1:{}/0", server.port());
        let err = RedisStore::connect(&url).await.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(11), "{:?}", start.elapsed());
        assert_clear(&err, &format!("rediss://127.0.0.1:{}", server.port()), "hunter2");

        // Debug output names the server, not the password (the default user accepts any).
        let url = format!("redis://default:hunter2@127.0.0.1:{}/0", server.port());
        let store = RedisStore::connect(&url).await.unwrap();
        let debug = format!("{store:?}");
        assert!(debug.contains(&format!("127.0.0.1:{}", server.port())) && !debug.contains("hunter2"), "{debug}");
    })
    .await;
}
