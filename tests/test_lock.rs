//! The plan lock through the real binary, with machines marked created the way Vagrant marks them
//! (`.vagrant/machines/<name>/<provider>/id`): `up` writes and extends it, every other command
//! follows it, and it goes when no machine of the cluster is left.

mod common;

use std::path::{Path, PathBuf};

use common::{env, helper, mark_created, outcome, stderr, stub_k0sctl, Scratch};

struct Project {
    dir: Scratch,
}

impl Project {
    fn new() -> Project {
        Project {
            dir: Scratch::new("lock"),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join(".vagrant")
    }

    fn lock(&self) -> PathBuf {
        self.data().join("k0s").join("plan.json")
    }

    /// `k0s-vagrant plan --format json -- <vagrant args>` as the Vagrantfile runs it.
    fn plan(&self, vagrant_args: &str, vars: &[(&str, &str)]) -> std::process::Output {
        let k0sctl = stub_k0sctl(self.dir.path());
        let mut all = env(&[
            ("VAGRANT_DEFAULT_PROVIDER", "libvirt"),
            ("K0SCTL", k0sctl.to_str().unwrap()),
        ]);
        all.extend(env(vars));
        helper(&all)
            .args(["plan", "--format", "json", "--project-dir"])
            .arg(self.dir.path())
            .arg("--")
            .args(vagrant_args.split_whitespace())
            .output()
            .unwrap()
    }

    fn created(&self, name: &str) {
        mark_created(
            &self.data(),
            name,
            "libvirt",
            "5d0a0f4e-0000-4000-8000-000000000001",
        );
    }

    fn destroyed(&self, name: &str) {
        std::fs::remove_file(
            self.data()
                .join("machines")
                .join(name)
                .join("libvirt")
                .join("id"),
        )
        .unwrap();
    }
}

fn node_names(out: &std::process::Output) -> Vec<String> {
    assert_eq!(out.status.code(), Some(0), "{}", outcome(out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

fn locked_names(lock: &Path) -> Vec<String> {
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lock).unwrap()).unwrap();
    plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn up_writes_the_lock_and_other_commands_do_not() {
    let p = Project::new();
    node_names(&p.plan("status", &[("WORKER_COUNT", "2")]));
    assert!(!p.lock().exists(), "status must not write the lock");
    assert_eq!(
        node_names(&p.plan("up", &[("WORKER_COUNT", "2")])),
        ["control-plane-1", "worker-1", "worker-2"]
    );
    assert_eq!(
        locked_names(&p.lock()),
        ["control-plane-1", "worker-1", "worker-2"]
    );
}

#[test]
fn changed_count_does_not_orphan_machines_outside_up() {
    let p = Project::new();
    node_names(&p.plan("up", &[("WORKER_COUNT", "3")]));
    p.created("worker-3");
    let out = p.plan("destroy -f", &[("WORKER_COUNT", "1")]);
    assert_eq!(
        node_names(&out),
        ["control-plane-1", "worker-1", "worker-2", "worker-3"]
    );
    assert!(
        stderr(&out).contains("using the plan of the existing cluster (1 controller, 3 workers;"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_variable_does_not_block_destroy_of_an_existing_cluster() {
    let p = Project::new();
    node_names(&p.plan("up", &[]));
    p.created("control-plane-1");
    assert_eq!(
        node_names(&p.plan("destroy -f", &[("WORKER_COUNT", "banana")])),
        ["control-plane-1", "worker-1"]
    );
    // Without machines the same variable is an error again.
    p.destroyed("control-plane-1");
    assert_eq!(
        p.plan("destroy -f", &[("WORKER_COUNT", "banana")])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn higher_count_on_up_extends_the_plan() {
    let p = Project::new();
    node_names(&p.plan("up", &[]));
    p.created("control-plane-1");
    p.created("worker-1");
    let out = p.plan("up", &[("WORKER_COUNT", "2")]);
    assert_eq!(
        node_names(&out),
        ["control-plane-1", "worker-1", "worker-2"]
    );
    assert_eq!(
        locked_names(&p.lock()),
        ["control-plane-1", "worker-1", "worker-2"]
    );
}

/// The STAND-IN vagrant (tests/stubs/vagrant) first on PATH, with its state in the project, and a
/// Vagrantfile the helper finds (the stand-in does not read it): what `vagrant destroy -f NODE`
/// needs when a lower count on `vagrant up` removes machines.
fn stand_in_vagrant(p: &Project) -> String {
    let bin = p.dir.path().join("stubs").join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("tests/stubs/vagrant", bin.join("vagrant")).unwrap();
    std::fs::write(p.dir.path().join("Vagrantfile"), "# stand-in project\n").unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn destroy_calls(p: &Project) -> Vec<String> {
    std::fs::read_to_string(
        p.dir
            .path()
            .join("stubs")
            .join("state")
            .join("vagrant-calls"),
    )
    .unwrap_or_default()
    .lines()
    .filter(|l| l.starts_with("destroy"))
    .map(|l| l.split(" (in ").next().unwrap_or_default().to_string())
    .collect()
}

/// A lower count on `vagrant up` destroys the machines it drops first, the highest number first,
/// each with its own `vagrant destroy -f NODE` (here a cluster never deployed: nothing to take
/// out of a cluster), then plans the rest. A destroy that fails stops it with the lock untouched.
#[test]
fn lower_count_while_machines_exist_destroys_them_first_highest_number_first() {
    let p = Project::new();
    let path = stand_in_vagrant(&p);
    node_names(&p.plan("up", &[("WORKER_COUNT", "3")]));
    for name in ["control-plane-1", "worker-1", "worker-2", "worker-3"] {
        p.created(name);
    }
    let state = p.dir.path().join("stubs").join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("vagrant-fails"), "").unwrap();
    let failed = p.plan("up", &[("WORKER_COUNT", "1"), ("PATH", &path)]);
    assert_eq!(failed.status.code(), Some(4), "{}", outcome(&failed));
    assert_eq!(
        stderr(&failed).lines().last().unwrap_or_default(),
        "k0s-vagrant: WORKER_COUNT=1: `vagrant destroy -f worker-3` failed (`vagrant destroy -f worker-3` exited with code 1: see its output above); worker-3 and the nodes after it stay: fix the cause (see above), then run `vagrant up` again"
    );
    assert_eq!(locked_names(&p.lock()).len(), 4, "the lock is untouched");

    std::fs::remove_file(state.join("vagrant-fails")).unwrap();
    let out = p.plan("up", &[("WORKER_COUNT", "1"), ("PATH", &path)]);
    assert!(
        stderr(&out).starts_with("k0s-vagrant: WORKER_COUNT=1 removes worker-3, worker-2, one at a time: each leaves the cluster (drain, etcd leave, k0s reset), then its machine is destroyed with its disks (local volumes on it are lost); then `vagrant up` goes on\n==> vagrant destroy -f worker-3\n"),
        "{}",
        outcome(&out)
    );
    assert_eq!(node_names(&out), ["control-plane-1", "worker-1"]);
    assert_eq!(
        destroy_calls(&p),
        [
            "destroy -f worker-3",
            "destroy -f worker-3",
            "destroy -f worker-2"
        ]
    );
    assert_eq!(locked_names(&p.lock()), ["control-plane-1", "worker-1"]);
}

/// What `vagrant up` refuses anyway is refused before a machine goes.
#[test]
fn lower_count_with_a_changed_cluster_name_destroys_nothing() {
    let p = Project::new();
    let path = stand_in_vagrant(&p);
    node_names(&p.plan("up", &[("CONTROL_PLANE_COUNT", "3")]));
    for name in ["control-plane-1", "control-plane-2", "control-plane-3"] {
        p.created(name);
    }
    let out = p.plan(
        "up",
        &[
            ("CONTROL_PLANE_COUNT", "2"),
            ("CLUSTER_NAME", "other"),
            ("PATH", &path),
        ],
    );
    insta::assert_snapshot!(outcome(&out), @r"
    exit 2
    k0s-vagrant: CLUSTER_NAME=other differs from the existing cluster's k0s; run `vagrant destroy -f` first, or set it back
    ");
    assert!(destroy_calls(&p).is_empty());
    assert_eq!(locked_names(&p.lock()).len(), 4);
}

#[test]
fn lower_count_is_fine_when_the_dropped_machines_were_never_created() {
    let p = Project::new();
    node_names(&p.plan("up", &[("WORKER_COUNT", "3")]));
    p.created("control-plane-1");
    assert_eq!(
        node_names(&p.plan("up", &[("WORKER_COUNT", "1")])),
        ["control-plane-1", "worker-1"]
    );
}

#[test]
fn lock_goes_when_no_machine_is_left() {
    let p = Project::new();
    node_names(&p.plan("up", &[("WORKER_COUNT", "2")]));
    p.created("worker-2");
    node_names(&p.plan("status", &[]));
    assert!(p.lock().exists());
    p.destroyed("worker-2");
    // The next command sees no machine: the lock goes and the variables decide again.
    assert_eq!(
        node_names(&p.plan("status", &[])),
        ["control-plane-1", "worker-1"]
    );
    assert!(!p.lock().exists());
}

#[test]
fn existing_machines_keep_their_sizes_and_new_ones_get_the_new_sizes() {
    let p = Project::new();
    node_names(&p.plan("up", &[]));
    p.created("worker-1");
    let out = p.plan("up", &[("WORKER_COUNT", "2"), ("MEMORY_WORKER", "8192")]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let memory: Vec<u64> = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["memory_mb"].as_u64().unwrap())
        .collect();
    assert_eq!(memory, [2048, 4096, 8192]);
    assert!(
        stderr(&out)
            .contains("worker-1 exists and keeps 2 vCPUs, 4096 MB, 32 GB from the plan lock"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cluster_name_or_network_change_with_existing_machines_is_refused() {
    let p = Project::new();
    node_names(&p.plan("up", &[]));
    p.created("control-plane-1");
    let out = p.plan("up", &[("CLUSTER_NAME", "other")]);
    insta::assert_snapshot!(outcome(&out), @r"
    exit 2
    k0s-vagrant: CLUSTER_NAME=other differs from the existing cluster's k0s; run `vagrant destroy -f` first, or set it back
    ");
    let out = p.plan("up", &[("NODE_NETWORK", "10.9.0.0/24")]);
    assert!(stderr(&out)
        .contains("NODE_NETWORK=10.9.0.0/24 differs from the existing cluster's 192.168.56.0/24"));
    let out = p.plan("up --provider=tart", &[]);
    assert!(
        stderr(&out).contains("provider=tart differs from the existing cluster's libvirt"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreadable_lock_is_an_error_that_says_what_to_do() {
    let p = Project::new();
    node_names(&p.plan("up", &[]));
    p.created("control-plane-1");
    std::fs::write(p.lock(), "{not json").unwrap();
    let out = p.plan("status", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is unreadable") && stderr(&out).contains("delete it and run again"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dotfile_path_moves_the_lock() {
    let p = Project::new();
    let k0sctl = stub_k0sctl(p.dir.path());
    let out = helper(&env(&[
        ("VAGRANT_DEFAULT_PROVIDER", "libvirt"),
        ("VAGRANT_DOTFILE_PATH", "state"),
        ("K0SCTL", k0sctl.to_str().unwrap()),
    ]))
    .args(["plan", "--format", "json", "--project-dir"])
    .arg(p.dir.path())
    .args(["--", "up"])
    .output()
    .unwrap();
    node_names(&out);
    assert!(p.dir.path().join("state/k0s/plan.json").exists());
}

#[test]
fn up_without_k0sctl_is_refused_before_the_lock_is_written() {
    let p = Project::new();
    let out = helper(&env(&[
        ("VAGRANT_DEFAULT_PROVIDER", "libvirt"),
        ("PATH", "/usr/bin:/bin"),
    ]))
    .args(["plan", "--format", "json", "--project-dir"])
    .arg(p.dir.path())
    .args(["--", "up"])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", outcome(&out));
    assert!(
        stderr(&out).starts_with("k0s-vagrant: k0sctl not found; install it:"),
        "{}",
        outcome(&out)
    );
    assert!(
        !p.lock().exists(),
        "nothing is planned for machines that cannot be deployed"
    );
    // Other commands do not need k0sctl.
    let status = helper(&env(&[
        ("VAGRANT_DEFAULT_PROVIDER", "libvirt"),
        ("PATH", "/usr/bin:/bin"),
    ]))
    .args(["plan", "--format", "json", "--project-dir"])
    .arg(p.dir.path())
    .args(["--", "status"])
    .output()
    .unwrap();
    assert!(status.status.success(), "{}", outcome(&status));
}

/// A plan lock from the first release has no `api_mode`: its single controller binds the API on
/// `spec.api.address`, which k0s cannot switch on a running controller (k0s #6997).
#[test]
fn a_legacy_single_controller_cluster_keeps_its_api_layout_and_cannot_grow() {
    let p = Project::new();
    node_names(&p.plan("up", &[]));
    p.created("control-plane-1");
    p.created("worker-1");
    let mut lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.lock()).unwrap()).unwrap();
    let cluster = lock["cluster"].as_object_mut().unwrap();
    cluster.remove("api_mode");
    cluster.insert("api_address".into(), "192.168.56.10".into());
    std::fs::write(p.lock(), serde_json::to_string(&lock).unwrap()).unwrap();

    let out = p.plan("up", &[("WORKER_COUNT", "2")]);
    assert!(out.status.success(), "{}", outcome(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["cluster"]["api_mode"], "address");
    assert_eq!(plan["cluster"]["api_address"], "192.168.56.10");

    let out = p.plan("up", &[("CONTROL_PLANE_COUNT", "3")]);
    assert_eq!(out.status.code(), Some(2), "{}", outcome(&out));
    assert_eq!(
        stderr(&out),
        "k0s-vagrant: CONTROL_PLANE_COUNT=3: this cluster was created by an earlier k0s-vagrant that binds the API the single-controller way, which k0s cannot change on a running controller (k0s issue 6997); run `vagrant destroy -f`, then `CONTROL_PLANE_COUNT=3 vagrant up`, or set CONTROL_PLANE_COUNT=1\n"
    );
}

/// New clusters bind the API per controller from the first deploy, so growing is only more hosts.
#[test]
fn a_new_cluster_grows_from_one_to_three_controllers() {
    let p = Project::new();
    node_names(&p.plan("up", &[]));
    p.created("control-plane-1");
    p.created("worker-1");
    let out = p.plan("up", &[("CONTROL_PLANE_COUNT", "3")]);
    assert!(out.status.success(), "{}", outcome(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["cluster"]["api_mode"], "only-bind-to-address");
    assert_eq!(plan["cluster"]["api_address"], "192.168.56.100");
    assert_eq!(plan["nodes"].as_array().unwrap().len(), 4);
}

/// A k0sctl built from source prints no release tag (k0sctl version/version.go takes what
/// carlmjohnson/versioninfo finds): warned about, not refused; a release below the minimum is.
#[test]
fn k0sctl_from_source_is_warned_about_and_an_old_release_refused() {
    let p = Project::new();
    let fake = |version: &str| {
        let path = p.dir.path().join(format!("k0sctl-{}", version.len()));
        std::fs::write(&path, format!("#!/bin/sh\necho 'version: {version}'\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    };
    for version in ["(devel)", "v0.0.0-20260801120000-0123456789ab"] {
        let k0sctl = fake(version);
        let out = p.plan("up", &[("K0SCTL", k0sctl.to_str().unwrap())]);
        assert!(out.status.success(), "{}", outcome(&out));
        assert!(
            stderr(&out).contains(&format!("says version '{version}', which is not a release")),
            "{}",
            outcome(&out)
        );
    }
    let old = fake("v0.18.1");
    let out = p.plan("up", &[("K0SCTL", old.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(3), "{}", outcome(&out));
    assert!(
        stderr(&out).contains("is version v0.18.1, older than v0.19.3"),
        "{}",
        outcome(&out)
    );
}

/// `box_architecture` belongs to the Vagrant that evaluates the Vagrantfile, not to the cluster: a
/// lock written under Vagrant 2.4 must not hand the 2.4-only setting to a Vagrant 2.3 that is then
/// asked to destroy the cluster.
#[test]
fn box_architecture_follows_the_vagrant_asking_not_the_lock() {
    let p = Project::new();
    let k0sctl = stub_k0sctl(p.dir.path());
    let plan = |vagrant: &str, command: &str| {
        let out = helper(&env(&[
            ("VAGRANT_DEFAULT_PROVIDER", "libvirt"),
            ("K0SCTL", k0sctl.to_str().unwrap()),
        ]))
        .args([
            "plan",
            "--format",
            "json",
            "--vagrant-version",
            vagrant,
            "--project-dir",
        ])
        .arg(p.dir.path())
        .args(["--", command])
        .output()
        .unwrap();
        assert!(out.status.success(), "{}", outcome(&out));
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["providers"]["libvirt"]["box_architecture"].clone()
    };
    let host = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    assert_eq!(plan("2.4.1", "up"), host);
    p.created("control-plane-1");
    assert_eq!(plan("2.3.4", "destroy"), serde_json::Value::Null);
    assert_eq!(plan("2.4.1", "destroy"), host);
}
