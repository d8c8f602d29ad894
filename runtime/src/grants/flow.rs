//! The grants: authorization code with PKCE and state, refresh, client credentials, and
//! token revocation. The protocol itself is `oauth2`'s; this module feeds it the spec.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode as Code, ClientId, CsrfToken, ExtraTokenFields, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse,
    TokenResponse, TokenUrl, http,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;
use url::Url;

use crate::config::ProviderConfig;
use crate::credentials::{Credentials, IdToken};
use crate::error::{Endpoint, Error};
use crate::provider::{AuthorizationCode, ClientCredentials, Introspection, Refresh, Revocation};
use crate::spec::{ClientAuth, Pkce};
use crate::wire::http::{Transport, TransportError, send_with};

/// Every field of a token response that RFC 6749 does not name, kept as it came.
#[derive(Clone, Serialize, Deserialize, Default)]
pub(crate) struct ExtraFields {
    #[serde(flatten)]
    fields: BTreeMap<String, Value>,
}

impl fmt::Debug for ExtraFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.fields.keys()).finish()
    }
}

impl ExtraTokenFields for ExtraFields {}

pub(crate) type TokenResp = StandardTokenResponse<ExtraFields, BasicTokenType>;
type BaseClient = oauth2::Client<
    BasicErrorResponse,
    TokenResp,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

fn base_client(config: &ProviderConfig) -> BaseClient {
    let mut client = oauth2::Client::new(ClientId::new(config.client_id().to_string()));
    let method = config.client_auth();
    // With an assertion the secret is never sent: the transport adds the assertion.
    if let (Some(secret), false) = (config.client_secret(), method.is_assertion()) {
        client = client.set_client_secret(secret.clone());
    }
    client.set_auth_type(match method {
        ClientAuth::Basic => AuthType::BasicAuth,
        ClientAuth::RequestBody | ClientAuth::PrivateKeyJwt | ClientAuth::ClientSecretJwt => AuthType::RequestBody,
    })
}

pub(crate) fn join_scopes<S: AsRef<str>>(config: &ProviderConfig, scopes: &[S]) -> Vec<String> {
    if scopes.is_empty() {
        config.spec().default_scopes.iter().map(ToString::to_string).collect()
    } else {
        scopes.iter().map(|s| s.as_ref().to_owned()).collect()
    }
}

/// An `oauth2` request's failure at `endpoint`. Refusals (OAuth errors included) arrive as
/// [`TransportError::Refused`], parsed by the transport like every endpoint's.
fn map_error(endpoint: Endpoint, e: RequestTokenError<TransportError, BasicErrorResponse>) -> Error {
    match e {
        // The transport hands `oauth2` successes only (HTTP 200), so this is not reached.
        RequestTokenError::ServerResponse(_) => Error::MalformedResponse {
            status: 0,
            reason: format!("unexpected error response from the {endpoint} endpoint"),
        },
        RequestTokenError::Request(t) => t.into_error(endpoint),
        // The body is left out: a response that failed to parse may still hold a token.
        RequestTokenError::Parse(e, _) => Error::MalformedResponse { status: 200, reason: e.to_string() },
        RequestTokenError::Other(reason) => Error::MalformedResponse { status: 0, reason },
    }
}

pub(crate) fn credentials_from(response: &TokenResp, requested: &[String]) -> Credentials {
    let mut extra = response.extra_fields().fields.clone();
    let id_token = match extra.remove("id_token") {
        Some(Value::String(s)) => Some(IdToken::new(s)),
        _ => None,
    };
    let now = Utc::now();
    let expires_at = response.expires_in().and_then(|d| {
        let d = chrono::TimeDelta::from_std(d).ok()?;
        now.checked_add_signed(d)
    });
    Credentials {
        access_token: response.access_token().clone(),
        token_type: response.token_type().as_ref().to_owned(),
        refresh_token: response.refresh_token().cloned(),
        expires_at,
        issued_at: Some(now),
        scopes: response.scopes().map_or_else(|| requested.to_vec(), |s| s.iter().map(|s| s.to_string()).collect()),
        id_token,
        extra,
        invalid: false,
        dpop_key: None,
    }
}

/// A started authorization: the URL to send the user to, and what [`exchange`] needs to
/// finish it.
///
/// `Debug` shows the URL without its query (which holds `state` and `nonce`).
#[derive(Clone)]
pub struct Authorization {
    /// The provider's authorization URL, with state, PKCE challenge and scopes.
    pub url: Url,
    /// Keep this (server side, or in a cookie you sign) until the callback arrives.
    pub pending: PendingAuthorization,
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization").field("url", &redacted_url(&self.url)).field("pending", &self.pending).finish()
    }
}

/// A URL for `Debug`: its query and fragment replaced by `[redacted]`.
pub(crate) fn redacted_url(url: &Url) -> String {
    let mut shown = url.clone();
    let had_query = shown.query().is_some();
    shown.set_query(None);
    shown.set_fragment(None);
    if had_query { format!("{shown}?[redacted]") } else { shown.to_string() }
}

/// What an authorization in progress must remember: state, PKCE verifier, redirect URI,
/// scopes, and with DPoP the key the code is bound to. Serialisable, so it can wait in a
/// (server-side) session store. `Debug` hides the secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingAuthorization {
    provider: String,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkce_verifier: Option<String>,
    redirect_uri: String,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    /// The OpenID Connect `nonce` sent; absent in values serialised before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    /// With DPoP, the key whose thumbprint went out as `dpop_jkt` (RFC 9449 section 10): the
    /// code can only be redeemed with proofs of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dpop_key: Option<crate::DpopKey>,
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("provider", &self.provider)
            .field("state", &"[redacted]")
            .field("pkce", &self.pkce_verifier.is_some())
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("nonce", &self.nonce.as_ref().map(|_| "[redacted]"))
            .field("dpop_jkt", &self.dpop_key.as_ref().map(crate::DpopKey::thumbprint))
            .finish()
    }
}

impl PendingAuthorization {
    /// The provider id this authorization is for.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The `state` value sent to the provider: a key to find this authorization again when
    /// the callback arrives. [`exchange`] compares it in constant time.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// Whether a PKCE challenge was sent.
    pub fn uses_pkce(&self) -> bool {
        self.pkce_verifier.is_some()
    }

    /// The redirect URI sent to the provider.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The scopes requested.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// When the authorization started.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// Whether an OpenID Connect `nonce` was sent (the ID token must then carry it).
    pub fn uses_nonce(&self) -> bool {
        self.nonce.is_some()
    }

    /// With DPoP, the thumbprint sent as `dpop_jkt`: the key [`exchange`] proves and the
    /// tokens are bound to.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.dpop_key.as_ref().map(crate::DpopKey::thumbprint)
    }
}

/// Step 1 of the authorization code flow (the classic `step1_get_authorize_url`): build the
/// URL to send the user to. An empty `scopes` asks for the spec's default scopes.
///
/// PKCE (S256) is used unless the spec says `unsupported` (or `public_only` and this is a
/// confidential client); the spec's `authorize_params` are added.
pub fn authorize_url<P: AuthorizationCode, S: AsRef<str>>(
    provider: &P,
    redirect_uri: &str,
    scopes: &[S],
) -> Result<Authorization, Error> {
    authorize_url_with(provider, redirect_uri, scopes, &[])
}

/// [`authorize_url`] with extra parameters for this request only (`login_hint`, `prompt`
/// ...). Parameters the flow sets itself (`state`, `redirect_uri` ...) are refused.
///
/// When the scopes include `openid` and the spec declares `oidc`, a random `nonce` is sent
/// and kept in the pending authorization; [`exchange`] then requires the ID token to carry
/// it. A `nonce` given in `params` is used instead of a random one.
///
/// A provider that pushes authorization requests (`endpoints.pushed_authorization`, or a URL
/// set for [`Endpoint::PushedAuthorization`]) cannot have its parameters in the URL:
/// [`Error::PushedAuthorizationRequired`]; use [`authorize`] for it.
pub fn authorize_url_with<P: AuthorizationCode, S: AsRef<str>>(
    provider: &P,
    redirect_uri: &str,
    scopes: &[S],
    params: &[(&str, &str)],
) -> Result<Authorization, Error> {
    let config = provider.config();
    if config.pushes_authorization() {
        return Err(Error::PushedAuthorizationRequired { provider: &config.spec().id });
    }
    build_authorization(config, redirect_uri, scopes, params)
}

/// Step 1 of the authorization code flow, for every provider: [`authorize_url_with`], except
/// that when the spec has `endpoints.pushed_authorization` (RFC 9126), or a URL was set for
/// [`Endpoint::PushedAuthorization`] with `with_endpoint`, the parameters are first pushed
/// there, authenticated as the client, and the URL carries only `client_id` and the
/// `request_uri` the provider answered with. Nothing secret or alterable travels
/// through the browser, and the provider has checked the request before the user sees it:
/// a refusal of the pushed request is [`Error::OAuth`], before any redirect.
///
/// ```no_run
/// # async fn run() -> Result<(), oauthgen_runtime::Error> {
/// # #[oauthgen_runtime::oauth_provider(spec = "../specs/keycloak.yaml")]
/// # pub struct Keycloak;
/// use oauthgen_runtime::authorize;
///
/// let keycloak = Keycloak::new("sso.example.com", "shop", "web", "web-secret");
/// let auth = authorize(&keycloak, "https://app.example/callback", &[KeycloakScope::Openid], &[]).await?;
/// // .../realms/shop/protocol/openid-connect/auth?client_id=web&request_uri=urn:ietf:params:oauth:request_uri:...
/// # Ok(()) }
/// ```
pub async fn authorize<P: AuthorizationCode, S: AsRef<str>>(
    provider: &P,
    redirect_uri: &str,
    scopes: &[S],
    params: &[(&str, &str)],
) -> Result<Authorization, Error> {
    let config = provider.config();
    let mut authorization = build_authorization(config, redirect_uri, scopes, params)?;
    if config.pushes_authorization() {
        authorization.url = push_authorization(config, &authorization.url).await?;
    }
    Ok(authorization)
}

/// RFC 9126: POST the parameters of `url` to the pushed authorization endpoint, and the
/// URL the browser gets instead (the authorization endpoint with `client_id` and
/// `request_uri`).
/// A pushed authorization response (RFC 9126 section 2.2); `expires_in` is not needed.
#[derive(Deserialize)]
struct PushedRequest {
    request_uri: String,
}

async fn push_authorization(config: &ProviderConfig, url: &Url) -> Result<Url, Error> {
    const ENDPOINT: Endpoint = Endpoint::PushedAuthorization;
    let spec = config.spec();
    let id_name = spec.param_name(Endpoint::Authorization, "client_id").unwrap_or("client_id");
    // The authorization endpoint's own query (Azure AD B2C's `?p=policy`) stays in the
    // browser's URL and is not pushed; every parameter the flow added is.
    let endpoint = config.endpoint(Endpoint::Authorization)?;
    let own: Vec<(String, String)> = endpoint.query_pairs().into_owned().collect();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().skip(own.len()).collect();
    // Client authentication adds `client_id` itself, except with HTTP Basic.
    let keep_id = config.client_auth_at(ENDPOINT) == ClientAuth::Basic && config.client_secret().is_some();
    let params: Vec<(&str, &str)> =
        pairs.iter().filter(|(name, _)| keep_id || name != id_name).map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let response = post_authenticated_to(config, &config.endpoint(ENDPOINT)?, ENDPOINT, params).await?;
    let status = response.status().as_u16();
    let malformed = |reason: String| Error::MalformedResponse { status, reason };
    let pushed: PushedRequest = serde_json::from_slice(response.body())
        .map_err(|e| malformed(format!("invalid pushed authorization response: {e}")))?;
    if pushed.request_uri.is_empty() {
        return Err(malformed("the pushed authorization response has an empty request_uri".into()));
    }
    let mut browser = endpoint;
    browser
        .query_pairs_mut()
        .append_pair(id_name, config.client_id().as_str())
        .append_pair("request_uri", &pushed.request_uri);
    Ok(browser)
}

fn build_authorization<S: AsRef<str>>(
    config: &ProviderConfig,
    redirect_uri: &str,
    scopes: &[S],
    params: &[(&str, &str)],
) -> Result<Authorization, Error> {
    if let Some((name, _)) = params.iter().find(|(n, _)| crate::spec::RESERVED_PARAMS.contains(n)) {
        return Err(Error::ReservedParameter((*name).to_owned()));
    }
    let spec = config.spec();
    let auth_url = config.endpoint(Endpoint::Authorization)?;
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|source| Error::InvalidUrl { what: "redirect URI".into(), source })?;
    let scopes = join_scopes(config, scopes);
    let client = base_client(config).set_auth_uri(AuthUrl::from_url(auth_url));
    let state = CsrfToken::new_random();
    let state_value = state.secret().clone();
    let mut request = client.authorize_url(move || state).set_redirect_uri(Cow::Owned(redirect));
    if !scopes.is_empty() {
        request = request.add_scope(Scope::new(scopes.join(&*spec.scope_separator)));
    }
    let use_pkce = match spec.pkce {
        Pkce::Required | Pkce::Supported => true,
        Pkce::PublicOnly => config.is_public(),
        Pkce::Unsupported => false,
    };
    let mut verifier = None;
    if use_pkce {
        let (challenge, v) = PkceCodeChallenge::new_random_sha256();
        request = request.set_pkce_challenge(challenge);
        verifier = Some(v.secret().clone());
    }
    for (name, template) in spec.authorize_params.iter() {
        request = request.add_extra_param(&**name, config.render_value(template)?);
    }
    for (name, value) in params.iter().copied() {
        request = request.add_extra_param(name, value);
    }
    // With DPoP the grant's key is made now and the code bound to it (RFC 9449 section 10):
    // a stolen code cannot be redeemed with proofs of another key.
    let dpop_key = config.grant_dpop_key()?;
    if let Some(key) = &dpop_key {
        request = request.add_extra_param("dpop_jkt", key.thumbprint().to_owned());
    }
    let mut nonce = params.iter().find(|(n, _)| *n == "nonce").map(|(_, v)| (*v).to_owned());
    if nonce.is_none() && spec.oidc_issuer.is_some() && scopes.iter().any(|s| s == "openid") {
        let fresh = crate::oidc::new_nonce();
        request = request.add_extra_param("nonce", fresh.clone());
        nonce = Some(fresh);
    }
    let (mut url, _) = request.url();
    if spec.renames_params() {
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let mut query = url.query_pairs_mut();
        query.clear();
        query.extend_pairs(crate::wire::http::rename_pairs(config, Endpoint::Authorization, &pairs));
        drop(query);
    }
    Ok(Authorization {
        url,
        pending: PendingAuthorization {
            provider: spec.id.to_string(),
            state: state_value,
            pkce_verifier: verifier,
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            created_at: Utc::now(),
            nonce,
            dpop_key,
        },
    })
}

/// The query parameters of an authorization callback (`?code=...&state=...`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Callback {
    params: BTreeMap<String, String>,
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.params.keys()).finish()
    }
}

impl Callback {
    /// Parameters from name/value pairs. A repeated name is refused: it is how a tampered
    /// callback smuggles a second `state` or `code`.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, Error> {
        let mut params = BTreeMap::new();
        for (k, v) in pairs {
            let k = k.into();
            if params.insert(k.clone(), v.into()).is_some() {
                return Err(Error::InvalidCallback(format!("parameter `{k}` appears more than once")));
            }
        }
        Ok(Self { params })
    }

    /// Parameters from a query string (`code=...&state=...`, with or without a leading `?`).
    pub fn from_query(query: &str) -> Result<Self, Error> {
        let query = query.strip_prefix('?').unwrap_or(query);
        Self::from_pairs(url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())))
    }

    /// Parameters from the whole redirected URL.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let url = Url::parse(url).map_err(|source| Error::InvalidUrl { what: "callback URL".into(), source })?;
        Self::from_query(url.query().unwrap_or_default())
    }

    /// One parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Step 2 of the authorization code flow (the classic `step2_exchange`): check the callback
/// and exchange its code for credentials.
///
/// `state` is compared in constant time before anything else; an `error=` callback becomes
/// [`Error::Authorization`]; an `iss` parameter must name the provider's issuer (RFC 9207),
/// and must be present when the spec says `oidc.sends_iss`.
pub async fn exchange<P: AuthorizationCode>(
    provider: &P,
    pending: &PendingAuthorization,
    callback: &Callback,
) -> Result<Credentials, Error> {
    let config = provider.config();
    let spec = config.spec();
    if pending.provider != spec.id {
        return Err(Error::InvalidCallback(format!(
            "the pending authorization is for `{}`, not `{}`",
            pending.provider, spec.id
        )));
    }
    let state = callback.get("state").unwrap_or_default();
    let matches: bool = state.as_bytes().ct_eq(pending.state.as_bytes()).into();
    if !matches || state.is_empty() {
        return Err(Error::StateMismatch);
    }
    if let (Some(found), Some(expected)) = (callback.get("iss"), config.issuer()?)
        && found != expected
    {
        return Err(Error::IssuerMismatch { expected, found: found.to_owned() });
    }
    if spec.oidc_sends_iss && callback.get("iss").is_none() {
        return Err(Error::InvalidCallback(
            "no `iss` parameter, which this provider always sends (RFC 9207): a mix-up or a forged callback".into(),
        ));
    }
    if let Some(error) = callback.get("error") {
        return Err(Error::Authorization {
            error: error.to_owned(),
            description: callback.get("error_description").map(str::to_owned),
            uri: callback.get("error_uri").map(str::to_owned),
        });
    }
    let code = callback
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::InvalidCallback("no `code` parameter".into()))?;
    // Values the callback gives `from_callback` variables (Zoho's `accounts-server`) are
    // used for this exchange, once the spec's bounds allow them: the browser sent them.
    let scoped = config.with_values(|param| callback.get(param));
    let config: &ProviderConfig = &scoped;
    let from_callback: Vec<(&str, &str)> =
        spec.variables.iter().filter_map(|v| Some((&*v.name, v.from_callback.as_deref()?))).collect();
    for (name, param) in &from_callback {
        if callback.get(param).is_some() {
            config
                .variable(name)
                .map_err(|e| Error::InvalidCallback(format!("the callback's `{param}` is refused: {e}")))?;
        }
    }
    let redirect = RedirectUrl::new(pending.redirect_uri.clone())
        .map_err(|source| Error::InvalidUrl { what: "redirect URI".into(), source })?;
    let client = base_client(config).set_token_uri(TokenUrl::from_url(config.endpoint(Endpoint::Token)?));
    let mut request = client.exchange_code(Code::new(code.to_owned())).set_redirect_uri(Cow::Owned(redirect));
    if let Some(v) = &pending.pkce_verifier {
        request = request.set_pkce_verifier(PkceCodeVerifier::new(v.clone()));
    }
    for (name, template) in spec.token_request.params.iter().chain(spec.token_request.code_params.iter()) {
        request = request.add_extra_param(&**name, config.render_value(template)?);
    }
    // The key the code was bound to (`dpop_jkt`); a new one for an authorization started
    // before DPoP was switched on.
    let dpop = match &pending.dpop_key {
        Some(key) => Some(key.clone()),
        None => config.grant_dpop_key()?,
    };
    let http = Transport { config: config.clone(), endpoint: Endpoint::Token, dpop: dpop.clone() };
    let response = request.request_async(&http).await.map_err(|e| map_error(Endpoint::Token, e))?;
    let mut credentials = credentials_from(&response, &pending.scopes);
    credentials.bind_dpop(dpop);
    if spec.oidc_issuer.is_some() {
        match &credentials.id_token {
            Some(token) => {
                crate::oidc::validate_id_token(config, token.secret(), pending.nonce.as_deref()).await?;
            }
            None if pending.nonce.is_some() || pending.scopes.iter().any(|s| s == "openid") => {
                return Err(crate::oidc::IdTokenError::Missing.into());
            }
            None => {}
        }
    }
    for name in spec.redirect.callback_params.iter() {
        if let Some(v) = callback.get(name) {
            credentials.extra.insert(name.to_string(), Value::String(v.to_owned()));
        }
    }
    if spec.refresh.sends_redirect_uri {
        credentials.extra.insert(REDIRECT_URI_KEY.to_owned(), Value::String(pending.redirect_uri.clone()));
    }
    for (_, param) in from_callback {
        if let Some(v) = callback.get(param) {
            credentials.extra.insert(param.to_owned(), Value::String(v.to_owned()));
        }
    }
    Ok(credentials)
}

/// Where the credentials keep the sign-in's redirect URI for providers whose refresh repeats
/// it (`refresh.sends_redirect_uri`).
const REDIRECT_URI_KEY: &str = "redirect_uri";

/// Refresh `credentials` in place with their refresh token.
///
/// On success the new access token, expiry and (when the provider rotates it) refresh token
/// replace the old ones; a refresh token the response leaves out is kept. When the provider
/// answers `invalid_grant` the credentials are marked [`Credentials::invalid`]; on any other
/// failure they are left untouched.
pub async fn refresh<P: Refresh>(provider: &P, credentials: &mut Credentials) -> Result<(), Error> {
    // The values one sign-in's callback gave (Zoho's data centre) stay with its credentials.
    let scoped = provider.config().for_credentials(credentials);
    let config: &ProviderConfig = &scoped;
    let spec = config.spec();
    let refresh_token = credentials.refresh_token.clone().ok_or(Error::NoRefreshToken)?;
    // `endpoints.refresh` when the spec has one, else the token endpoint.
    let client = base_client(config).set_token_uri(TokenUrl::from_url(config.endpoint(Endpoint::Refresh)?));
    let mut request = client.exchange_refresh_token(&refresh_token);
    if spec.refresh.requires_scope && !credentials.scopes.is_empty() {
        request = request.add_scope(Scope::new(credentials.scopes.join(&*spec.scope_separator)));
    }
    for (name, template) in spec.token_request.params.iter().chain(spec.token_request.refresh_params.iter()) {
        request = request.add_extra_param(&**name, config.render_value(template)?);
    }
    if spec.refresh.sends_redirect_uri {
        let uri = credentials.extra.get(REDIRECT_URI_KEY).and_then(Value::as_str).ok_or_else(|| Error::MissingField {
            provider: config.id(),
            field: REDIRECT_URI_KEY.to_owned(),
            reason: "the credentials do not record the redirect URI of their sign-in, which this provider's refresh needs: sign in again".into(),
        })?;
        request = request.add_extra_param("redirect_uri", uri.to_owned());
    }
    // The key the tokens are bound to; a new one when DPoP is asked for and they are not.
    // DPoP-bound credentials without their key cannot be refreshed: a proof of another key
    // would be refused and the grant marked invalid.
    let dpop = match &credentials.dpop_key {
        Some(key) => Some(key.clone()),
        None if credentials.is_dpop() => {
            return Err(Error::Signing(
                "the credentials are DPoP-bound but hold no DPoP key (`dpop_key`), so no refresh can prove it: sign in again".into(),
            ));
        }
        None => config.grant_dpop_key()?,
    };
    let http = Transport { config: config.clone(), endpoint: Endpoint::Refresh, dpop: dpop.clone() };
    match request.request_async(&http).await.map_err(|e| map_error(Endpoint::Refresh, e)) {
        Ok(response) => {
            let mut fresh = credentials_from(&response, &credentials.scopes);
            // A new ID token is validated (without a nonce: none is sent on refresh) and must
            // name the same user (OIDC Core 12.2). A refused one is dropped and the previous
            // one kept, but the new access and refresh tokens are: with rotation, dropping
            // them would lose the grant (the provider has consumed the old refresh token).
            if let (Some(token), true) = (&fresh.id_token, spec.oidc_issuer.is_some()) {
                let refused = match crate::oidc::validate_id_token(config, token.secret(), None).await {
                    Ok(claims) => credentials
                        .id_token_claims()
                        .filter(|old| old.sub != claims.sub)
                        .map(|_| Error::from(crate::oidc::IdTokenError::SubjectChanged)),
                    Err(e) => Some(e),
                };
                if let Some(e) = refused {
                    tracing::warn!(provider = &*spec.id, error = %e, "the refreshed ID token was refused; keeping the previous one");
                    fresh.id_token = None;
                }
            }
            if fresh.refresh_token.is_none() {
                fresh.refresh_token = Some(refresh_token);
            }
            fresh.bind_dpop(dpop);
            if fresh.id_token.is_none() {
                fresh.id_token = credentials.id_token.take();
            }
            for (k, v) in std::mem::take(&mut credentials.extra) {
                fresh.extra.entry(k).or_insert(v);
            }
            *credentials = fresh;
            Ok(())
        }
        Err(e) => {
            if matches!(&e, Error::OAuth { error, .. } if error == "invalid_grant") {
                credentials.invalid = true;
            }
            Err(e)
        }
    }
}

/// The client credentials grant: a token for the client itself. An empty `scopes` asks for
/// the spec's default scopes; the spec's extra parameters (Auth0 `audience`) are added.
pub async fn client_credentials<P: ClientCredentials, S: AsRef<str>>(
    provider: &P,
    scopes: &[S],
) -> Result<Credentials, Error> {
    let config = provider.config();
    let spec = config.spec();
    let grant = spec
        .grants
        .client_credentials
        .as_ref()
        .ok_or(Error::NoGrant { provider: &spec.id, grant: "client_credentials" })?;
    let token_url = grant_token_url(config, grant.token_endpoint.as_deref(), "client credentials token endpoint")?;
    let scopes = join_scopes(config, scopes);
    if let Some(grant_type) = grant.grant_type.as_deref() {
        // A grant the `oauth2` crate does not name: the same request with its own grant type.
        let joined = scopes.join(&*spec.scope_separator);
        let extra = extra_params(config, &grant.params)?;
        let mut params = vec![("grant_type", grant_type)];
        if !joined.is_empty() {
            params.push(("scope", joined.as_str()));
        }
        params.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
        return post_grant(config, &token_url, params, &scopes, "token response").await;
    }
    let dpop = config.grant_dpop_key()?;
    let client = base_client(config).set_token_uri(TokenUrl::from_url(token_url));
    let mut request = client.exchange_client_credentials();
    if !scopes.is_empty() {
        request = request.add_scope(Scope::new(scopes.join(&*spec.scope_separator)));
    }
    for (name, template) in spec.token_request.params.iter().chain(grant.params.iter()) {
        request = request.add_extra_param(&**name, config.render_value(template)?);
    }
    let http = Transport { config: config.clone(), endpoint: Endpoint::Token, dpop: dpop.clone() };
    let response = request.request_async(&http).await.map_err(|e| map_error(Endpoint::Token, e))?;
    let mut credentials = credentials_from(&response, &scopes);
    credentials.bind_dpop(dpop);
    Ok(credentials)
}

/// Where a grant's token requests go: its own `token_endpoint` (rendered), unless the token
/// endpoint was overridden (`with_endpoint`), else the token endpoint.
pub(crate) fn grant_token_url(config: &ProviderConfig, own: Option<&str>, what: &str) -> Result<Url, Error> {
    match own {
        Some(t) if !config.has_override(Endpoint::Token) => config.parse_url(&config.render(t)?, what),
        _ => config.endpoint(Endpoint::Token),
    }
}

/// The spec's `token_request.params` and a grant's own `params`, rendered.
pub(crate) fn extra_params(
    config: &ProviderConfig,
    own: &'static [(crate::spec::Str, crate::spec::Str)],
) -> Result<Vec<(&'static str, String)>, Error> {
    let spec = config.spec();
    spec.token_request
        .params
        .iter()
        .chain(own.iter())
        .map(|(name, template)| Ok((&**name, config.render_value(template)?)))
        .collect()
}

/// A token request the `oauth2` crate does not make (a grant type of its own), authenticated
/// as the client, with a DPoP proof when grants use DPoP: its answer as credentials
/// (`requested` scopes when it states none).
pub(crate) async fn post_grant(
    config: &ProviderConfig,
    token_url: &Url,
    params: Vec<(&str, &str)>,
    requested: &[String],
    what: &str,
) -> Result<Credentials, Error> {
    let dpop = config.grant_dpop_key()?;
    let response = post_authenticated_with(config, token_url, Endpoint::Token, params, dpop.as_ref()).await?;
    granted(&response, requested, dpop, what)
}

/// The credentials of a token endpoint's success (refusals were errors already), bound to
/// `dpop` when the provider bound them; `what` names the answer in errors.
pub(crate) fn granted(
    response: &oauth2::HttpResponse,
    requested: &[String],
    dpop: Option<crate::DpopKey>,
    what: &str,
) -> Result<Credentials, Error> {
    let status = response.status().as_u16();
    let token: TokenResp = serde_json::from_slice(response.body())
        .map_err(|e| Error::MalformedResponse { status, reason: format!("invalid {what}: {e}") })?;
    let mut credentials = credentials_from(&token, requested);
    credentials.bind_dpop(dpop);
    Ok(credentials)
}

/// POST `params` to `endpoint` as a form, authenticated as the client (RFC 7009 and 7662
/// share this shape). The answer is a success: refusals, OAuth errors included, are errors.
pub(crate) async fn post_authenticated(
    config: &ProviderConfig,
    endpoint: Endpoint,
    params: Vec<(&str, &str)>,
) -> Result<oauth2::HttpResponse, Error> {
    post_authenticated_to(config, &config.endpoint(endpoint)?, endpoint, params).await
}

/// [`post_authenticated`] to a URL of its own (a grant's own token endpoint); `endpoint` says
/// what it is, for errors and the response clean-up.
pub(crate) async fn post_authenticated_to(
    config: &ProviderConfig,
    url: &url::Url,
    endpoint: Endpoint,
    params: Vec<(&str, &str)>,
) -> Result<oauth2::HttpResponse, Error> {
    post_authenticated_with(config, url, endpoint, params, None).await
}

/// [`post_authenticated_to`] with a DPoP proof of `dpop` (RFC 9449) when given.
pub(crate) async fn post_authenticated_with(
    config: &ProviderConfig,
    url: &url::Url,
    endpoint: Endpoint,
    mut params: Vec<(&str, &str)>,
    dpop: Option<&crate::DpopKey>,
) -> Result<oauth2::HttpResponse, Error> {
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(url.as_str())
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(http::header::ACCEPT, "application/json");
    let id = config.client_id().as_str();
    let secret = config.client_secret().map(|s| s.secret().as_str());
    let assertion = crate::wire::http::client_assertion(config, endpoint, Some(url))?;
    match (config.client_auth_at(endpoint), secret, assertion.as_deref()) {
        (_, _, Some(assertion)) => {
            params.push(("client_id", id));
            params.push(("client_assertion_type", crate::ASSERTION_TYPE));
            params.push(("client_assertion", assertion));
        }
        (ClientAuth::Basic, Some(secret), None) => {
            builder = builder.header(http::header::AUTHORIZATION, basic_auth(id, secret));
        }
        (_, secret, None) => {
            params.push(("client_id", id));
            if let Some(s) = secret {
                params.push(("client_secret", s));
            }
        }
    }
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish().into_bytes();
    let request = builder.body(body).map_err(|e| Error::Http { endpoint, reason: e.to_string(), maybe_sent: false })?;
    send_with(config, endpoint, request, dpop).await.map_err(|e| e.into_error(endpoint))
}

/// POST a form to `url` (a token endpoint) without client authentication: the body carries
/// its own proof (a JWT assertion); with a DPoP proof of `dpop` when given.
pub(crate) async fn post_unauthenticated(
    config: &ProviderConfig,
    url: &url::Url,
    params: &[(&str, &str)],
    dpop: Option<&crate::DpopKey>,
) -> Result<oauth2::HttpResponse, Error> {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish().into_bytes();
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(url.as_str())
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(http::header::ACCEPT, "application/json")
        .body(body)
        .map_err(|e| Error::Http { endpoint: Endpoint::Token, reason: e.to_string(), maybe_sent: false })?;
    send_with(config, Endpoint::Token, request, dpop).await.map_err(|e| e.into_error(Endpoint::Token))
}

/// Revoke the credentials at the provider (RFC 7009): the refresh token when there is one
/// (which ends the whole grant), the access token otherwise, with `token_type_hint`.
pub async fn revoke<P: Revocation>(provider: &P, credentials: &Credentials) -> Result<(), Error> {
    let (token, hint) = match &credentials.refresh_token {
        Some(rt) => (rt.secret().as_str(), "refresh_token"),
        None => (credentials.access_token.secret().as_str(), "access_token"),
    };
    let params = vec![("token", token), ("token_type_hint", hint)];
    // A refusal is an error from `post_authenticated`: what comes back is a success.
    post_authenticated(&provider.config().for_credentials(credentials), Endpoint::Revocation, params).await?;
    Ok(())
}

/// What an introspection endpoint says about a token (RFC 7662).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TokenInfo {
    /// Whether the token is currently active.
    pub active: bool,
    /// Its scopes, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client it was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The resource owner's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The token type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Ask the provider's introspection endpoint about a token (RFC 7662). `hint` is
/// `access_token` or `refresh_token`.
pub async fn introspect<P: Introspection>(provider: &P, token: &str, hint: Option<&str>) -> Result<TokenInfo, Error> {
    let mut params = vec![("token", token)];
    if let Some(h) = hint {
        params.push(("token_type_hint", h));
    }
    let response = post_authenticated(provider.config(), Endpoint::Introspection, params).await?;
    read_introspection(response.status().as_u16(), response.body())
}

/// An introspection response (a success).
pub(crate) fn read_introspection(status: u16, body: &[u8]) -> Result<TokenInfo, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::MalformedResponse { status, reason: format!("invalid introspection response: {e}") })
}

/// `Basic` credentials as RFC 6749 section 2.3.1 asks: each part form-encoded first.
fn basic_auth(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}
