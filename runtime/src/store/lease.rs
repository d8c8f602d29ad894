//! Refresh locks as leases, for stores shared by several processes or machines (SQLite,
//! PostgreSQL, Redis): taken with one atomic write that names a random holder, renewed in the
//! background while held, released in the background when dropped, and expired by the store
//! if the holder dies.
//!
//! Cancellation: an attempt to take the lease runs in its own task, and the lock it takes is
//! handed over through a channel. If the caller's future is dropped meanwhile, the lock is
//! dropped with the channel, and its release runs: no orphan lease is left behind.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::StoreError;

/// A boxed future, as the backends return them.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a store takes, renews and releases a lease on one key. Each call is one atomic
/// operation on the store, conditional on `holder`.
pub(crate) trait LeaseBackend: Send + Sync + 'static {
    /// Take the lease unless someone else holds an unexpired one; whether it was taken.
    fn try_acquire(&self, key: &str, holder: &str, lease: Duration) -> BoxFuture<Result<bool, StoreError>>;
    /// Extend the lease if `holder` still holds it; whether it does.
    fn renew(&self, key: &str, holder: &str, lease: Duration) -> BoxFuture<Result<bool, StoreError>>;
    /// Give the lease up if `holder` holds it.
    fn release(&self, key: &str, holder: &str) -> BoxFuture<Result<(), StoreError>>;
}

/// A refresh lock held as a lease. Renewed every third of the lease while held; dropping it
/// releases it in a background task (no blocking I/O in `Drop`).
pub struct LeaseLock {
    backend: Arc<dyn LeaseBackend>,
    key: String,
    holder: String,
    held: Arc<AtomicBool>,
    renewal: Option<tokio::task::JoinHandle<()>>,
    released: bool,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock").field("key", &self.key).field("held", &self.is_held()).finish_non_exhaustive()
    }
}

impl LeaseLock {
    /// Whether every renewal so far succeeded: `false` once the store said another holder
    /// has the lease (ours expired). Saves are fenced by version whatever this says.
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// The key it locks.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Give the lease up now, and wait until the store has it. (Dropping the lock releases
    /// it in the background, which a process about to exit may never get to.)
    pub async fn release(mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        if let Err(e) = self.backend.release(&self.key, &self.holder).await {
            tracing::debug!(error = %e, "releasing a refresh lease failed; it will expire");
        }
        // Only now: a caller that gives up halfway leaves the release to `Drop`.
        self.released = true;
    }
}

impl Drop for LeaseLock {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        if self.released {
            return;
        }
        let release = self.backend.release(&self.key, &self.holder);
        // Without a runtime (a lock dropped after its runtime ended) the lease simply expires.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = release.await {
                    tracing::debug!(error = %e, "releasing a refresh lease failed; it will expire");
                }
            });
        }
    }
}

/// A random holder name: the process id and 64 random bits.
pub(crate) fn holder() -> String {
    format!("{}-{:016x}", std::process::id(), fastrand::u64(..))
}

/// Take the lease on `key`, waiting up to `timeout` (polling with backoff).
pub(crate) async fn acquire(
    backend: Arc<dyn LeaseBackend>,
    key: &str,
    lease: Duration,
    timeout: Duration,
) -> Result<LeaseLock, StoreError> {
    let start = Instant::now();
    let mut wait = Duration::from_millis(2);
    loop {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<Option<LeaseLock>, StoreError>>();
        let (b, k) = (backend.clone(), key.to_owned());
        tokio::spawn(async move {
            let holder = holder();
            let result = match b.try_acquire(&k, &holder, lease).await {
                Ok(true) => Ok(Some(start_lock(b, k, holder, lease))),
                Ok(false) => Ok(None),
                Err(e) => {
                    // The attempt may have been applied before it failed (a timeout): give
                    // up whatever this holder may have (a no-op otherwise).
                    let _ = b.release(&k, &holder).await;
                    Err(e)
                }
            };
            // If the caller is gone, the lock is dropped here (or with the channel) and released.
            let _ = tx.send(result);
        });
        let attempt =
            rx.await.map_err(|_| StoreError::Io { path: key.to_owned(), reason: "lock task failed".into() })?;
        if let Some(lock) = attempt? {
            return Ok(lock);
        }
        if start.elapsed() > timeout {
            return Err(StoreError::LockTimeout(key.to_owned()));
        }
        tokio::time::sleep(wait.mul_f64(0.5 + fastrand::f64())).await;
        wait = (wait * 2).min(Duration::from_millis(25));
    }
}

fn start_lock(backend: Arc<dyn LeaseBackend>, key: String, holder: String, lease: Duration) -> LeaseLock {
    let held = Arc::new(AtomicBool::new(true));
    let renewal = {
        let (backend, key, holder, held) = (backend.clone(), key.clone(), holder.clone(), held.clone());
        tokio::spawn(async move {
            let every = lease / 3;
            loop {
                tokio::time::sleep(every).await;
                match backend.renew(&key, &holder, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        held.store(false, Ordering::Release);
                        tracing::warn!(key = %key, "refresh lease lost to another holder; saves stay fenced by version");
                        return;
                    }
                    // A transient failure: try again at the next tick, while the lease lasts.
                    Err(e) => tracing::warn!(key = %key, error = %e, "renewing the refresh lease failed"),
                }
            }
        })
    };
    LeaseLock { backend, key, holder, held, renewal: Some(renewal), released: false }
}
