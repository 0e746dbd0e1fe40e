//! Image commands: `xarch pull`, `xarch images`, `xarch rmi`, `xarch image ...`.

use clap::Subcommand;
use std::process::ExitCode;

/// Top-level image commands (flattened into the main command list).
#[derive(Subcommand)]
pub enum ImageCommand {
    /// Pull an image from an OCI registry.
    Pull {
        /// Image reference.
        image: String,
    },
}

/// Runs an image command.
pub fn run(_c: ImageCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("image commands: not implemented yet")
}
