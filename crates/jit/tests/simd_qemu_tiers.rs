//! The SIMD&FP instructions recorded under qemu-aarch64 (the table of
//! `crates/a64/tests/simd_qemu.rs`), each lifted and run through the
//! baseline tier (with this CPU's instruction sets and with SSE2 only)
//! and the optimizing tier: registers, NZCV and FPSR must be what qemu
//! recorded.

mod common;

use common::tiers::{Engine, run};
use xarch_a64::state::A64State;
use xarch_jit::baseline::HostFeatures;

#[path = "../../a64/tests/simd/case.rs"]
mod case;
use case::Case;

#[path = "../../a64/tests/simd/cases.rs"]
mod cases;

#[test]
fn simd_and_fp_match_qemu_in_both_tiers() {
    let engines = [
        ("baseline", Engine::Baseline(HostFeatures::detect())),
        (
            "baseline (SSE2 only)",
            Engine::Baseline(HostFeatures::sse2_only()),
        ),
        ("opt", Engine::Opt),
    ];
    let mut failures = Vec::new();
    for c in cases::CASES {
        let code = [c.insn];
        let base = code.as_ptr() as u64;
        let block = xarch_a64::lift_block(base, |a| (a == base).then_some(c.insn)).expect("lifts");
        for (name, engine) in &engines {
            let mut s = A64State::default();
            s.v[..4].copy_from_slice(&c.v_in);
            s.x[..4].copy_from_slice(&c.x_in);
            s.nzcv = c.nzcv_in;
            s.fpcr = c.fpcr;
            let next = run(engine, &block, &mut s);
            let got = (&s.v[..4], &s.x[..4], s.nzcv, s.fpsr, next);
            let want = (&c.v_out[..], &c.x_out[..], c.nzcv_out, c.fpsr_out, base + 4);
            if got != want {
                failures.push(format!(
                    "{} ({:#010x}) {name}: got {got:x?}, want {want:x?}",
                    c.asm, c.insn
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences from qemu:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
