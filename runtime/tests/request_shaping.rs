//! Request shaping from the spec: `request_headers` on every call to the provider, variables
//! in parameter and header values, and token parameters for one grant only.

mod support;

use support::{MockServer, Reply, Seen};

use oauthgen_runtime::{Callback, Credentials, authorize_url, exchange, introspect, refresh, revoke, userinfo};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/shaping.yaml")]
struct Shaping;

fn answer(seen: &Seen) -> Reply {
    match seen.path() {
        "/token" => Reply::json(
            200,
            r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#,
        ),
        "/introspect" => Reply::json(200, r#"{"active":true}"#),
        "/us/me" | "/eu/me" | "/co.uk/me" => Reply::json(200, r#"{"sub":"u-1"}"#),
        _ => Reply::json(200, "{}"),
    }
}

fn form(seen: &Seen) -> std::collections::BTreeMap<String, String> {
    url::form_urlencoded::parse(seen.body.as_bytes()).into_owned().collect()
}

fn header<'s>(seen: &'s Seen, name: &str) -> Option<&'s str> {
    seen.head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn every_call_carries_the_spec_headers_and_each_grant_its_parameters() {
    let server = MockServer::start(answer).await;
    let provider = Shaping::new(server.port.to_string(), "abc123", "id", "secret");

    let auth = authorize_url(&provider, "http://127.0.0.1:9/cb", &[] as &[&str]).unwrap();
    let query: std::collections::BTreeMap<String, String> = auth.url.query_pairs().into_owned().collect();
    assert_eq!(query["context"], "stores/abc123", "a variable inside an authorize parameter");

    let callback = Callback::from_pairs([("code", "c-1"), ("state", auth.pending.state())]).unwrap();
    let mut credentials: Credentials = exchange(&provider, &auth.pending, &callback).await.unwrap();
    refresh(&provider, &mut credentials).await.unwrap();
    introspect(&provider, "at-1", None).await.unwrap();
    userinfo(&provider, "at-1").await.unwrap();
    revoke(&provider, &credentials).await.unwrap();

    let seen = server.requests();
    let paths: Vec<&str> = seen.iter().map(Seen::path).collect();
    assert_eq!(paths, ["/token", "/token", "/introspect", "/us/me", "/revoke"]);
    for s in &seen {
        assert_eq!(header(s, "notion-version"), Some("2022-06-28"), "{}", s.head);
        assert_eq!(header(s, "user-agent"), Some("oauthgen-test/1.0 (by abc123)"), "{}", s.head);
    }
    // The flows' own headers are not replaced.
    assert!(header(&seen[0], "authorization").is_some_and(|v| v.starts_with("Basic ")));
    assert_eq!(header(&seen[3], "authorization"), Some("Bearer at-1"));

    let code = form(&seen[0]);
    assert_eq!(code["grant_type"], "authorization_code");
    assert_eq!(code["context"], "stores/abc123", "a variable inside a token parameter");
    assert_eq!(code["type"], "web_server", "code_params on the code exchange");
    let again = form(&seen[1]);
    assert_eq!(again["grant_type"], "refresh_token");
    assert_eq!(again["context"], "stores/abc123");
    assert_eq!(again["type"], "refresh", "refresh_params on a refresh, not code_params");
}

#[tokio::test]
async fn a_header_follows_its_variable() {
    let server = MockServer::start(answer).await;
    let provider = Shaping::new(server.port.to_string(), "abc123", "id", "secret").with_api_version("2025-09-03");
    userinfo(&provider, "at-1").await.unwrap();
    assert_eq!(header(&server.requests()[0], "notion-version"), Some("2025-09-03"));
}

#[tokio::test]
async fn a_variable_value_that_breaks_a_header_is_refused_before_sending() {
    let server = MockServer::start(answer).await;
    let provider = Shaping::new(server.port.to_string(), "abc123", "id", "secret").with_api_version("a\nb");
    let err = userinfo(&provider, "at-1").await.unwrap_err();
    assert!(err.to_string().contains("api_version"), "{err}");
    assert!(server.requests().is_empty());
}

/// A variable with `values` is a typed enum in generated code; a value set by name (as the
/// CLI and `RuntimeProvider` do) must be one of them.
#[tokio::test]
async fn an_enum_variable_takes_only_its_values() {
    use oauthgen_runtime::Provider as _;
    assert_eq!(ShapingRegion::ALL, [ShapingRegion::Us, ShapingRegion::Eu, ShapingRegion::CoUk]);
    assert_eq!(ShapingRegion::CoUk.as_str(), "co.uk");
    assert_eq!(ShapingRegion::Eu.to_string(), "eu");
    let server = MockServer::start(answer).await;
    let provider = Shaping::new(server.port.to_string(), "abc123", "id", "secret").with_region(ShapingRegion::CoUk);
    userinfo(&provider, "at-1").await.unwrap();
    assert_eq!(server.requests()[0].path(), "/co.uk/me");

    let mut by_name = Shaping::new(server.port.to_string(), "abc123", "id", "secret");
    by_name.config_mut().set_variable("region", "jp".into());
    let err = userinfo(&by_name, "at-1").await.unwrap_err();
    assert!(err.to_string().contains("must be one of us, eu, co.uk"), "{err}");
    assert_eq!(server.requests().len(), 1, "nothing sent for a value outside the list");
}

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/renamed.yaml")]
struct Renamed;

#[tokio::test]
async fn renamed_parameters_path_prefixes_dates_and_the_redirect_uri_on_refresh() {
    let in_an_hour =
        (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = format!(
        r#"{{"access_token":"at-1","token_type":"Bearer","expires_at":"{in_an_hour}","refresh_token":"rt-1"}}"#
    );
    let server = MockServer::start(move |seen| match seen.path() {
        "/gitlab/device" => Reply::json(
            200,
            r#"{"device_code":"dc","user_code":"U","verification_uri":"https://acme.example/activate","expires_in":600}"#,
        ),
        _ => Reply::json(200, body.clone()),
    })
    .await;
    let provider = Renamed::new(server.port.to_string(), "the-key", "the-secret").with_prefix("/gitlab");

    let auth = authorize_url(&provider, "http://127.0.0.1:9/cb", &["read", "write"]).unwrap();
    assert_eq!(auth.url.path(), "/gitlab/authorize", "the path prefix");
    let query: std::collections::BTreeMap<String, String> = auth.url.query_pairs().into_owned().collect();
    assert_eq!(query.get("client_key").map(String::as_str), Some("the-key"));
    assert_eq!(query.get("scope").map(String::as_str), Some("read write"), "renamed at another endpoint only");
    assert!(!query.contains_key("client_id"), "{query:?}");
    assert!(!query.contains_key("response_type"), "left out: {query:?}");
    assert!(query.contains_key("state") && query.contains_key("redirect_uri"), "{query:?}");

    let callback = Callback::from_pairs([("code", "c-1"), ("state", auth.pending.state())]).unwrap();
    let mut credentials = exchange(&provider, &auth.pending, &callback).await.unwrap();
    let left = credentials.expires_at.unwrap() - chrono::Utc::now();
    assert!((3590..=3600).contains(&left.num_seconds()), "the expiry date was read: {left}");
    refresh(&provider, &mut credentials).await.unwrap();

    let seen = server.requests();
    assert!(seen.iter().all(|s| s.path() == "/gitlab/token"));
    let (code, again) = (form(&seen[0]), form(&seen[1]));
    for f in [&code, &again] {
        assert_eq!(f.get("client_key").map(String::as_str), Some("the-key"), "{f:?}");
        assert!(!f.contains_key("client_id"), "{f:?}");
        assert_eq!(f.get("client_secret").map(String::as_str), Some("the-secret"));
    }
    assert_eq!(again["grant_type"], "refresh_token");
    assert_eq!(again["redirect_uri"], "http://127.0.0.1:9/cb", "the sign-in's redirect URI, repeated");

    // The device request's own names (`endpoint_param_names`) win over `param_names`.
    let device = oauthgen_runtime::device_authorization(&provider, &["read", "write"]).await.unwrap();
    assert_eq!(device.user_code, "U");
    let seen = server.requests();
    let sent = form(&seen[2]);
    assert_eq!(seen[2].path(), "/gitlab/device");
    assert_eq!(sent.get("scopes").map(String::as_str), Some("read write"), "{sent:?}");
    assert_eq!(sent.get("app_key").map(String::as_str), Some("the-key"), "{sent:?}");
    for standard in ["scope", "client_id", "client_key"] {
        assert!(!sent.contains_key(standard), "{standard} in {sent:?}");
    }

    // Credentials that never recorded it (another client's, an older store): a clear error,
    // nothing sent.
    credentials.extra.remove("redirect_uri");
    let err = refresh(&provider, &mut credentials).await.unwrap_err();
    assert!(matches!(&err, oauthgen_runtime::Error::MissingField { field, .. } if field == "redirect_uri"), "{err:?}");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_path_prefix_never_leaves_the_path() {
    let base = || Renamed::new("8080".to_owned(), "id", "secret");
    let url =
        |p: &Renamed| oauthgen_runtime::__private::Provider::config(p).endpoint(oauthgen_runtime::Endpoint::Token);
    assert_eq!(url(&base()).unwrap().as_str(), "http://127.0.0.1:8080/token", "empty by default");
    assert_eq!(url(&base().with_prefix("/a/b")).unwrap().as_str(), "http://127.0.0.1:8080/a/b/token");
    for bad in ["gitlab", "/gitlab/", "/a/../b", "/a//b", "/%2e%2e", "/a?b", "/a#b", "/a@b", "//evil.example"] {
        let err = url(&base().with_prefix(bad)).unwrap_err();
        assert!(matches!(err, oauthgen_runtime::Error::InvalidVariable { .. }), "{bad}: {err:?}");
    }
}

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/datacentre.yaml")]
struct Datacentre;

#[tokio::test]
async fn the_callback_names_the_data_centre_for_the_whole_grant() {
    let configured = MockServer::start(answer).await;
    let users = MockServer::start(answer).await;
    let origin = |s: &MockServer| format!("http://127.0.0.1:{}", s.port);
    let provider = Datacentre::new(origin(&configured), "id", "secret");
    let sign_in = |server: Option<&str>| {
        let auth = authorize_url(&provider, "http://127.0.0.1:9/cb", &[] as &[&str]).unwrap();
        let mut pairs =
            vec![("code".to_owned(), "c-1".to_owned()), ("state".to_owned(), auth.pending.state().to_owned())];
        if let Some(s) = server {
            pairs.push(("accounts-server".to_owned(), s.to_owned()));
        }
        (auth, Callback::from_pairs(pairs).unwrap())
    };

    // The callback's server takes the exchange, the refresh and the revocation.
    let (auth, callback) = sign_in(Some(&origin(&users)));
    assert!(auth.url.as_str().starts_with(&origin(&configured)), "the sign-in starts at the configured server");
    let mut credentials = exchange(&provider, &auth.pending, &callback).await.unwrap();
    assert_eq!(credentials.extra["accounts-server"], origin(&users).as_str(), "kept with the credentials");
    refresh(&provider, &mut credentials).await.unwrap();
    revoke(&provider, &credentials).await.unwrap();
    let seen = users.requests();
    let paths: Vec<&str> = seen.iter().map(Seen::path).collect();
    assert_eq!(paths, ["/token", "/token", "/revoke"]);
    assert!(configured.requests().is_empty());

    // One the pattern does not allow, or that is not an origin, is a tampered callback:
    // nothing is sent anywhere.
    for bad in [
        "https://evil.example",
        "http://127.0.0.1:1/steal",
        "http://evil.example:80",
        "http://127.0.0.1:1@evil.example",
    ] {
        let (auth, callback) = sign_in(Some(bad));
        let err = exchange(&provider, &auth.pending, &callback).await.unwrap_err();
        assert!(matches!(err, oauthgen_runtime::Error::InvalidCallback(_)), "{bad}: {err:?}");
    }
    assert_eq!(users.requests().len(), 3);
    assert!(configured.requests().is_empty());

    // Without it, the configured server.
    let (auth, callback) = sign_in(None);
    exchange(&provider, &auth.pending, &callback).await.unwrap();
    assert_eq!(configured.requests().len(), 1);
}

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/apiheaders.yaml")]
struct ApiHeaders;

#[tokio::test]
async fn api_calls_carry_the_spec_api_headers_unless_the_request_sets_them() {
    let server = MockServer::start(answer).await;
    let provider = ApiHeaders::new(server.port.to_string(), "the-key", "secret").with_version("v3");
    let store = oauthgen_runtime::MemoryStore::new();
    let credentials: Credentials = serde_json::from_value(serde_json::json!({
        "access_token": "at-1", "token_type": "Bearer", "refresh_token": "rt-1", "scopes": []
    }))
    .unwrap();
    oauthgen_runtime::TokenStore::save(&store, "user", &credentials).await.unwrap();
    let http = oauthgen_runtime::authorized_client(oauthgen_runtime::TokenManager::new(provider, store, "user"));
    let url = format!("http://127.0.0.1:{}/api", server.port);
    http.get(&url).send().await.unwrap();
    http.get(&url).header("x-api-version", "v1").send().await.unwrap();

    let seen = server.requests();
    assert_eq!(header(&seen[0], "x-api-key"), Some("the-key"));
    assert_eq!(header(&seen[0], "x-api-version"), Some("v3"), "a variable");
    assert_eq!(header(&seen[0], "x-both"), Some("the-key:v3"));
    assert_eq!(header(&seen[0], "authorization"), Some("Bearer at-1"));
    assert_eq!(header(&seen[1], "x-api-version"), Some("v1"), "the request's own header wins");
    // The OAuth endpoints do not get them: they are for API calls.
    let provider = ApiHeaders::new(server.port.to_string(), "the-key", "secret");
    let mut credentials = credentials;
    refresh(&provider, &mut credentials).await.unwrap();
    assert_eq!(header(&server.requests()[2], "x-api-key"), None);
}
