//! `--sysroot DIR` (like `qemu -L`): absolute paths the guest names are
//! looked up under DIR first and fall back to the host's own file when DIR
//! has no such file. `/proc`, `/dev` and `/sys` always mean the host's.
//!
//! Lookups under DIR resolve symbolic links inside DIR
//! (`openat2(RESOLVE_IN_ROOT)`), so an arm64 root file system's absolute
//! links (`/lib/ld-linux-aarch64.so.1 -> /lib/aarch64-linux-gnu/...`)
//! stay inside it. The sysroot is process-wide: it is set once when the
//! guest is loaded and passed on through execve.
//!
//! The system call dispatcher rewrites path arguments before the handler
//! runs ([`translate_args`]): a translated path is a host string kept in a
//! per-thread scratch list, which [`crate::syscall::guest_cstr`] also
//! reads, so handlers that inspect paths see the host path.

use std::cell::RefCell;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// An open sysroot directory.
#[derive(Debug)]
pub struct Sysroot {
    /// Its canonical host path.
    pub dir: PathBuf,
    fd: DirFd,
}

/// Where a sysroot's directory descriptor is.
#[derive(Debug)]
enum DirFd {
    Owned(OwnedFd),
    /// The process-wide sysroot's, hidden from the guest (see `selfexe`).
    Hidden,
}

static SYSROOT: OnceLock<Option<Sysroot>> = OnceLock::new();

thread_local! {
    static SCRATCH: RefCell<Vec<CString>> = const { RefCell::new(Vec::new()) };
}

/// Sets the process-wide sysroot (first call wins). Fails if DIR is not a
/// directory that can be opened.
pub fn set_sysroot(dir: Option<&Path>) -> std::io::Result<()> {
    let root = match dir {
        None => None,
        Some(d) => Some(Sysroot::open_hidden(d)?),
    };
    let _ = SYSROOT.set(root);
    Ok(())
}

/// The process-wide sysroot, if any.
pub fn sysroot() -> Option<&'static Sysroot> {
    SYSROOT.get().and_then(Option::as_ref)
}

/// Whether `guest` is a path that always means the host's file.
fn host_only(guest: &[u8]) -> bool {
    let rest = guest.trim_ascii_start();
    let rest = match rest.iter().position(|&b| b != b'/') {
        Some(i) => &rest[i..],
        None => return true, // "/" itself: the host's root
    };
    let first = rest.split(|&b| b == b'/').next().unwrap_or_default();
    matches!(first, b"proc" | b"dev" | b"sys")
}

impl Sysroot {
    /// Opens DIR.
    pub fn open(dir: &Path) -> std::io::Result<Sysroot> {
        let dir = dir.canonicalize()?;
        if !dir.is_dir() {
            return Err(std::io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        let c = CString::new(dir.as_os_str().as_bytes())?;
        // SAFETY: a valid C string; the result is checked.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Sysroot {
            dir,
            fd: DirFd::Owned(fd),
        })
    }

    /// Opens DIR as the process-wide sysroot, whose descriptor the guest
    /// must not see or close.
    fn open_hidden(dir: &Path) -> std::io::Result<Sysroot> {
        let mut r = Sysroot::open(dir)?;
        if let DirFd::Owned(fd) = std::mem::replace(&mut r.fd, DirFd::Hidden) {
            crate::selfexe::set_sysroot_fd(std::os::fd::IntoRawFd::into_raw_fd(fd));
        }
        Ok(r)
    }

    fn raw_fd(&self) -> i32 {
        match &self.fd {
            DirFd::Owned(fd) => fd.as_raw_fd(),
            DirFd::Hidden => crate::selfexe::sysroot_fd(),
        }
    }

    /// The host path for the absolute guest path `guest` when it exists
    /// under the sysroot (`follow`: whether a final symbolic link is
    /// followed, as the system call would); `None` means "use the path as
    /// it is".
    pub fn host_path(&self, guest: &[u8], follow: bool) -> Option<CString> {
        if !guest.starts_with(b"/") || host_only(guest) {
            return None;
        }
        let c = CString::new(guest).ok()?;
        // struct open_how: flags, mode, resolve.
        let mut how: [u64; 3] = [
            (libc::O_PATH | libc::O_CLOEXEC) as u64,
            0,
            libc::RESOLVE_IN_ROOT,
        ];
        if !follow {
            how[0] |= libc::O_NOFOLLOW as u64;
        }
        // SAFETY: valid C string and an open_how of the size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.raw_fd(),
                c.as_ptr(),
                how.as_mut_ptr(),
                size_of_val(&how),
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        if !link.starts_with(&self.dir) {
            return None;
        }
        CString::new(link.into_os_string().into_encoded_bytes()).ok()
    }

    /// `guest` as a host path: under the sysroot when it exists there,
    /// else unchanged.
    pub fn to_host(&self, guest: &Path) -> PathBuf {
        match self.host_path(guest.as_os_str().as_bytes(), true) {
            Some(c) => PathBuf::from(std::ffi::OsStr::from_bytes(c.as_bytes())),
            None => guest.to_path_buf(),
        }
    }
}

/// `guest` as a host path under the process-wide sysroot (unchanged
/// without one).
pub fn to_host(guest: &Path) -> PathBuf {
    match sysroot() {
        Some(r) => r.to_host(guest),
        None => guest.to_path_buf(),
    }
}

const NOFOLLOW: u64 = libc::AT_SYMLINK_NOFOLLOW as u64;

/// The path arguments of system call `nr` (arm64 numbers) and whether
/// each follows a final symbolic link, given the arguments.
pub fn path_args(nr: u64, a: &[u64; 6]) -> &'static [(usize, bool)] {
    let unless = |flags: u64, bit: u64| flags & bit == 0;
    match nr {
        // mknodat, mkdirat, unlinkat, readlinkat: the last component itself.
        33 | 34 | 35 | 78 => &[(1, false)],
        36 => &[(2, false)], // symlinkat: the new link (not its target)
        37 => {
            if a[4] & libc::AT_SYMLINK_FOLLOW as u64 != 0 {
                &[(1, true), (3, false)]
            } else {
                &[(1, false), (3, false)]
            }
        }
        38 | 276 => &[(1, false), (3, false)], // renameat, renameat2
        43 | 45 | 49 | 51 | 89 | 221 => &[(0, true)], // statfs truncate chdir chroot acct execve
        48 | 53 => &[(1, true)],               // faccessat, fchmodat
        281 if a[4] & NOFOLLOW != 0 => &[(1, false)],
        281 => &[(1, true)], // execveat
        439 | 79 | 88 if !unless(a[3], NOFOLLOW) => &[(1, false)],
        439 | 79 | 88 => &[(1, true)], // faccessat2, newfstatat, utimensat
        54 if !unless(a[4], NOFOLLOW) => &[(1, false)],
        54 => &[(1, true)], // fchownat
        291 if !unless(a[2], NOFOLLOW) => &[(1, false)],
        291 => &[(1, true)], // statx
        56 => {
            // openat: O_NOFOLLOW, or O_CREAT|O_EXCL, does not follow.
            let creat_excl = libc::O_CREAT as u64 | libc::O_EXCL as u64;
            if a[2] & crate::abi::oflags::A64_O_NOFOLLOW != 0 || a[2] & creat_excl == creat_excl {
                &[(1, false)]
            } else {
                &[(1, true)]
            }
        }
        5 | 8 | 11 | 14 => &[(0, true)], // setxattr getxattr listxattr removexattr
        6 | 9 | 12 | 15 => &[(0, false)], // their l* forms
        27 if a[2] & libc::IN_DONT_FOLLOW as u64 != 0 => &[(1, false)],
        27 => &[(1, true)], // inotify_add_watch
        _ => &[],
    }
}

/// Rewrites the absolute path arguments of system call `nr` that exist
/// under the sysroot to host strings (kept alive until
/// [`clear_scratch`]). Without a sysroot the arguments are unchanged.
pub fn translate_args(p: &crate::process::Process, nr: u64, a: &[u64; 6]) -> [u64; 6] {
    let mut out = *a;
    let root = SYSROOT.get_or_init(|| {
        p.opts
            .sysroot
            .as_deref()
            .and_then(|d| Sysroot::open_hidden(d).ok())
    });
    let Some(root) = root else {
        return out;
    };
    for &(i, follow) in path_args(nr, a) {
        if a[i] == 0 {
            continue;
        }
        let Some(guest) = crate::syscall::read_guest(p, a[i], 4096, true) else {
            continue;
        };
        if let Some(host) = root.host_path(&guest, follow) {
            out[i] = host.as_ptr() as u64;
            SCRATCH.with(|s| s.borrow_mut().push(host));
        }
    }
    out
}

/// The translated path whose host string is at `addr`, if any.
pub fn scratch_lookup(addr: u64) -> Option<Vec<u8>> {
    SCRATCH.with(|s| {
        s.borrow()
            .iter()
            .find(|c| c.as_ptr() as u64 == addr)
            .map(|c| c.as_bytes().to_vec())
    })
}

/// Frees the translated paths of the last system call.
pub fn clear_scratch() {
    SCRATCH.with(|s| s.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_dev_sys_and_root_stay_on_the_host() {
        for p in ["/", "//", "/proc/self/exe", "/dev/null", "/sys", "//proc/1"] {
            assert!(host_only(p.as_bytes()), "{p}");
        }
        for p in ["/lib/x", "/procx", "/usr/dev", "/etc/passwd"] {
            assert!(!host_only(p.as_bytes()), "{p}");
        }
    }

    #[test]
    fn lookups_stay_inside_the_root() {
        let d = std::env::temp_dir().join(format!("xarch-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("lib/real")).unwrap();
        std::fs::write(d.join("lib/real/libx.so"), b"x").unwrap();
        // An absolute link, as arm64 root file systems have.
        std::os::unix::fs::symlink("/lib/real/libx.so", d.join("lib/libx.so")).unwrap();
        std::os::unix::fs::symlink("/../../../lib/real", d.join("up")).unwrap();
        let r = Sysroot::open(&d).unwrap();
        let dir = r.dir.clone();
        let host = |p: &str, f| {
            r.host_path(p.as_bytes(), f)
                .map(|c| PathBuf::from(std::ffi::OsStr::from_bytes(c.as_bytes())))
        };
        assert_eq!(
            host("/lib/libx.so", true),
            Some(dir.join("lib/real/libx.so"))
        );
        assert_eq!(host("/lib/libx.so", false), Some(dir.join("lib/libx.so")));
        assert_eq!(
            host("/up/libx.so", true),
            Some(dir.join("lib/real/libx.so"))
        );
        assert_eq!(host("/lib/../lib/real", true), Some(dir.join("lib/real")));
        assert_eq!(host("/lib/missing", true), None);
        assert_eq!(host("relative/lib", true), None);
        assert_eq!(host("/proc/self/exe", true), None);
        assert_eq!(
            r.to_host(Path::new("/nonexistent-xarch")),
            PathBuf::from("/nonexistent-xarch")
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn follow_rules() {
        let mut a = [0u64; 6];
        assert_eq!(path_args(56, &a), &[(1, true)]);
        a[2] = crate::abi::oflags::A64_O_NOFOLLOW;
        assert_eq!(path_args(56, &a), &[(1, false)]);
        a = [0; 6];
        a[3] = NOFOLLOW;
        assert_eq!(path_args(79, &a), &[(1, false)]);
        assert_eq!(path_args(78, &[0; 6]), &[(1, false)]);
        assert_eq!(path_args(221, &[0; 6]), &[(0, true)]);
        assert_eq!(path_args(38, &[0; 6]), &[(1, false), (3, false)]);
        assert!(path_args(63, &[0; 6]).is_empty());
    }
}
