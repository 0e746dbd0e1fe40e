//! binfmt_misc management for xarch: registering xarch as the kernel's
//! handler for foreign ELF binaries (on the host, in chroots, under
//! Podman/Buildah/Kubernetes), reporting what is registered, and parsing
//! what the kernel hands the handler.
//!
//! # How xarch knows the kernel started it as a handler
//!
//! The registered interpreter is a hard link (or copy) of the static xarch
//! binary named `xarch-<arch>-binfmt`, e.g.
//! `/usr/local/libexec/xarch/xarch-aarch64-binfmt` (with `--persistent`) or
//! `/run/xarch/xarch-aarch64-binfmt`. The kernel passes the interpreter's
//! registered path as argv[0], so `xarch` checks the basename of argv[0]
//! before parsing its command line: a handler name selects the guest
//! architecture and handler mode ([`handler::parse`]). Nothing else is
//! needed from the registration: the P flag is announced by the kernel in
//! `AT_FLAGS` (Linux 5.12+), O and C by `AT_EXECFD`/`AT_SECURE`, so one
//! name serves every flag combination (QEMU instead needs a separate
//! `-binfmt-P` wrapper binary). Naming works under F too: the kernel opened
//! the file at registration and still passes the registered path as argv[0],
//! even in a chroot or container where that path does not exist. Starting
//! `xarch-aarch64-binfmt PROG ARGS` by hand runs PROG like `xarch run`.
//!
//! # Which handler wins
//!
//! The kernel tries entries newest first and takes the first enabled entry
//! that matches; the binfmt_misc directory lists entries in that order, so
//! [`entry::winner`] on [`fs::BinfmtFs::entries`] names the handler in use.
//!
//! # Modules
//!
//! - [`arch`]: the table of guest architectures (magic, mask).
//! - [`entry`]: flags, registration strings, entry files, overlap.
//! - [`fs`]: a mounted binfmt_misc instance (mounting it when needed).
//! - [`install`]: install/uninstall, persistent systemd-binfmt drop-ins.
//! - [`status`]: the status report (`--json` in the spirit of tonistiigi/binfmt).
//! - [`handler`]: argv and auxv of a handler invocation.

pub mod arch;
pub mod entry;
pub mod fs;
pub mod handler;
pub mod install;
pub mod status;

pub use arch::{ARCHES, Arch};
pub use entry::{Entry, Flags, Matcher, Registration};
pub use fs::{BinfmtFs, DEFAULT_MOUNTPOINT};
pub use install::{InstallOptions, Layout};

use std::path::PathBuf;

/// Errors of binfmt_misc management.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory is not a mounted binfmt_misc.
    #[error("binfmt_misc is not mounted at {}", .0.display())]
    NotMounted(PathBuf),
    /// Mounting failed, with the reason in plain words.
    #[error("cannot mount binfmt_misc at {}: {}", .0.display(), .1)]
    Mount(PathBuf, String),
    /// Flags other than P, O, C, F.
    #[error("invalid binfmt_misc flags `{0}`: use letters from POCF")]
    BadFlags(String),
    /// An entry file the parser does not understand.
    #[error("unexpected contents of binfmt_misc entry {0}: {1}")]
    BadEntry(String, String),
    /// An interpreter path the kernel cannot take.
    #[error(
        "invalid interpreter `{0}`: it must be an existing absolute path without `:`, under 1900 bytes"
    )]
    BadInterpreter(String),
    /// The entry name is taken.
    #[error("a binfmt_misc entry named {0} already exists")]
    Exists(String),
    /// Another handler already runs these binaries.
    #[error(
        "{arch} binaries are already handled by {others}; the kernel now uses {winner}. \
         Rerun with --replace to unregister it and register xarch instead"
    )]
    Conflict {
        /// Architecture.
        arch: &'static str,
        /// The other handlers, with their interpreters.
        others: String,
        /// The one the kernel uses now.
        winner: String,
    },
    /// An unknown architecture name.
    #[error("unknown architecture `{0}` (supported: {list})", list = ARCHES.iter().map(|a| a.name).collect::<Vec<_>>().join(", "))]
    UnknownArch(String),
    /// The handler name was used without a program.
    #[error("{0} is the binfmt_misc handler: usage: {0} PROGRAM [ARGS...]")]
    HandlerUsage(String),
    /// An I/O error, with what was being done.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}

impl Error {
    fn io(what: String, e: std::io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::EROFS) => Error::Io(format!("{what} (read-only file system)"), e),
            Some(libc::EPERM | libc::EACCES) => Error::Io(format!("{what} (are you root?)"), e),
            _ => Error::Io(what, e),
        }
    }
}

/// Resolves `--arch` values: names, platforms, or `all`.
pub fn select_arches(names: &[String]) -> Result<Vec<&'static Arch>, Error> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(ARCHES.iter().collect());
    }
    let mut out: Vec<&'static Arch> = Vec::new();
    for n in names.iter().flat_map(|n| n.split(',')) {
        let a = Arch::lookup(n.trim()).ok_or_else(|| Error::UnknownArch(n.to_owned()))?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_selection() {
        assert_eq!(select_arches(&[]).unwrap().len(), ARCHES.len());
        assert_eq!(select_arches(&["all".into()]).unwrap().len(), ARCHES.len());
        let a = select_arches(&["arm64,aarch64".into()]).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].name, "aarch64");
        let err = select_arches(&["mips".into()]).unwrap_err().to_string();
        assert!(
            err.contains("unknown architecture `mips`") && err.contains("aarch64"),
            "{err}"
        );
    }
}
