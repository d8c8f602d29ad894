//! End to end in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `./scripts/test`) opens the protected page of the test application, is sent to
//! `oidc-provider`, consents, comes back, and shows the data the page fetched with the user's
//! authorized client. Once with the provider on the app's own site (it consents by itself),
//! once on another site (`localhost` vs the app's `127.0.0.1`) behind a consent page whose
//! form is submitted from the provider's page, as with a real provider: the browser then
//! withholds the app's `SameSite=Strict` session cookie on the way back. Then sign-out from
//! the app's page through the provider's logout page, and a sign-in after a flood of
//! anonymous requests has filled the pending authorizations. And a sign-in whose
//! authorization request is pushed to the provider (RFC 9126) by a client it requires that of.

mod support;

use std::time::Duration;

/// The DOM of the last page Chromium shows after opening `url` (following redirects and
/// the pages' own scripts).
async fn chromium_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let child = tokio::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start `{chromium}` ({e}): install Debian's `chromium` (`./scripts/test` does)")
        });
    let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("Chromium finished within 90 s")
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_signs_in_and_sees_the_data() {
    let app = support::app(Duration::from_secs(600)).await;
    let dom = chromium_dom(&format!("{}/profile", app.base)).await;
    assert!(dom.contains(r#"<p id="email">user-1@example.test</p>"#), "the final page: {dom}");
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_signs_in_with_a_provider_on_another_site() {
    let app = support::app_with(Duration::from_secs(600), true).await;
    let dom = chromium_dom(&format!("{}/hello", app.base)).await;
    assert!(dom.contains(r#"<p id="email">user-1@example.test</p>"#), "the final page: {dom}");
    let log = app.log.lock().unwrap().clone();
    let second = came_back_from_another_site(&log);
    assert!(second.rsplit("cookies=").next().unwrap().split(',').any(|c| c == "id"), "{log:#?}");
}

/// The browser came back from the provider's page without the session cookie (`id`,
/// `SameSite=Strict`), with the binding cookie (`SameSite=Lax`), and went on from the app:
/// the second, same-origin callback request, which it returns.
fn came_back_from_another_site(log: &[String]) -> &str {
    let callbacks: Vec<&String> = log.iter().filter(|l| l.starts_with("GET /oauth2callback ")).collect();
    assert_eq!(callbacks.len(), 2, "{log:#?}");
    let cookies =
        |line: &str| line.rsplit("cookies=").next().unwrap().split(',').map(str::to_owned).collect::<Vec<_>>();
    assert!(callbacks[0].contains("sec-fetch-site=cross-site"), "{log:#?}");
    assert_eq!(cookies(callbacks[0]), ["oauthgen-binding"], "the session cookie was withheld: {log:#?}");
    assert!(callbacks[1].contains("sec-fetch-site=same-origin"), "{log:#?}");
    callbacks[1]
}

/// Pushed authorization requests (RFC 9126): `par-client` must push its authorization
/// request (the provider refuses a plain one, see `web.rs`); the app pushes it to the
/// provider's `/request` and sends Chromium on with only `client_id` and `request_uri`.
/// The provider is on another site, whose consent page the user submits: the binding
/// cookie, not the parameters, ties the callback to the browser that started it.
#[tokio::test(flavor = "multi_thread")]
async fn chromium_signs_in_with_pushed_authorization_requests_on_another_site() {
    let options = support::AppOptions {
        client: ("par-client", "par-secret"),
        pushed: true,
        cross_site: true,
        ..Default::default()
    };
    let app = support::app_with_options(Duration::from_secs(600), options).await;
    let dom = chromium_dom(&format!("{}/profile", app.base)).await;
    assert!(dom.contains(r#"<p id="email">user-1@example.test</p>"#), "the final page: {dom}");
    came_back_from_another_site(&app.log.lock().unwrap());
    // The provider saw one pushed request and signed the user in from it.
    let prompts: Vec<String> = reqwest::get(app.server.url("/test/prompts")).await.unwrap().json().await.unwrap();
    assert_eq!(prompts.iter().filter(|p| *p == "login").count(), 1, "{prompts:?}");
}

/// Sign in (provider on another site), then the page's sign-out button: the app revokes and
/// forgets the credentials, sends the browser to the provider's logout page (RP-initiated
/// logout, submitted from there), and the provider sends it back to the app, signed out.
#[tokio::test(flavor = "multi_thread")]
async fn chromium_signs_in_then_out_at_the_app_and_the_provider() {
    let app = support::app_with(Duration::from_secs(600), true).await;
    let dom = chromium_dom(&format!("{}/profile?then=signout", app.base)).await;
    assert!(dom.contains("signed out <a"), "the final page is the app's home, signed out: {dom}");
    let log = app.log.lock().unwrap().clone();
    // The browser may ask for `/favicon.ico` at any time.
    let paths: Vec<&str> = log
        .iter()
        .map(|l| l.split(" sec-fetch-site").next().unwrap())
        .filter(|p| !p.ends_with("/favicon.ico"))
        .collect();
    let at = |line: &str| paths.iter().position(|p| *p == line).unwrap_or_else(|| panic!("no {line}: {log:#?}"));
    assert!(at("GET /oauth2callback") < at("POST /oauth2callback/signout"), "{log:#?}");
    assert!(at("POST /oauth2callback/signout") < at("GET /oauth2callback/signedout"), "{log:#?}");
    assert_eq!(paths.last(), Some(&"GET /home"), "{log:#?}");
    // The provider logged the user in once; its logout page (submitted by its script) sent
    // the browser back to the signed-out route, which it does only once it ended its session.
    let prompts: Vec<String> = reqwest::get(app.server.url("/test/prompts")).await.unwrap().json().await.unwrap();
    assert_eq!(prompts.iter().filter(|p| *p == "login").count(), 1, "{prompts:?}");
}

/// 12,000 anonymous requests (more than the 10,000 pending authorizations kept in all) to a
/// protected page, then a real browser signs in with the provider on another site.
#[tokio::test(flavor = "multi_thread")]
async fn chromium_signs_in_after_a_flood() {
    use tower::ServiceExt as _;
    let app = support::app_with(Duration::from_secs(600), true).await;
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let router = app.router.clone();
            tokio::spawn(async move {
                for i in 0..3_000 {
                    let uri = format!("/profile?flood={i}&q={}", "x".repeat(1024));
                    let request = axum::http::Request::get(uri).body(axum::body::Body::empty()).unwrap();
                    assert_eq!(router.clone().oneshot(request).await.unwrap().status(), 303);
                }
            })
        })
        .collect();
    for task in flood {
        tokio::time::timeout(Duration::from_secs(120), task).await.expect("the flood within 120 s").unwrap();
    }
    let dom = chromium_dom(&format!("{}/hello", app.base)).await;
    assert!(dom.contains(r#"<p id="email">user-1@example.test</p>"#), "the final page: {dom}");
}
