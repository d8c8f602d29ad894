//! The runtime's one error type.

pub use oauthgen_spec::Endpoint;

/// Everything that can go wrong in the runtime. No variant holds a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The provider's spec has no URL for this endpoint.
    #[error("the `{provider}` spec declares no {endpoint} endpoint")]
    NoEndpoint {
        /// Provider id.
        provider: &'static str,
        /// The endpoint.
        endpoint: Endpoint,
    },
    /// The credentials lack a token-response field that a template needs (`{instance_url}`
    /// in `api.base_url`), or the spec describes no API base URL.
    #[error("no `{field}` for `{provider}`: {reason}")]
    MissingField {
        /// Provider id.
        provider: &'static str,
        /// The field (or `api.base_url`).
        field: String,
        /// Why.
        reason: String,
    },
    /// A templated variable has no value and no default.
    #[error("variable `{name}` of `{provider}` has no value")]
    MissingVariable {
        /// Provider id.
        provider: &'static str,
        /// Variable name.
        name: &'static str,
    },
    /// A templated variable's value is not allowed.
    #[error("invalid value {value:?} for variable `{name}` of `{provider}`: {reason}")]
    InvalidVariable {
        /// Provider id.
        provider: &'static str,
        /// Variable name.
        name: String,
        /// The rejected value.
        value: String,
        /// Why.
        reason: String,
    },
    /// A URL the runtime would send to (or send a user to) is neither `https` nor plain
    /// `http` to a loopback host (`127.0.0.0/8`, `::1`, `localhost`).
    #[error("refusing {url} for {what}: https is required unless the host is loopback")]
    InsecureUrl {
        /// What the URL is for.
        what: String,
        /// The URL, without user info, query or fragment.
        url: String,
    },
    /// A URL could not be built or parsed.
    #[error("invalid URL for {what}: {source}")]
    InvalidUrl {
        /// What the URL is for.
        what: String,
        /// The parse error.
        source: url::ParseError,
    },
    /// The callback's `state` does not match the pending authorization (a forged or stale
    /// callback).
    #[error("the callback's `state` does not match the pending authorization")]
    StateMismatch,
    /// The callback's `iss` is not the provider's issuer (RFC 9207: a mix-up attack).
    #[error("the callback came from issuer {found:?}, expected {expected:?}")]
    IssuerMismatch {
        /// The issuer the provider has.
        expected: String,
        /// The issuer the callback names.
        found: String,
    },
    /// The callback is malformed (no code, a repeated parameter ...).
    #[error("invalid callback: {0}")]
    InvalidCallback(String),
    /// The user or the provider refused the authorization (`error=` on the callback).
    #[error("authorization refused: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Authorization {
        /// The `error` code (`access_denied` ...).
        error: String,
        /// `error_description`.
        description: Option<String>,
        /// `error_uri`.
        uri: Option<String>,
    },
    /// An endpoint (token, refresh, revocation, introspection, device authorization) answered
    /// with an OAuth error (RFC 6749 section 5.2). The fields are the provider's, with control
    /// characters replaced and each cut to 1 KiB.
    #[error("the provider refused the request: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    OAuth {
        /// The `error` code (`invalid_grant` ...).
        error: String,
        /// `error_description`.
        description: Option<String>,
        /// `error_uri`.
        uri: Option<String>,
    },
    /// An endpoint's answer could not be understood (or was a refusal without an OAuth error).
    #[error("malformed response (HTTP {status}): {reason}")]
    MalformedResponse {
        /// HTTP status.
        status: u16,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP request failed (connection, timeout, too large a response ...).
    #[error("HTTP request to {endpoint} endpoint failed: {reason}")]
    Http {
        /// The endpoint.
        endpoint: Endpoint,
        /// What failed.
        reason: String,
        /// The request may have reached the server before it failed (a timeout or reset
        /// while waiting for the answer), so its effect is unknown.
        maybe_sent: bool,
    },
    /// The endpoint is unavailable for now (HTTP 5xx or 429); worth retrying, after
    /// `retry_after` when the server gave one.
    #[error("{endpoint} endpoint unavailable (HTTP {status})")]
    Unavailable {
        /// The endpoint.
        endpoint: Endpoint,
        /// HTTP status.
        status: u16,
        /// The server's `Retry-After`, in seconds.
        retry_after: Option<std::time::Duration>,
    },
    /// The installed-app (loopback) flow failed: no port, no sign-in in time.
    #[error("loopback sign-in: {0}")]
    Loopback(String),
    /// A JWT assertion could not be built or signed.
    #[error("cannot sign the assertion: {0}")]
    Signing(String),
    /// The store failed.
    #[error("token store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The store holds no credentials for this key: authorize first.
    #[error("no credentials stored under `{0}`")]
    NoCredentials(String),
    /// The stored credentials were revoked (`invalid`): only a new authorization helps.
    #[error("the credentials stored under `{0}` are invalid (revoked or expired grant): authorize again")]
    InvalidCredentials(String),
    /// The provider's spec declares no such grant.
    #[error("the `{provider}` spec declares no `{grant}` grant")]
    NoGrant {
        /// Provider id.
        provider: &'static str,
        /// Grant name.
        grant: &'static str,
    },
    /// The spec does not list this client authentication method.
    #[error("the `{provider}` spec does not accept client authentication `{method:?}`")]
    UnsupportedClientAuth {
        /// Provider id.
        provider: &'static str,
        /// The method asked for.
        method: crate::spec::ClientAuth,
    },
    /// The spec pushes authorization requests (RFC 9126), which needs a request to the
    /// provider: the synchronous [`crate::authorize_url`] cannot, [`crate::authorize`] can.
    #[error(
        "the `{provider}` spec pushes authorization requests (endpoints.pushed_authorization): use `authorize`, which sends them, instead of `authorize_url`"
    )]
    PushedAuthorizationRequired {
        /// Provider id.
        provider: &'static str,
    },
    /// DPoP was asked for, and the spec says the provider does not take it.
    #[error("the `{provider}` spec says the provider does not take DPoP (`dpop: unsupported`)")]
    DpopUnsupported {
        /// Provider id.
        provider: &'static str,
    },
    /// A parameter the protocol sets itself was given as an extra parameter.
    #[error("parameter `{0}` is set by the flow and cannot be given as an extra parameter")]
    ReservedParameter(String),
    /// The credentials hold no refresh token.
    #[error("the credentials hold no refresh token")]
    NoRefreshToken,
    /// A refresh request failed after it was sent (a timeout, a reset connection), so the
    /// provider may have rotated the refresh token without our hearing of it; the retry
    /// was then refused with `invalid_grant`. The grant is lost: authorize again.
    #[error(
        "refreshing `{key}` failed: an earlier attempt ({earlier}) may have rotated the refresh token at the provider, \
         and the retry was refused with invalid_grant; authorize again"
    )]
    RefreshOutcomeUnknown {
        /// The store key.
        key: String,
        /// How the earlier attempt failed.
        earlier: String,
    },
    /// An OpenID Connect ID token was refused (or could not be checked); nothing was
    /// returned or stored.
    #[error("ID token refused: {reason}")]
    IdToken {
        /// What failed.
        reason: crate::oidc::IdTokenError,
    },
    /// The refresh ended without an answer (its task was cancelled or panicked).
    #[error("the refresh of `{0}` ended without a result")]
    RefreshAborted(String),
}

impl Error {
    /// Whether trying again later may succeed: connection failures, timeouts, HTTP 5xx and
    /// 429, and the OAuth errors `temporarily_unavailable` and `server_error`. Other 4xx
    /// answers are final.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http { .. } | Self::Unavailable { .. } => true,
            Self::OAuth { error, .. } => error == "temporarily_unavailable" || error == "server_error",
            _ => false,
        }
    }
}
