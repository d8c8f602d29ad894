//! `oauthgen spec from-discovery`: a spec written from npm `oidc-provider`'s discovery document
//! on 127.0.0.1 passes `oauthgen check` and says what the document says; a document naming
//! another issuer, and an unreachable issuer, exit 1 with one line.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;

use oauthgen_codegen::spec::{ClientAuth, Pkce};
use oauthgen_tests::OidcServer;
use support::{oauthgen, run};

fn discovery(issuer: &str) -> serde_json::Value {
    let url = format!("{issuer}/.well-known/openid-configuration");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async { reqwest::get(&url).await.unwrap().json::<serde_json::Value>().await.unwrap() })
}

#[test]
fn spec_from_the_test_provider_checks_and_matches_its_document() {
    let server = OidcServer::start(3600);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("localop.yaml");
    let out_s = out.display().to_string();
    let (code, stdout, stderr) =
        run(&mut oauthgen(&["spec", "from-discovery", &server.issuer, "--id", "localop", "--out", &out_s]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");

    let (code, _, stderr) = run(&mut oauthgen(&["check", &out_s]));
    assert_eq!(code, 0, "{stderr}");

    let doc = discovery(&server.issuer);
    let text = std::fs::read_to_string(&out).unwrap();
    let spec = oauthgen_codegen::parse_str(&out, &text).unwrap();
    let e = &spec.endpoints;
    let s = |k: &str| doc[k].as_str().map(str::to_owned);
    assert_eq!(e.authorization, s("authorization_endpoint"));
    assert_eq!(Some(e.token.clone()), s("token_endpoint"));
    assert_eq!(e.revocation, s("revocation_endpoint"));
    assert_eq!(e.device_authorization, s("device_authorization_endpoint"));
    assert_eq!(e.userinfo, s("userinfo_endpoint"));
    assert_eq!(e.introspection, s("introspection_endpoint"));
    assert_eq!(e.end_session, s("end_session_endpoint"));
    assert_eq!(e.pushed_authorization, s("pushed_authorization_request_endpoint"));
    assert!(e.pushed_authorization.is_some(), "oidc-provider offers PAR");
    // The document lists DPoP proof algorithms: supported (whether required is per client).
    assert!(doc["dpop_signing_alg_values_supported"].as_array().is_some_and(|a| !a.is_empty()));
    assert_eq!(spec.dpop, oauthgen_codegen::spec::Dpop::Supported);
    let oidc = spec.oidc.as_ref().unwrap();
    assert_eq!(Some(oidc.issuer.clone()), s("issuer"));
    assert_eq!(oidc.issuer, server.issuer);
    assert_eq!(oidc.jwks_uri, s("jwks_uri"));
    assert_eq!(oidc.algorithms.iter().map(|a| a.name()).collect::<Vec<_>>(), ["RS256"]);
    assert_eq!(oidc.sends_iss, doc["authorization_response_iss_parameter_supported"] == true);
    // The document lists S256; that PKCE is required it cannot say.
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(spec.pkce, Pkce::Supported);
    // Every method a spec can name, in the document's order (the JWT ones included); `none`
    // (public clients) skipped.
    let listed: Vec<&str> = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .filter(|m| *m != "none")
        .collect();
    let names: Vec<&str> = spec.client_auth.iter().map(|m| m.metadata_name()).collect();
    assert_eq!(names, listed);
    assert!(spec.client_auth.contains(&ClientAuth::PrivateKeyJwt), "{:?}", spec.client_auth);
    assert!(text.contains("skipped: none"), "{text}");
    assert_eq!(spec.scopes.default, ["openid"]);
    let values: Vec<&str> = spec.scopes.values.values().map(|v| v.value.as_str()).collect();
    assert_eq!(values, ["email", "offline_access", "openid", "profile"]);
    let grants = serde_json::to_value(&spec.grants).unwrap();
    let mut names: Vec<&String> = grants.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["authorization_code", "client_credentials", "device_code", "refresh_token", "token_exchange"]);
    assert!(text.contains(&format!("source: \"{}/.well-known/openid-configuration\"", server.issuer)), "{text}");

    // Deterministic, on standard output without --out.
    let (code, stdout, stderr) = run(&mut oauthgen(&["spec", "from-discovery", &server.issuer, "--id", "localop"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, text);

    // An existing file is kept without --force.
    let (code, _, stderr) =
        run(&mut oauthgen(&["spec", "from-discovery", &server.issuer, "--id", "localop", "--out", &out_s]));
    assert_eq!(code, 1);
    assert!(stderr.contains("--force"), "{stderr}");
    let (code, _, stderr) =
        run(&mut oauthgen(&["spec", "from-discovery", &server.issuer, "--id", "localop", "--out", &out_s, "--force"]));
    assert_eq!(code, 0, "{stderr}");
}

/// Serve one fixed discovery document (naming `issuer`, else its own URL) to every request;
/// returns the base URL.
fn fixed_server(issuer: Option<&str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = issuer.unwrap_or(&base);
    let body = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/auth"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
    })
    .to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    base
}

#[test]
fn another_issuer_in_the_document_is_refused_in_one_line() {
    let base = fixed_server(Some("https://elsewhere.example"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("localop.yaml").display().to_string();
    let (code, stdout, stderr) =
        run(&mut oauthgen(&["spec", "from-discovery", &base, "--id", "localop", "--out", &out]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("`https://elsewhere.example`"), "{stderr}");
    assert!(!std::path::Path::new(&out).exists());
}

#[test]
fn defaults_of_a_minimal_document() {
    let base = fixed_server(None);
    let (code, stdout, stderr) =
        run(&mut oauthgen(&["spec", "from-discovery", &base, "--id", "tiny", "--name", "Tiny"]));
    assert_eq!(code, 0, "{stderr}");
    let spec = oauthgen_codegen::parse_str("tiny.yaml", &stdout).unwrap();
    assert_eq!(spec.name, "Tiny");
    assert_eq!(spec.pkce, Pkce::Unsupported);
    assert_eq!(spec.client_auth, [ClientAuth::Basic]);
    assert!(stdout.contains("grants:\n  authorization_code: {}\noidc:"), "{stdout}");
    assert!(stdout.contains("skipped: implicit"), "{stdout}");
}

#[test]
fn a_redirect_to_another_origin_is_not_followed() {
    let elsewhere = fixed_server(None);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let location = format!("{elsewhere}/.well-known/openid-configuration");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let response =
                format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(response.as_bytes());
        }
    });
    let (code, stdout, stderr) = run(&mut oauthgen(&["spec", "from-discovery", &base, "--id", "localop"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("redirect to another origin"), "{stderr}");
}

#[test]
fn an_unreachable_issuer_exits_1() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (code, stdout, stderr) = run(&mut oauthgen(&["spec", "from-discovery", &base, "--id", "localop"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: cannot fetch"), "{stderr}");
}
