//! A provider emulator driven by a spec: an HTTP server on 127.0.0.1 that serves the
//! endpoints a [`ProviderSpec`] declares, insists on everything the spec says about requests
//! (client authentication, PKCE, body format, extra parameters, scope separator, refresh
//! rules) and answers in exactly the shapes the spec declares (form or JSON bodies,
//! `expires_in` as a string, in milliseconds or absent, a wrapper object, errors inside
//! HTTP 200 ...).
//!
//! A request that breaks the spec is answered with an OAuth error (400, or 401 for client
//! authentication; HTTP 200 when the spec says `error_in_200`) and recorded as a violation
//! ([`Emulator::violations`]); every request is logged ([`Emulator::requests`]) and every
//! token issued is kept ([`Emulator::issued`]), so tests assert on what was really sent and
//! received.
//!
//! ```no_run
//! # async fn f() {
//! use oauthgen_providers::github::Github;
//! use oauthgen_tests::emulator::{Client, Emulator};
//!
//! let emulator = Emulator::start(Github::SPEC);
//! assert!(emulator.violations().is_empty());
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use oauthgen_runtime::Endpoint;
use oauthgen_runtime::spec::{
    Audience, BodyFormat, ClientAuth, Dpop, ExpiresIn, FieldType, IdTokenAlgorithm, Pkce, ProviderSpec,
    REMOVABLE_PARAMS, RENAMABLE_PARAMS, ResponseFormat, Str, Subject, TimeUnit,
};
use serde_json::{Map, Value, json};

/// The lifetime, in seconds, of every access token the emulator issues.
pub const ACCESS_TOKEN_LIFETIME: u64 = 3600;
/// The lifetime, in seconds, stated for refresh tokens (in the spec's
/// `refresh_token_expires_in` field, when it names one).
pub const REFRESH_TOKEN_LIFETIME: u64 = 7200;
/// The `sub` the userinfo and introspection endpoints answer with.
pub const SUBJECT: &str = "emulator-user";
/// The grant type of JWT bearer assertions (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The grant type of device-code token requests (RFC 8628).
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The token exchange grant type (RFC 8693).
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693's type of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The client the emulator expects: its id, its secret (`None`: a public client) and how it
/// authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client id.
    pub id: String,
    /// The client secret; `None` for a public client.
    pub secret: Option<String>,
    /// The authentication method the client is configured for (ignored for public clients,
    /// which send `client_id` in the body and nothing else).
    pub auth: ClientAuth,
    /// The issuer the authorization endpoint names in its redirects (RFC 9207 `iss`) and
    /// ID tokens carry; with one, the emulator signs ID tokens for `openid` requests and
    /// serves the discovery document and JWKS over https (see [`Emulator::https_client`]).
    pub issuer: Option<String>,
    /// The JWKS URL the spec names (rendered); `None`: `{issuer}/emulator-jwks`, announced by
    /// the discovery document.
    pub jwks_uri: Option<String>,
    /// The public JWK of the client's key, for `private_key_jwt`.
    pub key: Option<Value>,
}

impl Client {
    /// A confidential client authenticating with `auth`.
    pub fn confidential(id: &str, secret: &str, auth: ClientAuth) -> Self {
        Self { id: id.to_owned(), secret: Some(secret.to_owned()), auth, issuer: None, jwks_uri: None, key: None }
    }

    /// The same client, registered with the public half of its key (`private_key_jwt`).
    #[must_use]
    pub fn with_key(mut self, public_jwk: Value) -> Self {
        self.key = Some(public_jwk);
        self
    }

    /// A public client (no secret).
    pub fn public(id: &str) -> Self {
        Self { id: id.to_owned(), secret: None, auth: ClientAuth::RequestBody, issuer: None, jwks_uri: None, key: None }
    }

    /// The same client, with the issuer named in authorization redirects.
    #[must_use]
    pub fn with_issuer(mut self, issuer: Option<String>) -> Self {
        self.issuer = issuer;
        self
    }

    /// The same client, with the JWKS URL the spec names.
    #[must_use]
    pub fn with_jwks_uri(mut self, jwks_uri: Option<String>) -> Self {
        self.jwks_uri = jwks_uri;
        self
    }
}

/// One request the emulator received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST` ...
    pub method: String,
    /// The path (`/token`).
    pub path: String,
    /// The endpoint the path belongs to; `None` for an unknown path.
    pub endpoint: Option<Endpoint>,
    /// The query parameters.
    pub query: BTreeMap<String, String>,
    /// The body's parameters (form fields, or a JSON object's fields as text).
    pub params: BTreeMap<String, String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// Every header, names in lowercase.
    pub headers: BTreeMap<String, String>,
    /// The violations found in this request (empty: it kept to the spec).
    pub violations: Vec<String>,
}

impl Request {
    /// A parameter of the body, else of the query.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).or_else(|| self.query.get(name)).map(String::as_str)
    }
}

/// What one token response carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The grant type of the request (`authorization_code`, `refresh_token` ...).
    pub grant_type: String,
    /// The access token.
    pub access_token: String,
    /// The refresh token, when the response carried one.
    pub refresh_token: Option<String>,
    /// The `scope` of the response, as sent (joined with the spec's separator).
    pub scope: Option<String>,
    /// The ID token, when the response carried one.
    pub id_token: Option<String>,
    /// The thumbprint of the DPoP key the tokens are bound to (`token_type: DPoP`).
    pub dpop_jkt: Option<String>,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    redirect_uri: String,
    challenge: Option<String>,
    scope: Option<String>,
    nonce: Option<String>,
    /// The `dpop_jkt` the authorization request bound the code to (RFC 9449 section 10).
    dpop_jkt: Option<String>,
    used: bool,
}

#[derive(Debug)]
struct Inner {
    spec: &'static ProviderSpec,
    client: Client,
    base: String,
    log: Vec<Request>,
    codes: HashMap<String, CodeGrant>,
    /// Refresh tokens: whether each may still be used.
    refresh_tokens: HashMap<String, bool>,
    /// Access tokens: whether each is still active.
    access_tokens: HashMap<String, bool>,
    /// Pushed authorization requests (RFC 9126) not yet used: `request_uri` -> parameters.
    pushed: HashMap<String, std::collections::BTreeMap<String, String>>,
    /// Device codes: how many polls each has had, and the scope asked for.
    device_codes: HashMap<String, (u32, Option<String>)>,
    /// Refresh tokens of grants that included `openid`.
    openid_refresh_tokens: std::collections::HashSet<String>,
    /// The `jti` of every client assertion accepted: a second use is a replay.
    assertion_ids: std::cell::RefCell<std::collections::HashSet<String>>,
    /// The `jti` of every DPoP proof accepted.
    dpop_ids: std::collections::HashSet<String>,
    /// The DPoP key of the token request being answered (RFC 9449), by thumbprint.
    dpop_jkt: Option<String>,
    /// Refresh tokens bound to a DPoP key: the key's thumbprint.
    dpop_refresh: HashMap<String, String>,
    issued: Vec<Issued>,
    refusals: Vec<String>,
    counter: u64,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running emulator of one provider; it stops when dropped.
#[derive(Debug)]
pub struct Emulator {
    inner: Shared,
    base: String,
    task: tokio::task::JoinHandle<()>,
    tls: Option<TlsProxy>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(tls) = &self.tls {
            tls.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The path each endpoint is served at.
pub fn path_of(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Authorization => "/authorize",
        Endpoint::Token => "/token",
        Endpoint::Revocation => "/revoke",
        Endpoint::DeviceAuthorization => "/device",
        Endpoint::Userinfo => "/userinfo",
        Endpoint::Introspection => "/introspect",
        Endpoint::Refresh => "/refresh",
        Endpoint::EndSession => "/logout",
        Endpoint::PushedAuthorization => "/par",
    }
}

impl Emulator {
    /// Start an emulator of `spec` expecting a confidential client `emulator-client` with
    /// secret `emulator-secret`, authenticating with the spec's preferred method. Must be
    /// called inside a tokio runtime.
    ///
    /// # Panics
    /// When no port can be bound on 127.0.0.1.
    pub fn start(spec: &'static ProviderSpec) -> Self {
        let auth = spec.client_auth.first().copied().unwrap_or(ClientAuth::Basic);
        Self::start_with(spec, Client::confidential("emulator-client", "emulator-secret", auth))
    }

    /// Start an emulator of `spec` expecting `client`. Must be called inside a tokio
    /// runtime.
    ///
    /// # Panics
    /// When no port can be bound on 127.0.0.1.
    pub fn start_with(spec: &'static ProviderSpec, client: Client) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let port = listener.local_addr().expect("local address").port();
        let base = format!("http://127.0.0.1:{port}");
        let inner = Arc::new(Mutex::new(Inner {
            spec,
            client,
            base: base.clone(),
            log: Vec::new(),
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            device_codes: HashMap::new(),
            pushed: HashMap::new(),
            assertion_ids: std::cell::RefCell::default(),
            dpop_ids: std::collections::HashSet::new(),
            dpop_jkt: None,
            dpop_refresh: HashMap::new(),
            openid_refresh_tokens: std::collections::HashSet::new(),
            issued: Vec::new(),
            refusals: Vec::new(),
            counter: 0,
        }));
        let tls = oidc_hosts(&lock(&inner).client).map(|hosts| TlsProxy::start(&hosts, inner.clone()));
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let router = axum::Router::new().fallback(handle).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { inner, base, task, tls }
    }

    /// An HTTP client for the provider under test (`Provider::with_http_client`) when the
    /// client has an issuer: https requests (the discovery document, the JWKS) go through the
    /// emulator's TLS proxy, which answers for the issuer's and the JWKS URL's hosts with a
    /// certificate of a test CA this client trusts; plain-http requests go straight to the
    /// emulator. `None` without an issuer.
    ///
    /// # Panics
    /// When the client cannot be built.
    pub fn https_client(&self) -> Option<oauthgen_runtime::reqwest::Client> {
        let tls = self.tls.as_ref()?;
        let proxy =
            oauthgen_runtime::reqwest::Proxy::https(format!("http://127.0.0.1:{}", tls.port)).expect("proxy URL");
        let ca = oauthgen_runtime::reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).expect("CA certificate");
        Some(
            oauthgen_runtime::http_client_builder().proxy(proxy).add_root_certificate(ca).build().expect("HTTP client"),
        )
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL the emulator serves `endpoint` at.
    ///
    /// # Panics
    /// Never: the base URL is valid.
    pub fn url(&self, endpoint: Endpoint) -> url::Url {
        url::Url::parse(&format!("{}{}", self.base, path_of(endpoint))).expect("emulator URL")
    }

    /// The spec emulated.
    pub fn spec(&self) -> &'static ProviderSpec {
        lock(&self.inner).spec
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.inner).log.clone()
    }

    /// The requests received at `endpoint`.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<Request> {
        lock(&self.inner).log.iter().filter(|r| r.endpoint == Some(endpoint)).cloned().collect()
    }

    /// Every violation of the spec found so far, each prefixed with the request's path.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.inner)
            .log
            .iter()
            .flat_map(|r| r.violations.iter().map(move |v| format!("{} {}: {v}", r.method, r.path)))
            .collect()
    }

    /// Every token response sent, in order.
    pub fn issued(&self) -> Vec<Issued> {
        lock(&self.inner).issued.clone()
    }

    /// The refusals the emulator answered that were no violation (a rotated refresh token
    /// used again, a pending device authorization ...), in order.
    pub fn refusals(&self) -> Vec<String> {
        lock(&self.inner).refusals.clone()
    }

    /// Issue an access token (and a refresh token) without any request, as if a grant had
    /// happened elsewhere: the token response's JSON, as the runtime stores it.
    pub fn mint(&self) -> Value {
        let mut inner = lock(&self.inner);
        let access = inner.next("at");
        let refresh = inner.next("rt");
        inner.access_tokens.insert(access.clone(), true);
        inner.refresh_tokens.insert(refresh.clone(), true);
        json!({"access_token": access, "token_type": "Bearer", "refresh_token": refresh, "scopes": []})
    }
}

/// A decoded request before the checks.
struct Incoming {
    request: Request,
    json_body: bool,
}

fn parse_incoming(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Incoming {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let content_type = text(header::CONTENT_TYPE);
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let mut params = BTreeMap::new();
    let mut violations = Vec::new();
    let json_body = content_type.as_deref().is_some_and(|c| c.starts_with("application/json"));
    if !body.is_empty() {
        if json_body {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(map)) => {
                    for (k, v) in map {
                        let v = match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        params.insert(k, v);
                    }
                }
                _ => violations.push("the body is not a JSON object".to_owned()),
            }
        } else {
            for (k, v) in url::form_urlencoded::parse(body) {
                if params.insert(k.to_string(), v.into_owned()).is_some() {
                    violations.push(format!("parameter `{k}` appears twice"));
                }
            }
        }
    }
    let path = uri.path().to_owned();
    let endpoint = Endpoint::ALL.iter().copied().find(|e| path_of(*e) == path);
    Incoming {
        request: Request {
            method: method.as_str().to_owned(),
            path,
            endpoint,
            query,
            params,
            content_type,
            authorization: text(header::AUTHORIZATION),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            violations,
        },
        json_body,
    }
}

async fn handle(State(shared): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let incoming = parse_incoming(&method, &uri, &headers, &body);
    let mut inner = lock(&shared);
    let mut request = incoming.request;
    let response = inner.dispatch(&mut request, incoming.json_body);
    inner.log.push(request);
    response
}

/// A DPoP proof (RFC 9449 section 4.3) for a `method` request to `htu`: `typ` `dpop+jwt`,
/// ES256 by the P-256 key in its header (public only), `htm`, `htu`, `iat` within a minute,
/// a `jti`. The key's RFC 7638 thumbprint and the `jti`, or why not.
fn verify_dpop(proof: &str, method: &str, htu: &str) -> Result<(String, String), String> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = proof.split('.');
    let (Some(h), Some(c), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("not a JWS".into());
    };
    let json = |part: &str| -> Result<Value, String> {
        serde_json::from_slice(&b64.decode(part).map_err(|_| "not base64url")?).map_err(|e| e.to_string())
    };
    let (header, claims) = (json(h)?, json(c)?);
    if header["typ"] != "dpop+jwt" || header["alg"] != "ES256" {
        return Err(format!("typ {} alg {}", header["typ"], header["alg"]));
    }
    let jwk = &header["jwk"];
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" || jwk.get("d").is_some() {
        return Err("the header's jwk is not a public P-256 key".into());
    }
    let coordinate = |name: &str| b64.decode(jwk[name].as_str().unwrap_or_default()).map_err(|_| format!("jwk {name}"));
    let (x, y) = (coordinate("x")?, coordinate("y")?);
    let point = [&[4u8][..], &x, &y].concat();
    let signature = b64.decode(sig).map_err(|_| "the signature is not base64url")?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(format!("{h}.{c}").as_bytes(), &signature)
        .map_err(|_| "the signature does not verify with the header's key")?;
    if claims["htm"] != method || claims["htu"] != htu {
        return Err(format!("htm {} htu {}, expected {method} {htu}", claims["htm"], claims["htu"]));
    }
    let iat = claims["iat"].as_i64().ok_or("no iat")?;
    if (iat - chrono::Utc::now().timestamp()).abs() > 60 {
        return Err(format!("iat {iat} is not now"));
    }
    if claims.get("ath").is_some() {
        return Err("an ath on a token request".into());
    }
    let jti = claims["jti"].as_str().filter(|j| !j.is_empty()).ok_or("no jti")?.to_owned();
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap_or_default(),
        jwk["y"].as_str().unwrap_or_default()
    );
    Ok((b64.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes())), jti))
}

/// The S256 PKCE challenge of `verifier`.
fn s256(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// `Basic` credentials: each part form-decoded after base64 (RFC 6749 section 2.3.1).
fn decode_basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
}

/// A refusal to answer: status, OAuth error code, description.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl Refusal {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into() }
    }
}

impl Inner {
    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{}-{}", self.spec.id, self.counter)
    }

    fn dispatch(&mut self, request: &mut Request, json_body: bool) -> Response {
        let endpoint = match request.endpoint {
            // A path only if the spec declares the endpoint (refresh: only a separate one).
            Some(e) if self.spec.endpoints.get(e).is_some() => e,
            _ => {
                request.violations.push(format!("no endpoint of the spec is served at {}", request.path));
                return self
                    .refuse(Endpoint::Token, &Refusal::new(StatusCode::NOT_FOUND, "invalid_request", "unknown path"));
            }
        };
        // The provider knows its parameters by its own names (`param_names`,
        // `endpoint_param_names`): the standard name is refused, the provider's is read as
        // the standard one; a parameter it takes none of is refused (the authorization
        // endpoint then answers as if it were `response_type=code`).
        let standard_names = RENAMABLE_PARAMS.iter().chain(REMOVABLE_PARAMS);
        for standard in standard_names {
            let own = self.spec.param_name(endpoint, standard);
            if own == Some(standard) {
                continue;
            }
            if request.params.contains_key(*standard) || request.query.contains_key(*standard) {
                let why = match own {
                    Some(own) => format!("`{standard}` sent; this provider calls it `{own}` here"),
                    None => format!("`{standard}` sent; this provider takes none"),
                };
                let refusal = Refusal::new(StatusCode::BAD_REQUEST, "invalid_request", why);
                let refusal = Self::violation(request, refusal);
                return self.refuse(endpoint, &refusal);
            }
            match own {
                Some(own) => {
                    for map in [&mut request.params, &mut request.query] {
                        if let Some(value) = map.remove(own) {
                            map.insert((*standard).to_owned(), value);
                        }
                    }
                }
                None if *standard == "response_type" => {
                    request.query.insert("response_type".into(), "code".into());
                }
                None => {}
            }
        }
        let result = match endpoint {
            Endpoint::Authorization => return self.authorize(request),
            Endpoint::Token | Endpoint::Refresh => self.token(request, endpoint, json_body),
            Endpoint::Revocation => self.revoke(request, json_body),
            Endpoint::DeviceAuthorization => self.device_authorization(request, json_body),
            Endpoint::Introspection => self.introspect(request, json_body),
            Endpoint::Userinfo => self.userinfo(request),
            Endpoint::EndSession => Ok((StatusCode::OK, "signed out").into_response()),
            Endpoint::PushedAuthorization => self.pushed_authorization(request, json_body),
        };
        match result {
            Ok(response) => response,
            Err(refusal) => self.refuse(endpoint, &refusal),
        }
    }

    /// Record `refusal` as a violation of `request` and answer it.
    fn violation(request: &mut Request, refusal: Refusal) -> Refusal {
        request.violations.push(refusal.description.clone());
        refusal
    }

    /// An OAuth error response in the spec's shape.
    fn refuse(&self, endpoint: Endpoint, refusal: &Refusal) -> Response {
        let token_endpoint = matches!(endpoint, Endpoint::Token | Endpoint::Refresh);
        let tr = &self.spec.token_response;
        let mut fields = Map::new();
        fields.insert("error".into(), Value::String(refusal.error.into()));
        fields.insert("error_description".into(), Value::String(refusal.description.clone()));
        let status = if tr.error_in_200 && token_endpoint {
            fields.insert("ok".into(), Value::Bool(false));
            StatusCode::OK
        } else {
            refusal.status
        };
        if token_endpoint && tr.format == ResponseFormat::Form {
            return form_response(status, &fields);
        }
        (status, [(header::CONTENT_TYPE, "application/json")], Value::Object(fields).to_string()).into_response()
    }

    fn check_body_format(&self, request: &mut Request, json_body: bool) -> Result<(), Refusal> {
        // `body_format` shapes every body sent to the provider, not only token requests.
        let want_json = self.spec.token_request.body_format == BodyFormat::Json;
        let ct = request.content_type.clone().unwrap_or_default();
        let ok = if want_json { json_body } else { ct.starts_with("application/x-www-form-urlencoded") };
        if ok {
            return Ok(());
        }
        let want = if want_json { "application/json" } else { "application/x-www-form-urlencoded" };
        Err(Self::violation(
            request,
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("Content-Type is {ct:?}, the spec says {want}"),
            ),
        ))
    }

    /// Client authentication exactly as the client is configured: Basic or the body, never
    /// both; a public client sends only its id.
    fn check_client_auth(&self, request: &mut Request, endpoint: Endpoint) -> Result<(), Refusal> {
        let client = &self.client;
        // An endpoint with a method of its own (`endpoint_client_auth`) takes only that one.
        let own = self.spec.endpoint_client_auth.iter().find(|(e, _)| *e == endpoint).map(|(_, m)| *m);
        let listed = |method: ClientAuth| own.map_or_else(|| self.spec.client_auth.contains(&method), |m| m == method);
        let basic = request.authorization.as_deref().map(decode_basic);
        let body_id = request.params.get("client_id").cloned();
        let body_secret = request.params.get("client_secret").cloned();
        let fail = |why: String| Refusal::new(StatusCode::UNAUTHORIZED, "invalid_client", why);
        let problem = match (&client.secret, own.unwrap_or(client.auth)) {
            (None, _) => {
                if request.authorization.is_some() {
                    Some(fail("a public client sent an Authorization header".into()))
                } else if body_id.as_deref() != Some(&client.id) {
                    Some(fail(format!(
                        "a public client must send client_id {:?} in the body, sent {body_id:?}",
                        client.id
                    )))
                } else if body_secret.is_some() {
                    Some(fail("a public client sent a client_secret".into()))
                } else {
                    None
                }
            }
            (Some(secret), ClientAuth::Basic) => {
                if !listed(ClientAuth::Basic) {
                    Some(fail("the spec does not list `basic`".into()))
                } else if basic != Some(Some((client.id.clone(), secret.clone()))) {
                    Some(fail("no valid HTTP Basic credentials (client_secret_basic)".into()))
                } else if body_secret.is_some() {
                    Some(fail("client_secret in the body as well as HTTP Basic".into()))
                } else if body_id.as_ref().is_some_and(|id| id != &client.id) {
                    Some(fail("client_id in the body is another client".into()))
                } else {
                    None
                }
            }
            (Some(secret), ClientAuth::RequestBody) => {
                if !listed(ClientAuth::RequestBody) {
                    Some(fail("the spec does not list `request_body`".into()))
                } else if request.authorization.is_some() {
                    Some(fail("an Authorization header as well as credentials in the body (client_secret_post)".into()))
                } else if body_id.as_deref() != Some(&client.id) || body_secret.as_deref() != Some(secret.as_str()) {
                    Some(fail("no valid client_id and client_secret in the body (client_secret_post)".into()))
                } else {
                    None
                }
            }
            (Some(secret), method @ (ClientAuth::PrivateKeyJwt | ClientAuth::ClientSecretJwt)) => {
                let assertion_type = request.params.get("client_assertion_type").map(String::as_str);
                if !listed(method) {
                    Some(fail(format!("the spec does not list `{}`", method.key())))
                } else if request.authorization.is_some() || body_secret.is_some() {
                    Some(fail("a secret sent as well as a client assertion".into()))
                } else if body_id.as_ref().is_some_and(|id| id != &client.id) {
                    Some(fail("client_id in the body is another client".into()))
                } else if assertion_type != Some(oauthgen_runtime::ASSERTION_TYPE) {
                    Some(fail(format!("client_assertion_type is {assertion_type:?}")))
                } else {
                    let assertion = request.params.get("client_assertion").cloned().unwrap_or_default();
                    self.check_assertion(method, secret, &assertion, endpoint).err().map(fail)
                }
            }
        };
        match problem {
            Some(refusal) => Err(Self::violation(request, refusal)),
            None => Ok(()),
        }
    }

    /// A client assertion (RFC 7523 section 3): signed with the client's key (or HS256 with
    /// its secret), `iss` and `sub` the client, `aud` this token endpoint, unexpired, and a
    /// `jti` never seen before.
    fn check_assertion(&self, method: ClientAuth, secret: &str, jwt: &str, endpoint: Endpoint) -> Result<(), String> {
        use ring::signature as sig;
        let parts: Vec<&str> = jwt.split('.').collect();
        let [header, claims, signature] = parts.as_slice() else { return Err("the assertion is not a JWS".into()) };
        let decode = |part: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok();
        let json = |part: &str| decode(part).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let (Some(header), Some(claims), Some(signature)) = (json(header), json(claims), decode(signature)) else {
            return Err("the assertion does not decode".into());
        };
        let input = jwt.rsplit_once('.').map_or("", |(input, _)| input).as_bytes();
        let alg = header["alg"].as_str().unwrap_or_default();
        let rsa = self.client.key.as_ref().is_some_and(|jwk| jwk["kty"] == "RSA");
        let wanted = self.spec.client_assertion_algorithm.name();
        if method == ClientAuth::PrivateKeyJwt && rsa && alg != wanted {
            return Err(format!("a `{alg}` assertion; the spec's `client_assertion.algorithm` is {wanted}"));
        }
        // The key named by its certificate's thumbprint, as registered (Entra's `x5t#S256`).
        if let (ClientAuth::PrivateKeyJwt, Some(kind)) = (method, self.spec.client_assertion_thumbprint) {
            let name = kind.header();
            let sent = header[name].as_str();
            let registered = self.client.key.as_ref().and_then(|jwk| jwk[name].as_str());
            let ok = match registered {
                Some(registered) => sent == Some(registered),
                None => sent.is_some_and(|t| !t.is_empty()),
            };
            if !ok {
                return Err(format!(
                    "the assertion's header has `{name}` {sent:?}, not the registered certificate's {registered:?}"
                ));
            }
        }
        let verified = match (method, alg, &self.client.key) {
            (ClientAuth::ClientSecretJwt, "HS256", _) => {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
                ring::hmac::verify(&key, input, &signature).is_ok()
            }
            (ClientAuth::PrivateKeyJwt, "ES256", Some(jwk)) => {
                let mut point = vec![4u8];
                point.extend(jwk["x"].as_str().and_then(decode).unwrap_or_default());
                point.extend(jwk["y"].as_str().and_then(decode).unwrap_or_default());
                sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point).verify(input, &signature).is_ok()
            }
            (ClientAuth::PrivateKeyJwt, "EdDSA", Some(jwk)) => {
                let x = jwk["x"].as_str().and_then(decode).unwrap_or_default();
                sig::UnparsedPublicKey::new(&sig::ED25519, x).verify(input, &signature).is_ok()
            }
            (ClientAuth::PrivateKeyJwt, alg @ ("RS256" | "PS256"), Some(jwk)) => {
                let n = jwk["n"].as_str().and_then(decode).unwrap_or_default();
                let e = jwk["e"].as_str().and_then(decode).unwrap_or_default();
                let algorithm =
                    if alg == "PS256" { &sig::RSA_PSS_2048_8192_SHA256 } else { &sig::RSA_PKCS1_2048_8192_SHA256 };
                sig::RsaPublicKeyComponents { n, e }.verify(algorithm, input, &signature).is_ok()
            }
            (method, alg, _) => return Err(format!("a `{alg}` assertion for `{}`", method.key())),
        };
        if !verified {
            return Err("the assertion's signature does not verify".into());
        }
        let now = chrono::Utc::now().timestamp();
        // The audience the spec names: this token endpoint, the endpoint called, the issuer;
        // a literal template is taken as any string (the emulator renders no variables).
        let endpoint = if endpoint == Endpoint::Refresh { Endpoint::Token } else { endpoint };
        let audience = match &self.spec.client_assertion_audience {
            Audience::TokenEndpoint => Some(format!("{}{}", self.base, path_of(Endpoint::Token))),
            Audience::Endpoint => Some(format!("{}{}", self.base, path_of(endpoint))),
            Audience::Issuer => self.client.issuer.clone(),
            Audience::Literal(_) => None,
        };
        let aud_ok = match (&claims["aud"], &audience) {
            (Value::String(a), Some(audience)) => a == audience,
            (Value::Array(all), Some(audience)) => all.iter().any(|a| a.as_str() == Some(audience.as_str())),
            (Value::String(a), None) => !a.is_empty(),
            _ => false,
        };
        let audience = audience.unwrap_or_default();
        let id = Some(self.client.id.as_str());
        if claims["iss"].as_str() != id || claims["sub"].as_str() != id {
            Err(format!("the assertion's iss/sub are {} / {}, not the client", claims["iss"], claims["sub"]))
        } else if !aud_ok {
            Err(format!("the assertion's aud is {}, not {audience}", claims["aud"]))
        } else if claims["exp"].as_i64().is_none_or(|exp| exp <= now) {
            Err("the assertion has expired (or has no exp)".into())
        } else if claims["iat"].as_i64().is_some_and(|iat| iat > now + 60) {
            Err("the assertion is issued in the future".into())
        } else if !claims["jti"].as_str().is_some_and(|jti| self.assertion_ids.borrow_mut().insert(jti.to_owned())) {
            Err("the assertion's jti is missing or was used before (a replay)".into())
        } else {
            Ok(())
        }
    }

    /// `scope` joined with the spec's separator.
    fn check_scope(&self, request: &mut Request, scope: Option<&str>) -> Result<(), Refusal> {
        let Some(scope) = scope else { return Ok(()) };
        let sep = &*self.spec.scope_separator;
        let wrong = if sep == " " { None } else { scope.contains(' ').then_some("a space") };
        if let Some(wrong) = wrong {
            return Err(Self::violation(
                request,
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    format!("scope {scope:?} is joined with {wrong}; the spec's separator is {sep:?}"),
                ),
            ));
        }
        Ok(())
    }

    /// Each of `params` (name, value template) is in the body: with its value when the
    /// template has no placeholder.
    fn check_params(request: &mut Request, what: &str, params: &[(Str, Str)]) -> Result<(), Refusal> {
        for (name, template) in params {
            if !matches_template(request.params.get(&**name), template) {
                return Err(Self::bad(request, format!("{what}: `{name}={template}` missing or wrong")));
            }
        }
        Ok(())
    }

    /// The spec's `request_headers` are on the request.
    fn check_headers(&self, request: &mut Request) -> Result<(), Refusal> {
        for (name, template) in self.spec.request_headers.iter() {
            if !matches_template(request.headers.get(&name.to_ascii_lowercase()), template) {
                return Err(Self::bad(request, format!("request_headers: `{name}: {template}` missing or wrong")));
            }
        }
        Ok(())
    }

    fn bad(request: &mut Request, description: String) -> Refusal {
        Self::violation(request, Refusal::new(StatusCode::BAD_REQUEST, "invalid_request", description))
    }

    fn authorize(&mut self, request: &mut Request) -> Response {
        let mut q = request.query.clone();
        // RFC 9126: with a pushed request, the browser brings `client_id` and `request_uri`
        // only, and each `request_uri` works once.
        match (self.spec.endpoints.pushed_authorization.is_some(), q.get("request_uri").cloned()) {
            (true, Some(uri)) => match self.pushed.remove(&uri) {
                Some(pushed) if q.len() == 2 && q.get("client_id") == pushed.get("client_id") => q = pushed,
                Some(_) => {
                    request.violations.push("the browser brought more than client_id and request_uri".into());
                    return (StatusCode::BAD_REQUEST, "parameters beside request_uri").into_response();
                }
                None => {
                    request.violations.push(format!("unknown or used request_uri {uri:?}"));
                    return (StatusCode::BAD_REQUEST, "invalid_request_uri").into_response();
                }
            },
            (true, None) => {
                request.violations.push("the spec pushes authorization requests, but the browser brought them".into());
                return (StatusCode::BAD_REQUEST, "pushed authorization requests required").into_response();
            }
            (false, Some(_)) => {
                request.violations.push("a request_uri, but the spec has no pushed_authorization endpoint".into());
                return (StatusCode::BAD_REQUEST, "no pushed authorization requests").into_response();
            }
            (false, None) => {}
        }
        let Some(redirect_uri) = q.get("redirect_uri").cloned() else {
            request.violations.push("no redirect_uri".into());
            return (StatusCode::BAD_REQUEST, "no redirect_uri").into_response();
        };
        let mut problems = Vec::new();
        if request.method != "GET" {
            problems.push(format!("the authorization endpoint was sent a {}", request.method));
        }
        if q.get("response_type").map(String::as_str) != Some("code") {
            problems.push(format!("response_type is {:?}, expected `code`", q.get("response_type")));
        }
        if q.get("client_id") != Some(&self.client.id) {
            problems.push(format!("client_id is {:?}, expected {:?}", q.get("client_id"), self.client.id));
        }
        if q.get("state").is_none_or(String::is_empty) {
            problems.push("no state".into());
        }
        for (name, value) in self.spec.authorize_params.iter() {
            if !matches_template(q.get(&**name), value) {
                problems.push(format!("authorize_params: `{name}={value}` missing"));
            }
        }
        let challenge = q.get("code_challenge").cloned();
        let method = q.get("code_challenge_method").cloned();
        let public = self.client.secret.is_none();
        match (self.spec.pkce, &challenge) {
            (Pkce::Required, None) => problems.push("pkce: required, but no code_challenge".into()),
            (Pkce::Unsupported, Some(_)) => problems.push("pkce: unsupported, but a code_challenge was sent".into()),
            (Pkce::PublicOnly, Some(_)) if !public => {
                problems.push("pkce: public_only, but a confidential client sent a code_challenge".into());
            }
            _ => {}
        }
        if challenge.is_some() && method.as_deref() != Some("S256") {
            problems.push(format!("code_challenge_method is {method:?}, expected S256"));
        }
        let dpop_jkt = q.get("dpop_jkt").cloned();
        if dpop_jkt.is_some() && self.spec.dpop == Dpop::Unsupported {
            problems.push("dpop_jkt sent, but the spec has no `dpop`".into());
        }
        let scope = q.get("scope").cloned();
        let sep = &*self.spec.scope_separator;
        if let Some(s) = &scope
            && sep != " "
            && s.contains(' ')
        {
            problems.push(format!("scope {s:?} is not joined with the spec's separator {sep:?}"));
        }
        let mut target = match url::Url::parse(&redirect_uri) {
            Ok(u) => u,
            Err(e) => {
                request.violations.push(format!("redirect_uri is not a URL: {e}"));
                return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response();
            }
        };
        {
            let mut pairs = target.query_pairs_mut();
            if problems.is_empty() {
                let code = self.next("code");
                self.codes.insert(
                    code.clone(),
                    CodeGrant {
                        redirect_uri: redirect_uri.clone(),
                        challenge,
                        scope,
                        nonce: q.get("nonce").cloned(),
                        dpop_jkt,
                        used: false,
                    },
                );
                pairs.append_pair("code", &code);
            } else {
                pairs.append_pair("error", "invalid_request");
                pairs.append_pair("error_description", &problems.join("; "));
            }
            if let Some(state) = q.get("state") {
                pairs.append_pair("state", state);
            }
            if let Some(issuer) = &self.client.issuer {
                pairs.append_pair("iss", issuer);
            }
            // Values the provider gives in the callback (Zoho's `accounts-server`): the
            // variable's default, which its bounds allow.
            for var in self.spec.variables.iter() {
                if let (Some(param), Some(value)) = (&var.from_callback, &var.default) {
                    pairs.append_pair(param, value);
                }
            }
        }
        request.violations.extend(problems);
        (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
    }

    fn token(&mut self, request: &mut Request, endpoint: Endpoint, json_body: bool) -> Result<Response, Refusal> {
        if request.method != "POST" {
            return Err(Self::bad(request, format!("the token endpoint was sent a {}", request.method)));
        }
        self.check_body_format(request, json_body)?;
        let grant_type = request.params.get("grant_type").cloned().unwrap_or_default();
        let separate_refresh = self.spec.endpoints.refresh.is_some();
        match (grant_type.as_str() == "refresh_token", endpoint, separate_refresh) {
            (true, Endpoint::Token, true) => {
                return Err(Self::bad(
                    request,
                    "a refresh request at the token endpoint; the spec names a refresh endpoint".into(),
                ));
            }
            (false, Endpoint::Refresh, _) => {
                return Err(Self::bad(request, format!("grant_type {grant_type:?} at the refresh endpoint")));
            }
            _ => {}
        }
        if grant_type == JWT_BEARER {
            if request.authorization.is_some() || request.params.contains_key("client_secret") {
                return Err(Self::violation(
                    request,
                    Refusal::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        "client credentials sent with a JWT assertion",
                    ),
                ));
            }
        } else {
            self.check_client_auth(request, Endpoint::Token)?;
        }
        self.check_headers(request)?;
        self.dpop_jkt = self.check_dpop(request)?;
        let spec = self.spec;
        Self::check_params(request, "token_request.params", &spec.token_request.params)?;
        match grant_type.as_str() {
            "authorization_code" => {
                Self::check_params(request, "token_request.code_params", &spec.token_request.code_params)?;
            }
            "refresh_token" => {
                Self::check_params(request, "token_request.refresh_params", &spec.token_request.refresh_params)?;
            }
            _ => {}
        }
        let scope = request.params.get("scope").cloned();
        self.check_scope(request, scope.as_deref())?;
        let has_refresh = self.spec.grants.refresh_token;
        match grant_type.as_str() {
            "authorization_code" => {
                if !self.spec.grants.authorization_code {
                    return Err(Self::bad(request, "the spec has no authorization_code grant".into()));
                }
                let code = request.params.get("code").cloned().unwrap_or_default();
                let Some(grant) = self.codes.get(&code).cloned() else {
                    return Err(Self::bad(request, format!("unknown code {code:?}")));
                };
                if grant.used {
                    self.refusals.push(format!("code {code} used twice"));
                    return Err(Refusal::new(StatusCode::BAD_REQUEST, "invalid_grant", "code already used"));
                }
                if request.params.get("redirect_uri") != Some(&grant.redirect_uri) {
                    return Err(Self::bad(
                        request,
                        format!(
                            "redirect_uri {:?} is not the authorization's {:?}",
                            request.params.get("redirect_uri"),
                            grant.redirect_uri
                        ),
                    ));
                }
                if grant.dpop_jkt.is_some() && grant.dpop_jkt != self.dpop_jkt {
                    return Err(Self::violation(
                        request,
                        Refusal::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_grant",
                            format!(
                                "the code is bound to DPoP key {:?} (dpop_jkt), the proof is by {:?}",
                                grant.dpop_jkt, self.dpop_jkt
                            ),
                        ),
                    ));
                }
                let verifier = request.params.get("code_verifier").cloned();
                match (&grant.challenge, &verifier) {
                    (Some(c), Some(v)) if &s256(v) != c => {
                        return Err(Self::bad(request, "code_verifier does not match the code_challenge".into()));
                    }
                    (Some(_), None) => {
                        return Err(Self::bad(request, "a code_challenge was sent but no code_verifier".into()));
                    }
                    (None, Some(_)) => {
                        return Err(Self::bad(request, "a code_verifier without a code_challenge".into()));
                    }
                    _ => {}
                }
                if let Some(g) = self.codes.get_mut(&code) {
                    g.used = true;
                }
                let openid = self.wants_id_token(grant.scope.as_deref()).then_some(grant.nonce.as_deref());
                let fields = self.token_fields(&grant_type, grant.scope.as_deref(), has_refresh, openid);
                Ok(self.token_response(fields))
            }
            "refresh_token" => {
                if !has_refresh {
                    return Err(Self::bad(request, "the spec has no refresh_token grant".into()));
                }
                if self.spec.refresh.requires_scope && scope.is_none() {
                    return Err(Self::bad(request, "refresh.requires_scope, but no scope on refresh".into()));
                }
                // Atlassian Data Center validates the sign-in's redirect URI on refresh too.
                let sent = request.params.get("redirect_uri");
                if self.spec.refresh.sends_redirect_uri
                    && !sent.is_some_and(|uri| self.codes.values().any(|g| g.redirect_uri == *uri))
                {
                    return Err(Self::bad(request, format!("redirect_uri {sent:?} is not the sign-in's")));
                }
                let token = request.params.get("refresh_token").cloned().unwrap_or_default();
                // RFC 9449 section 5: a bound refresh token needs a proof of its key.
                if let Some(bound) = self.dpop_refresh.get(&token)
                    && self.dpop_jkt.as_ref() != Some(bound)
                {
                    self.refusals.push(format!("refresh token {token} without a proof of its DPoP key"));
                    return Err(Refusal::new(StatusCode::BAD_REQUEST, "invalid_grant", "DPoP key mismatch"));
                }
                match self.refresh_tokens.get(&token) {
                    None => return Err(Self::bad(request, format!("unknown refresh token {token:?}"))),
                    Some(false) => {
                        self.refusals.push(format!("refresh token {token} used after rotation or revocation"));
                        return Err(Refusal::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_grant",
                            "refresh token no longer valid",
                        ));
                    }
                    Some(true) => {}
                }
                let r = self.spec.refresh;
                if r.rotates {
                    self.refresh_tokens.insert(token.clone(), false);
                }
                let openid = self.openid_refresh_tokens.contains(&token).then_some(None);
                let mut response = self.token_fields(&grant_type, scope.as_deref(), r.rotates, openid);
                if r.returns_refresh_token && !r.rotates {
                    response.insert("refresh_token".into(), Value::String(token.clone()));
                    if let Some(last) = self.issued.last_mut() {
                        last.refresh_token = Some(token);
                    }
                }
                Ok(self.token_response(response))
            }
            // The spec's name for the grant: `client_credentials`, or its own (Zoom's
            // `account_credentials`); the other name is an unsupported grant type.
            gt if self
                .spec
                .grants
                .client_credentials
                .as_ref()
                .is_some_and(|c| c.grant_type.as_deref().unwrap_or("client_credentials") == gt) =>
            {
                let Some(cc) = self.spec.grants.client_credentials.clone() else {
                    return Err(Self::bad(request, "the spec has no client_credentials grant".into()));
                };
                Self::check_params(request, "grants.client_credentials.params", &cc.params)?;
                Ok(self.tokens(&grant_type, scope.as_deref(), false))
            }
            DEVICE_CODE => {
                if self.spec.grants.device_code.is_none() {
                    return Err(Self::bad(request, "the spec has no device_code grant".into()));
                }
                let code = request.params.get("device_code").cloned().unwrap_or_default();
                let Some((polls, device_scope)) = self.device_codes.get_mut(&code) else {
                    return Err(Self::bad(request, format!("unknown device_code {code:?}")));
                };
                *polls += 1;
                let (polls, device_scope) = (*polls, device_scope.clone());
                if polls == 1 {
                    self.refusals.push(format!("device code {code}: authorization_pending"));
                    return Err(Refusal::new(
                        StatusCode::BAD_REQUEST,
                        "authorization_pending",
                        "the user has not finished",
                    ));
                }
                let openid = self.wants_id_token(device_scope.as_deref()).then_some(None);
                let fields = self.token_fields(&grant_type, None, has_refresh, openid);
                Ok(self.token_response(fields))
            }
            TOKEN_EXCHANGE => {
                let Some(te) = self.spec.grants.token_exchange.clone() else {
                    return Err(Self::bad(request, "the spec has no token_exchange grant".into()));
                };
                Self::check_params(request, "grants.token_exchange.params", &te.params)?;
                let subject = request.params.get("subject_token").cloned().unwrap_or_default();
                let subject_type = request.params.get("subject_token_type").cloned().unwrap_or_default();
                if subject_type != ACCESS_TOKEN_TYPE {
                    return Err(Self::bad(request, format!("subject_token_type {subject_type:?}")));
                }
                if request.params.contains_key("actor_token") != request.params.contains_key("actor_token_type") {
                    return Err(Self::bad(request, "actor_token and actor_token_type go together".into()));
                }
                if self.access_tokens.get(&subject) != Some(&true) {
                    self.refusals.push("token exchange: unknown subject token".into());
                    return Err(Refusal::new(StatusCode::BAD_REQUEST, "invalid_grant", "unknown subject token"));
                }
                let subject_scope =
                    self.issued.iter().find(|i| i.access_token == subject).and_then(|i| i.scope.clone());
                let mut response =
                    self.token_fields(&grant_type, scope.as_deref().or(subject_scope.as_deref()), false, None);
                response.insert("issued_token_type".into(), Value::String(ACCESS_TOKEN_TYPE.into()));
                Ok(self.token_response(response))
            }
            JWT_BEARER => {
                let Some(jwt) = self.spec.grants.jwt_bearer.clone() else {
                    return Err(Self::bad(request, "the spec has no jwt_bearer grant".into()));
                };
                let assertion = request.params.get("assertion").cloned().unwrap_or_default();
                let claims = assertion
                    .split('.')
                    .nth(1)
                    .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
                let Some(claims) = claims else {
                    return Err(Self::bad(request, "the assertion is not a JWT".into()));
                };
                let alg = assertion
                    .split('.')
                    .next()
                    .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .and_then(|h| h["alg"].as_str().map(str::to_owned));
                if alg.as_deref() != Some(jwt.algorithm.name()) {
                    return Err(Self::bad(
                        request,
                        format!("the assertion's alg is {alg:?}, the spec says {}", jwt.algorithm.name()),
                    ));
                }
                let missing: Vec<&str> =
                    ["iss", "aud", "iat", "exp"].into_iter().filter(|c| claims.get(*c).is_none()).collect();
                if !missing.is_empty() {
                    return Err(Self::bad(request, format!("the assertion lacks {missing:?}")));
                }
                match (jwt.subject, claims.get("sub")) {
                    (Subject::Required, None) => {
                        return Err(Self::bad(request, "the assertion must carry `sub`".into()));
                    }
                    (Subject::Unsupported, Some(_)) => {
                        return Err(Self::bad(request, "the assertion must not carry `sub`".into()));
                    }
                    _ => {}
                }
                let scope = claims.get("scope").and_then(Value::as_str).map(str::to_owned);
                Ok(self.tokens(&grant_type, scope.as_deref(), false))
            }
            other => {
                Err(Refusal::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", format!("grant_type {other:?}")))
            }
        }
    }

    /// The fields of a token response (before the spec's shaping of the body), recorded as
    /// issued; `openid`: an ID token is added, with this nonce (or none).
    #[allow(clippy::option_option, reason = "no ID token, or one with or without a nonce")]
    fn token_fields(
        &mut self,
        grant_type: &str,
        scope: Option<&str>,
        with_refresh: bool,
        openid: Option<Option<&str>>,
    ) -> Map<String, Value> {
        let access = self.next("at");
        self.access_tokens.insert(access.clone(), true);
        let tr = self.spec.token_response.clone();
        let mut fields = Map::new();
        fields.insert("access_token".into(), Value::String(access.clone()));
        let dpop_jkt = self.dpop_jkt.take();
        let token_type = if dpop_jkt.is_some() { "DPoP" } else { "Bearer" };
        fields.insert("token_type".into(), Value::String(token_type.into()));
        let lifetime = |seconds: u64| match tr.expires_in_unit {
            TimeUnit::Seconds => seconds,
            TimeUnit::Milliseconds => seconds * 1000,
        };
        let lifetime_field = tr.lifetime_field.as_deref().unwrap_or("expires_in").to_owned();
        match tr.expires_in {
            ExpiresIn::Number => {
                fields.insert(lifetime_field, Value::from(lifetime(ACCESS_TOKEN_LIFETIME)));
            }
            ExpiresIn::String => {
                fields.insert(lifetime_field, Value::String(lifetime(ACCESS_TOKEN_LIFETIME).to_string()));
            }
            ExpiresIn::Date => {
                let lifetime = chrono::TimeDelta::seconds(i64::try_from(ACCESS_TOKEN_LIFETIME).unwrap_or(i64::MAX));
                let at = chrono::Utc::now() + lifetime;
                fields.insert(lifetime_field, Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
            }
            ExpiresIn::Absent => {}
        }
        let refresh = with_refresh.then(|| self.next("rt"));
        if let Some(rt) = &refresh {
            self.refresh_tokens.insert(rt.clone(), true);
            if let Some(jkt) = &dpop_jkt {
                self.dpop_refresh.insert(rt.clone(), jkt.clone());
            }
            fields.insert("refresh_token".into(), Value::String(rt.clone()));
            if let Some(field) = tr.refresh_token_expires_in.as_deref() {
                let value = lifetime(REFRESH_TOKEN_LIFETIME);
                let value = if tr.expires_in == ExpiresIn::String {
                    Value::String(value.to_string())
                } else {
                    Value::from(value)
                };
                fields.insert(field.to_owned(), value);
            }
        }
        // The granted scopes, joined with the response's separator when the spec names one.
        let scope = scope.map(|s| {
            let out = tr.scope_separator.as_deref().unwrap_or(&self.spec.scope_separator);
            s.split(&*self.spec.scope_separator).collect::<Vec<_>>().join(out)
        });
        // Under the provider's own name as a list (HubSpot `scopes`), else as a string.
        match (&scope, tr.scope_field.as_deref()) {
            (Some(s), Some(name)) => {
                let items = s.split(&*self.spec.scope_separator).map(|s| Value::String(s.to_owned())).collect();
                fields.insert(name.to_owned(), Value::Array(items));
            }
            (Some(s), None) => {
                fields.insert("scope".into(), Value::String(s.clone()));
            }
            (None, _) => {}
        }
        // The spec's own fields: its example, else a value of the type; integers and
        // booleans as JSON on the first response, as strings after (both are documented).
        let as_string = self.issued.len() % 2 == 1;
        for field in tr.fields.iter() {
            let value = match (field.kind, field.example.as_deref()) {
                (FieldType::Integer, example) => {
                    let n: i64 = example.and_then(|e| e.parse().ok()).unwrap_or(42);
                    if as_string { Value::String(n.to_string()) } else { Value::from(n) }
                }
                (FieldType::Boolean, example) => {
                    let b = example != Some("false");
                    if as_string { Value::String(b.to_string()) } else { Value::Bool(b) }
                }
                (_, Some(example)) => Value::String(example.to_owned()),
                (FieldType::Url, None) => Value::String(format!("{}/{}", self.base, field.name)),
                (FieldType::String, None) => Value::String(format!("{}-value", field.name)),
            };
            fields.insert(field.name.to_string(), value);
        }
        let id_token = openid.and_then(|nonce| self.id_token(nonce));
        if let Some(t) = &id_token {
            fields.insert("id_token".into(), Value::String(t.clone()));
            if let Some(rt) = &refresh {
                self.openid_refresh_tokens.insert(rt.clone());
            }
        }
        self.issued.push(Issued {
            grant_type: grant_type.to_owned(),
            access_token: access,
            refresh_token: refresh,
            scope,
            id_token,
            dpop_jkt,
        });
        fields
    }

    fn tokens(&mut self, grant_type: &str, scope: Option<&str>, with_refresh: bool) -> Response {
        let fields = self.token_fields(grant_type, scope, with_refresh, None);
        self.token_response(fields)
    }

    /// A token response in the spec's shape: form or JSON (`auto`: alternately), wrapped in
    /// `root` when the spec says so.
    fn token_response(&mut self, fields: Map<String, Value>) -> Response {
        let tr = &self.spec.token_response;
        let form = match tr.format {
            ResponseFormat::Form => true,
            ResponseFormat::Json => false,
            ResponseFormat::Auto => self.issued.len() % 2 == 1,
        };
        if form {
            return form_response(StatusCode::OK, &fields);
        }
        let body = match tr.root.as_deref() {
            Some(root) => {
                let mut outer = Map::new();
                outer.insert("status".into(), Value::from(0));
                outer.insert(root.to_owned(), Value::Object(fields));
                Value::Object(outer)
            }
            None => Value::Object(fields),
        };
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }

    /// Whether a grant of `scope` gets an ID token: the client has an issuer and `openid` is
    /// among the scopes.
    fn wants_id_token(&self, scope: Option<&str>) -> bool {
        self.client.issuer.is_some()
            && scope.is_some_and(|s| s.split(&*self.spec.scope_separator).any(|s| s.trim() == "openid"))
    }

    /// An ID token for the client, signed with the test key of an algorithm the spec allows.
    fn id_token(&self, nonce: Option<&str>) -> Option<String> {
        let issuer = self.client.issuer.as_deref()?;
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({"iss": issuer, "sub": SUBJECT, "aud": self.client.id, "iat": now, "exp": now + 600});
        if let Some(n) = nonce {
            claims["nonce"] = Value::String(n.to_owned());
        }
        let algorithms = &self.spec.oidc_algorithms;
        let es256 = !algorithms.is_empty() && !algorithms.contains(&IdTokenAlgorithm::Rs256);
        Some(keys().sign(es256, &claims))
    }

    /// RFC 9449 section 4.3: the DPoP proof of a token request, checked as a provider does;
    /// the thumbprint of its key. A spec with `dpop: required` needs one, a spec without
    /// `dpop` takes none.
    fn check_dpop(&mut self, request: &mut Request) -> Result<Option<String>, Refusal> {
        let Some(proof) = request.headers.get("dpop").cloned() else {
            if self.spec.dpop == Dpop::Required {
                return Err(Self::violation(
                    request,
                    Refusal::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", "the spec requires DPoP"),
                ));
            }
            return Ok(None);
        };
        if self.spec.dpop == Dpop::Unsupported {
            return Err(Self::bad(request, "a DPoP proof, but the spec says the provider takes none".into()));
        }
        let htu = format!("{}{}", self.base, request.path);
        match verify_dpop(&proof, &request.method, &htu) {
            Ok((jkt, jti)) if self.dpop_ids.insert(jti.clone()) => Ok(Some(jkt)),
            Ok(_) => Err(Self::bad(request, "a DPoP proof replayed".into())),
            Err(why) => Err(Self::violation(
                request,
                Refusal::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", format!("DPoP proof: {why}")),
            )),
        }
    }

    fn authenticated_form(&self, request: &mut Request, json_body: bool, endpoint: Endpoint) -> Result<(), Refusal> {
        if request.method != "POST" {
            return Err(Self::bad(request, format!("expected a POST, got a {}", request.method)));
        }
        self.check_body_format(request, json_body)?;
        self.check_headers(request)?;
        self.check_client_auth(request, endpoint)
    }

    /// RFC 9126: the authorization parameters, authenticated as the client; answered with a
    /// one-time `request_uri`.
    fn pushed_authorization(&mut self, request: &mut Request, json_body: bool) -> Result<Response, Refusal> {
        self.authenticated_form(request, json_body, Endpoint::PushedAuthorization)?;
        if request.params.contains_key("request_uri") {
            return Err(Self::bad(request, "a request_uri inside a pushed request".into()));
        }
        let mut params = request.params.clone();
        for secret in ["client_secret", "client_assertion", "client_assertion_type"] {
            params.remove(secret);
        }
        params.insert("client_id".into(), self.client.id.clone());
        let uri = format!("urn:ietf:params:oauth:request_uri:{}", self.next("par"));
        self.pushed.insert(uri.clone(), params);
        let body = json!({ "request_uri": uri, "expires_in": 60 });
        Ok((StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response())
    }

    fn revoke(&mut self, request: &mut Request, json_body: bool) -> Result<Response, Refusal> {
        self.authenticated_form(request, json_body, Endpoint::Revocation)?;
        let token = request.params.get("token").cloned().unwrap_or_default();
        if let Some(valid) = self.refresh_tokens.get_mut(&token) {
            *valid = false;
        } else if let Some(active) = self.access_tokens.get_mut(&token) {
            *active = false;
        } else {
            return Err(Self::bad(request, format!("revoking an unknown token {token:?}")));
        }
        if let Some(hint) = request.params.get("token_type_hint").cloned()
            && !matches!(hint.as_str(), "access_token" | "refresh_token")
        {
            return Err(Self::bad(request, format!("token_type_hint {hint:?}")));
        }
        Ok(StatusCode::OK.into_response())
    }

    fn device_authorization(&mut self, request: &mut Request, json_body: bool) -> Result<Response, Refusal> {
        self.authenticated_form(request, json_body, Endpoint::DeviceAuthorization)?;
        let scope = request.params.get("scope").cloned();
        self.check_scope(request, scope.as_deref())?;
        let device_code = self.next("dc");
        self.device_codes.insert(device_code.clone(), (0, scope));
        let user_code = format!("EMU-{}", self.counter);
        let body = json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": format!("{}/device-verify", self.base),
            "verification_uri_complete": format!("{}/device-verify?user_code={user_code}", self.base),
            "expires_in": 600,
            "interval": 1,
        });
        Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response())
    }

    fn introspect(&mut self, request: &mut Request, json_body: bool) -> Result<Response, Refusal> {
        self.authenticated_form(request, json_body, Endpoint::Introspection)?;
        let token = request.params.get("token").cloned().unwrap_or_default();
        let active = self.access_tokens.get(&token).or_else(|| self.refresh_tokens.get(&token)).copied();
        let Some(active) = active else {
            return Err(Self::bad(request, format!("introspecting an unknown token {token:?}")));
        };
        let scope = self.issued.iter().find(|i| i.access_token == token).and_then(|i| i.scope.clone());
        let now = chrono::Utc::now().timestamp();
        let body = if active {
            let mut body = json!({
                "active": true,
                "client_id": self.client.id,
                "sub": SUBJECT,
                "token_type": "Bearer",
                "iat": now,
                "exp": now + 3600,
            });
            if let Some(s) = scope {
                body["scope"] = Value::String(s);
            }
            body
        } else {
            json!({"active": false})
        };
        Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response())
    }

    fn userinfo(&mut self, request: &mut Request) -> Result<Response, Refusal> {
        let token = request.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")).unwrap_or_default();
        if self.access_tokens.get(token) != Some(&true) {
            return Err(Self::violation(
                request,
                Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "no active access token as `Authorization: Bearer`",
                ),
            ));
        }
        let body = json!({"sub": SUBJECT, "id": SUBJECT, "email": "user@emulator.test", "name": "Emulated User"});
        Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response())
    }
}

/// Whether a sent value fits a spec's value template: equal to it, or (a template with
/// `{placeholders}`) present and with every literal part of the template.
fn matches_template(sent: Option<&String>, template: &str) -> bool {
    let Some(sent) = sent else { return false };
    if !template.contains('{') {
        return sent == template;
    }
    let literals = template.split(['{', '}']).step_by(2).filter(|l| !l.is_empty());
    literals.into_iter().all(|l| sent.contains(l))
}

fn form_response(status: StatusCode, fields: &Map<String, Value>) -> Response {
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        body.append_pair(k, &v);
    }
    (status, [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")], body.finish()).into_response()
}

// ---- OpenID Connect: signing keys, and the discovery document and JWKS over https ----------

/// The emulator's ID-token signing keys: the runtime's RSA test key and an EC P-256 key made
/// once per process, so every emulator of the process publishes the same JWKS (the runtime
/// caches keys per JWKS URL for the whole process).
struct Keys {
    rsa: ring::signature::RsaKeyPair,
    ec: ring::signature::EcdsaKeyPair,
    jwks: String,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn keys() -> &'static Keys {
    static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        use ring::signature::{self as sig, KeyPair as _};
        let rsa = sig::RsaKeyPair::from_der(include_bytes!("../../runtime/tests/keys/rsa1.der")).expect("RSA test key");
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = sig::EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("EC key");
        let ec = sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("EC key");
        let public = sig::RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public());
        let point = ec.public_key().as_ref();
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "emulator-rs256", "alg": "RS256", "use": "sig", "n": b64url(&public.n), "e": b64url(&public.e)},
            {"kty": "EC", "crv": "P-256", "kid": "emulator-es256", "alg": "ES256", "use": "sig", "x": b64url(&point[1..33]), "y": b64url(&point[33..])},
        ]})
        .to_string();
        Keys { rsa, ec, jwks }
    })
}

impl Keys {
    /// A compact JWS of `claims`: ES256 when `es256`, else RS256.
    fn sign(&self, es256: bool, claims: &Value) -> String {
        let (alg, kid) = if es256 { ("ES256", "emulator-es256") } else { ("RS256", "emulator-rs256") };
        let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
        let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let rng = ring::rand::SystemRandom::new();
        let signature = if es256 {
            self.ec.sign(&rng, input.as_bytes()).expect("ES256 signature").as_ref().to_vec()
        } else {
            let mut out = vec![0; self.rsa.public().modulus_len()];
            self.rsa
                .sign(&ring::signature::RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut out)
                .expect("RS256 signature");
            out
        };
        format!("{input}.{}", b64url(&signature))
    }
}

/// The hosts the TLS proxy answers for: the issuer's and the JWKS URL's.
fn oidc_hosts(client: &Client) -> Option<Vec<String>> {
    let issuer = url::Url::parse(client.issuer.as_deref()?).ok()?;
    let mut hosts = vec![issuer.host_str()?.to_owned()];
    if let Some(jwks) = client.jwks_uri.as_deref().and_then(|u| url::Url::parse(u).ok())
        && let Some(host) = jwks.host_str()
        && !hosts.iter().any(|h| h == host)
    {
        hosts.push(host.to_owned());
    }
    Some(hosts)
}

/// An https proxy on 127.0.0.1 that answers `CONNECT` to any host itself, with a certificate
/// of a test CA for the OpenID hosts: the discovery document at
/// `.../.well-known/openid-configuration`, the JWKS at any other path. Each request is logged
/// (path: the full URL).
#[derive(Debug)]
struct TlsProxy {
    port: u16,
    ca_pem: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl TlsProxy {
    fn start(hosts: &[String], shared: Shared) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, "oauthgen emulator CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA");
        let mut params = CertificateParams::new(hosts.to_vec()).expect("certificate params");
        params.distinguished_name.push(DnType::CommonName, hosts[0].clone());
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &ca).expect("certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("TLS configuration");
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the TLS proxy");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("address").port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (config, shared) = (config.clone(), shared.clone());
                        std::thread::spawn(move || {
                            let _ = serve_tls(stream, config, &shared);
                        });
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        Self { port, ca_pem: ca.pem(), stop }
    }
}

/// Read an HTTP/1.1 request head (up to the blank line).
fn read_head(reader: &mut impl std::io::BufRead) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(lines);
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
    }
}

fn serve_tls(stream: std::net::TcpStream, config: Arc<rustls::ServerConfig>, shared: &Shared) -> std::io::Result<()> {
    use std::io::{BufReader, Write as _};
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let head = read_head(&mut reader)?;
    let target = head.first().and_then(|l| l.strip_prefix("CONNECT ")).and_then(|l| l.split(' ').next());
    let host = target.map(|t| t.rsplit_once(':').map_or(t, |(h, _)| h).to_owned()).unwrap_or_default();
    let mut raw = stream;
    raw.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    let connection = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let tls = rustls::StreamOwned::new(connection, raw);
    let mut tls = BufReader::new(tls);
    let head = read_head(&mut tls)?;
    let path = head.first().and_then(|l| l.split(' ').nth(1)).unwrap_or("/").to_owned();
    let body = {
        let mut inner = lock(shared);
        let issuer = inner.client.issuer.clone().unwrap_or_default();
        let body = if path.ends_with("/.well-known/openid-configuration") {
            let jwks_uri = inner
                .client
                .jwks_uri
                .clone()
                .unwrap_or_else(|| format!("{}/emulator-jwks", issuer.trim_end_matches('/')));
            json!({
                "issuer": issuer,
                "jwks_uri": jwks_uri,
                "authorization_endpoint": format!("{}/authorize", inner.base),
                "token_endpoint": format!("{}/token", inner.base),
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            })
            .to_string()
        } else {
            keys().jwks.clone()
        };
        inner.log.push(Request {
            method: "GET".into(),
            path: format!("https://{host}{path}"),
            endpoint: None,
            query: BTreeMap::new(),
            params: BTreeMap::new(),
            content_type: None,
            authorization: None,
            headers: BTreeMap::new(),
            violations: Vec::new(),
        });
        body
    };
    let tls = tls.get_mut();
    write!(
        tls,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    tls.flush()?;
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok(())
}
