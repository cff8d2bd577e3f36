//! api: check from the host that the API answers with the exported kubeconfig (kubectl when it is
//! installed, else a TCP connect to the API port).

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use super::{Ctx, Phase, PhaseName};
use crate::error::{ClusterError, Error};

pub struct ApiCheck;

impl Phase for ApiCheck {
    fn name(&self) -> PhaseName {
        PhaseName::Api
    }

    fn title(&self) -> &'static str {
        "Check the API from this host"
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let server = super::kubeconfig::server(cx);
        let kubeconfig = cx.kubeconfig_path();
        let kubectl = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--request-timeout=20s", "get", "--raw", "/readyz"])
            .output();
        match kubectl {
            Ok(out) if out.status.success() => {
                eprintln!(
                    "    kubectl: {server}/readyz says {}",
                    String::from_utf8_lossy(&out.stdout).trim()
                );
                Ok(())
            }
            Ok(out) => Err(ClusterError::ApiUnreachable {
                server,
                reason: crate::ssh::tail(&String::from_utf8_lossy(&out.stderr), 2),
            }
            .into()),
            // No kubectl here: at least the port must answer.
            Err(_) => {
                let hostport = server.trim_start_matches("https://");
                let addr: SocketAddr =
                    hostport.parse().map_err(|_| ClusterError::ApiUnreachable {
                        server: server.clone(),
                        reason: "not an address".into(),
                    })?;
                TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|e| {
                    ClusterError::ApiUnreachable {
                        server: server.clone(),
                        reason: e.to_string(),
                    }
                })?;
                eprintln!("    {hostport} accepts connections (install kubectl for a full check)");
                Ok(())
            }
        }
    }
}
