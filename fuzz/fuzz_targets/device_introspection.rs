//! A device authorization endpoint's and an introspection endpoint's answers, with a
//! bundled spec's settings.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oauthgen_fuzz::device_introspection(data));
