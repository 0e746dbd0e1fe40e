//! The state fields baseline code keeps in registers (`ChainConfig::pinned`:
//! rbp, r15 and r14; the guest stack pointer, X0 and X2 in the engine)
//! against the interpreter: each is read at entry and exact in the state
//! block at every way out, at every call into xarch (which may read and
//! write it), at a fault, and under partial and overlapping accesses; a
//! read of one kept in its register is not changed by a later write, a
//! value computed in its register is not seen before its write, and guest
//! accesses can use it as their base. Every test runs on each of the three.

use std::cell::Cell;
use xarch_ir::{Block, BlockResult, Builder, ExitReason, Helper, Interpreter, Terminator, Type};
use xarch_jit::baseline::{ChainConfig, KIND_EXIT, KIND_FAULT, KIND_NEXT, MAX_SLOTS, compile};
use xarch_jit::{CodeCache, JitCtx};

const WORDS: usize = 64;
/// The pinned fields: state words 5 (in rbp), 3 (r15) and 2 (r14).
const FIELDS: [u32; xarch_jit::baseline::PINS] = [5 * 8, 3 * 8, 2 * 8];
const CHAIN: ChainConfig = ChainConfig {
    exit_info: 8 * (WORDS as i32 - 1),
    ibtc: false,
    flags: None,
    link: None,
    pinned: [Some(FIELDS[0]), Some(FIELDS[1]), Some(FIELDS[2])],
};
const NEXT: u64 = 0x9000;

#[path = "common/faults.rs"]
mod faults;
use faults::{guard_pages, install_handler};

/// Runs `block` in the interpreter and compiled, from `init`; both must
/// leave the same state and end the same way. Returns the state.
fn check(block: &Block, init: &[u64]) -> Vec<u64> {
    install_handler();
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let code = compile(block, &mut cache, CHAIN).expect("compiles");
    let (mut a, mut b) = (init.to_vec(), init.to_vec());
    let mut interp = Interpreter::new();
    // SAFETY: the block only accesses the state and `BUF`, both valid.
    let want = unsafe { interp.run(block, a.as_mut_ptr() as *mut u8) };
    let mut slots = vec![0u128; MAX_SLOTS];
    let mut ctx = JitCtx::for_chain(CHAIN);
    cache.activate();
    // SAFETY: compiled from `block` for this state layout, with the
    // context's pinned fields matching the configuration.
    let got = unsafe { code.call(b.as_mut_ptr() as *mut u8, slots.as_mut_ptr(), &mut ctx) };
    CodeCache::deactivate();
    match want {
        BlockResult::Next(pc) => assert_eq!((ctx.kind, got), (KIND_NEXT, pc), "{block}"),
        BlockResult::Exit(_, pc) => assert_eq!((ctx.kind, got), (KIND_EXIT, pc), "{block}"),
        BlockResult::Fault { pc, fault } => assert_eq!(
            (ctx.kind, ctx.fault_pc, ctx.fault_addr),
            (KIND_FAULT, pc, fault.addr),
            "{block}"
        ),
    }
    assert_eq!(a, b, "state\n{block}");
    b
}

/// The state words at the start: pinned field `p` (the one under test)
/// holds a stack-like address.
fn init(p: u32) -> Vec<u64> {
    let mut s: Vec<u64> = (0..WORDS as u64)
        .map(|i| 0x1111_0000_0000_0000 ^ (i * 0x0101_0101))
        .collect();
    s[p as usize / 8] = 0x7fff_1234_5678_9ab0;
    s
}

/// Starts a block at 0x1000 that lowers pinned field `p` by `k` (the new
/// value then lives in its register only); returns the builder and the
/// value the field had.
fn lowered(p: u32, k: u64) -> (Builder, xarch_ir::Value) {
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let sp = b.get_state(p, Type::I64);
    let k = b.iconst(Type::I64, k);
    let down = b.sub(sp, k);
    b.set_state(p, down);
    (b, sp)
}

/// A state word no test pins: where results go.
fn out(k: u32) -> u32 {
    let w = 8 * (k + 6);
    assert!(!FIELDS.contains(&w));
    w
}

#[test]
fn each_field_is_read_at_entry_and_written_back_on_the_way_out() {
    for p in FIELDS {
        for term in [
            Terminator::Jump(NEXT),
            Builder::exit(ExitReason::Syscall, NEXT),
        ] {
            let mut b = Builder::new();
            b.guest_insn(0x1000);
            let sp = b.get_state(p, Type::I64);
            b.set_state(out(0), sp);
            let k = b.iconst(Type::I64, 48);
            let down = b.sub(sp, k);
            b.set_state(p, down);
            let s = check(&b.finish(0x1000, 0x1004, 1, term), &init(p));
            assert_eq!(s[p as usize / 8], 0x7fff_1234_5678_9ab0 - 48);
        }
    }
}

thread_local! {
    /// The field [`triple_pinned`] triples.
    static TRIPLED: Cell<u32> = const { Cell::new(0) };
}

/// Reads a pinned field and triples it: a helper sees the whole state.
unsafe extern "C" fn triple_pinned(state: *mut u8, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the state block the test gave the compiled code.
    unsafe {
        let p = state.add(TRIPLED.get() as usize) as *mut u64;
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
fn calls_into_xarch_see_the_fields_and_may_change_them() {
    for p in FIELDS {
        TRIPLED.set(p);
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let sp = b.get_state(p, Type::I64);
        let k = b.iconst(Type::I64, 0x10);
        let up = b.add(sp, k);
        b.set_state(p, up);
        let seen = b.call(&TRIPLE, &[], Type::I64);
        b.set_state(out(0), seen);
        let after = b.get_state(p, Type::I64);
        b.set_state(out(1), after);
        // The read before the call keeps its value.
        b.set_state(out(2), sp);
        let s = check(
            &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
            &init(p),
        );
        assert_eq!(s[out(0) as usize / 8], 0x7fff_1234_5678_9ac0);
        assert_eq!(
            s[out(1) as usize / 8],
            0x7fff_1234_5678_9ac0u64.wrapping_mul(3)
        );
    }
}

#[test]
fn a_read_kept_in_its_register_survives_later_writes() {
    for p in FIELDS {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let old = b.get_state(p, Type::I64);
        let k = b.iconst(Type::I64, 0x1_0000);
        let new = b.sub(old, k);
        b.set_state(p, new);
        let again = b.get_state(p, Type::I64);
        let both = b.add(old, again);
        b.set_state(out(0), both);
        b.set_state(out(1), old);
        check(
            &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
            &init(p),
        );
    }
}

#[test]
fn values_written_to_fields_are_computed_in_their_registers() {
    // Each field's new value computed from the others' and its own (in
    // its register, when nothing between could see it early), and one
    // read of a field after another's write: `add x0, x0, x2`, then x2
    // from x0, then the stack pointer from both.
    let [f0, f1, f2] = FIELDS;
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let a = b.get_state(f1, Type::I64);
    let c = b.get_state(f2, Type::I64);
    let sum = b.add(a, c);
    b.set_state(f1, sum);
    b.guest_insn(0x1004);
    let a2 = b.get_state(f1, Type::I64);
    let k = b.iconst(Type::I64, 3);
    let shifted = b.shl(a2, k);
    b.set_state(f2, shifted);
    b.guest_insn(0x1008);
    let w = b.get_state(f1, Type::I32);
    let w = b.not(w);
    let w = b.zext(w, Type::I64);
    b.set_state(f1, w);
    let sp = b.get_state(f0, Type::I64);
    let c2 = b.get_state(f2, Type::I64);
    let d = b.xor(sp, c2);
    b.set_state(f0, d);
    b.set_state(out(0), a);
    check(
        &b.finish(0x1000, 0x100c, 3, Terminator::Jump(NEXT)),
        &init(f0),
    );
    // The field's old value as a later operand of its new one (`sub x0,
    // x2, x0`, `sub x2, x0, x2`): read before the register is written.
    for (p, q) in [(f1, f2), (f2, f1), (f1, f0)] {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let x = b.get_state(p, Type::I64);
        let y = b.get_state(q, Type::I64);
        let d = b.sub(y, x);
        b.set_state(p, d);
        check(
            &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
            &init(q),
        );
    }
}

#[test]
fn a_fault_leaves_each_field_as_of_the_faulting_instruction() {
    let page = guard_pages();
    // SAFETY: the page is writable.
    unsafe { (page as *mut u64).write(0x5555_0000_0000_0005) };
    let bad = page as u64 + 4096;
    for p in FIELDS {
        // The faulting load would write the field (`ldr x0, [x1]`): its
        // register keeps the old value.
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let a = b.iconst(Type::I64, bad);
        let v = b.load(a, Type::I64);
        b.set_state(p, v);
        let s = check(
            &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
            &init(p),
        );
        assert_eq!(s[p as usize / 8], 0x7fff_1234_5678_9ab0);
        // A value for the field computed before a faulting load of the
        // same instruction is not written early.
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let ok = b.iconst(Type::I64, page as u64);
        let v = b.load(ok, Type::I64);
        let one = b.iconst(Type::I64, 1);
        let v1 = b.add(v, one);
        let a = b.iconst(Type::I64, bad);
        let w = b.load(a, Type::I64);
        b.set_state(out(0), w);
        b.set_state(p, v1);
        let s = check(
            &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
            &init(p),
        );
        assert_eq!(s[p as usize / 8], 0x7fff_1234_5678_9ab0);
        // After an earlier instruction's write, the fault sees it.
        let (mut b, _) = lowered(p, 0x40);
        b.guest_insn(0x1004);
        let a = b.iconst(Type::I64, bad);
        let w = b.load(a, Type::I64);
        b.set_state(p, w);
        let s = check(
            &b.finish(0x1000, 0x1008, 2, Terminator::Jump(NEXT)),
            &init(p),
        );
        assert_eq!(s[p as usize / 8], 0x7fff_1234_5678_9ab0 - 0x40);
    }
}

#[test]
fn partial_and_overlapping_accesses_go_through_the_state_block() {
    for p in FIELDS {
        // 32-bit write of the field's high half, byte reads inside it, a
        // 128-bit read and write of the field with its neighbour.
        for (off, ty) in [
            (p + 4, Type::I32),
            (p, Type::I32),
            (p + 7, Type::I8),
            (p, Type::I16),
        ] {
            let (mut b, _) = lowered(p, 0x3_0000_0020);
            let x = b.iconst(ty, (0xa5c3_5a3c & ty.mask()) as u64);
            b.set_state(off, x);
            let whole = b.get_state(p, Type::I64);
            b.set_state(out(0), whole);
            let part = b.get_state(off, ty);
            b.set_state(off, part);
            let part = b.zext(part, Type::I64);
            b.set_state(out(1), part);
            check(
                &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
                &init(p),
            );
        }
        // Narrow reads after a write of the whole field.
        for (off, ty) in [
            (p + 4, Type::I32),
            (p, Type::I32),
            (p + 1, Type::I8),
            (p, Type::I64),
        ] {
            let (mut b, _) = lowered(p, 0x5_0000_0c40);
            let part = b.get_state(off, ty);
            let part = b.zext(part, Type::I64);
            b.set_state(out(1), part);
            check(
                &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
                &init(p),
            );
        }
        for off in [p - 8, p] {
            let (mut b, _) = lowered(p, 8);
            let pair = b.get_state(off, Type::I128);
            b.set_state(out(4), pair);
            let swapped = b.get_state(out(6), Type::I128);
            b.set_state(off, swapped);
            let last = b.get_state(p, Type::I64);
            b.set_state(out(1), last);
            check(
                &b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT)),
                &init(p),
            );
        }
    }
}

#[test]
fn guest_accesses_address_memory_from_the_fields() {
    for p in FIELDS {
        let mut mem = vec![0u64; 128];
        for (i, w) in mem.iter_mut().enumerate() {
            *w = 0x0123_4567_89ab_cdef ^ (i as u64) << 40;
        }
        let mut s = init(p);
        s[p as usize / 8] = mem.as_ptr() as u64 + 256;
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let sp = b.get_state(p, Type::I64);
        for (k, disp) in [(0u32, 0i64), (1, 8), (2, -16), (3, 200)] {
            let d = b.iconst(Type::I64, disp as u64);
            let a = b.add(sp, d);
            let v = b.load(a, Type::I64);
            b.set_state(out(k), v);
            let d2 = b.iconst(Type::I64, (disp + 512) as u64);
            let a2 = b.add(sp, d2);
            b.store(a2, v);
        }
        // A load from the field's own address into the field.
        let v = b.load(sp, Type::I64);
        b.set_state(p, v);
        let block = b.finish(0x1000, 0x1004, 1, Terminator::Jump(NEXT));
        let before = mem.clone();
        let got = check(&block, &s);
        // Both runs stored the same values to the same places (the second
        // over the first's), away from what they load.
        assert_eq!(got[out(0) as usize / 8], before[32]);
        assert_eq!(got[out(2) as usize / 8], before[30]);
        assert_eq!(got[p as usize / 8], before[32]);
        assert_eq!(mem[32 + 64], before[32]);
    }
}
