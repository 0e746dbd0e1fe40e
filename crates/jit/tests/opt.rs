//! Differential tests of the optimizing tier: regions compiled with
//! Cranelift must leave the same guest state and memory, and report the
//! same next PC, exit or fault, as the reference interpreter.

use xarch_a64::state::A64State;
use xarch_ir::guest_mem::Fault;
use xarch_ir::{Block, BlockResult, Builder, IntCC, Interpreter, Terminator, Type};
use xarch_jit::baseline::{ChainConfig, KIND_EXIT, KIND_FAULT, KIND_NEXT, MAX_SLOTS};
use xarch_jit::opt::{FaultMarks, RegionBlock, compile_region_with_marks};
use xarch_jit::{CodeCache, FAULT_REPLAY, FAULT_REPLAY_PASSES, JitCtx};

// ---------------------------------------------------------------- harness

#[path = "common/faults.rs"]
mod faults;
use faults::{guard_pages, install_handler};

/// State block of the hand-built IR tests: 256 words, the last is the
/// exit-info word.
const WORDS: usize = 256;
const EXIT_INFO: i32 = 8 * 255;

fn chain(exit_info: i32) -> ChainConfig {
    ChainConfig {
        exit_info,
        ibtc: false,
        flags: None,
        link: None,
        pinned: [None; xarch_jit::baseline::PINS],
    }
}

/// Runs the region in the interpreter until control leaves it.
fn interp_region(blocks: &[Block], state: *mut u8) -> BlockResult {
    let mut interp = Interpreter::new();
    let mut pc = blocks[0].start;
    for _ in 0..10_000_000 {
        let Some(b) = blocks.iter().find(|b| b.start == pc) else {
            return BlockResult::Next(pc);
        };
        // SAFETY: tests build blocks for the state they pass.
        match unsafe { interp.run(b, state) } {
            BlockResult::Next(n) => pc = n,
            r => return r,
        }
    }
    panic!("region does not terminate in the interpreter");
}

struct Jit {
    cache: CodeCache,
    slots: Vec<u128>,
    marks: FaultMarks,
}

thread_local! {
    /// Faults reported at a replay point on this test's thread.
    static REPLAYS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// The most passes a replayed fault reported (see [`replay`]).
    static PASSES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Jit {
    fn new() -> Jit {
        install_handler();
        Jit {
            cache: CodeCache::new(16 << 20).unwrap(),
            slots: vec![0; MAX_SLOTS],
            marks: FaultMarks::SourceLocations,
        }
    }

    fn compile(&mut self, blocks: &[Block], chain: ChainConfig) -> xarch_jit::opt::CompiledRegion {
        let rbs: Vec<RegionBlock<'_>> = blocks
            .iter()
            .map(|b| RegionBlock {
                pc: b.start,
                block: b,
            })
            .collect();
        compile_region_with_marks(&rbs, &mut self.cache, chain, self.marks)
            .expect("region compiles")
    }

    fn run(
        &mut self,
        r: &xarch_jit::opt::CompiledRegion,
        blocks: &[Block],
        state: *mut u8,
    ) -> BlockResult {
        let mut ctx = JitCtx {
            kind: KIND_NEXT,
            ..JitCtx::default()
        };
        // As the engine does: faults are attributed to the running cache.
        self.cache.activate();
        // SAFETY: the region was compiled from `blocks` for this state.
        let next = unsafe { r.entry.call(state, self.slots.as_mut_ptr(), &mut ctx) };
        xarch_jit::CodeCache::deactivate();
        match ctx.kind {
            KIND_NEXT => BlockResult::Next(next),
            KIND_EXIT => {
                let b = blocks
                    .iter()
                    .find(|b| b.start == ctx.fault_pc)
                    .expect("exit reported at a region block");
                match b.term {
                    Terminator::Exit { reason, pc } => {
                        assert_eq!(pc, next);
                        BlockResult::Exit(reason, pc)
                    }
                    _ => panic!("KIND_EXIT from a block without an exit"),
                }
            }
            KIND_FAULT if ctx.fault_status & FAULT_REPLAY != 0 => {
                REPLAYS.set(REPLAYS.get() + 1);
                let passes = if ctx.fault_status & FAULT_REPLAY_PASSES != 0 {
                    PASSES.set(PASSES.get().max(ctx.replay_passes));
                    ctx.replay_passes
                } else {
                    0
                };
                replay(ctx.fault_pc, ctx.opt_scratch, passes, state)
            }
            KIND_FAULT => BlockResult::Fault {
                pc: ctx.fault_pc,
                fault: Fault {
                    addr: ctx.fault_addr,
                    write: ctx.fault_status & 2 != 0,
                },
            },
            k => panic!("unexpected kind {k}"),
        }
    }
}

/// What the engine does with a fault reported at a replay point `from`
/// (see `xarch_jit::FAULT_REPLAY`): interpret from there, lifting the
/// guest code in this process's memory (A64 tests), back to `from`
/// `passes` times (`xarch_jit::FAULT_REPLAY_PASSES`), then until the
/// block of the faulting access has run.
fn replay(from: u64, access: u64, passes: u64, state: *mut u8) -> BlockResult {
    assert!(
        from < access || passes > 0 || from == access,
        "a replay point precedes its access"
    );
    let mut interp = Interpreter::new();
    let mut pc = from;
    let mut stop = xarch_jit::opt::ReplayStop::new(from, access, passes);
    for _ in 0..stop.max_blocks(64) {
        let b = xarch_a64::lift_block(pc, |a| {
            xarch_ir::guest_mem::load(a, 4).ok().map(|w| w as u32)
        })
        .expect("replay lifts guest code (hand-built IR cannot replay)");
        // SAFETY: tests build blocks for the state they pass.
        match unsafe { interp.run(&b, state) } {
            BlockResult::Next(n) if stop.stops_after(b.start, b.end, n) => {
                assert!(
                    stop.passes_run() <= passes,
                    "the replay passes the access's pass"
                );
                return BlockResult::Next(n);
            }
            BlockResult::Next(n) => pc = n,
            r => {
                assert_eq!(
                    stop.passes_run(),
                    passes,
                    "the fault happens in the counted pass"
                );
                return r;
            }
        }
    }
    panic!("replay does not reach the access at {access:#x}");
}

/// Compiles `blocks` and checks it against the interpreter on `states`.
fn check_words(blocks: &[Block], states: &[[u64; WORDS]]) {
    let mut jit = Jit::new();
    let r = jit.compile(blocks, chain(EXIT_INFO));
    for s in states {
        let mut a = *s;
        let mut b = *s;
        let ra = interp_region(blocks, a.as_mut_ptr() as *mut u8);
        let rb = jit.run(&r, blocks, b.as_mut_ptr() as *mut u8);
        assert_eq!(ra, rb, "result for input {:x?}", &s[..4]);
        for k in 0..WORDS {
            assert_eq!(
                a[k],
                b[k],
                "state word {k} for input {:x?}\n{}",
                &s[..4],
                blocks[0]
            );
        }
    }
}

/// Edge values, and shift amounts around the widths.
const EDGES: [u64; 22] = {
    let mut all = [0; 22];
    let mut i = 0;
    while i < xarch_ir::testing::EDGES.len() {
        all[i] = xarch_ir::testing::EDGES[i];
        i += 1;
    }
    let shifts = [3, 7, 31, 32, 33, 63, 64, 65];
    while i < all.len() {
        all[i] = shifts[i - xarch_ir::testing::EDGES.len()];
        i += 1;
    }
    all
};

fn edge_states() -> Vec<[u64; WORDS]> {
    let mut out = Vec::new();
    let extra = [0x1234_5678_9abc_def0u64, 0xfffe, 0xffff_ffff_0000_0001, 200];
    for &a in EDGES.iter().chain(&extra) {
        for &b in EDGES.iter().chain(&extra) {
            let mut s = [0u64; WORDS];
            s[0] = a;
            s[1] = b;
            s[2] = a ^ b;
            s[3] = (a & 1) ^ (b >> 63);
            out.push(s);
        }
    }
    out
}

// ---------------------------------------------------------------- IR tests

/// Every integer op at every width, operands from the state (so
/// Cranelift cannot fold them) and from constants (so it can).
#[test]
fn integer_ops_match_interpreter() {
    for ty in [Type::I8, Type::I16, Type::I32, Type::I64] {
        for konst in [false, true] {
            let mut b = Builder::new();
            b.guest_insn(0x1000);
            let x = b.get_state(0, Type::I64);
            let y = b.get_state(8, Type::I64);
            let (x, y) = if konst {
                (b.iconst(ty, 0x8000_0000_0000_0081), b.iconst(ty, 0x41))
            } else {
                (b.trunc(x, ty), b.trunc(y, ty))
            };
            let mut outs = Vec::new();
            for f in [
                Builder::add,
                Builder::sub,
                Builder::mul,
                Builder::umulhi,
                Builder::smulhi,
                Builder::udiv,
                Builder::sdiv,
                Builder::and,
                Builder::or,
                Builder::xor,
                Builder::shl,
                Builder::lshr,
                Builder::ashr,
                Builder::ror,
            ] {
                outs.push(f(&mut b, x, y));
            }
            for f in [
                Builder::not,
                Builder::neg,
                Builder::clz,
                Builder::cls,
                Builder::rbit,
                Builder::bswap,
                Builder::popcnt,
            ] {
                outs.push(f(&mut b, x));
            }
            for cc in IntCC::ALL {
                let c = b.icmp(cc, x, y);
                outs.push(c);
                let s = b.select(c, x, y);
                outs.push(s);
            }
            outs.push(b.sext(x, Type::I64));
            let i1 = b.trunc(y, Type::I1);
            outs.push(b.sext(i1, Type::I64));
            outs.push(b.zext(i1, Type::I64));
            let n1 = b.not(i1);
            outs.push(n1);
            // Shifts by a 64-bit amount of any size.
            let y64 = b.get_state(8, Type::I64);
            outs.push(b.push(xarch_ir::Op::Shl(x, y64), ty));
            outs.push(b.push(xarch_ir::Op::AShr(x, y64), ty));
            for (k, v) in outs.into_iter().enumerate() {
                let w = b.zext(v, Type::I64);
                b.set_state(8 * (4 + k as u32), w);
            }
            let blk = b.finish(0x1000, 0x1004, 1, Terminator::Jump(0x2000));
            check_words(&[blk], &edge_states());
        }
    }
}

/// AddFlags/LogicFlags and all 16 conditions, directly and through the
/// NZCV field, for SUBS, ADDS, ADCS, ANDS and CCMP-like patterns.
#[test]
fn flags_and_conditions_match_interpreter() {
    const NZCV: u32 = 8 * 250;
    for ty in [Type::I8, Type::I32, Type::I64] {
        let mut b = Builder::new();
        b.guest_insn(0x1000);
        let x = b.get_state(0, Type::I64);
        let y = b.get_state(8, Type::I64);
        let c = b.get_state(24, Type::I64);
        let (x, y) = (b.trunc(x, ty), b.trunc(y, ty));
        let cin = b.trunc(c, Type::I1);
        let one = b.iconst(Type::I1, 1);
        let zero = b.iconst(Type::I1, 0);
        let ny = b.not(y);
        let sub = b.add_flags(x, ny, one);
        let add = b.add_flags(x, y, zero);
        let adc = b.add_flags(x, y, cin);
        let sbc = b.add_flags(x, ny, cin);
        let k = b.iconst(ty, 0xfffe); // CMP x, #imm: AddFlags(x, !imm, 1)
        let cmpk = b.add_flags(x, k, one);
        let a = b.and(x, y);
        let logic = b.logic_flags(a);
        let h = b.icmp(IntCC::Ult, x, y);
        let imm = b.iconst(Type::I64, 0x6000_0000);
        let ccmp = b.select(h, sub, imm);
        let mut slot = 4u32;
        let mut out = |b: &mut Builder, v| {
            let w = b.zext(v, Type::I64);
            b.set_state(8 * slot, w);
            slot += 1;
        };
        for f in [sub, add, adc, sbc, cmpk, logic, ccmp] {
            out(&mut b, f);
            for cond in 0..16 {
                let r = b.cond_holds(cond, f);
                out(&mut b, r);
            }
        }
        // Through the state field, as the lifter does.
        b.set_state(NZCV, sub);
        let f = b.get_state(NZCV, Type::I64);
        let eq = b.cond_holds(0, f);
        let hi = b.cond_holds(8, f);
        let lt = b.cond_holds(11, f);
        out(&mut b, eq);
        out(&mut b, hi);
        out(&mut b, lt);
        let blk = b.finish(
            0x1000,
            0x1004,
            1,
            Terminator::Branch {
                cond: lt,
                taken: 0x3000,
                not_taken: 0x4000,
            },
        );
        check_words(&[blk], &edge_states());
    }
}

/// Loads and stores of every size, unaligned, with sign/zero extension.
#[test]
fn loads_and_stores_match_interpreter() {
    let mut mem = vec![0u8; 256];
    for (i, m) in mem.iter_mut().enumerate() {
        *m = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    let base = mem.as_mut_ptr() as u64;
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let p = b.get_state(0, Type::I64);
    let mut slot = 4u32;
    for (k, ty) in [Type::I8, Type::I16, Type::I32, Type::I64, Type::I128]
        .into_iter()
        .enumerate()
    {
        let off = b.iconst(Type::I64, 3 + 17 * k as u64);
        let a = b.add(p, off);
        let v = b.load(a, ty);
        if ty == Type::I128 {
            b.set_state(8 * slot, v);
            slot += 2;
        } else {
            let z = b.zext(v, Type::I64);
            b.set_state(8 * slot, z);
            let s = b.sext(v, Type::I64);
            b.set_state(8 * (slot + 1), s);
            slot += 2;
        }
        let off2 = b.iconst(Type::I64, 129 + 19 * k as u64);
        let a2 = b.add(p, off2);
        let x = if ty == Type::I128 {
            b.const128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10)
        } else {
            let w = b.get_state(8, Type::I64);
            b.trunc(w, ty)
        };
        b.store(a2, x);
    }
    let blk = b.finish(0x1000, 0x1004, 1, Terminator::Jump(0x2000));
    let mut jit = Jit::new();
    let r = jit.compile(std::slice::from_ref(&blk), chain(EXIT_INFO));
    let mut s = [0u64; WORDS];
    s[0] = base;
    s[1] = 0xa1b2_c3d4_e5f6_0718;
    let init = mem.clone();
    let mut sa = s;
    let ra = interp_region(std::slice::from_ref(&blk), sa.as_mut_ptr() as *mut u8);
    let after_interp = mem.clone();
    mem.copy_from_slice(&init);
    let mut sb = s;
    let rb = jit.run(&r, std::slice::from_ref(&blk), sb.as_mut_ptr() as *mut u8);
    assert_eq!(ra, rb);
    assert_eq!(sa, sb);
    assert_eq!(after_interp, mem);
}

// ---------------------------------------------------------------- A64 tests

const A64_EXIT_INFO: i32 = xarch_a64::state::EXIT_INFO as i32;
const SVC0: u32 = 0xd400_0001;

/// Lifts every block of `code` (in order, each starting where the
/// previous one ended).
fn lift_seq(code: &[u32]) -> Vec<Block> {
    let base = code.as_ptr() as u64;
    let end = base + 4 * code.len() as u64;
    let mut out: Vec<Block> = Vec::new();
    let mut pc = base;
    while pc < end {
        let b = xarch_a64::lift_block(pc, |a| {
            (a >= base && a < end).then(|| code[((a - base) / 4) as usize])
        })
        .expect("lifts");
        pc = b.end;
        out.push(b);
    }
    out
}

/// The result of a load at `pc` faulting on the first byte of the
/// inaccessible page after `page` (see [`guard_pages`]).
fn load_fault_at_guard(pc: u64, page: *mut u8) -> BlockResult {
    BlockResult::Fault {
        pc,
        fault: Fault {
            addr: page as u64 + 4096,
            write: false,
        },
    }
}

/// Lifts the blocks of `code` reachable from its start through direct
/// branches inside it (blocks may overlap).
fn lift_cfg(code: &[u32]) -> Vec<Block> {
    let base = code.as_ptr() as u64;
    let end = base + 4 * code.len() as u64;
    let mut out: Vec<Block> = Vec::new();
    let mut work = vec![base];
    while let Some(pc) = work.pop() {
        if out.iter().any(|b| b.start == pc) {
            continue;
        }
        let b = xarch_a64::lift_block(pc, |a| {
            (a >= base && a < end).then(|| code[((a - base) / 4) as usize])
        })
        .expect("lifts");
        match b.term {
            Terminator::Jump(t) => work.push(t),
            Terminator::Branch {
                taken, not_taken, ..
            } => {
                work.push(taken);
                work.push(not_taken);
            }
            _ => {}
        }
        work.retain(|&t| t >= base && t < end);
        out.push(b);
    }
    // The entry first.
    out.sort_by_key(|b| b.start);
    out
}

fn bytes(s: &A64State) -> &[u8] {
    // SAFETY: A64State is plain data of integers; reading its bytes is fine.
    unsafe {
        core::slice::from_raw_parts(
            s as *const A64State as *const u8,
            core::mem::size_of::<A64State>(),
        )
    }
}

/// Runs the region in both engines from `init`, with `mem` restored in
/// between, and checks they agree. Returns the interpreter's outcome.
fn check_a64(blocks: &[Block], init: &A64State, mem: &mut [u8]) -> (BlockResult, A64State) {
    check_a64_marks(blocks, init, mem, FaultMarks::SourceLocations)
}

/// [`check_a64`] with the way region faults find their access chosen.
fn check_a64_marks(
    blocks: &[Block],
    init: &A64State,
    mem: &mut [u8],
    marks: FaultMarks,
) -> (BlockResult, A64State) {
    check_a64_chained(blocks, init, mem, marks, chain(A64_EXIT_INFO))
}

/// [`check_a64_marks`] with the region compiled for `chain`.
fn check_a64_chained(
    blocks: &[Block],
    init: &A64State,
    mem: &mut [u8],
    marks: FaultMarks,
    chain: ChainConfig,
) -> (BlockResult, A64State) {
    let mut jit = Jit::new();
    jit.marks = marks;
    let r = jit.compile(blocks, chain);
    let mem_init = mem.to_vec();
    let mut a = init.clone();
    let ra = interp_region(blocks, &mut a as *mut A64State as *mut u8);
    let mem_interp = mem.to_vec();
    mem.copy_from_slice(&mem_init);
    let mut b = init.clone();
    let rb = jit.run(&r, blocks, &mut b as *mut A64State as *mut u8);
    assert_eq!(ra, rb, "result\n{}", blocks[0]);
    if bytes(&a) != bytes(&b) {
        panic!(
            "state differs\ninterp: {a:x?}\njit:    {b:x?}\n{}",
            blocks.iter().map(|b| b.to_string()).collect::<String>()
        );
    }
    assert!(mem == &mem_interp[..], "memory differs");
    (ra, a)
}

/// The data-processing test table of the A64 lifter (instruction,
/// registers, NZCV), re-run through the optimizing tier followed by CSET
/// of every condition, with the table's operands and with edge values.
#[test]
fn a64_data_processing_table_matches_interpreter() {
    let src = include_str!("../../a64/src/translate/dp_reg.rs");
    let mut cases = 0;
    for line in src.lines() {
        let Some(rest) = line.trim().strip_prefix("t(0x") else {
            continue;
        };
        let Some((insn, rest)) = rest.split_once(',') else {
            continue;
        };
        let Ok(insn) = u32::from_str_radix(insn, 16) else {
            continue;
        };
        let Some((regs, rest)) = rest.split_once("],") else {
            continue;
        };
        let num = |s: &str| {
            let s = s.trim().replace('_', "");
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => s.parse::<u64>().ok(),
            }
        };
        let mut pairs = Vec::new();
        let mut ok = true;
        for p in regs.split('(').skip(1) {
            let p = p.split(')').next().unwrap_or("");
            match p.split_once(',') {
                Some((r, v)) => match (num(r), num(v)) {
                    (Some(r), Some(v)) => pairs.push((r as usize, v)),
                    _ => ok = false,
                },
                None => ok = false,
            }
        }
        let Some(nzcv) = rest.split(',').next().and_then(num) else {
            continue;
        };
        if !ok {
            continue;
        }
        let mut code = vec![insn];
        for cond in 0..14u32 {
            // csinc x(10+cond), xzr, xzr, cond^1 = cset cond
            code.push(0x9a9f_07e0 | ((cond ^ 1) << 12) | (10 + cond));
        }
        code.push(SVC0);
        let blocks = lift_seq(&code);
        let mut inputs = vec![pairs.clone()];
        for (a, b) in [
            (0u64, 0u64),
            (u64::MAX, 1),
            (0x8000_0000_0000_0000, 0x7fff_ffff_ffff_ffff),
            (0x7fff_ffff, 0xffff_ffff),
            (0x8000_0000, 0x8000_0000),
            (5, u64::MAX),
        ] {
            inputs.push(vec![(1, a), (2, b), (3, a ^ b)]);
        }
        let mut jit = Jit::new();
        let r = jit.compile(&blocks, chain(A64_EXIT_INFO));
        for regs in inputs {
            for nz in [nzcv, 0xf, 0x6] {
                let mut s = A64State::default();
                for &(r, v) in &regs {
                    if r == 31 {
                        s.sp = v;
                    } else {
                        s.x[r] = v;
                    }
                }
                s.nzcv = nz << 28;
                let mut a = s.clone();
                let mut b = s.clone();
                let ra = interp_region(&blocks, &mut a as *mut A64State as *mut u8);
                let rb = jit.run(&r, &blocks, &mut b as *mut A64State as *mut u8);
                assert_eq!(ra, rb, "insn {insn:#010x}");
                assert!(
                    bytes(&a) == bytes(&b),
                    "insn {insn:#010x} regs {regs:x?} nzcv {nz:x}\ninterp: {a:x?}\njit:    {b:x?}"
                );
            }
        }
        cases += 1;
    }
    assert!(cases > 100, "only {cases} table entries parsed");
}

/// Loop summing an array: ldr x2, [x0], #8; add x3, x3, x2; subs x1,
/// x1, #1; b.ne loop; svc #0.
const SUM_LOOP: [u32; 5] = [0xf840_8402, 0x8b02_0063, 0xf100_0421, 0x54ff_ffa1, SVC0];

#[test]
fn loop_region_matches_interpreter() {
    let code = SUM_LOOP;
    let blocks = lift_seq(&code);
    assert_eq!(blocks.len(), 2, "loop body and exit block");
    let data: Vec<u64> = (0..1000u64).map(|i| i * i + 7).collect();
    let mut s = A64State::default();
    s.x[0] = data.as_ptr() as u64;
    s.x[1] = data.len() as u64;
    s.x[3] = 5;
    let (r, a) = check_a64(&blocks, &s, &mut []);
    assert_eq!(
        r,
        BlockResult::Exit(xarch_ir::ExitReason::Syscall, blocks[1].start + 4)
    );
    assert_eq!(a.x[3], 5 + data.iter().sum::<u64>());
}

/// The blocks of [`xarch_a64::testing::CALLING_LOOP`]: lifted at the given word offsets,
/// the first the region's entry.
fn calling_loop_blocks(code: &[u32]) -> Vec<Block> {
    let base = code.as_ptr() as u64;
    let end = base + 4 * code.len() as u64;
    [0u64, 1, 3, 5, 6, 11, 12]
        .iter()
        .map(|w| {
            xarch_a64::lift_block(base + 4 * w, |a| {
                (a >= base && a < end).then(|| code[((a - base) / 4) as usize])
            })
            .expect("lifts")
        })
        .collect()
}

/// Returns in a region whose target is the return address of one of its
/// calls continue in the region (the interpreter runs the region's blocks
/// until control leaves them: had a return left the region, the results
/// would differ); one whose target is anything else leaves it with that
/// PC; a fault in the callee reports the interpreter's state.
#[test]
fn returns_to_the_regions_calls_stay_in_the_region() {
    let code = xarch_a64::testing::CALLING_LOOP;
    let blocks = calling_loop_blocks(&code);
    let linked = ChainConfig {
        link: Some(xarch_a64::state::x_offset(30)),
        ..chain(A64_EXIT_INFO)
    };
    let check =
        |s: &A64State| check_a64_chained(&blocks, s, &mut [], FaultMarks::SourceLocations, linked);
    let data: Vec<u64> = (0..200u64).map(|i| i * 7 + 1).collect();
    let mut s = A64State::default();
    s.x[1] = 100;
    s.x[2] = data.as_ptr() as u64;
    s.x[5] = u64::MAX;
    s.nzcv = 0x6000_0000;
    // Every return goes back to its call: the loop runs to the `svc`.
    let (r, a) = check(&s);
    assert_eq!(
        r,
        BlockResult::Exit(xarch_ir::ExitReason::Syscall, blocks[3].start + 4)
    );
    assert_eq!(a.x[1], 0);
    assert_eq!(a.x[2], s.x[2] + 200 * 8);
    // A return elsewhere (x30 rewritten once x0 reaches x5) leaves.
    s.x[5] = 5000;
    s.x[6] = 0x1000;
    let (r, a) = check(&s);
    assert_eq!(r, BlockResult::Next(0x1000));
    assert!(a.x[1] > 0 && a.x[0] >= 5000);
    // A fault in the callee, after calls from both sites have returned.
    let page = guard_pages();
    s.x[2] = page as u64 + 4096 - 5 * 8;
    s.x[5] = u64::MAX;
    let (r, a) = check(&s);
    assert_eq!(r, load_fault_at_guard(code.as_ptr() as u64 + 4 * 7, page));
    assert_eq!(a.x[1], 98, "the fault is in the third iteration");
}

/// Blocks of integer ops, loads and stores are lowered natively; one
/// with a floating-point or vector op is not (region formation leaves
/// such callees out).
#[test]
fn lowers_natively_only_integer_and_memory_blocks() {
    const RET: u32 = 0xd65f_03c0;
    let block = |insn: u32| {
        let code = [insn, RET];
        lift_seq(&code).swap_remove(0)
    };
    // add x0, x0, #3; ldr x4, [x2], #8
    for insn in [0x9100_0c00, 0xf840_8444] {
        assert!(xarch_jit::opt::lowers_natively(&block(insn)), "{insn:#x}");
    }
    // fadd d0, d0, d1; add v0.4s, v0.4s, v1.4s
    for insn in [0x1e61_2800, 0x4ea1_8400] {
        assert!(!xarch_jit::opt::lowers_natively(&block(insn)), "{insn:#x}");
    }
}

/// Flags set in one block and still unpacked when the next block leaves
/// the region on both sides of a branch: each exit packs them on its own
/// path (a value packed on one exit path does not dominate the other; the
/// Cranelift verifier rejected the region before this was fixed).
#[test]
fn flags_packed_on_sibling_exits() {
    // subs x0, x1, x2; b 1f; 1: cbz x3, 2f; nop; nop; 2: nop
    let code: [u32; 6] = [
        0xeb02_0020,
        0x1400_0001,
        0xb400_0063,
        0xd503_201f,
        0xd503_201f,
        0xd503_201f,
    ];
    // The region: the SUBS block and the CBZ block; both CBZ targets are
    // outside it.
    let blocks = lift_seq(&code[..3]);
    assert_eq!(blocks.len(), 2);
    for (x1, x2, x3) in [(5, 7, 0), (7, 5, 1), (3, 3, 0), (u64::MAX, 1, 9)] {
        let mut s = A64State::default();
        s.x[1] = x1;
        s.x[2] = x2;
        s.x[3] = x3;
        let (_, a) = check_a64(&blocks, &s, &mut []);
        assert_eq!(a.x[0], x1.wrapping_sub(x2));
    }
}

/// A load faulting in the sixth iteration: the state is the
/// interpreter's at the faulting instruction.
#[test]
fn fault_in_loop_reports_exact_state() {
    let code = SUM_LOOP;
    let blocks = lift_seq(&code);
    let page = guard_pages();
    let mut s = A64State::default();
    s.x[0] = page as u64 + 4096 - 5 * 8;
    s.x[1] = 100;
    s.nzcv = 0x9000_0000;
    let (r, a) = check_a64(&blocks, &s, &mut []);
    assert_eq!(r, load_fault_at_guard(code.as_ptr() as u64, page));
    assert_eq!(a.x[1], 95);
}

/// A load after a store of another guest instruction (accesses are told
/// apart by their Cranelift source locations), whose value only an ADD
/// uses (the register is overwritten right after; Cranelift may fold such
/// a load into its user): a fault at the load in the sixth iteration
/// reports the load's PC and the interpreter's state.
#[test]
fn fault_in_load_after_a_store_reports_its_pc() {
    let code = [
        0xf900_0083, // str x3, [x4]
        0xf840_8402, // ldr x2, [x0], #8
        0x8b02_0063, // add x3, x3, x2
        0xd280_0002, // movz x2, #0
        0xf100_0421, // subs x1, x1, #1
        0x54ff_ff61, // b.ne 0
        SVC0,
    ];
    let blocks = lift_seq(&code);
    let page = guard_pages();
    let mut mem = [0u8; 8];
    let mut s = A64State::default();
    s.x[0] = page as u64 + 4096 - 5 * 8;
    s.x[1] = 100;
    s.x[3] = 1;
    s.x[4] = mem.as_mut_ptr() as u64;
    let (r, a) = check_a64(&blocks, &s, &mut mem);
    assert_eq!(r, load_fault_at_guard(code.as_ptr() as u64 + 4, page));
    assert_eq!(a.x[1], 95);
}

/// [`check_a64`] for a region whose fault must be reported at a replay
/// point and replayed (exactly once).
fn check_a64_replayed(
    blocks: &[Block],
    init: &A64State,
    mem: &mut [u8],
) -> (BlockResult, A64State) {
    REPLAYS.set(0);
    let out = check_a64(blocks, init, mem);
    assert_eq!(
        REPLAYS.get(),
        1,
        "the fault was reported at the replay point"
    );
    out
}

/// The state of the replay tests' loops: x0 walks `data`, x1 counts 100
/// iterations down, x6 walks up to the guard page after `page`, `before`
/// words before it.
fn replay_loop_state(data: &[u64], page: *mut u8, before: u64) -> A64State {
    let mut s = A64State::default();
    s.x[0] = data.as_ptr() as u64;
    s.x[1] = 100;
    s.x[6] = page as u64 + 4096 - before * 8;
    s
}

/// A loop of two loads and register work (x0 and x6 walk words, x1
/// counts down).
const TWO_LOADS_LOOP: [u32; 7] = [
    0xf840_8402, // ldr x2, [x0], #8
    0x8b02_0063, // add x3, x3, x2
    0xf840_84c5, // ldr x5, [x6], #8
    0xca05_0063, // eor x3, x3, x5
    0xf100_0421, // subs x1, x1, #1
    0x54ff_ff61, // b.ne 0
    SVC0,
];

/// A load faulting after another instruction's load with only register
/// work between: no write-back before it, the fault reported at the first
/// load's instruction (the replay point) and run again from there by the
/// interpreter: the state and result are the interpreter's.
#[test]
fn fault_after_a_load_replays_from_the_replay_point() {
    let code = TWO_LOADS_LOOP;
    let blocks = lift_seq(&code);
    let data: Vec<u64> = (0..64u64).map(|i| i * 0x0101_0101).collect();
    let page = guard_pages();
    let mut s = replay_loop_state(&data, page, 5);
    s.x[3] = 7;
    let (r, a) = check_a64_replayed(&blocks, &s, &mut []);
    assert_eq!(r, load_fault_at_guard(code.as_ptr() as u64 + 8, page));
    assert_eq!(a.x[1], 95);
    assert_eq!(a.x[0], data.as_ptr() as u64 + 6 * 8);
}

/// A loop whose passes only load: the region counts its passes instead of
/// writing the state back at each, and a load faulting in the sixth pass
/// reports the loop's start and five passes; the interpreter runs from
/// there, round the loop five times, to the fault: the state and result
/// are the interpreter's.
#[test]
fn a_fault_in_a_loads_only_loop_reports_its_passes() {
    let code = TWO_LOADS_LOOP;
    let blocks = lift_seq(&code);
    let data: Vec<u64> = (0..64u64).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
    let page = guard_pages();
    let mut s = replay_loop_state(&data, page, 5);
    s.x[3] = 7;
    PASSES.set(0);
    let (r, a) = check_a64_replayed(&blocks, &s, &mut []);
    assert_eq!(r, load_fault_at_guard(code.as_ptr() as u64 + 8, page));
    assert_eq!(a.x[1], 95);
    assert_eq!(PASSES.get(), 5, "the passes since the loop was entered");
}

/// Past a bound on the passes the region writes the state back anyway
/// (so a replay stays short): a fault in the 41st pass reports fewer
/// passes than that, and the state is still the interpreter's.
#[test]
fn a_long_loop_writes_back_every_few_passes() {
    let code = TWO_LOADS_LOOP;
    let blocks = lift_seq(&code);
    let data: Vec<u64> = (0..64u64).map(|i| i ^ 0xa5a5).collect();
    let page = guard_pages();
    let s = replay_loop_state(&data, page, 40);
    PASSES.set(0);
    let (r, a) = check_a64_replayed(&blocks, &s, &mut []);
    assert_eq!(r, load_fault_at_guard(code.as_ptr() as u64 + 8, page));
    assert_eq!(a.x[1], 60);
    let passes = PASSES.get();
    assert!(passes > 0 && passes < 32, "{passes} passes replayed");
}

/// An outer loop whose pass runs an inner loop, both with loads only: the
/// inner loop takes the outer loop's replay point, the outer loop counts
/// its passes, and a load after the inner loop faulting in the fifth
/// outer pass is replayed through four whole passes (inner iterations
/// included): the state is the interpreter's.
#[test]
fn a_fault_after_an_inner_loop_replays_its_outer_passes() {
    let code = xarch_a64::testing::NESTED_LOADS_LOOP;
    let blocks = lift_cfg(&code);
    assert_eq!(blocks.len(), 4, "{blocks:?}");
    let data: Vec<u64> = (0..64u64).map(|i| i * 0x0101).collect();
    let word = 0x1234_5678u64;
    let page = guard_pages();
    let mut s = replay_loop_state(&data, page, 0);
    s.x[3] = 7;
    s.x[4] = &word as *const u64 as u64;
    s.x[8] = page as u64 + 4096 - 4 * 8;
    PASSES.set(0);
    let (r, a) = check_a64_replayed(&blocks, &s, &mut []);
    assert_eq!(r, load_fault_at_guard(code.as_ptr() as u64 + 24, page));
    assert_eq!(a.x[1], 96);
    assert_eq!(PASSES.get(), 4, "the outer loop's passes");
}

/// A store faulting after a load of another instruction: reported at the
/// load's instruction, replayed; memory written by earlier iterations
/// stays, the faulting store writes nothing.
#[test]
fn store_fault_after_a_load_replays_and_leaves_memory() {
    let code = [
        0xf840_8402, // ldr x2, [x0], #8
        0x8b02_0063, // add x3, x3, x2
        0xf800_84c3, // str x3, [x6], #8
        0xf100_0421, // subs x1, x1, #1
        0x54ff_ff81, // b.ne 0
        SVC0,
    ];
    let blocks = lift_seq(&code);
    let data: Vec<u64> = (0..64u64).map(|i| i * 3 + 1).collect();
    let page = guard_pages();
    let s = replay_loop_state(&data, page, 4);
    // SAFETY: the four words before the guard page are mapped.
    let mem = unsafe { core::slice::from_raw_parts_mut(page.add(4096 - 32), 32) };
    let (r, a) = check_a64_replayed(&blocks, &s, mem);
    assert_eq!(
        r,
        BlockResult::Fault {
            pc: code.as_ptr() as u64 + 8,
            fault: Fault {
                addr: page as u64 + 4096,
                write: true,
            },
        }
    );
    assert_eq!(a.x[1], 96);
    assert_eq!(a.x[3], 1 + 4 + 7 + 10 + 13);
    assert_eq!(mem[24..32], 22u64.to_le_bytes());
}

/// The replay point of a block carries into a block whose only
/// predecessor it is: a load faulting there is replayed from the first
/// block's load, through both blocks.
#[test]
fn replay_point_carries_into_a_single_predecessor_block() {
    let code = [
        0xf840_8402, // 0:  ldr x2, [x0], #8
        0x8b02_0063, // 4:  add x3, x3, x2
        0x1400_0002, // 8:  b 16
        SVC0,        // 12: (skipped)
        0xf840_84c5, // 16: ldr x5, [x6], #8
        0xca05_0063, // 20: eor x3, x3, x5
        0xf100_0421, // 24: subs x1, x1, #1
        0x54ff_ff21, // 28: b.ne 0
        SVC0,
    ];
    let blocks = lift_cfg(&code);
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    let data: Vec<u64> = (0..64u64).map(|i| i ^ 0x5555).collect();
    let page = guard_pages();
    let s = replay_loop_state(&data, page, 3);
    let (r, a) = check_a64_replayed(&blocks, &s, &mut []);
    assert_eq!(r, load_fault_at_guard(code.as_ptr() as u64 + 16, page));
    assert_eq!(a.x[1], 97);
}

/// A byte load whose zero extension and subtraction Cranelift's optimizer
/// may rewrite, merging the load into an instruction of its own (without
/// the access's source location: the region is then compiled with each
/// access's mark stored before it; this one merged before W/X registers
/// were promoted): a fault at the load reports its PC and state with
/// source-location marks and with stored marks alike.
#[test]
fn fault_in_load_merged_by_the_optimizer_reports_its_pc() {
    let code = [
        0xf900_0083, // str x3, [x4]
        0x3840_14c5, // ldrb w5, [x6], #1
        0x5101_c4a5, // sub w5, w5, #0x71
        0x1b08_1463, // madd w3, w3, w8, w5
        0xeb07_00df, // cmp x6, x7
        0x54ff_ff61, // b.ne 0
        SVC0,
    ];
    // As the engine compiles them: simplified (x5's first write dropped).
    let mut blocks = lift_seq(&code);
    blocks.iter_mut().for_each(xarch_ir::simplify::simplify);
    let page = guard_pages();
    let mut mem = [0u8; 8];
    let mut s = A64State::default();
    s.x[6] = page as u64 + 4096 - 5;
    s.x[7] = u64::MAX;
    s.x[8] = 31;
    s.x[4] = mem.as_mut_ptr() as u64;
    for marks in [FaultMarks::SourceLocations, FaultMarks::Stored] {
        let (r, a) = check_a64_marks(&blocks, &s, &mut mem, marks);
        assert_eq!(r, load_fault_at_guard(code.as_ptr() as u64 + 4, page));
        assert_eq!(a.x[6], page as u64 + 4096);
    }
}

/// Registers used both as W and X in a loop live in 64-bit variables (a W
/// read takes the low half, a W write zero-extends): with high halves set
/// on entry, the state after the loop and at a fault in it is the
/// interpreter's.
#[test]
fn w_and_x_views_of_registers_in_a_loop_match_interpreter() {
    let code = [
        0x0b01_0042, // add w2, w2, w1
        0x8b02_0063, // add x3, x3, x2
        0x1100_0421, // add w1, w1, #1
        0xf840_8405, // ldr x5, [x0], #8
        0xca05_0063, // eor x3, x3, x5
        0x7100_04c6, // subs w6, w6, #1
        0x54ff_ff41, // b.ne 0
        SVC0,
    ];
    let mut blocks = lift_seq(&code);
    blocks.iter_mut().for_each(xarch_ir::simplify::simplify);
    let data: Vec<u64> = (0..64u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let mut s = A64State::default();
    s.x[0] = data.as_ptr() as u64;
    s.x[1] = 0xffff_fff0_ffff_fffe;
    s.x[2] = 0x1234_5678_9abc_def0;
    s.x[3] = 0x8000_0000_0000_0001;
    s.x[6] = 0xdead_beef_0000_0040;
    let (r, a) = check_a64(&blocks, &s, &mut []);
    assert_eq!(
        r,
        BlockResult::Exit(xarch_ir::ExitReason::Syscall, code.as_ptr() as u64 + 32)
    );
    assert_eq!(a.x[6], 0);
    assert_eq!(a.x[1], 0x3e);
    // And a fault in the ninth iteration.
    let page = guard_pages();
    s.x[0] = page as u64 + 4096 - 8 * 8;
    let (r, a) = check_a64(&blocks, &s, &mut []);
    assert_eq!(r, load_fault_at_guard(code.as_ptr() as u64 + 12, page));
    assert_eq!(a.x[6], 0x38);
}

/// A vector loop (LDR Q post-index, ADD .16B, AESE+AESMC, SUBS, B.NE)
/// whose vector registers live in host registers across iterations: the
/// state after the loop, and at a load faulting in the fourth iteration,
/// is the interpreter's.
#[test]
fn vector_loop_region_and_fault_match_interpreter() {
    let code = [
        0x3cc1_0401, // ldr q1, [x0], #16
        0x4e21_8400, // add v0.16b, v0.16b, v1.16b
        0x4e28_4822, // aese v2.16b, v1.16b
        0x4e28_6842, // aesmc v2.16b, v2.16b
        0xf100_0421, // subs x1, x1, #1
        0x54ff_ff61, // b.ne loop
        SVC0,
    ];
    let blocks = lift_cfg(&code);
    let page = guard_pages();
    for k in 0..4096 {
        // SAFETY: the first page of the mapping is writable.
        unsafe { *page.add(k) = (k * 7 + 3) as u8 };
    }
    let mut s = A64State::default();
    s.v[0] = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
    s.v[2] = 0x5555_aaaa_0f0f_f0f0_1234_5678_9abc_def0;
    s.x[0] = page as u64;
    s.x[1] = 5;
    let (r, a) = check_a64(&blocks, &s, &mut []);
    assert!(matches!(r, BlockResult::Exit(..)), "{r:?}");
    assert_eq!(a.x[1], 0);
    s.x[0] = page as u64 + 4096 - 3 * 16;
    s.x[1] = 100;
    let (r, a) = check_a64(&blocks, &s, &mut []);
    assert_eq!(r, load_fault_at_guard(code.as_ptr() as u64, page));
    assert_eq!(a.x[1], 97);
    // A load between AESE and AESMC: the AESE result must reach the
    // state before the load (which faults here).
    let code = [
        0x4e28_4822, // aese v2.16b, v1.16b
        0x3cc1_0401, // ldr q1, [x0], #16
        0x4e28_6842, // aesmc v2.16b, v2.16b
        SVC0,
    ];
    let blocks = lift_seq(&code);
    s.v[1] = 0x0f1e_2d3c_4b5a_6978_8796_a5b4_c3d2_e1f0;
    s.x[0] = page as u64 + 4096;
    let (r, a) = check_a64(&blocks, &s, &mut []);
    assert!(matches!(r, BlockResult::Fault { .. }), "{r:?}");
    assert_ne!(a.v[2], s.v[2], "the AESE result is in the state");
}

/// A store to a read-only page after a register update in the same block.
#[test]
fn store_fault_reports_write_and_state() {
    // add x5, x5, #1; str x1, [x0]; svc #0
    let code = [0x9100_04a5, 0xf900_0001, SVC0];
    let blocks = lift_seq(&code);
    let page = guard_pages();
    // SAFETY: the first page of the fresh mapping becomes read-only.
    unsafe { libc::mprotect(page as *mut libc::c_void, 4096, libc::PROT_READ) };
    for addr in [page as u64 + 8, page as u64 + 4096 + 8] {
        let mut s = A64State::default();
        s.x[0] = addr;
        s.x[1] = 0x55;
        s.x[5] = 41;
        let (r, a) = check_a64(&blocks, &s, &mut []);
        assert_eq!(
            r,
            BlockResult::Fault {
                pc: code.as_ptr() as u64 + 4,
                fault: Fault { addr, write: true }
            }
        );
        assert_eq!(a.x[5], 42);
    }
}

/// A pending interrupt makes a loop region leave at its first back-edge.
#[test]
fn interrupt_exits_at_back_edge() {
    let code = SUM_LOOP;
    let blocks = lift_seq(&code);
    let data = [3u64; 8];
    let mut s = A64State::default();
    s.x[0] = data.as_ptr() as u64;
    s.x[1] = 8;
    // SAFETY: `s`'s own interrupt word.
    unsafe { xarch_a64::helpers::raise_interrupt(&mut s.interrupt) };
    let mut jit = Jit::new();
    let r = jit.compile(&blocks, chain(A64_EXIT_INFO));
    let mut b = s.clone();
    let rb = jit.run(&r, &blocks, &mut b as *mut A64State as *mut u8);
    // The interpreter's state after exactly one iteration.
    let mut a = s.clone();
    // SAFETY: the block was lifted for A64State.
    let ra = unsafe { Interpreter::new().run(&blocks[0], &mut a as *mut A64State as *mut u8) };
    assert_eq!(ra, BlockResult::Next(blocks[0].start));
    assert_eq!(rb, ra);
    assert!(bytes(&a) == bytes(&b));
    assert_eq!(b.x[1], 7);
}

/// Sub-word loads and stores, 128-bit accesses, exclusives, CAS, FP and
/// vector ops (helpers and interpreter fallbacks) in one region.
#[test]
fn mixed_memory_and_fallback_ops_match_interpreter() {
    let code = [
        0x3940_0c20, // ldrb w0, [x1, #3]
        0x8b00_0063, // add x3, x3, x0
        0x7980_0420, // ldrsh x0, [x1, #2]
        0x8b00_0063, // add x3, x3, x0
        0x3900_4422, // strb w2, [x1, #17]
        0x3dc0_0420, // ldr q0, [x1, #16]
        0x3d80_0820, // str q0, [x1, #32]
        0xc85f_7c20, // ldxr x0, [x1]
        0xc803_7c22, // stxr w3, x2, [x1]
        0xc8a0_7c22, // cas x0, x2, [x1]
        0x1e62_2820, // fadd d0, d1, d2
        0x4ea2_8420, // add v0.4s, v1.4s, v2.4s
        SVC0,
    ];
    let blocks = lift_seq(&code);
    let mut mem = vec![0u8; 128];
    for (i, m) in mem.iter_mut().enumerate() {
        *m = (i as u8).wrapping_mul(91).wrapping_add(200);
    }
    // 16-byte alignment for the exclusive pair and CAS.
    let off = (16 - (mem.as_ptr() as usize % 16)) % 16;
    let mut s = A64State::default();
    s.x[1] = mem.as_ptr() as u64 + off as u64;
    s.x[2] = 0x1122_3344_5566_7788;
    s.v[1] = 0x4000_0000_0000_0000_3ff8_0000_0000_0000;
    s.v[2] = 0x0000_0001_0000_0002_4008_0000_0000_0000;
    check_a64(&blocks, &s, &mut mem);
}

/// A compare-and-swap (run by the interpreter's routine) faulting on an
/// unmapped page is reported like an inline access.
#[test]
fn cas_fault_reports_write_and_state() {
    // add x5, x5, #1; cas x0, x2, [x1]; svc #0
    let code = [0x9100_04a5, 0xc8a0_7c22, SVC0];
    let blocks = lift_seq(&code);
    let page = guard_pages();
    let mut s = A64State::default();
    s.x[1] = page as u64 + 4096;
    s.x[5] = 1;
    let (r, a) = check_a64(&blocks, &s, &mut []);
    assert_eq!(
        r,
        BlockResult::Fault {
            pc: code.as_ptr() as u64 + 4,
            fault: Fault {
                addr: page as u64 + 4096,
                write: true
            }
        }
    );
    assert_eq!(a.x[5], 2);
}

/// Prints the compile time per guest instruction and the speed of the
/// array-sum loop in the optimizing tier against the baseline tier
/// (`cargo test --release -p xarch-jit --test opt report -- --nocapture`).
/// Checks only that both tiers compute the same sum.
#[test]
fn report_compile_time_and_loop_speed() {
    use std::time::Instant;
    let mut jit = Jit::new();
    // Compile time: the lifter's data-processing table as one region.
    let src = include_str!("../../a64/src/translate/dp_reg.rs");
    let mut code: Vec<u32> = src
        .lines()
        .filter_map(|l| l.trim().strip_prefix("t(0x"))
        .filter_map(|r| u32::from_str_radix(r.split(',').next()?, 16).ok())
        .collect();
    code.push(SVC0);
    for (name, code) in [("sum loop", &SUM_LOOP[..]), ("dp table", &code[..])] {
        let blocks = lift_seq(code);
        let insns: u32 = blocks.iter().map(|b| b.guest_insns).sum();
        let t = Instant::now();
        let reps = 5;
        let mut bytes = 0;
        for _ in 0..reps {
            bytes = jit.compile(&blocks, chain(A64_EXIT_INFO)).code_bytes;
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
        eprintln!(
            "opt: {name}: {} blocks, {insns} guest insns: {us:.0} us per region, {:.1} us per insn, {bytes} bytes",
            blocks.len(),
            us / insns as f64
        );
    }
    // Speed: sum of 1024 words (in L1), 4000 times.
    let blocks = lift_seq(&SUM_LOOP);
    let data: Vec<u64> = (0..1024u64).collect();
    let reps = 4000;
    let mut s = A64State::default();
    s.x[0] = data.as_ptr() as u64;
    s.x[1] = data.len() as u64;
    let r = jit.compile(&blocks, chain(A64_EXIT_INFO));
    if let Ok(path) = std::env::var("XARCH_OPT_DUMP") {
        let start = r.entry.addr();
        // SAFETY: the region's code is `code_bytes` long from its entry.
        let code = unsafe { core::slice::from_raw_parts(start as *const u8, r.code_bytes) };
        std::fs::write(path, code).unwrap();
    }
    let mut a = s.clone();
    let mut ra = BlockResult::Next(0);
    let t = Instant::now();
    for _ in 0..reps {
        a.x[0] = s.x[0];
        a.x[1] = s.x[1];
        ra = jit.run(&r, &blocks, &mut a as *mut A64State as *mut u8);
    }
    let opt_ns = t.elapsed().as_secs_f64() * 1e9;
    // Baseline: both blocks chained to each other.
    let cfg = chain(A64_EXIT_INFO);
    let c0 = xarch_jit::compile(&blocks[0], &mut jit.cache, cfg).unwrap();
    let c1 = xarch_jit::compile(&blocks[1], &mut jit.cache, cfg).unwrap();
    for e in &c0.exits {
        // SAFETY: both blocks live in the same cache.
        unsafe {
            e.link(if e.target == blocks[0].start {
                c0.body
            } else {
                c1.body
            })
        };
    }
    let mut b = s.clone();
    let mut ctx = JitCtx::default();
    let mut nb = 0;
    let t = Instant::now();
    for _ in 0..reps {
        b.x[0] = s.x[0];
        b.x[1] = s.x[1];
        // SAFETY: compiled for A64State, slots has MAX_SLOTS entries.
        nb = unsafe {
            c0.call(
                &mut b as *mut A64State as *mut u8,
                jit.slots.as_mut_ptr(),
                &mut ctx,
            )
        };
    }
    let base_ns = t.elapsed().as_secs_f64() * 1e9;
    assert_eq!(ctx.kind, KIND_EXIT);
    assert_eq!(ra, BlockResult::Exit(xarch_ir::ExitReason::Syscall, nb));
    assert_eq!(a.x[3], b.x[3]);
    assert_eq!(a.x[3], reps * data.iter().sum::<u64>());
    let iters = (reps * data.len() as u64) as f64;
    eprintln!(
        "opt: sum loop: {:.2} ns/iteration optimizing, {:.2} ns/iteration baseline",
        opt_ns / iters,
        base_ns / iters
    );
}

/// Random A64 instructions (data processing, loads and stores, FP and
/// SIMD; no branches, exits or helper calls) in random sequences, with
/// registers pointing into a scratch buffer or holding edge values: the
/// optimizing tier must agree with the interpreter on state, memory and
/// faults.
#[test]
fn random_instruction_sequences_match_interpreter() {
    // XARCH_FUZZ_SEED / XARCH_FUZZ_ROUNDS explore further.
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let rounds = env("XARCH_FUZZ_ROUNDS", 300);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ env("XARCH_FUZZ_SEED", 0);
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut pool = Vec::new();
    while pool.len() < 600 {
        let w = rnd() as u32;
        // Data processing, loads/stores and SIMD&FP encoding groups.
        if (w >> 25) & 0b0101 != 0b0101
            && (w >> 25) & 0b1110 != 0b1000
            && (w >> 25) & 0b0101 != 0b0100
        {
            continue;
        }
        let code = [w, SVC0];
        let base = code.as_ptr() as u64;
        let Some(b) = xarch_a64::lift_block(base, |a| {
            (a >= base && a < base + 8).then(|| code[((a - base) / 4) as usize])
        }) else {
            continue;
        };
        let plain = b.guest_insns == 2
            && matches!(b.term, Terminator::Exit { .. })
            && !b.insts.iter().any(|i| match i.op {
                xarch_ir::Op::Call(..) => true,
                // ADR, ADRP and literal loads point near the code, which
                // is test heap that changes between the two runs.
                xarch_ir::Op::Const(c) => c.abs_diff(base) < 1 << 34,
                _ => false,
            });
        if plain {
            pool.push(w);
        }
    }
    let mut mem = vec![0u8; 1 << 16];
    let buf = mem.as_mut_ptr() as u64 + (1 << 15);
    let mut jit = Jit::new();
    let mut faults = 0;
    for round in 0..rounds {
        // Random instructions with forward conditional branches (b.cond
        // .+8), so regions have joins with flags and registers dirty on
        // some paths only.
        let mut code: Vec<u32> = (0..10)
            .map(|_| {
                if rnd() % 5 == 0 {
                    0x5400_0040 | (rnd() % 14) as u32
                } else {
                    pool[rnd() as usize % pool.len()]
                }
            })
            .collect();
        code.push(SVC0);
        code.push(SVC0);
        let blocks = lift_cfg(&code);
        let r = jit.compile(&blocks, chain(A64_EXIT_INFO));
        let mut s = A64State::default();
        for k in 0..31 {
            s.x[k] = match rnd() % 4 {
                0 => EDGES[rnd() as usize % EDGES.len()],
                1 => rnd(),
                _ => buf + (rnd() % 256) * 8,
            };
        }
        s.sp = buf;
        for v in s.v.iter_mut() {
            *v = (rnd() as u128) << 64 | rnd() as u128;
        }
        s.nzcv = (rnd() & 0xf) << 28;
        for (i, m) in mem.iter_mut().enumerate() {
            *m = (i as u8) ^ (round as u8);
        }
        let mem_init = mem.clone();
        let mut a = s.clone();
        let ra = interp_region(&blocks, &mut a as *mut A64State as *mut u8);
        let mem_interp = mem.clone();
        mem.copy_from_slice(&mem_init);
        let mut b = s.clone();
        let mut rb = jit.run(&r, &blocks, &mut b as *mut A64State as *mut u8);
        // A non-canonical address raises #GP, which does not report the
        // address: the inline access reports 0 (see the tier's notes).
        if let (BlockResult::Fault { fault: fa, .. }, BlockResult::Fault { fault: fb, .. }) =
            (&ra, &mut rb)
        {
            faults += 1;
            if fb.addr == 0 && (fa.addr >> 47) != 0 && (fa.addr >> 47) != 0x1ffff {
                fb.addr = fa.addr;
            }
        }
        let listing: String = blocks.iter().map(|b| b.to_string()).collect();
        assert_eq!(ra, rb, "round {round}\n{listing}");
        assert!(
            bytes(&a) == bytes(&b),
            "round {round}\ninterp: {a:x?}\njit:    {b:x?}\n{listing}"
        );
        assert!(
            mem == mem_interp,
            "memory differs in round {round}\n{listing}"
        );
    }
    assert!(
        faults > 0 && faults < rounds,
        "{faults} of {rounds} rounds faulted"
    );
}

/// Baseline block → region (through its body) → baseline block (through
/// the region's link cell), as the engine chains them.
#[test]
fn region_chains_with_baseline_blocks() {
    let mut code = vec![0xd280_0003, 0x1400_0001]; // movz x3, #0; b .+4
    code.extend_from_slice(&SUM_LOOP);
    let blocks = lift_seq(&code);
    assert_eq!(blocks.len(), 3);
    let data: Vec<u64> = (0..100u64).map(|i| i * 3 + 1).collect();
    let mut s = A64State::default();
    s.x[0] = data.as_ptr() as u64;
    s.x[1] = data.len() as u64;
    s.x[3] = 77;
    let mut a = s.clone();
    let ra = interp_region(&blocks, &mut a as *mut A64State as *mut u8);

    let mut jit = Jit::new();
    let cfg = chain(A64_EXIT_INFO);
    let region = jit.compile(&blocks[1..2], cfg);
    let c0 = xarch_jit::compile(&blocks[0], &mut jit.cache, cfg).unwrap();
    let c2 = xarch_jit::compile(&blocks[2], &mut jit.cache, cfg).unwrap();
    assert_eq!(region.exits.len(), 1);
    assert_eq!(region.exits[0].target, blocks[2].start);
    // SAFETY: all code lives in the same cache.
    unsafe {
        region.exits[0].link(c2.body);
        for e in &c0.exits {
            e.link(region.body);
        }
    }
    let mut b = s.clone();
    let mut ctx = JitCtx::default();
    // SAFETY: compiled for A64State, slots has MAX_SLOTS entries.
    let next = unsafe {
        c0.call(
            &mut b as *mut A64State as *mut u8,
            jit.slots.as_mut_ptr(),
            &mut ctx,
        )
    };
    assert_eq!(ctx.kind, KIND_EXIT);
    assert_eq!(ctx.fault_pc, blocks[2].start);
    assert_eq!(ra, BlockResult::Exit(xarch_ir::ExitReason::Syscall, next));
    assert!(bytes(&a) == bytes(&b));
    assert_eq!(b.x[3], data.iter().sum::<u64>());
    // Unlinked again, the region returns the target to the dispatcher.
    // SAFETY: as above.
    unsafe { region.exits[0].unlink() };
    let mut b = s.clone();
    let rb = jit.run(&region, &blocks[1..2], &mut b as *mut A64State as *mut u8);
    assert_eq!(rb, BlockResult::Next(blocks[2].start));
}

/// 128-bit and 1-bit values: native where lowered, through the
/// interpreter's definition otherwise.
#[test]
fn wide_and_boolean_ops_match_interpreter() {
    let mut b = Builder::new();
    b.guest_insn(0x1000);
    let x = b.get_state(0, Type::I128);
    let y = b.get_state(16, Type::I128);
    let n = b.get_state(32, Type::I64);
    let mut outs = Vec::new();
    for f in [
        Builder::add,
        Builder::sub,
        Builder::mul,
        // (UMulHi of I128 is not defined by the interpreter.)
        Builder::udiv,
        Builder::sdiv,
        Builder::and,
        Builder::or,
        Builder::xor,
    ] {
        outs.push(f(&mut b, x, y));
    }
    for op in [
        xarch_ir::Op::Shl(x, n),
        xarch_ir::Op::LShr(x, n),
        xarch_ir::Op::AShr(x, n),
        xarch_ir::Op::Ror(x, n),
        xarch_ir::Op::Shl(x, y),
    ] {
        outs.push(b.push(op, Type::I128));
    }
    for f in [
        Builder::not,
        Builder::neg,
        Builder::clz,
        Builder::popcnt,
        Builder::bswap,
    ] {
        outs.push(f(&mut b, x));
    }
    let c = b.icmp(IntCC::Slt, x, y);
    outs.push(b.select(c, x, y));
    let c = b.icmp(IntCC::Ugt, x, y);
    outs.push(b.zext(c, Type::I128));
    let lo = b.trunc(x, Type::I64);
    outs.push(b.sext(lo, Type::I128));
    outs.push(b.zext(lo, Type::I128));
    // I1 arithmetic and comparisons.
    let p = b.trunc(n, Type::I1);
    let q = b.trunc(lo, Type::I1);
    let mut bools = Vec::new();
    for f in [
        Builder::add,
        Builder::sub,
        Builder::mul,
        Builder::and,
        Builder::xor,
        Builder::shl,
    ] {
        bools.push(f(&mut b, p, q));
    }
    for cc in [IntCC::Slt, IntCC::Ult, IntCC::Sge, IntCC::Eq] {
        bools.push(b.icmp(cc, p, q));
    }
    bools.push(b.neg(p));
    bools.push(b.not(p));
    for v in bools {
        let w = b.zext(v, Type::I128);
        outs.push(w);
    }
    for (k, v) in outs.into_iter().enumerate() {
        b.set_state(48 + 16 * k as u32, v);
    }
    let blk = b.finish(0x1000, 0x1004, 1, Terminator::Jump(0x2000));
    let mut states = Vec::new();
    let vals = [
        0u128,
        1,
        u128::MAX,
        1 << 127,
        (1 << 127) - 1,
        0x1234_5678_9abc_def0_0fed_cba9_8765_4321,
        1 << 64,
        u64::MAX as u128,
    ];
    for (i, &p) in vals.iter().enumerate() {
        for (j, &q) in vals.iter().enumerate() {
            let mut s = [0u64; WORDS];
            s[0] = p as u64;
            s[1] = (p >> 64) as u64;
            s[2] = q as u64;
            s[3] = (q >> 64) as u64;
            s[4] = [0u64, 1, 63, 64, 65, 127, 128, 200][(i + j) % 8];
            states.push(s);
        }
    }
    check_words(&[blk], &states);
}

/// An indirect branch out of a region continues in compiled code found
/// in the indirect-branch table, and returns to the dispatcher when the
/// target is not there.
#[test]
fn indirect_exit_uses_the_branch_table() {
    use xarch_jit::baseline::{ibtc_empty, ibtc_entry, ibtc_mask};
    const ENTRIES: usize = 64;
    // add x5, x5, #1; ret   (target: svc #0)
    let code = [0x9100_04a5, 0xd65f_03c0, SVC0];
    let base = code.as_ptr() as u64;
    let blocks = lift_seq(&code[..2]);
    let target = lift_seq(&code[2..]);
    let mut table: Vec<[u64; 2]> = (0..ENTRIES).map(ibtc_empty).collect();
    let cfg = ChainConfig {
        exit_info: A64_EXIT_INFO,
        ibtc: true,
        flags: None,
        link: None,
        pinned: [None; xarch_jit::baseline::PINS],
    };
    let mut jit = Jit::new();
    let region = jit.compile(&blocks, cfg);
    let t = xarch_jit::compile(&target[0], &mut jit.cache, cfg).unwrap();
    let mut s = A64State::default();
    s.x[30] = base + 8;
    // Not in the table: back to the dispatcher.
    let mut a = s.clone();
    let r = jit.run(&region, &blocks, &mut a as *mut A64State as *mut u8);
    assert_eq!(r, BlockResult::Next(base + 8));
    assert_eq!(a.x[5], 1);
    // In the table: the target block runs and reports its exit.
    let (i, entry) = ibtc_entry(base + 8, t.body, ENTRIES);
    table[i] = entry;
    let mut b = s.clone();
    let mut ctx = JitCtx {
        ibtc_table: table.as_ptr() as u64,
        ibtc_mask: ibtc_mask(ENTRIES),
        ..JitCtx::default()
    };
    // SAFETY: compiled for A64State, slots has MAX_SLOTS entries.
    let next = unsafe {
        region.entry.call(
            &mut b as *mut A64State as *mut u8,
            jit.slots.as_mut_ptr(),
            &mut ctx,
        )
    };
    assert_eq!(
        (ctx.kind, ctx.fault_pc, next),
        (KIND_EXIT, base + 8, base + 12)
    );
    assert_eq!(b.x[5], 1);
    // A pending interrupt stops chaining.
    let mut c = s.clone();
    // SAFETY: `c`'s own interrupt word.
    unsafe { xarch_a64::helpers::raise_interrupt(&mut c.interrupt) };
    let r = jit.run(&region, &blocks, &mut c as *mut A64State as *mut u8);
    assert_eq!(r, BlockResult::Next(base + 8));
}

/// Runs three blocks from `init` as baseline code, a region and baseline
/// code, the first linked to the region and, when `linked`, the region
/// to the last (else the region returns to the dispatcher): the next PC,
/// the state and the context after.
fn run_through_a_region(
    blocks: &[Block],
    cfg: ChainConfig,
    init: &A64State,
    linked: bool,
) -> (u64, A64State, JitCtx) {
    let mut jit = Jit::new();
    let region = jit.compile(&blocks[1..2], cfg);
    let c0 = xarch_jit::compile(&blocks[0], &mut jit.cache, cfg).unwrap();
    let c2 = xarch_jit::compile(&blocks[2], &mut jit.cache, cfg).unwrap();
    // SAFETY: all code lives in the same cache.
    unsafe {
        for e in &c0.exits {
            e.link(region.body);
        }
        if linked {
            region.exits[0].link(c2.body);
        }
    }
    let mut got = init.clone();
    let mut ctx = JitCtx::for_chain(cfg);
    // SAFETY: compiled for A64State, slots has MAX_SLOTS entries, the
    // context names the pinned field (if any) the code was compiled with.
    let next = unsafe {
        c0.call(
            &mut got as *mut A64State as *mut u8,
            jit.slots.as_mut_ptr(),
            &mut ctx,
        )
    };
    (next, got, ctx)
}

/// Flags a baseline block defers (`ChainConfig::flags`) reaching a region
/// through its body and leaving it through a link cell or to the
/// dispatcher: a region that only reads them has its stub complete them
/// at entry, one that also sets flags takes them as its own, one that
/// never touches them passes them on (and its stub completes them when
/// it returns to the dispatcher). Every way, the flags read and left in
/// the state are the interpreter's.
#[test]
fn deferred_flags_enter_and_leave_regions() {
    const CMP_X1_X2: u32 = 0xeb02_003f;
    const B_NEXT: u32 = 0x1400_0001;
    const CSEL_X3_LT: u32 = 0x9a85_b083; // csel x3, x4, x5, lt
    const ADD_X3: u32 = 0x9100_0463; // add x3, x3, #1
    const ADDS_X8: u32 = 0xb100_0508; // adds x8, x8, #1
    const MRS_X9_NZCV: u32 = 0xd53b_4209;
    let bodies: [(&str, &[u32]); 3] = [
        ("reads", &[CSEL_X3_LT]),
        ("untouched", &[ADD_X3]),
        ("reads and sets", &[CSEL_X3_LT, ADDS_X8]),
    ];
    let mut cfg = chain(A64_EXIT_INFO);
    cfg.flags = Some(xarch_a64::state::NZCV);
    for (what, body) in bodies {
        let mut code = vec![CMP_X1_X2, B_NEXT];
        code.extend_from_slice(body);
        code.extend_from_slice(&[B_NEXT, MRS_X9_NZCV, SVC0]);
        let mut blocks = lift_seq(&code);
        assert_eq!(blocks.len(), 3, "{what}");
        for b in &mut blocks {
            xarch_ir::simplify::simplify(b);
        }
        for (x1, x2) in [(1u64, 2u64), (2, 1), (5, 5), (u64::MAX, 0), (1 << 63, 1)] {
            let mut s = A64State::default();
            (s.x[1], s.x[2], s.x[4], s.x[5], s.x[8]) = (x1, x2, 40, 50, u64::MAX);
            s.nzcv = 0x9000_0000;
            let mut want = s.clone();
            let r = interp_region(&blocks, &mut want as *mut A64State as *mut u8);
            for linked in [true, false] {
                let (next, got, ctx) = run_through_a_region(&blocks, cfg, &s, linked);
                assert_eq!(ctx.lazy_info, 0, "{what}: flags left pending");
                if linked {
                    assert_eq!(r, BlockResult::Exit(xarch_ir::ExitReason::Syscall, next));
                    assert!(bytes(&want) == bytes(&got), "{what} {x1:x} {x2:x}");
                } else {
                    // Back at the dispatcher before the last block: the
                    // state so far, exact flags included.
                    assert_eq!(next, blocks[2].start, "{what}");
                    let mut part = s.clone();
                    let _ = interp_region(&blocks[..2], &mut part as *mut A64State as *mut u8);
                    assert!(bytes(&part) == bytes(&got), "{what} {x1:x} {x2:x} unlinked");
                }
            }
        }
    }
}

/// The stack pointer, X0 and X2, which baseline code keeps in registers
/// (`ChainConfig::pinned`), changed by baseline code before a region,
/// by the region, and read after it by baseline code and the engine: the
/// region's stub puts them in the state block for the region and takes
/// them back after, linked or returning to the dispatcher.
#[test]
fn the_pinned_fields_cross_regions() {
    const SUB_SP_16: u32 = 0xd100_43ff; // sub sp, sp, #16
    const SUB_SP_32: u32 = 0xd100_83ff; // sub sp, sp, #32
    const MOV_X3_SP: u32 = 0x9100_03e3; // mov x3, sp
    const MOV_X4_SP: u32 = 0x9100_03e4; // mov x4, sp
    const ADD_X0_1: u32 = 0x9100_0400; // add x0, x0, #1
    const ADD_X2_5: u32 = 0x9100_1442; // add x2, x2, #5
    const MOV_X5_X0: u32 = 0xaa00_03e5; // mov x5, x0
    const MOV_X6_X2: u32 = 0xaa02_03e6; // mov x6, x2
    const B_NEXT: u32 = 0x1400_0001;
    let code = [
        SUB_SP_16, ADD_X0_1, B_NEXT, MOV_X3_SP, SUB_SP_32, ADD_X2_5, MOV_X5_X0, ADD_X0_1, B_NEXT,
        MOV_X4_SP, MOV_X6_X2, SVC0,
    ];
    let blocks = lift_seq(&code);
    assert_eq!(blocks.len(), 3);
    let cfg = ChainConfig {
        pinned: [
            Some(xarch_a64::state::SP),
            Some(xarch_a64::state::x_offset(0)),
            Some(xarch_a64::state::x_offset(2)),
        ],
        ..chain(A64_EXIT_INFO)
    };
    let mut s = A64State {
        sp: 0x7fff_ffff_f000,
        ..A64State::default()
    };
    s.x[0] = 0x1000;
    s.x[2] = 0x2000;
    let mut want = s.clone();
    let r = interp_region(&blocks, &mut want as *mut A64State as *mut u8);
    for linked in [true, false] {
        let (next, got, _) = run_through_a_region(&blocks, cfg, &s, linked);
        if linked {
            assert_eq!(r, BlockResult::Exit(xarch_ir::ExitReason::Syscall, next));
            assert!(bytes(&want) == bytes(&got), "{want:x?}\n{got:x?}");
            assert_eq!(got.x[4], 0x7fff_ffff_f000 - 48);
            assert_eq!((got.x[5], got.x[0], got.x[6]), (0x1001, 0x1002, 0x2005));
        } else {
            assert_eq!(next, blocks[2].start);
            let mut part = s.clone();
            let _ = interp_region(&blocks[..2], &mut part as *mut A64State as *mut u8);
            assert!(bytes(&part) == bytes(&got), "unlinked");
        }
    }
}

/// A loop waiting for another thread's store to a word the region also
/// read before the loop: every iteration loads the word again (a plain
/// load, as compilers emit for relaxed atomics and volatile reads, and an
/// acquire load alike), so the loop ends when the other thread writes.
/// Cranelift may merge a load with an earlier one of the same address
/// when no store comes between; the back-edge's poll keeps it from
/// merging across iterations. If it did not, the interrupt set after a
/// few seconds would end the loop instead, and the test fails.
#[test]
fn spinning_loads_see_another_threads_store() {
    for load in [
        0xb940_0020u32, // ldr w0, [x1]
        0x88df_fc20,    // ldar w0, [x1]
    ] {
        let code = [
            load,        // 0:  the first look
            0x3500_0060, // 4:  cbnz w0, 16
            load,        // 8:  the wait
            0x34ff_ffe0, // 12: cbz w0, 8
            SVC0,        // 16
        ];
        let blocks = lift_cfg(&code);
        let mut jit = Jit::new();
        let r = jit.compile(&blocks, chain(A64_EXIT_INFO));
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
        let word = std::sync::Arc::new(AtomicU32::new(0));
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let mut s = Box::new(A64State::default());
        s.x[1] = word.as_ptr() as u64;
        let interrupt = &mut s.interrupt as *mut u64 as usize;
        let other = {
            let (word, done) = (word.clone(), done.clone());
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                word.store(1, Ordering::SeqCst);
                for _ in 0..500 {
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                // SAFETY: the state outlives the join below; a signal
                // handler raises it so.
                unsafe { xarch_a64::helpers::raise_interrupt(interrupt as *mut u64) };
            })
        };
        let res = jit.run(&r, &blocks, &mut *s as *mut A64State as *mut u8);
        done.store(true, Ordering::SeqCst);
        assert_eq!(
            res,
            BlockResult::Exit(xarch_ir::ExitReason::Syscall, code.as_ptr() as u64 + 20),
            "{load:#x}: the loop did not see the store"
        );
        other.join().unwrap();
    }
}

/// Calls a region's entry (the `BlockFn` convention: state, slots, ctx,
/// body) with a sentinel in every register System V has the callee keep
/// (rbx, rbp, r12-r15), and returns the next PC and a bit per register
/// that came back changed (r15 holds the save area: a changed r15
/// crashes instead).
///
/// # Safety
/// As for `EntryFn::call`.
unsafe fn call_with_sentinels(
    entry: usize,
    state: *mut u8,
    slots: *mut u128,
    ctx: *mut JitCtx,
) -> (u64, u64) {
    let mut save = [0u64; 3];
    let next: u64;
    let changed: u64;
    // SAFETY: rsp, rbx and rbp are saved in `save` and restored; the
    // call follows the C convention with an aligned stack.
    unsafe {
        core::arch::asm!(
            "mov [r15], rsp",
            "mov [r15 + 8], rbx",
            "mov [r15 + 16], rbp",
            "and rsp, -16",
            "mov rbx, 0x1111",
            "mov rbp, 0x2222",
            "mov r12, 0x3333",
            "mov r13, 0x4444",
            "mov r14, 0x5555",
            "xor ecx, ecx",
            "call rax",
            "xor ecx, ecx",
            "cmp rbx, 0x1111",
            "setne cl",
            "xor edx, edx",
            "cmp rbp, 0x2222",
            "setne dl",
            "shl edx, 1",
            "or ecx, edx",
            "xor edx, edx",
            "cmp r12, 0x3333",
            "setne dl",
            "shl edx, 2",
            "or ecx, edx",
            "xor edx, edx",
            "cmp r13, 0x4444",
            "setne dl",
            "shl edx, 3",
            "or ecx, edx",
            "xor edx, edx",
            "cmp r14, 0x5555",
            "setne dl",
            "shl edx, 4",
            "or ecx, edx",
            "mov rbx, [r15 + 8]",
            "mov rbp, [r15 + 16]",
            "mov rsp, [r15]",
            in("r15") save.as_mut_ptr(),
            inout("rax") entry => next,
            in("rdi") state,
            in("rsi") slots,
            in("rdx") ctx,
            lateout("rcx") changed,
            out("r12") _,
            out("r13") _,
            out("r14") _,
            clobber_abi("C"),
        );
    }
    (next, changed)
}

/// Region code keeps no callee-saved registers itself (Winch's
/// convention): its stub and the baseline frame must give the caller back
/// every one, on a normal exit and after a fault in the region.
#[test]
fn regions_keep_the_callers_registers() {
    let code = SUM_LOOP;
    let blocks = lift_seq(&code);
    let page = guard_pages();
    let mut jit = Jit::new();
    let r = jit.compile(&blocks, chain(A64_EXIT_INFO));
    // Six loads within the page, then the guard page.
    for (start, faults) in [(page as u64, false), (page as u64 + 4096 - 5 * 8, true)] {
        let mut s = A64State::default();
        s.x[0] = start;
        s.x[1] = 6;
        let mut ctx = JitCtx {
            kind: KIND_NEXT,
            ..JitCtx::default()
        };
        jit.cache.activate();
        // SAFETY: the region was compiled from `blocks` for A64State.
        let (_, changed) = unsafe {
            call_with_sentinels(
                r.entry.addr(),
                &mut s as *mut A64State as *mut u8,
                jit.slots.as_mut_ptr(),
                &mut ctx,
            )
        };
        CodeCache::deactivate();
        let want = if faults { KIND_FAULT } else { KIND_EXIT };
        assert_eq!(ctx.kind, want, "faults: {faults}");
        assert_eq!(
            changed, 0,
            "callee-saved registers changed (faults: {faults})"
        );
    }
}
