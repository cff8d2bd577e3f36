//! Stopping k0s on a node before its VM powers off. On Tart `vagrant halt` is `tart stop`
//! (letiemble/vagrant-tart `lib/vagrant-tart/action/stop_instance.rb`), which ends the VM with
//! `VZVirtualMachine.stop()`, a power-off without a guest shutdown (cirruslabs/tart
//! `Sources/tart/Commands/Stop.swift`, `Sources/tart/VM.swift`): k0s, etcd and containerd would
//! never see a stop. vagrant-libvirt shuts the guest down from inside first (`action_halt`), so
//! systemd stops k0s there already.

use std::time::Duration;

use crate::adapters::node;
use crate::adapters::ssh::{connect, KnownHosts, Retry};
use crate::inventory::InventoryNode;
use crate::plan::Provider;
use crate::util::exit::Category;
use crate::util::text::tail;

#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("{node} is not a node of this cluster (its nodes: {known})")]
    UnknownNode { node: String, known: String },
    #[error("{node}: k0s stop failed ({reason}); look at it with `vagrant ssh {node} -c 'sudo k0s status'`")]
    Failed { node: String, reason: String },
}

impl StopError {
    pub fn category(&self) -> Category {
        match self {
            StopError::UnknownNode { .. } => Category::BadInput,
            StopError::Failed { .. } => Category::Remote,
        }
    }
}

/// Whether `vagrant halt` on `provider` powers the VMs off without stopping k0s first.
pub fn needs_stop_before_halt(provider: Provider) -> bool {
    provider == Provider::Tart
}

/// `k0s stop` on the node (k0s stops its service; it stays enabled, so the next boot starts it).
pub fn stop_k0s(node: &InventoryNode, known_hosts: &KnownHosts) -> Result<(), StopError> {
    let failed = |reason: String| StopError::Failed {
        node: node.name.clone(),
        reason,
    };
    let retry = Retry {
        deadline: Duration::from_secs(15),
        ..Retry::default()
    };
    let session =
        connect(&node.name, &node.ssh, known_hosts, &retry).map_err(|e| failed(e.to_string()))?;
    session
        .run(
            &node::k0s(&node.k0s_binary, "stop"),
            Duration::from_secs(120),
        )
        .map(|_| ())
        .map_err(|e| failed(tail(&e.to_string(), 1)))
}
