//! Credentials: what a completed grant leaves behind.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use oauth2::{AccessToken, RefreshToken};
use serde::{Deserialize, Serialize};

/// An OpenID Connect ID token (a JWT). Its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdToken(String);

impl IdToken {
    /// Wrap a raw ID token.
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The raw JWT. Handle with care: it identifies the user.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdToken([redacted])")
    }
}

/// The result of a grant: tokens, expiry, granted scopes and whatever else the provider
/// returned. Serialisable with serde; `Debug` shows no token and no extra field's value.
///
/// `invalid` is the classic library's flag: set when the provider has revoked the grant
/// (`invalid_grant`), after which only a new authorization helps.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// The access token.
    pub access_token: AccessToken,
    /// The token type (`Bearer`).
    pub token_type: String,
    /// The refresh token, when one was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires; `None` when the provider stated no lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the access token was received; with `expires_at` it gives the token's lifetime,
    /// which bounds how early a refresh may start. `None` for credentials from elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<DateTime<Utc>>,
    /// The scopes granted (the response's `scope`, or those requested when it has none).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The OpenID Connect ID token, when one was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<IdToken>,
    /// Every other field of the token response, and the callback parameters the spec keeps.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
    /// The grant was revoked: refreshing cannot succeed.
    #[serde(default)]
    pub invalid: bool,
    /// The DPoP key the tokens are bound to (RFC 9449), when the provider bound them
    /// (`token_type: DPoP`): refreshes and resource requests prove possession of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_key: Option<crate::DpopKey>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .field("scopes", &self.scopes)
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .field("invalid", &self.invalid)
            .field("dpop_key", &self.dpop_key)
            .finish()
    }
}

impl Credentials {
    /// Whether the access token has expired or will within `margin`.
    pub fn expires_within(&self, margin: std::time::Duration) -> bool {
        let margin = chrono::TimeDelta::from_std(margin).unwrap_or(chrono::TimeDelta::MAX);
        self.expires_at.is_some_and(|at| at.checked_sub_signed(margin).is_none_or(|at| at <= Utc::now()))
    }

    /// The claims of the ID token, decoded without checking its signature again: the flows
    /// validated it when it was received ([`crate::exchange`], [`crate::refresh`] for
    /// providers whose spec declares `oidc`). `None` without an ID token or when it cannot
    /// be decoded. Do not use on credentials from an untrusted source.
    pub fn id_token_claims(&self) -> Option<crate::oidc::IdTokenClaims> {
        crate::oidc::decode_unverified(self.id_token.as_ref()?.secret()).ok()
    }

    /// The string field `name` of the token response ([`Credentials::extra`]): the spec's
    /// typed `token_response.fields` are read through these, and generated accessors call
    /// them.
    pub fn field_str(&self, name: &str) -> Option<&str> {
        self.extra.get(name)?.as_str()
    }

    /// The URL field `name`; `None` also when it is not an absolute URL that is `https`
    /// (or plain `http` to a loopback host).
    pub fn field_url(&self, name: &str) -> Option<url::Url> {
        let url = url::Url::parse(self.field_str(name)?).ok()?;
        crate::wire::http::require_tls(name, &url).is_ok().then_some(url)
    }

    /// The integer field `name` (a JSON number, or a string of digits).
    pub fn field_i64(&self, name: &str) -> Option<i64> {
        match self.extra.get(name)? {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The boolean field `name` (`true`, `false`, or those as strings).
    pub fn field_bool(&self, name: &str) -> Option<bool> {
        match self.extra.get(name)? {
            serde_json::Value::Bool(b) => Some(*b),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// The type of the token a token exchange issued (`issued_token_type`, RFC 8693: one of
    /// [`crate::token_type`]); `None` for other grants' credentials.
    pub fn issued_token_type(&self) -> Option<&str> {
        self.field_str("issued_token_type")
    }

    /// Whether the access token is DPoP-bound (`token_type: DPoP`, RFC 9449): it is sent as
    /// `Authorization: DPoP`, with a proof signed by [`Credentials::dpop_key`].
    pub fn is_dpop(&self) -> bool {
        self.token_type.eq_ignore_ascii_case("dpop")
    }

    /// Keep `key` when the provider may have bound the tokens to it: a DPoP access token, or
    /// a refresh token (RFC 9449 section 5 lets a provider bind a public client's refresh
    /// token and still issue a bearer access token). Forget it otherwise (a provider that
    /// ignored the proof). Resource requests use it only for a DPoP access token.
    pub(crate) fn bind_dpop(&mut self, key: Option<crate::DpopKey>) {
        self.dpop_key = if self.is_dpop() || self.refresh_token.is_some() { key } else { None };
    }

    /// Whether the access token can still be used: not invalid and not expired.
    pub fn is_usable(&self) -> bool {
        !self.invalid && !self.expires_within(std::time::Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stores written before the runtime moved from `time` to `chrono` (RFC 3339 with
    /// nanoseconds) read back to the same instants, and what is written now reads back too.
    #[test]
    fn stored_dates_read_back_across_versions() {
        let stored = r#"{"access_token":"at","token_type":"Bearer","expires_at":"2026-11-30T04:44:41.123456789Z",
            "issued_at":"2026-11-30T03:44:41Z","scopes":[]}"#;
        let credentials: Credentials = serde_json::from_str(stored).unwrap();
        let expires_at = credentials.expires_at.unwrap();
        assert_eq!(expires_at.timestamp(), 1_796_013_881);
        assert_eq!(expires_at.timestamp_subsec_nanos(), 123_456_789);
        assert_eq!((expires_at - credentials.issued_at.unwrap()).num_seconds(), 3600);
        let written = serde_json::to_string(&credentials).unwrap();
        assert!(written.contains(r#""expires_at":"2026-11-30T04:44:41.123456789Z""#), "{written}");
        let again: Credentials = serde_json::from_str(&written).unwrap();
        assert_eq!(again.expires_at, credentials.expires_at);
    }

    #[test]
    fn expires_within_saturates_on_huge_margins_and_far_dates() {
        let mut credentials: Credentials = serde_json::from_str(
            r#"{"access_token":"at","token_type":"Bearer","expires_at":"9999-12-31T23:59:59Z","scopes":[]}"#,
        )
        .unwrap();
        assert!(!credentials.expires_within(std::time::Duration::from_secs(3600)));
        assert!(credentials.expires_within(std::time::Duration::MAX));
        credentials.expires_at = Some(Utc::now() + chrono::TimeDelta::seconds(30));
        assert!(credentials.expires_within(std::time::Duration::from_secs(60)));
        assert!(!credentials.expires_within(std::time::Duration::from_secs(10)));
        assert!(credentials.is_usable());
    }
}
