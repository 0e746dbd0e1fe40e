//! The IR verifier: checks that a block is well formed before any backend
//! sees it. Lifter bugs are caught here instead of as wrong guest results.

use crate::block::Block;
use crate::float::FpOp;
use crate::ops::{Op, Terminator, Value};
use crate::types::Type;
use core::fmt;

/// A verifier complaint: which instruction and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// Index of the offending instruction (`usize::MAX` for the terminator).
    pub inst: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "inst {}: {}", self.inst, self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Whether a float op's operand types and result type fit together.
fn float_ok(op: FpOp, args: &[Type], ty: Type) -> bool {
    let fmt = |t: Type| matches!(t, Type::I16 | Type::I32 | Type::I64);
    let a = args[0];
    if let FpOp::FromInt { fbits, .. } = op {
        return matches!(a, Type::I32 | Type::I64) && fmt(ty) && (fbits as u32) <= a.bits();
    }
    if !fmt(a) || args.iter().any(|&x| x != a) {
        return false;
    }
    match op {
        FpOp::Cmp | FpOp::CmpE => ty == Type::I64,
        FpOp::Convert | FpOp::ConvertOdd => fmt(ty),
        FpOp::ToInt { fbits, .. } => {
            matches!(ty, Type::I32 | Type::I64) && (fbits as u32) <= ty.bits()
        }
        _ => ty == a,
    }
}

/// Checks operand definitions and types.
pub fn verify(block: &Block) -> Result<(), VerifyError> {
    let err = |inst: usize, message: String| Err(VerifyError { inst, message });
    for (i, inst) in block.insts.iter().enumerate() {
        let mut bad = None;
        inst.op.for_each_operand(|v: Value| {
            if v.0 as usize >= i {
                bad = Some(format!("{v} used before definition"));
            } else if block.insts[v.0 as usize].ty == Type::Void {
                bad = Some(format!("{v} has no value"));
            }
        });
        if let Some(m) = bad {
            return err(i, m);
        }
        let t = |v: &Value| block.insts[v.0 as usize].ty;
        let same = |a: &Value, b: &Value| t(a) == t(b);
        let ok = match &inst.op {
            Op::Add(a, b)
            | Op::Sub(a, b)
            | Op::Mul(a, b)
            | Op::UMulHi(a, b)
            | Op::SMulHi(a, b)
            | Op::UDiv(a, b)
            | Op::SDiv(a, b)
            | Op::And(a, b)
            | Op::Or(a, b)
            | Op::Xor(a, b) => same(a, b) && t(a) == inst.ty,
            Op::Shl(a, _) | Op::LShr(a, _) | Op::AShr(a, _) | Op::Ror(a, _) => t(a) == inst.ty,
            Op::Not(a)
            | Op::Neg(a)
            | Op::Clz(a)
            | Op::Cls(a)
            | Op::Rbit(a)
            | Op::Bswap(a)
            | Op::Popcnt(a) => t(a) == inst.ty,
            Op::ZExt(a) | Op::SExt(a) => t(a).bits() < inst.ty.bits(),
            Op::Trunc(a) => t(a).bits() > inst.ty.bits(),
            Op::Icmp(_, a, b) => same(a, b) && inst.ty == Type::I1,
            Op::Select(c, a, b) => t(c) == Type::I1 && same(a, b) && t(a) == inst.ty,
            Op::AddFlags(a, b, c) => same(a, b) && t(c) == Type::I1 && inst.ty == Type::I64,
            Op::LogicFlags(_) => inst.ty == Type::I64,
            Op::CondHolds(c, n) => *c < 16 && t(n) == Type::I64 && inst.ty == Type::I1,
            Op::Load(a) => t(a) == Type::I64 && inst.ty != Type::Void && inst.ty != Type::I1,
            Op::Store(a, _) => t(a) == Type::I64,
            Op::CmpXchg(a, e, n) => {
                t(a) == Type::I64
                    && same(e, n)
                    && t(e) == inst.ty
                    && !matches!(inst.ty, Type::I1 | Type::Void)
            }
            Op::AtomicRmw(_, a, x) => {
                t(a) == Type::I64
                    && t(x) == inst.ty
                    && matches!(inst.ty, Type::I8 | Type::I16 | Type::I32 | Type::I64)
            }
            Op::Vector(op, e, args) => {
                matches!(e, 8 | 16 | 32 | 64)
                    && args[..op.arity()].iter().all(|a| t(a) == Type::I128)
                    && inst.ty == Type::I128
            }
            Op::ExtractLane(v, e, idx) => {
                t(v) == Type::I128 && (*idx as u32) < 128 / *e as u32 && inst.ty.bits() >= *e as u32
            }
            Op::InsertLane(v, _, e, idx) => {
                t(v) == Type::I128 && (*idx as u32) < 128 / *e as u32 && inst.ty == Type::I128
            }
            Op::Dup(_, e) => matches!(e, 8 | 16 | 32 | 64) && inst.ty == Type::I128,
            Op::Float(op, args, fpcr) => {
                float_ok(
                    *op,
                    &args[..op.arity()].iter().map(t).collect::<Vec<_>>(),
                    inst.ty,
                ) && t(fpcr) == Type::I64
            }
            Op::FloatFlags(op, ty, args, fpcr) => {
                float_ok(
                    *op,
                    &args[..op.arity()].iter().map(t).collect::<Vec<_>>(),
                    *ty,
                ) && t(fpcr) == Type::I64
                    && inst.ty == Type::I64
            }
            Op::Call(_, args, n) => {
                args[..*n as usize].iter().all(|a| t(a) != Type::I128)
                    && matches!(inst.ty, Type::I64 | Type::Void)
            }
            Op::GuestInsn(_) | Op::SetState(..) | Op::Fence(_) => inst.ty == Type::Void,
            Op::Const(_) => !matches!(inst.ty, Type::Void | Type::I128),
            Op::Const128(_) => inst.ty == Type::I128,
            Op::GetState(_) => inst.ty != Type::Void,
        };
        if !ok {
            return err(i, format!("ill-typed: {:?} -> {}", inst.op, inst.ty));
        }
    }
    let n = block.insts.len();
    let check = |v: &Value, want: Type| {
        if v.0 as usize >= n || block.insts[v.0 as usize].ty != want {
            err(usize::MAX, format!("terminator operand {v} must be {want}"))
        } else {
            Ok(())
        }
    };
    match &block.term {
        Terminator::JumpDyn(v, _) => check(v, Type::I64),
        Terminator::Branch { cond, .. } => check(cond, Type::I1),
        Terminator::Jump(_) | Terminator::Exit { .. } => Ok(()),
    }
}
