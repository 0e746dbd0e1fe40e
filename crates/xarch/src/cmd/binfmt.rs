//! `xarch binfmt`: kernel binfmt_misc handlers.

use clap::Subcommand;
use std::process::ExitCode;

/// Subcommands of `xarch binfmt`.
#[derive(Subcommand)]
pub enum BinfmtCommand {
    /// Show registered handlers.
    Status,
}

/// If the kernel started us as a binfmt_misc interpreter, run the guest and
/// return its exit code; otherwise `None`.
pub fn handler_entry() -> Option<ExitCode> {
    None
}

/// Runs `xarch binfmt ...`.
pub fn run(_c: BinfmtCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("xarch binfmt: not implemented yet")
}
