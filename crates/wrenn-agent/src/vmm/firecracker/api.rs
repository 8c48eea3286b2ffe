//! Firecracker's REST API over its Unix socket: the request bodies we send
//! (field names as in Firecracker v1.x `firecracker.yaml`) and a small HTTP/1
//! client that opens one connection per request.
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{header, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::UnixStream;

/// `PUT /machine-config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineConfig {
    pub vcpu_count: u8,
    pub mem_size_mib: u32,
}

/// `PUT /boot-source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootSource {
    pub kernel_image_path: PathBuf,
    pub boot_args: String,
}

/// `PUT /drives/{drive_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drive {
    pub drive_id: String,
    pub path_on_host: PathBuf,
    pub is_root_device: bool,
    pub is_read_only: bool,
}

/// `PUT /network-interfaces/{iface_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkInterface {
    pub iface_id: String,
    pub host_dev_name: String,
    pub guest_mac: String,
}

/// `PUT /actions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InstanceAction {
    pub action_type: ActionType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionType {
    InstanceStart,
}

/// `PATCH /vm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VmStateChange {
    pub state: VmState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VmState {
    Paused,
    Resumed,
}

/// `PUT /snapshot/create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotCreate {
    pub snapshot_type: SnapshotType,
    pub snapshot_path: PathBuf,
    pub mem_file_path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SnapshotType {
    Full,
}

/// `PUT /snapshot/load`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotLoad {
    pub snapshot_path: PathBuf,
    pub mem_backend: MemBackend,
    pub resume_vm: bool,
    /// Re-attaches interfaces to TAP devices by name (Firecracker ≥ 1.12);
    /// omitted when the VM has no network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_overrides: Vec<NetworkOverride>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemBackend {
    pub backend_type: MemBackendType,
    pub backend_path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MemBackendType {
    File,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkOverride {
    pub iface_id: String,
    pub host_dev_name: String,
}

/// Firecracker's error body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fault {
    fault_message: String,
}

/// Failures of one API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The socket is missing or nobody listens on it.
    #[error("cannot connect to the Firecracker API socket {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange broke off (the process died, the socket closed).
    #[error("{method} {path}: HTTP exchange with Firecracker failed")]
    Http {
        method: Method,
        path: String,
        #[source]
        source: hyper::Error,
    },
    /// Firecracker answered with an error and said why.
    #[error("{method} {path}: Firecracker refused ({status}): {fault_message}")]
    Fault {
        method: Method,
        path: String,
        status: StatusCode,
        fault_message: String,
    },
    /// An error status without the usual `fault_message` body.
    #[error("{method} {path}: unexpected answer {status}: {body}")]
    Unexpected {
        method: Method,
        path: String,
        status: StatusCode,
        body: String,
    },
    #[error("{method} {path}: no answer within {timeout:?}")]
    Timeout {
        method: Method,
        path: String,
        timeout: Duration,
    },
    #[error("invalid API path {path}")]
    InvalidPath {
        path: String,
        #[source]
        source: hyper::http::Error,
    },
    #[error("cannot encode the body of {path}")]
    Encode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ApiError {
    /// Firecracker's own explanation, when it gave one.
    pub fn fault_message(&self) -> Option<&str> {
        match self {
            Self::Fault { fault_message, .. } => Some(fault_message),
            _ => None,
        }
    }
}

/// Client for one Firecracker API socket.
#[derive(Debug, Clone)]
pub struct ApiClient {
    socket: PathBuf,
    timeout: Duration,
}

/// Default bound on one request; snapshot requests of large guests may need
/// more (see [`ApiClient::with_timeout`]).
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(10);

impl ApiClient {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            timeout: DEFAULT_API_TIMEOUT,
        }
    }

    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub async fn put(&self, path: &str, body: &impl Serialize) -> Result<(), ApiError> {
        self.send(Method::PUT, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &impl Serialize) -> Result<(), ApiError> {
        self.send(Method::PATCH, path, body).await
    }

    /// Sends one JSON request and maps any non-2xx answer to an error.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<(), ApiError> {
        let body = serde_json::to_vec(body).map_err(|source| ApiError::Encode {
            path: path.to_owned(),
            source,
        })?;
        let exchange = self.exchange(method.clone(), path, body);
        let (status, answer) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ApiError::Timeout {
                method: method.clone(),
                path: path.to_owned(),
                timeout: self.timeout,
            })??;
        if status.is_success() {
            return Ok(());
        }
        Err(match serde_json::from_slice::<Fault>(&answer) {
            Ok(fault) => ApiError::Fault {
                method,
                path: path.to_owned(),
                status,
                fault_message: fault.fault_message,
            },
            Err(_) => ApiError::Unexpected {
                method,
                path: path.to_owned(),
                status,
                body: String::from_utf8_lossy(&answer[..answer.len().min(512)]).into_owned(),
            },
        })
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), ApiError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ApiError::Connect {
                    path: self.socket.clone(),
                    source,
                })?;
        let http_error = |source| ApiError::Http {
            method: method.clone(),
            path: path.to_owned(),
            source,
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http_error)?;
        // Drives the connection; ends when `sender` is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, "localhost")
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|source| ApiError::InvalidPath {
                path: path.to_owned(),
                source,
            })?;
        let response = sender.send_request(request).await.map_err(http_error)?;
        let status = response.status();
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(http_error)?
            .to_bytes();
        Ok((status, answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_load_when_no_network_then_overrides_omitted() {
        let load = SnapshotLoad {
            snapshot_path: "/s/state".into(),
            mem_backend: MemBackend {
                backend_type: MemBackendType::File,
                backend_path: "/s/memory".into(),
            },
            resume_vm: true,
            network_overrides: Vec::new(),
        };
        let json = serde_json::to_value(&load).expect("encode");
        assert_eq!(
            json,
            serde_json::json!({
                "snapshot_path": "/s/state",
                "mem_backend": {"backend_type": "File", "backend_path": "/s/memory"},
                "resume_vm": true
            })
        );
    }

    #[test]
    fn fault_when_extra_field_then_rejected() {
        let parsed = serde_json::from_str::<Fault>(r#"{"fault_message":"x","other":1}"#);
        assert!(parsed.is_err());
    }

    #[tokio::test]
    async fn send_when_socket_missing_then_connect_error_names_path() {
        let client = ApiClient::new("/nonexistent/fc.sock");
        let err = client
            .put("/actions", &serde_json::json!({}))
            .await
            .expect_err("no socket");
        assert!(matches!(err, ApiError::Connect { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/fc.sock"));
    }
}
