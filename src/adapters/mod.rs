//! What the helper talks to outside itself: the nodes over SSH (and the commands run there), the
//! k0sctl binary, the host's container engine (docker or podman), Vagrant's project layout and command line, and the user's kubeconfig file.

pub mod engine;
pub mod k0sctl;
pub mod kubeconfig;
pub mod node;
pub mod ssh;
pub mod vagrant;
