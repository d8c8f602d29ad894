//! The axum integration over HTTP, against npm `oidc-provider` on 127.0.0.1: the required
//! extractor's round trip, and a tampered `state`, a replayed callback, an expired pending
//! authorization and an off-site return URL, each refused with nothing stored. Pushed
//! authorization requests (RFC 9126) and DPoP-bound tokens (RFC 9449) through the app.

mod support;

use std::time::Duration;

use oauthgen_tests::FORGED_ID_TOKENS;
use support::{AppOptions, app, app_with_options, browser, fetch, follow};

#[tokio::test(flavor = "multi_thread")]
async fn required_sends_the_user_to_the_provider_and_back() {
    let app = app(Duration::from_secs(600)).await;
    let client = browser();
    let callback =
        follow(&client, &format!("{}/profile?tab=1", app.base), &format!("{}/oauth2callback", app.base)).await;
    let (status, location, _) = fetch(&client, &callback).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/profile?tab=1"), "back to where the user started");
    let (status, _, body) = fetch(&client, &format!("{}/profile?tab=1", app.base)).await;
    assert_eq!(status, 200);
    assert!(body.contains("user-1@example.test"), "{body}");
    let (_, _, home) = fetch(&client, &format!("{}/home", app.base)).await;
    assert_eq!(home, "signed in");
    // The handler sees the validated ID token's claims.
    let (status, _, who) = fetch(&client, &format!("{}/whoami", app.base)).await;
    assert_eq!(status, 200);
    assert_eq!(who, format!("user-1 {}", app.server.issuer), "{who}");
    // A second user (another cookie jar) is not signed in.
    let (_, _, home) = fetch(&browser(), &format!("{}/home", app.base)).await;
    assert!(home.starts_with("signed out"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_replayed_expired_and_offsite_are_refused() {
    let app = app(Duration::from_secs(2)).await;
    let cb = format!("{}/oauth2callback", app.base);

    // Tampered state: refused, nothing stored.
    let client = browser();
    let callback = follow(&client, &format!("{}/profile", app.base), &cb).await;
    let tampered = callback.replace("state=", "state=x");
    let (status, _, body) = fetch(&client, &tampered).await;
    assert_eq!(status, 400, "{body}");
    let (_, _, home) = fetch(&client, &format!("{}/home", app.base)).await;
    assert!(home.starts_with("signed out"), "nothing was stored");

    // Replay: the first use works, the second is refused.
    let client = browser();
    let callback = follow(&client, &format!("{}/profile", app.base), &cb).await;
    assert_eq!(fetch(&client, &callback).await.0, 303);
    let (status, _, body) = fetch(&client, &callback).await;
    assert_eq!(status, 400);
    assert!(body.contains("already used"), "{body}");

    // Another session cannot finish someone else's sign-in.
    let client = browser();
    let callback = follow(&client, &format!("{}/profile", app.base), &cb).await;
    assert_eq!(fetch(&browser(), &callback).await.0, 400);

    // Expired pending authorization: refused, nothing stored.
    let client = browser();
    let callback = follow(&client, &format!("{}/profile", app.base), &cb).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (status, _, body) = fetch(&client, &callback).await;
    assert_eq!(status, 400);
    assert!(body.contains("too long"), "{body}");
    let (_, _, home) = fetch(&client, &format!("{}/home", app.base)).await;
    assert!(home.starts_with("signed out"));

    // An off-site return URL becomes `/`.
    let client = browser();
    let (_, _, authorize) = fetch(&client, &format!("{}/offsite", app.base)).await;
    let callback = follow(&client, &authorize, &cb).await;
    let (status, location, _) = fetch(&client, &callback).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_out_revokes_deletes_and_ends_the_session() {
    let app = app(Duration::from_secs(600)).await;
    let client = browser();
    let callback = follow(&client, &format!("{}/profile", app.base), &format!("{}/oauth2callback", app.base)).await;
    assert_eq!(fetch(&client, &callback).await.0, 303);
    assert_eq!(fetch(&client, &format!("{}/home", app.base)).await.2, "signed in");
    let (_, _, access_token) = fetch(&client, &format!("{}/token", app.base)).await;
    let active = |token: String| {
        let url = app.server.url("/token/introspection");
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .basic_auth("basic-client", Some("basic-secret"))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            response.json::<serde_json::Value>().await.unwrap()["active"].as_bool().unwrap()
        }
    };
    assert!(active(access_token.clone()).await, "the token works before sign-out");

    // Another site's form cannot sign the user out.
    let signout = format!("{}/oauth2callback/signout?return=/home", app.base);
    let foreign = client.post(&signout).header("origin", "https://evil.test").send().await.unwrap();
    assert_eq!(foreign.status(), 403);
    let cross = client.post(&signout).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(cross.status(), 403);
    assert_eq!(fetch(&client, &format!("{}/home", app.base)).await.2, "signed in");

    // The provider's interactions: `login` without a session there, `consent` with one.
    let logins = || async {
        let url = app.server.url("/test/prompts");
        let prompts = reqwest::get(url).await.unwrap().json::<Vec<String>>().await.unwrap();
        prompts.iter().filter(|p| *p == "login").count()
    };
    let cb = format!("{}/oauth2callback", app.base);
    follow(&client, &format!("{}/oauth2callback/start?return=/home", app.base), &cb).await;
    assert_eq!(logins().await, 1, "the provider's session lives: no second login");

    // The app's own page can. The provider has an end-session endpoint: the user goes there
    // (RP-initiated logout), is signed out of the provider too, and comes back to the
    // signed-out route, which goes on to the same-origin return path.
    let response = client.post(&signout).header("origin", &app.base).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let end_session = url::Url::parse(response.headers().get("location").unwrap().to_str().unwrap()).unwrap();
    assert_eq!(&end_session[..url::Position::AfterPath], app.server.url("/session/end"));
    let query: std::collections::HashMap<_, _> = end_session.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "basic-client");
    assert_eq!(query["post_logout_redirect_uri"], format!("{}/oauth2callback/signedout", app.base));
    assert_eq!(query["state"], "/home");
    assert_eq!(query["id_token_hint"].split('.').count(), 3, "the user's ID token as the hint");
    assert!(fetch(&client, &format!("{}/home", app.base)).await.2.starts_with("signed out"), "signed out locally");
    assert!(!active(access_token).await, "the grant was revoked at the provider");
    let back = confirm_logout(&client, end_session.as_str()).await;
    assert!(back.starts_with(&format!("{}/oauth2callback/signedout?", app.base)), "{back}");
    let (status, location, _) = fetch(&client, &back).await;
    assert_eq!((status, location.as_deref()), (303, Some("/home")));
    // The signed-out route goes only to same-origin paths.
    let forged = format!("{}/oauth2callback/signedout?state=//evil.test", app.base);
    assert_eq!(fetch(&client, &forged).await.1.as_deref(), Some("/"));

    // A user without credentials is signed out locally, without a trip to the provider.
    let offsite = format!("{}/oauth2callback/signout?return=//evil.test", app.base);
    let response = client.post(&offsite).send().await.unwrap();
    assert_eq!(response.headers().get("location").unwrap(), "/");

    // The provider's session ended: signing in again goes through its login interaction,
    // and works.
    let callback = follow(&client, &format!("{}/profile", app.base), &cb).await;
    assert_eq!(logins().await, 2, "the provider's session ended: the user logs in there again");
    assert_eq!(fetch(&client, &callback).await.0, 303);
    assert_eq!(fetch(&client, &format!("{}/home", app.base)).await.2, "signed in");
}

/// Play the user on the provider's logout page: submit its form with "yes"; the URL the
/// provider then sends the browser to.
async fn confirm_logout(client: &reqwest::Client, end_session: &str) -> String {
    let page = client.get(end_session).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let action = page.split("action=\"").nth(1).and_then(|r| r.split('"').next()).expect("a logout form");
    let xsrf = page.split("name=\"xsrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("xsrf");
    let action = url::Url::parse(end_session).unwrap().join(action).unwrap();
    let response = client.post(action).form(&[("xsrf", xsrf), ("logout", "yes")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    response.headers().get("location").unwrap().to_str().unwrap().to_owned()
}

/// A callback arriving from another site is answered with a page of the app that goes on to
/// the same URL (so the browser sends its `SameSite=Strict` cookies); nothing is used up
/// before that second request, which then signs the user in.
#[tokio::test(flavor = "multi_thread")]
async fn a_cross_site_callback_continues_from_the_app() {
    let app = app(Duration::from_secs(600)).await;
    let client = browser();
    let callback = follow(&client, &format!("{}/profile", app.base), &format!("{}/oauth2callback", app.base)).await;
    let response = client.get(&callback).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("http-equiv=refresh") && page.contains("oauthgen_bounced=1"), "{page}");
    let next = format!("{callback}&oauthgen_bounced=1");
    let response = client.get(&next).header("sec-fetch-site", "same-origin").send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers().get("location").unwrap(), "/profile");
    // The marker is honoured once: a cross-site request carrying it is not bounced again.
    let again = client.get(&next).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(again.status(), 400, "already used");
}

/// Session fixation: a session id planted in the victim's browser before they sign in is
/// worthless afterwards, because the callback gives the session a new id.
#[tokio::test(flavor = "multi_thread")]
async fn the_session_id_changes_when_credentials_are_bound() {
    let app = app(Duration::from_secs(600)).await;
    let attacker = browser();
    let response = attacker.get(format!("{}/hello", app.base)).send().await.unwrap();
    let set_cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    let planted = set_cookie.split(';').next().unwrap().to_owned();
    assert!(planted.starts_with("id="), "{set_cookie}");

    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&planted, &app.base.parse().unwrap());
    let victim = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let callback = follow(&victim, &format!("{}/profile", app.base), &format!("{}/oauth2callback", app.base)).await;
    assert_eq!(fetch(&victim, &callback).await.0, 303);
    assert_eq!(fetch(&victim, &format!("{}/home", app.base)).await.2, "signed in");
    let now = reqwest::cookie::CookieStore::cookies(&*jar, &app.base.parse().unwrap()).unwrap();
    assert!(!now.to_str().unwrap().contains(&planted), "a new session id: {now:?}");
    assert!(
        fetch(&attacker, &format!("{}/home", app.base)).await.2.starts_with("signed out"),
        "the planted id is worthless"
    );
}

/// Users from the application's own extractor (here a header set by a front proxy) instead
/// of a session: the round trip works, and another user cannot finish someone's sign-in.
#[tokio::test(flavor = "multi_thread")]
async fn users_from_an_application_extractor() {
    use axum::extract::FromRequestParts;
    use axum::http::StatusCode;
    use axum::http::request::Parts;
    use oauthgen_axum::{OAuth, OAuthConfig, Required, UserId};
    use oauthgen_runtime::MemoryStore;
    use oauthgen_tests::{OidcServer, TestOp};

    struct HeaderUser(String);

    impl<St: Send + Sync> FromRequestParts<St> for HeaderUser {
        type Rejection = StatusCode;

        async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, StatusCode> {
            let user = parts.headers.get("x-user").and_then(|v| v.to_str().ok()).ok_or(StatusCode::UNAUTHORIZED)?;
            Ok(Self(user.to_owned()))
        }
    }

    impl<St: Send + Sync> UserId<St> for HeaderUser {
        fn user_id(&self) -> &str {
            &self.0
        }
    }

    async fn me(auth: Required<TestOp, MemoryStore, HeaderUser>) -> String {
        use oauthgen_runtime::Provider as _;
        let url = auth.manager().provider().config().endpoint(oauthgen_runtime::Endpoint::Userinfo).unwrap();
        auth.http().get(url).send().await.unwrap().text().await.unwrap()
    }

    let server = OidcServer::start(3600);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let oauth = OAuth::new(
        TestOp::new(server.port.to_string(), "basic-client", "basic-secret"),
        MemoryStore::new(),
        OAuthConfig::new(base.parse().unwrap()),
    );
    let router: axum::Router = axum::Router::new()
        .route("/me", axum::routing::get(me))
        .merge(oauth.callback_router_for::<HeaderUser, _>())
        .with_state(oauth);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let as_user = |name: &str| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-user", name.parse().unwrap());
        reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let (alice, bob) = (as_user("alice"), as_user("bob"));
    let callback = follow(&alice, &format!("{base}/me"), &format!("{base}/oauth2callback")).await;
    assert_eq!(fetch(&bob, &callback).await.0, 400, "bob cannot finish alice's sign-in");
    let callback = follow(&alice, &format!("{base}/me"), &format!("{base}/oauth2callback")).await;
    assert_eq!(fetch(&alice, &callback).await.0, 303);
    let (status, _, body) = fetch(&alice, &format!("{base}/me")).await;
    assert_eq!(status, 200);
    assert!(body.contains("user-1@example.test"), "{body}");
    assert_eq!(fetch(&bob, &format!("{base}/me")).await.0, 303, "bob has no credentials");
    assert_eq!(reqwest::get(format!("{base}/me")).await.unwrap().status(), 401, "no user at all");
}

/// Forged ID tokens from the provider's token endpoint (`oidc-provider`, switched to forge
/// them): each sign-in fails with the reason on the page, and nothing is stored; a real token
/// then signs the same browser in.
#[tokio::test(flavor = "multi_thread")]
async fn forged_id_tokens_sign_nobody_in() {
    let app = app(Duration::from_secs(600)).await;
    let cb = format!("{}/oauth2callback", app.base);
    let client = browser();
    for &(kind, reason) in FORGED_ID_TOKENS {
        app.server.forge_id_tokens(kind).await;
        let callback = follow(&client, &format!("{}/profile", app.base), &cb).await;
        let (status, _, body) = fetch(&client, &callback).await;
        assert_eq!(status, 400, "{kind}: {body}");
        assert!(body.contains("ID token refused") && body.contains(reason), "{kind}: {body}");
        let (_, _, home) = fetch(&client, &format!("{}/home", app.base)).await;
        assert!(home.starts_with("signed out"), "{kind}: nothing stored");
        assert_eq!(fetch(&client, &format!("{}/whoami", app.base)).await.0, 303, "{kind}: no claims");
    }
    app.server.forge_id_tokens("none").await;
    let callback = follow(&client, &format!("{}/profile", app.base), &cb).await;
    assert_eq!(fetch(&client, &callback).await.0, 303);
    let (_, _, who) = fetch(&client, &format!("{}/whoami", app.base)).await;
    assert_eq!(who, format!("user-1 {}", app.server.issuer));
}

/// The URLs `client` is sent to from `url`, following redirects until one points at `stop`
/// (included, not requested).
async fn hops(client: &reqwest::Client, url: &str, stop: &str) -> Vec<url::Url> {
    let mut hops = vec![url::Url::parse(url).unwrap()];
    for _ in 0..10 {
        let here = hops.last().unwrap().clone();
        let response = client.get(here.clone()).send().await.unwrap();
        let location = response.headers().get("location").unwrap_or_else(|| panic!("no redirect from {here}"));
        let next = here.join(location.to_str().unwrap()).unwrap();
        let done = next.as_str().starts_with(stop);
        hops.push(next);
        if done {
            return hops;
        }
    }
    panic!("no redirect to {stop}: {hops:#?}");
}

/// Pushed authorization requests (RFC 9126) for `par-client`, which the provider requires
/// them of: the browser goes to the provider's authorization endpoint with only `client_id`
/// and the `request_uri` the app got by pushing the parameters (no `redirect_uri`, `state`,
/// `scope` or PKCE challenge in the browser), and the sign-in works.
#[tokio::test(flavor = "multi_thread")]
async fn pushed_authorization_requests_keep_the_parameters_out_of_the_browser() {
    let options = AppOptions { client: ("par-client", "par-secret"), pushed: true, ..AppOptions::default() };
    let app = app_with_options(Duration::from_secs(600), options).await;
    let client = browser();
    let cb = format!("{}/oauth2callback", app.base);
    let hops = hops(&client, &format!("{}/profile", app.base), &cb).await;
    let auth = app.server.url("/auth");
    let to_provider: Vec<&url::Url> = hops.iter().filter(|u| u[..url::Position::AfterPath] == auth).collect();
    assert_eq!(to_provider.len(), 1, "{hops:#?}");
    let mut names: Vec<String> = to_provider[0].query_pairs().map(|(n, _)| n.into_owned()).collect();
    names.sort();
    assert_eq!(names, ["client_id", "request_uri"], "{}", to_provider[0]);
    let query: std::collections::HashMap<_, _> = to_provider[0].query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "par-client");
    assert!(query["request_uri"].starts_with("urn:ietf:params:oauth:request_uri:"), "{}", to_provider[0]);
    let callback = hops.last().unwrap().as_str();
    assert!(callback.contains("code="), "{callback}");
    assert_eq!(fetch(&client, callback).await.0, 303);
    let (status, _, body) = fetch(&client, &format!("{}/profile", app.base)).await;
    assert_eq!(status, 200);
    assert!(body.contains("user-1@example.test"), "{body}");
}

/// The same app without pushing: the provider sends the browser back with
/// `error=invalid_request` (`par-client` must push), and the app's callback shows its
/// "Sign-in failed" page with the provider's reason, with nothing stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_must_push_is_refused_without_pushing() {
    let options = AppOptions { client: ("par-client", "par-secret"), ..AppOptions::default() };
    let app = app_with_options(Duration::from_secs(600), options).await;
    let client = browser();
    let cb = format!("{}/oauth2callback", app.base);
    let callback = follow(&client, &format!("{}/profile", app.base), &cb).await;
    let query: std::collections::HashMap<_, _> =
        url::Url::parse(&callback).unwrap().query_pairs().into_owned().collect();
    assert_eq!(query.get("error").map(String::as_str), Some("invalid_request"), "{callback}");
    assert!(!query.contains_key("code"), "{callback}");
    let (status, _, body) = fetch(&client, &callback).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<h1>Sign-in failed</h1>") && body.contains("invalid_request"), "{body}");
    assert!(body.contains("Pushed Authorization Request must be used"), "{body}");
    let (_, _, home) = fetch(&client, &format!("{}/home", app.base)).await;
    assert!(home.starts_with("signed out"), "nothing stored: {home}");
}

/// DPoP (RFC 9449) for `dpop-client`, which only gets DPoP-bound tokens: after the sign-in,
/// the user's authorized client calls the provider's test resource server with
/// `Authorization: DPoP` and a proof it accepts, and the user's profile (userinfo) works too;
/// the access token alone, sent as a bearer token, is refused.
#[tokio::test(flavor = "multi_thread")]
async fn dpop_bound_tokens_reach_the_resource_server_with_proofs() {
    let options = AppOptions { client: ("dpop-client", "dpop-secret"), dpop: true, ..AppOptions::default() };
    let app = app_with_options(Duration::from_secs(600), options).await;
    let client = browser();
    let callback = follow(&client, &format!("{}/profile", app.base), &format!("{}/oauth2callback", app.base)).await;
    assert_eq!(fetch(&client, &callback).await.0, 303);
    let (status, _, body) = fetch(&client, &format!("{}/resource", app.base)).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["scheme"], "DPoP", "{body}");
    assert_eq!(answer["sub"], "user-1", "{body}");
    assert_eq!(answer["client_id"], "dpop-client", "{body}");
    let (status, _, body) = fetch(&client, &format!("{}/profile", app.base)).await;
    assert_eq!(status, 200);
    assert!(body.contains("user-1@example.test"), "{body}");
    // The token is bound to the app's key: without a proof it is worthless.
    let (_, _, access_token) = fetch(&client, &format!("{}/token", app.base)).await;
    let stolen =
        reqwest::Client::new().get(app.server.url("/test/resource")).bearer_auth(&access_token).send().await.unwrap();
    assert_eq!(stolen.status(), 401);
    // The resource server's log: the app's call answered 200, perhaps after a
    // `use_dpop_nonce` retry (the provider's token endpoint, on the same origin, hands out
    // nonces of its own, which the runtime keeps per origin), then the bearer's refusal.
    let log: serde_json::Value =
        reqwest::get(app.server.url("/test/resource-log")).await.unwrap().json().await.unwrap();
    let entries: Vec<(u64, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["status"].as_u64().unwrap(), r["error"].as_str().unwrap_or("")))
        .collect();
    // One proof each, the first accepted: no nonce of the token endpoint's is carried over to
    // the resource server, though they share an origin here.
    assert_eq!(entries, [(200, ""), (401, "invalid_token")], "{log}");
}
