//! Streaming multipart/form-data parser.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| envd::fuzzing::multipart(data));
