//! The oauthgen generator: provider specs (YAML) in, Rust out.
//!
//! One library behind four front ends - the `#[oauth_provider]` macro, [`Builder`] in a
//! user's `build.rs`, the `oauthgen` CLI and the providers crate's sources
//! ([`providers_crate`]) - so that all four accept and reject exactly the same specs and emit
//! exactly the same code. It never depends on `proc_macro`.
//!
//! The pipeline has one module per stage:
//!
//! | stage | module | what it does |
//! |---|---|---|
//! | parse | [`yaml`] | YAML to a JSON value plus a pointer -> `line:col` index |
//! | validate | [`schema`] | structure against `specs/schema.json`: unknown keys, types, enums; each problem with a repair |
//! | model | [`spec`] | the spec as written (serde, one to one with the YAML) |
//! | check | [`check`] | cross-field rules: templates, URLs, scopes, grants |
//! | lower | [`ir`] | the one model, `oauthgen_spec::ProviderSpec`, every default applied; identifiers |
//! | emit | [`emit`] | the model as Rust literals, tokens with `quote`, files with `prettyplease` |
//!
//! Every stage collects all its diagnostics ([`Diagnostics`]) instead of stopping at the
//! first: structural problems are repaired (a misspelled required key is checked as the key
//! it was meant to be, missing values get placeholders) so the semantic checks always run.
//! Nothing panics on bad input.
//!
//! ```
//! let text = "id: acme\nname: Acme\nprovenance: [{ source: test, checked: 2026-11-24 }]\n\
//!             endpoints: { token: 'https://acme.test/token' }\npkce: unsupported\n\
//!             grants: { client_credentials: {} }\n";
//! let spec = oauthgen_codegen::parse_str("specs/acme.yaml", text).unwrap();
//! assert_eq!(spec.id, "acme");
//! let code = oauthgen_codegen::generate_file(&[("specs/acme.yaml", &spec)]).unwrap();
//! assert!(code.contains("pub struct Acme"));
//! ```

pub mod attribute;
pub mod builder;
pub mod catalog;
pub mod check;
pub mod diag;
pub mod emit;
pub mod ident;
pub mod ir;
pub mod provenance;
pub mod schema;
pub mod spec;
pub mod variant;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;

pub use builder::Builder;
pub use diag::{Diagnostic, Diagnostics, Location, Severity};
pub use spec::Spec;

/// Parse and check one spec. `path` names the file in diagnostics, and its stem must equal
/// the spec's `id`.
///
/// A variant (`extends: <id>`) reads its base from `<id>.yaml` in the same directory as
/// `path`; use [`parse_with`] to find bases elsewhere.
pub fn parse_str(path: impl AsRef<Path>, text: &str) -> Result<Spec, Diagnostics> {
    let path = path.as_ref();
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse_with(path, text, &variant::beside(&dir))
}

/// [`parse_str`] with the base specs of variants found by `resolve`.
pub fn parse_with(path: impl AsRef<Path>, text: &str, resolve: &variant::Resolver<'_>) -> Result<Spec, Diagnostics> {
    let path = path.as_ref();
    let mut diags = Diagnostics::new(path, text);
    let stem = path.file_stem().and_then(|s| s.to_str());
    let spec = parse_into(text, stem, resolve, &mut diags);
    diags.finish();
    match spec {
        Some(spec) if !diags.has_errors() => Ok(spec),
        _ => Err(diags),
    }
}

fn parse_into(
    text: &str,
    stem: Option<&str>,
    resolve: &variant::Resolver<'_>,
    diags: &mut Diagnostics,
) -> Option<Spec> {
    let (mut value, mut index) = match yaml::load(text) {
        Ok(v) => v,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    // A variant is checked as its base with its own keys written over it; what it inherits
    // is located at the nearest key it writes.
    if value.get("extends").is_some() {
        match variant::resolve(&value, resolve) {
            Ok((merged, _)) => value = merged,
            Err(why) => {
                diags.error(index.value("/extends"), why);
                return None;
            }
        }
    }
    let structural = schema::validate(&value, &index);
    let broken = !structural.is_empty();
    // Every structural problem is repaired (removed, replaced, a placeholder inserted, a
    // misspelled key moved to the key it was meant to be) so that the semantic checks still
    // run on the rest of the spec and one run reports every mistake; a spec that needed a
    // repair is never returned.
    let mut placeholders = Vec::new();
    for p in structural {
        match p.repair {
            schema::Repair::Keep => {}
            schema::Repair::Remove => remove(&mut value, &p.pointer),
            schema::Repair::Replace(v) => {
                if let Some(slot) = value.pointer_mut(&p.pointer) {
                    *slot = v;
                }
            }
            schema::Repair::Insert(v) => {
                insert(&mut value, &p.pointer, v);
                placeholders.push(p.diagnostic.location);
            }
            schema::Repair::Rename { from } => {
                if let Some(moved) = take(&mut value, &from) {
                    insert(&mut value, &p.pointer, moved);
                    index.alias(&p.pointer, &from);
                }
            }
        }
        diags.push(p.diagnostic);
    }
    if broken && let (Some(stem), Some(serde_json::Value::Object(root))) = (stem, Some(&mut value)) {
        // A placeholder id would be reported as not matching the file name.
        if root.get("id").and_then(serde_json::Value::as_str) == Some(schema::PLACEHOLDER_URL) {
            root.insert("id".into(), serde_json::Value::String(stem.to_owned()));
        }
    }
    let spec: Spec = match serde_json::from_value(value) {
        Ok(s) => s,
        Err(e) => {
            if !broken {
                diags.error(Location { line: 1, col: 1, len: 1 }, format!("invalid spec: {e}"));
            }
            return None;
        }
    };
    for d in check::check(&spec, &index, stem) {
        // What the checks say about a placeholder repeats the missing-key error.
        if !placeholders.contains(&d.location) {
            diags.push(d);
        }
    }
    (!broken).then_some(spec)
}

/// Insert `value` at a JSON pointer whose parent is an object.
fn insert(value: &mut serde_json::Value, pointer: &str, new: serde_json::Value) {
    let Some((parent, last)) = pointer.rsplit_once('/') else { return };
    let last = last.replace("~1", "/").replace("~0", "~");
    if let Some(serde_json::Value::Object(map)) = value.pointer_mut(parent) {
        map.insert(last, new);
    }
}

/// Take the object member at a JSON pointer out of its parent.
fn take(value: &mut serde_json::Value, pointer: &str) -> Option<serde_json::Value> {
    let (parent, last) = pointer.rsplit_once('/')?;
    let last = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(serde_json::Value::Object(map)) => map.remove(&last),
        _ => None,
    }
}

/// Remove the node at a JSON pointer: an object member, or an array item (set to null so
/// that the indices of later removals stay valid).
fn remove(value: &mut serde_json::Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else { return };
    let last = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(serde_json::Value::Object(map)) => {
            map.remove(&last);
        }
        Some(serde_json::Value::Array(items)) => {
            if let Some(item) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *item = serde_json::Value::Null;
            }
        }
        _ => {}
    }
}

/// Read, parse and check the spec at `path`.
pub fn load(path: &Path) -> Result<Spec, Diagnostics> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(path, &text),
        Err(e) => {
            let mut d = Diagnostics::new(path, "");
            d.error(Location { line: 1, col: 1, len: 1 }, format!("cannot read spec: {e}"));
            Err(d)
        }
    }
}

/// The catalog's provenance rules ([`provenance::strict`]) for a spec that [`load`] accepted
/// from `path`: `None` when it follows them, else the diagnostics.
pub fn check_strict(path: &Path, spec: &Spec) -> Option<Diagnostics> {
    let text = std::fs::read_to_string(path).ok()?;
    let (_, index) = yaml::load(&text).ok()?;
    let found = provenance::strict(spec, &index, &text, &provenance::today());
    if found.is_empty() {
        return None;
    }
    let mut d = Diagnostics::new(path, text);
    for item in found {
        d.push(item);
    }
    d.finish();
    Some(d)
}

/// The base specs a spec file extends, nearest first (empty when it is no variant): what a
/// `build.rs` must watch besides the file itself.
pub fn bases(path: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok((value, _)) = yaml::load(&text) else { return Vec::new() };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    variant::resolve(&value, &variant::beside(&dir)).map(|(_, files)| files).unwrap_or_default()
}

/// `f` over `items` on the machine's cores (each file is parsed and checked on its own), in
/// order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> =
            items.chunks(chunk).map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// The `*.yaml` and `*.yml` files directly in `dir`, sorted.
pub fn spec_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    Ok(files)
}

/// Load many specs: every valid spec, and the diagnostics of every invalid one. Two files
/// declaring the same `id` are an error on the second.
pub fn load_all(paths: &[PathBuf]) -> (Vec<(PathBuf, Spec)>, Vec<Diagnostics>) {
    let mut ok: Vec<(PathBuf, Spec)> = Vec::new();
    let mut bad = Vec::new();
    let mut ids: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (path, loaded) in paths.iter().zip(par_map(paths, |p| load(p))) {
        match loaded {
            Ok(spec) => {
                if let Some(first) = ids.get(&spec.id) {
                    let text = std::fs::read_to_string(path).unwrap_or_default();
                    let at = yaml::load(&text).map(|(_, i)| i.value("/id")).unwrap_or_default();
                    let mut d = Diagnostics::new(path, text);
                    d.error(
                        at,
                        format!("duplicate provider id `{}`, first declared in `{}`", spec.id, first.display()),
                    );
                    bad.push(d);
                } else {
                    ids.insert(spec.id.clone(), path.clone());
                    ok.push((path.clone(), spec));
                }
            }
            Err(d) => bad.push(d),
        }
    }
    (ok, bad)
}

/// The items for one spec: provider type, scope enum, capability impls.
pub fn generate_items(source: &str, spec: &Spec) -> TokenStream {
    generate_items_with(source, spec, &emit::default_runtime())
}

/// [`generate_items`], with generated code reaching the runtime crate at `runtime`
/// (`::my_runtime`, `crate::oauth`) instead of `::oauthgen_runtime`.
pub fn generate_items_with(source: &str, spec: &Spec, runtime: &TokenStream) -> TokenStream {
    emit::provider(&ir::lower(spec, source, None), &[], &quote::quote!(pub), runtime)
}

/// A formatted Rust file with the items of every given spec, `(display path, spec)`.
pub fn generate_file(specs: &[(&str, &Spec)]) -> Result<String, syn::Error> {
    let mut tokens = TokenStream::new();
    for (source, spec) in specs {
        tokens.extend(generate_items(source, spec));
    }
    let sources: Vec<&str> = specs.iter().map(|(s, _)| *s).collect();
    emit::format_file(&tokens, &sources)
}

/// `lib.rs` of a standalone crate: one module per spec (`github-enterprise` becomes
/// `github_enterprise`), each holding that spec's items.
pub fn generate_crate(specs: &[(&str, &Spec)]) -> Result<String, syn::Error> {
    let mut tokens = TokenStream::new();
    for (source, spec) in specs {
        let module = ident::ident(&ident::snake(&spec.id));
        let items = generate_items(source, spec);
        let doc = format!(" {} (`{}`), generated from `{source}`.", spec.name, spec.id);
        tokens.extend(quote::quote! {
            #[doc = #doc]
            pub mod #module {
                #items
            }
        });
    }
    let sources: Vec<&str> = specs.iter().map(|(s, _)| *s).collect();
    let body = emit::format_file(&tokens, &sources)?;
    let (header, rest) = body.split_once("\n\n").unwrap_or(("", &body));
    Ok(format!("{header}\n\n//! OAuth 2.0 clients generated by oauthgen.\n\n{rest}"))
}

/// The source files of the `oauthgen-providers` crate, generated from the specs in `dir`:
/// `(path under the crate's `src/`, contents)`. `lib.rs` declares one module per spec behind
/// the feature of its id, and `SPEC_SOURCES` (the YAML of every spec, from the crate's `specs`
/// directory); each module's file is what [`generate_file`] produces for its spec. The crate
/// ships these files, so applications build it without running the generator; a test in
/// `oauthgen-tests` fails when they are stale.
pub fn providers_crate(dir: &Path) -> Result<Vec<(String, String)>, String> {
    use std::fmt::Write as _;
    let files = spec_files(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let (ok, bad) = load_all(&files);
    if !bad.is_empty() {
        return Err(bad.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
    }
    let mut out = Vec::new();
    let mut lib = String::from(
        "// @generated by oauthgen (`oauthgen_codegen::providers_crate`) from specs/*.yaml.\n\
         // Do not edit: change a spec and run `OAUTHGEN_BLESS=1 cargo test -p oauthgen-codegen --test bundled`.\n\n\
         #![doc = include_str!(\"../README.md\")]\n\n",
    );
    let mut sources = String::from(
        "/// Every bundled spec: `(id, YAML text)`, in id order.\npub const SPEC_SOURCES: &[(&str, &str)] = &[\n",
    );
    for (path, spec) in &ok {
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let display = format!("specs/{file_name}");
        let code = generate_file(&[(&display, spec)]).map_err(|e| format!("{display}: {e}"))?;
        let module = ident::snake(&spec.id);
        out.push((format!("{module}.rs"), code));
        let name = spec.name.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            lib,
            "#[cfg(feature = \"{id}\")]\n#[doc = \"{name} (`{id}`): generated from `{display}`.\"]\n#[rustfmt::skip]\n#[allow(clippy::doc_markdown)] // the documentation quotes the spec's prose\npub mod {module};\n",
            id = spec.id,
            module = ident::ident(&module),
        );
        let _ = writeln!(sources, "    (\"{}\", include_str!(\"../specs/{file_name}\")),", spec.id);
    }
    sources.push_str("];\n");
    lib.push_str(&sources);
    out.push(("lib.rs".to_owned(), lib));
    Ok(out)
}

/// Write `contents` to `path` only when it differs from what is there, so that unchanged
/// output does not trigger rebuilds. Returns whether the file was written.
pub fn write_if_changed(path: &Path, contents: &str) -> std::io::Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, contents)?;
    Ok(true)
}
