//! Credentials: what a completed grant leaves behind.

use std::collections::BTreeMap;
use std::fmt;

use oauth2::{AccessToken, RefreshToken};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the access token was received; with `expires_at` it gives the token's lifetime,
    /// which bounds how early a refresh may start. `None` for credentials from elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub issued_at: Option<OffsetDateTime>,
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
            .finish()
    }
}

impl Credentials {
    /// Whether the access token has expired or will within `margin`.
    pub fn expires_within(&self, margin: time::Duration) -> bool {
        self.expires_at.is_some_and(|at| at - margin <= OffsetDateTime::now_utc())
    }

    /// The claims of the ID token, decoded without checking its signature again: the flows
    /// validated it when it was received ([`crate::exchange`], [`crate::refresh`] for
    /// providers whose spec declares `oidc`). `None` without an ID token or when it cannot
    /// be decoded. Do not use on credentials from an untrusted source.
    pub fn id_token_claims(&self) -> Option<crate::oidc::IdTokenClaims> {
        crate::oidc::decode_unverified(self.id_token.as_ref()?.secret()).ok()
    }

    /// Whether the access token can still be used: not invalid and not expired.
    pub fn is_usable(&self) -> bool {
        !self.invalid && !self.expires_within(time::Duration::ZERO)
    }
}
