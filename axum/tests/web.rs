//! The axum integration over HTTP, against npm `oidc-provider` on 127.0.0.1: the required
//! extractor's round trip, and a tampered `state`, a replayed callback, an expired pending
//! authorization and an off-site return URL, each refused with nothing stored.

mod support;

use std::time::Duration;

use support::{app, browser, fetch, follow};

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
