//! The plan lock (`.vagrant/k0s/plan.json`): the plan the existing machines were made from.
//! `vagrant up` writes it; every other command reads it, so a changed or broken variable never
//! orphans a VM or blocks `vagrant destroy`. It goes once no machine of the cluster exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::adapters::vagrant::Project;
use crate::plan::{ApiMode, Node, Plan, Role};
use crate::settings::{CONTROL_PLANE_COUNT, WORKER_COUNT};
use crate::util::exit::Category;
use crate::util::files::{write_atomic, FileError};
use crate::util::text::plural;
use crate::util::version;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("plan lock {path} is unreadable ({reason}); if no VM of this cluster exists, delete it and run again")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{var}={value} would remove {}, which still exist{}; run `vagrant destroy -f {}` first, or set {var}={keep}",
        existing.join(", "), if existing.len() == 1 { "s" } else { "" }, existing.iter().rev().cloned().collect::<Vec<_>>().join(" "))]
    WouldRemove {
        var: &'static str,
        value: usize,
        existing: Vec<String>,
        keep: usize,
    },
    #[error("{what}={wanted} differs from the existing cluster's {locked}; run `vagrant destroy -f` first, or set it back")]
    ClusterChanged {
        what: &'static str,
        wanted: String,
        locked: String,
    },
    #[error("{var}={value}: this cluster was created by an earlier k0s-vagrant that binds the API the single-controller way, which k0s cannot change on a running controller (k0s issue 6997); run `vagrant destroy -f`, then `{var}={value} vagrant up`, or set {var}=1")]
    CannotGrowLegacy { var: &'static str, value: usize },
    #[error("K0S_VERSION={wanted} is older than {running}, which this cluster runs; k0s cannot downgrade (k0s docs/version-skew-policy.md): unset K0S_VERSION to keep {running}, or `vagrant destroy -f` and start over")]
    Downgrade { wanted: String, running: String },
    #[error("K0S_VERSION={wanted} skips a minor release from {running}; k0s upgrades one minor at a time (k0s docs/version-skew-policy.md): set K0S_VERSION to a v{next} release first")]
    SkipsMinor {
        wanted: String,
        running: String,
        next: String,
    },
    #[error("no plan lock at {}; run `vagrant up` first", path.display())]
    Missing { path: PathBuf },
    #[error(transparent)]
    File(#[from] FileError),
}

impl LockError {
    pub fn category(&self) -> Category {
        match self {
            LockError::Unreadable { .. }
            | LockError::WouldRemove { .. }
            | LockError::ClusterChanged { .. }
            | LockError::CannotGrowLegacy { .. }
            | LockError::Downgrade { .. }
            | LockError::SkipsMinor { .. }
            | LockError::Missing { .. } => Category::BadInput,
            LockError::File(_) => Category::Failed,
        }
    }
}

/// The plan to use, and what the user should know about where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub plan: Plan,
    /// True when the plan came from the lock rather than from the current variables.
    pub from_lock: bool,
    /// One-line notes for stderr.
    pub notes: Vec<String>,
}

pub fn lock_path(project: &Project) -> PathBuf {
    path_in(&project.state_dir())
}

/// The plan lock in a state directory (`.vagrant/k0s/plan.json`).
pub fn path_in(state_dir: &Path) -> PathBuf {
    state_dir.join("plan.json")
}

/// Writes the plan lock of a running cluster (the deploy records what it learned).
pub fn write_in(state_dir: &Path, plan: &Plan) -> Result<(), LockError> {
    Ok(write_atomic(
        &path_in(state_dir),
        plan.to_json().as_bytes(),
        None,
    )?)
}

/// The locked plan, if any.
pub fn read_lock(project: &Project) -> Result<Option<Plan>, LockError> {
    let path = lock_path(project);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LockError::Unreadable {
                path,
                reason: e.to_string(),
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| LockError::Unreadable {
            path,
            reason: e.to_string(),
        })
}

fn write_lock(project: &Project, plan: &Plan) -> Result<(), LockError> {
    write_in(&project.state_dir(), plan)
}

/// The locked plan of a running cluster; commands that need one fail without it.
pub fn require(project: &Project) -> Result<Plan, LockError> {
    read_lock(project)?.ok_or_else(|| LockError::Missing {
        path: lock_path(project),
    })
}

/// Picks the plan for this Vagrant command. `creates_machines` is true for `vagrant up`;
/// `wanted` is the plan from the current variables (an error there matters only when it is used).
pub fn resolve<E: From<LockError>>(
    project: &Project,
    creates_machines: bool,
    wanted: Result<Plan, E>,
) -> Result<Resolved, E> {
    let existing = project.existing_machines();
    let lock = match read_lock(project)? {
        Some(lock) if lock.nodes.iter().any(|n| existing.contains(&n.name)) => Some(lock),
        Some(_) => {
            tracing::debug!(path = %lock_path(project).display(), "no machine of the locked plan exists: removing the lock");
            let _ = std::fs::remove_file(lock_path(project));
            None
        }
        None => None,
    };
    match (creates_machines, lock) {
        (false, None) => Ok(Resolved {
            plan: wanted?,
            from_lock: false,
            notes: Vec::new(),
        }),
        (false, Some(locked)) => {
            let mut notes = Vec::new();
            if let Ok(wanted) = wanted {
                if names(&wanted) != names(&locked) {
                    notes.push(format!(
                        "using the plan of the existing cluster ({}, {}; {}); the changed counts take effect on `vagrant up`",
                        plural(locked.count(Role::Controller), "controller"),
                        plural(locked.count(Role::Worker), "worker"),
                        lock_path(project).display()
                    ));
                }
            }
            Ok(Resolved {
                plan: locked,
                from_lock: true,
                notes,
            })
        }
        (true, None) => {
            let plan = wanted?;
            write_lock(project, &plan)?;
            Ok(Resolved {
                plan,
                from_lock: false,
                notes: Vec::new(),
            })
        }
        (true, Some(locked)) => {
            let (plan, notes) = merge(&locked, wanted?, &existing)?;
            write_lock(project, &plan)?;
            Ok(Resolved {
                plan,
                from_lock: false,
                notes,
            })
        }
    }
}

fn names(plan: &Plan) -> Vec<&str> {
    plan.nodes.iter().map(|n| n.name.as_str()).collect()
}

/// The wanted plan, checked against what exists: the cluster identity must not change, no existing
/// machine may drop out, existing machines keep the sizes they were made with, and a cluster of the
/// first release keeps its API layout (and its one controller).
fn merge(
    locked: &Plan,
    mut wanted: Plan,
    existing: &BTreeSet<String>,
) -> Result<(Plan, Vec<String>), LockError> {
    same_identity(locked, &wanted)?;
    keeps_existing_machines(locked, &wanted, existing)?;
    keep_legacy_api(locked, &mut wanted)?;
    let mut notes = keep_existing_sizes(locked, &mut wanted, existing);
    notes.extend(k0s_version(locked, &mut wanted)?);
    Ok((wanted, notes))
}

/// The cluster's name, provider and network cannot change under running machines.
fn same_identity(locked: &Plan, wanted: &Plan) -> Result<(), LockError> {
    let show = |v: Option<String>| v.unwrap_or_else(|| "none".to_string());
    let pairs = [
        (
            "CLUSTER_NAME",
            wanted.cluster.name.clone(),
            locked.cluster.name.clone(),
        ),
        (
            "provider",
            wanted.cluster.provider_hint.as_str().to_string(),
            locked.cluster.provider_hint.as_str().to_string(),
        ),
        (
            "NODE_NETWORK",
            show(wanted.cluster.network.map(|n| n.to_string())),
            show(locked.cluster.network.map(|n| n.to_string())),
        ),
    ];
    match pairs.into_iter().find(|(_, w, l)| w != l) {
        Some((what, wanted, locked)) => Err(LockError::ClusterChanged {
            what,
            wanted,
            locked,
        }),
        None => Ok(()),
    }
}

/// Existing machines of one role that a lower count drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The count variable (`WORKER_COUNT`, `CONTROL_PLANE_COUNT`).
    pub var: &'static str,
    pub role: Role,
    /// In plan order.
    pub names: Vec<String>,
}

/// The existing machines a lower count drops, per count variable.
pub fn dropped(locked: &Plan, wanted: &Plan, existing: &BTreeSet<String>) -> Vec<Dropped> {
    [
        (Role::Controller, CONTROL_PLANE_COUNT.name),
        (Role::Worker, WORKER_COUNT.name),
    ]
    .into_iter()
    .map(|(role, var)| {
        let names = locked
            .nodes
            .iter()
            .filter(|n| {
                n.role == role && wanted.node(&n.name).is_none() && existing.contains(&n.name)
            })
            .map(|n| n.name.clone())
            .collect();
        Dropped { var, role, names }
    })
    .filter(|d| !d.names.is_empty())
    .collect()
}

/// Whether `wanted` may follow `locked` once the machines it drops are gone: every refusal of
/// `vagrant up` other than the lower count, checked before any machine goes.
pub fn check_after_removal(
    locked: &Plan,
    wanted: &Plan,
    existing: &BTreeSet<String>,
) -> Result<(), LockError> {
    let gone: BTreeSet<String> = dropped(locked, wanted, existing)
        .into_iter()
        .flat_map(|d| d.names)
        .collect();
    let staying: BTreeSet<String> = existing.difference(&gone).cloned().collect();
    merge(locked, wanted.clone(), &staying).map(|_| ())
}

/// A lower count must not drop a machine that still exists: `vagrant up` removes them first
/// (`cmd::plan`), so this refuses only when that did not happen.
fn keeps_existing_machines(
    locked: &Plan,
    wanted: &Plan,
    existing: &BTreeSet<String>,
) -> Result<(), LockError> {
    let Some(Dropped { var, role, names }) = dropped(locked, wanted, existing).into_iter().next()
    else {
        return Ok(());
    };
    let keep = locked
        .nodes
        .iter()
        .filter(|n| n.role == role)
        .position(|n| names.last() == Some(&n.name))
        .map_or(0, |i| i + 1);
    Err(LockError::WouldRemove {
        var,
        value: wanted.count(role),
        existing: names,
        keep,
    })
}

/// A cluster of the first release keeps its API layout, so it stays at one controller.
fn keep_legacy_api(locked: &Plan, wanted: &mut Plan) -> Result<(), LockError> {
    if locked.cluster.api_mode != ApiMode::Address {
        return Ok(());
    }
    let controllers = wanted.count(Role::Controller);
    if controllers > 1 {
        return Err(LockError::CannotGrowLegacy {
            var: CONTROL_PLANE_COUNT.name,
            value: controllers,
        });
    }
    wanted.cluster.api_mode = ApiMode::Address;
    wanted.cluster.api_address = locked.cluster.api_address;
    Ok(())
}

/// The k0s version: the one the cluster runs (recorded by the deploy) unless K0S_VERSION asks for
/// the next minor or a newer patch. k0sctl refuses a downgrade only after it has connected to every
/// host, and skipping a minor not at all (k0sproject/k0sctl `phase/validate_facts.go`); decided
/// here, nothing changes before the refusal.
fn k0s_version(locked: &Plan, wanted: &mut Plan) -> Result<Option<String>, LockError> {
    let Some(running) = locked.cluster.k0s_version.clone() else {
        return Ok(None);
    };
    let Some(asked) = wanted.cluster.k0s_version.clone() else {
        wanted.cluster.k0s_version = Some(running);
        return Ok(None);
    };
    let (Some(from), Some(to)) = (version::release(&running), version::release(&asked)) else {
        return Ok(None);
    };
    if to < from {
        return Err(LockError::Downgrade {
            wanted: asked,
            running,
        });
    }
    if (to.0, to.1) > (from.0, from.1 + 1) {
        return Err(LockError::SkipsMinor {
            wanted: asked,
            running,
            next: format!("{}.{}", from.0, from.1 + 1),
        });
    }
    Ok((asked != running).then(|| {
        format!(
            "upgrading k0s from {running} to {asked}: the deploy applies it with k0sctl (controllers one at a time, then workers)"
        )
    }))
}

/// An existing machine keeps its sizes (a VM is not resized in place); the notes say so.
fn keep_existing_sizes(
    locked: &Plan,
    wanted: &mut Plan,
    existing: &BTreeSet<String>,
) -> Vec<String> {
    let mut notes = Vec::new();
    for node in wanted.nodes.iter_mut() {
        let Some(old) = locked
            .node(&node.name)
            .filter(|_| existing.contains(&node.name))
        else {
            continue;
        };
        if sizes(node) != sizes(old) {
            notes.push(format!(
                "{} exists and keeps {} vCPUs, {} MB, {} GB from the plan lock; destroy it to apply the new sizes",
                node.name, old.cpus, old.memory_mb, old.disk_gb
            ));
            node.cpus = old.cpus;
            node.memory_mb = old.memory_mb;
            node.disk_gb = old.disk_gb;
        }
    }
    notes
}

fn sizes(node: &Node) -> (u32, u32, u32) {
    (node.cpus, node.memory_mb, node.disk_gb)
}
