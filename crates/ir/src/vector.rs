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

    /// Unsigned halving add: (a + b) >> 1 (Arm UHADD).
    UHAdd,
    /// Signed halving add (Arm SHADD).
    SHAdd,
    /// Unsigned rounding halving add: (a + b + 1) >> 1 (Arm URHADD).
    URHAdd,
    /// Signed rounding halving add (Arm SRHADD).
    SRHAdd,
    /// Unsigned halving subtract: (a - b) >> 1 (Arm UHSUB).
    UHSub,
    /// Signed halving subtract (Arm SHSUB).
    SHSub,
    /// Polynomial (carry-less) multiply, low half (Arm PMUL, 8-bit).
    PMul,
    /// Polynomial multiply long: the esize-bit lanes of the low 64 bits of
    /// a and b multiplied carry-less into 2*esize-bit lanes (Arm PMULL;
    /// esize 8 or 64).
    PMull,
    /// Count leading zeros per lane (unary).
    Clz,
    /// Count leading sign bits per lane (unary).
    Cls,
    /// Reverse the bits of each lane (unary).
    Rbit,
    /// Unsigned add long pairwise (unary): each esize-bit lane is the sum
    /// of the two esize/2-bit halves of the same lane of a (Arm UADDLP).
    UAddLp,
    /// Signed add long pairwise (Arm SADDLP).
    SAddLp,
    /// Unsigned reciprocal estimate of 32-bit fixed-point lanes (unary;
    /// Arm URECPE).
    URecpE,
    /// Unsigned reciprocal square root estimate (unary; Arm URSQRTE).
    URSqrtE,
    /// Dot product (ternary, 32-bit lanes): a + the sum of the four
    /// products of the unsigned bytes of b and c in the same lane (UDOT).
    UDot,
    /// Signed dot product (Arm SDOT).
    SDot,
    /// a ^ b ^ c (ternary; Arm EOR3).
    Eor3,
    /// a ^ (b & !c) (ternary; Arm BCAX).
    Bcax,
    /// a ^ (b rotated left by 1) in 64-bit lanes (Arm RAX1).
    Rax1,
    /// Saturating integer op, the result (see [`SatOp`]).
    Sat(SatOp),
    /// Saturating integer op, all ones in each lane that saturated.
    SatQc(SatOp),
    /// Cryptographic operation on whole registers (see [`CryptoOp`]).
    Crypto(CryptoOp),
}

/// Integer lane operations that saturate, setting Arm's FPSR.QC: the
/// result is [`VecOp::Sat`], the saturation mask [`VecOp::SatQc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SatOp {
    /// Signed doubling multiply high: (2ab) >> esize (Arm SQDMULH).
    SQDMulH,
    /// With rounding: (2ab + (1 << (esize-1))) >> esize (Arm SQRDMULH).
    SQRDMulH,
    /// Ternary a + ((2bc + round) >> esize) (Arm SQRDMLAH).
    SQRDMlah,
    /// Ternary a - ((2bc - round) >> esize), computed as Arm SQRDMLSH.
    SQRDMlsh,
    /// Signed saturating shift left by the signed low byte of b's lane;
    /// negative amounts shift right (Arm SQSHL register).
    SQShl,
    /// Unsigned saturating shift (Arm UQSHL register).
    UQShl,
    /// Signed saturating rounding shift (Arm SQRSHL).
    SQRShl,
    /// Unsigned saturating rounding shift (Arm UQRSHL).
    UQRShl,
    /// Signed input shifted left by b, saturated to unsigned (Arm SQSHLU).
    SQShlU,
    /// Narrow (unary): signed 2*esize lanes saturated to esize bits, into
    /// the low 64 bits (Arm SQXTN).
    SQXtn,
    /// Unsigned saturating narrow (Arm UQXTN).
    UQXtn,
    /// Signed to unsigned saturating narrow (Arm SQXTUN).
    SQXtun,
    /// Signed a plus unsigned b, signed saturation (Arm SUQADD).
    SUQAdd,
    /// Unsigned a plus signed b, unsigned saturation (Arm USQADD).
    USQAdd,
    /// Saturating absolute value (unary; Arm SQABS).
    SQAbs,
    /// Saturating negation (unary; Arm SQNEG).
    SQNeg,
}

impl SatOp {
    const fn arity(self) -> usize {
        match self {
            SatOp::SQXtn | SatOp::UQXtn | SatOp::SQXtun | SatOp::SQAbs | SatOp::SQNeg => 1,
            SatOp::SQRDMlah | SatOp::SQRDMlsh => 3,
            _ => 2,
        }
    }
}

/// Cryptographic operations (FEAT_AES, FEAT_SHA1, FEAT_SHA256,
/// FEAT_SHA512) on whole 128-bit registers, operands in the order of the
/// Arm pseudocode: a = Vd (or Vn for two-operand forms), b = Vn, c = Vm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CryptoOp {
    /// SubBytes(ShiftRows(a ^ b)) (Arm AESE).
    AesE,
    /// InvSubBytes(InvShiftRows(a ^ b)) (Arm AESD).
    AesD,
    /// MixColumns(a) (unary; Arm AESMC).
    AesMc,
    /// InvMixColumns(a) (unary; Arm AESIMC).
    AesImc,
    /// SHA1 hash update, choose (a = Qd, b = Sn, c = Vm; Arm SHA1C).
    Sha1C,
    /// SHA1 hash update, parity (Arm SHA1P).
    Sha1P,
    /// SHA1 hash update, majority (Arm SHA1M).
    Sha1M,
    /// SHA1 fixed rotate: lane 0 rotated left by 30 (unary; Arm SHA1H).
    Sha1H,
    /// SHA1 schedule update 0 (a = Vd, b = Vn, c = Vm; Arm SHA1SU0).
    Sha1Su0,
    /// SHA1 schedule update 1 (a = Vd, b = Vn; Arm SHA1SU1).
    Sha1Su1,
    /// SHA256 hash update part 1 (a = Qd, b = Qn, c = Vm; Arm SHA256H).
    Sha256H,
    /// SHA256 hash update part 2 (Arm SHA256H2).
    Sha256H2,
    /// SHA256 schedule update 0 (a = Vd, b = Vn; Arm SHA256SU0).
    Sha256Su0,
    /// SHA256 schedule update 1 (a = Vd, b = Vn, c = Vm; Arm SHA256SU1).
    Sha256Su1,
    /// SHA512 hash update part 1 (a = Qd, b = Qn, c = Vm; Arm SHA512H).
    Sha512H,
    /// SHA512 hash update part 2 (Arm SHA512H2).
    Sha512H2,
    /// SHA512 schedule update 0 (a = Vd, b = Vn; Arm SHA512SU0).
    Sha512Su0,
    /// SHA512 schedule update 1 (a = Vd, b = Vn, c = Vm; Arm SHA512SU1).
    Sha512Su1,
}

impl CryptoOp {
    const fn arity(self) -> usize {
        match self {
            CryptoOp::AesMc | CryptoOp::AesImc | CryptoOp::Sha1H => 1,
            CryptoOp::AesE
            | CryptoOp::AesD
            | CryptoOp::Sha1Su1
            | CryptoOp::Sha256Su0
            | CryptoOp::Sha512Su0 => 2,
            _ => 3,
        }
    }
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
            | VecOp::SAddLv
            | VecOp::Clz
            | VecOp::Cls
            | VecOp::Rbit
            | VecOp::UAddLp
            | VecOp::SAddLp
            | VecOp::URecpE
            | VecOp::URSqrtE => 1,
            VecOp::Bsl | VecOp::Tbx | VecOp::UDot | VecOp::SDot | VecOp::Eor3 | VecOp::Bcax => 3,
            VecOp::Sat(s) | VecOp::SatQc(s) => s.arity(),
            VecOp::Crypto(c) => c.arity(),
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
        VecOp::UHAdd => ((a as u128 + b as u128) >> 1) as u64,
        VecOp::SHAdd => ((sa as i128 + sb as i128) >> 1) as u64,
        VecOp::URHAdd => ((a as u128 + b as u128 + 1) >> 1) as u64,
        VecOp::SRHAdd => ((sa as i128 + sb as i128 + 1) >> 1) as u64,
        VecOp::UHSub => ((a as i128 - b as i128) >> 1) as u64,
        VecOp::SHSub => ((sa as i128 - sb as i128) >> 1) as u64,
        VecOp::PMul => clmul(a, b) as u64,
        VecOp::Clz => (a.leading_zeros() - (64 - esize)) as u64,
        VecOp::Cls => {
            let y = if sa < 0 { !a & ones } else { a };
            (y.leading_zeros() - (64 - esize) - 1) as u64
        }
        VecOp::Rbit => a.reverse_bits() >> (64 - esize),
        VecOp::UAddLp | VecOp::SAddLp => {
            let h = esize / 2;
            let (lo, hi) = (a & (ones >> h), a >> h);
            if op == VecOp::SAddLp {
                (sext(lo, h) + sext(hi, h)) as u64
            } else {
                lo + hi
            }
        }
        VecOp::URecpE => {
            if a >> 31 == 0 {
                0xffff_ffff
            } else {
                (recip_estimate((a >> 23) as u32) as u64) << 23
            }
        }
        VecOp::URSqrtE => {
            if a >> 30 == 0 {
                0xffff_ffff
            } else {
                (recip_sqrt_estimate((a >> 23) as u32) as u64) << 23
            }
        }
        VecOp::Rax1 => a ^ b.rotate_left(1),
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
        VecOp::Eor3 => return a ^ b ^ c,
        VecOp::Bcax => return a ^ (b & !c),
        VecOp::Sat(s) => return sat_eval(s, esize, a, b, c).0,
        VecOp::SatQc(s) => return sat_eval(s, esize, a, b, c).1,
        VecOp::Crypto(op) => return crate::crypto::eval(op, a, b, c),
        _ => {}
    }
    let lanes = 128 / esize;
    let m = mask(esize);
    let mut out = 0u128;
    let put = |out: &mut u128, i: u32, x: u128| *out |= (x & m) << (i * esize);
    match op {
        VecOp::PMull => {
            for i in 0..64 / esize {
                let p = clmul(lane(a, esize, i), lane(b, esize, i));
                out |= (p & mask(2 * esize)) << (i * 2 * esize);
            }
            return out;
        }
        VecOp::UDot | VecOp::SDot => {
            for i in 0..4 {
                let mut acc = lane(a, 32, i) as i64;
                for k in 0..4 {
                    let (x, y) = (lane(b, 8, 4 * i + k), lane(c, 8, 4 * i + k));
                    acc += if op == VecOp::SDot {
                        sext(x, 8) * sext(y, 8)
                    } else {
                        (x * y) as i64
                    };
                }
                out |= (acc as u128 & 0xffff_ffff) << (32 * i);
            }
            return out;
        }
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

/// Lane `idx` of `esize` bits (8..=128) of `x`, zero-extended (the
/// semantics of [`crate::Op::ExtractLane`]).
pub fn extract_lane(x: u128, esize: u8, idx: u8) -> u128 {
    let e = esize as u32;
    (x >> (e * idx as u32)) & mask(e)
}

/// `x` with lane `idx` of `esize` bits replaced by the low bits of `s`
/// (the semantics of [`crate::Op::InsertLane`]).
pub fn insert_lane(x: u128, s: u128, esize: u8, idx: u8) -> u128 {
    let e = esize as u32;
    let m = mask(e);
    let sh = e * idx as u32;
    (x & !(m << sh)) | ((s & m) << sh)
}

/// The low `esize` bits (8..=64) of `s` in every lane (the semantics of
/// [`crate::Op::Dup`]).
pub fn dup(s: u128, esize: u8) -> u128 {
    let e = esize as u32;
    let s = s & mask(e);
    (0..128 / e).fold(0u128, |acc, i| acc | (s << (i * e)))
}

/// Carry-less product of two 64-bit polynomials (the host's PCLMULQDQ
/// when it has one).
pub fn clmul(a: u64, b: u64) -> u128 {
    #[cfg(target_arch = "x86_64")]
    if crate::crypto::host::has_clmul() {
        // SAFETY: the CPU has PCLMULQDQ.
        return unsafe { crate::crypto::host::clmul(a, b) };
    }
    clmul_portable(a, b)
}

/// [`clmul`] by shifts and xors (reference and fallback).
pub fn clmul_portable(a: u64, b: u64) -> u128 {
    (0..64)
        .filter(|k| b >> k & 1 != 0)
        .fold(0u128, |acc, k| acc ^ ((a as u128) << k))
}

/// Arm `RecipEstimate` (9-bit input 256..=511, 9-bit result).
pub fn recip_estimate(a: u32) -> u32 {
    let a = a * 2 + 1;
    let b = (1u32 << 19) / a;
    b.div_ceil(2)
}

/// Arm `RecipSqrtEstimate` (9-bit input 128..=511, 9-bit result).
pub fn recip_sqrt_estimate(a: u32) -> u32 {
    let a = if a < 256 {
        a as u64 * 2 + 1
    } else {
        (((a >> 1) << 1) as u64 + 1) * 2
    };
    let mut b = 512u64;
    while a * (b + 1) * (b + 1) < (1 << 28) {
        b += 1;
    }
    b.div_ceil(2) as u32
}

/// Reference semantics of a saturating op: (result, saturated lanes).
fn sat_eval(op: SatOp, esize: u32, a: u128, b: u128, c: u128) -> (u128, u128) {
    let m = mask(esize);
    let smax = (1i128 << (esize - 1)) - 1;
    let smin = -smax - 1;
    let umax = m as i128;
    let narrow = matches!(op, SatOp::SQXtn | SatOp::UQXtn | SatOp::SQXtun);
    let lanes = if narrow { 64 / esize } else { 128 / esize };
    let (mut out, mut qc) = (0u128, 0u128);
    for i in 0..lanes {
        let (x, y, z) = (lane(a, esize, i), lane(b, esize, i), lane(c, esize, i));
        let (sx, sy, sz) = (
            sext(x, esize) as i128,
            sext(y, esize) as i128,
            sext(z, esize) as i128,
        );
        let shift = |v: i128, round: bool| -> i128 {
            let n = y as u8 as i8 as i32;
            if n >= 0 {
                // |v| < 2^64: a left shift by 64 or more saturates unless v
                // is 0 (and would overflow i128 for a 64-bit unsigned v).
                let k = (n as u32).min(esize);
                if k < 64 { v << k } else { v.signum() << 126 }
            } else {
                let k = ((-n) as u32).min(65);
                let bias = if round { 1i128 << (k - 1) } else { 0 };
                (v + bias) >> k
            }
        };
        let round = 1i128 << (esize - 1);
        let (r, lo, hi) = match op {
            SatOp::SQDMulH => ((2 * sx * sy) >> esize, smin, smax),
            SatOp::SQRDMulH => ((2 * sx * sy + round) >> esize, smin, smax),
            SatOp::SQRDMlah => (((sx << esize) + 2 * sy * sz + round) >> esize, smin, smax),
            SatOp::SQRDMlsh => (((sx << esize) - 2 * sy * sz + round) >> esize, smin, smax),
            SatOp::SQShl => (shift(sx, false), smin, smax),
            SatOp::SQRShl => (shift(sx, true), smin, smax),
            SatOp::UQShl => (shift(x as i128, false), 0, umax),
            SatOp::UQRShl => (shift(x as i128, true), 0, umax),
            SatOp::SQShlU => (shift(sx, false), 0, umax),
            SatOp::SQXtn | SatOp::UQXtn | SatOp::SQXtun => {
                let w = lane(a, 2 * esize, i);
                let sw = sext(w, 2 * esize) as i128;
                match op {
                    SatOp::SQXtn => (sw, smin, smax),
                    SatOp::UQXtn => (w as i128, 0, umax),
                    _ => (sw, 0, umax),
                }
            }
            SatOp::SUQAdd => (sx + y as i128, smin, smax),
            SatOp::USQAdd => (x as i128 + sy, 0, umax),
            SatOp::SQAbs => (sx.abs(), smin, smax),
            SatOp::SQNeg => (-sx, smin, smax),
        };
        let v = r.clamp(lo, hi);
        out |= (v as u128 & m) << (i * esize);
        if v != r {
            qc |= m << (i * esize);
        }
    }
    (out, qc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's carry-less multiply and the portable one agree (and the
    /// portable one on a worked example: (x+1)(x+1) = x^2+1).
    #[test]
    fn clmul_host_matches_portable() {
        assert_eq!(clmul_portable(0b11, 0b11), 0b101);
        let mut s = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let a = s;
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            assert_eq!(clmul(a, s), clmul_portable(a, s), "{a:#x} {s:#x}");
        }
    }

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
