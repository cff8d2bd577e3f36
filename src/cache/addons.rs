//! The add-ons in the cache, for offline clusters: each chart archive
//! (`<root>/addons/charts/<chart>-<version>.tgz`) and one image bundle per add-on, version and
//! architecture (`<root>/addons/images/<arch>/addon-<addon>-<version>.tar`), each beside a `.sha256`
//! record written only after it was verified (the chart against its repository's digest, every
//! image blob against its own). What an add-on needs is pinned in `crate::addons` ([`Pinned`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{charts, download, images, Arch, Cache, CacheError, Store};
use crate::addons::{ChartRef, Pinned};
use crate::util::digest::sha256_file;

/// The cached files offline add-ons upload: charts to the controllers, bundles to every node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddonArtifacts {
    pub charts: Vec<CachedChart>,
    pub bundles: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedChart {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
}

impl AddonArtifacts {
    /// Every file is still there.
    pub fn present(&self) -> bool {
        self.charts.iter().all(|c| c.path.is_file()) && self.bundles.iter().all(|b| b.is_file())
    }
}

/// One add-on file the cache holds, for `cache list` and `prune`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonEntry {
    /// `chart metallb 0.15.3` or `images of load-balancer 0.15.3`.
    pub what: String,
    /// `None` for charts (they serve every architecture).
    pub arch: Option<Arch>,
    pub path: PathBuf,
    pub size: u64,
    pub verified: bool,
    /// This release pins it (`cache prune` removes the others).
    pub pinned: bool,
}

impl Store {
    fn addons_dir(&self) -> PathBuf {
        self.root.join("addons")
    }

    pub fn chart_path(&self, chart: &ChartRef) -> PathBuf {
        self.addons_dir().join("charts").join(chart.file_name())
    }

    pub fn bundle_path(&self, pinned: &Pinned, arch: Arch) -> PathBuf {
        self.addons_dir()
            .join("images")
            .join(arch.as_str())
            .join(pinned.bundle_name())
    }

    /// Every add-on file in the cache: the ones this release pins, and the ones it does not
    /// (older pins, which `cache prune` removes).
    pub fn addon_entries(&self) -> Vec<AddonEntry> {
        let mut known = Vec::new();
        for p in Pinned::all() {
            if let Some(chart) = p.chart {
                known.push((
                    format!("chart {} {}", chart.name, chart.version),
                    None,
                    self.chart_path(&chart),
                ));
            }
            for arch in [Arch::Amd64, Arch::Arm64] {
                known.push((
                    format!("images of {} {}", p.addon, p.version),
                    Some(arch),
                    self.bundle_path(&p, arch),
                ));
            }
        }
        let mut found: Vec<AddonEntry> = Vec::new();
        let dirs = [self.addons_dir().join("charts")].into_iter().chain(
            [Arch::Amd64, Arch::Arm64]
                .into_iter()
                .map(|a| self.addons_dir().join("images").join(a.as_str())),
        );
        for dir in dirs {
            let Ok(read) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = read
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    !name.starts_with('.') && !name.ends_with(".sha256")
                })
                .collect();
            paths.sort();
            for path in paths {
                let (what, arch, pinned) = match known.iter().find(|(_, _, p)| *p == path) {
                    Some((what, arch, _)) => (what.clone(), *arch, true),
                    None => (
                        format!(
                            "{} (no longer used)",
                            path.file_name().unwrap_or_default().to_string_lossy()
                        ),
                        Arch::parse(
                            &path
                                .parent()
                                .and_then(|p| p.file_name())
                                .unwrap_or_default()
                                .to_string_lossy(),
                        ),
                        false,
                    ),
                };
                found.push(AddonEntry {
                    what,
                    arch,
                    size: std::fs::metadata(&path).map_or(0, |m| m.len()),
                    verified: Store::verified_file(&path).is_some(),
                    pinned,
                    path,
                });
            }
        }
        found
    }
}

impl Cache {
    /// What `pinned` needs for `arch`, when the cache holds all of it verified; else the error
    /// naming the first thing missing.
    pub fn addons_offline(
        &self,
        pinned: &[Pinned],
        arch: Arch,
    ) -> Result<AddonArtifacts, CacheError> {
        let mut found = AddonArtifacts::default();
        for p in pinned {
            if let Some(chart) = p.chart {
                let path =
                    Store::verified_file(&self.store.chart_path(&chart)).ok_or_else(|| {
                        CacheError::AddonMissing {
                            what: format!("chart {} {}", chart.name, chart.version),
                            arch,
                        }
                    })?;
                found.charts.push(CachedChart {
                    name: chart.name.to_string(),
                    version: chart.version.to_string(),
                    path,
                });
            }
            let bundle =
                Store::verified_file(&self.store.bundle_path(p, arch)).ok_or_else(|| {
                    CacheError::AddonMissing {
                        what: format!("image bundle of {} {} for {arch}", p.addon, p.version),
                        arch,
                    }
                })?;
            found.bundles.push(bundle);
        }
        Ok(found)
    }

    /// What `pinned` needs for `arch`, downloading what is missing (not offline): charts from
    /// their repositories (or CHART_MIRRORS), images from their registries (or REGISTRY_MIRRORS).
    pub fn ensure_addons(
        &self,
        pinned: &[Pinned],
        arch: Arch,
    ) -> Result<AddonArtifacts, CacheError> {
        if self.config.offline {
            return self.addons_offline(pinned, arch);
        }
        for p in pinned {
            if let Some(chart) = p.chart {
                let dest = self.store.chart_path(&chart);
                if Store::verified_file(&dest).is_none() {
                    let (fetched, sha) =
                        charts::fetch(self.http()?, &chart, &self.config.chart_mirrors, &dest)?;
                    Store::record(&dest, &sha)?;
                    tracing::info!("chart {}: {}", chart.name, download::mib(fetched.bytes));
                }
            }
            let dest = self.store.bundle_path(p, arch);
            if Store::verified_file(&dest).is_none() {
                self.pull_bundle(p, arch, &dest)?;
            }
        }
        self.addons_offline(pinned, arch)
    }

    /// Pulls every image of `p` into a staging directory beside the bundle, writes the bundle and
    /// its record, and removes the staging directory (also on failure).
    fn pull_bundle(
        &self,
        p: &Pinned,
        arch: Arch,
        dest: &std::path::Path,
    ) -> Result<(), CacheError> {
        let staging = dest.with_file_name(format!(".{}.blobs", p.bundle_name()));
        let result = (|| {
            let mut pulled = Vec::new();
            for image in p.images {
                eprintln!("    pulling {image} for {arch}");
                pulled.push(images::pull(
                    self.http()?,
                    image,
                    arch,
                    &self.config.registry_mirrors,
                    &staging,
                )?);
            }
            images::write_bundle(&pulled, dest)?;
            let sha = sha256_file(dest)?;
            Store::record(dest, &sha)?;
            let bytes: u64 = pulled.iter().map(|i| i.bytes).sum();
            eprintln!(
                "    {} images of {} {} for {arch}: {} downloaded, bundle {}",
                pulled.len(),
                p.addon,
                p.version,
                download::mib(bytes),
                download::mib(std::fs::metadata(dest).map_or(0, |m| m.len()))
            );
            Ok(())
        })();
        let _ = std::fs::remove_dir_all(&staging);
        result
    }
}
