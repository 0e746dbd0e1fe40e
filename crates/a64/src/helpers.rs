//! Rust helpers called from IR code (`Op::Call`), for guest semantics that
//! need the host: counters and code invalidation.

use std::cell::RefCell;
use xarch_ir::Helper;

thread_local! {
    static PENDING_INVALIDATIONS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Addresses passed to `IC IVAU` since the last call (the engine drops the
/// translations of those cache lines).
pub fn take_pending_invalidations() -> Vec<u64> {
    PENDING_INVALIDATIONS.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

unsafe extern "C" fn read_counter(_: *mut u8, _: u64, _: u64, _: u64, _: u64) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// CNTVCT_EL0: nanoseconds of CLOCK_MONOTONIC (CNTFRQ is 1 GHz).
pub static READ_COUNTER: Helper = Helper {
    name: "read_counter",
    func: read_counter,
};

/// `exit_info` bit: translations must be invalidated before continuing.
pub const EXIT_INFO_INVALIDATE: u64 = 1;

unsafe extern "C" fn ic_ivau(state: *mut u8, addr: u64, _: u64, _: u64, _: u64) -> u64 {
    PENDING_INVALIDATIONS.with(|p| p.borrow_mut().push(addr));
    // SAFETY: helpers are only called with the thread's A64State.
    unsafe { (*(state as *mut crate::state::A64State)).exit_info |= EXIT_INFO_INVALIDATE };
    0
}

/// `IC IVAU`: record the line for invalidation.
pub static IC_IVAU: Helper = Helper {
    name: "ic_ivau",
    func: ic_ivau,
};
