//! In-process `execve`: an emulated program that executes another
//! emulated program gets it loaded into this same xarch process, instead
//! of a new xarch executed by the host kernel.
//!
//! Executing xarch again costs about a millisecond per exec on the hosts
//! measured (the kernel's exec of a 90 MiB static binary, static glibc's
//! start-up with its hundred CPUID instructions, xarch's own set-up):
//! more than a forked shell's child spends running `/bin/true`. Here the
//! old program is dropped as the kernel drops it on exec, and the new one
//! is loaded as `xarch run` would load it:
//!
//! - guest memory: every guest mapping is unmapped; the engine stores its
//!   new code and is dropped, or at the first exec since a fork abandoned
//!   (its code cache unmapped, its heap, the parent's pages, left: see
//!   `Engine::abandon`);
//! - signals: caught signals get their default action back, ignored ones
//!   stay ignored, the mask and pending signals are kept, the alternate
//!   stack is gone;
//! - descriptors: close-on-exec ones are closed (xarch's hidden ones
//!   stay); robust futexes still held get FUTEX_OWNER_DIED (a process
//!   sharing one gets EOWNERDEAD) and the host robust-list head is
//!   xarch's own again;
//! - what other processes see: the host command line and environment
//!   areas show the new program's ([`crate::proctitle`]), and a parent's
//!   `setpgid` of this child fails with EACCES as after a real exec
//!   ([`crate::exec_marks`]).
//!
//! When this cannot be exact, the host path is taken: other guest threads
//! are running (the kernel would end them), /proc is missing (descriptors
//! cannot be listed), the new environment changes one of xarch's own
//! settings (`XARCH_*`, where the code cache is), the new command line
//! does not fit the host's areas, or the program is a descriptor
//! (`fexecve`, which keeps `execveat`'s own path). `XARCH_EXEC=reexec`
//! always takes it;
//! `XARCH_LOG=exec` says which path each exec took and why.

use crate::error::LoadError;
use crate::process::{GuestConfig, GuestExit, Process, Program};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use xarch_a64::state::A64State;
use xarch_engine::Engine;

/// Why an exec goes through the host kernel instead.
pub type Refusal = &'static str;

/// The configuration that loads `prog` (with `argv0` and `args`, in
/// environment `envp`) in place of `p`'s program, or why it must not be
/// loaded in this process.
pub fn plan(
    p: &Process,
    prog: &[u8],
    argv0: &[u8],
    args: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<GuestConfig, Refusal> {
    if reexec_forced() {
        return Err("XARCH_EXEC=reexec");
    }
    if crate::thread::live_threads() != 1 || !crate::thread::is_leader() {
        return Err("other guest threads are running");
    }
    if !std::path::Path::new("/proc/self/fd").is_dir() {
        return Err("/proc/self/fd is missing");
    }
    let ours: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    let from_env = p.opts.sysroot.is_none();
    if settings(&ours, from_env) != settings(envp, from_env) {
        return Err("the new environment changes xarch's settings");
    }
    let mut argv: Vec<OsString> = vec![OsStr::from_bytes(argv0).to_os_string()];
    argv.extend(args.iter().map(|a| OsString::from_vec(a.clone())));
    crate::proctitle::fits(&argv)?;
    // As `xarch run` finds the program: an absolute path under the sysroot
    // when it is there.
    let path = PathBuf::from(OsStr::from_bytes(prog));
    let path = if path.is_absolute() {
        crate::paths::to_host(&path)
    } else {
        path
    };
    Ok(GuestConfig {
        program: Program::Path(path),
        argv,
        env: envp.iter().map(|e| OsString::from_vec(e.clone())).collect(),
        sysroot: p.opts.sysroot.clone(),
        strace: p.opts.strace,
        log_unimplemented: p.opts.log_unimplemented,
        backend: p.opts.backend,
    })
}

/// `NAME`'s value in environment strings `env`.
fn env_lookup(env: &[Vec<u8>], name: &str) -> Option<OsString> {
    env.iter().find_map(|e| {
        let rest = e.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(OsStr::from_bytes(rest).to_os_string())
    })
}

/// What of environment `env` decides how xarch runs a program: its own
/// variables (`XARCH_*`), the sysroot when none was named on the command
/// line, and what chooses the code cache directory when XARCH_CODE_CACHE
/// does not (XDG_CACHE_HOME, HOME). (Raw values: resolving the directory
/// reads /proc/self/exe, twice per exec.)
fn settings(env: &[Vec<u8>], sysroot_from_env: bool) -> Settings {
    let mut own: Vec<Vec<u8>> = env
        .iter()
        .filter(|e| e.starts_with(b"XARCH_"))
        .cloned()
        .collect();
    own.sort_unstable();
    let get = |k: &str| env_lookup(env, k);
    let qemu = sysroot_from_env.then(|| get("QEMU_LD_PREFIX")).flatten();
    let home = get("XARCH_CODE_CACHE")
        .is_none()
        .then(|| (get("XDG_CACHE_HOME"), get("HOME")));
    (own, qemu, home)
}

type Settings = (
    Vec<Vec<u8>>,
    Option<OsString>,
    Option<(Option<OsString>, Option<OsString>)>,
);

/// Runs `p` from `state` with `engine`, and the programs it executes in
/// process after it, until one ends (the process, or this thread with
/// others left: `thread_exited`); stores each engine's new code unless
/// the thread alone ended. An error is a program that did not load past
/// the point of no return: the process must end.
pub(crate) fn run_through_execs(
    mut p: Process,
    mut state: A64State,
    mut engine: Engine,
) -> Result<(GuestExit, Process, Engine), LoadError> {
    loop {
        let exit = p.run(&mut engine, &mut state);
        if p.thread_exited {
            return Ok((exit, p, engine));
        }
        engine.save_code();
        match p.exec.take() {
            Some(next) if exit == GuestExit::Exec => {
                (p, state) = replace(p, engine, next)?;
                engine = crate::thread::new_engine(&p);
            }
            _ => return Ok((exit, p, engine)),
        }
    }
}

/// Replaces `p`'s program (and `engine`, whose new code was stored) by
/// `next`, planned by [`plan`]: the old one is dropped as the kernel drops
/// it on exec (see the module documentation), and the new one loaded. An
/// error comes past the point of no return: the process must end.
fn replace(
    p: Process,
    engine: Engine,
    next: GuestConfig,
) -> Result<(Process, A64State), LoadError> {
    let (argv, env) = (next.argv.clone(), next.env.clone());
    let inherited = leave(p, engine);
    let (mut p, state) = Process::load(next)?;
    // The host mask was never changed: only the guest's view is set.
    p.signals.blocked = inherited.blocked;
    p.forked = inherited.forked;
    crate::proctitle::set(&argv, &env);
    Ok((p, state))
}

/// This process has abandoned an engine since it was forked.
static ABANDONED: AtomicBool = AtomicBool::new(false);

/// In the parent, before a fork: the table of exec marks the child will
/// share, and what a child's in-process exec needs that this process can
/// find once for all its children.
pub fn before_fork() {
    crate::exec_marks::before_fork();
    if !reexec_forced() {
        crate::proctitle::prepare();
    }
}

/// `XARCH_EXEC=reexec`: every exec goes through the host.
fn reexec_forced() -> bool {
    std::env::var_os("XARCH_EXEC").is_some_and(|v| v == "reexec")
}

/// In the child of a fork.
pub fn after_fork() {
    ABANDONED.store(false, Ordering::Relaxed);
    crate::exec_marks::after_fork();
}

/// What the old program leaves to the new one.
struct Inherited {
    blocked: u64,
    forked: bool,
}

/// Drops `p`'s program as the kernel drops it on exec.
fn leave(mut p: Process, engine: Engine) -> Inherited {
    // The exec is certain now (the kernel's PF_FORKNOEXEC goes here too).
    crate::exec_marks::mark_self();
    // (execve sent a vfork parent its changes already.)
    crate::vfork::exec_done();
    // The first exec since a fork leaves the engine's heap (the parent's
    // pages: see `Engine::abandon`); any later one frees it, so that a
    // chain of execs does not pile up heaps.
    if p.forked && !ABANDONED.swap(true, Ordering::Relaxed) {
        engine.abandon();
    } else {
        drop(engine);
    }
    crate::thread::release_robust_futexes(&p);
    p.mm.unmap_all();
    crate::signal::reset_for_exec();
    crate::thread::restore_host_robust_list();
    let inherited = Inherited {
        blocked: p.signals.blocked,
        forked: p.forked,
    };
    drop(p);
    // What the old program and its engine freed on the heap, and what the
    // parent had freed before the fork, the new engine would allocate
    // again: pages still shared with the parent, each copied at its first
    // write. Given back, they come back as fresh pages (cleared, not
    // copied).
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe { libc::malloc_trim(0) };
    crate::selfexe::exec_job_fd();
    close_on_exec_descriptors();
    inherited
}

/// Closes every close-on-exec descriptor but xarch's hidden ones.
fn close_on_exec_descriptors() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let keep: Vec<i32> = crate::selfexe::hidden()
        .chain(xarch_engine::perf_map_descriptor())
        .collect();
    for fd in fds.into_iter().filter(|fd| !keep.contains(fd)) {
        // SAFETY: F_GETFD only reads flags; closing a descriptor the old
        // program asked to have closed on exec (the listing's own is
        // already closed: F_GETFD fails on it).
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC != 0 {
                libc::close(fd);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[&str]) -> Vec<Vec<u8>> {
        vars.iter().map(|v| v.as_bytes().to_vec()).collect()
    }

    #[test]
    fn only_what_decides_how_xarch_runs_makes_environments_differ() {
        let base = env(&["XARCH_CODE_CACHE=/c", "XARCH_STATS=1", "A=1"]);
        let same = env(&["B=2", "XARCH_STATS=1", "XARCH_CODE_CACHE=/c", "HOME=/h"]);
        assert_eq!(settings(&base, true), settings(&same, true));
        let stats = env(&["XARCH_CODE_CACHE=/c", "XARCH_STATS=2"]);
        assert_ne!(settings(&base, true), settings(&stats, true));
        let dropped = env(&["XARCH_CODE_CACHE=/c"]);
        assert_ne!(settings(&base, true), settings(&dropped, true));
        // The default sysroot counts only when none was named.
        let qemu = env(&["XARCH_CODE_CACHE=/c", "XARCH_STATS=1", "QEMU_LD_PREFIX=/r"]);
        assert_ne!(settings(&base, true), settings(&qemu, true));
        assert_eq!(settings(&base, false), settings(&qemu, false));
        // Without XARCH_CODE_CACHE, HOME chooses the code cache.
        let home = |h: &str| env(&[&format!("HOME={h}")]);
        assert_eq!(settings(&home("/a"), true), settings(&home("/a"), true));
        assert_ne!(settings(&home("/a"), true), settings(&home("/b"), true));
        let xdg = env(&["HOME=/a", "XDG_CACHE_HOME=/x"]);
        assert_ne!(settings(&home("/a"), true), settings(&xdg, true));
    }

    #[test]
    fn variables_are_found_by_whole_name() {
        let e = env(&["XARCH_CODE_CACHE_MAX_MB=5", "XARCH_CODE_CACHE=/c", "X"]);
        assert_eq!(env_lookup(&e, "XARCH_CODE_CACHE"), Some("/c".into()));
        assert_eq!(env_lookup(&e, "X"), None);
    }
}
