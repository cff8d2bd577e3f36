//! `stop`: stop k0s on nodes. `vagrant halt` runs it before each machine's halt (`--before-halt`),
//! which acts only where the provider's halt skips the guest's shutdown (Tart) and never stops
//! the halt: a VM that cannot be reached is powered off all the same.

use super::Running;
use crate::adapters::vagrant::Project;
use crate::cli::StopArgs;
use crate::error::Error;
use crate::lifecycle::halt::{needs_stop_before_halt, stop_k0s, StopError};

pub fn run(project: &Project, args: &StopArgs) -> Result<(), Error> {
    let running = match Running::load(project) {
        Ok(running) => running,
        // Never deployed: nothing runs k0s.
        Err(_) if args.before_halt => return Ok(()),
        Err(e) => return Err(e),
    };
    if args.before_halt
        && (!needs_stop_before_halt(running.inventory.provider)
            || args.state.as_deref().is_some_and(|s| s != "running"))
    {
        return Ok(());
    }
    for name in &args.nodes {
        let Some(node) = running.inventory.nodes.iter().find(|n| &n.name == name) else {
            if args.before_halt {
                continue;
            }
            return Err(StopError::UnknownNode {
                node: name.clone(),
                known: running
                    .inventory
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .into());
        };
        let why = if args.before_halt {
            " before Tart powers its VM off"
        } else {
            ""
        };
        eprintln!("k0s-vagrant: stopping k0s on {name}{why}");
        match stop_k0s(node, &running.known_hosts) {
            Ok(()) => {}
            Err(e) if args.before_halt => {
                eprintln!("k0s-vagrant: warning: {e}; the VM is halted anyway")
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
