//! Token stores: where credentials live between runs, keyed by user or account, and the
//! cross-process lock that makes one refresh at a time possible.
//!
//! | store | use it for |
//! |---|---|
//! | [`MemoryStore`] | tests, short-lived programs |
//! | [`FileStore`] | command-line tools and desktop apps: one JSON file, atomic writes, 0600 |
//! | `SqliteStore` (feature `sqlite`) | servers: one row per key (the classic `StorageByKeyName`) |
//! | `PostgresStore` (feature `postgres`) | a fleet of servers sharing one database: pooled connections, leases on the database's clock |
//! | `RedisStore` (feature `redis`) | a fleet of servers sharing one Redis: one hash per key, leases with a TTL |
//! | [`EncryptedStore`] | any store, with credentials encrypted at rest (AES-256-GCM, keys rotated) |
//!
//! A store's [`TokenStore::lock`] is held by the [`crate::TokenManager`] around a refresh:
//! after taking it, the manager reads the credentials again (with their [`Version`]) and
//! skips the refresh when another process has already stored fresher ones. The refreshed
//! credentials are then written with [`TokenStore::save_if`], which succeeds only while the
//! entry still has the version read under the lock: a holder whose lease ran out while it
//! waited on the provider can never overwrite a newer rotation. The version is the lock's
//! fencing token.

mod any;
mod encrypted;
pub(crate) mod file;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
mod lease;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::future::Future;

#[cfg(feature = "redis")]
pub use self::redis::RedisStore;
pub use any::{AnyLock, AnyStore, redact_address};
pub use encrypted::{EncryptedStore, EncryptionKey};
pub use file::FileStore;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub use lease::LeaseLock;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use crate::Credentials;

/// Why a store could not do what was asked. Never holds a token.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file or database.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The stored data cannot be parsed; it was left untouched.
    #[error("{path}: stored credentials are corrupt: {reason}")]
    Corrupt {
        /// The file or database.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The path is a symbolic link, which the store refuses to follow.
    #[error("{0}: is a symbolic link; refusing to follow it")]
    Symlink(String),
    /// The refresh lock could not be taken in time.
    #[error("timed out waiting for the refresh lock of `{0}`")]
    LockTimeout(String),
    /// A fenced save ([`TokenStore::save_if`]) found the entry changed since it was read:
    /// someone else stored newer credentials, which were left in place.
    #[error("the credentials stored under `{0}` changed since they were read; the newer ones were kept")]
    Conflict(String),
    /// The store's address or configuration is not usable.
    #[error("{0}")]
    Config(String),
}

/// The version of a stored entry: it changes with every save, so a save can be made
/// conditional on nothing having been written since a read ([`TokenStore::save_if`]).
/// Opaque: compare versions for equality only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version(u64);

impl Version {
    /// A version from a store's own counter or hash.
    pub const fn new(v: u64) -> Self {
        Self(v)
    }

    /// The number behind it.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// Credentials as read from a store, with their [`Version`].
#[derive(Debug, Clone)]
pub struct Stored {
    /// The credentials.
    pub credentials: Credentials,
    /// Their version.
    pub version: Version,
}

/// Where credentials are kept, by key.
///
/// Implementations must make `save` and `save_if` atomic: a reader sees the old or the new
/// credentials, never a mix, even when the writer dies mid-write.
///
/// Every future a store returns must be safe to drop at any point: a dropped `lock` leaves
/// no lock behind, and a dropped `save` has written the new credentials or nothing.
pub trait TokenStore: Send + Sync + 'static {
    /// Held while one refresh runs; dropping it releases the lock (without blocking: stores
    /// that release over the network do so in a background task). Leases are renewed while
    /// the lock is held.
    type Lock: Send + 'static;

    /// The credentials stored under `key`, if any.
    fn load(&self, key: &str) -> impl Future<Output = Result<Option<Credentials>, StoreError>> + Send {
        async move { Ok(self.load_versioned(key).await?.map(|s| s.credentials)) }
    }

    /// The credentials stored under `key` and their version, if any.
    fn load_versioned(&self, key: &str) -> impl Future<Output = Result<Option<Stored>, StoreError>> + Send;

    /// Store `credentials` under `key`, replacing what was there.
    fn save(&self, key: &str, credentials: &Credentials) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Store `credentials` under `key` only if the entry still has version `expected`
    /// (`None`: only if there is no entry); the new version. When the entry has changed,
    /// nothing is written and the error is [`StoreError::Conflict`].
    fn save_if(
        &self,
        key: &str,
        expected: Option<Version>,
        credentials: &Credentials,
    ) -> impl Future<Output = Result<Version, StoreError>> + Send;

    /// Remove `key`; whether it was there.
    fn delete(&self, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Take the refresh lock of `key`, across threads and processes.
    fn lock(&self, key: &str) -> impl Future<Output = Result<Self::Lock, StoreError>> + Send;

    /// Release a lock taken with [`lock`](Self::lock) and wait until it is released. The
    /// default drops it; stores whose release is a network round trip do it here, so that a
    /// process that exits next leaves no lease behind.
    fn unlock(&self, lock: Self::Lock) -> impl Future<Output = ()> + Send {
        drop(lock);
        std::future::ready(())
    }
}

/// How long [`TokenStore::lock`] waits before giving up.
pub const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
