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
use xarch_ir::{IntCC, Type, Value, VecOp};

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
    let n = c.v(rn(i));
    let m = c.v(rm(i));
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
        (0b10011, true) => return unimpl("PMUL"),
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
        (0b00000, _) => return unimpl(if u { "UHADD" } else { "SHADD" }),
        (0b00010, _) => return unimpl(if u { "URHADD" } else { "SRHADD" }),
        (0b00100, _) => return unimpl(if u { "UHSUB" } else { "SHSUB" }),
        (0b01001, _) => {
            return unimpl(if u {
                "UQSHL (register)"
            } else {
                "SQSHL (register)"
            });
        }
        (0b01011, _) => return unimpl(if u { "UQRSHL" } else { "SQRSHL" }),
        (0b10110, _) => return unimpl(if u { "SQRDMULH" } else { "SQDMULH" }),
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
            if u {
                return unimpl(if opcode == 0b0100 { "RADDHN" } else { "RSUBHN" });
            }
            let op = if opcode == 0b0100 {
                VecOp::Add
            } else {
                VecOp::Sub
            };
            let s = c.b.vector(op, w, &[n, m]);
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
        0b1001 => return unimpl("SQDMLAL"),
        0b1011 => return unimpl("SQDMLSL"),
        0b1101 => return unimpl("SQDMULL"),
        0b1110 => return unimpl("PMULL"),
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
            1 => return unimpl("RBIT (vector)"),
            _ => return c.unallocated(),
        },
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
        (0b00100, _) => return unimpl(if u { "CLZ (vector)" } else { "CLS (vector)" }),
        (0b00010, _) => return unimpl(if u { "UADDLP" } else { "SADDLP" }),
        (0b00110, _) => return unimpl(if u { "UADALP" } else { "SADALP" }),
        (0b00011, _) => return unimpl(if u { "USQADD" } else { "SUQADD" }),
        (0b00111, _) => return unimpl(if u { "SQNEG" } else { "SQABS" }),
        (0b10010, true) => return unimpl("SQXTUN"),
        (0b10100, _) => return unimpl(if u { "UQXTN" } else { "SQXTN" }),
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
        (0b10000, true) => return unimpl("SQSHRUN"),
        (0b10001, true) => return unimpl("SQRSHRUN"),
        (0b10010, _) => return unimpl(if u { "UQSHRN" } else { "SQSHRN" }),
        (0b10011, _) => return unimpl(if u { "UQRSHRN" } else { "SQRSHRN" }),
        (0b01100, true) => return unimpl("SQSHLU"),
        (0b01110, _) => {
            return unimpl(if u {
                "UQSHL (immediate)"
            } else {
                "SQSHL (immediate)"
            });
        }
        _ => return c.unallocated(),
    };
    c.set_vec(rd(i), r, q);
    Ok(())
}

/// Vector x indexed element (MUL, MLA, FMUL ... by element).
pub(super) fn indexed(_: &mut Ctx, i: u32) -> LiftResult {
    let u = bit(i, 29);
    unimpl(match (bits(i, 12, 4), u) {
        (0b1000, false) => "MUL (by element)",
        (0b0000, true) => "MLA (by element)",
        (0b0100, true) => "MLS (by element)",
        (0b1001, _) => "FMUL (by element)",
        (0b0001, false) => "FMLA (by element)",
        (0b0101, false) => "FMLS (by element)",
        (0b1010, _) => "SMULL/UMULL (by element)",
        _ => "AdvSIMD vector x indexed element",
    })
}

/// Scalar classes not implemented yet.
pub(super) fn scalar_unimpl(_: &mut Ctx, i: u32) -> LiftResult {
    unimpl(if bit(i, 24) {
        "AdvSIMD scalar x indexed element"
    } else {
        "AdvSIMD scalar three different"
    })
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
        _ if size != 3 => {
            return if matches!(opcode, 0b10110 | 0b01001 | 0b01011) {
                unimpl("AdvSIMD scalar saturating three same")
            } else {
                c.unallocated()
            };
        }
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
        (0b01001 | 0b01011, _) => return unimpl("AdvSIMD scalar saturating shift"),
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
        (0b00011 | 0b00111 | 0b10010 | 0b10100, _) => {
            return unimpl("AdvSIMD scalar saturating two-register misc");
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
    if matches!(opcode, 0b10000..=0b10011 | 0b01100 | 0b01110) {
        return unimpl("AdvSIMD scalar saturating shift by immediate");
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
