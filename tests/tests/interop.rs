//! Credential files round-trip through the real Python packages: oauth2client 4.1.3 and
//! google-auth, installed with pip into a virtual environment the harness creates.

use oauthgen_runtime::interop::{ClientInfo, authorized_user, oauth2client};
use oauthgen_runtime::{AccessToken, ClientSecret, Credentials, IdToken, RefreshToken};
use oauthgen_tests::run_python;

const READ_O2C: &str = r#"
import json, sys
from oauth2client.file import Storage
c = Storage(sys.argv[1]).get()
print(json.dumps({
    "access_token": c.access_token, "refresh_token": c.refresh_token, "client_id": c.client_id,
    "client_secret": c.client_secret, "token_uri": c.token_uri, "revoke_uri": c.revoke_uri,
    "token_expiry": c.token_expiry.strftime("%Y-%m-%dT%H:%M:%SZ") if c.token_expiry else None,
    "scopes": sorted(c.scopes), "invalid": c.invalid, "id_token_jwt": c.id_token_jwt,
    "class": type(c).__name__}))
"#;

fn sample() -> (Credentials, ClientInfo) {
    let credentials = Credentials {
        access_token: AccessToken::new("ya29.access".into()),
        token_type: "Bearer".into(),
        refresh_token: Some(RefreshToken::new("1//refresh".into())),
        expires_at: Some(utc("2031-05-06T07:08:09Z")),
        issued_at: None,
        scopes: vec!["email".into(), "https://www.googleapis.com/auth/drive".into()],
        id_token: Some(IdToken::new("eyJ.h.s".into())),
        extra: std::collections::BTreeMap::default(),
        invalid: false,
        dpop_key: None,
    };
    let client = ClientInfo {
        client_id: "123.apps.googleusercontent.com".into(),
        client_secret: Some(ClientSecret::new("s3cr3t".into())),
        token_uri: Some("https://oauth2.googleapis.com/token".into()),
        revoke_uri: Some("https://oauth2.googleapis.com/revoke".into()),
        user_agent: None,
    };
    (credentials, client)
}

#[test]
fn oauth2client_reads_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.dat");
    let (credentials, client) = sample();
    std::fs::write(&path, oauth2client::write(&credentials, &client)).unwrap();
    let seen: serde_json::Value = serde_json::from_str(&run_python(READ_O2C, &[path.to_str().unwrap()])).unwrap();
    assert_eq!(
        seen,
        serde_json::json!({
            "access_token": "ya29.access", "refresh_token": "1//refresh",
            "client_id": "123.apps.googleusercontent.com", "client_secret": "s3cr3t",
            "token_uri": "https://oauth2.googleapis.com/token", "revoke_uri": "https://oauth2.googleapis.com/revoke",
            "token_expiry": "2031-05-06T07:08:09Z", "scopes": ["email", "https://www.googleapis.com/auth/drive"],
            "invalid": false, "id_token_jwt": "eyJ.h.s", "class": "OAuth2Credentials"
        })
    );
}

#[test]
fn we_read_what_oauth2client_writes_and_round_trip_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.dat");
    run_python(
        r#"
import datetime, sys
from oauth2client.client import OAuth2Credentials
from oauth2client.file import Storage
c = OAuth2Credentials("at-py", "cid", "csecret", "rt-py", datetime.datetime(2030, 1, 2, 3, 4, 5),
                      "https://example.test/token", None, revoke_uri="https://example.test/revoke",
                      scopes=["a", "b"])
c.invalid = True
Storage(sys.argv[1]).put(c)
"#,
        &[path.to_str().unwrap()],
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let (credentials, client) = oauth2client::read(&text).unwrap();
    assert_eq!(credentials.access_token.secret(), "at-py");
    assert_eq!(credentials.refresh_token.as_ref().unwrap().secret(), "rt-py");
    assert_eq!(credentials.expires_at, Some(utc("2030-01-02T03:04:05Z")));
    let mut scopes = credentials.scopes.clone();
    scopes.sort();
    assert_eq!(scopes, ["a", "b"], "oauth2client keeps scopes in a set: any order");
    assert!(credentials.invalid);
    assert_eq!(client.client_id, "cid");
    assert_eq!(client.client_secret.as_ref().unwrap().secret(), "csecret");
    assert_eq!(client.token_uri.as_deref(), Some("https://example.test/token"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "oauth2client's own mode");
    }

    // Write it back; oauth2client reads the same values.
    std::fs::write(&path, oauth2client::write(&credentials, &client)).unwrap();
    let seen: serde_json::Value = serde_json::from_str(&run_python(READ_O2C, &[path.to_str().unwrap()])).unwrap();
    assert_eq!(seen["access_token"], "at-py");
    assert_eq!(seen["token_expiry"], "2030-01-02T03:04:05Z");
    assert_eq!(seen["invalid"], true);
    assert_eq!(seen["scopes"], serde_json::json!(["a", "b"]));
}

#[test]
fn authorized_user_files_with_google_auth_and_oauth2client() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adc.json");
    let user = authorized_user::AuthorizedUser {
        client: sample().1,
        refresh_token: RefreshToken::new("1//adc-refresh".into()),
        quota_project_id: Some("my-project".into()),
    };
    std::fs::write(&path, authorized_user::write(&user)).unwrap();
    let seen = run_python(
        r"
import json, sys
from google.oauth2.credentials import Credentials
c = Credentials.from_authorized_user_file(sys.argv[1])
print(json.dumps([c.refresh_token, c.client_id, c.client_secret, c.quota_project_id]))
",
        &[path.to_str().unwrap()],
    );
    let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(seen, serde_json::json!(["1//adc-refresh", "123.apps.googleusercontent.com", "s3cr3t", "my-project"]));

    // oauth2client's GoogleCredentials writes the same format (its `serialization_data`).
    run_python(
        r#"
import json, sys
from oauth2client.client import GoogleCredentials
c = GoogleCredentials(None, "cid-2", "secret-2", "rt-2", None, "https://oauth2.googleapis.com/token", None)
json.dump(c.serialization_data, open(sys.argv[1], "w"))
"#,
        &[path.to_str().unwrap()],
    );
    let read = authorized_user::read(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(read.client.client_id, "cid-2");
    assert_eq!(read.refresh_token.secret(), "rt-2");
    assert!(!format!("{read:?}").contains("rt-2"), "Debug hides the refresh token");
}

#[test]
fn unknown_classes_and_bad_fields_are_refused() {
    let (credentials, client) = sample();
    let good: serde_json::Value = serde_json::from_str(&oauth2client::write(&credentials, &client)).unwrap();
    let with = |key: &str, value: serde_json::Value| {
        let mut v = good.clone();
        v[key] = value;
        v.to_string()
    };
    assert!(oauth2client::read(&with("_class", "ServiceAccountCredentials".into())).is_err());
    assert!(oauth2client::read(&with("token_expiry", "2030-01-02 03:04:05".into())).is_err());
    assert!(oauth2client::read(&with("invalid", "no".into())).is_err());
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("user_agent");
    let err = oauth2client::read(&missing.to_string()).unwrap_err();
    assert!(err.to_string().contains("`user_agent`"), "{err}");
    assert!(authorized_user::read(r#"{"type":"service_account"}"#).is_err());
}

fn utc(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    rfc3339.parse().expect("an RFC 3339 date")
}
