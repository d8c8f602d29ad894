//! The `#[oauth_provider(spec = "...")]` attribute, expanded without `proc_macro` so that it
//! can be tested; the `oauthgen-macros` crate only forwards to [`expand`].

use std::path::{Path, PathBuf};

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::Parser;

/// Expand the attribute. `manifest_dir` is the invoking crate's `CARGO_MANIFEST_DIR`; spec
/// paths are relative to it. Never panics: every failure becomes `compile_error!` next to the
/// re-emitted item, so one mistake does not cascade.
pub fn expand(args: TokenStream, item: TokenStream, manifest_dir: Option<&Path>) -> TokenStream {
    let item_struct: syn::ItemStruct = match syn::parse2(item.clone()) {
        Ok(s) => s,
        Err(e) => {
            let mut out = item;
            out.extend(
                syn::Error::new(e.span(), "`#[oauth_provider]` goes on a struct: `pub struct Acme;`")
                    .to_compile_error(),
            );
            return out;
        }
    };
    match expand_struct(args, &item_struct, manifest_dir) {
        Ok(tokens) => tokens,
        Err(e) => {
            let mut out = item_struct.to_token_stream();
            out.extend(e.to_compile_error());
            out
        }
    }
}

/// The macro's arguments: `spec = "specs/acme.yaml"` and, optionally, `crate = "::path"` (the
/// runtime crate's path when it is renamed or re-exported, as `#[serde(crate = "...")]`).
fn parse_args(args: TokenStream) -> syn::Result<(syn::LitStr, TokenStream)> {
    let mut spec = None;
    let mut runtime = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("spec") {
            if spec.is_some() {
                return Err(meta.error("`spec` given twice"));
            }
            spec = Some(meta.value()?.parse::<syn::LitStr>()?);
            Ok(())
        } else if meta.path.is_ident("crate") {
            if runtime.is_some() {
                return Err(meta.error("`crate` given twice"));
            }
            let lit = meta.value()?.parse::<syn::LitStr>()?;
            let path: syn::Path = lit
                .parse()
                .map_err(|_| syn::Error::new(lit.span(), "`crate` must be a path, e.g. `crate = \"::oauth\"`"))?;
            runtime = Some(path.to_token_stream());
            Ok(())
        } else {
            Err(meta.error("unknown argument, expected `spec = \"specs/name.yaml\"` or `crate = \"::path\"`"))
        }
    });
    parser.parse2(args)?;
    let spec = spec.ok_or_else(|| syn::Error::new(Span::call_site(), "missing `spec = \"specs/name.yaml\"`"))?;
    Ok((spec, runtime.unwrap_or_else(crate::emit::default_runtime)))
}

fn expand_struct(args: TokenStream, item: &syn::ItemStruct, manifest_dir: Option<&Path>) -> syn::Result<TokenStream> {
    let (lit, runtime) = parse_args(args)?;
    let rel = PathBuf::from(lit.value());
    if rel.is_absolute() {
        return Err(syn::Error::new(lit.span(), "the spec path must be relative to the crate's Cargo.toml"));
    }
    let Some(dir) = manifest_dir else {
        return Err(syn::Error::new(lit.span(), "CARGO_MANIFEST_DIR is not set; build with cargo"));
    };
    let path = dir.join(&rel);
    if !matches!(item.fields, syn::Fields::Unit) || !item.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(&item.ident, "write a unit struct: `pub struct Acme;`"));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| syn::Error::new(lit.span(), format!("cannot read spec `{}`: {e}", path.display())))?;
    // Every file read is tracked (the spec and, for a variant, its bases), so that editing
    // any of them rebuilds.
    let mut files = vec![path.to_string_lossy().into_owned()];
    files.extend(crate::bases(&path).iter().map(|p| p.to_string_lossy().into_owned()));
    let track = quote!(
        #(const _: &[u8] = ::core::include_bytes!(#files);)*
    );
    let dir_of_spec = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let spec = match crate::parse_with(&rel, &text, &crate::variant::beside(&dir_of_spec)) {
        Ok(spec) => spec,
        Err(diags) => {
            // The item is re-emitted and the file still tracked, so fixing the YAML rebuilds.
            let mut out = item.to_token_stream();
            out.extend(syn::Error::new(lit.span(), format!("invalid provider spec\n{diags}")).to_compile_error());
            out.extend(track);
            return Ok(out);
        }
    };
    let provider = crate::ir::lower(&spec, &rel.to_string_lossy(), Some(&item.ident));
    let vis = item.vis.to_token_stream();
    let mut out = crate::emit::provider(&provider, &item.attrs, &vis, &runtime);
    out.extend(track);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_absolute_paths_and_non_structs() {
        let out = expand(
            quote!(spec = "/etc/passwd"),
            quote!(
                pub struct A;
            ),
            Some(Path::new("/tmp")),
        )
        .to_string();
        assert!(out.contains("relative"), "{out}");
        assert!(out.contains("struct A"), "the item is re-emitted: {out}");
        let out = expand(
            quote!(spec = "x.yaml"),
            quote!(
                fn f() {}
            ),
            Some(Path::new("/tmp")),
        )
        .to_string();
        assert!(out.contains("goes on a struct"), "{out}");
        let out = expand(
            quote!(spec = "x.yaml", spec = "y.yaml"),
            quote!(
                struct A;
            ),
            Some(Path::new("/tmp")),
        )
        .to_string();
        assert!(out.contains("given twice"), "{out}");
    }
}
