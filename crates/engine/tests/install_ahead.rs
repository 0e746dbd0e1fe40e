//! A process starting from the code store installs a block's stored
//! successors along with it, so its chained code runs on instead of
//! returning to the dispatcher at every block it has not reached yet.

use std::sync::Arc;
use xarch_a64::state::A64State;
use xarch_engine::persist::CodeStore;
use xarch_engine::{Backend, Engine, EngineOptions, Exit};

const BRK0: u32 = 0xd420_0000;
const ADD_X0_1: u32 = 0x9100_0400; // add x0, x0, #1
const B_NEXT: u32 = 0x1400_0001; // b .+4

/// `n` blocks in a row, each `add x0, x0, #1; b next`, then `brk #0`.
fn chain(n: usize) -> Vec<u32> {
    let mut code: Vec<u32> = (0..n).flat_map(|_| [ADD_X0_1, B_NEXT]).collect();
    code.push(BRK0);
    code
}

fn run(code: &[u32], store: &Arc<CodeStore>) -> Engine {
    let mut engine = Engine::new(EngineOptions {
        backend: Backend::Baseline,
        code_store: Some(Arc::clone(store)),
        ..Default::default()
    });
    let mut s = A64State {
        pc: code.as_ptr() as u64,
        ..A64State::default()
    };
    assert_eq!(engine.run(&mut s), Exit::Breakpoint { imm: 0 });
    assert_eq!(s.x[0], (code.len() / 2) as u64);
    engine
}

#[test]
fn stored_successors_are_installed_ahead() {
    let dir = std::env::temp_dir().join(format!("xarch-ahead-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let open = || Arc::new(CodeStore::open(&dir, "chain", "baseline").expect("opens"));
    let n = 400;
    let code = chain(n);
    // A first process lifts every block (each reached from the
    // dispatcher once) and stores them.
    let mut first = run(&code, &open());
    assert!(first.compiled_code_entries() >= n as u64);
    first.save_code();
    // The next one installs them from the store, a run of successors at
    // each miss: far fewer returns to the dispatcher.
    let store = open();
    assert!(store.records() >= n, "{} stored", store.records());
    let second = run(&code, &store);
    let entries = second.compiled_code_entries();
    assert!(
        entries <= (n / 16) as u64,
        "{entries} dispatcher entries for {n} blocks"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
