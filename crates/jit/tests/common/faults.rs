//! The host fault handler of the JIT tests that run guest accesses which
//! fault: it redirects the faults of the interpreter's guest accesses, of
//! baseline code's inline accesses and of region code, as the engine's
//! handler does, and aborts on anything else; and pages to fault on.

use std::sync::Once;

extern "C" fn on_fault(_: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    // SAFETY: the kernel passes valid siginfo and ucontext pointers.
    unsafe {
        let addr = (*info).si_addr() as u64;
        let uc = uc as *mut libc::ucontext_t;
        if xarch_ir::guest_mem::fixup(uc, addr)
            || xarch_jit::cache::fixup_inline_access(uc, addr)
            || xarch_jit::opt::redirect_fault(uc, addr)
        {
            return;
        }
        libc::abort();
    }
}

/// Installs the handler for SIGSEGV and SIGBUS (once per process).
pub fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            // SAFETY: a handler that only redirects faults of guest accesses.
            unsafe {
                let mut sa: libc::sigaction = core::mem::zeroed();
                sa.sa_sigaction = on_fault as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
                libc::sigaction(sig, &sa, core::ptr::null_mut());
            }
        }
    });
}

/// Maps two pages, the second inaccessible; returns the base address.
pub fn guard_pages() -> *mut u8 {
    // SAFETY: a fresh anonymous mapping; the second page is protected.
    unsafe {
        let p = libc::mmap(
            core::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        libc::mprotect(
            (p as *mut u8).add(4096) as *mut libc::c_void,
            4096,
            libc::PROT_NONE,
        );
        p as *mut u8
    }
}
