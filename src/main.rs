//! `antidoted`: the single binary of antidote-scheduler. Parsing lives in [`cli`].

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
