//! A PostgreSQL store: one row per key, shared by a fleet of servers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::lease::{self, BoxFuture, LeaseBackend, LeaseLock};
use super::{LOCK_TIMEOUT, StoreError, Stored, TokenStore, Version};
use crate::Credentials;

/// Credentials in PostgreSQL, one row per key (user or account): the store for several
/// servers (or processes) sharing one database. Available with the cargo feature `postgres`.
///
/// - Each row has a `version` that every save increments; [`TokenStore::save_if`] is one
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
/// TLS is not supported yet: URLs with `sslmode=require`, `verify-ca` or `verify-full` are
/// refused with [`StoreError::Config`]; use a local socket, a trusted network or a TLS
/// tunnel. `Debug` output and errors show the URL without its password or query.
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
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.inner.name)
            .field("credentials_table", &self.inner.sql.credentials_table)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// How [`PostgresStore::connect_with`] sets a store up.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    table_prefix: String,
    pool_size: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self { table_prefix: "oauthgen_".into(), pool_size: 16 }
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
                "INSERT INTO {c} AS c (key, credentials, version) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET credentials = EXCLUDED.credentials,
                     version = c.version + 1, updated_at = now()"
            ),
            update_if: format!(
                "UPDATE {c} SET credentials = $2, version = version + 1, updated_at = now()
                 WHERE key = $1 AND version = $3 RETURNING version"
            ),
            insert_if_absent: format!(
                "INSERT INTO {c} (key, credentials, version) VALUES ($1, $2, 1)
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
        match self {
            Self::Pool(e) => pool_error(e),
            Self::Query(e) => describe(e),
        }
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
        let query = url.split_once('?').map(|(_, q)| q.split('#').next().unwrap_or_default()).unwrap_or_default();
        for (k, v) in query.split('&').filter_map(|p| p.split_once('=')) {
            if k == "sslmode" && matches!(v, "require" | "verify-ca" | "verify-full") {
                return Err(config_error(&format!(
                    "TLS is not supported yet (sslmode={v}); use a local socket, a trusted network or a TLS tunnel \
                     with sslmode=disable"
                )));
            }
        }
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| config_error(&describe(&e)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Self::TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("oauthgen");
        }
        let manager =
            Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Verified });
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| config_error(&describe(&e)))?;
        let store = Self {
            inner: Arc::new(Inner { pool, name, sql: Sql::new(&options.table_prefix) }),
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
    fn prefixes_are_identifiers() {
        assert!(valid_prefix("oauthgen_"));
        assert!(valid_prefix(""));
        assert!(!valid_prefix("1abc"));
        assert!(!valid_prefix("a; DROP TABLE x"));
        assert!(!valid_prefix("ünïcode"));
    }
}
