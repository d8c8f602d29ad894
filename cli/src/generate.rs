//! `oauthgen generate`: a standalone crate from specs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Write the crate, or print every diagnostic and write nothing.
pub(crate) fn run(
    specs: &[PathBuf],
    out: &Path,
    crate_name: Option<&str>,
    runtime_path: Option<&Path>,
) -> Result<ExitCode, String> {
    let (ok, bad) = oauthgen_codegen::load_all(specs);
    if !bad.is_empty() {
        crate::print_diagnostics(&bad);
        eprintln!("error: nothing written: {} spec(s) invalid", bad.len());
        return Ok(ExitCode::FAILURE);
    }
    let name = match crate_name {
        Some(n) => n.to_owned(),
        None => out
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| "give `--crate-name`: the output directory has no usable name".to_owned())?
            .to_owned(),
    };
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!("`{name}` is not a valid crate name"));
    }
    let runtime = match runtime_path {
        Some(p) => {
            let abs = std::fs::canonicalize(p).map_err(|e| format!("runtime path `{}`: {e}", p.display()))?;
            format!("{{ path = {:?}, default-features = false }}", abs.display().to_string())
        }
        None => format!("{{ version = \"{}\", default-features = false }}", env!("CARGO_PKG_VERSION")),
    };
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\noauthgen-runtime = {runtime}\n\n\
         # A workspace of its own, so the crate builds wherever it is written.\n[workspace]\n"
    );
    let entries: Vec<(String, &oauthgen_codegen::Spec)> = ok
        .iter()
        .map(|(p, s)| (p.file_name().map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into_owned()), s))
        .collect();
    let refs: Vec<(&str, &oauthgen_codegen::Spec)> = entries.iter().map(|(p, s)| (p.as_str(), *s)).collect();
    let lib = oauthgen_codegen::generate_crate(&refs).map_err(|e| format!("cannot format generated code: {e}"))?;
    let src = out.join("src");
    std::fs::create_dir_all(&src).map_err(|e| format!("cannot create `{}`: {e}", src.display()))?;
    for (path, text) in [(out.join("Cargo.toml"), manifest), (src.join("lib.rs"), lib)] {
        oauthgen_codegen::write_if_changed(&path, &text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    eprintln!("wrote crate `{name}` with {} provider(s) to {}", ok.len(), out.display());
    Ok(ExitCode::SUCCESS)
}
