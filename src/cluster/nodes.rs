//! Node objects (`kubectl get nodes -o json`) and the taint and label changes that make them
//! match the plan.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::plan::{Plan, Role};

pub const CONTROL_PLANE_TAINT: &str = "node-role.kubernetes.io/control-plane";
/// The key k0s used before v1.33.1; nodes registered then still carry it.
pub const MASTER_TAINT: &str = "node-role.kubernetes.io/master";
pub const WORKER_LABEL: &str = "node-role.kubernetes.io/worker";

/// `kubectl get nodes -o json`, the fields we read.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeList {
    pub items: Vec<Node>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: NodeSpec,
    #[serde(default)]
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeSpec {
    #[serde(default)]
    pub taints: Vec<Taint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
}

impl Node {
    /// `Ready` with its reason when not ready (`KubeletNotReady`, or `no Ready condition`).
    pub fn readiness(&self) -> Result<(), String> {
        match self.status.conditions.iter().find(|c| c.kind == "Ready") {
            Some(c) if c.status == "True" => Ok(()),
            Some(c) => Err(c
                .reason
                .clone()
                .unwrap_or_else(|| format!("Ready={}", c.status))),
            None => Err("no Ready condition".to_string()),
        }
    }

    /// Whether a plain pod (no tolerations) may be scheduled here.
    pub fn takes_workloads(&self) -> bool {
        !self
            .spec
            .taints
            .iter()
            .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the node list is not Kubernetes JSON ({0})")]
pub struct ParseError(String);

pub fn parse_nodes(json: &str) -> Result<NodeList, ParseError> {
    serde_json::from_str(json).map_err(|e| ParseError(e.to_string()))
}

/// One change to a Node object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    AddTaint {
        node: String,
        key: &'static str,
    },
    RemoveTaint {
        node: String,
        key: String,
        effect: String,
        why: &'static str,
    },
    Label {
        node: String,
        key: &'static str,
    },
}

impl Change {
    /// The `kubectl` arguments that make the change.
    pub fn kubectl_args(&self) -> String {
        match self {
            Change::AddTaint { node, key } => {
                format!("taint nodes {node} {key}:NoSchedule --overwrite")
            }
            Change::RemoveTaint {
                node, key, effect, ..
            } => {
                format!("taint nodes {node} {key}:{effect}-")
            }
            Change::Label { node, key } => format!("label nodes {node} {key}= --overwrite"),
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::AddTaint { node, key } => {
                write!(f, "{node}: taint {key}:NoSchedule (keeps workloads off)")
            }
            Change::RemoveTaint {
                node,
                key,
                effect,
                why,
            } => {
                write!(f, "{node}: remove taint {key}:{effect} ({why})")
            }
            Change::Label { node, key } => write!(f, "{node}: label {key}"),
        }
    }
}

/// The changes that make the Node objects match the plan: controllers that do not run workloads
/// carry the control-plane taint, every other node carries neither control-plane key, and workers
/// carry the worker role label. Nodes the plan does not name are left alone.
pub fn reconcile(plan: &Plan, nodes: &NodeList) -> Vec<Change> {
    let mut changes = Vec::new();
    for planned in &plan.nodes {
        let Some(node) = nodes.items.iter().find(|n| n.metadata.name == planned.name) else {
            continue;
        };
        let keep_off = planned.role == Role::Controller && !planned.runs_workloads;
        let has = |key: &str| {
            node.spec
                .taints
                .iter()
                .any(|t| t.key == key && t.effect == "NoSchedule")
        };
        if keep_off && !has(CONTROL_PLANE_TAINT) {
            changes.push(Change::AddTaint {
                node: planned.name.clone(),
                key: CONTROL_PLANE_TAINT,
            });
        }
        for taint in &node.spec.taints {
            let role_key = taint.key == CONTROL_PLANE_TAINT || taint.key == MASTER_TAINT;
            // The old key goes everywhere: the control-plane key replaces it.
            if role_key && (!keep_off || taint.key == MASTER_TAINT) {
                changes.push(Change::RemoveTaint {
                    node: planned.name.clone(),
                    key: taint.key.clone(),
                    effect: taint.effect.clone(),
                    why: if keep_off {
                        "old key; the control-plane key replaces it"
                    } else {
                        "runs workloads"
                    },
                });
            }
        }
        if planned.role == Role::Worker && !node.metadata.labels.contains_key(WORKER_LABEL) {
            changes.push(Change::Label {
                node: planned.name.clone(),
                key: WORKER_LABEL,
            });
        }
    }
    changes
}
