//! Settings: every environment variable the helper reads, in one table ([`ALL_VARS`]), read as
//! strings (`RawSettings`) and then validated: the cluster's shape into [`Settings`] (it goes into
//! the plan), how the deploy runs into [`DeployOptions`]. Every rule of README's variable tables
//! lives here; `--help` lists the table and a test holds README to it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;

use crate::adapters::k0sctl::K0sctlSearch;
use crate::addons::{registry, AddonSettings, AddonsError, LbMode, Pool, Selection};
use crate::deploy::PhaseName;
use crate::util::exit::Category;
use crate::util::text::plural;
use crate::util::version;
use VarKind::{Cluster, Runtime, Standard};

/// What a variable is for: which command checks it, and which README table lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    /// The cluster's shape: checked into [`Settings`] on every command, it goes into the plan.
    Cluster,
    /// How the helper runs (limits, switches, tools, state): read by the commands that use it and
    /// checked only there, so a bad deploy timeout never stops `vagrant destroy`.
    Runtime,
    /// The user's standard variables, read as they are and never changed.
    Standard,
}

/// One variable the helper reads: its names, and what `--help` and README say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    /// The lowercase spelling the original single-node setup used.
    pub alias: Option<&'static str>,
    pub kind: VarKind,
    /// The default as people read it: a value, or what happens when it is unset.
    pub default: &'static str,
    /// What is allowed, in the words the errors use.
    pub allowed: &'static str,
    /// What it does, in a few words.
    pub description: &'static str,
}

impl Var {
    const fn new(
        kind: VarKind,
        name: &'static str,
        default: &'static str,
        allowed: &'static str,
        description: &'static str,
    ) -> Var {
        Var {
            name,
            alias: None,
            kind,
            default,
            allowed,
            description,
        }
    }

    const fn alias(self, alias: &'static str) -> Var {
        Var {
            alias: Some(alias),
            ..self
        }
    }
}

pub const CONTROL_PLANE_COUNT: Var = Var::new(
    Cluster,
    "CONTROL_PLANE_COUNT",
    "1",
    "1..=3",
    "controllers, control-plane-1..3",
)
.alias("control_plane_count");
pub const WORKER_COUNT: Var = Var::new(
    Cluster,
    "WORKER_COUNT",
    "1",
    "1..=5",
    "workers, worker-1..5",
)
.alias("worker_count");
pub const MEMORY_CONTROL: Var = Var::new(
    Cluster,
    "MEMORY_CONTROL",
    "2048",
    ">= 1024",
    "memory of each controller, in MB",
)
.alias("memory_control");
pub const MEMORY_WORKER: Var = Var::new(
    Cluster,
    "MEMORY_WORKER",
    "4096",
    ">= 1024",
    "memory of each worker, in MB",
)
.alias("memory_worker");
pub const CPU_CONTROL: Var = Var::new(
    Cluster,
    "CPU_CONTROL",
    "2",
    ">= 1",
    "vCPUs of each controller",
)
.alias("cpu_control");
pub const CPU_WORKER: Var =
    Var::new(Cluster, "CPU_WORKER", "2", ">= 1", "vCPUs of each worker").alias("cpu_worker");
pub const DISK_SIZE: Var = Var::new(
    Cluster,
    "DISK_SIZE",
    "32",
    ">= 20",
    "disk of every node, in GB",
)
.alias("disk_size");
pub const CLUSTER_NAME: Var = Var::new(
    Cluster,
    "CLUSTER_NAME",
    DEFAULT_CLUSTER_NAME,
    "DNS label (a-z, 0-9, -, at most 63)",
    "prefixes Tart VM names (k0s-worker-1), names the libvirt network k0s-<name>",
);
pub const NODE_NETWORK: Var = Var::new(
    Cluster,
    "NODE_NETWORK",
    DEFAULT_NODE_NETWORK,
    "IPv4 network with room for the nodes and the control-plane address .100 (a /25 or larger), not inside 192.168.121.0/24",
    "libvirt private network; Tart assigns addresses itself",
);
pub const K0S_VERSION: Var = Var::new(
    Cluster,
    "K0S_VERSION",
    "empty: newest stable",
    "full form v1.33.4+k0s.0, at least v1.32.1+k0s.0",
    "k0s version to install",
);
pub const TART_IMAGE: Var = Var::new(
    Cluster,
    "TART_IMAGE",
    DEFAULT_TART_IMAGE,
    "a Tart image",
    "image of every Tart VM",
);
pub const LIBVIRT_BOX: Var = Var::new(
    Cluster,
    "LIBVIRT_BOX",
    DEFAULT_LIBVIRT_BOX,
    "a libvirt box",
    "box of every libvirt VM",
);
pub const LIBVIRT_DRIVER: Var = Var::new(
    Cluster,
    "LIBVIRT_DRIVER",
    "kvm with hardware virtualization (kvm_intel/kvm_amd on x86_64, kvm on aarch64), else qemu",
    "kvm, qemu",
    "libvirt domain type",
);

pub const ADDONS: Var = Var::new(
    Cluster,
    "ADDONS",
    "storage,load-balancer",
    "a comma list of storage, load-balancer, ingress; or none",
    "add-ons the deploy installs (see Add-ons)",
);
pub const LB_MODE: Var = Var::new(
    Cluster,
    "LB_MODE",
    "l2 on libvirt, node-ip on Tart",
    "l2 (libvirt only), node-ip",
    "how LoadBalancer services get addresses: a pool announced on the node network, or the nodes' own",
);
pub const LB_POOL: Var = Var::new(
    Cluster,
    "LB_POOL",
    "the 32 highest addresses of NODE_NETWORK (a /24: .223-.254)",
    "a range A-B or a CIDR inside NODE_NETWORK, above .100 and without node addresses (LB_MODE=l2)",
    "addresses LoadBalancer services get on libvirt",
);

pub const REGISTRY_MIRRORS: Var = Var::new(
    Cluster,
    "REGISTRY_MIRRORS",
    "none",
    "REGISTRY=URL[,REGISTRY=URL...], e.g. docker.io=http://192.168.56.1:5001",
    "a mirror containerd tries first for each registry, on every node, and where cache fetch pulls add-on images from",
);

/// What the duration variables allow: plain seconds or a unit form (see [`parse_seconds`]).
const DURATION_ALLOWED: &str = "1s..=24h, as seconds or with units: 90, 90s, 10m, 1m30s";

pub const K0S_VAGRANT_SSH_WAIT: Var = Var::new(
    Runtime,
    "K0S_VAGRANT_SSH_WAIT",
    "300",
    DURATION_ALLOWED,
    "how long wait-ssh keeps trying to reach every node",
);
pub const K0S_VAGRANT_APPLY_TIMEOUT: Var = Var::new(
    Runtime,
    "K0S_VAGRANT_APPLY_TIMEOUT",
    "1800",
    DURATION_ALLOWED,
    "how long k0sctl apply may run before it is stopped",
);
pub const K0S_VAGRANT_READY_TIMEOUT: Var = Var::new(
    Runtime,
    "K0S_VAGRANT_READY_TIMEOUT",
    "600",
    DURATION_ALLOWED,
    "how long wait-ready waits for every node to be Ready",
);
pub const K0S_VAGRANT_API_WAIT: Var = Var::new(
    Runtime,
    "K0S_VAGRANT_API_WAIT",
    "60",
    DURATION_ALLOWED,
    "how long the api phase keeps asking the API from this host",
);
pub const K0S_VAGRANT_DEPLOY_UNTIL: Var = Var::new(
    Runtime,
    "K0S_VAGRANT_DEPLOY_UNTIL",
    "all phases",
    "wait-ssh, preflight, artifacts, render, apply, wait-ready, version, taints, kubeconfig, api",
    "the deploy stops after this phase (deploy --until wins)",
);
pub const K0S_VAGRANT_SKIP_DEPLOY: Var = Var::new(
    Runtime,
    "K0S_VAGRANT_SKIP_DEPLOY",
    "0",
    "1, 0",
    "1: the post-up hook does not deploy (k0s-vagrant drill sets it for its restore)",
);
pub const K0S_KUBECONFIG_MERGE: Var = Var::new(
    Runtime,
    "K0S_KUBECONFIG_MERGE",
    "true",
    "true, false",
    "merge the context k0s-<CLUSTER_NAME> into your kubeconfig (1/0 and yes/no work too)",
);
pub const K0SCTL: Var = Var::new(
    Runtime,
    "K0SCTL",
    "k0sctl on PATH",
    "path to k0sctl v0.19.3 or newer",
    "the k0sctl that vagrant up checks and the deploy runs",
);
pub const VAGRANT_DOTFILE_PATH: Var = Var::new(
    Runtime,
    "VAGRANT_DOTFILE_PATH",
    ".vagrant",
    "a directory, relative to the project or absolute",
    "Vagrant's data directory; the helper keeps its state in its k0s/",
);
pub const VAGRANT_DEFAULT_PROVIDER: Var = Var::new(
    Runtime,
    "VAGRANT_DEFAULT_PROVIDER",
    "tart on macOS, libvirt elsewhere",
    "tart, libvirt",
    "the provider when the Vagrant command has no --provider",
);
pub const K0S_VAGRANT_CACHE: Var = Var::new(
    Runtime,
    "K0S_VAGRANT_CACHE",
    "$XDG_CACHE_HOME/k0s-vagrant, else ~/.cache/k0s-vagrant",
    "an absolute directory",
    "the download cache: k0s binaries and airgap image bundles per version and architecture, add-on charts and images",
);
pub const K0S_VAGRANT_MIRROR: Var = Var::new(
    Runtime,
    "K0S_VAGRANT_MIRROR",
    crate::cache::release::DEFAULT_MIRROR,
    "an http:// or https:// URL holding <version>/<asset> and <version>/sha256sums.txt",
    "where k0s releases are downloaded from; a mirror also answers stable.txt at its top",
);
pub const CHART_MIRRORS: Var = Var::new(
    Runtime,
    "CHART_MIRRORS",
    "none",
    "REPOSITORY=URL[,REPOSITORY=URL...] for metallb, traefik, e.g. metallb=https://charts.example/metallb",
    "the Helm repository an add-on's chart is fetched from for offline use, instead of its own",
);
pub const K0S_VAGRANT_OFFLINE: Var = Var::new(
    Runtime,
    "K0S_VAGRANT_OFFLINE",
    "0",
    "1, 0",
    "1: download nothing, the cache must hold what the plan needs (the flag --offline too)",
);
pub const KUBECONFIG: Var = Var::new(
    Standard,
    "KUBECONFIG",
    "~/.kube/config",
    "paths separated by :",
    "the deploy merges into its first path",
);
pub const HOME: Var = Var::new(
    Standard,
    "HOME",
    "from your login",
    "a directory",
    "gives ~/.kube/config when KUBECONFIG is unset",
);
pub const PATH: Var = Var::new(
    Standard,
    "PATH",
    "from your shell",
    "directories separated by :",
    "where k0sctl (unless K0SCTL is set), kubectl, vagrant, and docker or podman (for load) are found",
);
pub const XDG_CACHE_HOME: Var = Var::new(
    Standard,
    "XDG_CACHE_HOME",
    "~/.cache",
    "an absolute directory (a relative one is ignored)",
    "the download cache goes into its k0s-vagrant/ unless K0S_VAGRANT_CACHE is set",
);
pub const HTTPS_PROXY: Var = Var::new(
    Standard,
    "HTTPS_PROXY",
    "no proxy",
    "a proxy URL, e.g. http://proxy.example:3128",
    "the proxy the cache's downloads go through",
)
.alias("https_proxy");
pub const RUST_LOG: Var = Var::new(
    Standard,
    "RUST_LOG",
    "warnings only (-v debug, -vv trace)",
    "a tracing filter, e.g. k0s_vagrant=debug",
    "log output on stderr; overrides -v",
);

/// Every variable the helper reads, in README order.
pub const ALL_VARS: &[Var] = &[
    CONTROL_PLANE_COUNT,
    WORKER_COUNT,
    MEMORY_CONTROL,
    MEMORY_WORKER,
    CPU_CONTROL,
    CPU_WORKER,
    DISK_SIZE,
    CLUSTER_NAME,
    NODE_NETWORK,
    K0S_VERSION,
    TART_IMAGE,
    LIBVIRT_BOX,
    LIBVIRT_DRIVER,
    ADDONS,
    LB_MODE,
    LB_POOL,
    REGISTRY_MIRRORS,
    K0S_VAGRANT_SSH_WAIT,
    K0S_VAGRANT_APPLY_TIMEOUT,
    K0S_VAGRANT_READY_TIMEOUT,
    K0S_VAGRANT_API_WAIT,
    K0S_VAGRANT_DEPLOY_UNTIL,
    K0S_VAGRANT_SKIP_DEPLOY,
    K0S_KUBECONFIG_MERGE,
    K0SCTL,
    VAGRANT_DOTFILE_PATH,
    VAGRANT_DEFAULT_PROVIDER,
    K0S_VAGRANT_CACHE,
    K0S_VAGRANT_MIRROR,
    CHART_MIRRORS,
    K0S_VAGRANT_OFFLINE,
    KUBECONFIG,
    HOME,
    PATH,
    XDG_CACHE_HOME,
    HTTPS_PROXY,
    RUST_LOG,
];

pub const DEFAULT_CLUSTER_NAME: &str = "k0s";
pub const DEFAULT_NODE_NETWORK: &str = "192.168.56.0/24";
/// Pinned tag: cirruslabs rebuilds its images weekly, `latest` would drift.
pub const DEFAULT_TART_IMAGE: &str = "ghcr.io/cirruslabs/ubuntu:24.04";
/// Unmodified Ubuntu cloud image with a vagrant user, built for libvirt and kept current
/// (alchemy-solutions/vagrant-cloud-images); Canonical stopped publishing boxes with 24.04.
pub const DEFAULT_LIBVIRT_BOX: &str = "cloud-image/ubuntu-24.04";
/// The oldest k0s every plan can run: `spec.api.onlyBindToAddress` (k0s a759281d26, v1.31.1) behind
/// the control-plane load balancer's userspace reverse proxy (k0s 3b3a1757c3, v1.32.1), which every
/// libvirt plan renders from the first deploy on. It also keeps k0sctl's machine-id uniqueness
/// check, which applies only below k0s v1.30 (k0sctl `phase/validate_hosts.go`), off Tart clones.
pub const MIN_K0S: &str = "v1.32.1+k0s.0";
/// Host offsets inside NODE_NETWORK: controllers .10-.12, workers .20-.24, HA .100.
pub const CONTROLLER_OFFSET: u32 = 10;
pub const WORKER_OFFSET: u32 = 20;
pub const HA_OFFSET: u32 = 100;
/// vagrant-libvirt's management network; a private address inside it is not honoured
/// (vagrant-libvirt issue #1838).
pub const LIBVIRT_MGMT_NETWORK: &str = "192.168.121.0/24";

/// Which libvirt domain type to ask for. `Auto` means kvm where the host has hardware
/// virtualization, qemu (TCG) elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibvirtDriver {
    Auto,
    Kvm,
    Qemu,
}

/// The validated settings. Built only by [`Settings::from_raw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub control_plane_count: u32,
    pub worker_count: u32,
    pub memory_control_mb: u32,
    pub memory_worker_mb: u32,
    pub cpu_control: u32,
    pub cpu_worker: u32,
    pub disk_gb: u32,
    pub cluster_name: String,
    pub node_network: Ipv4Net,
    pub k0s_version: Option<String>,
    pub tart_image: String,
    pub libvirt_box: String,
    pub libvirt_driver: LibvirtDriver,
    pub addons: AddonSettings,
}

/// The environment as strings: only the variables of [`ALL_VARS`], both spellings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSettings {
    values: BTreeMap<String, String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{var} is set but empty (allowed {allowed}); unset it for the default {default}")]
    Empty {
        var: &'static str,
        allowed: String,
        default: String,
    },
    #[error("{var}={value} is not a whole number (allowed {allowed}); set e.g. {var}={default}")]
    NotANumber {
        var: &'static str,
        value: String,
        allowed: String,
        default: u32,
    },
    #[error("{var}={value} is out of range (allowed {min}..={max}); set {var}={nearest}")]
    OutOfRange {
        var: &'static str,
        value: String,
        min: u32,
        max: u32,
        nearest: u32,
    },
    #[error("{var}={value} is below the minimum of {min} {unit}{why}; set {var}={min} or more")]
    BelowMinimum {
        var: &'static str,
        value: String,
        min: u32,
        unit: &'static str,
        why: &'static str,
    },
    #[error("{var}={value} and {alias}={alias_value} disagree; set only one of them")]
    SpellingsDisagree {
        var: &'static str,
        value: String,
        alias: &'static str,
        alias_value: String,
    },
    #[error("CLUSTER_NAME={value} is not a DNS label ({reason}); use lowercase letters, digits and '-', e.g. CLUSTER_NAME=dev")]
    BadClusterName { value: String, reason: &'static str },
    #[error(
        "NODE_NETWORK={value} is not an IPv4 CIDR ({reason}); use the form {DEFAULT_NODE_NETWORK}"
    )]
    BadCidr { value: String, reason: String },
    #[error("NODE_NETWORK={value} has no room for {needs} (needs host offset .{offset}, so a /{max_prefix} or larger); use a /24 such as {DEFAULT_NODE_NETWORK}")]
    NetworkTooSmall {
        value: String,
        needs: String,
        offset: u32,
        max_prefix: u8,
    },
    #[error("NODE_NETWORK={value} overlaps vagrant-libvirt's management network {LIBVIRT_MGMT_NETWORK}; pick another range, e.g. {DEFAULT_NODE_NETWORK}")]
    NetworkOverlapsManagement { value: String },
    #[error("K0S_VERSION={value} is not a full k0s version (allowed e.g. v1.33.4+k0s.0); unset it for the newest stable")]
    BadK0sVersion { value: String },
    #[error("K0S_VERSION={value} is older than {MIN_K0S}, the oldest k0s this setup deploys (API bound per controller with the control-plane load balancer's userspace proxy); set K0S_VERSION={MIN_K0S} or newer, or unset it for the newest stable")]
    K0sTooOld { value: String },
    #[error("{var}={value} is not allowed (allowed {allowed}); set one of them, or unset it for the default")]
    BadChoice {
        var: &'static str,
        value: String,
        allowed: &'static str,
    },
    #[error("ADDONS={value} names '{word}', which is no add-on (allowed {}); e.g. ADDONS=storage,load-balancer,ingress", ADDONS.allowed)]
    BadAddon { value: String, word: String },
    #[error("LB_POOL={value} is not an address range ({reason}); use a range A-B or a CIDR, e.g. LB_POOL=192.168.56.200-192.168.56.250")]
    BadPool { value: String, reason: String },
    #[error("REGISTRY_MIRRORS={value}: {reason}; use REGISTRY=URL pairs, e.g. REGISTRY_MIRRORS=docker.io=http://192.168.56.1:5001")]
    BadMirror { value: String, reason: String },
    #[error("CHART_MIRRORS={value}: {reason}; use REPOSITORY=URL pairs for {}, e.g. CHART_MIRRORS=metallb=https://charts.example/metallb", CHART_REPOSITORIES.join(", "))]
    BadChartMirror { value: String, reason: String },
    #[error(transparent)]
    Addons(#[from] AddonsError),
    #[error("{var} is set but empty; unset it for the default {default}")]
    EmptyText {
        var: &'static str,
        default: &'static str,
    },
    #[error("{var}={value} is not an absolute path (allowed {allowed}); set e.g. {var}=$HOME/.cache/k0s-vagrant")]
    NotAbsolute {
        var: &'static str,
        value: String,
        allowed: &'static str,
    },
    #[error("{var}={value} is not a URL (allowed {allowed}); unset it for {default}")]
    NotAUrl {
        var: &'static str,
        value: String,
        allowed: &'static str,
        default: &'static str,
    },
    #[error("no place for the download cache: none of K0S_VAGRANT_CACHE, XDG_CACHE_HOME and HOME is set; set K0S_VAGRANT_CACHE=/path/to/cache")]
    NoCacheDir,
    #[error("{var}={value} is not a duration (allowed {allowed}); set e.g. {var}={default}")]
    NotADuration {
        var: &'static str,
        value: String,
        allowed: &'static str,
        default: u64,
    },
    #[error("{var}={value} is out of range (allowed {MIN_DURATION}..={MAX_DURATION}); set {var}={nearest}")]
    DurationOutOfRange {
        var: &'static str,
        value: String,
        nearest: &'static str,
    },
}

impl SettingsError {
    pub fn category(&self) -> Category {
        Category::BadInput
    }
}

/// A problem worth telling that does not stop the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    TwoControllers,
    MemoryOverHost { total_mb: u64, host_mb: u64 },
    CpusOverHost { total: u64, host: u64 },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::TwoControllers => write!(
                f,
                "CONTROL_PLANE_COUNT=2 gives etcd no fault tolerance (losing either controller loses quorum); use 1 or 3"
            ),
            Warning::MemoryOverHost { total_mb, host_mb } => write!(
                f,
                "the VMs ask for {total_mb} MB of memory in all, more than this host's {host_mb} MB; lower MEMORY_CONTROL/MEMORY_WORKER or the counts"
            ),
            Warning::CpusOverHost { total, host } => write!(
                f,
                "the VMs ask for {total} vCPUs in all, more than this host's {host}; they will share cores (lower CPU_CONTROL/CPU_WORKER if the VMs are slow)"
            ),
        }
    }
}

impl RawSettings {
    /// Reads the variables from the process environment: the one place the helper does. A value
    /// that is not UTF-8 is kept lossily, so a check names it instead of taking it for unset.
    pub fn from_env() -> RawSettings {
        RawSettings::from_lookup(|name| {
            std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
        })
    }

    /// Reads the variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> RawSettings {
        let mut values = BTreeMap::new();
        for var in ALL_VARS {
            for name in std::iter::once(var.name).chain(var.alias) {
                if let Some(value) = lookup(name) {
                    values.insert(name.to_string(), value);
                }
            }
        }
        RawSettings { values }
    }

    /// The value of a variable that has one spelling and that its user checks itself (a path, the
    /// provider), as given.
    pub fn value(&self, var: Var) -> Option<&str> {
        self.values.get(var.name).map(String::as_str)
    }

    /// The value of `var` under either spelling; both set and different is an error.
    fn get(&self, var: Var) -> Result<Option<(&'static str, &str)>, SettingsError> {
        let upper = self.values.get(var.name).map(|v| (var.name, v.as_str()));
        let lower = var
            .alias
            .and_then(|a| self.values.get(a).map(|v| (a, v.as_str())));
        match (upper, lower) {
            (Some((_, u)), Some((alias, l))) if u.trim() != l.trim() => {
                Err(SettingsError::SpellingsDisagree {
                    var: var.name,
                    value: u.to_string(),
                    alias,
                    alias_value: l.to_string(),
                })
            }
            (Some(found), _) | (None, Some(found)) => Ok(Some(found)),
            (None, None) => Ok(None),
        }
    }
}

/// Parses a count with an inclusive range.
fn count(
    raw: &RawSettings,
    var: Var,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, SettingsError> {
    let allowed = format!("{min}..={max}");
    let Some((name, value)) = raw.get(var)? else {
        return Ok(default);
    };
    let n = whole_number(name, value, &allowed, default)?;
    if n < i64::from(min) || n > i64::from(max) {
        let nearest = if n < i64::from(min) { min } else { max };
        return Err(SettingsError::OutOfRange {
            var: name,
            value: value.to_string(),
            min,
            max,
            nearest,
        });
    }
    Ok(n as u32)
}

/// Parses a size or count with only a lower bound.
fn at_least(
    raw: &RawSettings,
    var: Var,
    default: u32,
    min: u32,
    unit: &'static str,
    why: &'static str,
) -> Result<u32, SettingsError> {
    let allowed = format!(">= {min}");
    let Some((name, value)) = raw.get(var)? else {
        return Ok(default);
    };
    let n = whole_number(name, value, &allowed, default)?;
    if n < i64::from(min) {
        return Err(SettingsError::BelowMinimum {
            var: name,
            value: value.to_string(),
            min,
            unit,
            why,
        });
    }
    u32::try_from(n).map_err(|_| SettingsError::NotANumber {
        var: name,
        value: value.to_string(),
        allowed,
        default,
    })
}

fn whole_number(
    var: &'static str,
    value: &str,
    allowed: &str,
    default: u32,
) -> Result<i64, SettingsError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(SettingsError::Empty {
            var,
            allowed: allowed.to_string(),
            default: default.to_string(),
        });
    }
    trimmed
        .parse::<i64>()
        .map_err(|_| SettingsError::NotANumber {
            var,
            value: value.to_string(),
            allowed: allowed.to_string(),
            default,
        })
}

fn text(raw: &RawSettings, var: Var, default: &'static str) -> Result<String, SettingsError> {
    match raw.get(var)? {
        None => Ok(default.to_string()),
        Some((name, v)) if v.trim().is_empty() => {
            Err(SettingsError::EmptyText { var: name, default })
        }
        Some((_, v)) => Ok(v.trim().to_string()),
    }
}

fn cluster_name(raw: &RawSettings) -> Result<String, SettingsError> {
    let name = text(raw, CLUSTER_NAME, DEFAULT_CLUSTER_NAME)?;
    let bad = |reason| {
        Err(SettingsError::BadClusterName {
            value: name.clone(),
            reason,
        })
    };
    if name.len() > 63 {
        return bad("longer than 63 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return bad("only a-z, 0-9 and '-' are allowed");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return bad("it must start and end with a letter or digit");
    }
    Ok(name)
}

fn node_network(
    raw: &RawSettings,
    controllers: u32,
    workers: u32,
) -> Result<Ipv4Net, SettingsError> {
    let value = text(raw, NODE_NETWORK, DEFAULT_NODE_NETWORK)?;
    let bad = |reason: String| SettingsError::BadCidr {
        value: value.clone(),
        reason,
    };
    let (addr, prefix) = value
        .split_once('/')
        .ok_or_else(|| bad("no /prefix".into()))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| bad(format!("'{addr}' is not an IPv4 address")))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| bad(format!("'/{prefix}' is not a prefix length")))?;
    let net =
        Ipv4Net::new(addr, prefix).map_err(|_| bad(format!("/{prefix} is longer than 32")))?;
    if net.network() != addr {
        return Err(bad(format!(
            "host bits set; the network is {}",
            net.trunc()
        )));
    }
    // The control-plane virtual IP sits at .100 whatever the controller count (plan::ApiMode).
    let offset = HA_OFFSET;
    let needs = format!(
        "{}, {} and the control-plane address",
        plural(controllers as usize, "controller"),
        plural(workers as usize, "worker")
    );
    // The highest offset must sit below the broadcast address.
    let max_prefix = (32 - (u64::from(offset) + 2).next_power_of_two().trailing_zeros()) as u8;
    if prefix > max_prefix {
        return Err(SettingsError::NetworkTooSmall {
            value,
            needs,
            offset,
            max_prefix,
        });
    }
    let mgmt: Ipv4Net = LIBVIRT_MGMT_NETWORK.parse().expect("constant CIDR");
    if net.contains(&mgmt.network()) || mgmt.contains(&net.network()) {
        return Err(SettingsError::NetworkOverlapsManagement { value });
    }
    Ok(net)
}

/// Accepts the full form k0sctl expects: `v<major>.<minor>.<patch>[-pre]+k0s.<n>`.
fn k0s_version(raw: &RawSettings) -> Result<Option<String>, SettingsError> {
    let Some((_, value)) = raw.get(K0S_VERSION)? else {
        return Ok(None);
    };
    let value = value.trim();
    // Empty means newest stable, like unset.
    if value.is_empty() {
        return Ok(None);
    }
    let version = version::k0s_full(value).ok_or_else(|| SettingsError::BadK0sVersion {
        value: value.to_string(),
    })?;
    // A prerelease of the minimum counts as the minimum, as the validator compares them.
    if version < version::release(MIN_K0S).unwrap_or((1, 32, 1)) {
        return Err(SettingsError::K0sTooOld {
            value: value.to_string(),
        });
    }
    Ok(Some(value.to_string()))
}

fn addon_settings(raw: &RawSettings) -> Result<AddonSettings, SettingsError> {
    let selection = match raw.get(ADDONS)? {
        None => Selection::default(),
        Some((name, value)) if value.trim().is_empty() => {
            return Err(SettingsError::EmptyText {
                var: name,
                default: ADDONS.default,
            })
        }
        Some((_, value)) => Selection::parse(value).map_err(|word| SettingsError::BadAddon {
            value: value.to_string(),
            word,
        })?,
    };
    let modes = [("l2", Some(LbMode::L2)), ("node-ip", Some(LbMode::NodeIp))];
    let lb_mode = choice(raw, LB_MODE, &modes, None, true)?;
    let lb_pool = match raw.get(LB_POOL)? {
        Some((_, value)) if !value.trim().is_empty() => {
            Some(Pool::parse(value).map_err(|reason| SettingsError::BadPool {
                value: value.trim().to_string(),
                reason,
            })?)
        }
        _ => None,
    };
    let mirrors = registry_mirrors(raw)?;
    let addons = AddonSettings {
        selection,
        lb_mode,
        lb_pool,
        mirrors,
    };
    addons.check()?;
    Ok(addons)
}

fn libvirt_driver(raw: &RawSettings) -> Result<LibvirtDriver, SettingsError> {
    let words = [("kvm", LibvirtDriver::Kvm), ("qemu", LibvirtDriver::Qemu)];
    choice(raw, LIBVIRT_DRIVER, &words, LibvirtDriver::Auto, false)
}

/// One of `words` (the value trimmed, the error naming `var.allowed`); unset gives `unset`, and so
/// does empty where `empty_is_unset`.
fn choice<T: Copy>(
    raw: &RawSettings,
    var: Var,
    words: &[(&str, T)],
    unset: T,
    empty_is_unset: bool,
) -> Result<T, SettingsError> {
    let Some((name, value)) = raw.get(var)? else {
        return Ok(unset);
    };
    let value = value.trim();
    if value.is_empty() && empty_is_unset {
        return Ok(unset);
    }
    words
        .iter()
        .find(|(word, _)| *word == value)
        .map(|&(_, chosen)| chosen)
        .ok_or_else(|| SettingsError::BadChoice {
            var: name,
            value: value.to_string(),
            allowed: var.allowed,
        })
}

/// The shortest and the longest limit a duration variable takes. Zero would stop `k0sctl apply`
/// at once and leave each wait a single try, which fails while nodes still boot (`--until` is the
/// way to stop early); more than a day is a typo, and `Instant + Duration` panics on overflow.
const MIN_DURATION: &str = "1s";
const MAX_DURATION: &str = "24h";
const MIN_DURATION_SECS: u64 = 1;
const MAX_DURATION_SECS: u64 = 24 * 3600;

/// Seconds in `text`: plain seconds (`90`), or whole numbers with the units h, m and s in that
/// order, each at most once (`90s`, `10m`, `1m30s`, `1h`): the whole-number part of the form Go's
/// `time.ParseDuration` reads (golang/go `src/time/format.go`). Too large saturates (the range
/// check refuses it); `None` when it is no such form.
fn parse_seconds(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(text.parse().unwrap_or(u64::MAX));
    }
    // Each unit may follow only the ones before it, so the search goes on from the last found.
    let mut units = [('h', 3600), ('m', 60), ('s', 1)].into_iter();
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let unit = rest[digits..].chars().next()?;
        let (_, scale) = units.find(|&(u, _)| u == unit)?;
        let n: u64 = rest[..digits].parse().unwrap_or(u64::MAX);
        total = total.saturating_add(n.saturating_mul(scale));
        rest = &rest[digits + unit.len_utf8()..];
    }
    Some(total)
}

fn duration(raw: &RawSettings, var: Var, default_secs: u64) -> Result<Duration, SettingsError> {
    let Some((name, value)) = raw.get(var)? else {
        return Ok(Duration::from_secs(default_secs));
    };
    let text = value.trim();
    if text.is_empty() {
        return Err(SettingsError::Empty {
            var: name,
            allowed: var.allowed.to_string(),
            default: default_secs.to_string(),
        });
    }
    let secs = parse_seconds(text).ok_or_else(|| SettingsError::NotADuration {
        var: name,
        value: value.to_string(),
        allowed: var.allowed,
        default: default_secs,
    })?;
    if !(MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&secs) {
        return Err(SettingsError::DurationOutOfRange {
            var: name,
            value: value.to_string(),
            nearest: if secs < MIN_DURATION_SECS {
                MIN_DURATION
            } else {
                MAX_DURATION
            },
        });
    }
    Ok(Duration::from_secs(secs))
}

/// K0S_KUBECONFIG_MERGE: whether the deploy (and `kubeconfig --server`) merge into the user's
/// kubeconfig. Empty means the default, as it always has.
pub fn kubeconfig_merge(raw: &RawSettings) -> Result<bool, SettingsError> {
    let words = [
        ("true", true),
        ("1", true),
        ("yes", true),
        ("false", false),
        ("0", false),
        ("no", false),
    ];
    choice(raw, K0S_KUBECONFIG_MERGE, &words, true, true)
}

/// K0S_VAGRANT_DEPLOY_UNTIL: a phase name, as `deploy --until` takes them.
fn deploy_until(raw: &RawSettings) -> Result<Option<PhaseName>, SettingsError> {
    let words: Vec<(&str, Option<PhaseName>)> = <PhaseName as clap::ValueEnum>::value_variants()
        .iter()
        .map(|&phase| (phase.as_str(), Some(phase)))
        .collect();
    choice(raw, K0S_VAGRANT_DEPLOY_UNTIL, &words, None, false)
}

/// Where k0sctl is looked for: K0SCTL, else PATH, as given (`adapters::k0sctl::find` checks
/// them: a missing k0sctl is exit 3, not a settings error).
pub fn k0sctl_search(raw: &RawSettings) -> K0sctlSearch {
    K0sctlSearch {
        k0sctl: raw.value(K0SCTL).map(str::to_string),
        path: raw.value(PATH).map(str::to_string),
    }
}

/// The download cache: where it is (K0S_VAGRANT_CACHE, else XDG_CACHE_HOME, else HOME's
/// `.cache`, as the XDG base directory spec puts user caches), the mirror, whether to stay offline
/// (`offline_flag` is `--offline`, which wins over an unset or `0` variable), and the proxy. Read
/// by the commands that use the cache only (`cache`, `deploy`, `plan` on `vagrant up`).
pub fn cache_config(
    raw: &RawSettings,
    offline_flag: bool,
) -> Result<crate::cache::Config, SettingsError> {
    use crate::cache::release::{DEFAULT_MIRROR, DEFAULT_STABLE_URL};
    let dir = match raw.get(K0S_VAGRANT_CACHE)? {
        Some((name, v)) if v.trim().is_empty() => {
            return Err(SettingsError::EmptyText {
                var: name,
                default: K0S_VAGRANT_CACHE.default,
            })
        }
        Some((name, v)) => {
            let path = std::path::PathBuf::from(v.trim());
            if !path.is_absolute() {
                return Err(SettingsError::NotAbsolute {
                    var: name,
                    value: v.to_string(),
                    allowed: K0S_VAGRANT_CACHE.allowed,
                });
            }
            path
        }
        None => {
            let xdg = raw
                .value(XDG_CACHE_HOME)
                .map(|v| std::path::PathBuf::from(v.trim()))
                .filter(|p| p.is_absolute());
            let home = raw
                .value(HOME)
                .filter(|h| !h.trim().is_empty())
                .map(|h| std::path::Path::new(h.trim()).join(".cache"));
            xdg.or(home)
                .ok_or(SettingsError::NoCacheDir)?
                .join("k0s-vagrant")
        }
    };
    let mirror = text(raw, K0S_VAGRANT_MIRROR, DEFAULT_MIRROR)?;
    if !(mirror.starts_with("http://") || mirror.starts_with("https://"))
        || mirror.contains(char::is_whitespace)
    {
        return Err(SettingsError::NotAUrl {
            var: K0S_VAGRANT_MIRROR.name,
            value: mirror,
            allowed: K0S_VAGRANT_MIRROR.allowed,
            default: DEFAULT_MIRROR,
        });
    }
    let mirror = mirror.trim_end_matches('/').to_string();
    // A company mirror also has to answer "newest stable"; GitHub's downloads do not serve it.
    let stable_url = if mirror == DEFAULT_MIRROR {
        DEFAULT_STABLE_URL.to_string()
    } else {
        format!("{mirror}/stable.txt")
    };
    let offline = choice(
        raw,
        K0S_VAGRANT_OFFLINE,
        &[("1", true), ("0", false)],
        false,
        true,
    )? || offline_flag;
    let proxy = raw
        .get(HTTPS_PROXY)?
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty());
    Ok(crate::cache::Config {
        dir,
        mirror,
        stable_url,
        offline,
        proxy,
        registry_mirrors: registry_mirrors(raw)?,
        chart_mirrors: chart_mirrors(raw)?,
    })
}

fn registry_mirrors(raw: &RawSettings) -> Result<Vec<registry::Mirror>, SettingsError> {
    Ok(match raw.get(REGISTRY_MIRRORS)? {
        Some((_, value)) => registry::parse(value).map_err(|reason| SettingsError::BadMirror {
            value: value.trim().to_string(),
            reason,
        })?,
        None => Vec::new(),
    })
}

/// The Helm repositories of the add-ons, by the names CHART_MIRRORS uses.
const CHART_REPOSITORIES: [&str; 2] = ["metallb", "traefik"];

/// CHART_MIRRORS: `REPOSITORY=URL` pairs, in the form REGISTRY_MIRRORS takes, for known names.
fn chart_mirrors(raw: &RawSettings) -> Result<Vec<registry::Mirror>, SettingsError> {
    let Some((_, value)) = raw.get(CHART_MIRRORS)? else {
        return Ok(Vec::new());
    };
    let bad = |reason: String| SettingsError::BadChartMirror {
        value: value.trim().to_string(),
        reason,
    };
    let mirrors = registry::parse(value).map_err(bad)?;
    match mirrors
        .iter()
        .find(|m| !CHART_REPOSITORIES.contains(&m.registry.as_str()))
    {
        Some(m) => Err(bad(format!("'{}' is no add-on's repository", m.registry))),
        None => Ok(mirrors),
    }
}

/// How `deploy` runs: its limits, where it stops, whether it runs at all, the kubeconfig merge and
/// where k0sctl is. Built only by [`DeployOptions::from_raw`], which `deploy` calls before it
/// touches anything, and `plan` on `vagrant up` before any machine exists. No other command reads
/// these (`kubeconfig --server` only the merge), so a bad value never stops them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployOptions {
    pub ssh_wait: Duration,
    pub apply_timeout: Duration,
    pub ready_timeout: Duration,
    pub api_wait: Duration,
    /// From the environment; `deploy --until` wins over it.
    pub until: Option<PhaseName>,
    pub skip_deploy: bool,
    pub merge_kubeconfig: bool,
    pub k0sctl: K0sctlSearch,
}

impl DeployOptions {
    /// Validates the deploy's variables; the first bad one is the error.
    pub fn from_raw(raw: &RawSettings) -> Result<DeployOptions, SettingsError> {
        Ok(DeployOptions {
            ssh_wait: duration(raw, K0S_VAGRANT_SSH_WAIT, 300)?,
            apply_timeout: duration(raw, K0S_VAGRANT_APPLY_TIMEOUT, 1800)?,
            ready_timeout: duration(raw, K0S_VAGRANT_READY_TIMEOUT, 600)?,
            api_wait: duration(raw, K0S_VAGRANT_API_WAIT, 60)?,
            until: deploy_until(raw)?,
            skip_deploy: choice(
                raw,
                K0S_VAGRANT_SKIP_DEPLOY,
                &[("1", true), ("0", false)],
                false,
                true,
            )?,
            merge_kubeconfig: kubeconfig_merge(raw)?,
            k0sctl: k0sctl_search(raw),
        })
    }
}

impl Settings {
    /// Validates every variable; the first bad one is the error.
    pub fn from_raw(raw: &RawSettings) -> Result<Settings, SettingsError> {
        let control_plane_count = count(raw, CONTROL_PLANE_COUNT, 1, 1, 3)?;
        let worker_count = count(raw, WORKER_COUNT, 1, 1, 5)?;
        let node_network = node_network(raw, control_plane_count, worker_count)?;
        Ok(Settings {
            control_plane_count,
            worker_count,
            memory_control_mb: at_least(raw, MEMORY_CONTROL, 2048, 1024, "MB", "")?,
            memory_worker_mb: at_least(raw, MEMORY_WORKER, 4096, 1024, "MB", "")?,
            cpu_control: at_least(raw, CPU_CONTROL, 2, 1, "vCPUs", "")?,
            cpu_worker: at_least(raw, CPU_WORKER, 2, 1, "vCPUs", "")?,
            disk_gb: at_least(
                raw,
                DISK_SIZE,
                32,
                20,
                "GB",
                " (Tart images are 20 GB and a Tart disk cannot shrink)",
            )?,
            cluster_name: cluster_name(raw)?,
            node_network,
            k0s_version: k0s_version(raw)?,
            tart_image: text(raw, TART_IMAGE, DEFAULT_TART_IMAGE)?,
            libvirt_box: text(raw, LIBVIRT_BOX, DEFAULT_LIBVIRT_BOX)?,
            libvirt_driver: libvirt_driver(raw)?,
            addons: addon_settings(raw)?,
        })
    }

    /// Warnings for these settings on a host with `host` resources.
    pub fn warnings(&self, host: &HostResources) -> Vec<Warning> {
        let mut warnings = Vec::new();
        if self.control_plane_count == 2 {
            warnings.push(Warning::TwoControllers);
        }
        let cp = u64::from(self.control_plane_count);
        let w = u64::from(self.worker_count);
        let total_mb =
            cp * u64::from(self.memory_control_mb) + w * u64::from(self.memory_worker_mb);
        if let Some(host_mb) = host.memory_mb {
            if total_mb > host_mb {
                warnings.push(Warning::MemoryOverHost { total_mb, host_mb });
            }
        }
        let total_cpus = cp * u64::from(self.cpu_control) + w * u64::from(self.cpu_worker);
        if let Some(host_cpus) = host.cpus {
            if total_cpus > host_cpus {
                warnings.push(Warning::CpusOverHost {
                    total: total_cpus,
                    host: host_cpus,
                });
            }
        }
        warnings
    }
}

/// What the host offers, for the over-commit warnings. `None` where it cannot be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostResources {
    pub memory_mb: Option<u64>,
    pub cpus: Option<u64>,
}

impl HostResources {
    /// Reads memory from /proc/meminfo (Linux) or `sysctl hw.memsize` (macOS).
    pub fn detect() -> HostResources {
        let cpus = std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as u64);
        HostResources {
            memory_mb: host_memory_mb(),
            cpus,
        }
    }
}

fn host_memory_mb() -> Option<u64> {
    if let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") {
        let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        return Some(kb / 1024);
    }
    let out = std::process::Command::new("sysctl")
        .args(["-n", "hw.memsize"])
        .output()
        .ok()?;
    let bytes: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(bytes / 1024 / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawSettings {
        RawSettings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn durations_take_seconds_and_unit_forms() {
        for (text, secs) in [
            ("90", 90),
            ("0", 0),
            ("90s", 90),
            ("10m", 600),
            ("1h", 3600),
            ("1m30s", 90),
            ("1h30m", 5400),
            ("1h0m5s", 3605),
            ("0090", 90),
        ] {
            assert_eq!(parse_seconds(text), Some(secs), "{text}");
        }
        for text in [
            "", "10x", "-5", "+5", "1.5m", "m", "10 m", "10M", "1m30", "30s1m", "1m1m", "1ms",
            "s10", "1d", "٣",
        ] {
            assert_eq!(parse_seconds(text), None, "{text}");
        }
        assert_eq!(parse_seconds("99999999999999999999999h"), Some(u64::MAX));
        assert_eq!(parse_seconds(MIN_DURATION), Some(MIN_DURATION_SECS));
        assert_eq!(parse_seconds(MAX_DURATION), Some(MAX_DURATION_SECS));
        assert!(DURATION_ALLOWED.starts_with(&format!("{MIN_DURATION}..={MAX_DURATION},")));
    }

    #[test]
    fn durations_outside_one_second_to_a_day_are_refused() {
        let ready = |value| {
            DeployOptions::from_raw(&raw(&[("K0S_VAGRANT_READY_TIMEOUT", value)]))
                .map(|o| o.ready_timeout)
                .map_err(|e| e.to_string())
        };
        assert_eq!(ready("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(ready(" 24h "), Ok(Duration::from_secs(86400)));
        assert_eq!(
            ready("0s"),
            Err("K0S_VAGRANT_READY_TIMEOUT=0s is out of range (allowed 1s..=24h); set K0S_VAGRANT_READY_TIMEOUT=1s".into())
        );
        assert_eq!(
            ready("86401"),
            Err("K0S_VAGRANT_READY_TIMEOUT=86401 is out of range (allowed 1s..=24h); set K0S_VAGRANT_READY_TIMEOUT=24h".into())
        );
        assert!(ready("18446744073709551616").is_err());
    }

    #[test]
    fn deploy_options_default_when_unset() {
        let options = DeployOptions::from_raw(&RawSettings::default()).unwrap();
        assert_eq!(options.ssh_wait, Duration::from_secs(300));
        assert_eq!(options.apply_timeout, Duration::from_secs(1800));
        assert_eq!(options.ready_timeout, Duration::from_secs(600));
        assert_eq!(options.api_wait, Duration::from_secs(60));
        assert_eq!(options.until, None);
        assert!(!options.skip_deploy);
        assert!(options.merge_kubeconfig);
        assert_eq!(options.k0sctl, K0sctlSearch::default());
    }

    #[test]
    fn switches_take_their_words() {
        let merge = |v| kubeconfig_merge(&raw(&[("K0S_KUBECONFIG_MERGE", v)]));
        for (v, want) in [("", true), ("yes", true), (" 0 ", false), ("no", false)] {
            assert_eq!(merge(v), Ok(want), "{v}");
        }
        let options = |pairs| DeployOptions::from_raw(&raw(pairs));
        assert!(
            options(&[("K0S_VAGRANT_SKIP_DEPLOY", "1")])
                .unwrap()
                .skip_deploy
        );
        assert!(
            !options(&[("K0S_VAGRANT_SKIP_DEPLOY", "")])
                .unwrap()
                .skip_deploy
        );
        assert_eq!(
            options(&[("K0S_VAGRANT_DEPLOY_UNTIL", "wait-ready")])
                .unwrap()
                .until,
            Some(PhaseName::WaitReady)
        );
    }

    /// Parsing all the checked variables of `raw`, as one comparable value.
    fn checked(
        raw: &RawSettings,
    ) -> Result<(Settings, DeployOptions, crate::cache::Config), SettingsError> {
        Ok((
            Settings::from_raw(raw)?,
            DeployOptions::from_raw(raw)?,
            cache_config(raw, false)?,
        ))
    }

    #[test]
    fn documented_defaults_are_the_defaults() {
        // These defaults say what happens when unset, or are not checked here (paths, provider).
        let described = [
            K0S_VERSION,
            LIBVIRT_DRIVER,
            K0S_VAGRANT_DEPLOY_UNTIL,
            K0SCTL,
            VAGRANT_DOTFILE_PATH,
            VAGRANT_DEFAULT_PROVIDER,
            LB_MODE,
            LB_POOL,
            REGISTRY_MIRRORS,
            CHART_MIRRORS,
            K0S_VAGRANT_CACHE,
        ];
        let home = raw(&[("HOME", "/home/u")]);
        let unset = checked(&home).unwrap();
        for var in ALL_VARS {
            if var.kind == VarKind::Standard || described.contains(var) {
                continue;
            }
            let set = checked(&raw(&[(var.name, var.default), ("HOME", "/home/u")]));
            assert_eq!(set.as_ref(), Ok(&unset), "{}={}", var.name, var.default);
        }
    }

    #[test]
    fn documented_allowed_is_what_the_errors_say() {
        let mut told = 0;
        // K0S_VERSION's error gives an example where the table gives the rule (checked below).
        let checked_vars = ALL_VARS
            .iter()
            .filter(|v| v.kind != VarKind::Standard && **v != K0S_VERSION);
        for var in checked_vars {
            let Err(e) = checked(&raw(&[(var.name, "x?"), ("HOME", "/home/u")])) else {
                continue;
            };
            let e = e.to_string();
            if e.contains("(allowed ") {
                assert!(e.contains(&format!("(allowed {})", var.allowed)), "{e}");
                told += 1;
            }
        }
        // The counts, sizes and CPUs, the libvirt driver, the add-ons and the load-balancer mode,
        // the four limits, the four switches, the cache directory and the mirror.
        assert_eq!(told, 20);
        assert!(K0S_VERSION.allowed.contains(MIN_K0S));
        let phases: Vec<&str> = <PhaseName as clap::ValueEnum>::value_variants()
            .iter()
            .map(|p| p.as_str())
            .collect();
        assert_eq!(K0S_VAGRANT_DEPLOY_UNTIL.allowed, phases.join(", "));
    }

    #[test]
    fn the_cache_goes_where_xdg_says() {
        let dir = |pairs| cache_config(&raw(pairs), false).map(|c| c.dir);
        assert_eq!(dir(&[("HOME", "/h")]), Ok("/h/.cache/k0s-vagrant".into()));
        assert_eq!(
            dir(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]),
            Ok("/x/k0s-vagrant".into())
        );
        // The spec ignores a relative XDG_CACHE_HOME.
        assert_eq!(
            dir(&[("HOME", "/h"), ("XDG_CACHE_HOME", "rel")]),
            Ok("/h/.cache/k0s-vagrant".into())
        );
        assert_eq!(
            dir(&[("HOME", "/h"), ("K0S_VAGRANT_CACHE", "/c")]),
            Ok("/c".into())
        );
        assert_eq!(dir(&[]), Err(SettingsError::NoCacheDir));
        let config = |pairs, flag| cache_config(&raw(pairs), flag).unwrap();
        let mirrored = config(
            &[("HOME", "/h"), ("K0S_VAGRANT_MIRROR", "http://m:8/k0s/")],
            false,
        );
        assert_eq!(mirrored.mirror, "http://m:8/k0s");
        assert_eq!(mirrored.stable_url, "http://m:8/k0s/stable.txt");
        assert!(config(&[("HOME", "/h")], true).offline);
        assert!(config(&[("HOME", "/h"), ("K0S_VAGRANT_OFFLINE", "1")], false).offline);
        assert!(!config(&[("HOME", "/h")], false).offline);
    }

    #[test]
    fn the_table_names_each_variable_once() {
        let mut names: Vec<&str> = ALL_VARS
            .iter()
            .flat_map(|v| std::iter::once(v.name).chain(v.alias))
            .collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all);
    }
}
