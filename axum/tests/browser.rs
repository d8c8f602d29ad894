//! End to end in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `./scripts/test`) opens the protected page of the test application, is sent to
//! `oidc-provider`, consents, comes back, and shows the data the page fetched with the user's
//! authorized client. Once with the provider on the app's own site (it consents by itself),
//! once on another site (`localhost` vs the app's `127.0.0.1`) behind a consent page whose
//! form is submitted from the provider's page, as with a real provider: the browser then
//! withholds the app's `SameSite=Strict` session cookie on the way back.

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
    // The browser came back from the provider's page without the session cookie (`id`,
    // `SameSite=Strict`), with the binding cookie (`SameSite=Lax`), and went on from the app.
    let log = app.log.lock().unwrap().clone();
    let callbacks: Vec<&String> = log.iter().filter(|l| l.starts_with("GET /oauth2callback ")).collect();
    assert_eq!(callbacks.len(), 2, "{log:#?}");
    let cookies =
        |line: &str| line.rsplit("cookies=").next().unwrap().split(',').map(str::to_owned).collect::<Vec<_>>();
    assert!(callbacks[0].contains("sec-fetch-site=cross-site"), "{log:#?}");
    assert_eq!(cookies(callbacks[0]), ["oauthgen-binding"], "the session cookie was withheld: {log:#?}");
    assert!(callbacks[1].contains("sec-fetch-site=same-origin"), "{log:#?}");
    assert!(cookies(callbacks[1]).contains(&"id".to_owned()), "{log:#?}");
}
