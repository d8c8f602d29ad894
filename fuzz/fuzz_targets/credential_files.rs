//! Credential files: oauth2client's `Storage` file, `authorized_user`, a service account's
//! JSON key and PEM keys, `GOOGLE_APPLICATION_CREDENTIALS`, and the file store's JSON.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oauthgen_fuzz::credential_files(data));
