//! `k0s-vagrant deploy` end to end against stand-in nodes: real OpenSSH servers with their own
//! hostnames and addresses inside a network namespace the test creates (tests/common/nodes.rs),
//! with a STAND-IN k0sctl on the host and a STAND-IN k0s on the nodes (tests/stubs/). These tests
//! prove our side of the contract (phases, SSH, preflight, files, arguments, taint commands,
//! kubeconfig); they install no Kubernetes.

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::api::deployed;
use common::cluster::{helper_in, read_lines, state, Cluster};
use common::sshd::user;
use common::{env, helper, mark_created, outcome, stderr, stdout};

#[test]
fn stub_deploy_runs_every_phase_up_to_the_kubeconfig() {
    let c = Cluster::new(2, 1);
    let out = c.deploy(&["--until", "kubeconfig"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    for title in [
        "==> Wait for SSH on every node",
        "==> Preflight: hostnames, addresses, node-to-node reachability",
        "==> Put k0s and its images in the download cache",
        "==> Render k0sctl.yaml",
        "==> Apply with k0sctl",
        "==> Wait until every node is Ready",
        "==> Reconcile taints and labels",
        "==> Export the kubeconfig",
        "==> stopped after kubeconfig as asked (--until)",
    ] {
        assert!(err.contains(title), "missing {title:?} in\n{err}");
    }
    assert!(
        err.contains("    k0sctl: INFO ==> Running phase: Install workers"),
        "apply output is streamed with a prefix"
    );
    assert!(
        err.contains("control-plane-2: 10.77.") && err.contains(" on nodes0, reaches all 2 others"),
        "{err}"
    );

    // k0sctl: version check, apply with host key checking off, kubeconfig at the HA address.
    let config = c.state_dir().join("k0sctl.yaml");
    let ha = format!("https://10.77.{}.100:6443", c.subnet);
    assert_eq!(
        c.k0sctl_calls(),
        [
            "version SSH_KNOWN_HOSTS=unset:".to_string(),
            format!("apply --config {} SSH_KNOWN_HOSTS=set:", config.display()),
            format!(
                "kubeconfig --config {} --address {ha} SSH_KNOWN_HOSTS=set:",
                config.display()
            ),
        ]
    );
    // The rendered file names the real endpoints and passes our validator's rules.
    let yaml = std::fs::read_to_string(&config).unwrap();
    k0s_vagrant::validate::validate(&yaml).unwrap();
    assert!(yaml.contains(&format!("keyPath: \"{}\"", c.nodes.client_key.display())));
    assert!(
        yaml.contains("interface: \"nodes0\""),
        "HA address on the interface preflight found"
    );

    // Taints: control-plane-1 runs workloads (untouched), control-plane-2 keeps its taint,
    // worker-1 gets the role label.
    assert_eq!(c.node_state("control-plane-1"), "");
    assert_eq!(
        c.node_state("control-plane-2"),
        "taint node-role.kubernetes.io/control-plane:NoSchedule\n"
    );
    assert_eq!(
        c.node_state("worker-1"),
        "label node-role.kubernetes.io/worker=\n"
    );
    // On the nodes the deploy only asks: kubectl, and `k0s status` for the version it records.
    assert!(c
        .k0s_calls()
        .iter()
        .all(|call| call.starts_with("kubectl ") || call == "status -o json"));

    // Kubeconfig: ours (0600) and merged into the user's next to their own contexts.
    use std::os::unix::fs::PermissionsExt;
    let ours = c.state_dir().join("kubeconfig");
    assert_eq!(
        std::fs::metadata(&ours).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let contexts = std::process::Command::new("kubectl")
        .args(["config", "get-contexts", "-o", "name", "--kubeconfig"])
        .arg(c.user_kubeconfig())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&contexts.stdout),
        "k0s-k0s\nkind-dev\nwork\n"
    );
    let server = std::process::Command::new("kubectl")
        .args([
            "config",
            "view",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
            "--kubeconfig",
        ])
        .arg(&ours)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&server.stdout), ha);

    // Host keys pinned, inventory completed, timings recorded.
    assert_eq!(read_lines(&c.state_dir().join("known_hosts")).len(), 3);
    let inventory: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(c.state_dir().join("inventory.json")).unwrap(),
    )
    .unwrap();
    assert!(inventory["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["interface"] == "nodes0"));
    let timings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.state_dir().join("timings.json")).unwrap())
            .unwrap();
    let phases: Vec<&str> = timings[0]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "wait-ssh",
            "preflight",
            "artifacts",
            "render",
            "apply",
            "wait-ready",
            "version",
            "taints",
            "kubeconfig"
        ]
    );
    assert_eq!(timings[0]["outcome"], "ok");

    // `k0s-vagrant kubeconfig` prints that file; with --path its location.
    let printed = helper(&env(&[]))
        .args(["kubeconfig", "--project-dir"])
        .arg(c.project.path())
        .output()
        .unwrap();
    assert_eq!(printed.stdout, std::fs::read(&ours).unwrap());
    let path = helper(&env(&[]))
        .args(["kubeconfig", "--path", "--project-dir"])
        .arg(c.project.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&path.stdout),
        format!("{}\n", ours.display())
    );

    // A second run changes nothing and says so.
    let again = c.deploy(&["--until", "kubeconfig"]);
    assert_eq!(again.status.code(), Some(0), "{}", outcome(&again));
    let err = stderr(&again);
    assert!(err.contains("skipped: k0sctl.yaml is unchanged since the last successful apply and every node is Ready"), "{err}");
    assert!(
        err.contains("skipped: taints and labels already match the plan"),
        "{err}"
    );
    assert_eq!(applies(&c), 1, "no second apply");
    assert_eq!(read_lines(&c.state_dir().join("known_hosts")).len(), 3);
}

/// The cluster's k0s version is recorded after the first deploy (K0S_VERSION was empty) and
/// rendered for every later apply; `K0S_VERSION=<next minor> vagrant up` upgrades through k0sctl,
/// and a downgrade or a skipped minor is refused at the plan step, before anything changes.
#[test]
fn stub_deploy_records_the_k0s_version_and_vagrant_up_upgrades_it() {
    let c = Cluster::new(1, 1);
    let first = c.deploy(&["--until", "taints"]);
    assert_eq!(first.status.code(), Some(0), "{}", outcome(&first));
    assert!(stderr(&first).contains("    record k0s v1.33.4+k0s.0 in "));
    assert_eq!(c.locked_version().as_deref(), Some("v1.33.4+k0s.0"));
    let config = || std::fs::read_to_string(c.state_dir().join("k0sctl.yaml")).unwrap();
    assert!(config().contains("    version: \"v1.33.4+k0s.0\"\n"));
    let again = c.deploy(&["--until", "taints"]);
    let err = stderr(&again);
    assert!(
        err.contains("skipped: the plan lock already records k0s v1.33.4+k0s.0"),
        "{err}"
    );
    assert!(err.contains("skipped: k0sctl.yaml is unchanged"), "{err}");

    let refused = c.plan_up_again(&[("K0S_VERSION", "v1.32.5+k0s.0")]);
    assert_eq!(
        (refused.status.code(), stderr(&refused).lines().count()),
        (Some(2), 1),
        "{}",
        outcome(&refused)
    );
    assert!(stderr(&refused).contains(
        "K0S_VERSION=v1.32.5+k0s.0 is older than v1.33.4+k0s.0, which this cluster runs"
    ));
    let skips = c.plan_up_again(&[("K0S_VERSION", "v1.35.1+k0s.0")]);
    assert_eq!(skips.status.code(), Some(2), "{}", outcome(&skips));
    assert!(stderr(&skips).contains("set K0S_VERSION to a v1.34 release first"));
    assert_eq!(c.locked_version().as_deref(), Some("v1.33.4+k0s.0"));

    let up = c.plan_up_again(&[("K0S_VERSION", "v1.34.1+k0s.0")]);
    assert_eq!(up.status.code(), Some(0), "{}", outcome(&up));
    assert!(stderr(&up).contains("upgrading k0s from v1.33.4+k0s.0 to v1.34.1+k0s.0"));
    // Unset again, the record stands.
    let unset = c.plan_up_again(&[]);
    assert_eq!(unset.status.code(), Some(0), "{}", outcome(&unset));
    assert_eq!(c.locked_version().as_deref(), Some("v1.34.1+k0s.0"));

    common::cache::seed(&c.cache_dir(), "v1.34.1+k0s.0", common::cache::host_arch());
    let upgrade = c.deploy(&["--until", "taints"]);
    let err = stderr(&upgrade);
    assert_eq!(upgrade.status.code(), Some(0), "{}", outcome(&upgrade));
    assert!(config().contains("    version: \"v1.34.1+k0s.0\"\n"));
    assert!(
        err.contains("k0sctl: INFO ==> k0s cluster version v1.34.1+k0s.0 is now installed"),
        "{err}"
    );
    assert!(
        err.contains("skipped: the plan lock already records k0s v1.34.1+k0s.0"),
        "{err}"
    );
    let status = helper_in(&c, &["status"]);
    assert_eq!(
        stdout(&status).matches("v1.34.1+k0s.0").count(),
        2,
        "each node shows its version: {}",
        stdout(&status)
    );
}

#[test]
fn stub_deploy_until_render_stops_before_k0sctl() {
    let c = Cluster::new(1, 1);
    let out = c.deploy(&["--until", "render"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(stderr(&out).contains("==> stopped after render as asked (--until)"));
    assert!(
        c.k0sctl_calls().is_empty(),
        "k0sctl not even asked for its version"
    );
    assert!(c.state_dir().join("k0sctl.yaml").exists());
}

/// The add-on manifests the controllers' `files` upload are on the host where k0sctl.yaml says,
/// with what the pool holds: the default `l2` pool announced on the interface preflight found.
#[test]
fn stub_render_writes_the_add_on_manifests_the_controllers_upload() {
    let c = Cluster::new(1, 1);
    let out = c.deploy(&["--until", "render"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(c.state_dir().join("k0sctl.yaml")).unwrap())
            .unwrap();
    let hosts = config["spec"]["hosts"].as_sequence().unwrap();
    // The manifests the deploy writes (not the cached charts and image bundles, offline here).
    let manifests = c.state_dir().join("addons");
    let addon_files = |host: &serde_yaml::Value| -> Vec<serde_yaml::Value> {
        host["files"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|f| std::path::Path::new(f["src"].as_str().unwrap()).starts_with(&manifests))
            .cloned()
            .collect()
    };
    let files = addon_files(&hosts[0]);
    assert_eq!(files.len(), 2, "storage and the load-balancer pool");
    assert!(
        addon_files(&hosts[1]).is_empty(),
        "workers get no manifests"
    );
    for file in files {
        let src = std::path::Path::new(file["src"].as_str().unwrap());
        assert!(src.starts_with(c.state_dir().join("addons")), "{src:?}");
        let text = std::fs::read_to_string(src).unwrap();
        if src.ends_with("pool.yaml") {
            assert!(
                text.contains("- 10.") || text.contains("- 192.168."),
                "{text}"
            );
            assert!(text.contains("kind: L2Advertisement"), "{text}");
        } else {
            assert!(text.contains("storageclass.kubernetes.io/is-default-class"));
        }
    }
}

#[test]
fn stub_apply_is_retried_once_after_a_transient_failure() {
    let c = Cluster::new(1, 1);
    std::fs::write(state(&c).join("apply-fail-transient"), "").unwrap();
    let out = c.deploy(&["--until", "apply"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(stderr(&out).contains("(failure looks transient; retrying once after exit code 1)"));
    assert_eq!(applies(&c), 2);
}

#[test]
fn stub_apply_config_failure_exits_4_with_the_tail_and_no_retry() {
    let c = Cluster::new(1, 1);
    std::fs::write(state(&c).join("apply-fail"), "").unwrap();
    let out = c.deploy(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    // k0sctl's stdout and stderr are two pipes: their relative order is not fixed.
    let last = stderr(&out).lines().last().unwrap().to_string();
    assert!(
        last.starts_with("k0s-vagrant: apply: k0sctl apply failed with exit code 1 (log: "),
        "{last}"
    );
    assert!(last.contains(
        "ERRO apply failed: cluster config validation failed: spec: (hosts: at least one host required.)."
    ));
    assert!(
        last.ends_with("); fix the cause and run `vagrant up` again, or `k0s-vagrant deploy`"),
        "{last}"
    );
    assert_eq!(applies(&c), 1);
    let timings = std::fs::read_to_string(c.state_dir().join("timings.json")).unwrap();
    assert!(timings.contains("\"failed in apply\""));
}

#[test]
fn stub_apply_that_hangs_is_stopped_at_the_deadline() {
    let c = Cluster::new(1, 1);
    std::fs::write(state(&c).join("apply-hang"), "").unwrap();
    let start = std::time::Instant::now();
    let out = c.deploy_with(&[], &[("K0S_VAGRANT_APPLY_TIMEOUT", "3")]);
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    assert!(
        stderr(&out).contains("apply: k0sctl apply did not finish within 3s and was stopped"),
        "{}",
        outcome(&out)
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn stub_missing_k0sctl_exits_3_with_install_instructions() {
    let c = Cluster::new(1, 1);
    let out = c.deploy_with(&[], &[("K0SCTL", "/nonexistent/k0sctl")]);
    assert_eq!(out.status.code(), Some(3), "{}", outcome(&out));
    assert!(stderr(&out).contains("k0s-vagrant: apply: k0sctl not found at K0SCTL=/nonexistent/k0sctl; install it: macOS `brew install k0sproject/tap/k0sctl`"), "{}", outcome(&out));
}

#[test]
fn stub_node_that_never_gets_ready_fails_wait_ready_with_the_next_step() {
    let c = Cluster::new(1, 1);
    std::fs::create_dir_all(state(&c).join("notready")).unwrap();
    std::fs::create_dir_all(state(&c).join("notready")).unwrap();
    std::fs::write(state(&c).join("notready").join("worker-1"), "").unwrap();
    let out = c.deploy_with(&[], &[("K0S_VAGRANT_READY_TIMEOUT", "2")]);
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    let err = stderr(&out);
    assert!(
        err.contains("    1/2 nodes Ready; waiting for worker-1: KubeletNotReady"),
        "progress shown: {err}"
    );
    assert!(err.ends_with("k0s-vagrant: wait-ready: worker-1 not Ready after 2.0s (KubeletNotReady); try: vagrant ssh worker-1 -c 'sudo k0s status'\n"), "{err}");
}

/// A halted cluster brought back by `vagrant up`: right after the VMs start its nodes are
/// NotReady for a while. With k0sctl.yaml unchanged, apply waits for them (with progress), is
/// skipped once they are Ready, and the summary gives the time to healthy.
#[test]
fn stub_cluster_coming_back_waits_for_its_nodes_and_skips_apply() {
    let (c, _api) = deployed(1, 1);
    let notready = state(&c).join("notready");
    std::fs::create_dir_all(&notready).unwrap();
    for (name, _) in &c.planned {
        std::fs::write(notready.join(name), "").unwrap();
    }
    // The stand-in k0s reads these markers: control-plane-1 comes back first, worker-1 later.
    let back = std::thread::spawn(move || {
        for (name, after) in [("control-plane-1", 2), ("worker-1", 5)] {
            std::thread::sleep(Duration::from_secs(after));
            std::fs::remove_file(notready.join(name)).unwrap();
        }
    });
    let start = Instant::now();
    let out = c.deploy(&[]);
    back.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(start.elapsed() >= Duration::from_secs(7));
    let err = stderr(&out);
    for line in [
        "    k0sctl.yaml is unchanged since the last successful apply; waiting up to 20.0s for every node to be Ready\n",
        "    0/2 nodes Ready; waiting for control-plane-1: KubeletNotReady\n",
        "    1/2 nodes Ready; waiting for worker-1: KubeletNotReady\n",
        "    skipped: k0sctl.yaml is unchanged since the last successful apply and every node is Ready\n",
        "==> nothing changed: the cluster already matches the plan\n",
    ] {
        assert!(err.contains(line), "missing {line:?} in\n{err}");
    }
    let healthy = err
        .lines()
        .find(|l| l.starts_with("==> healthy in "))
        .unwrap_or_else(|| panic!("no time to healthy in\n{err}"));
    assert!(
        healthy.contains(": every node was Ready again after "),
        "{healthy}"
    );
    assert!(err.contains("==> finished in "), "{err}");
    assert_eq!(applies(&c), 1, "no second apply");
}

/// A node that does not come back within the ready timeout: apply runs (k0sctl may repair it).
#[test]
fn stub_node_that_stays_not_ready_makes_apply_run() {
    let c = Cluster::new(1, 1);
    let first = c.deploy(&["--until", "apply"]);
    assert_eq!(first.status.code(), Some(0), "{}", outcome(&first));
    std::fs::create_dir_all(state(&c).join("notready")).unwrap();
    std::fs::write(state(&c).join("notready").join("worker-1"), "").unwrap();
    let out = c.deploy_with(&["--until", "apply"], &[("K0S_VAGRANT_READY_TIMEOUT", "3")]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "    worker-1 is not Ready after 3.0s (KubeletNotReady): running k0sctl apply\n"
        ),
        "{err}"
    );
    assert!(!err.contains("skipped:"), "{err}");
    assert_eq!(applies(&c), 2);
    assert!(!err.contains("==> healthy in"), "stopped early: no summary");
}

#[test]
fn stub_preflight_names_the_node_whose_address_is_missing_and_the_pairs_that_fail() {
    let c = Cluster::new(1, 1);
    let bogus: Ipv4Addr = format!("10.77.{}.99", c.subnet).parse().unwrap();
    c.write_inventory(|name, ip| if name == "worker-1" { bogus } else { ip });
    let out = c.deploy(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "worker-1: {bogus} is on none of its interfaces (found lo 127.0.0.1, nodes0 10.77."
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "control-plane-1 cannot reach worker-1 ({bogus}:22)"
        )),
        "{err}"
    );
    assert!(
        c.k0sctl_calls().is_empty(),
        "nothing applied after a failed preflight"
    );
}

#[test]
fn stub_unreachable_node_fails_wait_ssh_in_bounded_time() {
    let mut c = Cluster::new(1, 1);
    let worker = c.planned[1].1.to_string();
    c.nodes.stop(&worker);
    let start = std::time::Instant::now();
    let out = c.deploy_with(&[], &[("K0S_VAGRANT_SSH_WAIT", "2")]);
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    assert!(
        stderr(&out).contains(&format!(
            "wait-ssh: worker-1: cannot reach {worker}:22 over SSH after"
        )),
        "{}",
        outcome(&out)
    );
    assert!(
        stderr(&out).contains("control-plane-1: ssh ready"),
        "the healthy node is still reported"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn stub_api_phase_reports_an_api_that_does_not_answer() {
    // The stand-in nodes run no Kubernetes API, so the last phase must say so, not pass.
    let c = Cluster::new(1, 1);
    let out = c.deploy(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    let last = stderr(&out).lines().last().unwrap().to_string();
    assert!(
        last.starts_with(&format!(
            "k0s-vagrant: api: the API at https://10.77.{}.100:6443 does not answer from this host",
            c.subnet
        )),
        "{last}"
    );
}

/// How many times the stand-in k0sctl applied.
fn applies(c: &Cluster) -> usize {
    c.k0sctl_calls()
        .iter()
        .filter(|l| l.starts_with("apply"))
        .count()
}

/// Registry mirrors: every node gets the containerd drop-in in the format of the cluster's k0s
/// version and a hosts.toml per registry, written on the host where k0sctl.yaml says, and the
/// validator reads the drop-in it uploads.
#[test]
fn stub_registry_mirrors_follow_the_k0s_version() {
    for (version, format) in [
        ("v1.35.7+k0s.0", "version = 2"),
        ("v1.36.1+k0s.0", "version = 3"),
    ] {
        let c = Cluster::new(1, 1);
        common::cache::seed(&c.cache_dir(), version, common::cache::host_arch());
        let mirrors = ("REGISTRY_MIRRORS", "docker.io=http://10.0.0.1:5001");
        let plan = c.plan_up_again(&[mirrors, ("K0S_VERSION", version)]);
        assert_eq!(plan.status.code(), Some(0), "{}", outcome(&plan));
        let out = c.deploy(&["--until", "render"]);
        assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
        let config: serde_yaml::Value = serde_yaml::from_str(
            &std::fs::read_to_string(c.state_dir().join("k0sctl.yaml")).unwrap(),
        )
        .unwrap();
        for host in config["spec"]["hosts"].as_sequence().unwrap() {
            let files = host["files"].as_sequence().unwrap();
            let src = |dst: &str| {
                let file = files.iter().find(|f| f["dstDir"] == dst).unwrap();
                std::fs::read_to_string(file["src"].as_str().unwrap()).unwrap()
            };
            assert!(src("/etc/k0s/containerd.d").contains(format), "{version}");
            assert!(src("/etc/k0s/containerd.d/certs.d/docker.io")
                .contains("[host.\"http://10.0.0.1:5001\"]"));
        }
    }
}

/// k0sctl.yaml names every uploaded file with its SHA-256, so a changed manifest behind the same
/// path makes `apply` run again instead of being skipped as unchanged.
#[test]
fn stub_a_changed_uploaded_file_makes_apply_run() {
    let c = Cluster::new(1, 1);
    let out = c.deploy(&["--until", "apply"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let config = || std::fs::read_to_string(c.state_dir().join("k0sctl.yaml")).unwrap();
    let pool = c.state_dir().join("addons/k0s-vagrant-lb/pool.yaml");
    let digest_line = |text: &str| {
        text.lines()
            .find(|l| l.ends_with(&format!(" {}", pool.display())))
            .map(String::from)
    };
    let first = digest_line(&config()).expect("the pool's digest line");
    assert!(first.starts_with("# upload sha256:"), "{first}");
    let out = c.deploy(&["--until", "apply"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert_eq!(applies(&c), 1, "unchanged: skipped");

    let subnet = c.subnet;
    let plan = c.plan_up_again(&[("LB_POOL", &format!("10.77.{subnet}.200-10.77.{subnet}.210"))]);
    assert_eq!(plan.status.code(), Some(0), "{}", outcome(&plan));
    let out = c.deploy(&["--until", "apply"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert_eq!(applies(&c), 2, "the pool changed: applied again");
    assert!(std::fs::read_to_string(&pool)
        .unwrap()
        .contains(".200-10.77."));
    assert_ne!(digest_line(&config()), Some(first));
}

/// Vagrant's facts as the post-up trigger writes them.
fn facts(c: &Cluster, state_of: impl Fn(&str) -> (&'static str, bool)) -> PathBuf {
    let machines: Vec<serde_json::Value> = c
        .planned
        .iter()
        .map(|(name, ip)| {
            let (state, finished) = state_of(name);
            serde_json::json!({
                "name": name, "provider": "libvirt", "state": state, "finished": finished,
                "ssh": (state == "running").then(|| serde_json::json!({
                    "host": ip.to_string(), "port": 22, "username": user(), "private_key_path": c.nodes.client_key,
                })),
            })
        })
        .collect();
    let path = c.state_dir().join("vagrant-facts.json");
    std::fs::write(&path, serde_json::json!({"machines": machines}).to_string()).unwrap();
    path
}

#[test]
fn stub_facts_decide_whether_to_deploy_now() {
    let c = Cluster::new(1, 2);
    std::fs::remove_file(c.state_dir().join("inventory.json")).unwrap();
    // The post-up (or post-resume) trigger's call, up to wait-ssh.
    let hook = |facts: &Path, argv: &[&str]| {
        let mut args = vec![
            "--until",
            "wait-ssh",
            "--facts",
            facts.to_str().unwrap(),
            "--",
        ];
        args.extend(argv);
        c.deploy(&args)
    };
    // worker-2 of this `vagrant up` has not finished: not yet, and silently.
    let f = facts(&c, |n| {
        if n == "worker-2" {
            ("running", false)
        } else {
            ("running", true)
        }
    });
    let out = hook(&f, &["up"]);
    assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(0), ""));
    assert!(!c.state_dir().join("inventory.json").exists());
    // `vagrant up worker-1` while worker-2 was never created: one line, no deploy.
    let f = facts(&c, |n| {
        if n == "worker-2" {
            ("not_created", false)
        } else {
            ("running", n == "worker-1")
        }
    });
    let out = c.deploy(&["--facts", f.to_str().unwrap(), "--", "up", "worker-1"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "k0s-vagrant: not deploying: worker-2 (not_created) not running; `vagrant up` brings up every machine and deploys\n");
    // `vagrant resume worker-1` (the `after :resume` trigger): the named machine has finished and
    // every planned one runs, so it deploys now.
    let f = facts(&c, |n| ("running", n == "worker-1"));
    let out = hook(&f, &["resume", "worker-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(stderr(&out).contains("==> Wait for SSH on every node"));
    std::fs::remove_file(c.state_dir().join("inventory.json")).unwrap();
    // All finished and running: the inventory comes from Vagrant's SSH facts.
    let f = facts(&c, |_| ("running", true));
    let out = hook(&f, &["up"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let inventory: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(c.state_dir().join("inventory.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(inventory["nodes"][2]["address"], c.planned[2].1.to_string());
    assert_eq!(
        inventory["nodes"][2]["ssh"]["key_path"],
        c.nodes.client_key.to_str().unwrap()
    );
}

/// `k0s-vagrant drill stop NODE --vm` brings the node back with `vagrant up NODE` and this
/// variable: its post-up hook must not run a deploy inside the drill's restore window.
#[test]
fn stub_deploy_from_the_hook_is_skipped_when_the_drill_asks() {
    let c = Cluster::new(1, 1);
    let f = facts(&c, |_| ("running", true));
    let out = c.deploy_with(
        &["--facts", f.to_str().unwrap(), "--", "up", "worker-1"],
        &[("K0S_VAGRANT_SKIP_DEPLOY", "1")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert_eq!(
        stderr(&out),
        "k0s-vagrant: not deploying: K0S_VAGRANT_SKIP_DEPLOY=1 (set by `k0s-vagrant drill`)\n"
    );
    assert!(c.k0sctl_calls().is_empty(), "{:?}", c.k0sctl_calls());
}

#[test]
fn stub_cleanup_removes_state_and_exactly_our_kubeconfig_entries_once_no_machine_is_left() {
    let c = Cluster::new(1, 1);
    let out = c.deploy(&["--until", "kubeconfig"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let data = c.project.path().join(".vagrant");
    mark_created(&data, "control-plane-1", "libvirt", "id-1");
    let cleanup = |c: &Cluster| {
        helper(&env(&[(
            "KUBECONFIG",
            c.user_kubeconfig().to_str().unwrap(),
        )]))
        .args(["cleanup", "--project-dir"])
        .arg(c.project.path())
        .output()
        .unwrap()
    };
    // worker-1 destroyed, control-plane-1 left: only worker-1's pinned key and inventory entry go.
    let out = cleanup(&c);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let pinned = read_lines(&c.state_dir().join("known_hosts"));
    assert_eq!(pinned.len(), 1);
    assert!(pinned[0].starts_with("control-plane-1 "), "{pinned:?}");
    let inventory: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(c.state_dir().join("inventory.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(inventory["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(inventory["nodes"][0]["name"], "control-plane-1");
    // Last machine gone: state and our context go, the user's own entries stay.
    std::fs::remove_dir_all(data.join("machines")).unwrap();
    let out = cleanup(&c);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(!c.state_dir().exists());
    assert!(stderr(&out).contains(&format!(
        "removed context k0s-k0s from {}",
        c.user_kubeconfig().display()
    )));
    let left: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(c.user_kubeconfig()).unwrap()).unwrap();
    let original: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string("tests/fixtures/kubeconfig/existing.yaml").unwrap(),
    )
    .unwrap();
    for list in ["clusters", "contexts", "users"] {
        assert_eq!(left[list], original[list], "{list}");
    }
}
