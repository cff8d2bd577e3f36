//! k0s-vagrant: every decision behind the project's Vagrantfile. The flow:
//! settings -> plan -> (lock) -> inventory -> render -> apply -> taints -> kubeconfig -> health.
//!
//! The top-level modules are that pipeline, pure and in flow order; the folders hold the
//! commands (`cmd`), the deploy phases (`deploy`), the running cluster (`cluster`), the outside
//! tools and files the helper talks to (`adapters`) and small shared tools (`util`).

pub mod cli;
pub mod error;

// The pipeline: what the cluster should be, and its k0sctl.yaml.
pub mod addons;
pub mod host;
pub mod inventory;
pub mod lock;
pub mod plan;
pub mod render;
pub mod settings;
pub mod validate;

pub mod adapters;
pub mod cache;
pub mod cluster;
pub mod cmd;
pub mod deploy;
pub mod images;
pub mod lifecycle;
pub mod util;

pub use error::Error;

use cli::{Cli, Command};

/// Runs one command. The environment is read once, here; each command checks only the variables
/// it uses.
pub fn run(cli: Cli) -> Result<(), Error> {
    let env = settings::RawSettings::from_env();
    let project = cmd::project(cli.project_dir, &env);
    match cli.command {
        Command::Plan(args) => cmd::plan::run(&project, &args, &env, cli.offline),
        Command::Render(args) => cmd::render::run(&project, &args, &env),
        Command::Deploy(args) => cmd::deploy::run(&project, &args, &env, cli.offline),
        Command::Kubeconfig(args) => cmd::kubeconfig::run(&project, &args, &env),
        Command::Status(args) => cmd::status::run(&project, &args),
        Command::Health(args) => cmd::health::run(&project, &args),
        Command::Drill(args) => cmd::drill::run(&project, &args),
        Command::Remove(args) => cmd::remove::run(&project, &args),
        Command::Stop(args) => cmd::stop::run(&project, &args),
        Command::Cleanup => cmd::cleanup::run(&project),
        Command::Load(args) => cmd::load::run(&project, &args, &env),
        Command::Cache(args) => cmd::cache::run(&project, &args, &env, cli.offline),
        Command::Version => {
            cmd::print_stdout(&format!("k0s-vagrant {}\n", env!("CARGO_PKG_VERSION")))
        }
    }
}
