//! Lane-wise vector operations on 128-bit values. Each op is defined once
//! here with its reference semantics on one lane (or pair of lanes), so the
//! interpreter and the JIT tiers agree by construction on what it means.

/// A lane-wise vector operation (see [`crate::Op::Vector`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VecOp {
    /// Lane add.
    Add,
    /// Lane subtract.
    Sub,
    /// Lane multiply (low half).
    Mul,
    /// Bitwise and (lane size irrelevant).
    And,
    /// Bitwise or.
    Or,
    /// Bitwise xor.
    Xor,
    /// a & !b.
    Bic,
    /// a | !b.
    Orn,
    /// Bitwise not (unary).
    Not,
    /// Lane negate (unary).
    Neg,
    /// Lane absolute value (unary).
    Abs,
    /// Per-lane population count (unary).
    Cnt,
    /// All ones where a == b.
    CmEq,
    /// All ones where a > b signed.
    CmGt,
    /// All ones where a >= b signed.
    CmGe,
    /// All ones where a > b unsigned.
    CmHi,
    /// All ones where a >= b unsigned.
    CmHs,
    /// All ones where (a & b) != 0.
    CmTst,
    /// Unsigned maximum.
    UMax,
    /// Unsigned minimum.
    UMin,
    /// Signed maximum.
    SMax,
    /// Signed minimum.
    SMin,
    /// Unsigned absolute difference.
    UAbd,
    /// Signed absolute difference.
    SAbd,
    /// Pairwise add: lanes of the concatenation b:a added in pairs.
    AddP,
    /// Pairwise unsigned maximum.
    UMaxP,
    /// Pairwise unsigned minimum.
    UMinP,
    /// Pairwise signed maximum.
    SMaxP,
    /// Pairwise signed minimum.
    SMinP,
    /// Bitwise select: (a & c) | (b & !c), i.e. BSL with c as the mask.
    Bsl,
    /// Shift each lane of a by the signed amount in the low byte of the
    /// same lane of b: left if positive, logical right if negative (Arm
    /// USHL); amounts of esize or more give 0.
    UShl,
    /// As `UShl` but right shifts are arithmetic (Arm SSHL).
    SShl,
    /// As `UShl` but right shifts round (add 1 << (n-1) first; Arm URSHL).
    URShl,
    /// As `SShl` but right shifts round (Arm SRSHL).
    SRShl,
    /// Narrow (unary): lanes of 2*esize bits truncated to esize bits and
    /// packed into the low 64 bits; the high 64 bits are zero (Arm XTN).
    Xtn,
    /// Widen (unary): the esize/2-bit lanes of the low 64 bits
    /// zero-extended to esize bits (Arm UXTL).
    Uxtl,
    /// Widen (unary) with sign extension (Arm SXTL).
    Sxtl,
    /// Even lanes of the concatenation b:a (a low) (Arm UZP1, 128-bit).
    Uzp1,
    /// Odd lanes of the concatenation b:a (Arm UZP2, 128-bit).
    Uzp2,
    /// Interleave the low halves: a0 b0 a1 b1 ... (Arm ZIP1, 128-bit).
    Zip1,
    /// Interleave the high halves (Arm ZIP2, 128-bit).
    Zip2,
    /// Even lanes of a interleaved with even lanes of b (Arm TRN1).
    Trn1,
    /// Odd lanes of a interleaved with odd lanes of b (Arm TRN2).
    Trn2,
    /// Reverse the esize-bit lanes within each 16-bit container (unary).
    Rev16,
    /// Reverse the lanes within each 32-bit container (unary).
    Rev32,
    /// Reverse the lanes within each 64-bit container (unary).
    Rev64,
    /// Table lookup step (ternary, 8-bit lanes): lane i is b[c[i]] if
    /// c[i] < 16, else a[i] (Arm TBX with one table register).
    Tbx,
    /// Sum of all lanes, in lane 0 (unary; other lanes zero; Arm ADDV).
    AddV,
    /// Unsigned maximum of all lanes, in lane 0 (Arm UMAXV).
    UMaxV,
    /// Unsigned minimum of all lanes, in lane 0 (Arm UMINV).
    UMinV,
    /// Signed maximum of all lanes, in lane 0 (Arm SMAXV).
    SMaxV,
    /// Signed minimum of all lanes, in lane 0 (Arm SMINV).
    SMinV,
    /// Unsigned sum of all esize-bit lanes as a 2*esize-bit lane 0 (Arm
    /// UADDLV).
    UAddLv,
    /// Signed sum of all lanes as a 2*esize-bit lane 0 (Arm SADDLV).
    SAddLv,
    /// Unsigned saturating add.
    UQAdd,
    /// Signed saturating add.
    SQAdd,
    /// Unsigned saturating subtract.
    UQSub,
    /// Signed saturating subtract.
    SQSub,
}

impl VecOp {
    /// Number of `I128` operands.
    pub const fn arity(self) -> usize {
        match self {
            VecOp::Not
            | VecOp::Neg
            | VecOp::Abs
            | VecOp::Cnt
            | VecOp::Xtn
            | VecOp::Uxtl
            | VecOp::Sxtl
            | VecOp::Rev16
            | VecOp::Rev32
            | VecOp::Rev64
            | VecOp::AddV
            | VecOp::UMaxV
            | VecOp::UMinV
            | VecOp::SMaxV
            | VecOp::SMinV
            | VecOp::UAddLv
            | VecOp::SAddLv => 1,
            VecOp::Bsl | VecOp::Tbx => 3,
            _ => 2,
        }
    }

    fn pairwise(self) -> bool {
        matches!(
            self,
            VecOp::AddP | VecOp::UMaxP | VecOp::UMinP | VecOp::SMaxP | VecOp::SMinP
        )
    }
}

fn lane(v: u128, esize: u32, i: u32) -> u64 {
    ((v >> (i * esize)) & mask(esize)) as u64
}

fn mask(esize: u32) -> u128 {
    if esize == 128 {
        u128::MAX
    } else {
        (1u128 << esize) - 1
    }
}

fn sext(x: u64, esize: u32) -> i64 {
    let sh = 64 - esize;
    ((x << sh) as i64) >> sh
}

/// Applies a binary lane op to single lanes.
fn lane_op(op: VecOp, a: u64, b: u64, esize: u32) -> u64 {
    let ones = mask(esize) as u64;
    let t = |c: bool| if c { ones } else { 0 };
    let (sa, sb) = (sext(a, esize), sext(b, esize));
    match op {
        VecOp::Add | VecOp::AddP => a.wrapping_add(b),
        VecOp::Sub => a.wrapping_sub(b),
        VecOp::Mul => a.wrapping_mul(b),
        VecOp::CmEq => t(a == b),
        VecOp::CmGt => t(sa > sb),
        VecOp::CmGe => t(sa >= sb),
        VecOp::CmHi => t(a > b),
        VecOp::CmHs => t(a >= b),
        VecOp::CmTst => t(a & b != 0),
        VecOp::UMax | VecOp::UMaxP => a.max(b),
        VecOp::UMin | VecOp::UMinP => a.min(b),
        VecOp::SMax | VecOp::SMaxP => sa.max(sb) as u64,
        VecOp::SMin | VecOp::SMinP => sa.min(sb) as u64,
        VecOp::UAbd => a.abs_diff(b),
        VecOp::SAbd => sa.abs_diff(sb),
        VecOp::Neg => 0u64.wrapping_sub(a),
        VecOp::Abs => sa.unsigned_abs(),
        VecOp::Cnt => a.count_ones() as u64,
        VecOp::UShl | VecOp::SShl | VecOp::URShl | VecOp::SRShl => {
            let n = b as u8 as i8 as i32;
            let signed = matches!(op, VecOp::SShl | VecOp::SRShl);
            let round = matches!(op, VecOp::URShl | VecOp::SRShl);
            let x = if signed { sa as i128 } else { a as i128 };
            let r = if n >= 0 {
                if n as u32 >= esize { 0 } else { x << n }
            } else {
                // x fits in 64 bits, so shifting by more than 65 changes
                // nothing; clamping keeps the rounding bias in range.
                let m = ((-n) as u32).min(65);
                let bias = if round { 1i128 << (m - 1) } else { 0 };
                (x + bias) >> m
            };
            r as u64
        }
        VecOp::UQAdd => a.saturating_add(b).min(ones),
        VecOp::UQSub => a.saturating_sub(b),
        VecOp::SQAdd | VecOp::SQSub => {
            let r = if op == VecOp::SQAdd {
                sa as i128 + sb as i128
            } else {
                sa as i128 - sb as i128
            };
            let max = (1i128 << (esize - 1)) - 1;
            r.clamp(-max - 1, max) as u64
        }
        _ => unreachable!("not a lane op: {op:?}"),
    }
}

/// Reference semantics of `op` with `esize`-bit lanes (8, 16, 32 or 64).
pub fn eval(op: VecOp, esize: u8, a: u128, b: u128, c: u128) -> u128 {
    let esize = esize as u32;
    match op {
        VecOp::And => return a & b,
        VecOp::Or => return a | b,
        VecOp::Xor => return a ^ b,
        VecOp::Bic => return a & !b,
        VecOp::Orn => return a | !b,
        VecOp::Not => return !a,
        VecOp::Bsl => return (a & c) | (b & !c),
        _ => {}
    }
    let lanes = 128 / esize;
    let m = mask(esize);
    let mut out = 0u128;
    let put = |out: &mut u128, i: u32, x: u128| *out |= (x & m) << (i * esize);
    match op {
        VecOp::Xtn => {
            for i in 0..lanes / 2 {
                put(&mut out, i, lane(a, 2 * esize, i) as u128);
            }
            return out;
        }
        VecOp::Uxtl | VecOp::Sxtl => {
            let h = esize / 2;
            for i in 0..lanes {
                let x = lane(a, h, i);
                let x = if op == VecOp::Sxtl {
                    sext(x, h) as u64
                } else {
                    x
                };
                put(&mut out, i, x as u128);
            }
            return out;
        }
        VecOp::Uzp1 | VecOp::Uzp2 => {
            let odd = (op == VecOp::Uzp2) as u32;
            for i in 0..lanes {
                let j = 2 * i + odd;
                let src = if j < lanes { a } else { b };
                put(&mut out, i, lane(src, esize, j % lanes) as u128);
            }
            return out;
        }
        VecOp::Zip1 | VecOp::Zip2 => {
            let base = if op == VecOp::Zip2 { lanes / 2 } else { 0 };
            for i in 0..lanes {
                let src = if i % 2 == 0 { a } else { b };
                put(&mut out, i, lane(src, esize, base + i / 2) as u128);
            }
            return out;
        }
        VecOp::Trn1 | VecOp::Trn2 => {
            let odd = (op == VecOp::Trn2) as u32;
            for i in 0..lanes {
                let src = if i % 2 == 0 { a } else { b };
                put(&mut out, i, lane(src, esize, (i & !1) + odd) as u128);
            }
            return out;
        }
        VecOp::Rev16 | VecOp::Rev32 | VecOp::Rev64 => {
            let container = match op {
                VecOp::Rev16 => 16,
                VecOp::Rev32 => 32,
                _ => 64,
            };
            let per = container / esize;
            for i in 0..lanes {
                let j = (i / per) * per + (per - 1 - i % per);
                put(&mut out, i, lane(a, esize, j) as u128);
            }
            return out;
        }
        VecOp::Tbx => {
            for i in 0..16 {
                let idx = lane(c, 8, i) as u32;
                let x = if idx < 16 {
                    lane(b, 8, idx)
                } else {
                    lane(a, 8, i)
                };
                put(&mut out, i, x as u128);
            }
            return out;
        }
        VecOp::AddV | VecOp::UMaxV | VecOp::UMinV | VecOp::SMaxV | VecOp::SMinV => {
            let lop = match op {
                VecOp::AddV => VecOp::Add,
                VecOp::UMaxV => VecOp::UMax,
                VecOp::UMinV => VecOp::UMin,
                VecOp::SMaxV => VecOp::SMax,
                _ => VecOp::SMin,
            };
            let r = (1..lanes).fold(lane(a, esize, 0), |acc, i| {
                lane_op(lop, acc, lane(a, esize, i), esize) & m as u64
            });
            return r as u128 & m;
        }
        VecOp::UAddLv | VecOp::SAddLv => {
            let r = (0..lanes).fold(0i128, |acc, i| {
                let x = lane(a, esize, i);
                acc + if op == VecOp::SAddLv {
                    sext(x, esize) as i128
                } else {
                    x as i128
                }
            });
            return r as u128 & mask(2 * esize);
        }
        _ => {}
    }
    if op.pairwise() {
        // Result lane i takes pair i of the concatenation a (low) : b (high).
        for i in 0..lanes {
            let src = if i < lanes / 2 { a } else { b };
            let j = (i % (lanes / 2)) * 2;
            let r = lane_op(op, lane(src, esize, j), lane(src, esize, j + 1), esize);
            out |= (r as u128 & m) << (i * esize);
        }
        return out;
    }
    for i in 0..lanes {
        let r = lane_op(op, lane(a, esize, i), lane(b, esize, i), esize);
        out |= (r as u128 & m) << (i * esize);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_wrap_independently() {
        let a = u128::from_le_bytes([0xff; 16]);
        let b = 1u128 | (1u128 << 64);
        assert_eq!(eval(VecOp::Add, 64, a, b, 0), 0);
        assert_eq!(eval(VecOp::Add, 8, 0x01ff, 0x0101, 0), 0x0200);
    }

    #[test]
    fn pairwise_concatenates_operands() {
        // 32-bit lanes: a = [1,2,3,4], b = [10,20,30,40]
        let mk = |l: [u32; 4]| {
            l.iter()
                .enumerate()
                .fold(0u128, |acc, (i, &x)| acc | ((x as u128) << (32 * i)))
        };
        let r = eval(VecOp::AddP, 32, mk([1, 2, 3, 4]), mk([10, 20, 30, 40]), 0);
        assert_eq!(r, mk([3, 7, 30, 70]));
        let r = eval(VecOp::UMaxP, 32, mk([1, 2, 9, 4]), mk([10, 20, 30, 40]), 0);
        assert_eq!(r, mk([2, 9, 20, 40]));
    }

    #[test]
    fn compares_are_signed_or_unsigned() {
        assert_eq!(eval(VecOp::CmGt, 8, 0x80, 0x01, 0) & 0xff, 0);
        assert_eq!(eval(VecOp::CmHi, 8, 0x80, 0x01, 0) & 0xff, 0xff);
    }

    #[test]
    fn shifts_by_signed_lane_amounts() {
        // 8-bit lanes: 0x81 shifted by +1, -1 (logical / arithmetic), -8.
        let a = 0x81_81_81_81u128;
        let b = 0x01_ff_f8_7fu128; // lanes (low first): 127, -8, -1, 1
        assert_eq!(eval(VecOp::UShl, 8, a, b, 0), 0x02_40_00_00);
        assert_eq!(eval(VecOp::SShl, 8, a, b, 0), 0x02_c0_ff_00);
        // Rounding right shift: 0x18 >> 4 rounds 1.5 up to 2.
        assert_eq!(eval(VecOp::URShl, 8, 0x18, 0xfc, 0) & 0xff, 2);
        assert_eq!(
            eval(VecOp::SRShl, 64, u64::MAX as u128, 0xc0, 0) & u64::MAX as u128,
            0
        );
    }

    #[test]
    fn narrow_widen_permute_and_reduce() {
        assert_eq!(eval(VecOp::Xtn, 8, 0x1234_5678, 0, 0), 0x3478);
        assert_eq!(eval(VecOp::Sxtl, 16, 0x80_7f, 0, 0), 0xff80_007f);
        assert_eq!(eval(VecOp::Uxtl, 16, 0x80_7f, 0, 0), 0x0080_007f);
        assert_eq!(
            eval(VecOp::Zip1, 8, 0x0201, 0x0403, 0) & 0xffff_ffff,
            0x0402_0301
        );
        assert_eq!(
            eval(VecOp::Rev64, 32, 0x1111_2222, 0, 0),
            0x1111_2222_0000_0000
        );
        // Table lookup: index 1 picks byte 1, out-of-range keeps a.
        let r = eval(VecOp::Tbx, 8, 0xee00, 0xbbaa, 0x1001);
        assert_eq!(r & 0xffff, 0xeebb);
        assert_eq!(eval(VecOp::UMaxV, 8, 0x10_ff_20, 0, 0), 0xff);
        assert_eq!(eval(VecOp::SMinV, 8, 0x10_ff_20, 0, 0), 0xff);
        assert_eq!(eval(VecOp::UAddLv, 8, u128::MAX, 0, 0), 16 * 255);
        assert_eq!(eval(VecOp::SQAdd, 8, 0x7f, 0x01, 0) & 0xff, 0x7f);
        assert_eq!(eval(VecOp::UQSub, 8, 0x01, 0x02, 0) & 0xff, 0);
    }
}
