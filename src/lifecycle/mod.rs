//! Living with a cluster after its first deploy: taking nodes out before their machines go,
//! removing the machines a lower count on `vagrant up` drops, stopping k0s before a VM is powered
//! off.

pub mod halt;
pub mod remove;
pub mod shrink;
