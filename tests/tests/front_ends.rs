//! The four front ends of the generator - `Builder` in a user's build.rs, the
//! `#[oauth_provider]` macro, the `oauthgen` CLI and the providers crate's generator -
//! accept and reject the same specs, with the same diagnostics, and emit the same items.

use std::path::{Path, PathBuf};
use std::process::Command;

use proc_macro2::TokenStream;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What a front end made of one spec, with the path it shows replaced by `<spec>`.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The generated items, formatted by `prettyplease` (headers and comments dropped).
    Items(String),
    /// The rendered diagnostics.
    Rejected(String),
}

impl Outcome {
    fn items(code: &str, shown: &str) -> Self {
        let file = syn::parse_file(code).unwrap_or_else(|e| panic!("generated code does not parse: {e}\n{code}"));
        Self::Items(prettyplease::unparse(&file).replace(shown, "<spec>"))
    }

    fn rejected(text: &str, shown: &str) -> Self {
        Self::Rejected(text.trim_end().replace(shown, "<spec>"))
    }
}

/// Every fixture as the path the front ends are given (relative to `tests/`, where cargo
/// runs this test), and whether it is valid.
fn fixtures() -> Vec<(String, bool)> {
    let mut all = Vec::new();
    for (dir, ok) in [("fixtures/ok", true), ("fixtures/broken", false)] {
        let files = oauthgen_codegen::spec_files(&manifest_dir().join(dir)).unwrap();
        assert!(!files.is_empty(), "no fixtures in {dir}");
        all.extend(files.iter().map(|f| (format!("{dir}/{}", f.file_name().unwrap().to_str().unwrap()), ok)));
    }
    all
}

/// (a) `Builder`, as in a user's build.rs.
fn builder(rel: &str, out: &Path) -> Outcome {
    match oauthgen_codegen::Builder::new().spec(rel).out_dir(out).compile() {
        Ok(()) => {
            let id = Path::new(rel).file_stem().unwrap().to_str().unwrap();
            Outcome::items(&std::fs::read_to_string(out.join(format!("{id}.rs"))).unwrap(), rel)
        }
        Err(e) => {
            let [diags] = e.diagnostics() else { panic!("{rel}: not one spec's diagnostics: {e}") };
            Outcome::rejected(&diags.to_string(), rel)
        }
    }
}

/// (b) The attribute macro's expansion, on `pub struct <Id>;`.
fn macro_expansion(rel: &str) -> Outcome {
    let stem = Path::new(rel).file_stem().unwrap().to_str().unwrap();
    let args: TokenStream = format!("spec = \"{rel}\"").parse().unwrap();
    let item: TokenStream = format!("pub struct {};", oauthgen_codegen::ident::upper_camel(stem)).parse().unwrap();
    let out = oauthgen_codegen::attribute::expand(args, item, Some(manifest_dir()));
    let mut file: syn::File = syn::parse2(out).unwrap();
    let error = file.items.iter().find_map(|item| match item {
        syn::Item::Macro(m) if m.mac.path.segments.last().is_some_and(|s| s.ident == "compile_error") => {
            Some(m.mac.parse_body::<syn::LitStr>().unwrap())
        }
        _ => None,
    });
    if let Some(error) = error {
        let text = error.value();
        let diags = text.strip_prefix("invalid provider spec\n").unwrap_or_else(|| panic!("{rel}: {text}"));
        return Outcome::rejected(diags, rel);
    }
    // The tracking constants, `const _: &[u8] = include_bytes!("<abs path>");`, are the
    // macro's own: one for the spec and one for each base of a variant.
    let spec_path = manifest_dir().join(rel);
    let mut tracked = vec![spec_path.to_string_lossy().into_owned()];
    tracked.extend(oauthgen_codegen::bases(&spec_path).iter().map(|p| p.to_string_lossy().into_owned()));
    let before = file.items.len();
    file.items.retain(|item| {
        !matches!(item, syn::Item::Const(c) if c.ident == "_"
            && tracked.iter().any(|t| quote::ToTokens::to_token_stream(&c.expr).to_string().contains(&format!("{t:?}"))))
    });
    assert_eq!(file.items.len(), before - tracked.len(), "{rel}: the macro tracks the spec file and its bases");
    Outcome::Items(prettyplease::unparse(&file).replace(rel, "<spec>"))
}

/// (c) The CLI: what `oauthgen check` and `oauthgen generate` call (cli/src/main.rs and
/// cli/src/generate.rs), on the path as given and the file name respectively.
fn cli(rel: &str) -> Outcome {
    let (ok, bad) = oauthgen_codegen::load_all(&[PathBuf::from(rel)]);
    if let [diags] = &bad[..] {
        return Outcome::rejected(&diags.to_string(), rel);
    }
    let [(_, spec)] = &ok[..] else { panic!("{rel}: one spec") };
    let shown = Path::new(rel).file_name().unwrap().to_str().unwrap();
    let lib = oauthgen_codegen::generate_crate(&[(shown, spec)]).unwrap();
    let file = syn::parse_file(&lib).unwrap();
    let module = oauthgen_codegen::ident::snake(&spec.id);
    let items = file
        .items
        .into_iter()
        .find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == module => m.content.map(|(_, items)| items),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{rel}: no `mod {module}` in\n{lib}"));
    let file = syn::File { shebang: None, attrs: Vec::new(), items };
    Outcome::Items(prettyplease::unparse(&file).replace(shown, "<spec>"))
}

/// (d) The providers crate's generator (`providers_crate`, whose output the crate ships), on
/// a `specs/` directory holding the fixture.
fn providers(rel: &str, tmp: &Path) -> Outcome {
    let rel = Path::new(rel);
    let name = rel.file_name().unwrap();
    let specs = tmp.join(rel.file_stem().unwrap()).join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::copy(manifest_dir().join(rel), specs.join(name)).unwrap();
    // A variant's bases come along: they are specs of the same directory.
    for base in oauthgen_codegen::bases(&manifest_dir().join(rel)) {
        std::fs::copy(&base, specs.join(base.file_name().unwrap())).unwrap();
    }
    match oauthgen_codegen::providers_crate(&specs) {
        Ok(files) => {
            let module = format!("{}.rs", oauthgen_codegen::ident::snake(rel.file_stem().unwrap().to_str().unwrap()));
            let (_, code) = files.iter().find(|(n, _)| *n == module).unwrap_or_else(|| panic!("no {module}"));
            Outcome::items(code, &format!("specs/{}", name.to_str().unwrap()))
        }
        Err(text) => Outcome::rejected(&text, specs.join(name).to_str().unwrap()),
    }
}

/// Every fixture through all four front ends: the valid ones give the same items, the broken
/// ones the same diagnostics (same messages, same `line:col`, same source lines).
#[test]
fn four_front_ends_agree_on_every_fixture() {
    assert_eq!(std::env::current_dir().unwrap(), manifest_dir().canonicalize().unwrap(), "cargo runs tests in tests/");
    let tmp = tempfile::tempdir().unwrap();
    for (rel, ok) in fixtures() {
        let a = builder(&rel, &tmp.path().join("builder"));
        match (&a, ok) {
            (Outcome::Items(code), true) => assert!(code.contains("impl ::oauthgen_runtime::__private::Provider for")),
            (Outcome::Rejected(text), false) => assert!(text.starts_with("<spec>:"), "{rel}: {text}"),
            _ => panic!("{rel} should be {}: {a:?}", if ok { "accepted" } else { "rejected" }),
        }
        let b = macro_expansion(&rel);
        assert_eq!(a, b, "{rel}: Builder (left) and macro (right) differ");
        let c = cli(&rel);
        assert_eq!(a, c, "{rel}: Builder (left) and CLI (right) differ");
        let d = providers(&rel, &tmp.path().join("providers"));
        assert_eq!(a, d, "{rel}: Builder (left) and the providers crate's generator (right) differ");
    }
}

/// A real user crate (tests/fixtures/build-rs-crate): its build.rs runs `Builder` (with
/// `.runtime_path`, the runtime being renamed), its lib.rs `include_provider!("acme")`, and it
/// compiles with warnings denied; with a broken spec the
/// build fails showing `specs/acme.yaml:line:col` and the offending line. Built from a copy
/// (paths to this workspace made absolute) into `target/build-rs-crate`, so after the first
/// run only the copy itself compiles.
#[test]
fn build_rs_crate_compiles_and_fails_with_located_diagnostics() {
    let workspace = manifest_dir().parent().unwrap();
    let fixture = manifest_dir().join("fixtures/build-rs-crate");
    let tmp = tempfile::tempdir().unwrap();
    let copy = |name: &str, spec: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::create_dir_all(dir.join("specs")).unwrap();
        let manifest = std::fs::read_to_string(fixture.join("Cargo.toml")).unwrap();
        let absolute = manifest.replace("\"../../../", &format!("\"{}/", workspace.display()));
        assert_ne!(manifest, absolute);
        std::fs::write(dir.join("Cargo.toml"), absolute).unwrap();
        for file in ["build.rs", "src/lib.rs"] {
            std::fs::copy(fixture.join(file), dir.join(file)).unwrap();
        }
        std::fs::write(dir.join("specs/acme.yaml"), spec).unwrap();
        // The workspace's versions, so the shared target directory stays warm.
        std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
        dir
    };
    let build = |dir: &Path| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--offline", "-vv", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", workspace.join("target/build-rs-crate"))
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };

    let spec = std::fs::read_to_string(fixture.join("specs/acme.yaml")).unwrap();
    let ok = copy("ok", &spec);
    let (success, stderr) = build(&ok);
    assert!(success, "{stderr}");
    // `-vv` shows how the build script ran; what it printed is in `OUT_DIR/../output`.
    let run = stderr
        .lines()
        .find(|l| l.contains(&format!("CARGO_MANIFEST_DIR={} ", ok.display())) && l.contains("build-script-build"))
        .unwrap_or_else(|| panic!("the build script did not run:\n{stderr}"));
    let out_dir = run.split(' ').find_map(|w| w.strip_prefix("OUT_DIR=")).unwrap();
    let printed = std::fs::read_to_string(Path::new(out_dir).join("../output")).unwrap();
    assert_eq!(printed, "cargo:rerun-if-changed=specs\ncargo:rerun-if-changed=specs/acme.yaml\n");
    let generated = std::fs::read_to_string(Path::new(out_dir).join("oauthgen/acme.rs")).unwrap();
    assert!(generated.contains("::oauth::__private::") && !generated.contains("oauthgen_runtime"), "{generated}");

    let broken = spec.replace("token: \"https://", "tokne: \"http://").replace("pkce: supported", "pkce: sometimes");
    assert_ne!(broken, spec);
    let bad = copy("broken", &broken);
    let (success, stderr) = build(&bad);
    assert!(!success, "{stderr}");
    let line = broken.lines().position(|l| l.contains("pkce: sometimes")).unwrap() + 1;
    assert!(stderr.contains(&format!("specs/acme.yaml:{line}:7: error:")), "{stderr}");
    assert!(stderr.contains(&format!("{line} | pkce: sometimes")), "{stderr}");
    assert!(stderr.contains("`tokne`"), "{stderr}");
    assert!(stderr.contains("spec(s) invalid"), "{stderr}");
}
