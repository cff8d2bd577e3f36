//! A planned cluster on stand-in nodes (tests/common/nodes.rs) with the stand-in k0sctl, k0s and
//! systemctl of tests/stubs/, shared by the deploy, health, Taskfile and benchmark tests.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU8, Ordering};

use super::nodes::Nodes;
use super::sshd::user;
use super::{clean_env, env, helper, outcome, Scratch};

pub struct Cluster {
    pub project: Scratch,
    pub stubs: PathBuf,
    pub nodes: Nodes,
    pub planned: Vec<(String, Ipv4Addr)>,
    pub subnet: u8,
}

pub fn state(c: &Cluster) -> PathBuf {
    c.stubs.join("state")
}

/// `k0s-vagrant plan --format json -- up` for this project, as `vagrant up` runs it.
fn plan_up(
    project: &Path,
    subnet: u8,
    controllers: u32,
    workers: u32,
    vars: &[(&str, &str)],
) -> Output {
    let network = format!("10.77.{subnet}.0/24");
    let mut all = env(&[
        ("VAGRANT_DEFAULT_PROVIDER", "libvirt"),
        ("NODE_NETWORK", &network),
        ("CONTROL_PLANE_COUNT", &controllers.to_string()),
        ("WORKER_COUNT", &workers.to_string()),
        // A copy of its own, so the plan's version check stays out of the deploy's calls.
        (
            "K0SCTL",
            super::stub_k0sctl(&project.join("plan")).to_str().unwrap(),
        ),
    ]);
    all.extend(env(vars));
    helper(&all)
        .args(["plan", "--format", "json", "--project-dir"])
        .arg(project)
        .args(["--", "up"])
        .output()
        .unwrap()
}

impl Cluster {
    /// A planned cluster with `controllers` + `workers` stand-in nodes up and an inventory.
    pub fn new(controllers: u32, workers: u32) -> Cluster {
        static NEXT: AtomicU8 = AtomicU8::new(0);
        let subnet = 100 + NEXT.fetch_add(1, Ordering::SeqCst);
        let project = Scratch::new("deploy");
        let stubs = project.path().join("stubs");
        std::fs::create_dir_all(stubs.join("state").join("seed")).unwrap();
        for stub in ["k0s", "k0sctl"] {
            std::fs::copy(Path::new("tests/stubs").join(stub), stubs.join(stub)).unwrap();
        }
        std::fs::create_dir_all(stubs.join("bin")).unwrap();
        std::fs::copy("tests/stubs/systemctl", stubs.join("bin").join("systemctl")).unwrap();
        let out = plan_up(project.path(), subnet, controllers, workers, &[]);
        assert!(out.status.success(), "{}", outcome(&out));
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let planned: Vec<(String, Ipv4Addr)> = plan["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["name"].as_str().unwrap().to_string(),
                    n["ip"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        // What k0s registers on apply: controllers after the first keep the default taint.
        for (i, (name, _)) in planned.iter().enumerate() {
            let seed = if name.starts_with("control-plane") && i > 0 {
                "taint node-role.kubernetes.io/control-plane:NoSchedule\n"
            } else {
                ""
            };
            std::fs::write(stubs.join("state").join("seed").join(name), seed).unwrap();
        }
        // Each node's address, for the stand-in's `k0s etcd leave --peer-address`.
        let addresses: String = planned
            .iter()
            .map(|(name, ip)| format!("{name} {ip}\n"))
            .collect();
        std::fs::write(stubs.join("state").join("addresses"), addresses).unwrap();
        // The process id keeps two test runs on one machine (two checkouts) out of each other's nodes.
        let netns = format!("k0sv-deploy-{}-{subnet}", std::process::id());
        let nodes = Nodes::start(&netns, &stubs, &planned);
        let cluster = Cluster {
            project,
            stubs,
            nodes,
            planned,
            subnet,
        };
        super::cache::seed(
            &cluster.cache_dir(),
            "v1.33.4+k0s.0",
            super::cache::host_arch(),
        );
        cluster.write_inventory(|_, address| address);
        std::fs::copy(
            "tests/fixtures/kubeconfig/existing.yaml",
            cluster.user_kubeconfig(),
        )
        .unwrap();
        cluster
    }

    /// `vagrant up` of this cluster again, its machines existing: the plan step, with `vars` added.
    pub fn plan_up_again(&self, vars: &[(&str, &str)]) -> Output {
        let data = self.project.path().join(".vagrant");
        for (name, _) in &self.planned {
            super::mark_created(
                &data,
                name,
                "libvirt",
                "5d0a0f4e-0000-4000-8000-000000000001",
            );
        }
        let count = |prefix: &str| {
            let n = self
                .planned
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .count();
            n as u32
        };
        plan_up(
            self.project.path(),
            self.subnet,
            count("control-plane-"),
            count("worker-"),
            vars,
        )
    }

    /// The plan lock's `cluster.k0s_version`.
    pub fn locked_version(&self) -> Option<String> {
        let lock = std::fs::read_to_string(self.state_dir().join("plan.json")).unwrap();
        let plan: serde_json::Value = serde_json::from_str(&lock).unwrap();
        plan["cluster"]["k0s_version"].as_str().map(String::from)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.project.path().join(".vagrant").join("k0s")
    }

    pub fn user_kubeconfig(&self) -> PathBuf {
        self.project.path().join("user-kubeconfig")
    }

    /// The inventory the post-up trigger would write; `address` may bend a node's address.
    pub fn write_inventory(&self, address: impl Fn(&str, Ipv4Addr) -> Ipv4Addr) {
        let nodes: Vec<serde_json::Value> = self
            .planned
            .iter()
            .map(|(name, ip)| {
                serde_json::json!({
                    "name": name,
                    "address": address(name, *ip).to_string(),
                    "ssh": {"host": ip.to_string(), "port": 22, "user": user(), "key_path": self.nodes.client_key},
                    "k0s_binary": self.stubs.join("k0s"),
                })
            })
            .collect();
        let inventory =
            serde_json::json!({"cluster": "k0s", "provider": "libvirt", "nodes": nodes});
        std::fs::create_dir_all(self.state_dir()).unwrap();
        std::fs::write(
            self.state_dir().join("inventory.json"),
            inventory.to_string(),
        )
        .unwrap();
    }

    /// The helper binary inside the nodes' namespace, with a clean environment (`clean_env`).
    /// Offline with a cache of its own holding the versions the tests deploy, unless `env` says
    /// otherwise: no deploy reaches the network.
    pub fn helper(&self, env: &BTreeMap<String, String>) -> Command {
        let mut all = super::env(&[
            ("K0S_VAGRANT_OFFLINE", "1"),
            ("K0S_VAGRANT_CACHE", self.cache_dir().to_str().unwrap()),
        ]);
        all.extend(env.clone());
        clean_env(self.nodes.command(env!("CARGO_BIN_EXE_k0s-vagrant")), &all)
    }

    /// The cluster's download cache, seeded with v1.33.4+k0s.0 (what the stand-ins run), so an
    /// empty K0S_VERSION offline resolves to it.
    pub fn cache_dir(&self) -> PathBuf {
        self.project.path().join("cache")
    }

    pub fn deploy_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut all = env(&[
            ("K0SCTL", self.stubs.join("k0sctl").to_str().unwrap()),
            ("KUBECONFIG", self.user_kubeconfig().to_str().unwrap()),
            ("K0S_VAGRANT_SSH_WAIT", "20"),
            ("K0S_VAGRANT_READY_TIMEOUT", "20"),
            // Stand-in nodes run no API unless a test starts one: fail the api phase quickly.
            ("K0S_VAGRANT_API_WAIT", "5"),
        ]);
        all.extend(env(vars));
        self.helper(&all)
            .args(["deploy", "--project-dir"])
            .arg(self.project.path())
            .args(args)
            .output()
            .unwrap()
    }

    pub fn deploy(&self, args: &[&str]) -> Output {
        self.deploy_with(args, &[])
    }

    pub fn k0sctl_calls(&self) -> Vec<String> {
        read_lines(&state(self).join("calls"))
    }

    pub fn k0s_calls(&self) -> Vec<String> {
        read_lines(&state(self).join("k0s-calls"))
    }

    pub fn node_state(&self, name: &str) -> String {
        std::fs::read_to_string(state(self).join("nodes").join(name)).unwrap_or_default()
    }
}

/// `k0s-vagrant --project-dir PROJECT ARGS` inside the nodes' namespace, with the cluster's
/// KUBECONFIG (the project first, so ARGS may end with `-- <vagrant args>`).
pub fn helper_in(c: &Cluster, args: &[&str]) -> Output {
    c.helper(&env(&[(
        "KUBECONFIG",
        c.user_kubeconfig().to_str().unwrap(),
    )]))
    .arg("--project-dir")
    .arg(c.project.path())
    .args(args)
    .output()
    .unwrap()
}

pub fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}
