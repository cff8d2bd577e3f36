//! k0sctl.yaml for the fixture plans in tests/fixtures/render/ (one snapshot each), our validator
//! over every rendered file, and the broken configs in tests/fixtures/k0sctl-invalid/ that it
//! must refuse (their messages are snapshots too).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use k0s_vagrant::inventory::{Inventory, InventoryNode, SshEndpoint};
use k0s_vagrant::plan::{HostFacts, Plan, Provider};
use k0s_vagrant::render::RenderContext;
use k0s_vagrant::settings::{RawSettings, Settings};
use k0s_vagrant::validate::validate;

#[derive(serde::Deserialize)]
struct Fixture {
    provider: Provider,
    env: BTreeMap<String, String>,
    inventory: bool,
}

const DATA_DIR: &str = "/home/dev/k0s-vagrant/.vagrant";

fn plan_for(provider: Provider, env: &BTreeMap<String, String>) -> Plan {
    let raw = RawSettings::from_lookup(|name| env.get(name).cloned());
    Plan::from_settings(
        &Settings::from_raw(&raw).unwrap(),
        provider,
        HostFacts {
            hardware_kvm: false,
        },
    )
}

/// What `vagrant up` would report: libvirt SSH goes to the management network, Tart's to the
/// DHCP address that is also the node address; the private NIC is eth1 on libvirt.
fn inventory_for(plan: &Plan) -> Inventory {
    let nodes = plan
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (ssh_host, address, user, interface) = match plan.cluster.provider_hint {
                Provider::Libvirt => (
                    format!("192.168.121.{}", 100 + i),
                    n.ip.unwrap(),
                    "vagrant",
                    "eth1",
                ),
                Provider::Tart => {
                    let ip = Ipv4Addr::new(192, 168, 64, 10 + i as u8);
                    (ip.to_string(), ip, "admin", "enp0s1")
                }
            };
            InventoryNode {
                name: n.name.clone(),
                address,
                ssh: SshEndpoint {
                    host: ssh_host,
                    port: 22,
                    user: user.to_string(),
                    key_path: Path::new(DATA_DIR)
                        .join("machines")
                        .join(&n.name)
                        .join(plan.cluster.provider_hint.as_str())
                        .join("private_key"),
                },
                interface: Some(interface.to_string()),
                k0s_binary: "/usr/local/bin/k0s".to_string(),
            }
        })
        .collect();
    Inventory {
        cluster: plan.cluster.name.clone(),
        provider: plan.cluster.provider_hint,
        nodes,
    }
}

#[test]
fn k0sctl_yaml_snapshots_pass_our_validator() {
    insta::glob!("fixtures/render/*.json", |path| {
        let fixture: Fixture =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let plan = plan_for(fixture.provider, &fixture.env);
        let inventory = fixture.inventory.then(|| inventory_for(&plan));
        let yaml = RenderContext::new(&plan, inventory.as_ref(), Path::new(DATA_DIR))
            .unwrap()
            .render()
            .unwrap();
        if fixture.inventory {
            validate(&yaml).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else {
            // A preview holds placeholders, which are not addresses.
            assert!(yaml.contains("<") || fixture.provider == Provider::Libvirt);
        }
        insta::assert_snapshot!(yaml);
    });
}

#[test]
fn every_valid_combination_renders_a_valid_file() {
    for provider in [Provider::Tart, Provider::Libvirt] {
        for c in 1..=3 {
            for w in 1..=5 {
                let env = BTreeMap::from([
                    ("CONTROL_PLANE_COUNT".to_string(), c.to_string()),
                    ("WORKER_COUNT".to_string(), w.to_string()),
                ]);
                let plan = plan_for(provider, &env);
                let yaml =
                    RenderContext::new(&plan, Some(&inventory_for(&plan)), Path::new(DATA_DIR))
                        .unwrap()
                        .render()
                        .unwrap();
                validate(&yaml).unwrap_or_else(|e| panic!("{provider:?} {c}c{w}w: {e}"));
                let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
                let hosts = doc["spec"]["hosts"].as_sequence().unwrap();
                assert_eq!(hosts.len(), c + w);
                let no_taints = hosts
                    .iter()
                    .filter(|h| h["noTaints"].as_bool() == Some(true))
                    .count();
                assert_eq!(no_taints, 1, "exactly one controller runs workloads ({c}c)");
            }
        }
    }
}

#[test]
fn controllers_on_different_interfaces_cannot_share_the_ha_address() {
    let plan = plan_for(
        Provider::Libvirt,
        &BTreeMap::from([("CONTROL_PLANE_COUNT".to_string(), "2".to_string())]),
    );
    let mut inventory = inventory_for(&plan);
    inventory.nodes[1].interface = Some("ens5".to_string());
    let err = RenderContext::new(&plan, Some(&inventory), Path::new(DATA_DIR)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "controllers hold the node network on different interfaces (eth1, ens5); the HA address needs one name on all"
    );
}

#[test]
fn broken_configs_are_refused() {
    insta::glob!("fixtures/k0sctl-invalid/*.yaml", |path| {
        let err = validate(&std::fs::read_to_string(path).unwrap()).expect_err("must be refused");
        insta::assert_snapshot!(err.problems.join("\n"));
    });
}
