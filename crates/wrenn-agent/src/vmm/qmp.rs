//! A small QMP (QEMU Machine Protocol) client: JSON lines over a Unix socket.
//! Only what the agent uses: capabilities negotiation and `execute`.
use std::path::Path;

use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{unix::OwnedWriteHalf, UnixStream},
};

#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("QMP connection failed")]
    Io(#[from] std::io::Error),
    #[error("QMP sent invalid JSON")]
    Json(#[from] serde_json::Error),
    #[error("QMP closed the connection")]
    Closed,
    #[error("QMP command '{command}' failed: {class}: {desc}")]
    Command {
        command: String,
        class: String,
        desc: String,
    },
}

#[derive(Debug)]
pub struct Qmp {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    writer: OwnedWriteHalf,
}

impl Qmp {
    /// Connects, reads the greeting and leaves negotiation mode.
    pub async fn connect(socket: &Path) -> Result<Self, QmpError> {
        let (read, writer) = UnixStream::connect(socket).await?.into_split();
        let mut qmp = Self {
            lines: BufReader::new(read).lines(),
            writer,
        };
        qmp.next_message().await?; // greeting
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    /// Runs one command and returns its `return` value. Asynchronous events
    /// that arrive meanwhile are skipped.
    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, QmpError> {
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = serde_json::to_vec(&request)?;
        line.push(b'\n');
        self.writer.write_all(&line).await?;
        loop {
            let message = self.next_message().await?;
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = message.get("error") {
                let field = |name: &str| {
                    error
                        .get(name)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                return Err(QmpError::Command {
                    command: command.to_owned(),
                    class: field("class"),
                    desc: field("desc"),
                });
            }
        }
    }

    async fn next_message(&mut self) -> Result<Value, QmpError> {
        let line = self.lines.next_line().await?.ok_or(QmpError::Closed)?;
        Ok(serde_json::from_str(&line)?)
    }
}
