//! Which add-ons a cluster runs (`ADDONS`), and how `type: LoadBalancer` services get addresses
//! (`LB_MODE`, `LB_POOL`): read and checked with the other settings, resolved per provider into the
//! plan. The design and its sources are in the README's "Add-ons" section.
//!
//! Two load-balancer modes, both MetalLB:
//! - `l2` (libvirt): addresses from a pool on the node network, announced by MetalLB's speakers
//!   with ARP; the host, on `.1` of the same bridge, reaches them.
//! - `node-ip` (Tart, selectable on libvirt): MetalLB's controller assigns the nodes' own addresses
//!   and nothing is announced; kube-proxy carries the traffic. Softnet drops every frame whose
//!   sender is not the VM's own DHCP lease (cirruslabs/softnet `lib/proxy/vm.rs`), so no announced
//!   address can work on Tart.

pub mod ingress;
pub mod load_balancer;
pub mod registry;
pub mod storage;

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::plan::Provider;
use crate::settings::{CONTROLLER_OFFSET, HA_OFFSET, WORKER_OFFSET};

/// The most nodes of each role a plan can hold (CONTROL_PLANE_COUNT, WORKER_COUNT), so a pool
/// never takes an address a node gets when the cluster grows.
const MAX_CONTROLLERS: u32 = 3;
const MAX_WORKERS: u32 = 5;
/// How many addresses the default pool holds at most: the top of NODE_NETWORK, above the
/// control-plane address `.100`.
const DEFAULT_POOL_SIZE: u32 = 32;

/// `ADDONS`, as given: which add-ons to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub storage: bool,
    pub load_balancer: bool,
    pub ingress: bool,
}

impl Default for Selection {
    /// Storage and LoadBalancer services work out of the box, as with kind and k3d; ingress on
    /// request.
    fn default() -> Selection {
        Selection {
            storage: true,
            load_balancer: true,
            ingress: false,
        }
    }
}

impl Selection {
    /// A comma-separated list of add-on names, or `none`. `Err` carries the first unknown word.
    pub fn parse(value: &str) -> Result<Selection, String> {
        let mut chosen = Selection {
            storage: false,
            load_balancer: false,
            ingress: false,
        };
        let value = value.trim();
        if value == "none" {
            return Ok(chosen);
        }
        for word in value.split(',').map(str::trim) {
            match word {
                "storage" => chosen.storage = true,
                "load-balancer" => chosen.load_balancer = true,
                "ingress" => chosen.ingress = true,
                other => return Err(other.to_string()),
            }
        }
        Ok(chosen)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LbMode {
    L2,
    NodeIp,
}

impl LbMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LbMode::L2 => "l2",
            LbMode::NodeIp => "node-ip",
        }
    }
}

/// A range of addresses, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl fmt::Display for Pool {
    /// MetalLB's range form (`IPAddressPool.spec.addresses`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl Pool {
    /// `A-B` or a CIDR (all its addresses). `Err` says what is wrong.
    pub fn parse(value: &str) -> Result<Pool, String> {
        let value = value.trim();
        if let Some((first, last)) = value.split_once('-') {
            let address = |text: &str| {
                text.trim()
                    .parse::<Ipv4Addr>()
                    .map_err(|_| format!("'{}' is not an IPv4 address", text.trim()))
            };
            let pool = Pool {
                first: address(first)?,
                last: address(last)?,
            };
            if pool.first > pool.last {
                return Err("the first address is above the last".to_string());
            }
            return Ok(pool);
        }
        let net: Ipv4Net = value
            .parse()
            .map_err(|_| "neither a range A-B nor a CIDR".to_string())?;
        Ok(Pool {
            first: net.network(),
            last: net.broadcast(),
        })
    }

    fn contains(&self, address: Ipv4Addr) -> bool {
        self.first <= address && address <= self.last
    }

    /// The default pool on `net`: up to [`DEFAULT_POOL_SIZE`] of its highest host addresses, all
    /// above the control-plane address (a /24 gives .223-.254; the smallest network NODE_NETWORK
    /// allows, a /25, gives .101-.126).
    pub fn default_for(net: Ipv4Net) -> Pool {
        let last = u32::from(net.broadcast()) - 1;
        let above_api = u32::from(net.network()) + HA_OFFSET + 1;
        let first = last
            .saturating_sub(DEFAULT_POOL_SIZE - 1)
            .max(above_api)
            .min(last);
        Pool {
            first: Ipv4Addr::from(first),
            last: Ipv4Addr::from(last),
        }
    }

    /// The first address of `net` this pool must not take, and whose it is: outside the network's
    /// host addresses, the host's `.1`, a node address (also of nodes a grown cluster adds), or
    /// the control-plane address.
    fn conflict(&self, net: Ipv4Net) -> Option<String> {
        if !net.contains(&self.first)
            || !net.contains(&self.last)
            || self.first == net.network()
            || self.last == net.broadcast()
        {
            return Some(format!(
                "it is not inside the host addresses of NODE_NETWORK={net}"
            ));
        }
        let at = |offset: u32| Ipv4Addr::from(u32::from(net.network()) + offset);
        let reserved = [(at(1), "the host's address on the node network".to_string())]
            .into_iter()
            .chain((0..MAX_CONTROLLERS).map(|i| {
                (
                    at(CONTROLLER_OFFSET + i),
                    format!("control-plane-{}'s address", i + 1),
                )
            }))
            .chain(
                (0..MAX_WORKERS)
                    .map(|i| (at(WORKER_OFFSET + i), format!("worker-{}'s address", i + 1))),
            )
            .chain([(at(HA_OFFSET), "the control-plane address".to_string())]);
        reserved
            .into_iter()
            .find(|(address, _)| self.contains(*address))
            .map(|(address, whose)| format!("it holds {address}, {whose}"))
    }
}

/// The add-on settings as read from the environment, before the provider is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonSettings {
    pub selection: Selection,
    /// `LB_MODE`; unset: the provider's default.
    pub lb_mode: Option<LbMode>,
    /// `LB_POOL`; unset: [`Pool::default_for`].
    pub lb_pool: Option<Pool>,
    /// `REGISTRY_MIRRORS`.
    pub mirrors: Vec<registry::Mirror>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AddonsError {
    #[error("{var} is set, but ADDONS has no load-balancer; add it (e.g. ADDONS=storage,load-balancer) or unset {var}")]
    NoLoadBalancer { var: &'static str },
    #[error("LB_POOL={pool} does not fit: {reason}; use addresses above .100 that no node takes, e.g. LB_POOL={example}")]
    PoolConflict {
        pool: String,
        reason: String,
        example: Pool,
    },
    #[error("LB_POOL is set, but LB_MODE=node-ip uses the nodes' own addresses; unset LB_POOL, or set LB_MODE=l2")]
    PoolWithNodeIp,
    #[error("LB_MODE=l2 cannot work on Tart: softnet drops every frame a VM sends from an address other than its own lease, so no announced address reaches the host; unset LB_MODE (Tart uses node-ip)")]
    L2OnTart,
    #[error("LB_POOL is set, but on Tart LoadBalancer services get the nodes' own addresses (node-ip); unset LB_POOL")]
    PoolOnTart,
}

impl AddonSettings {
    /// Checks what needs no provider: LB_MODE/LB_POOL only with the load balancer, a pool only in
    /// `l2` mode.
    pub fn check(&self) -> Result<(), AddonsError> {
        if !self.selection.load_balancer {
            if self.lb_mode.is_some() {
                return Err(AddonsError::NoLoadBalancer { var: "LB_MODE" });
            }
            if self.lb_pool.is_some() {
                return Err(AddonsError::NoLoadBalancer { var: "LB_POOL" });
            }
        }
        if self.lb_pool.is_some() && self.lb_mode == Some(LbMode::NodeIp) {
            return Err(AddonsError::PoolWithNodeIp);
        }
        Ok(())
    }

    /// What `provider` refuses: announced addresses and pools on Tart; on libvirt a pool outside
    /// `net` or holding a reserved address.
    pub fn check_provider(&self, provider: Provider, net: Ipv4Net) -> Result<(), AddonsError> {
        if !self.selection.load_balancer {
            return Ok(());
        }
        if provider == Provider::Tart {
            if self.lb_mode == Some(LbMode::L2) {
                return Err(AddonsError::L2OnTart);
            }
            if self.lb_pool.is_some() {
                return Err(AddonsError::PoolOnTart);
            }
            return Ok(());
        }
        match self
            .lb_pool
            .and_then(|pool| pool.conflict(net).map(|r| (pool, r)))
        {
            Some((pool, reason)) => Err(AddonsError::PoolConflict {
                pool: pool.to_string(),
                reason,
                example: Pool::default_for(net),
            }),
            None => Ok(()),
        }
    }
}

/// The add-ons of a plan. Not part of the cluster's identity: the lock takes them from the
/// settings on every `vagrant up`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Addons {
    pub storage: bool,
    pub ingress: bool,
    /// `null` when ADDONS has no load-balancer.
    pub load_balancer: Option<LoadBalancer>,
    /// Mirrors every node's containerd tries first (not an add-on of ADDONS: they apply whatever
    /// it says).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registry_mirrors: Vec<registry::Mirror>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub mode: LbMode,
    /// The addresses `l2` hands out; `null` for `node-ip` (the nodes' own, known after up).
    pub pool: Option<Pool>,
}

impl Addons {
    /// Resolves the provider's defaults; `settings` passed [`AddonSettings::check`] and
    /// [`AddonSettings::check_provider`].
    pub fn plan(settings: &AddonSettings, provider: Provider, net: Ipv4Net) -> Addons {
        let load_balancer = settings.selection.load_balancer.then(|| {
            let mode = match provider {
                Provider::Tart => LbMode::NodeIp,
                Provider::Libvirt => settings.lb_mode.unwrap_or(LbMode::L2),
            };
            let pool = (mode == LbMode::L2)
                .then(|| settings.lb_pool.unwrap_or_else(|| Pool::default_for(net)));
            LoadBalancer { mode, pool }
        });
        Addons {
            storage: settings.selection.storage,
            ingress: settings.selection.ingress,
            load_balancer,
            registry_mirrors: settings.mirrors.clone(),
        }
    }

    /// One line for the plan table: `storage, load-balancer (l2, pool A-B), ingress` or `none`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.storage {
            parts.push("storage".to_string());
        }
        if let Some(lb) = &self.load_balancer {
            parts.push(match lb.pool {
                Some(pool) => format!("load-balancer ({}, pool {pool})", lb.mode.as_str()),
                None => format!("load-balancer ({}: the nodes' addresses)", lb.mode.as_str()),
            });
        }
        if self.ingress {
            parts.push("ingress".to_string());
        }
        if parts.is_empty() {
            parts.push("none".to_string());
        }
        if !self.registry_mirrors.is_empty() {
            let mirrors: Vec<String> = self
                .registry_mirrors
                .iter()
                .map(|m| m.to_string())
                .collect();
            parts.push(format!("registry mirrors {}", mirrors.join(" ")));
        }
        parts.join(", ")
    }
}

/// An entry of `extensions.helm.repositories` (k0s `pkg/apis/k0s/v1beta1/extensions.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HelmRepository {
    pub name: &'static str,
    pub url: &'static str,
}

/// An entry of `extensions.helm.charts`; `values` is the YAML string k0s hands to Helm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelmChart {
    pub name: &'static str,
    /// `repo/chart` online; offline the chart archive's path on the controller.
    pub chartname: String,
    pub version: &'static str,
    pub namespace: &'static str,
    pub order: u32,
    pub values: String,
}

/// A chart as its repository publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartRef {
    pub repository: HelmRepository,
    pub name: &'static str,
    pub version: &'static str,
}

impl ChartRef {
    /// `repo/chart`, what k0s resolves through `repositories`.
    pub fn online_name(&self) -> String {
        format!("{}/{}", self.repository.name, self.name)
    }

    /// The archive's name, as `helm package` and the repositories name it.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }
}

/// Where offline charts are uploaded on every controller (leadership, and with it the chart
/// installs, moves between them). k0s installs a chart from an absolute path that exists, with no
/// repository (k0s `pkg/helm/helm.go` `locateChart`, `docs/helm-charts.md`).
pub const CHARTS_DIR: &str = "/var/lib/k0s/charts";

/// What an add-on takes from the internet, pinned by this release: its chart (none for a plain
/// manifest) and the images its pods run. Offline both come from the host cache, which
/// `cache fetch` fills; one image bundle per add-on, version and architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// The add-on's name in ADDONS.
    pub addon: &'static str,
    pub version: &'static str,
    pub chart: Option<ChartRef>,
    pub images: &'static [&'static str],
}

impl Pinned {
    /// Every add-on's, whatever is selected (what `cache prune` keeps).
    pub fn all() -> Vec<Pinned> {
        vec![
            storage::pinned(),
            load_balancer::pinned(),
            ingress::pinned(),
        ]
    }

    /// The image bundle's file name.
    pub fn bundle_name(&self) -> String {
        format!("addon-{}-{}.tar", self.addon, self.version)
    }
}

impl Selection {
    /// What the selected add-ons take from the internet.
    pub fn pinned(&self) -> Vec<Pinned> {
        [
            (self.storage, storage::pinned()),
            (self.load_balancer, load_balancer::pinned()),
            (self.ingress, ingress::pinned()),
        ]
        .into_iter()
        .filter_map(|(on, p)| on.then_some(p))
        .collect()
    }
}

/// Where the manifest deployer reads stacks on a controller (k0s `docs/manifests.md`).
pub const MANIFESTS_DIR: &str = "/var/lib/k0s/manifests";

/// A manifest the deploy writes under `.vagrant/k0s/addons/<stack>/` and k0sctl uploads to every
/// controller (the leader applies it; leadership moves, so all get it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackFile {
    pub stack: &'static str,
    pub name: &'static str,
    pub content: String,
}

impl Addons {
    /// The stacks these add-ons need. `nodes`: every node's address (the `node-ip` pool);
    /// `interface`: where the node network is (the `l2` announcement).
    pub fn stack_files(&self, nodes: &[Ipv4Addr], interface: Option<&str>) -> Vec<StackFile> {
        let mut files = Vec::new();
        if self.storage {
            files.push(StackFile {
                stack: storage::STACK,
                name: "local-path.yaml",
                content: storage::manifest(),
            });
        }
        if let Some(lb) = &self.load_balancer {
            files.push(StackFile {
                stack: load_balancer::STACK,
                name: "pool.yaml",
                content: load_balancer::pool_manifest(lb, nodes, interface),
            });
        }
        files
    }

    /// What these add-ons take from the internet.
    pub fn pinned(&self) -> Vec<Pinned> {
        Selection {
            storage: self.storage,
            load_balancer: self.load_balancer.is_some(),
            ingress: self.ingress,
        }
        .pinned()
    }

    /// The Helm repositories and charts, in install order; empty when no add-on needs Helm.
    pub fn helm(&self) -> (Vec<HelmRepository>, Vec<HelmChart>) {
        let mut parts = Vec::new();
        if let Some(lb) = &self.load_balancer {
            parts.push(load_balancer::helm(lb.mode));
        }
        if self.ingress {
            parts.push(ingress::helm(self.load_balancer.is_some()));
        }
        parts.into_iter().unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn settings(lb_mode: Option<LbMode>, lb_pool: Option<&str>) -> AddonSettings {
        AddonSettings {
            selection: Selection::default(),
            lb_mode,
            lb_pool: lb_pool.map(|p| Pool::parse(p).unwrap()),
            mirrors: Vec::new(),
        }
    }

    #[test]
    fn selection_reads_names_and_none() {
        let none = Selection::parse(" none ").unwrap();
        assert!(!none.storage && !none.load_balancer && !none.ingress);
        assert_eq!(Selection::parse("storage,,ingress"), Err(String::new()));
        let all = Selection::parse("storage, load-balancer,ingress").unwrap();
        assert!(all.storage && all.load_balancer && all.ingress);
        let only = Selection::parse("ingress").unwrap();
        assert!(!only.storage && !only.load_balancer && only.ingress);
        assert_eq!(
            Selection::parse("storage,metallb"),
            Err("metallb".to_string())
        );
    }

    #[test]
    fn default_pool_is_the_top_of_the_network_above_the_api_address() {
        assert_eq!(
            Pool::default_for(net("192.168.56.0/24")).to_string(),
            "192.168.56.223-192.168.56.254"
        );
        assert_eq!(
            Pool::default_for(net("10.0.0.0/25")).to_string(),
            "10.0.0.101-10.0.0.126"
        );
        assert_eq!(
            Pool::default_for(net("10.0.0.0/16")).to_string(),
            "10.0.255.223-10.0.255.254"
        );
        for n in ["192.168.56.0/24", "10.0.0.0/25", "10.0.0.0/16"] {
            assert_eq!(Pool::default_for(net(n)).conflict(net(n)), None, "{n}");
        }
    }

    #[test]
    fn pools_parse_as_ranges_or_cidrs() {
        let range = Pool::parse("192.168.56.200-192.168.56.210").unwrap();
        assert_eq!(range.to_string(), "192.168.56.200-192.168.56.210");
        let cidr = Pool::parse("192.168.56.240/28").unwrap();
        assert_eq!(cidr.to_string(), "192.168.56.240-192.168.56.255");
        assert!(Pool::parse("192.168.56.9-192.168.56.1").is_err());
        assert!(Pool::parse("192.168.56.x-192.168.56.9").is_err());
        assert!(Pool::parse("nope").is_err());
    }

    #[test]
    fn a_pool_must_not_take_a_node_the_api_or_the_host() {
        let n = net("192.168.56.0/24");
        let conflict = |p: &str| {
            settings(None, Some(p))
                .check_provider(Provider::Libvirt, n)
                .map_err(|e| e.to_string())
                .err()
        };
        assert_eq!(conflict("192.168.56.200-192.168.56.250"), None);
        for (pool, whose) in [
            (
                "192.168.56.1-192.168.56.5",
                "192.168.56.1, the host's address",
            ),
            (
                "192.168.56.12/32",
                "192.168.56.12, control-plane-3's address",
            ),
            (
                "192.168.56.24-192.168.56.30",
                "192.168.56.24, worker-5's address",
            ),
            (
                "192.168.56.90-192.168.56.110",
                "192.168.56.100, the control-plane address",
            ),
        ] {
            let message = conflict(pool).unwrap();
            assert!(message.contains(whose), "{pool}: {message}");
            assert!(
                message.ends_with("e.g. LB_POOL=192.168.56.223-192.168.56.254"),
                "{message}"
            );
        }
        // The broadcast address and addresses outside the network.
        for pool in ["192.168.56.240/28", "192.168.57.1-192.168.57.9"] {
            assert!(conflict(pool)
                .unwrap()
                .contains("not inside the host addresses"));
        }
    }

    #[test]
    fn load_balancer_settings_need_the_load_balancer_and_the_right_mode() {
        let mut s = settings(Some(LbMode::L2), None);
        s.selection.load_balancer = false;
        assert_eq!(
            s.check(),
            Err(AddonsError::NoLoadBalancer { var: "LB_MODE" })
        );
        let s = settings(Some(LbMode::NodeIp), Some("192.168.56.200-192.168.56.201"));
        assert_eq!(s.check(), Err(AddonsError::PoolWithNodeIp));
    }

    #[test]
    fn tart_takes_node_addresses_only() {
        let n = net("192.168.56.0/24");
        assert_eq!(
            settings(Some(LbMode::L2), None).check_provider(Provider::Tart, n),
            Err(AddonsError::L2OnTart)
        );
        // Any pool on Tart, also one outside the network: the fix is to unset it.
        for pool in ["192.168.56.200-192.168.56.201", "10.9.9.1-10.9.9.9"] {
            assert_eq!(
                settings(None, Some(pool)).check_provider(Provider::Tart, n),
                Err(AddonsError::PoolOnTart)
            );
        }
        assert_eq!(
            settings(Some(LbMode::L2), None).check_provider(Provider::Libvirt, n),
            Ok(())
        );
        let tart = Addons::plan(&settings(None, None), Provider::Tart, n);
        assert_eq!(
            tart.load_balancer,
            Some(LoadBalancer {
                mode: LbMode::NodeIp,
                pool: None
            })
        );
        let libvirt = Addons::plan(&settings(None, None), Provider::Libvirt, n);
        assert_eq!(
            libvirt.summary(),
            "storage, load-balancer (l2, pool 192.168.56.223-192.168.56.254)"
        );
        let node_ip = Addons::plan(&settings(Some(LbMode::NodeIp), None), Provider::Libvirt, n);
        assert_eq!(
            node_ip.summary(),
            "storage, load-balancer (node-ip: the nodes' addresses)"
        );
    }
}
