//! Pending authorizations stay bounded: 40,000 cookie-less requests with 4 KiB query strings
//! to a `Required` page (each one starts an authorization) grow the process by less than
//! 64 MiB, and a real user still signs in afterwards. Alone in its file so that no other test
//! moves the resident size.

mod support;

use std::time::Duration;

use support::{app, browser, fetch, follow};

/// Resident memory of this process, from `/proc/self/statm` (pages of 4 KiB).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_thousand_anonymous_starts_stay_bounded() {
    let app = app(Duration::from_secs(600)).await;
    let query = "q=".to_owned() + &"x".repeat(4096);
    let url = format!("{}/profile?{query}", app.base);
    // Straight into the application (no HTTP client or server in between, which in a debug
    // build would take most of the time): the same requests a browser without cookies sends.
    let send = |router: axum::Router, uri: String| async move {
        use tower::ServiceExt as _;
        let request = axum::http::Request::get(uri).body(axum::body::Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 303);
        assert!(response.headers().get("location").unwrap().to_str().unwrap().contains("/auth?"));
    };
    let uri = format!("/profile?{query}");
    // Warm up (allocator arenas), then measure.
    for _ in 0..200 {
        send(app.router.clone(), uri.clone()).await;
    }
    let before = rss();
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (router, uri) = (app.router.clone(), uri.clone());
            tokio::spawn(async move {
                for _ in 0..10_000 {
                    send(router.clone(), uri.clone()).await;
                }
            })
        })
        .collect();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(240), task).await.expect("40,000 requests within 240 s").unwrap();
    }
    let grown = rss().saturating_sub(before);
    eprintln!("40,000 starts in {:?}: RSS grew by {} KiB", started.elapsed(), grown / 1024);
    assert!(grown < 64 << 20, "RSS grew by {} MiB", grown >> 20);

    // A real user still signs in; a 4 KiB return path is too long and becomes `/`.
    let user = browser();
    let callback = follow(&user, &url, &format!("{}/oauth2callback", app.base)).await;
    let (status, location, body) = fetch(&user, &callback).await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(location.as_deref(), Some("/"));
    let (status, _, body) = fetch(&user, &format!("{}/profile", app.base)).await;
    assert_eq!(status, 200);
    assert!(body.contains("user-1@example.test"), "{body}");
}
