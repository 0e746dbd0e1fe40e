//! The `xarch` command line: argument parsing and wiring only. Every
//! subcommand's work lives in a library crate; `cmd/*.rs` translate
//! arguments into library calls and results into exit codes.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Run and build software for other CPU architectures on x86_64 Linux.
#[derive(Parser)]
#[command(name = "xarch", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(about = RUN_ABOUT)]
    Run(cmd::run::RunArgs),
    /// Manage kernel binfmt_misc handlers for transparent execution.
    #[command(subcommand)]
    Binfmt(cmd::binfmt::BinfmtCommand),
    #[command(flatten)]
    Image(cmd::image::ImageCommand),
    /// Run containers from OCI images, foreign or native.
    #[command(subcommand)]
    Container(cmd::container::ContainerCommand),
}

const RUN_ABOUT: &str = "Run a foreign (arm64) Linux ELF program under emulation";

/// `xarch run` alone, for the command line every emulated `execve`
/// re-enters xarch with: parsing it builds none of the other subcommands'
/// parsers (which took 30 of the 190 page faults of a small program's
/// whole run).
#[derive(Parser)]
#[command(name = "xarch run", version, about = RUN_ABOUT, long_about = None)]
struct RunCli {
    #[command(flatten)]
    args: cmd::run::RunArgs,
}

fn main() -> ExitCode {
    // The kernel starts a binfmt_misc handler with the guest's path as
    // argv[1]; that entry point is not a clap subcommand.
    if let Some(code) = cmd::binfmt::handler_entry() {
        return code;
    }
    let mut argv = std::env::args_os();
    let command = if argv.nth(1).is_some_and(|a| a == "run") {
        Command::Run(RunCli::parse_from(std::iter::once("xarch run".into()).chain(argv)).args)
    } else {
        Cli::parse().command
    };
    let result = match command {
        Command::Run(args) => cmd::run::run(args),
        Command::Binfmt(c) => cmd::binfmt::run(c),
        Command::Image(c) => cmd::image::run(c),
        Command::Container(c) => cmd::container::run(c),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xarch: {err:#}");
            ExitCode::from(125)
        }
    }
}
