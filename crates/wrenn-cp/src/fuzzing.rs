//! Entry point for the cargo-fuzz target `cp_api_body` in `fuzz/`: arbitrary
//! bytes as one of the REST API's request inputs (every JSON body type,
//! the WebSocket client frames, the sandbox list query), parsed and
//! validated as its handler does before touching the database. Must never
//! panic, and every refusal must render as the API's error answer.
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;

use crate::{
    api::{
        self, admin, auth, hosts, input, keys, members,
        sandboxes::{self as sbx, exec::ExecRequest, files, types},
        teams, templates,
    },
    error::ApiError,
    service,
};
use wrenn_types::{
    host_wire::{HeartbeatRequest, RegisterRequest},
    TemplateName,
};

/// The input kinds, selected by the first byte.
const KINDS: u8 = 20;

/// First byte: which input (modulo [`KINDS`]); the rest is its bytes.
pub fn api_input(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let outcome = match selector % KINDS {
        0 => json::<auth::SignupRequest>(body).and_then(|b| {
            input::Email::parse(&b.email)?;
            input::new_password(&b.password)?;
            b.name
                .as_deref()
                .map(|n| input::name(n, "name"))
                .transpose()?;
            Ok(())
        }),
        1 => json::<auth::LoginRequest>(body).map(drop),
        2 => json::<teams::CreateTeam>(body).and_then(|b| input::name(&b.name, "name").map(drop)),
        3 => json::<members::AddMember>(body).and_then(|b| input::Email::parse(&b.email).map(drop)),
        4 => json::<admin::SetAdmin>(body).map(drop),
        5 => json::<keys::CreateKey>(body).and_then(|b| input::name(&b.name, "name").map(drop)),
        6 => json::<hosts::manage::CreateHost>(body).and_then(|b| {
            hosts::validate_name(&b.name)?;
            hosts::validate_tags(&b.tags)?;
            b.tls_fingerprint
                .as_deref()
                .map(hosts::normalise_fingerprint)
                .transpose()?;
            Ok(())
        }),
        7 => json::<hosts::manage::UpdateHost>(body).map(drop),
        8 => json::<hosts::tags::Tags>(body).and_then(|b| hosts::validate_tags(&b.tags)),
        9 => json::<RegisterRequest>(body).and_then(|b| {
            service::hosts::registration::parse(&b)
                .map(drop)
                .map_err(|e| ApiError::validation(e.to_string()))
        }),
        10 => json::<HeartbeatRequest>(body).map(drop),
        11 => json::<types::CreateSandbox>(body).and_then(|b| b.validate()),
        12 => json::<ExecRequest>(body).and_then(|b| exec(&b)),
        13 => json::<files::MakeDir>(body).and_then(|b| {
            files::PathParams {
                path: b.path,
                user: b.user,
                depth: None,
            }
            .checked()
            .map(drop)
        }),
        14 => json::<files::Rename>(body).and_then(|b| {
            files::checked_path(&b.to)?;
            files::PathParams {
                path: b.from,
                user: b.user,
                depth: None,
            }
            .checked()
            .map(drop)
        }),
        15 => json::<templates::SnapshotRequest>(body).and_then(|b| {
            types::validate_template_name(&b.name)?;
            TemplateName::try_from(b.name).map_err(|e| ApiError::validation(e.to_string()))?;
            Ok(())
        }),
        16 => json::<types::SetTimeout>(body).map(|b| {
            let _ = types::TIMEOUT_SECS.contains(&b.timeout_secs);
        }),
        // exec/ws: the first frame is the command, later ones are control.
        17 => json::<ExecRequest>(body)
            .and_then(|b| b.validate())
            .or_else(|_| json::<sbx::exec_ws::ClientFrame>(body).map(drop)),
        18 => json::<sbx::pty::Control>(body).and_then(|c| match c {
            sbx::pty::Control::Resize { cols, rows } => {
                sbx::pty::size(Some(cols), 80)?;
                sbx::pty::size(Some(rows), 24)?;
                Ok(())
            }
            sbx::pty::Control::Kill => Ok(()),
        }),
        _ => match std::str::from_utf8(body) {
            Ok(query) => sbx::list::parse_filter(Some(query)).map(|filter| {
                let limit = filter.limit;
                assert!(
                    (1..=200).contains(&limit),
                    "page limit {limit} out of range"
                );
            }),
            Err(_) => Ok(()),
        },
    };
    if let Err(err) = outcome {
        // Every refusal renders as an error answer with a stable code.
        let _ = err.code();
        let response = err.into_response();
        assert!(response.status().is_client_error() || response.status().is_server_error());
    }
    let _ = api::page_limit(body.first().map(|b| u32::from(*b)));
}

/// A JSON body as `ApiJson` reads it (a refusal is `invalid_json` or
/// `validation_failed`).
fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::validation(e.to_string()))
}

/// What `POST /v1/sandboxes/{id}/exec` checks, then the command it builds.
fn exec(request: &ExecRequest) -> Result<(), ApiError> {
    request.validate()?;
    request.validate_collected()?;
    let command = request.command();
    assert!(!command.user.is_empty());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cheap stand-in for the fuzzer where no nightly toolchain exists:
    /// a valid example of each input kind, then pseudo-random mutations.
    #[test]
    fn api_input_when_pseudo_random_inputs_then_never_panics() {
        let samples: Vec<Vec<u8>> = [
            (0u8, r#"{"email":"a@b.io","password":"12345678","name":"A"}"#),
            (3, r#"{"email":"a@b.io","role":"member"}"#),
            (6, r#"{"name":"h-1","byoc":true,"tags":["gpu"]}"#),
            (11, r#"{"template":"base","vcpus":1,"env_vars":{"A":"b"},"egress_deny":["10.0.0.0/8"]}"#),
            (12, r#"{"command":"echo hi","user":"root","env":{"A":"b"},"timeout_secs":5}"#),
            (14, r#"{"from":"a","to":"b"}"#),
            (17, r#"{"type":"stdin","data":"aGk="}"#),
            (18, r#"{"type":"resize","cols":80,"rows":24}"#),
            (19, "state=running&limit=5&metadata[k]=v"),
        ]
        .iter()
        .map(|(kind, text)| [&[*kind][..], text.as_bytes()].concat())
        .collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for sample in &samples {
            api_input(sample);
        }
        for kind in 0..KINDS {
            api_input(&[kind]);
            api_input(&[kind, b'{', b'}']);
        }
        for round in 0..5000usize {
            let mut data = samples[round % samples.len()].clone();
            for _ in 0..next() % 6 {
                let at = (next() as usize) % data.len();
                data[at] = next() as u8;
            }
            api_input(&data);
        }
    }
}
