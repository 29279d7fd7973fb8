//! `antidoted curriculum validate|import`: check a curriculum directory, then store it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::curriculum::{self, DEFAULT_INSTANCE_ID, Loaded, Options, Tier};
use antidote_scheduler::store;

use super::db::DatabaseArgs;

/// Arguments of `antidoted curriculum`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Report every problem in a curriculum directory; exits non-zero on errors.
    Validate(CheckArgs),
    /// Validate, then store the curriculum in PostgreSQL (nothing is stored on errors).
    Import {
        #[command(flatten)]
        check: CheckArgs,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The curriculum directory (holding curriculum.meta.yaml).
    dir: PathBuf,
    /// Lowest tier to load: prod, ptr or local. Lessons below it are skipped.
    #[arg(long, default_value = "prod", value_parser = parse_tier)]
    tier: Tier,
    /// Treat warnings (unknown keys) as errors.
    #[arg(long)]
    strict: bool,
    /// This scheduler instance's id; namespaces are `<id>-<livelesson id>`, so it bounds
    /// name lengths.
    #[arg(long, default_value = DEFAULT_INSTANCE_ID)]
    instance_id: String,
    /// A resource budget size the operator defines (`backend.budgets.sizes`), which
    /// lessons may name beside the built-in ones; repeat for several.
    #[arg(long = "budget-size", value_name = "NAME")]
    budget_sizes: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_tier(text: &str) -> Result<Tier, String> {
    Tier::parse(text).ok_or_else(|| format!("expected one of {}", Tier::ALL.join(", ")))
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Validate(check) => {
            let loaded = load(&check);
            print_report(&loaded, check.json)?;
            Ok(exit_code(&loaded))
        }
        Command::Import { check, database } => {
            let loaded = load(&check);
            let Some(valid) = loaded.valid() else {
                print_report(&loaded, check.json)?;
                eprintln!("nothing imported: fix the errors first");
                return Ok(ExitCode::FAILURE);
            };
            if !check.json {
                print_report(&loaded, false)?;
            }
            let pool = database.connect_migrated().await?;
            let summary = store::curriculum::import(&pool, valid)
                .await
                .context("storing the curriculum")?;
            if check.json {
                let out = serde_json::json!({ "report": report_json(&loaded), "import": summary });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("imported: {summary}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(check: &CheckArgs) -> Loaded {
    let options = Options {
        tier: check.tier,
        strict: check.strict,
        instance_id: check.instance_id.clone(),
        budget_sizes: curriculum::BUDGET_SIZES
            .iter()
            .map(|s| (*s).to_owned())
            .chain(check.budget_sizes.iter().cloned())
            .collect(),
    };
    curriculum::load(&check.dir, &options)
}

fn exit_code(loaded: &Loaded) -> ExitCode {
    if loaded.report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn report_json(loaded: &Loaded) -> serde_json::Value {
    let report = &loaded.report;
    serde_json::json!({
        "problems": report.problems,
        "skipped": report.skipped,
        "missingImages": report.missing_images,
        "lessons": report.lessons,
        "images": report.images,
        "collections": report.collections,
        "errors": report.errors(),
        "warnings": report.warnings(),
        "summary": report.summary(),
    })
}

fn print_report(loaded: &Loaded, json: bool) -> anyhow::Result<()> {
    let report = &loaded.report;
    if json {
        println!("{}", serde_json::to_string_pretty(&report_json(loaded))?);
        return Ok(());
    }
    for problem in &report.problems {
        println!("{problem}");
    }
    for skipped in &report.skipped {
        println!(
            "{}: skipped {} `{}`: tier {} is below the configured tier [info]",
            skipped.file, skipped.kind, skipped.slug, skipped.tier
        );
    }
    if !report.missing_images.is_empty() {
        let names: Vec<&str> = report.missing_images.iter().map(String::as_str).collect();
        println!(
            "note: lessons use images that no images/**/image.meta.yaml defines: {}",
            names.join(", ")
        );
    }
    println!("{}", report.summary());
    Ok(())
}
