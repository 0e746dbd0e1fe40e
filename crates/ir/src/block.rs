//! A translated block of guest code and the builder the lifters use.

use crate::float::FpOp;
use crate::ops::{BranchHint, ExitReason, Helper, Inst, IntCC, Op, RmwOp, Terminator, Value};
use crate::types::Type;
use crate::vector::VecOp;

/// Straight-line IR for a run of guest instructions, ending in one
/// [`Terminator`]. Values are defined before use (SSA within the block).
#[derive(Clone, Debug)]
pub struct Block {
    /// Guest address of the first instruction.
    pub start: u64,
    /// Guest address just past the last instruction (for invalidation).
    pub end: u64,
    /// Number of guest instructions lifted.
    pub guest_insns: u32,
    /// The instructions.
    pub insts: Vec<Inst>,
    /// How the block ends.
    pub term: Terminator,
}

impl Block {
    /// Type of a value.
    pub fn ty(&self, v: Value) -> Type {
        self.insts[v.0 as usize].ty
    }

    /// The guest address a call made by this block returns to, if it is
    /// a call: its last write of the link register (the state field at
    /// `link`) stores its own end address, a constant (BL, BLR).
    pub fn return_address(&self, link: u32) -> Option<u64> {
        let written = self.insts.iter().rev().find_map(|i| match i.op {
            Op::SetState(off, v) if off == link => Some(v),
            _ => None,
        })?;
        matches!(self.insts[written.0 as usize].op, Op::Const(c) if c == self.end)
            .then_some(self.end)
    }
}

/// Appends instructions to a block under construction.
pub struct Builder {
    insts: Vec<Inst>,
}

thread_local! {
    /// The buffer builders of this thread lift into (one allocation kept
    /// across blocks; a finished block gets an exact-size copy).
    static SCRATCH: core::cell::Cell<Vec<Inst>> = const { core::cell::Cell::new(Vec::new()) };
}

impl Drop for Builder {
    fn drop(&mut self) {
        let mine = core::mem::take(&mut self.insts);
        SCRATCH.with(|s| {
            let other = s.take();
            s.set(if mine.capacity() >= other.capacity() {
                mine
            } else {
                other
            });
        });
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! binops {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(&mut self, a: Value, b: Value) -> Value {
            let ty = self.ty(a);
            self.push(Op::$op(a, b), ty)
        }
    )*};
}

macro_rules! unops {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(&mut self, a: Value) -> Value {
            let ty = self.ty(a);
            self.push(Op::$op(a), ty)
        }
    )*};
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        let mut insts = SCRATCH.with(|s| s.take());
        insts.clear();
        insts.reserve(256);
        Builder { insts }
    }

    /// Type of an already-built value.
    pub fn ty(&self, v: Value) -> Type {
        self.insts[v.0 as usize].ty
    }

    /// Number of instructions so far.
    pub fn len(&self) -> usize {
        self.insts.len()
    }

    /// Whether nothing was emitted yet.
    pub fn is_empty(&self) -> bool {
        self.insts.is_empty()
    }

    /// Drops instructions emitted after `len` (undo a partially lifted
    /// guest instruction).
    pub fn truncate(&mut self, len: usize) {
        self.insts.truncate(len);
    }

    /// Appends a raw instruction.
    pub fn push(&mut self, op: Op, ty: Type) -> Value {
        let v = Value(self.insts.len() as u32);
        self.insts.push(Inst { op, ty });
        v
    }

    /// Finishes the block.
    pub fn finish(self, start: u64, end: u64, guest_insns: u32, term: Terminator) -> Block {
        // Translations live as long as their code: keep only what is used
        // (the builder's spare capacity tripled the IR's memory).
        let insts = self.insts.to_vec();
        Block {
            start,
            end,
            guest_insns,
            insts,
            term,
        }
    }

    /// Marks the start of a guest instruction.
    pub fn guest_insn(&mut self, pc: u64) {
        self.push(Op::GuestInsn(pc), Type::Void);
    }

    /// A scalar constant of type `ty`.
    pub fn iconst(&mut self, ty: Type, x: u64) -> Value {
        debug_assert!(ty != Type::I128 && ty != Type::Void);
        self.push(Op::Const(x & ty.mask() as u64), ty)
    }

    /// A 128-bit constant.
    pub fn const128(&mut self, x: u128) -> Value {
        self.push(Op::Const128(x.into()), Type::I128)
    }

    /// Reads the guest state at `offset` as `ty`.
    pub fn get_state(&mut self, offset: u32, ty: Type) -> Value {
        self.push(Op::GetState(offset), ty)
    }

    /// Writes `v` to the guest state at `offset`.
    pub fn set_state(&mut self, offset: u32, v: Value) {
        self.push(Op::SetState(offset, v), Type::Void);
    }

    binops! {
        /// a + b.
        add => Add;
        /// a - b.
        sub => Sub;
        /// a * b.
        mul => Mul;
        /// High half of unsigned a * b.
        umulhi => UMulHi;
        /// High half of signed a * b.
        smulhi => SMulHi;
        /// Unsigned a / b (x/0 = 0).
        udiv => UDiv;
        /// Signed a / b (x/0 = 0).
        sdiv => SDiv;
        /// a & b.
        and => And;
        /// a | b.
        or => Or;
        /// a ^ b.
        xor => Xor;
        /// a << (b mod width).
        shl => Shl;
        /// a >> (b mod width), logical.
        lshr => LShr;
        /// a >> (b mod width), arithmetic.
        ashr => AShr;
        /// a rotated right by (b mod width).
        ror => Ror;
    }

    unops! {
        /// !a.
        not => Not;
        /// -a.
        neg => Neg;
        /// Leading zeros.
        clz => Clz;
        /// Leading sign bits.
        cls => Cls;
        /// Bit reverse.
        rbit => Rbit;
        /// Byte reverse.
        bswap => Bswap;
        /// Population count.
        popcnt => Popcnt;
    }

    /// Zero-extends (or passes through if already `ty`).
    pub fn zext(&mut self, v: Value, ty: Type) -> Value {
        let from = self.ty(v);
        if from == ty {
            v
        } else {
            debug_assert!(from.bits() < ty.bits());
            self.push(Op::ZExt(v), ty)
        }
    }

    /// Sign-extends (or passes through if already `ty`).
    pub fn sext(&mut self, v: Value, ty: Type) -> Value {
        let from = self.ty(v);
        if from == ty {
            v
        } else {
            debug_assert!(from.bits() < ty.bits());
            self.push(Op::SExt(v), ty)
        }
    }

    /// Truncates (or passes through if already `ty`).
    pub fn trunc(&mut self, v: Value, ty: Type) -> Value {
        let from = self.ty(v);
        if from == ty {
            v
        } else {
            debug_assert!(from.bits() > ty.bits());
            self.push(Op::Trunc(v), ty)
        }
    }

    /// Integer comparison, `I1` result.
    pub fn icmp(&mut self, cc: IntCC, a: Value, b: Value) -> Value {
        self.push(Op::Icmp(cc, a, b), Type::I1)
    }

    /// `cond ? a : b`.
    pub fn select(&mut self, cond: Value, a: Value, b: Value) -> Value {
        let ty = self.ty(a);
        self.push(Op::Select(cond, a, b), ty)
    }

    /// NZCV of Arm AddWithCarry(a, b, carry).
    pub fn add_flags(&mut self, a: Value, b: Value, carry: Value) -> Value {
        self.push(Op::AddFlags(a, b, carry), Type::I64)
    }

    /// NZCV of a logical result.
    pub fn logic_flags(&mut self, v: Value) -> Value {
        self.push(Op::LogicFlags(v), Type::I64)
    }

    /// Whether condition `cond` holds for `nzcv`.
    pub fn cond_holds(&mut self, cond: u8, nzcv: Value) -> Value {
        self.push(Op::CondHolds(cond, nzcv), Type::I1)
    }

    /// Loads `ty` from guest memory.
    pub fn load(&mut self, addr: Value, ty: Type) -> Value {
        self.push(Op::Load(addr), ty)
    }

    /// Stores `v` to guest memory.
    pub fn store(&mut self, addr: Value, v: Value) {
        self.push(Op::Store(addr, v), Type::Void);
    }

    /// Atomic compare-and-swap; returns the value found in memory.
    pub fn cmpxchg(&mut self, addr: Value, expected: Value, new: Value) -> Value {
        let ty = self.ty(expected);
        self.push(Op::CmpXchg(addr, expected, new), ty)
    }

    /// Atomic read-modify-write; returns the old memory value.
    pub fn atomic_rmw(&mut self, op: RmwOp, addr: Value, v: Value) -> Value {
        let ty = self.ty(v);
        self.push(Op::AtomicRmw(op, addr, v), ty)
    }

    /// A memory barrier of `kind`.
    pub fn fence(&mut self, kind: crate::FenceKind) {
        self.push(Op::Fence(kind), Type::Void);
    }

    /// Calls a helper; `ret` is `I64` or `Void`.
    pub fn call(&mut self, helper: &'static Helper, args: &[Value], ret: Type) -> Value {
        assert!(args.len() <= 4);
        let mut a = [Value(0); 4];
        a[..args.len()].copy_from_slice(args);
        self.push(Op::Call(helper, a, args.len() as u8), ret)
    }

    /// A lane-wise vector op (operands beyond the op's arity are ignored).
    pub fn vector(&mut self, op: VecOp, esize: u8, args: &[Value]) -> Value {
        assert_eq!(args.len(), op.arity());
        let mut a = [Value(0); 3];
        a[..args.len()].copy_from_slice(args);
        self.push(Op::Vector(op, esize, a), Type::I128)
    }

    /// Lane `idx` of `esize` bits of `v`, as `ty`.
    pub fn extract_lane(&mut self, v: Value, esize: u8, idx: u8, ty: Type) -> Value {
        self.push(Op::ExtractLane(v, esize, idx), ty)
    }

    /// `v` with lane `idx` replaced by scalar `x`.
    pub fn insert_lane(&mut self, v: Value, x: Value, esize: u8, idx: u8) -> Value {
        self.push(Op::InsertLane(v, x, esize, idx), Type::I128)
    }

    /// Scalar `x` broadcast to all `esize`-bit lanes.
    pub fn dup(&mut self, x: Value, esize: u8) -> Value {
        self.push(Op::Dup(x, esize), Type::I128)
    }

    /// A floating-point op with result type `ty` under control word
    /// `fpcr` (operands beyond the op's arity are ignored).
    pub fn float(&mut self, op: FpOp, args: &[Value], fpcr: Value, ty: Type) -> Value {
        assert_eq!(args.len(), op.arity());
        let mut a = [Value(0); 3];
        a[..args.len()].copy_from_slice(args);
        self.push(Op::Float(op, a, fpcr), ty)
    }

    /// The exception flags of the same `float` op (`ty` is its result
    /// type), as an `I64` of FPSR bits.
    pub fn float_flags(&mut self, op: FpOp, args: &[Value], fpcr: Value, ty: Type) -> Value {
        assert_eq!(args.len(), op.arity());
        let mut a = [Value(0); 3];
        a[..args.len()].copy_from_slice(args);
        self.push(Op::FloatFlags(op, ty, a, fpcr), Type::I64)
    }

    /// Terminator helpers, for symmetry with the ops.
    pub fn jump_dyn(target: Value, hint: BranchHint) -> Terminator {
        Terminator::JumpDyn(target, hint)
    }

    /// An exit terminator.
    pub fn exit(reason: ExitReason, pc: u64) -> Terminator {
        Terminator::Exit { reason, pc }
    }
}
