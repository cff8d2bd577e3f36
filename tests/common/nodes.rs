//! Stand-in nodes for deploy tests: one network namespace the test creates, a dummy interface
//! holding every node's address, and per node a real OpenSSH server in its own UTS namespace (so
//! `hostname` answers the node name) listening on that node's address. Nothing leaves the
//! namespace; the helper under test runs inside it. Dropped: servers stopped, namespace deleted.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::sshd::{keypair, Sshd};

pub struct Nodes {
    pub netns: String,
    pub client_key: PathBuf,
    servers: Vec<Sshd>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Nodes {
    /// Starts `nodes` (name, address) in the namespace `netns`, all on one /24.
    pub fn start(netns: &str, dir: &Path, nodes: &[(String, Ipv4Addr)]) -> Nodes {
        let _ = Command::new("ip").args(["netns", "del", netns]).output();
        ip(&["netns", "add", netns]);
        // From here on, Drop deletes the namespace even if a step below fails.
        let mut lab = Nodes {
            netns: netns.to_string(),
            client_key: keypair(&dir.join("client")),
            servers: Vec::new(),
        };
        ip(&["-n", netns, "link", "set", "lo", "up"]);
        // A bridge without ports: a local interface that holds the node addresses.
        ip(&["-n", netns, "link", "add", "nodes0", "type", "bridge"]);
        ip(&["-n", netns, "link", "set", "nodes0", "up"]);
        for (name, address) in nodes {
            ip(&[
                "-n",
                netns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                "nodes0",
            ]);
            let set_hostname = format!("hostname {name} && exec \"$@\"");
            let wrapper = [
                "ip",
                "netns",
                "exec",
                netns,
                "unshare",
                "--uts",
                "sh",
                "-c",
                &set_hostname,
                "sh",
            ];
            // Stand-in commands in `dir/bin` (systemctl) come first on the nodes' PATH.
            let path = format!(
                "SetEnv PATH={}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
                dir.join("bin").display()
            );
            let sshd = Sshd::start_with(
                dir,
                &address.to_string(),
                22,
                &dir.join(format!("host-{name}")),
                &lab.client_key,
                &wrapper,
                &path,
            );
            lab.servers.push(sshd);
        }
        lab.wait_listening();
        lab
    }

    fn wait_listening(&self) {
        for server in &self.servers {
            let probe = format!("for i in $(seq 100); do (exec 3<>/dev/tcp/{}/22) 2>/dev/null && exit 0; sleep 0.1; done; exit 1", server.address);
            let ok = Command::new("ip")
                .args(["netns", "exec", &self.netns, "bash", "-c", &probe])
                .status()
                .unwrap();
            assert!(ok.success(), "sshd on {} did not start", server.address);
        }
    }

    /// A command run inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns]).arg(program);
        cmd
    }

    /// Stops the server of one node (it stops answering).
    pub fn stop(&mut self, address: &str) {
        self.servers.retain(|s| s.address != address);
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.servers.clear();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}
