//! OAuth error responses (RFC 6749 section 5.2) at every endpoint, through one parser: the
//! same typed error everywhere, errors inside HTTP 200 and form-encoded ones when the spec
//! says so, and clear errors (never a panic) for malformed, huge or oddly typed bodies. And
//! refreshes at the spec's own refresh endpoint, cleaned up like token responses.

mod support;

use std::fmt::Debug;
use std::time::Duration;

use oauthgen_runtime::{
    Callback, DevicePoll, Endpoint, Error, Provider, authorize_url, client_credentials, device_authorization,
    device_poll_once, exchange, exchange_assertion, introspect, refresh, revoke,
};
use support::{MockServer, Reply, credentials};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/errors.yaml")]
struct Errors;

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/errors_in_200.yaml")]
struct ErrorsIn200;

const INVALID_GRANT: &str = r#"{"error":"invalid_grant","error_description":"x"}"#;
const CODES: &str =
    r#"{"device_code":"dc-1","user_code":"U","verification_uri":"https://example.test/d","expires_in":30}"#;
const CALLBACK_URL: &str = "http://127.0.0.1:9/cb";

/// `result` is `invalid_grant` with description `x`, as `Error::OAuth`.
#[track_caller]
fn assert_invalid_grant<T: Debug>(what: &str, result: Result<T, Error>) {
    match result {
        Err(Error::OAuth { error, description, uri }) => {
            assert_eq!(error, "invalid_grant", "{what}");
            assert_eq!(description.as_deref(), Some("x"), "{what}");
            assert_eq!(uri, None, "{what}");
        }
        other => panic!("{what}: expected Error::OAuth, got {other:?}"),
    }
}

fn form(status: u16, body: &str) -> Reply {
    Reply::Respond {
        status,
        headers: vec![("content-type", "application/x-www-form-urlencoded".into())],
        body: body.into(),
    }
}

async fn started_device<P: oauthgen_runtime::DeviceFlow>(provider: &P) -> oauthgen_runtime::DeviceAuthorization {
    device_authorization(provider, &[] as &[&str]).await.unwrap()
}

#[tokio::test]
async fn every_endpoint_gives_the_same_typed_error() {
    let server = MockServer::scripted(vec![Reply::json(400, INVALID_GRANT)]).await;
    let provider = Errors::new(server.port.to_string(), "id", "secret");
    let auth = authorize_url(&provider, CALLBACK_URL, &[] as &[&str]).unwrap();
    let callback = Callback::from_pairs([("code", "c-1"), ("state", auth.pending.state())]).unwrap();
    assert_invalid_grant("token exchange", exchange(&provider, &auth.pending, &callback).await);
    let mut held = credentials("at-1", "rt-1", 60);
    assert_invalid_grant("refresh", refresh(&provider, &mut held).await);
    assert!(held.invalid, "invalid_grant from the refresh endpoint marks the credentials");
    assert_invalid_grant("revocation", revoke(&provider, &held).await);
    assert_invalid_grant("introspection", introspect(&provider, "at-1", None).await);
    assert_invalid_grant("device authorization", device_authorization(&provider, &[] as &[&str]).await);
    assert_invalid_grant("client credentials", client_credentials(&provider, &[] as &[&str]).await);
    assert_invalid_grant("JWT bearer", exchange_assertion(&provider, None, "h.p.s", &[]).await);
    let paths: Vec<String> = server.requests().iter().map(|r| r.path().to_owned()).collect();
    assert_eq!(paths, ["/token", "/refresh", "/revoke", "/introspect", "/device", "/token", "/token"]);

    let server = MockServer::scripted(vec![Reply::json(200, CODES), Reply::json(400, INVALID_GRANT)]).await;
    let provider = Errors::new(server.port.to_string(), "id", "secret");
    let mut device = started_device(&provider).await;
    assert_invalid_grant("device polling", device_poll_once(&provider, &mut device).await);

    let err = refresh(&provider, &mut credentials("at-1", "rt-1", 60)).await.unwrap_err();
    assert_eq!(err.to_string(), "the provider refused the request: invalid_grant: x");
}

#[tokio::test]
async fn errors_inside_http_200_when_the_spec_says_so() {
    let slack = r#"{"ok":false,"error":"invalid_grant","error_description":"x","access_token":""}"#;
    let server = MockServer::scripted(vec![
        Reply::json(200, slack),
        Reply::json(200, r#"{"status":601,"body":{"error":"invalid_grant","error_description":"x"}}"#),
        Reply::json(200, slack),
        Reply::json(200, slack),
        Reply::json(200, r#"{"ok":true}"#),
        Reply::json(200, r#"{"status":0,"body":{"access_token":"at-2","expires_in":60}}"#),
    ])
    .await;
    let provider = ErrorsIn200::new(server.port.to_string(), "id", "secret");
    assert_invalid_grant("error_in_200 at the token endpoint", client_credentials(&provider, &[] as &[&str]).await);
    assert_invalid_grant("an error inside the `root` wrapper", client_credentials(&provider, &[] as &[&str]).await);
    let held = credentials("at-1", "rt-1", 60);
    assert_invalid_grant("error_in_200 at the revocation endpoint", revoke(&provider, &held).await);
    assert_invalid_grant("error_in_200 at the device endpoint", device_authorization(&provider, &[] as &[&str]).await);
    revoke(&provider, &held).await.unwrap();
    let token = client_credentials(&provider, &[] as &[&str]).await.unwrap();
    assert_eq!(token.access_token.secret(), "at-2");

    // Without the flag, a 200 with an error and no token is still an error; a revocation
    // answered with 200 is done (RFC 7009), whatever its body.
    let server = MockServer::scripted(vec![Reply::json(200, INVALID_GRANT)]).await;
    let provider = Errors::new(server.port.to_string(), "id", "secret");
    assert_invalid_grant("a 200 without a token", client_credentials(&provider, &[] as &[&str]).await);
    revoke(&provider, &held).await.unwrap();
}

#[tokio::test]
async fn form_encoded_errors_where_the_spec_allows_them() {
    let server = MockServer::scripted(vec![
        form(400, "error=invalid_grant&error_description=x"),
        Reply::json(200, CODES),
        // GitHub answers polls with HTTP 200 and a form.
        form(200, "error=authorization_pending"),
        form(200, "error=invalid_grant&error_description=x"),
        form(400, "error=invalid_grant&error_description=x"),
    ])
    .await;
    let provider = ErrorsIn200::new(server.port.to_string(), "id", "secret");
    assert_invalid_grant("form at the token endpoint", client_credentials(&provider, &[] as &[&str]).await);
    let mut device = started_device(&provider).await;
    assert!(matches!(device_poll_once(&provider, &mut device).await, Ok(DevicePoll::Pending)));
    assert_invalid_grant("form in 200 at the token endpoint", device_poll_once(&provider, &mut device).await);
    assert_invalid_grant("form at the revocation endpoint", revoke(&provider, &credentials("a", "r", 60)).await);

    // A spec that says JSON does not read forms from the endpoints that issue tokens.
    let server = MockServer::scripted(vec![form(400, "error=invalid_grant&error_description=x")]).await;
    let provider = Errors::new(server.port.to_string(), "id", "secret");
    let err = client_credentials(&provider, &[] as &[&str]).await.unwrap_err();
    assert!(
        matches!(&err, Error::MalformedResponse { status: 400, reason } if reason.contains("token endpoint")),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_huge_and_odd_bodies_are_clear_errors() {
    let huge = "\u{e9}".repeat(300_000);
    let long_code = serde_json::json!({ "error": "e".repeat(500_000) }).to_string();
    let long_description =
        serde_json::json!({ "error": "invalid_grant", "error_description": format!("\u{1b}[2J{huge}") }).to_string();
    let malformed = [
        Reply::Respond {
            status: 400,
            headers: vec![("content-type", "text/html".into())],
            body: "<html>no</html>".into(),
        },
        Reply::json(400, ""),
        Reply::json(400, r#"{"error":["invalid_grant"]}"#),
        Reply::json(400, r#"{"error":{"code":1}}"#),
        Reply::json(400, r#"{"error":"invalid_grant""#),
        Reply::json(400, "[]"),
        Reply::json(400, r#"{"message":"nope"}"#),
        Reply::json(403, r#"{"error":""}"#),
    ];
    let count = malformed.len();
    let mut replies = malformed.to_vec();
    replies.extend([
        Reply::json(400, r#"{"error":"invalid_grant","error_description":{"a":[1]},"error_uri":5}"#),
        Reply::json(401, r#"{"error":42}"#),
        Reply::json(400, long_code),
        Reply::json(400, long_description),
    ]);
    let server = MockServer::scripted(replies).await;
    let provider = Errors::new(server.port.to_string(), "id", "secret");
    let mut held = credentials("at-1", "rt-1", 60);
    let before = serde_json::to_string(&held).unwrap();
    for i in 0..count {
        let err = refresh(&provider, &mut held).await.unwrap_err();
        match &err {
            Error::MalformedResponse { status: 400 | 403, reason } => {
                assert!(reason.contains("refresh endpoint refused the request"), "{i}: {reason}");
            }
            other => panic!("{i}: expected a malformed response, got {other:?}"),
        }
        assert_eq!(serde_json::to_string(&held).unwrap(), before, "{i}: nothing changes");
    }

    let err = refresh(&provider, &mut held).await.unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { error, description: None, uri: None } if error == "invalid_grant"),
        "non-string description and URI are dropped: {err:?}"
    );
    let err = refresh(&provider, &mut held).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "42"), "{err:?}");
    let Error::OAuth { error, .. } = refresh(&provider, &mut held).await.unwrap_err() else { panic!() };
    assert!(error.len() <= 1024 + 3 && error.ends_with('\u{2026}'), "{}", error.len());
    let Error::OAuth { description, .. } = refresh(&provider, &mut held).await.unwrap_err() else { panic!() };
    let description = description.unwrap();
    assert!(description.len() <= 1024 + 3, "{}", description.len());
    assert!(!description.contains('\u{1b}'), "control characters are replaced");
    assert!(description.starts_with(" [2J\u{e9}"), "{:?}", &description[..8]);
}

#[tokio::test]
async fn refreshes_go_to_the_refresh_endpoint_shaped_and_cleaned_up_like_token_requests() {
    let server = MockServer::scripted(vec![
        Reply::json(200, r#"{"access_token":"at-2","expires_in":"3600","scope":["read","write"]}"#),
        Reply::json(503, "{}"),
        Reply::Hang,
    ])
    .await;
    let mut provider = Errors::new(server.port.to_string(), "id", "secret");
    let mut held = credentials("at-1", "rt-1", 60);
    refresh(&provider, &mut held).await.unwrap();

    let request = &server.requests()[0];
    assert!(request.head.starts_with("POST /refresh "), "{}", request.head);
    assert!(request.head.contains("content-type: application/json"), "token_request.body_format: {}", request.head);
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    let expected = serde_json::json!({
        "grant_type": "refresh_token", "refresh_token": "rt-1", "client_id": "id", "client_secret": "secret",
    });
    assert_eq!(body, expected);

    // `expires_in` as a string, `scope` as a list and no `token_type`: cleaned up.
    assert_eq!(held.access_token.secret(), "at-2");
    assert_eq!(held.token_type.to_ascii_lowercase(), "bearer");
    assert_eq!(held.scopes, ["read", "write"]);
    assert_eq!(held.refresh_token.as_ref().unwrap().secret(), "rt-1", "kept when the response has none");
    let left = held.expires_at.unwrap() - chrono::Utc::now();
    assert!(left > chrono::TimeDelta::seconds(3590) && left <= chrono::TimeDelta::seconds(3600), "{left}");

    // Failures name the refresh endpoint.
    let err = refresh(&provider, &mut held).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { endpoint: Endpoint::Refresh, status: 503, .. }), "{err:?}");
    provider.config_mut().set_timeout(Duration::from_millis(300));
    let err = refresh(&provider, &mut held).await.unwrap_err();
    assert!(matches!(err, Error::Http { endpoint: Endpoint::Refresh, maybe_sent: true, .. }), "{err:?}");
    assert!(err.to_string().contains("refresh endpoint"), "{err}");
    assert!(server.requests().iter().all(|r| r.path() == "/refresh"));
}
