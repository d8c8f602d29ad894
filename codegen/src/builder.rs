//! The generator in your own `build.rs`, as `prost-build` and `tonic-build` offer it.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), oauthgen_codegen::builder::Error> {
//!     oauthgen_codegen::Builder::new().spec("specs/acme.yaml").compile()
//! }
//! ```
//!
//! writes `$OUT_DIR/oauthgen/acme.rs` (one file per spec, named after the spec's `id`), which
//! `oauthgen_runtime::include_provider!("acme");` brings into your crate. The file is exactly
//! what [`generate_file`](crate::generate_file) produces for that spec, the same code as the
//! macro, the CLI and the providers crate emit. Each spec (and each directory given to
//! [`Builder::specs_in_dir`]) is printed as `cargo:rerun-if-changed`, so editing the YAML
//! reruns the build script, and files are written only when their content changed.
//!
//! A broken spec fails the build with every diagnostic of every spec, rendered as
//! `oauthgen check` renders them (`specs/acme.yaml:3:5: error: ...`, the offending line and
//! a caret). [`Error`]'s `Debug` is its `Display`, so `.unwrap()` and `?` in `build.rs` both
//! print them in full.

use std::fmt;
use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::ToTokens as _;

use crate::{Diagnostics, Spec};

/// Configures and runs the generator from a `build.rs`. See the [module docs](self).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Builder {
    specs: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    runtime_path: Option<String>,
}

impl Builder {
    /// A builder with no specs, writing to `$OUT_DIR/oauthgen` for `::oauthgen_runtime`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Generate code for the spec at `path` (relative paths are relative to the crate's
    /// `Cargo.toml`, where cargo runs build scripts). Its file stem must be its `id`.
    pub fn spec(mut self, path: impl AsRef<Path>) -> Self {
        self.specs.push(path.as_ref().to_path_buf());
        self
    }

    /// Generate code for every `*.yaml` and `*.yml` file directly in `dir`.
    pub fn specs_in_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dirs.push(dir.as_ref().to_path_buf());
        self
    }

    /// Write the generated files to `dir` instead of `$OUT_DIR/oauthgen`. Then include them
    /// with `include!` rather than `include_provider!`, which reads `$OUT_DIR/oauthgen`.
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The path through which generated code reaches the runtime crate, `::oauthgen_runtime`
    /// unless set: for a crate that depends on the runtime under another name, or re-exports
    /// it (`"::my_runtime"`, `"crate::oauth"`).
    pub fn runtime_path(mut self, path: impl Into<String>) -> Self {
        self.runtime_path = Some(path.into());
        self
    }

    /// Check every spec, and when all are valid, write one file per spec and print
    /// `cargo:rerun-if-changed` for each input. Nothing is written when any spec is invalid.
    pub fn compile(&self) -> Result<(), Error> {
        let runtime = self.runtime_tokens()?;
        let files = self.files()?;
        let bases: Vec<PathBuf> = files.iter().flat_map(|f| crate::bases(f)).collect();
        for path in self.dirs.iter().chain(&files).chain(&bases) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        if files.is_empty() {
            return Err(Error::NoSpecs);
        }
        let (ok, bad) = crate::load_all(&files);
        if !bad.is_empty() {
            return Err(Error::Invalid { invalid: bad, total: files.len() });
        }
        let out = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR").map(|d| PathBuf::from(d).join("oauthgen")).ok_or(Error::NoOutDir)?,
        };
        for (path, spec) in &ok {
            let source = path.to_string_lossy().replace('\\', "/");
            let code = generate(&source, spec, runtime.as_ref())
                .map_err(|source| Error::Format { path: path.clone(), source })?;
            let file = out.join(format!("{}.rs", spec.id));
            crate::write_if_changed(&file, &code).map_err(|source| Error::Io { path: file, source })?;
        }
        Ok(())
    }

    /// The spec files, in the order given, each once.
    fn files(&self) -> Result<Vec<PathBuf>, Error> {
        let mut files = self.specs.clone();
        for dir in &self.dirs {
            files.extend(crate::spec_files(dir).map_err(|source| Error::Io { path: dir.clone(), source })?);
        }
        let mut seen = std::collections::BTreeSet::new();
        files.retain(|f| seen.insert(f.clone()));
        Ok(files)
    }

    fn runtime_tokens(&self) -> Result<Option<TokenStream>, Error> {
        let Some(path) = &self.runtime_path else { return Ok(None) };
        match syn::parse_str::<syn::Path>(path) {
            Ok(p) => Ok(Some(p.to_token_stream())),
            Err(_) => Err(Error::RuntimePath(path.clone())),
        }
    }
}

/// The file for one spec: [`generate_file`](crate::generate_file)'s, with generated code
/// reaching the runtime at `runtime` when one is given.
fn generate(source: &str, spec: &Spec, runtime: Option<&TokenStream>) -> Result<String, syn::Error> {
    match runtime {
        None => crate::generate_file(&[(source, spec)]),
        Some(runtime) => crate::emit::format_file(&crate::generate_items_with(source, spec, runtime), &[source]),
    }
}

/// Why [`Builder::compile`] failed. `Debug` prints the same readable text as `Display`, so
/// that `.unwrap()` and `?` in `build.rs` show the diagnostics in full.
#[non_exhaustive]
pub enum Error {
    /// Some specs are invalid; nothing was written.
    Invalid {
        /// The diagnostics of each invalid spec.
        invalid: Vec<Diagnostics>,
        /// How many specs were checked.
        total: usize,
    },
    /// Neither [`Builder::spec`] nor [`Builder::specs_in_dir`] found a spec.
    NoSpecs,
    /// No [`Builder::out_dir`] and no `OUT_DIR`: not run by cargo as a build script.
    NoOutDir,
    /// [`Builder::runtime_path`] is not a Rust path.
    RuntimePath(String),
    /// A directory could not be read or a file written.
    Io {
        /// The directory or file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The generated code did not parse (a bug in oauthgen: please report it).
    Format {
        /// The spec it was generated from.
        path: PathBuf,
        /// The parse error.
        source: syn::Error,
    },
}

impl Error {
    /// The diagnostics of every invalid spec (empty for the other errors).
    pub fn diagnostics(&self) -> &[Diagnostics] {
        match self {
            Self::Invalid { invalid, .. } => invalid,
            _ => &[],
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { invalid, total } => {
                let errors: usize = invalid.iter().map(|d| d.items().len()).sum();
                write!(f, "{} of {total} provider spec(s) invalid, {errors} error(s):", invalid.len())?;
                for d in invalid {
                    write!(f, "\n\n{}", d.to_string().trim_end())?;
                }
                Ok(())
            }
            Self::NoSpecs => f.write_str("no specs to compile: give `.spec(path)` or `.specs_in_dir(dir)` a YAML file"),
            Self::NoOutDir => f.write_str("`OUT_DIR` is not set: run from a build script, or give `.out_dir(path)`"),
            Self::RuntimePath(p) => write!(f, "`{p}` is not a Rust path, expected e.g. `::oauthgen_runtime`"),
            Self::Io { path, source } => write!(f, "`{}`: {source}", path.display()),
            Self::Format { path, source } => {
                write!(f, "code generated from `{}` does not parse (an oauthgen bug): {source}", path.display())
            }
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Format { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACME: &str = "id: acme\nname: Acme\nprovenance: [{ source: test, checked: 2026-11-24 }]\n\
                        endpoints: { token: 'https://acme.test/token' }\npkce: unsupported\n\
                        grants: { client_credentials: {} }\n";

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("oauthgen-builder-{}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn nanos() -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
    }

    #[test]
    fn writes_one_file_per_spec_as_generate_file_does() {
        let dir = temp();
        let spec_path = dir.join("acme.yaml");
        std::fs::write(&spec_path, ACME).unwrap();
        let out = dir.join("out");
        Builder::new().specs_in_dir(&dir).spec(&spec_path).out_dir(&out).compile().unwrap();
        let written = std::fs::read_to_string(out.join("acme.rs")).unwrap();
        let source = spec_path.to_string_lossy().replace('\\', "/");
        let spec = crate::parse_str(&spec_path, ACME).unwrap();
        assert_eq!(written, crate::generate_file(&[(&source, &spec)]).unwrap());

        // The default path, given explicitly, changes nothing.
        Builder::new().spec(&spec_path).out_dir(&out).runtime_path("::oauthgen_runtime").compile().unwrap();
        assert_eq!(std::fs::read_to_string(out.join("acme.rs")).unwrap(), written);

        Builder::new().spec(&spec_path).out_dir(&out).runtime_path("crate::rt").compile().unwrap();
        let moved = std::fs::read_to_string(out.join("acme.rs")).unwrap();
        assert!(!moved.contains("::oauthgen_runtime"), "{moved}");
        assert!(moved.contains("crate::rt::__private::ProviderConfig"), "{moved}");
        assert_eq!(moved.matches("crate::rt::").count(), written.matches("::oauthgen_runtime::").count());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn invalid_specs_fail_with_located_diagnostics_and_write_nothing() {
        let dir = temp();
        let bad = dir.join("acme.yaml");
        std::fs::write(&bad, ACME.replace("https://acme.test/token", "http://acme.test/token")).unwrap();
        let out = dir.join("out");
        let err = Builder::new().spec(&bad).out_dir(&out).compile().unwrap_err();
        assert_eq!(err.diagnostics().len(), 1);
        let shown = format!("{err:?}");
        assert_eq!(shown, err.to_string());
        assert!(shown.contains(&format!("{}:4:", bad.display())), "{shown}");
        assert!(shown.contains("endpoints: { token: 'http://acme.test/token' }"), "{shown}");
        assert!(shown.starts_with("1 of 1 provider spec(s) invalid, 1 error(s):\n\n"), "{shown}");
        assert!(!out.exists());

        let err = Builder::new().out_dir(&out).compile().unwrap_err();
        assert!(matches!(err, Error::NoSpecs), "{err}");
        let err = Builder::new().spec(&bad).runtime_path("not a path").compile().unwrap_err();
        assert_eq!(err.to_string(), "`not a path` is not a Rust path, expected e.g. `::oauthgen_runtime`");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
