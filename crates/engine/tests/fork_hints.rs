//! A fork's child that installs stored blocks its parent never ran tells
//! the parent, which installs them the next time it enters the engine:
//! its next children inherit them instead of installing them again (a
//! shell's children each ran the same path from fork to exec).
//!
//! (One test in its own binary: it forks the test process, whose child
//! runs the engine on the forking thread alone and exits.)

use std::sync::Arc;
use xarch_a64::state::A64State;
use xarch_a64::testing::chain;
use xarch_engine::persist::CodeStore;
use xarch_engine::{Backend, Engine, EngineOptions, Exit};

fn run(engine: &mut Engine, code: &[u32]) {
    let mut s = A64State {
        pc: code.as_ptr() as u64,
        ..A64State::default()
    };
    assert_eq!(engine.run(&mut s), Exit::Breakpoint { imm: 0 });
    assert_eq!(s.x[0], (code.len() / 2) as u64);
}

/// Forks; the child runs `code` with `engine` and exits with the number
/// of blocks it installed (at most 255); returns that number.
fn child_installs(engine: &mut Engine, code: &[u32]) -> u64 {
    let guard = xarch_engine::fork_lock();
    // SAFETY: the child runs only this thread's engine on memory it
    // copied, then leaves with `_exit` (no destructors, no test harness).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    drop(guard);
    if pid == 0 {
        xarch_engine::note_fork();
        let before = engine.blocks_installed();
        run(engine, code);
        let installed = (engine.blocks_installed() - before).min(255);
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(installed as i32) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    libc::WEXITSTATUS(status) as u64
}

#[test]
fn children_find_the_blocks_earlier_children_installed() {
    let dir = std::env::temp_dir().join(format!("xarch-fork-hints-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let open = || Arc::new(CodeStore::open(&dir, "forks", "baseline").expect("opens"));
    let engine = |store: &Arc<CodeStore>| {
        Engine::new(EngineOptions {
            backend: Backend::Baseline,
            code_store: Some(Arc::clone(store)),
            ..Default::default()
        })
    };
    // What the parent runs, and what only its children run.
    let parent_path = chain(40);
    let child_path = chain(40);
    // An earlier process ran both and stored them.
    let mut first = engine(&open());
    run(&mut first, &parent_path);
    run(&mut first, &child_path);
    first.save_code();
    let mut parent = engine(&open());
    run(&mut parent, &parent_path);
    let installed = parent.blocks_installed();
    assert!(installed > 0);
    // The first child installs the blocks of its own path.
    assert!(child_installs(&mut parent, &child_path) >= 40);
    // The parent installs them when it next runs, and its next child
    // has them already.
    run(&mut parent, &parent_path);
    assert!(
        parent.blocks_installed() >= installed + 40,
        "{} blocks installed, {installed} before the child",
        parent.blocks_installed()
    );
    assert_eq!(child_installs(&mut parent, &child_path), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
