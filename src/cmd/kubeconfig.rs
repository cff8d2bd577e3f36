//! `kubeconfig`: print the cluster's kubeconfig or its path, or point it at another controller.

use super::{print_stdout, user_kubeconfig, Running};
use crate::adapters::kubeconfig;
use crate::adapters::vagrant::Project;
use crate::cli::KubeconfigArgs;
use crate::error::Error;
use crate::plan;
use crate::settings::{self, RawSettings};
use crate::util::files;

pub fn run(project: &Project, args: &KubeconfigArgs, env: &RawSettings) -> Result<(), Error> {
    let path = project.state_dir().join("kubeconfig");
    if let Some(node) = &args.server {
        return kubeconfig_server(project, &path, node, env);
    }
    if !path.exists() {
        return Err(Error::NoKubeconfig { path });
    }
    if args.path {
        return print_stdout(&format!("{}\n", path.display()));
    }
    let text = files::read(&path)?;
    print_stdout(&text)
}

/// `kubeconfig --server NODE`: points the cluster's kubeconfig, and the context the deploy merged
/// into the user's, at one controller. Without a shared API address (Tart) this is how the user
/// moves off a lost control-plane-1; the new address is in the API certificate (k0sctl adds every
/// controller's addresses to the SANs: k0sproject/k0sctl `phase/configure_k0s.go`).
fn kubeconfig_server(
    project: &Project,
    path: &std::path::Path,
    node: &str,
    env: &RawSettings,
) -> Result<(), Error> {
    // Checked first, like every setting: a bad value changes nothing.
    let merge = settings::kubeconfig_merge(env)?;
    let running = Running::load(project)?;
    let controllers = running.plan.names(plan::Role::Controller);
    let refuse = |why: &'static str| kubeconfig::KubeconfigError::NotAController {
        node: node.to_string(),
        why,
        controllers: controllers.join(", "),
    };
    match running.plan.node(node) {
        None => return Err(refuse("is not a node of this cluster").into()),
        Some(n) if n.role != plan::Role::Controller => {
            return Err(refuse("is a worker, and the API runs on the controllers").into())
        }
        Some(_) => {}
    }
    let address = running
        .inventory
        .node(node)
        .ok_or_else(|| refuse("is not in the inventory yet (run `vagrant up`)"))?
        .address;
    if !path.exists() {
        return Err(Error::NoKubeconfig {
            path: path.to_path_buf(),
        });
    }
    let server = format!("https://{address}:6443");
    let name = running.plan.context_name();
    let text = files::read(path)?;
    let (ours, old) = kubeconfig::set_server(path, &text, &name, &server)?;
    let mut out = String::new();
    if old.as_deref() == Some(server.as_str()) {
        out.push_str(&format!(
            "{}: server is already {server} ({node})\n",
            path.display()
        ));
    } else {
        files::write_atomic(path, ours.as_bytes(), Some(0o600))?;
        out.push_str(&format!(
            "{}: server {} -> {server} ({node})\n",
            path.display(),
            old.as_deref().unwrap_or("(none)")
        ));
    }
    match (merge, user_kubeconfig(env)) {
        (false, _) => {
            out.push_str("not merged into your kubeconfig (K0S_KUBECONFIG_MERGE=false)\n")
        }
        (true, None) => out.push_str("not merged: neither KUBECONFIG nor HOME is set\n"),
        (true, Some(target)) => {
            let record = project.state_dir().join("kubeconfig-merged");
            match kubeconfig::merge_recorded(&record, &target, &ours, &name)? {
                kubeconfig::Merged::Unchanged => out.push_str(&format!(
                    "{}: context {name} already points at {server}\n",
                    target.display()
                )),
                kubeconfig::Merged::Written { backup } => out.push_str(&format!(
                    "{}: context {name} now points at {server}{}\n",
                    target.display(),
                    backup
                        .map(|b| format!(" (backup {})", b.display()))
                        .unwrap_or_default()
                )),
            }
        }
    }
    // Say whether it answers; a controller that is down now may be the one being brought back.
    match crate::cluster::api::api_answers(path, &server) {
        Ok(said) => out.push_str(&format!("{node} answers: {said}\n")),
        Err(reason) => out.push_str(&format!(
            "warning: {node} does not answer now ({reason}); `k0s-vagrant health` shows which controller does\n"
        )),
    }
    print_stdout(&out)
}
