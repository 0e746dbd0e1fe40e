//! Scalar floating point, conversions between FP and general registers,
//! and the floating-point forms of the Advanced SIMD classes.
//!
//! Every arithmetic op goes through [`fop`]: an `Op::Float` under the
//! current FPCR plus its `Op::FloatFlags`, ORed into FPSR. Half precision
//! is implemented only where Armv8.0 has it without FEAT_FP16 (FCVT
//! between precisions); other half-precision forms are Unimplemented.

use super::{rd, rm, rn};
use crate::decode::{bit, bits};
use crate::lift::{Ctx, LiftError, LiftResult};
use crate::state;
use xarch_ir::{FpOp, FpRounding, Type, Value, VecOp};

fn unimpl(name: &'static str) -> LiftResult {
    Err(LiftError::Unimplemented(name))
}

/// Emits `op` under the current FPCR, accumulating its exception flags
/// into FPSR; returns the result of type `ty`.
pub(super) fn fop(c: &mut Ctx, op: FpOp, args: &[Value], ty: Type) -> Value {
    let fpcr = c.b.get_state(state::FPCR, Type::I64);
    let r = c.b.float(op, args, fpcr, ty);
    let f = c.b.float_flags(op, args, fpcr, ty);
    let old = c.b.get_state(state::FPSR, Type::I64);
    let new = c.b.or(old, f);
    c.b.set_state(state::FPSR, new);
    r
}

/// The scalar type of an FP `ftype` field: S, D, or H (`None` for 10).
fn ftype(i: u32) -> Option<Type> {
    match bits(i, 22, 2) {
        0 => Some(Type::I32),
        1 => Some(Type::I64),
        3 => Some(Type::I16),
        _ => None,
    }
}

/// `ftype` restricted to single and double (half needs FEAT_FP16).
fn sd_type(c: &Ctx, i: u32) -> Result<Type, LiftError> {
    match ftype(i) {
        Some(Type::I16) => Err(LiftError::Unimplemented("FP16 half-precision arithmetic")),
        Some(t) => Ok(t),
        None => c.unallocated(),
    }
}

fn sign_bit(c: &mut Ctx, ty: Type) -> Value {
    c.b.iconst(ty, 1 << (ty.bits() - 1))
}

fn fneg(c: &mut Ctx, x: Value) -> Value {
    let ty = c.b.ty(x);
    let s = sign_bit(c, ty);
    c.b.xor(x, s)
}

fn fabs(c: &mut Ctx, x: Value) -> Value {
    let ty = c.b.ty(x);
    let s = sign_bit(c, ty);
    let m = c.b.not(s);
    c.b.and(x, m)
}

/// Arm `VFPExpandImm`: the FP constant of an 8-bit immediate.
pub(super) fn vfp_expand_imm(imm8: u32, n: u32) -> u64 {
    let e = if n == 16 {
        5
    } else if n == 32 {
        8
    } else {
        11
    };
    let f = n - e - 1;
    let sign = (imm8 >> 7) as u64 & 1;
    let b6 = (imm8 >> 6) as u64 & 1;
    let exp = ((b6 ^ 1) << (e - 1))
        | (if b6 == 1 { (1 << (e - 3)) - 1 } else { 0 } << 2)
        | ((imm8 >> 4) as u64 & 3);
    let frac = ((imm8 & 0xf) as u64) << (f - 4);
    (sign << (n - 1)) | (exp << f) | frac
}

/// FP data-processing (2 source): FMUL, FDIV, FADD, FSUB, FMAX, FMIN,
/// FMAXNM, FMINNM, FNMUL.
pub(super) fn dp2(c: &mut Ctx, i: u32) -> LiftResult {
    let ty = sd_type(c, i)?;
    let op = match bits(i, 12, 4) {
        0 => FpOp::Mul,
        1 => FpOp::Div,
        2 => FpOp::Add,
        3 => FpOp::Sub,
        4 => FpOp::Max,
        5 => FpOp::Min,
        6 => FpOp::MaxNum,
        7 => FpOp::MinNum,
        8 => FpOp::NMul,
        _ => return c.unallocated(),
    };
    let a = c.vscalar(rn(i), ty);
    let b = c.vscalar(rm(i), ty);
    let r = fop(c, op, &[a, b], ty);
    c.set_vscalar(rd(i), r);
    Ok(())
}

/// FP data-processing (1 source): FMOV, FABS, FNEG, FSQRT, FCVT, FRINT*.
pub(super) fn dp1(c: &mut Ctx, i: u32) -> LiftResult {
    let opcode = bits(i, 15, 6);
    let Some(ty) = ftype(i) else {
        return c.unallocated();
    };
    if (4..8).contains(&opcode) {
        // FCVT between precisions.
        let to = match opcode & 3 {
            0 => Type::I32,
            1 => Type::I64,
            3 => Type::I16,
            _ => return c.unallocated(),
        };
        if to == ty {
            return c.unallocated();
        }
        let a = c.vscalar(rn(i), ty);
        let r = fop(c, FpOp::Convert, &[a], to);
        c.set_vscalar(rd(i), r);
        return Ok(());
    }
    let ty = sd_type(c, i)?;
    let a = c.vscalar(rn(i), ty);
    let r = match opcode {
        0 => a,
        1 => fabs(c, a),
        2 => fneg(c, a),
        3 => fop(c, FpOp::Sqrt, &[a], ty),
        8..=15 => {
            let (mode, exact) = match opcode {
                8 => (FpRounding::TiesEven, false),
                9 => (FpRounding::PosInf, false),
                10 => (FpRounding::NegInf, false),
                11 => (FpRounding::Zero, false),
                12 => (FpRounding::TiesAway, false),
                14 => (FpRounding::Fpcr, true),
                15 => (FpRounding::Fpcr, false),
                _ => return c.unallocated(),
            };
            fop(c, FpOp::RoundInt(mode, exact), &[a], ty)
        }
        16..=19 => return unimpl("FRINT32/FRINT64"),
        _ => return c.unallocated(),
    };
    c.set_vscalar(rd(i), r);
    Ok(())
}

/// FCMP, FCMPE (register and #0.0).
pub(super) fn compare(c: &mut Ctx, i: u32) -> LiftResult {
    let ty = sd_type(c, i)?;
    if bits(i, 0, 3) != 0 {
        return c.unallocated();
    }
    let a = c.vscalar(rn(i), ty);
    let b = if bit(i, 3) {
        c.b.iconst(ty, 0)
    } else {
        c.vscalar(rm(i), ty)
    };
    let op = if bit(i, 4) { FpOp::CmpE } else { FpOp::Cmp };
    let f = fop(c, op, &[a, b], Type::I64);
    c.set_nzcv(f);
    Ok(())
}

/// FMOV (scalar, immediate).
pub(super) fn fmov_imm(c: &mut Ctx, i: u32) -> LiftResult {
    let ty = sd_type(c, i)?;
    let imm = vfp_expand_imm(bits(i, 13, 8), ty.bits());
    let v = c.b.iconst(ty, imm);
    c.set_vscalar(rd(i), v);
    Ok(())
}

/// FCCMP, FCCMPE.
pub(super) fn ccmp(c: &mut Ctx, i: u32) -> LiftResult {
    let ty = sd_type(c, i)?;
    let holds = c.cond(bits(i, 12, 4));
    let a = c.vscalar(rn(i), ty);
    let b = c.vscalar(rm(i), ty);
    // The compare (and its exceptions) only happens when the condition
    // holds: select the operands so a false condition compares zeros.
    let z = c.b.iconst(ty, 0);
    let a = c.b.select(holds, a, z);
    let b = c.b.select(holds, b, z);
    let op = if bit(i, 4) { FpOp::CmpE } else { FpOp::Cmp };
    let f = fop(c, op, &[a, b], Type::I64);
    let imm = c.c64((bits(i, 0, 4) as u64) << 28);
    let r = c.b.select(holds, f, imm);
    c.set_nzcv(r);
    Ok(())
}

/// FCSEL.
pub(super) fn csel(c: &mut Ctx, i: u32) -> LiftResult {
    let ty = sd_type(c, i)?;
    let holds = c.cond(bits(i, 12, 4));
    let a = c.vscalar(rn(i), ty);
    let b = c.vscalar(rm(i), ty);
    let r = c.b.select(holds, a, b);
    c.set_vscalar(rd(i), r);
    Ok(())
}

/// FMADD, FMSUB, FNMADD, FNMSUB (fused).
pub(super) fn dp3(c: &mut Ctx, i: u32) -> LiftResult {
    let ty = sd_type(c, i)?;
    let o1 = bit(i, 21);
    let o0 = bit(i, 15);
    let mut a = c.vscalar(bits(i, 10, 5), ty);
    let mut n = c.vscalar(rn(i), ty);
    let m = c.vscalar(rm(i), ty);
    // The negations come before NaN processing, as in the pseudocode.
    if o0 != o1 {
        n = fneg(c, n);
    }
    if o1 {
        a = fneg(c, a);
    }
    let r = fop(c, FpOp::MulAdd, &[a, n, m], ty);
    c.set_vscalar(rd(i), r);
    Ok(())
}

fn rounding_of_rmode(rmode: u32) -> FpRounding {
    match rmode {
        0 => FpRounding::TiesEven,
        1 => FpRounding::PosInf,
        2 => FpRounding::NegInf,
        _ => FpRounding::Zero,
    }
}

/// Conversions between FP and integer registers: FCVT[NPMZA][SU],
/// [SU]CVTF, FMOV (general).
pub(super) fn int_conv(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let rmode = bits(i, 19, 2);
    let opcode = bits(i, 16, 3);
    let ity = Ctx::wty(sf);
    let ft = bits(i, 22, 2);
    if opcode >= 6 {
        // FMOV (general).
        match (sf, ft, rmode) {
            (false, 0, 0) | (true, 1, 0) => {
                let ty = if sf { Type::I64 } else { Type::I32 };
                if opcode == 6 {
                    let v = c.vscalar(rn(i), ty);
                    c.set_x(rd(i), v);
                } else {
                    let x = c.reg(sf, rn(i));
                    c.set_vscalar(rd(i), x);
                }
            }
            (true, 2, 1) => {
                let v = c.v(if opcode == 6 { rn(i) } else { rd(i) });
                if opcode == 6 {
                    let h = c.hi64(v);
                    let h = c.b.trunc(h, Type::I64);
                    c.set_x(rd(i), h);
                } else {
                    let x = c.x(rn(i));
                    let x = c.b.zext(x, Type::I128);
                    let r = c.concat64(v, x);
                    c.set_v(rd(i), r);
                }
            }
            (_, 3, 0) => return unimpl("FMOV (half-precision, general)"),
            (false, 1, 3) if opcode == 6 => {
                // FJCVTZS: JavaScript conversion; Z = exact and in range.
                let x = c.vscalar(rn(i), Type::I64);
                let fpcr = c.b.get_state(state::FPCR, Type::I64);
                let r = c.b.call(&crate::helpers::FJCVTZS, &[x, fpcr], Type::I64);
                let w = c.b.trunc(r, Type::I32);
                c.set_x(rd(i), w);
                let k = c.c64(2);
                let z = c.b.lshr(r, k);
                let m = c.c64(1 << 30);
                let nzcv = c.b.and(z, m);
                c.set_nzcv(nzcv);
                let k = c.c64(40);
                let f = c.b.lshr(r, k);
                let old = c.b.get_state(state::FPSR, Type::I64);
                let new = c.b.or(old, f);
                c.b.set_state(state::FPSR, new);
            }
            _ => return c.unallocated(),
        }
        return Ok(());
    }
    let ty = sd_type(c, i)?;
    match (opcode, rmode) {
        (0 | 1, _) | (4 | 5, 0) => {
            let rounding = if opcode >= 4 {
                FpRounding::TiesAway
            } else {
                rounding_of_rmode(rmode)
            };
            let op = FpOp::ToInt {
                signed: opcode & 1 == 0,
                rounding,
                fbits: 0,
            };
            let a = c.vscalar(rn(i), ty);
            let r = fop(c, op, &[a], ity);
            c.set_x(rd(i), r);
        }
        (2 | 3, 0) => {
            let op = FpOp::FromInt {
                signed: opcode == 2,
                fbits: 0,
            };
            let x = c.reg(sf, rn(i));
            let r = fop(c, op, &[x], ty);
            c.set_vscalar(rd(i), r);
        }
        _ => return c.unallocated(),
    }
    Ok(())
}

/// Conversions between FP and fixed-point in general registers.
pub(super) fn fixed_conv(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let rmode = bits(i, 19, 2);
    let opcode = bits(i, 16, 3);
    let scale = bits(i, 10, 6);
    if !sf && scale < 32 {
        return c.unallocated();
    }
    let fbits = (64 - scale) as u8;
    let ty = sd_type(c, i)?;
    let ity = Ctx::wty(sf);
    match (rmode, opcode) {
        (0, 2 | 3) => {
            let op = FpOp::FromInt {
                signed: opcode == 2,
                fbits,
            };
            let x = c.reg(sf, rn(i));
            let r = fop(c, op, &[x], ty);
            c.set_vscalar(rd(i), r);
        }
        (3, 0 | 1) => {
            let op = FpOp::ToInt {
                signed: opcode == 0,
                rounding: FpRounding::Zero,
                fbits,
            };
            let a = c.vscalar(rn(i), ty);
            let r = fop(c, op, &[a], ity);
            c.set_x(rd(i), r);
        }
        _ => return c.unallocated(),
    }
    Ok(())
}

// ---- Advanced SIMD floating-point forms -------------------------------

/// Applies `f` lane by lane to `nops` source registers with `e`-bit lanes
/// over `lanes` lanes, returning the assembled vector.
fn per_lane(
    c: &mut Ctx,
    regs: &[Value],
    e: u32,
    lanes: u32,
    mut f: impl FnMut(&mut Ctx, &[Value], u32) -> Value,
) -> Value {
    let ty = Type::from_bytes(e / 8);
    let mut out = c.b.const128(0);
    for l in 0..lanes {
        let xs: Vec<Value> = regs
            .iter()
            .map(|&r| c.b.extract_lane(r, e as u8, l as u8, ty))
            .collect();
        let r = f(c, &xs, l);
        out = c.b.insert_lane(out, r, e as u8, l as u8);
    }
    out
}

/// Lane size and count of a vector FP op from Q and sz.
fn fp_shape(c: &Ctx, q: bool, sz: bool) -> Result<(u32, u32), LiftError> {
    match (sz, q) {
        (false, false) => Ok((32, 2)),
        (false, true) => Ok((32, 4)),
        (true, true) => Ok((64, 2)),
        (true, false) => c.unallocated(),
    }
}

/// The two-operand FP op of a three-same opcode (U:size<1>:opcode<2:0>).
fn three_same_op(u: bool, hi: bool, opc: u32) -> Option<(FpOp, bool)> {
    // (op, negate result for FABD handled separately)
    Some(match (u, hi, opc) {
        (false, false, 0b000) => (FpOp::MaxNum, false),
        (false, false, 0b010) => (FpOp::Add, false),
        (false, false, 0b011) => (FpOp::MulX, false),
        (false, false, 0b111) => (FpOp::RecipStep, false),
        (false, true, 0b111) => (FpOp::RSqrtStep, false),
        (false, false, 0b100) => (FpOp::CmEq, false),
        (false, false, 0b110) => (FpOp::Max, false),
        (false, true, 0b000) => (FpOp::MinNum, false),
        (false, true, 0b010) => (FpOp::Sub, false),
        (false, true, 0b110) => (FpOp::Min, false),
        (true, false, 0b011) => (FpOp::Mul, false),
        (true, false, 0b100) => (FpOp::CmGe, false),
        (true, false, 0b111) => (FpOp::Div, false),
        (true, true, 0b100) => (FpOp::CmGt, false),
        (true, true, 0b010) => (FpOp::Sub, true),   // FABD
        (true, false, 0b101) => (FpOp::CmGe, true), // FACGE
        (true, true, 0b101) => (FpOp::CmGt, true),  // FACGT
        _ => return None,
    })
}

/// Three same, FP opcodes (11xxx), vector form.
pub(super) fn vector_three_same(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let u = bit(i, 29);
    let hi = bit(i, 23);
    let opc = bits(i, 11, 3);
    let (e, lanes) = fp_shape(c, q, bit(i, 22))?;
    let ty = Type::from_bytes(e / 8);
    let n = c.v(rn(i));
    let m = c.v(rm(i));
    let r = match (u, hi, opc) {
        (false, _, 0b001) => {
            // FMLA / FMLS: d + n*m fused, n negated for FMLS.
            let d = c.v(rd(i));
            per_lane(c, &[d, n, m], e, lanes, |c, x, _| {
                let nn = if hi { fneg(c, x[1]) } else { x[1] };
                fop(c, FpOp::MulAdd, &[x[0], nn, x[2]], ty)
            })
        }
        (true, false, 0b000 | 0b010 | 0b110) | (true, true, 0b000 | 0b110) => {
            // Pairwise: FMAXNMP, FMINNMP, FADDP, FMAXP, FMINP.
            let op = match (hi, opc) {
                (false, 0b000) => FpOp::MaxNum,
                (true, 0b000) => FpOp::MinNum,
                (false, 0b010) => FpOp::Add,
                (false, 0b110) => FpOp::Max,
                (true, 0b110) => FpOp::Min,
                _ => return c.unallocated(),
            };
            let half = lanes / 2;
            let mut out = c.b.const128(0);
            for l in 0..lanes {
                let src = if l < half { n } else { m };
                let j = 2 * (l % half);
                let a = c.b.extract_lane(src, e as u8, j as u8, ty);
                let b = c.b.extract_lane(src, e as u8, j as u8 + 1, ty);
                let r = fop(c, op, &[a, b], ty);
                out = c.b.insert_lane(out, r, e as u8, l as u8);
            }
            out
        }
        _ => {
            let Some((op, special)) = three_same_op(u, hi, opc) else {
                return unimpl(match (u, opc) {
                    (false, 0b011) => "FMULX",
                    (false, 0b111) => "FRECPS/FRSQRTS",
                    _ => "AdvSIMD FP three same",
                });
            };
            per_lane(c, &[n, m], e, lanes, |c, x, _| {
                three_same_lane(c, op, special, x, ty)
            })
        }
    };
    c.set_vec(rd(i), r, q);
    Ok(())
}

fn three_same_lane(c: &mut Ctx, op: FpOp, special: bool, x: &[Value], ty: Type) -> Value {
    if !special {
        return fop(c, op, &[x[0], x[1]], ty);
    }
    if op == FpOp::Sub {
        // FABD: |a - b|.
        let d = fop(c, op, &[x[0], x[1]], ty);
        fabs(c, d)
    } else {
        // FACGE/FACGT compare magnitudes.
        let a = fabs(c, x[0]);
        let b = fabs(c, x[1]);
        fop(c, op, &[a, b], ty)
    }
}

/// Three same, FP opcodes, scalar form.
pub(super) fn scalar_three_same(c: &mut Ctx, i: u32) -> LiftResult {
    let u = bit(i, 29);
    let hi = bit(i, 23);
    let opc = bits(i, 11, 3);
    let ty = if bit(i, 22) { Type::I64 } else { Type::I32 };
    let Some((op, special)) = three_same_op(u, hi, opc) else {
        return unimpl("AdvSIMD scalar FP three same");
    };
    let scalar_op = matches!(
        op,
        FpOp::CmEq | FpOp::CmGe | FpOp::CmGt | FpOp::MulX | FpOp::RecipStep | FpOp::RSqrtStep
    );
    if !scalar_op && !special {
        return c.unallocated();
    }
    let a = c.vscalar(rn(i), ty);
    let b = c.vscalar(rm(i), ty);
    let r = three_same_lane(c, op, special, &[a, b], ty);
    c.set_vscalar(rd(i), r);
    Ok(())
}

/// The FP two-register-misc op for one lane; `None` if not FP.
fn two_reg_lane(c: &mut Ctx, u: bool, hi: bool, opcode: u32, x: Value, ty: Type) -> Option<Value> {
    let ity = ty;
    let zero = c.b.iconst(ty, 0);
    let cvt = |signed: bool, rounding| FpOp::ToInt {
        signed,
        rounding,
        fbits: 0,
    };
    Some(match (u, hi, opcode) {
        (false, true, 0b01111) => fabs(c, x),
        (true, true, 0b01111) => fneg(c, x),
        (true, true, 0b11111) => fop(c, FpOp::Sqrt, &[x], ty),
        (false, true, 0b11101) => fop(c, FpOp::RecipEst, &[x], ty),
        (true, true, 0b11101) => fop(c, FpOp::RSqrtEst, &[x], ty),
        (_, true, 0b01100) => {
            let op = if u { FpOp::CmGe } else { FpOp::CmGt };
            fop(c, op, &[x, zero], ty)
        }
        (false, true, 0b01101) => fop(c, FpOp::CmEq, &[x, zero], ty),
        (true, true, 0b01101) => fop(c, FpOp::CmGe, &[zero, x], ty), // FCMLE
        (false, true, 0b01110) => fop(c, FpOp::CmGt, &[zero, x], ty), // FCMLT
        (_, false, 0b11101) => {
            let op = FpOp::FromInt {
                signed: !u,
                fbits: 0,
            };
            fop(c, op, &[x], ty)
        }
        (_, _, 0b11010 | 0b11011) | (_, false, 0b11100) => {
            let rounding = match (hi, opcode) {
                (false, 0b11010) => FpRounding::TiesEven,
                (false, 0b11011) => FpRounding::NegInf,
                (true, 0b11010) => FpRounding::PosInf,
                (true, 0b11011) => FpRounding::Zero,
                _ => FpRounding::TiesAway,
            };
            fop(c, cvt(!u, rounding), &[x], ity)
        }
        (_, _, 0b11000 | 0b11001) => {
            let (mode, exact) = match (u, hi, opcode) {
                (false, false, 0b11000) => (FpRounding::TiesEven, false),
                (false, true, 0b11000) => (FpRounding::PosInf, false),
                (false, false, 0b11001) => (FpRounding::NegInf, false),
                (false, true, 0b11001) => (FpRounding::Zero, false),
                (true, false, 0b11000) => (FpRounding::TiesAway, false),
                (true, false, 0b11001) => (FpRounding::Fpcr, true),
                (true, true, 0b11001) => (FpRounding::Fpcr, false),
                _ => return None,
            };
            fop(c, FpOp::RoundInt(mode, exact), &[x], ty)
        }
        _ => return None,
    })
}

/// Two-register misc, FP opcodes, vector form.
pub(super) fn vector_two_reg_misc(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let u = bit(i, 29);
    let hi = bit(i, 23);
    let sz = bit(i, 22);
    let opcode = bits(i, 12, 5);
    let n = c.v(rn(i));
    match (u, hi, opcode) {
        (false, false, 0b10110) => {
            // FCVTN, FCVTN2: narrow to the low or high half (single to
            // half precision, or double to single).
            let (from, to) = if sz {
                (Type::I64, Type::I32)
            } else {
                (Type::I32, Type::I16)
            };
            let e = to.bits() as u8;
            let mut out = c.b.const128(0);
            for l in 0..64 / e {
                let x = c.b.extract_lane(n, 2 * e, l, from);
                let r = fop(c, FpOp::Convert, &[x], to);
                out = c.b.insert_lane(out, r, e, l);
            }
            let d = rd(i);
            if q {
                let old = c.v(d);
                let r = c.concat64(old, out);
                c.set_v(d, r);
            } else {
                c.set_v(d, out);
            }
            return Ok(());
        }
        (false, false, 0b10111) => {
            // FCVTL, FCVTL2: widen the low or high half (half to single
            // precision, or single to double).
            let (from, to) = if sz {
                (Type::I32, Type::I64)
            } else {
                (Type::I16, Type::I32)
            };
            let e = from.bits() as u8;
            let src = if q { c.hi64(n) } else { n };
            let mut out = c.b.const128(0);
            for l in 0..64 / e {
                let x = c.b.extract_lane(src, e, l, from);
                let r = fop(c, FpOp::Convert, &[x], to);
                out = c.b.insert_lane(out, r, 2 * e, l);
            }
            c.set_v(rd(i), out);
            return Ok(());
        }
        (true, false, 0b10110) => {
            // FCVTXN, FCVTXN2: double to single, rounding to odd.
            if !sz {
                return c.unallocated();
            }
            let mut out = c.b.const128(0);
            for l in 0..2 {
                let x = c.b.extract_lane(n, 64, l, Type::I64);
                let r = fop(c, FpOp::ConvertOdd, &[x], Type::I32);
                out = c.b.insert_lane(out, r, 32, l);
            }
            let d = rd(i);
            if q {
                let old = c.v(d);
                let r = c.concat64(old, out);
                c.set_v(d, r);
            } else {
                c.set_v(d, out);
            }
            return Ok(());
        }
        (_, true, 0b11100) => {
            // URECPE, URSQRTE on 32-bit lanes.
            if sz {
                return c.unallocated();
            }
            let op = if u { VecOp::URSqrtE } else { VecOp::URecpE };
            let r = c.b.vector(op, 32, &[n]);
            c.set_vec(rd(i), r, q);
            return Ok(());
        }
        (false, true, 0b11111) => return c.unallocated(),
        _ => {}
    }
    let (e, lanes) = fp_shape(c, q, sz)?;
    let ty = Type::from_bytes(e / 8);
    let mut ok = true;
    let r = per_lane(c, &[n], e, lanes, |c, x, _| {
        two_reg_lane(c, u, hi, opcode, x[0], ty).unwrap_or_else(|| {
            ok = false;
            x[0]
        })
    });
    if !ok {
        return c.unallocated();
    }
    c.set_vec(rd(i), r, q);
    Ok(())
}

/// Two-register misc, FP opcodes, scalar form.
pub(super) fn scalar_two_reg_misc(c: &mut Ctx, i: u32) -> LiftResult {
    let u = bit(i, 29);
    let hi = bit(i, 23);
    let opcode = bits(i, 12, 5);
    let ty = if bit(i, 22) { Type::I64 } else { Type::I32 };
    if matches!(opcode, 0b01111 | 0b11000 | 0b11001) || (opcode == 0b11111 && (u || !hi)) {
        return c.unallocated(); // no scalar FABS/FNEG/FRINT/FSQRT here
    }
    if opcode == 0b10110 && u && !hi {
        // FCVTXN (scalar): Sd from Dn.
        if ty != Type::I64 {
            return c.unallocated();
        }
        let x = c.vscalar(rn(i), Type::I64);
        let r = fop(c, FpOp::ConvertOdd, &[x], Type::I32);
        c.set_vscalar(rd(i), r);
        return Ok(());
    }
    if opcode == 0b11111 && hi && !u {
        let x = c.vscalar(rn(i), ty);
        let r = fop(c, FpOp::RecpX, &[x], ty);
        c.set_vscalar(rd(i), r);
        return Ok(());
    }
    let mark = c.b.len();
    let x = c.vscalar(rn(i), ty);
    match two_reg_lane(c, u, hi, opcode, x, ty) {
        Some(r) => {
            c.set_vscalar(rd(i), r);
            Ok(())
        }
        None => {
            c.b.truncate(mark);
            c.unallocated()
        }
    }
}

/// FP reductions across lanes: FMAXNMV, FMINNMV, FMAXV, FMINV (4S only).
pub(super) fn across_lanes(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let u = bit(i, 29);
    let hi = bit(i, 23);
    let opcode = bits(i, 12, 5);
    if !u {
        return unimpl("FP16 across lanes");
    }
    if !q || bit(i, 22) {
        return c.unallocated();
    }
    let op = match (hi, opcode) {
        (false, 0b01100) => FpOp::MaxNum,
        (true, 0b01100) => FpOp::MinNum,
        (false, _) => FpOp::Max,
        (true, _) => FpOp::Min,
    };
    let n = c.v(rn(i));
    let l: Vec<Value> = (0..4)
        .map(|k| c.b.extract_lane(n, 32, k, Type::I32))
        .collect();
    // Reduce as Arm's Reduce() does: pairwise halves.
    let a = fop(c, op, &[l[0], l[1]], Type::I32);
    let b = fop(c, op, &[l[2], l[3]], Type::I32);
    let r = fop(c, op, &[a, b], Type::I32);
    c.set_vscalar(rd(i), r);
    Ok(())
}

/// FP pairwise, scalar form: FADDP, FMAXP, FMINP, FMAXNMP, FMINNMP.
pub(super) fn scalar_pairwise(c: &mut Ctx, i: u32) -> LiftResult {
    let u = bit(i, 29);
    let hi = bit(i, 23);
    let opcode = bits(i, 12, 5);
    if !u {
        return if matches!(opcode, 0b01100 | 0b01101 | 0b01111) {
            unimpl("FP16 scalar pairwise")
        } else {
            c.unallocated()
        };
    }
    let ty = if bit(i, 22) { Type::I64 } else { Type::I32 };
    let op = match (hi, opcode) {
        (false, 0b01100) => FpOp::MaxNum,
        (true, 0b01100) => FpOp::MinNum,
        (false, 0b01101) => FpOp::Add,
        (false, 0b01111) => FpOp::Max,
        (true, 0b01111) => FpOp::Min,
        _ => return c.unallocated(),
    };
    let n = c.v(rn(i));
    let e = ty.bits() as u8;
    let a = c.b.extract_lane(n, e, 0, ty);
    let b = c.b.extract_lane(n, e, 1, ty);
    let r = fop(c, op, &[a, b], ty);
    c.set_vscalar(rd(i), r);
    Ok(())
}

/// SCVTF/UCVTF/FCVTZS/FCVTZU (vector, fixed-point).
pub(super) fn vector_fixed_conv(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let immh = bits(i, 19, 4);
    if immh < 0b0100 {
        return if immh >= 0b0010 {
            unimpl("FP16 fixed-point conversion")
        } else {
            c.unallocated()
        };
    }
    let sz = immh >= 0b1000;
    let (e, lanes) = fp_shape(c, q, sz)?;
    let op = fixed_op(i, e);
    let ty = Type::from_bytes(e / 8);
    let n = c.v(rn(i));
    let r = per_lane(c, &[n], e, lanes, |c, x, _| fop(c, op, &[x[0]], ty));
    c.set_vec(rd(i), r, q);
    Ok(())
}

fn fixed_op(i: u32, e: u32) -> FpOp {
    let fbits = (2 * e - bits(i, 16, 7)) as u8;
    let u = bit(i, 29);
    if bits(i, 11, 5) == 0b11100 {
        FpOp::FromInt { signed: !u, fbits }
    } else {
        FpOp::ToInt {
            signed: !u,
            rounding: FpRounding::Zero,
            fbits,
        }
    }
}

/// SCVTF/UCVTF/FCVTZS/FCVTZU (scalar, fixed-point).
pub(super) fn scalar_fixed_conv(c: &mut Ctx, i: u32) -> LiftResult {
    let immh = bits(i, 19, 4);
    if immh < 0b0100 {
        return if immh >= 0b0010 {
            unimpl("FP16 fixed-point conversion")
        } else {
            c.unallocated()
        };
    }
    let e = if immh >= 0b1000 { 64 } else { 32 };
    let ty = Type::from_bytes(e / 8);
    let op = fixed_op(i, e);
    let x = c.vscalar(rn(i), ty);
    let r = fop(c, op, &[x], ty);
    c.set_vscalar(rd(i), r);
    Ok(())
}

/// FMLA, FMLS, FMUL, FMULX (by element), vector and scalar forms.
pub(super) fn indexed(c: &mut Ctx, i: u32, scalar: bool) -> LiftResult {
    let q = bit(i, 30);
    let u = bit(i, 29);
    let size = bits(i, 22, 2);
    let opcode = bits(i, 12, 4);
    let (h, l) = (bits(i, 11, 1), bits(i, 21, 1));
    let rm = bits(i, 16, 5);
    let (e, idx) = match size {
        0 => return unimpl("FP16 by element"),
        2 => (32, h << 1 | l),
        3 if l == 0 => (64, h),
        _ => return c.unallocated(),
    };
    let lanes = if scalar {
        1
    } else {
        fp_shape(c, q, e == 64)?.1
    };
    let ty = Type::from_bytes(e / 8);
    let vm = c.v(rm);
    let el = c.b.extract_lane(vm, e as u8, idx as u8, ty);
    let n = c.v(rn(i));
    let d = c.v(rd(i));
    let r = per_lane(c, &[d, n], e, lanes, |c, x, _| match (opcode, u) {
        (0b1001, false) => fop(c, FpOp::Mul, &[x[1], el], ty),
        (0b1001, true) => fop(c, FpOp::MulX, &[x[1], el], ty),
        _ => {
            let nn = if opcode == 0b0101 {
                fneg(c, x[1])
            } else {
                x[1]
            };
            fop(c, FpOp::MulAdd, &[x[0], nn, el], ty)
        }
    });
    if scalar {
        let x = c.b.extract_lane(r, e as u8, 0, ty);
        c.set_vscalar(rd(i), x);
    } else {
        c.set_vec(rd(i), r, q);
    }
    Ok(())
}

/// FCMLA (vector; opcode 10rr) and FCADD (opcode 11r0): complex numbers
/// as (real, imaginary) lane pairs of Vn, Vm, accumulating into Vd.
pub(super) fn complex(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    let size = bits(i, 22, 2);
    let opcode = bits(i, 11, 4);
    let e = match size {
        1 => return unimpl("FP16 FCMLA/FCADD"),
        2 => 32,
        3 if q => 64,
        _ => return c.unallocated(),
    };
    if opcode & 0b1100 == 0b1100 && opcode & 1 == 1 {
        return c.unallocated();
    }
    let m = c.v(rm(i));
    let add = opcode & 0b1100 == 0b1100;
    complex_core(c, i, q, e, m, add, bits(i, 11, 2))
}

/// FCMLA (by element): single precision only here (index H selects the
/// complex pair of Vm used for every pair of Vn).
pub(super) fn complex_indexed(c: &mut Ctx, i: u32) -> LiftResult {
    let q = bit(i, 30);
    match bits(i, 22, 2) {
        1 => return unimpl("FP16 FCMLA (by element)"),
        2 if q && !bit(i, 21) => {}
        _ => return c.unallocated(),
    }
    let vm = c.v(rm(i));
    let pair = c.b.extract_lane(vm, 64, bits(i, 11, 1) as u8, Type::I64);
    let m = c.b.dup(pair, 64);
    complex_core(c, i, q, 32, m, false, bits(i, 13, 2))
}

fn complex_core(c: &mut Ctx, i: u32, q: bool, e: u32, m: Value, add: bool, rot: u32) -> LiftResult {
    let ty = Type::from_bytes(e / 8);
    let lanes = if q { 128 / e } else { 64 / e };
    let n = c.v(rn(i));
    let d = c.v(rd(i));
    let mut out = c.b.const128(0);
    for p in 0..lanes / 2 {
        let (re, im) = (2 * p as u8, 2 * p as u8 + 1);
        let e8 = e as u8;
        let nr = c.b.extract_lane(n, e8, re, ty);
        let ni = c.b.extract_lane(n, e8, im, ty);
        let mr = c.b.extract_lane(m, e8, re, ty);
        let mi = c.b.extract_lane(m, e8, im, ty);
        let (r0, r1) = if add {
            // FCADD #90 / #270.
            let (x, y) = if rot & 2 != 0 {
                let nmr = fneg(c, mr);
                (mi, nmr)
            } else {
                let nmi = fneg(c, mi);
                (nmi, mr)
            };
            (
                fop(c, FpOp::Add, &[nr, x], ty),
                fop(c, FpOp::Add, &[ni, y], ty),
            )
        } else {
            let (e1, e2, e3) = match rot {
                0 => (mr, nr, mi),
                1 => (fneg(c, mi), ni, mr),
                2 => (fneg(c, mr), nr, fneg(c, mi)),
                _ => (mi, ni, fneg(c, mr)),
            };
            let dr = c.b.extract_lane(d, e8, re, ty);
            let di = c.b.extract_lane(d, e8, im, ty);
            (
                fop(c, FpOp::MulAdd, &[dr, e2, e1], ty),
                fop(c, FpOp::MulAdd, &[di, e2, e3], ty),
            )
        };
        out = c.b.insert_lane(out, r0, e8, re);
        out = c.b.insert_lane(out, r1, e8, im);
    }
    c.set_vec(rd(i), out, q);
    Ok(())
}
