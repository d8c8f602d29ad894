//! Client assertions against the certified `oidc-provider` (`tests/oidc/server.mjs`):
//! `private_key_jwt` (its client registered with the public half of
//! `tests/oidc/client-key.json`) and `client_secret_jwt`. Every grant that authenticates the
//! client succeeds with a fresh assertion; a wrong key, an expired assertion and a replayed
//! one are refused by the provider.

use oauthgen_runtime::spec::ClientAuth;
use oauthgen_runtime::{
    Callback, ClientKey, Credentials, Error, Provider, authorize_url, client_credentials, exchange, introspect,
    refresh, revoke,
};
use oauthgen_tests::{OidcServer, TestOp, TestOpScope, follow_to_callback};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const SECRET_JWT_SECRET: &str = "client-secret-jwt-test-secret-0123456789";

fn client_key() -> ClientKey {
    ClientKey::from_file(oauthgen_tests::tests_dir().join("oidc/client-key.json")).unwrap()
}

fn jwt_client(server: &OidcServer) -> TestOp {
    TestOp::public(server.port.to_string(), "jwt-client").with_client_key(client_key())
}

async fn log_in(provider: &TestOp) -> Credentials {
    let auth = authorize_url(provider, REDIRECT, TestOpScope::DEFAULT).unwrap();
    let callback = follow_to_callback(auth.url.as_str(), REDIRECT).await;
    exchange(provider, &auth.pending, &Callback::from_url(&callback).unwrap()).await.unwrap()
}

/// POST a client-credentials request with `assertion` straight to the token endpoint: the
/// status and the OAuth error code, if any.
async fn post_assertion(server: &OidcServer, client_id: &str, assertion: &str) -> (u16, Option<String>) {
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_assertion_type", oauthgen_runtime::ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (status, body["error"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread")]
async fn private_key_jwt_for_every_grant() {
    let server = OidcServer::start(3600);
    let op = jwt_client(&server);
    assert_eq!(op.config().client_auth(), ClientAuth::PrivateKeyJwt, "the key chooses the method");
    assert!(!op.config().is_public());

    // Authorization code with PKCE, refresh (rotating), introspection, revocation.
    let mut credentials = log_in(&op).await;
    assert!(credentials.refresh_token.is_some());
    let old = credentials.refresh_token.clone().unwrap().secret().clone();
    refresh(&op, &mut credentials).await.unwrap();
    assert_ne!(credentials.refresh_token.as_ref().unwrap().secret(), &old, "rotated");
    let info = introspect(&op, credentials.access_token.secret(), Some("access_token")).await.unwrap();
    assert!(info.active);
    revoke(&op, &credentials).await.unwrap();
    let err = refresh(&op, &mut credentials).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_grant"), "{err:?}");

    // Client credentials.
    let machine = client_credentials(&op, &[] as &[&str]).await.unwrap();
    assert!(!machine.access_token.secret().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_an_expired_and_a_replayed_assertion_are_refused() {
    let server = OidcServer::start(3600);

    // A key the provider does not know: a typed OAuth error through the flow.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 =
        ring::signature::EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pkcs8.as_ref())
    );
    let stranger = TestOp::public(server.port.to_string(), "jwt-client")
        .with_client_key(ClientKey::from_pem(&pem).unwrap().with_key_id("client-key-1"));
    let err = client_credentials(&stranger, &[] as &[&str]).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_client"), "{err:?}");

    let key = client_key();
    let audience = server.url("/token");
    let now = chrono::Utc::now().timestamp();

    // The real key, the real audience: accepted once, refused when replayed.
    let assertion = key.assertion("jwt-client", &audience, now).unwrap();
    assert_eq!(post_assertion(&server, "jwt-client", &assertion).await, (200, None));
    let (status, error) = post_assertion(&server, "jwt-client", &assertion).await;
    assert_eq!((status, error.as_deref()), (401, Some("invalid_client")), "a replayed assertion");

    // Expired (issued two minutes ago, valid for one), or for another audience.
    let old = key.assertion("jwt-client", &audience, now - 120).unwrap();
    let (status, error) = post_assertion(&server, "jwt-client", &old).await;
    assert_eq!((status, error.as_deref()), (401, Some("invalid_client")), "an expired assertion");
    let elsewhere = key.assertion("jwt-client", "https://elsewhere.example/token", now).unwrap();
    let (status, error) = post_assertion(&server, "jwt-client", &elsewhere).await;
    assert_eq!((status, error.as_deref()), (401, Some("invalid_client")), "another audience");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_jwt_and_its_wrong_secret() {
    let server = OidcServer::start(3600);
    let mut op = TestOp::new(server.port.to_string(), "secret-jwt-client", SECRET_JWT_SECRET);
    op.config_mut().set_client_auth(ClientAuth::ClientSecretJwt).unwrap();
    let credentials = log_in(&op).await;
    assert!(credentials.refresh_token.is_some());
    client_credentials(&op, &[] as &[&str]).await.unwrap();

    let mut wrong = TestOp::new(server.port.to_string(), "secret-jwt-client", "not-the-secret-0123456789-abcdefghij");
    wrong.config_mut().set_client_auth(ClientAuth::ClientSecretJwt).unwrap();
    let err = client_credentials(&wrong, &[] as &[&str]).await.unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, .. } if error == "invalid_client"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn private_key_jwt_without_a_key_sends_nothing() {
    // No server: a request would fail to connect, which is another error.
    let mut op = TestOp::new("9".to_owned(), "jwt-client", "a-secret");
    op.config_mut().set_client_auth(ClientAuth::PrivateKeyJwt).unwrap();
    let err = client_credentials(&op, &[] as &[&str]).await.unwrap_err();
    assert!(matches!(&err, Error::Signing(why) if why.contains("no client key")), "{err:?}");
    let err = oauthgen_runtime::introspect(&op, "a-token", None).await.unwrap_err();
    assert!(matches!(&err, Error::Signing(_)), "{err:?}");
}

/// Certificate credentials as Microsoft Entra ID takes them, with the bundled `microsoft`
/// spec (`client_assertion: { algorithm: PS256, thumbprint: x5t#S256 }`) pointed at the test
/// provider, whose `cert-client` accepts PS256 assertions only: a key loaded with its
/// certificate (one PEM, as Azure tools write it) gets tokens; the assertion's header names
/// the certificate's SHA-256 thumbprint; without the certificate the client is stopped before
/// any request, and an RS256 assertion by the same key is refused by the provider.
#[tokio::test(flavor = "multi_thread")]
async fn certificate_credentials_as_microsoft_entra_takes_them() {
    use oauthgen_providers::microsoft::Microsoft;
    use oauthgen_runtime::Endpoint;
    let server = OidcServer::start(3600);
    let pem =
        std::fs::read_to_string(oauthgen_tests::tests_dir().join("../runtime/tests/keys/client-rsa.pem")).unwrap();
    let entra = |key: ClientKey| {
        Microsoft::public("cert-client")
            .with_client_key(key)
            .with_endpoint(Endpoint::Token, &server.url("/token"))
            .unwrap()
    };
    let key = ClientKey::from_pem(&pem).unwrap();
    let thumbprint = key.certificate_thumbprint().unwrap().to_owned();
    let op = entra(key);
    assert_eq!(op.config().client_auth(), ClientAuth::PrivateKeyJwt);
    let machine = client_credentials(&op, &[] as &[&str]).await.unwrap();
    assert!(!machine.access_token.secret().is_empty());

    // What went out: PS256, named by the certificate.
    let assertion = op.config().client_assertion(Endpoint::Token).unwrap().expect("private_key_jwt");
    let header = assertion.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "PS256");
    assert_eq!(header["x5t#S256"], thumbprint.as_str());

    // The key without its certificate: a clear error, nothing sent.
    let key_only = &pem[..pem.find("-----BEGIN CERTIFICATE").unwrap()];
    let bare = entra(ClientKey::from_pem(key_only).unwrap());
    let err = client_credentials(&bare, &[] as &[&str]).await.unwrap_err();
    assert!(matches!(&err, Error::Signing(m) if m.contains("x5t#S256")), "{err:?}");
    // The same key signing RS256 (the spec's default): the provider wants PS256.
    let rs256 = ClientKey::from_pem(&pem)
        .unwrap()
        .assertion("cert-client", &server.url("/token"), chrono::Utc::now().timestamp())
        .unwrap();
    let (status, error) = post_assertion(&server, "cert-client", &rs256).await;
    assert_eq!((status, error.as_deref()), (401, Some("invalid_client")), "RS256 refused");
}

/// Workload identity federation: the client assertion is a token another issuer writes to a
/// file (Kubernetes' projected token, a CI system's OIDC token), read for every request.
/// Each one is used once: the provider refuses the same token twice (its `jti`), so a
/// request after the platform rotated the file works again; a missing or empty file is an
/// error before any request.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_assertion_from_a_file_another_issuer_writes() {
    use oauthgen_runtime::Provider as _;
    let server = OidcServer::start(3600);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("federated-token");
    // The other issuer: here the test, signing as the platform would for this client.
    let issue = || {
        let now = chrono::Utc::now().timestamp();
        std::fs::write(
            &file,
            format!("{}\n", client_key().assertion("jwt-client", &server.url("/token"), now).unwrap()),
        )
        .unwrap();
    };
    let op = TestOp::public(server.port.to_string(), "jwt-client").with_client_assertion_file(&file);
    assert_eq!(op.config().client_auth(), ClientAuth::PrivateKeyJwt, "the file chooses the method");
    assert!(!op.config().is_public());

    let missing = client_credentials(&op, &[] as &[&str]).await.unwrap_err();
    assert!(matches!(&missing, Error::Signing(m) if m.contains("cannot read")), "{missing:?}");
    issue();
    let first = client_credentials(&op, &[] as &[&str]).await.unwrap();
    assert!(!first.access_token.secret().is_empty());
    let replayed = client_credentials(&op, &[] as &[&str]).await.unwrap_err();
    assert!(matches!(&replayed, Error::OAuth { error, .. } if error == "invalid_client"), "{replayed:?}");
    issue();
    let rotated = client_credentials(&op, &[] as &[&str]).await.unwrap();
    assert_ne!(rotated.access_token.secret(), first.access_token.secret());
    std::fs::write(&file, "\n").unwrap();
    let empty = client_credentials(&op, &[] as &[&str]).await.unwrap_err();
    assert!(matches!(&empty, Error::Signing(m) if m.contains("does not hold a JWT")), "{empty:?}");
    assert!(!format!("{op:?}").contains("eyJ"), "no token in Debug");
}
