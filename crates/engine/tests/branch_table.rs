//! Indirect branches in compiled code find their targets in the
//! thread's branch table while the table grows with the program (it
//! starts small so that short-lived processes touch few of its pages).

use xarch_a64::state::A64State;
use xarch_engine::{Backend, Engine, EngineOptions, Exit};

const RET: u32 = 0xd65f_03c0;
const BRK0: u32 = 0xd420_0000;

/// A loop that calls `n` one-instruction functions (`ret`) one after the
/// other through `blr`, adding each one's address to x0. Returns the
/// code and the index of the first function.
fn call_each(n: u32) -> (Vec<u32>, usize) {
    assert!(n < 1 << 16);
    let mut code = vec![
        0xd280_0000,                   // movz x0, #0
        0,                             // adr x2, functions (below)
        0xd280_0004,                   // movz x4, #0
        0xd280_0003 | n << 5,          // movz x3, #n
        0x8b04_0845,                   // loop: add x5, x2, x4, lsl #2
        0xd63f_00a0,                   // blr x5
        0x8b05_0000,                   // add x0, x0, x5
        0x9100_0484,                   // add x4, x4, #1
        0xeb03_009f,                   // cmp x4, x3
        0x5400_0001 | (0x7_fffb << 5), // b.ne loop (-5 instructions)
        BRK0,
    ];
    let first = code.len();
    let off = (first - 1) as u32 * 4; // from the adr
    code[1] = 0x1000_0002 | (off & 3) << 29 | (off >> 2) << 5;
    code.extend(std::iter::repeat_n(RET, n as usize));
    (code, first)
}

#[test]
fn indirect_branches_hit_the_table_after_it_grows() {
    // More functions than the table starts with entries (4096) times the
    // load that makes it grow (2): it grows once while they are first
    // called, to 16384 entries, where their addresses do not collide.
    let n = 9000;
    let (code, first) = call_each(n);
    let base = code.as_ptr() as u64;
    let expected = (0..n as u64).fold(0u64, |s, i| s.wrapping_add(base + 4 * (first as u64 + i)));
    let mut engine = Engine::new(EngineOptions {
        backend: Backend::Baseline,
        ..Default::default()
    });
    let mut passes = Vec::new();
    for _ in 0..2 {
        let mut s = A64State {
            pc: base,
            ..A64State::default()
        };
        let before = engine.compiled_code_entries();
        assert_eq!(engine.run(&mut s), Exit::Breakpoint { imm: 0 });
        assert_eq!(s.x[0], expected);
        passes.push(engine.compiled_code_entries() - before);
    }
    // The first pass enters every function from the dispatcher once (it
    // is translated then); the second finds them all in the table, its
    // entries kept when it grew.
    assert!(passes[0] >= n as u64, "{passes:?}");
    assert!(passes[1] < 50, "{passes:?}");
}

/// Two functions exactly a table's span apart (4096 entries of 4-byte
/// instructions: 16 KiB) share an entry of the direct-mapped table;
/// called in turn, each evicts the other. The dispatcher counts those
/// conflicts and grows the table, where they no longer collide: 40000
/// calls come back to the dispatcher a few hundred times, not at every
/// call.
#[test]
fn targets_that_keep_evicting_each_other_grow_the_table() {
    let calls = 20_000u32;
    let mut code = vec![
        0xd280_0000,                 // movz x0, #0
        0,                           // adr x5, first function (below)
        0x9140_10a6,                 // add x6, x5, #4, lsl #12 (16 KiB on)
        0xd280_0003 | calls << 5,    // movz x3, #calls
        0xd63f_00a0,                 // loop: blr x5
        0xd63f_00c0,                 // blr x6
        0xf100_0463,                 // subs x3, x3, #1
        0x5400_0001 | 0x7_fffd << 5, // b.ne loop (-3 instructions)
        BRK0,
    ];
    let first = code.len();
    let off = (first - 1) as u32 * 4;
    code[1] = 0x1000_0005 | (off & 3) << 29 | (off >> 2) << 5;
    code.extend(std::iter::repeat_n(BRK0, 4096 + 1));
    code[first] = RET;
    code[first + 4096] = RET;
    let mut engine = Engine::new(EngineOptions {
        backend: Backend::Baseline,
        ..Default::default()
    });
    let mut s = A64State {
        pc: code.as_ptr() as u64,
        ..A64State::default()
    };
    assert_eq!(engine.run(&mut s), Exit::Breakpoint { imm: 0 });
    assert_eq!(s.x[3], 0);
    let entries = engine.compiled_code_entries();
    assert!(
        entries < 2000,
        "{entries} dispatcher entries for {} calls",
        2 * calls
    );
}
