//! render: k0sctl.yaml from the plan and the inventory, checked by our validator, written atomically.

use super::{Ctx, Phase, PhaseName};
use crate::error::Error;
use crate::render::RenderContext;
use crate::util::files::write_atomic;

pub struct Render;

/// k0sctl.yaml for the plan and the inventory, checked by our validator.
pub(super) fn rendered(cx: &Ctx) -> Result<String, Error> {
    let data_dir = cx.state_dir.parent().unwrap_or(&cx.state_dir);
    let yaml = RenderContext::new(&cx.plan, Some(&cx.inventory), data_dir)?.render()?;
    crate::validate::validate(&yaml)?;
    Ok(yaml)
}

impl Phase for Render {
    fn name(&self) -> PhaseName {
        PhaseName::Render
    }

    fn title(&self) -> &'static str {
        "Render k0sctl.yaml"
    }

    fn run(&self, cx: &mut Ctx) -> Result<(), Error> {
        let yaml = rendered(cx)?;
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
