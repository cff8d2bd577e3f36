//! The Taskfile: `task --list` names every alias, and the `cluster:*` tasks run the helper for
//! real against a deployed stand-in cluster (tests/common/cluster.rs, tests/common/api.rs).

mod common;

use std::process::Command;

use common::api::deployed;
use common::{outcome, stdout};

/// The Taskfile's task names, as `task --list` prints them.
#[test]
fn task_list_names_every_alias() {
    let out = Command::new("task")
        .args(["--color=false", "--list"]) // CI=true makes task colour its output
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("task (go-task) on PATH: run tests/install-deps");
    assert!(out.status.success(), "{}", outcome(&out));
    let names: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| {
            l.strip_prefix("* ")
                .map(|l| l.split(':').take(2).collect::<Vec<_>>().join(":"))
        })
        .collect();
    assert_eq!(
        names,
        [
            "cluster:health",
            "cluster:kubeconfig",
            "cluster:status",
            "vagrant:destroy",
            "vagrant:halt",
            "vagrant:reload",
            "vagrant:ssh",
            "vagrant:status",
            "vagrant:up",
        ]
    );
}

/// `task cluster:*` run for real against a deployed stand-in cluster.
#[test]
fn stub_cluster_tasks_run_the_helper() {
    let (c, _api) = deployed(1, 1);
    let task = |name: &str| {
        c.nodes
            .command("task")
            .arg(name)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("VAGRANT_DOTFILE_PATH", c.project.path().join(".vagrant"))
            .env("K0S_VAGRANT_BIN", env!("CARGO_BIN_EXE_k0s-vagrant"))
            .env("KUBECONFIG", c.user_kubeconfig())
            .output()
            .unwrap()
    };
    let health = task("cluster:health");
    assert_eq!(health.status.code(), Some(0), "{}", outcome(&health));
    assert!(stdout(&health).ends_with("healthy\n"));
    let status = task("cluster:status");
    assert!(
        stdout(&status)
            .lines()
            .any(|l| l.starts_with("worker-1 ") && l.contains(" Ready ")),
        "{}",
        outcome(&status)
    );
    let kubeconfig = task("cluster:kubeconfig");
    assert_eq!(
        stdout(&kubeconfig),
        format!("{}\n", c.state_dir().join("kubeconfig").display())
    );
}
