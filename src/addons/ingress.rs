//! Ingress: Traefik (ingress-nginx stopped taking fixes in March 2026), as a k0s Helm extension
//! after MetalLB. Chart 41.3.0 runs Traefik v3.7.11, makes its IngressClass the default and puts
//! its Service on `type: LoadBalancer` (traefik/traefik-helm-chart `traefik/Chart.yaml`,
//! `traefik/values.yaml` `ingressClass`, `service`, `ports` at v41.3.0). With the load balancer
//! the Service takes a pool address (l2) or shares a node address (node-ip); without it Traefik
//! listens on ports 80 and 443 of every node it runs on (`ports.*.hostPort`).

use serde_json::json;

use super::load_balancer::SHARED_IP_KEY;
use super::{ChartRef, HelmChart, HelmRepository, Pinned};

pub const CHART_VERSION: &str = "41.3.0";
pub const NAMESPACE: &str = "traefik";

/// The chart's one image (`image.registry`/`image.repository`, tag = appVersion v3.7.11).
pub const IMAGES: &[&str] = &["docker.io/traefik:v3.7.11"];

const CHART: ChartRef = ChartRef {
    repository: HelmRepository {
        name: "traefik",
        url: "https://traefik.github.io/charts",
    },
    name: "traefik",
    version: CHART_VERSION,
};

/// What the ingress takes from the internet: the chart and its image.
pub fn pinned() -> Pinned {
    Pinned {
        addon: "ingress",
        version: CHART_VERSION,
        chart: Some(CHART),
        images: IMAGES,
    }
}

/// The chart's Helm values as k0s wants them: a YAML string.
pub fn values(load_balancer: bool) -> String {
    let values = if load_balancer {
        json!({"service": {"annotations": {"metallb.io/allow-shared-ip": SHARED_IP_KEY}}})
    } else {
        json!({
            "service": {"type": "ClusterIP"},
            "ports": {"web": {"hostPort": 80}, "websecure": {"hostPort": 443}},
        })
    };
    serde_yaml::to_string(&values).unwrap_or_default()
}

/// The repository and the chart, for `extensions.helm` (`order` 2: after MetalLB).
pub fn helm(load_balancer: bool) -> (HelmRepository, HelmChart) {
    (
        CHART.repository,
        HelmChart {
            name: "traefik",
            chartname: CHART.online_name(),
            version: CHART_VERSION,
            namespace: NAMESPACE,
            order: 2,
            values: values(load_balancer),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_service_shares_a_load_balancer_address_or_the_nodes_ports_serve() {
        let with: Value = serde_yaml::from_str(&values(true)).unwrap();
        assert_eq!(
            with["service"]["annotations"]["metallb.io/allow-shared-ip"],
            SHARED_IP_KEY
        );
        let without: Value = serde_yaml::from_str(&values(false)).unwrap();
        assert_eq!(without["service"]["type"], "ClusterIP");
        assert_eq!(without["ports"]["web"]["hostPort"], 80);
        assert_eq!(without["ports"]["websecure"]["hostPort"], 443);
    }
}
