//! Pushed authorization requests (RFC 9126) against the certified `oidc-provider`
//! (`tests/oidc/server.mjs`), whose `par-client` must push: the parameters go to the
//! provider's `/request` endpoint, authenticated as the client, and the browser carries
//! only `client_id` and `request_uri`. Without PAR the provider refuses that client.

use oauthgen_runtime::spec::ClientAuth;
use oauthgen_runtime::{
    Callback, ClientKey, Endpoint, Error, LoopbackLogin, LoopbackOptions, Provider, authorize, authorize_url, exchange,
};
use oauthgen_tests::{OidcServer, TestOp, TestOpScope, follow_to_callback};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// `client` at the test provider, pushing its authorization requests to `/request`.
fn pushing(server: &OidcServer, client: &str, secret: &str) -> TestOp {
    TestOp::new(server.port.to_string(), client, secret)
        .with_endpoint(Endpoint::PushedAuthorization, &server.url("/request"))
        .unwrap()
}

/// The names of a URL's query parameters.
fn names(url: &url::Url) -> Vec<String> {
    url.query_pairs().map(|(n, _)| n.into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_must_push_signs_in_and_the_browser_sees_only_the_request_uri() {
    let server = OidcServer::start(3600);
    let op = pushing(&server, "par-client", "par-secret");
    let auth = authorize(&op, REDIRECT, TestOpScope::DEFAULT, &[("login_hint", "user-1")]).await.unwrap();
    assert_eq!(auth.url.path(), "/auth");
    assert_eq!(names(&auth.url), ["client_id", "request_uri"], "{}", auth.url);
    let request_uri = auth.url.query_pairs().find(|(n, _)| n == "request_uri").unwrap().1.into_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"), "{request_uri}");
    for secret in [auth.pending.state(), "code_challenge", "nonce", "redirect_uri", "par-secret"] {
        assert!(!auth.url.as_str().contains(secret), "{secret} in the browser's URL");
    }

    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    let credentials = exchange(&op, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap();
    assert!(credentials.refresh_token.is_some());
    let claims = credentials.id_token_claims().expect("an ID token, nonce checked by exchange");
    assert_eq!(claims.sub, "user-1");

    // The request_uri is single-use: the same link again is refused by the provider.
    // The provider no longer knows where to redirect, so it answers itself.
    let again = reqwest::get(auth.url.as_str()).await.unwrap();
    assert_eq!(again.status(), 400);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request_uri", "{body}");

    // The synchronous builder cannot push, and says so instead of building a URL.
    let err = authorize_url(&op, REDIRECT, TestOpScope::DEFAULT).unwrap_err();
    assert!(matches!(err, Error::PushedAuthorizationRequired { provider: "testop" }), "{err:?}");
    assert!(err.to_string().contains("use `authorize`"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_pushing_the_provider_refuses_that_client() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "par-client", "par-secret");
    let auth = authorize(&op, REDIRECT, TestOpScope::DEFAULT, &[]).await.unwrap();
    assert!(names(&auth.url).contains(&"code_challenge".to_owned()), "not pushed: {}", auth.url);
    let callback = Callback::from_url(&follow_to_callback(auth.url.as_str(), REDIRECT).await).unwrap();
    assert_eq!(callback.get("error"), Some("invalid_request"));
    assert!(callback.get("error_description").unwrap_or_default().contains("Pushed Authorization Request"));
    let err = exchange(&op, &auth.pending, &callback).await.unwrap_err();
    assert!(matches!(&err, Error::Authorization { error, .. } if error == "invalid_request"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_push_is_an_error_before_any_browser_and_the_push_is_authenticated() {
    let server = OidcServer::start(3600);
    // A redirect URI the client did not register: refused at the push, not in the browser.
    let op = pushing(&server, "par-client", "par-secret");
    let err = authorize(&op, "http://127.0.0.1:9/elsewhere", TestOpScope::DEFAULT, &[]).await.unwrap_err();
    let Error::OAuth { error, description, .. } = &err else { panic!("{err:?}") };
    assert_eq!(error, "invalid_request");
    assert!(description.as_deref().unwrap_or_default().contains("redirect_uri"), "{err:?}");

    // A wrong secret: the push authenticates the client.
    let wrong = pushing(&server, "par-client", "not-the-secret");
    let err = authorize(&wrong, REDIRECT, TestOpScope::DEFAULT, &[]).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_client"), "{err:?}");

    // `private_key_jwt` pushes with an assertion, and the sign-in completes.
    let key = ClientKey::from_file(oauthgen_tests::tests_dir().join("oidc/client-key.json")).unwrap();
    let jwt = TestOp::public(server.port.to_string(), "jwt-client")
        .with_client_key(key)
        .with_endpoint(Endpoint::PushedAuthorization, &server.url("/request"))
        .unwrap();
    assert_eq!(jwt.config().client_auth(), ClientAuth::PrivateKeyJwt);
    let auth = authorize(&jwt, REDIRECT, TestOpScope::DEFAULT, &[]).await.unwrap();
    assert_eq!(names(&auth.url), ["client_id", "request_uri"]);
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    exchange(&jwt, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap();

    // A client with `client_secret_post` sends its id once, in the body, with the secret.
    let mut post = pushing(&server, "post-client", "post-secret");
    post.config_mut().set_client_auth(ClientAuth::RequestBody).unwrap();
    let auth = authorize(&post, REDIRECT, TestOpScope::DEFAULT, &[]).await.unwrap();
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    exchange(&post, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap();
}

/// The installed-app loopback login pushes too: the browser is sent with the `request_uri`
/// and comes back to the loopback listener, which finishes the sign-in.
#[tokio::test(flavor = "multi_thread")]
async fn the_loopback_login_pushes() {
    let server = OidcServer::start(3600);
    let op = pushing(&server, "par-client", "par-secret");
    let options =
        LoopbackOptions { open_browser: false, timeout: std::time::Duration::from_secs(20), ..Default::default() };
    let login = LoopbackLogin::start(&op, TestOpScope::DEFAULT, options).await.unwrap();
    let url = login.url().clone();
    assert_eq!(names(&url), ["client_id", "request_uri"]);
    let redirect = login.pending().redirect_uri().to_owned();
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    let browser = tokio::spawn(async move {
        let callback = follow_to_callback(url.as_str(), &redirect).await;
        reqwest::get(&callback).await.unwrap().status().as_u16()
    });
    let credentials = login.finish().await.unwrap();
    assert_eq!(browser.await.unwrap(), 200);
    assert!(credentials.id_token_claims().is_some());
}
