//! The execution engine: translation cache, dispatch loop and backend
//! selection. It runs guest code until something the Linux layer must
//! handle happens (a system call, an exception, a pending signal).

mod host_fault;
pub use host_fault::{SigHandler, set_sent_signal_handler};

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use xarch_a64::helpers::{EXIT_INFO_INVALIDATE, take_pending_invalidations};
use xarch_a64::state::A64State;
use xarch_ir::{Block, BlockResult, ExitReason, Interpreter, Terminator};
use xarch_jit::baseline::{ChainConfig, IBTC_ENTRIES, KIND_EXIT, KIND_NEXT, MAX_SLOTS};

/// An empty indirect-branch table entry (no guest PC is `u64::MAX`).
const IBTC_EMPTY: [u64; 2] = [u64::MAX, 0];
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
    /// The template JIT: every block compiled to x86-64 on first use.
    Baseline,
}

impl Backend {
    /// The name `--engine` accepts for this backend.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Interpreter => "interp",
            Backend::Baseline => "baseline",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "interp" | "interpreter" => Ok(Backend::Interpreter),
            "baseline" | "jit" => Ok(Backend::Baseline),
            _ => Err(format!(
                "unknown engine '{s}' (expected interp or baseline)"
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
    /// when the engine ends (`XARCH_STATS=1`).
    pub stats: bool,
}

/// Decides whether guest code at an address may be fetched (mapped and
/// executable). Supplied by the Linux layer, which owns the memory map.
pub type FetchValidator = Box<dyn Fn(u64) -> bool + Send>;

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

/// A translation cache and the code that runs it. One per guest thread;
/// invalidations reach every engine of the process.
pub struct Engine {
    options: EngineOptions,
    cache: HashMap<u64, Entry, PcHash>,
    interp: Interpreter,
    validator: Option<FetchValidator>,
    code: Option<CodeCache>,
    slots: Vec<u128>,
    jit_ctx: JitCtx,
    /// The last invalidation generation applied to this cache.
    seen_gen: u64,
    /// Exits of compiled blocks waiting for (or linked to) each target PC.
    links: HashMap<u64, Vec<xarch_jit::baseline::Exit>, PcHash>,
    /// Guest instructions run by the interpreter (for `stats`).
    insns: u64,
    /// Indirect-branch table read by compiled code (see
    /// `xarch_jit::baseline::ChainConfig::ibtc`); boxed so its address is
    /// stable.
    ibtc: Box<[[u64; 2]]>,
    /// When the engine started (for `stats`).
    started: std::time::Instant,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.options.stats && self.insns > 0 {
            let s = self.started.elapsed().as_secs_f64();
            eprintln!(
                "xarch: interpreter ran {} guest instructions in {s:.3} s ({:.1} M/s)",
                self.insns,
                self.insns as f64 / s / 1e6
            );
        }
    }
}

/// A translation: the IR (kept alive for compiled code that refers to it)
/// and its native code, if compiled.
struct Entry {
    block: Arc<Block>,
    compiled: Option<CompiledBlock>,
}

/// Hashing for guest addresses: a multiplicative hash is plenty (and much
/// cheaper than SipHash on the dispatch path).
#[derive(Clone, Copy, Default)]
struct PcHash;

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

/// Where compiled code finds the flags that stop block chaining.
fn chain_config(ibtc: &[[u64; 2]]) -> ChainConfig {
    ChainConfig {
        interrupt: xarch_a64::state::INTERRUPT as i32,
        exit_info: xarch_a64::state::EXIT_INFO as i32,
        ibtc: ibtc.as_ptr() as u64,
    }
}

/// Size of the baseline code cache; when full, all translations are
/// dropped and rebuilt on demand.
pub const CODE_CACHE_BYTES: usize = 64 << 20;

impl Engine {
    /// Creates an engine with an empty translation cache.
    pub fn new(options: EngineOptions) -> Self {
        host_fault::install();
        let code = match options.backend {
            Backend::Interpreter => None,
            Backend::Baseline => CodeCache::new(CODE_CACHE_BYTES).ok(),
        };
        Engine {
            options,
            cache: HashMap::default(),
            interp: Interpreter::new(),
            validator: None,
            code,
            slots: vec![0; MAX_SLOTS],
            jit_ctx: JitCtx::default(),
            seen_gen: INVAL_GEN.load(Ordering::Acquire),
            links: HashMap::default(),
            insns: 0,
            started: std::time::Instant::now(),
            ibtc: vec![IBTC_EMPTY; IBTC_ENTRIES].into_boxed_slice(),
        }
    }

    /// Sets the check used before reading guest code.
    pub fn set_fetch_validator(&mut self, v: FetchValidator) {
        self.validator = Some(v);
    }

    fn translate(&mut self, pc: u64) -> Option<(Option<CompiledBlock>, *const Block)> {
        let validator = &self.validator;
        let mut checked_page = u64::MAX;
        let block = xarch_a64::lift_block(pc, |addr| {
            if addr % 4 != 0 {
                return None;
            }
            let page = addr & !0xfff;
            if page != checked_page {
                if let Some(v) = validator
                    && !v(addr)
                {
                    return None;
                }
                checked_page = page;
            }
            // A guarded read: unmapped code is a fetch fault, not a crash.
            xarch_ir::guest_mem::load(addr, 4).ok().map(|w| w as u32)
        })?;
        if cfg!(debug_assertions)
            && let Err(e) = xarch_ir::verify::verify(&block)
        {
            panic!("lifter produced invalid IR: {e}\n{block}");
        }
        if self.options.dump_ir {
            eprint!("{block}");
        }
        let block = Arc::new(block);
        let compiled = match &mut self.code {
            Some(code) => match xarch_jit::compile(&block, code, chain_config(&self.ibtc)) {
                Some(c) => Some(c),
                None if block.insts.len() > MAX_SLOTS => None,
                None => {
                    // Cache full: drop every translation and start over.
                    self.cache.clear();
                    self.links.clear();
                    code.reset();
                    self.ibtc.fill(IBTC_EMPTY);
                    xarch_jit::compile(&block, code, chain_config(&self.ibtc))
                }
            },
            None => None,
        };
        if let Some(c) = &compiled {
            self.link(pc, c);
        }
        let result = (compiled.clone(), Arc::as_ptr(&block));
        self.cache.insert(pc, Entry { block, compiled });
        Some(result)
    }

    /// Runs guest code from `state.pc` until an [`Exit`] happens.
    pub fn run(&mut self, state: &mut A64State) -> Exit {
        loop {
            // A host signal handler sets the flag asynchronously.
            // SAFETY: `state.interrupt` is a valid, aligned u64.
            if unsafe { core::ptr::read_volatile(&state.interrupt) } != 0 {
                return Exit::Interrupted;
            }
            let generation = INVAL_GEN.load(Ordering::Acquire);
            if generation != self.seen_gen {
                self.catch_up(generation);
            }
            let pc = state.pc;
            let result = match self.cache.get(&pc) {
                Some(Entry {
                    compiled: Some(code),
                    ..
                }) => {
                    let entry = code.entry_fn();
                    self.run_compiled(entry, state)
                }
                Some(Entry {
                    block,
                    compiled: None,
                }) => {
                    self.insns += u64::from(block.guest_insns);
                    let block = Arc::as_ptr(block);
                    // SAFETY: the block stays in the cache while it runs
                    // (invalidation happens between blocks); it was lifted
                    // for A64State offsets and `state` is a valid,
                    // exclusively borrowed A64State.
                    unsafe { self.interp.run(&*block, state as *mut A64State as *mut u8) }
                }
                None => match self.translate(pc) {
                    Some((Some(code), _)) => self.run_compiled(code.entry_fn(), state),
                    // SAFETY: as above.
                    Some((None, block)) => unsafe {
                        self.interp.run(&*block, state as *mut A64State as *mut u8)
                    },
                    None => return Exit::FetchFault,
                },
            };
            if state.exit_info & EXIT_INFO_INVALIDATE != 0 {
                state.exit_info &= !EXIT_INFO_INVALIDATE;
                for addr in take_pending_invalidations() {
                    self.invalidate(addr & !63, 64);
                }
            }
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
                                eprintln!(
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

    fn run_compiled(
        &mut self,
        entry: xarch_jit::baseline::EntryFn,
        state: &mut A64State,
    ) -> BlockResult {
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
        match self.jit_ctx.kind {
            KIND_NEXT => BlockResult::Next(next),
            // The block that exited may be a chained successor of the one
            // called: look its terminator up by the PC it reported.
            KIND_EXIT => {
                let at = self.jit_ctx.fault_pc;
                match self.cache.get(&at).map(|e| &e.block.term) {
                    Some(Terminator::Exit { reason, pc }) => BlockResult::Exit(*reason, *pc),
                    _ => unreachable!("exit kind from a block without an exit"),
                }
            }
            _ => BlockResult::Fault {
                pc: self.jit_ctx.fault_pc,
                fault: xarch_ir::guest_mem::Fault {
                    addr: self.jit_ctx.fault_addr,
                    write: self.jit_ctx.fault_status & 2 != 0,
                },
            },
        }
    }

    /// Links the exits of newly compiled `code` at `pc` to compiled
    /// successors, and exits waiting for `pc` to it; makes it a target of
    /// indirect branches.
    fn link(&mut self, pc: u64, code: &CompiledBlock) {
        self.ibtc[((pc >> 2) as usize) % IBTC_ENTRIES] = [pc, code.body];
        for exit in &code.exits {
            if let Some(Entry {
                compiled: Some(t), ..
            }) = self.cache.get(&exit.target)
            {
                // SAFETY: the target is live in this engine's code cache.
                unsafe { exit.link(t.body) };
            }
            self.links.entry(exit.target).or_default().push(*exit);
        }
        if let Some(waiting) = self.links.get(&pc) {
            for exit in waiting {
                // SAFETY: as above; `code` was just installed.
                unsafe { exit.link(code.body) };
            }
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
        let links = &self.links;
        let ibtc = &mut self.ibtc;
        self.cache.retain(|pc, e| {
            let keep = e.block.end <= start || e.block.start >= end;
            if !keep {
                for exit in links.get(pc).into_iter().flatten() {
                    // SAFETY: the cells live in this engine's code cache.
                    unsafe { exit.unlink() };
                }
                let slot = &mut ibtc[((*pc >> 2) as usize) % IBTC_ENTRIES];
                if slot[0] == *pc {
                    *slot = IBTC_EMPTY;
                }
            }
            keep
        });
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
        self.ibtc.fill(IBTC_EMPTY);
        for exit in self.links.values().flatten() {
            // SAFETY: the cells live in this engine's code cache.
            unsafe { exit.unlink() };
        }
        self.cache.clear();
    }
}
