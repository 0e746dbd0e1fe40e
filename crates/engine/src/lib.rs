//! The execution engine: translation cache, dispatch loop and backend
//! selection. It runs guest code until something the Linux layer must
//! handle happens (a system call, an exception, a pending signal).

mod background;
pub mod diag;
mod fork_hints;
mod host_fault;
pub mod host_threads;
mod ibtc;
mod links;
pub mod persist;
mod tier;
#[cfg(test)]
mod tier_tests;
mod translations;
mod zeroed;

pub use host_fault::{SigHandler, set_sent_signal_handler};
pub use tier::DEFAULT_HOT_THRESHOLD;

pub use background::{EXIT_INFO_REGION_READY, ForkGuard};

/// Before a guest fork, held across it: the compiler queue's lock (see
/// `background`), and the page the child will report the blocks it
/// installs in (see `fork_hints`).
pub fn fork_lock() -> ForkGuard {
    fork_hints::before_fork();
    background::fork_lock()
}
use std::collections::VecDeque;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tier::{Region, Tier, TierStats};
use xarch_a64::helpers::{EXIT_INFO_INTERRUPT, EXIT_INFO_INVALIDATE, take_pending_invalidations};
use xarch_a64::state::A64State;
use xarch_ir::{Block, BlockResult, ExitReason, Interpreter, Terminator};
use xarch_jit::baseline::{
    ChainConfig, EntryFn, HotCounter, KIND_EXIT, KIND_HOT, KIND_NEXT, MAX_SLOTS,
};
use xarch_jit::opt::{OptError, RegionBlock};
pub use xarch_jit::perf_map_descriptor;

/// An empty indirect-branch table entry (no guest PC is `u64::MAX`).
use xarch_jit::{CodeCache, CompiledBlock, JitCtx};

/// Why [`Engine::run`] returned to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `SVC #0`: `state.pc` already points after the SVC instruction.
    Syscall,
    /// `BRK #imm`: `state.pc` is the BRK instruction (guest gets SIGTRAP).
    Breakpoint {
        /// The 16-bit immediate of the BRK.
        imm: u16,
    },
    /// An undefined or unimplemented encoding at `state.pc` (guest gets
    /// SIGILL). `unallocated` is false for encodings the architecture
    /// defines but xarch does not implement yet, so a diagnostic can say which.
    Undefined {
        /// The instruction word.
        insn: u32,
        /// Whether the encoding is architecturally unallocated.
        unallocated: bool,
    },
    /// The guest touched memory it may not: `state.pc` is the faulting
    /// instruction, registers are as before it.
    MemoryFault {
        /// The faulting data address.
        addr: u64,
        /// Whether it was a write.
        write: bool,
    },
    /// The instruction fetch at `state.pc` failed (unmapped or not executable).
    FetchFault,
    /// `state.interrupt` was set (an asynchronous signal is pending).
    Interrupted,
}

/// Which backend executes translated code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The IR interpreter (the reference semantics).
    #[default]
    Interpreter,
    /// The template JIT: every block compiled to x86-64 on first use,
    /// never tiered up.
    Baseline,
    /// The template JIT, and hot regions (blocks run `hot_threshold`
    /// times, with the blocks they branch to) recompiled by the optimizing
    /// tier.
    Tiered,
    /// Every block compiled by the optimizing tier as soon as it first
    /// runs (a region from it, its successors lifted ahead of time),
    /// baseline code only where the optimizing tier declines: the tiered
    /// engine with a hot threshold of 0, for testing the optimizing tier.
    Opt,
}

impl Backend {
    /// The name `--engine` accepts for this backend.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Interpreter => "interp",
            Backend::Baseline => "baseline",
            Backend::Tiered => "tiered",
            Backend::Opt => "opt",
        }
    }

    /// The hot threshold when the options name none; `None` for backends
    /// that never tier up.
    pub fn default_hot_threshold(self) -> Option<u32> {
        match self {
            Backend::Interpreter | Backend::Baseline => None,
            Backend::Tiered => Some(DEFAULT_HOT_THRESHOLD),
            Backend::Opt => Some(0),
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "interp" | "interpreter" => Ok(Backend::Interpreter),
            "baseline" | "jit" => Ok(Backend::Baseline),
            "tiered" => Ok(Backend::Tiered),
            "opt" => Ok(Backend::Opt),
            _ => Err(format!(
                "unknown engine '{s}' (expected interp, baseline, tiered or opt)"
            )),
        }
    }
}

/// Engine options chosen by the user or the tests.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Log each unimplemented encoding to stderr.
    pub log_unimplemented: bool,
    /// Print each block's IR when it is translated (`XARCH_DUMP_IR=1`).
    pub dump_ir: bool,
    /// Which backend to use.
    pub backend: Backend,
    /// Count guest instructions run by the interpreter and print the rate
    /// when the engine ends, and what tiering did (`XARCH_STATS=1`).
    pub stats: bool,
    /// For the backends that tier up: executions of a block before it is
    /// compiled as a region; 0 compiles a region at a block's first run,
    /// with successors lifted ahead of time (`XARCH_HOT_THRESHOLD`).
    /// `None`: the backend's default.
    pub hot_threshold: Option<u32>,
    /// For the tiered backend: times a block is interpreted before the
    /// template JIT compiles it (`XARCH_INTERP_RUNS`, the same throughout);
    /// `None`: the backend's default ([`DEFAULT_INTERP_RUNS`], then
    /// [`DEFAULT_INTERP_RUNS_AFTER_STARTUP`], for `tiered`; 0 for the
    /// others, which compile at the first run).
    pub interp_runs: Option<u32>,
    /// Run the lifter's IR as it is, without [`xarch_ir::simplify`]
    /// (`XARCH_RAW_IR=1`; the differential tests' reference).
    pub raw_ir: bool,
    /// The tiered backend compiles regions on the compiler thread while
    /// the guest goes on in baseline code (see `background.rs`); `false`
    /// compiles them on the spot (deterministic, for tests;
    /// `XARCH_SYNC_COMPILE=1`).
    pub background_compile: bool,
    /// The program's persistent code cache (see [`persist`]), opened by
    /// the Linux layer for the settings [`Engine::code_settings`] names.
    pub code_store: Option<Arc<persist::CodeStore>>,
}

/// Runs in the interpreter before a block is compiled by the tiered
/// engine, during a thread's first [`STARTUP_TRANSLATIONS`] translations:
/// the start-up of a dynamically linked program (ld.so relocating, libc
/// initialising) is mostly code that runs a few times, and interpreting
/// a block (~40 ns per guest instruction) costs less than translating it
/// (a few µs) until it has run this many times. Measured: see
/// docs/ARCHITECTURE.md.
pub const DEFAULT_INTERP_RUNS: u32 = 4;

/// Runs in the interpreter before a block is compiled once the thread has
/// made [`STARTUP_TRANSLATIONS`] translations: after start-up, code that
/// runs twice usually runs many times (gcc's cc1 on one file: 4.6 s with
/// 4 runs throughout, 4.2 s with 1).
pub const DEFAULT_INTERP_RUNS_AFTER_STARTUP: u32 = 1;

/// Translations after which the default interpretation count drops to
/// [`DEFAULT_INTERP_RUNS_AFTER_STARTUP`] (`/bin/true` makes ~1800,
/// `python3 -c pass` ~33000, cc1 ~195000).
pub const STARTUP_TRANSLATIONS: u64 = 4000;

/// Decides whether guest code at an address may be fetched (mapped and
/// executable): the executable range containing it, or `None`. Supplied
/// by the Linux layer, which owns the memory map.
pub type FetchValidator = Box<dyn Fn(u64) -> Option<core::ops::Range<u64>> + Send>;

/// Generation of the process-wide invalidation log: bumped by every
/// [`Engine::invalidate`], checked by every engine at block boundaries so
/// that code dropped by one guest thread is dropped by all of them.
static INVAL_GEN: AtomicU64 = AtomicU64::new(0);

/// Recent invalidations `(generation, start, len)`, oldest first.
static INVAL_LOG: Mutex<VecDeque<(u64, u64, u64)>> = Mutex::new(VecDeque::new());

/// How many invalidations the log keeps; an engine further behind than
/// this flushes its whole cache.
const INVAL_LOG_MAX: usize = 1024;

fn inval_log() -> std::sync::MutexGuard<'static, VecDeque<(u64, u64, u64)>> {
    INVAL_LOG.lock().unwrap_or_else(|e| e.into_inner())
}

/// Addresses of the guest state blocks of the engines inside
/// [`Engine::run`]: an invalidation sets `EXIT_INFO_INVALIDATE` in each, so
/// a thread spinning in chained blocks (which poll `exit_info` at every
/// backward and indirect exit, and every loop has one) returns to its
/// dispatcher and applies the invalidation.
static RUNNING: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Registration of one engine's state block in [`RUNNING`], for the
/// duration of one [`Engine::run`] (the state is exclusively borrowed, so
/// alive, all that time).
struct Running(usize);

impl Running {
    fn enter(state: &mut A64State) -> Running {
        let addr = state as *mut A64State as usize;
        running().push(addr);
        Running(addr)
    }

    /// Tells every running engine but `own` (0: none) to look at the
    /// invalidation log before its next chained block.
    fn notify_others(own: usize) {
        for &addr in running().iter().filter(|&&a| a != own) {
            // SAFETY: registered state blocks are alive (see `Running`)
            // and their `exit_info` is an aligned u64 that their owners
            // update atomically.
            unsafe {
                AtomicU64::from_ptr((addr + xarch_a64::state::EXIT_INFO as usize) as *mut u64)
                    .fetch_or(EXIT_INFO_INVALIDATE, Ordering::Release)
            };
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut r = running();
        if let Some(i) = r.iter().position(|&a| a == self.0) {
            r.swap_remove(i);
        }
    }
}

fn running() -> std::sync::MutexGuard<'static, Vec<usize>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A translation cache and the code that runs it. One per guest thread;
/// invalidations reach every engine of the process.
pub struct Engine {
    options: EngineOptions,
    cache: translations::Translations,
    interp: Interpreter,
    validator: Option<FetchValidator>,
    code: Option<CodeCache>,
    slots: zeroed::ZeroedSlice<u128>,
    jit_ctx: JitCtx,
    /// The last invalidation generation applied to this cache.
    seen_gen: u64,
    /// Exits of compiled blocks waiting for (or linked to) each target PC.
    links: links::Links,
    /// The exits of the stored block being installed (one list kept from
    /// block to block: see `xarch_jit::portable::import_into`).
    import_exits: Vec<xarch_jit::baseline::Exit>,
    /// Blocks lifted here with the hash a save needs (dropped ones
    /// included) since the fork that left [`forks`] at `.0`: when fewer than a
    /// save takes, a process ends without looking at the store file again
    /// (a forked subshell's exit opened, mapped and searched it). A fork's
    /// child counts from zero: what its parent lifted is the parent's to
    /// save, and a child that executes after lifting nothing (the parent
    /// shell's commands) need not search every translation it inherited.
    lifted_to_save: (u64, usize),
    /// [`forks`] when the engine was made: an engine used in a fork's
    /// child reports the blocks it installs to the parent.
    forks_at_start: u64,
    /// How the stored blocks that end in an exit to the runtime (a
    /// system call, a breakpoint, an undefined instruction) exit, by
    /// block address: their entries keep no terminator.
    stored_exits: std::collections::HashMap<u64, (ExitReason, u64), PcHash>,
    /// Guest instructions run by the interpreter (for `stats`).
    insns: u64,
    /// The next translation serial number.
    next_serial: u64,
    /// Dispatcher iterations by how the block ran: (interpreted, compiled
    /// code entered, translations made), for `stats`.
    dispatches: [u64; 3],
    /// Region faults reported at a replay point (see [`Engine::replay`]).
    replays: u64,
    /// Indirect-branch table read by compiled code (through `jit_ctx`,
    /// see [`ibtc`]).
    ibtc: ibtc::Table,
    /// When the engine started (for `stats`).
    started: std::time::Instant,
    /// Executions before a block tiers up; `None`: never.
    hot_threshold: Option<u32>,
    /// Interpreted runs before a block is compiled (0: at once).
    interp_runs: u32,
    /// `interp_runs` after [`STARTUP_TRANSLATIONS`] translations.
    interp_runs_later: u32,
    /// What tiering did (for `stats`).
    tier_stats: TierStats,
    /// Code cache resets so far (to notice one during region formation).
    resets: u64,
    /// Address of the state block while inside [`Engine::run`], else 0.
    running: usize,
    /// The optimizing tier (replaceable by tests).
    region_compiler: RegionCompiler,
    /// The region compiler panicked in this thread: not called again.
    compiler_panicked: bool,
    /// Where the compiler thread sends this engine's regions.
    mailbox: Arc<background::Mailbox>,
    /// Jobs queued and not collected yet.
    outstanding: u32,
    /// Whether the mailbox watches this engine's `exit_info`.
    watching: bool,
    /// Starting the compiler thread failed: regions are compiled here.
    no_compiler_thread: bool,
    /// The persistent code cache, if the engine uses one.
    store: Option<Arc<persist::CodeStore>>,
    /// What the code store did (for `stats`).
    store_stats: StoreStats,
}

/// What the engine did with its code store, for `stats`.
#[derive(Default)]
struct StoreStats {
    /// Blocks installed.
    hits: u64,
    /// Lookups of PCs the store has no block for (misses and successors
    /// not stored).
    missing: u64,
    /// Records of other guest code than is now at their address.
    stale: u64,
    /// Records refused: damaged, tables out of bounds, a counter where
    /// the engine counts none.
    unusable: u64,
    saved: Saved,
}

/// What [`Engine::save_code`] did.
#[derive(Default)]
enum Saved {
    /// Nothing (too few new blocks, or not called).
    #[default]
    Nothing,
    /// This many new blocks, and what the file then had.
    Blocks(usize, persist::Written),
    /// Writing the file failed (the guest goes on; the next run misses).
    Failed(String),
}

/// A process saves its new blocks to the code store only if it has at
/// least this many (a fork that runs a few blocks and exits leaves the
/// file alone) and at least one per [`SAVE_GROWTH`] blocks in the file (a
/// save rewrites the whole file: cc1's is ~100 MiB).
const MIN_BLOCKS_TO_SAVE: usize = 32;

thread_local! {
    /// Forks this thread went through (see `Engine::lifted_to_save`; a
    /// fork's child has only the forking thread, and an engine stays on
    /// its thread).
    static FORKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn forks() -> u64 {
    FORKS.with(std::cell::Cell::get)
}

/// In the child of a guest fork: the engine it inherited counts the
/// blocks it lifts from zero, and tells the parent which blocks it
/// installs (see `fork_hints`).
pub fn note_fork() {
    FORKS.with(|f| f.set(f.get() + 1));
    fork_hints::in_child();
}
/// See [`MIN_BLOCKS_TO_SAVE`].
const SAVE_GROWTH: usize = 64;

/// The signature of `xarch_jit::opt::compile_region`.
type RegionCompiler = fn(
    &[RegionBlock<'_>],
    &mut CodeCache,
    ChainConfig,
) -> Result<xarch_jit::opt::CompiledRegion, OptError>;

impl Drop for Engine {
    fn drop(&mut self) {
        self.mailbox.close();
        if self.options.stats && self.insns > 0 {
            let s = self.started.elapsed().as_secs_f64();
            diag!(
                "xarch: interpreter ran {} guest instructions in {s:.3} s ({:.1} M/s)",
                self.insns,
                self.insns as f64 / s / 1e6
            );
        }
        if self.options.stats {
            let compiled = self.cache.values().filter(|e| e.compiled.is_some()).count();
            let (insts, cap) = self
                .cache
                .values()
                .filter_map(Entry::lifted)
                .fold((0, 0), |(n, c), b| {
                    (n + b.insts.len(), c + b.insts.capacity())
                });
            diag!(
                "xarch: dispatcher: {} interpreted blocks, {} calls into compiled code, {} translations, {} region faults replayed",
                self.dispatches[0],
                self.dispatches[1],
                self.dispatches[2],
                self.replays
            );
            diag!(
                "xarch: {} translations ({compiled} compiled), {insts} IR insts in {} KiB, code {} KiB",
                self.cache.len(),
                (cap * std::mem::size_of::<xarch_ir::Inst>()) >> 10,
                self.code.as_ref().map_or(0, |c| c.used() >> 10)
            );
        }
        if self.options.stats
            && let Some(store) = &self.store
        {
            let saved = match &self.store_stats.saved {
                Saved::Blocks(new, w) if w.left_out > 0 => format!(
                    "{new} saved ({} in the file, {} left out of its lookup table)",
                    w.records, w.left_out
                ),
                Saved::Blocks(new, w) => format!("{new} saved ({} in the file)", w.records),
                Saved::Nothing => "none saved".into(),
                Saved::Failed(e) => format!("none saved: {e}"),
            };
            diag!(
                "xarch: code store {}: {} blocks installed, {} stale, {} unusable, {} not stored, {saved}",
                store.path().display(),
                self.store_stats.hits,
                self.store_stats.stale,
                self.store_stats.unusable,
                self.store_stats.missing,
            );
        }
        if self.options.stats && self.tier_stats.any() {
            diag!("{}", self.tier_stats.report());
        }
    }
}

/// A translation: the IR (kept alive for compiled code that refers to it)
/// and its native code, if compiled.
///
/// A process start-up makes tens of thousands (python3 -c pass: 36k, all
/// installed from the code store), so an entry is kept small: 72 bytes,
/// where 128 were a quarter of the pages that start touched.
struct Entry {
    /// Which translation of its address this is (unique in the engine).
    serial: u64,
    /// The guest address of its first instruction.
    start: u64,
    /// What is kept of the IR.
    ir: Ir,
    /// The baseline code.
    compiled: Option<Code>,
    /// Times the block was interpreted while waiting to be compiled.
    runs: u32,
    tier: Tier,
    /// The execution counter in the baseline code, if it counts.
    counter: Option<HotCounter>,
    /// The region run instead of the baseline code (`tier` is
    /// [`Tier::Region`]).
    region: Option<Box<Region>>,
}

/// An entry's baseline code.
enum Code {
    /// Compiled here: the whole block (the code store's export needs its
    /// exits and relocations).
    Here(Box<CompiledBlock>),
    /// Installed from the code store: where its body starts. Its exits
    /// are in the link lists, and it is never exported again.
    Stored(u64),
}

impl Code {
    /// Where chained code continues in it.
    fn body(&self) -> u64 {
        match self {
            Code::Here(c) => c.body,
            Code::Stored(body) => *body,
        }
    }

    fn entry_fn(&self) -> EntryFn {
        EntryFn::at_body(self.body())
    }

    /// The block, if it was compiled here.
    #[cfg(test)]
    fn here(&self) -> Option<&CompiledBlock> {
        match self {
            Code::Here(c) => Some(c),
            Code::Stored(_) => None,
        }
    }
}

/// Where a translation came from, and what it keeps of its IR
/// ([`Entry::ir`]).
enum Ir {
    /// Lifted here: the IR, or only its skeleton (no instructions) once
    /// compiled code that does not need it exists (see `shed_ir`); and
    /// the hash of the guest code it was lifted from ([`guest_hash`]),
    /// when the engine has a code store to save it to.
    Lifted(Arc<Block>, Option<NonZeroU64>),
    /// Installed from the code store: the block's length in bytes and in
    /// instructions, kept in the entry (a shared skeleton was an
    /// allocation per block: a cc1 start installs 52k, and their
    /// skeletons were an eighth of the pages it touched). Region
    /// formation lifts it again, as it does a skeleton.
    Stored { len: u32, guest_insns: u32 },
}

/// The hash of guest code kept with a block lifted here: never 0, so that
/// an `Option` of it takes no more room (one bit less of the hash).
fn guest_hash(code: &[u8]) -> NonZeroU64 {
    NonZeroU64::new(persist::hash_bytes(code) | 1).expect("bit 0 is set")
}

impl Entry {
    fn start(&self) -> u64 {
        self.start
    }

    fn end(&self) -> u64 {
        match &self.ir {
            Ir::Lifted(b, _) => b.end,
            Ir::Stored { len, .. } => self.start + u64::from(*len),
        }
    }

    fn guest_insns(&self) -> u32 {
        match &self.ir {
            Ir::Lifted(b, _) => b.guest_insns,
            Ir::Stored { guest_insns, .. } => *guest_insns,
        }
    }

    /// The IR lifted here (maybe only a skeleton), if any.
    fn lifted(&self) -> Option<&Arc<Block>> {
        match &self.ir {
            Ir::Lifted(b, _) => Some(b),
            Ir::Stored { .. } => None,
        }
    }

    /// Where chained code continues to run this entry.
    fn body(&self) -> Option<u64> {
        match (&self.region, &self.compiled) {
            (Some(r), _) => Some(r.code.body),
            (None, Some(c)) => Some(c.body()),
            (None, None) => None,
        }
    }
}

/// What one call into translated code ended with.
enum Step {
    Block(BlockResult),
    /// A block at this PC became hot (nothing of it has run).
    Hot(u64),
    /// Region code faulted at the access at `access` with the state at
    /// the earlier instruction `from` (see `xarch_jit::FAULT_REPLAY`),
    /// after going round a loop starting at `from` `passes` times (see
    /// `xarch_jit::FAULT_REPLAY_PASSES`).
    Replay {
        from: u64,
        access: u64,
        passes: u64,
    },
}

/// Most blocks [`Engine::replay`] interprets to reach a faulting access
/// (a region's path from a replay point to an access is at most one pass
/// through its blocks; twice that leaves room for memory another thread
/// changed meanwhile).
const MAX_REPLAY_BLOCKS: usize = 2 * tier::MAX_REGION_BLOCKS;

/// Hashing for guest addresses: a multiplicative hash is plenty (and much
/// cheaper than SipHash on the dispatch path).
#[derive(Clone, Copy, Default)]
pub(crate) struct PcHash;

impl std::hash::BuildHasher for PcHash {
    type Hasher = PcHasher;
    fn build_hasher(&self) -> PcHasher {
        PcHasher(0)
    }
}

/// See [`PcHash`].
struct PcHasher(u64);

impl std::hash::Hasher for PcHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ *b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (x ^ (x >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The message of a caught panic.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// In debug builds, panics if `block` (just produced by `what`) is not
/// valid IR.
fn debug_verify(block: &Block, what: &str) {
    if cfg!(debug_assertions)
        && let Err(e) = xarch_ir::verify::verify(block)
    {
        panic!("{what} produced invalid IR: {e}\n{block}");
    }
}

/// The fetch validator's answers, asked once per executable range.
struct CodeFetch<'a> {
    validator: &'a Option<FetchValidator>,
    /// Known executable (empty: nothing known).
    ok: core::ops::Range<u64>,
}

impl<'a> CodeFetch<'a> {
    fn new(validator: &'a Option<FetchValidator>) -> Self {
        Self::knowing(validator, 0..0)
    }

    /// A fetch that takes `ok` as executable without asking.
    fn knowing(validator: &'a Option<FetchValidator>, ok: core::ops::Range<u64>) -> Self {
        CodeFetch { validator, ok }
    }

    /// Whether guest code at `addr` may be fetched (mapped executable).
    fn may_fetch(&mut self, addr: u64) -> bool {
        if self.ok.contains(&addr) {
            return true;
        }
        match self.validator {
            None => true,
            Some(v) => match v(addr) {
                Some(r) => {
                    self.ok = r;
                    true
                }
                None => false,
            },
        }
    }
}

/// How compiled code chains: the flags that stop it, the indirect-branch
/// table, the deferred guest flags, the return stack, and the stack
/// pointer kept in a host register.
fn chain_config() -> ChainConfig {
    ChainConfig {
        exit_info: xarch_a64::state::EXIT_INFO as i32,
        ibtc: true,
        flags: Some(xarch_a64::state::NZCV),
        link: Some(xarch_a64::state::x_offset(30)),
        pinned: [
            Some(xarch_a64::state::SP),
            Some(xarch_a64::state::x_offset(0)),
            Some(xarch_a64::state::x_offset(2)),
        ],
    }
}

/// Size of each thread's code cache (address space reserved without
/// backing; pages are used as code is written); when full, all
/// translations are dropped and rebuilt on demand. 64 MiB made gcc -O3
/// of zlib's deflate.c reset its cache five times (535k translations for
/// 102k blocks); cc1 keeps ~100 MiB of code for one file.
pub const CODE_CACHE_BYTES: usize = 512 << 20;

/// Blocks installed ahead from the code store, at most, when a block is
/// installed from it (see [`Engine::install_stored`]): enough for the
/// chained code to run a while before the next miss, few enough that a
/// store filled by other runs of the program costs little (16 to 256
/// made no difference to python3's start).
const INSTALL_AHEAD: usize = 32;

/// The most translations room is made for up front from a code store's
/// size (see [`Engine::new`]).
const EXPECTED_TRANSLATIONS_MAX: usize = 1 << 16;

/// Smaller sizes tried if the system refuses the reservation (strict
/// overcommit accounting, address-space limits).
const CODE_CACHE_FALLBACKS: [usize; 2] = [128 << 20, 32 << 20];

impl Engine {
    /// Creates an engine with an empty translation cache.
    pub fn new(options: EngineOptions) -> Self {
        host_fault::install();
        let store = options
            .code_store
            .clone()
            .filter(|_| Engine::code_settings(&options).is_some());
        let code = match options.backend {
            Backend::Interpreter => None,
            Backend::Baseline | Backend::Tiered | Backend::Opt => std::iter::once(CODE_CACHE_BYTES)
                .chain(CODE_CACHE_FALLBACKS)
                .find_map(|size| CodeCache::new(size).ok()),
        };
        let hot_threshold = options
            .backend
            .default_hot_threshold()
            .map(|d| options.hot_threshold.unwrap_or(d));
        let (interp_runs, interp_runs_later) = match options.backend {
            Backend::Tiered => (
                options.interp_runs.unwrap_or(DEFAULT_INTERP_RUNS),
                options
                    .interp_runs
                    .unwrap_or(DEFAULT_INTERP_RUNS_AFTER_STARTUP),
            ),
            _ => (0, 0),
        };
        // A process that starts from a code store makes about as many
        // translations as the store has blocks (bounded: a short run of a
        // large program should not pay for an index it will not fill).
        let mut cache = translations::Translations::default();
        let mut links = links::Links::new(code.as_ref().map_or(0, |c| c.base() as u64));
        let mut ibtc = ibtc::Table::new();
        if let Some(store) = &store {
            let expected = store.records().min(EXPECTED_TRANSLATIONS_MAX);
            cache.reserve(expected);
            links.reserve(expected);
            // (Grown step by step, each table was filled again from all
            // translations: python3 -c pass touched 320 pages for tables
            // it then dropped.)
            ibtc = ibtc::Table::for_translations(expected);
        }
        let mut engine = Engine {
            options,
            cache,
            interp: Interpreter::new(),
            validator: None,
            code,
            slots: zeroed::ZeroedSlice::new(MAX_SLOTS),
            jit_ctx: JitCtx::for_chain(chain_config()),
            seen_gen: INVAL_GEN.load(Ordering::Acquire),
            links,
            import_exits: Vec::new(),
            lifted_to_save: (forks(), 0),
            forks_at_start: forks(),
            stored_exits: Default::default(),
            insns: 0,
            next_serial: 0,
            dispatches: [0; 3],
            replays: 0,
            started: std::time::Instant::now(),
            ibtc,
            hot_threshold,
            interp_runs,
            interp_runs_later,
            tier_stats: TierStats::default(),
            resets: 0,
            running: 0,
            region_compiler: xarch_jit::opt::compile_region,
            compiler_panicked: false,
            mailbox: Arc::default(),
            outstanding: 0,
            watching: false,
            no_compiler_thread: false,
            store,
            store_stats: StoreStats::default(),
        };
        engine.ibtc.publish(&mut engine.jit_ctx);
        engine
    }

    /// What a code store for an engine with `options` must be keyed by
    /// besides the program (the settings that change compiled code), or
    /// `None` if such an engine does not use one: the interpreter, and
    /// threshold 0, which keeps every block's IR to form regions from.
    pub fn code_settings(options: &EngineOptions) -> Option<String> {
        let threshold = options
            .backend
            .default_hot_threshold()
            .map(|d| options.hot_threshold.unwrap_or(d));
        if options.backend == Backend::Interpreter || threshold == Some(0) || options.dump_ir {
            return None;
        }
        Some(format!(
            "{} counted={} raw_ir={} {:?}",
            options.backend.name(),
            threshold.is_some(),
            options.raw_ir,
            xarch_jit::baseline::HostFeatures::detect()
        ))
    }

    /// Times the dispatcher entered compiled code so far (chained code
    /// and indirect branches found in the branch table do not count).
    pub fn compiled_code_entries(&self) -> u64 {
        self.dispatches[1]
    }

    /// Blocks installed from the code store so far.
    pub fn blocks_installed(&self) -> u64 {
        self.store_stats.hits
    }

    /// Faults in region code reported at an earlier instruction and run
    /// again from there in the interpreter (see `xarch_jit::FAULT_REPLAY`).
    pub fn faults_replayed(&self) -> u64 {
        self.replays
    }

    /// Regions compiled by the optimizing tier so far.
    pub fn regions_compiled(&self) -> u64 {
        self.tier_stats.compiled
    }

    /// Regions the optimizing tier declined so far.
    pub fn region_failures(&self) -> u64 {
        self.tier_stats.failures.values().sum()
    }

    /// Whether regions compiled in the background wait to be installed
    /// (at the next [`Engine::run`]).
    pub fn regions_ready(&self) -> bool {
        self.mailbox.ready()
    }

    /// Regions dropped so far (invalidation, cache resets).
    pub fn regions_dropped(&self) -> u64 {
        self.tier_stats.dropped
    }

    /// Sets the check used before reading guest code.
    pub fn set_fetch_validator(&mut self, v: FetchValidator) {
        self.validator = Some(v);
    }

    /// Lifts the block at `pc` (`None`: the code cannot be fetched).
    fn lift(&self, pc: u64) -> Option<Block> {
        self.lift_reading(pc, None)
    }

    /// [`Engine::lift`], appending the guest code the lifter read to
    /// `code` when given (the words it fetched, in order from `pc`; the
    /// block's own code is the first `end - pc` bytes).
    fn lift_reading(&self, pc: u64, mut code: Option<&mut Vec<u8>>) -> Option<Block> {
        let mut fetch = CodeFetch::new(&self.validator);
        let block = xarch_a64::lift_block(pc, |addr| {
            if addr % 4 != 0 || !fetch.may_fetch(addr) {
                return None;
            }
            // A guarded read: unmapped code is a fetch fault, not a crash.
            let word = xarch_ir::guest_mem::load(addr, 4).ok().map(|w| w as u32)?;
            if let Some(code) = code.as_deref_mut() {
                code.extend_from_slice(&word.to_le_bytes());
            }
            Some(word)
        })?;
        debug_verify(&block, "the lifter");
        Some(block)
    }

    fn translate(&mut self, pc: u64) -> Option<(Option<EntryFn>, *const Block)> {
        self.dispatches[2] += 1;
        if self.dispatches[2] == STARTUP_TRANSLATIONS {
            self.interp_runs = self.interp_runs_later;
        }
        if let Some(found) = self.install_stored(pc) {
            return Some(found);
        }
        // The hash of the guest code exactly as lifted (not read again:
        // another thread may be rewriting it), to save the block's code
        // only while the guest still has that code.
        let mut read = self.store.is_some().then(Vec::new);
        let mut block = self.lift_reading(pc, read.as_mut())?;
        let guest_hash = read.and_then(|r| {
            let n = usize::try_from(block.end - pc).ok()?;
            Some(guest_hash(r.get(..n)?))
        });
        if self.lifted_to_save.0 != forks() {
            self.lifted_to_save = (forks(), 0);
        }
        self.lifted_to_save.1 += usize::from(guest_hash.is_some());
        if self.interp_runs == 0 {
            self.simplify(&mut block);
        }
        if self.options.dump_ir {
            eprint!("{block}");
        }
        let block = Arc::new(block);
        // With interpret-first, compiled later if it runs again (see
        // `promote`).
        let (compiled, counter) = if self.interp_runs > 0 {
            (None, None)
        } else {
            let mut compiled = self.compile_baseline(&block);
            if compiled.is_none() && self.code.is_some() && block.insts.len() <= MAX_SLOTS {
                // Cache full: drop every translation and start over.
                self.reset_code();
                compiled = self.compile_baseline(&block);
            }
            match compiled {
                Some((c, counter)) => (Some(c), counter),
                None => (None, None),
            }
        };
        if let Some(c) = &compiled {
            self.link(pc, c);
        }
        let block = match &compiled {
            Some(c) => self.shed_ir(block, c),
            None => block,
        };
        let compiled = compiled.map(|c| Code::Here(Box::new(c)));
        Some(self.add_translation(pc, Ir::Lifted(block, guest_hash), compiled, counter))
    }

    /// Enters a new translation at `pc`; returns what `translate` does.
    fn add_translation(
        &mut self,
        pc: u64,
        ir: Ir,
        compiled: Option<Code>,
        counter: Option<HotCounter>,
    ) -> (Option<EntryFn>, *const Block) {
        // (The IR pointer is only for running an uncompiled block, which
        // is always lifted here. Not a clone of the compiled block: its
        // exit list was an allocation per block installed, 6% of the
        // pages a cc1 start touched.)
        let block = match &ir {
            Ir::Lifted(b, _) => Arc::as_ptr(b),
            Ir::Stored { .. } => core::ptr::null(),
        };
        let result = (compiled.as_ref().map(|c| c.entry_fn()), block);
        let serial = self.new_serial();
        if self.ibtc.outgrown_by(self.cache.len() + 1) {
            self.grow_ibtc();
        }
        self.cache.insert(
            pc,
            Entry {
                serial,
                start: pc,
                ir,
                compiled,
                runs: 0,
                tier: Tier::Baseline,
                counter,
                region: None,
            },
        );
        result
    }

    /// Reads the guest code in `[pc, end)` as the lifter would (mapped
    /// and executable), 8 bytes at a time where aligned, handing each
    /// piece to `f` with its offset from `pc` until `f` says stop; false
    /// if some of it cannot be fetched or `f` stopped.
    fn read_guest_code(&self, pc: u64, end: u64, f: impl FnMut(usize, &[u8]) -> bool) -> bool {
        self.read_guest_code_with(&mut CodeFetch::new(&self.validator), pc, end, f)
    }

    /// [`Engine::read_guest_code`] with the executable range `fetch`
    /// knows.
    fn read_guest_code_with(
        &self,
        fetch: &mut CodeFetch<'_>,
        pc: u64,
        end: u64,
        mut f: impl FnMut(usize, &[u8]) -> bool,
    ) -> bool {
        let mut addr = pc;
        while addr < end {
            if !fetch.may_fetch(addr) {
                return false;
            }
            // (An aligned 8 bytes never crosses a page.)
            let n = if addr.is_multiple_of(8) && end - addr >= 8 {
                8
            } else {
                4
            };
            let Ok(w) = xarch_ir::guest_mem::load(addr, n as u32) else {
                return false;
            };
            if !f((addr - pc) as usize, &(w as u64).to_le_bytes()[..n]) {
                return false;
            }
            addr += n as u64;
        }
        true
    }

    /// The guest code in `[pc, end)` if it can be fetched.
    fn guest_code(&self, pc: u64, end: u64) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(end.checked_sub(pc)? as usize);
        self.read_guest_code(pc, end, |_, piece| {
            out.extend_from_slice(piece);
            true
        })
        .then_some(out)
    }

    /// Whether the guest code at `pc` can be fetched and is `code`
    /// (compared in place: this runs for every block a process starts
    /// with).
    /// Whether the guest code at `pc` is `code`, taking the executable
    /// range `known` (updated) as checked: a batch of installs asks the
    /// memory map (a lock and a tree search) once per mapping instead of
    /// once per block. No guest code runs during a batch, so no thread of
    /// this engine changes the map meanwhile (another thread may, as it
    /// may between a check and the block's run anyway; its invalidation
    /// reaches this engine before its next block).
    fn guest_code_is(&self, pc: u64, code: &[u8], known: &mut core::ops::Range<u64>) -> bool {
        let mut fetch = CodeFetch::knowing(&self.validator, known.clone());
        // (Compared as words: a slice compare calls memcmp per piece.)
        let word = |b: &[u8]| match *b {
            [a, b, c, d] => u64::from(u32::from_le_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
            _ => u64::MAX,
        };
        let same =
            self.read_guest_code_with(&mut fetch, pc, pc + code.len() as u64, |at, piece| {
                code.get(at..at + piece.len())
                    .is_some_and(|c| c.len() == piece.len() && word(c) == word(piece))
            });
        *known = fetch.ok;
        same
    }

    /// Installs the code store's block at `pc` if it has one compiled
    /// from the guest code now at `pc`; returns what `translate` does.
    fn install_stored(&mut self, pc: u64) -> Option<(Option<EntryFn>, *const Block)> {
        // Taken out and put back rather than cloned: an atomic count
        // update per block was a visible cost of a process start.
        let store = self.store.take()?;
        // Breadth first: a vector and the index of the next PC (a
        // `VecDeque`'s extend and pop cost 200 instructions per block
        // installed).
        let mut queue = Vec::with_capacity(4 * INSTALL_AHEAD);
        let mut next = 0;
        // The executable range the batch has checked (see
        // `guest_code_is`).
        let mut known = 0..0;
        let installed = self.install_from(&store, pc, &mut queue, &mut known);
        if self.forks_at_start != forks() && matches!(installed, Some((Some(_), _))) {
            // A fork's child: its parent installs this block too, so that
            // its next children need not (see `fork_hints`).
            fork_hints::report(pc);
        }
        // The block's successors in the store are installed now too, so
        // that its exits chain at once instead of each returning to the
        // dispatcher first: python3 -c pass 38k -> 24k dispatcher entries,
        // 75 -> 67 ms; a cc1 run 162k -> 57k and -3% even with a store
        // filled by other inputs (13% of the blocks installed ahead then
        // never ran).
        let resets = self.resets;
        if let Some((Some(_), _)) = &installed {
            let mut budget = INSTALL_AHEAD;
            while budget > 0
                && self.resets == resets
                && let Some(&pc) = queue.get(next)
            {
                next += 1;
                if self.cache.contains_key(&pc) {
                    continue;
                }
                budget -= 1;
                self.install_from(&store, pc, &mut queue, &mut known);
            }
        }
        self.store = Some(store);
        if self.resets != resets {
            // The code cache filled up and started over: the block asked
            // for is gone with everything else (it is lifted again).
            return None;
        }
        installed
    }

    /// Installs the stored blocks this process's forked children
    /// installed for themselves (see `fork_hints`), so that the next ones
    /// inherit them.
    fn install_reported(&mut self) {
        let pcs = fork_hints::take();
        if self.store.is_some() {
            for pc in pcs {
                if !self.cache.contains_key(&pc) {
                    self.install_stored(pc);
                }
            }
        }
    }

    /// [`Engine::install_stored`] with the store at hand.
    fn install_from(
        &mut self,
        store: &persist::CodeStore,
        pc: u64,
        successors: &mut Vec<u64>,
        known: &mut core::ops::Range<u64>,
    ) -> Option<(Option<EntryFn>, *const Block)> {
        let rec = match store.get(pc) {
            persist::Lookup::Missing => {
                self.store_stats.missing += 1;
                return None;
            }
            persist::Lookup::Damaged => {
                self.store_stats.unusable += 1;
                return None;
            }
            persist::Lookup::Found(rec) => rec,
        };
        if !self.guest_code_is(pc, rec.guest, known) {
            self.store_stats.stale += 1;
            return None;
        }
        // (Checked before anything is installed or linked.)
        let Ok(len) = u32::try_from(rec.end - pc) else {
            self.store_stats.unusable += 1;
            return None;
        };
        let code = self.code.as_mut()?;
        let counter = match (rec.code.counts(), self.hot_threshold) {
            (false, _) => None,
            (true, Some(t)) => match code.alloc_counter(t.max(1)) {
                Some(c) => Some(c),
                None => {
                    // A full cache starts over (the block is then lifted).
                    self.reset_code();
                    return None;
                }
            },
            (true, None) => {
                self.store_stats.unusable += 1;
                return None;
            }
        };
        let exits = &mut self.import_exits;
        let compiled = match xarch_jit::portable::import_into(code, pc, &rec.code, counter, exits) {
            Ok(c) => c,
            // A full cache starts over (the block is then lifted).
            Err(xarch_jit::portable::ImportError::CacheFull) => {
                self.reset_code();
                return None;
            }
            Err(_) => {
                self.store_stats.unusable += 1;
                return None;
            }
        };
        self.store_stats.hits += 1;
        // The link lists keep the exits, and a stored block is never
        // exported or compiled again: it keeps no list of its own (it was
        // a 64-byte allocation per block, a tenth of the pages a cc1 start
        // touched).
        let exits = std::mem::take(&mut self.import_exits);
        self.link_exits(pc, compiled.body, &exits);
        successors.extend(exits.iter().map(|e| e.target));
        self.import_exits = exits;
        let ir = Ir::Stored {
            len,
            guest_insns: rec.guest_insns,
        };
        let code = Code::Stored(compiled.body);
        if let Terminator::Exit { reason, pc: at } = rec.term {
            self.stored_exits.insert(pc, (reason, at));
        }
        Some(self.add_translation(pc, ir, Some(code), counter))
    }

    /// Ends the engine without freeing its translations one by one (an
    /// in-process exec replaces the program): the code cache and the
    /// tables in mappings of their own are unmapped and the compiler
    /// thread stops delivering to it; the rest of its heap is left
    /// behind. In a forked child that heap is the parent's memory, shared
    /// until written, and freeing it block by block would copy most of it
    /// (a configure script's forks spent more doing that than the exec it
    /// saved). With `XARCH_STATS` the engine is dropped (its report prints).
    pub fn abandon(self) {
        if self.options.stats {
            drop(self);
            return;
        }
        self.mailbox.close();
        let engine = std::mem::ManuallyDrop::new(self);
        // SAFETY: each field is read out once and dropped; `engine` is never
        // used or dropped again.
        unsafe {
            drop(std::ptr::read(&engine.code));
            drop(std::ptr::read(&engine.slots));
            drop(std::ptr::read(&engine.ibtc));
        }
    }

    /// Saves the blocks translated here that the code store does not have
    /// yet (compiling those only interpreted so far: the next run then
    /// starts with all of them compiled), if there are at least
    /// [`MIN_BLOCKS_TO_SAVE`]. Call when the process ends; it takes a few
    /// milliseconds per thousand blocks.
    pub fn save_code(&mut self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        if self.code.is_none() {
            return;
        }
        // New blocks are blocks lifted here: with fewer lifts than a save
        // of the file as loaded needs, there is nothing to look for
        // (python3 -c pass lifts a few dozen blocks at every run and
        // scanned its 33k translations for them at every exit: 4% of it).
        let needed = MIN_BLOCKS_TO_SAVE.max(store.records() / SAVE_GROWTH);
        if self.lifted_to_save.0 != forks() || self.lifted_to_save.1 < needed {
            return;
        }
        let disk = store.on_disk();
        let fresh: Vec<u64> = self
            .cache
            .values()
            .filter(|e| matches!(e.ir, Ir::Lifted(_, Some(_))) && !disk.has(e.start(), e.end()))
            .map(Entry::start)
            .collect();
        if fresh.len() < MIN_BLOCKS_TO_SAVE.max(disk.records() / SAVE_GROWTH) {
            return;
        }
        let mut records = Vec::with_capacity(fresh.len());
        for pc in fresh {
            let Some(e) = self.cache.get(&pc) else {
                continue;
            };
            let Ir::Lifted(lifted, Some(hash)) = &e.ir else {
                continue;
            };
            let hash = *hash;
            let end = lifted.end;
            let Some(guest) = self.guest_code(pc, end).filter(|g| guest_hash(g) == hash) else {
                continue;
            };
            let (compiled, block) = match &e.compiled {
                Some(Code::Here(c)) => ((**c).clone(), Arc::clone(lifted)),
                // (A block lifted here was compiled here.)
                Some(Code::Stored(_)) => continue,
                None => {
                    if e.region.is_some() || lifted.insts.len() > MAX_SLOTS {
                        continue;
                    }
                    // (Simplifying simplified IR again changes nothing.
                    // The code compiled here is only exported, never
                    // entered or registered: code that would refer to
                    // this temporary IR is refused by `export`.)
                    let mut block = (**lifted).clone();
                    self.simplify(&mut block);
                    match self.compile_baseline(&block) {
                        Some((c, _)) => (c, Arc::new(block)),
                        None => break,
                    }
                }
            };
            let Some(code) = self.code.as_ref() else {
                break;
            };
            let Some(portable) = xarch_jit::portable::export(code, pc, &compiled) else {
                continue;
            };
            if let Some(r) =
                persist::encode_record(pc, block.guest_insns, &block.term, &guest, &portable)
            {
                records.push((pc, r));
            }
        }
        if records.len() < MIN_BLOCKS_TO_SAVE.max(disk.records() / SAVE_GROWTH) {
            return;
        }
        let new = records.len();
        self.store_stats.saved = match store.save(records) {
            Ok(written) => Saved::Blocks(new, written),
            Err(e) => Saved::Failed(e.to_string()),
        };
    }

    /// Whether the interpreted block `e`, about to run again, has run
    /// in the interpreter `interp_runs` times and should be compiled
    /// first (a block that never runs again is never compiled).
    fn due_for_compile(&self, e: &Entry) -> bool {
        self.interp_runs > 0
            && e.compiled.is_none()
            && e.region.is_none()
            && e.runs >= self.interp_runs
            && e.lifted().is_some_and(|b| b.insts.len() <= MAX_SLOTS)
    }

    /// Compiles the interpreted block at `pc` with the template JIT.
    fn promote(&mut self, pc: u64) {
        let Some(e) = self.cache.get_mut(&pc) else {
            return;
        };
        if e.compiled.is_some() || e.region.is_some() {
            return;
        }
        let Ir::Lifted(lifted, _) = &mut e.ir else {
            return;
        };
        if lifted.insts.len() > MAX_SLOTS {
            return;
        }
        // Code that runs again is worth cleaning up before compiling (not
        // before interpreting: most blocks run only a few times).
        // (A region being compiled in the background may share the
        // block: then it is compiled as lifted, rather than copied.)
        if !self.options.raw_ir
            && let Some(block) = Arc::get_mut(lifted)
        {
            xarch_ir::simplify::simplify(block);
            debug_verify(block, "simplify");
        }
        let block = Arc::clone(lifted);
        let compiled = match self.compile_baseline(&block) {
            Some(c) => c,
            None => {
                // Cache full: start over; the block is translated again
                // when it next runs.
                self.reset_code();
                return;
            }
        };
        self.link(pc, &compiled.0);
        let block = self.shed_ir(block, &compiled.0);
        if let Some(e) = self.cache.get_mut(&pc) {
            if let Ir::Lifted(b, _) = &mut e.ir {
                *b = block;
            }
            e.compiled = Some(Code::Here(Box::new(compiled.0)));
            e.counter = compiled.1;
        }
    }

    fn new_serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial
    }

    /// What an entry keeps of `block` once `code` runs it: the whole IR if
    /// the code refers to it, else a skeleton (bounds, instruction count,
    /// terminator): translations are the bulk of xarch's memory (cc1:
    /// 3M IR instructions, 120 MiB) and most compiled code stands alone.
    /// Region formation lifts the block again if it gets hot.
    fn shed_ir(&self, block: Arc<Block>, code: &CompiledBlock) -> Arc<Block> {
        if code.refs_ir || self.hot_threshold == Some(0) {
            // (Threshold 0 forms regions from everything at once.)
            return block;
        }
        Arc::new(Block {
            start: block.start,
            end: block.end,
            guest_insns: block.guest_insns,
            insts: Vec::new(),
            term: block.term.clone(),
        })
    }

    /// The full IR of the current translation at `pc`: the entry's, or
    /// lifted again if it only keeps a skeleton.
    fn full_ir(&self, e: &Entry, pc: u64) -> Option<Arc<Block>> {
        if let Some(b) = e.lifted().filter(|b| !b.insts.is_empty()) {
            return Some(Arc::clone(b));
        }
        // The guest code is unchanged: it would have been invalidated.
        let mut block = self.lift(pc)?;
        if block.end != e.end() {
            return None;
        }
        self.simplify(&mut block);
        Some(Arc::new(block))
    }

    /// Replaces the indirect-branch table with one four times the size,
    /// filled from the translations (see [`ibtc::Table::outgrown_by`]).
    fn grow_ibtc(&mut self) {
        let mut table = self.ibtc.grown();
        for e in self.cache.values() {
            if let Some(body) = e.body() {
                table.set(e.start(), body);
            }
        }
        self.ibtc = table;
        self.ibtc.publish(&mut self.jit_ctx);
    }

    /// Runs [`xarch_ir::simplify`] on a fresh translation (unless the
    /// engine runs raw IR).
    fn simplify(&self, block: &mut Block) {
        if !self.options.raw_ir {
            xarch_ir::simplify::simplify(block);
            debug_verify(block, "simplify");
        }
    }

    /// Compiles `block` with the template JIT, with an execution counter
    /// if the engine tiers up. `None` if there is no code cache, the block
    /// is too large, or the cache is full.
    fn compile_baseline(&mut self, block: &Block) -> Option<(CompiledBlock, Option<HotCounter>)> {
        let code = self.code.as_mut()?;
        // Threshold 0 and 1 both make the first run hot; 0 also forms
        // regions from blocks not run yet (from every block: `opt`).
        let counter = match self
            .hot_threshold
            .filter(|&t| t == 0 || tier::counts(block))
        {
            Some(t) => Some(code.alloc_counter(t.max(1))?),
            None => None,
        };
        let c = xarch_jit::baseline::compile_counted(block, code, chain_config(), counter)?;
        Some((c, counter))
    }

    /// Drops every translation and all compiled code (the code cache is
    /// full).
    fn reset_code(&mut self) {
        self.tier_stats.dropped +=
            self.cache.values().filter(|e| e.region.is_some()).count() as u64;
        self.cache.clear();
        self.links.clear();
        if let Some(code) = &mut self.code {
            code.reset();
        }
        self.ibtc.clear_all();
        self.resets += 1;
    }

    /// Runs guest code from `state.pc` until an [`Exit`] happens.
    pub fn run(&mut self, state: &mut A64State) -> Exit {
        let running = Running::enter(state);
        self.running = running.0;
        if fork_hints::pending() {
            self.install_reported();
        }
        if self.outstanding > 0 {
            self.watch(true);
            if self.mailbox.ready() {
                self.collect();
            }
        }
        let exit = self.run_loop(state);
        if self.watching {
            self.watch(false);
        }
        self.running = 0;
        exit
    }

    fn run_loop(&mut self, state: &mut A64State) -> Exit {
        loop {
            // A host signal handler sets the flag asynchronously.
            // SAFETY: `state.interrupt` is a valid, aligned u64.
            if unsafe { core::ptr::read_volatile(&state.interrupt) } != 0 {
                // (Raised again if another signal comes before delivery;
                // at worst one more poll returns here for nothing.)
                // SAFETY: `exit_info` is an aligned u64 that other threads
                // only access atomically (see `Running`).
                unsafe { AtomicU64::from_ptr(&mut state.exit_info) }
                    .fetch_and(!EXIT_INFO_INTERRUPT, Ordering::AcqRel);
                return Exit::Interrupted;
            }
            let generation = INVAL_GEN.load(Ordering::Acquire);
            if generation != self.seen_gen {
                self.catch_up(generation);
            }
            let pc = state.pc;
            // One index lookup per dispatch (a second one here was a
            // visible cost of starting cc1: 300k dispatches).
            let mut found = self.cache.get(&pc);
            if found.is_some_and(|e| self.due_for_compile(e)) {
                self.promote(pc);
                found = self.cache.get(&pc);
            }
            let mut interpreted = false;
            let step = match found {
                Some(Entry {
                    region: Some(r), ..
                }) => {
                    let entry = r.code.entry;
                    self.ibtc.set_after_miss(pc, r.code.body);
                    self.run_compiled(entry, state)
                }
                Some(Entry {
                    compiled: Some(code),
                    ..
                }) => {
                    let entry = code.entry_fn();
                    // Keep the indirect-branch table on the code that
                    // actually runs (entries are overwritten by collisions).
                    self.ibtc.set_after_miss(pc, code.body());
                    self.run_compiled(entry, state)
                }
                Some(Entry {
                    ir: Ir::Lifted(block, _),
                    compiled: None,
                    ..
                }) => {
                    self.insns += u64::from(block.guest_insns);
                    self.dispatches[0] += 1;
                    interpreted = true;
                    let block = Arc::as_ptr(block);
                    // SAFETY: the block stays in the cache while it runs
                    // (invalidation happens between blocks); it was lifted
                    // for A64State offsets and `state` is a valid,
                    // exclusively borrowed A64State.
                    Step::Block(unsafe {
                        self.interp.run(&*block, state as *mut A64State as *mut u8)
                    })
                }
                // (A stored block is always installed with its code; one
                // without would be translated again.)
                Some(Entry {
                    ir: Ir::Stored { .. },
                    compiled: None,
                    ..
                })
                | None => match self.translate(pc) {
                    Some((Some(entry), _)) => self.run_compiled(entry, state),
                    Some((None, block)) => {
                        // (Only a block lifted here comes back without code.)
                        debug_assert!(!block.is_null());
                        interpreted = true;
                        // SAFETY: as above.
                        Step::Block(unsafe {
                            self.interp.run(&*block, state as *mut A64State as *mut u8)
                        })
                    }
                    None => return Exit::FetchFault,
                },
            };
            if interpreted
                && self.interp_runs > 0
                && let Some(e) = self.cache.get_mut(&pc)
            {
                e.runs += 1;
            }
            // Entries other PCs keep taking (see `ibtc`).
            if self.ibtc.outgrown_by(self.cache.len()) {
                self.grow_ibtc();
            }
            // SAFETY: `exit_info` is an aligned u64 that other threads
            // only access atomically (see `Running`).
            let info = unsafe { AtomicU64::from_ptr(&mut state.exit_info) };
            let bits = info.load(Ordering::Acquire);
            if bits & EXIT_INFO_INVALIDATE != 0 {
                info.fetch_and(!EXIT_INFO_INVALIDATE, Ordering::AcqRel);
                for addr in take_pending_invalidations() {
                    self.invalidate(addr & !63, 64);
                }
            }
            if bits & EXIT_INFO_REGION_READY != 0 {
                info.fetch_and(!EXIT_INFO_REGION_READY, Ordering::AcqRel);
                self.collect();
            }
            if bits & EXIT_INFO_INTERRUPT != 0 {
                // `interrupt` itself is checked at the top of the loop.
                info.fetch_and(!EXIT_INFO_INTERRUPT, Ordering::AcqRel);
            }
            let result = match step {
                Step::Block(r) => r,
                Step::Hot(at) => {
                    state.pc = at;
                    self.tier_up(at);
                    continue;
                }
                Step::Replay {
                    from,
                    access,
                    passes,
                } => self.replay(state, from, access, passes),
            };
            match result {
                BlockResult::Next(next) => state.pc = next,
                BlockResult::Fault { pc, fault } => {
                    state.pc = pc;
                    return Exit::MemoryFault {
                        addr: fault.addr,
                        write: fault.write,
                    };
                }
                BlockResult::Exit(reason, at) => {
                    state.pc = at;
                    return match reason {
                        ExitReason::Syscall => Exit::Syscall,
                        ExitReason::Breakpoint(imm) => Exit::Breakpoint { imm },
                        ExitReason::Undefined { insn, unallocated } => {
                            if self.options.log_unimplemented {
                                diag!(
                                    "xarch: SIGILL at {at:#x}: {}",
                                    xarch_a64::lift::describe(insn)
                                );
                            }
                            Exit::Undefined { insn, unallocated }
                        }
                    };
                }
            }
        }
    }

    fn run_compiled(&mut self, entry: EntryFn, state: &mut A64State) -> Step {
        self.dispatches[1] += 1;
        self.jit_ctx.kind = KIND_NEXT;
        if let Some(code) = &self.code {
            code.activate();
        }
        // SAFETY: the code (and every block chained from it) was compiled
        // for A64State from blocks kept alive by the cache, and the slot
        // array has MAX_SLOTS entries.
        let next = unsafe {
            entry.call(
                state as *mut A64State as *mut u8,
                self.slots.as_mut_ptr(),
                &mut self.jit_ctx,
            )
        };
        xarch_jit::CodeCache::deactivate();
        Step::Block(match self.jit_ctx.kind {
            KIND_NEXT => BlockResult::Next(next),
            KIND_HOT => return Step::Hot(next),
            // The block that exited may be a chained successor of the one
            // called: look its terminator up by the PC it reported.
            KIND_EXIT => {
                let at = self.jit_ctx.fault_pc;
                let exit = |t: &Terminator| match t {
                    Terminator::Exit { reason, pc } => Some((*reason, *pc)),
                    _ => None,
                };
                let found = match self.cache.get(&at) {
                    Some(Entry {
                        ir: Ir::Lifted(b, _),
                        ..
                    }) => exit(&b.term),
                    Some(Entry {
                        ir: Ir::Stored { .. },
                        ..
                    }) => self.stored_exits.get(&at).copied(),
                    // A block inside a region whose own entry is gone.
                    None => self
                        .cache
                        .values()
                        .filter_map(|e| e.region.as_ref())
                        .flat_map(|r| r.blocks.iter())
                        .find(|b| b.start == at)
                        .and_then(|b| exit(&b.term)),
                };
                match found {
                    Some((reason, pc)) => BlockResult::Exit(reason, pc),
                    None => unreachable!("exit kind from a block without an exit"),
                }
            }
            _ if self.jit_ctx.fault_status & xarch_jit::FAULT_REPLAY != 0 => {
                let through_loop = self.jit_ctx.fault_status & xarch_jit::FAULT_REPLAY_PASSES != 0;
                return Step::Replay {
                    from: self.jit_ctx.fault_pc,
                    access: self.jit_ctx.opt_scratch,
                    passes: if through_loop {
                        self.jit_ctx.replay_passes
                    } else {
                        0
                    },
                };
            }
            _ => BlockResult::Fault {
                pc: self.jit_ctx.fault_pc,
                fault: xarch_ir::guest_mem::Fault {
                    addr: self.jit_ctx.fault_addr,
                    write: self.jit_ctx.fault_status & 2 != 0,
                },
            },
        })
    }

    /// After region code faulted at the access at `access` with the guest
    /// state that of the earlier instruction `from`, having come back to
    /// `from` `passes` times since (a loop's start): interprets from
    /// `from`, lifted afresh, back to `from` that many times and then
    /// until the block holding the access has run (the access faults
    /// there exactly as the reference says, or, if another thread changed
    /// memory meanwhile, the program goes on as it would have), and
    /// returns how the last block ended. Nothing the region did since
    /// `from` was visible, so stopping at any block boundary is exact;
    /// the count only makes the replay end at the faulting pass.
    fn replay(&mut self, state: &mut A64State, from: u64, access: u64, passes: u64) -> BlockResult {
        self.replays += 1;
        let mut pc = from;
        let mut stop = xarch_jit::opt::ReplayStop::new(from, access, passes);
        for _ in 0..stop.max_blocks(MAX_REPLAY_BLOCKS) {
            let Some(mut block) = self.lift(pc) else {
                // Code no longer there: the dispatcher reports the fetch.
                return BlockResult::Next(pc);
            };
            self.simplify(&mut block);
            self.insns += u64::from(block.guest_insns);
            // SAFETY: the block was just lifted for A64State offsets and
            // `state` is a valid, exclusively borrowed A64State.
            match unsafe { self.interp.run(&block, state as *mut A64State as *mut u8) } {
                BlockResult::Next(next) if stop.stops_after(block.start, block.end, next) => {
                    return BlockResult::Next(next);
                }
                BlockResult::Next(next) => pc = next,
                r => return r,
            }
        }
        BlockResult::Next(pc)
    }

    /// Links the exits of newly compiled `code` at `pc` to compiled
    /// successors, and exits waiting for `pc` to it; makes it a target of
    /// indirect branches.
    fn link(&mut self, pc: u64, code: &CompiledBlock) {
        self.link_exits(pc, code.body, &code.exits);
    }

    /// [`Engine::link`] for code at `body` with these exits.
    fn link_exits(&mut self, pc: u64, body: u64, exits: &[xarch_jit::baseline::Exit]) {
        // (Entering only the blocks the dispatcher runs, the targets of
        // indirect branches after their first miss, made cc1 4% slower.)
        self.ibtc.set(pc, body);
        for exit in exits {
            let (next, target) = self.cache.push_link(exit.target, self.links.next_node());
            if let Some(body) = target.and_then(Entry::body) {
                // SAFETY: the target is live in this engine's code cache.
                unsafe { exit.link(body) };
            }
            self.links.push(*exit, next);
        }
        for exit in self.links.list(self.cache.links_head(pc), pc) {
            // SAFETY: as above; the code was just installed.
            unsafe { exit.link(body) };
        }
    }

    /// Forgets translations of guest code in `[start, start+len)`, after
    /// munmap/mprotect/`IC IVAU` or a write to code, in this engine now
    /// and in every other engine of the process before its next block.
    pub fn invalidate(&mut self, start: u64, len: u64) {
        let mut log = inval_log();
        let generation = INVAL_GEN.load(Ordering::Relaxed) + 1;
        log.push_back((generation, start, len));
        if log.len() > INVAL_LOG_MAX {
            log.pop_front();
        }
        INVAL_GEN.store(generation, Ordering::Release);
        drop(log);
        Running::notify_others(self.running);
        if self.seen_gen + 1 == generation {
            self.seen_gen = generation;
        }
        self.drop_range(start, len);
    }

    /// Drops the translations overlapping `[start, start+len)`, and every
    /// way compiled code could still reach them: exits linked straight into
    /// them are unlinked and their indirect-branch table entries cleared.
    fn drop_range(&mut self, start: u64, len: u64) {
        let end = start.saturating_add(len);
        if !self.cache.may_have_code(start, end) {
            return;
        }
        let links = &self.links;
        let table = &mut self.ibtc;
        let mut dropped = 0;
        self.cache.retain(|pc, e, head| {
            let keep = (e.end() <= start || e.start() >= end)
                && !e.region.as_ref().is_some_and(|r| r.overlaps(start, end));
            if !keep {
                dropped += e.region.is_some() as u64;
                for exit in links.list(head, *pc) {
                    // SAFETY: the cells live in this engine's code cache.
                    unsafe { exit.unlink() };
                }
                table.remove(*pc);
            }
            keep
        });
        self.tier_stats.dropped += dropped;
    }

    /// Applies the invalidations other engines published since this one
    /// last looked.
    fn catch_up(&mut self, generation: u64) {
        let ranges: Option<Vec<(u64, u64)>> = {
            let log = inval_log();
            match log.front() {
                Some(&(oldest, _, _)) if oldest <= self.seen_gen + 1 => Some(
                    log.iter()
                        .filter(|&&(g, _, _)| g > self.seen_gen && g <= generation)
                        .map(|&(_, s, l)| (s, l))
                        .collect(),
                ),
                _ => None,
            }
        };
        match ranges {
            Some(r) => {
                for (s, l) in r {
                    self.drop_range(s, l);
                }
            }
            // Too far behind: start over.
            None => self.flush(),
        }
        self.seen_gen = generation;
    }

    /// To be called first by the host SIGSEGV/SIGBUS handler: if the fault
    /// is a guest memory access, arranges for it to be reported as
    /// [`Exit::MemoryFault`] and returns true.
    ///
    /// # Safety
    /// `uc` must be the `ucontext_t` the kernel passed to the handler.
    pub unsafe fn handle_host_fault(uc: *mut libc::ucontext_t, fault_addr: u64) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe {
            xarch_ir::guest_mem::fixup(uc, fault_addr)
                || xarch_jit::cache::fixup_inline_access(uc, fault_addr)
                || xarch_jit::opt::redirect_fault(uc, fault_addr)
        }
    }

    /// Forgets every translation (after execve-like events).
    pub fn flush(&mut self) {
        self.ibtc.clear_all();
        for exit in self.links.all() {
            // SAFETY: the cells live in this engine's code cache.
            unsafe { exit.unlink() };
        }
        self.tier_stats.dropped +=
            self.cache.values().filter(|e| e.region.is_some()).count() as u64;
        self.cache.clear();
    }

    /// The block at `pc` became hot: compile a region from it, or make sure
    /// it does not ask again if that fails.
    fn tier_up(&mut self, pc: u64) {
        let Some(entry) = self.cache.get(&pc) else {
            return;
        };
        if entry.tier != Tier::Baseline {
            // Already decided (a link cell or table entry that still led
            // to the baseline body): keep quiet for another 2^32 runs.
            if let Some(c) = entry.counter {
                tier::set_counter(c, u32::MAX);
            }
            return;
        }
        if self.compiler_panicked {
            self.decline(pc, "region compiler disabled after a panic".into());
            return;
        }
        let resets = self.resets;
        let blocks = self.form_region(pc);
        if self.resets != resets || !self.cache.contains_key(&pc) {
            // The cache was reset while lifting successors: start over
            // when the block gets hot again.
            return;
        }
        if self.code.is_none() {
            return;
        }
        // A region without a loop runs its blocks once per entry (a block
        // counts at any branch backwards: also a tail call, or a jump to
        // code shared after a call), and its stub costs more than it
        // gains: SQLite's hottest regions were glibc's malloc, free and
        // mutex functions, entered and left at every call (its inserts
        // 25% faster without them). At threshold 0 every region compiles
        // (for testing the optimizing tier).
        if self.hot_threshold != Some(0) {
            let region: Vec<RegionBlock<'_>> = blocks
                .iter()
                .map(|(b, _)| RegionBlock::from(&**b))
                .collect();
            if !xarch_jit::opt::loops_through_entry(&region, chain_config()) {
                self.decline(pc, "no loop through its entry".into());
                return;
            }
        }
        let blocks = match self.queue_region(pc, blocks) {
            None => return,
            Some(blocks) => blocks,
        };
        let Some(code) = self.code.as_mut() else {
            return;
        };
        let region_blocks: Vec<RegionBlock<'_>> = blocks
            .iter()
            .map(|(b, _)| RegionBlock::from(&**b))
            .collect();
        let t0 = std::time::Instant::now();
        let chain = chain_config();
        let compiler = self.region_compiler;
        // A panic in the region compiler is a bug in it, not in the guest:
        // keep the baseline code and go on.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            compiler(&region_blocks, code, chain)
        }))
        .unwrap_or_else(|p| {
            // Its state may be inconsistent now (Cranelift's builder
            // context is): do not call it again in this thread.
            self.compiler_panicked = true;
            Err(OptError::Codegen(format!("panic: {}", panic_message(&*p))))
        });
        self.tier_stats.compile_time += t0.elapsed();
        drop(region_blocks);
        self.finish_region(pc, blocks, result);
    }

    /// Hands the region at `pc` to the compiler thread and marks the entry
    /// pending; gives the blocks back when the region is to be compiled
    /// here (no background compilation, or no thread could be started).
    fn queue_region(
        &mut self,
        pc: u64,
        blocks: Vec<(Arc<Block>, u64)>,
    ) -> Option<Vec<(Arc<Block>, u64)>> {
        if !self.options.background_compile
            || self.options.backend != Backend::Tiered
            || self.no_compiler_thread
        {
            return Some(blocks);
        }
        // The region's other blocks keep running as baseline code until
        // it arrives: they must not start overlapping regions of their
        // own meanwhile (see `collect`).
        self.hold_counters(&blocks[1..], u32::MAX);
        let job = background::Job {
            pc,
            blocks,
            chain: chain_config(),
            mailbox: Arc::clone(&self.mailbox),
        };
        if let Err(job) = background::submit(job) {
            // No thread to compile on (resource limits): compile here from
            // now on, and say so in the statistics.
            self.no_compiler_thread = true;
            *self
                .tier_stats
                .failures
                .entry("no compiler thread (compiled on the guest thread)".into())
                .or_default() += 1;
            if let Some(t) = self.hot_threshold {
                self.hold_counters(&job.blocks[1..], t.max(1));
            }
            return Some(job.blocks);
        }
        self.outstanding += 1;
        if let Some(entry) = self.cache.get_mut(&pc) {
            entry.tier = Tier::Pending;
            if let Some(c) = entry.counter {
                tier::set_counter(c, u32::MAX);
            }
        }
        if !self.watching && self.running != 0 {
            self.watch(true);
        }
        None
    }

    /// Sets the execution counters of the baseline entries of `blocks`
    /// (those still current and not tiered up) to `value`.
    fn hold_counters(&mut self, blocks: &[(Arc<Block>, u64)], value: u32) {
        for (b, serial) in blocks {
            if let Some(e) = self.cache.get(&b.start)
                && e.serial == *serial
                && e.tier == Tier::Baseline
                && let Some(c) = e.counter
            {
                tier::set_counter(c, value);
            }
        }
    }

    /// Makes the mailbox set `EXIT_INFO_REGION_READY` in the running
    /// guest state when regions arrive (`on`), or stop doing so.
    fn watch(&mut self, on: bool) {
        let exit_info = (self.running + xarch_a64::state::EXIT_INFO as usize) as *mut u64;
        self.mailbox
            .watch((on && self.running != 0).then_some(exit_info));
        self.watching = on && self.running != 0;
    }

    /// Installs the regions the compiler thread finished, unless the code
    /// they were compiled from has been dropped since (then the entry may
    /// tier up again).
    fn collect(&mut self) {
        for done in self.mailbox.take() {
            self.outstanding -= 1;
            // Runs of the other blocks that do not enter the region
            // through its entry count again.
            if let Some(t) = self.hot_threshold {
                self.hold_counters(&done.blocks[1..], t.max(1));
            }
            self.tier_stats.compile_time += done.compile_time;
            let current = done.blocks.iter().all(|(b, serial)| {
                self.cache
                    .get(&b.start)
                    .is_some_and(|e| e.serial == *serial)
            });
            if !current {
                if let Some(e) = self.cache.get_mut(&done.pc)
                    && e.tier == Tier::Pending
                {
                    e.tier = Tier::Baseline;
                    if let (Some(c), Some(t)) = (e.counter, self.hot_threshold) {
                        tier::set_counter(c, t.max(1));
                    }
                }
                continue;
            }
            let result = match (done.result, self.code.as_mut()) {
                (Ok(code), Some(cache)) => {
                    xarch_jit::opt::install_region(&code, cache, chain_config())
                }
                (Ok(_), None) => continue,
                (Err(e), _) => Err(e),
            };
            self.finish_region(done.pc, done.blocks, result);
        }
        if self.outstanding == 0 && self.watching {
            self.watch(false);
        }
    }

    /// Installs a compiled region for the entry at `pc` (or records why
    /// there is none).
    fn finish_region(
        &mut self,
        pc: u64,
        blocks: Vec<(Arc<Block>, u64)>,
        result: Result<xarch_jit::opt::CompiledRegion, OptError>,
    ) {
        let blocks: Vec<Arc<Block>> = blocks.into_iter().map(|(b, _)| b).collect();
        let region = match result {
            Ok(r) => r,
            Err(OptError::CacheFull) => {
                // Start over; the block tiers up again once hot.
                self.reset_code();
                return;
            }
            Err(e) => {
                let why = match &e {
                    OptError::Unsupported(what) => format!("unsupported: {what}"),
                    e => e.to_string(),
                };
                self.decline(pc, why);
                return;
            }
        };
        if !self.cache.contains_key(&pc) {
            return;
        }
        self.tier_stats.compiled += 1;
        self.tier_stats.blocks += blocks.len() as u64;
        let body = region.body;
        for exit in &region.exits {
            let (next, target) = self.cache.push_link(exit.target, self.links.next_node());
            if let Some(t) = target.and_then(Entry::body) {
                // SAFETY: the cell is in the region just installed and the
                // target is live in this engine's code cache.
                unsafe { exit.link(t) };
            }
            self.links.push(*exit, next);
        }
        let entry = self.cache.get_mut(&pc).expect("checked above");
        entry.tier = Tier::Region;
        entry.region = Some(Box::new(Region {
            code: region,
            blocks,
        }));
        if let Some(c) = entry.counter {
            tier::set_counter(c, u32::MAX);
        }
        for exit in self.links.list(self.cache.links_head(pc), pc) {
            // SAFETY: the cells live in this engine's code cache and the
            // region was just installed in it.
            unsafe { exit.link(body) };
        }
        self.ibtc.repoint(pc, body);
    }

    /// Keeps the baseline code of the entry at `pc` for good.
    fn decline(&mut self, pc: u64, why: String) {
        *self.tier_stats.failures.entry(why).or_default() += 1;
        if let Some(entry) = self.cache.get_mut(&pc) {
            entry.tier = Tier::Failed;
            if let Some(c) = entry.counter {
                tier::set_counter(c, u32::MAX);
            }
        }
    }

    /// The blocks of a region entered at `pc`: the entry block, then the
    /// blocks its direct branches and calls reach and the return addresses
    /// of its calls, in the order of [`tier::Frontier`], that have run
    /// already (with a hot threshold of 0: lifted now) and that the
    /// optimizing tier lowers natively if they are a callee's, within the
    /// bounds of [`tier::MAX_REGION_BLOCKS`] and
    /// [`tier::MAX_REGION_INSNS`] ([`tier::MAX_LIFTED_REGION_BLOCKS`] and
    /// [`tier::MAX_LIFTED_REGION_INSNS`] when lifting ahead).
    fn form_region(&mut self, pc: u64) -> Vec<(Arc<Block>, u64)> {
        let Some(entry) = self.cache.get(&pc) else {
            return Vec::new();
        };
        let Some(first) = self.full_ir(entry, pc) else {
            return Vec::new();
        };
        let lift = self.hot_threshold == Some(0);
        let (max_blocks, max_insns) = match lift {
            true => (
                tier::MAX_LIFTED_REGION_BLOCKS,
                tier::MAX_LIFTED_REGION_INSNS,
            ),
            false => (tier::MAX_REGION_BLOCKS, tier::MAX_REGION_INSNS),
        };
        let resets = self.resets;
        let mut insns = first.guest_insns;
        let mut frontier = tier::Frontier::new(&first, chain_config().link);
        let mut blocks = vec![(first, entry.serial)];
        while let Some(c) = frontier.next() {
            if blocks.len() >= max_blocks {
                break;
            }
            let t = c.pc;
            if !self.cache.contains_key(&t) && (!lift || self.translate(t).is_none()) {
                continue;
            }
            if self.resets != resets {
                return Vec::new();
            }
            let Some(e) = self.cache.get(&t) else {
                continue;
            };
            if insns + e.guest_insns() > max_insns {
                continue;
            }
            let Some(block) = self.full_ir(e, t) else {
                continue;
            };
            // A callee's block with ops the optimizing tier would run
            // through the interpreter's definitions is slower there than
            // its baseline code (see `xarch_jit::opt::lowers_natively`).
            if c.depth > 0 && !xarch_jit::opt::lowers_natively(&block) {
                continue;
            }
            insns += block.guest_insns;
            frontier.take(&block, c);
            blocks.push((block, e.serial));
        }
        blocks
    }
}
