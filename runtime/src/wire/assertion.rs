//! Client assertions (RFC 7523 section 2.2, OpenID Connect Core section 9): the client
//! proves itself with a short-lived JWT instead of sending a secret. `private_key_jwt` signs
//! it with the client's private key ([`ClientKey`]: RSA, P-256 or Ed25519, from PEM or a
//! JWK), `client_secret_jwt` with the client secret (HS256).
//!
//! Every assertion has `iss` and `sub` = the client id, `aud` = the token endpoint, a unique
//! `jti`, `iat` and an `exp` 60 seconds later. The same assertion is never sent twice: each
//! authenticated request signs a fresh one.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::service_account::KeyError;

/// The `client_assertion_type` of JWT client assertions.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid: long enough for one request, short enough that a
/// captured one is soon useless.
pub(crate) const ASSERTION_LIFETIME: i64 = 60;

/// A client's private key for `private_key_jwt`, parsed once. `Debug` shows no key material.
pub struct ClientKey {
    key: Signer,
    key_id: Option<String>,
}

enum Signer {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("algorithm", &self.algorithm())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn bad(what: impl fmt::Display) -> KeyError {
    KeyError(what.to_string())
}

impl ClientKey {
    /// A private key in PEM: PKCS#8 (`PRIVATE KEY`: RSA, EC P-256 or Ed25519) or PKCS#1
    /// (`RSA PRIVATE KEY`).
    ///
    /// # Errors
    ///
    /// Not PEM, another kind of block (an encrypted key, a SEC1 `EC PRIVATE KEY`: convert it
    /// with `openssl pkcs8 -topk8 -nocrypt`), or a key `ring` refuses.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) = crate::grants::service_account::pem_der(pem)?;
        let rng = SystemRandom::new();
        let key = match label.as_str() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der)
                .map(Signer::Rsa)
                .or_else(|_| EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).map(Signer::P256))
                .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map(Signer::Ed25519))
                .map_err(|_| bad("the PKCS#8 key is not an RSA, P-256 or Ed25519 private key `ring` accepts"))?,
            "RSA PRIVATE KEY" => {
                Signer::Rsa(RsaKeyPair::from_der(&der).map_err(|e| bad(format!("the RSA key is rejected: {e}")))?)
            }
            "EC PRIVATE KEY" => {
                return Err(bad(
                    "a SEC1 `EC PRIVATE KEY` block: convert it to PKCS#8 (`openssl pkcs8 -topk8 -nocrypt`)",
                ));
            }
            other => return Err(bad(format!("a `{other}` PEM block is not an unencrypted private key"))),
        };
        Ok(Self { key, key_id: None })
    }

    /// A private JWK (RFC 7517: `kty` `RSA`, `EC` with `crv` `P-256`, or `OKP` with `crv`
    /// `Ed25519`), or a JWK set holding one private key. Its `kid` becomes the key id.
    ///
    /// # Errors
    ///
    /// Not JSON, no private key, or a key of another type or curve.
    pub fn from_jwk(json: &str) -> Result<Self, KeyError> {
        let value: Value = serde_json::from_str(json).map_err(|e| bad(format!("not a JWK: {e}")))?;
        let jwk = match value.get("keys") {
            Some(Value::Array(keys)) => {
                let private: Vec<&Value> = keys.iter().filter(|k| k.get("d").is_some()).collect();
                match private.as_slice() {
                    [one] => *one,
                    [] => return Err(bad("the JWK set holds no private key")),
                    _ => return Err(bad("the JWK set holds several private keys: give one")),
                }
            }
            _ => &value,
        };
        let Some(jwk) = jwk.as_object() else { return Err(bad("a JWK is a JSON object")) };
        let part = |name: &str| -> Result<Vec<u8>, KeyError> {
            let s = jwk.get(name).and_then(Value::as_str).ok_or_else(|| bad(format!("the JWK has no `{name}`")))?;
            URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|_| bad(format!("the JWK's `{name}` is not base64url")))
        };
        let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
        let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or_default();
        if jwk.get("d").is_none() {
            return Err(bad("the JWK is a public key (no `d`): a private key is needed to sign"));
        }
        let key = match (kty, crv) {
            ("RSA", _) => {
                let components = ring::rsa::KeyPairComponents {
                    public_key: ring::rsa::PublicKeyComponents { n: part("n")?, e: part("e")? },
                    d: part("d")?,
                    p: part("p")?,
                    q: part("q")?,
                    dP: part("dp")?,
                    dQ: part("dq")?,
                    qInv: part("qi")?,
                };
                Signer::Rsa(
                    RsaKeyPair::from_components(&components)
                        .map_err(|e| bad(format!("the RSA key is rejected: {e}")))?,
                )
            }
            ("EC", "P-256") => {
                let mut public = vec![4u8];
                public.extend(part("x")?);
                public.extend(part("y")?);
                let key = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &part("d")?,
                    &public,
                    &SystemRandom::new(),
                )
                .map_err(|e| bad(format!("the P-256 key is rejected: {e}")))?;
                Signer::P256(key)
            }
            ("OKP", "Ed25519") => Signer::Ed25519(
                Ed25519KeyPair::from_seed_and_public_key(&part("d")?, &part("x")?)
                    .map_err(|e| bad(format!("the Ed25519 key is rejected: {e}")))?,
            ),
            (kty, crv) => {
                return Err(bad(format!(
                    "a `{kty}` key{} cannot sign client assertions here",
                    if crv.is_empty() { String::new() } else { format!(" on `{crv}`") }
                )));
            }
        };
        let key_id = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
        Ok(Self { key, key_id })
    }

    /// A key file: a JWK (or JWK set) when it holds JSON, else PEM.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or holds no key [`ClientKey::from_jwk`] or
    /// [`ClientKey::from_pem`] accepts.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
        if text.trim_start().starts_with('{') { Self::from_jwk(&text) } else { Self::from_pem(&text) }
    }

    /// The same key, with `kid` as its key id (the `kid` header of its assertions).
    #[must_use]
    pub fn with_key_id(mut self, kid: impl Into<String>) -> Self {
        self.key_id = Some(kid.into());
        self
    }

    /// The key id, when the key has one.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The JWS algorithm of its signatures: `RS256`, `ES256` or `EdDSA`.
    pub fn algorithm(&self) -> &'static str {
        match self.key {
            Signer::Rsa(_) => "RS256",
            Signer::P256(_) => "ES256",
            Signer::Ed25519(_) => "EdDSA",
        }
    }

    /// The public half as a JWK (with `kid`, `alg` and `use: sig`): what to register with
    /// the provider.
    pub fn public_jwk(&self) -> Value {
        let b64 = |b: &[u8]| Value::String(URL_SAFE_NO_PAD.encode(b));
        let mut jwk = match &self.key {
            Signer::Rsa(k) => {
                let public = k.public();
                let n: ring::rsa::PublicKeyComponents<Vec<u8>> = public.into();
                json!({ "kty": "RSA", "n": b64(&n.n), "e": b64(&n.e) })
            }
            Signer::P256(k) => {
                let point = k.public_key().as_ref();
                json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]) })
            }
            Signer::Ed25519(k) => json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref()) }),
        };
        if let Value::Object(map) = &mut jwk {
            map.insert("alg".into(), Value::String(self.algorithm().into()));
            map.insert("use".into(), Value::String("sig".into()));
            if let Some(kid) = &self.key_id {
                map.insert("kid".into(), Value::String(kid.clone()));
            }
        }
        jwk
    }

    /// A client assertion for `client_id` at `audience` (the token endpoint), issued at
    /// `issued_at` (seconds since the epoch).
    ///
    /// # Errors
    ///
    /// The signature fails ([`Error::Signing`]).
    pub fn assertion(&self, client_id: &str, audience: &str, issued_at: i64) -> Result<String, Error> {
        let mut header = Map::new();
        header.insert("alg".into(), Value::String(self.algorithm().into()));
        header.insert("typ".into(), Value::String("JWT".into()));
        if let Some(kid) = &self.key_id {
            header.insert("kid".into(), Value::String(kid.clone()));
        }
        let input = signing_input(&header, &claims(client_id, audience, issued_at)?);
        let rng = SystemRandom::new();
        let signature = match &self.key {
            Signer::Rsa(k) => {
                let mut out = vec![0; k.public().modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut out)
                    .map_err(|_| Error::Signing("RSA signing failed".into()))?;
                out
            }
            Signer::P256(k) => k
                .sign(&rng, input.as_bytes())
                .map_err(|_| Error::Signing("ECDSA signing failed".into()))?
                .as_ref()
                .to_vec(),
            Signer::Ed25519(k) => k.sign(input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// A `client_secret_jwt` assertion: HS256 keyed with the client secret.
///
/// # Errors
///
/// The random `jti` cannot be drawn ([`Error::Signing`]).
pub fn secret_assertion(client_id: &str, secret: &str, audience: &str, issued_at: i64) -> Result<String, Error> {
    let mut header = Map::new();
    header.insert("alg".into(), Value::String("HS256".into()));
    header.insert("typ".into(), Value::String("JWT".into()));
    let input = signing_input(&header, &claims(client_id, audience, issued_at)?);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, input.as_bytes());
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())))
}

fn claims(client_id: &str, audience: &str, issued_at: i64) -> Result<Map<String, Value>, Error> {
    let mut jti = [0u8; 16];
    SystemRandom::new().fill(&mut jti).map_err(|_| Error::Signing("no randomness for `jti`".into()))?;
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::String(client_id.into()));
    claims.insert("sub".into(), Value::String(client_id.into()));
    claims.insert("aud".into(), Value::String(audience.into()));
    claims.insert("jti".into(), Value::String(URL_SAFE_NO_PAD.encode(jti)));
    claims.insert("iat".into(), Value::from(issued_at));
    claims.insert("exp".into(), Value::from(issued_at.saturating_add(ASSERTION_LIFETIME)));
    Ok(claims)
}

fn signing_input(header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
    let part = |m: &Map<String, Value>| URL_SAFE_NO_PAD.encode(Value::Object(m.clone()).to_string());
    format!("{}.{}", part(header), part(claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn keys_from_pem_and_jwk_sign_verifiable_assertions() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
        );
        let key = ClientKey::from_pem(&pem).unwrap().with_key_id("k1");
        assert_eq!(key.algorithm(), "ES256");
        let jwt = key.assertion("client-1", "https://op.example/token", 1_800_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(decode(parts[0]), json!({"alg": "ES256", "typ": "JWT", "kid": "k1"}));
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(claims["aud"], "https://op.example/token");
        assert_eq!(claims["exp"], 1_800_000_060);
        let other = key.assertion("client-1", "https://op.example/token", 1_800_000_000).unwrap();
        assert_ne!(decode(other.split('.').nth(1).unwrap())["jti"], claims["jti"], "a fresh jti each time");

        // The public JWK verifies the signature.
        let jwk = key.public_jwk();
        let mut point = vec![4u8];
        point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
        let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).unwrap();
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        for (input, says) in [
            ("not pem", "BEGIN"),
            ("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", "pkcs8"),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "unencrypted"),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "RSA, P-256 or Ed25519"),
        ] {
            let err = ClientKey::from_pem(input).unwrap_err();
            assert!(err.0.to_lowercase().contains(&says.to_lowercase()), "{input}: {err}");
        }
        for (input, says) in [
            ("{", "not a JWK"),
            (r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#, "public key"),
            (r#"{"kty":"EC","crv":"P-384","d":"AA"}"#, "P-384"),
            (r#"{"kty":"RSA","d":"AA","n":"AA"}"#, "`e`"),
            (r#"{"keys":[]}"#, "no private key"),
            (r#"{"kty":"oct","k":"AA","d":"AA"}"#, "oct"),
        ] {
            let err = ClientKey::from_jwk(input).unwrap_err();
            assert!(err.0.contains(says), "{input}: {err}");
        }
    }
}
