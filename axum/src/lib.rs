//! The classic library's `OAuth2Decorator`, for axum.
//!
//! - [`Required`]: a handler that needs the user's credentials. A user without them is sent
//!   to the provider and comes back to the URL they started from.
//! - [`Aware`]: the handler always runs and can ask [`Aware::has_credentials`] and offer
//!   [`Aware::authorize_url`] (a link to the application's own start route: nothing is
//!   kept for a page view, only when the user follows the link).
//! - Both give the user's authorized HTTP client (the classic `http()`).
//! - [`OAuth::callback_router`] serves the callback (`/oauth2callback` by default), the start
//!   route (`/oauth2callback/start?return=/path`), the sign-out route
//!   (`POST /oauth2callback/signout`) and, for providers with OpenID Connect RP-initiated
//!   logout, the route the provider sends the user back to after signing them out
//!   (`/oauth2callback/signedout`). The callback checks `state` and the browser binding
//!   before it stores anything, accepts each pending authorization once and within its time
//!   limit, gives the session a new id, and returns only to same-origin paths.
//!
//! Each pending authorization (state, PKCE verifier, return path) is kept server-side and
//! bound to the browser that started it by this library's own cookie (`HttpOnly`,
//! `SameSite=Lax`, `__Host-` and `Secure` on https), so a provider on another site can send the
//! user back whatever the application's session cookie settings are. Pending authorizations
//! are capped per browser and in all (the oldest go first). Credentials are kept per user in
//! any [`TokenStore`] (SQLite for servers). The user is identified by a random id in their
//! `tower-sessions` session ([`SessionUser`], stored there when they first sign in), or comes
//! from the application's own extractor ([`UserId`]; `Required<P, S, MyUser>`). Several
//! providers can live in one application: one [`OAuth`] each, each with its own callback path.
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

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use oauthgen_runtime::{
    AuthorizationCode, Callback, Credentials, Error, IdTokenClaims, PendingAuthorization, Refresh, Revocation,
    TokenManager, TokenStore, authorize, exchange,
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
    /// The start route, which mints a pending authorization when the user follows a sign-in
    /// link (default: the callback path + `/start`).
    pub start_path: Option<String>,
    /// The sign-out route, `POST` (default: the callback path + `/signout`).
    pub signout_path: Option<String>,
    /// Where the provider sends the user after RP-initiated logout (default: the callback
    /// path + `/signedout`); register `base_url` + this path at the provider as a
    /// post-logout redirect URI.
    pub signed_out_path: Option<String>,
    /// Whether sign-out also signs the user out at the provider (OpenID Connect RP-initiated
    /// logout), when the provider's spec has an `end_session` endpoint (default `true`).
    pub provider_logout: bool,
    /// The scopes to ask for (default: the spec's default scopes).
    pub scopes: Vec<String>,
    /// How long a pending authorization waits for its callback (default 10 minutes).
    pub pending_ttl: Duration,
    /// At most this many pending authorizations in all; the oldest go first (default 10,000).
    pub max_pending: usize,
    /// At most this many pending authorizations per browser; its oldest go first (default 8).
    pub max_pending_per_browser: usize,
}

impl OAuthConfig {
    /// Defaults for an application served at `base_url`.
    #[must_use]
    pub fn new(base_url: Url) -> Self {
        Self {
            base_url,
            callback_path: "/oauth2callback".into(),
            start_path: None,
            signout_path: None,
            signed_out_path: None,
            provider_logout: true,
            scopes: Vec::new(),
            pending_ttl: Duration::from_secs(600),
            max_pending: 10_000,
            max_pending_per_browser: 8,
        }
    }

    fn start_path(&self) -> String {
        self.start_path.clone().unwrap_or_else(|| format!("{}/start", self.callback_path.trim_end_matches('/')))
    }

    fn signout_path(&self) -> String {
        self.signout_path.clone().unwrap_or_else(|| format!("{}/signout", self.callback_path.trim_end_matches('/')))
    }

    fn signed_out_path(&self) -> String {
        self.signed_out_path
            .clone()
            .unwrap_or_else(|| format!("{}/signedout", self.callback_path.trim_end_matches('/')))
    }

    fn https(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The binding cookie's name: `__Host-` on https (Secure, `Path=/`, no `Domain`).
    fn binding_cookie(&self) -> &'static str {
        if self.https() { "__Host-oauthgen-binding" } else { "oauthgen-binding" }
    }
}

/// A return path longer than this becomes `/`.
const RETURN_MAX: usize = 2048;

/// The query parameter marking a callback bounced once onto the application's own site.
const BOUNCED: &str = "oauthgen_bounced";

type BrowserHash = [u8; 32];

struct Pending {
    authorization: PendingAuthorization,
    user: String,
    browser: BrowserHash,
    return_to: String,
    created: Instant,
}

/// Pending authorizations by state, with their creation order (a queue, so expiry and
/// eviction cost O(1) amortised) and each browser's states (capped).
#[derive(Default)]
struct PendingSet {
    by_state: HashMap<String, Pending>,
    /// Oldest first; may still name states already taken out (skipped, and compacted away
    /// when it grows to twice the cap).
    order: VecDeque<(Instant, String)>,
    by_browser: HashMap<BrowserHash, VecDeque<String>>,
}

impl PendingSet {
    fn insert(&mut self, state: String, pending: Pending, config: &OAuthConfig) {
        let now = pending.created;
        while let Some((created, _)) = self.order.front() {
            if now.saturating_duration_since(*created) < config.pending_ttl {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.remove(&old);
            }
        }
        let states = self.by_browser.entry(pending.browser).or_default();
        states.push_back(state.clone());
        let mut evicted = Vec::new();
        while states.len() > config.max_pending_per_browser.max(1) {
            evicted.extend(states.pop_front());
        }
        for old in evicted {
            self.by_state.remove(&old);
        }
        self.order.push_back((now, state.clone()));
        self.by_state.insert(state, pending);
        let max = config.max_pending.max(1);
        while self.by_state.len() > max {
            let Some((_, old)) = self.order.pop_front() else { break };
            self.remove(&old);
        }
        if self.order.len() > 2 * max.max(64) {
            let live = &self.by_state;
            self.order.retain(|(_, s)| live.contains_key(s));
        }
    }

    fn remove(&mut self, state: &str) -> Option<Pending> {
        let pending = self.by_state.remove(state)?;
        if let Entry::Occupied(mut states) = self.by_browser.entry(pending.browser) {
            states.get_mut().retain(|s| s != state);
            if states.get().is_empty() {
                states.remove();
            }
        }
        Some(pending)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_state.len()
    }
}

type RevokeFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>>;
type Revoker<P> = for<'a> fn(&'a P, &'a Credentials) -> RevokeFuture<'a>;

struct Inner<P, S> {
    provider: P,
    store: S,
    config: OAuthConfig,
    pending: Mutex<PendingSet>,
}

/// One provider's integration: provider, credential store and pending authorizations. Cheap
/// to clone; use it as (part of) the router's state.
pub struct OAuth<P, S> {
    inner: Arc<Inner<P, S>>,
    revoke: Option<Revoker<P>>,
}

impl<P, S> Clone for OAuth<P, S> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), revoke: self.revoke }
    }
}

/// The session key holding the user's id.
const USER_KEY: &str = "oauthgen.user";

/// `path` if, joined onto `base`, it stays a path on `base`'s origin; else `None`.
///
/// Refused: anything not starting with one `/`, control characters (browsers drop tabs and
/// newlines, turning `/\t/evil.test` into `//evil.test`), backslashes (`/\evil.test`), raw
/// non-ASCII, an encoded slash or backslash right after the first `/` (`/%2F%2Fevil.test`,
/// which a proxy may decode), paths longer than 2 KiB, and anything that normalises to `//`.
fn checked_return(base: &Url, path: &str) -> Option<String> {
    if path.len() > RETURN_MAX || !path.starts_with('/') {
        return None;
    }
    if path.bytes().any(|b| b.is_ascii_control() || b == b'\\' || !b.is_ascii()) {
        return None;
    }
    let rest = path[1..].to_ascii_lowercase();
    if rest.starts_with('/') || rest.starts_with("%2f") || rest.starts_with("%5c") {
        return None;
    }
    let joined = base.join(path).ok()?;
    let local = &joined[url::Position::BeforePath..];
    (joined.origin() == base.origin() && local.starts_with('/') && !local.starts_with("//")).then(|| local.to_owned())
}

fn problem(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>Sign-in failed</title><h1>Sign-in failed</h1><p>{}</p>",
        escape(message)
    );
    (status, [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")], body).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// 32 random hex digits from the operating system's generator.
fn random_id() -> Option<String> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(format!("{:032x}", u128::from_le_bytes(bytes)))
}

fn no_random() -> Response {
    problem(StatusCode::INTERNAL_SERVER_ERROR, "no random numbers available")
}

fn hash(binding: &str) -> BrowserHash {
    let digest = ring::digest::digest(&ring::digest::SHA256, binding.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The value of cookie `name` in the request, if any.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The browser's binding id (from its cookie), or a new one with the `Set-Cookie` to send.
fn browser_binding(config: &OAuthConfig, headers: &HeaderMap) -> Option<(String, Option<HeaderValue>)> {
    let name = config.binding_cookie();
    if let Some(id) = cookie(headers, name).filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Some((id.to_owned(), None));
    }
    let id = random_id()?;
    // `Path=/`: every page that starts a sign-in reads it, so a browser keeps one binding
    // however many tabs sign in (and `__Host-` requires it). A session cookie: no `Max-Age`.
    let secure = if config.https() { "; Secure" } else { "" };
    let set = format!("{name}={id}; Path=/; HttpOnly; SameSite=Lax{secure}");
    Some((id, Some(HeaderValue::from_str(&set).ok()?)))
}

fn with_cookie(mut response: Response, set_cookie: Option<HeaderValue>) -> Response {
    if let Some(value) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl<P, S> OAuth<P, S>
where
    P: AuthorizationCode + Clone + 'static,
    S: TokenStore + Clone,
{
    /// The integration for `provider`, keeping credentials in `store`.
    pub fn new(provider: P, store: S, config: OAuthConfig) -> Self {
        Self {
            inner: Arc::new(Inner { provider, store, config, pending: Mutex::new(PendingSet::default()) }),
            revoke: None,
        }
    }

    /// The credential store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The callback, start and sign-out routes, to merge into the application's router; users
    /// come from their `tower-sessions` session.
    pub fn callback_router<St>(&self) -> Router<St>
    where
        St: Clone + Send + Sync + 'static,
        Self: FromRef<St>,
    {
        self.callback_router_for::<SessionUser, St>()
    }

    /// The same routes, for users identified by the application's own extractor `U`.
    pub fn callback_router_for<U, St>(&self) -> Router<St>
    where
        U: UserId<St> + Send + 'static,
        St: Clone + Send + Sync + 'static,
        Self: FromRef<St>,
    {
        let config = &self.inner.config;
        Router::new()
            .route(&config.callback_path, get(callback::<P, S, U, St>))
            .route(&config.start_path(), get(start_route::<P, S, U, St>))
            .route(&config.signout_path(), post(signout::<P, S, U, St>))
            .route(&config.signed_out_path(), get(signed_out::<P, S, St>))
    }

    fn redirect_uri(&self) -> Result<String, Error> {
        self.inner
            .config
            .base_url
            .join(&self.inner.config.callback_path)
            .map(String::from)
            .map_err(|source| Error::InvalidUrl { what: "callback URL".into(), source })
    }

    /// The application-local link that starts a sign-in returning to `return_to`.
    fn start_link(&self, return_to: &str) -> Result<Url, Error> {
        let config = &self.inner.config;
        let mut url = config
            .base_url
            .join(&config.start_path())
            .map_err(|source| Error::InvalidUrl { what: "start URL".into(), source })?;
        url.query_pairs_mut().append_pair("return", &self.return_path(return_to));
        Ok(url)
    }

    /// The provider's end-session URL for RP-initiated logout, coming back to `return_to`
    /// through the signed-out route; `None` without an `end_session` endpoint (or when the
    /// application turned it off).
    fn end_session_url(&self, id_token_hint: Option<&str>, return_to: &str) -> Option<Url> {
        let config = &self.inner.config;
        if !config.provider_logout {
            return None;
        }
        let provider = self.inner.provider.config();
        let mut url = provider.endpoint(oauthgen_runtime::Endpoint::EndSession).ok()?;
        let back = config.base_url.join(&config.signed_out_path()).ok()?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(hint) = id_token_hint {
                query.append_pair("id_token_hint", hint);
            }
            query
                .append_pair("client_id", provider.client_id().as_str())
                .append_pair("post_logout_redirect_uri", back.as_str())
                // The provider echoes `state`; the signed-out route checks it again as a
                // same-origin path.
                .append_pair("state", return_to);
        }
        Some(url)
    }

    fn return_path(&self, path: &str) -> String {
        checked_return(&self.inner.config.base_url, path).unwrap_or_else(|| "/".to_owned())
    }

    /// Start an authorization for `user` in the browser whose request has `headers`, to come
    /// back to `return_to` (a path on this origin; anything else becomes `/`): the redirect to
    /// the provider, with the binding cookie when the browser has none yet.
    /// With a spec that pushes authorization requests (RFC 9126), they are pushed here, before
    /// the redirect; a refusal is a 502 that says why.
    async fn start(&self, user: &str, headers: &HeaderMap, return_to: &str) -> Response {
        let config = &self.inner.config;
        let Some((binding, set_cookie)) = browser_binding(config, headers) else { return no_random() };
        let auth = match self.redirect_uri() {
            Ok(uri) => authorize(&self.inner.provider, &uri, &config.scopes, &[]).await,
            Err(e) => Err(e),
        };
        let auth = match auth {
            Ok(auth) => auth,
            Err(
                e @ (Error::OAuth { .. }
                | Error::Http { .. }
                | Error::Unavailable { .. }
                | Error::MalformedResponse { .. }),
            ) => {
                return problem(StatusCode::BAD_GATEWAY, &format!("the provider refused to start the sign-in: {e}"));
            }
            Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
        let pending = Pending {
            authorization: auth.pending,
            user: user.to_owned(),
            browser: hash(&binding),
            return_to: self.return_path(return_to),
            created: Instant::now(),
        };
        let state = pending.authorization.state().to_owned();
        self.inner.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(state, pending, config);
        with_cookie(Redirect::to(auth.url.as_str()).into_response(), set_cookie)
    }

    /// The user's usable credentials, if any.
    async fn credentials_of(&self, user: &str) -> Option<Credentials> {
        match self.inner.store.load(&format!("user:{user}")).await {
            Ok(Some(c)) if !c.invalid => Some(c),
            _ => None,
        }
    }
}

impl<P, S> OAuth<P, S>
where
    P: AuthorizationCode + Revocation + Clone + 'static,
    S: TokenStore + Clone,
{
    /// Revoke the user's grant at the provider (RFC 7009) when they sign out. Only for
    /// providers whose spec has a revocation endpoint (Rust cannot choose this by itself).
    #[must_use]
    pub fn with_revocation(mut self) -> Self {
        fn revoke<'a, P: Revocation>(provider: &'a P, credentials: &'a Credentials) -> RevokeFuture<'a> {
            Box::pin(oauthgen_runtime::revoke(provider, credentials))
        }
        self.revoke = Some(revoke::<P>);
        self
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
    /// Whether the id lives in the `tower-sessions` session under this library's key, as
    /// [`SessionUser`]'s does. The callback then puts the id of the user who started the
    /// sign-in into the session of the browser it is bound to (the request need not carry
    /// it); any other extractor must give that same id at the callback.
    const IN_SESSION: bool = false;

    /// The user's id: credentials are stored under it.
    fn user_id(&self) -> &str;
}

/// The default user: a random id kept in the user's `tower-sessions` session. Until the user
/// first signs in, the id is a new random one at each request and nothing is stored.
#[derive(Debug, Clone)]
pub struct SessionUser(String);

impl<St: Send + Sync> FromRequestParts<St> for SessionUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let unavailable = |_| problem(StatusCode::INTERNAL_SERVER_ERROR, "the session store is unavailable");
        match session.get::<String>(USER_KEY).await.map_err(unavailable)? {
            Some(id) => Ok(Self(id)),
            None => random_id().map(Self).ok_or_else(no_random),
        }
    }
}

impl<St: Send + Sync> UserId<St> for SessionUser {
    const IN_SESSION: bool = true;

    fn user_id(&self) -> &str {
        &self.0
    }
}

async fn user_of<U: UserId<St>, St: Send + Sync>(parts: &mut Parts, state: &St) -> Result<String, Response> {
    Ok(U::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?.user_id().to_owned())
}

/// A page that sends the browser on to `to` by itself (a script clicking its link, and
/// `<meta http-equiv=refresh>` where scripts do not run), so the next request starts from this
/// site: the browser then sends its `SameSite=Strict` cookies.
fn bounce(to: &str) -> Response {
    let to = escape(to);
    let body = format!(
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=\"0; url={to}\"><title>Signing in</title>\
         <p><a id=continue href=\"{to}\">Continue</a><script>document.getElementById('continue').click()</script>"
    );
    (StatusCode::OK, [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")], body)
        .into_response()
}

async fn callback<P, S, U, St>(State(state): State<St>, mut parts: Parts) -> Response
where
    P: AuthorizationCode + Clone + 'static,
    S: TokenStore + Clone,
    U: UserId<St>,
    St: Clone + Send + Sync,
    OAuth<P, S>: FromRef<St>,
{
    let oauth = OAuth::<P, S>::from_ref(&state);
    let Ok(Query(mut params)) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) else {
        return problem(StatusCode::BAD_REQUEST, "malformed callback query");
    };
    let bounced = params.iter().any(|(k, _)| k == BOUNCED);
    params.retain(|(k, _)| k != BOUNCED);
    // Back from a provider on another site: browsers withhold `SameSite=Strict` cookies (the
    // default of `tower-sessions`) from this request. Continue once from a page of this site.
    let cross_site = parts.headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site");
    if cross_site && !bounced {
        let separator = if parts.uri.query().is_some() { '&' } else { '?' };
        return bounce(&format!("{}{separator}{BOUNCED}=1", path_and_query(&parts)));
    }
    let callback = match Callback::from_pairs(params) {
        Ok(c) => c,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    // Each pending authorization is taken out at most once, before anything else happens.
    let pending = callback
        .get("state")
        .and_then(|s| oauth.inner.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(s));
    let Some(pending) = pending else {
        return problem(StatusCode::BAD_REQUEST, "unknown, already used or tampered authorization (state)");
    };
    if pending.created.elapsed() >= oauth.inner.config.pending_ttl {
        return problem(StatusCode::BAD_REQUEST, "the authorization took too long: please start again");
    }
    let binding = cookie(&parts.headers, oauth.inner.config.binding_cookie());
    if binding.map(hash) != Some(pending.browser) {
        return problem(StatusCode::BAD_REQUEST, "this sign-in was started by another user or session (browser)");
    }
    if !U::IN_SESSION {
        match user_of::<U, St>(&mut parts, &state).await {
            Ok(user) if user == pending.user => {}
            Ok(_) => return problem(StatusCode::BAD_REQUEST, "this sign-in was started by another user or session"),
            Err(response) => return response,
        }
    }
    // A session user the browser already has (signed in with another provider, say) keeps
    // its id; otherwise the id chosen at the start becomes the session's.
    let session = parts.extensions.get::<Session>().cloned();
    let mut user = pending.user;
    if U::IN_SESSION
        && let Some(session) = &session
        && let Ok(Some(existing)) = session.get::<String>(USER_KEY).await
    {
        user = existing;
    }
    let credentials = match exchange(&oauth.inner.provider, &pending.authorization, &callback).await {
        Ok(c) => c,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if let Err(e) = oauth.inner.store.save(&format!("user:{user}"), &credentials).await {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    // Credentials are now bound to this session: give it a new id (no session fixation).
    if let Some(session) = session {
        let unavailable = |_| problem(StatusCode::INTERNAL_SERVER_ERROR, "the session store is unavailable");
        if let Err(response) = session.cycle_id().await.map_err(unavailable) {
            return response;
        }
        if U::IN_SESSION
            && let Err(response) = session.insert(USER_KEY, &user).await.map_err(unavailable)
        {
            return response;
        }
    } else if U::IN_SESSION {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "no session: add tower-sessions' SessionManagerLayer");
    }
    with_cookie(Redirect::to(&pending.return_to).into_response(), None)
}

#[derive(serde::Deserialize)]
struct ReturnTo {
    #[serde(rename = "return")]
    return_to: Option<String>,
}

async fn start_route<P, S, U, St>(State(state): State<St>, mut parts: Parts) -> Response
where
    P: AuthorizationCode + Clone + 'static,
    S: TokenStore + Clone,
    U: UserId<St>,
    St: Clone + Send + Sync,
    OAuth<P, S>: FromRef<St>,
{
    let oauth = OAuth::<P, S>::from_ref(&state);
    let return_to = Query::<ReturnTo>::try_from_uri(&parts.uri).ok().and_then(|q| q.0.return_to);
    let user = match user_of::<U, St>(&mut parts, &state).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    oauth.start(&user, &parts.headers, return_to.as_deref().unwrap_or("/")).await
}

/// `POST` sign-out: revoke at the provider (with [`OAuth::with_revocation`]), delete the
/// stored credentials, end the session, and go to `?return=` (a same-origin path) or `/`;
/// through the provider's end-session endpoint first (RP-initiated logout) when its spec has
/// one and the user had credentials.
async fn signout<P, S, U, St>(State(state): State<St>, mut parts: Parts) -> Response
where
    P: AuthorizationCode + Clone + 'static,
    S: TokenStore + Clone,
    U: UserId<St>,
    St: Clone + Send + Sync,
    OAuth<P, S>: FromRef<St>,
{
    let oauth = OAuth::<P, S>::from_ref(&state);
    // Only from this application's own pages: no sign-out by another site's form.
    let origin = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let foreign_origin = origin.is_some_and(|o| o != oauth.inner.config.base_url.origin().ascii_serialization());
    let cross_site = parts.headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site");
    if foreign_origin || cross_site {
        return problem(StatusCode::FORBIDDEN, "sign-out is only accepted from this application's own pages");
    }
    let return_to = Query::<ReturnTo>::try_from_uri(&parts.uri).ok().and_then(|q| q.0.return_to);
    let return_to = oauth.return_path(return_to.as_deref().unwrap_or("/"));
    let session = parts.extensions.get::<Session>().cloned();
    let known = match &session {
        Some(s) if U::IN_SESSION => s.get::<String>(USER_KEY).await.ok().flatten().is_some(),
        _ => true,
    };
    // Whether the user had credentials, and their ID token (the hint for the provider).
    let mut signed_in = false;
    let mut id_token_hint = None;
    if known {
        let user = match user_of::<U, St>(&mut parts, &state).await {
            Ok(user) => user,
            Err(response) => return response,
        };
        let key = format!("user:{user}");
        if let Ok(Some(credentials)) = oauth.inner.store.load(&key).await {
            signed_in = true;
            id_token_hint = credentials.id_token.as_ref().map(|t| t.secret().to_owned());
            if let Some(revoke) = oauth.revoke
                && let Err(e) = revoke(&oauth.inner.provider, &credentials).await
            {
                // The local sign-out goes ahead: the user asked to leave.
                tracing::warn!(error = %e, "revocation at sign-out failed");
            }
        }
        if let Err(e) = oauth.inner.store.delete(&key).await {
            return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
    }
    if let Some(session) = session
        && session.flush().await.is_err()
    {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "the session store is unavailable");
    }
    // RP-initiated logout: the provider ends its own session and sends the user back to the
    // signed-out route, which goes on to `return_to`.
    if signed_in && let Some(url) = oauth.end_session_url(id_token_hint.as_deref(), &return_to) {
        return with_cookie(Redirect::to(url.as_str()).into_response(), None);
    }
    with_cookie(Redirect::to(&return_to).into_response(), None)
}

#[derive(serde::Deserialize)]
struct SignedOut {
    state: Option<String>,
}

/// Where the provider sends the user after RP-initiated logout: on to the `state` it echoes,
/// if that is a same-origin path, else `/`.
async fn signed_out<P, S, St>(State(state): State<St>, parts: Parts) -> Response
where
    P: AuthorizationCode + Clone + 'static,
    S: TokenStore + Clone,
    St: Clone + Send + Sync,
    OAuth<P, S>: FromRef<St>,
{
    let oauth = OAuth::<P, S>::from_ref(&state);
    let back = Query::<SignedOut>::try_from_uri(&parts.uri).ok().and_then(|q| q.0.state);
    with_cookie(Redirect::to(&oauth.return_path(back.as_deref().unwrap_or("/"))).into_response(), None)
}

/// A handler that needs the user's credentials: without them the user is redirected to the
/// provider, and comes back to the same URL.
pub struct Required<P, S, U = SessionUser> {
    oauth: OAuth<P, S>,
    user: String,
    claims: Option<IdTokenClaims>,
    who: std::marker::PhantomData<fn() -> U>,
}

/// A handler that runs either way and can ask whether the user has credentials.
pub struct Aware<P, S, U = SessionUser> {
    oauth: OAuth<P, S>,
    user: String,
    here: String,
    has: bool,
    claims: Option<IdTokenClaims>,
    who: std::marker::PhantomData<fn() -> U>,
}

impl<P, S, U> Required<P, S, U>
where
    P: AuthorizationCode + Refresh + Clone + 'static,
    S: TokenStore + Clone,
{
    /// The user's authorized HTTP client (the classic `decorator.http()`).
    pub fn http(&self) -> oauthgen_runtime::AuthorizedClient {
        oauthgen_runtime::authorized_client(self.oauth.manager(&self.user))
    }

    /// The user's token manager.
    pub fn manager(&self) -> TokenManager<P, S> {
        self.oauth.manager(&self.user)
    }
}

impl<P, S, U> Required<P, S, U> {
    /// The claims of the user's ID token (OpenID Connect), validated when it was received:
    /// `sub`, `email`, `name`, ... `None` when the provider issued none.
    pub fn claims(&self) -> Option<&IdTokenClaims> {
        self.claims.as_ref()
    }
}

impl<P, S, U> Aware<P, S, U> {
    /// The claims of the user's ID token, validated when it was received; `None` when the
    /// user is not signed in or the provider issued none.
    pub fn claims(&self) -> Option<&IdTokenClaims> {
        self.claims.as_ref()
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

    /// A link that signs the user in and brings them back to this page (the classic
    /// `authorize_url()`). It points at the application's start route, which sends the user
    /// on to the provider: nothing is kept until the user follows it.
    pub fn authorize_url(&self) -> Result<Url, Error> {
        self.oauth.start_link(&self.here)
    }

    /// The same, coming back to `return_to` (a path on this origin; anything else is `/`).
    pub fn authorize_url_returning_to(&self, return_to: &str) -> Result<Url, Error> {
        self.oauth.start_link(return_to)
    }
}

impl<P, S, U> Aware<P, S, U>
where
    P: AuthorizationCode + Refresh + Clone + 'static,
    S: TokenStore + Clone,
{
    /// The user's authorized HTTP client, when they have credentials.
    pub fn http(&self) -> Option<oauthgen_runtime::AuthorizedClient> {
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
        let user = user_of::<U, St>(parts, state).await?;
        if let Some(credentials) = oauth.credentials_of(&user).await {
            let claims = credentials.id_token_claims();
            return Ok(Self { oauth, user, claims, who: std::marker::PhantomData });
        }
        Err(oauth.start(&user, &parts.headers, &path_and_query(parts)).await)
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
        let user = user_of::<U, St>(parts, state).await?;
        let credentials = oauth.credentials_of(&user).await;
        let claims = credentials.as_ref().and_then(Credentials::id_token_claims);
        let has = credentials.is_some();
        Ok(Self { oauth, user, here: path_and_query(parts), has, claims, who: std::marker::PhantomData })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauthgen_runtime::authorize_url;

    fn base() -> Url {
        "https://app.example/".parse().unwrap()
    }

    #[test]
    fn the_binding_cookie_is_host_only_lax_and_secure_on_https() {
        let (id, set) = browser_binding(&OAuthConfig::new(base()), &HeaderMap::new()).unwrap();
        let set = set.unwrap();
        assert_eq!(
            set.to_str().unwrap(),
            format!("__Host-oauthgen-binding={id}; Path=/; HttpOnly; SameSite=Lax; Secure")
        );
        let http = OAuthConfig::new("http://127.0.0.1:8080/".parse().unwrap());
        let (id, set) = browser_binding(&http, &HeaderMap::new()).unwrap();
        assert_eq!(set.unwrap().to_str().unwrap(), format!("oauthgen-binding={id}; Path=/; HttpOnly; SameSite=Lax"));
        // A browser that has one keeps it; a malformed one is replaced.
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&format!("a=b; oauthgen-binding={id}")).unwrap());
        assert_eq!(browser_binding(&http, &headers).unwrap(), (id, None));
        headers.insert(header::COOKIE, HeaderValue::from_static("oauthgen-binding=short"));
        assert!(browser_binding(&http, &headers).unwrap().1.is_some());
    }

    #[test]
    fn return_paths_stay_on_the_origin() {
        for ok in ["/", "/profile?tab=1", "/a/b?x=%2F%2Fevil.test", "/caf%C3%A9", "/a//b"] {
            assert_eq!(checked_return(&base(), ok).as_deref(), Some(ok), "{ok:?}");
        }
        for bad in [
            "/\t/evil.test",
            "/\\evil.test",
            "\\\\evil.test",
            "//evil.test",
            "///evil.test",
            "/%2F%2Fevil.test",
            "/%2f/evil.test",
            "/%5Cevil.test",
            "https:evil.test",
            "https://evil.test/",
            "http://app.example/",
            "evil.test",
            "",
            "/\r\nLocation: https://evil.test",
            "/\n/evil.test",
            "/\0x",
            "/\u{7f}",
            "//évil.test",
            "/\u{3000}/evil.test",
            "/caf\u{e9}",
            "/..//evil.test",
            "/.//evil.test",
            "/./%2e%2e//evil.test",
        ] {
            assert_eq!(checked_return(&base(), bad), None, "{bad:?}");
        }
        assert_eq!(checked_return(&base(), &format!("/{}", "a".repeat(RETURN_MAX))), None, "too long");
        assert!(checked_return(&base(), &format!("/{}", "a".repeat(RETURN_MAX - 1))).is_some());
    }

    fn entry(browser: u8, created: Instant) -> Pending {
        let auth =
            authorize_url(&oauthgen_runtime_test_provider(), "https://app.example/oauth2callback", &[] as &[String])
                .unwrap();
        Pending {
            authorization: auth.pending,
            user: "u".into(),
            browser: [browser; 32],
            return_to: "/".into(),
            created,
        }
    }

    fn oauthgen_runtime_test_provider() -> oauthgen_tests::TestOp {
        oauthgen_tests::TestOp::new("1", "client", "secret")
    }

    #[test]
    fn pending_authorizations_are_capped_per_browser_and_in_all() {
        let mut config = OAuthConfig::new(base());
        config.max_pending = 20;
        config.max_pending_per_browser = 3;
        let mut set = PendingSet::default();
        let now = Instant::now();
        let mut first = Vec::new();
        for _ in 0..5 {
            let p = entry(1, now);
            let state = p.authorization.state().to_owned();
            first.push(state.clone());
            set.insert(state, p, &config);
        }
        assert_eq!(set.len(), 3, "one browser keeps its 3 newest");
        assert!(set.by_state.contains_key(&first[4]) && !set.by_state.contains_key(&first[1]));
        for i in 0..100u8 {
            let p = entry(i.wrapping_add(2), now);
            set.insert(p.authorization.state().to_owned(), p, &config);
        }
        assert_eq!(set.len(), 20, "the global cap");
        assert!(set.order.len() <= 2 * 64 + 1, "the queue is compacted");
        assert!(set.by_browser.len() <= 20);
        // Expired entries go at the next insert.
        let later = now + config.pending_ttl;
        let p = entry(200, later);
        set.insert(p.authorization.state().to_owned(), p, &config);
        assert_eq!(set.len(), 1);
        assert_eq!(set.by_browser.len(), 1);
    }
}

/// The README's Rust examples, compiled (and, without `no_run`, run) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
