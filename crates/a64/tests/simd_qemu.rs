//! SIMD&FP instructions checked against results recorded under
//! qemu-aarch64 (see tests/simd/gen_cases.py, which regenerates the table).
//! Each case runs one instruction through the real lifter, the IR verifier
//! and the reference interpreter.

use xarch_a64::state::A64State;
use xarch_a64::testing::run;

#[path = "simd/case.rs"]
mod case;
use case::Case;

#[path = "simd/cases.rs"]
mod cases;

#[test]
fn simd_and_fp_match_qemu() {
    let mut failures = Vec::new();
    for c in cases::CASES {
        let mut s = A64State::default();
        s.v[..4].copy_from_slice(&c.v_in);
        s.x[..4].copy_from_slice(&c.x_in);
        s.nzcv = c.nzcv_in;
        s.fpcr = c.fpcr;
        if let Some(exit) = run(&mut s, &[c.insn]) {
            failures.push(format!("{}: did not execute: {exit:?}", c.asm));
            continue;
        }
        let got = (&s.v[..4], &s.x[..4], s.nzcv, s.fpsr);
        let want = (&c.v_out[..], &c.x_out[..], c.nzcv_out, c.fpsr_out);
        if got != want {
            let mut m = format!("{} ({:#010x}):", c.asm, c.insn);
            for k in 0..4 {
                if s.v[k] != c.v_out[k] {
                    m += &format!("\n   v{k} = {:#034x}, want {:#034x}", s.v[k], c.v_out[k]);
                }
                if s.x[k] != c.x_out[k] {
                    m += &format!("\n   x{k} = {:#x}, want {:#x}", s.x[k], c.x_out[k]);
                }
            }
            if s.nzcv != c.nzcv_out {
                m += &format!("\n   nzcv = {:#x}, want {:#x}", s.nzcv, c.nzcv_out);
            }
            if s.fpsr != c.fpsr_out {
                m += &format!("\n   fpsr = {:#x}, want {:#x}", s.fpsr, c.fpsr_out);
            }
            failures.push(m);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from qemu:\n{}",
        failures.len(),
        cases::CASES.len(),
        failures.join("\n")
    );
}
