//! Floating-point operations with Arm semantics: the reference meaning of
//! [`crate::Op::Float`] and [`crate::Op::FloatFlags`].
//!
//! Values are IEEE 754 binary16/32/64 bit patterns carried in `I16`/`I32`/
//! `I64`; the format of an operand is given by its type. Arithmetic is done
//! by `rustc_apfloat` (a port of LLVM's APFloat), which rounds correctly in
//! every IEEE rounding mode and reports the IEEE exceptions; this module
//! adds what Arm defines on top:
//!
//! - NaN propagation (`FPProcessNaNs`): the first signalling NaN operand,
//!   quieted, else the first quiet NaN, in operand order; invalid
//!   operations give the default NaN; FPCR.DN makes every NaN result the
//!   default NaN.
//! - FPCR.RMode for operations that use the current rounding mode, and
//!   FPCR.FZ (flush-to-zero of single/double inputs, with IDC, and of
//!   denormal results, with UFC).
//! - FPSR cumulative flags: IOC, DZC, OFC, UFC, IXC, IDC.
//! - Float-to-integer conversions that saturate (NaN gives 0), as
//!   `FPToFixed` does.
//!
//! - Overflow and underflow as `FPRoundBase` detects them: overflow when
//!   the result rounded with an unbounded exponent exceeds the largest
//!   finite number (APFloat does not report it when directed rounding
//!   gives the largest finite number), underflow when the exact result is
//!   tiny *before* rounding and inexact. Both are decided by recomputing
//!   the operation in a format of the same precision and a 15-bit exponent
//!   ([`Fmt::Wide`]), only for results near the edges of the range.
//! - FPCR.FZ flushes a result that is tiny before rounding to zero with
//!   UFC alone, even when rounding would have given the smallest normal.
//! - FPCR.AHP (alternative half precision) for conversions to and from
//!   half precision: exponent 31 encodes normal numbers, there are no
//!   infinities or NaNs (converting them gives IOC).
//!
//! Not modelled: trapped exceptions (the FPCR trap enables; Linux leaves
//! them off), FPCR.FZ16 and FEAT_AFP.

use rustc_apfloat::ieee::{Double, Half, IeeeFloat, Quad, Semantics, Single};
use rustc_apfloat::{Float as _, FloatConvert, Round, Status, StatusAnd};

/// FPCR.AHP: alternative half-precision format.
pub const FPCR_AHP: u64 = 1 << 26;
/// FPCR.DN: default NaN mode.
pub const FPCR_DN: u64 = 1 << 25;
/// FPCR.FZ: flush-to-zero mode.
pub const FPCR_FZ: u64 = 1 << 24;
/// Shift of FPCR.RMode (2 bits: RN, RP, RM, RZ).
pub const FPCR_RMODE_SHIFT: u32 = 22;

/// FPSR.IOC: invalid operation.
pub const IOC: u64 = 1 << 0;
/// FPSR.DZC: division by zero.
pub const DZC: u64 = 1 << 1;
/// FPSR.OFC: overflow.
pub const OFC: u64 = 1 << 2;
/// FPSR.UFC: underflow.
pub const UFC: u64 = 1 << 3;
/// FPSR.IXC: inexact.
pub const IXC: u64 = 1 << 4;
/// FPSR.IDC: input denormal (flushed to zero).
pub const IDC: u64 = 1 << 7;

/// A rounding direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FpRounding {
    /// To nearest, ties to even.
    TiesEven,
    /// Towards plus infinity.
    PosInf,
    /// Towards minus infinity.
    NegInf,
    /// Towards zero.
    Zero,
    /// To nearest, ties away from zero.
    TiesAway,
    /// The mode selected by FPCR.RMode.
    Fpcr,
}

/// A floating-point operation. Operands are listed in order; `a`, `b`,
/// `c` are the first, second and third.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FpOp {
    /// a + b.
    Add,
    /// a - b.
    Sub,
    /// a * b.
    Mul,
    /// a / b.
    Div,
    /// -(a * b), the negation applied after NaN processing (Arm FNMUL).
    NMul,
    /// Maximum; +0 > -0; NaNs propagate (Arm FMAX).
    Max,
    /// Minimum; -0 < +0 (Arm FMIN).
    Min,
    /// Maximum where a quiet NaN loses against a number (Arm FMAXNM).
    MaxNum,
    /// Minimum where a quiet NaN loses against a number (Arm FMINNM).
    MinNum,
    /// Square root of a.
    Sqrt,
    /// Fused a + b * c with one rounding (Arm FPMulAdd: addend first).
    MulAdd,
    /// Quiet compare: NZCV in bits 31..28 of the `I64` result (unordered
    /// 0011, equal 0110, less 1000, greater 0010); IOC for signalling NaNs.
    Cmp,
    /// Signalling compare (Arm FCMPE): as `Cmp`, IOC for any NaN.
    CmpE,
    /// All ones of the operand width if a == b, else zero (Arm FCMEQ).
    CmEq,
    /// All ones if a >= b (Arm FCMGE; IOC for any NaN).
    CmGe,
    /// All ones if a > b (Arm FCMGT; IOC for any NaN).
    CmGt,
    /// Round to an integral value in the same format; with `exact`, IXC
    /// when the value changes (Arm FRINT*).
    RoundInt(FpRounding, bool),
    /// Convert a to the result's format (Arm FCVT between precisions).
    Convert,
    /// Convert a to the result's format rounding to odd (Arm FCVTXN).
    ConvertOdd,
    /// a * b, except that infinity times zero is 2.0 (Arm FMULX).
    MulX,
    /// Fused 2.0 - a * b (Arm FRECPS; infinity times zero gives 2.0).
    RecipStep,
    /// Fused (3.0 - a * b) / 2 (Arm FRSQRTS; infinity times zero gives
    /// 1.5).
    RSqrtStep,
    /// Reciprocal estimate, 8 bits (Arm FRECPE, `FPRecipEstimate`).
    RecipEst,
    /// Reciprocal square root estimate (Arm FRSQRTE, `FPRSqrtEstimate`).
    RSqrtEst,
    /// Reciprocal exponent (Arm FRECPX).
    RecpX,
    /// Convert a * 2^fbits to an integer of the result width, saturating
    /// (NaN gives 0 and IOC; Arm FPToFixed).
    ToInt {
        /// Signed result.
        signed: bool,
        /// Rounding.
        rounding: FpRounding,
        /// Fraction bits of a fixed-point result (0 for integers).
        fbits: u8,
    },
    /// Convert the integer a / 2^fbits to the result's format, rounding by
    /// FPCR (Arm FixedToFP).
    FromInt {
        /// Signed operand.
        signed: bool,
        /// Fraction bits of a fixed-point operand.
        fbits: u8,
    },
}

impl FpOp {
    /// Number of value operands (the FPCR operand not counted).
    pub const fn arity(self) -> usize {
        match self {
            FpOp::Sqrt
            | FpOp::RoundInt(..)
            | FpOp::Convert
            | FpOp::ConvertOdd
            | FpOp::RecipEst
            | FpOp::RSqrtEst
            | FpOp::RecpX
            | FpOp::ToInt { .. }
            | FpOp::FromInt { .. } => 1,
            FpOp::MulAdd => 3,
            _ => 2,
        }
    }
}

fn round_of(r: FpRounding, fpcr: u64) -> Round {
    match r {
        FpRounding::TiesEven => Round::NearestTiesToEven,
        FpRounding::PosInf => Round::TowardPositive,
        FpRounding::NegInf => Round::TowardNegative,
        FpRounding::Zero => Round::TowardZero,
        FpRounding::TiesAway => Round::NearestTiesToAway,
        FpRounding::Fpcr => match (fpcr >> FPCR_RMODE_SHIFT) & 3 {
            0 => Round::NearestTiesToEven,
            1 => Round::TowardPositive,
            2 => Round::TowardNegative,
            _ => Round::TowardZero,
        },
    }
}

fn flags_of(s: Status) -> u64 {
    let mut f = 0;
    if s.contains(Status::INVALID_OP) {
        f |= IOC;
    }
    if s.contains(Status::DIV_BY_ZERO) {
        f |= DZC;
    }
    if s.contains(Status::OVERFLOW) {
        f |= OFC;
    }
    if s.contains(Status::UNDERFLOW) {
        f |= UFC;
    }
    if s.contains(Status::INEXACT) {
        f |= IXC;
    }
    f
}

/// A format with the precision of half, single or double precision and a
/// 15-bit exponent: results rounded in it are the Arm `FPRoundBase`
/// results with an unbounded exponent range (no operation on the narrow
/// formats overflows or underflows it).
macro_rules! wide_format {
    ($($s:ident, $t:ident, $frac:expr;)*) => {$(
        struct $s;
        impl Semantics for $s {
            const BITS: usize = 1 + 15 + $frac;
            const EXP_BITS: usize = 15;
        }
        type $t = IeeeFloat<$s>;
    )*};
}
wide_format! {
    HalfWideS, HalfWide, 10;
    SingleWideS, SingleWide, 23;
    DoubleWideS, DoubleWide, 52;
}

/// The formats this module computes in.
trait Fmt:
    rustc_apfloat::Float
    + FloatConvert<Half>
    + FloatConvert<Single>
    + FloatConvert<Double>
    + FloatConvert<Quad>
{
    /// Whether FPCR.FZ applies (single and double, not half).
    const FLUSHES: bool;
    /// The same precision with a 15-bit exponent.
    type Wide: rustc_apfloat::Float;
    /// Exact conversion to the wide format.
    fn widen(self) -> Self::Wide;
    /// Rounds a binary128 value to the wide format.
    fn wide_from_quad(q: Quad, rm: Round) -> Self::Wide;
    /// Rounds a wide value to this format.
    fn narrow(w: Self::Wide, rm: Round) -> StatusAnd<Self>;
    /// Exact conversion to binary128.
    fn quad(self) -> Quad;
    fn bits(self) -> u64 {
        self.to_bits() as u64
    }
    fn of(x: u64) -> Self {
        Self::from_bits(x as u128)
    }
    fn quiet_bit() -> u64 {
        1 << (Self::PRECISION - 2)
    }
    fn sign_bit() -> u64 {
        1 << (Self::BITS - 1)
    }
    /// Rounds a double to this format (to nearest, ties to even).
    fn from_double(d: Double) -> Self;
    fn default_nan() -> u64 {
        let exp = ((1u64 << (Self::BITS - Self::PRECISION)) - 1) << (Self::PRECISION - 1);
        exp | Self::quiet_bit()
    }
}
impl Fmt for Half {
    const FLUSHES: bool = false;
    type Wide = HalfWide;
    fn widen(self) -> HalfWide {
        self.convert(&mut false).value
    }
    fn wide_from_quad(q: Quad, rm: Round) -> HalfWide {
        q.convert_r(rm, &mut false).value
    }
    fn narrow(w: HalfWide, rm: Round) -> StatusAnd<Self> {
        w.convert_r(rm, &mut false)
    }
    fn quad(self) -> Quad {
        self.convert(&mut false).value
    }
    fn from_double(d: Double) -> Self {
        d.convert(&mut false).value
    }
}
impl Fmt for Single {
    const FLUSHES: bool = true;
    type Wide = SingleWide;
    fn widen(self) -> SingleWide {
        self.convert(&mut false).value
    }
    fn wide_from_quad(q: Quad, rm: Round) -> SingleWide {
        q.convert_r(rm, &mut false).value
    }
    fn narrow(w: SingleWide, rm: Round) -> StatusAnd<Self> {
        w.convert_r(rm, &mut false)
    }
    fn quad(self) -> Quad {
        self.convert(&mut false).value
    }
    fn from_double(d: Double) -> Self {
        d.convert(&mut false).value
    }
}
impl Fmt for Double {
    const FLUSHES: bool = true;
    type Wide = DoubleWide;
    fn widen(self) -> DoubleWide {
        self.convert(&mut false).value
    }
    fn wide_from_quad(q: Quad, rm: Round) -> DoubleWide {
        q.convert_r(rm, &mut false).value
    }
    fn narrow(w: DoubleWide, rm: Round) -> StatusAnd<Self> {
        w.convert_r(rm, &mut false)
    }
    fn quad(self) -> Quad {
        self.convert(&mut false).value
    }
    fn from_double(d: Double) -> Self {
        d.convert(&mut false).value
    }
}

/// Evaluation context: FPCR in, cumulative flags out.
struct Env {
    fpcr: u64,
    flags: u64,
    /// Set by [`Env::result`] when it flushed a tiny result to zero.
    flushed: bool,
}

impl Env {
    fn round(&self, r: FpRounding) -> Round {
        round_of(r, self.fpcr)
    }

    /// FPUnpack's flush of denormal inputs.
    fn input<F: Fmt>(&mut self, x: u64) -> F {
        let f = F::of(x);
        if F::FLUSHES && self.fpcr & FPCR_FZ != 0 && f.is_denormal() {
            self.flags |= IDC;
            return F::of(x & F::sign_bit());
        }
        f
    }

    /// A NaN result: `x` itself, or the default NaN under FPCR.DN.
    fn nan<F: Fmt>(&self, x: u64) -> u64 {
        if self.fpcr & FPCR_DN != 0 {
            F::default_nan()
        } else {
            x
        }
    }

    /// FPProcessNaNs over any number of operands.
    fn process_nans<F: Fmt>(&mut self, ops: &[F]) -> Option<u64> {
        if let Some(s) = ops.iter().find(|f| f.is_signaling()) {
            self.flags |= IOC;
            return Some(self.nan::<F>(s.bits() | F::quiet_bit()));
        }
        ops.iter()
            .find(|f| f.is_nan())
            .map(|q| self.nan::<F>(q.bits()))
    }

    /// Rounds an arithmetic result `r` (computed in F rounding with `rm`):
    /// records its flags, replaces a NaN made by an invalid operation with
    /// the default NaN, and applies `FPRoundBase`'s overflow, underflow and
    /// flush-to-zero rules. `wide(m)` recomputes the operation in the wide
    /// format rounding with `m`; it is called only for results at the edges
    /// of the range.
    fn result<F: Fmt>(
        &mut self,
        r: StatusAnd<F>,
        rm: Round,
        wide: impl Fn(Round) -> F::Wide,
    ) -> u64 {
        let v = r.value;
        if v.is_nan() {
            self.flags |= flags_of(r.status) | IOC;
            return F::default_nan();
        }
        // Underflow is decided below, from tininess before rounding.
        let mut status = r.status - Status::UNDERFLOW;
        let inexact = status.contains(Status::INEXACT);
        let mag = v.abs();
        if inexact && mag == F::largest() && !status.contains(Status::OVERFLOW) {
            // Directed rounding gave the largest finite number: overflow if
            // the result rounded with an unbounded exponent is larger.
            if wide(rm).abs() > F::largest().widen() {
                status |= Status::OVERFLOW;
            }
        }
        let min = F::smallest_normalized();
        if mag < min && (inexact || !v.is_zero()) || mag == min && inexact {
            // Tiny before rounding: the exact result is below the smallest
            // normal, i.e. so is the exact result rounded towards zero.
            if wide(Round::TowardZero).abs() < min.widen() {
                if F::FLUSHES && self.fpcr & FPCR_FZ != 0 {
                    self.flags |= UFC;
                    self.flushed = true;
                    return v.bits() & F::sign_bit();
                }
                if inexact {
                    status |= Status::UNDERFLOW;
                }
            }
        }
        self.flags |= flags_of(status);
        v.bits()
    }
}

/// Arm `FPConvertNaN`: keeps the sign and the top fraction bits, sets the
/// quiet bit.
fn convert_nan<F: Fmt, G: Fmt>(x: u64) -> u64 {
    let frac_f = F::PRECISION - 1;
    let frac_g = G::PRECISION - 1;
    let frac = x & ((1u64 << frac_f) - 1);
    let frac = if frac_f >= frac_g {
        frac >> (frac_f - frac_g)
    } else {
        frac << (frac_g - frac_f)
    };
    let sign = if x & F::sign_bit() != 0 {
        G::sign_bit()
    } else {
        0
    };
    sign | G::default_nan() | frac
}

fn cmp_nzcv<F: Fmt>(env: &mut Env, a: F, b: F, signalling: bool) -> u64 {
    if a.is_nan() || b.is_nan() {
        if signalling || a.is_signaling() || b.is_signaling() {
            env.flags |= IOC;
        }
        return 0x3000_0000;
    }
    match a.partial_cmp(&b) {
        Some(core::cmp::Ordering::Equal) => 0x6000_0000,
        Some(core::cmp::Ordering::Less) => 0x8000_0000,
        _ => 0x2000_0000,
    }
}

/// Square root rounded in `round`: the host's correctly rounded result,
/// then adjusted one ulp for directed modes by checking r*r against the
/// operand exactly in binary128.
fn sqrt<F: Fmt>(a: F, round: Round) -> StatusAnd<F> {
    let mut lost = false;
    let d: Double = a.convert(&mut lost).value;
    let host = f64::from_bits(d.to_bits() as u64).sqrt();
    let mut r = F::from_double(Double::from_bits(host.to_bits() as u128));
    let exact = |r: F| {
        let mut l = false;
        let rq: Quad = r.convert(&mut l).value;
        let aq: Quad = a.convert(&mut l).value;
        let sq = rq.mul_r(rq, Round::NearestTiesToEven).value;
        sq.partial_cmp(&aq)
    };
    use core::cmp::Ordering::*;
    match exact(r) {
        Some(Equal) => return Status::OK.and(r),
        Some(Greater) if matches!(round, Round::TowardNegative | Round::TowardZero) => {
            r = r.next_down().value
        }
        Some(Less) if round == Round::TowardPositive => r = r.next_up().value,
        _ => {}
    }
    Status::INEXACT.and(r)
}

/// Evaluates an op whose operands are all of format `F` (everything but
/// `FromInt`), producing a result of `out_bits` bits.
fn eval_in<F: Fmt>(env: &mut Env, op: FpOp, out_bits: u32, args: [u64; 3]) -> u64 {
    let rm = env.round(FpRounding::Fpcr);
    let a: F = env.input(args[0]);
    match op {
        FpOp::Add | FpOp::Sub | FpOp::Mul | FpOp::Div | FpOp::NMul => {
            let b: F = env.input(args[1]);
            let r = if let Some(n) = env.process_nans(&[a, b]) {
                n
            } else {
                let (aw, bw) = (a.widen(), b.widen());
                match op {
                    FpOp::Add => env.result(a.add_r(b, rm), rm, |m| aw.add_r(bw, m).value),
                    FpOp::Sub => env.result(a.sub_r(b, rm), rm, |m| aw.sub_r(bw, m).value),
                    FpOp::Div => env.result(a.div_r(b, rm), rm, |m| aw.div_r(bw, m).value),
                    _ => env.result(a.mul_r(b, rm), rm, |m| aw.mul_r(bw, m).value),
                }
            };
            if op == FpOp::NMul {
                r ^ F::sign_bit()
            } else {
                r
            }
        }
        FpOp::Max | FpOp::Min | FpOp::MaxNum | FpOp::MinNum => {
            let mut a = a;
            let mut b: F = env.input(args[1]);
            let max = matches!(op, FpOp::Max | FpOp::MaxNum);
            if matches!(op, FpOp::MaxNum | FpOp::MinNum) {
                // A quiet NaN against a number: the number wins.
                let lose = if max { -F::INFINITY } else { F::INFINITY };
                if a.is_nan() && !a.is_signaling() && !b.is_nan() {
                    a = lose;
                } else if b.is_nan() && !b.is_signaling() && !a.is_nan() {
                    b = lose;
                }
            }
            if let Some(n) = env.process_nans(&[a, b]) {
                return n;
            }
            let pick_a = if a.is_zero() && b.is_zero() {
                // +0 is larger than -0.
                a.is_negative() != max
            } else if max {
                a > b
            } else {
                a < b
            };
            if pick_a { a.bits() } else { b.bits() }
        }
        FpOp::Sqrt => {
            if let Some(n) = env.process_nans(&[a]) {
                return n;
            }
            if a.is_zero() || (a.is_infinite() && !a.is_negative()) {
                return a.bits();
            }
            if a.is_negative() {
                env.flags |= IOC;
                return F::default_nan();
            }
            // A square root is never tiny nor too large: `wide` is unused.
            let aw = a.widen();
            env.result(sqrt(a, rm), rm, |_| aw)
        }
        FpOp::MulAdd => {
            let b: F = env.input(args[1]);
            let c: F = env.input(args[2]);
            let inf_times_zero =
                (b.is_infinite() && c.is_zero()) || (b.is_zero() && c.is_infinite());
            if a.is_nan() && !a.is_signaling() && inf_times_zero {
                env.flags |= IOC;
                return F::default_nan();
            }
            if let Some(n) = env.process_nans(&[a, b, c]) {
                return n;
            }
            let (aw, bw, cw) = (a.widen(), b.widen(), c.widen());
            env.result(b.mul_add_r(c, a, rm), rm, |m| bw.mul_add_r(cw, aw, m).value)
        }
        FpOp::Cmp | FpOp::CmpE => {
            let b: F = env.input(args[1]);
            cmp_nzcv(env, a, b, op == FpOp::CmpE)
        }
        FpOp::CmEq | FpOp::CmGe | FpOp::CmGt => {
            let b: F = env.input(args[1]);
            let nzcv = cmp_nzcv(env, a, b, op != FpOp::CmEq);
            let t = match op {
                FpOp::CmEq => nzcv == 0x6000_0000,
                FpOp::CmGe => nzcv == 0x6000_0000 || nzcv == 0x2000_0000,
                _ => nzcv == 0x2000_0000,
            };
            if t { u64::MAX >> (64 - F::BITS) } else { 0 }
        }
        FpOp::RoundInt(r, exact) => {
            if let Some(n) = env.process_nans(&[a]) {
                return n;
            }
            if a.is_infinite() || a.is_zero() {
                return a.bits();
            }
            let v = a.round_to_integral(env.round(r)).value;
            if exact && v.bits() != a.bits() {
                env.flags |= IXC;
            }
            // A value that rounds to zero keeps its sign.
            if v.is_zero() {
                a.bits() & F::sign_bit()
            } else {
                v.bits()
            }
        }
        FpOp::MulX | FpOp::RecipStep | FpOp::RSqrtStep => {
            let a = if op == FpOp::MulX {
                a
            } else {
                F::of(a.bits() ^ F::sign_bit())
            };
            let b: F = env.input(args[1]);
            if let Some(n) = env.process_nans(&[a, b]) {
                return n;
            }
            let sign = (a.is_negative() != b.is_negative()) as u64 * F::sign_bit();
            let two = F::from_u128(2).value;
            if (a.is_infinite() && b.is_zero()) || (a.is_zero() && b.is_infinite()) {
                return match op {
                    FpOp::MulX => two.bits() | sign,
                    FpOp::RecipStep => two.bits(),
                    _ => F::from_u128(3).value.div_r(two, rm).value.bits(),
                };
            }
            if a.is_infinite() || b.is_infinite() {
                return F::INFINITY.bits() | sign;
            }
            let (aw, bw) = (a.widen(), b.widen());
            match op {
                FpOp::MulX => env.result(a.mul_r(b, rm), rm, |m| aw.mul_r(bw, m).value),
                FpOp::RecipStep => {
                    let two_w = two.widen();
                    let r = a.mul_add_r(b, two, rm);
                    env.result(r, rm, |m| aw.mul_add_r(bw, two_w, m).value)
                }
                _ => {
                    // Round once, with an unbounded exponent: for single
                    // and double, 3 + a * b is either zero or far from the
                    // subnormal range, so halving it is exact, and so is
                    // narrowing it unless it is out of F's range. (Half
                    // precision, FEAT_FP16, is not advertised; there a
                    // subnormal result would be rounded twice.)
                    let three = F::from_u128(3).value.widen();
                    let step = |m| {
                        let sum = aw.mul_add_r(bw, three, m);
                        sum.map(|x| x.scalbn(-1))
                    };
                    let w = step(rm);
                    let r = F::narrow(w.value, rm);
                    let r = (r.status | w.status).and(r.value);
                    env.result(r, rm, |m| step(m).value)
                }
            }
        }
        FpOp::RecipEst => recip_estimate(env, a, args[0]),
        FpOp::RSqrtEst => rsqrt_estimate(env, a, args[0]),
        FpOp::RecpX => {
            if let Some(n) = env.process_nans(&[a]) {
                return n;
            }
            let frac_bits = F::PRECISION - 1;
            let exp_mask = ((1u64 << (F::BITS - F::PRECISION)) - 1) << frac_bits;
            let exp = args[0] & exp_mask;
            let sign = args[0] & F::sign_bit();
            if exp == 0 {
                sign | (exp_mask & !(1 << frac_bits))
            } else {
                sign | (!exp & exp_mask)
            }
        }
        FpOp::ConvertOdd => {
            if a.is_nan() {
                if a.is_signaling() {
                    env.flags |= IOC;
                }
                return env.nan::<Single>(convert_nan::<F, Single>(a.bits()));
            }
            // Round to odd: truncate, then set the lowest bit if inexact.
            // It overflows (to the largest finite number) exactly when
            // rounding towards zero does.
            let mut lost = false;
            let r: StatusAnd<Single> = a.convert_r(Round::TowardZero, &mut lost);
            let inexact = r.status.contains(Status::INEXACT);
            let aq = a.quad();
            let v = env.result(r, Round::TowardZero, |m| Single::wide_from_quad(aq, m));
            if inexact && !env.flushed { v | 1 } else { v }
        }
        FpOp::Convert if env.fpcr & FPCR_AHP != 0 && F::BITS == 16 => match out_bits {
            32 => from_alt_half::<F, Single>(env, a, args[0], rm),
            _ => from_alt_half::<F, Double>(env, a, args[0], rm),
        },
        FpOp::Convert if env.fpcr & FPCR_AHP != 0 && out_bits == 16 => to_alt_half(env, a, rm),
        FpOp::Convert => match out_bits {
            16 => convert::<F, Half>(env, a, rm),
            32 => convert::<F, Single>(env, a, rm),
            _ => convert::<F, Double>(env, a, rm),
        },
        FpOp::ToInt {
            signed,
            rounding,
            fbits,
        } => to_int(env, a, signed, env.round(rounding), fbits, out_bits),
        FpOp::FromInt { .. } => unreachable!("FromInt takes an integer operand"),
    }
}

/// Fraction (52 bits, double layout) and biased exponent of `bits`.
fn unpack_fields<F: Fmt>(bits: u64) -> (u64, i64) {
    let fb = F::PRECISION - 1;
    let frac = (bits & ((1u64 << fb) - 1)) << (52 - fb);
    let exp = ((bits >> fb) & ((1u64 << (F::BITS - F::PRECISION)) - 1)) as i64;
    (frac, exp)
}

/// Assembles sign, biased exponent and a 52-bit fraction in format F.
fn pack_fields<F: Fmt>(sign: bool, exp: i64, frac: u64) -> u64 {
    let fb = F::PRECISION - 1;
    (sign as u64 * F::sign_bit()) | ((exp as u64) << fb) | (frac >> (52 - fb))
}

/// Arm `FPRecipEstimate`.
fn recip_estimate<F: Fmt>(env: &mut Env, a: F, raw: u64) -> u64 {
    if let Some(n) = env.process_nans(&[a]) {
        return n;
    }
    let sign = a.is_negative();
    let sb = sign as u64 * F::sign_bit();
    if a.is_infinite() {
        return sb;
    }
    if a.is_zero() {
        env.flags |= DZC;
        return F::INFINITY.bits() | sb;
    }
    let bias = (1i32 << (F::BITS - F::PRECISION - 1)) - 1;
    let tiny = F::from_u128(1).value.scalbn(-(bias + 1)); // 2^-(bias+1)
    if a.abs() < tiny {
        let to_inf = match (env.fpcr >> FPCR_RMODE_SHIFT) & 3 {
            0 => true,
            1 => !sign,
            2 => sign,
            _ => false,
        };
        env.flags |= OFC | IXC;
        return if to_inf {
            F::INFINITY.bits() | sb
        } else {
            F::largest().bits() | sb
        };
    }
    let big = F::from_u128(1).value.scalbn(bias - 1); // 2^(bias-1)
    if F::FLUSHES && env.fpcr & FPCR_FZ != 0 && a.abs() >= big {
        env.flags |= UFC;
        return sb;
    }
    let (mut frac, mut exp) = unpack_fields::<F>(raw);
    if exp == 0 {
        if frac >> 51 & 1 == 0 {
            exp = -1;
            frac = (frac << 2) & ((1 << 52) - 1);
        } else {
            frac = (frac << 1) & ((1 << 52) - 1);
        }
    }
    let scaled = 256 | (frac >> 44) as u32;
    let mut result_exp = 2 * bias as i64 - 1 - exp;
    let est = crate::vector::recip_estimate(scaled) as u64;
    let mut frac = (est & 0xff) << 44;
    if result_exp == 0 {
        frac = (1 << 51) | (frac >> 1);
    } else if result_exp == -1 {
        frac = (1 << 50) | (frac >> 2);
        result_exp = 0;
    }
    pack_fields::<F>(sign, result_exp, frac)
}

/// Arm `FPRSqrtEstimate`.
fn rsqrt_estimate<F: Fmt>(env: &mut Env, a: F, raw: u64) -> u64 {
    if let Some(n) = env.process_nans(&[a]) {
        return n;
    }
    if a.is_zero() {
        env.flags |= DZC;
        return F::INFINITY.bits() | (a.is_negative() as u64 * F::sign_bit());
    }
    if a.is_negative() {
        env.flags |= IOC;
        return F::default_nan();
    }
    if a.is_infinite() {
        return 0;
    }
    let bias = (1i64 << (F::BITS - F::PRECISION - 1)) - 1;
    let (mut frac, mut exp) = unpack_fields::<F>(raw);
    if exp == 0 {
        while frac >> 51 & 1 == 0 {
            frac = (frac << 1) & ((1 << 52) - 1);
            exp -= 1;
        }
        frac = (frac << 1) & ((1 << 52) - 1);
    }
    let scaled = if exp & 1 == 0 {
        256 | (frac >> 44) as u32
    } else {
        128 | (frac >> 45) as u32
    };
    let result_exp = (3 * bias - 1 - exp).div_euclid(2);
    let est = crate::vector::recip_sqrt_estimate(scaled) as u64;
    pack_fields::<F>(false, result_exp, (est & 0xff) << 44)
}

fn convert<F: Fmt + FloatConvert<G>, G: Fmt>(env: &mut Env, a: F, rm: Round) -> u64 {
    if a.is_nan() {
        if a.is_signaling() {
            env.flags |= IOC;
        }
        return env.nan::<G>(convert_nan::<F, G>(a.bits()));
    }
    let mut lost = false;
    let r: StatusAnd<G> = a.convert_r(rm, &mut lost);
    let aq = a.quad();
    env.result(r, rm, |m| G::wide_from_quad(aq, m))
}

/// FPCR.AHP: a half-precision operand `raw` in the alternative format,
/// where exponent 31 encodes normal numbers (2^16 to 131008) instead of
/// infinities and NaNs (`FPUnpackCV`), converted to G.
fn from_alt_half<F: Fmt + FloatConvert<G>, G: Fmt>(
    env: &mut Env,
    a: F,
    raw: u64,
    rm: Round,
) -> u64 {
    if raw >> 10 & 0x1f != 0x1f {
        return convert::<F, G>(env, a, rm);
    }
    let v = G::from_u128(1024 + (raw & 0x3ff) as u128).value.scalbn(6);
    let v = if raw & 0x8000 != 0 { -v } else { v };
    v.bits()
}

/// FPCR.AHP: conversion to the alternative half-precision format
/// (`FPConvert`, `FPRoundBase`): NaNs give zero and infinities the largest
/// number, both with IOC; exponent 31 holds normal numbers, and a result
/// too large for it is the largest number with IOC (and not IXC).
fn to_alt_half<F: Fmt>(env: &mut Env, a: F, rm: Round) -> u64 {
    let sign = if a.is_negative() { 0x8000 } else { 0 };
    if a.is_nan() || a.is_infinite() {
        env.flags |= IOC;
        return if a.is_nan() { sign } else { sign | 0x7fff };
    }
    let w: StatusAnd<HalfWide> = a.quad().convert_r(rm, &mut false);
    let two16 = HalfWide::from_u128(1 << 16).value;
    let mag = w.value.abs();
    if mag < two16 {
        // Below 2^16 both formats agree (and IEEE rounding cannot overflow).
        return convert::<F, Half>(env, a, rm);
    }
    if mag >= two16.scalbn(1) {
        env.flags |= IOC;
        return sign | 0x7fff;
    }
    if w.status.contains(Status::INEXACT) {
        env.flags |= IXC;
    }
    // 2^16 <= mag < 2^17: the significand is mag / 2^6, in 1024..=2047.
    let sig = mag.scalbn(-6).to_u128(11).value as u64;
    sign | 0x7c00 | (sig - 1024)
}

fn to_int<F: Fmt>(env: &mut Env, a: F, signed: bool, rm: Round, fbits: u8, out_bits: u32) -> u64 {
    let (min, max): (i128, i128) = if signed {
        (-(1i128 << (out_bits - 1)), (1i128 << (out_bits - 1)) - 1)
    } else {
        (0, (1i128 << out_bits) - 1)
    };
    let mask = u64::MAX >> (64 - out_bits);
    if a.is_nan() {
        env.flags |= IOC;
        return 0;
    }
    // Scaling by a power of two is exact in binary128.
    let mut lost = false;
    let q: Quad = a.convert(&mut lost).value;
    let q = q.scalbn(fbits as i32);
    let saturate = |env: &mut Env, v: i128| {
        env.flags |= IOC;
        v as u64 & mask
    };
    if q.is_infinite() {
        return saturate(env, if q.is_negative() { min } else { max });
    }
    let r = q.round_to_integral(rm).value;
    if !r.is_zero() && r.ilogb() >= 127 {
        return saturate(env, if r.is_negative() { min } else { max });
    }
    let mut exact = false;
    let v = r.to_i128_r(128, Round::TowardZero, &mut exact).value;
    if v < min {
        return saturate(env, min);
    }
    if v > max {
        return saturate(env, max);
    }
    if r.to_bits() != q.to_bits() {
        env.flags |= IXC;
    }
    v as u64 & mask
}

fn from_int<G: Fmt>(env: &mut Env, x: i128, fbits: u8) -> u64 {
    let rm = env.round(FpRounding::Fpcr);
    // Round once to G, then scale: scaling by 2^-fbits (fbits <= 64) is
    // exact for single and double (no underflow).
    let r = G::from_i128_r(x, rm);
    let v = r.value.scalbn(-(fbits as i32));
    // x / 2^fbits is exact in binary128 (|x| < 2^64).
    let q = Quad::from_i128(x).value.scalbn(-(fbits as i32));
    env.result(r.status.and(v), rm, |m| G::wide_from_quad(q, m))
}

/// Evaluates `op` on operands of `in_bits` bits (the width of the first
/// operand's type) giving a result of `out_bits` bits, under `fpcr`.
/// Returns the result and the FPSR cumulative flags it raises.
pub fn eval(op: FpOp, in_bits: u32, out_bits: u32, fpcr: u64, args: [u64; 3]) -> (u64, u64) {
    let mut env = Env {
        fpcr,
        flags: 0,
        flushed: false,
    };
    let r = if let FpOp::FromInt { signed, fbits } = op {
        let x = args[0] & (u64::MAX >> (64 - in_bits));
        let x = if signed {
            (((x << (64 - in_bits)) as i64) >> (64 - in_bits)) as i128
        } else {
            x as i128
        };
        match out_bits {
            16 => from_int::<Half>(&mut env, x, fbits),
            32 => from_int::<Single>(&mut env, x, fbits),
            _ => from_int::<Double>(&mut env, x, fbits),
        }
    } else {
        match in_bits {
            16 => eval_in::<Half>(&mut env, op, out_bits, args),
            32 => eval_in::<Single>(&mut env, op, out_bits, args),
            _ => eval_in::<Double>(&mut env, op, out_bits, args),
        }
    };
    (r, env.flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DNAN: u64 = 0x7ff8_0000_0000_0000;
    fn d(x: f64) -> u64 {
        x.to_bits()
    }
    fn s(x: f32) -> u64 {
        x.to_bits() as u64
    }
    fn e64(op: FpOp, a: u64, b: u64) -> (u64, u64) {
        eval(op, 64, 64, 0, [a, b, 0])
    }

    #[test]
    fn arithmetic_and_flags() {
        assert_eq!(e64(FpOp::Add, d(1.5), d(2.25)), (d(3.75), 0));
        assert_eq!(e64(FpOp::Div, d(1.0), d(3.0)), (d(1.0 / 3.0), IXC));
        assert_eq!(e64(FpOp::Div, d(1.0), d(0.0)), (d(f64::INFINITY), DZC));
        assert_eq!(e64(FpOp::Div, d(0.0), d(0.0)), (DNAN, IOC));
        assert_eq!(
            e64(FpOp::Sub, d(f64::INFINITY), d(f64::INFINITY)),
            (DNAN, IOC)
        );
        assert_eq!(
            e64(FpOp::Mul, d(f64::MAX), d(2.0)),
            (d(f64::INFINITY), OFC | IXC)
        );
        assert_eq!(e64(FpOp::NMul, d(2.0), d(3.0)).0, d(-6.0));
        let r = eval(FpOp::Add, 32, 32, 0, [s(0.1), s(0.2), 0]);
        assert_eq!(r, (s(0.1f32 + 0.2f32), IXC));
    }

    #[test]
    fn nan_propagation_follows_arm() {
        let qa = 0x7ff8_0000_0000_00aa;
        let qb = 0x7ff8_0000_0000_00bb;
        let sb = 0x7ff0_0000_0000_00bb;
        // First quiet NaN wins when no signalling NaN.
        assert_eq!(e64(FpOp::Add, qa, qb), (qa, 0));
        // A signalling NaN wins over an earlier quiet NaN, quieted.
        assert_eq!(e64(FpOp::Add, qa, sb), (0x7ff8_0000_0000_00bb, IOC));
        // Default NaN mode.
        assert_eq!(eval(FpOp::Add, 64, 64, FPCR_DN, [qa, d(1.0), 0]), (DNAN, 0));
        // FNMUL negates even a NaN.
        assert_eq!(e64(FpOp::NMul, qa, d(1.0)).0, qa | 1 << 63);
        // MulAdd: quiet NaN addend with inf*0 is invalid.
        let r = eval(FpOp::MulAdd, 64, 64, 0, [qa, d(f64::INFINITY), d(0.0)]);
        assert_eq!(r, (DNAN, IOC));
    }

    #[test]
    fn max_min_and_num_variants() {
        assert_eq!(e64(FpOp::Max, d(-0.0), d(0.0)).0, d(0.0));
        assert_eq!(e64(FpOp::Min, d(0.0), d(-0.0)).0, d(-0.0));
        let q = 0x7ff8_0000_0000_0001;
        assert_eq!(e64(FpOp::Max, q, d(1.0)).0, q);
        assert_eq!(e64(FpOp::MaxNum, q, d(1.0)).0, d(1.0));
        assert_eq!(e64(FpOp::MinNum, d(1.0), q).0, d(1.0));
    }

    #[test]
    fn compares() {
        assert_eq!(e64(FpOp::Cmp, d(1.0), d(2.0)), (0x8000_0000, 0));
        assert_eq!(e64(FpOp::Cmp, d(2.0), d(2.0)), (0x6000_0000, 0));
        assert_eq!(e64(FpOp::Cmp, d(3.0), d(2.0)), (0x2000_0000, 0));
        assert_eq!(e64(FpOp::Cmp, DNAN, d(2.0)), (0x3000_0000, 0));
        assert_eq!(e64(FpOp::CmpE, DNAN, d(2.0)), (0x3000_0000, IOC));
        assert_eq!(e64(FpOp::CmGe, d(2.0), d(2.0)).0, u64::MAX);
        assert_eq!(eval(FpOp::CmGt, 32, 32, 0, [s(1.0), s(2.0), 0]).0, 0);
    }

    #[test]
    fn conversions_saturate() {
        let zs = |signed| FpOp::ToInt {
            signed,
            rounding: FpRounding::Zero,
            fbits: 0,
        };
        assert_eq!(
            eval(zs(true), 64, 32, 0, [d(-2.7), 0, 0]),
            (0xffff_fffe, IXC)
        );
        assert_eq!(
            eval(zs(true), 64, 32, 0, [d(1e10), 0, 0]),
            (0x7fff_ffff, IOC)
        );
        assert_eq!(eval(zs(true), 64, 64, 0, [DNAN, 0, 0]), (0, IOC));
        assert_eq!(eval(zs(false), 64, 32, 0, [d(-1.0), 0, 0]), (0, IOC));
        assert_eq!(eval(zs(false), 64, 64, 0, [d(-0.5), 0, 0]), (0, IXC));
        assert_eq!(
            eval(zs(true), 64, 64, 0, [d(f64::NEG_INFINITY), 0, 0]).0,
            1 << 63
        );
        let near = FpOp::ToInt {
            signed: true,
            rounding: FpRounding::TiesEven,
            fbits: 0,
        };
        assert_eq!(eval(near, 64, 64, 0, [d(2.5), 0, 0]).0, 2);
        let away = FpOp::ToInt {
            signed: true,
            rounding: FpRounding::TiesAway,
            fbits: 0,
        };
        assert_eq!(eval(away, 64, 64, 0, [d(-2.5), 0, 0]).0, -3i64 as u64);
        // Fixed point: 1.5 with 4 fraction bits is 24.
        let fx = FpOp::ToInt {
            signed: true,
            rounding: FpRounding::Zero,
            fbits: 4,
        };
        assert_eq!(eval(fx, 64, 32, 0, [d(1.5), 0, 0]).0, 24);
        let from = |signed, fbits| FpOp::FromInt { signed, fbits };
        assert_eq!(
            eval(from(true, 0), 32, 64, 0, [0xffff_ffff, 0, 0]).0,
            d(-1.0)
        );
        assert_eq!(
            eval(from(false, 0), 32, 64, 0, [0xffff_ffff, 0, 0]).0,
            d(4294967295.0)
        );
        assert_eq!(eval(from(true, 4), 64, 64, 0, [24, 0, 0]).0, d(1.5));
        let big = (1u64 << 53) + 1;
        assert_eq!(
            eval(from(false, 0), 64, 64, 0, [big, 0, 0]),
            (d(9007199254740992.0), IXC)
        );
        // Round towards +inf from FPCR.RMode = 01.
        let rp = 1 << FPCR_RMODE_SHIFT;
        assert_eq!(
            eval(from(false, 0), 64, 64, rp, [big, 0, 0]).0,
            d(9007199254740994.0)
        );
    }

    #[test]
    fn precision_conversion_and_nans() {
        assert_eq!(eval(FpOp::Convert, 32, 64, 0, [s(1.5), 0, 0]), (d(1.5), 0));
        assert_eq!(
            eval(FpOp::Convert, 64, 32, 0, [d(0.1), 0, 0]),
            (s(0.1), IXC)
        );
        // Signalling NaN single -> double: quieted, payload moved up.
        let r = eval(FpOp::Convert, 32, 64, 0, [0x7f80_0001, 0, 0]);
        assert_eq!(r, (0x7ff8_0000_2000_0000, IOC));
        assert_eq!(eval(FpOp::Convert, 64, 16, 0, [d(1.0), 0, 0]).0, 0x3c00);
    }

    #[test]
    fn rounding_to_integral() {
        let ri = |r, x| eval(FpOp::RoundInt(r, false), 64, 64, 0, [d(x), 0, 0]).0;
        assert_eq!(ri(FpRounding::TiesEven, 2.5), d(2.0));
        assert_eq!(ri(FpRounding::TiesAway, 2.5), d(3.0));
        assert_eq!(ri(FpRounding::NegInf, -0.5), d(-1.0));
        assert_eq!(ri(FpRounding::PosInf, -0.5), d(-0.0));
        assert_eq!(ri(FpRounding::Zero, 7.9), d(7.0));
        let x = eval(
            FpOp::RoundInt(FpRounding::Fpcr, true),
            64,
            64,
            0,
            [d(1.25), 0, 0],
        );
        assert_eq!(x, (d(1.0), IXC));
    }

    #[test]
    fn sqrt_rounds_in_every_mode() {
        assert_eq!(e64(FpOp::Sqrt, d(4.0), 0), (d(2.0), 0));
        assert_eq!(e64(FpOp::Sqrt, d(-1.0), 0), (DNAN, IOC));
        assert_eq!(e64(FpOp::Sqrt, d(-0.0), 0), (d(-0.0), 0));
        let (r, f) = e64(FpOp::Sqrt, d(2.0), 0);
        assert_eq!((r, f), (d(2f64.sqrt()), IXC));
        // sqrt(2) rounded to nearest is above the true value, so rounding
        // down gives the next smaller double.
        let down = eval(FpOp::Sqrt, 64, 64, 2 << FPCR_RMODE_SHIFT, [d(2.0), 0, 0]).0;
        let up = eval(FpOp::Sqrt, 64, 64, 1 << FPCR_RMODE_SHIFT, [d(2.0), 0, 0]).0;
        assert_eq!(up - down, 1);
        assert!(down == d(2f64.sqrt()) || up == d(2f64.sqrt()));
    }

    #[test]
    fn flush_to_zero() {
        let tiny = 1u64; // smallest denormal
        assert_eq!(
            eval(FpOp::Add, 64, 64, FPCR_FZ, [tiny, d(0.0), 0]),
            (0, IDC)
        );
        let r = eval(
            FpOp::Mul,
            64,
            64,
            FPCR_FZ,
            [d(f64::MIN_POSITIVE), d(0.5), 0],
        );
        assert_eq!(r, (0, UFC));
    }

    #[test]
    fn overflow_under_directed_rounding() {
        let rz = 3 << FPCR_RMODE_SHIFT;
        let rm = 2 << FPCR_RMODE_SHIFT;
        let max = d(f64::MAX);
        // Overflow towards zero: the largest number, with OFC.
        assert_eq!(
            eval(FpOp::Mul, 64, 64, rz, [max, d(2.0), 0]),
            (max, OFC | IXC)
        );
        // Towards minus infinity, a positive overflow stays finite and a
        // negative one becomes -inf.
        assert_eq!(eval(FpOp::Add, 64, 64, rm, [max, max, 0]), (max, OFC | IXC));
        assert_eq!(
            eval(FpOp::Add, 64, 64, rm, [d(-f64::MAX), d(-f64::MAX), 0]),
            (d(f64::NEG_INFINITY), OFC | IXC)
        );
        // Half an ulp above the largest number (below 2^1024): rounding
        // towards zero gives it back without overflow.
        let half_ulp = d(2f64.powi(970));
        assert_eq!(eval(FpOp::Add, 64, 64, rz, [max, half_ulp, 0]).1, IXC);
        // One ulp above is 2^1024 exactly: an overflow.
        let ulp = d(2f64.powi(971));
        assert_eq!(eval(FpOp::Add, 64, 64, rz, [max, ulp, 0]), (max, OFC | IXC));
        // Round to odd (FCVTXN) overflows like rounding towards zero.
        let r = eval(FpOp::ConvertOdd, 64, 32, 0, [max, 0, 0]);
        assert_eq!(r, (s(f32::MAX), OFC | IXC));
    }

    #[test]
    fn tininess_is_detected_before_rounding() {
        let min = f64::MIN_POSITIVE;
        // 2^-1022 + (-2^-600) * 2^-600 = 2^-1022 - 2^-1200 is tiny but
        // rounds to the smallest normal.
        let a = d(min);
        let b = d(-(2f64.powi(-600)));
        let c = d(2f64.powi(-600));
        assert_eq!(eval(FpOp::MulAdd, 64, 64, 0, [a, b, c]), (a, UFC | IXC));
        // With FZ it is flushed to zero, with UFC only.
        assert_eq!(eval(FpOp::MulAdd, 64, 64, FPCR_FZ, [a, b, c]), (0, UFC));
        // An exact subnormal result is no underflow without FZ...
        let half = d(0.5);
        assert_eq!(e64(FpOp::Mul, a, half), (d(min / 2.0), 0));
        // ...and a result that rounds to zero is flushed without IXC.
        let r = eval(
            FpOp::Div,
            64,
            64,
            FPCR_FZ,
            [d(2f64.powi(-1000)), d(2f64.powi(100)), 0],
        );
        assert_eq!(r, (0, UFC));
        let r = eval(
            FpOp::Div,
            64,
            64,
            0,
            [d(2f64.powi(-1000)), d(2f64.powi(100)), 0],
        );
        assert_eq!(r, (0, UFC | IXC));
    }

    #[test]
    fn rsqrt_step_rounds_once_and_reports_inexact() {
        // 3 + (-a) * a for a subnormal a is just below 3: inexact.
        let r = eval(FpOp::RSqrtStep, 64, 64, 0, [0x13, 0x13, 0]);
        assert_eq!(r, (d(1.5), IXC));
        // Towards zero it is the double just below 1.5.
        let rz = 3 << FPCR_RMODE_SHIFT;
        let r = eval(FpOp::RSqrtStep, 64, 64, rz, [0x13, 0x13, 0]);
        assert_eq!(r, (d(1.5) - 1, IXC));
    }

    #[test]
    fn alternative_half_precision() {
        let ahp = FPCR_AHP;
        let cv = |fpcr, a, from, to| eval(FpOp::Convert, from, to, fpcr, [a, 0, 0]);
        // Exponent 31 holds 2^16..131008.
        assert_eq!(cv(ahp, 0x7c00, 16, 32), (s(65536.0), 0));
        assert_eq!(cv(ahp, 0xffff, 16, 64), (d(-131008.0), 0));
        assert_eq!(cv(0, 0x7c00, 16, 32), (s(f32::INFINITY), 0));
        assert_eq!(cv(ahp, s(100000.0), 32, 16), (0x7e1a, IXC));
        assert_eq!(cv(ahp, s(131008.0), 32, 16), (0x7fff, 0));
        // Too large, infinities and NaNs: IOC.
        assert_eq!(cv(ahp, d(1e6), 64, 16), (0x7fff, IOC));
        assert_eq!(cv(ahp, s(f32::NEG_INFINITY), 32, 16), (0xffff, IOC));
        assert_eq!(cv(ahp | FPCR_DN, 0xffc0_0000, 32, 16), (0x8000, IOC));
        // Below 2^16 both formats agree.
        assert_eq!(cv(ahp, s(1.0), 32, 16), (0x3c00, 0));
    }

    #[test]
    fn fused_multiply_add_rounds_once() {
        // (1 + 2^-52) * (1 - 2^-52) - 1 = -2^-104 exactly with one rounding.
        let a = d(1.0 + f64::EPSILON);
        let b = d(1.0 - f64::EPSILON);
        let r = eval(FpOp::MulAdd, 64, 64, 0, [d(-1.0), a, b]).0;
        assert_eq!(f64::from_bits(r), -(2f64.powi(-104)));
    }
}
