//! Tiering machinery with stand-in region compilers: hot detection,
//! installing a region (the dispatcher and link cells run it), not
//! retrying a declined region, region formation, and invalidation.

use super::*;
use std::cell::RefCell;
use xarch_jit::opt::CompiledRegion;

thread_local! {
    /// The blocks (start PCs) of every region a stand-in compiler saw.
    static SEEN: RefCell<Vec<Vec<u64>>> = const { RefCell::new(Vec::new()) };
}

fn record(blocks: &[RegionBlock<'_>]) {
    SEEN.with(|s| s.borrow_mut().push(blocks.iter().map(|b| b.pc).collect()));
}

fn seen() -> Vec<Vec<u64>> {
    SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

/// A correct region compiler for one-block regions: the entry block's
/// baseline code without a counter (its exits return to the dispatcher).
fn entry_only(
    blocks: &[RegionBlock<'_>],
    cache: &mut CodeCache,
    chain: ChainConfig,
) -> Result<CompiledRegion, OptError> {
    record(blocks);
    assert_eq!(blocks[0].pc, blocks[0].block.start);
    let c = xarch_jit::compile(blocks[0].block, cache, chain).ok_or(OptError::CacheFull)?;
    Ok(CompiledRegion {
        entry: c.entry_fn(),
        body: c.body,
        code_bytes: 0,
        exits: c.exits.to_vec(),
        guest_ranges: vec![(
            blocks[0].block.start,
            blocks[0].block.end - blocks[0].block.start,
        )],
    })
}

fn decline(
    blocks: &[RegionBlock<'_>],
    _: &mut CodeCache,
    _: ChainConfig,
) -> Result<CompiledRegion, OptError> {
    record(blocks);
    Err(OptError::Unsupported("test"))
}

const ADD_X0_X0_X1: u32 = 0x8b01_0000;
const SUB_X0_X0_X1: u32 = 0xcb01_0000;

/// x0 = sum (or difference, by `op`) of 1..=n; the loop is at index 2.
fn sum_loop(n: u16, op: u32) -> Vec<u32> {
    vec![
        0xd280_0000,                   // movz x0, #0
        0xd280_0001 | (n as u32) << 5, // movz x1, #n
        op,                            // loop: add/sub x0, x0, x1
        0xf100_0421,                   // subs x1, x1, #1
        0x54ff_ffc1,                   // b.ne loop
        0xd420_0000,                   // brk #0
    ]
}

fn engine(backend: Backend, threshold: Option<u32>, rc: RegionCompiler) -> Engine {
    let mut e = Engine::new(EngineOptions {
        backend,
        hot_threshold: threshold,
        ..Default::default()
    });
    e.region_compiler = rc;
    e
}

fn run(e: &mut Engine, code: &[u32]) -> u64 {
    let mut s = A64State {
        pc: code.as_ptr() as u64,
        ..Default::default()
    };
    assert_eq!(e.run(&mut s), Exit::Breakpoint { imm: 0 });
    s.x[0]
}

#[test]
fn hot_loop_runs_as_region() {
    let code = sum_loop(1000, ADD_X0_X0_X1);
    let want = run(&mut engine(Backend::Interpreter, None, entry_only), &code);
    assert_eq!(want, 500_500);
    let mut e = engine(Backend::Tiered, Some(10), entry_only);
    seen();
    assert_eq!(run(&mut e, &code), want);
    assert_eq!(e.regions_compiled(), 1);
    let loop_pc = code.as_ptr() as u64 + 8;
    let regions = seen();
    assert_eq!(regions.len(), 1);
    // The loop block alone: the BRK block after it has not run yet.
    assert_eq!(regions[0], vec![loop_pc]);
    let entry = e.cache.get(&loop_pc).unwrap();
    assert_eq!(entry.tier, Tier::Region);
    // The loop's own back edge now leads to the region.
    let body = entry.region.as_ref().unwrap().code.body;
    let back = entry.compiled.as_ref().unwrap().here().unwrap().exits[0];
    assert_eq!(back.target, loop_pc);
    // SAFETY: the cell is a word in the live code cache.
    assert_eq!(unsafe { back.cell.read() }, body);
}

#[test]
fn baseline_never_tiers_up() {
    let code = sum_loop(1000, ADD_X0_X0_X1);
    let mut e = engine(Backend::Baseline, Some(1), entry_only);
    seen();
    assert_eq!(run(&mut e, &code), 500_500);
    assert!(seen().is_empty());
    assert_eq!(e.regions_compiled(), 0);
}

#[test]
fn declined_region_is_not_retried() {
    let code = sum_loop(3000, ADD_X0_X0_X1);
    let mut e = engine(Backend::Tiered, Some(10), decline);
    seen();
    assert_eq!(run(&mut e, &code), 3000 * 3001 / 2);
    assert_eq!(run(&mut e, &code), 3000 * 3001 / 2);
    assert_eq!(seen().len(), 1, "only the loop got hot, once");
    assert_eq!(e.region_failures(), 1);
    assert_eq!(e.regions_compiled(), 0);
}

#[test]
fn threshold_zero_lifts_successors_ahead() {
    let code = sum_loop(100, ADD_X0_X0_X1);
    let mut e = engine(Backend::Opt, None, entry_only);
    seen();
    assert_eq!(run(&mut e, &code), 5050);
    let start = code.as_ptr() as u64;
    let regions = seen();
    // The entry block's region holds the loop and BRK blocks, lifted
    // before they ever ran; every block became a region at its first run.
    assert_eq!(regions[0], vec![start, start + 8, start + 20]);
    assert_eq!(regions.len(), 3, "{regions:x?}");
    assert_eq!(e.regions_compiled(), 3);
}

/// With a hot threshold of 0 a region, whose successors are lifted ahead
/// of time, stops at `MAX_LIFTED_REGION_BLOCKS` blocks (not the
/// `MAX_REGION_BLOCKS` of a hot region): a chain of 80 one-jump blocks.
#[test]
fn regions_lifted_ahead_keep_the_smaller_bounds() {
    // `add x0, x0, #1; b .+4` 80 times, then `brk #0`.
    let mut code: Vec<u32> = (0..80).flat_map(|_| [0x9100_0400, 0x1400_0001]).collect();
    code.push(0xd420_0000);
    let mut e = engine(Backend::Opt, None, entry_only);
    seen();
    assert_eq!(run(&mut e, &code), 80);
    let regions = seen();
    assert_eq!(
        regions[0].len(),
        tier::MAX_LIFTED_REGION_BLOCKS,
        "{regions:x?}"
    );
    const { assert!(tier::MAX_LIFTED_REGION_BLOCKS < tier::MAX_REGION_BLOCKS) };
}

#[test]
fn rewritten_code_drops_its_region() {
    for (backend, threshold) in [(Backend::Tiered, Some(10)), (Backend::Opt, Some(0))] {
        let mut code = sum_loop(1000, ADD_X0_X0_X1);
        let mut e = engine(backend, threshold, entry_only);
        assert_eq!(run(&mut e, &code), 500_500);
        let compiled = e.regions_compiled();
        assert!(compiled >= 1);
        code[2] = SUB_X0_X0_X1;
        e.invalidate(code.as_ptr() as u64 + 8, 4);
        assert!(e.regions_dropped() >= 1, "{backend:?}");
        assert_eq!(run(&mut e, &code), 500_500u64.wrapping_neg(), "{backend:?}");
        assert!(e.regions_compiled() > compiled, "{backend:?}");
    }
}

#[test]
fn region_blocks_invalidated_through_a_successor() {
    // A region entered at the first block also holds the loop block:
    // rewriting only the loop drops the region entered at the start.
    let mut code = vec![
        0xd280_0000,            // movz x0, #0
        0xd280_0001 | 100 << 5, // movz x1, #100
        0x1400_0001,            // b loop
        ADD_X0_X0_X1,           // loop: add x0, x0, x1
        0xf100_0421,            // subs x1, x1, #1
        0x54ff_ffc1,            // b.ne loop
        0xd420_0000,            // brk #0
    ];
    let mut e = engine(Backend::Opt, None, entry_only);
    seen();
    assert_eq!(run(&mut e, &code), 5050);
    let start = code.as_ptr() as u64;
    assert_eq!(seen()[0], vec![start, start + 12, start + 24]);
    assert!(e.cache.get(&start).unwrap().region.is_some());
    code[4] = 0xf100_0821; // subs x1, x1, #2
    e.invalidate(start + 16, 4);
    assert!(
        !e.cache.contains_key(&start),
        "the region at the start survived"
    );
    assert_eq!(run(&mut e, &code), (1..=50).map(|k| 2 * k).sum::<u64>());
}

/// Compiled code that does not call back into the IR leaves only a
/// skeleton in the cache; when it gets hot the region compiler still gets
/// the whole IR (lifted again), and the region computes the same.
#[test]
fn skeleton_entries_are_lifted_again_for_regions() {
    let code = sum_loop(1000, ADD_X0_X0_X1);
    let loop_pc = code.as_ptr() as u64 + 8;
    let mut e = engine(Backend::Baseline, None, entry_only);
    assert_eq!(run(&mut e, &code), 500_500);
    let entry = e.cache.get(&loop_pc).unwrap();
    assert!(!entry.compiled.as_ref().unwrap().here().unwrap().refs_ir);
    assert!(entry.lifted().unwrap().insts.is_empty(), "the IR was kept");
    assert_eq!(entry.guest_insns(), 3);

    let mut e = engine(Backend::Tiered, Some(10), entry_only);
    assert_eq!(run(&mut e, &code), 500_500);
    assert_eq!(e.regions_compiled(), 1);
    let region = e.cache.get(&loop_pc).unwrap().region.as_ref().unwrap();
    assert!(
        !region.blocks[0].insts.is_empty(),
        "the region got a skeleton"
    );
}

/// Compiled code that calls the interpreter for an op (here a floating
/// point add, which has no template) keeps its whole IR, and runs right
/// when called again.
#[test]
fn code_calling_back_into_its_ir_keeps_it() {
    // fadd d0, d1, d2 ; brk #0
    let code = [0x1e62_2820u32, 0xd420_0000];
    let mut e = engine(Backend::Baseline, None, entry_only);
    for _ in 0..2 {
        let mut s = A64State {
            pc: code.as_ptr() as u64,
            ..Default::default()
        };
        s.v[1] = 1.5f64.to_bits() as u128;
        s.v[2] = 2.25f64.to_bits() as u128;
        assert_eq!(e.run(&mut s), Exit::Breakpoint { imm: 0 });
        assert_eq!(s.v[0], 3.75f64.to_bits() as u128);
    }
    let entry = e.cache.get(&(code.as_ptr() as u64)).unwrap();
    assert!(entry.compiled.as_ref().unwrap().here().unwrap().refs_ir);
    assert!(
        !entry.lifted().unwrap().insts.is_empty(),
        "the IR the code uses was shed"
    );
}

/// When no compiler thread can be started, hot regions are compiled on
/// the guest thread (and the statistics say why), not left pending.
#[test]
fn regions_compile_here_without_a_compiler_thread() {
    background::REFUSE_THREAD.store(true, std::sync::atomic::Ordering::Relaxed);
    let code = sum_loop(1000, ADD_X0_X0_X1);
    let mut e = Engine::new(EngineOptions {
        backend: Backend::Tiered,
        hot_threshold: Some(10),
        background_compile: true,
        ..Default::default()
    });
    e.region_compiler = entry_only;
    seen();
    assert_eq!(run(&mut e, &code), 500_500);
    assert_eq!(e.regions_compiled(), 1);
    assert_eq!(e.outstanding, 0);
    assert!(
        e.tier_stats
            .failures
            .keys()
            .any(|k| k.contains("no compiler thread")),
        "{:?}",
        e.tier_stats.failures
    );
}

/// Only blocks that can close a loop count their runs: a branch back
/// (to itself or earlier); not forward branches, indirect jumps (an
/// interpreter's dispatch made regions slower than baseline code),
/// returns or exits.
#[test]
fn only_blocks_that_can_close_a_loop_count() {
    use crate::tier::counts;
    use xarch_ir::{BranchHint, Builder, ExitReason, Terminator};
    let block = |term: Terminator| {
        let mut b = Builder::new();
        b.guest_insn(0x2000);
        let v = b.get_state(0, xarch_ir::Type::I64);
        let term = match term {
            Terminator::JumpDyn(_, h) => Terminator::JumpDyn(v, h),
            Terminator::Branch {
                taken, not_taken, ..
            } => Terminator::Branch {
                cond: v,
                taken,
                not_taken,
            },
            t => t,
        };
        b.finish(0x2000, 0x2004, 1, term)
    };
    let v0 = xarch_ir::Value(0);
    let branch = |taken, not_taken| Terminator::Branch {
        cond: v0,
        taken,
        not_taken,
    };
    assert!(counts(&block(Terminator::Jump(0x2000))));
    assert!(counts(&block(Terminator::Jump(0x1000))));
    assert!(!counts(&block(Terminator::Jump(0x2004))));
    assert!(counts(&block(branch(0x1ff0, 0x2004))));
    assert!(counts(&block(branch(0x3000, 0x1000))));
    assert!(!counts(&block(branch(0x3000, 0x2004))));
    for hint in [BranchHint::Jump, BranchHint::Call, BranchHint::Return] {
        assert!(!counts(&block(Terminator::JumpDyn(v0, hint))));
    }
    assert!(!counts(&block(Terminator::Exit {
        reason: ExitReason::Syscall,
        pc: 0x2004,
    })));
}

/// Blocks installed from the code store keep only their bounds and
/// terminator (no IR allocation): a hot one is lifted again for its
/// region, and a stored block ending the run (`brk`) reports its exit.
#[test]
fn stored_entries_form_regions_and_report_exits() {
    let dir = std::env::temp_dir().join(format!("xarch-stored-tier-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let open = || Arc::new(persist::CodeStore::open(&dir, "loop", "tiered").expect("opens"));
    // 40 blocks before the loop (a process saves only when it made at
    // least 32): `add x2, x2, #1; b .+4`.
    let lead = 40;
    let mut code: Vec<u32> = (0..lead).flat_map(|_| [0x9100_0442, 0x1400_0001]).collect();
    code.extend(sum_loop(1000, ADD_X0_X0_X1));
    let loop_pc = code.as_ptr() as u64 + 4 * (2 * lead as u64 + 2);
    let with_store = |threshold| {
        let mut e = Engine::new(EngineOptions {
            backend: Backend::Tiered,
            hot_threshold: threshold,
            interp_runs: Some(0),
            code_store: Some(open()),
            ..Default::default()
        });
        e.region_compiler = entry_only;
        e
    };
    // Stored by a first process that never tiers up.
    let mut first = with_store(None);
    assert_eq!(run(&mut first, &code), 500_500);
    first.save_code();
    let mut e = with_store(Some(10));
    seen();
    assert_eq!(run(&mut e, &code), 500_500);
    assert!(
        e.store_stats.hits > lead as u64,
        "{} installed",
        e.store_stats.hits
    );
    let entry = e.cache.get(&loop_pc).unwrap();
    assert!(
        matches!(entry.ir, Ir::Stored { .. }),
        "installed from the store"
    );
    // Its exits are in the link lists only (see `install_from`).
    assert!(matches!(entry.compiled, Some(Code::Stored(_))));
    assert_eq!(entry.tier, Tier::Region);
    assert_eq!(e.regions_compiled(), 1);
    // The loop, and the `brk` block installed ahead with it.
    assert_eq!(seen(), vec![vec![loop_pc, loop_pc + 12]]);
    let brk = loop_pc + 12;
    let last = e.cache.get(&brk).unwrap();
    assert!(matches!(last.ir, Ir::Stored { .. }));
    // Its entry keeps no terminator: the engine keeps how it exits.
    assert!(matches!(
        e.stored_exits.get(&brk),
        Some((ExitReason::Breakpoint(0), pc)) if *pc == brk
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fork's child saves only the blocks it lifted itself: one that
/// inherited unsaved blocks and lifted none leaves the store alone (they
/// are its parent's to save); once it lifted enough of its own, it saves.
#[test]
fn a_forks_child_saves_only_when_it_lifted_enough_itself() {
    let dir = std::env::temp_dir().join(format!("xarch-fork-save-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(persist::CodeStore::open(&dir, "fork", "tiered").expect("opens"));
    // 40 blocks (`add x2, x2, #1; b .+4`) and a loop, twice over: the
    // second copy is new code for the child to lift.
    let lead = 40;
    let mut code: Vec<u32> = (0..lead).flat_map(|_| [0x9100_0442, 0x1400_0001]).collect();
    code.extend(sum_loop(10, ADD_X0_X0_X1));
    let other = code.clone();
    let mut e = Engine::new(EngineOptions {
        backend: Backend::Tiered,
        hot_threshold: None,
        interp_runs: Some(0),
        code_store: Some(Arc::clone(&store)),
        ..Default::default()
    });
    assert_eq!(run(&mut e, &code), 55);
    note_fork();
    e.save_code();
    assert_eq!(
        store.on_disk().records(),
        0,
        "the child saved its parent's blocks"
    );
    assert_eq!(run(&mut e, &other), 55);
    e.save_code();
    assert!(
        store.on_disk().records() > 2 * lead,
        "{} records",
        store.on_disk().records()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A process saves its new blocks only when they are at least a 64th of
/// the file it loaded (a save rewrites the whole file): one that lifted
/// fewer leaves the file alone, and once it lifted enough, it saves.
#[test]
fn a_process_saves_only_a_64th_of_its_file_or_more() {
    let dir = std::env::temp_dir().join(format!("xarch-save-growth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let open = || Arc::new(persist::CodeStore::open(&dir, "growth", "tiered").expect("opens"));
    let engine = |store| {
        Engine::new(EngineOptions {
            backend: Backend::Tiered,
            hot_threshold: None,
            interp_runs: Some(0),
            code_store: Some(store),
            ..Default::default()
        })
    };
    // `n` blocks of `add x2, x2, #1; b .+4`, then a loop.
    let blocks = |n: usize| -> Vec<u32> {
        let mut code: Vec<u32> = (0..n).flat_map(|_| [0x9100_0442, 0x1400_0001]).collect();
        code.extend(sum_loop(10, ADD_X0_X0_X1));
        code
    };
    let big = blocks(64 * 40);
    let store = open();
    let mut e = engine(Arc::clone(&store));
    assert_eq!(run(&mut e, &big), 55);
    e.save_code();
    let n = store.on_disk().records();
    assert!(n >= 64 * 40, "{n} records");
    // The next process loads that file and runs new code (elsewhere).
    let store = open();
    let mut e = engine(Arc::clone(&store));
    let few = blocks(n / 64 - 8);
    assert_eq!(run(&mut e, &few), 55);
    e.save_code();
    assert_eq!(store.on_disk().records(), n, "saved fewer than a 64th");
    let more = blocks(16);
    assert_eq!(run(&mut e, &more), 55);
    e.save_code();
    assert!(store.on_disk().records() > n, "did not save a 64th");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The word offsets of the blocks a region entered at word `entry` of
/// `code` takes in, in order, taking every candidate `accept` allows.
fn frontier_order(code: &[u32], entry: usize, accept: impl Fn(usize) -> bool) -> Vec<usize> {
    let base = code.as_ptr() as u64;
    let end = base + 4 * code.len() as u64;
    let lift = |pc: u64| {
        xarch_a64::lift_block(pc, |a| {
            (a >= base && a < end).then(|| code[((a - base) / 4) as usize])
        })
    };
    let word = |pc: u64| ((pc - base) / 4) as usize;
    let first = lift(base + 4 * entry as u64).expect("lifts");
    let mut f = tier::Frontier::new(&first, Some(xarch_a64::state::x_offset(30)));
    let mut order = vec![entry];
    while let Some(c) = f.next() {
        if c.pc < base || c.pc >= end || !accept(word(c.pc)) {
            continue;
        }
        f.take(&lift(c.pc).expect("lifts"), c);
        order.push(word(c.pc));
    }
    order
}

/// A region at a loop that calls a function takes in the loop's own
/// blocks first, then the callee's, and the address a call returns to
/// only once a return of its callee is in: never without one.
#[test]
fn regions_take_in_callees_and_their_return_addresses() {
    let code = xarch_a64::testing::CALLING_LOOP;
    // Entered at the latch (`sub; cbnz`): the loop head (the first call),
    // the exit, then the callee and its branch's target (`ret`), which
    // brings the first call's return address (`add; bl f`: the loop's
    // own depth, taken first), then the other side of the branch. (The
    // second call returns to the latch, the entry.)
    assert_eq!(frontier_order(&code, 3, |_| true), [3, 0, 5, 6, 12, 1, 11]);
    // Without the callee's returns, no return address.
    assert_eq!(
        frontier_order(&code, 3, |w| w != 11 && w != 12),
        [3, 0, 5, 6]
    );
}

/// Calls are followed at most `MAX_CALL_DEPTH` deep, and a callee's span
/// is counted from its own entry: one far from the loop is taken in, a
/// jump far from its own function's entry is not.
#[test]
fn regions_follow_calls_two_deep_and_far() {
    const NOP: u32 = 0xd503_201f;
    const RET: u32 = 0xd65f_03c0;
    let bl =
        |from: usize, to: usize| 0x9400_0000 | ((to as i64 - from as i64) as u32 & 0x03ff_ffff);
    let b = |from: usize, to: usize| 0x1400_0000 | ((to as i64 - from as i64) as u32 & 0x03ff_ffff);
    let far = (tier::REGION_SPAN as usize) / 4 + 1000;
    let mut code = vec![NOP; far + 6000];
    // 0: bl f1; 1: b 0 (the loop). f1 (far away): bl f2; ret. f2: ret.
    code[0] = bl(0, far);
    code[1] = b(1, 0);
    code[far] = bl(far, far + 10);
    code[far + 1] = RET;
    code[far + 10] = RET;
    // The loop, f1, f2, whose return brings f1's return address.
    assert_eq!(
        frontier_order(&code, 1, |_| true),
        [1, 0, far, far + 10, far + 1]
    );
    // f2: bl f3; ret, f3: ret. f3 is a third call deep: not taken in, so
    // neither are the return addresses that need it to return.
    code[far + 10] = bl(far + 10, far + 20);
    code[far + 11] = RET;
    code[far + 20] = RET;
    assert_eq!(frontier_order(&code, 1, |_| true), [1, 0, far, far + 10]);
    // A jump from f1's second block beyond the span counted from f1's
    // entry is not followed.
    code[far + 10] = RET;
    code[far + 1] = b(far + 1, far + 1 + (tier::REGION_SPAN as usize) / 4 + 8);
    assert_eq!(
        frontier_order(&code, 1, |_| true),
        [1, 0, far, far + 10, far + 1]
    );
}

/// The lifted blocks of a region formed at word `entry` (all reachable
/// code taken in), entry first.
fn region_blocks(code: &[u32], entry: usize) -> Vec<Block> {
    let base = code.as_ptr() as u64;
    let end = base + 4 * code.len() as u64;
    frontier_order(code, entry, |_| true)
        .into_iter()
        .map(|w| {
            xarch_a64::lift_block(base + 4 * w as u64, |a| {
                (a >= base && a < end).then(|| code[((a - base) / 4) as usize])
            })
            .expect("lifts")
        })
        .collect()
}

/// A region is compiled only where a loop runs inside it: from the
/// entry back to the entry along direct branches, calls and returns to
/// the return addresses of its calls. A branch backwards that is a tail
/// call, or a jump to code after a call, forms no loop.
#[test]
fn only_regions_with_a_loop_through_their_entry_compile() {
    let closes = |code: &[u32], entry: usize| {
        let blocks = region_blocks(code, entry);
        let region: Vec<RegionBlock<'_>> = blocks.iter().map(RegionBlock::from).collect();
        xarch_jit::opt::loops_through_entry(&region, chain_config())
    };
    // The latch of a counted loop.
    assert!(closes(&sum_loop(10, ADD_X0_X0_X1), 2));
    // A loop calling a function from two sites, entered at its latch: the
    // path back goes through the callee's return.
    assert!(closes(&xarch_a64::testing::CALLING_LOOP, 3));
    // A tail call backwards: f (word 0) returns; the caller at word 2
    // jumps to it (`b f`) and is never reached again.
    const RET: u32 = 0xd65f_03c0;
    const NOP: u32 = 0xd503_201f;
    let tail = [NOP, RET, NOP, 0x17ff_fffd]; // f: nop; ret. g: nop; b f
    assert!(!closes(&tail, 2));
    // A jump backwards to shared code that returns (a function's common
    // exit path).
    let shared = [RET, NOP, 0x17ff_fffe]; // 0: ret. 1: nop; b 0
    assert!(!closes(&shared, 1));

    // The engine declines such a region and runs the code in baseline.
    let code = [
        0xd280_0c81u32, // 0: movz x1, #100
        0xd280_0000,    // 1: movz x0, #0
        0x9400_0006,    // 2: bl g
        0xf100_0421,    // 3: subs x1, x1, #1
        0x54ff_ffc1,    // 4: b.ne 2 (the loop: its region compiles)
        0xd420_0000,    // 5: brk #0
        0x9100_0400,    // 6: f: add x0, x0, #1
        RET,            // 7: ret
        NOP,            // 8: g: nop
        0x17ff_fffd,    // 9: b f (counts, forms no loop)
    ];
    let mut e = engine(Backend::Tiered, Some(10), entry_only);
    seen();
    assert_eq!(run(&mut e, &code), 100);
    let g = code.as_ptr() as u64 + 32;
    assert_eq!(e.regions_compiled(), 1);
    assert!(
        seen().iter().all(|r| r[0] != g),
        "g's region is not compiled"
    );
    assert_eq!(e.cache.get(&g).unwrap().tier, Tier::Failed);
    assert_eq!(e.region_failures(), 1);
}
