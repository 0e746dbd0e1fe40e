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
//! - When compiled code faults on a guest address, the guest state block
//!   holds the state before the faulting instruction (as in the
//!   interpreter) and `ctx` reports the fault like a baseline block.

use crate::baseline::{ChainConfig, EntryFn};
use crate::cache::CodeCache;
use xarch_ir::Block;

/// One block of a region: its guest start address and IR.
#[derive(Clone, Copy)]
pub struct RegionBlock<'a> {
    /// Guest address of the block's first instruction.
    pub pc: u64,
    /// The block's IR.
    pub block: &'a Block,
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
    let _ = (blocks, cache, chain);
    Err(OptError::Unsupported(
        "the optimizing tier is not built yet",
    ))
}
