//! taints: make the Node objects match the plan (control-plane taints, worker labels); reports
//! each change, skips when nothing differs.

use super::{Ctx, Phase, PhaseName};
use crate::cluster::nodes::{parse_nodes, reconcile, Change};
use crate::error::Error;

pub struct Taints;

fn changes(cx: &mut Ctx) -> Result<Vec<Change>, Error> {
    let nodes = match cx.nodes.take() {
        Some(nodes) => nodes,
        None => parse_nodes(&cx.kubectl("get nodes -o json")?)
            .map_err(crate::cluster::ClusterError::from)?,
    };
    let changes = reconcile(&cx.plan, &nodes);
    cx.nodes = Some(nodes);
    Ok(changes)
}

impl Phase for Taints {
    fn name(&self) -> PhaseName {
        PhaseName::Taints
    }

    fn title(&self) -> &'static str {
        "Reconcile taints and labels"
    }

    fn should_run(&self, cx: &mut Ctx) -> Result<Option<String>, Error> {
        Ok(changes(cx)?
            .is_empty()
            .then(|| "taints and labels already match the plan".to_string()))
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        for change in changes(cx)? {
            eprintln!("    {change}");
            let args = change.kubectl_args();
            cx.act(change.to_string(), |cx| cx.kubectl(&args).map(drop))?;
        }
        // Read back, so the summary shows the result.
        cx.nodes = Some(
            parse_nodes(&cx.kubectl("get nodes -o json")?)
                .map_err(crate::cluster::ClusterError::from)?,
        );
        Ok(())
    }
}
