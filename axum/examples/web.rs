//! A small web app with the classic decorator: sign in with a provider, then see data fetched
//! with your authorized client. Several providers live side by side, as in the classic docs.
//!
//! ```sh
//! npm ci --prefix tests/oidc && cargo run -p oauthgen-axum --example web
//! # then open http://127.0.0.1:8080/
//! ```
//!
//! Without configuration it signs in against a local OpenID provider (npm `oidc-provider`, the
//! one the tests use, started by the example on 127.0.0.1). With `GOOGLE_CLIENT_ID` and
//! `GOOGLE_CLIENT_SECRET` (a web client whose redirect URI is
//! `http://127.0.0.1:8080/oauth2callback/google`) the Google sign-in works too; likewise
//! `DAILYMOTION_CLIENT_ID`/`_SECRET` with `/oauth2callback/dailymotion`.

use axum::Router;
use axum::extract::FromRef;
use axum::response::Html;
use axum::routing::get;
use oauthgen_axum::{Aware, OAuth, OAuthConfig, Required};
use oauthgen_providers::dailymotion::Dailymotion;
use oauthgen_providers::google::Google;
use oauthgen_runtime::{Endpoint, MemoryStore, Provider as _};
use oauthgen_tests::{OidcServer, TestOp};

#[derive(Clone)]
struct AppState {
    local: OAuth<TestOp, MemoryStore>,
    google: OAuth<Google, MemoryStore>,
    dailymotion: OAuth<Dailymotion, MemoryStore>,
}

impl FromRef<AppState> for OAuth<TestOp, MemoryStore> {
    fn from_ref(state: &AppState) -> Self {
        state.local.clone()
    }
}

impl FromRef<AppState> for OAuth<Google, MemoryStore> {
    fn from_ref(state: &AppState) -> Self {
        state.google.clone()
    }
}

impl FromRef<AppState> for OAuth<Dailymotion, MemoryStore> {
    fn from_ref(state: &AppState) -> Self {
        state.dailymotion.clone()
    }
}

async fn home(
    local: Aware<TestOp, MemoryStore>,
    google: Aware<Google, MemoryStore>,
    dailymotion: Aware<Dailymotion, MemoryStore>,
) -> Html<String> {
    let row = |name: &str, path: &str, signed_in: bool, url: Option<String>| {
        if signed_in {
            let callback =
                if path == "/local" { "/oauth2callback".to_owned() } else { format!("/oauth2callback{path}") };
            format!(
                "<li>{name}: signed in - <a href='{path}'>see your data</a> \
                 <form method=post action='{callback}/signout?return=/' style=display:inline><button>sign out</button></form></li>"
            )
        } else {
            format!("<li>{name}: <a href='{}'>sign in</a></li>", url.unwrap_or_default())
        }
    };
    Html(format!(
        "<!doctype html><title>oauthgen web example</title><h1>oauthgen web example</h1><ul>{}{}{}</ul>",
        row("Local OpenID provider", "/local", local.has_credentials(), local.authorize_url().ok().map(String::from)),
        row("Google", "/google", google.has_credentials(), google.authorize_url().ok().map(String::from)),
        row(
            "Dailymotion",
            "/dailymotion",
            dailymotion.has_credentials(),
            dailymotion.authorize_url().ok().map(String::from)
        ),
    ))
}

async fn local_profile(auth: Required<TestOp, MemoryStore>) -> Html<String> {
    let url = auth.manager().provider().config().endpoint(Endpoint::Userinfo).map(String::from).unwrap_or_default();
    let body = match auth.http().get(url).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => format!("request failed: {e}"),
    };
    Html(format!("<h1>Your profile at the local provider</h1><pre id=data>{}</pre>", body.replace('<', "&lt;")))
}

async fn google_profile(auth: Required<Google, MemoryStore>) -> Html<String> {
    let body = match auth.http().get("https://openidconnect.googleapis.com/v1/userinfo").send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => format!("request failed: {e}"),
    };
    Html(format!("<h1>Your Google profile</h1><pre>{}</pre>", body.replace('<', "&lt;")))
}

async fn dailymotion_profile(auth: Required<Dailymotion, MemoryStore>) -> Html<String> {
    let body = match auth.http().get("https://api.dailymotion.com/user/me").send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => format!("request failed: {e}"),
    };
    Html(format!("<h1>Your Dailymotion profile</h1><pre>{}</pre>", body.replace('<', "&lt;")))
}

fn config(base: &str, callback: &str, scopes: &[&str]) -> OAuthConfig {
    let mut config = OAuthConfig::new(base.parse().expect("base URL"));
    config.callback_path = callback.into();
    config.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    config
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let base = format!("http://127.0.0.1:{port}");
    let server = OidcServer::start(3600);
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| "not-configured".into());
    let state = AppState {
        local: OAuth::new(
            TestOp::new(server.port.to_string(), "basic-client", "basic-secret"),
            MemoryStore::new(),
            config(&base, "/oauth2callback", &["openid", "email", "profile", "offline_access"]),
        )
        .with_revocation(),
        google: OAuth::new(
            Google::new(env("GOOGLE_CLIENT_ID"), env("GOOGLE_CLIENT_SECRET")),
            MemoryStore::new(),
            config(&base, "/oauth2callback/google", &["openid", "email"]),
        )
        .with_revocation(),
        dailymotion: OAuth::new(
            Dailymotion::new(env("DAILYMOTION_CLIENT_ID"), env("DAILYMOTION_CLIENT_SECRET")),
            MemoryStore::new(),
            config(&base, "/oauth2callback/dailymotion", &["userinfo"]),
        ),
    };
    let app = Router::new()
        .route("/", get(home))
        .route("/local", get(local_profile))
        .route("/google", get(google_profile))
        .route("/dailymotion", get(dailymotion_profile))
        .merge(state.local.callback_router())
        .merge(state.google.callback_router())
        .merge(state.dailymotion.callback_router())
        .with_state(state)
        .layer(tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default()).with_secure(false));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind 127.0.0.1");
    eprintln!("oauthgen web example on {base}/ (local OpenID provider at {})", server.issuer);
    axum::serve(listener, app).await.expect("serve");
}
