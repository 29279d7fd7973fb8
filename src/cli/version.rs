//! `antidoted version`: crate version and, when the build provided it, the git commit.

use std::process::ExitCode;

/// The version line.
pub fn line() -> String {
    match antidote_scheduler::api::antidoteinfo::build_sha() {
        Some(sha) => format!("antidoted {} ({sha})", env!("CARGO_PKG_VERSION")),
        None => format!("antidoted {}", env!("CARGO_PKG_VERSION")),
    }
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "every subcommand's `run` has this signature"
)]
pub fn run() -> anyhow::Result<ExitCode> {
    println!("{}", line());
    Ok(ExitCode::SUCCESS)
}
