//! The `oauthgen` command as users run it.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt as _;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn oauthgen() -> Command {
    let mut cmd = Command::cargo_bin("oauthgen").unwrap();
    cmd.current_dir(workspace());
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn check_accepts_the_bundled_specs_by_default() {
    let (code, _, stderr) = run(oauthgen().arg("check"));
    assert_eq!(code, 0, "{stderr}");
    let count = std::fs::read_dir(workspace().join("specs"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "yaml"))
        .count();
    assert_eq!(stderr.trim(), format!("checked {count} spec(s): all valid"));
}

#[test]
fn check_reports_every_error_of_every_file_and_exits_1() {
    let (code, stdout, stderr) = run(oauthgen().args([
        "check",
        "tests/fixtures/broken/many_errors.yaml",
        "tests/fixtures/broken/http_off_loopback.yaml",
        "specs/google.yaml",
    ]));
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    insta::assert_snapshot!(stderr);
}

/// `--strict` adds the catalog's provenance rules to a spec the ordinary check accepts: the
/// source that is neither a page nor a file at a commit, the date in the future, and each
/// fact no source covers, while a fact marked `# unsourced` passes.
#[test]
fn check_strict_reports_provenance_problems() {
    let spec = "tests/fixtures/strict/provenance.yaml";
    let (code, _, stderr) = run(oauthgen().args(["check", spec]));
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = run(oauthgen().args(["check", "--strict", spec]));
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(!stderr.contains("endpoints.userinfo"), "a fact marked `# unsourced` is accepted:\n{stderr}");
    insta::assert_snapshot!(stderr);
    let (code, _, stderr) = run(oauthgen().args(["check", "--strict", "specs"]));
    assert_eq!(code, 0, "the bundled specs follow the provenance rules:\n{stderr}");
    assert!(stderr.ends_with("all valid, provenance complete\n"), "{stderr}");
}

#[test]
fn check_of_a_missing_path_is_a_clear_error() {
    let (code, _, stderr) = run(oauthgen().args(["check", "no/such/spec.yaml"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("no/such/spec.yaml:1:1: error: cannot read spec"), "{stderr}");
}

#[test]
fn providers_lists_endpoints_and_capabilities() {
    let (code, stdout, stderr) = run(oauthgen().args(["providers", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let list = list.as_array().unwrap();
    assert!(list.len() >= 32);
    let google = list.iter().find(|p| p["id"] == "google").unwrap();
    assert_eq!(google["endpoints"]["token"], "https://oauth2.googleapis.com/token");
    let caps: Vec<&str> = google["capabilities"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(caps.contains(&"jwt_bearer") && caps.contains(&"device_code") && caps.contains(&"revocation"));
    let dailymotion = list.iter().find(|p| p["id"] == "dailymotion").unwrap();
    assert!(!dailymotion["capabilities"].as_array().unwrap().iter().any(|c| c == "jwt_bearer"));
    let microsoft = list.iter().find(|p| p["id"] == "microsoft").unwrap();
    assert_eq!(microsoft["variables"], serde_json::json!(["tenant"]));

    let (code, table, _) = run(oauthgen().arg("providers"));
    assert_eq!(code, 0);
    assert!(table.starts_with("ID "));
    assert!(table.lines().any(|l| l.starts_with("google ") && l.contains("jwt_bearer")));
}

#[test]
fn providers_from_a_spec_dir() {
    let (code, stdout, _) = run(oauthgen().args(["providers", "--json", "--spec-dir", "tests/fixtures/ok"]));
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["jwtop", "testop-public", "testop"]);
    let (code, _, stderr) = run(oauthgen().args(["providers", "--spec-dir", "tests/fixtures/broken"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("error:"));
}

#[test]
fn generate_refuses_broken_specs_and_writes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("client");
    let (code, _, stderr) = run(oauthgen()
        .args(["generate", "--spec", "specs/google.yaml", "--spec"])
        .arg("tests/fixtures/broken/unknown_key.yaml")
        .arg("--out")
        .arg(&target));
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown key `tokne`"), "{stderr}");
    assert!(!target.exists());
}

/// `generate` writes a crate that compiles as it is, against the runtime by path.
#[test]
fn generate_writes_a_crate_that_compiles() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("acme-clients");
    let (code, _, stderr) = run(oauthgen()
        .args(["generate", "--spec", "specs/google.yaml", "specs/dailymotion.yaml", "specs/microsoft.yaml", "--out"])
        .arg(&target)
        .args(["--runtime-path", "runtime"]));
    assert_eq!(code, 0, "{stderr}");
    let manifest = std::fs::read_to_string(target.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"acme-clients\""));
    assert!(manifest.contains(&format!("path = {:?}", workspace().join("runtime").display().to_string())));
    let lib = std::fs::read_to_string(target.join("src/lib.rs")).unwrap();
    assert!(lib.contains("pub mod google {") && lib.contains("pub struct Dailymotion"));

    // The same run again changes nothing (files are written only when they differ).
    let modified = std::fs::metadata(target.join("src/lib.rs")).unwrap().modified().unwrap();
    let (code, _, _) = run(oauthgen()
        .args(["generate", "--spec", "specs/google.yaml", "specs/dailymotion.yaml", "specs/microsoft.yaml", "--out"])
        .arg(&target)
        .args(["--runtime-path", "runtime"]));
    assert_eq!(code, 0);
    assert_eq!(modified, std::fs::metadata(target.join("src/lib.rs")).unwrap().modified().unwrap());

    // Compile it with warnings denied, sharing this workspace's build directory.
    let status = Command::new(env!("CARGO"))
        .args(["check", "--offline", "--quiet", "--manifest-path"])
        .arg(target.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", workspace().join("target/generated-crate"))
        .env("RUSTFLAGS", "-D warnings")
        .status()
        .unwrap();
    assert!(status.success(), "the generated crate does not compile");
}

#[test]
fn version_and_help() {
    let (code, stdout, _) = run(oauthgen().arg("--help"));
    assert_eq!(code, 0);
    insta::assert_snapshot!(stdout);
}
