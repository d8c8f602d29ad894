//! A provider spec as data: what generated code hands the runtime.
//!
//! The model is defined once, in the `oauthgen-spec` crate, and re-exported here: the
//! generator lowers a checked YAML spec into a [`ProviderSpec`] (every default applied), so
//! the runtime never re-validates a spec. Generated code holds it as `'static` data; a spec
//! loaded at run time is the same type, owned ([`ProviderSpec::leak`] gives it the `'static`
//! lifetime a [`crate::ProviderConfig`] needs).

pub use oauthgen_spec::*;
