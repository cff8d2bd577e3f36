//! Debian's real containerd for a test: run as root with its own root and state under a scratch
//! directory, listening at k0s' socket path /run/k0s/containerd.sock (its containerd config's
//! `grpc.address`, k0s `docs/runtime.md`) unless something already does, CRI off, no network.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Why containerd cannot run here, when it cannot.
pub fn missing() -> Option<String> {
    if String::from_utf8_lossy(&Command::new("id").arg("-u").output().unwrap().stdout).trim() != "0"
    {
        return Some("not root (containerd needs root)".into());
    }
    for tool in ["containerd", "ctr"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            return Some(format!(
                "{tool} is not installed: run tests/install-deps (Debian's containerd)"
            ));
        }
    }
    None
}

/// k0s' containerd socket.
const K0S_SOCKET: &str = "/run/k0s/containerd.sock";

/// A running containerd, stopped when dropped.
pub struct Containerd {
    child: Child,
    pub socket: PathBuf,
}

impl Containerd {
    /// Starts containerd under `dir` and waits until `ctr version` answers.
    pub fn start(dir: &Path) -> Containerd {
        std::fs::create_dir_all(dir).unwrap();
        // A real k0s on this host (or another test's containerd) keeps its socket.
        let socket = if Path::new(K0S_SOCKET).exists() {
            dir.join("containerd.sock")
        } else {
            std::fs::create_dir_all("/run/k0s").unwrap();
            PathBuf::from(K0S_SOCKET)
        };
        let config = dir.join("containerd.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = {:?}\nstate = {:?}\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = {:?}\n[ttrpc]\n  address = {:?}\n",
                dir.join("root"),
                dir.join("state"),
                socket,
                dir.join("containerd.sock.ttrpc"),
            ),
        )
        .unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("containerd.log")).unwrap())
            .spawn()
            .unwrap();
        let containerd = Containerd { child, socket };
        let t0 = Instant::now();
        while !containerd.ctr(&["version"]).status.success() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "containerd did not start: {}",
                std::fs::read_to_string(dir.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        containerd
    }

    /// `ctr` in the namespace the kubelet's images live in (k8s.io).
    pub fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["-n", "k8s.io"])
            .args(args)
            .output()
            .unwrap()
    }

    /// Imports `archive` as k0s does (no unpacking: the CRI unpacks when a pod starts) and
    /// returns `ctr images ls -q` afterwards.
    pub fn import(&self, archive: &Path) -> Result<Vec<String>, String> {
        let out = self.ctr(&["images", "import", "--no-unpack", archive.to_str().unwrap()]);
        if !out.status.success() {
            return Err(super::outcome(&out));
        }
        let listed = self.ctr(&["images", "ls", "-q"]);
        Ok(String::from_utf8_lossy(&listed.stdout)
            .lines()
            .map(String::from)
            .collect())
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
        if self.socket == Path::new(K0S_SOCKET) {
            // Only when empty: containerd's ttrpc socket may still be going.
            let _ = std::fs::remove_dir("/run/k0s");
        }
    }
}
