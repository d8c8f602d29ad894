//! End to end against a real, OpenID-certified authorization server: npm `oidc-provider`
//! on 127.0.0.1, driven through a spec (`fixtures/ok/testop.yaml`) and the generated client.

use oauthgen_runtime::spec::ClientAuth;
use oauthgen_runtime::{
    Callback, Credentials, Error, Provider, authorize_url, authorize_url_with, client_credentials, exchange, refresh,
    revoke,
};
use oauthgen_tests::{OidcServer, TestOp, TestOpScope, approve_device, follow_to_callback};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

async fn log_in(provider: &TestOp) -> Credentials {
    let auth = authorize_url(provider, REDIRECT, TestOpScope::DEFAULT).unwrap();
    assert!(auth.pending.uses_pkce());
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    exchange(provider, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap()
}

async fn userinfo_email(server: &OidcServer, credentials: &Credentials) -> String {
    let body: serde_json::Value = reqwest::Client::new()
        .get(server.url("/me"))
        .bearer_auth(credentials.access_token.secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["email"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_basic_code_flow_refresh_and_revoke() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let mut credentials = log_in(&op).await;
    assert!(!credentials.access_token.secret().is_empty());
    assert!(credentials.id_token.is_some(), "openid was requested");
    assert!(credentials.expires_at.is_some());
    assert!(credentials.scopes.iter().any(|s| s == "email"), "{:?}", credentials.scopes);
    assert_eq!(userinfo_email(&server, &credentials).await, "user-1@example.test");

    // Refresh: a new access token, and (rotation is on) a new refresh token.
    let (old_access, old_refresh) =
        (credentials.access_token.secret().clone(), credentials.refresh_token.clone().unwrap().secret().clone());
    refresh(&op, &mut credentials).await.unwrap();
    assert_ne!(credentials.access_token.secret(), &old_access);
    assert_ne!(credentials.refresh_token.as_ref().unwrap().secret(), &old_refresh);
    assert!(!credentials.invalid);
    assert_eq!(userinfo_email(&server, &credentials).await, "user-1@example.test");

    // Revoke the grant; refreshing then fails with invalid_grant and marks the credentials.
    revoke(&op, &credentials).await.unwrap();
    let err = refresh(&op, &mut credentials).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_grant"), "{err:?}");
    assert!(credentials.invalid);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_post_code_flow() {
    let server = OidcServer::start(3600);
    let mut op = TestOp::new(server.port.to_string(), "post-client", "post-secret");
    op.config_mut().set_client_auth(ClientAuth::RequestBody).unwrap();
    assert_eq!(op.config().client_auth(), ClientAuth::RequestBody);
    let credentials = log_in(&op).await;
    assert!(credentials.refresh_token.is_some());
    assert_eq!(userinfo_email(&server, &credentials).await, "user-1@example.test");
}

#[tokio::test(flavor = "multi_thread")]
async fn public_client_with_pkce() {
    let server = OidcServer::start(3600);
    let op = TestOp::public(server.port.to_string(), "public-client");
    let credentials = log_in(&op).await;
    assert!(credentials.id_token.is_some());
    assert_eq!(userinfo_email(&server, &credentials).await, "user-1@example.test");

    // The server requires PKCE: a pending authorization without its verifier fails.
    let auth = authorize_url(&op, REDIRECT, TestOpScope::DEFAULT).unwrap();
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    let mut pending: serde_json::Value = serde_json::to_value(&auth.pending).unwrap();
    pending.as_object_mut().unwrap().remove("pkce_verifier");
    let pending = serde_json::from_value(pending).unwrap();
    let err = exchange(&op, &pending, &Callback::from_url(&callback).unwrap()).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_grant"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_state_is_refused_before_the_code_is_used() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let auth = authorize_url(&op, REDIRECT, TestOpScope::DEFAULT).unwrap();
    let callback_url = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    let good = Callback::from_url(&callback_url).unwrap();

    let mut url = url::Url::parse(&callback_url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" { format!("{v}x") } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let tampered = Callback::from_url(url.as_str()).unwrap();
    assert!(matches!(exchange(&op, &auth.pending, &tampered).await, Err(Error::StateMismatch)));
    let missing = Callback::from_pairs([("code", good.get("code").unwrap())]).unwrap();
    assert!(matches!(exchange(&op, &auth.pending, &missing).await, Err(Error::StateMismatch)));
    // A second `state` is refused outright.
    assert!(Callback::from_query(&format!("{}&state=other", url.query().unwrap())).is_err());
    // A wrong issuer (RFC 9207 mix-up) is refused.
    let mixed = Callback::from_pairs([
        ("code", good.get("code").unwrap()),
        ("state", good.get("state").unwrap()),
        ("iss", "http://127.0.0.1:1"),
    ])
    .unwrap();
    assert!(matches!(exchange(&op, &auth.pending, &mixed).await, Err(Error::IssuerMismatch { .. })));

    // The code was never sent: the genuine callback still works.
    let credentials = exchange(&op, &auth.pending, &good).await.unwrap();
    assert!(!credentials.access_token.secret().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_callback_is_a_typed_error() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let auth = authorize_url_with(&op, REDIRECT, TestOpScope::DEFAULT, &[("login_hint", "deny")]).unwrap();
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    match exchange(&op, &auth.pending, &Callback::from_url(&callback).unwrap()).await {
        Err(Error::Authorization { error, description, .. }) => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("the test user refused"));
        }
        other => panic!("expected access_denied, got {other:?}"),
    }
    assert!(matches!(
        authorize_url_with(&op, REDIRECT, TestOpScope::DEFAULT, &[("state", "mine")]),
        Err(Error::ReservedParameter(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_and_bad_secret() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let credentials = client_credentials(&op, &[] as &[&str]).await.unwrap();
    assert!(!credentials.access_token.secret().is_empty());
    assert!(credentials.refresh_token.is_none());

    let wrong = TestOp::new(server.port.to_string(), "basic-client", "wrong-secret");
    let err = client_credentials(&wrong, &[] as &[&str]).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_client"), "{err:?}");
    // Nothing secret leaks into the error or the provider's Debug output.
    assert!(!format!("{err:?}{wrong:?}").contains("wrong-secret"));
}

#[tokio::test(flavor = "multi_thread")]
async fn device_flow_approved_and_refused() {
    let server = OidcServer::start(3600);
    let op = TestOp::public(server.port.to_string(), "public-client");
    let mut device = oauthgen_runtime::device_authorization(&op, &["openid", "email"]).await.unwrap();
    assert!(device.verification_uri_complete.as_deref().is_some_and(|u| u.contains(&device.user_code)));
    let (uri, code) = (device.verification_uri.clone(), device.user_code.clone());
    let user = tokio::spawn(async move { approve_device(&uri, &code, true).await });
    let credentials = oauthgen_runtime::device_poll(&op, &mut device).await.unwrap();
    user.await.unwrap();
    assert_eq!(userinfo_email(&server, &credentials).await, "user-1@example.test");
    // The ID token was validated (no nonce in the device flow).
    assert_eq!(credentials.id_token_claims().map(|c| c.sub).as_deref(), Some("user-1"));

    let mut device = oauthgen_runtime::device_authorization(&op, &["openid"]).await.unwrap();
    let (uri, code) = (device.verification_uri.clone(), device.user_code.clone());
    let user = tokio::spawn(async move { approve_device(&uri, &code, false).await });
    let err = oauthgen_runtime::device_poll(&op, &mut device).await.unwrap_err();
    user.await.unwrap();
    assert!(matches!(&err, Error::Authorization { error, .. } if error == "access_denied"), "{err:?}");
}

/// The installed-app flow on a real loopback listener: a stray `/favicon.ico` and a forged
/// callback are refused while it waits, then the browser's redirect completes the sign-in.
#[tokio::test(flavor = "multi_thread")]
async fn loopback_login_on_127_0_0_1() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let options = oauthgen_runtime::LoopbackOptions {
        open_browser: false,
        timeout: std::time::Duration::from_secs(20),
        ..Default::default()
    };
    let login = oauthgen_runtime::LoopbackLogin::start(&op, TestOpScope::DEFAULT, options).await.unwrap();
    let url = login.url().clone();
    let redirect: String = url.query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1.into_owned();
    assert!(redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"), "{redirect}");
    let browser = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let base = redirect.trim_end_matches("/callback").to_owned();
        let favicon = client.get(format!("{base}/favicon.ico")).send().await.unwrap();
        assert_eq!(favicon.status(), 404);
        let forged = client.get(format!("{redirect}?code=x&state=forged")).send().await.unwrap();
        assert_eq!(forged.status(), 400);
        // The real browser: follow the redirects to the loopback listener.
        let callback = follow_to_callback(url.as_str(), &redirect).await;
        let page = client.get(&callback).send().await.unwrap();
        (page.status().as_u16(), page.text().await.unwrap())
    });
    let credentials = login.finish().await.unwrap();
    let (status, page) = browser.await.unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("Signed in"));
    assert_eq!(userinfo_email(&server, &credentials).await, "user-1@example.test");
}
