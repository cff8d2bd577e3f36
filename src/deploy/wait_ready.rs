//! wait-ready: poll the Node objects on control-plane-1 until every planned node is Ready. The
//! polling is shared with apply's decision, which waits the same way for a cluster coming back.

use std::time::{Duration, Instant};

use super::{Ctx, Phase, PhaseName};
use crate::cluster::ClusterError;
use crate::error::Error;
use crate::util::text::human;

pub struct WaitReady;

/// A planned node that was not Ready when the wait ended, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NotReady {
    pub node: String,
    pub why: String,
}

/// How a [`poll`] that ended with every node Ready went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ready {
    /// How long it took.
    pub after: Duration,
    /// Some node was not Ready at the first look.
    pub waited: bool,
}

/// Polls the Node objects every `poll` interval until every planned node is Ready or `limit` has
/// passed, printing a progress line whenever what it waits for changes, and `N/N nodes Ready`
/// at the end. It only reads (it keeps the last node list as the current one).
pub(super) fn poll(cx: &Ctx, limit: Duration) -> Result<Ready, NotReady> {
    let start = Instant::now();
    let total = cx.plan.nodes.len();
    let mut last_line = String::new();
    let mut waited = false;
    loop {
        let waiting = not_ready(cx);
        let Some(first) = waiting.first().cloned() else {
            eprintln!(
                "    {total}/{total} nodes Ready ({})",
                human(start.elapsed())
            );
            return Ok(Ready {
                after: start.elapsed(),
                waited,
            });
        };
        waited = true;
        let line = format!(
            "{}/{total} nodes Ready; waiting for {}: {}",
            total - waiting.len(),
            first.node,
            first.why
        );
        if line != last_line {
            eprintln!("    {line}");
            last_line = line;
        }
        if start.elapsed() >= limit {
            return Err(first);
        }
        std::thread::sleep(
            cx.timeouts()
                .poll
                .min(limit.saturating_sub(start.elapsed())),
        );
    }
}

/// The planned nodes that are not Ready now, in plan order; control-plane-1 when the Node
/// objects cannot be read (the API may not answer yet right after apply or while the VMs boot).
fn not_ready(cx: &Ctx) -> Vec<NotReady> {
    let read = cx
        .kubectl("get nodes -o json")
        .map_err(|e| e.to_string())
        .and_then(|j| crate::cluster::nodes::parse_nodes(&j).map_err(|e| e.to_string()));
    let nodes = match read {
        Ok(nodes) => nodes,
        Err(why) => {
            return vec![NotReady {
                node: "control-plane-1".to_string(),
                why,
            }]
        }
    };
    let waiting = cx
        .plan
        .nodes
        .iter()
        .filter_map(|p| {
            let why = match nodes.items.iter().find(|n| n.metadata.name == p.name) {
                Some(n) => n.readiness().err()?,
                None => "not registered".to_string(),
            };
            Some(NotReady {
                node: p.name.clone(),
                why,
            })
        })
        .collect();
    cx.remember_nodes(nodes);
    waiting
}

impl Phase for WaitReady {
    fn name(&self) -> PhaseName {
        PhaseName::WaitReady
    }

    fn title(&self) -> &'static str {
        "Wait until every node is Ready"
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let limit = cx.timeouts().ready;
        poll(cx, limit)
            .map(|_| ())
            .map_err(|NotReady { node, why }| {
                ClusterError::NotReady {
                    node,
                    reason: why,
                    after: human(limit),
                }
                .into()
            })
    }
}
