//! `cleanup`: the after-destroy trigger.

use crate::adapters::vagrant::Project;
use crate::adapters::{kubeconfig, ssh};
use crate::error::Error;
use crate::inventory::Inventory;
use crate::lock;
use crate::util::files;

/// After `vagrant destroy`: all gone -> remove our state and kubeconfig entries; some left ->
/// forget the destroyed machines' host keys and inventory entries.
pub fn run(project: &Project) -> Result<(), Error> {
    let state_dir = project.state_dir();
    let existing = project.existing_machines();
    let plan = lock::read_lock(project).ok().flatten();
    let any_left = plan
        .as_ref()
        .is_some_and(|p| p.nodes.iter().any(|n| existing.contains(&n.name)));
    if any_left {
        // A destroyed machine takes its pinned key and its inventory entry along: a recreated one
        // has a new key and may come back on another address (or on one another machine had).
        let gone: Vec<String> = plan
            .iter()
            .flat_map(|p| &p.nodes)
            .filter(|n| !existing.contains(&n.name))
            .map(|n| n.name.clone())
            .collect();
        let known_hosts = ssh::KnownHosts::new(state_dir.join("known_hosts"));
        known_hosts.forget(&gone)?;
        if let Ok(mut inventory) = Inventory::read(&state_dir) {
            inventory.nodes.retain(|n| existing.contains(&n.name));
            inventory.write(&state_dir)?;
        }
        return Ok(());
    }
    let record = state_dir.join("kubeconfig-merged");
    if let Ok(text) = std::fs::read_to_string(&record) {
        let mut lines = text.lines();
        if let (Some(target), Some(name)) = (lines.next(), lines.next()) {
            if kubeconfig::remove(std::path::Path::new(target), name)? {
                eprintln!("k0s-vagrant: removed context {name} from {target}");
            }
        }
    }
    if state_dir.exists() {
        files::remove_dir(&state_dir)?;
        eprintln!(
            "k0s-vagrant: no machine of the cluster is left; removed {}",
            state_dir.display()
        );
    }
    Ok(())
}
