//! `health`: the named checks, as lines or JSON; exit 1 when one fails.

use super::{print_stdout, Running};
use crate::adapters::vagrant::Project;
use crate::cli::HealthArgs;
use crate::cluster::{addons, checks, report, workloads, SCHEMA_VERSION};
use crate::error::Error;

/// `health --json`.
#[derive(serde::Serialize)]
struct Json<'a> {
    schema_version: u32,
    healthy: bool,
    checks: &'a [checks::Check],
}

pub fn run(project: &Project, args: &HealthArgs) -> Result<(), Error> {
    let running = Running::load(project)?;
    let report = running.report();
    let plan = &running.plan;
    let mut checks = checks::checks(plan, &report);
    if args.workloads {
        let wait = std::time::Duration::from_secs(120);
        checks.push(workloads::check(
            plan,
            &running.inventory,
            &running.known_hosts,
            &report::Limits::default(),
            wait,
        ));
    }
    if args.addons {
        checks.extend(addons::checks(
            plan,
            &running.inventory,
            &running.known_hosts,
            &report::Limits::default(),
            std::time::Duration::from_secs(120),
        ));
    }
    let healthy = checks.iter().all(|c| c.ok);
    if args.json {
        let json = Json {
            schema_version: SCHEMA_VERSION,
            healthy,
            checks: &checks,
        };
        print_stdout(&(serde_json::to_string_pretty(&json).expect("checks serialize") + "\n"))?;
    } else {
        let mut out = String::new();
        for c in &checks {
            out.push_str(&format!("{c}\n"));
        }
        out.push_str(if healthy {
            "healthy\n"
        } else {
            "not healthy\n"
        });
        print_stdout(&out)?;
    }
    if healthy {
        Ok(())
    } else {
        let failed = || {
            let names: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
            format!("{} failed", names.join(", "))
        };
        Err(Error::Unhealthy {
            reason: report.halted().map_or_else(failed, String::from),
        })
    }
}
