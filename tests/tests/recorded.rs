//! Token responses copied from providers' own documentation, replayed through the runtime's
//! token-response normaliser with the bundled spec of that provider.
//!
//! `tests/fixtures/providers/<id>/` holds, for the bundled provider `<id>`:
//!
//! - response bodies, `<name>.json` or `<name>.txt` (form bodies), copied verbatim from a
//!   documentation page;
//! - for each, `<name>.expect.json`: what that page says the response means (the access
//!   token, the lifetime in seconds, the refresh token, the scopes, or the error code);
//! - `SOURCES.md`: where each body was copied from, and when.
//!
//! Every fixture in the directory is replayed, so a new one is picked up without editing this
//! file. A documented response the spec cannot read is listed in [`KNOWN_MISMATCHES`], and
//! asserted to still fail: when the spec learns the shape, the entry must go.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use oauthgen_runtime::normalize::normalize;
use oauthgen_runtime::spec::ProviderSpec;
use serde::Deserialize;
use serde_json::{Map, Value};

/// A documented response the bundled spec (or the runtime) does not read as documented.
struct Mismatch {
    provider: &'static str,
    fixture: &'static str,
    /// Text the failure must contain: the test fails when the fixture starts failing for
    /// another reason.
    fails_with: &'static str,
    /// The evidence, shown when the entry goes stale.
    why: &'static str,
}

/// Documented responses that are not read as documented; each is asserted to still fail,
/// for the reason given. (GitHub's comma-separated granted scopes are read with
/// `token_response.scope_separator`, and Tumblr's `"id_token": false` is dropped;
/// the `scopes` array of `HubSpot` is read with `token_response.scope_field`.)
const KNOWN_MISMATCHES: &[Mismatch] = &[];

/// What a fixture's documentation says about it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// The HTTP status the page shows (default 200 for a success, 400 for an error).
    status: Option<u16>,
    /// The `Content-Type` the page shows (default from the file's extension).
    content_type: Option<String>,
    /// The access token of a success.
    access_token: Option<String>,
    /// The lifetime in seconds; `null`: the response states none. Required for a success.
    #[serde(default, deserialize_with = "present")]
    expires_in: Option<Value>,
    /// The refresh token; `null`: none. Required for a success.
    #[serde(default, deserialize_with = "present")]
    refresh_token: Option<Value>,
    /// The granted scopes, space-separated, when the response names them.
    scope: Option<String>,
    /// The refresh token's lifetime in seconds, under the spec's `refresh_token_expires_in`.
    refresh_token_expires_in: Option<u64>,
    /// The response carries an ID token.
    #[serde(default)]
    id_token: bool,
    /// The spec's typed `token_response.fields`, as the normaliser leaves them (integers and
    /// booleans as JSON, whatever the response sent).
    #[serde(default)]
    fields: Map<String, Value>,
    /// The error code of a refusal.
    error: Option<String>,
    /// Free text: how the expectation was read from the page.
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for readers of the fixture")]
    note: Option<String>,
}

/// A key that is present, even as `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The fields `oauth2`'s standard token response requires, with its types.
#[derive(Debug, Deserialize)]
struct Issued {
    access_token: String,
    #[allow(dead_code, reason = "required to be a string, as `oauth2` requires it")]
    token_type: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    scope: Option<String>,
    id_token: Option<String>,
}

struct Fixture {
    provider: String,
    name: String,
    body: PathBuf,
    expect: PathBuf,
}

impl Fixture {
    fn label(&self) -> String {
        format!("{}/{}", self.provider, self.name)
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/providers")
}

/// The bundled spec of `id`, lowered as the runtime sees it.
fn spec(id: &str) -> ProviderSpec {
    let (_, text) = oauthgen_providers::SPEC_SOURCES
        .iter()
        .find(|(bundled, _)| *bundled == id)
        .unwrap_or_else(|| panic!("fixtures for `{id}`, which is no bundled provider"));
    let spec = oauthgen_codegen::parse_str(format!("specs/{id}.yaml"), text).unwrap_or_else(|d| panic!("{d}"));
    oauthgen_codegen::ir::provider_spec(&spec)
}

/// Every fixture, in path order; panics on a stray file.
fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    let mut providers: Vec<_> = std::fs::read_dir(root()).unwrap().map(|e| e.unwrap().path()).collect();
    providers.sort();
    for dir in providers {
        assert!(dir.is_dir(), "{} is not a provider directory", dir.display());
        let provider = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let names: BTreeSet<String> =
            files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert!(names.contains("SOURCES.md"), "{provider}: no SOURCES.md");
        let sources = std::fs::read_to_string(dir.join("SOURCES.md")).unwrap();
        for file in &files {
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            if file_name == "SOURCES.md" || file_name.ends_with(".expect.json") {
                continue;
            }
            let Some(name) = file_name.strip_suffix(".json").or_else(|| file_name.strip_suffix(".txt")) else {
                panic!("{provider}: unexpected file {file_name}");
            };
            let expect = dir.join(format!("{name}.expect.json"));
            assert!(expect.is_file(), "{provider}/{file_name}: no {name}.expect.json");
            assert!(sources.contains(&format!("`{file_name}`")), "{provider}/SOURCES.md does not name `{file_name}`");
            out.push(Fixture { provider: provider.clone(), name: name.to_owned(), body: file.clone(), expect });
        }
        for file_name in &names {
            if let Some(name) = file_name.strip_suffix(".expect.json") {
                assert!(
                    names.contains(&format!("{name}.json")) || names.contains(&format!("{name}.txt")),
                    "{provider}/{file_name} has no body"
                );
            }
        }
    }
    out
}

/// Replay one fixture: `Ok` when the normaliser's outcome is what the documentation says.
fn replay(fixture: &Fixture) -> Result<(), String> {
    let spec = spec(&fixture.provider);
    let text = std::fs::read_to_string(&fixture.expect).unwrap();
    let expect: Expect = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}.expect.json: {e}", fixture.label()));
    let body = std::fs::read(&fixture.body).unwrap();
    let form = fixture.body.extension().is_some_and(|e| e == "txt");
    let content_type = expect
        .content_type
        .clone()
        .unwrap_or_else(|| if form { "application/x-www-form-urlencoded" } else { "application/json" }.to_owned());
    let status = expect.status.unwrap_or(if expect.error.is_some() { 400 } else { 200 });
    let n = normalize(&spec.token_response, &spec.scope_separator, status, Some(&content_type), &body)
        .map_err(|m| format!("the normaliser refused it: {}", m.0))?;
    if let Some(code) = &expect.error {
        assert!(expect.access_token.is_none(), "{}: an error with an access token", fixture.label());
        if (200..300).contains(&n.status) {
            return Err(format!("an error read as a success (HTTP {})", n.status));
        }
        return match n.body.get("error") {
            Some(Value::String(found)) if found == code => Ok(()),
            other => Err(format!("error code {other:?}, expected {code:?}")),
        };
    }
    success(&expect, spec.token_response.refresh_token_expires_in.as_deref(), n.status, n.body)
}

/// Check a success against `expect`; `refresh_lifetime` is the spec's name of the refresh
/// token's lifetime field.
fn success(
    expect: &Expect,
    refresh_lifetime: Option<&str>,
    status: u16,
    body: Map<String, Value>,
) -> Result<(), String> {
    if !(200..300).contains(&status) {
        return Err(format!("a success read as an error (HTTP {status}, {:?})", body.get("error")));
    }
    let extra = body.clone();
    let token: Issued =
        serde_json::from_value(Value::Object(body)).map_err(|e| format!("not a standard token response: {e}"))?;
    let mut problems = String::new();
    let want = expect.access_token.as_deref().expect("a success names its access token");
    if token.access_token != want {
        let _ = write!(problems, "access_token {:?}, expected {want:?}; ", token.access_token);
    }
    match &expect.expires_in {
        None => panic!("a success must state `expires_in` (null when the docs show none)"),
        Some(Value::Null) if token.expires_in.is_some() => {
            let _ = write!(problems, "expires_in {:?}, expected none; ", token.expires_in);
        }
        Some(Value::Null) => {}
        Some(v) => {
            let want = v.as_u64().expect("`expires_in` is whole seconds");
            if token.expires_in != Some(want) {
                let _ = write!(problems, "expires_in {:?}, expected {want}; ", token.expires_in);
            }
        }
    }
    match &expect.refresh_token {
        None => panic!("a success must state `refresh_token` (null when the docs show none)"),
        Some(v) => {
            let want = v.as_str();
            if token.refresh_token.as_deref() != want {
                let _ = write!(problems, "refresh_token {:?}, expected {want:?}; ", token.refresh_token);
            }
        }
    }
    if let Some(want) = &expect.scope
        && token.scope.as_deref() != Some(want.as_str())
    {
        let _ = write!(problems, "scope {:?}, expected {want:?}; ", token.scope);
    }
    if let Some(want) = expect.refresh_token_expires_in {
        // Only a field the spec names is read as a lifetime.
        match refresh_lifetime {
            None => {
                let _ = write!(problems, "the spec names no refresh token lifetime field (expected {want}); ");
            }
            Some(field) => {
                let found = extra.get(field);
                if found.and_then(Value::as_u64) != Some(want) {
                    let _ = write!(problems, "{field} {found:?}, expected {want}; ");
                }
            }
        }
    }
    for (name, want) in &expect.fields {
        if extra.get(name) != Some(want) {
            let _ = write!(problems, "field {name} {:?}, expected {want}; ", extra.get(name));
        }
    }
    if expect.id_token != token.id_token.is_some() {
        let _ = write!(problems, "id_token {:?}, expected one: {}; ", token.id_token.is_some(), expect.id_token);
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// Every documented response is read as its documentation says, except the known mismatches,
/// which still fail.
#[test]
fn documented_responses_replay() {
    let fixtures = fixtures();
    let mut failures = String::new();
    let mut providers = BTreeSet::new();
    for fixture in &fixtures {
        providers.insert(fixture.provider.clone());
        let known = KNOWN_MISMATCHES.iter().find(|m| m.provider == fixture.provider && m.fixture == fixture.name);
        match (replay(fixture), known) {
            (Ok(()), None) => {}
            (Err(e), Some(m)) if e.contains(m.fails_with) => {}
            (Err(e), Some(m)) => {
                let _ = writeln!(failures, "{}: fails, but not with {:?}: {e}", fixture.label(), m.fails_with);
            }
            (Err(e), None) => {
                let _ = writeln!(failures, "{} ({}): {e}", fixture.label(), fixture.body.display());
            }
            (Ok(()), Some(m)) => {
                let _ = writeln!(
                    failures,
                    "{}: now read as documented; remove it from KNOWN_MISMATCHES ({})",
                    fixture.label(),
                    m.why
                );
            }
        }
    }
    for m in KNOWN_MISMATCHES {
        if !fixtures.iter().any(|x| x.provider == m.provider && x.name == m.fixture) {
            let _ = writeln!(failures, "KNOWN_MISMATCHES names {}/{}, which is no fixture", m.provider, m.fixture);
        }
    }
    assert!(failures.is_empty(), "{failures}");
    eprintln!("{} documented responses of {} providers replayed", fixtures.len(), providers.len());
}

/// The lifetime checks catch a wrong value: a sanity check of the harness itself.
#[test]
fn the_harness_notices_a_wrong_lifetime() {
    let expect = Expect {
        status: None,
        content_type: None,
        access_token: Some("a".into()),
        expires_in: Some(Value::from(10)),
        refresh_token: Some(Value::Null),
        scope: None,
        refresh_token_expires_in: None,
        id_token: false,
        fields: Map::new(),
        error: None,
        note: None,
    };
    let body: Map<String, Value> =
        serde_json::from_str(r#"{"access_token":"a","token_type":"bearer","expires_in":11}"#).unwrap();
    assert!(success(&expect, None, 200, body.clone()).is_err());
    assert!(success(&expect, None, 400, body).is_err());
    // And a field that is not what the page shows.
    let mut expect = expect;
    expect.expires_in = Some(Value::from(11));
    expect.fields.insert("api_domain".into(), Value::from("https://a.example"));
    let body: Map<String, Value> = serde_json::from_str(
        r#"{"access_token":"a","token_type":"bearer","expires_in":11,"api_domain":"https://b.example"}"#,
    )
    .unwrap();
    assert!(success(&expect, None, 200, body).unwrap_err().contains("api_domain"));
}
