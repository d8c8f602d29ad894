//! `oauthgen spec from-discovery`: a provider spec written from an OpenID provider's
//! discovery document (`ISSUER/.well-known/openid-configuration`).
//!
//! The YAML is built by hand, deterministically (fixed key order, scopes sorted, every string
//! double-quoted), then parsed and checked with the codegen crate before it is written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use oauthgen_runtime::Endpoint;
use oauthgen_runtime::spec::ClientAuth;
use serde_json::Value;

/// `oauthgen spec ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SpecCommand {
    /// Write a provider spec from an OpenID provider's discovery document.
    FromDiscovery(FromDiscovery),
}

/// `oauthgen spec from-discovery ISSUER_URL --id ID [--out FILE] [--name NAME] [--force]`
#[derive(Debug, Args)]
pub(crate) struct FromDiscovery {
    /// The issuer; `ISSUER_URL/.well-known/openid-configuration` is fetched, and its `issuer`
    /// must equal it exactly.
    #[arg(value_name = "ISSUER_URL")]
    issuer: String,
    /// The provider id of the spec.
    #[arg(long)]
    id: String,
    /// Write the spec to this file (its stem must be the id) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Display name [default: the issuer's host]
    #[arg(long)]
    name: Option<String>,
    /// Overwrite FILE when it exists.
    #[arg(long, requires = "out")]
    force: bool,
}

/// Largest discovery document accepted.
const MAX_BODY: usize = 1024 * 1024;

/// Grant type URIs (and names) -> the spec's grant names.
const GRANTS: &[(&str, &str)] = &[
    ("authorization_code", "authorization_code"),
    ("refresh_token", "refresh_token"),
    ("client_credentials", "client_credentials"),
    ("urn:ietf:params:oauth:grant-type:device_code", "device_code"),
    ("urn:ietf:params:oauth:grant-type:token-exchange", "token_exchange"),
];

/// Descriptions of the scopes OpenID Connect defines.
const KNOWN_SCOPES: &[(&str, &str)] = &[
    ("openid", "OpenID Connect sign-in"),
    ("email", "The user's email address"),
    ("profile", "The user's name and profile"),
    ("address", "The user's postal address"),
    ("phone", "The user's phone number"),
    ("offline_access", "A refresh token"),
];

pub(crate) fn run(command: &SpecCommand) -> Result<ExitCode, String> {
    match command {
        SpecCommand::FromDiscovery(args) => from_discovery(args),
    }
}

fn from_discovery(args: &FromDiscovery) -> Result<ExitCode, String> {
    let url = format!("{}/.well-known/openid-configuration", args.issuer.trim_end_matches('/'));
    let doc = fetch(&url)?;
    let found = doc.get("issuer").and_then(Value::as_str).ok_or_else(|| format!("{url} has no `issuer`"))?;
    if found != args.issuer {
        return Err(format!("the discovery document at {url} names issuer `{found}`, not `{}`", args.issuer));
    }
    let name = args.name.clone().unwrap_or_else(|| {
        reqwest::Url::parse(&args.issuer).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or(args.id.clone())
    });
    let text = render(&args.id, &name, &url, &oauthgen_codegen::provenance::today(), &doc)?;
    let path = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("{}.yaml", args.id)));
    if let Err(d) = oauthgen_codegen::parse_str(&path, &text) {
        eprintln!("{d}");
        eprintln!("error: the spec written from {url} is invalid; nothing written");
        return Ok(ExitCode::FAILURE);
    }
    match &args.out {
        None => print!("{text}"),
        Some(out) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true);
            if args.force {
                options.create(true).truncate(true);
            } else {
                options.create_new(true);
            }
            let write = options.open(out).and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
            write.map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    format!("`{}` exists; pass --force to overwrite it", out.display())
                }
                _ => format!("cannot write `{}`: {e}", out.display()),
            })?;
            eprintln!("wrote `{}` from {url}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// GET the document: a timeout, redirects only within the same origin, at most [`MAX_BODY`].
fn fetch(url: &str) -> Result<Value, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.error("redirect to another origin")
        }
    });
    let body = rt.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).redirect(policy).build()?;
        let mut response = client.get(url).header("accept", "application/json").send().await?.error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Ok(None);
            }
        }
        Ok::<_, reqwest::Error>(Some(body))
    });
    let body = body.map_err(|e| format!("cannot fetch {url}: {}", one_line(&e)))?;
    let body = body.ok_or_else(|| format!("{url} is larger than {MAX_BODY} bytes"))?;
    let doc: Value = serde_json::from_slice(&body).map_err(|e| format!("{url} is not JSON: {e}"))?;
    if doc.is_object() { Ok(doc) } else { Err(format!("{url} is not a JSON object")) }
}

/// An error and its causes on one line.
fn one_line(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out.replace('\n', " ")
}

/// A YAML double-quoted scalar (JSON string syntax is a subset of it).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn strings<'a>(doc: &'a Value, key: &str) -> Option<Vec<&'a str>> {
    doc.get(key).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect())
}

/// A scope value -> a scope name the spec accepts: a letter, then letters, digits, `_`, `-`, `.`.
fn scope_name(value: &str) -> String {
    let mut name: String =
        value.chars().map(|c| if c.is_ascii_alphanumeric() || "_-.".contains(c) { c } else { '_' }).collect();
    name = name.trim_matches('_').to_owned();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert_str(0, "scope_");
    }
    name
}

/// The spec's YAML from a discovery document.
fn render(id: &str, name: &str, url: &str, date: &str, doc: &Value) -> Result<String, String> {
    let mut y = String::new();
    let mut w = |line: String| {
        y.push_str(&line);
        y.push('\n');
    };
    w(format!("# Written by `oauthgen spec from-discovery` from {url}"));
    w(format!("id: {}", q(id)));
    w(format!("name: {}", q(name)));
    if let Some(docs) = doc.get("service_documentation").and_then(Value::as_str) {
        w(format!("docs: {}", q(docs)));
    }
    w("provenance:".to_owned());
    // What the document states; `client_auth` is added below when the document names a method
    // a spec can express.
    w(format!(
        "  - {{ source: {}, checked: {}, covers: [endpoints, pkce, scopes, grants, oidc@CLIENT_AUTH@@DPOP@] }}",
        q(url),
        q(date)
    ));

    let text = |k: &str| doc.get(k).and_then(Value::as_str);
    if text("token_endpoint").is_none() {
        return Err(format!("the discovery document at {url} has no `token_endpoint`"));
    }
    w("endpoints:".to_owned());
    for endpoint in Endpoint::ALL {
        // PAR sends the browser to the authorization endpoint: without one it cannot be used.
        if *endpoint == Endpoint::PushedAuthorization && text("authorization_endpoint").is_none() {
            continue;
        }
        if let Some(v) = endpoint.discovery_field().and_then(text) {
            w(format!("  {}: {}", endpoint.key(), q(v)));
        }
    }

    // Client authentication; OpenID Connect Discovery's default is client_secret_basic.
    let methods = strings(doc, "token_endpoint_auth_methods_supported").unwrap_or_else(|| vec!["client_secret_basic"]);
    let mut auth = Vec::new();
    let mut skipped = Vec::new();
    for m in methods {
        match ClientAuth::ALL.iter().find(|c| c.metadata_name() == m) {
            Some(c) if !auth.contains(&c.key()) => auth.push(c.key()),
            Some(_) => {}
            None => skipped.push(m),
        }
    }
    if !skipped.is_empty() {
        w(format!("# token endpoint auth methods not expressible in a spec, skipped: {}", skipped.join(", ")));
    }
    if auth.is_empty() {
        w("# no client authentication method a spec can express: the spec's default is kept".to_owned());
    } else {
        w(format!("client_auth: [{}]", auth.join(", ")));
    }
    let covers_auth = !auth.is_empty();

    // PKCE: discovery can say S256 is supported, never that it is required.
    let s256 = strings(doc, "code_challenge_methods_supported").is_some_and(|m| m.contains(&"S256"));
    w(format!("pkce: {}", if s256 { "supported" } else { "unsupported" }));

    // DPoP (RFC 9449): the provider lists proof algorithms. Whether it requires DPoP is a
    // per-client setting that discovery does not state.
    let dpop = strings(doc, "dpop_signing_alg_values_supported").is_some_and(|a| !a.is_empty());
    if dpop {
        w("dpop: supported".to_owned());
    }

    // Scopes, sorted by name; `openid` always, and the default.
    let mut scopes: BTreeMap<String, String> = BTreeMap::new();
    let mut variants: BTreeMap<String, String> = BTreeMap::new();
    let mut skipped = Vec::new();
    let listed = strings(doc, "scopes_supported").unwrap_or_default();
    for value in std::iter::once("openid").chain(listed) {
        if value.is_empty() || value.chars().any(char::is_whitespace) || scopes.values().any(|v| v == value) {
            if !value.is_empty() && value != "openid" {
                skipped.push(value);
            }
            continue;
        }
        let scope = scope_name(value);
        let variant = oauthgen_codegen::ident::upper_camel(&scope);
        if variants.contains_key(&variant) || oauthgen_codegen::ident::problem(&variant).is_some() {
            skipped.push(value);
            continue;
        }
        variants.insert(variant, scope.clone());
        scopes.insert(scope, value.to_owned());
    }
    w("scopes:".to_owned());
    w("  default: [openid]".to_owned());
    if !skipped.is_empty() {
        w(format!("  # scopes skipped (white space or a clashing name): {}", skipped.join(", ")));
    }
    w("  values:".to_owned());
    for (scope, value) in &scopes {
        let description = KNOWN_SCOPES
            .iter()
            .find(|(v, _)| v == value)
            .map_or_else(|| format!("The `{value}` scope"), |(_, d)| (*d).to_owned());
        w(format!("    {}: {{ value: {}, description: {} }}", q(scope), q(value), q(&description)));
    }

    // Grants; OpenID Connect Discovery's default is authorization_code and implicit.
    let listed = strings(doc, "grant_types_supported").unwrap_or_else(|| vec!["authorization_code", "implicit"]);
    let mut grants = Vec::new();
    let mut skipped = Vec::new();
    for g in listed {
        let known = GRANTS.iter().find(|(uri, _)| *uri == g).map(|(_, name)| *name);
        let usable = match known {
            Some("authorization_code") => text("authorization_endpoint").is_some(),
            Some("device_code") => text("device_authorization_endpoint").is_some(),
            Some(_) => true,
            None => false,
        };
        match known {
            Some(name) if usable && !grants.contains(&name) => grants.push(name),
            Some(_) if usable => {}
            _ => skipped.push(g),
        }
    }
    grants.sort_by_key(|g| GRANTS.iter().position(|(_, name)| name == g));
    if !skipped.is_empty() {
        w(format!("# grant types not expressible (or without their endpoint), skipped: {}", skipped.join(", ")));
    }
    w("grants:".to_owned());
    for g in &grants {
        w(format!("  {g}: {{}}"));
    }

    w("oidc:".to_owned());
    w(format!("  issuer: {}", q(text("issuer").unwrap_or_default())));
    if let Some(jwks) = text("jwks_uri") {
        w(format!("  jwks_uri: {}", q(jwks)));
    }
    let listed = strings(doc, "id_token_signing_alg_values_supported").unwrap_or_default();
    let mut algorithms = Vec::new();
    let mut skipped = Vec::new();
    for a in listed {
        match ["RS256", "PS256", "ES256", "EdDSA"].into_iter().find(|k| *k == a) {
            Some(k) if !algorithms.contains(&k) => algorithms.push(k),
            Some(_) => {}
            None => skipped.push(a),
        }
    }
    algorithms.sort_unstable();
    if !skipped.is_empty() {
        w(format!("  # ID token algorithms never accepted, skipped: {}", skipped.join(", ")));
    }
    if !algorithms.is_empty() {
        w(format!("  algorithms: [{}]", algorithms.join(", ")));
    }
    if doc.get("authorization_response_iss_parameter_supported").and_then(Value::as_bool) == Some(true) {
        w("  sends_iss: true".to_owned());
    }
    Ok(y.replacen("@CLIENT_AUTH@", if covers_auth { ", client_auth" } else { "" }, 1).replacen(
        "@DPOP@",
        if dpop { ", dpop" } else { "" },
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_valid_spec_deterministically() {
        let doc = serde_json::json!({
            "issuer": "https://op.example",
            "authorization_endpoint": "https://op.example/auth",
            "token_endpoint": "https://op.example/token",
            "jwks_uri": "https://op.example/jwks",
            "scopes_supported": ["openid", "email", "https://api.example/read", "true"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_post"],
            "id_token_signing_alg_values_supported": ["HS256", "ES256", "RS256"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"],
            "pushed_authorization_request_endpoint": "https://op.example/par",
            "dpop_signing_alg_values_supported": ["ES256"],
        });
        let a = render("op", "OP", "https://op.example/.well-known/openid-configuration", "2026-11-30", &doc).unwrap();
        let b = render("op", "OP", "https://op.example/.well-known/openid-configuration", "2026-11-30", &doc).unwrap();
        assert_eq!(a, b);
        let spec = oauthgen_codegen::parse_str("op.yaml", &a).unwrap_or_else(|d| panic!("{d}\n{a}"));
        assert_eq!(spec.pkce, oauthgen_codegen::spec::Pkce::Supported);
        assert_eq!(
            spec.client_auth,
            vec![ClientAuth::PrivateKeyJwt, ClientAuth::RequestBody],
            "in the provider's order"
        );
        assert_eq!(spec.scopes.values.len(), 4);
        assert!(a.contains("grants:\n  authorization_code: {}\n  token_exchange: {}\n"), "{a}");
        assert_eq!(spec.endpoints.pushed_authorization.as_deref(), Some("https://op.example/par"));
        assert_eq!(spec.dpop, oauthgen_codegen::spec::Dpop::Supported);
        assert!(a.contains("covers: [endpoints, pkce, scopes, grants, oidc, client_auth, dpop]"), "{a}");
        assert!(a.contains("algorithms: [ES256, RS256]"), "{a}");
    }

    #[test]
    fn today_is_a_date() {
        let t = oauthgen_codegen::provenance::today();
        assert_eq!(t.len(), 10);
        assert!(t.starts_with("20"));
    }
}
