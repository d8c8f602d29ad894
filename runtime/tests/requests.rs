//! What the runtime sends and how it reads answers, against a capture server on 127.0.0.1
//! that records each request and replies with a canned response.

mod support;

use std::sync::{Arc, Mutex};

use support::{MockServer, Reply, Seen};

use oauthgen_runtime::spec::ClientAuth;
use oauthgen_runtime::{Callback, Error, Provider, authorize_url, client_credentials, exchange, refresh, revoke};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/capture.yaml")]
struct Capture;

/// Serve `replies` in order; record each request.
async fn capture(replies: Vec<(u16, &'static str, String)>) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let replies = replies
        .into_iter()
        .map(|(status, content_type, body)| Reply::Respond {
            status,
            headers: vec![("content-type", content_type.into())],
            body,
        })
        .collect();
    let server = MockServer::scripted(replies).await;
    (server.port, server.seen)
}

fn ok_token(extra: &str) -> (u16, &'static str, String) {
    (
        200,
        "application/json",
        format!(
            r#"{{"status":0,"body":{{"access_token":"at-1","token_type":"Bearer","expires_in":"3600","scope":"data:read,data:write"{extra}}}}}"#
        ),
    )
}

#[tokio::test]
async fn authorize_url_follows_the_spec() {
    let confidential = Capture::new("1", "id", "secret");
    let auth =
        authorize_url(&confidential, "http://127.0.0.1:9/cb", &[CaptureScope::Read, CaptureScope::Write]).unwrap();
    let query: std::collections::BTreeMap<String, String> = auth.url.query_pairs().into_owned().collect();
    assert_eq!(query["scope"], "data:read,data:write", "comma separator");
    assert_eq!(query["duration"], "permanent", "authorize_params");
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["state"], auth.pending.state());
    assert!(query["state"].len() >= 20);
    assert!(!query.contains_key("code_challenge"), "pkce: public_only, confidential client");

    let public = Capture::public("1", "id");
    let auth = authorize_url(&public, "http://127.0.0.1:9/cb", &[] as &[&str]).unwrap();
    let query: std::collections::BTreeMap<String, String> = auth.url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["scope"], "data:read", "default scopes");

    // Two authorizations never share a state.
    let again = authorize_url(&public, "http://127.0.0.1:9/cb", &[] as &[&str]).unwrap();
    assert_ne!(again.pending.state(), auth.pending.state());
}

#[tokio::test]
async fn exchange_shapes_the_request_and_cleans_up_the_response() {
    let (port, seen) = capture(vec![ok_token(r#","refresh_token":"rt-1","id_token":"h.p.s","instance":"eu""#)]).await;
    let provider = Capture::new(port.to_string(), "my id", "my:secret");
    let auth = authorize_url(&provider, "http://127.0.0.1:9/cb", &[] as &[&str]).unwrap();
    let callback = Callback::from_pairs([("code", "c-1"), ("state", auth.pending.state())]).unwrap();
    let credentials = exchange(&provider, &auth.pending, &callback).await.unwrap();

    let seen = seen.lock().unwrap()[0].clone();
    assert!(seen.head.starts_with("POST /token "), "{}", seen.head);
    // Basic auth, with id and secret form-encoded first (RFC 6749 section 2.3.1).
    assert!(seen.head.contains("authorization: Basic bXkraWQ6bXklM0FzZWNyZXQ="), "{}", seen.head);
    assert!(seen.head.contains("content-type: application/json"), "{}", seen.head);
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(body["code"], "c-1");
    assert_eq!(body["action"], "requesttoken");
    assert_eq!(body["redirect_uri"], "http://127.0.0.1:9/cb");
    assert!(body.get("client_secret").is_none());

    assert_eq!(credentials.access_token.secret(), "at-1");
    assert_eq!(credentials.refresh_token.as_ref().unwrap().secret(), "rt-1");
    assert_eq!(credentials.id_token.as_ref().unwrap().secret(), "h.p.s");
    assert_eq!(credentials.scopes, ["data:read", "data:write"]);
    assert_eq!(credentials.extra["instance"], "eu");
    let left = credentials.expires_at.unwrap() - chrono::Utc::now();
    assert!(left > chrono::TimeDelta::seconds(3590) && left <= chrono::TimeDelta::seconds(3600), "{left}");
    let debug = format!("{credentials:?}");
    assert!(!debug.contains("at-1") && !debug.contains("rt-1") && !debug.contains("h.p.s"), "{debug}");
}

#[tokio::test]
async fn request_body_auth_and_client_credentials_params() {
    let (port, seen) = capture(vec![ok_token("")]).await;
    let mut provider = Capture::new(port.to_string(), "id", "secret");
    provider.config_mut().set_client_auth(ClientAuth::RequestBody).unwrap();
    let credentials = client_credentials(&provider, &[CaptureScope::Write]).await.unwrap();
    assert_eq!(credentials.access_token.secret(), "at-1");
    let seen = seen.lock().unwrap()[0].clone();
    assert!(!seen.head.to_ascii_lowercase().contains("authorization:"), "{}", seen.head);
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["client_id"], "id");
    assert_eq!(body["client_secret"], "secret");
    assert_eq!(body["grant_type"], "client_credentials");
    assert_eq!(body["scope"], "data:write");
    assert_eq!(body["audience"], format!("{port}-api"), "templated grant parameter");
}

#[tokio::test]
async fn errors_are_typed_and_leave_credentials_alone() {
    let (port, _) = capture(vec![
        ok_token(r#","refresh_token":"rt-1""#),
        (200, "application/json", r#"{"status":601,"error":"invalid_grant","error_description":"expired"}"#.into()),
        (200, "text/html", "<html>maintenance</html>".into()),
        (500, "application/json", r#"{"error":"server_error"}"#.into()),
        (200, "application/json", r#"{"body":{"access_token":"x""#.into()),
    ])
    .await;
    let provider = Capture::new(port.to_string(), "id", "secret");
    let mut credentials = client_credentials(&provider, &[] as &[&str]).await.unwrap();
    let before = serde_json::to_string(&credentials).unwrap();

    // An error inside HTTP 200 (the spec says `error_in_200`) that is `invalid_grant`.
    let err = refresh(&provider, &mut credentials).await.unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { error, description, .. } if error == "invalid_grant" && description.as_deref() == Some("expired")),
        "{err:?}"
    );
    assert!(credentials.invalid, "invalid_grant marks the credentials");
    credentials.invalid = false;
    assert_eq!(serde_json::to_string(&credentials).unwrap(), before);

    for _ in 0..3 {
        let err = refresh(&provider, &mut credentials).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::MalformedResponse { .. } | Error::OAuth { .. } | Error::Unavailable { status: 500, .. }
            ),
            "{err:?}"
        );
        assert!(!credentials.invalid);
        assert_eq!(serde_json::to_string(&credentials).unwrap(), before, "nothing changes on failure");
    }
}

#[tokio::test]
async fn variables_are_checked_before_any_request() {
    let provider = Capture::new("80/evil.example#", "id", "secret");
    let err = authorize_url(&provider, "http://127.0.0.1:9/cb", &[] as &[&str]).unwrap_err();
    assert!(matches!(&err, Error::InvalidVariable { name, .. } if name == "port"), "{err:?}");
    let err = client_credentials(&provider, &[] as &[&str]).await.unwrap_err();
    assert!(matches!(err, Error::InvalidVariable { .. }));
}

#[tokio::test]
async fn revoke_sends_the_refresh_token_with_its_hint() {
    let (port, seen) =
        capture(vec![ok_token(r#","refresh_token":"rt-9""#), (200, "application/json", String::new())]).await;
    let provider = Capture::new(port.to_string(), "id", "secret");
    let credentials = client_credentials(&provider, &[] as &[&str]).await.unwrap();
    revoke(&provider, &credentials).await.unwrap();
    let seen = seen.lock().unwrap()[1].clone();
    assert!(seen.head.starts_with("POST /revoke "));
    // The spec says `body_format: json`, which shapes every body sent to the provider.
    assert!(seen.head.contains("content-type: application/json"), "{}", seen.head);
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body, serde_json::json!({ "token": "rt-9", "token_type_hint": "refresh_token" }));
    assert!(seen.head.contains("authorization: Basic "));
}

#[test]
fn callbacks_refuse_repeated_parameters() {
    assert!(matches!(Callback::from_query("code=a&state=b&state=c"), Err(Error::InvalidCallback(_))));
    let cb = Callback::from_url("http://127.0.0.1/cb?code=a%20b&state=s").unwrap();
    assert_eq!(cb.get("code"), Some("a b"));
    assert!(!format!("{cb:?}").contains("a b"), "Debug shows names only");
}

#[test]
fn scopes_parse_display_and_serde() {
    let s: CaptureScope = "data:write".parse().unwrap();
    assert_eq!(s, CaptureScope::Write);
    assert_eq!(s.to_string(), "data:write");
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"data:write\"");
    assert_eq!(serde_json::from_str::<CaptureScope>("\"data:read\"").unwrap(), CaptureScope::Read);
    assert!("data:delete".parse::<CaptureScope>().is_err());
    assert_eq!(CaptureScope::ALL.len(), 2);
    assert_eq!(CaptureScope::DEFAULT, &[CaptureScope::Read]);
}

#[test]
fn variable_patterns_decide_and_the_default_rule_is_strict() {
    use oauthgen_providers_free::*;
    // A pattern that allows a port.
    let ghe = GheLike::new("github.example.com:8443", "id", "secret");
    let url = ghe.config().endpoint(oauthgen_runtime::Endpoint::Token).unwrap();
    assert_eq!(url.as_str(), "https://github.example.com:8443/token");
    assert!(GheLike::new("evil.test/x", "id", "secret").config().endpoint(oauthgen_runtime::Endpoint::Token).is_err());
    // No pattern: only unreserved characters.
    assert!(Loose::new("a.b-c", "id", "secret").config().endpoint(oauthgen_runtime::Endpoint::Token).is_ok());
    for bad in ["a/b", "a@b", "..", "", "a?b", "a#b", "a:b"] {
        assert!(
            Loose::new(bad, "id", "secret").config().endpoint(oauthgen_runtime::Endpoint::Token).is_err(),
            "{bad:?}"
        );
    }
}

mod oauthgen_providers_free {
    #[oauthgen_runtime::oauth_provider(spec = "tests/specs/ghelike.yaml")]
    pub(crate) struct GheLike;

    #[oauthgen_runtime::oauth_provider(spec = "tests/specs/loose.yaml")]
    pub(crate) struct Loose;
}
