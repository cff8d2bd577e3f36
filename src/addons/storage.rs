//! The default StorageClass: rancher/local-path-provisioner, which puts each volume in a directory
//! on the node that runs its first consumer (`hostPath`/`local` PVs with node affinity, no CSI), so
//! it works on every node that takes workloads whatever the kubelet root (`/var/lib/k0s/kubelet`
//! on k0s). The objects and the RBAC the provisioner needs follow its release manifest
//! (rancher/local-path-provisioner `deploy/local-path-storage.yaml` at v0.0.37), with what a
//! development cluster needs on top, as kind does for its `standard` class: the class is the
//! default, the helper image is pinned (upstream pulls an untagged busybox, which offline is a
//! guess; main.go `FlagHelperImage` and the helper pod template both get it), and the provisioner
//! tolerates controllers that run no workloads.

use serde_json::{json, Value};

pub const NAMESPACE: &str = "local-path-storage";
pub const CLASS: &str = "local-path";
pub const PROVISIONER_IMAGE: &str = "docker.io/rancher/local-path-provisioner:v0.0.37";
pub const HELPER_IMAGE: &str = "docker.io/library/busybox:1.37.0";
/// Where volumes live on a node: the root disk that DISK_SIZE sizes.
pub const VOLUME_DIR: &str = "/var/local-path-provisioner";
/// The manifest deployer stack (`/var/lib/k0s/manifests/<stack>/`, k0s `docs/manifests.md`).
pub const STACK: &str = "k0s-vagrant-storage";

/// What storage takes from the internet: no chart, two images.
pub fn pinned() -> super::Pinned {
    super::Pinned {
        addon: "storage",
        version: "v0.0.37",
        chart: None,
        images: &[PROVISIONER_IMAGE, HELPER_IMAGE],
    }
}

/// The stack's one file, as multi-document YAML.
pub fn manifest() -> String {
    let account = "local-path-provisioner-service-account";
    let role = "local-path-provisioner-role";
    let subject = json!([{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]);
    let config = json!({"nodePathMap": [
        {"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [VOLUME_DIR]}
    ]});
    let helper_pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod"},
        "spec": {
            "priorityClassName": "system-node-critical",
            "tolerations": [
                {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"}
            ],
            "containers": [
                {"name": "helper-pod", "image": HELPER_IMAGE, "imagePullPolicy": "IfNotPresent"}
            ]
        }
    });
    let docs = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": account, "namespace": NAMESPACE}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": role, "namespace": NAMESPACE},
               "rules": [{"apiGroups": [""], "resources": ["pods"],
                          "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": role},
        "rules": [
            {"apiGroups": [""],
             "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["persistentvolumes"],
             "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"],
             "verbs": ["get", "list", "watch"]}
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "local-path-provisioner-bind", "namespace": NAMESPACE},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
               "subjects": subject}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "local-path-provisioner-bind"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
               "subjects": subject}),
        deployment(account),
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
               "metadata": {"name": CLASS,
                            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
               "provisioner": "rancher.io/local-path",
               "volumeBindingMode": "WaitForFirstConsumer",
               "reclaimPolicy": "Delete"}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "local-path-config", "namespace": NAMESPACE},
        "data": {
            "config.json": serde_json::to_string_pretty(&config).unwrap_or_default(),
            "setup": "#!/bin/sh\nset -eu\nmkdir -m 0777 -p \"$VOL_DIR\"",
            "teardown": "#!/bin/sh\nset -eu\nrm -rf \"$VOL_DIR\"",
            "helperPod.yaml": serde_yaml::to_string(&helper_pod).unwrap_or_default(),
        }}),
    ];
    documents(&docs)
}

fn deployment(account: &str) -> Value {
    let probe = |path: &str, delay: u32, period: u32| {
        json!({"httpGet": {"path": path, "port": "health"},
               "initialDelaySeconds": delay, "periodSeconds": period})
    };
    let mut startup = probe("/health", 5, 5);
    startup["failureThreshold"] = json!(12);
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "local-path-provisioner", "namespace": NAMESPACE},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "local-path-provisioner"}},
            "template": {
                "metadata": {"labels": {"app": "local-path-provisioner"}},
                "spec": {
                    "serviceAccountName": account,
                    "tolerations": [
                        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                         "effect": "NoSchedule"}
                    ],
                    "containers": [{
                        "name": "local-path-provisioner",
                        "image": PROVISIONER_IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["local-path-provisioner", "--debug", "start",
                                    "--config", "/etc/config/config.json",
                                    "--helper-image", HELPER_IMAGE],
                        "ports": [{"name": "health", "containerPort": 8080, "protocol": "TCP"}],
                        "startupProbe": startup,
                        "livenessProbe": probe("/health", 10, 10),
                        "readinessProbe": probe("/ready", 5, 5),
                        "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/config/"}],
                        "env": [
                            {"name": "POD_NAMESPACE",
                             "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                            {"name": "CONFIG_MOUNT_PATH", "value": "/etc/config/"},
                            {"name": "HEALTH_PORT", "value": "8080"}
                        ]
                    }],
                    "volumes": [{"name": "config-volume",
                                 "configMap": {"name": "local-path-config"}}]
                }
            }
        }
    })
}

/// Multi-document YAML, one `---` before each document.
pub fn documents(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap_or_default()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn parsed() -> Vec<Value> {
        serde_yaml::Deserializer::from_str(&manifest())
            .map(|d| Value::deserialize(d).unwrap())
            .collect()
    }

    #[test]
    fn the_class_is_the_default_and_every_image_is_pinned() {
        let docs = parsed();
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "Role",
                "ClusterRole",
                "RoleBinding",
                "ClusterRoleBinding",
                "Deployment",
                "StorageClass",
                "ConfigMap"
            ]
        );
        let class = &docs[7];
        assert_eq!(
            class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
            "true"
        );
        assert_eq!(class["volumeBindingMode"], "WaitForFirstConsumer");
        // Namespaced objects name their namespace (the manifest deployer needs it, k0s docs/manifests.md).
        for d in &docs {
            let cluster_wide = [
                "Namespace",
                "ClusterRole",
                "ClusterRoleBinding",
                "StorageClass",
            ];
            if !cluster_wide.contains(&d["kind"].as_str().unwrap()) {
                assert_eq!(d["metadata"]["namespace"], NAMESPACE, "{}", d["kind"]);
            }
        }
        let container = &docs[6]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], PROVISIONER_IMAGE);
        let helper: Value =
            serde_yaml::from_str(docs[8]["data"]["helperPod.yaml"].as_str().unwrap()).unwrap();
        assert_eq!(helper["spec"]["containers"][0]["image"], HELPER_IMAGE);
        for image in [PROVISIONER_IMAGE, HELPER_IMAGE] {
            let tag = image.rsplit_once(':').unwrap().1;
            assert!(
                tag.chars().next().unwrap().is_ascii_alphanumeric() && tag != "latest",
                "{image}"
            );
        }
        let config: Value =
            serde_json::from_str(docs[8]["data"]["config.json"].as_str().unwrap()).unwrap();
        assert_eq!(config["nodePathMap"][0]["paths"][0], VOLUME_DIR);
    }
}
