//! version: record in the plan lock the k0s version the cluster runs, so every later apply renders
//! it (machines added later join on it) and a K0S_VERSION change is checked against it. With an
//! empty `spec.k0s.version` k0sctl resolves the newest release online on each apply, and keeps a
//! running cluster on its version (k0sproject/k0sctl `phase/validate_facts.go`,
//! validateDefaultVersion); the record makes that explicit and the same on every host.

use super::render::rewrite_as_applied;
use super::{Ctx, Decision, Phase, PhaseName};
use crate::cluster::report::parse_k0s_status;
use crate::cluster::ClusterError;
use crate::error::Error;
use crate::lock;

pub struct RecordVersion;

/// What `k0s status` on control-plane-1 says it runs.
fn running(cx: &Ctx) -> Result<String, Error> {
    let said = cx.k0s("status -o json")?;
    let status = parse_k0s_status(&said).map_err(|e| ClusterError::NoVersion {
        node: cx.inventory.nodes[0].name.clone(),
        reason: e.to_string(),
    })?;
    Ok(status.version)
}

impl Phase for RecordVersion {
    fn name(&self) -> PhaseName {
        PhaseName::Version
    }

    fn title(&self) -> &'static str {
        "Record the k0s version"
    }

    fn decide(&self, cx: &Ctx) -> Result<Decision, Error> {
        let running = running(cx)?;
        Ok(
            if cx.plan.cluster.k0s_version.as_deref() == Some(running.as_str()) {
                Decision::Skip(format!("the plan lock already records k0s {running}"))
            } else {
                Decision::Run
            },
        )
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let running = running(cx)?;
        let path = lock::path_in(&cx.state_dir);
        cx.act(
            format!("record k0s {running} in {}", path.display()),
            |cx| {
                cx.plan.cluster.k0s_version = Some(running);
                lock::write_in(&cx.state_dir, &cx.plan)?;
                // k0sctl.yaml now names the version the nodes already run.
                rewrite_as_applied(&cx.plan, &cx.inventory, &cx.state_dir)
            },
        )
    }
}
