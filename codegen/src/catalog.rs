//! `specs/CATALOG.md`: one table row per bundled spec (grants, PKCE, client authentication,
//! quirks, sources with the day each was checked), generated from the specs so it cannot
//! drift; a test in `oauthgen-tests` fails when the committed file is stale.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::spec::{Provenance, Spec};
use oauthgen_spec::{BodyFormat, Dpop, ExpiresIn, ResponseFormat, TimeUnit};

/// The serde (YAML) name of a vocabulary value (`request_body`, `public_only`).
pub fn yaml_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// What a spec declares that differs from plain RFC 6749 behaviour, in a few words each.
fn quirks(spec: &Spec) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(base) = &spec.extends {
        out.push(format!("variant of [`{base}`]({base}.yaml)"));
    }
    if spec.scopes.separator != " " {
        out.push(format!("scopes joined by `{}`", spec.scopes.separator));
    }
    if !spec.variables.is_empty() {
        let names: Vec<String> = spec.variables.keys().map(|k| format!("`{k}`")).collect();
        out.push(format!("variables {}", names.join(", ")));
    }
    if !spec.authorize_params.is_empty() {
        let params: Vec<String> = spec.authorize_params.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
        out.push(format!("authorize {}", params.join(" ")));
    }
    if !spec.request_headers.is_empty() {
        let names: Vec<String> = spec.request_headers.keys().map(|k| format!("`{k}`")).collect();
        out.push(format!("headers {}", names.join(", ")));
    }
    if spec.token_request.body_format == BodyFormat::Json {
        out.push("JSON token requests".into());
    }
    if !spec.token_request.params.is_empty() {
        let params: Vec<String> = spec.token_request.params.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
        out.push(format!("token request {}", params.join(" ")));
    }
    for (what, map) in
        [("code exchange", &spec.token_request.code_params), ("refresh", &spec.token_request.refresh_params)]
    {
        if !map.is_empty() {
            let params: Vec<String> = map.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
            out.push(format!("{what} {}", params.join(" ")));
        }
    }
    let response = &spec.token_response;
    match response.format {
        ResponseFormat::Json => {}
        ResponseFormat::Form => out.push("form-encoded token responses".into()),
        ResponseFormat::Auto => out.push("token response format sniffed".into()),
    }
    match response.expires_in {
        ExpiresIn::Number => {}
        ExpiresIn::String => out.push("`expires_in` as a string".into()),
        ExpiresIn::Absent => out.push("no `expires_in`".into()),
        ExpiresIn::Date => out.push("expiry as a date".into()),
    }
    if let Some(field) = &response.lifetime_field {
        out.push(format!("lifetime in `{field}`"));
    }
    if let Some(field) = &response.scope_field {
        out.push(format!("granted scopes in `{field}`"));
    }
    if response.expires_in_unit == TimeUnit::Milliseconds {
        out.push("`expires_in` in milliseconds".into());
    }
    if response.error_in_200 {
        out.push("errors in HTTP 200".into());
    }
    if let Some(root) = &response.root {
        out.push(format!("token fields under `{root}`"));
    }
    if let Some(sep) = &response.scope_separator {
        out.push(format!("granted scopes joined by `{sep}`"));
    }
    if let Some(field) = &response.refresh_token_expires_in {
        out.push(format!("refresh-token lifetime in `{field}`"));
    }
    if !response.fields.is_empty() {
        let names: Vec<String> = response.fields.keys().map(|f| format!("`{f}`")).collect();
        out.push(format!("typed fields {}", names.join(", ")));
    }
    if spec.endpoints.pushed_authorization.is_some() {
        out.push("pushed authorization requests".into());
    }
    match spec.dpop {
        Dpop::Unsupported => {}
        Dpop::Supported => out.push("DPoP".into()),
        Dpop::Required => out.push("DPoP required".into()),
    }
    if let Some(assertion) = &spec.client_assertion {
        if assertion.algorithm != oauthgen_spec::JwtAlgorithm::Rs256 {
            out.push(format!("client assertions {}", assertion.algorithm.name()));
        }
        if let Some(thumbprint) = assertion.thumbprint {
            out.push(format!("client key named by `{}`", thumbprint.header()));
        }
    }
    for (endpoint, method) in &spec.endpoint_client_auth {
        let method = method.key();
        out.push(format!("{endpoint} client auth `{method}`"));
    }
    let renamed = spec.param_names.iter().map(|p| (None, p));
    let renamed =
        renamed.chain(spec.endpoint_param_names.iter().flat_map(|(e, m)| m.iter().map(move |p| (Some(e), p))));
    for (endpoint, (from, to)) in renamed {
        let at = endpoint.map(|e| format!(" at {e}")).unwrap_or_default();
        out.push(match to {
            Some(to) => format!("`{from}` named `{to}`{at}"),
            None => format!("no `{from}`{at}"),
        });
    }
    if spec.refresh.sends_redirect_uri {
        out.push("refresh repeats `redirect_uri`".into());
    }
    if spec.refresh.rotates {
        out.push("rotating refresh tokens".into());
    }
    if spec.refresh.requires_scope {
        out.push("refresh repeats the scopes".into());
    }
    if spec.endpoints.refresh.is_some() {
        out.push("separate refresh endpoint".into());
    }
    if !spec.redirect.callback_params.is_empty() {
        let params: Vec<String> = spec.redirect.callback_params.iter().map(|p| format!("`{p}`")).collect();
        out.push(format!("keeps callback {}", params.join(", ")));
    }
    out
}

/// A source as a Markdown link: pages by host, repository files by repository.
fn source_link(p: &Provenance) -> String {
    let reference = p.source.split_once(' ').map_or(p.source.as_str(), |(r, _)| r);
    let (text, href) = if let Some(rest) = reference.strip_prefix("https://") {
        (rest.split('/').next().unwrap_or(rest).to_owned(), reference.to_owned())
    } else if let Some((repo, rest)) = reference.split_once('@')
        && let Some((commit, path)) = rest.split_once(':')
    {
        (format!("{repo}@{commit}"), format!("https://github.com/{repo}/blob/{commit}/{path}"))
    } else {
        return format!("{} ({})", reference.replace('|', "\\|"), p.checked);
    };
    format!("[{}]({}) ({})", text.replace('|', "\\|"), href.replace('|', "%7C").replace(' ', "%20"), p.checked)
}

/// The catalog page for these specs (sorted by id).
pub fn catalog(specs: &[(PathBuf, Spec)]) -> String {
    let mut specs: Vec<&Spec> = specs.iter().map(|(_, s)| s).collect();
    specs.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- @generated by oauthgen (`oauthgen_codegen::catalog`) from specs/*.yaml; do not edit: change a spec and run `OAUTHGEN_BLESS=1 cargo test -p oauthgen-codegen --test bundled`. -->\n"
    );
    let _ = writeln!(out, "# The bundled providers\n");
    let oidc = specs.iter().filter(|s| s.oidc.is_some()).count();
    let _ = writeln!(
        out,
        "{} providers, {oidc} of them OpenID providers. Each is one spec in this directory, one module and \
         one cargo feature of `oauthgen-providers`. Grants are the spec's (`code` authorization code, \
         `refresh`, `device`, `client` client credentials, `jwt` JWT bearer service accounts, `exchange` token exchange); \
         client authentication is `basic` (`client_secret_basic`) or `body` (`client_secret_post`), \
         preferred first; each source is followed by the day it was compared with the spec.\n",
        specs.len()
    );
    let _ = writeln!(out, "| provider | id | grants | PKCE | client auth | quirks | sources |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for spec in specs {
        let g = &spec.grants;
        let grants: Vec<&str> = [
            (g.authorization_code.is_some(), "code"),
            (g.refresh_token.is_some(), "refresh"),
            (g.device_code.is_some(), "device"),
            (g.client_credentials.is_some(), "client"),
            (g.jwt_bearer.is_some(), "jwt"),
            (g.token_exchange.is_some(), "exchange"),
        ]
        .into_iter()
        .filter_map(|(has, name)| has.then_some(name))
        .collect();
        let auth: Vec<String> = spec
            .client_auth
            .iter()
            .map(|a| if yaml_name(a) == "request_body" { "body".to_owned() } else { yaml_name(a) })
            .collect();
        let mut quirks = quirks(spec);
        if spec.oidc.is_some() {
            quirks.insert(0, "OpenID Connect".into());
        }
        let sources: Vec<String> = spec.provenance.iter().map(source_link).collect();
        let name = match &spec.docs {
            Some(docs) => format!("[{}]({docs})", spec.name.replace('|', "\\|")),
            None => spec.name.replace('|', "\\|"),
        };
        let _ = writeln!(
            out,
            "| {name} | [`{id}`]({id}.yaml) | {} | {} | {} | {} | {} |",
            grants.join(", "),
            yaml_name(&spec.pkce).replace('_', " "),
            auth.join(", "),
            if quirks.is_empty() { "-".to_owned() } else { quirks.join("; ").replace('|', "\\|") },
            sources.join("<br>"),
            id = spec.id,
        );
    }
    out
}
