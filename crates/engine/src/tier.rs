//! Tiering: execution counters in baseline code, hot-region formation and
//! the bookkeeping of regions compiled by the optimizing tier
//! (`xarch_jit::opt`).
//!
//! A baseline block compiled with a counter returns to the dispatcher with
//! `KIND_HOT` when it has run `hot_threshold` times; the engine then forms
//! a region from it and the blocks its direct branches reach, and compiles
//! it with `xarch_jit::opt::compile_region`. On success the block's cache
//! entry runs the region and every link cell and indirect-branch table
//! entry that led to the block's baseline body leads to the region's body;
//! on failure the baseline code stays and the block is not tried again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use xarch_ir::{Block, BranchHint, Terminator};
use xarch_jit::baseline::HotCounter;
use xarch_jit::opt::CompiledRegion;

/// Executions of a baseline block before it is compiled as a region by
/// the tiered engine (`XARCH_HOT_THRESHOLD` overrides it). Since baseline
/// code keeps values in registers, regions gain little on compiler-like
/// code and the compiler thread's work is wasted there (zlib's make -j1:
/// 59.9 s wall / 98 s user at 5000, 56.1 s / 58 s at 50000); loops gain
/// the same at either (docs/ARCHITECTURE.md).
pub const DEFAULT_HOT_THRESHOLD: u32 = 50_000;

/// At most this many blocks in one region. Since regions take in their
/// loops' callees, 32 blocks and 1000 instructions cut gzip's deflate
/// loop off inside `longest_match` (entered through the stub of its own
/// regions at every call): 64 and 2000 made gzip -9 10% faster, SQLite
/// 2% and zlib's make 3% (wall-clock), for 5% more of cc1's CPU on the
/// compiler thread (A/B).
pub const MAX_REGION_BLOCKS: usize = 64;

/// At most this many guest instructions in one region.
pub const MAX_REGION_INSNS: u32 = 2000;

/// The bounds of a region formed at a hot threshold of 0 (`opt`: every
/// block forms one at its first run, lifting its successors and callees
/// ahead of time, most of which never run): a busybox process under
/// `opt` took 0.28 s before regions took in callees, 0.40 s with them at
/// 64 blocks / 2000 instructions, and compiling everything at once is
/// for testing the optimizing tier, which smaller regions do as well.
pub const MAX_LIFTED_REGION_BLOCKS: usize = 32;

/// See [`MAX_LIFTED_REGION_BLOCKS`].
pub const MAX_LIFTED_REGION_INSNS: u32 = 1000;

/// Calls a region follows into callees, at most, one inside another
/// (their blocks come after the caller's, see `Engine::form_region`).
pub const MAX_CALL_DEPTH: usize = 2;

/// Blocks of a region start within this many bytes of its entry (the
/// same few pages: a loop and the code around it, not the whole program).
pub const REGION_SPAN: u64 = 16 << 10;

/// Whether a baseline block counts its runs: only blocks that can close a
/// loop do, those ending in a branch backwards (every loop has one).
/// Counting every block cost 9% of a compiler run (a read-modify-write of
/// a counter in a 200k-entry table per block executed); a region formed
/// from a loop's latch takes in the loop through its direct branches.
/// Blocks ending in an indirect jump (interpreters' dispatch) made
/// regions of a few blocks entered and left at every dispatch, slower
/// than the baseline code they replaced: not counting them took the
/// Python loop from 1.73 to 1.46 s of CPU, xz from 5.73 to 5.65 s, Perl
/// and gzip within 3% (A/B, medians of 3).
pub fn counts(block: &Block) -> bool {
    match block.term {
        Terminator::Jump(t) => t <= block.start,
        Terminator::Branch {
            taken, not_taken, ..
        } => taken <= block.start || not_taken <= block.start,
        Terminator::JumpDyn(..) | Terminator::Exit { .. } => false,
    }
}

/// A block a region may take in: its PC, the entry of the function it
/// belongs to (the region's, or a callee's: its span is counted from
/// there) and how many calls deep it is.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// Guest PC.
    pub pc: u64,
    anchor: u64,
    /// Calls between the region's entry and this block.
    pub depth: usize,
}

/// The blocks a region is formed from, in the order it takes them in:
/// breadth first along direct branches, by call depth (the blocks of the
/// entry's own function first: a loop calling functions must not lose its
/// own blocks to its callees'), then those of its callees, then of
/// theirs. A callee's span is counted from its own entry (gzip's
/// `send_bits` is 25 KiB from the loop calling it at every symbol). The
/// address a call returns to is a candidate once a return of its callee
/// is in the region (`xarch_jit::opt` compares a return's target with
/// the region's return addresses and continues there), so no region
/// spends its budget on code after calls it cannot reach.
pub struct Frontier {
    queues: [VecDeque<Candidate>; MAX_CALL_DEPTH + 1],
    seen: HashSet<u64>,
    /// The link register's offset in the guest state (calls are known
    /// by it: `ChainConfig::link`).
    link: Option<u32>,
    /// Callees (by entry) with a return in the region.
    returning: HashSet<u64>,
    /// The return addresses of calls whose callee has no return in the
    /// region yet, by callee.
    waiting: HashMap<u64, Vec<Candidate>>,
}

impl Frontier {
    /// The frontier of a region whose first block, `first`, is already
    /// taken in; `link` is the link register's offset in the guest state
    /// (none: calls are not followed).
    pub fn new(first: &Block, link: Option<u32>) -> Frontier {
        let mut f = Frontier {
            queues: Default::default(),
            seen: HashSet::from([first.start]),
            link,
            returning: HashSet::new(),
            waiting: HashMap::new(),
        };
        let c = Candidate {
            pc: first.start,
            anchor: first.start,
            depth: 0,
        };
        f.take(first, c);
        f
    }

    /// The next block to consider (each PC once, within its span).
    pub fn next(&mut self) -> Option<Candidate> {
        loop {
            let c = self.queues.iter_mut().find_map(VecDeque::pop_front)?;
            if c.pc.abs_diff(c.anchor) <= REGION_SPAN && self.seen.insert(c.pc) {
                return Some(c);
            }
        }
    }

    fn push(&mut self, c: Candidate) {
        self.queues[c.depth].push_back(c);
    }

    /// Block `block`, candidate `c`, is in the region: its successors
    /// become candidates.
    pub fn take(&mut self, block: &Block, c: Candidate) {
        match block.term {
            Terminator::Jump(t) => match self.link.and_then(|l| block.return_address(l)) {
                Some(ret) if c.depth < MAX_CALL_DEPTH => {
                    self.push(Candidate {
                        pc: t,
                        anchor: t,
                        depth: c.depth + 1,
                    });
                    let after = Candidate { pc: ret, ..c };
                    if self.returning.contains(&t) {
                        self.push(after);
                    } else {
                        self.waiting.entry(t).or_default().push(after);
                    }
                }
                // Too deep: the call leaves the region.
                Some(_) => {}
                None => self.push(Candidate { pc: t, ..c }),
            },
            Terminator::Branch {
                taken, not_taken, ..
            } => {
                self.push(Candidate { pc: taken, ..c });
                self.push(Candidate { pc: not_taken, ..c });
            }
            // A return of the callee entered at `c.anchor` (one of the
            // entry's own function leaves the region).
            Terminator::JumpDyn(_, BranchHint::Return) if c.depth > 0 => {
                if self.returning.insert(c.anchor) {
                    for after in self.waiting.remove(&c.anchor).unwrap_or_default() {
                        self.push(after);
                    }
                }
            }
            Terminator::JumpDyn(..) | Terminator::Exit { .. } => {}
        }
    }
}

/// Sets a counter (for example so that a block that failed to tier up
/// stays cheap: it will not come back for 2^32 runs).
pub fn set_counter(c: HotCounter, value: u32) {
    // SAFETY: counters are words of the engine's code cache
    // (`CodeCache::alloc_counter`), valid until it is reset, after which
    // no entry keeps one; only the engine's own thread runs the code
    // that decrements them, and not while the engine runs.
    unsafe { AtomicU32::from_ptr(c.0.as_ptr()).store(value, Ordering::Relaxed) };
}

/// Where a cache entry is on its way up the tiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Baseline code (counting, if the engine tiers up).
    Baseline,
    /// The region compiler declined this entry: baseline for good.
    Failed,
    /// A region from this entry is being compiled in the background.
    Pending,
    /// The entry runs a region.
    Region,
}

/// A compiled region and the blocks it was compiled from (kept alive as
/// long as its code may run).
pub struct Region {
    /// The code.
    pub code: CompiledRegion,
    /// The IR of its blocks, entry first.
    pub blocks: Vec<Arc<Block>>,
}

impl Region {
    /// Whether the region was compiled from guest code in `[start, end)`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.code
            .guest_ranges
            .iter()
            .any(|&(s, l)| s < end && s.saturating_add(l) > start)
            || self.blocks.iter().any(|b| b.start < end && b.end > start)
    }
}

/// What tiering did, for `XARCH_STATS=1`.
#[derive(Default)]
pub struct TierStats {
    /// Regions compiled and installed.
    pub compiled: u64,
    /// Blocks in those regions.
    pub blocks: u64,
    /// Time spent in the region compiler (successes and failures).
    pub compile_time: Duration,
    /// Regions dropped by invalidation or cache resets.
    pub dropped: u64,
    /// Failed compilations by reason.
    pub failures: HashMap<String, u64>,
}

impl TierStats {
    /// Whether anything happened worth reporting.
    pub fn any(&self) -> bool {
        self.compiled > 0 || !self.failures.is_empty()
    }

    /// One report for stderr.
    pub fn report(&self) -> String {
        let mut s = format!(
            "xarch: regions compiled: {} ({} blocks), compile time {:.3} s, dropped {}",
            self.compiled,
            self.blocks,
            self.compile_time.as_secs_f64(),
            self.dropped
        );
        let mut f: Vec<_> = self.failures.iter().collect();
        f.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (why, n) in f {
            s += &format!("\nxarch: region failures: {n} × {why}");
        }
        s
    }
}
