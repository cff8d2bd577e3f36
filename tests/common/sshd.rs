//! A real OpenSSH server for tests, on 127.0.0.1 (or inside a test's network namespace), with its
//! own host key and a generated client key. Stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub address: String,
    pub config: PathBuf,
}

/// The login the tests use: whoever runs them (root in CI).
pub fn user() -> String {
    String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}

/// Generates an ed25519 key pair at `path` (and `path`.pub) unless it exists.
pub fn keypair(path: &Path) -> PathBuf {
    if !path.exists() {
        let status = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "k0s-vagrant-test",
                "-f",
            ])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "ssh-keygen");
    }
    path.to_path_buf()
}

/// A free TCP port on 127.0.0.1 (the kernel's pick; the race with another process is harmless here).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    /// Starts sshd on `address:port` with the host key `host_key` (generated if missing) and
    /// `authorized` as the only authorized key. `wrapper` runs before sshd (e.g. a namespace).
    pub fn start(
        dir: &Path,
        address: &str,
        port: u16,
        host_key: &Path,
        authorized: &Path,
        wrapper: &[&str],
    ) -> Sshd {
        Sshd::start_with(dir, address, port, host_key, authorized, wrapper, "")
    }

    /// As `start`, with extra sshd_config lines (e.g. `SetEnv PATH=...`).
    pub fn start_with(
        dir: &Path,
        address: &str,
        port: u16,
        host_key: &Path,
        authorized: &Path,
        wrapper: &[&str],
        extra: &str,
    ) -> Sshd {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "sshd missing: run tests/install-deps (openssh-server)"
        );
        std::fs::create_dir_all("/run/sshd").unwrap();
        keypair(host_key);
        let config = dir.join(format!("sshd-{address}-{port}.conf"));
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress {address}\nHostKey {}\nPidFile none\nAuthorizedKeysFile {}\n\
                 StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nLogLevel ERROR\n{extra}",
                host_key.display(),
                authorized.with_extension("pub").display()
            ),
        )
        .unwrap();
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest);
                c.arg("/usr/sbin/sshd");
                c
            }
            None => Command::new("/usr/sbin/sshd"),
        };
        let child = cmd
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let sshd = Sshd {
            child,
            port,
            address: address.to_string(),
            config,
        };
        if wrapper.is_empty() {
            sshd.wait_listening();
        }
        sshd
    }

    pub fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((self.address.as_str(), self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start on {}:{}",
                self.address,
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
