//! A token endpoint's answer (code exchange or refresh), read with a bundled spec's
//! `token_response` settings: refusals, the clean-up, `oauth2`'s parse, the credentials.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oauthgen_fuzz::token_response_target(data));
