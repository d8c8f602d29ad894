//! Lowering: a checked spec becomes the one model, [`ProviderSpec`] (every default applied,
//! once, here), plus what only generated code needs (identifiers, documentation). Emitters
//! and the CLI see only this.

use std::collections::BTreeMap;

use oauthgen_spec::{
    ApiSpec, Audience, ClientCredentialsSpec, DeviceCodeSpec, EndpointTemplates, FieldType, GrantsSpec, JwtBearerSpec,
    List, Param, ProviderSpec, RedirectSpec, RefreshSpec, Str, TokenExchangeSpec, TokenField, TokenRequestSpec,
    TokenResponseSpec, VariableSpec,
};
use proc_macro2::Ident;
use quote::format_ident;

use crate::ident;
use crate::spec::Spec;

/// A provider ready for emission.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The lowered spec: what the generated `SPEC` constant holds.
    pub spec: ProviderSpec,
    /// The spec's path as shown in generated headers and docs (`specs/google.yaml`).
    pub source: String,
    /// The provider type (`Google`).
    pub type_name: Ident,
    /// The scope enum (`GoogleScope`).
    pub scope_type: Ident,
    /// Templated variables, in name order.
    pub variables: Vec<Variable>,
    /// Scopes, in name order.
    pub scopes: Vec<Scope>,
    /// Typed token-response fields, in name order: accessors on the credentials.
    pub fields: Vec<Field>,
    /// The trait of those accessors (`SalesforceFields`).
    pub fields_trait: Ident,
}

/// A typed token-response field.
#[derive(Debug, Clone)]
pub struct Field {
    /// The name in the response (`instance_url`).
    pub name: String,
    /// The accessor (`instance_url`).
    pub accessor: Ident,
    /// Its type.
    pub kind: FieldType,
    /// Documentation.
    pub description: String,
    /// An example value, for documentation.
    pub example: Option<String>,
}

/// A templated variable.
#[derive(Debug, Clone)]
pub struct Variable {
    /// The name in the spec (`tenant`).
    pub name: String,
    /// The constructor argument (`tenant`).
    pub arg: Ident,
    /// The setter (`with_tenant`).
    pub setter: Ident,
    /// Documentation.
    pub description: String,
    /// The default, if any; without one the value is a constructor argument, unless the
    /// variable is optional.
    pub default: Option<String>,
    /// Only fallback alternatives use it (`https://app.{region}.intercom.com || ...`): no
    /// default, and not a constructor argument either.
    pub optional: bool,
    /// An example value.
    pub example: Option<String>,
    /// For a variable with `values`: the generated enum (`BattlenetRegion`) and its variants
    /// with their values, in the spec's order.
    pub choices: Option<(Ident, Vec<(Ident, String)>)>,
}

/// The enum variant for one of a variable's `values`: `eu` -> `Eu`, `co.uk` -> `CoUk`, and a
/// leading digit gets a `V` (`2025-09-03` -> `V20250903`).
pub fn value_variant(value: &str) -> String {
    let name = ident::upper_camel(value);
    if name.starts_with(|c: char| c.is_ascii_digit()) { format!("V{name}") } else { name }
}

/// A scope.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The enum variant (`DriveReadonly`).
    pub variant: Ident,
    /// The name in the spec (`drive_readonly`).
    pub name: String,
    /// The scope string.
    pub value: String,
    /// Documentation.
    pub description: String,
    /// Requested when the caller asks for none (`scopes.default`).
    pub default: bool,
}

/// Lower a checked spec. `type_name` overrides the provider type's name (the macro uses the
/// user's struct name).
pub fn lower(spec: &Spec, source: &str, type_name: Option<&Ident>) -> Provider {
    let type_name = type_name.cloned().unwrap_or_else(|| ident::ident(&ident::upper_camel(&spec.id)));
    let scope_type = format_ident!("{}Scope", type_name);
    let optional = crate::check::optional_variables(spec);
    let variables = spec
        .variables
        .iter()
        .map(|(name, v)| Variable {
            name: name.clone(),
            arg: ident::ident(name),
            setter: ident::ident(&format!("with_{name}")),
            description: v.description.clone(),
            default: v.default.clone(),
            optional: optional.contains(name),
            example: v.example.clone(),
            choices: (!v.values.is_empty()).then(|| {
                (
                    format_ident!("{}{}", type_name, ident::upper_camel(name)),
                    v.values.iter().map(|value| (ident::ident(&value_variant(value)), value.clone())).collect(),
                )
            }),
        })
        .collect();
    let scopes = spec
        .scopes
        .values
        .iter()
        .map(|(name, s)| Scope {
            variant: ident::ident(&ident::upper_camel(name)),
            name: name.clone(),
            value: s.value.clone(),
            description: s.description.clone(),
            default: spec.scopes.default.contains(name),
        })
        .collect();
    let fields = spec
        .token_response
        .fields
        .iter()
        .map(|(name, f)| Field {
            name: name.clone(),
            accessor: ident::ident(name),
            kind: f.kind,
            description: f.description.clone(),
            example: f.example.clone(),
        })
        .collect();
    let fields_trait = format_ident!("{}Fields", type_name);
    Provider {
        spec: provider_spec(spec),
        source: source.to_owned(),
        type_name,
        scope_type,
        variables,
        scopes,
        fields,
        fields_trait,
    }
}

fn str(text: &str) -> Str {
    Str::Owned(text.to_owned())
}

fn opt(text: Option<&String>) -> Option<Str> {
    text.map(|t| str(t))
}

fn params(map: &BTreeMap<String, String>) -> List<Param> {
    map.iter().map(|(k, v)| (str(k), str(v))).collect::<Vec<_>>().into()
}

/// Renamed protocol parameters; one left out (`~`) has an empty name.
fn renames(map: &BTreeMap<String, Option<String>>) -> List<Param> {
    map.iter().map(|(k, v)| (str(k), str(v.as_deref().unwrap_or_default()))).collect::<Vec<_>>().into()
}

/// The one lowering of a checked spec into the model every part of oauthgen reads: defaults
/// applied (`margin_seconds` 60, device `default_interval` 5, the `token` audience), default
/// scope names resolved to scope strings, variables and parameters in name order.
pub fn provider_spec(spec: &Spec) -> ProviderSpec {
    let e = &spec.endpoints;
    let g = &spec.grants;
    let r = &spec.token_response;
    let oidc = spec.oidc.as_ref();
    ProviderSpec {
        id: str(&spec.id),
        name: str(&spec.name),
        docs: opt(spec.docs.as_ref()),
        endpoints: EndpointTemplates {
            authorization: opt(e.authorization.as_ref()),
            token: str(&e.token),
            revocation: opt(e.revocation.as_ref()),
            device_authorization: opt(e.device_authorization.as_ref()),
            userinfo: opt(e.userinfo.as_ref()),
            introspection: opt(e.introspection.as_ref()),
            refresh: opt(e.refresh.as_ref()),
            end_session: opt(e.end_session.as_ref()),
            pushed_authorization: opt(e.pushed_authorization.as_ref()),
        },
        variables: spec
            .variables
            .iter()
            .map(|(name, v)| VariableSpec {
                name: str(name),
                description: str(&v.description),
                default: opt(v.default.as_ref()),
                pattern: opt(v.pattern.as_ref()),
                values: v.values.iter().map(|value| str(value)).collect::<Vec<_>>().into(),
                path: v.path,
                origin: v.origin,
                from_callback: opt(v.from_callback.as_ref()),
            })
            .collect::<Vec<_>>()
            .into(),
        client_auth: spec.client_auth.clone().into(),
        endpoint_client_auth: spec
            .endpoint_client_auth
            .iter()
            .filter_map(|(key, method)| Some((oauthgen_spec::Endpoint::from_key(key)?, *method)))
            .collect::<Vec<_>>()
            .into(),
        pkce: spec.pkce,
        scope_separator: str(&spec.scopes.separator),
        default_scopes: spec
            .scopes
            .default
            .iter()
            .filter_map(|n| spec.scopes.values.get(n))
            .map(|v| str(&v.value))
            .collect::<Vec<_>>()
            .into(),
        authorize_params: params(&spec.authorize_params),
        request_headers: params(&spec.request_headers),
        param_names: renames(&spec.param_names),
        client_assertion_audience: spec
            .client_assertion
            .as_ref()
            .map_or(Audience::TokenEndpoint, |a| Audience::from_spec(&a.audience)),
        client_assertion_algorithm: spec.client_assertion.as_ref().map(|a| a.algorithm).unwrap_or_default(),
        client_assertion_thumbprint: spec.client_assertion.as_ref().and_then(|a| a.thumbprint),
        dpop: spec.dpop,
        endpoint_param_names: spec
            .endpoint_param_names
            .iter()
            .filter_map(|(key, names)| Some((oauthgen_spec::Endpoint::from_key(key)?, names)))
            .flat_map(|(endpoint, names)| {
                renames(names).iter().cloned().map(move |p| (endpoint, p)).collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .into(),
        token_request: TokenRequestSpec {
            body_format: spec.token_request.body_format,
            params: params(&spec.token_request.params),
            code_params: params(&spec.token_request.code_params),
            refresh_params: params(&spec.token_request.refresh_params),
        },
        token_response: TokenResponseSpec {
            format: r.format,
            expires_in: r.expires_in,
            expires_in_unit: r.expires_in_unit,
            error_in_200: r.error_in_200,
            root: opt(r.root.as_ref()),
            lifetime_field: opt(r.lifetime_field.as_ref()),
            scope_field: opt(r.scope_field.as_ref()),
            refresh_token_expires_in: opt(r.refresh_token_expires_in.as_ref()),
            scope_separator: opt(r.scope_separator.as_ref()),
            fields: r
                .fields
                .iter()
                .map(|(name, f)| TokenField {
                    name: str(name),
                    kind: f.kind,
                    required: f.required,
                    pattern: opt(f.pattern.as_ref()),
                    example: opt(f.example.as_ref()),
                })
                .collect::<Vec<_>>()
                .into(),
        },
        refresh: RefreshSpec {
            rotates: spec.refresh.rotates,
            returns_refresh_token: spec.refresh.returns_refresh_token,
            requires_scope: spec.refresh.requires_scope,
            sends_redirect_uri: spec.refresh.sends_redirect_uri,
            margin_seconds: spec.refresh.margin_seconds.unwrap_or(RefreshSpec::DEFAULT_MARGIN_SECONDS),
        },
        api: ApiSpec {
            base_url: spec.api.as_ref().and_then(|a| opt(a.base_url.as_ref())),
            headers: spec.api.as_ref().map(|a| params(&a.headers)).unwrap_or_default(),
        },
        grants: GrantsSpec {
            authorization_code: g.authorization_code.is_some(),
            refresh_token: g.refresh_token.is_some(),
            device_code: g.device_code.as_ref().map(|d| DeviceCodeSpec {
                default_interval: d.default_interval.unwrap_or(DeviceCodeSpec::DEFAULT_INTERVAL),
            }),
            client_credentials: g.client_credentials.as_ref().map(|c| ClientCredentialsSpec {
                token_endpoint: opt(c.token_endpoint.as_ref()),
                params: params(&c.params),
                grant_type: opt(c.grant_type.as_ref()),
            }),
            jwt_bearer: g.jwt_bearer.as_ref().map(|j| JwtBearerSpec {
                key_format: j.key_format,
                algorithm: j.algorithm,
                audience: Audience::from_spec(&j.audience),
                subject: j.subject,
            }),
            token_exchange: g.token_exchange.as_ref().map(|t| TokenExchangeSpec {
                params: params(&t.params),
                token_endpoint: opt(t.token_endpoint.as_ref()),
            }),
        },
        redirect: RedirectSpec {
            loopback_host: spec.redirect.loopback_host,
            callback_params: spec.redirect.callback_params.iter().map(|p| str(p)).collect::<Vec<_>>().into(),
        },
        oidc_issuer: oidc.map(|o| str(&o.issuer)),
        oidc_jwks_uri: oidc.and_then(|o| opt(o.jwks_uri.as_ref())),
        oidc_algorithms: oidc.map(|o| o.algorithms.clone()).unwrap_or_default().into(),
        oidc_sends_iss: oidc.is_some_and(|o| o.sends_iss),
    }
}
