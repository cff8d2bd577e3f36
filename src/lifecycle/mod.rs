//! Living with a cluster after its first deploy: taking nodes out before their machines go,
//! stopping k0s before a VM is powered off.

pub mod halt;
pub mod remove;
