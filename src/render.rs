//! k0sctl.yaml: the context is decided here in Rust (roles, taints, addresses, HA settings);
//! `templates/k0sctl.yaml.j2` only lays it out.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::addons::{registry, HelmChart, HelmRepository, StackFile, CHARTS_DIR, MANIFESTS_DIR};
use crate::inventory::Inventory;
use crate::plan::{ApiMode, K0sRole, Node, Plan, Provider};
use crate::util::exit::Category;

const TEMPLATE: &str = include_str!("../templates/k0sctl.yaml.j2");
/// VRRP authentication is not a secret here (an isolated private network); keepalived caps it at 8.
const VRRP_AUTH_PASS: &str = "k0svagrt";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RenderContext {
    pub placeholders: bool,
    pub cluster_name: String,
    pub hosts: Vec<Host>,
    pub k0s_version: Option<String>,
    /// Legacy single-controller clusters only ([`ApiMode::Address`]): control-plane-1's address.
    pub api_address: Option<String>,
    /// k0sctl then gives every controller `address: <privateAddress>` (k0sctl
    /// `phase/configure_k0s.go`, since v0.19.3).
    pub only_bind_to_address: bool,
    pub node_local_load_balancing: bool,
    /// Tart's softnet drops pod traffic that is not encapsulated.
    pub calico_vxlan: bool,
    pub vip: Option<Vip>,
    /// The k0s binary every host gets from the host's cache (k0sctl `k0sBinaryPath`, a local
    /// binary it uploads instead of letting the host download one; k0sctl
    /// `phase/upload_binaries.go` then checks it is `spec.k0s.version`); `None`: the nodes
    /// download k0s themselves (k0sctl's default).
    pub k0s_binary: Option<String>,
    /// The add-ons' charts (`spec.k0s.config.spec.extensions.helm`), in install order.
    pub helm_repositories: Vec<HelmRepository>,
    pub helm_charts: Vec<HelmChart>,
    /// The add-ons' manifests; the deploy writes them where the hosts' `files` take them.
    #[serde(skip)]
    pub stack_files: Vec<(PathBuf, String)>,
}

/// Where k0s imports image bundles from at start and while running (k0s `docs/airgap-install.md`:
/// `<data-dir>/images`, data dir `/var/lib/k0s`).
pub const IMAGES_DIR: &str = "/var/lib/k0s/images/";
/// The bundle's mode on the node: k0sctl's own airgap phase sets 0644 (k0sctl
/// `phase/airgap_bundles.go`, uploadBundle); a bundle is data, not a program.
pub const BUNDLE_PERM: &str = "0644";

/// A k0sctl `files` entry (k0sctl `cluster/uploadfile.go`); `src` is absolute, since k0sctl
/// resolves only `files[].src` and `k0sBinaryPath` against the config's directory.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Upload {
    pub name: String,
    pub src: String,
    pub dst_dir: String,
    pub perm: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub role: &'static str,
    pub no_taints: bool,
    pub ssh_address: String,
    pub ssh_port: u16,
    pub ssh_user: String,
    pub key_path: String,
    pub private_address: String,
    pub files: Vec<Upload>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Vip {
    pub cidr: String,
    pub auth_pass: &'static str,
    pub interface: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the inventory has no node {node} of the plan; rerun `vagrant up` to write it again")]
    NodeMissing { node: String },
    #[error("controllers hold the node network on different interfaces ({found}); the control-plane virtual IP needs one name on all")]
    InterfacesDiffer { found: String },
    #[error("REGISTRY_MIRRORS needs the cluster's k0s version, since k0s 1.36 reads another containerd drop-in format than older releases and the wrong one stops k0s; set K0S_VERSION (e.g. K0S_VERSION=v1.33.4+k0s.0)")]
    MirrorsNeedVersion,
    #[error("render k0sctl.yaml")]
    Template(#[source] minijinja::Error),
}

impl RenderError {
    /// The plan and the inventory disagree, or our own template is broken: neither is the user's
    /// input.
    pub fn category(&self) -> Category {
        match self {
            RenderError::NodeMissing { .. }
            | RenderError::InterfacesDiffer { .. }
            | RenderError::Template(_) => Category::Failed,
            RenderError::MirrorsNeedVersion => Category::BadInput,
        }
    }
}

impl Host {
    fn new(
        node: &Node,
        ssh_address: String,
        ssh_port: u16,
        ssh_user: String,
        key: &Path,
        private_address: String,
    ) -> Host {
        Host {
            name: node.name.clone(),
            role: node.k0s_role.as_str(),
            no_taints: node.k0s_role == K0sRole::ControllerWorker && node.runs_workloads,
            ssh_address,
            ssh_port,
            ssh_user,
            key_path: absolute(key),
            private_address,
            files: Vec::new(),
        }
    }

    /// A running machine, as the inventory has it.
    fn from_inventory(node: &Node, inventory: &Inventory) -> Result<Host, RenderError> {
        let n = inventory
            .node(&node.name)
            .ok_or_else(|| RenderError::NodeMissing {
                node: node.name.clone(),
            })?;
        Ok(Host::new(
            node,
            n.ssh.host.clone(),
            n.ssh.port,
            n.ssh.user.clone(),
            &n.ssh.key_path,
            n.address.to_string(),
        ))
    }

    /// A machine before it exists: its planned address (libvirt) or a `<...>` placeholder (Tart),
    /// and the key path Vagrant will give it.
    fn planned(plan: &Plan, node: &Node, data_dir: &Path) -> Host {
        let provider = plan.cluster.provider_hint;
        let address = node.ip.map_or_else(
            || format!("<address of {}>", node.name),
            |ip| ip.to_string(),
        );
        let key = data_dir
            .join("machines")
            .join(&node.name)
            .join(provider.as_str())
            .join("private_key");
        let user = match provider {
            Provider::Tart => plan.providers.tart.ssh_user.clone(),
            Provider::Libvirt => "vagrant".to_string(),
        };
        Host::new(node, address.clone(), 22, user, &key, address)
    }
}

impl RenderContext {
    /// With an inventory: the real endpoints. Without: planned addresses (libvirt) or `<...>`
    /// placeholders (Tart) and Vagrant's usual key paths, so the file can be read before any VM exists.
    pub fn new(
        plan: &Plan,
        inventory: Option<&Inventory>,
        data_dir: &Path,
    ) -> Result<RenderContext, RenderError> {
        let provider = plan.cluster.provider_hint;
        // One layout for every controller count, so growing the control plane changes only the
        // host list (see ApiMode); legacy clusters keep the first release's layout.
        let per_controller = plan.cluster.api_mode == ApiMode::OnlyBindToAddress;
        let mut hosts = plan
            .nodes
            .iter()
            .map(|node| match inventory {
                Some(inv) => Host::from_inventory(node, inv),
                None => Ok(Host::planned(plan, node, data_dir)),
            })
            .collect::<Result<Vec<Host>, RenderError>>()?;
        let vip = match (
            per_controller,
            plan.cluster.api_address,
            plan.cluster.network,
        ) {
            (true, Some(vip), Some(net)) if provider == Provider::Libvirt => {
                let interface = controller_interface(plan, inventory)?;
                Some(Vip {
                    cidr: format!("{vip}/{}", net.prefix_len()),
                    auth_pass: VRRP_AUTH_PASS,
                    interface,
                })
            }
            _ => None,
        };
        let (helm_repositories, helm_charts) = plan.addons.helm();
        let stacks = stacks(plan, inventory, data_dir)?;
        let mirrors = mirror_files(plan, data_dir)?;
        for (host, node) in hosts.iter_mut().zip(&plan.nodes) {
            let controller = node.k0s_role == K0sRole::ControllerWorker;
            host.files = mirrors
                .iter()
                .chain(stacks.iter().filter(|_| controller))
                .map(|(upload, _)| upload.clone())
                .collect();
        }
        Ok(RenderContext {
            placeholders: inventory.is_none(),
            cluster_name: plan.cluster.name.clone(),
            api_address: (!per_controller).then(|| hosts[0].private_address.clone()),
            hosts,
            k0s_version: plan.cluster.k0s_version.clone(),
            only_bind_to_address: per_controller,
            node_local_load_balancing: per_controller,
            calico_vxlan: provider == Provider::Tart,
            vip,
            k0s_binary: None,
            helm_repositories,
            helm_charts,
            stack_files: mirrors
                .into_iter()
                .chain(stacks)
                .map(|(upload, content)| (PathBuf::from(upload.src), content))
                .collect(),
        })
    }

    /// Uploads the cached artifacts to every host; the version becomes theirs, which k0sctl
    /// checks the uploaded binary against. Cached add-ons (offline) go with them: the image
    /// bundles to every host, the charts to every controller, and the charts are installed from
    /// there, with no repository.
    pub fn with_uploads(mut self, artifacts: Option<&crate::cache::Artifacts>) -> RenderContext {
        let Some(a) = artifacts else {
            return self;
        };
        self.k0s_version = Some(a.version.clone());
        self.k0s_binary = Some(absolute(&a.binary));
        let image_upload = |name: String, src: &Path| Upload {
            name,
            src: absolute(src),
            dst_dir: IMAGES_DIR.to_string(),
            perm: BUNDLE_PERM,
        };
        let images: Vec<Upload> =
            std::iter::once(image_upload("k0s-airgap-bundle".into(), &a.bundle))
                .chain(a.addons.bundles.iter().map(|b| {
                    let name = b.file_name().unwrap_or_default().to_string_lossy();
                    image_upload(format!("images/{name}"), b)
                }))
                .collect();
        let charts: Vec<Upload> = a
            .addons
            .charts
            .iter()
            .map(|c| Upload {
                name: format!("charts/{}-{}.tgz", c.name, c.version),
                src: absolute(&c.path),
                dst_dir: CHARTS_DIR.to_string(),
                perm: "0644",
            })
            .collect();
        for host in &mut self.hosts {
            let controller = host.role == K0sRole::ControllerWorker.as_str();
            let ours = images
                .iter()
                .chain(charts.iter().filter(|_| controller))
                .cloned();
            host.files.splice(0..0, ours);
        }
        if !a.addons.charts.is_empty() {
            self.helm_repositories.clear();
            for chart in &mut self.helm_charts {
                let cached = a.addons.charts.iter().find(|c| {
                    chart
                        .chartname
                        .strip_suffix(c.name.as_str())
                        .is_some_and(|r| r.ends_with('/'))
                });
                if let Some(file) = cached.and_then(|c| c.path.file_name()) {
                    // Where k0sctl puts it: dstDir and the source's file name.
                    chart.chartname = format!("{CHARTS_DIR}/{}", file.to_string_lossy());
                }
            }
        }
        self
    }

    pub fn render(&self) -> Result<String, RenderError> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        // A double-quoted YAML scalar; minijinja's tojson would HTML-escape `<` in placeholders.
        env.add_filter("quote", |v: String| {
            serde_json::to_string(&v).unwrap_or_default()
        });
        env.add_template("k0sctl.yaml.j2", TEMPLATE)
            .map_err(RenderError::Template)?;
        let template = env
            .get_template("k0sctl.yaml.j2")
            .map_err(RenderError::Template)?;
        template.render(self).map_err(RenderError::Template)
    }
}

/// The add-ons' stack files: their `files` entry for the controllers and their content. The
/// `node-ip` pool takes every node's address (the inventory's; the planned ones before up).
fn stacks(
    plan: &Plan,
    inventory: Option<&Inventory>,
    data_dir: &Path,
) -> Result<Vec<(Upload, String)>, RenderError> {
    let nodes: Vec<std::net::Ipv4Addr> = match inventory {
        Some(inv) => inv.nodes.iter().map(|n| n.address).collect(),
        None => plan.nodes.iter().filter_map(|n| n.ip).collect(),
    };
    let lb_on_l2 = plan
        .addons
        .load_balancer
        .as_ref()
        .is_some_and(|lb| lb.pool.is_some());
    let interface = if lb_on_l2 {
        Some(controller_interface(plan, inventory)?)
    } else {
        None
    };
    let dir = data_dir.join("k0s").join("addons");
    Ok(plan
        .addons
        .stack_files(&nodes, interface.as_deref())
        .into_iter()
        .map(
            |StackFile {
                 stack,
                 name,
                 content,
             }| {
                let upload = Upload {
                    name: format!("{stack}/{name}"),
                    src: absolute(&dir.join(stack).join(name)),
                    dst_dir: format!("{MANIFESTS_DIR}/{stack}"),
                    perm: "0644",
                };
                (upload, content)
            },
        )
        .collect())
}

/// Every node's containerd mirror configuration (see [`crate::addons::registry`]): the drop-in
/// in the format of the cluster's k0s version, and one `hosts.toml` per registry.
fn mirror_files(plan: &Plan, data_dir: &Path) -> Result<Vec<(Upload, String)>, RenderError> {
    let mirrors = &plan.addons.registry_mirrors;
    if mirrors.is_empty() {
        return Ok(Vec::new());
    }
    let k0s = plan
        .cluster
        .k0s_version
        .as_deref()
        .and_then(crate::util::version::release)
        .ok_or(RenderError::MirrorsNeedVersion)?;
    let dir = data_dir.join("k0s").join("addons").join("registry");
    let upload = |name: String, src: PathBuf, dst_dir: String| Upload {
        name,
        src: absolute(&src),
        dst_dir,
        perm: "0644",
    };
    let mut files = vec![(
        upload(
            format!("registry/{}", registry::DROP_IN),
            dir.join(registry::DROP_IN),
            registry::DROP_IN_DIR.to_string(),
        ),
        registry::drop_in(k0s),
    )];
    for mirror in mirrors {
        files.push((
            upload(
                format!("registry/{}/hosts.toml", mirror.registry),
                dir.join(&mirror.registry).join("hosts.toml"),
                format!("{}/{}", registry::HOSTS_DIR, mirror.registry),
            ),
            registry::hosts_toml(mirror),
        ));
    }
    Ok(files)
}

/// The interface every controller holds the node network on (learned in preflight).
fn controller_interface(plan: &Plan, inventory: Option<&Inventory>) -> Result<String, RenderError> {
    let Some(inv) = inventory else {
        return Ok("<interface of the node network>".to_string());
    };
    let mut names: Vec<String> = plan
        .nodes
        .iter()
        .filter(|n| n.k0s_role == K0sRole::ControllerWorker)
        .filter_map(|n| inv.node(&n.name).and_then(|i| i.interface.clone()))
        .collect();
    names.dedup();
    match names.as_slice() {
        [] => Ok("<interface of the node network>".to_string()),
        [one] => Ok(one.clone()),
        _ => Err(RenderError::InterfacesDiffer {
            found: names.join(", "),
        }),
    }
}

fn absolute(path: &Path) -> String {
    if path.is_absolute() {
        path.display().to_string()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string()
    }
}
