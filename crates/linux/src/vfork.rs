//! vfork (`clone` with CLONE_VFORK) for a guest: the child is a forked
//! xarch, so its memory is a copy. What programs rely on is kept:
//!
//! - ordering: the parent waits until the child execs or exits, which
//!   closes the close-on-exec write end of a pipe only the child holds
//!   (hidden from the guest, see `selfexe`);
//! - with CLONE_VM, what the child wrote into the memory above the stack
//!   pointer it had at the call (the frames of its callers, where glibc's
//!   posix_spawn keeps the error code its child reports, and where a vfork
//!   child's `volatile` locals live): the child keeps a copy of that range
//!   as it was at the fork, and before every exec and at exit sends the
//!   bytes that differ from it through the pipe; the parent writes the
//!   last set it received into its own memory. Only bytes the child wrote
//!   are sent, so what the parent's other threads write meanwhile (the
//!   range may reach past the stack, e.g. into Go's heap) is kept.

use crate::process::Process;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::sync::Mutex;

/// Most bytes of the parent's stack sent back.
const WINDOW: u64 = 256 << 10;

/// In a vfork child with CLONE_VM: the start of the range to watch and its
/// contents at the fork.
static SHARED: Mutex<Option<(u64, Vec<u8>)>> = Mutex::new(None);

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
    let shared = vm
        .then(|| stack_range(p, sp))
        .flatten()
        .and_then(|(start, len)| {
            crate::syscall::read_guest(p, start, len as usize, false).map(|d| (start, d))
        });
    *SHARED.lock().unwrap_or_else(|e| e.into_inner()) = shared;
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

/// In a vfork child, before an exec or at exit: sends the bytes of the
/// watched range the child changed since the fork, as one message: the
/// number of runs, then (address, length, bytes) per run.
pub fn send_back(p: &Process) {
    let guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    let Some((start, before)) = guard.as_ref() else {
        return;
    };
    let Some(fd) = crate::selfexe::vfork_fd() else {
        return;
    };
    let Some(now) = crate::syscall::read_guest(p, *start, before.len(), false) else {
        return;
    };
    let mut runs = Vec::new();
    let mut i = 0;
    while i < now.len() {
        if now[i] == before[i] {
            i += 1;
            continue;
        }
        let from = i;
        while i < now.len() && now[i] != before[i] {
            i += 1;
        }
        runs.push((from, i));
    }
    let mut msg = Vec::new();
    msg.extend_from_slice(&(runs.len() as u64).to_le_bytes());
    for (from, to) in runs {
        msg.extend_from_slice(&(start + from as u64).to_le_bytes());
        msg.extend_from_slice(&((to - from) as u64).to_le_bytes());
        msg.extend_from_slice(&now[from..to]);
    }
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

/// In a vfork child that executes a program in process, once
/// [`send_back`] has run: the parent resumes, as the exec's closing of the
/// pipe resumes it, and the new program has no watched range.
pub fn exec_done() {
    *SHARED.lock().unwrap_or_else(|e| e.into_inner()) = None;
    crate::selfexe::set_vfork_fd(-1);
}

/// Changed bytes: (guest address, new contents).
type Runs<'a> = Vec<(u64, &'a [u8])>;

/// Splits `msg` into the runs of its first message and the rest; `None`
/// when it is incomplete.
fn parse(msg: &[u8]) -> Option<(Runs<'_>, &[u8])> {
    let word = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let count = word(msg, 0)?;
    let mut at = 8;
    let mut runs = Vec::new();
    for _ in 0..count {
        let addr = word(msg, at)?;
        let len = usize::try_from(word(msg, at + 8)?).ok()?;
        let data = msg.get(at + 16..at.checked_add(16 + len)?)?;
        runs.push((addr, data));
        at += 16 + len;
    }
    Some((runs, &msg[at..]))
}

/// In the parent: waits until the child execs or exits (end of file on
/// `rd`; only fatal signals end the wait, as for vfork), then copies the
/// last stack range the child sent into guest memory.
pub fn parent_wait(p: &Process, [rd, wr]: [i32; 2]) {
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(wr) };
    // SAFETY: `rd` is the read end we own; the file closes it.
    let mut pipe = unsafe { std::fs::File::from_raw_fd(rd) };
    // Into the vector's spare room, retrying on EINTR (a zeroed 64 KiB
    // buffer was 2.5% of a shell loop of /bin/true); what a failed read
    // left is parsed as far as it goes.
    let mut all = Vec::new();
    let _ = pipe.read_to_end(&mut all);
    drop(pipe);
    let mut last = None;
    let mut rest = &all[..];
    while let Some((runs, next)) = parse(rest) {
        last = Some(runs);
        rest = next;
    }
    for (addr, data) in last.unwrap_or_default() {
        if crate::signal::writable(&p.mm, addr, addr + data.len() as u64) {
            // SAFETY: checked writable guest memory of that length.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) };
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_parse_and_incomplete_ones_are_dropped() {
        let mut m = Vec::new();
        m.extend_from_slice(&2u64.to_le_bytes());
        for (addr, data) in [(0x1000u64, &b"ab"[..]), (0x2000, &b"xyz"[..])] {
            m.extend_from_slice(&addr.to_le_bytes());
            m.extend_from_slice(&(data.len() as u64).to_le_bytes());
            m.extend_from_slice(data);
        }
        let (runs, rest) = super::parse(&m).unwrap();
        assert_eq!(runs, vec![(0x1000, &b"ab"[..]), (0x2000, &b"xyz"[..])]);
        assert!(rest.is_empty());
        assert!(super::parse(&m[..m.len() - 1]).is_none());
        assert!(super::parse(&m[..4]).is_none());
    }
}
