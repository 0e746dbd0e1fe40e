//! Differential tests of the vector lowering: every vector op either
//! tier emits natively (and samples of those it calls), per lane size,
//! on pseudo-random and edge inputs, through the interpreter, the
//! baseline tier (with this CPU's instruction sets and with SSE2 only,
//! which takes the fallback calls) and the optimizing tier; the guest
//! state they leave must be equal bit for bit.

use xarch_ir::{
    Block, BlockResult, Builder, CryptoOp, Interpreter, SatOp, Terminator, Type, Value, VecOp,
};
use xarch_jit::baseline::{ChainConfig, HostFeatures, KIND_NEXT, MAX_SLOTS, compile_with};
use xarch_jit::opt::{RegionBlock, compile_region};
use xarch_jit::{CodeCache, JitCtx};

/// State: a, b, c (I128) at 0, 16, 32, a scalar at 48, outputs from 64;
/// the last two words are the interrupt and exit-info flags.
const WORDS: usize = 512;
const OUT: u32 = 64;
const CHAIN: ChainConfig = ChainConfig {
    exit_info: 8 * (WORDS as i32 - 1),
    ibtc: false,
    flags: None,
    link: None,
    pinned: [None; xarch_jit::baseline::PINS],
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn wide(&mut self) -> u128 {
        self.next() as u128 | (self.next() as u128) << 64
    }
}

type State = Vec<u64>;

fn set128(s: &mut State, word: usize, x: u128) {
    s[word] = x as u64;
    s[word + 1] = (x >> 64) as u64;
}

/// Edge and pseudo-random inputs; `c` of table lookups gets indices
/// around the table size.
fn inputs(seed: u64) -> Vec<State> {
    let mut rng = Rng(seed | 1);
    let edges = [
        0u128,
        u128::MAX,
        u128::from_le_bytes([0x80; 16]),
        u128::from_le_bytes([0x7f; 16]),
        u128::from_le_bytes(core::array::from_fn(|k| k as u8)),
        1 << 127 | 1 << 63 | 1 << 31 | 1 << 15 | 1 << 7,
    ];
    let mut out = Vec::new();
    for k in 0..24 {
        let mut s = vec![0u64; WORDS];
        let (a, b, c) = if k < edges.len() * 2 {
            (
                edges[k % edges.len()],
                edges[(k / 2) % edges.len()],
                rng.wide(),
            )
        } else {
            (rng.wide(), rng.wide(), rng.wide())
        };
        // Small indices half of the time (table lookups in range).
        let c = if k % 2 == 0 {
            c & u128::from_le_bytes([0x1f; 16])
        } else {
            c
        };
        set128(&mut s, 0, a);
        set128(&mut s, 2, b);
        set128(&mut s, 4, c);
        s[6] = rng.next();
        s[7] = memory() as u64;
        out.push(s);
    }
    out
}

/// Guest memory of the memory test: 16 pattern bytes, then room for a
/// 16-byte result at +32 (every engine writes the same value there).
fn memory() -> *mut u8 {
    static MEM: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MEM.get_or_init(|| {
        let m: &'static mut [u8; 64] = Box::leak(Box::new([0u8; 64]));
        for (k, x) in m.iter_mut().enumerate() {
            *x = (k as u8).wrapping_mul(37) ^ 0x5a;
        }
        m.as_mut_ptr() as usize
    }) as *mut u8
}

fn interp(block: &Block, s: &mut State) -> BlockResult {
    let mut i = Interpreter::new();
    // SAFETY: the block only accesses the state, which is big enough.
    unsafe { i.run(block, s.as_mut_ptr() as *mut u8) }
}

fn run_baseline(block: &Block, feat: HostFeatures, states: &[State]) -> Vec<(u64, State)> {
    let mut cache = CodeCache::new(1 << 20).unwrap();
    let cb = compile_with(block, &mut cache, CHAIN, None, feat).expect("compiles");
    let mut slots = vec![0u128; MAX_SLOTS];
    states
        .iter()
        .map(|s| {
            let mut s = s.clone();
            let mut ctx = JitCtx::default();
            // SAFETY: compiled from `block` for this state layout; the
            // cache and block outlive the call.
            let next = unsafe { cb.call(s.as_mut_ptr() as *mut u8, slots.as_mut_ptr(), &mut ctx) };
            assert_eq!(ctx.kind, KIND_NEXT);
            (next, s)
        })
        .collect()
}

fn run_opt(block: &Block, states: &[State]) -> Vec<(u64, State)> {
    let mut cache = CodeCache::new(4 << 20).unwrap();
    let rb = [RegionBlock {
        pc: block.start,
        block,
    }];
    let r = compile_region(&rb, &mut cache, CHAIN).expect("region compiles");
    let mut slots = vec![0u128; MAX_SLOTS];
    states
        .iter()
        .map(|s| {
            let mut s = s.clone();
            let mut ctx = JitCtx::default();
            // SAFETY: as in `run_baseline`.
            let next = unsafe {
                r.entry
                    .call(s.as_mut_ptr() as *mut u8, slots.as_mut_ptr(), &mut ctx)
            };
            assert_eq!(ctx.kind, KIND_NEXT);
            (next, s)
        })
        .collect()
}

/// Builds a block from `f` (given a, b, c and the scalar; returns named
/// outputs) and checks every engine against the interpreter.
fn check(name: &str, seed: u64, f: impl Fn(&mut Builder, [Value; 4]) -> Vec<(String, Value)>) {
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let a = b.get_state(0, Type::I128);
    let bb = b.get_state(16, Type::I128);
    let c = b.get_state(32, Type::I128);
    let s = b.get_state(48, Type::I64);
    let outs = f(&mut b, [a, bb, c, s]);
    assert!(OUT as usize + 16 * outs.len() <= 8 * (WORDS - 2));
    for (k, (_, v)) in outs.iter().enumerate() {
        b.set_state(OUT + 16 * k as u32, *v);
    }
    let block = b.finish(0x1000, 0x1004, 1, Terminator::Jump(0x2000));
    xarch_ir::verify::verify(&block).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let states = inputs(seed);
    let want: Vec<(u64, State)> = states
        .iter()
        .map(|s| {
            let mut s = s.clone();
            let r = interp(&block, &mut s);
            assert_eq!(r, BlockResult::Next(0x2000));
            (0x2000, s)
        })
        .collect();
    let engines: [(&str, Vec<(u64, State)>); 3] = [
        (
            "baseline",
            run_baseline(&block, HostFeatures::detect(), &states),
        ),
        (
            "baseline (SSE2 only)",
            run_baseline(&block, HostFeatures::sse2_only(), &states),
        ),
        ("opt", run_opt(&block, &states)),
    ];
    for (engine, got) in engines {
        for (k, ((wn, ws), (gn, gs))) in want.iter().zip(&got).enumerate() {
            assert_eq!(wn, gn, "{name} {engine}: next PC");
            for (o, (_, label)) in outs.iter().map(|(l, v)| (v, l)).enumerate() {
                let w = OUT as usize / 8 + 2 * o;
                let (x, y) = (
                    ws[w] as u128 | (ws[w + 1] as u128) << 64,
                    gs[w] as u128 | (gs[w + 1] as u128) << 64,
                );
                assert_eq!(
                    x,
                    y,
                    "{name} {label} {engine}: interpreter {x:#034x}, got {y:#034x}, inputs a={:#x} b={:#x} c={:#x}",
                    ws[0] as u128 | (ws[1] as u128) << 64,
                    ws[2] as u128 | (ws[3] as u128) << 64,
                    ws[4] as u128 | (ws[5] as u128) << 64,
                );
            }
            assert_eq!(ws, gs, "{name} {engine}: state for input {k}");
        }
    }
}

/// `op` at each lane size of `sizes` on a, b, c.
fn lanes(op: VecOp, sizes: &[u8]) -> impl Fn(&mut Builder, [Value; 4]) -> Vec<(String, Value)> {
    let sizes = sizes.to_vec();
    move |b, [x, y, z, _]| {
        sizes
            .iter()
            .map(|&e| {
                (
                    format!("{op:?}.{e}"),
                    b.vector(op, e, &[x, y, z][..op.arity()]),
                )
            })
            .collect()
    }
}

const ALL: &[u8] = &[8, 16, 32, 64];
const NOT64: &[u8] = &[8, 16, 32];

#[test]
fn bitwise_ops_match_interpreter() {
    use VecOp::*;
    for (k, op) in [And, Or, Xor, Bic, Orn, Not, Bsl, Eor3, Bcax]
        .into_iter()
        .enumerate()
    {
        check(&format!("{op:?}"), 11 + k as u64, lanes(op, &[8, 64]));
    }
}

#[test]
fn lane_arithmetic_matches_interpreter() {
    use VecOp::*;
    let ops: &[(VecOp, &[u8])] = &[
        (Add, ALL),
        (Sub, ALL),
        (Neg, ALL),
        (Mul, ALL),
        (CmEq, ALL),
        (CmGt, ALL),
        (CmTst, ALL),
        (CmHi, ALL),
        (CmHs, ALL),
        (CmGe, ALL),
        (UMax, ALL),
        (UMin, ALL),
        (SMax, ALL),
        (SMin, ALL),
        (UQAdd, ALL),
        (UQSub, ALL),
        (SQAdd, ALL),
        (SQSub, ALL),
        (URHAdd, NOT64),
        (AddP, ALL),
        (UMaxP, NOT64),
        (UMinP, NOT64),
        (SMaxP, NOT64),
        (SMinP, NOT64),
        // Through the direct call in every tier:
        (Cnt, &[8]),
        (AddV, NOT64),
        (UAbd, NOT64),
        (UDot, &[32]),
        (Sat(SatOp::SQDMulH), &[16, 32]),
    ];
    for (k, &(op, sizes)) in ops.iter().enumerate() {
        check(&format!("{op:?}"), 100 + k as u64, lanes(op, sizes));
    }
}

#[test]
fn permutes_and_table_lookups_match_interpreter() {
    use VecOp::*;
    let ops: &[(VecOp, &[u8])] = &[
        (Zip1, ALL),
        (Zip2, ALL),
        (Uzp1, ALL),
        (Uzp2, ALL),
        (Trn1, ALL),
        (Trn2, ALL),
        (Rev16, &[8]),
        (Rev32, &[8, 16]),
        (Rev64, NOT64),
        (Xtn, NOT64),
        (Uxtl, &[16, 32, 64]),
        (Sxtl, &[16, 32, 64]),
        (Tbx, &[8]),
    ];
    for (k, &(op, sizes)) in ops.iter().enumerate() {
        check(&format!("{op:?}"), 200 + k as u64, lanes(op, sizes));
    }
}

/// Shifts by an immediate (the lifter's uniform constant amounts, every
/// amount from below -esize to above esize) and by a register.
#[test]
fn shifts_match_interpreter() {
    for op in [VecOp::UShl, VecOp::SShl, VecOp::URShl] {
        for &e in ALL {
            check(
                &format!("{op:?}.{e}"),
                300 + e as u64,
                move |b, [x, y, _, _]| {
                    let mut outs = Vec::new();
                    let e32 = e as i64;
                    for n in (-e32 - 2..=e32 + 2).step_by(if e == 64 { 3 } else { 1 }) {
                        let amt = b.const128(xarch_ir::vector::dup(n as u64 as u128, e));
                        outs.push((format!("by {n}"), b.vector(op, e, &[x, amt])));
                    }
                    outs.push(("by b".into(), b.vector(op, e, &[x, y])));
                    outs
                },
            );
        }
    }
}

#[test]
fn crypto_ops_match_interpreter() {
    use CryptoOp::*;
    for (k, c) in [AesE, AesD, AesMc, AesImc, Sha256H, Sha1Su1]
        .into_iter()
        .enumerate()
    {
        check(
            &format!("{c:?}"),
            400 + k as u64,
            lanes(VecOp::Crypto(c), &[8]),
        );
    }
    check("PMull", 410, lanes(VecOp::PMull, &[8, 64]));
    // An AES round and a GHASH step in one block, as OpenSSL's AES-GCM
    // does them, so values flow between the native ops.
    check("aes-gcm", 411, |b, [x, y, z, _]| {
        let e = b.vector(VecOp::Crypto(AesE), 8, &[x, y]);
        let m = b.vector(VecOp::Crypto(AesMc), 8, &[e]);
        let e2 = b.vector(VecOp::Crypto(AesE), 8, &[m, z]);
        let p = b.vector(VecOp::PMull, 64, &[e2, y]);
        let sh = b.iconst(Type::I64, 64);
        let hi = b.lshr(p, sh);
        let q = b.vector(VecOp::PMull, 64, &[hi, z]);
        let r = b.vector(VecOp::Eor3, 8, &[p, q, m]);
        let rev = b.vector(VecOp::Rev64, 8, &[r]);
        vec![
            ("round".into(), e2),
            ("ghash".into(), r),
            ("rev".into(), rev),
        ]
    });
}

/// The scalar templates the vector code around bignum and byte-order
/// code needs (UMULH, SMULH, REV, CLZ), at each width.
#[test]
fn scalar_templates_match_interpreter() {
    check("scalar", 700, |b, [x, y, _, s]| {
        let mut outs = Vec::new();
        for (k, ty) in [Type::I16, Type::I32, Type::I64].into_iter().enumerate() {
            let p = b.trunc(x, ty);
            let q = b.trunc(y, ty);
            let r = b.trunc(s, ty);
            for (name, v) in [
                ("umulhi", b.push(xarch_ir::Op::UMulHi(p, q), ty)),
                ("smulhi", b.push(xarch_ir::Op::SMulHi(p, r), ty)),
                ("bswap", b.bswap(p)),
                ("clz", b.clz(q)),
                ("clz0", {
                    let sh = b.iconst(ty, 4 + 5 * k as u64);
                    let z = b.lshr(r, sh);
                    b.clz(z)
                }),
            ] {
                outs.push((format!("{name}.{ty}"), b.zext(v, Type::I128)));
            }
        }
        outs
    });
}

/// 128-bit guest loads and stores feeding and taking vector ops.
#[test]
fn wide_memory_ops_match_interpreter() {
    check("memory", 600, |b, [x, _, _, _]| {
        let addr = b.get_state(56, Type::I64);
        let v = b.load(addr, Type::I128);
        let r = b.vector(VecOp::Add, 8, &[v, x]);
        let k = b.iconst(Type::I64, 32);
        let dst = b.add(addr, k);
        b.store(dst, r);
        let back = b.load(dst, Type::I128);
        vec![
            ("load".into(), v),
            ("sum".into(), r),
            ("stored".into(), back),
        ]
    });
}

/// Lane moves and the 128-bit integer ops the lifter uses for EXT,
/// halves and concatenations.
#[test]
fn lane_moves_and_wide_ops_match_interpreter() {
    check("lanes", 500, |b, [x, y, _, s]| {
        let mut outs = Vec::new();
        for &e in &[8u8, 16, 32, 64, 128] {
            for idx in 0..(128 / e as u32).min(4) {
                let idx = (idx * 5 % (128 / e as u32)) as u8;
                let ty = if e == 128 {
                    Type::I128
                } else {
                    Type::from_bytes(e as u32 / 8)
                };
                outs.push((format!("extract.{e}[{idx}]"), b.extract_lane(x, e, idx, ty)));
                let wide = b.extract_lane(x, e, idx, if e == 128 { Type::I128 } else { Type::I64 });
                outs.push((format!("extract64.{e}[{idx}]"), b.zext(wide, Type::I128)));
                let v = if e == 128 { y } else { b.trunc(s, ty) };
                outs.push((format!("insert.{e}[{idx}]"), b.insert_lane(x, v, e, idx)));
                if e < 128 {
                    outs.push((format!("insert64.{e}[{idx}]"), b.insert_lane(x, s, e, idx)));
                }
            }
            if e < 128 {
                let t = b.trunc(s, Type::from_bytes(e as u32 / 8));
                outs.push((format!("dup.{e}"), b.dup(t, e)));
                outs.push((format!("dup64.{e}"), b.dup(s, e)));
            }
        }
        outs.push(("and".into(), b.and(x, y)));
        outs.push(("or".into(), b.or(x, y)));
        outs.push(("xor".into(), b.xor(x, y)));
        outs.push(("not".into(), b.not(x)));
        // Halves and concatenations, as the lifter builds them.
        let lo = b.trunc(x, Type::I64);
        outs.push(("trunc".into(), b.zext(lo, Type::I128)));
        let lo = b.zext(lo, Type::I128);
        let k = b.iconst(Type::I64, 64);
        let hi = b.shl(y, k);
        let cat = b.or(lo, hi);
        outs.push(("concat".into(), b.vector(VecOp::Add, 32, &[cat, x])));
        let hx = b.lshr(x, k);
        outs.push(("hi-xor".into(), b.xor(hx, cat)));
        for n in [0u64, 3, 8, 56, 64, 67, 72, 120, 127, 128, 200] {
            let k = b.iconst(Type::I64, n);
            outs.push((format!("shl {n}"), b.shl(x, k)));
            outs.push((format!("lshr {n}"), b.lshr(x, k)));
        }
        outs
    });
}
