//! OpenID Connect relying party against npm `oidc-provider` (real RS256 ID tokens, discovery
//! and JWKS): tokens are validated on exchange and refresh, and tokens altered from real
//! ones are refused with a typed reason. Tokens signed by foreign keys, expired tokens and
//! key rotation are tested against a scripted provider in `runtime/tests/oidc.rs`.

use base64::Engine as _;
use oauthgen_runtime::{
    Callback, Credentials, Error, IdTokenError, Provider, authorize_url, exchange, refresh, validate_id_token,
};
use oauthgen_tests::{OidcServer, TestOp, TestOpScope, follow_to_callback};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn enc(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn dec(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

async fn log_in(provider: &TestOp) -> (Credentials, String) {
    let auth = authorize_url(provider, REDIRECT, TestOpScope::DEFAULT).unwrap();
    assert!(auth.pending.uses_nonce());
    let nonce = auth.url.query_pairs().find(|(k, _)| k == "nonce").map(|(_, v)| v.into_owned()).unwrap();
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    (exchange(provider, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap(), nonce)
}

fn refused(result: Result<oauthgen_runtime::IdTokenClaims, Error>) -> IdTokenError {
    match result {
        Err(Error::IdToken { reason }) => reason,
        other => panic!("expected an ID token error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn real_id_tokens_are_validated_on_exchange_and_refresh() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let (mut credentials, nonce) = log_in(&op).await;
    let claims = credentials.id_token_claims().expect("a validated ID token");
    assert_eq!(claims.iss, server.issuer);
    assert_eq!(claims.sub, "user-1");
    assert_eq!(claims.aud.values(), ["basic-client".to_owned()]);
    assert_eq!(claims.nonce.as_deref(), Some(nonce.as_str()));
    // oidc-provider puts scope claims (email) in userinfo, not in the ID token, when an
    // access token is issued (its `conformIdTokenClaims`).
    assert_eq!(claims.email, None);

    let first = credentials.id_token.clone().unwrap();
    // A second later, so the new token's `iat` differs.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    refresh(&op, &mut credentials).await.unwrap();
    let second = credentials.id_token.clone().unwrap();
    assert_ne!(first, second, "the refreshed ID token replaces the stale one");
    let refreshed = credentials.id_token_claims().unwrap();
    assert_eq!(refreshed.sub, "user-1");
    assert!(refreshed.iat > claims.iat);

    // The real token validates again (keys cached), with its nonce and without.
    validate_id_token(op.config(), first.secret(), Some(&nonce)).await.unwrap();
    validate_id_token(op.config(), second.secret(), None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_altered_from_real_ones_are_refused() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let (credentials, nonce) = log_in(&op).await;
    let token = credentials.id_token.unwrap().secret().to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    let header: serde_json::Value = serde_json::from_slice(&dec(parts[0])).unwrap();
    let kid = header["kid"].as_str().unwrap().to_owned();
    assert_eq!(header["alg"], "RS256");

    // Another nonce than the one sent.
    assert_eq!(refused(validate_id_token(op.config(), &token, Some("other-nonce")).await), IdTokenError::Nonce);

    // A token issued to another client (wrong audience).
    let mut post = TestOp::new(server.port.to_string(), "post-client", "post-secret");
    post.config_mut().set_client_auth(oauthgen_runtime::spec::ClientAuth::RequestBody).unwrap();
    let (post_credentials, _) = log_in(&post).await;
    let theirs = post_credentials.id_token.unwrap().secret().to_owned();
    let r = refused(validate_id_token(op.config(), &theirs, None).await);
    assert!(matches!(&r, IdTokenError::Audience { client_id } if client_id == "basic-client"), "{r:?}");

    // A tampered payload under the real signature.
    let mut claims: serde_json::Value = serde_json::from_slice(&dec(parts[1])).unwrap();
    claims["sub"] = "admin".into();
    let tampered = format!("{}.{}.{}", parts[0], enc(claims.to_string().as_bytes()), parts[2]);
    assert_eq!(refused(validate_id_token(op.config(), &tampered, None).await), IdTokenError::Signature);

    // `alg: none` with the real kid.
    let unsigned = format!("{}.{}.", enc(format!(r#"{{"alg":"none","kid":"{kid}"}}"#).as_bytes()), parts[1]);
    let r = refused(validate_id_token(op.config(), &unsigned, None).await);
    assert!(matches!(&r, IdTokenError::Algorithm { alg, .. } if alg == "none"), "{r:?}");

    // HS256 with the provider's kid, "signed" with its public JWK (the key-confusion attack;
    // refused on its alg before any key is used; `runtime/tests/oidc.rs` computes a real
    // HMAC with ring).
    let jwks: serde_json::Value = reqwest::get(server.url("/jwks")).await.unwrap().json().await.unwrap();
    let public = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap().to_string();
    let hs_header = enc(format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#).as_bytes());
    let hs = format!("{hs_header}.{}.{}", parts[1], enc(public.as_bytes()));
    let r = refused(validate_id_token(op.config(), &hs, None).await);
    assert!(matches!(&r, IdTokenError::Algorithm { alg, .. } if alg == "HS256"), "{r:?}");

    // A `kid` the provider does not publish.
    let unknown = format!("{}.{}.{}", enc(br#"{"alg":"RS256","kid":"not-published"}"#), parts[1], parts[2]);
    let r = refused(validate_id_token(op.config(), &unknown, None).await);
    assert!(matches!(&r, IdTokenError::UnknownKey { .. }), "{r:?}");

    // The untouched token still passes.
    validate_id_token(op.config(), &token, Some(&nonce)).await.unwrap();
}
