//! What a browser sends back: the callback's query string and URL, and the raw request the
//! loopback listener reads, arriving in reads of any size.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oauthgen_fuzz::callback(data));
