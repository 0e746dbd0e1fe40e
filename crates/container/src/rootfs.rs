//! The mount namespace of a container: what gets mounted where, planned in
//! the parent (where paths are resolved safely inside the root filesystem)
//! and applied through [`Syscall`] in the container's first process.

use crate::error::{Error, Result};
use crate::options::Volume;
use crate::paths::secure_join;
use crate::syscall::Syscall;
use nix::mount::{MntFlags, MsFlags};
use std::path::{Path, PathBuf};

/// Device nodes bind-mounted from the host's /dev (mknod is not allowed in
/// a user namespace; a bind works rootful and rootless alike).
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Capabilities kept in the bounding set: podman's default list (CHOWN,
/// DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP,
/// NET_BIND_SERVICE, SYS_CHROOT, SETFCAP).
pub const DEFAULT_CAPS: [u32; 11] = [0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 31];

/// A bind mount with both ends resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// Host path.
    pub source: PathBuf,
    /// Host path of the target, inside the root filesystem.
    pub target: PathBuf,
    /// The source is a directory (else the target is created as a file).
    pub is_dir: bool,
    /// Remount read-only.
    pub read_only: bool,
}

/// Everything the container's first process mounts, with host paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    /// The root filesystem (host path).
    pub rootfs: PathBuf,
    /// /etc/hosts, /etc/resolv.conf and /etc/hostname, from files the
    /// parent wrote in the container's state directory.
    pub etc_files: Vec<BindMount>,
    /// `-v` volumes, parents before children.
    pub volumes: Vec<BindMount>,
    /// The working directory (host path inside the rootfs), created when missing.
    pub workdir: PathBuf,
    /// Running in a new user namespace (rootless): devpts may not use gid 5.
    pub user_namespace: bool,
    /// A copy-on-write overlay mounted on `rootfs` first (see [`Overlay`]).
    pub overlay: Option<Overlay>,
    /// The caller's terminal, when the program keeps it (see
    /// [`HostTerminal`]).
    pub terminal: Option<HostTerminal>,
}

/// The caller's terminal as a program that keeps it (`xarch run --rootfs`)
/// must find it in its root: at the path the kernel reports for its
/// descriptors (readlink of /proc/self/fd/0, e.g. /dev/pts/3, which is
/// where ttyname(3) and `tty` look), as in a chroot whose /dev is the
/// host's, and on /dev/console, as podman's and bubblewrap's terminals are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTerminal {
    /// The terminal devices of the standard streams (host paths under
    /// /dev), each bound at the same path inside; the first is also bound
    /// on /dev/console.
    pub devices: Vec<PathBuf>,
    /// The devpts instance holding the first device when it is the
    /// caller's /dev/pts (host path of its root), bound on /dev/pts instead of a new instance, so the device
    /// keeps its name; ptys the program opens come from it too, as in such
    /// a chroot. `None` when the terminal is no pty, or when the instance's
    /// ptmx is closed to the program (a user namespace cannot override
    /// `ptmxmode=000`), which then gets a new instance and finds its
    /// terminal on /dev/console only.
    pub devpts: Option<PathBuf>,
}

impl HostTerminal {
    /// The terminals among `fds` (the program's standard streams), `None`
    /// when there is none reachable under /dev. `user_namespace`: the
    /// program will not be able to open a ptmx closed to others.
    pub fn of(fds: &[std::os::fd::BorrowedFd<'_>], user_namespace: bool) -> Option<Self> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let mut devices: Vec<PathBuf> = Vec::new();
        for fd in fds {
            if !nix::unistd::isatty(fd).unwrap_or(false) {
                continue;
            }
            let Ok(path) = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) else {
                continue;
            };
            // Only a device the kernel names under /dev that is that very
            // device here (not a pty of another mount namespace's devpts).
            let (Ok(named), Ok(open)) = (
                std::fs::metadata(&path),
                nix::sys::stat::fstat(fd).map_err(std::io::Error::from),
            ) else {
                continue;
            };
            let same = named.dev() == open.st_dev
                && named.ino() == open.st_ino
                && named.rdev() == open.st_rdev;
            let under_dev = path.starts_with("/dev")
                && path != Path::new("/dev")
                && !path
                    .components()
                    .any(|c| c == std::path::Component::ParentDir);
            if same && under_dev && !devices.contains(&path) {
                devices.push(path);
            }
        }
        let first = devices.first()?;
        let devpts = first
            .parent()
            .filter(|dir| *dir == Path::new("/dev/pts") && is_devpts_root(dir))
            .filter(|dir| !user_namespace || ptmx_open_to_all(dir))
            .map(Path::to_path_buf);
        Some(HostTerminal { devices, devpts })
    }
}

/// Whether `dir` is the root of a devpts instance.
fn is_devpts_root(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let devpts = nix::sys::statfs::statfs(dir)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::DEVPTS_SUPER_MAGIC);
    // devpts numbers its root directory 1.
    devpts && std::fs::metadata(dir).is_ok_and(|m| m.ino() == 1)
}

/// Whether the `ptmx` of devpts root `dir` can be opened by anyone.
fn ptmx_open_to_all(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir.join("ptmx")).is_ok_and(|m| m.permissions().mode() & 0o006 == 0o006)
}

/// The directories of a per-container overlay: the image's read-only root
/// below, the container's changes above.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Overlay {
    /// The image's unpacked root (never written).
    pub lower: PathBuf,
    /// Receives the container's changes.
    pub upper: PathBuf,
    /// overlayfs's work directory (same filesystem as `upper`).
    pub work: PathBuf,
}

impl Overlay {
    /// The mount data: `lowerdir=...,upperdir=...,workdir=...`.
    pub fn options(&self) -> String {
        format!(
            "lowerdir={},upperdir={},workdir={}",
            self.lower.display(),
            self.upper.display(),
            self.work.display()
        )
    }
}

impl MountPlan {
    /// Plans the mounts. `etc_dir` holds `hosts`, `resolv.conf` and
    /// `hostname` written by the caller; `cwd` is the container's working
    /// directory.
    pub fn new(
        rootfs: &Path,
        etc_dir: &Path,
        volumes: &[Volume],
        cwd: &str,
        user_namespace: bool,
    ) -> Result<Self> {
        if !rootfs.is_dir() {
            return Err(Error::BadRootfs(rootfs.into()));
        }
        let rootfs = rootfs
            .canonicalize()
            .map_err(|e| Error::io("resolving root filesystem", rootfs, e))?;
        let etc_files = ["hosts", "resolv.conf", "hostname"]
            .iter()
            .map(|name| BindMount {
                source: etc_dir.join(name),
                target: secure_join(&rootfs, &Path::new("/etc").join(name)),
                is_dir: false,
                read_only: false,
            })
            .collect();
        let mut vols = Vec::new();
        let mut sorted: Vec<&Volume> = volumes.iter().collect();
        sorted.sort_by_key(|v| v.destination.components().count());
        for v in sorted {
            let meta =
                std::fs::metadata(&v.source).map_err(|_| Error::VolumeSource(v.source.clone()))?;
            vols.push(BindMount {
                source: v.source.clone(),
                target: secure_join(&rootfs, &v.destination),
                is_dir: meta.is_dir(),
                read_only: v.read_only,
            });
        }
        Ok(MountPlan {
            workdir: secure_join(&rootfs, Path::new(cwd)),
            rootfs,
            etc_files,
            volumes: vols,
            user_namespace,
            overlay: None,
            terminal: None,
        })
    }

    /// Plans for a root that is an overlay mounted on `merged` in the
    /// container's own mount namespace (so it vanishes with the container
    /// and never shows on the host). The overlay is not mounted yet while
    /// planning, so mount targets are resolved in the lower directory —
    /// the same tree, since a new container's upper directory is empty —
    /// and then moved under `merged`.
    pub fn on_overlay(
        overlay: &Overlay,
        merged: &Path,
        etc_dir: &Path,
        volumes: &[Volume],
        cwd: &str,
        user_namespace: bool,
    ) -> Result<Self> {
        let mut plan = Self::new(&overlay.lower, etc_dir, volumes, cwd, user_namespace)?;
        if !merged.is_dir() {
            return Err(Error::BadRootfs(merged.into()));
        }
        let merged = merged
            .canonicalize()
            .map_err(|e| Error::io("resolving root filesystem", merged, e))?;
        let lower = std::mem::replace(&mut plan.rootfs, merged.clone());
        let rebase = |p: &mut PathBuf| {
            if let Ok(rest) = p.strip_prefix(&lower) {
                *p = merged.join(rest);
            }
        };
        rebase(&mut plan.workdir);
        for b in plan.etc_files.iter_mut().chain(plan.volumes.iter_mut()) {
            rebase(&mut b.target);
        }
        plan.overlay = Some(Overlay {
            lower,
            ..overlay.clone()
        });
        Ok(plan)
    }

    /// Mounts everything under the root filesystem, then pivots into it.
    /// Runs in the container's first process, in its new mount namespace
    /// (and pid namespace, so /proc shows the container's processes).
    pub fn apply(&self, sys: &dyn Syscall) -> Result<()> {
        let root = &self.rootfs;
        // Nothing we mount may propagate back to the host.
        sys.mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_SLAVE,
            None,
        )?;
        if let Some(o) = &self.overlay {
            mount_overlay(sys, o, root, self.user_namespace)?;
        }
        // pivot_root needs the new root to be a mount point.
        sys.mount(
            Some(root),
            root,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;

        let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let proc = root.join("proc");
        sys.mkdir_all(&proc)?;
        sys.mount(
            Some(Path::new("proc")),
            &proc,
            Some("proc"),
            nosuid_nodev_noexec,
            None,
        )?;

        let dev = root.join("dev");
        sys.mkdir_all(&dev)?;
        sys.mount(
            Some(Path::new("tmpfs")),
            &dev,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        )?;
        for name in DEVICES {
            let target = dev.join(name);
            sys.create_file(&target)?;
            sys.mount(
                Some(&Path::new("/dev").join(name)),
                &target,
                None,
                MsFlags::MS_BIND,
                None,
            )?;
        }
        let pts = dev.join("pts");
        sys.mkdir_all(&pts)?;
        let host_pts = self.terminal.as_ref().and_then(|t| t.devpts.as_deref());
        if let Some(host_pts) = host_pts {
            // The caller's terminal's own instance (see HostTerminal).
            sys.mount(Some(host_pts), &pts, None, MsFlags::MS_BIND, None)?;
        } else {
            let pts_opts = if self.user_namespace {
                "newinstance,ptmxmode=0666,mode=0620"
            } else {
                "newinstance,ptmxmode=0666,mode=0620,gid=5"
            };
            sys.mount(
                Some(Path::new("devpts")),
                &pts,
                Some("devpts"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some(pts_opts),
            )?;
        }
        // A host instance's ptmx may be closed to all but root
        // (ptmxmode=000): as root, a ptmx device node (which opens the
        // instance mounted on `pts` next to it) serves every user, as the
        // host's /dev/ptmx does; in a user namespace (no mknod) the
        // instance's own ptmx is open to all (HostTerminal checks).
        let ptmx = dev.join("ptmx");
        if host_pts.is_none() || self.user_namespace || sys.mknod_char(&ptmx, 5, 2, 0o666).is_err()
        {
            sys.symlink(Path::new("pts/ptmx"), &ptmx)?;
        }
        if let Some(t) = &self.terminal {
            bind_terminal(sys, t, &dev)?;
        }
        let shm = dev.join("shm");
        sys.mkdir_all(&shm)?;
        sys.mount(
            Some(Path::new("shm")),
            &shm,
            Some("tmpfs"),
            nosuid_nodev_noexec,
            Some("mode=1777,size=65536k"),
        )?;
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            sys.symlink(Path::new(target), &dev.join(link))?;
        }

        // /sys: the host's, read-only (a fresh sysfs needs a network
        // namespace owned by our user namespace).
        let sys_dir = root.join("sys");
        sys.mkdir_all(&sys_dir)?;
        sys.mount(
            Some(Path::new("/sys")),
            &sys_dir,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        remount_read_only(sys, &sys_dir)?;

        for bind in self.etc_files.iter().chain(&self.volumes) {
            if bind.is_dir {
                sys.mkdir_all(&bind.target)?;
            } else {
                sys.create_file(&bind.target)?;
            }
            sys.mount(
                Some(&bind.source),
                &bind.target,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )?;
            if bind.read_only {
                remount_read_only(sys, &bind.target)?;
            }
        }
        sys.mkdir_all(&self.workdir)?;

        // pivot_root(".", ".") stacks the old root on top of the new one;
        // detaching it leaves only the container's tree (runc's approach,
        // which needs no put_old directory in the image).
        sys.chdir(root)?;
        sys.pivot_root(Path::new("."), Path::new("."))?;
        sys.umount2(Path::new("."), MntFlags::MNT_DETACH)?;
        sys.chdir(Path::new("/"))
    }
}

/// Binds the caller's terminal devices at their own paths in the
/// container's /dev (those on a bound host devpts are there already), and
/// the first on /dev/console.
fn bind_terminal(sys: &dyn Syscall, t: &HostTerminal, dev: &Path) -> Result<()> {
    let mut binds = Vec::new();
    for d in &t.devices {
        let Ok(rel) = d.strip_prefix("/dev") else {
            continue;
        };
        // Ptys are there with their devpts (or cannot be), the others
        // already bound keep their binding.
        let there = rel.starts_with("pts")
            || rel == Path::new("console")
            || DEVICES.iter().any(|n| rel == Path::new(n));
        if !there {
            binds.push((d.as_path(), dev.join(rel)));
        }
    }
    if let Some(first) = t.devices.first() {
        binds.push((first.as_path(), dev.join("console")));
    }
    for (source, target) in binds {
        sys.create_file(&target)?;
        sys.mount(Some(source), &target, None, MsFlags::MS_BIND, None)?;
    }
    Ok(())
}

/// Mounts the overlay on `root`. In a user namespace overlayfs may only
/// use `user.*` extended attributes, hence the retry with `userxattr`.
fn mount_overlay(sys: &dyn Syscall, o: &Overlay, root: &Path, user_namespace: bool) -> Result<()> {
    let data = o.options();
    let overlay = |data: &str| {
        sys.mount(
            Some(Path::new("overlay")),
            root,
            Some("overlay"),
            MsFlags::empty(),
            Some(data),
        )
    };
    let first = match overlay(&data) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if user_namespace && overlay(&format!("{data},userxattr")).is_ok() {
        return Ok(());
    }
    Err(Error::Overlay(first.to_string()))
}

/// Makes a bind mount read-only, keeping the flags the kernel locks in a
/// user namespace (nosuid, nodev, noexec, atime) as they are.
fn remount_read_only(sys: &dyn Syscall, target: &Path) -> Result<()> {
    let keep = sys.mount_flags(target)?;
    sys.mount(
        None,
        target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
        None,
    )
}

/// Sets the container process's credentials: caps bounding set, groups,
/// gid, uid (in that order: each step needs the privileges the next drops).
/// In a rootless user namespace setgroups(2) is denied, so it is skipped.
pub fn set_credentials(
    sys: &dyn Syscall,
    uid: u32,
    gid: u32,
    groups: &[u32],
    user_namespace: bool,
) -> Result<()> {
    sys.drop_bounding_caps(&DEFAULT_CAPS)?;
    if !user_namespace {
        sys.setgroups(groups)?;
    }
    sys.setgid(gid)?;
    sys.setuid(uid)
}

/// [`set_credentials`] without narrowing the capability bounding set.
pub fn set_credentials_keeping_caps(
    sys: &dyn Syscall,
    uid: u32,
    gid: u32,
    groups: &[u32],
    user_namespace: bool,
) -> Result<()> {
    if !user_namespace {
        sys.setgroups(groups)?;
    }
    sys.setgid(gid)?;
    sys.setuid(uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::{Call, RecordingSyscall};

    fn plan(userns: bool, volumes: &[Volume]) -> (tempfile::TempDir, MountPlan) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", root.join("etc/hosts")).unwrap();
        let p = MountPlan::new(&root, &dir.path().join("state"), volumes, "/work", userns).unwrap();
        (dir, p)
    }

    fn targets(calls: &[Call]) -> Vec<PathBuf> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Mount { target, .. } => Some(target.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn sequence_is_private_then_mounts_then_pivot() {
        let (_d, p) = plan(false, &[]);
        let sys = RecordingSyscall::default();
        p.apply(&sys).unwrap();
        let calls = sys.calls();
        let root = &p.rootfs;
        assert_eq!(
            calls[0],
            Call::Mount {
                source: None,
                target: "/".into(),
                fstype: None,
                flags: MsFlags::MS_REC | MsFlags::MS_SLAVE,
                data: None
            }
        );
        assert!(
            matches!(&calls[1], Call::Mount { source: Some(s), target, .. } if s == root && target == root)
        );
        let t = targets(&calls);
        for want in [
            "proc", "dev", "dev/null", "dev/tty", "dev/pts", "dev/shm", "sys",
        ] {
            assert!(t.contains(&root.join(want)), "{want} not mounted: {t:?}");
        }
        // The pivot comes after every mount, and the old root is detached.
        let n = calls.len();
        assert_eq!(calls[n - 4], Call::Chdir(root.clone()));
        assert_eq!(calls[n - 3], Call::PivotRoot(".".into(), ".".into()));
        assert_eq!(
            calls[n - 2],
            Call::Umount2(".".into(), MntFlags::MNT_DETACH)
        );
        assert_eq!(calls[n - 1], Call::Chdir("/".into()));
        assert!(calls.contains(&Call::MkdirAll(root.join("work"))));
        assert!(calls.contains(&Call::Symlink("pts/ptmx".into(), root.join("dev/ptmx"))));
    }

    fn overlay_plan(userns: bool) -> (tempfile::TempDir, MountPlan) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("lower/etc")).unwrap();
        std::fs::create_dir_all(d.join("merged")).unwrap();
        std::fs::create_dir_all(d.join("state")).unwrap();
        // Resolved in the lower tree: the link is followed inside the root.
        std::os::unix::fs::symlink("/etc/real-hosts", d.join("lower/etc/hosts")).unwrap();
        let o = Overlay {
            lower: d.join("lower"),
            upper: d.join("upper"),
            work: d.join("work"),
        };
        let p = MountPlan::on_overlay(&o, &d.join("merged"), &d.join("state"), &[], "/w", userns)
            .unwrap();
        (dir, p)
    }

    #[test]
    fn overlay_mounted_first_and_targets_in_merged() {
        let (dir, p) = overlay_plan(false);
        let merged = dir.path().join("merged").canonicalize().unwrap();
        assert_eq!(p.rootfs, merged);
        assert_eq!(p.etc_files[0].target, merged.join("etc/real-hosts"));
        assert_eq!(p.workdir, merged.join("w"));
        let sys = RecordingSyscall::default();
        p.apply(&sys).unwrap();
        let calls = sys.calls();
        // Private first, then the overlay on the root, then everything else.
        assert!(
            matches!(&calls[0], Call::Mount { flags, .. } if flags.contains(MsFlags::MS_SLAVE))
        );
        let Call::Mount {
            target,
            fstype,
            data,
            ..
        } = &calls[1]
        else {
            panic!("{:?}", calls[1]);
        };
        assert_eq!((target, fstype.as_deref()), (&merged, Some("overlay")));
        let lower = dir.path().join("lower").canonicalize().unwrap();
        assert_eq!(
            data.as_deref().unwrap(),
            format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.display(),
                dir.path().join("upper").display(),
                dir.path().join("work").display()
            )
        );
    }

    #[test]
    fn overlay_refused_is_reported_and_userxattr_retried() {
        let is_plain_overlay = |c: &Call| {
            matches!(c, Call::Mount { fstype: Some(f), data: Some(d), .. }
                if f == "overlay" && !d.contains("userxattr"))
        };
        // Rootful: no retry, a distinct error the caller can fall back on.
        let (_d, p) = overlay_plan(false);
        let mut sys = RecordingSyscall::default();
        sys.refuse = Some(is_plain_overlay);
        assert!(matches!(p.apply(&sys), Err(Error::Overlay(_))));
        // In a user namespace the retry with userxattr succeeds.
        let (_d, p) = overlay_plan(true);
        let mut sys = RecordingSyscall::default();
        sys.refuse = Some(is_plain_overlay);
        p.apply(&sys).unwrap();
        let overlays = sys
            .calls()
            .into_iter()
            .filter(|c| matches!(c, Call::Mount { fstype: Some(f), .. } if f == "overlay"))
            .count();
        assert_eq!(overlays, 2);
    }

    #[test]
    fn hostile_symlink_target_stays_inside() {
        let (_d, p) = plan(false, &[]);
        let hosts = &p.etc_files[0];
        assert_eq!(hosts.target, p.rootfs.join("etc/shadow"));
    }

    #[test]
    fn devpts_gid_only_without_userns() {
        for userns in [false, true] {
            let (_d, p) = plan(userns, &[]);
            let sys = RecordingSyscall::default();
            p.apply(&sys).unwrap();
            let data = sys
                .calls()
                .into_iter()
                .find_map(|c| match c {
                    Call::Mount {
                        fstype: Some(f),
                        data,
                        ..
                    } if f == "devpts" => data,
                    _ => None,
                })
                .unwrap();
            assert_eq!(data.contains("gid=5"), !userns, "{data}");
            assert!(data.contains("newinstance"));
        }
    }

    #[test]
    fn a_kept_terminal_is_found_at_its_own_path_and_on_console() {
        let mounts = |userns: bool, t: HostTerminal| {
            let (_d, mut p) = plan(userns, &[]);
            p.terminal = Some(t);
            let sys = RecordingSyscall::default();
            p.apply(&sys).unwrap();
            let dev = p.rootfs.join("dev");
            (sys.calls(), dev)
        };
        let bind = |src: &str, target: PathBuf| Call::Mount {
            source: Some(src.into()),
            target,
            fstype: None,
            flags: MsFlags::MS_BIND,
            data: None,
        };
        // A pty: the host's devpts instead of a new one, a ptmx node for
        // every user (rootful), the pty also on /dev/console.
        let pty = HostTerminal {
            devices: vec!["/dev/pts/3".into()],
            devpts: Some("/dev/pts".into()),
        };
        let (calls, dev) = mounts(false, pty.clone());
        assert!(calls.contains(&bind("/dev/pts", dev.join("pts"))));
        assert!(
            !calls
                .iter()
                .any(|c| matches!(c, Call::Mount { fstype: Some(f), .. } if f == "devpts"))
        );
        assert!(calls.contains(&Call::MknodChar(dev.join("ptmx"), 5, 2, 0o666)));
        assert!(calls.contains(&bind("/dev/pts/3", dev.join("console"))));
        assert!(
            !calls
                .iter()
                .any(|c| matches!(c, Call::Symlink(_, l) if *l == dev.join("ptmx")))
        );
        // No mknod in a user namespace: the instance's own ptmx.
        let (calls, dev) = mounts(true, pty);
        assert!(!calls.iter().any(|c| matches!(c, Call::MknodChar(..))));
        assert!(calls.contains(&Call::Symlink("pts/ptmx".into(), dev.join("ptmx"))));
        // Another terminal (a console, a serial line) at its own path; a pty
        // whose devpts could not be bound only on /dev/console.
        let other = HostTerminal {
            devices: vec!["/dev/ttyS0".into(), "/dev/pts/1".into()],
            devpts: None,
        };
        let (calls, dev) = mounts(false, other);
        assert!(calls.contains(&bind("/dev/ttyS0", dev.join("ttyS0"))));
        assert!(calls.contains(&bind("/dev/ttyS0", dev.join("console"))));
        assert!(!calls.iter().any(
            |c| matches!(c, Call::Mount { source: Some(s), .. } if s == Path::new("/dev/pts/1"))
        ));
        assert!(
            calls
                .iter()
                .any(|c| matches!(c, Call::Mount { fstype: Some(f), .. } if f == "devpts"))
        );
    }

    #[test]
    fn a_pty_is_found_with_its_devpts() {
        use nix::fcntl::OFlag;
        use std::os::fd::AsFd;
        let Ok(master) = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY) else {
            eprintln!("skipping: no ptys here");
            return;
        };
        nix::pty::grantpt(&master).unwrap();
        nix::pty::unlockpt(&master).unwrap();
        let name = nix::pty::ptsname_r(&master).unwrap();
        let slave = std::fs::File::open(&name).unwrap();
        let (r, _w) = nix::unistd::pipe().unwrap();
        let t = HostTerminal::of(&[r.as_fd(), slave.as_fd(), slave.as_fd()], false).unwrap();
        assert_eq!(t.devices, [PathBuf::from(&name)]);
        if name.starts_with("/dev/pts/") {
            assert_eq!(t.devpts.as_deref(), Some(Path::new("/dev/pts")));
        }
        assert_eq!(HostTerminal::of(&[r.as_fd()], false), None);
    }

    #[test]
    fn volumes_sorted_and_read_only_keeps_locked_flags() {
        let src = tempfile::tempdir().unwrap();
        let file = src.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let vols = [
            Volume {
                source: file.clone(),
                destination: "/data/sub/f".into(),
                read_only: true,
            },
            Volume {
                source: src.path().into(),
                destination: "/data".into(),
                read_only: false,
            },
        ];
        let (_d, p) = plan(true, &vols);
        assert_eq!(p.volumes[0].target, p.rootfs.join("data"));
        assert!(p.volumes[0].is_dir);
        assert!(!p.volumes[1].is_dir);
        let mut sys = RecordingSyscall::default();
        sys.source_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        p.apply(&sys).unwrap();
        let calls = sys.calls();
        let f_target = p.rootfs.join("data/sub/f");
        let i = calls
            .iter()
            .position(|c| *c == Call::CreateFile(f_target.clone()))
            .unwrap();
        assert!(calls[..i].contains(&Call::MkdirAll(p.rootfs.join("data"))));
        assert_eq!(
            calls[i + 2],
            Call::Mount {
                source: None,
                target: f_target,
                fstype: None,
                flags: MsFlags::MS_BIND
                    | MsFlags::MS_REMOUNT
                    | MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV,
                data: None
            }
        );
    }

    #[test]
    fn missing_volume_source_and_rootfs_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let vols = [Volume {
            source: dir.path().join("nope"),
            destination: "/x".into(),
            read_only: false,
        }];
        assert!(matches!(
            MountPlan::new(dir.path(), dir.path(), &vols, "/", false),
            Err(Error::VolumeSource(_))
        ));
        assert!(matches!(
            MountPlan::new(&dir.path().join("none"), dir.path(), &[], "/", false),
            Err(Error::BadRootfs(_))
        ));
    }

    #[test]
    fn credentials_order() {
        let sys = RecordingSyscall::default();
        set_credentials(&sys, 1000, 100, &[10], false).unwrap();
        assert_eq!(
            sys.calls(),
            [
                Call::DropBoundingCaps(DEFAULT_CAPS.to_vec()),
                Call::Setgroups(vec![10]),
                Call::Setgid(100),
                Call::Setuid(1000)
            ]
        );
        let sys = RecordingSyscall::default();
        set_credentials(&sys, 0, 0, &[], true).unwrap();
        assert!(!sys.calls().iter().any(|c| matches!(c, Call::Setgroups(_))));
    }
}
