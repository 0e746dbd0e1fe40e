//! The Linux personality of xarch for arm64 guests on x86_64 hosts: ELF
//! loading, the initial stack, guest memory, system call translation,
//! signals and the process model.
//!
//! The entry point is [`run_guest`]; exit statuses for load failures are
//! listed in [`error`].

#![warn(missing_docs)]

pub mod abi;
pub mod error;
pub mod exec;
pub mod exec_marks;
pub mod loader;
pub mod mm;
pub mod paths;
pub mod process;
pub mod procfs;
pub mod proctitle;
pub mod safe_syscall;
pub mod selfexe;
pub mod signal;
pub mod stack;
pub mod syscall;
pub mod thread;
pub mod vdso;
pub mod vfork;

pub use error::LoadError;
pub use process::{GuestConfig, GuestExit, Program, exit_now, run_guest};
pub use signal::die_with_signal;

/// Whether `XARCH_LOG` (comma-separated words) names `word`: `unimpl`
/// (instructions xarch does not implement), `exec` (which path each
/// execve takes).
pub fn xarch_log(word: &str) -> bool {
    std::env::var("XARCH_LOG").is_ok_and(|v| v.split(',').any(|w| w == word))
}
