//! Host SIGSEGV/SIGBUS handling.
//!
//! Guest memory accesses are plain host instructions in compiled code
//! (listed by `xarch_jit::cache`) or run through the guarded routines of
//! `xarch_ir::guest_mem`; a host fault in either is redirected into a
//! fault status that the engine reports as [`crate::Exit::MemoryFault`].
//! Any other host fault is a bug in xarch: it is reported with the host
//! context and xarch dies of the signal, never silently passing it to the
//! guest.

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

static INSTALL: Once = Once::new();

/// A host signal handler.
pub type SigHandler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

/// The handler for a SIGSEGV/SIGBUS that was sent rather than caused by a
/// fault (0: none).
static SENT: AtomicUsize = AtomicUsize::new(0);

/// Sets where a SIGSEGV/SIGBUS sent by kill/tgkill/sigqueue (si_code <= 0)
/// goes: it is an ordinary asynchronous signal for the guest, not a fault.
pub fn set_sent_signal_handler(h: SigHandler) {
    SENT.store(h as usize, Ordering::Release);
}

/// Passes a sent (not fault-caused) signal to the handler set with
/// [`set_sent_signal_handler`]; false when it is a fault or none is set.
fn forward_sent(sig: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) -> bool {
    let h = SENT.load(Ordering::Acquire);
    // SAFETY: the kernel passes a valid siginfo.
    if h == 0 || unsafe { (*info).si_code } > 0 {
        return false;
    }
    // SAFETY: SENT only ever holds a `SigHandler` (set above).
    let h: SigHandler = unsafe { core::mem::transmute::<usize, SigHandler>(h) };
    h(sig, info, uc);
    true
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    if forward_sent(sig, info, uc) {
        return;
    }
    // SAFETY: the kernel passes valid siginfo and ucontext pointers.
    let addr = unsafe { (*info).si_addr() } as u64;
    // SAFETY: as above; `uc` is this handler's ucontext.
    if unsafe { crate::Engine::handle_host_fault(uc as *mut libc::ucontext_t, addr) } {
        return;
    }
    // SAFETY: reading the interrupted context for the report.
    let rip =
        unsafe { (*(uc as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RIP as usize] };
    let mut msg = [0u8; 160];
    let n = format_report(&mut msg, sig, addr, rip as u64);
    // SAFETY: write(2) and sigaction(2) are async-signal-safe; restoring
    // the default action and returning re-raises the fault fatally.
    unsafe {
        libc::write(2, msg.as_ptr() as *const libc::c_void, n);
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &sa, core::ptr::null_mut());
    }
}

/// Formats the report without allocating (we are in a signal handler).
fn format_report(buf: &mut [u8], sig: i32, addr: u64, rip: u64) -> usize {
    let mut n = 0;
    let mut put = |s: &[u8]| {
        let k = s.len().min(buf.len() - n);
        buf[n..n + k].copy_from_slice(&s[..k]);
        n += k;
    };
    put(b"xarch: internal error: ");
    put(if sig == libc::SIGBUS {
        b"SIGBUS"
    } else {
        b"SIGSEGV"
    });
    put(b" in the emulator at host pc ");
    put(&hex(rip));
    put(b" accessing ");
    put(&hex(addr));
    put(b"; please report this with the command that caused it\n");
    n
}

fn hex(x: u64) -> [u8; 18] {
    let mut out = *b"0x0000000000000000";
    for i in 0..16 {
        let d = ((x >> (60 - 4 * i)) & 0xf) as u8;
        out[2 + i] = if d < 10 { b'0' + d } else { b'a' + d - 10 };
    }
    out
}

/// Installs the handlers once per process.
pub fn install() {
    INSTALL.call_once(|| {
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            // SAFETY: a process-wide handler that only redirects faults in
            // the guarded routines and otherwise reports and dies; the
            // struct is zeroed before use and SA_ONSTACK lets it run even
            // if xarch's own stack overflowed (when an altstack exists).
            unsafe {
                let mut sa: libc::sigaction = core::mem::zeroed();
                sa.sa_sigaction = on_fault as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                libc::sigaction(sig, &sa, core::ptr::null_mut());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn report_is_readable() {
        let mut b = [0u8; 160];
        let n = super::format_report(&mut b, libc::SIGSEGV, 0x10, 0xdead);
        let s = std::str::from_utf8(&b[..n]).unwrap();
        assert!(
            s.contains("SIGSEGV")
                && s.contains("0x0000000000000010")
                && s.contains("0x000000000000dead"),
            "{s}"
        );
    }
}
