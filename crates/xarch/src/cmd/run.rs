//! `xarch run`: emulate one foreign program.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `xarch run`.
#[derive(Args)]
pub struct RunArgs {
    /// Look up the program interpreter and absolute guest paths under DIR first.
    #[arg(long, env = "XARCH_SYSROOT")]
    pub sysroot: Option<PathBuf>,
    /// Print each guest system call to stderr.
    #[arg(long)]
    pub strace: bool,
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

/// Runs `xarch run`.
pub fn run(_args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("xarch run: the emulator is not wired yet")
}
