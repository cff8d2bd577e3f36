//! `plan`: the node plan for the Vagrantfile (JSON) or for people (table); on `vagrant up` also
//! the host checks, the removal of the machines a lower count drops, and the plan lock.

use super::{print_stdout, wanted_plan, Running};
use crate::adapters::vagrant::{Invocation, Project};
use crate::cache::{Arch, Cache, CacheError};
use crate::cli::{PlanArgs, PlanFormat};
use crate::error::Error;
use crate::host::{self, HostFacts};
use crate::lifecycle::remove::{self, Limits, RemoveError};
use crate::lifecycle::shrink::{self, ShrinkError};
use crate::plan::{Plan, Role};
use crate::settings::{
    DeployOptions, HostResources, RawSettings, Settings, CONTROL_PLANE_COUNT, WORKER_COUNT,
};
use crate::{lock, plan};

pub fn run(
    project: &Project,
    args: &PlanArgs,
    env: &RawSettings,
    offline: bool,
) -> Result<(), Error> {
    let invocation = Invocation::parse(&args.vagrant_args);
    let settings = Settings::from_raw(env);
    let vagrant_version = args
        .vagrant_version
        .as_deref()
        .and_then(crate::util::version::vagrant);
    let host = HostFacts::detect(vagrant_version);
    let wanted = wanted_plan(env, &invocation, args.provider, &host);
    // What `vagrant up` needs from this host and for its post-up deploy, before any machine
    // exists. Other Vagrant commands (`destroy` too) never read the deploy's settings.
    if invocation.creates_machines() {
        if let Ok(wanted) = &wanted {
            let deploy = DeployOptions::from_raw(env)?;
            host::check_for_up(wanted, &host, &deploy.k0sctl)?;
            offline_check(project, wanted, &host, env, offline)?;
            remove_dropped_machines(project, wanted)?;
        }
    }
    let mut resolved = lock::resolve(project, invocation.creates_machines(), wanted)?;
    let libvirt = &mut resolved.plan.providers.libvirt;
    libvirt.box_architecture = plan::box_architecture(&libvirt.r#box, &host);
    // Warnings about the settings matter when they shape machines: on `up` or when asked directly.
    if !resolved.from_lock && (invocation.command.is_none() || invocation.creates_machines()) {
        if let Ok(settings) = &settings {
            for warning in settings.warnings(&HostResources::detect()) {
                eprintln!("k0s-vagrant: warning: {warning}");
            }
        }
    }
    for note in &resolved.notes {
        eprintln!("k0s-vagrant: {note}");
    }
    if let Some(note) = invocation.does_nothing_note(resolved.plan.cluster.provider_hint) {
        eprintln!("k0s-vagrant: {note}");
    }
    match args.format {
        PlanFormat::Json => print_stdout(&(resolved.plan.to_json() + "\n")),
        PlanFormat::Table => print_stdout(&resolved.plan.to_table()),
    }
}

/// Offline, `vagrant up` needs the k0s binary and image bundle of the version the cluster will
/// run in the cache, and the charts and image bundles of its add-ons: checked here, before the
/// plan lock and any machine exist. The version is K0S_VERSION, else the one the plan lock
/// records, else the newest complete one in the cache (what the deploy then records); never the
/// network.
fn offline_check(
    project: &Project,
    wanted: &plan::Plan,
    host: &HostFacts,
    env: &RawSettings,
    offline: bool,
) -> Result<(), Error> {
    let config = crate::settings::cache_config(env, offline)?;
    if !config.offline {
        return Ok(());
    }
    let arch = Arch::of_host(&host.arch).ok_or_else(|| CacheError::UnsupportedArch {
        arch: host.arch.box_name().to_string(),
    })?;
    let cache = Cache::new(config);
    let recorded = lock::read_lock(project)?.and_then(|p| p.cluster.k0s_version);
    let version = match wanted.cluster.k0s_version.clone().or(recorded) {
        Some(v) => v,
        None => cache.resolve_version(arch)?,
    };
    cache.check_offline(&version, arch)?;
    cache.addons_offline(&wanted.addons.pinned(), arch)?;
    Ok(())
}

/// A lower count on `vagrant up` removes the existing machines it drops before the plan lock takes
/// the new counts: one at a time, workers first and the highest number first, each through its own
/// `vagrant destroy -f NODE`, whose triggers take it out of the cluster and forget it (the same
/// path as destroying one node by hand). Every refusal comes before the first machine goes: what
/// `vagrant up` would refuse anyway, and the removal rules checked on the running cluster.
fn remove_dropped_machines(project: &Project, wanted: &Plan) -> Result<(), Error> {
    let Some(locked) = lock::read_lock(project)? else {
        return Ok(());
    };
    let existing = project.existing_machines();
    let dropped = lock::dropped(&locked, wanted, &existing);
    if dropped.is_empty() {
        return Ok(());
    }
    lock::check_after_removal(&locked, wanted, &existing)?;
    let change = shrink::change(
        &dropped
            .iter()
            .map(|d| (d.var, wanted.count(d.role)))
            .collect::<Vec<_>>(),
    );
    let names: Vec<String> = dropped.iter().flat_map(|d| d.names.clone()).collect();
    let going: Vec<String> = match Running::load(project) {
        // Never deployed (no inventory): nothing to take out of a cluster, only machines to go.
        Err(_) => locked
            .nodes
            .iter()
            .rev()
            .filter(|n| names.contains(&n.name))
            .map(|n| n.name.clone())
            .collect(),
        Ok(running) => {
            let limits = Limits::default();
            remove::leader(&running.inventory, &running.known_hosts, &limits).map_err(
                |e| match e {
                    RemoveError::LeaderDown { leader, reason } => {
                        Error::from(ShrinkError::ClusterDown {
                            change: change.clone(),
                            nodes: names.join(", "),
                            leader,
                            reason,
                            keep: shrink::change(
                                &dropped
                                    .iter()
                                    .map(|d| (d.var, locked.count(d.role)))
                                    .collect::<Vec<_>>(),
                            ),
                        })
                    }
                    other => other.into(),
                },
            )?;
            let report = running.report();
            let up = remove::controllers_up(&running.plan, &report);
            let members = remove::etcd_members(&report);
            remove::order(&running.plan, &names, &up, members.as_ref(), false)?
                .into_iter()
                .map(String::from)
                .collect()
        }
    };
    // The nested `vagrant destroy` sees the counts of the plan lock: its plan step then has no
    // changed count to note.
    let counts = [
        (CONTROL_PLANE_COUNT, Role::Controller),
        (WORKER_COUNT, Role::Worker),
    ];
    let vars: Vec<(&str, String)> = counts
        .iter()
        .map(|(var, role)| (var.name, locked.count(*role).to_string()))
        .collect();
    let unset: Vec<&str> = counts.iter().filter_map(|(var, _)| var.alias).collect();
    let going_ref: Vec<&str> = going.iter().map(String::as_str).collect();
    eprintln!("k0s-vagrant: {}", shrink::announce(&change, &going_ref));
    for node in &going {
        eprintln!("==> vagrant destroy -f {node}");
        let failed = |reason: String| ShrinkError::Destroy {
            change: change.clone(),
            node: node.clone(),
            reason,
        };
        project
            .destroy(node, &vars, &unset)
            .map_err(|e| failed(e.to_string()))?;
        if project.existing_machines().contains(node) {
            return Err(failed("its machine still exists".to_string()).into());
        }
    }
    Ok(())
}
