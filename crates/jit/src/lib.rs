//! Native code backends for xarch IR blocks.
//!
//! The baseline tier ([`baseline`]) translates one IR block to x86-64 in
//! about a microsecond with templates: every IR value lives in a 16-byte
//! slot, simple integer ops, guest memory accesses and the common vector
//! ops (SSE, AES-NI, PCLMULQDQ) are inline, other vector ops call
//! `xarch_ir::vector::eval` directly ([`vector`]), and every other op
//! calls the interpreter's `eval_inst`, so the semantics stay defined
//! once. Compiled code lives in a [`CodeCache`] of our own.

pub mod baseline;
pub mod cache;
mod flags;
pub mod opt;
mod perfmap;
pub use perfmap::descriptor as perf_map_descriptor;
pub mod portable;
pub mod vector;
mod x86_addr;

pub use baseline::{CompiledBlock, FAULT_REPLAY, FAULT_REPLAY_PASSES, JitCtx, compile};
pub use cache::CodeCache;
