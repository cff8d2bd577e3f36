//! The inventory (`.vagrant/k0s/inventory.json`): how to reach each node, from what Vagrant
//! reported after `up` (the facts the Vagrantfile hands over) and what the nodes said in preflight.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::{Plan, Provider, Role};
use crate::util::exit::Category;
use crate::util::files::{self, write_atomic, FileError};

/// What the Vagrantfile knows about the machines right after `vagrant up`, passed as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VagrantFacts {
    pub machines: Vec<MachineFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineFacts {
    pub name: String,
    pub provider: Option<String>,
    /// Vagrant's machine id; a new one means the machine was recreated.
    #[serde(default)]
    pub id: Option<String>,
    /// Vagrant's state id: `running`, `not_created`, `shutoff`, `stopped`, ...
    pub state: String,
    /// Its `vagrant up` finished in the Vagrant process that wrote the facts.
    #[serde(default)]
    pub finished: bool,
    /// Vagrant's `ssh_info`; absent when the machine is not running.
    pub ssh: Option<VagrantSsh>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VagrantSsh {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub private_key_path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub cluster: String,
    pub provider: Provider,
    pub nodes: Vec<InventoryNode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryNode {
    pub name: String,
    /// The node's address on the node network: the planned one on libvirt, the discovered one on Tart.
    pub address: Ipv4Addr,
    pub ssh: SshEndpoint,
    /// The interface that holds `address`, learned in preflight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Where k0s lives on the node (k0sctl's default install path).
    #[serde(default = "default_k0s_binary")]
    pub k0s_binary: String,
    /// k0s' data directory on the node (k0s' default; `load` puts image archives into its
    /// `images/`). Only tests point it elsewhere: their stand-in nodes share one filesystem.
    #[serde(
        default = "default_k0s_data_dir",
        skip_serializing_if = "is_default_k0s_data_dir"
    )]
    pub k0s_data_dir: String,
    /// Vagrant's id of the machine this entry describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
}

fn default_k0s_binary() -> String {
    "/usr/local/bin/k0s".to_string()
}

fn default_k0s_data_dir() -> String {
    "/var/lib/k0s".to_string()
}

fn is_default_k0s_data_dir(dir: &str) -> bool {
    dir == default_k0s_data_dir()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshEndpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub key_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("Vagrant facts {path} are not valid JSON ({reason}); rerun `vagrant up`")]
    BadFacts { path: PathBuf, reason: String },
    #[error(
        "no inventory at {path}; run `vagrant up` first (it writes one after every machine is up)"
    )]
    Missing { path: PathBuf },
    #[error("inventory {path} is unreadable ({reason}); rerun `vagrant up` to write it again")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{node}: Vagrant reported no SSH endpoint although it is running; run `vagrant ssh-config {node}` to see why")]
    NoSsh { node: String },
    #[error("{node}: SSH host '{host}' from Vagrant is not an IPv4 address, so it cannot be the node address on Tart")]
    BadAddress { node: String, host: String },
    #[error("{node} came back on {now}, but the cluster knows it as {was}: k0s keeps a node's address (etcd peer URL, kubelet --node-ip) and cannot follow a change; {fix}")]
    AddressChanged {
        node: String,
        was: Ipv4Addr,
        now: Ipv4Addr,
        fix: String,
    },
    #[error(transparent)]
    File(#[from] FileError),
}

impl InventoryError {
    pub fn category(&self) -> Category {
        match self {
            InventoryError::BadFacts { .. }
            | InventoryError::Missing { .. }
            | InventoryError::Unreadable { .. }
            | InventoryError::NoSsh { .. }
            | InventoryError::BadAddress { .. }
            | InventoryError::AddressChanged { .. } => Category::BadInput,
            InventoryError::File(_) => Category::Failed,
        }
    }
}

/// Why a deploy does not start: some planned machine is not running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAllRunning {
    pub not_running: Vec<(String, String)>,
}

impl VagrantFacts {
    pub fn read(path: &Path) -> Result<VagrantFacts, InventoryError> {
        let text = files::read(path)?;
        serde_json::from_str(&text).map_err(|e| InventoryError::BadFacts {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

impl Inventory {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("inventory.json")
    }

    /// The inventory for `plan` from Vagrant's facts, or which planned machines are not running.
    /// A machine of `previous` (the last inventory) that was not recreated must keep its address:
    /// Tart's softnet cuts DHCP leases to 600 s (cirruslabs/tart `Sources/tart/Commands/Run.swift`),
    /// so a halted VM can come back on another one, and k0sctl would push that into etcd.
    pub fn from_facts(
        plan: &Plan,
        facts: &VagrantFacts,
        previous: Option<&Inventory>,
    ) -> Result<Result<Inventory, NotAllRunning>, InventoryError> {
        let find = |name: &str| facts.machines.iter().find(|m| m.name == name);
        let not_running: Vec<(String, String)> = plan
            .nodes
            .iter()
            .filter_map(|n| match find(&n.name) {
                Some(m) if m.state == "running" => None,
                Some(m) => Some((n.name.clone(), m.state.clone())),
                None => Some((n.name.clone(), "unknown".to_string())),
            })
            .collect();
        if !not_running.is_empty() {
            return Ok(Err(NotAllRunning { not_running }));
        }
        let mut nodes = Vec::new();
        for node in &plan.nodes {
            let ssh = find(&node.name)
                .and_then(|m| m.ssh.clone())
                .ok_or_else(|| InventoryError::NoSsh {
                    node: node.name.clone(),
                })?;
            let address = match node.ip {
                Some(ip) => ip,
                None => ssh.host.parse().map_err(|_| InventoryError::BadAddress {
                    node: node.name.clone(),
                    host: ssh.host.clone(),
                })?,
            };
            let machine_id = find(&node.name).and_then(|m| m.id.clone());
            let old = previous.and_then(|p| p.node(&node.name));
            if let Some(old) = old {
                let recreated = old.machine_id.is_some() && old.machine_id != machine_id;
                if old.address != address && !recreated {
                    return Err(InventoryError::AddressChanged {
                        node: node.name.clone(),
                        was: old.address,
                        now: address,
                        fix: match node.role {
                            Role::Worker => format!(
                                "recreate it: `vagrant destroy -f {0}`, then `vagrant up`",
                                node.name
                            ),
                            Role::Controller => {
                                "recreate the cluster: `vagrant destroy -f`, then `vagrant up`"
                                    .to_string()
                            }
                        },
                    });
                }
            }
            nodes.push(InventoryNode {
                name: node.name.clone(),
                address,
                ssh: SshEndpoint {
                    host: ssh.host,
                    port: ssh.port,
                    user: ssh.username,
                    key_path: ssh.private_key_path,
                },
                // The same machine on the same address keeps what preflight learned (preflight
                // checks it again on every deploy), so an unchanged cluster writes nothing.
                interface: old
                    .filter(|o| o.address == address && o.machine_id == machine_id)
                    .and_then(|o| o.interface.clone()),
                k0s_binary: default_k0s_binary(),
                k0s_data_dir: default_k0s_data_dir(),
                machine_id,
            });
        }
        Ok(Ok(Inventory {
            cluster: plan.cluster.name.clone(),
            provider: plan.cluster.provider_hint,
            nodes,
        }))
    }

    pub fn read(state_dir: &Path) -> Result<Inventory, InventoryError> {
        let path = Inventory::path(state_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(InventoryError::Missing { path })
            }
            Err(e) => {
                return Err(InventoryError::Unreadable {
                    path,
                    reason: e.to_string(),
                })
            }
        };
        serde_json::from_str(&text).map_err(|e| InventoryError::Unreadable {
            path,
            reason: e.to_string(),
        })
    }

    pub fn write(&self, state_dir: &Path) -> Result<(), InventoryError> {
        let path = Inventory::path(state_dir);
        let json = serde_json::to_string_pretty(self).expect("inventory serializes");
        Ok(write_atomic(&path, json.as_bytes(), None)?)
    }

    pub fn node(&self, name: &str) -> Option<&InventoryNode> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostFacts;
    use crate::settings::{RawSettings, Settings};

    fn tart_plan() -> Plan {
        let settings = Settings::from_raw(&RawSettings::from_lookup(|_| None)).unwrap();
        Plan::from_settings(&settings, Provider::Tart, &HostFacts::x86_64(false))
    }

    /// Tart's view after `up`: every node running, reached on its DHCP address.
    fn facts(worker_address: &str, worker_id: &str) -> VagrantFacts {
        let machine = |name: &str, host: &str, id: &str| MachineFacts {
            name: name.to_string(),
            provider: Some("tart".to_string()),
            id: Some(id.to_string()),
            state: "running".to_string(),
            finished: true,
            ssh: Some(VagrantSsh {
                host: host.to_string(),
                port: 22,
                username: "admin".to_string(),
                private_key_path: PathBuf::from("/k"),
            }),
        };
        VagrantFacts {
            machines: vec![
                machine("control-plane-1", "192.168.64.10", "k0s-control-plane-1"),
                machine("worker-1", worker_address, worker_id),
            ],
        }
    }

    fn inventory(f: &VagrantFacts, previous: Option<&Inventory>) -> Result<Inventory, String> {
        match Inventory::from_facts(&tart_plan(), f, previous) {
            Ok(Ok(inventory)) => Ok(inventory),
            Ok(Err(not_running)) => panic!("{not_running:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn a_node_that_came_back_on_another_address_is_refused() {
        let first = inventory(&facts("192.168.64.11", "vm-a"), None).unwrap();
        // Same machine, same address: fine.
        inventory(&facts("192.168.64.11", "vm-a"), Some(&first)).unwrap();
        // Same machine, new lease: one line with both addresses and the fix.
        assert_eq!(
            inventory(&facts("192.168.64.23", "vm-a"), Some(&first)).unwrap_err(),
            "worker-1 came back on 192.168.64.23, but the cluster knows it as 192.168.64.11: k0s keeps a node's address (etcd peer URL, kubelet --node-ip) and cannot follow a change; recreate it: `vagrant destroy -f worker-1`, then `vagrant up`"
        );
        // A recreated machine (new Vagrant id) may have any address.
        inventory(&facts("192.168.64.23", "vm-b"), Some(&first)).unwrap();
    }

    #[test]
    fn a_controller_that_moved_asks_for_the_whole_cluster() {
        let first = inventory(&facts("192.168.64.11", "vm-a"), None).unwrap();
        let mut moved = facts("192.168.64.11", "vm-a");
        moved.machines[0].ssh.as_mut().unwrap().host = "192.168.64.30".to_string();
        let err = inventory(&moved, Some(&first)).unwrap_err();
        assert!(
            err.ends_with("recreate the cluster: `vagrant destroy -f`, then `vagrant up`"),
            "{err}"
        );
    }
}
