//! The data model of an oauthgen provider spec: one definition shared by every part.
//!
//! A provider spec is written in YAML (see `specs/README.md`). The generator
//! (`oauthgen-codegen`) parses and checks it, then *lowers* it into a [`ProviderSpec`]: every
//! default applied, every scope name resolved, nothing left optional that has a default. That
//! one value is what the rest of oauthgen reads:
//!
//! - generated code holds it as `'static` data (`Cow::Borrowed` is usable in a `const`);
//! - the runtime (`oauthgen-runtime`) reads it for every request it makes;
//! - the CLI builds it at run time from a spec file (`--spec`), as owned data.
//!
//! The enums here are also the YAML vocabulary: with the `serde` and `schemars` features
//! they (de)serialize as written in specs (`public_only`, `RS256`), and their documentation
//! is the documentation of `specs/schema.json`.
//!
//! Single tables: [`Endpoint::ALL`], [`Capability::ALL`] and [`RESERVED_PARAMS`] are the one
//! list of each; every other place iterates them.
//!
//! ```
//! use std::borrow::Cow;
//! use oauthgen_spec::{Capability, Endpoint, ProviderSpec};
//!
//! let mut spec = ProviderSpec::new("acme", "Acme", "https://acme.example/token");
//! spec.endpoints.authorization = Some(Cow::Borrowed("https://acme.example/authorize"));
//! spec.grants.authorization_code = true;
//! assert_eq!(spec.endpoints.get(Endpoint::Authorization), Some("https://acme.example/authorize"));
//! assert!(spec.has(Capability::AuthorizationCode) && !spec.has(Capability::Refresh));
//! ```

use std::borrow::Cow;
use std::fmt;

/// A string of a spec: borrowed in generated code, owned in specs loaded at run time.
pub type Str = Cow<'static, str>;

/// A list of a spec: borrowed in generated code, owned in specs loaded at run time.
pub type List<T> = Cow<'static, [T]>;

/// A name-value pair (an extra request parameter).
pub type Param = (Str, Str);

/// The separator of a fallback template's alternatives (`https://app.{region}.intercom.com ||
/// https://app.intercom.com`): the first alternative whose variables all have values (set, or
/// a default) is used, else the last.
pub const FALLBACK: &str = " || ";

/// Protocol parameters a spec may rename (`param_names`, `endpoint_param_names`).
pub const RENAMABLE_PARAMS: &[&str] = &["client_id", "client_secret", "scope"];

/// Protocol parameters a spec may leave out (a `param_names` value of `~`): the provider
/// refuses them.
pub const REMOVABLE_PARAMS: &[&str] = &["response_type"];

/// The endpoints whose requests a spec may rename parameters for (`endpoint_param_names`);
/// a refresh is a request to the token endpoint.
pub const PARAM_NAME_ENDPOINTS: &[Endpoint] = &[
    Endpoint::Authorization,
    Endpoint::Token,
    Endpoint::Revocation,
    Endpoint::DeviceAuthorization,
    Endpoint::Introspection,
];

/// Parameters the flows set themselves: a spec may not set them through `authorize_params`
/// or `token_request.params`, and a caller may not pass them as extra parameters.
pub const RESERVED_PARAMS: &[&str] = &[
    "client_id",
    "client_secret",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code",
    "code_challenge",
    "code_challenge_method",
    "code_verifier",
    "grant_type",
    "refresh_token",
    "dpop_jkt",
];

/// The parameters of a token exchange request (RFC 8693 section 2.1) that each exchange
/// gives: a spec may not fix them in `grants.token_exchange.params`.
pub const TOKEN_EXCHANGE_PARAMS: &[&str] = &[
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
    "audience",
    "resource",
];

/// One of a provider's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// Authorization endpoint (RFC 6749 section 3.1).
    Authorization,
    /// Token endpoint (RFC 6749 section 3.2).
    Token,
    /// Revocation endpoint (RFC 7009).
    Revocation,
    /// Device authorization endpoint (RFC 8628).
    DeviceAuthorization,
    /// User information endpoint.
    Userinfo,
    /// Introspection endpoint (RFC 7662).
    Introspection,
    /// Refresh endpoint (the token endpoint unless the spec names another).
    Refresh,
    /// OpenID Connect RP-initiated logout endpoint (`end_session_endpoint`).
    EndSession,
    /// Pushed authorization request endpoint (RFC 9126).
    PushedAuthorization,
}

impl Endpoint {
    /// Every endpoint, in the order of the spec format.
    pub const ALL: &'static [Self] = &[
        Self::Authorization,
        Self::Token,
        Self::Revocation,
        Self::DeviceAuthorization,
        Self::Userinfo,
        Self::Introspection,
        Self::Refresh,
        Self::EndSession,
        Self::PushedAuthorization,
    ];

    /// The key under `endpoints:` in a spec (`device_authorization`).
    #[must_use]
    pub const fn key(self) -> &'static str {
        match self {
            Self::Authorization => "authorization",
            Self::Token => "token",
            Self::Revocation => "revocation",
            Self::DeviceAuthorization => "device_authorization",
            Self::Userinfo => "userinfo",
            Self::Introspection => "introspection",
            Self::Refresh => "refresh",
            Self::EndSession => "end_session",
            Self::PushedAuthorization => "pushed_authorization",
        }
    }

    /// The endpoint with spec key `key`.
    #[must_use]
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.key() == key)
    }

    /// The OpenID Connect discovery metadata field naming this endpoint
    /// (`device_authorization_endpoint`); `None` for `refresh`, which discovery has not.
    #[must_use]
    pub const fn discovery_field(self) -> Option<&'static str> {
        Some(match self {
            Self::Authorization => "authorization_endpoint",
            Self::Token => "token_endpoint",
            Self::Revocation => "revocation_endpoint",
            Self::DeviceAuthorization => "device_authorization_endpoint",
            Self::Userinfo => "userinfo_endpoint",
            Self::Introspection => "introspection_endpoint",
            Self::EndSession => "end_session_endpoint",
            Self::PushedAuthorization => "pushed_authorization_request_endpoint",
            Self::Refresh => return None,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// What a provider can do: one capability trait of the runtime each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// The authorization code grant (`grants.authorization_code`).
    AuthorizationCode,
    /// The refresh token grant (`grants.refresh_token`).
    Refresh,
    /// The device authorization grant (`grants.device_code`).
    DeviceCode,
    /// The client credentials grant (`grants.client_credentials`).
    ClientCredentials,
    /// JWT bearer assertions: service accounts (`grants.jwt_bearer`).
    JwtBearer,
    /// Token exchange (`grants.token_exchange`, RFC 8693).
    TokenExchange,
    /// Token revocation (`endpoints.revocation`).
    Revocation,
    /// Token introspection (`endpoints.introspection`).
    Introspection,
    /// The userinfo endpoint (`endpoints.userinfo`).
    UserInfo,
}

impl Capability {
    /// Every capability, in the order `oauthgen providers` lists them.
    pub const ALL: &'static [Self] = &[
        Self::AuthorizationCode,
        Self::Refresh,
        Self::DeviceCode,
        Self::ClientCredentials,
        Self::JwtBearer,
        Self::TokenExchange,
        Self::Revocation,
        Self::Introspection,
        Self::UserInfo,
    ];

    /// The name users see (`refresh_token`): the spec's grant or endpoint key.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::Refresh => "refresh_token",
            Self::DeviceCode => "device_code",
            Self::ClientCredentials => "client_credentials",
            Self::JwtBearer => "jwt_bearer",
            Self::TokenExchange => "token_exchange",
            Self::Revocation => "revocation",
            Self::Introspection => "introspection",
            Self::UserInfo => "userinfo",
        }
    }

    /// The runtime trait a provider with this capability implements (`DeviceFlow`).
    #[must_use]
    pub const fn trait_name(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "AuthorizationCode",
            Self::Refresh => "Refresh",
            Self::DeviceCode => "DeviceFlow",
            Self::ClientCredentials => "ClientCredentials",
            Self::JwtBearer => "ServiceAccount",
            Self::TokenExchange => "TokenExchange",
            Self::Revocation => "Revocation",
            Self::Introspection => "Introspection",
            Self::UserInfo => "UserInfo",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A checked provider spec with every default applied: what generated code, the runtime and
/// the CLI read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSpec {
    /// The provider id (`google`).
    pub id: Str,
    /// Display name.
    pub name: Str,
    /// The provider's OAuth documentation.
    pub docs: Option<Str>,
    /// Endpoint URL templates.
    pub endpoints: EndpointTemplates,
    /// Inputs for `{name}` placeholders, in name order.
    pub variables: List<VariableSpec>,
    /// Client authentication methods, preferred first.
    pub client_auth: List<ClientAuth>,
    /// The one method an endpoint takes when it is not `client_auth`'s (Calendly's
    /// revocation and introspection take the credentials in the body).
    pub endpoint_client_auth: List<(Endpoint, ClientAuth)>,
    /// PKCE support.
    pub pkce: Pkce,
    /// The string between scopes in the `scope` parameter.
    pub scope_separator: Str,
    /// Scope strings requested when the caller asks for none.
    pub default_scopes: List<Str>,
    /// Extra authorization URL parameters (values are templates).
    pub authorize_params: List<Param>,
    /// Headers sent on every request to the provider's OAuth endpoints (values are
    /// templates).
    pub request_headers: List<Param>,
    /// Protocol parameters the provider names otherwise (`client_id` -> `client_key`), in
    /// the authorization URL and every request body; an empty name: left out.
    pub param_names: List<Param>,
    /// The `aud` of client assertions (`private_key_jwt`, `client_secret_jwt`).
    pub client_assertion_audience: Audience,
    /// The algorithm of `private_key_jwt` assertions signed with an RSA key.
    pub client_assertion_algorithm: JwtAlgorithm,
    /// Whether `private_key_jwt` assertions name the key by its certificate's thumbprint.
    pub client_assertion_thumbprint: Option<CertificateThumbprint>,
    /// Whether tokens are bound to a key of the client's with DPoP proofs (RFC 9449).
    pub dpop: Dpop,
    /// Protocol parameters one endpoint's requests name otherwise (Twitch's device request
    /// takes `scopes`), before `param_names`; an empty name: left out.
    pub endpoint_param_names: List<(Endpoint, Param)>,
    /// Token request shaping.
    pub token_request: TokenRequestSpec,
    /// Token response clean-up.
    pub token_response: TokenResponseSpec,
    /// Refresh semantics.
    pub refresh: RefreshSpec,
    /// The provider's API, as far as the spec describes it.
    pub api: ApiSpec,
    /// The grants the provider has.
    pub grants: GrantsSpec,
    /// Redirect handling.
    pub redirect: RedirectSpec,
    /// The OpenID Connect issuer, when the provider is an OpenID provider.
    pub oidc_issuer: Option<Str>,
    /// The OpenID Connect JWKS URL; `None`: the discovery document's.
    pub oidc_jwks_uri: Option<Str>,
    /// The algorithms ID tokens may be signed with; empty: the discovery document's, else
    /// `RS256`.
    pub oidc_algorithms: List<IdTokenAlgorithm>,
    /// The provider always sends `iss` on authorization responses (RFC 9207): a callback
    /// without it is refused.
    pub oidc_sends_iss: bool,
}

impl ProviderSpec {
    /// The name under which `endpoint`'s requests send the protocol parameter `name`:
    /// `endpoint_param_names`, else `param_names`, else `name`; `None` when the provider
    /// takes it without it. A refresh is a request to the token endpoint.
    #[must_use]
    pub fn param_name<'a>(&'a self, endpoint: Endpoint, name: &'a str) -> Option<&'a str> {
        let endpoint = if endpoint == Endpoint::Refresh { Endpoint::Token } else { endpoint };
        let own = self.endpoint_param_names.iter().find(|(e, (from, _))| *e == endpoint && from == name);
        let renamed = own.map(|(_, p)| p).or_else(|| self.param_names.iter().find(|(from, _)| from == name));
        match renamed {
            None => Some(name),
            Some((_, to)) if to.is_empty() => None,
            Some((_, to)) => Some(to),
        }
    }

    /// Whether any request names or leaves out a protocol parameter otherwise.
    #[must_use]
    pub fn renames_params(&self) -> bool {
        !self.param_names.is_empty() || !self.endpoint_param_names.is_empty()
    }

    /// A spec with only a token endpoint, every other value its default (no grants): a
    /// starting point for specs built in code.
    #[must_use]
    pub fn new(id: impl Into<Str>, name: impl Into<Str>, token_endpoint: impl Into<Str>) -> Self {
        let mut spec = Self::borrowed("", "", "");
        spec.id = id.into();
        spec.name = name.into();
        spec.endpoints.token = token_endpoint.into();
        spec
    }

    /// [`ProviderSpec::new`] in a `const`: borrowed strings only.
    #[must_use]
    pub const fn borrowed(id: &'static str, name: &'static str, token_endpoint: &'static str) -> Self {
        Self {
            id: Str::Borrowed(id),
            name: Str::Borrowed(name),
            docs: None,
            endpoints: EndpointTemplates {
                authorization: None,
                token: Str::Borrowed(token_endpoint),
                revocation: None,
                device_authorization: None,
                userinfo: None,
                introspection: None,
                refresh: None,
                end_session: None,
                pushed_authorization: None,
            },
            variables: List::Borrowed(&[]),
            client_auth: List::Borrowed(&[ClientAuth::Basic, ClientAuth::RequestBody]),
            endpoint_client_auth: List::Borrowed(&[]),
            pkce: Pkce::Supported,
            scope_separator: Str::Borrowed(" "),
            default_scopes: List::Borrowed(&[]),
            authorize_params: List::Borrowed(&[]),
            request_headers: List::Borrowed(&[]),
            param_names: List::Borrowed(&[]),
            endpoint_param_names: List::Borrowed(&[]),
            client_assertion_audience: Audience::TokenEndpoint,
            client_assertion_algorithm: JwtAlgorithm::Rs256,
            client_assertion_thumbprint: None,
            dpop: Dpop::Unsupported,
            token_request: TokenRequestSpec {
                body_format: BodyFormat::Form,
                params: List::Borrowed(&[]),
                code_params: List::Borrowed(&[]),
                refresh_params: List::Borrowed(&[]),
            },
            token_response: TokenResponseSpec {
                format: ResponseFormat::Json,
                expires_in: ExpiresIn::Number,
                expires_in_unit: TimeUnit::Seconds,
                error_in_200: false,
                root: None,
                lifetime_field: None,
                scope_field: None,
                refresh_token_expires_in: None,
                scope_separator: None,
                fields: List::Borrowed(&[]),
            },
            refresh: RefreshSpec {
                rotates: false,
                returns_refresh_token: false,
                requires_scope: false,
                sends_redirect_uri: false,
                margin_seconds: RefreshSpec::DEFAULT_MARGIN_SECONDS,
            },
            api: ApiSpec { base_url: None, headers: List::Borrowed(&[]) },
            grants: GrantsSpec {
                authorization_code: false,
                refresh_token: false,
                device_code: None,
                client_credentials: None,
                jwt_bearer: None,
                token_exchange: None,
            },
            redirect: RedirectSpec { loopback_host: LoopbackHost::Ipv4, callback_params: List::Borrowed(&[]) },
            oidc_issuer: None,
            oidc_jwks_uri: None,
            oidc_algorithms: List::Borrowed(&[]),
            oidc_sends_iss: false,
        }
    }

    /// Whether the provider has `capability`.
    #[must_use]
    pub fn has(&self, capability: Capability) -> bool {
        let (g, e) = (&self.grants, &self.endpoints);
        match capability {
            Capability::AuthorizationCode => g.authorization_code,
            Capability::Refresh => g.refresh_token,
            Capability::DeviceCode => g.device_code.is_some(),
            Capability::ClientCredentials => g.client_credentials.is_some(),
            Capability::JwtBearer => g.jwt_bearer.is_some(),
            Capability::TokenExchange => g.token_exchange.is_some(),
            Capability::Revocation => e.revocation.is_some(),
            Capability::Introspection => e.introspection.is_some(),
            Capability::UserInfo => e.userinfo.is_some(),
        }
    }

    /// The provider's capabilities, in [`Capability::ALL`] order.
    pub fn capabilities(&self) -> impl Iterator<Item = Capability> + '_ {
        Capability::ALL.iter().copied().filter(|c| self.has(*c))
    }

    /// The declared variable `name`.
    #[must_use]
    pub fn variable(&self, name: &str) -> Option<&VariableSpec> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// Move a spec built at run time into static memory, as generated code's specs are.
    /// The memory is never freed: do this once per spec, not per request.
    #[must_use]
    pub fn leak(self) -> &'static Self {
        Box::leak(Box::new(self))
    }
}

/// Endpoint URL templates; `{name}` placeholders refer to [`ProviderSpec::variables`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointTemplates {
    /// Authorization endpoint.
    pub authorization: Option<Str>,
    /// Token endpoint.
    pub token: Str,
    /// Revocation endpoint (RFC 7009).
    pub revocation: Option<Str>,
    /// Device authorization endpoint (RFC 8628).
    pub device_authorization: Option<Str>,
    /// User information endpoint.
    pub userinfo: Option<Str>,
    /// Introspection endpoint (RFC 7662).
    pub introspection: Option<Str>,
    /// A separate refresh endpoint, when refresh requests do not go to `token`.
    pub refresh: Option<Str>,
    /// OpenID Connect RP-initiated logout endpoint.
    pub end_session: Option<Str>,
    /// Pushed authorization request endpoint (RFC 9126): when set, authorization requests
    /// are pushed there and the browser gets only `client_id` and `request_uri`.
    pub pushed_authorization: Option<Str>,
}

impl EndpointTemplates {
    /// The template the spec gives for `endpoint`, exactly (`refresh` is `None` unless the
    /// spec names a separate refresh endpoint).
    #[must_use]
    pub fn get(&self, endpoint: Endpoint) -> Option<&str> {
        match endpoint {
            Endpoint::Authorization => self.authorization.as_deref(),
            Endpoint::Token => Some(&self.token),
            Endpoint::Revocation => self.revocation.as_deref(),
            Endpoint::DeviceAuthorization => self.device_authorization.as_deref(),
            Endpoint::Userinfo => self.userinfo.as_deref(),
            Endpoint::Introspection => self.introspection.as_deref(),
            Endpoint::Refresh => self.refresh.as_deref(),
            Endpoint::EndSession => self.end_session.as_deref(),
            Endpoint::PushedAuthorization => self.pushed_authorization.as_deref(),
        }
    }

    /// Every endpoint the spec declares, with its template, in [`Endpoint::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Endpoint, &str)> + '_ {
        Endpoint::ALL.iter().filter_map(|e| Some((*e, self.get(*e)?)))
    }
}

/// A templated variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableSpec {
    /// Placeholder name.
    pub name: Str,
    /// What the value is.
    pub description: Str,
    /// The value used when none is given.
    pub default: Option<Str>,
    /// A regular expression every value must match.
    pub pattern: Option<Str>,
    /// The only values allowed; empty: any value (within `pattern`).
    pub values: List<Str>,
    /// The value is a path prefix: empty, or `/` and path segments (`/gitlab`).
    pub path: bool,
    /// The value is an origin (`https://accounts.zoho.eu`) that starts URL templates.
    pub origin: bool,
    /// The authorization callback parameter that may carry the value for one grant (Zoho's
    /// `accounts-server`): the code exchange and later requests for those credentials use
    /// it.
    pub from_callback: Option<Str>,
}

/// Why `value` cannot be a path prefix (a `path` variable's value): it must be empty, or `/`
/// followed by non-empty segments of RFC 3986 unreserved characters, none of them `.` or
/// `..`, and no trailing `/`.
#[must_use]
pub fn path_prefix_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return None;
    }
    let Some(rest) = value.strip_prefix('/') else { return Some("a path prefix starts with `/`") };
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Some("a path prefix has no empty segment and no trailing `/`");
        }
        if segment == "." || segment == ".." {
            return Some("a path prefix has no `.` or `..` segment");
        }
        if !segment.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')) {
            return Some("a path prefix holds only ASCII letters, digits, `-`, `.`, `_`, `~` and `/`");
        }
    }
    None
}

/// Token request shaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequestSpec {
    /// Body encoding.
    pub body_format: BodyFormat,
    /// Extra parameters sent with every token request (values are templates).
    pub params: List<Param>,
    /// Extra parameters of the authorization code exchange only.
    pub code_params: List<Param>,
    /// Extra parameters of refresh requests only.
    pub refresh_params: List<Param>,
}

/// Token response clean-up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools, reason = "mirrors the spec's keys")]
pub struct TokenResponseSpec {
    /// Body format.
    pub format: ResponseFormat,
    /// How `expires_in` arrives.
    pub expires_in: ExpiresIn,
    /// Its unit.
    pub expires_in_unit: TimeUnit,
    /// Errors may arrive with HTTP 200.
    pub error_in_200: bool,
    /// The key of a wrapper object holding the token fields.
    pub root: Option<Str>,
    /// The name of the lifetime field when it is not `expires_in`.
    pub lifetime_field: Option<Str>,
    /// The name of the refresh-token lifetime field.
    pub refresh_token_expires_in: Option<Str>,
    /// The separator of the response's `scope` when it differs from the request's.
    pub scope_separator: Option<Str>,
    /// The name of the granted-scopes field when it is not `scope`.
    pub scope_field: Option<Str>,
    /// Typed provider-specific fields of the response, checked and kept in the credentials,
    /// in name order.
    pub fields: List<TokenField>,
}

/// The token-response fields the protocol defines (RFC 6749 sections 5.1 and 5.2, OpenID
/// Connect's `id_token`), which a spec cannot declare as its own fields.
pub const STANDARD_TOKEN_FIELDS: &[&str] = &[
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "scope",
    "id_token",
    "error",
    "error_description",
    "error_uri",
];

/// A provider-specific token-response field (Salesforce `instance_url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenField {
    /// The field's name in the response.
    pub name: Str,
    /// Its type.
    pub kind: FieldType,
    /// A successful response without it is refused.
    pub required: bool,
    /// A regular expression every value must match (strings and URLs).
    pub pattern: Option<Str>,
    /// An example value (documentation; the conformance tests' emulator sends it).
    pub example: Option<Str>,
}

/// Where the provider's API is, and what its calls carry besides the bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSpec {
    /// The API's base URL; `{name}` placeholders name variables and token-response fields.
    pub base_url: Option<Str>,
    /// Headers the authorized client sends on every API call; values are templates over
    /// variables and `{client_id}`.
    pub headers: List<Param>,
}

/// Refresh semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools, reason = "mirrors the spec's keys")]
pub struct RefreshSpec {
    /// Refresh tokens rotate.
    pub rotates: bool,
    /// A refresh response carries a refresh token.
    pub returns_refresh_token: bool,
    /// The refresh request must repeat the scopes.
    pub requires_scope: bool,
    /// The refresh request must repeat the sign-in's redirect URI.
    pub sends_redirect_uri: bool,
    /// Refresh this many seconds before expiry.
    pub margin_seconds: u32,
}

impl RefreshSpec {
    /// `refresh.margin_seconds` when a spec gives none.
    pub const DEFAULT_MARGIN_SECONDS: u32 = 60;
}

/// The grants a provider has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantsSpec {
    /// Authorization code.
    pub authorization_code: bool,
    /// Refresh token.
    pub refresh_token: bool,
    /// Device authorization.
    pub device_code: Option<DeviceCodeSpec>,
    /// Client credentials.
    pub client_credentials: Option<ClientCredentialsSpec>,
    /// JWT bearer (service accounts).
    pub jwt_bearer: Option<JwtBearerSpec>,
    /// Token exchange (RFC 8693).
    pub token_exchange: Option<TokenExchangeSpec>,
}

/// Device authorization options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCodeSpec {
    /// Polling interval in seconds when the provider states none.
    pub default_interval: u32,
}

impl DeviceCodeSpec {
    /// `grants.device_code.default_interval` when a spec gives none (RFC 8628).
    pub const DEFAULT_INTERVAL: u32 = 5;
}

/// Client credentials options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentialsSpec {
    /// A token endpoint for this grant only.
    pub token_endpoint: Option<Str>,
    /// Extra parameters; `{name}` placeholders allowed.
    pub params: List<Param>,
    /// The `grant_type` sent, when it is not `client_credentials` (Zoom's
    /// `account_credentials`).
    pub grant_type: Option<Str>,
}

/// Token exchange options (RFC 8693).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenExchangeSpec {
    /// Extra parameters every exchange sends; `{name}` placeholders allowed.
    pub params: List<Param>,
    /// A token endpoint of the grant's own (Okta's custom authorization servers), else the
    /// spec's.
    pub token_endpoint: Option<Str>,
}

/// JWT bearer options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtBearerSpec {
    /// Signing key format.
    pub key_format: KeyFormat,
    /// Signature algorithm.
    pub algorithm: JwtAlgorithm,
    /// The `aud` claim.
    pub audience: Audience,
    /// Whether `sub` may or must be sent.
    pub subject: Subject,
}

/// The `aud` claim of an assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// The token endpoint.
    TokenEndpoint,
    /// The URL of the endpoint the request goes to (client assertions at Okta).
    Endpoint,
    /// The OpenID issuer (client assertions at Auth0 and ZITADEL).
    Issuer,
    /// A fixed URL or host name; `{name}` placeholders allowed.
    Literal(Str),
}

impl Audience {
    /// The spec's `audience`: `token` for the token endpoint, `endpoint` for the URL called,
    /// `issuer` for the OpenID issuer, anything else literally.
    #[must_use]
    pub fn from_spec(value: &str) -> Self {
        match value {
            "token" => Self::TokenEndpoint,
            "endpoint" => Self::Endpoint,
            "issuer" => Self::Issuer,
            other => Self::Literal(Str::Owned(other.to_owned())),
        }
    }
}

/// Redirect handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectSpec {
    /// The loopback host for installed apps.
    pub loopback_host: LoopbackHost,
    /// Callback parameters kept in the credentials.
    pub callback_params: List<Str>,
}

/// Declares a fieldless enum of the YAML vocabulary: `serde`/`schemars` derives behind their
/// features, and `ALL`.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $(@rename_all $rename_all:literal)?
        $(@default $default:ident)?
        pub enum $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $(@rename $rename:literal)?
                $variant:ident,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
        $(#[cfg_attr(feature = "serde", serde(rename_all = $rename_all))])?
        pub enum $name {
            $(
                $(#[doc = $doc])*
                $(#[cfg_attr(feature = "serde", serde(rename = $rename))])?
                $variant,
            )*
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];
        }

        $(
            /// The value a spec gets when it does not say.
            impl Default for $name {
                fn default() -> Self {
                    Self::$default
                }
            }
        )?
    };
}

vocabulary! {
    /// How the client authenticates at the token endpoint.
    @rename_all "snake_case"
    pub enum ClientAuth {
        /// HTTP Basic (`client_secret_basic`).
        Basic,
        /// `client_id` and `client_secret` in the form body (`client_secret_post`).
        RequestBody,
        /// A JWT signed with the client's private key (RFC 7523 section 2.2, OpenID Connect
        /// Core section 9: `private_key_jwt`).
        PrivateKeyJwt,
        /// A JWT signed with the client secret, HS256 (`client_secret_jwt`).
        ClientSecretJwt,
    }
}

impl ClientAuth {
    /// The method's name in a spec (`basic`, `request_body`, `private_key_jwt`,
    /// `client_secret_jwt`).
    #[must_use]
    pub const fn key(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::RequestBody => "request_body",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::ClientSecretJwt => "client_secret_jwt",
        }
    }

    /// The method's name in OAuth metadata (`token_endpoint_auth_method`, RFC 7591).
    #[must_use]
    pub const fn metadata_name(self) -> &'static str {
        match self {
            Self::Basic => "client_secret_basic",
            Self::RequestBody => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::ClientSecretJwt => "client_secret_jwt",
        }
    }

    /// Whether the client proves itself with a signed JWT (`client_assertion`).
    #[must_use]
    pub const fn is_assertion(self) -> bool {
        matches!(self, Self::PrivateKeyJwt | Self::ClientSecretJwt)
    }
}

vocabulary! {
    /// PKCE support.
    @rename_all "snake_case"
    pub enum Pkce {
        /// Every authorization request must carry a code challenge.
        Required,
        /// Accepted from every client.
        Supported,
        /// Accepted only from public clients (no client secret).
        PublicOnly,
        /// Rejected or ignored: never sent.
        Unsupported,
    }
}

vocabulary! {
    /// DPoP support (RFC 9449): tokens bound to a key of the client's, each request carrying
    /// a proof signed with it.
    @rename_all "snake_case"
    @default Unsupported
    pub enum Dpop {
        /// Every token request must carry a proof: the client always uses DPoP.
        Required,
        /// Proofs are accepted: the client uses DPoP when asked to.
        Supported,
        /// Not accepted: never sent (the default).
        Unsupported,
    }
}

vocabulary! {
    /// Encoding of a request body.
    @rename_all "snake_case"
    @default Form
    pub enum BodyFormat {
        /// `application/x-www-form-urlencoded`.
        Form,
        /// `application/json`.
        Json,
    }
}

vocabulary! {
    /// Token response body format.
    @rename_all "snake_case"
    @default Json
    pub enum ResponseFormat {
        /// JSON (RFC 6749).
        Json,
        /// Form-encoded (`access_token=...&token_type=bearer`).
        Form,
        /// Sniffed from the body.
        Auto,
    }
}

vocabulary! {
    /// How `expires_in` arrives.
    @rename_all "snake_case"
    @default Number
    pub enum ExpiresIn {
        /// A JSON number.
        Number,
        /// A string of digits (PayPal, Naver).
        String,
        /// Not sent: tokens have no stated lifetime.
        Absent,
        /// The expiry time as an RFC 3339 date (`2006-01-02T15:04:05Z`) instead of a
        /// lifetime (Square's `expires_at`).
        Date,
    }
}

vocabulary! {
    /// The type of a token-response field.
    @rename_all "snake_case"
    @default String
    pub enum FieldType {
        /// A string.
        String,
        /// An absolute URL, `https` unless its host is loopback (Salesforce `instance_url`).
        Url,
        /// An integer (a JSON number, or a string of digits).
        Integer,
        /// A boolean.
        Boolean,
    }
}

vocabulary! {
    /// A unit of time.
    @rename_all "snake_case"
    @default Seconds
    pub enum TimeUnit {
        /// Seconds (RFC 6749).
        Seconds,
        /// Milliseconds.
        Milliseconds,
    }
}

vocabulary! {
    /// A signing key format.
    @rename_all "snake_case"
    pub enum KeyFormat {
        /// A Google service-account JSON key file.
        GoogleServiceAccountJson,
        /// A PEM-encoded private key.
        Pem,
    }
}

vocabulary! {
    /// The JWS algorithm of assertions signed with an RSA key.
    @default Rs256
    pub enum JwtAlgorithm {
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        @rename "RS256"
        Rs256,
        /// RSASSA-PSS with SHA-256 (client assertions at Microsoft Entra ID).
        @rename "PS256"
        Ps256,
    }
}

impl JwtAlgorithm {
    /// Its JWS name (`RS256`, `PS256`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }
}

vocabulary! {
    /// How a client assertion's header names the client's key by a thumbprint of its X.509
    /// certificate (RFC 7515 section 4.1.7, 4.1.8), beside any `kid`.
    pub enum CertificateThumbprint {
        /// `x5t#S256`: the SHA-256 thumbprint (Microsoft Entra ID).
        @rename "x5t#S256"
        Sha256,
        /// `x5t`: the SHA-1 thumbprint (older Microsoft Entra ID and ADFS clients).
        @rename "x5t"
        Sha1,
    }
}

impl CertificateThumbprint {
    /// The header parameter's name.
    #[must_use]
    pub const fn header(self) -> &'static str {
        match self {
            Self::Sha256 => "x5t#S256",
            Self::Sha1 => "x5t",
        }
    }
}

vocabulary! {
    /// Whether an assertion may carry a subject.
    @rename_all "snake_case"
    @default Unsupported
    pub enum Subject {
        /// The assertion may carry `sub`.
        Supported,
        /// The assertion must carry `sub` (Salesforce, DocuSign: the user to act as).
        Required,
        /// The assertion never carries `sub`.
        Unsupported,
    }
}

vocabulary! {
    /// A loopback host name.
    @default Ipv4
    pub enum LoopbackHost {
        /// `127.0.0.1` (RFC 8252 recommends the literal address).
        @rename "127.0.0.1"
        Ipv4,
        /// `localhost`.
        @rename "localhost"
        Localhost,
    }
}

vocabulary! {
    /// A JWS algorithm an ID token may be signed with. `none` and the HMAC algorithms are
    /// deliberately absent: an ID token signed with them is always refused.
    pub enum IdTokenAlgorithm {
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        @rename "RS256"
        Rs256,
        /// RSASSA-PSS with SHA-256.
        @rename "PS256"
        Ps256,
        /// ECDSA on P-256 with SHA-256.
        @rename "ES256"
        Es256,
        /// Ed25519.
        @rename "EdDSA"
        EdDsa,
    }
}

impl LoopbackHost {
    /// The host name (`127.0.0.1`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ipv4 => "127.0.0.1",
            Self::Localhost => "localhost",
        }
    }
}

impl IdTokenAlgorithm {
    /// The JOSE name (`RS256`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm with this JOSE name, exactly.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_complete_and_consistent() {
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::from_key(e.key()), Some(*e));
        }
        assert_eq!(Endpoint::ALL.len(), 9);
        assert_eq!(Capability::ALL.len(), 9);
        for c in Capability::ALL {
            assert!(!c.name().is_empty() && !c.trait_name().is_empty());
        }
        assert_eq!(Endpoint::PushedAuthorization.discovery_field(), Some("pushed_authorization_request_endpoint"));
        let mut spec = ProviderSpec::new("x", "X", "https://x.example/token");
        assert_eq!(spec.capabilities().count(), 0);
        spec.endpoints.userinfo = Some("https://x.example/me".into());
        spec.grants.refresh_token = true;
        assert_eq!(spec.capabilities().collect::<Vec<_>>(), [Capability::Refresh, Capability::UserInfo]);
        assert_eq!(spec.endpoints.iter().map(|(e, _)| e).collect::<Vec<_>>(), [Endpoint::Token, Endpoint::Userinfo]);
        for a in IdTokenAlgorithm::ALL {
            assert_eq!(IdTokenAlgorithm::from_name(a.name()), Some(*a));
        }
    }

    /// A spec in a `const` (generated code writes whole specs so, nested lists included:
    /// every generated provider compiles only because that works).
    const STATIC: &ProviderSpec = &ProviderSpec::borrowed("s", "S", "https://s.example/{tenant}/token");

    #[test]
    fn static_and_owned_specs_are_the_same_type() {
        let mut owned =
            ProviderSpec::new("s".to_owned(), "S".to_owned(), "https://s.example/{tenant}/token".to_owned());
        assert_eq!(&owned, STATIC);
        owned.variables = vec![VariableSpec {
            name: "tenant".to_owned().into(),
            description: "The tenant".to_owned().into(),
            default: Some("common".to_owned().into()),
            pattern: None,
            values: Vec::new().into(),
            path: false,
            origin: false,
            from_callback: None,
        }]
        .into();
        assert_eq!(owned.leak().variable("tenant").and_then(|v| v.default.as_deref()), Some("common"));
    }
}
