//! Where the values of a baseline block live while its code runs.
//!
//! Every IR value has a 16-byte home slot (`[r12 + 16 * value]`), but the
//! scalar templates keep values in host registers while they can: a
//! constant is folded into the instructions that use it (no code at its
//! definition), and a computed value goes to one of [`POOL`]'s registers
//! until its last use, reaching its slot only when something must read it
//! there. With all six taken, the value whose next use is furthest away
//! goes home to make room (in one hot block of CPython's interpreter
//! loop, a run of values each read once by the next instruction went
//! through their slots: 510 -> 351 bytes of code). The templates that
//! read operands from slots (vector ops, the interpreter shim, helper
//! calls) run after [`Emitter::prepare_slot_op`], which writes their
//! operands home and, as such an op may call out, spills the
//! caller-saved part of the pool.
//!
//! No value is kept in a register across blocks: each block's code starts
//! with every value unset and ends with a jump, so chained blocks need no
//! agreement but one, the state fields kept in rbp, r15 and r14
//! (`ChainConfig::pinned`: the guest stack pointer, X0 and X2), whose
//! reads can stay there ([`Loc::Pinned`]). A register that keeps a field
//! leaves the pool.
//! A faulting access abandons the block, whose values are then dead (guest
//! state is written by `SetState` as the IR says).

use super::{Emitter, slot};
use dynasmrt::x64::Rq;
use dynasmrt::{DynasmApi, dynasm};
use xarch_ir::{Block, IntCC, Op, Terminator, Type, Value};

/// Host registers that hold IR values: first those calls clobber, then
/// callee-saved ones (saved by the block prologue) that survive calls.
/// The last ones are taken from the end when they keep state fields
/// (`super::PIN_REGS`: r15 for the second pinned field, r14 for the
/// third; see [`pool_len`]).
pub(super) const POOL: [Rq; 6] = [Rq::R8, Rq::R9, Rq::R10, Rq::R11, Rq::R14, Rq::R15];

/// How much of [`POOL`] holds values when `pinned` names the state fields
/// kept in `super::PIN_REGS` (the stack pointer's rbp is not in the pool).
pub(super) fn pool_len(pinned: &[Option<u32>; super::PINS]) -> usize {
    const _: () = assert!(matches!(super::PIN_REGS[1], Rq::R15));
    const _: () = assert!(matches!(super::PIN_REGS[2], Rq::R14));
    if pinned[2].is_some() {
        POOL.len() - 2
    } else if pinned[1].is_some() {
        POOL.len() - 1
    } else {
        POOL.len()
    }
}

/// Pool entries below this index are caller-saved.
const CALLER_SAVED: usize = 4;

/// The scratch registers templates may use freely (never in the pool).
pub(super) const RAX: Rq = Rq::RAX;
pub(super) const RCX: Rq = Rq::RCX;
pub(super) const RDX: Rq = Rq::RDX;
pub(super) const RSI: Rq = Rq::RSI;
pub(super) const RDI: Rq = Rq::RDI;

/// Where a value is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Loc {
    /// In its slot (or not defined yet, or never used).
    Slot,
    /// In pool register `POOL[k]`; also in its slot unless dirty.
    Reg(usize),
    /// A constant not materialised anywhere (canonical: zero-extended).
    Imm(u64),
    /// A read of pinned state field `k` (`ChainConfig::pinned`) that
    /// stays in its register (`PIN_REGS[k]`): nothing writes the field
    /// before the value's last use. Also in its slot unless dirty.
    Pinned(usize),
}

/// A second operand as an x86 instruction can take it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Src {
    Reg(Rq),
    /// Offset of the slot from r12.
    Mem(i32),
    /// A sign-extended 32-bit immediate.
    Imm(i32),
}

/// What the emitter knows of one value.
#[derive(Clone, Copy)]
struct ValueInfo {
    loc: Loc,
    /// The register copy is newer than the slot.
    dirty: bool,
    /// Index of the last instruction using the value (`insts.len()` for
    /// the terminator); 0 if unused (uses always come after the
    /// definition, so 0 never marks a real use).
    last_use: u32,
    /// How many operands (and the terminator) use the value.
    uses: u32,
    /// For an address `base + disp` used only by one scalar load or store:
    /// `(base, disp)`, computed by the access itself (`lea`).
    addr: Option<(u32, i32)>,
    /// For a zero extension to 64 bits that only one write of guest
    /// state uses: its operand, which the write stores whole (a value is
    /// zero-extended wherever it is kept), so the extension has no code.
    stored_from: Option<u32>,
    /// For a value whose only use is the write of pinned field `k`, with
    /// nothing between its definition and the write that could see the
    /// field (a fault, a call, a read or another write of it): `k`. The
    /// value is computed in the field's register, which the write then
    /// leaves as it is (see [`Emitter::pin_target`]).
    to_pin: Option<u8>,
}

/// The value-location state of the block being compiled.
pub(super) struct Regs {
    vals: Vec<ValueInfo>,
    /// The value each pool register holds.
    held: [Option<u32>; POOL.len()],
    /// Pool registers in use here (those after keep pinned fields).
    pool_len: usize,
    /// A comparison or condition test used only by the block's branch:
    /// emitted with the branch as a host compare-and-jump (its operands
    /// live until then).
    pub(super) fused: Option<usize>,
    /// Flags values only written to the guest's flags field: their
    /// writes defer them (`crate::flags`), their definitions emit nothing.
    deferred: Vec<(u32, Deferred)>,
    /// Values only a deferred flags value uses, whose operand it keeps
    /// instead (`NOT x` of a compare): nothing to emit.
    folded: Vec<u32>,
    /// Comparisons only a `Select` uses: emitted with it as a host
    /// compare and conditional move (their operands live until then),
    /// not as a boolean the select then tests.
    select_fused: Vec<u32>,
    /// Every instruction's operands in order, and where each
    /// instruction's start in it (one more for the end): the next use of
    /// a value, for choosing which register to give up.
    operands: Vec<u32>,
    operands_at: Vec<u32>,
}

/// A deferred flags value: its kind (`crate::flags`), width and operands.
#[derive(Clone, Copy, Debug)]
pub(super) struct Deferred {
    pub kind: u64,
    pub ty: Type,
    pub a: Value,
    pub b: Option<Value>,
}

impl Regs {
    pub(super) fn new(
        block: &Block,
        flags: Option<u32>,
        pinned: &[Option<u32>; super::PINS],
    ) -> Regs {
        let n = block.insts.len();
        let unset = ValueInfo {
            loc: Loc::Slot,
            dirty: false,
            last_use: 0,
            uses: 0,
            addr: None,
            stored_from: None,
            to_pin: None,
        };
        let mut vals = vec![unset; n];
        let mut operands = Vec::with_capacity(2 * n);
        let mut operands_at = Vec::with_capacity(n + 1);
        for (i, inst) in block.insts.iter().enumerate() {
            operands_at.push(operands.len() as u32);
            inst.op.for_each_operand(|v| {
                let info = &mut vals[v.0 as usize];
                info.last_use = i as u32;
                info.uses += 1;
                operands.push(v.0);
            });
        }
        operands_at.push(operands.len() as u32);
        // Addresses `base + constant` that only one scalar access uses.
        for (i, inst) in block.insts.iter().enumerate() {
            let a = match inst.op {
                Op::Load(a) if inst.ty.bytes() <= 8 => a,
                Op::Store(a, x) if block.ty(x) != Type::I128 => a,
                _ => continue,
            };
            let ai = a.0 as usize;
            if vals[ai].uses != 1 || block.ty(a) != Type::I64 {
                continue;
            }
            let Op::Add(x, y) = block.insts[ai].op else {
                continue;
            };
            let konst = |v: Value| match block.insts[v.0 as usize].op {
                Op::Const(c) => imm32(c),
                _ => None,
            };
            let (base, disp) = match (konst(y), konst(x)) {
                (Some(d), _) => (x, d),
                (None, Some(d)) => (y, d),
                _ => continue,
            };
            vals[ai].addr = Some((base.0, disp));
            let b = &mut vals[base.0 as usize];
            b.last_use = b.last_use.max(i as u32);
        }
        // A 32-bit result written to a 64-bit register (`add w0, w1, w2`:
        // an I32 op, its ZExt, the write): when the I32 value is also used
        // later, the extension was a copy into a register of its own.
        for (j, inst) in block.insts.iter().enumerate() {
            let Op::SetState(_, z) = inst.op else {
                continue;
            };
            let zi = z.0 as usize;
            let Op::ZExt(a) = block.insts[zi].op else {
                continue;
            };
            let in_term = matches!(block.term, Terminator::JumpDyn(v, _) | Terminator::Branch { cond: v, .. } if v == z);
            if vals[zi].uses != 1
                || in_term
                || block.ty(z) != Type::I64
                || !matches!(block.ty(a), Type::I8 | Type::I16 | Type::I32)
            {
                continue;
            }
            vals[zi].stored_from = Some(a.0);
            let info = &mut vals[a.0 as usize];
            info.last_use = info.last_use.max(j as u32);
        }
        // Comparisons only one select uses (`csel`, `cset`, `csetm`
        // after a compare: the comparison, a `setcc`, a `movzx`, a `test`
        // and a `cmov` were one `cmp` and one `cmov`).
        let mut select_fused = Vec::new();
        for (j, inst) in block.insts.iter().enumerate() {
            let Op::Select(c, _, _) = inst.op else {
                continue;
            };
            let ci = c.0 as usize;
            let in_term = match block.term {
                Terminator::JumpDyn(v, _) | Terminator::Branch { cond: v, .. } => v == c,
                Terminator::Jump(_) | Terminator::Exit { .. } => false,
            };
            if vals[ci].uses != 1 || in_term {
                continue;
            }
            if let Op::Icmp(cc, a, b) = block.insts[ci].op
                && compare_fits(cc, block.ty(a))
            {
                for v in [a, b] {
                    let info = &mut vals[v.0 as usize];
                    info.last_use = info.last_use.max(j as u32);
                }
                select_fused.push(c.0);
            }
        }
        find_pin_targets(block, pinned, &mut vals);
        let (deferred, folded) = match flags {
            Some(off) => find_deferred(block, off, &mut vals),
            None => (Vec::new(), Vec::new()),
        };
        let mut fused = None;
        match &block.term {
            Terminator::JumpDyn(v, _) => vals[v.0 as usize].last_use = n as u32,
            Terminator::Branch { cond, .. } => {
                let c = cond.0 as usize;
                vals[c].last_use = n as u32;
                if vals[c].uses == 0 {
                    let mut keep = |v: Value| vals[v.0 as usize].last_use = n as u32;
                    match block.insts[c].op {
                        Op::CondHolds(_, nzcv) => {
                            keep(nzcv);
                            fused = Some(c);
                        }
                        Op::Icmp(cc, a, b) if compare_fits(cc, block.ty(a)) => {
                            keep(a);
                            keep(b);
                            fused = Some(c);
                        }
                        _ => {}
                    }
                }
            }
            Terminator::Jump(_) | Terminator::Exit { .. } => {}
        }
        Regs {
            vals,
            held: [None; POOL.len()],
            pool_len: pool_len(pinned),
            fused,
            deferred,
            folded,
            select_fused,
            operands,
            operands_at,
        }
    }

    /// The next instruction after `i` that uses value `v` (as an operand:
    /// a use folded into another instruction counts where that
    /// instruction is, which is no later), else its last use.
    fn next_use(&self, v: u32, i: usize) -> usize {
        let from = self
            .operands_at
            .get(i + 1)
            .map_or(self.operands.len(), |&o| o as usize);
        match self.operands[from..].iter().position(|&x| x == v) {
            Some(p) => {
                let at = from + p;
                // The instruction whose operands hold position `at`.
                self.operands_at.partition_point(|&o| o as usize <= at) - 1
            }
            None => self.last_use(v),
        }
    }

    /// Whether the comparison `v` is emitted with the one select that uses
    /// it.
    pub(super) fn select_fused(&self, v: usize) -> bool {
        self.select_fused.contains(&(v as u32))
    }

    /// The deferred flags value `v`, if it is one.
    pub(super) fn deferred(&self, v: usize) -> Option<Deferred> {
        self.deferred
            .iter()
            .find(|&&(d, _)| d as usize == v)
            .map(|&(_, d)| d)
    }

    /// Whether value `v` has no code of its own (a deferred flags value or
    /// an operand folded into one, or an extension its write stores).
    pub(super) fn elided(&self, v: usize) -> bool {
        self.vals[v].stored_from.is_some()
            || self.deferred(v).is_some()
            || self.folded.contains(&(v as u32))
    }

    /// What a write of value `v` to guest state stores: `v`, or the
    /// operand of the extension `v` is (see `ValueInfo::stored_from`).
    pub(super) fn stored(&self, v: Value) -> Value {
        self.vals[v.0 as usize].stored_from.map_or(v, Value)
    }

    pub(super) fn loc(&self, v: Value) -> Loc {
        self.vals[v.0 as usize].loc
    }

    /// `(base, disp)` if value `v` is an address its access computes.
    pub(super) fn addr(&self, v: usize) -> Option<(Value, i32)> {
        self.vals[v].addr.map(|(b, d)| (Value(b), d))
    }

    /// Whether value `i` is used after its definition.
    fn used(&self, i: usize) -> bool {
        self.vals[i].last_use as usize > i
    }

    pub(super) fn last_use(&self, v: u32) -> usize {
        self.vals[v as usize].last_use as usize
    }
}

/// Marks the values that can be computed in the register of the pinned
/// field they are written to (`ValueInfo::to_pin`): a value whose only use
/// is that write (or whose only use is a zero extension only that write
/// uses, see `stored_from`), with no guest access, atomic, fence or call
/// between them (a fault or a call there would see the field's new value
/// early) and no other access to the field.
fn find_pin_targets(block: &Block, pinned: &[Option<u32>; super::PINS], vals: &mut [ValueInfo]) {
    let touches = |p: u32, o: u32, bytes: u32| o < p + 8 && p < o + bytes.max(1);
    for (j, inst) in block.insts.iter().enumerate() {
        let Op::SetState(off, x) = inst.op else {
            continue;
        };
        let Some(k) = pinned.iter().position(|&f| f == Some(off)) else {
            continue;
        };
        if block.ty(x) != Type::I64 {
            continue;
        }
        let xi = x.0 as usize;
        let v = vals[xi].stored_from.map_or(xi, |a| a as usize);
        let single = |i: usize| vals[i].uses == 1 && vals[i].last_use as usize == j;
        if !single(xi) || !single(v) {
            continue;
        }
        let quiet = block.insts[v + 1..j].iter().all(|b| match b.op {
            Op::Load(_)
            | Op::Store(..)
            | Op::CmpXchg(..)
            | Op::AtomicRmw(..)
            | Op::Call(..)
            | Op::Fence(_) => false,
            Op::GetState(o) => !touches(off, o, b.ty.bytes()),
            Op::SetState(o, y) => !touches(off, o, block.ty(y).bytes()),
            _ => true,
        });
        if quiet {
            vals[v].to_pin = Some(k as u8);
        }
    }
}

/// The flags values of `block` whose only uses are writes of the flags
/// field at `off` (compare, add and logical flags of 32 and 64 bits),
/// with their operands kept alive up to the last such write; and the
/// `NOT x` operands of compares that only they use (the write keeps `x`).
fn find_deferred(
    block: &Block,
    off: u32,
    vals: &mut [ValueInfo],
) -> (Vec<(u32, Deferred)>, Vec<u32>) {
    let mut deferred: Vec<(u32, Deferred)> = Vec::new();
    let mut folded = Vec::new();
    let konst = |v: Value| match block.insts[v.0 as usize].op {
        Op::Const(c) => Some(c),
        _ => None,
    };
    for (i, inst) in block.insts.iter().enumerate() {
        let Op::SetState(o, f) = inst.op else {
            continue;
        };
        if o != off {
            continue;
        }
        let fi = f.0 as usize;
        if deferred.iter().any(|&(d, _)| d as usize == fi) {
            continue;
        }
        let writes = block.insts[fi + 1..]
            .iter()
            .filter(|x| matches!(x.op, Op::SetState(o2, v) if o2 == off && v == f))
            .count() as u32;
        // (The terminator's operand is not counted in `uses`.)
        let in_term = matches!(block.term, Terminator::JumpDyn(v, _) if v == f);
        if writes != vals[fi].uses || block.ty(f) != Type::I64 || in_term {
            continue;
        }
        let d = match block.insts[fi].op {
            Op::AddFlags(a, b, c) if matches!(block.ty(a), Type::I32 | Type::I64) => {
                let ty = block.ty(a);
                match (konst(c), block.insts[b.0 as usize].op) {
                    (Some(1), Op::Not(x)) if vals[b.0 as usize].uses == 1 => {
                        folded.push(b.0);
                        Deferred {
                            kind: crate::flags::LAZY_SUB,
                            ty,
                            a,
                            b: Some(x),
                        }
                    }
                    (Some(c), _) if c <= 1 => Deferred {
                        kind: [crate::flags::LAZY_ADD, crate::flags::LAZY_ADD_CARRY][c as usize],
                        ty,
                        a,
                        b: Some(b),
                    },
                    _ => continue,
                }
            }
            Op::LogicFlags(a) if matches!(block.ty(a), Type::I32 | Type::I64) => Deferred {
                kind: crate::flags::LAZY_LOGIC,
                ty: block.ty(a),
                a,
                b: None,
            },
            _ => continue,
        };
        // The operands live up to the last write (which stores them).
        let last = block
            .insts
            .iter()
            .rposition(|x| matches!(x.op, Op::SetState(o2, v) if o2 == off && v == f))
            .unwrap_or(i) as u32;
        for v in [Some(d.a), d.b].into_iter().flatten() {
            let info = &mut vals[v.0 as usize];
            info.last_use = info.last_use.max(last);
        }
        deferred.push((f.0, d));
    }
    (deferred, folded)
}

/// Whether [`Emitter::compare`] has a template for `cc` on `ty`.
pub(super) fn compare_fits(cc: IntCC, ty: Type) -> bool {
    let signed = matches!(cc, IntCC::Slt | IntCC::Sle | IntCC::Sgt | IntCC::Sge);
    match ty {
        Type::I32 | Type::I64 => true,
        // Canonical zero-extended values compare correctly unsigned.
        Type::I1 | Type::I8 | Type::I16 => !signed,
        _ => false,
    }
}

/// `x` as a sign-extended 32-bit immediate standing for the 64-bit `x`.
pub(super) fn imm32(x: u64) -> Option<i32> {
    i32::try_from(x as i64).ok()
}

impl Emitter {
    /// Loads value `v` (zero-extended to 64 bits) into scratch register
    /// `dst`. Never changes the host flags.
    pub(super) fn get(&mut self, v: Value, dst: Rq) {
        match self.regs.loc(v) {
            Loc::Reg(k) => {
                let r = POOL[k];
                if r != dst {
                    dynasm!(self.ops ; .arch x64 ; mov Rq(dst), Rq(r));
                }
            }
            Loc::Slot => {
                let o = slot(v);
                dynasm!(self.ops ; .arch x64 ; mov Rq(dst), QWORD [r12 + o]);
            }
            Loc::Imm(x) => self.mov_imm(dst, x),
            Loc::Pinned(p) => {
                let r = super::PIN_REGS[p];
                if dst != r {
                    dynasm!(self.ops ; .arch x64 ; mov Rq(dst), Rq(r));
                }
            }
        }
    }

    /// Guest address `v` as a `[base + disp]` operand: the register that
    /// holds it (or the base of a fused `base + disp`), else rdi loaded
    /// with it. (The fault handler decodes the access for its address.)
    pub(super) fn addr_operand(&mut self, v: Value) -> (Rq, i32) {
        let (val, disp) = self.regs.addr(v.0 as usize).unwrap_or((v, 0));
        match self.regs.loc(val) {
            Loc::Reg(k) => (POOL[k], disp),
            Loc::Pinned(p) => (super::PIN_REGS[p], disp),
            Loc::Slot => {
                let o = slot(val);
                dynasm!(self.ops ; .arch x64 ; mov rdi, QWORD [r12 + o]);
                (RDI, disp)
            }
            Loc::Imm(x) => {
                self.mov_imm(RDI, x.wrapping_add(disp as i64 as u64));
                (RDI, 0)
            }
        }
    }

    /// Value `v` as the source of a store of `bytes`: its register, an
    /// immediate the store can take, else rsi loaded with it.
    pub(super) fn store_src(&mut self, v: Value, bytes: u32) -> Src {
        match self.regs.loc(v) {
            Loc::Reg(k) => Src::Reg(POOL[k]),
            Loc::Pinned(p) => Src::Reg(super::PIN_REGS[p]),
            Loc::Imm(x) if bytes < 8 || imm32(x).is_some() => Src::Imm(x as i32),
            _ => {
                self.get(v, RSI);
                Src::Reg(RSI)
            }
        }
    }

    /// `mov dst, x` in its shortest form that leaves the flags alone.
    fn mov_imm(&mut self, dst: Rq, x: u64) {
        if let Ok(x32) = u32::try_from(x) {
            super::enc::mov_r32_imm(&mut self.ops, dst, x32);
        } else if let Some(s) = imm32(x) {
            dynasm!(self.ops ; .arch x64 ; mov Rq(dst), s);
        } else {
            dynasm!(self.ops ; .arch x64 ; mov Rq(dst), QWORD x as i64);
        }
    }

    /// Value `v` as the source operand of a 64-bit instruction. A constant
    /// that does not fit a sign-extended immediate is loaded into
    /// `scratch` unless `low32` says only the low 32 bits of the result
    /// matter (then any 32-bit pattern will do).
    pub(super) fn src(&mut self, v: Value, scratch: Rq, low32: bool) -> Src {
        match self.regs.loc(v) {
            Loc::Reg(k) => Src::Reg(POOL[k]),
            Loc::Pinned(p) => Src::Reg(super::PIN_REGS[p]),
            Loc::Slot => Src::Mem(slot(v)),
            Loc::Imm(x) => match imm32(x) {
                Some(s) => Src::Imm(s),
                None if low32 => Src::Imm(x as u32 as i32),
                None => {
                    self.mov_imm(scratch, x);
                    Src::Reg(scratch)
                }
            },
        }
    }

    /// Value `i`, just computed into scratch register `from` (canonical),
    /// is defined: kept in a pool register if it is used later (a free
    /// one, else one given up by a value used after it: see
    /// [`Self::evict_for`]), else in its slot. Registers of operands
    /// whose last use was instruction `i` are free again first.
    pub(super) fn def(&mut self, i: usize, from: Rq) {
        self.release_dead(i);
        if !self.regs.used(i) {
            return;
        }
        // (The result is computed: its operands were read.)
        if let Some(p) = self.pin_target(i, |_| true) {
            let r = super::PIN_REGS[p];
            dynasm!(self.ops ; .arch x64 ; mov Rq(r), Rq(from));
            self.regs.vals[i].loc = Loc::Pinned(p);
            self.regs.vals[i].dirty = true;
            return;
        }
        let n = self.regs.pool_len;
        let free = self.regs.held[..n].iter().position(Option::is_none);
        if let Some(k) = free.or_else(|| self.evict_for(i)) {
            let r = POOL[k];
            dynasm!(self.ops ; .arch x64 ; mov Rq(r), Rq(from));
            self.regs.held[k] = Some(i as u32);
            self.regs.vals[i].loc = Loc::Reg(k);
            self.regs.vals[i].dirty = true;
        } else {
            let o = (i as i32) * 16;
            dynasm!(self.ops ; .arch x64 ; mov QWORD [r12 + o], Rq(from));
            self.regs.vals[i].loc = Loc::Slot;
        }
    }

    /// With the pool full, the register of the value whose next use
    /// comes last, if that is after value `i`'s: that value goes home
    /// (written to its slot if the register copy is newer) and is read
    /// from there from now on. A value an instruction or two further on
    /// reads then stays in a register rather than making a round trip
    /// through its slot (a store and a load the next instruction waits
    /// for), and the value given up is one used later, if at all.
    fn evict_for(&mut self, i: usize) -> Option<usize> {
        let (k, v, next) = (0..self.regs.pool_len)
            .filter_map(|k| {
                let v = self.regs.held[k]?;
                Some((k, v, self.regs.next_use(v, i)))
            })
            .max_by_key(|&(_, _, next)| next)?;
        if next <= self.regs.next_use(i as u32, i) {
            return None;
        }
        self.write_home(Value(v));
        self.regs.held[k] = None;
        self.regs.vals[v as usize].loc = Loc::Slot;
        Some(k)
    }

    /// Where to compute value `i`: the register of `reuse` when that
    /// value dies here (the op then works in place), else a free pool
    /// register, else rax (then [`Self::finish`] stores it to its slot).
    /// A pool register is reserved for `i` at once, so it never holds an
    /// operand the template still reads.
    pub(super) fn dest(&mut self, i: usize, reuse: Option<Value>) -> Rq {
        if !self.regs.used(i) {
            return RAX;
        }
        if let Some(p) = self.pin_target(i, |v| reuse.is_some_and(|a| a.0 == v)) {
            self.regs.vals[i].loc = Loc::Pinned(p);
            return super::PIN_REGS[p];
        }
        if let Some(a) = reuse
            && let Loc::Reg(k) = self.regs.loc(a)
            && self.regs.last_use(a.0) == i
        {
            // `a` keeps pointing at the register (the template reads it
            // there first); it is dead once the op is done.
            self.regs.held[k] = Some(i as u32);
            self.regs.vals[i].loc = Loc::Reg(k);
            return POOL[k];
        }
        let n = self.regs.pool_len;
        match self.regs.held[..n].iter().position(Option::is_none) {
            Some(k) => {
                self.regs.held[k] = Some(i as u32);
                self.regs.vals[i].loc = Loc::Reg(k);
                POOL[k]
            }
            None => RAX,
        }
    }

    /// The pinned field whose register value `i` is computed in (see
    /// `ValueInfo::to_pin`), if that register holds no value still to be
    /// read: none used after `i`, and no operand of `i` the template may
    /// read after writing its destination (`read_first` tells those it
    /// reads before).
    fn pin_target(&self, i: usize, read_first: impl Fn(u32) -> bool) -> Option<usize> {
        let p = self.regs.vals[i].to_pin? as usize;
        let from = self.regs.operands_at[i] as usize;
        let to = self.regs.operands_at[i + 1] as usize;
        let operands = &self.regs.operands[from..to];
        let busy = self.regs.vals[..i].iter().enumerate().any(|(v, x)| {
            let v = v as u32;
            x.loc == Loc::Pinned(p)
                && (x.last_use as usize > i || (operands.contains(&v) && !read_first(v)))
        });
        (!busy).then_some(p)
    }

    /// [`Self::dest`] for a scalar load, whose one instruction reads its
    /// address before it writes the destination (which may then be the
    /// address's register).
    pub(super) fn dest_load(&mut self, i: usize) -> Rq {
        if self.regs.used(i)
            && let Some(p) = self.pin_target(i, |_| true)
        {
            self.regs.vals[i].loc = Loc::Pinned(p);
            return super::PIN_REGS[p];
        }
        self.dest(i, None)
    }

    /// Value `i` is complete in `r`, the register [`Self::dest`] gave.
    pub(super) fn finish(&mut self, i: usize, r: Rq) {
        if r == RAX {
            self.def(i, RAX);
            return;
        }
        self.regs.vals[i].dirty = true;
        self.release_dead(i);
    }

    /// Value `i` is pinned field `p` as its register holds it: no code.
    pub(super) fn def_pinned(&mut self, i: usize, p: usize) {
        self.regs.vals[i].loc = Loc::Pinned(p);
        self.regs.vals[i].dirty = true;
    }

    /// Value `i` is the constant `x` (of type `ty`): no code.
    pub(super) fn def_const(&mut self, i: usize, x: u64, ty: Type) {
        self.regs.vals[i].loc = Loc::Imm((x as u128 & ty.mask()) as u64);
    }

    /// Frees the registers of values last used by instruction `i`.
    pub(super) fn release_dead(&mut self, i: usize) {
        for k in 0..self.regs.pool_len {
            if let Some(v) = self.regs.held[k]
                && self.regs.last_use(v) <= i
            {
                self.regs.held[k] = None;
                self.regs.vals[v as usize].loc = Loc::Slot;
            }
        }
    }

    /// Writes value `v` to its slot if the slot is stale.
    fn write_home(&mut self, v: Value) {
        let o = slot(v);
        match self.regs.loc(v) {
            Loc::Slot => {}
            Loc::Reg(k) => {
                if self.regs.vals[v.0 as usize].dirty {
                    let r = POOL[k];
                    dynasm!(self.ops ; .arch x64 ; mov QWORD [r12 + o], Rq(r));
                    self.regs.vals[v.0 as usize].dirty = false;
                }
            }
            Loc::Pinned(p) => {
                if self.regs.vals[v.0 as usize].dirty {
                    let r = super::PIN_REGS[p];
                    dynasm!(self.ops ; .arch x64 ; mov QWORD [r12 + o], Rq(r));
                    self.regs.vals[v.0 as usize].dirty = false;
                }
            }
            Loc::Imm(x) => {
                match imm32(x) {
                    Some(s) => dynasm!(self.ops ; .arch x64 ; mov QWORD [r12 + o], s),
                    None => dynasm!(self.ops
                        ; .arch x64
                        ; mov rax, QWORD x as i64
                        ; mov QWORD [r12 + o], rax
                    ),
                }
                self.regs.vals[v.0 as usize].loc = Loc::Slot;
            }
        }
    }

    /// Before a template that reads its operands from their slots and may
    /// call out (clobbering caller-saved registers): operands go home, and
    /// values in caller-saved registers still needed later are spilled.
    /// The template then writes its result to its slot.
    pub(super) fn prepare_slot_op(&mut self, block: &Block, i: usize) {
        block.insts[i].op.for_each_operand(|v| self.write_home(v));
        for k in 0..CALLER_SAVED {
            if let Some(v) = self.regs.held[k] {
                if self.regs.last_use(v) > i {
                    self.write_home(Value(v));
                }
                self.regs.held[k] = None;
                self.regs.vals[v as usize].loc = Loc::Slot;
            }
        }
    }
}
