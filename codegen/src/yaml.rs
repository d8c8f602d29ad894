//! YAML with positions: the spec's text becomes a JSON value plus an index from
//! JSON pointers to source locations.
//!
//! `serde_yaml` keeps no positions for values and stops at the first error, so specs are
//! read with `saphyr` (a maintained YAML 1.2 parser with spans on every node), turned into a
//! `serde_json::Value` for the serde model, and every node's location is kept in [`Index`].

use std::collections::BTreeMap;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};

use crate::diag::{Diagnostic, Location};

/// Where the key and the value of each node are, by JSON pointer (`/endpoints/token`).
#[derive(Debug, Default, Clone)]
pub struct Index {
    nodes: BTreeMap<String, Spot>,
    /// Pointers moved by a repair (a misspelled key checked as the key it was meant to be):
    /// `(new prefix, old prefix)`.
    aliases: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy)]
struct Spot {
    key: Option<Location>,
    value: Location,
}

impl Index {
    /// The location of the value at `pointer`, or of its nearest located ancestor.
    pub fn value(&self, pointer: &str) -> Location {
        self.lookup(pointer, |s| s.value)
    }

    /// The location of the key that names the node at `pointer` (its value for array items).
    pub fn key(&self, pointer: &str) -> Location {
        self.lookup(pointer, |s| s.key.unwrap_or(s.value))
    }

    /// Whether the spec's text has a node at `pointer`.
    pub fn contains(&self, pointer: &str) -> bool {
        self.nodes.contains_key(pointer)
    }

    /// Locate what is now at `new` (and below) where it was written, at `old`.
    pub fn alias(&mut self, new: &str, old: &str) {
        self.aliases.push((new.to_owned(), old.to_owned()));
    }

    fn lookup(&self, pointer: &str, pick: impl Fn(&Spot) -> Location) -> Location {
        let moved = self.aliases.iter().find_map(|(new, old)| {
            let rest = pointer.strip_prefix(new.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| format!("{old}{rest}"))
        });
        let mut p = moved.as_deref().unwrap_or(pointer);
        loop {
            if let Some(spot) = self.nodes.get(p) {
                return pick(spot);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => {
                    return Location { line: 1, col: 1, len: 1 };
                }
            }
        }
    }
}

/// Escape one JSON-pointer segment.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Parse `text` as one YAML document.
pub fn load(text: &str) -> Result<(Value, Index), Diagnostic> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let m = e.marker();
        Diagnostic::error(
            Location { line: m.line().max(1), col: m.col() + 1, len: 1 },
            format!("invalid YAML: {}", e.info()),
        )
    })?;
    let mut docs = docs.into_iter();
    let Some(root) = docs.next() else {
        return Err(Diagnostic::error(Location { line: 1, col: 1, len: 1 }, "the spec is empty"));
    };
    if let Some(extra) = docs.next() {
        return Err(Diagnostic::error(location(text, &extra), "a spec holds exactly one YAML document"));
    }
    let mut index = Index::default();
    let value = convert(text, &root, String::new(), None, &mut index)?;
    Ok((value, index))
}

fn location(text: &str, node: &MarkedYaml<'_>) -> Location {
    let (start, end) = (node.span.start, node.span.end);
    let len = if end.line() == start.line() {
        end.col().saturating_sub(start.col())
    } else {
        text.lines().nth(start.line().saturating_sub(1)).map_or(1, |l| l.chars().count().saturating_sub(start.col()))
    };
    Location { line: start.line().max(1), col: start.col() + 1, len: len.max(1) }
}

fn scalar(s: &Scalar<'_>) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

fn convert(
    text: &str,
    node: &MarkedYaml<'_>,
    pointer: String,
    key: Option<Location>,
    index: &mut Index,
) -> Result<Value, Diagnostic> {
    let here = location(text, node);
    // Block mappings and sequences have spans that start at their first entry; that is fine.
    index.nodes.insert(pointer.clone(), Spot { key, value: here });
    Ok(match &node.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(raw, ..) => Value::String(raw.to_string()),
        YamlData::Tagged(_, inner) => convert(text, inner, pointer, key, index)?,
        YamlData::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let loc = location(text, item);
                out.push(convert(text, item, format!("{pointer}/{i}"), Some(loc), index)?);
            }
            Value::Array(out)
        }
        YamlData::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key_loc = location(text, k);
                let name = match &k.data {
                    YamlData::Value(s) => match scalar(s) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    },
                    YamlData::Representation(raw, ..) => raw.to_string(),
                    _ => {
                        return Err(Diagnostic::error(key_loc, "mapping keys must be plain strings"));
                    }
                };
                let child = format!("{pointer}/{}", escape(&name));
                let value = convert(text, v, child, Some(key_loc), index)?;
                out.insert(name, value);
            }
            Value::Object(out)
        }
        YamlData::Alias(_) | YamlData::BadValue => {
            return Err(Diagnostic::error(here, "unsupported YAML value (aliases are not allowed in specs)"));
        }
    })
}
