//! The fuzz targets (`fuzz/`) on stable Rust: every committed seed of their corpus and every
//! input a fuzzer found a crash with (`fuzz/regressions/<target>/`, kept once the crash is
//! fixed) runs through the same target function libFuzzer calls, without a panic.

// The targets' own crate is not in the workspace (it builds with nightly and libFuzzer).
#[path = "../../fuzz/src/lib.rs"]
#[allow(unreachable_pub, dead_code, reason = "the fuzz crate's public items, used here in part")]
mod targets;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when the directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_seed_and_every_regression_runs_without_a_panic() {
    let mut failures = Vec::new();
    for (name, target) in targets::TARGETS {
        let seeds = inputs("corpus", name);
        assert!(seeds.len() >= 5, "the `{name}` target has {} seeds; run `node fuzz/seed-corpus.mjs`", seeds.len());
        for file in seeds.iter().chain(&inputs("regressions", name)) {
            let data = std::fs::read(file).unwrap();
            if let Err(panic) = std::panic::catch_unwind(|| target(&data)) {
                let why = panic.downcast_ref::<String>().cloned().unwrap_or_default();
                failures.push(format!("{name}: {} panicked: {why}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The seeds reach past parsing: their ID tokens verify against their key sets (so the
/// fuzzer starts from tokens whose claims are checked), and their documented token
/// responses read as credentials.
#[test]
fn the_seeds_reach_the_deep_paths() {
    let mut verified = Vec::new();
    for file in inputs("corpus", "id_token") {
        let data = std::fs::read(&file).unwrap();
        let (jwks, token) = targets::split_id_token(&data).unwrap();
        let keys = oauthgen_runtime::oidc::JwkSet::from_json(jwks).unwrap();
        if let Ok(claims) = oauthgen_runtime::oidc::verify_id_token(&token, &keys, &targets::ID_TOKEN_EXPECT) {
            assert_eq!(claims.sub, "248289761001");
            let header = token.split('.').next().unwrap().to_owned();
            verified.push(header);
        }
    }
    assert!(verified.len() >= 3, "RS256, ES256 and EdDSA seeds verify: {verified:?}");

    let read = inputs("corpus", "token_response")
        .iter()
        .filter(|file| {
            let data = std::fs::read(file).unwrap();
            let (&endpoint, rest) = data.split_first().unwrap();
            let answer = targets::Answer::read(rest).unwrap();
            let endpoint =
                if endpoint % 2 == 0 { oauthgen_runtime::Endpoint::Token } else { oauthgen_runtime::Endpoint::Refresh };
            oauthgen_runtime::fuzz::token_response(
                answer.spec,
                endpoint,
                answer.status,
                answer.content_type,
                answer.body,
            )
            .is_ok()
        })
        .count();
    assert!(read >= 100, "only {read} token-response seeds read as credentials");
}
