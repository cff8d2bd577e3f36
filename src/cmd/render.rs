//! `render`: k0sctl.yaml to stdout or a file, from the inventory once machines exist.

use super::{current_plan, print_stdout};
use crate::adapters::vagrant::Project;
use crate::cli::RenderArgs;
use crate::error::Error;
use crate::inventory::{self, Inventory};
use crate::render;
use crate::settings::RawSettings;
use crate::util::files;

pub fn run(project: &Project, args: &RenderArgs, env: &RawSettings) -> Result<(), Error> {
    let plan = current_plan(project, env)?;
    let inventory = match Inventory::read(&project.state_dir()) {
        Ok(inv) => Some(inv),
        Err(inventory::InventoryError::Missing { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let yaml = match &inventory {
        // What the deploy writes: with the add-on files it uploads and their digests.
        Some(inventory) => crate::deploy::render::rendered(&plan, inventory, &project.state_dir())?,
        // A preview: the cached artifacts the artifacts phase recorded, nothing written.
        None => {
            let uploads = crate::deploy::artifacts::recorded(&project.state_dir(), &plan);
            render::RenderContext::new(&plan, None, &project.data_dir)?
                .with_uploads(uploads.as_ref())
                .render()?
        }
    };
    match &args.output {
        Some(path) => files::write_atomic(path, yaml.as_bytes(), None).map_err(Error::from),
        None => print_stdout(&yaml),
    }
}
