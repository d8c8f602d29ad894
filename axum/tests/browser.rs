//! End to end in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `.ci/run`) opens the protected page of the test application, is sent to `oidc-provider`,
//! consents (the test server does it by itself), comes back, and shows the data the page
//! fetched with the user's authorized client.

mod support;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn chromium_signs_in_and_sees_the_data() {
    let app = support::app(Duration::from_secs(600)).await;
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
        .arg(format!("{}/profile", app.base))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{chromium}` ({e}): install Debian's `chromium` (`.ci/run` does)"));
    let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("Chromium finished within 90 s")
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains(r#"<p id="email">user-1@example.test</p>"#), "the final page: {dom}");
}
