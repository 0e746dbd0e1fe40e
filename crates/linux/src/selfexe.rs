//! How an emulated `execve` gets back into xarch.
//!
//! A foreign program's `execve` of another foreign program re-executes
//! xarch. The path `/proc/self/exe` is not always there (a guest may
//! unmount /proc — debootstrap's second stage does — or run in a chroot
//! without it), so xarch keeps an `O_PATH` descriptor of its own binary,
//! opened once at start-up, moved above the guest's usual descriptors
//! and close-on-exec; the re-exec uses `execveat(fd, "", AT_EMPTY_PATH)`
//! and passes the descriptor on (`--self-fd=N`). The guest cannot close
//! it by accident: `close` and `close_range` leave it alone.

use std::sync::atomic::{AtomicI32, Ordering};

static SELF_FD: AtomicI32 = AtomicI32::new(-1);

/// Lowest descriptor number used for the self descriptor.
const HIGH_FD: i32 = 1000;

fn is_regular(fd: i32) -> bool {
    // SAFETY: fstat writes into a zeroed stat buffer we own.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG
    }
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
            // SAFETY: duplicating and closing a descriptor we own.
            let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, HIGH_FD) };
            // SAFETY: as above.
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

/// Re-executes xarch through the descriptor: `argv` must not yet contain
/// `--self-fd` (it is inserted after `argv[1]`, the `run` subcommand).
/// Returns only on failure, with the errno.
pub fn reexec(argv: &[std::ffi::CString], envp: &[std::ffi::CString]) -> i32 {
    let Some(fd) = fd() else {
        return libc::ENOENT;
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

/// `close(fd)` for the guest: the self descriptor stays open (the guest
/// never opened it; it is told the close succeeded).
pub fn protects(fd: u64) -> bool {
    self::fd().is_some_and(|s| s as u64 == fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_descriptor_is_high_and_close_on_exec() {
        init(None);
        let fd = fd().expect("a self descriptor");
        assert!(fd >= HIGH_FD);
        // SAFETY: reading the flags of our own descriptor.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        assert!(protects(fd as u64));
        // An inherited descriptor is adopted as is.
        init(Some(fd));
        assert_eq!(super::fd(), Some(fd));
    }
}
