//! kubeconfig: the admin kubeconfig from k0sctl, pointed at the API address, written to
//! `.vagrant/k0s/kubeconfig` (0600) and merged into the user's kubeconfig as `k0s-<cluster>`.

use super::{Ctx, Phase, PhaseName};
use crate::adapters::k0sctl::K0sctl;
use crate::adapters::kubeconfig::{self, Merged};
use crate::error::Error;
use crate::util::files::write_atomic;

pub struct Kubeconfig;

impl Phase for Kubeconfig {
    fn name(&self) -> PhaseName {
        PhaseName::Kubeconfig
    }

    fn title(&self) -> &'static str {
        "Export the kubeconfig"
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let k0sctl = match cx.k0sctl.clone() {
            Some(k) => k,
            None => K0sctl::locate(&cx.k0sctl_search)?,
        };
        let name = cx.plan.context_name();
        let server = crate::cluster::api::server(&cx.plan, &cx.inventory);
        let raw = k0sctl.kubeconfig(&cx.config_path(), &server)?;
        let ours = kubeconfig::standalone(&raw, &name, &server)?;
        let path = cx.kubeconfig_path();
        if std::fs::read_to_string(&path).ok().as_deref() != Some(ours.as_str()) {
            cx.act(format!("write {}", path.display()), |_| {
                write_atomic(&path, ours.as_bytes(), Some(0o600)).map_err(|source| Error::State {
                    path: path.clone(),
                    source,
                })
            })?;
        }
        eprintln!("    {} (server {server}, context {name})", path.display());
        if !cx.merge_kubeconfig {
            eprintln!("    not merged into your kubeconfig (K0S_KUBECONFIG_MERGE=false)");
            return Ok(());
        }
        let Some(target) = cx.user_kubeconfig.clone() else {
            eprintln!("    not merged: neither KUBECONFIG nor HOME is set");
            return Ok(());
        };
        // Remember where we merged, so `vagrant destroy` removes exactly this.
        let record = cx.state_dir.join("kubeconfig-merged");
        match kubeconfig::merge_recorded(&record, &target, &ours, &name)? {
            Merged::Unchanged => eprintln!("    {} already has context {name}", target.display()),
            Merged::Written { backup } => {
                let what = format!("merge context {name} into {}", target.display());
                cx.changes.push(what.clone());
                eprintln!(
                    "    {what}{}",
                    backup
                        .map(|b| format!(" (backup {})", b.display()))
                        .unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}
