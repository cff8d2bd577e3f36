//! The user's kubeconfig: merging our context in, removing it, the standalone kubeconfig and where
//! the user's kubeconfig is, checked with the real kubectl.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::Scratch;
use k0s_vagrant::adapters::kubeconfig::{self, Merged};

fn kubectl(config: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(config)
        .args(args)
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn view(config: &Path) -> serde_json::Value {
    serde_json::from_str(&kubectl(config, &["config", "view", "--raw", "-o", "json"])).unwrap()
}

/// The entries of `list` other than `name`, by name.
fn others(doc: &serde_json::Value, list: &str, name: &str) -> BTreeMap<String, serde_json::Value> {
    doc[list]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] != name)
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

/// Our standalone kubeconfig from k0sctl's output, named `name` and pointed at `server`.
fn ours(name: &str, server: &str) -> String {
    kubeconfig::standalone(
        &std::fs::read_to_string("tests/fixtures/kubeconfig/k0sctl-output.yaml").unwrap(),
        name,
        server,
    )
    .unwrap()
}

#[test]
fn merge_adds_one_context_and_removal_takes_exactly_it_away() {
    let dir = Scratch::new("kubeconfig");
    let target = dir.path().join("config");
    std::fs::copy("tests/fixtures/kubeconfig/existing.yaml", &target).unwrap();
    let before = view(&target);
    let ours = ours("k0s-dev", "https://192.168.56.100:6443");

    let merged = kubeconfig::merge(&target, &ours, "k0s-dev").unwrap();
    let backup = dir.path().join("config.k0s-vagrant.bak");
    assert_eq!(
        merged,
        Merged::Written {
            backup: Some(backup.clone())
        }
    );
    assert_eq!(
        std::fs::read(&backup).unwrap(),
        std::fs::read("tests/fixtures/kubeconfig/existing.yaml").unwrap()
    );
    assert_eq!(
        kubectl(&target, &["config", "get-contexts", "-o", "name"]),
        "k0s-dev\nkind-dev\nwork\n"
    );
    assert_eq!(
        kubectl(&target, &["config", "current-context"]),
        "work\n",
        "current context untouched"
    );
    let after = view(&target);
    for list in ["clusters", "users", "contexts"] {
        assert_eq!(
            others(&after, list, "k0s-dev"),
            others(&before, list, "k0s-dev"),
            "{list} untouched"
        );
    }
    let server = kubectl(
        &target,
        &[
            "config",
            "view",
            "--context",
            "k0s-dev",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ],
    );
    assert_eq!(server, "https://192.168.56.100:6443");
    let user = kubectl(
        &target,
        &[
            "config",
            "view",
            "--context",
            "k0s-dev",
            "--minify",
            "--raw",
            "-o",
            "jsonpath={.users[0].name} {.users[0].user.client-key-data}",
        ],
    );
    assert_eq!(user, "k0s-dev azBzLWtleQ==");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    assert_eq!(
        kubeconfig::merge(&target, &ours, "k0s-dev").unwrap(),
        Merged::Unchanged,
        "a second merge changes nothing"
    );

    assert!(kubeconfig::remove(&target, "k0s-dev").unwrap());
    let removed = view(&target);
    for list in ["clusters", "users", "contexts"] {
        assert_eq!(
            others(&removed, list, "k0s-dev"),
            others(&before, list, "k0s-dev")
        );
        assert_eq!(
            removed[list].as_array().unwrap().len(),
            before[list].as_array().unwrap().len()
        );
    }
    assert_eq!(kubectl(&target, &["config", "current-context"]), "work\n");
    assert!(
        !kubeconfig::remove(&target, "k0s-dev").unwrap(),
        "nothing left to remove"
    );
}

#[test]
fn merge_into_a_missing_file_creates_it_with_our_context_current() {
    let dir = Scratch::new("kubeconfig-new");
    let target = dir.path().join("sub").join("config");
    let ours = ours("k0s-k0s", "https://192.168.56.10:6443");
    assert_eq!(
        kubeconfig::merge(&target, &ours, "k0s-k0s").unwrap(),
        Merged::Written { backup: None }
    );
    assert_eq!(
        kubectl(&target, &["config", "current-context"]),
        "k0s-k0s\n"
    );
    // Removing our context clears a current-context that named it.
    assert!(kubeconfig::remove(&target, "k0s-k0s").unwrap());
    assert_eq!(view(&target)["current-context"], "");
}

#[test]
fn a_broken_user_kubeconfig_is_reported_not_overwritten() {
    let dir = Scratch::new("kubeconfig-bad");
    let target = dir.path().join("config");
    std::fs::write(&target, "clusters: [unclosed\n").unwrap();
    let ours = ours("k0s-k0s", "https://192.168.56.10:6443");
    let err = kubeconfig::merge(&target, &ours, "k0s-k0s").unwrap_err();
    assert!(
        err.to_string().contains("is not valid YAML")
            && err.to_string().contains("K0S_KUBECONFIG_MERGE=false"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "clusters: [unclosed\n"
    );
}

#[test]
fn kubeconfig_path_is_the_first_of_kubeconfig_else_home() {
    assert_eq!(
        kubeconfig::user_kubeconfig_path(Some("/a/one:/b/two"), Some(Path::new("/home/x"))),
        Some("/a/one".into())
    );
    assert_eq!(
        kubeconfig::user_kubeconfig_path(None, Some(Path::new("/home/x"))),
        Some("/home/x/.kube/config".into())
    );
    assert_eq!(kubeconfig::user_kubeconfig_path(Some(""), None), None);
}
