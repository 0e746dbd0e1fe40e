//! Data processing — immediate: PC-relative addressing, add/subtract,
//! logical, move wide, bitfield and extract.

use crate::decode::{Pattern, bit, bits, sext};
use crate::lift::{Ctx, LiftResult};
use crate::pat;
use xarch_ir::{Type, Value};

/// Decode table.
pub static TABLE: &[Pattern] = &[
    pat!("ADR", "0ii10000iiiiiiiiiiiiiiiiiiiddddd", adr),
    pat!("ADRP", "1ii10000iiiiiiiiiiiiiiiiiiiddddd", adrp),
    pat!(
        "ADD/SUB (immediate)",
        "xxx100010xiiiiiiiiiiiinnnnnddddd",
        add_sub_imm
    ),
    pat!(
        "Logical (immediate)",
        "xxx100100xxxxxxxxxxxxxnnnnnddddd",
        logical_imm
    ),
    pat!(
        "Move wide (immediate)",
        "xxx100101xxiiiiiiiiiiiiiiiiddddd",
        move_wide
    ),
    pat!("Bitfield", "xxx100110xxxxxxxxxxxxxnnnnnddddd", bitfield),
    pat!("EXTR", "x00100111x0mmmmmiiiiiinnnnnddddd", extr),
];

fn rd(i: u32) -> u32 {
    bits(i, 0, 5)
}
fn rn(i: u32) -> u32 {
    bits(i, 5, 5)
}

fn adr(c: &mut Ctx, i: u32) -> LiftResult {
    let imm = sext(((bits(i, 5, 19) << 2) | bits(i, 29, 2)) as u64, 21);
    let v = c.c64(c.pc.wrapping_add(imm as u64));
    c.set_x(rd(i), v);
    Ok(())
}

fn adrp(c: &mut Ctx, i: u32) -> LiftResult {
    let imm = sext(((bits(i, 5, 19) << 2) | bits(i, 29, 2)) as u64, 21) << 12;
    let v = c.c64((c.pc & !0xfff).wrapping_add(imm as u64));
    c.set_x(rd(i), v);
    Ok(())
}

/// NZCV (as an `I64`, bits 31..28) of `a + b` (or `a - b` when `sub`), as
/// Arm's AddWithCarry computes them; does not write the flags.
pub fn add_sub_flags(c: &mut Ctx, a: Value, b: Value, sub: bool) -> Value {
    let (bb, carry) = if sub {
        (c.b.not(b), c.b.iconst(Type::I1, 1))
    } else {
        (b, c.b.iconst(Type::I1, 0))
    };
    c.b.add_flags(a, bb, carry)
}

/// Adds `a + b` (or `a - b` when `sub`), returning the result and, if
/// `flags`, writing NZCV as Arm's AddWithCarry does.
pub fn add_sub(c: &mut Ctx, a: Value, b: Value, sub: bool, flags: bool) -> Value {
    let r = if sub { c.b.sub(a, b) } else { c.b.add(a, b) };
    if flags {
        let f = add_sub_flags(c, a, b, sub);
        c.set_nzcv(f);
    }
    r
}

fn add_sub_imm(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let sub = bit(i, 30);
    let s = bit(i, 29);
    let mut imm = bits(i, 10, 12) as u64;
    if bit(i, 22) {
        imm <<= 12;
    }
    let a = c.reg_sp(sf, rn(i));
    let b = c.cw(sf, imm);
    let r = add_sub(c, a, b, sub, s);
    if s {
        c.set_x(rd(i), r)
    } else {
        c.set_xsp(rd(i), r)
    }
    Ok(())
}

/// Arm `DecodeBitMasks`: (wmask, tmask) for `datasize` bits, or `None` for
/// a reserved combination.
pub fn decode_bit_masks(
    n: u32,
    imms: u32,
    immr: u32,
    immediate: bool,
    datasize: u32,
) -> Option<(u64, u64)> {
    let combined = (n << 6) | (!imms & 0x3f);
    if combined == 0 {
        return None;
    }
    let len = 31 - combined.leading_zeros();
    if len < 1 {
        return None;
    }
    let levels = (1u32 << len) - 1;
    if immediate && (imms & levels) == levels {
        return None;
    }
    let esize = 1u32 << len;
    if esize > datasize {
        return None;
    }
    let s = imms & levels;
    let r = immr & levels;
    let d = (s.wrapping_sub(r)) & levels;
    let ones = |k: u32| if k >= 64 { u64::MAX } else { (1u64 << k) - 1 };
    let emask = ones(esize);
    let welem = ones(s + 1);
    let telem = ones(d + 1);
    let ror = |x: u64| {
        if r == 0 {
            x
        } else {
            ((x >> r) | (x << (esize - r))) & emask
        }
    };
    let rep = |x: u64| {
        let mut out = 0u64;
        let mut k = 0;
        while k < datasize {
            out |= x << k;
            k += esize;
        }
        out & ones(datasize)
    };
    Some((rep(ror(welem)), rep(telem)))
}

fn logical_imm(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let opc = bits(i, 29, 2);
    let n = bits(i, 22, 1);
    if !sf && n == 1 {
        return c.unallocated();
    }
    let datasize = if sf { 64 } else { 32 };
    let Some((imm, _)) = decode_bit_masks(n, bits(i, 10, 6), bits(i, 16, 6), true, datasize) else {
        return c.unallocated();
    };
    let a = c.reg(sf, rn(i));
    let b = c.cw(sf, imm);
    let r = match opc {
        0 | 3 => c.b.and(a, b),
        1 => c.b.or(a, b),
        _ => c.b.xor(a, b),
    };
    if opc == 3 {
        let f = c.b.logic_flags(r);
        c.set_nzcv(f);
        c.set_x(rd(i), r);
    } else {
        c.set_xsp(rd(i), r);
    }
    Ok(())
}

fn move_wide(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let opc = bits(i, 29, 2);
    let hw = bits(i, 21, 2);
    if opc == 1 || (!sf && hw >= 2) {
        return c.unallocated();
    }
    let shift = hw * 16;
    let imm = (bits(i, 5, 16) as u64) << shift;
    let r = match opc {
        0 => c.cw(sf, !imm),
        2 => c.cw(sf, imm),
        _ => {
            let old = c.reg(sf, rd(i));
            let keep = c.cw(sf, !(0xffffu64 << shift));
            let kept = c.b.and(old, keep);
            let ins = c.cw(sf, imm);
            c.b.or(kept, ins)
        }
    };
    c.set_x(rd(i), r);
    Ok(())
}

fn bitfield(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let opc = bits(i, 29, 2);
    let n = bits(i, 22, 1);
    let immr = bits(i, 16, 6);
    let imms = bits(i, 10, 6);
    if opc == 3 || (sf && n != 1) || (!sf && (n != 0 || immr >= 32 || imms >= 32)) {
        return c.unallocated();
    }
    let datasize = if sf { 64 } else { 32 };
    let Some((wmask, tmask)) = decode_bit_masks(n, imms, immr, false, datasize) else {
        return c.unallocated();
    };
    let ty = Ctx::wty(sf);
    let src = c.reg(sf, rn(i));
    if opc != 1 {
        // SBFM (opc 0) and UBFM, whose aliases are LSR, LSL, ASR, UBFX,
        // SBFX, UBFIZ, SBFIZ, UXT* and SXT*: the shifts they are, rather
        // than the rotate and four masks of the general form.
        let res = shift_alias(c, sf, opc == 0, src, immr, imms, datasize);
        debug_assert_eq!(c.b.ty(res), ty);
        c.set_x(rd(i), res);
        return Ok(());
    }
    // BFM: bot = (dst AND NOT(wmask)) OR (ROR(src, R) AND wmask); the
    // bits outside tmask keep dst.
    let dst = c.reg(sf, rd(i));
    let r = c.cw(sf, immr as u64);
    let rot = c.b.ror(src, r);
    let nw = c.cw(sf, !wmask);
    let w = c.cw(sf, wmask);
    let d1 = c.b.and(dst, nw);
    let s1 = c.b.and(rot, w);
    let bot = c.b.or(d1, s1);
    let nt = c.cw(sf, !tmask);
    let t = c.cw(sf, tmask);
    let top = c.b.and(dst, nt);
    let bot = c.b.and(bot, t);
    let res = c.b.or(top, bot);
    debug_assert_eq!(c.b.ty(res), ty);
    c.set_x(rd(i), res);
    Ok(())
}

/// SBFM/UBFM (`signed`) of `src` with rotation `immr` and top bit `imms`
/// in a `w`-bit register: the field `src<imms:immr>` (or, when imms <
/// immr, `src<imms:0>` placed at bit `w - immr`), sign- or zero-extended.
fn shift_alias(
    c: &mut Ctx,
    sf: bool,
    signed: bool,
    src: Value,
    immr: u32,
    imms: u32,
    w: u32,
) -> Value {
    let k = |c: &mut Ctx, x: u32| c.cw(sf, x as u64);
    if imms >= immr {
        // Extract: bits imms..immr of src, at bit 0.
        if imms == w - 1 {
            let r = k(c, immr);
            return if signed {
                c.b.ashr(src, r)
            } else {
                c.b.lshr(src, r)
            };
        }
        let width = imms - immr + 1;
        if signed {
            let up = k(c, w - 1 - imms);
            let t = c.b.shl(src, up);
            let down = k(c, w - width);
            return c.b.ashr(t, down);
        }
        let r = k(c, immr);
        let t = c.b.lshr(src, r);
        let m = c.cw(sf, (1u64 << width) - 1);
        return c.b.and(t, m);
    }
    // Insert at zero: bits imms..0 of src, at bit w - immr.
    let width = imms + 1;
    let lsb = w - immr;
    let field = if signed {
        let up = k(c, w - width);
        let t = c.b.shl(src, up);
        c.b.ashr(t, up)
    } else if width + lsb == w {
        // LSL: the bits above the field shift out.
        src
    } else {
        let m = c.cw(sf, (1u64 << width) - 1);
        c.b.and(src, m)
    };
    let l = k(c, lsb);
    c.b.shl(field, l)
}

fn extr(c: &mut Ctx, i: u32) -> LiftResult {
    let sf = bit(i, 31);
    let n = bit(i, 22);
    let lsb = bits(i, 10, 6);
    if sf != n || (!sf && lsb >= 32) {
        return c.unallocated();
    }
    let width = if sf { 64 } else { 32 };
    let hi = c.reg(sf, rn(i));
    let lo = c.reg(sf, bits(i, 16, 5));
    let r = if lsb == 0 {
        lo
    } else {
        let a = c.cw(sf, lsb as u64);
        let l = c.b.lshr(lo, a);
        let b = c.cw(sf, (width - lsb) as u64);
        let h = c.b.shl(hi, b);
        c.b.or(l, h)
    };
    c.set_x(rd(i), r);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::decode_bit_masks;

    #[test]
    fn bit_masks_match_known_immediates() {
        // and x0, x0, #0xff: N=1 immr=0 imms=7
        assert_eq!(decode_bit_masks(1, 7, 0, true, 64).unwrap().0, 0xff);
        // orr w0, wzr, #0x55555555: N=0 immr=0 imms=0b111100
        assert_eq!(
            decode_bit_masks(0, 0b111100, 0, true, 32).unwrap().0,
            0x5555_5555
        );
        // all-ones is reserved for immediates
        assert!(decode_bit_masks(1, 0b111111, 0, true, 64).is_none());
        // lsr x0, x1, #4 = UBFM immr=4 imms=63
        let (w, t) = decode_bit_masks(1, 63, 4, false, 64).unwrap();
        assert_eq!(w, 0xf000_0000_0000_0fff | 0x0fff_ffff_ffff_f000);
        assert_eq!(t, 0x0fff_ffff_ffff_ffff);
    }
}
