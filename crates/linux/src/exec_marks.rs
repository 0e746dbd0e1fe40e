//! A parent's `setpgid` of a child that has executed a program fails with
//! EACCES (the kernel's PF_FORKNOEXEC). A child that executed in process
//! ([`crate::exec`]) made no host exec, so the host kernel would let that
//! `setpgid` through: instead, such a child sets the bit of its pid in a
//! bitmap that the xarch processes of one tree share (a shared mapping
//! made by the first of them to fork, inherited on fork), and the parent's
//! `setpgid` looks there first.
//!
//! A parent clears its new child's bit as soon as the fork returns (the
//! pid may be a dead process's, marked long ago). A child that executes
//! before its parent even returned from the fork loses its mark: its
//! parent's `setpgid` then succeeds, as it would without this module. A
//! process without the bitmap (its parent is no xarch, or an xarch that
//! never forked) was executed by the host kernel, which knows.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// Pids covered (Linux's highest pid_max): a 512 KiB bitmap, of which
/// only the pages used are ever allocated.
const PIDS: usize = 1 << 22;
const WORDS: usize = PIDS / 64;

static MAP: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

fn words() -> Option<&'static [AtomicU64]> {
    let p = MAP.load(Ordering::Acquire);
    // SAFETY: a non-null MAP is a shared mapping of WORDS words that is
    // never unmapped.
    (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, WORDS) })
}

fn bit(pid: i64) -> Option<(&'static AtomicU64, u64)> {
    let pid = usize::try_from(pid).ok().filter(|&p| p < PIDS)?;
    Some((&words()?[pid / 64], 1 << (pid % 64)))
}

/// Before a fork: makes the bitmap the child will share, if there is none.
pub fn before_fork() {
    if !MAP.load(Ordering::Acquire).is_null() {
        return;
    }
    // SAFETY: a new shared anonymous mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            WORDS * 8,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p != libc::MAP_FAILED {
        MAP.store(p.cast(), Ordering::Release);
    }
}

/// In the parent, once the fork returned `child`.
pub fn forked(child: i64) {
    if let Some((w, b)) = bit(child)
        && w.load(Ordering::Relaxed) & b != 0
    {
        w.fetch_and(!b, Ordering::Relaxed);
    }
}

/// This process executed a program in process.
pub fn mark_self() {
    // SAFETY: getpid cannot fail.
    if let Some((w, b)) = bit(unsafe { libc::getpid() } as i64) {
        w.fetch_or(b, Ordering::Relaxed);
    }
}

/// Whether `pid` executed a program in process since its parent forked it.
pub fn executed(pid: i64) -> bool {
    bit(pid).is_some_and(|(w, b)| w.load(Ordering::Relaxed) & b != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_per_pid_and_cleared_by_a_fork() {
        before_fork();
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() } as i64;
        assert!(!executed(me + 1));
        mark_self();
        assert!(executed(me));
        assert!(!executed(me + 1) && !executed(me - 1));
        forked(me);
        assert!(!executed(me));
        assert!(!executed(-1) && !executed(PIDS as i64));
    }
}
