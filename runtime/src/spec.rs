//! A provider spec as static data: what generated code hands the runtime.
//!
//! These types mirror the YAML spec format (see `specs/README.md`) after the generator has
//! checked it, so the runtime never re-validates a spec. They are constructed only by
//! generated code; read them to inspect a provider.

/// A checked provider spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderSpec {
    /// The provider id (`google`).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// The provider's OAuth documentation.
    pub docs: Option<&'static str>,
    /// Endpoint URL templates.
    pub endpoints: EndpointTemplates,
    /// Inputs for `{name}` placeholders.
    pub variables: &'static [VariableSpec],
    /// Client authentication methods, preferred first.
    pub client_auth: &'static [ClientAuth],
    /// PKCE support.
    pub pkce: Pkce,
    /// The string between scopes in the `scope` parameter.
    pub scope_separator: &'static str,
    /// Scope strings requested when the caller asks for none.
    pub default_scopes: &'static [&'static str],
    /// Extra authorization URL parameters.
    pub authorize_params: &'static [(&'static str, &'static str)],
    /// Token request shaping.
    pub token_request: TokenRequestSpec,
    /// Token response clean-up.
    pub token_response: TokenResponseSpec,
    /// Refresh semantics.
    pub refresh: RefreshSpec,
    /// The grants the provider has.
    pub grants: GrantsSpec,
    /// Redirect handling.
    pub redirect: RedirectSpec,
    /// The OpenID Connect issuer, when the provider is an OpenID provider.
    pub oidc_issuer: Option<&'static str>,
    /// The OpenID Connect JWKS URL; `None`: the discovery document's.
    pub oidc_jwks_uri: Option<&'static str>,
    /// The algorithms ID tokens may be signed with; empty: the discovery document's, else
    /// `RS256`.
    pub oidc_algorithms: &'static [IdTokenAlgorithm],
    /// The provider always sends `iss` on authorization responses (RFC 9207): a callback
    /// without it is refused.
    pub oidc_sends_iss: bool,
}

/// Endpoint URL templates; `{name}` placeholders refer to [`ProviderSpec::variables`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointTemplates {
    /// Authorization endpoint.
    pub authorization: Option<&'static str>,
    /// Token endpoint.
    pub token: &'static str,
    /// Revocation endpoint (RFC 7009).
    pub revocation: Option<&'static str>,
    /// Device authorization endpoint (RFC 8628).
    pub device_authorization: Option<&'static str>,
    /// User information endpoint.
    pub userinfo: Option<&'static str>,
    /// Introspection endpoint (RFC 7662).
    pub introspection: Option<&'static str>,
    /// A separate refresh endpoint, when refresh requests do not go to `token`.
    pub refresh: Option<&'static str>,
    /// OpenID Connect RP-initiated logout endpoint.
    pub end_session: Option<&'static str>,
}

/// A templated variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariableSpec {
    /// Placeholder name.
    pub name: &'static str,
    /// What the value is.
    pub description: &'static str,
    /// The value used when none is given.
    pub default: Option<&'static str>,
    /// A regular expression every value must match.
    pub pattern: Option<&'static str>,
}

/// Client authentication at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`).
    Basic,
    /// Credentials in the request body (`client_secret_post`).
    RequestBody,
}

/// PKCE support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pkce {
    /// Always sent; the provider requires it.
    Required,
    /// Always sent.
    Supported,
    /// Sent only by public clients.
    PublicOnly,
    /// Never sent.
    Unsupported,
}

/// Token request shaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRequestSpec {
    /// Body encoding.
    pub body_format: BodyFormat,
    /// Extra parameters sent with every token request.
    pub params: &'static [(&'static str, &'static str)],
}

/// A request body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json`.
    Json,
}

/// Token response clean-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub root: Option<&'static str>,
    /// The name of the refresh-token lifetime field.
    pub refresh_token_expires_in: Option<&'static str>,
}

/// A token response body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    /// JSON.
    Json,
    /// Form-encoded.
    Form,
    /// Sniffed.
    Auto,
}

/// How `expires_in` arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiresIn {
    /// A JSON number.
    Number,
    /// A string of digits.
    String,
    /// Not sent.
    Absent,
}

/// A unit of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Milliseconds,
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
    /// Refresh this many seconds before expiry.
    pub margin_seconds: u32,
}

/// The grants a provider has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// Device authorization options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCodeSpec {
    /// Polling interval when the provider states none.
    pub default_interval: u32,
}

/// Client credentials options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientCredentialsSpec {
    /// A token endpoint for this grant only.
    pub token_endpoint: Option<&'static str>,
    /// Extra parameters; `{name}` placeholders allowed.
    pub params: &'static [(&'static str, &'static str)],
}

/// JWT bearer options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A signing key format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// A Google service-account JSON file.
    GoogleServiceAccountJson,
    /// A PEM private key.
    Pem,
}

/// A JWS algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// RS256.
    Rs256,
}

/// The `aud` claim of an assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The token endpoint.
    TokenEndpoint,
    /// A fixed URL or host name; `{name}` placeholders allowed.
    Literal(&'static str),
}

/// Whether an assertion carries `sub`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// May.
    Supported,
    /// Must.
    Required,
    /// Never.
    Unsupported,
}

/// Redirect handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectSpec {
    /// The loopback host for installed apps.
    pub loopback_host: &'static str,
    /// Callback parameters kept in the credentials.
    pub callback_params: &'static [&'static str],
}

/// A JWS algorithm an ID token may be signed with. `none` and the HMAC algorithms are
/// deliberately absent: an ID token signed with them is always refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdTokenAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl IdTokenAlgorithm {
    /// Every algorithm.
    pub const ALL: &'static [Self] = &[Self::Rs256, Self::Ps256, Self::Es256, Self::EdDsa];

    /// The JOSE name (`RS256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm with this JOSE name, exactly.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }
}
