//! A PostgreSQL store: one row per key, shared by a fleet of servers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::lease::{self, BoxFuture, LeaseBackend, LeaseLock};
use super::{LOCK_TIMEOUT, StoreError, Stored, TokenStore, Version};
use crate::Credentials;

/// Credentials in PostgreSQL, one row per key (user or account): the store for several
/// servers (or processes) sharing one database. Available with the cargo feature `postgres`.
///
/// - Each row has a `version` that every save increments (a new row starts at the database's
///   clock in microseconds, so a key deleted and created again does not reuse a version a
///   fenced save may still hold); [`TokenStore::save_if`] is one
///   conditional statement that writes only while it is unchanged.
/// - Refresh locks are leases in a table: taken with one `INSERT ... ON CONFLICT`, renewed
///   every third of the lease (30 s by default) while held, released in the background when
///   the guard drops, and expired should the holder die. Expiry is decided by the
///   database's clock (`now()`), never by the clients'. `fence` grows by one at each
///   acquisition (the row is kept when the lease is released), a fencing token.
/// - Connections come from a pool (`deadpool-postgres`) that checks each one before handing
///   it out, so connections that the server closed (a restart, `pg_terminate_backend`) are
///   replaced without restarting the store. Reads and lease operations that meet a broken
///   connection are retried once; writes are not (they may have been applied).
/// - Each operation is bounded in time ([`PostgresStore::with_timeout`], 10 s by default).
///
/// Schema (created on first use, under an advisory lock so that concurrent first users do
/// not collide; `oauthgen_` is the default [table prefix](PostgresOptions::table_prefix)):
///
/// ```sql
/// CREATE TABLE oauthgen_credentials (key TEXT PRIMARY KEY, credentials TEXT NOT NULL,
///                                    version BIGINT NOT NULL,
///                                    updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
/// CREATE TABLE oauthgen_locks (key TEXT PRIMARY KEY, holder TEXT NOT NULL,
///                              fence BIGINT NOT NULL, expires_at TIMESTAMPTZ NOT NULL);
/// ```
///
/// The role needs `SELECT`, `INSERT`, `UPDATE` and `DELETE` on both tables (and `CREATE` on
/// the schema until they exist).
///
/// `Debug` output and errors show the URL without its password or query.
///
/// ```no_run
/// # async fn run() -> Result<(), oauthgen_runtime::StoreError> {
/// use std::time::Duration;
/// use oauthgen_runtime::store::{PostgresOptions, PostgresStore};
///
/// let store = PostgresStore::connect("postgres://app:secret@db.internal/app").await?;
/// let options = PostgresOptions::default().table_prefix("billing_oauth_").pool_size(4);
/// let other = PostgresStore::connect_with("postgres://app:secret@db.internal/app", options)
///     .await?
///     .with_lease(Duration::from_secs(20));
/// # Ok(()) }
/// ```
///
/// # TLS
///
/// Through rustls (with ring), chosen by the URL's `sslmode` as libpq documents it:
///
/// | `sslmode` | encrypted | server's certificate |
/// |---|---|---|
/// | `disable` | never | - |
/// | `prefer` (the default) | when the server offers TLS, else in plain text | not checked, unless `sslrootcert` is given (then as `verify-ca`) |
/// | `require` | always (a server without TLS is refused) | not checked, unless `sslrootcert` is given (then as `verify-ca`) |
/// | `verify-ca` | always | signed by a trusted root; the host name is not checked |
/// | `verify-full` | always | signed by a trusted root and issued for the URL's host |
///
/// **`prefer` and `require` without a CA do not stop an active attacker**: anyone who can
/// intercept the connection can present a certificate of their own and read and change
/// everything (with password authentication, the password too; SCRAM never sends it, and
/// `channel_binding=require` in the URL makes a SCRAM login through such an attacker fail).
/// They only stop passive eavesdropping. Use `verify-full` across any network you do not
/// control. Unlike libpq, `prefer` does not try again in plain text when the TLS handshake
/// fails: it fails.
///
/// Trusted roots: the PEM file named by `sslrootcert=PATH` (one or more certificates; only
/// those are trusted), or the PEM given with [`PostgresOptions::ca_pem`], else the
/// platform's roots (`rustls-native-certs`: the system's CA bundle, or the files named by
/// `SSL_CERT_FILE`/`SSL_CERT_DIR`), as `sslrootcert=system` also asks. libpq would read
/// `~/.postgresql/root.crt` instead of the platform's roots; this store does not.
/// `sslrootcert=system` with no `sslmode` means `verify-full`, and with a weaker mode is
/// refused (as in libpq 16). `sslmode=allow`, client certificates (`sslcert`, `sslkey`)
/// and the `PGSSL*` environment variables are not supported. The host name checked by
/// `verify-full` is the URL's host, also when `hostaddr` gives the address to connect to.
///
/// ```no_run
/// # async fn run() -> Result<(), oauthgen_runtime::StoreError> {
/// use oauthgen_runtime::store::PostgresStore;
///
/// let store = PostgresStore::connect(
///     "postgres://app:secret@db.internal/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem",
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
    lease: Duration,
    timeout: Duration,
}

struct Inner {
    pool: Pool,
    /// The URL without password or query, for errors and `Debug`.
    name: String,
    sql: Sql,
    ssl_mode: SslMode,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.inner.name)
            .field("credentials_table", &self.inner.sql.credentials_table)
            .field("sslmode", &self.inner.ssl_mode.as_str())
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// How [`PostgresStore::connect_with`] sets a store up.
#[derive(Clone)]
pub struct PostgresOptions {
    table_prefix: String,
    pool_size: usize,
    ca_pem: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("table_prefix", &self.table_prefix)
            .field("pool_size", &self.pool_size)
            .field("ca_pem", &self.ca_pem.as_ref().map(|pem| format!("{} bytes", pem.len())))
            .finish()
    }
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self { table_prefix: "oauthgen_".into(), pool_size: 16, ca_pem: None }
    }
}

impl PostgresOptions {
    /// The tables' names start with `prefix` (default `oauthgen_`): `<prefix>credentials`
    /// and `<prefix>locks`. ASCII letters, digits and `_`, not starting with a digit, at most
    /// 40 characters; others are refused by [`PostgresStore::connect_with`].
    #[must_use]
    pub fn table_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.table_prefix = prefix.into();
        self
    }

    /// At most this many connections (default 16).
    #[must_use]
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Trust the certificate authorities in `pem` (one or more PEM certificates), and only
    /// those, as `sslrootcert=PATH` in the URL would (which must then be absent): for a CA
    /// that comes from a secret store rather than a file. See [TLS](PostgresStore#tls).
    #[must_use]
    pub fn ca_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.ca_pem = Some(pem.as_ref().into());
        self
    }
}

/// The statements, with the tables' names in them.
#[derive(Debug)]
struct Sql {
    credentials_table: String,
    locks_table: String,
    load: String,
    save: String,
    update_if: String,
    insert_if_absent: String,
    delete: String,
    try_acquire: String,
    renew: String,
    release: String,
}

impl Sql {
    fn new(prefix: &str) -> Self {
        let c = format!("{prefix}credentials");
        let l = format!("{prefix}locks");
        Self {
            load: format!("SELECT credentials, version FROM {c} WHERE key = $1"),
            save: format!(
                "INSERT INTO {c} AS c (key, credentials, version)
                 VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT)
                 ON CONFLICT (key) DO UPDATE SET credentials = EXCLUDED.credentials,
                     version = c.version + 1, updated_at = now()"
            ),
            update_if: format!(
                "UPDATE {c} SET credentials = $2, version = version + 1, updated_at = now()
                 WHERE key = $1 AND version = $3 RETURNING version"
            ),
            insert_if_absent: format!(
                "INSERT INTO {c} (key, credentials, version)
                 VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT)
                 ON CONFLICT (key) DO NOTHING RETURNING version"
            ),
            delete: format!("DELETE FROM {c} WHERE key = $1"),
            // Free, expired, or already ours (a retried attempt): take it, with a new fence.
            try_acquire: format!(
                "INSERT INTO {l} AS l (key, holder, fence, expires_at)
                 VALUES ($1, $2, 1, now() + make_interval(secs => $3))
                 ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, fence = l.fence + 1,
                     expires_at = EXCLUDED.expires_at
                 WHERE l.expires_at < now() OR l.holder = EXCLUDED.holder"
            ),
            renew: format!(
                "UPDATE {l} SET expires_at = now() + make_interval(secs => $3) WHERE key = $1 AND holder = $2"
            ),
            // The row stays (so that `fence` keeps growing); nobody holds it.
            release: format!("UPDATE {l} SET holder = '', expires_at = '-infinity' WHERE key = $1 AND holder = $2"),
            credentials_table: c,
            locks_table: l,
        }
    }

    fn create(&self) -> String {
        let (c, l) = (&self.credentials_table, &self.locks_table);
        format!(
            "CREATE TABLE IF NOT EXISTS {c} (
                 key TEXT PRIMARY KEY,
                 credentials TEXT NOT NULL,
                 version BIGINT NOT NULL,
                 updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );
             CREATE TABLE IF NOT EXISTS {l} (
                 key TEXT PRIMARY KEY,
                 holder TEXT NOT NULL,
                 fence BIGINT NOT NULL,
                 expires_at TIMESTAMPTZ NOT NULL
             );"
        )
    }
}

/// libpq's `sslmode`s that this store knows (`allow` aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres is told: it checks nothing itself (the verifier does), and only
    /// knows whether TLS is off, tried or required.
    fn negotiation(self) -> tokio_postgres::config::SslMode {
        match self {
            Self::Disable => tokio_postgres::config::SslMode::Disable,
            Self::Prefer => tokio_postgres::config::SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => tokio_postgres::config::SslMode::Require,
        }
    }
}

/// The roots that the URL or the options name.
enum RootSource {
    /// `sslrootcert=PATH`.
    File(String),
    /// [`PostgresOptions::ca_pem`].
    Pem(Arc<[u8]>),
    /// `sslrootcert=system`.
    System,
}

/// The URL's TLS parameters, taken out of it (tokio-postgres knows neither `verify-*` nor
/// `sslrootcert`).
struct TlsParams {
    /// The URL without `sslmode` and `sslrootcert`.
    url: String,
    mode: SslMode,
    roots: Option<RootSource>,
}

/// `%XX` escapes decoded, as tokio-postgres decodes query values.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn tls_params(url: &str, ca_pem: Option<&Arc<[u8]>>) -> Result<TlsParams, String> {
    let (base, rest) = url.split_once('?').unwrap_or((url, ""));
    let (query, fragment) = match rest.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (rest, None),
    };
    let (mut mode, mut rootcert) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => {
                let v = percent_decode(v).unwrap_or_default();
                mode = Some(SslMode::parse(&v).ok_or_else(|| {
                    format!("sslmode `{v}` is not supported (use disable, prefer, require, verify-ca or verify-full)")
                })?);
            }
            Some(("sslrootcert", v)) => {
                rootcert = Some(percent_decode(v).ok_or("sslrootcert is not a valid percent-encoded path")?);
            }
            _ => kept.push(pair),
        }
    }
    let roots = match (rootcert, ca_pem) {
        (Some(_), Some(_)) => {
            return Err("both sslrootcert in the URL and PostgresOptions::ca_pem name the roots; keep one".into());
        }
        (Some(path), None) if path == "system" => Some(RootSource::System),
        (Some(path), None) if path.is_empty() => return Err("sslrootcert is empty".into()),
        (Some(path), None) => Some(RootSource::File(path)),
        (None, Some(pem)) => Some(RootSource::Pem(pem.clone())),
        (None, None) => None,
    };
    let system = matches!(roots, Some(RootSource::System));
    let mode = match mode {
        Some(m) if system && m != SslMode::VerifyFull => {
            return Err(format!(
                "sslmode={} may not be used with sslrootcert=system (use sslmode=verify-full)",
                m.as_str()
            ));
        }
        Some(m) => m,
        None if system => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    let mut url = base.to_owned();
    if !kept.is_empty() {
        url.push('?');
        url.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        url.push('#');
        url.push_str(f);
    }
    Ok(TlsParams { url, mode, roots })
}

/// Roots from PEM text: every certificate in it, at least one.
fn pem_roots(pem: &[u8], origin: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("{origin}: not PEM certificates: {e}"))?;
        roots.add(cert).map_err(|e| format!("{origin}: unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{origin}: holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"));
    }
    Ok(roots)
}

/// The platform's roots, as `rustls-native-certs` finds them.
fn platform_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found.errors.first().map(|e| format!(" ({})", describe(e))).unwrap_or_default();
        return Err(format!(
            "no root certificates found on this system{why}; install the CA bundle (ca-certificates) or name \
             the server's CA with sslrootcert=PATH"
        ));
    }
    Ok(roots)
}

/// The roots `mode` checks certificates against: `None` when it checks none.
async fn load_roots(mode: SslMode, source: Option<RootSource>) -> Result<Option<RootCertStore>, String> {
    match (mode, source) {
        (SslMode::Disable, _) | (SslMode::Prefer | SslMode::Require, None) => Ok(None),
        (_, Some(RootSource::File(path))) => {
            let pem = tokio::fs::read(&path).await.map_err(|e| format!("cannot read sslrootcert `{path}`: {e}"))?;
            pem_roots(&pem, &format!("sslrootcert `{path}`")).map(Some)
        }
        (_, Some(RootSource::Pem(pem))) => pem_roots(&pem, "PostgresOptions::ca_pem").map(Some),
        (_, Some(RootSource::System) | None) => platform_roots().map(Some),
    }
}

/// Checks the server's certificate chain against `roots` (`None`: checks nothing), never
/// its name; the handshake's signatures are always checked against the certificate's key.
/// `verify-full` uses rustls's own verifier instead, which checks the name too.
#[derive(Debug)]
struct ChainVerifier {
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The TLS connector for `mode` with `roots` (ring, TLS 1.2 and 1.3, ALPN `postgresql` as
/// PostgreSQL 17's direct TLS negotiation wants).
fn tls_connector(mode: SslMode, roots: Option<RootCertStore>) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let roots = roots.map(Arc::new);
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (SslMode::VerifyFull, Some(roots)) => {
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("TLS setup: {e}"))?
        }
        (_, roots) => Arc::new(ChainVerifier { roots, algorithms }),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(MakeRustlsConnect::new(config))
}

/// A hint for TLS failures whose cause is not obvious from rustls's words.
fn tls_hint(text: &str) -> &'static str {
    if text.contains("UnknownIssuer") {
        " (the server's certificate is not signed by a trusted root: name its CA with sslrootcert=PATH)"
    } else if text.contains("not valid for name") || text.contains("NotValidForName") {
        " (sslmode=verify-full checks that the certificate names the URL's host)"
    } else if text.contains("server does not support TLS") {
        " (the URL's sslmode requires TLS, which the server has off: `ssl = on` in postgresql.conf)"
    } else {
        ""
    }
}

/// `url` without its password, query or fragment: safe to show.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(a PostgreSQL URL without `://`)".to_owned();
    };
    let (user, host) = match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split([':', '/', '?', '#']).next().unwrap_or_default();
            (format!("{user}@"), host)
        }
        None => (String::new(), rest),
    };
    let host = host.split(['?', '#']).next().unwrap_or_default();
    format!("{scheme}://{user}{host}")
}

/// An error and its causes, on one line.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text.split('\n').map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    use deadpool_postgres::{PoolError, TimeoutType};
    match e {
        PoolError::Backend(e) => describe(e),
        PoolError::Timeout(TimeoutType::Wait) => "timed out waiting for a free connection in the pool".into(),
        PoolError::Timeout(TimeoutType::Create) => "timed out connecting to the server".into(),
        PoolError::Timeout(TimeoutType::Recycle) => "timed out checking a pooled connection".into(),
        PoolError::Closed => "the connection pool is closed".into(),
        PoolError::NoRuntimeSpecified => "no async runtime for the connection pool".into(),
        PoolError::PostCreateHook(e) => describe(e),
    }
}

/// Whether `e` says the connection broke (so that an idempotent statement may be retried on
/// another one).
fn broken_connection(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || e.code().is_some_and(|c| *c == SqlState::ADMIN_SHUTDOWN || c.code().starts_with("08"))
        || std::error::Error::source(e).is_some_and(<dyn std::error::Error>::is::<std::io::Error>)
}

/// What failed while talking to the database.
enum DbFailure {
    Pool(deadpool_postgres::PoolError),
    Query(tokio_postgres::Error),
}

impl DbFailure {
    fn retryable(&self) -> bool {
        match self {
            Self::Pool(_) => false,
            Self::Query(e) => broken_connection(e),
        }
    }

    fn describe(&self) -> String {
        let text = match self {
            Self::Pool(e) => pool_error(e),
            Self::Query(e) => describe(e),
        };
        let hint = tls_hint(&text);
        text + hint
    }
}

impl From<tokio_postgres::Error> for DbFailure {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Query(e)
    }
}

fn valid_prefix(prefix: &str) -> bool {
    prefix.len() <= 40
        && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !prefix.starts_with(|c: char| c.is_ascii_digit())
}

fn version(v: i64) -> Version {
    Version::new(v.cast_unsigned())
}

impl PostgresStore {
    /// How long a refresh lock lasts by default if its holder stops renewing it.
    pub const LEASE: Duration = Duration::from_secs(30);
    /// How long an operation (getting a connection and running its statement) may take by
    /// default before it fails; also how long [`PostgresStore::connect`] waits for the
    /// server, unless the URL sets `connect_timeout`.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// Connect to the database at `url` (`postgres://user:password@host:port/dbname?...` or
    /// `postgresql://...`, with tokio-postgres's query parameters), creating the tables if
    /// they are missing.
    ///
    /// A malformed URL, or one asking for TLS, is [`StoreError::Config`]; a server that
    /// cannot be reached or refuses the login is [`StoreError::Io`]. Neither shows the
    /// password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// [`PostgresStore::connect`] with `options`.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let name = redact(url);
        let config_error = |what: &str| StoreError::Config(format!("{name}: {what}"));
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(config_error("not a PostgreSQL URL (expected `postgres://user@host/dbname`)"));
        }
        if !valid_prefix(&options.table_prefix) {
            return Err(config_error(&format!(
                "table prefix `{}` is not an identifier of ASCII letters, digits and `_` (at most 40 characters)",
                options.table_prefix
            )));
        }
        let tls = tls_params(url, options.ca_pem.as_ref()).map_err(|e| config_error(&e))?;
        let mut config: tokio_postgres::Config = tls.url.parse().map_err(|e| config_error(&describe(&e)))?;
        config.ssl_mode(tls.mode.negotiation());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Self::TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("oauthgen");
        }
        let roots = load_roots(tls.mode, tls.roots).await.map_err(|e| config_error(&e))?;
        let connector = tls_connector(tls.mode, roots).map_err(|e| config_error(&e))?;
        let manager =
            Manager::from_config(config, connector, ManagerConfig { recycling_method: RecyclingMethod::Verified });
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| config_error(&describe(&e)))?;
        let store = Self {
            inner: Arc::new(Inner { pool, name, sql: Sql::new(&options.table_prefix), ssl_mode: tls.mode }),
            lease: Self::LEASE,
            timeout: Self::TIMEOUT,
        };
        store.create_tables(&options.table_prefix).await?;
        Ok(store)
    }

    /// The same store with refresh leases of `lease` (default [`PostgresStore::LEASE`]):
    /// how long a lock outlives a holder that stopped renewing it.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(3));
        self
    }

    /// The same store with operations bounded by `timeout` (default
    /// [`PostgresStore::TIMEOUT`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Create the tables unless both exist, serialised by an advisory lock (concurrent
    /// `CREATE TABLE IF NOT EXISTS` can fail on PostgreSQL's catalog constraints).
    async fn create_tables(&self, prefix: &str) -> Result<(), StoreError> {
        let sql = &self.inner.sql;
        let create = sql.create();
        let lock_name = format!("oauthgen schema {prefix}");
        self.run(false, async || {
            let mut client = self.inner.pool.get().await.map_err(DbFailure::Pool)?;
            let exists = client
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
                    &[&sql.credentials_table, &sql.locks_table],
                )
                .await?;
            if exists.get::<_, bool>(0) {
                return Ok(());
            }
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock_name]).await?;
            tx.batch_execute(&create).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Run `op` within the store's timeout, once more if it met a broken connection and
    /// `retry` says it is safe to repeat.
    async fn run<T, F>(&self, retry: bool, op: impl Fn() -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, DbFailure>>,
    {
        let attempts = async {
            match op().await {
                Err(e) if retry && e.retryable() => {
                    tracing::debug!(store = %self.inner.name, error = %e.describe(), "retrying on another connection");
                    op().await
                }
                other => other,
            }
        };
        match tokio::time::timeout(self.timeout, attempts).await {
            Ok(result) => result.map_err(|e| self.io(&e.describe())),
            Err(_) => Err(self.io(&format!("timed out after {:?}", self.timeout))),
        }
    }

    fn io(&self, reason: &str) -> StoreError {
        StoreError::Io { path: self.inner.name.clone(), reason: reason.to_owned() }
    }

    /// Execute `statement` (cached per connection) with `params`; rows changed.
    async fn execute(
        &self,
        statement: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, DbFailure> {
        let client = self.inner.pool.get().await.map_err(DbFailure::Pool)?;
        let statement = client.prepare_cached(statement).await?;
        Ok(client.execute(&statement, params).await?)
    }

    /// Query `statement` for at most one row, whose first column is a `BIGINT`.
    async fn query_i64(
        &self,
        statement: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<i64>, DbFailure> {
        let client = self.inner.pool.get().await.map_err(DbFailure::Pool)?;
        let statement = client.prepare_cached(statement).await?;
        Ok(client.query_opt(&statement, params).await?.map(|row| row.get::<_, i64>(0)))
    }

    fn lease_op(
        &self,
        statement: fn(&Sql) -> &str,
        key: &str,
        holder: &str,
        lease: Option<Duration>,
    ) -> BoxFuture<Result<u64, StoreError>> {
        let (store, key, holder) = (self.clone(), key.to_owned(), holder.to_owned());
        Box::pin(async move {
            let seconds = lease.map(|l| l.as_secs_f64());
            store
                .run(true, async || {
                    let sql = statement(&store.inner.sql);
                    match seconds {
                        Some(s) => store.execute(sql, &[&key, &holder, &s]).await,
                        None => store.execute(sql, &[&key, &holder]).await,
                    }
                })
                .await
        })
    }
}

impl LeaseBackend for PostgresStore {
    fn try_acquire(&self, key: &str, holder: &str, lease: Duration) -> BoxFuture<Result<bool, StoreError>> {
        let op = self.lease_op(|s| &s.try_acquire, key, holder, Some(lease));
        Box::pin(async move { Ok(op.await? == 1) })
    }

    fn renew(&self, key: &str, holder: &str, lease: Duration) -> BoxFuture<Result<bool, StoreError>> {
        let op = self.lease_op(|s| &s.renew, key, holder, Some(lease));
        Box::pin(async move { Ok(op.await? == 1) })
    }

    fn release(&self, key: &str, holder: &str) -> BoxFuture<Result<(), StoreError>> {
        let op = self.lease_op(|s| &s.release, key, holder, None);
        Box::pin(async move { op.await.map(drop) })
    }
}

impl TokenStore for PostgresStore {
    type Lock = LeaseLock;

    async fn load_versioned(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let row = self
            .run(true, async || {
                let client = self.inner.pool.get().await.map_err(DbFailure::Pool)?;
                let statement = client.prepare_cached(&self.inner.sql.load).await?;
                let row = client.query_opt(&statement, &[&key]).await?;
                Ok(row.map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))))
            })
            .await?;
        row.map(|(text, v)| {
            let credentials = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                path: format!("{} (key {key:?})", self.inner.name),
                reason: e.to_string(),
            })?;
            Ok(Stored { credentials, version: version(v) })
        })
        .transpose()
    }

    async fn save(&self, key: &str, credentials: &Credentials) -> Result<(), StoreError> {
        let text = serde_json::to_string(credentials).map_err(|e| self.io(&e.to_string()))?;
        self.run(false, async || self.execute(&self.inner.sql.save, &[&key, &text]).await).await?;
        Ok(())
    }

    async fn save_if(
        &self,
        key: &str,
        expected: Option<Version>,
        credentials: &Credentials,
    ) -> Result<Version, StoreError> {
        let text = serde_json::to_string(credentials).map_err(|e| self.io(&e.to_string()))?;
        let sql = &self.inner.sql;
        let written = self
            .run(false, async || match expected {
                Some(v) => self.query_i64(&sql.update_if, &[&key, &text, &v.get().cast_signed()]).await,
                None => self.query_i64(&sql.insert_if_absent, &[&key, &text]).await,
            })
            .await?;
        written.map(version).ok_or_else(|| StoreError::Conflict(key.to_owned()))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let n = self.run(false, async || self.execute(&self.inner.sql.delete, &[&key]).await).await?;
        Ok(n > 0)
    }

    async fn unlock(&self, lock: LeaseLock) {
        lock.release().await;
    }

    async fn lock(&self, key: &str) -> Result<LeaseLock, StoreError> {
        lease::acquire(Arc::new(self.clone()), key, self.lease, LOCK_TIMEOUT).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_the_password_and_query() {
        let cases = [
            ("postgres://app:s3cret@db:5432/app?sslmode=disable", "postgres://app@db:5432/app"),
            ("postgresql://app:s3/cr?et@db/app", "postgresql://app@db/app"),
            ("postgres://db/app?password=s3cret", "postgres://db/app"),
            ("postgres://db/app?password=s3cret&x=a@b", "postgres://db@b"),
            ("host=db password=s3cret", "(a PostgreSQL URL without `://`)"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        let t = tls_params(
            "postgres://a@h/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fmy%20ca.pem&application_name=x",
            None,
        )
        .unwrap();
        assert_eq!(t.url, "postgres://a@h/db?application_name=x");
        assert_eq!(t.mode, SslMode::VerifyFull);
        assert!(matches!(t.roots, Some(RootSource::File(p)) if p == "/tmp/my ca.pem"));

        let t = tls_params("postgres://a@h/db", None).unwrap();
        assert_eq!((t.url.as_str(), t.mode), ("postgres://a@h/db", SslMode::Prefer));
        assert!(t.roots.is_none());

        let t = tls_params("postgres://a@h/db?sslrootcert=system", None).unwrap();
        assert_eq!((t.url.as_str(), t.mode), ("postgres://a@h/db", SslMode::VerifyFull));
        assert!(matches!(t.roots, Some(RootSource::System)));

        let pem: Arc<[u8]> = b"pem".as_slice().into();
        let t = tls_params("postgres://a@h/db?sslmode=require", Some(&pem)).unwrap();
        assert_eq!(t.mode, SslMode::Require);
        assert!(matches!(t.roots, Some(RootSource::Pem(_))));

        for bad in [
            "postgres://a@h/db?sslmode=allow",
            "postgres://a@h/db?sslmode=verify_full",
            "postgres://a@h/db?sslmode=require&sslrootcert=system",
            "postgres://a@h/db?sslrootcert=",
            "postgres://a@h/db?sslrootcert=%zz",
        ] {
            assert!(tls_params(bad, None).is_err(), "{bad}");
        }
        assert!(tls_params("postgres://a@h/db?sslrootcert=/ca.pem", Some(&pem)).is_err(), "two sources of roots");
    }

    #[test]
    fn prefixes_are_identifiers() {
        assert!(valid_prefix("oauthgen_"));
        assert!(valid_prefix(""));
        assert!(!valid_prefix("1abc"));
        assert!(!valid_prefix("a; DROP TABLE x"));
        assert!(!valid_prefix("ünïcode"));
    }
}
