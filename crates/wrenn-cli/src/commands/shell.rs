//! `shell`: an interactive PTY session with the local terminal in raw mode.

use std::io::IsTerminal;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use super::{CommandError, Context};
use crate::cli::ShellArgs;
use crate::exec_ws::exit_status;
use crate::pty::{self, RawMode, ShellError};

pub async fn run(ctx: &Context, args: ShellArgs) -> Result<u8, CommandError> {
    let interactive = std::io::stdin().is_terminal();
    let (cols, rows) = if interactive {
        terminal_size()
    } else {
        (80, 24)
    };
    let (cols_s, rows_s) = (cols.to_string(), rows.to_string());
    let query = [
        ("cols", cols_s.as_str()),
        ("rows", rows_s.as_str()),
        ("cmd", &args.cmd),
        ("user", &args.user),
    ];
    let ws = ctx
        .client
        .websocket(&format!("/v1/sandboxes/{}/pty", args.id), &query)
        .await?;

    let (resize_tx, resizes) = mpsc::unbounded_channel();
    if interactive {
        let mut winch = signal(SignalKind::window_change()).map_err(ShellError::Terminal)?;
        tokio::spawn(async move {
            while winch.recv().await.is_some() {
                if resize_tx.send(terminal_size()).is_err() {
                    break;
                }
            }
        });
    }
    // Dropped on every way out of this function, which restores the terminal.
    let raw = if interactive {
        Some(RawMode::enable()?)
    } else {
        None
    };
    let result = pty::run(ws, tokio::io::stdin(), tokio::io::stdout(), resizes).await;
    drop(raw);
    Ok(exit_status(result?))
}

fn terminal_size() -> (u16, u16) {
    crossterm::terminal::size().unwrap_or((80, 24))
}
