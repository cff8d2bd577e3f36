//! Local images onto the nodes (`load`), through k0s' image directory `<data-dir>/images`: k0s
//! (v1.30.0 on) watches it, imports every file there into containerd's `k8s.io` namespace ten
//! seconds after the last change, pins what it imported against kubelet's image GC, and unpins
//! once the file is gone (k0sproject/k0s `pkg/component/worker/ocibundle.go`, `docs/airgap-install.md`).
//!
//! k0s imports every file in that directory whatever its name, so an archive is uploaded into a
//! directory beside it (`<data-dir>/.k0s-vagrant-tmp/`, the same filesystem), checked, and moved
//! into place with one rename: k0s never sees a partial file. The name comes from the content
//! (`k0s-vagrant-load-<sha256[:12]>.tar`), so the same archive loaded twice is one file and the
//! second load changes nothing. Then `sudo k0s ctr images ls -q` is asked until every image the
//! archive names is listed.

pub mod archive;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::adapters::node;
use crate::adapters::ssh::{self, KnownHosts, Session, SshError};
use crate::inventory::{Inventory, InventoryNode};
use crate::util::exit::Category;
use crate::util::text::human;

pub use archive::Archive;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("neither docker nor podman is on PATH to save the images from; install one, or save them on another machine and run `k0s-vagrant load --archive FILE`")]
    NoEngine,
    /// `command`: what ran, without its `-o FILE`.
    #[error("`{command}` failed ({reason}); check the names with `{engine} image ls`")]
    EngineFailed {
        engine: &'static str,
        command: String,
        reason: String,
    },
    #[error("no node {node} in this cluster (it has {known}); name one of those with --node")]
    UnknownNode { node: String, known: String },
    #[error("cannot read the archive {}: {reason}; give a file written by `docker image save -o FILE IMAGE` or `podman save -o FILE IMAGE`", path.display())]
    ArchiveUnreadable { path: PathBuf, reason: String },
    #[error("{} is not an image archive k0s can use: {reason}; save it with `docker image save -o FILE IMAGE:TAG` or `podman save -o FILE IMAGE:TAG`", path.display())]
    NotAnImageArchive { path: PathBuf, reason: String },
    #[error("cannot prepare {}: {reason}", path.display())]
    Scratch { path: PathBuf, reason: String },
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error("{node}: the uploaded copy of {file} has SHA-256 {got}, not {want}, so it was not placed; run the load again")]
    Corrupt {
        node: String,
        file: String,
        got: String,
        want: String,
    },
    #[error("{node}: k0s has not listed {missing} after {} ({why}); the archive is in {images_dir}, k0s imports it within about 10 s if it runs (v1.30 or newer): try `vagrant ssh {node} -c 'sudo journalctl -u k0sworker -u k0scontroller | grep -i bundle'`", human(*waited))]
    NotListed {
        node: String,
        missing: String,
        waited: Duration,
        why: String,
        images_dir: String,
    },
}

impl LoadError {
    pub fn category(&self) -> Category {
        match self {
            LoadError::NoEngine => Category::MissingTool,
            LoadError::UnknownNode { .. }
            | LoadError::ArchiveUnreadable { .. }
            | LoadError::NotAnImageArchive { .. } => Category::BadInput,
            LoadError::EngineFailed { .. } | LoadError::Scratch { .. } => Category::Failed,
            LoadError::Ssh(e) => e.category(),
            LoadError::Corrupt { .. } | LoadError::NotListed { .. } => Category::Remote,
        }
    }
}

/// The nodes named with `--node` (all when none), in inventory order; an unknown name is refused
/// before anything is saved or sent.
pub fn select<'a>(
    inventory: &'a Inventory,
    wanted: &[String],
) -> Result<Vec<&'a InventoryNode>, LoadError> {
    if let Some(unknown) = wanted
        .iter()
        .find(|w| !inventory.nodes.iter().any(|n| &n.name == *w))
    {
        return Err(LoadError::UnknownNode {
            node: unknown.clone(),
            known: inventory
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(inventory
        .nodes
        .iter()
        .filter(|n| wanted.is_empty() || wanted.contains(&n.name))
        .collect())
}

/// How long things may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// For k0s to list every image, per node, after the archive is in place.
    pub listed: Duration,
    /// Between two asks of `k0s ctr images ls -q`.
    pub poll: Duration,
}

/// What happened on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Uploaded and moved into place, then listed after this long.
    Placed(Duration),
    /// The file was there already (same content, same name) and k0s lists its images.
    AlreadyThere,
}

const SSH_RETRY: ssh::Retry = ssh::Retry {
    deadline: Duration::from_secs(30),
    connect_timeout: Duration::from_secs(10),
    first_backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(5),
};
/// For the small commands: mkdir, stat, checksum, mv.
const COMMAND: Duration = Duration::from_secs(120);
/// An upload that moves no data for this long has stalled.
const STALL: Duration = Duration::from_secs(120);

/// Single-quoted for POSIX sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn images_dir(node: &InventoryNode) -> String {
    format!("{}/images", node.k0s_data_dir)
}

/// Beside the image directory, on the same filesystem, so the final `mv` is one rename; owned by
/// the login user, who uploads into it over SCP.
fn temp_dir(node: &InventoryNode) -> String {
    format!("{}/.k0s-vagrant-tmp", node.k0s_data_dir)
}

/// Places `archive` on `node` unless it is there, then waits until k0s lists its images.
pub fn load_one(
    node: &InventoryNode,
    known_hosts: &KnownHosts,
    archive: &Archive,
    limits: &Limits,
) -> Result<Outcome, LoadError> {
    let session = ssh::connect(&node.name, &node.ssh, known_hosts, &SSH_RETRY)?;
    let name = archive.file_name();
    let (images, temp) = (images_dir(node), temp_dir(node));
    let final_path = format!("{images}/{name}");
    let prepare = format!(
        "uname -m && sudo mkdir -p {i} {t} && sudo chown \"$(id -u)\" {t} && sudo chmod 0700 {t} && {{ sudo stat -c %s {f} 2>/dev/null || echo absent; }}",
        i = quote(&images),
        t = quote(&temp),
        f = quote(&final_path),
    );
    let said = session.run(&prepare, COMMAND)?;
    let mut lines = said.lines().map(str::trim);
    let (machine, there) = (
        lines.next().unwrap_or_default(),
        lines.next_back().unwrap_or_default(),
    );
    let arch = archive::go_arch(machine);
    if !archive.architectures.is_empty() && !archive.architectures.contains(arch) {
        eprintln!(
            "{}: warning: the node runs {arch}, the archive holds {} images only; they import, but their containers fail with `exec format error`: build them with --platform linux/{arch}",
            node.name,
            archive.architectures.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    if there == archive.size.to_string() {
        eprintln!("{}: already has {final_path}", node.name);
        wait_listed(&session, node, archive, limits)?;
        return Ok(Outcome::AlreadyThere);
    }
    let t0 = Instant::now();
    let part = format!("{temp}/{name}.part");
    eprintln!(
        "{}: uploading {name} ({})",
        node.name,
        crate::cache::download::mib(archive.size)
    );
    session.upload(&archive.path, &part, 0o644, STALL)?;
    // Checked before it is moved, so a damaged copy never reaches the image directory.
    let place = format!(
        "s=$(sha256sum {p} | cut -d' ' -f1); if [ \"$s\" != {want} ]; then rm -f {p}; echo \"sha256 $s\"; exit 3; fi; sudo chown 0:0 {p} && sudo mv -f {p} {f}",
        p = quote(&part),
        want = archive.sha256,
        f = quote(&final_path),
    );
    let out = session.exec(&place, COMMAND)?;
    if out.status == 3 {
        if let Some(got) = out.stdout.trim().strip_prefix("sha256 ") {
            return Err(LoadError::Corrupt {
                node: node.name.clone(),
                file: name,
                got: got.to_string(),
                want: archive.sha256.clone(),
            });
        }
    }
    if out.status != 0 {
        return Err(SshError::CommandFailed {
            node: node.name.clone(),
            command: place,
            status: out.status,
            tail: crate::util::text::tail(&format!("{}{}", out.stdout, out.stderr), 3),
        }
        .into());
    }
    eprintln!(
        "{}: placed {final_path} in {}",
        node.name,
        human(t0.elapsed())
    );
    let t1 = Instant::now();
    wait_listed(&session, node, archive, limits)?;
    Ok(Outcome::Placed(t1.elapsed()))
}

/// Asks `k0s ctr images ls -q` until it lists every ref of `archive`, with a progress line about
/// every 10 s.
fn wait_listed(
    session: &Session,
    node: &InventoryNode,
    archive: &Archive,
    limits: &Limits,
) -> Result<(), LoadError> {
    let start = Instant::now();
    let mut last_said = Instant::now();
    let command = node::k0s(&node.k0s_binary, "ctr images ls -q");
    loop {
        let (missing, why) = match session.run(&command, COMMAND) {
            Ok(out) => {
                let listed: BTreeSet<&str> = out.lines().map(str::trim).collect();
                let missing: Vec<&str> = archive
                    .refs
                    .iter()
                    .map(String::as_str)
                    .filter(|r| !listed.contains(r))
                    .collect();
                (missing.join(", "), "not imported yet".to_string())
            }
            // k0s may be starting: its containerd answers later.
            Err(e @ SshError::CommandFailed { .. }) => {
                (archive.refs.join(", "), format!("last answer: {e}"))
            }
            Err(e) => return Err(e.into()),
        };
        if missing.is_empty() {
            eprintln!(
                "{}: usable: {} (listed after {})",
                node.name,
                archive.refs.join(", "),
                human(start.elapsed())
            );
            return Ok(());
        }
        if start.elapsed() >= limits.listed {
            return Err(LoadError::NotListed {
                node: node.name.clone(),
                missing,
                waited: start.elapsed(),
                why,
                images_dir: images_dir(node),
            });
        }
        if last_said.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "{}: waiting for k0s to import {missing} ({} so far)",
                node.name,
                human(start.elapsed())
            );
            last_said = Instant::now();
        }
        std::thread::sleep(limits.poll);
    }
}

/// Removes every archive `load` placed on `node`, and its upload directory; returns the removed
/// files' names. k0s unpins their images at its next scan of the directory (v1.31.1 on), so
/// kubelet's image GC may then remove the ones no pod uses.
pub fn prune_one(node: &InventoryNode, known_hosts: &KnownHosts) -> Result<Vec<String>, LoadError> {
    let session = ssh::connect(&node.name, &node.ssh, known_hosts, &SSH_RETRY)?;
    let command = format!(
        "if sudo test -d {i}; then sudo find {i} -maxdepth 1 -type f -name '{prefix}*.tar' -print -delete; fi && sudo rm -rf {t}",
        i = quote(&images_dir(node)),
        t = quote(&temp_dir(node)),
        prefix = archive::PREFIX,
    );
    let out = session.run(&command, COMMAND)?;
    Ok(out
        .lines()
        .filter_map(|l| l.trim().rsplit('/').next())
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_a_quote() {
        assert_eq!(quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}
