//! `remove`: nodes leave a running cluster of stand-in nodes (real OpenSSH servers in a test
//! network namespace, STAND-IN k0s and k0sctl from tests/stubs), one at a time, and the project's
//! state forgets them; refusals change nothing.

mod common;

use common::cluster::{helper_in, read_lines, state, Cluster};
use common::{outcome, stderr};

fn lock_nodes(c: &Cluster) -> Vec<String> {
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.state_dir().join("plan.json")).unwrap())
            .unwrap();
    lock["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

fn address(c: &Cluster, node: &str) -> String {
    c.planned
        .iter()
        .find(|(n, _)| n == node)
        .unwrap()
        .1
        .to_string()
}

#[test]
fn stub_remove_takes_a_worker_and_a_controller_out_one_at_a_time_and_forgets_them() {
    let c = deployed(3, 2);
    let calls_before = c.k0s_calls().len();

    let out = helper_in(&c, &["remove", "control-plane-3", "worker-2"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    assert!(
        err.contains("taking worker-2, control-plane-3 out of the cluster, one at a time"),
        "{err}"
    );

    // The order on the cluster: the worker first, drained before its Node object goes; the
    // controller leaves etcd by its address before its Node object goes.
    let calls: Vec<String> = c.k0s_calls()[calls_before..]
        .iter()
        .filter(|l| {
            l.starts_with("kubectl drain")
                || l.starts_with("kubectl delete")
                || l.starts_with("etcd leave")
                || *l == "reset"
        })
        .cloned()
        .collect();
    let drain =
        "--ignore-daemonsets --delete-emptydir-data --force --grace-period=120 --timeout=5m";
    assert_eq!(
        calls,
        [
            format!("kubectl drain worker-2 {drain}"),
            "reset".to_string(),
            "kubectl delete node worker-2".to_string(),
            format!("kubectl drain control-plane-3 {drain}"),
            format!(
                "etcd leave --peer-address {}",
                address(&c, "control-plane-3")
            ),
            "reset".to_string(),
            "kubectl delete node control-plane-3".to_string(),
        ]
    );
    for node in ["worker-2", "control-plane-3"] {
        assert!(
            state(&c).join(format!("reset-{node}")).exists(),
            "{node} reset on the node itself"
        );
        assert!(!state(&c).join("nodes").join(node).exists());
    }
    assert!(state(&c).join("etcd-left").join("control-plane-3").exists());

    // The state forgets them: plan lock, inventory, pinned keys, k0sctl.yaml (counted as applied).
    assert_eq!(
        lock_nodes(&c),
        ["control-plane-1", "control-plane-2", "worker-1"]
    );
    let inventory = std::fs::read_to_string(c.state_dir().join("inventory.json")).unwrap();
    assert!(!inventory.contains("worker-2") && !inventory.contains("control-plane-3"));
    let keys = read_lines(&c.state_dir().join("known_hosts")).join("\n");
    assert!(
        !keys.contains("worker-2") && !keys.contains("control-plane-3"),
        "{keys}"
    );
    let config = std::fs::read_to_string(c.state_dir().join("k0sctl.yaml")).unwrap();
    assert!(
        !config.contains(&address(&c, "worker-2")) && config.contains(&address(&c, "worker-1"))
    );
    assert_eq!(
        config,
        std::fs::read_to_string(c.state_dir().join("k0sctl.applied.yaml")).unwrap()
    );

    // The next deploy has nothing to apply: the cluster already is what the plan says.
    let again = c.deploy(&["--until", "taints"]);
    assert_eq!(again.status.code(), Some(0), "{}", outcome(&again));
    assert!(stderr(&again).contains("skipped: k0sctl.yaml is unchanged since the last successful apply and every node is Ready"), "{}", stderr(&again));
}

#[test]
fn stub_remove_refuses_before_anything_changes() {
    let c = deployed(3, 1);
    let refused = |args: &[&str], expected: &str| {
        let calls = c.k0s_calls().len();
        let out = helper_in(&c, args);
        assert_eq!(out.status.code(), Some(2), "{}", outcome(&out));
        assert_eq!(stderr(&out), format!("k0s-vagrant: {expected}\n"));
        let changed: Vec<String> = c.k0s_calls()[calls..]
            .iter()
            .filter(|l| {
                l.starts_with("kubectl drain")
                    || l.starts_with("etcd leave")
                    || l.starts_with("kubectl delete")
            })
            .cloned()
            .collect();
        assert!(changed.is_empty(), "{changed:?}");
    };
    refused(
        &["remove", "control-plane-1"],
        "control-plane-1 is the cluster's first controller and cannot leave while other nodes stay; to remove the whole cluster: vagrant destroy -f",
    );
    refused(
        &["remove", "worker-1"],
        "removing worker-1 leaves no worker (WORKER_COUNT is at least 1); keep worker-1",
    );
    refused(
        &["remove", "worker-7"],
        "worker-7 is not a node of this cluster (its nodes: control-plane-1, control-plane-2, control-plane-3, worker-1)",
    );
    // control-plane-2's k0s is down: control-plane-3 leaving would leave 1 of 2 members running.
    std::fs::create_dir_all(state(&c).join("stopped")).unwrap();
    std::fs::write(state(&c).join("stopped").join("control-plane-2"), "").unwrap();
    refused(
        &["remove", "control-plane-3"],
        "removing control-plane-3 leaves 1 of 2 etcd members running, below the quorum of 2; bring the other controllers back first (k0s-vagrant status), or force it: k0s-vagrant remove --force control-plane-3",
    );
    assert_eq!(lock_nodes(&c).len(), 4, "the plan lock is untouched");
}

/// A worker whose k0s is down (its machine halted) is not Ready: nothing to drain, its Node object
/// still goes.
#[test]
fn stub_remove_of_a_node_that_is_not_ready_skips_the_drain() {
    let c = deployed(1, 2);
    std::fs::create_dir_all(state(&c).join("stopped")).unwrap();
    std::fs::write(state(&c).join("stopped").join("worker-2"), "").unwrap();
    let out = helper_in(&c, &["remove", "worker-2"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(
        stderr(&out).contains("    not Ready (NodeStatusUnknown): nothing to drain"),
        "{}",
        stderr(&out)
    );
    let calls = c.k0s_calls();
    assert!(
        !calls.iter().any(|l| l.starts_with("kubectl drain")),
        "{calls:?}"
    );
    assert!(calls.contains(&"kubectl delete node worker-2".to_string()));
    assert_eq!(lock_nodes(&c), ["control-plane-1", "worker-1"]);
}

/// What the Vagrantfile's before-destroy trigger runs: every existing machine is the fast path, a
/// part needs `-f` (Vagrant asks only after the trigger), and with it the named nodes leave.
#[test]
fn stub_before_destroy_takes_out_only_part_of_a_cluster_and_only_with_force() {
    let c = deployed(1, 2);
    let data = c.project.path().join(".vagrant");
    for (name, _) in &c.planned {
        common::mark_created(
            &data,
            name,
            "libvirt",
            "5d0a0f4e-0000-4000-8000-000000000001",
        );
    }
    let hook = |vagrant_args: &[&str]| {
        let mut args = vec!["remove", "--before-destroy", "--"];
        args.extend(vagrant_args);
        helper_in(&c, &args)
    };
    let calls = c.k0s_calls().len();
    for all in [&["destroy", "-f"][..], &["destroy", "-f", "/./"]] {
        let out = hook(all);
        assert_eq!(
            (out.status.code(), stderr(&out)),
            (Some(0), String::new()),
            "{all:?}"
        );
    }
    assert_eq!(
        c.k0s_calls().len(),
        calls,
        "the fast path asks the cluster nothing"
    );
    let asks = hook(&["destroy", "worker-2"]);
    assert_eq!(asks.status.code(), Some(2), "{}", outcome(&asks));
    assert_eq!(
        stderr(&asks),
        "k0s-vagrant: destroying part of the cluster takes worker-2 out of it first, which `vagrant destroy` would ask about only afterwards; run `vagrant destroy -f worker-2`\n"
    );
    let out = hook(&["destroy", "-f", "worker-2"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(c
        .k0s_calls()
        .contains(&"kubectl delete node worker-2".to_string()));
    assert_eq!(lock_nodes(&c), ["control-plane-1", "worker-1"]);
    // The trigger fires once per machine: once it is out, the next one has nothing to do.
    let again = hook(&["destroy", "-f", "worker-2"]);
    assert_eq!(
        (again.status.code(), stderr(&again)),
        (Some(0), String::new())
    );
}

/// A stand-in cluster deployed up to its taints.
fn deployed(controllers: u32, workers: u32) -> Cluster {
    let c = Cluster::new(controllers, workers);
    let out = c.deploy(&["--until", "taints"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    c
}

fn mark_all_created(c: &Cluster) {
    let data = c.project.path().join(".vagrant");
    for (name, _) in &c.planned {
        common::mark_created(
            &data,
            name,
            "libvirt",
            "5d0a0f4e-0000-4000-8000-000000000001",
        );
    }
}

/// The k0s calls since `from` that change the cluster.
fn changes_since(c: &Cluster, from: usize) -> Vec<String> {
    c.k0s_calls()[from..]
        .iter()
        .filter(|l| {
            l.starts_with("kubectl drain")
                || l.starts_with("kubectl delete")
                || l.starts_with("etcd leave")
        })
        .cloned()
        .collect()
}

/// Run by hand on nodes whose machines exist, `remove` takes them out of the cluster but keeps
/// them in the plan lock (Vagrant still defines the machines) and says how to finish; the
/// `vagrant destroy -f` that follows finds nothing left to do on the cluster and forgets them.
#[test]
fn stub_remove_by_hand_keeps_existing_machines_in_the_plan_until_destroy_finishes() {
    let c = deployed(2, 2);
    mark_all_created(&c);
    let out = helper_in(&c, &["remove", "control-plane-2", "worker-2"]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    assert!(stderr(&out).ends_with(
        "k0s-vagrant: worker-2, control-plane-2 left the cluster; their machines still exist and stay in the plan: run `vagrant destroy -f worker-2 control-plane-2` to finish (until then `vagrant up` joins them again)\n"
    ), "{}", stderr(&out));
    assert!(state(&c).join("etcd-left").join("control-plane-2").exists());
    assert_eq!(
        lock_nodes(&c),
        ["control-plane-1", "control-plane-2", "worker-1", "worker-2"]
    );
    let inventory = std::fs::read_to_string(c.state_dir().join("inventory.json")).unwrap();
    assert!(inventory.contains("worker-2") && inventory.contains("control-plane-2"));

    // What the Vagrantfile's before-destroy trigger then runs: no second drain, leave or delete.
    let calls = c.k0s_calls().len();
    let out = helper_in(
        &c,
        &[
            "remove",
            "--before-destroy",
            "--",
            "destroy",
            "-f",
            "worker-2",
            "control-plane-2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    assert!(
        err.contains("    no Node object (never registered, or deleted already): nothing to drain")
            && err.contains("    not an etcd member (left already): nothing to leave"),
        "{err}"
    );
    assert_eq!(changes_since(&c, calls), Vec::<String>::new());
    assert_eq!(lock_nodes(&c), ["control-plane-1", "worker-1"]);
}

/// A removal that failed half-way (the Node object could not be deleted after the controller
/// left etcd) is run again: what is done is skipped, the rest happens.
#[test]
fn stub_remove_run_again_after_a_failed_step_skips_what_is_done() {
    let c = deployed(3, 1);
    std::fs::write(state(&c).join("delete-fails"), "").unwrap();
    let failed = helper_in(&c, &["remove", "control-plane-3"]);
    assert_eq!(failed.status.code(), Some(4), "{}", outcome(&failed));
    assert!(
        stderr(&failed).contains("k0s-vagrant: control-plane-3: delete its Node object failed ("),
        "{}",
        stderr(&failed)
    );
    assert!(
        stderr(&failed)
            .trim_end()
            .ends_with("it is still part of the cluster: fix the cause and run the removal again"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(lock_nodes(&c).len(), 4, "nothing forgotten");
    assert!(state(&c).join("etcd-left").join("control-plane-3").exists());

    std::fs::remove_file(state(&c).join("delete-fails")).unwrap();
    let calls = c.k0s_calls().len();
    let again = helper_in(&c, &["remove", "control-plane-3"]);
    assert_eq!(again.status.code(), Some(0), "{}", outcome(&again));
    assert!(
        stderr(&again).contains("    not an etcd member (left already): nothing to leave"),
        "{}",
        stderr(&again)
    );
    // Its k0s was stopped by the first run, so its Node is not Ready: no drain either.
    assert_eq!(
        changes_since(&c, calls),
        ["kubectl delete node control-plane-3"]
    );
    assert_eq!(
        lock_nodes(&c),
        ["control-plane-1", "control-plane-2", "worker-1"]
    );
}

/// A leave that answers success while etcd still lists the member stops the removal.
#[test]
fn stub_remove_stops_when_the_member_is_still_listed_after_the_leave() {
    let c = deployed(3, 1);
    std::fs::write(state(&c).join("leave-ignored"), "").unwrap();
    let out = helper_in(&c, &["remove", "control-plane-3"]);
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    let last = stderr(&out).lines().last().unwrap_or_default().to_string();
    assert_eq!(
        last,
        format!(
            "k0s-vagrant: control-plane-3: leave etcd failed (`k0s etcd member-list` still lists it with peer address {}); it is still part of the cluster: fix the cause and run the removal again",
            address(&c, "control-plane-3")
        )
    );
    assert!(
        !c.k0s_calls()
            .contains(&"kubectl delete node control-plane-3".to_string()),
        "its Node object stays"
    );
    assert_eq!(lock_nodes(&c).len(), 4);
}

/// `k0s-vagrant plan -- up` inside the nodes' namespace with the counts `vars`, the STAND-IN
/// vagrant first on PATH (its `destroy -f NODE` runs the helper's before-destroy removal, removes
/// the machine and tidies up, as the Vagrantfile's triggers do) and a Vagrantfile the helper finds.
fn plan_up_with_stand_in_vagrant(c: &Cluster, vars: &[(&str, &str)]) -> std::process::Output {
    let bin = c.stubs.join("vagrant-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("tests/stubs/vagrant", bin.join("vagrant")).unwrap();
    std::fs::write(c.project.path().join("Vagrantfile"), "# stand-in project\n").unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let network = format!("10.77.{}.0/24", c.subnet);
    let k0sctl = common::stub_k0sctl(&c.project.path().join("plan"));
    let mut all = common::env(&[
        ("VAGRANT_DEFAULT_PROVIDER", "libvirt"),
        ("NODE_NETWORK", &network),
        ("K0SCTL", k0sctl.to_str().unwrap()),
        ("KUBECONFIG", c.user_kubeconfig().to_str().unwrap()),
        ("PATH", &path),
    ]);
    all.extend(common::env(vars));
    c.helper(&all)
        .args(["plan", "--format", "json", "--project-dir"])
        .arg(c.project.path())
        .args(["--", "up"])
        .output()
        .unwrap()
}

/// `CONTROL_PLANE_COUNT=1 WORKER_COUNT=1 vagrant up` on a running 3+2 cluster: the plan step says
/// what goes, then each node leaves the cluster and its machine goes before the next one starts
/// (workers first, the highest number first), and the plan goes on with the rest.
#[test]
fn stub_up_with_lower_counts_removes_nodes_one_at_a_time_then_plans_the_rest() {
    let c = deployed(3, 2);
    mark_all_created(&c);
    let calls = c.k0s_calls().len();
    let out =
        plan_up_with_stand_in_vagrant(&c, &[("CONTROL_PLANE_COUNT", "1"), ("WORKER_COUNT", "1")]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let err = stderr(&out);
    let announced = err
        .find("k0s-vagrant: CONTROL_PLANE_COUNT=1 WORKER_COUNT=1 removes worker-2, control-plane-3, control-plane-2, one at a time:")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        announced < err.find("==> vagrant destroy -f worker-2").unwrap_or(0),
        "{err}"
    );
    let drain =
        "--ignore-daemonsets --delete-emptydir-data --force --grace-period=120 --timeout=5m";
    let leave = |n: &str| format!("etcd leave --peer-address {}", address(&c, n));
    let order: Vec<String> = c.k0s_calls()[calls..]
        .iter()
        .filter(|l| {
            l.starts_with("kubectl drain")
                || l.starts_with("kubectl delete")
                || l.starts_with("etcd leave")
                || l.starts_with("vagrant destroy")
        })
        .cloned()
        .collect();
    assert_eq!(
        order,
        [
            format!("kubectl drain worker-2 {drain}"),
            "kubectl delete node worker-2".to_string(),
            "vagrant destroy -f worker-2".to_string(),
            format!("kubectl drain control-plane-3 {drain}"),
            leave("control-plane-3"),
            "kubectl delete node control-plane-3".to_string(),
            "vagrant destroy -f control-plane-3".to_string(),
            format!("kubectl drain control-plane-2 {drain}"),
            leave("control-plane-2"),
            "kubectl delete node control-plane-2".to_string(),
            "vagrant destroy -f control-plane-2".to_string(),
        ]
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let planned: Vec<&str> = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(planned, ["control-plane-1", "worker-1"]);
    assert_eq!(lock_nodes(&c), ["control-plane-1", "worker-1"]);
    // The API layout of the first deploy stays: the same address and bind mode for 1 controller.
    assert_eq!(plan["cluster"]["api_mode"], "only-bind-to-address");
    assert_eq!(
        plan["cluster"]["api_address"],
        format!("10.77.{}.100", c.subnet)
    );
}

/// The removal rules are checked on the running cluster before the first machine goes: with
/// control-plane-2's k0s down, `CONTROL_PLANE_COUNT=2` would take etcd below quorum, and
/// `WORKER_COUNT=1` in the same command removes nothing either.
#[test]
fn stub_up_with_a_lower_count_that_breaks_quorum_removes_nothing() {
    let c = deployed(3, 2);
    mark_all_created(&c);
    std::fs::create_dir_all(state(&c).join("stopped")).unwrap();
    std::fs::write(state(&c).join("stopped").join("control-plane-2"), "").unwrap();
    let calls = c.k0s_calls().len();
    let out =
        plan_up_with_stand_in_vagrant(&c, &[("CONTROL_PLANE_COUNT", "2"), ("WORKER_COUNT", "1")]);
    assert_eq!(out.status.code(), Some(2), "{}", outcome(&out));
    assert_eq!(
        stderr(&out).lines().last().unwrap_or_default(),
        "k0s-vagrant: removing control-plane-3 leaves 1 of 2 etcd members running, below the quorum of 2; bring the other controllers back first (k0s-vagrant status), or force it: k0s-vagrant remove --force control-plane-3"
    );
    assert_eq!(changes_since(&c, calls), Vec::<String>::new());
    assert!(!c
        .k0s_calls()
        .iter()
        .any(|l| l.starts_with("vagrant destroy")));
    assert_eq!(lock_nodes(&c).len(), 5);
}

/// A lower count on `vagrant up` while control-plane-1 does not answer: nothing can leave the
/// cluster, so nothing goes, and the line says how to get there.
#[test]
fn stub_up_with_a_lower_count_and_control_plane_1_down_removes_nothing() {
    let mut c = Cluster::new(1, 2);
    let deployed = c.deploy(&["--until", "taints"]);
    assert_eq!(deployed.status.code(), Some(0), "{}", outcome(&deployed));
    mark_all_created(&c);
    let first = address(&c, "control-plane-1");
    c.nodes.stop(&first);
    let out = plan_up_with_stand_in_vagrant(&c, &[("WORKER_COUNT", "1")]);
    assert_eq!(out.status.code(), Some(4), "{}", outcome(&out));
    let last = stderr(&out).lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("k0s-vagrant: WORKER_COUNT=1 takes worker-2 out of the running cluster first, but control-plane-1 does not answer over SSH (")
            && last.ends_with("); bring the cluster up with the old counts (WORKER_COUNT=2 vagrant up), then run this again"),
        "{last}"
    );
    assert!(!c
        .k0s_calls()
        .iter()
        .any(|l| l.starts_with("vagrant destroy")));
    assert_eq!(lock_nodes(&c).len(), 3);
}
