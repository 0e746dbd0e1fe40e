//! Data processing — scalar floating-point and Advanced SIMD (op0 = x111).
//!
//! The group is split by the Arm ARM's encoding classes: `asimd` holds the
//! integer Advanced SIMD classes (vector and scalar), `fp` the scalar
//! floating-point classes and the conversions between FP and general
//! registers. Shared register helpers live here.

mod asimd;
mod fp;

use crate::decode::{Pattern, bits};
use crate::lift::{Ctx, LiftError, LiftResult};
use crate::pat;
use xarch_ir::{Type, Value};

/// Decode table. Specific patterns come before the general ones they
/// overlap (modified immediate before shift by immediate).
pub static TABLE: &[Pattern] = &[
    // Cryptographic extensions are not advertised in HWCAP.
    pat!("AES", "01001110ss10100ooooo10nnnnnddddd", crypto_aes),
    pat!(
        "SHA (three register)",
        "01011110ss0mmmmm0ooo00nnnnnddddd",
        crypto_sha
    ),
    pat!(
        "SHA (two register)",
        "01011110ss10100ooooo10nnnnnddddd",
        crypto_sha
    ),
    // Advanced SIMD vector classes.
    pat!(
        "TBL/TBX",
        "0Q001110000mmmmm0llo00nnnnnddddd",
        asimd::tbl_tbx
    ),
    pat!(
        "Permute",
        "0Q001110ss0mmmmm0ooo10nnnnnddddd",
        asimd::permute
    ),
    pat!("EXT", "0Q101110000mmmmm0iiii0nnnnnddddd", asimd::ext),
    pat!("Copy", "0QO01110000iiiii0jjjj1nnnnnddddd", asimd::copy),
    pat!(
        "Three same",
        "0QU01110ss1mmmmmooooo1nnnnnddddd",
        asimd::three_same
    ),
    pat!(
        "Three different",
        "0QU01110ss1mmmmmoooo00nnnnnddddd",
        asimd::three_different
    ),
    pat!(
        "Two-register misc",
        "0QU01110ss10000ooooo10nnnnnddddd",
        asimd::two_reg_misc
    ),
    pat!(
        "Across lanes",
        "0QU01110ss11000ooooo10nnnnnddddd",
        asimd::across_lanes
    ),
    pat!(
        "Modified immediate",
        "0Qo0111100000abcCCCCo1defghddddd",
        asimd::modified_imm
    ),
    pat!(
        "Shift by immediate",
        "0QU011110hhhhbbbooooo1nnnnnddddd",
        asimd::shift_imm
    ),
    pat!(
        "Vector x indexed element",
        "0QU01111ssLMmmmmooooH0nnnnnddddd",
        asimd::indexed
    ),
    // Advanced SIMD scalar classes.
    pat!(
        "Scalar copy",
        "01011110000iiiii000001nnnnnddddd",
        asimd::scalar_copy
    ),
    pat!(
        "Scalar three same",
        "01U11110ss1mmmmmooooo1nnnnnddddd",
        asimd::scalar_three_same
    ),
    pat!(
        "Scalar three different",
        "01U11110ss1mmmmmoooo00nnnnnddddd",
        asimd::scalar_unimpl
    ),
    pat!(
        "Scalar two-register misc",
        "01U11110ss10000ooooo10nnnnnddddd",
        asimd::scalar_two_reg_misc
    ),
    pat!(
        "Scalar pairwise",
        "01U11110ss11000ooooo10nnnnnddddd",
        asimd::scalar_pairwise
    ),
    pat!(
        "Scalar shift by immediate",
        "01U111110hhhhbbbooooo1nnnnnddddd",
        asimd::scalar_shift_imm
    ),
    pat!(
        "Scalar x indexed element",
        "01U11111ssLMmmmmooooH0nnnnnddddd",
        asimd::scalar_unimpl
    ),
    // Scalar floating point.
    pat!(
        "FP <-> fixed-point",
        "s0011110tt0rrooossssssnnnnnddddd",
        fp::fixed_conv
    ),
    pat!(
        "FP <-> integer",
        "s0011110tt1rrooo000000nnnnnddddd",
        fp::int_conv
    ),
    pat!(
        "FP data-processing (1 source)",
        "00011110tt1oooooo10000nnnnnddddd",
        fp::dp1
    ),
    pat!(
        "FP compare",
        "00011110tt1mmmmm001000nnnnnooooo",
        fp::compare
    ),
    pat!(
        "FP immediate",
        "00011110tt1iiiiiiii10000000ddddd",
        fp::fmov_imm
    ),
    pat!(
        "FP conditional compare",
        "00011110tt1mmmmmcccc01nnnnnoffff",
        fp::ccmp
    ),
    pat!(
        "FP data-processing (2 source)",
        "00011110tt1mmmmmoooo10nnnnnddddd",
        fp::dp2
    ),
    pat!(
        "FP conditional select",
        "00011110tt1mmmmmcccc11nnnnnddddd",
        fp::csel
    ),
    pat!(
        "FP data-processing (3 source)",
        "00011111ttommmmmoaaaaannnnnddddd",
        fp::dp3
    ),
];

fn crypto_aes(_: &mut Ctx, _: u32) -> LiftResult {
    Err(LiftError::Unimplemented("AES"))
}

fn crypto_sha(_: &mut Ctx, _: u32) -> LiftResult {
    Err(LiftError::Unimplemented("SHA"))
}

/// Rd field.
fn rd(i: u32) -> u32 {
    bits(i, 0, 5)
}
/// Rn field.
fn rn(i: u32) -> u32 {
    bits(i, 5, 5)
}
/// Rm field.
fn rm(i: u32) -> u32 {
    bits(i, 16, 5)
}

impl Ctx {
    /// The low 64 bits of a 128-bit value, zero-extended back to 128.
    fn lo64(&mut self, v: Value) -> Value {
        let t = self.b.trunc(v, Type::I64);
        self.b.zext(t, Type::I128)
    }

    /// The high 64 bits of a 128-bit value, moved to the low half.
    fn hi64(&mut self, v: Value) -> Value {
        let n = self.c64(64);
        self.b.lshr(v, n)
    }

    /// `lo` in bits 63..0 and the low half of `hi` in bits 127..64: the
    /// concatenation the 64-bit (D-form) pairwise and permute
    /// instructions work on.
    fn concat64(&mut self, lo: Value, hi: Value) -> Value {
        let l = self.lo64(lo);
        let n = self.c64(64);
        let h = self.b.shl(hi, n);
        self.b.or(l, h)
    }

    /// Writes a vector result: all 128 bits if `q`, else the low 64 bits
    /// with the upper half zeroed.
    fn set_vec(&mut self, r: u32, v: Value, q: bool) {
        let v = if q { v } else { self.lo64(v) };
        self.set_v(r, v);
    }

    /// A constant broadcast to every `esize`-bit lane.
    fn dup_const(&mut self, esize: u32, x: u64) -> Value {
        let m = if esize == 64 {
            u64::MAX
        } else {
            (1 << esize) - 1
        };
        let mut v = 0u128;
        let mut k = 0;
        while k < 128 {
            v |= ((x & m) as u128) << k;
            k += esize;
        }
        self.b.const128(v)
    }
}
