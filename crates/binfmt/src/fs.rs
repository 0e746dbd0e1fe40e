//! A mounted binfmt_misc instance: reading entries, registering, removing.

use crate::Error;
use crate::entry::{Entry, Registration};
use rustix::io::Errno;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where binfmt_misc is normally mounted.
pub const DEFAULT_MOUNTPOINT: &str = "/proc/sys/fs/binfmt_misc";

/// `f_type` of a binfmt_misc superblock (include/uapi/linux/magic.h).
const BINFMTFS_MAGIC: u64 = 0x4249_4e4d;

/// A directory where a binfmt_misc instance is mounted. Every write goes
/// through a value of this type, which is only made after checking the
/// directory really is binfmt_misc: nothing is written into a plain
/// directory or into another file system by mistake.
#[derive(Debug)]
pub struct BinfmtFs {
    dir: PathBuf,
}

/// Whether `dir` is the root of a mounted binfmt_misc.
pub fn is_mounted(dir: &Path) -> Result<bool, Error> {
    match rustix::fs::statfs(dir) {
        // f_type's integer type differs between targets.
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        Ok(st) => Ok(st.f_type as u64 == BINFMTFS_MAGIC),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(Error::io(format!("statfs {}", dir.display()), e.into())),
    }
}

fn kernel_supports_binfmt_misc() -> bool {
    fs::read_to_string("/proc/filesystems")
        .map(|s| {
            s.lines()
                .any(|l| l.split_whitespace().last() == Some("binfmt_misc"))
        })
        // Without /proc we cannot tell: let mount(2) decide.
        .unwrap_or(true)
}

impl BinfmtFs {
    /// Uses an already mounted instance.
    pub fn open(dir: &Path) -> Result<BinfmtFs, Error> {
        if !is_mounted(dir)? {
            return Err(Error::NotMounted(dir.to_owned()));
        }
        Ok(BinfmtFs {
            dir: dir.to_owned(),
        })
    }

    /// Uses the instance at `dir`, mounting binfmt_misc there first when it
    /// is not mounted. Explains why when that is impossible.
    pub fn open_or_mount(dir: &Path) -> Result<BinfmtFs, Error> {
        if is_mounted(dir)? {
            return Self::open(dir);
        }
        if !kernel_supports_binfmt_misc() {
            return Err(Error::Mount(
                dir.to_owned(),
                "the kernel has no binfmt_misc support (CONFIG_BINFMT_MISC; try `modprobe binfmt_misc`)".into(),
            ));
        }
        use rustix::mount::{MountFlags, mount};
        let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
        match mount("binfmt_misc", dir, "binfmt_misc", flags, None) {
            Ok(()) => Self::open(dir),
            Err(e) => {
                let why = match e {
                    Errno::PERM | Errno::ACCESS => {
                        "permission denied: run as root (CAP_SYS_ADMIN); a private instance in a user namespace needs Linux 6.7 or newer".into()
                    }
                    Errno::ROFS => "the file system is read-only (a container with read-only /proc?)".into(),
                    Errno::NODEV => "the kernel has no binfmt_misc support".into(),
                    Errno::NOENT | Errno::NOTDIR => "no such directory".into(),
                    e => std::io::Error::from(e).to_string(),
                };
                Err(Error::Mount(dir.to_owned(), why))
            }
        }
    }

    /// The mountpoint.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether binfmt_misc as a whole is enabled (the `status` file).
    pub fn enabled(&self) -> Result<bool, Error> {
        let p = self.dir.join("status");
        let s =
            fs::read_to_string(&p).map_err(|e| Error::io(format!("read {}", p.display()), e))?;
        Ok(s.trim() == "enabled")
    }

    /// Every entry, in the order the kernel tries them (the directory lists
    /// the newest registration first, and so does the kernel's lookup).
    pub fn entries(&self) -> Result<Vec<Entry>, Error> {
        let rd = fs::read_dir(&self.dir)
            .map_err(|e| Error::io(format!("read {}", self.dir.display()), e))?;
        let mut out = Vec::new();
        for de in rd {
            let de = de.map_err(|e| Error::io(format!("read {}", self.dir.display()), e))?;
            let name = de.file_name().to_string_lossy().into_owned();
            if name == "register" || name == "status" {
                continue;
            }
            if let Some(e) = self.entry(&name)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// One entry, or `None` when it does not exist.
    pub fn entry(&self, name: &str) -> Result<Option<Entry>, Error> {
        let p = self.dir.join(name);
        match fs::read_to_string(&p) {
            Ok(text) => Entry::parse(name, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("read {}", p.display()), e)),
        }
    }

    /// Registers an entry. With the F flag the kernel opens the
    /// interpreter now, in the caller's mount namespace.
    pub fn register(&self, reg: &Registration) -> Result<(), Error> {
        let line = reg.to_line()?;
        self.write(&self.dir.join("register"), line.as_bytes())
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EEXIST) => Error::Exists(reg.name.clone()),
                Some(libc::ENOENT) if reg.flags.fix_binary => Error::io(
                    format!("register {}: interpreter {}", reg.name, reg.interpreter),
                    e,
                ),
                _ => Error::io(format!("register {}", reg.name), e),
            })
    }

    /// Removes an entry.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        self.write(&self.dir.join(name), b"-1")
            .map_err(|e| Error::io(format!("remove binfmt_misc entry {name}"), e))
    }

    fn write(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        // One write(2) call: the kernel parses each write on its own.
        let mut f = fs::OpenOptions::new().write(true).open(path)?;
        let n = f.write(data)?;
        if n != data.len() {
            return Err(std::io::Error::other("short write"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_directory_is_not_binfmt_misc() {
        let d = tempfile::tempdir().unwrap();
        assert!(!is_mounted(d.path()).unwrap());
        let err = BinfmtFs::open(d.path()).unwrap_err();
        assert!(err.to_string().contains("not mounted"), "{err}");
        assert!(!is_mounted(&d.path().join("missing")).unwrap());
    }
}
