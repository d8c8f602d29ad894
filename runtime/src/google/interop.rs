//! Credential files of other libraries: oauth2client 4.1.3 (`file.Storage`, the classic
//! library this project succeeds) and Google's `authorized_user` JSON (gcloud's Application
//! Default Credentials file).
//!
//! Readers check every field they need and fail with a clear error: they never act on
//! `_module`/`_class` beyond recognising the two OAuth 2.0 credential classes. `token_uri`
//! and `revoke_uri` must be `https` unless their host is loopback.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use crate::{AccessToken, ClientSecret, Credentials, IdToken, RefreshToken};

/// Why a credential file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {format} credentials: {reason}")]
pub struct FormatError {
    /// Which format.
    pub format: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// The client a credential file names besides the tokens.
#[derive(Clone)]
pub struct ClientInfo {
    /// The client id.
    pub client_id: String,
    /// The client secret (`None` for public clients).
    pub client_secret: Option<ClientSecret>,
    /// The token endpoint.
    pub token_uri: Option<String>,
    /// The revocation endpoint.
    pub revoke_uri: Option<String>,
    /// oauth2client's `user_agent`.
    pub user_agent: Option<String>,
}

impl std::fmt::Debug for ClientInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInfo")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("token_uri", &self.token_uri)
            .field("revoke_uri", &self.revoke_uri)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// The oauth2client `token_expiry` format, in UTC.
const EXPIRY: &str = "%Y-%m-%dT%H:%M:%SZ";

fn err(format: &'static str, reason: impl Into<String>) -> FormatError {
    FormatError { format, reason: reason.into() }
}

fn object(format: &'static str, text: &str) -> Result<Map<String, Value>, FormatError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(err(format, "expected a JSON object")),
        Err(e) => Err(err(format, format!("not JSON: {e}"))),
    }
}

/// A URL read by [`string`] (`token_uri`, `revoke_uri`): `https` unless its host is loopback.
fn url(format: &'static str, key: &str, value: Option<String>) -> Result<Option<String>, FormatError> {
    if let Some(u) = &value {
        crate::wire::http::require_tls_str(&format!("`{key}`"), u).map_err(|reason| err(format, reason))?;
    }
    Ok(value)
}

fn string(
    format: &'static str,
    map: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<Option<String>, FormatError> {
    match map.get(key) {
        None if required => Err(err(format, format!("missing key `{key}`"))),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(format, format!("`{key}` is not a string"))),
    }
}

/// oauth2client 4.1.3 `OAuth2Credentials` JSON (the content of `oauth2client.file.Storage`).
pub mod oauth2client {
    use super::{
        AccessToken, ClientInfo, ClientSecret, Credentials, EXPIRY, FormatError, IdToken, Map, NaiveDateTime,
        RefreshToken, Value, err, object, string, url,
    };

    const FORMAT: &str = "oauth2client";
    /// Keys oauth2client's reader requires (it raises `KeyError` without them).
    const REQUIRED: &[&str] = &[
        "_module",
        "_class",
        "access_token",
        "client_id",
        "client_secret",
        "refresh_token",
        "token_expiry",
        "token_uri",
        "user_agent",
        "invalid",
    ];

    /// Read an `OAuth2Credentials` (or `GoogleCredentials`) JSON object.
    ///
    /// `token_expiry` must be `%Y-%m-%dT%H:%M:%SZ` or null; oauth2client silently reads any
    /// other string as "never expires", which this reader refuses instead.
    pub fn read(text: &str) -> Result<(Credentials, ClientInfo), FormatError> {
        let map = object(FORMAT, text)?;
        for key in REQUIRED {
            if !map.contains_key(*key) {
                return Err(err(FORMAT, format!("missing key `{key}`")));
            }
        }
        let class = string(FORMAT, &map, "_class", true)?.unwrap_or_default();
        if !matches!(class.as_str(), "OAuth2Credentials" | "GoogleCredentials") {
            return Err(err(
                FORMAT,
                format!("`_class` is `{class}`, expected `OAuth2Credentials` or `GoogleCredentials`"),
            ));
        }
        let access_token =
            string(FORMAT, &map, "access_token", true)?.ok_or_else(|| err(FORMAT, "`access_token` is null"))?;
        let expires_at = match string(FORMAT, &map, "token_expiry", true)? {
            None => None,
            Some(s) => Some(
                NaiveDateTime::parse_from_str(&s, EXPIRY)
                    .map_err(|_| err(FORMAT, format!("`token_expiry` {s:?} is not {EXPIRY}")))?
                    .and_utc(),
            ),
        };
        let scopes = match map.get("scopes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| err(FORMAT, "`scopes` holds a non-string")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(err(FORMAT, "`scopes` is neither a list nor a string")),
        };
        let invalid = match map.get("invalid") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Null) => false,
            _ => return Err(err(FORMAT, "`invalid` is not a boolean")),
        };
        let mut extra = Map::new();
        if let Some(Value::Object(response)) = map.get("token_response") {
            extra.insert("token_response".into(), Value::Object(response.clone()));
        }
        let token_type = match map.get("token_response").and_then(|r| r.get("token_type")) {
            Some(Value::String(t)) => t.clone(),
            _ => "Bearer".into(),
        };
        let credentials = Credentials {
            access_token: AccessToken::new(access_token),
            token_type,
            refresh_token: string(FORMAT, &map, "refresh_token", true)?.map(RefreshToken::new),
            expires_at,
            issued_at: None,
            scopes,
            id_token: string(FORMAT, &map, "id_token_jwt", false)?.map(IdToken::new),
            extra: extra.into_iter().collect(),
            invalid,
            dpop_key: None,
        };
        let client = ClientInfo {
            client_id: string(FORMAT, &map, "client_id", true)?.unwrap_or_default(),
            client_secret: string(FORMAT, &map, "client_secret", true)?.map(ClientSecret::new),
            token_uri: url(FORMAT, "token_uri", string(FORMAT, &map, "token_uri", true)?)?,
            revoke_uri: url(FORMAT, "revoke_uri", string(FORMAT, &map, "revoke_uri", false)?)?,
            user_agent: string(FORMAT, &map, "user_agent", true)?,
        };
        Ok((credentials, client))
    }

    /// Write an `OAuth2Credentials` JSON object that oauth2client 4.1.3 reads back.
    pub fn write(credentials: &Credentials, client: &ClientInfo) -> String {
        let expiry = credentials.expires_at.map(|t| t.format(EXPIRY).to_string());
        let mut map = Map::new();
        let s = |v: Option<&str>| v.map_or(Value::Null, |s| Value::String(s.to_owned()));
        map.insert("access_token".into(), Value::String(credentials.access_token.secret().clone()));
        map.insert("client_id".into(), Value::String(client.client_id.clone()));
        map.insert("client_secret".into(), s(client.client_secret.as_ref().map(|c| c.secret().as_str())));
        map.insert("refresh_token".into(), s(credentials.refresh_token.as_ref().map(|r| r.secret().as_str())));
        map.insert("token_expiry".into(), s(expiry.as_deref()));
        map.insert("token_uri".into(), s(client.token_uri.as_deref()));
        map.insert("user_agent".into(), s(client.user_agent.as_deref()));
        map.insert("revoke_uri".into(), s(client.revoke_uri.as_deref()));
        map.insert("id_token".into(), Value::Null);
        map.insert("id_token_jwt".into(), s(credentials.id_token.as_ref().map(IdToken::secret)));
        map.insert("token_response".into(), credentials.extra.get("token_response").cloned().unwrap_or(Value::Null));
        map.insert("scopes".into(), Value::Array(credentials.scopes.iter().cloned().map(Value::String).collect()));
        map.insert("token_info_uri".into(), Value::Null);
        map.insert("invalid".into(), Value::Bool(credentials.invalid));
        map.insert("_class".into(), Value::String("OAuth2Credentials".into()));
        map.insert("_module".into(), Value::String("oauth2client.client".into()));
        serde_json::to_string(&Value::Object(map)).unwrap_or_default()
    }
}

/// Google `authorized_user` JSON: gcloud's Application Default Credentials file.
pub mod authorized_user {
    use super::{ClientInfo, ClientSecret, FormatError, Map, Value, err, object, string, url};
    use crate::RefreshToken;

    const FORMAT: &str = "authorized_user";

    /// An `authorized_user` file: a client and a refresh token.
    #[derive(Clone)]
    pub struct AuthorizedUser {
        /// The OAuth client.
        pub client: ClientInfo,
        /// The user's refresh token.
        pub refresh_token: RefreshToken,
        /// The project billed for quota, when set.
        pub quota_project_id: Option<String>,
    }

    impl std::fmt::Debug for AuthorizedUser {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("AuthorizedUser")
                .field("client", &self.client)
                .field("refresh_token", &"[redacted]")
                .field("quota_project_id", &self.quota_project_id)
                .finish()
        }
    }

    /// Read an `authorized_user` file; `type` must be `authorized_user`.
    pub fn read(text: &str) -> Result<AuthorizedUser, FormatError> {
        let map = object(FORMAT, text)?;
        match string(FORMAT, &map, "type", true)?.as_deref() {
            Some("authorized_user") => {}
            other => return Err(err(FORMAT, format!("`type` is {other:?}, expected \"authorized_user\""))),
        }
        let need = |key: &str| string(FORMAT, &map, key, true)?.ok_or_else(|| err(FORMAT, format!("`{key}` is null")));
        Ok(AuthorizedUser {
            client: ClientInfo {
                client_id: need("client_id")?,
                client_secret: Some(ClientSecret::new(need("client_secret")?)),
                token_uri: url(FORMAT, "token_uri", string(FORMAT, &map, "token_uri", false)?)?,
                revoke_uri: None,
                user_agent: None,
            },
            refresh_token: RefreshToken::new(need("refresh_token")?),
            quota_project_id: string(FORMAT, &map, "quota_project_id", false)?,
        })
    }

    /// Write an `authorized_user` file, as gcloud does.
    pub fn write(user: &AuthorizedUser) -> String {
        let mut map = Map::new();
        map.insert("type".into(), Value::String("authorized_user".into()));
        map.insert("client_id".into(), Value::String(user.client.client_id.clone()));
        map.insert(
            "client_secret".into(),
            Value::String(user.client.client_secret.as_ref().map(|s| s.secret().clone()).unwrap_or_default()),
        );
        map.insert("refresh_token".into(), Value::String(user.refresh_token.secret().clone()));
        if let Some(q) = &user.quota_project_id {
            map.insert("quota_project_id".into(), Value::String(q.clone()));
        }
        serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// Arbitrary text is an error or credentials, never a panic.
        #[test]
        fn readers_never_panic(text in ".{0,300}") {
            let _ = super::oauth2client::read(&text);
            let _ = super::authorized_user::read(&text);
        }

        /// JSON objects with the right keys but values of any type: never a panic.
        #[test]
        fn typed_fields_never_panic(values in proptest::collection::vec(proptest::prelude::any::<Option<u8>>(), 10)) {
            let keys = ["_module", "_class", "access_token", "client_id", "client_secret", "refresh_token",
                        "token_expiry", "token_uri", "user_agent", "invalid"];
            let mut map = serde_json::Map::new();
            for (k, v) in keys.iter().zip(values) {
                let value = match v {
                    None => serde_json::Value::Null,
                    Some(n) if n % 3 == 0 => serde_json::Value::from(n),
                    Some(n) if n % 3 == 1 => serde_json::Value::Bool(n % 2 == 0),
                    Some(n) => serde_json::Value::String(format!("v{n}")),
                };
                map.insert((*k).to_owned(), value);
            }
            map.insert("_class".into(), "OAuth2Credentials".into());
            let _ = super::oauth2client::read(&serde_json::Value::Object(map).to_string());
        }
    }
}
