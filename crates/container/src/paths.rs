//! Resolving paths inside a root filesystem without escaping it.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// The most symlinks followed while resolving one path (Linux uses 40).
const MAX_LINKS: usize = 40;

/// Joins `path` to `root` as if `root` were `/`: symbolic links met on the
/// way are resolved inside `root` (an absolute link target restarts at
/// `root`, `..` stops at `root`), so the result never points outside it.
/// Components that do not exist yet are appended as they are. This is what
/// makes mount targets safe against images with hostile symlinks such as
/// `/etc/hosts -> /etc/shadow` (the kernel would follow it on the host).
pub fn secure_join(root: &Path, path: &Path) -> PathBuf {
    let mut pending: VecDeque<OsString> = components(path).collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&name);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() && links < MAX_LINKS => {
                links += 1;
                let Ok(target) = std::fs::read_link(&candidate) else {
                    resolved.push(name);
                    continue;
                };
                if target.is_absolute() {
                    resolved.clear();
                }
                for (i, c) in components(&target).enumerate() {
                    pending.insert(i, c);
                }
            }
            _ => resolved.push(name),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    out
}

/// The normal and `..` components of a path (root and `.` dropped).
fn components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn stays_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("/etc/shadow", root.join("etc/hosts")).unwrap();
        symlink("../../../../../tmp", root.join("etc/up")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("loop", root.join("loop")).unwrap();

        assert_eq!(
            secure_join(root, Path::new("/etc/hosts")),
            root.join("etc/shadow")
        );
        assert_eq!(
            secure_join(root, Path::new("/etc/up/x")),
            root.join("tmp/x")
        );
        assert_eq!(
            secure_join(root, Path::new("/lib/x.so")),
            root.join("usr/lib/x.so")
        );
        assert_eq!(
            secure_join(root, Path::new("../../a/./b")),
            root.join("a/b")
        );
        assert_eq!(secure_join(root, Path::new("/")), root.to_path_buf());
        // A symlink loop ends instead of spinning.
        assert!(secure_join(root, Path::new("/loop")).starts_with(root));
    }
}
