//! The handler side: what the kernel hands xarch when it starts it as a
//! binfmt_misc interpreter, turned into a request to run the guest.
//!
//! The kernel starts the registered interpreter with
//! `argv = [interpreter, path, argv0 (P flag only), argv1, ...]` where
//! `path` is the file name the caller gave execve(2). The rest of what the
//! flags mean arrives in the auxiliary vector:
//!
//! - `P`: bit 0 of `AT_FLAGS` (`AT_FLAGS_PRESERVE_ARGV0`, Linux 5.12+)
//!   says argv[2] is the caller's argv[0]. Without P it is gone and the
//!   guest's argv[0] is `path`, as it would be for a shell-started program.
//! - `O`: `AT_EXECFD` holds a descriptor of the binary, opened by the kernel
//!   (the file may be execute-only for the caller).
//! - `C`: the kernel has already computed credentials from the binary
//!   (setuid/setgid) and sets `AT_SECURE`; the guest gets both. Implies O.
//! - `F`: nothing to do here; the kernel opened this very binary at
//!   registration time.

use crate::Error;
use crate::arch::{ARCHES, Arch};
use std::ffi::{OsStr, OsString};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// `AT_FLAGS` bit the kernel sets for a P-flag handler (linux/binfmts.h).
pub const AT_FLAGS_PRESERVE_ARGV0: u64 = 1;

/// The auxiliary vector values the handler needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuxInfo {
    /// `AT_EXECFD`, when the kernel passed the binary as a descriptor.
    pub execfd: Option<RawFd>,
    /// `AT_FLAGS`.
    pub flags: u64,
    /// `AT_SECURE`: the process runs with credentials that differ from its
    /// caller's (setuid through the C flag, or file capabilities).
    pub secure: bool,
}

fn getauxval(kind: libc::c_ulong) -> Option<u64> {
    // SAFETY: __errno_location returns this thread's errno, always valid to
    // write; getauxval has no preconditions and only reads the auxv.
    unsafe {
        *libc::__errno_location() = 0;
        let v = libc::getauxval(kind);
        if v == 0 && *libc::__errno_location() == libc::ENOENT {
            None
        } else {
            Some(v)
        }
    }
}

impl AuxInfo {
    /// The values of this process.
    pub fn current() -> AuxInfo {
        AuxInfo {
            execfd: getauxval(libc::AT_EXECFD).and_then(|v| RawFd::try_from(v).ok()),
            flags: getauxval(libc::AT_FLAGS).unwrap_or(0),
            secure: getauxval(libc::AT_SECURE).unwrap_or(0) != 0,
        }
    }
}

/// The architecture whose handler `argv0` names (`.../xarch-aarch64-binfmt`),
/// or `None` when xarch was not started as a binfmt_misc handler.
pub fn handler_arch(argv0: &OsStr) -> Option<&'static Arch> {
    let name = Path::new(argv0).file_name()?;
    ARCHES
        .iter()
        .find(|a| name.to_str() == Some(a.handler_file_name().as_str()))
}

/// A parsed handler invocation, before taking ownership of the descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// Guest architecture (from the handler's name).
    pub arch: &'static Arch,
    /// The path the caller passed to execve (relative paths stay relative).
    pub path: PathBuf,
    /// The guest's argv; argv[0] is the caller's when the P flag is set.
    pub argv: Vec<OsString>,
    /// `AT_EXECFD` (O and C flags).
    pub execfd: Option<RawFd>,
    /// Whether the P flag was in effect.
    pub preserve_argv0: bool,
    /// `AT_SECURE`.
    pub secure: bool,
}

/// Parses the handler's arguments. `Ok(None)`: not started as a handler.
pub fn parse(args: &[OsString], aux: &AuxInfo) -> Result<Option<Invocation>, Error> {
    let Some(arch) = args.first().and_then(|a| handler_arch(a)) else {
        return Ok(None);
    };
    let Some(path) = args.get(1) else {
        return Err(Error::HandlerUsage(arch.handler_file_name()));
    };
    let preserve_argv0 = aux.flags & AT_FLAGS_PRESERVE_ARGV0 != 0;
    let argv = if preserve_argv0 {
        // Since Linux 5.18 an empty argv arrives as [""], so argv[2] exists;
        // on older kernels fall back to the path.
        let argv0 = args.get(2).unwrap_or(path).clone();
        std::iter::once(argv0)
            .chain(args.iter().skip(3).cloned())
            .collect()
    } else {
        std::iter::once(path.clone())
            .chain(args.iter().skip(2).cloned())
            .collect()
    };
    Ok(Some(Invocation {
        arch,
        path: PathBuf::from(path),
        argv,
        execfd: aux.execfd,
        preserve_argv0,
        secure: aux.secure,
    }))
}

/// The request to run a guest that the handler passes to the emulator
/// (`xarch` calls `cmd::run::run_guest` with it). The environment is the
/// process's own, unchanged.
#[derive(Debug)]
pub struct GuestExec {
    /// Guest architecture.
    pub arch: &'static Arch,
    /// The path the caller passed to execve: for `AT_EXECFN`, the guest's
    /// `/proc/self/exe` and error messages. Load from `exec_fd` when set:
    /// the path may be unreadable (O flag) or name another file by now.
    pub path: PathBuf,
    /// The binary, opened by the kernel (O and C flags). Close-on-exec is
    /// already set; the emulator must close it after loading so the guest
    /// never sees an extra descriptor.
    pub exec_fd: Option<OwnedFd>,
    /// The guest's argv, argv[0] included.
    pub argv: Vec<OsString>,
    /// Whether the P flag preserved argv[0].
    pub preserve_argv0: bool,
    /// `AT_SECURE` for the guest's auxv: the kernel applied the binary's
    /// setuid/setgid (C flag); real and effective ids are already the
    /// process's, so the emulator must not change or drop them.
    pub secure: bool,
}

impl GuestExec {
    /// If this process was started by the kernel as a binfmt_misc handler,
    /// the guest request; takes ownership of `AT_EXECFD`.
    pub fn from_process() -> Result<Option<GuestExec>, Error> {
        let args: Vec<OsString> = std::env::args_os().collect();
        let Some(inv) = parse(&args, &AuxInfo::current())? else {
            return Ok(None);
        };
        let exec_fd = match inv.execfd {
            Some(fd) => {
                // A descriptor the auxv names must be open in this process;
                // refuse anything else rather than adopt a stranger's fd.
                let flags = rustix::io::fcntl_getfd(
                    // SAFETY: only used for this one call while `fd` is open.
                    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
                )
                .map_err(|e| Error::io("AT_EXECFD".into(), e.into()))?;
                // SAFETY: the kernel installed this descriptor for us at exec
                // time and nothing else in the process owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                rustix::io::fcntl_setfd(&owned, flags | rustix::io::FdFlags::CLOEXEC)
                    .map_err(|e| Error::io("AT_EXECFD".into(), e.into()))?;
                Some(owned)
            }
            None => None,
        };
        Ok(Some(GuestExec {
            arch: inv.arch,
            path: inv.path,
            exec_fd,
            argv: inv.argv,
            preserve_argv0: inv.preserve_argv0,
            secure: inv.secure,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn recognises_handler_names_only() {
        assert_eq!(
            handler_arch(OsStr::new("/run/xarch/xarch-aarch64-binfmt"))
                .unwrap()
                .name,
            "aarch64"
        );
        assert!(handler_arch(OsStr::new("xarch-aarch64-binfmt")).is_some());
        assert!(handler_arch(OsStr::new("/usr/bin/xarch")).is_none());
        assert!(handler_arch(OsStr::new("/x/xarch-sparc-binfmt")).is_none());
        assert!(handler_arch(OsStr::new("/x/xarch-aarch64-binfmt/")).is_some());
        assert!(
            parse(&os(&["xarch", "run", "x"]), &AuxInfo::default())
                .unwrap()
                .is_none()
        );
        assert!(parse(&[], &AuxInfo::default()).unwrap().is_none());
    }

    #[test]
    fn without_p_argv0_is_the_path() {
        let inv = parse(
            &os(&["/run/xarch/xarch-aarch64-binfmt", "./bin/ls", "-l", "/"]),
            &AuxInfo::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(inv.path, Path::new("./bin/ls"));
        assert_eq!(inv.argv, os(&["./bin/ls", "-l", "/"]));
        assert!(!inv.preserve_argv0 && !inv.secure);
        assert_eq!(inv.execfd, None);
    }

    #[test]
    fn with_p_argv0_is_preserved() {
        let aux = AuxInfo {
            execfd: Some(3),
            flags: AT_FLAGS_PRESERVE_ARGV0,
            secure: true,
        };
        let inv = parse(
            &os(&[
                "/i/xarch-aarch64-binfmt",
                "/bin/busybox",
                "sh",
                "-c",
                "echo",
            ]),
            &aux,
        )
        .unwrap()
        .unwrap();
        assert_eq!(inv.path, Path::new("/bin/busybox"));
        assert_eq!(inv.argv, os(&["sh", "-c", "echo"]));
        assert_eq!(inv.execfd, Some(3));
        assert!(inv.preserve_argv0 && inv.secure);
        // Empty argv[0] is kept as it is.
        let inv = parse(&os(&["/i/xarch-aarch64-binfmt", "/bin/x", ""]), &aux)
            .unwrap()
            .unwrap();
        assert_eq!(inv.argv, os(&[""]));
        // Pre-5.18 empty argv: fall back to the path.
        let inv = parse(&os(&["/i/xarch-aarch64-binfmt", "/bin/x"]), &aux)
            .unwrap()
            .unwrap();
        assert_eq!(inv.argv, os(&["/bin/x"]));
    }

    #[test]
    fn handler_without_program_is_an_error() {
        let err = parse(&os(&["xarch-aarch64-binfmt"]), &AuxInfo::default()).unwrap_err();
        assert!(err.to_string().contains("binfmt_misc handler"), "{err}");
    }

    #[test]
    fn aux_of_a_normal_process() {
        // The test binary is started normally: no AT_EXECFD, no P, not secure.
        let aux = AuxInfo::current();
        assert_eq!(aux.execfd, None);
        assert_eq!(aux.flags & AT_FLAGS_PRESERVE_ARGV0, 0);
        assert!(!aux.secure);
        assert!(GuestExec::from_process().unwrap().is_none());
    }
}
