//! `GET /v1/sandboxes/{id}/pty`: an interactive terminal over a WebSocket.
//! Binary frames carry terminal bytes both ways; text frames carry JSON
//! control messages (resize, kill, started, exit). Protocol in docs/api.md.
use axum::{
    extract::{
        ws::{Message, WebSocket},
        State,
    },
    response::Response,
};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use super::{
    exec_ws::{error_frame, event},
    running_envd,
};
use crate::{
    api::extract::{ApiPath, ApiQuery, ApiWebSocket},
    auth::Principal,
    envd::{Command, Envd, ProcessOutput},
    error::{ApiError, ApiResult},
    state::AppState,
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PtyParams {
    /// Columns, 1-1000; default 80.
    pub cols: Option<u32>,
    /// Rows, 1-1000; default 24.
    pub rows: Option<u32>,
    /// Program to run; default `/bin/bash` (login shell).
    pub cmd: Option<String>,
    /// Guest user; default `user`.
    pub user: Option<String>,
    /// Credential for clients that cannot set headers (read by the
    /// `Principal` extractor; listed here so the document shows it).
    #[expect(
        dead_code,
        reason = "read by the Principal extractor; declared for the OpenAPI document"
    )]
    pub token: Option<String>,
    /// The team to act on, for clients that cannot set `X-Team-Id` (read
    /// by the `Principal` extractor; listed here so the document shows it).
    #[expect(
        dead_code,
        reason = "read by the Principal extractor; declared for the OpenAPI document"
    )]
    pub team_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Control {
    Resize { cols: u32, rows: u32 },
    Kill,
}

pub(crate) fn size(value: Option<u32>, default: u32) -> Result<u32, ApiError> {
    match value.unwrap_or(default) {
        n @ 1..=1000 => Ok(n),
        _ => Err(ApiError::validation(
            "cols and rows must be between 1 and 1000",
        )),
    }
}

/// Opens a terminal in the sandbox.
#[utoipa::path(
    get, path = "/v1/sandboxes/{id}/pty", tag = "sandboxes",
    params(("id" = String, Path), PtyParams),
    responses(
        (status = 101, description = "WebSocket: binary frames are terminal bytes"),
        (status = 409, description = "sandbox_not_running", body = crate::error::ErrorBody),
    )
)]
pub async fn pty(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PtyParams>,
    ApiWebSocket(upgrade): ApiWebSocket,
) -> ApiResult<Response> {
    let (cols, rows) = (size(params.cols, 80)?, size(params.rows, 24)?);
    let user = params.user.unwrap_or_else(|| "user".into());
    super::types::validate_guest_user(&user)?;
    let cmd = params.cmd.unwrap_or_else(|| "/bin/bash".into());
    let args = if cmd == "/bin/bash" {
        vec!["-l".into()]
    } else {
        Vec::new()
    };
    let envd = running_envd(&state, &principal, &id).await?;
    let command = Command {
        cmd,
        args,
        user,
        env: [("TERM".to_owned(), "xterm-256color".to_owned())].into(),
        pty: Some((cols, rows)),
        stdin: true,
        ..Default::default()
    };
    Ok(upgrade.on_upgrade(move |socket| async move {
        if let Err(err) = run(socket, envd, command).await {
            tracing::debug!(sandbox_id = %id, error = %err, "pty websocket ended with an error");
        }
    }))
}

async fn run(socket: WebSocket, envd: Envd, command: Command) -> Result<(), axum::Error> {
    let user = command.user.clone();
    let (mut sink, mut incoming) = socket.split();
    let mut output = match envd.start(command).await {
        Ok(output) => output,
        Err(err) => {
            sink.send(error_frame(&ApiError::from(err))).await?;
            return sink.close().await;
        }
    };
    let mut pid = None;
    let mut client_gone = false;
    loop {
        tokio::select! {
            next = output.next() => match next {
                Some(Ok(ProcessOutput::Started { pid: p })) => {
                    pid = Some(p);
                    sink.send(event(serde_json::json!({"type": "started", "pid": p}))).await?;
                }
                Some(Ok(ProcessOutput::Pty(b) | ProcessOutput::Stdout(b) | ProcessOutput::Stderr(b))) => {
                    sink.send(Message::Binary(b.into())).await?;
                }
                Some(Ok(ProcessOutput::Ended { exit_code, status })) => {
                    sink.send(event(serde_json::json!({"type": "exit", "exit_code": exit_code, "status": status}))).await?;
                    return sink.close().await;
                }
                Some(Err(err)) => {
                    sink.send(error_frame(&ApiError::from(err))).await?;
                    return sink.close().await;
                }
                None => return sink.close().await,
            },
            message = incoming.next(), if !client_gone => {
                let Some(p) = pid else {
                    // Keystrokes before the shell exists have nowhere to go.
                    if matches!(message, None | Some(Err(_))) { client_gone = true; }
                    continue;
                };
                let result = match message {
                    Some(Ok(Message::Binary(bytes))) => envd.send_input(&user, p, bytes.to_vec(), true).await,
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<Control>(&text) {
                        Ok(Control::Resize { cols, rows }) if (1..=1000).contains(&cols) && (1..=1000).contains(&rows) => {
                            envd.resize(&user, p, cols, rows).await
                        }
                        Ok(Control::Resize { .. }) => {
                            sink.send(error_frame(&ApiError::validation("cols and rows must be between 1 and 1000"))).await?;
                            continue;
                        }
                        Ok(Control::Kill) => envd.kill(&user, p).await,
                        Err(e) => {
                            sink.send(error_frame(&ApiError::InvalidJson(format!("unknown control frame: {e}")))).await?;
                            continue;
                        }
                    },
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => {
                        client_gone = true;
                        envd.kill(&user, p).await
                    }
                };
                if let Err(err) = result {
                    tracing::debug!(pid = p, error = %err, "pty input not delivered");
                }
            }
        }
    }
}
