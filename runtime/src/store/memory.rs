//! An in-memory store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{StoreError, TokenStore};
use crate::Credentials;

/// Credentials in memory: for tests and short-lived programs.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    credentials: Mutex<HashMap<String, Credentials>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Io { path: "memory".into(), reason: "a thread panicked while holding the store".into() }
}

impl TokenStore for MemoryStore {
    type Lock = tokio::sync::OwnedMutexGuard<()>;

    async fn load(&self, key: &str) -> Result<Option<Credentials>, StoreError> {
        Ok(self.inner.credentials.lock().map_err(poisoned)?.get(key).cloned())
    }

    async fn save(&self, key: &str, credentials: &Credentials) -> Result<(), StoreError> {
        self.inner.credentials.lock().map_err(poisoned)?.insert(key.to_owned(), credentials.clone());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.inner.credentials.lock().map_err(poisoned)?.remove(key).is_some())
    }

    async fn lock(&self, key: &str) -> Result<Self::Lock, StoreError> {
        let lock = self.inner.locks.lock().map_err(poisoned)?.entry(key.to_owned()).or_default().clone();
        Ok(lock.lock_owned().await)
    }
}
