//! Declarative clean-up of token responses, applied before `oauth2` parses them.
//!
//! Each rule comes from the spec's `token_response`: form-encoded bodies, `expires_in` as a
//! string or in milliseconds, errors inside HTTP 200, token fields in a wrapper object,
//! `scope` as a list or with a non-space separator, a missing `token_type`.

use serde_json::{Map, Value};

use crate::spec::{FieldType, ResponseFormat, TimeUnit, TokenField, TokenResponseSpec};
use crate::wire::oauth_error::{error_code, is_refusal};

/// A token endpoint response after clean-up: a status to report and a JSON object body.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The HTTP status to hand on (a 200 that carries an `error` becomes 400).
    pub status: u16,
    /// The JSON object.
    pub body: Map<String, Value>,
}

/// Why a response could not be cleaned up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// The body as a JSON object, read as `format` says (`auto`: JSON when it looks
/// like JSON, a form otherwise); HTML pages are refused.
pub(crate) fn parse_body(
    format: ResponseFormat,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, Malformed> {
    let text = std::str::from_utf8(body).map_err(|_| Malformed("the body is not UTF-8".into()))?;
    let trimmed = text.trim_start();
    let as_json = || match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Malformed(format!("expected a JSON object, found {}", kind(&other)))),
        Err(e) => Err(Malformed(format!("invalid JSON: {e}"))),
    };
    let as_form = || -> Result<Map<String, Value>, Malformed> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(trimmed.trim_end()).map_err(|e| Malformed(format!("invalid form body: {e}")))?;
        if pairs.is_empty() {
            return Err(Malformed("empty body".into()));
        }
        let mut map = Map::new();
        for (k, v) in pairs {
            if map.insert(k.clone(), Value::String(v)).is_some() {
                return Err(Malformed(format!("field `{k}` appears twice")));
            }
        }
        Ok(map)
    };
    let looks_html = trimmed.starts_with('<');
    if looks_html {
        return Err(Malformed(format!(
            "expected a token response, got {} (an HTML page?)",
            content_type.unwrap_or("a body starting with `<`")
        )));
    }
    match format {
        ResponseFormat::Json => as_json(),
        ResponseFormat::Form => as_form(),
        ResponseFormat::Auto => {
            if trimmed.starts_with('{') {
                as_json()
            } else {
                as_form()
            }
        }
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn number_field(map: &mut Map<String, Value>, key: &str, unit: TimeUnit) -> Result<(), Malformed> {
    let Some(v) = map.get(key) else { return Ok(()) };
    let n = match v {
        Value::Null => {
            map.remove(key);
            return Ok(());
        }
        Value::Number(n) => n.as_f64().ok_or_else(|| Malformed(format!("`{key}` is not a number")))?,
        Value::String(s) => {
            s.trim().parse::<f64>().map_err(|_| Malformed(format!("`{key}` is not a number: {s:?}")))?
        }
        other => {
            return Err(Malformed(format!("`{key}` is {}, expected a number", kind(other))));
        }
    };
    if !n.is_finite() || n < 0.0 {
        return Err(Malformed(format!("`{key}` is out of range")));
    }
    let seconds = match unit {
        TimeUnit::Seconds => n,
        TimeUnit::Milliseconds => n / 1000.0,
    };
    // Lifetimes are whole seconds; anything beyond a century is clamped to one.
    let seconds = seconds.min(3_155_760_000.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "finite, non-negative and clamped")]
    let seconds = seconds as u64;
    map.insert(key.to_owned(), Value::from(seconds));
    Ok(())
}

/// An expiry date (RFC 3339) under `key` becomes the seconds left until it (0 when it has
/// passed); a number is left for [`number_field`].
fn date_field(map: &mut Map<String, Value>, key: &str) -> Result<(), Malformed> {
    let Some(Value::String(s)) = map.get(key) else { return Ok(()) };
    let at = chrono::DateTime::parse_from_rfc3339(s.trim())
        .map_err(|e| Malformed(format!("`{key}` is not an RFC 3339 date: {e}")))?;
    let left = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds().max(0);
    map.insert(key.to_owned(), Value::from(left));
    Ok(())
}

/// Clean up a token endpoint response according to `spec`. `separator` is the provider's
/// scope separator.
pub fn normalize(
    spec: &TokenResponseSpec,
    separator: &str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Normalized, Malformed> {
    let mut map = parse_body(spec.format, content_type, body)?;
    if let Some(root) = spec.root.as_deref()
        && !map.contains_key("error")
    {
        match map.remove(root) {
            Some(Value::Object(inner)) => map = inner,
            Some(other) => {
                return Err(Malformed(format!("`{root}` is {}, expected an object", kind(&other))));
            }
            None => return Err(Malformed(format!("the response has no `{root}` object"))),
        }
    }
    // The `error` code and when it makes a success status a refusal are decided where every
    // endpoint's errors are parsed.
    match error_code(map.get("error"))? {
        Some(code) => {
            map.insert("error".into(), Value::String(code));
        }
        None => {
            map.remove("error");
        }
    }
    let has_error = map.contains_key("error");
    let status = if (200..300).contains(&status)
        && is_refusal(status, has_error, spec.error_in_200, map.contains_key("access_token"))
    {
        400
    } else {
        status
    };
    if (200..300).contains(&status) {
        // `number` and `string` are both accepted whichever the spec names, and a lifetime the
        // spec calls `absent` is still honoured when a response carries one, except 0: a
        // provider whose tokens state no lifetime says "never expires" with it (Mailchimp).
        // The lifetime under the provider's own name (Stack Exchange `expires`), unless the
        // response also has a standard one.
        if let Some(name) = spec.lifetime_field.as_deref()
            && !map.contains_key("expires_in")
            && let Some(value) = map.remove(name)
        {
            map.insert("expires_in".into(), value);
        }
        if spec.expires_in == crate::spec::ExpiresIn::Date {
            date_field(&mut map, "expires_in")?;
        }
        number_field(&mut map, "expires_in", spec.expires_in_unit)?;
        if spec.expires_in == crate::spec::ExpiresIn::Absent && map.get("expires_in").and_then(Value::as_u64) == Some(0)
        {
            map.remove("expires_in");
        }
        if let Some(field) = spec.refresh_token_expires_in.as_deref() {
            number_field(&mut map, field, spec.expires_in_unit)?;
        }
        // The granted scopes under the provider's own name (HubSpot `scopes`), unless the
        // response also has a standard `scope`.
        if let Some(name) = spec.scope_field.as_deref()
            && !map.contains_key("scope")
            && let Some(value) = map.remove(name)
        {
            map.insert("scope".into(), value);
        }
        // The response's own separator when the spec names one (GitHub answers `repo,gist`).
        let separator = spec.scope_separator.as_deref().unwrap_or(separator);
        match map.get("scope") {
            Some(Value::Array(items)) => {
                let joined: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                if joined.len() != items.len() {
                    return Err(Malformed("`scope` holds a non-string item".into()));
                }
                let s = joined.join(" ");
                map.insert("scope".into(), Value::String(s));
            }
            Some(Value::String(s)) if separator != " " && s.contains(separator) => {
                let s = s.split(separator).map(str::trim).collect::<Vec<_>>().join(" ");
                map.insert("scope".into(), Value::String(s));
            }
            Some(Value::Null) => {
                map.remove("scope");
            }
            Some(Value::String(_)) | None => {}
            Some(other) => {
                return Err(Malformed(format!("`scope` is {}, expected a string", kind(other))));
            }
        }
        if !map.contains_key("token_type") && map.contains_key("access_token") {
            map.insert("token_type".into(), Value::String("bearer".into()));
        }
        for key in ["access_token", "token_type", "refresh_token", "id_token"] {
            match map.get(key) {
                None | Some(Value::String(_)) => {}
                Some(Value::Null) if key != "access_token" => {
                    map.remove(key);
                }
                // Tumblr documents `"id_token": false` for "none issued".
                Some(Value::Bool(false)) if key == "id_token" => {
                    map.remove(key);
                }
                Some(other) => {
                    return Err(Malformed(format!("`{key}` is {}, expected a string", kind(other))));
                }
            }
        }
        for field in spec.fields.iter() {
            check_field(field, &mut map)?;
        }
    }
    Ok(Normalized { status, body: map })
}

/// A typed provider-specific field (`token_response.fields`): present when required, of its
/// type, matching its pattern; integers and booleans sent as strings become JSON ones. The
/// value is never shown in an error.
fn check_field(field: &TokenField, map: &mut Map<String, Value>) -> Result<(), Malformed> {
    let name = &*field.name;
    let expected = |what: &str, v: &Value| Malformed(format!("`{name}` is {}, expected {what}", kind(v)));
    let value = match map.get(name) {
        None | Some(Value::Null) => {
            map.remove(name);
            return if field.required {
                Err(Malformed(format!("the response has no `{name}`, which this provider always sends")))
            } else {
                Ok(())
            };
        }
        Some(v) => v,
    };
    let canonical = match (field.kind, value) {
        (FieldType::String | FieldType::Url, Value::String(s)) => {
            if field.kind == FieldType::Url {
                let url = url::Url::parse(s).map_err(|e| Malformed(format!("`{name}` is not an absolute URL: {e}")))?;
                crate::wire::http::require_tls(&format!("the token response's `{name}`"), &url)
                    .map_err(|e| Malformed(e.to_string()))?;
            }
            if let Some(pattern) = field.pattern.as_deref() {
                let re = regex_lite::Regex::new(pattern)
                    .map_err(|e| Malformed(format!("invalid pattern for `{name}` in the spec: {e}")))?;
                if !re.is_match(s) {
                    return Err(Malformed(format!("`{name}` does not match `{pattern}`")));
                }
            }
            return Ok(());
        }
        (FieldType::String, v) => return Err(expected("a string", v)),
        (FieldType::Url, v) => return Err(expected("a URL string", v)),
        (FieldType::Integer, Value::Number(n)) if n.is_i64() => return Ok(()),
        (FieldType::Integer, Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => return Err(Malformed(format!("`{name}` is a string that is not an integer"))),
        },
        (FieldType::Integer, v) => return Err(expected("an integer", v)),
        (FieldType::Boolean, Value::Bool(_)) => return Ok(()),
        (FieldType::Boolean, Value::String(s)) if s == "true" || s == "false" => Value::Bool(s == "true"),
        (FieldType::Boolean, v) => return Err(expected("a boolean", v)),
    };
    map.insert(name.to_owned(), canonical);
    Ok(())
}

/// The plainest token responses (JSON, numeric lifetimes in seconds), for tests to vary.
#[cfg(test)]
pub(crate) const JSON: TokenResponseSpec = TokenResponseSpec {
    format: ResponseFormat::Json,
    expires_in: crate::spec::ExpiresIn::Number,
    expires_in_unit: TimeUnit::Seconds,
    error_in_200: false,
    root: None,
    lifetime_field: None,
    scope_field: None,
    refresh_token_expires_in: None,
    scope_separator: None,
    fields: std::borrow::Cow::Borrowed(&[]),
};

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spec: &TokenResponseSpec, sep: &str, status: u16, body: &str) -> Result<Normalized, Malformed> {
        normalize(spec, sep, status, None, body.as_bytes())
    }

    #[test]
    fn a_response_scope_separator_of_its_own() {
        // GitHub asks with spaces and answers with commas.
        let github = TokenResponseSpec { format: ResponseFormat::Auto, scope_separator: Some(",".into()), ..JSON };
        let n = run(&github, " ", 200, "access_token=gho_x&scope=repo%2Cgist&token_type=bearer").unwrap();
        assert_eq!(n.body["scope"], "repo gist");
        let n = run(&JSON, " ", 200, r#"{"access_token":"a","scope":"repo,gist"}"#).unwrap();
        assert_eq!(n.body["scope"], "repo,gist", "without it, one scope as the request separator sees it");
    }

    #[test]
    fn granted_scopes_under_another_name() {
        // HubSpot answers `"scopes": ["oauth", "crm.objects.contacts.read"]`.
        let hubspot = TokenResponseSpec { scope_field: Some("scopes".into()), ..JSON };
        let n =
            run(&hubspot, " ", 200, r#"{"access_token":"a","scopes":["oauth","crm.objects.contacts.read"]}"#).unwrap();
        assert_eq!(n.body["scope"], "oauth crm.objects.contacts.read");
        assert!(!n.body.contains_key("scopes"), "the field is read once, as `scope`");
        let n = run(&hubspot, " ", 200, r#"{"access_token":"a","scope":"oauth","scopes":["x"]}"#).unwrap();
        assert_eq!(n.body["scope"], "oauth", "a standard `scope` wins");
        let err = run(&hubspot, " ", 200, r#"{"access_token":"a","scopes":["oauth",7]}"#).unwrap_err();
        assert!(err.0.contains("non-string"), "{}", err.0);
        let err = run(&hubspot, " ", 200, r#"{"access_token":"a","scopes":{"oauth":true}}"#).unwrap_err();
        assert!(err.0.contains("expected a string"), "{}", err.0);
        let n = run(&JSON, " ", 200, r#"{"access_token":"a","scopes":["oauth"]}"#).unwrap();
        assert!(!n.body.contains_key("scope"), "without the key, `scopes` is not the grant");
    }

    #[test]
    fn typed_fields_are_checked_and_made_canonical() {
        const FIELDS: &[TokenField] = &[
            TokenField {
                name: std::borrow::Cow::Borrowed("api_domain"),
                kind: FieldType::Url,
                required: true,
                pattern: Some(std::borrow::Cow::Borrowed(r"^https://[a-z]+\.pipedrive\.com$")),
                example: None,
            },
            TokenField {
                name: std::borrow::Cow::Borrowed("count"),
                kind: FieldType::Integer,
                required: false,
                pattern: None,
                example: None,
            },
            TokenField {
                name: std::borrow::Cow::Borrowed("livemode"),
                kind: FieldType::Boolean,
                required: false,
                pattern: None,
                example: None,
            },
        ];
        let spec = TokenResponseSpec { fields: std::borrow::Cow::Borrowed(FIELDS), ..JSON };
        let ok = r#"{"access_token":"a","api_domain":"https://acme.pipedrive.com","count":"42","livemode":"false"}"#;
        let n = run(&spec, " ", 200, ok).unwrap();
        assert_eq!(n.body["api_domain"], "https://acme.pipedrive.com");
        assert_eq!(n.body["count"], 42, "a string of digits becomes a number");
        assert_eq!(n.body["livemode"], false, "`\"false\"` becomes a boolean");
        let refused = |body: &str| run(&spec, " ", 200, body).unwrap_err().0;
        assert!(refused(r#"{"access_token":"a"}"#).contains("no `api_domain`"), "required");
        assert!(refused(r#"{"access_token":"a","api_domain":null}"#).contains("no `api_domain`"));
        let insecure = refused(r#"{"access_token":"a","api_domain":"http://acme.pipedrive.com"}"#);
        assert!(insecure.contains("https is required"), "{insecure}");
        assert!(refused(r#"{"access_token":"a","api_domain":"https://evil.example"}"#).contains("does not match"));
        assert!(refused(r#"{"access_token":"a","api_domain":"acme.pipedrive.com"}"#).contains("absolute URL"));
        assert!(refused(r#"{"access_token":"a","api_domain":7}"#).contains("expected a URL string"));
        let base = r#""access_token":"a","api_domain":"https://acme.pipedrive.com""#;
        assert!(refused(&format!(r#"{{{base},"count":"4x"}}"#)).contains("not an integer"));
        assert!(refused(&format!(r#"{{{base},"count":1.5}}"#)).contains("expected an integer"));
        assert!(refused(&format!(r#"{{{base},"livemode":"yes"}}"#)).contains("expected a boolean"));
        // Errors are errors, whatever the fields: a refusal carries none of them.
        let n = run(&spec, " ", 400, r#"{"error":"invalid_grant"}"#).unwrap();
        assert_eq!(n.status, 400);
    }

    #[test]
    fn a_zero_lifetime_means_none_when_the_spec_says_absent() {
        let mailchimp = TokenResponseSpec { expires_in: crate::spec::ExpiresIn::Absent, ..JSON };
        let n = run(&mailchimp, " ", 200, r#"{"access_token":"a","expires_in":0,"scope":null}"#).unwrap();
        assert!(!n.body.contains_key("expires_in"));
        let n = run(&mailchimp, " ", 200, r#"{"access_token":"a","expires_in":"3600"}"#).unwrap();
        assert_eq!(n.body["expires_in"], 3600, "a stated lifetime is still honoured");
        let n = run(&JSON, " ", 200, r#"{"access_token":"a","expires_in":0}"#).unwrap();
        assert_eq!(n.body["expires_in"], 0, "elsewhere 0 is an expired token");
    }

    #[test]
    fn an_id_token_of_false_means_none() {
        let n = run(&JSON, " ", 200, r#"{"access_token":"a","expires_in":2520,"id_token":false}"#).unwrap();
        assert!(!n.body.contains_key("id_token"));
        assert!(run(&JSON, " ", 200, r#"{"access_token":"a","id_token":true}"#).is_err());
    }

    #[test]
    fn form_bodies_become_json() {
        let spec = TokenResponseSpec { format: ResponseFormat::Form, ..JSON };
        let n = run(&spec, " ", 200, "access_token=abc&token_type=bearer&scope=repo%2Cuser").unwrap();
        assert_eq!(n.body["access_token"], "abc");
        assert_eq!(n.body["scope"], "repo,user");
        let n =
            run(&TokenResponseSpec { format: ResponseFormat::Auto, ..JSON }, ",", 200, "access_token=abc&scope=a%2Cb")
                .unwrap();
        assert_eq!(n.body["scope"], "a b");
        assert_eq!(n.body["token_type"], "bearer");
    }

    #[test]
    fn string_and_millisecond_lifetimes() {
        let n = run(&JSON, " ", 200, r#"{"access_token":"a","token_type":"Bearer","expires_in":"3600"}"#).unwrap();
        assert_eq!(n.body["expires_in"], 3600);
        let ms = TokenResponseSpec { expires_in_unit: TimeUnit::Milliseconds, ..JSON };
        let n = run(&ms, " ", 200, r#"{"access_token":"a","token_type":"Bearer","expires_in":7200000}"#).unwrap();
        assert_eq!(n.body["expires_in"], 7200);
        assert!(run(&JSON, " ", 200, r#"{"access_token":"a","expires_in":"soon"}"#).is_err());
        assert!(run(&JSON, " ", 200, r#"{"access_token":"a","expires_in":-5}"#).is_err());
    }

    #[test]
    fn errors_inside_200() {
        let slack = TokenResponseSpec { error_in_200: true, ..JSON };
        let n = run(&slack, ",", 200, r#"{"ok":false,"error":"invalid_code"}"#).unwrap();
        assert_eq!(n.status, 400);
        // Without the flag, a 200 with an error and no token is still an error.
        let n = run(&JSON, " ", 200, r#"{"error":"invalid_grant"}"#).unwrap();
        assert_eq!(n.status, 400);
    }

    #[test]
    fn wrappers_arrays_and_html() {
        let withings = TokenResponseSpec { root: Some("body".into()), ..JSON };
        let n = run(
            &withings,
            " ",
            200,
            r#"{"status":0,"body":{"access_token":"a","token_type":"Bearer","scope":["x","y"]}}"#,
        )
        .unwrap();
        assert_eq!(n.body["access_token"], "a");
        assert_eq!(n.body["scope"], "x y");
        assert!(run(&withings, " ", 200, r#"{"status":0}"#).is_err());
        let err = run(&JSON, " ", 502, "<html><body>Bad gateway</body></html>").unwrap_err();
        assert!(err.0.contains("HTML"), "{err:?}");
        assert!(run(&JSON, " ", 200, r#"{"access_token":"a""#).is_err());
        assert!(run(&JSON, " ", 200, "[1,2]").is_err());
        assert!(run(&JSON, " ", 200, r#"{"access_token":5}"#).is_err());
    }

    proptest::proptest! {
        /// Arbitrary bodies give a result or an error, never a panic, whatever the spec says.
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512), status in 100u16..600, auto in proptest::prelude::any::<bool>()) {
            let spec = TokenResponseSpec { format: if auto { ResponseFormat::Auto } else { ResponseFormat::Json }, root: auto.then_some("body".into()), ..JSON };
            let _ = normalize(&spec, ",", status, None, &body);
        }

        /// JSON objects with fields of any type are normalised or refused, never a panic; a
        /// success keeps the token fields as strings.
        #[test]
        fn json_fields_of_any_type(value in arbitrary_json(), key in "(access_token|token_type|expires_in|scope|error|refresh_token|id_token)") {
            let mut map = serde_json::Map::new();
            map.insert("access_token".into(), Value::String("a".into()));
            map.insert(key, value);
            let body = serde_json::to_vec(&Value::Object(map)).unwrap();
            if let Ok(n) = normalize(&JSON, " ", 200, None, &body) {
                for k in ["access_token", "token_type", "refresh_token", "id_token", "scope"] {
                    proptest::prop_assert!(n.body.get(k).is_none_or(Value::is_string), "{k}: {:?}", n.body.get(k));
                }
                proptest::prop_assert!(n.body.get("expires_in").is_none_or(Value::is_u64));
            }
        }
    }

    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
