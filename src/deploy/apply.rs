//! apply: `k0sctl apply`, streamed. Skipped when k0sctl.yaml is what the last successful apply
//! used and every planned node is Ready, so a second `vagrant up` changes nothing.

use super::{applied_path, Ctx, Decision, Phase, PhaseName};
use crate::error::Error;
use crate::util::files;

pub struct Apply;

impl Phase for Apply {
    fn name(&self) -> PhaseName {
        PhaseName::Apply
    }

    fn title(&self) -> &'static str {
        "Apply with k0sctl"
    }

    fn decide(&self, cx: &Ctx) -> Result<Decision, Error> {
        let current = std::fs::read_to_string(cx.config_path()).ok();
        let applied = std::fs::read_to_string(applied_path(&cx.state_dir)).ok();
        if current.is_none() || current != applied {
            return Ok(Decision::Run);
        }
        // Same config as last time: only skip if the cluster really is there and healthy.
        let Ok(nodes) = cx.node_list() else {
            return Ok(Decision::Run);
        };
        let all_ready = cx.plan.nodes.iter().all(|p| {
            nodes
                .items
                .iter()
                .any(|n| n.metadata.name == p.name && n.readiness().is_ok())
        });
        Ok(if all_ready {
            Decision::Skip(
                "k0sctl.yaml is unchanged since the last successful apply and every node is Ready"
                    .to_string(),
            )
        } else {
            Decision::Run
        })
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let k0sctl = cx.k0sctl()?.clone();
        eprintln!("    {} {}", k0sctl.path.display(), k0sctl.version);
        let config = cx.config_path();
        let timeout = cx.timeouts().apply;
        cx.act(
            format!("run k0sctl apply --config {}", config.display()),
            |cx| {
                k0sctl.apply(&config, timeout, &mut |line| {
                    eprintln!("    k0sctl: {line}")
                })?;
                // What the next deploy compares with, once this one has succeeded.
                Ok(files::copy(&config, &applied_path(&cx.state_dir))?)
            },
        )
    }
}
