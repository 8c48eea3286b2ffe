//! Entry point for the cargo-fuzz target `agent_rpc` in `fuzz/`: arbitrary
//! bytes as the body of one of the agent's RPC requests, decoded as the
//! Connect service decodes them (binary protobuf or proto3 JSON), then
//! through the edge checks of [`crate::rpc::convert`] and the sandbox
//! config validation. Must never panic; a decoded message must survive an
//! encode/decode round trip (protobuf and JSON) unchanged.
use wrenn_proto::wrenn::agent::v1 as pb;

use crate::{
    rpc::convert,
    sandbox::{config::MAX_TIMEOUT_SECS, Limits},
};

/// Host limits the validation runs against (a large host).
const LIMITS: Limits = Limits {
    max_vcpus: 64,
    max_memory_mib: 256 * 1024,
    max_disk_mib: 4 * 1024 * 1024,
};

/// The message kinds, selected by the first input byte.
const KINDS: u8 = 12;

/// First byte: `kind * 2 + json` (modulo); the rest is the message body.
pub fn rpc_request(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let json = selector & 1 == 1;
    match (selector >> 1) % KINDS {
        0 => {
            if let Some(req) = decode::<pb::CreateSandboxRequest>(json, body) {
                create(&req);
            }
        }
        1 => {
            if let Some(req) = decode::<pb::GetSandboxRequest>(json, body) {
                let _ = convert::sandbox_id("id", &req.id);
            }
        }
        2 => {
            if let Some(req) = decode::<pb::DestroySandboxRequest>(json, body) {
                let _ = convert::sandbox_id("id", &req.id);
            }
        }
        3 => {
            if let Some(req) = decode::<pb::PauseSandboxRequest>(json, body) {
                let _ = convert::sandbox_id("id", &req.id);
            }
        }
        4 => {
            if let Some(req) = decode::<pb::ResumeSandboxRequest>(json, body) {
                let _ = convert::sandbox_id("id", &req.id);
            }
        }
        5 => {
            if let Some(req) = decode::<pb::SetTimeoutRequest>(json, body) {
                let _ = convert::sandbox_id("id", &req.id);
            }
        }
        6 => {
            if let Some(req) = decode::<pb::WarmTemplateRequest>(json, body) {
                let _ = convert::template_name("template", &req.template);
                let _ = convert::vcpus("vcpus", req.vcpus);
            }
        }
        7 => {
            if let Some(req) = decode::<pb::SnapshotSandboxRequest>(json, body) {
                let _ = convert::sandbox_id("id", &req.id);
                let _ = convert::template_name("template", &req.template);
            }
        }
        8 => {
            if let Some(req) = decode::<pb::DeleteTemplateRequest>(json, body) {
                let _ = convert::template_name("template", &req.template);
            }
        }
        9 => {
            let _ = decode::<pb::ListSandboxesRequest>(json, body);
        }
        10 => {
            let _ = decode::<pb::ListTemplatesRequest>(json, body);
        }
        _ => {
            let _ = decode::<pb::HostInfoRequest>(json, body);
        }
    }
}

/// What `create_sandbox` does before it touches the manager: parse the
/// config and the optional id, then the manager's own validation.
fn create(req: &pb::CreateSandboxRequest) {
    let _ = convert::optional_sandbox_id("id", &req.id);
    if let Ok(config) = convert::sandbox_config(req) {
        if config.validate(&LIMITS).is_ok() {
            // Validation promises these bounds; the VM launcher relies on them.
            assert!(config.vcpus >= 1 && config.vcpus <= LIMITS.max_vcpus);
            assert!(config.timeout_secs <= MAX_TIMEOUT_SECS);
        }
    }
}

/// Decodes like the Connect service (an empty body is the default
/// message); a decoded message must re-encode to itself.
fn decode<M>(json: bool, body: &[u8]) -> Option<M>
where
    M: buffa::Message
        + serde::Serialize
        + serde::de::DeserializeOwned
        + PartialEq
        + std::fmt::Debug,
{
    let message: M = if body.is_empty() {
        M::default()
    } else if json {
        serde_json::from_slice(body).ok()?
    } else {
        M::decode_from_slice(body).ok()?
    };
    let again = M::decode_from_slice(&message.encode_to_vec()).ok();
    assert_eq!(again.as_ref(), Some(&message), "protobuf round trip");
    // JSON drops unknown protobuf fields, so compare the JSON forms, as
    // values: maps (env_vars, metadata) serialize in hash order.
    if let Ok(value) = serde_json::to_value(&message) {
        let back = serde_json::from_value::<M>(value.clone()).ok();
        let again = back.and_then(|b| serde_json::to_value(&b).ok());
        assert_eq!(again.as_ref(), Some(&value), "JSON round trip");
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use buffa::Message;

    use super::*;

    fn samples() -> Vec<Vec<u8>> {
        let create = pb::CreateSandboxRequest {
            template: "base".into(),
            vcpus: 1,
            memory_mib: 512,
            timeout_secs: 300,
            ..Default::default()
        };
        vec![
            [&[0u8][..], &create.encode_to_vec()].concat(),
            [
                &b"\x01"[..],
                br#"{"template":"base","vcpus":1,"memoryMib":512,"timeoutSecs":"300","envVars":{"A":"b","":"","B":"c"}}"#,
            ]
            .concat(),
            b"\x03{\"id\":\"sbx_0123456789abcdefghij\"}".to_vec(),
            b"\x0d{\"template\":\"base\",\"vcpus\":99999}".to_vec(),
            Vec::new(),
        ]
    }

    /// A cheap stand-in for the fuzzer where no nightly toolchain exists:
    /// seeds and pseudo-random mutations of them through the entry point.
    #[test]
    fn rpc_request_when_pseudo_random_inputs_then_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let samples = samples();
        for sample in &samples {
            rpc_request(sample);
        }
        for round in 0..4000u32 {
            let mut data = samples[round as usize % samples.len()].clone();
            let flips = next() % 8;
            for _ in 0..flips {
                if data.is_empty() {
                    data.push(next() as u8);
                }
                let at = (next() as usize) % data.len();
                data[at] = next() as u8;
            }
            if next() % 4 == 0 {
                data.truncate((next() as usize) % (data.len() + 1));
            }
            rpc_request(&data);
        }
    }
}
