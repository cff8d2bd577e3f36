//! The `k0s-vagrant` binary: parse arguments, start logging, run, map the error to one line
//! and an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = k0s_vagrant::cli::Cli::parse();
    init_tracing(cli.verbose);
    match k0s_vagrant::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("k0s-vagrant: {err}");
            // The causes only with -v: the first line is meant to be enough.
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                tracing::debug!("caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(err.exit_code())
        }
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    // RUST_LOG is read by the filter itself; the settings table lists it for --help and README.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("k0s_vagrant={level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
}
