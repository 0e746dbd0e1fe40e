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

/// The 32-byte memory area X5 points at.
#[repr(C, align(16))]
pub struct Mem(pub [u64; 4]);

impl Case {
    /// The case's memory as it starts, and the state it starts from (X5
    /// pointing at that memory, which must stay where it is while the
    /// instruction runs).
    pub fn start(&self) -> (Box<Mem>, xarch_a64::state::A64State) {
        let mut mem = Box::new(Mem(self.mem_in));
        let mut s = xarch_a64::state::A64State::default();
        s.v[..4].copy_from_slice(&self.v_in);
        s.x[..4].copy_from_slice(&self.x_in);
        s.x[5] = mem.0.as_mut_ptr() as u64;
        s.nzcv = self.nzcv_in;
        s.fpcr = self.fpcr;
        (mem, s)
    }

    /// What qemu recorded: V0-V3, X0-X3, NZCV, FPSR and the memory.
    pub fn want(&self) -> Outcome<'_> {
        (
            &self.v_out[..],
            &self.x_out[..],
            self.nzcv_out,
            self.fpsr_out,
            self.mem_out,
        )
    }
}

/// V0-V3, X0-X3, NZCV, FPSR and the memory after an instruction.
pub type Outcome<'a> = (&'a [u128], &'a [u64], u64, u64, [u64; 4]);

/// The [`Outcome`] of state `s` and memory `mem`.
pub fn outcome<'a>(s: &'a xarch_a64::state::A64State, mem: &Mem) -> Outcome<'a> {
    (&s.v[..4], &s.x[..4], s.nzcv, s.fpsr, mem.0)
}
