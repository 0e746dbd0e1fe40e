//! The return stack of baseline code (`ChainConfig::link`): a block that
//! writes its own end address to the link register and jumps is a host
//! call, and a return to that address comes back through the host return
//! stack to the code after the call, without the indirect-branch table
//! (off here) or the engine; any other return goes its usual way.

use xarch_ir::{Block, BranchHint, Builder, Terminator, Type};
use xarch_jit::baseline::{ChainConfig, KIND_NEXT, MAX_SLOTS, compile};
use xarch_jit::{CodeCache, CompiledBlock, JitCtx};

const WORDS: usize = 16;
/// The link register's state word.
const LINK: usize = 4;
/// Words the test blocks mark.
const CALLEE_RAN: usize = 5;
const RETURNED: usize = 6;
const CHAIN: ChainConfig = ChainConfig {
    exit_info: 8 * (WORDS as i32 - 1),
    ibtc: false,
    flags: None,
    link: Some(8 * LINK as u32),
    pinned: [None; xarch_jit::baseline::PINS],
};

const CALLER: u64 = 0x1000;
const RETURN_SITE: u64 = CALLER + 4;
const CALLEE: u64 = 0x5000;
/// Where the return site continues (never linked).
const AFTER: u64 = 0x9000;

/// `bl CALLEE` at CALLER.
fn caller() -> Block {
    let mut b = Builder::new();
    b.guest_insn(CALLER);
    let ret = b.iconst(Type::I64, RETURN_SITE);
    b.set_state(8 * LINK as u32, ret);
    b.finish(CALLER, RETURN_SITE, 1, Terminator::Jump(CALLEE))
}

/// Marks that it ran, optionally points the link register elsewhere
/// (as a longjmp would return), then `ret`.
fn callee(redirect: Option<u64>) -> Block {
    let mut b = Builder::new();
    b.guest_insn(CALLEE);
    let one = b.iconst(Type::I64, 1);
    b.set_state(8 * CALLEE_RAN as u32, one);
    if let Some(to) = redirect {
        let to = b.iconst(Type::I64, to);
        b.set_state(8 * LINK as u32, to);
    }
    let target = b.get_state(8 * LINK as u32, Type::I64);
    b.finish(
        CALLEE,
        CALLEE + 4,
        1,
        Builder::jump_dyn(target, BranchHint::Return),
    )
}

fn return_site() -> Block {
    let mut b = Builder::new();
    b.guest_insn(RETURN_SITE);
    let one = b.iconst(Type::I64, 1);
    b.set_state(8 * RETURNED as u32, one);
    b.finish(RETURN_SITE, RETURN_SITE + 4, 1, Terminator::Jump(AFTER))
}

/// Runs the caller with everything linked: the next PC and the state.
fn run(callee: &Block) -> (u64, Vec<u64>) {
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let code: CompiledBlock = compile(&caller(), &mut cache, CHAIN).expect("compiles");
    let callee = compile(callee, &mut cache, CHAIN).expect("compiles");
    let site = compile(&return_site(), &mut cache, CHAIN).expect("compiles");
    let targets: Vec<u64> = code.exits.iter().map(|e| e.target).collect();
    assert_eq!(targets, [CALLEE, RETURN_SITE], "a call and its return");
    // SAFETY: all three blocks live in the same cache; nothing runs them.
    unsafe {
        code.exits[0].link(callee.body);
        code.exits[1].link(site.body);
    }
    let mut state = vec![0u64; WORDS];
    let mut slots = vec![0u128; MAX_SLOTS];
    let mut ctx = JitCtx::default();
    // SAFETY: compiled for this state layout; the cache outlives the call.
    let next = unsafe { code.call(state.as_mut_ptr() as *mut u8, slots.as_mut_ptr(), &mut ctx) };
    assert_eq!(ctx.kind, KIND_NEXT);
    (next, state)
}

#[test]
fn a_return_to_the_call_comes_back_through_the_return_stack() {
    let (next, state) = run(&callee(None));
    assert_eq!((state[CALLEE_RAN], state[RETURNED]), (1, 1));
    assert_eq!((next, state[LINK]), (AFTER, RETURN_SITE));
}

#[test]
fn a_return_elsewhere_takes_its_usual_way() {
    // Without the indirect-branch table: back to the engine, at the
    // address returned to, its host stack whole again (the test returns).
    let (next, state) = run(&callee(Some(0x7770)));
    assert_eq!((state[CALLEE_RAN], state[RETURNED]), (1, 0));
    assert_eq!(next, 0x7770);
}

#[test]
fn only_calls_to_the_next_instruction_are_calls() {
    // A jump that writes the link register with another value is a jump.
    let mut b = Builder::new();
    b.guest_insn(CALLER);
    let ret = b.iconst(Type::I64, 0x4444);
    b.set_state(8 * LINK as u32, ret);
    let jump = b.finish(CALLER, RETURN_SITE, 1, Terminator::Jump(CALLEE));
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let code = compile(&jump, &mut cache, CHAIN).expect("compiles");
    assert_eq!(code.exits.len(), 1);
}
