//! `xarch-bench maxrss [--chroot DIR] -- CMD...`: the maximum resident set
//! of CMD (and anything it waited for), from getrusage(RUSAGE_CHILDREN)
//! after waiting for it. Run as a fresh process so that the figure is not
//! raised by the memory of the benchmark itself (a child's high-water mark
//! starts with what it shares with the process that forked it).

use anyhow::{Context, Result, bail};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

#[derive(clap::Args)]
pub struct MaxrssArgs {
    /// chroot into DIR (and chdir to /) before executing CMD.
    #[arg(long)]
    chroot: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, required = true)]
    cmd: Vec<String>,
}

pub fn run(args: MaxrssArgs) -> Result<()> {
    let mut c = Command::new(&args.cmd[0]);
    c.args(&args.cmd[1..])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root")
        .stdout(std::process::Stdio::null());
    let dir = match &args.chroot {
        Some(d) => Some(
            std::ffi::CString::new(d.as_os_str().as_encoded_bytes())
                .context("--chroot: path with a NUL byte")?,
        ),
        None => None,
    };
    // Always through pre_exec: that makes std fork instead of vfork, so the
    // child does not start with this process's whole address space as its
    // high-water mark, only with the little it copies.
    // SAFETY: the closure runs in the forked child before exec and calls
    // only async-signal-safe functions (chroot, chdir) on memory prepared
    // before the fork.
    unsafe {
        c.pre_exec(move || {
            if let Some(dir) = &dir
                && (libc::chroot(dir.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = c
        .status()
        .with_context(|| format!("running {}", args.cmd[0]))?;
    if !status.success() {
        bail!("{} failed: {status}", args.cmd.join(" "));
    }
    // SAFETY: getrusage writes into the zeroed struct we pass; a zeroed
    // rusage is a valid value of that plain C struct.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) != 0 {
            bail!("getrusage: {}", std::io::Error::last_os_error());
        }
        ru
    };
    println!("{}", ru.ru_maxrss);
    Ok(())
}
