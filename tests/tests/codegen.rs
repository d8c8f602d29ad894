//! The generator on every spec: snapshots of the generated code and of the diagnostics of
//! broken specs, determinism. (The files generated from the specs are checked in
//! `codegen/tests/bundled.rs`.)

use std::path::Path;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Every bundled spec (and the test provider's) generates code; one snapshot each.
#[test]
fn generated_code_snapshots() {
    insta::glob!("../../specs", "*.yaml", |path| {
        let spec = oauthgen_codegen::load(path).unwrap_or_else(|d| panic!("{d}"));
        let name = format!("specs/{}", path.file_name().unwrap().to_string_lossy());
        let code = oauthgen_codegen::generate_file(&[(&name, &spec)]).unwrap();
        insta::assert_snapshot!(code);
    });
}

/// Each broken fixture's rendered diagnostics. Paths are shown relative to `tests/`.
#[test]
fn diagnostics_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    insta::glob!("../fixtures/broken", "*.yaml", |path| {
        let rel = path.strip_prefix(dir).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let diags = oauthgen_codegen::parse_str(rel, &text).expect_err("a broken fixture must not pass");
        assert!(!diags.items().is_empty());
        insta::assert_snapshot!(diags.to_string());
    });
}

/// Generating twice gives the same bytes, whatever the order of keys in the YAML.
#[test]
fn output_is_deterministic() {
    let path = workspace().join("specs/google.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let a = oauthgen_codegen::parse_str("specs/google.yaml", &text).unwrap();
    let b = oauthgen_codegen::parse_str("specs/google.yaml", &text).unwrap();
    let first = oauthgen_codegen::generate_file(&[("specs/google.yaml", &a)]).unwrap();
    let second = oauthgen_codegen::generate_file(&[("specs/google.yaml", &b)]).unwrap();
    assert_eq!(first, second);

    // Reverse the order of the scope entries and top-level keys: same output.
    let mut lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim_start() == "values:").unwrap() + 1;
    let end = start + lines[start..].iter().take_while(|l| l.starts_with("    ")).count();
    lines[start..end].reverse();
    let shuffled = lines.join("\n");
    assert_ne!(shuffled, text);
    let c = oauthgen_codegen::parse_str("specs/google.yaml", &shuffled).unwrap();
    assert_eq!(first, oauthgen_codegen::generate_file(&[("specs/google.yaml", &c)]).unwrap());
}

/// The schema features that real providers need are each used by at least one bundled spec.
#[test]
fn every_schema_feature_is_used_by_a_real_provider() {
    use oauthgen_codegen::spec::{BodyFormat, ClientAuth, ResponseFormat};
    let files = oauthgen_codegen::spec_files(&workspace().join("specs")).unwrap();
    let (specs, bad) = oauthgen_codegen::load_all(&files);
    assert!(bad.is_empty());
    let any = |f: &dyn Fn(&oauthgen_codegen::Spec) -> bool| specs.iter().any(|(_, s)| f(s));
    assert!(any(&|s| !s.variables.is_empty()), "templated tenant/domain");
    assert!(any(&|s| s.scopes.separator == ","), "comma scope separator");
    assert!(any(&|s| s.token_response.format != ResponseFormat::Json), "form-encoded token response");
    assert!(any(&|s| s.client_auth == [ClientAuth::Basic]), "Basic-only client auth");
    assert!(any(&|s| s.client_auth == [ClientAuth::RequestBody]), "body-only client auth");
    assert!(any(&|s| s.refresh.rotates), "rotating refresh tokens");
    assert!(any(&|s| s.grants.device_code.is_some()), "device flow");
    assert!(any(&|s| s.grants.client_credentials.is_some()), "client credentials");
    assert!(any(&|s| s.grants.jwt_bearer.is_some()), "JWT bearer");
    assert!(any(&|s| s.token_request.body_format == BodyFormat::Json), "JSON token requests");
    assert!(any(&|s| s.token_response.error_in_200), "errors in HTTP 200");
    assert!(any(&|s| s.token_response.root.is_some()), "wrapped token responses");
    assert!(any(&|s| !s.redirect.callback_params.is_empty()), "callback parameters");
    assert!(any(&|s| s.endpoints.refresh.is_some()), "separate refresh endpoint");
    for (_, s) in &specs {
        assert!(!s.provenance.is_empty(), "{} has no provenance", s.id);
    }
}

/// `crate = "..."` on the macro: generated code reaches the runtime through the given path
/// (here a re-export), not `::oauthgen_runtime`.
mod renamed {
    pub(crate) use oauthgen_runtime as oauth;

    #[oauthgen_runtime::oauth_provider(spec = "fixtures/ok/testop.yaml", crate = "crate::renamed::oauth")]
    pub struct Renamed;
}

#[test]
fn the_macro_takes_the_runtime_path() {
    use oauthgen_runtime::Provider as _;
    let provider = renamed::Renamed::new("4000", "client", "secret");
    assert_eq!(provider.config().spec().id, "testop");
    let expanded = oauthgen_codegen::attribute::expand(
        quote_args(),
        "pub struct Renamed;".parse().unwrap(),
        Some(&workspace().join("tests")),
    )
    .to_string();
    assert!(expanded.contains("crate :: renamed :: oauth :: __private"), "{expanded}");
    assert!(!expanded.contains("oauthgen_runtime"), "{expanded}");
}

fn quote_args() -> proc_macro2::TokenStream {
    r#"spec = "fixtures/ok/testop.yaml", crate = "crate::renamed::oauth""#.parse().unwrap()
}
