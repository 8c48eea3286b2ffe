//! Connect envelope decoder (and both codecs on what it yields).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| envd::fuzzing::connect_envelope(data));
