//! The baseline (template) tier: IR block → x86-64, one template per op.
//!
//! Register use inside a compiled block: `rbx` = guest state block plus
//! [`STATE_BIAS`],
//! `r12` = value slots (16 bytes per IR value, index = value number),
//! `r13` = the [`JitCtx`]; rbp, r15 and r14 keep the pinned state fields
//! ([`ChainConfig::pinned`], unless not pinned); r8-r11 (and r14 and r15
//! when they keep no field) hold IR values within the
//! block (`regs.rs`: constants become immediates, computed values stay in
//! registers until their last use). Scalar values are always
//! zero-extended to 64 bits, in registers and in the low 8 bytes of their
//! slot. Vector ops have SSE templates or call `xarch_ir::vector::eval`
//! directly on slots (see `baseline/vector.rs`); other ops without a
//! template call [`eval_shim`], which runs the interpreter's definition of
//! that one op on the same slots.

mod enc;
mod flags;
mod regs;
mod vector;

use flags::FlagsAccess;
pub(crate) use flags::emit_complete_if_pending;
use regs::{Loc, POOL, RAX, RCX, RDX, RSI, Regs, Src, compare_fits, imm32};

use crate::cache::CodeCache;
use crate::portable::RelocKind;
pub use crate::vector::HostFeatures;
use dynasmrt::x64::{Rq, X64Relocation};
use dynasmrt::{
    DynamicLabel, DynasmApi, DynasmError, DynasmLabelApi, TargetKind, VecAssembler, dynasm,
};
use xarch_ir::guest_mem::MemStatus;
use xarch_ir::{Block, BranchHint, FenceKind, IntCC, Op, RmwOp, Terminator, Type, Value};

/// Per-thread communication area between compiled code and the engine.
#[repr(C)]
#[derive(Debug)]
pub struct JitCtx {
    /// How the block ended: [`KIND_NEXT`], [`KIND_EXIT`] or [`KIND_FAULT`].
    pub kind: u64,
    /// Fault status bits (as [`MemStatus::fault`]), and [`FAULT_REPLAY`].
    pub fault_status: u64,
    /// Faulting guest address.
    pub fault_addr: u64,
    /// Guest PC of the faulting instruction (with [`FAULT_REPLAY`]: of the
    /// instruction whose state the state block holds); for [`KIND_EXIT`],
    /// the start address of the block whose `Exit` terminator was reached.
    pub fault_pc: u64,
    /// Host stack pointer saved by an optimizing-tier region before it
    /// calls its Cranelift code (for fault recovery, see [`crate::opt`]).
    pub host_sp: u64,
    /// The mark of an optimizing-tier access that faulted (`opt::Mark`):
    /// set by the fault handler from the code cache's trap sites, or
    /// stored by the region code before each access where it has none
    /// (see [`crate::opt`]); once the region has reported the fault, the
    /// guest PC of the access.
    pub opt_scratch: u64,
    /// Optimizing-tier deferred flags: when `lazy_info` is non-zero, the
    /// flags field of the guest state is stale and these describe it
    /// (see `crate::opt`).
    pub lazy_a: u64,
    /// See `lazy_a`.
    pub lazy_b: u64,
    /// See `lazy_a`.
    pub lazy_info: u64,
    /// The thread's indirect-branch table, which compiled code reads
    /// inline: pairs of (`!pc`, compiled body). See [`ibtc_entry`].
    pub ibtc_table: u64,
    /// Its size as [`ibtc_mask`] gives it (the engine grows the table as
    /// a program's code grows, so both are read at every lookup).
    pub ibtc_mask: u64,
    /// Where compiled code returns to the engine: the shared exit routine
    /// (see [`SharedRoutines`]).
    pub exit_routine: u64,
    /// The shared routine a guest memory fault ends in.
    pub fault_routine: u64,
    /// The host stack pointer when the engine entered compiled code: every
    /// way back to the engine restores it, which drops the host return
    /// stack's entries (see [`ChainConfig::link`]).
    pub entry_sp: u64,
    /// The lowest the host return stack may grow to (a guest recursing
    /// without returning must not overflow the host stack).
    pub stack_floor: u64,
    /// The shared routine that completes deferred flags for block code
    /// (see [`SharedRoutines::complete`]).
    pub complete_routine: u64,
    /// How an optimizing-tier region's code left, for its stub: the
    /// index of the direct exit's link cell plus one, or 0 for an
    /// indirect exit (see `crate::opt`'s stub).
    pub region_exit: u64,
    /// Offsets in the state block of the 64-bit fields compiled code
    /// keeps in [`PIN_REGS`] ([`ChainConfig::pinned`]), or -1: the shared
    /// routines load them at entry and store them back on every way out
    /// to the engine. They must match the configuration the code was
    /// compiled with.
    pub pinned: [i64; PINS],
    /// Passes an optimizing-tier region made through a loop since the
    /// state block last held the state at the loop's start (see
    /// [`FAULT_REPLAY_PASSES`]).
    pub replay_passes: u64,
}

impl Default for JitCtx {
    /// A context with an empty indirect-branch table (every lookup
    /// misses).
    fn default() -> Self {
        JitCtx {
            kind: 0,
            fault_status: 0,
            fault_addr: 0,
            fault_pc: 0,
            host_sp: 0,
            opt_scratch: 0,
            lazy_a: 0,
            lazy_b: 0,
            lazy_info: 0,
            ibtc_table: EMPTY_IBTC.as_ptr() as u64,
            ibtc_mask: ibtc_mask(EMPTY_IBTC.len()),
            exit_routine: SharedRoutines::get().exit,
            fault_routine: SharedRoutines::get().fault,
            entry_sp: 0,
            stack_floor: 0,
            complete_routine: SharedRoutines::get().complete,
            region_exit: 0,
            pinned: [-1; PINS],
            replay_passes: 0,
        }
    }
}

impl JitCtx {
    /// A context for code compiled with `chain`: the shared routines
    /// then keep the fields it pins ([`ChainConfig::pinned`]).
    pub fn for_chain(chain: ChainConfig) -> Self {
        JitCtx {
            pinned: chain.pinned.map(|p| p.map_or(-1, i64::from)),
            ..JitCtx::default()
        }
    }
}

/// Offsets of [`JitCtx`]'s fields, for the code that reads and writes
/// them (both tiers, the shared routines, the region stubs); checked
/// against the struct at compile time.
pub(crate) const CTX_KIND: i32 = 0;
pub(crate) const CTX_FAULT_STATUS: i32 = 8;
pub(crate) const CTX_FAULT_ADDR: i32 = 16;
pub(crate) const CTX_FAULT_PC: i32 = 24;
pub(crate) const CTX_HOST_SP: i32 = 32;
pub(crate) const CTX_OPT_SCRATCH: i32 = 40;
pub(crate) const CTX_LAZY_A: i32 = 48;
pub(crate) const CTX_LAZY_B: i32 = 56;
pub(crate) const CTX_LAZY_INFO: i32 = 64;
const CTX_IBTC_TABLE: i32 = 72;
const CTX_IBTC_MASK: i32 = 80;
const CTX_EXIT_ROUTINE: i32 = 88;
const CTX_FAULT_ROUTINE: i32 = 96;
const CTX_ENTRY_SP: i32 = 104;
const CTX_STACK_FLOOR: i32 = 112;
pub(crate) const CTX_COMPLETE_ROUTINE: i32 = 120;
pub(crate) const CTX_REGION_EXIT: i32 = 128;
const CTX_PINNED: i32 = 136;
pub(crate) const CTX_REPLAY_PASSES: i32 = CTX_PINNED + 8 * PINS as i32;

/// What compiled code keeps in rbx is the state block's address plus
/// this: the 32 general registers of an A64 state (its first 256 bytes)
/// are then reached with 8-bit displacements, 4-byte loads and stores
/// instead of 7-byte ones (a block's state accesses were an eighth to a
/// sixth of its code). Code passing the state to a helper subtracts it.
pub(crate) const STATE_BIAS: i32 = 128;

/// Host stack the return stack may use: 4096 guest calls deep (each entry
/// is the guest return address and the host one, 16 bytes).
const RETURN_STACK_BYTES: i32 = 64 << 10;

const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(JitCtx, kind) == CTX_KIND as usize);
    assert!(offset_of!(JitCtx, fault_status) == CTX_FAULT_STATUS as usize);
    assert!(offset_of!(JitCtx, fault_addr) == CTX_FAULT_ADDR as usize);
    assert!(offset_of!(JitCtx, fault_pc) == CTX_FAULT_PC as usize);
    assert!(offset_of!(JitCtx, host_sp) == CTX_HOST_SP as usize);
    assert!(offset_of!(JitCtx, opt_scratch) == CTX_OPT_SCRATCH as usize);
    assert!(offset_of!(JitCtx, lazy_a) == CTX_LAZY_A as usize);
    assert!(offset_of!(JitCtx, lazy_b) == CTX_LAZY_B as usize);
    assert!(offset_of!(JitCtx, lazy_info) == CTX_LAZY_INFO as usize);
    assert!(offset_of!(JitCtx, ibtc_table) == CTX_IBTC_TABLE as usize);
    assert!(offset_of!(JitCtx, ibtc_mask) == CTX_IBTC_MASK as usize);
    assert!(offset_of!(JitCtx, exit_routine) == CTX_EXIT_ROUTINE as usize);
    assert!(offset_of!(JitCtx, fault_routine) == CTX_FAULT_ROUTINE as usize);
    assert!(offset_of!(JitCtx, entry_sp) == CTX_ENTRY_SP as usize);
    assert!(offset_of!(JitCtx, stack_floor) == CTX_STACK_FLOOR as usize);
    assert!(offset_of!(JitCtx, complete_routine) == CTX_COMPLETE_ROUTINE as usize);
    assert!(offset_of!(JitCtx, region_exit) == CTX_REGION_EXIT as usize);
    assert!(offset_of!(JitCtx, pinned) == CTX_PINNED as usize);
    // Baseline code reaches every field up to here with an 8-bit
    // displacement (`[BYTE r13 + CTX_...]`); only region code and stubs
    // use `region_exit`, and only the entry and exit routines `pinned`.
    assert!(CTX_COMPLETE_ROUTINE < 128);
    assert!(offset_of!(JitCtx, replay_passes) == CTX_REPLAY_PASSES as usize);
    assert!(core::mem::size_of::<JitCtx>() == CTX_REPLAY_PASSES as usize + 8);
};

/// The way into baseline blocks and back to the engine, shared by every
/// block (one copy per process): the engine enters a block through
/// `entry` with its body, and a block's slow exits (to the dispatcher, a
/// fault) jump to the routines named in its [`JitCtx`]. Each block
/// carried its own prologue and epilogue before, about 90 of a typical
/// block's 270 bytes, which every process copies in from the code store,
/// pays page faults for, and keeps between the hot bodies.
pub struct SharedRoutines {
    /// The [`BlockFn`] that enters a baseline block: sets up the frame
    /// and registers the block's code expects ([`emit_prologue`]) and
    /// jumps to its body (rcx). Blocks carried this prologue each.
    pub entry: BlockFn,
    /// With the next guest PC in rax: completes deferred flags, undoes
    /// [`emit_prologue`] and returns it.
    pub exit: u64,
    /// With the fault status in rax, the address in rdx and the guest PC
    /// in rcx: reports a [`KIND_FAULT`], then as `exit`.
    pub fault: u64,
    /// Called by block code where something reads the flags field while
    /// flags may be deferred: packs them into the field with the host's
    /// own flags for 32- and 64-bit compares, additions and logical
    /// results (others go to [`crate::flags::complete_flags`]). Keeps
    /// every register but rax, rcx, rdx, rsi and rdi (the templates'
    /// scratch). Blocks called `complete_flags` around four pushes and
    /// pops: 258k times in a small cc1 start, 75 instructions each.
    pub complete: u64,
}

impl SharedRoutines {
    /// The process's routines, made at first use.
    pub fn get() -> &'static SharedRoutines {
        static EXITS: std::sync::OnceLock<SharedRoutines> = std::sync::OnceLock::new();
        EXITS.get_or_init(SharedRoutines::make)
    }

    fn make() -> SharedRoutines {
        let mut ops = VecAssembler::<X64Relocation>::new(0);
        dynasm!(ops
            ; .arch x64
            ; mov QWORD [BYTE r13 + CTX_FAULT_STATUS as i8], rax
            ; mov QWORD [BYTE r13 + CTX_FAULT_ADDR as i8], rdx
            ; mov QWORD [BYTE r13 + CTX_FAULT_PC as i8], rcx
            ; mov QWORD [BYTE r13 + CTX_KIND as i8], KIND_FAULT as i32
        );
        let exit = ops.offset().0;
        // (The completion may call out: on the stack the engine left.)
        emit_drop_return_stack(&mut ops);
        // Deferred flags go into the state before the engine sees it
        // (the check costs nothing where flags are never deferred).
        emit_complete_if_pending(&mut ops, true);
        emit_epilogue(&mut ops);
        let entry = ops.offset().0;
        let body = ops.new_dynamic_label();
        emit_prologue(&mut ops, body);
        dynasm!(ops ; .arch x64 ; jmp rcx);
        let complete = ops.offset().0;
        flags::emit_complete_routine(&mut ops);
        let code = ops.finalize().expect("the shared routines assemble");
        let len = code.len().next_multiple_of(4096);
        // SAFETY: a fresh anonymous mapping, checked; the code is copied
        // in while it is writable, then it is made read-only executable.
        // Its one absolute address (the flag completion routine) is
        // valid for the life of the process.
        let base = unsafe {
            let p = libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert!(
                p != libc::MAP_FAILED,
                "xarch: cannot map its shared block routines"
            );
            core::ptr::copy_nonoverlapping(code.as_ptr(), p as *mut u8, code.len());
            let ok = libc::mprotect(p, len, libc::PROT_READ | libc::PROT_EXEC) == 0;
            assert!(ok, "xarch: cannot map its shared block routines");
            p as u64
        };
        crate::perfmap::record(
            base as *const u8,
            code.len(),
            format_args!("xarch_block_routines"),
        );
        // SAFETY: the routine at `entry` follows the BlockFn convention
        // (System V, four integer arguments, a u64 result).
        let entry = unsafe {
            core::mem::transmute::<*const u8, BlockFn>((base + entry as u64) as *const u8)
        };
        SharedRoutines {
            entry,
            exit: base + exit as u64,
            fault: base,
            complete: base + complete as u64,
        }
    }
}

/// The smallest empty table (see [`ibtc_empty`]: one entry cannot be
/// empty).
static EMPTY_IBTC: [[u64; 2]; 2] = [ibtc_empty(0), ibtc_empty(1)];

/// The block continues at the returned guest address.
pub const KIND_NEXT: u64 = 0;
/// The block's `Exit` terminator was reached.
pub const KIND_EXIT: u64 = 1;
/// A guest memory access faulted; see the fault fields.
pub const KIND_FAULT: u64 = 2;
/// In [`JitCtx::fault_status`] of a [`KIND_FAULT`] from region code: the
/// guest state is that before the instruction at `fault_pc`, earlier than
/// the access (at `opt_scratch`), and nothing since is visible. Running
/// the interpreter from `fault_pc` until past the access reproduces the
/// fault exactly (or, if memory changed meanwhile, runs on correctly).
pub const FAULT_REPLAY: u64 = 4;
/// With [`FAULT_REPLAY`]: `fault_pc` is the start of a loop the region
/// went round [`JitCtx::replay_passes`] times since the state block was
/// written (nothing visible happened since): the interpreter runs from
/// `fault_pc`, back to it that many times, and then until past the
/// access.
pub const FAULT_REPLAY_PASSES: u64 = 8;
/// A block's execution counter reached the hot threshold: the engine
/// should compile a region starting at the returned guest PC.
pub const KIND_HOT: u64 = 3;

/// Signature of the way into compiled code: returns the next guest PC.
/// `body` is where a baseline block starts (the shared entry routine
/// jumps there, see [`SharedRoutines::entry`]); a region's own entry ignores
/// it.
pub(crate) type BlockFn =
    unsafe extern "C" fn(state: *mut u8, slots: *mut u128, ctx: *mut JitCtx, body: u64) -> u64;

/// A compiled block in the code cache.
#[derive(Clone)]
pub struct CompiledBlock {
    /// Address of the code, which starts with the body: where chained
    /// blocks jump (the engine enters it through the shared entry).
    pub body: u64,
    /// The direct exits, for linking.
    pub exits: Box<[Exit]>,
    /// Whether the code refers to its IR block (calls the interpreter's
    /// definition of some op): the block must then live as long as the
    /// code; otherwise the code stands alone.
    pub refs_ir: bool,
    /// Length of the code in bytes (from `body`).
    pub len: u32,
    /// The process-specific addresses in the code (for
    /// [`crate::portable::export`]; empty when `refs_ir`).
    pub relocs: Box<[crate::portable::Reloc]>,
}

/// An execution counter for [`compile_counted`]: a 32-bit word of the
/// same code cache, outside its code ([`CodeCache::alloc_counter`]:
/// writes next to running code would cost x86 self-modifying-code
/// pipeline flushes), decremented every time the block's body is entered.
/// When the decrement reaches zero the block returns to the dispatcher
/// before running any of its instructions, with `ctx.kind` =
/// [`KIND_HOT`] and its own start address as the next guest PC.
#[derive(Clone, Copy, Debug)]
pub struct HotCounter(pub core::ptr::NonNull<u32>);

/// The entry point of a compiled block, detached from its exit list: the
/// code to call and the body it continues in.
#[derive(Clone, Copy)]
pub struct EntryFn {
    f: BlockFn,
    body: u64,
}

impl EntryFn {
    /// Wraps code with the [`BlockFn`] convention that needs no body (a
    /// region's entry stub).
    pub(crate) fn from_fn(f: BlockFn) -> EntryFn {
        EntryFn { f, body: 0 }
    }

    /// The entry point of the compiled block whose body is at `body`.
    pub fn at_body(body: u64) -> EntryFn {
        EntryFn {
            f: SharedRoutines::get().entry,
            body,
        }
    }

    /// The code address (for diagnostics and disassembly).
    pub fn addr(&self) -> usize {
        self.f as usize
    }

    /// Runs the block (and the blocks chained from it).
    ///
    /// # Safety
    /// As for [`CompiledBlock::call`].
    pub unsafe fn call(&self, state: *mut u8, slots: *mut u128, ctx: *mut JitCtx) -> u64 {
        // SAFETY: forwarded from the caller.
        unsafe { (self.f)(state, slots, ctx, self.body) }
    }
}

impl CompiledBlock {
    /// A block of code installed by other means than [`compile_with`]
    /// (see [`crate::portable::import`]).
    pub(crate) fn from_parts(
        body: u64,
        exits: Box<[Exit]>,
        len: u32,
        relocs: Box<[crate::portable::Reloc]>,
    ) -> CompiledBlock {
        CompiledBlock {
            body,
            exits,
            refs_ir: false,
            len,
            relocs,
        }
    }

    /// The entry point.
    pub fn entry_fn(&self) -> EntryFn {
        EntryFn::at_body(self.body)
    }

    /// Runs the block.
    ///
    /// # Safety
    /// `state` must be the guest state block the IR was lifted for, `slots`
    /// must have room for [`MAX_SLOTS`] values, the block (and the `Block`
    /// it was compiled from, and every block linked from it) must still be
    /// alive in the code cache.
    pub unsafe fn call(&self, state: *mut u8, slots: *mut u128, ctx: *mut JitCtx) -> u64 {
        // SAFETY: forwarded from the caller.
        unsafe { self.entry_fn().call(state, slots, ctx) }
    }
}

/// Runs the reference semantics of one op for compiled code.
///
/// # Safety
/// Called only by compiled code, with the block it was compiled from, its
/// slot array and guest state.
pub(crate) unsafe extern "C" fn eval_shim(
    block: *const Block,
    i: usize,
    state: *mut u8,
    slots: *mut u128,
) -> MemStatus {
    // SAFETY: compiled code passes the live block and its slot array,
    // which holds at least `block.insts.len()` values.
    let (block, vals) = unsafe {
        (
            &*block,
            core::slice::from_raw_parts_mut(slots, (*block).insts.len()),
        )
    };
    // Slots of scalar values hold only their low 8 bytes: mask operands
    // to their types before the interpreter reads them as u128.
    block.insts[i]
        .op
        .for_each_operand(|v| vals[v.0 as usize] &= block.ty(v).mask());
    // SAFETY: forwarded from the caller.
    match unsafe { xarch_ir::interp::eval_inst(block, i, vals, state) } {
        Ok(r) => {
            vals[i] = r;
            MemStatus { fault: 0, addr: 0 }
        }
        Err(f) => MemStatus {
            fault: 1 | ((f.write as u64) << 1),
            addr: f.addr,
        },
    }
}

fn slot(v: Value) -> i32 {
    (v.0 as i32) * 16
}

struct Emitter {
    ops: VecAssembler<X64Relocation>,
    /// Fault stubs of calls that report a fault status: (label, guest
    /// PC), one per guest instruction.
    faults: Vec<(DynamicLabel, u64)>,
    /// Inline guest accesses: the label at the access instruction, its
    /// guest instruction, and whether it writes. They need no stub: the
    /// fault handler enters the shared fault routine with the PC.
    mem_sites: Vec<(DynamicLabel, u64, bool)>,
    pc: u64,
    /// The block's way back to the dispatcher (`jmp [r13 + exit]`),
    /// emitted only when something jumps there (see [`Emitter::epilogue`]).
    epilogue: DynamicLabel,
    epilogue_used: bool,
    chain: ChainConfig,
    block_start: u64,
    /// The block calls helpers (which may ask for a return to the
    /// engine through `exit_info`, as `IC IVAU` does): every exit polls.
    calls_helpers: bool,
    /// Direct exits: target guest PC and, for an exit that polls, the
    /// label of its return path in the block (which loads the target PC:
    /// kept out of the chained path). Each gets a link cell of the code
    /// cache when the block is installed, and an exit without a return
    /// path of its own a cold one there (see [`exit_stub`]).
    exits: Vec<(u64, Option<DynamicLabel>)>,
    /// The jumps and calls through link cells: the exit whose cell, and
    /// the label right after the instruction (its last 4 bytes are the
    /// cell's RIP-relative displacement).
    cell_refs: Vec<(usize, DynamicLabel)>,
    /// Some code refers to the IR block (see [`CompiledBlock::refs_ir`]).
    refs_ir: bool,
    /// The optional instruction sets templates may use.
    feat: HostFeatures,
    /// Where the code holds process-specific addresses.
    relocs: Vec<crate::portable::Reloc>,
    /// 16-byte constants emitted after the code (see `vector.rs`).
    consts: Vec<(DynamicLabel, u128)>,
    /// Where each IR value is (see `regs.rs`).
    regs: Regs,
    /// Out-of-line completions of deferred flags (see `flags.rs`): the
    /// call's label and where it returns.
    flag_stubs: Vec<(DynamicLabel, DynamicLabel)>,
    /// Labels that jumps reach with a 32-bit displacement; every other
    /// jump to a label out of line has an 8-bit one (see
    /// [`compile_with`]).
    far: Vec<DynamicLabel>,
}

/// Two-operand x86 ALU instructions the templates use.
#[derive(Clone, Copy)]
enum Alu {
    Add,
    Sub,
    And,
    Or,
    Xor,
    Mul,
    Adc,
}

impl Emitter {
    /// Whether jumps to `l` take an 8-bit displacement.
    fn near(&self, l: DynamicLabel) -> bool {
        !self.far.contains(&l)
    }

    /// Loads a slot-resident value (templates run after
    /// [`Self::prepare_slot_op`]).
    fn load_rax(&mut self, v: Value) {
        let o = slot(v);
        dynasm!(self.ops ; .arch x64 ; mov rax, QWORD [r12 + o]);
    }

    fn store_rax(&mut self, i: usize) {
        let o = (i as i32) * 16;
        dynasm!(self.ops ; .arch x64 ; mov QWORD [r12 + o], rax);
    }

    /// Zero-extends register `r` from `ty` (keeps values canonical).
    fn mask(&mut self, r: Rq, ty: Type) {
        match ty {
            Type::I1 => dynasm!(self.ops ; .arch x64 ; and Rd(r), 1),
            Type::I8 => dynasm!(self.ops ; .arch x64 ; movzx Rd(r), Rb(r)),
            Type::I16 => dynasm!(self.ops ; .arch x64 ; movzx Rd(r), Rw(r)),
            Type::I32 => dynasm!(self.ops ; .arch x64 ; mov Rd(r), Rd(r)),
            _ => {}
        }
    }

    /// Converts the host flags of the last operation into Arm NZCV (bits
    /// 31..28) in rax: N = SF, Z = ZF, and with `carry_overflow` C = CF,
    /// V = OF, else C = V = 0.
    fn flags_to_nzcv(&mut self, carry_overflow: bool) {
        if carry_overflow {
            // ax = SF ZF - AF - PF 1 CF : 0000000 OF. One multiply moves
            // the four bits to 31..28 at once: SF (15) and ZF (14) by 16,
            // CF (8) by 21, OF (0) by 28; the other products land on
            // distinct bits below 28 (no carries), masked off.
            dynasm!(self.ops
                ; .arch x64
                ; lahf
                ; seto al
                ; movzx eax, ax
                ; and eax, 0xc101
                ; imul eax, eax, 0x1021_0000
                ; and eax, 0xf000_0000_u32 as i32
            );
        } else {
            dynasm!(self.ops
                ; .arch x64
                ; lahf
                ; movzx eax, ah
                ; and eax, 0xc0
                ; shl eax, 24
            );
        }
    }

    /// Calls a function of xarch's own (at a process-specific address).
    /// It may read or write any of the guest state: the pinned fields
    /// are in the state block across the call.
    fn call_abs(&mut self, addr: usize) {
        self.pinned_to_state();
        dynasm!(self.ops ; .arch x64 ; mov rax, QWORD addr as i64);
        self.reloc_here(RelocKind::Helper);
        dynasm!(self.ops ; .arch x64 ; call rax);
        self.pinned_from_state();
    }

    /// Whether a state access of `bytes` at `off` touches a field kept
    /// in a register ([`ChainConfig::pinned`]).
    fn touches_pinned(&self, off: i32, bytes: u32) -> bool {
        (0..PINS).any(|p| self.touches_pin(p, off, bytes))
    }

    /// Whether a state access of `bytes` at `off` touches pinned field `p`.
    fn touches_pin(&self, p: usize, off: i32, bytes: u32) -> bool {
        self.chain.pinned[p]
            .is_some_and(|f| off < f as i32 + 8 && (f as i32) < off + bytes.max(1) as i32)
    }

    /// The pinned field that starts at `off`, if any.
    fn pin_at(&self, off: i32) -> Option<usize> {
        (0..PINS).find(|&p| self.chain.pinned[p] == Some(off as u32))
    }

    /// Whether nothing writes pinned field `p` between its read `i` and
    /// the value's last use, so the value can stay in its register: no
    /// write of state over it, and no helper call (it may write any
    /// state).
    fn pinned_unchanged(&self, block: &Block, i: usize, p: usize) -> bool {
        let last = self.regs.last_use(i as u32).min(block.insts.len() - 1);
        last <= i
            || block.insts[i + 1..=last].iter().all(|x| match x.op {
                Op::SetState(o, v) => !self.touches_pin(p, o as i32, block.ty(v).bytes()),
                Op::Call(..) => false,
                _ => true,
            })
    }

    /// Stores the pinned fields from their registers to the state block.
    fn pinned_to_state(&mut self) {
        emit_pinned_store(&mut self.ops, self.chain.pinned);
    }

    /// Loads the pinned fields from the state block into their registers.
    fn pinned_from_state(&mut self) {
        emit_pinned_load(&mut self.ops, self.chain.pinned);
    }

    /// Records that the 8 bytes just emitted (the immediate of a `mov r64,
    /// imm64`) hold a process-specific address of `kind`.
    fn reloc_here(&mut self, kind: RelocKind) {
        let at = (self.ops.offset().0 - 8) as u32;
        self.relocs.push(crate::portable::Reloc { at, kind });
    }

    /// After a call returning `MemStatus` in rax:rdx: branch to a fault
    /// stub for the current guest instruction if rax is non-zero.
    fn check_fault(&mut self) {
        let l = self.fault_stub();
        dynasm!(self.ops ; .arch x64 ; test rax, rax);
        let near = self.near(l);
        jnz_to(&mut self.ops, l, near);
    }

    /// The fault stub of the current guest instruction, entered with the
    /// fault status in rax and the address in rdx.
    fn fault_stub(&mut self) -> DynamicLabel {
        if let Some(&(l, pc)) = self.faults.last()
            && pc == self.pc
        {
            return l;
        }
        let l = self.ops.new_dynamic_label();
        self.faults.push((l, self.pc));
        l
    }

    /// Marks the next instruction as an inline guest access, which
    /// [`crate::cache::fixup_inline_access`] redirects to the shared fault
    /// routine.
    fn mem_site(&mut self, write: bool) {
        let site = self.ops.new_dynamic_label();
        self.mem_sites.push((site, self.pc, write));
        dynasm!(self.ops ; .arch x64 ; =>site);
    }

    fn shim(&mut self, block: &Block, i: usize) {
        self.refs_ir = true;
        let block_addr = block as *const Block as i64;
        dynasm!(self.ops
            ; .arch x64
            ; mov rdi, QWORD block_addr
            ; mov rsi, QWORD i as i64
            ; lea rdx, [rbx - STATE_BIAS]
            ; mov rcx, r12
        );
        self.call_abs(eval_shim as *const () as usize);
        self.check_fault();
    }

    /// Emits instruction `i`: a register template if it has one, else a
    /// template on slots or the interpreter shim.
    fn emit(&mut self, block: &Block, i: usize) {
        if let Some(off) = self.chain.flags {
            let deferred = match block.insts[i].op {
                Op::SetState(_, v) => self.regs.deferred(v.0 as usize),
                _ => None,
            };
            match flags::access(block, i, off, deferred) {
                FlagsAccess::None => {}
                FlagsAccess::Complete => self.complete_pending_flags(),
                FlagsAccess::Replace => self.flags_replaced(),
                FlagsAccess::Defer(d) => {
                    self.defer_flags(d, off);
                    self.release_dead(i);
                    return;
                }
            }
        }
        if self.scalar(block, i) {
            return;
        }
        self.prepare_slot_op(block, i);
        if !self.vector(block, i) && !self.slot_op(block, i) {
            self.shim(block, i);
        }
        self.release_dead(i);
    }

    /// `OP d, s` for a two-operand ALU op on 64 bits.
    fn alu(&mut self, op: Alu, d: Rq, s: Src) {
        // Immediates go through `enc::alu_imm` (8-bit when they fit).
        let digit = match op {
            Alu::Add => Some(0),
            Alu::Or => Some(1),
            Alu::Adc => Some(2),
            Alu::And => Some(4),
            Alu::Sub => Some(5),
            Alu::Xor => Some(6),
            Alu::Mul => None,
        };
        if let (Src::Imm(x), Some(digit)) = (s, digit) {
            enc::alu_imm(&mut self.ops, digit, d, x);
            return;
        }
        macro_rules! alu {
            ($ins:ident) => {
                match s {
                    Src::Reg(r) => dynasm!(self.ops ; .arch x64 ; $ins Rq(d), Rq(r)),
                    Src::Mem(o) => dynasm!(self.ops ; .arch x64 ; $ins Rq(d), QWORD [r12 + o]),
                    Src::Imm(x) => dynasm!(self.ops ; .arch x64 ; $ins Rq(d), x),
                }
            };
        }
        match op {
            Alu::Add => alu!(add),
            Alu::Sub => alu!(sub),
            Alu::And => alu!(and),
            Alu::Or => alu!(or),
            Alu::Xor => alu!(xor),
            Alu::Adc => alu!(adc),
            Alu::Mul => match s {
                Src::Reg(r) => dynasm!(self.ops ; .arch x64 ; imul Rq(d), Rq(r)),
                Src::Mem(o) => dynasm!(self.ops ; .arch x64 ; imul Rq(d), QWORD [r12 + o]),
                Src::Imm(x) => dynasm!(self.ops ; .arch x64 ; imul Rq(d), Rq(d), x),
            },
        }
    }

    /// `op d, s` on 32 bits for add, subtract and multiply: the result's
    /// upper half is cleared.
    fn alu32(&mut self, op: Alu, d: Rq, s: Src) {
        match (op, s) {
            (Alu::Add, Src::Imm(x)) => enc::alu_imm32(&mut self.ops, 0, d, x),
            (Alu::Sub, Src::Imm(x)) => enc::alu_imm32(&mut self.ops, 5, d, x),
            (Alu::Add, Src::Reg(r)) => dynasm!(self.ops ; .arch x64 ; add Rd(d), Rd(r)),
            (Alu::Sub, Src::Reg(r)) => dynasm!(self.ops ; .arch x64 ; sub Rd(d), Rd(r)),
            (Alu::Mul, Src::Reg(r)) => dynasm!(self.ops ; .arch x64 ; imul Rd(d), Rd(r)),
            (Alu::Add, Src::Mem(o)) => dynasm!(self.ops ; .arch x64 ; add Rd(d), DWORD [r12 + o]),
            (Alu::Sub, Src::Mem(o)) => dynasm!(self.ops ; .arch x64 ; sub Rd(d), DWORD [r12 + o]),
            (Alu::Mul, Src::Mem(o)) => dynasm!(self.ops ; .arch x64 ; imul Rd(d), DWORD [r12 + o]),
            (Alu::Mul, Src::Imm(x)) => dynasm!(self.ops ; .arch x64 ; imul Rd(d), Rd(d), x),
            _ => unreachable!("alu32 is for add, subtract and multiply"),
        }
    }

    /// `OP eax, b` on 32 bits (compare and add-with-carry).
    fn alu_eax(&mut self, op: Alu, b: Value) {
        let s = self.src(b, RCX, true);
        macro_rules! alu {
            ($ins:ident) => {
                match s {
                    Src::Reg(r) => dynasm!(self.ops ; .arch x64 ; $ins eax, Rd(r)),
                    Src::Mem(o) => dynasm!(self.ops ; .arch x64 ; $ins eax, DWORD [r12 + o]),
                    Src::Imm(x) => dynasm!(self.ops ; .arch x64 ; $ins eax, x),
                }
            };
        }
        match op {
            Alu::Adc => alu!(adc),
            _ => unreachable!("only add-with-carry has a 32-bit form here"),
        }
    }

    fn shift(&mut self, op: &Op, ty: Type, a: Value, b: Value, i: usize) {
        // x86 masks the count to 5 or 6 bits: exactly "modulo the width"
        // for 32- and 64-bit values. Operands are canonical, so a 32-bit
        // shift by 0 (which writes nothing) leaves a canonical value too.
        let count = match self.regs.loc(b) {
            Loc::Imm(n) => Some((n % ty.bits() as u64) as i8),
            _ => {
                self.get(b, RCX);
                None
            }
        };
        let d = self.dest(i, Some(a));
        self.get(a, d);
        match (count, op, ty) {
            (Some(n), Op::Shl(..), Type::I64) => dynasm!(self.ops ; .arch x64 ; shl Rq(d), n),
            (Some(n), Op::LShr(..), Type::I64) => dynasm!(self.ops ; .arch x64 ; shr Rq(d), n),
            (Some(n), Op::AShr(..), Type::I64) => dynasm!(self.ops ; .arch x64 ; sar Rq(d), n),
            (Some(n), Op::Ror(..), Type::I64) => dynasm!(self.ops ; .arch x64 ; ror Rq(d), n),
            (Some(n), Op::Shl(..), _) => dynasm!(self.ops ; .arch x64 ; shl Rd(d), n),
            (Some(n), Op::LShr(..), _) => dynasm!(self.ops ; .arch x64 ; shr Rd(d), n),
            (Some(n), Op::AShr(..), _) => dynasm!(self.ops ; .arch x64 ; sar Rd(d), n),
            (Some(n), Op::Ror(..), _) => dynasm!(self.ops ; .arch x64 ; ror Rd(d), n),
            (None, Op::Shl(..), Type::I64) => dynasm!(self.ops ; .arch x64 ; shl Rq(d), cl),
            (None, Op::LShr(..), Type::I64) => dynasm!(self.ops ; .arch x64 ; shr Rq(d), cl),
            (None, Op::AShr(..), Type::I64) => dynasm!(self.ops ; .arch x64 ; sar Rq(d), cl),
            (None, Op::Ror(..), Type::I64) => dynasm!(self.ops ; .arch x64 ; ror Rq(d), cl),
            (None, Op::Shl(..), _) => dynasm!(self.ops ; .arch x64 ; shl Rd(d), cl),
            (None, Op::LShr(..), _) => dynasm!(self.ops ; .arch x64 ; shr Rd(d), cl),
            (None, Op::AShr(..), _) => dynasm!(self.ops ; .arch x64 ; sar Rd(d), cl),
            (None, Op::Ror(..), _) => dynasm!(self.ops ; .arch x64 ; ror Rd(d), cl),
            _ => unreachable!("caller checks the op"),
        }
        self.finish(i, d);
    }

    /// Compares `a` with `b` (of type `aty`) leaving the host flags set;
    /// false if `aty` has no template.
    fn compare(&mut self, a: Value, b: Value, aty: Type, cc: IntCC) -> bool {
        if !compare_fits(cc, aty) {
            return false;
        }
        // `a` where it is (a pool register) rather than copied to rax,
        // and `test` for a comparison with zero (its flags are those of
        // `cmp x, 0`): most blocks end in such a compare-and-branch.
        let ra = match self.regs.loc(a) {
            Loc::Reg(k) => POOL[k],
            Loc::Pinned(p) => PIN_REGS[p],
            _ => {
                self.get(a, RAX);
                RAX
            }
        };
        let wide = aty != Type::I32;
        let s = self.src(b, RCX, !wide);
        match (s, wide) {
            (Src::Imm(0), true) => dynasm!(self.ops ; .arch x64 ; test Rq(ra), Rq(ra)),
            (Src::Imm(0), false) => dynasm!(self.ops ; .arch x64 ; test Rd(ra), Rd(ra)),
            (Src::Imm(x), true) => enc::alu_imm(&mut self.ops, 7, ra, x),
            (Src::Imm(x), false) => dynasm!(self.ops ; .arch x64 ; cmp Rd(ra), x),
            (Src::Reg(r), true) => dynasm!(self.ops ; .arch x64 ; cmp Rq(ra), Rq(r)),
            (Src::Reg(r), false) => dynasm!(self.ops ; .arch x64 ; cmp Rd(ra), Rd(r)),
            (Src::Mem(o), true) => dynasm!(self.ops ; .arch x64 ; cmp Rq(ra), QWORD [r12 + o]),
            (Src::Mem(o), false) => dynasm!(self.ops ; .arch x64 ; cmp Rd(ra), DWORD [r12 + o]),
        }
        true
    }

    fn icmp(&mut self, cc: IntCC, a: Value, b: Value, aty: Type, i: usize) -> bool {
        if !self.compare(a, b, aty, cc) {
            return false;
        }
        let d = self.dest(i, None);
        match cc {
            IntCC::Eq => dynasm!(self.ops ; .arch x64 ; sete Rb(d)),
            IntCC::Ne => dynasm!(self.ops ; .arch x64 ; setne Rb(d)),
            IntCC::Ult => dynasm!(self.ops ; .arch x64 ; setb Rb(d)),
            IntCC::Ule => dynasm!(self.ops ; .arch x64 ; setbe Rb(d)),
            IntCC::Ugt => dynasm!(self.ops ; .arch x64 ; seta Rb(d)),
            IntCC::Uge => dynasm!(self.ops ; .arch x64 ; setae Rb(d)),
            IntCC::Slt => dynasm!(self.ops ; .arch x64 ; setl Rb(d)),
            IntCC::Sle => dynasm!(self.ops ; .arch x64 ; setle Rb(d)),
            IntCC::Sgt => dynasm!(self.ops ; .arch x64 ; setg Rb(d)),
            IntCC::Sge => dynasm!(self.ops ; .arch x64 ; setge Rb(d)),
        }
        dynasm!(self.ops ; .arch x64 ; movzx Rd(d), Rb(d));
        self.finish(i, d);
        true
    }

    /// The branch condition `c` (a comparison or condition test that
    /// only the branch uses) as a host compare-and-jump to `not` when it
    /// is false; `Some(holds)` when it is known now.
    fn fused_branch(&mut self, block: &Block, c: usize, not: DynamicLabel) -> Option<bool> {
        match block.insts[c].op {
            Op::Icmp(cc, a, b) => {
                // Regs::new fuses only comparisons `compare` has a
                // template for; anything else would branch wrongly.
                let fits = self.compare(a, b, block.ty(a), cc);
                assert!(fits, "fused a comparison without a template: {cc:?}");
                match cc {
                    IntCC::Eq => dynasm!(self.ops ; .arch x64 ; jne BYTE =>not),
                    IntCC::Ne => dynasm!(self.ops ; .arch x64 ; je BYTE =>not),
                    IntCC::Ult => dynasm!(self.ops ; .arch x64 ; jae BYTE =>not),
                    IntCC::Ule => dynasm!(self.ops ; .arch x64 ; ja BYTE =>not),
                    IntCC::Ugt => dynasm!(self.ops ; .arch x64 ; jbe BYTE =>not),
                    IntCC::Uge => dynasm!(self.ops ; .arch x64 ; jb BYTE =>not),
                    IntCC::Slt => dynasm!(self.ops ; .arch x64 ; jge BYTE =>not),
                    IntCC::Sle => dynasm!(self.ops ; .arch x64 ; jg BYTE =>not),
                    IntCC::Sgt => dynasm!(self.ops ; .arch x64 ; jle BYTE =>not),
                    IntCC::Sge => dynasm!(self.ops ; .arch x64 ; jl BYTE =>not),
                }
                None
            }
            Op::CondHolds(cond, nzcv) => {
                if let Loc::Imm(f) = self.regs.loc(nzcv) {
                    return Some(xarch_ir::interp::cond_holds(cond, f));
                }
                if cond >= 14 {
                    // AL and NV: always.
                    return Some(true);
                }
                if cond < 8 {
                    // One flag: EQ/NE test Z, CS/CC C, MI/PL N, VS/VC V.
                    let bit = [30i8, 29, 31, 28][(cond >> 1) as usize];
                    match self.regs.loc(nzcv) {
                        Loc::Reg(k) => {
                            let r = POOL[k];
                            dynasm!(self.ops ; .arch x64 ; bt Rd(r), bit);
                        }
                        Loc::Pinned(p) => {
                            let r = PIN_REGS[p];
                            dynasm!(self.ops ; .arch x64 ; bt Rd(r), bit);
                        }
                        _ => {
                            let o = slot(nzcv);
                            dynasm!(self.ops ; .arch x64 ; bt DWORD [r12 + o], bit);
                        }
                    }
                    if cond & 1 == 0 {
                        dynasm!(self.ops ; .arch x64 ; jnc BYTE =>not);
                    } else {
                        dynasm!(self.ops ; .arch x64 ; jc BYTE =>not);
                    }
                    return None;
                }
                // Bit k of the table: whether `cond` holds for NZCV = k.
                let table: i32 = (0..16)
                    .filter(|&k| xarch_ir::interp::cond_holds(cond, (k as u64) << 28))
                    .fold(0, |t, k| t | (1 << k));
                self.get(nzcv, RCX);
                dynasm!(self.ops
                    ; .arch x64
                    ; shr ecx, 28
                    ; mov eax, table
                    ; bt eax, ecx
                    ; jnc BYTE =>not
                );
                None
            }
            _ => unreachable!("only comparisons and condition tests are fused"),
        }
    }

    /// `test v, 1` (sets ZF when the boolean `v` is false); `v` must not
    /// be a constant.
    fn test_bool(&mut self, v: Value) {
        match self.regs.loc(v) {
            Loc::Reg(k) => {
                let r = POOL[k];
                dynasm!(self.ops ; .arch x64 ; test Rb(r), 1);
            }
            Loc::Slot => {
                let o = slot(v);
                dynasm!(self.ops ; .arch x64 ; test BYTE [r12 + o], 1);
            }
            Loc::Imm(_) | Loc::Pinned(_) => {
                unreachable!("conditions are neither constants nor state reads")
            }
        }
    }

    /// Register templates for scalar ops; false (having emitted nothing)
    /// if instruction `i` has none.
    fn scalar(&mut self, block: &Block, i: usize) -> bool {
        let inst = &block.insts[i];
        let ty = inst.ty;
        if ty == Type::I128 {
            return false;
        }
        match &inst.op {
            // Emitted with the branch (see `Regs::fused`), or computed by
            // the one access that uses it.
            _ if self.regs.fused == Some(i)
                || self.regs.addr(i).is_some()
                || self.regs.elided(i)
                || self.regs.select_fused(i) => {}
            Op::GuestInsn(pc) => self.pc = *pc,
            Op::Const(x) => self.def_const(i, *x, ty),
            Op::GetState(off) => {
                let off = *off as i32;
                if ty == Type::Void {
                    return false;
                }
                if self.touches_pinned(off, ty.bytes()) {
                    let pin = self.pin_at(off);
                    if let Some(p) = pin
                        && ty == Type::I64
                    {
                        if self.pinned_unchanged(block, i, p) {
                            self.def_pinned(i, p);
                            return true;
                        }
                        let d = self.dest(i, None);
                        let r = PIN_REGS[p];
                        dynasm!(self.ops ; .arch x64 ; mov Rq(d), Rq(r));
                        self.finish(i, d);
                        return true;
                    }
                    if let Some(p) = pin
                        && ty == Type::I32
                    {
                        // A W register: the low half, zero-extended.
                        let d = self.dest(i, None);
                        let r = PIN_REGS[p];
                        dynasm!(self.ops ; .arch x64 ; mov Rd(d), Rd(r));
                        self.finish(i, d);
                        return true;
                    }
                    self.pinned_to_state();
                }
                let d = self.dest(i, None);
                enc::load(
                    &mut self.ops,
                    ty.bytes().max(1),
                    d,
                    Rq::RBX,
                    off - STATE_BIAS,
                );
                self.finish(i, d);
            }
            Op::SetState(off, x) => {
                let off = *off as i32;
                let xt = block.ty(*x);
                if xt == Type::I128 {
                    return false;
                }
                // (Whole: an extension's operand is zero-extended already.)
                let x = &self.regs.stored(*x);
                if self.touches_pinned(off, xt.bytes()) {
                    if let Some(p) = self.pin_at(off)
                        && xt == Type::I64
                    {
                        self.get(*x, PIN_REGS[p]);
                    } else {
                        // Part of the field: through the state block.
                        self.pinned_to_state();
                        self.get(*x, RAX);
                        enc::store(
                            &mut self.ops,
                            xt.bytes().max(1),
                            RAX,
                            Rq::RBX,
                            off - STATE_BIAS,
                        );
                        self.pinned_from_state();
                    }
                    self.release_dead(i);
                    return true;
                }
                let r = match self.regs.loc(*x) {
                    Loc::Reg(k) => POOL[k],
                    Loc::Pinned(p) => PIN_REGS[p],
                    Loc::Imm(v) if xt != Type::I64 || imm32(v).is_some() => {
                        let at = off - STATE_BIAS;
                        enc::store_imm(&mut self.ops, xt.bytes().max(1), v as i32, Rq::RBX, at);
                        self.release_dead(i);
                        return true;
                    }
                    _ => {
                        self.get(*x, RAX);
                        RAX
                    }
                };
                enc::store(
                    &mut self.ops,
                    xt.bytes().max(1),
                    r,
                    Rq::RBX,
                    off - STATE_BIAS,
                );
                self.release_dead(i);
            }
            Op::Add(a, b)
            | Op::Sub(a, b)
            | Op::And(a, b)
            | Op::Or(a, b)
            | Op::Xor(a, b)
            | Op::Mul(a, b) => {
                let alu = match inst.op {
                    Op::Add(..) => Alu::Add,
                    Op::Sub(..) => Alu::Sub,
                    Op::And(..) => Alu::And,
                    Op::Or(..) => Alu::Or,
                    Op::Xor(..) => Alu::Xor,
                    _ => Alu::Mul,
                };
                let d = self.dest(i, Some(*a));
                let s = self.src(*b, RCX, ty != Type::I64);
                self.get(*a, d);
                // A 32-bit add, subtract or multiply in its 32-bit form,
                // which clears the upper half (a 64-bit one then `mov r32,
                // r32` took 3 bytes more).
                let narrow = ty == Type::I32 && matches!(alu, Alu::Add | Alu::Sub | Alu::Mul);
                if narrow {
                    self.alu32(alu, d, s);
                } else {
                    self.alu(alu, d, s);
                }
                // Operands are canonical (zero above their type), and so
                // is their AND, OR and XOR, unless an immediate, which is
                // sign-extended, is negative (`mov r32, r32` after each
                // was 1.5% of cc1's code).
                let canonical = match (alu, s) {
                    _ if narrow => true,
                    (Alu::And, _) => true,
                    (Alu::Or | Alu::Xor, Src::Imm(x)) => x >= 0,
                    (Alu::Or | Alu::Xor, _) => true,
                    _ => false,
                };
                if !canonical {
                    self.mask(d, ty);
                }
                self.finish(i, d);
            }
            Op::Shl(a, b) | Op::LShr(a, b) | Op::AShr(a, b) | Op::Ror(a, b)
                if matches!(ty, Type::I32 | Type::I64) =>
            {
                self.shift(&inst.op, ty, *a, *b, i);
            }
            // Arm's division: x / 0 = 0, and MIN / -1 = MIN (x86 traps on
            // both), so -1 negates and 0 skips the divide.
            Op::UDiv(a, b) | Op::SDiv(a, b) if matches!(ty, Type::I32 | Type::I64) => {
                self.get(*b, RCX);
                self.get(*a, RAX);
                let (zero, done) = (self.ops.new_dynamic_label(), self.ops.new_dynamic_label());
                let signed = matches!(inst.op, Op::SDiv(..));
                if ty == Type::I64 {
                    dynasm!(self.ops ; .arch x64 ; test rcx, rcx ; jz BYTE =>zero);
                } else {
                    dynasm!(self.ops ; .arch x64 ; test ecx, ecx ; jz BYTE =>zero);
                }
                match (signed, ty) {
                    (false, Type::I64) => dynasm!(self.ops ; .arch x64 ; xor edx, edx ; div rcx),
                    (false, _) => dynasm!(self.ops ; .arch x64 ; xor edx, edx ; div ecx),
                    (true, Type::I64) => {
                        let by_m1 = self.ops.new_dynamic_label();
                        dynasm!(self.ops
                            ; .arch x64
                            ; cmp rcx, -1
                            ; je BYTE =>by_m1
                            ; cqo
                            ; idiv rcx
                            ; jmp BYTE =>done
                            ; =>by_m1
                            ; neg rax
                        );
                    }
                    (true, _) => {
                        let by_m1 = self.ops.new_dynamic_label();
                        dynasm!(self.ops
                            ; .arch x64
                            ; cmp ecx, -1
                            ; je BYTE =>by_m1
                            ; cdq
                            ; idiv ecx
                            ; jmp BYTE =>done
                            ; =>by_m1
                            ; neg eax
                        );
                    }
                }
                dynasm!(self.ops
                    ; .arch x64
                    ; jmp BYTE =>done
                    ; =>zero
                    ; xor eax, eax
                    ; =>done
                );
                self.def(i, RAX);
            }
            Op::UMulHi(a, b) | Op::SMulHi(a, b) if ty == Type::I64 => {
                self.get(*b, RCX);
                self.get(*a, RAX);
                if matches!(inst.op, Op::UMulHi(..)) {
                    dynasm!(self.ops ; .arch x64 ; mul rcx ; mov rax, rdx);
                } else {
                    dynasm!(self.ops ; .arch x64 ; imul rcx ; mov rax, rdx);
                }
                self.def(i, RAX);
            }
            Op::Bswap(a) if matches!(ty, Type::I16 | Type::I32 | Type::I64) => {
                self.get(*a, RAX);
                match ty {
                    Type::I64 => dynasm!(self.ops ; .arch x64 ; bswap rax),
                    Type::I32 => dynasm!(self.ops ; .arch x64 ; bswap eax),
                    _ => dynasm!(self.ops ; .arch x64 ; rol ax, 8 ; movzx eax, ax),
                }
                self.def(i, RAX);
            }
            Op::Clz(a) if matches!(ty, Type::I32 | Type::I64) => {
                // clz = (width - 1) - index of the top set bit; BSR sets
                // ZF (and leaves the destination) for 0: use -1, giving
                // the width.
                let top = ty.bits() as i32 - 1;
                self.get(*a, RDX);
                dynasm!(self.ops ; .arch x64 ; mov rcx, -1);
                if ty == Type::I64 {
                    dynasm!(self.ops ; .arch x64 ; bsr rdx, rdx ; cmovz rdx, rcx);
                } else {
                    dynasm!(self.ops ; .arch x64 ; bsr edx, edx ; cmovz rdx, rcx);
                }
                dynasm!(self.ops
                    ; .arch x64
                    ; mov eax, top
                    ; sub rax, rdx
                );
                self.def(i, RAX);
            }
            Op::Not(a) | Op::Neg(a) => {
                let d = self.dest(i, Some(*a));
                self.get(*a, d);
                if matches!(inst.op, Op::Not(..)) {
                    dynasm!(self.ops ; .arch x64 ; not Rq(d));
                } else {
                    dynasm!(self.ops ; .arch x64 ; neg Rq(d));
                }
                self.mask(d, ty);
                self.finish(i, d);
            }
            Op::ZExt(a) | Op::Trunc(a) => {
                if let Loc::Imm(x) = self.regs.loc(*a) {
                    self.def_const(i, x, ty);
                    self.release_dead(i);
                    return true;
                }
                let d = self.dest(i, Some(*a));
                self.get(*a, d);
                if matches!(inst.op, Op::Trunc(..)) {
                    self.mask(d, ty);
                }
                self.finish(i, d);
            }
            Op::SExt(a) if matches!(block.ty(*a), Type::I8 | Type::I16 | Type::I32) => {
                let d = self.dest(i, Some(*a));
                self.get(*a, d);
                match block.ty(*a) {
                    Type::I8 => dynasm!(self.ops ; .arch x64 ; movsx Rq(d), Rb(d)),
                    Type::I16 => dynasm!(self.ops ; .arch x64 ; movsx Rq(d), Rw(d)),
                    _ => dynasm!(self.ops ; .arch x64 ; movsxd Rq(d), Rd(d)),
                }
                self.mask(d, ty);
                self.finish(i, d);
            }
            Op::Icmp(cc, a, b) => return self.icmp(*cc, *a, *b, block.ty(*a), i),
            Op::Select(c, a, b) if self.regs.select_fused(c.0 as usize) => {
                let Op::Icmp(cc, x, y) = block.insts[c.0 as usize].op else {
                    unreachable!("Regs::new fuses only comparisons into selects");
                };
                // The operands first (loading a constant may clear the
                // flags), then the compare, then `b` where it fails.
                self.get(*a, RDX);
                self.get(*b, RSI);
                let fits = self.compare(x, y, block.ty(x), cc);
                assert!(fits, "fused a comparison without a template: {cc:?}");
                match cc {
                    IntCC::Eq => dynasm!(self.ops ; .arch x64 ; cmovne rdx, rsi),
                    IntCC::Ne => dynasm!(self.ops ; .arch x64 ; cmove rdx, rsi),
                    IntCC::Ult => dynasm!(self.ops ; .arch x64 ; cmovae rdx, rsi),
                    IntCC::Ule => dynasm!(self.ops ; .arch x64 ; cmova rdx, rsi),
                    IntCC::Ugt => dynasm!(self.ops ; .arch x64 ; cmovbe rdx, rsi),
                    IntCC::Uge => dynasm!(self.ops ; .arch x64 ; cmovb rdx, rsi),
                    IntCC::Slt => dynasm!(self.ops ; .arch x64 ; cmovge rdx, rsi),
                    IntCC::Sle => dynasm!(self.ops ; .arch x64 ; cmovg rdx, rsi),
                    IntCC::Sgt => dynasm!(self.ops ; .arch x64 ; cmovle rdx, rsi),
                    IntCC::Sge => dynasm!(self.ops ; .arch x64 ; cmovl rdx, rsi),
                }
                self.def(i, RDX);
            }
            Op::Select(c, a, b) => {
                if let Loc::Imm(c) = self.regs.loc(*c) {
                    self.get(if c & 1 != 0 { *a } else { *b }, RAX);
                } else {
                    self.get(*a, RAX);
                    self.get(*b, RCX);
                    self.test_bool(*c);
                    dynasm!(self.ops ; .arch x64 ; cmovz rax, rcx);
                }
                self.def(i, RAX);
            }
            // Guest memory is host memory: accesses are single host
            // instructions; a fault in one is redirected to its guest
            // instruction's fault stub by the host signal handler.
            Op::Load(a) if ty.bytes() <= 8 => {
                let (b, o) = self.addr_operand(*a);
                let d = self.dest_load(i);
                self.mem_site(false);
                enc::load(&mut self.ops, ty.bytes(), d, b, o);
                self.finish(i, d);
            }
            Op::Store(a, x) if block.ty(*x) != Type::I128 => {
                let bytes = block.ty(*x).bytes();
                let v = self.store_src(*x, bytes);
                let (b, o) = self.addr_operand(*a);
                self.mem_site(true);
                match v {
                    Src::Reg(r) => enc::store(&mut self.ops, bytes, r, b, o),
                    Src::Imm(x) => enc::store_imm(&mut self.ops, bytes, x, b, o),
                    Src::Mem(_) => unreachable!("store_src never gives a slot"),
                }
                self.release_dead(i);
            }
            // Arm's LSE atomics as locked x86 instructions (sequentially
            // consistent, as the IR asks), inline accesses that fault as
            // the interpreter's definitions do (`guest_mem::cmpxchg` as a
            // write; `guest_mem::atomic_rmw` reads first, so as a read
            // where nothing is mapped and as a write on a read-only
            // page). They ran through the interpreter's definition: 1.4M
            // per SQLite benchmark run, from glibc's mutexes.
            Op::CmpXchg(a, e, n) if ty.bytes() <= 8 => {
                // rax: expected, then what memory held (canonical: a
                // narrow compare leaves the zero upper bits).
                self.get(*e, RAX);
                self.get(*n, RCX);
                let (b, o) = self.addr_operand(*a);
                self.mem_site(true);
                enc::atomic(&mut self.ops, &enc::CMPXCHG, true, ty.bytes(), RCX, b, o);
                self.def(i, RAX);
            }
            Op::AtomicRmw(op @ (RmwOp::Add | RmwOp::Swp), a, v) if ty.bytes() <= 8 => {
                // rcx: the operand, then the old value (canonical as
                // above). The read first, as the reference does.
                self.get(*v, RCX);
                let (b, o) = self.addr_operand(*a);
                self.mem_site(false);
                enc::load(&mut self.ops, ty.bytes(), RAX, b, o);
                self.mem_site(true);
                let (forms, lock) = match op {
                    RmwOp::Add => (&enc::XADD, true),
                    _ => (&enc::XCHG, false),
                };
                enc::atomic(&mut self.ops, forms, lock, ty.bytes(), RCX, b, o);
                self.def(i, RCX);
            }
            Op::AtomicRmw(op @ (RmwOp::Clr | RmwOp::Eor | RmwOp::Set), a, v) if ty.bytes() <= 8 => {
                // A compare-and-swap loop from the value read: rax the
                // old value, rdx the new one.
                let bytes = ty.bytes();
                self.get(*v, RCX);
                if *op == RmwOp::Clr {
                    dynasm!(self.ops ; .arch x64 ; not rcx);
                }
                let (b, o) = self.addr_operand(*a);
                self.mem_site(false);
                enc::load(&mut self.ops, bytes, RAX, b, o);
                let again = self.ops.new_dynamic_label();
                dynasm!(self.ops ; .arch x64 ; =>again ; mov rdx, rax);
                match op {
                    RmwOp::Clr => dynasm!(self.ops ; .arch x64 ; and rdx, rcx),
                    RmwOp::Eor => dynasm!(self.ops ; .arch x64 ; xor rdx, rcx),
                    _ => dynasm!(self.ops ; .arch x64 ; or rdx, rcx),
                }
                self.mem_site(true);
                enc::atomic(&mut self.ops, &enc::CMPXCHG, true, bytes, RDX, b, o);
                dynasm!(self.ops ; .arch x64 ; jnz BYTE =>again);
                self.def(i, RAX);
            }
            // x86-64 keeps loads in order with later accesses and stores
            // in order with earlier ones (TSO): only a store before a
            // load needs a barrier.
            Op::Fence(FenceKind::Full) => dynasm!(self.ops ; .arch x64 ; mfence),
            Op::Fence(FenceKind::Acquire | FenceKind::Release) => {}
            Op::AddFlags(a, b, c) if matches!(block.ty(*a), Type::I32 | Type::I64) => {
                // x86 ADC computes exactly Arm's AddWithCarry flags. The
                // loads between BT and ADC leave CF alone.
                self.get(*c, RDX);
                let wide = block.ty(*a) == Type::I64;
                let s = if wide {
                    self.src(*b, RCX, false)
                } else {
                    Src::Imm(0)
                };
                self.get(*a, RAX);
                dynasm!(self.ops ; .arch x64 ; bt edx, 0);
                if wide {
                    match s {
                        Src::Reg(r) => dynasm!(self.ops ; .arch x64 ; adc rax, Rq(r)),
                        Src::Mem(o) => dynasm!(self.ops ; .arch x64 ; adc rax, QWORD [r12 + o]),
                        Src::Imm(x) => dynasm!(self.ops ; .arch x64 ; adc rax, x),
                    }
                } else {
                    self.alu_eax(Alu::Adc, *b);
                }
                self.flags_to_nzcv(true);
                self.def(i, RAX);
            }
            Op::LogicFlags(a) if matches!(block.ty(*a), Type::I32 | Type::I64) => {
                self.get(*a, RAX);
                if block.ty(*a) == Type::I64 {
                    dynasm!(self.ops ; .arch x64 ; test rax, rax);
                } else {
                    dynasm!(self.ops ; .arch x64 ; test eax, eax);
                }
                self.flags_to_nzcv(false);
                self.def(i, RAX);
            }
            Op::CondHolds(cond, nzcv) => {
                if let Loc::Imm(f) = self.regs.loc(*nzcv) {
                    let holds = xarch_ir::interp::cond_holds(*cond, f);
                    self.def_const(i, holds as u64, ty);
                    self.release_dead(i);
                    return true;
                }
                // Bit k of the table: whether `cond` holds for NZCV = k.
                let table: i32 = (0..16)
                    .filter(|&k| xarch_ir::interp::cond_holds(*cond, (k as u64) << 28))
                    .fold(0, |t, k| t | (1 << k));
                self.get(*nzcv, RCX);
                dynasm!(self.ops
                    ; .arch x64
                    ; shr ecx, 28
                    ; mov eax, table
                    ; shr eax, cl
                    ; and eax, 1
                );
                self.def(i, RAX);
            }
            _ => return false,
        }
        true
    }

    /// Templates that work on slots (run after [`Self::prepare_slot_op`]);
    /// false if instruction `i` has none.
    fn slot_op(&mut self, block: &Block, i: usize) -> bool {
        let inst = &block.insts[i];
        let ty = inst.ty;
        let o = (i as i32) * 16;
        match &inst.op {
            Op::Const128(x) => {
                let x = x.get();
                let (lo, hi) = (x as u64 as i64, (x >> 64) as u64 as i64);
                dynasm!(self.ops
                    ; .arch x64
                    ; mov rax, QWORD lo
                    ; mov QWORD [r12 + o], rax
                    ; mov rax, QWORD hi
                    ; mov QWORD [r12 + o + 8], rax
                );
            }
            Op::GetState(off) if ty == Type::I128 => {
                let off = *off as i32;
                if self.touches_pinned(off, 16) {
                    self.pinned_to_state();
                }
                dynasm!(self.ops
                    ; .arch x64
                    ; movdqu xmm0, [rbx + off - STATE_BIAS]
                    ; movdqu [r12 + o], xmm0
                );
            }
            Op::SetState(off, x) if block.ty(*x) == Type::I128 => {
                let off = *off as i32;
                let ox = slot(*x);
                let pinned = self.touches_pinned(off, 16);
                if pinned {
                    self.pinned_to_state();
                }
                dynasm!(self.ops
                    ; .arch x64
                    ; movdqu xmm0, [r12 + ox]
                    ; movdqu [rbx + off - STATE_BIAS], xmm0
                );
                if pinned {
                    self.pinned_from_state();
                }
            }
            Op::ZExt(a) if ty == Type::I128 => {
                self.load_rax(*a);
                self.store_rax(i);
                dynasm!(self.ops ; .arch x64 ; mov QWORD [r12 + o + 8], 0);
            }
            Op::Load(a) if ty.bytes() == 16 => {
                let oa = slot(*a);
                dynasm!(self.ops ; .arch x64 ; mov rdi, QWORD [r12 + oa]);
                self.mem_site(false);
                dynasm!(self.ops
                    ; .arch x64
                    ; movdqu xmm0, [rdi]
                    ; movdqu [r12 + o], xmm0
                );
            }
            Op::Store(a, x) if block.ty(*x) == Type::I128 => {
                let (oa, ox) = (slot(*a), slot(*x));
                dynasm!(self.ops
                    ; .arch x64
                    ; movdqu xmm0, [r12 + ox]
                    ; mov rdi, QWORD [r12 + oa]
                );
                self.mem_site(true);
                dynasm!(self.ops ; .arch x64 ; movdqu [rdi], xmm0);
            }
            Op::Call(h, args, n) => {
                let n = *n as usize;
                let offs: Vec<i32> = args[..n].iter().map(|v| slot(*v)).collect();
                dynasm!(self.ops ; .arch x64 ; lea rdi, [rbx - STATE_BIAS]);
                for (k, off) in offs.iter().enumerate() {
                    let off = *off;
                    match k {
                        0 => dynasm!(self.ops ; .arch x64 ; mov rsi, QWORD [r12 + off]),
                        1 => dynasm!(self.ops ; .arch x64 ; mov rdx, QWORD [r12 + off]),
                        2 => dynasm!(self.ops ; .arch x64 ; mov rcx, QWORD [r12 + off]),
                        _ => dynasm!(self.ops ; .arch x64 ; mov r8, QWORD [r12 + off]),
                    }
                }
                self.call_abs(h.func as *const () as usize);
                if ty != Type::Void {
                    self.store_rax(i);
                }
            }
            _ => return false,
        }
        true
    }

    /// The label of the block's epilogue, which is then emitted: most
    /// blocks leave only through link cells and never need one (4 bytes
    /// of 3.6 MB of code in 36k blocks of a Python start).
    fn epilogue(&mut self) -> DynamicLabel {
        self.epilogue_used = true;
        self.epilogue
    }

    /// A direct exit to guest `target`: continues in the target's compiled
    /// code through a link cell once the engine patches it, unless an
    /// interrupt or invalidation is pending; otherwise returns `target`
    /// to the dispatcher.
    ///
    /// Only exits that can close a cycle poll the pending flags: a chain
    /// of forward exits (each to a higher address than its block's start)
    /// is finite, so every loop of chained code, direct or through the
    /// indirect-branch table, passes a backward or indirect exit, which
    /// polls. Signals and other threads' invalidations still wait at most
    /// one forward run. A block that calls helpers polls at every exit,
    /// as a helper may have asked for a return to the engine itself.
    fn direct_exit(&mut self, target: u64) {
        let mut back = None;
        if target <= self.block_start || self.calls_helpers {
            let l = self.ops.new_dynamic_label();
            {
                let near = self.near(l);
                emit_poll(&mut self.ops, self.chain, l, near)
            };
            back = Some(l);
        }
        let k = self.new_exit(target, back);
        self.through_cell(k, false);
    }

    /// A new direct exit to `target` whose return path in the block is
    /// `back` (`None`: a cold one, made at installation).
    fn new_exit(&mut self, target: u64, back: Option<DynamicLabel>) -> usize {
        self.exits.push((target, back));
        self.exits.len() - 1
    }

    /// `jmp [cell]` (or `call [cell]`) through exit `k`'s link cell,
    /// which the engine points at the target's code. The displacement is
    /// filled in at installation, when the cell exists.
    fn through_cell(&mut self, k: usize, call: bool) {
        let end = self.ops.new_dynamic_label();
        let modrm: u8 = if call { 0x15 } else { 0x25 };
        self.ops.extend([0xff, modrm, 0, 0, 0, 0]);
        dynasm!(self.ops ; .arch x64 ; =>end);
        self.cell_refs.push((k, end));
    }

    /// Whether `block` is a call: it writes its own end address, a
    /// constant, to the link register (see [`ChainConfig::link`]).
    fn is_call(&self, block: &Block) -> bool {
        self.chain
            .link
            .is_some_and(|link| block.return_address(link).is_some())
    }

    /// A host call to the code at `target` (`None`: the indirect-branch
    /// lookup of the target in rax) that a guest return to `ret` comes
    /// back from; when the return stack is full, `target` is reached
    /// with a jump.
    fn call_exit(&mut self, target: Option<u64>, ret: u64) {
        let back = self.ops.new_dynamic_label();
        let polls = matches!(target, Some(t) if t <= self.block_start || self.calls_helpers);
        // (The call's exit first, then the return's.)
        let k = target.map(|t| self.new_exit(t, polls.then_some(back)));
        let k_ret = self.new_exit(ret, None);
        let full = self.ops.new_dynamic_label();
        let lookup = self.ops.new_dynamic_label();
        match target {
            Some(_) if polls => {
                let near = self.near(back);
                emit_poll(&mut self.ops, self.chain, back, near)
            }
            Some(_) => {}
            None => {
                let epilogue = self.epilogue();
                {
                    let near = self.near(epilogue);
                    emit_poll(&mut self.ops, self.chain, epilogue, near)
                };
            }
        }
        dynasm!(self.ops
            ; .arch x64
            ; cmp rsp, QWORD [BYTE r13 + CTX_STACK_FLOOR as i8]
            ; jbe BYTE =>full
        );
        // The return address is the link register's value, which the
        // block has just stored: pushed from there, 3 bytes, where a PC
        // above 2 GiB (a shared library's) took an 11-byte `mov rcx,
        // imm64; push rcx`. Unless a helper the block calls could have
        // written the state since (push takes a sign-extended 32-bit
        // immediate).
        let link = self.chain.link.map(|l| l as i32 - STATE_BIAS);
        match (link, i32::try_from(ret)) {
            (Some(l), _) if !self.calls_helpers && i8::try_from(l).is_ok() => {
                dynasm!(self.ops ; .arch x64 ; push QWORD [BYTE rbx + l as i8])
            }
            (_, Ok(r)) => dynasm!(self.ops ; .arch x64 ; push r),
            (_, Err(_)) => dynasm!(self.ops ; .arch x64 ; mov rcx, QWORD ret as i64 ; push rcx),
        }
        match k {
            Some(k) => self.through_cell(k, true),
            None => dynasm!(self.ops ; .arch x64 ; call =>lookup),
        }
        // A return to `ret` comes back here (its `ret 8` took the entry
        // off), and the code at `ret` follows.
        self.through_cell(k_ret, false);
        dynasm!(self.ops ; .arch x64 ; =>full);
        match k {
            Some(k) => self.through_cell(k, false),
            None => {
                dynasm!(self.ops ; .arch x64 ; =>lookup);
                let epilogue = self.epilogue();
                {
                    let near = self.near(epilogue);
                    emit_ibtc_jump(&mut self.ops, epilogue, near)
                };
            }
        }
    }

    fn terminator(&mut self, block: &Block, term: &Terminator) {
        match term {
            Terminator::Jump(t) => {
                if self.is_call(block) {
                    self.call_exit(Some(*t), block.end);
                } else {
                    self.direct_exit(*t);
                }
                return;
            }
            Terminator::JumpDyn(v, hint) => {
                self.get(*v, RAX);
                let epilogue = self.epilogue();
                if self.chain.ibtc && *hint == BranchHint::Call && self.is_call(block) {
                    self.call_exit(None, block.end);
                    return;
                }
                let ret = *hint == BranchHint::Return && self.chain.link.is_some();
                if self.chain.ibtc || ret {
                    {
                        let near = self.near(epilogue);
                        emit_poll(&mut self.ops, self.chain, epilogue, near)
                    };
                }
                if ret {
                    emit_return_through_stack(&mut self.ops);
                }
                if self.chain.ibtc {
                    // Indirect branch (returns, calls through registers,
                    // switch tables): look the target up in the engine's
                    // table and continue in its code when present.
                    {
                        let near = self.near(epilogue);
                        emit_ibtc_jump(&mut self.ops, epilogue, near)
                    };
                    return;
                }
            }
            Terminator::Branch {
                cond,
                taken,
                not_taken,
            } => {
                // The jumps to `not` are short: they skip only the taken
                // exit, a poll and a jump through a cell (26 bytes).
                let not = self.ops.new_dynamic_label();
                let decided = if self.regs.fused == Some(cond.0 as usize) {
                    self.fused_branch(block, cond.0 as usize, not)
                } else if let Loc::Imm(c) = self.regs.loc(*cond) {
                    Some(c & 1 != 0)
                } else {
                    self.test_bool(*cond);
                    dynasm!(self.ops ; .arch x64 ; jz BYTE =>not);
                    None
                };
                if let Some(holds) = decided {
                    self.direct_exit(if holds { *taken } else { *not_taken });
                    return;
                }
                self.direct_exit(*taken);
                dynasm!(self.ops ; .arch x64 ; =>not);
                self.direct_exit(*not_taken);
                return;
            }
            Terminator::Exit { pc, .. } => {
                // Chained blocks share one call: tell the engine which
                // block exited (by its start address) in `fault_pc`.
                // (PCs below 4 GiB in 5-byte moves.)
                let start = self.block_start;
                dynasm!(self.ops
                    ; .arch x64
                    ; mov QWORD [BYTE r13 + CTX_KIND as i8], KIND_EXIT as i32
                );
                emit_pc_to_rax(&mut self.ops, start);
                dynasm!(self.ops ; .arch x64 ; mov QWORD [BYTE r13 + CTX_FAULT_PC as i8], rax);
                emit_pc_to_rax(&mut self.ops, *pc);
            }
        }
        let epilogue = self.epilogue();
        if self.near(epilogue) {
            dynasm!(self.ops ; .arch x64 ; jmp BYTE =>epilogue);
        } else {
            dynasm!(self.ops ; .arch x64 ; jmp =>epilogue);
        }
    }
}

/// Rewrites the 6-byte jump or call ending at `end` (through a link
/// cell, `ff 25|15 disp32`, or already direct, `90 e9|e8 rel32`) into a
/// direct one to `target`; it stays indirect if `target` is out of a
/// 32-bit displacement's reach (the cell holds it too).
///
/// # Safety
/// `end - 6 .. end` must be such an instruction, writable, and not
/// running.
unsafe fn rewrite_jump(end: *mut u8, target: u64) {
    let Ok(rel) = i32::try_from((target as i64).wrapping_sub(end as i64)) else {
        return;
    };
    // SAFETY: the caller's contract.
    unsafe {
        let at = end.sub(6);
        let call = match [*at, *at.add(1)] {
            [0xff, 0x15] | [0x90, 0xe8] => true,
            [0xff, 0x25] | [0x90, 0xe9] => false,
            _ => {
                debug_assert!(false, "no jump through a cell at {at:p}");
                return;
            }
        };
        let mut bytes = [0x90, if call { 0xe8 } else { 0xe9 }, 0, 0, 0, 0];
        bytes[2..].copy_from_slice(&rel.to_le_bytes());
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), at, 6);
    }
}

/// The canonical form of a rewritten jump or call (see [`rewrite_jump`]):
/// its first two bytes as they are through a cell (`ff 25` or `ff 15`),
/// or `None` if `pair` is not a rewritten one.
pub(crate) fn indirect_opcode(pair: [u8; 2]) -> Option<[u8; 2]> {
    match pair {
        [0x90, 0xe9] => Some([0xff, 0x25]),
        [0x90, 0xe8] => Some([0xff, 0x15]),
        _ => None,
    }
}

/// The entry sequence shared by baseline blocks and region stubs: saves
/// the callee-saved registers compiled code uses (six pushes and 8 bytes
/// more: the stack stays 16-byte aligned for calls), loads state (rbx,
/// plus [`STATE_BIAS`]), slots (r12) and the context (r13) from the
/// call's arguments, and the pinned fields ([`JitCtx::pinned`]) into
/// their registers;
/// `body` marks where chained code jumps in (with that frame already in
/// place). [`emit_epilogue`] undoes it.
pub(crate) fn emit_prologue(ops: &mut VecAssembler<X64Relocation>, body: DynamicLabel) {
    dynasm!(ops
        ; .arch x64
        ; push rbx
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; push rbp
        ; sub rsp, 8
        ; lea rbx, [rdi + STATE_BIAS]
        ; mov r12, rsi
        ; mov r13, rdx
        ; mov QWORD [BYTE r13 + CTX_ENTRY_SP as i8], rsp
        ; lea rax, [rsp - RETURN_STACK_BYTES]
        ; mov QWORD [BYTE r13 + CTX_STACK_FLOOR as i8], rax
    );
    for (at, r) in ctx_pins() {
        dynasm!(ops
            ; .arch x64
            ; mov rax, QWORD [r13 + at]
            ; test rax, rax
            ; js >unpinned
            ; mov Rq(r), QWORD [rbx + rax - STATE_BIAS]
            ; unpinned:
        );
    }
    dynasm!(ops ; .arch x64 ; =>body);
}

/// Each pinned field's entry in [`JitCtx::pinned`] (its offset in the
/// context) and its register.
fn ctx_pins() -> impl Iterator<Item = (i32, Rq)> {
    PIN_REGS
        .into_iter()
        .enumerate()
        .map(|(k, r)| (CTX_PINNED + 8 * k as i32, r))
}

/// Stores the fields `pinned` names ([`ChainConfig::pinned`]) from their
/// registers to the state block (nothing for none).
pub(crate) fn emit_pinned_store(
    ops: &mut VecAssembler<X64Relocation>,
    pinned: [Option<u32>; PINS],
) {
    for (p, r) in pinned.into_iter().zip(PIN_REGS) {
        if let Some(p) = p {
            enc::store(ops, 8, r, Rq::RBX, p as i32 - STATE_BIAS);
        }
    }
}

/// Loads the fields `pinned` names from the state block into their
/// registers (nothing for none).
pub(crate) fn emit_pinned_load(ops: &mut VecAssembler<X64Relocation>, pinned: [Option<u32>; PINS]) {
    for (p, r) in pinned.into_iter().zip(PIN_REGS) {
        if let Some(p) = p {
            enc::load(ops, 8, r, Rq::RBX, p as i32 - STATE_BIAS);
        }
    }
}

/// Drops the host return stack's entries: the stack pointer goes back to
/// where [`emit_prologue`] left it. Clobbers nothing else.
pub(crate) fn emit_drop_return_stack(ops: &mut VecAssembler<X64Relocation>) {
    dynasm!(ops ; .arch x64 ; mov rsp, QWORD [BYTE r13 + CTX_ENTRY_SP as i8]);
}

/// Returns from compiled code to the engine (rax: the next guest PC),
/// matching [`emit_prologue`]: the pinned fields go back to the state
/// block first. Clobbers rcx.
pub(crate) fn emit_epilogue(ops: &mut VecAssembler<X64Relocation>) {
    emit_drop_return_stack(ops);
    for (at, r) in ctx_pins() {
        dynasm!(ops
            ; .arch x64
            ; mov rcx, QWORD [r13 + at]
            ; test rcx, rcx
            ; js >unpinned
            ; mov QWORD [rbx + rcx - STATE_BIAS], Rq(r)
            ; unpinned:
        );
    }
    dynasm!(ops
        ; .arch x64
        ; add rsp, 8
        ; pop rbp
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbx
        ; ret
    );
}

/// Jumps to `pending` when an interrupt or invalidation is pending (a bit
/// of the exit-info word `chain` names, in the state block at rbx: a
/// pending signal sets one too). With `near`, the jump has an 8-bit
/// displacement. (Polling the interrupt word as well took two loads and
/// 6 bytes more.)
pub(crate) fn emit_poll(
    ops: &mut VecAssembler<X64Relocation>,
    chain: ChainConfig,
    pending: DynamicLabel,
    near: bool,
) {
    let info_off = chain.exit_info;
    dynasm!(ops
        ; .arch x64
        ; cmp QWORD [rbx + info_off - STATE_BIAS], BYTE 0
    );
    jnz_to(ops, pending, near);
}

/// `jnz label`: with an 8-bit displacement when `near`, else 32-bit.
fn jnz_to(ops: &mut VecAssembler<X64Relocation>, label: DynamicLabel, near: bool) {
    if near {
        dynasm!(ops ; .arch x64 ; jnz BYTE =>label);
    } else {
        dynasm!(ops ; .arch x64 ; jnz =>label);
    }
}

/// With the guest target PC in rax: when the return stack's top entry
/// (see [`ChainConfig::link`]) is for that address, returns to the code
/// of its call, which continues there; else falls through. Whatever the
/// branch was, that is where it goes.
pub(crate) fn emit_return_through_stack(ops: &mut VecAssembler<X64Relocation>) {
    let other = ops.new_dynamic_label();
    dynasm!(ops
        ; .arch x64
        ; cmp rsp, QWORD [BYTE r13 + CTX_ENTRY_SP as i8]
        ; jae BYTE =>other
        ; cmp rax, QWORD [rsp + 8]
        ; jne BYTE =>other
        ; ret 8
        ; =>other
    );
}

/// With the guest target PC in rax: jumps to its compiled body through
/// the thread's indirect-branch table (named by the [`JitCtx`] in r13),
/// or to `miss` when the entry holds another PC (see [`ibtc_entry`]).
/// Clobbers rcx. With `near`, the jump to `miss` has an 8-bit
/// displacement.
pub(crate) fn emit_ibtc_jump(
    ops: &mut VecAssembler<X64Relocation>,
    miss: DynamicLabel,
    near: bool,
) {
    // The entry's offset, `((pc >> 2) & (entries - 1)) * 16`, is
    // `(pc << 2) & mask` with the mask shifted left by 4 (`ibtc_mask`).
    dynasm!(ops
        ; .arch x64
        ; lea rcx, [rax * 4]
        ; and rcx, QWORD [BYTE r13 + CTX_IBTC_MASK as i8]
        ; add rcx, QWORD [BYTE r13 + CTX_IBTC_TABLE as i8]
        ; cmp QWORD [rcx], rax
    );
    jnz_to(ops, miss, near);
    dynasm!(ops
        ; .arch x64
        ; jmp QWORD [rcx + 8]
    );
}

/// Where compiled code finds the flags that stop chaining (byte offsets
/// in the guest state block): a pending interrupt, or pending
/// invalidations.
#[derive(Clone, Copy, Debug)]
pub struct ChainConfig {
    /// Offset of the exit-info flags: non-zero stops chaining (a pending
    /// signal, invalidation or region sets a bit).
    pub exit_info: i32,
    /// Whether indirect branches look their target up in the thread's
    /// indirect-branch table ([`JitCtx::ibtc_table`]) and continue there;
    /// false: they always return to the dispatcher.
    pub ibtc: bool,
    /// Offset of the guest's flags field (an `I64`), whose writes of
    /// compare and logical flags baseline code defers (see
    /// `crate::flags`); `None`: never deferred.
    pub flags: Option<u32>,
    /// Offset of the guest's link register (an `I64`). A block that
    /// writes it with its own end address and then jumps (a call) makes
    /// a host `call` that pushes the guest return address with the host
    /// one; a return to that address (an indirect branch with the return
    /// hint) checks the top entry and makes a host `ret`, which the host
    /// CPU's return predictor foresees: the indirect-branch table's one
    /// jump per return site mispredicted whenever the function had
    /// several callers. Any other return takes the table. The entries
    /// live on the host stack between `JitCtx::stack_floor` and
    /// `JitCtx::entry_sp` and are dropped at every return to the engine.
    /// `None`: no return stack.
    pub link: Option<u32>,
    /// Offsets of 64-bit state fields that compiled code keeps in
    /// registers ([`PIN_REGS`]: rbp, r15, r14) rather than in the state
    /// block: a read is a register move, a write one too, where each was
    /// a memory access. The engine pins the guest stack pointer, which
    /// most blocks address, and X0 and X2, the registers compiled code
    /// writes most. A field is exact in the state block whenever anything
    /// else can see it: the shared routines load it on the way in and
    /// store it on every way out (faults too; [`JitCtx::pinned`] names
    /// the fields to them), calls into xarch store it before and load it
    /// after, and region stubs store it before their code and load it
    /// after. `None`: not kept (r15 and r14 then hold block values).
    pub pinned: [Option<u32>; PINS],
}

/// How many state fields compiled code can keep in registers
/// ([`ChainConfig::pinned`]).
pub const PINS: usize = 3;

/// The registers that keep the pinned fields, in [`ChainConfig::pinned`]'s
/// order.
pub(crate) const PIN_REGS: [Rq; PINS] = [Rq::RBP, Rq::R15, Rq::R14];

/// The indirect-branch table entry for `pc` in a table of `entries` (a
/// power of two, at least 2): its index and its content when it sends
/// `pc` to `body`. The index is `(pc >> 2) % entries`, the key the PC
/// itself: an all-zero table (fresh zero pages, touched only where used)
/// is empty except for PC 0 (a null function pointer a guest calls),
/// which indexes entry 0, which therefore never holds 0 (see
/// [`ibtc_empty`]). (Keys were stored inverted, 6 bytes and two
/// instructions more at every lookup.)
pub fn ibtc_entry(pc: u64, body: u64, entries: usize) -> (usize, [u64; 2]) {
    ((pc >> 2) as usize & (entries - 1), [pc, body])
}

/// What an empty entry at `index` holds (in a table of any size): zero,
/// except in entry 0, where a lookup of PC 0 would match a zero key: it
/// holds `u64::MAX`, a PC that indexes the last entry and so never
/// matches there.
pub const fn ibtc_empty(index: usize) -> [u64; 2] {
    if index == 0 { [u64::MAX, 0] } else { [0, 0] }
}

/// [`JitCtx::ibtc_mask`] for a table of `entries`.
pub const fn ibtc_mask(entries: usize) -> u64 {
    ((entries - 1) as u64) << 4
}

/// Blocks with more IR values than this are not compiled (the interpreter
/// runs them): chained blocks share one slot array of this size.
pub const MAX_SLOTS: usize = 4096;

/// IR instructions from which a counted block's jump to its hot path
/// (after the body) is assembled with a 32-bit displacement at once.
const HOT_JUMP_NEAR_BELOW: usize = 40;

/// Compiles `block` into `cache`. The `Block` must stay alive (and at
/// the same address) as long as the compiled code may run: compiled code
/// refers to it for ops without templates. Returns `None` if the cache is
/// full or the block is too large.
pub fn compile(block: &Block, cache: &mut CodeCache, chain: ChainConfig) -> Option<CompiledBlock> {
    compile_counted(block, cache, chain, None)
}

/// [`compile`], with an execution counter at the body entry when `counter`
/// is given (see [`HotCounter`]): one of `cache`'s
/// ([`CodeCache::alloc_counter`]), which the code reaches RIP-relative
/// (a counter more than 2 GiB away is a panic) and which lives as long
/// as the code.
pub fn compile_counted(
    block: &Block,
    cache: &mut CodeCache,
    chain: ChainConfig,
    counter: Option<HotCounter>,
) -> Option<CompiledBlock> {
    compile_with(block, cache, chain, counter, HostFeatures::detect())
}

/// [`compile_counted`] with the optional instruction sets templates may
/// use given (at most what the CPU has; tests pass fewer to cover the
/// fallbacks).
pub fn compile_with(
    block: &Block,
    cache: &mut CodeCache,
    chain: ChainConfig,
    counter: Option<HotCounter>,
    feat: HostFeatures,
) -> Option<CompiledBlock> {
    if block.insts.len() > MAX_SLOTS {
        return None;
    }
    // Jumps to code out of line (exit paths, fault and flag stubs) are
    // assembled with 8-bit displacements first; a label one of them
    // cannot reach is then reached with 32-bit ones, and the block
    // assembled again (label numbers are the same every time). Most
    // blocks are short (a python3 start: 84% under 128 bytes), and 4 of
    // the 6 bytes of a far conditional jump were a tenth of their code.
    let mut far = Vec::new();
    let (code, relocs, refs_ir, counter_disp, labels, refs, sites, body_off) = loop {
        // Sized for typical code (about 16 bytes and a third of a label per
        // IR instruction) so that emitting rarely reallocates.
        let n = block.insts.len();
        let mut ops = VecAssembler::<X64Relocation>::new_with_capacity(
            0,
            128 + n * 20,
            0,
            0,
            8 + n / 2,
            0,
            8 + n / 2,
        );
        let fault_common = ops.new_dynamic_label();
        let epilogue = ops.new_dynamic_label();
        let body = ops.new_dynamic_label();
        let mut e = Emitter {
            ops,
            faults: Vec::new(),
            mem_sites: Vec::new(),
            pc: block.start,
            epilogue,
            epilogue_used: false,
            chain,
            block_start: block.start,
            calls_helpers: block.insts.iter().any(|i| matches!(i.op, Op::Call(..))),
            exits: Vec::new(),
            cell_refs: Vec::new(),
            refs_ir: false,
            feat,
            relocs: Vec::new(),
            consts: Vec::new(),
            regs: Regs::new(block, chain.flags, &chain.pinned),
            flag_stubs: Vec::new(),
            far: far.clone(),
        };
        // No prologue: the engine enters through the shared one
        // (`SharedRoutines::entry`), chained blocks jump straight here.
        dynasm!(e.ops ; .arch x64 ; =>body);
        // `sub dword [rip + counter], 1`: the displacement is filled in at
        // installation (the counter is in the same cache, within 2 GiB).
        let mut counter_disp = None;
        let hot = counter.map(|_| {
            let hot = e.ops.new_dynamic_label();
            let at = enc::sub_rip_dword_1(&mut e.ops);
            counter_disp = Some(at);
            e.relocs.push(crate::portable::Reloc {
                at: at as u32,
                kind: RelocKind::Counter,
            });
            // (From 40 IR instructions on the body is rarely short
            // enough: a cold python3 start had 55 of 357 such counted
            // blocks within reach, and assembling the others twice cost
            // more than the 4 bytes the 55 would save.)
            if n < HOT_JUMP_NEAR_BELOW && e.near(hot) {
                dynasm!(e.ops ; .arch x64 ; jz BYTE =>hot);
            } else {
                dynasm!(e.ops ; .arch x64 ; jz =>hot);
            }
            hot
        });
        for i in 0..block.insts.len() {
            e.emit(block, i);
        }
        e.terminator(block, &block.term);
        // The paths out of line, each ending in a jump to the shared exit or
        // fault routine through the block's one `jmp [r13 + routine]`: a
        // 2-byte jump when that is near (the paths are at most 20 bytes).
        let near = |paths: usize| paths <= 5;
        let to_epilogue = |ops: &mut VecAssembler<X64Relocation>, short: bool| {
            if short {
                dynasm!(ops ; .arch x64 ; jmp BYTE =>epilogue);
            } else {
                dynasm!(ops ; .arch x64 ; jmp =>epilogue);
            }
        };
        let local_backs = e.exits.iter().filter(|x| x.1.is_some()).count();
        let short = near(local_backs + hot.is_some() as usize);
        if local_backs > 0 || hot.is_some() {
            e.epilogue_used = true;
        }
        if let Some(hot) = hot {
            dynasm!(e.ops
                ; .arch x64
                ; =>hot
                ; mov QWORD [BYTE r13 + CTX_KIND as i8], KIND_HOT as i32
            );
            emit_pc_to_rax(&mut e.ops, block.start);
            to_epilogue(&mut e.ops, short);
        }
        // The exits' way back to the dispatcher (also where an unlinked cell
        // points): the target PC in rax.
        for &(target, back) in &e.exits {
            let Some(back) = back else { continue };
            dynasm!(e.ops ; .arch x64 ; =>back);
            emit_pc_to_rax(&mut e.ops, target);
            to_epilogue(&mut e.ops, short);
        }
        if e.epilogue_used {
            dynasm!(e.ops
                ; .arch x64
                ; =>epilogue
                ; jmp QWORD [BYTE r13 + CTX_EXIT_ROUTINE as i8]
            );
        }
        // Fault stubs of calls: record the guest PC of the faulting
        // instruction (inline accesses have none, see `mem_site`).
        let faults = std::mem::take(&mut e.faults);
        if !faults.is_empty() {
            let short = near(faults.len());
            for &(label, pc) in &faults {
                dynasm!(e.ops ; .arch x64 ; =>label);
                match u32::try_from(pc) {
                    Ok(p) => dynasm!(e.ops ; .arch x64 ; mov ecx, p as i32),
                    Err(_) => dynasm!(e.ops ; .arch x64 ; mov rcx, QWORD pc as i64),
                }
                if short {
                    dynasm!(e.ops ; .arch x64 ; jmp BYTE =>fault_common);
                } else {
                    dynasm!(e.ops ; .arch x64 ; jmp =>fault_common);
                }
            }
            dynasm!(e.ops
                ; .arch x64
                ; =>fault_common
                ; jmp QWORD [BYTE r13 + CTX_FAULT_ROUTINE as i8]
            );
        }
        e.emit_flag_stubs();
        e.emit_consts();
        let off = |l| e.ops.labels().resolve_dynamic(l).expect("exit label").0;
        let labels: Vec<(u64, Option<usize>)> = e
            .exits
            .iter()
            .map(|&(t, back)| (t, back.map(off)))
            .collect();
        let refs: Vec<(usize, usize)> = e.cell_refs.iter().map(|&(k, end)| (k, off(end))).collect();
        let sites: Vec<(usize, u64, bool)> = e
            .mem_sites
            .iter()
            .map(|&(site, pc, write)| {
                let off = e.ops.labels().resolve_dynamic(site).expect("site label").0;
                (off, pc, write)
            })
            .collect();
        let body_off = e.ops.labels().resolve_dynamic(body).ok()?.0;
        // (The emitter's other parts are moved out, not the emitter.)
        let (relocs, refs_ir) = (e.relocs, e.refs_ir);
        match e.ops.finalize() {
            Ok(code) => {
                break (
                    code,
                    relocs,
                    refs_ir,
                    counter_disp,
                    labels,
                    refs,
                    sites,
                    body_off,
                );
            }
            Err(DynasmError::ImpossibleRelocation(TargetKind::Dynamic(l))) if !far.contains(&l) => {
                far.push(l);
            }
            Err(err) => {
                // A label jumped to but never placed, or a short jump out
                // of range that is not one of the above: an xarch bug (the
                // block would stay interpreted).
                debug_assert!(false, "block {:#x} does not assemble: {err:?}", block.start);
                return None;
            }
        }
    };
    let cells: Vec<*mut u64> = labels
        .iter()
        .map(|_| cache.alloc_cell())
        .collect::<Option<_>>()?;
    let start = cache.install(&code)?;
    for &(k, end) in &refs {
        // SAFETY: the displacement is the last 4 bytes of an instruction
        // inside the code just installed, which nothing runs yet.
        unsafe { crate::cache::point_at_cell(start.add(end), cells[k]) };
    }
    if let (Some(at), Some(c)) = (counter_disp, counter) {
        // SAFETY: `at` is the displacement of the counter's `sub` inside
        // the code just installed, which nothing runs yet.
        unsafe { crate::cache::point_at_counter(start.add(at) as *mut u8, c) };
    }
    crate::perfmap::record(
        start,
        code.len(),
        format_args!("baseline_{:x}", block.start),
    );
    for (site, pc, write) in sites {
        cache.add_fault_site(start as usize + site, pc, write);
    }
    let mut exits = Vec::with_capacity(labels.len());
    for ((target, back), cell) in labels.into_iter().zip(cells) {
        let unlinked = return_path(cache, start as usize, target, back)?;
        // SAFETY: the cell is a fresh 8-byte aligned word of the cache;
        // nothing runs the code using it yet.
        unsafe { cell.write(unlinked) };
        exits.push(Exit::new(target, cell, unlinked));
    }
    for &(k, end) in &refs {
        exits[k].add_jump(start as usize + end);
    }
    debug_assert_eq!(body_off, 0, "a block's code starts with its body");
    let relocs = if refs_ir {
        Box::default()
    } else {
        let mut relocs = relocs;
        relocs.extend(refs.iter().map(|&(_, end)| crate::portable::Reloc {
            at: end as u32 - 4,
            kind: RelocKind::Cell,
        }));
        relocs.into_boxed_slice()
    };
    Some(CompiledBlock {
        body: start as u64 + body_off as u64,
        exits: exits.into_boxed_slice(),
        refs_ir,
        len: code.len() as u32,
        relocs,
    })
}

/// Where an exit to `target` of the code installed at `start` returns
/// to the dispatcher (its cell's unlinked value): its path in the block,
/// at offset `back`, or a cold one made now; `None` when the cache is
/// full.
pub(crate) fn return_path(
    cache: &mut CodeCache,
    start: usize,
    target: u64,
    back: Option<usize>,
) -> Option<u64> {
    match back {
        Some(back) => Some((start + back) as u64),
        None => exit_stub(cache, target),
    }
}

/// A cold return path to the dispatcher for an exit to `target` (where
/// its unlinked cell points): `mov eax, target` (or `mov rax`) and the
/// jump to the shared exit routine, among the cells at the top of the
/// code cache rather than in the block, whose hot code it would spread
/// (an exit that polls keeps one in its block, where the poll jumps).
fn exit_stub(cache: &mut CodeCache, target: u64) -> Option<u64> {
    let (code, len) = exit_stub_bytes(target);
    let at = cache.alloc_top(len.next_multiple_of(8))?;
    // SAFETY: fresh bytes of the executable cache, not yet reachable.
    unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), at, len) };
    Some(at as u64)
}

/// The bytes of [`exit_stub`]'s code: [`emit_pc_to_rax`] and `jmp [r13 +
/// exit_routine]`, encoded here without an assembler because every stored
/// block a process installs needs some (dynasm's buffer and finalisation
/// cost 700 instructions per stub, a fifth of /bin/true's start-up); the
/// unit test `exit_stub_bytes_match_the_assembler` holds it to dynasm's
/// encoding.
fn exit_stub_bytes(target: u64) -> ([u8; 16], usize) {
    let mut code = [0u8; 16];
    let mut n = match u32::try_from(target) {
        Ok(p) => {
            code[0] = 0xb8; // mov eax, imm32
            code[1..5].copy_from_slice(&p.to_le_bytes());
            5
        }
        Err(_) => {
            code[..2].copy_from_slice(&[0x48, 0xb8]); // mov rax, imm64
            code[2..10].copy_from_slice(&target.to_le_bytes());
            10
        }
    };
    // jmp qword [r13 + disp8]
    code[n..n + 4].copy_from_slice(&[0x41, 0xff, 0x65, CTX_EXIT_ROUTINE as u8]);
    n += 4;
    (code, n)
}

/// `rax = pc`: a 5-byte move for a PC below 4 GiB (a non-PIE program's).
fn emit_pc_to_rax(ops: &mut VecAssembler<X64Relocation>, pc: u64) {
    match u32::try_from(pc) {
        Ok(p) => dynasm!(ops ; .arch x64 ; mov eax, p as i32),
        Err(_) => dynasm!(ops ; .arch x64 ; mov rax, QWORD pc as i64),
    }
}

/// A direct exit of a compiled block, to be linked to the target's code.
///
/// The block's code reaches the exit through its link cell (`jmp [rip +
/// cell]`, or a `call` for a call's exit) as compiled, stored and
/// installed; linking also rewrites the first of those instructions
/// ([`Exit::add_jump`]) into a direct one to the same place (`nop; jmp
/// rel32`, `nop; call rel32`, ending where it did). An indirect jump the branch predictor has not kept costs a
/// full misprediction, a direct one is redirected when decoded: a chain
/// of 8000 small blocks ran at 25 ns per block through cells and 14 ns
/// with direct jumps on this project's 2-core AMD EPYC, and large
/// programs (a compiler, an interpreter) run through tens of thousands.
/// Only the engine's own thread runs and links a code cache, never both
/// at once, so the code is rewritten in place.
#[derive(Clone, Copy, Debug)]
pub struct Exit {
    /// The guest address the exit continues at.
    pub target: u64,
    /// The link cell: where the exit jumps (through) to.
    pub cell: *mut u64,
    /// The cell's value when unlinked (the block's own return path).
    pub unlinked: u64,
    /// The instruction made direct when the exit is linked (the first
    /// through the cell), by the displacement it has as an indirect one:
    /// the cell's address minus the instruction's end; 0: none.
    pub jump: i32,
}

impl Exit {
    /// An exit through `cell` reached by no instruction yet (see
    /// [`Exit::add_jump`]).
    pub fn new(target: u64, cell: *mut u64, unlinked: u64) -> Exit {
        Exit {
            target,
            cell,
            unlinked,
            jump: 0,
        }
    }

    /// Records the instruction through the cell that ends at `end` (a
    /// `jmp` or `call` with a RIP-relative 32-bit displacement, the last
    /// 4 bytes before `end`), to be made direct when the exit is linked.
    /// Only the first is (a call's exit: its call; the jump taken when
    /// the return stack is full stays through the cell, which is as
    /// correct: a second one made the engine's link-list nodes 4 bytes
    /// larger, page faults a /bin/true process paid for), and one too
    /// far from its cell stays indirect too.
    pub fn add_jump(&mut self, end: usize) {
        if self.jump == 0
            && let Ok(d) = i32::try_from((self.cell as usize as i64).wrapping_sub(end as i64))
        {
            self.jump = d;
        }
    }

    /// The end address of the instruction made direct at linking.
    pub fn jump_end(&self) -> Option<usize> {
        (self.jump != 0).then(|| (self.cell as usize).wrapping_add_signed(-(self.jump as isize)))
    }

    /// Makes the exit continue directly in compiled code at `body` (a
    /// [`CompiledBlock::body`]).
    ///
    /// # Safety
    /// `body` must be the body of a live compiled block of the same code
    /// cache (or the exit's own return path), and no thread may be
    /// running this block's code: its jumps are rewritten in place.
    pub unsafe fn link(&self, body: u64) {
        // SAFETY: the cell is an aligned word in the code cache.
        unsafe {
            (*(self.cell as *const core::sync::atomic::AtomicU64))
                .store(body, core::sync::atomic::Ordering::Release)
        };
        if let Some(end) = self.jump_end() {
            // SAFETY: `end` is the end of a 6-byte jump or call through
            // the cell in this block's code, which is mapped writable and
            // which nothing runs now (the caller's contract); both forms
            // are 6 bytes ending at `end`.
            unsafe { rewrite_jump(end as *mut u8, body) };
        }
    }

    /// Returns the exit to the dispatcher.
    ///
    /// # Safety
    /// As for [`Exit::link`].
    pub unsafe fn unlink(&self) {
        // SAFETY: as above.
        unsafe { self.link(self.unlinked) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-encoded cold return path is what the assembler makes of
    /// `emit_pc_to_rax` and the jump to the exit routine, for PCs below
    /// and above 4 GiB.
    #[test]
    fn exit_stub_bytes_match_the_assembler() {
        for pc in [
            0,
            0x40_0000,
            0x7fff_ffff,
            0xffff_ffff,
            1 << 32,
            0xaaaa_dead_beef_0004,
        ] {
            let mut ops = VecAssembler::<X64Relocation>::new(0);
            emit_pc_to_rax(&mut ops, pc);
            dynasm!(ops ; .arch x64 ; jmp QWORD [BYTE r13 + CTX_EXIT_ROUTINE as i8]);
            let want = ops.finalize().expect("assembles");
            let (code, len) = exit_stub_bytes(pc);
            assert_eq!(&code[..len], &want[..], "pc {pc:#x}");
        }
    }
}
