//! The Kubernetes API as this host sees it: its URL, and whether it answers.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::cluster::probe::{Kind, Probe, ProbeError};
use crate::inventory::Inventory;
use crate::plan::{Plan, Role};

/// `https://<control-plane virtual IP (libvirt) or control-plane-1 (Tart)>:6443`.
pub fn server(plan: &Plan, inventory: &Inventory) -> String {
    let address = plan
        .cluster
        .api_address
        .unwrap_or(inventory.nodes[0].address);
    format!("https://{address}:6443")
}

/// What answered at `server`, or why nothing did.
pub fn api_answers(kubeconfig: &Path, server: &str) -> Probe<String> {
    match readyz(kubeconfig, server)? {
        ApiAnswer::Readyz(body) => Ok(format!("kubectl: {server}/readyz says {body}")),
        ApiAnswer::PortOpen => Ok(format!(
            "{} accepts connections (install kubectl for a full check)",
            server.trim_start_matches("https://")
        )),
    }
}

/// How the API answered at one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAnswer {
    /// `kubectl get --raw /readyz` said this.
    Readyz(String),
    /// No kubectl on this host: the port at least accepts connections.
    PortOpen,
}

/// Asks the API at `server` (`https://ADDR:6443`) for `/readyz` with the kubeconfig's credentials.
/// `--server` overrides only the address: TLS is still verified against the kubeconfig's CA, and
/// every controller's address is in the API certificate (k0sctl adds each controller's address and
/// privateAddress to `spec.api.sans`: k0sproject/k0sctl `phase/configure_k0s.go`, Prepare).
pub fn readyz(kubeconfig: &Path, server: &str) -> Probe<ApiAnswer> {
    let kubectl = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--server")
        .arg(server)
        .args(["--request-timeout=10s", "get", "--raw", "/readyz"])
        .output();
    match kubectl {
        Ok(out) if out.status.success() => Ok(ApiAnswer::Readyz(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )),
        Ok(out) => Err(ProbeError::new(
            // No code: kubectl was ended by a signal.
            out.status.code().map_or(Kind::Output, Kind::Exit),
            crate::util::text::tail(&String::from_utf8_lossy(&out.stderr), 2),
        )),
        // No kubectl here: at least the port must answer.
        Err(_) => {
            let hostport = server.trim_start_matches("https://");
            let addr: SocketAddr = hostport.parse().map_err(|_| {
                ProbeError::new(Kind::Connect, format!("{hostport} is not an address"))
            })?;
            TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|e| {
                let kind = match e.kind() {
                    std::io::ErrorKind::TimedOut => Kind::Timeout,
                    _ => Kind::Connect,
                };
                ProbeError::new(kind, e.to_string())
            })?;
            Ok(ApiAnswer::PortOpen)
        }
    }
}

/// The `api` check from this host. Where the plan has one shared API address (one controller, or
/// the virtual IP on libvirt) that address is asked. Without one (Tart: softnet lets a VM send only
/// from its DHCP address, so no VIP can exist: cirruslabs/tart `Sources/tart/Commands/Run.swift`)
/// every controller is asked in plan order until one answers, and the answer names it. When none
/// does, the failure has the kind of the last one asked.
pub fn api_check(plan: &Plan, inventory: &Inventory, kubeconfig: &Path) -> Probe<String> {
    if !kubeconfig.exists() {
        return Err(ProbeError::new(
            Kind::Missing,
            format!("no kubeconfig at {}", kubeconfig.display()),
        ));
    }
    if plan.cluster.api_address.is_some() {
        let server = server(plan, inventory);
        return api_answers(kubeconfig, &server);
    }
    let mut missed = Vec::new();
    let mut kind = Kind::Missing;
    for controller in plan.nodes.iter().filter(|n| n.role == Role::Controller) {
        let Some(node) = inventory.node(&controller.name) else {
            missed.push(format!("{} is not in the inventory", controller.name));
            continue;
        };
        let server = format!("https://{}:6443", node.address);
        match readyz(kubeconfig, &server) {
            Ok(answer) => {
                let said = match answer {
                    ApiAnswer::Readyz(body) => format!("/readyz {body}"),
                    ApiAnswer::PortOpen => {
                        "port 6443 accepts connections (install kubectl for a full check)".into()
                    }
                };
                let mut line = format!("{} ({}): {said}", node.name, node.address);
                for m in &missed {
                    line.push_str("; ");
                    line.push_str(m);
                }
                return Ok(line);
            }
            Err(reason) => {
                tracing::debug!(node = %node.name, %reason, "API does not answer");
                missed.push(format!("{} did not answer: {reason}", node.name));
                kind = reason.kind;
            }
        }
    }
    Err(ProbeError::new(
        kind,
        if missed.is_empty() {
            "no controller in the plan".to_string()
        } else {
            missed.join("; ")
        },
    ))
}
