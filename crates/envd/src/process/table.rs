//! Running processes: the table keyed by pid, output fan-out to every
//! attached stream, stdin/PTY input and the end-of-process report.
//!
//! Output flows reader → bounded channel per attached stream → HTTP body.
//! A slow client fills its channel, which stalls the reader, which leaves the
//! process blocked on a full pipe: memory stays bounded and no byte is lost
//! or reordered. With nobody attached, output is read and dropped so a
//! background process never blocks.

use std::{
    collections::HashMap,
    os::fd::{AsRawFd, OwnedFd},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::FutureExt;
use tokio::{
    io::{unix::AsyncFd, AsyncRead, AsyncReadExt, AsyncWriteExt},
    process::ChildStdin,
    sync::mpsc,
};
use wrenn_proto::process::{
    process_event::{DataEvent, EndEvent, StartEvent},
    ProcessConfig, ProcessEvent,
};

use super::spawn::{self, Spawned};
use crate::connect::{Code, ConnectError};

type Output = wrenn_proto::process::__buffa::oneof::process_event::data_event::Output;

/// Most bytes read from a process per data event. Below the size from
/// which musl's allocator maps (and then unmaps) every buffer afresh, in
/// its base64 form too.
const CHUNK: usize = 64 * 1024;
/// Events buffered per attached stream before the reader waits.
const SUBSCRIBER_QUEUE: usize = 16;
/// Capacity asked for the output pipes (Linux's default is 64 KiB): a
/// process that writes in small pieces runs ahead while a busy reader
/// catches up, and the reader then takes whole chunks in one event.
const PIPE_SIZE: libc::c_int = 1 << 20;
/// How long input may wait on a process that does not read it.
const INPUT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct ProcessTable {
    inner: Mutex<HashMap<u32, Arc<Process>>>,
}

/// One process started through `Start`.
#[derive(Debug)]
pub struct Process {
    pub pid: u32,
    pub config: ProcessConfig,
    pub tag: Option<String>,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pty: Option<Arc<AsyncFd<OwnedFd>>>,
    subscribers: Mutex<Vec<mpsc::Sender<ProcessEvent>>>,
}

/// Which process a request means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Pid(u32),
    Tag(String),
}

impl ProcessTable {
    pub fn list(&self) -> Vec<Arc<Process>> {
        let mut all: Vec<_> = lock(&self.inner).values().cloned().collect();
        all.sort_by_key(|p| p.pid);
        all
    }

    pub fn get(&self, selector: &Selector) -> Result<Arc<Process>, ConnectError> {
        let table = lock(&self.inner);
        let found = match selector {
            Selector::Pid(pid) => table.get(pid).cloned(),
            Selector::Tag(tag) => table
                .values()
                .find(|p| p.tag.as_deref() == Some(tag))
                .cloned(),
        };
        found.ok_or_else(|| ConnectError::not_found(format!("process {selector:?} not found")))
    }

    /// Starts a process; the returned receiver already holds its start event
    /// and gets all of its output.
    pub fn start(
        self: &Arc<Self>,
        spawned: Spawned,
        config: ProcessConfig,
        tag: Option<String>,
    ) -> mpsc::Receiver<ProcessEvent> {
        let Spawned {
            mut child,
            pid,
            pty_master,
        } = spawned;
        // `new` is deprecated for fd types without I/O safety; an OwnedFd
        // we own outright is the sound case.
        #[expect(
            deprecated,
            reason = "AsyncFd::new on an OwnedFd we own outright is sound"
        )]
        let pty = pty_master.and_then(|fd| AsyncFd::new(fd).ok().map(Arc::new));
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        // Capacity is free on a new channel: the start event never waits.
        let _ = tx.try_send(start_event(pid));
        let process = Arc::new(Process {
            pid,
            config,
            tag,
            stdin: tokio::sync::Mutex::new(child.stdin.take()),
            pty: pty.clone(),
            subscribers: Mutex::new(vec![tx]),
        });
        lock(&self.inner).insert(pid, process.clone());

        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            grow_pipe(&stdout);
            readers.push(tokio::spawn(pump(process.clone(), stdout, Output::Stdout)));
        }
        if let Some(stderr) = child.stderr.take() {
            grow_pipe(&stderr);
            readers.push(tokio::spawn(pump(process.clone(), stderr, Output::Stderr)));
        }
        if let Some(pty) = pty {
            readers.push(tokio::spawn(pump_pty(process.clone(), pty)));
        }
        let table = self.clone();
        tokio::spawn(async move {
            for reader in readers {
                let _ = reader.await;
            }
            let end = match child.wait().await {
                Ok(status) => end_event(status),
                Err(err) => EndEvent {
                    exit_code: -1,
                    exited: false,
                    status: "unknown".into(),
                    error: Some(format!("waiting for process: {err}")),
                    ..Default::default()
                },
            };
            lock(&table.inner).remove(&pid);
            process
                .publish(ProcessEvent {
                    event: Some(end.into()),
                    ..Default::default()
                })
                .await;
            // Dropping the senders ends every attached stream cleanly.
            lock(&process.subscribers).clear();
            tracing::debug!(pid, "process ended");
        });
        rx
    }
}

impl Process {
    /// Attaches a new stream: a start event, then output from now on.
    pub fn subscribe(&self) -> mpsc::Receiver<ProcessEvent> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let _ = tx.try_send(start_event(self.pid));
        lock(&self.subscribers).push(tx);
        rx
    }

    pub fn is_pty(&self) -> bool {
        self.pty.is_some()
    }

    async fn publish(&self, event: ProcessEvent) {
        let targets: Vec<_> = lock(&self.subscribers).clone();
        let Some((last, others)) = targets.split_last() else {
            return;
        };
        let mut gone = false;
        for target in others {
            gone |= target.send(event.clone()).await.is_err();
        }
        // The last (usually the only) stream takes the event itself.
        gone |= last.send(event).await.is_err();
        if gone {
            lock(&self.subscribers).retain(|s| !s.is_closed());
        }
    }

    pub async fn write_stdin(&self, data: &[u8]) -> Result<(), ConnectError> {
        let mut stdin = self.stdin.lock().await;
        let Some(pipe) = stdin.as_mut() else {
            return Err(ConnectError::new(
                Code::FailedPrecondition,
                "stdin is not open (start the process with stdin enabled)",
            ));
        };
        match tokio::time::timeout(INPUT_TIMEOUT, pipe.write_all(data)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(ConnectError::from_io(&err, "writing stdin")),
            Err(_) => Err(ConnectError::new(
                Code::ResourceExhausted,
                "process is not reading its stdin",
            )),
        }
    }

    pub async fn write_pty(&self, data: &[u8]) -> Result<(), ConnectError> {
        let Some(pty) = &self.pty else {
            return Err(ConnectError::new(
                Code::FailedPrecondition,
                "process has no PTY",
            ));
        };
        let write = async {
            let mut written = 0;
            while written < data.len() {
                let mut guard = pty.writable().await?;
                match guard.try_io(|fd| {
                    nix::unistd::write(fd.get_ref(), &data[written..]).map_err(std::io::Error::from)
                }) {
                    Ok(Ok(n)) => written += n,
                    Ok(Err(err)) => return Err(err),
                    Err(_would_block) => continue,
                }
            }
            Ok(())
        };
        match tokio::time::timeout(INPUT_TIMEOUT, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(ConnectError::from_io(&err, "writing to the PTY")),
            Err(_) => Err(ConnectError::new(
                Code::ResourceExhausted,
                "process is not reading its terminal",
            )),
        }
    }

    pub async fn close_stdin(&self) -> Result<(), ConnectError> {
        if self.is_pty() {
            // End-of-file on a terminal is ^D.
            return self.write_pty(b"\x04").await;
        }
        match self.stdin.lock().await.take() {
            Some(mut pipe) => {
                let _ = pipe.shutdown().await;
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), ConnectError> {
        let Some(pty) = &self.pty else {
            return Err(ConnectError::new(
                Code::FailedPrecondition,
                "process has no PTY",
            ));
        };
        spawn::resize(pty.get_ref(), cols, rows)
            .map_err(|err| ConnectError::from_io(&err, "resizing the PTY"))
    }

    /// Signals the process group the process leads (it was started with
    /// setsid), falling back to the process alone.
    pub fn signal(&self, signal: nix::sys::signal::Signal) -> Result<(), ConnectError> {
        let pid = nix::unistd::Pid::from_raw(self.pid as i32);
        let group = nix::unistd::Pid::from_raw(-(self.pid as i32));
        nix::sys::signal::kill(group, signal)
            .or_else(|_| nix::sys::signal::kill(pid, signal))
            .map_err(|err| ConnectError::internal(format!("signalling {}: {err}", self.pid)))
    }
}

async fn pump(
    process: Arc<Process>,
    mut reader: impl AsyncRead + Unpin,
    kind: fn(Vec<u8>) -> Output,
) {
    loop {
        let mut buf = Vec::with_capacity(CHUNK);
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // Take what else the pipe holds already, without waiting: fewer,
        // larger events, and no delay for output that trickles.
        let mut ended = false;
        while buf.len() < CHUNK {
            match reader.read_buf(&mut buf).now_or_never() {
                Some(Ok(0)) => ended = true,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {}
            }
            break;
        }
        process.publish(data_event(kind(buf))).await;
        if ended {
            return;
        }
    }
}

/// Asks for a larger pipe; the default size still works when refused.
fn grow_pipe(pipe: &impl AsRawFd) {
    use nix::fcntl::{fcntl, FcntlArg};
    let _ = fcntl(pipe.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
}

async fn pump_pty(process: Arc<Process>, pty: Arc<AsyncFd<OwnedFd>>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let Ok(mut guard) = pty.readable().await else {
            return;
        };
        match guard.try_io(|fd| {
            nix::unistd::read(fd.get_ref().as_raw_fd(), &mut buf).map_err(std::io::Error::from)
        }) {
            // EIO: every slave end is closed (the session is over).
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => {
                process
                    .publish(data_event(Output::Pty(buf[..n].to_vec())))
                    .await
            }
            Err(_would_block) => continue,
        }
    }
}

fn start_event(pid: u32) -> ProcessEvent {
    ProcessEvent {
        event: Some(
            StartEvent {
                pid,
                ..Default::default()
            }
            .into(),
        ),
        ..Default::default()
    }
}

fn data_event(output: Output) -> ProcessEvent {
    ProcessEvent {
        event: Some(
            DataEvent {
                output: Some(output),
                ..Default::default()
            }
            .into(),
        ),
        ..Default::default()
    }
}

/// Exit report in the shape Go's `ProcessState` gives (what E2B's envd sends).
fn end_event(status: std::process::ExitStatus) -> EndEvent {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => EndEvent {
            exit_code: code,
            exited: true,
            status: format!("exit status {code}"),
            ..Default::default()
        },
        (None, Some(signal)) => EndEvent {
            exit_code: -1,
            exited: false,
            status: format!("signal: {}", signal_description(signal)),
            ..Default::default()
        },
        (None, None) => EndEvent {
            exit_code: -1,
            exited: false,
            status: "unknown".into(),
            ..Default::default()
        },
    }
}

fn signal_description(signal: i32) -> String {
    match signal {
        libc::SIGKILL => "killed".into(),
        libc::SIGTERM => "terminated".into(),
        libc::SIGINT => "interrupt".into(),
        libc::SIGHUP => "hangup".into(),
        libc::SIGPIPE => "broken pipe".into(),
        libc::SIGSEGV => "segmentation fault".into(),
        libc::SIGABRT => "aborted".into(),
        other => nix::sys::signal::Signal::try_from(other)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| format!("signal {other}")),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn end_event_when_exit_code_then_exited() {
        let end = end_event(std::process::ExitStatus::from_raw(3 << 8));
        assert_eq!((end.exit_code, end.exited), (3, true));
        assert_eq!(end.status, "exit status 3");
    }

    #[test]
    fn end_event_when_killed_then_signal_status() {
        let end = end_event(std::process::ExitStatus::from_raw(libc::SIGKILL));
        assert_eq!((end.exit_code, end.exited), (-1, false));
        assert_eq!(end.status, "signal: killed");
    }
}
