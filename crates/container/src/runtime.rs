//! Starting a container: clone(2) into new namespaces, map ids when
//! rootless, set up the root filesystem and stdio in the child, exec the
//! command (through the emulator when it is foreign), then supervise it
//! from the parent (signals forwarded, pty copied, exit status returned).
//!
//! [`run`] forks with a raw clone(2): call it while the process has one
//! thread (or its other threads are idle), as the xarch CLI does.

use crate::error::{Error, Result};
use crate::exec::{Emulator, exec_plan, find_program};
use crate::options::{Network, RunOptions, Volume};
use crate::process::{DEFAULT_PATH, ImageDefaults, ProcessSpec};
use crate::rootfs::{
    HostTerminal, MountPlan, Overlay, set_credentials, set_credentials_keeping_caps,
};
use crate::syscall::{LinuxSyscall, Syscall};
use nix::errno::Errno;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use std::convert::Infallible;
use std::ffi::CString;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// A container ready to start.
#[derive(Debug, Clone)]
pub struct Container {
    /// Container id (hex).
    pub id: String,
    /// Prepared root filesystem (a writable view: mount points are created in it).
    pub rootfs: PathBuf,
    /// The first process.
    pub process: ProcessSpec,
    /// Hostname inside the container.
    pub hostname: String,
    /// Bind mounts.
    pub volumes: Vec<Volume>,
    /// Network namespace choice.
    pub network: Network,
    /// Allocate a pseudo-terminal.
    pub tty: bool,
    /// Pass stdin to the container (else it reads /dev/null).
    pub interactive: bool,
    /// Directory for the generated /etc/hosts, /etc/resolv.conf, /etc/hostname.
    pub state_dir: PathBuf,
    /// How foreign programs are started.
    pub emulator: Emulator,
    /// Keep every capability (`xarch run --rootfs`, a chroot-like run as
    /// root) instead of podman's default bounding set.
    pub all_capabilities: bool,
    /// Without a pty of its own (`tty` false) and with a terminal as
    /// standard input, the first process stays in the caller's session with
    /// that terminal as its controlling terminal and becomes its foreground
    /// process group, as a program started by `chroot` would (`xarch run
    /// --rootfs`: `bash -i` gets job control). Otherwise it starts a new
    /// session without a controlling terminal, as podman's do.
    pub keep_terminal: bool,
    /// When set, `rootfs` is an empty mount point on which this overlay is
    /// mounted inside the container's mount namespace.
    pub overlay: Option<Overlay>,
}

impl Container {
    /// Resolves a container from the image's defaults and the run options.
    /// `state_dir` receives the generated /etc files; `host_env` answers
    /// `-e NAME` without a value.
    pub fn new(
        id: &str,
        rootfs: &Path,
        image: &ImageDefaults,
        opts: &RunOptions,
        state_dir: &Path,
        host_env: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self> {
        if !rootfs.is_dir() {
            return Err(Error::BadRootfs(rootfs.into()));
        }
        let hostname = match (&opts.hostname, opts.network) {
            (Some(h), _) => h.clone(),
            (None, _) => id.chars().take(12).collect(),
        };
        let process = ProcessSpec::resolve(image, opts, rootfs, &hostname, host_env)?;
        Ok(Container {
            id: id.into(),
            rootfs: rootfs.into(),
            process,
            hostname,
            volumes: opts.volumes.clone(),
            network: opts.network,
            tty: opts.tty,
            interactive: opts.interactive,
            state_dir: state_dir.into(),
            emulator: Emulator::default(),
            all_capabilities: false,
            keep_terminal: false,
            overlay: None,
        })
    }

    /// Runs on a copy-on-write view instead: `overlay` (whose lower
    /// directory is the root this container was resolved against) is
    /// mounted on the empty directory `merged` by the container's first
    /// process, in its new mount namespace, before anything else is
    /// mounted. The view is never visible on the host and disappears with
    /// the container; the changes stay in `overlay.upper`.
    pub fn on_overlay(mut self, overlay: Overlay, merged: &Path) -> Self {
        self.rootfs = merged.into();
        self.overlay = Some(overlay);
        self
    }
}

/// Where per-container files live: `$XARCH_STATE/containers`, else
/// /run/xarch/containers as root, else `$XDG_RUNTIME_DIR/xarch/containers`,
/// else under the temporary directory.
pub fn default_state_root() -> PathBuf {
    let base = if let Some(d) = std::env::var_os("XARCH_STATE") {
        PathBuf::from(d)
    } else if nix::unistd::geteuid().is_root() {
        PathBuf::from("/run/xarch")
    } else if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
        PathBuf::from(d).join("xarch")
    } else {
        std::env::temp_dir().join(format!("xarch-{}", nix::unistd::geteuid()))
    };
    base.join("containers")
}

/// A new random container id: 64 hex digits, like podman's.
pub fn new_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if ok.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..16].copy_from_slice(&(t ^ u128::from(std::process::id())).to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The standard streams the container is attached to.
#[derive(Debug)]
pub struct Stdio {
    /// Standard input.
    pub stdin: OwnedFd,
    /// Standard output.
    pub stdout: OwnedFd,
    /// Standard error.
    pub stderr: OwnedFd,
}

impl Stdio {
    /// Duplicates this process's own fds 0, 1 and 2.
    pub fn inherit() -> Result<Self> {
        let dup = |fd: RawFd| {
            // SAFETY: 0, 1 and 2 stay open for the life of the process; the
            // borrow only lives for the dup.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            fd.try_clone_to_owned()
                .map_err(|e| Error::io("duplicating stdio", "/dev/stdin", e))
        };
        Ok(Stdio {
            stdin: dup(0)?,
            stdout: dup(1)?,
            stderr: dup(2)?,
        })
    }
}

/// Signals the parent passes on to the container's first process.
const FORWARDED: [Signal; 7] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGTERM,
];

static CHILD_PID: AtomicI32 = AtomicI32::new(0);
static WINCH_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = CHILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and takes plain integers.
        unsafe { libc::kill(pid, sig) };
    }
}

extern "C" fn note_winch(_sig: libc::c_int) {
    let fd = WINCH_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the buffer is a static byte.
        unsafe { libc::write(fd, b"w".as_ptr().cast(), 1) };
    }
}

/// Runs the container to completion and returns its exit status as podman
/// reports it: the exit code, or 128+N when killed by signal N.
pub fn run(c: &Container, stdio: Stdio) -> Result<i32> {
    let user_namespace = !nix::unistd::geteuid().is_root();
    write_etc_files(c)?;
    let mut plan = match &c.overlay {
        Some(o) => MountPlan::on_overlay(
            o,
            &c.rootfs,
            &c.state_dir,
            &c.volumes,
            &c.process.cwd,
            user_namespace,
        )?,
        None => MountPlan::new(
            &c.rootfs,
            &c.state_dir,
            &c.volumes,
            &c.process.cwd,
            user_namespace,
        )?,
    };
    let stdin = if c.interactive {
        stdio
            .stdin
            .try_clone()
            .map_err(|e| Error::io("duplicating stdin", "stdin", e))?
    } else {
        std::fs::File::open("/dev/null")
            .map_err(|e| Error::io("opening", "/dev/null", e))?
            .into()
    };
    let foreground = c.keep_terminal && !c.tty && c.interactive && in_foreground(&stdin);
    if c.keep_terminal && !c.tty {
        let fds = [stdin.as_fd(), stdio.stdout.as_fd(), stdio.stderr.as_fd()];
        plan.terminal = HostTerminal::of(&fds, user_namespace);
    }
    let (parent_sock, child_sock) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("socketpair", e))?;
    // Job control of a program that keeps the caller's terminal: its first
    // process (a pid namespace's init, which the kernel never stops from
    // inside) has the supervisor stop it through this socket (Ctrl-Z).
    let job = if c.keep_terminal && !c.tty {
        Some(
            socketpair(
                AddressFamily::Unix,
                SockType::SeqPacket,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .map_err(|e| Error::sys("socketpair", e))?,
        )
    } else {
        None
    };

    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if c.network == Network::None {
        flags |= libc::CLONE_NEWNET;
    }
    if user_namespace {
        flags |= libc::CLONE_NEWUSER;
    }
    // SAFETY: a fork-style clone (no new stack, no CLONE_VM): the child gets
    // a copy-on-write copy of this single-threaded process, like fork(2),
    // and never returns from `child_main`.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::c_long::from(flags | libc::SIGCHLD),
            0,
            0,
            0,
            0,
        )
    };
    if pid < 0 {
        let errno = Errno::last();
        let hint = if errno == Errno::EPERM || errno == Errno::EINVAL || errno == Errno::ENOSPC {
            " (are user namespaces disabled? see /proc/sys/user/max_user_namespaces)"
        } else {
            ""
        };
        return Err(Error::sys(format!("clone (new namespaces){hint}"), errno));
    }
    if pid == 0 {
        drop(parent_sock);
        let fds = [
            stdin.as_raw_fd(),
            stdio.stdout.as_raw_fd(),
            stdio.stderr.as_raw_fd(),
        ];
        let job = job.as_ref().map(|(_, child)| child);
        let err = match child_main(c, &plan, &child_sock, fds, job, user_namespace, foreground) {
            Err(e) => e,
            Ok(never) => match never {},
        };
        let kind = if matches!(err, Error::Overlay(_)) {
            b'O'
        } else {
            b'E'
        };
        let mut msg = vec![kind, err.exit_status()];
        let text = match &err {
            Error::NotFound(text)
            | Error::NotExecutable(text)
            | Error::Setup(text)
            | Error::Overlay(text) => text.clone(),
            e => e.to_string(),
        };
        msg.extend_from_slice(text.as_bytes());
        let _ = sendmsg::<()>(
            child_sock.as_raw_fd(),
            &[IoSlice::new(&msg)],
            &[],
            MsgFlags::empty(),
            None,
        );
        // SAFETY: _exit ends the child without running the parent's exit
        // handlers or flushing buffers that belong to the parent.
        unsafe { libc::_exit(i32::from(err.exit_status())) };
    }
    let pid = Pid::from_raw(pid as i32);
    drop(child_sock);
    drop(stdin);
    let job = job.map(|(parent, _)| parent);
    let terminal = foreground.then(|| stdio.stdin.as_raw_fd());
    let result = supervise(c, pid, &parent_sock, stdio, user_namespace, terminal, job);
    if result.is_err() {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    }
    result
}

/// The parent's side: id maps, start signal, set-up result, then I/O and
/// signals until the child exits.
fn supervise(
    c: &Container,
    pid: Pid,
    sock: &OwnedFd,
    stdio: Stdio,
    user_namespace: bool,
    terminal: Option<RawFd>,
    job: Option<OwnedFd>,
) -> Result<i32> {
    if user_namespace {
        write_id_maps(pid)?;
    }
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(b"G")],
        &[],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::sys("starting the container", e))?;

    // Wait for the child to exec (the socket closes on exec) or fail.
    let mut master: Option<OwnedFd> = None;
    loop {
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let msg = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("waiting for the container", e)),
            Ok(m) => m,
        };
        let n = msg.bytes;
        let mut fds = Vec::new();
        for cm in msg
            .cmsgs()
            .map_err(|e| Error::sys("reading control message", e))?
        {
            if let ControlMessageOwned::ScmRights(r) = cm {
                fds.extend(r);
            }
        }
        if n == 0 {
            break;
        }
        match buf[0] {
            b'T' => {
                // SAFETY: SCM_RIGHTS installed this fd in our table; we own it.
                master = fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) });
            }
            kind @ (b'E' | b'O') => {
                let _ = waitpid(pid, None);
                let text = String::from_utf8_lossy(buf.get(2..n).unwrap_or_default()).into_owned();
                return Err(match buf.get(1) {
                    _ if kind == b'O' => Error::Overlay(text),
                    Some(127) => Error::NotFound(text),
                    Some(126) => Error::NotExecutable(text),
                    _ => Error::Setup(text),
                });
            }
            _ => {}
        }
    }
    CHILD_PID.store(pid.as_raw(), Ordering::SeqCst);
    let forward = SigAction::new(
        SigHandler::Handler(forward_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let mut old = Vec::new();
    for sig in FORWARDED {
        // SAFETY: the handler only calls kill(2), which is async-signal-safe.
        if let Ok(prev) = unsafe { sigaction(sig, &forward) } {
            old.push((sig, prev));
        }
    }
    if let Some(j) = &job {
        start_job_control(j, pid, &mut old);
    }
    // The terminal the child took as foreground (it is kept open here).
    let terminal = terminal.and_then(|fd| {
        // SAFETY: `fd` is stdio's stdin, open until `stdio` is dropped; the
        // duplicate is ours.
        unsafe { BorrowedFd::borrow_raw(fd) }
            .try_clone_to_owned()
            .ok()
    });
    let copied = match (&master, c.tty) {
        (Some(m), true) => copy_tty(m, &stdio, c.interactive),
        _ => {
            drop(stdio);
            Ok(())
        }
    };
    let wait_flags =
        (terminal.is_some() || job.is_some()).then_some(nix::sys::wait::WaitPidFlag::WUNTRACED);
    let status = loop {
        match waitpid(pid, wait_flags) {
            Err(Errno::EINTR) => continue,
            Err(e) => break Err(Error::sys("waitpid", e)),
            Ok(WaitStatus::Exited(_, code)) => break Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => break Ok(128 + sig as i32),
            Ok(WaitStatus::Stopped(_, sig)) => {
                // The stop signal the job got (the child itself was
                // stopped with SIGSTOP for it), else the one reported.
                let asked = STOP_SIG.swap(0, Ordering::SeqCst);
                let sig = Signal::try_from(asked).unwrap_or(sig);
                stop_with_child(terminal.as_ref(), pid, sig);
                if let Some(j) = &job {
                    // Continued: the requests of the child's init return.
                    for _ in 0..ACKS.swap(0, Ordering::SeqCst) {
                        let _ = nix::sys::socket::send(
                            j.as_raw_fd(),
                            b"c",
                            MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
                        );
                    }
                }
                continue;
            }
            Ok(_) => continue,
        }
    };
    if let Some(t) = &terminal {
        // The caller's group gets its terminal back.
        set_foreground(t, nix::unistd::getpgrp());
    }
    CHILD_PID.store(0, Ordering::SeqCst);
    JOB_FD.store(-1, Ordering::SeqCst);
    for (sig, prev) in old {
        // SAFETY: restores the disposition that was in place before.
        let _ = unsafe { sigaction(sig, &prev) };
    }
    copied?;
    status
}

fn write_id_maps(pid: Pid) -> Result<()> {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let proc = PathBuf::from(format!("/proc/{pid}"));
    for (file, text) in [
        ("setgroups", "deny".to_string()),
        ("uid_map", format!("0 {uid} 1")),
        ("gid_map", format!("0 {gid} 1")),
    ] {
        let path = proc.join(file);
        std::fs::write(&path, text).map_err(|e| Error::io("writing", path, e))?;
    }
    Ok(())
}

/// Writes the files bind-mounted over /etc/hosts, /etc/resolv.conf and
/// /etc/hostname.
fn write_etc_files(c: &Container) -> Result<()> {
    let dir = &c.state_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    let h = &c.hostname;
    let mut hosts =
        String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    hosts.push_str(&format!("127.0.1.1\t{h}\n"));
    let resolv = match c.network {
        Network::Host => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        Network::None => String::new(),
    };
    for (name, text) in [
        ("hosts", hosts),
        ("resolv.conf", resolv),
        ("hostname", format!("{h}\n")),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io("writing", &path, e))?;
        let perms = std::os::unix::fs::PermissionsExt::from_mode(0o644);
        std::fs::set_permissions(&path, perms).map_err(|e| Error::io("chmod", &path, e))?;
    }
    Ok(())
}

/// The container's first process, between clone and exec.
fn child_main(
    c: &Container,
    plan: &MountPlan,
    sock: &OwnedFd,
    stdio: [RawFd; 3],
    job: Option<&OwnedFd>,
    user_namespace: bool,
    foreground: bool,
) -> Result<Infallible> {
    // SAFETY: prctl with integer arguments; the child dies with its supervisor.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    let mut go = [0u8; 1];
    match nix::unistd::read(sock, &mut go) {
        Ok(1) => {}
        _ => return Err(Error::Setup("the supervisor went away".into())),
    }
    let sys = LinuxSyscall;
    sys.sethostname(&c.hostname)?;
    if c.network == Network::None {
        loopback_up()?;
    }
    plan.apply(&sys)?;

    if foreground {
        // Stay in the caller's session, in a process group of our own
        // that the terminal (our standard input) serves.
        nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))
            .map_err(|e| Error::sys("setpgid", e))?;
        // SAFETY: the caller keeps `stdio[0]` open until we exec.
        let tty = unsafe { BorrowedFd::borrow_raw(stdio[0]) };
        if !set_foreground(&tty, nix::unistd::getpgrp()) {
            return Err(Error::sys("tcsetpgrp", Errno::last()));
        }
    } else if !(c.keep_terminal && !c.tty && c.interactive && is_terminal(stdio[0])) {
        // (A caller in the background keeps its group and session: the
        // program is a background job of the caller's shell, as natively.)
        nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
    }
    if c.tty {
        let (master, slave) = open_pty()?;
        // SAFETY: TIOCSCTTY takes an integer argument; the slave is open.
        if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
            return Err(Error::sys("TIOCSCTTY", Errno::last()));
        }
        let fd = [master.as_raw_fd()];
        sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(b"T")],
            &[ControlMessage::ScmRights(&fd)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| Error::sys("passing the pty", e))?;
        drop(master);
        let s = slave.as_raw_fd();
        install_stdio([s, s, s])?;
    } else {
        install_stdio(stdio)?;
    }

    let p = &c.process;
    if c.all_capabilities {
        set_credentials_keeping_caps(&sys, p.uid, p.gid, &p.additional_gids, user_namespace)?;
    } else {
        set_credentials(&sys, p.uid, p.gid, &p.additional_gids, user_namespace)?;
    }
    nix::unistd::chdir(Path::new(&p.cwd)).map_err(|e| Error::sys(format!("chdir {}", p.cwd), e))?;

    let path_var = p.env_var("PATH").unwrap_or(DEFAULT_PATH);
    let program = find_program(&p.args[0], path_var, Path::new("/"))?;
    let (exe, mut argv) = exec_plan(&program, &p.args, &c.emulator, Path::new("/"));
    // The emulator (`xarch run ...`) gets the job control socket.
    let job = job.filter(|_| exe != program && argv.get(1).is_some_and(|a| a == "run"));
    if let Some(j) = job {
        argv.insert(2, format!("--job-control-fd={}", j.as_raw_fd()));
    }
    reset_signals();
    // SAFETY: CLOSE_RANGE_CLOEXEC only sets flags on our own fds >= 3 so
    // nothing of xarch leaks into the container.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if let Some(j) = job {
        // SAFETY: clearing close-on-exec on our own socket.
        unsafe { libc::fcntl(j.as_raw_fd(), libc::F_SETFD, 0) };
    }
    let cstr = |s: &str| {
        CString::new(s).map_err(|_| Error::Setup(format!("argument with a NUL byte: {s:?}")))
    };
    let exe_c = cstr(&exe.to_string_lossy())?;
    let argv_c = argv.iter().map(|a| cstr(a)).collect::<Result<Vec<_>>>()?;
    let env_c = p.env.iter().map(|e| cstr(e)).collect::<Result<Vec<_>>>()?;
    let errno = nix::unistd::execve(&exe_c, &argv_c, &env_c).unwrap_err();
    Err(match errno {
        e if exe != program => Error::Setup(format!(
            "cannot start the emulator {} for foreign program {}: {e} (it must be a static binary)",
            exe.display(),
            program.display()
        )),
        Errno::ENOENT => Error::NotFound(p.args[0].clone()),
        Errno::EACCES | Errno::ENOEXEC | Errno::EPERM => Error::NotExecutable(p.args[0].clone()),
        e => Error::sys(format!("execve {}", exe.display()), e),
    })
}

/// Whether `fd` is a terminal.
fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Whether `fd` is this process's controlling terminal and this process's
/// group is its foreground group.
fn in_foreground(fd: &impl AsFd) -> bool {
    nix::unistd::tcgetpgrp(fd).is_ok_and(|g| g == nix::unistd::getpgrp())
}

/// Makes `pgrp` the foreground group of terminal `tty`, from the
/// background too (SIGTTOU is blocked for the call, as shells do).
fn set_foreground(tty: &impl AsFd, pgrp: Pid) -> bool {
    let mut ttou = SigSet::empty();
    ttou.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&ttou),
        Some(&mut old),
    );
    let ok = nix::unistd::tcsetpgrp(tty, pgrp).is_ok();
    let _ =
        nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&old), None);
    ok
}

/// The child was stopped for `sig` (Ctrl-Z): stop the supervisor too,
/// with the same signal, so that the caller's shell sees its job stop (as
/// "Stopped", "Stopped (tty input)"...) and, when the child is the
/// foreground job on `tty`, gets the terminal back; when continued in the
/// foreground (`fg`), hand the terminal back to the child's group; then
/// continue the child and its group.
fn stop_with_child(tty: Option<&OwnedFd>, child: Pid, sig: Signal) {
    let own = nix::unistd::getpgrp();
    if let Some(tty) = tty {
        set_foreground(tty, own);
    }
    // With its default action (the job control handlers catch it). In an
    // orphaned group the kernel discards a stop signal but SIGSTOP: we
    // then go on at once, as the program would natively.
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_DFL, then putting back what was there.
    let prev = (sig != Signal::SIGSTOP)
        .then(|| unsafe { sigaction(sig, &dfl) }.ok())
        .flatten();
    let _ = nix::sys::signal::kill(nix::unistd::getpid(), sig);
    // Continued.
    if let Some(prev) = prev {
        // SAFETY: restores the handler replaced above.
        let _ = unsafe { sigaction(sig, &prev) };
    }
    if let Some(tty) = tty
        && in_foreground(tty)
    {
        set_foreground(tty, child);
    }
    match nix::unistd::getpgid(Some(child)) {
        // Our group was continued with us (and the child with it).
        Ok(g) if g == own => {
            let _ = nix::sys::signal::kill(child, Signal::SIGCONT);
        }
        _ => {
            let _ = nix::sys::signal::killpg(child, Signal::SIGCONT);
        }
    }
}

/// The stop signal the job got, for which the supervisor stopped the
/// child (0: none).
static STOP_SIG: AtomicI32 = AtomicI32::new(0);
/// The supervisor's end of the job control socket (-1: none).
static JOB_FD: AtomicI32 = AtomicI32::new(-1);
/// Stop requests of the child not answered yet.
static ACKS: AtomicI32 = AtomicI32::new(0);
/// The child is in the supervisor's process group (it then gets the
/// terminal's stop signals the supervisor gets).
static SHARED_GROUP: AtomicBool = AtomicBool::new(false);

/// Stops the child for `sig`; the main loop then stops the supervisor
/// (see `stop_with_child`). Async-signal-safe.
fn stop_child_for(sig: libc::c_int) {
    let pid = CHILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        STOP_SIG.store(sig, Ordering::SeqCst);
        // SAFETY: kill(2) is async-signal-safe and takes plain integers.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
    }
}

/// SIGIO: the child's init asks to be stopped for the stop signal in each
/// message (see xarch_linux's `signal::stop_namespace_init`).
extern "C" fn on_job_request(_sig: libc::c_int) {
    let fd = JOB_FD.load(Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    let mut req = [0u8; 1];
    // SAFETY: recv(2) into a live buffer, non-blocking; async-signal-safe.
    while unsafe { libc::recv(fd, req.as_mut_ptr().cast(), 1, libc::MSG_DONTWAIT) } == 1 {
        ACKS.fetch_add(1, Ordering::SeqCst);
        stop_child_for(libc::c_int::from(req[0]));
    }
}

/// SIGTSTP, SIGTTIN, SIGTTOU sent to the supervisor (`kill -TSTP %1`, or
/// Ctrl-Z when the child is in a session of its own) stop the job. When
/// the child shares our group it got the same signal and asks itself.
extern "C" fn on_stop_signal(sig: libc::c_int) {
    if !SHARED_GROUP.load(Ordering::SeqCst) {
        stop_child_for(sig);
    }
}

/// Installs the job control handlers (their previous dispositions are
/// pushed on `old`) and starts taking requests on `job`.
fn start_job_control(job: &OwnedFd, child: Pid, old: &mut Vec<(Signal, SigAction)>) {
    let shared = nix::unistd::getpgid(Some(child)).is_ok_and(|g| g == nix::unistd::getpgrp());
    SHARED_GROUP.store(shared, Ordering::SeqCst);
    JOB_FD.store(job.as_raw_fd(), Ordering::SeqCst);
    let handlers: [(Signal, extern "C" fn(libc::c_int)); 4] = [
        (Signal::SIGIO, on_job_request),
        (Signal::SIGTSTP, on_stop_signal),
        (Signal::SIGTTIN, on_stop_signal),
        (Signal::SIGTTOU, on_stop_signal),
    ];
    for (sig, handler) in handlers {
        let action = SigAction::new(
            SigHandler::Handler(handler),
            SaFlags::SA_RESTART,
            SigSet::all(),
        );
        // SAFETY: the handlers only use atomics, recv(2) and kill(2).
        if let Ok(prev) = unsafe { sigaction(sig, &action) } {
            old.push((sig, prev));
        }
    }
    // SIGIO to us when a request arrives.
    // SAFETY: fcntl on our own socket with integer arguments.
    unsafe {
        libc::fcntl(job.as_raw_fd(), libc::F_SETOWN, libc::getpid());
        libc::fcntl(
            job.as_raw_fd(),
            libc::F_SETFL,
            libc::O_ASYNC | libc::O_NONBLOCK,
        );
    }
    // Requests sent before.
    on_job_request(libc::SIGIO);
}

/// A pty pair from the container's own devpts (so `tty` prints /dev/pts/0).
fn open_pty() -> Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| Error::sys("open /dev/ptmx", e))?;
    nix::pty::grantpt(&master).map_err(|e| Error::sys("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| Error::sys("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| Error::sys("ptsname", e))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys(format!("open {name}"), e))?;
    // SAFETY: into_raw_fd hands over posix_openpt's open fd, now owned only here.
    let master = unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(master)) };
    Ok((master, slave))
}

/// Makes `fds` the process's 0, 1 and 2 (any overlap handled by first
/// moving them above 2).
fn install_stdio(fds: [RawFd; 3]) -> Result<()> {
    let mut high = [0; 3];
    for (i, fd) in fds.iter().enumerate() {
        // SAFETY: F_DUPFD_CLOEXEC duplicates an open fd; no memory involved.
        high[i] = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
        if high[i] < 0 {
            return Err(Error::sys("dup stdio", Errno::last()));
        }
    }
    for (i, fd) in high.iter().enumerate() {
        // SAFETY: dup2 onto 0/1/2 replaces our own standard streams.
        if unsafe { libc::dup2(*fd, i as RawFd) } < 0 {
            return Err(Error::sys("dup2 stdio", Errno::last()));
        }
    }
    Ok(())
}

/// Default dispositions and an empty mask for the new program (Rust ignores
/// SIGPIPE, and ignored signals survive exec).
fn reset_signals() {
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
            // SAFETY: installing SIG_DFL has no handler to be unsafe in.
            let _ = unsafe { sigaction(sig, &dfl) };
        }
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        None,
    );
}

/// Brings `lo` up in a new network namespace.
fn loopback_up() -> Result<()> {
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::sys("socket", Errno::last()));
    }
    // SAFETY: socket returned a new fd that we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write `req`, which lives
    // across the calls; ifru_flags is the member these requests use.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(Error::sys("SIOCGIFFLAGS lo", Errno::last()));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(Error::sys("SIOCSIFFLAGS lo", Errno::last()));
        }
    }
    Ok(())
}

fn winsize_of(fd: BorrowedFd<'_>) -> Option<libc::winsize> {
    // SAFETY: winsize is plain old data; TIOCGWINSZ fills it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: `ws` outlives the call.
    (unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } == 0).then_some(ws)
}

fn copy_winsize(stdio: &Stdio, master: &OwnedFd) {
    if let Some(ws) = winsize_of(stdio.stdin.as_fd()).or_else(|| winsize_of(stdio.stdout.as_fd())) {
        // SAFETY: `ws` outlives the call; TIOCSWINSZ only reads it.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
}

/// Copies between the user's terminal (or pipes) and the container's pty
/// until the container side closes.
fn copy_tty(master: &OwnedFd, stdio: &Stdio, interactive: bool) -> Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::termios;
    copy_winsize(stdio, master);
    let raw = if interactive {
        termios::tcgetattr(&stdio.stdin).ok().inspect(|saved| {
            let mut t = saved.clone();
            termios::cfmakeraw(&mut t);
            let _ = termios::tcsetattr(&stdio.stdin, termios::SetArg::TCSANOW, &t);
        })
    } else {
        None
    };
    let (wake_r, wake_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
            .map_err(|e| Error::sys("pipe", e))?;
    WINCH_FD.store(wake_w.as_raw_fd(), Ordering::SeqCst);
    let winch = SigAction::new(
        SigHandler::Handler(note_winch),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only calls write(2), which is async-signal-safe.
    let old_winch = unsafe { sigaction(Signal::SIGWINCH, &winch) }.ok();

    let mut stdin_open = interactive;
    let mut buf = [0u8; 8192];
    let result = loop {
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake_r.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdio.stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => break Err(Error::sys("poll", e)),
            Ok(_) => {}
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (m_ready, w_ready, i_ready) = (ready(0), ready(1), ready(2));
        drop(fds);
        if w_ready {
            let _ = nix::unistd::read(&wake_r, &mut buf);
            copy_winsize(stdio, master);
        }
        if m_ready {
            match nix::unistd::read(master, &mut buf) {
                Ok(0) | Err(Errno::EIO) => break Ok(()),
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(e) => break Err(Error::sys("reading the pty", e)),
                Ok(n) => {
                    if write_all(stdio.stdout.as_fd(), &buf[..n]).is_err() {
                        break Ok(());
                    }
                }
            }
        }
        if i_ready {
            match nix::unistd::read(&stdio.stdin, &mut buf) {
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Ok(0) | Err(_) => {
                    // End of input: the terminal's end-of-file character,
                    // so a reader in canonical mode sees EOF.
                    stdin_open = false;
                    let _ = write_all(master.as_fd(), &[4]);
                }
                Ok(n) => {
                    let _ = write_all(master.as_fd(), &buf[..n]);
                }
            }
        }
    };
    WINCH_FD.store(-1, Ordering::SeqCst);
    if let Some(old) = old_winch {
        // SAFETY: restores the previous disposition.
        let _ = unsafe { sigaction(Signal::SIGWINCH, &old) };
    }
    if let Some(saved) = raw {
        let _ = termios::tcsetattr(&stdio.stdin, termios::SetArg::TCSANOW, &saved);
    }
    result
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(n) => data = &data[n..],
        }
    }
    Ok(())
}
