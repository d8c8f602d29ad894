//! The token manager: one credential key, a lock-free cached fast path, and a refresh that
//! happens once however many callers, threads or processes want it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use oauth2::AccessToken;
use tokio::sync::{Notify, broadcast, watch};

use crate::store::{StoreError, Stored, TokenStore, Version};
use crate::{Credentials, Error, Refresh};

/// What changed, as told to [`TokenManager::subscribe`]rs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenEvent {
    /// This process refreshed the credentials and stored them.
    Refreshed {
        /// The store key.
        key: String,
        /// The new expiry.
        expires_at: Option<DateTime<Utc>>,
    },
    /// Fresh credentials were found in the store (saved by another process or an earlier run).
    Loaded {
        /// The store key.
        key: String,
        /// Their expiry.
        expires_at: Option<DateTime<Utc>>,
    },
    /// The provider refused the refresh token (`invalid_grant`); the credentials were marked
    /// invalid in the store.
    Invalidated {
        /// The store key.
        key: String,
    },
    /// Saving refreshed credentials failed. They are kept in memory and handed out, and the
    /// save is tried again on the next call; nothing received is thrown away.
    SaveFailed {
        /// The store key.
        key: String,
        /// Why the save failed.
        reason: String,
    },
    /// Credentials whose save had failed were saved after all.
    SaveRecovered {
        /// The store key.
        key: String,
    },
    /// Another holder stored newer credentials while this process was refreshing (its lease
    /// ran out, or someone signed in again): theirs were kept, ours were not written.
    Superseded {
        /// The store key.
        key: String,
    },
}

/// Knobs of a [`TokenManager`].
#[derive(Debug, Clone, Copy)]
pub struct ManagerOptions {
    /// Refresh this long before the access token expires, but never earlier than half-way
    /// through its lifetime (so a token living 60 s or less is not due the moment it
    /// arrives). Default: the spec's `refresh.margin_seconds` (60 s unless the spec says
    /// otherwise).
    pub margin: Option<Duration>,
    /// Attempts at a refresh that fails transiently (5xx, 429, timeouts, connection errors),
    /// the first included. Default 4.
    pub attempts: u32,
    /// The first backoff; doubled after each failure, with jitter. Default 200 ms.
    pub backoff: Duration,
    /// The longest single wait, `Retry-After` included. Default 10 s.
    pub max_backoff: Duration,
    /// Proactive refresh: a background task renews the token at a random moment within
    /// this window before it falls due, so no caller waits on a refresh; servers of a fleet
    /// sharing a store spread their attempts over the window, and the first one's refresh is
    /// loaded by the others. The window is capped at a quarter of the token's lifetime.
    /// Default `None` (off). The task ends when the last clone of the manager is dropped.
    pub proactive: Option<Duration>,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        Self {
            margin: None,
            attempts: 4,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            proactive: None,
        }
    }
}

impl ManagerOptions {
    /// The defaults with a refresh margin.
    #[must_use]
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = Some(margin);
        self
    }

    /// The defaults with `attempts` tries at a transiently failing refresh.
    #[must_use]
    pub fn attempts(mut self, attempts: u32, backoff: Duration, max_backoff: Duration) -> Self {
        self.attempts = attempts;
        self.backoff = backoff;
        self.max_backoff = max_backoff;
        self
    }

    /// Renew in the background within `window` before the token falls due.
    #[must_use]
    pub fn proactive(mut self, window: Duration) -> Self {
        self.proactive = Some(window);
        self
    }
}

/// The fast path reads the coarse monotonic clock (`CLOCK_MONOTONIC_COARSE` on Linux: a few
/// nanoseconds instead of twenty-odd); deadlines are moved earlier by more than its
/// resolution, so a token is never handed out past its refresh margin.
const COARSE_SLACK: Duration = Duration::from_millis(20);

/// How a [`TokenManager`] gets new credentials when the stored ones are due.
///
/// Every provider whose spec declares `refresh_token` renews with its refresh token (a
/// blanket implementation); [`ServiceAccountAuth`] renews by signing a new assertion.
pub trait Renew: Send + Sync + 'static {
    /// New credentials, given the stored ones (`None` when the store holds none).
    fn renew(&self, current: Option<&Credentials>) -> impl Future<Output = Result<Credentials, Error>> + Send;

    /// The provider's default refresh margin.
    fn default_margin(&self) -> Duration;

    /// The provider's configuration, when there is one: the authorized client sends its
    /// `api.headers`.
    fn provider_config(&self) -> Option<&crate::ProviderConfig> {
        None
    }
}

impl<P: Refresh + 'static> Renew for P {
    async fn renew(&self, current: Option<&Credentials>) -> Result<Credentials, Error> {
        let Some(current) = current else { return Err(Error::NoRefreshToken) };
        let mut credentials = current.clone();
        crate::refresh(self, &mut credentials).await.map(|()| credentials)
    }

    fn default_margin(&self) -> Duration {
        Duration::from_secs(self.config().spec().refresh.margin_seconds.into())
    }

    fn provider_config(&self) -> Option<&crate::ProviderConfig> {
        Some(self.config())
    }
}

/// Service-account credentials for a [`TokenManager`]: each renewal signs a new assertion
/// (RFC 7523), so nothing needs to be stored first.
#[derive(Debug)]
pub struct ServiceAccountAuth<P> {
    provider: P,
    key: crate::ServiceAccountKey,
    scopes: Vec<String>,
    subject: Option<String>,
}

impl<P: crate::ServiceAccount> ServiceAccountAuth<P> {
    /// Tokens for `scopes` (the spec's defaults when empty), acting for `subject` when given.
    pub fn new<S: AsRef<str>>(provider: P, key: crate::ServiceAccountKey, scopes: &[S], subject: Option<&str>) -> Self {
        let scopes = scopes.iter().map(|s| s.as_ref().to_owned()).collect();
        Self { provider, key, scopes, subject: subject.map(str::to_owned) }
    }

    /// The provider.
    pub fn provider(&self) -> &P {
        &self.provider
    }
}

impl<P: crate::ServiceAccount + 'static> Renew for ServiceAccountAuth<P> {
    async fn renew(&self, _current: Option<&Credentials>) -> Result<Credentials, Error> {
        crate::service_account_token(&self.provider, &self.key, &self.scopes, self.subject.as_deref()).await
    }

    fn default_margin(&self) -> Duration {
        Duration::from_secs(self.provider.config().spec().refresh.margin_seconds.into())
    }

    fn provider_config(&self) -> Option<&crate::ProviderConfig> {
        Some(self.provider.config())
    }
}

/// A stored expiry is untrusted (oauth2client files carry `9999-12-31`): a token is never
/// taken to stay fresh longer than this, which keeps the clock arithmetic far from overflow.
const MAX_FRESH: Duration = Duration::from_secs(366 * 24 * 3600);

#[derive(Debug)]
struct Cached {
    token: AccessToken,
    /// When to refresh: expiry less the margin (and the coarse clock's slack). `None`: the
    /// token states no lifetime.
    refresh_at: Option<coarsetime::Instant>,
    /// A quarter of the token's lifetime: how far ahead a proactive refresh may start.
    ahead_cap: Duration,
    /// The placeholder that holds no token.
    placeholder: bool,
    /// The DPoP key a DPoP-bound token needs a proof of.
    dpop: Option<crate::DpopKey>,
}

impl Cached {
    /// The placeholder before the first load and after an invalidation: never fresh.
    fn stale() -> Self {
        Self {
            token: AccessToken::new(String::new()),
            refresh_at: Some(coarsetime::Instant::now_without_cache_update()),
            ahead_cap: Duration::ZERO,
            placeholder: true,
            dpop: None,
        }
    }

    fn new(credentials: &Credentials, margin: Duration) -> Self {
        let refresh_at = refresh_at(credentials, margin).map(|at| {
            let left = at.saturating_duration_since(Instant::now()).saturating_sub(COARSE_SLACK);
            coarsetime::Instant::now_without_cache_update() + coarsetime::Duration::from(left)
        });
        let ahead_cap = lifetime(credentials).map_or(Duration::ZERO, |l| l / 4);
        let dpop = if credentials.is_dpop() { credentials.dpop_key.clone() } else { None };
        Self { token: credentials.access_token.clone(), refresh_at, ahead_cap, placeholder: false, dpop }
    }

    fn fresh(&self) -> bool {
        self.refresh_at.is_none_or(|at| coarsetime::Instant::now_without_cache_update() < at)
    }

    /// How long until it falls due; `None` when it never does.
    fn due_in(&self) -> Option<Duration> {
        let at = self.refresh_at?;
        let now = coarsetime::Instant::now_without_cache_update();
        Some(if at > now { Duration::from(at - now) } else { Duration::ZERO })
    }
}

/// An access token from a [`TokenManager`]: getting and cloning one copies no token string.
/// It dereferences to [`AccessToken`]; `Debug` prints no secret.
pub struct Token(TokenRef);

enum TokenRef {
    /// The fast path: a lease on the cache slot, with no shared reference count touched.
    Cached(arc_swap::Guard<Arc<Cached>>),
    Owned(Arc<Cached>),
}

impl Token {
    /// The access token string.
    pub fn secret(&self) -> &str {
        self.access_token().secret()
    }

    /// The access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.cached().token
    }

    /// The key of a DPoP-bound token (RFC 9449): requests carry it as `Authorization: DPoP`
    /// with a proof signed by this key. `None` for a bearer token.
    pub fn dpop_key(&self) -> Option<&crate::DpopKey> {
        self.cached().dpop.as_ref()
    }

    fn cached(&self) -> &Cached {
        match &self.0 {
            TokenRef::Cached(guard) => guard,
            TokenRef::Owned(cached) => cached,
        }
    }
}

impl std::ops::Deref for Token {
    type Target = AccessToken;

    fn deref(&self) -> &AccessToken {
        self.access_token()
    }
}

impl Clone for Token {
    fn clone(&self) -> Self {
        match &self.0 {
            TokenRef::Cached(guard) => Self(TokenRef::Owned(Arc::clone(guard))),
            TokenRef::Owned(cached) => Self(TokenRef::Owned(cached.clone())),
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// The result of one refresh, shared by everyone who waits for it.
type Outcome = Option<Result<Arc<Cached>, Error>>;

/// Credentials received but not yet stored (the save failed), the version they replace,
/// and the refresh token the store holds at that version.
struct Unsaved {
    credentials: Credentials,
    base: Option<Version>,
    base_refresh: Option<String>,
}

struct Inner<P, S> {
    provider: P,
    store: S,
    key: String,
    cache: ArcSwap<Cached>,
    /// The refresh in progress, if any: it runs in its own task, to completion, whether or
    /// not anyone still waits for it.
    flight: Mutex<Option<watch::Receiver<Outcome>>>,
    /// Newest credentials that could not be saved; tried again on the next call.
    unsaved: Mutex<Option<Unsaved>>,
    has_unsaved: AtomicBool,
    options: ManagerOptions,
    margin: Duration,
    events: broadcast::Sender<TokenEvent>,
    token_requests: AtomicU64,
    /// Woken whenever the cache changes (for the proactive task), and when the manager goes.
    changed: Arc<Notify>,
    /// For the backoff of retried saves: when this manager was made, the earliest next try
    /// (milliseconds since then), and how many tries since the last success.
    born: Instant,
    save_retry_at: AtomicU64,
    save_retries: AtomicU32,
}

impl<P, S> Drop for Inner<P, S> {
    fn drop(&mut self) {
        // Wakes the proactive task, which then finds the manager gone and ends.
        self.changed.notify_waiters();
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Access tokens for one credential key, refreshed ahead of expiry.
///
/// - [`token`](Self::token) takes no lock while the cached token is fresh;
/// - a refresh is single-flight: one token request however many callers wait, and every
///   caller that waited gets the token it produced;
/// - a refresh runs in a task of its own: a caller that gives up (a timeout, a client that
///   disconnects) does not cancel it, so a rotated refresh token is always stored;
/// - across processes, the store's lock is taken and the credentials read again, so a
///   refresh another process already made is used instead of repeated, and the new
///   credentials are saved only if the entry is still the one read (fenced by version);
/// - a rotated refresh token is saved before the new access token is handed out; if the
///   save fails, the credentials are kept in memory, handed out, and saved on a later call;
/// - `invalid_grant` marks the stored credentials `invalid`;
/// - transient failures are retried with bounded exponential backoff and jitter; after a
///   failure that may have reached the provider, the store is read again before retrying.
///
/// Cloning is cheap and shares everything.
pub struct TokenManager<P, S> {
    inner: Arc<Inner<P, S>>,
}

impl<P, S> Clone for TokenManager<P, S> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<P, S> std::fmt::Debug for TokenManager<P, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager").field("key", &self.inner.key).finish_non_exhaustive()
    }
}

/// The access token's lifetime, when the credentials say when it was issued.
fn lifetime(credentials: &Credentials) -> Option<Duration> {
    let (issued, expires) = (credentials.issued_at?, credentials.expires_at?);
    Some((expires - issued).to_std().unwrap_or(Duration::ZERO).min(MAX_FRESH))
}

/// When credentials fall due: `margin` before expiry, but not before half their lifetime.
fn refresh_at(credentials: &Credentials, margin: Duration) -> Option<Instant> {
    let expires_at = credentials.expires_at?;
    let left = (expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(MAX_FRESH);
    let margin = lifetime(credentials).map_or(margin, |l| margin.min(l / 2));
    Some(Instant::now() + left.saturating_sub(margin))
}

/// What a renewal ended with.
enum Renewed {
    /// New credentials from the provider.
    New(Credentials),
    /// Another process stored fresh credentials meanwhile.
    Found(Stored),
}

impl<P: Renew, S: TokenStore> TokenManager<P, S> {
    /// A manager for the credentials stored under `key`, renewed by `provider` (a provider
    /// with refresh tokens, or a [`ServiceAccountAuth`]).
    pub fn new(provider: P, store: S, key: impl Into<String>) -> Self {
        Self::with_options(provider, store, key, ManagerOptions::default())
    }

    /// [`new`](Self::new) with options. With [`ManagerOptions::proactive`], call it inside a
    /// Tokio runtime: the background task is spawned on it.
    pub fn with_options(provider: P, store: S, key: impl Into<String>, options: ManagerOptions) -> Self {
        let margin = options.margin.unwrap_or_else(|| provider.default_margin());
        let (events, _) = broadcast::channel(64);
        let manager = Self {
            inner: Arc::new(Inner {
                provider,
                store,
                key: key.into(),
                cache: ArcSwap::from_pointee(Cached::stale()),
                flight: Mutex::new(None),
                unsaved: Mutex::new(None),
                has_unsaved: AtomicBool::new(false),
                options,
                margin,
                events,
                token_requests: AtomicU64::new(0),
                changed: Arc::new(Notify::new()),
                born: Instant::now(),
                save_retry_at: AtomicU64::new(0),
                save_retries: AtomicU32::new(0),
            }),
        };
        if let Some(window) = options.proactive {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(proactive(Arc::downgrade(&manager.inner), manager.inner.changed.clone(), window));
            } else {
                tracing::warn!("proactive refresh needs a Tokio runtime; it is off");
            }
        }
        manager
    }

    /// The store key.
    pub fn key(&self) -> &str {
        &self.inner.key
    }

    /// The provider.
    pub fn provider(&self) -> &P {
        &self.inner.provider
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Token events: refreshed, loaded from the store, invalidated, save failures.
    pub fn subscribe(&self) -> broadcast::Receiver<TokenEvent> {
        self.inner.events.subscribe()
    }

    /// How many renewals (token requests) this manager has attempted.
    pub fn token_requests(&self) -> u64 {
        self.inner.token_requests.load(Ordering::Relaxed)
    }

    /// Whether credentials received from the provider are waiting to be saved (a save
    /// failed; it is tried again on the next call).
    pub fn has_unsaved(&self) -> bool {
        self.inner.has_unsaved.load(Ordering::Acquire)
    }

    /// Wait until no refresh is in progress (one started by a caller who has since given up
    /// goes on in the background). Call it before a process exits, so that what the provider
    /// has just issued is stored.
    pub async fn wait_idle(&self) {
        loop {
            let running = locked(&self.inner.flight).clone();
            let Some(mut running) = running else { return };
            if running.borrow().is_some() || running.has_changed().is_err() {
                return;
            }
            let _ = running.wait_for(Option::is_some).await;
        }
    }

    /// A valid access token: the cached one while it is fresh, else a refreshed one.
    ///
    /// Dropping the returned future does not cancel a refresh it started.
    pub async fn token(&self) -> Result<Token, Error> {
        let cached = self.inner.cache.load();
        if cached.fresh() {
            if self.inner.has_unsaved.load(Ordering::Relaxed) {
                self.retry_save();
            }
            return Ok(Token(TokenRef::Cached(cached)));
        }
        drop(cached);
        self.slow_path(None).await
    }

    /// A save failed earlier: try it again in the background, with backoff between tries.
    #[cold]
    fn retry_save(&self) {
        let inner = &self.inner;
        let now = inner.born.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
        let not_before = inner.save_retry_at.load(Ordering::Relaxed);
        if now < not_before
            || inner.save_retry_at.compare_exchange(not_before, u64::MAX, Ordering::AcqRel, Ordering::Relaxed).is_err()
        {
            return;
        }
        let tries = inner.save_retries.fetch_add(1, Ordering::Relaxed).min(8);
        let wait = (250_u64 << tries).min(30_000);
        inner.save_retry_at.store(now.saturating_add(wait), Ordering::Release);
        if let Err(e) = join_or_start(inner, None, Duration::ZERO, true) {
            tracing::warn!(key = %inner.key, error = %e, "cannot retry the failed save");
        }
    }

    /// The token was refused (HTTP 401): forget it and get another. When another caller has
    /// already replaced it, that newer token is returned without a new request.
    pub fn token_after_rejection(
        &self,
        rejected: &AccessToken,
    ) -> impl Future<Output = Result<Token, Error>> + Send + '_ {
        // Owned before the future starts: a future holding `&AccessToken` would not be
        // `Send` for every lifetime, which the authorized client needs.
        let rejected = rejected.secret().clone();
        self.slow_path(Some(rejected))
    }

    async fn slow_path(&self, rejected: Option<String>) -> Result<Token, Error> {
        for _ in 0..2 {
            let Some(mut flight) = join_or_start(&self.inner, rejected.clone(), Duration::ZERO, false)? else {
                // Fresh after all (another caller refreshed meanwhile).
                return Ok(Token(TokenRef::Owned(self.inner.cache.load_full())));
            };
            let outcome = flight.wait_for(Option::is_some).await;
            let token = match outcome.as_deref() {
                Ok(Some(Ok(cached))) => Token(TokenRef::Owned(cached.clone())),
                Ok(Some(Err(e))) if !matches!(e, Error::RefreshAborted(_)) => return Err(e.clone()),
                // The flight's task ended without a result (its runtime shut down): start
                // another.
                _ => continue,
            };
            // A flight started by someone else (a save retried, a proactive reload) may have
            // produced the very token that was just refused: then one of our own.
            if rejected.as_deref() != Some(token.secret()) {
                return Ok(token);
            }
        }
        Err(Error::RefreshAborted(self.inner.key.clone()))
    }
}

/// The task of one refresh. However it ends (its result, a panic, its runtime shutting
/// down), dropping it clears the flight slot and tells the waiters, so no flight is left
/// that never finishes.
struct FlightGuard<P, S> {
    inner: Arc<Inner<P, S>>,
    rx: watch::Receiver<Outcome>,
    tx: watch::Sender<Outcome>,
    result: Option<Result<Arc<Cached>, Error>>,
}

impl<P, S> FlightGuard<P, S> {
    /// The result, published when the guard drops.
    fn finish(mut self, result: Result<Arc<Cached>, Error>) {
        self.result = Some(result);
    }
}

impl<P, S> Drop for FlightGuard<P, S> {
    fn drop(&mut self) {
        {
            let mut slot = locked(&self.inner.flight);
            if slot.as_ref().is_some_and(|running| running.same_channel(&self.rx)) {
                // Cleared before the result is published: a caller that then finds no flight
                // sees the updated cache.
                *slot = None;
            }
        }
        let result = self.result.take().unwrap_or_else(|| Err(Error::RefreshAborted(self.inner.key.clone())));
        self.tx.send_replace(Some(result));
        self.inner.changed.notify_waiters();
    }
}

/// Join the refresh in progress, or start one (unless the cache turns out fresh and the
/// caller is not after a replacement for `rejected`; `force` starts one anyway). Outside a
/// Tokio runtime no refresh can run: an error.
fn join_or_start<P: Renew, S: TokenStore>(
    inner: &Arc<Inner<P, S>>,
    rejected: Option<String>,
    ahead: Duration,
    force: bool,
) -> Result<Option<watch::Receiver<Outcome>>, Error> {
    let mut flight = locked(&inner.flight);
    // A flight whose result is out (or whose task is gone) is over, whatever the slot says.
    if let Some(running) = &*flight
        && running.borrow().is_none()
        && running.has_changed().is_ok()
    {
        return Ok(Some(running.clone()));
    }
    if !force {
        let cached = inner.cache.load();
        let replaced = rejected.as_deref() != Some(cached.token.secret().as_str());
        if cached.fresh() && replaced && ahead.is_zero() {
            return Ok(None);
        }
    }
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| Error::Store(StoreError::Config("the token manager needs a Tokio runtime".into())))?;
    let (tx, rx) = watch::channel(None);
    let guard = FlightGuard { inner: inner.clone(), rx: rx.clone(), tx, result: None };
    // Spawned while the slot is held, so the task cannot clear it before it is filled.
    runtime.spawn(async move {
        let result = refresh(&guard.inner, rejected, ahead).await;
        if let Err(e) = &result {
            tracing::debug!(key = %guard.inner.key, error = %e, "refresh failed");
        }
        guard.finish(result);
    });
    *flight = Some(rx.clone());
    Ok(Some(rx))
}

/// What a refresh starts from: the stored credentials, or newer ones whose save failed.
struct Current {
    credentials: Option<Credentials>,
    /// The version a save must find.
    base: Option<Version>,
    /// The refresh token the store holds at `base`: what our credentials replace.
    base_refresh: Option<String>,
    /// `credentials` are newer than the store's: their save failed.
    unsaved: bool,
}

fn refresh_secret(c: &Credentials) -> Option<String> {
    c.refresh_token.as_ref().map(|t| t.secret().clone())
}

/// The stored credentials, or newer ones whose save failed (unless the store now holds newer
/// ones still). The unsaved ones are taken out of memory: whoever calls this puts them back
/// ([`restore_unsaved`]) or saves them.
async fn current<P: Renew, S: TokenStore>(inner: &Inner<P, S>) -> Result<Current, Error> {
    let stored = inner.store.load_versioned(&inner.key).await?;
    let base = stored.as_ref().map(|s| s.version);
    let stored_refresh = stored.as_ref().and_then(|s| refresh_secret(&s.credentials));
    let unsaved = locked(&inner.unsaved).take();
    inner.has_unsaved.store(false, Ordering::Release);
    match unsaved {
        // The store still holds what ours replace: the same version, or a later write of the
        // same refresh token (another process marked it invalid when the provider refused
        // it, since we had rotated it already). Ours are the newest.
        Some(u) if u.base == base || (stored.is_some() && stored_refresh == u.base_refresh) => {
            Ok(Current { credentials: Some(u.credentials), base, base_refresh: u.base_refresh, unsaved: true })
        }
        other => {
            if other.is_some() {
                tracing::warn!(key = %inner.key, "the store changed since a save failed; the stored credentials win");
            }
            Ok(Current {
                credentials: stored.map(|s| s.credentials),
                base,
                base_refresh: stored_refresh,
                unsaved: false,
            })
        }
    }
}

/// Unsaved credentials taken by [`current`] go back to memory, to be saved later.
fn restore_unsaved<P, S>(inner: &Inner<P, S>, current: Current) {
    if let (true, Some(credentials)) = (current.unsaved, current.credentials) {
        *locked(&inner.unsaved) = Some(Unsaved { credentials, base: current.base, base_refresh: current.base_refresh });
        inner.has_unsaved.store(true, Ordering::Release);
    }
}

fn keep_unsaved<P, S>(
    inner: &Inner<P, S>,
    credentials: Credentials,
    base: Option<Version>,
    base_refresh: Option<String>,
    e: &StoreError,
) {
    tracing::error!(key = %inner.key, error = %e, "saving refreshed credentials failed; keeping them in memory");
    *locked(&inner.unsaved) = Some(Unsaved { credentials, base, base_refresh });
    inner.has_unsaved.store(true, Ordering::Release);
    let _ = inner.events.send(TokenEvent::SaveFailed { key: inner.key.clone(), reason: e.to_string() });
}

/// A save succeeded: the retry backoff starts over.
fn saved<P, S>(inner: &Inner<P, S>) {
    inner.save_retries.store(0, Ordering::Relaxed);
    inner.save_retry_at.store(0, Ordering::Release);
}

fn publish<P, S>(inner: &Inner<P, S>, credentials: &Credentials) -> Arc<Cached> {
    let cached = Arc::new(Cached::new(credentials, inner.margin));
    inner.cache.store(cached.clone());
    cached
}

/// One refresh, run to completion in its own task, under the store's lock (released, and
/// waited for, before anyone hears the result: a process may exit right after).
async fn refresh<P: Renew, S: TokenStore>(
    inner: &Inner<P, S>,
    rejected: Option<String>,
    ahead: Duration,
) -> Result<Arc<Cached>, Error> {
    let lock = inner.store.lock(&inner.key).await?;
    let result = refresh_locked(inner, rejected, ahead).await;
    inner.store.unlock(lock).await;
    result
}

async fn refresh_locked<P: Renew, S: TokenStore>(
    inner: &Inner<P, S>,
    rejected: Option<String>,
    ahead: Duration,
) -> Result<Arc<Cached>, Error> {
    let key = &inner.key;
    let current = current(inner).await?;
    if let Some(c) = &current.credentials {
        if c.invalid {
            inner.cache.store(Arc::new(Cached::stale()));
            return Err(Error::InvalidCredentials(key.clone()));
        }
        let stale = rejected.as_deref() == Some(c.access_token.secret().as_str());
        // At least twice the coarse clock's slack, so that a token the fast path finds due
        // is due here too (no reload loop).
        let ahead = lifetime(c).map_or(Duration::ZERO, |l| ahead.min(l / 4)).max(2 * COARSE_SLACK);
        let due = refresh_at(c, inner.margin).is_some_and(|at| Instant::now() + ahead >= at);
        if !stale && !due {
            if current.unsaved {
                // Fresh, but never stored: store it now.
                match inner.store.save_if(key, current.base, c).await {
                    Ok(_) => {
                        saved(inner);
                        let _ = inner.events.send(TokenEvent::SaveRecovered { key: key.clone() });
                    }
                    Err(e) => keep_unsaved(inner, c.clone(), current.base, current.base_refresh.clone(), &e),
                }
            } else {
                let _ = inner.events.send(TokenEvent::Loaded { key: key.clone(), expires_at: c.expires_at });
            }
            return Ok(publish(inner, c));
        }
    }
    let fresh = match renew_with_retries(inner, current.credentials.as_ref(), current.base).await {
        Ok(Renewed::New(fresh)) => fresh,
        Ok(Renewed::Found(stored)) => {
            let _ =
                inner.events.send(TokenEvent::Loaded { key: key.clone(), expires_at: stored.credentials.expires_at });
            return Ok(publish(inner, &stored.credentials));
        }
        Err(e) => {
            // Unsaved credentials are still the newest we have, unless the provider has just
            // refused them (then they are marked invalid in the store).
            if !is_invalid_grant(&e) && !matches!(e, Error::RefreshOutcomeUnknown { .. }) {
                restore_unsaved(inner, current);
            }
            return Err(e);
        }
    };
    // Saved (fenced by the version read under the lock) before anyone sees the new token.
    save_fresh(inner, &current, &fresh).await;
    let cached = publish(inner, &fresh);
    let _ = inner.events.send(TokenEvent::Refreshed { key: key.clone(), expires_at: fresh.expires_at });
    Ok(cached)
}

/// Store what the provider just issued. Never drops it: on failure it is kept in memory.
async fn save_fresh<P: Renew, S: TokenStore>(inner: &Inner<P, S>, current: &Current, fresh: &Credentials) {
    let key = &inner.key;
    let Err(e) = inner.store.save_if(key, current.base, fresh).await else {
        saved(inner);
        return;
    };
    if !matches!(e, StoreError::Conflict(_)) {
        return keep_unsaved(inner, fresh.clone(), current.base, current.base_refresh.clone(), &e);
    }
    // Someone wrote meanwhile (our lease ran out, or a new sign-in). Theirs wins if it is
    // newer than what we refreshed from; ours wins over a copy of an entry we had replaced
    // or a refusal of a refresh token we had rotated.
    match inner.store.load_versioned(key).await {
        Ok(Some(now)) => {
            let theirs = refresh_secret(&now.credentials);
            let older = now.credentials.invalid
                || theirs == current.base_refresh
                || current.credentials.as_ref().is_some_and(|c| theirs == refresh_secret(c));
            if older {
                match inner.store.save_if(key, Some(now.version), fresh).await {
                    Ok(_) => saved(inner),
                    Err(e) => keep_unsaved(inner, fresh.clone(), Some(now.version), theirs, &e),
                }
            } else {
                tracing::warn!(key = %key, "newer credentials were stored while refreshing; keeping them");
                let _ = inner.events.send(TokenEvent::Superseded { key: key.clone() });
            }
        }
        // Deleted meanwhile (signed out or revoked): not brought back.
        Ok(None) => {
            let _ = inner.events.send(TokenEvent::Superseded { key: key.clone() });
        }
        Err(e) => keep_unsaved(inner, fresh.clone(), current.base, current.base_refresh.clone(), &e),
    }
}

async fn renew_with_retries<P: Renew, S: TokenStore>(
    inner: &Inner<P, S>,
    current: Option<&Credentials>,
    base: Option<Version>,
) -> Result<Renewed, Error> {
    let mut backoff = inner.options.backoff;
    let mut attempt = 1;
    // Set once an attempt failed after it may have reached the provider.
    let mut ambiguous: Option<String> = None;
    loop {
        inner.token_requests.fetch_add(1, Ordering::Relaxed);
        match inner.provider.renew(current).await {
            Ok(mut credentials) => {
                credentials.issued_at.get_or_insert_with(Utc::now);
                return Ok(Renewed::New(credentials));
            }
            // Nothing stored and nothing to renew from: authorize first.
            Err(Error::NoRefreshToken) if current.is_none() => return Err(Error::NoCredentials(inner.key.clone())),
            Err(e) if is_invalid_grant(&e) && current.is_some_and(|s| s.refresh_token.is_some()) => {
                // The grant is gone: say so in the store, once and for all.
                if let Some(current) = current {
                    let mut invalid = current.clone();
                    invalid.invalid = true;
                    match inner.store.save_if(&inner.key, base, &invalid).await {
                        Ok(_) | Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                inner.cache.store(Arc::new(Cached::stale()));
                let _ = inner.events.send(TokenEvent::Invalidated { key: inner.key.clone() });
                return Err(match ambiguous {
                    Some(earlier) => Error::RefreshOutcomeUnknown { key: inner.key.clone(), earlier },
                    None => e,
                });
            }
            Err(e) if e.is_transient() && attempt < inner.options.attempts.max(1) => {
                let server_wait = match &e {
                    Error::Unavailable { retry_after: Some(d), .. } => *d,
                    _ => Duration::ZERO,
                };
                if matches!(e, Error::Http { maybe_sent: true, .. }) {
                    ambiguous = Some(e.to_string());
                }
                // Full jitter on the exponential part; never less than the server asked.
                let jittered = backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
                tokio::time::sleep(jittered.max(server_wait).min(inner.options.max_backoff)).await;
                backoff = (backoff * 2).min(inner.options.max_backoff);
                attempt += 1;
                if ambiguous.is_some() {
                    // The provider may have answered someone: another process (whose lease
                    // began when ours lapsed) may have stored the result.
                    if let Ok(Some(stored)) = inner.store.load_versioned(&inner.key).await
                        && Some(stored.version) != base
                        && stored.credentials.is_usable()
                    {
                        return Ok(Renewed::Found(stored));
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_invalid_grant(e: &Error) -> bool {
    matches!(e, Error::OAuth { error, .. } if error == "invalid_grant")
}

/// The proactive refresh task: sleeps until a random moment within `window` before the
/// cached token falls due, then refreshes it in a flight of its own. Holds no strong
/// reference while it sleeps, and ends once the manager is gone.
async fn proactive<P: Renew, S: TokenStore>(inner: Weak<Inner<P, S>>, changed: Arc<Notify>, window: Duration) {
    let mut failures: u32 = 0;
    loop {
        let notified = changed.notified();
        let wait = {
            let Some(inner) = inner.upgrade() else { return };
            let cached = inner.cache.load();
            if cached.placeholder {
                // Not loaded yet (or invalid): load now, and after a failure back off.
                if failures == 0 { Some(Duration::ZERO) } else { Some(backoff_after(failures, window)) }
            } else {
                cached.due_in().map(|due| {
                    let ahead = window.min(cached.ahead_cap).mul_f64(fastrand::f64());
                    due.saturating_sub(ahead)
                })
            }
        };
        match wait {
            Some(wait) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = notified => continue,
                }
            }
            // No expiry: nothing to do until the cache changes.
            None => {
                notified.await;
                continue;
            }
        }
        let Some(strong) = inner.upgrade() else { return };
        let ahead = window.min(strong.cache.load().ahead_cap);
        let flight = join_or_start(&strong, None, ahead.max(Duration::from_millis(1)), true);
        drop(strong);
        let ok = match flight {
            Ok(Some(mut flight)) => matches!(flight.wait_for(Option::is_some).await.as_deref(), Ok(Some(Ok(_)))),
            Ok(None) => true,
            Err(_) => false,
        };
        failures = if ok { 0 } else { failures.saturating_add(1) };
        // A token that is due the moment it arrives (`expires_in: 0`) must not make this a
        // busy loop either.
        let still_due = inner.upgrade().is_some_and(|i| i.cache.load().due_in() == Some(Duration::ZERO));
        if !ok || still_due {
            tokio::time::sleep(backoff_after(failures.max(1), window)).await;
        }
    }
}

fn backoff_after(failures: u32, window: Duration) -> Duration {
    let base = Duration::from_millis(500).saturating_mul(1 << failures.min(6));
    base.min(window.max(Duration::from_secs(1))).min(Duration::from_secs(60))
}

impl<P: Refresh + crate::Revocation + 'static, S: TokenStore> TokenManager<P, S> {
    /// Revoke the stored grant at the provider (RFC 7009) and delete it from the store. The
    /// entry is deleted only once the provider has confirmed.
    pub async fn revoke(&self) -> Result<(), Error> {
        let inner = &*self.inner;
        // A refresh in progress finishes (and stores what it got) first.
        let running = locked(&inner.flight).clone();
        if let Some(mut running) = running {
            let _ = running.wait_for(Option::is_some).await;
        }
        let lock = inner.store.lock(&inner.key).await?;
        let result = async {
            let current = current(inner).await?;
            let Some(stored) = &current.credentials else { return Err(Error::NoCredentials(inner.key.clone())) };
            let done = match crate::revoke(&inner.provider, stored).await {
                Ok(()) => inner.store.delete(&inner.key).await.map(|_| ()).map_err(Error::from),
                Err(e) => Err(e),
            };
            match done {
                Ok(()) => {
                    inner.cache.store(Arc::new(Cached::stale()));
                    Ok(())
                }
                Err(e) => {
                    // Not revoked, or not forgotten: unsaved credentials stay the newest.
                    restore_unsaved(inner, current);
                    Err(e)
                }
            }
        }
        .await;
        inner.store.unlock(lock).await;
        result
    }
}
