//! Which chained exits of baseline code poll the exit-info word (where a
//! pending signal, invalidation or region sets a bit): backward exits (every loop has one) and every exit
//! of a block that calls helpers (a helper such as `IC IVAU` asks for a
//! return to the engine through `exit_info`); forward exits of other
//! blocks chain without polling, since a run of them is finite.

use xarch_ir::{Block, Builder, Helper, Terminator, Type};
use xarch_jit::baseline::{ChainConfig, KIND_NEXT, MAX_SLOTS, compile};
use xarch_jit::{CodeCache, CompiledBlock, JitCtx};

const WORDS: usize = 16;
const EXIT_INFO: usize = WORDS - 1;
/// A state word that is not it (where the interrupt word was polled too).
const UNRELATED: usize = WORDS - 2;
const CHAIN: ChainConfig = ChainConfig {
    exit_info: 8 * EXIT_INFO as i32,
    ibtc: false,
    flags: None,
    link: None,
    pinned: [None; xarch_jit::baseline::PINS],
};

/// The chained-to block: marks word 5 so the test sees whether it ran.
const MARKED: u64 = 0x2000;
/// Where the marked block continues (never linked).
const AFTER: u64 = 0x9000;

fn jump_block(start: u64, target: u64, call: Option<&'static Helper>) -> Block {
    let mut b = Builder::new();
    b.guest_insn(start);
    if let Some(h) = call {
        let x = b.iconst(Type::I64, 7);
        b.call(h, &[x], Type::Void);
    }
    b.finish(start, start + 4, 1, Terminator::Jump(target))
}

fn marked_block() -> Block {
    let mut b = Builder::new();
    b.guest_insn(MARKED);
    let x = b.iconst(Type::I64, 42);
    b.set_state(5 * 8, x);
    b.finish(MARKED, MARKED + 4, 1, Terminator::Jump(AFTER))
}

unsafe extern "C" fn does_nothing(_: *mut u8, _: u64, _: u64, _: u64, _: u64) -> u64 {
    0
}

static NOTHING: Helper = Helper {
    name: "nothing",
    func: does_nothing,
};

/// The exit-info bits: invalidation, region ready, signal pending.
const BITS: [u64; 3] = [1, 2, 4];

/// Runs `from` (its one exit linked to the marked block) with `flag` in
/// the state word `flag_word`: the next PC and whether the marked block
/// ran.
fn run_linked(from: &Block, flag_word: usize, flag: u64) -> (u64, bool) {
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let code: CompiledBlock = compile(from, &mut cache, CHAIN).expect("compiles");
    let marked = compile(&marked_block(), &mut cache, CHAIN).expect("compiles");
    assert_eq!(code.exits.len(), 1);
    // SAFETY: both blocks live in the same cache; nothing runs them yet.
    unsafe { code.exits[0].link(marked.body) };
    let mut state = vec![0u64; WORDS];
    state[flag_word] = flag;
    let mut slots = vec![0u128; MAX_SLOTS];
    let mut ctx = JitCtx::default();
    // SAFETY: compiled for this state layout; the cache outlives the call.
    let next = unsafe { code.call(state.as_mut_ptr() as *mut u8, slots.as_mut_ptr(), &mut ctx) };
    assert_eq!(ctx.kind, KIND_NEXT);
    (next, state[5] == 42)
}

#[test]
fn forward_exits_chain_without_polling() {
    let forward = jump_block(0x1000, MARKED, None);
    for bit in BITS {
        assert_eq!(run_linked(&forward, EXIT_INFO, bit), (AFTER, true));
    }
}

#[test]
fn backward_exits_poll() {
    let backward = jump_block(0x3000, MARKED, None);
    let to_itself = jump_block(MARKED, MARKED, None);
    for bit in BITS {
        assert_eq!(run_linked(&backward, EXIT_INFO, bit), (MARKED, false));
        assert_eq!(run_linked(&to_itself, EXIT_INFO, bit), (MARKED, false));
    }
    // With nothing pending (another word set) they chain.
    assert_eq!(run_linked(&backward, UNRELATED, 1), (AFTER, true));
}

#[test]
fn blocks_calling_helpers_poll_at_forward_exits() {
    let forward = jump_block(0x1000, MARKED, Some(&NOTHING));
    for bit in BITS {
        assert_eq!(run_linked(&forward, EXIT_INFO, bit), (MARKED, false));
    }
    assert_eq!(run_linked(&forward, UNRELATED, 1), (AFTER, true));
}
