//! api: check from the host that the API answers with the exported kubeconfig (kubectl when it is
//! installed, else a TCP connect to the API port).

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{Ctx, Phase, PhaseName};
use crate::error::{ClusterError, Error};

pub struct ApiCheck;

/// What answered, or why nothing did.
pub fn api_answers(kubeconfig: &Path, server: &str) -> Result<String, String> {
    let kubectl = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--request-timeout=10s", "get", "--raw", "/readyz"])
        .output();
    match kubectl {
        Ok(out) if out.status.success() => Ok(format!(
            "kubectl: {server}/readyz says {}",
            String::from_utf8_lossy(&out.stdout).trim()
        )),
        Ok(out) => Err(crate::ssh::tail(&String::from_utf8_lossy(&out.stderr), 2)),
        // No kubectl here: at least the port must answer.
        Err(_) => {
            let hostport = server.trim_start_matches("https://");
            let addr: SocketAddr = hostport
                .parse()
                .map_err(|_| format!("{hostport} is not an address"))?;
            TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "{hostport} accepts connections (install kubectl for a full check)"
            ))
        }
    }
}

impl Phase for ApiCheck {
    fn name(&self) -> PhaseName {
        PhaseName::Api
    }

    fn title(&self) -> &'static str {
        "Check the API from this host"
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let server = super::kubeconfig::server(&cx.plan, &cx.inventory);
        let said = api_answers(&cx.kubeconfig_path(), &server).map_err(|reason| {
            ClusterError::ApiUnreachable {
                server: server.clone(),
                reason,
            }
        })?;
        eprintln!("    {said}");
        Ok(())
    }
}
