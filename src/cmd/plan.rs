//! `plan`: the node plan for the Vagrantfile (JSON) or for people (table); on `vagrant up` also
//! the host checks and the plan lock.

use super::{print_stdout, wanted_plan};
use crate::adapters::vagrant::{Invocation, Project};
use crate::cli::{PlanArgs, PlanFormat};
use crate::error::Error;
use crate::host::{self, HostFacts};
use crate::settings::{HostResources, RawSettings, Settings};
use crate::{lock, plan};

pub fn run(project: &Project, args: &PlanArgs) -> Result<(), Error> {
    let invocation = Invocation::parse(&args.vagrant_args);
    let settings = Settings::from_raw(&RawSettings::from_env());
    let vagrant_version = args
        .vagrant_version
        .as_deref()
        .and_then(crate::util::version::vagrant);
    let host = HostFacts::detect(vagrant_version);
    let wanted = wanted_plan(&invocation, args.provider, &host);
    // What `vagrant up` needs from this host, before any machine exists.
    if invocation.creates_machines() {
        if let Ok(wanted) = &wanted {
            host::check_for_up(wanted, &host)?;
        }
    }
    let mut resolved = lock::resolve(project, invocation.creates_machines(), wanted)?;
    let libvirt = &mut resolved.plan.providers.libvirt;
    libvirt.box_architecture = plan::box_architecture(&libvirt.r#box, &host);
    // Warnings about the settings matter when they shape machines: on `up` or when asked directly.
    if !resolved.from_lock && (invocation.command.is_none() || invocation.creates_machines()) {
        if let Ok(settings) = &settings {
            for warning in settings.warnings(&HostResources::detect()) {
                eprintln!("k0s-vagrant: warning: {warning}");
            }
        }
    }
    for note in &resolved.notes {
        eprintln!("k0s-vagrant: {note}");
    }
    match args.format {
        PlanFormat::Json => print_stdout(&(resolved.plan.to_json() + "\n")),
        PlanFormat::Table => print_stdout(&resolved.plan.to_table()),
    }
}
