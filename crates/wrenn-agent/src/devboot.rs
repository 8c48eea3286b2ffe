//! Boot a template VM reachable on a local port, without TAP devices or root
//! networking: QEMU user-mode networking forwards envd's port to loopback.
//! Used by `wrenn-agent boot`, the boot tests and the benchmark harness;
//! sandboxes proper get TAP networking from the agent.
use std::time::Duration;

use crate::{
    envd_client::{self, WaitReadyError},
    paths::{ArtefactError, DataDir, KernelFormat},
    vmm::{qemu::QemuError, qemu::QemuVm, Accel, GuestNet, RunningVm, VmSpec},
};

/// envd's port inside the guest.
pub const ENVD_PORT: u16 = 49983;

#[derive(Debug, thiserror::Error)]
pub enum DevBootError {
    #[error(transparent)]
    Artefact(#[from] ArtefactError),
    #[error(transparent)]
    Qemu(#[from] QemuError),
    #[error("no free local port")]
    Port(#[source] std::io::Error),
    #[error("envd did not answer /health within {timeout:?}; console tail:\n{console_tail}")]
    NotReady {
        timeout: Duration,
        console_tail: String,
    },
    #[error("the guest did not power off within {0:?} after /shutdown; it was stopped by force")]
    ShutdownTimeout(Duration),
}

/// What to boot.
#[derive(Debug, Clone)]
pub struct DevBootOptions {
    pub template: String,
    pub vcpus: u8,
    pub memory_mib: u32,
    /// Loopback port for envd; 0 picks a free one.
    pub host_port: u16,
}

impl Default for DevBootOptions {
    fn default() -> Self {
        Self {
            template: "base".into(),
            vcpus: 2,
            memory_mib: 1024,
            host_port: 0,
        }
    }
}

/// A booted VM whose envd is reachable at `http://127.0.0.1:{port}`.
#[derive(Debug)]
pub struct DevVm {
    pub vm: QemuVm,
    pub port: u16,
    http: reqwest::Client,
}

impl DevVm {
    /// Starts QEMU (writes go to a throw-away layer; the image is untouched).
    pub async fn spawn(
        data: &DataDir,
        accel: Accel,
        options: &DevBootOptions,
    ) -> Result<Self, DevBootError> {
        let port = match options.host_port {
            0 => free_port().map_err(DevBootError::Port)?,
            port => port,
        };
        let spec = VmSpec {
            run_dir: data.run_dir(&format!("dev-{}-{port}", std::process::id())),
            kernel: data.kernel(KernelFormat::BzImage)?,
            root_disk: data.template_image(&options.template)?,
            discard_writes: true,
            vcpus: options.vcpus,
            memory_mib: options.memory_mib,
            net: GuestNet::UserForward {
                host_port: port,
                guest_port: ENVD_PORT,
            },
            init: vec!["/usr/bin/envd".into()],
        };
        let vm = QemuVm::spawn(&spec, accel).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        Ok(Self { vm, port, http })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Polls `/health` until envd answers 204; returns the time since spawn.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, DevBootError> {
        let url = self.url("");
        match envd_client::wait_ready(&self.http, &url, &mut self.vm, timeout).await {
            Ok(()) => Ok(self.vm.started_at().elapsed()),
            Err(WaitReadyError::VmStopped(err)) => Err(err.into()),
            Err(WaitReadyError::Timeout(timeout)) => Err(DevBootError::NotReady {
                timeout,
                console_tail: self.vm.console_tail(20),
            }),
        }
    }

    /// Clean shutdown through envd; force-stops the VM if the guest does not
    /// power off in time (and says so).
    pub async fn shutdown(mut self, timeout: Duration) -> Result<(), DevBootError> {
        // The guest may tear the connection down before answering; whether
        // QEMU then exits is what counts.
        let _ = self.http.post(self.url("/shutdown")).send().await;
        match self.vm.wait_exit(timeout).await {
            Ok(_) => {
                let _ = std::fs::remove_dir_all(self.vm.run_dir());
                Ok(())
            }
            Err(QemuError::Timeout(_)) => {
                let _ = self.vm.quit().await;
                let _ = std::fs::remove_dir_all(self.vm.run_dir());
                Err(DevBootError::ShutdownTimeout(timeout))
            }
            Err(err) => Err(err.into()),
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
