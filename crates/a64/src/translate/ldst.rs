//! Instruction group: ldst.

use crate::decode::Pattern;

/// Decode table.
pub static TABLE: &[Pattern] = &[];
