//! What goes over the wire: every request to a provider ([`http`]: timeouts, size limits,
//! TLS rules, the caller's client), DPoP keys and proofs ([`dpop`]), the clean-up of non-standard token responses
//! ([`normalize`]) and the one parser of OAuth error bodies ([`oauth_error`]).

pub(crate) mod assertion;
pub(crate) mod dpop;
pub(crate) mod http;
pub mod normalize;
pub(crate) mod oauth_error;
