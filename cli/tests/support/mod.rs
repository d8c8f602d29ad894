//! What the command-line tests share: the workspace, the `oauthgen` binary run from it with a
//! clean environment, and a run's exit code and output.

#![allow(dead_code, unreachable_pub, reason = "a test module: each test file uses a part")]

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt as _;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `oauthgen ARGS` in the workspace, without the environment variables that would change it.
pub fn oauthgen(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("oauthgen").unwrap();
    cmd.current_dir(workspace())
        .args(args)
        .env_remove("OAUTHGEN_CLIENT_SECRET")
        .env_remove("OAUTHGEN_STORE")
        .env_remove("OAUTHGEN_SUBJECT_TOKEN")
        .env_remove("OAUTHGEN_ACTOR_TOKEN");
    cmd
}

/// Run it: exit code, standard output, standard error.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}
