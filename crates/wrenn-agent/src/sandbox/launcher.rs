//! The launcher: the one owner of the VMM backend, the host's sandbox
//! networks and their slots. It starts a VM on a fresh network, waits for
//! envd, initialises it (and, on a cold boot of a template with a start
//! spec, starts its start command and waits for ready), and releases VM and
//! network again; it also boots a template VM just long enough to snapshot
//! it, with the template's start command ready inside. What a started sandbox holds
//! lives in its [`Runtime`], under the sandbox's operation lock.
use std::{path::Path, time::Duration};

use super::{
    gate::StartGate, record::next_vm_generation, registry::Entry, start_spec::TemplateStartSpec,
    SandboxError,
};
use crate::{
    envd_client::{self, ExecRequest, InitRequest, WaitReadyError},
    guest_ca::GuestCa,
    network::{
        EgressPolicy, NetworkConfig, NetworkHandle, SandboxNetwork, SlotAllocator, SlotLease,
    },
    paths::{DataDir, KernelFormat},
    vmm::{GuestNet, RunningVm, VmSpec, Vmm},
};

const GUEST_INIT: &str = "/usr/bin/envd";

/// What exists for a sandbox while its VM runs.
pub struct Runtime<Vm> {
    vm: Option<Vm>,
    net: Option<(SlotLease, NetworkHandle)>,
}

impl<Vm> Default for Runtime<Vm> {
    fn default() -> Self {
        Self {
            vm: None,
            net: None,
        }
    }
}

impl<Vm> std::fmt::Debug for Runtime<Vm> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("vm", &self.vm.is_some())
            .field("slot", &self.net.as_ref().map(|(l, _)| l.slot().index()))
            .finish()
    }
}

impl<Vm> Runtime<Vm> {
    pub fn vm(&mut self) -> Option<&mut Vm> {
        self.vm.as_mut()
    }

    /// Forgets a VM that ended by itself (after a pause to disk).
    pub fn forget_vm(&mut self) {
        self.vm = None;
    }
}

/// How a VM starts: cold boot, or restore of a memory snapshot.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    Boot,
    Restore(&'a Path),
}

/// One start of a sandbox's VM.
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    pub disk: &'a Path,
    pub run_dir: &'a Path,
    pub policy: &'a EgressPolicy,
    pub start: Start<'a>,
    /// The token envd already holds (a resumed guest), for `/init`.
    pub current_token: Option<&'a str>,
    /// The template's start spec, started after `/init` on a cold boot (a
    /// restored VM already runs it).
    pub template_start: Option<&'a TemplateStartSpec>,
}

/// Everything the launcher is built from.
#[derive(Debug, Clone)]
pub struct LauncherOptions {
    pub data: DataDir,
    pub network: NetworkConfig,
    pub kernel_format: KernelFormat,
    /// How long a guest gets to answer `/health` after boot or restore.
    pub ready_timeout: Duration,
    /// CA certificates handed to envd in every `/init`.
    pub guest_ca: Option<GuestCa>,
}

pub struct Launcher<V: Vmm> {
    backend: V,
    network: SandboxNetwork,
    slots: SlotAllocator,
    gate: StartGate,
    http: reqwest::Client,
    opts: LauncherOptions,
}

impl<V: Vmm> std::fmt::Debug for Launcher<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launcher")
            .field("backend", &self.backend.kind())
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl<V: Vmm> Launcher<V> {
    /// The client every call to a guest's envd goes through (one pool).
    pub fn envd_http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn new(backend: V, opts: LauncherOptions) -> Result<Self, SandboxError> {
        let network = SandboxNetwork::new(opts.network.clone())
            .map_err(|e| SandboxError::Capacity(format!("network configuration: {e}")))?;
        let slots = SlotAllocator::new(opts.network.max_slots);
        let http = reqwest::Client::builder().build().unwrap_or_default();
        Ok(Self {
            backend,
            network,
            slots,
            gate: StartGate::for_host(),
            http,
            opts,
        })
    }

    pub fn backend(&self) -> &V {
        &self.backend
    }

    /// The limit on VM starts at once (see [`StartGate`]).
    pub fn gate(&self) -> &StartGate {
        &self.gate
    }

    /// Sets up the host side of sandbox networking (once, at start-up).
    pub async fn init_host_network(&self) -> Result<(), SandboxError> {
        self.network
            .init_host()
            .await
            .map_err(|e| SandboxError::Capacity(format!("host network: {e}")))
    }

    fn spec(
        &self,
        run_dir: &Path,
        disk: &Path,
        shape: (u8, u32),
        net: GuestNet,
    ) -> Result<VmSpec, String> {
        Ok(VmSpec {
            run_dir: run_dir.to_path_buf(),
            kernel: self
                .opts
                .data
                .kernel(self.opts.kernel_format)
                .map_err(|e| e.to_string())?,
            root_disk: disk.to_path_buf(),
            discard_writes: false,
            vcpus: shape.0,
            memory_mib: shape.1,
            net,
            init: vec![GUEST_INIT.into()],
        })
    }

    /// Network, VMM, envd health and `/init`. On error the caller releases
    /// `runtime`; the returned string is the reason shown to the user.
    pub async fn start(
        &self,
        entry: &Entry<Runtime<V::Vm>>,
        runtime: &mut Runtime<V::Vm>,
        launch: Launch<'_>,
    ) -> Result<(), String> {
        let (id, config, token) =
            entry.read(|r| (r.id.clone(), r.config.clone(), r.access_token.clone()));
        let lease = self
            .slots
            .allocate()
            .map_err(|e| format!("no network slot free: {e}"))?;
        let handle = self
            .network
            .create(lease.slot(), launch.policy)
            .await
            .map_err(|e| format!("network: {e}"))?;
        let envd_url = format!("http://{}", handle.envd_addr);
        let tap = handle.tap.clone();
        let slot = lease.slot().index();
        let envd_addr = handle.envd_addr.to_string();
        runtime.net = Some((lease, handle));
        let spec = self.spec(
            launch.run_dir,
            launch.disk,
            (config.vcpus, config.memory_mib),
            GuestNet::Tap(tap),
        )?;
        // The network is ready before the VMM; only the VM start queues.
        let _turn = self.gate.enter().await;
        let vm = match launch.start {
            Start::Boot => self.backend.boot(&spec).await,
            Start::Restore(snapshot) => self.backend.restore(&spec, snapshot).await,
        }
        .map_err(|e| format!("VMM: {e}"))?;
        let pid = vm.pid();
        let vm = runtime.vm.insert(vm);
        // Without the pid on disk a restarted agent could not find this VM.
        entry
            .update(|r| {
                r.pid = pid;
                r.slot = Some(slot);
                r.envd_addr = Some(envd_addr);
                r.vm_generation = next_vm_generation();
                Ok(())
            })
            .map_err(|e| format!("recording the VM: {e}"))?;
        match envd_client::wait_ready(&self.http, &envd_url, vm, self.opts.ready_timeout).await {
            Ok(()) => {}
            Err(WaitReadyError::VmStopped(err)) => {
                return Err(format!("the VM stopped while starting: {err}"));
            }
            Err(err @ WaitReadyError::Timeout(_)) => {
                return Err(format!(
                    "{err}; serial console tail:\n{}",
                    vm.console_tail(15)
                ));
            }
        }
        let init = InitRequest {
            env_vars: &config.env_vars,
            access_token: token.expose(),
            default_user: "user",
            default_workdir: "/home/user",
            timestamp: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
            ca_certificates: self.opts.guest_ca.as_ref().map(GuestCa::pem),
            nameservers: self.opts.network.dns.addrs(),
        };
        envd_client::init(&self.http, &envd_url, &init, launch.current_token)
            .await
            .map_err(|e| format!("envd /init: {e}"))?;
        if let Some(disk_mib) = config.disk_mib {
            // The block device grew; let the file system use it.
            let mut grow = ExecRequest::shell("resize2fs /dev/vda >/dev/null 2>&1 || true");
            grow.user = "root".into();
            grow.access_token = Some(token.expose().to_owned());
            if let Err(err) = envd_client::exec(&envd_url, &grow).await {
                tracing::warn!(sandbox_id = %id, disk_mib, %err, "could not grow the guest file system");
            }
        }
        if let (Start::Boot, Some(spec)) = (launch.start, launch.template_start) {
            // The gate bounds VM starts up to an initialised envd; a start
            // command's warm-up must not hold other sandboxes back.
            drop(_turn);
            let vm = runtime.vm.as_mut().ok_or("the VM is gone")?;
            let started = std::time::Instant::now();
            envd_client::start_and_wait(
                &self.http,
                &envd_url,
                spec,
                spec.ready_timeout(),
                Some(token.expose()),
                || vm.check_running(),
            )
            .await
            .map_err(|e| e.to_string())?;
            tracing::info!(sandbox_id = %id, duration_ms = started.elapsed().as_millis() as u64,
                "template start command ready");
        }
        Ok(())
    }

    /// The VM of `runtime` now lives in `run_dir` (its sandbox directory
    /// was renamed while it ran): it is taken over again at the new path,
    /// so its control socket and console are found there.
    pub fn moved(&self, runtime: &mut Runtime<V::Vm>, run_dir: &Path) -> Result<(), String> {
        let pid = runtime
            .vm
            .as_ref()
            .and_then(RunningVm::pid)
            .ok_or("the pooled VM has no process")?;
        let vm = self
            .backend
            .adopt(run_dir, pid)
            .ok_or("this backend cannot take over a running VM")?;
        // The old handle is dropped, not killed: the process lives on.
        runtime.vm = Some(vm);
        Ok(())
    }

    /// Hands a pooled, initialised guest to its new owner: the request's
    /// egress policy on its network, then envd `/init` (proved with the
    /// pool's token) with the owner's token, env vars, user and clock.
    pub async fn claim(
        &self,
        runtime: &Runtime<V::Vm>,
        envd_url: &str,
        config: &super::SandboxConfig,
        policy: &EgressPolicy,
        token: &str,
        pool_token: &str,
    ) -> Result<(), String> {
        self.update_policy(runtime, policy)
            .await
            .map_err(|e| format!("network policy: {e}"))?;
        let init = InitRequest {
            env_vars: &config.env_vars,
            access_token: token,
            default_user: "user",
            default_workdir: "/home/user",
            timestamp: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
            ca_certificates: self.opts.guest_ca.as_ref().map(GuestCa::pem),
            nameservers: self.opts.network.dns.addrs(),
        };
        envd_client::init(&self.http, envd_url, &init, Some(pool_token))
            .await
            .map_err(|e| format!("envd /init: {e}"))
    }

    /// Applies `policy` to the running sandbox's network; a sandbox without
    /// one (not running) has nothing to update.
    pub async fn update_policy(
        &self,
        runtime: &Runtime<V::Vm>,
        policy: &EgressPolicy,
    ) -> Result<(), String> {
        match &runtime.net {
            Some((lease, _)) => self
                .network
                .update_policy(lease.slot(), policy)
                .await
                .map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// Stops the VM and frees the network slot (both best effort, logged).
    pub async fn release(&self, runtime: &mut Runtime<V::Vm>) {
        if let Some(mut vm) = runtime.vm.take() {
            if let Err(err) = vm.kill().await {
                tracing::warn!(%err, "stopping the VMM failed");
            }
        }
        if let Some((lease, handle)) = runtime.net.take() {
            if let Err(err) = self.network.destroy(handle.slot).await {
                tracing::warn!(%err, slot = lease.slot().index(), "removing the sandbox network failed");
            }
            drop(lease);
        }
    }

    /// Boots a template VM on `disk`, waits for envd (and for `start`, the
    /// template's start command, to be ready) and pauses it into
    /// `snapshot_dir` (before `/init`: no token or user environment inside;
    /// the start command runs with the spec's environment only).
    pub async fn snapshot_template(
        &self,
        disk: &Path,
        snapshot_dir: &Path,
        (vcpus, memory_mib): (u8, u32),
        start: Option<&TemplateStartSpec>,
    ) -> Result<(), String> {
        let lease = self
            .slots
            .allocate()
            .map_err(|e| format!("no network slot free: {e}"))?;
        // The template VM needs no internet while it boots.
        let policy = EgressPolicy {
            internet: false,
            allow: Vec::new(),
            deny: Vec::new(),
        };
        let handle = self
            .network
            .create(lease.slot(), &policy)
            .await
            .map_err(|e| format!("network: {e}"))?;
        let url = format!("http://{}", handle.envd_addr);
        let outcome = async {
            let spec = self.spec(
                &snapshot_dir.join("run"),
                disk,
                (vcpus, memory_mib),
                GuestNet::Tap(handle.tap.clone()),
            )?;
            let _turn = self.gate.enter().await;
            let mut vm = self
                .backend
                .boot_template(&spec, snapshot_dir)
                .await
                .map_err(|e| format!("VMM: {e}"))?;
            // Declared after `vm`, so it is dropped first: a build abandoned
            // at an await (the agent stopping) takes its VM with it.
            let mut abandoned = KillOnDrop(vm.pid());
            let ready =
                envd_client::wait_ready(&self.http, &url, &mut vm, self.opts.ready_timeout).await;
            let started = match (&ready, start) {
                (Ok(()), Some(spec)) => envd_client::start_and_wait(
                    &self.http,
                    &url,
                    spec,
                    spec.ready_timeout(),
                    None,
                    || vm.check_running(),
                )
                .await
                .map_err(|e| format!("in the template VM: {e}")),
                _ => Ok(()),
            };
            let failure = match (ready, started) {
                (Ok(()), Err(reason)) => reason,
                (Ok(()), Ok(())) => match vm.pause_to(snapshot_dir).await {
                    Ok(()) => {
                        abandoned.disarm();
                        return Ok(());
                    }
                    Err(err) => format!("snapshot: {err}"),
                },
                (Err(WaitReadyError::VmStopped(err)), _) => {
                    abandoned.disarm();
                    return Err(format!("template VM stopped: {err}"));
                }
                (Err(err @ WaitReadyError::Timeout(_)), _) => format!(
                    "{err} in the template VM; console:\n{}",
                    vm.console_tail(15)
                ),
            };
            if let Err(err) = vm.kill().await {
                tracing::warn!(%err, "stopping the template VM failed");
            }
            abandoned.disarm();
            Err(failure)
        }
        .await;
        if let Err(err) = self.network.destroy(handle.slot).await {
            tracing::warn!(%err, "removing the template VM's network failed");
        }
        drop(lease);
        outcome
    }
}

/// Kills a template-build VM's process when the build is dropped before it
/// finished (its task aborted at agent shutdown). A sandbox's VM outlives
/// the agent on purpose; a half-built template VM has no record to be
/// re-adopted from, so nothing else would ever stop it. Its network is
/// swept by the next start's cleanup.
struct KillOnDrop(Option<u32>);

impl KillOnDrop {
    /// The build ended on a path that stopped (or published) the VM itself.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // The process is still our unreaped child, so the pid is its.
            let target = nix::unistd::Pid::from_raw(pid as i32);
            if let Err(err) = nix::sys::signal::kill(target, nix::sys::signal::SIGKILL) {
                tracing::warn!(pid, %err, "killing an abandoned template VM failed");
            }
        }
    }
}
