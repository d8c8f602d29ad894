//! Variants: a spec with `extends: <id>` is the spec `<id>.yaml` beside it with the variant's
//! keys written over it (sandbox, regional and product variants, one file each). Objects
//! merge key by key, lists and values replace, `null` removes what the base says; `id`,
//! `name` and `provenance` are never inherited (a variant names and sources itself).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Finds the text of the base spec with a given id: `(shown path, YAML text)` or why not.
pub type Resolver<'a> = dyn Fn(&str) -> Result<(PathBuf, String), String> + 'a;

/// The resolver for specs on disk: `<id>.yaml` in `dir`.
pub fn beside(dir: &Path) -> impl Fn(&str) -> Result<(PathBuf, String), String> + '_ {
    move |id: &str| {
        let path = dir.join(format!("{id}.yaml"));
        std::fs::read_to_string(&path).map(|text| (path.clone(), text)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("the base spec `{id}` does not exist: no `{id}.yaml` beside this spec")
            }
            _ => format!("the base spec `{id}` cannot be read from `{id}.yaml`: {e}"),
        })
    }
}

/// How many bases a chain of variants may have.
const MAX_DEPTH: usize = 4;

/// Keys a variant never inherits.
const OWN_KEYS: &[&str] = &["id", "name", "provenance", "extends"];

/// Whether `id` may name a base: a spec id, so that it never leaves the specs' directory.
pub fn valid_base_id(id: &str) -> bool {
    id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The merged value of the spec `value` whose `extends` names a base, with the files read
/// (nearest base first); `Err` says why the base cannot be used.
pub fn resolve(value: &Value, resolver: &Resolver<'_>) -> Result<(Value, Vec<PathBuf>), String> {
    let mut chain: Vec<String> = Vec::new();
    let mut files = Vec::new();
    let mut bases: Vec<Value> = Vec::new();
    let mut next = value.get("extends").cloned();
    while let Some(id) = next {
        let Value::String(id) = id else { return Err("`extends` must be a spec id".into()) };
        if !valid_base_id(&id) {
            return Err(format!(
                "`{id}` is not a spec id (a lowercase letter, then lowercase letters, digits, `_` and `-`)"
            ));
        }
        if chain.contains(&id) || value.get("id").and_then(Value::as_str) == Some(id.as_str()) {
            return Err(format!("`extends` makes a cycle through `{id}`"));
        }
        if chain.len() == MAX_DEPTH {
            return Err(format!("more than {MAX_DEPTH} bases in a chain of `extends`"));
        }
        let (path, text) = resolver(&id)?;
        let (base, _) = crate::yaml::load(&text)
            .map_err(|d| format!("the base spec `{id}` ({}) is not valid YAML: {}", path.display(), d.message))?;
        if !base.is_object() {
            return Err(format!("the base spec `{id}` ({}) is not a mapping", path.display()));
        }
        next = base.get("extends").cloned();
        chain.push(id);
        files.push(path);
        bases.push(base);
    }
    // Apply from the farthest base to the variant.
    let mut merged = Value::Object(Map::new());
    for base in bases.into_iter().rev() {
        merge(&mut merged, strip(base));
    }
    merge(&mut merged, value.clone());
    Ok((merged, files))
}

fn strip(mut base: Value) -> Value {
    if let Value::Object(map) = &mut base {
        for key in OWN_KEYS {
            map.remove(*key);
        }
    }
    base
}

/// Write `over` onto `into`: objects key by key, `null` removes, anything else replaces.
fn merge(into: &mut Value, over: Value) {
    match (into, over) {
        (Value::Object(into), Value::Object(over)) => {
            for (key, value) in over {
                match value {
                    Value::Null => {
                        into.remove(&key);
                    }
                    Value::Object(_) if into.get(&key).is_some_and(Value::is_object) => {
                        if let Some(slot) = into.get_mut(&key) {
                            merge(slot, value);
                        }
                    }
                    other => {
                        into.insert(key, other);
                    }
                }
            }
        }
        (into, over) => *into = over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merging() {
        let mut base = json!({ "id": "b", "endpoints": { "token": "t", "revocation": "r" }, "scopes": { "values": { "a": 1 } }, "pkce": "supported" });
        merge(
            &mut base,
            json!({ "endpoints": { "token": "t2", "revocation": null }, "scopes": { "values": { "b": 2 } }, "pkce": "required" }),
        );
        assert_eq!(
            base,
            json!({ "id": "b", "endpoints": { "token": "t2" }, "scopes": { "values": { "a": 1, "b": 2 } }, "pkce": "required" })
        );
    }

    #[test]
    fn base_ids_never_leave_the_directory() {
        assert!(valid_base_id("paypal"));
        assert!(!valid_base_id("../paypal"));
        assert!(!valid_base_id("a/b"));
        assert!(!valid_base_id(""));
        assert!(!valid_base_id("Paypal"));
    }

    const BASE: &str = "id: base\nname: Base\nprovenance: [{ source: \"https://b.example/docs\", checked: 2026-11-30, covers: [endpoints, pkce, grants] }]\n\
        endpoints:\n  authorization: https://b.example/auth\n  token: https://b.example/token\n  revocation: https://b.example/revoke\n\
        pkce: supported\ngrants:\n  authorization_code: {}\n";

    fn specs<'a>(files: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Result<(PathBuf, String), String> + 'a {
        move |id: &str| {
            files
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(i, t)| (PathBuf::from(format!("{i}.yaml")), (*t).to_owned()))
                .ok_or_else(|| format!("no `{id}`"))
        }
    }

    #[test]
    fn a_variant_is_its_base_with_its_keys_written_over() {
        let variant = "extends: base\nid: sandbox\nname: Sandbox\nprovenance: [{ source: \"https://b.example/sandbox\", checked: 2026-11-30, covers: [endpoints.token] }]\n\
            endpoints:\n  token: https://sandbox.b.example/token\n  revocation: null\n";
        let spec = crate::parse_with("sandbox.yaml", variant, &specs(&[("base", BASE)])).unwrap();
        assert_eq!(spec.id, "sandbox");
        assert_eq!(spec.endpoints.token, "https://sandbox.b.example/token");
        assert_eq!(spec.endpoints.authorization.as_deref(), Some("https://b.example/auth"), "inherited");
        assert_eq!(spec.endpoints.revocation, None, "removed with null");
        assert_eq!(spec.provenance.len(), 1, "provenance is the variant's own");
        assert!(spec.grants.authorization_code.is_some());
    }

    #[test]
    fn bad_bases_and_bad_overrides_are_located() {
        let resolve = specs(&[("base", BASE), ("a", "extends: b\nid: a"), ("b", "extends: a\nid: b")]);
        let err = |text: &str| crate::parse_with("v.yaml", text, &resolve).unwrap_err().to_string();
        let head = "id: v\nname: V\nprovenance: [{ source: \"https://v.example\", checked: 2026-11-30 }]\n";
        assert!(err(&format!("extends: nosuch\n{head}")).contains("v.yaml:1:10: error: no `nosuch`"));
        assert!(err(&format!("extends: ../base\n{head}")).contains("`../base` is not a spec id"));
        assert!(err(&format!("extends: a\n{head}")).contains("makes a cycle through `a`"));
        assert!(err(&format!("extends: v\n{head}")).contains("makes a cycle through `v`"));
        // An error in what the variant writes is located in the variant.
        let text = format!("extends: base\n{head}pkce: sometimes\n");
        assert!(err(&text).contains("v.yaml:5:7: error"), "{}", err(&text));
    }
}
