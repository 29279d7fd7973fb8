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

/// Applies the `pools` and `capacity` settings of `config` to the database, then again
/// from the file each time the process gets SIGHUP (an invalid file is reported and
/// changes nothing), until the process ends.
///
/// # Errors
/// The first application's failure.
pub async fn apply_pool_settings(
    args: &ConfigArgs,
    config: &Config,
    client: &antidote_scheduler::queue::Client,
) -> anyhow::Result<()> {
    use antidote_scheduler::pool::apply_settings;
    apply_settings(client, &config.pools, &config.capacity)
        .await
        .context("storing the pools and capacity settings")?;
    #[cfg(unix)]
    {
        let args = args.clone();
        let client = client.clone();
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("listening for SIGHUP")?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                match args.load() {
                    Ok(config) => {
                        match apply_settings(&client, &config.pools, &config.capacity).await {
                            Ok(()) => tracing::info!(
                                pools = ?config.pools,
                                capacity = ?config.capacity,
                                "pools and capacity settings reloaded"
                            ),
                            Err(err) => {
                                tracing::warn!(error = %antidote_scheduler::queue::error::chain(&err), "pools and capacity settings not stored");
                            }
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = format!("{err:#}"), "configuration not reloaded");
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = args;
    Ok(())
}
