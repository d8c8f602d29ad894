//! The authorized HTTP client: the classic `credentials.authorize(http)`.

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};

use crate::store::TokenStore;
use crate::{Error, Renew, TokenManager};

/// A `reqwest-middleware` middleware that adds `Authorization: Bearer <token>` from a
/// [`TokenManager`] (which refreshes ahead of expiry), and on a `401` gets a new token and
/// replays the request once, when its body can be replayed. It never loops.
///
/// A request to a plain-http URL whose host is not loopback is refused with
/// [`Error::InsecureUrl`] before a token is fetched or anything is sent.
pub struct BearerAuth<P, S> {
    manager: TokenManager<P, S>,
}

impl<P, S> BearerAuth<P, S> {
    /// Middleware drawing tokens from `manager`.
    pub fn new(manager: TokenManager<P, S>) -> Self {
        Self { manager }
    }
}

fn bearer(token: &oauth2::AccessToken) -> Result<HeaderValue, reqwest_middleware::Error> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.secret())).map_err(|_| {
        reqwest_middleware::Error::middleware(Error::MalformedResponse {
            status: 200,
            reason: "the access token holds characters not allowed in a header".into(),
        })
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[async_trait::async_trait]
impl<P: Renew, S: TokenStore> Middleware for BearerAuth<P, S> {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        crate::wire::http::require_tls("a request carrying a bearer token", request.url())
            .map_err(reqwest_middleware::Error::middleware)?;
        let token = self.manager.token().await.map_err(reqwest_middleware::Error::middleware)?;
        let replay = request.try_clone();
        request.headers_mut().insert(AUTHORIZATION, bearer(&token)?);
        let response = next.clone().run(request, extensions).await?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(mut replay) = replay else { return Ok(response) };
        let fresh = self.manager.token_after_rejection(&token).await.map_err(reqwest_middleware::Error::middleware)?;
        if fresh.secret() == token.secret() {
            return Ok(response);
        }
        replay.headers_mut().insert(AUTHORIZATION, bearer(&fresh)?);
        next.run(replay, extensions).await
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

/// An HTTP client whose requests carry the manager's access token (see [`BearerAuth`]). It
/// never sends the token over plain http to a host that is not loopback, also after a
/// redirect ([`secure_redirect_policy`]).
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
pub fn authorized_client<P: Renew, S: TokenStore>(manager: TokenManager<P, S>) -> ClientWithMiddleware {
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
) -> ClientWithMiddleware {
    ClientBuilder::new(client).with(BearerAuth::new(manager)).build()
}
