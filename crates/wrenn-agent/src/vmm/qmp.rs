//! A small QMP (QEMU Machine Protocol) client: JSON lines over a Unix socket.
//! Only what the agent uses: capabilities negotiation, `execute`, and
//! handing QEMU a file descriptor (`getfd`, over `SCM_RIGHTS`).
use std::{io, mem::MaybeUninit, os::fd::BorrowedFd, path::Path};

use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use serde_json::{json, Value};
use tokio::{
    io::Interest,
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
        self.reply(command).await
    }

    /// Hands `fd` to QEMU under `name` (QMP `getfd`), e.g. for an `fd:name`
    /// migration: QEMU then writes or reads a file the agent opened, so it
    /// needs neither access to the path nor a shell to run `cat`.
    pub async fn send_fd(&mut self, name: &str, fd: BorrowedFd<'_>) -> Result<(), QmpError> {
        let request = json!({ "execute": "getfd", "arguments": { "fdname": name } });
        self.execute_with_fd("getfd", &request, fd)
            .await
            .map(|_| ())
    }

    /// Hands `fd` to QEMU as a new fd set (QMP `add-fd`) and answers the
    /// set's id: QEMU then opens `/dev/fdset/<id>` as if it were a path, so
    /// a confined QEMU can open a disk it could not reach by its name.
    pub async fn add_fd(&mut self, fd: BorrowedFd<'_>) -> Result<u64, QmpError> {
        let request = json!({ "execute": "add-fd" });
        let reply = self.execute_with_fd("add-fd", &request, fd).await?;
        reply
            .get("fdset-id")
            .and_then(Value::as_u64)
            .ok_or_else(|| QmpError::Command {
                command: "add-fd".into(),
                class: "GenericError".into(),
                desc: "no fdset-id in the answer".into(),
            })
    }

    async fn execute_with_fd(
        &mut self,
        command: &str,
        request: &Value,
        fd: BorrowedFd<'_>,
    ) -> Result<Value, QmpError> {
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        let stream: &UnixStream = self.writer.as_ref();
        let sent = loop {
            stream.writable().await?;
            let attempt = stream.try_io(Interest::WRITABLE, || {
                let fds = [fd];
                let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
                let mut ancillary = SendAncillaryBuffer::new(&mut space);
                ancillary.push(SendAncillaryMessage::ScmRights(&fds));
                sendmsg(
                    stream,
                    &[io::IoSlice::new(&line)],
                    &mut ancillary,
                    SendFlags::empty(),
                )
                .map_err(io::Error::from)
            });
            match attempt {
                Ok(sent) => break sent,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.into()),
            }
        };
        // The descriptor went with the first byte; the rest is plain data.
        self.writer.write_all(&line[sent..]).await?;
        self.reply(command).await
    }

    async fn reply(&mut self, command: &str) -> Result<Value, QmpError> {
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
