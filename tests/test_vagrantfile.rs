//! The real Vagrant (Debian's 2.3.4) with the real vagrant-libvirt evaluates the real Vagrantfile.
//! Each test gets its own Vagrant data directory; the helper is this build's binary
//! (K0S_VAGRANT_BIN) except where the build path itself is under test. Set
//! K0S_VAGRANT_SKIP_VAGRANT=1 to skip these tests where Vagrant is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{lab::Lab, outcome, repo, states, stderr, Scratch};

const OUR_VARS: &[&str] = &[
    "CONTROL_PLANE_COUNT",
    "control_plane_count",
    "WORKER_COUNT",
    "worker_count",
    "MEMORY_CONTROL",
    "memory_control",
    "MEMORY_WORKER",
    "memory_worker",
    "CPU_CONTROL",
    "cpu_control",
    "CPU_WORKER",
    "cpu_worker",
    "DISK_SIZE",
    "disk_size",
    "CLUSTER_NAME",
    "NODE_NETWORK",
    "K0S_VERSION",
    "TART_IMAGE",
    "LIBVIRT_BOX",
    "LIBVIRT_DRIVER",
    "VAGRANT_DEFAULT_PROVIDER",
    "K0S_VAGRANT_BIN",
    "VAGRANT_CWD",
    "VAGRANT_DOTFILE_PATH",
    "LIBVIRT_DEFAULT_URI",
    "K0SCTL",
];

/// A value in `vars` that removes the variable instead.
const UNSET: &str = "<unset>";
/// A box name for `vagrant up` tests that stop before any box is needed: not the default
/// multi-arch box, which Vagrant 2.3 cannot pick by architecture.
const SOME_BOX: (&str, &str) = ("LIBVIRT_BOX", "k0s-vagrant/never-downloaded");

fn skip() -> bool {
    if std::env::var("K0S_VAGRANT_SKIP_VAGRANT").is_ok_and(|v| v == "1") {
        eprintln!("skipped: K0S_VAGRANT_SKIP_VAGRANT=1");
        return true;
    }
    assert!(
        Command::new("vagrant").arg("--version").output().is_ok_and(|o| o.status.success()),
        "vagrant is not installed: run .ci/run (installs Debian's vagrant and vagrant-libvirt) or set K0S_VAGRANT_SKIP_VAGRANT=1"
    );
    false
}

/// One Vagrant project: the repository's Vagrantfile with a data directory of its own.
struct Project {
    scratch: Scratch,
    root: PathBuf,
}

impl Project {
    fn new() -> Project {
        let scratch = Scratch::new("vagrant");
        Project {
            root: repo(),
            scratch,
        }
    }

    fn data(&self) -> PathBuf {
        self.scratch.path().join("dot")
    }

    fn vagrant_in(&self, mut cmd: Command, args: &str, vars: &[(&str, &str)]) -> Output {
        for var in OUR_VARS {
            cmd.env_remove(var);
        }
        cmd.current_dir(self.scratch.path())
            .env("VAGRANT_CWD", &self.root)
            .env("VAGRANT_DOTFILE_PATH", self.data())
            .env("VAGRANT_HOME", repo().join("target").join("vagrant-home"))
            .env("VAGRANT_DEFAULT_PROVIDER", "libvirt")
            .env("K0S_VAGRANT_BIN", env!("CARGO_BIN_EXE_k0s-vagrant"))
            // `vagrant up` needs k0sctl before it creates anything.
            .env("K0SCTL", common::stub_k0sctl(self.scratch.path()))
            .args(args.split_whitespace());
        for (k, v) in vars {
            match *v {
                UNSET => cmd.env_remove(k),
                v => cmd.env(k, v),
            };
        }
        cmd.output().unwrap()
    }

    fn vagrant(&self, args: &str, vars: &[(&str, &str)]) -> Output {
        self.vagrant_in(Command::new("vagrant"), args, vars)
    }

    fn lock(&self) -> PathBuf {
        self.data().join("k0s").join("plan.json")
    }

    /// Machine directories Vagrant created; an aborted command must leave none.
    fn machine_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.data().join("machines"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn names(out: &Output) -> Vec<String> {
    states(out).into_iter().map(|(name, _)| name).collect()
}

#[test]
fn status_lists_the_planned_machines_in_plan_order() {
    if skip() {
        return;
    }
    let p = Project::new();
    type Vars = &'static [(&'static str, &'static str)];
    let cases: &[(Vars, &[&str])] = &[
        (&[], &["control-plane-1", "worker-1"]),
        (
            &[("CONTROL_PLANE_COUNT", "2")],
            &["control-plane-1", "control-plane-2", "worker-1"],
        ),
        (
            &[("control_plane_count", "3"), ("worker_count", "2")],
            &[
                "control-plane-1",
                "control-plane-2",
                "control-plane-3",
                "worker-1",
                "worker-2",
            ],
        ),
        (
            &[("CONTROL_PLANE_COUNT", "3"), ("WORKER_COUNT", "5")],
            &[
                "control-plane-1",
                "control-plane-2",
                "control-plane-3",
                "worker-1",
                "worker-2",
                "worker-3",
                "worker-4",
                "worker-5",
            ],
        ),
    ];
    for (vars, expected) in cases {
        let out = p.vagrant("status --machine-readable", vars);
        assert_eq!(names(&out), *expected, "{vars:?}");
        assert!(states(&out).iter().all(|(_, s)| s == "not_created"));
    }
    assert!(!p.lock().exists(), "status must not write the plan lock");
}

#[test]
fn validate_checks_the_libvirt_settings_of_every_machine() {
    if skip() {
        return;
    }
    let p = Project::new();
    for vars in [
        &[][..],
        &[
            ("CONTROL_PLANE_COUNT", "3"),
            ("WORKER_COUNT", "5"),
            ("NODE_NETWORK", "10.7.0.0/24"),
        ][..],
    ] {
        let out = p.vagrant("validate", vars);
        assert!(out.status.success(), "{}", outcome(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Vagrantfile validated successfully.")
        );
        let out = p.vagrant("validate -p", vars);
        assert!(out.status.success(), "{}", outcome(&out));
    }
}

#[test]
fn bad_variable_aborts_with_the_helper_message_and_creates_nothing() {
    if skip() {
        return;
    }
    let p = Project::new();
    for (args, vars, message) in [
        ("up", &[("WORKER_COUNT", "9")][..], "k0s-vagrant: WORKER_COUNT=9 is out of range (allowed 1..=5); set WORKER_COUNT=5\n"),
        ("status", &[("MEMORY_WORKER", "512")][..], "k0s-vagrant: MEMORY_WORKER=512 is below the minimum of 1024 MB; set MEMORY_WORKER=1024 or more\n"),
        ("validate", &[("NODE_NETWORK", "10.0.0.0/30")][..], "k0s-vagrant: NODE_NETWORK=10.0.0.0/30 has no room for 1 controller, 1 worker and the control-plane address (needs host offset .100, so a /25 or larger); use a /24 such as 192.168.56.0/24\n"),
        ("up", &[("VAGRANT_DEFAULT_PROVIDER", "virtualbox")][..], "k0s-vagrant: provider 'virtualbox' (from VAGRANT_DEFAULT_PROVIDER) is not supported (allowed tart, libvirt); use --provider=libvirt on Linux or --provider=tart on macOS\n"),
    ] {
        let out = p.vagrant(args, vars);
        assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
        assert_eq!(stderr(&out), message, "vagrant {args} {vars:?}");
        assert!(p.machine_dirs().is_empty(), "nothing created: {:?}", p.machine_dirs());
        assert!(!p.lock().exists());
    }
}

/// The plan lock as `WORKER_COUNT=<workers> vagrant up` writes it (the helper's own command).
fn write_up_lock(p: &Project, workers: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_k0s-vagrant"))
        .args(["plan", "--format", "json", "--project-dir"])
        .arg(&p.root)
        .args(["--", "up"])
        .env("VAGRANT_DOTFILE_PATH", p.data())
        .env("VAGRANT_DEFAULT_PROVIDER", "libvirt")
        .env("WORKER_COUNT", workers)
        .env("K0SCTL", common::stub_k0sctl(p.scratch.path()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", outcome(&out));
}

/// Vagrant 2.3 reads no box architectures and downloads the arm64 build of the default
/// `cloud-image/ubuntu-24.04` on any host (alchemy-solutions/vagrant-cloud-images issue 5), so
/// `vagrant up` with it is refused before anything exists; a named box, or any other command, is
/// fine. This runs the real Vagrant 2.3.4.
#[test]
fn default_box_on_vagrant_2_3_is_refused_before_anything_is_created() {
    if skip() {
        return;
    }
    let p = Project::new();
    let version = String::from_utf8_lossy(
        &Command::new("vagrant")
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        version.starts_with("Vagrant 2.3."),
        "this test is about Vagrant 2.3: {version}"
    );
    let out = p.vagrant("up", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    assert!(
        stderr(&out).starts_with("k0s-vagrant: Vagrant 2.3.4 would download the arm64 build of cloud-image/ubuntu-24.04 whatever the host (box architectures need Vagrant >= 2.4.0; alchemy-solutions/vagrant-cloud-images issue 5); install Vagrant 2.4 or newer"),
        "{}",
        outcome(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", outcome(&out));
    assert!(p.machine_dirs().is_empty());
    assert!(!p.lock().exists());
    // The plan Vagrant 2.3.4 evaluates names no architecture (it would reject the setting).
    let out = p.vagrant("validate", &[]);
    assert!(out.status.success(), "{}", outcome(&out));
}

/// The Vagrantfile passes the plan's `box_architecture` to `config.vm.box_architecture`. Only
/// Vagrant >= 2.4 has that setting, so Vagrant 2.3.4 rejecting it proves the value arrives; the
/// STAND-IN helper adds it to the real helper's plan as the helper does for Vagrant 2.4.
#[test]
fn box_architecture_from_the_plan_reaches_vagrant() {
    if skip() {
        return;
    }
    let p = Project::new();
    let stub = stub_helper(
        p.scratch.path(),
        &format!(
            "{} \"$@\" | sed 's/\"box_architecture\": null/\"box_architecture\": \"amd64\"/'",
            env!("CARGO_BIN_EXE_k0s-vagrant")
        ),
    );
    let out = p.vagrant("validate", &[("K0S_VAGRANT_BIN", stub.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("box_architecture")
            || stderr(&out).contains("box_architecture"),
        "{}",
        outcome(&out)
    );
}

/// What `vagrant up` needs on the host is checked before any machine exists (here: k0sctl).
#[test]
fn up_without_k0sctl_is_refused_before_anything_is_created() {
    if skip() {
        return;
    }
    let p = Project::new();
    let out = p.vagrant(
        "up",
        &[SOME_BOX, ("K0SCTL", UNSET), ("PATH", "/usr/bin:/bin")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    assert!(
        stderr(&out).starts_with("k0s-vagrant: k0sctl not found; install it:"),
        "{}",
        outcome(&out)
    );
    assert!(p.machine_dirs().is_empty());
    assert!(!p.lock().exists());
}

/// Stand-in helpers (shell scripts, named so) for the Vagrantfile's own failure paths.
fn stub_helper(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("stub-k0s-vagrant");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A STAND-IN helper that appends its command line to `calls` when it runs `command`, then exits
/// with `exit` (a shell word, e.g. `0` or `"${REMOVE_EXIT:-0}"`), or hands it to the real helper
/// when `exit` is `None`; every other command goes to the real helper.
fn recording_stub(dir: &Path, command: &str, calls: &Path, exit: Option<&str>) -> PathBuf {
    let after = exit.map_or(String::new(), |code| format!(" exit {code};"));
    stub_helper(
        dir,
        &format!(
            "case \" $* \" in *' {command} '*) echo \"$*\" >> {};{after}; esac\nexec {} \"$@\"",
            calls.display(),
            env!("CARGO_BIN_EXE_k0s-vagrant")
        ),
    )
}

/// worker-1 and worker-2 as machines a real libvirtd knows (shut-off domains), and a plan lock
/// with two workers.
fn two_created_workers(lab: &mut Lab, p: &Project) {
    write_up_lock(p, "2");
    for (name, domain) in [
        ("worker-1", "k0sv-test-w1"),
        ("worker-2", "k0sv-test-worker-2"),
    ] {
        let uuid = lab.define_idle_domain(domain, p.scratch.path()).unwrap();
        common::mark_created(&p.data(), name, "libvirt", &uuid);
    }
}

#[test]
fn vagrantfile_aborts_on_a_broken_stub_helper() {
    if skip() {
        return;
    }
    let p = Project::new();
    let cases = [
        (
            "echo 'not json'",
            "k0s-vagrant: the helper printed no valid plan JSON",
        ),
        (
            "echo '{\"schema_version\": 2, \"nodes\": []}'",
            "k0s-vagrant: the helper answered plan schema 2, this Vagrantfile reads 1",
        ),
        ("exit 3", "k0s-vagrant: plan failed with exit code 3"),
    ];
    for (body, message) in cases {
        let stub = stub_helper(p.scratch.path(), body);
        let out = p.vagrant("status", &[("K0S_VAGRANT_BIN", stub.to_str().unwrap())]);
        assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
        assert!(
            stderr(&out).starts_with(message),
            "{body}: {}",
            outcome(&out)
        );
    }
    let out = p.vagrant("status", &[("K0S_VAGRANT_BIN", "/nonexistent/k0s-vagrant")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("k0s-vagrant: cannot run /nonexistent/k0s-vagrant:"),
        "{}",
        outcome(&out)
    );
    assert!(p.machine_dirs().is_empty());
}

#[test]
fn helper_warnings_reach_the_user_and_do_not_stop_vagrant() {
    if skip() {
        return;
    }
    let p = Project::new();
    let out = p.vagrant("validate", &[("CONTROL_PLANE_COUNT", "2")]);
    assert!(out.status.success(), "{}", outcome(&out));
    // validate is not `up`: the plan is only read, so no settings warning.
    assert!(!stderr(&out).contains("warning"), "{}", outcome(&out));
    let stub = stub_helper(
        p.scratch.path(),
        &format!(
            "echo 'k0s-vagrant: warning: stand-in warning' >&2; exec {} \"$@\"",
            env!("CARGO_BIN_EXE_k0s-vagrant")
        ),
    );
    let out = p.vagrant("validate", &[("K0S_VAGRANT_BIN", stub.to_str().unwrap())]);
    assert!(out.status.success(), "{}", outcome(&out));
    assert!(stderr(&out).contains("k0s-vagrant: warning: stand-in warning"));
}

#[test]
fn missing_cargo_is_named_when_the_helper_must_be_built() {
    if skip() {
        return;
    }
    // A copy of the project without a built helper, and a PATH with Vagrant but without cargo.
    let copy = copy_project("nocargo");
    let path = "/usr/bin:/bin";
    if path
        .split(':')
        .any(|dir| Path::new(dir).join("cargo").exists())
    {
        eprintln!("cargo is installed in /usr/bin; the missing-cargo path cannot be shown here");
        return;
    }
    let mut p = Project::new();
    p.root = copy.path().to_path_buf();
    let mut cmd = Command::new("/usr/bin/vagrant");
    cmd.env("PATH", path);
    let out = p.vagrant_in(cmd, "status", &[("K0S_VAGRANT_BIN", "")]);
    assert_eq!(out.status.code(), Some(1), "{}", outcome(&out));
    let err = stderr(&out);
    assert!(
        err.contains("k0s-vagrant: building the helper; the first build takes a few minutes"),
        "{err}"
    );
    assert!(
        err.contains("k0s-vagrant: cargo not found; install Rust (https://rustup.rs)"),
        "{err}"
    );
    assert!(p.machine_dirs().is_empty());
}

/// The files `vagrant up` needs, copied to a scratch directory (no `target/`).
fn copy_project(label: &str) -> Scratch {
    let copy = Scratch::new(label);
    for entry in [
        "Vagrantfile",
        "vagrant",
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "templates",
    ] {
        let status = Command::new("cp")
            .arg("-r")
            .arg(repo().join(entry))
            .arg(copy.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    copy
}

/// The helper builds itself on first use (`cargo build --release --locked`) and the Vagrantfile
/// then uses it. The build goes to a target dir of its own, so it never waits on this test run's.
#[test]
fn helper_is_built_on_first_use() {
    if skip() {
        return;
    }
    let copy = copy_project("build");
    // Kept between runs so only the first run pays for a full release build.
    let target = repo().join("target").join("vagrant-build-test");
    std::fs::create_dir_all(&target).unwrap();
    std::os::unix::fs::symlink(&target, copy.path().join("target")).unwrap();
    let _ = std::fs::remove_file(target.join("release").join("k0s-vagrant"));
    let mut p = Project::new();
    p.root = copy.path().to_path_buf();
    let out = p.vagrant("status --machine-readable", &[("K0S_VAGRANT_BIN", "")]);
    let err = stderr(&out);
    assert!(err.contains("k0s-vagrant: building the helper; the first build takes a few minutes: cargo build --release --locked"), "{err}");
    assert_eq!(names(&out), ["control-plane-1", "worker-1"]);
    assert!(target.join("release").join("k0s-vagrant").exists());
    // Built and current: the next command neither builds nor says so.
    let out = p.vagrant("status --machine-readable", &[("K0S_VAGRANT_BIN", "")]);
    assert!(!stderr(&out).contains("build"), "{}", outcome(&out));
    // A newer source file makes it stale.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(
        copy.path().join("src").join("touch.rs"),
        "// newer than the binary\n",
    )
    .unwrap();
    let out = p.vagrant("status --machine-readable", &[("K0S_VAGRANT_BIN", "")]);
    assert!(
        stderr(&out).contains("k0s-vagrant: rebuilding the helper (sources changed)"),
        "{}",
        outcome(&out)
    );
    assert_eq!(names(&out), ["control-plane-1", "worker-1"]);
}

/// With a machine that libvirt really knows (a defined, shut-off domain in a libvirtd of the
/// test's own, inside its own network namespace), the lock keeps it in every command and
/// `vagrant destroy` removes it and then the lock.
#[test]
fn plan_lock_follows_real_libvirt_machines() {
    if skip() {
        return;
    }
    let mut lab = Lab::start("k0sv-test-lock").expect("start libvirtd in a network namespace");
    let p = Project::new();
    write_up_lock(&p, "2");
    let uuid = lab
        .define_idle_domain("k0sv-test-worker-2", p.scratch.path())
        .unwrap();
    common::mark_created(&p.data(), "worker-2", "libvirt", &uuid);

    let out = p.vagrant_in(
        lab.command("vagrant"),
        "status --machine-readable",
        &[("WORKER_COUNT", "1")],
    );
    assert_eq!(
        states(&out),
        [
            ("control-plane-1".into(), "not_created".into()),
            ("worker-1".into(), "not_created".into()),
            ("worker-2".into(), "shutoff".into())
        ]
    );
    assert!(
        stderr(&out).contains("using the plan of the existing cluster (1 controller, 2 workers;"),
        "{}",
        outcome(&out)
    );
    // A broken variable does not block destroy.
    let out = p.vagrant_in(
        lab.command("vagrant"),
        "destroy -f worker-2",
        &[("WORKER_COUNT", "x")],
    );
    assert!(out.status.success(), "{}", outcome(&out));
    assert!(
        common::lab::virsh(&["dominfo", "k0sv-test-worker-2"]).is_err(),
        "domain removed by vagrant destroy"
    );
    // No machine left: the lock goes and the variables decide again.
    let out = p.vagrant_in(
        lab.command("vagrant"),
        "status --machine-readable",
        &[("WORKER_COUNT", "1")],
    );
    assert_eq!(names(&out), ["control-plane-1", "worker-1"]);
    assert!(!p.lock().exists());
}

/// `vagrant destroy` of part of a cluster asks the helper to take the machine out of the cluster
/// first, with the destroy's command line, and when the helper refuses nothing is destroyed. The
/// real Vagrant 2.3.4 with two machines a real libvirtd knows (in the test's own network
/// namespace); a stand-in helper answers `plan` through the real one and records `remove`.
#[test]
fn stub_helper_partial_destroy_takes_the_machine_out_first_and_stops_when_refused() {
    if skip() {
        return;
    }
    let mut lab = Lab::start("k0sv-test-remove").expect("start libvirtd in a network namespace");
    let p = Project::new();
    two_created_workers(&mut lab, &p);
    let calls = p.scratch.path().join("remove-calls");
    let stub = recording_stub(
        p.scratch.path(),
        "remove",
        &calls,
        Some("\"${REMOVE_EXIT:-0}\""),
    );
    let bin = ("K0S_VAGRANT_BIN", stub.to_str().unwrap());

    let refused = p.vagrant_in(
        lab.command("vagrant"),
        "destroy -f worker-2",
        &[bin, ("REMOVE_EXIT", "2")],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", outcome(&refused));
    assert!(
        stderr(&refused).ends_with("k0s-vagrant: nothing was destroyed (see above)\n"),
        "{}",
        outcome(&refused)
    );
    assert!(common::lab::virsh(&["dominfo", "k0sv-test-worker-2"]).is_ok());
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        format!(
            "--project-dir {} remove --before-destroy -- destroy -f worker-2\n",
            p.root.display()
        )
    );

    let out = p.vagrant_in(lab.command("vagrant"), "destroy -f worker-2", &[bin]);
    assert!(out.status.success(), "{}", outcome(&out));
    assert!(
        common::lab::virsh(&["dominfo", "k0sv-test-worker-2"]).is_err(),
        "destroyed once the helper agreed"
    );
    assert!(common::lab::virsh(&["dominfo", "k0sv-test-w1"]).is_ok());
}

/// `WORKER_COUNT=1 vagrant up` with worker-2 created (a shut-off domain a real libvirtd knows, in
/// the test's own network namespace): while the real Vagrant 2.3.4 evaluates the Vagrantfile, the
/// helper's plan runs a nested `vagrant destroy -f worker-2` (the outer Vagrant holds no lock yet:
/// hashicorp/vagrant `lib/vagrant/environment.rb` loads the Vagrantfile in `initialize`, machine
/// locks come with `Machine#action`). Its before :destroy trigger asks the helper (a recording
/// stand-in in front of the real one) with that command line, the domain goes and worker-1's
/// stays, the lock keeps one worker, and the outer `vagrant up` goes on with the new plan (here
/// to control-plane-1's box, which it cannot fetch: the box catalog is a closed port on loopback).
#[test]
fn stub_helper_lower_count_on_up_destroys_the_dropped_machine_through_vagrant_then_goes_on() {
    if skip() {
        return;
    }
    let mut lab = Lab::start("k0sv-test-shrink").expect("start libvirtd in a network namespace");
    let p = Project::new();
    two_created_workers(&mut lab, &p);
    let calls = p.scratch.path().join("remove-calls");
    let stub = recording_stub(p.scratch.path(), "remove", &calls, Some("0"));
    let out = p.vagrant_in(
        lab.command("vagrant"),
        "up control-plane-1",
        &[
            ("K0S_VAGRANT_BIN", stub.to_str().unwrap()),
            ("WORKER_COUNT", "1"),
            SOME_BOX,
            ("VAGRANT_SERVER_URL", "http://127.0.0.1:9"),
        ],
    );
    let said = outcome(&out);
    assert!(
        said.contains("k0s-vagrant: WORKER_COUNT=1 removes worker-2, one at a time: ")
            && said.contains("==> vagrant destroy -f worker-2\n"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap_or_default(),
        format!(
            "--project-dir {} remove --before-destroy -- destroy -f worker-2\n",
            p.root.display()
        ),
        "{said}"
    );
    // The nested destroy plans with the lock's counts: no note about the changed ones.
    assert!(!said.contains("take effect on `vagrant up`"), "{said}");
    assert!(
        said.find("==> worker-2: Removing domain...")
            > said.find("==> vagrant destroy -f worker-2"),
        "{said}"
    );
    assert!(
        common::lab::virsh(&["dominfo", "k0sv-test-worker-2"]).is_err(),
        "worker-2's domain is destroyed: {said}"
    );
    assert!(common::lab::virsh(&["dominfo", "k0sv-test-w1"]).is_ok());
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.lock()).unwrap()).unwrap();
    let locked: Vec<&str> = lock["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(locked, ["control-plane-1", "worker-1"]);
    // The outer up went on to control-plane-1, and stopped at its box.
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("k0s-vagrant/never-downloaded"), "{said}");
}

/// `k0s-vagrant status` asks the real Vagrant 2.3.4 (and vagrant-libvirt, with a libvirtd in the
/// test's own network namespace) for the machines it cannot reach: a shut-off domain is `halted`,
/// a machine never created is `not-created`.
#[test]
fn status_reads_halted_and_missing_machines_from_the_real_vagrant() {
    if skip() {
        return;
    }
    let mut lab = Lab::start("k0sv-test-status").expect("start libvirtd in a network namespace");
    let p = Project::new();
    write_up_lock(&p, "2");
    let uuid = lab
        .define_idle_domain("k0sv-test-status-w2", p.scratch.path())
        .unwrap();
    common::mark_created(&p.data(), "worker-2", "libvirt", &uuid);
    // Nobody answers SSH on port 9 of loopback: every probe fails fast.
    let nodes: Vec<serde_json::Value> = ["control-plane-1", "worker-1", "worker-2"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            serde_json::json!({"name": name, "address": format!("192.168.56.{}", 10 + i),
                "ssh": {"host": "127.0.0.1", "port": 9, "user": "vagrant", "key_path": "/nonexistent"}})
        })
        .collect();
    let inventory = serde_json::json!({"cluster": "k0s", "provider": "libvirt", "nodes": nodes});
    std::fs::write(
        p.data().join("k0s").join("inventory.json"),
        inventory.to_string(),
    )
    .unwrap();
    let out = p.vagrant_in(
        lab.command(env!("CARGO_BIN_EXE_k0s-vagrant")),
        &format!("--project-dir {} status --json", p.root.display()),
        &[],
    );
    assert!(out.status.success(), "{}", outcome(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kind = |i: usize| {
        doc["nodes"][i]["ssh"]["error"]["kind"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        [kind(0), kind(1), kind(2)],
        ["not-created", "not-created", "halted"],
        "{}",
        outcome(&out)
    );
    assert_eq!(
        doc["nodes"][2]["ssh"]["error"]["detail"],
        "worker-2 is halted (shutoff); vagrant up starts it"
    );
}

/// A STAND-IN helper that records each `deploy` call the triggers make (its arguments, and a
/// copy of the facts file it was given, `<calls>.N`) and answers everything else with the real
/// helper.
fn recording_helper(dir: &Path) -> (PathBuf, PathBuf) {
    let calls = dir.join("deploy-calls");
    let stub = stub_helper(
        dir,
        &format!(
            "if [ \"$3\" = deploy ]; then\n  echo \"$*\" >> {calls}\n  cp \"$5\" {calls}.$(wc -l < {calls})\n  exit 0\nfi\nexec {real} \"$@\"",
            calls = calls.display(),
            real = env!("CARGO_BIN_EXE_k0s-vagrant"),
        ),
    );
    (stub, calls)
}

/// Which machines' facts say `finished`, in a facts file the trigger wrote, read by the helper's
/// own reader.
fn finished_in(facts: &Path) -> Vec<String> {
    let facts = k0s_vagrant::inventory::VagrantFacts::read(facts).unwrap();
    facts
        .machines
        .into_iter()
        .filter_map(|m| m.finished.then_some(m.name))
        .collect()
}

/// `vagrant resume` runs each machine's :resume action, which never fires `after :up`
/// (hashicorp/vagrant `plugins/commands/resume/command.rb`). The Vagrantfile's `after :resume`
/// trigger hands Vagrant's facts to `deploy` the same way, after each machine in definition order,
/// with the command line, so the helper deploys once every targeted machine is back. The real
/// Vagrant 2.3.4 and vagrant-libvirt run it on machines that do not exist (libvirt says so, and
/// the trigger still fires); the STAND-IN helper records the calls.
#[test]
fn resume_hands_vagrants_facts_to_deploy_after_each_machine() {
    if skip() {
        return;
    }
    let p = Project::new();
    let (stub, calls) = recording_helper(p.scratch.path());
    let stub = stub.to_str().unwrap();
    let out = p.vagrant("resume", &[("K0S_VAGRANT_BIN", stub)]);
    assert!(out.status.success(), "{}", outcome(&out));
    let facts = p.data().join("k0s").join("vagrant-facts.json");
    let call = |argv: &str| {
        format!(
            "--project-dir {} deploy --facts {} -- {argv}",
            p.root.display(),
            facts.display()
        )
    };
    assert_eq!(
        common::cluster::read_lines(&calls),
        [call("resume"), call("resume")],
        "{}",
        outcome(&out)
    );
    let copy = |n: usize| PathBuf::from(format!("{}.{n}", calls.display()));
    assert_eq!(finished_in(&copy(1)), ["control-plane-1"]);
    assert_eq!(finished_in(&copy(2)), ["control-plane-1", "worker-1"]);

    // Named machines: only they fire, with the names passed on (a new process: a new list).
    std::fs::remove_file(&calls).unwrap();
    let out = p.vagrant("resume worker-1", &[("K0S_VAGRANT_BIN", stub)]);
    assert!(out.status.success(), "{}", outcome(&out));
    assert_eq!(
        common::cluster::read_lines(&calls),
        [call("resume worker-1")]
    );
    assert_eq!(finished_in(&copy(1)), ["worker-1"]);
    // halt and suspend hand nothing to the deploy.
    std::fs::remove_file(&calls).unwrap();
    for command in ["halt", "suspend"] {
        let out = p.vagrant(command, &[("K0S_VAGRANT_BIN", stub)]);
        assert!(out.status.success(), "{command}: {}", outcome(&out));
    }
    assert!(!calls.exists());
}

/// `vagrant halt` asks the helper to stop k0s before each machine's halt, with the machine's
/// state, in Vagrant's halt order: reverse definition order, so workers before controllers
/// (hashicorp/vagrant `plugins/commands/halt/command.rb`, `with_target_vms(argv, reverse: true)`).
/// The real Vagrant 2.3.4 and vagrant-libvirt on machines that do not exist; a STAND-IN helper
/// records the calls and passes them to the real one, which has no cluster to stop.
#[test]
fn halt_asks_the_helper_to_stop_k0s_before_each_machine_workers_first() {
    if skip() {
        return;
    }
    let p = Project::new();
    let calls = p.scratch.path().join("stop-calls");
    let stub = recording_stub(p.scratch.path(), "stop", &calls, None);
    let out = p.vagrant(
        "halt",
        &[
            ("K0S_VAGRANT_BIN", stub.to_str().unwrap()),
            ("WORKER_COUNT", "2"),
        ],
    );
    assert!(out.status.success(), "{}", outcome(&out));
    let call = |name: &str| {
        format!(
            "--project-dir {} stop --before-halt --state not_created {name}",
            p.root.display()
        )
    };
    assert_eq!(
        common::cluster::read_lines(&calls),
        [call("worker-2"), call("worker-1"), call("control-plane-1")],
        "{}",
        outcome(&out)
    );
    assert!(
        !stderr(&out).contains("stop before halt failed"),
        "{}",
        outcome(&out)
    );
}

/// vagrant-tart's suspend silently does nothing for Linux guests (letiemble/vagrant-tart
/// `lib/vagrant-tart/action/suspend_instance.rb`; cirruslabs/tart `Sources/tart/Commands/Run.swift`):
/// the plan step says so in one line, once. Vagrant here has no vagrant-tart, so after that line
/// it stops on the unknown provider; with libvirt no such line.
#[test]
fn suspend_on_tart_says_in_one_line_that_it_does_nothing() {
    if skip() {
        return;
    }
    let p = Project::new();
    let line = "k0s-vagrant: `vagrant suspend` does nothing on Tart: Tart suspends only macOS guests, so these Linux VMs are left as they are; use `vagrant halt`, then `vagrant up` brings the cluster back\n";
    let out = p.vagrant("suspend", &[("VAGRANT_DEFAULT_PROVIDER", "tart")]);
    assert_eq!(stderr(&out).matches(line).count(), 1, "{}", outcome(&out));
    assert!(
        stderr(&out).contains("The provider 'tart' could not be found"),
        "{}",
        outcome(&out)
    );
    let out = p.vagrant("suspend", &[]);
    assert!(out.status.success(), "{}", outcome(&out));
    assert!(!stderr(&out).contains("does nothing"), "{}", outcome(&out));
}
