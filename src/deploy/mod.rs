//! The post-up deploy: an ordered list of phases, each titled and timed, run until the first
//! failure or the `--until` phase. Timings go to `.vagrant/k0s/timings.json`.

mod api;
mod apply;
pub(crate) mod artifacts;
mod kubeconfig;
mod preflight;
pub(crate) mod render;
mod taints;
mod version;
mod wait_ready;
mod wait_ssh;

use std::cell::{OnceCell, RefCell};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::adapters::k0sctl::{K0sctl, K0sctlSearch};
use crate::adapters::node;
use crate::adapters::ssh::{KnownHosts, Retry, Session};
use crate::cluster::nodes::{parse_nodes, NodeList};
use crate::cluster::ClusterError;
use crate::error::Error;
use crate::inventory::Inventory;
use crate::plan::Plan;
use crate::util::files::write_atomic;
use crate::util::text::human;

/// The phases, in order; `--until` takes their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseName {
    WaitSsh,
    Preflight,
    Artifacts,
    Render,
    Apply,
    WaitReady,
    Version,
    Taints,
    Kubeconfig,
    Api,
}

impl PhaseName {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::WaitSsh => "wait-ssh",
            PhaseName::Preflight => "preflight",
            PhaseName::Artifacts => "artifacts",
            PhaseName::Render => "render",
            PhaseName::Apply => "apply",
            PhaseName::WaitReady => "wait-ready",
            PhaseName::Version => "version",
            PhaseName::Taints => "taints",
            PhaseName::Kubeconfig => "kubeconfig",
            PhaseName::Api => "api",
        }
    }
}

/// Whether a phase runs this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Run,
    /// Skip it, for this reason (printed as `skipped: <reason>`).
    Skip(String),
}

/// One step of the deploy. `decide` looks at real state and changes nothing; `run` makes every
/// change through [`Ctx::act`] or [`Ctx::record`].
pub trait Phase {
    fn name(&self) -> PhaseName;
    fn title(&self) -> &'static str;
    fn decide(&self, _cx: &Ctx) -> Result<Decision, Error> {
        Ok(Decision::Run)
    }
    fn run(&self, cx: &mut Ctx) -> Result<(), Error>;
}

pub fn phases() -> Vec<Box<dyn Phase>> {
    vec![
        Box::new(wait_ssh::WaitSsh),
        Box::new(preflight::Preflight),
        Box::new(artifacts::Artifacts),
        Box::new(render::Render),
        Box::new(apply::Apply),
        Box::new(wait_ready::WaitReady),
        Box::new(version::RecordVersion),
        Box::new(taints::Taints),
        Box::new(kubeconfig::Kubeconfig),
        Box::new(api::ApiCheck),
    ]
}

/// Limits for the slow steps.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub ssh: Retry,
    pub command: Duration,
    pub apply: Duration,
    pub ready: Duration,
    pub poll: Duration,
    /// How long the final `api` phase keeps asking the API before it fails.
    pub api: Duration,
}

impl Timeouts {
    /// The limits the user sets (K0S_VAGRANT_SSH_WAIT, K0S_VAGRANT_APPLY_TIMEOUT,
    /// K0S_VAGRANT_READY_TIMEOUT, K0S_VAGRANT_API_WAIT, checked in `settings`), and the fixed ones.
    pub fn from_limits(ssh: Duration, apply: Duration, ready: Duration, api: Duration) -> Timeouts {
        Timeouts {
            ssh: Retry {
                deadline: ssh,
                ..Retry::default()
            },
            command: Duration::from_secs(120),
            apply,
            ready,
            poll: Duration::from_secs(5),
            api,
        }
    }
}

/// The rendered k0sctl.yaml.
fn config_path(state_dir: &Path) -> PathBuf {
    state_dir.join("k0sctl.yaml")
}

/// The k0sctl.yaml of the last successful apply: what the next deploy compares with.
fn applied_path(state_dir: &Path) -> PathBuf {
    state_dir.join("k0sctl.applied.yaml")
}

/// What the user chose for this deploy, besides the plan.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeouts: Timeouts,
    /// Whether to merge the kubeconfig into the user's (K0S_KUBECONFIG_MERGE).
    pub merge_kubeconfig: bool,
    /// The user's kubeconfig file, if KUBECONFIG or HOME names one.
    pub user_kubeconfig: Option<PathBuf>,
    /// Where to look for k0sctl (K0SCTL, else PATH).
    pub k0sctl: K0sctlSearch,
    /// The last phase to run (`--until`, else K0S_VAGRANT_DEPLOY_UNTIL).
    pub until: Option<PhaseName>,
    /// The download cache the artifacts phase fills and the render uploads from.
    pub cache: crate::cache::Config,
}

/// Everything the phases share. The plan and the options are fixed; what one phase learns for a
/// later one is reached through the accessors below, never through a field set in passing.
pub struct Ctx {
    state_dir: PathBuf,
    plan: Plan,
    inventory: Inventory,
    known_hosts: KnownHosts,
    options: Options,
    /// Open sessions, in inventory order, after wait-ssh.
    sessions: Vec<Session>,
    k0sctl: OnceCell<K0sctl>,
    /// The Node objects as last read; cleared by every change to them.
    nodes: RefCell<Option<NodeList>>,
    /// How the wait for an already deployed cluster's nodes went, once it ran.
    came_back: OnceCell<Result<wait_ready::Ready, wait_ready::NotReady>>,
    /// What this run changed, for the closing line.
    changes: Vec<String>,
}

impl Ctx {
    pub fn new(state_dir: PathBuf, plan: Plan, inventory: Inventory, options: Options) -> Ctx {
        Ctx {
            known_hosts: KnownHosts::new(state_dir.join("known_hosts")),
            state_dir,
            plan,
            inventory,
            options,
            sessions: Vec::new(),
            k0sctl: OnceCell::new(),
            nodes: RefCell::new(None),
            came_back: OnceCell::new(),
            changes: Vec::new(),
        }
    }

    fn timeouts(&self) -> &Timeouts {
        &self.options.timeouts
    }

    fn config_path(&self) -> PathBuf {
        config_path(&self.state_dir)
    }

    fn kubeconfig_path(&self) -> PathBuf {
        self.state_dir.join("kubeconfig")
    }

    /// The session to control-plane-1, where cluster queries run.
    fn leader(&self) -> Result<&Session, Error> {
        self.sessions.first().ok_or_else(|| {
            ClusterError::NotConnected {
                node: self
                    .inventory
                    .nodes
                    .first()
                    .map_or_else(String::new, |n| n.name.clone()),
            }
            .into()
        })
    }

    /// `sudo k0s kubectl <args>` on control-plane-1.
    fn kubectl(&self, args: &str) -> Result<String, Error> {
        let k0s = &self.inventory.nodes[0].k0s_binary;
        self.on_leader(&node::kubectl(k0s, args))
    }

    /// `sudo k0s <args>` on control-plane-1.
    fn k0s(&self, args: &str) -> Result<String, Error> {
        let k0s = &self.inventory.nodes[0].k0s_binary;
        self.on_leader(&node::k0s(k0s, args))
    }

    fn on_leader(&self, command: &str) -> Result<String, Error> {
        Ok(self.leader()?.run(command, self.timeouts().command)?)
    }

    /// The Node objects, read from control-plane-1 once and kept until something changes them.
    fn node_list(&self) -> Result<NodeList, Error> {
        if let Some(nodes) = self.nodes.borrow().as_ref() {
            return Ok(nodes.clone());
        }
        let nodes = parse_nodes(&self.kubectl("get nodes -o json")?).map_err(ClusterError::from)?;
        *self.nodes.borrow_mut() = Some(nodes.clone());
        Ok(nodes)
    }

    /// Keeps a node list read elsewhere (wait-ready's polling) as the current one.
    fn remember_nodes(&self, nodes: NodeList) {
        *self.nodes.borrow_mut() = Some(nodes);
    }

    /// The node list as last read, without asking the cluster (for the closing table).
    fn last_nodes(&self) -> Option<NodeList> {
        self.nodes.borrow().clone()
    }

    /// Waits until every planned node of an already deployed cluster is Ready again (a halted
    /// cluster's VMs just started, or resumed), up to the ready timeout; once per deploy, later
    /// calls answer the first outcome.
    fn nodes_back(&self) -> Result<wait_ready::Ready, wait_ready::NotReady> {
        self.came_back
            .get_or_init(|| wait_ready::poll(self, self.timeouts().ready))
            .clone()
    }

    /// k0sctl, found (and its version checked) once per deploy.
    fn k0sctl(&self) -> Result<&K0sctl, Error> {
        if let Some(k0sctl) = self.k0sctl.get() {
            return Ok(k0sctl);
        }
        let found = K0sctl::locate(&self.options.k0sctl)?;
        Ok(self.k0sctl.get_or_init(|| found))
    }

    /// Every change to a node or a file goes through here: printed where the user sees it, done,
    /// and counted for the closing line. The node list is read again after it.
    fn act<T>(
        &mut self,
        what: String,
        f: impl FnOnce(&mut Ctx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        eprintln!("    {what}");
        let result = f(self)?;
        self.nodes.borrow_mut().take();
        self.changes.push(what);
        Ok(result)
    }

    /// A change a tool made and reported back (a kubeconfig merge decides itself whether to
    /// write): printed and counted like [`Ctx::act`].
    fn record(&mut self, what: String) {
        eprintln!("    {what}");
        self.changes.push(what);
    }
}

#[derive(Debug, Clone, serde::Serialize)]
struct PhaseTiming {
    name: PhaseName,
    seconds: f64,
    skipped: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
struct RunTiming {
    started_unix: u64,
    outcome: String,
    total_seconds: f64,
    phases: Vec<PhaseTiming>,
}

/// Runs the phases up to and including `until`.
pub fn run(cx: &mut Ctx, until: Option<PhaseName>) -> Result<(), Error> {
    let started = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut timings = Vec::new();
    let mut outcome = Ok(());
    for phase in phases() {
        match run_phase(phase.as_ref(), cx) {
            Ok(timing) => timings.push(timing),
            Err(e) => {
                eprintln!(
                    "==> deploy failed in {} after {}",
                    phase.name().as_str(),
                    human(started.elapsed())
                );
                outcome = Err((phase.name(), e));
                break;
            }
        }
        if until == Some(phase.name()) {
            eprintln!(
                "==> stopped after {} as asked (--until)",
                phase.name().as_str()
            );
            break;
        }
    }
    append_timings(
        cx,
        RunTiming {
            started_unix,
            outcome: match &outcome {
                Ok(()) => "ok".to_string(),
                Err((name, _)) => format!("failed in {}", name.as_str()),
            },
            total_seconds: started.elapsed().as_secs_f64(),
            phases: timings,
        },
    );
    outcome.map_err(|(name, e)| Error::Phase {
        phase: name.as_str(),
        source: Box::new(e),
    })?;
    if until.is_none() {
        summary(cx, started.elapsed());
    }
    Ok(())
}

/// One phase: its title, then the decision and the run, each said in one line.
fn run_phase(phase: &dyn Phase, cx: &mut Ctx) -> Result<PhaseTiming, Error> {
    let _span = tracing::info_span!("phase", name = phase.name().as_str()).entered();
    eprintln!("==> {}", phase.title());
    let t0 = Instant::now();
    let skipped = match phase.decide(cx)? {
        Decision::Skip(reason) => {
            eprintln!("    skipped: {reason}");
            true
        }
        Decision::Run => {
            phase.run(cx)?;
            eprintln!("    done in {}", human(t0.elapsed()));
            false
        }
    };
    Ok(PhaseTiming {
        name: phase.name(),
        seconds: t0.elapsed().as_secs_f64(),
        skipped,
    })
}

fn append_timings(cx: &Ctx, record: RunTiming) {
    let path = cx.state_dir.join("timings.json");
    let mut all: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    all.push(serde_json::to_value(record).expect("timings serialize"));
    let text = serde_json::to_string_pretty(&all).expect("timings serialize");
    if let Err(e) = write_atomic(&path, text.as_bytes(), None) {
        tracing::warn!("write {}: {e}", path.display());
    }
}

fn summary(cx: &Ctx, total: Duration) {
    let nodes = cx.last_nodes();
    let rows: Vec<[String; 5]> = cx
        .plan
        .nodes
        .iter()
        .map(|n| {
            let address = cx
                .inventory
                .node(&n.name)
                .map_or("-".to_string(), |i| i.address.to_string());
            let ready = nodes
                .as_ref()
                .and_then(|l| l.items.iter().find(|k| k.metadata.name == n.name))
                .map_or("unknown".to_string(), |k| match k.readiness() {
                    Ok(()) => "Ready".to_string(),
                    Err(why) => format!("NotReady ({why})"),
                });
            let role = n.k0s_role.as_str();
            [
                n.name.clone(),
                role.to_string(),
                address,
                if n.runs_workloads { "yes" } else { "no" }.to_string(),
                ready,
            ]
        })
        .collect();
    let header = ["NODE", "ROLE", "ADDRESS", "WORKLOADS", "STATUS"];
    for line in crate::util::table::lines(header, &rows, &[]) {
        eprintln!("    {line}");
    }
    if cx.changes.is_empty() {
        eprintln!("==> nothing changed: the cluster already matches the plan");
    }
    // The deploy ends with the checks passed: for a cluster it had to wait for, that is its
    // time to healthy.
    match cx.came_back.get() {
        Some(Ok(ready)) if ready.waited => eprintln!(
            "==> healthy in {}: every node was Ready again after {}",
            human(total),
            human(ready.after)
        ),
        Some(Err(_)) => eprintln!("==> healthy in {}", human(total)),
        _ => {}
    }
    let context = cx.plan.context_name();
    eprintln!("==> finished in {}", human(total));
    eprintln!("    kubeconfig: {}", cx.kubeconfig_path().display());
    if cx.options.merge_kubeconfig {
        eprintln!("    use it: kubectl --context {context} get nodes");
    } else {
        eprintln!(
            "    use it: kubectl --kubeconfig {} get nodes",
            cx.kubeconfig_path().display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// `--until` takes the names of [`PhaseName`]; they must be the phases, in run order.
    #[test]
    fn until_names_are_the_phases_in_order() {
        let run: Vec<PhaseName> = phases().iter().map(|p| p.name()).collect();
        assert_eq!(run, PhaseName::value_variants());
    }
}
