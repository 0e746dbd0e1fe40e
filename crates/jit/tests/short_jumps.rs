//! Jumps to a block's code out of line (its hot path, exit paths, fault
//! and flag stubs) have 8-bit displacements where they reach, and 32-bit
//! ones where they do not (the block is assembled again for them): a
//! short counted block and a long one both count, report themselves
//! hot, poll and run their body exactly.

#[path = "common/branch.rs"]
mod branch;

use branch::{BACKWARD, FORWARD, START, branch_block};
use xarch_ir::{Block, Type};
use xarch_jit::baseline::{ChainConfig, KIND_HOT, KIND_NEXT, MAX_SLOTS, compile_counted};
use xarch_jit::{CodeCache, CompiledBlock, JitCtx};

const WORDS: usize = 16;
const EXIT_INFO: usize = WORDS - 1;
const CHAIN: ChainConfig = ChainConfig {
    exit_info: 8 * EXIT_INFO as i32,
    ibtc: false,
    flags: None,
    link: None,
    pinned: [None; xarch_jit::baseline::PINS],
};

/// `stores` stores of constants `base + i` to state words 1-10 (8 bytes
/// of code each, 14 for a constant above 2^31), then to `BACKWARD` when
/// word 0 is 0, else to `FORWARD`.
fn block(stores: u64, base: u64) -> Block {
    branch_block(|b| {
        for i in 0..stores {
            let c = b.iconst(Type::I64, base + i);
            b.set_state(8 * (1 + i as u32 % 10), c);
        }
    })
}

/// Runs `code` with state word 0 = `word0` and the exit-info word as
/// given: the next PC, `ctx.kind` and the state.
fn run(code: &CompiledBlock, word0: u64, exit_info: u64) -> (u64, u64, Vec<u64>) {
    let mut state = vec![0u64; WORDS];
    state[0] = word0;
    state[EXIT_INFO] = exit_info;
    let mut slots = vec![0u128; MAX_SLOTS];
    let mut ctx = JitCtx::default();
    // SAFETY: compiled for this state layout; its cache outlives the call.
    let next = unsafe { code.call(state.as_mut_ptr() as *mut u8, slots.as_mut_ptr(), &mut ctx) };
    (next, ctx.kind, state)
}

/// The code's bytes.
fn bytes(code: &CompiledBlock) -> &[u8] {
    // SAFETY: the block's code is `len` bytes at `body`, in a live cache.
    unsafe { core::slice::from_raw_parts(code.body as *const u8, code.len as usize) }
}

#[test]
fn jumps_out_of_line_are_short_where_they_reach() {
    // A short block; one of few IR instructions but too long for an 8-bit
    // jump over its body (assembled twice); one of many (at once).
    for (stores, base, near) in [(2, 1000, true), (15, 1 << 40, false), (40, 1000, false)] {
        let mut cache = CodeCache::new(1 << 20).unwrap();
        let counter = cache.alloc_counter(3).expect("room");
        let b = block(stores, base);
        let code = compile_counted(&b, &mut cache, CHAIN, Some(counter)).expect("compiles");
        // The counter's `sub dword [rip + d], 1` (7 bytes), then its jump
        // to the hot path after the body.
        let jz = &bytes(&code)[7..9];
        assert_eq!(jz[0] == 0x74, near, "{stores} stores: {jz:02x?}");
        assert_eq!(jz == [0x0f, 0x84], !near, "{stores} stores: {jz:02x?}");
        let want: Vec<u64> = (1..=10)
            .map(|w| {
                (0..stores)
                    .rev()
                    .find(|i| 1 + i % 10 == w)
                    .map_or(0, |i| base + i)
            })
            .collect();
        // Not taken; then taken with a signal pending (the poll's
        // path back to the dispatcher); then the count runs out.
        let (next, kind, state) = run(&code, 1, 0);
        assert_eq!(
            (next, kind, &state[1..=10]),
            (FORWARD, KIND_NEXT, &want[..])
        );
        let (next, kind, state) = run(&code, 0, 1);
        assert_eq!(
            (next, kind, &state[1..=10]),
            (BACKWARD, KIND_NEXT, &want[..])
        );
        let (next, kind, state) = run(&code, 0, 0);
        assert_eq!((next, kind), (START, KIND_HOT), "{stores} stores");
        assert!(state[1..=10].iter().all(|&w| w == 0), "ran before hot");
    }
}
