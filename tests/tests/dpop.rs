//! DPoP (RFC 9449) against the certified `oidc-provider` (`tests/oidc/server.mjs`), whose
//! `dpop-client` must send proofs (`dpop_bound_access_tokens`), and its DPoP resource server
//! (`/test/resource`), which verifies every proof with `jose`: signature by the key in the
//! header, `htm`, `htu`, `iat`, a fresh `jti`, `ath`, the token's binding to the key, and the
//! server's nonce when it asks for one.

use oauthgen_runtime::{
    Callback, Credentials, DpopKey, EncryptedStore, EncryptionKey, Error, FileStore, MemoryStore, Provider, TokenStore,
    authorize_url, authorized_client, client_credentials, exchange, refresh,
};
use oauthgen_runtime::{TokenManager, device_authorization, device_poll};
use oauthgen_tests::{OidcServer, TestOp, TestOpScope, approve_device, follow_to_callback};
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn dpop_client(server: &OidcServer) -> TestOp {
    TestOp::new(server.port.to_string(), "dpop-client", "dpop-secret").with_dpop().unwrap()
}

async fn log_in(op: &TestOp) -> Credentials {
    let auth = authorize_url(op, REDIRECT, TestOpScope::DEFAULT).unwrap();
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    exchange(op, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap()
}

async fn switch(server: &OidcServer, path: &str) {
    let response = reqwest::Client::new().post(server.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 204, "{path}");
}

async fn get_json(server: &OidcServer, path: &str) -> Value {
    reqwest::get(server.url(path)).await.unwrap().json().await.unwrap()
}

/// Sign in, refresh, and call the resource server through the authorized client: every
/// token is DPoP-bound to the grant's one key, and every proof verifies.
#[tokio::test(flavor = "multi_thread")]
async fn a_dpop_bound_grant_refreshes_and_calls_the_resource_server() {
    let server = OidcServer::start(3600);
    let op = dpop_client(&server);
    let mut credentials = log_in(&op).await;
    assert!(credentials.is_dpop(), "token_type {}", credentials.token_type);
    let key = credentials.dpop_key.clone().expect("the grant's key is kept");
    assert!(!format!("{credentials:?}").contains(&serde_json::to_string(&key).unwrap()));

    refresh(&op, &mut credentials).await.unwrap();
    assert!(credentials.is_dpop());
    assert_eq!(credentials.dpop_key.as_ref().map(DpopKey::thumbprint), Some(key.thumbprint()), "the same key");

    let store = MemoryStore::new();
    store.save("user", &credentials).await.unwrap();
    let http = authorized_client(TokenManager::new(op.clone(), store, "user"));
    let answer = http.get(server.url("/test/resource?item=1")).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["scheme"], "DPoP");
    assert_eq!(body["sub"], "user-1");
    let posted = http.post(server.url("/test/resource")).form(&[("a", "b")]).send().await.unwrap();
    assert_eq!(posted.status(), 200, "htm follows the method");

    // The same token as a bearer token, or with a proof of another key, is refused.
    let client = reqwest::Client::new();
    let as_bearer =
        client.get(server.url("/test/resource")).bearer_auth(credentials.access_token.secret()).send().await.unwrap();
    assert_eq!(as_bearer.status(), 401);
    let other = DpopKey::generate().unwrap();
    let url = url::Url::parse(&server.url("/test/resource")).unwrap();
    let proof = other.proof("GET", &url, Some(credentials.access_token.secret()), None).unwrap();
    let stolen = client
        .get(url.as_str())
        .header("authorization", format!("DPoP {}", credentials.access_token.secret()))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 401, "a stolen token without its key is useless");
    let www = stolen.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(www.contains("invalid_token"), "{www}");
}

/// Servers that demand their nonce: the token endpoint (`use_dpop_nonce` in a 400) and the
/// resource server (`WWW-Authenticate: DPoP error="use_dpop_nonce"` in a 401). Each refused
/// request is sent once more with the nonce, and later proofs carry it from the start.
#[tokio::test(flavor = "multi_thread")]
async fn the_nonce_dance_at_the_token_endpoint_and_the_resource_server() {
    let server = OidcServer::start(3600);
    switch(&server, "/test/dpop-nonce?required=true").await;
    switch(&server, "/test/resource-nonce?required=true").await;
    let op = dpop_client(&server);
    let machine = client_credentials(&op, &[] as &[&str]).await.unwrap();
    assert!(machine.is_dpop());
    let counts = get_json(&server, "/test/counts").await;
    assert_eq!(counts["client_credentials"], 2, "refused for the nonce, then accepted: {counts}");
    client_credentials(&op, &[] as &[&str]).await.unwrap();
    let counts = get_json(&server, "/test/counts").await;
    assert_eq!(counts["client_credentials"], 3, "the nonce is reused: {counts}");

    let store = MemoryStore::new();
    store.save("robot", &machine).await.unwrap();
    let http = authorized_client(TokenManager::new(op.clone(), store, "robot"));
    for _ in 0..2 {
        let answer = http.get(server.url("/test/resource")).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let body: Value = answer.json().await.unwrap();
        assert!(body["nonce"].is_string(), "{body}");
    }
    let log = get_json(&server, "/test/resource-log").await;
    let statuses: Vec<i64> = log.as_array().unwrap().iter().map(|e| e["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [401, 200, 200], "one retry, then the nonce from the start: {log}");
    assert_eq!(log[0]["error"], "use_dpop_nonce");

    // A nonce the server stopped honouring: refused, then the new one is used.
    switch(&server, "/test/resource-nonce?required=true").await;
    let answer = http.get(server.url("/test/resource")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
}

/// Without proofs the provider refuses the client that must use DPoP; a spec that says the
/// provider does not take DPoP cannot have it switched on.
#[tokio::test(flavor = "multi_thread")]
async fn without_dpop_the_provider_refuses_and_unsupported_specs_refuse_it() {
    let server = OidcServer::start(3600);
    let plain = TestOp::new(server.port.to_string(), "dpop-client", "dpop-secret");
    let err = client_credentials(&plain, &[] as &[&str]).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_grant"), "{err:?}");

    // Other clients get bearer tokens and keep no key, with or without DPoP asked for.
    let basic = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let bearer = client_credentials(&basic, &[] as &[&str]).await.unwrap();
    assert!(!bearer.is_dpop() && bearer.dpop_key.is_none());

    let github = oauthgen_providers::github::Github::new("id", "secret");
    let err = github.with_dpop().unwrap_err();
    assert!(matches!(err, Error::DpopUnsupported { provider: "github" }), "{err:?}");
}

/// A public client's refresh token is bound to the key (RFC 9449 section 5): a refresh with
/// another key is refused, with the grant's own key it succeeds. The device flow binds too.
#[tokio::test(flavor = "multi_thread")]
async fn a_public_clients_refresh_token_is_bound_to_its_key() {
    let server = OidcServer::start(3600);
    let op = TestOp::public(server.port.to_string(), "public-client").with_dpop().unwrap();
    let credentials = log_in(&op).await;
    assert!(credentials.is_dpop());
    let mut thief = credentials.clone();
    thief.dpop_key = Some(DpopKey::generate().unwrap());
    let err = refresh(&op, &mut thief).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_grant"), "{err:?}");
    let mut owner = credentials.clone();
    refresh(&op, &mut owner).await.unwrap();
    assert!(owner.is_dpop());

    let mut device = device_authorization(&op, TestOpScope::DEFAULT).await.unwrap();
    approve_device(device.verification_uri.as_str(), &device.user_code, true).await;
    let polled = device_poll(&op, &mut device).await.unwrap();
    assert!(polled.is_dpop() && polled.dpop_key.is_some());
}

/// The key is stored with the tokens: a file store keeps it (and a reloaded manager proves
/// possession with it), an encrypted store keeps it only encrypted.
#[tokio::test(flavor = "multi_thread")]
async fn stores_keep_the_key_with_the_tokens() {
    let server = OidcServer::start(3600);
    let op = dpop_client(&server);
    let credentials = log_in(&op).await;
    let key = serde_json::to_string(credentials.dpop_key.as_ref().unwrap()).unwrap();
    let key = key.trim_matches('"');

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    FileStore::new(&path).save("user", &credentials).await.unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().contains(key));
    let http = authorized_client(TokenManager::new(op.clone(), FileStore::new(&path), "user"));
    let answer = http.get(server.url("/test/resource")).send().await.unwrap();
    assert_eq!(answer.status(), 200, "the reloaded key proves possession");

    let sealed_path = dir.path().join("sealed.json");
    let sealed = EncryptedStore::new(FileStore::new(&sealed_path), EncryptionKey::generate("k1").unwrap());
    sealed.save("user", &credentials).await.unwrap();
    let raw = std::fs::read_to_string(&sealed_path).unwrap();
    assert!(!raw.contains(key) && !raw.contains(credentials.access_token.secret()), "{raw}");
    let back = sealed.load("user").await.unwrap().unwrap();
    assert_eq!(back.dpop_key, credentials.dpop_key);
}

/// `userinfo_for` presents a DPoP-bound token with a proof by the credentials' key, and
/// fetches the provider's nonce when it asks; the same token as a bearer token, or with
/// another key, is refused, and credentials without their key are an error before any
/// request.
#[tokio::test(flavor = "multi_thread")]
async fn userinfo_for_a_dpop_bound_token() {
    use oauthgen_runtime::{userinfo, userinfo_for};
    let server = OidcServer::start(3600);
    let op = dpop_client(&server);
    let credentials = log_in(&op).await;
    let me = userinfo_for(&op, &credentials).await.unwrap();
    assert_eq!(me["sub"], "user-1", "{me}");

    let err = userinfo(&op, credentials.access_token.secret()).await.unwrap_err();
    assert!(matches!(&err, Error::Http { reason, .. } if reason.contains("HTTP 401")), "as a bearer token: {err:?}");
    let stolen = Credentials { dpop_key: Some(DpopKey::generate().unwrap()), ..credentials.clone() };
    let err = userinfo_for(&op, &stolen).await.unwrap_err();
    assert!(matches!(&err, Error::Http { reason, .. } if reason.contains("HTTP 401")), "another key: {err:?}");
    let keyless = Credentials { dpop_key: None, ..credentials.clone() };
    assert!(matches!(userinfo_for(&op, &keyless).await, Err(Error::Signing(_))));

    // A provider that wants its nonce in every proof: a fresh client (no nonce known yet)
    // is told it in a 401 and sends the request once more.
    switch(&server, "/test/dpop-nonce?required=true").await;
    let fresh = dpop_client(&server);
    let me = userinfo_for(&fresh, &credentials).await.unwrap();
    assert_eq!(me["sub"], "user-1", "{me}");
    // Bearer credentials of another client go as bearer tokens.
    let basic = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let bearer = log_in(&basic).await;
    assert!(!bearer.is_dpop());
    assert_eq!(userinfo_for(&basic, &bearer).await.unwrap()["sub"], "user-1");
}

/// The authorization code is bound to the grant's key from the start (`dpop_jkt`, RFC 9449
/// section 10): the exchange proves that key, and a code redeemed with proofs of another key
/// (a stolen code, with the pending authorization's other secrets) is refused.
#[tokio::test(flavor = "multi_thread")]
async fn the_code_is_bound_to_the_key_with_dpop_jkt() {
    let server = OidcServer::start(3600);
    let op = dpop_client(&server);
    let auth = authorize_url(&op, REDIRECT, TestOpScope::DEFAULT).unwrap();
    let jkt = auth.pending.dpop_jkt().expect("DPoP on: a key for the code").to_owned();
    let sent: Vec<(String, String)> = auth.url.query_pairs().into_owned().collect();
    assert!(sent.contains(&("dpop_jkt".into(), jkt.clone())), "{sent:?}");
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    let credentials = exchange(&op, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap();
    assert_eq!(credentials.dpop_key.as_ref().map(DpopKey::thumbprint), Some(jkt.as_str()), "bound to that key");

    // The same pending authorization with another key: the provider refuses the code.
    let auth = authorize_url(&op, REDIRECT, TestOpScope::DEFAULT).unwrap();
    let mut pending = serde_json::to_value(&auth.pending).unwrap();
    pending["dpop_key"] = serde_json::to_value(DpopKey::generate().unwrap()).unwrap();
    let stolen: oauthgen_runtime::PendingAuthorization = serde_json::from_value(pending).unwrap();
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    let err = exchange(&op, &stolen, &Callback::from_url(&callback).unwrap()).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_grant"), "{err:?}");

    // Without DPoP no key is made and no `dpop_jkt` sent.
    let plain = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let auth = authorize_url(&plain, REDIRECT, TestOpScope::DEFAULT).unwrap();
    assert!(auth.pending.dpop_jkt().is_none());
    assert!(!auth.url.query_pairs().any(|(k, _)| k == "dpop_jkt"));
}
