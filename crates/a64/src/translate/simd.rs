//! Data processing — scalar floating-point and Advanced SIMD (op0 = x111).
//!
//! The group is split by the Arm ARM's encoding classes: `asimd` holds the
//! integer Advanced SIMD classes (vector and scalar), `fp` the scalar
//! floating-point classes and the conversions between FP and general
//! registers. Shared register helpers live here.

mod asimd;
mod fp;

use crate::decode::{Pattern, bit, bits};
use crate::lift::{Ctx, LiftError, LiftResult};
use crate::pat;
use xarch_ir::{CryptoOp, Type, Value, VecOp};

/// Decode table. Specific patterns come before the general ones they
/// overlap (modified immediate before shift by immediate).
pub static TABLE: &[Pattern] = &[
    // Cryptographic extensions.
    pat!("AES", "01001110ss10100ooooo10nnnnnddddd", crypto_aes),
    pat!(
        "SHA (three register)",
        "01011110ss0mmmmm0ooo00nnnnnddddd",
        crypto_sha3reg
    ),
    pat!(
        "SHA (two register)",
        "01011110ss10100ooooo10nnnnnddddd",
        crypto_sha2reg
    ),
    pat!(
        "SHA512 (three register)",
        "11001110011mmmmm1o00oonnnnnddddd",
        crypto_sha512_3reg
    ),
    pat!(
        "SHA512 (two register)",
        "11001110110000001000oonnnnnddddd",
        crypto_sha512_2reg
    ),
    pat!(
        "EOR3/BCAX/SM3SS1",
        "110011100oommmmm0aaaaannnnnddddd",
        crypto_four_reg
    ),
    pat!("XAR", "11001110100mmmmmiiiiiinnnnnddddd", crypto_xar),
    // Advanced SIMD three same (extra): dot product, RDM, complex.
    pat!(
        "Three same (extra)",
        "0QU01110ss0mmmmm1oooo1nnnnnddddd",
        asimd::three_same_extra
    ),
    pat!(
        "Scalar three same (extra)",
        "01U11110ss0mmmmm1oooo1nnnnnddddd",
        asimd::scalar_three_same_extra
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
        asimd::scalar_three_different
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
        asimd::scalar_indexed
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

/// AESE, AESD, AESMC, AESIMC.
fn crypto_aes(c: &mut Ctx, i: u32) -> LiftResult {
    if bits(i, 22, 2) != 0 {
        return c.unallocated();
    }
    let n = c.v(rn(i));
    let r = match bits(i, 12, 5) {
        0b00100 | 0b00101 => {
            let d = c.v(rd(i));
            let op = if bits(i, 12, 5) == 0b00100 {
                CryptoOp::AesE
            } else {
                CryptoOp::AesD
            };
            c.b.vector(VecOp::Crypto(op), 8, &[d, n])
        }
        0b00110 => c.b.vector(VecOp::Crypto(CryptoOp::AesMc), 8, &[n]),
        0b00111 => c.b.vector(VecOp::Crypto(CryptoOp::AesImc), 8, &[n]),
        _ => return c.unallocated(),
    };
    c.set_v(rd(i), r);
    Ok(())
}

/// SHA1C, SHA1P, SHA1M, SHA1SU0, SHA256H, SHA256H2, SHA256SU1.
fn crypto_sha3reg(c: &mut Ctx, i: u32) -> LiftResult {
    if bits(i, 22, 2) != 0 {
        return c.unallocated();
    }
    let op = match bits(i, 12, 3) {
        0 => CryptoOp::Sha1C,
        1 => CryptoOp::Sha1P,
        2 => CryptoOp::Sha1M,
        3 => CryptoOp::Sha1Su0,
        4 => CryptoOp::Sha256H,
        5 => CryptoOp::Sha256H2,
        6 => CryptoOp::Sha256Su1,
        _ => return c.unallocated(),
    };
    let d = c.v(rd(i));
    let n = c.v(rn(i));
    let m = c.v(rm(i));
    let r = c.b.vector(VecOp::Crypto(op), 32, &[d, n, m]);
    c.set_v(rd(i), r);
    Ok(())
}

/// SHA1H, SHA1SU1, SHA256SU0.
fn crypto_sha2reg(c: &mut Ctx, i: u32) -> LiftResult {
    if bits(i, 22, 2) != 0 {
        return c.unallocated();
    }
    let n = c.v(rn(i));
    let r = match bits(i, 12, 5) {
        0 => {
            let x = c.lo64(n);
            c.b.vector(VecOp::Crypto(CryptoOp::Sha1H), 32, &[x])
        }
        1 | 2 => {
            let op = if bits(i, 12, 5) == 1 {
                CryptoOp::Sha1Su1
            } else {
                CryptoOp::Sha256Su0
            };
            let d = c.v(rd(i));
            c.b.vector(VecOp::Crypto(op), 32, &[d, n])
        }
        _ => return c.unallocated(),
    };
    c.set_v(rd(i), r);
    Ok(())
}

/// SHA512H, SHA512H2, SHA512SU1, RAX1 (O = 0); the SM3 forms (O = 1)
/// are not implemented.
fn crypto_sha512_3reg(c: &mut Ctx, i: u32) -> LiftResult {
    if bit(i, 14) {
        return Err(LiftError::Unimplemented("SM3"));
    }
    let d = c.v(rd(i));
    let n = c.v(rn(i));
    let m = c.v(rm(i));
    let r = match bits(i, 10, 2) {
        0 => c.b.vector(VecOp::Crypto(CryptoOp::Sha512H), 64, &[d, n, m]),
        1 => {
            c.b.vector(VecOp::Crypto(CryptoOp::Sha512H2), 64, &[d, n, m])
        }
        2 => {
            c.b.vector(VecOp::Crypto(CryptoOp::Sha512Su1), 64, &[d, n, m])
        }
        _ => c.b.vector(VecOp::Rax1, 64, &[n, m]),
    };
    c.set_v(rd(i), r);
    Ok(())
}

/// SHA512SU0 (opcode 00); SM4E (01) is not implemented.
fn crypto_sha512_2reg(c: &mut Ctx, i: u32) -> LiftResult {
    match bits(i, 10, 2) {
        0 => {
            let d = c.v(rd(i));
            let n = c.v(rn(i));
            let r = c.b.vector(VecOp::Crypto(CryptoOp::Sha512Su0), 64, &[d, n]);
            c.set_v(rd(i), r);
            Ok(())
        }
        1 => Err(LiftError::Unimplemented("SM4E")),
        _ => c.unallocated(),
    }
}

/// EOR3 (Vn ^ Vm ^ Va), BCAX (Vn ^ (Vm & !Va)); SM3SS1 is not implemented.
fn crypto_four_reg(c: &mut Ctx, i: u32) -> LiftResult {
    let op = match bits(i, 21, 2) {
        0 => VecOp::Eor3,
        1 => VecOp::Bcax,
        2 => return Err(LiftError::Unimplemented("SM3SS1")),
        _ => return c.unallocated(),
    };
    let n = c.v(rn(i));
    let m = c.v(rm(i));
    let a = c.v(bits(i, 10, 5));
    let r = c.b.vector(op, 8, &[n, m, a]);
    c.set_v(rd(i), r);
    Ok(())
}

/// XAR: each 64-bit lane of Vn ^ Vm rotated right by imm6.
fn crypto_xar(c: &mut Ctx, i: u32) -> LiftResult {
    let k = bits(i, 10, 6) as u64;
    let n = c.v(rn(i));
    let m = c.v(rm(i));
    let x = c.b.vector(VecOp::Xor, 64, &[n, m]);
    let r = if k == 0 {
        x
    } else {
        let right = c.dup_const(64, k.wrapping_neg());
        let left = c.dup_const(64, 64 - k);
        let lo = c.b.vector(VecOp::UShl, 64, &[x, right]);
        let hi = c.b.vector(VecOp::UShl, 64, &[x, left]);
        c.b.vector(VecOp::Or, 64, &[lo, hi])
    };
    c.set_v(rd(i), r);
    Ok(())
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
