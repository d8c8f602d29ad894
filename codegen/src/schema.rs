//! Structural validation of a spec against its JSON Schema, with every error located.
//!
//! The schema is generated from [`crate::spec`] by `schemars` and committed as
//! `specs/schema.json` for editors. The validator below interprets the subset of JSON Schema
//! that `schemars` emits for that model (`$ref`, `type`, `properties`, `required`,
//! `additionalProperties`, `oneOf`/`anyOf`, `const`/`enum`, `pattern`, length and range
//! bounds, `items`). A general validator (the `jsonschema` crate) doubled the cold build time
//! of every crate that runs the generator, proc macro included, for keywords we never emit,
//! and its messages could not say "did you mean".

use serde_json::Value;

use crate::diag::{Diagnostic, Location};
use crate::yaml::{Index, escape};

/// The string standing in for a missing or broken string value: a valid `https` URL, so that
/// the URL checks of the semantic stage report nothing about it.
pub const PLACEHOLDER_URL: &str = "https://placeholder.invalid/";

/// The JSON Schema of the spec format, as written to `specs/schema.json`.
pub fn schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(crate::spec::Spec)).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut schema {
        map.insert("$id".into(), Value::String("https://oauthgen.dev/schema/spec-v1.json".into()));
    }
    schema
}

/// The schema rendered as pretty JSON with a final newline.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// A structural problem, the JSON pointer of the node it is about, and how to repair the
/// spec so that the rest of it can still be checked (a repaired spec is never returned).
#[derive(Debug, Clone)]
pub struct Problem {
    /// The node at fault (`/endpoints/tokne`), or where a missing key belongs
    /// (`/endpoints/token`).
    pub pointer: String,
    /// How to repair it.
    pub repair: Repair,
    /// The diagnostic.
    pub diagnostic: Diagnostic,
}

/// How a structural problem is repaired before the semantic checks run.
#[derive(Debug, Clone, PartialEq)]
pub enum Repair {
    /// Nothing to do: the model still reads the value (too short, out of range, ...).
    Keep,
    /// Remove the node (an unknown key, a bad value of an optional key).
    Remove,
    /// Put this valid value in the node's place (an enumeration's first value, an empty
    /// value of the expected kind, a placeholder).
    Replace(Value),
    /// Insert this placeholder at the pointer of a missing required key.
    Insert(Value),
    /// Move the node at `from` (a misspelled key) to the pointer, and check it there.
    Rename {
        /// The misspelled key's pointer.
        from: String,
    },
}

/// The schema with its regular expressions compiled, built once per process: it depends only
/// on the spec model, never on a spec.
struct Compiled {
    schema: Value,
    patterns: std::collections::HashMap<String, regex_lite::Regex>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: std::sync::OnceLock<Compiled> = std::sync::OnceLock::new();
    COMPILED.get_or_init(|| {
        let schema = schema();
        let mut patterns = std::collections::HashMap::new();
        collect_patterns(&schema, &mut patterns);
        Compiled { schema, patterns }
    })
}

fn collect_patterns(value: &Value, out: &mut std::collections::HashMap<String, regex_lite::Regex>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(p)) = map.get("pattern")
                && let Ok(re) = regex_lite::Regex::new(p)
            {
                out.insert(p.clone(), re);
            }
            map.values().for_each(|v| collect_patterns(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_patterns(v, out)),
        _ => {}
    }
}

/// Validate `value` against the spec schema; one problem per mistake.
pub fn validate(value: &Value, index: &Index) -> Vec<Problem> {
    let compiled = compiled();
    let mut v = Validator { root: &compiled.schema, patterns: &compiled.patterns, index, out: Vec::new() };
    v.check(&compiled.schema, value, "");
    v.out
}

struct Validator<'a> {
    root: &'a Value,
    patterns: &'a std::collections::HashMap<String, regex_lite::Regex>,
    index: &'a Index,
    out: Vec<Problem>,
}

/// A JSON pointer as a dotted path for messages: `/scopes/values/x` -> `scopes.values.x`.
pub fn dotted(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the spec".into();
    }
    pointer.trim_start_matches('/').replace('/', ".").replace("~1", "/").replace("~0", "~")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn matches_type(expected: &str, value: &Value) -> bool {
    match expected {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn article(expected: &str) -> String {
    match expected {
        "null" => "nothing (null)".into(),
        "boolean" => "a boolean (`true` or `false`)".into(),
        "integer" => "an integer".into(),
        "number" => "a number".into(),
        "string" => "a string".into(),
        "array" => "a list".into(),
        "object" => "a mapping".into(),
        other => other.into(),
    }
}

/// The closest candidate to `word`, if one is close enough to suggest.
pub fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn quoted_list<'c>(items: impl IntoIterator<Item = &'c str>) -> String {
    items.into_iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

impl<'a> Validator<'a> {
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        let mut s = schema;
        for _ in 0..16 {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let Some(target) = r.strip_prefix('#').and_then(|p| self.root.pointer(p)) else {
                break;
            };
            s = target;
        }
        s
    }

    /// A problem the model can live with: the value stays.
    fn error(&mut self, at: Location, message: String, help: Option<String>) {
        self.problem(at, message, help, "", Repair::Keep);
    }

    fn problem(&mut self, at: Location, message: String, help: Option<String>, pointer: &str, repair: Repair) {
        let mut d = Diagnostic::error(at, message);
        d.help = help;
        self.out.push(Problem { pointer: pointer.to_owned(), repair, diagnostic: d });
    }

    /// A value valid for `schema`, to stand in for a missing or broken one: an enumeration's
    /// first value, a mapping with placeholders for its required keys, an empty list, `false`,
    /// the minimum, or a string that is a valid `https` URL (so that URL checks stay quiet).
    fn placeholder(&self, schema: &'a Value, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if let Some(first) = self.constants(schema).and_then(|c| c.first().copied()) {
            return first.clone();
        }
        if depth < 8
            && let Some(branch) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array)
            && let Some(first) = branch.iter().find(|b| b.get("type") != Some(&Value::from("null")))
        {
            return self.placeholder(first, depth + 1);
        }
        let kind = match schema.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(types)) => {
                types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null")
            }
            _ => "object",
        };
        match kind {
            "object" => {
                let mut map = serde_json::Map::new();
                let props = schema.get("properties").and_then(Value::as_object);
                for key in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                    if let (Some(key), Some(props)) = (key.as_str(), props)
                        && let Some(child) = props.get(key)
                        && depth < 8
                    {
                        map.insert(key.to_owned(), self.placeholder(child, depth + 1));
                    }
                }
                Value::Object(map)
            }
            "array" => Value::Array(Vec::new()),
            "boolean" => Value::Bool(false),
            "integer" | "number" => schema.get("minimum").cloned().unwrap_or_else(|| Value::from(1)),
            "string" => Value::String(PLACEHOLDER_URL.to_owned()),
            _ => Value::Null,
        }
    }

    /// Constant values allowed by `schema`, when it is an enumeration.
    fn constants(&self, schema: &'a Value) -> Option<Vec<&'a Value>> {
        let schema = self.resolve(schema);
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return Some(values.iter().collect());
        }
        if let Some(c) = schema.get("const") {
            return Some(vec![c]);
        }
        let branches = schema.get("oneOf").or_else(|| schema.get("anyOf"))?.as_array()?;
        let mut all = Vec::new();
        for b in branches {
            all.extend(self.constants(b)?);
        }
        Some(all)
    }

    fn check(&mut self, schema: &'a Value, value: &Value, pointer: &str) {
        let schema = self.resolve(schema);
        let at = self.index.value(pointer);
        let what = dotted(pointer);

        if let Some(consts) = self.constants(schema) {
            if !consts.contains(&value) {
                let names: Vec<String> =
                    consts.iter().map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned)).collect();
                let shown = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                // A client authentication method by its OAuth metadata name.
                let metadata = oauthgen_spec::ClientAuth::ALL
                    .iter()
                    .find(|m| m.metadata_name() == shown && m.key() != shown && names.iter().any(|n| n == m.key()));
                let help = match (metadata, did_you_mean(&shown, names.iter().map(String::as_str))) {
                    (Some(m), _) => format!("`{shown}` is written `{}` in a spec", m.key()),
                    (None, Some(s)) => format!("did you mean `{s}`?"),
                    (None, None) => format!("expected one of {}", quoted_list(names.iter().map(String::as_str))),
                };
                let repair = consts.first().map_or(Repair::Remove, |c| Repair::Replace((*c).clone()));
                self.problem(at, format!("invalid value `{shown}` for `{what}`"), Some(help), pointer, repair);
            }
            return;
        }

        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = schema.get(key).and_then(Value::as_array) {
                let mut best: Option<Vec<Problem>> = None;
                for b in branches {
                    let mut sub =
                        Validator { root: self.root, patterns: self.patterns, index: self.index, out: Vec::new() };
                    sub.check(b, value, pointer);
                    if sub.out.is_empty() {
                        best = None;
                        break;
                    }
                    // A `null` branch explains nothing about a value that is there.
                    let null_branch = b.get("type") == Some(&Value::from("null"));
                    if best.as_ref().is_none_or(|e| sub.out.len() < e.len())
                        && !(value.is_null() && b.get("type").is_none())
                        && (!null_branch || value.is_null())
                    {
                        best = Some(sub.out);
                    }
                }
                if let Some(errors) = best {
                    self.out.extend(errors);
                    return;
                }
            }
        }

        if let Some(t) = schema.get("type") {
            let allowed: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !allowed.is_empty() && !allowed.iter().any(|t| matches_type(t, value)) {
                let expected: Vec<String> = allowed.iter().filter(|t| **t != "null").map(|t| article(t)).collect();
                let message = format!("expected {} for `{what}`, found {}", expected.join(" or "), type_name(value));
                // A valid value of the expected kind keeps the key, so later checks do not
                // report its absence as well.
                let repair = Repair::Replace(self.placeholder(schema, 0));
                self.problem(at, message, None, pointer, repair);
                return;
            }
        }

        match value {
            Value::String(s) => self.check_string(schema, s, at, &what),
            Value::Number(n) => {
                if let (Some(min), Some(x)) = (schema.get("minimum").and_then(Value::as_f64), n.as_f64())
                    && x < min
                {
                    self.error(at, format!("`{what}` must be at least {min}"), None);
                }
                if let (Some(max), Some(x)) = (schema.get("maximum").and_then(Value::as_f64), n.as_f64())
                    && x > max
                {
                    self.error(at, format!("`{what}` must be at most {max}"), None);
                }
            }
            Value::Array(items) => {
                if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                    && (items.len() as u64) < min
                {
                    self.error(at, format!("`{what}` needs at least {min} item(s)"), None);
                }
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{pointer}/{i}"));
                    }
                }
            }
            Value::Object(map) => self.check_object(schema, map, pointer, &what),
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn check_string(&mut self, schema: &Value, s: &str, at: Location, what: &str) {
        let len = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            self.error(at, format!("`{what}` must not be empty"), None);
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            self.error(at, format!("`{what}` is longer than {max} characters"), None);
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && let Some(re) = self.patterns.get(pattern)
            && !re.is_match(s)
        {
            self.error(at, format!("invalid value `{s}` for `{what}`"), Some(format!("it must match `{pattern}`")));
        }
    }

    fn check_object(&mut self, schema: &'a Value, map: &serde_json::Map<String, Value>, pointer: &str, what: &str) {
        let props = schema.get("properties").and_then(Value::as_object);
        let known = props.map(|p| p.keys().map(String::as_str).collect::<Vec<_>>()).unwrap_or_default();
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        // A missing required key whose best match is an unknown key of the same mapping: that
        // key is a misspelling, reported as such and checked as the key it was meant to be.
        let mut renamed: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
        let required = schema.get("required").and_then(Value::as_array).into_iter().flatten();
        for key in required.filter_map(Value::as_str) {
            if map.contains_key(key) {
                continue;
            }
            let misspelled = map.keys().find(|k| {
                closed
                    && !known.contains(&k.as_str())
                    && !renamed.contains_key(k.as_str())
                    && did_you_mean(k, known.iter().copied()) == Some(key)
            });
            if let Some(misspelled) = misspelled {
                renamed.insert(misspelled, key);
                continue;
            }
            let at = self.index.key(pointer);
            let msg = if pointer.is_empty() {
                format!("missing required key `{key}`")
            } else {
                format!("missing required key `{key}` in `{what}`")
            };
            let placeholder = props.and_then(|p| p.get(key)).map_or(Value::Null, |s| self.placeholder(s, 0));
            self.problem(at, msg, None, &format!("{pointer}/{}", escape(key)), Repair::Insert(placeholder));
        }
        for (key, child) in map {
            let child_pointer = format!("{pointer}/{}", escape(key));
            if let Some(s) = props.and_then(|p| p.get(key)) {
                self.check(s, child, &child_pointer);
                continue;
            }
            if let Some(meant) = renamed.get(key.as_str()).copied()
                && let Some(s) = props.and_then(|p| p.get(meant))
            {
                let at = self.index.key(&child_pointer);
                let place = if pointer.is_empty() { String::new() } else { format!(" in `{what}`") };
                let message = format!("unknown key `{key}`{place}");
                let help =
                    format!("did you mean `{meant}`? (`{meant}` is required; this value is checked as `{meant}`)");
                // Its own problems first, at its own pointers; then it moves.
                self.check(s, child, &child_pointer);
                let repair = Repair::Rename { from: child_pointer };
                self.problem(at, message, Some(help), &format!("{pointer}/{}", escape(meant)), repair);
                continue;
            }
            match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    let at = self.index.key(&child_pointer);
                    let place = if pointer.is_empty() { String::new() } else { format!(" in `{what}`") };
                    let help = match did_you_mean(key, known.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("expected one of {}", quoted_list(known.iter().copied())),
                    };
                    self.problem(at, format!("unknown key `{key}`{place}"), Some(help), &child_pointer, Repair::Remove);
                }
                Some(s @ Value::Object(_)) => self.check(s, child, &child_pointer),
                _ => {}
            }
        }
    }
}
