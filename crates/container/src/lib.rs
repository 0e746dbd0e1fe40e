//! xarch-container: daemonless containers.
//!
//! The runtime takes a prepared root filesystem and an image configuration
//! ([`ImageDefaults`], from `oci_spec::image::ImageConfiguration`) plus the
//! user's [`RunOptions`], resolves the first process ([`ProcessSpec`]) and
//! runs it in new mount, pid, uts, ipc (and, for `--network none`, net)
//! namespaces; rootless through a user namespace when not root.
//! Foreign-architecture programs are started through the emulator
//! ([`exec::Emulator`]), so no binfmt_misc handler is needed.
//!
//! Images: [`Container::on_overlay`] runs on a copy-on-write [`Overlay`] of
//! an image's cached root, mounted by the container's first process inside
//! its own mount namespace (never visible on the host, gone with the
//! container); [`state`] records containers for `xarch container ls/rm`.
#![warn(missing_docs)]

pub mod error;
pub mod exec;
pub mod options;
pub mod paths;
pub mod process;
pub mod rootfs;
pub mod rootfs_run;
pub mod runtime;
pub mod state;

pub mod syscall;

pub use error::{Error, Result};
pub use oci_spec;
pub use options::{Network, RunOptions, UserSpec, Volume};
pub use process::{ImageDefaults, ProcessSpec};
pub use rootfs::Overlay;
pub use rootfs_run::{RootfsRun, run_in_rootfs};
pub use runtime::{Container, Stdio, new_id, run};
