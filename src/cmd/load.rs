//! `load`: local images onto the nodes through k0s' image directory (`images`), or `--prune`
//! what earlier loads placed there.

use std::path::PathBuf;
use std::time::Duration;

use super::Running;
use crate::adapters::engine;
use crate::adapters::vagrant::Project;
use crate::cli::LoadArgs;
use crate::error::Error;
use crate::images::{self, archive, LoadError, Outcome};
use crate::settings::{self, RawSettings};
use crate::util::{parallel, text::plural};

/// The archive `docker save` writes for one run, in the state directory (on the project's disk,
/// not a small /tmp); removed when the run ends.
struct Saved(PathBuf);

impl Drop for Saved {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn run(project: &Project, args: &LoadArgs, env: &RawSettings) -> Result<(), Error> {
    let running = Running::load(project)?;
    let nodes = images::select(&running.inventory, &args.nodes)?;
    if args.prune {
        return prune(&running, &nodes);
    }
    let (path, _saved) = match &args.archive {
        Some(path) => (path.clone(), None),
        None => {
            let engine = engine::find(env.value(settings::PATH))?;
            let saved = Saved(
                project
                    .state_dir()
                    .join(format!("load-{}.tar", std::process::id())),
            );
            let _ = std::fs::remove_file(&saved.0);
            eprintln!("==> {} saves {}", engine.name, args.images.join(" "));
            engine.save(&args.images, &saved.0)?;
            (saved.0.clone(), Some(saved))
        }
    };
    let archive = archive::inspect(&path)?;
    eprintln!(
        "==> {} ({}, {}) onto {}",
        archive.file_name(),
        archive.refs.join(", "),
        crate::cache::download::mib(archive.size),
        names(&nodes)
    );
    let limits = images::Limits {
        listed: Duration::from_secs(args.timeout),
        poll: Duration::from_secs(2),
    };
    let results = parallel(&nodes, |n| {
        images::load_one(n, &running.known_hosts, &archive, &limits)
    });
    let mut first_error = None;
    let mut placed = 0;
    for (node, result) in nodes.iter().zip(results) {
        match result {
            Ok(Outcome::Placed(_)) => placed += 1,
            Ok(Outcome::AlreadyThere) => {}
            Err(e) => {
                eprintln!("{}: FAILED: {e}", node.name);
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e.into());
    }
    if placed == 0 {
        eprintln!(
            "==> nothing changed: {} already had {} and k0s lists its images",
            names(&nodes),
            archive.file_name()
        );
    } else {
        eprintln!(
            "==> usable on {}: {} (pods: imagePullPolicy IfNotPresent or Never)",
            plural(nodes.len(), "node"),
            archive.refs.join(", ")
        );
    }
    Ok(())
}

fn prune(running: &Running, nodes: &[&crate::inventory::InventoryNode]) -> Result<(), Error> {
    let results = parallel(nodes, |n| images::prune_one(n, &running.known_hosts));
    let mut first_error: Option<LoadError> = None;
    for (node, result) in nodes.iter().zip(results) {
        match result {
            Ok(removed) if removed.is_empty() => eprintln!("{}: nothing loaded", node.name),
            Ok(removed) => eprintln!("{}: removed {}", node.name, removed.join(", ")),
            Err(e) => {
                eprintln!("{}: FAILED: {e}", node.name);
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn names(nodes: &[&crate::inventory::InventoryNode]) -> String {
    nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
