//! Native code backends for xarch IR blocks.
//!
//! The baseline tier ([`baseline`]) translates one IR block to x86-64 in
//! about a microsecond with templates: every IR value lives in a 16-byte
//! slot, simple integer ops and guest memory accesses are inline, and
//! every other op calls the interpreter's `eval_inst`, so the semantics
//! stay defined once. Compiled code lives in a [`CodeCache`] of our own.

pub mod baseline;
pub mod cache;
pub mod opt;
mod perfmap;
pub mod vector;

pub use baseline::{CompiledBlock, JitCtx, compile};
pub use cache::CodeCache;
