//! The baseline tier's register use against the interpreter: comparisons
//! and condition tests compiled into the block's branch (every condition,
//! width and operand kind), and blocks with more live values than host
//! registers around ops that read slots and call out (spills).

use xarch_ir::testing::EDGES;
use xarch_ir::{
    Block, BlockResult, Builder, IntCC, Interpreter, Op, Terminator, Type, Value, VecOp,
};
use xarch_jit::baseline::{ChainConfig, KIND_NEXT, MAX_SLOTS, compile};
use xarch_jit::{CodeCache, JitCtx};

const WORDS: usize = 128;
const CHAIN: ChainConfig = ChainConfig {
    exit_info: 8 * (WORDS as i32 - 1),
    ibtc: false,
    flags: None,
    link: None,
    pinned: [None; xarch_jit::baseline::PINS],
};
const TAKEN: u64 = 0x3000;
const NOT_TAKEN: u64 = 0x4000;

fn states() -> Vec<Vec<u64>> {
    let mut out = Vec::new();
    for &a in &EDGES {
        for &b in &EDGES {
            let mut s = vec![0u64; WORDS];
            s[0] = a;
            s[1] = b;
            s[2] = a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b;
            s[3] = (a ^ b.rotate_left(17)) & 0xf000_0000;
            out.push(s);
        }
    }
    out
}

/// Runs `block` in the interpreter and compiled, on every state; both
/// must leave the same state and continue at the same PC.
fn check(block: &Block) {
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let code = compile(block, &mut cache, CHAIN).expect("compiles");
    let mut slots = vec![0u128; MAX_SLOTS];
    for s in states() {
        let (mut a, mut b) = (s.clone(), s.clone());
        let mut interp = Interpreter::new();
        // SAFETY: the block only accesses the state, which is big enough.
        let want = match unsafe { interp.run(block, a.as_mut_ptr() as *mut u8) } {
            BlockResult::Next(pc) => pc,
            r => panic!("interpreter: {r:?}"),
        };
        let mut ctx = JitCtx::default();
        // SAFETY: compiled from `block` for this state layout; the cache
        // and the block outlive the call.
        let got = unsafe { code.call(b.as_mut_ptr() as *mut u8, slots.as_mut_ptr(), &mut ctx) };
        assert_eq!(ctx.kind, KIND_NEXT);
        assert_eq!(want, got, "next PC for inputs {:x?}\n{block}", &s[..4]);
        assert_eq!(a, b, "state for inputs {:x?}\n{block}", &s[..4]);
    }
}

fn branch_on(b: Builder, cond: Value) -> Block {
    b.finish(
        0x1000,
        0x1004,
        1,
        Terminator::Branch {
            cond,
            taken: TAKEN,
            not_taken: NOT_TAKEN,
        },
    )
}

/// `Icmp` used only by the branch becomes a host compare-and-jump: every
/// condition, at every width, against a register, a small constant and
/// a constant that needs 64 bits.
#[test]
fn compare_and_branch_matches_interpreter() {
    for ty in [Type::I8, Type::I16, Type::I32, Type::I64] {
        for cc in IntCC::ALL {
            for rhs in 0..3 {
                let mut b = Builder::new();
                b.guest_insn(0x1000);
                let x = b.get_state(0, Type::I64);
                let x = if ty == Type::I64 { x } else { b.trunc(x, ty) };
                let y = match rhs {
                    0 => {
                        let y = b.get_state(8, Type::I64);
                        if ty == Type::I64 { y } else { b.trunc(y, ty) }
                    }
                    1 => b.iconst(ty, 0x7f),
                    _ => b.iconst(ty, 0xffff_ffff_8000_0000 & ty.mask() as u64),
                };
                let c = b.icmp(cc, x, y);
                // The operands stay live across the branch's compare.
                b.set_state(32, x);
                check(&branch_on(b, c));
            }
        }
    }
}

/// `CondHolds` used only by the branch tests the NZCV bits directly: all
/// 16 conditions, on flags computed in the block (in a register) and on
/// flags read from the state.
#[test]
fn condition_branch_matches_interpreter() {
    for cond in 0..16u8 {
        for from_state in [false, true] {
            let mut b = Builder::new();
            b.guest_insn(0x1000);
            let nzcv = if from_state {
                b.get_state(24, Type::I64)
            } else {
                let x = b.get_state(0, Type::I64);
                let y = b.get_state(8, Type::I64);
                let ny = b.push(Op::Not(y), Type::I64);
                let one = b.iconst(Type::I1, 1);
                let f = b.add_flags(x, ny, one);
                b.set_state(40, f);
                f
            };
            let c = b.cond_holds(cond, nzcv);
            check(&branch_on(b, c));
        }
    }
}

/// More live values than pool registers, kept across a vector op (which
/// reads slots) and a condition test that is not fused (its value has
/// another use): values must be spilled and written home in time.
#[test]
fn many_live_values_survive_slot_ops() {
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let x = b.get_state(0, Type::I64);
    let y = b.get_state(8, Type::I64);
    let mut vals = Vec::new();
    for k in 0..12u64 {
        let c = b.iconst(Type::I64, k * 0x1_0001 + 3);
        let t = b.push(Op::Mul(x, c), Type::I64);
        let u = b.push(Op::Xor(t, y), Type::I64);
        vals.push(u);
    }
    // A vector op on 128-bit values built from scalars: reads slots.
    let wide = b.zext(vals[3], Type::I128);
    let v = b.vector(VecOp::Add, 8, &[wide, wide]);
    b.set_state(256, v);
    let mut acc = vals[0];
    for (k, &v) in vals.iter().enumerate().skip(1) {
        acc = if k % 2 == 0 {
            b.push(Op::Add(acc, v), Type::I64)
        } else {
            b.push(Op::Sub(acc, v), Type::I64)
        };
        b.set_state(64 + 8 * k as u32, v);
    }
    b.set_state(48, acc);
    let f = b.get_state(24, Type::I64);
    let ge = b.cond_holds(10, f);
    let ge64 = b.zext(ge, Type::I64);
    b.set_state(56, ge64);
    check(&branch_on(b, ge));
}

/// Addresses `base + constant` used by one access are computed by the
/// access (`lea`): with the base in a register, spilled to its slot
/// across a vector op, and a constant; positive and negative offsets.
#[test]
fn fused_addresses_match_interpreter() {
    static MEM: [u64; 8] = [11, 22, 33, 44, 55, 66, 77, 88];
    let mid = MEM.as_ptr() as u64 + 32;
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let base = b.iconst(Type::I64, mid);
    let s = b.get_state(0, Type::I64);
    let zero = b.push(Op::And(s, base), Type::I64);
    let zero = b.push(Op::Xor(zero, zero), Type::I64);
    let reg_base = b.push(Op::Add(zero, base), Type::I64); // in a register
    let mut outs = Vec::new();
    for (k, disp) in [(0u32, 8i64), (1, -16)] {
        let d = b.iconst(Type::I64, disp as u64);
        let a = b.push(Op::Add(reg_base, d), Type::I64);
        outs.push((k, b.load(a, Type::I64)));
    }
    // Spill everything caller-saved, then use the base again.
    let wide = b.zext(s, Type::I128);
    let v = b.vector(VecOp::Add, 8, &[wide, wide]);
    b.set_state(256, v);
    let d = b.iconst(Type::I64, 24);
    let a = b.push(Op::Add(reg_base, d), Type::I64);
    outs.push((2, b.load(a, Type::I32)));
    // A constant base.
    let d = b.iconst(Type::I64, (-32i64) as u64);
    let a = b.push(Op::Add(base, d), Type::I64);
    outs.push((3, b.load(a, Type::I16)));
    for (k, v) in outs {
        let w = b.zext(v, Type::I64);
        b.set_state(64 + 8 * k, w);
    }
    check(&b.finish(0x1000, 0x1004, 1, Terminator::Jump(0x1004)));
}

/// Division inline (x86 `div`/`idiv` trap where Arm gives 0 for x / 0
/// and MIN for MIN / -1): every pair of edge values, both widths, signed
/// and unsigned, the divisor also a constant, and the quotient kept live
/// past later work.
#[test]
fn division_matches_interpreter() {
    for ty in [Type::I32, Type::I64] {
        for signed in [false, true] {
            for constant in [None, Some(0), Some(u64::MAX), Some(7)] {
                let mut b = Builder::new();
                b.guest_insn(0x1000);
                let x = b.get_state(0, Type::I64);
                let x = if ty == Type::I64 { x } else { b.trunc(x, ty) };
                let y = match constant {
                    None => {
                        let y = b.get_state(8, Type::I64);
                        if ty == Type::I64 { y } else { b.trunc(y, ty) }
                    }
                    Some(c) => b.iconst(ty, c & ty.mask() as u64),
                };
                let q = if signed { b.sdiv(x, y) } else { b.udiv(x, y) };
                let z = b.get_state(16, ty);
                let w = b.add(q, z);
                b.set_state(24, w);
                b.set_state(32, q);
                b.set_state(40, x);
                check(&b.finish(0x1000, 0x1004, 1, Terminator::Jump(TAKEN)));
            }
        }
    }
}

/// With every pool register holding a value used only at the end, a
/// chain of values each used by the next instruction takes registers
/// from them (they go home and are read from their slots later) instead
/// of a store to its slot and a load back per link; the long-lived
/// values, some changed after they were loaded, still reach their uses.
#[test]
fn a_full_pool_gives_way_to_values_used_next() {
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let x = b.get_state(0, Type::I64);
    // Eight long-lived values, computed (dirty in their registers).
    let long: Vec<Value> = (0..8u64)
        .map(|k| {
            let c = b.iconst(Type::I64, 0x0101_0101 * (k + 1));
            b.push(Op::Xor(x, c), Type::I64)
        })
        .collect();
    // The chain, from a value loaded with the pool full: each value used
    // once, by the next link.
    let y = b.get_state(8, Type::I64);
    let mut chain = Vec::new();
    let mut link = y;
    for k in 0..6u64 {
        let c = b.iconst(Type::I64, 3 + k);
        let t = b.push(
            if k % 2 == 0 {
                Op::Add(link, c)
            } else {
                Op::Mul(link, c)
            },
            Type::I64,
        );
        chain.push(t);
        link = t;
    }
    b.set_state(16, link);
    let mut acc = link;
    for (k, &v) in long.iter().enumerate() {
        acc = b.push(Op::Add(acc, v), Type::I64);
        b.set_state(64 + 8 * k as u32, v);
    }
    b.set_state(24, acc);
    let zero = b.iconst(Type::I64, 0);
    let c = b.icmp(IntCC::Ne, acc, zero);
    let block = branch_on(b, c);
    check(&block);
    // No link but the last is written to its slot from rax
    // (`mov [r12 + disp32], rax`: 49 89 84 24 disp32; the values come
    // after 17 others, so their slots are past a disp8's reach).
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let code = compile(&block, &mut cache, CHAIN).expect("compiles");
    // SAFETY: the block's code, just installed in `cache`.
    let bytes = unsafe { core::slice::from_raw_parts(code.body as *const u8, code.len as usize) };
    for &v in [y].iter().chain(&chain[..chain.len() - 1]) {
        assert!(16 * v.0 >= 128, "value {} has a disp8 slot", v.0);
        let mut store = vec![0x49, 0x89, 0x84, 0x24];
        store.extend_from_slice(&(16 * v.0 as i32).to_le_bytes());
        assert!(
            !bytes.windows(store.len()).any(|w| w == store),
            "value {} went through its slot\n{block}",
            v.0
        );
    }
}

/// A narrow result written to a 64-bit state field (`add w0, w1, w2`: an
/// op, its zero extension, the write) is stored whole from the op's own
/// register, also when later instructions use the narrow value: the
/// extension has no code, and the field's upper bits are cleared.
#[test]
fn narrow_results_written_whole_match_interpreter() {
    for ty in [Type::I8, Type::I16, Type::I32] {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let x = b.get_state(0, ty);
        let y = b.get_state(8, ty);
        let sum = b.add(x, y);
        let wide = b.zext(sum, Type::I64);
        b.set_state(16, wide);
        // The narrow value again, after its write.
        let again = b.or(sum, x);
        let wide = b.zext(again, Type::I64);
        b.set_state(24, wide);
        let k = b.iconst(ty, 0x7f);
        let diff = b.sub(sum, k);
        let wide = b.zext(diff, Type::I64);
        b.set_state(0, wide);
        check(&b.finish(0x1000, 0x1004, 1, Terminator::Jump(TAKEN)));
    }
}
