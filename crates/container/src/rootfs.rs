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
        })
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
        sys.symlink(Path::new("pts/ptmx"), &dev.join("ptmx"))?;
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
