//! apply: `k0sctl apply`, streamed. Skipped when k0sctl.yaml is what the last successful apply
//! used and every planned node is Ready (waiting for them first, as after a halt), so a second
//! `vagrant up` changes nothing.

use super::wait_ready::NotReady;
use super::{applied_path, Ctx, Decision, Phase, PhaseName};
use crate::error::Error;
use crate::util::files;
use crate::util::text::human;

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
        // Same config as last time: the cluster exists. Right after its VMs start (a halted
        // cluster, a resume, a host reboot) its nodes are NotReady for a while, so wait for them
        // before deciding; skip only if they all come back.
        eprintln!(
            "    k0sctl.yaml is unchanged since the last successful apply; waiting up to {} for every node to be Ready",
            human(cx.timeouts().ready)
        );
        Ok(match cx.nodes_back() {
            Ok(_) => Decision::Skip(
                "k0sctl.yaml is unchanged since the last successful apply and every node is Ready"
                    .to_string(),
            ),
            Err(NotReady { node, why }) => {
                eprintln!(
                    "    {node} is not Ready after {} ({why}): running k0sctl apply",
                    human(cx.timeouts().ready)
                );
                Decision::Run
            }
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
