//! FEAT_LSE atomics (CAS, CASP, SWP, LDADD/LDCLR/LDEOR/LDSET,
//! LD{S,U}{MAX,MIN} and their ST* aliases) and FEAT_LRCPC LDAPR.
//!
//! Each atomic is one guarded host atomic (`Op::CmpXchg` or
//! `Op::AtomicRmw`), so it is atomic against the other guest threads
//! (which are host threads) and a fault is reported to the guest. The host
//! operations are sequentially consistent (x86 `lock` instructions), which
//! is at least as strong as every acquire/release variant, so the A and R
//! bits need no extra barriers. LDAPR is a plain load: x86 loads already
//! have acquire semantics, and RCpc does not order it after earlier
//! store-releases.

use super::{I64, rn, rt};
use crate::decode::{bit, bits};
use crate::lift::{Ctx, LiftResult};
use xarch_ir::{RmwOp, Type};

/// CAS, CASA, CASL, CASAL (B, H, W, X): Rs is compared with memory and
/// receives the old value; Rt is stored on a match.
pub(super) fn cas(c: &mut Ctx, i: u32) -> LiftResult {
    if bits(i, 10, 5) != 0b11111 {
        return c.unallocated();
    }
    let ty = Type::from_bytes(1 << bits(i, 30, 2));
    let (s, t) = (bits(i, 16, 5), rt(i));
    let addr = c.xsp(rn(i));
    let e = c.x(s);
    let e = c.b.trunc(e, ty);
    let n = c.x(t);
    let n = c.b.trunc(n, ty);
    let old = c.b.cmpxchg(addr, e, n);
    c.set_x(s, old);
    Ok(())
}

/// CASP, CASPA, CASPL, CASPAL: a pair of W (sz = 0) or X registers
/// compared and swapped as one 8- or 16-byte access, the even register at
/// the lower address.
pub(super) fn casp(c: &mut Ctx, i: u32) -> LiftResult {
    if bits(i, 10, 5) != 0b11111 {
        return c.unallocated();
    }
    let sf = bit(i, 30);
    let (s, t) = (bits(i, 16, 5), rt(i));
    if s & 1 == 1 || t & 1 == 1 {
        return c.unallocated();
    }
    let addr = c.xsp(rn(i));
    let (wide, half) = if sf {
        (Type::I128, I64)
    } else {
        (I64, Type::I32)
    };
    let bits_half = c.c64(half.bits() as u64);
    let pair = |c: &mut Ctx, r: u32| {
        let lo = c.reg(sf, r);
        let hi = c.reg(sf, r + 1);
        let lo = c.b.zext(lo, wide);
        let hi = c.b.zext(hi, wide);
        let hi = c.b.shl(hi, bits_half);
        c.b.or(lo, hi)
    };
    let e = pair(c, s);
    let n = pair(c, t);
    let old = c.b.cmpxchg(addr, e, n);
    let lo = c.b.trunc(old, half);
    let h = c.b.lshr(old, bits_half);
    let hi = c.b.trunc(h, half);
    c.set_x(s, lo);
    c.set_x(s + 1, hi);
    Ok(())
}

/// Atomic memory operations: size 111 V=0 00 A R 1 Rs o3 opc 00 Rn Rt.
pub(super) fn atomic(c: &mut Ctx, i: u32) -> LiftResult {
    if bit(i, 26) {
        return c.unallocated();
    }
    let ty = Type::from_bytes(1 << bits(i, 30, 2));
    let (s, t) = (bits(i, 16, 5), rt(i));
    let (a, r) = (bit(i, 23), bit(i, 22));
    let op = match (bit(i, 15), bits(i, 12, 3)) {
        (false, 0) => RmwOp::Add,
        (false, 1) => RmwOp::Clr,
        (false, 2) => RmwOp::Eor,
        (false, 3) => RmwOp::Set,
        (false, 4) => RmwOp::SMax,
        (false, 5) => RmwOp::SMin,
        (false, 6) => RmwOp::UMax,
        (false, 7) => RmwOp::UMin,
        (true, 0) => RmwOp::Swp,
        (true, 4) if a && !r && s == 31 => {
            // LDAPR, LDAPRH, LDAPRB.
            let addr = c.xsp(rn(i));
            let v = c.b.load(addr, ty);
            c.set_x(t, v);
            return Ok(());
        }
        _ => return c.unallocated(),
    };
    let addr = c.xsp(rn(i));
    let x = c.x(s);
    let x = c.b.trunc(x, ty);
    let old = c.b.atomic_rmw(op, addr, x);
    c.set_x(t, old);
    Ok(())
}
