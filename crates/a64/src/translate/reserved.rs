//! The reserved group (op0 = 0000): only UDF is defined at EL0.

use crate::decode::Pattern;
use crate::lift::{Ctx, LiftError, LiftResult};
use crate::pat;

/// Decode table.
pub static TABLE: &[Pattern] = &[pat!("UDF", "0000000000000000iiiiiiiiiiiiiiii", udf)];

/// UDF: permanently undefined; the guest gets SIGILL.
fn udf(_: &mut Ctx, _: u32) -> LiftResult {
    Err(LiftError::Unallocated)
}
