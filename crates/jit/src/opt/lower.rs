//! IR region → one Cranelift function `(state, ctx, slots) -> next PC`.
//!
//! Guest state fields that the region always accesses with one offset and
//! type, or writes whole as 64 bits and reads narrower (W registers), are
//! kept in Cranelift variables ("promoted"): loaded at region
//! entry, written back when dirty before helper calls and atomics (which
//! see the state block) and at every region exit, so the state block is
//! exact whenever anything can see it. Guest loads and stores do not
//! write back before each access: the state block is made exact at the
//! start of a guest instruction (the *replay point*) and stays so while
//! only values in variables change; a fault in a later access reports
//! the replay point, and the engine runs the interpreter from there to
//! the access (nothing since the replay point was visible: no store
//! completed, no state field written in memory). See [`plan_block`].

mod vector;

use super::{MAX_REPLAY_PASSES, OptError, RegionBlock};
use crate::baseline::{
    CTX_FAULT_ADDR, CTX_FAULT_PC, CTX_FAULT_STATUS, CTX_KIND, CTX_LAZY_A, CTX_LAZY_B,
    CTX_LAZY_INFO, CTX_OPT_SCRATCH, CTX_REGION_EXIT, CTX_REPLAY_PASSES, ChainConfig, KIND_EXIT,
    KIND_NEXT,
};
use crate::flags::{LAZY_ADD, LAZY_LOGIC, LAZY_PACKED, LAZY_SUB, pack_flags, width_code};
use cranelift_codegen::ir::condcodes::IntCC as CC;
use cranelift_codegen::ir::{
    self, AbiParam, BlockArg, InstBuilder, MemFlagsData, Signature, TrapCode, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, Variable};
use std::collections::HashMap;
use xarch_ir::{Block, BranchHint, FenceKind, IntCC, Op, Terminator, Type, Value};

/// Most promoted state fields per region (a bit mask tracks dirtiness).
const MAX_PROMOTED: usize = 128;

/// Most promoted integer fields per region, those accessed most: with all
/// general registers promoted, gzip -9 took 8% longer (spills); with 8,
/// xz -6 runs 15% faster and gzip as fast as with none of the W/X-mixed
/// registers promoted (4: xz 10% slower than 8; 10-14: both slower).
const MAX_PROMOTED_INTS: usize = 8;

fn cty(t: Type) -> ir::Type {
    match t {
        Type::I1 | Type::I8 => types::I8,
        Type::I16 => types::I16,
        Type::I32 => types::I32,
        Type::I64 => types::I64,
        Type::I128 => types::I128,
        Type::Void => types::I64,
    }
}

/// The Cranelift type of a promoted state field: 128-bit fields (vector
/// registers) live in XMM registers.
fn var_ty(t: Type) -> ir::Type {
    if t == Type::I128 {
        types::I8X16
    } else {
        cty(t)
    }
}

fn scalar(t: Type) -> bool {
    matches!(t, Type::I8 | Type::I16 | Type::I32 | Type::I64)
}

/// Whether the op may fault or read/write the state block behind the
/// compiler's back.
fn needs_flush(op: &Op) -> bool {
    matches!(
        op,
        Op::Load(_) | Op::Store(..) | Op::CmpXchg(..) | Op::AtomicRmw(..) | Op::Call(..)
    )
}

/// Whether the op is an inline guest access (a Cranelift load or store
/// whose fault the host handler redirects, see [`Lower::mark_pc`]).
fn is_access(op: &Op) -> bool {
    matches!(op, Op::Load(_) | Op::Store(..))
}

/// What is written back before an op.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flush {
    None,
    /// Dirty fields to the state, deferred flags as operands in the ctx
    /// (a fault's stub packs them): the state is exact for a fault.
    Light,
    /// Everything, flags packed: for code that reads the state block.
    Full,
}

/// A replay point: the guest PC whose state the state block holds, and
/// whether it is the start of a loop the region may have gone round
/// since (`ctx.replay_passes` times; see [`loop_replay_points`]).
type Replay = Option<(u64, bool)>;

/// Where a block writes back and which replay point each access reports
/// (see [`plan_block`]).
struct Plan {
    /// Per instruction of the block: the write-back before it.
    flush: Vec<Flush>,
    /// Per access: the replay point it reports, when earlier than the
    /// access's own instruction or through a loop.
    replay: Vec<Replay>,
    /// The replay point valid at the block's end, if any.
    out: Replay,
}

/// Plans `block`'s write-backs, given the replay point valid on entry.
///
/// The state block holds the exact guest state at a replay point P (the
/// start of a guest instruction) from a write-back there until something
/// since P becomes visible: a guest store completing, an atomic or helper
/// call, or a write to a state field not held in a variable. An access
/// while P holds needs no write-back: if it faults, the guest state is
/// the one at P, memory is as it was at P, and running the instructions
/// from P in the interpreter reaches the access again, faulting exactly
/// as the reference does (the engine does that: `FAULT_REPLAY`). With no
/// replay point, the instruction of an access starts with a light
/// write-back, which makes it one (accesses of an instruction precede its
/// register writes, so the state at its start is the state the reference
/// reports); an access after a visible write in its own instruction gets
/// a light write-back of its own and its own PC, as before replay points.
/// Write-backs before loads were 6-10% of gzip's and xz's time.
fn plan_block(block: &Block, by_off: &HashMap<u32, usize>, replay_in: Replay) -> Plan {
    let n = block.insts.len();
    let mut flush = vec![Flush::None; n];
    let mut replay_at = vec![None; n];
    let mut replay = replay_in;
    let mut pc = block.start;
    // Whether the guest instruction starting at `i` (up to the next
    // marker) contains an access.
    let has_access = |i: usize| {
        block.insts[i..]
            .iter()
            .enumerate()
            .take_while(|&(j, inst)| j == 0 || !matches!(inst.op, Op::GuestInsn(_)))
            .any(|(_, inst)| is_access(&inst.op))
    };
    for i in 0..n {
        let op = &block.insts[i].op;
        let starts_insn = i == 0 || matches!(op, Op::GuestInsn(_));
        if let Op::GuestInsn(p) = op {
            pc = *p;
        }
        if starts_insn && replay.is_none() && has_access(i) {
            flush[i] = Flush::Light;
            replay = Some((pc, false));
        }
        match op {
            Op::Load(_) | Op::Store(..) => {
                match replay {
                    Some((p, through_loop)) if p != pc || through_loop => replay_at[i] = replay,
                    Some(_) => {}
                    None => flush[i] = Flush::Light,
                }
                if matches!(op, Op::Store(..)) {
                    replay = None;
                }
            }
            Op::SetState(off, _) if !by_off.contains_key(off) => replay = None,
            // Atomics and helper calls see the state block.
            _ if needs_flush(op) => {
                flush[i] = Flush::Full;
                replay = None;
            }
            _ => {}
        }
    }
    Plan {
        flush,
        replay: replay_at,
        out: replay,
    }
}

/// Plans every block's write-backs (see [`plan_block`]), and chooses the
/// loop starts that keep their replay point across passes.
///
/// A loop's replay point carries into a block when every predecessor ends
/// with it (a data flow over the region, optimistic over back edges, to a
/// fixed point); any other replay point only from a block's one earlier
/// predecessor. Where they differ, a loop start (a block some later
/// block branches back to) has its own start as its replay point: the
/// edges that enter the loop write the dirty fields back and zero
/// `ctx.replay_passes`; an edge back from a pass in which nothing became
/// visible (it ends with the loop's replay point) writes nothing and
/// counts the pass, and every [`MAX_REPLAY_PASSES`] passes it writes back
/// too. A fault then reports the loop's start and the passes, and the
/// interpreter runs from there, back to it that many times, to the access
/// (see [`crate::FAULT_REPLAY_PASSES`]; inner loops inside the pass it
/// runs as they ran). gzip -9's `longest_match` compares bytes in a loop
/// with loads only: writing its registers back at every pass was 1.6% of
/// gzip's instructions. A loop start none of whose back edges would
/// carry its replay point is planned as any other block.
fn loop_replay_points(
    blocks: &[RegionBlock<'_>],
    preds: &[Vec<usize>],
    by_off: &HashMap<u32, usize>,
) -> (Vec<Plan>, Vec<bool>) {
    let n = blocks.len();
    let own = |k: usize| Some((blocks[k].block.start, true));
    let head: Vec<bool> = (0..n).map(|k| preds[k].iter().any(|&p| p >= k)).collect();
    let mut demoted = vec![false; n];
    // Each block's replay point at its end, from the last round (`None`:
    // not known yet).
    let mut outs: Vec<Option<Replay>> = vec![None; n];
    for _ in 0..4 * n + 8 {
        let mut plans: Vec<Plan> = Vec::with_capacity(n);
        let mut ins: Vec<Replay> = Vec::with_capacity(n);
        for (k, rb) in blocks.iter().enumerate() {
            let is_head = head[k] && !demoted[k];
            let replay_in = if k == 0 {
                // Entered with the state block exact at its start.
                if is_head { own(0) } else { None }
            } else {
                let mut meet = None;
                let mut agree = true;
                for &p in &preds[k] {
                    let o = if p < k { Some(plans[p].out) } else { outs[p] };
                    match (o, meet) {
                        (Some(o), None) => meet = Some(o),
                        (Some(o), Some(m)) if o != m => agree = false,
                        _ => {}
                    }
                }
                match (meet, &preds[k][..]) {
                    // A loop's replay point crosses joins and inner loops
                    // (a replay counts only the returns to the loop's
                    // start, as the region does).
                    (Some(Some(t)), _) if agree && t.1 => Some(t),
                    _ if is_head => own(k),
                    // Any other only from one earlier predecessor: a path
                    // back to the instruction would be replayed short.
                    (_, &[p]) if p < k => plans[p].out,
                    _ => None,
                }
            };
            ins.push(replay_in);
            plans.push(plan_block(rb.block, by_off, replay_in));
        }
        let mut changed = false;
        for k in 0..n {
            if ins[k] == own(k) && !preds[k].iter().any(|&p| p >= k && plans[p].out == own(k)) {
                demoted[k] = true;
                changed = true;
            }
        }
        let now: Vec<Option<Replay>> = plans.iter().map(|p| Some(p.out)).collect();
        if !changed && now == outs {
            // Every block that takes its predecessors' replay point has
            // it from each of them.
            let exact = (1..n).all(|k| match ins[k] {
                None => true,
                i if i == own(k) => true,
                Some((_, true)) => preds[k].iter().all(|&p| plans[p].out == ins[k]),
                Some((_, false)) => matches!(preds[k][..], [p] if p < k && plans[p].out == ins[k]),
            });
            if exact {
                let heads = (0..n).map(|k| ins[k] == own(k)).collect();
                return (plans, heads);
            }
            break;
        }
        outs = now;
    }
    // No fixed point: replay points from a single earlier predecessor.
    let mut plans: Vec<Plan> = Vec::with_capacity(n);
    for (k, rb) in blocks.iter().enumerate() {
        let replay_in = match preds[k][..] {
            [p] if p < k && k > 0 => plans[p].out,
            _ => None,
        };
        plans.push(plan_block(rb.block, by_off, replay_in));
    }
    (plans, vec![false; n])
}

/// The (offset, type) pairs of the guest state that can live in variables:
/// fields always accessed with one offset and type, and integer fields
/// written only whole as 64 bits and also read narrower (A64 general
/// registers: a W register write zero-extends, a W read takes the low
/// half), which live in one 64-bit variable.
fn promotable(blocks: &[RegionBlock<'_>], chain: ChainConfig) -> Vec<(u32, Type)> {
    /// How the region accesses one state offset.
    #[derive(Default)]
    struct Field {
        /// The distinct types it is read or written with.
        types: Vec<Type>,
        /// Written with a type narrower than 64 bits.
        narrow_write: bool,
        /// Reads and writes.
        uses: u32,
    }
    let mut fields: std::collections::BTreeMap<u32, Field> = Default::default();
    for rb in blocks {
        for inst in &rb.block.insts {
            let (off, ty, write) = match inst.op {
                Op::GetState(off) => (off, inst.ty, false),
                Op::SetState(off, v) => (off, rb.block.ty(v), true),
                _ => continue,
            };
            let f = fields.entry(off).or_default();
            f.uses += 1;
            f.narrow_write |= write && ty != Type::I64;
            if !f.types.contains(&ty) {
                f.types.push(ty);
            }
        }
    }
    // The variable's type: the one type, or I64 for an integer field
    // written whole and read narrower too.
    let var_type = |f: &Field| match f.types[..] {
        [t] => (scalar(t) || t == Type::I128).then_some(t),
        _ => {
            (f.types.iter().all(|&t| scalar(t)) && f.types.contains(&Type::I64) && !f.narrow_write)
                .then_some(Type::I64)
        }
    };
    let overlaps = |a: u32, an: u32, b: u32, bn: u32| a < b + bn && b < a + an;
    let mut out = Vec::new();
    for (&off, f) in &fields {
        let Some(ty) = var_type(f) else {
            continue;
        };
        if out.len() >= MAX_PROMOTED {
            break;
        }
        let n = ty.bytes();
        let conflict = fields.iter().any(|(&o, g)| {
            o != off
                && g.types
                    .iter()
                    .any(|t| overlaps(off, n, o, t.bytes().max(1)))
        });
        let special = chain.exit_info >= 0 && overlaps(off, n, chain.exit_info as u32, 8);
        if !conflict && !special {
            out.push((off, ty));
        }
    }
    // The most used integer fields only: x86-64 has few registers to
    // spare, and a promoted field that Cranelift spills costs a stack
    // store on top of its write-back.
    let mut ints: Vec<(u32, Type)> = out.iter().copied().filter(|&(_, t)| scalar(t)).collect();
    if ints.len() > MAX_PROMOTED_INTS {
        ints.sort_by_key(|&(o, _)| (std::cmp::Reverse(fields[&o].uses), o));
        let dropped = &ints[MAX_PROMOTED_INTS..];
        out.retain(|f| !dropped.contains(f));
    }
    out
}

/// How a flags value was computed, so conditions on it can be lowered
/// from the operands instead of from the packed NZCV.
#[derive(Clone, Copy)]
enum FlagsSrc {
    /// AddWithCarry(a, b, cin) of type `ty`; `sub` = Some(x) when
    /// b = !x and cin = 1 (a - x, the SUBS/CMP pattern).
    Add {
        a: ir::Value,
        b: ir::Value,
        cin: ir::Value,
        sub: Option<ir::Value>,
        cin0: bool,
        ty: ir::Type,
    },
    /// N and Z of `r`, C = V = 0.
    Logic { r: ir::Value },
    /// `h ? f : k` where `f` is tracked and `k` a constant NZCV (CCMP).
    Sel { h: ir::Value, f: ir::Value, k: u64 },
}

pub(crate) struct Lowered {
    /// Guest PC per source location / 2 of a guest access.
    pub pcs: Vec<u64>,
    /// Targets of the direct exits, by link cell index.
    pub exits: Vec<u64>,
    /// What the region's entry does with flags chained baseline code
    /// deferred (see `crate::flags`).
    pub entry_flags: EntryFlags,
}

/// How a region takes flags deferred by the baseline code chained into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryFlags {
    /// It defers flags itself: its code takes them as its own.
    Adopt,
    /// It reads or writes the flags field, or calls helpers: its stub
    /// completes them first.
    Complete,
    /// It never touches the field: they stay deferred through it.
    PassThrough,
}

struct Lower<'a, 'f> {
    b: FunctionBuilder<'f>,
    blocks: &'a [RegionBlock<'a>],
    chain: ChainConfig,
    state: ir::Value,
    ctx: ir::Value,
    slots: ir::Value,
    promoted: Vec<(u32, Type, Variable)>,
    by_off: HashMap<u32, usize>,
    clif_blocks: Vec<ir::Block>,
    index_of: HashMap<u64, usize>,
    /// Return addresses of the region's calls that are its blocks (see
    /// [`lower`]).
    returns: Vec<u64>,
    pcs: Vec<u64>,
    pc_idx: HashMap<u64, u32>,
    vals: Vec<Option<ir::Value>>,
    flags: HashMap<ir::Value, FlagsSrc>,
    dirty: u128,
    /// Also store each access's mark in `ctx.opt_scratch` (see `mark_pc`).
    stored_marks: bool,
    /// The mark last stored in this block.
    scratch: Option<u32>,
    cur_pc: u64,
    cur_idx: usize,
    sig_shim: ir::SigRef,
    sig_helper: ir::SigRef,
    fault_block: Option<ir::Block>,
    exits: Vec<u64>,
    /// Each block's write-backs and replay points.
    plans: Vec<Plan>,
    /// Per block: whether it is a loop start that keeps its replay point
    /// across passes (see [`loop_replay_points`]).
    loop_heads: Vec<bool>,
    /// Promoted fields whose value is only in the ctx's deferred flags.
    lazy: u128,
    /// The flags field (promoted index), its deferred second operand and
    /// info variables, and its current value when known in this block.
    flags_k: Option<usize>,
    fb_var: Variable,
    fi_var: Variable,
    cur_flags: Option<ir::Value>,
    sig_pack: ir::SigRef,
    flag_infos: Vec<(u64, Type)>,
    /// Vector forms of the current block's `I128` values (see `vector.rs`).
    vecs: Vec<Option<ir::Value>>,
    /// Signatures of calls returning 128 bits, by argument count.
    sigs: HashMap<usize, ir::SigRef>,
    /// The optional instruction sets of the host.
    feat: crate::vector::HostFeatures,
    /// Instructions of the current block not lowered: AESE/AESD results
    /// computed with the AESMC/AESIMC using them, and their dead
    /// register writes (see `vector.rs`).
    skip: Vec<bool>,
    /// For an AESMC/AESIMC lowered with the AESE/AESD before it: that
    /// instruction.
    fuse_src: Vec<Option<Value>>,
    /// A narrow guest load's value → the same load extended to 64 bits,
    /// which it was loaded as, and whether with its sign (see
    /// `Op::Load`).
    wide: HashMap<ir::Value, (ir::Value, bool)>,
}

fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

fn guest_flags() -> MemFlagsData {
    MemFlagsData::new().with_trap_code(Some(TrapCode::HEAP_OUT_OF_BOUNDS))
}

/// Dirty and lazy promoted fields after `block` written back as `plan`
/// says, given those on entry (`fbit`: the flags field, the only one
/// that can be lazy).
fn transfer(
    block: &Block,
    plan: &Plan,
    by_off: &HashMap<u32, usize>,
    fbit: u128,
    (mut dirty, mut lazy): (u128, u128),
) -> (u128, u128) {
    for (inst, &flush) in block.insts.iter().zip(&plan.flush) {
        match flush {
            Flush::None => {}
            Flush::Light => {
                lazy |= dirty & fbit;
                dirty = 0;
            }
            Flush::Full => {
                lazy = 0;
                dirty = 0;
            }
        }
        if let Op::SetState(off, _) = inst.op
            && let Some(&k) = by_off.get(&off)
        {
            dirty |= 1 << k;
        }
    }
    (dirty, lazy)
}

/// At most this many return addresses a return in a region compares its
/// target with (one compare and branch each) before it leaves.
const MAX_RETURN_TARGETS: usize = 8;

/// The guest addresses control may continue at after `t` inside a region
/// whose calls return to `returns`.
fn successors(t: &Terminator, returns: &[u64]) -> Vec<u64> {
    match t {
        Terminator::Jump(x) => vec![*x],
        Terminator::Branch {
            taken, not_taken, ..
        } => vec![*taken, *not_taken],
        Terminator::JumpDyn(_, BranchHint::Return) => returns.to_vec(),
        _ => vec![],
    }
}

/// Each block's position in the region by its guest PC (the first, if
/// two start at one PC).
fn block_index(blocks: &[RegionBlock<'_>]) -> HashMap<u64, usize> {
    let mut index_of = HashMap::new();
    for (k, rb) in blocks.iter().enumerate() {
        index_of.entry(rb.pc).or_insert(k);
    }
    index_of
}

/// Where the region's direct calls return to, when that is one of its
/// blocks (`index_of`): a return compares its target with these and
/// continues in the region on a match (at most [`MAX_RETURN_TARGETS`]).
fn return_targets(
    blocks: &[RegionBlock<'_>],
    index_of: &HashMap<u64, usize>,
    link: Option<u32>,
) -> Vec<u64> {
    let mut returns = Vec::new();
    if let Some(link) = link {
        for rb in blocks {
            if let Terminator::Jump(_) = rb.block.term
                && let Some(ret) = rb.block.return_address(link)
                && index_of.contains_key(&ret)
                && !returns.contains(&ret)
                && returns.len() < MAX_RETURN_TARGETS
            {
                returns.push(ret);
            }
        }
    }
    returns
}

/// Whether control can come back to the region's entry (`blocks[0]`)
/// inside the region, along the edges its code has ([`successors`]).
pub(crate) fn loops_through_entry(blocks: &[RegionBlock<'_>], link: Option<u32>) -> bool {
    let Some(entry) = blocks.first().map(|rb| rb.pc) else {
        return false;
    };
    let index_of = block_index(blocks);
    let returns = return_targets(blocks, &index_of, link);
    let mut seen = vec![false; blocks.len()];
    let mut todo = vec![0];
    while let Some(k) = todo.pop() {
        for t in successors(&blocks[k].block.term, &returns) {
            if t == entry {
                return true;
            }
            if let Some(&s) = index_of.get(&t)
                && !std::mem::replace(&mut seen[s], true)
            {
                todo.push(s);
            }
        }
    }
    false
}

/// Lowers `blocks` into `func` (which must be empty).
pub(crate) fn lower(
    func: &mut ir::Function,
    fctx: &mut cranelift_frontend::FunctionBuilderContext,
    blocks: &[RegionBlock<'_>],
    chain: ChainConfig,
    isa_frontend: cranelift_codegen::isa::TargetFrontendConfig,
    stored_marks: bool,
) -> Result<Lowered, OptError> {
    if blocks.is_empty() {
        return Err(OptError::Unsupported("empty region"));
    }
    for rb in blocks {
        if rb.block.insts.len() > crate::baseline::MAX_SLOTS {
            return Err(OptError::Unsupported("block too large"));
        }
    }
    let ptr = types::I64;
    // Winch's convention has no callee-saved registers: the stub saves
    // the few the baseline frame needs once, where System V made the
    // function save five more on every region entry (see `stub.rs`).
    func.signature = Signature::new(CallConv::Winch);
    for _ in 0..3 {
        func.signature.params.push(AbiParam::new(ptr));
    }
    // The next guest PC (and in `ctx.region_exit`, which exit it was).
    func.signature.returns.push(AbiParam::new(ptr));

    let mut b = FunctionBuilder::new(func, fctx);
    let mut shim_sig = Signature::new(CallConv::SystemV);
    for _ in 0..4 {
        shim_sig.params.push(AbiParam::new(ptr));
    }
    shim_sig.returns.push(AbiParam::new(ptr));
    shim_sig.returns.push(AbiParam::new(ptr));
    let sig_shim = b.import_signature(shim_sig);
    let mut helper_sig = Signature::new(CallConv::SystemV);
    for _ in 0..5 {
        helper_sig.params.push(AbiParam::new(ptr));
    }
    helper_sig.returns.push(AbiParam::new(ptr));
    let sig_helper = b.import_signature(helper_sig);

    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let (state, ctx, slots) = (params[0], params[1], params[2]);

    let mut promoted = Vec::new();
    let mut by_off = HashMap::new();
    for (off, ty) in promotable(blocks, chain) {
        let var = b.declare_var(var_ty(ty));
        let v = b.ins().load(var_ty(ty), trusted(), state, off as i32);
        b.def_var(var, v);
        by_off.insert(off, promoted.len());
        promoted.push((off, ty, var));
    }

    // The flags field: an I64 field written with AddFlags/LogicFlags.
    let mut flags_k = None;
    'find: for rb in blocks {
        for inst in &rb.block.insts {
            if let Op::SetState(off, v) = inst.op
                && let Some(&k) = by_off.get(&off)
                && promoted[k].1 == Type::I64
                && matches!(
                    rb.block.insts[v.0 as usize].op,
                    Op::AddFlags(..) | Op::LogicFlags(_)
                )
            {
                flags_k = Some(k);
                break 'find;
            }
        }
    }
    let fb_var = b.declare_var(types::I64);
    let fi_var = b.declare_var(types::I64);
    let zero = b.ins().iconst(types::I64, 0);
    b.def_var(fb_var, zero);
    let info = match flags_k {
        Some(k) => LAZY_PACKED | 3 << 4 | (promoted[k].0 as u64) << 8,
        None => 0,
    };
    let info = b.ins().iconst(types::I64, info as i64);
    b.def_var(fi_var, info);
    if let Some(k) = flags_k {
        if chain.flags.is_some() {
            // Flags deferred by the baseline code chained here become the
            // region's own deferred flags (same encoding).
            let pending = b.ins().load(types::I64, trusted(), ctx, CTX_LAZY_INFO);
            let la = b.ins().load(types::I64, trusted(), ctx, CTX_LAZY_A);
            let lb = b.ins().load(types::I64, trusted(), ctx, CTX_LAZY_B);
            let var = promoted[k].2;
            let a0 = b.use_var(var);
            let a = b.ins().select(pending, la, a0);
            b.def_var(var, a);
            let fb = b.ins().select(pending, lb, zero);
            b.def_var(fb_var, fb);
            let fi = b.ins().select(pending, pending, info);
            b.def_var(fi_var, fi);
        }
        b.ins().store(trusted(), zero, ctx, CTX_LAZY_INFO);
    }
    let entry_flags = match (flags_k, chain.flags) {
        (_, None) => EntryFlags::PassThrough,
        (Some(_), Some(_)) => EntryFlags::Adopt,
        (None, Some(off)) => {
            let overlaps = |o: u32, bytes: u32| o < off + 8 && o + bytes.max(1) > off;
            let touches = blocks.iter().any(|rb| {
                rb.block.insts.iter().any(|inst| match inst.op {
                    Op::GetState(o) => overlaps(o, inst.ty.bytes()),
                    Op::SetState(o, v) => overlaps(o, rb.block.ty(v).bytes()),
                    Op::Call(..) => true,
                    _ => false,
                })
            });
            if touches {
                EntryFlags::Complete
            } else {
                EntryFlags::PassThrough
            }
        }
    };
    let mut pack_sig = Signature::new(CallConv::SystemV);
    for _ in 0..3 {
        pack_sig.params.push(AbiParam::new(ptr));
    }
    pack_sig.returns.push(AbiParam::new(ptr));
    let sig_pack = b.import_signature(pack_sig);
    let fbit: u128 = flags_k.map_or(0, |k| 1 << k);
    // The deferred kinds the region can produce (packed inline where the
    // kind is only known at run time; others go through `pack_flags`).
    let mut flag_infos = Vec::new();
    if let Some(k) = flags_k {
        let off = promoted[k].0;
        for rb in blocks {
            let blk = rb.block;
            for inst in &blk.insts {
                let Op::SetState(o, v) = inst.op else {
                    continue;
                };
                if o != off {
                    continue;
                }
                let kind = match blk.insts[v.0 as usize].op {
                    Op::AddFlags(a, x, c) if scalar(blk.ty(a)) => {
                        let (xo, co) = (&blk.insts[x.0 as usize].op, &blk.insts[c.0 as usize].op);
                        match (xo, co) {
                            (Op::Not(_) | Op::Const(_), Op::Const(1)) => {
                                Some((LAZY_SUB, blk.ty(a)))
                            }
                            (_, Op::Const(0)) => Some((LAZY_ADD, blk.ty(a))),
                            _ => None,
                        }
                    }
                    Op::LogicFlags(a) if scalar(blk.ty(a)) => Some((LAZY_LOGIC, blk.ty(a))),
                    _ => None,
                };
                if let Some((kind, t)) = kind {
                    let info = kind | width_code(t.bits()) << 4 | (off as u64) << 8;
                    if !flag_infos.contains(&(info, t)) {
                        flag_infos.push((info, t));
                    }
                }
            }
        }
    }

    let index_of = block_index(blocks);
    // A loop calling a function (its blocks taken in by region
    // formation) stays in compiled code across the call instead of
    // leaving through the stub and coming back (gzip's symbol loop calls
    // `send_bits` for every symbol).
    let returns = return_targets(blocks, &index_of, chain.link);
    let clif_blocks: Vec<ir::Block> = blocks.iter().map(|_| b.create_block()).collect();

    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); blocks.len()];
    for (k, rb) in blocks.iter().enumerate() {
        for t in successors(&rb.block.term, &returns) {
            if let Some(&s) = index_of.get(&t)
                && !preds[s].contains(&k)
            {
                preds[s].push(k);
            }
        }
    }
    let (plans, loop_heads) = loop_replay_points(blocks, &preds, &by_off);
    if loop_heads.first() == Some(&true) {
        // Entering the region starts the first loop's passes (the state
        // block holds the state at its start).
        let zero = b.ins().iconst(types::I64, 0);
        b.ins().store(trusted(), zero, ctx, CTX_REPLAY_PASSES);
    }
    b.ins().jump(clif_blocks[0], &[]);

    // Dirty and lazy fields on entry to each block (may-be, fixed point).
    let mut state_in = vec![(0u128, 0u128); blocks.len()];
    if entry_flags == EntryFlags::Adopt {
        // Adopted flags are newer than the state's.
        state_in[0].0 |= fbit;
    }
    loop {
        let mut changed = false;
        for (k, rb) in blocks.iter().enumerate() {
            let (d, l) = transfer(rb.block, &plans[k], &by_off, fbit, state_in[k]);
            for t in successors(&rb.block.term, &returns) {
                if let Some(&s) = index_of.get(&t) {
                    let (sd, sl) = state_in[s];
                    if (sd | d, sl | l) != (sd, sl) {
                        state_in[s] = (sd | d, sl | l);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }

    let mut l = Lower {
        b,
        blocks,
        chain,
        state,
        ctx,
        slots,
        promoted,
        by_off,
        clif_blocks,
        index_of,
        returns,
        pcs: Vec::new(),
        pc_idx: HashMap::new(),
        vals: Vec::new(),
        flags: HashMap::new(),
        dirty: 0,
        stored_marks,
        scratch: None,
        cur_pc: 0,
        cur_idx: 0,
        sig_shim,
        sig_helper,
        fault_block: None,
        exits: Vec::new(),
        plans,
        loop_heads,
        lazy: 0,
        flags_k,
        fb_var,
        fi_var,
        cur_flags: None,
        sig_pack,
        flag_infos,
        vecs: Vec::new(),
        sigs: HashMap::new(),
        feat: crate::vector::HostFeatures::detect(),
        skip: Vec::new(),
        fuse_src: Vec::new(),
        wide: HashMap::new(),
    };
    for (k, rb) in blocks.iter().enumerate() {
        l.b.switch_to_block(l.clif_blocks[k]);
        (l.dirty, l.lazy) = state_in[k];
        l.cur_flags = None;
        l.scratch = None;
        l.cur_pc = rb.pc;
        l.cur_idx = k;
        l.vals.clear();
        l.vals.resize(rb.block.insts.len(), None);
        l.vecs.clear();
        l.vecs.resize(rb.block.insts.len(), None);
        l.find_fused(rb.block);
        for i in 0..rb.block.insts.len() {
            let v = l.inst(rb.block, i)?;
            l.vals[i] = v;
        }
        l.terminator(rb.block)?;
    }
    l.finish_fault_block();
    l.b.seal_all_blocks();
    let pcs = std::mem::take(&mut l.pcs);
    if pcs.len() > super::Mark::MAX_INDEX as usize + 1 {
        return Err(OptError::Unsupported("too many guest accesses"));
    }
    let exits = std::mem::take(&mut l.exits);
    l.b.finalize(isa_frontend);
    Ok(Lowered {
        pcs,
        exits,
        entry_flags,
    })
}

impl Lower<'_, '_> {
    fn v(&self, x: Value) -> ir::Value {
        self.vals[x.0 as usize].expect("IR value defined before use")
    }

    fn iconst(&mut self, t: ir::Type, x: u64) -> ir::Value {
        if t == types::I128 {
            let lo = self.b.ins().iconst(types::I64, x as i64);
            let hi = self.b.ins().iconst(types::I64, 0);
            return self.b.ins().iconcat(lo, hi);
        }
        let m = if t.bits() >= 64 {
            u64::MAX
        } else {
            (1u64 << t.bits()) - 1
        };
        self.b.ins().iconst(t, (x & m) as i64)
    }

    /// The current packed value of the flags field.
    fn flags_packed(&mut self) -> ir::Value {
        if let Some(v) = self.cur_flags {
            return v;
        }
        let k = self.flags_k.expect("flags field");
        let a = self.b.use_var(self.promoted[k].2);
        let bv = self.b.use_var(self.fb_var);
        let i = self.b.use_var(self.fi_var);
        // A switch on the deferred kinds of this region, packed inline.
        let done = self.b.create_block();
        let r = self.b.append_block_param(done, types::I64);
        let packed = LAZY_PACKED | 3 << 4 | (self.promoted[k].0 as u64) << 8;
        let cases: Vec<(u64, Option<Type>)> = std::iter::once((packed, None))
            .chain(self.flag_infos.iter().map(|&(info, t)| (info, Some(t))))
            .collect();
        for (info, t) in cases {
            let hit = self.b.create_block();
            let next = self.b.create_block();
            let c = self.iconst(types::I64, info);
            let is = self.b.ins().icmp(CC::Equal, i, c);
            self.b.ins().brif(is, hit, &[], next, &[]);
            self.b.switch_to_block(hit);
            let v = match t {
                None => a,
                Some(t) => self.pack_inline(info, t, a, bv),
            };
            self.b.ins().jump(done, &[BlockArg::Value(v)]);
            self.b.switch_to_block(next);
        }
        let f = self
            .b
            .ins()
            .iconst(types::I64, pack_flags as *const () as usize as i64);
        let call = self.b.ins().call_indirect(self.sig_pack, f, &[a, bv, i]);
        let v = self.b.inst_results(call)[0];
        self.b.ins().jump(done, &[BlockArg::Value(v)]);
        self.b.switch_to_block(done);
        self.cur_flags = Some(r);
        r
    }

    /// Packs deferred flags of known kind `info` and width `t`.
    fn pack_inline(&mut self, info: u64, t: Type, a: ir::Value, b: ir::Value) -> ir::Value {
        let ct = cty(t);
        let narrow = |l: &mut Self, x: ir::Value| {
            if ct == types::I64 {
                x
            } else {
                l.b.ins().ireduce(ct, x)
            }
        };
        let (a, b) = (narrow(self, a), narrow(self, b));
        match info & 15 {
            LAZY_SUB => {
                let nb = self.b.ins().bnot(b);
                let one = self.b.ins().iconst(types::I8, 1);
                self.add_flags_packed(a, nb, one, t, Some(b))
            }
            LAZY_ADD => {
                let zero = self.b.ins().iconst(types::I8, 0);
                self.add_flags_packed(a, b, zero, t, None)
            }
            _ => {
                let n = self.top_bit_to(a, t.bits(), 31);
                let z = self.b.ins().icmp_imm_u(CC::Equal, a, 0);
                let z = self.b.ins().uextend(types::I64, z);
                let z = self.b.ins().ishl_imm_u(z, 30);
                self.b.ins().bor(n, z)
            }
        }
    }

    /// Writes the dirty and lazy promoted fields to the state block,
    /// exactly (before helper calls and at exits).
    fn flush(&mut self) {
        let mut d = self.dirty | self.lazy;
        while d != 0 {
            let k = d.trailing_zeros() as usize;
            d &= d - 1;
            let (off, _, var) = self.promoted[k];
            let v = if Some(k) == self.flags_k {
                let z = self.b.ins().iconst(types::I64, 0);
                self.b.ins().store(trusted(), z, self.ctx, CTX_LAZY_INFO);
                self.flags_packed()
            } else {
                self.b.use_var(var)
            };
            self.b.ins().store(trusted(), v, self.state, off as i32);
        }
    }

    /// At an exit: like [`Self::flush`], but when the chained code takes
    /// deferred flags (the baseline tier, see `crate::flags`), flags the
    /// region deferred leave it deferred in the ctx instead of packed
    /// (the stub completes them before returning to the engine).
    fn flush_exit(&mut self) {
        let Some(k) = self.flags_k.filter(|_| self.chain.flags.is_some()) else {
            self.flush();
            return;
        };
        let fbit = 1u128 << k;
        let flags_dirty = self.dirty & fbit != 0;
        let (dirty, lazy) = (self.dirty, self.lazy);
        self.dirty &= !fbit;
        self.lazy &= !fbit;
        self.flush();
        (self.dirty, self.lazy) = (dirty, lazy);
        if flags_dirty {
            self.store_deferred(k);
        }
    }

    /// Stores the deferred flags (promoted field `k`'s operand, the second
    /// operand and the kind) in the ctx.
    fn store_deferred(&mut self, k: usize) {
        let a = self.b.use_var(self.promoted[k].2);
        let bv = self.b.use_var(self.fb_var);
        let i = self.b.use_var(self.fi_var);
        self.b.ins().store(trusted(), a, self.ctx, CTX_LAZY_A);
        self.b.ins().store(trusted(), bv, self.ctx, CTX_LAZY_B);
        self.b.ins().store(trusted(), i, self.ctx, CTX_LAZY_INFO);
    }

    fn flush_clear(&mut self) {
        self.flush();
        self.dirty = 0;
        self.lazy = 0;
    }

    /// Before an inline guest access: like [`Self::flush_clear`], but the
    /// flags field only has its deferred operands stored in the ctx (the
    /// fault path packs them).
    fn flush_light(&mut self) {
        let mut d = self.dirty;
        while d != 0 {
            let k = d.trailing_zeros() as usize;
            d &= d - 1;
            let (off, _, var) = self.promoted[k];
            if Some(k) == self.flags_k {
                self.store_deferred(k);
                self.lazy |= 1 << k;
            } else {
                let v = self.b.use_var(var);
                self.b.ins().store(trusted(), v, self.state, off as i32);
            }
        }
        self.dirty = 0;
    }

    /// Reloads every promoted field (after a helper may have changed them).
    fn reload(&mut self) {
        for k in 0..self.promoted.len() {
            let (off, ty, var) = self.promoted[k];
            let v = self
                .b
                .ins()
                .load(var_ty(ty), trusted(), self.state, off as i32);
            self.b.def_var(var, v);
            if Some(k) == self.flags_k {
                let info = LAZY_PACKED | 3 << 4 | (off as u64) << 8;
                let i = self.b.ins().iconst(types::I64, info as i64);
                self.b.def_var(self.fi_var, i);
                self.cur_flags = Some(v);
            }
        }
    }

    /// Tags the guest access built next (and what follows it up to the next
    /// access, which covers a load merged into its user) with its mark
    /// (see [`super::Mark`]), as its source location: the access's PC and
    /// the replay point `replay` (or its own PC) as indexes in the PC
    /// table, and whether it writes.
    /// The compiled code's trap sites map to it (see `super::fault_sites`),
    /// so a fault finds its guest PC without a store before every access.
    /// Where Cranelift merged a load into an instruction of its own making
    /// (no source location), the region is lowered again with
    /// `stored_marks`: each mark is also stored in `ctx.opt_scratch`.
    fn mark_pc(&mut self, write: bool, replay: Replay) {
        let access = self.pc_index(self.cur_pc);
        let from = replay.map_or(access, |(p, _)| self.pc_index(p));
        let mark = super::Mark {
            access,
            from,
            replay: replay.is_some(),
            passes: replay.is_some_and(|(_, through_loop)| through_loop),
            write,
        }
        .encode();
        self.b.set_srcloc(ir::SourceLoc::new(mark));
        if self.stored_marks && self.scratch != Some(mark) {
            let c = self.b.ins().iconst(types::I64, mark as i64);
            self.b.ins().store(trusted(), c, self.ctx, CTX_OPT_SCRATCH);
            self.scratch = Some(mark);
        }
    }

    /// The index of `pc` in the region's PC table.
    fn pc_index(&mut self, pc: u64) -> u32 {
        let next = self.pcs.len() as u32;
        let idx = *self.pc_idx.entry(pc).or_insert(next);
        if idx == next {
            self.pcs.push(pc);
        }
        idx
    }

    /// Leaves the region: write back, report `kind`, return `pc` (and
    /// the index of the link cell for direct exits to `link`).
    fn exit(&mut self, pc: ir::Value, kind: u64, link: Option<u64>) {
        // Packing the flags here defines them in this exit path only: the
        // code after it (a sibling exit, the loop body after a back-edge
        // check) must not reuse that value, which does not dominate it.
        let flags_before = self.cur_flags;
        self.flush_exit();
        self.cur_flags = flags_before;
        // Compiled code runs with `ctx.kind` = KIND_NEXT: only other
        // kinds are stored.
        if kind != KIND_NEXT {
            let k = self.b.ins().iconst(types::I64, kind as i64);
            self.b.ins().store(trusted(), k, self.ctx, CTX_KIND);
        }
        if kind == KIND_EXIT {
            let start = self.blocks[self.cur_idx].pc;
            let s = self.b.ins().iconst(types::I64, start as i64);
            self.b.ins().store(trusted(), s, self.ctx, CTX_FAULT_PC);
        }
        // The link cell's index plus one, 0 for none.
        let cell = match link {
            Some(t) => match self.exits.iter().position(|&x| x == t) {
                Some(i) => i as u64 + 1,
                None => {
                    self.exits.push(t);
                    self.exits.len() as u64
                }
            },
            None => 0,
        };
        if kind == KIND_NEXT {
            let cell = self.b.ins().iconst(types::I64, cell as i64);
            self.b
                .ins()
                .store(trusted(), cell, self.ctx, CTX_REGION_EXIT);
        }
        self.b.ins().return_(&[pc]);
    }

    /// Control flow to guest `target` at the end of the current block.
    fn edge(&mut self, target: u64) {
        match self.index_of.get(&target).copied() {
            Some(k) if self.loop_heads[k] => {
                if k <= self.cur_idx {
                    let on = self.b.create_block();
                    self.back_edge_check(target, on);
                    self.b.switch_to_block(on);
                }
                self.enter_loop(k);
            }
            Some(k) if k > self.cur_idx => {
                let blk = self.clif_blocks[k];
                self.b.ins().jump(blk, &[]);
            }
            Some(k) => {
                let blk = self.clif_blocks[k];
                self.back_edge_check(target, blk);
            }
            None => {
                let t = self.b.ins().iconst(types::I64, target as i64);
                self.exit(t, KIND_NEXT, Some(target));
            }
        }
    }

    /// A back-edge to `target`: leave the region when an interrupt or an
    /// invalidation is pending, else go on at `on`. Atomic loads (plain
    /// moves on x86-64), which other threads and signal handlers set;
    /// Cranelift's alias analysis also takes them as fences, so it never
    /// merges a guest load with one of an earlier iteration (a loop
    /// waiting for another thread's store would never see it: guest code
    /// spins with plain loads). (A pending signal sets a bit of
    /// `exit_info` too.)
    fn back_edge_check(&mut self, target: u64, on: ir::Block) {
        let ea = self
            .b
            .ins()
            .iadd_imm_s(self.state, i64::from(self.chain.exit_info));
        let any = self.b.ins().atomic_load(types::I64, trusted(), ea);
        let out = self.b.create_block();
        self.b.set_cold_block(out);
        self.b.ins().brif(any, out, &[], on, &[]);
        self.b.switch_to_block(out);
        let t = self.b.ins().iconst(types::I64, target as i64);
        self.exit(t, KIND_NEXT, None);
    }

    /// Control flow into block `k`, a loop start that keeps its replay
    /// point (see [`loop_replay_points`]): counts the pass when the
    /// current block ends with the loop's replay point, else (entering
    /// the loop, or something became visible in the pass) writes back
    /// and starts counting.
    fn enter_loop(&mut self, k: usize) {
        let blk = self.clif_blocks[k];
        let own = Some((self.blocks[k].block.start, true));
        let (dirty, lazy) = (self.dirty, self.lazy);
        if self.plans[self.cur_idx].out == own {
            let n = self
                .b
                .ins()
                .load(types::I64, trusted(), self.ctx, CTX_REPLAY_PASSES);
            let n = self.b.ins().iadd_imm_s(n, 1);
            let full =
                self.b
                    .ins()
                    .icmp_imm_s(CC::SignedGreaterThanOrEqual, n, MAX_REPLAY_PASSES as i64);
            let (write_back, count) = (self.b.create_block(), self.b.create_block());
            self.b.set_cold_block(write_back);
            self.b.ins().brif(full, write_back, &[], count, &[]);
            self.b.switch_to_block(count);
            self.b
                .ins()
                .store(trusted(), n, self.ctx, CTX_REPLAY_PASSES);
            self.b.ins().jump(blk, &[]);
            self.b.switch_to_block(write_back);
        }
        self.flush_light();
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b
            .ins()
            .store(trusted(), zero, self.ctx, CTX_REPLAY_PASSES);
        self.b.ins().jump(blk, &[]);
        // A sibling edge of this block starts from the same fields.
        (self.dirty, self.lazy) = (dirty, lazy);
    }

    fn terminator(&mut self, block: &Block) -> Result<(), OptError> {
        match &block.term {
            Terminator::Jump(t) => self.edge(*t),
            Terminator::JumpDyn(v, hint) => {
                let t = self.v(*v);
                if *hint == BranchHint::Return {
                    for c in self.returns.clone() {
                        let hit = self.b.ins().icmp_imm_s(CC::Equal, t, c as i64);
                        let (yes, no) = (self.b.create_block(), self.b.create_block());
                        self.b.ins().brif(hit, yes, &[], no, &[]);
                        self.b.switch_to_block(yes);
                        self.edge(c);
                        self.b.switch_to_block(no);
                    }
                }
                self.exit(t, KIND_NEXT, None);
            }
            Terminator::Branch {
                cond,
                taken,
                not_taken,
            } => {
                let c = self.v(*cond);
                let tb = self.b.create_block();
                let nb = self.b.create_block();
                self.b.ins().brif(c, tb, &[], nb, &[]);
                self.b.switch_to_block(tb);
                self.edge(*taken);
                self.b.switch_to_block(nb);
                self.edge(*not_taken);
            }
            Terminator::Exit { pc, .. } => {
                let t = self.b.ins().iconst(types::I64, *pc as i64);
                self.exit(t, KIND_EXIT, None);
            }
        }
        Ok(())
    }

    /// The shared exit for faults reported by called routines: params
    /// (status, addr, pc); its code is emitted by [`Self::finish_fault_block`].
    fn fault_block(&mut self) -> ir::Block {
        if let Some(b) = self.fault_block {
            return b;
        }
        let fb = self.b.create_block();
        self.b.set_cold_block(fb);
        for _ in 0..3 {
            self.b.append_block_param(fb, types::I64);
        }
        self.fault_block = Some(fb);
        fb
    }

    fn finish_fault_block(&mut self) {
        let Some(fb) = self.fault_block else {
            return;
        };
        self.b.switch_to_block(fb);
        let p = self.b.block_params(fb).to_vec();
        let k = self
            .b
            .ins()
            .iconst(types::I64, crate::baseline::KIND_FAULT as i64);
        self.b.ins().store(trusted(), k, self.ctx, CTX_KIND);
        self.b
            .ins()
            .store(trusted(), p[0], self.ctx, CTX_FAULT_STATUS);
        self.b
            .ins()
            .store(trusted(), p[1], self.ctx, CTX_FAULT_ADDR);
        self.b.ins().store(trusted(), p[2], self.ctx, CTX_FAULT_PC);
        self.b.ins().return_(&[p[2]]);
    }

    /// Runs instruction `i` through the interpreter's definition
    /// ([`crate::baseline::eval_shim`]) on the slot array.
    fn shim(&mut self, block: &Block, i: usize, may_fault: bool) -> Option<ir::Value> {
        let inst = &block.insts[i];
        let mut ops = Vec::new();
        inst.op.for_each_operand(|v| ops.push(v));
        for v in ops {
            let x = self.v(v);
            let x = if block.ty(v) == Type::I128 || block.ty(v) == Type::I64 {
                x
            } else {
                self.b.ins().uextend(types::I64, x)
            };
            self.b
                .ins()
                .store(trusted(), x, self.slots, (v.0 * 16) as i32);
        }
        let f = self.b.ins().iconst(
            types::I64,
            crate::baseline::eval_shim as *const () as usize as i64,
        );
        let bp = self
            .b
            .ins()
            .iconst(types::I64, block as *const Block as i64);
        let ic = self.b.ins().iconst(types::I64, i as i64);
        let call = self
            .b
            .ins()
            .call_indirect(self.sig_shim, f, &[bp, ic, self.state, self.slots]);
        let r = self.b.inst_results(call).to_vec();
        if may_fault {
            let fb = self.fault_block();
            let cont = self.b.create_block();
            let pc = self.b.ins().iconst(types::I64, self.cur_pc as i64);
            self.b.ins().brif(
                r[0],
                fb,
                &[
                    BlockArg::Value(r[0]),
                    BlockArg::Value(r[1]),
                    BlockArg::Value(pc),
                ],
                cont,
                &[],
            );
            self.b.switch_to_block(cont);
        }
        let ty = inst.ty;
        let off = (i * 16) as i32;
        match ty {
            Type::Void => None,
            Type::I128 => Some(self.b.ins().load(types::I128, trusted(), self.slots, off)),
            Type::I64 => Some(self.b.ins().load(types::I64, trusted(), self.slots, off)),
            t => {
                let x = self.b.ins().load(types::I64, trusted(), self.slots, off);
                Some(self.b.ins().ireduce(cty(t), x))
            }
        }
    }

    /// Sets the flags field to `x`, as deferred operands when known.
    fn set_flags(&mut self, off: u32, x: ir::Value) {
        let zero = self.b.ins().iconst(types::I64, 0);
        let (a, b, kind, t) = match self.flags.get(&x).copied() {
            Some(FlagsSrc::Add {
                a,
                sub: Some(s),
                ty,
                ..
            }) => (a, s, LAZY_SUB, ty),
            Some(FlagsSrc::Add {
                a,
                b,
                cin0: true,
                ty,
                ..
            }) => (a, b, LAZY_ADD, ty),
            Some(FlagsSrc::Logic { r }) => {
                let t = self.b.func.dfg.value_type(r);
                (r, zero, LAZY_LOGIC, t)
            }
            _ => (x, zero, LAZY_PACKED, types::I64),
        };
        let a = self.ext64(a);
        let b = self.ext64(b);
        let k = self.flags_k.expect("flags field");
        self.b.def_var(self.promoted[k].2, a);
        self.b.def_var(self.fb_var, b);
        let info = kind | width_code(t.bits()) << 4 | (off as u64) << 8;
        let i = self.b.ins().iconst(types::I64, info as i64);
        self.b.def_var(self.fi_var, i);
        self.cur_flags = Some(x);
    }

    fn mask1(&mut self, ty: Type, x: ir::Value) -> ir::Value {
        if ty == Type::I1 {
            self.b.ins().band_imm_u(x, 1)
        } else {
            x
        }
    }

    fn inst(&mut self, block: &Block, i: usize) -> Result<Option<ir::Value>, OptError> {
        let inst = &block.insts[i];
        let ty = inst.ty;
        let ct = cty(ty);
        match self.plans[self.cur_idx].flush[i] {
            Flush::None => {}
            Flush::Light => self.flush_light(),
            Flush::Full => self.flush_clear(),
        }
        if self.skip[i] {
            // Computed by the AESMC/AESIMC that uses it, or a dead write
            // of it (see vector.rs).
            return Ok(None);
        }
        if let Some(r) = self.wide_vec(block, i) {
            return Ok(Some(r));
        }
        let r = match &inst.op {
            Op::GuestInsn(pc) => {
                self.cur_pc = *pc;
                None
            }
            Op::Const(x) => Some(self.iconst(ct, *x)),
            Op::Const128(x) => {
                let x = &x.get();
                // Both forms: the unused one is dead code.
                let c = self
                    .b
                    .func
                    .dfg
                    .constants
                    .insert(x.to_le_bytes().to_vec().into());
                let v = self.b.ins().vconst(types::I8X16, c);
                self.vecs[i] = Some(v);
                let lo = self.b.ins().iconst(types::I64, *x as u64 as i64);
                let hi = self.b.ins().iconst(types::I64, (*x >> 64) as u64 as i64);
                Some(self.b.ins().iconcat(lo, hi))
            }
            Op::GetState(off) => match self.by_off.get(off) {
                Some(&k) if ty == Type::I128 => {
                    let v = self.b.use_var(self.promoted[k].2);
                    Some(self.vec_result(i, v))
                }
                Some(&k) => {
                    let v = if Some(k) == self.flags_k {
                        self.flags_packed()
                    } else {
                        self.b.use_var(self.promoted[k].2)
                    };
                    // A narrower read of a 64-bit field: its low bits.
                    Some(if ty == self.promoted[k].1 {
                        v
                    } else {
                        self.b.ins().ireduce(ct, v)
                    })
                }
                None if ty == Type::I128 => {
                    let v = self
                        .b
                        .ins()
                        .load(types::I8X16, trusted(), self.state, *off as i32);
                    Some(self.vec_result(i, v))
                }
                None => {
                    let x = self.b.ins().load(ct, trusted(), self.state, *off as i32);
                    Some(self.mask1(ty, x))
                }
            },
            Op::SetState(off, x) => {
                let x = if block.ty(*x) == Type::I128 {
                    self.vec_of(*x, types::I8X16)
                } else {
                    self.v(*x)
                };
                match self.by_off.get(off) {
                    Some(&k) if Some(k) == self.flags_k => {
                        self.set_flags(*off, x);
                        self.dirty |= 1 << k;
                    }
                    Some(&k) => {
                        self.b.def_var(self.promoted[k].2, x);
                        self.dirty |= 1 << k;
                    }
                    None => {
                        self.b.ins().store(trusted(), x, self.state, *off as i32);
                    }
                }
                None
            }
            Op::Add(a, b) | Op::Sub(a, b) | Op::And(a, b) | Op::Or(a, b) | Op::Xor(a, b) => {
                let (x, y) = (self.v(*a), self.v(*b));
                let r = match &inst.op {
                    Op::Add(..) => self.b.ins().iadd(x, y),
                    Op::Sub(..) => self.b.ins().isub(x, y),
                    Op::And(..) => self.b.ins().band(x, y),
                    Op::Or(..) => self.b.ins().bor(x, y),
                    _ => self.b.ins().bxor(x, y),
                };
                Some(self.mask1(ty, r))
            }
            Op::Mul(a, b) if ty != Type::I128 => {
                let (x, y) = (self.v(*a), self.v(*b));
                let r = self.b.ins().imul(x, y);
                Some(self.mask1(ty, r))
            }
            Op::UMulHi(a, b) | Op::SMulHi(a, b) if scalar(ty) => {
                let (x, y) = (self.v(*a), self.v(*b));
                let signed = matches!(inst.op, Op::SMulHi(..));
                Some(if ty == Type::I64 {
                    if signed {
                        self.b.ins().smulhi(x, y)
                    } else {
                        self.b.ins().umulhi(x, y)
                    }
                } else {
                    let (x, y) = if signed {
                        (
                            self.b.ins().sextend(types::I64, x),
                            self.b.ins().sextend(types::I64, y),
                        )
                    } else {
                        (
                            self.b.ins().uextend(types::I64, x),
                            self.b.ins().uextend(types::I64, y),
                        )
                    };
                    let p = self.b.ins().imul(x, y);
                    let h = self.b.ins().ushr_imm_u(p, ty.bits() as i64);
                    self.b.ins().ireduce(ct, h)
                })
            }
            Op::UDiv(a, b) | Op::SDiv(a, b) if scalar(ty) => {
                let (x, y) = (self.v(*a), self.v(*b));
                let zero = self.b.ins().icmp_imm_u(CC::Equal, y, 0);
                let one = self.iconst(ct, 1);
                let z = self.iconst(ct, 0);
                Some(if matches!(inst.op, Op::UDiv(..)) {
                    let d = self.b.ins().select(zero, one, y);
                    let q = self.b.ins().udiv(x, d);
                    self.b.ins().select(zero, z, q)
                } else {
                    let min = 1u64 << (ty.bits() - 1);
                    let minv = self.iconst(ct, min);
                    let xmin = self.b.ins().icmp(CC::Equal, x, minv);
                    let m1 = self.iconst(ct, u64::MAX);
                    let ym1 = self.b.ins().icmp(CC::Equal, y, m1);
                    let ovf = self.b.ins().band(xmin, ym1);
                    let bad = self.b.ins().bor(zero, ovf);
                    // MIN / 1 = MIN, the Arm result of MIN / -1.
                    let d = self.b.ins().select(bad, one, y);
                    let q = self.b.ins().sdiv(x, d);
                    self.b.ins().select(zero, z, q)
                })
            }
            Op::Shl(a, b) | Op::LShr(a, b) | Op::AShr(a, b) | Op::Ror(a, b) => {
                let x = self.v(*a);
                if ty == Type::I1 {
                    return Ok(Some(x));
                }
                let mut n = self.v(*b);
                if block.ty(*b) == Type::I128 {
                    n = self.b.ins().ireduce(types::I64, n);
                }
                let n = self.b.ins().band_imm_u(n, (ty.bits() - 1) as i64);
                Some(match &inst.op {
                    Op::Shl(..) => self.b.ins().ishl(x, n),
                    Op::LShr(..) => self.b.ins().ushr(x, n),
                    Op::AShr(..) => self.b.ins().sshr(x, n),
                    _ => self.b.ins().rotr(x, n),
                })
            }
            Op::Not(a) => {
                let x = self.v(*a);
                Some(if ty == Type::I1 {
                    self.b.ins().bxor_imm_u(x, 1)
                } else {
                    self.b.ins().bnot(x)
                })
            }
            Op::Neg(a) => {
                let x = self.v(*a);
                Some(if ty == Type::I1 {
                    x
                } else {
                    self.b.ins().ineg(x)
                })
            }
            Op::Clz(a) if scalar(ty) => {
                let x = self.v(*a);
                Some(self.b.ins().clz(x))
            }
            Op::Cls(a) if scalar(ty) => {
                let x = self.v(*a);
                let s = self.b.ins().sshr_imm_u(x, (ty.bits() - 1) as i64);
                let y = self.b.ins().bxor(x, s);
                let c = self.b.ins().clz(y);
                Some(self.b.ins().iadd_imm_s(c, -1))
            }
            Op::Rbit(a) if scalar(ty) => {
                let x = self.v(*a);
                Some(self.b.ins().bitrev(x))
            }
            Op::Bswap(a) if scalar(ty) => {
                let x = self.v(*a);
                Some(if ty == Type::I8 {
                    x
                } else {
                    self.b.ins().bswap(x)
                })
            }
            Op::Popcnt(a) if scalar(ty) => {
                let x = self.v(*a);
                Some(self.b.ins().popcnt(x))
            }
            Op::ZExt(a) => {
                let x = self.v(*a);
                Some(if cty(block.ty(*a)) == ct {
                    x
                } else if let Some(&(w, false)) = self.wide.get(&x) {
                    self.narrow_load_as(w, ct, false)
                } else {
                    self.b.ins().uextend(ct, x)
                })
            }
            Op::SExt(a) => {
                let mut x = self.v(*a);
                if block.ty(*a) == Type::I1 {
                    x = self.b.ins().ineg(x);
                }
                Some(if cty(block.ty(*a)) == ct {
                    x
                } else if let Some(&(w, true)) = self.wide.get(&x) {
                    self.narrow_load_as(w, ct, true)
                } else {
                    self.b.ins().sextend(ct, x)
                })
            }
            Op::Trunc(a) => {
                let x = self.v(*a);
                let x = if cty(block.ty(*a)) == ct {
                    x
                } else {
                    self.b.ins().ireduce(ct, x)
                };
                Some(self.mask1(ty, x))
            }
            Op::Icmp(cc, a, b) => {
                let (mut x, mut y) = (self.v(*a), self.v(*b));
                let signed = matches!(cc, IntCC::Slt | IntCC::Sle | IntCC::Sgt | IntCC::Sge);
                if block.ty(*a) == Type::I1 && signed {
                    x = self.b.ins().ineg(x);
                    y = self.b.ins().ineg(y);
                }
                let c = match cc {
                    IntCC::Eq => CC::Equal,
                    IntCC::Ne => CC::NotEqual,
                    IntCC::Ult => CC::UnsignedLessThan,
                    IntCC::Ule => CC::UnsignedLessThanOrEqual,
                    IntCC::Ugt => CC::UnsignedGreaterThan,
                    IntCC::Uge => CC::UnsignedGreaterThanOrEqual,
                    IntCC::Slt => CC::SignedLessThan,
                    IntCC::Sle => CC::SignedLessThanOrEqual,
                    IntCC::Sgt => CC::SignedGreaterThan,
                    IntCC::Sge => CC::SignedGreaterThanOrEqual,
                };
                Some(self.b.ins().icmp(c, x, y))
            }
            Op::Select(c, a, b) => {
                let (cv, x, y) = (self.v(*c), self.v(*a), self.v(*b));
                let r = if ty == Type::I128 {
                    // Per half: Cranelift would turn a whole-width select
                    // of a comparison into i128 min/max, which x64 lacks.
                    let (xl, xh) = self.b.ins().isplit(x);
                    let (yl, yh) = self.b.ins().isplit(y);
                    let l = self.b.ins().select(cv, xl, yl);
                    let h = self.b.ins().select(cv, xh, yh);
                    self.b.ins().iconcat(l, h)
                } else {
                    self.b.ins().select(cv, x, y)
                };
                if self.flags.contains_key(&x)
                    && let Op::Const(k) = block.insts[b.0 as usize].op
                {
                    self.flags.insert(r, FlagsSrc::Sel { h: cv, f: x, k });
                }
                Some(r)
            }
            Op::AddFlags(a, b, c) if scalar(block.ty(*a)) => {
                let at = block.ty(*a);
                let t = cty(at);
                let (x, y, cin) = (self.v(*a), self.v(*b), self.v(*c));
                let sub = match (&block.insts[b.0 as usize].op, &block.insts[c.0 as usize].op) {
                    (Op::Not(s), Op::Const(1)) => Some(self.v(*s)),
                    (Op::Const(k), Op::Const(1)) => Some(self.iconst(t, !*k)),
                    _ => None,
                };
                let r = self.add_flags_packed(x, y, cin, at, sub);
                let cin0 = matches!(block.insts[c.0 as usize].op, Op::Const(0));
                self.flags.insert(
                    r,
                    FlagsSrc::Add {
                        a: x,
                        b: y,
                        cin,
                        sub,
                        cin0,
                        ty: t,
                    },
                );
                Some(r)
            }
            Op::LogicFlags(a) if scalar(block.ty(*a)) => {
                let at = block.ty(*a);
                let x = self.v(*a);
                let n = self.b.ins().ushr_imm_u(x, (at.bits() - 1) as i64);
                let n = self.ext64(n);
                let n = self.b.ins().ishl_imm_u(n, 31);
                let z = self.b.ins().icmp_imm_u(CC::Equal, x, 0);
                let z = self.b.ins().uextend(types::I64, z);
                let z = self.b.ins().ishl_imm_u(z, 30);
                let r = self.b.ins().bor(n, z);
                self.flags.insert(r, FlagsSrc::Logic { r: x });
                Some(r)
            }
            Op::CondHolds(cond, f) => {
                let f = self.v(*f);
                Some(self.cond(*cond, f))
            }
            Op::Load(a) => {
                self.mark_pc(false, self.plans[self.cur_idx].replay[i]);
                let addr = self.v(*a);
                // A narrow load is an extending one to 64 bits (x86-64
                // loads it so anyway), so that its extension and its
                // narrow uses share it: loaded as i8 and extended for a
                // register and for a W compare, each extension was an
                // instruction of its own. With its sign when it is
                // sign-extended (LDRSB, LDRSW), which the load then does.
                let signed = block.insts[i + 1..]
                    .iter()
                    .any(|x| matches!(x.op, Op::SExt(v) if v.0 as usize == i));
                let f = guest_flags();
                let wide = match (ty, signed) {
                    (Type::I8, false) => Some(self.b.ins().uload8(types::I64, f, addr, 0)),
                    (Type::I16, false) => Some(self.b.ins().uload16(types::I64, f, addr, 0)),
                    (Type::I32, false) => Some(self.b.ins().uload32(f, addr, 0)),
                    (Type::I8, true) => Some(self.b.ins().sload8(types::I64, f, addr, 0)),
                    (Type::I16, true) => Some(self.b.ins().sload16(types::I64, f, addr, 0)),
                    (Type::I32, true) => Some(self.b.ins().sload32(f, addr, 0)),
                    _ => None,
                };
                if let Some(w) = wide {
                    let x = self.b.ins().ireduce(ct, w);
                    self.wide.insert(x, (w, signed));
                    return Ok(Some(x));
                }
                let x = self.b.ins().load(ct, guest_flags(), addr, 0);
                Some(self.mask1(ty, x))
            }
            Op::Store(a, x) => {
                self.mark_pc(true, self.plans[self.cur_idx].replay[i]);
                let addr = self.v(*a);
                let x = self.vecs[x.0 as usize].unwrap_or_else(|| self.v(*x));
                self.b.ins().store(guest_flags(), x, addr, 0);
                None
            }
            Op::CmpXchg(..) | Op::AtomicRmw(..) => self.shim(block, i, true),
            // As in the baseline tier: only a full barrier needs an
            // instruction on x86-64; guest accesses may trap, so Cranelift
            // keeps them in program order around the others.
            Op::Fence(FenceKind::Full) => {
                self.b.ins().fence();
                None
            }
            Op::Fence(FenceKind::Acquire | FenceKind::Release) => None,
            Op::Call(h, args, n) => {
                let mut a = vec![self.state];
                for (k, &arg) in args.iter().enumerate() {
                    a.push(if k < *n as usize {
                        let x = self.v(arg);
                        if block.ty(arg) == Type::I128 {
                            self.b.ins().ireduce(types::I64, x)
                        } else {
                            self.ext64(x)
                        }
                    } else {
                        self.b.ins().iconst(types::I64, 0)
                    });
                }
                let f = self
                    .b
                    .ins()
                    .iconst(types::I64, h.func as *const () as usize as i64);
                let call = self.b.ins().call_indirect(self.sig_helper, f, &a);
                let r = self.b.inst_results(call)[0];
                self.reload();
                if ty == Type::Void {
                    None
                } else if ty == Type::I64 {
                    Some(r)
                } else {
                    let x = self.b.ins().ireduce(ct, r);
                    Some(self.mask1(ty, x))
                }
            }
            Op::Vector(..) => Some(self.vector(block, i)),
            Op::ExtractLane(..) | Op::InsertLane(..) | Op::Dup(..) => {
                match self.lane_move(block, i) {
                    Some(r) => Some(r),
                    None => self.shim(block, i, false),
                }
            }
            _ => self.shim(block, i, false),
        };
        Ok(r)
    }

    /// A narrow load's value as type `ct`, from the load extended to 64
    /// bits (`signed`: with its sign), for an extension of that kind.
    fn narrow_load_as(&mut self, w: ir::Value, ct: ir::Type, signed: bool) -> ir::Value {
        match ct.bits() {
            64 => w,
            b if b < 64 => self.b.ins().ireduce(ct, w),
            _ if signed => self.b.ins().sextend(ct, w),
            _ => self.b.ins().uextend(ct, w),
        }
    }

    fn ext64(&mut self, x: ir::Value) -> ir::Value {
        if self.b.func.dfg.value_type(x) == types::I64 {
            x
        } else if let Some(&(w, false)) = self.wide.get(&x) {
            w
        } else {
            self.b.ins().uextend(types::I64, x)
        }
    }

    /// Sum and N, Z, C, V (each an `i8` 0/1) of AddWithCarry(a, b, cin).
    fn add_parts(
        &mut self,
        a: ir::Value,
        b: ir::Value,
        cin: ir::Value,
        t: ir::Type,
    ) -> (ir::Value, [ir::Value; 4]) {
        let c = if t == types::I8 {
            cin
        } else {
            self.b.ins().uextend(t, cin)
        };
        let s = self.b.ins().iadd(a, b);
        let r = self.b.ins().iadd(s, c);
        let n = self.b.ins().icmp_imm_u(CC::SignedLessThan, r, 0);
        let z = self.b.ins().icmp_imm_u(CC::Equal, r, 0);
        // Carry out of the top bit: (a & b) | ((a ^ b) & !r).
        let ab = self.b.ins().band(a, b);
        let axb = self.b.ins().bxor(a, b);
        let nr = self.b.ins().bnot(r);
        let t1 = self.b.ins().band(axb, nr);
        let co = self.b.ins().bor(ab, t1);
        let cf = self.b.ins().icmp_imm_u(CC::SignedLessThan, co, 0);
        // Signed overflow: (a ^ r) & (b ^ r) has the top bit set.
        let ar = self.b.ins().bxor(a, r);
        let br = self.b.ins().bxor(b, r);
        let o = self.b.ins().band(ar, br);
        let v = self.b.ins().icmp_imm_u(CC::SignedLessThan, o, 0);
        (r, [n, z, cf, v])
    }

    /// Moves the top bit of `x` (of width `w`) to bit `pos` of an `i64`,
    /// all other bits zero.
    fn top_bit_to(&mut self, x: ir::Value, w: u32, pos: u32) -> ir::Value {
        let x = self.ext64(x);
        let top = w - 1;
        let y = if top > pos {
            self.b.ins().ushr_imm_u(x, (top - pos) as i64)
        } else if top < pos {
            self.b.ins().ishl_imm_u(x, (pos - top) as i64)
        } else {
            x
        };
        self.b.ins().band_imm_u(y, 1i64 << pos)
    }

    /// Packed NZCV of AddWithCarry(a, b, cin); `sub` = Some(x) when the
    /// operation is a - x (b = !x, cin = 1).
    fn add_flags_packed(
        &mut self,
        a: ir::Value,
        b: ir::Value,
        cin: ir::Value,
        at: Type,
        sub: Option<ir::Value>,
    ) -> ir::Value {
        let t = cty(at);
        let w = at.bits();
        let c = if t == types::I8 {
            cin
        } else {
            self.b.ins().uextend(t, cin)
        };
        let r = match sub {
            Some(x) => self.b.ins().isub(a, x),
            None => {
                let s = self.b.ins().iadd(a, b);
                self.b.ins().iadd(s, c)
            }
        };
        let n = self.top_bit_to(r, w, 31);
        let z = self.b.ins().icmp_imm_u(CC::Equal, r, 0);
        let z = self.b.ins().uextend(types::I64, z);
        let z = self.b.ins().ishl_imm_u(z, 30);
        let cf = match sub {
            Some(x) => {
                let c = self.b.ins().icmp(CC::UnsignedGreaterThanOrEqual, a, x);
                let c = self.b.ins().uextend(types::I64, c);
                self.b.ins().ishl_imm_u(c, 29)
            }
            None => {
                // Carry out of the top bit: (a & b) | ((a ^ b) & !r).
                let ab = self.b.ins().band(a, b);
                let axb = self.b.ins().bxor(a, b);
                let t1 = self.b.ins().band_not(axb, r);
                let co = self.b.ins().bor(ab, t1);
                self.top_bit_to(co, w, 29)
            }
        };
        // Signed overflow: (a ^ r) & (b ^ r) has the top bit set.
        let ar = self.b.ins().bxor(a, r);
        let br = self.b.ins().bxor(b, r);
        let o = self.b.ins().band(ar, br);
        let v = self.top_bit_to(o, w, 28);
        let nz = self.b.ins().bor(n, z);
        let cv = self.b.ins().bor(cf, v);
        self.b.ins().bor(nz, cv)
    }

    fn truth(&mut self, x: bool) -> ir::Value {
        self.b.ins().iconst(types::I8, x as i64)
    }

    /// Whether Arm condition `cond` holds for the flags value `f` (`i8`).
    fn cond(&mut self, cond: u8, f: ir::Value) -> ir::Value {
        if cond >= 14 {
            return self.truth(true);
        }
        match self.flags.get(&f).copied() {
            Some(FlagsSrc::Add {
                a,
                sub: Some(x),
                ty,
                ..
            }) if cond >> 1 != 3 && cond >> 1 != 2 => {
                let _ = ty;
                let cc = match cond {
                    0 => CC::Equal,
                    1 => CC::NotEqual,
                    2 => CC::UnsignedGreaterThanOrEqual,
                    3 => CC::UnsignedLessThan,
                    8 => CC::UnsignedGreaterThan,
                    9 => CC::UnsignedLessThanOrEqual,
                    10 => CC::SignedGreaterThanOrEqual,
                    11 => CC::SignedLessThan,
                    12 => CC::SignedGreaterThan,
                    _ => CC::SignedLessThanOrEqual,
                };
                self.b.ins().icmp(cc, a, x)
            }
            Some(FlagsSrc::Add { a, b, cin, ty, .. }) => {
                let (_, [n, z, c, v]) = self.add_parts(a, b, cin, ty);
                self.combine(cond, n, z, c, v)
            }
            Some(FlagsSrc::Logic { r }) => {
                let cc = match cond {
                    0 => Some(CC::Equal),
                    1 => Some(CC::NotEqual),
                    4 | 11 => Some(CC::SignedLessThan),
                    5 | 10 => Some(CC::SignedGreaterThanOrEqual),
                    12 => Some(CC::SignedGreaterThan),
                    13 => Some(CC::SignedLessThanOrEqual),
                    _ => None,
                };
                match cc {
                    Some(cc) => self.b.ins().icmp_imm_u(cc, r, 0),
                    // C = V = 0: CS, VS, HI never; CC, VC, LS always.
                    None => self.truth(matches!(cond, 3 | 7 | 9)),
                }
            }
            Some(FlagsSrc::Sel { h, f, k }) => {
                let t = self.cond(cond, f);
                let kc = self.truth(xarch_ir::interp::cond_holds(cond, k));
                self.b.ins().select(h, t, kc)
            }
            None => {
                let table: u64 = (0..16)
                    .filter(|&k| xarch_ir::interp::cond_holds(cond, (k as u64) << 28))
                    .fold(0, |t, k| t | (1 << k));
                let f = if self.b.func.dfg.value_type(f) == types::I64 {
                    f
                } else {
                    self.b.ins().uextend(types::I64, f)
                };
                let s = self.b.ins().ushr_imm_u(f, 28);
                let s = self.b.ins().band_imm_u(s, 15);
                let t = self.b.ins().iconst(types::I64, table as i64);
                let x = self.b.ins().ushr(t, s);
                let x = self.b.ins().band_imm_u(x, 1);
                self.b.ins().ireduce(types::I8, x)
            }
        }
    }

    fn combine(
        &mut self,
        cond: u8,
        n: ir::Value,
        z: ir::Value,
        c: ir::Value,
        v: ir::Value,
    ) -> ir::Value {
        let r = match cond >> 1 {
            0 => z,
            1 => c,
            2 => n,
            3 => v,
            4 => {
                let nz = self.b.ins().bxor_imm_u(z, 1);
                self.b.ins().band(c, nz)
            }
            5 => self.b.ins().icmp(CC::Equal, n, v),
            _ => {
                let e = self.b.ins().icmp(CC::Equal, n, v);
                let nz = self.b.ins().bxor_imm_u(z, 1);
                self.b.ins().band(e, nz)
            }
        };
        if cond & 1 == 1 {
            self.b.ins().bxor_imm_u(r, 1)
        } else {
            r
        }
    }
}
