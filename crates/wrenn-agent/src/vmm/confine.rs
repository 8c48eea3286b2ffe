//! How VMM processes are confined on the host: an unprivileged user, QEMU's
//! seccomp filter and one cgroup per VM ([`super::cgroup`]). On by default;
//! `AGENT_VM_CONFINEMENT=off` turns all three off (benchmarks, debugging),
//! and says so loudly at start-up.
use std::{path::Path, str::FromStr};

use super::cgroup::{CgroupError, CgroupFs, VmCgroup, VmLimits};

/// The user VMM processes run as unless configured otherwise.
pub const DEFAULT_VM_USER: &str = "wrenn-vm";

/// QEMU's seccomp filter. `elevateprivileges=allow` because QEMU 7.2 installs
/// the filter before `-runas` drops to the VM user, and with `deny` that
/// drop is itself refused (the process dies with SIGSYS); after the drop
/// QEMU holds no capabilities and has `no_new_privs` set, so set*uid cannot
/// give anything back.
pub const QEMU_SANDBOX: &str =
    "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny";

#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("the VM user '{0}' does not exist: create it (deploy/setup-host.sh does: `useradd --system --no-create-home --shell /usr/sbin/nologin {0}`), name another with AGENT_VM_USER, or run VMs unconfined with AGENT_VM_CONFINEMENT=off")]
    NoSuchUser(String),
    #[error("looking up the VM user '{user}'")]
    Lookup {
        user: String,
        #[source]
        source: nix::Error,
    },
    #[error("the VM user '{0}' is root; VMs must run as an unprivileged user")]
    RootUser(String),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}

/// `AGENT_VM_CONFINEMENT`: `on` (default) or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfinementChoice {
    On,
    Off,
}

impl FromStr for ConfinementChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            _ => Err(format!("'{s}': expected on or off")),
        }
    }
}

/// The unprivileged account a VMM runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl VmUser {
    pub fn lookup(name: &str) -> Result<Self, ConfineError> {
        let user = nix::unistd::User::from_name(name)
            .map_err(|source| ConfineError::Lookup {
                user: name.to_owned(),
                source,
            })?
            .ok_or_else(|| ConfineError::NoSuchUser(name.to_owned()))?;
        if user.uid.is_root() {
            return Err(ConfineError::RootUser(name.to_owned()));
        }
        Ok(Self {
            name: name.to_owned(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }
}

/// What confines each VMM process of this agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confinement {
    /// VMMs run as the agent's user (root), unfiltered, in the agent's cgroup.
    Off,
    On {
        user: VmUser,
        cgroups: CgroupFs,
    },
}

impl Confinement {
    /// Resolves the choice on this host: the user must exist and a cgroup
    /// hierarchy with cpu, memory and pids must be there.
    pub fn resolve(choice: ConfinementChoice, user: &str) -> Result<Self, ConfineError> {
        match choice {
            ConfinementChoice::Off => {
                tracing::warn!("AGENT_VM_CONFINEMENT=off: VMs run as root, without seccomp and without per-VM cgroup limits");
                Ok(Self::Off)
            }
            ConfinementChoice::On => Ok(Self::On {
                user: VmUser::lookup(user)?,
                cgroups: CgroupFs::detect(Path::new(super::cgroup::SYS_FS_CGROUP))?,
            }),
        }
    }

    /// The default user on the real cgroup mount.
    pub fn default_on() -> Result<Self, ConfineError> {
        Self::resolve(ConfinementChoice::On, DEFAULT_VM_USER)
    }

    pub fn is_on(&self) -> bool {
        matches!(self, Self::On { .. })
    }

    /// QEMU arguments: drop to the VM user once devices and files are open,
    /// and the seccomp filter.
    pub fn qemu_args(&self) -> Vec<String> {
        match self {
            Self::Off => Vec::new(),
            Self::On { user, .. } => vec![
                "-runas".into(),
                user.name.clone(),
                "-sandbox".into(),
                QEMU_SANDBOX.into(),
            ],
        }
    }

    /// Puts the VMM `pid` into its own cgroup sized for the VM.
    pub fn confine(
        &self,
        pid: u32,
        vcpus: u8,
        memory_mib: u32,
    ) -> Result<Option<VmCgroup>, ConfineError> {
        match self {
            Self::Off => Ok(None),
            Self::On { cgroups, .. } => Ok(Some(
                cgroups.confine(pid, VmLimits::for_vm(vcpus, memory_mib))?,
            )),
        }
    }

    /// The group an adopted VMM was put in by an earlier agent.
    pub fn group_of(&self, pid: u32) -> Option<VmCgroup> {
        match self {
            Self::Off => None,
            Self::On { cgroups, .. } => Some(cgroups.group(pid)),
        }
    }

    /// Removes the groups of VMs that are gone (agent start-up).
    pub fn sweep(&self) -> usize {
        match self {
            Self::Off => 0,
            Self::On { cgroups, .. } => cgroups.sweep(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_when_user_missing_then_error_names_the_fixes() {
        let err = Confinement::resolve(ConfinementChoice::On, "wrenn-no-such-user-x")
            .expect_err("no such user");
        let message = err.to_string();
        assert!(message.contains("useradd"), "{message}");
        assert!(message.contains("AGENT_VM_CONFINEMENT=off"), "{message}");
    }

    #[test]
    fn resolve_when_root_then_refused() {
        assert!(matches!(
            VmUser::lookup("root"),
            Err(ConfineError::RootUser(_))
        ));
    }

    #[test]
    fn qemu_args_when_on_then_runas_and_sandbox() {
        let confinement = Confinement::On {
            user: VmUser {
                name: "wrenn-vm".into(),
                uid: 990,
                gid: 990,
            },
            cgroups: CgroupFs::V2 {
                root: "/sys/fs/cgroup".into(),
            },
        };
        let args = confinement.qemu_args().join(" ");
        assert!(args.starts_with("-runas wrenn-vm -sandbox on,"), "{args}");
        for part in ["obsolete=deny", "spawn=deny", "resourcecontrol=deny"] {
            assert!(args.contains(part), "{args}");
        }
        assert!(Confinement::Off.qemu_args().is_empty());
    }

    #[test]
    fn choice_when_parsed_then_on_off_only() {
        assert_eq!("on".parse(), Ok(ConfinementChoice::On));
        assert_eq!("off".parse(), Ok(ConfinementChoice::Off));
        assert!("maybe".parse::<ConfinementChoice>().is_err());
    }
}
