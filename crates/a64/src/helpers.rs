//! Rust helpers called from IR code (`Op::Call`), for guest semantics that
//! need the host: counters, code invalidation and CRC32.

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

/// `exit_info` bit: an asynchronous signal is pending (`interrupt` is
/// set too). Whoever raises `interrupt` sets it, so that compiled code
/// polls one word (`exit_info`) rather than two.
pub const EXIT_INFO_INTERRUPT: u64 = 4;

/// Raises `interrupt` and its `exit_info` bit in the guest state whose
/// `interrupt` word is at `interrupt` (async-signal-safe).
///
/// # Safety
/// `interrupt` must point at the `interrupt` field of a live
/// [`crate::state::A64State`].
pub unsafe fn raise_interrupt(interrupt: *mut u64) {
    use core::sync::atomic::{AtomicU64, Ordering};
    let exit_info = (interrupt as usize - crate::state::INTERRUPT as usize
        + crate::state::EXIT_INFO as usize) as *mut u64;
    // SAFETY: both are aligned u64 fields of the same live state, which
    // its engine and other threads access atomically.
    unsafe {
        AtomicU64::from_ptr(interrupt).store(1, Ordering::SeqCst);
        AtomicU64::from_ptr(exit_info).fetch_or(EXIT_INFO_INTERRUPT, Ordering::SeqCst);
    }
}

unsafe extern "C" fn ic_ivau(state: *mut u8, addr: u64, _: u64, _: u64, _: u64) -> u64 {
    PENDING_INVALIDATIONS.with(|p| p.borrow_mut().push(addr));
    // SAFETY: helpers are only called with the thread's A64State, whose
    // aligned `exit_info` other threads' engines set bits in atomically.
    unsafe {
        core::sync::atomic::AtomicU64::from_ptr(
            &mut (*(state as *mut crate::state::A64State)).exit_info,
        )
        .fetch_or(EXIT_INFO_INVALIDATE, core::sync::atomic::Ordering::Release)
    };
    0
}

/// `IC IVAU`: record the line for invalidation.
pub static IC_IVAU: Helper = Helper {
    name: "ic_ivau",
    func: ic_ivau,
};

/// Arm `CRC32{B,H,W,X}` / `CRC32C{B,H,W,X}` on the low `1 << (sel & 3)`
/// bytes of `data`: the bit-reflected CRC update without inversion, with
/// the CRC-32 (ISO-HDLC) polynomial, or Castagnoli's when `sel & 4`.
pub fn crc32(acc: u32, data: u64, sel: u64) -> u32 {
    let poly = if sel & 4 != 0 {
        0x82f6_3b78
    } else {
        0xedb8_8320u32
    };
    let bytes = 1u32 << (sel & 3);
    let mut crc = acc;
    for k in 0..bytes {
        crc ^= (data >> (8 * k)) as u8 as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (poly & (crc & 1).wrapping_neg());
        }
    }
    crc
}

unsafe extern "C" fn crc32_helper(_: *mut u8, acc: u64, data: u64, sel: u64, _: u64) -> u64 {
    crc32(acc as u32, data, sel) as u64
}

/// CRC32*: `(acc, data, sel)` as for [`crc32`].
pub static CRC32: Helper = Helper {
    name: "crc32",
    func: crc32_helper,
};

/// Arm `FPToFixedJS` (FJCVTZS) of the double `bits` under `fpcr`: the
/// value rounded toward zero, modulo 2^32; whether it was exact and in
/// range (the Z flag); and the FPSR flags (IOC, IXC, IDC).
pub fn fjcvtzs(bits: u64, fpcr: u64) -> (u32, bool, u64) {
    const IOC: u64 = 1;
    const IXC: u64 = 1 << 4;
    const IDC: u64 = 1 << 7;
    let sign = bits >> 63 != 0;
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1 << 52) - 1);
    if exp == 0x7ff {
        return (0, false, IOC); // NaN or infinity
    }
    if exp == 0 {
        // -0.0 and a flushed denormal convert to 0 but are not "exact".
        if frac == 0 {
            return (0, !sign, 0);
        }
        if fpcr & (1 << 24) != 0 {
            return (0, false, IDC);
        }
        return (0, false, IXC);
    }
    let mant = (frac | (1 << 52)) as u128;
    let e = exp - 1075;
    let (int, inexact, huge) = if e >= 0 {
        if e > 75 {
            (0u128, false, true)
        } else {
            (mant << e, false, false)
        }
    } else if -e >= 64 {
        (0, true, false)
    } else {
        (mant >> -e, mant & ((1u128 << -e) - 1) != 0, false)
    };
    let limit = if sign { 1u128 << 31 } else { (1u128 << 31) - 1 };
    let low = int as u32;
    let result = if sign { low.wrapping_neg() } else { low };
    if huge || int > limit {
        (result, false, IOC)
    } else if inexact {
        (result, false, IXC)
    } else {
        (result, true, 0)
    }
}

unsafe extern "C" fn fjcvtzs_helper(_: *mut u8, bits: u64, fpcr: u64, _: u64, _: u64) -> u64 {
    let (r, z, flags) = fjcvtzs(bits, fpcr);
    r as u64 | ((z as u64) << 32) | (flags << 40)
}

/// FJCVTZS: `(bits, fpcr)`; returns the result in bits 31:0, Z in bit 32
/// and the FPSR flags from bit 40.
pub static FJCVTZS: Helper = Helper {
    name: "fjcvtzs",
    func: fjcvtzs_helper,
};
