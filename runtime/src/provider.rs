//! The `Provider` trait that generated types implement, and the capability traits that say
//! which grants a provider's spec declares.
//!
//! Flows are functions bounded on a capability (`refresh<P: Refresh>`), so calling one for a
//! provider whose spec lacks the grant does not compile, and the compiler says why.

use url::Url;

use crate::config::ProviderConfig;
use crate::error::{Endpoint, Error};

/// An OAuth 2.0 provider: implemented by every generated provider type.
pub trait Provider: Send + Sync {
    /// The provider's scope enum (`GoogleScope`).
    type Scope: Copy + AsRef<str> + std::fmt::Debug + Send + Sync + 'static;

    /// The configuration: spec, client and overrides.
    fn config(&self) -> &ProviderConfig;

    /// The configuration, to change.
    fn config_mut(&mut self) -> &mut ProviderConfig;

    /// Replace one endpoint's URL: tests, proxies, or a provider's other host (the classic
    /// library's changeable `auth_uri` and `token_uri`). It must be `https` unless its host
    /// is loopback (`127.0.0.0/8`, `::1`, `localhost`): [`Error::InsecureUrl`] otherwise.
    ///
    /// ```
    /// # use oauthgen_runtime::{Endpoint, Provider};
    /// # fn f<P: Provider>(p: P) -> Result<P, oauthgen_runtime::Error> {
    /// let p = p.with_endpoint(Endpoint::Token, "http://127.0.0.1:8080/token")?;
    /// # Ok(p) }
    /// ```
    fn with_endpoint(mut self, endpoint: Endpoint, url: &str) -> Result<Self, Error>
    where
        Self: Sized,
    {
        let parsed = Url::parse(url)
            .map_err(|source| Error::InvalidUrl { what: format!("{endpoint} endpoint override"), source })?;
        crate::wire::http::require_tls(&format!("the {endpoint} endpoint override"), &parsed)?;
        self.config_mut().set_endpoint(endpoint, parsed);
        Ok(self)
    }

    /// Send every request for this provider (token, refresh, revocation, device,
    /// introspection, discovery, JWKS, service-account tokens) with your own `client`:
    /// a proxy, extra root certificates, a test double. The per-request timeout and the
    /// response size limit still apply. Redirects follow `client`'s policy: build it from
    /// [`crate::http_client_builder`] to keep the runtime's (none).
    ///
    /// ```
    /// # use oauthgen_runtime::Provider;
    /// # fn f<P: Provider>(p: P) -> Result<P, oauthgen_runtime::reqwest::Error> {
    /// let proxy = oauthgen_runtime::reqwest::Proxy::https("http://proxy.internal:3128")?;
    /// let client = oauthgen_runtime::http_client_builder().proxy(proxy).build()?;
    /// let p = p.with_http_client(client);
    /// # Ok(p) }
    /// ```
    #[must_use]
    fn with_http_client(mut self, client: reqwest::Client) -> Self
    where
        Self: Sized,
    {
        self.config_mut().set_http_client(client);
        self
    }

    /// Authenticate with a private key (`private_key_jwt`, RFC 7523): every request that
    /// authenticates the client (token, refresh, client credentials, device, revocation,
    /// introspection) carries a fresh assertion signed with `key` instead of a secret. Used
    /// when the spec lists `private_key_jwt` (or the method is chosen with
    /// [`ProviderConfig::set_client_auth`](crate::ProviderConfig::set_client_auth)).
    ///
    /// ```no_run
    /// # use oauthgen_runtime::{ClientKey, Provider};
    /// # fn f<P: Provider>(p: P) -> Result<P, Box<dyn std::error::Error>> {
    /// let key = ClientKey::from_file("client-key.pem")?.with_key_id("key-1");
    /// let p = p.with_client_key(key);
    /// # Ok(p) }
    /// ```
    #[must_use]
    fn with_client_key(mut self, key: crate::ClientKey) -> Self
    where
        Self: Sized,
    {
        self.config_mut().set_client_key(key);
        self
    }

    /// Authenticate with a client assertion another issuer writes to `path` (workload
    /// identity federation): see [`ProviderConfig::set_client_assertion_file`].
    #[must_use]
    fn with_client_assertion_file(mut self, path: impl Into<std::path::PathBuf>) -> Self
    where
        Self: Sized,
    {
        self.config_mut().set_client_assertion_file(path);
        self
    }

    /// Bind tokens to a key of the client's with DPoP proofs (RFC 9449), for a provider whose
    /// spec says `dpop: supported`; [`Error::DpopUnsupported`] when it says `unsupported`.
    /// Every new grant (code exchange, client credentials, device, token exchange) gets a
    /// fresh P-256 key, kept in its credentials ([`crate::Credentials::dpop_key`]) and used
    /// for its refreshes; [`crate::authorized_client`] sends DPoP-bound tokens with proofs.
    ///
    /// ```
    /// # use oauthgen_runtime::Provider;
    /// # fn f<P: Provider>(p: P) -> Result<P, oauthgen_runtime::Error> {
    /// let p = p.with_dpop()?;
    /// assert!(p.config().uses_dpop());
    /// # Ok(p) }
    /// ```
    fn with_dpop(mut self) -> Result<Self, Error>
    where
        Self: Sized,
    {
        self.config_mut().set_dpop(true)?;
        Ok(self)
    }
}

/// The spec declares the `authorization_code` grant: [`crate::authorize_url`] and
/// [`crate::exchange`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot do this: its spec declares no `grants.authorization_code`",
    label = "the spec of `{Self}` lacks `grants.authorization_code`",
    note = "add `grants.authorization_code` to the provider's spec to generate this capability"
)]
pub trait AuthorizationCode: Provider {}

/// The spec declares the `refresh_token` grant: [`crate::refresh`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot do this: its spec declares no `grants.refresh_token`",
    label = "the spec of `{Self}` lacks `grants.refresh_token`",
    note = "add `grants.refresh_token` to the provider's spec to generate this capability"
)]
pub trait Refresh: Provider {}

/// The spec declares the `device_code` grant (RFC 8628): [`crate::device_authorization`]
/// and [`crate::device_poll`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot do this: its spec declares no `grants.device_code`",
    label = "the spec of `{Self}` lacks `grants.device_code`",
    note = "add `grants.device_code` to the provider's spec to generate this capability"
)]
pub trait DeviceFlow: Provider {}

/// The spec declares the `client_credentials` grant: [`crate::client_credentials`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot do this: its spec declares no `grants.client_credentials`",
    label = "the spec of `{Self}` lacks `grants.client_credentials`",
    note = "add `grants.client_credentials` to the provider's spec to generate this capability"
)]
pub trait ClientCredentials: Provider {}

/// The spec declares the `jwt_bearer` grant (service accounts, RFC 7523):
/// [`crate::service_account_token`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot do this: its spec declares no `grants.jwt_bearer`",
    label = "the spec of `{Self}` lacks `grants.jwt_bearer`",
    note = "add `grants.jwt_bearer` to the provider's spec to generate this capability"
)]
pub trait ServiceAccount: Provider {}

/// The spec declares the `token_exchange` grant (RFC 8693): [`crate::token_exchange`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot do this: its spec declares no `grants.token_exchange`",
    label = "the spec of `{Self}` lacks `grants.token_exchange`",
    note = "add `grants.token_exchange` to the provider's spec to generate this capability"
)]
pub trait TokenExchange: Provider {}

/// The spec declares a revocation endpoint: [`crate::revoke`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot do this: its spec declares no `endpoints.revocation`",
    label = "the spec of `{Self}` lacks `endpoints.revocation`",
    note = "add `endpoints.revocation` to the provider's spec to generate this capability"
)]
pub trait Revocation: Provider {}

/// The spec declares an introspection endpoint (RFC 7662): [`crate::introspect`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot do this: its spec declares no `endpoints.introspection`",
    label = "the spec of `{Self}` lacks `endpoints.introspection`",
    note = "add `endpoints.introspection` to the provider's spec to generate this capability"
)]
pub trait Introspection: Provider {}

/// The spec declares a userinfo endpoint: [`crate::userinfo_url`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot do this: its spec declares no `endpoints.userinfo`",
    label = "the spec of `{Self}` lacks `endpoints.userinfo`",
    note = "add `endpoints.userinfo` to the provider's spec to generate this capability"
)]
pub trait UserInfo: Provider {}

/// The userinfo endpoint's URL.
pub fn userinfo_url<P: UserInfo>(provider: &P) -> Result<Url, Error> {
    provider.config().endpoint(Endpoint::Userinfo)
}

/// Ask the userinfo endpoint about the user `access_token` belongs to: its JSON answer. The
/// request goes out as every other request for `provider` does (its HTTP client, timeout,
/// response size limit and TLS rule), with the token as a bearer token. For a DPoP-bound
/// token use [`userinfo_for`], which adds the proof.
pub async fn userinfo<P: UserInfo>(provider: &P, access_token: &str) -> Result<serde_json::Value, Error> {
    userinfo_presenting(provider, crate::wire::http::Presented::Bearer(access_token)).await
}

/// [`userinfo`] for the user of `credentials`, presenting their access token as its type
/// says: a bearer token, or a DPoP-bound token (`token_type: DPoP`) as `Authorization: DPoP`
/// with a proof by their [`Credentials::dpop_key`](crate::Credentials::dpop_key) (RFC 9449
/// section 7), sent once more with the server's nonce when it asks for one. It does not
/// refresh: an expired token is the provider's `401`, as an [`Error::Http`]; the
/// [`crate::authorized_client`] of a [`crate::TokenManager`] refreshes.
///
/// # Errors
///
/// [`Error::Signing`] for DPoP-bound credentials without their key; otherwise as
/// [`userinfo`].
pub async fn userinfo_for<P: UserInfo>(
    provider: &P,
    credentials: &crate::Credentials,
) -> Result<serde_json::Value, Error> {
    let token = credentials.access_token.secret();
    let presented = match (&credentials.dpop_key, credentials.is_dpop()) {
        (Some(key), true) => crate::wire::http::Presented::Dpop(token, key),
        (None, true) => {
            return Err(Error::Signing(
                "the access token is DPoP-bound but the credentials hold no DPoP key (`dpop_key`) to prove it".into(),
            ));
        }
        (_, false) => crate::wire::http::Presented::Bearer(token),
    };
    userinfo_presenting(provider, presented).await
}

async fn userinfo_presenting<P: UserInfo>(
    provider: &P,
    presented: crate::wire::http::Presented<'_>,
) -> Result<serde_json::Value, Error> {
    let url = userinfo_url(provider)?;
    let failed = |reason: String| Error::Http { endpoint: Endpoint::Userinfo, reason, maybe_sent: true };
    let (body, _) = crate::wire::http::get_with(provider.config(), &url, Some(presented)).await.map_err(failed)?;
    serde_json::from_slice(&body).map_err(|e| failed(format!("not JSON: {e}")))
}

/// A provider whose spec is known only at run time: a spec file loaded by a command-line
/// tool or read from an application's configuration. It implements every capability trait;
/// a grant or endpoint its spec lacks is an error when used ([`Error::NoGrant`],
/// [`Error::NoEndpoint`]) instead of a compile error.
///
/// ```
/// use std::borrow::Cow;
/// use oauthgen_runtime::spec::ProviderSpec;
/// use oauthgen_runtime::{Provider, RuntimeProvider};
///
/// let mut spec = ProviderSpec::new("acme", "Acme", "https://acme.example/token");
/// spec.grants.client_credentials =
///     Some(oauthgen_runtime::spec::ClientCredentialsSpec { token_endpoint: None, params: Cow::Borrowed(&[]), grant_type: None });
/// let acme = RuntimeProvider::new(spec.leak(), "client-id".into(), Some("secret".into()));
/// assert_eq!(acme.config().spec().id, "acme");
/// ```
#[derive(Debug, Clone)]
pub struct RuntimeProvider {
    config: ProviderConfig,
}

impl RuntimeProvider {
    /// A client of the provider `spec` describes ([`crate::spec::ProviderSpec::leak`] turns an
    /// owned spec into the `'static` one needed here).
    pub fn new(spec: &'static crate::spec::ProviderSpec, client_id: String, client_secret: Option<String>) -> Self {
        Self { config: ProviderConfig::new(spec, client_id, client_secret) }
    }
}

impl Provider for RuntimeProvider {
    /// Scopes are the provider's scope strings.
    type Scope = &'static str;

    fn config(&self) -> &ProviderConfig {
        &self.config
    }

    fn config_mut(&mut self) -> &mut ProviderConfig {
        &mut self.config
    }
}

impl AuthorizationCode for RuntimeProvider {}
impl Refresh for RuntimeProvider {}
impl DeviceFlow for RuntimeProvider {}
impl ClientCredentials for RuntimeProvider {}
impl ServiceAccount for RuntimeProvider {}
impl TokenExchange for RuntimeProvider {}
impl Revocation for RuntimeProvider {}
impl Introspection for RuntimeProvider {}
impl UserInfo for RuntimeProvider {}
