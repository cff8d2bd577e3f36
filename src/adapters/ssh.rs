//! SSH to the nodes (libssh2 through the ssh2 crate): key auth from the inventory, a connect
//! timeout, bounded retries with backoff while nodes boot, host keys pinned on first contact, and
//! errors that tell an unreachable node, a refused key and a failed command apart.

use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ssh2::{CheckResult, KnownHostFileKind};

use crate::inventory::SshEndpoint;
use crate::util::exit::Category;
use crate::util::files::FileError;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{node}: cannot reach {addr} over SSH after {}s ({reason}); check `vagrant status` and `vagrant ssh {node}`", waited.as_secs())]
    Unreachable {
        node: String,
        addr: String,
        reason: String,
        waited: Duration,
    },
    #[error("{node}: {user}@{addr} refused the key {}; run `vagrant ssh {node}` to check the login, or `vagrant reload {node}`", key.display())]
    AuthRefused {
        node: String,
        user: String,
        addr: String,
        key: PathBuf,
    },
    #[error("{node}: the host key at {addr} is not the one pinned for {node} in {}; if the VM was recreated outside Vagrant, remove the old key: ssh-keygen -R '{node}' -f {}", known_hosts.display(), known_hosts.display())]
    HostKeyChanged {
        node: String,
        addr: String,
        known_hosts: PathBuf,
    },
    #[error("{node}: `{command}` failed with exit code {status}: {tail}")]
    CommandFailed {
        node: String,
        command: String,
        status: i32,
        tail: String,
    },
    #[error("{node}: `{command}` did not finish within {}s", after.as_secs())]
    Timeout {
        node: String,
        command: String,
        after: Duration,
    },
    #[error("{node}: SSH to {addr} failed: {reason}")]
    Protocol {
        node: String,
        addr: String,
        reason: String,
    },
}

impl SshError {
    pub fn category(&self) -> Category {
        Category::Remote
    }

    /// Worth another try while a node boots.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SshError::Unreachable { .. })
    }
}

/// How long and how often to try connecting.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Give up connecting after this long in all.
    pub deadline: Duration,
    /// Per TCP connect and handshake.
    pub connect_timeout: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            deadline: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Host keys pinned on first contact, one per machine: the entry's host is the node's name, not
/// its address, so a key follows its machine when DHCP moves it (Tart) and an address that DHCP
/// hands to a recreated machine carries no stale key. OpenSSH format: `ssh -o HostKeyAlias=NODE
/// -o UserKnownHostsFile=FILE` reads it too.
pub struct KnownHosts {
    path: PathBuf,
    lock: Mutex<()>,
}

impl KnownHosts {
    pub fn new(path: PathBuf) -> KnownHosts {
        KnownHosts {
            path,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the key pinned for `node`, pins one for a node without, refuses a changed one.
    fn verify(
        &self,
        session: &ssh2::Session,
        node: &str,
        host: &str,
        port: u16,
    ) -> Result<(), SshError> {
        let addr = format!("{host}:{port}");
        let protocol = |reason: String| SshError::Protocol {
            node: node.to_string(),
            addr: addr.clone(),
            reason,
        };
        let (key, kind) = session
            .host_key()
            .ok_or_else(|| protocol("the server sent no host key".into()))?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut hosts = session.known_hosts().map_err(|e| protocol(e.to_string()))?;
        if self.path.exists() {
            hosts
                .read_file(&self.path, KnownHostFileKind::OpenSSH)
                .map_err(|e| protocol(format!("read {}: {e}", self.path.display())))?;
        }
        match hosts.check(node, key) {
            CheckResult::Match => Ok(()),
            CheckResult::Mismatch => Err(SshError::HostKeyChanged {
                node: node.to_string(),
                addr,
                known_hosts: self.path.clone(),
            }),
            CheckResult::NotFound => {
                hosts
                    .add(node, key, &addr, kind.into())
                    .map_err(|e| protocol(e.to_string()))?;
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| protocol(e.to_string()))?;
                }
                let tmp = self.path.with_extension("tmp");
                hosts
                    .write_file(&tmp, KnownHostFileKind::OpenSSH)
                    .map_err(|e| protocol(e.to_string()))?;
                std::fs::rename(&tmp, &self.path).map_err(|e| protocol(e.to_string()))?;
                tracing::debug!(node, host, port, "pinned host key");
                Ok(())
            }
            CheckResult::Failure => Err(protocol("checking the host key failed".into())),
        }
    }

    /// Drops the pinned keys of these machines (destroyed ones), whatever addresses they had.
    pub fn forget(&self, nodes: &[String]) -> Result<(), FileError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Ok(());
        };
        let kept: String = text
            .lines()
            .filter(|line| {
                !line
                    .split_whitespace()
                    .next()
                    .is_some_and(|hosts| hosts.split(',').any(|h| nodes.iter().any(|n| n == h)))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        crate::util::files::write_atomic(&self.path, kept.as_bytes(), None)
    }
}

/// An authenticated connection to one node.
pub struct Session {
    pub node: String,
    session: ssh2::Session,
}

/// What a remote command printed and returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Connects with retries until `retry.deadline`.
pub fn connect(
    node: &str,
    endpoint: &SshEndpoint,
    known_hosts: &KnownHosts,
    retry: &Retry,
) -> Result<Session, SshError> {
    let start = Instant::now();
    let mut backoff = retry.first_backoff;
    let mut attempt = 1;
    loop {
        match connect_once(node, endpoint, known_hosts, retry.connect_timeout) {
            Ok(session) => return Ok(session),
            Err(err) if err.is_retryable() && start.elapsed() + backoff < retry.deadline => {
                tracing::debug!(node, attempt, "ssh not ready: {err}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(retry.max_backoff);
                attempt += 1;
            }
            Err(SshError::Unreachable {
                node, addr, reason, ..
            }) => {
                return Err(SshError::Unreachable {
                    node,
                    addr,
                    reason,
                    waited: start.elapsed(),
                })
            }
            Err(err) => return Err(err),
        }
    }
}

fn connect_once(
    node: &str,
    ep: &SshEndpoint,
    known_hosts: &KnownHosts,
    timeout: Duration,
) -> Result<Session, SshError> {
    let addr = format!("{}:{}", ep.host, ep.port);
    let unreachable = |reason: String| SshError::Unreachable {
        node: node.to_string(),
        addr: addr.clone(),
        reason,
        waited: Duration::ZERO,
    };
    let socket = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("no address".into()))?;
    let tcp =
        TcpStream::connect_timeout(&socket, timeout).map_err(|e| unreachable(e.to_string()))?;
    let mut session = ssh2::Session::new().map_err(|e| unreachable(e.to_string()))?;
    session.set_timeout(timeout.as_millis() as u32);
    session.set_tcp_stream(tcp);
    // A server still starting often accepts and then closes: that is "not ready yet".
    session
        .handshake()
        .map_err(|e| unreachable(format!("handshake: {e}")))?;
    known_hosts.verify(&session, node, &ep.host, ep.port)?;
    if let Err(e) = session.userauth_pubkey_file(&ep.user, None, &ep.key_path, None) {
        tracing::debug!(node, "public key auth failed: {e}");
    }
    if !session.authenticated() {
        return Err(SshError::AuthRefused {
            node: node.to_string(),
            user: ep.user.clone(),
            addr,
            key: ep.key_path.clone(),
        });
    }
    session.set_timeout(0);
    Ok(Session {
        node: node.to_string(),
        session,
    })
}

impl Session {
    /// Runs `command` and returns what it printed, whatever its exit code.
    pub fn exec(&self, command: &str, timeout: Duration) -> Result<Output, SshError> {
        tracing::debug!(node = %self.node, command, "ssh exec");
        self.session
            .set_timeout(timeout.as_millis().min(u128::from(u32::MAX)) as u32);
        let result = self.exec_inner(command);
        self.session.set_timeout(0);
        result.map_err(|e| {
            let timed_out = match &e {
                ExecFail::Ssh(e) => e.code() == ssh2::ErrorCode::Session(-9),
                ExecFail::Io(e) => matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ),
            };
            if timed_out {
                SshError::Timeout {
                    node: self.node.clone(),
                    command: command.to_string(),
                    after: timeout,
                }
            } else {
                SshError::Protocol {
                    node: self.node.clone(),
                    addr: String::new(),
                    reason: format!("`{command}`: {e}"),
                }
            }
        })
    }

    fn exec_inner(&self, command: &str) -> Result<Output, ExecFail> {
        let mut channel = self.session.channel_session()?;
        channel.exec(command)?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        channel.read_to_end(&mut stdout).map_err(ExecFail::Io)?;
        channel
            .stderr()
            .read_to_end(&mut stderr)
            .map_err(ExecFail::Io)?;
        channel.wait_close()?;
        let status = channel.exit_status()?;
        tracing::trace!(node = %self.node, status, stdout = %String::from_utf8_lossy(&stdout), "ssh output");
        Ok(Output {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// Copies the local file `from` to `to` on the node over SCP (written as the login user, with
    /// `mode`), streaming it in chunks so a large image archive never sits in memory. Each chunk
    /// must go through within `stall`. Returns the bytes sent.
    pub fn upload(
        &self,
        from: &Path,
        to: &str,
        mode: i32,
        stall: Duration,
    ) -> Result<u64, SshError> {
        tracing::debug!(node = %self.node, from = %from.display(), to, "ssh upload");
        let fail = |reason: String| SshError::Protocol {
            node: self.node.clone(),
            addr: String::new(),
            reason: format!("upload {} to {to}: {reason}", from.display()),
        };
        let mut file = std::fs::File::open(from).map_err(|e| fail(e.to_string()))?;
        let size = file.metadata().map_err(|e| fail(e.to_string()))?.len();
        self.session
            .set_timeout(stall.as_millis().min(u128::from(u32::MAX)) as u32);
        let result = (|| -> Result<u64, String> {
            let mut channel = self
                .session
                .scp_send(Path::new(to), mode, size, None)
                .map_err(|e| e.to_string())?;
            let sent = std::io::copy(
                &mut std::io::BufReader::with_capacity(1 << 18, &mut file).take(size),
                &mut channel,
            )
            .map_err(|e| e.to_string())?;
            if sent != size {
                return Err(format!(
                    "the file shrank while sending ({sent} of {size} bytes)"
                ));
            }
            channel.send_eof().map_err(|e| e.to_string())?;
            channel.wait_eof().map_err(|e| e.to_string())?;
            channel.close().map_err(|e| e.to_string())?;
            channel.wait_close().map_err(|e| e.to_string())?;
            Ok(sent)
        })();
        self.session.set_timeout(0);
        result.map_err(fail)
    }

    /// Runs `command`; a non-zero exit is an error carrying the tail of its output.
    pub fn run(&self, command: &str, timeout: Duration) -> Result<String, SshError> {
        let out = self.exec(command, timeout)?;
        if out.status != 0 {
            let text = if out.stderr.trim().is_empty() {
                &out.stdout
            } else {
                &out.stderr
            };
            return Err(SshError::CommandFailed {
                node: self.node.clone(),
                command: command.to_string(),
                status: out.status,
                tail: crate::util::text::tail(text, 3),
            });
        }
        Ok(out.stdout)
    }
}

#[derive(Debug, thiserror::Error)]
enum ExecFail {
    #[error(transparent)]
    Ssh(#[from] ssh2::Error),
    #[error(transparent)]
    Io(std::io::Error),
}
