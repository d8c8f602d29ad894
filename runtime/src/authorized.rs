//! The authorized HTTP client: the classic `credentials.authorize(http)`.

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};

use crate::store::TokenStore;
use crate::{Error, Renew, TokenManager};

/// A `reqwest-middleware` middleware that adds `Authorization: Bearer <token>` from a
/// [`TokenManager`] (which refreshes ahead of expiry), and on a `401` gets a new token and
/// replays the request once, when its body can be replayed. It never loops.
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

/// An HTTP client whose requests carry the manager's access token (see [`BearerAuth`]).
///
/// ```no_run
/// # async fn f<P: oauthgen_runtime::Renew>(manager: oauthgen_runtime::TokenManager<P, oauthgen_runtime::FileStore>) -> Result<(), Box<dyn std::error::Error>> {
/// let http = oauthgen_runtime::authorized_client(manager);
/// let me = http.get("https://api.example/me").send().await?.text().await?;
/// # Ok(()) }
/// ```
pub fn authorized_client<P: Renew, S: TokenStore>(manager: TokenManager<P, S>) -> ClientWithMiddleware {
    authorized_client_with(reqwest::Client::new(), manager)
}

/// [`authorized_client`] over a client you configured.
pub fn authorized_client_with<P: Renew, S: TokenStore>(
    client: reqwest::Client,
    manager: TokenManager<P, S>,
) -> ClientWithMiddleware {
    ClientBuilder::new(client).with(BearerAuth::new(manager)).build()
}
