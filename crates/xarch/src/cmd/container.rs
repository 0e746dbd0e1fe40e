//! `xarch container ...`: daemonless containers.

use clap::Subcommand;
use std::process::ExitCode;

/// Subcommands of `xarch container`.
#[derive(Subcommand)]
pub enum ContainerCommand {
    /// Run a command in a new container.
    Run {
        /// Image reference.
        image: String,
    },
}

/// Runs `xarch container ...`.
pub fn run(_c: ContainerCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("xarch container: not implemented yet")
}
