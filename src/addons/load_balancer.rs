//! `type: LoadBalancer` with MetalLB: the chart as a k0s Helm extension
//! (`spec.k0s.config.spec.extensions.helm`, k0s `docs/helm-charts.md`) and the address pool as a
//! manifest deployer stack, which the leader controller re-applies every minute until MetalLB's
//! CRDs and webhook exist (k0s `pkg/applier/manager.go`), so no ordering loop is needed here.
//! Chart values from metallb/metallb `charts/metallb/values.yaml` at v0.15.3: `speaker.frr.enabled`
//! defaults to true there and pulls FRR, which L2 does not use; `node-ip` runs no speaker at all.

use std::net::Ipv4Addr;

use serde_json::json;

use super::storage::documents;
use super::{ChartRef, HelmChart, HelmRepository, LbMode, LoadBalancer, Pinned};

pub const CHART_VERSION: &str = "0.15.3";
pub const NAMESPACE: &str = "metallb-system";
/// The name of the pool and of its advertisement.
pub const POOL: &str = "k0s-vagrant";
pub const STACK: &str = "k0s-vagrant-lb";
/// The key that lets Services share one address (metallb `metallb.io/allow-shared-ip`): with
/// `node-ip` each node address is one pool entry, so Services on different ports share it.
pub const SHARED_IP_KEY: &str = "k0s-vagrant";

/// The chart's images (`controller.image`, `speaker.image` in the chart's values, tag = the
/// chart's appVersion); FRR's stays out, it is off.
pub const IMAGES: &[&str] = &[
    "quay.io/metallb/controller:v0.15.3",
    "quay.io/metallb/speaker:v0.15.3",
];

const CHART: ChartRef = ChartRef {
    repository: HelmRepository {
        name: "metallb",
        url: "https://metallb.github.io/metallb",
    },
    name: "metallb",
    version: CHART_VERSION,
};

/// What the load balancer takes from the internet: the chart and its images (the speaker's too,
/// so one bundle serves both modes).
pub fn pinned() -> Pinned {
    Pinned {
        addon: "load-balancer",
        version: CHART_VERSION,
        chart: Some(CHART),
        images: IMAGES,
    }
}

/// The chart's Helm values as k0s wants them: a YAML string.
pub fn values(mode: LbMode) -> String {
    let speaker = match mode {
        LbMode::L2 => json!({"enabled": true, "frr": {"enabled": false}}),
        LbMode::NodeIp => json!({"enabled": false, "frr": {"enabled": false}}),
    };
    serde_yaml::to_string(&json!({"speaker": speaker})).unwrap_or_default()
}

/// The repository and the chart, for `extensions.helm` (`order` 1: before the ingress).
pub fn helm(mode: LbMode) -> (HelmRepository, HelmChart) {
    (
        CHART.repository,
        HelmChart {
            name: "metallb",
            chartname: CHART.online_name(),
            version: CHART_VERSION,
            namespace: NAMESPACE,
            order: 1,
            values: values(mode),
        },
    )
}

/// The pool stack: for `l2` the plan's range, announced only on the node network's interface
/// (`L2Advertisement.spec.interfaces`; the speaker answers on every NIC otherwise, Vagrant's
/// management network too); for `node-ip` each node's own address, announced by nobody.
pub fn pool_manifest(lb: &LoadBalancer, nodes: &[Ipv4Addr], interface: Option<&str>) -> String {
    let addresses: Vec<String> = match lb.pool {
        Some(pool) => vec![pool.to_string()],
        None => nodes.iter().map(|a| format!("{a}/32")).collect(),
    };
    let mut docs = vec![json!({
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": POOL, "namespace": NAMESPACE},
        "spec": {"addresses": addresses},
    })];
    if lb.mode == LbMode::L2 {
        let mut spec = json!({"ipAddressPools": [POOL]});
        if let Some(interface) = interface {
            spec["interfaces"] = json!([interface]);
        }
        docs.push(json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": POOL, "namespace": NAMESPACE},
            "spec": spec,
        }));
    }
    documents(&docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addons::Pool;
    use serde::Deserialize;
    use serde_json::Value;

    fn parsed(text: &str) -> Vec<Value> {
        serde_yaml::Deserializer::from_str(text)
            .map(|d| Value::deserialize(d).unwrap())
            .collect()
    }

    #[test]
    fn l2_announces_the_pool_on_the_node_network_only() {
        let lb = LoadBalancer {
            mode: LbMode::L2,
            pool: Some(Pool::parse("192.168.56.223-192.168.56.254").unwrap()),
        };
        let docs = parsed(&pool_manifest(&lb, &[], Some("ens6")));
        assert_eq!(
            docs[0]["spec"]["addresses"],
            json!(["192.168.56.223-192.168.56.254"])
        );
        assert_eq!(docs[1]["kind"], "L2Advertisement");
        assert_eq!(docs[1]["spec"]["interfaces"], json!(["ens6"]));
        assert_eq!(docs[1]["spec"]["ipAddressPools"], json!([POOL]));
        let values: Value = serde_yaml::from_str(&values(LbMode::L2)).unwrap();
        assert_eq!(
            values["speaker"],
            json!({"enabled": true, "frr": {"enabled": false}})
        );
    }

    #[test]
    fn node_ip_assigns_the_nodes_addresses_and_announces_nothing() {
        let lb = LoadBalancer {
            mode: LbMode::NodeIp,
            pool: None,
        };
        let nodes = [
            "192.168.64.5".parse().unwrap(),
            "192.168.64.7".parse().unwrap(),
        ];
        let docs = parsed(&pool_manifest(&lb, &nodes, Some("enp0s1")));
        assert_eq!(docs.len(), 1);
        assert_eq!(
            docs[0]["spec"]["addresses"],
            json!(["192.168.64.5/32", "192.168.64.7/32"])
        );
        let values: Value = serde_yaml::from_str(&values(LbMode::NodeIp)).unwrap();
        assert_eq!(values["speaker"]["enabled"], false);
    }
}
