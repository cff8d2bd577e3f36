//! The post-up deploy: an ordered list of phases, each titled and timed, run until the first
//! failure or the `--until` phase. Timings go to `.vagrant/k0s/timings.json`.

mod api;
mod apply;
mod kubeconfig;
mod preflight;
mod render;
mod taints;
mod wait_ready;
mod wait_ssh;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::adapters::k0sctl::K0sctl;
use crate::adapters::ssh::{KnownHosts, Retry, Session};
use crate::cluster::nodes::NodeList;
use crate::error::Error;
use crate::inventory::Inventory;
use crate::plan::Plan;
use crate::util::files::write_atomic;
use crate::util::text::human;

/// Set on a `vagrant up` that must not deploy (the drill's restore of a halted node): the post-up
/// hook then only says so.
pub const SKIP_DEPLOY_VAR: &str = "K0S_VAGRANT_SKIP_DEPLOY";

/// The phases, in order; `--until` takes their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseName {
    WaitSsh,
    Preflight,
    Render,
    Apply,
    WaitReady,
    Taints,
    Kubeconfig,
    Api,
}

impl PhaseName {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::WaitSsh => "wait-ssh",
            PhaseName::Preflight => "preflight",
            PhaseName::Render => "render",
            PhaseName::Apply => "apply",
            PhaseName::WaitReady => "wait-ready",
            PhaseName::Taints => "taints",
            PhaseName::Kubeconfig => "kubeconfig",
            PhaseName::Api => "api",
        }
    }
}

/// One step of the deploy. `should_run` looks at real state and returns why to skip, if so.
pub trait Phase {
    fn name(&self) -> PhaseName;
    fn title(&self) -> &'static str;
    fn should_run(&self, _cx: &mut Ctx) -> Result<Option<String>, Error> {
        Ok(None)
    }
    fn run(&self, cx: &mut Ctx) -> Result<(), Error>;
}

pub fn phases() -> Vec<Box<dyn Phase>> {
    vec![
        Box::new(wait_ssh::WaitSsh),
        Box::new(preflight::Preflight),
        Box::new(render::Render),
        Box::new(apply::Apply),
        Box::new(wait_ready::WaitReady),
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
    /// Defaults, overridden by K0S_VAGRANT_SSH_WAIT, K0S_VAGRANT_APPLY_TIMEOUT,
    /// K0S_VAGRANT_READY_TIMEOUT and K0S_VAGRANT_API_WAIT (seconds).
    pub fn from_env() -> Timeouts {
        let secs = |var: &str, default: u64| {
            Duration::from_secs(
                std::env::var(var)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(default),
            )
        };
        Timeouts {
            ssh: Retry {
                deadline: secs("K0S_VAGRANT_SSH_WAIT", 300),
                ..Retry::default()
            },
            command: Duration::from_secs(120),
            apply: secs("K0S_VAGRANT_APPLY_TIMEOUT", 1800),
            ready: secs("K0S_VAGRANT_READY_TIMEOUT", 600),
            poll: Duration::from_secs(5),
            api: secs("K0S_VAGRANT_API_WAIT", 60),
        }
    }
}

/// Everything the phases share.
pub struct Ctx {
    pub state_dir: PathBuf,
    pub plan: Plan,
    pub inventory: Inventory,
    pub known_hosts: KnownHosts,
    pub timeouts: Timeouts,
    /// Open sessions, in plan order, after wait-ssh.
    pub sessions: Vec<Session>,
    pub k0sctl: Option<K0sctl>,
    /// The last node list read from the cluster.
    pub nodes: Option<NodeList>,
    /// Whether to merge the kubeconfig into the user's (K0S_KUBECONFIG_MERGE).
    pub merge_kubeconfig: bool,
    pub user_kubeconfig: Option<PathBuf>,
    /// Things this run changed, for the closing line.
    pub changes: Vec<String>,
}

impl Ctx {
    pub fn config_path(&self) -> PathBuf {
        self.state_dir.join("k0sctl.yaml")
    }

    pub fn kubeconfig_path(&self) -> PathBuf {
        self.state_dir.join("kubeconfig")
    }

    /// The session to control-plane-1, where cluster queries run.
    pub fn leader(&self) -> Result<&Session, Error> {
        self.sessions.first().ok_or(Error::NotConnected)
    }

    /// `sudo k0s kubectl <args>` on control-plane-1.
    pub fn kubectl(&self, args: &str) -> Result<String, Error> {
        let leader = self.leader()?;
        let k0s = &self.inventory.nodes[0].k0s_binary;
        let command = crate::adapters::node::kubectl(k0s, args);
        Ok(leader.run(&command, self.timeouts.command)?)
    }

    /// Side effects go through here, so they are logged in one place.
    pub fn act<T>(
        &mut self,
        what: String,
        f: impl FnOnce(&mut Ctx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        tracing::info!("{what}");
        let result = f(self)?;
        self.changes.push(what);
        Ok(result)
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
        let _span = tracing::info_span!("phase", name = phase.name().as_str()).entered();
        eprintln!("==> {}", phase.title());
        let t0 = Instant::now();
        let result = match phase.should_run(cx) {
            Ok(Some(reason)) => {
                eprintln!("    skipped: {reason}");
                timings.push(PhaseTiming {
                    name: phase.name(),
                    seconds: t0.elapsed().as_secs_f64(),
                    skipped: true,
                });
                Ok(())
            }
            Ok(None) => phase.run(cx).map(|()| {
                eprintln!("    done in {}", human(t0.elapsed()));
                timings.push(PhaseTiming {
                    name: phase.name(),
                    seconds: t0.elapsed().as_secs_f64(),
                    skipped: false,
                });
            }),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            eprintln!(
                "==> deploy failed in {} after {}",
                phase.name().as_str(),
                human(started.elapsed())
            );
            outcome = Err((phase.name(), e));
            break;
        }
        if until == Some(phase.name()) {
            eprintln!(
                "==> stopped after {} as asked (--until)",
                phase.name().as_str()
            );
            break;
        }
    }
    let record = RunTiming {
        started_unix,
        outcome: match &outcome {
            Ok(()) => "ok".to_string(),
            Err((name, _)) => format!("failed in {}", name.as_str()),
        },
        total_seconds: started.elapsed().as_secs_f64(),
        phases: timings,
    };
    append_timings(cx, record);
    outcome.map_err(|(name, e)| Error::Phase {
        phase: name.as_str(),
        source: Box::new(e),
    })?;
    if until.is_none() {
        summary(cx, started.elapsed());
    }
    Ok(())
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
    let rows: Vec<[String; 5]> = cx
        .plan
        .nodes
        .iter()
        .map(|n| {
            let address = cx
                .inventory
                .node(&n.name)
                .map_or("-".to_string(), |i| i.address.to_string());
            let ready = cx
                .nodes
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
    let context = cx.plan.context_name();
    eprintln!("==> finished in {}", human(total));
    eprintln!("    kubeconfig: {}", cx.kubeconfig_path().display());
    if cx.merge_kubeconfig {
        eprintln!("    use it: kubectl --context {context} get nodes");
    } else {
        eprintln!(
            "    use it: kubectl --kubeconfig {} get nodes",
            cx.kubeconfig_path().display()
        );
    }
}
