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
}

impl VecOp {
    /// Number of `I128` operands.
    pub const fn arity(self) -> usize {
        match self {
            VecOp::Not | VecOp::Neg | VecOp::Abs | VecOp::Cnt => 1,
            VecOp::Bsl => 3,
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
}
