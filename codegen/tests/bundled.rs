//! The files generated from the bundled specs are current: `specs/schema.json`,
//! `specs/CATALOG.md`, the providers crate's sources and its features; and every bundled spec
//! follows the provenance rules. These tests need only the generator, so that
//! `OAUTHGEN_BLESS=1 cargo test -p oauthgen-codegen --test bundled` can rewrite the providers
//! crate even when a change to the model leaves its committed sources uncompilable.

use std::path::Path;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn bless() -> bool {
    std::env::var_os("OAUTHGEN_BLESS").is_some()
}

/// `specs/schema.json` is what the model produces. `OAUTHGEN_BLESS=1` rewrites it.
#[test]
fn committed_schema_is_current() {
    let path = workspace().join("specs/schema.json");
    let fresh = oauthgen_codegen::schema::schema_text();
    if bless() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "specs/schema.json is stale: run `OAUTHGEN_BLESS=1 cargo test -p oauthgen-codegen --test bundled`"
    );
}

/// `specs/CATALOG.md` is what the generator makes of `specs/`. `OAUTHGEN_BLESS=1` rewrites it.
#[test]
fn catalog_is_current() {
    let dir = workspace().join("specs");
    let (ok, bad) = oauthgen_codegen::load_all(&oauthgen_codegen::spec_files(&dir).unwrap());
    assert!(bad.is_empty(), "invalid specs: {bad:?}");
    let fresh = oauthgen_codegen::catalog::catalog(&ok);
    let path = dir.join("CATALOG.md");
    if bless() {
        oauthgen_codegen::write_if_changed(&path, &fresh).unwrap();
    }
    assert!(
        std::fs::read_to_string(&path).ok().as_deref() == Some(fresh.as_str()),
        "specs/CATALOG.md is stale: run `OAUTHGEN_BLESS=1 cargo test -p oauthgen-codegen --test bundled`"
    );
    // The README's count is the catalog's.
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let claim = format!("{} providers", ok.len());
    assert!(readme.contains(&claim), "the README should say `{claim}` (the number of specs in specs/CATALOG.md)");
}

/// Every bundled spec follows the catalog's provenance rules (`oauthgen check --strict`):
/// sources are pages or files at a commit, no date is in the future, every fact is covered
/// by a source or marked `# unsourced`.
#[test]
fn bundled_specs_follow_the_provenance_rules() {
    let dir = workspace().join("specs");
    let (ok, bad) = oauthgen_codegen::load_all(&oauthgen_codegen::spec_files(&dir).unwrap());
    assert!(bad.is_empty());
    let failures: Vec<String> = ok
        .iter()
        .filter_map(|(path, spec)| oauthgen_codegen::check_strict(path, spec))
        .map(|d| d.to_string())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The providers crate's sources (`providers/src/*.rs`) are what the generator makes of
/// `specs/`. `OAUTHGEN_BLESS=1` rewrites them (and removes files no spec makes).
#[test]
fn providers_crate_is_current() {
    let src = workspace().join("providers/src");
    let fresh = oauthgen_codegen::providers_crate(&workspace().join("specs")).unwrap();
    let bless = bless();
    let mut stale = Vec::new();
    for (name, contents) in &fresh {
        let path = src.join(name);
        if bless {
            oauthgen_codegen::write_if_changed(&path, contents).unwrap();
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
            stale.push(name.clone());
        }
    }
    for entry in std::fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !fresh.iter().any(|(n, _)| *n == name) {
            if bless {
                std::fs::remove_file(src.join(&name)).unwrap();
            } else {
                stale.push(format!("{name} (no spec makes it)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "providers/src is stale ({stale:?}): run `OAUTHGEN_BLESS=1 cargo test -p oauthgen-codegen --test bundled`"
    );
}

/// The providers crate has one feature per spec, and `all` lists them all. `OAUTHGEN_BLESS=1`
/// rewrites the manifest's `[features]` table.
#[test]
fn providers_features_match_specs() {
    let path = workspace().join("providers/Cargo.toml");
    let manifest = std::fs::read_to_string(&path).unwrap();
    let ids: Vec<String> = oauthgen_codegen::spec_files(&workspace().join("specs"))
        .unwrap()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let head = &manifest[..manifest.find("[features]").expect("a [features] table at the end")];
    let list = ids.iter().map(|id| format!("\"{id}\"")).collect::<Vec<_>>().join(", ");
    let mut fresh = format!("{head}[features]\ndefault = [\"all\"]\nall = [{list}]\n");
    for id in &ids {
        fresh.push_str(id);
        fresh.push_str(" = []\n");
    }
    if bless() {
        oauthgen_codegen::write_if_changed(&path, &fresh).unwrap();
    }
    assert!(
        std::fs::read_to_string(&path).unwrap() == fresh,
        "providers/Cargo.toml's features are stale: run `OAUTHGEN_BLESS=1 cargo test -p oauthgen-codegen --test bundled`"
    );
}
