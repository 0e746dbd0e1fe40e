//! Load/store exclusive (single and pair) and load-acquire/store-release.
//!
//! The monitor lives in the guest state (`excl_addr`, `excl_size`,
//! `excl_value`): a load-exclusive records address, size and the value it
//! read; a store-exclusive is one guarded host compare-and-swap against the
//! recorded value (`Op::CmpXchg`), so a fault is reported to the guest.
//!
//! Ordering: an acquire load is `load; fence(acquire)`. A release store
//! is `fence(release); store; fence(full)`: the full fence keeps a later
//! LDAR after the STLR, as Arm's release consistency (RCsc) requires and a
//! TSO host would not otherwise guarantee (the only ordering x86-64 needs
//! an instruction for: backends emit nothing for the others). A
//! store-exclusive's host CAS is sequentially consistent, so STLXR only
//! needs the leading fence.

use super::{I64, rn, rt};
use crate::decode::{bit, bits};
use crate::lift::{Ctx, LiftResult};
use crate::state;
use xarch_ir::{FenceKind, IntCC, Type, Value};

/// Opens the monitor for `size` bytes at `addr` holding `v`.
fn set_monitor(c: &mut Ctx, addr: Value, size: u64, v: Value) {
    c.b.set_state(state::EXCL_ADDR, addr);
    let s = c.c64(size);
    c.b.set_state(state::EXCL_SIZE, s);
    let v = c.b.zext(v, Type::I128);
    c.b.set_state(state::EXCL_VALUE, v);
}

/// The store half of the monitor, writing the STXR status (0 = stored)
/// to Ws. The data `hi:lo` is truncated to `size` bytes.
///
/// Succeeds only if the monitor is open for this address and size *and*
/// memory still holds the value the load-exclusive saw; the store is one
/// host compare-and-swap, so another thread's store in between makes it
/// fail as on hardware (except the harmless ABA case; QEMU does the same).
/// The access is always performed — with `new = expected` when the monitor
/// does not match, which changes nothing — because Arm translates the
/// address (and faults) before consulting the monitor.
fn store_exclusive(c: &mut Ctx, s: u32, addr: Value, lo: Value, hi: Value, size: u64) {
    let ty = Type::from_bytes(size as u32);
    let new = if size == 16 {
        let lo = c.b.zext(lo, Type::I128);
        let hi = c.b.zext(hi, Type::I128);
        let k = c.b.const128(64);
        let hi = c.b.shl(hi, k);
        c.b.or(lo, hi)
    } else {
        c.b.trunc(lo, ty)
    };
    let tag = c.b.get_state(state::EXCL_ADDR, I64);
    let tsize = c.b.get_state(state::EXCL_SIZE, I64);
    let expected = c.b.get_state(state::EXCL_VALUE, ty);
    let same_addr = c.b.icmp(IntCC::Eq, tag, addr);
    let want = c.c64(size);
    let same_size = c.b.icmp(IntCC::Eq, tsize, want);
    let open = c.b.and(same_addr, same_size);
    let new = c.b.select(open, new, expected);
    let found = c.b.cmpxchg(addr, expected, new);
    let unchanged = c.b.icmp(IntCC::Eq, found, expected);
    let ok = c.b.and(open, unchanged);
    let zero = c.c32(0);
    let one = c.c32(1);
    let status = c.b.select(ok, zero, one);
    let closed = c.c64(u64::MAX);
    c.b.set_state(state::EXCL_ADDR, closed);
    c.set_x(s, status);
}

/// LDXR/LDAXR/STXR/STLXR (B, H, W, X): size in bits 31:30, L bit 22,
/// Rs bits 20:16, o0 (acquire/release) bit 15.
pub(super) fn exclusive_reg(c: &mut Ctx, i: u32) -> LiftResult {
    let size = bits(i, 30, 2);
    let bytes = 1u64 << size;
    let ty = Type::from_bytes(bytes as u32);
    let ordered = bit(i, 15);
    let (s, n, t) = (bits(i, 16, 5), rn(i), rt(i));
    let addr = c.xsp(n);
    if bit(i, 22) {
        let v = c.b.load(addr, ty);
        if ordered {
            c.b.fence(FenceKind::Acquire);
        }
        set_monitor(c, addr, bytes, v);
        c.set_x(t, v);
    } else {
        if ordered {
            c.b.fence(FenceKind::Release);
        }
        // The helper truncates the data to the access size.
        let data = c.x(t);
        let hi = c.c64(0);
        store_exclusive(c, s, addr, data, hi, bytes);
    }
    Ok(())
}

/// LDXP/LDAXP/STXP/STLXP: sz (bit 30) selects W or X pairs; the pair is
/// one 8- or 16-byte exclusive access with Rt at the lower address.
pub(super) fn exclusive_pair(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 30);
    let ordered = bit(i, 15);
    let (s, t2, n, t) = (bits(i, 16, 5), bits(i, 10, 5), rn(i), rt(i));
    let addr = c.xsp(n);
    if bit(i, 22) {
        let (v, lo, hi, bytes) = if sf {
            let v = c.b.load(addr, Type::I128);
            let lo = c.b.trunc(v, I64);
            let hi = c.b.extract_lane(v, 64, 1, I64);
            (v, lo, hi, 16)
        } else {
            let v = c.b.load(addr, I64);
            let lo = c.b.trunc(v, Type::I32);
            let k = c.c64(32);
            let h = c.b.lshr(v, k);
            let hi = c.b.trunc(h, Type::I32);
            (v, lo, hi, 8)
        };
        if ordered {
            c.b.fence(FenceKind::Acquire);
        }
        set_monitor(c, addr, bytes, v);
        c.set_x(t, lo);
        c.set_x(t2, hi);
    } else {
        if ordered {
            c.b.fence(FenceKind::Release);
        }
        if sf {
            let lo = c.x(t);
            let hi = c.x(t2);
            store_exclusive(c, s, addr, lo, hi, 16);
        } else {
            let lo = c.reg(false, t);
            let lo = c.b.zext(lo, I64);
            let hi = c.reg(false, t2);
            let hi = c.b.zext(hi, I64);
            let k = c.c64(32);
            let hi = c.b.shl(hi, k);
            let v = c.b.or(lo, hi);
            let zero = c.c64(0);
            store_exclusive(c, s, addr, v, zero, 8);
        }
    }
    Ok(())
}

/// LDAR/STLR (B, H, W, X).
pub(super) fn ordered(c: &mut Ctx, i: u32) -> LiftResult {
    let ty = Type::from_bytes(1 << bits(i, 30, 2));
    let t = rt(i);
    let addr = c.xsp(rn(i));
    if bit(i, 22) {
        let v = c.b.load(addr, ty);
        c.b.fence(FenceKind::Acquire);
        c.set_x(t, v);
    } else {
        let x = c.x(t);
        let v = c.b.trunc(x, ty);
        c.b.fence(FenceKind::Release);
        c.b.store(addr, v);
        c.b.fence(FenceKind::Full);
    }
    Ok(())
}
