//! Grants and flows: authorization code (with PKCE, `state` and OpenID Connect's `nonce`),
//! refresh, client credentials, revocation and introspection ([`flow`]); the device flow
//! ([`device`]); token exchange ([`exchange`]); the installed-app loopback flow ([`installed`]); JWT bearer assertions for
//! service accounts ([`service_account`]).

pub(crate) mod device;
pub(crate) mod exchange;
pub(crate) mod flow;
pub mod installed;
pub mod service_account;
