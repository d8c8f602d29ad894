//! A spec file, through the whole front end: YAML with positions, the schema, the checks,
//! located diagnostics rendered with their source lines; a spec that passes is lowered and
//! emitted as Rust.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oauthgen_fuzz::spec_yaml(data));
