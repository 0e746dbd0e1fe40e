//! The host C library's first-thread set-up, run only when xarch makes its
//! first host thread.
//!
//! glibc's first `pthread_create` in a process installs glibc's handler
//! for signal 33 (its SIGSETXID) and unblocks signals 32 and 33 in the
//! calling thread. Those are guest signals too (the guest's own libc uses
//! them the same way: setuid in a threaded guest signals every thread with
//! 33), and by then the guest may have a disposition for them that xarch
//! has installed a handler for. [`before_spawn`] runs that set-up once,
//! with a thread that does nothing, and puts the handler and the mask
//! back. Single-threaded processes, most of them, never pay for the
//! thread (a process start made it before: about a tenth of a
//! millisecond, and the thread's malloc arena).

use std::sync::Once;

/// glibc's SIGSETXID.
const SIGSETXID: libc::c_int = 33;

/// The kernel's `struct sigaction` (glibc's `sigaction` refuses the
/// signals it reserves, 32 and 33: this goes to the kernel directly).
#[repr(C)]
pub struct KernelSigaction {
    /// The handler, `SIG_DFL` or `SIG_IGN`.
    pub handler: usize,
    /// `SA_*` flags.
    pub flags: u64,
    /// The `SA_RESTORER` trampoline.
    pub restorer: usize,
    /// Signals blocked during the handler (bit n-1 for signal n).
    pub mask: u64,
}

/// `rt_sigaction(sig, new, old)`; whether it succeeded.
fn kernel_sigaction(
    sig: libc::c_int,
    new: Option<&KernelSigaction>,
    old: Option<&mut KernelSigaction>,
) -> bool {
    let new = new.map_or(core::ptr::null(), |n| n as *const KernelSigaction);
    let old = old.map_or(core::ptr::null_mut(), |o| o as *mut KernelSigaction);
    // SAFETY: rt_sigaction with a valid or null new action and a valid or
    // null place for the old one, each a kernel sigaction (8-byte mask).
    unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, new, old, 8) == 0 }
}

/// Call before creating any host thread.
pub fn before_spawn() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut action = KernelSigaction {
            handler: 0,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        let saved = kernel_sigaction(SIGSETXID, None, Some(&mut action));
        // The thread inherits the mask: with every signal blocked, none
        // sent to the process is delivered to it (a thread without a
        // guest would lose it: a guest's kill of itself was missed).
        let mask = block_all_signals();
        if let Ok(t) = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(|| {})
        {
            let _ = t.join();
        }
        if saved {
            kernel_sigaction(SIGSETXID, Some(&action), None);
        }
        // SAFETY: restores the mask read above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask, core::ptr::null_mut()) };
    });
}

/// Blocks every signal in this thread; returns the mask it had (a thread
/// made meanwhile inherits the full mask, so no signal sent to the process
/// is delivered to it).
pub fn block_all_signals() -> libc::sigset_t {
    // SAFETY: plain signal-mask calls on this thread, with zeroed locals.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    }
}
