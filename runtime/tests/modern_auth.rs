//! The runtime's side of DPoP, pushed authorization requests and token exchange against a
//! scripted server (`tests/specs/modern.yaml`): what goes on the wire, and the edge cases a
//! real provider rarely shows (a nonce asked for twice, a nonce with characters RFC 9449
//! forbids, a spec that requires DPoP).

mod support;

use support::{MockServer, Reply, Seen};

use oauthgen_runtime::{
    Error, Provider as _, TokenExchangeOptions, authorize, authorize_url, client_credentials, token_exchange,
    token_type,
};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/modern.yaml")]
struct Modern;

const TOKEN: &str = r#"{"access_token":"at-1","token_type":"DPoP","expires_in":3600}"#;

fn form(seen: &Seen) -> Vec<(String, String)> {
    url::form_urlencoded::parse(seen.body.as_bytes()).into_owned().collect()
}

fn header<'s>(seen: &'s Seen, name: &str) -> Option<&'s str> {
    seen.head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn claims(proof: &str) -> serde_json::Value {
    let part = proof.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part).unwrap())
        .unwrap()
}

/// `dpop: required`: proofs without `with_dpop`; the bound token keeps its key.
#[tokio::test]
async fn a_spec_that_requires_dpop_sends_proofs_unasked() {
    let server = MockServer::start(|_| Reply::json(200, TOKEN)).await;
    let provider = Modern::new(server.port.to_string(), "id", "secret");
    assert!(provider.config().uses_dpop());
    let credentials = client_credentials(&provider, &[] as &[&str]).await.unwrap();
    assert!(credentials.is_dpop() && credentials.dpop_key.is_some());
    let seen = server.requests();
    let proof = header(&seen[0], "dpop").expect("a proof");
    let claims = claims(proof);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], format!("http://127.0.0.1:{}/token", server.port));
    assert!(claims.get("ath").is_none() && claims.get("nonce").is_none());
}

/// A server that asks for a nonce again after the retry gets no third request; a nonce with
/// characters outside RFC 9449's NQCHAR is not retried with.
#[tokio::test]
async fn the_nonce_retry_happens_once_and_only_with_a_valid_nonce() {
    let nonce_error = r#"{"error":"use_dpop_nonce","error_description":"nonce"}"#;
    let server = MockServer::start(move |_| Reply::json(400, nonce_error).with_header("dpop-nonce", "n-1")).await;
    let provider = Modern::new(server.port.to_string(), "id", "secret");
    let err = client_credentials(&provider, &[] as &[&str]).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "use_dpop_nonce"), "{err:?}");
    let seen = server.requests();
    assert_eq!(seen.len(), 2, "one retry, not a loop");
    assert_eq!(claims(header(&seen[1], "dpop").unwrap())["nonce"], "n-1");

    let server = MockServer::start(move |_| Reply::json(400, nonce_error).with_header("dpop-nonce", "a b")).await;
    let provider = Modern::new(server.port.to_string(), "id", "secret");
    client_credentials(&provider, &[] as &[&str]).await.unwrap_err();
    assert_eq!(server.requests().len(), 1, "a nonce with a space is not used");
}

/// PAR with a renamed client id: the push carries the provider's name for it once, with the
/// PKCE challenge and the state; the browser's URL only the renamed id and the `request_uri`.
#[tokio::test]
async fn a_pushed_request_uses_the_providers_parameter_names() {
    let server = MockServer::start(|seen: &Seen| match seen.path() {
        "/par" => Reply::json(201, r#"{"request_uri":"urn:ietf:params:oauth:request_uri:abc","expires_in":60}"#),
        _ => Reply::json(404, "{}"),
    })
    .await;
    let provider = Modern::new(server.port.to_string(), "my-app", "secret");
    let auth = authorize(&provider, "http://127.0.0.1:9/cb", &[] as &[&str], &[("login_hint", "bob")]).await.unwrap();
    let query: Vec<(String, String)> = auth.url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        [
            ("client_key".into(), "my-app".into()),
            ("request_uri".into(), "urn:ietf:params:oauth:request_uri:abc".into())
        ]
    );
    let pushed = form(&server.requests()[0]);
    let names: Vec<&str> = pushed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.iter().filter(|n| **n == "client_key").count(), 1, "{names:?}");
    assert!(!names.contains(&"client_id"), "{names:?}");
    for name in ["response_type", "redirect_uri", "state", "code_challenge", "code_challenge_method", "login_hint"] {
        assert!(names.contains(&name), "{name} pushed: {names:?}");
    }
    assert!(pushed.contains(&("client_secret".into(), "secret".into())));
    // Pushed-only providers get no URL from the synchronous builder.
    let sync = authorize_url(&provider, "http://127.0.0.1:9/cb", &[] as &[&str]);
    assert!(matches!(sync, Err(Error::PushedAuthorizationRequired { provider: "modern" })));
}

/// A refused push and a push answered without a `request_uri` are errors, before any browser.
#[tokio::test]
async fn a_refused_or_malformed_push_is_an_error() {
    let server =
        MockServer::start(|_| Reply::json(400, r#"{"error":"invalid_request","error_description":"no"}"#)).await;
    let provider = Modern::new(server.port.to_string(), "id", "secret");
    let err = authorize(&provider, "http://127.0.0.1:9/cb", &[] as &[&str], &[]).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_request"), "{err:?}");
    let server = MockServer::start(|_| Reply::json(201, r#"{"expires_in":60}"#)).await;
    let provider = Modern::new(server.port.to_string(), "id", "secret");
    let err = authorize(&provider, "http://127.0.0.1:9/cb", &[] as &[&str], &[]).await.unwrap_err();
    assert!(matches!(&err, Error::MalformedResponse { .. }), "{err:?}");
}

/// Token exchange sends each parameter once, the spec's own parameters, and a proof.
#[tokio::test]
async fn a_token_exchange_request_on_the_wire() {
    let exchanged =
        r#"{"access_token":"at-2","token_type":"N_A","issued_token_type":"urn:ietf:params:oauth:token-type:jwt"}"#;
    let server = MockServer::start(move |_| Reply::json(200, exchanged)).await;
    let provider = Modern::new(server.port.to_string(), "id", "secret");
    let options = TokenExchangeOptions::new()
        .actor("actor-token", token_type::ACCESS_TOKEN)
        .audience("a1")
        .audience("a2")
        .scope("read")
        .scope("write")
        .requested_token_type(token_type::JWT);
    let credentials = token_exchange(&provider, "subject-token", token_type::ID_TOKEN, &options).await.unwrap();
    assert_eq!(credentials.issued_token_type(), Some(token_type::JWT));
    assert_eq!(credentials.scopes, ["read", "write"], "the requested scopes, when the answer states none");
    assert!(!credentials.is_dpop() && credentials.dpop_key.is_none(), "N_A is not bound");
    let seen = server.requests();
    assert_eq!(seen[0].path(), "/exchange", "the grant's own token endpoint");
    let sent = form(&seen[0]);
    let expected: Vec<(String, String)> = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", "subject-token"),
        ("subject_token_type", token_type::ID_TOKEN),
        ("actor_token", "actor-token"),
        ("actor_token_type", token_type::ACCESS_TOKEN),
        ("audience", "a1"),
        ("audience", "a2"),
        ("requested_token_type", token_type::JWT),
        ("scope", "read write"),
        ("tenant", "acme"),
        ("client_key", "id"),
        ("client_secret", "secret"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(sent, expected);
    assert!(header(&seen[0], "dpop").is_some());
    // With the token endpoint overridden, exchanges follow the override (as every grant's
    // requests do).
    let moved = format!("http://127.0.0.1:{}/moved", server.port);
    let provider = provider.with_endpoint(oauthgen_runtime::Endpoint::Token, &moved).unwrap();
    token_exchange(&provider, "subject-token", token_type::ID_TOKEN, &TokenExchangeOptions::new()).await.unwrap();
    assert_eq!(server.requests()[1].path(), "/moved");
}

/// A P-256 client key for `private_key_jwt`.
fn client_key() -> oauthgen_runtime::ClientKey {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 =
        ring::signature::EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pkcs8.as_ref());
    oauthgen_runtime::ClientKey::from_pem(&format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n"))
        .unwrap()
}

/// A token endpoint that takes only proofs carrying its nonce `n-1`, and offers it.
fn wants_nonce(seen: &Seen) -> Reply {
    let nonce = header(seen, "dpop").map(|p| claims(p)["nonce"].clone());
    if nonce == Some(serde_json::Value::from("n-1")) {
        Reply::json(200, TOKEN)
    } else {
        Reply::json(400, r#"{"error":"use_dpop_nonce"}"#).with_header("dpop-nonce", "n-1")
    }
}

/// The retry for a nonce carries a fresh client assertion: RFC 7523 lets a provider refuse
/// a `jti` it has seen, and Okta asks for a nonce on the first DPoP request.
#[tokio::test]
async fn the_nonce_retry_signs_a_fresh_client_assertion() {
    let server = MockServer::start(wants_nonce).await;
    let mut provider = Modern::new(server.port.to_string(), "id", "secret").with_client_key(client_key());
    provider.config_mut().set_client_auth(oauthgen_runtime::spec::ClientAuth::PrivateKeyJwt).unwrap();
    client_credentials(&provider, &[] as &[&str]).await.unwrap();
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    let assertion = |s: &Seen| form(s).into_iter().find(|(n, _)| n == "client_assertion").map(|(_, v)| v).unwrap();
    let (first, second) = (assertion(&seen[0]), assertion(&seen[1]));
    assert_ne!(claims(&first)["jti"], claims(&second)["jti"], "a new assertion, not the refused one again");
}

/// Requests that go out together before any nonce is known each get their own retry, also
/// when another one has stored the nonce meanwhile.
#[tokio::test]
async fn concurrent_requests_each_retry_with_the_nonce() {
    let server = MockServer::start(wants_nonce).await;
    let provider = Modern::new(server.port.to_string(), "id", "secret");
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let provider = provider.clone();
        calls.spawn(async move { client_credentials(&provider, &[] as &[&str]).await });
    }
    for result in calls.join_all().await {
        assert!(result.unwrap().is_dpop());
    }
    assert_eq!(server.requests().len(), 16, "each request refused once, then accepted with the nonce");
}

/// A caller that gives up while a DPoP refresh is in its nonce retry (the token endpoint
/// asked for a nonce, and is slow to answer the second request) cancels nothing: the
/// manager finishes the refresh, stores the rotated refresh token with the grant's key, and
/// the next caller gets the new token without another request.
#[tokio::test(flavor = "multi_thread")]
async fn a_caller_that_gives_up_during_the_nonce_retry_loses_nothing() {
    use oauthgen_runtime::{MemoryStore, TokenManager, TokenStore as _};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    let calls = AtomicUsize::new(0);
    let server = MockServer::start(move |_| match calls.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::json(400, r#"{"error":"use_dpop_nonce"}"#).with_header("dpop-nonce", "n-1"),
        _ => Reply::After(
            Duration::from_millis(800),
            Box::new(Reply::json(
                200,
                r#"{"access_token":"at-2","token_type":"DPoP","expires_in":3600,"refresh_token":"rt-2"}"#,
            )),
        ),
    })
    .await;
    let key = oauthgen_runtime::DpopKey::generate().unwrap();
    let mut bound = support::credentials("at-1", "rt-1", -10);
    bound.token_type = "DPoP".into();
    bound.dpop_key = Some(key.clone());
    let store = MemoryStore::new();
    store.save("user", &bound).await.unwrap();
    let provider = Modern::new(server.port.to_string(), "id", "secret");
    let manager = TokenManager::with_options(provider, store.clone(), "user", support::fast());

    // The caller gives up once the retry is on its way (whatever the machine's load), and
    // before it is answered.
    let retry_sent = async {
        while server.requests().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        answer = manager.token() => panic!("answered before the retry was sent: {answer:?}"),
        () = retry_sent => {}
    }
    let seen = server.requests();
    assert_eq!(seen.len(), 2, "it gave up during the retry, not before it");
    let stored = store.load("user").await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.unwrap().secret(), "rt-1", "nothing is stored before the answer");

    manager.wait_idle().await;
    let stored = store.load("user").await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.as_ref().unwrap().secret(), "rt-2", "the rotated token is stored");
    assert_eq!(
        stored.dpop_key.as_ref().map(oauthgen_runtime::DpopKey::thumbprint),
        Some(key.thumbprint()),
        "with the grant's key"
    );
    assert!(stored.is_dpop());
    let token = manager.token().await.unwrap();
    assert_eq!(token.secret(), "at-2");
    assert_eq!(token.dpop_key().map(oauthgen_runtime::DpopKey::thumbprint), Some(key.thumbprint()));
    assert_eq!(server.requests().len(), 2, "no request after the refresh finished");
    // Both requests proved possession of the stored key; the retry with the nonce.
    let jose_header = |s: &Seen| -> serde_json::Value {
        let proof = header(s, "dpop").expect("a proof");
        let part = proof.split('.').next().unwrap();
        let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part).unwrap();
        serde_json::from_slice(&raw).unwrap()
    };
    for s in &seen {
        assert_eq!(&jose_header(s)["jwk"], key.public_jwk(), "a proof by the grant's key");
        assert_eq!(form(s).iter().find(|(k, _)| k == "refresh_token").map(|(_, v)| v.as_str()), Some("rt-1"));
    }
    assert!(claims(header(&seen[0], "dpop").unwrap()).get("nonce").is_none());
    assert_eq!(claims(header(&seen[1], "dpop").unwrap())["nonce"], "n-1");
}
