//! OAuth error responses (RFC 6749 section 5.2; RFC 7009, 7662 and 8628 reuse the shape): the
//! one parser that every endpoint's answer goes through.
//!
//! The spec's `token_response` settings apply where they make sense: at endpoints that issue
//! tokens (token, refresh) its `format` and `root` decide how the body is read, and at every
//! endpoint `error_in_200` makes an `error` inside a success status an error. The fields kept
//! are bounded and free of control characters, whatever the provider sends.

use serde_json::{Map, Value};

use crate::error::{Endpoint, Error};
use crate::spec::{ResponseFormat, TokenResponseSpec};
use crate::wire::normalize::{Malformed, kind, parse_body};

/// The most bytes kept of `error`, `error_description` or `error_uri`; longer values are cut
/// at a character boundary and end with `…`.
pub(crate) const MAX_FIELD_BYTES: usize = 1024;

/// Whether `endpoint` answers with tokens, so that the spec's request shaping and response
/// clean-up (`token_request`, `token_response`) apply to it.
pub(crate) fn issues_tokens(endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::Token | Endpoint::Refresh)
}

/// The field whose presence makes a success status a success even when an `error` is there
/// too (unless the spec says `error_in_200`); `None`: every 2xx is one.
fn success_field(endpoint: Endpoint) -> Option<&'static str> {
    match endpoint {
        Endpoint::Token | Endpoint::Refresh => Some("access_token"),
        Endpoint::DeviceAuthorization => Some("device_code"),
        Endpoint::Introspection => Some("active"),
        _ => None,
    }
}

/// Whether a response with `status` that carries an `error` is a refusal: always outside
/// 2xx; inside it when the spec says `error_in_200` or when the endpoint's success field
/// (`success_present`) is missing. A 2xx without an `error` is never one.
pub(crate) fn is_refusal(status: u16, has_error: bool, error_in_200: bool, success_present: bool) -> bool {
    !(200..300).contains(&status) || (has_error && (error_in_200 || !success_present))
}

/// The `error` code of a body: a string, or a number or `true` written out (some providers
/// send numeric codes). `null`, `false` and an empty string mean no error.
pub(crate) fn error_code(value: Option<&Value>) -> Result<Option<String>, Malformed> {
    match value {
        None | Some(Value::Null | Value::Bool(false)) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(bounded(s))),
        Some(v @ (Value::Bool(true) | Value::Number(_))) => Ok(Some(v.to_string())),
        Some(other) => Err(Malformed(format!("`error` is {}, expected a string", kind(other)))),
    }
}

/// A provider's text, made safe to keep and show: control characters become spaces, and at
/// most [`MAX_FIELD_BYTES`] are kept.
fn bounded(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_FIELD_BYTES + 3));
    for c in text.chars() {
        if out.len() + c.len_utf8() > MAX_FIELD_BYTES {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

fn optional_text(map: &Map<String, Value>, key: &str) -> Option<String> {
    // A non-string description or URI is dropped, not a reason to lose the error code.
    map.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(bounded)
}

/// The error a response stands for, or `None` when it is a success.
///
/// A refusal (a status outside 2xx, or an `error` in a 2xx as [`is_refusal`] decides) whose
/// body holds an `error` becomes [`Error::OAuth`]; one without a readable `error` becomes
/// [`Error::MalformedResponse`] naming the endpoint. `spec` is the provider's
/// `token_response`: its `format` and `root` are used at token-issuing endpoints; the others
/// are read as JSON, or as a form when the body is not JSON. Never panics.
pub(crate) fn parse_oauth_error(
    spec: &TokenResponseSpec,
    endpoint: Endpoint,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Option<Error> {
    let tokens = issues_tokens(endpoint);
    let format = if tokens { spec.format } else { ResponseFormat::Auto };
    let root = if tokens { spec.root.as_deref() } else { None };
    let success = (200..300).contains(&status);
    let malformed = |why: &str| {
        Some(Error::MalformedResponse {
            status,
            reason: format!("the {endpoint} endpoint refused the request without an OAuth error: {why}"),
        })
    };
    let map = match parse_body(format, content_type, body) {
        Ok(map) => map,
        Err(_) if success => return None,
        Err(Malformed(why)) => return malformed(&why),
    };
    // The error is at the top, or inside the spec's wrapper object.
    let holder = match root.and_then(|r| map.get(r)) {
        Some(Value::Object(inner)) if !map.contains_key("error") && inner.contains_key("error") => inner,
        _ => &map,
    };
    let code = error_code(holder.get("error"));
    let has_error = !matches!(code, Ok(None));
    // An endpoint without a success field (revocation) succeeds on any 2xx.
    let success_present = success_field(endpoint).is_none_or(|f| holder.contains_key(f) || map.contains_key(f));
    if !is_refusal(status, has_error, spec.error_in_200, success_present) {
        return None;
    }
    match code {
        Ok(Some(error)) => Some(Error::OAuth {
            error,
            description: optional_text(holder, "error_description"),
            uri: optional_text(holder, "error_uri"),
        }),
        Ok(None) => malformed(&format!("HTTP {status} and no `error` code")),
        Err(Malformed(why)) => malformed(&why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::wire::normalize::JSON;

    fn parse(spec: &TokenResponseSpec, endpoint: Endpoint, status: u16, body: &str) -> Option<Error> {
        parse_oauth_error(spec, endpoint, status, None, body.as_bytes())
    }

    fn oauth(e: Option<Error>) -> (String, Option<String>, Option<String>) {
        match e {
            Some(Error::OAuth { error, description, uri }) => (error, description, uri),
            other => panic!("expected an OAuth error, got {other:?}"),
        }
    }

    #[test]
    fn the_same_error_at_every_endpoint() {
        let body = r#"{"error":"invalid_grant","error_description":"x","error_uri":"https://e.test/e"}"#;
        for endpoint in [
            Endpoint::Token,
            Endpoint::Refresh,
            Endpoint::Revocation,
            Endpoint::Introspection,
            Endpoint::DeviceAuthorization,
        ] {
            let (error, description, uri) = oauth(parse(&JSON, endpoint, 400, body));
            assert_eq!(error, "invalid_grant");
            assert_eq!(description.as_deref(), Some("x"));
            assert_eq!(uri.as_deref(), Some("https://e.test/e"));
        }
    }

    #[test]
    fn successes_are_not_errors() {
        assert!(parse(&JSON, Endpoint::Token, 200, r#"{"access_token":"a"}"#).is_none());
        assert!(parse(&JSON, Endpoint::Token, 200, r#"{"access_token":"a","error":"x"}"#).is_none());
        assert!(parse(&JSON, Endpoint::Revocation, 200, "").is_none());
        assert!(parse(&JSON, Endpoint::Introspection, 200, r#"{"active":false}"#).is_none());
        // Unreadable success bodies are for the caller to refuse.
        assert!(parse(&JSON, Endpoint::Token, 200, "{").is_none());
    }

    #[test]
    fn errors_inside_200() {
        assert_eq!(oauth(parse(&JSON, Endpoint::Token, 200, r#"{"error":"invalid_grant"}"#)).0, "invalid_grant");
        let slack = TokenResponseSpec { error_in_200: true, ..JSON };
        let body = r#"{"ok":false,"error":"invalid_code","access_token":""}"#;
        assert_eq!(oauth(parse(&slack, Endpoint::Token, 200, body)).0, "invalid_code");
        assert!(parse(&JSON, Endpoint::Token, 200, body).is_none(), "no flag: the token wins");
        assert_eq!(oauth(parse(&slack, Endpoint::Revocation, 200, r#"{"ok":false,"error":"x"}"#)).0, "x");
        assert!(parse(&JSON, Endpoint::Revocation, 200, r#"{"ok":false,"error":"x"}"#).is_none());
        let wrapped = TokenResponseSpec { error_in_200: true, root: Some("body".into()), ..JSON };
        assert_eq!(oauth(parse(&wrapped, Endpoint::Refresh, 200, r#"{"body":{"error":"w"}}"#)).0, "w");
        assert_eq!(oauth(parse(&wrapped, Endpoint::Token, 200, r#"{"status":1,"error":"t"}"#)).0, "t");
        assert_eq!(oauth(parse(&JSON, Endpoint::Token, 200, r#"{"error":401}"#)).0, "401");
    }

    #[test]
    fn form_bodies_where_the_spec_allows_them() {
        let form = "error=invalid_grant&error_description=x";
        for format in [ResponseFormat::Form, ResponseFormat::Auto] {
            let spec = TokenResponseSpec { format, ..JSON };
            let (error, description, _) = oauth(parse(&spec, Endpoint::Token, 400, form));
            assert_eq!((error.as_str(), description.as_deref()), ("invalid_grant", Some("x")));
        }
        assert!(matches!(parse(&JSON, Endpoint::Token, 400, form), Some(Error::MalformedResponse { status: 400, .. })));
        // Endpoints that issue no tokens read JSON, or a form when the body is not JSON.
        assert_eq!(oauth(parse(&JSON, Endpoint::DeviceAuthorization, 400, form)).0, "invalid_grant");
    }

    #[test]
    fn malformed_bodies_are_clear_errors() {
        for body in
            ["", "<html>nope</html>", "[1]", r#"{"error":["a"]}"#, r#"{"error":{}}"#, r#"{"message":"no"}"#, "{"]
        {
            match parse(&JSON, Endpoint::Revocation, 400, body) {
                Some(Error::MalformedResponse { status: 400, reason }) => {
                    assert!(reason.contains("revocation endpoint"), "{reason}");
                }
                other => panic!("{body:?}: {other:?}"),
            }
        }
        let (error, description, uri) =
            oauth(parse(&JSON, Endpoint::Token, 400, r#"{"error":"e","error_description":7,"error_uri":{}}"#));
        assert_eq!((error.as_str(), description, uri), ("e", None, None));
    }

    #[test]
    fn fields_are_bounded_and_clean() {
        let long = "é".repeat(100_000);
        let body = serde_json::json!({"error": long, "error_description": format!("a\u{1b}[31m{long}")}).to_string();
        let (error, description, _) = oauth(parse(&JSON, Endpoint::Token, 400, &body));
        assert!(error.len() <= MAX_FIELD_BYTES + 3 && error.ends_with('…'));
        let description = description.unwrap();
        assert!(description.len() <= MAX_FIELD_BYTES + 3, "{}", description.len());
        assert!(description.starts_with("a [31m"), "control characters are replaced");
    }

    proptest::proptest! {
        /// Any body, status, endpoint and spec gives an answer, never a panic.
        #[test]
        fn never_panics(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            status in 100u16..600,
            flags in 0u8..8,
        ) {
            let spec = TokenResponseSpec {
                format: if flags & 1 == 0 { ResponseFormat::Auto } else { ResponseFormat::Json },
                root: (flags & 2 != 0).then_some("body".into()),
                error_in_200: flags & 4 != 0,
                ..JSON
            };
            for endpoint in [Endpoint::Token, Endpoint::Revocation, Endpoint::DeviceAuthorization] {
                let e = parse_oauth_error(&spec, endpoint, status, None, &body);
                proptest::prop_assert!(e.is_some() || (200..300).contains(&status));
            }
        }

        /// Fields of any JSON type give an error or a clear refusal.
        #[test]
        fn fields_of_any_type(error in "[ -~]{0,8}", description in proptest::prelude::any::<i64>()) {
            let body = serde_json::json!({"error": error, "error_description": description}).to_string();
            let e = parse_oauth_error(&JSON, Endpoint::Token, 401, None, body.as_bytes());
            let typed = matches!(e, Some(Error::OAuth { .. } | Error::MalformedResponse { .. }));
            proptest::prop_assert!(typed, "{e:?}");
        }
    }
}
