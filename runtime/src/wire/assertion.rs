//! Client assertions (RFC 7523 section 2.2, OpenID Connect Core section 9): the client
//! proves itself with a short-lived JWT instead of sending a secret. `private_key_jwt` signs
//! it with the client's private key ([`ClientKey`]: RSA, P-256 or Ed25519, from PEM or a
//! JWK), `client_secret_jwt` with the client secret (HS256).
//!
//! Every assertion has `iss` and `sub` = the client id, `aud` = the token endpoint, a unique
//! `jti`, `iat` and `nbf` (now) and an `exp` 60 seconds later. The same assertion is never
//! sent twice: each authenticated request signs a fresh one. A spec may ask for PS256 with
//! RSA keys and for the key's certificate thumbprint in the header (`x5t#S256`, Microsoft
//! Entra ID's certificate credentials): the key then needs its certificate
//! ([`ClientKey::with_certificate`], or a PEM file holding both).

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauthgen_spec::{CertificateThumbprint, JwtAlgorithm};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
    RsaKeyPair,
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
    /// The thumbprints of the key's X.509 certificate, when it was given.
    certificate: Option<Thumbprints>,
}

/// An X.509 certificate's thumbprints, base64url: SHA-256 (`x5t#S256`) and SHA-1 (`x5t`).
#[derive(Debug)]
struct Thumbprints {
    sha256: String,
    sha1: String,
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
            .field("certificate_thumbprint", &self.certificate_thumbprint())
            .finish_non_exhaustive()
    }
}

fn bad(what: impl fmt::Display) -> KeyError {
    KeyError(what.to_string())
}

impl ClientKey {
    /// A private key in PEM: PKCS#8 (`PRIVATE KEY`: RSA, EC P-256 or Ed25519) or PKCS#1
    /// (`RSA PRIVATE KEY`). When the PEM also holds a `CERTIFICATE` (as the files Azure
    /// tools write do), it is taken as the key's certificate: [`ClientKey::with_certificate`].
    ///
    /// # Errors
    ///
    /// Not PEM, another kind of block (an encrypted key, a SEC1 `EC PRIVATE KEY`: convert it
    /// with `openssl pkcs8 -topk8 -nocrypt`), a key `ring` refuses, or a certificate that
    /// does not parse or is for another key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let blocks = pem_blocks(pem)?;
        let key_block = blocks.iter().find(|(label, _)| label.ends_with("PRIVATE KEY")).unwrap_or(&blocks[0]);
        let mut key = Self::from_der_block(key_block)?;
        // The key's own certificate among any others (a chain, a CA): the first that parses
        // and holds this key's public key. None is fine: most providers never need it.
        key.certificate = certificates(&blocks).find_map(|der| key.thumbprints_if_mine(der).ok());
        Ok(key)
    }

    fn from_der_block((label, der): &(String, Vec<u8>)) -> Result<Self, KeyError> {
        let der = der.as_slice();
        let rng = SystemRandom::new();
        let key = match label.as_str() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(der)
                .map(Signer::Rsa)
                .or_else(|_| EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng).map(Signer::P256))
                .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map(Signer::Ed25519))
                .map_err(|_| bad("the PKCS#8 key is not an RSA, P-256 or Ed25519 private key `ring` accepts"))?,
            "RSA PRIVATE KEY" => {
                Signer::Rsa(RsaKeyPair::from_der(der).map_err(|e| bad(format!("the RSA key is rejected: {e}")))?)
            }
            "EC PRIVATE KEY" => {
                return Err(bad(
                    "a SEC1 `EC PRIVATE KEY` block: convert it to PKCS#8 (`openssl pkcs8 -topk8 -nocrypt`)",
                ));
            }
            other => return Err(bad(format!("a `{other}` PEM block is not an unencrypted private key"))),
        };
        Ok(Self { key, key_id: None, certificate: None })
    }

    /// The same key with its X.509 certificate: of the `CERTIFICATE` blocks of `pem` (the
    /// certificate alone, or a chain in any order), the one that holds this key's public
    /// key. Its thumbprint names the key in assertions for providers whose spec says
    /// `client_assertion.thumbprint` (Microsoft Entra ID).
    ///
    /// # Errors
    ///
    /// No `CERTIFICATE` block, or none that parses and holds this key's public key (the
    /// reason for the first one is given).
    pub fn with_certificate(self, pem: &str) -> Result<Self, KeyError> {
        let blocks = pem_blocks(pem)?;
        let mut first_error = None;
        for der in certificates(&blocks) {
            match self.thumbprints_if_mine(der) {
                Ok(thumbprints) => return Ok(Self { certificate: Some(thumbprints), ..self }),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| bad("no `CERTIFICATE` PEM block")))
    }

    /// [`ClientKey::with_certificate`] with one certificate in DER.
    ///
    /// # Errors
    ///
    /// A certificate that does not parse, or one whose public key is not this key's.
    pub fn with_certificate_der(mut self, der: &[u8]) -> Result<Self, KeyError> {
        self.certificate = Some(self.thumbprints_if_mine(der)?);
        Ok(self)
    }

    /// The thumbprints of the DER certificate `der`, when it holds this key's public key.
    fn thumbprints_if_mine(&self, der: &[u8]) -> Result<Thumbprints, KeyError> {
        use x509_cert::der::Decode as _;
        let certificate =
            x509_cert::Certificate::from_der(der).map_err(|e| bad(format!("the certificate does not parse: {e}")))?;
        let public = certificate.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
        if public != self.public_key_bytes() {
            return Err(bad("the certificate is for another key than the private key given"));
        }
        let digest = |algorithm| URL_SAFE_NO_PAD.encode(ring::digest::digest(algorithm, der));
        Ok(Thumbprints { sha256: digest(&ring::digest::SHA256), sha1: digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY) })
    }

    /// The base64url SHA-256 thumbprint of the key's certificate (`x5t#S256`), when it was
    /// given.
    pub fn certificate_thumbprint(&self) -> Option<&str> {
        self.certificate.as_ref().map(|t| t.sha256.as_str())
    }

    /// The public key as a certificate's `subjectPublicKey` holds it: an RSA key's DER
    /// `RSAPublicKey`, a P-256 point, an Ed25519 key.
    fn public_key_bytes(&self) -> &[u8] {
        match &self.key {
            Signer::Rsa(k) => k.public().as_ref(),
            Signer::P256(k) => k.public_key().as_ref(),
            Signer::Ed25519(k) => k.public_key().as_ref(),
        }
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
        let key = Self { key, key_id, certificate: None };
        // RFC 7517 section 4.7: `x5c` holds the certificate chain, the key's own first, in
        // standard base64 DER.
        match jwk.get("x5c").and_then(Value::as_array).and_then(|chain| chain.first()) {
            Some(first) => {
                let der = first
                    .as_str()
                    .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                    .ok_or_else(|| bad("the JWK's `x5c` does not hold a base64 certificate"))?;
                key.with_certificate_der(&der)
            }
            None => Ok(key),
        }
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
            // An RSA key signs RS256 or PS256, as the provider's spec says: no `alg`, so a
            // provider that holds a registered key to its `alg` takes either.
            if !matches!(self.key, Signer::Rsa(_)) {
                map.insert("alg".into(), Value::String(self.algorithm().into()));
            }
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
        self.assertion_as(client_id, audience, issued_at, JwtAlgorithm::Rs256, None)
    }

    /// [`ClientKey::assertion`] as a spec asks: `rsa` is the algorithm of an RSA key, and
    /// `thumbprint` puts the certificate's thumbprint in the header.
    pub(crate) fn assertion_as(
        &self,
        client_id: &str,
        audience: &str,
        issued_at: i64,
        rsa: JwtAlgorithm,
        thumbprint: Option<CertificateThumbprint>,
    ) -> Result<String, Error> {
        let alg = match (&self.key, rsa) {
            (Signer::Rsa(_), rsa) => rsa.name(),
            (_, JwtAlgorithm::Rs256) => self.algorithm(),
            (_, JwtAlgorithm::Ps256) => {
                return Err(Error::Signing(format!(
                    "the provider's client assertions are PS256 (`client_assertion.algorithm`), which needs an RSA key; this key is {}",
                    self.algorithm()
                )));
            }
        };
        let mut header = Map::new();
        header.insert("alg".into(), Value::String(alg.into()));
        header.insert("typ".into(), Value::String("JWT".into()));
        if let Some(kid) = &self.key_id {
            header.insert("kid".into(), Value::String(kid.clone()));
        }
        if let Some(kind) = thumbprint {
            let certificate = self.certificate.as_ref().ok_or_else(|| {
                Error::Signing(format!(
                    "the provider names the client's key by its certificate (`{}`): give the certificate with the key (`ClientKey::with_certificate`, a PEM file holding both, or `--client-cert`)",
                    kind.header()
                ))
            })?;
            let value = match kind {
                CertificateThumbprint::Sha256 => &certificate.sha256,
                CertificateThumbprint::Sha1 => &certificate.sha1,
            };
            header.insert(kind.header().into(), Value::String(value.clone()));
        }
        let input = signing_input(&header, &claims(client_id, audience, issued_at)?);
        let rng = SystemRandom::new();
        let signature = match &self.key {
            Signer::Rsa(k) => rsa_sign(k, rsa, input.as_bytes())?,
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

/// An RSA signature of `input`: RS256 (PKCS#1 v1.5) or PS256 (PSS), both with SHA-256.
pub(crate) fn rsa_sign(key: &RsaKeyPair, algorithm: JwtAlgorithm, input: &[u8]) -> Result<Vec<u8>, Error> {
    let padding: &dyn ring::signature::RsaEncoding = match algorithm {
        JwtAlgorithm::Rs256 => &RSA_PKCS1_SHA256,
        JwtAlgorithm::Ps256 => &RSA_PSS_SHA256,
    };
    let mut out = vec![0; key.public().modulus_len()];
    key.sign(padding, &SystemRandom::new(), input, &mut out)
        .map_err(|_| Error::Signing("RSA signing failed".into()))?;
    Ok(out)
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
    claims.insert("nbf".into(), Value::from(issued_at));
    claims.insert("exp".into(), Value::from(issued_at.saturating_add(ASSERTION_LIFETIME)));
    Ok(claims)
}

/// The DER of the `CERTIFICATE` blocks among `blocks`.
fn certificates(blocks: &[(String, Vec<u8>)]) -> impl Iterator<Item = &[u8]> {
    blocks.iter().filter(|(label, _)| label == "CERTIFICATE").map(|(_, der)| der.as_slice())
}

/// The blocks of a PEM text, in order: each label and its DER; at least one. A malformed
/// block after the first ends the list (as text after a key always did).
fn pem_blocks(pem: &str) -> Result<Vec<(String, Vec<u8>)>, KeyError> {
    let mut blocks = Vec::new();
    let mut rest = pem;
    while let Some(begin) = rest.find("-----BEGIN ") {
        rest = &rest[begin..];
        match crate::grants::service_account::pem_der(rest) {
            Ok(block) => blocks.push(block),
            Err(e) if blocks.is_empty() => return Err(e),
            Err(_) => break,
        }
        // On past this block's `-----END LABEL-----` line.
        let end = rest.find("-----END ").map_or(rest.len(), |i| i + "-----END ".len());
        rest = &rest[end..];
        rest = rest.find("-----").map_or("", |i| &rest[i + 5..]);
    }
    if blocks.is_empty() {
        return Err(bad("no PEM `-----BEGIN` line"));
    }
    Ok(blocks)
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

    /// A test RSA key and its certificate in one PEM (as Azure tools write them); their
    /// thumbprints as `openssl x509 -outform DER | openssl dgst -sha256` (and `-sha1`) give
    /// them, base64url.
    const KEY_AND_CERT: &str = include_str!("../../tests/keys/client-rsa.pem");
    const X5T_S256: &str = "qep6Ouk6Ylia3oPBKBct6gLeBiaNS5jFupS5ilgbr4s";
    const X5T: &str = "nO1U9C9ga4qXNwgmb-Eb4vo31cA";

    #[test]
    fn certificate_thumbprints_and_ps256_as_a_spec_asks() {
        let key = ClientKey::from_pem(KEY_AND_CERT).unwrap();
        assert_eq!(key.certificate_thumbprint(), Some(X5T_S256));
        assert!(format!("{key:?}").contains(X5T_S256));
        let jwt = key
            .assertion_as(
                "app",
                "https://login.example/token",
                1_800_000_000,
                JwtAlgorithm::Ps256,
                Some(CertificateThumbprint::Sha256),
            )
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(decode(parts[0]), json!({"alg": "PS256", "typ": "JWT", "x5t#S256": X5T_S256}));
        assert_eq!(decode(parts[1])["nbf"], 1_800_000_000);
        let jwk = key.public_jwk();
        let component = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
        let public = ring::signature::RsaPublicKeyComponents { n: component("n"), e: component("e") };
        let input = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public.verify(&ring::signature::RSA_PSS_2048_8192_SHA256, input.as_bytes(), &signature).unwrap();
        assert!(
            public.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &signature).is_err(),
            "PSS, not PKCS#1 v1.5"
        );
        let legacy = key.assertion_as("app", "aud", 0, JwtAlgorithm::Rs256, Some(CertificateThumbprint::Sha1)).unwrap();
        assert_eq!(decode(legacy.split('.').next().unwrap()), json!({"alg": "RS256", "typ": "JWT", "x5t": X5T}));

        // The key alone, then the certificate added; a certificate of another key refused.
        let key_only = &KEY_AND_CERT[..KEY_AND_CERT.find("-----BEGIN CERTIFICATE").unwrap()];
        let bare = ClientKey::from_pem(key_only).unwrap();
        assert_eq!(bare.certificate_thumbprint(), None);
        let err = bare.assertion_as("app", "aud", 0, JwtAlgorithm::Ps256, Some(CertificateThumbprint::Sha256));
        assert!(
            matches!(&err, Err(Error::Signing(m)) if m.contains("x5t#S256") && m.contains("certificate")),
            "{err:?}"
        );
        let with = ClientKey::from_pem(key_only).unwrap().with_certificate(KEY_AND_CERT).unwrap();
        assert_eq!(with.certificate_thumbprint(), Some(X5T_S256));
        let other = include_str!("../../tests/keys/other-cert.pem");
        let err = ClientKey::from_pem(key_only).unwrap().with_certificate(other).unwrap_err();
        assert!(err.0.contains("another key"), "{err}");
        let err = ClientKey::from_pem(key_only).unwrap().with_certificate(key_only).unwrap_err();
        assert!(err.0.contains("no `CERTIFICATE`"), "{err}");
        let garbled = "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n";
        let err = ClientKey::from_pem(key_only).unwrap().with_certificate(garbled).unwrap_err();
        assert!(err.0.contains("does not parse"), "{err}");
        // A chain: another certificate (a CA's) before the key's own is passed over; a file
        // whose only certificate is another key's loads, without a certificate.
        let chain =
            format!("{key_only}{other}{}", &KEY_AND_CERT[KEY_AND_CERT.find("-----BEGIN CERTIFICATE").unwrap()..]);
        assert_eq!(ClientKey::from_pem(&chain).unwrap().certificate_thumbprint(), Some(X5T_S256));
        assert_eq!(
            ClientKey::from_pem(key_only).unwrap().with_certificate(&chain).unwrap().certificate_thumbprint(),
            Some(X5T_S256)
        );
        let foreign = ClientKey::from_pem(&format!("{key_only}{other}")).unwrap();
        assert_eq!(foreign.certificate_thumbprint(), None);
        // An RSA key's JWK names no `alg`: it signs RS256 or PS256 as the spec says.
        assert!(foreign.public_jwk().get("alg").is_none());
        // The certificate first, then the key: the same.
        let swapped = format!("{}{key_only}", &KEY_AND_CERT[KEY_AND_CERT.find("-----BEGIN CERTIFICATE").unwrap()..]);
        assert_eq!(ClientKey::from_pem(&swapped).unwrap().certificate_thumbprint(), Some(X5T_S256));
        // The same key as a JWK whose `x5c` holds the certificate.
        let jwk = ClientKey::from_jwk(include_str!("../../tests/keys/client-rsa.jwk.json")).unwrap();
        assert_eq!(jwk.certificate_thumbprint(), Some(X5T_S256));
        assert_eq!(jwk.key_id(), Some("test-client-rsa"));

        // PS256 needs an RSA key.
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
        );
        let ec = ClientKey::from_pem(&pem).unwrap();
        let err = ec.assertion_as("app", "aud", 0, JwtAlgorithm::Ps256, None).unwrap_err();
        assert!(matches!(&err, Error::Signing(m) if m.contains("RSA key")), "{err:?}");
        assert!(
            ec.assertion_as("app", "aud", 0, JwtAlgorithm::Rs256, None).unwrap().starts_with("eyJhbGciOiJFUzI1NiI")
        );
    }
}
