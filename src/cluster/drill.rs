//! Failure drill: stop k0s on one node (or halt its VM), look at what still works, restore the
//! node, and give a verdict. Refuses a drill that would cost etcd its quorum unless forced.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::adapters::node;
use crate::adapters::ssh::{connect, KnownHosts};
use crate::cluster::checks::{self, Check};
use crate::cluster::probe::Probe;
use crate::cluster::report::{self, Limits};
use crate::inventory::Inventory;
use crate::plan::{Plan, Role};
use crate::util::exit::Category;

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("{node} is not a node of this cluster (nodes: {known})")]
    UnknownNode { node: String, known: String },
    #[error("stopping {node} leaves {left} of {total} controllers, and etcd needs {quorum}: the API would go down; add --force to do it anyway")]
    BreaksQuorum {
        node: String,
        left: usize,
        total: usize,
        quorum: usize,
    },
    #[error("{node}: {action} failed: {reason}")]
    Action {
        node: String,
        action: String,
        reason: String,
    },
    #[error("{node} did not come back within {}s after the drill ({reason}); check `k0s-vagrant status`", after.as_secs())]
    NotRestored {
        node: String,
        after: Duration,
        reason: String,
    },
    #[error("the cluster did not stay healthy while {node} was down: {failed}")]
    Degraded { node: String, failed: String },
}

/// How the node is taken down.
impl DrillError {
    pub fn category(&self) -> Category {
        match self {
            DrillError::UnknownNode { .. } | DrillError::BreaksQuorum { .. } => Category::BadInput,
            DrillError::Action { .. } => Category::Remote,
            DrillError::NotRestored { .. } | DrillError::Degraded { .. } => Category::Failed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `sudo k0s stop` / `sudo k0s start` over SSH.
    StopK0s,
    /// `vagrant halt NODE` / `vagrant up NODE`.
    HaltVm,
}

pub struct Drill<'a> {
    pub plan: &'a Plan,
    pub inventory: &'a Inventory,
    pub known_hosts: &'a KnownHosts,
    pub project_root: &'a Path,
    pub limits: Limits,
    /// How long to wait after stopping before looking.
    pub settle: Duration,
    /// How long the node may take to come back.
    pub restore_within: Duration,
    pub api: &'a (dyn Fn() -> Probe<String> + Sync),
}

/// The checks that say whether the cluster still serves: the API, etcd, and the nodes left.
const SERVING: &[&str] = &["api", "etcd-quorum"];

impl Drill<'_> {
    /// Refuses a drill that would take etcd below quorum, unless `force`.
    pub fn check_safe(&self, node: &str, force: bool) -> Result<(), DrillError> {
        let planned = self
            .plan
            .node(node)
            .ok_or_else(|| DrillError::UnknownNode {
                node: node.to_string(),
                known: self
                    .plan
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let total = self.plan.count(Role::Controller);
        let quorum = self.plan.quorum();
        if planned.role == Role::Controller && total - 1 < quorum && !force {
            return Err(DrillError::BreaksQuorum {
                node: node.to_string(),
                left: total - 1,
                total,
                quorum,
            });
        }
        Ok(())
    }

    fn remote(&self, node: &str, command: &str) -> Result<(), DrillError> {
        let fail = |reason: String| DrillError::Action {
            node: node.to_string(),
            action: command.to_string(),
            reason,
        };
        let n = self
            .inventory
            .node(node)
            .ok_or_else(|| fail("not in the inventory".into()))?;
        let session = connect(&n.name, &n.ssh, self.known_hosts, &self.limits.connect)
            .map_err(|e| fail(e.to_string()))?;
        session
            .run(&node::k0s(&n.k0s_binary, command), Duration::from_secs(120))
            .map_err(|e| fail(e.to_string()))?;
        Ok(())
    }

    fn vagrant(&self, node: &str, args: &[&str]) -> Result<(), DrillError> {
        let what = format!("vagrant {} {node}", args.join(" "));
        let out = Command::new("vagrant")
            .args(args)
            .arg(node)
            // The post-up hook would otherwise run a whole deploy inside the restore window.
            .env(crate::settings::K0S_VAGRANT_SKIP_DEPLOY.name, "1")
            .current_dir(self.project_root)
            .output()
            .map_err(|e| DrillError::Action {
                node: node.to_string(),
                action: what.clone(),
                reason: e.to_string(),
            })?;
        if !out.status.success() {
            let reason = crate::util::text::tail(&String::from_utf8_lossy(&out.stderr), 2);
            return Err(DrillError::Action {
                node: node.to_string(),
                action: what,
                reason,
            });
        }
        Ok(())
    }

    fn checks(&self) -> Vec<Check> {
        let report = report::collect(
            self.plan,
            self.inventory,
            self.known_hosts,
            &self.limits,
            self.api,
            // The drill knows which node it took down; Vagrant is not asked while it waits.
            &|_| std::collections::BTreeMap::new(),
        );
        checks::checks(self.plan, &report)
    }

    /// Stops, looks, restores; prints as it goes. Ok when the cluster kept serving and the node is back.
    /// Until every check passes again, or `restore_within` has passed.
    fn wait_restored(&self, node: &str) -> Result<(), DrillError> {
        let deadline = Instant::now() + self.restore_within;
        loop {
            let after = self.checks();
            let broken: Vec<&Check> = after.iter().filter(|c| !c.ok).collect();
            if broken.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let reason = broken
                    .iter()
                    .map(|c| format!("{}: {}", c.name, c.reason))
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(DrillError::NotRestored {
                    node: node.to_string(),
                    after: self.restore_within,
                    reason,
                });
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    pub fn run(&self, node: &str, method: Method) -> Result<(), DrillError> {
        let start = Instant::now();
        eprintln!(
            "==> drill: take {node} down ({})",
            match method {
                Method::StopK0s => "sudo k0s stop",
                Method::HaltVm => "vagrant halt",
            }
        );
        match method {
            Method::StopK0s => self.remote(node, "stop")?,
            Method::HaltVm => self.vagrant(node, &["halt"])?,
        }
        std::thread::sleep(self.settle);
        eprintln!("==> drill: what works while {node} is down");
        let during = self.checks();
        for c in &during {
            eprintln!("    {c}");
        }
        eprintln!("==> drill: restore {node}");
        match method {
            Method::StopK0s => self.remote(node, "start")?,
            Method::HaltVm => self.vagrant(node, &["up"])?,
        }
        self.wait_restored(node)?;
        let failed: Vec<&str> = during
            .iter()
            .filter(|c| SERVING.contains(&c.name) && !c.ok)
            .map(|c| c.name)
            .collect();
        if !failed.is_empty() {
            return Err(DrillError::Degraded {
                node: node.to_string(),
                failed: failed.join(", "),
            });
        }
        eprintln!(
            "==> drill: survived: the API and etcd kept serving while {node} was down; {node} is back ({:.1}s)",
            start.elapsed().as_secs_f64()
        );
        Ok(())
    }
}
