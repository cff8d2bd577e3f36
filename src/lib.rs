//! k0s-vagrant: every decision behind the project's Vagrantfile. The flow follows DESIGN.md:
//! settings -> plan -> (lock) -> inventory -> render -> apply -> taints -> kubeconfig -> health.

pub mod cli;
pub mod error;
pub mod lock;
pub mod plan;
pub mod settings;
pub mod state;
pub mod vagrant;

use std::io::Write;

pub use error::Error;

use cli::{Cli, Command, PlanArgs, PlanFormat};
use plan::{HostFacts, Plan};
use settings::{HostResources, RawSettings, Settings};
use vagrant::{Invocation, Project};

/// Runs one command.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Plan(args) => plan(&project(cli.project_dir), &args),
        Command::Version => print_stdout(&format!("k0s-vagrant {}\n", env!("CARGO_PKG_VERSION"))),
    }
}

fn project(dir: Option<std::path::PathBuf>) -> Project {
    let dotfile = std::env::var("VAGRANT_DOTFILE_PATH").ok();
    match dir {
        Some(dir) => Project::new(dir, dotfile.as_deref()),
        None => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
            Project::discover(&cwd, dotfile.as_deref())
        }
    }
}

fn plan(project: &Project, args: &PlanArgs) -> Result<(), Error> {
    let invocation = Invocation::parse(&args.vagrant_args);
    let settings = Settings::from_raw(&RawSettings::from_env());
    let wanted = settings.clone().map_err(Error::from).and_then(|settings| {
        let provider = match args.provider {
            Some(p) => p,
            None => vagrant::resolve_provider(
                &invocation,
                std::env::var("VAGRANT_DEFAULT_PROVIDER").ok().as_deref(),
            )?,
        };
        Ok(Plan::from_settings(
            &settings,
            provider,
            HostFacts::detect(),
        ))
    });
    let resolved = lock::resolve(project, invocation.creates_machines(), wanted)?;
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

fn print_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A closed pipe (`| head`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|source| Error::Output {
            what: "standard output",
            source,
        }),
    }
}
