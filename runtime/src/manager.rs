//! The token manager: one credential key, a lock-free cached fast path, and a refresh that
//! happens once however many callers, threads or processes want it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use oauth2::AccessToken;
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::store::TokenStore;
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
        expires_at: Option<OffsetDateTime>,
    },
    /// Fresh credentials were found in the store (saved by another process or an earlier run).
    Loaded {
        /// The store key.
        key: String,
        /// Their expiry.
        expires_at: Option<OffsetDateTime>,
    },
    /// The provider refused the refresh token (`invalid_grant`); the credentials were marked
    /// invalid in the store.
    Invalidated {
        /// The store key.
        key: String,
    },
}

/// Knobs of a [`TokenManager`].
#[derive(Debug, Clone, Copy)]
pub struct ManagerOptions {
    /// Refresh this long before the access token expires. Default: the spec's
    /// `refresh.margin_seconds` (60 s unless the spec says otherwise).
    pub margin: Option<Duration>,
    /// Attempts at a refresh that fails transiently (5xx, 429, timeouts, connection errors),
    /// the first included. Default 4.
    pub attempts: u32,
    /// The first backoff; doubled after each failure, with jitter. Default 200 ms.
    pub backoff: Duration,
    /// The longest single wait, `Retry-After` included. Default 10 s.
    pub max_backoff: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        Self { margin: None, attempts: 4, backoff: Duration::from_millis(200), max_backoff: Duration::from_secs(10) }
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
}

#[derive(Debug)]
struct Cached {
    token: AccessToken,
    /// When to refresh: expiry less the margin (and the coarse clock's slack). `None`: the
    /// token states no lifetime.
    refresh_at: Option<coarsetime::Instant>,
}

impl Cached {
    /// The placeholder before the first load and after an invalidation: never fresh.
    fn stale() -> Self {
        Self {
            token: AccessToken::new(String::new()),
            refresh_at: Some(coarsetime::Instant::now_without_cache_update()),
        }
    }

    fn new(token: AccessToken, refresh_at: Option<Instant>) -> Self {
        let refresh_at = refresh_at.map(|at| {
            let left = at.saturating_duration_since(Instant::now()).saturating_sub(COARSE_SLACK);
            coarsetime::Instant::now_without_cache_update() + coarsetime::Duration::from(left)
        });
        Self { token, refresh_at }
    }

    fn fresh(&self) -> bool {
        self.refresh_at.is_none_or(|at| coarsetime::Instant::now_without_cache_update() < at)
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
        match &self.0 {
            TokenRef::Cached(guard) => &guard.token,
            TokenRef::Owned(cached) => &cached.token,
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

struct Inner<P, S> {
    provider: P,
    store: S,
    key: String,
    cache: ArcSwap<Cached>,
    flight: tokio::sync::Mutex<()>,
    options: ManagerOptions,
    margin: Duration,
    events: broadcast::Sender<TokenEvent>,
    token_requests: AtomicU64,
}

/// Access tokens for one credential key, refreshed ahead of expiry.
///
/// - [`token`](Self::token) takes no lock while the cached token is fresh;
/// - a refresh is single-flight: one token request however many callers wait, and those
///   callers get the new token as soon as it arrives;
/// - across processes, the store's lock is taken and the credentials read again, so a
///   refresh another process already made is used instead of repeated;
/// - a rotated refresh token is saved before the new access token is handed out;
/// - `invalid_grant` marks the stored credentials `invalid`;
/// - transient failures are retried with bounded exponential backoff and jitter, other
///   failures are not, and on any failure the store is left as it was.
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

fn refresh_at(credentials: &Credentials, margin: Duration) -> Option<Instant> {
    let expires_at = credentials.expires_at?;
    let left = expires_at - OffsetDateTime::now_utc();
    let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
    let now = Instant::now();
    Some(now + left.saturating_sub(margin))
}

impl<P: Renew, S: TokenStore> TokenManager<P, S> {
    /// A manager for the credentials stored under `key`, renewed by `provider` (a provider
    /// with refresh tokens, or a [`ServiceAccountAuth`]).
    pub fn new(provider: P, store: S, key: impl Into<String>) -> Self {
        Self::with_options(provider, store, key, ManagerOptions::default())
    }

    /// [`new`](Self::new) with options.
    pub fn with_options(provider: P, store: S, key: impl Into<String>, options: ManagerOptions) -> Self {
        let margin = options.margin.unwrap_or_else(|| provider.default_margin());
        let (events, _) = broadcast::channel(64);
        Self {
            inner: Arc::new(Inner {
                provider,
                store,
                key: key.into(),
                cache: ArcSwap::from_pointee(Cached::stale()),
                flight: tokio::sync::Mutex::new(()),
                options,
                margin,
                events,
                token_requests: AtomicU64::new(0),
            }),
        }
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

    /// Token events: refreshed, loaded from the store, invalidated.
    pub fn subscribe(&self) -> broadcast::Receiver<TokenEvent> {
        self.inner.events.subscribe()
    }

    /// How many renewals (token requests) this manager has attempted.
    pub fn token_requests(&self) -> u64 {
        self.inner.token_requests.load(Ordering::Relaxed)
    }

    /// A valid access token: the cached one while it is fresh, else a refreshed one.
    pub async fn token(&self) -> Result<Token, Error> {
        let cached = self.inner.cache.load();
        if cached.fresh() {
            return Ok(Token(TokenRef::Cached(cached)));
        }
        drop(cached);
        self.slow_path(None).await
    }

    /// The token was refused (HTTP 401): forget it and get another. When another caller has
    /// already replaced it, that newer token is returned without a new request.
    pub fn token_after_rejection(
        &self,
        rejected: &AccessToken,
    ) -> impl Future<Output = Result<Token, Error>> + Send + '_ {
        // Owned before the future starts: a future holding `&AccessToken` would not be
        // `Send` for every lifetime, which middleware needs.
        let rejected = rejected.secret().clone();
        self.slow_path(Some(rejected))
    }

    async fn slow_path(&self, rejected: Option<String>) -> Result<Token, Error> {
        let inner = &*self.inner;
        let _flight = inner.flight.lock().await;
        // Whoever held the flight before us may have refreshed already.
        let cached = inner.cache.load_full();
        if cached.fresh() && rejected.as_deref() != Some(cached.token.secret().as_str()) {
            return Ok(Token(TokenRef::Owned(cached)));
        }
        let _lock = inner.store.lock(&inner.key).await?;
        let stored = inner.store.load(&inner.key).await?;
        if let Some(stored) = &stored {
            if stored.invalid {
                inner.cache.store(Arc::new(Cached::stale()));
                return Err(Error::InvalidCredentials(inner.key.clone()));
            }
            let stale = rejected.as_deref() == Some(stored.access_token.secret().as_str());
            let at = refresh_at(stored, inner.margin);
            if !stale && at.is_none_or(|at| Instant::now() < at) {
                // Fresh in the store: another process (or an earlier run) refreshed it.
                let cached = Arc::new(Cached::new(stored.access_token.clone(), at));
                inner.cache.store(cached.clone());
                let _ = inner.events.send(TokenEvent::Loaded { key: inner.key.clone(), expires_at: stored.expires_at });
                return Ok(Token(TokenRef::Owned(cached)));
            }
        }
        let credentials = self.renew_with_retries(stored).await?;
        // Saved before anyone sees the new access token: a rotated refresh token is never lost.
        inner.store.save(&inner.key, &credentials).await?;
        let at = refresh_at(&credentials, inner.margin);
        let cached = Arc::new(Cached::new(credentials.access_token, at));
        inner.cache.store(cached.clone());
        let _ = inner.events.send(TokenEvent::Refreshed { key: inner.key.clone(), expires_at: credentials.expires_at });
        Ok(Token(TokenRef::Owned(cached)))
    }

    async fn renew_with_retries(&self, stored: Option<Credentials>) -> Result<Credentials, Error> {
        let inner = &*self.inner;
        let mut backoff = inner.options.backoff;
        let mut attempt = 1;
        loop {
            inner.token_requests.fetch_add(1, Ordering::Relaxed);
            match inner.provider.renew(stored.as_ref()).await {
                Ok(credentials) => return Ok(credentials),
                // Nothing stored and nothing to renew from: authorize first.
                Err(Error::NoRefreshToken) if stored.is_none() => return Err(Error::NoCredentials(inner.key.clone())),
                Err(e) if is_invalid_grant(&e) && stored.as_ref().is_some_and(|s| s.refresh_token.is_some()) => {
                    // The grant is gone: say so in the store, once and for all.
                    if let Some(mut credentials) = stored {
                        credentials.invalid = true;
                        inner.store.save(&inner.key, &credentials).await?;
                    }
                    inner.cache.store(Arc::new(Cached::stale()));
                    let _ = inner.events.send(TokenEvent::Invalidated { key: inner.key.clone() });
                    return Err(e);
                }
                Err(e) if e.is_transient() && attempt < inner.options.attempts.max(1) => {
                    let server_wait = match &e {
                        Error::Unavailable { retry_after: Some(d), .. } => *d,
                        _ => Duration::ZERO,
                    };
                    // Full jitter on the exponential part; never less than the server asked.
                    let jittered = backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
                    tokio::time::sleep(jittered.max(server_wait).min(inner.options.max_backoff)).await;
                    backoff = (backoff * 2).min(inner.options.max_backoff);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_invalid_grant(e: &Error) -> bool {
    matches!(e, Error::OAuth { error, .. } if error == "invalid_grant")
}

impl<P: Refresh + crate::Revocation + 'static, S: TokenStore> TokenManager<P, S> {
    /// Revoke the stored grant at the provider (RFC 7009) and delete it from the store. The
    /// entry is deleted only once the provider has confirmed.
    pub async fn revoke(&self) -> Result<(), Error> {
        let inner = &*self.inner;
        let _flight = inner.flight.lock().await;
        let _lock = inner.store.lock(&inner.key).await?;
        let stored = inner.store.load(&inner.key).await?.ok_or_else(|| Error::NoCredentials(inner.key.clone()))?;
        crate::revoke(&inner.provider, &stored).await?;
        inner.store.delete(&inner.key).await?;
        inner.cache.store(Arc::new(Cached::stale()));
        Ok(())
    }
}
