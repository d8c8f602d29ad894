//! A model-based property test of "no refresh token received is ever lost": random
//! sequences of callers that give up at random points of a refresh, saves that fail, token
//! requests that time out, and a second process on the same store, against a token
//! endpoint that enforces rotation. Once the faults stop, the store holds the newest refresh
//! token the provider issued, not marked invalid.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauthgen_runtime::{AccessToken, Credentials, ManagerOptions, Provider, RefreshToken, TokenManager, TokenStore};
use proptest::prelude::*;
use support::{Flaky, MockServer, Reply, token_json};

#[oauthgen_runtime::oauth_provider(spec = "tests/specs/plain.yaml")]
struct Plain;

#[derive(Debug, Clone)]
enum Event {
    /// Manager `who` (0 or 1: two processes) needs a new token; the caller gives up after
    /// `cancel_ms` when given.
    Refresh { who: usize, cancel_ms: Option<u64> },
    /// Saves start or stop failing.
    FailSaves(bool),
    /// The token endpoint answers slowly (so callers give up mid-request) or promptly.
    Slow(bool),
    /// The next token request hangs past the client's timeout without being processed.
    HangNext,
    /// Time passes.
    Pause(u64),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (0..2usize, proptest::option::of(0..120u64)).prop_map(|(who, cancel_ms)| Event::Refresh { who, cancel_ms }),
        1 => any::<bool>().prop_map(Event::FailSaves),
        1 => any::<bool>().prop_map(Event::Slow),
        1 => Just(Event::HangNext),
        1 => (0..100u64).prop_map(Event::Pause),
    ]
}

/// The provider: `rt-N` works once and yields `rt-(next)`.
#[derive(Default)]
struct Provider_ {
    used: Mutex<HashSet<String>>,
    issued: AtomicUsize,
    reused: AtomicUsize,
    slow: AtomicBool,
    hang_next: AtomicBool,
}

fn initial() -> Credentials {
    let now = chrono::Utc::now();
    Credentials {
        access_token: AccessToken::new("at-0".into()),
        token_type: "Bearer".into(),
        refresh_token: Some(RefreshToken::new("rt-0".into())),
        expires_at: Some(now + chrono::TimeDelta::hours(1)),
        issued_at: Some(now),
        scopes: vec![],
        id_token: None,
        extra: std::collections::BTreeMap::default(),
        invalid: false,
        dpop_key: None,
    }
}

async fn run(events: Vec<Event>) -> Result<(), TestCaseError> {
    let state = Arc::new(Provider_::default());
    let s = state.clone();
    let server = MockServer::start(move |seen| {
        if s.hang_next.swap(false, Ordering::SeqCst) {
            return Reply::Hang;
        }
        let refresh = seen.body.split('&').find_map(|p| p.strip_prefix("refresh_token=")).unwrap_or_default();
        if !s.used.lock().unwrap().insert(refresh.to_owned()) {
            s.reused.fetch_add(1, Ordering::SeqCst);
            return Reply::json(400, r#"{"error":"invalid_grant"}"#);
        }
        let n = s.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let reply = Reply::json(200, token_json(&format!("at-{n}"), Some(&format!("rt-{n}")), 3600));
        let delay = if s.slow.load(Ordering::SeqCst) { Duration::from_millis(60) } else { Duration::ZERO };
        Reply::After(delay, Box::new(reply))
    })
    .await;
    let store = Flaky::default();
    store.inner.save("user", &initial()).await.unwrap();
    let options = ManagerOptions {
        attempts: 3,
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..ManagerOptions::default()
    };
    let managers: Vec<_> = (0..2)
        .map(|_| {
            let mut p = Plain::new(server.port.to_string(), "id", "secret");
            p.config_mut().set_timeout(Duration::from_millis(150));
            TokenManager::with_options(p, store.clone(), "user", options)
        })
        .collect();

    for event in events {
        match event {
            Event::Refresh { who, cancel_ms } => {
                let m = &managers[who];
                let call = async {
                    let token = m.token().await?;
                    m.token_after_rejection(&token).await
                };
                match cancel_ms {
                    Some(ms) => drop(tokio::time::timeout(Duration::from_millis(ms), call).await),
                    None => drop(call.await),
                }
            }
            Event::FailSaves(on) => store.failing.store(on, Ordering::SeqCst),
            Event::Slow(on) => state.slow.store(on, Ordering::SeqCst),
            Event::HangNext => state.hang_next.store(true, Ordering::SeqCst),
            Event::Pause(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
    }

    // The faults stop; every manager gets a token (which saves what it holds unsaved).
    store.failing.store(false, Ordering::SeqCst);
    state.hang_next.store(false, Ordering::SeqCst);
    let settled = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            for m in &managers {
                // Refreshes whose callers gave up finish (and store what they got) first.
                m.wait_idle().await;
                let _ = m.token().await;
                m.wait_idle().await;
            }
            if managers.iter().all(|m| !m.has_unsaved()) {
                // Let background flights finish.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if managers.iter().all(|m| !m.has_unsaved()) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    prop_assert!(settled.is_ok(), "the managers settled");
    let stored = store.inner.load("user").await.unwrap().unwrap();
    let newest = format!("rt-{}", state.issued.load(Ordering::SeqCst));
    prop_assert_eq!(stored.refresh_token.as_ref().unwrap().secret(), &newest, "the newest refresh token is stored");
    prop_assert!(!stored.invalid, "and not marked invalid");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_refresh_token_received_is_lost(events in proptest::collection::vec(event(), 1..14)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(events))?;
    }
}
