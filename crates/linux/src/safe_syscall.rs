//! Host system calls that cannot sleep through a guest signal.
//!
//! A guest signal is caught by a host handler that only raises the
//! thread's `state.interrupt`; the run loop delivers it after the system
//! call returns. If the signal arrives after xarch decided to make a
//! blocking call but before the host kernel entered it, the call would
//! sleep with the signal undelivered (possibly forever). [`safe_syscall`]
//! closes that window the way QEMU does: it tests the interrupt word right
//! before the `syscall` instruction, and the host signal handler calls
//! [`rewind`], which moves a thread interrupted between the test and the
//! `syscall` instruction to a path returning [`NOT_STARTED`]. Either the
//! call did not start or it completed (its result kept, the signal
//! delivered after): a signal never loses or repeats a call. A call that
//! did not start is, for calls that may block, `-EINTR` to the guest
//! (restarted or not by its SA_RESTART, as if the signal had interrupted
//! the wait); any other call is made at once (`syscall::raw`): getpid or
//! kill must never fail with EINTR.

use core::sync::atomic::{AtomicU64, Ordering};

unsafe extern "C" {
    fn xarch_safe_syscall(
        flag: *const u64,
        nr: i64,
        a0: u64,
        a1: u64,
        a2: u64,
        a3: u64,
        a4: u64,
        a5: u64,
    ) -> i64;
    static xarch_safe_syscall_start: u8;
    static xarch_safe_syscall_end: u8;
    static xarch_safe_syscall_eintr: u8;
    /// `rt_sigreturn` for host handlers installed with the raw system call.
    pub fn xarch_host_restorer();
}

// rdi=flag rsi=nr rdx=a0 rcx=a1 r8=a2 r9=a3 [rsp+8]=a4 [rsp+16]=a5.
core::arch::global_asm!(
    ".text",
    ".globl xarch_safe_syscall",
    ".globl xarch_safe_syscall_start",
    ".globl xarch_safe_syscall_end",
    ".globl xarch_safe_syscall_eintr",
    ".globl xarch_host_restorer",
    ".p2align 4",
    "xarch_safe_syscall:",
    "mov rax, rsi",
    "mov r11, rdi",
    "mov rdi, rdx",
    "mov rsi, rcx",
    "mov rdx, r8",
    "mov r10, r9",
    "mov r8, [rsp + 8]",
    "mov r9, [rsp + 16]",
    "xarch_safe_syscall_start:",
    "cmp qword ptr [r11], 0",
    "jne xarch_safe_syscall_eintr",
    "syscall",
    "xarch_safe_syscall_end:",
    "ret",
    "xarch_safe_syscall_eintr:",
    "mov rax, -513",
    "ret",
    ".p2align 4",
    "xarch_host_restorer:",
    "mov rax, 15",
    "syscall",
    "ud2",
);

static NEVER: AtomicU64 = AtomicU64::new(0);

/// What [`safe_syscall`] returns when a signal came first and the call
/// was not made (Linux's internal ERESTARTNOINTR number: never a real
/// system call result).
pub const NOT_STARTED: i64 = -513;

/// Runs host system call `nr`, returning its result or `-errno`; returns
/// [`NOT_STARTED`] without entering the kernel when `*flag` is (or becomes,
/// through a host signal handler) non-zero first. A null `flag` means no
/// guest state is attached to this thread.
pub fn safe_syscall(flag: *const u64, nr: i64, a: &[u64; 6]) -> i64 {
    let flag = if flag.is_null() {
        NEVER.as_ptr() as *const u64
    } else {
        flag
    };
    // SAFETY: `flag` points at a live u64 (the thread's guest state or a
    // static); the arguments are the caller's responsibility, as for
    // libc::syscall.
    unsafe { xarch_safe_syscall(flag, nr, a[0], a[1], a[2], a[3], a[4], a[5]) }
}

/// Called by host signal handlers with their `ucontext`: a thread stopped
/// between the interrupt test and the `syscall` instruction is moved to
/// the [`NOT_STARTED`] return.
///
/// # Safety
/// `uc` must be the ucontext the kernel passed to the running handler.
pub unsafe fn rewind(uc: *mut libc::ucontext_t) {
    if uc.is_null() {
        return;
    }
    // SAFETY: the symbols are labels in the assembly above.
    let (start, end, eintr) = unsafe {
        (
            &xarch_safe_syscall_start as *const u8 as u64,
            &xarch_safe_syscall_end as *const u8 as u64,
            &xarch_safe_syscall_eintr as *const u8 as u64,
        )
    };
    // SAFETY: a valid ucontext (caller's contract).
    let rip = unsafe { &mut (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] };
    let pc = *rip as u64;
    if (start..end).contains(&pc) {
        *rip = eintr as i64;
    }
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_calls_and_results() {
        let flag = 0u64;
        let pid = safe_syscall(&flag, libc::SYS_getpid, &[0; 6]);
        // SAFETY: getpid cannot fail.
        assert_eq!(pid, unsafe { libc::getpid() } as i64);
        assert_eq!(
            safe_syscall(&flag, libc::SYS_close, &[u64::MAX, 0, 0, 0, 0, 0]),
            -(libc::EBADF as i64)
        );
    }

    #[test]
    fn raised_flag_skips_the_call() {
        let flag = 1u64;
        // A read that would block forever on an empty pipe.
        let mut fds = [0i32; 2];
        // SAFETY: pipe fills two fds.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let mut b = 0u8;
        let r = safe_syscall(
            &flag,
            libc::SYS_read,
            &[fds[0] as u64, &mut b as *mut u8 as u64, 1, 0, 0, 0],
        );
        assert_eq!(r, NOT_STARTED);
        // SAFETY: closing our fds.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
