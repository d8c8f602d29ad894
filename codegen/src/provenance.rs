//! Provenance: which source states which fact. `covers` entries are checked always (they must
//! name facts the spec has); [`strict`] adds the catalog's rules, run by
//! `oauthgen check --strict`: every source is an `https://` URL or `owner/repo@commit:path`,
//! no `checked` date lies in the future, and every fact is covered by a source or marked
//! `# unsourced` on its line.

use crate::diag::Diagnostic;
use crate::schema::did_you_mean;
use crate::spec::Spec;
use crate::yaml::Index;
use oauthgen_spec::Endpoint;

/// The sections whose every entry is a fact of its own.
const SECTIONS: &[&str] = &["endpoints", "grants"];

/// The spec keys that state facts about the provider, as `covers` names them.
fn vocabulary() -> Vec<String> {
    let mut keys: Vec<String> = [
        "endpoints",
        "grants",
        "variables",
        "client_auth",
        "endpoint_client_auth",
        "pkce",
        "scopes",
        "authorize_params",
        "request_headers",
        "param_names",
        "endpoint_param_names",
        "client_assertion",
        "dpop",
        "token_request",
        "token_response",
        "refresh",
        "api",
        "redirect",
        "oidc",
    ]
    .map(str::to_owned)
    .to_vec();
    keys.extend(Endpoint::ALL.iter().map(|e| format!("endpoints.{}", e.key())));
    keys.extend(
        ["authorization_code", "refresh_token", "device_code", "client_credentials", "jwt_bearer", "token_exchange"]
            .map(|g| format!("grants.{g}")),
    );
    keys
}

fn pointer(key: &str) -> String {
    format!("/{}", key.replace('.', "/"))
}

/// The facts this spec states: every vocabulary key written in it, sections by entry.
fn facts(index: &Index) -> Vec<String> {
    vocabulary().into_iter().filter(|k| !SECTIONS.contains(&k.as_str()) && index.contains(&pointer(k))).collect()
}

/// `covers` must name facts the spec states.
pub(crate) fn check_covers(spec: &Spec, index: &Index, out: &mut Vec<Diagnostic>) {
    let vocabulary = vocabulary();
    for (i, p) in spec.provenance.iter().enumerate() {
        for (j, key) in p.covers.iter().enumerate() {
            let at = index.value(&format!("/provenance/{i}/covers/{j}"));
            if !vocabulary.contains(key) {
                let mut d = Diagnostic::error(at, format!("`{key}` is not a fact `covers` can name"));
                if let Some(close) = did_you_mean(key, vocabulary.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{close}`?"));
                }
                out.push(d);
            } else if !index.contains(&pointer(key)) {
                out.push(Diagnostic::error(
                    at,
                    format!("`{key}` is covered by this source but the spec does not state it"),
                ));
            }
        }
    }
}

/// Whether `source` has one of the accepted forms: an `https://` URL, or
/// `owner/repo@commit:path` with a hexadecimal commit of 7 to 40 digits; either may be
/// followed by a parenthesised remark.
pub fn valid_source(source: &str) -> bool {
    let reference = match source.split_once(' ') {
        Some((reference, remark)) => {
            if !(remark.starts_with('(') && remark.ends_with(')')) {
                return false;
            }
            reference
        }
        None => source,
    };
    if let Some(rest) = reference.strip_prefix("https://") {
        return url::Url::parse(reference).is_ok_and(|u| u.host_str().is_some_and(|h| h.contains('.')))
            && !rest.is_empty();
    }
    let Some((repo, rest)) = reference.split_once('@') else { return false };
    let Some((commit, path)) = rest.split_once(':') else { return false };
    let name = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    let repo_ok = repo.split_once('/').is_some_and(|(owner, name_)| name(owner) && name(name_));
    repo_ok
        && (7..=40).contains(&commit.len())
        && commit.chars().all(|c| c.is_ascii_hexdigit())
        && !path.is_empty()
        && !path.starts_with('/')
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs() / 86_400).unwrap_or(0));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The catalog's provenance rules (`oauthgen check --strict`), for a spec that passed the
/// ordinary checks. `text` is the spec's YAML (for `# unsourced` markers) and `today` the date
/// no `checked` may pass.
pub fn strict(spec: &Spec, index: &Index, text: &str, today: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, p) in spec.provenance.iter().enumerate() {
        if !valid_source(&p.source) {
            out.push(
                Diagnostic::error(
                    index.value(&format!("/provenance/{i}/source")),
                    format!("source `{}` is neither an https:// URL nor `owner/repo@commit:path`", p.source),
                )
                .with_help("name the page (https://...) or the file at a commit (owner/repo@abc1234:path); add remarks in parentheses after it"),
            );
        }
        if p.checked.as_str() > today {
            out.push(Diagnostic::error(
                index.value(&format!("/provenance/{i}/checked")),
                format!("`checked: {}` is in the future", p.checked),
            ));
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let marked = |key: &str| {
        let line = index.key(&pointer(key)).line;
        lines.get(line.wrapping_sub(1)).is_some_and(|l| l.contains("# unsourced"))
    };
    let covered = |key: &str| {
        let parent = key.split_once('.').map(|(p, _)| p);
        spec.provenance.iter().any(|p| p.covers.iter().any(|c| c == key || Some(c.as_str()) == parent))
            || marked(key)
            || parent.is_some_and(marked)
    };
    for key in facts(index) {
        if !covered(&key) {
            out.push(
                Diagnostic::error(index.key(&pointer(&key)), format!("no source covers `{key}`"))
                    .with_help(format!("add `{key}` to the `covers` of the source that states it, or end its line with `# unsourced: <why>`")),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert!(valid_source("https://developers.google.com/identity/protocols/oauth2"));
        assert!(valid_source("https://docs.github.com/x (the device flow section)"));
        assert!(valid_source("NangoHQ/nango@a8c8984:packages/providers/providers.yaml"));
        assert!(valid_source("NangoHQ/nango@a8c8984:packages/providers/providers.yaml (okta, okta-cc)"));
        assert!(!valid_source("http://example.com/docs"));
        assert!(!valid_source("Keycloak documentation"));
        assert!(!valid_source("NangoHQ/nango@main:providers.yaml"));
        assert!(!valid_source("NangoHQ/nango@a8c8984"));
        assert!(!valid_source("https://docs.github.com/x and more"));
        assert!(!valid_source("https://localhost/x"));
    }

    #[test]
    fn today_is_a_date() {
        let t = today();
        assert_eq!(t.len(), 10);
        assert!(t.as_str() > "2026-01-01", "{t}");
    }
}
