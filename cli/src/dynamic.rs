//! Providers chosen at run time: a checked spec turned into the runtime's static description,
//! behind one provider type that has every capability (the spec is checked at each call).

use std::collections::BTreeMap;

use oauthgen_codegen::Spec;
use oauthgen_codegen::spec as s;
use oauthgen_runtime::spec as r;
use oauthgen_runtime::{Provider, ProviderConfig};

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

fn leak_opt(text: Option<&String>) -> Option<&'static str> {
    text.map(|t| leak(t))
}

fn leak_pairs(map: &BTreeMap<String, String>) -> &'static [(&'static str, &'static str)] {
    Box::leak(map.iter().map(|(k, v)| (leak(k), leak(v))).collect::<Vec<_>>().into_boxed_slice())
}

/// The runtime's static description of a checked spec. The CLI makes a handful per run, so
/// the strings are leaked rather than reference-counted.
pub(crate) fn runtime_spec(spec: &Spec) -> &'static r::ProviderSpec {
    let e = &spec.endpoints;
    let g = &spec.grants;
    let variables = spec
        .variables
        .iter()
        .map(|(name, v)| r::VariableSpec {
            name: leak(name),
            description: leak(&v.description),
            default: leak_opt(v.default.as_ref()),
            pattern: leak_opt(v.pattern.as_ref()),
        })
        .collect::<Vec<_>>();
    let client_auth = spec
        .client_auth
        .iter()
        .map(|m| match m {
            s::ClientAuth::Basic => r::ClientAuth::Basic,
            s::ClientAuth::RequestBody => r::ClientAuth::RequestBody,
        })
        .collect::<Vec<_>>();
    let default_scopes = spec
        .scopes
        .default
        .iter()
        .filter_map(|n| spec.scopes.values.get(n))
        .map(|v| leak(&v.value))
        .collect::<Vec<_>>();
    let t = &spec.token_response;
    Box::leak(Box::new(r::ProviderSpec {
        id: leak(&spec.id),
        name: leak(&spec.name),
        docs: leak_opt(spec.docs.as_ref()),
        endpoints: r::EndpointTemplates {
            authorization: leak_opt(e.authorization.as_ref()),
            token: leak(&e.token),
            revocation: leak_opt(e.revocation.as_ref()),
            device_authorization: leak_opt(e.device_authorization.as_ref()),
            userinfo: leak_opt(e.userinfo.as_ref()),
            introspection: leak_opt(e.introspection.as_ref()),
            refresh: leak_opt(e.refresh.as_ref()),
            end_session: leak_opt(e.end_session.as_ref()),
        },
        variables: Box::leak(variables.into_boxed_slice()),
        client_auth: Box::leak(client_auth.into_boxed_slice()),
        pkce: match spec.pkce {
            s::Pkce::Required => r::Pkce::Required,
            s::Pkce::Supported => r::Pkce::Supported,
            s::Pkce::PublicOnly => r::Pkce::PublicOnly,
            s::Pkce::Unsupported => r::Pkce::Unsupported,
        },
        scope_separator: leak(&spec.scopes.separator),
        default_scopes: Box::leak(default_scopes.into_boxed_slice()),
        authorize_params: leak_pairs(&spec.authorize_params),
        token_request: r::TokenRequestSpec {
            body_format: match spec.token_request.body_format {
                s::BodyFormat::Form => r::BodyFormat::Form,
                s::BodyFormat::Json => r::BodyFormat::Json,
            },
            params: leak_pairs(&spec.token_request.params),
        },
        token_response: r::TokenResponseSpec {
            format: match t.format {
                s::ResponseFormat::Json => r::ResponseFormat::Json,
                s::ResponseFormat::Form => r::ResponseFormat::Form,
                s::ResponseFormat::Auto => r::ResponseFormat::Auto,
            },
            expires_in: match t.expires_in {
                s::ExpiresIn::Number => r::ExpiresIn::Number,
                s::ExpiresIn::String => r::ExpiresIn::String,
                s::ExpiresIn::Absent => r::ExpiresIn::Absent,
            },
            expires_in_unit: match t.expires_in_unit {
                s::TimeUnit::Seconds => r::TimeUnit::Seconds,
                s::TimeUnit::Milliseconds => r::TimeUnit::Milliseconds,
            },
            error_in_200: t.error_in_200,
            root: leak_opt(t.root.as_ref()),
            refresh_token_expires_in: leak_opt(t.refresh_token_expires_in.as_ref()),
        },
        refresh: r::RefreshSpec {
            rotates: spec.refresh.rotates,
            returns_refresh_token: spec.refresh.returns_refresh_token,
            requires_scope: spec.refresh.requires_scope,
            margin_seconds: spec.refresh.margin_seconds.unwrap_or(60),
        },
        grants: r::GrantsSpec {
            authorization_code: g.authorization_code.is_some(),
            refresh_token: g.refresh_token.is_some(),
            device_code: g
                .device_code
                .as_ref()
                .map(|d| r::DeviceCodeSpec { default_interval: d.default_interval.unwrap_or(5) }),
            client_credentials: g.client_credentials.as_ref().map(|c| r::ClientCredentialsSpec {
                token_endpoint: leak_opt(c.token_endpoint.as_ref()),
                params: leak_pairs(&c.params),
            }),
            jwt_bearer: g.jwt_bearer.as_ref().map(|j| r::JwtBearerSpec {
                key_format: match j.key_format {
                    s::KeyFormat::GoogleServiceAccountJson => r::KeyFormat::GoogleServiceAccountJson,
                    s::KeyFormat::Pem => r::KeyFormat::Pem,
                },
                algorithm: r::JwtAlgorithm::Rs256,
                audience: if j.audience == "token" {
                    r::Audience::TokenEndpoint
                } else {
                    r::Audience::Literal(leak(&j.audience))
                },
                subject: match j.subject {
                    s::Subject::Supported => r::Subject::Supported,
                    s::Subject::Required => r::Subject::Required,
                    s::Subject::Unsupported => r::Subject::Unsupported,
                },
            }),
        },
        redirect: r::RedirectSpec {
            loopback_host: match spec.redirect.loopback_host {
                s::LoopbackHost::Ipv4 => "127.0.0.1",
                s::LoopbackHost::Localhost => "localhost",
            },
            callback_params: Box::leak(
                spec.redirect.callback_params.iter().map(|p| leak(p)).collect::<Vec<_>>().into_boxed_slice(),
            ),
        },
        oidc_issuer: spec.oidc.as_ref().map(|o| leak(&o.issuer)),
        oidc_jwks_uri: leak_opt(spec.oidc.as_ref().and_then(|o| o.jwks_uri.as_ref())),
        oidc_algorithms: Box::leak(
            spec.oidc
                .iter()
                .flat_map(|o| &o.algorithms)
                .map(|a| match a {
                    s::IdTokenAlgorithm::Rs256 => r::IdTokenAlgorithm::Rs256,
                    s::IdTokenAlgorithm::Ps256 => r::IdTokenAlgorithm::Ps256,
                    s::IdTokenAlgorithm::Es256 => r::IdTokenAlgorithm::Es256,
                    s::IdTokenAlgorithm::EdDsa => r::IdTokenAlgorithm::EdDsa,
                })
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        ),
        oidc_sends_iss: spec.oidc.as_ref().is_some_and(|o| o.sends_iss),
    }))
}

/// A provider read at run time. It implements every capability trait: which grants exist
/// is checked by the commands (and by the runtime, which reports a missing endpoint).
#[derive(Debug, Clone)]
pub(crate) struct DynProvider {
    config: ProviderConfig,
}

impl DynProvider {
    pub(crate) fn new(spec: &'static r::ProviderSpec, client_id: String, client_secret: Option<String>) -> Self {
        Self { config: ProviderConfig::new(spec, client_id, client_secret) }
    }
}

impl Provider for DynProvider {
    type Scope = &'static str;

    fn config(&self) -> &ProviderConfig {
        &self.config
    }

    fn config_mut(&mut self) -> &mut ProviderConfig {
        &mut self.config
    }
}

impl oauthgen_runtime::AuthorizationCode for DynProvider {}
impl oauthgen_runtime::Refresh for DynProvider {}
impl oauthgen_runtime::DeviceFlow for DynProvider {}
impl oauthgen_runtime::ClientCredentials for DynProvider {}
impl oauthgen_runtime::ServiceAccount for DynProvider {}
impl oauthgen_runtime::Revocation for DynProvider {}
impl oauthgen_runtime::Introspection for DynProvider {}
impl oauthgen_runtime::UserInfo for DynProvider {}
