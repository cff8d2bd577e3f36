//! The one error type the binary sees, and the exit code for each kind of failure.

use std::path::PathBuf;

use crate::adapters::k0sctl::K0sctlError;
use crate::adapters::kubeconfig::KubeconfigError;
use crate::adapters::ssh::SshError;
use crate::adapters::vagrant::ProviderError;
use crate::cluster::drill::DrillError;
use crate::cluster::nodes::ParseError;
use crate::inventory::InventoryError;
use crate::lock::LockError;
use crate::render::RenderError;
use crate::settings::SettingsError;
use crate::validate::Invalid;

/// Failures of the cluster itself, seen over SSH or from the host.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{}", problems.join("; "))]
    Preflight { problems: Vec<String> },
    #[error(
        "{node} not Ready after {after} ({reason}); try: vagrant ssh {node} -c 'sudo k0s status'"
    )]
    NotReady {
        node: String,
        reason: String,
        after: String,
    },
    #[error("the API at {server} does not answer from this host ({reason}); check `vagrant status` and the firewall of the node network")]
    ApiUnreachable { server: String, reason: String },
    #[error(transparent)]
    Parse(#[from] ParseError),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Host(#[from] crate::host::HostError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error(transparent)]
    K0sctl(#[from] K0sctlError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    #[error(transparent)]
    Drill(#[from] DrillError),
    #[error("no plan lock at {}; run `vagrant up` first", path.display())]
    NoPlanLock { path: PathBuf },
    #[error("no kubeconfig at {}; `vagrant up` exports it once the cluster is up", path.display())]
    NoKubeconfig { path: PathBuf },
    #[error("not healthy: {failed} failed")]
    Unhealthy { failed: String },
    #[error("no SSH session to control-plane-1 (the wait-ssh phase did not run)")]
    NotConnected,
    #[error("{phase}: {source}")]
    Phase {
        phase: &'static str,
        #[source]
        source: Box<Error>,
    },
    #[error("write {}", path.display())]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write {what}")]
    Output {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// 2 bad input (settings, plan lock, inventory), 3 missing tool (k0sctl), 4 remote or
    /// cluster (SSH, apply, Ready timeout, API), 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Settings(_)
            | Error::Provider(_)
            | Error::Inventory(_)
            | Error::Invalid(_)
            | Error::NoPlanLock { .. }
            | Error::NoKubeconfig { .. } => 2,
            Error::Lock(LockError::Write { .. }) => 1,
            Error::Lock(_) => 2,
            Error::Kubeconfig(
                KubeconfigError::Parse { .. } | KubeconfigError::NotAController { .. },
            ) => 2,
            Error::Host(crate::host::HostError::K0sctl(e)) | Error::K0sctl(e) => k0sctl_code(e),
            // The host lacks what the cluster needs (a newer Vagrant, KVM): a missing tool.
            Error::Host(_) => 3,
            Error::Ssh(_) | Error::Cluster(_) | Error::NotConnected => 4,
            Error::Phase { source, .. } => source.exit_code(),
            Error::Unhealthy { .. } => 1,
            Error::Drill(DrillError::UnknownNode { .. } | DrillError::BreaksQuorum { .. }) => 2,
            Error::Drill(DrillError::Action { .. }) => 4,
            Error::Drill(DrillError::NotRestored { .. } | DrillError::Degraded { .. }) => 1,
            Error::Render(_)
            | Error::Kubeconfig(_)
            | Error::State { .. }
            | Error::Output { .. } => 1,
        }
    }
}

/// 3 when k0sctl is missing or unusable, 4 when it ran and failed.
fn k0sctl_code(e: &K0sctlError) -> u8 {
    match e {
        K0sctlError::NotFound { .. }
        | K0sctlError::TooOld { .. }
        | K0sctlError::NoVersion { .. } => 3,
        _ => 4,
    }
}
