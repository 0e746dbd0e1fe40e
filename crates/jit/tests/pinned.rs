//! The state field baseline code keeps in rbp (`ChainConfig::pinned`, the
//! guest stack pointer in the engine) against the interpreter: it is read
//! at entry and exact in the state block at every way out, at every call
//! into xarch (which may read and write it), and under partial and
//! overlapping accesses; a read of it kept in rbp is not changed by a
//! later write, and guest accesses can use it as their base.

use xarch_ir::{Block, BlockResult, Builder, ExitReason, Helper, Interpreter, Terminator, Type};
use xarch_jit::baseline::{ChainConfig, KIND_EXIT, KIND_NEXT, MAX_SLOTS, compile};
use xarch_jit::{CodeCache, JitCtx};

const WORDS: usize = 64;
/// The pinned field: state word 5.
const P: u32 = 5 * 8;
const CHAIN: ChainConfig = ChainConfig {
    exit_info: 8 * (WORDS as i32 - 1),
    ibtc: false,
    flags: None,
    link: None,
    pinned: Some(P),
};
const NEXT: u64 = 0x9000;

/// Runs `block` in the interpreter and compiled, from `init`; both must
/// leave the same state and end the same way. Returns the state.
fn check(block: &Block, init: &[u64]) -> Vec<u64> {
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let code = compile(block, &mut cache, CHAIN).expect("compiles");
    let (mut a, mut b) = (init.to_vec(), init.to_vec());
    let mut interp = Interpreter::new();
    // SAFETY: the block only accesses the state and `BUF`, both valid.
    let want = unsafe { interp.run(block, a.as_mut_ptr() as *mut u8) };
    let mut slots = vec![0u128; MAX_SLOTS];
    let mut ctx = JitCtx::for_chain(CHAIN);
    // SAFETY: compiled from `block` for this state layout, with the
    // context's pinned field matching the configuration.
    let got = unsafe { code.call(b.as_mut_ptr() as *mut u8, slots.as_mut_ptr(), &mut ctx) };
    match want {
        BlockResult::Next(pc) => assert_eq!((ctx.kind, got), (KIND_NEXT, pc), "{block}"),
        BlockResult::Exit(_, pc) => assert_eq!((ctx.kind, got), (KIND_EXIT, pc), "{block}"),
        r => panic!("interpreter: {r:?}"),
    }
    assert_eq!(a, b, "state\n{block}");
    b
}

fn init() -> Vec<u64> {
    let mut s: Vec<u64> = (0..WORDS as u64)
        .map(|i| 0x1111_0000_0000_0000 ^ (i * 0x0101_0101))
        .collect();
    s[P as usize / 8] = 0x7fff_1234_5678_9ab0;
    s
}

/// Starts a block at 0x1000 that lowers the pinned field by `k` (the
/// new value then lives in rbp only); returns the builder and the value
/// the field had.
fn lowered(k: u64) -> (Builder, xarch_ir::Value) {
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let sp = b.get_state(P, Type::I64);
    let k = b.iconst(Type::I64, k);
    let down = b.sub(sp, k);
    b.set_state(P, down);
    (b, sp)
}

#[test]
fn the_field_is_read_at_entry_and_written_back_on_the_way_out() {
    for term in [
        Terminator::Jump(NEXT),
        Builder::exit(ExitReason::Syscall, NEXT),
    ] {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let sp = b.get_state(P, Type::I64);
        b.set_state(6 * 8, sp);
        let k = b.iconst(Type::I64, 48);
        let down = b.sub(sp, k);
        b.set_state(P, down);
        let s = check(&b.finish(0x1000, 0x1004, 1, term), &init());
        assert_eq!(s[5], 0x7fff_1234_5678_9ab0 - 48);
    }
}

/// Reads the field and triples it: a helper sees the whole state.
unsafe extern "C" fn triple_pinned(state: *mut u8, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the state block the test gave the compiled code.
    unsafe {
        let p = state.add(P as usize) as *mut u64;
        let old = *p;
        *p = old.wrapping_mul(3);
        old
    }
}

static TRIPLE: Helper = Helper {
    name: "triple_pinned",
    func: triple_pinned,
};

#[test]
fn calls_into_xarch_see_the_field_and_may_change_it() {
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let sp = b.get_state(P, Type::I64);
    let k = b.iconst(Type::I64, 0x10);
    let up = b.add(sp, k);
    b.set_state(P, up);
    let seen = b.call(&TRIPLE, &[], Type::I64);
    b.set_state(6 * 8, seen);
    let after = b.get_state(P, Type::I64);
    b.set_state(7 * 8, after);
    // The read before the call keeps its value.
    b.set_state(8 * 8, sp);
    let s = check(
        &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
        &init(),
    );
    assert_eq!(s[6], 0x7fff_1234_5678_9ac0);
    assert_eq!(s[7], 0x7fff_1234_5678_9ac0u64.wrapping_mul(3));
}

#[test]
fn a_read_kept_in_rbp_survives_later_writes() {
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let old = b.get_state(P, Type::I64);
    let k = b.iconst(Type::I64, 0x1_0000);
    let new = b.sub(old, k);
    b.set_state(P, new);
    let again = b.get_state(P, Type::I64);
    let both = b.add(old, again);
    b.set_state(6 * 8, both);
    b.set_state(7 * 8, old);
    check(
        &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
        &init(),
    );
}

#[test]
fn partial_and_overlapping_accesses_go_through_the_state_block() {
    // 32-bit write of the field's high half, byte reads inside it, a
    // 128-bit read and write of the field with its neighbour.
    for (off, ty) in [
        (P + 4, Type::I32),
        (P, Type::I32),
        (P + 7, Type::I8),
        (P, Type::I16),
    ] {
        let (mut b, _) = lowered(0x3_0000_0020);
        let x = b.iconst(ty, (0xa5c3_5a3c & ty.mask()) as u64);
        b.set_state(off, x);
        let whole = b.get_state(P, Type::I64);
        b.set_state(6 * 8, whole);
        let part = b.get_state(off, ty);
        b.set_state(off, part);
        let part = b.zext(part, Type::I64);
        b.set_state(7 * 8, part);
        check(
            &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
            &init(),
        );
    }
    // Narrow reads after a write of the whole field.
    for (off, ty) in [(P + 4, Type::I32), (P + 1, Type::I8), (P, Type::I64)] {
        let (mut b, _) = lowered(0x5_0000_0c40);
        let part = b.get_state(off, ty);
        let part = b.zext(part, Type::I64);
        b.set_state(7 * 8, part);
        check(
            &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
            &init(),
        );
    }
    for off in [P - 8, P] {
        let (mut b, _) = lowered(8);
        let pair = b.get_state(off, Type::I128);
        b.set_state(10 * 8, pair);
        let swapped = b.get_state(12 * 8, Type::I128);
        b.set_state(off, swapped);
        let last = b.get_state(P, Type::I64);
        b.set_state(7 * 8, last);
        check(
            &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
            &init(),
        );
    }
}

#[test]
fn guest_accesses_address_memory_from_the_field() {
    let mut mem = vec![0u64; 128];
    for (i, w) in mem.iter_mut().enumerate() {
        *w = 0x0123_4567_89ab_cdef ^ (i as u64) << 40;
    }
    let mut s = init();
    s[5] = mem.as_ptr() as u64 + 256;
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let sp = b.get_state(P, Type::I64);
    for (k, disp) in [(6u32, 0i64), (7, 8), (8, -16), (9, 200)] {
        let d = b.iconst(Type::I64, disp as u64);
        let a = b.add(sp, d);
        let v = b.load(a, Type::I64);
        b.set_state(k * 8, v);
        let d2 = b.iconst(Type::I64, (disp + 512) as u64);
        let a2 = b.add(sp, d2);
        b.store(a2, v);
    }
    let block = b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT));
    let before = mem.clone();
    let got = check(&block, &s);
    // Both runs stored the same values to the same places (the second
    // over the first's), away from what they load.
    assert_eq!(got[6], before[32]);
    assert_eq!(got[8], before[30]);
    assert_eq!(mem[32 + 64], before[32]);
}
