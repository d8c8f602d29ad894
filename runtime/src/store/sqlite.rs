//! A SQLite store: one row per key, for servers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{LOCK_TIMEOUT, StoreError, TokenStore};
use crate::Credentials;

/// Credentials in SQLite, one row per key (user or account): the classic library's
/// `StorageByKeyName`, and the store to use for servers.
///
/// Refresh locks are leases in a table (`oauthgen_locks`): taken with one `INSERT`, released
/// when the guard drops, and expired after [`SqliteStore::LEASE`] should the holder die,
/// which is how stores shared by many processes (PostgreSQL, Redis) work too.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
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

impl SqliteStore {
    /// How long a refresh lock lasts if its holder never releases it.
    pub const LEASE: Duration = Duration::from_secs(120);

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
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
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
        Ok(Self { inner: Arc::new(Inner { path, conn: Mutex::new(conn) }) })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.conn.lock().map_err(|_| db(&inner.path, &"a thread panicked holding the connection"))?;
            f(&conn, &inner.path)
        })
        .await
        .map_err(|e| db(&self.inner.path, &e))?
    }
}

/// The refresh lock of one key; deleting its row releases it.
#[derive(Debug)]
pub struct SqliteLock {
    store: SqliteStore,
    key: String,
    holder: String,
}

impl Drop for SqliteLock {
    fn drop(&mut self) {
        if let Ok(conn) = self.store.inner.conn.lock() {
            let _ = conn
                .execute("DELETE FROM oauthgen_locks WHERE key = ?1 AND holder = ?2", params![self.key, self.holder]);
        }
    }
}

impl TokenStore for SqliteStore {
    type Lock = SqliteLock;

    async fn load(&self, key: &str) -> Result<Option<Credentials>, StoreError> {
        let key = key.to_owned();
        self.with(move |conn, path| {
            let text: Option<String> = conn
                .query_row("SELECT credentials FROM oauthgen_credentials WHERE key = ?1", params![key], |r| r.get(0))
                .optional()
                .map_err(|e| db(path, &e))?;
            text.map(|t| {
                serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
                    path: format!("{} (key {key:?})", path.display()),
                    reason: e.to_string(),
                })
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
                "INSERT INTO oauthgen_credentials (key, credentials, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET credentials = excluded.credentials, updated_at = excluded.updated_at",
                params![key, text, now_ms()],
            )
            .map_err(|e| db(path, &e))?;
            Ok(())
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

    async fn lock(&self, key: &str) -> Result<SqliteLock, StoreError> {
        let holder = format!("{}-{:016x}", std::process::id(), fastrand::u64(..));
        let start = Instant::now();
        let mut wait = Duration::from_millis(2);
        loop {
            let (k, h) = (key.to_owned(), holder.clone());
            let lease = i64::try_from(Self::LEASE.as_millis()).unwrap_or(i64::MAX);
            let taken = self
                .with(move |conn, path| {
                    let now = now_ms();
                    conn.execute("DELETE FROM oauthgen_locks WHERE key = ?1 AND expires_at < ?2", params![k, now])
                        .map_err(|e| db(path, &e))?;
                    let n = conn
                        .execute(
                            "INSERT OR IGNORE INTO oauthgen_locks (key, holder, expires_at) VALUES (?1, ?2, ?3)",
                            params![k, h, now.saturating_add(lease)],
                        )
                        .map_err(|e| db(path, &e))?;
                    Ok(n == 1)
                })
                .await?;
            if taken {
                return Ok(SqliteLock { store: self.clone(), key: key.to_owned(), holder });
            }
            if start.elapsed() > LOCK_TIMEOUT {
                return Err(StoreError::LockTimeout(key.to_owned()));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(100));
        }
    }
}
