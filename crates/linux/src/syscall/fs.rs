//! File system calls that need conversion: open flags, `struct stat`,
//! `/proc/self/exe`.

use super::{Args, Ret, err, guest_cstr, raw, write_guest};
use crate::abi::{Stat, oflags};
use crate::process::Process;
use std::os::unix::ffi::OsStrExt;
use xarch_a64::state::A64State;

/// `getcwd(buf, size)`: the raw syscall returns the length.
pub fn getcwd(_: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    Ret::Val(raw(libc::SYS_getcwd, a))
}

/// `openat(dirfd, path, flags, mode)` with arm64 flag values converted.
pub fn openat(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    let flags = oflags::to_host(a[2]);
    if let Ok(path) = guest_cstr(p, a[1])
        && let Some(name) = crate::procfs::lookup(&path)
    {
        return Ret::Val(
            crate::procfs::open(p, name, flags as i32).map_or_else(|e| -(e as i64), |fd| fd as i64),
        );
    }
    if let Ok(path) = guest_cstr(p, a[1])
        && is_self_exe(&path)
    {
        let exe = std::ffi::CString::new(p.exe.as_os_str().as_bytes()).unwrap_or_default();
        // SAFETY: a valid C string and flags.
        let r = unsafe { libc::open(exe.as_ptr(), flags as i32, a[3] as libc::c_uint) };
        return Ret::Val(if r < 0 {
            -(super::errno() as i64)
        } else {
            r as i64
        });
    }
    Ret::Val(raw(libc::SYS_openat, &[a[0], a[1], flags, a[3], 0, 0]))
}

/// Whether `path` names this process's executable in /proc.
pub fn is_self_exe(path: &[u8]) -> bool {
    if path == b"/proc/self/exe" || path == b"/proc/thread-self/exe" {
        return true;
    }
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    path == format!("/proc/{pid}/exe").as_bytes()
}

/// `readlinkat(dirfd, path, buf, size)`: `/proc/self/exe` names the guest
/// program, not xarch.
pub fn readlinkat(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    let path = match guest_cstr(p, a[1]) {
        Ok(s) => s,
        Err(e) => return err(e),
    };
    if is_self_exe(&path) {
        let exe = p.exe.as_os_str().as_bytes();
        let n = exe.len().min(a[3] as usize);
        if !crate::signal::writable(&p.mm, a[2], a[2] + n as u64) {
            return err(libc::EFAULT);
        }
        // SAFETY: checked writable guest memory of n bytes.
        unsafe { std::ptr::copy_nonoverlapping(exe.as_ptr(), a[2] as *mut u8, n) };
        return Ret::Val(n as i64);
    }
    Ret::Val(raw(libc::SYS_readlinkat, a))
}

fn stat_out(p: &Process, r: i64, st: &libc::stat, addr: u64) -> Ret {
    if r < 0 {
        return Ret::Val(r);
    }
    match write_guest(p, addr, &Stat::from_host(st)) {
        Ok(()) => Ret::Val(0),
        Err(e) => err(e),
    }
}

/// The host path to use for guest path argument `addr`: the guest program
/// for `/proc/self/exe` (when the link is followed), else `addr` itself.
fn exe_or(p: &Process, addr: u64, follow: bool, keep: &mut Option<std::ffi::CString>) -> u64 {
    if follow
        && let Ok(path) = guest_cstr(p, addr)
        && is_self_exe(&path)
        && let Ok(c) = std::ffi::CString::new(p.exe.as_os_str().as_bytes())
    {
        return keep.insert(c).as_ptr() as u64;
    }
    addr
}

/// `newfstatat(dirfd, path, statbuf, flags)` with the arm64 stat layout;
/// `/proc/self/exe` is the guest program.
pub fn newfstatat(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    // SAFETY: an all-zero stat is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let mut keep = None;
    let path = exe_or(
        p,
        a[1],
        a[3] & libc::AT_SYMLINK_NOFOLLOW as u64 == 0,
        &mut keep,
    );
    let r = raw(
        libc::SYS_newfstatat,
        &[a[0], path, &mut st as *mut _ as u64, a[3], 0, 0],
    );
    stat_out(p, r, &st, a[2])
}

/// `fstat(fd, statbuf)` with the arm64 stat layout.
pub fn fstat(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    // SAFETY: an all-zero stat is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = raw(
        libc::SYS_fstat,
        &[a[0], &mut st as *mut _ as u64, 0, 0, 0, 0],
    );
    stat_out(p, r, &st, a[1])
}

/// `statx(dirfd, path, flags, mask, buf)` (same layout on both);
/// `/proc/self/exe` is the guest program.
pub fn statx(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    let mut keep = None;
    let path = exe_or(
        p,
        a[1],
        a[2] & libc::AT_SYMLINK_NOFOLLOW as u64 == 0,
        &mut keep,
    );
    Ret::Val(raw(libc::SYS_statx, &[a[0], path, a[2], a[3], a[4], 0]))
}
