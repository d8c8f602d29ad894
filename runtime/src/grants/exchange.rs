//! Token exchange (RFC 8693): a token for another audience, resource, scope or actor, in
//! exchange for one the client holds.

use std::fmt;

use crate::credentials::Credentials;
use crate::error::{Endpoint, Error};
use crate::grants::flow::{extra_params, grant_token_url, post_grant};
use crate::provider::TokenExchange;

/// The grant type of a token exchange request.
pub const TOKEN_EXCHANGE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The token type identifiers of RFC 8693 section 3, for `subject_token_type`,
/// `actor_token_type` and `requested_token_type`.
pub mod token_type {
    /// An OAuth 2.0 access token.
    pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
    /// An OAuth 2.0 refresh token.
    pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
    /// An OpenID Connect ID token.
    pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
    /// A JWT.
    pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
    /// A SAML 1.1 assertion, base64url-encoded.
    pub const SAML1: &str = "urn:ietf:params:oauth:token-type:saml1";
    /// A SAML 2.0 assertion, base64url-encoded.
    pub const SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";
}

/// What a token exchange asks for beyond the subject token: an actor (delegation), the
/// resources and audiences the new token is for, its scopes and its type. Each is optional;
/// `Debug` shows no token.
///
/// ```
/// use oauthgen_runtime::{TokenExchangeOptions, token_type};
///
/// let options = TokenExchangeOptions::new()
///     .audience("https://backend.example")
///     .scope("orders.read")
///     .requested_token_type(token_type::ACCESS_TOKEN);
/// assert!(!format!("{options:?}").contains("secret"));
/// ```
#[derive(Clone, Default)]
pub struct TokenExchangeOptions {
    actor: Option<(String, String)>,
    resources: Vec<String>,
    audiences: Vec<String>,
    scopes: Vec<String>,
    requested_token_type: Option<String>,
}

impl TokenExchangeOptions {
    /// No options: the provider's defaults for this client and subject token.
    pub fn new() -> Self {
        Self::default()
    }

    /// The party acting for the subject (`actor_token`, `actor_token_type`): delegation
    /// rather than impersonation.
    #[must_use]
    pub fn actor(mut self, token: impl Into<String>, token_type: impl Into<String>) -> Self {
        self.actor = Some((token.into(), token_type.into()));
        self
    }

    /// A resource (an absolute URI) the new token is for (`resource`); may be given more
    /// than once.
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resources.push(uri.into());
        self
    }

    /// A logical name of a service the new token is for (`audience`); may be given more
    /// than once.
    #[must_use]
    pub fn audience(mut self, name: impl Into<String>) -> Self {
        self.audiences.push(name.into());
        self
    }

    /// A scope the new token should have; may be given more than once. Without any, the
    /// provider decides (often the subject token's scopes).
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// The type of token wanted (`requested_token_type`, one of [`token_type`]).
    #[must_use]
    pub fn requested_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.requested_token_type = Some(token_type.into());
        self
    }
}

impl fmt::Debug for TokenExchangeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchangeOptions")
            .field("actor_token_type", &self.actor.as_ref().map(|(_, t)| t))
            .field("resources", &self.resources)
            .field("audiences", &self.audiences)
            .field("scopes", &self.scopes)
            .field("requested_token_type", &self.requested_token_type)
            .finish_non_exhaustive()
    }
}

/// Exchange `subject_token` (of type `subject_token_type`, one of [`token_type`]) for a new
/// token at the provider's token endpoint (RFC 8693), authenticated as the client. The new
/// token comes back as [`Credentials`]; its type is
/// [`Credentials::issued_token_type`]. A refusal is [`Error::OAuth`] (`invalid_grant` for a
/// subject or actor token the provider does not accept, `invalid_target` for an audience
/// or resource it does not serve).
///
/// ```no_run
/// # async fn run() -> Result<(), oauthgen_runtime::Error> {
/// # #[oauthgen_runtime::oauth_provider(spec = "../specs/keycloak.yaml")]
/// # pub struct Keycloak;
/// use oauthgen_runtime::{TokenExchangeOptions, token_exchange, token_type};
///
/// let keycloak = Keycloak::new("sso.example.com", "shop", "gateway", "gateway-secret");
/// let user_token = "eyJ...";
/// let options = TokenExchangeOptions::new().audience("orders-service");
/// let credentials = token_exchange(&keycloak, user_token, token_type::ACCESS_TOKEN, &options).await?;
/// assert_eq!(credentials.issued_token_type(), Some(token_type::ACCESS_TOKEN));
/// # Ok(()) }
/// ```
pub async fn token_exchange<P: TokenExchange>(
    provider: &P,
    subject_token: &str,
    subject_token_type: &str,
    options: &TokenExchangeOptions,
) -> Result<Credentials, Error> {
    let config = provider.config();
    let spec = config.spec();
    let grant =
        spec.grants.token_exchange.as_ref().ok_or(Error::NoGrant { provider: &spec.id, grant: "token_exchange" })?;
    let token_url = grant_token_url(config, grant.token_endpoint.as_deref(), "token exchange token endpoint")?;
    // No scopes: the provider decides (RFC 8693 section 2.1), not the spec's defaults.
    let scopes = &options.scopes;
    let joined = scopes.join(&*spec.scope_separator);
    let extra = extra_params(config, &grant.params)?;
    let mut params = vec![
        ("grant_type", TOKEN_EXCHANGE_GRANT_TYPE),
        ("subject_token", subject_token),
        ("subject_token_type", subject_token_type),
    ];
    if let Some((token, token_type)) = &options.actor {
        params.extend([("actor_token", token.as_str()), ("actor_token_type", token_type.as_str())]);
    }
    params.extend(options.resources.iter().map(|r| ("resource", r.as_str())));
    params.extend(options.audiences.iter().map(|a| ("audience", a.as_str())));
    if let Some(t) = &options.requested_token_type {
        params.push(("requested_token_type", t));
    }
    let scope_name = spec.param_name(Endpoint::Token, "scope");
    if let (false, Some(name)) = (joined.is_empty(), scope_name) {
        params.push((name, &joined));
    }
    params.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
    post_grant(config, &token_url, params, scopes, "token exchange response").await
}
