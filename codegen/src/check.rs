//! Cross-field rules, run after the structural schema check; every problem is collected.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Diagnostic, Location};
use crate::ident;
use crate::schema::did_you_mean;
use oauthgen_spec::{
    Endpoint, FALLBACK, FieldType, PARAM_NAME_ENDPOINTS, REMOVABLE_PARAMS, RENAMABLE_PARAMS, RESERVED_PARAMS,
    STANDARD_TOKEN_FIELDS, TOKEN_EXCHANGE_PARAMS,
};

use crate::spec::{ClientAuth, Spec};
use crate::yaml::{Index, escape};

/// Headers the flows set themselves (client authentication, body, transport), which
/// `request_headers` may not set.
const RESERVED_HEADERS: &[&str] =
    &["authorization", "content-type", "content-length", "host", "transfer-encoding", "connection", "dpop", "accept"];

/// The methods of the runtime's `Credentials`: a token-response field of the same name would
/// get an accessor that the method hides.
const CREDENTIALS_METHODS: &[&str] =
    &["expires_within", "id_token_claims", "is_usable", "field_str", "field_url", "field_i64", "field_bool"];

/// The `{name}` placeholders in a template, or why the template is malformed.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err("unbalanced `}`".into());
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("unclosed `{`".into());
        };
        let name = &after[..close];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid placeholder `{{{name}}}`"));
        }
        out.push(name);
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// Every template of `spec`: endpoints, OpenID URLs, the client credentials grant, the JWT
/// audience, parameters, headers and the API base URL.
fn templates(spec: &Spec) -> Vec<&str> {
    let mut out: Vec<&str> = Endpoint::ALL.iter().filter_map(|e| spec.endpoints.get(*e)).map(String::as_str).collect();
    if let Some(oidc) = &spec.oidc {
        out.push(&oidc.issuer);
        out.extend(oidc.jwks_uri.as_deref());
    }
    if let Some(cc) = &spec.grants.client_credentials {
        out.extend(cc.token_endpoint.as_deref());
        out.extend(cc.params.values().map(String::as_str));
    }
    if let Some(jwt) = &spec.grants.jwt_bearer {
        out.push(&jwt.audience);
    }
    if let Some(te) = &spec.grants.token_exchange {
        out.extend(te.token_endpoint.as_deref());
        out.extend(te.params.values().map(String::as_str));
    }
    let maps = [
        &spec.authorize_params,
        &spec.token_request.params,
        &spec.token_request.code_params,
        &spec.token_request.refresh_params,
        &spec.request_headers,
    ];
    out.extend(maps.into_iter().flat_map(|m| m.values().map(String::as_str)));
    out.extend(spec.api.as_ref().and_then(|a| a.base_url.as_deref()));
    out
}

/// Variables without a default that only fallback alternatives use (`{region}` in
/// `https://app.{region}.intercom.com || https://app.intercom.com`): not constructor
/// arguments, since a template falls back when they have no value.
pub fn optional_variables(spec: &Spec) -> BTreeSet<String> {
    let (mut optional, mut required) = (BTreeSet::new(), BTreeSet::new());
    for template in templates(spec) {
        let alternatives: Vec<&str> = template.split(FALLBACK).collect();
        for (i, alternative) in alternatives.iter().enumerate() {
            let names = placeholders(alternative).unwrap_or_default();
            if i + 1 < alternatives.len() { optional.extend(names) } else { required.extend(names) }
        }
    }
    spec.variables
        .iter()
        .filter(|(name, v)| {
            v.default.is_none() && optional.contains(name.as_str()) && !required.contains(name.as_str())
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Whether `host` is a loopback host, where plain `http` is allowed.
pub fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

struct Checker<'a> {
    spec: &'a Spec,
    index: &'a Index,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn err(&mut self, at: Location, message: impl Into<String>) {
        self.out.push(Diagnostic::error(at, message));
    }

    fn value(&self, pointer: &str) -> Location {
        self.index.value(pointer)
    }

    fn key(&self, pointer: &str) -> Location {
        self.index.key(pointer)
    }

    /// A spec's regular expression, compiled, or an error at `pointer`.
    fn pattern(&mut self, pointer: &str, pattern: &str) -> Option<regex_lite::Regex> {
        match regex_lite::Regex::new(pattern) {
            Ok(re) => Some(re),
            Err(err) => {
                let first = err.to_string();
                let first = first.lines().last().unwrap_or_default().trim().to_owned();
                self.err(self.value(pointer), format!("invalid regular expression: {first}"));
                None
            }
        }
    }

    /// Placeholders must be declared variables.
    fn template(&mut self, pointer: &str, template: &str) -> bool {
        match placeholders(template) {
            Err(why) => {
                self.err(
                    self.value(pointer),
                    format!("invalid template in `{}`: {why}", crate::schema::dotted(pointer)),
                );
                false
            }
            Ok(names) => {
                let mut ok = true;
                for name in names {
                    if !self.spec.variables.contains_key(name) {
                        ok = false;
                        let mut d = Diagnostic::error(
                            self.value(pointer),
                            format!("placeholder `{{{name}}}` has no declared variable"),
                        );
                        d.help = Some(match did_you_mean(name, self.spec.variables.keys().map(String::as_str)) {
                            Some(s) => format!("did you mean `{{{s}}}`?"),
                            None => format!("declare it under `variables:`, e.g. `{name}: {{ description: \"...\" }}`"),
                        });
                        self.out.push(d);
                    }
                }
                ok
            }
        }
    }

    /// A URL template: placeholders declared, parses, `https` unless on loopback; each
    /// alternative of a fallback template so.
    fn url(&mut self, pointer: &str, template: &str) {
        if template.contains(FALLBACK) {
            self.fallback(pointer, template);
            for alternative in template.split(FALLBACK) {
                self.url(pointer, alternative);
            }
            return;
        }
        if !self.template(pointer, template) {
            return;
        }
        let Ok(names) = placeholders(template) else {
            return;
        };
        let what = crate::schema::dotted(pointer);
        let is_path = |name: &str| self.spec.variables.get(name).is_some_and(|v| v.path);
        let is_origin = |name: &str| self.spec.variables.get(name).is_some_and(|v| v.origin);
        // An origin starts the URL, once, followed by its path.
        for name in names.iter().filter(|n| is_origin(n)) {
            let whole = format!("{{{name}}}");
            let starts = template.strip_prefix(&whole).is_some_and(|r| r.is_empty() || r.starts_with('/'));
            if !starts || template.matches(&whole).count() > 1 {
                self.out.push(
                    Diagnostic::error(
                        self.value(pointer),
                        format!("the origin variable `{whole}` can only start `{what}`"),
                    )
                    .with_help(format!("write `{whole}/path`: the value holds the scheme and host")),
                );
                return;
            }
        }
        // A path prefix goes after the host or a segment and before `/`, `?` or the end.
        for name in names.iter().filter(|n| is_path(n)) {
            let whole = format!("{{{name}}}");
            let mut rest = template;
            while let Some(at) = rest.find(&whole) {
                let before = rest[..at].chars().last();
                let after = rest[at + whole.len()..].chars().next();
                let host_or_segment = before.is_some_and(|c| c != '/' && c != ':')
                    && template.find("://").is_some_and(|s| template.len() - rest.len() + at > s + 3);
                if !host_or_segment || !matches!(after, None | Some('/' | '?')) {
                    self.out.push(
                        Diagnostic::error(self.value(pointer), format!("the path variable `{{{name}}}` is misplaced in `{what}`"))
                            .with_help(format!("put it right after the host or a path segment and before `/`: `https://{{host}}{whole}/token`")),
                    );
                    return;
                }
                rest = &rest[at + whole.len()..];
            }
        }
        // Probe with a value that fits a host label or path segment, then one that fits a port
        // (a path prefix gets `/x` either way).
        let probe = |fill: &str| {
            let mut p = template.to_owned();
            for name in &names {
                let value = if is_path(name) {
                    "/x"
                } else if is_origin(name) {
                    "https://x.example"
                } else {
                    fill
                };
                p = p.replace(&format!("{{{name}}}"), value);
            }
            url::Url::parse(&p)
        };
        match probe("x").or_else(|_| probe("1")) {
            Err(e) => self.err(self.value(pointer), format!("invalid URL in `{what}`: {e}")),
            Ok(u) => {
                let loopback = u.host().is_some_and(|h| is_loopback(&h));
                match u.scheme() {
                    "https" => {}
                    "http" if loopback => {}
                    "http" => self.out.push(
                        Diagnostic::error(self.value(pointer), format!("`{what}` uses plain `http` off loopback"))
                            .with_help("use `https`; plain `http` is allowed only for 127.0.0.1, ::1 and localhost"),
                    ),
                    other => self.err(self.value(pointer), format!("`{what}` has scheme `{other}`, expected `https`")),
                }
                if u.fragment().is_some() && pointer != "/docs" {
                    self.err(self.value(pointer), format!("`{what}` must not contain a fragment"));
                }
            }
        }
    }

    fn run(&mut self, stem: Option<&str>) {
        let spec = self.spec;
        if let Some(stem) = stem
            && stem != spec.id
        {
            self.out.push(
                Diagnostic::error(self.value("/id"), format!("`id` is `{}` but the file is named `{stem}`", spec.id))
                    .with_help(format!("rename the file to `{}.yaml` or set `id: {stem}`", spec.id)),
            );
        }
        if let Some(docs) = &spec.docs {
            self.url("/docs", docs);
        }
        crate::provenance::check_covers(spec, self.index, &mut self.out);
        for (i, p) in spec.provenance.iter().enumerate() {
            if !valid_date(&p.checked) {
                self.err(
                    self.value(&format!("/provenance/{i}/checked")),
                    format!("`{}` is not a calendar date", p.checked),
                );
            }
        }

        // Endpoints.
        for endpoint in Endpoint::ALL {
            if let Some(url) = spec.endpoints.get(*endpoint) {
                self.url(&format!("/endpoints/{}", endpoint.key()), url);
            }
        }
        if let Some(oidc) = &spec.oidc {
            self.url("/oidc/issuer", &oidc.issuer);
            if let Some(jwks) = &oidc.jwks_uri {
                self.url("/oidc/jwks_uri", jwks);
            }
            let mut seen = BTreeSet::new();
            for (i, alg) in oidc.algorithms.iter().enumerate() {
                if !seen.insert(*alg) {
                    self.err(
                        self.value(&format!("/oidc/algorithms/{i}")),
                        format!("algorithm `{}` is listed twice", alg.name()),
                    );
                }
            }
        }

        // Variables.
        let mut used = BTreeSet::new();
        let oidc_urls = spec.oidc.iter().flat_map(|o| std::iter::once(&o.issuer).chain(o.jwks_uri.as_ref()));
        let endpoint_urls = Endpoint::ALL.iter().filter_map(|e| spec.endpoints.get(*e));
        for t in endpoint_urls.chain(oidc_urls) {
            used.extend(placeholders(t).unwrap_or_default());
        }
        if let Some(cc) = &spec.grants.client_credentials {
            if let Some(t) = &cc.token_endpoint {
                self.url("/grants/client_credentials/token_endpoint", t);
                used.extend(placeholders(t).unwrap_or_default());
            }
            for (k, v) in &cc.params {
                if self.template(&format!("/grants/client_credentials/params/{}", escape(k)), v) {
                    used.extend(placeholders(v).unwrap_or_default());
                }
            }
        }
        if let Some(jwt) = &spec.grants.jwt_bearer {
            used.extend(placeholders(&jwt.audience).unwrap_or_default());
        }
        if let Some(te) = &spec.grants.token_exchange {
            if let Some(t) = &te.token_endpoint {
                self.url("/grants/token_exchange/token_endpoint", t);
                used.extend(placeholders(t).unwrap_or_default());
            }
            for (k, v) in &te.params {
                if self.template(&format!("/grants/token_exchange/params/{}", escape(k)), v) {
                    used.extend(placeholders(v).unwrap_or_default());
                }
            }
        }
        // Parameter and header values are templates too.
        let templated = [
            ("/authorize_params", &spec.authorize_params),
            ("/token_request/params", &spec.token_request.params),
            ("/token_request/code_params", &spec.token_request.code_params),
            ("/token_request/refresh_params", &spec.token_request.refresh_params),
            ("/request_headers", &spec.request_headers),
        ];
        for (pointer, map) in templated {
            for (k, v) in map {
                let at = format!("{pointer}/{}", escape(k));
                if v.contains(FALLBACK) {
                    self.fallback(&at, v);
                }
                if self.template(&at, v) {
                    let names = placeholders(v).unwrap_or_default();
                    for name in names.iter().filter(|n| spec.variables.get(**n).is_some_and(|v| v.origin || v.path)) {
                        self.err(self.value(&at), format!("`{{{name}}}` is an origin or path variable, for URLs only"));
                    }
                    used.extend(names);
                }
            }
        }
        for (name, var) in &spec.variables {
            let p = format!("/variables/{}", escape(name));
            if let Some(why) = variable_name_problem(name) {
                self.err(self.key(&p), format!("variable name `{name}` cannot be used: {why}"));
            }
            let pattern = match &var.pattern {
                Some(pat) => self.pattern(&format!("{p}/pattern"), pat),
                None => None,
            };
            if !var.values.is_empty() {
                self.choices(&p, name, var);
            }
            self.variable_kind(&p, name, var);
            if var.path {
                let values =
                    var.default.iter().map(|v| ("default", v)).chain(var.example.iter().map(|v| ("example", v)));
                for (key, value) in values {
                    if let Some(why) = oauthgen_spec::path_prefix_problem(value) {
                        self.err(self.value(&format!("{p}/{key}")), format!("`{value}` is not a path prefix: {why}"));
                    }
                }
            }
            if let (Some(re), Some(default)) = (&pattern, &var.default)
                && !re.is_match(default)
            {
                self.err(
                    self.value(&format!("{p}/default")),
                    format!("default `{default}` does not match the variable's pattern"),
                );
            }
        }

        self.fields();
        if let Some(base) = spec.api.as_ref().and_then(|a| a.base_url.as_ref()) {
            used.extend(self.api_base_url(base));
        }
        for (k, v) in spec.api.iter().flat_map(|a| &a.headers) {
            // `{client_id}` is the client's id; every other placeholder a variable.
            let at = format!("/api/headers/{}", escape(k));
            let others = v.replace("{client_id}", "");
            if self.template(&at, &others) {
                used.extend(placeholders(v).unwrap_or_default().into_iter().filter(|n| *n != "client_id"));
            }
        }
        for (name, _) in spec.variables.iter().filter(|(n, _)| !used.contains(n.as_str())) {
            self.err(
                self.key(&format!("/variables/{}", escape(name))),
                format!("variable `{name}` is declared but no endpoint, parameter or header uses `{{{name}}}`"),
            );
        }

        self.client_auth();
        self.scopes();
        self.params("/authorize_params", &spec.authorize_params);
        self.params("/token_request/params", &spec.token_request.params);
        self.params("/token_request/code_params", &spec.token_request.code_params);
        self.params("/token_request/refresh_params", &spec.token_request.refresh_params);
        if let Some(te) = &spec.grants.token_exchange {
            self.params("/grants/token_exchange/params", &te.params);
        }
        self.headers("/request_headers", &spec.request_headers);
        if let Some(api) = &spec.api {
            self.headers("/api/headers", &api.headers);
        }
        self.param_names();
        self.endpoint_client_auth();
        self.grants();
    }

    /// `endpoint_client_auth`: endpoints the spec has, among those that authenticate the
    /// client on their own.
    fn endpoint_client_auth(&mut self) {
        const KEYS: &[Endpoint] = &[Endpoint::Revocation, Endpoint::Introspection];
        for key in self.spec.endpoint_client_auth.keys() {
            let p = format!("/endpoint_client_auth/{}", escape(key));
            match Endpoint::from_key(key).filter(|e| KEYS.contains(e)) {
                None => {
                    let keys = KEYS.iter().map(|e| e.key());
                    let mut d =
                        Diagnostic::error(self.key(&p), format!("`{key}` takes no client authentication of its own"));
                    d.help = Some(match did_you_mean(key, keys.clone()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => {
                            format!("the keys are {}", keys.map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
                        }
                    });
                    self.out.push(d);
                }
                Some(e) if self.spec.endpoints.get(e).is_none() => {
                    self.err(
                        self.key(&p),
                        format!("`endpoint_client_auth.{key}` is set but the spec has no `endpoints.{key}`"),
                    );
                }
                Some(_) => {}
            }
        }
    }

    /// `param_names` and `endpoint_param_names`: renamable protocol parameters, to distinct
    /// names that are neither protocol parameters nor the spec's own; `response_type` may be
    /// left out; renamed client credentials go in the body.
    fn param_names(&mut self) {
        let spec = self.spec;
        self.renames("/param_names", &spec.param_names, &BTreeMap::new());
        for (key, names) in &spec.endpoint_param_names {
            let p = format!("/endpoint_param_names/{}", escape(key));
            match Endpoint::from_key(key).filter(|e| PARAM_NAME_ENDPOINTS.contains(e)) {
                None => {
                    let keys = PARAM_NAME_ENDPOINTS.iter().map(|e| e.key());
                    let mut d = Diagnostic::error(
                        self.key(&p),
                        format!("`{key}` is not an endpoint whose parameters can be renamed"),
                    );
                    d.help = Some(match did_you_mean(key, keys.clone()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => {
                            format!("the keys are {}", keys.map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
                        }
                    });
                    self.out.push(d);
                }
                Some(e) if spec.endpoints.get(e).is_none() => {
                    self.err(
                        self.key(&p),
                        format!("`endpoint_param_names.{key}` is set but the spec has no `endpoints.{key}`"),
                    );
                }
                Some(_) => self.renames(&p, names, &spec.param_names),
            }
        }
        let renames_client = |names: &BTreeMap<String, Option<String>>| {
            names.contains_key("client_id") || names.contains_key("client_secret")
        };
        let renames_client =
            renames_client(&spec.param_names) || spec.endpoint_param_names.values().any(renames_client);
        if renames_client && spec.client_auth.contains(&ClientAuth::Basic) {
            self.err(
                self.value("/client_auth"),
                "renamed client credentials (`param_names`) are sent in the body: `client_auth` must be `[request_body]`",
            );
        }
    }

    /// One map of renamed parameters at `base`; `outer` holds the renames it overrides.
    fn renames(
        &mut self,
        base: &str,
        names: &BTreeMap<String, Option<String>>,
        outer: &BTreeMap<String, Option<String>>,
    ) {
        let spec = self.spec;
        // The names the requests already use: the outer renames not overridden here.
        let mut seen: BTreeSet<&str> =
            outer.iter().filter(|(from, _)| !names.contains_key(*from)).filter_map(|(_, to)| to.as_deref()).collect();
        for (from, to) in names {
            let p = format!("{base}/{}", escape(from));
            let Some(to) = to else {
                if !REMOVABLE_PARAMS.contains(&from.as_str()) {
                    let mut d = Diagnostic::error(self.value(&p), format!("`{from}` cannot be left out"));
                    d.help = Some(format!(
                        "only {} can be left out (`~`)",
                        REMOVABLE_PARAMS.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                    ));
                    self.out.push(d);
                }
                continue;
            };
            if !RENAMABLE_PARAMS.contains(&from.as_str()) {
                let mut d = Diagnostic::error(self.key(&p), format!("`{from}` cannot be renamed"));
                d.help = Some(match did_you_mean(from, RENAMABLE_PARAMS.iter().copied()) {
                    Some(s) if s != from => format!("did you mean `{s}`?"),
                    _ => format!(
                        "the renamable parameters are {}",
                        RENAMABLE_PARAMS.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                    ),
                });
                self.out.push(d);
            }
            let token = !to.is_empty() && to.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            let own = spec.authorize_params.contains_key(to)
                || spec.token_request.params.contains_key(to)
                || spec.token_request.code_params.contains_key(to)
                || spec.token_request.refresh_params.contains_key(to);
            if !token {
                self.err(self.value(&p), format!("`{to}` is not a parameter name"));
            } else if to == from {
                self.err(self.value(&p), format!("`{from}` is renamed to itself"));
            } else if RESERVED_PARAMS.contains(&to.as_str()) || own || !seen.insert(to.as_str()) {
                self.err(self.value(&p), format!("`{to}` is already a parameter of the requests"));
            }
        }
    }

    /// An origin variable's values are origins; a variable taken from the callback is bounded
    /// by a pattern or values and named by a parameter the callback can carry.
    fn variable_kind(&mut self, p: &str, name: &str, var: &crate::spec::Variable) {
        if var.origin && var.path {
            self.err(self.key(p), format!("variable `{name}` cannot be both an origin and a path"));
        }
        if var.origin {
            let values = var.default.iter().map(|v| ("default", v)).chain(var.example.iter().map(|v| ("example", v)));
            for (key, value) in values {
                if let Some(why) = origin_problem(value) {
                    self.err(self.value(&format!("{p}/{key}")), format!("`{value}` is not an origin: {why}"));
                }
            }
        }
        if let Some(param) = &var.from_callback {
            let at = self.value(&format!("{p}/from_callback"));
            let token =
                !param.is_empty() && param.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !token {
                self.err(at, format!("`{param}` is not a parameter name"));
            } else if CALLBACK_PROTOCOL_PARAMS.contains(&param.as_str()) {
                self.err(at, format!("`{param}` is a parameter of the protocol, not a value for `{{{name}}}`"));
            }
            if var.pattern.is_none() && var.values.is_empty() {
                self.out.push(
                    Diagnostic::error(self.key(p), format!("variable `{name}` comes from the callback but has no `pattern` or `values`"))
                        .with_help("the callback's value comes from the browser: bound it (the hosts it may name) with `pattern` or `values`"),
                );
            }
        }
    }

    /// A fallback template's alternatives are each reachable: every one before the last has a
    /// variable without a default, whose absence moves on to the next.
    fn fallback(&mut self, pointer: &str, template: &str) {
        let alternatives: Vec<&str> = template.split(FALLBACK).collect();
        for alternative in &alternatives[..alternatives.len() - 1] {
            let names = placeholders(alternative).unwrap_or_default();
            let can_fall_back = names.iter().any(|n| self.spec.variables.get(*n).is_some_and(|v| v.default.is_none()));
            if !can_fall_back {
                self.out.push(
                    Diagnostic::error(self.value(pointer), format!("`{}` always has its values, so the alternatives after it are never used", alternative.trim()))
                        .with_help("an alternative is skipped when one of its variables has no value: give it a variable without a default"),
                );
                return;
            }
        }
    }

    /// `token_response.fields`: provider-specific names that make accessors, typed patterns.
    fn fields(&mut self) {
        let spec = self.spec;
        // Standard fields under the provider's own names: the lifetime, the granted scopes.
        let tr = &spec.token_response;
        let renamed = [
            ("lifetime_field", "expires_in", "a lifetime", tr.lifetime_field.as_deref()),
            ("scope_field", "scope", "the granted scopes", tr.scope_field.as_deref()),
        ];
        for (key, standard, what, name) in renamed {
            let Some(name) = name else { continue };
            let problem = if name == standard {
                Some(format!("`{standard}` is the default: leave `{key}` out"))
            } else if STANDARD_TOKEN_FIELDS.contains(&name) || name.is_empty() {
                Some(format!("`{name}` is a standard token-response field, not {what}"))
            } else if tr.refresh_token_expires_in.as_deref() == Some(name) {
                Some(format!("`{name}` is already `token_response.refresh_token_expires_in`"))
            } else if tr.fields.contains_key(name) {
                Some(format!("`{name}` is also declared in `token_response.fields`"))
            } else if key == "scope_field" && tr.lifetime_field.as_deref() == Some(name) {
                Some(format!("`{name}` is already `token_response.lifetime_field`"))
            } else {
                None
            };
            if let Some(problem) = problem {
                self.err(self.value(&format!("/token_response/{key}")), problem);
            }
        }
        for (name, field) in &spec.token_response.fields {
            let p = format!("/token_response/fields/{}", escape(name));
            let problem = if let Some(why) = variable_name_problem(name) {
                Some(format!("field name `{name}` cannot be used: {why}"))
            } else if STANDARD_TOKEN_FIELDS.contains(&name.as_str()) {
                Some(format!("`{name}` is a standard token-response field; only provider-specific fields are declared"))
            } else if spec.token_response.refresh_token_expires_in.as_deref() == Some(name) {
                Some(format!("`{name}` is already `token_response.refresh_token_expires_in`"))
            } else if spec.variables.contains_key(name) {
                Some(format!("a variable is also named `{name}`, so `{{{name}}}` would be ambiguous"))
            } else if CREDENTIALS_METHODS.contains(&name.as_str()) {
                Some(format!("`{name}` is a method of `Credentials`, which would hide the field's accessor"))
            } else {
                None
            };
            if let Some(problem) = problem {
                self.err(self.key(&p), problem);
            }
            let mut re = None;
            if let Some(pattern) = &field.pattern {
                if matches!(field.kind, FieldType::Integer | FieldType::Boolean) {
                    self.err(self.key(&format!("{p}/pattern")), "only `string` and `url` fields take a `pattern`");
                } else {
                    re = self.pattern(&format!("{p}/pattern"), pattern);
                }
            }
            if let Some(example) = &field.example {
                let fits = match field.kind {
                    FieldType::String => true,
                    FieldType::Url => url::Url::parse(example).is_ok_and(|u| {
                        u.scheme() == "https" || (u.scheme() == "http" && u.host().is_some_and(|h| is_loopback(&h)))
                    }),
                    FieldType::Integer => example.parse::<i64>().is_ok(),
                    FieldType::Boolean => example == "true" || example == "false",
                };
                let at = self.value(&format!("{p}/example"));
                if !fits {
                    self.err(at, format!("example `{example}` is not a valid `{}` value", field_type_name(field.kind)));
                } else if re.as_ref().is_some_and(|re| !re.is_match(example)) {
                    self.err(at, format!("example `{example}` does not match the field's pattern"));
                }
            }
        }
    }

    /// `api.base_url`: placeholders name variables or fields, a `url` field only at the start
    /// (then `/` or the end), no `boolean` field; the URL is `https` unless on loopback.
    /// Returns the variables it uses.
    fn api_base_url<'t>(&mut self, template: &'t str) -> Vec<&'t str> {
        let spec = self.spec;
        let at = self.value("/api/base_url");
        let names = match placeholders(template) {
            Ok(names) => names,
            Err(why) => {
                self.err(at, format!("invalid template in `api.base_url`: {why}"));
                return Vec::new();
            }
        };
        let mut variables = Vec::new();
        let mut probe = template.to_owned();
        let mut ok = true;
        for name in names {
            if spec.variables.contains_key(name) {
                variables.push(name);
            }
            let fill = match spec.token_response.fields.get(name).map(|f| f.kind) {
                Some(FieldType::Url) => {
                    let whole = format!("{{{name}}}");
                    let rest = template.strip_prefix(&whole);
                    if !rest.is_some_and(|r| r.is_empty() || r.starts_with('/')) {
                        ok = false;
                        self.out.push(
                            Diagnostic::error(
                                at,
                                format!("the `url` field `{{{name}}}` can only start `api.base_url`"),
                            )
                            .with_help(format!("write `{whole}/path`: the field holds the scheme and host")),
                        );
                    }
                    "https://api.example"
                }
                Some(FieldType::Boolean) => {
                    ok = false;
                    self.err(at, format!("the `boolean` field `{{{name}}}` cannot be part of a URL"));
                    "x"
                }
                Some(FieldType::String | FieldType::Integer) => "x",
                None if spec.variables.contains_key(name) => "x",
                None => {
                    ok = false;
                    let known = spec.variables.keys().chain(spec.token_response.fields.keys()).map(String::as_str);
                    let mut d = Diagnostic::error(
                        at,
                        format!("placeholder `{{{name}}}` is neither a variable nor a `token_response.fields` entry"),
                    );
                    d.help = did_you_mean(name, known).map(|s| format!("did you mean `{{{s}}}`?"));
                    self.out.push(d);
                    "x"
                }
            };
            probe = probe.replace(&format!("{{{name}}}"), fill);
        }
        if ok {
            match url::Url::parse(&probe) {
                Err(e) => self.err(at, format!("invalid URL in `api.base_url`: {e}")),
                Ok(u) => {
                    let loopback = u.host().is_some_and(|h| is_loopback(&h));
                    if !(u.scheme() == "https" || (u.scheme() == "http" && loopback)) {
                        self.err(at, "`api.base_url` must be `https` (plain `http` only on loopback)");
                    }
                    if u.query().is_some() || u.fragment().is_some() {
                        self.err(at, "`api.base_url` must not have a query or a fragment");
                    }
                }
            }
        }
        variables
    }

    /// A variable with `values`: literal, distinct values that make distinct enum variants,
    /// and a default and example among them.
    fn choices(&mut self, p: &str, name: &str, var: &crate::spec::Variable) {
        if var.pattern.is_some() {
            self.err(
                self.key(&format!("{p}/pattern")),
                "`pattern` and `values` exclude each other: the values are the pattern",
            );
        }
        if ident::upper_camel(name) == "Scope" {
            self.err(
                self.key(p),
                format!("variable `{name}` with `values` would make an enum named like the scope enum"),
            );
        }
        let mut seen = BTreeMap::new();
        for (i, value) in var.values.iter().enumerate() {
            let at = self.value(&format!("{p}/values/{i}"));
            let literal = value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'));
            if value.is_empty() || value == "." || value == ".." || !literal {
                self.err(
                    at,
                    format!("value `{value}` must be ASCII letters, digits, `-`, `.`, `_` or `~` (not a dot segment)"),
                );
                continue;
            }
            let variant = crate::ir::value_variant(value);
            if let Some(why) = ident::problem(&variant) {
                self.err(at, format!("value `{value}` cannot be an enum variant: {why}"));
            } else if let Some(first) = seen.insert(variant.clone(), value.clone()) {
                let what = if first == *value {
                    format!("value `{value}` is listed twice")
                } else {
                    format!("values `{first}` and `{value}` both make the variant `{variant}`")
                };
                self.err(at, what);
            }
        }
        for (key, v) in [("default", &var.default), ("example", &var.example)] {
            if let Some(v) = v
                && !var.values.contains(v)
            {
                let mut d =
                    Diagnostic::error(self.value(&format!("{p}/{key}")), format!("{key} `{v}` is not one of `values`"));
                if let Some(close) = did_you_mean(v, var.values.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{close}`?"));
                }
                self.out.push(d);
            }
        }
    }

    /// An assertion's `audience`: a keyword, else a URL or host name template.
    fn audience(&mut self, pointer: &str, audience: &str) {
        match audience {
            "token" | "endpoint" => {}
            "issuer" if self.spec.oidc.is_some() => {}
            "issuer" => self.err(self.value(pointer), "`issuer` as the audience needs `oidc.issuer`"),
            a if a.contains("://") => self.url(pointer, a),
            a => {
                self.template(pointer, a);
            }
        }
    }

    fn client_auth(&mut self) {
        let mut seen = BTreeSet::new();
        for (i, m) in self.spec.client_auth.iter().enumerate() {
            if !seen.insert(*m) {
                let name = m.key();
                self.err(
                    self.value(&format!("/client_auth/{i}")),
                    format!("client auth method `{name}` is listed twice"),
                );
            }
        }
    }

    fn scopes(&mut self) {
        let scopes = &self.spec.scopes;
        let mut variants: BTreeMap<String, &str> = BTreeMap::new();
        let mut values: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, scope) in &scopes.values {
            let p = format!("/scopes/values/{}", escape(name));
            let variant = ident::upper_camel(name);
            if let Some(why) = scope_name_problem(name) {
                self.err(self.key(&p), format!("scope name `{name}` cannot become an enum variant: {why}"));
            } else if let Some(other) = variants.insert(variant.clone(), name) {
                self.err(
                    self.key(&p),
                    format!("scope names `{other}` and `{name}` both become the enum variant `{variant}`"),
                );
            }
            if let Some(other) = values.insert(scope.value.as_str(), name) {
                self.err(
                    self.value(&format!("{p}/value")),
                    format!("scopes `{other}` and `{name}` have the same value `{}`", scope.value),
                );
            }
            if scope.value.contains(scopes.separator.as_str()) || scope.value.chars().any(char::is_whitespace) {
                self.err(
                    self.value(&format!("{p}/value")),
                    format!("scope value `{}` contains the separator or white space", scope.value),
                );
            }
        }
        for (i, name) in scopes.default.iter().enumerate() {
            if !scopes.values.contains_key(name) {
                let mut d = Diagnostic::error(
                    self.value(&format!("/scopes/default/{i}")),
                    format!("default scope `{name}` is not declared in `scopes.values`"),
                );
                if let Some(s) = did_you_mean(name, scopes.values.keys().map(String::as_str)) {
                    d.help = Some(format!("did you mean `{s}`?"));
                }
                self.out.push(d);
            }
        }
    }

    fn params(&mut self, pointer: &str, params: &BTreeMap<String, String>) {
        for name in params.keys() {
            if RESERVED_PARAMS.contains(&name.as_str()) {
                self.err(
                    self.key(&format!("{pointer}/{}", escape(name))),
                    format!(
                        "`{name}` is set by the protocol and cannot be overridden in `{}`",
                        crate::schema::dotted(pointer)
                    ),
                );
            }
        }
    }

    /// `request_headers`: HTTP field names (RFC 9110 tokens) that the flows do not set
    /// themselves, each once whatever its case, with values on one line of visible ASCII.
    fn headers(&mut self, pointer: &str, headers: &BTreeMap<String, String>) {
        let what = crate::schema::dotted(pointer);
        let mut seen = BTreeSet::new();
        for (name, value) in headers {
            let p = format!("{pointer}/{}", escape(name));
            let token =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
            if !token {
                self.err(self.key(&p), format!("`{name}` is not an HTTP header name"));
            } else if RESERVED_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                self.err(self.key(&p), format!("`{name}` is set by the flows and cannot be set in `{what}`"));
            } else if !seen.insert(name.to_ascii_lowercase()) {
                self.err(self.key(&p), format!("header `{name}` is set twice (header names ignore case)"));
            }
            if value.chars().any(|c| !(c == ' ' || c == '\t' || c.is_ascii_graphic())) {
                self.err(self.value(&p), format!("the value of header `{name}` must be visible ASCII on one line"));
            }
        }
    }

    fn grants(&mut self) {
        let spec = self.spec;
        let g = &spec.grants;
        let any = g.authorization_code.is_some()
            || g.refresh_token.is_some()
            || g.device_code.is_some()
            || g.client_credentials.is_some()
            || g.jwt_bearer.is_some()
            || g.token_exchange.is_some();
        if !any {
            self.err(self.key("/grants"), "`grants` declares no grant");
        }
        if let Some(gt) = g.client_credentials.as_ref().and_then(|c| c.grant_type.as_deref())
            && (gt.is_empty() || !gt.chars().all(|c| c.is_ascii_graphic()) || gt == "client_credentials")
        {
            self.err(
                self.value("/grants/client_credentials/grant_type"),
                format!(
                    "`{gt}` cannot be a custom grant type: one word or URI, and not `client_credentials` (the default)"
                ),
            );
        }
        if g.authorization_code.is_some() && spec.endpoints.authorization.is_none() {
            self.err(
                self.key("/grants/authorization_code"),
                "the `authorization_code` grant needs `endpoints.authorization`",
            );
        }
        if spec.endpoints.pushed_authorization.is_some() && spec.endpoints.authorization.is_none() {
            self.err(
                self.key("/endpoints/pushed_authorization"),
                "`endpoints.pushed_authorization` needs `endpoints.authorization`: the browser is still sent there, with the `request_uri`",
            );
        }
        if let Some(te) = &g.token_exchange {
            // `token_request.params` go with every exchange too.
            let fixed =
                [("/grants/token_exchange/params", &te.params), ("/token_request/params", &spec.token_request.params)];
            for (pointer, params) in fixed {
                for name in params.keys().filter(|n| TOKEN_EXCHANGE_PARAMS.contains(&n.as_str())) {
                    self.err(
                        self.key(&format!("{pointer}/{}", escape(name))),
                        format!(
                            "`{name}` is a token exchange parameter: pass it to `token_exchange` for each exchange"
                        ),
                    );
                }
            }
        }
        if g.device_code.is_some() && spec.endpoints.device_authorization.is_none() {
            self.err(self.key("/grants/device_code"), "the `device_code` grant needs `endpoints.device_authorization`");
        }
        if g.authorization_code.is_none() && spec.endpoints.authorization.is_some() {
            self.err(
                self.key("/endpoints/authorization"),
                "`endpoints.authorization` is set but `grants` has no `authorization_code`",
            );
        }
        if spec.refresh.sends_redirect_uri && (g.refresh_token.is_none() || g.authorization_code.is_none()) {
            self.err(
                self.key("/refresh/sends_redirect_uri"),
                "`refresh.sends_redirect_uri` needs the `authorization_code` and `refresh_token` grants",
            );
        }
        if (spec.refresh.rotates || spec.refresh.returns_refresh_token) && g.refresh_token.is_none() {
            self.err(self.key("/refresh"), "`refresh` describes refresh tokens but `grants` has no `refresh_token`");
        }
        if let Some(jwt) = &g.jwt_bearer {
            self.audience("/grants/jwt_bearer/audience", &jwt.audience);
        }
        if let Some(assertion) = &spec.client_assertion {
            self.audience("/client_assertion/audience", &assertion.audience);
            if !spec.client_auth.iter().any(|m| m.is_assertion()) {
                self.err(
                    self.key("/client_assertion"),
                    "`client_assertion` is set but `client_auth` lists neither `private_key_jwt` nor `client_secret_jwt`",
                );
            } else if !spec.client_auth.contains(&ClientAuth::PrivateKeyJwt) {
                // `client_secret_jwt` is always HS256 and has no certificate.
                for (key, set) in [
                    ("algorithm", assertion.algorithm != oauthgen_spec::JwtAlgorithm::Rs256),
                    ("thumbprint", assertion.thumbprint.is_some()),
                ] {
                    if set {
                        self.err(
                            self.key(&format!("/client_assertion/{key}")),
                            format!("`client_assertion.{key}` applies to `private_key_jwt`, which `client_auth` does not list"),
                        );
                    }
                }
            }
        }
        if g.refresh_token.is_none() && spec.endpoints.refresh.is_some() {
            self.err(self.key("/endpoints/refresh"), "`endpoints.refresh` is set but `grants` has no `refresh_token`");
        }
        if !spec.token_request.code_params.is_empty() && g.authorization_code.is_none() {
            self.err(
                self.key("/token_request/code_params"),
                "`token_request.code_params` is set but `grants` has no `authorization_code`",
            );
        }
        if !spec.token_request.refresh_params.is_empty() && g.refresh_token.is_none() {
            self.err(
                self.key("/token_request/refresh_params"),
                "`token_request.refresh_params` is set but `grants` has no `refresh_token`",
            );
        }
        if !spec.authorize_params.is_empty() && g.authorization_code.is_none() {
            self.err(
                self.key("/authorize_params"),
                "`authorize_params` is set but `grants` has no `authorization_code`",
            );
        }
    }
}

/// The callback parameters of the protocol (RFC 6749, RFC 9207, OpenID Connect), which no
/// variable may be taken from.
const CALLBACK_PROTOCOL_PARAMS: &[&str] =
    &["code", "state", "iss", "error", "error_description", "error_uri", "scope", "session_state"];

/// Why `value` is not an origin (`https://host[:port]`, plain `http` only on loopback), if it
/// is not: exactly the URL's origin, without path, query, fragment or user info.
fn origin_problem(value: &str) -> Option<&'static str> {
    let Ok(url) = url::Url::parse(value) else { return Some("it is not an absolute URL") };
    let loopback = url.host().is_some_and(|h| is_loopback(&h));
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return Some("it must be `https` (plain `http` only on loopback)");
    }
    if url.origin().ascii_serialization() != value {
        return Some("write only the scheme, the host and a port: no path, query, user info or trailing `/`");
    }
    None
}

fn field_type_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::String => "string",
        FieldType::Url => "url",
        FieldType::Integer => "integer",
        FieldType::Boolean => "boolean",
    }
}

fn variable_name_problem(name: &str) -> Option<&'static str> {
    if !name.starts_with(|c: char| c.is_ascii_lowercase())
        || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Some("use lowercase `snake_case`");
    }
    ident::problem(name)
}

fn scope_name_problem(name: &str) -> Option<&'static str> {
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Some("it must start with a letter");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Some("use letters, digits, `_`, `-` and `.`");
    }
    if ident::upper_camel(name) == "Self" {
        return Some("`Self` is reserved");
    }
    None
}

fn valid_date(s: &str) -> bool {
    let mut parts = s.split('-').map(str::parse::<u32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d)), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// Check the cross-field rules of a structurally valid spec. `stem` is the file stem the `id`
/// must equal, when the spec came from a file.
pub fn check(spec: &Spec, index: &Index, stem: Option<&str>) -> Vec<Diagnostic> {
    let mut c = Checker { spec, index, out: Vec::new() };
    c.run(stem);
    c.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(placeholders("https://{shop}.x.com/{a_b}/t").unwrap(), vec!["shop", "a_b"]);
        assert!(placeholders("https://{shop.x.com").is_err());
        assert!(placeholders("https://}x").is_err());
        assert!(placeholders("https://{a b}/").is_err());
    }

    #[test]
    fn dates() {
        assert!(valid_date("2024-02-29"));
        assert!(!valid_date("2023-02-29"));
        assert!(!valid_date("2023-13-01"));
    }
}
