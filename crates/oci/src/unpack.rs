//! Safe application of layer tars onto a root directory.
//!
//! Every entry is reached by walking its path one component at a time from
//! the root's file descriptor with `O_NOFOLLOW`, so nothing is ever written
//! outside the root: absolute paths and `..` components are rejected, and a
//! path that would pass through a symlink (from this or a lower layer) is
//! rejected rather than followed. Hard-link targets are resolved the same way.
//!
//! Layers are applied in order onto one directory. OCI whiteouts are honoured:
//! `.wh.NAME` deletes `NAME` from lower layers, `.wh..wh..opq` empties its
//! directory of lower-layer content. Directory modes and times are applied by
//! [`Unpacker::finish`], after all layers, so read-only directories do not
//! block later layers.

use crate::error::{Error, Result};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps};
use rustix::io::Errno;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// What unpacking had to leave out (reported to the user as notes).
#[derive(Debug, Default, Clone)]
pub struct UnpackReport {
    /// Device nodes not created because we lack the privilege.
    pub skipped_devices: Vec<String>,
    /// Entries whose ownership could not be set (unprivileged).
    pub chown_failures: usize,
    /// Extended attributes that could not be set.
    pub xattr_failures: usize,
}

impl UnpackReport {
    /// Human-readable notes, empty when nothing was left out.
    pub fn notes(&self) -> Vec<String> {
        let mut v = Vec::new();
        if !self.skipped_devices.is_empty() {
            v.push(format!(
                "skipped {} device node(s) (not permitted without privilege), e.g. {}",
                self.skipped_devices.len(),
                self.skipped_devices[0]
            ));
        }
        if self.chown_failures > 0 {
            v.push(format!(
                "{} file(s) kept the unpacking user's ownership (chown not permitted)",
                self.chown_failures
            ));
        }
        if self.xattr_failures > 0 {
            v.push(format!(
                "{} extended attribute(s) not set (not permitted or unsupported)",
                self.xattr_failures
            ));
        }
        v
    }
}

/// Options for unpacking.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Set file ownership from the tar headers (default: when running as root,
    /// which includes root inside a user namespace, where ids are mapped).
    pub chown: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        Self {
            chown: rustix::process::geteuid().is_root(),
        }
    }
}

struct DirMeta {
    path: Vec<Vec<u8>>,
    mode: u32,
    mtime: u64,
}

/// Applies layers in order onto a root directory.
pub struct Unpacker {
    root: OwnedFd,
    opts: UnpackOptions,
    report: UnpackReport,
    dirs: Vec<DirMeta>,
}

fn unsafe_entry(entry: &[u8], reason: impl Into<String>) -> Error {
    Error::UnsafeEntry {
        entry: String::from_utf8_lossy(entry).into_owned(),
        reason: reason.into(),
    }
}

fn io_err(entry: &[u8], what: &str, e: impl Into<io::Error>) -> Error {
    unsafe_entry(entry, format!("{what}: {}", e.into()))
}

/// Splits an entry path into validated components; `Ok(vec![])` is the root.
pub fn components(path: &[u8]) -> Result<Vec<Vec<u8>>> {
    if path.first() == Some(&b'/') {
        return Err(unsafe_entry(path, "absolute path"));
    }
    if path.contains(&0) {
        return Err(unsafe_entry(path, "NUL byte in path"));
    }
    let mut out = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(unsafe_entry(path, "path contains '..'")),
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn open_dir_nofollow(dir: impl AsFd, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Removes `name` in `dir`, recursively for directories, never following symlinks.
fn remove_at(dir: impl AsFd, name: &[u8]) -> io::Result<()> {
    let st = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(s) => s,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let sub = open_dir_nofollow(&dir, name)?;
        clear_dir(&sub, &HashSet::new(), &[])?;
        rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rustix::fs::unlinkat(&dir, name, AtFlags::empty())?;
    }
    Ok(())
}

/// Removes every child of `dir` except those whose path (prefix + name) is in `keep`.
fn clear_dir(dir: &OwnedFd, keep: &HashSet<Vec<Vec<u8>>>, prefix: &[Vec<u8>]) -> io::Result<()> {
    let names: Vec<Vec<u8>> = {
        let mut d = rustix::fs::Dir::read_from(dir)?;
        let mut v = Vec::new();
        while let Some(ent) = d.read() {
            let ent = ent?;
            let n = ent.file_name().to_bytes();
            if n != b"." && n != b".." {
                v.push(n.to_vec());
            }
        }
        v
    };
    for n in names {
        let mut p = prefix.to_vec();
        p.push(n.clone());
        if keep.contains(&p) {
            continue;
        }
        // Keep children of kept directories that this layer created as well.
        if keep.iter().any(|k| k.starts_with(&p)) {
            let st = rustix::fs::statat(dir, n.as_slice(), AtFlags::SYMLINK_NOFOLLOW)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                let sub = open_dir_nofollow(dir, &n)?;
                clear_dir(&sub, keep, &p)?;
                continue;
            }
        }
        remove_at(dir, &n)?;
    }
    Ok(())
}

impl Unpacker {
    /// Prepares to unpack into `root`, which must exist and be a directory.
    pub fn new(root: &Path, opts: UnpackOptions) -> Result<Self> {
        let root_fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::Io {
            path: root.to_path_buf(),
            source: e.into(),
        })?;
        Ok(Self {
            root: root_fd,
            opts,
            report: UnpackReport::default(),
            dirs: Vec::new(),
        })
    }

    /// Opens the directory at `comps`, creating missing directories when
    /// `create`; fails if any component is a symlink or not a directory.
    fn walk(&self, entry: &[u8], comps: &[Vec<u8>], create: bool) -> Result<OwnedFd> {
        let mut cur = rustix::io::dup(&self.root).map_err(|e| io_err(entry, "dup", e))?;
        for c in comps {
            let next = match open_dir_nofollow(&cur, c) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) && create => {
                    rustix::fs::mkdirat(&cur, c.as_slice(), Mode::from_raw_mode(0o755))
                        .map_err(|e| io_err(entry, "mkdir", e))?;
                    open_dir_nofollow(&cur, c).map_err(|e| io_err(entry, "open", e))?
                }
                Err(e) if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => {
                    return Err(unsafe_entry(
                        entry,
                        format!(
                            "path goes through symlink {:?}; refusing to write through it",
                            String::from_utf8_lossy(c)
                        ),
                    ));
                }
                Err(e) if e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) => {
                    return Err(unsafe_entry(
                        entry,
                        format!("{:?} is not a directory", String::from_utf8_lossy(c)),
                    ));
                }
                Err(e) => return Err(io_err(entry, "open parent", e)),
            };
            cur = next;
        }
        Ok(cur)
    }

    /// Applies one (uncompressed) layer tar.
    pub fn apply_layer<R: Read>(&mut self, reader: R) -> Result<()> {
        let mut archive = tar::Archive::new(reader);
        let mut this_layer: HashSet<Vec<Vec<u8>>> = HashSet::new();
        let entries = archive
            .entries()
            .map_err(|e| unsafe_entry(b"", format!("reading layer: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| unsafe_entry(b"", format!("reading layer: {e}")))?;
            let path = entry.path_bytes().into_owned();
            self.apply_entry(&mut entry, &path, &mut this_layer)?;
        }
        Ok(())
    }

    fn apply_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        path: &[u8],
        this_layer: &mut HashSet<Vec<Vec<u8>>>,
    ) -> Result<()> {
        let comps = components(path)?;
        let Some((name, parents)) = comps.split_last() else {
            return Ok(()); // the root itself ("./"): keep our root's metadata
        };
        let name = name.as_slice();
        if let Some(target) = name.strip_prefix(b".wh.") {
            let parent = self.walk(path, parents, true)?;
            if target == b".wh..opq" {
                clear_dir(&parent, this_layer, parents)
                    .map_err(|e| io_err(path, "opaque whiteout", e))?;
            } else if target.starts_with(b".wh.") {
                // Other aufs metadata (.wh..wh.plnk etc.): nothing to do.
            } else if target.is_empty() || target == b"." || target == b".." {
                return Err(unsafe_entry(path, "malformed whiteout"));
            } else {
                remove_at(&parent, target).map_err(|e| io_err(path, "whiteout", e))?;
            }
            return Ok(());
        }
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().map_err(|e| io_err(path, "mode", e))? & 0o7777;
        let uid = header.uid().unwrap_or(0);
        let gid = header.gid().unwrap_or(0);
        let mtime = header.mtime().unwrap_or(0);
        let parent = self.walk(path, parents, true)?;
        this_layer.insert(comps.clone());

        use tar::EntryType as T;
        match kind {
            T::Directory => {
                match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                    Ok(_) => {
                        remove_at(&parent, name).map_err(|e| io_err(path, "replace", e))?;
                        rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755))
                            .map_err(|e| io_err(path, "mkdir", e))?;
                    }
                    Err(_) => rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755))
                        .map_err(|e| io_err(path, "mkdir", e))?,
                }
                self.chown(&parent, name, uid, gid);
                self.xattrs(entry, &parent, name, path);
                self.dirs.push(DirMeta {
                    path: comps.clone(),
                    mode,
                    mtime,
                });
                return Ok(());
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                remove_at(&parent, name).map_err(|e| io_err(path, "replace", e))?;
                let fd = rustix::fs::openat(
                    &parent,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| io_err(path, "create", e))?;
                let mut f = File::from(fd);
                io::copy(entry, &mut f).map_err(|e| io_err(path, "write", e))?;
                self.chown(&parent, name, uid, gid);
                rustix::fs::fchmod(&f, Mode::from_raw_mode(mode))
                    .map_err(|e| io_err(path, "chmod", e))?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_entry(path, "symlink without target"))?
                    .into_owned();
                if target.is_empty() || target.contains(&0) {
                    return Err(unsafe_entry(path, "empty or invalid symlink target"));
                }
                remove_at(&parent, name).map_err(|e| io_err(path, "replace", e))?;
                rustix::fs::symlinkat(target.as_slice(), &parent, name)
                    .map_err(|e| io_err(path, "symlink", e))?;
                self.chown(&parent, name, uid, gid);
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_entry(path, "hard link without target"))?
                    .into_owned();
                let tcomps = components(&target)
                    .map_err(|_| unsafe_entry(path, "hard link target escapes the root"))?;
                let Some((tname, tparents)) = tcomps.split_last() else {
                    return Err(unsafe_entry(path, "hard link to the root"));
                };
                if tcomps == comps {
                    return Ok(());
                }
                let tparent = self.walk(path, tparents, false)?;
                let st = rustix::fs::statat(&tparent, tname.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| io_err(path, "hard link target", e))?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    return Err(unsafe_entry(path, "hard link to a directory"));
                }
                remove_at(&parent, name).map_err(|e| io_err(path, "replace", e))?;
                rustix::fs::linkat(&tparent, tname.as_slice(), &parent, name, AtFlags::empty())
                    .map_err(|e| io_err(path, "link", e))?;
                return Ok(());
            }
            T::Char | T::Block | T::Fifo => {
                remove_at(&parent, name).map_err(|e| io_err(path, "replace", e))?;
                let (ft, dev) = match kind {
                    T::Char | T::Block => {
                        let major = header.device_major().ok().flatten().unwrap_or(0);
                        let minor = header.device_minor().ok().flatten().unwrap_or(0);
                        let ft = if kind == T::Char {
                            FileType::CharacterDevice
                        } else {
                            FileType::BlockDevice
                        };
                        (ft, rustix::fs::makedev(major, minor))
                    }
                    _ => (FileType::Fifo, 0),
                };
                match rustix::fs::mknodat(&parent, name, ft, Mode::from_raw_mode(mode), dev) {
                    Ok(()) => {}
                    Err(Errno::PERM | Errno::ACCESS) if ft != FileType::Fifo => {
                        self.report
                            .skipped_devices
                            .push(String::from_utf8_lossy(path).into_owned());
                        return Ok(());
                    }
                    Err(e) => return Err(io_err(path, "mknod", e)),
                }
                self.chown(&parent, name, uid, gid);
                rustix::fs::chmodat(&parent, name, Mode::from_raw_mode(mode), AtFlags::empty())
                    .map_err(|e| io_err(path, "chmod", e))?;
            }
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => return Ok(()),
            other => {
                return Err(unsafe_entry(
                    path,
                    format!("unsupported entry type {other:?}"),
                ));
            }
        }
        if kind != T::Symlink {
            self.xattrs(entry, &parent, name, path);
        }
        let ts = rustix::fs::Timestamps {
            last_access: ts(mtime),
            last_modification: ts(mtime),
        };
        let _ = rustix::fs::utimensat(&parent, name, &ts, AtFlags::SYMLINK_NOFOLLOW);
        Ok(())
    }

    fn chown(&mut self, dir: &OwnedFd, name: &[u8], uid: u64, gid: u64) {
        if !self.opts.chown {
            return;
        }
        let (Ok(uid), Ok(gid)) = (u32::try_from(uid), u32::try_from(gid)) else {
            self.report.chown_failures += 1;
            return;
        };
        let r = rustix::fs::chownat(
            dir,
            name,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        if r.is_err() {
            self.report.chown_failures += 1;
        }
    }

    fn xattrs<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        dir: &OwnedFd,
        name: &[u8],
        path: &[u8],
    ) {
        let Ok(Some(exts)) = entry.pax_extensions() else {
            return;
        };
        let mut pairs = Vec::new();
        for ext in exts.flatten() {
            if let Some(k) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                pairs.push((k.to_vec(), ext.value_bytes().to_vec()));
            }
        }
        if pairs.is_empty() {
            return;
        }
        let Ok(fd) = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        ) else {
            self.report.xattr_failures += pairs.len();
            return;
        };
        for (k, v) in pairs {
            if rustix::fs::fsetxattr(&fd, k.as_slice(), &v, rustix::fs::XattrFlags::empty())
                .is_err()
            {
                tracing::debug!(
                    "xattr {:?} on {:?} not set",
                    String::from_utf8_lossy(&k),
                    String::from_utf8_lossy(path)
                );
                self.report.xattr_failures += 1;
            }
        }
    }

    /// Applies deferred directory modes and times; returns what was left out.
    pub fn finish(self) -> Result<UnpackReport> {
        for d in self.dirs.iter().rev() {
            let Some((name, parents)) = d.path.split_last() else {
                continue;
            };
            // Directories may have been removed by later whiteouts: skip those.
            let Ok(parent) = self.walk(b"", parents, false) else {
                continue;
            };
            match rustix::fs::statat(&parent, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                _ => continue,
            }
            rustix::fs::chmodat(
                &parent,
                name.as_slice(),
                Mode::from_raw_mode(d.mode),
                AtFlags::empty(),
            )
            .map_err(|e| io_err(name, "chmod", e))?;
            let t = Timestamps {
                last_access: ts(d.mtime),
                last_modification: ts(d.mtime),
            };
            let _ = rustix::fs::utimensat(&parent, name.as_slice(), &t, AtFlags::SYMLINK_NOFOLLOW);
        }
        Ok(self.report)
    }
}

fn ts(secs: u64) -> rustix::fs::Timespec {
    rustix::fs::Timespec {
        tv_sec: i64::try_from(secs).unwrap_or(i64::MAX),
        tv_nsec: 0,
    }
}

/// Wraps a possibly compressed layer stream in the right decompressor,
/// recognised by its magic bytes (gzip, zstd, or plain tar).
pub fn decompress<'a, R: Read + 'a>(mut r: R) -> Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        let k = r.read(&mut magic[n..]).ctx_layer()?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let chained = io::Cursor::new(magic[..n].to_vec()).chain(r);
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(chained))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::stream::read::Decoder::new(chained).ctx_layer()?)
    } else {
        Box::new(chained)
    })
}

trait LayerCtx<T> {
    fn ctx_layer(self) -> Result<T>;
}
impl<T> LayerCtx<T> for io::Result<T> {
    fn ctx_layer(self) -> Result<T> {
        self.map_err(|source| Error::IoContext {
            context: "reading layer".into(),
            source,
        })
    }
}
