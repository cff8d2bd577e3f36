//! artifacts: the k0s binary and the airgap image bundle of the cluster's version for the nodes'
//! architecture, in the host's cache before the render uploads them (downloaded once, verified;
//! offline only checked). An empty K0S_VERSION is resolved here once (newest stable online, the
//! newest cached offline) and recorded in the plan lock, so the render, k0sctl and every later
//! deploy use that one version.

use std::path::{Path, PathBuf};

use super::{Ctx, Phase, PhaseName};
use crate::cache::{Artifacts as Cached, Cache};
use crate::error::Error;
use crate::lock;
use crate::plan::Plan;
use crate::util::files::write_atomic;

pub struct Artifacts;

/// What the last artifacts phase put in place; the render reads it.
fn record_path(state_dir: &Path) -> PathBuf {
    state_dir.join("artifacts.json")
}

/// The cached artifacts to upload for `plan`: the ones the artifacts phase recorded, when they
/// are of the plan's version and still in the cache. `None`: the nodes download k0s themselves.
pub(crate) fn recorded(state_dir: &Path, plan: &Plan) -> Option<Cached> {
    let text = std::fs::read_to_string(record_path(state_dir)).ok()?;
    let found: Cached = serde_json::from_str(&text).ok()?;
    let current = plan.cluster.k0s_version.as_deref() == Some(found.version.as_str());
    let present = found.binary.is_file() && found.bundle.is_file() && found.addons.present();
    (current && present).then_some(found)
}

impl Phase for Artifacts {
    fn name(&self) -> PhaseName {
        PhaseName::Artifacts
    }

    fn title(&self) -> &'static str {
        "Put k0s and its images in the download cache"
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let cache = Cache::new(cx.options.cache.clone());
        let arch = crate::cmd::cache::host_arch()?;
        let version = match cx.plan.cluster.k0s_version.clone() {
            Some(v) => v,
            None => cache.resolve_version(arch)?,
        };
        let mut found = cache.ensure(&version, arch)?;
        eprintln!(
            "    k0s {version} for {arch} from {} (binary and image bundle, verified)",
            cache.store.dir(&version, arch).display()
        );
        // Offline the add-ons' charts and images come from the cache too; online the controllers
        // fetch the charts and the nodes pull the images themselves.
        if cache.config.offline {
            found.addons = cache.addons_offline(&cx.plan.addons.pinned(), arch)?;
            if !found.addons.bundles.is_empty() {
                eprintln!(
                    "    add-ons from the cache: {} charts, {} image bundles",
                    found.addons.charts.len(),
                    found.addons.bundles.len()
                );
            }
        }
        if cx.plan.cluster.k0s_version.is_none() {
            let path = lock::path_in(&cx.state_dir);
            cx.act(
                format!("record k0s {version} in {}", path.display()),
                |cx| {
                    cx.plan.cluster.k0s_version = Some(version.clone());
                    Ok(lock::write_in(&cx.state_dir, &cx.plan)?)
                },
            )?;
        }
        let record = serde_json::to_string_pretty(&found).unwrap_or_default() + "\n";
        let path = record_path(&cx.state_dir);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(record.as_str()) {
            write_atomic(&path, record.as_bytes(), None)?;
        }
        Ok(())
    }
}
