//! `GET /v1/sandboxes/{id}/exec/ws`: a command over a WebSocket, with its
//! output streamed as it comes, stdin forwarded, and kill. Protocol in
//! `docs/api.md`.
use axum::{
    extract::{
        ws::{Message, WebSocket},
        State,
    },
    response::Response,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use super::{exec::ExecRequest, running_envd};
use crate::{
    api::extract::{ApiPath, ApiWebSocket},
    auth::Principal,
    envd::{Envd, ProcessOutput},
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Client → server frames after the first (the command).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ClientFrame {
    Stdin { data: String },
    StdinEof,
    Kill,
}

/// Streams a command's output over a WebSocket (see docs/api.md).
#[utoipa::path(
    get, path = "/v1/sandboxes/{id}/exec/ws", tag = "sandboxes",
    params(("id" = String, Path)),
    responses(
        (status = 101, description = "WebSocket: send the command as the first text frame"),
        (status = 409, description = "sandbox_not_running", body = crate::error::ErrorBody),
    )
)]
pub async fn exec_ws(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiWebSocket(upgrade): ApiWebSocket,
) -> ApiResult<Response> {
    let envd = running_envd(&state, &principal, &id).await?;
    Ok(upgrade.on_upgrade(move |socket| async move {
        if let Err(err) = run(socket, envd).await {
            tracing::debug!(sandbox_id = %id, error = %err, "exec websocket ended with an error");
        }
    }))
}

pub(super) fn event(value: serde_json::Value) -> Message {
    Message::Text(value.to_string().into())
}

pub(super) fn error_frame(err: &ApiError) -> Message {
    event(serde_json::json!({"type": "error", "code": err.code(), "message": err.to_string()}))
}

async fn first_command(socket: &mut WebSocket) -> Result<ExecRequest, ApiError> {
    loop {
        match socket.recv().await {
            Some(Ok(Message::Text(text))) => {
                let request: ExecRequest = serde_json::from_str(&text).map_err(|e| {
                    ApiError::InvalidJson(format!("the first frame must be the command: {e}"))
                })?;
                request.validate()?;
                return Ok(request);
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            _ => {
                return Err(ApiError::BadRequest(
                    "expected the command as a text frame".into(),
                ))
            }
        }
    }
}

async fn run(mut socket: WebSocket, envd: Envd) -> Result<(), axum::Error> {
    let request = match first_command(&mut socket).await {
        Ok(request) => request,
        Err(err) => {
            socket.send(error_frame(&err)).await?;
            return socket.close().await;
        }
    };
    let command = request.command();
    let user = command.user.clone();
    let mut output = match envd.start(command.process(true)).await {
        Ok(output) => output,
        Err(err) => {
            socket.send(error_frame(&ApiError::from(err))).await?;
            return socket.close().await;
        }
    };
    let (mut sink, mut incoming) = socket.split();
    let mut pid = None;
    let mut client_gone = false;
    // Input that arrives before envd reported the pid waits here.
    let mut pending: Vec<ClientFrame> = Vec::new();
    loop {
        tokio::select! {
            next = output.next() => {
                let frame = match next {
                    Some(Ok(ProcessOutput::Started { pid: p })) => {
                        pid = Some(p);
                        for frame in pending.drain(..) {
                            apply(&envd, &user, p, frame).await;
                        }
                        serde_json::json!({"type": "started", "pid": p})
                    }
                    Some(Ok(ProcessOutput::Stdout(b) | ProcessOutput::Pty(b))) => {
                        serde_json::json!({"type": "stdout", "data": STANDARD.encode(b)})
                    }
                    Some(Ok(ProcessOutput::Stderr(b))) => {
                        serde_json::json!({"type": "stderr", "data": STANDARD.encode(b)})
                    }
                    Some(Ok(ProcessOutput::Ended { exit_code, status })) => {
                        sink.send(event(serde_json::json!({"type": "exit", "exit_code": exit_code, "status": status}))).await?;
                        return sink.close().await;
                    }
                    Some(Err(err)) => {
                        sink.send(error_frame(&ApiError::from(err))).await?;
                        return sink.close().await;
                    }
                    None => {
                        let err = ApiError::AgentUnavailable("the command's output ended without an exit status".into());
                        sink.send(error_frame(&err)).await?;
                        return sink.close().await;
                    }
                };
                sink.send(event(frame)).await?;
            }
            message = incoming.next(), if !client_gone => {
                let frame = match message {
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<ClientFrame>(&text) {
                        Ok(frame) => frame,
                        Err(e) => {
                            sink.send(error_frame(&ApiError::InvalidJson(format!("unknown frame: {e}")))).await?;
                            continue;
                        }
                    },
                    Some(Ok(Message::Binary(bytes))) => ClientFrame::Stdin { data: STANDARD.encode(bytes) },
                    Some(Ok(_)) => continue,
                    // The client left: the command must not outlive it.
                    Some(Err(_)) | None => {
                        client_gone = true;
                        ClientFrame::Kill
                    }
                };
                match pid {
                    Some(p) => apply(&envd, &user, p, frame).await,
                    None => pending.push(frame),
                }
            }
        }
    }
}

async fn apply(envd: &Envd, user: &str, pid: u32, frame: ClientFrame) {
    let result = match frame {
        ClientFrame::Stdin { data } => match STANDARD.decode(data) {
            Ok(bytes) => envd.send_input(user, pid, bytes, false).await,
            Err(_) => return,
        },
        ClientFrame::StdinEof => envd.close_stdin(user, pid).await,
        ClientFrame::Kill => envd.kill(user, pid).await,
    };
    if let Err(err) = result {
        tracing::debug!(pid, error = %err, "exec input not delivered");
    }
}
