//! xarch's own descriptor (see [`crate::selfexe`]) is invisible to the
//! guest, as if it were not open. This is done once, around the dispatch
//! of every call, from the argument kinds of the system call table rather
//! than in each handler:
//!
//! - an [`Arg::Fd`] argument naming it, or an [`Arg::DirFd`] naming it
//!   with a relative path (or `AT_EMPTY_PATH`), fails with EBADF;
//! - `dup3` onto its number, and `dup`/`F_DUPFD` that would natively have
//!   picked its number, move xarch's descriptor elsewhere and give the
//!   number to the guest; `close_range` leaves it alone;
//! - `/proc/<pid>/fd` and `fdinfo` listings (`getdents64`) omit it, and
//!   paths to its entries there fail with ENOENT. For other processes the
//!   entries omitted are those that are `O_PATH` descriptors of the xarch
//!   binary itself (another xarch's self descriptor).

use super::{Arg, Args, Def, Ret, err, raw, read_guest};
use crate::process::Process;
use crate::selfexe;

const DUP: u64 = 23;
const DUP3: u64 = 24;
const FCNTL: u64 = 25;
const GETDENTS64: u64 = 61;
const MMAP: u64 = 222;
const CLOSE_RANGE: u64 = 436;

/// Runs before the handler: `Some` is the call's result when the call
/// must not reach the handler.
pub fn before(p: &Process, d: &Def, a: &Args) -> Option<Ret> {
    selfexe::hidden().next()?;
    let nr = d.nr as u64;
    match nr {
        CLOSE_RANGE => return None,
        // dup3(fd, fd) is EINVAL whatever fd is.
        DUP3 if a[0] as u32 == a[1] as u32 => return None,
        DUP3 if selfexe::is_hidden(a[1]) && !selfexe::is_hidden(a[0]) => {
            // The guest takes the number. An old descriptor that is not
            // open fails with EBADF before the target is touched.
            // SAFETY: F_GETFD on a number only reads its flags.
            if unsafe { libc::fcntl(a[0] as i32, libc::F_GETFD) } < 0 {
                return Some(err(libc::EBADF));
            }
            selfexe::vacate(a[1] as i32);
            return None;
        }
        // An anonymous mapping ignores its descriptor.
        MMAP if a[3] & libc::MAP_ANONYMOUS as u64 != 0 => return None,
        _ => {}
    }
    for (i, kind) in d.args.iter().enumerate() {
        match kind {
            Arg::Fd if selfexe::is_hidden(a[i]) => return Some(err(libc::EBADF)),
            Arg::DirFd if selfexe::is_hidden(a[i]) => {
                let absolute = d.args.get(i + 1) == Some(&Arg::Path)
                    && read_guest(p, a[i + 1], 1, false).is_some_and(|b| b == b"/");
                if !absolute {
                    return Some(err(libc::EBADF));
                }
            }
            _ => {}
        }
    }
    for &(i, _) in crate::paths::path_args(nr, a) {
        // Most paths are not in /proc: look at the prefix first.
        if read_guest(p, a[i], 6, true).is_some_and(|b| b == b"/proc/")
            && let Some(path) = read_guest(p, a[i], 4096, true)
            && names_hidden_entry(&path)
        {
            return Some(err(libc::ENOENT));
        }
    }
    None
}

/// Runs after the handler, on its result.
pub fn after(d: &Def, a: &Args, ret: Ret) -> Ret {
    let Ret::Val(r) = ret else { return ret };
    match d.nr as u64 {
        DUP => Ret::Val(renumber(r, 0, 0)),
        FCNTL if a[1] as i32 == libc::F_DUPFD => Ret::Val(renumber(r, a[2] as i32, 0)),
        FCNTL if a[1] as i32 == libc::F_DUPFD_CLOEXEC => {
            Ret::Val(renumber(r, a[2] as i32, libc::O_CLOEXEC))
        }
        GETDENTS64 if r > 0 => Ret::Val(filter_dents(a, r)),
        _ => ret,
    }
}

/// A new descriptor `r` the kernel chose as the lowest free number >= `min`:
/// when it passed over hidden descriptors, every number in `min..r` but
/// those is in use, so natively the guest would have got the lowest.
fn renumber(r: i64, min: i32, flags: i32) -> i64 {
    let Some(s) = selfexe::hidden()
        .filter(|&s| s >= min && (s as i64) < r)
        .min()
    else {
        return r;
    };
    selfexe::vacate(s);
    // SAFETY: moving the guest's new descriptor onto the freed number.
    let moved = unsafe { libc::dup3(r as i32, s, flags) };
    if moved < 0 {
        return r;
    }
    // SAFETY: closing the guest's now duplicated descriptor.
    unsafe { libc::close(r as i32) };
    s as i64
}

/// `/proc/<pid>[/task/<tid>]/fd` or `fdinfo` for `path` (a host path as
/// readlink returns it, or a guest path), split into the process part and
/// the directory kind; `None` for anything else.
fn proc_fd_dir(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = path.strip_prefix(b"/proc/")?;
    let mut parts = rest.split(|&b| b == b'/');
    let who = parts.next()?;
    let mut dir = parts.next()?;
    let numeric = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    if !(numeric(who) || who == b"self" || who == b"thread-self") {
        return None;
    }
    if dir == b"task" {
        if !numeric(parts.next()?) {
            return None;
        }
        dir = parts.next()?;
    }
    if parts.next().is_some() || !(dir == b"fd" || dir == b"fdinfo") {
        return None;
    }
    Some((who, dir))
}

/// Whether guest path `path` names the entry of a hidden descriptor in a
/// /proc fd directory (`/proc/self/fd/N` and the like).
fn names_hidden_entry(path: &[u8]) -> bool {
    let Some(slash) = path.iter().rposition(|&b| b == b'/') else {
        return false;
    };
    let (dir, name) = (&path[..slash], &path[slash + 1..]);
    let Some((who, _)) = proc_fd_dir(dir) else {
        return false;
    };
    let Some(n) = std::str::from_utf8(name)
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
    else {
        return false;
    };
    is_hidden(dir, who, n)
}

/// Whether descriptor `n` listed in /proc fd directory `dir` of process
/// `who` is hidden: one of xarch's for this process, an `O_PATH`
/// descriptor of the xarch binary for others.
fn is_hidden(dir: &[u8], who: &[u8], n: i32) -> bool {
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() }.to_string();
    if who == b"self" || who == b"thread-self" || who == pid.as_bytes() {
        return selfexe::is_hidden(n as u64);
    }
    let Some(s) = selfexe::fd() else {
        return false;
    };
    let Ok(dir) = std::str::from_utf8(dir) else {
        return false;
    };
    let base = &dir[..dir.rfind('/').unwrap_or(0)];
    let ours = std::fs::metadata(format!("/proc/self/fd/{s}"));
    let theirs = std::fs::metadata(format!("{base}/fd/{n}"));
    use std::os::unix::fs::MetadataExt;
    let same = matches!((ours, theirs), (Ok(a), Ok(b)) if a.dev() == b.dev() && a.ino() == b.ino());
    same && std::fs::read_to_string(format!("{base}/fdinfo/{n}")).is_ok_and(|info| {
        info.lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .is_some_and(|f| f & libc::O_PATH as u32 != 0)
    })
}

/// Removes hidden entries from the `r` bytes of `linux_dirent64` records
/// `getdents64(a[0], a[1], a[2])` wrote, reading on when nothing is left
/// (an empty result would mean the end of the directory).
fn filter_dents(a: &Args, mut r: i64) -> i64 {
    let Ok(dir) = std::fs::read_link(format!("/proc/self/fd/{}", a[0] as i32)) else {
        return r;
    };
    let dir = dir.into_os_string().into_encoded_bytes();
    let Some((who, _)) = proc_fd_dir(&dir) else {
        return r;
    };
    let buf = a[1] as *mut u8;
    loop {
        let mut off = 0usize;
        let mut len = r as usize;
        while off + 19 <= len {
            // SAFETY: the kernel just wrote `len` bytes of whole records at
            // `buf` (guest memory it checked writable); d_reclen is at 16.
            let reclen = unsafe { (buf.add(off + 16) as *const u16).read_unaligned() } as usize;
            if reclen == 0 || off + reclen > len {
                break;
            }
            // SAFETY: d_name starts at 19 and is NUL-terminated in the record.
            let name =
                unsafe { std::ffi::CStr::from_ptr(buf.add(off + 19) as *const libc::c_char) };
            let hidden = std::str::from_utf8(name.to_bytes())
                .ok()
                .and_then(|n| n.parse::<i32>().ok())
                .is_some_and(|n| is_hidden(&dir, who, n));
            if hidden {
                // SAFETY: moving the following records down within the buffer.
                unsafe { std::ptr::copy(buf.add(off + reclen), buf.add(off), len - off - reclen) };
                len -= reclen;
            } else {
                off += reclen;
            }
        }
        if len > 0 || r <= 0 {
            return len as i64;
        }
        r = raw(libc::SYS_getdents64, a);
        if r <= 0 {
            return r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fd_directories() {
        let ok: &[&[u8]] = &[
            b"/proc/self/fd",
            b"/proc/thread-self/fdinfo",
            b"/proc/12/fd",
            b"/proc/12/task/13/fd",
        ];
        for p in ok {
            assert!(proc_fd_dir(p).is_some(), "{}", String::from_utf8_lossy(p));
        }
        let bad: &[&[u8]] = &[
            b"/proc/self/fd/3",
            b"/proc/self/fds",
            b"/proc/x/fd",
            b"/proc/12/task/fd",
            b"/procs/1/fd",
            b"/proc/fd",
        ];
        for p in bad {
            assert!(proc_fd_dir(p).is_none(), "{}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn own_entries_by_number() {
        let _g = selfexe::tests::TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        selfexe::init(None);
        let s = selfexe::fd().expect("a self descriptor");
        let path = |p: &str| p.replace("S", &s.to_string()).into_bytes();
        assert!(names_hidden_entry(&path("/proc/self/fd/S")));
        assert!(names_hidden_entry(&path("/proc/thread-self/fdinfo/S")));
        assert!(!names_hidden_entry(b"/proc/self/fd/3"));
        assert!(!names_hidden_entry(&path("/proc/self/fd/Sx")));
        assert!(!names_hidden_entry(&path("/tmp/fd/S")));
    }
}
