//! Token stores: where credentials live between runs, keyed by user or account, and the
//! cross-process lock that makes one refresh at a time possible.
//!
//! | store | use it for |
//! |---|---|
//! | [`MemoryStore`] | tests, short-lived programs |
//! | [`FileStore`] | command-line tools and desktop apps: one JSON file, atomic writes, 0600 |
//! | `SqliteStore` (feature `sqlite`) | servers: one row per key (the classic `StorageByKeyName`) |
//!
//! A store's [`TokenStore::lock`] is held by the [`crate::TokenManager`] around a refresh:
//! after taking it, the manager reads the credentials again and skips the refresh when
//! another process has already stored fresher ones. Stores shared by a fleet (PostgreSQL,
//! Redis) implement the same trait with a lease.

mod file;
mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::future::Future;

pub use file::FileStore;
pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use crate::Credentials;

/// Why a store could not do what was asked. Never holds a token.
#[derive(Debug, thiserror::Error)]
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
}

/// Where credentials are kept, by key.
///
/// Implementations must make `save` atomic: a reader sees the old or the new credentials,
/// never a mix, even when the writer dies mid-write.
pub trait TokenStore: Send + Sync + 'static {
    /// Held while one refresh runs; dropping it releases the lock.
    type Lock: Send + 'static;

    /// The credentials stored under `key`, if any.
    fn load(&self, key: &str) -> impl Future<Output = Result<Option<Credentials>, StoreError>> + Send;

    /// Store `credentials` under `key`, replacing what was there.
    fn save(&self, key: &str, credentials: &Credentials) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Remove `key`; whether it was there.
    fn delete(&self, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Take the refresh lock of `key`, across threads and processes.
    fn lock(&self, key: &str) -> impl Future<Output = Result<Self::Lock, StoreError>> + Send;
}

/// How long [`TokenStore::lock`] waits before giving up.
pub const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
