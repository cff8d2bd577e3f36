//! The cache on disk: `<root>/<version>/<arch>/<asset>`, each asset beside a `<asset>.sha256`
//! line written only after the download matched the release's sums, and a `last-used` stamp per
//! version and architecture. Listing and pruning read only this layout.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::release::{Arch, Artifact};
use crate::util::files::{self, FileError, FileOp};
use crate::util::version;

/// The cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    pub root: PathBuf,
}

/// One version and architecture in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub version: String,
    pub arch: Arch,
    /// Bytes of the artifacts present.
    pub size: u64,
    /// Both artifacts are there, each with its checksum record.
    pub verified: bool,
    /// Unix seconds of the last fetch or render that used it.
    pub last_used: Option<u64>,
}

const LAST_USED: &str = "last-used";

impl Store {
    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }

    pub fn dir(&self, version: &str, arch: Arch) -> PathBuf {
        self.root.join(version).join(arch.as_str())
    }

    pub fn path(&self, version: &str, arch: Arch, artifact: Artifact) -> PathBuf {
        self.dir(version, arch).join(artifact.asset(version, arch))
    }

    /// Where the checksum record of `asset` goes.
    pub fn sum_path(file: &Path) -> PathBuf {
        let mut name = file.file_name().unwrap_or_default().to_os_string();
        name.push(".sha256");
        file.with_file_name(name)
    }

    /// The artifact's path when it is in the cache and was verified on download.
    pub fn verified(&self, version: &str, arch: Arch, artifact: Artifact) -> Option<PathBuf> {
        Self::verified_file(&self.path(version, arch, artifact))
    }

    /// Writes the record of a verified file beside it: `sha256sum`'s line for its name.
    pub fn record(path: &Path, sha256: &str) -> Result<(), FileError> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        files::write_atomic(
            &Self::sum_path(path),
            format!("{sha256}  {name}\n").as_bytes(),
            None,
        )
    }

    /// `path` when it is there with the record its verification left (a `.sha256` naming it).
    pub fn verified_file(path: &Path) -> Option<PathBuf> {
        let name = path.file_name()?.to_string_lossy();
        let record = std::fs::read_to_string(Self::sum_path(path)).ok()?;
        let names_it = super::release::parse_sums(&record).contains_key(name.as_ref());
        (names_it && path.is_file()).then(|| path.to_path_buf())
    }

    /// Records that a cluster used this version now (for `cache list`).
    pub fn touch(&self, version: &str, arch: Arch) -> Result<(), FileError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let path = self.dir(version, arch).join(LAST_USED);
        files::write_atomic(&path, format!("{now}\n").as_bytes(), None)
    }

    /// Removes temporary files of downloads that died (a killed process leaves its `.part`), once
    /// they are an hour old: a younger one may belong to a fetch running in another project.
    pub fn clear_stale_parts(&self, version: &str, arch: Arch) {
        let Ok(entries) = std::fs::read_dir(self.dir(version, arch)) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 3600);
            if name.starts_with('.') && name.ends_with(".part") && old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Every version and architecture in the cache, newest version first.
    pub fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        let Ok(versions) = std::fs::read_dir(&self.root) else {
            return out;
        };
        for v in versions.flatten() {
            let version = v.file_name().to_string_lossy().into_owned();
            if version.starts_with('.') || version::k0s_full(&version).is_none() {
                continue;
            }
            for arch in [Arch::Amd64, Arch::Arm64] {
                let dir = self.dir(&version, arch);
                if !dir.is_dir() {
                    continue;
                }
                let size = Artifact::ALL
                    .iter()
                    .filter_map(|a| std::fs::metadata(self.path(&version, arch, *a)).ok())
                    .map(|m| m.len())
                    .sum();
                let verified = Artifact::ALL
                    .iter()
                    .all(|a| self.verified(&version, arch, *a).is_some());
                let last_used = std::fs::read_to_string(dir.join(LAST_USED))
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                out.push(Entry {
                    version: version.clone(),
                    arch,
                    size,
                    verified,
                    last_used,
                });
            }
        }
        out.sort_by(|a, b| {
            sort_key(&b.version)
                .cmp(&sort_key(&a.version))
                .then(a.arch.cmp(&b.arch))
        });
        out
    }

    /// The newest version whose both artifacts for `arch` are verified here.
    pub fn newest_complete(&self, arch: Arch) -> Option<String> {
        self.entries()
            .into_iter()
            .find(|e| e.arch == arch && e.verified)
            .map(|e| e.version)
    }

    /// Removes one version and architecture (and the version's directory once it is empty).
    pub fn remove(&self, version: &str, arch: Arch) -> Result<(), FileError> {
        files::remove_dir(&self.dir(version, arch))?;
        let vdir = self.root.join(version);
        if std::fs::read_dir(&vdir).is_ok_and(|mut d| d.next().is_none()) {
            std::fs::remove_dir(&vdir).map_err(FileError::new(FileOp::Remove, &vdir))?;
        }
        Ok(())
    }
}

/// Orders k0s versions: release number, then prerelease before release, then the k0s build.
pub fn sort_key(v: &str) -> (version::Version, bool, u64, String) {
    let release = version::release(v).unwrap_or((0, 0, 0));
    let core = v.split('+').next().unwrap_or(v);
    let stable = !core.contains('-');
    let build = v
        .rsplit_once("+k0s.")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0);
    (release, stable, build, v.to_string())
}

/// What `cache prune` removes: everything but the versions in `keep` (any architecture) and the
/// newest `newest` versions.
pub fn to_prune(entries: &[Entry], keep: &[String], newest: usize) -> Vec<Entry> {
    let mut versions: Vec<&str> = entries.iter().map(|e| e.version.as_str()).collect();
    versions.sort_by_key(|v| std::cmp::Reverse(sort_key(v)));
    versions.dedup();
    let newest: Vec<&str> = versions.into_iter().take(newest).collect();
    entries
        .iter()
        .filter(|e| !keep.contains(&e.version) && !newest.contains(&e.version.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: &str, arch: Arch) -> Entry {
        Entry {
            version: version.into(),
            arch,
            size: 1,
            verified: true,
            last_used: None,
        }
    }

    #[test]
    fn versions_order_by_release_then_build() {
        let mut v = vec![
            "v1.33.4+k0s.0",
            "v1.33.10+k0s.0",
            "v1.33.4+k0s.1",
            "v1.34.0-rc.1+k0s.0",
            "v1.34.0+k0s.0",
        ];
        v.sort_by_key(|v| sort_key(v));
        assert_eq!(
            v,
            [
                "v1.33.4+k0s.0",
                "v1.33.4+k0s.1",
                "v1.33.10+k0s.0",
                "v1.34.0-rc.1+k0s.0",
                "v1.34.0+k0s.0"
            ]
        );
    }

    #[test]
    fn prune_keeps_the_recorded_and_the_newest() {
        let entries = [
            entry("v1.34.1+k0s.0", Arch::Amd64),
            entry("v1.34.1+k0s.0", Arch::Arm64),
            entry("v1.33.4+k0s.0", Arch::Amd64),
            entry("v1.32.1+k0s.0", Arch::Amd64),
        ];
        let gone = to_prune(&entries, &["v1.32.1+k0s.0".into()], 1);
        assert_eq!(gone, [entry("v1.33.4+k0s.0", Arch::Amd64)]);
        assert_eq!(to_prune(&entries, &[], 0).len(), 4);
    }
}
