//! `antidoted jobs list|show|retry|cancel`: the job queue for operators, straight from SQL.

use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::ids::LivelessonId;
use antidote_scheduler::queue::inspect::{self as store, JobFilter, JobRecord};
use antidote_scheduler::queue::{CancelOutcome, Client, JobId, JobState};
use antidote_scheduler::workflow::serial_key;

use super::db::DatabaseArgs;

/// Arguments of `antidoted jobs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List jobs, newest first.
    List {
        /// Only this state: scheduled, available, running, retryable, completed, failed,
        /// cancelled.
        #[arg(long)]
        state: Option<JobState>,
        /// Only this kind, e.g. livelesson.create.
        #[arg(long)]
        kind: Option<String>,
        /// Only the jobs of this livelesson.
        #[arg(long)]
        livelesson: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one job with its steps and audit events.
    Show {
        /// Job id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a failed or cancelled job back to run with a fresh attempt budget.
    Retry {
        /// Job id.
        id: i64,
    },
    /// Cancel a job: at once when waiting, at its next step boundary when running.
    Cancel {
        /// Job id.
        id: i64,
    },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pool = args.database.connect_creating().await?;
    match args.command {
        Command::List {
            state,
            kind,
            livelesson,
            limit,
            json,
        } => {
            let filter = JobFilter {
                state,
                kind,
                serial_key: livelesson.map(|id| serial_key(&LivelessonId::from(id))),
                limit: limit.max(1),
            };
            let jobs = store::list_jobs(&pool, &filter)
                .await
                .context("listing jobs")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
            } else {
                print_table(&jobs);
            }
        }
        Command::Show { id, json } => {
            let id = JobId(id);
            let Some(job) = store::job(&pool, id).await.context("reading the job")? else {
                eprintln!("no job {id}");
                return Ok(ExitCode::FAILURE);
            };
            let steps = store::steps(&pool, id).await.context("reading steps")?;
            let events = store::events(&pool, id).await.context("reading events")?;
            if json {
                let out = serde_json::json!({ "job": job, "steps": steps, "events": events });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_table(std::slice::from_ref(&job));
                if let Some(error) = &job.last_error {
                    println!("\nlast error: {error}");
                }
                println!("\nargs: {}", job.args);
                println!("\nsteps:");
                for step in &steps {
                    println!(
                        "  {:<28} attempt {:<3} {:<24} {}",
                        step.name,
                        step.attempt,
                        step.worker,
                        step.completed_at.format("%H:%M:%S%.3f")
                    );
                }
                println!("\nevents:");
                for event in &events {
                    println!(
                        "  {} {:<18} attempt {:<4} {} {} {}",
                        event.at.format("%H:%M:%S%.3f"),
                        event.kind,
                        event.attempt.map(|a| a.to_string()).unwrap_or_default(),
                        event.worker.as_deref().unwrap_or(""),
                        event.step.as_deref().unwrap_or(""),
                        event.detail.as_deref().unwrap_or("")
                    );
                }
            }
        }
        Command::Retry { id } => {
            Client::new(pool.clone())
                .retry(JobId(id))
                .await
                .with_context(|| format!("retrying job {id}"))?;
            println!("job {id} is available again");
        }
        Command::Cancel { id } => {
            match Client::new(pool.clone())
                .cancel(JobId(id))
                .await
                .with_context(|| format!("cancelling job {id}"))?
            {
                CancelOutcome::Cancelled => println!("job {id} cancelled"),
                CancelOutcome::Requested => {
                    println!("job {id} is running: it stops at its next step boundary");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(jobs: &[JobRecord]) {
    println!(
        "{:>8}  {:<20} {:<10} {:>7}  {:<22} {:<19}  ERROR",
        "ID", "KIND", "STATE", "ATTEMPT", "SERIAL KEY", "CREATED"
    );
    for job in jobs {
        let error = job
            .last_error
            .as_deref()
            .map(|e| {
                e.lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(60)
                    .collect::<String>()
            })
            .unwrap_or_default();
        println!(
            "{:>8}  {:<20} {:<10} {:>3}/{:<3}  {:<22} {:<19}  {}",
            job.id.0,
            job.kind,
            job.state.as_str(),
            job.attempt,
            job.max_attempts,
            job.serial_key.as_deref().unwrap_or("-"),
            job.created_at.format("%Y-%m-%d %H:%M:%S"),
            error
        );
    }
}
