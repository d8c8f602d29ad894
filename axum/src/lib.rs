//! The classic library's `OAuth2Decorator`, for axum.
//!
//! - [`Required`]: a handler that needs the user's credentials. A user without them is sent
//!   to the provider and comes back to the URL they started from.
//! - [`Aware`]: the handler always runs and can ask [`Aware::has_credentials`] and offer
//!   [`Aware::authorize_url`].
//! - Both give the user's authorized HTTP client (the classic `http()`).
//! - [`OAuth::callback_router`] serves the callback (`/oauth2callback` by default). It checks
//!   `state` before it stores anything, accepts each pending authorization once and within
//!   its time limit, and returns only to same-origin paths.
//!
//! Pending authorizations (state, PKCE verifier, return path) are kept server-side. Credentials
//! are kept per user in any [`TokenStore`] (SQLite for servers). The user is identified by a
//! random id in their `tower-sessions` session ([`SessionUser`]), or comes from the
//! application's own extractor ([`UserId`]; `Required<P, S, MyUser>`). Several providers can live in one
//! application: one [`OAuth`] each, each with its own callback path.
//!
//! ```no_run
//! # use oauthgen_runtime::{AuthorizationCode, Refresh, SqliteStore};
//! # fn app<P: AuthorizationCode + Refresh + Clone + 'static>(google: P) -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//! use oauthgen_axum::{OAuth, OAuthConfig, Required};
//!
//! let oauth = OAuth::new(google, SqliteStore::open("tokens.db")?, OAuthConfig::new("https://app.example".parse()?));
//! let app: Router = Router::new()
//!     .route("/drive", get(|auth: Required<P, SqliteStore>| async move {
//!         let http = auth.http();
//!         http.get("https://www.googleapis.com/drive/v3/files").send().await.map(|_| "ok").unwrap_or("failed")
//!     }))
//!     .merge(oauth.callback_router())
//!     .with_state(oauth)
//!     .layer(tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default()));
//! # let _ = app; Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use oauthgen_runtime::{
    AuthorizationCode, Callback, Error, PendingAuthorization, Refresh, TokenManager, TokenStore, authorize_url,
    exchange,
};
use tower_sessions::Session;
use url::Url;

/// How the integration is set up.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// The application's own origin (`https://app.example`): the redirect URI is built on it.
    pub base_url: Url,
    /// The callback path (default `/oauth2callback`).
    pub callback_path: String,
    /// The scopes to ask for (default: the spec's default scopes).
    pub scopes: Vec<String>,
    /// How long a pending authorization waits for its callback (default 10 minutes).
    pub pending_ttl: Duration,
}

impl OAuthConfig {
    /// Defaults for an application served at `base_url`.
    pub fn new(base_url: Url) -> Self {
        Self {
            base_url,
            callback_path: "/oauth2callback".into(),
            scopes: Vec::new(),
            pending_ttl: Duration::from_secs(600),
        }
    }
}

struct Pending {
    authorization: PendingAuthorization,
    user: String,
    return_to: String,
    created: Instant,
}

struct Inner<P, S> {
    provider: P,
    store: S,
    config: OAuthConfig,
    pending: Mutex<HashMap<String, Pending>>,
}

/// One provider's integration: provider, credential store and pending authorizations. Cheap
/// to clone; use it as (part of) the router's state.
pub struct OAuth<P, S> {
    inner: Arc<Inner<P, S>>,
}

impl<P, S> Clone for OAuth<P, S> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

/// The session key holding the user's id.
const USER_KEY: &str = "oauthgen.user";

/// Only paths on this origin: `/x`, never `//evil.test` or `https://evil.test`.
fn same_origin(path: &str) -> String {
    let ok =
        path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\") && !path.contains(['\r', '\n']);
    if ok { path.to_owned() } else { "/".to_owned() }
}

fn problem(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>Sign-in failed</title><h1>Sign-in failed</h1><p>{}</p>",
        message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
    );
    (status, [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")], body).into_response()
}

impl<P, S> OAuth<P, S>
where
    P: AuthorizationCode + Clone + 'static,
    S: TokenStore + Clone,
{
    /// The integration for `provider`, keeping credentials in `store`.
    pub fn new(provider: P, store: S, config: OAuthConfig) -> Self {
        Self { inner: Arc::new(Inner { provider, store, config, pending: Mutex::new(HashMap::new()) }) }
    }

    /// The credential store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The callback route, to merge into the application's router; users come from their
    /// `tower-sessions` session.
    pub fn callback_router<St>(&self) -> Router<St>
    where
        St: Clone + Send + Sync + 'static,
        Self: FromRef<St>,
    {
        self.callback_router_for::<SessionUser, St>()
    }

    /// The callback route for users identified by the application's own extractor `U`.
    pub fn callback_router_for<U, St>(&self) -> Router<St>
    where
        U: UserId<St> + Send + 'static,
        St: Clone + Send + Sync + 'static,
        Self: FromRef<St>,
    {
        Router::new().route(&self.inner.config.callback_path, get(callback::<P, S, U, St>))
    }

    fn redirect_uri(&self) -> Result<String, Error> {
        self.inner
            .config
            .base_url
            .join(&self.inner.config.callback_path)
            .map(String::from)
            .map_err(|source| Error::InvalidUrl { what: "callback URL".into(), source })
    }

    /// Start an authorization for `user`, to come back to `return_to` (a path on this
    /// origin; anything else becomes `/`).
    fn start(&self, user: &str, return_to: &str) -> Result<Url, Error> {
        let auth = authorize_url(&self.inner.provider, &self.redirect_uri()?, &self.inner.config.scopes)?;
        let mut pending = self.inner.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ttl = self.inner.config.pending_ttl;
        pending.retain(|_, p| p.created.elapsed() < ttl);
        pending.insert(
            auth.pending.state().to_owned(),
            Pending {
                authorization: auth.pending,
                user: user.to_owned(),
                return_to: same_origin(return_to),
                created: Instant::now(),
            },
        );
        Ok(auth.url)
    }

    async fn has_credentials(&self, user: &str) -> bool {
        matches!(self.inner.store.load(&format!("user:{user}")).await, Ok(Some(c)) if !c.invalid)
    }
}

impl<P, S> OAuth<P, S>
where
    P: AuthorizationCode + Refresh + Clone + 'static,
    S: TokenStore + Clone,
{
    /// The user's token manager: their stored credentials, refreshed as needed.
    fn manager(&self, user: &str) -> TokenManager<P, S> {
        TokenManager::new(self.inner.provider.clone(), self.inner.store.clone(), format!("user:{user}"))
    }
}

/// Who the user is: an extractor giving a stable id per user. [`SessionUser`] (a random id
/// in the `tower-sessions` session) is the default; an application with its own accounts
/// supplies its own extractor.
pub trait UserId<St>: FromRequestParts<St> {
    /// The user's id: credentials are stored under it.
    fn user_id(&self) -> &str;
}

/// The default user: a random id kept in the user's `tower-sessions` session.
#[derive(Debug, Clone)]
pub struct SessionUser(String);

impl<St: Send + Sync> FromRequestParts<St> for SessionUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        user_id(&session).await.map(Self)
    }
}

impl<St: Send + Sync> UserId<St> for SessionUser {
    fn user_id(&self) -> &str {
        &self.0
    }
}

async fn user_id(session: &Session) -> Result<String, Response> {
    let unavailable = |_| problem(StatusCode::INTERNAL_SERVER_ERROR, "the session store is unavailable");
    if let Some(id) = session.get::<String>(USER_KEY).await.map_err(unavailable)? {
        return Ok(id);
    }
    let id = format!("{:032x}", fastrand::u128(..));
    session.insert(USER_KEY, &id).await.map_err(unavailable)?;
    Ok(id)
}

async fn callback<P, S, U, St>(
    State(oauth): State<OAuth<P, S>>,
    user: U,
    Query(params): Query<Vec<(String, String)>>,
) -> Response
where
    P: AuthorizationCode + Clone + 'static,
    S: TokenStore + Clone,
    U: UserId<St>,
    OAuth<P, S>: FromRef<St>,
{
    let callback = match Callback::from_pairs(params) {
        Ok(c) => c,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    // Each pending authorization is taken out at most once, before anything else happens.
    let pending = callback
        .get("state")
        .and_then(|state| oauth.inner.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(state));
    let Some(pending) = pending else {
        return problem(StatusCode::BAD_REQUEST, "unknown, already used or tampered authorization (state)");
    };
    if pending.created.elapsed() >= oauth.inner.config.pending_ttl {
        return problem(StatusCode::BAD_REQUEST, "the authorization took too long: please start again");
    }
    if user.user_id() != pending.user {
        return problem(StatusCode::BAD_REQUEST, "this sign-in was started by another user or session");
    }
    let user = pending.user.clone();
    let credentials = match exchange(&oauth.inner.provider, &pending.authorization, &callback).await {
        Ok(c) => c,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if let Err(e) = oauth.inner.store.save(&format!("user:{user}"), &credentials).await {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    Redirect::to(&pending.return_to).into_response()
}

/// A handler that needs the user's credentials: without them the user is redirected to the
/// provider, and comes back to the same URL.
pub struct Required<P, S, U = SessionUser> {
    oauth: OAuth<P, S>,
    user: String,
    who: std::marker::PhantomData<fn() -> U>,
}

/// A handler that runs either way and can ask whether the user has credentials.
pub struct Aware<P, S, U = SessionUser> {
    oauth: OAuth<P, S>,
    user: String,
    here: String,
    has: bool,
    who: std::marker::PhantomData<fn() -> U>,
}

impl<P, S, U> Required<P, S, U>
where
    P: AuthorizationCode + Refresh + Clone + 'static,
    S: TokenStore + Clone,
{
    /// The user's authorized HTTP client (the classic `decorator.http()`).
    pub fn http(&self) -> reqwest_middleware::ClientWithMiddleware {
        oauthgen_runtime::authorized_client(self.oauth.manager(&self.user))
    }

    /// The user's token manager.
    pub fn manager(&self) -> TokenManager<P, S> {
        self.oauth.manager(&self.user)
    }
}

impl<P, S, U> Aware<P, S, U>
where
    P: AuthorizationCode + Clone + 'static,
    S: TokenStore + Clone,
{
    /// Whether the user has usable credentials (the classic `has_credentials()`).
    pub fn has_credentials(&self) -> bool {
        self.has
    }

    /// A URL that sends the user to the provider and back to this page (the classic
    /// `authorize_url()`).
    pub fn authorize_url(&self) -> Result<Url, Error> {
        self.oauth.start(&self.user, &self.here)
    }

    /// The same, coming back to `return_to` (a path on this origin; anything else is `/`).
    pub fn authorize_url_returning_to(&self, return_to: &str) -> Result<Url, Error> {
        self.oauth.start(&self.user, return_to)
    }
}

impl<P, S, U> Aware<P, S, U>
where
    P: AuthorizationCode + Refresh + Clone + 'static,
    S: TokenStore + Clone,
{
    /// The user's authorized HTTP client, when they have credentials.
    pub fn http(&self) -> Option<reqwest_middleware::ClientWithMiddleware> {
        self.has.then(|| oauthgen_runtime::authorized_client(self.oauth.manager(&self.user)))
    }
}

fn path_and_query(parts: &Parts) -> String {
    parts.uri.path_and_query().map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned())
}

impl<P, S, U, St> FromRequestParts<St> for Required<P, S, U>
where
    P: AuthorizationCode + Clone + 'static,
    S: TokenStore + Clone,
    U: UserId<St>,
    OAuth<P, S>: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Response> {
        let oauth = OAuth::<P, S>::from_ref(state);
        let user = U::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?.user_id().to_owned();
        if oauth.has_credentials(&user).await {
            return Ok(Self { oauth, user, who: std::marker::PhantomData });
        }
        match oauth.start(&user, &path_and_query(parts)) {
            Ok(url) => Err(Redirect::to(url.as_str()).into_response()),
            Err(e) => Err(problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
        }
    }
}

impl<P, S, U, St> FromRequestParts<St> for Aware<P, S, U>
where
    P: AuthorizationCode + Clone + 'static,
    S: TokenStore + Clone,
    U: UserId<St>,
    OAuth<P, S>: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Response> {
        let oauth = OAuth::<P, S>::from_ref(state);
        let user = U::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?.user_id().to_owned();
        let has = oauth.has_credentials(&user).await;
        Ok(Self { oauth, user, here: path_and_query(parts), has, who: std::marker::PhantomData })
    }
}
