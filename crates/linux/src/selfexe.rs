//! How an emulated `execve` gets back into xarch.
//!
//! A foreign program's `execve` of another foreign program re-executes
//! xarch. The path `/proc/self/exe` is not always there (a guest may
//! unmount /proc — debootstrap's second stage does — or run in a chroot
//! without it), so xarch keeps an `O_PATH` descriptor of its own binary,
//! opened once at start-up, moved above the guest's usual descriptors
//! and close-on-exec; the re-exec uses `execveat(fd, "", AT_EMPTY_PATH)`
//! and passes the descriptor on (`--self-fd=N`).
//!
//! The guest never sees the descriptor (see `syscall::hidden`): calls on
//! it fail with EBADF, /proc listings omit it, and when the guest wants
//! its number (`dup3` onto it, `F_DUPFD` or `dup` picking it) xarch moves
//! its descriptor elsewhere first.

use std::sync::atomic::{AtomicI32, Ordering};

static SELF_FD: AtomicI32 = AtomicI32::new(-1);

/// In the child of an emulated vfork: the write end of the pipe whose
/// closing (on exec or exit) resumes the parent. Hidden like the self
/// descriptor.
static VFORK_FD: AtomicI32 = AtomicI32::new(-1);

/// The process-wide `--sysroot` directory (see `paths`).
static SYSROOT_FD: AtomicI32 = AtomicI32::new(-1);

/// In the init of a pid namespace started by `xarch run --rootfs`: the
/// socket to the supervisor that carries out its default stop actions
/// (see `signal::stop_namespace_init`).
static JOB_FD: AtomicI32 = AtomicI32::new(-1);

/// xarch's descriptors the guest must not see.
fn slots() -> [&'static AtomicI32; 4] {
    [&SELF_FD, &VFORK_FD, &SYSROOT_FD, &JOB_FD]
}

/// Takes over `fd`, the job control socket the supervisor of `xarch run
/// --rootfs` passes its first process (`--job-control-fd`): moved high,
/// close-on-exec and hidden like the self descriptor. Only the init of
/// the pid namespace keeps it (it is the process the supervisor waits
/// for); anyone else closes it.
pub fn set_job_fd(fd: i32) {
    if fd < 0 || fd == JOB_FD.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: getpid cannot fail.
    let init = unsafe { libc::getpid() } == 1;
    let high = if init { dup_high(fd) } else { -1 };
    // SAFETY: closing the inherited descriptor, which is ours.
    unsafe { libc::close(fd) };
    JOB_FD.store(high.max(-1), Ordering::Relaxed);
}

/// At an in-process exec: the job control socket closes, as its
/// close-on-exec flag closes it at a host exec (which passes it on only
/// from the init).
pub fn exec_job_fd() {
    let fd = JOB_FD.load(Ordering::Relaxed);
    if fd >= 0 && job_fd().is_none() {
        JOB_FD.store(-1, Ordering::Relaxed);
        // SAFETY: closing our own hidden descriptor.
        unsafe { libc::close(fd) };
    }
}

/// The job control socket, in the init of a `--rootfs` pid namespace.
pub fn job_fd() -> Option<i32> {
    let fd = JOB_FD.load(Ordering::Relaxed);
    // SAFETY: getpid cannot fail.
    (fd >= 0 && unsafe { libc::getpid() } == 1).then_some(fd)
}

/// Takes over `fd` (the process-wide sysroot directory): moved high,
/// close-on-exec and hidden like the self descriptor.
pub fn set_sysroot_fd(fd: i32) {
    let high = dup_high(fd);
    if high >= 0 {
        // SAFETY: closing the low duplicate we own.
        unsafe { libc::close(fd) };
    }
    SYSROOT_FD.store(if high >= 0 { high } else { fd }, Ordering::Relaxed);
}

/// The sysroot descriptor set with [`set_sysroot_fd`] (its number changes
/// when the guest takes it).
pub fn sysroot_fd() -> i32 {
    SYSROOT_FD.load(Ordering::Relaxed)
}

/// Lowest descriptor number used for the self descriptor.
const HIGH_FD: i32 = 1000;

fn is_regular(fd: i32) -> bool {
    // SAFETY: fstat writes into a zeroed stat buffer we own.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// Duplicates `fd` close-on-exec to the lowest free number >= HIGH_FD.
/// A guest may have lowered RLIMIT_NOFILE below that: the soft (and, if
/// permitted, the hard) limit is raised for the duration of the call and
/// restored. Returns the new descriptor or -1.
fn dup_high(fd: i32) -> i32 {
    // SAFETY: duplicating a descriptor we own.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, HIGH_FD) };
    if high >= 0 {
        return high;
    }
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into our struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) } != 0 {
        return -1;
    }
    let need = HIGH_FD as libc::rlim_t + 64;
    let raised = libc::rlimit {
        rlim_cur: need.max(old.rlim_cur),
        rlim_max: need.max(old.rlim_max),
    };
    // SAFETY: setting a resource limit from a valid struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return -1;
    }
    // SAFETY: as above.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, HIGH_FD) };
    // SAFETY: restoring the guest's limits (lowering is always allowed).
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
    high
}

/// Sets up the self descriptor: the one inherited from the xarch that
/// executed us (`--self-fd`), else a new one from /proc/self/exe.
pub fn init(inherited: Option<i32>) {
    let fd = match inherited.filter(|&fd| fd >= 0 && is_regular(fd)) {
        Some(fd) => fd,
        None => {
            // SAFETY: opening a path with a valid NUL-terminated string.
            let fd =
                unsafe { libc::open(c"/proc/self/exe".as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
            if fd < 0 {
                return;
            }
            let high = dup_high(fd);
            // SAFETY: closing a descriptor we own.
            unsafe { libc::close(fd) };
            if high < 0 {
                return;
            }
            high
        }
    };
    // SAFETY: setting a flag on our own descriptor.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    SELF_FD.store(fd, Ordering::Relaxed);
}

/// The self descriptor, if there is one.
pub fn fd() -> Option<i32> {
    let fd = SELF_FD.load(Ordering::Relaxed);
    (fd >= 0).then_some(fd)
}

/// Sets (or, with -1, closes) the vfork pipe descriptor, which is moved
/// high, close-on-exec.
pub fn set_vfork_fd(fd: i32) {
    let old = VFORK_FD.swap(-1, Ordering::Relaxed);
    if old >= 0 {
        // SAFETY: closing our own descriptor (a vfork child's pipe, inherited
        // by a child of its own, must not hold the first parent).
        unsafe { libc::close(old) };
    }
    let high = if fd >= 0 { dup_high(fd) } else { -1 };
    if fd >= 0 && high >= 0 {
        // SAFETY: closing the low duplicate we own.
        unsafe { libc::close(fd) };
    }
    VFORK_FD.store(if high >= 0 { high } else { fd }, Ordering::Relaxed);
}

/// The vfork pipe's write end, in a vfork child.
pub fn vfork_fd() -> Option<i32> {
    let fd = VFORK_FD.load(Ordering::Relaxed);
    (fd >= 0).then_some(fd)
}

/// xarch's hidden descriptors that are open.
pub fn hidden() -> impl Iterator<Item = i32> {
    slots()
        .into_iter()
        .map(|s| s.load(Ordering::Relaxed))
        .filter(|&fd| fd >= 0)
}

/// Moves hidden descriptor `fd` off its number, which the guest is about
/// to take. When no other number can be had, xarch gives it up (re-entry
/// then goes through /proc/self/exe).
pub fn vacate(fd: i32) {
    for slot in slots() {
        if slot.load(Ordering::Relaxed) == fd {
            let new = dup_high(fd);
            slot.store(new.max(-1), Ordering::Relaxed);
            // SAFETY: closing our own old descriptor; the guest takes the number.
            unsafe { libc::close(fd) };
        }
    }
}

/// Re-executes xarch through the descriptor: `argv` must not yet contain
/// `--self-fd` (it is inserted after `argv[1]`, the `run` subcommand).
/// Returns only on failure, with the errno.
pub fn reexec(argv: &[std::ffi::CString], envp: &[std::ffi::CString]) -> i32 {
    let fd = match fd() {
        Some(fd) => fd,
        // Given up earlier (see `vacate`): open a new one if /proc allows.
        None => {
            init(None);
            match fd() {
                Some(fd) => fd,
                None => return libc::ENOENT,
            }
        }
    };
    let flag = std::ffi::CString::new(format!("--self-fd={fd}")).unwrap_or_default();
    let mut pa: Vec<*const libc::c_char> = Vec::with_capacity(argv.len() + 2);
    for (i, a) in argv.iter().enumerate() {
        pa.push(a.as_ptr());
        if i == 1 {
            pa.push(flag.as_ptr());
        }
    }
    pa.push(core::ptr::null());
    let mut pe: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    pe.push(core::ptr::null());
    // SAFETY: the descriptor is ours; the arrays are NUL-terminated lists of
    // valid C strings that outlive the call.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, 0);
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            pa.as_ptr(),
            pe.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    let e = std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO);
    // SAFETY: restoring the flag on our own descriptor.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    e
}

/// Lets the descriptors that an emulated exec passes on by number
/// (`--job-control-fd`) survive the exec (`inherit`), or makes them
/// close-on-exec again after a failed one.
pub fn pass_on_exec(inherit: bool) {
    if let Some(fd) = job_fd() {
        let flags = if inherit { 0 } else { libc::FD_CLOEXEC };
        // SAFETY: setting a flag on our own descriptor.
        unsafe { libc::fcntl(fd, libc::F_SETFD, flags) };
    }
}

/// Whether the guest's descriptor argument `fd` (an `int`: the kernel
/// reads the low 32 bits) names one of xarch's hidden descriptors.
pub fn is_hidden(fd: u64) -> bool {
    hidden().any(|s| s == fd as u32 as i32)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Serialises the tests that replace the self descriptor.
    pub(crate) static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn self_descriptor_is_high_and_close_on_exec() {
        let _g = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        init(None);
        let fd = fd().expect("a self descriptor");
        assert!(fd >= HIGH_FD);
        // SAFETY: reading the flags of our own descriptor.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        assert!(is_hidden(fd as u64));
        assert!(is_hidden(fd as u64 | 0xffff_ffff_0000_0000));
        // An inherited descriptor is adopted as is.
        init(Some(fd));
        assert_eq!(super::fd(), Some(fd));
    }
}
