//! `remove`: take nodes out of the running cluster before their machines go (the `vagrant destroy`
//! of part of a cluster runs it), then forget them in this project's state.

use super::Running;
use crate::adapters::vagrant::Project;
use crate::cli::RemoveArgs;
use crate::deploy::render::rewrite_as_applied;
use crate::error::Error;
use crate::lifecycle::remove::{self, Limits};
use crate::lock;

pub fn run(project: &Project, args: &RemoveArgs) -> Result<(), Error> {
    let running = Running::load(project)?;
    let report = running.report();
    let up = remove::controllers_up(&running.plan, &report);
    let going = remove::order(&running.plan, &args.nodes, &up, args.force)?;
    eprintln!(
        "k0s-vagrant: taking {} out of the cluster, one at a time",
        going.join(", ")
    );
    let limits = Limits::default();
    let leader = remove::leader(&running.inventory, &running.known_hosts, &limits)?;
    let (mut plan, mut inventory) = (running.plan.clone(), running.inventory.clone());
    let state_dir = project.state_dir();
    for node in going {
        remove::take_out(
            &plan,
            &inventory,
            &running.known_hosts,
            &leader,
            node,
            &limits,
        )?;
        // After each node, so a failure on the next keeps what is done.
        plan.nodes.retain(|n| n.name != node);
        inventory.nodes.retain(|n| n.name != node);
        lock::write_in(&state_dir, &plan)?;
        inventory.write(&state_dir)?;
        running.known_hosts.forget(&[node.to_string()])?;
        rewrite_as_applied(&plan, &inventory, &state_dir)?;
    }
    Ok(())
}
