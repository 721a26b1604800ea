//! The command line: parses arguments, builds the configuration, and calls into
//! the library. No logic of its own: the command-line types are in `cli.rs`,
//! what each command calls in `dispatch.rs`, and the exit code is the
//! [`Failure`]'s (see `palisade::failure`).

mod cli;
mod dispatch;

use clap::Parser;
use palisade::failure::Failure;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match dispatch::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            match &failure {
                Failure::Refused(lines) => lines.iter().for_each(|l| eprintln!("{l}")),
                Failure::Failed(e) => eprintln!("palisade: {e:#}"),
            }
            ExitCode::from(failure.exit_code())
        }
    }
}
