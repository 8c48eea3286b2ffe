//! The control plane's one road into a sandbox's guest: a client of envd
//! reached through the sandbox's host agent (`/envd/{id}/...` on the agent,
//! which adds the sandbox's access token). Processes and file system calls
//! use envd's Connect services (the E2B wire protocol); files and metrics
//! its plain HTTP routes. Every call rides the host's pooled keep-alive
//! connections ([`crate::agent::EnvdRoute`]).
mod error;
mod files;
mod process;

use std::time::Duration;

use base64::Engine;
use connectrpc::client::{CallOptions, ClientConfig};
use wrenn_proto::{filesystem::FilesystemClient, process::ProcessClient};

pub use error::{EnvdError, HostRefusal, Refusal};

use crate::agent::{transport::AgentTransport, EnvdRoute};

/// A process to start.
#[derive(Debug, Clone, Default)]
pub struct Command {
    pub cmd: String,
    pub args: Vec<String>,
    pub user: String,
    pub cwd: Option<String>,
    pub env: std::collections::BTreeMap<String, String>,
    /// Start in a PTY of `(cols, rows)`.
    pub pty: Option<(u32, u32)>,
    /// Ask for stdin to stay open for input (streaming exec, PTY); `false`
    /// leaves it to envd's default, as collected exec always did.
    pub stdin: bool,
    pub timeout: Option<Duration>,
}

/// Output and end of a running process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessOutput {
    Started { pid: u32 },
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Pty(Vec<u8>),
    Ended { exit_code: i32, status: String },
}

/// What a file system entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

/// One file system entry as envd lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub path: String,
    pub kind: EntryKind,
    pub size: i64,
    pub mode: u32,
    pub modified_at_ms: Option<i64>,
}

/// envd of one sandbox.
#[derive(Debug, Clone)]
pub struct Envd {
    route: EnvdRoute,
}

fn basic_user(user: &str) -> String {
    let user = if user.is_empty() { "user" } else { user };
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:"))
    )
}

impl Envd {
    pub fn new(route: EnvdRoute) -> Self {
        Self { route }
    }

    fn config(&self) -> Result<ClientConfig, EnvdError> {
        let uri = self
            .route
            .base_url
            .parse()
            .map_err(|_| EnvdError::Unreachable("bad agent address".into()))?;
        let mut config = ClientConfig::new(uri);
        for (name, value) in &self.route.headers {
            config = config.with_default_header(*name, value.clone());
        }
        Ok(config)
    }

    fn process(&self) -> Result<ProcessClient<AgentTransport>, EnvdError> {
        Ok(ProcessClient::new(
            self.route.transport.clone(),
            self.config()?,
        ))
    }

    fn filesystem(&self) -> Result<FilesystemClient<AgentTransport>, EnvdError> {
        Ok(FilesystemClient::new(
            self.route.transport.clone(),
            self.config()?,
        ))
    }

    fn as_user(user: &str) -> CallOptions {
        CallOptions::default()
            .with_timeout(Duration::from_secs(60))
            .with_header("authorization", basic_user(user))
    }

    fn http(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .route
            .http
            .request(method, format!("{}{path}", self.route.base_url));
        for (name, value) in &self.route.headers {
            request = request.header(*name, value);
        }
        request
    }
}
