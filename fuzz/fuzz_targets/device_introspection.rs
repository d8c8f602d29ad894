//! A device authorization endpoint's and an introspection endpoint's answers, with a
//! bundled spec's settings.
#![no_main]

// The 135 bundled specs are lowered once, before the first input: under the sanitizer on a
// busy machine that takes longer than the 1 s an input may.
libfuzzer_sys::fuzz_target!(init: { oauthgen_fuzz::specs(); }, |data: &[u8]| oauthgen_fuzz::device_introspection(data));
