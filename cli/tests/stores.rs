//! `--store` / `OAUTHGEN_STORE`: files, SQLite, PostgreSQL and Redis behind the same commands;
//! malformed or unreachable stores fail in one line, before anything happens; the default
//! configuration directory is private.

mod support;

use std::process::Command;

use oauthgen_tests::OidcServer;
use oauthgen_tests::postgres::PgServer;
use oauthgen_tests::redis::RedisServer;
use support::{oauthgen, run, workspace};

/// Log in to a fresh `oidc-provider` with the store at `address` given by `--store` or the
/// environment, then `token` twice (the second from the store) and `revoke`.
fn login_token_revoke(address: &str, by_env: bool) {
    let server = OidcServer::start(3600);
    let port = format!("port={}", server.port);
    let browser = format!("python3 {}", workspace().join("tests/browser.py").display());
    let with_store = |cmd: &mut Command| {
        if by_env {
            cmd.env("OAUTHGEN_STORE", address);
        } else {
            cmd.args(["--store", address]);
        }
    };
    let base = ["testop", "--spec", "tests/fixtures/ok/testop.yaml", "--var", &port];
    let mut login = oauthgen(&[&["login"][..], &base, &["--client-id", "basic-client", "--timeout", "30"]].concat());
    login.env("OAUTHGEN_CLIENT_SECRET", "basic-secret").env("BROWSER", &browser);
    with_store(&mut login);
    let (code, _, stderr) = run(&mut login);
    assert_eq!(code, 0, "{address}: {stderr}");
    assert!(!stderr.contains("secret@") && !stderr.contains(":pw@"), "no password on screen: {stderr}");

    let mut token = oauthgen(&[&["token"][..], &base].concat());
    with_store(&mut token);
    let start = std::time::Instant::now();
    let (code, first, stderr) = run(&mut token);
    assert_eq!(code, 0, "{address}: {stderr}");
    // Each command releases its refresh lease before it exits: none is left to wait out.
    assert!(start.elapsed() < std::time::Duration::from_secs(10), "{address}: no lease was left behind");
    let (_, again, _) = run(&mut token);
    assert_eq!(first, again, "{address}: the stored token");

    let mut revoke = oauthgen(&[&["revoke"][..], &base].concat());
    with_store(&mut revoke);
    let (code, _, stderr) = run(&mut revoke);
    assert_eq!(code, 0, "{address}: {stderr}");
    let (code, _, stderr) = run(&mut token);
    assert_eq!(code, 1, "{address}: gone after revoke: {stderr}");
}

#[test]
fn sqlite_store_by_flag_and_by_environment() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("sqlite:{}", dir.path().join("tokens.db").display());
    login_token_revoke(&address, false);
    login_token_revoke(&address, true);
}

#[test]
fn postgres_store() {
    let pg = PgServer::start();
    login_token_revoke(&pg.url(), false);
    login_token_revoke(&pg.url().replacen("postgres://", "postgresql://", 1), true);
}

#[test]
fn redis_store() {
    let redis = RedisServer::start();
    login_token_revoke(&redis.url(), false);
    login_token_revoke(&redis.url(), true);
}

/// Each bad store is one line on standard error naming it (without its password), exit 1,
/// no browser opened and nothing written to the configuration directory.
#[test]
fn malformed_or_unreachable_stores_fail_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let marker = dir.path().join("browser-opened");
    let browser = format!("touch {}", marker.display());
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cases = [
        (format!("postgres://alice:pw@127.0.0.1:{nobody}/db"), "postgres://alice"),
        (format!("redis://:pw@127.0.0.1:{nobody}"), "redis://"),
        ("postgres://alice:pw@[::1".to_owned(), "postgres://"),
        ("ftp://example.test/tokens".to_owned(), "unknown store scheme `ftp://`"),
        ("sqlite:".to_owned(), "sqlite: needs a path"),
    ];
    for (address, expected) in cases {
        for command in ["login", "token", "revoke"] {
            let mut cmd = oauthgen(&[command, "google", "--store", &address]);
            if command == "login" {
                cmd.args(["--client-id", "x"]);
            }
            let (code, stdout, stderr) = run(cmd.env("XDG_CONFIG_HOME", &config).env("BROWSER", &browser));
            assert_eq!(code, 1, "{command} {address}: {stderr}");
            assert!(stdout.is_empty());
            assert_eq!(stderr.trim_end().lines().count(), 1, "{command} {address}: one line: {stderr}");
            assert!(stderr.contains(expected), "{command} {address}: {stderr}");
            assert!(!stderr.contains(":pw@"), "{command} {address}: the password is not shown: {stderr}");
        }
    }
    assert!(!marker.exists(), "no sign-in was started");
    assert!(!config.exists(), "nothing was written elsewhere");
}

/// The default store's directory is created private, and an existing one made private.
#[cfg(unix)]
#[test]
fn the_configuration_directory_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let (code, _, stderr) = run(oauthgen(&["token", "google"]).env("XDG_CONFIG_HOME", &config));
    assert_eq!(code, 1, "no credentials yet: {stderr}");
    let mode = std::fs::metadata(config.join("oauthgen")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "created private");

    std::fs::set_permissions(config.join("oauthgen"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, _, stderr) = run(oauthgen(&["token", "google"]).env("XDG_CONFIG_HOME", &config));
    assert_eq!(code, 1, "{stderr}");
    let mode = std::fs::metadata(config.join("oauthgen")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "made private");
}

/// Sixteen `oauthgen token` processes on one store with a 4-second token and a 60-second
/// refresh margin, once it is due: one refresh between them, and every process prints the
/// same new token (a margin longer than the token's life once made every call refresh).
#[test]
fn sixteen_token_processes_refresh_once() {
    let server = OidcServer::start(4);
    let dir = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(workspace().join("tests/fixtures/ok/testop.yaml")).unwrap();
    assert!(spec.contains("margin_seconds: 1\n"));
    let spec_path = dir.path().join("testop.yaml");
    std::fs::write(&spec_path, spec.replace("margin_seconds: 1\n", "margin_seconds: 60\n")).unwrap();
    let spec_path = spec_path.display().to_string();
    let store = dir.path().join("tokens.json").display().to_string();
    let port = format!("port={}", server.port);
    let browser = format!("python3 {}", workspace().join("tests/browser.py").display());
    let base = ["testop", "--spec", &spec_path, "--var", &port, "--store", &store];
    let (code, _, stderr) =
        run(oauthgen(&[&["login"][..], &base, &["--client-id", "basic-client", "--timeout", "30"]].concat())
            .env("OAUTHGEN_CLIENT_SECRET", "basic-secret")
            .env("BROWSER", &browser));
    assert_eq!(code, 0, "{stderr}");
    let (_, first, _) = run(&mut oauthgen(&[&["token"][..], &base].concat()));
    std::thread::sleep(std::time::Duration::from_millis(2200)); // due half-way through its life
    let children: Vec<_> = (0..16)
        .map(|_| {
            oauthgen(&[&["token"][..], &base].concat())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut tokens = std::collections::BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        tokens.insert(String::from_utf8(out.stdout).unwrap());
    }
    assert_eq!(tokens.len(), 1, "every process printed the same token");
    assert_ne!(tokens.first(), Some(&first), "a new one");
    let counts: serde_json::Value = reqwest_json(&server.url("/test/counts"));
    assert_eq!(counts["refresh_token"], 1, "one refresh for sixteen processes");
}

fn reqwest_json(url: &str) -> serde_json::Value {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async { reqwest::get(url).await.unwrap().json().await.unwrap() })
}
