//! One recorded instruction execution of `cases.rs` (shared by the a64
//! crate's test and the JIT tiers' test, which run the same cases).

pub struct Case {
    pub asm: &'static str,
    pub insn: u32,
    pub v_in: [u128; 4],
    pub x_in: [u64; 4],
    pub nzcv_in: u64,
    pub fpcr: u64,
    pub mem_in: [u64; 4],
    pub v_out: [u128; 4],
    pub x_out: [u64; 4],
    pub nzcv_out: u64,
    pub fpsr_out: u64,
    pub mem_out: [u64; 4],
}
