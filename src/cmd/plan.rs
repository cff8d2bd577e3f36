//! `plan`: the node plan for the Vagrantfile (JSON) or for people (table); on `vagrant up` also
//! the host checks and the plan lock.

use super::{print_stdout, wanted_plan};
use crate::adapters::vagrant::{Invocation, Project};
use crate::cache::{Arch, Cache, CacheError};
use crate::cli::{PlanArgs, PlanFormat};
use crate::error::Error;
use crate::host::{self, HostFacts};
use crate::settings::{DeployOptions, HostResources, RawSettings, Settings};
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
/// run in the cache: checked here, before the plan lock and any machine exist. The version is
/// K0S_VERSION, else the one the plan lock records, else the newest complete one in the cache
/// (what the deploy then records); never the network.
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
    Ok(())
}
