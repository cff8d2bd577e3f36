//! The host's download cache of k0s release artifacts: per k0s version and node architecture
//! the k0s binary and the airgap image bundle, each verified against the release's
//! `sha256sums.txt` before it lands here. The render uploads them to every node from here, so
//! nodes download nothing; offline, the cache is all there is.

pub mod addons;
pub mod charts;
pub mod download;
pub mod images;
pub mod release;
pub mod store;

use std::path::PathBuf;

pub use release::{Arch, Artifact};
pub use store::Store;

use crate::addons::registry::Mirror;
use crate::util::exit::Category;
use crate::util::files::FileError;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("download {url} failed: HTTP {status}{}{}", tries(*attempts), status_hint(*status, via))]
    Http {
        url: String,
        status: u16,
        attempts: u32,
        /// The setting that points the download elsewhere.
        via: &'static str,
    },
    #[error("download {url} failed: {reason}{}; check the network (and HTTPS_PROXY), or set {via} to a reachable mirror", tries(*attempts))]
    Network {
        url: String,
        reason: String,
        attempts: u32,
        via: &'static str,
    },
    #[error("{url}: SHA-256 {got} does not match {expected} from sha256sums.txt, so the download was discarded; try again, or make K0S_VAGRANT_MIRROR serve the release unchanged")]
    ChecksumMismatch {
        url: String,
        expected: String,
        got: String,
    },
    #[error("{sums_url} has no checksum for {asset}, so it cannot be verified; check the version and K0S_VAGRANT_MIRROR")]
    NoChecksum { sums_url: String, asset: String },
    #[error("{url} names no k0s version (it says {said:?}); set K0S_VERSION, e.g. K0S_VERSION=v1.33.4+k0s.0")]
    BadStable { url: String, said: String },
    #[error("offline (K0S_VAGRANT_OFFLINE=1 or --offline) and the cache has no {what} {asset}; run `k0s-vagrant cache fetch --version {version} --arch {arch}` while online, or go online")]
    Missing {
        what: &'static str,
        asset: String,
        version: String,
        arch: Arch,
    },
    #[error("offline (K0S_VAGRANT_OFFLINE=1 or --offline), K0S_VERSION is empty and the cache holds no complete k0s for {arch}; set K0S_VERSION to a cached version (`k0s-vagrant cache list`), or run `k0s-vagrant cache fetch --arch {arch}` while online")]
    NoVersionOffline { arch: Arch },
    #[error("--version {value} is not a full k0s version (allowed e.g. v1.33.4+k0s.0)")]
    BadVersion { value: String },
    #[error(
        "k0s publishes no {arch} build for the nodes of this host; use an amd64 or arm64 host"
    )]
    UnsupportedArch { arch: String },
    #[error(
        "HTTPS_PROXY={proxy} is not a proxy URL ({reason}); use the form http://proxy.example:3128"
    )]
    BadProxy { proxy: String, reason: String },
    #[error("offline (K0S_VAGRANT_OFFLINE=1 or --offline) and the cache has no {what}; run `k0s-vagrant cache fetch --arch {arch}` while online (it fetches what ADDONS names), or set ADDONS=none")]
    AddonMissing { what: String, arch: Arch },
    #[error("{url} lists no chart {chart} version {version}; check CHART_MIRRORS (when set) mirrors that repository")]
    ChartNotFound {
        url: String,
        chart: &'static str,
        version: &'static str,
    },
    #[error("{url} gives no SHA-256 digest for chart {chart}, so it cannot be verified; use a repository that publishes digests (CHART_MIRRORS)")]
    NoChartDigest { url: String, chart: &'static str },
    #[error("{url} wants credentials ({challenge}); k0s-vagrant pulls add-on images anonymously: set REGISTRY_MIRRORS to a mirror that serves them without login")]
    RegistryAuth { url: String, challenge: String },
    #[error("{image} has no linux/{arch} image, so its add-on cannot run on these nodes; leave that add-on out of ADDONS")]
    NoPlatform { image: String, arch: Arch },
    #[error("{url} is not an image manifest ({reason}); check that REGISTRY_MIRRORS (when set) serves that registry's API")]
    BadManifest { url: String, reason: String },
    #[error("{url} is not a Helm repository index ({reason}); check that CHART_MIRRORS (when set) points at the repository, where index.yaml is")]
    BadIndex { url: String, reason: String },
    #[error("{url}: SHA-256 {got} does not match the digest {expected} it was asked for, so it was discarded; try again, or check {via}")]
    DigestMismatch {
        url: String,
        expected: String,
        got: String,
        via: &'static str,
    },
    #[error(transparent)]
    File(#[from] FileError),
}

fn tries(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

fn status_hint(status: u16, via: &str) -> String {
    if status >= 500 {
        format!("; the server failed: try again later, or set {via} to another mirror")
    } else if via == K0S_MIRROR {
        format!("; check that k0s published this version and that {via} (when set) mirrors it")
    } else {
        format!("; check that {via} (when set) mirrors it")
    }
}

/// The setting that points k0s downloads elsewhere.
pub(crate) const K0S_MIRROR: &str = "K0S_VAGRANT_MIRROR";

impl CacheError {
    /// A server or the network: remote (4). What the host lacks offline: a missing tool (3), as
    /// a missing k0sctl is: the fix is to fetch something, not to change a setting.
    pub fn category(&self) -> Category {
        match self {
            CacheError::Http { .. }
            | CacheError::Network { .. }
            | CacheError::ChecksumMismatch { .. }
            | CacheError::NoChecksum { .. }
            | CacheError::BadStable { .. }
            | CacheError::ChartNotFound { .. }
            | CacheError::NoChartDigest { .. }
            | CacheError::RegistryAuth { .. }
            | CacheError::NoPlatform { .. }
            | CacheError::BadManifest { .. }
            | CacheError::BadIndex { .. }
            | CacheError::DigestMismatch { .. } => Category::Remote,
            CacheError::Missing { .. }
            | CacheError::AddonMissing { .. }
            | CacheError::NoVersionOffline { .. }
            | CacheError::UnsupportedArch { .. } => Category::MissingTool,
            CacheError::BadProxy { .. } | CacheError::BadVersion { .. } => Category::BadInput,
            CacheError::File(_) => Category::Failed,
        }
    }

    fn from_ureq(url: &str, e: ureq::Error) -> CacheError {
        match e {
            ureq::Error::StatusCode(status) => CacheError::Http {
                url: url.to_string(),
                status,
                attempts: 1,
                via: K0S_MIRROR,
            },
            other => CacheError::Network {
                url: url.to_string(),
                reason: other.to_string(),
                attempts: 1,
                via: K0S_MIRROR,
            },
        }
    }

    /// The same failure of a download that `var` points elsewhere (an add-on's chart or image).
    pub(crate) fn via(self, var: &'static str) -> CacheError {
        match self {
            CacheError::Http {
                url,
                status,
                attempts,
                ..
            } => CacheError::Http {
                url,
                status,
                attempts,
                via: var,
            },
            CacheError::Network {
                url,
                reason,
                attempts,
                ..
            } => CacheError::Network {
                url,
                reason,
                attempts,
                via: var,
            },
            CacheError::ChecksumMismatch { url, expected, got } => CacheError::DigestMismatch {
                url,
                expected,
                got,
                via: var,
            },
            other => other,
        }
    }

    /// Worth another attempt: a server error or the network; never a 4xx or a bad checksum.
    fn retryable(&self) -> bool {
        match self {
            CacheError::Http { status, .. } => *status >= 500,
            CacheError::Network { .. } => true,
            _ => false,
        }
    }

    fn after(self, n: u32) -> CacheError {
        match self {
            CacheError::Http {
                url, status, via, ..
            } => CacheError::Http {
                url,
                status,
                attempts: n,
                via,
            },
            CacheError::Network {
                url, reason, via, ..
            } => CacheError::Network {
                url,
                reason,
                attempts: n,
                via,
            },
            other => other,
        }
    }
}

/// Where the cache is and how it may fetch (from `settings::CacheOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub dir: PathBuf,
    pub mirror: String,
    pub stable_url: String,
    pub offline: bool,
    pub proxy: Option<String>,
    /// REGISTRY_MIRRORS: the add-on images are pulled from a registry's mirror when it has one.
    pub registry_mirrors: Vec<Mirror>,
    /// CHART_MIRRORS: by Helm repository name.
    pub chart_mirrors: Vec<Mirror>,
}

/// Both artifacts of one version and architecture, verified, in the cache; offline also the
/// add-ons' charts and image bundles.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Artifacts {
    pub version: String,
    pub arch: Arch,
    pub binary: PathBuf,
    pub bundle: PathBuf,
    #[serde(default)]
    pub addons: addons::AddonArtifacts,
}

/// The cache with its fetch rules.
pub struct Cache {
    pub store: Store,
    pub config: Config,
    http: std::cell::OnceCell<download::Http>,
}

impl Cache {
    pub fn new(config: Config) -> Cache {
        Cache {
            store: Store::new(config.dir.clone()),
            config,
            http: std::cell::OnceCell::new(),
        }
    }

    /// With a given HTTP client (tests shorten its backoff).
    pub fn with_http(config: Config, http: download::Http) -> Cache {
        let cache = Cache::new(config);
        let _ = cache.http.set(http);
        cache
    }

    fn http(&self) -> Result<&download::Http, CacheError> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let http = download::Http::new(self.config.proxy.as_deref())?;
        Ok(self.http.get_or_init(|| http))
    }

    /// Both artifacts when the cache holds them verified.
    pub fn artifacts(&self, version: &str, arch: Arch) -> Option<Artifacts> {
        Some(Artifacts {
            version: version.to_string(),
            arch,
            binary: self.store.verified(version, arch, Artifact::Binary)?,
            bundle: self.store.verified(version, arch, Artifact::Bundle)?,
            addons: addons::AddonArtifacts::default(),
        })
    }

    /// Both artifacts from the cache, or the error that names the first one missing and the
    /// command that fetches it.
    pub fn check_offline(&self, version: &str, arch: Arch) -> Result<Artifacts, CacheError> {
        let path = |artifact: Artifact| {
            self.store
                .verified(version, arch, artifact)
                .ok_or_else(|| CacheError::Missing {
                    what: artifact.what(),
                    asset: artifact.asset(version, arch),
                    version: version.to_string(),
                    arch,
                })
        };
        Ok(Artifacts {
            version: version.to_string(),
            arch,
            binary: path(Artifact::Binary)?,
            bundle: path(Artifact::Bundle)?,
            addons: addons::AddonArtifacts::default(),
        })
    }

    /// The version to use when none is recorded or asked for: offline the newest complete one
    /// in the cache, online the newest stable release.
    pub fn resolve_version(&self, arch: Arch) -> Result<String, CacheError> {
        if self.config.offline {
            return self
                .store
                .newest_complete(arch)
                .ok_or(CacheError::NoVersionOffline { arch });
        }
        let url = &self.config.stable_url;
        let said = self.http()?.text(url)?;
        release::parse_stable(&said).ok_or_else(|| CacheError::BadStable {
            url: url.clone(),
            said: said.chars().take(40).collect(),
        })
    }

    /// Both artifacts, downloading what is missing (not offline). A cached pair costs no request.
    pub fn ensure(&self, version: &str, arch: Arch) -> Result<Artifacts, CacheError> {
        if self.config.offline {
            let found = self.check_offline(version, arch)?;
            self.store.touch(version, arch)?;
            return Ok(found);
        }
        let missing: Vec<Artifact> = Artifact::ALL
            .into_iter()
            .filter(|a| self.store.verified(version, arch, *a).is_none())
            .collect();
        if !missing.is_empty() {
            self.store.clear_stale_parts(version, arch);
            let sums_url = release::url(&self.config.mirror, version, release::SUMS);
            let sums = release::parse_sums(&self.http()?.text(&sums_url)?);
            for artifact in missing {
                let asset = artifact.asset(version, arch);
                let sha = sums.get(&asset).ok_or_else(|| CacheError::NoChecksum {
                    sums_url: sums_url.clone(),
                    asset: asset.clone(),
                })?;
                let dest = self.store.path(version, arch, artifact);
                let url = release::url(&self.config.mirror, version, &asset);
                let fetched = self.http()?.file(&url, &dest, sha)?;
                tracing::info!(
                    "{asset}: {} in {:.1?}",
                    download::mib(fetched.bytes),
                    fetched.elapsed
                );
                Store::record(&dest, sha)?;
            }
        }
        self.store.touch(version, arch)?;
        self.check_offline(version, arch)
    }
}
