//! The test application of the web integration: a protected profile page (`Required`), a
//! home page (`Aware`) and an off-site return test, on 127.0.0.1 against npm `oidc-provider`.

#![allow(dead_code, unreachable_pub, reason = "a test module: each test file uses a part")]

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

pub struct App {
    pub base: String,
    _server: OidcServer,
}

pub async fn app(ttl: Duration) -> App {
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

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Follow redirects from `url` until one points at `stop` (returned, not requested).
pub async fn follow(client: &reqwest::Client, url: &str, stop: &str) -> String {
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

pub async fn fetch(client: &reqwest::Client, url: &str) -> (u16, Option<String>, String) {
    let response = client.get(url).send().await.unwrap();
    let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (response.status().as_u16(), location, response.text().await.unwrap())
}
