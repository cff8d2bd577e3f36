//! The named health checks over a report: each passes, or fails with the reason.

use serde::Serialize;

use super::probe::Probe;
use super::report::{NodeReport, Report};
use crate::plan::{Plan, Role};

/// One named health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub reason: String,
}

/// What a check found: what passed, or every problem.
pub type Verdict = Result<String, Vec<String>>;

impl std::fmt::Display for Check {
    /// `ok   etcd-quorum   3 members, ...`: one line of `health` and of the drill.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.ok { "ok" } else { "FAIL" };
        write!(f, "{verdict:<4} {:<13} {}", self.name, self.reason)
    }
}

impl Check {
    pub fn new(name: &'static str, verdict: Verdict) -> Check {
        match verdict {
            Ok(reason) => Check {
                name,
                ok: true,
                reason,
            },
            Err(problems) => Check {
                name,
                ok: false,
                reason: problems.join("; "),
            },
        }
    }
}

/// A check over a report.
pub type CheckFn = fn(&Plan, &Report) -> Verdict;

/// The checks over a report, in the order they are shown.
pub const CHECKS: &[(&str, CheckFn)] = &[
    ("ssh", ssh),
    ("k0s-services", k0s_services),
    ("etcd-quorum", etcd_quorum),
    ("nodes-ready", nodes_ready),
    ("taints", taints),
    ("reachability", reachability),
    ("api", api),
];

/// The named checks over a report.
pub fn checks(plan: &Plan, report: &Report) -> Vec<Check> {
    CHECKS
        .iter()
        .map(|&(name, check)| Check::new(name, check(plan, report)))
        .collect()
}

/// Passes, saying `fine`, when there are no problems.
pub fn verdict(problems: Vec<String>, fine: impl FnOnce() -> String) -> Verdict {
    if problems.is_empty() {
        Ok(fine())
    } else {
        Err(problems)
    }
}

/// The problem `f` finds with each node, where it finds one.
fn per_node(report: &Report, f: impl Fn(&NodeReport) -> Option<String>) -> Vec<String> {
    report.nodes.iter().filter_map(f).collect()
}

/// `<node>: <reason>` for each node whose probe `of` failed.
fn failed<T>(report: &Report, of: impl Fn(&NodeReport) -> &Probe<T>) -> Vec<String> {
    per_node(report, |r| {
        of(r).as_ref().err().map(|e| format!("{}: {e}", r.name))
    })
}

fn ssh(_: &Plan, report: &Report) -> Verdict {
    let n = report.nodes.len();
    let problems = per_node(report, |r| r.ssh.as_ref().err().map(ToString::to_string));
    verdict(problems, || format!("{n}/{n} nodes answer"))
}

fn k0s_services(_: &Plan, report: &Report) -> Verdict {
    let n = report.nodes.len();
    verdict(failed(report, |r| &r.service), || {
        format!("{n}/{n} k0s services active")
    })
}

/// Every controller is an etcd member, and more than half of them are up.
fn etcd_quorum(plan: &Plan, report: &Report) -> Verdict {
    let members = &report
        .etcd
        .as_ref()
        .map_err(|e| vec![e.to_string()])?
        .members;
    let controllers = plan.names(Role::Controller);
    let up = |c: &str| {
        report
            .nodes
            .iter()
            .any(|n| n.name == c && n.service.is_ok())
    };
    let healthy = controllers
        .iter()
        .filter(|c| members.contains_key(**c) && up(c))
        .count();
    let quorum = plan.quorum();
    let mut problems: Vec<String> = controllers
        .iter()
        .filter(|c| !members.contains_key(**c))
        .map(|c| format!("{c} is no etcd member"))
        .collect();
    if healthy < quorum {
        problems.push(format!(
            "{healthy} of {} controllers up, quorum needs {quorum}",
            controllers.len()
        ));
    }
    verdict(problems, || {
        format!(
            "{} members, {healthy} of {} controllers up (quorum {quorum})",
            members.len(),
            controllers.len()
        )
    })
}

fn nodes_ready(_: &Plan, report: &Report) -> Verdict {
    let n = report.nodes.len();
    verdict(failed(report, |r| &r.ready), || {
        format!("{n}/{n} nodes Ready")
    })
}

/// Exactly the nodes the plan lets run workloads take them.
fn taints(plan: &Plan, report: &Report) -> Verdict {
    if report.nodes.iter().any(|r| r.takes_workloads.is_none()) {
        return Err(vec!["the Node objects could not be read".into()]);
    }
    let wrong = per_node(report, |r| {
        let says = if r.planned_workloads {
            "refuses"
        } else {
            "takes"
        };
        (r.takes_workloads != Some(r.planned_workloads))
            .then(|| format!("{} {says} workloads", r.name))
    });
    verdict(wrong, || {
        format!(
            "exactly the {} planned nodes take workloads",
            plan.nodes.iter().filter(|p| p.runs_workloads).count()
        )
    })
}

fn reachability(_: &Plan, report: &Report) -> Verdict {
    let n = report.nodes.len();
    let problems = per_node(report, |r| match &r.unreachable {
        Ok(list) if list.is_empty() => None,
        Ok(list) => Some(format!("{} cannot reach {}", r.name, list.join(", "))),
        Err(e) => Some(format!("{}: {e}", r.name)),
    });
    verdict(problems, || {
        format!(
            "all {} node pairs reach each other",
            n * n.saturating_sub(1)
        )
    })
}

fn api(_: &Plan, report: &Report) -> Verdict {
    report.api.clone().map_err(|e| vec![e.to_string()])
}
