//! Instruction group: simd.

use crate::decode::Pattern;

/// Decode table.
pub static TABLE: &[Pattern] = &[];
