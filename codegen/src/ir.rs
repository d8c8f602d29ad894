//! The lowered provider: identifiers chosen, capabilities decided. Emitters see only this.

use proc_macro2::Ident;
use quote::format_ident;

use crate::ident;
use crate::spec::Spec;

/// A provider ready for emission.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The checked spec.
    pub spec: Spec,
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
    /// What the provider can do.
    pub capabilities: Capabilities,
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
    /// The default, if any; without one the value is a constructor argument.
    pub default: Option<String>,
    /// An example value.
    pub example: Option<String>,
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
}

/// The capability traits a provider implements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools, reason = "one flag per capability trait, named as in the spec")]
pub struct Capabilities {
    /// `AuthorizationCode`.
    pub authorization_code: bool,
    /// `Refresh`.
    pub refresh: bool,
    /// `DeviceFlow`.
    pub device_code: bool,
    /// `ClientCredentials`.
    pub client_credentials: bool,
    /// `ServiceAccount`.
    pub jwt_bearer: bool,
    /// `Revocation`.
    pub revocation: bool,
    /// `Introspection`.
    pub introspection: bool,
    /// `UserInfo`.
    pub userinfo: bool,
}

impl Capabilities {
    /// Capability names, as listed by `oauthgen providers`.
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.authorization_code, "authorization_code"),
            (self.refresh, "refresh_token"),
            (self.device_code, "device_code"),
            (self.client_credentials, "client_credentials"),
            (self.jwt_bearer, "jwt_bearer"),
            (self.revocation, "revocation"),
            (self.introspection, "introspection"),
            (self.userinfo, "userinfo"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// Lower a checked spec. `type_name` overrides the provider type's name (the macro uses the
/// user's struct name).
pub fn lower(spec: &Spec, source: &str, type_name: Option<&Ident>) -> Provider {
    let type_name = type_name.cloned().unwrap_or_else(|| ident::ident(&ident::upper_camel(&spec.id)));
    let scope_type = format_ident!("{}Scope", type_name);
    let variables = spec
        .variables
        .iter()
        .map(|(name, v)| Variable {
            name: name.clone(),
            arg: ident::ident(name),
            setter: ident::ident(&format!("with_{name}")),
            description: v.description.clone(),
            default: v.default.clone(),
            example: v.example.clone(),
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
        })
        .collect();
    let g = &spec.grants;
    let capabilities = Capabilities {
        authorization_code: g.authorization_code.is_some(),
        refresh: g.refresh_token.is_some(),
        device_code: g.device_code.is_some(),
        client_credentials: g.client_credentials.is_some(),
        jwt_bearer: g.jwt_bearer.is_some(),
        revocation: spec.endpoints.revocation.is_some(),
        introspection: spec.endpoints.introspection.is_some(),
        userinfo: spec.endpoints.userinfo.is_some(),
    };
    Provider { spec: spec.clone(), source: source.to_owned(), type_name, scope_type, variables, scopes, capabilities }
}
