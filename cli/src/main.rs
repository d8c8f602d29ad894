//! `oauthgen`: check provider specs, list providers, generate a client crate.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use oauthgen_codegen::{Diagnostics, Spec};

mod auth;
mod discovery;
mod generate;

/// Typed OAuth 2.0 clients from declarative provider specs.
#[derive(Debug, Parser)]
#[command(name = "oauthgen", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate specs; print every diagnostic and exit 1 if any spec is invalid.
    Check {
        /// Spec files or directories of `*.yaml` specs [default: specs/]
        paths: Vec<PathBuf>,
        /// Also apply the catalog's provenance rules: every source an `https://` URL or
        /// `owner/repo@commit:path`, no `checked` date in the future, and every fact covered
        /// by a source (`covers`) or marked `# unsourced` on its line.
        #[arg(long)]
        strict: bool,
    },
    /// List providers with their endpoints and capabilities.
    Providers {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Read specs from this directory instead of the bundled ones.
        #[arg(long, value_name = "DIR")]
        spec_dir: Option<PathBuf>,
    },
    /// Write a standalone crate with a typed client for each spec.
    Generate {
        /// Spec files.
        #[arg(long = "spec", value_name = "FILE", required = true, num_args = 1..)]
        specs: Vec<PathBuf>,
        /// Directory of the crate to write (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Name of the crate [default: the directory's name]
        #[arg(long, value_name = "NAME")]
        crate_name: Option<String>,
        /// Depend on `oauthgen-runtime` by path instead of by version.
        #[arg(long, value_name = "PATH")]
        runtime_path: Option<PathBuf>,
    },
    /// Sign in (browser on a loopback redirect, or --device) and store the credentials.
    Login(auth::Login),
    /// Print a valid access token, refreshing it when needed.
    Token(auth::TokenCmd),
    /// Print who the stored credentials belong to: the ID token's claims (validated when
    /// received) as JSON, or the provider's userinfo answer when there is no ID token.
    Whoami(auth::TokenCmd),
    /// Revoke the stored grant at the provider and forget it.
    Revoke(auth::TokenCmd),
    /// Print an access token for the client itself (client credentials grant).
    ClientCredentials(auth::ClientCredentialsCmd),
    /// Exchange a token for another one (token exchange, RFC 8693) and print it.
    Exchange(auth::ExchangeCmd),
    /// Print an access token for a service account (JWT bearer grant).
    ServiceAccount(auth::ServiceAccountCmd),
    /// Write provider specs (from an OpenID provider's discovery document).
    Spec {
        #[command(subcommand)]
        command: discovery::SpecCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { paths, strict } => check(&paths, strict),
        Command::Providers { json, spec_dir } => providers(json, spec_dir.as_deref()),
        Command::Generate { specs, out, crate_name, runtime_path } => {
            generate::run(&specs, &out, crate_name.as_deref(), runtime_path.as_deref())
        }
        Command::Login(args) => auth::login(&args).map(|()| ExitCode::SUCCESS),
        Command::Token(args) => auth::token(&args).map(|()| ExitCode::SUCCESS),
        Command::Whoami(args) => auth::whoami(&args).map(|()| ExitCode::SUCCESS),
        Command::Revoke(args) => auth::revoke(&args).map(|()| ExitCode::SUCCESS),
        Command::ClientCredentials(args) => auth::client_credentials(&args).map(|()| ExitCode::SUCCESS),
        Command::Exchange(args) => auth::exchange(&args).map(|()| ExitCode::SUCCESS),
        Command::ServiceAccount(args) => auth::service_account(&args).map(|()| ExitCode::SUCCESS),
        Command::Spec { command } => discovery::run(&command),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Expand directories to their spec files; keep files as given.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(oauthgen_codegen::spec_files(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))?);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

fn print_diagnostics(bad: &[Diagnostics]) {
    let mut err = std::io::stderr().lock();
    for d in bad {
        let _ = writeln!(err, "{d}");
    }
}

fn check(paths: &[PathBuf], strict: bool) -> Result<ExitCode, String> {
    let defaults = [PathBuf::from("specs")];
    let paths = if paths.is_empty() { &defaults[..] } else { paths };
    let files = expand(paths)?;
    if files.is_empty() {
        return Err(format!(
            "no specs found in {}",
            paths.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ")
        ));
    }
    let (ok, mut bad) = oauthgen_codegen::load_all(&files);
    let mut ok_count = ok.len();
    if strict {
        let before = bad.len();
        bad.extend(
            oauthgen_codegen::par_map(&ok, |(path, spec)| oauthgen_codegen::check_strict(path, spec))
                .into_iter()
                .flatten(),
        );
        ok_count -= bad.len() - before;
    }
    print_diagnostics(&bad);
    let errors: usize = bad.iter().map(|d| d.items().len()).sum();
    if bad.is_empty() {
        eprintln!("checked {ok_count} spec(s): all valid{}", if strict { ", provenance complete" } else { "" });
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: {} of {} spec(s) invalid, {errors} error(s)", bad.len(), files.len());
        Ok(ExitCode::FAILURE)
    }
}

/// One provider as `oauthgen providers` shows it.
#[derive(Debug, serde::Serialize)]
struct Listing {
    id: String,
    name: String,
    endpoints: std::collections::BTreeMap<&'static str, String>,
    variables: Vec<String>,
    pkce: String,
    client_auth: Vec<String>,
    capabilities: Vec<&'static str>,
}

fn listing(spec: &Spec) -> Listing {
    let lowered = oauthgen_codegen::ir::provider_spec(spec);
    let endpoints = lowered.endpoints.iter().map(|(e, template)| (e.key(), template.to_owned())).collect();
    Listing {
        id: spec.id.clone(),
        name: spec.name.clone(),
        endpoints,
        variables: spec.variables.keys().cloned().collect(),
        pkce: oauthgen_codegen::catalog::yaml_name(&spec.pkce),
        client_auth: spec.client_auth.iter().map(oauthgen_codegen::catalog::yaml_name).collect(),
        capabilities: lowered.capabilities().map(oauthgen_runtime::spec::Capability::name).collect(),
    }
}

fn load_bundled() -> Result<Vec<(String, Spec)>, String> {
    let mut out = Vec::new();
    for (id, text) in oauthgen_providers::SPEC_SOURCES {
        let path = format!("specs/{id}.yaml");
        // A variant's base is another bundled spec.
        let bundled = |base: &str| {
            oauthgen_providers::SPEC_SOURCES
                .iter()
                .find(|(i, _)| *i == base)
                .map(|(i, t)| (std::path::PathBuf::from(format!("specs/{i}.yaml")), (*t).to_owned()))
                .ok_or_else(|| format!("no bundled spec `{base}`"))
        };
        let spec = oauthgen_codegen::parse_with(&path, text, &bundled)
            .map_err(|d| format!("bundled spec is invalid:\n{d}"))?;
        out.push((path, spec));
    }
    Ok(out)
}

fn providers(json: bool, spec_dir: Option<&Path>) -> Result<ExitCode, String> {
    let specs: Vec<(String, Spec)> = match spec_dir {
        None => load_bundled()?,
        Some(dir) => {
            let files = expand(&[dir.to_path_buf()])?;
            let (ok, bad) = oauthgen_codegen::load_all(&files);
            if !bad.is_empty() {
                print_diagnostics(&bad);
                return Ok(ExitCode::FAILURE);
            }
            ok.into_iter().map(|(p, s)| (p.display().to_string(), s)).collect()
        }
    };
    let list: Vec<Listing> = specs.iter().map(|(_, s)| listing(s)).collect();
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?;
        let _ = writeln!(out, "{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let width = list.iter().map(|l| l.id.len()).max().unwrap_or(2).max(2);
    let _ = writeln!(out, "{:width$}  {:28}  {:11}  CAPABILITIES", "ID", "NAME", "PKCE");
    for l in &list {
        let mut name = l.name.clone();
        if name.chars().count() > 28 {
            name = name.chars().take(27).collect::<String>() + "…";
        }
        let _ = writeln!(out, "{:width$}  {:28}  {:11}  {}", l.id, name, l.pkce, l.capabilities.join(", "));
        let _ = writeln!(out, "{:width$}  token: {}", "", l.endpoints.get("token").map_or("", String::as_str));
    }
    Ok(ExitCode::SUCCESS)
}
