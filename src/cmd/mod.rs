//! One module per command: each reads what it needs, runs the pipeline or the cluster
//! observation, and prints. `lib.rs` dispatches here.

pub mod cache;
pub mod cleanup;
pub mod deploy;
pub mod drill;
pub mod health;
pub mod kubeconfig;
pub mod load;
pub mod plan;
pub mod remove;
pub mod render;
pub mod status;
pub mod stop;

use std::collections::BTreeMap;
use std::io::Write;

use crate::adapters::ssh;
use crate::adapters::vagrant::{self, Invocation, Project};
use crate::cluster::{api, report};
use crate::error::Error;
use crate::host::HostFacts;
use crate::inventory::Inventory;
use crate::lock;
use crate::plan::{self as plan_mod, Plan};
use crate::settings::{self, RawSettings, Settings, SettingsError};

/// The project the helper works on: `--project-dir`, else the nearest Vagrantfile upwards.
pub fn project(dir: Option<std::path::PathBuf>, env: &RawSettings) -> Project {
    let dotfile = env.value(settings::VAGRANT_DOTFILE_PATH);
    match dir {
        Some(dir) => Project::new(dir, dotfile),
        None => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
            Project::discover(&cwd, dotfile)
        }
    }
}

/// The plan the current variables give, for the provider Vagrant was asked for (or `provider`).
pub(crate) fn wanted_plan(
    env: &RawSettings,
    invocation: &Invocation,
    provider: Option<plan_mod::Provider>,
    host: &HostFacts,
) -> Result<Plan, Error> {
    let settings = Settings::from_raw(env)?;
    let provider = match provider {
        Some(p) => p,
        None => {
            vagrant::resolve_provider(invocation, env.value(settings::VAGRANT_DEFAULT_PROVIDER))?
        }
    };
    settings
        .addons
        .check_provider(provider, settings.node_network)
        .map_err(SettingsError::from)?;
    Ok(Plan::from_settings(&settings, provider, host))
}

/// The plan of the existing cluster, else the one the variables give (as `vagrant status` sees it).
pub(crate) fn current_plan(project: &Project, env: &RawSettings) -> Result<Plan, Error> {
    let wanted = wanted_plan(env, &Invocation::default(), None, &HostFacts::detect(None));
    Ok(lock::resolve(project, false, wanted)?.plan)
}

/// The user's kubeconfig, where the deploy merges: the first path of KUBECONFIG, else
/// ~/.kube/config.
pub(crate) fn user_kubeconfig(env: &RawSettings) -> Option<std::path::PathBuf> {
    crate::adapters::kubeconfig::user_kubeconfig_path(
        env.value(settings::KUBECONFIG),
        env.value(settings::HOME).map(std::path::Path::new),
    )
}

pub(crate) fn print_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A closed pipe (`| head`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|source| Error::Output {
            what: "standard output",
            source,
        }),
    }
}

/// The running cluster as the state files describe it.
pub struct Running {
    pub plan: Plan,
    pub inventory: Inventory,
    pub known_hosts: ssh::KnownHosts,
    pub kubeconfig: std::path::PathBuf,
    /// Where `vagrant status` runs, for the nodes without SSH.
    pub project: Project,
}

impl Running {
    pub fn load(project: &Project) -> Result<Running, Error> {
        let state_dir = project.state_dir();
        let plan = lock::require(project)?;
        let inventory = Inventory::read(&state_dir)?;
        Ok(Running {
            plan,
            inventory,
            known_hosts: ssh::KnownHosts::new(state_dir.join("known_hosts")),
            kubeconfig: state_dir.join("kubeconfig"),
            project: project.clone(),
        })
    }

    /// The states Vagrant gives for `names`; none when it cannot say (no vagrant, an error, too
    /// slow): then the SSH failures stand.
    fn machine_states(&self, names: &[&str]) -> BTreeMap<String, vagrant::MachineState> {
        self.project
            .machine_states(names, vagrant::STATUS_LIMIT)
            .unwrap_or_else(|e| {
                tracing::debug!("machine states of {} unknown: {e}", names.join(", "));
                BTreeMap::new()
            })
    }

    /// Whether the API answers from this host with the exported kubeconfig: at the shared API
    /// address, else at the first controller that answers.
    pub fn api(&self) -> crate::cluster::probe::Probe<String> {
        api::api_check(&self.plan, &self.inventory, &self.kubeconfig)
    }

    /// What the running cluster says now.
    pub fn report(&self) -> report::Report {
        let mut report = report::collect(
            &self.plan,
            &self.inventory,
            &self.known_hosts,
            &report::Limits::default(),
            || self.api(),
            &|names| self.machine_states(names),
        );
        report.kubeconfig = self.kubeconfig.exists().then(|| self.kubeconfig.clone());
        report
    }
}
