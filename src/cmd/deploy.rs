//! `deploy`: the post-up hook. Decides whether to deploy now, then runs the deploy phases.

use super::user_kubeconfig;
use crate::adapters::vagrant::{Invocation, Project};
use crate::cli::DeployArgs;
use crate::deploy;
use crate::error::Error;
use crate::inventory::{Inventory, VagrantFacts};
use crate::lock;
use crate::plan::Plan;
use crate::settings::{DeployOptions, RawSettings};
use crate::util::files::{self, FileError, FileOp};

pub fn run(
    project: &Project,
    args: &DeployArgs,
    env: &RawSettings,
    offline: bool,
) -> Result<(), Error> {
    // Every deploy setting is checked before anything happens: a bad one is exit 2 with one line.
    let options = DeployOptions::from_raw(env)?;
    let cache = crate::settings::cache_config(env, offline)?;
    if args.facts.is_some() && options.skip_deploy {
        eprintln!(
            "k0s-vagrant: not deploying: {}=1 (set by `k0s-vagrant drill`)",
            crate::settings::K0S_VAGRANT_SKIP_DEPLOY.name
        );
        return Ok(());
    }
    let state_dir = project.state_dir();
    files::create_dir(&state_dir)?;
    // One deploy per cluster at a time; the lock goes with the process.
    let lock_path = state_dir.join("deploy.lock");
    let lock_file =
        std::fs::File::create(&lock_path).map_err(FileError::new(FileOp::Create, &lock_path))?;
    if let Err(std::fs::TryLockError::WouldBlock) = lock_file.try_lock() {
        eprintln!(
            "k0s-vagrant: another deploy of this cluster is running (lock {}); skipping this one",
            lock_path.display()
        );
        return Ok(());
    }
    let plan = lock::require(project)?;
    let Some(inventory) = inventory_for_deploy(&plan, args, &state_dir)? else {
        return Ok(());
    };
    let options = deploy::Options {
        timeouts: deploy::Timeouts::from_limits(
            options.ssh_wait,
            options.apply_timeout,
            options.ready_timeout,
            options.api_wait,
        ),
        merge_kubeconfig: options.merge_kubeconfig,
        user_kubeconfig: user_kubeconfig(env),
        k0sctl: options.k0sctl,
        until: args.until.or(options.until),
        cache,
    };
    let until = options.until;
    let mut cx = deploy::Ctx::new(state_dir, plan, inventory, options);
    deploy::run(&mut cx, until)
}

/// The inventory to deploy to: from Vagrant's facts (written after every machine's `up`), or the
/// last one. `None` means "not now": a machine of this `vagrant up` is still coming up (its own
/// trigger will deploy), or a planned machine is not running (said in one line).
fn inventory_for_deploy(
    plan: &Plan,
    args: &DeployArgs,
    state_dir: &std::path::Path,
) -> Result<Option<Inventory>, Error> {
    let Some(path) = &args.facts else {
        return Ok(Some(Inventory::read(state_dir)?));
    };
    let facts = VagrantFacts::read(path)?;
    let names: Vec<String> = plan.nodes.iter().map(|n| n.name.clone()).collect();
    let pending: Vec<&str> = Invocation::up_targets(&args.vagrant_args, &names)
        .into_iter()
        .filter(|t| !facts.machines.iter().any(|m| m.name == *t && m.finished))
        .collect();
    if !pending.is_empty() {
        tracing::debug!(?pending, "not deploying yet");
        return Ok(None);
    }
    let previous = Inventory::read(state_dir).ok();
    match Inventory::from_facts(plan, &facts, previous.as_ref())? {
        Ok(inventory) => {
            inventory.write(state_dir)?;
            Ok(Some(inventory))
        }
        Err(not_all) => {
            let list: Vec<String> = not_all
                .not_running
                .iter()
                .map(|(n, s)| format!("{n} ({s})"))
                .collect();
            eprintln!(
                "k0s-vagrant: not deploying: {} not running; `vagrant up` brings up every machine and deploys",
                list.join(", ")
            );
            Ok(None)
        }
    }
}
