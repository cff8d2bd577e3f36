//! The VM tier: the real Vagrantfile brings up real VMs with the real vagrant-libvirt, libvirtd
//! and Vagrant kept inside a network namespace this test creates (QEMU TCG where /dev/kvm is not
//! hardware KVM). The box is built from Debian packages by tests/vm/build-box (cached).
//! k0sctl is a STAND-IN (tests/stubs/k0sctl-ssh-probe) that proves the SSH half of the rendered
//! config on the real VMs with the real OpenSSH client and leaves the STAND-IN k0s
//! (tests/stubs/k0s) on them, with a boot unit that keeps the Nodes NotReady for a while after a
//! boot; deploy stops after apply, so neither k0s nor Kubernetes is installed. A second STAND-IN
//! k0sctl (tests/stubs/k0sctl) fails an apply to show how a failed deploy ends `vagrant up`.
//! `tests/run` runs this tier; K0S_VAGRANT_SKIP_VMS=1 skips it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

use common::lab::{virsh, Lab};
use common::{outcome, repo, states, Scratch};

const BOX: &str = "k0s-vagrant/test-debian12";
/// What the deploy says when it leaves a cluster whose config is unchanged as it is.
const APPLY_SKIPPED: &str =
    "    skipped: k0sctl.yaml is unchanged since the last successful apply and every node is Ready";

struct Tier {
    lab: Lab,
    scratch: Scratch,
    stubs: PathBuf,
    timings: Vec<(String, f64)>,
}

impl Tier {
    fn data(&self) -> PathBuf {
        self.scratch.path().join("dot")
    }

    fn state(&self) -> PathBuf {
        self.data().join("k0s")
    }

    /// The download cache, seeded with the k0s version the stand-in k0s reports.
    fn cache(&self) -> PathBuf {
        let dir = self.scratch.path().join("cache");
        common::cache::seed(&dir, "v1.33.4+k0s.0", common::cache::host_arch());
        dir
    }

    fn vagrant(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = self.lab.command("vagrant");
        for var in [
            "CONTROL_PLANE_COUNT",
            "WORKER_COUNT",
            "K0S_VAGRANT_BIN",
            "LIBVIRT_DEFAULT_URI",
            "KUBECONFIG",
        ] {
            cmd.env_remove(var);
        }
        cmd.current_dir(self.scratch.path())
            .env("VAGRANT_CWD", repo())
            .env("VAGRANT_DOTFILE_PATH", self.data())
            .env("VAGRANT_HOME", self.scratch.path().join("vagrant-home"))
            .env("VAGRANT_DEFAULT_PROVIDER", "libvirt")
            .env("K0S_VAGRANT_BIN", env!("CARGO_BIN_EXE_k0s-vagrant"))
            .env("LIBVIRT_BOX", BOX)
            .env("CPU_CONTROL", "1")
            .env("CPU_WORKER", "1")
            .env("MEMORY_CONTROL", "1024")
            .env("MEMORY_WORKER", "1024")
            .env("DISK_SIZE", "20")
            .env("K0SCTL", self.stubs.join("k0sctl"))
            .env("K0S_VAGRANT_DEPLOY_UNTIL", "apply")
            .env("KUBECONFIG", self.scratch.path().join("kubeconfig"))
            // No download from the lab: offline, with a cache holding what the stand-ins run.
            .env("K0S_VAGRANT_OFFLINE", "1")
            .env("K0S_VAGRANT_CACHE", self.cache())
            .args(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Runs and times a step; the figures go to stderr and target/vm-tier-timings.txt.
    fn timed<T>(&mut self, label: &str, f: impl FnOnce(&Tier) -> T) -> T {
        let start = Instant::now();
        let result = f(self);
        let secs = start.elapsed().as_secs_f64();
        eprintln!("vm tier: {label}: {secs:.1}s");
        self.timings.push((label.to_string(), secs));
        result
    }

    fn ssh(&self, machine: &str, command: &str) -> String {
        let out = self.vagrant(&["ssh", machine, "-c", command], &[]);
        assert!(
            out.status.success(),
            "vagrant ssh {machine}: {}",
            outcome(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the project relies on from the default box (cloud-image/ubuntu-24.04), checked on a
    /// VM of the test box: cloud-init grew the root filesystem to the planned 20 GB disk, the
    /// vagrant user logs in with /bin/sh, and Vagrant configured the private network via netplan.
    fn box_like_cloud_image(&self, machine: &str) {
        let out = self.ssh(
            machine,
            "df -B1 --output=size / | tail -n 1; getent passwd vagrant; \
             test -f /etc/netplan/50-vagrant.yaml && echo netplan-vagrant",
        );
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        let root_bytes: u64 = lines.first().and_then(|l| l.parse().ok()).unwrap_or(0);
        assert!(
            root_bytes >= 19_000_000_000,
            "{machine}: root filesystem not grown to the disk: {out}"
        );
        assert!(
            lines.get(1).is_some_and(|l| l.ends_with(":/bin/sh")),
            "{machine}: {out}"
        );
        assert_eq!(
            lines.get(2).copied(),
            Some("netplan-vagrant"),
            "{machine}: {out}"
        );
    }

    fn runs(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.state().join("timings.json"))
            .unwrap_or_else(|_| "[]".into());
        serde_json::from_str(&text).unwrap()
    }

    fn probe(&self) -> Vec<String> {
        std::fs::read_to_string(self.stubs.join("state").join("probe"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

/// libvirt's domain lifecycle events while it runs (`virsh event --loop --timestamp`): which
/// machine really stopped or started, in the order libvirt saw it.
struct Events {
    child: Child,
    path: PathBuf,
}

impl Events {
    fn watch(path: PathBuf) -> Events {
        let file = std::fs::File::create(&path).unwrap();
        let child = Command::new("stdbuf")
            .args(["-oL", "virsh", "-q", "-c", "qemu:///system", "event"])
            .args(["--event", "lifecycle", "--loop", "--timestamp"])
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // virsh registers its callback after it connects.
        std::thread::sleep(std::time::Duration::from_secs(2));
        Events { child, path }
    }

    /// Stops the watch (SIGINT to our virsh, by its id) and returns (machine, event) in order,
    /// e.g. ("worker-1", "Stopped"): the domain name is `<project>_<machine>`.
    fn stop(mut self) -> Vec<(String, String)> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.path)
            .unwrap()
            .lines()
            .filter_map(|l| {
                let (_, rest) = l.split_once("for domain '")?;
                let (domain, event) = rest.split_once("': ")?;
                let machine = domain.rsplit_once('_').map_or(domain, |(_, m)| m);
                Some((
                    machine.to_string(),
                    event.split_whitespace().next()?.to_string(),
                ))
            })
            .collect()
    }
}

/// The machines with `event`, in the order libvirt reported them.
fn with_event(events: &[(String, String)], event: &str) -> Vec<String> {
    events
        .iter()
        .filter(|(_, e)| e == event)
        .map(|(m, _)| m.clone())
        .collect()
}

fn all_output(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

/// The apply phase of a deploy run in timings.json: (skipped, seconds).
fn apply_of(run: &serde_json::Value) -> (bool, f64) {
    let apply = run["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "apply")
        .unwrap();
    (
        apply["skipped"].as_bool().unwrap(),
        apply["seconds"].as_f64().unwrap(),
    )
}

fn ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", outcome(out));
}

fn memory_used_mb() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| -> u64 {
        meminfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("MemTotal:") - field("MemAvailable:")) / 1024
}

fn hosts_in_config(path: &Path) -> Vec<(String, String)> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["spec"]["hosts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["ssh"]["address"].as_str().unwrap().to_string(),
                h["privateAddress"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
#[ignore = "VM tier: tests/run runs it (K0S_VAGRANT_SKIP_VMS=1 skips it there)"]
fn stub_vm_tier_up_deploy_until_apply_halt_up_again_scale_refuse_destroy() {
    let total = Instant::now();
    let scratch = Scratch::new("vm");
    let stubs = scratch.path().join("stubs");
    std::fs::create_dir_all(stubs.join("state")).unwrap();
    std::fs::copy(
        repo().join("tests/stubs/k0sctl-ssh-probe"),
        stubs.join("k0sctl"),
    )
    .unwrap();
    std::fs::copy(repo().join("tests/stubs/k0s"), stubs.join("k0s-node")).unwrap();

    let build = Instant::now();
    let out = Command::new("bash")
        .arg(repo().join("tests/vm/build-box"))
        .output()
        .unwrap();
    ok(&out, "build the test box");
    let box_file = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    let box_secs = build.elapsed().as_secs_f64();
    // build-box's last line says whether it built or reused the box.
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "vm tier: box ({}): {box_secs:.1}s",
        stderr.lines().last().unwrap_or_default()
    );

    let lab = Lab::start("k0sv-vm").expect("start libvirtd in a network namespace");
    let mut t = Tier {
        lab,
        scratch,
        stubs,
        timings: vec![("box".into(), box_secs)],
    };
    t.timed("box add", |t| {
        ok(
            &t.vagrant(&["box", "add", "--name", BOX, &box_file], &[]),
            "vagrant box add",
        )
    });

    // worker-1 alone: the hook sees control-plane-1 missing and skips with one line.
    let single = t.timed("up worker-1 alone", |t| t.vagrant(&["up", "worker-1"], &[]));
    ok(&single, "vagrant up worker-1");
    assert!(
        String::from_utf8_lossy(&single.stderr).contains(
            "k0s-vagrant: not deploying: control-plane-1 (not_created) not running; `vagrant up` brings up every machine and deploys"
        ),
        "{}",
        outcome(&single)
    );
    assert!(
        t.runs().is_empty(),
        "no deploy while a planned machine is missing"
    );

    // Then all of 1 controller + 1 worker (worker-1 already running): the hook deploys once.
    let up = t.timed("up 1+1 with deploy --until apply", |t| {
        t.vagrant(&["up"], &[])
    });
    eprintln!("{}", outcome(&up));
    ok(&up, "vagrant up");
    let memory = memory_used_mb();
    let status = t.vagrant(&["status", "--machine-readable"], &[]);
    assert_eq!(
        states(&status),
        [
            ("control-plane-1".into(), "running".into()),
            ("worker-1".into(), "running".into())
        ]
    );
    assert_eq!(
        t.ssh("control-plane-1", "hostname").trim(),
        "control-plane-1"
    );
    assert_eq!(t.ssh("worker-1", "hostname").trim(), "worker-1");
    assert!(t
        .ssh("control-plane-1", "ip -o -4 addr show")
        .contains("inet 192.168.56.10/24"));
    assert!(t
        .ssh("worker-1", "ip -o -4 addr show")
        .contains("inet 192.168.56.20/24"));

    // The post-up hook ran exactly once, through apply, and its preflight passed on the real VMs.
    let runs = t.runs();
    assert_eq!(runs.len(), 1, "one deploy per vagrant up: {runs:?}");
    assert_eq!(runs[0]["outcome"], "ok");
    let phases: Vec<&str> = runs[0]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["wait-ssh", "preflight", "render", "apply"]);
    let up_err =
        String::from_utf8_lossy(&up.stderr).into_owned() + &String::from_utf8_lossy(&up.stdout);
    // The box names interfaces predictably (en*), as cloud-image/ubuntu-24.04 does.
    let preflight_interface = up_err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("control-plane-1: 192.168.56.10 on ")?
                .strip_suffix(", reaches all 1 others")
        })
        .unwrap_or_else(|| panic!("{up_err}"))
        .to_string();
    assert!(preflight_interface.starts_with("en"), "{up_err}");

    // The inventory matches the VMs as Vagrant reports them.
    let inventory: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.state().join("inventory.json")).unwrap())
            .unwrap();
    for node in inventory["nodes"].as_array().unwrap() {
        let name = node["name"].as_str().unwrap();
        let config =
            String::from_utf8_lossy(&t.vagrant(&["ssh-config", name], &[]).stdout).into_owned();
        let host = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("HostName "))
            .unwrap()
            .to_string();
        assert_eq!(node["ssh"]["host"], host.as_str(), "{name}");
        assert_eq!(node["ssh"]["user"], "vagrant");
        // Preflight's interface is the one the VM itself reports for the private address.
        let interface = node["interface"].as_str().unwrap();
        assert!(interface.starts_with("en"), "{name}: {interface}");
        if name == "control-plane-1" {
            assert_eq!(interface, preflight_interface);
        }
        let address = node["address"].as_str().unwrap();
        let addresses = t.ssh(name, "ip -o -4 addr show");
        let holder = addresses
            .lines()
            .find(|l| l.contains(&format!(" inet {address}/")))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(|i| i.trim_end_matches(':'));
        assert_eq!(holder, Some(interface), "{name}: {addresses}");
    }
    t.box_like_cloud_image("control-plane-1");
    t.box_like_cloud_image("worker-1");
    // The control-plane virtual IP (rendered with one controller too) sits on that interface.
    let config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(t.state().join("k0sctl.yaml")).unwrap())
            .unwrap();
    let vrrp = &config["spec"]["k0s"]["config"]["spec"]["network"]["controlPlaneLoadBalancing"]
        ["keepalived"]["vrrpInstances"][0];
    assert_eq!(
        vrrp["interface"].as_str(),
        Some(preflight_interface.as_str())
    );
    assert_eq!(vrrp["virtualIPs"][0].as_str(), Some("192.168.56.100/24"));
    // The rendered config names the real VMs, and the stand-in k0sctl reached each of them.
    let hosts = hosts_in_config(&t.state().join("k0sctl.yaml"));
    let ssh_hosts: Vec<String> = inventory["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["ssh"]["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        hosts.iter().map(|h| h.0.clone()).collect::<Vec<_>>(),
        ssh_hosts
    );
    assert_eq!(
        hosts.iter().map(|h| h.1.as_str()).collect::<Vec<_>>(),
        ["192.168.56.10", "192.168.56.20"]
    );
    let probe = t.probe();
    assert_eq!(probe.len(), 2, "{probe:?}");
    assert!(probe.iter().all(|l| l.starts_with("ok ")), "{probe:?}");
    assert!(
        up_err.contains("k0sctl: INFO stand-in k0s on every host; 2 Nodes on "),
        "{up_err}"
    );

    // Halt and bring back the 1+1 cluster. Vagrant halts in reverse definition order, one machine
    // after the other (hashicorp/vagrant plugins/commands/halt/command.rb): the worker first.
    let events = Events::watch(t.scratch.path().join("events"));
    let halt = t.timed("halt 1+1", |t| t.vagrant(&["halt"], &[]));
    ok(&halt, "vagrant halt");
    let status = t.vagrant(&["status", "--machine-readable"], &[]);
    assert!(
        states(&status).iter().all(|(_, s)| s == "shutoff"),
        "{}",
        outcome(&status)
    );
    // `vagrant up` starts them in parallel, in no fixed order (lib/vagrant/batch_action.rb); the
    // deploy runs once both are up and waits for the Nodes, which the stand-in k0s keeps
    // NotReady for 45 s after control-plane-1 boots: apply is skipped once they are Ready.
    let back = t.timed("up of the halted 1+1 (deploy until apply)", |t| {
        t.vagrant(&["up"], &[])
    });
    let events = events.stop();
    eprintln!("{}", outcome(&back));
    ok(&back, "vagrant up of the halted cluster");
    eprintln!("vm tier: libvirt lifecycle events: {events:?}");
    assert_eq!(
        with_event(&events, "Stopped"),
        ["worker-1", "control-plane-1"],
        "halt stops the worker first: {events:?}"
    );
    let mut started = with_event(&events, "Started");
    eprintln!("vm tier: start order on `vagrant up`: {started:?}");
    started.sort();
    assert_eq!(started, ["control-plane-1", "worker-1"], "{events:?}");
    let back_said = all_output(&back);
    assert!(
        back_said.contains("    k0sctl.yaml is unchanged since the last successful apply; waiting up to 10m00s for every node to be Ready"),
        "{back_said}"
    );
    assert!(back_said.contains(APPLY_SKIPPED), "{back_said}");
    let runs = t.runs();
    assert_eq!(runs.len(), 2, "one deploy for the up: {runs:?}");
    assert_eq!(runs[1]["outcome"], "ok");
    let (skipped, waited) = apply_of(&runs[1]);
    assert!(skipped, "{runs:?}");
    eprintln!(
        "vm tier: the deploy after the halted up waited {waited:.1}s for the Nodes ({})",
        if back_said.contains(" nodes Ready; waiting for ") {
            "they came back during the wait"
        } else {
            "already Ready"
        }
    );
    assert_eq!(t.probe().len(), 2, "no k0sctl apply");
    t.timings.push((
        "deploy's wait for the Nodes after the halted up".into(),
        waited,
    ));

    // A second `vagrant up` right after changes nothing: every Node is Ready at the first look.
    let again = t.timed("second up of the running 1+1", |t| t.vagrant(&["up"], &[]));
    ok(&again, "second vagrant up");
    let again_said = all_output(&again);
    assert!(again_said.contains(APPLY_SKIPPED), "{again_said}");
    assert!(
        !again_said.contains(" nodes Ready; waiting for "),
        "{again_said}"
    );
    assert_eq!(t.runs().len(), 3);
    assert!(apply_of(&t.runs()[2]).0);
    assert_eq!(t.probe().len(), 2, "no k0sctl apply");

    // Scale up: worker-2 joins and the hook runs again with three hosts.
    let scale = t.timed("up WORKER_COUNT=2", |t| {
        t.vagrant(&["up"], &[("WORKER_COUNT", "2")])
    });
    eprintln!("{}", outcome(&scale));
    ok(&scale, "WORKER_COUNT=2 vagrant up");
    assert_eq!(t.ssh("worker-2", "hostname").trim(), "worker-2");
    t.box_like_cloud_image("worker-2");
    assert_eq!(t.runs().len(), 4);
    assert_eq!(hosts_in_config(&t.state().join("k0sctl.yaml")).len(), 3);
    let probe = t.probe();
    assert_eq!(probe.len(), 5, "{probe:?}");
    assert!(
        probe.iter().all(|l| l.starts_with("ok ")) && probe[4].ends_with(" 192.168.56.21"),
        "{probe:?}"
    );

    // Scale down while worker-2 exists: refused before anything happens.
    let refused = t.vagrant(&["up"], &[("WORKER_COUNT", "1")]);
    assert_eq!(refused.status.code(), Some(1), "{}", outcome(&refused));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "k0s-vagrant: WORKER_COUNT=1 would remove worker-2, which still exists; run `vagrant destroy -f worker-2` first, or set WORKER_COUNT=2\n"
    );
    assert_eq!(t.runs().len(), 4);

    // A failed deploy ends `vagrant up` with the helper's lines and ours, exit status 1, and none
    // of Vagrant's "unexpected error ... report this as a bug" box or backtrace. The STAND-IN
    // k0sctl (tests/stubs/k0sctl) fails every apply like a config error. k0sctl.yaml is what the
    // last apply used, so apply runs because worker-2 stays NotReady (marked on the stand-in k0s).
    t.ssh(
        "control-plane-1",
        "sudo touch /var/lib/k0s-stand-in/state/notready/worker-2",
    );
    let failing = t.scratch.path().join("failing");
    std::fs::create_dir_all(failing.join("state")).unwrap();
    std::fs::copy(repo().join("tests/stubs/k0sctl"), failing.join("k0sctl")).unwrap();
    std::fs::write(failing.join("state").join("apply-fail"), "").unwrap();
    let failed = t.timed("up with a failing apply", |t| {
        t.vagrant(
            &["up"],
            &[
                ("WORKER_COUNT", "2"),
                ("K0SCTL", failing.join("k0sctl").to_str().unwrap()),
                ("K0S_VAGRANT_READY_TIMEOUT", "5"),
            ],
        )
    });
    eprintln!("{}", outcome(&failed));
    assert_eq!(failed.status.code(), Some(1), "{}", outcome(&failed));
    let said = String::from_utf8_lossy(&failed.stderr).into_owned()
        + &String::from_utf8_lossy(&failed.stdout);
    assert!(
        said.contains(
            "    worker-2 is not Ready after 5.0s (KubeletNotReady): running k0sctl apply"
        ),
        "{said}"
    );
    assert!(
        said.contains("    k0sctl: ERRO apply failed: cluster config validation failed"),
        "{said}"
    );
    for vagrant_noise in [
        "unexpected error",
        "report this as a bug",
        "An error occurred",
        ".rb:",
    ] {
        assert!(!said.contains(vagrant_noise), "{vagrant_noise:?} in {said}");
    }
    let last = String::from_utf8_lossy(&failed.stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        last,
        "k0s-vagrant: deploy failed (see above); fix the cause, then run `vagrant up` again or `k0s-vagrant deploy`"
    );
    assert_eq!(t.runs().len(), 5);
    assert_eq!(t.runs()[4]["outcome"], "failed in apply");
    // The machines are untouched.
    let status = t.vagrant(&["status", "--machine-readable"], &[]);
    assert!(states(&status).iter().all(|(_, s)| s == "running"));

    // Destroy leaves no VM, network, state or kubeconfig entry behind.
    let destroy = t.timed("destroy", |t| t.vagrant(&["destroy", "-f"], &[]));
    ok(&destroy, "vagrant destroy -f");
    let domains = virsh(&["list", "--all", "--name"]).unwrap();
    assert!(
        !domains.contains("control-plane") && !domains.contains("worker"),
        "{domains}"
    );
    let networks = virsh(&["net-list", "--all", "--name"]).unwrap();
    assert!(!networks.contains("k0s-k0s"), "{networks}");
    assert!(!t.state().exists(), "state directory removed");
    let kubeconfig =
        std::fs::read_to_string(t.scratch.path().join("kubeconfig")).unwrap_or_default();
    assert!(!kubeconfig.contains("k0s-k0s"));

    let summary: Vec<String> = t
        .timings
        .iter()
        .map(|(l, s)| format!("{l}: {s:.1}s"))
        .collect();
    let line = format!(
        "{}; host memory used after 1+1 up: {memory} MB; total {:.1}s\n",
        summary.join(", "),
        total.elapsed().as_secs_f64()
    );
    eprintln!("vm tier: {line}");
    let _ = std::fs::write(repo().join("target").join("vm-tier-timings.txt"), line);
}
