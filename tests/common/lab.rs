//! A private libvirtd for tests: started inside a network namespace the test creates, so every
//! bridge, dnsmasq and QEMU process libvirt makes lives there and no packet leaves it. Dropping the
//! lab stops exactly the daemons it started (by PID), deletes the namespace and restores /dev/kvm.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One libvirtd per host: the tests of one binary that start a lab run in threads, so each waits
/// for the one before to drop its lab.
static ONE_LAB: Mutex<()> = Mutex::new(());

pub struct Lab {
    pub netns: String,
    pids: Vec<u32>,
    domains: Vec<String>,
    kvm_perms: Option<(u32, u32)>,
    /// What libvirt held before the lab started; everything else is the lab's to remove.
    before: Inventory,
    // Dropped after `Drop::drop` has stopped the daemons, so the next lab starts on a clean host.
    _turn: MutexGuard<'static, ()>,
}

#[derive(Default)]
struct Inventory {
    domains: Vec<String>,
    networks: Vec<String>,
    volumes: Vec<String>,
    pool: bool,
}

fn names(args: &[&str]) -> Vec<String> {
    virsh(args)
        .map(|out| {
            out.lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn libvirt_inventory() -> Inventory {
    Inventory {
        domains: names(&["list", "--all", "--name"]),
        networks: names(&["net-list", "--all", "--name"]),
        volumes: names(&["vol-list", "default"])
            .iter()
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .collect(),
        pool: virsh(&["pool-info", "default"]).is_ok(),
    }
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn virsh(args: &[&str]) -> Result<String, String> {
    run(Command::new("virsh")
        .args(["-q", "-c", "qemu:///system"])
        .args(args))
}

impl Lab {
    /// Starts virtlogd and libvirtd in a new namespace `netns`. Fails if a libvirtd already runs.
    pub fn start(netns: &str) -> Result<Lab, String> {
        // A lab test that failed poisons the lock; the next one still cleans up and runs.
        let turn = ONE_LAB
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if Path::new("/run/libvirt/libvirt-sock").exists()
            && read_pid(Path::new("/run/libvirtd.pid")).is_some_and(alive)
        {
            return Err("a libvirtd is already running on this host; stop it first".into());
        }
        let mut lab = Lab {
            netns: netns.to_string(),
            pids: Vec::new(),
            domains: Vec::new(),
            kvm_perms: None,
            before: Inventory::default(),
            _turn: turn,
        };
        // Without udev, /dev/kvm stays root-only and libvirt re-probes QEMU on every call
        // (tens of seconds each); give it the group and mode udev would, restored on drop.
        if let Ok(meta) = std::fs::metadata("/dev/kvm") {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            lab.kvm_perms = Some((meta.gid(), meta.permissions().mode() & 0o7777));
            let _ = run(Command::new("chgrp").args(["kvm", "/dev/kvm"]));
            let _ = std::fs::set_permissions("/dev/kvm", std::fs::Permissions::from_mode(0o660));
        }
        // libvirt's default NAT network must never come up by itself.
        let _ = std::fs::remove_file("/etc/libvirt/qemu/networks/autostart/default.xml");
        let _ = run(Command::new("ip").args(["netns", "del", netns]));
        run(Command::new("ip").args(["netns", "add", netns]))?;
        run(Command::new("ip").args(["-n", netns, "link", "set", "lo", "up"]))?;
        for (daemon, pidfile) in [
            ("virtlogd", "/run/virtlogd.pid"),
            ("libvirtd", "/run/libvirtd.pid"),
        ] {
            let _ = std::fs::remove_file(pidfile);
            run(Command::new("ip").args(["netns", "exec", netns, daemon, "-d"]))?;
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(pid) = read_pid(Path::new(pidfile)) {
                    lab.pids.push(pid);
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("{daemon} did not write {pidfile}"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while virsh(&["version"]).is_err() {
            if Instant::now() > deadline {
                return Err("libvirtd does not answer on qemu:///system".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        lab.before = libvirt_inventory();
        Ok(lab)
    }

    /// Defines a shut-off domain (no disk, never started): a created machine as libvirt sees it.
    /// Returns its UUID.
    pub fn define_idle_domain(&mut self, name: &str, scratch: &Path) -> Result<String, String> {
        let uuid = format!(
            "6b0e9c52-0000-4000-8000-{:012x}",
            std::process::id() as u64 * 1000 + name.len() as u64
        );
        let xml = format!(
            "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>64</memory>\
             <os><type arch='x86_64'>hvm</type></os></domain>"
        );
        let path: PathBuf = scratch.join(format!("{name}.xml"));
        std::fs::write(&path, xml).map_err(|e| e.to_string())?;
        virsh(&["define", path.to_str().unwrap()])?;
        self.domains.push(name.to_string());
        Ok(uuid)
    }

    /// Vagrant's command line inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, program]);
        cmd
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Drop for Lab {
    fn drop(&mut self) {
        for domain in &self.domains {
            let _ = virsh(&["undefine", domain]);
        }
        // Whatever a test left behind (a failed `vagrant destroy`): domains, networks, volumes.
        let now = libvirt_inventory();
        for domain in now
            .domains
            .iter()
            .filter(|d| !self.before.domains.contains(d))
        {
            let _ = virsh(&["destroy", domain]);
            let _ = virsh(&["undefine", domain, "--remove-all-storage"]);
        }
        for network in now
            .networks
            .iter()
            .filter(|n| !self.before.networks.contains(n))
        {
            let _ = virsh(&["net-destroy", network]);
            let _ = virsh(&["net-undefine", network]);
        }
        for volume in now
            .volumes
            .iter()
            .filter(|v| !self.before.volumes.contains(v))
        {
            let _ = virsh(&["vol-delete", "--pool", "default", volume]);
        }
        if now.pool && !self.before.pool {
            let _ = virsh(&["pool-destroy", "default"]);
            let _ = virsh(&["pool-undefine", "default"]);
        }
        for pid in self.pids.iter().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while alive(*pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        if let Some((gid, mode)) = self.kvm_perms {
            use std::os::unix::fs::PermissionsExt;
            let _ = Command::new("chgrp")
                .args([gid.to_string().as_str(), "/dev/kvm"])
                .status();
            let _ = std::fs::set_permissions("/dev/kvm", std::fs::Permissions::from_mode(mode));
        }
    }
}
