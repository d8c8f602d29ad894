//! TLS at run time: endpoint overrides, rendered templates (endpoints, issuer, a discovered
//! `jwks_uri`) and key files' `token_uri` must be `https` unless the host is loopback;
//! variable values never make dot segments or leave their place, whatever their pattern; the
//! authorized client never sends a bearer token over plain http off loopback, also after a
//! redirect. None of these tests needs a network: refusals happen before connecting (to
//! `example.test`, which does not resolve here).

mod support;

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use support::{MockServer, Reply, credentials};

use oauthgen_runtime::interop::{authorized_user, oauth2client};
use oauthgen_runtime::{
    Endpoint, Error, MemoryStore, Provider, ServiceAccountKey, TokenManager, TokenStore as _, authorize_url,
    authorized_client, authorized_client_with, client_credentials, exchange_assertion, revoke, secure_redirect_policy,
    validate_id_token,
};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/allin.yaml")]
struct Allin;

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/lax.yaml")]
struct Lax;

fn insecure(result: Result<impl std::fmt::Debug, Error>) -> (String, String) {
    match result {
        Err(Error::InsecureUrl { what, url }) => (what, url),
        other => panic!("expected Error::InsecureUrl, got {other:?}"),
    }
}

#[test]
fn endpoint_overrides_must_be_https_off_loopback() {
    let p = || Allin::new("1", "id", "secret");
    let (what, url) = insecure(p().with_endpoint(Endpoint::Token, "http://user:pw@example.test/token?k=v#f"));
    assert!(what.contains("token"), "{what}");
    assert_eq!(url, "http://example.test/token", "no user info, query or fragment");
    insecure(p().with_endpoint(Endpoint::Revocation, "http://10.0.0.1/revoke"));
    insecure(p().with_endpoint(Endpoint::Authorization, "http://localhost.example.test/authorize"));
    insecure(p().with_endpoint(Endpoint::Token, "ftp://127.0.0.1/token"));
    for ok in [
        "https://example.test/token",
        "http://127.0.0.1:1/token",
        "http://127.3.4.5:1/token",
        "http://localhost:1/token",
        "http://LOCALHOST:1/token",
        "http://[::1]:1/token",
    ] {
        p().with_endpoint(Endpoint::Token, ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[tokio::test]
async fn overrides_set_on_the_configuration_are_checked_when_used() {
    let mut provider = Allin::new("1", "id", "secret");
    let url = oauthgen_runtime::reqwest::Url::parse("http://example.test/token").unwrap();
    provider.config_mut().set_endpoint(Endpoint::Token, url);
    insecure(client_credentials(&provider, &[AllinScope::Read]).await);
    // The refresh endpoint follows the token override, checked as well.
    insecure(provider.config().endpoint(Endpoint::Refresh));
}

#[tokio::test]
async fn rendered_templates_must_be_https_off_loopback() {
    // `http://[::{v6}]:{port}`: loopback for `1` only.
    let provider = Lax::new("example.test", "t", "id", "secret");
    assert!(provider.config().endpoint(Endpoint::Revocation).is_ok());
    assert_eq!(provider.config().issuer().unwrap().as_deref(), Some("http://[::1]:1"));
    let provider = provider.with_v6("2");
    let (_, url) = insecure(provider.config().endpoint(Endpoint::Revocation));
    assert_eq!(url, "http://[::2]:1/revoke");
    insecure(provider.config().issuer());
    insecure(revoke(&provider, &credentials("at", "rt", 60)).await);
}

#[tokio::test]
async fn a_discovered_jwks_uri_must_be_https_off_loopback() {
    let port = Arc::new(OnceLock::<u16>::new());
    let p = port.clone();
    let server = MockServer::start(move |_| {
        let issuer = format!("http://127.0.0.1:{}", p.get().copied().unwrap_or_default());
        Reply::json(200, format!(r#"{{"issuer":"{issuer}","jwks_uri":"http://example.test/keys"}}"#))
    })
    .await;
    port.set(server.port).unwrap();
    let provider = Allin::new(server.port.to_string(), "id", "secret");
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = format!("{}.{}.{}", enc(r#"{"alg":"RS256","kid":"k1"}"#), enc("{}"), enc("sig"));
    let (_, url) = insecure(validate_id_token(provider.config(), &token, None).await);
    assert_eq!(url, "http://example.test/keys");
    assert_eq!(server.requests().len(), 1, "discovery only");
}

#[test]
fn variable_values_never_make_dot_segments_or_leave_their_place() {
    // The spec's patterns (`.*`) allow anything: the runtime still refuses these.
    let bad_tenants = [
        ".", "..", "%2e", "%2E%2e", ".%2e", "a/../b", "../x", "a%2fb", "a%2Fb", "a\\b", "a%5cb", "a?b", "a%3fb", "a#b",
        "a%23b", "a@b", "a%40b", "a\nb", "a%0ab", "a\tb", "",
    ];
    for tenant in bad_tenants {
        let provider = Lax::new("example.test", tenant, "id", "secret");
        for result in [
            provider.config().endpoint(Endpoint::Token).map(|_| ()),
            authorize_url(&provider, "http://127.0.0.1:9/cb", &[] as &[&str]).map(|_| ()),
        ] {
            match result {
                Err(Error::InvalidVariable { name, value, .. }) => {
                    assert_eq!((name.as_str(), value.as_str()), ("tenant", tenant));
                }
                other => panic!("tenant {tenant:?}: expected Error::InvalidVariable, got {other:?}"),
            }
        }
    }
    for host in ["evil.test/x", "user@evil.test", "evil.test?", "evil.test#", "evil.test\\x", "evil.test%2f"] {
        let provider = Lax::new(host, "t", "id", "secret");
        let err = provider.config().endpoint(Endpoint::Token).unwrap_err();
        assert!(matches!(&err, Error::InvalidVariable { name, .. } if name == "host"), "{host:?}: {err:?}");
    }
    // Dots inside a value, or more than two, are no dot segment.
    for tenant in ["a.b", "...", ".a", "a..", "%41", "%2e%2e%2e"] {
        let url = Lax::new("example.test", tenant, "id", "secret").config().endpoint(Endpoint::Token).unwrap();
        assert!(url.path().ends_with("/token"), "{tenant}: {url}");
    }
}

#[test]
fn a_value_next_to_the_templates_dots_makes_no_dot_segment_either() {
    // `.` + `%2` + `e` renders `.%2e`, which URL parsers resolve like `..`.
    let provider = Lax::new("example.test", "%2", "id", "secret");
    let err = provider.config().render("https://example.test/.{tenant}e/token").unwrap_err();
    assert!(matches!(&err, Error::InvalidVariable { name, .. } if name == "tenant"), "{err:?}");
    assert!(provider.config().render("https://example.test/x{tenant}e/token").is_ok());
}

fn pem() -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(include_bytes!("keys/rsa1.der"));
    format!("-----BEGIN RSA PRIVATE KEY-----\n{b64}\n-----END RSA PRIVATE KEY-----\n")
}

#[tokio::test]
async fn a_key_files_token_uri_must_be_https_off_loopback() {
    let file = |token_uri: &str| {
        serde_json::json!({"type": "service_account", "private_key": pem(), "client_email": "robot@example.test",
                           "token_uri": token_uri})
        .to_string()
    };
    let err = ServiceAccountKey::from_google_json(&file("http://example.test/token")).unwrap_err();
    assert!(err.0.contains("https is required"), "{err}");
    for ok in ["https://example.test/token", "http://127.0.0.1:1/token"] {
        assert_eq!(ServiceAccountKey::from_google_json(&file(ok)).unwrap().token_uri(), Some(ok));
    }
    // A `token_uri` given to the exchange: refused before any request.
    let provider = Allin::new("1", "id", "secret");
    insecure(exchange_assertion(&provider, Some("http://example.test/token"), "jwt", &[]).await);

    // gcloud's and oauth2client's files.
    let user = |uri: &str| {
        serde_json::json!({"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r",
                           "token_uri": uri})
        .to_string()
    };
    let err = authorized_user::read(&user("http://example.test/token")).unwrap_err();
    assert!(err.reason.contains("https is required"), "{err}");
    assert!(authorized_user::read(&user("http://localhost:1/token")).is_ok());
    let classic = serde_json::json!({
        "_module": "oauth2client.client", "_class": "OAuth2Credentials", "access_token": "a", "client_id": "c",
        "client_secret": "s", "refresh_token": "r", "token_expiry": null, "token_uri": "https://example.test/token",
        "revoke_uri": "http://example.test/revoke", "user_agent": null, "invalid": false,
    });
    let err = oauth2client::read(&classic.to_string()).unwrap_err();
    assert!(err.reason.contains("revoke_uri"), "{err}");
}

/// A manager whose stored token is valid for an hour, on a provider at `server`.
async fn manager(server: &MockServer) -> TokenManager<Allin, MemoryStore> {
    let store = MemoryStore::new();
    store.save("user", &credentials("at-1", "rt-1", 3600)).await.unwrap();
    TokenManager::new(Allin::new(server.port.to_string(), "id", "secret"), store, "user")
}

#[tokio::test]
async fn the_authorized_client_sends_no_bearer_token_over_plain_http_off_loopback() {
    let server = MockServer::start(|_| Reply::json(200, "{}")).await;
    let http = authorized_client(manager(&server).await);
    let err = http.get("http://example.test/api").send().await.unwrap_err();
    assert!(matches!(err.auth(), Some(Error::InsecureUrl { .. })), "{err:?}");
    // Loopback is allowed, with the token.
    let ok = http.get(format!("http://127.0.0.1:{}/api", server.port)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(server.requests().len(), 1, "only the loopback request was sent");
    assert!(server.requests()[0].head.contains("authorization: Bearer at-1"));
}

#[tokio::test]
async fn the_authorized_client_follows_no_redirect_to_plain_http_off_loopback() {
    let next = MockServer::start(|_| Reply::json(200, "{}")).await;
    let next_port = next.port;
    let server = MockServer::start(move |seen| match seen.path() {
        "/to-loopback" => Reply::json(302, "").with_header("location", format!("http://127.0.0.1:{next_port}/x")),
        _ => Reply::json(302, "").with_header("location", "http://example.test/x"),
    })
    .await;
    let custom = oauthgen_runtime::reqwest::Client::builder().redirect(secure_redirect_policy()).build().unwrap();
    for http in [authorized_client(manager(&server).await), authorized_client_with(custom, manager(&server).await)] {
        let err = http.get(format!("http://127.0.0.1:{}/to-plain-http", server.port)).send().await.unwrap_err();
        match err.auth() {
            Some(Error::InsecureUrl { url, .. }) => assert_eq!(url, "http://example.test/x"),
            other => panic!("expected Error::InsecureUrl, got {other:?} from {err:?}"),
        }
        // A redirect to another loopback server is followed.
        let ok = http.get(format!("http://127.0.0.1:{}/to-loopback", server.port)).send().await.unwrap();
        assert_eq!(ok.status(), 200);
    }
    assert_eq!(next.requests().len(), 2);
}
