//! `render`: k0sctl.yaml to stdout or a file, from the inventory once machines exist.

use super::{current_plan, print_stdout};
use crate::adapters::vagrant::Project;
use crate::cli::RenderArgs;
use crate::error::Error;
use crate::inventory::{self, Inventory};
use crate::settings::RawSettings;
use crate::util::files;
use crate::{render, validate};

pub fn run(project: &Project, args: &RenderArgs, env: &RawSettings) -> Result<(), Error> {
    let plan = current_plan(project, env)?;
    let inventory = match Inventory::read(&project.state_dir()) {
        Ok(inv) => Some(inv),
        Err(inventory::InventoryError::Missing { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    // What the deploy would upload: the cached artifacts its artifacts phase recorded.
    let uploads = crate::deploy::artifacts::recorded(&project.state_dir(), &plan);
    let yaml = render::RenderContext::new(&plan, inventory.as_ref(), &project.data_dir)?
        .with_uploads(uploads.as_ref())
        .render()?;
    if inventory.is_some() {
        validate::validate(&yaml)?;
    }
    match &args.output {
        Some(path) => files::write_atomic(path, yaml.as_bytes(), None).map_err(Error::from),
        None => print_stdout(&yaml),
    }
}
