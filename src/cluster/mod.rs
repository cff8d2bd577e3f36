//! The running cluster: what it says over SSH and from the host (report, each probe's result a
//! [`probe::Probe`]), the named checks over that, the API as this host sees it, Node objects, the
//! workload probe and the failure drill.

pub mod api;
pub mod checks;
pub mod drill;
pub mod nodes;
pub mod probe;
pub mod report;
pub mod workloads;

use crate::adapters::ssh;
use crate::adapters::vagrant::Project;
use crate::error::Error;
use crate::inventory::Inventory;
use crate::lock;
use crate::plan::Plan;

/// The `schema_version` of `status --json` and `health --json`: raised when a field is removed or
/// changes its meaning (added fields keep it).
pub const SCHEMA_VERSION: u32 = 1;

/// The running cluster as the state files describe it.
pub struct Running {
    pub plan: Plan,
    pub inventory: Inventory,
    pub known_hosts: ssh::KnownHosts,
    pub kubeconfig: std::path::PathBuf,
}

impl Running {
    pub fn load(project: &Project) -> Result<Running, Error> {
        let state_dir = project.state_dir();
        let plan = lock::read_lock(project)?.ok_or_else(|| Error::NoPlanLock {
            path: lock::lock_path(project),
        })?;
        let inventory = Inventory::read(&state_dir)?;
        Ok(Running {
            plan,
            inventory,
            known_hosts: ssh::KnownHosts::new(state_dir.join("known_hosts")),
            kubeconfig: state_dir.join("kubeconfig"),
        })
    }

    /// Whether the API answers from this host with the exported kubeconfig: at the shared API
    /// address, else at the first controller that answers.
    pub fn api(&self) -> probe::Probe<String> {
        api::api_check(&self.plan, &self.inventory, &self.kubeconfig)
    }
}

impl Running {
    /// What the running cluster says now.
    pub fn report(&self) -> report::Report {
        let mut report = report::collect(
            &self.plan,
            &self.inventory,
            &self.known_hosts,
            &report::Limits::default(),
            || self.api(),
        );
        report.kubeconfig = self.kubeconfig.exists().then(|| self.kubeconfig.clone());
        report
    }
}
