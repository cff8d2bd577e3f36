//! Living with a cluster after its first deploy: taking nodes out before their machines go.

pub mod remove;
