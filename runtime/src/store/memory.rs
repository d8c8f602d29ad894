//! An in-memory store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{StoreError, Stored, TokenStore, Version};
use crate::Credentials;

/// Credentials in memory: for tests and short-lived programs.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    credentials: Mutex<HashMap<String, Stored>>,
    versions: std::sync::atomic::AtomicU64,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn next_version(&self) -> Version {
        Version::new(self.inner.versions.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1)
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Io { path: "memory".into(), reason: "a thread panicked while holding the store".into() }
}

impl TokenStore for MemoryStore {
    type Lock = tokio::sync::OwnedMutexGuard<()>;

    async fn load_versioned(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        Ok(self.inner.credentials.lock().map_err(poisoned)?.get(key).cloned())
    }

    async fn save(&self, key: &str, credentials: &Credentials) -> Result<(), StoreError> {
        let version = self.next_version();
        let stored = Stored { credentials: credentials.clone(), version };
        self.inner.credentials.lock().map_err(poisoned)?.insert(key.to_owned(), stored);
        Ok(())
    }

    async fn save_if(
        &self,
        key: &str,
        expected: Option<Version>,
        credentials: &Credentials,
    ) -> Result<Version, StoreError> {
        let version = self.next_version();
        let mut map = self.inner.credentials.lock().map_err(poisoned)?;
        if map.get(key).map(|s| s.version) != expected {
            return Err(StoreError::Conflict(key.to_owned()));
        }
        map.insert(key.to_owned(), Stored { credentials: credentials.clone(), version });
        Ok(version)
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.inner.credentials.lock().map_err(poisoned)?.remove(key).is_some())
    }

    async fn lock(&self, key: &str) -> Result<Self::Lock, StoreError> {
        let lock = self.inner.locks.lock().map_err(poisoned)?.entry(key.to_owned()).or_default().clone();
        Ok(lock.lock_owned().await)
    }
}
