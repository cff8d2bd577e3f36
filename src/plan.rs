//! The node plan: which machines exist, their roles, addresses and sizes. Pure: computed from
//! [`Settings`] and a [`Provider`], so it is tested without Vagrant or VMs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::addons::Addons;
use crate::host::{Arch, HostFacts, VAGRANT_BOX_ARCHITECTURES};
use crate::settings::{
    LibvirtDriver, Settings, CONTROLLER_OFFSET, DEFAULT_LIBVIRT_BOX, HA_OFFSET, WORKER_OFFSET,
};

/// Bumped when a consumer (the Vagrantfile) would misread the JSON.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Tart,
    Libvirt,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Tart => "tart",
            Provider::Libvirt => "libvirt",
        }
    }

    pub fn parse(name: &str) -> Option<Provider> {
        match name {
            "tart" => Some(Provider::Tart),
            "libvirt" => Some(Provider::Libvirt),
            _ => None,
        }
    }

    /// Tart on macOS, libvirt elsewhere.
    pub fn for_this_os() -> Provider {
        if cfg!(target_os = "macos") {
            Provider::Tart
        } else {
            Provider::Libvirt
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Controller,
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Controller => "controller",
            Role::Worker => "worker",
        }
    }
}

/// The role k0sctl installs. Every controller also runs a kubelet so it shows in `kubectl get nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum K0sRole {
    #[serde(rename = "controller+worker")]
    ControllerWorker,
    #[serde(rename = "worker")]
    Worker,
}

impl K0sRole {
    /// The role as k0sctl's `hosts[].role` spells it (and as the plan JSON does).
    pub fn as_str(self) -> &'static str {
        match self {
            K0sRole::ControllerWorker => "controller+worker",
            K0sRole::Worker => "worker",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub schema_version: u32,
    pub cluster: Cluster,
    pub nodes: Vec<Node>,
    /// Provider settings the Vagrantfile passes through unchanged.
    pub providers: Providers,
    /// The add-ons the deploy installs; plan locks from before add-ons read as none.
    #[serde(default)]
    pub addons: Addons,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    pub provider_hint: Provider,
    /// The private node network (libvirt); `null` where the provider assigns addresses (Tart).
    pub network: Option<Ipv4Net>,
    /// Where the host's kubectl reaches the API: the control-plane virtual IP on libvirt (`.100`);
    /// `null` on Tart, where softnet allows no shared address and control-plane-1 serves.
    pub api_address: Option<Ipv4Addr>,
    pub k0s_version: Option<String>,
    /// How the controllers bind the API; fixed for the life of the cluster (see [`ApiMode`]).
    #[serde(default)]
    pub api_mode: ApiMode,
}

/// How k0s binds the API. k0s cannot switch a bootstrapped controller from one to the other: the
/// kubelet kubeconfig of a controller+worker keeps the first mode's address and k0s then refuses
/// to start (k0sproject/k0s #6997, fixed in 7fbd460e81, in no release yet). So a cluster keeps the
/// mode it was created with, and growing from 1 to 3 controllers changes only the host list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiMode {
    /// Every controller binds only its own node address (`spec.api.onlyBindToAddress`), workers
    /// reach the controllers through node-local load balancing, and on libvirt a keepalived
    /// virtual IP fronts them: from the first deploy on, whatever the controller count.
    OnlyBindToAddress,
    /// The first release's single-controller layout (`spec.api.address` of control-plane-1). Plan
    /// locks written before `api_mode` existed read as this, so their clusters keep working;
    /// such a cluster cannot grow to 2-3 controllers.
    #[default]
    Address,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub role: Role,
    pub k0s_role: K0sRole,
    pub runs_workloads: bool,
    pub ip: Option<Ipv4Addr>,
    pub cpus: u32,
    pub memory_mb: u32,
    pub disk_gb: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Providers {
    pub tart: TartSettings,
    pub libvirt: LibvirtSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TartSettings {
    pub image: String,
    /// Tart VM names are global per macOS user, so they carry the cluster name.
    pub vm_names: BTreeMap<String, String>,
    /// Softnet with isolation off: Tart's default NAT keeps VMs from reaching each other.
    pub run_args: Vec<String>,
    pub ssh_user: String,
    pub ssh_password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibvirtSettings {
    pub r#box: String,
    /// `kvm`, or `qemu` (software emulation) where the host has no hardware virtualization.
    pub driver: String,
    /// libvirt CPU mode: `custom` with `cpu_model` under TCG, `host-passthrough` on arm64 KVM;
    /// `null` keeps vagrant-libvirt's default (host-model).
    #[serde(default)]
    pub cpu_mode: Option<String>,
    /// CPU model for the `qemu` driver on x86_64; `null` otherwise.
    pub cpu_model: Option<String>,
    /// Vagrant >= 2.4's `config.vm.box_architecture` for the default multi-arch box: the host's.
    /// `null` for older Vagrant (which rejects the setting) and for boxes the user names.
    #[serde(default)]
    pub box_architecture: Option<String>,
    pub network_name: String,
    pub netmask: Ipv4Addr,
}

impl Node {
    fn table_row(&self) -> [String; 7] {
        [
            self.name.clone(),
            self.k0s_role.as_str().to_string(),
            if self.runs_workloads { "yes" } else { "no" }.to_string(),
            self.ip.map_or("dhcp".to_string(), |ip| ip.to_string()),
            self.cpus.to_string(),
            format!("{} MB", self.memory_mb),
            format!("{} GB", self.disk_gb),
        ]
    }
}

impl TartSettings {
    fn new(settings: &Settings, nodes: &[Node]) -> TartSettings {
        TartSettings {
            image: settings.tart_image.clone(),
            vm_names: nodes
                .iter()
                .map(|n| {
                    (
                        n.name.clone(),
                        format!("{}-{}", settings.cluster_name, n.name),
                    )
                })
                .collect(),
            run_args: vec!["--net-softnet-allow=0.0.0.0/0".to_string()],
            ssh_user: "admin".to_string(),
            ssh_password: "admin".to_string(),
        }
    }
}

impl LibvirtSettings {
    fn new(settings: &Settings, host: &HostFacts) -> LibvirtSettings {
        let driver = match settings.libvirt_driver {
            LibvirtDriver::Kvm => "kvm",
            LibvirtDriver::Qemu => "qemu",
            LibvirtDriver::Auto if host.hardware_kvm => "kvm",
            LibvirtDriver::Auto => "qemu",
        };
        let (cpu_mode, cpu_model) = match (&host.arch, driver) {
            // TCG cannot emulate the host-model CPU; qemu64 is what it runs everywhere on x86.
            (Arch::X86_64, "qemu") => (Some("custom"), Some("qemu64")),
            // libvirt offers no host-model CPU on arm64 (libvirt docs, formatdomain "CPU model
            // and topology"): the guest gets the host's CPU as it is.
            (Arch::Aarch64, _) => (Some("host-passthrough"), None),
            _ => (None, None),
        };
        LibvirtSettings {
            r#box: settings.libvirt_box.clone(),
            driver: driver.to_string(),
            cpu_mode: cpu_mode.map(String::from),
            cpu_model: cpu_model.map(String::from),
            box_architecture: box_architecture(&settings.libvirt_box, host),
            network_name: format!("k0s-{}", settings.cluster_name),
            netmask: settings.node_network.netmask(),
        }
    }
}

/// `config.vm.box_architecture` for `box` under the Vagrant of `host`: the host's architecture for
/// the default multi-arch box on Vagrant >= 2.4, else none (older Vagrant rejects the setting, and
/// a box the user names may carry no architecture). A fact of the Vagrant that evaluates the
/// Vagrantfile, not of the cluster, so it is decided anew for a locked plan too.
pub fn box_architecture(r#box: &str, host: &HostFacts) -> Option<String> {
    (r#box == DEFAULT_LIBVIRT_BOX && host.vagrant.is_some_and(|v| v >= VAGRANT_BOX_ARCHITECTURES))
        .then(|| host.arch.box_name().to_string())
}

/// How many controllers run workloads: the first ceil(n/3).
pub fn workload_controllers(controllers: u32) -> u32 {
    controllers.div_ceil(3)
}

/// A majority of `members`: how many etcd needs up to serve.
pub fn etcd_quorum(members: usize) -> usize {
    members / 2 + 1
}

pub fn controller_name(index: u32) -> String {
    format!("control-plane-{index}")
}

pub fn worker_name(index: u32) -> String {
    format!("worker-{index}")
}

impl Plan {
    pub fn from_settings(settings: &Settings, provider: Provider, host: &HostFacts) -> Plan {
        let net = settings.node_network;
        let static_ips = provider == Provider::Libvirt;
        let address =
            |offset: u32| static_ips.then(|| Ipv4Addr::from(u32::from(net.network()) + offset));
        let workload_cps = workload_controllers(settings.control_plane_count);
        let controllers = (1..=settings.control_plane_count).map(|i| Node {
            name: controller_name(i),
            role: Role::Controller,
            k0s_role: K0sRole::ControllerWorker,
            runs_workloads: i <= workload_cps,
            ip: address(CONTROLLER_OFFSET + i - 1),
            cpus: settings.cpu_control,
            memory_mb: settings.memory_control_mb,
            disk_gb: settings.disk_gb,
        });
        let workers = (1..=settings.worker_count).map(|i| Node {
            name: worker_name(i),
            role: Role::Worker,
            k0s_role: K0sRole::Worker,
            runs_workloads: true,
            ip: address(WORKER_OFFSET + i - 1),
            cpus: settings.cpu_worker,
            memory_mb: settings.memory_worker_mb,
            disk_gb: settings.disk_gb,
        });
        let nodes: Vec<Node> = controllers.chain(workers).collect();
        // libvirt: the control-plane virtual IP from the first deploy on (see ApiMode).
        let api_address = address(HA_OFFSET);
        let providers = Providers {
            tart: TartSettings::new(settings, &nodes),
            libvirt: LibvirtSettings::new(settings, host),
        };
        Plan {
            schema_version: SCHEMA_VERSION,
            cluster: Cluster {
                name: settings.cluster_name.clone(),
                provider_hint: provider,
                network: static_ips.then_some(net),
                api_address,
                k0s_version: settings.k0s_version.clone(),
                api_mode: ApiMode::OnlyBindToAddress,
            },
            nodes,
            providers,
            addons: Addons::plan(&settings.addons, provider, net),
        }
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn count(&self, role: Role) -> usize {
        self.nodes.iter().filter(|n| n.role == role).count()
    }

    /// The names of the nodes with this role, in plan order.
    pub fn names(&self, role: Role) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| n.role == role)
            .map(|n| n.name.as_str())
            .collect()
    }

    /// How many etcd members must be up for the cluster to keep serving: a majority of the
    /// controllers (every controller is an etcd member).
    pub fn quorum(&self) -> usize {
        etcd_quorum(self.count(Role::Controller))
    }

    /// The kubeconfig context (and cluster and user) name the deploy merges: `k0s-<name>`.
    pub fn context_name(&self) -> String {
        format!("k0s-{}", self.cluster.name)
    }

    pub fn to_json(&self) -> String {
        // Serializing plain structs with string keys cannot fail.
        serde_json::to_string_pretty(self).expect("plan serializes")
    }

    /// A table for people, with totals.
    pub fn to_table(&self) -> String {
        let header = [
            "NODE",
            "ROLE",
            "WORKLOADS",
            "ADDRESS",
            "VCPUS",
            "MEMORY",
            "DISK",
        ];
        let rows: Vec<[String; 7]> = self
            .nodes
            .iter()
            .map(Node::table_row)
            .chain([self.total_row()])
            .collect();
        let mut lines = crate::util::table::lines(header, &rows, &[4, 5, 6]);
        let width = lines.iter().map(String::len).max().unwrap_or(0);
        lines.insert(lines.len() - 1, "-".repeat(width));
        let mut out = self.heading();
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        out
    }

    /// The table's first line: the cluster as a whole.
    fn heading(&self) -> String {
        let c = &self.cluster;
        format!(
            "cluster {} on {} (network {}, API {}, k0s {})\n",
            c.name,
            c.provider_hint.as_str(),
            c.network
                .map_or("assigned by the provider".to_string(), |n| n.to_string()),
            c.api_address.map_or(
                "control-plane-1, discovered after up".to_string(),
                |a| format!("{a}:6443")
            ),
            c.k0s_version.as_deref().unwrap_or("newest stable"),
        ) + &format!("add-ons: {}\n", self.addons.summary())
    }

    fn total_row(&self) -> [String; 7] {
        let sum =
            |size: fn(&Node) -> u32| self.nodes.iter().map(|n| u64::from(size(n))).sum::<u64>();
        [
            "total".to_string(),
            format!("{} nodes", self.nodes.len()),
            String::new(),
            String::new(),
            sum(|n| n.cpus).to_string(),
            format!("{} MB", sum(|n| n.memory_mb)),
            format!("{} GB", sum(|n| n.disk_gb)),
        ]
    }
}
