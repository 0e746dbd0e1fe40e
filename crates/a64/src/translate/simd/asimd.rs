//! Advanced SIMD integer classes, vector and scalar forms.
//!
//! Vector forms with Q = 0 operate on the low 64 bits and zero the upper
//! half of the destination; lane-wise ops simply run on all 128 bits and
//! drop the upper half, while pairwise, permute and reduction ops first
//! build the 64-bit concatenation they are defined on.

use super::{rd, rm, rn};
use crate::decode::{bit, bits};
use crate::lift::{Ctx, LiftError, LiftResult};
use crate::state;
use xarch_ir::{IntCC, SatOp, Type, Value, VecOp};

fn unimpl(name: &'static str) -> LiftResult {
    Err(LiftError::Unimplemented(name))
}

/// Lane size in bits for a `size` field.
fn esize(size: u32) -> u32 {
    8 << size
}

/// Ors the cumulative saturation flag FPSR.QC (bit 27) in when `sat`
/// differs from the wrapping result `wrap`.
fn set_qc_if_differs(c: &mut Ctx, sat: Value, wrap: Value) {
    let differs = c.b.icmp(IntCC::Ne, sat, wrap);
    let d = c.b.zext(differs, Type::I64);
    let sh = c.c64(27);
    let qc = c.b.shl(d, sh);
    let old = c.b.get_state(state::FPSR, Type::I64);
    let new = c.b.or(old, qc);
    c.b.set_state(state::FPSR, new);
}

/// Saturating add/subtract with QC.
fn saturating(c: &mut Ctx, op: VecOp, e: u32, a: Value, b: Value) -> Value {
    let wrap_op = if matches!(op, VecOp::UQAdd | VecOp::SQAdd) {
        VecOp::Add
    } else {
        VecOp::Sub
    };
    let r = c.b.vector(op, e as u8, &[a, b]);
    let w = c.b.vector(wrap_op, e as u8, &[a, b]);
    set_qc_if_differs(c, r, w);
    r
}

/// A saturating op: the result, with FPSR.QC set if any lane saturated.
fn sat(c: &mut Ctx, op: SatOp, e: u32, args: &[Value]) -> Value {
    let r = c.b.vector(VecOp::Sat(op), e as u8, args);
    let q = c.b.vector(VecOp::SatQc(op), e as u8, args);
    let zero = c.b.const128(0);
    set_qc_if_differs(c, q, zero);
    r
}

/// SQDMULL on the low halves of `a` and `b` (`e`-bit lanes widened to
/// 2e): the doubling is a saturating add of the product to itself.
fn sqdmull(c: &mut Ctx, e: u32, a: Value, b: Value) -> Value {
    let w = (2 * e) as u8;
    let a = c.b.vector(VecOp::Sxtl, w, &[a]);
    let b = c.b.vector(VecOp::Sxtl, w, &[b]);
    let p = c.b.vector(VecOp::Mul, w, &[a, b]);
    saturating(c, VecOp::SQAdd, 2 * e, p, p)
}

/// The low `e` bits of lane 0 of Vn, zero-extended to 128 (a scalar
/// operand for a vector op).
fn scalar_operand(c: &mut Ctx, r: u32, e: u32) -> Value {
    let ty = Type::from_bytes(e / 8);
    let x = c.vscalar(r, ty);
    c.b.zext(x, Type::I128)
}

/// Shift every lane right by a constant `shift` (1..=esize).
fn shr_const(c: &mut Ctx, e: u32, v: Value, shift: u32, signed: bool, round: bool) -> Value {
    let amt = c.dup_const(e, (shift as i64).wrapping_neg() as u64);
    let op = match (signed, round) {
        (false, false) => VecOp::UShl,
        (true, false) => VecOp::SShl,
        (false, true) => VecOp::URShl,
        (true, true) => VecOp::SRShl,
    };
    c.b.vector(op, e as u8, &[v, amt])
}

/// Shift every lane left by a constant (0..esize).
fn shl_const(c: &mut Ctx, e: u32, v: Value, shift: u32) -> Value {
    let amt = c.dup_const(e, shift as u64);
    c.b.vector(VecOp::UShl, e as u8, &[v, amt])
}

/// TBL/TBX: table lookup over `len + 1` consecutive registers.
pub(super) fn tbl_tbx(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let len = bits(i, 13, 2);
    let tbx = bit(i, 12);
    let idx = c.v(rm(i));
    let mut r = if tbx { c.v(rd(i)) } else { c.b.const128(0) };
    for k in 0..=len {
        let table = c.v((rn(i) + k) % 32);
        let adj = if k == 0 {
            idx
        } else {
            let off = c.dup_const(8, 16 * k as u64);
            c.b.vector(VecOp::Sub, 8, &[idx, off])
        };
        r = c.b.vector(VecOp::Tbx, 8, &[r, table, adj]);
    }
    c.set_vec(rd(i), r, q);
    Ok(())
}

/// UZP1/UZP2/TRN1/TRN2/ZIP1/ZIP2.
pub(super) fn permute(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let size = bits(i, 22, 2);
    let opc = bits(i, 12, 3);
    if size == 3 && !q {
        return c.unallocated();
    }
    let e = esize(size) as u8;
    let n = c.v(rn(i));
    let m = c.v(rm(i));
    let r = match (opc, q) {
        (0b001 | 0b101, true) => {
            let op = if opc == 0b001 {
                VecOp::Uzp1
            } else {
                VecOp::Uzp2
            };
            c.b.vector(op, e, &[n, m])
        }
        (0b001 | 0b101, false) => {
            let op = if opc == 0b001 {
                VecOp::Uzp1
            } else {
                VecOp::Uzp2
            };
            let x = c.concat64(n, m);
            c.b.vector(op, e, &[x, x])
        }
        (0b010 | 0b110, _) => {
            let op = if opc == 0b010 {
                VecOp::Trn1
            } else {
                VecOp::Trn2
            };
            c.b.vector(op, e, &[n, m])
        }
        (0b011, _) | (0b111, true) => {
            let op = if opc == 0b011 {
                VecOp::Zip1
            } else {
                VecOp::Zip2
            };
            c.b.vector(op, e, &[n, m])
        }
        (0b111, false) => {
            // ZIP2 of the low halves is the high half of their ZIP1.
            let z = c.b.vector(VecOp::Zip1, e, &[n, m]);
            c.hi64(z)
        }
        _ => return c.unallocated(),
    };
    c.set_vec(rd(i), r, q);
    Ok(())
}

/// EXT: bytes `imm4..` of the concatenation Vm:Vn.
pub(super) fn ext(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let pos = bits(i, 11, 4);
    if !q && pos >= 8 {
        return c.unallocated();
    }
    let n = c.v(rn(i));
    let m = c.v(rm(i));
    let r = if q {
        if pos == 0 {
            n
        } else {
            let a = c.c64(8 * pos as u64);
            let lo = c.b.lshr(n, a);
            let b = c.c64(128 - 8 * pos as u64);
            let hi = c.b.shl(m, b);
            c.b.or(lo, hi)
        }
    } else {
        let x = c.concat64(n, m);
        let a = c.c64(8 * pos as u64);
        c.b.lshr(x, a)
    };
    c.set_vec(rd(i), r, q);
    Ok(())
}

/// DUP (element, general), INS (element, general), SMOV, UMOV.
pub(super) fn copy(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let op = bit(i, 29);
    let imm5 = bits(i, 16, 5);
    let imm4 = bits(i, 11, 4);
    let size = imm5.trailing_zeros();
    if size > 3 {
        return c.unallocated();
    }
    let e = esize(size);
    let idx = (imm5 >> (size + 1)) as u8;
    let ety = Type::from_bytes(e / 8);
    if op {
        // INS (element)
        if !q {
            return c.unallocated();
        }
        let src_idx = (imm4 >> size) as u8;
        let n = c.v(rn(i));
        let x = c.b.extract_lane(n, e as u8, src_idx, ety);
        let d = c.v(rd(i));
        let r = c.b.insert_lane(d, x, e as u8, idx);
        c.set_v(rd(i), r);
        return Ok(());
    }
    match imm4 {
        0b0000 => {
            // DUP (element)
            if size == 3 && !q {
                return c.unallocated();
            }
            let n = c.v(rn(i));
            let x = c.b.extract_lane(n, e as u8, idx, ety);
            let r = c.b.dup(x, e as u8);
            c.set_vec(rd(i), r, q);
        }
        0b0001 => {
            // DUP (general)
            if size == 3 && !q {
                return c.unallocated();
            }
            let x = c.reg(size == 3, rn(i));
            let r = c.b.dup(x, e as u8);
            c.set_vec(rd(i), r, q);
        }
        0b0011 => {
            // INS (general)
            if !q {
                return c.unallocated();
            }
            let x = c.reg(size == 3, rn(i));
            let x = c.b.trunc(x, ety);
            let d = c.v(rd(i));
            let r = c.b.insert_lane(d, x, e as u8, idx);
            c.set_v(rd(i), r);
        }
        0b0101 => {
            // SMOV
            if size == 3 || (size == 2 && !q) {
                return c.unallocated();
            }
            let n = c.v(rn(i));
            let x = c.b.extract_lane(n, e as u8, idx, ety);
            let r = c.b.sext(x, Ctx::wty(q));
            c.set_x(rd(i), r);
        }
        0b0111 => {
            // UMOV
            if (size == 3) != q {
                return c.unallocated();
            }
            let n = c.v(rn(i));
            let x = c.b.extract_lane(n, e as u8, idx, ety);
            c.set_x(rd(i), x);
        }
        _ => return c.unallocated(),
    }
    Ok(())
}

/// Three registers of the same type, vector form.
pub(super) fn three_same(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let u = bit(i, 29);
    let size = bits(i, 22, 2);
    let opcode = bits(i, 11, 5);
    if opcode >= 0b11000 {
        return super::fp::vector_three_same(c, i);
    }
    let e = esize(size);
    let e8 = e as u8;
    if opcode == 0b00011 {
        // Logical: size selects the operation.
        let n = c.v(rn(i));
        let m = c.v(rm(i));
        let r = match (u, size) {
            (false, 0) => c.b.vector(VecOp::And, 8, &[n, m]),
            (false, 1) => c.b.vector(VecOp::Bic, 8, &[n, m]),
            (false, 2) => c.b.vector(VecOp::Or, 8, &[n, m]),
            (false, _) => c.b.vector(VecOp::Orn, 8, &[n, m]),
            (true, 0) => c.b.vector(VecOp::Xor, 8, &[n, m]),
            (true, s) => {
                let d = c.v(rd(i));
                match s {
                    // BSL: Vd is the mask.
                    1 => c.b.vector(VecOp::Bsl, 8, &[n, m, d]),
                    // BIT: insert Vn where Vm is set.
                    2 => c.b.vector(VecOp::Bsl, 8, &[n, d, m]),
                    // BIF: insert Vn where Vm is clear.
                    _ => c.b.vector(VecOp::Bsl, 8, &[d, n, m]),
                }
            }
        };
        c.set_vec(rd(i), r, q);
        return Ok(());
    }
    if size == 3 && !q {
        return c.unallocated();
    }
    let mut n = c.v(rn(i));
    let mut m = c.v(rm(i));
    if !q && matches!(opcode, 0b00001 | 0b00101 | 0b01001 | 0b01011 | 0b10110) {
        // Saturating ops: the upper half must not set QC.
        n = c.lo64(n);
        m = c.lo64(m);
    }
    let pairwise = |c: &mut Ctx, op: VecOp| {
        if q {
            c.b.vector(op, e8, &[n, m])
        } else {
            let x = c.concat64(n, m);
            c.b.vector(op, e8, &[x, x])
        }
    };
    let r = match (opcode, u) {
        (0b00001, _) => {
            let op = if u { VecOp::UQAdd } else { VecOp::SQAdd };
            saturating(c, op, e, n, m)
        }
        (0b00101, _) => {
            let op = if u { VecOp::UQSub } else { VecOp::SQSub };
            saturating(c, op, e, n, m)
        }
        (0b00110, false) => c.b.vector(VecOp::CmGt, e8, &[n, m]),
        (0b00110, true) => c.b.vector(VecOp::CmHi, e8, &[n, m]),
        (0b00111, false) => c.b.vector(VecOp::CmGe, e8, &[n, m]),
        (0b00111, true) => c.b.vector(VecOp::CmHs, e8, &[n, m]),
        (0b01000, false) => c.b.vector(VecOp::SShl, e8, &[n, m]),
        (0b01000, true) => c.b.vector(VecOp::UShl, e8, &[n, m]),
        (0b01010, false) => c.b.vector(VecOp::SRShl, e8, &[n, m]),
        (0b01010, true) => c.b.vector(VecOp::URShl, e8, &[n, m]),
        // SMAX, UMAX, SMIN, UMIN: size = 11 is reserved.
        (0b01100 | 0b01101, _) if size == 3 => return c.unallocated(),
        (0b01100, false) => c.b.vector(VecOp::SMax, e8, &[n, m]),
        (0b01100, true) => c.b.vector(VecOp::UMax, e8, &[n, m]),
        (0b01101, false) => c.b.vector(VecOp::SMin, e8, &[n, m]),
        (0b01101, true) => c.b.vector(VecOp::UMin, e8, &[n, m]),
        (0b01110 | 0b01111, _) => {
            if size == 3 {
                return c.unallocated();
            }
            let op = if u { VecOp::UAbd } else { VecOp::SAbd };
            let d = c.b.vector(op, e8, &[n, m]);
            if opcode == 0b01111 {
                // UABA/SABA accumulate.
                let acc = c.v(rd(i));
                c.b.vector(VecOp::Add, e8, &[acc, d])
            } else {
                d
            }
        }
        (0b10000, false) => c.b.vector(VecOp::Add, e8, &[n, m]),
        (0b10000, true) => c.b.vector(VecOp::Sub, e8, &[n, m]),
        (0b10001, false) => c.b.vector(VecOp::CmTst, e8, &[n, m]),
        (0b10001, true) => c.b.vector(VecOp::CmEq, e8, &[n, m]),
        (0b10010, _) => {
            if size == 3 {
                return c.unallocated();
            }
            let p = c.b.vector(VecOp::Mul, e8, &[n, m]);
            let acc = c.v(rd(i));
            let op = if u { VecOp::Sub } else { VecOp::Add };
            c.b.vector(op, e8, &[acc, p])
        }
        (0b10011, false) => {
            if size == 3 {
                return c.unallocated();
            }
            c.b.vector(VecOp::Mul, e8, &[n, m])
        }
        (0b10011, true) => {
            if size != 0 {
                return c.unallocated();
            }
            c.b.vector(VecOp::PMul, 8, &[n, m])
        }
        (0b00000 | 0b00010 | 0b00100, _) => {
            if size == 3 {
                return c.unallocated();
            }
            let op = match (opcode, u) {
                (0b00000, false) => VecOp::SHAdd,
                (0b00000, true) => VecOp::UHAdd,
                (0b00010, false) => VecOp::SRHAdd,
                (0b00010, true) => VecOp::URHAdd,
                (_, false) => VecOp::SHSub,
                (_, true) => VecOp::UHSub,
            };
            c.b.vector(op, e8, &[n, m])
        }
        (0b01001 | 0b01011, _) => {
            let op = match (opcode, u) {
                (0b01001, false) => SatOp::SQShl,
                (0b01001, true) => SatOp::UQShl,
                (_, false) => SatOp::SQRShl,
                (_, true) => SatOp::UQRShl,
            };
            sat(c, op, e, &[n, m])
        }
        (0b10110, _) => {
            if size == 0 || size == 3 {
                return c.unallocated();
            }
            let op = if u { SatOp::SQRDMulH } else { SatOp::SQDMulH };
            sat(c, op, e, &[n, m])
        }
        (0b10100 | 0b10101, _) => {
            if size == 3 {
                return c.unallocated();
            }
            let op = match (opcode, u) {
                (0b10100, false) => VecOp::SMaxP,
                (0b10100, true) => VecOp::UMaxP,
                (_, false) => VecOp::SMinP,
                (_, true) => VecOp::UMinP,
            };
            pairwise(c, op)
        }
        (0b10111, false) => pairwise(c, VecOp::AddP),
        _ => return c.unallocated(),
    };
    c.set_vec(rd(i), r, q);
    Ok(())
}

/// Three registers of different types (long, wide and narrow forms).
pub(super) fn three_different(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let u = bit(i, 29);
    let size = bits(i, 22, 2);
    let opcode = bits(i, 12, 4);
    if opcode == 0b1110 && !u && (size == 0 || size == 3) {
        // PMULL, PMULL2 (8-bit lanes, or one 64-bit lane: FEAT_PMULL).
        let e = esize(size);
        let mut n = c.v(rn(i));
        let mut m = c.v(rm(i));
        if q {
            n = c.hi64(n);
            m = c.hi64(m);
        }
        let r = c.b.vector(VecOp::PMull, e as u8, &[n, m]);
        c.set_v(rd(i), r);
        return Ok(());
    }
    if size == 3 {
        return c.unallocated();
    }
    let e = esize(size); // narrow lane size
    let w = (2 * e) as u8; // wide lane size
    let ext = if u { VecOp::Uxtl } else { VecOp::Sxtl };
    let n = c.v(rn(i));
    let m = c.v(rm(i));
    // The narrow operands come from the upper half in the "2" forms.
    let half = |c: &mut Ctx, v: Value| if q { c.hi64(v) } else { v };
    let widen = |c: &mut Ctx, v: Value| {
        let h = half(c, v);
        c.b.vector(ext, w, &[h])
    };
    let r = match opcode {
        0b0000 | 0b0010 => {
            let a = widen(c, n);
            let b = widen(c, m);
            let op = if opcode == 0 { VecOp::Add } else { VecOp::Sub };
            c.b.vector(op, w, &[a, b])
        }
        0b0001 | 0b0011 => {
            let b = widen(c, m);
            let op = if opcode == 1 { VecOp::Add } else { VecOp::Sub };
            c.b.vector(op, w, &[n, b])
        }
        0b0100 | 0b0110 => {
            let op = if opcode == 0b0100 {
                VecOp::Add
            } else {
                VecOp::Sub
            };
            let mut s = c.b.vector(op, w, &[n, m]);
            if u {
                // RADDHN, RSUBHN: round before taking the high half.
                let k = c.dup_const(w as u32, 1 << (e - 1));
                s = c.b.vector(VecOp::Add, w, &[s, k]);
            }
            let h = shr_const(c, w as u32, s, e, false, false);
            let nar = c.b.vector(VecOp::Xtn, e as u8, &[h]);
            return write_narrow(c, rd(i), nar, q);
        }
        0b0101 | 0b0111 => {
            let a = widen(c, n);
            let b = widen(c, m);
            let op = if u { VecOp::UAbd } else { VecOp::SAbd };
            let d = c.b.vector(op, w, &[a, b]);
            if opcode == 0b0101 {
                let acc = c.v(rd(i));
                c.b.vector(VecOp::Add, w, &[acc, d])
            } else {
                d
            }
        }
        0b1000 | 0b1010 | 0b1100 => {
            let a = widen(c, n);
            let b = widen(c, m);
            let p = c.b.vector(VecOp::Mul, w, &[a, b]);
            match opcode {
                0b1100 => p,
                _ => {
                    let acc = c.v(rd(i));
                    let op = if opcode == 0b1000 {
                        VecOp::Add
                    } else {
                        VecOp::Sub
                    };
                    c.b.vector(op, w, &[acc, p])
                }
            }
        }
        0b1001 | 0b1011 | 0b1101 if !u && size != 0 => {
            let a = half(c, n);
            let b = half(c, m);
            let p = sqdmull(c, e, a, b);
            match opcode {
                0b1101 => p,
                _ => {
                    let acc = c.v(rd(i));
                    let op = if opcode == 0b1001 {
                        VecOp::SQAdd
                    } else {
                        VecOp::SQSub
                    };
                    saturating(c, op, 2 * e, acc, p)
                }
            }
        }
        _ => return c.unallocated(),
    };
    c.set_v(rd(i), r);
    Ok(())
}

/// Writes a narrowed 64-bit result: to the low half (upper zeroed), or for
/// the "2" forms to the upper half keeping the low half of Vd.
fn write_narrow(c: &mut Ctx, d: u32, nar: Value, q: bool) -> LiftResult {
    if q {
        let old = c.v(d);
        let r = c.concat64(old, nar);
        c.set_v(d, r);
    } else {
        c.set_vec(d, nar, false);
    }
    Ok(())
}

/// Compare against zero (CMGT/CMEQ/CMLT/CMGE/CMLE #0).
fn cmp_zero(c: &mut Ctx, e: u8, n: Value, opcode: u32, u: bool) -> Value {
    let z = c.b.const128(0);
    match (opcode, u) {
        (0b01000, false) => c.b.vector(VecOp::CmGt, e, &[n, z]),
        (0b01000, true) => c.b.vector(VecOp::CmGe, e, &[n, z]),
        (0b01001, false) => c.b.vector(VecOp::CmEq, e, &[n, z]),
        (0b01001, true) => c.b.vector(VecOp::CmGe, e, &[z, n]),
        _ => c.b.vector(VecOp::CmGt, e, &[z, n]), // CMLT
    }
}

/// Two-register miscellaneous, vector form.
pub(super) fn two_reg_misc(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let u = bit(i, 29);
    let size = bits(i, 22, 2);
    let opcode = bits(i, 12, 5);
    if opcode >= 0b01100 && opcode != 0b10010 && opcode != 0b10100 && opcode != 0b10011 {
        return super::fp::vector_two_reg_misc(c, i);
    }
    let e = esize(size);
    let e8 = e as u8;
    let n = c.v(rn(i));
    let r = match (opcode, u) {
        (0b00000, _) | (0b00001, false) => {
            // REV64 / REV32 / REV16: the container must exceed the lane.
            let (op, container) = match (opcode, u) {
                (0, false) => (VecOp::Rev64, 64),
                (0, true) => (VecOp::Rev32, 32),
                _ => (VecOp::Rev16, 16),
            };
            if e >= container {
                return c.unallocated();
            }
            c.b.vector(op, e8, &[n])
        }
        (0b00101, false) => {
            if size != 0 {
                return c.unallocated();
            }
            c.b.vector(VecOp::Cnt, 8, &[n])
        }
        (0b00101, true) => match size {
            0 => c.b.vector(VecOp::Not, 8, &[n]),
            1 => c.b.vector(VecOp::Rbit, 8, &[n]),
            _ => return c.unallocated(),
        },
        (0b00100, _) => {
            if size == 3 {
                return c.unallocated();
            }
            let op = if u { VecOp::Clz } else { VecOp::Cls };
            c.b.vector(op, e8, &[n])
        }
        (0b00010 | 0b00110, _) => {
            // UADDLP/SADDLP, UADALP/SADALP: lanes of twice the size.
            if size == 3 {
                return c.unallocated();
            }
            let op = if u { VecOp::UAddLp } else { VecOp::SAddLp };
            let p = c.b.vector(op, 2 * e8, &[n]);
            if opcode == 0b00110 {
                let acc = c.v(rd(i));
                c.b.vector(VecOp::Add, 2 * e8, &[acc, p])
            } else {
                p
            }
        }
        (0b00011 | 0b00111, _) => {
            if size == 3 && !q {
                return c.unallocated();
            }
            let op = match (opcode, u) {
                (0b00011, false) => SatOp::SUQAdd,
                (0b00011, true) => SatOp::USQAdd,
                (_, false) => SatOp::SQAbs,
                (_, true) => SatOp::SQNeg,
            };
            let n = if q { n } else { c.lo64(n) };
            if opcode == 0b00011 {
                let d = c.v(rd(i));
                let d = if q { d } else { c.lo64(d) };
                sat(c, op, e, &[d, n])
            } else {
                sat(c, op, e, &[n])
            }
        }
        (0b10010, true) | (0b10100, _) => {
            if size == 3 {
                return c.unallocated();
            }
            let op = match (opcode, u) {
                (0b10010, _) => SatOp::SQXtun,
                (_, false) => SatOp::SQXtn,
                (_, true) => SatOp::UQXtn,
            };
            let nar = sat(c, op, e, &[n]);
            return write_narrow(c, rd(i), nar, q);
        }
        (0b01000 | 0b01001, _) | (0b01010, false) => {
            if size == 3 && !q {
                return c.unallocated();
            }
            cmp_zero(c, e8, n, opcode, u)
        }
        (0b01011, _) => {
            if size == 3 && !q {
                return c.unallocated();
            }
            let op = if u { VecOp::Neg } else { VecOp::Abs };
            c.b.vector(op, e8, &[n])
        }
        (0b10010, false) => {
            // XTN, XTN2
            if size == 3 {
                return c.unallocated();
            }
            let nar = c.b.vector(VecOp::Xtn, e8, &[n]);
            return write_narrow(c, rd(i), nar, q);
        }
        (0b10011, true) => {
            // SHLL, SHLL2: widen and shift by the lane size.
            if size == 3 {
                return c.unallocated();
            }
            let h = if q { c.hi64(n) } else { n };
            let w = c.b.vector(VecOp::Uxtl, 2 * e8, &[h]);
            let r = shl_const(c, 2 * e, w, e);
            c.set_v(rd(i), r);
            return Ok(());
        }
        _ => return c.unallocated(),
    };
    c.set_vec(rd(i), r, q);
    Ok(())
}

/// Reductions across lanes.
pub(super) fn across_lanes(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let u = bit(i, 29);
    let size = bits(i, 22, 2);
    let opcode = bits(i, 12, 5);
    if opcode == 0b01100 || opcode == 0b01111 {
        return super::fp::across_lanes(c, i);
    }
    if size == 3 || (size == 2 && !q) {
        return c.unallocated();
    }
    let e = esize(size) as u8;
    let n = c.v(rn(i));
    let (op, neutral_zero) = match (opcode, u) {
        (0b00011, false) => (VecOp::SAddLv, true),
        (0b00011, true) => (VecOp::UAddLv, true),
        (0b01010, false) => (VecOp::SMaxV, false),
        (0b01010, true) => (VecOp::UMaxV, false),
        (0b11010, false) => (VecOp::SMinV, false),
        (0b11010, true) => (VecOp::UMinV, false),
        (0b11011, false) => (VecOp::AddV, true),
        _ => return c.unallocated(),
    };
    // 64-bit forms: zero the upper half for sums, duplicate the low half
    // for max/min (which are idempotent).
    let src = if q {
        n
    } else if neutral_zero {
        c.lo64(n)
    } else {
        c.concat64(n, n)
    };
    let r = c.b.vector(op, e, &[src]);
    c.set_v(rd(i), r);
    Ok(())
}

/// AdvSIMDExpandImm: the 64-bit pattern of a modified immediate.
fn expand_imm(op: bool, cmode: u32, imm8: u64) -> u64 {
    let rep32 = |x: u64| x | (x << 32);
    let rep16 = |x: u64| rep32(x | (x << 16));
    match cmode >> 1 {
        0 => rep32(imm8),
        1 => rep32(imm8 << 8),
        2 => rep32(imm8 << 16),
        3 => rep32(imm8 << 24),
        4 => rep16(imm8),
        5 => rep16(imm8 << 8),
        6 => {
            if cmode & 1 == 0 {
                rep32((imm8 << 8) | 0xff)
            } else {
                rep32((imm8 << 16) | 0xffff)
            }
        }
        _ => {
            if cmode & 1 == 0 {
                if op {
                    (0..8).fold(0u64, |acc, k| {
                        acc | if imm8 >> k & 1 != 0 {
                            0xff << (8 * k)
                        } else {
                            0
                        }
                    })
                } else {
                    rep16(imm8 | (imm8 << 8))
                }
            } else if op {
                // FMOV (vector, immediate), double precision.
                super::fp::vfp_expand_imm(imm8 as u32, 64)
            } else {
                rep32(super::fp::vfp_expand_imm(imm8 as u32, 32))
            }
        }
    }
}

/// MOVI, MVNI, ORR (vector, immediate), BIC (vector, immediate), FMOV
/// (vector, immediate).
pub(super) fn modified_imm(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let op = bit(i, 29);
    let cmode = bits(i, 12, 4);
    let o2 = bit(i, 11);
    let imm8 = ((bits(i, 16, 3) << 5) | bits(i, 5, 5)) as u64;
    if o2 {
        return if cmode == 0b1111 && !op {
            unimpl("FMOV (vector, immediate, half-precision)")
        } else {
            c.unallocated()
        };
    }
    if cmode == 0b1111 && op && !q {
        return c.unallocated();
    }
    let imm = expand_imm(op, cmode, imm8);
    let imm128 = (imm as u128) | ((imm as u128) << 64);
    let is_orr_bic = cmode & 1 == 1 && cmode < 0b1100;
    let r = if is_orr_bic {
        let d = c.v(rd(i));
        let k = c.b.const128(imm128);
        let vop = if op { VecOp::Bic } else { VecOp::Or };
        c.b.vector(vop, 8, &[d, k])
    } else if op && cmode < 0b1110 {
        c.b.const128(!imm128)
    } else {
        c.b.const128(imm128)
    };
    c.set_vec(rd(i), r, q);
    Ok(())
}

/// Decodes immh:immb for a shift: (esize, immh:immb); immh = 0 is not a
/// shift (unallocated in the scalar class).
fn shift_fields(c: &Ctx, i: u32) -> Result<(u32, u32), LiftError> {
    let immh = bits(i, 19, 4);
    if immh == 0 {
        return c.unallocated();
    }
    let e = 8 << (31 - immh.leading_zeros());
    Ok((e, bits(i, 16, 7)))
}

/// Shift by immediate, vector form.
pub(super) fn shift_imm(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let u = bit(i, 29);
    let opcode = bits(i, 11, 5);
    let (e, immhb) = shift_fields(c, i)?;
    let n = c.v(rn(i));
    let rshift = 2 * e - immhb;
    let lshift = immhb.wrapping_sub(e);
    let narrowing = matches!(opcode, 0b10000..=0b10011);
    let long = opcode == 0b10100;
    if (narrowing || long) && e == 64 {
        return c.unallocated();
    }
    if !narrowing && !long && e == 64 && !q {
        return c.unallocated();
    }
    let r = match (opcode, u) {
        (0b00000 | 0b00010 | 0b00100 | 0b00110, _) => {
            let round = opcode & 0b100 != 0;
            let s = shr_const(c, e, n, rshift, !u, round);
            if opcode & 0b010 != 0 {
                let acc = c.v(rd(i));
                c.b.vector(VecOp::Add, e as u8, &[acc, s])
            } else {
                s
            }
        }
        (0b01010, false) => shl_const(c, e, n, lshift),
        (0b01010, true) => {
            // SLI: keep the low `lshift` bits of each Vd lane.
            let s = shl_const(c, e, n, lshift);
            let keep = c.dup_const(e, !(u64::MAX << lshift));
            let d = c.v(rd(i));
            let kept = c.b.vector(VecOp::And, 8, &[d, keep]);
            c.b.vector(VecOp::Or, 8, &[kept, s])
        }
        (0b01000, true) => {
            // SRI: keep the high `rshift` bits of each Vd lane.
            let s = shr_const(c, e, n, rshift, false, false);
            let lane_ones = if e == 64 { u64::MAX } else { (1 << e) - 1 };
            let keep = if rshift >= 64 {
                u64::MAX
            } else {
                !(lane_ones >> rshift)
            };
            let keep = c.dup_const(e, keep);
            let d = c.v(rd(i));
            let kept = c.b.vector(VecOp::And, 8, &[d, keep]);
            c.b.vector(VecOp::Or, 8, &[kept, s])
        }
        (0b10000 | 0b10001, false) => {
            // SHRN, RSHRN: shift the wide lanes, then narrow.
            let s = shr_const(c, 2 * e, n, rshift, false, opcode == 0b10001);
            let nar = c.b.vector(VecOp::Xtn, e as u8, &[s]);
            return write_narrow(c, rd(i), nar, q);
        }
        (0b10100, _) => {
            // SSHLL, USHLL (SXTL, UXTL when the shift is 0).
            let h = if q { c.hi64(n) } else { n };
            let op = if u { VecOp::Uxtl } else { VecOp::Sxtl };
            let w = c.b.vector(op, 2 * e as u8, &[h]);
            let r = if lshift == 0 {
                w
            } else {
                shl_const(c, 2 * e, w, lshift)
            };
            c.set_v(rd(i), r);
            return Ok(());
        }
        (0b11100 | 0b11111, _) => return super::fp::vector_fixed_conv(c, i),
        (0b10000..=0b10011, _) => {
            // SQSHRN, SQRSHRN, UQSHRN, UQRSHRN, SQSHRUN, SQRSHRUN.
            let nar = sat_shift_narrow(c, e, n, rshift, opcode, u);
            return write_narrow(c, rd(i), nar, q);
        }
        (0b01100, true) | (0b01110, _) => {
            let n = if q { n } else { c.lo64(n) };
            sat_shift_left(c, e, n, lshift, opcode, u)
        }
        _ => return c.unallocated(),
    };
    c.set_vec(rd(i), r, q);
    Ok(())
}

/// The saturating narrowing right shifts: shift the 2e-bit lanes of `n`
/// (arithmetically for the signed and signed-to-unsigned forms, rounding
/// for opcode<0>), then narrow with saturation.
fn sat_shift_narrow(c: &mut Ctx, e: u32, n: Value, rshift: u32, opcode: u32, u: bool) -> Value {
    let round = opcode & 1 == 1;
    let (signed, op) = match (opcode >> 1 & 1, u) {
        (0, true) => (true, SatOp::SQXtun),
        (_, false) => (true, SatOp::SQXtn),
        (_, true) => (false, SatOp::UQXtn),
    };
    let w = shr_const(c, 2 * e, n, rshift, signed, round);
    sat(c, op, e, &[w])
}

/// SQSHL, UQSHL (immediate) and SQSHLU.
fn sat_shift_left(c: &mut Ctx, e: u32, n: Value, lshift: u32, opcode: u32, u: bool) -> Value {
    let op = match (opcode, u) {
        (0b01100, _) => SatOp::SQShlU,
        (_, false) => SatOp::SQShl,
        (_, true) => SatOp::UQShl,
    };
    let amt = c.dup_const(e, lshift as u64);
    sat(c, op, e, &[n, amt])
}

/// The element operand of a by-element instruction: (esize, index, Vm)
/// for integer size 01 (H:L:M, V0-V15) or 10 (H:L, M:Rm).
fn index_fields(c: &Ctx, i: u32) -> Result<(u32, u8, u32), LiftError> {
    let (h, l, m) = (bits(i, 11, 1), bits(i, 21, 1), bits(i, 20, 1));
    match bits(i, 22, 2) {
        1 => Ok((16, (h << 2 | l << 1 | m) as u8, bits(i, 16, 4))),
        2 => Ok((32, (h << 1 | l) as u8, bits(i, 16, 5))),
        _ => c.unallocated(),
    }
}

/// Vector and scalar x indexed element: the integer and dot-product
/// forms here, the FP forms in `fp::indexed`. The element is broadcast
/// and the vector form of the operation applied; scalar forms keep lane 0.
fn by_element(c: &mut Ctx, i: u32, scalar: bool) -> LiftResult {
    let q = bit(i, 30) || scalar;
    let u = bit(i, 29);
    let opcode = bits(i, 12, 4);
    if matches!(
        (opcode, u),
        (0b0001 | 0b0101 | 0b1001, false) | (0b1001, true)
    ) {
        return super::fp::indexed(c, i, scalar);
    }
    if u && opcode & 0b1001 == 0b0001 {
        return if scalar {
            c.unallocated()
        } else {
            super::fp::complex_indexed(c, i)
        };
    }
    let (e, idx, rm) = index_fields(c, i)?;
    let e8 = e as u8;
    let vm = c.v(rm);
    let x = c.b.extract_lane(vm, e8, idx, Type::from_bytes(e / 8));
    let el = c.b.dup(x, e8);
    let n = if scalar {
        scalar_operand(c, rn(i), e)
    } else if q {
        c.v(rn(i))
    } else {
        let v = c.v(rn(i));
        c.lo64(v)
    };
    let acc = |c: &mut Ctx| {
        if scalar {
            scalar_operand(c, rd(i), e)
        } else {
            let d = c.v(rd(i));
            if q { d } else { c.lo64(d) }
        }
    };
    let wacc = |c: &mut Ctx| {
        if scalar {
            scalar_operand(c, rd(i), 2 * e)
        } else {
            c.v(rd(i))
        }
    };
    // The "2" long forms use the upper half of Vn.
    let nhalf = |c: &mut Ctx| {
        if bit(i, 30) && !scalar {
            let v = c.v(rn(i));
            c.hi64(v)
        } else {
            n
        }
    };
    let (r, long) = match (opcode, u) {
        (0b1000, false) if !scalar => (c.b.vector(VecOp::Mul, e8, &[n, el]), false),
        (0b0000 | 0b0100, true) if !scalar => {
            let p = c.b.vector(VecOp::Mul, e8, &[n, el]);
            let a = acc(c);
            let op = if opcode == 0 { VecOp::Add } else { VecOp::Sub };
            (c.b.vector(op, e8, &[a, p]), false)
        }
        (0b0010 | 0b0110 | 0b1010, _) if !scalar => {
            let ext = if u { VecOp::Uxtl } else { VecOp::Sxtl };
            let h = nhalf(c);
            let a = c.b.vector(ext, 2 * e8, &[h]);
            let b = c.b.vector(ext, 2 * e8, &[el]);
            let p = c.b.vector(VecOp::Mul, 2 * e8, &[a, b]);
            let r = match opcode {
                0b1010 => p,
                _ => {
                    let d = wacc(c);
                    let op = if opcode == 0b0010 {
                        VecOp::Add
                    } else {
                        VecOp::Sub
                    };
                    c.b.vector(op, 2 * e8, &[d, p])
                }
            };
            (r, true)
        }
        (0b0011 | 0b0111 | 0b1011, false) => {
            let h = nhalf(c);
            let p = sqdmull(c, e, h, el);
            let r = match opcode {
                0b1011 => p,
                _ => {
                    let d = wacc(c);
                    let op = if opcode == 0b0011 {
                        VecOp::SQAdd
                    } else {
                        VecOp::SQSub
                    };
                    saturating(c, op, 2 * e, d, p)
                }
            };
            (r, true)
        }
        (0b1100 | 0b1101, false) => {
            let op = if opcode == 0b1100 {
                SatOp::SQDMulH
            } else {
                SatOp::SQRDMulH
            };
            (sat(c, op, e, &[n, el]), false)
        }
        (0b1101 | 0b1111, true) => {
            let op = if opcode == 0b1101 {
                SatOp::SQRDMlah
            } else {
                SatOp::SQRDMlsh
            };
            let a = acc(c);
            (sat(c, op, e, &[a, n, el]), false)
        }
        (0b1110, _) if !scalar && e == 32 => {
            // SDOT/UDOT (by element): the element is a group of 4 bytes.
            let a = acc(c);
            let op = if u { VecOp::UDot } else { VecOp::SDot };
            (c.b.vector(op, 32, &[a, n, el]), false)
        }
        _ => return c.unallocated(),
    };
    if scalar {
        set_lane0(c, rd(i), r, if long { 2 * e } else { e });
    } else if long {
        c.set_v(rd(i), r);
    } else {
        c.set_vec(rd(i), r, q);
    }
    Ok(())
}

/// Vector x indexed element.
pub(super) fn indexed(c: &mut Ctx, i: u32) -> LiftResult {
    by_element(c, i, false)
}

/// Scalar x indexed element.
pub(super) fn scalar_indexed(c: &mut Ctx, i: u32) -> LiftResult {
    by_element(c, i, true)
}

/// Scalar three different: SQDMLAL, SQDMLSL, SQDMULL.
pub(super) fn scalar_three_different(c: &mut Ctx, i: u32) -> LiftResult {
    let size = bits(i, 22, 2);
    let opcode = bits(i, 12, 4);
    if bit(i, 29) || !matches!(opcode, 0b1001 | 0b1011 | 0b1101) || !matches!(size, 1 | 2) {
        return c.unallocated();
    }
    let e = esize(size);
    let n = scalar_operand(c, rn(i), e);
    let m = scalar_operand(c, rm(i), e);
    let p = sqdmull(c, e, n, m);
    let r = if opcode == 0b1101 {
        p
    } else {
        let d = scalar_operand(c, rd(i), 2 * e);
        let op = if opcode == 0b1001 {
            VecOp::SQAdd
        } else {
            VecOp::SQSub
        };
        saturating(c, op, 2 * e, d, p)
    };
    set_lane0(c, rd(i), r, 2 * e);
    Ok(())
}

/// DUP (element), scalar form (MOV Vd, Vn.T[idx]).
pub(super) fn scalar_copy(c: &mut Ctx, i: u32) -> LiftResult {
    let imm5 = bits(i, 16, 5);
    let size = imm5.trailing_zeros();
    if size > 3 {
        return c.unallocated();
    }
    let e = esize(size);
    let idx = (imm5 >> (size + 1)) as u8;
    let n = c.v(rn(i));
    let x = c.b.extract_lane(n, e as u8, idx, Type::from_bytes(e / 8));
    c.set_vscalar(rd(i), x);
    Ok(())
}

/// Writes lane 0 of a vector result as a scalar of `e` bits.
fn set_lane0(c: &mut Ctx, d: u32, r: Value, e: u32) {
    let x = c.b.extract_lane(r, e as u8, 0, Type::from_bytes(e / 8));
    c.set_vscalar(d, x);
}

/// Three same, scalar form (64-bit integer ops and saturating ops).
pub(super) fn scalar_three_same(c: &mut Ctx, i: u32) -> LiftResult {
    let u = bit(i, 29);
    let size = bits(i, 22, 2);
    let opcode = bits(i, 11, 5);
    if opcode >= 0b11000 {
        return super::fp::scalar_three_same(c, i);
    }
    let e = esize(size);
    let n = c.v(rn(i));
    let m = c.v(rm(i));
    let r = match (opcode, u) {
        (0b00001, _) => {
            let op = if u { VecOp::UQAdd } else { VecOp::SQAdd };
            let a = c.b.extract_lane(n, e as u8, 0, Type::from_bytes(e / 8));
            let b = c.b.extract_lane(m, e as u8, 0, Type::from_bytes(e / 8));
            let (a, b) = (c.b.zext(a, Type::I128), c.b.zext(b, Type::I128));
            saturating(c, op, e, a, b)
        }
        (0b00101, _) => {
            let op = if u { VecOp::UQSub } else { VecOp::SQSub };
            let a = c.b.extract_lane(n, e as u8, 0, Type::from_bytes(e / 8));
            let b = c.b.extract_lane(m, e as u8, 0, Type::from_bytes(e / 8));
            let (a, b) = (c.b.zext(a, Type::I128), c.b.zext(b, Type::I128));
            saturating(c, op, e, a, b)
        }
        (0b01001 | 0b01011, _) => {
            let op = match (opcode, u) {
                (0b01001, false) => SatOp::SQShl,
                (0b01001, true) => SatOp::UQShl,
                (_, false) => SatOp::SQRShl,
                (_, true) => SatOp::UQRShl,
            };
            let a = scalar_operand(c, rn(i), e);
            let b = scalar_operand(c, rm(i), e);
            sat(c, op, e, &[a, b])
        }
        (0b10110, _) if size == 1 || size == 2 => {
            let op = if u { SatOp::SQRDMulH } else { SatOp::SQDMulH };
            let a = scalar_operand(c, rn(i), e);
            let b = scalar_operand(c, rm(i), e);
            sat(c, op, e, &[a, b])
        }
        _ if size != 3 => return c.unallocated(),
        (0b00110, false) => c.b.vector(VecOp::CmGt, 64, &[n, m]),
        (0b00110, true) => c.b.vector(VecOp::CmHi, 64, &[n, m]),
        (0b00111, false) => c.b.vector(VecOp::CmGe, 64, &[n, m]),
        (0b00111, true) => c.b.vector(VecOp::CmHs, 64, &[n, m]),
        (0b01000, false) => c.b.vector(VecOp::SShl, 64, &[n, m]),
        (0b01000, true) => c.b.vector(VecOp::UShl, 64, &[n, m]),
        (0b01010, false) => c.b.vector(VecOp::SRShl, 64, &[n, m]),
        (0b01010, true) => c.b.vector(VecOp::URShl, 64, &[n, m]),
        (0b10000, false) => c.b.vector(VecOp::Add, 64, &[n, m]),
        (0b10000, true) => c.b.vector(VecOp::Sub, 64, &[n, m]),
        (0b10001, false) => c.b.vector(VecOp::CmTst, 64, &[n, m]),
        (0b10001, true) => c.b.vector(VecOp::CmEq, 64, &[n, m]),
        _ => return c.unallocated(),
    };
    set_lane0(c, rd(i), r, e);
    Ok(())
}

/// Two-register misc, scalar form.
pub(super) fn scalar_two_reg_misc(c: &mut Ctx, i: u32) -> LiftResult {
    let u = bit(i, 29);
    let size = bits(i, 22, 2);
    let opcode = bits(i, 12, 5);
    if opcode >= 0b01100 && !matches!(opcode, 0b10010 | 0b10100) {
        return super::fp::scalar_two_reg_misc(c, i);
    }
    let n = c.v(rn(i));
    let r = match (opcode, u) {
        (0b01000 | 0b01001, _) | (0b01010, false) if size == 3 => cmp_zero(c, 64, n, opcode, u),
        (0b01011, _) if size == 3 => {
            let op = if u { VecOp::Neg } else { VecOp::Abs };
            c.b.vector(op, 64, &[n])
        }
        (0b00011 | 0b00111, _) => {
            let e = esize(size);
            let op = match (opcode, u) {
                (0b00011, false) => SatOp::SUQAdd,
                (0b00011, true) => SatOp::USQAdd,
                (_, false) => SatOp::SQAbs,
                (_, true) => SatOp::SQNeg,
            };
            let a = scalar_operand(c, rn(i), e);
            let r = if opcode == 0b00011 {
                let d = scalar_operand(c, rd(i), e);
                sat(c, op, e, &[d, a])
            } else {
                sat(c, op, e, &[a])
            };
            set_lane0(c, rd(i), r, e);
            return Ok(());
        }
        (0b10010, true) | (0b10100, _) if size != 3 => {
            let e = esize(size);
            let op = match (opcode, u) {
                (0b10010, _) => SatOp::SQXtun,
                (_, false) => SatOp::SQXtn,
                (_, true) => SatOp::UQXtn,
            };
            let a = scalar_operand(c, rn(i), 2 * e);
            let r = sat(c, op, e, &[a]);
            set_lane0(c, rd(i), r, e);
            return Ok(());
        }
        _ => return c.unallocated(),
    };
    set_lane0(c, rd(i), r, 64);
    Ok(())
}

/// Pairwise, scalar form: ADDP (scalar) and the FP pairwise reductions.
pub(super) fn scalar_pairwise(c: &mut Ctx, i: u32) -> LiftResult {
    let u = bit(i, 29);
    let size = bits(i, 22, 2);
    let opcode = bits(i, 12, 5);
    if !u && opcode == 0b11011 {
        if size != 3 {
            return c.unallocated();
        }
        let n = c.v(rn(i));
        let r = c.b.vector(VecOp::AddP, 64, &[n, n]);
        set_lane0(c, rd(i), r, 64);
        return Ok(());
    }
    super::fp::scalar_pairwise(c, i)
}

/// Shift by immediate, scalar form (64-bit lanes only for the integer
/// shifts).
pub(super) fn scalar_shift_imm(c: &mut Ctx, i: u32) -> LiftResult {
    let u = bit(i, 29);
    let opcode = bits(i, 11, 5);
    let (e, immhb) = shift_fields(c, i)?;
    if matches!(opcode, 0b11100 | 0b11111) {
        return super::fp::scalar_fixed_conv(c, i);
    }
    if matches!(opcode, 0b10000..=0b10011) {
        if e == 64 {
            return c.unallocated();
        }
        if opcode & 0b10 == 0 && !u {
            // SHRN/RSHRN have no scalar form.
            return c.unallocated();
        }
        let n = scalar_operand(c, rn(i), 2 * e);
        let r = sat_shift_narrow(c, e, n, 2 * e - immhb, opcode, u);
        set_lane0(c, rd(i), r, e);
        return Ok(());
    }
    if matches!((opcode, u), (0b01100, true) | (0b01110, _)) {
        let n = scalar_operand(c, rn(i), e);
        let r = sat_shift_left(c, e, n, immhb - e, opcode, u);
        set_lane0(c, rd(i), r, e);
        return Ok(());
    }
    if e != 64 {
        return c.unallocated();
    }
    let n = c.v(rn(i));
    let rshift = 128 - immhb;
    let lshift = immhb - 64;
    let r = match (opcode, u) {
        (0b00000 | 0b00010 | 0b00100 | 0b00110, _) => {
            let round = opcode & 0b100 != 0;
            let s = shr_const(c, 64, n, rshift, !u, round);
            if opcode & 0b010 != 0 {
                let acc = c.v(rd(i));
                c.b.vector(VecOp::Add, 64, &[acc, s])
            } else {
                s
            }
        }
        (0b01010, false) => shl_const(c, 64, n, lshift),
        (0b01010, true) => {
            let s = shl_const(c, 64, n, lshift);
            let keep = c.dup_const(64, !(u64::MAX << lshift));
            let d = c.v(rd(i));
            let kept = c.b.vector(VecOp::And, 8, &[d, keep]);
            c.b.vector(VecOp::Or, 8, &[kept, s])
        }
        (0b01000, true) => {
            let s = shr_const(c, 64, n, rshift, false, false);
            let keep = if rshift >= 64 {
                u64::MAX
            } else {
                !(u64::MAX >> rshift)
            };
            let keep = c.dup_const(64, keep);
            let d = c.v(rd(i));
            let kept = c.b.vector(VecOp::And, 8, &[d, keep]);
            c.b.vector(VecOp::Or, 8, &[kept, s])
        }
        _ => return c.unallocated(),
    };
    set_lane0(c, rd(i), r, 64);
    Ok(())
}

/// Three same (extra), vector form: SDOT/UDOT, SQRDMLAH/SQRDMLSH; the
/// complex-number forms (FCMLA, FCADD) are not implemented.
pub(super) fn three_same_extra(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let u = bit(i, 29);
    let size = bits(i, 22, 2);
    let opcode = bits(i, 11, 4);
    let d = c.v(rd(i));
    let n = c.v(rn(i));
    let m = c.v(rm(i));
    let r = match (opcode, u) {
        (0b0010, _) => {
            if size != 2 {
                return c.unallocated();
            }
            let op = if u { VecOp::UDot } else { VecOp::SDot };
            c.b.vector(op, 32, &[d, n, m])
        }
        (0b0000 | 0b0001, true) => {
            if size == 0 || size == 3 {
                return c.unallocated();
            }
            let op = if opcode == 0 {
                SatOp::SQRDMlah
            } else {
                SatOp::SQRDMlsh
            };
            let (d, n, m) = if q {
                (d, n, m)
            } else {
                (c.lo64(d), c.lo64(n), c.lo64(m))
            };
            sat(c, op, esize(size), &[d, n, m])
        }
        (0b1000..=0b1111, true) => return super::fp::complex(c, i),
        _ => return c.unallocated(),
    };
    c.set_vec(rd(i), r, q);
    Ok(())
}

/// Three same (extra), scalar form: SQRDMLAH, SQRDMLSH.
pub(super) fn scalar_three_same_extra(c: &mut Ctx, i: u32) -> LiftResult {
    let size = bits(i, 22, 2);
    let opcode = bits(i, 11, 4);
    if !bit(i, 29) || opcode > 1 || size == 0 || size == 3 {
        return c.unallocated();
    }
    let e = esize(size);
    let op = if opcode == 0 {
        SatOp::SQRDMlah
    } else {
        SatOp::SQRDMlsh
    };
    let d = scalar_operand(c, rd(i), e);
    let n = scalar_operand(c, rn(i), e);
    let m = scalar_operand(c, rm(i), e);
    let r = sat(c, op, e, &[d, n, m]);
    set_lane0(c, rd(i), r, e);
    Ok(())
}
