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

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use xarch_ir::{Block, Terminator};
use xarch_jit::baseline::HotCounter;
use xarch_jit::opt::CompiledRegion;

/// Executions of a baseline block before it is compiled as a region by
/// the tiered engine (`XARCH_HOT_THRESHOLD` overrides it). Since baseline
/// code keeps values in registers, regions gain little on compiler-like
/// code and the compiler thread's work is wasted there (zlib's make -j1:
/// 59.9 s wall / 98 s user at 5000, 56.1 s / 58 s at 50000); loops gain
/// the same at either (docs/ARCHITECTURE.md).
pub const DEFAULT_HOT_THRESHOLD: u32 = 50_000;

/// At most this many blocks in one region.
pub const MAX_REGION_BLOCKS: usize = 32;

/// At most this many guest instructions in one region.
pub const MAX_REGION_INSNS: u32 = 1000;

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

/// The successors of a block that a region may include: targets of
/// direct branches (a `BL`'s target is a `Jump`).
pub fn successors(block: &Block) -> impl Iterator<Item = u64> {
    let (a, b) = match block.term {
        Terminator::Jump(t) => (Some(t), None),
        Terminator::Branch {
            taken, not_taken, ..
        } => (Some(taken), Some(not_taken)),
        Terminator::JumpDyn(..) | Terminator::Exit { .. } => (None, None),
    };
    a.into_iter().chain(b)
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
