//! Translate functions, one module per instruction group of the Arm ARM
//! "A64 instruction set encoding" chapter. Each module exports a decode
//! `TABLE`; `table_for` picks the group from bits 28:25 (op0).

use crate::decode::Pattern;

pub mod branch;
pub mod dp_imm;
pub mod dp_reg;
pub mod ldst;
pub mod reserved;
pub mod simd;

/// The decode table of the instruction group `insn` belongs to.
pub fn table_for(insn: u32) -> &'static [Pattern] {
    let op0 = (insn >> 25) & 0xf;
    match op0 {
        0b0000 => reserved::TABLE,
        0b1000 | 0b1001 => dp_imm::TABLE,
        0b1010 | 0b1011 => branch::TABLE,
        0b0100 | 0b0110 | 0b1100 | 0b1110 => ldst::TABLE,
        0b0101 | 0b1101 => dp_reg::TABLE,
        0b0111 | 0b1111 => simd::TABLE,
        // 0001, 0011 unallocated; 0010 SVE (not advertised).
        _ => &[],
    }
}
