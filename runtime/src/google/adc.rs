//! Google Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, then gcloud's
//! well-known file.

use std::path::{Path, PathBuf};

use crate::ServiceAccountKey;
use crate::google::interop::authorized_user::{self, AuthorizedUser};

/// What an Application Default Credentials file holds.
#[derive(Debug)]
pub enum GoogleCredentials {
    /// A service-account key (`"type": "service_account"`).
    ServiceAccount(ServiceAccountKey),
    /// A user's refresh token from `gcloud auth application-default login`
    /// (`"type": "authorized_user"`).
    AuthorizedUser(AuthorizedUser),
}

/// Why no Application Default Credentials could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdcError {
    /// Neither the variable nor the well-known file gives a file.
    #[error(
        "no Application Default Credentials: set GOOGLE_APPLICATION_CREDENTIALS to a key file, or run `gcloud auth application-default login`"
    )]
    NotFound,
    /// The file could not be read.
    #[error("{path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file's `type` is not one oauthgen handles.
    #[error("{path}: credential type `{kind}` is not supported (only `service_account` and `authorized_user`)")]
    Unsupported {
        /// The file.
        path: String,
        /// Its `type`.
        kind: String,
    },
}

/// gcloud's well-known file for an environment given as a lookup function.
fn well_known_file(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let config_dir = match env("CLOUDSDK_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None if cfg!(windows) => PathBuf::from(env("APPDATA")?).join("gcloud"),
        None => PathBuf::from(env("HOME")?).join(".config").join("gcloud"),
    };
    Some(config_dir.join("application_default_credentials.json"))
}

/// Read one credentials file.
pub fn read_credentials_file(path: &Path) -> Result<GoogleCredentials, AdcError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| AdcError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
    parse_credentials(shown, &text)
}

/// A credentials file's text; `shown` names it in errors.
pub(crate) fn parse_credentials(shown: String, text: &str) -> Result<GoogleCredentials, AdcError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| AdcError::Unreadable { path: shown.clone(), reason: format!("not JSON: {e}") })?;
    match value.get("type").and_then(serde_json::Value::as_str) {
        Some("service_account") => ServiceAccountKey::from_google_json(text)
            .map(GoogleCredentials::ServiceAccount)
            .map_err(|e| AdcError::Unreadable { path: shown, reason: e.to_string() }),
        Some("authorized_user") => authorized_user::read(text)
            .map(GoogleCredentials::AuthorizedUser)
            .map_err(|e| AdcError::Unreadable { path: shown, reason: e.to_string() }),
        Some(other) => Err(AdcError::Unsupported { path: shown, kind: other.to_owned() }),
        None => Err(AdcError::Unreadable { path: shown, reason: "no `type` field".into() }),
    }
}

/// Application Default Credentials for an environment given as a lookup function (the
/// testable core of [`application_default_credentials`]).
pub fn application_default_credentials_in(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(PathBuf, GoogleCredentials), AdcError> {
    if let Some(path) = env("GOOGLE_APPLICATION_CREDENTIALS").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        // An explicit setting that points nowhere is an error, not a reason to look elsewhere.
        return read_credentials_file(&path).map(|c| (path, c));
    }
    match well_known_file(env) {
        Some(path) if path.is_file() => read_credentials_file(&path).map(|c| (path, c)),
        _ => Err(AdcError::NotFound),
    }
}

/// Google Application Default Credentials: the file `GOOGLE_APPLICATION_CREDENTIALS` names,
/// else gcloud's `application_default_credentials.json`.
pub fn application_default_credentials() -> Result<(PathBuf, GoogleCredentials), AdcError> {
    application_default_credentials_in(&|name| std::env::var(name).ok())
}
