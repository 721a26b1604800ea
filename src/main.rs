//! The command line: parses arguments, builds the configuration, and calls into
//! the library. No logic of its own: the command-line types are in `cli.rs`,
//! what each command calls in `dispatch.rs`.

mod cli;
mod commands;
mod dispatch;

use clap::Parser;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match dispatch::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("palisade: {e:#}");
            ExitCode::FAILURE
        }
    }
}
