//! A token endpoint's answer (code exchange or refresh), read with a bundled spec's
//! `token_response` settings: refusals, the clean-up, `oauth2`'s parse, the credentials.
#![no_main]

// The 135 bundled specs are lowered once, before the first input: under the sanitizer on a
// busy machine that takes longer than the 1 s an input may.
libfuzzer_sys::fuzz_target!(init: { oauthgen_fuzz::specs(); }, |data: &[u8]| oauthgen_fuzz::token_response_target(data));
