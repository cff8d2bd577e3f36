//! k0sctl.yaml for the fixture plans in tests/fixtures/render/ (one snapshot each), our validator
//! over every rendered file, and the broken configs in tests/fixtures/k0sctl-invalid/ that it
//! must refuse (their messages are snapshots too).

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use common::plan_for;
use k0s_vagrant::inventory::{Inventory, InventoryNode, SshEndpoint};
use k0s_vagrant::plan::{Plan, Provider};
use k0s_vagrant::render::RenderContext;
use k0s_vagrant::settings::{self, RawSettings};
use k0s_vagrant::validate::validate;

#[derive(serde::Deserialize)]
struct Fixture {
    provider: Provider,
    env: BTreeMap<String, String>,
    inventory: bool,
}

/// Stable, so the snapshots are; the add-on files the configs upload are written below it, since
/// the validator checks that they exist.
const DATA_DIR: &str = "/tmp/k0sv-render/k0s-vagrant/.vagrant";

/// Renders `context` after writing the add-on files it uploads, as the deploy's render phase does.
fn render_written(context: &RenderContext) -> String {
    for (path, content) in &context.stack_files {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    context.render().unwrap()
}

/// What `vagrant up` would report: libvirt SSH goes to the management network, Tart's to the
/// DHCP address that is also the node address; the private NIC is ens5 on libvirt (as the VM tier
/// sees it with predictable interface names).
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
                    "ens5",
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
                k0s_data_dir: "/var/lib/k0s".to_string(),
                machine_id: None,
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
        let context = RenderContext::new(&plan, inventory.as_ref(), Path::new(DATA_DIR)).unwrap();
        let yaml = if fixture.inventory {
            render_written(&context)
        } else {
            context.render().unwrap()
        };
        if fixture.inventory {
            validate(&yaml).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else {
            // A preview holds placeholders, which are not addresses.
            assert!(yaml.contains("<") || fixture.provider == Provider::Libvirt);
        }
        // The files the controllers get, each named by the config; the storage manifest is the
        // same for every plan (its own snapshot below).
        let mut shown = yaml.clone();
        for (path, content) in &context.stack_files {
            assert!(yaml.contains(&format!("src: {:?}", path.display().to_string())));
            if !path.ends_with("local-path.yaml") {
                shown.push_str(&format!("\n# {}\n{content}", path.display()));
            }
        }
        insta::assert_snapshot!(shown);
    });
}

#[test]
fn storage_manifest() {
    insta::assert_snapshot!(k0s_vagrant::addons::storage::manifest());
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
                let yaml = render_written(
                    &RenderContext::new(&plan, Some(&inventory_for(&plan)), Path::new(DATA_DIR))
                        .unwrap(),
                );
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

fn rendered(plan: &Plan, inventory: &Inventory) -> serde_yaml::Value {
    let yaml =
        render_written(&RenderContext::new(plan, Some(inventory), Path::new(DATA_DIR)).unwrap());
    validate(&yaml).unwrap();
    serde_yaml::from_str(&yaml).unwrap()
}

/// k0s cannot switch a bootstrapped controller between `api.address` and `onlyBindToAddress`
/// (k0s #6997), and k0sctl restarts no worker for node-local load balancing (k0s docs/nllb.md):
/// growing 1 -> 2 -> 3 controllers on a running cluster may only add hosts.
#[test]
fn growing_the_control_plane_only_adds_hosts() {
    for provider in [Provider::Tart, Provider::Libvirt] {
        for workers in [1, 3] {
            let plan = |c: u32| {
                plan_for(
                    provider,
                    &BTreeMap::from([
                        ("CONTROL_PLANE_COUNT".to_string(), c.to_string()),
                        ("WORKER_COUNT".to_string(), workers.to_string()),
                    ]),
                )
            };
            let first = plan(1);
            let mut inventory = inventory_for(&first);
            let mut before = rendered(&first, &inventory);
            for controllers in [2, 3] {
                let grown = plan(controllers);
                // Existing machines keep their endpoints; the new controller gets its own.
                let fresh = inventory_for(&grown);
                inventory.nodes = grown
                    .nodes
                    .iter()
                    .map(|n| match inventory.node(&n.name) {
                        Some(existing) => existing.clone(),
                        None => {
                            // DHCP gives the new VM an address nobody holds: its SSH endpoint
                            // on libvirt's management network, its node address on Tart.
                            let mut new = fresh.node(&n.name).unwrap().clone();
                            let dhcp = Ipv4Addr::new(192, 168, 64, 100 + controllers as u8);
                            new.ssh.host = dhcp.to_string();
                            if provider == Provider::Tart {
                                new.address = dhcp;
                            }
                            new
                        }
                    })
                    .collect();
                let after = rendered(&grown, &inventory);
                let what = format!("{provider:?} -> {controllers} controllers, {workers} workers");
                assert_eq!(before["spec"]["k0s"], after["spec"]["k0s"], "{what}");
                let old_hosts = before["spec"]["hosts"].as_sequence().unwrap();
                let new_hosts = after["spec"]["hosts"].as_sequence().unwrap();
                assert_eq!(new_hosts.len(), old_hosts.len() + 1, "{what}");
                for host in old_hosts {
                    assert!(new_hosts.contains(host), "{what}: changed {host:?}");
                }
                let added: Vec<_> = new_hosts
                    .iter()
                    .filter(|h| !old_hosts.contains(h))
                    .collect();
                assert_eq!(added[0]["role"], "controller+worker", "{what}");
                assert!(
                    added[0].get("noTaints").is_none(),
                    "{what}: only control-plane-1 runs workloads"
                );
                before = after;
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
    inventory.nodes[1].interface = Some("ens6".to_string());
    let err = RenderContext::new(&plan, Some(&inventory), Path::new(DATA_DIR)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "controllers hold the node network on different interfaces (ens5, ens6); the control-plane virtual IP needs one name on all"
    );
}

#[test]
fn broken_configs_are_refused() {
    insta::glob!("fixtures/k0sctl-invalid/*.yaml", |path| {
        let err = validate(&std::fs::read_to_string(path).unwrap()).expect_err("must be refused");
        insta::assert_snapshot!(err.problems.join("\n"));
    });
}

/// Keys k0sctl v0.32 accepts that we never render: a hand-edited config with them is not refused
/// (k0sctl `cluster/host.go`, `cluster/spec.go`; rig v2 `protocol/ssh/config.go`).
#[test]
fn keys_k0sctl_accepts_are_accepted() {
    let yaml = r#"apiVersion: k0sctl.k0sproject.io/v1beta1
kind: Cluster
metadata: {name: k0s}
spec:
  hosts:
  - role: controller+worker
    noTaints: true
    ssh: {address: 192.168.121.10, port: 22, user: vagrant, keyPath: /p/cp1, options: {Compression: "yes"}}
    privateAddress: 192.168.56.10
    kubeletRootDir: /var/lib/kubelet
    useExistingK0s: false
    k0sInstallPath: /opt/bin/k0s
  options:
    wait: {enabled: true}
  k0s:
    version: "v1.33.4+k0s.0"
"#;
    validate(yaml).unwrap();
}

/// Offline, with the cache holding the plan's version and its add-ons, every host uploads the k0s
/// binary (`k0sBinaryPath`), the airgap bundle and the add-ons' image bundles into k0s' images
/// directory (`files`), every controller the add-on charts, which are installed from there with no
/// repository; the version is rendered for k0sctl's check of the uploaded binary, and the file
/// passes our validator (which checks the sources exist, so they are real files here).
#[test]
fn offline_k0sctl_yaml_uploads_everything_from_the_cache_and_passes_our_validator() {
    use k0s_vagrant::cache::{Arch, Cache};
    let cache_dir = Path::new("/tmp/k0sv-render-cache");
    let version = "v1.33.4+k0s.0";
    for (provider, arch, c, w, addons) in [
        (Provider::Libvirt, Arch::Amd64, 1, 1, None),
        (
            Provider::Libvirt,
            Arch::Amd64,
            3,
            2,
            Some(("storage,load-balancer,ingress", Some("node-ip"))),
        ),
        (Provider::Tart, Arch::Arm64, 1, 1, None),
        (
            Provider::Tart,
            Arch::Arm64,
            3,
            2,
            Some(("storage,load-balancer,ingress", None)),
        ),
    ] {
        common::cache::seed(cache_dir, version, arch);
        let mut env = BTreeMap::from([
            ("CONTROL_PLANE_COUNT".to_string(), c.to_string()),
            ("WORKER_COUNT".to_string(), w.to_string()),
        ]);
        if let Some((selection, mode)) = addons {
            env.insert("ADDONS".into(), selection.into());
            if let Some(mode) = mode {
                env.insert("LB_MODE".into(), mode.into());
            }
        }
        // K0S_VERSION is empty: the uploads bring their version.
        let plan = plan_for(provider, &env);
        let raw = RawSettings::from_lookup(|name| match name {
            "K0S_VAGRANT_CACHE" => Some(cache_dir.display().to_string()),
            "HOME" => Some("/root".into()),
            _ => None,
        });
        let cache = Cache::new(settings::cache_config(&raw, true).unwrap());
        let mut artifacts = cache.check_offline(version, arch).unwrap();
        artifacts.addons = cache.addons_offline(&plan.addons.pinned(), arch).unwrap();
        let yaml = render_written(
            &RenderContext::new(&plan, Some(&inventory_for(&plan)), Path::new(DATA_DIR))
                .unwrap()
                .with_uploads(Some(&artifacts)),
        );
        let label = format!("offline-{c}c{w}w-{}", provider.as_str());
        validate(&yaml).unwrap_or_else(|e| panic!("{label}: {e}"));
        let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        let dst_of = |h: &serde_yaml::Value, dir: &str| -> Vec<String> {
            h["files"]
                .as_sequence()
                .unwrap()
                .iter()
                .filter(|f| f["dstDir"].as_str() == Some(dir))
                .map(|f| {
                    f["src"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .collect()
        };
        let charts: Vec<String> = artifacts
            .addons
            .charts
            .iter()
            .map(|c| c.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            charts.len(),
            if addons.is_some() { 2 } else { 1 },
            "{label}"
        );
        for h in doc["spec"]["hosts"].as_sequence().unwrap() {
            assert_eq!(h["k0sBinaryPath"].as_str(), artifacts.binary.to_str());
            let images = dst_of(h, "/var/lib/k0s/images/");
            assert_eq!(images.len(), 1 + artifacts.addons.bundles.len(), "{label}");
            let on_host = dst_of(h, "/var/lib/k0s/charts");
            if h["role"] == "worker" {
                assert!(on_host.is_empty(), "{label}: charts on a worker");
            } else {
                assert_eq!(on_host, charts, "{label}");
            }
        }
        let helm = &doc["spec"]["k0s"]["config"]["spec"]["extensions"]["helm"];
        assert!(helm.get("repositories").is_none(), "{label}: {helm:?}");
        for chart in helm["charts"].as_sequence().unwrap() {
            let name = chart["chartname"].as_str().unwrap();
            let file = name.strip_prefix("/var/lib/k0s/charts/").unwrap();
            assert!(charts.iter().any(|c| c == file), "{label}: {name}");
        }
        insta::assert_snapshot!(label, yaml);
    }
}
