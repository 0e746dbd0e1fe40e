//! Compiled code polls one word, `exit_info`, in which raising a
//! signal's interrupt also sets a bit: the engine returns for a raised
//! interrupt and clears the bit, and a bit left after the interrupt was
//! delivered costs one return to the dispatcher, not one per loop
//! iteration.

use xarch_a64::helpers::{EXIT_INFO_INTERRUPT, raise_interrupt};
use xarch_a64::state::A64State;
use xarch_engine::{Backend, Engine, EngineOptions, Exit};

/// `mov x0, #0 ; loop: add x0, x0, #1 ; cmp x0, #1000 ; b.ne loop ; brk #0`
const COUNT_TO_1000: [u32; 5] = [
    0xd280_0000,
    0x9100_0400,
    0xf10f_a01f,
    0x54ff_ffc1,
    0xd420_0000,
];

fn engine(backend: Backend) -> Engine {
    Engine::new(EngineOptions {
        backend,
        ..Default::default()
    })
}

#[test]
fn a_raised_interrupt_returns_and_clears_its_bit() {
    for backend in [Backend::Interpreter, Backend::Baseline, Backend::Tiered] {
        let mut e = engine(backend);
        let mut s = A64State {
            pc: COUNT_TO_1000.as_ptr() as u64,
            ..Default::default()
        };
        // SAFETY: `s`'s own interrupt word.
        unsafe { raise_interrupt(&mut s.interrupt) };
        assert_eq!(s.exit_info & EXIT_INFO_INTERRUPT, EXIT_INFO_INTERRUPT);
        assert_eq!(e.run(&mut s), Exit::Interrupted, "{backend:?}");
        assert_eq!(s.exit_info & EXIT_INFO_INTERRUPT, 0, "{backend:?}");
        // Delivered (as the Linux layer does): the loop runs to its end.
        s.interrupt = 0;
        assert_eq!(e.run(&mut s), Exit::Breakpoint { imm: 0 }, "{backend:?}");
        assert_eq!(s.x[0], 1000, "{backend:?}");
    }
}

#[test]
fn a_stale_interrupt_bit_costs_one_return() {
    for backend in [Backend::Baseline, Backend::Tiered] {
        let mut e = engine(backend);
        let mut s = A64State {
            pc: COUNT_TO_1000.as_ptr() as u64,
            ..Default::default()
        };
        // A signal delivered after it raised the bit, before compiled code
        // polled it.
        s.exit_info = EXIT_INFO_INTERRUPT;
        assert_eq!(e.run(&mut s), Exit::Breakpoint { imm: 0 }, "{backend:?}");
        assert_eq!(s.x[0], 1000, "{backend:?}");
        assert_eq!(s.exit_info, 0, "{backend:?}");
        // Left set, the bit would send every back-edge to the dispatcher.
        assert!(
            e.compiled_code_entries() < 20,
            "{backend:?}: {} entries into compiled code",
            e.compiled_code_entries()
        );
    }
}
