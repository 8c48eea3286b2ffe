//! Choosing the accelerator. `/dev/kvm` alone is not enough: on hosts whose
//! KVM is backed by PVM (`kvm_pvm` loaded, no `kvm_intel`/`kvm_amd`), ordinary
//! guests hang forever, so `auto` picks TCG there and says why.
use std::{fmt, path::Path, str::FromStr};

/// The accelerator a VM runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kvm => "kvm",
            Self::Tcg => "tcg",
        })
    }
}

/// What the operator asked for (`AGENT_ACCEL=kvm|tcg|auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccelChoice {
    #[default]
    Auto,
    Force(Accel),
}

#[derive(Debug, thiserror::Error)]
#[error("unknown accelerator '{0}': expected kvm, tcg or auto")]
pub struct ParseAccelError(String);

impl FromStr for AccelChoice {
    type Err = ParseAccelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Self::Auto),
            "kvm" => Ok(Self::Force(Accel::Kvm)),
            "tcg" => Ok(Self::Force(Accel::Tcg)),
            _ => Err(ParseAccelError(s.to_owned())),
        }
    }
}

/// The accelerator chosen and the reason, for logs and host specs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelDecision {
    pub accel: Accel,
    pub reason: String,
}

/// What the host offers, read from `/dev` and `/sys/module`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostKvm {
    pub dev_kvm: bool,
    pub hardware_module: bool,
    pub pvm_module: bool,
}

impl HostKvm {
    pub fn probe() -> Self {
        let module = |name: &str| Path::new("/sys/module").join(name).exists();
        Self {
            dev_kvm: Path::new("/dev/kvm").exists(),
            hardware_module: module("kvm_intel") || module("kvm_amd"),
            pvm_module: module("kvm_pvm"),
        }
    }
}

pub fn decide(choice: AccelChoice, host: HostKvm) -> AccelDecision {
    match choice {
        AccelChoice::Force(accel) => AccelDecision {
            accel,
            reason: "forced by AGENT_ACCEL".into(),
        },
        AccelChoice::Auto if !host.dev_kvm => AccelDecision {
            accel: Accel::Tcg,
            reason: "no /dev/kvm".into(),
        },
        AccelChoice::Auto if host.hardware_module => AccelDecision {
            accel: Accel::Kvm,
            reason: "hardware KVM (kvm_intel/kvm_amd)".into(),
        },
        AccelChoice::Auto if host.pvm_module => AccelDecision {
            accel: Accel::Tcg,
            reason: "/dev/kvm is PVM-backed (kvm_pvm) and cannot run ordinary guests".into(),
        },
        AccelChoice::Auto => AccelDecision {
            accel: Accel::Tcg,
            reason: "/dev/kvm present but no known KVM vendor module".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PVM_HOST: HostKvm = HostKvm {
        dev_kvm: true,
        hardware_module: false,
        pvm_module: true,
    };

    #[test]
    fn decide_when_pvm_only_then_tcg() {
        let decision = decide(AccelChoice::Auto, PVM_HOST);
        assert_eq!(decision.accel, Accel::Tcg);
        assert!(decision.reason.contains("PVM"));
    }

    #[test]
    fn decide_when_hardware_module_then_kvm() {
        let host = HostKvm {
            dev_kvm: true,
            hardware_module: true,
            pvm_module: false,
        };
        assert_eq!(decide(AccelChoice::Auto, host).accel, Accel::Kvm);
    }

    #[test]
    fn decide_when_forced_then_override_wins() {
        let decision = decide(AccelChoice::Force(Accel::Kvm), PVM_HOST);
        assert_eq!(decision.accel, Accel::Kvm);
    }

    #[test]
    fn parse_when_unknown_then_error_lists_choices() {
        let err = "hvf".parse::<AccelChoice>().expect_err("unknown");
        assert!(err.to_string().contains("kvm, tcg or auto"));
    }
}
