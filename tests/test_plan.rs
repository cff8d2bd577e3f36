//! Node plans for the fixture settings in tests/fixtures/plan/, one snapshot per fixture, plus the
//! rules every plan must keep whatever the settings.

mod common;

use std::collections::BTreeMap;

use common::plan_for;
use k0s_vagrant::host::HostFacts;
use k0s_vagrant::plan::{K0sRole, Plan, Provider, Role};
use k0s_vagrant::settings::{RawSettings, Settings};

#[derive(serde::Deserialize)]
struct Fixture {
    provider: Provider,
    env: BTreeMap<String, String>,
}

#[test]
fn plan_snapshots() {
    insta::glob!("fixtures/plan/*.json", |path| {
        let fixture: Fixture =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let plan = plan_for(fixture.provider, &fixture.env);
        insta::assert_snapshot!(plan.to_json());
    });
}

#[test]
fn plan_table_has_totals() {
    let plan = plan_for(
        Provider::Libvirt,
        &BTreeMap::from([("CONTROL_PLANE_COUNT".into(), "3".into())]),
    );
    insta::assert_snapshot!(plan.to_table());
}

/// Every valid combination of counts on both providers.
fn all_plans() -> impl Iterator<Item = Plan> {
    [Provider::Tart, Provider::Libvirt]
        .into_iter()
        .flat_map(|provider| {
            (1..=3).flat_map(move |c| {
                (1..=5).map(move |w| {
                    let env = BTreeMap::from([
                        ("CONTROL_PLANE_COUNT".to_string(), c.to_string()),
                        ("WORKER_COUNT".to_string(), w.to_string()),
                    ]);
                    plan_for(provider, &env)
                })
            })
        })
}

#[test]
fn controllers_come_first_and_exactly_ceil_third_of_them_run_workloads() {
    for plan in all_plans() {
        let controllers = plan.count(Role::Controller);
        let first_worker = plan
            .nodes
            .iter()
            .position(|n| n.role == Role::Worker)
            .unwrap();
        assert_eq!(
            first_worker, controllers,
            "controllers first in {:?}",
            plan.nodes
        );
        let workload_controllers: Vec<&str> = plan
            .nodes
            .iter()
            .filter(|n| n.role == Role::Controller && n.runs_workloads)
            .map(|n| n.name.as_str())
            .collect();
        let expected: Vec<String> = (1..=controllers.div_ceil(3))
            .map(|i| format!("control-plane-{i}"))
            .collect();
        assert_eq!(workload_controllers, expected);
        assert!(plan
            .nodes
            .iter()
            .all(|n| (n.role == Role::Controller) == (n.k0s_role == K0sRole::ControllerWorker)));
        assert!(plan
            .nodes
            .iter()
            .filter(|n| n.role == Role::Worker)
            .all(|n| n.runs_workloads));
    }
}

#[test]
fn libvirt_addresses_are_unique_and_inside_the_network_and_tart_has_none() {
    for plan in all_plans() {
        match plan.cluster.provider_hint {
            Provider::Tart => {
                assert!(plan.nodes.iter().all(|n| n.ip.is_none()));
                assert_eq!(
                    (plan.cluster.network, plan.cluster.api_address),
                    (None, None)
                );
            }
            Provider::Libvirt => {
                let net = plan.cluster.network.unwrap();
                let mut ips: Vec<_> = plan.nodes.iter().map(|n| n.ip.unwrap()).collect();
                ips.push(plan.cluster.api_address.unwrap());
                ips.sort();
                ips.dedup();
                // The control-plane virtual IP has an address of its own, whatever the count.
                let expected = plan.nodes.len() + 1;
                assert_eq!(ips.len(), expected, "{ips:?}");
                assert!(ips
                    .iter()
                    .all(|ip| net.contains(ip) && *ip != net.broadcast() && *ip != net.network()));
            }
        }
    }
}

#[test]
fn tart_vm_names_carry_the_cluster_name() {
    let env = BTreeMap::from([("CLUSTER_NAME".to_string(), "lab".to_string())]);
    let plan = plan_for(Provider::Tart, &env);
    let names: Vec<&String> = plan.providers.tart.vm_names.values().collect();
    assert_eq!(names, ["lab-control-plane-1", "lab-worker-1"]);
}

#[test]
fn libvirt_driver_follows_hardware_virtualization_unless_set() {
    let settings = Settings::from_raw(&RawSettings::default()).unwrap();
    let kvm = Plan::from_settings(&settings, Provider::Libvirt, &HostFacts::x86_64(true));
    assert_eq!(
        (
            kvm.providers.libvirt.driver.as_str(),
            kvm.providers.libvirt.cpu_model.as_deref()
        ),
        ("kvm", None)
    );
    let tcg = Plan::from_settings(&settings, Provider::Libvirt, &HostFacts::x86_64(false));
    assert_eq!(
        (
            tcg.providers.libvirt.driver.as_str(),
            tcg.providers.libvirt.cpu_model.as_deref()
        ),
        ("qemu", Some("qemu64"))
    );
    let raw = RawSettings::from_lookup(|n| (n == "LIBVIRT_DRIVER").then(|| "kvm".to_string()));
    let forced = Plan::from_settings(
        &Settings::from_raw(&raw).unwrap(),
        Provider::Libvirt,
        &HostFacts::x86_64(false),
    );
    assert_eq!(forced.providers.libvirt.driver, "kvm");
}

#[test]
fn plan_json_round_trips() {
    for plan in all_plans() {
        let back: Plan = serde_json::from_str(&plan.to_json()).unwrap();
        assert_eq!(back, plan);
    }
}

/// Vagrant >= 2.4 picks a multi-arch box's build by `config.vm.box_architecture`; older Vagrant
/// rejects the setting, and a box the user names may carry no architecture at all.
#[test]
fn the_default_box_names_the_host_architecture_for_vagrant_2_4_only() {
    let arch = |vagrant, env: &[(&str, &str)]| {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let raw = RawSettings::from_lookup(|name| env.get(name).cloned());
        let host = HostFacts {
            vagrant,
            ..HostFacts::x86_64(true)
        };
        Plan::from_settings(&Settings::from_raw(&raw).unwrap(), Provider::Libvirt, &host)
            .providers
            .libvirt
            .box_architecture
    };
    assert_eq!(arch(Some((2, 4, 1)), &[]).as_deref(), Some("amd64"));
    assert_eq!(arch(Some((2, 3, 4)), &[]), None);
    assert_eq!(arch(None, &[]), None);
    assert_eq!(arch(Some((2, 4, 1)), &[("LIBVIRT_BOX", "my/box")]), None);
}
