//! Memory calls, served by [`crate::mm::GuestMemory`].

use super::{Args, Ret, err, raw};
use crate::process::Process;
use xarch_a64::state::A64State;

/// arm64 `PROT_BTI` and `PROT_MTE`: accepted and ignored (the engine does
/// not implement BTI or MTE).
const PROT_ARM64_EXTRA: i32 = 0x10 | 0x20;

fn ret(r: Result<u64, i32>) -> Ret {
    match r {
        Ok(v) => Ret::Val(v as i64),
        Err(e) => err(e),
    }
}

/// `mmap(addr, len, prot, flags, fd, off)`.
pub fn mmap(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    ret(p.mm.mmap(
        a[0],
        a[1],
        a[2] as i32 & !PROT_ARM64_EXTRA,
        a[3] as i32,
        a[4] as i32,
        a[5],
    ))
}

/// `munmap(addr, len)`.
pub fn munmap(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    ret(p.mm.munmap(a[0], a[1]))
}

/// `mprotect(addr, len, prot)`.
pub fn mprotect(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    ret(p.mm.mprotect(a[0], a[1], a[2] as i32 & !PROT_ARM64_EXTRA))
}

/// `mremap(old, old_len, new_len, flags, new_addr)`.
pub fn mremap(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    ret(p.mm.mremap(a[0], a[1], a[2], a[3] as i32, a[4]))
}

/// `brk(addr)`: emulated; returns the (new or unchanged) break.
pub fn brk(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    Ret::Val(p.mm.brk(a[0]) as i64)
}

fn guest_range(p: &Process, a: &Args) -> Result<(), i32> {
    let end = a[0]
        .checked_add(crate::mm::page_up(a[1]))
        .ok_or(libc::ENOMEM)?;
    if a[0] & (crate::mm::PAGE - 1) != 0 {
        return Err(libc::EINVAL);
    }
    if a[1] != 0 && !p.mm.covered(a[0], end) {
        return Err(libc::ENOMEM);
    }
    Ok(())
}

/// `madvise(addr, len, advice)` on guest memory only.
pub fn madvise(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    match guest_range(p, a) {
        Ok(()) => Ret::Val(raw(libc::SYS_madvise, a)),
        Err(e) => err(e),
    }
}

/// `msync(addr, len, flags)` on guest memory only.
pub fn msync(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    match guest_range(p, a) {
        Ok(()) => Ret::Val(raw(libc::SYS_msync, a)),
        Err(e) => err(e),
    }
}

/// `mincore(addr, len, vec)` on guest memory only.
pub fn mincore(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    match guest_range(p, a) {
        Ok(()) => Ret::Val(raw(libc::SYS_mincore, a)),
        Err(e) => err(e),
    }
}
