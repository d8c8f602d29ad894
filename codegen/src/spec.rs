//! The spec format, version 1: a serde model that maps one to one onto the YAML.
//!
//! The doc comments here are the field documentation: `schemars` copies them into
//! `specs/schema.json`, which both editors and [`crate::schema`] validate against.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The spec format's enums, defined once in `oauthgen-spec` (with their YAML names and schema
/// documentation) and used unchanged by the runtime.
pub use oauthgen_spec::{
    BodyFormat, CertificateThumbprint, ClientAuth, Dpop, ExpiresIn, FieldType, IdTokenAlgorithm, JwtAlgorithm,
    KeyFormat, LoopbackHost, Pkce, ResponseFormat, Subject, TimeUnit,
};

/// An OAuth 2.0 provider, described as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "oauthgen provider spec", rename = "Spec")]
pub struct Spec {
    /// The provider's id: a lowercase letter, then lowercase letters, digits, `_` and `-`; must equal the file stem.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_-]*$"), length(min = 1, max = 64))]
    pub id: String,
    /// Display name, used in generated documentation.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The provider's OAuth documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    /// The id of the spec this one is a variant of (`paypal-sandbox` extends `paypal`): that
    /// spec, in the same directory, with this file's keys written over it (objects merge,
    /// everything else replaces, `null` removes). `id`, `name` and `provenance` are never
    /// inherited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Where the facts in this spec come from, and when each source was checked.
    #[schemars(length(min = 1))]
    pub provenance: Vec<Provenance>,
    /// The provider's endpoints. `https` is required except on loopback hosts;
    /// `{name}` placeholders refer to `variables`.
    pub endpoints: Endpoints,
    /// Typed inputs for `{name}` placeholders in endpoints (tenant, shop, domain ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, Variable>,
    /// Client authentication methods the token endpoint accepts, preferred first.
    #[serde(default = "default_client_auth")]
    #[schemars(length(min = 1))]
    pub client_auth: Vec<ClientAuth>,
    /// The one client authentication method an endpoint takes when it is not the token
    /// endpoint's (`client_auth`): Calendly's `revocation` and `introspection` take the
    /// credentials in the body. Keys: `revocation`, `introspection`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_client_auth: BTreeMap<String, ClientAuth>,
    /// Whether and when the provider accepts PKCE (RFC 7636).
    pub pkce: Pkce,
    /// The provider's scopes.
    #[serde(default)]
    pub scopes: Scopes,
    /// Extra query parameters added to every authorization URL; values may hold `{name}`
    /// placeholders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorize_params: BTreeMap<String, String>,
    /// Headers sent on every request to the provider's OAuth endpoints (token, refresh,
    /// revocation, introspection, device authorization, userinfo): `Notion-Version`, a
    /// `User-Agent` (Reddit). Values may hold `{name}` placeholders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_headers: BTreeMap<String, String>,
    /// Protocol parameters the provider names otherwise, standard name -> the provider's
    /// (TikTok `client_id: client_key`): used in the authorization URL and every request
    /// body. `client_id`, `client_secret` and `scope` can be renamed; `response_type: ~`
    /// leaves it out of the authorization URL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub param_names: BTreeMap<String, Option<String>>,
    /// Client assertions (`private_key_jwt`, `client_secret_jwt` in `client_auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_assertion: Option<ClientAssertion>,
    /// Whether the provider binds tokens to a key of the client's with DPoP proofs (RFC
    /// 9449): `required` (the client always sends proofs), `supported` (it sends them when
    /// asked to), `unsupported` (the default).
    #[serde(default, skip_serializing_if = "is_default")]
    pub dpop: Dpop,
    /// Protocol parameters that one endpoint's requests name otherwise, endpoint -> standard
    /// name -> the provider's (Twitch's `device_authorization: { scope: scopes }`); they take
    /// precedence over `param_names`. Keys: `authorization`, `token` (refreshes included),
    /// `revocation`, `device_authorization`, `introspection`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_param_names: BTreeMap<String, BTreeMap<String, Option<String>>>,
    /// How token requests must be shaped.
    #[serde(default)]
    pub token_request: TokenRequest,
    /// Declarative clean-up of non-standard token responses.
    #[serde(default)]
    pub token_response: TokenResponse,
    /// What refreshing does at this provider.
    #[serde(default)]
    pub refresh: Refresh,
    /// The provider's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    /// The grants the provider has; the generated API follows this.
    pub grants: Grants,
    /// Redirect handling for installed applications.
    #[serde(default)]
    pub redirect: Redirect,
    /// OpenID Connect metadata, when the provider is an OpenID provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<Oidc>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn default_client_auth() -> Vec<ClientAuth> {
    vec![ClientAuth::Basic, ClientAuth::RequestBody]
}

/// One source of facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// A URL or a `repository@commit:path` reference.
    #[schemars(length(min = 1))]
    pub source: String,
    /// The day the source was compared with the spec, `YYYY-MM-DD`.
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub checked: String,
    /// The facts this source states: spec keys such as `endpoints.token`, `pkce`,
    /// `grants.refresh_token` or `scopes` (`endpoints` and `grants` cover all of theirs).
    /// `oauthgen check --strict` requires every fact in the spec to be covered by a source
    /// or marked `# unsourced` on its line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub covers: Vec<String>,
    /// What was decided from this source, when it is not plain (a doubtful fact, a conflict
    /// between sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The provider's endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// Authorization endpoint (RFC 6749 section 3.1); needed by `authorization_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
    /// Token endpoint (RFC 6749 section 3.2).
    pub token: String,
    /// Token revocation endpoint (RFC 7009).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<String>,
    /// Device authorization endpoint (RFC 8628); needed by `device_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization: Option<String>,
    /// User information endpoint (OpenID Connect or proprietary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo: Option<String>,
    /// Token introspection endpoint (RFC 7662).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection: Option<String>,
    /// A separate endpoint for refresh requests, when it is not `token` (Figma).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
    /// OpenID Connect RP-initiated logout endpoint (`end_session_endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session: Option<String>,
    /// Pushed authorization request endpoint (RFC 9126); needs `authorization`. When set, the
    /// authorization parameters are pushed there, authenticated as the client, and the
    /// browser is sent with only `client_id` and the `request_uri` it returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_authorization: Option<String>,
}

impl Endpoints {
    /// The URL template of `endpoint`, as written.
    pub fn get(&self, endpoint: oauthgen_spec::Endpoint) -> Option<&String> {
        use oauthgen_spec::Endpoint as E;
        match endpoint {
            E::Authorization => self.authorization.as_ref(),
            E::Token => Some(&self.token),
            E::Revocation => self.revocation.as_ref(),
            E::DeviceAuthorization => self.device_authorization.as_ref(),
            E::Userinfo => self.userinfo.as_ref(),
            E::Introspection => self.introspection.as_ref(),
            E::Refresh => self.refresh.as_ref(),
            E::EndSession => self.end_session.as_ref(),
            E::PushedAuthorization => self.pushed_authorization.as_ref(),
        }
    }
}

/// A typed input for `{name}` placeholders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// What the value is and where users find it.
    #[schemars(length(min = 1))]
    pub description: String,
    /// The value used when the user gives none; without a default the value is a required
    /// constructor argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// A regular expression every value must match (anchor it with `^...$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The only values the variable takes (Battle.net regions, Zoho data centres, a
    /// sandbox): generated code takes a typed enum with one variant per value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// An example value, for documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// The value is a path prefix, which may be empty: `/gitlab` for a GitLab under a
    /// relative URL root, `/auth` for Keycloak's legacy context path. It goes right after
    /// the host or a path segment and before `/` or the end (`https://{host}{path}/oauth/token`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub path: bool,
    /// The value is an origin, `https://host[:port]` (plain `http` only on loopback), that
    /// starts URL templates: `{accounts_server}/oauth/v2/token`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub origin: bool,
    /// The authorization callback parameter that may carry this variable's value for one
    /// sign-in (Zoho's `accounts-server`, the user's data centre): the code exchange, and the
    /// refreshes and revocation of the credentials it gives, use the callback's value; a
    /// callback without it leaves the variable's own. Needs `pattern` or `values`: the value
    /// comes from the browser, and one they refuse makes the callback invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_callback: Option<String>,
}

/// The provider's scopes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scopes {
    /// The string between scopes in the `scope` parameter: `" "` (RFC 6749), `","` or `"+"`.
    #[serde(default = "default_separator")]
    #[schemars(length(min = 1))]
    pub separator: String,
    /// Names (keys of `values`) requested when the caller asks for none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default: Vec<String>,
    /// Scope name -> scope; the names become enum variants.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, ScopeValue>,
}

impl Default for Scopes {
    fn default() -> Self {
        Self { separator: default_separator(), default: Vec::new(), values: BTreeMap::new() }
    }
}

fn default_separator() -> String {
    " ".to_owned()
}

/// One scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeValue {
    /// The scope string sent to the provider.
    #[schemars(length(min = 1))]
    pub value: String,
    /// What the scope grants; becomes the variant's documentation.
    #[schemars(length(min = 1))]
    pub description: String,
}

/// How token requests must be shaped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Encoding of the request bodies sent to the provider (token, refresh, revocation,
    /// introspection, device authorization): `form` (RFC 6749) or `json` (Notion, Atlassian).
    #[serde(default)]
    pub body_format: BodyFormat,
    /// Extra form parameters sent with every token request; values may hold `{name}`
    /// placeholders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Extra parameters of the authorization code exchange only (Basecamp `type: web_server`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub code_params: BTreeMap<String, String>,
    /// Extra parameters of refresh requests only (Basecamp `type: refresh`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refresh_params: BTreeMap<String, String>,
}

/// Declarative clean-up of non-standard token responses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    /// Body format: `json`, `form` (`a=b&c=d`), or `auto` (sniffed, whatever `Content-Type` says).
    #[serde(default)]
    pub format: ResponseFormat,
    /// How `expires_in` arrives: a JSON `number`, a `string` of digits, `absent` (tokens
    /// without a stated lifetime), or a `date` (the expiry time, RFC 3339: Square).
    #[serde(default)]
    pub expires_in: ExpiresIn,
    /// The name of the lifetime field when it is not `expires_in` (Stack Exchange `expires`,
    /// Square `expires_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_field: Option<String>,
    /// The unit of `expires_in`.
    #[serde(default)]
    pub expires_in_unit: TimeUnit,
    /// Errors arrive with HTTP 200 (Slack's `ok: false`); the body is checked for `error`.
    #[serde(default)]
    pub error_in_200: bool,
    /// The token fields sit in a wrapper object under this key (Withings `body`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// The name of the refresh-token lifetime field, kept in the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_in: Option<String>,
    /// The separator between granted scopes in the response's `scope`, when it is not the
    /// request's (`scopes.separator`): GitHub asks with spaces and answers `repo,gist`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_separator: Option<String>,
    /// The name of the granted-scopes field when it is not `scope`, holding a string or a
    /// list of strings (a list named `scopes` in the responses of `HubSpot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_field: Option<String>,
    /// Provider-specific fields of the response (Salesforce `instance_url`, Pipedrive
    /// `api_domain`): checked on every token response, kept in the credentials, read through
    /// generated accessors, and usable as `{name}` in `api.base_url`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, TokenField>,
}

/// A provider-specific token-response field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenField {
    /// What the field holds; becomes the accessor's documentation.
    #[schemars(length(min = 1))]
    pub description: String,
    /// The value's type: `string`, `url` (absolute, `https` unless on loopback), `integer` or
    /// `boolean`.
    #[serde(default, rename = "type")]
    pub kind: FieldType,
    /// A successful response without the field is refused (a refresh response may leave it
    /// out: the previous value is kept).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// A regular expression every value must match (`string` and `url` fields; anchor it
    /// with `^...$`): where a URL field may point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// An example value, as the response carries it: for documentation, and sent by the
    /// conformance tests' emulator. It must fit `type` and `pattern`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

/// The provider's API, as far as the spec describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// The API's base URL. `{name}` placeholders name variables and `token_response.fields`;
    /// a `url` field may only start it (`{instance_url}/services/data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Headers the authorized client sends on every API call besides the bearer token
    /// (MYOB's `x-myobapi-key` and `x-myobapi-version`); values may hold `{name}`
    /// placeholders for variables and `{client_id}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// What refreshing does at this provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools, reason = "mirrors the spec's keys")]
pub struct Refresh {
    /// Each refresh returns a new refresh token and invalidates the old one.
    #[serde(default)]
    pub rotates: bool,
    /// A refresh response carries a refresh token (the same or a new one).
    #[serde(default)]
    pub returns_refresh_token: bool,
    /// The refresh request must repeat the granted scopes (Okta).
    #[serde(default)]
    pub requires_scope: bool,
    /// The refresh request must repeat the redirect URI of the sign-in (Atlassian Data
    /// Center validates it); the credentials keep it from the code exchange.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sends_redirect_uri: bool,
    /// Refresh this many seconds before the access token expires (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_seconds: Option<u32>,
}

/// The grants the provider has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Authorization code (RFC 6749 section 4.1), with PKCE per `pkce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Empty")]
    pub authorization_code: Option<Empty>,
    /// Refresh token (RFC 6749 section 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Empty")]
    pub refresh_token: Option<Empty>,
    /// Device authorization (RFC 8628); needs `endpoints.device_authorization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "DeviceCode")]
    pub device_code: Option<DeviceCode>,
    /// Client credentials (RFC 6749 section 4.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ClientCredentials")]
    pub client_credentials: Option<ClientCredentials>,
    /// JWT bearer assertions (RFC 7523): service accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "JwtBearer")]
    pub jwt_bearer: Option<JwtBearer>,
    /// Token exchange (RFC 8693): a token for another audience, scope or actor, in exchange
    /// for one the client holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "TokenExchange")]
    pub token_exchange: Option<TokenExchange>,
}

/// A grant with no options: write `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Device authorization grant options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceCode {
    /// Polling interval in seconds when the provider states none (RFC 8628 default: 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 60))]
    pub default_interval: Option<u32>,
}

/// Client credentials grant options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    /// A token endpoint used only for this grant (Dailymotion's partner host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// Extra parameters the grant needs (Auth0 `audience`); `{name}` placeholders allowed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// The `grant_type` to send when the provider names this grant otherwise (Zoom
    /// Server-to-Server OAuth: `account_credentials`, with `account_id` in `params`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
}

/// Token exchange grant options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenExchange {
    /// Extra parameters every exchange sends; `{name}` placeholders allowed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// The token endpoint of exchanges, when not the spec's (Okta: a custom authorization
    /// server's); `{name}` placeholders allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
}

/// JWT bearer (service account) options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtBearer {
    /// The format of the signing key.
    pub key_format: KeyFormat,
    /// The signature algorithm.
    #[serde(default)]
    pub algorithm: JwtAlgorithm,
    /// The `aud` claim: `token` for the token endpoint, or a literal URL or host name
    /// (`{name}` placeholders allowed).
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Whether the assertion may name a user to act for (`sub`, domain-wide delegation).
    #[serde(default)]
    pub subject: Subject,
}

fn default_audience() -> String {
    "token".to_owned()
}

/// What client assertions say beyond RFC 7523's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientAssertion {
    /// The `aud` claim: `token` (default) for the token endpoint, `endpoint` for the URL of
    /// the endpoint called (Okta), `issuer` for the OpenID issuer (Auth0, ZITADEL), or a
    /// literal URL (`{name}` placeholders allowed).
    #[serde(default = "default_audience")]
    pub audience: String,
    /// The algorithm of `private_key_jwt` assertions signed with an RSA key: `RS256`
    /// (default) or `PS256` (Microsoft Entra ID). P-256 and Ed25519 keys sign `ES256` and `EdDSA`.
    #[serde(default)]
    pub algorithm: JwtAlgorithm,
    /// Name the key in the assertion's header by its X.509 certificate's thumbprint:
    /// `x5t#S256` (SHA-256, Microsoft Entra ID) or `x5t` (SHA-1). The client then needs its
    /// certificate as well as its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<CertificateThumbprint>,
}

/// Redirect handling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    /// The host an installed app's loopback redirect URI uses.
    #[serde(default)]
    pub loopback_host: LoopbackHost,
    /// Callback query parameters to keep in the credentials (QuickBooks `realmId`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callback_params: Vec<String>,
}

/// OpenID Connect metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Oidc {
    /// The issuer identifier (`iss`); `{name}` placeholders allowed.
    pub issuer: String,
    /// The provider's JWKS URL; without it, the `jwks_uri` of the discovery document
    /// (`{issuer}/.well-known/openid-configuration`) is used. `{name}` placeholders allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The algorithms ID tokens may be signed with; without it, those the discovery document
    /// lists (`id_token_signing_alg_values_supported`), else `RS256`. `none` and HMAC
    /// algorithms are never accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1))]
    pub algorithms: Vec<IdTokenAlgorithm>,
    /// The provider always puts `iss` in authorization responses (RFC 9207): a callback
    /// without it is refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sends_iss: bool,
}
