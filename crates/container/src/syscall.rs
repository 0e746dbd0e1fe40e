//! The seam between the runtime's set-up logic and the kernel: a trait with
//! the real implementation and a recording one, so the namespace and mount
//! sequence is unit-tested without root.

use crate::error::{Error, Result};
use nix::mount::{MntFlags, MsFlags};
use nix::unistd::{Gid, Uid};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// System calls used while setting up a container's mount namespace and
/// credentials, in the container's first process.
pub trait Syscall {
    /// sethostname(2).
    fn sethostname(&self, name: &str) -> Result<()>;
    /// mount(2).
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()>;
    /// umount2(2).
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<()>;
    /// pivot_root(2).
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()>;
    /// chdir(2).
    fn chdir(&self, path: &Path) -> Result<()>;
    /// `mkdir -p`.
    fn mkdir_all(&self, path: &Path) -> Result<()>;
    /// Creates an empty regular file when nothing exists at `path` (a bind
    /// mount target for a file).
    fn create_file(&self, path: &Path) -> Result<()>;
    /// symlink(2); an existing `link` is left alone.
    fn symlink(&self, target: &Path, link: &Path) -> Result<()>;
    /// mknod(2) of a character device `major:minor` with permissions
    /// `mode` (not allowed in a user namespace).
    fn mknod_char(&self, path: &Path, major: u64, minor: u64, mode: u32) -> Result<()>;
    /// The mount flags (`MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC`, `MS_RDONLY`...)
    /// of the mount holding `path`, from statvfs(2). A read-only remount in a
    /// user namespace must keep the locked ones.
    fn mount_flags(&self, path: &Path) -> Result<MsFlags>;
    /// Drops every capability not in `keep` from the bounding set.
    fn drop_bounding_caps(&self, keep: &[u32]) -> Result<()>;
    /// setgroups(2).
    fn setgroups(&self, gids: &[u32]) -> Result<()>;
    /// setresgid(2) with all three ids equal.
    fn setgid(&self, gid: u32) -> Result<()>;
    /// setresuid(2) with all three ids equal.
    fn setuid(&self, uid: u32) -> Result<()>;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

fn describe(call: &str, path: &Path) -> String {
    format!("{call} {}", path.display())
}

impl Syscall for LinuxSyscall {
    fn sethostname(&self, name: &str) -> Result<()> {
        nix::unistd::sethostname(name).map_err(|e| Error::sys(format!("sethostname {name}"), e))
    }

    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()> {
        nix::mount::mount(source, target, fstype, flags, data).map_err(|e| {
            let src = source.map_or_else(
                || fstype.unwrap_or("none").to_string(),
                |s| s.display().to_string(),
            );
            Error::sys(
                format!("mount {src} on {} ({flags:?})", target.display()),
                e,
            )
        })
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<()> {
        nix::mount::umount2(target, flags).map_err(|e| Error::sys(describe("umount", target), e))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()> {
        nix::unistd::pivot_root(new_root, put_old)
            .map_err(|e| Error::sys(describe("pivot_root", new_root), e))
    }

    fn chdir(&self, path: &Path) -> Result<()> {
        nix::unistd::chdir(path).map_err(|e| Error::sys(describe("chdir", path), e))
    }

    fn mkdir_all(&self, path: &Path) -> Result<()> {
        std::fs::create_dir_all(path).map_err(|e| Error::io("creating directory", path, e))
    }

    fn create_file(&self, path: &Path) -> Result<()> {
        if std::fs::symlink_metadata(path).is_ok() {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            self.mkdir_all(parent)?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map(drop)
            .map_err(|e| Error::io("creating file", path, e))
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        match std::os::unix::fs::symlink(target, link) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                Err(Error::io("creating symlink", link, e))
            }
            _ => Ok(()),
        }
    }

    fn mknod_char(&self, path: &Path, major: u64, minor: u64, mode: u32) -> Result<()> {
        use nix::sys::stat::{Mode, SFlag, makedev, mknod};
        let perm = Mode::from_bits_truncate(mode);
        mknod(path, SFlag::S_IFCHR, perm, makedev(major, minor))
            .map_err(|e| Error::sys(describe("mknod", path), e))?;
        // The umask may have narrowed the permissions.
        let perm = std::os::unix::fs::PermissionsExt::from_mode(mode);
        std::fs::set_permissions(path, perm).map_err(|e| Error::io("chmod", path, e))
    }

    fn mount_flags(&self, path: &Path) -> Result<MsFlags> {
        use nix::sys::statvfs::{FsFlags, statvfs};
        let st = statvfs(path).map_err(|e| Error::sys(describe("statvfs", path), e))?;
        let f = st.flags();
        let pairs = [
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ];
        Ok(pairs
            .iter()
            .filter(|(fs, _)| f.contains(*fs))
            .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms))
    }

    fn drop_bounding_caps(&self, keep: &[u32]) -> Result<()> {
        let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(40);
        for cap in (0..=last).filter(|c| !keep.contains(c)) {
            // SAFETY: PR_CAPBSET_DROP takes an integer capability number and
            // touches no memory of ours.
            let rc =
                unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
            if rc != 0 {
                let errno = nix::errno::Errno::last();
                // EINVAL: this kernel does not know the capability.
                if errno != nix::errno::Errno::EINVAL {
                    return Err(Error::sys(format!("prctl(PR_CAPBSET_DROP, {cap})"), errno));
                }
            }
        }
        Ok(())
    }

    fn setgroups(&self, gids: &[u32]) -> Result<()> {
        let gids: Vec<Gid> = gids.iter().map(|g| Gid::from_raw(*g)).collect();
        nix::unistd::setgroups(&gids).map_err(|e| Error::sys("setgroups", e))
    }

    fn setgid(&self, gid: u32) -> Result<()> {
        let g = Gid::from_raw(gid);
        nix::unistd::setresgid(g, g, g).map_err(|e| Error::sys(format!("setresgid {gid}"), e))
    }

    fn setuid(&self, uid: u32) -> Result<()> {
        let u = Uid::from_raw(uid);
        nix::unistd::setresuid(u, u, u).map_err(|e| Error::sys(format!("setresuid {uid}"), e))
    }
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Call {
    Sethostname(String),
    Mount {
        source: Option<PathBuf>,
        target: PathBuf,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    Umount2(PathBuf, MntFlags),
    PivotRoot(PathBuf, PathBuf),
    Chdir(PathBuf),
    MkdirAll(PathBuf),
    CreateFile(PathBuf),
    Symlink(PathBuf, PathBuf),
    MknodChar(PathBuf, u64, u64, u32),
    DropBoundingCaps(Vec<u32>),
    Setgroups(Vec<u32>),
    Setgid(u32),
    Setuid(u32),
}

/// Records every call and succeeds; `mount_flags` answers with
/// `source_flags` so tests can check that locked flags are kept.
#[derive(Debug)]
pub struct RecordingSyscall {
    calls: RefCell<Vec<Call>>,
    /// What `mount_flags` returns.
    pub source_flags: MsFlags,
    /// Calls for which this returns true fail with EPERM (still recorded).
    pub refuse: Option<fn(&Call) -> bool>,
}

impl Default for RecordingSyscall {
    fn default() -> Self {
        RecordingSyscall {
            calls: RefCell::default(),
            source_flags: MsFlags::empty(),
            refuse: None,
        }
    }
}

impl RecordingSyscall {
    /// The calls made so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    fn push(&self, c: Call) -> Result<()> {
        let refused = self.refuse.is_some_and(|f| f(&c));
        self.calls.borrow_mut().push(c);
        if refused {
            return Err(Error::sys("refused by the test", nix::errno::Errno::EPERM));
        }
        Ok(())
    }
}

impl Syscall for RecordingSyscall {
    fn sethostname(&self, name: &str) -> Result<()> {
        self.push(Call::Sethostname(name.into()))
    }
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()> {
        self.push(Call::Mount {
            source: source.map(Into::into),
            target: target.into(),
            fstype: fstype.map(Into::into),
            flags,
            data: data.map(Into::into),
        })
    }
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<()> {
        self.push(Call::Umount2(target.into(), flags))
    }
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()> {
        self.push(Call::PivotRoot(new_root.into(), put_old.into()))
    }
    fn chdir(&self, path: &Path) -> Result<()> {
        self.push(Call::Chdir(path.into()))
    }
    fn mkdir_all(&self, path: &Path) -> Result<()> {
        self.push(Call::MkdirAll(path.into()))
    }
    fn create_file(&self, path: &Path) -> Result<()> {
        self.push(Call::CreateFile(path.into()))
    }
    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        self.push(Call::Symlink(target.into(), link.into()))
    }
    fn mknod_char(&self, path: &Path, major: u64, minor: u64, mode: u32) -> Result<()> {
        self.push(Call::MknodChar(path.into(), major, minor, mode))
    }
    fn mount_flags(&self, _path: &Path) -> Result<MsFlags> {
        Ok(self.source_flags)
    }
    fn drop_bounding_caps(&self, keep: &[u32]) -> Result<()> {
        self.push(Call::DropBoundingCaps(keep.to_vec()))
    }
    fn setgroups(&self, gids: &[u32]) -> Result<()> {
        self.push(Call::Setgroups(gids.to_vec()))
    }
    fn setgid(&self, gid: u32) -> Result<()> {
        self.push(Call::Setgid(gid))
    }
    fn setuid(&self, uid: u32) -> Result<()> {
        self.push(Call::Setuid(uid))
    }
}
