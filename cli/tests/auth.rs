//! `oauthgen login`, `token`, `revoke`, `client-credentials` and `service-account` end to end:
//! the real binary against npm `oidc-provider` (and an authlib JWT-bearer server) on
//! 127.0.0.1, with `$BROWSER` set to a script that follows the redirect chain.

mod support;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use oauthgen_tests::{FORGED_ID_TOKENS, OidcServer, PythonServer, approve_device, follow_to_callback, run_python};
use support::{oauthgen, run, workspace};

struct Setup {
    server: OidcServer,
    dir: tempfile::TempDir,
    port: String,
}

impl Setup {
    fn new(ttl: u32) -> Self {
        let server = OidcServer::start(ttl);
        let port = format!("port={}", server.port);
        Self { server, dir: tempfile::tempdir().unwrap(), port }
    }

    fn store(&self) -> String {
        self.dir.path().join("tokens.json").display().to_string()
    }

    /// `oauthgen <command> testop --spec ... --var port=N --store ...`
    fn cmd(&self, command: &str, extra: &[&str]) -> Command {
        let store = self.store();
        self.cmd_without_store(command, &[&["--store", &store], extra].concat())
    }

    /// `oauthgen login` as `client` (secret `secret`), the browser played by
    /// `tests/browser.py`.
    fn log_in(&self, client: &str, secret: &str, extra: &[&str]) {
        let browser = format!("python3 {}", workspace().join("tests/browser.py").display());
        let args = [&["--client-id", client, "--timeout", "30"], extra].concat();
        let (code, _, stderr) =
            run(self.cmd("login", &args).env("OAUTHGEN_CLIENT_SECRET", secret).env("BROWSER", &browser));
        assert_eq!(code, 0, "{stderr}");
    }

    /// `oauthgen <command> testop --spec ... --var port=N ...`
    fn cmd_without_store(&self, command: &str, extra: &[&str]) -> Command {
        let mut args = vec![command, "testop", "--spec", "tests/fixtures/ok/testop.yaml", "--var", &self.port];
        args.extend_from_slice(extra);
        oauthgen(&args)
    }
}

#[test]
fn login_then_token_before_and_after_expiry_then_revoke() {
    let setup = Setup::new(3);
    let browser = format!("python3 {}", workspace().join("tests/browser.py").display());
    let (code, _, stderr) = run(setup
        .cmd("login", &["--client-id", "basic-client", "--timeout", "30"])
        .env("OAUTHGEN_CLIENT_SECRET", "basic-secret")
        .env("BROWSER", &browser));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Signed in to Test OpenID Provider"), "{stderr}");
    assert!(!stderr.contains("basic-secret"), "no secret on screen");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(setup.store()).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // Who signed in: the validated ID token's claims.
    let (code, who, stderr) = run(&mut setup.cmd("whoami", &[]));
    assert_eq!(code, 0, "{stderr}");
    let who: serde_json::Value = serde_json::from_str(&who).unwrap();
    assert_eq!(who["sub"], "user-1", "{who}");
    assert_eq!(who["iss"], setup.server.issuer.as_str());

    let (code, first, stderr) = run(&mut setup.cmd("token", &[]));
    assert_eq!(code, 0, "{stderr}");
    let first = first.trim().to_owned();
    assert!(!first.is_empty());
    let (_, again, _) = run(&mut setup.cmd("token", &[]));
    assert_eq!(again.trim(), first, "still fresh: the stored token");

    std::thread::sleep(Duration::from_millis(2600));
    let (code, later, stderr) = run(&mut setup.cmd("token", &[]));
    assert_eq!(code, 0, "{stderr}");
    assert_ne!(later.trim(), first, "expired: refreshed");
    let me: serde_json::Value = reqwest::blocking_get_json(&setup.server.url("/me"), later.trim());
    assert_eq!(me["email"], "user-1@example.test");

    let (code, _, stderr) = run(&mut setup.cmd("revoke", &[]));
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = run(&mut setup.cmd("token", &[]));
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains("run `oauthgen login testop` first"), "{stderr}");
}

#[test]
fn device_login_approved_by_the_user() {
    let setup = Setup::new(3600);
    let mut child = setup
        .cmd("login", &["--device", "--client-id", "public-client", "--timeout", "30"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let prompt = lines.by_ref().map_while(Result::ok).find(|l| l.contains("enter the code")).expect("a device prompt");
    let words: Vec<&str> = prompt.split_whitespace().collect();
    let uri = words.iter().find(|w| w.starts_with("http")).expect("a verification URI").to_string();
    let code = words.last().unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(approve_device(&uri, &code, true));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    let (code, token, stderr) = run(&mut setup.cmd("token", &[]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!token.trim().is_empty());
}

#[test]
fn client_credentials_and_a_wrong_secret() {
    let setup = Setup::new(3600);
    let (code, token, stderr) = run(setup
        .cmd_without_store("client-credentials", &["--client-id", "basic-client"])
        .env("OAUTHGEN_CLIENT_SECRET", "basic-secret"));
    assert_eq!(code, 0, "{stderr}");
    assert!(!token.trim().is_empty());
    let (code, _, stderr) = run(&mut setup.cmd_without_store(
        "client-credentials",
        &["--client-id", "basic-client", "--client-secret", "not-the-secret"],
    ));
    assert_eq!(code, 1);
    assert!(stderr.contains("invalid_client"), "{stderr}");
    assert!(!stderr.contains("not-the-secret"));
}

#[test]
fn a_client_key_instead_of_a_secret_for_login_token_and_client_credentials() {
    let setup = Setup::new(3);
    let key = workspace().join("tests/oidc/client-key.json").display().to_string();
    let browser = format!("python3 {}", workspace().join("tests/browser.py").display());
    let (code, _, stderr) = run(setup
        .cmd("login", &["--client-id", "jwt-client", "--client-key", &key, "--timeout", "30"])
        .env("BROWSER", &browser));
    assert_eq!(code, 0, "{stderr}");
    let stored = std::fs::read_to_string(setup.store()).unwrap();
    assert!(!stored.contains("\"d\""), "the key's path is stored, never the key");

    // `token` after expiry refreshes with the key `login` used.
    let (code, first, stderr) = run(&mut setup.cmd("token", &[]));
    assert_eq!(code, 0, "{stderr}");
    std::thread::sleep(Duration::from_millis(2600));
    let (code, later, stderr) = run(&mut setup.cmd("token", &[]));
    assert_eq!(code, 0, "{stderr}");
    assert_ne!(later.trim(), first.trim(), "expired: refreshed with an assertion");

    let (code, token, stderr) = run(&mut setup.cmd_without_store(
        "client-credentials",
        &["--client-id", "jwt-client", "--client-key", &key, "--client-key-id", "client-key-1"],
    ));
    assert_eq!(code, 0, "{stderr}");
    assert!(!token.trim().is_empty());

    // A key file that is not a key: a clear error, nothing sent.
    let (code, _, stderr) = run(&mut setup.cmd_without_store(
        "client-credentials",
        &["--client-id", "jwt-client", "--client-key", "tests/fixtures/ok/testop.yaml"],
    ));
    assert_eq!(code, 1);
    assert!(stderr.contains("the client key") && stderr.contains("PEM"), "{stderr}");
}

/// Certificate credentials (Microsoft Entra ID's kind): a spec whose assertions are PS256 and
/// name the key by `x5t#S256`; the key and its certificate in one PEM, or the certificate
/// given with `--client-cert`; without it, a clear error before any request.
#[test]
fn a_client_certificate_for_certificate_credentials() {
    let setup = Setup::new(3600);
    let spec = setup.dir.path().join("certop.yaml");
    std::fs::write(
        &spec,
        r#"id: certop
name: Certificate credentials
provenance:
  - { source: "cli/tests/auth.rs", checked: 2026-11-30 }
endpoints:
  token: "http://127.0.0.1:{port}/token"
variables:
  port: { description: Port, pattern: "^[0-9]+$" }
client_auth: [private_key_jwt]
client_assertion: { algorithm: PS256, thumbprint: "x5t#S256" }
pkce: unsupported
grants:
  client_credentials: {}
"#,
    )
    .unwrap();
    let pem = std::fs::read_to_string(workspace().join("runtime/tests/keys/client-rsa.pem")).unwrap();
    let split = pem.find("-----BEGIN CERTIFICATE").unwrap();
    let (key_only, cert_only) = (setup.dir.path().join("key.pem"), setup.dir.path().join("cert.pem"));
    std::fs::write(&key_only, &pem[..split]).unwrap();
    std::fs::write(&cert_only, &pem[split..]).unwrap();
    let both = workspace().join("runtime/tests/keys/client-rsa.pem");
    let spec = spec.display().to_string();
    let cc = |key: &std::path::Path, cert: Option<&std::path::Path>| {
        let mut args = vec!["client-credentials", "certop", "--spec", &spec, "--var", &setup.port];
        let key = key.display().to_string();
        let cert = cert.map(|c| c.display().to_string());
        args.extend(["--client-id", "cert-client", "--client-key", &key]);
        if let Some(cert) = &cert {
            args.extend(["--client-cert", cert]);
        }
        run(&mut oauthgen(&args))
    };
    let (code, token, stderr) = cc(&both, None);
    assert_eq!(code, 0, "{stderr}");
    assert!(!token.trim().is_empty());
    let (code, token, stderr) = cc(&key_only, Some(&cert_only));
    assert_eq!(code, 0, "{stderr}");
    assert!(!token.trim().is_empty());
    let (code, _, stderr) = cc(&key_only, None);
    assert_eq!(code, 1);
    assert!(stderr.contains("x5t#S256") && stderr.contains("--client-cert"), "{stderr}");
    // A certificate of another key: refused when loaded.
    let other = workspace().join("runtime/tests/keys/other-cert.pem");
    let (code, _, stderr) = cc(&key_only, Some(&other));
    assert_eq!(code, 1);
    assert!(stderr.contains("another key"), "{stderr}");
}

/// `--client-assertion-file`: a token another issuer wrote, read for the request.
#[test]
fn a_client_assertion_file_for_client_credentials() {
    let setup = Setup::new(3600);
    let file = setup.dir.path().join("federated-token");
    let key = oauthgen_runtime::ClientKey::from_file(workspace().join("tests/oidc/client-key.json")).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let now = i64::try_from(now).unwrap();
    std::fs::write(&file, key.assertion("jwt-client", &setup.server.url("/token"), now).unwrap()).unwrap();
    let path = file.display().to_string();
    let args = ["--client-id", "jwt-client", "--client-assertion-file", &path];
    let (code, token, stderr) = run(&mut setup.cmd_without_store("client-credentials", &args));
    assert_eq!(code, 0, "{stderr}");
    assert!(!token.trim().is_empty());
    // The same token again: refused by the provider (each assertion is used once).
    let (code, _, stderr) = run(&mut setup.cmd_without_store("client-credentials", &args));
    assert_eq!(code, 1);
    assert!(stderr.contains("invalid_client"), "{stderr}");
}

/// Call the test provider's DPoP resource server with the two lines `token --dpop-proof`
/// printed: its status.
fn call_resource(server: &OidcServer, printed: &str) -> u16 {
    let mut lines = printed.lines();
    let (token, proof) = (lines.next().unwrap(), lines.next().expect("a proof on the second line"));
    reqwest::blocking_dpop_status(&server.url("/test/resource"), token, proof)
}

#[test]
fn dpop_login_token_with_proofs_and_client_credentials() {
    let setup = Setup::new(3);
    let resource = setup.server.url("/test/resource");
    setup.log_in("dpop-client", "dpop-secret", &["--dpop"]);
    let mut stored: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(setup.store()).unwrap()).unwrap();
    assert!(stored.to_string().contains("\"dpop_key\""), "the key is stored with the tokens");
    // Without an ID token, `whoami` asks the userinfo endpoint, with a proof.
    assert_eq!(drop_id_tokens(&mut stored), 1);
    std::fs::write(setup.store(), stored.to_string()).unwrap();
    let (code, who, stderr) = run(&mut setup.cmd("whoami", &[]));
    assert_eq!(code, 0, "{stderr}");
    assert!(who.contains("user-1"), "{who}");

    let (code, printed, stderr) = run(&mut setup.cmd("token", &["--dpop-proof", "GET", &resource]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(call_resource(&setup.server, &printed), 200);
    let (code, _, stderr) = run(&mut setup.cmd("token", &[]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("DPoP-bound"), "{stderr}");

    // After expiry, `token` refreshes with the stored key: the new token works with proofs.
    std::thread::sleep(Duration::from_millis(2600));
    let (code, later, stderr) = run(&mut setup.cmd("token", &["--dpop-proof", "GET", &resource]));
    assert_eq!(code, 0, "{stderr}");
    assert_ne!(later.lines().next(), printed.lines().next(), "refreshed");
    assert_eq!(call_resource(&setup.server, &later), 200);

    let (code, printed, stderr) = run(setup
        .cmd_without_store("client-credentials", &["--client-id", "dpop-client", "--dpop-proof", "GET", &resource])
        .env("OAUTHGEN_CLIENT_SECRET", "dpop-secret"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(call_resource(&setup.server, &printed), 200);

    // Without DPoP that client is refused; a provider without DPoP refuses the flag.
    let (code, _, stderr) = run(setup
        .cmd_without_store("client-credentials", &["--client-id", "dpop-client"])
        .env("OAUTHGEN_CLIENT_SECRET", "dpop-secret"));
    assert_eq!(code, 1, "{stderr}");
    let (code, _, stderr) =
        run(&mut oauthgen(&["client-credentials", "atlassian", "--client-id", "x", "--client-secret", "y", "--dpop"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("does not take DPoP"), "{stderr}");
}

#[test]
fn exchange_a_signed_in_users_token() {
    let setup = Setup::new(3600);
    setup.log_in("basic-client", "basic-secret", &[]);
    let (_, subject, _) = run(&mut setup.cmd("token", &[]));
    let subject = subject.trim().to_owned();

    let (code, exchanged, stderr) = run(setup
        .cmd_without_store(
            "exchange",
            &["--client-id", "basic-client", "--audience", "https://orders.example", "--scope", "openid"],
        )
        .env("OAUTHGEN_CLIENT_SECRET", "basic-secret")
        .env("OAUTHGEN_SUBJECT_TOKEN", &subject));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("issued token type: urn:ietf:params:oauth:token-type:access_token"), "{stderr}");
    let exchanged = exchanged.trim();
    assert!(!exchanged.is_empty() && exchanged != subject);
    assert!(!stderr.contains(&subject), "no token on screen but the one asked for");
    let seen = reqwest::blocking_get_json(&setup.server.url("/test/exchanges"), "");
    assert_eq!(seen[0]["audience"], "https://orders.example");
    assert_eq!(seen[0]["scope"], "openid");

    // From standard input, with `-`.
    let mut child = setup
        .cmd_without_store("exchange", &["--client-id", "basic-client", "--subject-token", "-"])
        .env("OAUTHGEN_CLIENT_SECRET", "basic-secret")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), format!("{subject}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A token the provider never issued, and an unknown token type: clear errors.
    let (code, _, stderr) = run(setup
        .cmd_without_store("exchange", &["--client-id", "basic-client", "--subject-token", "forged"])
        .env("OAUTHGEN_CLIENT_SECRET", "basic-secret"));
    assert_eq!(code, 1);
    assert!(stderr.contains("invalid_grant"), "{stderr}");
    let (code, _, stderr) = run(setup
        .cmd_without_store(
            "exchange",
            &["--client-id", "basic-client", "--subject-token", "x", "--subject-token-type", "ticket"],
        )
        .env("OAUTHGEN_CLIENT_SECRET", "basic-secret"));
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown token type `ticket`"), "{stderr}");
}

#[test]
fn service_account_against_a_verifying_server() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = (dir.path().join("sa.pem"), dir.path().join("sa.pub.pem"));
    run_python(
        r"
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
open(sys.argv[1], 'wb').write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
open(sys.argv[2], 'wb').write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
",
        &[private.to_str().unwrap(), public.to_str().unwrap()],
    );
    let server =
        PythonServer::start("jwt_bearer_server.py", &[public.to_str().unwrap(), "svc", "https://jwt.test/token"]);
    let port = format!("port={}", server.port);
    let key = private.display().to_string();
    let base = ["service-account", "jwtop", "--spec", "tests/fixtures/ok/jwtop.yaml", "--var", &port, "--key", &key];
    let (code, token, stderr) =
        run(&mut oauthgen(&[&base[..], &["--issuer", "svc", "--subject", "u@acme.test", "--scope", "read"]].concat()));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(token.trim(), "sa-u@acme.test");
    let (code, _, stderr) = run(&mut oauthgen(&[&base[..], &["--issuer", "someone-else"]].concat()));
    assert_eq!(code, 1);
    assert!(stderr.contains("invalid_grant"), "{stderr}");
}

#[test]
fn token_without_login_and_unknown_providers_fail_clearly() {
    let setup = Setup::new(3600);
    let (code, _, stderr) = run(&mut setup.cmd("token", &[]));
    assert_eq!(code, 1);
    assert!(stderr.contains("no credentials for `testop`"), "{stderr}");
    let (code, _, stderr) = run(&mut oauthgen(&["token", "no-such-provider", "--store", &setup.store()]));
    assert_eq!(code, 1);
    assert!(stderr.contains("no bundled provider `no-such-provider`"), "{stderr}");
    let (code, _, stderr) =
        run(&mut oauthgen(&["login", "dailymotion", "--device", "--client-id", "x", "--store", &setup.store()]));
    assert_eq!(code, 1);
    assert!(stderr.contains("declares no `device_code` grant"), "{stderr}");
}

mod reqwest {
    /// GET `url` with a bearer token; the JSON body.
    pub(crate) fn blocking_get_json(url: &str, token: &str) -> serde_json::Value {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            ::reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
        })
    }

    /// GET `url` with a DPoP-bound token and its proof; the status.
    pub(crate) fn blocking_dpop_status(url: &str, token: &str, proof: &str) -> u16 {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let request = ::reqwest::Client::new().get(url).header("authorization", format!("DPoP {token}"));
            request.header("dpop", proof).send().await.unwrap().status().as_u16()
        })
    }
}

/// `--no-browser`: the URL is printed, the user signs in elsewhere and pastes the address the
/// browser was sent back to.
#[test]
fn no_browser_login_with_a_pasted_redirect() {
    use std::io::Write as _;
    let setup = Setup::new(3600);
    let mut child = setup
        .cmd("login", &["--no-browser", "--client-id", "basic-client", "--timeout", "30"])
        .env("OAUTHGEN_CLIENT_SECRET", "basic-secret")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.trim().starts_with("http://127.0.0.1").then(|| l.trim().to_owned()))
        .expect("the authorization URL");
    let parsed = url::Url::parse(&url).unwrap();
    let redirect = parsed.query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1.into_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Sign in "elsewhere": follow the chain but stop before the loopback address.
    let callback = rt.block_on(follow_to_callback(&url, &redirect));
    child.stdin.take().unwrap().write_all(format!("{callback}\n").as_bytes()).unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    let (code, token, _) = run(&mut setup.cmd("token", &[]));
    assert_eq!(code, 0);
    assert!(!token.trim().is_empty());
}

/// `oauthgen login` refuses forged ID tokens (`oidc-provider` switched to forge them): exit 1
/// with the reason, and nothing stored. With a real token it signs in, and `whoami` shows the
/// subject from the token, or asks the userinfo endpoint when the stored credentials hold no
/// ID token (credentials imported from an older tool, say).
#[test]
fn login_refuses_forged_id_tokens_and_whoami_falls_back_to_userinfo() {
    let setup = Setup::new(3600);
    let browser = format!("python3 {}", workspace().join("tests/browser.py").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let forge = |kind: &str| rt.block_on(setup.server.forge_id_tokens(kind));
    let login = || {
        run(setup
            .cmd("login", &["--client-id", "basic-client", "--timeout", "30"])
            .env("OAUTHGEN_CLIENT_SECRET", "basic-secret")
            .env("BROWSER", &browser))
    };
    for &(kind, reason) in FORGED_ID_TOKENS {
        forge(kind);
        let (code, stdout, stderr) = login();
        assert_eq!(code, 1, "{kind}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains("ID token refused") && stderr.contains(reason), "{kind}: {stderr}");
        assert!(!stderr.contains("basic-secret"));
        assert!(!std::path::Path::new(&setup.store()).exists(), "{kind}: nothing stored");
    }

    forge("none");
    let (code, _, stderr) = login();
    assert_eq!(code, 0, "{stderr}");
    let (code, who, stderr) = run(&mut setup.cmd("whoami", &[]));
    assert_eq!(code, 0, "{stderr}");
    let who: serde_json::Value = serde_json::from_str(&who).unwrap();
    assert_eq!((who["sub"].as_str(), who["iss"].as_str()), (Some("user-1"), Some(setup.server.issuer.as_str())));
    assert!(who.get("email").is_none(), "oidc-provider keeps email out of the ID token: {who}");

    // Without an ID token, the userinfo endpoint answers (and has the email).
    let mut stored: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(setup.store()).unwrap()).unwrap();
    assert_eq!(drop_id_tokens(&mut stored), 1, "{stored}");
    std::fs::write(setup.store(), stored.to_string()).unwrap();
    let (code, info, stderr) = run(&mut setup.cmd("whoami", &[]));
    assert_eq!(code, 0, "{stderr}");
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!((info["sub"].as_str(), info["email"].as_str()), (Some("user-1"), Some("user-1@example.test")), "{info}");
    assert!(info.get("iss").is_none(), "the userinfo answer, not the token's claims: {info}");
}

/// Remove every `id_token` member from a stored JSON document; how many there were.
fn drop_id_tokens(value: &mut serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => {
            usize::from(map.remove("id_token").is_some()) + map.values_mut().map(drop_id_tokens).sum::<usize>()
        }
        serde_json::Value::Array(items) => items.iter_mut().map(drop_id_tokens).sum(),
        _ => 0,
    }
}
