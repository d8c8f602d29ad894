//! Emission: IR to tokens with `quote`, and tokens to a formatted file with `prettyplease`.

use std::fmt::Write as _;

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{Provider, Scope, Variable};
use crate::spec::{
    BodyFormat, ClientAuth, ExpiresIn, IdTokenAlgorithm, JwtAlgorithm, KeyFormat, LoopbackHost, Pkce, ResponseFormat,
    Subject, TimeUnit,
};

/// `#[doc = " text"]`: the leading space makes prettyplease print `/// text`.
fn doc(text: &str) -> TokenStream {
    if text.is_empty() {
        return quote!(#[doc = ""]);
    }
    let text = format!(" {text}");
    quote!(#[doc = #text])
}

fn opt(value: Option<&String>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

fn pairs<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> TokenStream {
    let items = map.into_iter().map(|(k, v)| quote!((#k, #v)));
    quote!(&[#(#items),*])
}

/// The `ProviderSpec` constant: the spec as static data for the runtime.
fn spec_const(p: &Provider) -> TokenStream {
    let s = &p.spec;
    let rt = quote!(::oauthgen_runtime::__private::spec);
    let (id, name) = (&s.id, &s.name);
    let docs = opt(s.docs.as_ref());
    let e = &s.endpoints;
    let token = &e.token;
    let refresh_endpoint = opt(e.refresh.as_ref());
    let (authorization, revocation, device_endpoint, userinfo, introspection) = (
        opt(e.authorization.as_ref()),
        opt(e.revocation.as_ref()),
        opt(e.device_authorization.as_ref()),
        opt(e.userinfo.as_ref()),
        opt(e.introspection.as_ref()),
    );
    let variables = s.variables.iter().map(|(name, v)| {
        let (description, default, pattern) = (&v.description, opt(v.default.as_ref()), opt(v.pattern.as_ref()));
        quote!(#rt::VariableSpec { name: #name, description: #description, default: #default, pattern: #pattern })
    });
    let client_auth = s.client_auth.iter().map(|m| match m {
        ClientAuth::Basic => quote!(#rt::ClientAuth::Basic),
        ClientAuth::RequestBody => quote!(#rt::ClientAuth::RequestBody),
    });
    let pkce = match s.pkce {
        Pkce::Required => quote!(#rt::Pkce::Required),
        Pkce::Supported => quote!(#rt::Pkce::Supported),
        Pkce::PublicOnly => quote!(#rt::Pkce::PublicOnly),
        Pkce::Unsupported => quote!(#rt::Pkce::Unsupported),
    };
    let separator = &s.scopes.separator;
    let default_scopes = s.scopes.default.iter().filter_map(|n| s.scopes.values.get(n)).map(|v| &v.value);
    let authorize_params = pairs(&s.authorize_params);
    let body_format = match s.token_request.body_format {
        BodyFormat::Form => quote!(#rt::BodyFormat::Form),
        BodyFormat::Json => quote!(#rt::BodyFormat::Json),
    };
    let token_params = pairs(&s.token_request.params);
    let r = &s.token_response;
    let format = match r.format {
        ResponseFormat::Json => quote!(#rt::ResponseFormat::Json),
        ResponseFormat::Form => quote!(#rt::ResponseFormat::Form),
        ResponseFormat::Auto => quote!(#rt::ResponseFormat::Auto),
    };
    let expires_in = match r.expires_in {
        ExpiresIn::Number => quote!(#rt::ExpiresIn::Number),
        ExpiresIn::String => quote!(#rt::ExpiresIn::String),
        ExpiresIn::Absent => quote!(#rt::ExpiresIn::Absent),
    };
    let unit = match r.expires_in_unit {
        TimeUnit::Seconds => quote!(#rt::TimeUnit::Seconds),
        TimeUnit::Milliseconds => quote!(#rt::TimeUnit::Milliseconds),
    };
    let error_in_200 = r.error_in_200;
    let root = opt(r.root.as_ref());
    let rt_expires = opt(r.refresh_token_expires_in.as_ref());
    let f = &s.refresh;
    let (rotates, returns_rt, requires_scope) = (f.rotates, f.returns_refresh_token, f.requires_scope);
    let margin = f.margin_seconds.unwrap_or(60);
    let g = &s.grants;
    let (ac, rtg) = (g.authorization_code.is_some(), g.refresh_token.is_some());
    let device = match &g.device_code {
        Some(d) => {
            let interval = d.default_interval.unwrap_or(5);
            quote!(::core::option::Option::Some(#rt::DeviceCodeSpec { default_interval: #interval }))
        }
        None => quote!(::core::option::Option::None),
    };
    let cc = match &g.client_credentials {
        Some(c) => {
            let endpoint = opt(c.token_endpoint.as_ref());
            let params = pairs(&c.params);
            quote!(::core::option::Option::Some(#rt::ClientCredentialsSpec { token_endpoint: #endpoint, params: #params }))
        }
        None => quote!(::core::option::Option::None),
    };
    let jwt = match &g.jwt_bearer {
        Some(j) => {
            let key_format = match j.key_format {
                KeyFormat::GoogleServiceAccountJson => {
                    quote!(#rt::KeyFormat::GoogleServiceAccountJson)
                }
                KeyFormat::Pem => quote!(#rt::KeyFormat::Pem),
            };
            let algorithm = match j.algorithm {
                JwtAlgorithm::RS256 => quote!(#rt::JwtAlgorithm::Rs256),
            };
            let audience = if j.audience == "token" {
                quote!(#rt::Audience::TokenEndpoint)
            } else {
                let a = &j.audience;
                quote!(#rt::Audience::Literal(#a))
            };
            let subject = match j.subject {
                Subject::Supported => quote!(#rt::Subject::Supported),
                Subject::Required => quote!(#rt::Subject::Required),
                Subject::Unsupported => quote!(#rt::Subject::Unsupported),
            };
            quote!(::core::option::Option::Some(#rt::JwtBearerSpec {
                key_format: #key_format, algorithm: #algorithm, audience: #audience, subject: #subject,
            }))
        }
        None => quote!(::core::option::Option::None),
    };
    let loopback = match s.redirect.loopback_host {
        LoopbackHost::Ipv4 => "127.0.0.1",
        LoopbackHost::Localhost => "localhost",
    };
    let callback_params = &s.redirect.callback_params;
    let issuer = opt(s.oidc.as_ref().map(|o| &o.issuer));
    let jwks_uri = opt(s.oidc.as_ref().and_then(|o| o.jwks_uri.as_ref()));
    let algorithms = s.oidc.iter().flat_map(|o| &o.algorithms).map(|a| match a {
        IdTokenAlgorithm::Rs256 => quote!(#rt::IdTokenAlgorithm::Rs256),
        IdTokenAlgorithm::Ps256 => quote!(#rt::IdTokenAlgorithm::Ps256),
        IdTokenAlgorithm::Es256 => quote!(#rt::IdTokenAlgorithm::Es256),
        IdTokenAlgorithm::EdDsa => quote!(#rt::IdTokenAlgorithm::EdDsa),
    });
    let sends_iss = s.oidc.as_ref().is_some_and(|o| o.sends_iss);
    let end_session = opt(s.endpoints.end_session.as_ref());
    quote! {
        #rt::ProviderSpec {
            id: #id,
            name: #name,
            docs: #docs,
            endpoints: #rt::EndpointTemplates {
                authorization: #authorization,
                token: #token,
                revocation: #revocation,
                device_authorization: #device_endpoint,
                userinfo: #userinfo,
                introspection: #introspection,
                refresh: #refresh_endpoint,
                end_session: #end_session,
            },
            variables: &[#(#variables),*],
            client_auth: &[#(#client_auth),*],
            pkce: #pkce,
            scope_separator: #separator,
            default_scopes: &[#(#default_scopes),*],
            authorize_params: #authorize_params,
            token_request: #rt::TokenRequestSpec { body_format: #body_format, params: #token_params },
            token_response: #rt::TokenResponseSpec {
                format: #format,
                expires_in: #expires_in,
                expires_in_unit: #unit,
                error_in_200: #error_in_200,
                root: #root,
                refresh_token_expires_in: #rt_expires,
            },
            refresh: #rt::RefreshSpec {
                rotates: #rotates,
                returns_refresh_token: #returns_rt,
                requires_scope: #requires_scope,
                margin_seconds: #margin,
            },
            grants: #rt::GrantsSpec {
                authorization_code: #ac,
                refresh_token: #rtg,
                device_code: #device,
                client_credentials: #cc,
                jwt_bearer: #jwt,
            },
            redirect: #rt::RedirectSpec { loopback_host: #loopback, callback_params: &[#(#callback_params),*] },
            oidc_issuer: #issuer,
            oidc_jwks_uri: #jwks_uri,
            oidc_algorithms: &[#(#algorithms),*],
            oidc_sends_iss: #sends_iss,
        }
    }
}

fn scope_enum(p: &Provider) -> TokenStream {
    let (ty, scope) = (&p.type_name, &p.scope_type);
    let name = &p.spec.name;
    let enum_doc = doc(&format!("A scope of [`{ty}`], as declared in `{}`.", p.source));
    let variants = p.scopes.iter().map(|Scope { variant, value, description, .. }| {
        let description = doc(description);
        let value_doc = doc(&format!("`{value}`"));
        quote! {
            #description
            #[doc = ""]
            #value_doc
            #variant
        }
    });
    let as_str = p.scopes.iter().map(|Scope { variant, value, .. }| quote!(Self::#variant => #value));
    let from_str = p
        .scopes
        .iter()
        .map(|Scope { variant, value, .. }| quote!(#value => ::core::result::Result::Ok(Self::#variant)));
    let rt = quote!(::oauthgen_runtime::__private);
    let from_str_body = if p.scopes.is_empty() {
        quote!(::core::result::Result::Err(#rt::UnknownScope::new(#ty::SPEC.id, s)))
    } else {
        quote! {
            match s {
                #(#from_str,)*
                _ => ::core::result::Result::Err(#rt::UnknownScope::new(#ty::SPEC.id, s)),
            }
        }
    };
    let all = p.scopes.iter().map(|s| &s.variant);
    let defaults =
        p.spec.scopes.default.iter().filter_map(|d| p.scopes.iter().find(|s| &s.name == d)).map(|s| &s.variant);
    let all_doc = doc(&format!("Every scope the {name} spec declares, in name order."));
    let default_doc = doc(&format!("The scopes requested when none are given (`scopes.default` in the {name} spec)."));
    quote! {
        #enum_doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(clippy::doc_markdown, reason = "scope descriptions are the provider's prose, copied from the spec")]
        pub enum #scope {
            #(#variants,)*
        }

        impl #scope {
            #all_doc
            pub const ALL: &'static [Self] = &[#(Self::#all),*];
            #default_doc
            pub const DEFAULT: &'static [Self] = &[#(Self::#defaults),*];

            /// The scope string sent to the provider.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    #(#as_str,)*
                }
            }
        }

        impl ::core::convert::AsRef<str> for #scope {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::core::fmt::Display for #scope {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for #scope {
            type Err = #rt::UnknownScope;

            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                #from_str_body
            }
        }

        impl #rt::serde::Serialize for #scope {
            fn serialize<S: #rt::serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> #rt::serde::Deserialize<'de> for #scope {
            fn deserialize<D: #rt::serde::Deserializer<'de>>(deserializer: D) -> ::core::result::Result<Self, D::Error> {
                #rt::deserialize_from_str(deserializer)
            }
        }
    }
}

/// Items for one provider: the provider type, its scope enum and its capability impls.
/// `attrs` and `vis` come from the macro's input struct; the other front ends pass nothing.
pub fn provider(p: &Provider, attrs: &[syn::Attribute], vis: &TokenStream) -> TokenStream {
    let rt = quote!(::oauthgen_runtime::__private);
    let (ty, scope) = (&p.type_name, &p.scope_type);
    let s = &p.spec;
    let name = &s.name;
    let spec_const = spec_const(p);
    let mut type_doc = vec![format!("{name} (`{}`), generated by oauthgen from `{}`.", s.id, p.source)];
    type_doc.push(String::new());
    type_doc.push(format!(
        "Capabilities: {}.",
        p.capabilities.names().iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
    ));
    if let Some(d) = &s.docs {
        type_doc.push(String::new());
        type_doc.push(format!("Provider documentation: <{d}>"));
    }
    let type_doc = type_doc.iter().map(|l| doc(l));
    let required: Vec<&Variable> = p.variables.iter().filter(|v| v.default.is_none()).collect();
    let req_args = required.iter().map(|v| {
        let arg = &v.arg;
        quote!(#arg: impl ::core::convert::Into<::std::string::String>)
    });
    let req_args2 = req_args.clone();
    let req_sets = required.iter().map(|v| {
        let (arg, n) = (&v.arg, &v.name);
        quote!(config.set_variable(#n, #arg.into());)
    });
    let req_sets2 = req_sets.clone();
    let mut args_doc = Vec::new();
    for v in &required {
        let ex = v.example.as_ref().map(|e| format!(" (e.g. `{e}`)")).unwrap_or_default();
        args_doc.push(format!("- `{}`: {}{ex}", v.name, v.description));
    }
    let args_doc = if args_doc.is_empty() {
        quote!()
    } else {
        let head = "Arguments:".to_owned();
        let head = doc(&head);
        let lines = args_doc.iter().map(|l| doc(l));
        quote!(#[doc = ""] #head #(#lines)*)
    };
    let setters = p.variables.iter().map(|v| {
        let (setter, n) = (&v.setter, &v.name);
        let mut d = format!("Sets `{{{n}}}`: {}", v.description);
        if let Some(def) = &v.default {
            let _ = write!(d, " (default `{def}`)");
        }
        let d = doc(&d);
        quote! {
            #d
            #[must_use]
            pub fn #setter(mut self, value: impl ::core::convert::Into<::std::string::String>) -> Self {
                self.config.set_variable(#n, value.into());
                self
            }
        }
    });
    let c = p.capabilities;
    let caps = [
        (c.authorization_code, quote!(AuthorizationCode)),
        (c.refresh, quote!(Refresh)),
        (c.device_code, quote!(DeviceFlow)),
        (c.client_credentials, quote!(ClientCredentials)),
        (c.jwt_bearer, quote!(ServiceAccount)),
        (c.revocation, quote!(Revocation)),
        (c.introspection, quote!(Introspection)),
        (c.userinfo, quote!(UserInfo)),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, t)| quote!(impl #rt::#t for #ty {}));
    let scope_enum = scope_enum(p);
    let new_doc = doc(&format!("A confidential {name} client: a client id and secret registered with {name}."));
    let public_doc = doc(&format!("A public {name} client (no client secret), as used by installed and browser apps."));
    quote! {
        #(#attrs)*
        #(#type_doc)*
        #[derive(Clone, Debug)]
        #vis struct #ty {
            config: #rt::ProviderConfig,
        }

        impl #ty {
            /// The spec this type was generated from, as static data.
            pub const SPEC: &'static #rt::spec::ProviderSpec = &#spec_const;

            #new_doc
            #args_doc
            #[must_use]
            pub fn new(
                #(#req_args,)*
                client_id: impl ::core::convert::Into<::std::string::String>,
                client_secret: impl ::core::convert::Into<::std::string::String>,
            ) -> Self {
                #[allow(unused_mut, reason = "mutated only when the spec has required variables")]
                let mut config = #rt::ProviderConfig::new(Self::SPEC, client_id.into(), ::core::option::Option::Some(client_secret.into()));
                #(#req_sets)*
                Self { config }
            }

            #public_doc
            #args_doc
            #[must_use]
            pub fn public(
                #(#req_args2,)*
                client_id: impl ::core::convert::Into<::std::string::String>,
            ) -> Self {
                #[allow(unused_mut, reason = "mutated only when the spec has required variables")]
                let mut config = #rt::ProviderConfig::new(Self::SPEC, client_id.into(), ::core::option::Option::None);
                #(#req_sets2)*
                Self { config }
            }

            #(#setters)*
        }

        impl #rt::Provider for #ty {
            type Scope = #scope;

            fn config(&self) -> &#rt::ProviderConfig {
                &self.config
            }

            fn config_mut(&mut self) -> &mut #rt::ProviderConfig {
                &mut self.config
            }
        }

        #(#caps)*

        #scope_enum
    }
}

/// Format tokens as a file with `prettyplease`, under a `@generated` header.
pub fn format_file(tokens: &TokenStream, sources: &[&str]) -> Result<String, syn::Error> {
    let file: syn::File = syn::parse2(tokens.clone())?;
    let mut out = String::new();
    for s in sources {
        let _ = writeln!(out, "// @generated by oauthgen from {s}");
    }
    out.push_str("// Do not edit: change the spec and generate again.\n\n");
    out.push_str(&prettyplease::unparse(&file));
    Ok(out)
}
