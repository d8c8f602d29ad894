//! The runtime behind oauthgen's generated OAuth 2.0 clients.
//!
//! A provider type generated from a spec (by `#[oauth_provider]`, the `oauthgen-providers`
//! crate or `oauthgen generate`) implements [`Provider`] and one capability trait per grant
//! its spec declares. The flows in this crate are functions bounded on those traits, so
//! asking a provider for a grant its spec lacks is a compile error that says so.
//!
//! # Authorization code flow (the classic `OAuth2WebServerFlow`)
//!
//! ```no_run
//! # async fn run() -> Result<(), oauthgen_runtime::Error> {
//! # #[oauthgen_runtime::oauth_provider(spec = "../specs/google.yaml")]
//! # pub struct Google;
//! use oauthgen_runtime::{authorize_url, exchange, Callback};
//!
//! let google = Google::new("client-id", "client-secret");
//! // Step 1: send the user to `auth.url`; keep `auth.pending` until they come back.
//! let auth = authorize_url(&google, "https://app.example/oauth2callback", &[GoogleScope::Email])?;
//! // Step 2: the provider redirects to your callback with `?code=...&state=...`.
//! let callback = Callback::from_query("code=4/0Ab...&state=...")?;
//! let credentials = exchange(&google, &auth.pending, &callback).await?;
//! println!("expires at {:?}", credentials.expires_at);
//! # Ok(()) }
//! ```
//!
//! `state` is random and checked in constant time; PKCE (S256) is on unless the spec says the
//! provider does not accept it; an `error=` callback is [`Error::Authorization`].
//!
//! # Refresh, client credentials, revocation
//!
//! [`refresh`] (for `Refresh` providers) updates credentials in place and marks them
//! `invalid` on `invalid_grant`; [`client_credentials`] gets a token for the client itself;
//! [`revoke`] ends a grant (RFC 7009).
//!
//! # Non-standard providers
//!
//! Token responses are cleaned up according to the spec's `token_response` before the
//! `oauth2` crate parses them: form-encoded bodies (GitHub), `expires_in` as a string
//! (PayPal), errors inside HTTP 200 (Slack), wrapped tokens (Withings), `scope` as a list.
//!
//! # Secrets
//!
//! Client secrets, tokens, PKCE verifiers and `state` never appear in `Debug` output or in
//! errors.
//!
//! # Parts
//!
//! | part | folder | public face |
//! |---|---|---|
//! | the provider, its spec and configuration | `provider.rs`, `spec.rs`, `config.rs` | [`Provider`], the capability traits, [`RuntimeProvider`], [`spec`], [`ProviderConfig`] |
//! | grants and flows | `grants/` | [`authorize_url`], [`exchange`], [`refresh`], [`client_credentials`], [`token_exchange`], [`revoke`], [`introspect`], [`device_authorization`], [`installed`], [`service_account`] |
//! | keeping tokens fresh | `tokens/` | [`TokenManager`], [`authorized_client`] |
//! | stores | `store/` | [`TokenStore`], [`FileStore`], [`AnyStore`], [`EncryptedStore`], ... |
//! | OpenID Connect | `oidc.rs` | [`validate_id_token`], [`IdTokenClaims`], [`oidc`] |
//! | Google's own | `google/` | [`adc`], [`interop`] |
//! | the wire | `wire/` | [`normalize`], [`http_client_builder`], [`REQUEST_TIMEOUT`] |

mod config;
mod credentials;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod google;
mod grants;
pub mod oidc;
mod provider;
pub mod spec;
pub mod store;
mod tokens;
mod wire;

pub use google::{adc, interop};
pub use grants::{installed, service_account};
pub use wire::assertion::{ASSERTION_TYPE, ClientKey, secret_assertion};
pub use wire::dpop::DpopKey;
pub use wire::normalize;

/// The `chrono` this crate uses for [`Credentials::expires_at`] and `issued_at` (the one the
/// `oauth2` crate builds on too).
pub use chrono;
pub use config::ProviderConfig;
pub use credentials::{Credentials, IdToken};
pub use error::{Endpoint, Error};
pub use grants::device::{DeviceAuthorization, DevicePoll, device_authorization, device_poll, device_poll_once};
pub use grants::exchange::{TOKEN_EXCHANGE_GRANT_TYPE, TokenExchangeOptions, token_exchange, token_type};
pub use grants::flow::{
    Authorization, Callback, PendingAuthorization, TokenInfo, authorize, authorize_url, authorize_url_with,
    client_credentials, exchange, introspect, refresh, revoke,
};
pub use installed::{LoopbackLogin, LoopbackOptions, loopback_login, open_browser};
pub use oauth2::{AccessToken, ClientSecret, RefreshToken};
#[cfg(feature = "macros")]
pub use oauthgen_macros::oauth_provider;
pub use oidc::{IdTokenClaims, IdTokenError, OidcOptions, validate_id_token};
pub use provider::{
    AuthorizationCode, ClientCredentials, DeviceFlow, Introspection, Provider, Refresh, Revocation, RuntimeProvider,
    ServiceAccount, TokenExchange, UserInfo, userinfo, userinfo_for, userinfo_url,
};
/// The `reqwest` this crate uses, for [`Provider::with_http_client`].
pub use reqwest;
pub use service_account::{ServiceAccountKey, assertion, exchange_assertion, service_account_token};
#[cfg(feature = "redis")]
pub use store::RedisStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{AnyStore, FileStore, MemoryStore, StoreError, TokenStore};
pub use store::{EncryptedStore, EncryptionKey};
#[cfg(feature = "postgres")]
pub use store::{PostgresOptions, PostgresStore};
pub use tokens::authorized::{
    AuthorizedClient, AuthorizedRequest, RequestError, authorized_client, authorized_client_with,
    secure_redirect_policy,
};
pub use tokens::manager::{ManagerOptions, Renew, ServiceAccountAuth, Token, TokenEvent, TokenManager};
/// The URL type of the runtime's API (`url::Url`).
pub use url::Url;
pub use wire::http::{MAX_RESPONSE_BYTES, REQUEST_TIMEOUT, http_client_builder};

/// A scope string that is not one of a provider's declared scopes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{scope}` is not a scope declared by the `{provider}` spec")]
pub struct UnknownScope {
    provider: &'static str,
    scope: String,
}

impl UnknownScope {
    /// The error for `scope` at `provider`.
    pub fn new(provider: &'static str, scope: &str) -> Self {
        Self { provider, scope: scope.to_owned() }
    }
}

/// What generated code reaches the runtime through; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::UnknownScope;
    pub use crate::config::ProviderConfig;
    pub use crate::provider::{
        AuthorizationCode, ClientCredentials, DeviceFlow, Introspection, Provider, Refresh, Revocation, ServiceAccount,
        TokenExchange, UserInfo,
    };
    pub use crate::spec;
    pub use serde;

    /// Deserialize a `FromStr` type from a string.
    pub fn deserialize_from_str<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: serde::Deserializer<'de>,
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Include the code that `oauthgen_codegen::Builder` wrote in your `build.rs` for one spec:
/// `include_provider!("acme")` expands to
/// `include!(concat!(env!("OUT_DIR"), "/oauthgen/acme.rs"));`, the provider type (`Acme`),
/// its scope enum (`AcmeScope`) and its capability impls, as `#[oauth_provider]` would
/// generate them. The argument is the spec's `id`.
///
/// ```ignore
/// // build.rs (with `oauthgen-codegen` in [build-dependencies])
/// fn main() -> Result<(), oauthgen_codegen::builder::Error> {
///     oauthgen_codegen::Builder::new().spec("specs/acme.yaml").compile()
/// }
///
/// // src/lib.rs
/// oauthgen_runtime::include_provider!("acme");
///
/// pub fn client() -> Acme {
///     Acme::new("client-id", "client-secret")
/// }
/// ```
///
/// (Not a doctest: doctests have no `OUT_DIR`.) Use it at module level, in a `mod` of its own
/// to keep the generated names apart. With `Builder::out_dir`, use `include!` on that path
/// instead.
#[macro_export]
macro_rules! include_provider {
    ($id:literal) => {
        ::core::include!(::core::concat!(::core::env!("OUT_DIR"), "/oauthgen/", $id, ".rs"));
    };
}
