//! The control plane's REST API inputs: every JSON body type, the
//! WebSocket client frames and the sandbox list query, parsed and validated.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wrenn_cp::fuzzing::api_input(data));
