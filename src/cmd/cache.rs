//! `cache fetch|list|prune`: the host's download cache of k0s binaries and image bundles.

use std::time::{SystemTime, UNIX_EPOCH};

use super::print_stdout;
use crate::adapters::vagrant::Project;
use crate::cache::{download, store, Arch, Cache, CacheError};
use crate::cli::{CacheAction, CacheArgs};
use crate::error::Error;
use crate::host::HostFacts;
use crate::lock;
use crate::settings::{self, RawSettings, Settings};
use crate::util::{files, table, version};

pub fn run(
    project: &Project,
    args: &CacheArgs,
    env: &RawSettings,
    offline: bool,
) -> Result<(), Error> {
    let cache = Cache::new(settings::cache_config(env, offline)?);
    match &args.action {
        CacheAction::Fetch { version, arch } => fetch(project, env, &cache, version, *arch),
        CacheAction::List => list(&cache),
        CacheAction::Prune { keep } => prune(project, &cache, *keep),
    }
}

/// The nodes' architecture: this host's.
pub(crate) fn host_arch() -> Result<Arch, CacheError> {
    let arch = HostFacts::detect(None).arch;
    Arch::of_host(&arch).ok_or_else(|| CacheError::UnsupportedArch {
        arch: arch.box_name().to_string(),
    })
}

/// The version this project's cluster wants: K0S_VERSION when set, else what the plan lock records.
fn project_version(project: &Project, env: &RawSettings) -> Option<String> {
    let asked = Settings::from_raw(env).ok().and_then(|s| s.k0s_version);
    asked.or_else(|| recorded_version(project))
}

fn recorded_version(project: &Project) -> Option<String> {
    lock::read_lock(project)
        .ok()
        .flatten()
        .and_then(|plan| plan.cluster.k0s_version)
}

fn fetch(
    project: &Project,
    env: &RawSettings,
    cache: &Cache,
    version: &Option<String>,
    arch: Option<Arch>,
) -> Result<(), Error> {
    let arch = match arch {
        Some(arch) => arch,
        None => host_arch()?,
    };
    let version = match version {
        Some(v) if version::k0s_full(v).is_some() => v.clone(),
        Some(v) => return Err(CacheError::BadVersion { value: v.clone() }.into()),
        None => match project_version(project, env) {
            Some(v) => v,
            None => cache.resolve_version(arch)?,
        },
    };
    let found = cache.ensure(&version, arch)?;
    eprintln!(
        "k0s-vagrant: k0s {version} for {arch} is in the cache ({})",
        cache.store.dir(&version, arch).display()
    );
    tracing::debug!(
        "binary {}, bundle {}",
        found.binary.display(),
        found.bundle.display()
    );
    // What an offline `vagrant up` of this project needs besides k0s.
    let pinned = Settings::from_raw(env)?.addons.selection.pinned();
    if !pinned.is_empty() {
        let addons = cache.ensure_addons(&pinned, arch)?;
        let names: Vec<String> = pinned
            .iter()
            .map(|p| format!("{} {}", p.addon, p.version))
            .collect();
        eprintln!(
            "k0s-vagrant: add-ons {} for {arch} are in the cache ({} charts, {} image bundles)",
            names.join(", "),
            addons.charts.len(),
            addons.bundles.len()
        );
    }
    Ok(())
}

fn list(cache: &Cache) -> Result<(), Error> {
    let entries = cache.store.entries();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            [
                e.version.clone(),
                e.arch.to_string(),
                download::mib(e.size),
                if e.verified { "yes" } else { "no (incomplete)" }.to_string(),
                e.last_used.map_or("never".to_string(), |t| ago(now, t)),
            ]
        })
        .collect();
    let mut out = table::lines(
        ["VERSION", "ARCH", "SIZE", "VERIFIED", "LAST USED"],
        &rows,
        &[2],
    )
    .join("\n");
    let addons = cache.store.addon_entries();
    if !addons.is_empty() {
        let rows: Vec<[String; 4]> = addons
            .iter()
            .map(|e| {
                [
                    e.what.clone(),
                    e.arch.map_or("any".to_string(), |a| a.to_string()),
                    download::mib(e.size),
                    if e.verified { "yes" } else { "no (incomplete)" }.to_string(),
                ]
            })
            .collect();
        out.push_str("\n\n");
        out.push_str(
            &table::lines(["ADD-ON FILE", "ARCH", "SIZE", "VERIFIED"], &rows, &[2]).join("\n"),
        );
    }
    let total: u64 =
        entries.iter().map(|e| e.size).sum::<u64>() + addons.iter().map(|e| e.size).sum::<u64>();
    out.push_str(&format!(
        "\n{} in {}\n",
        download::mib(total),
        cache.store.root.display()
    ));
    print_stdout(&out)
}

/// `5m ago`, `3h ago`, `2d ago`.
fn ago(now: u64, then: u64) -> String {
    let secs = now.saturating_sub(then);
    match secs {
        0..=59 => "just now".to_string(),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}

fn prune(project: &Project, cache: &Cache, keep: usize) -> Result<(), Error> {
    let recorded: Vec<String> = recorded_version(project).into_iter().collect();
    let gone = store::to_prune(&cache.store.entries(), &recorded, keep);
    let mut freed = 0;
    for entry in &gone {
        cache.store.remove(&entry.version, entry.arch)?;
        freed += entry.size;
        eprintln!(
            "k0s-vagrant: removed k0s {} for {} ({})",
            entry.version,
            entry.arch,
            download::mib(entry.size)
        );
    }
    for entry in cache.store.addon_entries().iter().filter(|e| !e.pinned) {
        files::remove(&entry.path)?;
        let _ = std::fs::remove_file(store::Store::sum_path(&entry.path));
        freed += entry.size;
        eprintln!(
            "k0s-vagrant: removed {} ({})",
            entry.path.display(),
            download::mib(entry.size)
        );
    }
    let kept = match recorded.first() {
        Some(v) => format!("kept {v} (this cluster's) and the newest {keep}"),
        None => format!("kept the newest {keep}"),
    };
    eprintln!("k0s-vagrant: freed {}; {kept}", download::mib(freed));
    Ok(())
}
