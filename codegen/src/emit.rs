//! Emission: IR to tokens with `quote`, and tokens to a formatted file with `prettyplease`.

use std::fmt::Write as _;

use proc_macro2::TokenStream;
use quote::quote;

use oauthgen_spec::{
    ApiSpec, Audience, BodyFormat, Capability, CertificateThumbprint, ClientAuth, ClientCredentialsSpec,
    DeviceCodeSpec, Dpop, Endpoint, EndpointTemplates, ExpiresIn, FieldType, GrantsSpec, IdTokenAlgorithm,
    JwtAlgorithm, JwtBearerSpec, KeyFormat, List, LoopbackHost, Pkce, ProviderSpec, RedirectSpec, RefreshSpec,
    ResponseFormat, Str, Subject, TimeUnit, TokenExchangeSpec, TokenField, TokenRequestSpec, TokenResponseSpec,
    VariableSpec,
};
use quote::format_ident;

use crate::ir::{Field, Provider, Scope, Variable};

/// Spec prose (descriptions, names) as rustdoc Markdown that renders as written: `<`, `>`,
/// `[` and `]` are escaped (no HTML tags, no intra-doc links), and bare URLs outside code
/// spans become autolinks. Backtick code spans are kept.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_code && (rest.starts_with("https://") || rest.starts_with("http://")) {
            let end = rest.find(|c: char| c.is_whitespace() || "<>`\"'()[]{},;".contains(c)).unwrap_or(rest.len());
            let url = rest[..end].trim_end_matches(['.', ':', '!', '?']);
            out.push('<');
            out.push_str(url);
            out.push('>');
            rest = &rest[url.len()..];
            continue;
        }
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            '[' | ']' if !in_code => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// `#[doc = " text"]`: the leading space makes prettyplease print `/// text`.
fn doc(text: &str) -> TokenStream {
    if text.is_empty() {
        return quote!(#[doc = ""]);
    }
    let text = format!(" {text}");
    quote!(#[doc = #text])
}

/// How a value of the model ([`oauthgen_spec`]) is written as Rust in generated code: the one
/// place that knows it. `rt` is the path of the model in the runtime
/// (`::oauthgen_runtime::__private::spec`).
trait Literal {
    fn literal(&self, rt: &TokenStream) -> TokenStream;
}

impl Literal for Str {
    fn literal(&self, _: &TokenStream) -> TokenStream {
        let text: &str = self;
        quote!(::std::borrow::Cow::Borrowed(#text))
    }
}

impl<T: Literal + Clone> Literal for List<T> {
    fn literal(&self, rt: &TokenStream) -> TokenStream {
        let items = self.iter().map(|item| item.literal(rt));
        quote!(::std::borrow::Cow::Borrowed(&[#(#items),*]))
    }
}

impl<T: Literal> Literal for Option<T> {
    fn literal(&self, rt: &TokenStream) -> TokenStream {
        match self {
            Some(value) => {
                let value = value.literal(rt);
                quote!(::core::option::Option::Some(#value))
            }
            None => quote!(::core::option::Option::None),
        }
    }
}

impl<A: Literal, B: Literal> Literal for (A, B) {
    fn literal(&self, rt: &TokenStream) -> TokenStream {
        let (a, b) = (self.0.literal(rt), self.1.literal(rt));
        quote!((#a, #b))
    }
}

impl Literal for bool {
    fn literal(&self, _: &TokenStream) -> TokenStream {
        quote!(#self)
    }
}

impl Literal for u32 {
    fn literal(&self, _: &TokenStream) -> TokenStream {
        quote!(#self)
    }
}

/// The fieldless enums of the model: `rt::Type::Variant`, the variant named by its `Debug`.
macro_rules! enum_literals {
    ($($ty:ident),* $(,)?) => {$(
        impl Literal for $ty {
            fn literal(&self, rt: &TokenStream) -> TokenStream {
                let variant = format_ident!("{self:?}");
                quote!(#rt::$ty::#variant)
            }
        }
    )*};
}

enum_literals!(
    ClientAuth,
    Pkce,
    Dpop,
    BodyFormat,
    ResponseFormat,
    ExpiresIn,
    TimeUnit,
    KeyFormat,
    JwtAlgorithm,
    CertificateThumbprint,
    Subject,
    LoopbackHost,
    IdTokenAlgorithm,
    FieldType,
    Endpoint
);

/// Structs of the model: every field named (destructured, so a new field is a compile error
/// here until it is written out).
macro_rules! struct_literal {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl Literal for $ty {
            fn literal(&self, rt: &TokenStream) -> TokenStream {
                let $ty { $($field),* } = self;
                $(let $field = $field.literal(rt);)*
                quote!(#rt::$ty { $($field: #$field),* })
            }
        }
    };
}

struct_literal!(ProviderSpec {
    id,
    name,
    docs,
    endpoints,
    variables,
    client_auth,
    endpoint_client_auth,
    pkce,
    scope_separator,
    default_scopes,
    authorize_params,
    request_headers,
    param_names,
    endpoint_param_names,
    client_assertion_audience,
    client_assertion_algorithm,
    client_assertion_thumbprint,
    dpop,
    token_request,
    token_response,
    refresh,
    api,
    grants,
    redirect,
    oidc_issuer,
    oidc_jwks_uri,
    oidc_algorithms,
    oidc_sends_iss,
});
struct_literal!(EndpointTemplates {
    authorization,
    token,
    revocation,
    device_authorization,
    userinfo,
    introspection,
    refresh,
    end_session,
    pushed_authorization,
});
struct_literal!(VariableSpec { name, description, default, pattern, values, path, origin, from_callback });
struct_literal!(TokenRequestSpec { body_format, params, code_params, refresh_params });
struct_literal!(TokenResponseSpec {
    format,
    expires_in,
    expires_in_unit,
    error_in_200,
    root,
    lifetime_field,
    refresh_token_expires_in,
    scope_separator,
    scope_field,
    fields
});
struct_literal!(TokenField { name, kind, required, pattern, example });
struct_literal!(ApiSpec { base_url, headers });
struct_literal!(RefreshSpec { rotates, returns_refresh_token, requires_scope, sends_redirect_uri, margin_seconds });
struct_literal!(GrantsSpec {
    authorization_code,
    refresh_token,
    device_code,
    client_credentials,
    jwt_bearer,
    token_exchange
});
struct_literal!(TokenExchangeSpec { params, token_endpoint });
struct_literal!(DeviceCodeSpec { default_interval });
struct_literal!(ClientCredentialsSpec { token_endpoint, params, grant_type });
struct_literal!(JwtBearerSpec { key_format, algorithm, audience, subject });
struct_literal!(RedirectSpec { loopback_host, callback_params });

impl Literal for Audience {
    fn literal(&self, rt: &TokenStream) -> TokenStream {
        match self {
            Self::TokenEndpoint => quote!(#rt::Audience::TokenEndpoint),
            Self::Endpoint => quote!(#rt::Audience::Endpoint),
            Self::Issuer => quote!(#rt::Audience::Issuer),
            Self::Literal(value) => {
                let value = value.literal(rt);
                quote!(#rt::Audience::Literal(#value))
            }
        }
    }
}

fn scope_enum(p: &Provider, runtime: &TokenStream) -> TokenStream {
    let (ty, scope) = (&p.type_name, &p.scope_type);
    let name = &p.spec.name;
    let enum_doc = doc(&format!("A scope of [`{ty}`], as declared in `{}`.", p.source));
    let variants = p.scopes.iter().map(|Scope { variant, value, description, .. }| {
        let description = doc(&prose(description));
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
    let rt = quote!(#runtime::__private);
    let from_str_body = if p.scopes.is_empty() {
        quote!(::core::result::Result::Err(#rt::UnknownScope::new(&#ty::SPEC.id, s)))
    } else {
        quote! {
            match s {
                #(#from_str,)*
                _ => ::core::result::Result::Err(#rt::UnknownScope::new(&#ty::SPEC.id, s)),
            }
        }
    };
    let all = p.scopes.iter().map(|s| &s.variant);
    let defaults = p.scopes.iter().filter(|s| s.default).map(|s| &s.variant);
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

/// The path generated code uses for the runtime crate unless told otherwise.
pub fn default_runtime() -> TokenStream {
    quote!(::oauthgen_runtime)
}

/// Items for one provider: the provider type, its scope enum and its capability impls.
/// `attrs` and `vis` come from the macro's input struct; the other front ends pass nothing.
/// `runtime` is the path of the runtime crate ([`default_runtime`], or the user's when it is
/// renamed or re-exported).
pub fn provider(p: &Provider, attrs: &[syn::Attribute], vis: &TokenStream, runtime: &TokenStream) -> TokenStream {
    let rt = quote!(#runtime::__private);
    let (ty, scope) = (&p.type_name, &p.scope_type);
    let s = &p.spec;
    let name = &s.name;
    let spec_const = s.literal(&quote!(#rt::spec));
    let mut type_doc = vec![format!("{} (`{}`), generated by oauthgen from `{}`.", prose(name), s.id, p.source)];
    type_doc.push(String::new());
    type_doc
        .push(format!("Capabilities: {}.", s.capabilities().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")));
    if let Some(d) = &s.docs {
        type_doc.push(String::new());
        type_doc.push(format!("Provider documentation: <{d}>"));
    }
    let type_doc = type_doc.iter().map(|l| doc(l));
    let required: Vec<&Variable> = p.variables.iter().filter(|v| v.default.is_none() && !v.optional).collect();
    // A variable with `values` takes its enum; any other a string.
    let value_type = |v: &Variable| match &v.choices {
        Some((ty, _)) => quote!(#ty),
        None => quote!(impl ::core::convert::Into<::std::string::String>),
    };
    let value_string = |v: &Variable, arg: &dyn quote::ToTokens| match &v.choices {
        Some(_) => quote!(#arg.as_str().into()),
        None => quote!(#arg.into()),
    };
    let req_args = required.iter().map(|v| {
        let (arg, ty) = (&v.arg, value_type(v));
        quote!(#arg: #ty)
    });
    let req_args2 = req_args.clone();
    let req_sets = required.iter().map(|v| {
        let (arg, n) = (&v.arg, &v.name);
        let value = value_string(v, arg);
        quote!(config.set_variable(#n, #value);)
    });
    let req_sets2 = req_sets.clone();
    let mut args_doc = Vec::new();
    for v in &required {
        let ex = v.example.as_ref().map(|e| format!(" (e.g. `{e}`)")).unwrap_or_default();
        args_doc.push(format!("- `{}`: {}{ex}", v.name, prose(&v.description)));
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
        let mut d = format!("Sets `{{{n}}}`: {}", prose(&v.description));
        if let Some(def) = &v.default {
            let _ = write!(d, " (default `{def}`)");
        }
        if v.optional {
            d.push_str(" (optional: without it, the spec's fallback URLs apply)");
        }
        let d = doc(&d);
        let ty = value_type(v);
        let value = value_string(v, &quote!(value));
        quote! {
            #d
            #[must_use]
            pub fn #setter(mut self, value: #ty) -> Self {
                self.config.set_variable(#n, #value);
                self
            }
        }
    });
    let value_enums = p.variables.iter().filter_map(|v| {
        let (ty, choices) = v.choices.as_ref()?;
        let head = doc(&format!("The values of `{{{}}}` for [`{}`]: {}", v.name, p.type_name, prose(&v.description)));
        let variants = choices.iter().map(|(variant, value)| {
            let d = doc(&format!("`{value}`"));
            quote!(#d #variant)
        });
        let arms = choices.iter().map(|(variant, value)| quote!(Self::#variant => #value));
        let all = choices.iter().map(|(variant, _)| quote!(Self::#variant));
        Some(quote! {
            #head
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            #vis enum #ty {
                #(#variants,)*
            }

            impl #ty {
                /// Every value, in the spec's order.
                pub const ALL: &'static [Self] = &[#(#all),*];

                /// The value as the spec writes it.
                #[must_use]
                pub const fn as_str(self) -> &'static str {
                    match self {
                        #(#arms,)*
                    }
                }
            }

            impl ::core::fmt::Display for #ty {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(self.as_str())
                }
            }
        })
    });
    let caps = s.capabilities().map(|c: Capability| {
        let t = format_ident!("{}", c.trait_name());
        quote!(impl #rt::#t for #ty {})
    });
    let scope_enum = scope_enum(p, runtime);
    let fields_trait = fields_trait(p, vis, runtime);
    let api_base_url = s.api.base_url.as_ref().map(|template| {
        let d = doc(&format!(
            "The API's base URL for these credentials: `{template}` filled in from the provider's variables and the credentials' token-response fields."
        ));
        quote! {
            #d
            ///
            /// # Errors
            ///
            /// When a field it needs is missing from the credentials, or the URL it makes is
            /// not `https` (loopback aside).
            pub fn api_base_url(&self, credentials: &#runtime::Credentials) -> ::core::result::Result<#runtime::Url, #runtime::Error> {
                self.config.api_base_url(credentials)
            }
        }
    });
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

            #api_base_url
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

        #(#value_enums)*

        #fields_trait
    }
}

/// The trait of accessors for the spec's typed token-response fields, implemented for the
/// runtime's `Credentials`; nothing when the spec declares none.
fn fields_trait(p: &Provider, vis: &TokenStream, runtime: &TokenStream) -> TokenStream {
    if p.fields.is_empty() {
        return quote!();
    }
    let (name, ty) = (&p.spec.name, &p.fields_trait);
    let head = doc(&format!(
        "The typed fields of {} token responses, read from `Credentials` (`use` this trait to call them).",
        prose(name)
    ));
    let signature = |f: &Field| {
        let accessor = &f.accessor;
        match f.kind {
            FieldType::String => quote!(fn #accessor(&self) -> ::core::option::Option<&str>),
            FieldType::Url => quote!(fn #accessor(&self) -> ::core::option::Option<#runtime::Url>),
            FieldType::Integer => quote!(fn #accessor(&self) -> ::core::option::Option<i64>),
            FieldType::Boolean => quote!(fn #accessor(&self) -> ::core::option::Option<bool>),
        }
    };
    let decls = p.fields.iter().map(|f| {
        let example = f.example.as_ref().map(|e| format!(" (e.g. `{e}`)")).unwrap_or_default();
        let d = doc(&format!("`{}`: {}{example}", f.name, prose(&f.description)));
        let sig = signature(f);
        quote!(#d #sig;)
    });
    let impls = p.fields.iter().map(|f| {
        let sig = signature(f);
        let n = &f.name;
        let getter = match f.kind {
            FieldType::String => quote!(field_str),
            FieldType::Url => quote!(field_url),
            FieldType::Integer => quote!(field_i64),
            FieldType::Boolean => quote!(field_bool),
        };
        quote!(#sig { self.#getter(#n) })
    });
    quote! {
        #head
        #vis trait #ty {
            #(#decls)*
        }

        impl #ty for #runtime::Credentials {
            #(#impls)*
        }
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

#[cfg(test)]
mod tests {
    use super::prose;

    #[test]
    fn prose_renders_as_written() {
        assert_eq!(prose("an <instance>.zitadel.cloud domain"), "an &lt;instance&gt;.zitadel.cloud domain");
        assert_eq!(prose("under a path (https://host/jira) only."), "under a path (<https://host/jira>) only.");
        assert_eq!(prose("see https://x.example/a."), "see <https://x.example/a>.");
        assert_eq!(prose("`<kept>` and [a]"), "`<kept>` and \\[a\\]");
        assert_eq!(prose("`https://in.code`"), "`https://in.code`");
        assert_eq!(prose("naïve ✓"), "naïve ✓");
    }
}
