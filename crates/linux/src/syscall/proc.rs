//! Process calls: exit, fork (clone without CLONE_VM), vfork, execve,
//! execveat, uname, prctl.

use super::{Args, Ret, err, guest_cstr, raw, read_guest_val, write_guest};
use crate::process::{GuestExit, Process};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use xarch_a64::state::A64State;

/// `exit(code)`: the calling thread ends; the process ends with its last
/// thread.
pub fn exit(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    crate::vfork::send_back(p);
    crate::thread::exit_thread(p, (a[0] & 0xff) as i32)
}

/// `exit_group(code)`.
pub fn exit_group(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    crate::vfork::send_back(p);
    crate::thread::exit_group(p, (a[0] & 0xff) as i32)
}

/// `set_tid_address(ptr)`: remembered; returns the tid.
pub fn set_tid_address(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    p.clear_child_tid = a[0];
    Ret::Val(raw(libc::SYS_gettid, &[0; 6]))
}

/// `uname(buf)`: the host's, with machine "aarch64".
pub fn uname(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    // SAFETY: an all-zero utsname is valid.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct.
    if unsafe { libc::uname(&mut u) } != 0 {
        return err(super::errno());
    }
    u.machine = [0; 65];
    for (d, s) in u.machine.iter_mut().zip(b"aarch64") {
        *d = *s as libc::c_char;
    }
    match write_guest(p, a[0], &u) {
        Ok(()) => Ret::Val(0),
        Err(e) => err(e),
    }
}

/// `prctl(option, ...)`: a safe subset passes through; arm64-specific
/// options (SVE, PAC, MTE, ...) report EINVAL like a CPU without them.
pub fn prctl(_: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    match a[0] as i32 {
        libc::PR_SET_PDEATHSIG
        | libc::PR_GET_PDEATHSIG
        | libc::PR_GET_DUMPABLE
        | libc::PR_SET_DUMPABLE
        | libc::PR_SET_NAME
        | libc::PR_GET_NAME
        | libc::PR_SET_CHILD_SUBREAPER
        | libc::PR_GET_CHILD_SUBREAPER
        | libc::PR_SET_NO_NEW_PRIVS
        | libc::PR_GET_NO_NEW_PRIVS
        | libc::PR_SET_KEEPCAPS
        | libc::PR_GET_KEEPCAPS
        | libc::PR_CAPBSET_READ => Ret::Val(raw(libc::SYS_prctl, a)),
        _ => err(libc::EINVAL),
    }
}

/// `clone(flags, newsp, parent_tid, tls, child_tid)` (arm64 argument
/// order). Without CLONE_THREAD it is a fork: the child continues
/// emulation with x0 = 0 on a copy of memory; CLONE_VFORK keeps its
/// ordering and, with CLONE_VM, what the child writes into its caller's
/// stack frames (see `crate::vfork`).
pub fn clone(p: &mut Process, state: &mut A64State, a: &Args) -> Ret {
    let flags = a[0];
    let (newsp, ptid, tls, ctid) = (a[1], a[2], a[3], a[4]);
    if flags & libc::CLONE_THREAD as u64 != 0 {
        return Ret::Val(crate::thread::spawn(
            p, state, flags, newsp, ptid, tls, ctid,
        ));
    }
    let exit_signal = flags & libc::CSIGNAL as u64;
    let vfork_pipe = if flags & libc::CLONE_VFORK as u64 != 0 {
        crate::vfork::pipe()
    } else {
        None
    };
    crate::exec::before_fork();
    // Other guest threads may hold the shared locks: take them across the
    // fork so the child (which has only this thread) finds them free.
    let mm_guard = p.mm.lock();
    let sig_guard = crate::signal::fork_lock();
    let compiler_guard = xarch_engine::fork_lock();
    let r = if exit_signal == libc::SIGCHLD as u64 {
        // SAFETY: fork runs libc's handlers so the child's libc state
        // (cached tid, malloc locks) is right; the child only continues
        // this thread.
        let r = unsafe { libc::fork() };
        if r < 0 {
            -(super::errno() as i64)
        } else {
            r as i64
        }
    } else {
        raw(libc::SYS_clone, &[exit_signal, 0, 0, 0, 0, 0])
    };
    drop(compiler_guard);
    drop(sig_guard);
    drop(mm_guard);
    if r > 0 {
        // Before a vfork parent waits: its child may execute meanwhile.
        crate::exec_marks::forked(r);
    }
    if let Some(fds) = vfork_pipe
        && r != 0
    {
        if r > 0 {
            crate::vfork::parent_wait(p, fds);
        } else {
            // SAFETY: closing the pipe we made; no child.
            unsafe {
                libc::close(fds[0]);
                libc::close(fds[1]);
            }
        }
    }
    if r < 0 {
        return Ret::Val(r);
    }
    if r > 0 {
        if flags & libc::CLONE_PARENT_SETTID as u64 != 0 {
            let _ = write_guest(p, ptid, &(r as u32));
        }
        return Ret::Val(r);
    }
    // Child.
    p.forked = true;
    crate::thread::reset_after_fork();
    crate::exec::after_fork();
    xarch_engine::note_fork();
    if flags & libc::CLONE_VM as u64 == 0 {
        crate::signal::after_fork();
    }
    crate::vfork::child(p, vfork_pipe, flags & libc::CLONE_VM as u64 != 0, state.sp);
    let tid = raw(libc::SYS_gettid, &[0; 6]) as u32;
    if flags & libc::CLONE_CHILD_SETTID as u64 != 0 {
        let _ = write_guest(p, ctid, &tid);
    }
    if flags & libc::CLONE_PARENT_SETTID as u64 != 0 && flags & libc::CLONE_VM as u64 != 0 {
        let _ = write_guest(p, ptid, &tid);
    }
    if flags & libc::CLONE_CHILD_CLEARTID as u64 != 0 {
        p.clear_child_tid = ctid;
    }
    if flags & libc::CLONE_SETTLS as u64 != 0 {
        state.tpidr_el0 = tls;
    }
    if newsp != 0 {
        state.sp = newsp;
    }
    Ret::Val(0)
}

/// `clone3(args, size)`: mapped onto [`clone`]; pidfds, set_tid and
/// cgroups are not emulated (ENOSYS, so callers fall back to clone).
pub fn clone3(p: &mut Process, state: &mut A64State, a: &Args) -> Ret {
    if a[1] < 64 || a[1] > 4096 {
        return err(libc::EINVAL);
    }
    let args: [u64; 8] = match read_guest_val(p, a[0]) {
        Ok(v) => v,
        Err(e) => return err(e),
    };
    let [
        flags,
        _pidfd,
        child_tid,
        parent_tid,
        exit_signal,
        stack,
        stack_size,
        tls,
    ] = args;
    let extra: [u64; 3] = if a[1] >= 88 {
        read_guest_val(p, a[0] + 64).unwrap_or([0; 3])
    } else {
        [0; 3]
    };
    const CLONE_PIDFD: u64 = 0x1000;
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    if flags & (CLONE_PIDFD | CLONE_INTO_CGROUP) != 0 || extra[0] != 0 || extra[1] != 0 {
        return err(libc::ENOSYS);
    }
    if exit_signal > 64 || flags & libc::CSIGNAL as u64 != 0 {
        return err(libc::EINVAL);
    }
    let sp = if stack != 0 { stack + stack_size } else { 0 };
    clone(
        p,
        state,
        &[flags | exit_signal, sp, parent_tid, tls, child_tid, 0],
    )
}

fn read_argv(p: &Process, mut ptr: u64) -> Result<Vec<Vec<u8>>, i32> {
    let mut out = Vec::new();
    if ptr == 0 {
        return Ok(out);
    }
    loop {
        let s: u64 = read_guest_val(p, ptr)?;
        if s == 0 {
            return Ok(out);
        }
        out.push(super::read_guest(p, s, 1 << 20, true).ok_or(libc::EFAULT)?);
        if out.len() > 1 << 20 {
            return Err(libc::E2BIG);
        }
        ptr += 8;
    }
}

/// What execve should do with a file.
#[derive(Debug, PartialEq, Eq)]
pub enum ExecPlan {
    /// Re-enter xarch: `xarch run --argv0 ARGV0 -- PROG ARGS...`.
    Emulate {
        /// The arm64 program.
        prog: Vec<u8>,
        /// argv[0] for it.
        argv0: Vec<u8>,
        /// argv[1..].
        args: Vec<Vec<u8>>,
    },
    /// Let the host kernel execute it (native ELF, native script, or a
    /// format binfmt_misc may know).
    Host,
}

/// Parses a `#!` line: interpreter and optional single argument.
pub fn parse_shebang(head: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line: &[u8] = line.trim_ascii();
    if line.is_empty() {
        return None;
    }
    let end = line
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    let interp = line[..end].to_vec();
    let arg = line[end..].trim_ascii();
    Some((interp, (!arg.is_empty()).then(|| arg.to_vec())))
}

/// Decides how to execute `path` with `argv` (argv[0] included).
pub fn plan_exec(path: &[u8], argv: &[Vec<u8>]) -> Result<ExecPlan, i32> {
    let file = std::fs::File::open(OsStr::from_bytes(path))
        .map_err(|e| e.raw_os_error().unwrap_or(libc::ENOENT))?;
    // The kernel refuses to execute anything but a regular file.
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(libc::EACCES);
    }
    let mut head = [0u8; 256];
    let n = std::os::unix::fs::FileExt::read_at(&file, &mut head, 0)
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    let head = &head[..n];
    let cpath = CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: a valid C string.
    if unsafe { libc::access(cpath.as_ptr(), libc::X_OK) } != 0 {
        return Err(super::errno());
    }
    if crate::loader::is_guest_elf(head) {
        let argv0 = argv.first().cloned().unwrap_or_else(|| path.to_vec());
        return Ok(ExecPlan::Emulate {
            prog: path.to_vec(),
            argv0,
            args: argv.iter().skip(1).cloned().collect(),
        });
    }
    if let Some((interp, arg)) = parse_shebang(head)
        && crate::process::is_guest_program(&crate::paths::to_host(std::path::Path::new(
            OsStr::from_bytes(&interp),
        )))
    {
        let mut args: Vec<Vec<u8>> = arg.into_iter().collect();
        args.push(path.to_vec());
        args.extend(argv.iter().skip(1).cloned());
        return Ok(ExecPlan::Emulate {
            prog: interp.clone(),
            argv0: interp,
            args,
        });
    }
    Ok(ExecPlan::Host)
}

/// The argv that re-enters xarch for an emulated exec.
pub fn reexec_argv(p: &Process, prog: &[u8], argv0: &[u8], args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    // `--opt=value` so that values starting with '-' (login shells' "-sh")
    // are not taken for options.
    let mut v: Vec<Vec<u8>> = vec![
        b"xarch".to_vec(),
        b"run".to_vec(),
        [&b"--argv0="[..], argv0].concat(),
    ];
    if let Some(root) = &p.opts.sysroot {
        v.push([&b"--sysroot="[..], root.as_os_str().as_bytes()].concat());
    }
    if p.opts.strace {
        v.push(b"--strace".to_vec());
    }
    if let Some(fd) = crate::selfexe::job_fd() {
        v.push(format!("--job-control-fd={fd}").into_bytes());
    }
    v.push([&b"--engine="[..], p.opts.backend.name().as_bytes()].concat());
    v.push(b"--".to_vec());
    v.push(prog.to_vec());
    v.extend(args.iter().cloned());
    v
}

fn cstrings(v: &[Vec<u8>]) -> Result<Vec<CString>, i32> {
    v.iter()
        .map(|s| CString::new(s.clone()).map_err(|_| libc::EINVAL))
        .collect()
}

/// `execve(path, argv, envp)`: arm64 programs (and scripts whose
/// interpreter is one) re-enter xarch through /proc/self/exe, preserving
/// argv[0]; everything else is executed by the host kernel.
pub fn execve(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    let path = match guest_cstr(p, a[0]) {
        // /proc/self/exe is xarch on the host but the guest program to the guest
        // (busybox re-executes itself that way).
        Ok(s) if super::fs::is_self_exe(&s) => p.exe.as_os_str().as_bytes().to_vec(),
        Ok(s) => s,
        Err(e) => return err(e),
    };
    let (argv, envp) = match (read_argv(p, a[1]), read_argv(p, a[2])) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => return err(e),
    };
    crate::vfork::send_back(p);
    match plan_exec(&path, &argv) {
        Err(e) => err(e),
        Ok(ExecPlan::Host) => match CString::new(path) {
            Ok(c) => Ret::Val(raw(
                libc::SYS_execve,
                &[c.as_ptr() as u64, a[1], a[2], 0, 0, 0],
            )),
            Err(_) => err(libc::EINVAL),
        },
        Ok(ExecPlan::Emulate { prog, argv0, args }) => {
            if let Some(r) = in_process(p, &prog, &argv0, &args, &envp) {
                return r;
            }
            emulate(
                p,
                &prog,
                &argv0,
                &args,
                &envp,
                None,
                || match CString::new(path) {
                    Ok(c) => Ret::Val(raw(
                        libc::SYS_execve,
                        &[c.as_ptr() as u64, a[1], a[2], 0, 0, 0],
                    )),
                    Err(_) => err(libc::EINVAL),
                },
            )
        }
    }
}

/// Loads an emulated program in this process when that can be exact
/// ([`crate::exec`]): `None` takes the host path.
fn in_process(
    p: &mut Process,
    prog: &[u8],
    argv0: &[u8],
    args: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Option<Ret> {
    let log = crate::xarch_log("exec");
    let shown = String::from_utf8_lossy(prog);
    match crate::exec::plan(p, prog, argv0, args, envp) {
        Ok(cfg) => {
            if log {
                xarch_engine::diag!("xarch: execve of {shown} in this process");
            }
            p.exec = Some(cfg);
            Some(Ret::Exit(GuestExit::Exec))
        }
        Err(why) => {
            if log {
                xarch_engine::diag!("xarch: execve of {shown} executes xarch again: {why}");
            }
            None
        }
    }
}

/// Re-enters xarch to run guest program `prog`. When there is no way back
/// to xarch (a chroot without /proc, as under a binfmt_misc F-flag
/// handler), `by_kernel` lets the kernel execute the program itself: a
/// registered binfmt_misc handler routes it back to xarch, and without one
/// the guest sees ENOEXEC.
///
/// With `exec_fd`, the new xarch loads the program from that descriptor
/// (which must survive the exec) rather than from `prog`, only its name.
fn emulate(
    p: &Process,
    prog: &[u8],
    argv0: &[u8],
    args: &[Vec<u8>],
    envp: &[Vec<u8>],
    exec_fd: Option<i32>,
    by_kernel: impl FnOnce() -> Ret,
) -> Ret {
    let mut argv = reexec_argv(p, prog, argv0, args);
    if let Some(fd) = exec_fd
        && let Some(end) = argv.iter().position(|a| a == b"--")
    {
        argv.insert(end, format!("--exec-fd={fd}").into_bytes());
    }
    let (Ok(cargv), Ok(cenv)) = (cstrings(&argv), cstrings(envp)) else {
        return err(libc::EINVAL);
    };
    let mut pa: Vec<*const libc::c_char> = cargv.iter().map(|c| c.as_ptr()).collect();
    pa.push(std::ptr::null());
    let mut pe: Vec<*const libc::c_char> = cenv.iter().map(|c| c.as_ptr()).collect();
    pe.push(std::ptr::null());
    // Through xarch's own descriptor first (works without /proc), then the
    // path.
    crate::selfexe::pass_on_exec(true);
    crate::selfexe::reexec(&cargv, &cenv);
    let exe = self_exe();
    // SAFETY: NUL-terminated arrays of valid C strings.
    unsafe { libc::execve(exe.as_ptr(), pa.as_ptr(), pe.as_ptr()) };
    let e = super::errno();
    crate::selfexe::pass_on_exec(false);
    if e == libc::ENOENT || e == libc::EACCES {
        return by_kernel();
    }
    err(e)
}

/// `execveat(dirfd, path, argv, envp, flags)`: an absolute path, or one
/// relative to the working directory, is `execve`. Otherwise the file is
/// found through /proc/self/fd/DIRFD and planned as `execve` plans: a
/// foreign ELF re-enters xarch by its real path, or when it has none (a
/// memfd: `fexecve`) with a descriptor of it; a script whose
/// interpreter is foreign passes the interpreter `/dev/fd/DIRFD[/path]`,
/// as the kernel does (so a close-on-exec descriptor fails with ENOENT);
/// everything else, and everything when /proc is missing, goes to the
/// kernel's execveat.
pub fn execveat(p: &mut Process, state: &mut A64State, a: &Args) -> Ret {
    let (dirfd, flags) = (a[0] as i32, a[4] as i32);
    if flags & !(libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) != 0 {
        return err(libc::EINVAL);
    }
    let path = match guest_cstr(p, a[1]) {
        Ok(s) => s,
        Err(e) => return err(e),
    };
    crate::vfork::send_back(p);
    let by_kernel = || Ret::Val(raw(libc::SYS_execveat, a));
    let nofollow = flags & libc::AT_SYMLINK_NOFOLLOW != 0;
    // SAFETY: an all-zero stat is valid; fstatat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let Ok(cpath) = CString::new(path.clone()) else {
        return err(libc::EINVAL);
    };
    let stat_flags = if nofollow {
        libc::AT_SYMLINK_NOFOLLOW
    } else {
        0
    } | (flags & libc::AT_EMPTY_PATH);
    // SAFETY: a valid C string and stat buffer.
    if unsafe { libc::fstatat(dirfd, cpath.as_ptr(), &mut st, stat_flags) } != 0 {
        return err(super::errno());
    }
    if nofollow && st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return err(libc::ELOOP);
    }
    if path.starts_with(b"/") || (dirfd == libc::AT_FDCWD && !path.is_empty()) {
        return execve(p, state, &[a[1], a[2], a[3], 0, 0, 0]);
    }
    if dirfd == libc::AT_FDCWD || !std::path::Path::new("/proc/self/fd").is_dir() {
        return by_kernel();
    }
    let mut through = format!("/proc/self/fd/{dirfd}").into_bytes();
    let mut devfd = format!("/dev/fd/{dirfd}").into_bytes();
    if !path.is_empty() {
        for v in [&mut through, &mut devfd] {
            v.push(b'/');
            v.extend_from_slice(&path);
        }
    }
    let (argv, envp) = match (read_argv(p, a[2]), read_argv(p, a[3])) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => return err(e),
    };
    match plan_exec(&through, &argv) {
        Err(e) => err(e),
        Ok(ExecPlan::Host) => by_kernel(),
        Ok(ExecPlan::Emulate { prog, argv0, args }) if prog == through => {
            // A foreign ELF: its real path, when it still has one.
            if let Some(real) = real_path(dirfd, &path, &st) {
                return emulate(p, &real, &argv0, &args, &envp, None, by_kernel);
            }
            // None (a memfd, a deleted file): the new xarch reads it from a
            // descriptor of its own, named as the kernel names the file
            // (/proc/self/exe of a memfd reads "/memfd:NAME (deleted)").
            let Ok(cthrough) = CString::new(through.clone()) else {
                return err(libc::EINVAL);
            };
            // SAFETY: a valid C string; a new descriptor that survives the
            // exec (the new xarch closes it once the program is loaded).
            let fd = unsafe { libc::open(cthrough.as_ptr(), libc::O_RDONLY) };
            if fd < 0 {
                return by_kernel();
            }
            let name = std::fs::read_link(OsStr::from_bytes(&through))
                .map_or(through, |l| l.into_os_string().into_vec());
            let r = emulate(p, &name, &argv0, &args, &envp, Some(fd), by_kernel);
            // SAFETY: the exec failed; the descriptor is ours.
            unsafe { libc::close(fd) };
            r
        }
        Ok(ExecPlan::Emulate {
            prog,
            argv0,
            mut args,
        }) => {
            // A script: its interpreter opens /dev/fd/N after the exec.
            // SAFETY: F_GETFD only reads the descriptor's flags.
            if unsafe { libc::fcntl(dirfd, libc::F_GETFD) } & libc::FD_CLOEXEC != 0 {
                return err(libc::ENOENT);
            }
            for arg in args.iter_mut().filter(|x| **x == through) {
                *arg = devfd.clone();
            }
            emulate(p, &prog, &argv0, &args, &envp, None, by_kernel)
        }
    }
}

/// The path of the file `path` relative to `dirfd` (the descriptor itself
/// when `path` is empty), checked to still be the file `st` describes.
fn real_path(dirfd: i32, path: &[u8], st: &libc::stat) -> Option<Vec<u8>> {
    let dir = std::fs::read_link(format!("/proc/self/fd/{dirfd}")).ok()?;
    let mut real = dir.into_os_string().into_vec();
    if !path.is_empty() {
        real.push(b'/');
        real.extend_from_slice(path);
    }
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(OsStr::from_bytes(&real)).ok()?;
    (m.dev() == st.st_dev && m.ino() == st.st_ino).then_some(real)
}

/// The path that re-executes xarch.
fn self_exe() -> CString {
    let p = OsString::from("/proc/self/exe");
    if std::path::Path::new(&p).exists() {
        return CString::new(p.into_vec()).unwrap_or_default();
    }
    let exe = std::env::current_exe()
        .map(|p| p.into_os_string().into_vec())
        .unwrap_or_default();
    CString::new(exe).unwrap_or_default()
}

/// `setpgid(pid, pgid)`: the host's, but a child that executed a program
/// in this process's stead fails with EACCES, as after a host exec (see
/// `crate::exec_marks`).
pub fn setpgid(_: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    let pid = a[0] as i32;
    // SAFETY: getpid and getsid(0) cannot fail.
    let (me, session) = unsafe { (libc::getpid(), libc::getsid(0)) };
    if pid > 0 && pid != me && crate::exec_marks::executed(pid as i64) {
        // Only for a child of ours in our session (else the host's
        // ESRCH or EPERM comes first).
        // SAFETY: getsid of another process only reads.
        let same_session = unsafe { libc::getsid(pid) } == session;
        if same_session && crate::procfs::host_stat(&pid.to_string(), &[4]) == Some(vec![me as u64])
        {
            return err(libc::EACCES);
        }
    }
    Ret::Val(raw(libc::SYS_setpgid, a))
}
