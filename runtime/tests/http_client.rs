//! `with_http_client`: every request the runtime makes for a provider (token, refresh,
//! client credentials, revocation, introspection, device authorization and polling,
//! service-account tokens, OpenID discovery and JWKS) goes through the caller's client, and
//! the runtime's timeout and response size limit still apply to it.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use support::{MockServer, Reply, token_json};

use oauthgen_runtime::reqwest::header::{HeaderMap, HeaderValue};
use oauthgen_runtime::{
    Callback, Error, MAX_RESPONSE_BYTES, Provider, ServiceAccountKey, authorize_url, client_credentials,
    device_authorization, device_poll_once, exchange, introspect, refresh, revoke, service_account_token,
    validate_id_token,
};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/allin.yaml")]
struct Allin;

/// A client of the caller's that marks each request with `x-test-client: 1`, without the
/// runtime's timeout (the runtime must still apply its own).
fn marking_client() -> oauthgen_runtime::reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("x-test-client", HeaderValue::from_static("1"));
    oauthgen_runtime::reqwest::Client::builder().default_headers(headers).build().unwrap()
}

/// The service-account key of the tests (`keys/rsa1.der`, PKCS#1) in PEM.
fn key() -> ServiceAccountKey {
    let b64 = base64::engine::general_purpose::STANDARD.encode(include_bytes!("keys/rsa1.der"));
    let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{b64}\n-----END RSA PRIVATE KEY-----\n");
    ServiceAccountKey::from_pem("robot@example.test", &pem, None).unwrap()
}

/// A provider on 127.0.0.1 answering every endpoint of `allin.yaml`, discovery and JWKS.
async fn provider_server() -> MockServer {
    let port = Arc::new(OnceLock::<u16>::new());
    let p = port.clone();
    let server = MockServer::start(move |seen| {
        let base = format!("http://127.0.0.1:{}", p.get().copied().unwrap_or_default());
        match seen.path() {
            "/token" => Reply::json(200, token_json("at-1", Some("rt-1"), 3600)),
            "/revoke" => Reply::json(200, "{}"),
            "/introspect" => Reply::json(200, r#"{"active":true,"scope":"read"}"#),
            "/device" => Reply::json(
                200,
                format!(
                    r#"{{"device_code":"dc-1","user_code":"UC-1","verification_uri":"{base}/verify","expires_in":600,"interval":1}}"#
                ),
            ),
            "/.well-known/openid-configuration" => Reply::json(
                200,
                format!(
                    r#"{{"issuer":"{base}","jwks_uri":"{base}/keys","authorization_endpoint":"{base}/authorize","id_token_signing_alg_values_supported":["RS256"]}}"#
                ),
            ),
            "/keys" => Reply::json(200, r#"{"keys":[]}"#),
            _ => Reply::json(404, "{}"),
        }
    })
    .await;
    port.set(server.port).unwrap();
    server
}

#[tokio::test]
async fn every_request_goes_through_the_callers_client() {
    let server = provider_server().await;
    let provider = Allin::new(server.port.to_string(), "id", "secret").with_http_client(marking_client());

    let auth = authorize_url(&provider, "http://127.0.0.1:9/cb", &[AllinScope::Read]).unwrap();
    let callback = Callback::from_pairs([("code", "c-1"), ("state", auth.pending.state())]).unwrap();
    let mut credentials = exchange(&provider, &auth.pending, &callback).await.unwrap();
    refresh(&provider, &mut credentials).await.unwrap();
    client_credentials(&provider, &[AllinScope::Read]).await.unwrap();
    introspect(&provider, "at-1", None).await.unwrap();
    revoke(&provider, &credentials).await.unwrap();
    let mut device = device_authorization(&provider, &[AllinScope::Read]).await.unwrap();
    device_poll_once(&provider, &mut device).await.unwrap();
    service_account_token(&provider, &key(), &["read"], None).await.unwrap();
    // An unsigned token: refused, but only once discovery and the JWKS were fetched.
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = format!("{}.{}.{}", enc(r#"{"alg":"RS256","kid":"k1"}"#), enc("{}"), enc("sig"));
    assert!(validate_id_token(provider.config(), &token, None).await.is_err());

    let requests = server.requests();
    let paths: BTreeSet<&str> = requests.iter().map(support::Seen::path).collect();
    let expected = ["/token", "/revoke", "/introspect", "/device", "/.well-known/openid-configuration", "/keys"];
    assert_eq!(paths, expected.into_iter().collect(), "every kind of request was made");
    let grants: BTreeSet<&str> = requests
        .iter()
        .filter(|s| s.path() == "/token")
        .filter_map(|s| s.body.split('&').find_map(|kv| kv.strip_prefix("grant_type=")))
        .collect();
    assert_eq!(grants.len(), 5, "code, refresh, client credentials, device code, jwt bearer: {grants:?}");
    for seen in &requests {
        assert!(seen.head.contains("x-test-client: 1"), "not sent with the caller's client: {}", seen.head);
    }

    // Without one, the runtime's own client.
    let plain = Allin::new(server.port.to_string(), "id", "secret");
    client_credentials(&plain, &[AllinScope::Read]).await.unwrap();
    let head = server.requests().last().unwrap().head.clone();
    assert!(!head.contains("x-test-client") && head.contains("user-agent: oauthgen/"), "{head}");
}

#[tokio::test]
async fn the_runtime_timeout_applies_to_the_callers_client() {
    let server = MockServer::scripted(vec![Reply::Hang]).await;
    let mut provider = Allin::new(server.port.to_string(), "id", "secret").with_http_client(marking_client());
    provider.config_mut().set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = client_credentials(&provider, &[AllinScope::Read]).await.unwrap_err();
    assert!(matches!(&err, Error::Http { reason, .. } if reason.contains("timed out")), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(server.requests()[0].head.contains("x-test-client: 1"));
}

#[tokio::test]
async fn the_response_size_limit_applies_to_the_callers_client() {
    let huge = format!(r#"{{"access_token":"{}"}}"#, "a".repeat(MAX_RESPONSE_BYTES));
    let server = MockServer::scripted(vec![Reply::json(200, huge)]).await;
    let provider = Allin::new(server.port.to_string(), "id", "secret").with_http_client(marking_client());
    let err = client_credentials(&provider, &[AllinScope::Read]).await.unwrap_err();
    assert!(matches!(&err, Error::Http { reason, .. } if reason.contains("larger than")), "{err:?}");
    assert!(server.requests()[0].head.contains("x-test-client: 1"));
}
