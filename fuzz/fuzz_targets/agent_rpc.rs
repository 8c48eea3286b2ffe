//! The agent's RPC requests: protobuf and JSON decoding of every
//! `wrenn.agent.v1` request message, then the conversion/validation layer.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wrenn_agent::fuzzing::rpc_request(data));
