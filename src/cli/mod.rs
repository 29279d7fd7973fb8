//! Command-line interface: one file per subcommand, parsed with clap.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api;
#[cfg(feature = "bench")]
mod bench;
mod config;
mod curriculum;
mod db;
#[cfg(feature = "demo")]
mod demo;
mod halves;
mod jobs;
mod logging;
mod migrate;
mod serve;
mod version;
mod worker;

/// Durable scheduler for Antidote-style network automation labs.
#[derive(Debug, Parser)]
#[command(name = "antidoted", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything on this machine: PostgreSQL, an embedded simulated Kubernetes, the
    /// example curriculum, the API and workers, and a front end requesting every lesson.
    #[cfg(feature = "demo")]
    Demo(demo::Args),
    /// Apply the database migrations embedded in this binary.
    Migrate(migrate::Args),
    /// Run a benchmark and print its figures (last line: JSON).
    #[cfg(feature = "bench")]
    Bench(bench::Args),
    /// Validate or import a curriculum directory.
    Curriculum(curriculum::Args),
    /// Run the API and the job workers in one process (stops on SIGINT/SIGTERM).
    Serve(serve::Args),
    /// Run job workers only: livelesson workflows on the Kubernetes backend.
    Worker(worker::Args),
    /// Serve the HTTP API only (no workers): the `/exp` API, `/v1` admin API and probes.
    Api(api::Args),
    /// Inspect and operate the job queue: list, show, retry, cancel.
    Jobs(jobs::Args),
    /// Show the effective configuration (`config print`) or its environment overrides.
    Config(config::Args),
    /// Print the version (and git commit when built with one).
    Version,
}

/// Parses the command line, runs the subcommand and maps its outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            #[cfg(feature = "demo")]
            Command::Demo(args) => demo::run(args).await,
            Command::Migrate(args) => migrate::run(args).await,
            #[cfg(feature = "bench")]
            Command::Bench(args) => bench::run(args).await,
            Command::Curriculum(args) => curriculum::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Worker(args) => worker::run(args).await,
            Command::Api(args) => api::run(args).await,
            Command::Jobs(args) => jobs::run(args).await,
            Command::Config(args) => config::run(args),
            Command::Version => version::run(),
        }
    });
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
