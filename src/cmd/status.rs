//! `status`: one table of the running cluster, or its JSON.

use super::{print_stdout, Running};
use crate::adapters::vagrant::Project;
use crate::cli::StatusArgs;
use crate::cluster::probe::Probe;
use crate::cluster::report::Report;
use crate::cluster::SCHEMA_VERSION;
use crate::error::Error;
use crate::util::table;

/// `status --json`: the report, after the version of its form.
#[derive(serde::Serialize)]
struct Json<'a> {
    schema_version: u32,
    #[serde(flatten)]
    report: &'a Report,
}

/// A probe's cell: its value, `FAIL`, or `-` when the node's VM is not running.
fn cell<T>(r: &Probe<T>, ok: impl Fn(&T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) if e.kind.vm_down() => "-".to_string(),
        Err(_) => "FAIL".to_string(),
    }
}

/// The SSH cell: `ok`, `FAIL`, or why the VM is not running (`halted`, `suspended`, ...).
fn ssh_cell(r: &Probe<()>) -> String {
    match r {
        Err(e) if e.kind.vm_down() => e.kind.as_str().to_string(),
        other => cell(other, |_| "ok".into()),
    }
}

pub fn run(project: &Project, args: &StatusArgs) -> Result<(), Error> {
    let report = Running::load(project)?.report();
    if args.json {
        let json = Json {
            schema_version: SCHEMA_VERSION,
            report: &report,
        };
        return print_stdout(
            &(serde_json::to_string_pretty(&json).expect("report serializes") + "\n"),
        );
    }
    let header = [
        "NODE",
        "ROLE",
        "ADDRESS",
        "SSH",
        "SERVICE",
        "K0S",
        "READY",
        "TAINTS",
        "WORKLOADS",
    ];
    let rows: Vec<[String; 9]> = report
        .nodes
        .iter()
        .map(|n| {
            [
                n.name.clone(),
                n.role.as_str().to_string(),
                n.address.clone(),
                ssh_cell(&n.ssh),
                cell(&n.service, |s| s.clone()),
                cell(&n.k0s, |k| format!("{} {}", k.role, k.version)),
                cell(&n.ready, |_| "Ready".into()),
                if n.taints.is_empty() {
                    "-".to_string()
                } else {
                    n.taints.join(",")
                },
                match n.takes_workloads {
                    Some(true) => "yes".to_string(),
                    Some(false) => "no".to_string(),
                    None => "?".to_string(),
                },
            ]
        })
        .collect();
    let mut out = String::new();
    for line in table::lines(header, &rows, &[]) {
        out.push_str(&line);
        out.push('\n');
    }
    let mut problems: Vec<String> = Vec::new();
    for n in &report.nodes {
        for (what, r) in [
            ("ssh", n.ssh.clone().map(|_| ())),
            ("service", n.service.clone().map(drop)),
            ("k0s", n.k0s.clone().map(drop)),
            ("node", n.ready.clone()),
        ] {
            match r {
                // The VM is not running: the ssh line says it for the probes that need SSH.
                Err(e) if e.kind.vm_down() && matches!(what, "service" | "k0s") => {}
                Err(e) => problems.push(format!("{}: {what}: {e}", n.name)),
                Ok(()) => {}
            }
        }
    }
    out.push_str(&match &report.etcd {
        Ok(m) => format!(
            "etcd: {} members ({})\n",
            m.members.len(),
            m.members.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        Err(e) => format!("etcd: FAIL ({e})\n"),
    });
    out.push_str(&match &report.api {
        Ok(said) => format!("api: {said}\n"),
        Err(e) => format!("api: FAIL ({e})\n"),
    });
    out.push_str(&format!(
        "kubeconfig: {}\n",
        report
            .kubeconfig
            .as_ref()
            .map_or("none yet (vagrant up exports it)".to_string(), |p| p
                .display()
                .to_string())
    ));
    for p in problems {
        out.push_str(&format!("  {p}\n"));
    }
    print_stdout(&out)
}
