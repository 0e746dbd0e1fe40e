//! Loads and stores (op0 = x1x0): single registers, pairs, exclusives and
//! load-acquire/store-release, and the Advanced SIMD structure loads and
//! stores, for Armv8.0-A with FP and AdvSIMD.
//!
//! Every handler computes the address, performs the accesses in
//! architectural order and only then writes registers, so a faulting access
//! leaves the registers (including a writeback base) unchanged.
//!
//! CONSTRAINED UNPREDICTABLE choices, the same as QEMU's (checked by
//! running the instructions under qemu-aarch64):
//! - a load with writeback whose base is also a destination (`ldr x1,
//!   [x1], #8`, `ldp x0, x1, [x1, #16]!`) writes the loaded value first
//!   and the base last, so the written-back address wins;
//! - a store with writeback whose base is also the data register stores the
//!   value the register had before the writeback;
//! - a load pair with `Rt == Rt2` (also LDXP) leaves the second value;
//! - the status register of a store-exclusive may equal the data or base
//!   register: both are read before the status is written.
//!
//! The LSE atomics (CAS/CASP/SWP/LDADD…) and LDAPR are in `atomic`.
//! Not implemented: the RCpc unscaled forms (FEAT_LRCPC2), LOR
//! (LDLAR/STLLR), PAC (LDRAA/LDRAB) and MTE, none of which the presented
//! CPU advertises. SP alignment checking and the
//! alignment faults of exclusive and ordered accesses are not modelled.

mod atomic;
mod excl;
mod reg;
mod structs;

use crate::decode::{Pattern, bits};
use crate::lift::{Ctx, LiftError, LiftResult};
use crate::pat;
use xarch_ir::{Type, Value};

/// Decode table.
pub static TABLE: &[Pattern] = &[
    // Advanced SIMD load/store structures (op0 = 0x00, V = 1).
    pat!(
        "LD/ST multiple structures",
        "0x0011000x000000xxxxxxxxxxxxxxxx",
        structs::multiple
    ),
    pat!(
        "LD/ST multiple structures (post-index)",
        "0x0011001x0xxxxxxxxxxxxxxxxxxxxx",
        structs::multiple
    ),
    pat!(
        "LD/ST single structure",
        "0x0011010xx00000xxxxxxxxxxxxxxxx",
        structs::single
    ),
    pat!(
        "LD/ST single structure (post-index)",
        "0x0011011xxxxxxxxxxxxxxxxxxxxxxx",
        structs::single
    ),
    // Exclusives and ordered accesses.
    pat!(
        "LDXR/LDAXR/STXR/STLXR",
        "xx0010000x0xxxxxxxxxxxxxxxxxxxxx",
        excl::exclusive_reg
    ),
    pat!(
        "LDXP/LDAXP/STXP/STLXP",
        "1x0010000x1xxxxxxxxxxxxxxxxxxxxx",
        excl::exclusive_pair
    ),
    pat!("CASP", "0x0010000x1xxxxxxxxxxxxxxxxxxxxx", atomic::casp),
    pat!(
        "LDAR/STLR",
        "xx0010001x0xxxxx1xxxxxxxxxxxxxxx",
        excl::ordered
    ),
    pat!("LDLAR/STLLR", "xx0010001x0xxxxx0xxxxxxxxxxxxxxx", lor),
    pat!("CAS", "xx0010001x1xxxxxxxxxxxxxxxxxxxxx", atomic::cas),
    // Single registers and pairs.
    pat!(
        "LDR (literal)",
        "xx011x00xxxxxxxxxxxxxxxxxxxxxxxx",
        reg::literal
    ),
    pat!("LDAPUR/STLUR", "xx011001xx0xxxxxxxxx00xxxxxxxxxx", rcpc),
    pat!(
        "LDP/STP/LDNP/STNP",
        "xx101x0xxxxxxxxxxxxxxxxxxxxxxxxx",
        reg::pair
    ),
    pat!(
        "LDR/STR (unsigned immediate)",
        "xx111x01xxxxxxxxxxxxxxxxxxxxxxxx",
        reg::unsigned_imm
    ),
    pat!(
        "LDUR/LDR/LDTR/STUR/STR/STTR (9-bit immediate)",
        "xx111x00xx0xxxxxxxxxxxxxxxxxxxxx",
        reg::imm9
    ),
    pat!(
        "LDR/STR (register offset)",
        "xx111x00xx1xxxxxxxxx10xxxxxxxxxx",
        reg::register_offset
    ),
    pat!(
        "Atomic memory operations",
        "xx111x00xx1xxxxxxxxx00xxxxxxxxxx",
        atomic::atomic
    ),
];

/// Rt (bits 4:0).
fn rt(i: u32) -> u32 {
    bits(i, 0, 5)
}

/// Rn (bits 9:5).
fn rn(i: u32) -> u32 {
    bits(i, 5, 5)
}

/// `base + off` as an `I64` address (no op when `off` is 0).
fn offset_addr(c: &mut Ctx, base: Value, off: i64) -> Value {
    if off == 0 {
        return base;
    }
    let k = c.c64(off as u64);
    c.b.add(base, k)
}

/// LDAPUR/STLUR (FEAT_LRCPC2) are not advertised.
fn rcpc(_: &mut Ctx, _: u32) -> LiftResult {
    Err(LiftError::Unimplemented("LDAPUR/STLUR (RCpc)"))
}

/// LDLAR/STLLR (FEAT_LOR) are not in Armv8.0.
fn lor(_: &mut Ctx, _: u32) -> LiftResult {
    Err(LiftError::Unimplemented("LDLAR/STLLR (LOR)"))
}

/// The `I64` type, for brevity in the submodules.
const I64: Type = Type::I64;

#[cfg(test)]
mod tests;
