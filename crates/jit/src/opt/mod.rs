//! The optimizing tier: hot regions (several IR blocks with the direct
//! branches between them) compiled with Cranelift, guest registers kept in
//! host registers across the region.
//!
//! Contract with the engine (crates/engine):
//! - A region is entered at its first block's PC through
//!   [`CompiledRegion::entry`] (same signature and [`crate::JitCtx`]
//!   protocol as a baseline block: returns the next guest PC with
//!   `ctx.kind` = `KIND_NEXT`, `KIND_EXIT` or `KIND_FAULT`), or by a jump
//!   to [`CompiledRegion::body`] from baseline code (link cells, the
//!   indirect-branch table).
//! - The engine keeps the region's blocks (`Arc<Block>`) alive as long as
//!   the region's code may run, and drops the region when any of
//!   [`CompiledRegion::guest_ranges`] is invalidated.
//! - When compiled code faults on a guest address, `ctx` reports the
//!   fault like a baseline block, and the guest state block holds the
//!   state before the faulting instruction (as in the interpreter), or,
//!   with [`crate::FAULT_REPLAY`] in `ctx.fault_status`, the state before
//!   an earlier instruction (`ctx.fault_pc`) from which nothing the region
//!   did is visible: the engine runs the interpreter from there until past
//!   the access (its PC in `ctx.opt_scratch`), which faults again exactly.
//! - The host SIGSEGV/SIGBUS handler must call [`redirect_fault`] (after
//!   `xarch_ir::guest_mem::fixup`).
//! - Direct exits to guest code outside the region have link cells
//!   ([`CompiledRegion::exits`]); other exits use the indirect-branch
//!   table. Back-edges inside the region, and every exit before chaining,
//!   check the interrupt and exit-info words of the state.
//!
//! How (see `lower.rs` and `stub.rs`):
//! - One Cranelift function per region; each IR block becomes Cranelift
//!   blocks, direct branches between region blocks are jumps.
//! - Guest state fields the region always accesses with the same offset
//!   and type (the GPRs, SP, NZCV, ...) are Cranelift variables, loaded at
//!   entry and written back when dirty (a may-be-dirty data flow over the
//!   region) before helper calls, atomics and exits, and at the start of
//!   a guest instruction with an access when the state block holds no
//!   earlier instruction's state since the last store (replay points,
//!   see `lower::plan_block`).
//! - Flags: conditions on flags computed in the same block are lowered
//!   from the operands (`CMP; B.cond` is one compare). The flags field is
//!   kept as its operands (deferred); before a guest access only the
//!   operands go to the `JitCtx`, and a fault packs them into the state.
//! - Guest loads and stores are plain host accesses; a fault in region
//!   code is redirected by [`redirect_fault`] to the stub, which restores
//!   the callee-saved registers and reports the access's guest PC (or
//!   its replay point). Each access carries a Cranelift source location
//!   naming its guest PC, replay point and kind; the trap sites of the compiled code, mapped to those, are kept
//!   by the code cache for the fault handler (no store before accesses).
//!   Where a trap site lacks one (a load merged into an instruction the
//!   optimizer made), the region is compiled again with each mark stored
//!   in `ctx.opt_scratch` before its access (its sites say so). A fault
//!   in region code anywhere else is not a guest access: it is left to
//!   the host handler as an xarch bug.
//! - Vector ops: Cranelift SIMD where it has the lane operation, 128-bit
//!   values kept in XMM registers between them; AES and PMULL.1Q through
//!   calls of `xarch_ir::crypto::host` (AES-NI, PCLMULQDQ); other vector
//!   ops call `xarch_ir::vector::eval` directly (see `lower/vector.rs`).
//! - Ops without a native lowering (floating point, atomics, rare
//!   widths) run the interpreter's definition through the baseline
//!   tier's `eval_shim`, so the semantics stay defined once.

mod lower;
mod stub;

use crate::baseline::{ChainConfig, EntryFn};
use crate::cache::CodeCache;
use xarch_ir::{Block, Op};

pub use stub::redirect_fault;

/// Whether [`compile_region`] lowers every op of `block` to native code
/// (integer ops, loads and stores) rather than calling the interpreter's
/// definition of it (floating-point, vector, atomic and helper ops, and
/// 128-bit values: slower there than the baseline tier's templates for
/// them). Region formation takes in only such blocks from callees:
/// taking in libc's vector `memcpy` made SQLite's 300k inserts 7% slower.
pub fn lowers_natively(block: &Block) -> bool {
    block.insts.iter().all(|inst| {
        inst.ty != xarch_ir::Type::I128
            && !matches!(
                inst.op,
                Op::CmpXchg(..)
                    | Op::AtomicRmw(..)
                    | Op::Call(..)
                    | Op::Vector(..)
                    | Op::ExtractLane(..)
                    | Op::InsertLane(..)
                    | Op::Dup(..)
                    | Op::Float(..)
                    | Op::FloatFlags(..)
            )
    })
}

/// Whether a loop runs inside the region: control comes back to its
/// entry (`blocks[0]`) along the edges its code has (direct branches,
/// calls into callees it took in, returns to the return addresses of its
/// calls). A region without one runs its blocks once per entry, and the
/// stub around it can cost more than the region gains (the engine's
/// tiering compiles only regions with one).
pub fn loops_through_entry(blocks: &[RegionBlock<'_>], chain: ChainConfig) -> bool {
    lower::loops_through_entry(blocks, chain.link)
}

/// One block of a region: its guest start address and IR.
#[derive(Clone, Copy)]
pub struct RegionBlock<'a> {
    /// Guest address of the block's first instruction.
    pub pc: u64,
    /// The block's IR.
    pub block: &'a Block,
}

/// Passes a region makes through a loop before it writes the state block
/// back anyway (see `lower::loop_replay_points`): a fault replays at most
/// this many passes in the interpreter.
pub const MAX_REPLAY_PASSES: u64 = 32;

/// Where the interpreter's run of a replayed region fault stops
/// ([`crate::FAULT_REPLAY`], [`crate::FAULT_REPLAY_PASSES`]): it starts
/// at `from`, comes back to it `passes` times, and stops once the block
/// holding the access has run in that pass. Nothing the region did since
/// `from` was visible, so any block boundary is an exact place to stop:
/// if memory changed meanwhile and the run comes back to `from` more
/// often than the region did, it stops there.
#[derive(Clone, Copy, Debug)]
pub struct ReplayStop {
    from: u64,
    access: u64,
    passes: u64,
    back: u64,
}

impl ReplayStop {
    pub fn new(from: u64, access: u64, passes: u64) -> ReplayStop {
        ReplayStop {
            from,
            access,
            passes,
            back: 0,
        }
    }

    /// The most blocks to interpret, given the most a pass takes (a
    /// count larger than a region makes is not believed).
    pub fn max_blocks(&self, per_pass: usize) -> usize {
        (self.passes.min(2 * MAX_REPLAY_PASSES) as usize + 1) * per_pass
    }

    /// After the block `[start, end)` ran and control goes on at `next`:
    /// whether the replay stops there.
    pub fn stops_after(&mut self, start: u64, end: u64, next: u64) -> bool {
        if (start..end).contains(&self.access) && self.back >= self.passes {
            return true;
        }
        if next == self.from {
            self.back += 1;
        }
        self.back > self.passes
    }

    /// The returns to `from` so far.
    pub fn passes_run(&self) -> u64 {
        self.back
    }
}

impl<'a> From<&'a Block> for RegionBlock<'a> {
    /// A block of a region entered at its own start address.
    fn from(block: &'a Block) -> Self {
        RegionBlock {
            pc: block.start,
            block,
        }
    }
}

/// A compiled region in the code cache.
#[derive(Clone)]
pub struct CompiledRegion {
    /// Entry from the engine's dispatcher.
    pub entry: EntryFn,
    /// Entry from chained baseline code (a jump, in a baseline frame).
    pub body: u64,
    /// Guest address ranges `(start, len)` the region was compiled from.
    pub guest_ranges: Vec<(u64, u64)>,
    /// Bytes of code (Cranelift function, stub and PC table) installed.
    pub code_bytes: usize,
    /// The direct exits to guest code outside the region, to be linked
    /// like a baseline block's ([`crate::baseline::Exit::link`]); an
    /// unlinked exit returns the target PC to the dispatcher. Other
    /// exits (indirect branches) go through the indirect-branch table.
    pub exits: Vec<crate::baseline::Exit>,
}

/// Why a region was not compiled (the engine keeps its baseline code).
#[derive(Debug)]
pub enum OptError {
    /// The region uses something this tier does not compile.
    Unsupported(&'static str),
    /// The code cache is full.
    CacheFull,
    /// Cranelift rejected the function (a bug: reported, not fatal).
    Codegen(String),
}

impl core::fmt::Display for OptError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OptError::Unsupported(what) => write!(f, "unsupported in the optimizing tier: {what}"),
            OptError::CacheFull => f.write_str("code cache full"),
            OptError::Codegen(e) => write!(f, "cranelift: {e}"),
        }
    }
}

impl std::error::Error for OptError {}

/// Compiles `blocks` (the first is the entry) into `cache`.
pub fn compile_region(
    blocks: &[RegionBlock<'_>],
    cache: &mut CodeCache,
    chain: ChainConfig,
) -> Result<CompiledRegion, OptError> {
    compile_region_with_marks(blocks, cache, chain, FaultMarks::SourceLocations)
}

/// How region code lets a fault find the guest access that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultMarks {
    /// Each access's Cranelift source location, kept with the trap sites;
    /// `Stored` for a region where Cranelift loses one (what the tiers
    /// use).
    SourceLocations,
    /// A store of each access's mark into the `JitCtx` before the access
    /// (the fallback, forced by tests that cover it).
    Stored,
}

/// [`compile_region`] with the way faults find their access chosen.
pub fn compile_region_with_marks(
    blocks: &[RegionBlock<'_>],
    cache: &mut CodeCache,
    chain: ChainConfig,
    marks: FaultMarks,
) -> Result<CompiledRegion, OptError> {
    let code = compile_region_code_with_marks(blocks, chain, marks)?;
    install_region(&code, cache, chain)
}

/// A region compiled by Cranelift but not installed yet: plain bytes that
/// any thread can produce ([`compile_region_code`]) and the thread owning
/// the code cache installs ([`install_region`]).
pub struct RegionCode {
    /// Guest PC of the region's entry.
    entry_pc: u64,
    /// The Cranelift function (position-independent: no relocations).
    code: Vec<u8>,
    /// Guest PCs of the region's fault sites.
    pcs: Vec<u64>,
    /// Guest accesses: (offset in `code`, mark), see [`fault_sites`].
    fault_sites: Vec<(u32, u32)>,
    /// Targets of the direct exits.
    exits: Vec<u64>,
    /// Guest address ranges the region was compiled from.
    guest_ranges: Vec<(u64, u64)>,
    /// What its entry does with deferred baseline flags.
    entry_flags: lower::EntryFlags,
}

/// The Cranelift half of [`compile_region`]: needs no code cache, so it
/// can run on a compiler thread. The blocks must stay alive (at the same
/// addresses) as long as the installed code may run.
pub fn compile_region_code(
    blocks: &[RegionBlock<'_>],
    chain: ChainConfig,
) -> Result<RegionCode, OptError> {
    compile_region_code_with_marks(blocks, chain, FaultMarks::SourceLocations)
}

fn compile_region_code_with_marks(
    blocks: &[RegionBlock<'_>],
    chain: ChainConfig,
    marks: FaultMarks,
) -> Result<RegionCode, OptError> {
    let isa = isa()?;
    let compile = |stored_marks: bool| {
        COMPILER.with(|c| {
            let mut c = c.borrow_mut();
            let Compiler { ctx, fctx } = &mut *c;
            ctx.clear();
            let lowered = lower::lower(
                &mut ctx.func,
                fctx,
                blocks,
                chain,
                isa.frontend_config(),
                stored_marks,
            )?;
            let compiled = ctx
                .compile(&*isa, &mut Default::default())
                .map_err(|e| OptError::Codegen(format!("{:?}", e.inner)))?;
            if !compiled.buffer.relocs().is_empty() {
                return Err(OptError::Codegen("relocations in region code".into()));
            }
            let sites = fault_sites(compiled, stored_marks);
            let code = compiled.code_buffer().to_vec();
            Ok::<_, OptError>((code, lowered, sites))
        })
    };
    let first = match marks {
        FaultMarks::SourceLocations => Some(compile(false)?),
        FaultMarks::Stored => None,
    };
    let (code, lowered, fault_sites) = match first {
        Some((code, lowered, Some(sites))) => (code, lowered, sites),
        // A guest access without its mark: store the marks instead.
        _ => match compile(true)? {
            (code, lowered, Some(sites)) => (code, lowered, sites),
            _ => unreachable!("with stored marks every trap site has one"),
        },
    };
    let mut guest_ranges: Vec<(u64, u64)> = blocks
        .iter()
        .map(|rb| (rb.block.start, rb.block.end - rb.block.start))
        .collect();
    guest_ranges.sort_unstable();
    guest_ranges.dedup();
    Ok(RegionCode {
        entry_pc: blocks.first().map_or(0, |b| b.pc),
        code,
        pcs: lowered.pcs,
        fault_sites,
        exits: lowered.exits,
        guest_ranges,
        entry_flags: lowered.entry_flags,
    })
}

/// The mark of a guest access in region code that stores its mark in
/// `ctx.opt_scratch` before the access (see [`fault_sites`]).
pub(crate) const STORED_MARK: u32 = u32::MAX;

/// What a fault in a guest access of region code needs to know, as one
/// `u32` (a Cranelift source location, or stored in `ctx.opt_scratch`):
/// bit 0 write, bit 1 replay, bits 2..16 the index in the region's PC
/// table of the PC the state block holds, bits 16..30 that of the
/// access, bit 30 ([`Mark::PASSES`]) a replay through a loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    /// The access's guest PC (index in the PC table).
    pub access: u32,
    /// The guest PC whose state the state block holds: the access's own,
    /// or with `replay` an earlier instruction's (the engine runs the
    /// interpreter from there, see [`crate::FAULT_REPLAY`]).
    pub from: u32,
    pub replay: bool,
    /// With `replay`: `from` is the start of a loop the region may have
    /// gone round since (`ctx.replay_passes` times, see
    /// [`crate::FAULT_REPLAY_PASSES`]).
    pub passes: bool,
    pub write: bool,
}

impl Mark {
    /// The largest PC table index a mark holds.
    pub const MAX_INDEX: u32 = 0x3fff;
    /// The bit of an encoded mark that says [`Mark::passes`] (the fault
    /// handler moves it to `ctx.fault_status` before the stub reads the
    /// indexes).
    pub const PASSES: u32 = 1 << 30;

    pub fn encode(self) -> u32 {
        debug_assert!(self.access <= Self::MAX_INDEX && self.from <= Self::MAX_INDEX);
        debug_assert!(self.replay || !self.passes);
        self.access << 16
            | if self.passes { Self::PASSES } else { 0 }
            | (self.from & Self::MAX_INDEX) << 2
            | u32::from(self.replay) << 1
            | u32::from(self.write)
    }
}

/// The guest accesses of compiled region code: (offset of the host
/// instruction that may fault, its [`Mark`]), in offset order. With `stored_marks` (the code
/// stores each mark before its access) every site's mark is
/// [`STORED_MARK`]; otherwise `None` if an instruction Cranelift records
/// as a guest access trap site lacks the source location `lower` gave
/// the access (a load merged into an instruction the optimizer made).
fn fault_sites(
    compiled: &cranelift_codegen::CompiledCode,
    stored_marks: bool,
) -> Option<Vec<(u32, u32)>> {
    let locs = compiled.buffer.get_srclocs_sorted();
    let mut sites = Vec::new();
    for trap in compiled.buffer.traps() {
        if trap.code != cranelift_codegen::ir::TrapCode::HEAP_OUT_OF_BOUNDS {
            continue;
        }
        if stored_marks {
            sites.push((trap.offset, STORED_MARK));
            continue;
        }
        let l = locs.get(locs.partition_point(|l| l.end <= trap.offset))?;
        if l.start > trap.offset || l.loc.is_default() {
            return None;
        }
        sites.push((trap.offset, l.loc.bits()));
    }
    sites.sort_unstable();
    Some(sites)
}

/// Installs compiled region code into `cache` (on the thread that owns
/// it), with the stub that enters it.
pub fn install_region(
    code: &RegionCode,
    cache: &mut CodeCache,
    chain: ChainConfig,
) -> Result<CompiledRegion, OptError> {
    let region = stub::install(
        &code.code,
        &code.pcs,
        &code.fault_sites,
        &code.exits,
        code.entry_flags,
        cache,
        chain,
    )?;
    crate::perfmap::record(
        region.entry.addr() as *const u8,
        region.bytes,
        format_args!("region_{:x}", code.entry_pc),
    );
    Ok(CompiledRegion {
        entry: region.entry,
        body: region.body,
        guest_ranges: code.guest_ranges.clone(),
        code_bytes: region.bytes,
        exits: region.exits,
    })
}

struct Compiler {
    ctx: cranelift_codegen::Context,
    fctx: cranelift_frontend::FunctionBuilderContext,
}

thread_local! {
    static COMPILER: core::cell::RefCell<Compiler> = core::cell::RefCell::new(Compiler {
        ctx: cranelift_codegen::Context::new(),
        fctx: cranelift_frontend::FunctionBuilderContext::new(),
    });
}

type Isa = std::sync::Arc<dyn cranelift_codegen::isa::TargetIsa>;

/// The host ISA with the settings this tier uses (built once).
fn isa() -> Result<Isa, OptError> {
    static ISA: std::sync::OnceLock<Result<Isa, String>> = std::sync::OnceLock::new();
    ISA.get_or_init(|| {
        use cranelift_codegen::settings::{self, Configurable};
        let mut b = settings::builder();
        let verify = if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        };
        for (k, v) in [
            ("opt_level", "speed"),
            ("enable_verifier", verify),
            ("unwind_info", "false"),
            // The fault handler finds the region's frame through rbp.
            ("preserve_frame_pointers", "true"),
        ] {
            b.set(k, v).map_err(|e| format!("{k}: {e}"))?;
        }
        let isa = cranelift_native::builder()
            .map_err(|e| e.to_string())?
            .finish(settings::Flags::new(b))
            .map_err(|e| e.to_string())?;
        Ok(isa)
    })
    .clone()
    .map_err(OptError::Codegen)
}
