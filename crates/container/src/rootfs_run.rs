//! `xarch run --rootfs DIR`: one program with DIR as its root file system,
//! like `chroot DIR PROG` but needing no binfmt_misc: the container
//! runtime (namespaces, /proc /dev /sys, pivot_root, a user namespace when
//! unprivileged) with every capability kept, the caller's terminal, host
//! network and hostname, and the program (and every program it executes)
//! started through the emulator.

use crate::{Container, Error, ImageDefaults, Network, Result, RunOptions, Stdio};
use std::path::Path;

/// What to run in the root file system.
#[derive(Clone, Debug, Default)]
pub struct RootfsRun {
    /// The program (its path inside the root) and its arguments.
    pub command: Vec<String>,
    /// Extra environment (`K=V`, or `K` to copy it from the caller); TERM
    /// is passed on when set.
    pub env: Vec<String>,
    /// Working directory inside the root (default /).
    pub workdir: Option<String>,
    /// Arguments of the emulator before the program (`run --engine=... --`).
    pub emulator_args: Vec<String>,
}

/// Checks that `root` can be the root of a run: a directory whose proc,
/// sys and dev (when present) are directories to mount on.
pub fn check_root(root: &Path) -> Result<()> {
    if !root.is_dir() {
        return Err(Error::BadRootfs(root.to_path_buf()));
    }
    for d in ["proc", "sys", "dev"] {
        if root
            .join(d)
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(Error::Setup(format!(
                "{}: {d} is a symbolic link, but it must be a directory to mount {d} on \
                 (`debootstrap --foreign` leaves such links when run in a container): replace \
                 it with an empty directory",
                root.display()
            )));
        }
    }
    Ok(())
}

/// Runs `run` with `root` as its root file system and returns the
/// program's exit status (128+N for a program killed by signal N).
pub fn run_in_rootfs(root: &Path, run: RootfsRun) -> Result<i32> {
    check_root(root)?;
    let mut env = Vec::new();
    if let Ok(term) = std::env::var("TERM") {
        env.push(format!("TERM={term}"));
    }
    env.extend(run.env);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty());
    let opts = RunOptions {
        command: run.command,
        env,
        workdir: run.workdir,
        hostname,
        network: Network::Host,
        interactive: true,
        ..RunOptions::default()
    };
    let id = crate::new_id();
    let state = crate::runtime::default_state_root().join(&id);
    let result = Container::new(&id, root, &ImageDefaults::default(), &opts, &state, |k| {
        std::env::var(k).ok()
    })
    .and_then(|mut c| {
        c.emulator.args = run.emulator_args;
        c.all_capabilities = true;
        // The caller's terminal stays the program's (job control in
        // `bash -i`), as for a program `chroot` starts.
        c.keep_terminal = true;
        crate::run(&c, Stdio::inherit()?)
    });
    let _ = std::fs::remove_dir_all(&state);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_that_cannot_be_mounted_on_are_refused() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            check_root(&d.path().join("missing")),
            Err(Error::BadRootfs(_))
        ));
        std::os::unix::fs::symlink("/proc", d.path().join("proc")).unwrap();
        let e = check_root(d.path()).unwrap_err().to_string();
        assert!(e.contains("proc is a symbolic link"), "{e}");
        std::fs::remove_file(d.path().join("proc")).unwrap();
        std::fs::create_dir(d.path().join("proc")).unwrap();
        check_root(d.path()).unwrap();
    }
}
