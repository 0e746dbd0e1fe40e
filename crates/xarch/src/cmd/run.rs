//! `xarch run`: emulate one foreign program. The work is in
//! `xarch_linux`; this module maps arguments in and the guest's fate out.
//!
//! Exit status: the guest's own; a guest killed by a signal kills xarch
//! with the same signal. Load failures use the statuses documented in
//! `xarch_linux::error` (127 not found, 126 unreadable, 124 not ELF, 123
//! wrong architecture, 122 malformed ELF, 121 missing program
//! interpreter, 120 cannot map).

use anyhow::Context;
use clap::Args;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::ExitCode;
use xarch_engine::Backend;
use xarch_linux::{GuestConfig, GuestExit, Program};

/// Arguments of `xarch run`.
#[derive(Args)]
pub struct RunArgs {
    /// Look up the program interpreter and every absolute path the guest
    /// opens under DIR first, falling back to the host's file (like `qemu
    /// -L`; also XARCH_SYSROOT, or QEMU_LD_PREFIX). /proc, /dev and /sys
    /// are always the host's.
    #[arg(long, short = 'L', env = "XARCH_SYSROOT", value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
    /// Print each guest system call to stderr (also XARCH_STRACE=1).
    #[arg(long, env = "XARCH_STRACE", value_parser = clap::builder::BoolishValueParser::new())]
    pub strace: bool,
    /// argv[0] for the guest, when it differs from the program path
    /// (execve re-entry and binfmt_misc).
    #[arg(long, hide = true, value_name = "ARG0", allow_hyphen_values = true)]
    pub argv0: Option<OsString>,
    /// xarch's own binary as an open descriptor, passed on by an emulated
    /// execve so re-entry works without /proc.
    #[arg(long, hide = true, value_name = "FD")]
    pub self_fd: Option<i32>,
    /// The socket through which the first process of `--rootfs` (the init
    /// of its pid namespace) has its supervisor stop it (Ctrl-Z).
    #[arg(long, hide = true, value_name = "FD")]
    pub job_control_fd: Option<i32>,
    /// The program as an open descriptor (an emulated `fexecve` of a file
    /// no path names, such as a memfd), closed once it is loaded; the
    /// program argument is then only its name (/proc/self/exe).
    #[arg(long, hide = true, value_name = "FD", conflicts_with = "rootfs")]
    pub exec_fd: Option<i32>,
    /// Execution engine: `tiered` (the default: template JIT, hot code
    /// recompiled by the optimizing Cranelift tier after
    /// XARCH_HOT_THRESHOLD runs), `baseline` (template JIT only), `opt`
    /// (every block through the optimizing tier at its first run) or
    /// `interp` (the reference interpreter). Also XARCH_ENGINE.
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<Backend>,
    /// Run the program with DIR as its root file system: private mount
    /// (and pid, uts, ipc) namespaces, /proc, /dev and /sys mounted inside,
    /// pivot_root; as root, or through a user namespace mapping the caller
    /// to root. Every foreign program executed inside runs under xarch.
    /// Needs a statically linked xarch.
    #[arg(long, value_name = "DIR", conflicts_with = "sysroot")]
    pub rootfs: Option<PathBuf>,
    /// With --rootfs: the working directory inside it (default /).
    #[arg(long, value_name = "DIR", requires = "rootfs")]
    pub workdir: Option<String>,
    /// With --rootfs: set an environment variable (K=V, or K to copy it
    /// from here). The environment starts empty but for PATH, HOME, TERM.
    #[arg(long = "env", short = 'e', value_name = "K=V", requires = "rootfs")]
    pub env: Vec<String>,
    /// The program to run (with --rootfs: its path inside DIR).
    pub program: PathBuf,
    /// Its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

/// Options of a guest run besides program, argv and environment.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Where to find the program interpreter.
    pub sysroot: Option<PathBuf>,
    /// Trace system calls.
    pub strace: bool,
    /// Which execution backend runs guest code.
    pub backend: Backend,
}

/// Runs `xarch run`.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    xarch_linux::selfexe::init(args.self_fd);
    if let Some(fd) = args.job_control_fd {
        xarch_linux::selfexe::set_job_fd(fd);
    }
    if let Some(root) = args.rootfs.clone() {
        return run_rootfs(&root, args);
    }
    let mut argv = vec![
        args.argv0
            .unwrap_or_else(|| args.program.clone().into_os_string()),
    ];
    argv.extend(args.args);
    let env = env_strings();
    let sysroot = args
        .sysroot
        .or_else(|| std::env::var_os("QEMU_LD_PREFIX").map(PathBuf::from))
        .filter(|d| !d.as_os_str().is_empty());
    let mut program = args.program;
    let exec_file = match args.exec_fd {
        Some(fd) => Some(exec_file(fd)?),
        None => None,
    };
    if let Some(dir) = &sysroot {
        let root = xarch_linux::paths::Sysroot::open(dir)
            .with_context(|| format!("--sysroot {}", dir.display()))?;
        // The program itself is looked up under the sysroot too.
        if program.is_absolute() && exec_file.is_none() {
            program = root.to_host(&program);
        }
    }
    let opts = RunOptions {
        sysroot,
        strace: args.strace,
        backend: args.engine.unwrap_or_else(default_backend),
    };
    let program = match exec_file {
        Some(f) => Program::Fd(f, program),
        None => Program::Path(program),
    };
    Ok(run_guest(program, argv, env, &opts))
}

/// Takes over descriptor `fd` of `--exec-fd`.
fn exec_file(fd: i32) -> anyhow::Result<std::fs::File> {
    xarch_linux::process::inherited_file(fd)
        .with_context(|| format!("--exec-fd {fd}: not an open descriptor"))
}

/// `xarch run --rootfs DIR`: the program runs in a container whose root
/// is DIR, started (like every program it executes) through this xarch.
fn run_rootfs(root: &std::path::Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(why) = not_static() {
        anyhow::bail!(
            "--rootfs needs a statically linked xarch ({why}): the programs inside {} re-enter \
             xarch through /proc/self/exe, where the host's shared libraries are not visible. \
             Build one with `cargo rustc --release -p xarch --bin xarch -- -C target-feature=+crt-static`",
            root.display()
        );
    }
    let backend = args.engine.unwrap_or_else(default_backend);
    let mut emulator_args = vec!["run".to_string(), format!("--engine={}", backend.name())];
    if args.strace {
        emulator_args.push("--strace".into());
    }
    emulator_args.push("--".into());
    let mut command = vec![args.program.to_string_lossy().into_owned()];
    command.extend(args.args.iter().map(|a| a.to_string_lossy().into_owned()));
    let run = xarch_container::RootfsRun {
        command,
        env: args.env,
        workdir: args.workdir,
        emulator_args,
    };
    match xarch_container::run_in_rootfs(root, run) {
        // The container reports 128+N for a guest killed by signal N.
        Ok(code) => Ok(ExitCode::from(code.clamp(0, 255) as u8)),
        Err(e) => {
            eprintln!("xarch: --rootfs {}: {e}", root.display());
            Ok(ExitCode::from(e.exit_status()))
        }
    }
}

/// Why this xarch is not statically linked (it has a program interpreter),
/// or `None` when it is.
fn not_static() -> Option<String> {
    use std::io::Read;
    // The program headers and the interpreter path are at the start of
    // the file (linkers put .interp first): do not read all of xarch's
    // tens of MiB on every start.
    let mut head = Vec::with_capacity(64 << 10);
    std::fs::File::open("/proc/self/exe")
        .ok()?
        .take(64 << 10)
        .read_to_end(&mut head)
        .ok()?;
    let interp = xarch_linux::loader::elf_interp(&head)?;
    Some(format!("it is dynamically linked against {interp}"))
}

/// Runs a guest program to completion and returns its exit status; a
/// guest killed by a signal kills xarch with that signal (this function
/// then does not return). `program` is a path or an already-open file
/// (binfmt_misc), `argv` includes argv[0], `env` holds `NAME=value`.
pub fn run_guest(
    program: Program,
    argv: Vec<OsString>,
    env: Vec<OsString>,
    opts: &RunOptions,
) -> ExitCode {
    let log_unimplemented = xarch_linux::xarch_log("unimpl");
    let cfg = GuestConfig {
        program,
        argv,
        env,
        sysroot: opts.sysroot.clone(),
        strace: opts.strace,
        log_unimplemented,
        backend: opts.backend,
    };
    match xarch_linux::run_guest(cfg) {
        Ok(GuestExit::Exited(code)) => xarch_linux::exit_now(code),
        Ok(GuestExit::Signaled(sig)) => xarch_linux::die_with_signal(sig),
        // run_guest loads the next program itself.
        Ok(GuestExit::Exec) => ExitCode::from(127),
        Err(e) => {
            eprintln!("xarch: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs a guest the kernel started through binfmt_misc: the program is
/// `req.exec_fd` when set (O/C flags), else `req.path`; `req.argv` is the
/// guest's argv (argv[0] preserved under P). AT_SECURE follows the
/// credentials the kernel gave the process (C flag).
pub fn run_binfmt(req: xarch_binfmt::handler::GuestExec) -> anyhow::Result<ExitCode> {
    xarch_linux::selfexe::init(None);
    let program = match req.exec_fd {
        Some(fd) => Program::Fd(std::fs::File::from(fd), req.path),
        None => Program::Path(req.path),
    };
    let opts = RunOptions {
        backend: default_backend(),
        ..RunOptions::default()
    };
    Ok(run_guest(program, req.argv, env_strings(), &opts))
}

/// The backend when none is named: `XARCH_ENGINE`, else the baseline JIT.
fn default_backend() -> Backend {
    std::env::var("XARCH_ENGINE")
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(Backend::Tiered)
}

/// xarch's environment as `NAME=value` strings for the guest.
fn env_strings() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut s = k.into_vec();
            s.push(b'=');
            s.extend(v.into_vec());
            OsString::from_vec(s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(path: &str) -> ExitCode {
        run_guest(
            Program::Path(path.into()),
            vec![path.into()],
            vec![],
            &RunOptions {
                backend: Backend::Interpreter,
                ..RunOptions::default()
            },
        )
    }

    #[test]
    fn load_failures_have_distinct_statuses() {
        let dir = std::env::temp_dir().join(format!("xarch-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("text");
        std::fs::write(&text, "hello\n").unwrap();
        assert_eq!(status("/nonexistent/prog"), ExitCode::from(127));
        assert_eq!(status(text.to_str().unwrap()), ExitCode::from(124));
        assert_eq!(status("/proc/self/exe"), ExitCode::from(123));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
