//! taints: make the Node objects match the plan (control-plane taints, worker labels); reports
//! each change, skips when nothing differs.

use super::{Ctx, Decision, Phase, PhaseName};
use crate::cluster::nodes::{reconcile, Change};
use crate::error::Error;

pub struct Taints;

fn changes(cx: &Ctx) -> Result<Vec<Change>, Error> {
    Ok(reconcile(&cx.plan, &cx.node_list()?))
}

impl Phase for Taints {
    fn name(&self) -> PhaseName {
        PhaseName::Taints
    }

    fn title(&self) -> &'static str {
        "Reconcile taints and labels"
    }

    fn decide(&self, cx: &Ctx) -> Result<Decision, Error> {
        Ok(if changes(cx)?.is_empty() {
            Decision::Skip("taints and labels already match the plan".to_string())
        } else {
            Decision::Run
        })
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        for change in changes(cx)? {
            let args = change.kubectl_args();
            cx.act(change.to_string(), |cx| cx.kubectl(&args).map(drop))?;
        }
        // Read back, so the summary shows the result.
        cx.node_list()?;
        Ok(())
    }
}
