//! The exclusive monitor (LDXR/STXR and friends) on host atomics.
//!
//! A load-exclusive records, in the guest state, the address, the size and
//! the value it read (`excl_addr`, `excl_size`, `excl_value`); the lifter
//! emits that as plain IR. A store-exclusive calls [`STORE_EXCLUSIVE`],
//! which succeeds only if the monitor is open for the same address and size
//! *and* memory still holds the recorded value, and then writes the new
//! value with one host compare-and-swap. Another guest thread's store in
//! between therefore makes it fail, as on hardware, except for the ABA case
//! (a store that writes back the same value), which is harmless for the
//! LDXR/STXR loops compilers and libc emit. This is the scheme QEMU uses
//! (`gen_store_exclusive` with `cmpxchg`).
//!
//! Misaligned exclusive accesses fault on hardware (SIGBUS). xarch does not
//! raise that yet: a misaligned store-exclusive is performed as a
//! compare-then-store under a global lock, atomic with respect to other
//! misaligned store-exclusives only.

use crate::state::A64State;
use portable_atomic::AtomicU128;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};
use xarch_ir::Helper;

/// Serialises misaligned store-exclusives (see the module docs).
static MISALIGNED: Mutex<()> = Mutex::new(());

/// Atomically replaces the `size`-byte value at `addr` with `new` if it
/// equals `old`; returns whether it did.
///
/// # Safety
/// `addr` must be a guest address valid for a `size`-byte read and write
/// (a bad address faults on the host, which the runtime reports to the
/// guest, as for every guest memory access).
pub unsafe fn compare_and_swap(addr: u64, size: u64, old: u128, new: u128) -> bool {
    let (s, f) = (Ordering::SeqCst, Ordering::SeqCst);
    if !addr.is_multiple_of(size) {
        // SAFETY: the caller's contract is passed on unchanged.
        return unsafe { compare_and_swap_misaligned(addr, size, old, new) };
    }
    // SAFETY: in every arm `addr` is aligned to `size` (checked above)
    // and valid for access by the caller's contract; guest memory is only
    // accessed through raw pointers or atomics, so no Rust reference to it
    // is invalidated.
    unsafe {
        match size {
            1 => AtomicU8::from_ptr(addr as *mut u8)
                .compare_exchange(old as u8, new as u8, s, f)
                .is_ok(),
            2 => AtomicU16::from_ptr(addr as *mut u16)
                .compare_exchange(old as u16, new as u16, s, f)
                .is_ok(),
            4 => AtomicU32::from_ptr(addr as *mut u32)
                .compare_exchange(old as u32, new as u32, s, f)
                .is_ok(),
            8 => AtomicU64::from_ptr(addr as *mut u64)
                .compare_exchange(old as u64, new as u64, s, f)
                .is_ok(),
            16 => AtomicU128::from_ptr(addr as *mut u128)
                .compare_exchange(old, new, s, f)
                .is_ok(),
            _ => false,
        }
    }
}

/// Compare-then-store of a misaligned location under [`MISALIGNED`].
///
/// # Safety
/// As [`compare_and_swap`].
unsafe fn compare_and_swap_misaligned(addr: u64, size: u64, old: u128, new: u128) -> bool {
    let _guard = MISALIGNED.lock().unwrap_or_else(|e| e.into_inner());
    let n = size as usize;
    if !matches!(n, 1 | 2 | 4 | 8 | 16) {
        return false;
    }
    let mut cur = [0u8; 16];
    // SAFETY: the caller guarantees `addr..addr+size` is readable and
    // writable; `cur` has room for 16 bytes.
    unsafe { core::ptr::copy_nonoverlapping(addr as *const u8, cur.as_mut_ptr(), n) };
    let mask = if n == 16 {
        u128::MAX
    } else {
        (1u128 << (8 * n)) - 1
    };
    if u128::from_le_bytes(cur) & mask != old & mask {
        return false;
    }
    let bytes = new.to_le_bytes();
    // SAFETY: as above.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, n) };
    true
}

/// `store_exclusive(addr, lo, hi, size)`: the store half of the exclusive
/// monitor. Returns the STXR status: 0 if the `size`-byte value `hi:lo`
/// (truncated to `size`) was stored, 1 if not. Always clears the monitor.
unsafe extern "C" fn store_exclusive(
    state: *mut u8,
    addr: u64,
    lo: u64,
    hi: u64,
    size: u64,
) -> u64 {
    // SAFETY: helpers are only called with the thread's A64State, and no
    // other reference to it is live while IR code runs.
    let st = unsafe { &mut *(state as *mut A64State) };
    let (tag, tsize, expected) = (st.excl_addr, st.excl_size, st.excl_value);
    st.excl_addr = u64::MAX;
    if tag != addr || tsize != size {
        return 1;
    }
    let new = (hi as u128) << 64 | lo as u128;
    let mask = if size >= 16 {
        u128::MAX
    } else {
        (1u128 << (8 * size)) - 1
    };
    // SAFETY: the matching load-exclusive read the same `size` bytes, so
    // the address is a guest address of the right size; a bad one faults
    // like any guest access.
    let ok = unsafe { compare_and_swap(addr, size, expected & mask, new & mask) };
    u64::from(!ok)
}

/// The store-exclusive helper: `(addr, lo, hi, size) -> status`.
pub static STORE_EXCLUSIVE: Helper = Helper {
    name: "store_exclusive",
    func: store_exclusive,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_checks_old_value_for_every_size() {
        let mut buf = [0u8; 40];
        let base = buf.as_mut_ptr() as u64;
        let p = base.next_multiple_of(16);
        for size in [1u64, 2, 4, 8, 16] {
            // SAFETY: p..p+16 lies inside `buf`.
            unsafe {
                assert!(!compare_and_swap(p, size, 1, 2), "size {size}");
                assert!(compare_and_swap(p, size, 0, u128::MAX));
                let mask = if size == 16 {
                    u128::MAX
                } else {
                    (1u128 << (8 * size)) - 1
                };
                let got = (p as *const u128).read_unaligned();
                assert_eq!(got, mask, "size {size} wrote exactly its bytes");
                assert!(compare_and_swap(p, size, mask, 0));
            }
        }
        // Misaligned: the lock path still compares.
        // SAFETY: p+1..p+9 lies inside `buf`.
        unsafe {
            assert!(!compare_and_swap(p + 1, 8, 5, 6));
            assert!(compare_and_swap(p + 1, 8, 0, 0x1122));
            assert_eq!(((p + 1) as *const u64).read_unaligned(), 0x1122);
        }
    }
}
