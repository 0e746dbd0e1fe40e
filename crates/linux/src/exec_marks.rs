//! A parent's `setpgid` of a child that has executed a program fails with
//! EACCES (the kernel's PF_FORKNOEXEC). A child that executed in process
//! ([`crate::exec`]) made no host exec, so the host kernel would let that
//! `setpgid` through: instead, such a child marks its pid in a table
//! that the xarch processes of one tree share (a shared mapping made by
//! the first of them to fork, inherited on fork), and the parent's
//! `setpgid` looks there first.
//!
//! A parent marks its new child's slot "forked" as soon as the fork
//! returns (the pid may be a dead process's, marked long ago); the child,
//! at its exec, waits until its slot says so before marking it "executed"
//! (a child can reach its exec before its parent returned from the fork:
//! under load the parent's mark came last and erased the child's). A
//! process without the table (its parent is no xarch, or an xarch that
//! never forked) was executed by the host kernel, which knows.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};

/// Pids covered (Linux's highest pid_max): a 4 MiB table, of which only
/// the pages used are ever allocated.
const PIDS: usize = 1 << 22;

/// Slot states (0: never used).
const FORKED: u8 = 1;
const EXECUTED: u8 = 2;

/// How long a child waits for its parent's mark before making its own.
const WAIT: std::time::Duration = std::time::Duration::from_millis(100);

static MAP: AtomicPtr<AtomicU8> = AtomicPtr::new(std::ptr::null_mut());

/// This process is a fork's child that has not executed yet.
static UNMARKED_CHILD: AtomicBool = AtomicBool::new(false);

fn slot(pid: i64) -> Option<&'static AtomicU8> {
    let pid = usize::try_from(pid).ok().filter(|&p| p < PIDS)?;
    let p = MAP.load(Ordering::Acquire);
    // SAFETY: a non-null MAP is a shared mapping of PIDS bytes that is
    // never unmapped.
    (!p.is_null()).then(|| unsafe { &*p.add(pid) })
}

/// Before a fork: makes the table the child will share, if there is none.
pub fn before_fork() {
    if !MAP.load(Ordering::Acquire).is_null() {
        return;
    }
    // SAFETY: a new shared anonymous mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            PIDS,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return;
    }
    // Two guest threads forking at once: the first table made stays.
    if MAP
        .compare_exchange(
            std::ptr::null_mut(),
            p.cast(),
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        // SAFETY: our own mapping, never published.
        unsafe { libc::munmap(p, PIDS) };
    }
}

/// In the parent, once the fork returned `child`.
pub fn forked(child: i64) {
    if let Some(s) = slot(child) {
        s.store(FORKED, Ordering::Release);
    }
}

/// In the child of a fork.
pub fn after_fork() {
    UNMARKED_CHILD.store(true, Ordering::Relaxed);
}

/// This process executes a program in process. Only its first exec since
/// the fork matters (and a process no xarch forked has no parent that
/// looks).
pub fn mark_self() {
    if !UNMARKED_CHILD.swap(false, Ordering::Relaxed) {
        return;
    }
    // SAFETY: getpid cannot fail.
    let Some(s) = slot(unsafe { libc::getpid() } as i64) else {
        return;
    };
    let start = std::time::Instant::now();
    while s.load(Ordering::Acquire) != FORKED && start.elapsed() < WAIT {
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
    s.store(EXECUTED, Ordering::Release);
}

/// Whether `pid` executed a program in process since its parent forked it.
pub fn executed(pid: i64) -> bool {
    slot(pid).is_some_and(|s| s.load(Ordering::Acquire) == EXECUTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_per_pid_reset_by_a_fork_and_made_after_the_parents() {
        before_fork();
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() } as i64;
        assert!(!executed(me + 1));
        forked(me);
        mark_self(); // not a fork's child: nothing to mark
        assert!(!executed(me));
        after_fork();
        mark_self();
        assert!(executed(me));
        assert!(!executed(me + 1) && !executed(me - 1));
        forked(me);
        assert!(!executed(me));
        assert!(!executed(-1) && !executed(PIDS as i64));
        // A child ahead of its parent (its slot still stale) waits for the
        // parent's mark (one test: the slot is this process's).
        slot(me).unwrap().store(EXECUTED, Ordering::Release);
        after_fork();
        let parent = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            forked(me);
        });
        mark_self();
        parent.join().unwrap();
        assert!(executed(me), "the parent's late mark erased the child's");
    }
}
