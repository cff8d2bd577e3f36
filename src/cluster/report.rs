//! Status and health of the running cluster, from the inventory (no Vagrant needed): what each node
//! says over SSH (k0s service, `k0s status -o json`), what control-plane-1 says about the Node
//! objects and etcd, and whether the API answers from the host. Every probe runs in parallel with
//! its own timeout, so a node that stops answering fails its checks in bounded time.

use std::path::PathBuf;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::adapters::ssh::{connect, KnownHosts, Retry};
use crate::cluster::nodes::{parse_nodes, NodeList};
use crate::inventory::Inventory;
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

pub fn parse_k0s_status(json: &str) -> Result<K0sStatus, String> {
    serde_json::from_str(json).map_err(|e| format!("not k0s status JSON ({e})"))
}

pub fn parse_etcd_members(json: &str) -> Result<EtcdMembers, String> {
    serde_json::from_str(json).map_err(|e| format!("not etcd member-list JSON ({e})"))
}

/// What one node said. `Err` holds the reason a probe failed.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub name: String,
    pub role: Role,
    pub address: String,
    pub planned_workloads: bool,
    pub ssh: Result<(), String>,
    pub service: Result<String, String>,
    pub k0s: Result<K0sStatus, String>,
    pub ready: Result<(), String>,
    pub taints: Vec<String>,
    pub takes_workloads: Option<bool>,
    /// Other nodes' addresses this node could not reach (port 22).
    pub unreachable: Result<Vec<String>, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cluster: String,
    pub nodes: Vec<NodeReport>,
    pub etcd: Result<EtcdMembers, String>,
    pub api: Result<String, String>,
    pub kubeconfig: Option<PathBuf>,
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

struct Probe {
    session: Result<(), String>,
    service: Result<String, String>,
    k0s: Result<K0sStatus, String>,
    unreachable: Result<Vec<String>, String>,
    /// The first controller only: `kubectl get nodes -o json` and `etcd member-list`.
    cluster: Option<ClusterViews>,
}

type ClusterViews = (Result<NodeList, String>, Result<EtcdMembers, String>);

/// One command of a probe script, its stderr kept apart from its stdout: stdout, then
/// `--- <exit code>`, then its stderr with every line prefixed `! ` (so it can never pass for a
/// marker), then `---`. The JSON of `k0s etcd member-list` must not meet stderr: k0s builds its
/// etcd client without a logger (k0sproject/k0s `pkg/etcd/client.go`), so clientv3 may log JSON
/// warnings there. POSIX sh only: the node's login shell may be dash. `$e` is set by [`script`].
fn section(command: &str) -> String {
    format!("{command} 2>\"$e\"; r=$?; printf '\\n--- %s\\n' \"$r\"; awk '{{print \"! \" $0}}' \"$e\"; echo ---")
}

/// A probe script: one temporary file takes each command's stderr in turn.
fn script(sections: &[String]) -> String {
    format!(
        "e=$(mktemp 2>/dev/null) || e=/tmp/k0s-vagrant-probe.$$; {}; rm -f \"$e\"",
        sections.join("; ")
    )
}

fn cluster_sections(k0s: &str) -> [String; 2] {
    [
        section(&format!("sudo {k0s} kubectl get nodes -o json")),
        section(&format!("sudo {k0s} etcd member-list")),
    ]
}

fn cluster_views(parts: &[Section]) -> ClusterViews {
    (
        section_ok(parts.first()).and_then(|json| parse_nodes(&json).map_err(|e| e.to_string())),
        section_ok(parts.get(1)).and_then(|json| parse_etcd_members(&json)),
    )
}

/// The cluster views from one controller, on a connection of their own (the fallback when the
/// first controller could not give them).
fn ask_controller(
    node: &crate::inventory::InventoryNode,
    kh: &KnownHosts,
    limits: &Limits,
) -> ClusterViews {
    let out = connect(&node.name, &node.ssh, kh, &limits.connect)
        .map_err(|e| e.to_string())
        .and_then(|s| {
            s.exec(&script(&cluster_sections(&node.k0s_binary)), limits.command)
                .map_err(|e| e.to_string())
        });
    match out {
        Ok(out) => cluster_views(&sections(&out.stdout)),
        Err(e) => (Err(e.clone()), Err(e)),
    }
}

/// One round trip per node: every probe in one script, each in its own [`section`]; the TCP
/// probes to the other nodes run side by side.
fn probe_script(k0s: &str, role: Role, others: &[String], with_cluster: bool) -> String {
    let targets = others.join(" ");
    let mut parts = vec![
        section(&format!("systemctl is-active {}", service_name(role))),
        section(&format!("sudo {k0s} status -o json")),
        section(&format!(
            "{{ for a in {targets}; do (timeout 3 bash -c \"exec 3<>/dev/tcp/$a/22\" 2>/dev/null && echo \"$a ok\" || echo \"$a fail\") & done; wait; }}"
        )),
    ];
    if with_cluster {
        parts.extend(cluster_sections(k0s));
    }
    script(&parts)
}

/// What one command of a probe script printed, and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Section {
    stdout: String,
    code: i32,
    stderr: String,
}

/// The sections of a probe script's output (see [`section`]).
fn sections(out: &str) -> Vec<Section> {
    let mut result: Vec<Section> = Vec::new();
    let mut text = String::new();
    // After `--- <code>`, until `---`: the stderr of the section just closed.
    let mut in_stderr = false;
    for line in out.lines() {
        if in_stderr {
            if let Some(err) = line.strip_prefix("! ").or((line == "!").then_some("")) {
                if let Some(last) = result.last_mut() {
                    last.stderr.push_str(err);
                    last.stderr.push('\n');
                }
                continue;
            }
            in_stderr = false;
            if line == "---" {
                continue;
            }
        }
        match line
            .strip_prefix("--- ")
            .and_then(|rc| rc.trim().parse::<i32>().ok())
        {
            Some(code) => {
                result.push(Section {
                    stdout: std::mem::take(&mut text),
                    code,
                    stderr: String::new(),
                });
                in_stderr = true;
            }
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    result
}

/// A section's stdout on success (its stderr is ignored then: warnings only). On failure the
/// reason is the tail of its stderr, else of its stdout; etcd client log lines (JSON with a
/// `level`) are left out of it when the command said anything else.
fn section_ok(section: Option<&Section>) -> Result<String, String> {
    match section {
        Some(s) if s.code == 0 => Ok(s.stdout.clone()),
        Some(s) => {
            let plain: String = s
                .stderr
                .lines()
                .filter(|l| !l.trim_start().starts_with("{\"level\":"))
                .map(|l| format!("{l}\n"))
                .collect();
            let said = if !plain.trim().is_empty() {
                &plain
            } else if !s.stderr.trim().is_empty() {
                &s.stderr
            } else {
                &s.stdout
            };
            Err(format!(
                "exit code {}: {}",
                s.code,
                crate::util::text::tail(said, 2)
            ))
        }
        None => Err("no answer".to_string()),
    }
}

fn probe_node(
    node: &crate::inventory::InventoryNode,
    role: Role,
    others: &[String],
    with_cluster: bool,
    kh: &KnownHosts,
    limits: &Limits,
) -> Probe {
    let failed = |why: String| Probe {
        session: Err(why),
        service: Err("no SSH".into()),
        k0s: Err("no SSH".into()),
        unreachable: Err("no SSH".into()),
        cluster: None,
    };
    let session = match connect(&node.name, &node.ssh, kh, &limits.connect) {
        Ok(s) => s,
        Err(e) => return failed(e.to_string()),
    };
    let out = match session.exec(
        &probe_script(&node.k0s_binary, role, others, with_cluster),
        limits.command,
    ) {
        Ok(out) => out.stdout,
        Err(e) => return failed(e.to_string()),
    };
    let parts = sections(&out);
    let service = match parts.first() {
        Some(s) if s.code == 0 => Ok(s.stdout.trim().to_string()),
        Some(s) => Err(format!("{} is {}", service_name(role), s.stdout.trim())),
        None => Err("no answer".to_string()),
    };
    let k0s = section_ok(parts.get(1)).and_then(|json| parse_k0s_status(&json));
    let unreachable = section_ok(parts.get(2)).map(|text| {
        text.lines()
            .filter_map(|l| l.strip_suffix(" fail"))
            .map(String::from)
            .collect()
    });
    let cluster = with_cluster.then(|| cluster_views(parts.get(3..).unwrap_or_default()));
    Probe {
        session: Ok(()),
        service,
        k0s,
        unreachable,
        cluster,
    }
}

/// Collects the report; nothing here fails as a whole, every failure is a reason in the report.
pub fn collect(
    plan: &Plan,
    inventory: &Inventory,
    kh: &KnownHosts,
    limits: &Limits,
    api: impl Fn() -> Result<String, String> + Sync,
) -> Report {
    let roles: Vec<(Role, bool)> = inventory
        .nodes
        .iter()
        .map(|n| {
            plan.node(&n.name)
                .map_or((Role::Worker, true), |p| (p.role, p.runs_workloads))
        })
        .collect();
    let indexed: Vec<usize> = (0..inventory.nodes.len()).collect();
    // One controller answers for the cluster; the others only if it cannot (below).
    let first_controller = roles.iter().position(|(role, _)| *role == Role::Controller);
    let (probes, api) = std::thread::scope(|scope| {
        let api = scope.spawn(&api);
        let probes = parallel(&indexed, |&i| {
            let others: Vec<String> = inventory
                .nodes
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, n)| n.address.to_string())
                .collect();
            probe_node(
                &inventory.nodes[i],
                roles[i].0,
                &others,
                Some(i) == first_controller,
                kh,
                limits,
            )
        });
        (
            probes,
            api.join()
                .unwrap_or_else(|_| Err("API check panicked".into())),
        )
    });
    // Cluster views: from the first controller, else from the next one that answers.
    let mut views: ClusterViews = probes
        .iter()
        .find_map(|p| p.cluster.clone())
        .unwrap_or_else(|| (Err("no controller".into()), Err("no controller".into())));
    for (i, node) in inventory.nodes.iter().enumerate() {
        if views.0.is_ok() && views.1.is_ok() {
            break;
        }
        if roles[i].0 != Role::Controller
            || Some(i) == first_controller
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
    let (nodes, etcd) = views;
    let reports = inventory
        .nodes
        .iter()
        .zip(probes)
        .zip(&roles)
        .map(|((node, probe), (role, planned_workloads))| {
            let k8s = nodes.as_ref().map_err(Clone::clone).and_then(|list| {
                list.items
                    .iter()
                    .find(|n| n.metadata.name == node.name)
                    .cloned()
                    .ok_or_else(|| "not registered".to_string())
            });
            NodeReport {
                name: node.name.clone(),
                role: *role,
                address: node.address.to_string(),
                planned_workloads: *planned_workloads,
                ssh: probe.session,
                service: probe.service,
                k0s: probe.k0s,
                ready: k8s
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|n| n.readiness()),
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
        })
        .collect();
    Report {
        cluster: plan.cluster.name.clone(),
        nodes: reports,
        etcd,
        api,
        kubeconfig: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The section protocol run by a real POSIX shell (dash, the login shell of the nodes).
    #[test]
    fn sections_keep_stderr_apart_from_json_under_dash() {
        let warn =
            r#"{"level":"warn","logger":"etcd-client","msg":"retrying of unary invoker failed"}"#;
        let probe = script(&[
            section(&format!(
                "( echo '{warn}' >&2; echo '{{\"members\":{{\"control-plane-1\":\"https://10.0.0.10:2380\"}}}}'; echo '{warn}' >&2 )"
            )),
            section(&format!(
                "( echo partial; echo '{warn}' >&2; echo 'Error: etcdserver: request timed out' >&2; exit 3 )"
            )),
            section("printf 'no newline'"),
            section("( echo '--- 0' >&2; exit 1 )"),
        ]);
        let out = Command::new("dash")
            .args(["-c", &probe])
            .output()
            .expect("dash runs");
        let parts = sections(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(parts.len(), 4, "{parts:?}");
        let members = section_ok(parts.first()).and_then(|j| parse_etcd_members(&j));
        assert_eq!(
            members.map(|m| m.members.len()),
            Ok(1),
            "stderr stays out of the JSON"
        );
        assert_eq!(
            section_ok(parts.get(1)),
            Err("exit code 3: Error: etcdserver: request timed out".to_string())
        );
        assert_eq!(parts[2].stdout.trim(), "no newline");
        // A stderr line that looks like a marker is still stderr.
        assert_eq!(
            section_ok(parts.get(3)),
            Err("exit code 1: --- 0".to_string())
        );
    }

    /// The whole probe script is POSIX sh: dash parses it (`-n`: without running it).
    #[test]
    fn probe_script_parses_under_dash() {
        let probe = probe_script(
            "/usr/local/bin/k0s",
            Role::Controller,
            &["10.0.0.11".into(), "10.0.0.20".into()],
            true,
        );
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
