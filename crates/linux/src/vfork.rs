//! vfork (`clone` with CLONE_VFORK) for a guest: the child is a forked
//! xarch, so its memory is a copy. What programs rely on is kept:
//!
//! - ordering: the parent waits until the child execs or exits, which
//!   closes the close-on-exec write end of a pipe only the child holds
//!   (hidden from the guest, see `selfexe`);
//! - with CLONE_VM, what the child wrote into the parent's stack above the
//!   stack pointer it had at the call (the frames of its callers, where
//!   glibc's posix_spawn keeps the error code its child reports, and where
//!   a vfork child's `volatile` locals live): the child sends that range
//!   through the pipe before every exec and at exit, and the parent copies
//!   the last copy it received into its own memory. The parent's thread is
//!   suspended meanwhile, so the range is the child's alone.

use crate::process::Process;
use std::sync::Mutex;

/// Most bytes of the parent's stack sent back.
const WINDOW: u64 = 256 << 10;

/// In a vfork child with CLONE_VM: the parent's stack range to send back.
static SHARED: Mutex<Option<(u64, u64)>> = Mutex::new(None);

/// A pipe for a vfork (read end, write end); `None` if it cannot be made
/// (the vfork then behaves like fork).
pub fn pipe() -> Option<[i32; 2]> {
    let mut fds = [-1i32; 2];
    // SAFETY: pipe2 fills the two-element array.
    (unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == 0).then_some(fds)
}

/// In the child: keeps the write end (hidden) and, when memory is shared
/// natively (`vm`), remembers the parent's stack range above `sp`. Without
/// a pipe, forgets an inherited one (a vfork child's own children must not
/// hold the first parent).
pub fn child(p: &Process, pipe: Option<[i32; 2]>, vm: bool, sp: u64) {
    let Some([rd, wr]) = pipe else {
        crate::selfexe::set_vfork_fd(-1);
        *SHARED.lock().unwrap_or_else(|e| e.into_inner()) = None;
        return;
    };
    // SAFETY: the read end is the parent's.
    unsafe { libc::close(rd) };
    crate::selfexe::set_vfork_fd(wr);
    let range = vm.then(|| stack_range(p, sp)).flatten();
    *SHARED.lock().unwrap_or_else(|e| e.into_inner()) = range;
}

/// `[sp, end)` within the contiguous writable guest memory holding `sp`,
/// at most [`WINDOW`] bytes.
fn stack_range(p: &Process, sp: u64) -> Option<(u64, u64)> {
    let regions = p.mm.regions();
    let mut end = None;
    for &(start, stop, prot) in &regions {
        let writable = prot & libc::PROT_WRITE != 0;
        match end {
            None if start <= sp && sp < stop && writable => end = Some(stop),
            Some(e) if start == e && writable => end = Some(stop),
            Some(_) => break,
            None => {}
        }
    }
    let end = end?.min(sp.saturating_add(WINDOW));
    (end > sp).then_some((sp, end - sp))
}

/// In a vfork child, before an exec or at exit: sends the shared range of
/// the parent's stack back to the parent.
pub fn send_back(p: &Process) {
    let Some((start, len)) = *SHARED.lock().unwrap_or_else(|e| e.into_inner()) else {
        return;
    };
    let Some(fd) = crate::selfexe::vfork_fd() else {
        return;
    };
    let Some(data) = crate::syscall::read_guest(p, start, len as usize, false) else {
        return;
    };
    let mut msg = Vec::with_capacity(16 + data.len());
    msg.extend_from_slice(&start.to_le_bytes());
    msg.extend_from_slice(&(data.len() as u64).to_le_bytes());
    msg.extend_from_slice(&data);
    let mut off = 0;
    while off < msg.len() {
        // SAFETY: writing from a live buffer to our pipe.
        let n = unsafe { libc::write(fd, msg[off..].as_ptr().cast(), msg.len() - off) };
        if n < 0 && crate::syscall::errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return;
        }
        off += n as usize;
    }
}

/// In the parent: waits until the child execs or exits (end of file on
/// `rd`; only fatal signals end the wait, as for vfork), then copies the
/// last stack range the child sent into guest memory.
pub fn parent_wait(p: &Process, [rd, wr]: [i32; 2]) {
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(wr) };
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        // SAFETY: reading into a live buffer of the length passed.
        let n = unsafe { libc::read(rd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            all.extend_from_slice(&buf[..n as usize]);
        } else if n == 0 || crate::syscall::errno() != libc::EINTR {
            break;
        }
    }
    // SAFETY: closing the read end we own.
    unsafe { libc::close(rd) };
    let mut last = None;
    let mut rest = &all[..];
    while rest.len() >= 16 {
        let start = u64::from_le_bytes(rest[..8].try_into().unwrap_or_default());
        let len = u64::from_le_bytes(rest[8..16].try_into().unwrap_or_default()) as usize;
        if rest.len() < 16 + len {
            break;
        }
        last = Some((start, &rest[16..16 + len]));
        rest = &rest[16 + len..];
    }
    if let Some((start, data)) = last
        && crate::signal::writable(&p.mm, start, start + data.len() as u64)
    {
        // SAFETY: checked writable guest memory of that length; the
        // calling guest thread is this one, suspended in the vfork.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), start as *mut u8, data.len()) };
    }
}
