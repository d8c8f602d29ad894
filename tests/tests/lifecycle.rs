//! Token lifecycle against the real server and real processes: single flight, two processes
//! sharing a file store under refresh-token rotation, and writers killed mid-write.

use std::process::Command;
use std::time::Duration;

use oauthgen_runtime::{Callback, FileStore, ManagerOptions, TokenManager, TokenStore as _, authorize_url, exchange};
use oauthgen_tests::{OidcServer, TestOp, TestOpScope, follow_to_callback};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

async fn counts(server: &OidcServer) -> serde_json::Value {
    reqwest::get(server.url("/test/counts")).await.unwrap().json().await.unwrap()
}

async fn log_in(op: &TestOp) -> oauthgen_runtime::Credentials {
    let auth = authorize_url(op, REDIRECT, TestOpScope::DEFAULT).unwrap();
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    exchange(op, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap()
}

/// 1,000 concurrent callers on an expired token cause exactly one token request, counted by
/// the server, with rotation on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_callers_one_refresh_at_the_server() {
    let server = OidcServer::start(4);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let credentials = log_in(&op).await;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("tokens.json"));
    store.save("user", &credentials).await.unwrap();
    // Access tokens live 4 s; with a 2 s margin, the stored one is due once 2 s have passed,
    // and the new one is fresh for 2 s.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let options = ManagerOptions { margin: Some(Duration::from_secs(2)), ..ManagerOptions::default() };
    let manager = TokenManager::with_options(op, store.clone(), "user", options);

    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.token().await.map(|t| t.secret().to_owned()) })
        })
        .collect();
    let mut tokens = std::collections::BTreeSet::new();
    for t in tasks {
        tokens.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(tokens.len(), 1, "every caller got the same new token");
    assert_ne!(tokens.first().unwrap(), credentials.access_token.secret());
    assert_eq!(counts(&server).await["refresh_token"], 1, "the server saw exactly one refresh");
    let stored = store.load("user").await.unwrap().unwrap();
    assert_ne!(
        stored.refresh_token.unwrap().secret(),
        credentials.refresh_token.unwrap().secret(),
        "rotated and saved"
    );
}

/// Two OS processes refresh in a loop through one `FileStore`. With rotation, a refresh
/// token used twice revokes the grant, so a single `invalid_grant` would fail the test.
#[tokio::test(flavor = "multi_thread")]
async fn two_processes_share_a_file_store_without_invalid_grant() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let credentials = log_in(&op).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    FileStore::new(&path).save("user", &credentials).await.unwrap();

    let rounds = "25";
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_helper"))
            .args(["refresh-loop", &server.port.to_string()])
            .arg(&path)
            .args(["user", rounds])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for out in [&a, &b] {
        assert!(out.status.success(), "a process failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let refreshes = counts(&server).await["refresh_token"].as_u64().unwrap();
    assert!(refreshes >= 25, "the processes refreshed ({refreshes} times)");
    // The grant is still alive: the stored refresh token works.
    let mut stored = FileStore::new(&path).load("user").await.unwrap().unwrap();
    oauthgen_runtime::refresh(&op, &mut stored).await.unwrap();
}

/// A writer killed with SIGKILL at random moments, many times: the file always parses and
/// holds the old or the new credentials, never a mix.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn writers_killed_mid_write_never_corrupt_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let store = FileStore::new(&path);
    let mut seed = oauthgen_runtime::Credentials {
        access_token: oauthgen_runtime::AccessToken::new("at".into()),
        token_type: "Bearer".into(),
        refresh_token: None,
        expires_at: None,
        issued_at: None,
        scopes: vec![],
        id_token: None,
        extra: std::collections::BTreeMap::new(),
        invalid: false,
        dpop_key: None,
    };
    seed.extra.insert("n".into(), 0.into());
    store.save("user", &seed).await.unwrap();
    let mut last = 0;
    let mut advanced = 0;
    for round in 0..40 {
        let mut child =
            Command::new(env!("CARGO_BIN_EXE_helper")).arg("store-writer").arg(&path).arg("user").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(20 + fastrand_ms(round)));
        // `Child::kill` sends SIGKILL on Unix.
        child.kill().unwrap();
        child.wait().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let map: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("round {round}: the file does not parse: {e}"));
        let n = map["user"]["extra"]["n"].as_u64().unwrap();
        assert!(n >= last, "round {round}: went back from {last} to {n}");
        if n > last {
            advanced += 1;
        }
        last = n;
    }
    assert!(advanced > 20, "the writers made progress ({advanced} of 40 rounds)");
}

fn fastrand_ms(round: u64) -> u64 {
    // Spread kill times over 0-30 ms without a random-number dependency.
    (round * 7919) % 31
}

/// Introspection (RFC 7662) of live and revoked tokens, and revocation through the manager,
/// which deletes the store entry.
#[tokio::test(flavor = "multi_thread")]
async fn introspection_and_revocation_through_the_manager() {
    let server = OidcServer::start(3600);
    let op = TestOp::new(server.port.to_string(), "basic-client", "basic-secret");
    let credentials = log_in(&op).await;
    let info =
        oauthgen_runtime::introspect(&op, credentials.access_token.secret(), Some("access_token")).await.unwrap();
    assert!(info.active);
    assert_eq!(info.client_id.as_deref(), Some("basic-client"));
    assert_eq!(info.sub.as_deref(), Some("user-1"));

    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("tokens.json"));
    store.save("user", &credentials).await.unwrap();
    let manager = TokenManager::new(op.clone(), store.clone(), "user");
    manager.revoke().await.unwrap();
    assert!(store.load("user").await.unwrap().is_none(), "the entry is deleted");
    let refresh_token = credentials.refresh_token.as_ref().unwrap().secret();
    let info = oauthgen_runtime::introspect(&op, refresh_token, Some("refresh_token")).await.unwrap();
    assert!(!info.active, "the grant is revoked");
    assert!(matches!(manager.token().await, Err(oauthgen_runtime::Error::NoCredentials(_))));
}
