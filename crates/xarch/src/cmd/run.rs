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

/// Runs a guest the kernel started through binfmt_misc: the program is
/// `req.exec_fd` when set (O/C flags), else `req.path`; `req.argv` is the
/// guest's argv (argv[0] preserved under P); `req.secure` goes into the
/// guest's AT_SECURE. See `xarch_binfmt::handler::GuestExec`.
pub fn run_guest(_req: xarch_binfmt::handler::GuestExec) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the emulator is not wired yet")
}
