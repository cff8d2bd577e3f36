//! Settings: the environment variables a user sets, read as strings (`RawSettings`) and then
//! validated into typed values (`Settings`). Every rule of README's variable table lives here.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::util::exit::Category;
use crate::util::text::plural;
use crate::util::version;

/// One user-facing variable: its name and the lowercase alias the first single-node setup used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    pub alias: Option<&'static str>,
}

pub const CONTROL_PLANE_COUNT: Var = Var::with_alias("CONTROL_PLANE_COUNT", "control_plane_count");
pub const WORKER_COUNT: Var = Var::with_alias("WORKER_COUNT", "worker_count");
pub const MEMORY_CONTROL: Var = Var::with_alias("MEMORY_CONTROL", "memory_control");
pub const MEMORY_WORKER: Var = Var::with_alias("MEMORY_WORKER", "memory_worker");
pub const CPU_CONTROL: Var = Var::with_alias("CPU_CONTROL", "cpu_control");
pub const CPU_WORKER: Var = Var::with_alias("CPU_WORKER", "cpu_worker");
pub const DISK_SIZE: Var = Var::with_alias("DISK_SIZE", "disk_size");
pub const CLUSTER_NAME: Var = Var::plain("CLUSTER_NAME");
pub const NODE_NETWORK: Var = Var::plain("NODE_NETWORK");
pub const K0S_VERSION: Var = Var::plain("K0S_VERSION");
pub const TART_IMAGE: Var = Var::plain("TART_IMAGE");
pub const LIBVIRT_BOX: Var = Var::plain("LIBVIRT_BOX");
pub const LIBVIRT_DRIVER: Var = Var::plain("LIBVIRT_DRIVER");

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
];

impl Var {
    const fn with_alias(name: &'static str, alias: &'static str) -> Var {
        Var {
            name,
            alias: Some(alias),
        }
    }
    const fn plain(name: &'static str) -> Var {
        Var { name, alias: None }
    }
}

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
    #[error("{var} is set but empty; unset it for the default {default}")]
    EmptyText {
        var: &'static str,
        default: &'static str,
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
    /// Reads the variables from the process environment.
    pub fn from_env() -> RawSettings {
        RawSettings::from_lookup(|name| std::env::var(name).ok())
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

fn libvirt_driver(raw: &RawSettings) -> Result<LibvirtDriver, SettingsError> {
    match raw.get(LIBVIRT_DRIVER)? {
        None => Ok(LibvirtDriver::Auto),
        Some((_, v)) => match v.trim() {
            "kvm" => Ok(LibvirtDriver::Kvm),
            "qemu" => Ok(LibvirtDriver::Qemu),
            _ => Err(SettingsError::BadChoice {
                var: LIBVIRT_DRIVER.name,
                value: v.to_string(),
                allowed: "kvm, qemu",
            }),
        },
    }
}

impl Settings {
    /// Validates every variable; the first bad one is the error.
    pub fn from_raw(raw: &RawSettings) -> Result<Settings, SettingsError> {
        let control_plane_count = count(raw, CONTROL_PLANE_COUNT, 1, 1, 3)?;
        let worker_count = count(raw, WORKER_COUNT, 1, 1, 5)?;
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
            node_network: node_network(raw, control_plane_count, worker_count)?,
            k0s_version: k0s_version(raw)?,
            tart_image: text(raw, TART_IMAGE, DEFAULT_TART_IMAGE)?,
            libvirt_box: text(raw, LIBVIRT_BOX, DEFAULT_LIBVIRT_BOX)?,
            libvirt_driver: libvirt_driver(raw)?,
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
