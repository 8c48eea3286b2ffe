//! `process.Process` handlers: request validation and wiring to the table.
use std::{collections::HashMap, path::PathBuf, sync::Arc};

use axum::response::Response;
use tokio::sync::mpsc;
use wrenn_proto::process::{
    process_event::KeepAlive, CloseStdinRequest, CloseStdinResponse, ConnectRequest,
    ConnectResponse, ListRequest, ListResponse, ProcessEvent, ProcessInfo, ProcessInput,
    ProcessSelector, SendInputRequest, SendInputResponse, SendSignalRequest, SendSignalResponse,
    Signal, StartRequest, StartResponse, StreamInputRequest, StreamInputResponse, UpdateRequest,
    UpdateResponse,
};

use super::{frames, Process, Selector, SpawnSpec};
use crate::{
    connect::{self, Code, ConnectError, RpcRequest, StreamOptions},
    state::SharedState,
    users::{self, UserInfo},
};

type SelectorOneof = wrenn_proto::process::__buffa::oneof::process_selector::Selector;
type InputOneof = wrenn_proto::process::__buffa::oneof::process_input::Input;
type StreamEvent = wrenn_proto::process::__buffa::oneof::stream_input_request::Event;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Dispatches `/process.Process/{method}`.
pub async fn handle(
    state: SharedState,
    method: &str,
    user: Option<String>,
    rpc: RpcRequest,
) -> Response {
    let codec = rpc.format.codec;
    match method {
        "Start" => start(state, user, rpc).await,
        "Connect" => connect_stream(state, rpc).await,
        "StreamInput" => stream_input(state, rpc).await,
        "List" => {
            let result = match rpc.message::<ListRequest>().await {
                Ok(_) => Ok(list(&state)),
                Err(err) => Err(err),
            };
            connect::unary_response(codec, result)
        }
        "SendInput" => {
            let result = async {
                let request: SendInputRequest = rpc.message().await?;
                let process = find(&state, request.process.as_option())?;
                write_input(&process, request.input.as_option()).await?;
                Ok(SendInputResponse::default())
            }
            .await;
            connect::unary_response(codec, result)
        }
        "SendSignal" => {
            let result = async {
                let request: SendSignalRequest = rpc.message().await?;
                let process = find(&state, request.process.as_option())?;
                let signal = match request.signal.as_known() {
                    Some(Signal::SIGNAL_SIGKILL) => nix::sys::signal::SIGKILL,
                    Some(Signal::SIGNAL_SIGTERM) => nix::sys::signal::SIGTERM,
                    _ => return Err(ConnectError::invalid_argument("unsupported signal")),
                };
                process.signal(signal)?;
                Ok(SendSignalResponse::default())
            }
            .await;
            connect::unary_response(codec, result)
        }
        "CloseStdin" => {
            let result = async {
                let request: CloseStdinRequest = rpc.message().await?;
                find(&state, request.process.as_option())?
                    .close_stdin()
                    .await?;
                Ok(CloseStdinResponse::default())
            }
            .await;
            connect::unary_response(codec, result)
        }
        "Update" => {
            let result = async {
                let request: UpdateRequest = rpc.message().await?;
                let process = find(&state, request.process.as_option())?;
                if let Some(size) = request.pty.as_option().and_then(|p| p.size.as_option()) {
                    let (cols, rows) = terminal_size(size.cols, size.rows)?;
                    process.resize(cols, rows)?;
                }
                Ok(UpdateResponse::default())
            }
            .await;
            connect::unary_response(codec, result)
        }
        other => connect::error_response(
            rpc.format,
            &ConnectError::new(
                Code::Unimplemented,
                format!("process.Process/{other} does not exist"),
            ),
        ),
    }
}

fn list(state: &SharedState) -> ListResponse {
    let processes = state
        .processes
        .list()
        .into_iter()
        .map(|p| ProcessInfo {
            config: p.config.clone().into(),
            pid: p.pid,
            tag: p.tag.clone(),
            ..Default::default()
        })
        .collect();
    ListResponse {
        processes,
        ..Default::default()
    }
}

fn selector(selector: Option<&ProcessSelector>) -> Result<Selector, ConnectError> {
    match selector.and_then(|s| s.selector.as_ref()) {
        Some(SelectorOneof::Pid(pid)) => Ok(Selector::Pid(*pid)),
        Some(SelectorOneof::Tag(tag)) => Ok(Selector::Tag(tag.clone())),
        None => Err(ConnectError::invalid_argument(
            "process selector (pid or tag) is required",
        )),
    }
}

fn find(
    state: &SharedState,
    process: Option<&ProcessSelector>,
) -> Result<Arc<Process>, ConnectError> {
    state.processes.get(&selector(process)?)
}

async fn write_input(process: &Process, input: Option<&ProcessInput>) -> Result<(), ConnectError> {
    match input.and_then(|i| i.input.as_ref()) {
        Some(InputOneof::Stdin(data)) => process.write_stdin(data).await,
        Some(InputOneof::Pty(data)) => process.write_pty(data).await,
        None => Err(ConnectError::invalid_argument(
            "input (stdin or pty) is required",
        )),
    }
}

fn terminal_size(cols: u32, rows: u32) -> Result<(u16, u16), ConnectError> {
    let fit = |v: u32| u16::try_from(v).ok().filter(|v| *v > 0);
    match (fit(cols), fit(rows)) {
        (Some(cols), Some(rows)) => Ok((cols, rows)),
        _ => Err(ConnectError::invalid_argument(format!(
            "terminal size {cols}x{rows} is out of range"
        ))),
    }
}

fn keepalive_event() -> ProcessEvent {
    ProcessEvent {
        event: Some(KeepAlive::default().into()),
        ..Default::default()
    }
}

/// The `Start` / `Connect` response stream of a process's events, with
/// keepalives every `interval` and the client's deadline.
fn event_stream<M: connect::RpcMessage>(
    codec: connect::Codec,
    events: mpsc::Receiver<ProcessEvent>,
    wrap: fn(ProcessEvent) -> M,
    deadline: Option<tokio::time::Instant>,
    interval: std::time::Duration,
) -> Response {
    let mut keepalive = bytes::BytesMut::new();
    frames::event_frame(codec, keepalive_event(), wrap, &mut keepalive);
    connect::frame_stream_response(
        codec,
        events,
        move |event, out| {
            frames::event_frame(codec, event, wrap, out);
            Ok(())
        },
        deadline,
        Some((interval, keepalive.freeze())),
    )
}

fn start_response(event: ProcessEvent) -> StartResponse {
    StartResponse {
        event: event.into(),
        ..Default::default()
    }
}

fn connect_response(event: ProcessEvent) -> ConnectResponse {
    ConnectResponse {
        event: event.into(),
        ..Default::default()
    }
}

async fn start(state: SharedState, user: Option<String>, rpc: RpcRequest) -> Response {
    let format = rpc.format;
    let (deadline, interval) = (rpc.deadline, connect::keepalive_interval(&rpc.headers));
    let result = async {
        let request: StartRequest = rpc.message().await?;
        let user = state.user(user.as_deref()).await?;
        let spec = spawn_spec(&state, &user, &request).await?;
        let spawned = tokio::task::spawn_blocking(move || super::spawn::spawn(spec))
            .await
            .map_err(|err| ConnectError::internal(err.to_string()))??;
        let config = request.process.as_option().cloned().unwrap_or_default();
        tracing::info!(pid = spawned.pid, cmd = %config.cmd, user = %user.name, "process started");
        Ok(state.processes.start(spawned, config, request.tag.clone()))
    }
    .await;
    match result {
        Ok(events) => event_stream(format.codec, events, start_response, deadline, interval),
        Err(err) => connect::error_response(format, &err),
    }
}

async fn connect_stream(state: SharedState, rpc: RpcRequest) -> Response {
    let format = rpc.format;
    let (deadline, interval) = (rpc.deadline, connect::keepalive_interval(&rpc.headers));
    let result = async {
        let request: ConnectRequest = rpc.message().await?;
        Ok(find(&state, request.process.as_option())?.subscribe())
    }
    .await;
    match result {
        Ok(events) => event_stream(format.codec, events, connect_response, deadline, interval),
        Err(err) => connect::error_response(format, &err),
    }
}

async fn stream_input(state: SharedState, rpc: RpcRequest) -> Response {
    let format = rpc.format;
    let result = async {
        let mut stream = rpc.into_stream();
        let mut process: Option<Arc<Process>> = None;
        while let Some(message) = stream.next::<StreamInputRequest>().await {
            match message?.event {
                Some(StreamEvent::Start(start)) => {
                    process = Some(find(&state, start.process.as_option())?);
                }
                Some(StreamEvent::Data(data)) => {
                    let Some(target) = &process else {
                        return Err(ConnectError::invalid_argument("data before start"));
                    };
                    write_input(target, data.input.as_option()).await?;
                }
                Some(StreamEvent::Keepalive(_)) | None => {}
            }
        }
        Ok(StreamInputResponse::default())
    }
    .await;
    // A client stream answers in streaming framing: one message, then the end.
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(result);
    drop(tx);
    connect::stream_response(
        format.codec,
        rx,
        StreamOptions {
            deadline: None,
            keepalive: None,
        },
    )
}

async fn spawn_spec(
    state: &SharedState,
    user: &UserInfo,
    request: &StartRequest,
) -> Result<SpawnSpec, ConnectError> {
    let config = request
        .process
        .as_option()
        .ok_or_else(|| ConnectError::invalid_argument("process config is required"))?;
    if config.cmd.is_empty() {
        return Err(ConnectError::invalid_argument("cmd is empty"));
    }
    let settings = state.settings.read().await.clone();
    let cwd_text = config
        .cwd
        .clone()
        .filter(|c| !c.is_empty())
        .or(settings.default_workdir.clone());
    let cwd = match cwd_text {
        Some(text) => users::resolve_path(&text, &user.home)?,
        None => user.home.clone(),
    };
    let cwd = check_cwd(user, cwd).await?;
    let mut env = base_env(user, &cwd);
    let pty = match request.pty.as_option() {
        Some(pty) => {
            let size = pty.size.as_option();
            let (cols, rows) = size.map(|s| (s.cols, s.rows)).unwrap_or((80, 24));
            env.insert("TERM".into(), "xterm-256color".into());
            Some(terminal_size(cols, rows)?)
        }
        None => None,
    };
    env.extend(settings.env_vars);
    for (key, value) in &config.envs {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return Err(ConnectError::invalid_argument(format!(
                "invalid environment variable {key:?}"
            )));
        }
        env.insert(key.clone(), value.clone());
    }
    if config.cmd.contains('\0') || config.args.iter().any(|a| a.contains('\0')) {
        return Err(ConnectError::invalid_argument(
            "command contains a NUL byte",
        ));
    }
    Ok(SpawnSpec {
        program: config.cmd.clone(),
        args: config.args.clone(),
        env: env.into_iter().collect(),
        cwd,
        uid: user.uid,
        gid: user.gid,
        groups: user.groups(),
        pty,
        stdin: request.stdin.unwrap_or(true),
    })
}

/// The environment every process starts from, before `/init`'s variables
/// and its own.
pub fn base_env(user: &UserInfo, cwd: &std::path::Path) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("PATH".into(), DEFAULT_PATH.into());
    env.insert("HOME".into(), user.home.display().to_string());
    env.insert("USER".into(), user.name.clone());
    env.insert("LOGNAME".into(), user.name.clone());
    env.insert("SHELL".into(), user.shell.display().to_string());
    env.insert("LANG".into(), "C.UTF-8".into());
    env.insert("PWD".into(), cwd.display().to_string());
    env
}

/// The working directory must be a directory the user can enter.
async fn check_cwd(user: &UserInfo, cwd: PathBuf) -> Result<PathBuf, ConnectError> {
    users::run_as(user, move || {
        let meta = std::fs::metadata(&cwd)
            .map_err(|err| ConnectError::from_io(&err, &format!("cwd {}", cwd.display())))?;
        if !meta.is_dir() {
            return Err(ConnectError::invalid_argument(format!(
                "cwd {} is not a directory",
                cwd.display()
            )));
        }
        nix::unistd::access(&cwd, nix::unistd::AccessFlags::X_OK).ok();
        Ok(cwd)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_size_rejects_zero_and_huge() {
        assert!(terminal_size(0, 24).is_err());
        assert!(terminal_size(70_000, 24).is_err());
        assert_eq!(terminal_size(80, 24).expect("ok"), (80, 24));
    }

    #[test]
    fn selector_when_missing_then_invalid_argument() {
        assert_eq!(
            selector(None).expect_err("missing").code,
            Code::InvalidArgument
        );
    }
}
