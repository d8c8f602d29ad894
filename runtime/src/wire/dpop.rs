//! DPoP (RFC 9449): tokens bound to a key pair of the client's. Each request that uses or
//! obtains such a token carries a proof, a JWT signed with the private key whose header holds
//! the public key; a stolen DPoP-bound token is useless without the key.
//!
//! A grant gets a fresh P-256 key ([`DpopKey::generate`]), kept in its
//! [`Credentials`](crate::Credentials) so that refreshes and resource requests prove
//! possession of the same key; stores hold it with the tokens (encrypted where the store
//! encrypts). Servers may demand a nonce of theirs in proofs (`use_dpop_nonce`): the nonces
//! they send (`DPoP-Nonce`) are kept per origin and a refused request is sent once more with
//! the new one.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::error::Error;

/// The header that carries a DPoP proof, and the one that carries a server's nonce.
pub(crate) const DPOP: &str = "dpop";
pub(crate) const DPOP_NONCE: &str = "dpop-nonce";

/// A DPoP key pair (P-256, ES256). Cloning is cheap. It serializes as its PKCS#8 DER,
/// base64url: the private key, which [`Credentials`](crate::Credentials) keep with the tokens
/// it is bound to. `Debug` shows only the key's thumbprint.
#[derive(Clone)]
pub struct DpopKey(Arc<KeyPair>);

struct KeyPair {
    pkcs8: Zeroizing<Vec<u8>>,
    key: EcdsaKeyPair,
    /// The public key as a JWK: `kty`, `crv`, `x`, `y`.
    jwk: Value,
    /// RFC 7638 thumbprint of `jwk` (the `jkt` tokens are bound to).
    thumbprint: String,
}

impl DpopKey {
    /// A new random key.
    ///
    /// # Errors
    ///
    /// The system has no randomness ([`Error::Signing`]).
    pub fn generate() -> Result<Self, Error> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| Error::Signing("cannot generate a DPoP key".into()))?;
        Self::from_pkcs8(pkcs8.as_ref()).map_err(Error::Signing)
    }

    /// The key in `der` (PKCS#8, P-256), or why not: how stored credentials read it back.
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
            .map_err(|e| format!("not a P-256 PKCS#8 private key: {e}"))?;
        let point = key.public_key().as_ref();
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..]));
        // RFC 7638: the required members, in lexicographic order, without white space.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()));
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y });
        Ok(Self(Arc::new(KeyPair { pkcs8: Zeroizing::new(der.to_vec()), key, jwk, thumbprint })))
    }

    /// The RFC 7638 thumbprint of the public key: the `jkt` a bound token names.
    pub fn thumbprint(&self) -> &str {
        &self.0.thumbprint
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> &Value {
        &self.0.jwk
    }

    /// A proof for a `method` request to `url` (`htu` is the URL without query and fragment),
    /// with `ath` for `access_token` when the request carries one, and the server's `nonce`
    /// when it asked for one.
    ///
    /// # Errors
    ///
    /// No randomness for `jti`, or the signature fails ([`Error::Signing`]).
    pub fn proof(
        &self,
        method: &str,
        url: &url::Url,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, Error> {
        let rng = SystemRandom::new();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti).map_err(|_| Error::Signing("no randomness for a DPoP `jti`".into()))?;
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let mut claims = Map::new();
        claims.insert("jti".into(), Value::String(URL_SAFE_NO_PAD.encode(jti)));
        claims.insert("htm".into(), Value::String(method.to_owned()));
        claims.insert("htu".into(), Value::String(htu.into()));
        claims.insert("iat".into(), Value::from(chrono::Utc::now().timestamp()));
        if let Some(token) = access_token {
            let hash = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
            claims.insert("ath".into(), Value::String(URL_SAFE_NO_PAD.encode(hash)));
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), Value::String(nonce.to_owned()));
        }
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.0.jwk });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
        );
        let signature =
            self.0.key.sign(&rng, input.as_bytes()).map_err(|_| Error::Signing("DPoP proof signing failed".into()))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())))
    }
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey").field("thumbprint", &self.0.thumbprint).finish_non_exhaustive()
    }
}

impl PartialEq for DpopKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.thumbprint == other.0.thumbprint
    }
}

impl Serialize for DpopKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(&*self.0.pkcs8))
    }
}

impl<'de> Deserialize<'de> for DpopKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        let der = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| serde::de::Error::custom("the DPoP key is not base64url"))?,
        );
        Self::from_pkcs8(&der).map_err(serde::de::Error::custom)
    }
}

/// The latest DPoP nonce each server (by origin) gave; shared by the clones of a provider's
/// configuration and by its authorized clients.
#[derive(Debug, Clone, Default)]
pub(crate) struct Nonces(Arc<Mutex<HashMap<String, String>>>);

impl Nonces {
    /// The nonce to put in a proof for `url`.
    pub(crate) fn get(&self, url: &url::Url) -> Option<String> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&origin(url)).cloned()
    }

    /// Keep the `DPoP-Nonce` of a response from `url`, when it has a valid one (RFC 9449
    /// section 8.1: NQCHAR, at least one); that nonce.
    pub(crate) fn remember(&self, url: &url::Url, headers: &http::HeaderMap) -> Option<String> {
        let nonce = headers.get(DPOP_NONCE).and_then(|v| v.to_str().ok())?;
        if nonce.is_empty() || !nonce.chars().all(|c| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c))
        {
            return None;
        }
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(origin(url), nonce.to_owned());
        Some(nonce.to_owned())
    }
}

fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// A `401` that asks for a DPoP nonce ([`asks_for_nonce`]).
pub(crate) fn refused_for_nonce(response: &reqwest::Response) -> bool {
    response.status() == reqwest::StatusCode::UNAUTHORIZED && asks_for_nonce(response.headers())
}

/// An `Authorization` value: `scheme` (`Bearer`, `DPoP`) and the token, marked sensitive.
pub(crate) fn credential(scheme: &str, token: &str) -> Result<http::HeaderValue, Error> {
    let mut value =
        http::HeaderValue::from_str(&format!("{scheme} {token}")).map_err(|_| Error::MalformedResponse {
            status: 200,
            reason: "the access token holds characters not allowed in a header".into(),
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Whether a resource server's `401` asks for a DPoP nonce: a `DPoP` challenge whose
/// `error` is `use_dpop_nonce` (RFC 9449 section 9), in any `WWW-Authenticate` field, also
/// beside other challenges.
pub(crate) fn asks_for_nonce(headers: &http::HeaderMap) -> bool {
    headers.get_all(http::header::WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).any(|value| {
        challenges(value).iter().any(|(scheme, params)| {
            scheme.eq_ignore_ascii_case("dpop")
                && params.iter().any(|(k, v)| k.eq_ignore_ascii_case("error") && v == "use_dpop_nonce")
        })
    })
}

/// The challenges of a `WWW-Authenticate` value (RFC 9110 section 11.6.1): each scheme with
/// its `name=value` parameters, quoted strings unquoted.
fn challenges(value: &str) -> Vec<(String, Vec<(String, String)>)> {
    // Split at commas outside quoted strings.
    let mut items = Vec::new();
    let (mut current, mut quoted, mut escaped) = (String::new(), false, false);
    for c in value.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        // A new challenge starts with a scheme: a token followed by a space or the end.
        let (first, rest) = item.split_once(' ').map_or((item, ""), |(f, r)| (f, r.trim()));
        let param = if first.contains('=') {
            item
        } else {
            out.push((first.to_owned(), Vec::new()));
            rest
        };
        if let (Some((name, value)), Some(last)) = (param.split_once('='), out.last_mut()) {
            let value = value.trim();
            let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
            last.1.push((name.trim().to_owned(), value.to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(jwt: &str, i: usize) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(i).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn a_proof_is_signed_by_the_key_in_its_header_and_names_the_request() {
        let key = DpopKey::generate().unwrap();
        let url = url::Url::parse("https://api.example/v1/items?page=2#top").unwrap();
        let proof = key.proof("GET", &url, Some("token-1"), Some("n-1")).unwrap();
        let (header, claims) = (part(&proof, 0), part(&proof, 1));
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(&header["jwk"], key.public_jwk());
        assert!(header["jwk"].get("d").is_none(), "no private part in the header");
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], "https://api.example/v1/items");
        assert_eq!(claims["nonce"], "n-1");
        let ath = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, b"token-1"));
        assert_eq!(claims["ath"], ath);
        assert!((claims["iat"].as_i64().unwrap() - chrono::Utc::now().timestamp()).abs() < 5);
        let again = key.proof("GET", &url, Some("token-1"), Some("n-1")).unwrap();
        assert_ne!(part(&again, 1)["jti"], claims["jti"], "a fresh jti each time");

        // The signature verifies with the public key of the header.
        let (input, signature) = proof.rsplit_once('.').unwrap();
        let jwk = &header["jwk"];
        let mut point = vec![4u8];
        point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
            .unwrap();
    }

    #[test]
    fn the_key_round_trips_through_serde_and_debug_hides_it() {
        let key = DpopKey::generate().unwrap();
        let stored = serde_json::to_string(&key).unwrap();
        let back: DpopKey = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, key);
        assert_eq!(back.thumbprint(), key.thumbprint());
        assert_eq!(key.thumbprint().len(), 43, "SHA-256, base64url");
        let shown = format!("{key:?}");
        assert!(shown.contains(key.thumbprint()) && !shown.contains(stored.trim_matches('"')), "{shown}");
        let bad: Result<DpopKey, _> = serde_json::from_str(r#""bm90IGEga2V5""#);
        assert!(bad.unwrap_err().to_string().contains("PKCS#8"));
    }

    /// The RFC 7638 section 3.1 example's method, on a P-256 key: the thumbprint is the
    /// SHA-256 of the canonical JWK.
    #[test]
    fn thumbprint_is_of_the_canonical_jwk() {
        let key = DpopKey::generate().unwrap();
        let jwk = key.public_jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        let expected = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()));
        assert_eq!(key.thumbprint(), expected);
    }

    #[test]
    fn nonces_are_kept_per_origin_and_bad_ones_ignored() {
        let nonces = Nonces::default();
        let a = url::Url::parse("https://as.example/token").unwrap();
        let b = url::Url::parse("https://rs.example/api").unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(DPOP_NONCE, http::HeaderValue::from_static("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
        assert_eq!(nonces.remember(&a, &headers).as_deref(), Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
        assert_eq!(nonces.get(&a).as_deref(), Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
        assert_eq!(nonces.get(&b), None);
        headers.insert(DPOP_NONCE, http::HeaderValue::from_static("has\"quote"));
        assert_eq!(nonces.remember(&b, &headers), None);
        assert_eq!(nonces.get(&b), None, "a bad nonce is not kept");

        let mut www = http::HeaderMap::new();
        www.insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static(
                r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#,
            ),
        );
        assert!(asks_for_nonce(&www));
        www.insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static(r#"Bearer error="invalid_token""#));
        assert!(!asks_for_nonce(&www));
        // Beside another challenge; and the words only in a description do not count.
        www.insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static(r#"Bearer realm="api", DPoP algs="ES256", error="use_dpop_nonce""#),
        );
        assert!(asks_for_nonce(&www));
        www.insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static(
                r#"DPoP error="invalid_token", error_description="not use_dpop_nonce, a, b""#,
            ),
        );
        assert!(!asks_for_nonce(&www));
        www.insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static(r#"Bearer error="use_dpop_nonce""#));
        assert!(!asks_for_nonce(&www), "only a DPoP challenge");
    }
}
