//! TLS for the fleet stores, against real servers on 127.0.0.1 with a throwaway CA made by
//! the test (rcgen): PostgreSQL with `ssl=on` under each `sslmode`, and a Redis that speaks
//! TLS only (`rediss://`), trusted through its CA or refused without it; every failure is a
//! one-line error that names the server, not the password.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use oauthgen_runtime::RedisStore;
use oauthgen_runtime::store::{PostgresOptions, PostgresStore, StoreError};
use oauthgen_tests::conformance;
use oauthgen_tests::postgres::PgServer;
use oauthgen_tests::redis::RedisServer;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

const PASSWORD: &str = "hunter2-not-shown";

/// Run `test` within `seconds`.
async fn bounded<T>(seconds: u64, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), test).await.expect("the test finished in time")
}

/// A throwaway certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Its certificate, PEM, in a file of its own (for `sslrootcert`).
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("root ca.pem");
        std::fs::write(&file, issuer.pem()).unwrap();
        Self { issuer, file, _dir: dir }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (DNS names or IP addresses) and its key, PEM.
    fn issue(&self, names: &[&str]) -> (String, String) {
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// `sslrootcert=<its file>`, percent-encoded (the name has a space).
    fn sslrootcert(&self) -> String {
        format!("sslrootcert={}", self.file.display().to_string().replace('%', "%25").replace(' ', "%20"))
    }
}

/// A one-line error naming `server`, without the password.
fn assert_clear(e: &StoreError, server: &str) -> String {
    let text = e.to_string();
    assert!(!text.contains('\n'), "one line: {text:?}");
    assert!(!text.contains(PASSWORD), "no password: {text:?}");
    assert!(text.contains(server), "names {server}: {text:?}");
    println!("  -> {text}");
    text
}

/// `postgres://postgres:PASSWORD@HOST:PORT/postgres?application_name=APP&QUERY`.
fn pg_url(host: &str, server: &PgServer, app: &str, query: &str) -> String {
    format!("postgres://postgres:{PASSWORD}@{host}:{}/postgres?application_name={app}&{query}", server.port())
}

/// How many of the connections named `app` there are, and how many of those use TLS.
async fn pg_connections(server: &PgServer, app: &str) -> (i64, i64) {
    let rows = server
        .query(&format!(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.application_name = '{app}'"
        ))
        .await;
    (rows[0].get(0), rows[0].get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_verify_full_with_the_ca_conforms_over_tls() {
    let ca = Ca::new("oauthgen test CA");
    let (cert, key) = ca.issue(&["127.0.0.1", "localhost"]);
    let server = PgServer::start_tls(&cert, &key);
    bounded(120, async {
        // The CA from `sslrootcert`, and from the options; by IP address and by name.
        let a = PostgresStore::connect(&pg_url(
            "127.0.0.1",
            &server,
            "tls-full",
            &format!("sslmode=verify-full&{}", ca.sslrootcert()),
        ))
        .await
        .expect("verify-full with the CA");
        let b = PostgresStore::connect_with(
            &pg_url("localhost", &server, "tls-full", "sslmode=verify-full"),
            PostgresOptions::default().ca_pem(ca.pem()).pool_size(4),
        )
        .await
        .expect("verify-full with the CA from the options");
        assert!(format!("{a:?}").contains("verify-full") && !format!("{a:?}").contains(PASSWORD), "{a:?}");
        conformance::check(&a, &b, "pg-tls").await;
        let (all, encrypted) = pg_connections(&server, "tls-full").await;
        assert!(all >= 2 && encrypted == all, "every connection of the stores is encrypted: {encrypted} of {all}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sslmodes_check_what_libpq_checks() {
    let ca = Ca::new("oauthgen test CA");
    let other_ca = Ca::new("another CA");
    let (cert, key) = ca.issue(&["127.0.0.1", "localhost"]);
    let server = PgServer::start_tls(&cert, &key);
    let port = server.port();
    let shown = |host: &str| format!("postgres://postgres@{host}:{port}/postgres");
    bounded(120, async {
        let refused = async |url: String| {
            println!("{}", url.replace(PASSWORD, "***"));
            PostgresStore::connect(&url).await.expect_err("refused")
        };

        // A host name the certificate does not name (`hostaddr` reaches the server): refused
        // by verify-full, accepted by verify-ca, which checks only the chain.
        let wrong_name = |mode: &str| {
            format!(
                "postgres://postgres:{PASSWORD}@db.invalid:{port}/postgres?hostaddr=127.0.0.1&sslmode={mode}&{}",
                ca.sslrootcert()
            )
        };
        let e = refused(wrong_name("verify-full")).await;
        assert!(matches!(e, StoreError::Io { .. }), "{e:?}");
        let text = assert_clear(&e, &shown("db.invalid"));
        assert!(text.contains("not valid for name") && text.contains("db.invalid"), "{text}");
        PostgresStore::connect(&wrong_name("verify-ca")).await.expect("verify-ca does not check the host name");

        // Without the CA (the platform's roots), or with another CA: the chain is refused.
        let e = refused(pg_url("127.0.0.1", &server, "x", "sslmode=verify-full")).await;
        let text = assert_clear(&e, &shown("127.0.0.1"));
        assert!(text.contains("UnknownIssuer") && text.contains("sslrootcert"), "{text}");
        let e =
            refused(pg_url("127.0.0.1", &server, "x", &format!("sslmode=verify-ca&{}", other_ca.sslrootcert()))).await;
        assert!(assert_clear(&e, &shown("127.0.0.1")).contains("UnknownIssuer"));
        // `require` with a CA checks the chain too, as in libpq.
        let e =
            refused(pg_url("127.0.0.1", &server, "x", &format!("sslmode=require&{}", other_ca.sslrootcert()))).await;
        assert!(assert_clear(&e, &shown("127.0.0.1")).contains("UnknownIssuer"));

        // `require` without a CA: encrypted, nothing checked. `prefer` (the default) takes
        // the TLS the server offers.
        let required = PostgresStore::connect(&pg_url("127.0.0.1", &server, "tls-require", "sslmode=require"))
            .await
            .expect("require without the CA");
        let (all, encrypted) = pg_connections(&server, "tls-require").await;
        assert!(all >= 1 && encrypted == all, "require encrypts: {encrypted} of {all}");
        let preferred = PostgresStore::connect(&pg_url("localhost", &server, "tls-prefer", "connect_timeout=5"))
            .await
            .expect("prefer");
        let (all, encrypted) = pg_connections(&server, "tls-prefer").await;
        assert!(all >= 1 && encrypted == all, "prefer encrypts when it can: {encrypted} of {all}");
        drop((required, preferred));

        // Configuration mistakes are told before connecting.
        let e = refused(pg_url("127.0.0.1", &server, "x", "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")).await;
        assert!(matches!(e, StoreError::Config(_)), "{e:?}");
        assert!(assert_clear(&e, &shown("127.0.0.1")).contains("cannot read sslrootcert `/nonexistent/ca.pem`"));
        let e = refused(pg_url("127.0.0.1", &server, "x", "sslmode=allow")).await;
        assert!(matches!(e, StoreError::Config(_)), "{e:?}");
        assert!(assert_clear(&e, &shown("127.0.0.1")).contains("sslmode `allow` is not supported"));
        let e = PostgresStore::connect_with(
            &pg_url("127.0.0.1", &server, "x", "sslmode=verify-full"),
            PostgresOptions::default().ca_pem("not a certificate"),
        )
        .await
        .expect_err("no certificate in the PEM");
        assert!(matches!(e, StoreError::Config(_)), "{e:?}");
        assert!(assert_clear(&e, &shown("127.0.0.1")).contains("holds no PEM certificate"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_tls_is_refused_when_tls_is_required() {
    let ca = Ca::new("oauthgen test CA");
    let server = PgServer::start();
    let shown = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port());
    bounded(60, async {
        for mode in ["require", "verify-ca", "verify-full"] {
            let url = pg_url("127.0.0.1", &server, "x", &format!("sslmode={mode}&{}", ca.sslrootcert()));
            let e = PostgresStore::connect(&url).await.expect_err(mode);
            assert!(matches!(e, StoreError::Io { .. }), "{e:?}");
            assert!(assert_clear(&e, &shown).contains("server does not support TLS"), "{mode}: {e}");
        }
        // `prefer` and `disable` connect in plain text.
        for mode in ["prefer", "disable"] {
            let url = pg_url("127.0.0.1", &server, "plain", &format!("sslmode={mode}"));
            PostgresStore::connect(&url).await.unwrap_or_else(|e| panic!("{mode}: {e}"));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_with_the_ca_conforms_over_tls() {
    let ca = Ca::new("oauthgen test CA");
    let (cert, key) = ca.issue(&["127.0.0.1", "localhost"]);
    let server = RedisServer::start_tls(&cert, &key, &ca.pem());
    assert_eq!(server.query(&["PING"]).as_deref(), Some("PONG"));
    let url = format!("rediss://default:{PASSWORD}@127.0.0.1:{}/0", server.port());
    bounded(120, async {
        // The default user takes any password.
        let a = RedisStore::connect_with_tls(&url, ca.pem().as_bytes()).await.expect("rediss:// with the CA");
        let by_name = format!("rediss://localhost:{}/0", server.port());
        let b = RedisStore::connect_with_tls(&by_name, ca.pem().as_bytes()).await.expect("by name");
        conformance::check(&a, &b, "redis-tls").await;
        assert_eq!(server.query(&["EXISTS", "oauthgen:cred:redis-tls-user"]).as_deref(), Some("0"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_tls_failures_are_clear() {
    let ca = Ca::new("oauthgen test CA");
    let other_ca = Ca::new("another CA");
    let (cert, key) = ca.issue(&["127.0.0.1", "localhost"]);
    let server = RedisServer::start_tls(&cert, &key, &ca.pem());
    let port = server.port();
    let url = format!("rediss://:{PASSWORD}@127.0.0.1:{port}/0");
    let shown = format!("rediss://127.0.0.1:{port}/0");
    bounded(120, async {
        // Without the CA (the platform's roots), or with another CA.
        let e = RedisStore::connect(&url).await.expect_err("no CA");
        assert!(matches!(e, StoreError::Io { .. }), "{e:?}");
        let text = assert_clear(&e, &shown);
        assert!(text.contains("UnknownIssuer") && text.contains("connect_with_tls"), "{text}");
        let e = RedisStore::connect_with_tls(&url, other_ca.pem().as_bytes()).await.expect_err("another CA");
        assert!(assert_clear(&e, &shown).contains("UnknownIssuer"));

        // `#insecure`, a plain URL with TLS settings, PEM without certificates or key.
        let e = RedisStore::connect(&format!("{url}#insecure")).await.expect_err("#insecure");
        assert!(matches!(e, StoreError::Config(_)), "{e:?}");
        assert!(assert_clear(&e, "`#insecure`").contains("connect_with_tls"));
        let plain = format!("redis://:{PASSWORD}@127.0.0.1:{port}/0");
        let e = RedisStore::connect_with_tls(&plain, ca.pem().as_bytes()).await.expect_err("redis://");
        assert!(matches!(e, StoreError::Config(_)), "{e:?}");
        assert_clear(&e, "need a `rediss://` URL");
        let e = RedisStore::connect_with_tls(&url, b"not a certificate").await.expect_err("no certificate");
        assert!(matches!(e, StoreError::Config(_)), "{e:?}");
        assert_clear(&e, "the CA holds no PEM certificate");
        let secret_key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
        let e = RedisStore::connect_with_client_cert(&url, Some(ca.pem().as_bytes()), cert.as_bytes(), b"garbage")
            .await
            .expect_err("no key");
        assert!(matches!(e, StoreError::Config(_)), "{e:?}");
        assert_clear(&e, "the client key holds no PEM private key");
        if let Err(e) = RedisStore::connect_with_client_cert(
            &url,
            Some(ca.pem().as_bytes()),
            cert.as_bytes(),
            secret_key.as_bytes(),
        )
        .await
        {
            assert!(!e.to_string().contains("c2VjcmV0"), "the key is never shown: {e}");
        }

        // A certificate that names another host.
        let (cert, key) = ca.issue(&["db.example"]);
        let elsewhere = RedisServer::start_tls(&cert, &key, &ca.pem());
        let url = format!("rediss://127.0.0.1:{}/0", elsewhere.port());
        let e = RedisStore::connect_with_tls(&url, ca.pem().as_bytes()).await.expect_err("wrong name");
        let text = assert_clear(&e, &url);
        assert!(text.contains("not valid for name"), "{text}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_client_certificates() {
    let ca = Ca::new("oauthgen test CA");
    let (cert, key) = ca.issue(&["127.0.0.1", "localhost"]);
    let server = RedisServer::start_tls_with_client_auth(&cert, &key, &ca.pem());
    assert_eq!(server.query(&["PING"]).as_deref(), Some("PONG"));
    let url = format!("rediss://127.0.0.1:{}/0", server.port());
    bounded(120, async {
        let e = RedisStore::connect_with_tls(&url, ca.pem().as_bytes()).await.expect_err("no client certificate");
        assert!(matches!(e, StoreError::Io { .. }), "{e:?}");
        assert!(assert_clear(&e, &url).contains("connect_with_client_cert"));

        let (client_cert, client_key) = ca.issue(&["oauthgen-client"]);
        let (ca_pem, cert, key) = (ca.pem(), client_cert.as_bytes(), client_key.as_bytes());
        let a = RedisStore::connect_with_client_cert(&url, Some(ca_pem.as_bytes()), cert, key)
            .await
            .expect("with a client certificate");
        let b = RedisStore::connect_with_client_cert(&url, Some(ca_pem.as_bytes()), cert, key).await.unwrap();
        conformance::check(&a, &b, "redis-mtls").await;

        // A client certificate from another CA is refused by the server.
        let other_ca = Ca::new("another CA");
        let (cert, key) = other_ca.issue(&["intruder"]);
        let e = RedisStore::connect_with_client_cert(&url, Some(ca_pem.as_bytes()), cert.as_bytes(), key.as_bytes())
            .await
            .expect_err("a certificate of another CA");
        assert!(assert_clear(&e, &url).contains("refused the client certificate"));
    })
    .await;
}
