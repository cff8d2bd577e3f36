//! What the helper's exit code means. Every module's error says which kind of failure each of its
//! variants is, so a new variant needs a decision where it is written.

/// The kinds of failure, with their exit codes (README, "Exit codes of the helper").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Anything else: a file that cannot be written, an unhealthy cluster, a failed drill.
    Failed = 1,
    /// Bad input: settings, plan lock, inventory, a rendered config k0sctl would refuse.
    BadInput = 2,
    /// The host lacks a tool or capability: k0sctl, a newer Vagrant, KVM.
    MissingTool = 3,
    /// The nodes or the cluster: SSH, k0sctl apply, Ready timeout, the API.
    Remote = 4,
}

impl Category {
    pub fn code(self) -> u8 {
        self as u8
    }
}
