//! Helpers shared by the integration tests: scratch directories and running the helper binary.
#![allow(dead_code)]

pub mod api;
pub mod cache;
pub mod cluster;
pub mod containerd;
pub mod images;
pub mod lab;
pub mod nodes;
pub mod sshd;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use k0s_vagrant::host::HostFacts;
use k0s_vagrant::plan::{Plan, Provider};
use k0s_vagrant::settings::{RawSettings, Settings};

/// The repository root: the Vagrantfile, tests/stubs/, tests/vm/.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory under the system temp dir, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("k0sv-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The helper binary with a clean environment: only PATH, HOME and `env` are set.
pub fn helper(env: &BTreeMap<String, String>) -> Command {
    clean_env(Command::new(env!("CARGO_BIN_EXE_k0s-vagrant")), env)
}

/// `cmd` with a clean environment: only PATH, HOME (from the test's own) and `env` are set.
pub fn clean_env(mut cmd: Command, env: &BTreeMap<String, String>) -> Command {
    cmd.env_clear();
    for key in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(key) {
            cmd.env(key, v);
        }
    }
    cmd.envs(env);
    cmd
}

/// A copy of the STAND-IN k0sctl (tests/stubs/k0sctl) in `dir/stubs/`, whose state then stays in
/// `dir`: `vagrant up` needs a k0sctl before it creates anything.
pub fn stub_k0sctl(dir: &Path) -> PathBuf {
    let stubs = dir.join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    let path = stubs.join("k0sctl");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stubs/k0sctl"),
        &path,
    )
    .unwrap();
    path
}

pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit code, then stderr, then stdout when there is any: the shape of CLI snapshots.
pub fn outcome(out: &Output) -> String {
    let mut s = format!(
        "exit {}\n",
        out.status
            .code()
            .map_or("signal".to_string(), |c| c.to_string())
    );
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.stdout.is_empty() {
        s.push_str("--- stdout\n");
        s.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    s
}

/// Marks `name` as created, the way Vagrant does: `machines/<name>/<provider>/id`.
pub fn mark_created(data_dir: &Path, name: &str, provider: &str, id: &str) {
    let dir = data_dir.join("machines").join(name).join(provider);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("id"), id).unwrap();
}

/// (machine, state) pairs from a successful `vagrant status --machine-readable`, in Vagrant's
/// order.
pub fn states(out: &Output) -> Vec<(String, String)> {
    assert!(out.status.success(), "{}", outcome(out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.splitn(4, ',').collect();
            (fields.len() == 4 && fields[2] == "state")
                .then(|| (fields[1].to_string(), fields[3].to_string()))
        })
        .collect()
}

/// The plan for valid settings `env` on `provider`, on an x86_64 host without KVM.
pub fn plan_for(provider: Provider, env: &BTreeMap<String, String>) -> Plan {
    let raw = RawSettings::from_lookup(|name| env.get(name).cloned());
    let settings = Settings::from_raw(&raw).expect("fixture settings are valid");
    Plan::from_settings(&settings, provider, &HostFacts::x86_64(false))
}
