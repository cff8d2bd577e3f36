//! The running cluster: what it says over SSH and from the host (report, each probe's result a
//! [`probe::Probe`]), the named checks over that, the API as this host sees it, Node objects, the
//! workload probe and the failure drill.

pub mod addons;
pub mod api;
pub mod checks;
pub mod drill;
pub mod nodes;
pub mod probe;
pub mod report;
pub mod workloads;

use crate::util::exit::Category;
use nodes::ParseError;

/// The `schema_version` of `status --json` and `health --json`: raised when a field is removed or
/// changes its meaning (added fields keep it, and so do added probe error kinds such as `halted`:
/// a program that does not know a kind still reads a failed probe).
pub const SCHEMA_VERSION: u32 = 1;

/// Failures of the cluster itself, seen over SSH or from the host while deploying.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{}", problems.join("; "))]
    Preflight { problems: Vec<String> },
    #[error(
        "{node} not Ready after {after} ({reason}); try: vagrant ssh {node} -c 'sudo k0s status'"
    )]
    NotReady {
        node: String,
        reason: String,
        after: String,
    },
    #[error("the API at {server} does not answer from this host ({reason}); check `vagrant status` and the firewall of the node network")]
    ApiUnreachable { server: String, reason: String },
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("no SSH session to {node} (the wait-ssh phase did not run)")]
    NotConnected { node: String },
    #[error("{node}: `k0s status` tells no k0s version ({reason}); try: vagrant ssh {node} -c 'sudo k0s status'")]
    NoVersion { node: String, reason: String },
}

impl ClusterError {
    pub fn category(&self) -> Category {
        match self {
            ClusterError::Preflight { .. }
            | ClusterError::NotReady { .. }
            | ClusterError::ApiUnreachable { .. }
            | ClusterError::Parse(_)
            | ClusterError::NotConnected { .. }
            | ClusterError::NoVersion { .. } => Category::Remote,
        }
    }
}
