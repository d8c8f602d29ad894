//! Service-account assertions: byte for byte what Python google-auth builds for the same key,
//! scopes, subject and time; typed errors for bad keys and subjects.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauthgen_providers::google::{Google, GoogleScope};
use oauthgen_providers::salesforce::Salesforce;
use oauthgen_runtime::{
    Error, MemoryStore, ServiceAccountAuth, ServiceAccountKey, TokenManager, TokenStore as _, assertion,
    exchange_assertion, service_account_token,
};
use oauthgen_tests::{JwtOp, JwtOpScope, PythonServer, run_python};

/// A fresh RSA key in a Google service-account key file, made by Python `cryptography`.
fn google_key_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("sa.json");
    run_python(
        r#"
import json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
json.dump({"type": "service_account", "project_id": "p", "private_key_id": "kid-0123abc", "private_key": pem,
           "client_email": "robot@p.iam.gserviceaccount.com", "client_id": "1234",
           "token_uri": "https://oauth2.googleapis.com/token"}, open(sys.argv[1], "w"))
"#,
        &[path.to_str().unwrap()],
    );
    path
}

const GOOGLE_AUTH: &str = r#"
import datetime, sys
from unittest import mock
from google.auth import _helpers
from google.oauth2 import service_account
path, scopes, subject, iat = sys.argv[1], sys.argv[2].split(), sys.argv[3] or None, int(sys.argv[4])
now = datetime.datetime.fromtimestamp(iat, datetime.timezone.utc).replace(tzinfo=None)
with mock.patch.object(_helpers, "utcnow", return_value=now):
    creds = service_account.Credentials.from_service_account_file(path, scopes=scopes, subject=subject)
    jwt = creds._make_authorization_grant_assertion()
    print(jwt.decode() if isinstance(jwt, bytes) else jwt, end="")
"#;

#[test]
fn google_assertions_are_byte_identical_to_google_auth() {
    let dir = tempfile::tempdir().unwrap();
    let path = google_key_file(dir.path());
    let key = ServiceAccountKey::from_google_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(!format!("{key:?}").contains("PRIVATE"), "Debug shows no key material");
    let google = Google::new("unused", "unused");
    let iat = "2026-11-25T12:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap().timestamp();
    let scopes = [GoogleScope::CloudPlatform, GoogleScope::DriveReadonly];
    let scope_arg = scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
    for subject in [None, Some("alice@example.com")] {
        let ours = assertion(&google, &key, &scopes, subject, iat).unwrap();
        let theirs =
            run_python(GOOGLE_AUTH, &[path.to_str().unwrap(), &scope_arg, subject.unwrap_or(""), &iat.to_string()]);
        assert_eq!(ours, theirs, "subject {subject:?}");
    }
}

#[test]
fn subjects_and_keys_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = google_key_file(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    let key = ServiceAccountKey::from_google_json(&text).unwrap();
    // Salesforce's spec requires a subject (the user to act as).
    let salesforce = Salesforce::new("client", "secret");
    let err = assertion(&salesforce, &key, &[] as &[&str], None, 0).unwrap_err();
    assert!(matches!(&err, Error::Signing(m) if m.contains("requires a subject")), "{err:?}");
    let jwt = assertion(&salesforce, &key, &[] as &[&str], Some("user@acme.test"), 0).unwrap();
    let claims = jwt.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["aud"], "https://login.salesforce.com", "the audience the spec names");
    assert_eq!(claims["sub"], "user@acme.test");

    let mut broken: serde_json::Value = serde_json::from_str(&text).unwrap();
    broken["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into();
    assert!(ServiceAccountKey::from_google_json(&broken.to_string()).is_err());
    broken["type"] = "authorized_user".into();
    assert!(ServiceAccountKey::from_google_json(&broken.to_string()).is_err());
}

/// An RSA key pair as PEM files (PKCS#8 private, SPKI public), made by Python `cryptography`.
fn pem_pair(dir: &std::path::Path, name: &str) -> (String, std::path::PathBuf) {
    let (private, public) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.pub.pem")));
    run_python(
        r"
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
open(sys.argv[1], 'wb').write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
open(sys.argv[2], 'wb').write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
",
        &[private.to_str().unwrap(), public.to_str().unwrap()],
    );
    (std::fs::read_to_string(private).unwrap(), public)
}

/// A real server that verifies assertions (authlib): a good assertion gets a token; a wrong
/// audience, an expired assertion and a key the server does not know get `invalid_grant`.
#[tokio::test(flavor = "multi_thread")]
async fn jwt_bearer_against_a_verifying_server() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = pem_pair(dir.path(), "sa");
    let (other_private, _) = pem_pair(dir.path(), "other");
    let issuer = "svc-client-id";
    let server =
        PythonServer::start("jwt_bearer_server.py", &[public.to_str().unwrap(), issuer, "https://jwt.test/token"]);
    let op = JwtOp::new(server.port.to_string(), "unused", "unused");
    let key = ServiceAccountKey::from_pem(issuer, &private, Some("k1".into())).unwrap();

    let credentials = service_account_token(&op, &key, &[JwtOpScope::Read], Some("user@acme.test")).await.unwrap();
    assert_eq!(credentials.access_token.secret(), "sa-user@acme.test");
    assert_eq!(credentials.scopes, ["api.read"]);

    // Through the token manager: minted once, then served from the cache and the store.
    let pem = ServiceAccountKey::from_pem(issuer, &private, Some("k1".into())).unwrap();
    let auth = ServiceAccountAuth::new(op.clone(), pem, &[JwtOpScope::Read], Some("svc@acme.test"));
    let store = MemoryStore::new();
    let manager = TokenManager::new(auth, store.clone(), "robot");
    for _ in 0..5 {
        assert_eq!(manager.token().await.unwrap().secret(), "sa-svc@acme.test");
    }
    assert_eq!(manager.token_requests(), 1);
    assert!(store.load("robot").await.unwrap().is_some(), "the minted token is stored");

    let invalid_grant = |e: &Error| matches!(e, Error::OAuth { error, .. } if error == "invalid_grant");
    // Signed by a key the server does not know.
    let stranger = ServiceAccountKey::from_pem(issuer, &other_private, None).unwrap();
    let err = service_account_token(&op, &stranger, &[JwtOpScope::Read], None).await.unwrap_err();
    assert!(invalid_grant(&err), "{err:?}");
    // Expired: issued two hours ago.
    let old = chrono::Utc::now().timestamp() - 7200;
    let jwt = assertion(&op, &key, &[JwtOpScope::Read], None, old).unwrap();
    let err = exchange_assertion(&op, None, &jwt, &[]).await.unwrap_err();
    assert!(invalid_grant(&err), "{err:?}");
    // A server expecting another audience refuses ours.
    let elsewhere =
        PythonServer::start("jwt_bearer_server.py", &[public.to_str().unwrap(), issuer, "https://other.test/token"]);
    let op = JwtOp::new(elsewhere.port.to_string(), "unused", "unused");
    let err = service_account_token(&op, &key, &[JwtOpScope::Read], None).await.unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { error, description, .. } if error == "invalid_grant" && description.as_deref().is_some_and(|d| d.contains("aud"))),
        "{err:?}"
    );
}

/// Application Default Credentials: the variable first, then gcloud's file; both credential
/// types; clear errors for other types and for a variable that points nowhere.
#[test]
fn application_default_credentials() {
    use oauthgen_runtime::adc::{AdcError, GoogleCredentials, application_default_credentials_in};
    let dir = tempfile::tempdir().unwrap();
    let key_file = google_key_file(dir.path());
    let gcloud = dir.path().join("home/.config/gcloud");
    std::fs::create_dir_all(&gcloud).unwrap();
    std::fs::write(
        gcloud.join("application_default_credentials.json"),
        r#"{"type":"authorized_user","client_id":"cid","client_secret":"cs","refresh_token":"rt"}"#,
    )
    .unwrap();
    let home = dir.path().join("home").display().to_string();
    let key = key_file.display().to_string();

    let env = |vars: Vec<(&'static str, String)>| {
        move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    };
    let (path, found) = application_default_credentials_in(&env(vec![
        ("GOOGLE_APPLICATION_CREDENTIALS", key.clone()),
        ("HOME", home.clone()),
    ]))
    .unwrap();
    assert_eq!(path, key_file);
    assert!(matches!(found, GoogleCredentials::ServiceAccount(k) if k.issuer() == "robot@p.iam.gserviceaccount.com"));

    let (_, found) = application_default_credentials_in(&env(vec![("HOME", home.clone())])).unwrap();
    assert!(matches!(found, GoogleCredentials::AuthorizedUser(u) if u.client.client_id == "cid"));

    let missing = dir.path().join("nope.json").display().to_string();
    let err =
        application_default_credentials_in(&env(vec![("GOOGLE_APPLICATION_CREDENTIALS", missing), ("HOME", home)]))
            .unwrap_err();
    assert!(matches!(err, AdcError::Unreadable { .. }), "an explicit setting is not silently skipped: {err:?}");
    assert_eq!(application_default_credentials_in(&env(vec![])).unwrap_err(), AdcError::NotFound);

    let external = dir.path().join("external.json");
    std::fs::write(&external, r#"{"type":"external_account","audience":"x"}"#).unwrap();
    let err = application_default_credentials_in(&env(vec![(
        "GOOGLE_APPLICATION_CREDENTIALS",
        external.display().to_string(),
    )]))
    .unwrap_err();
    assert!(err.to_string().contains("`external_account` is not supported"), "{err}");
}
