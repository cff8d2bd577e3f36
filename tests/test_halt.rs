//! `stop`: k0s stops on a node before its VM is halted where the provider's halt powers the VM off
//! without a guest shutdown (Tart), and only there; stand-in nodes (real OpenSSH servers in a test
//! network namespace, STAND-IN k0s from tests/stubs).

mod common;

use common::cluster::{helper_in, state, Cluster};
use common::{outcome, stderr};

/// The project's inventory as the post-up hook wrote it, with another provider.
fn set_provider(c: &Cluster, provider: &str) {
    let path = c.state_dir().join("inventory.json");
    let mut inventory: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    inventory["provider"] = provider.into();
    std::fs::write(&path, inventory.to_string()).unwrap();
}

fn stops(c: &Cluster) -> usize {
    c.k0s_calls().iter().filter(|l| *l == "stop").count()
}

#[test]
fn stub_stop_before_halt_stops_k0s_on_tart_only_and_never_fails_the_halt() {
    let c = Cluster::new(1, 1);
    let deployed = c.deploy(&["--until", "taints"]);
    assert_eq!(deployed.status.code(), Some(0), "{}", outcome(&deployed));
    let stopped = state(&c).join("stopped").join("worker-1");

    // libvirt shuts the guest down itself: nothing to do, nothing said.
    let out = helper_in(
        &c,
        &["stop", "--before-halt", "--state", "running", "worker-1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert_eq!(stops(&c), 0);
    assert_eq!(stderr(&out), "");

    set_provider(&c, "tart");
    // A machine that is not running, or one the cluster does not know: nothing either.
    for args in [
        ["stop", "--before-halt", "--state", "poweroff", "worker-1"],
        ["stop", "--before-halt", "--state", "running", "worker-9"],
    ] {
        let out = helper_in(&c, &args);
        assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
        assert_eq!(stops(&c), 0, "{args:?}");
    }
    let out = helper_in(
        &c,
        &["stop", "--before-halt", "--state", "running", "worker-1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert_eq!(stops(&c), 1);
    assert!(stopped.exists(), "k0s stopped on worker-1 itself");
    assert!(
        stderr(&out).contains("stopping k0s on worker-1 before Tart powers its VM off"),
        "{}",
        outcome(&out)
    );

    // A node that does not answer only warns: the halt goes on.
    let path = c.state_dir().join("inventory.json");
    let mut inventory: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    inventory["nodes"][1]["ssh"]["port"] = 1.into();
    std::fs::write(&path, inventory.to_string()).unwrap();
    let out = helper_in(
        &c,
        &["stop", "--before-halt", "--state", "running", "worker-1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(
        stderr(&out).contains("warning: worker-1: k0s stop failed (")
            && stderr(&out).contains("the VM is halted anyway"),
        "{}",
        outcome(&out)
    );
}

#[test]
fn stub_stop_by_hand_stops_k0s_and_names_an_unknown_node() {
    let c = Cluster::new(1, 1);
    let deployed = c.deploy(&["--until", "taints"]);
    assert_eq!(deployed.status.code(), Some(0), "{}", outcome(&deployed));
    let out = helper_in(&c, &["stop", "worker-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(state(&c).join("stopped").join("worker-1").exists());
    let out = helper_in(&c, &["stop", "worker-7"]);
    assert_eq!(out.status.code(), Some(2), "{}", outcome(&out));
    assert_eq!(
        stderr(&out),
        "k0s-vagrant: worker-7 is not a node of this cluster (its nodes: control-plane-1, worker-1)\n"
    );
}
