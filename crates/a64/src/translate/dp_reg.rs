//! Instruction group: dp_reg.

use crate::decode::Pattern;

/// Decode table.
pub static TABLE: &[Pattern] = &[];
