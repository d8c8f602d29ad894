//! Typed OAuth 2.0 clients for every provider spec bundled with oauthgen.
//!
//! Each provider is a module and a cargo feature (`google`, `github`, `microsoft` ...; `all`
//! is on by default). The code is generated at build time from `specs/*.yaml` by the same
//! generator behind `#[oauth_provider]` and `oauthgen generate`.
//!
//! ```
//! use oauthgen_providers::google::{Google, GoogleScope};
//! use oauthgen_runtime::authorize_url;
//!
//! let google = Google::new("client-id", "client-secret");
//! let auth = authorize_url(&google, "http://127.0.0.1:8080/callback", &[GoogleScope::Email]).unwrap();
//! assert!(auth.url.as_str().starts_with("https://accounts.google.com/o/oauth2/v2/auth?"));
//! ```
//!
//! Providers with templated endpoints take their variables first:
//!
//! ```
//! use oauthgen_providers::okta::Okta;
//! let okta = Okta::new("dev-123456.okta.com", "client-id", "client-secret");
//! # let _ = okta;
//! ```

include!(concat!(env!("OUT_DIR"), "/providers.rs"));
