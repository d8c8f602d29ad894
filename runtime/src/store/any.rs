//! A store chosen at run time from an address: what a command-line flag or an environment
//! variable names.

use std::path::PathBuf;

use super::{FileStore, StoreError, Stored, TokenStore, Version};
use crate::Credentials;

/// Any of the stores, chosen by address with [`AnyStore::open`]:
///
/// | address | store |
/// |---|---|
/// | a path, or `file:PATH` | [`FileStore`] |
/// | `sqlite:PATH` | `SqliteStore` (feature `sqlite`) |
/// | `postgres://...`, `postgresql://...` | `PostgresStore` (feature `postgres`) |
/// | `redis://...`, `rediss://...` | `RedisStore` (feature `redis`) |
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnyStore {
    /// A JSON file.
    File(FileStore),
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(super::SqliteStore),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(super::PostgresStore),
    /// Redis.
    #[cfg(feature = "redis")]
    Redis(super::RedisStore),
}

/// The refresh lock of an [`AnyStore`].
#[derive(Debug)]
pub struct AnyLock(LockKind);

#[derive(Debug)]
enum LockKind {
    File(std::fs::File),
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
    Lease(super::LeaseLock),
}

/// A store address fit for messages and logs: its password, if any, replaced by `***`.
pub fn redact_address(address: &str) -> String {
    match url::Url::parse(address) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => address.to_owned(),
    }
}

#[cfg_attr(
    all(feature = "sqlite", feature = "postgres", feature = "redis"),
    allow(dead_code, reason = "every store is built in")
)]
fn not_built(address: &str, feature: &str) -> StoreError {
    StoreError::Config(format!(
        "{}: this build has no `{feature}` store (cargo feature `{feature}`)",
        redact_address(address)
    ))
}

impl AnyStore {
    /// Open the store at `address` (see the table above); network stores connect now, so an
    /// unreachable server is reported here.
    #[allow(clippy::unused_async, reason = "awaits only with the `postgres` or `redis` feature")]
    pub async fn open(address: &str) -> Result<Self, StoreError> {
        let scheme = address.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("postgres" | "postgresql") => {
                #[cfg(feature = "postgres")]
                return Ok(Self::Postgres(super::PostgresStore::connect(address).await?));
                #[cfg(not(feature = "postgres"))]
                return Err(not_built(address, "postgres"));
            }
            Some("redis" | "rediss") => {
                #[cfg(feature = "redis")]
                return Ok(Self::Redis(super::RedisStore::connect(address).await?));
                #[cfg(not(feature = "redis"))]
                return Err(not_built(address, "redis"));
            }
            Some(other) => {
                return Err(StoreError::Config(format!(
                    "{}: unknown store scheme `{other}://` (use a path, sqlite:PATH, postgres://, postgresql://, redis:// or rediss://)",
                    redact_address(address)
                )));
            }
            None => {}
        }
        if let Some(path) = address.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(StoreError::Config("sqlite: needs a path (sqlite:PATH)".into()));
            }
            #[cfg(feature = "sqlite")]
            return Ok(Self::Sqlite(super::SqliteStore::open(path)?));
            #[cfg(not(feature = "sqlite"))]
            return Err(not_built(address, "sqlite"));
        }
        let path = address.strip_prefix("file:").unwrap_or(address);
        if path.is_empty() {
            return Err(StoreError::Config("the store address is empty".into()));
        }
        Ok(Self::File(FileStore::new(PathBuf::from(path))))
    }

    /// The same store with refresh leases of `lease` (SQLite, PostgreSQL, Redis; a file's
    /// lock is released by the system when its holder dies, and has no lease).
    #[must_use]
    pub fn with_lease(self, lease: std::time::Duration) -> Self {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(s) => Self::Sqlite(s.with_lease(lease)),
            #[cfg(feature = "postgres")]
            Self::Postgres(s) => Self::Postgres(s.with_lease(lease)),
            #[cfg(feature = "redis")]
            Self::Redis(s) => Self::Redis(s.with_lease(lease)),
            other => {
                let _ = lease;
                other
            }
        }
    }

    /// What kind of store this is: `file`, `sqlite`, `postgres` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::File(_) => "file",
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => "postgres",
            #[cfg(feature = "redis")]
            Self::Redis(_) => "redis",
        }
    }
}

/// Forward one call to whichever store this is.
macro_rules! each {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            AnyStore::File($s) => $call,
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite($s) => $call,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($s) => $call,
            #[cfg(feature = "redis")]
            AnyStore::Redis($s) => $call,
        }
    };
}

impl TokenStore for AnyStore {
    type Lock = AnyLock;

    async fn load(&self, key: &str) -> Result<Option<Credentials>, StoreError> {
        each!(self, s => s.load(key).await)
    }

    async fn load_versioned(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        each!(self, s => s.load_versioned(key).await)
    }

    async fn save(&self, key: &str, credentials: &Credentials) -> Result<(), StoreError> {
        each!(self, s => s.save(key, credentials).await)
    }

    async fn save_if(
        &self,
        key: &str,
        expected: Option<Version>,
        credentials: &Credentials,
    ) -> Result<Version, StoreError> {
        each!(self, s => s.save_if(key, expected, credentials).await)
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        each!(self, s => s.delete(key).await)
    }

    async fn unlock(&self, lock: AnyLock) {
        match lock.0 {
            LockKind::File(file) => drop(file),
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
            LockKind::Lease(lease) => lease.release().await,
        }
    }

    async fn lock(&self, key: &str) -> Result<AnyLock, StoreError> {
        match self {
            Self::File(s) => Ok(AnyLock(LockKind::File(s.lock(key).await?))),
            #[cfg(feature = "sqlite")]
            Self::Sqlite(s) => Ok(AnyLock(LockKind::Lease(s.lock(key).await?))),
            #[cfg(feature = "postgres")]
            Self::Postgres(s) => Ok(AnyLock(LockKind::Lease(s.lock(key).await?))),
            #[cfg(feature = "redis")]
            Self::Redis(s) => Ok(AnyLock(LockKind::Lease(s.lock(key).await?))),
        }
    }
}
