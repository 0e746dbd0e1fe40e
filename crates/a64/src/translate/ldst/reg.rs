//! Load/store register (all addressing modes) and load/store pair, for the
//! general-purpose and the SIMD&FP registers.

use super::{I64, offset_addr, rn, rt};
use crate::decode::{bit, bits, sext};
use crate::lift::{Ctx, LiftResult};
use xarch_ir::{Type, Value};

/// What one register access does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MemOp {
    /// Store `bytes` bytes of the register.
    Store,
    /// Load, zero-extending (GPR: to 64 bits; SIMD&FP: to 128 bits).
    Load,
    /// Load and sign-extend to W (`false`) or X (`true`).
    LoadSigned(bool),
    /// PRFM: a hint, no access.
    Prefetch,
}

/// A decoded register access: size, register file and operation.
#[derive(Clone, Copy, Debug)]
pub(super) struct Access {
    /// SIMD&FP register (V) rather than general-purpose.
    pub vec: bool,
    /// log2 of the access size in bytes (0..=4).
    pub scale: u32,
    /// The operation.
    pub op: MemOp,
}

impl Access {
    /// Memory type of the access.
    pub fn ty(self) -> Type {
        Type::from_bytes(1 << self.scale)
    }

    /// Decodes `size:V:opc` of the load/store register classes (Arm ARM
    /// "Load/store register (unsigned immediate)" and siblings).
    /// `prefetch_ok` is false for the writeback and unprivileged forms,
    /// where PRFM's encoding is unallocated.
    pub fn decode(size: u32, vec: bool, opc: u32, prefetch_ok: bool) -> Option<Access> {
        if vec {
            let scale = if opc & 2 != 0 {
                if size != 0 {
                    return None;
                }
                4
            } else {
                size
            };
            let op = if opc & 1 == 1 {
                MemOp::Load
            } else {
                MemOp::Store
            };
            return Some(Access { vec, scale, op });
        }
        let op = match (size, opc) {
            (_, 0) => MemOp::Store,
            (_, 1) => MemOp::Load,
            (3, 2) if prefetch_ok => MemOp::Prefetch,
            (0..=2, 2) => MemOp::LoadSigned(true),
            (0..=1, 3) => MemOp::LoadSigned(false),
            _ => return None,
        };
        Some(Access {
            vec,
            scale: size,
            op,
        })
    }
}

/// A loaded value not yet written to its register (see [`finish_load`]).
pub(super) type Loaded = Option<(u32, Value)>;

/// Performs `acc` on register `t` at `addr`. A load returns the register
/// and value to write, so that the caller can write it after all the
/// accesses of the instruction (a fault leaves registers unchanged).
pub(super) fn access(c: &mut Ctx, acc: Access, addr: Value, t: u32) -> Loaded {
    let ty = acc.ty();
    match acc.op {
        MemOp::Prefetch => None,
        MemOp::Store => {
            let v = if acc.vec {
                if ty == Type::I128 {
                    c.v(t)
                } else {
                    c.vscalar(t, ty)
                }
            } else {
                let x = c.x(t);
                c.b.trunc(x, ty)
            };
            c.b.store(addr, v);
            None
        }
        MemOp::Load => Some((t, c.b.load(addr, ty))),
        MemOp::LoadSigned(to64) => {
            let v = c.b.load(addr, ty);
            let v = c.b.sext(v, if to64 { Type::I64 } else { Type::I32 });
            Some((t, v))
        }
    }
}

/// Writes a value returned by [`access`] to its register.
pub(super) fn finish_load(c: &mut Ctx, vec: bool, loaded: Loaded) {
    if let Some((t, v)) = loaded {
        if vec {
            c.set_vscalar(t, v)
        } else {
            c.set_x(t, v)
        }
    }
}

/// LDR/STR/PRFM (unsigned immediate): `[Xn|SP, #imm12 << scale]`.
pub(super) fn unsigned_imm(c: &mut Ctx, i: u32) -> LiftResult {
    let Some(acc) = Access::decode(bits(i, 30, 2), bit(i, 26), bits(i, 22, 2), true) else {
        return c.unallocated();
    };
    let off = (bits(i, 10, 12) as i64) << acc.scale;
    if acc.op == MemOp::Prefetch {
        return Ok(());
    }
    let base = c.xsp(rn(i));
    let addr = offset_addr(c, base, off);
    let l = access(c, acc, addr, rt(i));
    finish_load(c, acc.vec, l);
    Ok(())
}

/// The classes with a signed 9-bit byte offset, by bits 11:10:
/// LDUR/STUR/PRFUM (unscaled), post-index, LDTR/STTR (unprivileged, which
/// at EL0 behave as the normal forms) and pre-index.
pub(super) fn imm9(c: &mut Ctx, i: u32) -> LiftResult {
    let kind = bits(i, 10, 2);
    let vec = bit(i, 26);
    if kind == 0b10 && vec {
        return c.unallocated();
    }
    let Some(acc) = Access::decode(bits(i, 30, 2), vec, bits(i, 22, 2), kind == 0b00) else {
        return c.unallocated();
    };
    if acc.op == MemOp::Prefetch {
        return Ok(());
    }
    let off = sext(bits(i, 12, 9) as u64, 9);
    let (n, t) = (rn(i), rt(i));
    let base = c.xsp(n);
    match kind {
        0b01 => {
            // Post-index: access at the base, then write back base + off.
            let l = access(c, acc, base, t);
            finish_load(c, acc.vec, l);
            let wb = offset_addr(c, base, off);
            c.set_xsp(n, wb);
        }
        0b11 => {
            let addr = offset_addr(c, base, off);
            let l = access(c, acc, addr, t);
            finish_load(c, acc.vec, l);
            c.set_xsp(n, addr);
        }
        _ => {
            let addr = offset_addr(c, base, off);
            let l = access(c, acc, addr, t);
            finish_load(c, acc.vec, l);
        }
    }
    Ok(())
}

/// LDR/STR/PRFM (register): `[Xn|SP, (W|X)m{, extend {#amount}}]`.
pub(super) fn register_offset(c: &mut Ctx, i: u32) -> LiftResult {
    let Some(acc) = Access::decode(bits(i, 30, 2), bit(i, 26), bits(i, 22, 2), true) else {
        return c.unallocated();
    };
    let option = bits(i, 13, 3);
    if option & 0b010 == 0 {
        return c.unallocated();
    }
    if acc.op == MemOp::Prefetch {
        return Ok(());
    }
    let shift = if bit(i, 12) { acc.scale } else { 0 };
    let m = bits(i, 16, 5);
    // ExtendReg: option<0> selects X (LSL/UXTX, SXTX) or W (UXTW, SXTW),
    // option<2> sign-extension.
    let off = if option & 1 == 1 {
        c.x(m)
    } else {
        let w = c.reg(false, m);
        if option & 0b100 != 0 {
            c.b.sext(w, I64)
        } else {
            c.b.zext(w, I64)
        }
    };
    let off = if shift != 0 {
        let s = c.c64(shift as u64);
        c.b.shl(off, s)
    } else {
        off
    };
    let base = c.xsp(rn(i));
    let addr = c.b.add(base, off);
    let l = access(c, acc, addr, rt(i));
    finish_load(c, acc.vec, l);
    Ok(())
}

/// LDR (literal) W/X/S/D/Q, LDRSW (literal) and PRFM (literal).
pub(super) fn literal(c: &mut Ctx, i: u32) -> LiftResult {
    let opc = bits(i, 30, 2);
    let vec = bit(i, 26);
    let acc = match (opc, vec) {
        (3, true) => return c.unallocated(),
        (3, false) => return Ok(()), // PRFM
        (2, false) => Access {
            vec,
            scale: 2,
            op: MemOp::LoadSigned(true),
        },
        (o, false) => Access {
            vec,
            scale: 2 + o,
            op: MemOp::Load,
        },
        (o, true) => Access {
            vec,
            scale: 2 + o,
            op: MemOp::Load,
        },
    };
    let off = sext((bits(i, 5, 19) << 2) as u64, 21);
    let addr = c.c64(c.pc.wrapping_add(off as u64));
    let l = access(c, acc, addr, rt(i));
    finish_load(c, acc.vec, l);
    Ok(())
}

/// LDP/STP/LDPSW/LDNP/STNP, general-purpose and SIMD&FP, by bits 24:23:
/// no-allocate (signed offset), post-index, signed offset, pre-index.
pub(super) fn pair(c: &mut Ctx, i: u32) -> LiftResult {
    let opc = bits(i, 30, 2);
    let vec = bit(i, 26);
    let mode = bits(i, 23, 2);
    let load = bit(i, 22);
    let acc = match (opc, vec) {
        (3, _) => return c.unallocated(),
        (o, true) => Access {
            vec,
            scale: 2 + o,
            op: if load { MemOp::Load } else { MemOp::Store },
        },
        // LDPSW; STGP (MTE) and the no-allocate form are unallocated.
        (1, false) if load && mode != 0 => Access {
            vec,
            scale: 2,
            op: MemOp::LoadSigned(true),
        },
        (1, false) => return c.unallocated(),
        (o, false) => Access {
            vec,
            scale: 2 + (o >> 1),
            op: if load { MemOp::Load } else { MemOp::Store },
        },
    };
    let off = sext(bits(i, 15, 7) as u64, 7) << acc.scale;
    let (n, t, t2) = (rn(i), rt(i), bits(i, 10, 5));
    let base = c.xsp(n);
    let addr = if mode == 0b01 {
        base
    } else {
        offset_addr(c, base, off)
    };
    let addr2 = offset_addr(c, addr, 1 << acc.scale);
    let l1 = access(c, acc, addr, t);
    let l2 = access(c, acc, addr2, t2);
    finish_load(c, vec, l1);
    finish_load(c, vec, l2);
    match mode {
        0b01 => {
            let wb = offset_addr(c, base, off);
            c.set_xsp(n, wb);
        }
        0b11 => c.set_xsp(n, addr),
        _ => {}
    }
    Ok(())
}
