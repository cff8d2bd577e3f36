//! Node objects and the changes that make them match the plan, from `kubectl get nodes -o json`
//! fixtures in the Kubernetes API's documented shape (tests/fixtures/nodes/).

mod common;

use std::path::Path;

use common::{env, plan_for};
use k0s_vagrant::cluster::nodes::{parse_nodes, reconcile, Change, NodeList, Taint};
use k0s_vagrant::plan::{Plan, Provider};

/// The plan a fixture belongs to, from its name (`3c2w-...`).
fn plan_for_fixture(path: &Path) -> Plan {
    let name = path.file_stem().unwrap().to_str().unwrap();
    plan_for(
        Provider::Libvirt,
        &env(&[
            ("CONTROL_PLANE_COUNT", &name[..1]),
            ("WORKER_COUNT", &name[2..3]),
        ]),
    )
}

/// What the API server would do with the change.
fn apply(nodes: &mut NodeList, change: &Change) {
    let find = |nodes: &mut NodeList, name: &str| {
        nodes
            .items
            .iter_mut()
            .position(|n| n.metadata.name == name)
            .unwrap()
    };
    match change {
        Change::AddTaint { node, key } => {
            let i = find(nodes, node);
            nodes.items[i].spec.taints.push(Taint {
                key: key.to_string(),
                value: None,
                effect: "NoSchedule".into(),
            });
        }
        Change::RemoveTaint {
            node, key, effect, ..
        } => {
            let i = find(nodes, node);
            nodes.items[i]
                .spec
                .taints
                .retain(|t| !(t.key == *key && t.effect == *effect));
        }
        Change::Label { node, key } => {
            let i = find(nodes, node);
            nodes.items[i]
                .metadata
                .labels
                .insert(key.to_string(), String::new());
        }
    }
}

#[test]
fn reconcile_from_node_fixtures() {
    insta::glob!("fixtures/nodes/*.json", |path| {
        let nodes = parse_nodes(&std::fs::read_to_string(path).unwrap()).unwrap();
        let plan = plan_for_fixture(path);
        let changes = reconcile(&plan, &nodes);
        let shown: Vec<String> = changes
            .iter()
            .map(|c| format!("{c}  =>  kubectl {}", c.kubectl_args()))
            .collect();
        insta::assert_snapshot!(shown.join("\n"));
    });
}

#[test]
fn after_the_changes_exactly_the_planned_nodes_take_workloads_and_nothing_is_left_to_do() {
    insta::glob!("fixtures/nodes/*.json", |path| {
        let mut nodes = parse_nodes(&std::fs::read_to_string(path).unwrap()).unwrap();
        let plan = plan_for_fixture(path);
        for change in reconcile(&plan, &nodes) {
            apply(&mut nodes, &change);
        }
        assert_eq!(reconcile(&plan, &nodes), vec![], "{}", path.display());
        for planned in &plan.nodes {
            let node = nodes
                .items
                .iter()
                .find(|n| n.metadata.name == planned.name)
                .unwrap();
            let role_taint = node
                .spec
                .taints
                .iter()
                .any(|t| t.key.starts_with("node-role.kubernetes.io/"));
            assert_eq!(
                !role_taint,
                planned.runs_workloads,
                "{} in {}",
                planned.name,
                path.display()
            );
        }
        // A node the plan does not name keeps its taints.
        if let Some(stranger) = nodes
            .items
            .iter()
            .find(|n| n.metadata.name == "someone-elses-node")
        {
            assert_eq!(stranger.spec.taints.len(), 1);
        }
    });
}

#[test]
fn readiness_reads_the_ready_condition() {
    let nodes = parse_nodes(
        &std::fs::read_to_string("tests/fixtures/nodes/3c2w-fresh-k0s-1.32.json").unwrap(),
    )
    .unwrap();
    let ready: Vec<(&str, Result<(), String>)> = nodes
        .items
        .iter()
        .map(|n| (n.metadata.name.as_str(), n.readiness()))
        .collect();
    assert_eq!(ready[0], ("control-plane-1", Ok(())));
    assert_eq!(ready[4], ("worker-2", Err("KubeletNotReady".to_string())));
    assert!(parse_nodes("{\"items\": 3}").is_err());
}
