//! The fuzz targets' bodies, one function per target: each turns any input into a value or
//! an error through the parsers of untrusted data, and must never panic, hang or exhaust
//! memory. `fuzz_targets/` wraps them for libFuzzer; the workspace's ordinary test suite
//! (`tests/tests/fuzz_corpus.rs`) includes this file to replay the committed corpus and every
//! crash found (`fuzz/regressions/`) on stable Rust.
//!
//! Only `oauthgen-codegen`, `oauthgen-runtime`, `oauthgen-providers` and `std` may be used
//! here: the test suite includes this file as a module.

use std::sync::OnceLock;
use std::time::Duration;

use oauthgen_runtime::Endpoint;
use oauthgen_runtime::fuzz::{
    credentials_file, device_authorization, introspection, loopback_request, store_file, token_response,
};
use oauthgen_runtime::interop::{authorized_user, oauth2client};
use oauthgen_runtime::oidc::{Expectations, JwkSet, decode_unverified, verify_id_token};
use oauthgen_runtime::spec::{IdTokenAlgorithm, ProviderSpec};
use oauthgen_runtime::{Callback, ServiceAccountKey};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The targets, by name: the name of each directory under `fuzz/corpus/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("spec_yaml", spec_yaml),
    ("token_response", token_response_target),
    ("callback", callback),
    ("credential_files", credential_files),
    ("device_introspection", device_introspection),
    ("id_token", id_token),
];

/// A spec file, through the whole front end: YAML with positions, the schema, the checks,
/// located diagnostics rendered with their source lines; a spec that passes is lowered and
/// emitted as Rust.
pub fn spec_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match oauthgen_codegen::parse_str("fuzz.yaml", text) {
        Ok(spec) => {
            let _ = oauthgen_codegen::ir::provider_spec(&spec);
            let _ = oauthgen_codegen::generate_file(&[("fuzz.yaml", &spec)]);
        }
        Err(diagnostics) => {
            assert!(!diagnostics.to_string().is_empty(), "a refused spec names its errors");
        }
    }
}

/// A token endpoint's answer (code exchange or refresh; the first byte picks), read with a
/// bundled spec's settings: refusals, the clean-up, `oauth2`'s parse, the credentials.
pub fn token_response_target(data: &[u8]) {
    let Some((&endpoint, rest)) = data.split_first() else { return };
    let Some(answer) = Answer::read(rest) else { return };
    let endpoint = if endpoint % 2 == 0 { Endpoint::Token } else { Endpoint::Refresh };
    if let Ok(credentials) = token_response(answer.spec, endpoint, answer.status, answer.content_type, answer.body) {
        // What a caller does next with credentials: none of it may panic.
        let _ = credentials.expires_within(Duration::from_secs(60));
        let _ = credentials.is_usable();
        let _ = credentials.id_token_claims();
        let _ = format!("{credentials:?}");
    }
}

/// What a browser sends back: the callback's query string and URL, and the raw request the
/// loopback listener reads, arriving in reads of any size (the first byte sizes them).
pub fn callback(data: &[u8]) {
    if let Some((&size, bytes)) = data.split_first() {
        let size = usize::from(size).max(1);
        if let Some((_path, query)) = loopback_request(bytes.chunks(size)) {
            let _ = Callback::from_query(&query);
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(callback) = Callback::from_query(&text) {
        let _ = format!("{callback:?}");
    }
    let _ = Callback::from_url(&text);
}

/// Credential files: oauth2client's `Storage` file, `authorized_user`, a service account's
/// JSON key and PEM keys, `GOOGLE_APPLICATION_CREDENTIALS`, and the file store's JSON.
pub fn credential_files(data: &[u8]) {
    let _ = store_file(data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((credentials, client)) = oauth2client::read(text) {
        // What is read can be written back.
        let _ = oauth2client::write(&credentials, &client);
    }
    if let Ok(user) = authorized_user::read(text) {
        let _ = authorized_user::write(&user);
    }
    let _ = ServiceAccountKey::from_google_json(text);
    let _ = ServiceAccountKey::from_pem("fuzz@example.iam.gserviceaccount.com", text, None);
    let _ = credentials_file(text);
}

/// A device authorization endpoint's and an introspection endpoint's answers, with a
/// bundled spec's settings.
pub fn device_introspection(data: &[u8]) {
    let Some(answer) = Answer::read(data) else { return };
    if let Ok(device) = device_authorization(answer.spec, answer.status, answer.content_type, answer.body) {
        let _ = format!("{device:?}");
    }
    if let Ok(info) = introspection(answer.spec, answer.status, answer.content_type, answer.body) {
        let _ = format!("{info:?}");
    }
}

/// The issuer, audience, nonce and time the seeds' ID tokens are valid for.
pub const ID_TOKEN_EXPECT: Expectations<'static> = Expectations {
    issuer: "https://op.example",
    client_id: "fuzz-client",
    algorithms: &[IdTokenAlgorithm::Rs256, IdTokenAlgorithm::Es256, IdTokenAlgorithm::EdDsa],
    nonce: Some("fuzz-nonce"),
    leeway: Duration::from_secs(60),
    now: 1_800_000_000,
};

/// An input of [`id_token`]: a JWKS document (its length in the first two bytes) and a
/// compact JWS.
pub fn split_id_token(data: &[u8]) -> Option<(&[u8], String)> {
    let (&[hi, lo], rest) = data.split_first_chunk::<2>()?;
    let split = usize::from(u16::from_be_bytes([hi, lo])).min(rest.len());
    let (jwks, token) = rest.split_at(split);
    Some((jwks, String::from_utf8_lossy(token).into_owned()))
}

/// ID tokens and JWK sets: a token checked against the set (and decoded without a check, as
/// `Credentials::id_token_claims` does).
pub fn id_token(data: &[u8]) {
    let Some((jwks, token)) = split_id_token(data) else { return };
    let _ = decode_unverified(&token);
    if let Ok(keys) = JwkSet::from_json(jwks) {
        let _ = keys.len();
        let _ = verify_id_token(&token, &keys, &ID_TOKEN_EXPECT);
    }
}

/// Every bundled spec, lowered as the runtime sees it, in id order.
pub fn specs() -> &'static [ProviderSpec] {
    static SPECS: OnceLock<Vec<ProviderSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        // A variant's base is another bundled spec.
        let bundled = |base: &str| {
            let (id, text) = oauthgen_providers::SPEC_SOURCES
                .iter()
                .find(|(id, _)| *id == base)
                .ok_or_else(|| format!("no bundled spec `{base}`"))?;
            Ok((std::path::PathBuf::from(format!("specs/{id}.yaml")), (*text).to_owned()))
        };
        oauthgen_providers::SPEC_SOURCES
            .iter()
            .map(|(id, text)| {
                let spec = oauthgen_codegen::parse_with(format!("specs/{id}.yaml"), text, &bundled)
                    .unwrap_or_else(|d| panic!("bundled spec {id}: {d}"));
                oauthgen_codegen::ir::provider_spec(&spec)
            })
            .collect()
    })
}

/// HTTP statuses a provider answers with, below the 5xx and 429 the transport handles
/// before any body is read.
pub const STATUSES: &[u16] = &[200, 200, 200, 201, 204, 302, 400, 400, 401, 403, 404, 409, 422];

/// `Content-Type` values, `None` for none.
pub const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain"),
    Some("text/html"),
    None,
];

/// An input as a provider's answer: the first byte picks the spec, the second the status,
/// the third the content type; the rest is the body.
pub struct Answer<'a> {
    /// The spec of the provider answering.
    pub spec: &'static ProviderSpec,
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: Option<&'static str>,
    /// The body.
    pub body: &'a [u8],
}

impl<'a> Answer<'a> {
    /// `None` for inputs shorter than the three choices.
    pub fn read(data: &'a [u8]) -> Option<Self> {
        let (&[spec, status, content_type], body) = data.split_first_chunk::<3>()?;
        let specs = specs();
        Some(Self {
            spec: &specs[usize::from(spec) % specs.len()],
            status: STATUSES[usize::from(status) % STATUSES.len()],
            content_type: CONTENT_TYPES[usize::from(content_type) % CONTENT_TYPES.len()],
            body,
        })
    }
}
