//! A SQLite store: one row per key, for servers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::lease::{self, BoxFuture, LeaseBackend, LeaseLock};
use super::{LOCK_TIMEOUT, StoreError, Stored, TokenStore, Version};
use crate::Credentials;

/// Credentials in SQLite, one row per key (user or account): the classic library's
/// `StorageByKeyName`, and the store to use for servers on one machine.
///
/// - Each row has a `version` that every save increments (a new row starts at the clock in
///   microseconds, so a key deleted and created again does not reuse a version);
///   [`TokenStore::save_if`] writes only while it is unchanged.
/// - Refresh locks are leases in a table (`oauthgen_locks`): taken with one `INSERT`,
///   renewed every third of [`SqliteStore::LEASE`] while held, released in the background
///   when the guard drops, and expired should the holder die.
///
/// Schema (created on first use; a `version` column is added to tables of older versions):
///
/// ```sql
/// CREATE TABLE oauthgen_credentials (key TEXT PRIMARY KEY, credentials TEXT NOT NULL,
///                                    updated_at INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0);
/// CREATE TABLE oauthgen_locks (key TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
    lease: Duration,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn db(path: &Path, e: &impl std::fmt::Display) -> StoreError {
    StoreError::Io { path: path.display().to_string(), reason: e.to_string() }
}

fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The version of a new row: the clock in microseconds, so that a key deleted and created
/// again never reuses a version that a fenced save may still hold.
fn first_version() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn version(v: i64) -> Version {
    Version::new(v.cast_unsigned())
}

impl SqliteStore {
    /// How long a refresh lock lasts if its holder stops renewing it.
    pub const LEASE: Duration = Duration::from_secs(30);

    /// Open (creating) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(StoreError::Symlink(path.display().to_string()));
        }
        let conn = Connection::open(&path).map_err(|e| db(&path, &e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|e| db(&path, &e))?;
        }
        conn.busy_timeout(Duration::from_secs(10)).map_err(|e| db(&path, &e))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS oauthgen_credentials (
                 key TEXT PRIMARY KEY NOT NULL,
                 credentials TEXT NOT NULL,
                 updated_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS oauthgen_locks (
                 key TEXT PRIMARY KEY NOT NULL,
                 holder TEXT NOT NULL,
                 expires_at INTEGER NOT NULL
             );",
        )
        .map_err(|e| db(&path, &e))?;
        let has_version: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('oauthgen_credentials') WHERE name = 'version'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| db(&path, &e))?;
        if !has_version {
            conn.execute_batch("ALTER TABLE oauthgen_credentials ADD COLUMN version INTEGER NOT NULL DEFAULT 0")
                .map_err(|e| db(&path, &e))?;
        }
        Ok(Self { inner: Arc::new(Inner { path, conn: Mutex::new(conn) }), lease: Self::LEASE })
    }

    /// The same store with refresh locks that last `lease` unless renewed (default
    /// [`SqliteStore::LEASE`]); they are renewed every third of it while held.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &Path) -> Result<T, StoreError> + Send + 'static,
    ) -> BoxFuture<Result<T, StoreError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let path = inner.path.clone();
            tokio::task::spawn_blocking(move || {
                let conn =
                    inner.conn.lock().map_err(|_| db(&inner.path, &"a thread panicked holding the connection"))?;
                f(&conn, &inner.path)
            })
            .await
            .map_err(|e| db(&path, &e))?
        })
    }
}

impl LeaseBackend for SqliteStore {
    fn try_acquire(&self, key: &str, holder: &str, lease: Duration) -> BoxFuture<Result<bool, StoreError>> {
        let (k, h) = (key.to_owned(), holder.to_owned());
        self.with(move |conn, path| {
            let now = now_ms();
            // One statement: take the row if it is free or its lease has expired.
            let n = conn
                .execute(
                    "INSERT INTO oauthgen_locks (key, holder, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE oauthgen_locks.expires_at < ?4",
                    params![k, h, now.saturating_add(millis(lease)), now],
                )
                .map_err(|e| db(path, &e))?;
            Ok(n == 1)
        })
    }

    fn renew(&self, key: &str, holder: &str, lease: Duration) -> BoxFuture<Result<bool, StoreError>> {
        let (k, h) = (key.to_owned(), holder.to_owned());
        self.with(move |conn, path| {
            let n = conn
                .execute(
                    "UPDATE oauthgen_locks SET expires_at = ?3 WHERE key = ?1 AND holder = ?2",
                    params![k, h, now_ms().saturating_add(millis(lease))],
                )
                .map_err(|e| db(path, &e))?;
            Ok(n == 1)
        })
    }

    fn release(&self, key: &str, holder: &str) -> BoxFuture<Result<(), StoreError>> {
        let (k, h) = (key.to_owned(), holder.to_owned());
        self.with(move |conn, path| {
            conn.execute("DELETE FROM oauthgen_locks WHERE key = ?1 AND holder = ?2", params![k, h])
                .map_err(|e| db(path, &e))?;
            Ok(())
        })
    }
}

impl TokenStore for SqliteStore {
    type Lock = LeaseLock;

    async fn load_versioned(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let key = key.to_owned();
        self.with(move |conn, path| {
            let row: Option<(String, i64)> = conn
                .query_row("SELECT credentials, version FROM oauthgen_credentials WHERE key = ?1", params![key], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(|e| db(path, &e))?;
            row.map(|(text, v)| {
                let credentials = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    path: format!("{} (key {key:?})", path.display()),
                    reason: e.to_string(),
                })?;
                Ok(Stored { credentials, version: version(v) })
            })
            .transpose()
        })
        .await
    }

    async fn save(&self, key: &str, credentials: &Credentials) -> Result<(), StoreError> {
        let key = key.to_owned();
        let text = serde_json::to_string(credentials).map_err(|e| db(&self.inner.path, &e))?;
        self.with(move |conn, path| {
            conn.execute(
                "INSERT INTO oauthgen_credentials (key, credentials, updated_at, version) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET credentials = excluded.credentials,
                     updated_at = excluded.updated_at, version = oauthgen_credentials.version + 1",
                params![key, text, now_ms(), first_version()],
            )
            .map_err(|e| db(path, &e))?;
            Ok(())
        })
        .await
    }

    async fn save_if(
        &self,
        key: &str,
        expected: Option<Version>,
        credentials: &Credentials,
    ) -> Result<Version, StoreError> {
        let key = key.to_owned();
        let text = serde_json::to_string(credentials).map_err(|e| db(&self.inner.path, &e))?;
        let first = first_version();
        self.with(move |conn, path| {
            let n = match expected {
                Some(v) => conn.execute(
                    "UPDATE oauthgen_credentials SET credentials = ?2, updated_at = ?3, version = version + 1
                     WHERE key = ?1 AND version = ?4",
                    params![key, text, now_ms(), v.get().cast_signed()],
                ),
                None => conn.execute(
                    "INSERT INTO oauthgen_credentials (key, credentials, updated_at, version) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(key) DO NOTHING",
                    params![key, text, now_ms(), first],
                ),
            }
            .map_err(|e| db(path, &e))?;
            if n == 1 {
                Ok(expected.map_or(version(first), |v| Version::new(v.get().wrapping_add(1))))
            } else {
                Err(StoreError::Conflict(key))
            }
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.with(move |conn, path| {
            let n = conn
                .execute("DELETE FROM oauthgen_credentials WHERE key = ?1", params![key])
                .map_err(|e| db(path, &e))?;
            Ok(n > 0)
        })
        .await
    }

    async fn unlock(&self, lock: LeaseLock) {
        lock.release().await;
    }

    async fn lock(&self, key: &str) -> Result<LeaseLock, StoreError> {
        lease::acquire(Arc::new(self.clone()), key, self.lease, LOCK_TIMEOUT).await
    }
}
