//! ID tokens and JWK sets: the first two bytes give the length of a JWKS document, the rest
//! is a compact JWS checked against it (and decoded without a check, as `Credentials` does
//! for display).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oauthgen_fuzz::id_token(data));
