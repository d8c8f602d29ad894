//! The axum integration over HTTP, against npm `oidc-provider` on 127.0.0.1: the required
//! extractor's round trip, and a tampered `state`, a replayed callback, an expired pending
//! authorization and an off-site return URL, each refused with nothing stored.

use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use oauthgen_axum::{Aware, OAuth, OAuthConfig, Required};
use oauthgen_runtime::MemoryStore;
use oauthgen_tests::{OidcServer, TestOp};

type Op = TestOp;

async fn profile(auth: Required<Op, MemoryStore>) -> Html<String> {
    let me: serde_json::Value = auth.http().get(auth_userinfo(&auth)).send().await.unwrap().json().await.unwrap();
    Html(format!("<p id=email>{}</p>", me["email"].as_str().unwrap_or_default()))
}

fn auth_userinfo(auth: &Required<Op, MemoryStore>) -> String {
    use oauthgen_runtime::Provider as _;
    auth.manager().provider().config().endpoint(oauthgen_runtime::Endpoint::Userinfo).unwrap().to_string()
}

async fn home(auth: Aware<Op, MemoryStore>) -> Html<String> {
    if auth.has_credentials() {
        Html("signed in".into())
    } else {
        Html(format!("signed out <a href='{}'>sign in</a>", auth.authorize_url().unwrap()))
    }
}

async fn offsite(auth: Aware<Op, MemoryStore>) -> String {
    auth.authorize_url_returning_to("https://evil.test/steal").unwrap().to_string()
}

struct App {
    base: String,
    _server: OidcServer,
}

async fn app(ttl: Duration) -> App {
    let server = OidcServer::start(3600);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let provider = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let mut config = OAuthConfig::new(base.parse().unwrap());
    config.pending_ttl = ttl;
    config.scopes = vec!["openid".into(), "email".into(), "offline_access".into()];
    let oauth = OAuth::new(provider, MemoryStore::new(), config);
    let router: Router = Router::new()
        .route("/profile", get(profile))
        .route("/home", get(home))
        .route("/offsite", get(offsite))
        .merge(oauth.callback_router())
        .with_state(oauth)
        .layer(tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default()).with_secure(false));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App { base, _server: server }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Follow redirects from `url` until one points at `stop` (returned, not requested).
async fn follow(client: &reqwest::Client, url: &str, stop: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    for _ in 0..10 {
        let response = client.get(url.clone()).send().await.unwrap();
        let location = response
            .headers()
            .get("location")
            .unwrap_or_else(|| panic!("no redirect from {url}"))
            .to_str()
            .unwrap()
            .to_owned();
        let next = url.join(&location).unwrap();
        if next.as_str().starts_with(stop) {
            return next.to_string();
        }
        url = next;
    }
    panic!("no redirect to {stop}");
}

async fn fetch(client: &reqwest::Client, url: &str) -> (u16, Option<String>, String) {
    let response = client.get(url).send().await.unwrap();
    let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (response.status().as_u16(), location, response.text().await.unwrap())
}

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
