//! `antidoted version`: crate version and, when the build provided it, the git commit.

use std::process::ExitCode;

/// The version line.
pub fn line() -> String {
    match option_env!("ANTIDOTE_GIT_SHA").or(option_env!("GIT_SHA")) {
        Some(sha) => format!("antidoted {} ({sha})", env!("CARGO_PKG_VERSION")),
        None => format!("antidoted {}", env!("CARGO_PKG_VERSION")),
    }
}

pub fn run() -> anyhow::Result<ExitCode> {
    println!("{}", line());
    Ok(ExitCode::SUCCESS)
}
