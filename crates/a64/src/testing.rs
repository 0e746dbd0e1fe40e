//! Running short instruction sequences for tests: lift with the real
//! frontend, verify the IR, execute with the reference interpreter.

use crate::lift::lift_block;
use crate::state::A64State;
use xarch_ir::{BlockResult, ExitReason, Interpreter};

/// Runs `code` (instruction words) with `state` until control leaves the
/// sequence (falls off its end or branches outside it) or an exit
/// happens. Returns the exit reason, if any; `state.pc` is where it stopped.
pub fn run(state: &mut A64State, code: &[u32]) -> Option<ExitReason> {
    let base = code.as_ptr() as u64;
    let end = base + 4 * code.len() as u64;
    let mut interp = Interpreter::new();
    state.pc = base;
    let mut steps = 0;
    while state.pc >= base && state.pc < end {
        steps += 1;
        assert!(steps < 1_000_000, "test code does not terminate");
        let block = lift_block(state.pc, |a| {
            if a >= base && a < end {
                Some(code[((a - base) / 4) as usize])
            } else {
                None
            }
        })
        .expect("first instruction is inside the code");
        if let Err(e) = xarch_ir::verify::verify(&block) {
            panic!("invalid IR: {e}\n{block}");
        }
        // SAFETY: the block was lifted for A64State and the state is valid.
        match unsafe { interp.run(&block, state as *mut A64State as *mut u8) } {
            BlockResult::Next(pc) => state.pc = pc,
            BlockResult::Exit(r, pc) => {
                state.pc = pc;
                return Some(r);
            }
            BlockResult::Fault { pc, fault } => {
                panic!("guest memory fault at {:#x} (pc {pc:#x})", fault.addr)
            }
        }
    }
    None
}

/// Runs one instruction on a state where X`i` = `regs[i]`, returning the
/// state after.
pub fn run1(insn: u32, regs: &[(u32, u64)]) -> A64State {
    let mut s = A64State::default();
    for &(r, v) in regs {
        if r == 31 {
            s.sp = v;
        } else {
            s.x[r as usize] = v;
        }
    }
    let exit = run(&mut s, &[insn]);
    assert_eq!(exit, None, "instruction {insn:#010x} did not execute");
    s
}

/// A loop calling a function from two sites, for tests of regions that
/// take in callees:
/// ```text
/// 0  loop: bl f; add x3, x3, x0; bl f; sub x1, x1, #1; cbnz x1, loop
/// 5        svc #0
/// 6  f:    add x0, x0, #3; ldr x4, [x2], #8; add x0, x0, x4
/// 9        cmp x0, x5; b.lo 1f; mov x30, x6
/// 12 1:    ret
/// ```
pub const CALLING_LOOP: [u32; 13] = [
    0x9400_0006,
    0x8b00_0063,
    0x9400_0004,
    0xd100_0421,
    0xb5ff_ff81,
    0xd400_0001,
    0x9100_0c00,
    0xf840_8444,
    0x8b04_0000,
    0xeb05_001f,
    0x5400_0043,
    0xaa06_03fe,
    0xd65f_03c0,
];

/// `brk #0`.
pub const BRK0: u32 = 0xd420_0000;

/// `n` blocks in a row, each `add x0, x0, #1; b next`, then `brk #0`:
/// code whose every block is reached once per run, and which leaves `n`
/// in x0 (for tests of installing and chaining many blocks).
pub fn chain(n: usize) -> Vec<u32> {
    const ADD_X0_1: u32 = 0x9100_0400; // add x0, x0, #1
    const B_NEXT: u32 = 0x1400_0001; // b .+4
    let mut code: Vec<u32> = (0..n).flat_map(|_| [ADD_X0_1, B_NEXT]).collect();
    code.push(BRK0);
    code
}

/// A loop whose passes only load, with an inner loop of loads in each
/// pass: x0 walks words, x4 points at one word, x8 walks words (towards
/// unmapped memory in the fault tests), x1 counts the passes down, x7 the
/// inner iterations (3), x3 accumulates; it ends in `brk #0`. The block
/// after the inner loop starts at offset 24 (its load of x8's word).
pub const NESTED_LOADS_LOOP: [u32; 11] = [
    0xf840_8402, // 0:  ldr x2, [x0], #8
    0xd280_0067, // 4:  movz x7, #3
    0xf940_0082, // 8:  ldr x2, [x4]
    0x8b02_0063, // 12: add x3, x3, x2
    0xf100_04e7, // 16: subs x7, x7, #1
    0x54ff_ffa1, // 20: b.ne 8
    0xf840_8502, // 24: ldr x2, [x8], #8
    0xca02_0063, // 28: eor x3, x3, x2
    0xf100_0421, // 32: subs x1, x1, #1
    0x54ff_fee1, // 36: b.ne 0
    0xd420_0000, // 40: brk #0
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_basics() {
        // add x0, x1, #16
        assert_eq!(run1(0x91004020, &[(1, 5)]).x[0], 21);
        // adds w0, w1, #1 with w1 = 0xffffffff: Z and C
        let s = run1(0x31000420, &[(1, 0xffff_ffff)]);
        assert_eq!((s.x[0], s.nzcv), (0, 0x6000_0000));
        // movz x0, #0x1234, lsl #16 ; movk x0, #0x5678
        let mut s = A64State::default();
        run(&mut s, &[0xd2a24680, 0xf28acf00]);
        assert_eq!(s.x[0], 0x1234_5678);
        // ubfx x0, x1, #4, #8 = ubfm x0, x1, #4, #11
        assert_eq!(run1(0xd3442c20, &[(1, 0xabcd)]).x[0], 0xbc);
        // sbfx x0, x1, #4, #8
        assert_eq!(run1(0x93442c20, &[(1, 0xa8f0)]).x[0], 0xffff_ffff_ffff_ff8f);
        // bfi x0, x1, #8, #4 = bfm x0, x1, #56, #3
        assert_eq!(run1(0xb3780c20, &[(0, 0xffff), (1, 0x5)]).x[0], 0xf5ff);
        // and x0, x1, #0xff
        assert_eq!(run1(0x92401c20, &[(1, 0x1234)]).x[0], 0x34);
        // extr x0, x1, x2, #8
        assert_eq!(
            run1(0x93c22020, &[(1, 0x11), (2, 0x2233)]).x[0],
            0x1100_0000_0000_0022
        );
    }

    #[test]
    fn branches() {
        // cbz x0, +8 ; mov x1, #1 ; mov x2, #2
        let mut s = A64State::default();
        run(&mut s, &[0xb4000040, 0xd2800021, 0xd2800042]);
        assert_eq!((s.x[1], s.x[2]), (0, 2));
        // svc #0 exits with pc after it
        let mut s = A64State::default();
        let code = [0xd4000001];
        assert_eq!(run(&mut s, &code), Some(ExitReason::Syscall));
        assert_eq!(s.pc, code.as_ptr() as u64 + 4);
    }

    #[test]
    fn undefined_is_reported() {
        let mut s = A64State::default();
        let r = run(&mut s, &[0x0000_0000]);
        assert_eq!(
            r,
            Some(ExitReason::Undefined {
                insn: 0,
                unallocated: true
            })
        );
    }
}
