//! Code installed from the store: a process starting from it installs a
//! block's stored successors along with it, so its chained code runs on
//! instead of returning to the dispatcher at every block it has not
//! reached yet; and an installed block's guest accesses fault at their
//! own guest instructions, as the block did where it was compiled.

use std::sync::Arc;
use xarch_a64::state::A64State;
use xarch_a64::testing::{BRK0, chain};
use xarch_engine::persist::CodeStore;
use xarch_engine::{Backend, Engine, EngineOptions, Exit};

/// A code store directory of this test's own, removed when it ends.
struct Scratch {
    dir: std::path::PathBuf,
    program: &'static str,
}

impl Scratch {
    fn new(program: &'static str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("xarch-{program}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch { dir, program }
    }

    /// The store as a new process opens it.
    fn open(&self) -> Arc<CodeStore> {
        Arc::new(CodeStore::open(&self.dir, self.program, "baseline").expect("opens"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
    let scratch = Scratch::new("chain");
    let open = || scratch.open();
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
}

#[test]
fn installed_blocks_fault_at_their_own_instructions() {
    // 40 blocks (a process saves only when it made at least 32), then
    // one with loads and stores at several instructions (x1..x3 the
    // addresses) and `brk #0`: each access in turn is pointed at an
    // unmapped address; the fault must name its instruction, its address
    // and its direction, with the stores before it done.
    let lead = 40;
    let mut code = chain(lead);
    code.pop();
    code.extend([
        0xf9400024, // ldr x4, [x1]
        0x91000484, // add x4, x4, #1
        0xf9000044, // str x4, [x2]
        0xa9401465, // ldp x5, x5, [x3]
        0x8b050084, // add x4, x4, x5
        0xf9000464, // str x4, [x3, #8]
        BRK0,
    ]);
    let entry = code.as_ptr() as u64;
    let base = entry + 8 * lead as u64;
    let scratch = Scratch::new("faults");
    let open = || scratch.open();
    let mut mem = [7u64; 8];
    let ok = mem.as_mut_ptr() as u64;
    let bad = 0x10u64; // never mapped
    let engine = |store: &Arc<CodeStore>| {
        Engine::new(EngineOptions {
            backend: Backend::Baseline,
            code_store: Some(Arc::clone(store)),
            ..Default::default()
        })
    };
    let state = |x1, x2, x3| {
        let mut s = A64State {
            pc: entry,
            ..A64State::default()
        };
        s.x[1..4].copy_from_slice(&[x1, x2, x3]);
        s
    };
    // Compiled and stored by a first process that faults nowhere (the
    // store keeps blocks compiled in the process that saves them).
    let store = open();
    let mut first = engine(&store);
    for _ in 0..8 {
        let mut s = state(ok, ok + 8, ok + 16);
        assert_eq!(first.run(&mut s), Exit::Breakpoint { imm: 0 });
    }
    first.save_code();
    // (x1, x2, x3), the faulting instruction's index, address and write.
    let cases = [
        ((bad, ok + 8, ok + 16), 0, bad, false),
        ((ok, bad + 8, ok + 16), 2, bad + 8, true),
        ((ok, ok + 8, bad + 16), 3, bad + 16, false),
        (
            (ok, ok + 8, ok + 4096 * 1024 * 1024),
            3,
            ok + (4096 << 20),
            false,
        ),
    ];
    for ((x1, x2, x3), index, addr, write) in cases {
        let store = open();
        assert!(store.records() >= 1, "the block was stored");
        let mut e = engine(&store);
        mem = [7; 8];
        let mut s = state(x1, x2, x3);
        let exit = e.run(&mut s);
        assert_eq!(
            (exit, s.pc),
            (Exit::MemoryFault { addr, write }, base + 4 * index),
            "access {index}"
        );
        assert_eq!(
            e.blocks_installed(),
            lead as u64 + 1,
            "ran installed blocks only"
        );
        // The instructions before the faulting one took effect.
        assert_eq!(mem[1], if index > 2 { 8 } else { 7 }, "access {index}");
    }
}

#[test]
fn installed_blocks_are_dropped_and_relifted_when_their_code_changes() {
    let scratch = Scratch::new("inval");
    let open = || scratch.open();
    let n = 100;
    let mut code = chain(n);
    let mut first = run(&code, &open());
    first.save_code();
    // A second process runs the chain from the store.
    let mut e = run(&code, &open());
    assert!(e.blocks_installed() >= n as u64);
    // The guest rewrites one block (`add x0, x0, #1` -> `#3`) and says so
    // (as munmap, mprotect or `IC IVAU` do): the installed block is
    // dropped, the stored record no longer matches the guest bytes, and
    // the new code runs.
    let at = 2 * (n / 2);
    code[at] = 0x9100_0c00; // add x0, x0, #3
    e.invalidate(code.as_ptr() as u64 + 4 * at as u64, 4);
    let mut s = A64State {
        pc: code.as_ptr() as u64,
        ..A64State::default()
    };
    assert_eq!(e.run(&mut s), Exit::Breakpoint { imm: 0 });
    assert_eq!(s.x[0], n as u64 + 2);
}
