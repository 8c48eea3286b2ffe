//! Dispatch of parsed commands, the context they share, and the one error
//! type every command returns, with its mapping onto exit codes.

mod auth;
mod build;
mod exec;
mod files;
mod host;
mod keys;
mod plan;
mod pool;
mod sandbox;
mod shell;
mod template;
mod usage;

use std::path::PathBuf;

use serde_json::Value;

use crate::cli::{Cli, Command};
use crate::client::{Answer, ApiClient, ClientError};
use crate::config::{self, ConfigError, ConfigFile, ConfigStore, Overrides, Settings};
use crate::exec_ws::ExecStreamError;
use crate::pty::ShellError;
use crate::render;

/// Exit codes besides a command's own: API error, usage, no connection.
pub const EXIT_API: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_CONNECT: u8 = 3;
/// A build this command cancelled on Ctrl-C (128 + SIGINT, as shells do).
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Exec(#[from] ExecStreamError),
    #[error(transparent)]
    Shell(#[from] ShellError),
    /// the command line was valid syntax but cannot be carried out as given
    #[error("{0}")]
    Usage(String),
    #[error("cannot read {what}")]
    Input {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use local file {}", path.display())]
    LocalFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    BuildContext(#[from] crate::build_context::PackError),
    /// the build ran and did not succeed
    #[error("build {id} failed: {reason}")]
    BuildFailed { id: String, reason: String },
    #[error("lost the log stream of build {id} at line {seq}; resume with `wrenn template build-logs {id} --follow --offset {seq}`")]
    LogStreamLost { id: String, seq: u64 },
    #[error("cannot write output")]
    Output(#[from] std::io::Error),
    #[error("the control plane at {api_url} has no domain (WRENN_DOMAIN is not set there), so sandbox ports have no public URL; set WRENN_DOMAIN in its settings (docs/e2b.md, \"TLS and names\"), or reach ports on localhost with the headers E2b-Sandbox-Id and E2b-Sandbox-Port")]
    NoDomain { api_url: String },
}

impl CommandError {
    /// A reader that stopped reading (`wrenn ... | head`) is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            CommandError::Output(e) => e,
            CommandError::Exec(ExecStreamError::Output(e)) => e,
            CommandError::Shell(ShellError::Output(e)) => e,
            _ => return false,
        };
        io.kind() == std::io::ErrorKind::BrokenPipe
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Client(ClientError::Connect { .. }) => EXIT_CONNECT,
            CommandError::Usage(_) => EXIT_USAGE,
            _ => EXIT_API,
        }
    }
}

/// What every command runs with.
#[derive(Debug)]
pub struct Context {
    pub client: ApiClient,
    pub json: bool,
    pub store: ConfigStore,
    pub file: ConfigFile,
    pub settings: Settings,
}

impl Context {
    /// Prints `value` as JSON under `--json`, else the `human` rendering of it.
    pub fn output(
        &self,
        value: &Value,
        human: impl FnOnce(&Value) -> Option<String>,
    ) -> Result<(), CommandError> {
        let text = if self.json {
            Some(render::json_document(value))
        } else {
            human(value)
        };
        if let Some(text) = text {
            render::print_line(&text)?;
        }
        Ok(())
    }
}

impl Context {
    /// Prints the server's document under `--json`, else the `human`
    /// rendering of its typed view.
    pub fn output_as<T>(
        &self,
        answer: &Answer<T>,
        human: impl FnOnce(&T) -> Option<String>,
    ) -> Result<(), CommandError> {
        self.output(&answer.raw, |_| human(&answer.body))
    }
}

/// Runs the command; `Ok` carries the process exit code.
pub async fn run(cli: Cli) -> Result<u8, CommandError> {
    let store = ConfigStore::from_env()?;
    let file = store.load()?;
    let overrides = Overrides {
        api_url: cli.global.api_url.clone(),
        api_key: cli.global.api_key.clone(),
        team: cli.global.team.clone(),
    };
    let settings = config::resolve(&overrides, &file);
    let client = ApiClient::new(
        &settings.api_url,
        settings.credential.clone(),
        settings.team.clone(),
    )?;
    let ctx = Context {
        client,
        json: cli.global.json,
        store,
        file,
        settings,
    };
    match cli.command {
        Command::Signup(args) => auth::signup(&ctx, args).await,
        Command::Login(args) => auth::login(&ctx, args).await,
        Command::Logout => auth::logout(&ctx),
        Command::Whoami => auth::whoami(&ctx).await,
        Command::Keys(cmd) => keys::run(&ctx, cmd).await,
        Command::Sandbox(cmd) => sandbox::run(&ctx, cmd).await,
        Command::Exec(args) => exec::run(&ctx, args).await,
        Command::Shell(args) => shell::run(&ctx, args).await,
        Command::Files(cmd) => files::run(&ctx, cmd).await,
        Command::Template(cmd) => template::run(&ctx, cmd).await,
        Command::Audit(args) => template::audit(&ctx, args).await,
        Command::Host(cmd) => host::run(&ctx, cmd).await,
        Command::Pool(args) => pool::run(&ctx, args).await,
        Command::Usage(args) => usage::run(&ctx, args).await,
        Command::Plan(cmd) => plan::run(&ctx, cmd).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ApiError;

    #[test]
    fn exit_code_when_connect_failure_then_3() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = CommandError::Client(ClientError::Connect {
            url: "u".into(),
            source: io.into(),
        });
        assert_eq!(err.exit_code(), EXIT_CONNECT);
    }

    #[test]
    fn exit_code_when_api_error_then_1() {
        let api = ApiError {
            status: 401,
            code: crate::client::Code::parse("unauthenticated"),
            message: "no".into(),
        };
        assert_eq!(CommandError::Client(api.into()).exit_code(), EXIT_API);
    }

    #[test]
    fn is_broken_pipe_when_output_pipe_closed_then_true() {
        let err = CommandError::Output(std::io::ErrorKind::BrokenPipe.into());
        assert!(err.is_broken_pipe());
        assert!(!CommandError::Usage("x".into()).is_broken_pipe());
    }

    #[test]
    fn exit_code_when_usage_then_2() {
        assert_eq!(CommandError::Usage("x".into()).exit_code(), EXIT_USAGE);
    }
}
