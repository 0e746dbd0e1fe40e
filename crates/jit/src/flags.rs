//! Deferred guest flags, shared by the tiers.
//!
//! Compiled code may leave the guest's flags field (Arm NZCV) stale and
//! describe it instead in the thread's [`JitCtx`]: `lazy_a`, `lazy_b` and
//! `lazy_info` (the kind in bits 0..3, the operation width in bits 4..5,
//! the flags field's offset in the state block from bit 8; 0 = nothing
//! deferred). Packing the flags takes several instructions per
//! flag-setting guest instruction, and most flags are overwritten before
//! anything reads them.
//!
//! - Regions defer the flags within their own code and complete them
//!   before leaving it (see `crate::opt`).
//! - Baseline blocks defer the flags a block leaves in the state (a
//!   compare the block also branches on is branched on with a host
//!   compare): they stay deferred across chained blocks, and are
//!   completed by [`complete_flags`] where anything may read the field: a
//!   block reading it, a helper call, a region's entry, and every return
//!   to the engine. The engine, the interpreter and signal delivery
//!   always find the flags in the state.

use crate::JitCtx;
use xarch_ir::Type;

/// `a` is the packed flags.
pub(crate) const LAZY_PACKED: u64 = 1;
/// `AddWithCarry(a, NOT b, 1)`: a compare.
pub(crate) const LAZY_SUB: u64 = 2;
/// `AddWithCarry(a, b, 0)`.
pub(crate) const LAZY_ADD: u64 = 3;
/// N and Z of the logical result `a`, C = V = 0.
pub(crate) const LAZY_LOGIC: u64 = 4;
/// `AddWithCarry(a, b, 1)` (a baseline compare keeps the operand it
/// has, `NOT x`).
pub(crate) const LAZY_ADD_CARRY: u64 = 5;

/// The `lazy_info` width code of a scalar type of `bits` bits.
pub(crate) fn width_code(bits: u32) -> u64 {
    match bits {
        8 => 0,
        16 => 1,
        32 => 2,
        _ => 3,
    }
}

/// The packed NZCV that a deferred-flags triple stands for (the
/// interpreter's definitions; 32 and 64 bits, which baseline code defers
/// at every chained region entry, in native arithmetic).
pub(crate) extern "C" fn pack_flags(a: u64, b: u64, info: u64) -> u64 {
    let width = (info >> 4) & 3;
    let carry = match info & 15 {
        LAZY_SUB | LAZY_ADD_CARRY => Some(true),
        LAZY_ADD => Some(false),
        _ => None,
    };
    let b = if info & 15 == LAZY_SUB { !b } else { b };
    match (width, carry, info & 15) {
        (3, Some(c), _) => add_flags64(a, b, c),
        (2, Some(c), _) => add_flags32(a as u32, b as u32, c),
        (3, None, LAZY_LOGIC) => nzcv(a >> 63 != 0, a == 0, false, false),
        (2, None, LAZY_LOGIC) => nzcv(a >> 31 & 1 != 0, a as u32 == 0, false, false),
        _ => pack_generic(a, b, info),
    }
}

/// NZCV in bits 31..28.
fn nzcv(n: bool, z: bool, c: bool, v: bool) -> u64 {
    (n as u64) << 31 | (z as u64) << 30 | (c as u64) << 29 | (v as u64) << 28
}

fn add_flags64(a: u64, b: u64, carry: bool) -> u64 {
    let (s, c1) = a.overflowing_add(b);
    let (r, c2) = s.overflowing_add(carry as u64);
    // Signed overflow: both operands of one sign, the result of the other.
    let v = ((a ^ r) & (b ^ r)) >> 63 != 0;
    nzcv(r >> 63 != 0, r == 0, c1 | c2, v)
}

fn add_flags32(a: u32, b: u32, carry: bool) -> u64 {
    let (s, c1) = a.overflowing_add(b);
    let (r, c2) = s.overflowing_add(carry as u32);
    let v = ((a ^ r) & (b ^ r)) >> 31 != 0;
    nzcv(r >> 31 != 0, r == 0, c1 | c2, v)
}

/// [`pack_flags`] by the interpreter's definitions, at any width.
fn pack_generic(a: u64, b: u64, info: u64) -> u64 {
    let ty = [Type::I8, Type::I16, Type::I32, Type::I64][((info >> 4) & 3) as usize];
    let m = ty.mask();
    let (a, b) = (a as u128 & m, b as u128 & m);
    match info & 15 {
        LAZY_SUB => xarch_ir::interp::add_with_carry_flags(a, b, 1, ty),
        LAZY_ADD => xarch_ir::interp::add_with_carry_flags(a, b, 0, ty),
        LAZY_ADD_CARRY => xarch_ir::interp::add_with_carry_flags(a, b, 1, ty),
        LAZY_LOGIC => {
            let n = (a >> (ty.bits() - 1)) & 1;
            ((n << 31) | (((a == 0) as u128) << 30)) as u64
        }
        _ => a as u64,
    }
}

/// Writes deferred flags, if any, into the state's flags field and marks
/// them written. Called by compiled code (System V, from an aligned
/// stack).
///
/// # Safety
/// `state` must be the guest state block the flags field offset in
/// `ctx.lazy_info` belongs to, `ctx` the thread's context.
pub(crate) unsafe extern "C" fn complete_flags(state: *mut u8, ctx: *mut JitCtx) {
    // SAFETY: the caller passes the thread's context and state block;
    // the offset was put in `lazy_info` by code compiled for that state
    // layout, where the field is an aligned u64.
    unsafe {
        let info = (*ctx).lazy_info;
        if info == 0 {
            return;
        }
        let v = pack_flags((*ctx).lazy_a, (*ctx).lazy_b, info);
        (state.add((info >> 8) as usize) as *mut u64).write(v);
        (*ctx).lazy_info = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The native 32- and 64-bit paths give the interpreter's flags.
    #[test]
    fn packing_matches_the_interpreter() {
        use xarch_ir::testing::EDGES;
        for kind in [LAZY_SUB, LAZY_ADD, LAZY_ADD_CARRY, LAZY_LOGIC, LAZY_PACKED] {
            for width in 0..4 {
                for a in EDGES {
                    for b in EDGES {
                        let info = kind | width << 4;
                        let ty = [Type::I8, Type::I16, Type::I32, Type::I64][width as usize];
                        let m = ty.mask();
                        let (x, y) = (a as u128 & m, b as u128 & m);
                        let want = match kind {
                            LAZY_SUB => xarch_ir::interp::add_with_carry_flags(x, !y & m, 1, ty),
                            LAZY_ADD => xarch_ir::interp::add_with_carry_flags(x, y, 0, ty),
                            LAZY_ADD_CARRY => xarch_ir::interp::add_with_carry_flags(x, y, 1, ty),
                            LAZY_LOGIC => {
                                ((x >> (ty.bits() - 1)) << 31 | ((x == 0) as u128) << 30) as u64
                            }
                            _ => x as u64,
                        };
                        assert_eq!(pack_flags(a, b, info), want, "{kind} {width} {a:x} {b:x}");
                    }
                }
            }
        }
    }

    #[test]
    fn completing_writes_the_field_once() {
        let mut state = [0u64; 4];
        let mut ctx = JitCtx {
            lazy_a: 5,
            lazy_b: !5,
            lazy_info: LAZY_ADD_CARRY | 3 << 4 | 16 << 8,
            ..JitCtx::default()
        };
        // SAFETY: offset 16 is inside `state`.
        unsafe { complete_flags(state.as_mut_ptr() as *mut u8, &mut ctx) };
        // 5 - 5: Z and C.
        assert_eq!(state, [0, 0, 0x6000_0000, 0]);
        assert_eq!(ctx.lazy_info, 0);
        state[2] = 7;
        // SAFETY: as above; nothing deferred now.
        unsafe { complete_flags(state.as_mut_ptr() as *mut u8, &mut ctx) };
        assert_eq!(state[2], 7);
    }
}
