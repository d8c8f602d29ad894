//! `#[oauth_provider(spec = "specs/acme.yaml")] pub struct Acme;`
//!
//! Generates the provider type `Acme`, its scope enum `AcmeScope` and one capability impl per
//! grant the spec declares, exactly as the `oauthgen-providers` crate and `oauthgen generate`
//! do: all three call `oauthgen-codegen`. The path is relative to the crate's `Cargo.toml`.
//! A broken spec becomes a compile error that shows `spec-path:line:col` and the offending
//! line; editing the YAML triggers a rebuild.
//!
//! Use it through `oauthgen-runtime` (feature `macros`, on by default), which the generated
//! code needs anyway.

use proc_macro::TokenStream;

/// Generate a provider from a spec. See the crate documentation.
#[proc_macro_attribute]
pub fn oauth_provider(args: TokenStream, item: TokenStream) -> TokenStream {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from);
    oauthgen_codegen::attribute::expand(args.into(), item.into(), manifest_dir.as_deref()).into()
}
