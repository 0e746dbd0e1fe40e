//! Differential tests: the baseline JIT, and the interpreter running
//! simplified IR, must leave exactly the guest state the reference
//! interpreter leaves running the lifter's IR as it is, for random
//! sequences of every instruction the frontend can lift that touches only
//! registers, and for random straight-line code with memory accesses
//! (including faulting ones). (Faults reach the engine's own host
//! handler, which `Engine::new` installs.)

use xarch_a64::state::A64State;
use xarch_engine::{Backend, Engine, EngineOptions, Exit};
use xarch_ir::{Op, Terminator};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, seedable, no dependency.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Whether `insn` lifts to register-only straight-line code.
fn register_only(insn: u32) -> bool {
    let Some(block) = xarch_a64::lift_block(0x1000, |a| (a == 0x1000).then_some(insn)) else {
        return false;
    };
    let straight = matches!(block.term, Terminator::Jump(0x1004)) && block.guest_insns == 1;
    straight
        && !block.insts.iter().any(|i| {
            matches!(
                i.op,
                Op::Load(_) | Op::Store(..) | Op::CmpXchg(..) | Op::AtomicRmw(..) | Op::Call(..)
            )
        })
}

/// `n` random instructions that lift to register-only code.
fn random_register_code(rng: &mut Rng, n: usize) -> Vec<u32> {
    let mut code = Vec::with_capacity(n + 4);
    while code.len() < n {
        let w = rng.next() as u32;
        if register_only(w) {
            code.push(w);
        }
    }
    code
}

fn random_state(rng: &mut Rng) -> A64State {
    let mut s = A64State::default();
    for x in s.x.iter_mut() {
        // Mix small, boundary and random values: flags and shifts care.
        *x = match rng.next() % 4 {
            0 => rng.next() % 70,
            1 => [
                0,
                1,
                u64::MAX,
                1 << 63,
                0x7fff_ffff,
                0x8000_0000,
                0xffff_ffff,
            ][(rng.next() % 7) as usize],
            _ => rng.next(),
        };
    }
    s.sp = rng.next() & !15;
    s.nzcv = (rng.next() & 0xf) << 28;
    for v in s.v.iter_mut() {
        *v = (rng.next() as u128) << 64 | rng.next() as u128;
    }
    s
}

/// The engines compared: the reference first.
const ENGINES: [(Backend, bool); 3] = [
    (Backend::Interpreter, true),
    (Backend::Interpreter, false),
    (Backend::Baseline, false),
];

fn run((backend, raw_ir): (Backend, bool), code: &[u32], mut state: A64State) -> A64State {
    let mut engine = Engine::new(EngineOptions {
        backend,
        raw_ir,
        ..Default::default()
    });
    state.pc = code.as_ptr() as u64;
    let exit = engine.run(&mut state);
    assert_eq!(
        exit,
        Exit::Breakpoint { imm: 0 },
        "sequence did not run to its end"
    );
    state
}

fn assert_same(a: &A64State, b: &A64State, code: &[u32]) {
    let words: Vec<String> = code.iter().map(|w| format!("{w:08x}")).collect();
    assert_eq!(a.x, b.x, "X registers differ for {words:?}");
    assert_eq!(a.sp, b.sp, "SP differs for {words:?}");
    assert_eq!(a.nzcv, b.nzcv, "NZCV differs for {words:?}");
    assert_eq!(a.v, b.v, "V registers differ for {words:?}");
    assert_eq!(
        (a.fpcr, a.fpsr),
        (b.fpcr, b.fpsr),
        "FPCR/FPSR differ for {words:?}"
    );
    assert_eq!(a.pc, b.pc);
}

/// Runs `code` from `init` on every engine of [`ENGINES`] and checks
/// that each ends in the state the first (the interpreter on the
/// lifter's IR) does.
fn agree_with_the_reference(code: &[u32], init: A64State) {
    let a = run(ENGINES[0], code, init.clone());
    for engine in &ENGINES[1..] {
        let b = run(*engine, code, init.clone());
        assert_same(&a, &b, code);
    }
}

#[test]
fn baseline_matches_interpreter_on_random_register_code() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut checked = 0;
    for _ in 0..400 {
        let mut code = random_register_code(&mut rng, 24);
        code.push(0xd420_0000); // brk #0
        agree_with_the_reference(&code, random_state(&mut rng));
        checked += code.len() - 1;
    }
    assert!(checked >= 9000);
}

/// A random flag-setting compare (`cmp`/`cmn`/`tst`, register or
/// immediate, 32 or 64 bits) of random registers.
fn random_compare(rng: &mut Rng) -> u32 {
    let sf = (rng.next() as u32 & 1) << 31;
    let (rn, rm) = (rng.next() as u32 % 31, rng.next() as u32 % 31);
    let imm12 = rng.next() as u32 % 4096;
    sf | match rng.next() % 5 {
        0 => 0x6b00_001f | rm << 16 | rn << 5, // cmp (shifted register)
        1 => 0x2b00_001f | rm << 16 | rn << 5, // cmn (shifted register)
        2 => 0x6a00_001f | rm << 16 | rn << 5, // tst (shifted register)
        3 => 0x7100_001f | imm12 << 10 | rn << 5, // cmp (immediate)
        _ => 0x3100_001f | imm12 << 10 | rn << 5, // cmn (immediate)
    }
}

/// A random conditional branch 12 bytes forward: b.cond (all 16
/// conditions), cbz/cbnz or tbz/tbnz of a random register.
fn random_branch(rng: &mut Rng) -> u32 {
    let rt = rng.next() as u32 % 32;
    match rng.next() % 4 {
        0 | 1 => 0x5400_0000 | 3 << 5 | (rng.next() as u32 % 16),
        2 => {
            let sf = (rng.next() as u32 & 1) << 31;
            sf | 0x3400_0000 | (rng.next() as u32 & 1) << 24 | 3 << 5 | rt
        }
        _ => {
            let bit = rng.next() as u32 % 64;
            (bit >> 5) << 31
                | 0x3600_0000
                | (rng.next() as u32 & 1) << 24
                | (bit & 31) << 19
                | 3 << 5
                | rt
        }
    }
}

/// Blocks ending in a conditional branch: the baseline tier compiles the
/// comparison into the branch (a host compare-and-jump). Which way it went
/// shows in the PC of the breakpoint reached.
#[test]
fn baseline_matches_interpreter_on_random_branches() {
    let mut rng = Rng(0x5eed_b4a1_c4e5_0003);
    let mut taken = 0;
    for _ in 0..600 {
        let mut code = random_register_code(&mut rng, 6);
        if !rng.next().is_multiple_of(4) {
            code.push(random_compare(&mut rng));
        }
        code.push(random_branch(&mut rng));
        code.push(0xd280_2460); // mov x0, #0x123 (skipped when taken)
        code.push(0xd420_0000); // brk #0: not taken
        code.push(0xd420_0000); // brk #0: taken
        let init = random_state(&mut rng);
        let a = run(ENGINES[0], &code, init.clone());
        if a.pc == code.as_ptr() as u64 + 4 * (code.len() as u64 - 1) {
            taken += 1;
        }
        for engine in &ENGINES[1..] {
            let b = run(*engine, &code, init.clone());
            assert_same(&a, &b, &code);
        }
    }
    assert!((100..500).contains(&taken), "branches taken {taken} of 600");
}

#[test]
fn baseline_reports_memory_faults_like_the_interpreter() {
    // ldr x0, [x1] with x1 = 8 (unmapped) — only once the load/store group
    // is lifted; until then this exercises the undefined-instruction path.
    let code = [0xf940_0020u32, 0xd420_0000];
    for backend in [Backend::Interpreter, Backend::Baseline] {
        let mut engine = Engine::new(EngineOptions {
            backend,
            ..Default::default()
        });
        let mut s = A64State::default();
        s.x[1] = 8;
        s.pc = code.as_ptr() as u64;
        let exit = engine.run(&mut s);
        assert!(
            matches!(
                exit,
                Exit::MemoryFault {
                    addr: 8,
                    write: false
                } | Exit::Undefined { .. }
            ),
            "{backend:?}: {exit:?}"
        );
        assert_eq!(s.pc, code.as_ptr() as u64);
    }
}

/// Accesses at non-canonical addresses raise #GP, which carries no fault
/// address: the handler decodes the faulting instruction (base register
/// and displacement, loads, stores and atomics of every width) and
/// reports the same address and direction as the interpreter.
#[test]
fn baseline_reports_non_canonical_faults_like_the_interpreter() {
    let cases: [(u32, u64, bool); 14] = [
        (0xf940_0820, 16, false), // ldr x0, [x1, #16]
        (0x3940_1c20, 7, false),  // ldrb w0, [x1, #7]
        (0xb900_0422, 4, true),   // str w2, [x1, #4]
        (0x7900_0022, 0, true),   // strh w2, [x1]
        (0x3900_3c3f, 15, true),  // strb wzr, [x1, #15]
        (0xf900_2022, 64, true),  // str x2, [x1, #64]
        // Atomics: a read-modify-write reads first (a read fault where
        // nothing is mapped), a compare-and-swap faults as a write.
        (0xf822_0020, 0, false), // ldadd x2, x0, [x1]
        (0xf8e2_0020, 0, false), // ldaddal x2, x0, [x1]
        (0xf822_1020, 0, false), // ldclr x2, x0, [x1]
        (0xb822_2020, 0, false), // ldeor w2, w0, [x1]
        (0x3822_3020, 0, false), // ldsetb w2, w0, [x1]
        (0x7822_8020, 0, false), // swph w2, w0, [x1]
        (0xc8a0_7c22, 0, true),  // cas x0, x2, [x1]
        (0x08a0_7c22, 0, true),  // casb w0, w2, [x1]
    ];
    for (insn, disp, write) in cases {
        let code = [insn, 0xd420_0000];
        for base in [
            0x8000_0000_0000_0000u64,
            0x0000_9000_0000_0000,
            0xffff_0000_0000_0000,
        ] {
            let mut exits = Vec::new();
            for backend in [Backend::Interpreter, Backend::Baseline] {
                let mut engine = Engine::new(EngineOptions {
                    backend,
                    ..Default::default()
                });
                let mut s = A64State::default();
                s.x[1] = base;
                s.x[2] = 0x1122_3344_5566_7788;
                s.pc = code.as_ptr() as u64;
                let exit = engine.run(&mut s);
                assert_eq!(s.pc, code.as_ptr() as u64, "{insn:#x} {backend:?}");
                exits.push(format!("{exit:?}"));
            }
            let want = format!(
                "{:?}",
                Exit::MemoryFault {
                    addr: base + disp,
                    write
                }
            );
            assert_eq!(exits, [want.clone(), want], "{insn:#x} at {base:#x}");
        }
    }
}

/// Atomics on a read-only page: the read succeeds and the write faults,
/// in the baseline tier's templates as in the interpreter, and memory is
/// left as it was.
#[test]
fn baseline_reports_atomic_faults_on_read_only_memory_like_the_interpreter() {
    // SAFETY: a fresh private page, made read-only below.
    let page = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    // SAFETY: the page is mapped and writable until the mprotect.
    unsafe {
        (page as *mut u64).write(0x1122_3344_5566_7788);
        assert_eq!(libc::mprotect(page, 4096, libc::PROT_READ), 0);
    }
    let at = page as u64;
    for insn in [
        0xf822_0020u32, // ldadd x2, x0, [x1]
        0xf822_1020,    // ldclr x2, x0, [x1]
        0xb822_2020,    // ldeor w2, w0, [x1]
        0x3822_3020,    // ldsetb w2, w0, [x1]
        0x7822_8020,    // swph w2, w0, [x1]
        0xc8a0_7c22,    // cas x0, x2, [x1]
    ] {
        let code = [insn, 0xd420_0000];
        for backend in [Backend::Interpreter, Backend::Baseline] {
            let mut engine = Engine::new(EngineOptions {
                backend,
                ..Default::default()
            });
            let mut s = A64State::default();
            s.x[0] = 0x1122_3344_5566_7788;
            s.x[1] = at;
            s.x[2] = 5;
            s.pc = code.as_ptr() as u64;
            let exit = engine.run(&mut s);
            assert_eq!(
                exit,
                Exit::MemoryFault {
                    addr: at,
                    write: true
                },
                "{insn:#x} {backend:?}"
            );
            assert_eq!(
                (s.pc, s.x[0]),
                (code.as_ptr() as u64, 0x1122_3344_5566_7788)
            );
            // SAFETY: the page is mapped readable.
            assert_eq!(unsafe { *(page as *const u64) }, 0x1122_3344_5566_7788);
        }
    }
    // SAFETY: unmapping the page mapped above.
    unsafe { libc::munmap(page, 4096) };
}

/// A fixed low region for memory tests, so that register values can be
/// valid addresses and sums of two addresses are not.
const REGION: u64 = 0x1000_0000;
const REGION_LEN: usize = 1 << 20;

fn map_region() -> &'static mut [u8] {
    map_at(REGION, REGION_LEN)
}

/// Maps `len` fresh bytes at `addr` for the rest of the process (each test
/// its own address: tests run in parallel).
fn map_at(addr: u64, len: usize) -> &'static mut [u8] {
    // SAFETY: maps a fresh region at a fixed address, refusing to replace
    // anything already there; the result is checked.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    assert_eq!(p as u64, addr, "could not map the test region");
    // SAFETY: the mapping is `len` bytes, live for the process.
    unsafe { core::slice::from_raw_parts_mut(p as *mut u8, len) }
}

/// Whether `insn` lifts to one straight-line instruction (memory allowed).
fn straight_line(insn: u32) -> bool {
    // PC-relative literal loads read outside the test's memory, and so do
    // accesses through ADR/ADRP results (host addresses near the code).
    if (insn >> 24) & 0x3b == 0x18 || insn & 0x1f00_0000 == 0x1000_0000 {
        return false;
    }
    let Some(block) = xarch_a64::lift_block(0x1000, |a| (a == 0x1000).then_some(insn)) else {
        return false;
    };
    matches!(block.term, Terminator::Jump(0x1004))
        && block.guest_insns == 1
        && !block.insts.iter().any(|i| matches!(i.op, Op::Call(..)))
}

/// Runs `code` from `state.pc`; also returns the faults of region code
/// the engine replayed in the interpreter.
fn run_counting_replays(
    (backend, raw_ir): (Backend, bool),
    code: &[u32],
    mut state: A64State,
) -> (Exit, A64State, u64) {
    let mut engine = Engine::new(EngineOptions {
        backend,
        raw_ir,
        ..Default::default()
    });
    state.pc = code.as_ptr() as u64;
    let exit = engine.run(&mut state);
    (exit, state, engine.faults_replayed())
}

/// Random straight-line code with loads and stores around a mapped
/// region, many of them faulting: the baseline and optimizing tiers
/// leave the interpreter's exit, state and memory.
#[test]
fn compiled_tiers_match_interpreter_on_random_memory_code() {
    let region = map_region();
    let mut rng = Rng(0x5eed_0000_0000_0042);
    let mut faults = 0;
    let mut replays = 0;
    for _ in 0..300 {
        let mut code = Vec::new();
        while code.len() < 16 {
            let w = rng.next() as u32;
            if straight_line(w) {
                code.push(w);
            }
        }
        code.push(0xd420_0000); // brk #0
        let mut init = random_state(&mut rng);
        for (i, x) in init.x.iter_mut().enumerate() {
            *x = if i % 2 == 0 {
                REGION + (REGION_LEN as u64 / 2) + (rng.next() % 2048) * 16
            } else {
                rng.next() % 4096
            };
        }
        init.sp = REGION + (REGION_LEN as u64 / 2) + 0x8000;
        let mut results = Vec::new();
        let seed = rng.0;
        // The optimizing tier too: a fault after other accesses of its
        // region is reported at a replay point and replayed by the engine.
        for engine in ENGINES.into_iter().chain([(Backend::Opt, false)]) {
            region
                .iter_mut()
                .enumerate()
                .for_each(|(k, b)| *b = (k as u64 ^ seed) as u8);
            let (exit, state, r) = run_counting_replays(engine, &code, init.clone());
            replays += r;
            let digest = region
                .iter()
                .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(b as u64));
            results.push((exit, state, digest));
        }
        let a = &results[0];
        if matches!(a.0, Exit::MemoryFault { .. }) {
            faults += 1;
        }
        for b in &results[1..] {
            assert_eq!(a.0, b.0, "exits differ for {code:08x?}");
            assert_same(&a.1, &b.1, &code);
            assert_eq!(a.2, b.2, "memory differs for {code:08x?}");
        }
    }
    assert!(
        faults < 300,
        "every sequence faulted: the test checks nothing"
    );
    assert!(
        replays > 0,
        "no region fault was replayed: the test checks less"
    );
}

/// Loops whose passes only load, with an inner loop, walking towards
/// unmapped memory: the optimizing tier counts a loop's passes instead of
/// writing registers back at each, and a fault in a later pass is
/// replayed from the loop's start through those passes; every engine
/// leaves the interpreter's exit and state, for faults in the first pass,
/// a later one and past the bound on counted passes.
#[test]
fn a_fault_in_a_later_pass_of_a_loop_matches_interpreter() {
    const BASE: u64 = 0x3000_0000;
    const LEN: usize = 64 << 10;
    map_at(BASE, LEN);
    let code = xarch_a64::testing::NESTED_LOADS_LOOP;
    let mut replays = 0;
    for before in [0u64, 1, 5, 40, 70] {
        let mut init = A64State::default();
        init.x[0] = BASE + 0x100;
        init.x[1] = 1000;
        init.x[3] = 7;
        init.x[4] = BASE + 0x40;
        init.x[8] = BASE + LEN as u64 - before * 8;
        let mut results = Vec::new();
        for engine in ENGINES.into_iter().chain([(Backend::Opt, false)]) {
            let (exit, state, r) = run_counting_replays(engine, &code, init.clone());
            // Replayed once, to the faulting pass (a replay ending at an
            // earlier pass is exact too, but the region faults again).
            assert!(r <= 1, "{r} replays for a fault after {before} passes");
            replays += r;
            results.push((exit, state));
        }
        let a = &results[0];
        assert!(matches!(a.0, Exit::MemoryFault { .. }), "{:?}", a.0);
        for b in &results[1..] {
            assert_eq!(a.0, b.0, "exits differ after {before} passes");
            assert_same(&a.1, &b.1, &code);
        }
    }
    assert!(
        replays > 0,
        "no region fault was replayed: the test checks less"
    );
}

/// Indirect branches to addresses no translation can have, 0 among them
/// (the key of an empty branch-table entry, but entry 0's, which it
/// indexes): every engine reports a fetch fault there; the baseline
/// engine's compiled branch looks the target up inline first.
#[test]
fn indirect_branch_to_impossible_targets_faults() {
    for target in [u64::MAX, u64::MAX - 3, 0, 2] {
        let code = [
            0xd63f_0020u32, // blr x1
        ];
        for engine in ENGINES {
            let mut init = A64State::default();
            init.x[1] = target;
            let mut e = Engine::new(EngineOptions {
                backend: engine.0,
                raw_ir: engine.1,
                ..Default::default()
            });
            init.pc = code.as_ptr() as u64;
            let exit = e.run(&mut init);
            assert_eq!(exit, Exit::FetchFault, "{engine:?} target {target:#x}");
            assert_eq!(init.pc, target, "{engine:?}");
        }
    }
}

/// A random instruction reading the flags a block before it set: a
/// conditional branch over one instruction, `csel`, `cset`, `ccmp`,
/// `adcs`, `sbcs` or `mrs nzcv` (writing only x1..x7).
fn random_flag_reader(rng: &mut Rng) -> u32 {
    let cond = rng.next() as u32 % 16;
    match rng.next() % 7 {
        0 => 0x5400_0040 | cond,              // b.cond .+8
        1 => 0x9a83_0041 | cond << 12,        // csel x1, x2, x3, cond
        2 => 0x9a9f_07e1 | (cond ^ 1) << 12,  // cset x1, cond
        3 => 0xfa43_0040 | cond << 12 | cond, // ccmp x2, x3, #cond, cond
        4 => 0xba06_00a4,                     // adcs x4, x5, x6
        5 => 0x7a06_00a4,                     // sbcs w4, w5, w6
        _ => 0xd53b_4207,                     // mrs x7, nzcv
    }
}

/// Flags set in one block and read in the next, in a loop run often
/// enough for the tiered engines to make regions of it: compiled code
/// defers a compare's flags (`xarch_jit`'s deferred flags) across chained
/// blocks, region entries and exits; every engine must give the flags the
/// interpreter gives, in the registers that read them and in the state.
#[test]
fn deferred_flags_cross_blocks_like_the_interpreter() {
    let mut rng = Rng(0x5eed_f1a6_0000_0007);
    let engines = [
        (Backend::Baseline, None),
        (Backend::Tiered, Some(1)),
        (Backend::Opt, None),
    ];
    for _ in 0..300 {
        let mut code = vec![0xd280_0069]; // mov x9, #3
        let top = code.len();
        code.push(random_compare(&mut rng));
        code.push(0x1400_0001); // b .+4: the reader starts a new block
        code.push(random_flag_reader(&mut rng));
        code.push(0xd280_2460); // mov x0, #0x123 (skipped by a taken b.cond)
        if rng.next().is_multiple_of(2) {
            code.push(random_compare(&mut rng)); // flags left set at the exit
        }
        code.push(0xd100_0529); // sub x9, x9, #1
        let back = (top as i64 - code.len() as i64) as u32 & 0x7_ffff;
        code.push(0xb500_0009 | back << 5); // cbnz x9, top
        code.push(0xd420_0000); // brk #0
        let mut init = random_state(&mut rng);
        init.x[9] = 0;
        let reference = run(ENGINES[0], &code, init.clone());
        for (backend, hot_threshold) in engines {
            let mut engine = Engine::new(EngineOptions {
                backend,
                hot_threshold,
                interp_runs: Some(0),
                background_compile: false,
                ..Default::default()
            });
            let mut state = init.clone();
            state.pc = code.as_ptr() as u64;
            assert_eq!(engine.run(&mut state), Exit::Breakpoint { imm: 0 });
            assert_same(&reference, &state, &code);
        }
    }
}

/// A random conditional select (`csel`, `csinc`, `csinv`, `csneg`, so
/// also `cset` and `csetm` with the zero register) of 32 or 64 bits,
/// with any condition and random registers.
fn random_select(rng: &mut Rng) -> u32 {
    let sf = (rng.next() as u32 & 1) << 31;
    let op = [0x1a80_0000, 0x1a80_0400, 0x5a80_0000, 0x5a80_0400][rng.next() as usize % 4];
    let (rn, rm) = (rng.next() as u32 % 32, rng.next() as u32 % 32);
    let rd = rng.next() as u32 % 31;
    let cond = rng.next() as u32 % 16;
    sf | op | rm << 16 | cond << 12 | rn << 5 | rd
}

/// A compare and the selects that read its flags in one block: the
/// simplifier makes them selects of comparisons, which baseline code
/// emits as a host compare and conditional move; every condition, width
/// and operand order must give what the interpreter gives on the
/// lifter's IR.
#[test]
fn selects_of_a_compare_in_one_block_like_the_interpreter() {
    let mut rng = Rng(0x5eed_c5e1_0000_0011);
    for _ in 0..1500 {
        let mut code = vec![random_compare(&mut rng)];
        for _ in 0..1 + rng.next() % 3 {
            code.push(random_select(&mut rng));
        }
        if rng.next().is_multiple_of(2) {
            code.push(random_compare(&mut rng));
        }
        code.push(0xd420_0000); // brk #0
        agree_with_the_reference(&code, random_state(&mut rng));
    }
}
