//! Real calls and returns through baseline code's return stack: a
//! recursion deeper than the stack holds (its deepest calls become
//! jumps, and their returns take the indirect-branch table; 200k calls
//! deep, the host entries alone would overflow the test thread's 2 MiB
//! stack), and returns after the engine ran in between (which drops the
//! stack), all ending as the interpreter ends.

use xarch_a64::state::A64State;
use xarch_engine::{Backend, Engine, EngineOptions, Exit};

/// `main: bl f; brk #0` and `f(x0)`: push fp/lr, x0 -= 1, unless zero
/// `bl f` and count the return in x1, pop, `ret`.
const CODE: [u32; 9] = [
    0x9400_0002, // bl f
    0xd420_0000, // brk #0
    0xa9bf_7bfd, // f: stp x29, x30, [sp, #-16]!
    0xf100_0400, // subs x0, x0, #1
    0x5400_0060, // b.eq 1f
    0x97ff_fffd, // bl f
    0x9100_0421, // add x1, x1, #1
    0xa8c1_7bfd, // 1: ldp x29, x30, [sp], #16
    0xd65f_03c0, // ret
];

/// Runs CODE with x0 = `depth` on `engine`; returns the final state.
fn run(engine: &mut Engine, depth: u64, stack: &mut [u64]) -> A64State {
    let mut s = A64State {
        pc: CODE.as_ptr() as u64,
        sp: stack.as_mut_ptr_range().end as u64,
        ..A64State::default()
    };
    s.x[0] = depth;
    assert_eq!(engine.run(&mut s), Exit::Breakpoint { imm: 0 });
    s
}

fn engine(backend: Backend) -> Engine {
    Engine::new(EngineOptions {
        backend,
        ..Default::default()
    })
}

#[test]
fn recursion_returns_everywhere_it_was_called_from() {
    let mut stack = vec![0u64; 2 * 200_000 + 64];
    let top = stack.as_mut_ptr_range().end as u64;
    for depth in [1, 10, 5000, 200_000] {
        let reference = run(&mut engine(Backend::Interpreter), depth, &mut stack);
        assert_eq!(reference.x[1], depth - 1);
        // Twice: the second run starts from compiled code.
        let mut e = engine(Backend::Baseline);
        for _ in 0..2 {
            let s = run(&mut e, depth, &mut stack);
            assert_eq!((s.x[0], s.x[1], s.sp), (0, depth - 1, top), "depth {depth}");
            assert_eq!(
                (s.pc, s.x[30], s.x[29]),
                (reference.pc, reference.x[30], reference.x[29])
            );
        }
    }
}
