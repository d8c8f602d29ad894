//! The HTTP bridge between `oauth2` and `reqwest`: one shared client, a timeout and a size
//! limit on every request, request shaping and response clean-up from the spec.

use std::sync::OnceLock;
use std::time::Duration;

use oauth2::{HttpRequest, HttpResponse, http};
use serde_json::{Map, Value};

use crate::config::ProviderConfig;
use crate::error::{Endpoint, Error};
use crate::spec::{BodyFormat, ClientAuth, ProviderSpec};
use crate::wire::normalize::normalize;
use crate::wire::oauth_error::{issues_tokens, parse_oauth_error};

/// The largest response body read from a provider.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// The time limit of one request, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request did not produce a usable response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    #[error("{0}")]
    Http(String),
    /// Failed once the request may have reached the server (a timeout or a reset while
    /// waiting for the answer): its effect is unknown.
    #[error("{0}")]
    AfterSend(String),
    #[error("{reason}")]
    Malformed { status: u16, reason: String },
    #[error("HTTP {status}")]
    Unavailable { status: u16, retry_after: Option<Duration> },
    /// Refused before sending (a plain-http URL to a host that is not loopback), or by the
    /// provider (an OAuth error, or a refusal without one).
    #[error("{0}")]
    Refused(Error),
}

impl TransportError {
    pub(crate) fn into_error(self, endpoint: Endpoint) -> Error {
        match self {
            Self::Http(reason) => Error::Http { endpoint, reason, maybe_sent: false },
            Self::AfterSend(reason) => Error::Http { endpoint, reason, maybe_sent: true },
            Self::Malformed { status, reason } => Error::MalformedResponse { status, reason },
            Self::Unavailable { status, retry_after } => Error::Unavailable { endpoint, status, retry_after },
            Self::Refused(error) => error,
        }
    }
}

/// A `reqwest` client builder with the runtime's policy: [`REQUEST_TIMEOUT`], a 10 s
/// connection timeout, no redirects (following one could send credentials elsewhere) and
/// oauthgen's user agent. Start from it to add a proxy or root certificates, then pass the
/// client to [`crate::Provider::with_http_client`].
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("oauthgen/", env!("CARGO_PKG_VERSION")))
}

/// The client for `config`'s provider: the caller's (see
/// [`ProviderConfig::set_http_client`]), else one shared client built by
/// [`http_client_builder`].
fn client(config: &ProviderConfig) -> Result<&reqwest::Client, TransportError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    if let Some(client) = config.http_client() {
        return Ok(client);
    }
    CLIENT
        .get_or_init(|| http_client_builder().build().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| TransportError::Http(format!("cannot build the HTTP client: {e}")))
}

/// Whether `url` is a loopback one: `127.0.0.0/8`, `::1` or `localhost`.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// [`require_tls`] for a URL read from a file (a key file's `token_uri`): why not, in words.
pub(crate) fn require_tls_str(what: &str, url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{what} is not a URL: {e}"))?;
    require_tls(what, &parsed).map_err(|e| e.to_string())
}

/// Refuse `url` unless it is `https`, or plain `http` to a loopback host: what every URL
/// the runtime sends to (or sends a user to) must be. The error shows no user info, query
/// or fragment.
pub(crate) fn require_tls(what: &str, url: &url::Url) -> Result<(), Error> {
    let secure = match url.scheme() {
        "https" => url.host().is_some(),
        "http" => is_loopback(url),
        _ => false,
    };
    if secure {
        return Ok(());
    }
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    Err(Error::InsecureUrl { what: what.to_owned(), url: shown.to_string() })
}

/// The spec's `request_headers`, rendered: sent on every request to the provider.
fn spec_headers(config: &ProviderConfig) -> Result<http::HeaderMap, Error> {
    config.render_headers(&config.spec().request_headers, false)
}

/// Parameters as `endpoint`'s requests name them (`param_names`, `endpoint_param_names`:
/// TikTok's `client_key`), without those the provider takes none of.
pub(crate) fn rename_pairs<'a>(
    config: &'a ProviderConfig,
    endpoint: Endpoint,
    pairs: &'a [(String, String)],
) -> impl Iterator<Item = (&'a str, &'a str)> {
    pairs.iter().filter_map(move |(k, v)| Some((config.spec().param_name(endpoint, k)?, v.as_str())))
}

/// A form body with the spec's renamed parameters.
fn rename_params(config: &ProviderConfig, endpoint: Endpoint, body: &[u8]) -> Result<Vec<u8>, TransportError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| TransportError::Http(format!("cannot re-encode request: {e}")))?;
    let pairs: Vec<(&str, &str)> = rename_pairs(config, endpoint, &pairs).collect();
    serde_urlencoded::to_string(pairs).map(String::into_bytes).map_err(|e| TransportError::Http(e.to_string()))
}

/// Turn a form body into a JSON object, for providers that want JSON token requests.
fn form_to_json(body: &[u8]) -> Result<Vec<u8>, TransportError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| TransportError::Http(format!("cannot re-encode request: {e}")))?;
    let map: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    serde_json::to_vec(&map).map_err(|e| TransportError::Http(e.to_string()))
}

/// The HTTP client handed to `oauth2`: a named type rather than a closure, so that the
/// futures it returns are `Send` for every lifetime (closures returning borrowing futures are
/// not, which would make every flow's future `!Send` for tower and axum).
///
/// It owns a copy of the configuration for the same reason: a borrowed one makes the
/// higher-ranked `AsyncHttpClient<'c>` bound unprovable inside `Send` futures.
pub(crate) struct Transport {
    pub(crate) config: ProviderConfig,
    pub(crate) endpoint: Endpoint,
    /// The DPoP key whose proofs go with the requests, when the grant uses DPoP.
    pub(crate) dpop: Option<crate::DpopKey>,
}

impl<'c> oauth2::AsyncHttpClient<'c> for Transport {
    type Error = TransportError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            // `oauth2` authenticates with a secret only; an assertion is added here.
            let request = with_client_assertion(&self.config, self.endpoint, request)?;
            send_with(&self.config, self.endpoint, request, self.dpop.as_ref()).await
        })
    }
}

/// `request` (a form) with a client assertion when the client authenticates with one at
/// `endpoint` (`private_key_jwt`, `client_secret_jwt`).
fn with_client_assertion(
    config: &ProviderConfig,
    endpoint: Endpoint,
    request: HttpRequest,
) -> Result<HttpRequest, TransportError> {
    let called = url::Url::parse(&request.uri().to_string()).ok();
    let Some(assertion) = client_assertion(config, endpoint, called.as_ref()).map_err(TransportError::Refused)? else {
        return Ok(request);
    };
    let (parts, body) = request.into_parts();
    let mut body = body;
    let pairs = [("client_assertion_type", crate::ASSERTION_TYPE), ("client_assertion", assertion.as_str())];
    let extra = serde_urlencoded::to_string(pairs).map_err(|e| TransportError::Http(e.to_string()))?;
    if !body.is_empty() {
        body.push(b'&');
    }
    body.extend_from_slice(extra.as_bytes());
    Ok(HttpRequest::from_parts(parts, body))
}

/// A fresh client assertion for a request to `endpoint` at `called`, when the client
/// authenticates with one there; `aud` as the spec says (the token endpoint by default).
pub(crate) fn client_assertion(
    config: &ProviderConfig,
    endpoint: Endpoint,
    called: Option<&url::Url>,
) -> Result<Option<String>, Error> {
    let method = config.client_auth_at(endpoint);
    if config.is_public() || !method.is_assertion() {
        return Ok(None);
    }
    let audience = config.assertion_audience(&config.spec().client_assertion_audience, called)?;
    let now = chrono::Utc::now().timestamp();
    let id = config.client_id().as_str();
    match method {
        ClientAuth::PrivateKeyJwt => match (config.client_key(), config.client_assertion_file()) {
            (Some(key), _) => {
                let spec = config.spec();
                key.assertion_as(id, &audience, now, spec.client_assertion_algorithm, spec.client_assertion_thumbprint)
                    .map(Some)
            }
            (None, Some(path)) => assertion_from_file(path).map(Some),
            (None, None) => Err(Error::Signing(format!(
                "`{}` authenticates with `private_key_jwt`, and no client key was given (`with_client_key`)",
                config.id()
            ))),
        },
        _ => {
            let secret = config.client_secret().ok_or_else(|| {
                Error::Signing(format!(
                    "`{}` authenticates with `client_secret_jwt`, and no client secret was given",
                    config.id()
                ))
            })?;
            crate::secret_assertion(id, secret.secret(), &audience, now).map(Some)
        }
    }
}

/// The client assertion another issuer wrote to `path` (workload identity federation), read
/// now: the platform may have rotated it since the last request.
fn assertion_from_file(path: &std::path::Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Signing(format!("cannot read the client assertion file {}: {e}", path.display())))?;
    let assertion = text.trim();
    if assertion.is_empty() || assertion.split('.').count() != 3 {
        return Err(Error::Signing(format!("the client assertion file {} does not hold a JWT", path.display())));
    }
    Ok(assertion.to_owned())
}

/// Send one request for `config`'s provider. A refusal at any endpoint (an OAuth error, also
/// inside HTTP 200 when the spec says so, or a 4xx without one) becomes
/// [`TransportError::Refused`]; successes of the endpoints that issue tokens (token, refresh)
/// are cleaned up according to the spec before `oauth2` parses them.
///
/// With a DPoP proof of `dpop` (RFC 9449) when given: a server that answers
/// `use_dpop_nonce` with a nonce other than the one the proof carried gets the request once
/// more, with that nonce (and a fresh client assertion: one is never sent twice).
pub(crate) async fn send_with(
    config: &ProviderConfig,
    endpoint: Endpoint,
    request: HttpRequest,
    dpop: Option<&crate::DpopKey>,
) -> Result<HttpResponse, TransportError> {
    let spec = config.spec();
    let (parts, form) = request.into_parts();
    let mut headers = parts.headers;
    // `body_format: json` shapes every body sent to the provider (Notion's revocation and
    // introspection take JSON as its token endpoint does), except a pushed authorization
    // request, which RFC 9126 makes a form.
    let json = spec.token_request.body_format == BodyFormat::Json && endpoint != Endpoint::PushedAuthorization;
    if json && !form.is_empty() {
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    }
    let shape = |form: &[u8]| -> Result<Vec<u8>, TransportError> {
        let mut body = form.to_vec();
        if spec.renames_params() && !body.is_empty() {
            body = rename_params(config, endpoint, &body)?;
        }
        if json && !body.is_empty() {
            body = form_to_json(&body)?;
        }
        Ok(body)
    };
    // The spec's headers, without replacing what the flow set (client authentication, body).
    for (name, value) in &spec_headers(config).map_err(TransportError::Refused)? {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    let url = url::Url::parse(&parts.uri.to_string()).map_err(|e| TransportError::Http(e.to_string()))?;
    require_tls(&format!("the {endpoint} endpoint"), &url).map_err(TransportError::Refused)?;
    let nonces = config.dpop_nonces();
    let mut body = shape(&form)?;
    let mut retried = false;
    loop {
        let mut sent_nonce = None;
        if let Some(key) = dpop {
            sent_nonce = nonces.get(&url);
            let proof = key.proof(parts.method.as_str(), &url, None, sent_nonce.as_deref());
            let proof = proof.map_err(TransportError::Refused)?;
            let value = http::HeaderValue::from_str(&proof).map_err(|e| TransportError::Http(e.to_string()))?;
            headers.insert(crate::wire::dpop::DPOP, value);
        }
        let response = client(config)?
            .request(parts.method.clone(), url.clone())
            .headers(headers.clone())
            .body(body.clone())
            .timeout(config.timeout())
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() { TransportError::Http(describe(e)) } else { TransportError::AfterSend(describe(e)) }
            })?;
        let status = response.status();
        // A nonce to retry with: valid, and not the one this proof already carried (another
        // request may have stored it meanwhile: it still needs its own retry).
        let offered = dpop.and_then(|_| nonces.remember(&url, response.headers()));
        let new_nonce = offered.is_some() && offered != sent_nonce;
        let content_type =
            response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
            // Transient: the caller may retry, after `Retry-After` when the server says so.
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(TransportError::Unavailable { status: status.as_u16(), retry_after });
        }
        let bytes = read_limited(response).await?;
        match read_answer(spec, endpoint, status, content_type.as_deref(), bytes) {
            // RFC 9449 section 8: the server wants its nonce in the proof; once.
            Err(TransportError::Refused(Error::OAuth { error, .. }))
                if error == "use_dpop_nonce" && new_nonce && !retried =>
            {
                retried = true;
                body = shape(&fresh_assertion(config, endpoint, &url, &form)?)?;
            }
            answer => return answer,
        }
    }
}

/// `form` with its client assertion, if it has one, replaced by a fresh one (RFC 7523
/// section 3: a `jti` is used once).
fn fresh_assertion(
    config: &ProviderConfig,
    endpoint: Endpoint,
    url: &url::Url,
    form: &[u8],
) -> Result<Vec<u8>, TransportError> {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(form).into_owned().collect();
    let Some(at) = pairs.iter().position(|(name, _)| name == "client_assertion") else { return Ok(form.to_vec()) };
    let Some(fresh) = client_assertion(config, endpoint, Some(url)).map_err(TransportError::Refused)? else {
        return Ok(form.to_vec());
    };
    pairs[at].1 = fresh;
    Ok(url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes())
}

/// What a response read from `endpoint` means: a refusal at any endpoint as
/// [`TransportError::Refused`], a success of the endpoints that issue tokens cleaned up
/// according to the spec (as JSON, with the status `oauth2` expects), any other success as
/// it came.
pub(crate) fn read_answer(
    spec: &ProviderSpec,
    endpoint: Endpoint,
    status: http::StatusCode,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> Result<HttpResponse, TransportError> {
    // Every endpoint's refusals, as one typed error: callers only ever see successes.
    if let Some(e) = parse_oauth_error(&spec.token_response, endpoint, status.as_u16(), content_type, &bytes) {
        return Err(TransportError::Refused(e));
    }
    let mut builder = http::Response::builder().status(status);
    if issues_tokens(endpoint) {
        let n = normalize(&spec.token_response, &spec.scope_separator, status.as_u16(), content_type, &bytes)
            .map_err(|m| TransportError::Malformed { status: status.as_u16(), reason: m.0 })?;
        let json = serde_json::to_vec(&n.body).map_err(|e| TransportError::Http(e.to_string()))?;
        // A success (refusals were answered above), with the status `oauth2` expects of one.
        builder = builder.status(http::StatusCode::OK).header(http::header::CONTENT_TYPE, "application/json");
        return builder.body(json).map_err(|e| TransportError::Http(e.to_string()));
    }
    if let Some(ct) = content_type {
        builder = builder.header(http::header::CONTENT_TYPE, ct);
    }
    builder.body(bytes).map_err(|e| TransportError::Http(e.to_string()))
}

/// GET `url` (discovery, JWKS) with `config`'s client, timeout and the size limit: the
/// body of a 2xx answer and its `Cache-Control`, or why not.
pub(crate) async fn get(config: &ProviderConfig, url: &url::Url) -> Result<(Vec<u8>, Option<String>), String> {
    get_with(config, url, None).await
}

/// How a GET presents an access token (the userinfo endpoint).
#[derive(Clone, Copy)]
pub(crate) enum Presented<'a> {
    /// `Authorization: Bearer`.
    Bearer(&'a str),
    /// `Authorization: DPoP` with a proof by the key the token is bound to (RFC 9449
    /// section 7), with `ath` and the server's nonce.
    Dpop(&'a str, &'a crate::DpopKey),
}

/// [`get`] with an access token. A DPoP-bound token's request is sent once more when the
/// server answers `401` asking for a nonce other than the one the proof carried.
pub(crate) async fn get_with(
    config: &ProviderConfig,
    url: &url::Url,
    token: Option<Presented<'_>>,
) -> Result<(Vec<u8>, Option<String>), String> {
    require_tls("a discovery, JWKS or userinfo request", url).map_err(|e| e.to_string())?;
    let client = client(config).map_err(|e| e.to_string())?;
    let headers = spec_headers(config).map_err(|e| e.to_string())?;
    let nonces = config.dpop_nonces();
    let mut retried = false;
    let response = loop {
        let mut request = client
            .get(url.as_str())
            .headers(headers.clone())
            .header(http::header::ACCEPT, "application/json")
            .timeout(config.timeout());
        let mut sent_nonce = None;
        match token {
            None => {}
            Some(Presented::Bearer(token)) => request = request.bearer_auth(token),
            Some(Presented::Dpop(token, key)) => {
                sent_nonce = nonces.get(url);
                let proof = key.proof("GET", url, Some(token), sent_nonce.as_deref()).map_err(|e| e.to_string())?;
                let authorization = crate::wire::dpop::credential("DPoP", token).map_err(|e| e.to_string())?;
                request =
                    request.header(http::header::AUTHORIZATION, authorization).header(crate::wire::dpop::DPOP, proof);
            }
        }
        let response = request.send().await.map_err(describe)?;
        if let Some(Presented::Dpop(..)) = token {
            let offered = nonces.remember(url, response.headers());
            if crate::wire::dpop::refused_for_nonce(&response) && offered.is_some() && offered != sent_nonce && !retried
            {
                retried = true;
                continue;
            }
        }
        break response;
    };
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {} from {url}", status.as_u16()));
    }
    let cache_control =
        response.headers().get(http::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = read_limited(response).await.map_err(|e| e.to_string())?;
    Ok((body, cache_control))
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, TransportError> {
    if response.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
        return Err(TransportError::Http(format!("response larger than {MAX_RESPONSE_BYTES} bytes")));
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| TransportError::AfterSend(describe(e)))? {
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(TransportError::Http(format!("response larger than {MAX_RESPONSE_BYTES} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A reqwest error with its causes, without the URL (whose query may hold a code).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        text.push_str(" (timed out)");
    }
    text
}
