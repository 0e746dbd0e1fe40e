//! Decoder robustness: a sampled sweep of the 32-bit encoding space through
//! the real lifter. No word may panic the decoder or a translate function,
//! and every block produced must pass the IR verifier. Unallocated and
//! unimplemented words are fine: they become undefined-instruction exits.

use std::panic::{AssertUnwindSafe, catch_unwind};
use xarch_a64::lift::{self, Ctx, lift_block};
use xarch_ir::{Builder, Terminator};

/// SplitMix64: a fixed-seed generator so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn word(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }
}

/// Guest address of the lifted words; page-aligned so that blocks of
/// several words are only cut by the page end.
const PC: u64 = 0x40_0000;

/// Translates `insn` alone with `translate_insn` (turned into a block and
/// verified when it succeeds), then as a one-word block with `lift_block`,
/// verified too. Returns what went wrong, if anything.
fn check_word(insn: u32) -> Result<(), String> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut ctx = Ctx {
            b: Builder::new(),
            pc: PC,
            term: None,
        };
        if lift::translate_insn(&mut ctx, insn).is_ok() {
            let term = ctx.term.take().unwrap_or(Terminator::Jump(PC + 4));
            let block = ctx.b.finish(PC, PC + 4, 1, term);
            if let Err(e) = xarch_ir::verify::verify(&block) {
                return Err(format!("translate_insn: invalid IR: {e}\n{block}"));
            }
        }
        let Some(block) = lift_block(PC, |a| (a == PC).then_some(insn)) else {
            return Err("lift_block returned no block".to_string());
        };
        if let Err(e) = xarch_ir::verify::verify(&block) {
            return Err(format!("lift_block: invalid IR: {e}\n{block}"));
        }
        if block.guest_insns != 1 || block.start != PC || block.end != PC + 4 {
            return Err(format!(
                "one-word block has guest_insns={} start={:#x} end={:#x}",
                block.guest_insns, block.start, block.end
            ));
        }
        Ok(())
    }));
    r.unwrap_or_else(|_| Err("the lifter panicked".to_string()))
}

#[test]
fn random_words_lift_and_verify() {
    let mut rng = Rng(0x5eed_a64d_ec0d_e001);
    for _ in 0..1u32 << 24 {
        let insn = rng.word();
        if let Err(e) = check_word(insn) {
            panic!("{insn:#010x}: {e}");
        }
    }
}

#[test]
fn every_top_11_bits_with_random_low_bits() {
    let mut rng = Rng(0x0dd5_eed5_0fa6_4000);
    for top in 0..1u32 << 11 {
        for _ in 0..256 {
            let insn = (top << 21) | (rng.word() & 0x1f_ffff);
            if let Err(e) = check_word(insn) {
                panic!("{insn:#010x}: {e}");
            }
        }
    }
}

/// Pages of random code lifted as multi-instruction blocks: exercises
/// block building across instructions, the undo of an instruction that
/// fails after others, and the block length and page limits.
#[test]
fn random_code_pages_lift_and_verify() {
    const WORDS: usize = 1024; // one 4 KiB page
    let mut blocks = 0u32;
    for seed in 0..512u64 {
        let mut rng = Rng(seed);
        // Half of the words are forced into the data-processing (register)
        // group, where most encodings lift, so that blocks grow long.
        let words: Vec<u32> = (0..WORDS)
            .map(|_| {
                let w = rng.word();
                if w & 1 == 0 {
                    (w & !(0b111 << 25)) | (0b101 << 25)
                } else {
                    w
                }
            })
            .collect();
        let fetch = |a: u64| {
            (PC..PC + 4 * WORDS as u64)
                .contains(&a)
                .then(|| words[((a - PC) / 4) as usize])
        };
        let mut pc = PC;
        while pc < PC + 4 * WORDS as u64 {
            let r = catch_unwind(AssertUnwindSafe(|| lift_block(pc, fetch)));
            let block = match r {
                Ok(Some(b)) => b,
                Ok(None) => panic!("seed {seed}: no block at {pc:#x}"),
                Err(_) => panic!("seed {seed}: lift_block panicked at {pc:#x}"),
            };
            if let Err(e) = xarch_ir::verify::verify(&block) {
                panic!("seed {seed} pc {pc:#x}: invalid IR: {e}\n{block}");
            }
            assert!(block.start == pc && block.end > pc);
            assert!(block.end <= PC + 4 * WORDS as u64);
            assert!((1..=lift::MAX_BLOCK_INSNS).contains(&block.guest_insns));
            assert_eq!(block.end - block.start, 4 * block.guest_insns as u64);
            pc = block.end;
            blocks += 1;
        }
    }
    assert!(blocks >= 512);
}
