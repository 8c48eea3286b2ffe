//! Host registration with a control plane (the contract is docs/hosts.md):
//! the one-time `POST /v1/hosts/register` that turns a registration token
//! into credentials, the token file that keeps them, and the heartbeat loop
//! of a registered agent.
//!
//! | module | owns |
//! |---|---|
//! | [`input`] | parsing `--register`, `--address`, `--cp-url` |
//! | [`credentials`] | the token file (atomic 0600 write, checked load) |
//! | [`client`] | the HTTP calls and their wire types |
//! | [`specs`] | specs at registration, free capacity and load per heartbeat |
//! | [`heartbeat`] | the loop, its retries and when it gives up |
pub mod client;
pub mod credentials;
#[cfg(test)]
mod fake_cp;
pub mod heartbeat;
pub mod input;
pub mod specs;

use std::{path::Path, time::Duration};

pub use client::{CallError, CpClient};
pub use credentials::{CredentialsError, HostCredentials, TOKEN_FILE_NAME};
pub use heartbeat::{HeartbeatConfig, HostRevoked};
pub use input::{CpUrl, HostAddress, InputError, RegistrationToken};
pub use specs::{HostSpecs, Usage};

/// What `--register` asks for.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    pub token: RegistrationToken,
    pub address: HostAddress,
    pub cp_url: CpUrl,
}

/// A registration that went through and was saved.
#[derive(Debug, Clone)]
pub struct Registration {
    pub credentials: HostCredentials,
    pub heartbeat_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("registered as {host_id}, but the credentials could not be saved: this host must be deleted and registered anew")]
    Save {
        host_id: String,
        #[source]
        source: CredentialsError,
    },
}

/// Registers with the control plane and saves the credentials in
/// `token_file`. Nothing is written when the control plane refuses.
pub async fn register(
    request: &RegisterRequest,
    specs: &HostSpecs,
    token_file: &Path,
) -> Result<Registration, RegisterError> {
    let client = CpClient::new(request.cp_url.clone());
    let answer = client
        .register(&request.token, request.address, specs)
        .await?;
    let credentials = HostCredentials {
        cp_url: request.cp_url.to_string(),
        host_id: answer.host_id.clone(),
        host_token: answer.host_token,
        agent_secret: answer.agent_secret,
    };
    credentials
        .save(token_file)
        .map_err(|source| RegisterError::Save {
            host_id: answer.host_id,
            source,
        })?;
    Ok(Registration {
        credentials,
        heartbeat_interval: Duration::from_secs(answer.heartbeat_interval_secs.clamp(1, 3600)),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{fake_cp::FakeCp, *};

    const TOKEN: &str = "wrh_0123456789abcdefghijABCDEFGHIJkl";
    const SECRET: &str = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-ab";

    fn specs() -> HostSpecs {
        HostSpecs {
            arch: "x86_64".into(),
            cpus: 16,
            memory_mb: 64000,
            disk_mb: 500_000,
            backend: "qemu".into(),
            accelerator: "tcg".into(),
            agent_version: "0.1.0".into(),
            tls_cert_sha256: None,
        }
    }

    fn request(cp: &FakeCp) -> RegisterRequest {
        RegisterRequest {
            token: TOKEN.parse().expect("token"),
            address: "10.0.0.5:50051".parse().expect("address"),
            cp_url: cp.url.clone(),
        }
    }

    #[tokio::test]
    async fn register_when_accepted_then_documented_body_and_token_file_saved() {
        let cp = FakeCp::start(vec![(
            201,
            json!({"host_id": "host_abcdefghij0123456789", "host_token": "h.jwt.t",
                   "agent_secret": SECRET, "heartbeat_interval_secs": 7}),
        )])
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("host-token");

        let done = register(&request(&cp), &specs(), &file)
            .await
            .expect("registered");

        assert_eq!(done.heartbeat_interval, Duration::from_secs(7));
        let seen = cp.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path, "/v1/hosts/register");
        assert_eq!(seen[0].host_token, None);
        assert_eq!(
            seen[0].body,
            json!({"token": TOKEN, "address": "10.0.0.5:50051",
                   "specs": {"arch": "x86_64", "cpus": 16, "memory_mb": 64000,
                             "disk_mb": 500_000, "backend": "qemu", "accelerator": "tcg",
                             "agent_version": "0.1.0", "tls_cert_sha256": null}})
        );
        let saved = HostCredentials::load(&file).expect("token file");
        assert_eq!(saved.host_id, "host_abcdefghij0123456789");
        assert_eq!(saved.cp_url, cp.url.to_string());
        assert_eq!(saved.secret().expect("secret").expose(), SECRET);
    }

    #[tokio::test]
    async fn register_when_refused_then_code_kept_and_nothing_written() {
        let cp = FakeCp::start(vec![fake_cp::refusal(409, "host_already_registered")]).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("host-token");

        let err = register(&request(&cp), &specs(), &file)
            .await
            .expect_err("refused");

        let RegisterError::Call(CallError::Refused { status, code, .. }) = &err else {
            panic!("unexpected {err:?}");
        };
        assert_eq!((*status, code.as_str()), (409, "host_already_registered"));
        assert!(!file.exists());
    }
}
