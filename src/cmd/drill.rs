//! `drill stop`: take one node down on purpose, check, restore.

use super::Running;
use crate::adapters::vagrant::Project;
use crate::cli::{DrillAction, DrillArgs};
use crate::cluster::{drill, report};
use crate::error::Error;

pub fn run(project: &Project, args: &DrillArgs) -> Result<(), Error> {
    let DrillAction::Stop {
        node,
        vm,
        force,
        settle,
        restore_within,
    } = &args.action;
    let running = Running::load(project)?;
    let api = || running.api();
    let drill = drill::Drill {
        plan: &running.plan,
        inventory: &running.inventory,
        known_hosts: &running.known_hosts,
        project_root: &project.root,
        limits: report::Limits::default(),
        settle: std::time::Duration::from_secs(*settle),
        restore_within: std::time::Duration::from_secs(*restore_within),
        api: &api,
    };
    drill.check_safe(node, *force)?;
    let method = if *vm {
        drill::Method::HaltVm
    } else {
        drill::Method::StopK0s
    };
    Ok(drill.run(node, method)?)
}
