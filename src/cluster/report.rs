//! Status and health of the running cluster, from the inventory: what each node says over SSH (k0s
//! service, `k0s status -o json`), what control-plane-1 says about the Node objects and etcd, and
//! whether the API answers from the host. Every probe runs in parallel with its own timeout, so a
//! node that stops answering fails its checks in bounded time. Vagrant is asked only about the
//! nodes without SSH: a VM that is not running is told apart from a broken node.

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::adapters::node::{self, section, Section};
use crate::adapters::ssh::{connect, KnownHosts, Retry, SshError};
use crate::adapters::vagrant::MachineState;
use crate::cluster::nodes::{parse_nodes, NodeList};
use crate::cluster::probe::{self, section_ok, Kind, Probe, ProbeError};
use crate::inventory::{Inventory, InventoryNode};
use crate::plan::{Plan, Role};
use crate::util::parallel;

/// `k0s status -o json`, the fields we read (Go field names, as k0s prints them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K0sStatus {
    #[serde(rename = "Version", default)]
    pub version: String,
    #[serde(rename = "Role", default)]
    pub role: String,
    #[serde(rename = "Workloads", default)]
    pub workloads: bool,
}

/// `k0s etcd member-list`: `{"members": {"<name>": "<peer URL>"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdMembers {
    pub members: std::collections::BTreeMap<String, String>,
}

pub fn parse_k0s_status(json: &str) -> Probe<K0sStatus> {
    serde_json::from_str(json)
        .map_err(|e| ProbeError::new(Kind::Output, format!("not k0s status JSON ({e})")))
}

pub fn parse_etcd_members(json: &str) -> Probe<EtcdMembers> {
    serde_json::from_str(json)
        .map_err(|e| ProbeError::new(Kind::Output, format!("not etcd member-list JSON ({e})")))
}

/// What one node said; every probe is its value or why it failed.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub name: String,
    pub role: Role,
    pub address: String,
    pub planned_workloads: bool,
    #[serde(serialize_with = "probe::json")]
    pub ssh: Probe<()>,
    #[serde(serialize_with = "probe::json")]
    pub service: Probe<String>,
    #[serde(serialize_with = "probe::json")]
    pub k0s: Probe<K0sStatus>,
    #[serde(serialize_with = "probe::json")]
    pub ready: Probe<()>,
    pub taints: Vec<String>,
    pub takes_workloads: Option<bool>,
    /// Other nodes' addresses this node could not reach (port 22).
    #[serde(serialize_with = "probe::json")]
    pub unreachable: Probe<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cluster: String,
    pub nodes: Vec<NodeReport>,
    #[serde(serialize_with = "probe::json")]
    pub etcd: Probe<EtcdMembers>,
    #[serde(serialize_with = "probe::json")]
    pub api: Probe<String>,
    pub kubeconfig: Option<PathBuf>,
}

impl Report {
    /// When Vagrant says no VM of the cluster is running: what to say of the whole cluster.
    pub fn halted(&self) -> Option<&'static str> {
        let kinds = self
            .nodes
            .iter()
            .map(|n| n.ssh.as_ref().err().map(|e| e.kind))
            .collect::<Option<Vec<Kind>>>()?;
        let all = |f: fn(&Kind) -> bool| !kinds.is_empty() && kinds.iter().all(f);
        if all(|k| *k == Kind::Halted) {
            Some("the cluster is halted; vagrant up starts it")
        } else if all(|k| *k == Kind::Suspended) {
            Some("the cluster is suspended; vagrant up or vagrant resume brings it back")
        } else if all(|k| matches!(k, Kind::Halted | Kind::Suspended)) {
            Some("the cluster's VMs are halted or suspended; vagrant up brings them back")
        } else {
            None
        }
    }
}

/// How long each probe may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connect: Retry,
    pub command: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connect: Retry {
                deadline: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(3),
                first_backoff: Duration::from_millis(250),
                max_backoff: Duration::from_secs(1),
            },
            command: Duration::from_secs(10),
        }
    }
}

fn service_name(role: Role) -> &'static str {
    match role {
        Role::Controller => "k0scontroller",
        Role::Worker => "k0sworker",
    }
}

struct NodeProbe {
    session: Probe<()>,
    service: Probe<String>,
    k0s: Probe<K0sStatus>,
    unreachable: Probe<Vec<String>>,
    /// The first controller only: `kubectl get nodes -o json` and `etcd member-list`.
    cluster: Option<ClusterViews>,
}

type ClusterViews = (Probe<NodeList>, Probe<EtcdMembers>);

fn cluster_sections(k0s: &str) -> [String; 2] {
    [
        section(&node::kubectl(k0s, "get nodes -o json")),
        section(&node::k0s(k0s, "etcd member-list")),
    ]
}

fn cluster_views(parts: &[Section]) -> ClusterViews {
    (
        section_ok(parts.first()).and_then(|json| {
            parse_nodes(&json).map_err(|e| ProbeError::new(Kind::Output, e.to_string()))
        }),
        section_ok(parts.get(1)).and_then(|json| parse_etcd_members(&json)),
    )
}

/// The cluster views from one controller, on a connection of their own (the fallback when the
/// first controller could not give them).
fn ask_controller(node: &InventoryNode, kh: &KnownHosts, limits: &Limits) -> ClusterViews {
    let parts = connect(&node.name, &node.ssh, kh, &limits.connect)
        .and_then(|s| node::run_script(&s, &cluster_sections(&node.k0s_binary), limits.command));
    match parts {
        Ok(parts) => cluster_views(&parts),
        Err(e) => (Err(ProbeError::from(&e)), Err(ProbeError::from(&e))),
    }
}

/// One round trip per node: every probe in one script, each in its own [`section`]; the TCP
/// probes to the other nodes run side by side.
fn probe_sections(k0s: &str, role: Role, others: &[String], with_cluster: bool) -> Vec<String> {
    let mut parts = vec![
        section(&format!("systemctl is-active {}", service_name(role))),
        section(&node::k0s(k0s, "status -o json")),
        section(&node::reach(others)),
    ];
    if with_cluster {
        parts.extend(cluster_sections(k0s));
    }
    parts
}

fn probe_node(
    node: &InventoryNode,
    role: Role,
    others: &[String],
    with_cluster: bool,
    kh: &KnownHosts,
    limits: &Limits,
) -> NodeProbe {
    // What depends on the session fails with its kind, and says only "no SSH".
    let failed = |e: SshError| {
        let why = ProbeError::from(&e);
        let no_ssh = || ProbeError::new(why.kind, "no SSH");
        NodeProbe {
            service: Err(no_ssh()),
            k0s: Err(no_ssh()),
            unreachable: Err(no_ssh()),
            session: Err(why),
            cluster: None,
        }
    };
    let session = match connect(&node.name, &node.ssh, kh, &limits.connect) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let probe = probe_sections(&node.k0s_binary, role, others, with_cluster);
    let parts = match node::run_script(&session, &probe, limits.command) {
        Ok(parts) => parts,
        Err(e) => return failed(e),
    };
    NodeProbe::read(&parts, role, others, with_cluster)
}

impl NodeProbe {
    /// What the sections of [`probe_sections`] say.
    fn read(parts: &[Section], role: Role, others: &[String], with_cluster: bool) -> NodeProbe {
        let service = match parts.first() {
            Some(s) if s.code != 0 => Err(ProbeError::new(
                Kind::Exit(s.code),
                format!("{} is {}", service_name(role), s.stdout.trim()),
            )),
            first => section_ok(first).map(|s| s.trim().to_string()),
        };
        let unreachable = section_ok(parts.get(2)).map(|text| {
            node::reached(others, &text)
                .into_iter()
                .filter_map(|(target, ok)| (!ok).then_some(target))
                .collect()
        });
        NodeProbe {
            session: Ok(()),
            service,
            k0s: section_ok(parts.get(1)).and_then(|json| parse_k0s_status(&json)),
            unreachable,
            cluster: with_cluster.then(|| cluster_views(parts.get(3..).unwrap_or_default())),
        }
    }
}

/// The machine states Vagrant gives for some nodes (by name); those it cannot tell are left out.
pub type AskVagrant<'a> = &'a dyn Fn(&[&str]) -> BTreeMap<String, MachineState>;

/// Collects the report; nothing here fails as a whole, every failure is a reason in the report.
/// `vagrant` is asked once, for every node without SSH, if there is one.
pub fn collect(
    plan: &Plan,
    inventory: &Inventory,
    kh: &KnownHosts,
    limits: &Limits,
    api: impl Fn() -> Probe<String> + Sync,
    vagrant: AskVagrant,
) -> Report {
    let nodes = Planned::new(plan, inventory);
    let (mut probes, api) = probe_all(&nodes, kh, limits, api);
    vm_states(&nodes, &mut probes, vagrant);
    let (node_list, etcd) = views_with_fallback(&nodes, &probes, kh, limits);
    let reports = inventory
        .nodes
        .iter()
        .zip(probes)
        .zip(&nodes.roles)
        .map(|((node, probe), &role)| node_report(node, probe, role, &node_list))
        .collect();
    Report {
        cluster: plan.cluster.name.clone(),
        nodes: reports,
        etcd,
        api,
        kubeconfig: None,
    }
}

/// The inventory's nodes with what the plan says of each.
struct Planned<'a> {
    inventory: &'a Inventory,
    /// Per node: its role, and whether the plan lets it run workloads.
    roles: Vec<(Role, bool)>,
    /// One controller answers for the cluster; the others only if it cannot.
    first_controller: Option<usize>,
}

impl Planned<'_> {
    fn new<'a>(plan: &Plan, inventory: &'a Inventory) -> Planned<'a> {
        let roles: Vec<(Role, bool)> = inventory
            .nodes
            .iter()
            .map(|n| {
                plan.node(&n.name)
                    .map_or((Role::Worker, true), |p| (p.role, p.runs_workloads))
            })
            .collect();
        let first_controller = roles.iter().position(|(role, _)| *role == Role::Controller);
        Planned {
            inventory,
            roles,
            first_controller,
        }
    }
}

/// Every node's probe and the API check from this host, all at once.
fn probe_all(
    nodes: &Planned,
    kh: &KnownHosts,
    limits: &Limits,
    api: impl Fn() -> Probe<String> + Sync,
) -> (Vec<NodeProbe>, Probe<String>) {
    let all = &nodes.inventory.nodes;
    let indexed: Vec<usize> = (0..all.len()).collect();
    std::thread::scope(|scope| {
        let api = scope.spawn(&api);
        let probes = parallel(&indexed, |&i| {
            let with_cluster = Some(i) == nodes.first_controller;
            let others = node::reach_targets(all, i);
            probe_node(&all[i], nodes.roles[i].0, &others, with_cluster, kh, limits)
        });
        let api = api.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (probes, api)
    })
}

/// Nodes without SSH whose VM Vagrant says is not running fail with that instead: every probe that
/// needs SSH gets the kind `halted`, `suspended` or `not-created`. A running VM (or a state Vagrant
/// cannot tell) keeps the SSH failure: the node is broken, not stopped.
fn vm_states(nodes: &Planned, probes: &mut [NodeProbe], vagrant: AskVagrant) {
    let all = &nodes.inventory.nodes;
    let silent: Vec<&str> = all
        .iter()
        .zip(probes.iter())
        .filter(|(_, p)| p.session.is_err())
        .map(|(n, _)| n.name.as_str())
        .collect();
    if silent.is_empty() {
        return;
    }
    let states = vagrant(&silent);
    for (node, probe) in all.iter().zip(probes.iter_mut()) {
        let Some(state) = states.get(&node.name) else {
            continue;
        };
        let Some((why, short)) = vm_down(&node.name, state) else {
            continue;
        };
        if probe.session.is_err() {
            let dependent = ProbeError::new(why.kind, short);
            probe.session = Err(why);
            probe.service = Err(dependent.clone());
            probe.k0s = Err(dependent.clone());
            probe.unreachable = Err(dependent);
        }
    }
}

/// A VM that is not running: the SSH probe's error, and what the probes that need SSH say.
fn vm_down(node: &str, state: &MachineState) -> Option<(ProbeError, &'static str)> {
    let (kind, detail, short) = match state {
        MachineState::Halted(id) => (
            Kind::Halted,
            format!("{node} is halted ({id}); vagrant up starts it"),
            "halted",
        ),
        MachineState::Suspended(id) => (
            Kind::Suspended,
            format!("{node} is suspended ({id}); vagrant up or vagrant resume brings it back"),
            "suspended",
        ),
        MachineState::NotCreated => (
            Kind::NotCreated,
            format!("{node} has no VM (not_created); vagrant up creates it"),
            "not created",
        ),
        MachineState::Running | MachineState::Other(_) => return None,
    };
    Some((ProbeError::new(kind, detail), short))
}

/// The cluster views from the first controller; what it could not give, from the next controller
/// that answers.
fn views_with_fallback(
    nodes: &Planned,
    probes: &[NodeProbe],
    kh: &KnownHosts,
    limits: &Limits,
) -> ClusterViews {
    let mut views: ClusterViews = probes
        .iter()
        .find_map(|p| p.cluster.clone())
        .unwrap_or_else(|| {
            // No views: the first controller had no SSH (its kind says why), or there is no
            // controller.
            let kind = nodes.first_controller.map_or(Kind::Missing, |i| {
                probes[i]
                    .session
                    .as_ref()
                    .err()
                    .map_or(Kind::Ssh, |e| e.kind)
            });
            let none = || ProbeError::new(kind, "no controller");
            (Err(none()), Err(none()))
        });
    for (i, node) in nodes.inventory.nodes.iter().enumerate() {
        if views.0.is_ok() && views.1.is_ok() {
            break;
        }
        if nodes.roles[i].0 != Role::Controller
            || Some(i) == nodes.first_controller
            || probes[i].session.is_err()
        {
            continue;
        }
        let (n, e) = ask_controller(node, kh, limits);
        if views.0.is_err() && n.is_ok() {
            views.0 = n;
        }
        if views.1.is_err() && e.is_ok() {
            views.1 = e;
        }
    }
    views
}

/// One node's report: what it said itself, and what the Node list says of it.
fn node_report(
    node: &InventoryNode,
    probe: NodeProbe,
    (role, planned_workloads): (Role, bool),
    node_list: &Probe<NodeList>,
) -> NodeReport {
    let k8s = node_list.as_ref().map_err(Clone::clone).and_then(|list| {
        list.items
            .iter()
            .find(|n| n.metadata.name == node.name)
            .ok_or_else(|| ProbeError::new(Kind::Missing, "not registered"))
    });
    NodeReport {
        name: node.name.clone(),
        role,
        address: node.address.to_string(),
        planned_workloads,
        ssh: probe.session,
        service: probe.service,
        k0s: probe.k0s,
        ready: k8s.clone().and_then(|n| {
            n.readiness()
                .map_err(|why| ProbeError::new(Kind::NotReady, why))
        }),
        taints: k8s
            .as_ref()
            .map(|n| {
                n.spec
                    .taints
                    .iter()
                    .map(|t| format!("{}:{}", t.key, t.effect))
                    .collect()
            })
            .unwrap_or_default(),
        takes_workloads: k8s.as_ref().ok().map(|n| n.takes_workloads()),
        unreachable: probe.unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_vm_that_is_not_running_says_what_starts_it() {
        let said = |state: MachineState| {
            vm_down("worker-1", &state).map(|(e, short)| (e.kind, e.detail, short))
        };
        assert_eq!(
            said(MachineState::Halted("stopped".into())),
            Some((
                Kind::Halted,
                "worker-1 is halted (stopped); vagrant up starts it".into(),
                "halted"
            ))
        );
        assert_eq!(
            said(MachineState::Suspended("pmsuspended".into())),
            Some((
                Kind::Suspended,
                "worker-1 is suspended (pmsuspended); vagrant up or vagrant resume brings it back"
                    .into(),
                "suspended"
            ))
        );
        assert_eq!(
            said(MachineState::NotCreated),
            Some((
                Kind::NotCreated,
                "worker-1 has no VM (not_created); vagrant up creates it".into(),
                "not created"
            ))
        );
        // Running, or a state we do not know: the SSH failure stands.
        assert_eq!(said(MachineState::Running), None);
        assert_eq!(said(MachineState::Other("crashed".into())), None);
    }

    /// The whole probe script is POSIX sh: dash parses it (`-n`: without running it).
    #[test]
    fn probe_script_parses_under_dash() {
        let probe = node::script(&probe_sections(
            "/usr/local/bin/k0s",
            Role::Controller,
            &["10.0.0.11".into(), "10.0.0.20".into()],
            true,
        ));
        let out = Command::new("dash")
            .args(["-n", "-c", &probe])
            .output()
            .expect("dash runs");
        assert!(
            out.status.success(),
            "{}\n{probe}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
