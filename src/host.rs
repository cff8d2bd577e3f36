//! The machine `vagrant up` runs on: CPU architecture, hardware virtualization and the Vagrant
//! version, and what a `vagrant up` needs from it. Checked when the plan is made for `up`, so a
//! host that cannot run the cluster is refused before any VM exists.

use crate::adapters::k0sctl::K0sctlSearch;
use crate::adapters::k0sctl::{K0sctl, K0sctlError};
use crate::plan::{Plan, Provider};
use crate::settings::DEFAULT_LIBVIRT_BOX;
use crate::util::exit::Category;
use crate::util::version::{self, Version};

/// The host's CPU architecture, as Rust names it (`std::env::consts::ARCH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
    Other(String),
}

impl Arch {
    pub fn from_name(name: &str) -> Arch {
        match name {
            "x86_64" => Arch::X86_64,
            "aarch64" => Arch::Aarch64,
            other => Arch::Other(other.to_string()),
        }
    }

    /// The name box registries use for it (Vagrant 2.4's `box_architecture`).
    pub fn box_name(&self) -> &str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
            Arch::Other(name) => name,
        }
    }
}

/// Vagrant reads box architectures from 2.4.0 on (hashicorp/vagrant CHANGELOG 2.4.0,
/// `config.vm.box_architecture`); before that it takes whichever build a multi-arch box lists first.
pub const VAGRANT_BOX_ARCHITECTURES: Version = (2, 4, 0);

/// Facts about the host that the plan depends on; injected so the plan stays pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub arch: Arch,
    /// KVM backed by the CPU: kvm_intel/kvm_amd on x86_64, /dev/kvm with the kvm module on aarch64.
    pub hardware_kvm: bool,
    /// The Vagrant that evaluates the Vagrantfile (it passes `Vagrant::VERSION`); `None` when the
    /// helper runs on its own.
    pub vagrant: Option<Version>,
}

impl HostFacts {
    /// An x86_64 host, the Vagrant version unknown (tests and direct helper runs).
    pub fn x86_64(hardware_kvm: bool) -> HostFacts {
        HostFacts {
            arch: Arch::X86_64,
            hardware_kvm,
            vagrant: None,
        }
    }

    /// On x86_64 only kvm_intel or kvm_amd mean hardware virtualization: a paravirtual /dev/kvm
    /// (kvm_pvm) runs guests slower than QEMU's software emulation. arm64 KVM is the plain `kvm`
    /// module (Linux arch/arm64/kvm), with no vendor module beside it.
    pub fn detect(vagrant: Option<Version>) -> HostFacts {
        let exists = |p: &str| std::path::Path::new(p).exists();
        let arch = Arch::from_name(std::env::consts::ARCH);
        let hardware_kvm = match arch {
            Arch::X86_64 => exists("/sys/module/kvm_intel") || exists("/sys/module/kvm_amd"),
            Arch::Aarch64 => exists("/dev/kvm") && exists("/sys/module/kvm"),
            Arch::Other(_) => false,
        };
        HostFacts {
            arch,
            hardware_kvm,
            vagrant,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("Vagrant {} would download the arm64 build of {DEFAULT_LIBVIRT_BOX} whatever the host (box architectures need Vagrant >= 2.4.0; alchemy-solutions/vagrant-cloud-images issue 5); install Vagrant 2.4 or newer (HashiCorp's packages, then `vagrant plugin install vagrant-libvirt`), or set LIBVIRT_BOX to a box built for {arch}", version::show(*vagrant))]
    VagrantTooOldForBox { vagrant: Version, arch: String },
    #[error("libvirt clusters need an x86_64 or aarch64 host, this one is {arch}; use a supported machine")]
    UnsupportedArch { arch: String },
    #[error("this aarch64 host has no KVM (/dev/kvm with the kvm module); arm64 guests under software emulation are far too slow for k0s: enable virtualization for this host and load the kvm module")]
    NoKvmOnArm,
    #[error(transparent)]
    K0sctl(#[from] K0sctlError),
}

impl HostError {
    pub fn category(&self) -> Category {
        match self {
            HostError::VagrantTooOldForBox { .. }
            | HostError::UnsupportedArch { .. }
            | HostError::NoKvmOnArm => Category::MissingTool,
            HostError::K0sctl(e) => e.category(),
        }
    }
}

/// Everything `vagrant up` of `plan` needs from this host, checked before any machine exists:
/// a provider the host can run, and k0sctl (the deploy's apply needs it), found by `k0sctl`.
pub fn check_for_up(
    plan: &Plan,
    host: &HostFacts,
    k0sctl: &K0sctlSearch,
) -> Result<K0sctl, HostError> {
    if plan.cluster.provider_hint == Provider::Libvirt {
        match &host.arch {
            Arch::X86_64 => {}
            Arch::Aarch64 if host.hardware_kvm => {}
            Arch::Aarch64 => return Err(HostError::NoKvmOnArm),
            Arch::Other(arch) => return Err(HostError::UnsupportedArch { arch: arch.clone() }),
        }
        if plan.providers.libvirt.r#box == DEFAULT_LIBVIRT_BOX {
            if let Some(vagrant) = host.vagrant.filter(|v| *v < VAGRANT_BOX_ARCHITECTURES) {
                return Err(HostError::VagrantTooOldForBox {
                    vagrant,
                    arch: host.arch.box_name().to_string(),
                });
            }
        }
    }
    Ok(K0sctl::locate(k0sctl)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{RawSettings, Settings};

    fn libvirt_plan(host: &HostFacts) -> Plan {
        let settings = Settings::from_raw(&RawSettings::from_lookup(|_| None)).unwrap();
        Plan::from_settings(&settings, Provider::Libvirt, host)
    }

    fn refusal(host: HostFacts) -> String {
        match check_for_up(&libvirt_plan(&host), &host, &K0sctlSearch::default()) {
            Err(
                e @ (HostError::NoKvmOnArm
                | HostError::UnsupportedArch { .. }
                | HostError::VagrantTooOldForBox { .. }),
            ) => e.to_string(),
            other => panic!("expected a host refusal, got {other:?}"),
        }
    }

    #[test]
    fn hosts_that_cannot_run_the_libvirt_cluster_are_refused_before_up() {
        let arm = |kvm| HostFacts {
            arch: Arch::Aarch64,
            hardware_kvm: kvm,
            vagrant: Some((2, 4, 1)),
        };
        assert!(refusal(arm(false)).starts_with("this aarch64 host has no KVM"));
        let riscv = HostFacts {
            arch: Arch::from_name("riscv64"),
            ..arm(true)
        };
        assert_eq!(
            refusal(riscv),
            "libvirt clusters need an x86_64 or aarch64 host, this one is riscv64; use a supported machine"
        );
        let old_vagrant = HostFacts {
            vagrant: Some((2, 3, 4)),
            ..HostFacts::x86_64(true)
        };
        assert!(refusal(old_vagrant).starts_with(
            "Vagrant 2.3.4 would download the arm64 build of cloud-image/ubuntu-24.04 whatever the host"
        ));
    }

    #[test]
    fn arm64_hosts_never_get_an_x86_cpu_model() {
        let plan = libvirt_plan(&HostFacts {
            arch: Arch::Aarch64,
            hardware_kvm: true,
            vagrant: Some((2, 4, 1)),
        });
        let libvirt = &plan.providers.libvirt;
        assert_eq!(libvirt.driver, "kvm");
        assert_eq!(libvirt.cpu_mode.as_deref(), Some("host-passthrough"));
        assert_eq!(libvirt.cpu_model, None);
        assert_eq!(libvirt.box_architecture.as_deref(), Some("arm64"));
    }
}
