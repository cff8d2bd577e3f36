//! Running k0sctl: finding it (`K0SCTL`, else PATH), checking its version, `apply` with streamed
//! output, a deadline and one retry after a failure that looks transient, and `kubeconfig`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::util::exit::Category;
use crate::util::version;
use crate::validate::MIN_K0SCTL;

#[derive(Debug, thiserror::Error)]
pub enum K0sctlError {
    #[error("k0sctl not found{}; install it: macOS `brew install k0sproject/tap/k0sctl`, Linux a release binary from https://github.com/k0sproject/k0sctl/releases on your PATH (or set K0SCTL to its path)", given.as_ref().map(|g| format!(" at K0SCTL={}", g.display())).unwrap_or_default())]
    NotFound { given: Option<PathBuf> },
    #[error("{} is version {found}, older than v{}.{}.{} which this setup needs; upgrade k0sctl", path.display(), MIN_K0SCTL.0, MIN_K0SCTL.1, MIN_K0SCTL.2)]
    TooOld { path: PathBuf, found: String },
    #[error("`{} version` printed no version ({output}); check the k0sctl install", path.display())]
    NoVersion { path: PathBuf, output: String },
    #[error("cannot run {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("k0sctl apply failed with exit code {code} (log: {tail}); fix the cause and run `vagrant up` again, or `k0s-vagrant deploy`")]
    ApplyFailed { code: i32, tail: String },
    #[error("k0sctl apply did not finish within {}s and was stopped; see the output above, then run `k0s-vagrant deploy` again", after.as_secs())]
    ApplyTimeout { after: Duration },
    #[error("k0sctl kubeconfig failed with exit code {code}: {tail}")]
    KubeconfigFailed { code: i32, tail: String },
}

impl K0sctlError {
    /// Missing or unusable is the host's tool; one that ran and failed is the cluster's.
    pub fn category(&self) -> Category {
        match self {
            // Spawn: the file is there but cannot run (permissions, another architecture).
            K0sctlError::NotFound { .. }
            | K0sctlError::TooOld { .. }
            | K0sctlError::NoVersion { .. }
            | K0sctlError::Spawn { .. } => Category::MissingTool,
            K0sctlError::ApplyFailed { .. }
            | K0sctlError::ApplyTimeout { .. }
            | K0sctlError::KubeconfigFailed { .. } => Category::Remote,
        }
    }
}

/// Where k0sctl is looked for: the K0SCTL value, else the PATH value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct K0sctlSearch {
    pub k0sctl: Option<String>,
    pub path: Option<String>,
}

/// A k0sctl binary and its version.
#[derive(Debug, Clone)]
pub struct K0sctl {
    pub path: PathBuf,
    pub version: String,
}

/// `K0SCTL`, else the first `k0sctl` on PATH.
pub fn find(k0sctl_env: Option<&str>, path_env: Option<&str>) -> Result<PathBuf, K0sctlError> {
    if let Some(given) = k0sctl_env.filter(|v| !v.is_empty()) {
        let given = PathBuf::from(given);
        return if given.is_file() {
            Ok(given)
        } else {
            Err(K0sctlError::NotFound { given: Some(given) })
        };
    }
    std::env::split_paths(path_env.unwrap_or_default())
        .map(|dir| dir.join("k0sctl"))
        .find(|p| p.is_file())
        .ok_or(K0sctlError::NotFound { given: None })
}

impl K0sctl {
    /// Finds k0sctl where `search` says (K0SCTL, else PATH) and checks that it is new enough.
    pub fn locate(search: &K0sctlSearch) -> Result<K0sctl, K0sctlError> {
        let path = find(search.k0sctl.as_deref(), search.path.as_deref())?;
        let out = Command::new(&path)
            .arg("version")
            .output()
            .map_err(|source| K0sctlError::Spawn {
                path: path.clone(),
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // `version: v0.32.2` on the first line.
        let version = text
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("version:")
                    .map(|v| v.trim().to_string())
            })
            .ok_or_else(|| K0sctlError::NoVersion {
                path: path.clone(),
                output: crate::util::text::tail(&text, 2),
            })?;
        match version::release(&version) {
            Some(v) if v >= MIN_K0SCTL => Ok(K0sctl { path, version }),
            Some(v) if v != (0, 0, 0) => Err(K0sctlError::TooOld {
                path,
                found: version,
            }),
            // A build from source without a release tag prints what carlmjohnson/versioninfo finds
            // (k0sctl version/version.go): `(devel)`, or a Go pseudo-version `v0.0.0-<time>-<commit>`;
            // release builds get the tag through the Makefile's ldflags.
            _ => {
                eprintln!(
                    "k0s-vagrant: warning: {} says version '{version}', which is not a release; going on as if it were v{}.{}.{} or newer",
                    path.display(),
                    MIN_K0SCTL.0,
                    MIN_K0SCTL.1,
                    MIN_K0SCTL.2
                );
                Ok(K0sctl { path, version })
            }
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        // Empty means "no host key checking" to k0sctl: Vagrant VMs are recreated with new keys on
        // the same addresses; our own SSH layer pins keys per cluster instead.
        cmd.env("SSH_KNOWN_HOSTS", "");
        cmd
    }

    /// `k0sctl apply --config <config>`, streamed line by line through `on_line`; stopped after
    /// `timeout`; retried once when the failure looks transient.
    pub fn apply(
        &self,
        config: &Path,
        timeout: Duration,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<(), K0sctlError> {
        let deadline = Instant::now() + timeout;
        let mut attempt = 1;
        loop {
            let mut cmd = self.command();
            cmd.arg("apply").arg("--config").arg(config);
            let run = stream(&self.path, cmd, deadline, on_line)?;
            match run {
                Streamed::Exited { code: 0, .. } => return Ok(()),
                Streamed::Exited { code, tail }
                    if attempt == 1 && looks_transient(&tail) && Instant::now() < deadline =>
                {
                    on_line(&format!(
                        "(failure looks transient; retrying once after exit code {code})"
                    ));
                    attempt += 1;
                }
                Streamed::Exited { code, tail } => {
                    return Err(K0sctlError::ApplyFailed {
                        code,
                        tail: crate::util::text::tail(&tail.join("\n"), 3),
                    })
                }
                Streamed::TimedOut => return Err(K0sctlError::ApplyTimeout { after: timeout }),
            }
        }
    }

    /// `k0sctl kubeconfig --config <config> --address <server>`: the admin kubeconfig.
    pub fn kubeconfig(&self, config: &Path, server: &str) -> Result<String, K0sctlError> {
        let mut cmd = self.command();
        cmd.arg("kubeconfig")
            .arg("--config")
            .arg(config)
            .arg("--address")
            .arg(server);
        let out = cmd.output().map_err(|source| K0sctlError::Spawn {
            path: self.path.clone(),
            source,
        })?;
        if !out.status.success() {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return Err(K0sctlError::KubeconfigFailed {
                code: out.status.code().unwrap_or(-1),
                tail: crate::util::text::tail(&text, 3),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Failures that another try may get past: the network while nodes settle, not a bad config.
fn looks_transient(tail: &[String]) -> bool {
    const SIGNS: &[&str] = &[
        "connection refused",
        "connection reset",
        "i/o timeout",
        "timed out",
        "timeout",
        "eof",
        "tls handshake",
        "context deadline exceeded",
        "no route to host",
        "temporarily unavailable",
    ];
    tail.iter().any(|line| {
        let line = line.to_lowercase();
        SIGNS.iter().any(|s| line.contains(s)) && !line.contains("validation failed")
    })
}

enum Streamed {
    Exited { code: i32, tail: Vec<String> },
    TimedOut,
}

/// Runs `cmd`, passing stdout and stderr lines to `on_line` as they come, until it exits or the
/// deadline passes (then it is killed). Keeps the last lines for the error.
fn stream(
    path: &Path,
    mut cmd: Command,
    deadline: Instant,
    on_line: &mut dyn FnMut(&str),
) -> Result<Streamed, K0sctlError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| K0sctlError::Spawn {
            path: path.to_path_buf(),
            source,
        })?;
    let (rx, readers) = lines_of(&mut child);
    let mut tail: Vec<String> = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(line) => {
                on_line(&line);
                tail.push(line);
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Streamed::TimedOut);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait().map_err(|source| K0sctlError::Spawn {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Streamed::Exited {
        code: status.code().unwrap_or(-1),
        tail,
    })
}

/// The child's stdout and stderr lines, as they come, through one channel; one thread per pipe.
fn lines_of(child: &mut Child) -> (mpsc::Receiver<String>, Vec<JoinHandle<()>>) {
    let (tx, rx) = mpsc::channel::<String>();
    let pipes = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ];
    let readers = pipes
        .into_iter()
        .flatten()
        .map(|pipe| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    (rx, readers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_told_from_config_errors() {
        assert!(looks_transient(&[
            "ssh: dial tcp 192.168.56.20:22: connect: connection refused".into()
        ]));
        assert!(!looks_transient(&[
            "cluster config validation failed: spec: (hosts: at least one host required.).".into()
        ]));
        assert!(!looks_transient(&[
            "apply failed: hostname is not unique: worker-1".into()
        ]));
    }
}
