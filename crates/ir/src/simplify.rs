//! Block-local clean-up, run once on each lifted block before it is
//! interpreted or compiled. Lifters emit each guest instruction on its
//! own (read its registers from the state block, write them back); this
//! pass removes what that leaves redundant, so every tier runs less:
//!
//! - a state read after a write or read of the same field in the block
//!   reuses that value (its low bits when the read is narrower: a W
//!   register read after an X register write);
//! - the low bits of an extension or truncation are taken from the value
//!   inside it (`Trunc(ZExt(x))` of the same width is `x`);
//! - `(x + k1) + k2` of 64-bit constants is `x + (k1 + k2)` (the second
//!   address of a pair access);
//! - a state write overwritten later in the block is dropped, unless
//!   something in between could observe it: a read of the field, a helper
//!   call, or an op that may fault (a fault must see exact guest state);
//! - integer ops on constants are folded, `x + 0` and the like are `x`;
//! - pure values nothing uses are removed.
//!
//! Guest instruction markers, memory accesses, calls and the block's last
//! write to each field stay, in order: faults and exits see the same
//! state as without the pass.

use crate::block::Block;
use crate::ops::{Inst, IntCC, Op, Terminator, Value};
use crate::types::Type;

/// State fields are tracked in a table of 8-byte slots (a field lives in
/// the slot of its offset); fields past it, or not naturally aligned, are
/// not tracked and make the pass forget everything it knows.
const SLOTS: usize = 256;

/// A tracked field: its offset, type and value, valid in generation
/// `generation` only (so the table is never cleared).
#[derive(Clone, Copy)]
struct Known {
    generation: u32,
    off: u32,
    ty: Type,
    value: Value,
}

impl Default for Known {
    fn default() -> Self {
        Known {
            generation: 0,
            off: 0,
            ty: Type::Void,
            value: Value(0),
        }
    }
}

/// An unobserved write: the index of its `SetState` in the output.
#[derive(Clone, Copy, Default)]
struct Pending {
    generation: u32,
    off: u32,
    bytes: u32,
    at: u32,
}

/// Working memory of the pass, kept per thread (it runs once per
/// compiled block: allocations would cost as much as the work).
struct Scratch {
    out: Vec<Inst>,
    /// Old value -> new value.
    map: Vec<Value>,
    /// New value -> its constant, for scalar constants.
    konst: Vec<Option<u64>>,
    /// State fields whose current value is a block value.
    known: Box<[Known; SLOTS]>,
    /// State writes nothing has observed yet.
    pending: Box<[Pending; SLOTS]>,
    /// Entries of `known`/`pending` from other generations are empty.
    known_gen: u32,
    pending_gen: u32,
    /// Writes of `out` overwritten before anything could observe them.
    dead_store: Vec<bool>,
    live: Vec<bool>,
    renum: Vec<Value>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            out: Vec::new(),
            map: Vec::new(),
            konst: Vec::new(),
            known: Box::new([Known::default(); SLOTS]),
            pending: Box::new([Pending::default(); SLOTS]),
            known_gen: 1,
            pending_gen: 1,
            dead_store: Vec::new(),
            live: Vec::new(),
            renum: Vec::new(),
        }
    }
}

impl Scratch {
    fn forget_known(&mut self) {
        self.known_gen = self.known_gen.wrapping_add(1).max(1);
    }

    fn forget_pending(&mut self) {
        self.pending_gen = self.pending_gen.wrapping_add(1).max(1);
    }

    /// The slots a field at `off` of `bytes` may share with tracked
    /// fields (a 16-byte field starts in the slot before), or `None` if
    /// the field cannot be tracked.
    fn slots(off: u32, bytes: u32) -> Option<core::ops::RangeInclusive<usize>> {
        let first = off as usize / 8;
        let last = (off + bytes.max(1) - 1) as usize / 8;
        let aligned = bytes.is_power_of_two() && off.is_multiple_of(bytes) && bytes <= 16;
        (aligned && last < SLOTS).then(|| first.saturating_sub(1)..=last)
    }

    /// The field at `off` of type `ty` is read from the state block.
    fn observe(&mut self, off: u32, ty: Type) {
        match Self::slots(off, ty.bytes()) {
            Some(r) => {
                for k in r {
                    let p = &mut self.pending[k];
                    if p.generation == self.pending_gen
                        && p.off < off + ty.bytes()
                        && off < p.off + p.bytes
                    {
                        p.generation = 0;
                    }
                }
            }
            None => self.forget_pending(),
        }
    }

    /// What the block already has for a read of `ty` at `off`: the known
    /// value itself, or the low bits of a known wider integer (the state
    /// block is little-endian: a W register read after an X register
    /// write).
    fn lookup(&self, off: u32, ty: Type) -> Option<Known> {
        let int = |t: Type| matches!(t, Type::I8 | Type::I16 | Type::I32 | Type::I64);
        Self::slots(off, ty.bytes())?;
        let k = self.known[off as usize / 8];
        (k.generation == self.known_gen
            && k.off == off
            && (k.ty == ty || (int(ty) && int(k.ty) && k.ty.bits() > ty.bits())))
        .then_some(k)
    }

    fn remember(&mut self, off: u32, ty: Type, value: Value) {
        if Self::slots(off, ty.bytes()).is_some() {
            self.known[off as usize / 8] = Known {
                generation: self.known_gen,
                off,
                ty,
                value,
            };
        }
    }

    /// A write of `bytes` at `off` (output instruction `at`): returns the
    /// earlier write it makes dead, if any.
    fn write(&mut self, off: u32, bytes: u32, at: usize) -> Option<usize> {
        let Some(r) = Self::slots(off, bytes) else {
            self.forget_known();
            self.forget_pending();
            return None;
        };
        let mut dead = None;
        for k in r {
            let p = &mut self.pending[k];
            if p.generation == self.pending_gen && p.off < off + bytes && off < p.off + p.bytes {
                if p.off == off && p.bytes == bytes {
                    dead = Some(p.at as usize);
                }
                p.generation = 0;
            }
            let e = &mut self.known[k];
            if e.generation == self.known_gen && e.off < off + bytes && off < e.off + e.ty.bytes() {
                e.generation = 0;
            }
        }
        self.pending[off as usize / 8] = Pending {
            generation: self.pending_gen,
            off,
            bytes,
            at: at as u32,
        };
        dead
    }
}

thread_local! {
    static SCRATCH: core::cell::RefCell<Option<Scratch>> = const { core::cell::RefCell::new(None) };
}

/// `(x, k1 + k2)` for a 64-bit `(x + k1) + k2` of constants `k1`, `k2`
/// (in either operand order): an address off an address, which a pair
/// access (`stp x19, x20, [sp, #16]`: `(sp + 16) + 8`) or a pre-indexed
/// one makes, is then the base's own `base + disp` (baseline code had
/// computed `sp + 16` into a register for both accesses).
fn constant_offset(op: Op, ty: Type, out: &[Inst], konst: &[Option<u64>]) -> Option<(Value, u64)> {
    let Op::Add(a, b) = op else { return None };
    if ty != Type::I64 {
        return None;
    }
    let k = |v: Value| konst[v.0 as usize];
    // (`x + 0` is `x`, kept as the value it is: `mov x29, sp` after a
    // pre-indexed `stp` would otherwise compute the new `sp` again.)
    let (inner, k2) = match (k(a), k(b)) {
        (None, Some(k2)) if k2 != 0 => (a, k2),
        (Some(k2), None) if k2 != 0 => (b, k2),
        _ => return None,
    };
    let Op::Add(x, y) = out[inner.0 as usize].op else {
        return None;
    };
    match (k(x), k(y)) {
        (None, Some(k1)) => Some((x, k1.wrapping_add(k2))),
        (Some(k1), None) => Some((y, k1.wrapping_add(k2))),
        _ => None,
    }
}

/// The low `ty` bits of `a` (an output value): the value an extension
/// or truncation took them from when it has type `ty` (a W register read
/// after a W register write: `Trunc(ZExt(x))` cost baseline code a `mov
/// r32, r32` each, up to a sixth of a hot block's instructions), else
/// the one operation that makes them (`Err`), looking through chains of
/// extensions and truncations.
fn narrowed(out: &[Inst], a: Value, ty: Type) -> Result<Value, Op> {
    let inner = out[a.0 as usize].op;
    let (Op::ZExt(x) | Op::SExt(x) | Op::Trunc(x)) = inner else {
        return Err(Op::Trunc(a));
    };
    let xt = out[x.0 as usize].ty;
    match inner {
        _ if xt == ty => Ok(x),
        _ if xt.bits() > ty.bits() => narrowed(out, x, ty),
        Op::SExt(_) => Err(Op::SExt(x)),
        _ => Err(Op::ZExt(x)),
    }
}

/// Simplifies `block` in place (see the module documentation).
pub fn simplify(block: &mut Block) {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let scratch = s.get_or_insert_with(Scratch::default);
        run(block, scratch);
    });
}

fn run(block: &mut Block, s: &mut Scratch) {
    s.forget_known();
    s.forget_pending();
    s.out.clear();
    s.map.clear();
    s.konst.clear();
    s.dead_store.clear();
    s.live.clear();
    s.renum.clear();
    for inst in block.insts.iter() {
        let mut op = inst.op;
        let map = &s.map;
        op.for_each_operand_mut(|v| *v = map[v.0 as usize]);
        let ty = inst.ty;
        if let Op::CondHolds(cond, f) = op {
            match condition_as_compare(cond, f, &s.out, &s.konst) {
                Some(Compare::Known(holds)) => op = Op::Const(holds as u64),
                Some(Compare::Icmp(cc, a, x)) => op = Op::Icmp(cc, a, x),
                Some(Compare::WithConst(cc, a, k)) => {
                    let t = s.out[a.0 as usize].ty;
                    let kv = Value(s.out.len() as u32);
                    s.out.push(Inst {
                        op: Op::Const(k),
                        ty: t,
                    });
                    s.konst.push(Some(k));
                    s.dead_store.push(false);
                    op = Op::Icmp(cc, a, kv);
                }
                None => {}
            }
        }
        if let Some((x, k)) = constant_offset(op, ty, &s.out, &s.konst) {
            let kv = Value(s.out.len() as u32);
            s.out.push(Inst {
                op: Op::Const(k),
                ty,
            });
            s.konst.push(Some(k));
            s.dead_store.push(false);
            op = Op::Add(x, kv);
        }
        let konst = &s.konst;
        let c = |v: Value| konst[v.0 as usize];
        let reuse = match op {
            Op::GetState(off) => match s.lookup(off, ty) {
                Some(k) if k.ty == ty => Some(k.value),
                Some(k) => {
                    // The low bits of a wider value the block has.
                    match narrowed(&s.out, k.value, ty) {
                        Ok(v) => Some(v),
                        Err(narrow) => {
                            op = narrow;
                            None
                        }
                    }
                }
                None => {
                    // Read from the state block: earlier writes are seen.
                    s.observe(off, ty);
                    None
                }
            },
            Op::Trunc(a) => match narrowed(&s.out, a, ty) {
                Ok(v) => Some(v),
                Err(narrow) => {
                    op = narrow;
                    None
                }
            },
            Op::Add(a, b) | Op::Or(a, b) | Op::Xor(a, b) if c(b) == Some(0) => Some(a),
            Op::Add(a, b) | Op::Or(a, b) | Op::Xor(a, b) if c(a) == Some(0) => Some(b),
            Op::Sub(a, b) | Op::Shl(a, b) | Op::LShr(a, b) | Op::AShr(a, b) if c(b) == Some(0) => {
                Some(a)
            }
            _ => None,
        };
        if let Some(v) = reuse {
            s.map.push(v);
            continue;
        }
        if let Some(x) = fold(&op, ty, &s.konst) {
            op = Op::Const(x);
        }
        let new = Value(s.out.len() as u32);
        match op {
            Op::GetState(off) => s.remember(off, ty, new),
            Op::SetState(off, v) => {
                let vt = s.out[v.0 as usize].ty;
                let at = s.out.len();
                if let Some(dead) = s.write(off, vt.bytes(), at) {
                    s.dead_store[dead] = true;
                }
                s.remember(off, vt, v);
            }
            // Helpers see and may change the whole state, and may fault.
            Op::Call(..) => {
                s.forget_known();
                s.forget_pending();
            }
            // A fault must find every earlier write in place.
            Op::Load(_) | Op::Store(..) | Op::CmpXchg(..) | Op::AtomicRmw(..) => s.forget_pending(),
            _ => {}
        }
        s.konst.push(match op {
            Op::Const(x) => Some(x),
            _ => None,
        });
        s.dead_store.push(false);
        s.out.push(Inst { op, ty });
        s.map.push(new);
    }
    let map = &s.map;
    let mut term = block.term.clone();
    match &mut term {
        Terminator::JumpDyn(v, _) => *v = map[v.0 as usize],
        Terminator::Branch { cond, .. } => *cond = map[cond.0 as usize],
        Terminator::Jump(_) | Terminator::Exit { .. } => {}
    }
    // Liveness, backwards: effects, the terminator's operand and what
    // live instructions use.
    let (out, live) = (&s.out, &mut s.live);
    live.resize(out.len(), false);
    match term {
        Terminator::JumpDyn(v, _) => live[v.0 as usize] = true,
        Terminator::Branch { cond, .. } => live[cond.0 as usize] = true,
        _ => {}
    }
    for i in (0..out.len()).rev() {
        if s.dead_store[i] {
            continue;
        }
        if out[i].op.has_side_effect() {
            live[i] = true;
        }
        if live[i] {
            out[i].op.for_each_operand(|v| live[v.0 as usize] = true);
        }
    }
    // Renumber the survivors.
    let renum = &mut s.renum;
    renum.resize(out.len(), Value(u32::MAX));
    let mut insts = Vec::with_capacity(live.iter().filter(|&&l| l).count());
    for (i, &inst) in out.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let mut inst = inst;
        inst.op.for_each_operand_mut(|v| *v = renum[v.0 as usize]);
        renum[i] = Value(insts.len() as u32);
        insts.push(inst);
    }
    match &mut term {
        Terminator::JumpDyn(v, _) => *v = renum[v.0 as usize],
        Terminator::Branch { cond, .. } => *cond = renum[cond.0 as usize],
        _ => {}
    }
    block.insts = insts;
    block.term = term;
}

/// A condition test on flags the block computed, as a comparison.
enum Compare {
    /// The condition does not depend on the operands.
    Known(bool),
    Icmp(IntCC, Value, Value),
    /// Against a constant the block does not have yet.
    WithConst(IntCC, Value, u64),
}

/// `CondHolds(cond, f)` as an integer comparison when `f` holds the flags
/// of a compare (`AddWithCarry(a, NOT x, 1)`, Arm's `CMP a, x`) or of a
/// logical result (`TST`, `ANDS`: C = V = 0), so that the test no longer
/// needs the packed flags: compiled code branches on a host compare, and
/// the flags value is left only to the state write, which the baseline
/// tier defers. N-only and V-only tests of a compare stay as they are.
fn condition_as_compare(
    cond: u8,
    f: Value,
    out: &[Inst],
    konst: &[Option<u64>],
) -> Option<Compare> {
    use IntCC::*;
    let def = |v: Value| &out[v.0 as usize];
    match def(f).op {
        Op::AddFlags(a, b, c) if konst[c.0 as usize] == Some(1) => {
            let t = def(a).ty;
            if !matches!(t, Type::I32 | Type::I64) {
                return None;
            }
            // EQ NE CS CC MI PL VS VC HI LS GE LT GT LE.
            let cc = [
                Some(Eq),
                Some(Ne),
                Some(Uge),
                Some(Ult),
                None,
                None,
                None,
                None,
                Some(Ugt),
                Some(Ule),
                Some(Sge),
                Some(Slt),
                Some(Sgt),
                Some(Sle),
            ]
            .get(cond as usize)
            .copied()
            .flatten()?;
            if let Op::Not(x) = def(b).op {
                return Some(Compare::Icmp(cc, a, x));
            }
            let k = konst[b.0 as usize]?;
            Some(Compare::WithConst(cc, a, !k & t.mask() as u64))
        }
        Op::LogicFlags(a) => {
            if !matches!(def(a).ty, Type::I32 | Type::I64) {
                return None;
            }
            // N and Z from the value, C = V = 0.
            let cc = match cond {
                0 => Eq,
                1 => Ne,
                4 | 11 => Slt,
                5 | 10 => Sge,
                12 => Sgt,
                13 => Sle,
                // CS, VS, HI never; CC, VC, LS always.
                2 | 6 | 8 => return Some(Compare::Known(false)),
                3 | 7 | 9 => return Some(Compare::Known(true)),
                _ => return None,
            };
            Some(Compare::WithConst(cc, a, 0))
        }
        _ => None,
    }
}

/// The constant an integer op on constant operands gives, if it is one
/// this pass folds.
fn fold(op: &Op, ty: Type, konst: &[Option<u64>]) -> Option<u64> {
    if ty == Type::I128 || ty == Type::Void {
        return None;
    }
    let c = |v: &Value| konst[v.0 as usize];
    let bits = ty.bits();
    let r = match op {
        Op::Add(a, b) => c(a)?.wrapping_add(c(b)?),
        Op::Sub(a, b) => c(a)?.wrapping_sub(c(b)?),
        Op::And(a, b) => c(a)? & c(b)?,
        Op::Or(a, b) => c(a)? | c(b)?,
        Op::Xor(a, b) => c(a)? ^ c(b)?,
        Op::Mul(a, b) => c(a)?.wrapping_mul(c(b)?),
        // `cmp`/`subs` with an immediate add its complement.
        Op::Not(a) => !c(a)?,
        Op::Neg(a) => c(a)?.wrapping_neg(),
        // Operands are canonical: both are the value, masked below.
        Op::ZExt(a) | Op::Trunc(a) => c(a)?,
        Op::Shl(a, b) if c(b)? < bits as u64 => c(a)? << c(b)?,
        Op::LShr(a, b) if c(b)? < bits as u64 => c(a)? >> c(b)?,
        _ => return None,
    };
    Some(r & ty.mask() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Builder;

    /// Interprets `blk` on a state of `N` fields, zero but the second
    /// (`x1`); returns how it ended and the state.
    fn run_with_x1<const N: usize>(blk: &Block, x1: u64) -> (String, [u64; N]) {
        let mut state = [0u64; N];
        state[1] = x1;
        let mut interp = crate::interp::Interpreter::new();
        // SAFETY: the callers' blocks only access fields below N.
        let r = unsafe { interp.run(blk, state.as_mut_ptr() as *mut u8) };
        (format!("{r:?}"), state)
    }

    fn ops(b: &Block) -> Vec<String> {
        b.insts.iter().map(|i| format!("{:?}", i.op)).collect()
    }

    /// `mov x1, #5; add x2, x1, #0; mov x1, #6`: the state read reuses the
    /// written value, `+ 0` goes, the first write of x1 is overwritten
    /// with nothing in between that could see it.
    #[test]
    fn forwards_folds_and_drops_overwritten_writes() {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let five = b.iconst(Type::I64, 5);
        b.set_state(8, five);
        b.guest_insn(0x1004);
        let x1 = b.get_state(8, Type::I64);
        let zero = b.iconst(Type::I64, 0);
        let sum = b.add(x1, zero);
        b.set_state(16, sum);
        b.guest_insn(0x1008);
        let six = b.iconst(Type::I64, 6);
        b.set_state(8, six);
        let mut block = b.finish(0x1000, 0x100c, 3, Terminator::Jump(0x100c));
        simplify(&mut block);
        assert_eq!(
            ops(&block),
            [
                "GuestInsn(4096)",
                "Const(5)",
                "GuestInsn(4100)",
                "SetState(16, Value(1))",
                "GuestInsn(4104)",
                "Const(6)",
                "SetState(8, Value(5))",
            ]
        );
        crate::verify::verify(&block).unwrap();
    }

    /// A W register read after the X register's write in the block takes
    /// the written value's low bits (no state read), and the state the
    /// block leaves is the same as without the pass.
    #[test]
    fn narrow_read_after_a_wide_write_takes_its_low_bits() {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let x = b.get_state(8, Type::I64);
        let k = b.iconst(Type::I64, 0x1_0000_0003);
        let sum = b.add(x, k);
        b.set_state(16, sum);
        b.guest_insn(0x1004);
        let w = b.get_state(16, Type::I32);
        let h = b.get_state(16, Type::I16);
        let wz = b.zext(w, Type::I64);
        b.set_state(24, wz);
        let hz = b.zext(h, Type::I64);
        b.set_state(32, hz);
        let raw = b.finish(0x1000, 0x1008, 2, Terminator::Jump(0x1008));
        let mut block = raw.clone();
        simplify(&mut block);
        crate::verify::verify(&block).unwrap();
        let reads: Vec<_> = block
            .insts
            .iter()
            .filter_map(|i| match i.op {
                Op::GetState(off) => Some(off),
                _ => None,
            })
            .collect();
        assert_eq!(reads, [8], "{block}");
        let (r, state) = run_with_x1::<8>(&block, 0xffff_fffe_8000_fffe);
        assert_eq!((r, state), run_with_x1(&raw, 0xffff_fffe_8000_fffe));
        assert_eq!(state[3], 0x8001_0001);
        assert_eq!(state[4], 0x0001);
    }

    /// A truncation of an extension or of a truncation takes its bits from
    /// the inner value: `w0` written and read again is the 32-bit value
    /// itself, no `Trunc` left; narrower and wider reads become one
    /// extension or truncation of it. The raw and simplified blocks leave
    /// the same state.
    #[test]
    fn truncations_of_extensions_take_the_inner_value() {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let w = b.get_state(8, Type::I32);
        let h = b.get_state(8, Type::I16);
        let wz = b.zext(w, Type::I64);
        let hs = b.sext(h, Type::I64);
        b.guest_insn(0x1004);
        // Same width back, narrower, and wider than the inner value.
        let w2 = b.trunc(wz, Type::I32);
        let byte = b.trunc(wz, Type::I8);
        let hs32 = b.trunc(hs, Type::I32);
        let hz = b.zext(h, Type::I64);
        let hz32 = b.trunc(hz, Type::I32);
        let w16 = b.trunc(w2, Type::I16);
        let w32 = b.trunc(wz, Type::I32);
        let w16b = b.trunc(w32, Type::I16);
        for (off, v) in [(16, w2), (24, hs32), (32, hz32)] {
            let x = b.zext(v, Type::I64);
            b.set_state(off, x);
        }
        for (off, v) in [(40, byte), (48, w16), (56, w16b)] {
            let x = b.zext(v, Type::I64);
            b.set_state(off, x);
        }
        // A W register read after its X register write: the 32-bit value.
        b.guest_insn(0x1008);
        let again = b.get_state(16, Type::I32);
        let again16 = b.get_state(24, Type::I16);
        let x = b.zext(again, Type::I64);
        b.set_state(64, x);
        let x = b.zext(again16, Type::I64);
        b.set_state(72, x);
        let raw = b.finish(0x1000, 0x100c, 3, Terminator::Jump(0x100c));
        let mut block = raw.clone();
        simplify(&mut block);
        crate::verify::verify(&block).unwrap();
        // Every truncation left truncates the state read itself.
        assert!(
            block.insts.iter().all(|i| match i.op {
                Op::Trunc(x) => matches!(block.insts[x.0 as usize].op, Op::GetState(_)),
                _ => true,
            }),
            "{block}"
        );
        let (r, state) = run_with_x1::<10>(&block, 0xffff_fffe_8765_f4f3);
        assert_eq!((r, state), run_with_x1(&raw, 0xffff_fffe_8765_f4f3));
        assert_eq!(
            state[2..],
            [
                0x8765_f4f3,
                0xffff_f4f3,
                0xf4f3,
                0xf3,
                0xf4f3,
                0xf4f3,
                0x8765_f4f3,
                0xf4f3
            ]
        );
    }

    /// Constant offsets of constant offsets add up: `(x + 16) + 8` is
    /// `x + 24` (a pair access's second address), `(x - 80) + 80` is `x`,
    /// whichever operand the constants are; the raw and simplified
    /// blocks leave the same state.
    #[test]
    fn offsets_of_offsets_add_up() {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let x = b.get_state(8, Type::I64);
        let k16 = b.iconst(Type::I64, 16);
        let a = b.add(x, k16);
        let k8 = b.iconst(Type::I64, 8);
        let a8 = b.add(k8, a);
        let m80 = b.iconst(Type::I64, (-80i64) as u64);
        let lo = b.add(m80, x);
        let p80 = b.iconst(Type::I64, 80);
        let back = b.add(lo, p80);
        // `lo + 0` is `lo`, not another `x - 80`.
        let zero = b.iconst(Type::I64, 0);
        let same = b.add(lo, zero);
        for (off, v) in [(16, a), (24, a8), (32, lo), (40, back), (48, same)] {
            b.set_state(off, v);
        }
        let raw = b.finish(0x1000, 0x1004, 1, Terminator::Jump(0x1004));
        let mut block = raw.clone();
        simplify(&mut block);
        crate::verify::verify(&block).unwrap();
        // No add of an add of a constant is left; `back` is `x` itself.
        let is_offset = |v: Value| matches!(block.insts[v.0 as usize].op, Op::Add(..));
        assert!(
            block.insts.iter().all(|i| match i.op {
                Op::Add(p, q) => !is_offset(p) && !is_offset(q),
                _ => true,
            }),
            "{block}"
        );
        assert!(
            block.insts.iter().any(|i| matches!(
                i.op,
                Op::SetState(40, v) if matches!(block.insts[v.0 as usize].op, Op::GetState(8))
            )),
            "{block}"
        );
        let adds = block
            .insts
            .iter()
            .filter(|i| matches!(i.op, Op::Add(..)))
            .count();
        assert_eq!(adds, 3, "{block}");
        let (r, state) = run_with_x1::<7>(&block, 0x7fff_ffff_fff8);
        assert_eq!((r, state), run_with_x1(&raw, 0x7fff_ffff_fff8));
        assert_eq!(
            state[2..],
            [
                0x8000_0000_0008,
                0x8000_0000_0010,
                0x7fff_ffff_ffa8,
                0x7fff_ffff_fff8,
                0x7fff_ffff_ffa8
            ]
        );
    }

    /// A load between two writes of a field keeps the first: if the load
    /// faults, the guest sees the state of the instructions before it.
    #[test]
    fn keeps_writes_a_fault_could_observe() {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let one = b.iconst(Type::I64, 1);
        b.set_state(8, one);
        b.guest_insn(0x1004);
        let addr = b.iconst(Type::I64, 0x10);
        let x = b.load(addr, Type::I64);
        b.set_state(8, x);
        let mut block = b.finish(0x1000, 0x1008, 2, Terminator::Jump(0x1008));
        simplify(&mut block);
        let sets = block
            .insts
            .iter()
            .filter(|i| matches!(i.op, Op::SetState(8, _)))
            .count();
        assert_eq!(sets, 2, "{}", block);
    }

    /// `cmp w1, #5` adds the complement of 5: it folds (in 32 bits), and
    /// so do negation, multiplication and width changes of constants.
    #[test]
    fn folds_unary_ops_and_products_of_constants() {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let five = b.iconst(Type::I32, 5);
        let not = b.push(Op::Not(five), Type::I32);
        b.set_state(8, not);
        let neg = b.push(Op::Neg(five), Type::I32);
        b.set_state(16, neg);
        let seven = b.iconst(Type::I32, 7);
        let prod = b.push(Op::Mul(five, seven), Type::I32);
        let wide = b.zext(prod, Type::I64);
        b.set_state(24, wide);
        let big = b.iconst(Type::I64, 0x1_0000_0003);
        let low = b.trunc(big, Type::I32);
        b.set_state(32, low);
        let mut block = b.finish(0x1000, 0x1004, 1, Terminator::Jump(0x1004));
        simplify(&mut block);
        let ops = ops(&block);
        for c in [
            "Const(4294967290)",
            "Const(4294967291)",
            "Const(35)",
            "Const(3)",
        ] {
            assert!(ops.contains(&c.to_string()), "{c} missing in {block}");
        }
        assert!(
            !ops.iter()
                .any(|o| o.starts_with("Not") || o.starts_with("Neg") || o.starts_with("Mul")),
            "{block}"
        );
        crate::verify::verify(&block).unwrap();
    }

    /// Constants fold within their type; a branch condition survives.
    #[test]
    fn folds_in_the_result_type_and_keeps_the_condition() {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let a = b.iconst(Type::I32, 0xffff_fff0);
        let c = b.iconst(Type::I32, 0x20);
        let s = b.add(a, c);
        b.set_state(8, s);
        let x = b.get_state(16, Type::I64);
        let z = b.iconst(Type::I64, 0);
        let cond = b.icmp(crate::IntCC::Eq, x, z);
        let mut block = b.finish(
            0x1000,
            0x1004,
            1,
            Terminator::Branch {
                cond,
                taken: 0x2000,
                not_taken: 0x1004,
            },
        );
        simplify(&mut block);
        assert!(ops(&block).contains(&"Const(16)".to_string()), "{}", block);
        let Terminator::Branch { cond, .. } = block.term else {
            panic!("terminator changed");
        };
        assert!(matches!(block.insts[cond.0 as usize].op, Op::Icmp(..)));
        crate::verify::verify(&block).unwrap();
    }

    /// Condition tests of compare and logical flags become comparisons
    /// (or constants) that give what the packed flags gave, for every
    /// condition, both widths, register and constant operands, and the
    /// flags still reach the state.
    #[test]
    fn condition_tests_of_compares_become_comparisons() {
        use crate::testing::EDGES;
        use crate::{BlockResult, Interpreter};
        // 0: compare registers, 1: compare with a constant, 2: logical.
        for kind in 0..3 {
            for ty in [Type::I32, Type::I64] {
                for cond in 0..16u8 {
                    let konsts: &[u64] = if kind == 1 { &EDGES } else { &[0] };
                    for &konst in konsts {
                        let mut b = Builder::new();
                        b.guest_insn(0x1000);
                        let a = b.get_state(0, ty);
                        let f = match kind {
                            0 => {
                                let x = b.get_state(8, ty);
                                let nx = b.not(x);
                                let one = b.iconst(Type::I1, 1);
                                b.add_flags(a, nx, one)
                            }
                            1 => {
                                let nx = b.iconst(ty, !konst);
                                let one = b.iconst(Type::I1, 1);
                                b.add_flags(a, nx, one)
                            }
                            _ => b.logic_flags(a),
                        };
                        b.set_state(24, f);
                        let c = b.cond_holds(cond, f);
                        let c = b.zext(c, Type::I64);
                        b.set_state(16, c);
                        let block = b.finish(0x1000, 0x1004, 1, Terminator::Jump(0x1004));
                        let mut simple = block.clone();
                        simplify(&mut simple);
                        crate::verify::verify(&simple).unwrap();
                        let rewritten = !matches!((kind, cond), (0 | 1, 4..=7) | (_, 14..));
                        assert_eq!(
                            !ops(&simple).iter().any(|o| o.starts_with("CondHolds")),
                            rewritten,
                            "{simple}"
                        );
                        for x in EDGES {
                            for y in EDGES {
                                let run = |blk: &Block| {
                                    let mut st = [x, y, 0, 0];
                                    // SAFETY: the block only accesses the
                                    // state, which is big enough.
                                    let r = unsafe {
                                        Interpreter::new().run(blk, st.as_mut_ptr() as *mut u8)
                                    };
                                    assert_eq!(r, BlockResult::Next(0x1004));
                                    st
                                };
                                assert_eq!(run(&block), run(&simple), "{x:x} {y:x}\n{simple}");
                            }
                        }
                    }
                }
            }
        }
    }
}
