//! A lower count on `vagrant up` (`WORKER_COUNT=1` after 2): the machines it drops are removed
//! first, the highest-numbered first, each the way `vagrant destroy -f NODE` removes one (it leaves
//! the cluster, then its machine goes), before the plan lock takes the new counts. What is
//! decided here: which machines, the line that announces them, and why it stopped.

use crate::util::exit::Category;

#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    #[error("{change} takes {nodes} out of the running cluster first, but {leader} does not answer over SSH ({reason}); bring the cluster up with the old counts ({keep} vagrant up), then run this again")]
    ClusterDown {
        change: String,
        nodes: String,
        leader: String,
        reason: String,
        keep: String,
    },
    #[error("{change}: `vagrant destroy -f {node}` failed ({reason}); {node} and the nodes after it stay: fix the cause (see above), then run `vagrant up` again")]
    Destroy {
        change: String,
        node: String,
        reason: String,
    },
}

impl ShrinkError {
    pub fn category(&self) -> Category {
        Category::Remote
    }
}

/// `WORKER_COUNT=1` or `CONTROL_PLANE_COUNT=1 WORKER_COUNT=1`: the variables whose lower value
/// drops machines, as the user would type them.
pub fn change(dropped: &[(&str, usize)]) -> String {
    dropped
        .iter()
        .map(|(var, value)| format!("{var}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The line printed before anything changes.
pub fn announce(change: &str, going: &[&str]) -> String {
    format!(
        "{change} removes {}, one at a time: each leaves the cluster (drain, etcd leave, k0s reset), then its machine is destroyed with its disks (local volumes on it are lost); then `vagrant up` goes on",
        going.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announcement_names_the_variables_and_the_nodes_in_order() {
        let change = change(&[("CONTROL_PLANE_COUNT", 1), ("WORKER_COUNT", 1)]);
        assert_eq!(change, "CONTROL_PLANE_COUNT=1 WORKER_COUNT=1");
        assert!(announce(&change, &["worker-2", "control-plane-3", "control-plane-2"])
            .starts_with("CONTROL_PLANE_COUNT=1 WORKER_COUNT=1 removes worker-2, control-plane-3, control-plane-2, one at a time"));
    }
}
