//! One Firecracker process: starting it, waiting for its API socket, the
//! files it needs inside a jail, and [`RunningVm`] on top.
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::process::{Child, Command};

use super::{
    api::{ApiClient, VmState, VmStateChange},
    console::ConsoleTail,
    jailer::Launch,
    sequence, to_vmm_error, FirecrackerError,
};
use crate::vmm::{
    backend::{SNAPSHOT_MEMORY_FILE, SNAPSHOT_STATE_FILE},
    RunningVm, VmmError,
};

/// How long a fresh process may take to open its API socket.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on snapshot create/load; writing guest memory takes a while.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(120);

/// A running Firecracker process.
#[derive(Debug)]
pub struct FirecrackerVm {
    child: Child,
    launch: Launch,
    api: ApiClient,
    console: ConsoleTail,
    /// Owner of files staged into the jail.
    jail_owner: Option<(u32, u32)>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FirecrackerError + '_ {
    move |source| FirecrackerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl FirecrackerVm {
    /// Starts the process and waits until its API socket answers.
    pub(super) async fn start(
        launch: Launch,
        run_dir: &Path,
        jail_owner: Option<(u32, u32)>,
    ) -> Result<Self, FirecrackerError> {
        std::fs::create_dir_all(run_dir).map_err(io_error(run_dir))?;
        remove_if_present(&launch.socket)?;
        let mut child = Command::new(&launch.program)
            .args(&launch.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| FirecrackerError::Spawn {
                program: launch.program.clone(),
                source,
            })?;
        let console = ConsoleTail::capture(
            child.stdout.take(),
            child.stderr.take(),
            run_dir.join("console.log"),
        );
        let api = ApiClient::new(&launch.socket);
        let mut vm = Self {
            child,
            launch,
            api,
            console,
            jail_owner,
        };
        vm.wait_for_socket(SOCKET_TIMEOUT).await?;
        Ok(vm)
    }

    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// The jail's root directory, when running under the jailer.
    pub fn jail_root(&self) -> Option<&Path> {
        self.launch.jail_root.as_deref()
    }

    async fn wait_for_socket(&mut self, timeout: Duration) -> Result<(), FirecrackerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if tokio::net::UnixStream::connect(&self.launch.socket)
                .await
                .is_ok()
            {
                return Ok(());
            }
            self.check_exited()?;
            if tokio::time::Instant::now() >= deadline {
                return Err(FirecrackerError::SocketTimeout {
                    socket: self.launch.socket.clone(),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn check_exited(&mut self) -> Result<(), FirecrackerError> {
        match self.child.try_wait().map_err(FirecrackerError::Wait)? {
            Some(status) => Err(FirecrackerError::Exited {
                status: status.to_string(),
                console_tail: self.console.last(20),
            }),
            None => Ok(()),
        }
    }

    /// Hard-links (or copies) `host` into the jail at `in_vm` for the jailed
    /// user. No-op when not jailed and the paths are the same.
    pub(super) fn stage(&self, host: &Path, in_vm: &Path) -> Result<(), FirecrackerError> {
        let target = self.launch.host_path(in_vm);
        if target == host {
            return Ok(());
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io_error(parent))?;
            self.chown(parent)?;
        }
        remove_if_present(&target)?;
        if std::fs::hard_link(host, &target).is_err() {
            std::fs::copy(host, &target).map_err(io_error(&target))?;
        }
        self.chown(&target)
    }

    fn chown(&self, path: &Path) -> Result<(), FirecrackerError> {
        match self.jail_owner {
            Some((uid, gid)) => {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io_error(path))
            }
            None => Ok(()),
        }
    }

    async fn pause_to_dir(&mut self, snapshot_dir: &Path) -> Result<(), FirecrackerError> {
        std::fs::create_dir_all(snapshot_dir).map_err(io_error(snapshot_dir))?;
        let in_vm = self.launch.snapshot_dir(snapshot_dir);
        let in_vm_host = self.launch.host_path(&in_vm);
        std::fs::create_dir_all(&in_vm_host).map_err(io_error(&in_vm_host))?;
        self.chown(&in_vm_host)?;
        let api = self.api.clone().with_timeout(SNAPSHOT_TIMEOUT);
        sequence::pause_and_snapshot(&api, &in_vm).await?;
        if in_vm_host != snapshot_dir {
            for file in [SNAPSHOT_STATE_FILE, SNAPSHOT_MEMORY_FILE] {
                move_file(&in_vm_host.join(file), &snapshot_dir.join(file))?;
            }
        }
        self.end().await
    }

    async fn set_state(&self, state: VmState) -> Result<(), VmmError> {
        self.api
            .patch("/vm", &VmStateChange { state })
            .await
            .map_err(|e| VmmError::Control(Box::new(e)))
    }

    /// Kills the process, waits for it and removes the jail.
    async fn end(&mut self) -> Result<(), FirecrackerError> {
        let _ = self.child.start_kill();
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .map_err(|_| FirecrackerError::ExitTimeout(Duration::from_secs(10)))?
            .map_err(FirecrackerError::Wait)?;
        if let Some(jail) = self.launch.jail_root.as_ref().and_then(|r| r.parent()) {
            std::fs::remove_dir_all(jail).map_err(io_error(jail))?;
        }
        Ok(())
    }
}

fn remove_if_present(path: &Path) -> Result<(), FirecrackerError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(path)(e)),
        _ => Ok(()),
    }
}

fn move_file(from: &Path, to: &PathBuf) -> Result<(), FirecrackerError> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map_err(io_error(to))?;
    std::fs::remove_file(from).map_err(io_error(from))
}

impl RunningVm for FirecrackerVm {
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    async fn pause_to(&mut self, snapshot_dir: &Path) -> Result<(), VmmError> {
        self.pause_to_dir(snapshot_dir).await.map_err(|e| match e {
            FirecrackerError::Io { path, source } => VmmError::Io {
                path: path.display().to_string(),
                source,
            },
            other => VmmError::Snapshot(super::error_chain(&other)),
        })
    }

    async fn freeze(&mut self) -> Result<(), VmmError> {
        self.set_state(VmState::Paused).await
    }

    async fn thaw(&mut self) -> Result<(), VmmError> {
        self.set_state(VmState::Resumed).await
    }

    async fn kill(&mut self) -> Result<(), VmmError> {
        self.end().await.map_err(to_vmm_error)
    }

    fn check_running(&mut self) -> Result<(), VmmError> {
        self.check_exited().map_err(to_vmm_error)
    }

    fn console_tail(&self, n: usize) -> String {
        self.console.last(n)
    }
}
