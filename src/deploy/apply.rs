//! apply: `k0sctl apply`, streamed. Skipped when k0sctl.yaml is what the last successful apply
//! used and every planned node is Ready, so a second `vagrant up` changes nothing.

use super::{Ctx, Phase, PhaseName};
use crate::adapters::k0sctl::K0sctl;
use crate::error::Error;

pub struct Apply;

fn applied_path(cx: &Ctx) -> std::path::PathBuf {
    cx.state_dir.join("k0sctl.applied.yaml")
}

impl Phase for Apply {
    fn name(&self) -> PhaseName {
        PhaseName::Apply
    }

    fn title(&self) -> &'static str {
        "Apply with k0sctl"
    }

    fn should_run(&self, cx: &mut Ctx) -> Result<Option<String>, Error> {
        let current = std::fs::read_to_string(cx.config_path()).ok();
        let applied = std::fs::read_to_string(applied_path(cx)).ok();
        if current.is_none() || current != applied {
            return Ok(None);
        }
        // Same config as last time: only skip if the cluster really is there and healthy.
        let Ok(json) = cx.kubectl("get nodes -o json") else {
            return Ok(None);
        };
        let Ok(nodes) = crate::cluster::nodes::parse_nodes(&json) else {
            return Ok(None);
        };
        let all_ready = cx.plan.nodes.iter().all(|p| {
            nodes
                .items
                .iter()
                .any(|n| n.metadata.name == p.name && n.readiness().is_ok())
        });
        cx.nodes = Some(nodes);
        Ok(all_ready.then(|| {
            "k0sctl.yaml is unchanged since the last successful apply and every node is Ready"
                .to_string()
        }))
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let k0sctl = K0sctl::locate(&cx.k0sctl_search)?;
        eprintln!("    {} {}", k0sctl.path.display(), k0sctl.version);
        let config = cx.config_path();
        let timeout = cx.timeouts.apply;
        cx.act(
            format!("run k0sctl apply --config {}", config.display()),
            |_| {
                k0sctl.apply(&config, timeout, &mut |line| {
                    eprintln!("    k0sctl: {line}")
                })?;
                Ok(())
            },
        )?;
        let applied = applied_path(cx);
        std::fs::copy(&config, &applied).map_err(|source| Error::State {
            path: applied,
            source,
        })?;
        cx.k0sctl = Some(k0sctl);
        Ok(())
    }
}
