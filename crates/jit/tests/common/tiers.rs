//! Running one lifted A64 block once in a JIT tier, for the tests that
//! check the qemu-recorded instruction tables in both tiers.

use xarch_a64::state::A64State;
use xarch_ir::Block;
use xarch_jit::baseline::{ChainConfig, HostFeatures, KIND_NEXT, MAX_SLOTS, compile_with};
use xarch_jit::opt::{RegionBlock, compile_region};
use xarch_jit::{CodeCache, JitCtx};

const CHAIN: ChainConfig = ChainConfig {
    exit_info: xarch_a64::state::EXIT_INFO as i32,
    ibtc: false,
    flags: None,
    link: None,
    // As the engine: instructions on SP, X0 and X2 run with them in
    // registers.
    pinned: [
        Some(xarch_a64::state::SP),
        Some(xarch_a64::state::x_offset(0)),
        Some(xarch_a64::state::x_offset(2)),
    ],
};

/// A tier to run in.
pub enum Engine {
    /// The baseline tier, with templates for these host instruction sets.
    Baseline(HostFeatures),
    /// The block as a region of the optimizing tier.
    Opt,
}

/// Runs `block` once from `s` on `engine`; the next PC.
pub fn run(engine: &Engine, block: &Block, s: &mut A64State) -> u64 {
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let mut slots = vec![0u128; MAX_SLOTS];
    let mut ctx = JitCtx::for_chain(CHAIN);
    let st = s as *mut A64State as *mut u8;
    // SAFETY: the block was lifted for A64State; the cache, slots and
    // block outlive the call.
    let next = unsafe {
        match engine {
            Engine::Baseline(f) => compile_with(block, &mut cache, CHAIN, None, *f)
                .expect("compiles")
                .call(st, slots.as_mut_ptr(), &mut ctx),
            Engine::Opt => {
                let rb = [RegionBlock {
                    pc: block.start,
                    block,
                }];
                compile_region(&rb, &mut cache, CHAIN)
                    .expect("region compiles")
                    .entry
                    .call(st, slots.as_mut_ptr(), &mut ctx)
            }
        }
    };
    assert_eq!(ctx.kind, KIND_NEXT, "{block}");
    next
}
