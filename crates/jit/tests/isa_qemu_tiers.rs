//! The Armv8.1-8.4 instructions recorded under qemu-aarch64 (the table of
//! `crates/a64/tests/isa_qemu.rs`: LSE atomics, LDAPR, CRC32, crypto,
//! the newer AdvSIMD forms), each lifted and run through the baseline
//! tier and the optimizing tier with X5 pointing at a 32-byte memory
//! area: registers, NZCV, FPSR and memory must be what qemu recorded.
//! (The baseline tier has templates of its own for the atomics.)

mod common;

use common::tiers::{Engine, run};
use xarch_jit::baseline::HostFeatures;

#[path = "../../a64/tests/isa/case.rs"]
mod case;
use case::Case;

#[path = "../../a64/tests/isa/cases.rs"]
mod cases;

#[test]
fn isa_extensions_match_qemu_in_both_tiers() {
    let mut failures = Vec::new();
    let mut atomics = 0;
    for c in cases::CASES {
        let code = [c.insn];
        let base = code.as_ptr() as u64;
        let block = xarch_a64::lift_block(base, |a| (a == base).then_some(c.insn)).expect("lifts");
        let atomic = block.insts.iter().any(|i| {
            matches!(
                i.op,
                xarch_ir::Op::CmpXchg(..) | xarch_ir::Op::AtomicRmw(..)
            )
        });
        atomics += atomic as usize;
        for (name, engine) in [
            ("baseline", Engine::Baseline(HostFeatures::detect())),
            ("opt", Engine::Opt),
        ] {
            let (mem, mut s) = c.start();
            let next = run(&engine, &block, &mut s);
            let got = (case::outcome(&s, &mem), next);
            let want = (c.want(), base + 4);
            if got != want {
                failures.push(format!(
                    "{} ({:#010x}) {name}: got {got:x?}, want {want:x?}",
                    c.asm, c.insn
                ));
            }
        }
    }
    assert!(atomics >= 20, "the table has its atomics ({atomics})");
    assert!(
        failures.is_empty(),
        "{} differences from qemu:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
