//! Data processing — register (op0 = x101): logical and arithmetic with a
//! shifted or extended register operand, add/subtract with carry,
//! conditional compare and select, and the 1-, 2- and 3-source groups.
//!
//! Handlers follow the Arm ARM encodings of the group. Extensions xarch does
//! not advertise (FlagM, MTE, PAuth, CSSC) are reported as
//! unimplemented by name so the guest's SIGILL carries a diagnostic.

use crate::decode::{Pattern, bit, bits};
use crate::lift::{Ctx, LiftError, LiftResult};
use crate::pat;
use crate::translate::dp_imm::{add_sub, add_sub_flags};
use xarch_ir::{Type, Value};

/// Decode table.
pub static TABLE: &[Pattern] = &[
    pat!(
        "Logical (shifted register)",
        "xxx01010xxxmmmmmiiiiiinnnnnddddd",
        logical_shifted
    ),
    pat!(
        "Add/subtract (shifted register)",
        "xxx01011xx0mmmmmiiiiiinnnnnddddd",
        add_sub_shifted
    ),
    pat!(
        "Add/subtract (extended register)",
        "xxx01011xx1mmmmmoooiiinnnnnddddd",
        add_sub_extended
    ),
    pat!(
        "ADC/ADCS/SBC/SBCS",
        "xxx11010000mmmmm000000nnnnnddddd",
        add_sub_carry
    ),
    pat!("RMIF", "xxx11010000iiiiii00001nnnnnxmmmm", rmif),
    pat!("SETF8/SETF16", "xxx11010000xxxxxxx0010nnnnnxmmmm", setf),
    pat!(
        "CCMN/CCMP (register/immediate)",
        "xxx11010010mmmmmccccxxnnnnnxffff",
        cond_compare
    ),
    pat!(
        "CSEL/CSINC/CSINV/CSNEG",
        "xxx11010100mmmmmccccxxnnnnnddddd",
        cond_select
    ),
    pat!(
        "Data-processing (2 source)",
        "x0x11010110mmmmmoooooonnnnnddddd",
        dp_2src
    ),
    pat!(
        "Data-processing (1 source)",
        "x1x11010110pppppoooooonnnnnddddd",
        dp_1src
    ),
    pat!(
        "Data-processing (3 source)",
        "xxx11011ooommmmmoaaaaannnnnddddd",
        dp_3src
    ),
];

fn rd(i: u32) -> u32 {
    bits(i, 0, 5)
}
fn rn(i: u32) -> u32 {
    bits(i, 5, 5)
}
fn rm(i: u32) -> u32 {
    bits(i, 16, 5)
}

/// Arm `ShiftReg(m, shift_type, amount)`: Wm/Xm (31 = zero register)
/// shifted by a constant.
fn shift_reg(c: &mut Ctx, sf: bool, m: u32, shift_type: u32, amount: u32) -> Value {
    let v = c.reg(sf, m);
    if amount == 0 {
        return v;
    }
    let a = c.cw(sf, amount as u64);
    match shift_type {
        0 => c.b.shl(v, a),
        1 => c.b.lshr(v, a),
        2 => c.b.ashr(v, a),
        _ => c.b.ror(v, a),
    }
}

/// Arm `ExtendReg(m, extend_type, shift)`: the low 8/16/32/64 bits of
/// Wm/Xm, zero- or sign-extended to the operation width and shifted left.
fn extend_reg(c: &mut Ctx, sf: bool, m: u32, option: u32, shift: u32) -> Value {
    let ty = Ctx::wty(sf);
    let v = c.reg(sf, m);
    let len = 8u32 << (option & 3);
    let ext = if len < ty.bits() {
        let narrow = Type::from_bytes(len / 8);
        let t = c.b.trunc(v, narrow);
        if option & 4 != 0 {
            c.b.sext(t, ty)
        } else {
            c.b.zext(t, ty)
        }
    } else {
        v
    };
    if shift == 0 {
        ext
    } else {
        let s = c.cw(sf, shift as u64);
        c.b.shl(ext, s)
    }
}

/// AND, BIC, ORR, ORN, EOR, EON, ANDS, BICS (shifted register); MOV, MVN
/// and TST are aliases.
fn logical_shifted(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let opc = bits(i, 29, 2);
    let shift = bits(i, 22, 2);
    let invert = bit(i, 21);
    let imm6 = bits(i, 10, 6);
    if !sf && imm6 >= 32 {
        return c.unallocated();
    }
    let op1 = c.reg(sf, rn(i));
    let mut op2 = shift_reg(c, sf, rm(i), shift, imm6);
    if invert {
        op2 = c.b.not(op2);
    }
    let r = match opc {
        0 | 3 => c.b.and(op1, op2),
        1 => c.b.or(op1, op2),
        _ => c.b.xor(op1, op2),
    };
    if opc == 3 {
        let f = c.b.logic_flags(r);
        c.set_nzcv(f);
    }
    c.set_x(rd(i), r);
    Ok(())
}

/// ADD, ADDS, SUB, SUBS (shifted register); CMP, CMN, NEG, NEGS are
/// aliases. Register 31 is the zero register everywhere.
fn add_sub_shifted(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let sub = bit(i, 30);
    let s = bit(i, 29);
    let shift = bits(i, 22, 2);
    let imm6 = bits(i, 10, 6);
    if shift == 3 || (!sf && imm6 >= 32) {
        return c.unallocated();
    }
    let a = c.reg(sf, rn(i));
    let b = shift_reg(c, sf, rm(i), shift, imm6);
    let r = add_sub(c, a, b, sub, s);
    c.set_x(rd(i), r);
    Ok(())
}

/// ADD, ADDS, SUB, SUBS (extended register). Rn is SP for 31, and so is Rd
/// unless the flags are set.
fn add_sub_extended(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let sub = bit(i, 30);
    let s = bit(i, 29);
    let opt = bits(i, 22, 2);
    let option = bits(i, 13, 3);
    let imm3 = bits(i, 10, 3);
    if opt != 0 || imm3 > 4 {
        return c.unallocated();
    }
    let a = c.reg_sp(sf, rn(i));
    let b = extend_reg(c, sf, rm(i), option, imm3);
    let r = add_sub(c, a, b, sub, s);
    if s {
        c.set_x(rd(i), r);
    } else {
        c.set_xsp(rd(i), r);
    }
    Ok(())
}

/// PSTATE.C as an `I1`.
fn carry_flag(c: &mut Ctx) -> Value {
    let f = c.nzcv();
    let sh = c.c64(29);
    let f = c.b.lshr(f, sh);
    c.b.trunc(f, Type::I1)
}

/// ADC, ADCS, SBC, SBCS; NGC and NGCS are aliases (Rn = 31).
fn add_sub_carry(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let sub = bit(i, 30);
    let s = bit(i, 29);
    let a = c.reg(sf, rn(i));
    let mut b = c.reg(sf, rm(i));
    if sub {
        b = c.b.not(b);
    }
    let carry = carry_flag(c);
    let sum = c.b.add(a, b);
    let cw = c.b.zext(carry, Ctx::wty(sf));
    let r = c.b.add(sum, cw);
    if s {
        let f = c.b.add_flags(a, b, carry);
        c.set_nzcv(f);
    }
    c.set_x(rd(i), r);
    Ok(())
}

/// RMIF (FEAT_FlagM, not advertised).
fn rmif(c: &mut Ctx, i: u32) -> LiftResult {
    // sf=1 op=0 S=1 and o2=0: anything else is unallocated.
    if bits(i, 29, 3) != 0b101 || bit(i, 4) {
        return c.unallocated();
    }
    Err(LiftError::Unimplemented("RMIF"))
}

/// SETF8, SETF16 (FEAT_FlagM, not advertised).
fn setf(c: &mut Ctx, i: u32) -> LiftResult {
    // sf=0 op=0 S=1 opcode2=000000 o3=0 mask=1101.
    if bits(i, 29, 3) != 0b001 || bits(i, 15, 6) != 0 || bits(i, 0, 5) != 0b01101 {
        return c.unallocated();
    }
    Err(LiftError::Unimplemented("SETF8/SETF16"))
}

/// CCMN, CCMP (register and immediate): the flags of the comparison if the
/// condition holds, else the immediate NZCV.
fn cond_compare(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let sub = bit(i, 30);
    let s = bit(i, 29);
    let imm_form = bit(i, 11);
    let o2 = bit(i, 10);
    let o3 = bit(i, 4);
    if !s || o2 || o3 {
        return c.unallocated();
    }
    let cond = bits(i, 12, 4);
    let nzcv = bits(i, 0, 4) as u64;
    let a = c.reg(sf, rn(i));
    let b = if imm_form {
        c.cw(sf, rm(i) as u64)
    } else {
        c.reg(sf, rm(i))
    };
    let holds = c.cond(cond);
    let flags = add_sub_flags(c, a, b, sub);
    let imm = c.c64(nzcv << 28);
    let f = c.b.select(holds, flags, imm);
    c.set_nzcv(f);
    Ok(())
}

/// CSEL, CSINC, CSINV, CSNEG; CSET, CSETM, CINC, CINV, CNEG are aliases.
fn cond_select(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let op = bit(i, 30);
    let s = bit(i, 29);
    let op2 = bits(i, 10, 2);
    if s || op2 >= 2 {
        return c.unallocated();
    }
    let cond = bits(i, 12, 4);
    let a = c.reg(sf, rn(i));
    let b = c.reg(sf, rm(i));
    let b = match (op, op2) {
        (false, 0) => b,
        (false, _) => {
            let one = c.cw(sf, 1);
            c.b.add(b, one)
        }
        (true, 0) => c.b.not(b),
        (true, _) => c.b.neg(b),
    };
    let holds = c.cond(cond);
    let r = c.b.select(holds, a, b);
    c.set_x(rd(i), r);
    Ok(())
}

/// Data-processing (2 source): UDIV, SDIV, LSLV, LSRV, ASRV, RORV.
fn dp_2src(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let s = bit(i, 29);
    let opcode = bits(i, 10, 6);
    if s {
        return if sf && opcode == 0 {
            Err(LiftError::Unimplemented("SUBPS"))
        } else {
            c.unallocated()
        };
    }
    let a = c.reg(sf, rn(i));
    let b = c.reg(sf, rm(i));
    let r = match opcode {
        0b000010 => c.b.udiv(a, b),
        0b000011 => c.b.sdiv(a, b),
        // The IR shifts take the amount modulo the width, as Arm's
        // ShiftReg(n, type, UInt(Rm) MOD datasize) does.
        0b001000 => c.b.shl(a, b),
        0b001001 => c.b.lshr(a, b),
        0b001010 => c.b.ashr(a, b),
        0b001011 => c.b.ror(a, b),
        0b000000 if sf => return Err(LiftError::Unimplemented("SUBP")),
        0b000100 if sf => return Err(LiftError::Unimplemented("IRG")),
        0b000101 if sf => return Err(LiftError::Unimplemented("GMI")),
        0b001100 if sf => return Err(LiftError::Unimplemented("PACGA")),
        // CRC32B/H/W/X, CRC32CB/H/W/X: the X forms need sf=1, the others sf=0.
        0b010000..=0b010111 if (opcode & 3 == 3) == sf => {
            let acc = c.reg(false, rn(i));
            let acc = c.b.zext(acc, Type::I64);
            let data = c.x(rm(i));
            let sel = c.c64((opcode & 7) as u64);
            let r =
                c.b.call(&crate::helpers::CRC32, &[acc, data, sel], Type::I64);
            let r = c.b.trunc(r, Type::I32);
            c.set_x(rd(i), r);
            return Ok(());
        }
        0b011000..=0b011011 => {
            return Err(LiftError::Unimplemented("SMAX/UMAX/SMIN/UMIN (register)"));
        }
        _ => return c.unallocated(),
    };
    c.set_x(rd(i), r);
    Ok(())
}

/// `x` with the bytes of each 16-bit halfword swapped (REV16).
fn rev16(c: &mut Ctx, sf: bool, x: Value) -> Value {
    let eight = c.cw(sf, 8);
    let lo = c.cw(sf, 0x00ff_00ff_00ff_00ff);
    let hi = c.cw(sf, 0xff00_ff00_ff00_ff00);
    let down = c.b.lshr(x, eight);
    let down = c.b.and(down, lo);
    let up = c.b.shl(x, eight);
    let up = c.b.and(up, hi);
    c.b.or(down, up)
}

/// Data-processing (1 source): RBIT, REV16, REV32, REV, CLZ, CLS.
fn dp_1src(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let s = bit(i, 29);
    let opcode2 = bits(i, 16, 5);
    let opcode = bits(i, 10, 6);
    if s {
        return c.unallocated();
    }
    match opcode2 {
        0 => {}
        // PACIA..XPACD and the other pointer-authentication forms.
        1 if sf && opcode <= 0b010001 => {
            return Err(LiftError::Unimplemented("PAC/AUT/XPAC"));
        }
        _ => return c.unallocated(),
    }
    let x = c.reg(sf, rn(i));
    let r = match (opcode, sf) {
        (0b000000, _) => c.b.rbit(x),
        (0b000001, _) => rev16(c, sf, x),
        (0b000010, false) | (0b000011, true) => c.b.bswap(x),
        (0b000010, true) => {
            // REV32: bytes reversed within each word.
            let sw = c.b.bswap(x);
            let k = c.c64(32);
            c.b.ror(sw, k)
        }
        (0b000100, _) => c.b.clz(x),
        (0b000101, _) => c.b.cls(x),
        (0b000110..=0b001000, _) => return Err(LiftError::Unimplemented("CTZ/CNT/ABS")),
        _ => return c.unallocated(),
    };
    c.set_x(rd(i), r);
    Ok(())
}

/// Data-processing (3 source): MADD, MSUB, SMADDL, SMSUBL, UMADDL, UMSUBL,
/// SMULH, UMULH; MUL, MNEG, SMULL, UMULL etc. are aliases (Ra = 31).
fn dp_3src(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let op54 = bits(i, 29, 2);
    let op31 = bits(i, 21, 3);
    let o0 = bit(i, 15);
    let ra = bits(i, 10, 5);
    if op54 != 0 || (!sf && op31 != 0) {
        return c.unallocated();
    }
    let r = match (op31, o0) {
        (0b000, _) => {
            let n = c.reg(sf, rn(i));
            let m = c.reg(sf, rm(i));
            let acc = c.reg(sf, ra);
            let p = c.b.mul(n, m);
            if o0 { c.b.sub(acc, p) } else { c.b.add(acc, p) }
        }
        (0b001 | 0b101, _) => {
            let signed = op31 == 0b001;
            let n = c.reg(false, rn(i));
            let m = c.reg(false, rm(i));
            let (n, m) = if signed {
                (c.b.sext(n, Type::I64), c.b.sext(m, Type::I64))
            } else {
                (c.b.zext(n, Type::I64), c.b.zext(m, Type::I64))
            };
            let acc = c.x(ra);
            let p = c.b.mul(n, m);
            if o0 { c.b.sub(acc, p) } else { c.b.add(acc, p) }
        }
        // Ra must be 11111; like QEMU, treat other values as unallocated
        // (a CONSTRAINED UNPREDICTABLE choice the architecture allows).
        (0b010 | 0b110, false) if ra == 31 => {
            let n = c.x(rn(i));
            let m = c.x(rm(i));
            if op31 == 0b010 {
                c.b.smulhi(n, m)
            } else {
                c.b.umulhi(n, m)
            }
        }
        _ => return c.unallocated(),
    };
    c.set_x(rd(i), r);
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Expected values were produced by running each instruction under
    //! qemu-aarch64 (instruction words from aarch64-linux-gnu-as), not by
    //! this lifter.

    use crate::lift::{Ctx, LiftError, translate_insn};
    use crate::state::A64State;
    use crate::testing::run;
    use xarch_ir::{Builder, ExitReason};

    /// Executes `insn` with X`r` = `v` for each `(r, v)` in `regs` (31 is
    /// SP) and flags `nzcv` (NZCV as a 4-bit number).
    fn exec(insn: u32, regs: &[(u32, u64)], nzcv: u64) -> A64State {
        let mut s = A64State::default();
        for &(r, v) in regs {
            if r == 31 {
                s.sp = v;
            } else {
                s.x[r as usize] = v;
            }
        }
        s.nzcv = nzcv << 28;
        let exit = run(&mut s, &[insn]);
        assert_eq!(exit, None, "instruction {insn:#010x} did not execute");
        s
    }

    /// Executes `insn` and checks X0 and the flags afterwards.
    #[track_caller]
    fn t(insn: u32, regs: &[(u32, u64)], nzcv: u64, x0: u64, nzcv_out: u64) -> A64State {
        let s = exec(insn, regs, nzcv);
        assert_eq!(
            (s.x[0], s.nzcv >> 28),
            (x0, nzcv_out),
            "insn {insn:#010x}: (x0, nzcv)"
        );
        s
    }

    fn lift_err(insn: u32) -> Result<(), LiftError> {
        let mut c = Ctx {
            b: Builder::new(),
            pc: 0x1000,
            term: None,
        };
        translate_insn(&mut c, insn)
    }

    /// AND/BIC/ORR/ORN/EOR/EON/ANDS/BICS with every shift; MOV, MVN, TST.
    #[test]
    #[rustfmt::skip]
    fn logical_shifted() {
        t(0x8a021020, &[(1, 0xff00ff00ff00ff00), (2, 0x123456789abcdef)], 0x0, 0x120056009a00de00, 0x0); // and x0, x1, x2, lsl #4
        t(0x0ac22020, &[(1, 0xffffffffffffffff), (2, 0xaaaaaaaa12345678)], 0x0, 0x78123456, 0x0); // and w0, w1, w2, ror #8
        t(0x8a62f020, &[(1, 0xffffffffffffffff), (2, 0xa000000000000000)], 0x0, 0xfffffffffffffff5, 0x0); // bic x0, x1, x2, lsr #60
        t(0xaa821020, &[(1, 0x1), (2, 0x8000000000000000)], 0x0, 0xf800000000000001, 0x0); // orr x0, x1, x2, asr #4
        t(0x2a827c20, &[(1, 0x1234), (2, 0x80000000)], 0x0, 0xffffffff, 0x0); // orr w0, w1, w2, asr #31
        t(0x2a220020, &[(1, 0xffffffff00000001), (2, 0xf0f0f0f)], 0x0, 0xf0f0f0f1, 0x0); // orn w0, w1, w2
        t(0xaae2fc20, &[(1, 0x0), (2, 0x8000000000000001)], 0x0, 0xfffffffffffffffc, 0x0); // orn x0, x1, x2, ror #63
        t(0xca02fc20, &[(1, 0x5555), (2, 0x3)], 0x0, 0x8000000000005555, 0x0); // eor x0, x1, x2, lsl #63
        t(0x4a620420, &[(1, 0x12345678), (2, 0xfffffffe)], 0x0, 0x92345678, 0x0); // eon w0, w1, w2, lsr #1
        t(0xea020020, &[(1, 0xf0), (2, 0xf)], 0x3, 0x0, 0x4); // ands x0, x1, x2
        t(0x6a020020, &[(1, 0x80000001), (2, 0xffffffff80000000)], 0x3, 0x80000000, 0x8); // ands w0, w1, w2
        t(0xea020420, &[(1, 0x8000000000000000), (2, 0x4000000000000000)], 0x0, 0x8000000000000000, 0x8); // ands x0, x1, x2, lsl #1
        t(0xeaa20c20, &[(1, 0xffffffffffffffff), (2, 0x8000000000000000)], 0x2, 0xfffffffffffffff, 0x0); // bics x0, x1, x2, asr #3
        t(0x6a227c20, &[(1, 0x80000000), (2, 0x1)], 0x1, 0x0, 0x4); // bics w0, w1, w2, lsl #31
        t(0xaa0103e0, &[(1, 0x123456789)], 0x0, 0x123456789, 0x0); // mov x0, x1
        t(0x2a2103e0, &[(1, 0xffffffff0000ffff)], 0x0, 0xffff0000, 0x0); // mvn w0, w1
        t(0xea02003f, &[(0, 0x55), (1, 0x8000000000000000), (2, 0x8000000000000000)], 0x0, 0x55, 0x8); // tst x1, x2
    }

    /// ADD/ADDS/SUB/SUBS (shifted register) with flags; CMP, CMN, NEG(S); XZR operands.
    #[test]
    #[rustfmt::skip]
    fn add_sub_shifted() {
        t(0x8b023020, &[(1, 0x10), (2, 0x3)], 0x0, 0x3010, 0x0); // add x0, x1, x2, lsl #12
        t(0x0b420c20, &[(1, 0xffffffff00000010), (2, 0xffffffff000000f0)], 0x0, 0x2e, 0x0); // add w0, w1, w2, lsr #3
        t(0xcb820820, &[(1, 0x0), (2, 0x8000000000000000)], 0x0, 0x2000000000000000, 0x0); // sub x0, x1, x2, asr #2
        t(0x8b02fc20, &[(1, 0x1), (2, 0x3)], 0x0, 0x8000000000000001, 0x0); // add x0, x1, x2, lsl #63
        t(0xab020020, &[(1, 0x7fffffffffffffff), (2, 0x1)], 0x0, 0x8000000000000000, 0x9); // adds x0, x1, x2
        t(0x2b020020, &[(1, 0x12ffffffff), (2, 0x1)], 0x0, 0x0, 0x6); // adds w0, w1, w2
        t(0xab020020, &[(1, 0x8000000000000000), (2, 0x8000000000000000)], 0x0, 0x0, 0x7); // adds x0, x1, x2
        t(0xeb020020, &[(1, 0x1), (2, 0x2)], 0x0, 0xffffffffffffffff, 0x8); // subs x0, x1, x2
        t(0x6b027c20, &[(1, 0x0), (2, 0x1)], 0x0, 0x80000000, 0x9); // subs w0, w1, w2, lsl #31
        t(0x6b020020, &[(1, 0x80000000), (2, 0x1)], 0x0, 0x7fffffff, 0x3); // subs w0, w1, w2
        t(0xeb02003f, &[(0, 0x77), (1, 0x1234), (2, 0x1234)], 0x0, 0x77, 0x6); // cmp x1, x2
        t(0x2b02003f, &[(0, 0x77), (1, 0xffffffff), (2, 0x1)], 0x0, 0x77, 0x6); // cmn w1, w2
        t(0xcb0207e0, &[(2, 0x3)], 0x0, 0xfffffffffffffffa, 0x0); // neg x0, x2, lsl #1
        t(0x6b0203e0, &[(2, 0x0)], 0x0, 0x0, 0x6); // negs w0, w2
        t(0x8b0203e0, &[(2, 0x42), (31, 0x1000)], 0x0, 0x42, 0x0); // add x0, xzr, x2
        t(0xab82fc20, &[(1, 0x5), (2, 0x8000000000000000)], 0x0, 0x4, 0x2); // adds x0, x1, x2, asr #63
    }

    /// ADD/ADDS/SUB/SUBS (extended register): every extend, shifts 0-4, SP as Rn and Rd.
    #[test]
    #[rustfmt::skip]
    fn add_sub_extended() {
        t(0x8b220820, &[(1, 0x1000), (2, 0xfffffffffffffff1)], 0x0, 0x13c4, 0x0); // add x0, x1, w2, uxtb #2
        t(0x8b222020, &[(1, 0x1000), (2, 0xffffffffffff8001)], 0x0, 0x9001, 0x0); // add x0, x1, w2, uxth
        t(0x8b225020, &[(1, 0x1), (2, 0xffffffff80000000)], 0x0, 0x800000001, 0x0); // add x0, x1, w2, uxtw #4
        t(0x8b226420, &[(1, 0x1), (2, 0x8000000000000001)], 0x0, 0x3, 0x0); // add x0, x1, x2, uxtx #1
        t(0x8b228c20, &[(1, 0x1000), (2, 0x80)], 0x0, 0xc00, 0x0); // add x0, x1, w2, sxtb #3
        t(0x8b22a020, &[(1, 0x0), (2, 0x18000)], 0x0, 0xffffffffffff8000, 0x0); // add x0, x1, w2, sxth
        t(0xcb22d020, &[(1, 0x0), (2, 0x80000000)], 0x0, 0x800000000, 0x0); // sub x0, x1, w2, sxtw #4
        t(0x8b22e820, &[(1, 0x1), (2, 0x4000000000000001)], 0x0, 0x5, 0x0); // add x0, x1, x2, sxtx #2
        t(0x0b228020, &[(1, 0xffffffff00000000), (2, 0xff)], 0x0, 0xffffffff, 0x0); // add w0, w1, w2, sxtb
        t(0x0b223020, &[(1, 0x1), (2, 0xffff0001)], 0x0, 0x11, 0x0); // add w0, w1, w2, uxth #4
        t(0x0b22c420, &[(1, 0x0), (2, 0x80000001)], 0x0, 0x2, 0x0); // add w0, w1, w2, sxtw #1
        t(0xab224020, &[(1, 0xffffffff00000000), (2, 0xffffffff)], 0x0, 0xffffffffffffffff, 0x8); // adds x0, x1, w2, uxtw
        t(0xab22c020, &[(1, 0x1), (2, 0xffffffff)], 0x0, 0x0, 0x6); // adds x0, x1, w2, sxtw
        t(0x6b222020, &[(1, 0x10000), (2, 0x10000)], 0x0, 0x10000, 0x2); // subs w0, w1, w2, uxth
        t(0xeb229020, &[(1, 0x7ffffffffffffff0), (2, 0xff)], 0x0, 0x8000000000000000, 0x9); // subs x0, x1, w2, sxtb #4
        t(0x8b3f0020, &[(1, 0x123)], 0x0, 0x123, 0x0); // add x0, x1, wzr, uxtb
        t(0x8b2263e0, &[(31, 0x10000), (2, 0x5)], 0x0, 0x10005, 0x0); // add x0, sp, x2
        t(0x0b2243e0, &[(31, 0x1ffff0000), (2, 0x20)], 0x0, 0xffff0020, 0x0); // add w0, wsp, w2
        t(0xcb22cbe0, &[(31, 0x10000), (2, 0xffffffff)], 0x0, 0x10004, 0x0); // sub x0, sp, w2, sxtw #2
        t(0x8b22603f, &[(1, 0x10000), (2, 0x30)], 0x0, 0x0, 0x0); // add sp, x1, x2
        t(0x4b22003f, &[(1, 0x1230010), (2, 0x10), (31, 0xffffffffffffffff)], 0x0, 0x0, 0x0); // sub wsp, w1, w2, uxtb
        t(0xeb2263ff, &[(0, 0x9), (31, 0x10000), (2, 0x10000)], 0x0, 0x9, 0x6); // cmp sp, x2
        t(0xab2267e0, &[(31, 0x8000), (2, 0x8000)], 0x0, 0x18000, 0x0); // adds x0, sp, x2, uxtx #1
    }

    /// ADC/ADCS/SBC/SBCS and NGC/NGCS with carry in set and clear.
    #[test]
    #[rustfmt::skip]
    fn add_sub_carry() {
        t(0x9a020020, &[(1, 0x10), (2, 0x20)], 0x2, 0x31, 0x2); // adc x0, x1, x2
        t(0x1a020020, &[(1, 0xffffffff), (2, 0x1)], 0xd, 0x0, 0xd); // adc w0, w1, w2
        t(0xba020020, &[(1, 0xffffffffffffffff), (2, 0x0)], 0x2, 0x0, 0x6); // adcs x0, x1, x2
        t(0x3a020020, &[(1, 0x7fffffff), (2, 0x0)], 0x2, 0x80000000, 0x9); // adcs w0, w1, w2
        t(0xba020020, &[(1, 0x8000000000000000), (2, 0x7fffffffffffffff)], 0x0, 0xffffffffffffffff, 0x8); // adcs x0, x1, x2
        t(0xda020020, &[(1, 0x10), (2, 0x3)], 0x0, 0xc, 0x0); // sbc x0, x1, x2
        t(0x5a020020, &[(1, 0x10), (2, 0x3)], 0x2, 0xd, 0x2); // sbc w0, w1, w2
        t(0x7a020020, &[(1, 0x1234), (2, 0x1234)], 0x2, 0x0, 0x6); // sbcs w0, w1, w2
        t(0xfa020020, &[(1, 0x1234), (2, 0x1234)], 0x0, 0xffffffffffffffff, 0x8); // sbcs x0, x1, x2
        t(0x7a020020, &[(1, 0x80000000), (2, 0x0)], 0x0, 0x7fffffff, 0x3); // sbcs w0, w1, w2
        t(0xda0203e0, &[(2, 0x5)], 0x2, 0xfffffffffffffffb, 0x2); // ngc x0, x2
        t(0x7a0203e0, &[(2, 0x0)], 0x0, 0xffffffff, 0x8); // ngcs w0, w2
        t(0x7a0203e0, &[(2, 0x0)], 0x2, 0x0, 0x6); // ngcs w0, w2
    }

    /// CCMP/CCMN (register and immediate), condition holding and not.
    #[test]
    #[rustfmt::skip]
    fn cond_compare() {
        t(0xfa420025, &[(0, 0x77), (1, 0x10), (2, 0x3)], 0x4, 0x77, 0x2); // ccmp x1, x2, #5, eq
        t(0xfa421025, &[(0, 0x77), (1, 0x10), (2, 0x3)], 0x4, 0x77, 0x5); // ccmp x1, x2, #5, ne
        t(0xfa42102a, &[(0, 0x77), (1, 0x8000000000000000), (2, 0x1)], 0x0, 0x77, 0x3); // ccmp x1, x2, #0xa, ne
        t(0x7a5fb822, &[(0, 0x77), (1, 0x1f)], 0x8, 0x77, 0x6); // ccmp w1, #31, #2, lt
        t(0x7a5fa822, &[(0, 0x77), (1, 0x1f)], 0x8, 0x77, 0x2); // ccmp w1, #31, #2, ge
        t(0xfa418820, &[(0, 0x77), (1, 0x0)], 0x2, 0x77, 0x8); // ccmp x1, #1, #0, hi
        t(0x3a422020, &[(0, 0x77), (1, 0xffffffffffffffff), (2, 0x1)], 0x2, 0x77, 0x6); // ccmn w1, w2, #0, cs
        t(0xba45e82f, &[(0, 0x77), (1, 0xfffffffffffffffb)], 0x0, 0x77, 0x6); // ccmn x1, #5, #0xf, al
        t(0xba42702f, &[(0, 0x77), (1, 0x7fffffffffffffff), (2, 0x1)], 0x1, 0x77, 0xf); // ccmn x1, x2, #0xf, vc
        t(0x3a41c823, &[(0, 0x77), (1, 0x7fffffff)], 0x0, 0x77, 0x9); // ccmn w1, #1, #0x3, gt
        t(0x7a42d020, &[(0, 0x77), (1, 0x1), (2, 0x2)], 0x4, 0x77, 0x8); // ccmp w1, w2, #0, le
    }

    /// CSEL/CSINC/CSINV/CSNEG and CSET/CSETM/CINC/CNEG/CINV.
    #[test]
    #[rustfmt::skip]
    fn cond_select() {
        t(0x9a820020, &[(1, 0x11), (2, 0x22)], 0x4, 0x11, 0x4); // csel x0, x1, x2, eq
        t(0x9a820020, &[(1, 0x11), (2, 0x22)], 0x0, 0x22, 0x0); // csel x0, x1, x2, eq
        t(0x1a824020, &[(1, 0xffffffff00000011), (2, 0x22)], 0x8, 0x11, 0x8); // csel w0, w1, w2, mi
        t(0x1a821420, &[(1, 0x11), (2, 0xffffffff)], 0x4, 0x0, 0x4); // csinc w0, w1, w2, ne
        t(0x9a821420, &[(1, 0x11), (2, 0xffffffff)], 0x4, 0x100000000, 0x4); // csinc x0, x1, x2, ne
        t(0xda82a020, &[(1, 0x11), (2, 0x22)], 0x8, 0xffffffffffffffdd, 0x8); // csinv x0, x1, x2, ge
        t(0x5a82a020, &[(1, 0x11), (2, 0x22)], 0x9, 0x11, 0x9); // csinv w0, w1, w2, ge
        t(0x5a82b420, &[(1, 0x11), (2, 0x22)], 0x0, 0xffffffde, 0x0); // csneg w0, w1, w2, lt
        t(0xda82b420, &[(1, 0x11), (2, 0x22)], 0x0, 0xffffffffffffffde, 0x0); // csneg x0, x1, x2, lt
        t(0x9a9f97e0, &[], 0x2, 0x1, 0x2); // cset x0, hi
        t(0x9a9f97e0, &[], 0x6, 0x0, 0x6); // cset x0, hi
        t(0x5a9f23e0, &[], 0x0, 0xffffffff, 0x0); // csetm w0, cc
        t(0x9a815420, &[(1, 0x7)], 0x8, 0x8, 0x8); // cinc x0, x1, mi
        t(0xda817420, &[(1, 0x7)], 0x1, 0xfffffffffffffff9, 0x1); // cneg x0, x1, vs
        t(0x5a814020, &[(1, 0x7)], 0x0, 0xfffffff8, 0x0); // cinv w0, w1, pl
        t(0x9a82d020, &[(1, 0x11), (2, 0x22)], 0x8, 0x11, 0x8); // csel x0, x1, x2, le
        t(0x9a82c020, &[(1, 0x11), (2, 0x22)], 0x9, 0x11, 0x9); // csel x0, x1, x2, gt
        t(0x9a829020, &[(1, 0x11), (2, 0x22)], 0x2, 0x22, 0x2); // csel x0, x1, x2, ls
    }

    /// RBIT, REV16, REV, REV32, CLZ, CLS in both widths.
    #[test]
    #[rustfmt::skip]
    fn dp_1src() {
        t(0xdac00020, &[(1, 0x1)], 0x0, 0x8000000000000000, 0x0); // rbit x0, x1
        t(0x5ac00020, &[(1, 0xffffffff00000003)], 0x0, 0xc0000000, 0x0); // rbit w0, w1
        t(0xdac00420, &[(1, 0x123456789abcdef)], 0x0, 0x23016745ab89efcd, 0x0); // rev16 x0, x1
        t(0x5ac00420, &[(1, 0xffffffff89abcdef)], 0x0, 0xab89efcd, 0x0); // rev16 w0, w1
        t(0x5ac00820, &[(1, 0xffffffff12345678)], 0x0, 0x78563412, 0x0); // rev w0, w1
        t(0xdac00c20, &[(1, 0x123456789abcdef)], 0x0, 0xefcdab8967452301, 0x0); // rev x0, x1
        t(0xdac00820, &[(1, 0x123456789abcdef)], 0x0, 0x67452301efcdab89, 0x0); // rev32 x0, x1
        t(0xdac01020, &[(1, 0x0)], 0x0, 0x40, 0x0); // clz x0, x1
        t(0xdac01020, &[(1, 0xf0000000000000)], 0x0, 0x8, 0x0); // clz x0, x1
        t(0x5ac01020, &[(1, 0x100000000)], 0x0, 0x20, 0x0); // clz w0, w1
        t(0x5ac01020, &[(1, 0x8000)], 0x0, 0x10, 0x0); // clz w0, w1
        t(0xdac01420, &[(1, 0xff00000000000000)], 0x0, 0x7, 0x0); // cls x0, x1
        t(0xdac01420, &[(1, 0xffffffffffffffff)], 0x0, 0x3f, 0x0); // cls x0, x1
        t(0x5ac01420, &[(1, 0xffffffff00000000)], 0x0, 0x1f, 0x0); // cls w0, w1
        t(0x5ac01420, &[(1, 0xffff)], 0x0, 0xf, 0x0); // cls w0, w1
        t(0xdac01420, &[(1, 0x1)], 0x0, 0x3e, 0x0); // cls x0, x1
    }

    /// UDIV/SDIV (x/0, MIN/-1), LSLV/LSRV/ASRV/RORV (amount modulo width).
    #[test]
    #[rustfmt::skip]
    fn dp_2src() {
        t(0x9ac20820, &[(1, 0xffffffffffffffff), (2, 0x10)], 0x0, 0xfffffffffffffff, 0x0); // udiv x0, x1, x2
        t(0x1ac20820, &[(1, 0x100000064), (2, 0x100000007)], 0x0, 0xe, 0x0); // udiv w0, w1, w2
        t(0x9ac20820, &[(1, 0x1234), (2, 0x0)], 0x0, 0x0, 0x0); // udiv x0, x1, x2
        t(0x9ac20c20, &[(1, 0xfffffffffffffff9), (2, 0x2)], 0x0, 0xfffffffffffffffd, 0x0); // sdiv x0, x1, x2
        t(0x9ac20c20, &[(1, 0x8000000000000000), (2, 0xffffffffffffffff)], 0x0, 0x8000000000000000, 0x0); // sdiv x0, x1, x2
        t(0x1ac20c20, &[(1, 0x80000000), (2, 0xffffffff)], 0x0, 0x80000000, 0x0); // sdiv w0, w1, w2
        t(0x1ac20c20, &[(1, 0x7), (2, 0x0)], 0x0, 0x0, 0x0); // sdiv w0, w1, w2
        t(0x1ac20c20, &[(1, 0xfffffff9), (2, 0x2)], 0x0, 0xfffffffd, 0x0); // sdiv w0, w1, w2
        t(0x9ac22020, &[(1, 0x3), (2, 0x41)], 0x0, 0x6, 0x0); // lsl x0, x1, x2
        t(0x1ac22020, &[(1, 0x3), (2, 0x21)], 0x0, 0x6, 0x0); // lsl w0, w1, w2
        t(0x1ac22020, &[(1, 0x3), (2, 0x1f)], 0x0, 0x80000000, 0x0); // lsl w0, w1, w2
        t(0x9ac22420, &[(1, 0x8000000000000000), (2, 0x3f)], 0x0, 0x1, 0x0); // lsr x0, x1, x2
        t(0x1ac22420, &[(1, 0xf0000000f0000000), (2, 0x24)], 0x0, 0xf000000, 0x0); // lsr w0, w1, w2
        t(0x9ac22820, &[(1, 0x8000000000000000), (2, 0x4)], 0x0, 0xf800000000000000, 0x0); // asr x0, x1, x2
        t(0x1ac22820, &[(1, 0x80000000), (2, 0x4)], 0x0, 0xf8000000, 0x0); // asr w0, w1, w2
        t(0x1ac22820, &[(1, 0x80000000), (2, 0x20)], 0x0, 0x80000000, 0x0); // asr w0, w1, w2
        t(0x9ac22c20, &[(1, 0x1), (2, 0x1)], 0x0, 0x8000000000000000, 0x0); // ror x0, x1, x2
        t(0x1ac22c20, &[(1, 0xffffffff00000001), (2, 0x1)], 0x0, 0x80000000, 0x0); // ror w0, w1, w2
        t(0x1ac22c20, &[(1, 0x12345678), (2, 0x28)], 0x0, 0x78123456, 0x0); // ror w0, w1, w2
    }

    /// MADD/MSUB, S/UMADDL, S/UMSUBL, S/UMULH and their aliases.
    #[test]
    #[rustfmt::skip]
    fn dp_3src() {
        t(0x9b020c20, &[(1, 0x100000001), (2, 0x100000001), (3, 0x5)], 0x0, 0x200000006, 0x0); // madd x0, x1, x2, x3
        t(0x1b020c20, &[(1, 0xffffffff00010001), (2, 0x10001), (3, 0x1)], 0x0, 0x20002, 0x0); // madd w0, w1, w2, w3
        t(0x9b028c20, &[(1, 0x3), (2, 0x4), (3, 0x5)], 0x0, 0xfffffffffffffff9, 0x0); // msub x0, x1, x2, x3
        t(0x1b028c20, &[(1, 0x3), (2, 0x4), (3, 0x5)], 0x0, 0xfffffff9, 0x0); // msub w0, w1, w2, w3
        t(0x9b027c20, &[(1, 0xffffffffffffffff), (2, 0x7)], 0x0, 0xfffffffffffffff9, 0x0); // mul x0, x1, x2
        t(0x9b02fc20, &[(1, 0x3), (2, 0x4)], 0x0, 0xfffffffffffffff4, 0x0); // mneg x0, x1, x2
        t(0x9b220c20, &[(1, 0xabcdabcdfffffffe), (2, 0x3), (3, 0x10)], 0x0, 0xa, 0x0); // smaddl x0, w1, w2, x3
        t(0x9b228c20, &[(1, 0x80000000), (2, 0x80000000), (3, 0x0)], 0x0, 0xc000000000000000, 0x0); // smsubl x0, w1, w2, x3
        t(0x9ba20c20, &[(1, 0xffffffff), (2, 0xffffffff), (3, 0x1)], 0x0, 0xfffffffe00000002, 0x0); // umaddl x0, w1, w2, x3
        t(0x9ba28c20, &[(1, 0x1fffffffe), (2, 0x2), (3, 0x0)], 0x0, 0xfffffffe00000004, 0x0); // umsubl x0, w1, w2, x3
        t(0x9b227c20, &[(1, 0xffffffff), (2, 0x7fffffff)], 0x0, 0xffffffff80000001, 0x0); // smull x0, w1, w2
        t(0x9ba27c20, &[(1, 0xffffffff), (2, 0x7fffffff)], 0x0, 0x7ffffffe80000001, 0x0); // umull x0, w1, w2
        t(0x9b427c20, &[(1, 0xffffffffffffffff), (2, 0x10)], 0x0, 0xffffffffffffffff, 0x0); // smulh x0, x1, x2
        t(0x9b427c20, &[(1, 0x8000000000000000), (2, 0x8000000000000000)], 0x0, 0x4000000000000000, 0x0); // smulh x0, x1, x2
        t(0x9bc27c20, &[(1, 0xffffffffffffffff), (2, 0xffffffffffffffff)], 0x0, 0xfffffffffffffffe, 0x0); // umulh x0, x1, x2
        t(0x9bc27c20, &[(1, 0x123456789abcdef0), (2, 0x10)], 0x0, 0x1, 0x0); // umulh x0, x1, x2
    }

    /// Register 31: SP as Rn/Rd of the extended form, XZR in the shifted
    /// form and as the flag-setting destination.
    #[test]
    fn register_31() {
        // add sp, x1, x2 (extended form, Rd = SP)
        let s = t(0x8b22603f, &[(1, 0x10000), (2, 0x30)], 0x0, 0x0, 0x0);
        assert_eq!(s.sp, 0x10030);
        // sub wsp, w1, w2, uxtb: the W result is zero-extended into SP
        let s = t(
            0x4b22003f,
            &[(1, 0x1230010), (2, 0x10), (31, 0xffffffffffffffff)],
            0x0,
            0x0,
            0x0,
        );
        assert_eq!(s.sp, 0x1230000);
        // cmp sp, x2 (subs xzr, sp, x2): SP unchanged
        let s = t(
            0xeb2263ff,
            &[(0, 0x9), (31, 0x10000), (2, 0x10000)],
            0x0,
            0x9,
            0x6,
        );
        assert_eq!(s.sp, 0x10000);
        // subs xzr, x1, x2 (shifted form): neither SP nor any X written
        let s = t(
            0xeb02003f,
            &[(1, 0x5), (2, 0x7), (31, 0x1000)],
            0x0,
            0x0,
            0x8,
        );
        assert_eq!(s.sp, 0x1000);
        // add x0, x1, xzr (shifted form, Rm = 31 is XZR)
        t(0x8b1f0020, &[(1, 0x5), (31, 0x1000)], 0x0, 0x5, 0x0);
        // and xzr, x1, x2: result discarded, SP untouched
        let s = t(
            0x8a02003f,
            &[(1, 0xff), (2, 0xff), (31, 0x1000)],
            0x0,
            0x0,
            0x0,
        );
        assert_eq!(s.sp, 0x1000);
        // csel x0, xzr, x2, eq with Z set
        t(0x9a8203e0, &[(2, 0x22), (31, 0x1000)], 0x4, 0x0, 0x4);
    }

    /// Extensions xarch does not advertise are named, not executed.
    #[test]
    fn unadvertised_extensions_are_unimplemented() {
        let cases: &[(u32, &str)] = &[
            (0xba018422, "RMIF"),                           // rmif x1, #3, #2
            (0x3a00082d, "SETF8/SETF16"),                   // setf8 w1
            (0x3a00482d, "SETF8/SETF16"),                   // setf16 w1
            (0x9ac20020, "SUBP"),                           // subp x0, x1, x2
            (0xbac20020, "SUBPS"),                          // subps x0, x1, x2
            (0x9adf1020, "IRG"),                            // irg x0, x1
            (0x9ac21420, "GMI"),                            // gmi x0, x1, x2
            (0x9ac23020, "PACGA"),                          // pacga x0, x1, x2
            (0xdac10020, "PAC/AUT/XPAC"),                   // pacia x0, x1
            (0xdac143e0, "PAC/AUT/XPAC"),                   // xpaci x0
            (0xdac133e0, "PAC/AUT/XPAC"),                   // autiza x0
            (0xdac01820, "CTZ/CNT/ABS"),                    // ctz x0, x1
            (0x5ac01c20, "CTZ/CNT/ABS"),                    // cnt w0, w1
            (0xdac02020, "CTZ/CNT/ABS"),                    // abs x0, x1
            (0x9ac26020, "SMAX/UMAX/SMIN/UMIN (register)"), // smax x0, x1, x2
            (0x1ac26c20, "SMAX/UMAX/SMIN/UMIN (register)"), // umin w0, w1, w2
        ];
        for &(insn, name) in cases {
            assert_eq!(
                lift_err(insn),
                Err(LiftError::Unimplemented(name)),
                "{insn:#010x}"
            );
        }
    }

    /// Reserved field values are unallocated, and reach the guest as an
    /// undefined-instruction exit.
    #[test]
    fn unallocated_encodings() {
        let cases: &[u32] = &[
            0x0a028020, // and w0, w1, w2, lsl #32 (sf=0, imm6>=32)
            0x0b028020, // add w0, w1, w2, lsl #32
            0x8bc20420, // add x0, x1, x2, ror #1 (shift=11)
            0x8b221420, // add x0, x1, w2, uxtb #5 (imm3>4)
            0x8ba20020, // add (extended) with opt=10
            0x9a020420, // adc space with op3=000001 but not RMIF
            0x3a00082c, // setf8 with mask != 1101
            0xfa420035, // ccmp with o3=1
            0xfa420425, // ccmp with o2=1
            0xda420025, // ccmp with S=0
            0x9a820820, // csel with op2=10
            0xba820020, // csel with S=1
            0x5ac00c20, // rev (64-bit opcode) with sf=0
            0x7ac00020, // rbit with S=1
            0x5ac10020, // pacia with sf=0
            0xdac02420, // 1-source opcode 001001
            0x9ac20420, // 2-source opcode 000001
            0x3ac20820, // udiv with S=1
            0x1ac24c20, // crc32x with sf=0
            0x9ac24020, // crc32b with sf=1
            0x1ac20020, // subp with sf=0
            0x1b220c20, // smaddl with sf=0
            0xbb020c20, // madd with op54=01
            0x9b42fc20, // smulh with o0=1
            0x9b552135, // smulh x21, x9, x21 with Ra=01000
            0x9b620c20, // 3-source op31=011
            0x9a200020, // op1=1 op2=0001
            0x9ae00020, // op1=1 op2=0111
        ];
        for &insn in cases {
            assert_eq!(lift_err(insn), Err(LiftError::Unallocated), "{insn:#010x}");
            let mut s = A64State::default();
            assert_eq!(
                run(&mut s, &[insn]),
                Some(ExitReason::Undefined {
                    insn,
                    unallocated: true
                })
            );
        }
    }
}
