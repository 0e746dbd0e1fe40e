//! Per-container copy-on-write views of an image's read-only root.
//!
//! [`RootfsView::create`] makes `DIR/upper`, `DIR/work` and `DIR/merged` and
//! mounts an overlay (`lowerdir` = the cached image root) on `merged`. When
//! overlay is not allowed (no privilege in this mount namespace, nested
//! overlay, unsupported filesystem) and the mode permits, it falls back to a
//! full copy of the lower directory into `merged`.
//!
//! The mount happens in the caller's current mount namespace: a container
//! runtime should call this after `unshare(CLONE_NEWNS)` (and make `/`
//! private) so that the mount disappears with the container.

use crate::error::{Error, IoPath, Result};
use rustix::fs::{AtFlags, FileType, Mode};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How the writable view is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewMode {
    /// Overlay if the kernel allows it here, else a copy.
    Auto,
    /// Overlay only; fail if not allowed.
    Overlay,
    /// Always copy.
    Copy,
}

/// What a view ended up being.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    /// An overlay mount on `merged` (must be unmounted: see [`RootfsView::release`]).
    Overlay,
    /// A private copy in `merged`.
    Copy,
}

/// A writable root for one container.
#[derive(Debug, Clone)]
pub struct RootfsView {
    /// The image's read-only root.
    pub lower: PathBuf,
    /// The container's directory holding the pieces below.
    pub dir: PathBuf,
    /// Overlay upper directory (changes made by the container).
    pub upper: PathBuf,
    /// Overlay work directory.
    pub work: PathBuf,
    /// The root the container sees.
    pub merged: PathBuf,
    /// Overlay or copy.
    pub kind: ViewKind,
    /// Why overlay was not used, when it was not.
    pub overlay_error: Option<String>,
}

/// The overlay mount data for these directories.
pub fn overlay_options(lower: &Path, upper: &Path, work: &Path) -> String {
    format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    )
}

impl RootfsView {
    /// Creates the view under `dir` (created if missing).
    pub fn create(lower: &Path, dir: &Path, mode: ViewMode) -> Result<Self> {
        let upper = dir.join("upper");
        let work = dir.join("work");
        let merged = dir.join("merged");
        for d in [dir, &upper, &work, &merged] {
            fs::create_dir_all(d).at(d)?;
        }
        let mut view = RootfsView {
            lower: lower.to_path_buf(),
            dir: dir.to_path_buf(),
            upper,
            work,
            merged,
            kind: ViewKind::Copy,
            overlay_error: None,
        };
        if mode != ViewMode::Copy {
            let data = overlay_options(lower, &view.upper, &view.work);
            let cdata = std::ffi::CString::new(data.clone()).map_err(|_| Error::Io {
                path: view.merged.clone(),
                source: std::io::Error::other("NUL byte in overlay paths"),
            })?;
            match rustix::mount::mount(
                "overlay",
                &view.merged,
                "overlay",
                rustix::mount::MountFlags::empty(),
                Some(cdata.as_c_str()),
            ) {
                Ok(()) => {
                    view.kind = ViewKind::Overlay;
                    return Ok(view);
                }
                Err(e) if mode == ViewMode::Overlay => {
                    return Err(Error::Io {
                        path: view.merged.clone(),
                        source: std::io::Error::other(format!("overlay mount ({data}): {e}")),
                    });
                }
                Err(e) => view.overlay_error = Some(e.to_string()),
            }
        }
        copy_tree(lower, &view.merged)?;
        Ok(view)
    }

    /// Unmounts (for overlay) and removes the view's directory.
    pub fn release(self) -> Result<()> {
        if self.kind == ViewKind::Overlay {
            rustix::mount::unmount(&self.merged, rustix::mount::UnmountFlags::DETACH).map_err(
                |e| Error::Io {
                    path: self.merged.clone(),
                    source: e.into(),
                },
            )?;
        }
        crate::store::remove_tree(&self.dir)
    }
}

/// Copies a tree preserving symlinks, hard links, modes, times, ownership
/// (when permitted) and device nodes (when permitted).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let root_meta = fs::symlink_metadata(src).at(src)?;
    copy_dir(src, dst, &mut links)?;
    finish_meta(dst, &root_meta);
    Ok(())
}

fn finish_meta(dst: &Path, m: &fs::Metadata) {
    let _ = rustix::fs::chownat(
        rustix::fs::CWD,
        dst,
        Some(rustix::fs::Uid::from_raw(m.uid())),
        Some(rustix::fs::Gid::from_raw(m.gid())),
        AtFlags::SYMLINK_NOFOLLOW,
    );
    if !m.file_type().is_symlink() {
        let _ = fs::set_permissions(dst, fs::Permissions::from_mode(m.mode() & 0o7777));
    }
    let t = rustix::fs::Timespec {
        tv_sec: m.mtime(),
        tv_nsec: m.mtime_nsec(),
    };
    let ts = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    let _ = rustix::fs::utimensat(rustix::fs::CWD, dst, &ts, AtFlags::SYMLINK_NOFOLLOW);
}

fn copy_dir(src: &Path, dst: &Path, links: &mut HashMap<(u64, u64), PathBuf>) -> Result<()> {
    if !dst.exists() {
        fs::create_dir(dst).at(dst)?;
    }
    fs::set_permissions(dst, fs::Permissions::from_mode(0o700)).at(dst)?;
    for ent in fs::read_dir(src).at(src)? {
        let ent = ent.at(src)?;
        let s = ent.path();
        let d = dst.join(ent.file_name());
        let m = fs::symlink_metadata(&s).at(&s)?;
        let ft = m.file_type();
        if ft.is_dir() {
            copy_dir(&s, &d, links)?;
        } else if ft.is_symlink() {
            let t = fs::read_link(&s).at(&s)?;
            std::os::unix::fs::symlink(&t, &d).at(&d)?;
        } else {
            if m.nlink() > 1 {
                if let Some(first) = links.get(&(m.dev(), m.ino())) {
                    fs::hard_link(first, &d).at(&d)?;
                    continue;
                }
                links.insert((m.dev(), m.ino()), d.clone());
            }
            if ft.is_file() {
                fs::copy(&s, &d).at(&d)?;
            } else {
                let ftype = FileType::from_raw_mode(m.mode());
                if let Err(e) = rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &d,
                    ftype,
                    Mode::from_raw_mode(m.mode() & 0o7777),
                    m.rdev(),
                ) {
                    tracing::debug!("{}: device not copied: {e}", d.display());
                    continue;
                }
            }
        }
        finish_meta(&d, &m);
    }
    Ok(())
}
