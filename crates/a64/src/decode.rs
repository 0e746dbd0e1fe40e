//! Declarative A64 decode tables.
//!
//! Each encoding is one line: a name as in the Arm ARM, a 32-character bit
//! pattern (most significant bit first; `0`/`1` must match, any other
//! character is a field bit) and the translate function. Tables are
//! scanned in order, so a more specific pattern that overlaps a general one
//! must come first; `tests::no_unordered_overlaps` checks that overlaps are
//! deliberate.

use crate::lift::{Ctx, LiftResult};

/// A translate function for one encoding.
pub type Handler = fn(&mut Ctx, u32) -> LiftResult;

/// One line of a decode table.
pub struct Pattern {
    /// Instruction name (Arm ARM spelling).
    pub name: &'static str,
    /// Bits that must match.
    pub mask: u32,
    /// Their required values.
    pub value: u32,
    /// The translate function.
    pub handler: Handler,
}

/// Computes (mask, value) of a pattern string at compile time.
pub const fn parse_pattern(p: &str) -> (u32, u32) {
    let b = p.as_bytes();
    assert!(b.len() == 32, "A64 patterns have 32 bits");
    let mut mask = 0u32;
    let mut value = 0u32;
    let mut i = 0;
    while i < 32 {
        let bit = 31 - i as u32;
        match b[i] {
            b'0' => mask |= 1 << bit,
            b'1' => {
                mask |= 1 << bit;
                value |= 1 << bit
            }
            _ => {}
        }
        i += 1;
    }
    (mask, value)
}

/// Builds a [`Pattern`]: `pat!("ADD_imm", "x0010001...", handler)`.
#[macro_export]
macro_rules! pat {
    ($name:literal, $bits:literal, $handler:path) => {
        $crate::decode::Pattern {
            name: $name,
            mask: $crate::decode::parse_pattern($bits).0,
            value: $crate::decode::parse_pattern($bits).1,
            handler: $handler,
        }
    };
}

/// Finds the first pattern of `table` matching `insn`.
pub fn lookup(table: &'static [Pattern], insn: u32) -> Option<&'static Pattern> {
    table.iter().find(|p| insn & p.mask == p.value)
}

/// Extracts bits `lo..lo+len` of `insn`.
#[inline]
pub const fn bits(insn: u32, lo: u32, len: u32) -> u32 {
    (insn >> lo) & ((1 << len) - 1)
}

/// Extracts bit `n` of `insn` as bool.
#[inline]
pub const fn bit(insn: u32, n: u32) -> bool {
    (insn >> n) & 1 != 0
}

/// Sign-extends the low `len` bits of `x`.
#[inline]
pub const fn sext(x: u64, len: u32) -> i64 {
    ((x << (64 - len)) as i64) >> (64 - len)
}
