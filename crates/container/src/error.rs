//! Errors of the container runtime.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while preparing or running a container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line style option could not be parsed.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidOption {
        /// Which option (`volume`, `user`, `env`...).
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Neither the image nor the user named a command.
    #[error("no command specified: the image has no Entrypoint or Cmd and none was given")]
    NoCommand,
    /// The user name or group name is not in the image's /etc/passwd or /etc/group.
    #[error("unable to find {kind} {name:?} in the image's /etc/{file}")]
    UnknownUser {
        /// `user` or `group`.
        kind: &'static str,
        /// The name looked up.
        name: String,
        /// `passwd` or `group`.
        file: &'static str,
    },
    /// The root filesystem directory is missing or not a directory.
    #[error("root filesystem {0} is not a directory")]
    BadRootfs(PathBuf),
    /// A volume's host source does not exist.
    #[error("volume source {0} does not exist")]
    VolumeSource(PathBuf),
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{call}: {errno}")]
    Sys {
        /// The call and its main argument, for the message.
        call: String,
        /// The error number.
        errno: nix::errno::Errno,
    },
    /// The container's command was not found (exit status 127, like podman).
    #[error("executable file `{0}` not found in $PATH: No such file or directory")]
    NotFound(String),
    /// The container's command exists but cannot be executed (exit status 126).
    #[error("{0}: permission denied or not executable")]
    NotExecutable(String),
    /// Set-up inside the new namespaces failed; the message comes from the child.
    #[error("container set-up failed: {0}")]
    Setup(String),
    /// The copy-on-write overlay could not be mounted (the caller may fall
    /// back to a copy of the image's root).
    #[error("overlay mount failed: {0}")]
    Overlay(String),
    /// A container with this name is already recorded.
    #[error("the container name {0:?} is already in use")]
    NameInUse(String),
    /// No container with this name or id.
    #[error("no container with name or id {0:?}")]
    NoSuchContainer(String),
}

impl Error {
    /// The exit status `xarch container run` reports for this error,
    /// following podman: 127 command not found, 126 not executable, 125 for
    /// everything else that prevented the container from starting.
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::NotFound(_) => 127,
            Error::NotExecutable(_) => 126,
            _ => 125,
        }
    }

    pub(crate) fn sys(call: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::Sys {
            call: call.into(),
            errno,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
