//! The reference interpreter: the meaning of every IR op. JIT backends are
//! tested against it.

use crate::block::Block;
use crate::float;
use crate::guest_mem;
use crate::ops::{ExitReason, IntCC, Op, Terminator};
use crate::types::Type;
use crate::vector;

/// Where control goes after a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockResult {
    /// Continue with the guest code at this address.
    Next(u64),
    /// Hand control to the runtime at this guest PC.
    Exit(ExitReason, u64),
    /// A guest memory access faulted in the instruction at `pc`; guest
    /// state is as the earlier ops of that instruction left it.
    Fault {
        /// Guest PC of the faulting instruction.
        pc: u64,
        /// The access that faulted.
        fault: crate::guest_mem::Fault,
    },
}

/// Executes IR blocks. Holds scratch space reused between blocks.
#[derive(Default)]
pub struct Interpreter {
    vals: Vec<u128>,
    /// Guest address of the instruction being executed (from `GuestInsn`),
    /// for reporting faults precisely.
    pub current_pc: u64,
}

fn sext(x: u128, ty: Type) -> i128 {
    let sh = 128 - ty.bits();
    ((x << sh) as i128) >> sh
}

fn amount(x: u128, ty: Type) -> u32 {
    (x % ty.bits() as u128) as u32
}

/// Arm `AddWithCarry` flags for `bits`-wide operands, as NZCV in 31..28.
pub fn add_with_carry_flags(a: u128, b: u128, carry: u128, ty: Type) -> u64 {
    let m = ty.mask();
    let unsigned_sum = a + b + carry;
    let result = unsigned_sum & m;
    let signed_sum = sext(a, ty) + sext(b, ty) + carry as i128;
    let n = (result >> (ty.bits() - 1)) & 1;
    let z = (result == 0) as u128;
    let c = (unsigned_sum != result) as u128;
    let v = (sext(result, ty) != signed_sum) as u128;
    ((n << 31) | (z << 30) | (c << 29) | (v << 28)) as u64
}

/// Whether Arm condition `cond` holds for NZCV in bits 31..28.
pub fn cond_holds(cond: u8, nzcv: u64) -> bool {
    let n = nzcv >> 31 & 1 != 0;
    let z = nzcv >> 30 & 1 != 0;
    let c = nzcv >> 29 & 1 != 0;
    let v = nzcv >> 28 & 1 != 0;
    let r = match cond >> 1 {
        0 => z,
        1 => c,
        2 => n,
        3 => v,
        4 => c && !z,
        5 => n == v,
        6 => n == v && !z,
        _ => true,
    };
    if cond & 1 == 1 && cond != 0b1111 {
        !r
    } else {
        r
    }
}

/// Reads `ty` from a raw address.
///
/// # Safety
/// `addr` must be readable for `ty.bytes()` bytes.
unsafe fn read(addr: usize, ty: Type) -> u128 {
    // SAFETY: the caller guarantees the range is readable; unaligned reads
    // are allowed by `read_unaligned`.
    unsafe {
        match ty {
            Type::I8 | Type::I1 => *(addr as *const u8) as u128,
            Type::I16 => (addr as *const u16).read_unaligned() as u128,
            Type::I32 => (addr as *const u32).read_unaligned() as u128,
            Type::I64 => (addr as *const u64).read_unaligned() as u128,
            Type::I128 => (addr as *const u128).read_unaligned(),
            Type::Void => 0,
        }
    }
}

/// Writes the low `ty` bits of `x` to a raw address.
///
/// # Safety
/// `addr` must be writable for `ty.bytes()` bytes.
unsafe fn write(addr: usize, ty: Type, x: u128) {
    // SAFETY: the caller guarantees the range is writable.
    unsafe {
        match ty {
            Type::I8 | Type::I1 => *(addr as *mut u8) = x as u8,
            Type::I16 => (addr as *mut u16).write_unaligned(x as u16),
            Type::I32 => (addr as *mut u32).write_unaligned(x as u32),
            Type::I64 => (addr as *mut u64).write_unaligned(x as u64),
            Type::I128 => (addr as *mut u128).write_unaligned(x),
            Type::Void => {}
        }
    }
}

impl Interpreter {
    /// A fresh interpreter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs one block.
    ///
    /// # Safety
    /// `state` must point to a guest state block that the block's
    /// `GetState`/`SetState` offsets lie within, and the guest memory the
    /// block accesses is host memory at the same addresses (faults there are
    /// reported, see [`crate::guest_mem`]).
    pub unsafe fn run(&mut self, block: &Block, state: *mut u8) -> BlockResult {
        self.vals.clear();
        self.vals.resize(block.insts.len(), 0);
        for i in 0..block.insts.len() {
            if let Op::GuestInsn(pc) = block.insts[i].op {
                self.current_pc = pc;
                continue;
            }
            // SAFETY: forwarded from the caller.
            match unsafe { eval_inst(block, i, &self.vals, state) } {
                Ok(r) => self.vals[i] = r,
                Err(fault) => {
                    return BlockResult::Fault {
                        pc: self.current_pc,
                        fault,
                    };
                }
            }
        }
        terminate(block, &self.vals)
    }
}

/// Where the terminator of `block` goes, given the values computed.
pub fn terminate(block: &Block, vals: &[u128]) -> BlockResult {
    match &block.term {
        Terminator::Jump(t) => BlockResult::Next(*t),
        Terminator::JumpDyn(t, _) => BlockResult::Next(vals[t.0 as usize] as u64),
        Terminator::Branch {
            cond,
            taken,
            not_taken,
        } => {
            if vals[cond.0 as usize] != 0 {
                BlockResult::Next(*taken)
            } else {
                BlockResult::Next(*not_taken)
            }
        }
        Terminator::Exit { reason, pc } => BlockResult::Exit(*reason, *pc),
    }
}

/// The reference semantics of instruction `i` of `block`: its result
/// (masked to its type; 0 for `Void`), given the results `vals` of the
/// instructions before it. Backends call this for ops they do not
/// compile inline, so every backend shares one definition.
///
/// # Safety
/// As for [`Interpreter::run`]: `state` is a valid guest state block.
#[inline(always)]
pub unsafe fn eval_inst(
    block: &Block,
    i: usize,
    vals: &[u128],
    state: *mut u8,
) -> Result<u128, guest_mem::Fault> {
    let inst = &block.insts[i];
    let ty = inst.ty;
    let v = |x: crate::Value| vals[x.0 as usize];
    let arg_ty = |x: crate::Value| block.insts[x.0 as usize].ty;
    let r: u128 = match &inst.op {
        Op::GuestInsn(_) => 0,
        Op::Const(x) => *x as u128,
        Op::Const128(x) => x.get(),
        // SAFETY: the caller guarantees offsets are inside the state.
        Op::GetState(off) => unsafe { read(state as usize + *off as usize, ty) },
        Op::SetState(off, x) => {
            // SAFETY: as above.
            unsafe { write(state as usize + *off as usize, arg_ty(*x), v(*x)) };
            0
        }
        Op::Add(a, b) => v(*a).wrapping_add(v(*b)),
        Op::Sub(a, b) => v(*a).wrapping_sub(v(*b)),
        Op::Mul(a, b) => v(*a).wrapping_mul(v(*b)),
        Op::UMulHi(a, b) => {
            let p = v(*a).wrapping_mul(v(*b));
            if ty == Type::I64 {
                ((v(*a) as u64 as u128 * v(*b) as u64 as u128) >> 64) & u64::MAX as u128
            } else {
                p >> ty.bits()
            }
        }
        Op::SMulHi(a, b) => {
            let p = sext(v(*a), ty).wrapping_mul(sext(v(*b), ty));
            (p >> ty.bits()) as u128
        }
        Op::UDiv(a, b) => v(*a).checked_div(v(*b)).unwrap_or(0),
        Op::SDiv(a, b) => {
            let (x, y) = (sext(v(*a), ty), sext(v(*b), ty));
            if y == 0 { 0 } else { x.wrapping_div(y) as u128 }
        }
        Op::And(a, b) => v(*a) & v(*b),
        Op::Or(a, b) => v(*a) | v(*b),
        Op::Xor(a, b) => v(*a) ^ v(*b),
        Op::Shl(a, b) => v(*a) << amount(v(*b), ty),
        Op::LShr(a, b) => v(*a) >> amount(v(*b), ty),
        Op::AShr(a, b) => (sext(v(*a), ty) >> amount(v(*b), ty)) as u128,
        Op::Ror(a, b) => {
            let n = amount(v(*b), ty);
            let x = v(*a);
            if n == 0 {
                x
            } else {
                (x >> n) | (x << (ty.bits() - n))
            }
        }
        Op::Not(a) => !v(*a),
        Op::Neg(a) => v(*a).wrapping_neg(),
        Op::Clz(a) => (v(*a).leading_zeros() - (128 - ty.bits())) as u128,
        Op::Cls(a) => {
            let x = v(*a);
            let s = sext(x, ty);
            let y = if s < 0 { !x & ty.mask() } else { x };
            (y.leading_zeros() - (128 - ty.bits()) - 1) as u128
        }
        Op::Rbit(a) => v(*a).reverse_bits() >> (128 - ty.bits()),
        Op::Bswap(a) => v(*a).swap_bytes() >> (128 - ty.bits()),
        Op::Popcnt(a) => v(*a).count_ones() as u128,
        Op::ZExt(a) | Op::Trunc(a) => v(*a),
        Op::SExt(a) => sext(v(*a), arg_ty(*a)) as u128,
        Op::Icmp(cc, a, b) => {
            let t = arg_ty(*a);
            let (x, y) = (v(*a), v(*b));
            let (sx, sy) = (sext(x, t), sext(y, t));
            (match cc {
                IntCC::Eq => x == y,
                IntCC::Ne => x != y,
                IntCC::Ult => x < y,
                IntCC::Ule => x <= y,
                IntCC::Ugt => x > y,
                IntCC::Uge => x >= y,
                IntCC::Slt => sx < sy,
                IntCC::Sle => sx <= sy,
                IntCC::Sgt => sx > sy,
                IntCC::Sge => sx >= sy,
            }) as u128
        }
        Op::Select(c, a, b) => {
            if v(*c) != 0 {
                v(*a)
            } else {
                v(*b)
            }
        }
        Op::AddFlags(a, b, c) => add_with_carry_flags(v(*a), v(*b), v(*c) & 1, arg_ty(*a)) as u128,
        Op::LogicFlags(a) => {
            let t = arg_ty(*a);
            let x = v(*a);
            let n = (x >> (t.bits() - 1)) & 1;
            let z = (x == 0) as u128;
            (n << 31) | (z << 30)
        }
        Op::CondHolds(cond, nzcv) => cond_holds(*cond, v(*nzcv) as u64) as u128,
        Op::Load(a) => guest_mem::load(v(*a) as u64, ty.bytes())?,
        Op::Store(a, x) => {
            guest_mem::store(v(*a) as u64, arg_ty(*x).bytes(), v(*x))?;
            0
        }
        Op::CmpXchg(a, e, n) => guest_mem::cmpxchg(v(*a) as u64, ty.bytes(), v(*e), v(*n))?,
        Op::AtomicRmw(op, a, x) => guest_mem::atomic_rmw(v(*a) as u64, ty.bytes(), *op, v(*x))?,
        Op::Fence(kind) => {
            use core::sync::atomic::{Ordering, fence};
            fence(match kind {
                crate::FenceKind::Acquire => Ordering::Acquire,
                crate::FenceKind::Release => Ordering::Release,
                crate::FenceKind::Full => Ordering::SeqCst,
            });
            0
        }
        Op::Call(h, args, n) => {
            let mut a = [0u64; 4];
            for (k, x) in args[..*n as usize].iter().enumerate() {
                a[k] = v(*x) as u64;
            }
            // SAFETY: helpers are written for this calling
            // convention and receive the state block they expect.
            unsafe { (h.func)(state, a[0], a[1], a[2], a[3]) as u128 }
        }
        Op::Vector(op, esize, args) => {
            let n = op.arity();
            let a = v(args[0]);
            let b = if n > 1 { v(args[1]) } else { 0 };
            let c = if n > 2 { v(args[2]) } else { 0 };
            vector::eval(*op, *esize, a, b, c)
        }
        Op::Float(op, args, fpcr) | Op::FloatFlags(op, _, args, fpcr) => {
            let mut a = [0u64; 3];
            for (k, x) in args[..op.arity()].iter().enumerate() {
                a[k] = v(*x) as u64;
            }
            let in_bits = arg_ty(args[0]).bits();
            let (out, flags) = match &inst.op {
                Op::FloatFlags(_, t, _, _) => (t.bits(), true),
                _ => (ty.bits(), false),
            };
            let (r, f) = float::eval(*op, in_bits, out, v(*fpcr) as u64, a);
            (if flags { f } else { r }) as u128
        }
        Op::ExtractLane(x, esize, idx) => vector::extract_lane(v(*x), *esize, *idx),
        Op::InsertLane(x, s, esize, idx) => vector::insert_lane(v(*x), v(*s), *esize, *idx),
        Op::Dup(x, esize) => vector::dup(v(*x), *esize),
    };
    Ok(r & ty.mask())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_with_carry_matches_arm_examples() {
        // 0x7fffffff + 1 overflows signed, no carry.
        let f = add_with_carry_flags(0x7fff_ffff, 1, 0, Type::I32);
        assert_eq!(f, 0x9000_0000); // N and V
        // 0xffffffff + 1 = 0 with carry.
        let f = add_with_carry_flags(0xffff_ffff, 1, 0, Type::I32);
        assert_eq!(f, 0x6000_0000); // Z and C
        // CMP 5, 5 = 5 + !5 + 1: Z and C.
        let f = add_with_carry_flags(5, !5u64 as u128, 1, Type::I64);
        assert_eq!(f, 0x6000_0000);
    }

    #[test]
    fn conditions() {
        assert!(cond_holds(0, 0x4000_0000)); // EQ with Z
        assert!(!cond_holds(1, 0x4000_0000)); // NE
        assert!(cond_holds(14, 0)); // AL
        assert!(cond_holds(15, 0)); // NV behaves as AL
        assert!(cond_holds(0b1011, 0x8000_0000)); // LT: N != V
    }
}
