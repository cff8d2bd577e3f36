//! The one error type the binary sees. Each module's error knows its own exit-code category
//! (`util::exit`); this type only wraps them and adds the few failures of the commands themselves.

use std::path::PathBuf;

use crate::adapters::k0sctl::K0sctlError;
use crate::adapters::kubeconfig::KubeconfigError;
use crate::adapters::ssh::SshError;
use crate::adapters::vagrant::ProviderError;
use crate::cache::CacheError;
use crate::cluster::drill::DrillError;
use crate::cluster::ClusterError;
use crate::host::HostError;
use crate::inventory::InventoryError;
use crate::lifecycle::halt::StopError;
use crate::lifecycle::remove::RemoveError;
use crate::lock::LockError;
use crate::render::RenderError;
use crate::settings::SettingsError;
use crate::util::exit::Category;
use crate::util::files::FileError;
use crate::validate::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Host(#[from] HostError),
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
    #[error(transparent)]
    Remove(#[from] RemoveError),
    #[error(transparent)]
    Stop(#[from] StopError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("no kubeconfig at {}; `vagrant up` exports it once the cluster is up", path.display())]
    NoKubeconfig { path: PathBuf },
    /// `reason`: the checks that failed, or that the cluster is halted.
    #[error("not healthy: {reason}")]
    Unhealthy { reason: String },
    #[error("{phase}: {source}")]
    Phase {
        phase: &'static str,
        #[source]
        source: Box<Error>,
    },
    #[error("cannot write {what}: {source}")]
    Output {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn category(&self) -> Category {
        match self {
            Error::Settings(e) => e.category(),
            Error::Provider(e) => e.category(),
            Error::Host(e) => e.category(),
            Error::Lock(e) => e.category(),
            Error::Inventory(e) => e.category(),
            Error::Render(e) => e.category(),
            Error::Invalid(e) => e.category(),
            Error::Ssh(e) => e.category(),
            Error::K0sctl(e) => e.category(),
            Error::Cluster(e) => e.category(),
            Error::Kubeconfig(e) => e.category(),
            Error::Drill(e) => e.category(),
            Error::Remove(e) => e.category(),
            Error::Stop(e) => e.category(),
            Error::Cache(e) => e.category(),
            Error::Phase { source, .. } => source.category(),
            Error::NoKubeconfig { .. } => Category::BadInput,
            Error::File(_) | Error::Unhealthy { .. } | Error::Output { .. } => Category::Failed,
        }
    }

    /// 1 failed, 2 bad input, 3 missing tool, 4 the nodes or the cluster (`util::exit`).
    pub fn exit_code(&self) -> u8 {
        self.category().code()
    }
}
