//! wait-ready: poll the Node objects on control-plane-1 until every planned node is Ready.

use std::time::Instant;

use super::{Ctx, Phase, PhaseName};
use crate::cluster::ClusterError;
use crate::error::Error;
use crate::util::text::human;

pub struct WaitReady;

impl Phase for WaitReady {
    fn name(&self) -> PhaseName {
        PhaseName::WaitReady
    }

    fn title(&self) -> &'static str {
        "Wait until every node is Ready"
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let start = Instant::now();
        let mut last_line = String::new();
        loop {
            let waiting: Vec<(String, String)> = match cx
                .kubectl("get nodes -o json")
                .map(|j| crate::cluster::nodes::parse_nodes(&j))
            {
                Ok(Ok(nodes)) => {
                    let waiting = cx
                        .plan
                        .nodes
                        .iter()
                        .filter_map(|p| {
                            match nodes.items.iter().find(|n| n.metadata.name == p.name) {
                                Some(n) => n.readiness().err().map(|why| (p.name.clone(), why)),
                                None => Some((p.name.clone(), "not registered".to_string())),
                            }
                        })
                        .collect();
                    cx.remember_nodes(nodes);
                    waiting
                }
                // The API may not answer yet right after apply: keep polling until the deadline.
                Ok(Err(e)) => vec![("control-plane-1".to_string(), e.to_string())],
                Err(e) => vec![("control-plane-1".to_string(), e.to_string())],
            };
            let total = cx.plan.nodes.len();
            let Some((node, why)) = waiting.first().cloned() else {
                eprintln!(
                    "    {total}/{total} nodes Ready ({})",
                    human(start.elapsed())
                );
                return Ok(());
            };
            let line = format!(
                "{}/{total} nodes Ready; waiting for {node}: {why}",
                total - waiting.len()
            );
            if line != last_line {
                eprintln!("    {line}");
                last_line = line;
            }
            if start.elapsed() >= cx.timeouts().ready {
                return Err(ClusterError::NotReady {
                    node,
                    reason: why,
                    after: human(cx.timeouts().ready),
                }
                .into());
            }
            std::thread::sleep(cx.timeouts().poll);
        }
    }
}
