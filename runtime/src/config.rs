//! The runtime configuration of one provider: its static spec plus the caller's client
//! credentials, variable values and endpoint overrides.

use std::collections::BTreeMap;
use std::fmt;

use oauth2::{ClientId, ClientSecret};
use url::Url;

use crate::error::{Endpoint, Error};
use crate::spec::{ClientAuth, ProviderSpec};

/// What generated provider types hold: the spec, the client and any overrides.
///
/// `Debug` never shows the client secret.
#[derive(Clone)]
pub struct ProviderConfig {
    spec: &'static ProviderSpec,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    client_key: Option<std::sync::Arc<crate::ClientKey>>,
    /// A file holding a client assertion issued elsewhere (workload identity federation).
    client_assertion_file: Option<std::path::PathBuf>,
    variables: BTreeMap<&'static str, String>,
    overrides: BTreeMap<Endpoint, Url>,
    extra_variables: BTreeMap<String, String>,
    client_auth: Option<ClientAuth>,
    timeout: std::time::Duration,
    oidc: crate::oidc::OidcOptions,
    http_client: Option<reqwest::Client>,
    dpop: bool,
    nonces: crate::wire::dpop::Nonces,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("provider", &self.spec.id)
            .field("client_id", &self.client_id.as_str())
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("client_key", &self.client_key)
            .field("client_assertion_file", &self.client_assertion_file)
            .field("variables", &self.variables)
            .field("overrides", &self.overrides.iter().map(|(k, v)| (k, v.as_str())).collect::<BTreeMap<_, _>>())
            .finish_non_exhaustive()
    }
}

/// The characters a variable value may hold when its spec gives no pattern: RFC 3986
/// "unreserved", which can neither leave a host label nor a path segment.
fn default_value_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("it is empty");
    }
    if value == "." || value == ".." {
        return Some("it is a dot segment");
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')) {
        return Some("only ASCII letters, digits, `-`, `.`, `_` and `~` are allowed");
    }
    None
}

/// Percent-decode `value` (invalid escapes kept as they are).
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a path segment is `.` or `..`, also percent-encoded (`%2e%2e`, which URL parsers
/// resolve like `..`).
fn is_dot_segment(segment: &str) -> bool {
    matches!(percent_decoded(segment).as_str(), "." | "..")
}

/// What no variable value may be, whatever its spec's pattern: a dot segment, or hold a
/// character that ends a host or a path segment, starts user info, or is a control
/// character, also percent-encoded.
fn forbidden_value_problem(value: &str) -> Option<&'static str> {
    if is_dot_segment(value) {
        return Some("it is a dot segment");
    }
    let forbidden = |c: char| matches!(c, '/' | '\\' | '?' | '#' | '@') || c.is_control();
    if value.contains(forbidden) || percent_decoded(value).contains(forbidden) {
        return Some("`/`, `\\`, `?`, `#`, `@` and control characters are not allowed, also percent-encoded");
    }
    None
}

/// Why `value` cannot be an origin variable's value: it must be exactly a URL's origin
/// (`https://host[:port]`, plain `http` only to a loopback host).
fn origin_value_problem(value: &str) -> Option<&'static str> {
    let Ok(url) = Url::parse(value) else { return Some("it is not an absolute URL") };
    if crate::wire::http::require_tls("an origin", &url).is_err() {
        return Some("it must be `https` (plain `http` only to a loopback host)");
    }
    if url.origin().ascii_serialization() != value {
        return Some("it must be only a scheme, a host and a port: no path, query, user info or trailing `/`");
    }
    None
}

/// A piece of a template: literal text, or the name in a `{name}` placeholder.
enum Piece<'t> {
    Text(&'t str),
    Name(&'t str),
}

/// The pieces of `template`, in order: the one walk of `{name}` placeholders that rendering,
/// fallback choice and the API base URL share.
fn pieces(template: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = template;
    std::iter::from_fn(move || {
        let piece = match rest.find('{') {
            _ if rest.is_empty() => return None,
            Some(0) => {
                let after = &rest[1..];
                let close = after.find('}').unwrap_or(after.len());
                let name = &after[..close];
                rest = after.get(close + 1..).unwrap_or("");
                Piece::Name(name)
            }
            Some(open) => {
                let (text, after) = rest.split_at(open);
                rest = after;
                Piece::Text(text)
            }
            None => Piece::Text(std::mem::take(&mut rest)),
        };
        Some(piece)
    })
}

/// Where a variable's value landed in a rendered template, and the variable's name.
type Filled<'t> = (std::ops::Range<usize>, &'t str);

impl ProviderConfig {
    /// A configuration for `spec` with the given client.
    pub fn new(spec: &'static ProviderSpec, client_id: String, client_secret: Option<String>) -> Self {
        Self {
            spec,
            client_id: ClientId::new(client_id),
            client_secret: client_secret.map(ClientSecret::new),
            client_key: None,
            client_assertion_file: None,
            variables: BTreeMap::new(),
            overrides: BTreeMap::new(),
            extra_variables: BTreeMap::new(),
            client_auth: None,
            timeout: crate::REQUEST_TIMEOUT,
            oidc: crate::oidc::OidcOptions::default(),
            http_client: None,
            dpop: false,
            nonces: crate::wire::dpop::Nonces::default(),
        }
    }

    /// The spec.
    pub fn spec(&self) -> &'static ProviderSpec {
        self.spec
    }

    /// The provider id, for errors.
    pub(crate) fn id(&self) -> &'static str {
        let spec: &'static ProviderSpec = self.spec;
        &spec.id
    }

    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The client secret; `None` for public clients.
    pub fn client_secret(&self) -> Option<&ClientSecret> {
        self.client_secret.as_ref()
    }

    /// Whether this is a public client (no secret).
    pub fn is_public(&self) -> bool {
        self.client_secret.is_none() && self.client_key.is_none() && self.client_assertion_file.is_none()
    }

    /// The `aud` of an assertion: the token endpoint, `called` (the URL a request goes to;
    /// the token endpoint when `None`), the OpenID issuer or a literal template, rendered.
    pub(crate) fn assertion_audience(
        &self,
        audience: &crate::spec::Audience,
        called: Option<&Url>,
    ) -> Result<String, Error> {
        use crate::spec::Audience;
        match audience {
            Audience::TokenEndpoint => Ok(self.endpoint(Endpoint::Token)?.to_string()),
            Audience::Endpoint => match called {
                Some(url) => Ok(url.to_string()),
                None => Ok(self.endpoint(Endpoint::Token)?.to_string()),
            },
            Audience::Issuer => {
                let issuer = self.spec.oidc_issuer.as_deref().ok_or_else(|| {
                    Error::Signing(format!("the `{}` spec names no issuer for the assertion's audience", self.id()))
                })?;
                self.render(issuer)
            }
            Audience::Literal(template) => self.render(template),
        }
    }

    /// The client's private key for `private_key_jwt`, when one was set.
    pub fn client_key(&self) -> Option<&crate::ClientKey> {
        self.client_key.as_deref()
    }

    /// A fresh client assertion (`private_key_jwt`, `client_secret_jwt`) for a request to
    /// `endpoint`, as the runtime signs one for each of its own requests there; `None` when
    /// the client authenticates otherwise at `endpoint`. For calls to a provider endpoint the
    /// runtime does not make itself.
    ///
    /// # Errors
    ///
    /// No key or secret to sign with, a key the spec's algorithm cannot use, a certificate
    /// thumbprint the spec asks for without a certificate ([`Error::Signing`]), or an
    /// endpoint the spec lacks when the assertion's audience is that endpoint.
    pub fn client_assertion(&self, endpoint: Endpoint) -> Result<Option<String>, Error> {
        let called = self.endpoint(endpoint)?;
        crate::wire::http::client_assertion(self, endpoint, Some(&called))
    }

    /// Authenticate with `key` (`private_key_jwt`) where the spec allows it: its first
    /// listed method this client can use becomes `private_key_jwt` when listed.
    pub fn set_client_key(&mut self, key: crate::ClientKey) {
        self.client_key = Some(std::sync::Arc::new(key));
    }

    /// Authenticate with a client assertion another issuer wrote to `path` (workload identity
    /// federation: Kubernetes' projected service-account token, which Azure names in
    /// `AZURE_FEDERATED_TOKEN_FILE`; a CI system's OIDC token), sent as `private_key_jwt`'s
    /// `client_assertion` where the spec lists it. The file is read for every request, so a
    /// token the platform rotates is picked up; it takes the place of a client key.
    pub fn set_client_assertion_file(&mut self, path: impl Into<std::path::PathBuf>) {
        self.client_assertion_file = Some(path.into());
    }

    /// The file of [`ProviderConfig::set_client_assertion_file`], when one was set.
    pub fn client_assertion_file(&self) -> Option<&std::path::Path> {
        self.client_assertion_file.as_deref()
    }

    /// The client authentication method `endpoint` takes: the spec's own for it
    /// (`endpoint_client_auth`), else [`ProviderConfig::client_auth`].
    pub fn client_auth_at(&self, endpoint: Endpoint) -> ClientAuth {
        self.spec
            .endpoint_client_auth
            .iter()
            .find(|(e, _)| *e == endpoint)
            .map_or_else(|| self.client_auth(), |(_, m)| *m)
    }

    /// Choose one of the client authentication methods the spec lists (the first is used
    /// otherwise): the method your client is registered with.
    pub fn set_client_auth(&mut self, method: ClientAuth) -> Result<(), Error> {
        if !self.spec.client_auth.contains(&method) {
            return Err(Error::UnsupportedClientAuth { provider: self.id(), method });
        }
        self.client_auth = Some(method);
        Ok(())
    }

    /// The client authentication method used at the token endpoint: none for public
    /// clients (`client_id` in the body), else the chosen one, else the first the spec lists
    /// that this client has what it needs for (a key for `private_key_jwt`, a secret for the
    /// others).
    pub fn client_auth(&self) -> ClientAuth {
        if self.is_public() {
            return ClientAuth::RequestBody;
        }
        let usable = |m: &&ClientAuth| match m {
            ClientAuth::PrivateKeyJwt => self.client_key.is_some() || self.client_assertion_file.is_some(),
            ClientAuth::Basic | ClientAuth::RequestBody | ClientAuth::ClientSecretJwt => self.client_secret.is_some(),
        };
        self.client_auth
            .or_else(|| self.spec.client_auth.iter().find(usable).copied())
            .or_else(|| self.spec.client_auth.first().copied())
            .unwrap_or(ClientAuth::Basic)
    }

    /// Bind tokens to a key of this client's with DPoP proofs (RFC 9449), for a provider whose
    /// spec says `dpop: supported` (with `required` it is always on): each grant gets a new
    /// key, kept in its credentials. [`Error::DpopUnsupported`] when the spec says the
    /// provider does not take DPoP.
    pub fn set_dpop(&mut self, on: bool) -> Result<(), Error> {
        if on && self.spec.dpop == crate::spec::Dpop::Unsupported {
            return Err(Error::DpopUnsupported { provider: self.id() });
        }
        self.dpop = on;
        Ok(())
    }

    /// Whether new grants use DPoP: the spec requires it, or [`Self::set_dpop`] asked for it.
    pub fn uses_dpop(&self) -> bool {
        self.dpop || self.spec.dpop == crate::spec::Dpop::Required
    }

    /// A new DPoP key for a grant, when grants use DPoP.
    pub(crate) fn grant_dpop_key(&self) -> Result<Option<crate::DpopKey>, Error> {
        if self.uses_dpop() { crate::DpopKey::generate().map(Some) } else { Ok(None) }
    }

    /// The DPoP nonces the provider's servers gave (shared with clones).
    pub(crate) fn dpop_nonces(&self) -> &crate::wire::dpop::Nonces {
        &self.nonces
    }

    /// The time limit of each request to the provider, connection included (default
    /// [`crate::REQUEST_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: std::time::Duration) {
        self.timeout = timeout;
    }

    /// The time limit of each request.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    /// How ID tokens are validated: clock leeway and JWKS refetch cooldown.
    pub fn set_oidc_options(&mut self, options: crate::oidc::OidcOptions) {
        self.oidc = options;
    }

    /// The ID token validation options.
    pub fn oidc_options(&self) -> crate::oidc::OidcOptions {
        self.oidc
    }

    /// Send every request for this provider (token, refresh, revocation, device,
    /// introspection, discovery, JWKS, service-account tokens) with `client`: proxies, root
    /// certificates, test doubles. The timeout ([`Self::set_timeout`]) and the response size
    /// limit still apply; redirects follow `client`'s policy, so build it from
    /// [`crate::http_client_builder`] (no redirects) unless you mean otherwise.
    pub fn set_http_client(&mut self, client: reqwest::Client) {
        self.http_client = Some(client);
    }

    /// The caller's HTTP client, when one was set.
    pub(crate) fn http_client(&self) -> Option<&reqwest::Client> {
        self.http_client.as_ref()
    }

    /// Set a templated variable. Values are checked when a URL is built from them.
    pub fn set_variable(&mut self, name: &str, value: String) {
        let spec: &'static ProviderSpec = self.spec;
        match spec.variable(name) {
            Some(v) => {
                self.variables.insert(&v.name, value);
            }
            None => {
                self.extra_variables.insert(name.to_owned(), value);
            }
        }
    }

    /// Replace an endpoint's URL (tests, proxies; the classic library's changeable
    /// `auth_uri` and `token_uri`). Overrides are used as given, without templating.
    pub fn set_endpoint(&mut self, endpoint: Endpoint, url: Url) {
        self.overrides.insert(endpoint, url);
    }

    /// Whether authorization requests are pushed (RFC 9126): the spec has
    /// `endpoints.pushed_authorization`, or a URL for it was set with [`Self::set_endpoint`]
    /// (a provider that offers PAR to some plans or clients only).
    pub fn pushes_authorization(&self) -> bool {
        self.spec.endpoints.pushed_authorization.is_some() || self.has_override(Endpoint::PushedAuthorization)
    }

    /// Whether `endpoint` has been overridden.
    pub fn has_override(&self, endpoint: Endpoint) -> bool {
        self.overrides.contains_key(&endpoint)
    }

    /// The value of variable `name`, checked against its pattern and values, and safe in a
    /// URL: it never ends a host or a path segment, holds user info or makes a dot segment.
    pub fn variable(&self, name: &str) -> Result<&str, Error> {
        self.checked_variable(name, true)
    }

    /// The value of `name` checked against the spec (`pattern`, `values`) and, when it goes
    /// into a URL, against what would let it leave its place there. Values that fill a
    /// parameter or a header (an Auth0 `audience` URL, a Reddit `User-Agent`) are encoded
    /// where they go and may hold `/`, `?` or `@`.
    fn checked_variable(&self, name: &str, in_url: bool) -> Result<&str, Error> {
        let provider = self.id();
        let spec: &'static ProviderSpec = self.spec;
        let Some(var) = spec.variable(name) else {
            return Err(Error::InvalidVariable {
                provider,
                name: name.to_owned(),
                value: String::new(),
                reason: "the spec declares no such variable".into(),
            });
        };
        let value = match (self.variables.get(&*var.name), var.default.as_deref()) {
            (Some(v), _) => v.as_str(),
            (None, Some(d)) => d,
            (None, None) => {
                return Err(Error::MissingVariable { provider, name: &var.name });
            }
        };
        let invalid = |reason: String| Error::InvalidVariable {
            provider,
            name: var.name.to_string(),
            value: value.to_owned(),
            reason,
        };
        // A path prefix (`/gitlab`) is checked segment by segment: each as any other value,
        // whatever the pattern says.
        if var.path {
            if let Some(why) = oauthgen_spec::path_prefix_problem(value) {
                return Err(invalid(why.to_owned()));
            }
            let mut segments = value.split('/').skip(1);
            if let Some(why) = segments.find_map(forbidden_value_problem) {
                return Err(invalid(why.to_owned()));
            }
        }
        // An origin (`https://accounts.zoho.eu`) starts its templates: exactly an origin,
        // `https` unless on loopback.
        else if var.origin {
            if let Some(why) = origin_value_problem(value) {
                return Err(invalid(why.to_owned()));
            }
        }
        // Whatever the pattern says, a value never ends a host or a path segment, holds
        // user info or makes a dot segment, also percent-encoded.
        else if in_url && let Some(why) = forbidden_value_problem(value) {
            return Err(invalid(why.to_owned()));
        }
        if !var.values.is_empty() && !var.values.iter().any(|v| **v == *value) {
            let list: Vec<&str> = var.values.iter().map(|v| &**v).collect();
            return Err(invalid(format!("it must be one of {}", list.join(", "))));
        }
        match var.pattern.as_deref() {
            // The spec's pattern decides (a host with a port needs `:`); it must still be
            // non-empty.
            Some(pattern) => {
                let re =
                    regex_lite::Regex::new(pattern).map_err(|e| invalid(format!("invalid pattern in spec: {e}")))?;
                if (value.is_empty() && !var.path) || !re.is_match(value) {
                    return Err(invalid(format!("it must match `{pattern}`")));
                }
            }
            // A path prefix's or an origin's characters were checked above.
            None if var.path || var.origin => {}
            None => {
                if let Some(why) = default_value_problem(value) {
                    return Err(invalid(why.to_owned()));
                }
            }
        }
        Ok(value)
    }

    /// Variables set by name that the spec does not declare, an error on first use.
    pub(crate) fn check_unknown_variables(&self) -> Result<(), Error> {
        match self.extra_variables.keys().next() {
            Some(name) => Err(Error::InvalidVariable {
                provider: self.id(),
                name: name.clone(),
                value: String::new(),
                reason: "the spec declares no such variable".into(),
            }),
            None => Ok(()),
        }
    }

    /// Fill `{name}` placeholders in a parameter or header value: values are checked against
    /// the spec, not against URL structure (see [`ProviderConfig::render`] for URLs).
    pub fn render_value(&self, template: &str) -> Result<String, Error> {
        self.fill(template, false).map(|(out, _)| out)
    }

    /// The alternative of a fallback template that applies: the first whose variables all
    /// have a value (set, or a default), else the last. Other templates are their own.
    fn alternative<'t>(&self, template: &'t str) -> &'t str {
        let mut alternatives = template.split(oauthgen_spec::FALLBACK).peekable();
        while let Some(alternative) = alternatives.next() {
            if alternatives.peek().is_none() || self.has_values(alternative) {
                return alternative;
            }
        }
        template
    }

    /// Whether every variable of `template` has a value, set or by default.
    fn has_values(&self, template: &str) -> bool {
        pieces(template).all(|piece| match piece {
            Piece::Text(_) => true,
            Piece::Name(name) => {
                self.variables.contains_key(name) || self.spec.variable(name).is_some_and(|v| v.default.is_some())
            }
        })
    }

    /// `template` with each `{name}` replaced by the variable's checked value, and where each
    /// value landed in the result.
    fn fill<'t>(&self, template: &'t str, in_url: bool) -> Result<(String, Vec<Filled<'t>>), Error> {
        self.check_unknown_variables()?;
        let template = self.alternative(template);
        let mut out = String::with_capacity(template.len());
        let mut filled = Vec::new();
        for piece in pieces(template) {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Name(name) => {
                    let start = out.len();
                    out.push_str(self.checked_variable(name, in_url)?);
                    filled.push((start..out.len(), name));
                }
            }
        }
        Ok((out, filled))
    }

    /// Fill `{name}` placeholders in a URL `template`.
    pub fn render(&self, template: &str) -> Result<String, Error> {
        let (out, filled) = self.fill(template, true)?;
        // A value next to the template's own dots must not make a dot segment either.
        let mut start = 0;
        for segment in out.split(['/', '\\']) {
            let range = start..start + segment.len();
            start = range.end + 1;
            let Some((value, name)) = filled.iter().find(|(v, _)| v.start < range.end && range.start < v.end) else {
                continue;
            };
            if is_dot_segment(segment) {
                return Err(Error::InvalidVariable {
                    provider: self.id(),
                    name: (*name).to_owned(),
                    value: out[value.clone()].to_owned(),
                    reason: format!("it makes the dot segment `{segment}` in `{template}`"),
                });
            }
        }
        Ok(out)
    }

    fn template(&self, endpoint: Endpoint) -> Option<&'static str> {
        let e = &self.spec.endpoints;
        match endpoint {
            Endpoint::Refresh => e.get(Endpoint::Refresh).or(Some(&e.token)),
            other => e.get(other),
        }
    }

    /// The URL of `endpoint`: its override, or the spec's template filled in.
    pub fn endpoint(&self, endpoint: Endpoint) -> Result<Url, Error> {
        let what = || format!("the `{}` {endpoint} endpoint", self.spec.id);
        if let Some(url) = self.overrides.get(&endpoint) {
            crate::wire::http::require_tls(&what(), url)?;
            return Ok(url.clone());
        }
        // Overriding the token endpoint moves refreshes too, unless the spec has its own.
        if endpoint == Endpoint::Refresh
            && self.spec.endpoints.refresh.is_none()
            && let Some(url) = self.overrides.get(&Endpoint::Token)
        {
            crate::wire::http::require_tls(&what(), url)?;
            return Ok(url.clone());
        }
        let template = self.template(endpoint).ok_or(Error::NoEndpoint { provider: self.id(), endpoint })?;
        self.parse_url(&self.render(template)?, &endpoint.to_string())
    }

    /// Parse a rendered URL; it must be `https` unless its host is loopback.
    pub(crate) fn parse_url(&self, url: &str, what: &str) -> Result<Url, Error> {
        let what = format!("`{}` {what}", self.spec.id);
        let parsed = Url::parse(url).map_err(|source| Error::InvalidUrl { what: what.clone(), source })?;
        crate::wire::http::require_tls(&what, &parsed)?;
        Ok(parsed)
    }

    /// This configuration with the values that one sign-in's callback gave its
    /// `from_callback` variables (Zoho's `accounts-server`), as kept in `credentials`: what
    /// the refreshes and revocation of those credentials use.
    pub(crate) fn for_credentials(&self, credentials: &crate::Credentials) -> std::borrow::Cow<'_, Self> {
        self.with_values(|param| credentials.extra.get(param).and_then(serde_json::Value::as_str))
    }

    /// This configuration with the `from_callback` variables that `value` names set.
    pub(crate) fn with_values<'v>(&self, value: impl Fn(&str) -> Option<&'v str>) -> std::borrow::Cow<'_, Self> {
        let spec: &'static ProviderSpec = self.spec;
        let mut taken =
            spec.variables.iter().filter_map(|v| Some((&*v.name, value(v.from_callback.as_deref()?)?))).peekable();
        if taken.peek().is_none() {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut config = self.clone();
        for (name, value) in taken {
            config.variables.insert(name, value.to_owned());
        }
        std::borrow::Cow::Owned(config)
    }

    /// The API's base URL for `credentials` (the spec's `api.base_url`): `{name}`
    /// placeholders are filled from the credentials' token-response fields
    /// (`token_response.fields`) and the provider's variables. It must be `https` unless its
    /// host is loopback.
    ///
    /// # Errors
    ///
    /// [`Error::MissingField`] when the spec has no `api.base_url` or the credentials lack a
    /// field it needs; [`Error::InsecureUrl`], [`Error::InvalidUrl`] or
    /// [`Error::InvalidVariable`] when the URL it makes is not allowed.
    pub fn api_base_url(&self, credentials: &crate::Credentials) -> Result<Url, Error> {
        let provider = self.id();
        let template = self.spec.api.base_url.as_deref().ok_or_else(|| Error::MissingField {
            provider,
            field: "api.base_url".into(),
            reason: "the spec describes no API base URL".into(),
        })?;
        let fields = &self.spec.token_response.fields;
        let scoped = self.for_credentials(credentials);
        let mut out = String::with_capacity(template.len() + 32);
        for piece in pieces(template) {
            let name = match piece {
                Piece::Text(text) => {
                    out.push_str(text);
                    continue;
                }
                Piece::Name(name) => name,
            };
            match fields.iter().find(|f| f.name == name) {
                Some(field) => {
                    let missing = |reason: &str| Error::MissingField {
                        provider,
                        field: name.to_owned(),
                        reason: reason.to_owned(),
                    };
                    let value = match field.kind {
                        // A URL field starts the template (the spec check makes sure): its
                        // origin and path, with the template's path after it.
                        crate::spec::FieldType::Url => credentials
                            .field_url(name)
                            .ok_or_else(|| missing("the credentials have no such https URL"))?
                            .as_str()
                            .trim_end_matches('/')
                            .to_owned(),
                        crate::spec::FieldType::Integer => credentials
                            .field_i64(name)
                            .ok_or_else(|| missing("the credentials have no such integer"))?
                            .to_string(),
                        crate::spec::FieldType::String | crate::spec::FieldType::Boolean => {
                            let value = match field.kind {
                                crate::spec::FieldType::Boolean => credentials.field_bool(name).map(|b| b.to_string()),
                                _ => credentials.field_str(name).map(str::to_owned),
                            }
                            .ok_or_else(|| missing("the credentials have no such field"))?;
                            if let Some(why) = default_value_problem(&value) {
                                return Err(Error::InvalidVariable {
                                    provider,
                                    name: name.to_owned(),
                                    value,
                                    reason: why.to_owned(),
                                });
                            }
                            value
                        }
                    };
                    out.push_str(&value);
                }
                None => out.push_str(scoped.checked_variable(name, true)?),
            }
        }
        self.parse_url(&out, "API base URL")
    }

    /// The spec's `api.headers`, rendered: what the authorized client sends on every API call
    /// besides the bearer token. `{client_id}` is the client's id, every other placeholder a
    /// variable.
    ///
    /// # Errors
    ///
    /// When a variable has no value or one that cannot be a header value.
    pub fn api_headers(&self) -> Result<http::HeaderMap, Error> {
        self.render_headers(&self.spec.api.headers, true)
    }

    /// `headers` with their values rendered (a value that cannot be a header value is the
    /// variable's fault: the spec's text is checked). For API calls (`api`), `{client_id}`
    /// is the client's id and the values are marked sensitive.
    pub(crate) fn render_headers(&self, headers: &[crate::spec::Param], api: bool) -> Result<http::HeaderMap, Error> {
        let mut out = http::HeaderMap::new();
        for (name, template) in headers {
            let value = if api {
                let parts = template.split("{client_id}").map(|part| self.render_value(part));
                parts.collect::<Result<Vec<_>, _>>()?.join(self.client_id.as_str())
            } else {
                self.render_value(template)?
            };
            let bad = |reason: String| {
                let variable = template.split_once('{').and_then(|(_, r)| r.split_once('}')).map_or("", |(v, _)| v);
                Error::InvalidVariable { provider: self.id(), name: variable.to_owned(), value: value.clone(), reason }
            };
            let header =
                http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(format!("header `{name}`: {e}")))?;
            let mut header_value = http::HeaderValue::from_str(&value)
                .map_err(|_| bad(format!("it is not a valid `{name}` header value")))?;
            header_value.set_sensitive(api);
            out.insert(header, header_value);
        }
        Ok(out)
    }

    /// The issuer, rendered, when the spec names one; it must be an `https` URL unless its
    /// host is loopback.
    pub fn issuer(&self) -> Result<Option<String>, Error> {
        let Some(template) = self.spec.oidc_issuer.as_deref() else { return Ok(None) };
        let issuer = self.render(template)?;
        self.parse_url(&issuer, "issuer")?;
        Ok(Some(issuer))
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::spec::{FieldType, TokenField};

    fn field(name: &'static str, kind: FieldType) -> TokenField {
        TokenField { name: Cow::Borrowed(name), kind, required: false, pattern: None, example: None }
    }

    fn config(base_url: &'static str) -> ProviderConfig {
        let mut spec = ProviderSpec::new("acme", "Acme", "https://acme.example/token");
        spec.token_response.fields = vec![
            field("instance_url", FieldType::Url),
            field("account", FieldType::String),
            field("n", FieldType::Integer),
        ]
        .into();
        spec.api.base_url = Some(Cow::Borrowed(base_url));
        ProviderConfig::new(spec.leak(), "id".into(), None)
    }

    fn credentials(fields: &serde_json::Value) -> crate::Credentials {
        serde_json::from_value(serde_json::json!({
            "access_token": "at", "token_type": "Bearer", "scopes": [], "extra": fields
        }))
        .unwrap()
    }

    #[test]
    fn a_fallback_template_takes_its_first_alternative_with_values() {
        let mut spec =
            ProviderSpec::new("acme", "Acme", "https://api.{region}.acme.example/t || https://api.acme.example/t");
        spec.variables = vec![crate::spec::VariableSpec {
            name: Cow::Borrowed("region"),
            description: Cow::Borrowed("The region"),
            default: None,
            pattern: None,
            values: vec![Cow::Borrowed("eu"), Cow::Borrowed("au")].into(),
            path: false,
            origin: false,
            from_callback: None,
        }]
        .into();
        let spec = spec.leak();
        let mut config = ProviderConfig::new(spec, "id".into(), None);
        assert_eq!(config.endpoint(Endpoint::Token).unwrap().as_str(), "https://api.acme.example/t", "no region");
        config.set_variable("region", "eu".into());
        assert_eq!(config.endpoint(Endpoint::Token).unwrap().as_str(), "https://api.eu.acme.example/t");
        // A value that is set but refused is an error, not a reason to fall back.
        config.set_variable("region", "us".into());
        assert!(matches!(config.endpoint(Endpoint::Token), Err(Error::InvalidVariable { .. })));
        assert!(config.render_value("{region} || none").unwrap_err().to_string().contains("region"));
    }

    #[test]
    fn the_api_base_url_is_built_from_token_response_fields() {
        let config = config("{instance_url}/services/{account}/v{n}");
        let c =
            credentials(&serde_json::json!({ "instance_url": "https://na1.example/", "account": "acct_1", "n": 3 }));
        assert_eq!(config.api_base_url(&c).unwrap().as_str(), "https://na1.example/services/acct_1/v3");
        // A field the credentials lack, or a URL that is not https off loopback: no URL.
        let missing = config.api_base_url(&credentials(&serde_json::json!({ "account": "a", "n": 1 })));
        assert!(
            matches!(missing, Err(Error::MissingField { ref field, .. }) if field == "instance_url"),
            "{missing:?}"
        );
        let plain = credentials(&serde_json::json!({ "instance_url": "http://na1.example", "account": "a", "n": 1 }));
        assert!(matches!(config.api_base_url(&plain), Err(Error::MissingField { .. })));
        // A string field never leaves its path segment.
        for bad in ["..", "a/b", "a?b", "a%2Fb", ""] {
            let c = credentials(&serde_json::json!({ "instance_url": "https://na1.example", "account": bad, "n": 1 }));
            assert!(matches!(config.api_base_url(&c), Err(Error::InvalidVariable { .. })), "{bad:?}");
        }
        // A spec without a base URL says so.
        let none = ProviderConfig::new(ProviderSpec::new("x", "X", "https://x.example/t").leak(), "id".into(), None);
        assert!(matches!(none.api_base_url(&c), Err(Error::MissingField { ref field, .. }) if field == "api.base_url"));
    }
}
