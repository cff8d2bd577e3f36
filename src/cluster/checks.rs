//! The named health checks over a report: each passes, or fails with the reason.

use serde::Serialize;

use super::report::{NodeReport, Report};
use crate::plan::{Plan, Role};

/// One named health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub reason: String,
}

fn check(name: &'static str, problems: Vec<String>, fine: String) -> Check {
    if problems.is_empty() {
        Check {
            name,
            ok: true,
            reason: fine,
        }
    } else {
        Check {
            name,
            ok: false,
            reason: problems.join("; "),
        }
    }
}

/// The named checks over a report.
pub fn checks(plan: &Plan, report: &Report) -> Vec<Check> {
    let n = report.nodes.len();
    let failed = |f: &dyn Fn(&NodeReport) -> Option<String>| {
        report.nodes.iter().filter_map(f).collect::<Vec<_>>()
    };
    let controllers: Vec<&str> = plan
        .nodes
        .iter()
        .filter(|p| p.role == Role::Controller)
        .map(|p| p.name.as_str())
        .collect();
    let etcd = match &report.etcd {
        Err(e) => check("etcd-quorum", vec![e.to_string()], String::new()),
        Ok(m) => {
            let healthy = controllers
                .iter()
                .filter(|c| {
                    m.members.contains_key(**c)
                        && report
                            .nodes
                            .iter()
                            .any(|n| n.name == **c && n.service.is_ok())
                })
                .count();
            let quorum = plan.quorum();
            let missing: Vec<String> = controllers
                .iter()
                .filter(|c| !m.members.contains_key(**c))
                .map(|c| format!("{c} is no etcd member"))
                .collect();
            let mut problems = missing;
            if healthy < quorum {
                problems.push(format!(
                    "{healthy} of {} controllers up, quorum needs {quorum}",
                    controllers.len()
                ));
            }
            check(
                "etcd-quorum",
                problems,
                format!(
                    "{} members, {healthy} of {} controllers up (quorum {quorum})",
                    m.members.len(),
                    controllers.len()
                ),
            )
        }
    };
    let policy = match report.nodes.iter().all(|r| r.takes_workloads.is_some()) {
        false => check(
            "taints",
            vec!["the Node objects could not be read".into()],
            String::new(),
        ),
        true => {
            let wrong = failed(&|r| {
                (r.takes_workloads != Some(r.planned_workloads)).then(|| {
                    format!(
                        "{} {} workloads",
                        r.name,
                        if r.planned_workloads {
                            "refuses"
                        } else {
                            "takes"
                        }
                    )
                })
            });
            check(
                "taints",
                wrong,
                format!(
                    "exactly the {} planned nodes take workloads",
                    plan.nodes.iter().filter(|p| p.runs_workloads).count()
                ),
            )
        }
    };
    vec![
        check(
            "ssh",
            failed(&|r| r.ssh.clone().err().map(|e| e.to_string())),
            format!("{n}/{n} nodes answer"),
        ),
        check(
            "k0s-services",
            failed(&|r| r.service.clone().err().map(|e| format!("{}: {e}", r.name))),
            format!("{n}/{n} k0s services active"),
        ),
        etcd,
        check(
            "nodes-ready",
            failed(&|r| r.ready.clone().err().map(|e| format!("{}: {e}", r.name))),
            format!("{n}/{n} nodes Ready"),
        ),
        policy,
        check(
            "reachability",
            failed(&|r| match &r.unreachable {
                Ok(list) if list.is_empty() => None,
                Ok(list) => Some(format!("{} cannot reach {}", r.name, list.join(", "))),
                Err(e) => Some(format!("{}: {e}", r.name)),
            }),
            format!(
                "all {} node pairs reach each other",
                n * n.saturating_sub(1)
            ),
        ),
        check(
            "api",
            report
                .api
                .as_ref()
                .err()
                .map(ToString::to_string)
                .into_iter()
                .collect(),
            report.api.clone().unwrap_or_default(),
        ),
    ]
}
