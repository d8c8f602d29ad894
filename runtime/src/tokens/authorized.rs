//! The authorized HTTP client: the classic `credentials.authorize(http)`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{IntoUrl, Method, Request, Response};
use serde::Serialize;

use crate::store::TokenStore;
use crate::wire::dpop::{credential, refused_for_nonce};
use crate::{Error, Renew, Token, TokenManager};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where an [`AuthorizedClient`] gets its tokens: a [`TokenManager`] with its types erased,
/// so that the client is one type whatever the provider and store.
trait TokenSource: Send + Sync {
    fn token(&self) -> BoxFuture<'_, Result<Token, Error>>;
    fn after_rejection(&self, rejected: &Token) -> BoxFuture<'_, Result<Token, Error>>;
}

impl<P: Renew, S: TokenStore> TokenSource for TokenManager<P, S> {
    fn token(&self) -> BoxFuture<'_, Result<Token, Error>> {
        Box::pin(TokenManager::token(self))
    }

    fn after_rejection(&self, rejected: &Token) -> BoxFuture<'_, Result<Token, Error>> {
        Box::pin(self.token_after_rejection(rejected))
    }
}

/// Why an [`AuthorizedClient`] request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// oauthgen did not send the request: no token could be had (see the [`Error`]), or the
    /// URL is plain http to a host that is not loopback ([`Error::InsecureUrl`]).
    #[error(transparent)]
    Auth(Error),
    /// The request was built or sent and failed in `reqwest`: a bad header, a connection
    /// error, a timeout, a redirect refused by the client's policy (the policy's reason,
    /// such as [`Error::InsecureUrl`], is the error's source: see [`RequestError::auth`]).
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

impl RequestError {
    /// The runtime's [`Error`] behind this one, if any: the [`RequestError::Auth`] error, or
    /// one that a redirect policy such as [`secure_redirect_policy`] gave `reqwest`.
    pub fn auth(&self) -> Option<&Error> {
        match self {
            Self::Auth(e) => Some(e),
            Self::Http(e) => {
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    if let Some(found) = s.downcast_ref::<Error>() {
                        return Some(found);
                    }
                    source = s.source();
                }
                None
            }
        }
    }
}

impl From<Error> for RequestError {
    fn from(e: Error) -> Self {
        Self::Auth(e)
    }
}

/// An HTTP client whose requests carry a [`TokenManager`]'s access token: the classic
/// `credentials.authorize(http)`, returned by [`authorized_client`].
///
/// Each request gets `Authorization: Bearer <token>` (or `DPoP <token>` and a `DPoP` proof
/// header, for a DPoP-bound token) from the manager, which refreshes
/// ahead of expiry, and the spec's `api.headers` (MYOB's `x-myobapi-key`) unless the
/// request sets them itself. On a `401` the manager gets a new token and the request is sent once
/// more, when its body can be replayed (not a stream); it never loops. A request to a
/// plain-http URL whose host is not loopback is refused with [`Error::InsecureUrl`] before
/// a token is fetched or anything is sent.
///
/// Build requests as with `reqwest`: [`get`](Self::get), [`post`](Self::post), ... return
/// an [`AuthorizedRequest`] with the usual `header`, `query`, `json`, `form`, `body`,
/// `timeout` and [`send`](AuthorizedRequest::send); [`AuthorizedRequest::with`] reaches any
/// other `reqwest::RequestBuilder` method, and [`execute`](Self::execute) sends a built
/// `reqwest::Request`. Cloning is cheap and shares the connection pool and the manager.
#[derive(Clone)]
pub struct AuthorizedClient {
    http: reqwest::Client,
    tokens: Arc<dyn TokenSource>,
    /// The spec's `api.headers`, rendered once (variables do not change after the provider
    /// is built), or why they cannot be.
    api_headers: Arc<Result<HeaderMap, Error>>,
    /// The DPoP nonces resource servers gave, by origin (shared by clones).
    nonces: crate::wire::dpop::Nonces,
}

impl std::fmt::Debug for AuthorizedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizedClient").finish_non_exhaustive()
    }
}

impl AuthorizedClient {
    /// A request with `method` to `url`.
    pub fn request<U: IntoUrl>(&self, method: Method, url: U) -> AuthorizedRequest {
        AuthorizedRequest { client: self.clone(), inner: self.http.request(method, url) }
    }

    /// A `GET` request.
    pub fn get<U: IntoUrl>(&self, url: U) -> AuthorizedRequest {
        self.request(Method::GET, url)
    }

    /// A `POST` request.
    pub fn post<U: IntoUrl>(&self, url: U) -> AuthorizedRequest {
        self.request(Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put<U: IntoUrl>(&self, url: U) -> AuthorizedRequest {
        self.request(Method::PUT, url)
    }

    /// A `PATCH` request.
    pub fn patch<U: IntoUrl>(&self, url: U) -> AuthorizedRequest {
        self.request(Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete<U: IntoUrl>(&self, url: U) -> AuthorizedRequest {
        self.request(Method::DELETE, url)
    }

    /// A `HEAD` request.
    pub fn head<U: IntoUrl>(&self, url: U) -> AuthorizedRequest {
        self.request(Method::HEAD, url)
    }

    /// Send `request` with the access token (replacing any `Authorization` header it has),
    /// replaying it once after a `401` as described on [`AuthorizedClient`]. A DPoP-bound
    /// token goes as `Authorization: DPoP` with a fresh proof (RFC 9449); a `401` asking for
    /// a DPoP nonce (`use_dpop_nonce`) is answered by sending the request once more with it.
    pub async fn execute(&self, mut request: Request) -> Result<Response, RequestError> {
        crate::wire::http::require_tls("a request carrying a bearer token", request.url())?;
        let api_headers = self.api_headers.as_ref().as_ref().map_err(Clone::clone)?;
        for (name, value) in api_headers {
            if !request.headers().contains_key(name) {
                request.headers_mut().insert(name.clone(), value.clone());
            }
        }
        let token = self.tokens.token().await?;
        let replay = request.try_clone();
        let nonce_replay = token.dpop_key().and(request.try_clone());
        let sent_nonce = self.authorize(&mut request, &token)?;
        let url = request.url().clone();
        let mut response = self.http.execute(request).await?;
        if token.dpop_key().is_some() {
            // Retried with a nonce other than the one the proof carried, once.
            let offered = self.nonces.remember(&url, response.headers());
            let new_nonce = offered.is_some() && offered != sent_nonce;
            if let (Some(mut again), true) = (nonce_replay, new_nonce && refused_for_nonce(&response)) {
                self.authorize(&mut again, &token)?;
                response = self.http.execute(again).await?;
                self.nonces.remember(&url, response.headers());
            }
        }
        if response.status() != reqwest::StatusCode::UNAUTHORIZED || refused_for_nonce(&response) {
            return Ok(response);
        }
        let Some(mut replay) = replay else { return Ok(response) };
        let fresh = self.tokens.after_rejection(&token).await?;
        if fresh.secret() == token.secret() {
            return Ok(response);
        }
        self.authorize(&mut replay, &fresh)?;
        Ok(self.http.execute(replay).await?)
    }

    /// Put `token` on `request`: `Bearer`, or `DPoP` with a proof for this request; the nonce
    /// the proof carries.
    fn authorize(&self, request: &mut Request, token: &Token) -> Result<Option<String>, Error> {
        let Some(key) = token.dpop_key() else {
            request.headers_mut().insert(AUTHORIZATION, credential("Bearer", token.secret())?);
            return Ok(None);
        };
        let nonce = self.nonces.get(request.url());
        let proof = key.proof(request.method().as_str(), request.url(), Some(token.secret()), nonce.as_deref())?;
        request.headers_mut().insert(AUTHORIZATION, credential("DPoP", token.secret())?);
        let proof = HeaderValue::from_str(&proof).map_err(|e| Error::Signing(e.to_string()))?;
        request.headers_mut().insert(crate::wire::dpop::DPOP, proof);
        Ok(nonce)
    }

    /// The underlying `reqwest` client, which adds no token.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http
    }
}

/// A request being built by an [`AuthorizedClient`]; [`send`](Self::send) adds the token.
#[must_use = "a request does nothing until it is sent"]
#[derive(Debug)]
pub struct AuthorizedRequest {
    client: AuthorizedClient,
    inner: reqwest::RequestBuilder,
}

impl AuthorizedRequest {
    /// Add a header.
    pub fn header<K, V>(self, key: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.with(|b| b.header(key, value))
    }

    /// Add headers.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.with(|b| b.headers(headers))
    }

    /// Append query parameters (see `reqwest::RequestBuilder::query`).
    pub fn query<T: Serialize + ?Sized>(self, query: &T) -> Self {
        self.with(|b| b.query(query))
    }

    /// A form-encoded body (see `reqwest::RequestBuilder::form`).
    pub fn form<T: Serialize + ?Sized>(self, form: &T) -> Self {
        self.with(|b| b.form(form))
    }

    /// A JSON body (see `reqwest::RequestBuilder::json`).
    pub fn json<T: Serialize + ?Sized>(self, json: &T) -> Self {
        self.with(|b| b.json(json))
    }

    /// The body.
    pub fn body<T: Into<reqwest::Body>>(self, body: T) -> Self {
        self.with(|b| b.body(body))
    }

    /// A timeout for this request, from the start of sending until the response body has
    /// been read.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with(|b| b.timeout(timeout))
    }

    /// Any other `reqwest::RequestBuilder` method: `.with(|b| b.version(Version::HTTP_2))`.
    pub fn with(self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        Self { client: self.client, inner: f(self.inner) }
    }

    /// The request, without the token (which [`AuthorizedClient::execute`] adds).
    pub fn build(self) -> Result<Request, reqwest::Error> {
        self.inner.build()
    }

    /// A copy, when the body can be copied (not a stream).
    pub fn try_clone(&self) -> Option<Self> {
        Some(Self { client: self.client.clone(), inner: self.inner.try_clone()? })
    }

    /// Send it with the access token; see [`AuthorizedClient`].
    pub async fn send(self) -> Result<Response, RequestError> {
        let request = self.inner.build()?;
        self.client.execute(request).await
    }
}

/// A redirect policy that follows up to 10 redirects, like reqwest's default, but refuses
/// (before connecting) one to a plain-http URL whose host is not loopback: reqwest keeps the
/// `Authorization` header when only the scheme changes, so a bearer token would travel in
/// clear. [`authorized_client`] uses it; give it to the client you pass to
/// [`authorized_client_with`].
pub fn secure_redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 10 {
            return attempt.error("too many redirects");
        }
        match crate::wire::http::require_tls("a redirect of a request carrying a bearer token", attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
}

/// An HTTP client whose requests carry the manager's access token (see
/// [`AuthorizedClient`]). It never sends the token over plain http to a host that is not
/// loopback, also after a redirect ([`secure_redirect_policy`]).
///
/// # Panics
///
/// When the TLS backend cannot be initialised, as `reqwest::Client::new` does.
///
/// ```no_run
/// # async fn f<P: oauthgen_runtime::Renew>(manager: oauthgen_runtime::TokenManager<P, oauthgen_runtime::FileStore>) -> Result<(), Box<dyn std::error::Error>> {
/// let http = oauthgen_runtime::authorized_client(manager);
/// let me = http.get("https://api.example/me").send().await?.text().await?;
/// # Ok(()) }
/// ```
pub fn authorized_client<P: Renew, S: TokenStore>(manager: TokenManager<P, S>) -> AuthorizedClient {
    let client = reqwest::Client::builder()
        .redirect(secure_redirect_policy())
        .build()
        .expect("the TLS backend cannot be initialised");
    authorized_client_with(client, manager)
}

/// [`authorized_client`] over a client you configured. Plain-http URLs to hosts that are not
/// loopback are refused; redirects follow `client`'s policy, so build it with
/// [`secure_redirect_policy`] (or `Policy::none()`) to keep that rule after a redirect.
pub fn authorized_client_with<P: Renew, S: TokenStore>(
    client: reqwest::Client,
    manager: TokenManager<P, S>,
) -> AuthorizedClient {
    let api_headers =
        manager.provider().provider_config().map_or_else(|| Ok(HeaderMap::new()), crate::ProviderConfig::api_headers);
    // Resource servers' nonces are their own, apart from the authorization server's, even on
    // the same origin.
    let nonces = crate::wire::dpop::Nonces::default();
    AuthorizedClient { http: client, tokens: Arc::new(manager), api_headers: Arc::new(api_headers), nonces }
}
