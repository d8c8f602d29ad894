//! OpenID Connect relying party: ID token validation against the provider's published keys.
//!
//! [`validate_id_token`] checks an ID token the way OpenID Connect Core 1.0 section 3.1.3.7
//! asks: the JWS signature against the provider's JWKS (`RS256`, `PS256`, `ES256` or `EdDSA`; `none`
//! and every HMAC algorithm are refused), `iss` exactly, `aud` containing the client id (and
//! `azp` equal to it when there are several audiences), `exp`, `iat` and `nbf` with a leeway,
//! and `nonce` when one was sent. The flows call it: [`crate::exchange`] before returning
//! credentials, [`crate::refresh`] on a new ID token.
//!
//! Signatures are verified with `ring` (already the runtime's only crypto library) over the
//! JWK's parameters; the JOSE parsing around it is here, small and fuzzed (proptest).
//!
//! Keys are cached in memory per JWKS URI, for as long as the response's
//! `Cache-Control: max-age` says (5 minutes without one). A token signed with a `kid` the
//! cache does not know triggers one refetch, at most once per cooldown
//! ([`OidcOptions::jwks_cooldown`], 60 s by default), so a flood of forged `kid`s cannot
//! turn into a flood of requests to the provider. The discovery document
//! (`{issuer}/.well-known/openid-configuration`) is fetched once per issuer and kept; its
//! `issuer` must equal the configured one exactly.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;
use url::Url;

use crate::config::ProviderConfig;
use crate::error::Error;
use crate::spec::IdTokenAlgorithm;

/// How ID tokens of a provider are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OidcOptions {
    /// Clock skew allowed on `exp`, `iat` and `nbf` (default 60 s).
    pub leeway: Duration,
    /// The shortest time between two fetches of the JWKS (default 60 s): an unknown `kid`
    /// triggers a refetch only when the last fetch is at least this old.
    pub jwks_cooldown: Duration,
}

impl Default for OidcOptions {
    fn default() -> Self {
        Self { leeway: Duration::from_secs(60), jwks_cooldown: Duration::from_secs(60) }
    }
}

/// Why an ID token was refused. Each names what failed; none holds the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// OpenID Connect was requested but the token response holds no `id_token`.
    #[error("the token response holds no ID token")]
    Missing,
    /// Not a compact JWS, bad base64url, bad JSON, or a required claim missing.
    #[error("malformed ID token: {0}")]
    Malformed(String),
    /// The header's `alg` is not allowed (`none`, HMAC, or not in the allowed list).
    #[error("signing algorithm `{alg}` is not allowed (allowed: {allowed})")]
    Algorithm {
        /// The header's `alg`.
        alg: String,
        /// The allowed algorithms, comma-separated.
        allowed: String,
    },
    /// The header has a `crit` parameter: extensions this validator does not understand.
    #[error("the header has critical extensions (`crit`)")]
    CriticalHeader,
    /// No key of the JWKS matches the header's `kid` (after one refetch when allowed).
    #[error("no key in the provider's JWKS matches kid {kid:?} for {alg}")]
    UnknownKey {
        /// The header's `kid`.
        kid: Option<String>,
        /// The header's `alg`.
        alg: String,
    },
    /// The signature does not verify.
    #[error("the signature does not verify")]
    Signature,
    /// `iss` is not the configured issuer.
    #[error("issuer {found:?} is not {expected:?}")]
    Issuer {
        /// The configured issuer.
        expected: String,
        /// The token's `iss`.
        found: String,
    },
    /// `aud` does not contain the client id.
    #[error("the audience does not contain client id {client_id:?}")]
    Audience {
        /// This client's id.
        client_id: String,
    },
    /// `azp` is missing while `aud` has several values, or names another client.
    #[error("authorized party (`azp`) {found:?} is not client id {client_id:?}")]
    AuthorizedParty {
        /// This client's id.
        client_id: String,
        /// The token's `azp`.
        found: Option<String>,
    },
    /// `exp` is past (beyond the leeway).
    #[error("the ID token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The time of the check.
        now: i64,
    },
    /// `iat` or `nbf` is in the future (beyond the leeway).
    #[error("the ID token is not valid yet (`{claim}` is {at}, now {now})")]
    NotYetValid {
        /// `iat` or `nbf`.
        claim: &'static str,
        /// Its value.
        at: i64,
        /// The time of the check.
        now: i64,
    },
    /// `nonce` is missing or not the one sent.
    #[error("the nonce is missing or is not the one sent")]
    Nonce,
    /// A refreshed ID token names another subject than the first one.
    #[error("the refreshed ID token's `sub` differs from the original")]
    SubjectChanged,
    /// The discovery document could not be fetched or is unusable.
    #[error("discovery: {0}")]
    Discovery(String),
    /// The discovery document's `issuer` is not the configured issuer.
    #[error("the discovery document names issuer {found:?}, expected {expected:?}")]
    DiscoveryIssuer {
        /// The configured issuer.
        expected: String,
        /// What the document says.
        found: String,
    },
    /// The JWKS could not be fetched or parsed.
    #[error("JWKS: {0}")]
    Jwks(String),
    /// The spec declares no OpenID Connect issuer.
    #[error("the provider's spec declares no OpenID Connect issuer")]
    NoIssuer,
}

impl From<IdTokenError> for Error {
    fn from(reason: IdTokenError) -> Self {
        Error::IdToken { reason }
    }
}

/// The `aud` claim: one string or an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Aud {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Aud {
    /// The audiences.
    pub fn values(&self) -> &[String] {
        match self {
            Self::One(s) => std::slice::from_ref(s),
            Self::Many(v) => v,
        }
    }
}

/// The claims of an ID token. Every claim not named here is kept in `other`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user's stable id at the issuer.
    pub sub: String,
    /// Audience(s).
    pub aud: Aud,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// The nonce sent with the authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Authorized party.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the issuer verified the email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Profile picture URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// What a valid ID token must satisfy.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// The exact issuer.
    pub issuer: &'a str,
    /// This client's id: must be in `aud`.
    pub client_id: &'a str,
    /// The algorithms allowed.
    pub algorithms: &'a [IdTokenAlgorithm],
    /// The nonce sent, when one was.
    pub nonce: Option<&'a str>,
    /// Clock skew allowed.
    pub leeway: Duration,
    /// The time of the check, seconds since the epoch.
    pub now: i64,
}

/// A public key from a JWKS.
#[derive(Clone, PartialEq, Eq)]
struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    key: KeyMaterial,
}

#[derive(Clone, PartialEq, Eq)]
enum KeyMaterial {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256 { point: Vec<u8> },
    Ed25519 { x: Vec<u8> },
}

/// A parsed JSON Web Key Set: the keys this validator can use (RSA, EC P-256, Ed25519
/// signature keys); others are skipped.
#[derive(Clone, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl std::fmt::Debug for JwkSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|k| k.kid.as_deref().unwrap_or("(no kid)"))).finish()
    }
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|e| format!("bad base64url: {e}"))
}

impl JwkSet {
    /// Parse a JWKS document (`{"keys": [...]}`). Keys of unknown types, encryption keys and
    /// keys with unreadable parameters are skipped.
    pub fn from_json(body: &[u8]) -> Result<Self, IdTokenError> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<Value>,
        }
        let doc: Doc = serde_json::from_slice(body).map_err(|e| IdTokenError::Jwks(format!("invalid JSON: {e}")))?;
        Ok(Self { keys: doc.keys.iter().filter_map(parse_jwk).collect() })
    }

    /// The number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn parse_jwk(v: &Value) -> Option<Jwk> {
    let s = |name: &str| v.get(name).and_then(Value::as_str);
    if s("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let bytes = |name: &str| s(name).and_then(|x| b64(x).ok());
    let key = match s("kty")? {
        "RSA" => {
            let n = bytes("n")?;
            let start = n.iter().position(|b| *b != 0).unwrap_or(n.len());
            KeyMaterial::Rsa { n: n[start..].to_vec(), e: bytes("e")? }
        }
        "EC" if s("crv")? == "P-256" => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            KeyMaterial::P256 { point }
        }
        "OKP" if s("crv")? == "Ed25519" => KeyMaterial::Ed25519 { x: bytes("x")? },
        _ => return None,
    };
    Some(Jwk { kid: s("kid").map(str::to_owned), alg: s("alg").map(str::to_owned), key })
}

/// A compact JWS split and decoded, not yet verified.
struct Parsed {
    alg: String,
    kid: Option<String>,
    signing_input: String,
    signature: Vec<u8>,
    payload: Vec<u8>,
}

fn parse(token: &str) -> Result<Parsed, IdTokenError> {
    let malformed = |m: &str| IdTokenError::Malformed(m.to_owned());
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("not a compact JWS (three dot-separated parts)"));
    };
    let header: Value = serde_json::from_slice(&b64(h).map_err(|e| IdTokenError::Malformed(format!("header: {e}")))?)
        .map_err(|e| IdTokenError::Malformed(format!("header: {e}")))?;
    let Value::Object(header) = header else {
        return Err(malformed("the header is not a JSON object"));
    };
    let alg = header.get("alg").and_then(Value::as_str).ok_or_else(|| malformed("the header has no `alg`"))?;
    if header.contains_key("crit") {
        return Err(IdTokenError::CriticalHeader);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(malformed("`kid` is not a string")),
    };
    Ok(Parsed {
        alg: alg.to_owned(),
        kid,
        signing_input: format!("{h}.{p}"),
        signature: b64(s).map_err(|e| IdTokenError::Malformed(format!("signature: {e}")))?,
        payload: b64(p).map_err(|e| IdTokenError::Malformed(format!("payload: {e}")))?,
    })
}

fn allowed_list(algorithms: &[IdTokenAlgorithm]) -> String {
    algorithms.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
}

/// The header's algorithm, when allowed. `none` and HMAC are never allowed: they are not
/// in [`IdTokenAlgorithm`].
fn check_alg(parsed: &Parsed, algorithms: &[IdTokenAlgorithm]) -> Result<IdTokenAlgorithm, IdTokenError> {
    IdTokenAlgorithm::from_name(&parsed.alg)
        .filter(|a| algorithms.contains(a))
        .ok_or_else(|| IdTokenError::Algorithm { alg: parsed.alg.clone(), allowed: allowed_list(algorithms) })
}

fn key_fits(key: &Jwk, alg: IdTokenAlgorithm) -> bool {
    let kind = matches!(
        (alg, &key.key),
        (IdTokenAlgorithm::Rs256 | IdTokenAlgorithm::Ps256, KeyMaterial::Rsa { .. })
            | (IdTokenAlgorithm::Es256, KeyMaterial::P256 { .. })
            | (IdTokenAlgorithm::EdDsa, KeyMaterial::Ed25519 { .. })
    );
    kind && key.alg.as_deref().is_none_or(|a| a == alg.name())
}

fn verify_signature(key: &Jwk, alg: IdTokenAlgorithm, message: &[u8], signature: &[u8]) -> bool {
    use ring::signature as sig;
    match (&key.key, alg) {
        (KeyMaterial::Rsa { n, e }, IdTokenAlgorithm::Rs256) => {
            sig::RsaPublicKeyComponents { n, e }.verify(&sig::RSA_PKCS1_2048_8192_SHA256, message, signature).is_ok()
        }
        (KeyMaterial::Rsa { n, e }, IdTokenAlgorithm::Ps256) => {
            sig::RsaPublicKeyComponents { n, e }.verify(&sig::RSA_PSS_2048_8192_SHA256, message, signature).is_ok()
        }
        (KeyMaterial::P256 { point }, IdTokenAlgorithm::Es256) => {
            sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point).verify(message, signature).is_ok()
        }
        (KeyMaterial::Ed25519 { x }, IdTokenAlgorithm::EdDsa) => {
            sig::UnparsedPublicKey::new(&sig::ED25519, x).verify(message, signature).is_ok()
        }
        _ => false,
    }
}

/// The keys a header may be verified with: the one with its `kid`, or (no `kid`) every key
/// that fits the algorithm.
fn candidates<'k>(keys: &'k JwkSet, kid: Option<&str>, alg: IdTokenAlgorithm) -> Vec<&'k Jwk> {
    keys.keys.iter().filter(|k| key_fits(k, alg) && kid.is_none_or(|kid| k.kid.as_deref() == Some(kid))).collect()
}

fn verify_parsed(parsed: &Parsed, keys: &JwkSet, expect: &Expectations<'_>) -> Result<IdTokenClaims, IdTokenError> {
    let alg = check_alg(parsed, expect.algorithms)?;
    let found = candidates(keys, parsed.kid.as_deref(), alg);
    if found.is_empty() {
        return Err(IdTokenError::UnknownKey { kid: parsed.kid.clone(), alg: parsed.alg.clone() });
    }
    if !found.iter().any(|k| verify_signature(k, alg, parsed.signing_input.as_bytes(), &parsed.signature)) {
        return Err(IdTokenError::Signature);
    }
    let claims = decode_claims(&parsed.payload)?;
    check_claims(&claims, expect)?;
    Ok(claims)
}

fn decode_claims(payload: &[u8]) -> Result<IdTokenClaims, IdTokenError> {
    serde_json::from_slice(payload).map_err(|e| IdTokenError::Malformed(format!("claims: {e}")))
}

fn check_claims(claims: &IdTokenClaims, expect: &Expectations<'_>) -> Result<(), IdTokenError> {
    if claims.iss != expect.issuer {
        return Err(IdTokenError::Issuer { expected: expect.issuer.to_owned(), found: claims.iss.clone() });
    }
    let aud = claims.aud.values();
    if !aud.iter().any(|a| a == expect.client_id) {
        return Err(IdTokenError::Audience { client_id: expect.client_id.to_owned() });
    }
    // OIDC Core 3.1.3.7 (4, 5): several audiences need `azp`; an `azp` must be us.
    if (aud.len() > 1 || claims.azp.is_some()) && claims.azp.as_deref() != Some(expect.client_id) {
        return Err(IdTokenError::AuthorizedParty {
            client_id: expect.client_id.to_owned(),
            found: claims.azp.clone(),
        });
    }
    let leeway = i64::try_from(expect.leeway.as_secs()).unwrap_or(i64::MAX);
    let now = expect.now;
    if now.saturating_sub(leeway) > claims.exp {
        return Err(IdTokenError::Expired { exp: claims.exp, now });
    }
    if claims.iat > now.saturating_add(leeway) {
        return Err(IdTokenError::NotYetValid { claim: "iat", at: claims.iat, now });
    }
    if let Some(nbf) = claims.other.get("nbf") {
        let nbf = nbf.as_i64().ok_or_else(|| IdTokenError::Malformed("`nbf` is not an integer".into()))?;
        if nbf > now.saturating_add(leeway) {
            return Err(IdTokenError::NotYetValid { claim: "nbf", at: nbf, now });
        }
    }
    if let Some(sent) = expect.nonce {
        let got = claims.nonce.as_deref().unwrap_or_default();
        let same: bool = got.as_bytes().ct_eq(sent.as_bytes()).into();
        if !same || got.is_empty() {
            return Err(IdTokenError::Nonce);
        }
    }
    Ok(())
}

/// Verify an ID token against a key set already at hand: signature, then claims. Never
/// panics, whatever the input.
pub fn verify_id_token(token: &str, keys: &JwkSet, expect: &Expectations<'_>) -> Result<IdTokenClaims, IdTokenError> {
    verify_parsed(&parse(token)?, keys, expect)
}

/// The claims of an ID token, decoded without any check. For tokens validated when they
/// were received ([`crate::Credentials::id_token_claims`]).
pub fn decode_unverified(token: &str) -> Result<IdTokenClaims, IdTokenError> {
    let payload = token.split('.').nth(1).ok_or_else(|| IdTokenError::Malformed("not a compact JWS".into()))?;
    decode_claims(&b64(payload).map_err(IdTokenError::Malformed)?)
}

// ---- discovery and the key cache ------------------------------------------------------

/// What this validator reads from a discovery document.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
}

type DiscoveryCell = Arc<tokio::sync::OnceCell<Arc<Discovery>>>;

static DISCOVERY: LazyLock<Mutex<HashMap<String, DiscoveryCell>>> = LazyLock::new(Mutex::default);

/// The key cache of one JWKS URI.
#[derive(Default)]
struct KeyCache {
    keys: JwkSet,
    /// Until when the keys are fresh (`Cache-Control: max-age`).
    fresh_until: Option<Instant>,
    /// The last fetch attempt, successful or not.
    last_attempt: Option<Instant>,
}

static JWKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<KeyCache>>>>> = LazyLock::new(Mutex::default);

/// How long keys stay fresh when the response has no `Cache-Control: max-age`.
const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(300);
/// The longest a `max-age` is believed.
const MAX_JWKS_TTL: Duration = Duration::from_secs(24 * 3600);
/// While no key was ever fetched (the JWKS endpoint was down at the first sign-in), fetches
/// are retried this often instead of once per cooldown: an outage of a few seconds must not
/// refuse every sign-in for a minute.
const FIRST_FETCH_RETRY: Duration = Duration::from_secs(1);

fn ttl_from(cache_control: Option<&str>) -> Duration {
    let Some(cc) = cache_control else { return DEFAULT_JWKS_TTL };
    let mut ttl = DEFAULT_JWKS_TTL;
    for directive in cc.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Duration::ZERO;
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            ttl = v.trim_matches('"').parse::<u64>().map_or(DEFAULT_JWKS_TTL, Duration::from_secs);
        }
    }
    ttl.min(MAX_JWKS_TTL)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn discovery(config: &ProviderConfig, issuer: &str) -> Result<Arc<Discovery>, IdTokenError> {
    let cell = lock(&DISCOVERY).entry(issuer.to_owned()).or_default().clone();
    cell.get_or_try_init(|| async {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let url = Url::parse(&url).map_err(|e| IdTokenError::Discovery(format!("invalid URL: {e}")))?;
        let (body, _) = crate::wire::http::get(config, &url).await.map_err(IdTokenError::Discovery)?;
        let doc: Discovery =
            serde_json::from_slice(&body).map_err(|e| IdTokenError::Discovery(format!("invalid document: {e}")))?;
        if doc.issuer != issuer {
            return Err(IdTokenError::DiscoveryIssuer { expected: issuer.to_owned(), found: doc.issuer });
        }
        Ok(Arc::new(doc))
    })
    .await
    .cloned()
}

/// Fetch the JWKS into `cache` when the cooldown allows; whether a fetch was made.
async fn fetch_keys(
    config: &ProviderConfig,
    uri: &Url,
    cache: &mut KeyCache,
    cooldown: Duration,
) -> Result<bool, IdTokenError> {
    let wait = if cache.keys.is_empty() { cooldown.min(FIRST_FETCH_RETRY) } else { cooldown };
    if cache.last_attempt.is_some_and(|t| t.elapsed() < wait) {
        return Ok(false);
    }
    cache.last_attempt = Some(Instant::now());
    let (body, cache_control) = crate::wire::http::get(config, uri).await.map_err(IdTokenError::Jwks)?;
    let keys = JwkSet::from_json(&body)?;
    cache.fresh_until = Instant::now().checked_add(ttl_from(cache_control.as_deref()));
    cache.keys = keys;
    Ok(true)
}

/// The keys to verify `parsed` with: cached, refetched when stale or when its `kid` is
/// unknown (at most once per cooldown).
async fn keys_for(
    config: &ProviderConfig,
    uri: &Url,
    kid: Option<&str>,
    cooldown: Duration,
) -> Result<JwkSet, IdTokenError> {
    let cache = lock(&JWKS).entry(uri.to_string()).or_default().clone();
    let mut cache = cache.lock().await;
    let stale = cache.fresh_until.is_none_or(|t| Instant::now() >= t);
    let mut fetched = false;
    if stale {
        match fetch_keys(config, uri, &mut cache, cooldown).await {
            Ok(f) => fetched = f,
            // Keep using the keys we have when a refetch fails; without any, fail.
            Err(e) if cache.keys.is_empty() => return Err(e),
            Err(e) => tracing::warn!(error = %e, "JWKS refetch failed; using the cached keys"),
        }
    }
    if let Some(kid) = kid
        && !fetched
        && !cache.keys.has_kid(kid)
    {
        fetch_keys(config, uri, &mut cache, cooldown).await?;
    }
    if cache.keys.is_empty() && cache.fresh_until.is_none() {
        // Never fetched: the last attempt failed moments ago. Say so, not "unknown key".
        return Err(IdTokenError::Jwks("the provider's keys could not be fetched yet; try again".into()));
    }
    Ok(cache.keys.clone())
}

/// The signing algorithms allowed for `config`'s provider: the spec's list, else those of
/// the discovery document this validator supports, else RS256.
fn algorithms(config: &ProviderConfig, discovery: Option<&Discovery>) -> Vec<IdTokenAlgorithm> {
    let spec = &config.spec().oidc_algorithms;
    if !spec.is_empty() {
        return spec.to_vec();
    }
    let from_doc: Vec<_> = discovery
        .map(|d| {
            d.id_token_signing_alg_values_supported.iter().filter_map(|a| IdTokenAlgorithm::from_name(a)).collect()
        })
        .unwrap_or_default();
    if from_doc.is_empty() { vec![IdTokenAlgorithm::Rs256] } else { from_doc }
}

/// Validate an ID token for `config`'s provider and client: fetch (or reuse) the
/// provider's keys, verify the signature, check the claims. `nonce` is the one sent with
/// the authorization request (`None` on refresh).
pub async fn validate_id_token(
    config: &ProviderConfig,
    token: &str,
    nonce: Option<&str>,
) -> Result<IdTokenClaims, Error> {
    let issuer = config.issuer()?.ok_or(IdTokenError::NoIssuer)?;
    let options = config.oidc_options();
    let parsed = parse(token)?;
    let spec = config.spec();
    // The spec's `jwks_uri` and `algorithms` together spare the discovery request.
    let discovery = if spec.oidc_jwks_uri.is_none() || spec.oidc_algorithms.is_empty() {
        Some(discovery(config, &issuer).await?)
    } else {
        None
    };
    let allowed = algorithms(config, discovery.as_deref());
    // Refuse a bad `alg` before any key fetch.
    check_alg(&parsed, &allowed)?;
    let uri = match (spec.oidc_jwks_uri.as_deref(), &discovery) {
        (Some(t), _) => config.render(t)?,
        (None, Some(d)) => d.jwks_uri.clone(),
        (None, None) => return Err(IdTokenError::Discovery("no `jwks_uri`".into()).into()),
    };
    let uri = Url::parse(&uri).map_err(|e| IdTokenError::Jwks(format!("invalid `jwks_uri`: {e}")))?;
    crate::wire::http::require_tls(&format!("the `{}` jwks_uri", spec.id), &uri)?;
    let keys = keys_for(config, &uri, parsed.kid.as_deref(), options.jwks_cooldown).await?;
    let client_id = config.client_id().as_str();
    let expect = Expectations {
        issuer: &issuer,
        client_id,
        algorithms: &allowed,
        nonce,
        leeway: options.leeway,
        now: Utc::now().timestamp(),
    };
    Ok(verify_parsed(&parsed, &keys, &expect)?)
}

/// A random nonce: 32 bytes from the system's generator, base64url.
pub(crate) fn new_nonce() -> String {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // Fall back on oauth2's generator (the same one `state` uses).
        return oauth2::CsrfToken::new_random_len(32).secret().clone();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{self as sig, KeyPair as _};

    fn enc(b: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    fn claims(now: i64) -> Value {
        serde_json::json!({"iss": "https://op.test", "sub": "u1", "aud": "client", "exp": now + 300, "iat": now, "nonce": "n-1"})
    }

    fn expect(now: i64, algs: &[IdTokenAlgorithm]) -> Expectations<'_> {
        Expectations {
            issuer: "https://op.test",
            client_id: "client",
            algorithms: algs,
            nonce: Some("n-1"),
            leeway: Duration::from_secs(60),
            now,
        }
    }

    fn signing_input(alg: &str, kid: &str, claims: &Value) -> String {
        let header = serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT"});
        format!("{}.{}", enc(header.to_string().as_bytes()), enc(claims.to_string().as_bytes()))
    }

    struct Keys {
        ec: sig::EcdsaKeyPair,
        ed: sig::Ed25519KeyPair,
        set: JwkSet,
    }

    fn keys() -> Keys {
        let rng = SystemRandom::new();
        let pkcs8 = sig::EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let ec = sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let pkcs8 = sig::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ed = sig::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let point = ec.public_key().as_ref();
        let jwks = serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "ec1", "x": enc(&point[1..33]), "y": enc(&point[33..])},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed1", "x": enc(ed.public_key().as_ref())},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        ]});
        let set = JwkSet::from_json(jwks.to_string().as_bytes()).unwrap();
        Keys { ec, ed, set }
    }

    fn es256(k: &Keys, kid: &str, claims: &Value) -> String {
        let input = signing_input("ES256", kid, claims);
        let s = k.ec.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", enc(s.as_ref()))
    }

    const ALL: &[IdTokenAlgorithm] =
        &[IdTokenAlgorithm::Rs256, IdTokenAlgorithm::Ps256, IdTokenAlgorithm::Es256, IdTokenAlgorithm::EdDsa];

    #[test]
    fn es256_and_eddsa_verify_and_claims_are_typed() {
        let k = keys();
        assert_eq!(k.set.len(), 2, "the HMAC key is skipped");
        let now = Utc::now().timestamp();
        let c = verify_id_token(&es256(&k, "ec1", &claims(now)), &k.set, &expect(now, ALL)).unwrap();
        assert_eq!((c.sub.as_str(), c.aud.values()), ("u1", &["client".to_owned()][..]));
        let input = signing_input("EdDSA", "ed1", &claims(now));
        let token = format!("{input}.{}", enc(k.ed.sign(input.as_bytes()).as_ref()));
        verify_id_token(&token, &k.set, &expect(now, ALL)).unwrap();
        // Not allowed by the caller: refused before the signature.
        let err = verify_id_token(&token, &k.set, &expect(now, &[IdTokenAlgorithm::Rs256])).unwrap_err();
        assert!(matches!(err, IdTokenError::Algorithm { .. }), "{err:?}");
    }

    #[test]
    fn rs256_and_ps256_verify() {
        let key = sig::RsaKeyPair::from_der(include_bytes!("../tests/keys/rsa1.der")).unwrap();
        let public = sig::RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
        let jwks = serde_json::json!({"keys": [{"kty": "RSA", "kid": "r1", "n": enc(&public.n), "e": enc(&public.e)}]});
        let set = JwkSet::from_json(jwks.to_string().as_bytes()).unwrap();
        let now = Utc::now().timestamp();
        for (alg, padding) in [
            ("RS256", &sig::RSA_PKCS1_SHA256 as &dyn sig::RsaEncoding),
            ("PS256", &sig::RSA_PSS_SHA256 as &dyn sig::RsaEncoding),
        ] {
            let input = signing_input(alg, "r1", &claims(now));
            let mut s = vec![0; key.public().modulus_len()];
            key.sign(padding, &SystemRandom::new(), input.as_bytes(), &mut s).unwrap();
            let token = format!("{input}.{}", enc(&s));
            verify_id_token(&token, &set, &expect(now, ALL)).unwrap();
            // The same signature under the other RSA algorithm does not verify.
            let other = if alg == "RS256" { "PS256" } else { "RS256" };
            let swapped = format!("{}.{}", signing_input(other, "r1", &claims(now)), enc(&s));
            assert_eq!(verify_id_token(&swapped, &set, &expect(now, ALL)).unwrap_err(), IdTokenError::Signature);
        }
    }

    #[test]
    fn every_failure_has_its_reason() {
        let k = keys();
        let now = Utc::now().timestamp();
        let check = |token: &str, e: &Expectations<'_>| verify_id_token(token, &k.set, e).unwrap_err();
        let mut c = claims(now);
        c["exp"] = (now - 120).into();
        assert!(matches!(check(&es256(&k, "ec1", &c), &expect(now, ALL)), IdTokenError::Expired { .. }));
        c = claims(now);
        c["exp"] = (now - 30).into();
        verify_id_token(&es256(&k, "ec1", &c), &k.set, &expect(now, ALL)).unwrap();
        c = claims(now);
        c["iat"] = (now + 600).into();
        assert!(matches!(check(&es256(&k, "ec1", &c), &expect(now, ALL)), IdTokenError::NotYetValid { .. }));
        c = claims(now);
        c["aud"] = "other".into();
        assert!(matches!(check(&es256(&k, "ec1", &c), &expect(now, ALL)), IdTokenError::Audience { .. }));
        c["aud"] = serde_json::json!(["client", "other"]);
        assert!(matches!(check(&es256(&k, "ec1", &c), &expect(now, ALL)), IdTokenError::AuthorizedParty { .. }));
        c["azp"] = "client".into();
        verify_id_token(&es256(&k, "ec1", &c), &k.set, &expect(now, ALL)).unwrap();
        c = claims(now);
        c["iss"] = "https://op.test/".into();
        assert!(matches!(check(&es256(&k, "ec1", &c), &expect(now, ALL)), IdTokenError::Issuer { .. }));
        c = claims(now);
        c["nonce"] = "n-2".into();
        assert_eq!(check(&es256(&k, "ec1", &c), &expect(now, ALL)), IdTokenError::Nonce);
        c.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check(&es256(&k, "ec1", &c), &expect(now, ALL)), IdTokenError::Nonce);
        let mut no_nonce = expect(now, ALL);
        no_nonce.nonce = None;
        verify_id_token(&es256(&k, "ec1", &c), &k.set, &no_nonce).unwrap();
        // A `kid` the set does not have, and a key of the wrong type for the alg.
        let unknown = check(&es256(&k, "nope", &claims(now)), &expect(now, ALL));
        assert!(matches!(unknown, IdTokenError::UnknownKey { .. }));
        assert!(matches!(check(&es256(&k, "ed1", &claims(now)), &expect(now, ALL)), IdTokenError::UnknownKey { .. }));
        // A tampered payload.
        let token = es256(&k, "ec1", &claims(now));
        let mut forged = claims(now);
        forged["sub"] = "admin".into();
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], enc(forged.to_string().as_bytes()), parts[2]);
        assert_eq!(check(&tampered, &expect(now, ALL)), IdTokenError::Signature);
        // `none` and HMAC are never accepted.
        for alg in ["none", "HS256", "HS512", "RS512"] {
            let token = format!("{}.", signing_input(alg, "ec1", &claims(now)));
            assert!(matches!(check(&token, &expect(now, ALL)), IdTokenError::Algorithm { .. }), "{alg}");
        }
        let crit =
            format!("{}.{}.x", enc(br#"{"alg":"ES256","crit":["exp"]}"#), enc(claims(now).to_string().as_bytes()));
        assert_eq!(check(&crit, &expect(now, ALL)), IdTokenError::CriticalHeader);
        assert!(matches!(check("a.b", &expect(now, ALL)), IdTokenError::Malformed(_)));
    }

    #[test]
    fn cache_control_ttl() {
        assert_eq!(ttl_from(Some("public, max-age=120")), Duration::from_secs(120));
        assert_eq!(ttl_from(Some("no-store")), Duration::ZERO);
        assert_eq!(ttl_from(None), DEFAULT_JWKS_TTL);
        assert_eq!(ttl_from(Some("max-age=99999999")), MAX_JWKS_TTL);
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                "[a-zA-Z0-9_ .:-]{0,12}".prop_map(Value::from),
                prop_oneof![Just("RS256"), Just("ES256"), Just("none"), Just("HS256"), Just("EdDSA")]
                    .prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 24, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    prop::collection::btree_map(
                        prop_oneof![
                            Just("alg".to_owned()),
                            Just("kid".to_owned()),
                            Just("iss".to_owned()),
                            Just("aud".to_owned()),
                            Just("exp".to_owned()),
                            Just("iat".to_owned()),
                            Just("nbf".to_owned()),
                            Just("nonce".to_owned()),
                            Just("azp".to_owned()),
                            Just("sub".to_owned()),
                            "[a-z]{1,5}",
                        ],
                        inner,
                        0..8,
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn arbitrary_strings(token in ".{0,200}") {
                let k = JwkSet::default();
                let _ = verify_id_token(&token, &k, &expect(0, ALL));
                let _ = decode_unverified(&token);
                let _ = JwkSet::from_json(token.as_bytes());
            }

            #[test]
            fn arbitrary_headers_and_claims(header in json(), claims in json(), sig in prop::collection::vec(any::<u8>(), 0..80), now in any::<i64>()) {
                let k = keys();
                let token = format!("{}.{}.{}", enc(header.to_string().as_bytes()), enc(claims.to_string().as_bytes()), enc(&sig));
                let _ = verify_id_token(&token, &k.set, &expect(now, ALL));
                let _ = decode_unverified(&token);
                if let Ok(c) = serde_json::from_value::<IdTokenClaims>(claims.clone()) {
                    let _ = check_claims(&c, &expect(now, ALL));
                }
                let _ = JwkSet::from_json(serde_json::json!({"keys": [header, claims]}).to_string().as_bytes());
            }
        }
    }
}
