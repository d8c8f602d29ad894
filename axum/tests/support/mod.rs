//! The test application of the web integration: a protected profile page (`Required`), a
//! home page (`Aware`) and an off-site return test, on 127.0.0.1 against npm `oidc-provider`.

#![allow(dead_code, unreachable_pub, reason = "a test module: each test file uses a part")]

use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::response::Html;
use axum::routing::get;
use oauthgen_axum::{Aware, OAuth, OAuthConfig, Required};
use oauthgen_runtime::MemoryStore;
use oauthgen_tests::{OidcServer, TestOp};

type Op = TestOp;

async fn profile(auth: Required<Op, MemoryStore>, then: Query<Then>) -> Html<String> {
    let me: serde_json::Value = auth.http().get(auth_userinfo(&auth)).send().await.unwrap().json().await.unwrap();
    let mut page = format!("<p id=email>{}</p>", me["email"].as_str().unwrap_or_default());
    if then.then.as_deref() == Some("signout") {
        // The sign-out button of the page, pressed by the page's own script.
        page.push_str(
            "<form id=signout method=post action='/oauth2callback/signout?return=/home'><button>Sign out</button></form>\
             <script>document.getElementById('signout').submit()</script>",
        );
    }
    Html(page)
}

#[derive(serde::Deserialize)]
struct Then {
    then: Option<String>,
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

fn request_line(req: &axum::extract::Request) -> String {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let cookies: Vec<String> =
        header("cookie").split(';').filter_map(|c| c.split('=').next()).map(|n| n.trim().to_owned()).collect();
    format!(
        "{} {} sec-fetch-site={} cookies={}",
        req.method(),
        req.uri().path(),
        header("sec-fetch-site"),
        cookies.join(",")
    )
}

/// Who the user is, from the validated ID token's claims.
async fn whoami(auth: Required<Op, MemoryStore>) -> String {
    auth.claims().map_or_else(|| "no ID token".to_owned(), |c| format!("{} {}", c.sub, c.iss))
}

/// The user's access token, for tests that ask the provider about it.
async fn token(auth: Required<Op, MemoryStore>) -> String {
    auth.manager().token().await.unwrap().secret().to_owned()
}

/// What the provider's test resource server (`url`, its `/test/resource`) answers the
/// user's authorized client, status and body (`{"sub", "client_id", "scheme", ...}` or an
/// error): a test sees whether the token went as `DPoP` or `Bearer`.
async fn resource(auth: Required<Op, MemoryStore>, url: String) -> (axum::http::StatusCode, String) {
    let response = auth.http().get(url).send().await.unwrap();
    let status = axum::http::StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.text().await.unwrap())
}

/// A page that keeps something in the session (as applications do), so the browser has a
/// session cookie (`SameSite=Strict` by default) before it signs in.
async fn hello(session: tower_sessions::Session) -> axum::response::Redirect {
    session.insert("greeted", true).await.unwrap();
    axum::response::Redirect::to("/profile?from=hello")
}

pub struct App {
    pub base: String,
    /// The application itself, to call without HTTP.
    pub router: Router,
    /// The requests the app saw: `METHOD /path sec-fetch-site=... cookies=name,name`.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub server: OidcServer,
}

pub async fn app(ttl: Duration) -> App {
    app_with(ttl, false).await
}

/// With `cross_site`, the browser reaches the provider as `localhost` (another site than the
/// app's `127.0.0.1`), and the provider's consent page must be submitted (it clicks its own
/// button): the last hop back to the app starts from the provider's page.
pub async fn app_with(ttl: Duration, cross_site: bool) -> App {
    app_with_options(ttl, AppOptions { cross_site, ..AppOptions::default() }).await
}

/// How the test application is built: see [`app_with_options`].
#[derive(Debug, Clone, Copy)]
pub struct AppOptions {
    /// The provider on another site: see [`app_with`].
    pub cross_site: bool,
    /// The client's id and secret at the provider (`tests/oidc/server.mjs`).
    pub client: (&'static str, &'static str),
    /// Push authorization requests (RFC 9126) to the provider's `/request`.
    pub pushed: bool,
    /// Bind tokens to a key with DPoP proofs (RFC 9449).
    pub dpop: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self { cross_site: false, client: ("basic-client", "basic-secret"), pushed: false, dpop: false }
    }
}

/// The test application, its provider configured as `options` say.
pub async fn app_with_options(ttl: Duration, options: AppOptions) -> App {
    use oauthgen_runtime::Provider as _;
    let server = OidcServer::start(3600);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (client_id, client_secret) = options.client;
    let mut provider = TestOp::new(server.port.to_string(), client_id, client_secret);
    if options.cross_site {
        let auth = format!("http://localhost:{}/auth", server.port);
        provider = provider.with_endpoint(oauthgen_runtime::Endpoint::Authorization, &auth).unwrap();
        let end_session = format!("http://localhost:{}/session/end", server.port);
        provider = provider.with_endpoint(oauthgen_runtime::Endpoint::EndSession, &end_session).unwrap();
        let switch = reqwest::Client::new().post(server.url("/test/interactive-consent?click=script")).send().await;
        assert_eq!(switch.unwrap().status(), 204, "the consent switch of tests/oidc/server.mjs");
    }
    if options.pushed {
        provider =
            provider.with_endpoint(oauthgen_runtime::Endpoint::PushedAuthorization, &server.url("/request")).unwrap();
    }
    if options.dpop {
        provider = provider.with_dpop().unwrap();
    }
    let mut config = OAuthConfig::new(base.parse().unwrap());
    config.pending_ttl = ttl;
    config.scopes = vec!["openid".into(), "email".into(), "offline_access".into()];
    let oauth = OAuth::new(provider, MemoryStore::new(), config).with_revocation();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let app_log = log.clone();
    let resource_url = server.url("/test/resource");
    let router: Router = Router::new()
        .route("/profile", get(profile))
        .route("/home", get(home))
        .route("/offsite", get(offsite))
        .route("/hello", get(hello))
        .route("/token", get(token))
        .route("/whoami", get(whoami))
        .route("/resource", get(move |auth: Required<Op, MemoryStore>| resource(auth, resource_url)))
        .merge(oauth.callback_router())
        .with_state(oauth)
        .layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
            let log = log.clone();
            let line = request_line(&req);
            log.lock().unwrap().push(line);
            async move { next.run(req).await }
        }))
        .layer(tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default()).with_secure(false));
    let to_serve = router.clone();
    tokio::spawn(async move { axum::serve(listener, to_serve).await.unwrap() });
    App { base, router, log: app_log, server }
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
