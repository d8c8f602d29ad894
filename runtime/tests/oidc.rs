//! OpenID Connect relying party against a scripted provider on 127.0.0.1 that signs its own
//! ID tokens (`runtime/tests/keys/*.der`: RSA 2048, PKCS#1 DER, made with `openssl genpkey`): forged
//! tokens are refused with a typed reason and no credentials, keys rotate, and a flood of
//! unknown `kid`s costs at most one JWKS fetch per cooldown.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use ring::signature as sig;
use serde_json::{Value, json};
use support::{MockServer, Reply};

use oauthgen_runtime::{
    Callback, Credentials, Error, IdTokenError, OidcOptions, Provider, authorize_url, exchange, refresh,
    validate_id_token,
};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/mockop.yaml")]
struct MockOp;

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/mockop_strict.yaml")]
struct MockOpStrict;

const REDIRECT: &str = "http://127.0.0.1:9/cb";
const CLIENT: &str = "client-1";

fn enc(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn rsa(n: u8) -> Arc<sig::RsaKeyPair> {
    let der: &[u8] = if n == 1 { include_bytes!("keys/rsa1.der") } else { include_bytes!("keys/rsa2.der") };
    Arc::new(sig::RsaKeyPair::from_der(der).unwrap())
}

fn jwk(kid: &str, key: &sig::RsaKeyPair) -> Value {
    let public = sig::RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
    json!({
        "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
        "n": enc(&public.n),
        "e": enc(&public.e),
    })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A signed (or forged) compact JWS.
fn sign(alg: &str, kid: &str, key: &sig::RsaKeyPair, claims: &Value) -> String {
    let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
    let input = format!("{}.{}", enc(header.to_string().as_bytes()), enc(claims.to_string().as_bytes()));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(&sig::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), input.as_bytes(), &mut signature).unwrap();
    format!("{input}.{}", enc(&signature))
}

/// The scripted provider: discovery, a JWKS whose keys the test sets (fetches counted), and
/// a token endpoint answering with the ID token the test sets.
struct Op {
    server: MockServer,
    issuer: String,
    published: Arc<Mutex<Vec<Value>>>,
    jwks_fetches: Arc<AtomicUsize>,
    /// While set, the JWKS endpoint answers 503.
    jwks_down: Arc<std::sync::atomic::AtomicBool>,
    id_token: Arc<Mutex<Option<String>>>,
}

impl Op {
    async fn start() -> Self {
        let port = Arc::new(OnceLock::<u16>::new());
        let published = Arc::new(Mutex::new(vec![jwk("k1", &rsa(1))]));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let id_token = Arc::new(Mutex::new(None::<String>));
        let jwks_down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, keys, fetches, token) = (port.clone(), published.clone(), jwks_fetches.clone(), id_token.clone());
        let down = jwks_down.clone();
        let server = MockServer::start(move |seen| {
            let issuer = format!("http://127.0.0.1:{}", p.get().copied().unwrap_or_default());
            match seen.path() {
                "/.well-known/openid-configuration" => Reply::json(
                    200,
                    json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks"),
                           "id_token_signing_alg_values_supported": ["RS256"]})
                    .to_string(),
                ),
                "/jwks" | "/keys" => {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    if down.load(Ordering::SeqCst) {
                        return Reply::json(503, r#"{"error":"temporarily_unavailable"}"#);
                    }
                    Reply::json(200, json!({"keys": *keys.lock().unwrap()}).to_string())
                        .with_header("cache-control", "public, max-age=3600")
                }
                "/token" => {
                    let mut body = json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600,
                                          "refresh_token": "rt-1"});
                    if let Some(t) = token.lock().unwrap().clone() {
                        body["id_token"] = t.into();
                    }
                    Reply::json(200, body.to_string())
                }
                _ => Reply::json(404, "{}"),
            }
        })
        .await;
        port.set(server.port).unwrap();
        let issuer = format!("http://127.0.0.1:{}", server.port);
        Self { server, issuer, published, jwks_fetches, jwks_down, id_token }
    }

    fn provider(&self) -> MockOp {
        MockOp::new(self.server.port.to_string(), CLIENT, "secret")
    }

    fn claims(&self, nonce: Option<&str>) -> Value {
        let mut c = json!({"iss": self.issuer, "sub": "user-1", "aud": CLIENT, "exp": now() + 300, "iat": now(),
                           "email": "u@example.test", "email_verified": true});
        if let Some(n) = nonce {
            c["nonce"] = n.into();
        }
        c
    }

    fn will_issue(&self, token: String) {
        *self.id_token.lock().unwrap() = Some(token);
    }

    fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

/// Start an authorization, let `forge` make the ID token from the valid claims (with the
/// nonce sent), and exchange a code for it.
async fn log_in(op: &Op, provider: &MockOp, forge: impl FnOnce(Value) -> String) -> Result<Credentials, Error> {
    let auth = authorize_url(provider, REDIRECT, MockOpScope::DEFAULT).unwrap();
    assert!(auth.pending.uses_nonce(), "openid requested from an OpenID provider");
    let nonce = auth.url.query_pairs().find(|(k, _)| k == "nonce").map(|(_, v)| v.into_owned()).expect("nonce sent");
    assert!(nonce.len() >= 32 && nonce.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    op.will_issue(forge(op.claims(Some(&nonce))));
    let callback = Callback::from_pairs([("code", "code-1"), ("state", auth.pending.state())]).unwrap();
    exchange(provider, &auth.pending, &callback).await
}

fn reason(result: Result<Credentials, Error>) -> IdTokenError {
    match result {
        Err(Error::IdToken { reason }) => reason,
        Err(other) => panic!("expected an ID token error, got {other:?}"),
        Ok(_) => panic!("a forged ID token was accepted"),
    }
}

#[tokio::test]
async fn valid_tokens_are_accepted_on_exchange_and_refresh() {
    let op = Op::start().await;
    let provider = op.provider();
    let key = rsa(1);
    let mut credentials = log_in(&op, &provider, |c| sign("RS256", "k1", &key, &c)).await.unwrap();
    let claims = credentials.id_token_claims().expect("claims");
    assert_eq!(
        (claims.sub.as_str(), claims.email.as_deref(), claims.email_verified),
        ("user-1", Some("u@example.test"), Some(true))
    );
    assert_eq!(op.fetches(), 1);

    // Refresh: a new ID token (no nonce) is validated and replaces the old one.
    let mut fresh = op.claims(None);
    fresh["iat"] = (now() + 1).into();
    fresh["name"] = "Renamed".into();
    let new_token = sign("RS256", "k1", &key, &fresh);
    op.will_issue(new_token.clone());
    refresh(&provider, &mut credentials).await.unwrap();
    assert_eq!(credentials.id_token.as_ref().unwrap().secret(), new_token);
    assert_eq!(credentials.id_token_claims().unwrap().name.as_deref(), Some("Renamed"));

    // A forged ID token on refresh: refused and dropped, the previous one kept; the new
    // access and refresh tokens are kept (with rotation, losing them would lose the grant).
    let kept = credentials.id_token.as_ref().unwrap().secret().to_owned();
    let forged = sign("RS256", "k1", &rsa(2), &op.claims(None));
    op.will_issue(forged.clone());
    refresh(&provider, &mut credentials).await.unwrap();
    assert_eq!(credentials.id_token.as_ref().unwrap().secret(), kept, "the forged ID token is not kept");
    assert_eq!(credentials.id_token_claims().unwrap().name.as_deref(), Some("Renamed"));

    // Another user's ID token on refresh: the same.
    let mut other = op.claims(None);
    other["sub"] = "user-2".into();
    op.will_issue(sign("RS256", "k1", &key, &other));
    refresh(&provider, &mut credentials).await.unwrap();
    assert_eq!(credentials.id_token.as_ref().unwrap().secret(), kept);
    assert_eq!(credentials.id_token_claims().unwrap().sub, "user-1");
    assert_eq!(op.fetches(), 1, "keys cached (max-age=3600)");
}

#[tokio::test]
async fn forged_tokens_are_refused_with_their_reason() {
    let op = Op::start().await;
    let provider = op.provider();
    let (k1, k2) = (rsa(1), rsa(2));

    // Signed by a key not in the JWKS, under a published kid and under its own.
    assert_eq!(reason(log_in(&op, &provider, |c| sign("RS256", "k1", &k2, &c)).await), IdTokenError::Signature);
    let r = reason(log_in(&op, &provider, |c| sign("RS256", "k2", &k2, &c)).await);
    assert!(matches!(&r, IdTokenError::UnknownKey { kid: Some(k), .. } if k == "k2"), "{r:?}");
    // Wrong audience, expired, wrong nonce, another issuer.
    let r = reason(
        log_in(&op, &provider, |mut c| {
            c["aud"] = "client-2".into();
            sign("RS256", "k1", &k1, &c)
        })
        .await,
    );
    assert!(matches!(r, IdTokenError::Audience { .. }), "{r:?}");
    let r = reason(
        log_in(&op, &provider, |mut c| {
            c["exp"] = (now() - 3600).into();
            c["iat"] = (now() - 7200).into();
            sign("RS256", "k1", &k1, &c)
        })
        .await,
    );
    assert!(matches!(r, IdTokenError::Expired { .. }), "{r:?}");
    let r = reason(
        log_in(&op, &provider, |mut c| {
            c["nonce"] = "replayed".into();
            sign("RS256", "k1", &k1, &c)
        })
        .await,
    );
    assert_eq!(r, IdTokenError::Nonce);
    let r = reason(
        log_in(&op, &provider, |mut c| {
            c.as_object_mut().unwrap().remove("nonce");
            sign("RS256", "k1", &k1, &c)
        })
        .await,
    );
    assert_eq!(r, IdTokenError::Nonce);
    let r = reason(
        log_in(&op, &provider, |mut c| {
            c["iss"] = "http://127.0.0.1:1".into();
            sign("RS256", "k1", &k1, &c)
        })
        .await,
    );
    assert!(matches!(r, IdTokenError::Issuer { .. }), "{r:?}");
    // Several audiences without `azp`.
    let r = reason(
        log_in(&op, &provider, |mut c| {
            c["aud"] = json!([CLIENT, "other"]);
            sign("RS256", "k1", &k1, &c)
        })
        .await,
    );
    assert!(matches!(r, IdTokenError::AuthorizedParty { .. }), "{r:?}");

    // `alg: none`.
    let r = reason(
        log_in(&op, &provider, |c| {
            format!("{}.{}.", enc(br#"{"alg":"none","kid":"k1"}"#), enc(c.to_string().as_bytes()))
        })
        .await,
    );
    assert!(matches!(&r, IdTokenError::Algorithm { alg, .. } if alg == "none"), "{r:?}");
    // HS256 keyed with the provider's public key (the classic key-confusion attack), keyed
    // both with the JWK's JSON and with the modulus.
    for secret in [jwk("k1", &k1).to_string().into_bytes(), sig::RsaPublicKeyComponents::<Vec<u8>>::from(k1.public()).n]
    {
        let r = reason(
            log_in(&op, &provider, |c| {
                let input = format!("{}.{}", enc(br#"{"alg":"HS256","kid":"k1"}"#), enc(c.to_string().as_bytes()));
                let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret), input.as_bytes());
                format!("{input}.{}", enc(tag.as_ref()))
            })
            .await,
        );
        assert!(matches!(&r, IdTokenError::Algorithm { alg, .. } if alg == "HS256"), "{r:?}");
    }
    // A tampered payload: a valid signature over other claims.
    let r = reason(
        log_in(&op, &provider, |c| {
            let token = sign("RS256", "k1", &k1, &c);
            let mut forged = c.clone();
            forged["sub"] = "admin".into();
            let parts: Vec<&str> = token.split('.').collect();
            format!("{}.{}.{}", parts[0], enc(forged.to_string().as_bytes()), parts[2])
        })
        .await,
    );
    assert_eq!(r, IdTokenError::Signature);
    // Garbage, and no ID token at all although `openid` was asked for.
    let r = reason(log_in(&op, &provider, |_| "not.a.jwt".into()).await);
    assert!(matches!(r, IdTokenError::Malformed(_)), "{r:?}");
    let auth = authorize_url(&provider, REDIRECT, MockOpScope::DEFAULT).unwrap();
    *op.id_token.lock().unwrap() = None;
    let callback = Callback::from_pairs([("code", "code-1"), ("state", auth.pending.state())]).unwrap();
    assert_eq!(reason(exchange(&provider, &auth.pending, &callback).await), IdTokenError::Missing);

    // And the genuine article still passes.
    log_in(&op, &provider, |c| sign("RS256", "k1", &k1, &c)).await.unwrap();
    // The unknown `kid` above caused one refetch at most (cooldown 60 s): 2 fetches in all.
    assert!(op.fetches() <= 2, "{} JWKS fetches", op.fetches());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_refetches_once_and_floods_are_bounded_by_the_cooldown() {
    let op = Op::start().await;
    let mut provider = op.provider();
    let cooldown = Duration::from_millis(800);
    provider.config_mut().set_oidc_options(OidcOptions { jwks_cooldown: cooldown, ..OidcOptions::default() });
    let (k1, k2) = (rsa(1), rsa(2));
    log_in(&op, &provider, |c| sign("RS256", "k1", &k1, &c)).await.unwrap();
    assert_eq!(op.fetches(), 1);

    // The provider rotates: k2 replaces k1. The next token, signed with k2, validates after
    // exactly one refetch (the cached keys are still fresh by max-age).
    *op.published.lock().unwrap() = vec![jwk("k2", &k2)];
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    let config = provider.config().clone();
    let token = sign("RS256", "k2", &k2, &op.claims(None));
    validate_id_token(&config, &token, None).await.unwrap();
    assert_eq!(op.fetches(), 2);
    validate_id_token(&config, &token, None).await.unwrap();
    assert_eq!(op.fetches(), 2, "k2 now cached");

    // A flood of unknown kids right after a fetch: no fetch at all (within the cooldown).
    let flood = |round: usize| {
        let config = config.clone();
        let tokens: Vec<String> =
            (0..100).map(|i| sign("RS256", &format!("forged-{round}-{i}"), &k2, &op.claims(None))).collect();
        async move {
            let tasks: Vec<_> = tokens
                .into_iter()
                .map(|t| {
                    let config = config.clone();
                    tokio::spawn(async move { validate_id_token(&config, &t, None).await })
                })
                .collect();
            for task in tasks {
                let err = task.await.unwrap().unwrap_err();
                assert!(matches!(err, Error::IdToken { reason: IdTokenError::UnknownKey { .. } }), "{err:?}");
            }
        }
    };
    flood(0).await;
    assert_eq!(op.fetches(), 2, "no fetch within the cooldown");
    // After the cooldown, a flood costs one fetch, however many tokens it holds.
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    flood(1).await;
    assert_eq!(op.fetches(), 3, "one fetch per cooldown");
    // Old k1 tokens are now refused.
    let old = sign("RS256", "k1", &k1, &op.claims(None));
    let err = validate_id_token(&config, &old, None).await.unwrap_err();
    assert!(matches!(err, Error::IdToken { reason: IdTokenError::UnknownKey { .. } }), "{err:?}");
}

/// The JWKS endpoint is down at the first sign-in: that sign-in fails with a JWKS error (not
/// "unknown key"), and once it is back, a sign-in a second later succeeds, well within the
/// 60 s cooldown that bounds refetches for unknown `kid`s.
#[tokio::test]
async fn a_jwks_outage_at_the_first_sign_in_is_retried_within_seconds() {
    let op = Op::start().await;
    let provider = op.provider();
    let k1 = rsa(1);
    op.jwks_down.store(true, Ordering::SeqCst);
    let r = reason(log_in(&op, &provider, |c| sign("RS256", "k1", &k1, &c)).await);
    assert!(matches!(&r, IdTokenError::Jwks(m) if m.contains("503")), "{r:?}");
    // At once again: no new fetch (at most one a second), and still a JWKS error.
    let r = reason(log_in(&op, &provider, |c| sign("RS256", "k1", &k1, &c)).await);
    assert!(matches!(&r, IdTokenError::Jwks(_)), "{r:?}");
    assert_eq!(op.fetches(), 1);

    op.jwks_down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let credentials = log_in(&op, &provider, |c| sign("RS256", "k1", &k1, &c)).await.unwrap();
    assert_eq!(credentials.id_token_claims().unwrap().sub, "user-1");
    assert_eq!(op.fetches(), 2);
}

#[tokio::test]
async fn discovery_must_name_the_configured_issuer() {
    // A server whose discovery document claims another issuer (a mix-up).
    let server = MockServer::start(|seen| match seen.path() {
        "/.well-known/openid-configuration" => {
            Reply::json(200, r#"{"issuer":"https://evil.test","jwks_uri":"https://evil.test/jwks"}"#)
        }
        _ => Reply::json(404, "{}"),
    })
    .await;
    let provider = MockOp::new(server.port.to_string(), CLIENT, "secret");
    let token = sign("RS256", "k1", &rsa(1), &json!({}));
    let err = validate_id_token(provider.config(), &token, None).await.unwrap_err();
    assert!(matches!(err, Error::IdToken { reason: IdTokenError::DiscoveryIssuer { .. } }), "{err:?}");
}

#[tokio::test]
async fn debug_output_hides_every_secret() {
    let provider = MockOp::new("1", CLIENT, "client-secret-value");
    let auth = authorize_url(&provider, REDIRECT, MockOpScope::DEFAULT).unwrap();
    let state = auth.pending.state().to_owned();
    let nonce = auth.url.query_pairs().find(|(k, _)| k == "nonce").unwrap().1.into_owned();
    let verifier_free = |text: &str, what: &str| {
        for secret in [state.as_str(), nonce.as_str(), "client-secret-value"] {
            assert!(!text.contains(secret), "{what} Debug shows a secret: {text}");
        }
    };
    verifier_free(&format!("{auth:?}"), "Authorization");
    verifier_free(&format!("{:?}", auth.pending), "PendingAuthorization");
    verifier_free(&format!("{:?}", provider.config()), "ProviderConfig");
    assert!(format!("{auth:?}").contains("/authorize?[redacted]"), "{auth:?}");

    // Old serialised pending authorizations (without `nonce`) still read.
    let mut value = serde_json::to_value(&auth.pending).unwrap();
    value.as_object_mut().unwrap().remove("nonce");
    let old: oauthgen_runtime::PendingAuthorization = serde_json::from_value(value).unwrap();
    assert!(!old.uses_nonce());

    let login = oauthgen_runtime::installed::LoopbackLogin::start(
        &provider,
        MockOpScope::DEFAULT,
        oauthgen_runtime::LoopbackOptions::default(),
    )
    .await
    .unwrap();
    let text = format!("{login:?}");
    let login_state: String =
        login.url().query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).unwrap();
    assert!(!text.contains(&login_state) && !text.contains("client-secret-value"), "LoopbackLogin: {text}");

    let credentials: Credentials = serde_json::from_value(json!({
        "access_token": "access-secret", "token_type": "Bearer", "refresh_token": "refresh-secret",
        "id_token": "id.token.secret", "extra": {"x": "extra-secret"}
    }))
    .unwrap();
    let text = format!("{credentials:?} {:?}", credentials.id_token);
    for secret in ["access-secret", "refresh-secret", "id.token.secret", "extra-secret"] {
        assert!(!text.contains(secret), "Credentials Debug shows {secret}: {text}");
    }
    let callback = Callback::from_pairs([("code", "code-secret"), ("state", "state-secret")]).unwrap();
    assert!(!format!("{callback:?}").contains("secret"));
    let key = oauthgen_runtime::EncryptionKey::new("k", [7; 32]);
    assert!(!format!("{key:?}").contains(&key.secret_base64()));
}

#[tokio::test]
async fn spec_jwks_uri_and_algorithms_spare_discovery_and_sends_iss_requires_iss() {
    let op = Op::start().await;
    let provider = MockOpStrict::new(op.server.port.to_string(), CLIENT, "secret");
    assert_eq!(provider.config().spec().endpoints.end_session.as_deref(), Some("http://127.0.0.1:{port}/logout"));
    let auth = authorize_url(&provider, REDIRECT, MockOpStrictScope::DEFAULT).unwrap();
    let nonce = auth.url.query_pairs().find(|(k, _)| k == "nonce").map(|(_, v)| v.into_owned()).unwrap();
    op.will_issue(sign("RS256", "k1", &rsa(1), &op.claims(Some(&nonce))));

    // RFC 9207: this provider always sends `iss`, so a callback without it is refused.
    let bare = Callback::from_pairs([("code", "code-1"), ("state", auth.pending.state())]).unwrap();
    let err = exchange(&provider, &auth.pending, &bare).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidCallback(m) if m.contains("iss")), "{err:?}");
    assert!(op.server.requests().is_empty(), "refused before any request");

    let with_iss =
        Callback::from_pairs([("code", "code-1"), ("state", auth.pending.state()), ("iss", op.issuer.as_str())])
            .unwrap();
    exchange(&provider, &auth.pending, &with_iss).await.unwrap();
    let paths: Vec<String> = op.server.requests().iter().map(|r| r.path().to_owned()).collect();
    assert_eq!(paths, ["/token", "/keys"], "no discovery request");
}
