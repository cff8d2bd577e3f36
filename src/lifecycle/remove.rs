//! Taking nodes out of a running cluster before their machines are destroyed, one at a time,
//! highest-numbered first: drain, leave etcd (controllers), stop and reset k0s on the node, delete
//! the Node object; then (once its machine goes) the plan lock, the inventory, the pinned host key
//! and k0sctl.yaml forget it. Every step looks first, so a removal run again after a failure
//! skips what is done: no Node object, nothing to drain or delete; no etcd member, no leave. The
//! order and the drain flags follow k0s `docs/remove_controller.md` and k0sctl's reset phases
//! (k0sproject/k0sctl `phase/reset_workers.go`, `phase/reset_controllers.go`). k0sctl's own
//! `reset: true` is not used: for a controller it stops k0s before `k0s etcd leave` on the same
//! host, whose etcd is then gone (k0sctl issue 603), and it only warns when a step fails.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::adapters::node;
use crate::adapters::ssh::{connect, KnownHosts, Retry, Session};
use crate::cluster::nodes::parse_nodes;
use crate::cluster::report::{parse_etcd_members, EtcdMembers, Report};
use crate::inventory::{Inventory, InventoryNode};
use crate::plan::{etcd_quorum, Plan, Role};
use crate::util::exit::Category;
use crate::util::text::{human, tail};

#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("{node} is not a node of this cluster (its nodes: {known})")]
    UnknownNode { node: String, known: String },
    #[error("{node} is the cluster's first controller and cannot leave while other nodes stay; to remove the whole cluster: vagrant destroy -f")]
    FirstController { node: String },
    #[error("removing {nodes} leaves no worker (WORKER_COUNT is at least 1); keep worker-1")]
    LastWorker { nodes: String },
    #[error("removing {node} leaves {up} of {members} etcd members running, below the quorum of {quorum}; bring the other controllers back first (k0s-vagrant status), or force it: k0s-vagrant remove --force {node}")]
    BreaksQuorum {
        node: String,
        up: usize,
        members: usize,
        quorum: usize,
    },
    #[error("destroying part of the cluster takes {nodes} out of it first, which `vagrant destroy` would ask about only afterwards; run `vagrant destroy -f {nodes}`")]
    NeedsForce { nodes: String },
    #[error("{leader} does not answer over SSH ({reason}); nodes leave a running cluster: run `vagrant up` first, or remove the whole cluster with `vagrant destroy -f`")]
    LeaderDown { leader: String, reason: String },
    #[error("{node}: {step} failed ({reason}); it is still part of the cluster: fix the cause and run the removal again")]
    Step {
        node: String,
        step: &'static str,
        reason: String,
    },
}

impl RemoveError {
    pub fn category(&self) -> Category {
        match self {
            RemoveError::UnknownNode { .. }
            | RemoveError::FirstController { .. }
            | RemoveError::LastWorker { .. }
            | RemoveError::BreaksQuorum { .. }
            | RemoveError::NeedsForce { .. } => Category::BadInput,
            RemoveError::LeaderDown { .. } | RemoveError::Step { .. } => Category::Remote,
        }
    }
}

/// The nodes to remove in the order they go: plan order reversed, so workers before controllers
/// and the highest number first. Refuses, before anything changes, a name the plan lacks,
/// control-plane-1, the last worker, and (unless `force`) a controller whose leave would take etcd
/// below its quorum, judged from `up`: the controllers whose k0s runs and that are etcd members.
/// A controller that etcd no longer lists (`members`, when known) has nothing to leave: its
/// removal is never refused for quorum, so a forced removal can be finished by `vagrant destroy`.
pub fn order<'a>(
    plan: &'a Plan,
    names: &[String],
    up: &BTreeSet<String>,
    members_now: Option<&BTreeSet<String>>,
    force: bool,
) -> Result<Vec<&'a str>, RemoveError> {
    for name in names {
        if plan.node(name).is_none() {
            return Err(RemoveError::UnknownNode {
                node: name.clone(),
                known: plan
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let first = plan.names(Role::Controller).first().map(|n| n.to_string());
    if let Some(first) = first.filter(|f| names.contains(f)) {
        return Err(RemoveError::FirstController { node: first });
    }
    let going: Vec<&str> = plan
        .nodes
        .iter()
        .rev()
        .map(|n| n.name.as_str())
        .filter(|n| names.iter().any(|g| g == n))
        .collect();
    if plan.names(Role::Worker).iter().all(|w| going.contains(w)) {
        return Err(RemoveError::LastWorker {
            nodes: going.join(", "),
        });
    }
    let mut members: Vec<&str> = plan.names(Role::Controller);
    let controllers: Vec<&str> = going
        .iter()
        .copied()
        .filter(|n| members.contains(n))
        .collect();
    for node in controllers {
        members.retain(|m| *m != node);
        if members_now.is_some_and(|m| !m.contains(node)) {
            continue;
        }
        let running = members.iter().filter(|m| up.contains(**m)).count();
        let quorum = etcd_quorum(members.len());
        if running < quorum && !force {
            return Err(RemoveError::BreaksQuorum {
                node: node.to_string(),
                up: running,
                members: members.len(),
                quorum,
            });
        }
    }
    Ok(going)
}

/// The etcd members by name, from a status report; `None` when no controller could say.
pub fn etcd_members(report: &Report) -> Option<BTreeSet<String>> {
    report
        .etcd
        .as_ref()
        .ok()
        .map(|e| e.members.keys().cloned().collect())
}

/// The controllers whose k0s service runs and that etcd lists as members, from a status report.
pub fn controllers_up(plan: &Plan, report: &Report) -> BTreeSet<String> {
    let members = report.etcd.as_ref().map(|e| &e.members);
    plan.names(Role::Controller)
        .into_iter()
        .filter(|c| members.is_ok_and(|m| m.contains_key(*c)))
        .filter(|c| {
            report
                .nodes
                .iter()
                .any(|n| n.name == *c && n.service.is_ok())
        })
        .map(String::from)
        .collect()
}

/// How long each step may take. The drain's own limit is k0sctl's default (`--timeout=5m`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connect: Retry,
    pub command: Duration,
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connect: Retry {
                deadline: Duration::from_secs(30),
                ..Retry::default()
            },
            command: Duration::from_secs(120),
            drain: Duration::from_secs(330),
        }
    }
}

/// The drain k0sctl runs before it resets a node (k0sproject/k0sctl `phase/reset_workers.go`,
/// its default drain options).
const DRAIN: &str =
    "--ignore-daemonsets --delete-emptydir-data --force --grace-period=120 --timeout=5m";

/// Takes `node` out of the cluster through `leader` (control-plane-1). Prints each step.
pub fn take_out(
    plan: &Plan,
    inventory: &Inventory,
    known_hosts: &KnownHosts,
    leader: &Session,
    node: &str,
    limits: &Limits,
) -> Result<(), RemoveError> {
    let start = Instant::now();
    eprintln!("==> remove {node} from the cluster");
    let k0s = &inventory.nodes[0].k0s_binary;
    let step = |step: &'static str, command: String, timeout: Duration| {
        eprintln!("    {step}");
        leader
            .run(&command, timeout)
            .map_err(|e| RemoveError::Step {
                node: node.to_string(),
                step,
                reason: e.to_string(),
            })
    };
    // A node that never registered (its machine failed before k0s joined) has nothing to drain or
    // delete; one that is not Ready (its machine is halted) cannot evict its pods: drain would only
    // wait for its timeout, and deleting the Node object lets them be scheduled elsewhere.
    let listed = leader
        .run(&node::kubectl(k0s, "get nodes -o json"), limits.command)
        .map_err(|e| e.to_string())
        .and_then(|json| parse_nodes(&json).map_err(|e| e.to_string()))
        .map_err(|reason| RemoveError::Step {
            node: node.to_string(),
            step: "read the Node objects",
            reason,
        })?;
    let object = listed.items.iter().find(|n| n.metadata.name == node);
    let registered = object.is_some();
    match object.map(|n| n.readiness()) {
        Some(Ok(())) => {
            step(
                "drain (cordon, evict its pods)",
                node::kubectl(k0s, &format!("drain {node} {DRAIN}")),
                limits.drain,
            )?;
        }
        Some(Err(why)) => eprintln!("    not Ready ({why}): nothing to drain"),
        None => {
            eprintln!("    no Node object (never registered, or deleted already): nothing to drain")
        }
    }
    let this = inventory.node(node);
    if plan.node(node).is_some_and(|n| n.role == Role::Controller) {
        if let Some(this) = this {
            leave_etcd(leader, k0s, node, &this.address.to_string(), limits)?;
        }
    }
    if let Some(this) = this {
        reset(this, known_hosts, limits);
    }
    if registered {
        step(
            "delete its Node object",
            node::kubectl(k0s, &format!("delete node {node}")),
            limits.command,
        )?;
    }
    eprintln!("    {node} left the cluster in {}", human(start.elapsed()));
    Ok(())
}

/// `k0s etcd leave --peer-address ADDRESS` from control-plane-1 when etcd lists the node, then a
/// second look that it is gone: the leave answers for the member it removed, and a removal run
/// again after a failure finds the node no member any more. etcd names a k0s member after its node
/// and gives its peer URL `https://<address>:2380` (k0sproject/k0s `cmd/etcd/leave.go`,
/// `cmd/etcd/list.go`).
fn leave_etcd(
    leader: &Session,
    k0s: &str,
    node: &str,
    address: &str,
    limits: &Limits,
) -> Result<(), RemoveError> {
    let failed = |step: &'static str| {
        move |reason: String| RemoveError::Step {
            node: node.to_string(),
            step,
            reason,
        }
    };
    let members = || {
        leader
            .run(&node::k0s(k0s, "etcd member-list"), limits.command)
            .map_err(|e| e.to_string())
            .and_then(|json| parse_etcd_members(&json).map_err(|e| e.to_string()))
            .map(|m| is_member(&m, node, address))
            .map_err(failed("list the etcd members"))
    };
    if !members()? {
        eprintln!("    not an etcd member (left already): nothing to leave");
        return Ok(());
    }
    eprintln!("    leave etcd");
    leader
        .run(
            &node::k0s(k0s, &format!("etcd leave --peer-address {address}")),
            limits.command,
        )
        .map_err(|e| failed("leave etcd")(e.to_string()))?;
    if members()? {
        return Err(failed("leave etcd")(format!(
            "`k0s etcd member-list` still lists it with peer address {address}"
        )));
    }
    Ok(())
}

/// Whether etcd lists `node`, by its member name or its peer URL.
fn is_member(members: &EtcdMembers, node: &str, address: &str) -> bool {
    let peer = format!("https://{address}:2380");
    members
        .members
        .iter()
        .any(|(name, url)| name == node || url.trim_end_matches('/') == peer)
}

/// Stops and resets k0s on the node itself, so nothing of it rejoins if the machine stays. Best
/// effort: the machine is about to go, and may be down already.
fn reset(node: &InventoryNode, known_hosts: &KnownHosts, limits: &Limits) {
    eprintln!("    stop and reset k0s on {}", node.name);
    let done = connect(&node.name, &node.ssh, known_hosts, &limits.connect)
        .map_err(|e| e.to_string())
        .and_then(|s| {
            let k0s = &node.k0s_binary;
            let command = format!("{} && {}", node::k0s(k0s, "stop"), node::k0s(k0s, "reset"));
            s.run(&command, limits.command).map_err(|e| e.to_string())
        });
    if let Err(reason) = done {
        eprintln!(
            "    warning: {}: k0s not reset ({}); the machine is destroyed anyway",
            node.name,
            tail(&reason, 1)
        );
    }
}

/// control-plane-1's session, which every cluster step goes through.
pub fn leader(
    inventory: &Inventory,
    known_hosts: &KnownHosts,
    limits: &Limits,
) -> Result<Session, RemoveError> {
    let first = &inventory.nodes[0];
    connect(&first.name, &first.ssh, known_hosts, &limits.connect).map_err(|e| {
        RemoveError::LeaderDown {
            leader: first.name.clone(),
            reason: e.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_etcd_member_is_found_by_name_or_peer_address() {
        let members = EtcdMembers {
            members: [
                (
                    "control-plane-1".to_string(),
                    "https://192.168.56.10:2380".to_string(),
                ),
                (
                    "cp2.local".to_string(),
                    "https://192.168.56.11:2380/".to_string(),
                ),
            ]
            .into(),
        };
        assert!(is_member(&members, "control-plane-1", "192.168.56.10"));
        assert!(is_member(&members, "control-plane-2", "192.168.56.11"));
        assert!(!is_member(&members, "control-plane-3", "192.168.56.12"));
        // Not a prefix match: .1 is not .10.
        assert!(!is_member(&members, "control-plane-9", "192.168.56.1"));
    }

    use super::*;
    use crate::host::HostFacts;
    use crate::plan::Provider;
    use crate::settings::{RawSettings, Settings};

    fn plan(controllers: u32, workers: u32) -> Plan {
        let (c, w) = (controllers.to_string(), workers.to_string());
        let raw = RawSettings::from_lookup(|name| match name {
            "CONTROL_PLANE_COUNT" => Some(c.clone()),
            "WORKER_COUNT" => Some(w.clone()),
            _ => None,
        });
        Plan::from_settings(
            &Settings::from_raw(&raw).unwrap(),
            Provider::Libvirt,
            &HostFacts::x86_64(true),
        )
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn up(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nodes_go_workers_first_highest_number_first() {
        let p = plan(3, 3);
        let all = up(&["control-plane-1", "control-plane-2", "control-plane-3"]);
        assert_eq!(
            order(
                &p,
                &names(&["control-plane-3", "worker-2", "worker-3"]),
                &all,
                None,
                false
            )
            .unwrap(),
            ["worker-3", "worker-2", "control-plane-3"]
        );
    }

    #[test]
    fn refusals_come_before_anything_changes() {
        let p = plan(3, 2);
        let all = up(&["control-plane-1", "control-plane-2", "control-plane-3"]);
        let err = |n: &[&str], up: &BTreeSet<String>, force| {
            order(&p, &names(n), up, None, force)
                .unwrap_err()
                .to_string()
        };
        assert!(
            err(&["worker-9"], &all, false).starts_with("worker-9 is not a node of this cluster")
        );
        assert!(err(&["control-plane-1"], &all, true)
            .starts_with("control-plane-1 is the cluster's first controller"));
        assert!(err(&["worker-1", "worker-2"], &all, false)
            .starts_with("removing worker-2, worker-1 leaves no worker"));
        // control-plane-2 is down: removing control-plane-3 leaves 1 of 2 members running.
        let degraded = up(&["control-plane-1", "control-plane-3"]);
        assert_eq!(
            err(&["control-plane-3"], &degraded, false),
            "removing control-plane-3 leaves 1 of 2 etcd members running, below the quorum of 2; bring the other controllers back first (k0s-vagrant status), or force it: k0s-vagrant remove --force control-plane-3"
        );
        assert!(order(&p, &names(&["control-plane-3"]), &degraded, None, true).is_ok());
        // Once control-plane-3 has left etcd (a forced removal), destroying it is not refused.
        let members = up(&["control-plane-1", "control-plane-2"]);
        assert!(order(
            &p,
            &names(&["control-plane-3"]),
            &degraded,
            Some(&members),
            false
        )
        .is_ok());
        // 3 -> 1 with all up: 2 of 2, then 1 of 1.
        assert!(order(
            &p,
            &names(&["control-plane-2", "control-plane-3"]),
            &all,
            None,
            false
        )
        .is_ok());
    }
}
