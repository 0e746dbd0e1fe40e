//! `install` and `uninstall`: the interpreter file, the kernel entry and
//! the systemd-binfmt drop-in.

use crate::Error;
use crate::arch::Arch;
use crate::entry::{Flags, Matcher, Registration, winner};
use crate::fs::BinfmtFs;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where the persistent copy of xarch and its handler links live.
pub const PERSISTENT_DIR: &str = "/usr/local/libexec/xarch";
/// Where a non-persistent install puts them (gone at reboot, like the
/// kernel registration itself).
pub const RUNTIME_DIR: &str = "/run/xarch";
/// systemd-binfmt's drop-in directory.
pub const BINFMT_D: &str = "/etc/binfmt.d";
/// Name of the copy of xarch in those directories.
const BINARY_NAME: &str = "xarch";

/// The file system root the install writes under: `/` normally, a scratch
/// directory in tests (like `DESTDIR`). Paths written into binfmt.d files
/// are the ones seen from inside that root.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The root prefix.
    pub root: PathBuf,
}

impl Default for Layout {
    fn default() -> Self {
        Layout { root: "/".into() }
    }
}

impl Layout {
    /// `path` (absolute) under the root.
    pub fn host_path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// The systemd-binfmt drop-in of `arch`.
    pub fn conf_file(&self, arch: &Arch) -> PathBuf {
        self.host_path(BINFMT_D)
            .join(format!("{}.conf", arch.entry_name()))
    }
}

/// What to install.
#[derive(Clone, Debug)]
pub struct InstallOptions {
    /// Architectures.
    pub arches: Vec<&'static Arch>,
    /// Flags of the entries.
    pub flags: Flags,
    /// Also write binfmt.d drop-ins and keep the binary in [`PERSISTENT_DIR`].
    pub persistent: bool,
    /// Unregister other handlers for the same binaries.
    pub replace: bool,
    /// Register this existing file instead of a copy of xarch.
    pub interpreter: Option<PathBuf>,
    /// The xarch binary to copy (normally /proc/self/exe).
    pub self_exe: PathBuf,
    /// Root prefix.
    pub layout: Layout,
}

/// What `install` did for one architecture.
#[derive(Clone, Debug)]
pub struct Installed {
    /// Architecture.
    pub arch: &'static Arch,
    /// The registration written.
    pub registration: Registration,
    /// Other entries unregistered because of `--replace`.
    pub replaced: Vec<String>,
    /// Whether an earlier xarch entry was re-registered.
    pub reinstalled: bool,
    /// The binfmt.d drop-in written, if persistent.
    pub conf_file: Option<PathBuf>,
}

/// Registers xarch for every requested architecture. Nothing is changed for
/// any architecture when another handler is in the way and `replace` is off.
pub fn install(bfs: &BinfmtFs, opts: &InstallOptions) -> Result<Vec<Installed>, Error> {
    let entries = bfs.entries()?;
    // Check every architecture before touching anything.
    let mut plans = Vec::new();
    for &arch in &opts.arches {
        let ours = arch.entry_name();
        let matcher = Matcher::of_arch(arch);
        let others: Vec<_> = entries
            .iter()
            .filter(|e| e.name != ours && e.enabled && e.matcher.overlaps(&matcher))
            .collect();
        if let Some(first) = others.first()
            && !opts.replace
        {
            let wins = winner(&entries, &matcher).unwrap_or(first);
            return Err(Error::Conflict {
                arch: arch.name,
                others: others
                    .iter()
                    .map(|e| format!("{} ({})", e.name, e.interpreter))
                    .collect::<Vec<_>>()
                    .join(", "),
                winner: wins.name.clone(),
            });
        }
        plans.push((
            arch,
            others.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
        ));
    }

    let mut done = Vec::new();
    for (arch, others) in plans {
        let interpreter = match &opts.interpreter {
            Some(p) => {
                let p =
                    std::path::absolute(p).map_err(|e| Error::io(format!("{}", p.display()), e))?;
                if !p.is_file() {
                    return Err(Error::BadInterpreter(p.display().to_string()));
                }
                p
            }
            None => {
                let dir = opts.layout.host_path(if opts.persistent {
                    PERSISTENT_DIR
                } else {
                    RUNTIME_DIR
                });
                place_handler(&opts.self_exe, &dir, arch)?
            }
        };
        let interp_str = interpreter
            .to_str()
            .ok_or_else(|| Error::BadInterpreter(interpreter.display().to_string()))?;
        let reg = Registration::for_arch(arch, interp_str, opts.flags);
        reg.to_line()?;
        for name in &others {
            bfs.remove(name)?;
        }
        let reinstalled = bfs.entry(&reg.name)?.is_some();
        if reinstalled {
            // Re-register even when identical: with F the kernel holds the
            // file opened at registration, which may be an older binary.
            bfs.remove(&reg.name)?;
        }
        bfs.register(&reg)?;
        let conf_file = if opts.persistent {
            Some(write_conf(&opts.layout, arch, &reg)?)
        } else {
            None
        };
        done.push(Installed {
            arch,
            registration: reg,
            replaced: others,
            reinstalled,
            conf_file,
        });
    }
    Ok(done)
}

/// Copies xarch into `dir` (once, shared by all architectures) and makes
/// the hard link `dir/xarch-ARCH-binfmt` the kernel will start.
fn place_handler(self_exe: &Path, dir: &Path, arch: &Arch) -> Result<PathBuf, Error> {
    let ctx = |what: &str, p: &Path| format!("{what} {}", p.display());
    fs::create_dir_all(dir).map_err(|e| Error::io(ctx("create", dir), e))?;
    let binary = dir.join(BINARY_NAME);
    let same = match (fs::read(self_exe), fs::read(&binary)) {
        (Ok(a), Ok(b)) => a == b,
        (Err(e), _) => return Err(Error::io(ctx("read", self_exe), e)),
        _ => false,
    };
    if !same {
        // Write a new file and rename it over the old one: a running
        // handler or an F registration keeps the old inode.
        let tmp = dir.join(format!(".{BINARY_NAME}.tmp"));
        fs::copy(self_exe, &tmp).map_err(|e| Error::io(ctx("copy to", &tmp), e))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io(ctx("chmod", &tmp), e))?;
        fs::rename(&tmp, &binary).map_err(|e| Error::io(ctx("rename to", &binary), e))?;
    }
    let link = dir.join(arch.handler_file_name());
    let tmp = dir.join(format!(".{}.tmp", arch.handler_file_name()));
    let _ = fs::remove_file(&tmp);
    fs::hard_link(&binary, &tmp).map_err(|e| Error::io(ctx("link", &tmp), e))?;
    fs::rename(&tmp, &link).map_err(|e| Error::io(ctx("rename to", &link), e))?;
    Ok(link)
}

fn write_conf(layout: &Layout, arch: &Arch, reg: &Registration) -> Result<PathBuf, Error> {
    let path = layout.conf_file(arch);
    // The drop-in names the interpreter as seen from inside the root.
    let mut inside = reg.clone();
    if let Ok(rel) = Path::new(&reg.interpreter).strip_prefix(&layout.root)
        && layout.root != Path::new("/")
    {
        inside.interpreter = format!("/{}", rel.display());
    }
    let text = format!(
        "# binfmt_misc handler for {} binaries: written by `xarch binfmt install --persistent`,\n\
         # removed by `xarch binfmt uninstall`. Read by systemd-binfmt.service at boot.\n{}\n",
        arch.name,
        inside.to_line()?
    );
    let dir = path.parent().expect("conf file has a parent");
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    fs::write(&path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    Ok(path)
}

/// What `uninstall` did for one architecture.
#[derive(Clone, Debug, Default)]
pub struct Uninstalled {
    /// The kernel entry removed, if there was one.
    pub entry: Option<String>,
    /// Files removed.
    pub files: Vec<PathBuf>,
}

/// Removes xarch's entry, drop-in and handler link for `arch`, and the
/// copied binary once no architecture uses it. Absent pieces are skipped.
pub fn uninstall(bfs: &BinfmtFs, arch: &Arch, layout: &Layout) -> Result<Uninstalled, Error> {
    let mut out = Uninstalled::default();
    let name = arch.entry_name();
    if bfs.entry(&name)?.is_some() {
        bfs.remove(&name)?;
        out.entry = Some(name);
    }
    let conf = layout.conf_file(arch);
    if remove_if_exists(&conf)? {
        out.files.push(conf);
    }
    for dir in [PERSISTENT_DIR, RUNTIME_DIR] {
        let dir = layout.host_path(dir);
        let link = dir.join(arch.handler_file_name());
        if remove_if_exists(&link)? {
            out.files.push(link);
        }
        let binary = dir.join(BINARY_NAME);
        let still_used = fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .any(|d| d.file_name().to_string_lossy().ends_with("-binfmt"))
            })
            .unwrap_or(false);
        if !still_used && remove_if_exists(&binary)? {
            out.files.push(binary);
            let _ = fs::remove_dir(&dir);
        }
    }
    Ok(out)
}

fn remove_if_exists(p: &Path) -> Result<bool, Error> {
    match fs::remove_file(p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(format!("remove {}", p.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::ARCHES;

    #[test]
    fn handler_link_and_conf_under_root() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout {
            root: root.path().to_owned(),
        };
        let exe = root.path().join("fake-xarch");
        fs::write(&exe, b"#!/bin/sh\n").unwrap();
        let dir = layout.host_path(PERSISTENT_DIR);
        let link = place_handler(&exe, &dir, &ARCHES[0]).unwrap();
        assert_eq!(link, dir.join("xarch-aarch64-binfmt"));
        assert_eq!(fs::read(&link).unwrap(), b"#!/bin/sh\n");
        // Idempotent, and a changed binary is replaced.
        fs::write(&exe, b"#!/bin/sh\n# v2\n").unwrap();
        place_handler(&exe, &dir, &ARCHES[0]).unwrap();
        assert_eq!(fs::read(&link).unwrap(), b"#!/bin/sh\n# v2\n");

        let reg = Registration::for_arch(&ARCHES[0], link.to_str().unwrap(), Flags::DEFAULT);
        let conf = write_conf(&layout, &ARCHES[0], &reg).unwrap();
        assert_eq!(conf, root.path().join("etc/binfmt.d/xarch-aarch64.conf"));
        let text = fs::read_to_string(&conf).unwrap();
        let line = text.lines().find(|l| l.starts_with(':')).unwrap();
        assert!(
            line.ends_with(":/usr/local/libexec/xarch/xarch-aarch64-binfmt:POCF"),
            "{line}"
        );
    }
}
