//! The Armv8.1-8.4 user-level instructions xarch advertises (LSE atomics,
//! LDAPR, CRC32, crypto, the AdvSIMD saturating, by-element and estimate
//! forms, dot product, RDM) checked against results recorded under
//! qemu-aarch64 (see tests/isa/gen_cases.py, which regenerates the table
//! from tests/isa/cases_list.py). Each case runs one instruction through
//! the real lifter, the IR verifier and the reference interpreter, with X5
//! pointing at a 32-byte memory area.

use xarch_a64::testing::run;

#[path = "isa/case.rs"]
mod case;
use case::Case;

#[path = "isa/cases.rs"]
mod cases;

#[test]
fn isa_extensions_match_qemu() {
    let mut failures = Vec::new();
    for c in cases::CASES {
        let (mem, mut s) = c.start();
        if let Some(exit) = run(&mut s, &[c.insn]) {
            failures.push(format!("{}: did not execute: {exit:?}", c.asm));
            continue;
        }
        if case::outcome(&s, &mem) != c.want() {
            let mut m = format!("{} ({:#010x}):", c.asm, c.insn);
            for k in 0..4 {
                if s.v[k] != c.v_out[k] {
                    m += &format!("\n   v{k} = {:#034x}, want {:#034x}", s.v[k], c.v_out[k]);
                }
                if s.x[k] != c.x_out[k] {
                    m += &format!("\n   x{k} = {:#x}, want {:#x}", s.x[k], c.x_out[k]);
                }
                if mem.0[k] != c.mem_out[k] {
                    m += &format!("\n   mem[{k}] = {:#x}, want {:#x}", mem.0[k], c.mem_out[k]);
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
