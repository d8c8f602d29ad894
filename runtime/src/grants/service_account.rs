//! Service accounts: JWT bearer assertions (RFC 7523) signed with RS256.
//!
//! For Google the assertion is byte for byte the one Python `google-auth` builds for the same
//! key, scopes, subject and time: the same JSON layout (`json.dumps` separators, key order,
//! `\uXXXX` escapes) and RS256, which is deterministic. Other providers whose spec declares
//! `jwt_bearer` (Salesforce, DocuSign ...) get the same layout with the audience their spec
//! names.

use std::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::RsaKeyPair;
use serde::Deserialize;

use crate::Credentials;
use crate::error::{Endpoint, Error};
use crate::grants::flow::{granted, join_scopes, post_unauthenticated};
use crate::provider::ServiceAccount;
use crate::spec::{Audience, JwtAlgorithm, Subject};

/// The grant type of assertion token requests.
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Assertions live one hour, the longest Google accepts.
pub const ASSERTION_LIFETIME: i64 = 3600;

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid service-account key: {0}")]
pub struct KeyError(pub String);

/// A service account's signing key, parsed once. `Debug` shows no key material.
pub struct ServiceAccountKey {
    issuer: String,
    key_id: Option<String>,
    token_uri: Option<String>,
    key: RsaKeyPair,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("issuer", &self.issuer)
            .field("key_id", &self.key_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct GoogleKeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    client_email: String,
    #[serde(default)]
    token_uri: Option<String>,
}

pub(crate) fn pem_der(pem: &str) -> Result<(String, Vec<u8>), KeyError> {
    let begin = pem.find("-----BEGIN ").ok_or_else(|| KeyError("no PEM `-----BEGIN` line".into()))?;
    let rest = &pem[begin + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or_else(|| KeyError("malformed PEM header".into()))?;
    let label = rest[..label_end].to_owned();
    let body = &rest[label_end + 5..];
    let end = body.find("-----END ").ok_or_else(|| KeyError("no PEM `-----END` line".into()))?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD.decode(b64).map_err(|e| KeyError(format!("PEM body is not base64: {e}")))?;
    Ok((label, der))
}

impl ServiceAccountKey {
    /// A Google service-account key file (`"type": "service_account"`).
    pub fn from_google_json(text: &str) -> Result<Self, KeyError> {
        let file: GoogleKeyFile =
            serde_json::from_str(text).map_err(|e| KeyError(format!("not a service-account key file: {e}")))?;
        if let Some(kind) = &file.kind
            && kind != "service_account"
        {
            return Err(KeyError(format!("`type` is `{kind}`, expected `service_account`")));
        }
        if let Some(uri) = &file.token_uri {
            crate::wire::http::require_tls_str("the key file's `token_uri`", uri).map_err(KeyError)?;
        }
        let mut key = Self::from_pem(&file.client_email, &file.private_key, file.private_key_id)?;
        key.token_uri = file.token_uri;
        Ok(key)
    }

    /// An RSA private key in PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`), used
    /// for `issuer` (a client id, consumer key or service-account email), with an optional
    /// key id for the `kid` header.
    pub fn from_pem(issuer: &str, pem: &str, key_id: Option<String>) -> Result<Self, KeyError> {
        let (label, der) = pem_der(pem)?;
        let key = match label.as_str() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            other => return Err(KeyError(format!("a `{other}` PEM block is not an RSA private key"))),
        }
        .map_err(|e| KeyError(format!("the RSA key is rejected: {e}")))?;
        Ok(Self { issuer: issuer.to_owned(), key_id, token_uri: None, key })
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key file's token endpoint, when it names one.
    pub fn token_uri(&self) -> Option<&str> {
        self.token_uri.as_deref()
    }

    /// A JWT over `header` and `payload` (already serialised), signed RS256 or PS256.
    fn sign(&self, algorithm: JwtAlgorithm, header: &str, payload: &str) -> Result<String, Error> {
        let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let signature = crate::wire::assertion::rsa_sign(&self.key, algorithm, signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii=True`).
fn py_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

/// A JSON object as Python's `json.dumps` writes it: `", "` and `": "` separators.
fn py_object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}: {v}", py_string(k))).collect();
    format!("{{{}}}", body.join(", "))
}

/// The assertion for `provider` at time `iat` (seconds since the epoch): header
/// `{"typ", "alg", "kid"}`, claims `iat`, `exp`, `iss`, `aud`, `scope` and, when given,
/// `sub`.
pub fn assertion<P: ServiceAccount, S: AsRef<str>>(
    provider: &P,
    key: &ServiceAccountKey,
    scopes: &[S],
    subject: Option<&str>,
    iat: i64,
) -> Result<String, Error> {
    let config = provider.config();
    let spec = config.spec();
    let jwt = spec.grants.jwt_bearer.as_ref().ok_or(Error::NoGrant { provider: &spec.id, grant: "jwt_bearer" })?;
    match (jwt.subject, subject) {
        (Subject::Required, None) => {
            return Err(Error::Signing(format!("the `{}` spec requires a subject (`sub`)", spec.id)));
        }
        (Subject::Unsupported, Some(_)) => {
            return Err(Error::Signing(format!("the `{}` spec does not accept a subject (`sub`)", spec.id)));
        }
        _ => {}
    }
    let audience = match &jwt.audience {
        // The spec's own token endpoint (not an override), as google-auth does.
        Audience::TokenEndpoint | Audience::Endpoint => config.render(&spec.endpoints.token)?,
        other => config.assertion_audience(other, None)?,
    };
    let mut header = vec![("typ", py_string("JWT")), ("alg", py_string(jwt.algorithm.name()))];
    if let Some(kid) = &key.key_id {
        header.push(("kid", py_string(kid)));
    }
    let scopes = join_scopes(config, scopes);
    let mut claims = vec![
        ("iat", iat.to_string()),
        ("exp", (iat + ASSERTION_LIFETIME).to_string()),
        ("iss", py_string(&key.issuer)),
        ("aud", py_string(&audience)),
        ("scope", py_string(&scopes.join(" "))),
    ];
    if let Some(sub) = subject {
        claims.push(("sub", py_string(sub)));
    }
    key.sign(jwt.algorithm, &py_object(&header), &py_object(&claims))
}

/// Exchange a fresh assertion for an access token (RFC 7523 section 2.1), at the key file's
/// `token_uri` when it has one, else at the provider's token endpoint.
pub async fn service_account_token<P: ServiceAccount, S: AsRef<str>>(
    provider: &P,
    key: &ServiceAccountKey,
    scopes: &[S],
    subject: Option<&str>,
) -> Result<Credentials, Error> {
    let now = chrono::Utc::now().timestamp();
    let jwt = assertion(provider, key, scopes, subject, now)?;
    exchange_assertion(provider, key.token_uri(), &jwt, &join_scopes(provider.config(), scopes)).await
}

/// Exchange an assertion built elsewhere (see [`assertion`]) for an access token, at
/// `token_uri` or (when `None`, or when the token endpoint is overridden) the provider's
/// token endpoint. The URL must be `https` unless its host is loopback
/// ([`Error::InsecureUrl`]). `scopes` are recorded in the credentials when the response names none.
pub async fn exchange_assertion<P: ServiceAccount>(
    provider: &P,
    token_uri: Option<&str>,
    jwt: &str,
    scopes: &[String],
) -> Result<Credentials, Error> {
    let config = provider.config();
    let url = match token_uri {
        Some(u) if !config.has_override(Endpoint::Token) => config.parse_url(u, "service-account token_uri")?,
        _ => config.endpoint(Endpoint::Token)?,
    };
    let params = [("grant_type", GRANT_TYPE), ("assertion", jwt)];
    let dpop = config.grant_dpop_key()?;
    let response = post_unauthenticated(config, &url, &params, dpop.as_ref()).await?;
    // Refusals were errors in `post_unauthenticated`: this is a success.
    granted(&response, scopes, dpop, "token response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_json_layout() {
        let object = py_object(&[("a", py_string("x\"\u{e9}\u{1F600}")), ("n", "1".into())]);
        assert_eq!(object, r#"{"a": "x\"\u00e9\ud83d\ude00", "n": 1}"#);
    }

    #[test]
    fn bad_keys_are_clear_errors() {
        assert!(ServiceAccountKey::from_pem("iss", "not a key", None).is_err());
        let err =
            ServiceAccountKey::from_pem("iss", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", None)
                .unwrap_err();
        assert!(err.0.contains("PUBLIC KEY"), "{err}");
        let err =
            ServiceAccountKey::from_pem("iss", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", None)
                .unwrap_err();
        assert!(err.0.contains("rejected"), "{err}");
        let err =
            ServiceAccountKey::from_google_json(r#"{"type":"authorized_user","private_key":"","client_email":""}"#)
                .unwrap_err();
        assert!(err.0.contains("authorized_user"), "{err}");
    }
}
