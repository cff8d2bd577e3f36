//! `health --workloads`: a DaemonSet without tolerations lands on exactly the nodes that take
//! ordinary pods. Its pods must be on every node the plan lets run workloads and on no other;
//! then it is removed again.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::adapters::node;
use crate::adapters::ssh::{connect, KnownHosts, Session};
use crate::cluster::checks::{verdict, Check, Verdict};
use crate::cluster::report::Limits;
use crate::inventory::Inventory;
use crate::plan::{Plan, Role};

const NAME: &str = "k0s-vagrant-probe";
const MANIFEST: &str = "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: k0s-vagrant-probe
  namespace: default
  labels:
    app.kubernetes.io/managed-by: k0s-vagrant
spec:
  selector:
    matchLabels:
      app: k0s-vagrant-probe
  template:
    metadata:
      labels:
        app: k0s-vagrant-probe
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: pause
        image: registry.k8s.io/pause:3.10
";

#[derive(Deserialize)]
struct DaemonSet {
    #[serde(default)]
    status: DaemonSetStatus,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DaemonSetStatus {
    #[serde(default)]
    desired_number_scheduled: u32,
    #[serde(default)]
    number_ready: u32,
}

#[derive(Deserialize)]
struct PodList {
    items: Vec<Pod>,
}

#[derive(Deserialize)]
struct Pod {
    spec: PodSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    #[serde(default)]
    node_name: Option<String>,
}

pub(crate) fn kubectl(
    session: &Session,
    k0s: &str,
    args: &str,
    limits: &Limits,
) -> Result<String, String> {
    session
        .run(&node::kubectl(k0s, args), limits.command)
        .map_err(|e| e.to_string())
}

/// Where the probe's pods ran, once all of them are ready (or `wait` passed).
fn placed(
    session: &Session,
    k0s: &str,
    limits: &Limits,
    wait: Duration,
) -> Result<BTreeSet<String>, String> {
    session
        .run(
            &node::kubectl_with_input(k0s, "apply -f -", MANIFEST),
            limits.command,
        )
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + wait;
    loop {
        let json = kubectl(
            session,
            k0s,
            &format!("get daemonset {NAME} -o json"),
            limits,
        )?;
        let ds: DaemonSet =
            serde_json::from_str(&json).map_err(|e| format!("not DaemonSet JSON ({e})"))?;
        let s = ds.status;
        if s.desired_number_scheduled > 0 && s.number_ready == s.desired_number_scheduled {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} of {} probe pods ready after {}s",
                s.number_ready,
                s.desired_number_scheduled,
                wait.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    let json = kubectl(
        session,
        k0s,
        &format!("get pods -l app={NAME} -o json"),
        limits,
    )?;
    let pods: PodList =
        serde_json::from_str(&json).map_err(|e| format!("not pod list JSON ({e})"))?;
    Ok(pods
        .items
        .into_iter()
        .filter_map(|p| p.spec.node_name)
        .collect())
}

/// Runs the probe on the first controller that answers and removes it again, whatever happened.
pub fn check(
    plan: &Plan,
    inventory: &Inventory,
    kh: &KnownHosts,
    limits: &Limits,
    wait: Duration,
) -> Check {
    Check::new("workloads", probe(plan, inventory, kh, limits, wait))
}

fn probe(
    plan: &Plan,
    inventory: &Inventory,
    kh: &KnownHosts,
    limits: &Limits,
    wait: Duration,
) -> Verdict {
    let (session, k0s) = controller_session(plan, inventory, kh, limits)
        .ok_or_else(|| vec!["no controller answers over SSH".to_string()])?;
    let result = placed(&session, &k0s, limits, wait);
    let removed = kubectl(
        &session,
        &k0s,
        &format!("delete daemonset {NAME} --wait=false"),
        limits,
    );
    let on = result.map_err(|e| vec![e])?;
    let mut problems = misplaced(plan, &on);
    if let Err(e) = removed {
        problems.push(format!(
            "removing the probe failed ({e}); remove it: kubectl delete daemonset {NAME}"
        ));
    }
    verdict(problems, || {
        format!(
            "probe pods ran on exactly {}",
            join(&on.iter().collect::<Vec<_>>())
        )
    })
}

/// A session to the first controller that answers, and its k0s.
pub(crate) fn controller_session(
    plan: &Plan,
    inventory: &Inventory,
    kh: &KnownHosts,
    limits: &Limits,
) -> Option<(Session, String)> {
    inventory
        .nodes
        .iter()
        .filter(|n| {
            plan.node(&n.name)
                .is_some_and(|p| p.role == Role::Controller)
        })
        .find_map(|n| {
            connect(&n.name, &n.ssh, kh, &limits.connect)
                .ok()
                .map(|s| (s, n.k0s_binary.clone()))
        })
}

/// What is wrong with where the probe's pods ran: on a node the plan keeps free of workloads, or
/// not on one it lets run them.
fn misplaced(plan: &Plan, on: &BTreeSet<String>) -> Vec<String> {
    let allowed: BTreeSet<String> = plan
        .nodes
        .iter()
        .filter(|n| n.runs_workloads)
        .map(|n| n.name.clone())
        .collect();
    let forbidden: Vec<&String> = on.difference(&allowed).collect();
    let missing: Vec<&String> = allowed.difference(on).collect();
    let mut problems = Vec::new();
    if !forbidden.is_empty() {
        problems.push(format!(
            "probe pods ran on {}, which the plan keeps free of workloads",
            join(&forbidden)
        ));
    }
    if !missing.is_empty() {
        problems.push(format!(
            "no probe pod on {}, which the plan lets run workloads",
            join(&missing)
        ));
    }
    problems
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
