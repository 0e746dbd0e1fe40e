//! The IR operations: every guest instruction is lifted to these, and every
//! backend (the interpreter, the JIT tiers) implements exactly these. This
//! file is the one place where an operation is defined; its semantics live
//! in `interp.rs` (the reference) and must be matched by each backend.

use crate::float::FpOp;
use crate::types::Type;
use crate::vector::VecOp;
use core::fmt;

/// A reference to the value produced by an instruction of the same block
/// (its index in [`crate::Block::insts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(pub u32);

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// Integer comparison conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntCC {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Unsigned less than.
    Ult,
    /// Unsigned less or equal.
    Ule,
    /// Unsigned greater than.
    Ugt,
    /// Unsigned greater or equal.
    Uge,
    /// Signed less than.
    Slt,
    /// Signed less or equal.
    Sle,
    /// Signed greater than.
    Sgt,
    /// Signed greater or equal.
    Sge,
}

impl IntCC {
    /// Every condition (for tests that cover them all).
    pub const ALL: [IntCC; 10] = [
        IntCC::Eq,
        IntCC::Ne,
        IntCC::Ult,
        IntCC::Ule,
        IntCC::Ugt,
        IntCC::Uge,
        IntCC::Slt,
        IntCC::Sle,
        IntCC::Sgt,
        IntCC::Sge,
    ];
}

/// The operation of an [`Op::AtomicRmw`] (the Arm LSE atomics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RmwOp {
    /// m + v (LDADD).
    Add,
    /// m & !v (LDCLR).
    Clr,
    /// m ^ v (LDEOR).
    Eor,
    /// m | v (LDSET).
    Set,
    /// Signed maximum (LDSMAX).
    SMax,
    /// Signed minimum (LDSMIN).
    SMin,
    /// Unsigned maximum (LDUMAX).
    UMax,
    /// Unsigned minimum (LDUMIN).
    UMin,
    /// v (SWP).
    Swp,
}

impl RmwOp {
    /// The new memory value for old value `m` and operand `v`, both
    /// `bits` wide (zero-extended).
    pub fn apply(self, m: u128, v: u128, bits: u32) -> u128 {
        let sh = 128 - bits;
        let s = |x: u128| ((x << sh) as i128) >> sh;
        let mask = u128::MAX >> sh;
        (match self {
            RmwOp::Add => m.wrapping_add(v),
            RmwOp::Clr => m & !v,
            RmwOp::Eor => m ^ v,
            RmwOp::Set => m | v,
            RmwOp::SMax => {
                if s(m) >= s(v) {
                    m
                } else {
                    v
                }
            }
            RmwOp::SMin => {
                if s(m) <= s(v) {
                    m
                } else {
                    v
                }
            }
            RmwOp::UMax => m.max(v),
            RmwOp::UMin => m.min(v),
            RmwOp::Swp => v,
        }) & mask
    }
}

/// A function implemented in Rust that IR code may call, for semantics too
/// rare or too complex to express inline (exclusive monitors, counters,
/// crypto). It receives the guest state block and up to four arguments.
pub struct Helper {
    /// Name shown by the IR printer and in diagnostics.
    pub name: &'static str,
    /// The function. `state` points at the guest state block of the thread.
    pub func: unsafe extern "C" fn(state: *mut u8, a0: u64, a1: u64, a2: u64, a3: u64) -> u64,
}

impl fmt::Debug for Helper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A 128-bit constant stored as two words: a `u128` field would align
/// every [`Inst`] to 16 bytes (48 instead of 40), and translations keep
/// their IR for as long as their code lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bits128 {
    lo: u64,
    hi: u64,
}

impl Bits128 {
    /// The constant.
    pub fn get(self) -> u128 {
        ((self.hi as u128) << 64) | self.lo as u128
    }
}

impl From<u128> for Bits128 {
    fn from(x: u128) -> Self {
        Bits128 {
            lo: x as u64,
            hi: (x >> 64) as u64,
        }
    }
}

/// What a [`Op::Fence`] orders. Arm's acquire and release are RCsc: a
/// release store followed by an acquire load stays in that order, which
/// lifters express with a `Full` fence after the release store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FenceKind {
    /// Earlier loads before later loads and stores (after an acquire
    /// load; Arm's `DMB LD`).
    Acquire,
    /// Earlier loads and stores before later stores (before a release
    /// store; Arm's `DMB ST` is weaker).
    Release,
    /// Every earlier access before every later one, stores before loads
    /// included (`DMB`, `DSB`).
    Full,
}

/// One IR operation. Operand types are checked by [`crate::verify`]; the
/// result type is the `ty` of the [`Inst`] holding the op.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// Marks the start of the guest instruction at this address: a fault in
    /// the following ops is reported at this PC.
    GuestInsn(u64),
    /// A scalar constant, truncated to the result type.
    Const(u64),
    /// A 128-bit constant.
    Const128(Bits128),
    /// Read `ty` bytes of the guest state block at `offset`.
    GetState(u32),
    /// Write a value to the guest state block at `offset` (size of its type).
    SetState(u32, Value),

    /// Wrapping addition.
    Add(Value, Value),
    /// Wrapping subtraction.
    Sub(Value, Value),
    /// Wrapping multiplication (low half).
    Mul(Value, Value),
    /// High half of the unsigned double-width product.
    UMulHi(Value, Value),
    /// High half of the signed double-width product.
    SMulHi(Value, Value),
    /// Unsigned division; x/0 = 0 (Arm semantics).
    UDiv(Value, Value),
    /// Signed division; x/0 = 0 and MIN/-1 = MIN (Arm semantics).
    SDiv(Value, Value),
    /// Bitwise and.
    And(Value, Value),
    /// Bitwise or.
    Or(Value, Value),
    /// Bitwise exclusive or.
    Xor(Value, Value),
    /// Shift left; the amount (any integer type) is taken modulo the width.
    Shl(Value, Value),
    /// Logical shift right; amount modulo the width.
    LShr(Value, Value),
    /// Arithmetic shift right; amount modulo the width.
    AShr(Value, Value),
    /// Rotate right; amount modulo the width.
    Ror(Value, Value),
    /// Bitwise not.
    Not(Value),
    /// Two's complement negation.
    Neg(Value),
    /// Count leading zeros.
    Clz(Value),
    /// Count leading sign bits (not counting the sign bit itself).
    Cls(Value),
    /// Reverse bit order.
    Rbit(Value),
    /// Reverse byte order.
    Bswap(Value),
    /// Population count.
    Popcnt(Value),
    /// Zero-extend to the result type.
    ZExt(Value),
    /// Sign-extend to the result type.
    SExt(Value),
    /// Truncate to the result type.
    Trunc(Value),
    /// Compare two integers of the same type; result is `I1`.
    Icmp(IntCC, Value, Value),
    /// `cond ? a : b`; `cond` is `I1`.
    Select(Value, Value, Value),

    /// Arm `AddWithCarry(a, b, carry)` flags, as NZCV in bits 31..28 of
    /// an `I64`. `a` and `b` have the operation width, `carry` is `I1`.
    AddFlags(Value, Value, Value),
    /// Flags of a logical result: N and Z from the value, C = V = 0.
    LogicFlags(Value),
    /// Whether Arm condition code `cond` (0..=15) holds for `nzcv`; `I1`.
    CondHolds(u8, Value),

    /// Load `ty` from guest memory at the `I64` address (little-endian,
    /// any alignment).
    Load(Value),
    /// Store a value to guest memory at the `I64` address.
    Store(Value, Value),
    /// Atomic compare-and-swap on guest memory: `CmpXchg(addr, expected,
    /// new)` stores `new` at the `I64` address if memory holds `expected`,
    /// and returns the value it found (of the type of `expected`).
    /// Sequentially consistent; faults like a store even when the values
    /// differ.
    CmpXchg(Value, Value, Value),
    /// Atomic read-modify-write on guest memory: `AtomicRmw(op, addr,
    /// v)` replaces the value `m` at the `I64` address with `op(m, v)` and
    /// returns `m` (of the type of `v`). Sequentially consistent; faults
    /// like a store.
    AtomicRmw(RmwOp, Value, Value),
    /// Memory barrier: accesses before it and after it keep the order
    /// the kind says.
    Fence(FenceKind),
    /// Call a Rust helper with up to four `I64` (or narrower) arguments;
    /// `nargs` of `args` are used. The result is `I64` or `Void`.
    Call(&'static Helper, [Value; 4], u8),

    /// Lane-wise vector operation on `I128` operands with `esize`-bit
    /// lanes; see [`VecOp`] for which ops are unary, binary or ternary.
    Vector(VecOp, u8, [Value; 3]),
    /// Read lane `idx` of `esize` bits of an `I128` (zero-extended to `ty`).
    ExtractLane(Value, u8, u8),
    /// Replace lane `idx` of `esize` bits of an `I128` with a scalar.
    InsertLane(Value, Value, u8, u8),
    /// Broadcast a scalar to every `esize`-bit lane of an `I128`.
    Dup(Value, u8),

    /// Floating-point operation on the first `op.arity()` operands (bit
    /// patterns in `I16`/`I32`/`I64`, the format given by the type), under
    /// the control word in the last operand (an `I64` in the Arm FPCR
    /// layout: RMode, FZ, DN). The result type is the result format (or
    /// integer width for conversions; `I64` NZCV for compares). Semantics
    /// in [`crate::float`].
    Float(FpOp, [Value; 3], Value),
    /// The FPSR cumulative exception flags (`I64`, Arm FPSR bits IOC..IDC)
    /// that `Float` with the same op, operands and result type `Type`
    /// raises. Lifters OR them into their status register.
    FloatFlags(FpOp, Type, [Value; 3], Value),
}

/// The operands of an op, in order: `$f` is called with a reference to
/// each (`&` or `&mut`, as `$op` is); `$iter` is `iter` or `iter_mut`.
/// One list for [`Op::for_each_operand`] and [`Op::for_each_operand_mut`].
macro_rules! operands {
    ($op:expr, $f:ident, $iter:ident) => {{
        use Op::*;
        match $op {
            GuestInsn(_) | Const(_) | Const128(_) | GetState(_) | Fence(_) => {}
            SetState(_, a)
            | Not(a)
            | Neg(a)
            | Clz(a)
            | Cls(a)
            | Rbit(a)
            | Bswap(a)
            | Popcnt(a)
            | ZExt(a)
            | SExt(a)
            | Trunc(a)
            | LogicFlags(a)
            | CondHolds(_, a)
            | Load(a)
            | ExtractLane(a, _, _)
            | Dup(a, _) => $f(a),
            Add(a, b)
            | Sub(a, b)
            | Mul(a, b)
            | UMulHi(a, b)
            | SMulHi(a, b)
            | UDiv(a, b)
            | SDiv(a, b)
            | And(a, b)
            | Or(a, b)
            | Xor(a, b)
            | Shl(a, b)
            | LShr(a, b)
            | AShr(a, b)
            | Ror(a, b)
            | Icmp(_, a, b)
            | Store(a, b)
            | AtomicRmw(_, a, b)
            | InsertLane(a, b, _, _) => {
                $f(a);
                $f(b)
            }
            Select(a, b, c) | AddFlags(a, b, c) | CmpXchg(a, b, c) => {
                $f(a);
                $f(b);
                $f(c)
            }
            Call(_, args, n) => args[..*n as usize].$iter().for_each(&mut $f),
            Vector(op, _, args) => args[..op.arity()].$iter().for_each(&mut $f),
            Float(op, args, fpcr) | FloatFlags(op, _, args, fpcr) => {
                args[..op.arity()].$iter().for_each(&mut $f);
                $f(fpcr)
            }
        }
    }};
}

impl Op {
    /// Calls `f` on each value operand, in order.
    pub fn for_each_operand(&self, mut f: impl FnMut(Value)) {
        let mut f = |v: &Value| f(*v);
        operands!(self, f, iter)
    }

    /// Calls `f` on each value operand, in order, to replace it.
    pub fn for_each_operand_mut(&mut self, mut f: impl FnMut(&mut Value)) {
        operands!(self, f, iter_mut)
    }

    /// Whether the op has an effect beyond producing its value (so dead
    /// code elimination must keep it).
    pub fn has_side_effect(&self) -> bool {
        matches!(
            self,
            Op::GuestInsn(_)
                | Op::SetState(..)
                | Op::Store(..)
                | Op::CmpXchg(..)
                | Op::AtomicRmw(..)
                | Op::Fence(_)
                | Op::Call(..)
        ) || matches!(self, Op::Load(_)) // a load may fault
    }
}

/// Why a block hands control back to the runtime instead of continuing
/// with more guest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// A system call instruction; the block's `pc` is the next instruction.
    Syscall,
    /// A breakpoint instruction with its immediate; `pc` is the instruction.
    Breakpoint(u16),
    /// An undefined or unimplemented instruction at `pc`.
    Undefined {
        /// The instruction word.
        insn: u32,
        /// True if the architecture leaves the encoding unallocated; false if
        /// it is a real instruction xarch does not implement yet.
        unallocated: bool,
    },
}

/// What an indirect branch is, so backends can predict it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BranchHint {
    /// A plain indirect jump.
    Jump,
    /// A call (link register written).
    Call,
    /// A function return.
    Return,
}

/// How a block ends.
#[derive(Clone, Debug)]
pub enum Terminator {
    /// Continue at a constant guest address.
    Jump(u64),
    /// Continue at a computed guest address.
    JumpDyn(Value, BranchHint),
    /// Continue at `taken` if the `I1` condition holds, else `not_taken`.
    Branch {
        /// The condition.
        cond: Value,
        /// Target when true.
        taken: u64,
        /// Target when false.
        not_taken: u64,
    },
    /// Return to the runtime for it to act; guest PC becomes `pc`.
    Exit {
        /// Why.
        reason: ExitReason,
        /// The guest PC to report.
        pc: u64,
    },
}

/// One instruction: an op and the type of its result.
#[derive(Clone, Copy, Debug)]
pub struct Inst {
    /// The operation.
    pub op: Op,
    /// The result type (`Void` if none).
    pub ty: Type,
}
