//! `antidoted config print`: the effective configuration (file, environment, defaults) as
//! YAML, secrets redacted; and the `--config` argument shared by commands that need it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::config::{Config, ENV_OVERRIDES};

/// Where the configuration comes from.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// YAML configuration file; `ANTIDOTE_*` environment variables override it.
    #[arg(long = "config", env = "ANTIDOTE_CONFIG", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

impl ConfigArgs {
    /// Loads and validates the configuration.
    pub fn load(&self) -> anyhow::Result<Config> {
        Config::from_env(self.path.as_deref()).context("invalid configuration")
    }
}

/// Arguments of `antidoted config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the effective configuration as YAML, secrets redacted.
    Print(ConfigArgs),
    /// List the environment variables that override the file, and the keys they set.
    Env,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Print(config) => {
            let config = config.load()?;
            print!("{}", config.to_redacted_yaml()?);
        }
        Command::Env => {
            for (var, key, _) in ENV_OVERRIDES {
                println!("{var:<42} {key}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
