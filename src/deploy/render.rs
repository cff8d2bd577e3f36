//! render: k0sctl.yaml from the plan and the inventory, checked by our validator, written atomically.

use super::{Ctx, Phase, PhaseName};
use std::path::Path;

use crate::error::Error;
use crate::inventory::Inventory;
use crate::plan::Plan;
use crate::render::RenderContext;
use crate::util::digest::sha256_file;
use crate::util::files::write_atomic;

pub struct Render;

/// k0sctl.yaml for the plan and the inventory, checked by our validator, after writing the add-on
/// manifests it uploads (each only when its content changed). It ends with the SHA-256 of every
/// file it uploads, so a changed file behind an unchanged path changes k0sctl.yaml too, and
/// `apply` runs instead of being skipped (k0sctl uploads only files that changed,
/// `phase/upload_files.go`).
pub(crate) fn rendered(
    plan: &Plan,
    inventory: &Inventory,
    state_dir: &Path,
) -> Result<String, Error> {
    let data_dir = state_dir.parent().unwrap_or(state_dir);
    let uploads = super::artifacts::recorded(state_dir, plan);
    let context =
        RenderContext::new(plan, Some(inventory), data_dir)?.with_uploads(uploads.as_ref());
    // The validator checks that every uploaded file is there.
    for (path, content) in &context.stack_files {
        if std::fs::read_to_string(path).ok().as_deref() != Some(content.as_str()) {
            write_atomic(path, content.as_bytes(), None)?;
        }
    }
    let yaml = context.render()?;
    crate::validate::validate(&yaml)?;
    let digests = upload_digests(&yaml)?;
    Ok(yaml + &digests)
}

/// One comment line per uploaded file (`files[].src`, `k0sBinaryPath`): its SHA-256 and path.
fn upload_digests(yaml: &str) -> Result<String, Error> {
    let config: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap_or_default();
    let mut sources = std::collections::BTreeSet::new();
    for host in config["spec"]["hosts"].as_sequence().into_iter().flatten() {
        sources.extend(host["k0sBinaryPath"].as_str());
        for file in host["files"].as_sequence().into_iter().flatten() {
            sources.extend(file["src"].as_str());
        }
    }
    let mut lines = String::new();
    for src in sources {
        let digest = sha256_file(Path::new(src))?;
        lines.push_str(&format!("# upload sha256:{digest} {src}\n"));
    }
    Ok(lines)
}

/// Writes k0sctl.yaml again after a change the cluster already has (a recorded version, a node
/// taken out). When the last successful apply used the file it replaces, the new one counts as
/// applied too, so the next deploy skips apply.
pub(crate) fn rewrite_as_applied(
    plan: &Plan,
    inventory: &Inventory,
    state_dir: &Path,
) -> Result<(), Error> {
    let config = super::config_path(state_dir);
    let applied = super::applied_path(state_dir);
    let was_applied = std::fs::read(&config).ok() == std::fs::read(&applied).ok();
    let yaml = rendered(plan, inventory, state_dir)?;
    write_atomic(&config, yaml.as_bytes(), None)?;
    if was_applied {
        write_atomic(&applied, yaml.as_bytes(), None)?;
    }
    Ok(())
}

impl Phase for Render {
    fn name(&self) -> PhaseName {
        PhaseName::Render
    }

    fn title(&self) -> &'static str {
        "Render k0sctl.yaml"
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let yaml = rendered(&cx.plan, &cx.inventory, &cx.state_dir)?;
        let path = cx.config_path();
        if std::fs::read_to_string(&path).ok().as_deref() != Some(yaml.as_str()) {
            cx.act(format!("write {}", path.display()), |_| {
                Ok(write_atomic(&path, yaml.as_bytes(), None)?)
            })?;
        }
        eprintln!(
            "    {} ({} hosts, validated)",
            path.display(),
            cx.plan.nodes.len()
        );
        Ok(())
    }
}
