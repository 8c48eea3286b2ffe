//! envd's `process.Process` service through the agent's proxy: start a
//! command and stream its output, then input, stdin's end, kill and PTY
//! resizes by pid.
use std::time::Duration;

use connectrpc::client::CallOptions;
use futures_util::stream::BoxStream;
use wrenn_proto::process::{
    __buffa::oneof::{
        process_event::{data_event::Output, Event},
        process_input::Input,
        process_selector::Selector,
    },
    pty::Size,
    CloseStdinRequest, ProcessConfig, ProcessInput, ProcessSelector, SendInputRequest,
    SendSignalRequest, Signal, StartRequest, StartResponse, UpdateRequest, PTY,
};

use super::{basic_user, Command, Envd, EnvdError, ProcessOutput};

/// How often envd is asked to send keep-alive events on process streams; a
/// stream silent for three intervals is taken as dead (a VM destroyed
/// under it leaves no TCP reset to notice).
const KEEPALIVE: Duration = Duration::from_secs(15);

/// A day: the limit of streams whose command set none (interactive shells).
const NO_LIMIT: Duration = Duration::from_secs(24 * 3600);

impl Envd {
    /// Starts a process and streams its output until it ends. Its stdin is
    /// asked to stay open (for [`Envd::send_input`]) when `command.stdin`
    /// says so; otherwise the request leaves it to envd.
    pub async fn start(
        &self,
        command: Command,
    ) -> Result<BoxStream<'static, Result<ProcessOutput, EnvdError>>, EnvdError> {
        let start = StartRequest {
            process: ProcessConfig {
                cmd: command.cmd,
                args: command.args,
                envs: command.env.into_iter().collect(),
                cwd: command.cwd,
                ..Default::default()
            }
            .into(),
            pty: command.pty.map(|(cols, rows)| pty(cols, rows)).into(),
            stdin: command.stdin.then_some(true),
            ..Default::default()
        };
        // Streams live as long as the command: the whole-call timeout is the
        // command's own limit.
        let options = CallOptions::default()
            .with_timeout(command.timeout.unwrap_or(NO_LIMIT))
            .with_header("authorization", basic_user(&command.user))
            .with_header("keepalive-ping-interval", KEEPALIVE.as_secs().to_string());
        let stream = self.process()?.start_with_options(start, options).await?;
        let events = futures_util::stream::unfold(Some(stream), |state| async move {
            let mut stream = state?;
            loop {
                let next = tokio::time::timeout(KEEPALIVE * 3, stream.message::<StartResponse>());
                let message = match next.await {
                    Ok(Ok(Some(message))) => message.to_owned_message(),
                    Ok(Ok(None)) => return None,
                    Ok(Err(err)) => return Some((Err(EnvdError::from(err)), None)),
                    Err(_) => {
                        let silent = EnvdError::Unreachable("the sandbox stopped answering".into());
                        return Some((Err(silent), None));
                    }
                };
                let output = match message.event.into_option().and_then(|e| e.event) {
                    Some(Event::Start(start)) => ProcessOutput::Started { pid: start.pid },
                    Some(Event::Data(data)) => match data.output {
                        Some(Output::Stdout(bytes)) => ProcessOutput::Stdout(bytes),
                        Some(Output::Stderr(bytes)) => ProcessOutput::Stderr(bytes),
                        Some(Output::Pty(bytes)) => ProcessOutput::Pty(bytes),
                        None => continue,
                    },
                    Some(Event::End(end)) => {
                        let ended = ProcessOutput::Ended {
                            exit_code: end.exit_code,
                            status: end.status,
                        };
                        return Some((Ok(ended), None));
                    }
                    Some(Event::Keepalive(_)) | None => continue,
                };
                return Some((Ok(output), Some(stream)));
            }
        });
        Ok(Box::pin(events))
    }

    pub async fn send_input(
        &self,
        user: &str,
        pid: u32,
        data: Vec<u8>,
        pty: bool,
    ) -> Result<(), EnvdError> {
        let input = if pty {
            Input::Pty(data)
        } else {
            Input::Stdin(data)
        };
        let request = SendInputRequest {
            process: selector(pid).into(),
            input: ProcessInput {
                input: Some(input),
                ..Default::default()
            }
            .into(),
            ..Default::default()
        };
        self.process()?
            .send_input_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    pub async fn close_stdin(&self, user: &str, pid: u32) -> Result<(), EnvdError> {
        let request = CloseStdinRequest {
            process: selector(pid).into(),
            ..Default::default()
        };
        self.process()?
            .close_stdin_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    pub async fn kill(&self, user: &str, pid: u32) -> Result<(), EnvdError> {
        let request = SendSignalRequest {
            process: selector(pid).into(),
            signal: Signal::SIGNAL_SIGKILL.into(),
            ..Default::default()
        };
        self.process()?
            .send_signal_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    pub async fn resize(
        &self,
        user: &str,
        pid: u32,
        cols: u32,
        rows: u32,
    ) -> Result<(), EnvdError> {
        let request = UpdateRequest {
            process: selector(pid).into(),
            pty: pty(cols, rows).into(),
            ..Default::default()
        };
        self.process()?
            .update_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }
}

fn selector(pid: u32) -> ProcessSelector {
    ProcessSelector {
        selector: Some(Selector::Pid(pid)),
        ..Default::default()
    }
}

fn pty(cols: u32, rows: u32) -> PTY {
    PTY {
        size: Size {
            cols,
            rows,
            ..Default::default()
        }
        .into(),
        ..Default::default()
    }
}
