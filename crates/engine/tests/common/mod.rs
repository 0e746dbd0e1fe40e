//! Shared by the engine's integration tests.

extern "C" fn on_segv(_: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    // SAFETY: the kernel passes valid siginfo and ucontext pointers.
    let ours = unsafe {
        xarch_engine::Engine::handle_host_fault(
            uc as *mut libc::ucontext_t,
            (*info).si_addr() as u64,
        )
    };
    assert!(ours, "host fault outside guest memory accesses");
}

/// Installs [`on_segv`] for SIGSEGV and SIGBUS.
pub fn install_fault_handler() {
    // SAFETY: a process-wide handler that only redirects faults inside the
    // guarded guest-memory routines and compiled guest accesses.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_segv as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(libc::SIGSEGV, &sa, core::ptr::null_mut());
        libc::sigaction(libc::SIGBUS, &sa, core::ptr::null_mut());
    }
}
