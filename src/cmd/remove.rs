//! `remove`: take nodes out of the running cluster before their machines go (the `vagrant destroy`
//! of part of a cluster runs it), then forget them in this project's state once their machines
//! go. Run by hand on a node whose machine exists, the node leaves the cluster but stays in the
//! plan lock, so Vagrant still defines the machine and `vagrant destroy -f NODE` finishes it.

use super::Running;
use crate::adapters::vagrant::{Invocation, Project};
use crate::cli::RemoveArgs;
use crate::deploy::render::rewrite_as_applied;
use crate::error::Error;
use crate::lifecycle::remove::{self, Limits, RemoveError};
use crate::lock;

pub fn run(project: &Project, args: &RemoveArgs) -> Result<(), Error> {
    if args.before_destroy {
        return before_destroy(project, &args.vagrant_args);
    }
    remove(
        project,
        &Running::load(project)?,
        &args.nodes,
        args.force,
        Forget::MachineGone,
    )
}

/// When a node that left the cluster is forgotten in the plan lock, inventory, pinned host keys
/// and k0sctl.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forget {
    /// Vagrant destroys the machine right after (the `before :destroy` trigger).
    Always,
    /// Only when Vagrant has no machine for it; otherwise the lock keeps it so Vagrant still
    /// defines the machine and `vagrant destroy -f NODE` can remove it.
    MachineGone,
}

/// `vagrant destroy` of part of the cluster: its machines leave the cluster first. Destroying every
/// existing machine is the fast path (nothing to take out), and so is a cluster that was never
/// deployed. Without `-f` Vagrant would ask after this trigger, so the nodes would leave before
/// the answer: refused with the command to run instead.
fn before_destroy(project: &Project, vagrant_args: &[String]) -> Result<(), Error> {
    let Ok(running) = Running::load(project) else {
        return Ok(());
    };
    let existing = project.existing_machines();
    let names: Vec<String> = running
        .plan
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .filter(|n| existing.contains(n))
        .collect();
    let targets: Vec<String> = Invocation::targets("destroy", vagrant_args, &names)
        .into_iter()
        .map(String::from)
        .collect();
    if targets.is_empty() || targets.len() == names.len() {
        return Ok(());
    }
    if !Invocation::forced(vagrant_args) {
        return Err(RemoveError::NeedsForce {
            nodes: targets.join(" "),
        }
        .into());
    }
    remove(project, &running, &targets, false, Forget::Always)
}

fn remove(
    project: &Project,
    running: &Running,
    nodes: &[String],
    force: bool,
    forget: Forget,
) -> Result<(), Error> {
    let report = running.report();
    let up = remove::controllers_up(&running.plan, &report);
    let members = remove::etcd_members(&report);
    let going = remove::order(&running.plan, nodes, &up, members.as_ref(), force)?;
    eprintln!(
        "k0s-vagrant: taking {} out of the cluster, one at a time",
        going.join(", ")
    );
    let limits = Limits::default();
    let leader = remove::leader(&running.inventory, &running.known_hosts, &limits)?;
    let (mut plan, mut inventory) = (running.plan.clone(), running.inventory.clone());
    let state_dir = project.state_dir();
    let mut kept = Vec::new();
    for node in going {
        remove::take_out(
            &plan,
            &inventory,
            &running.known_hosts,
            &leader,
            node,
            &limits,
        )?;
        if forget == Forget::MachineGone && project.existing_machines().contains(node) {
            kept.push(node);
            continue;
        }
        // After each node, so a failure on the next keeps what is done.
        plan.nodes.retain(|n| n.name != node);
        inventory.nodes.retain(|n| n.name != node);
        lock::write_in(&state_dir, &plan)?;
        inventory.write(&state_dir)?;
        running.known_hosts.forget(&[node.to_string()])?;
        rewrite_as_applied(&plan, &inventory, &state_dir)?;
    }
    if !kept.is_empty() {
        eprintln!(
            "k0s-vagrant: {} left the cluster; {} still exist{} and stay{} in the plan: run `vagrant destroy -f {}` to finish (until then `vagrant up` joins {} again)",
            kept.join(", "),
            if kept.len() == 1 { "its machine" } else { "their machines" },
            if kept.len() == 1 { "s" } else { "" },
            if kept.len() == 1 { "s" } else { "" },
            kept.join(" "),
            if kept.len() == 1 { "it" } else { "them" },
        );
    }
    Ok(())
}
