//! An invalidation by one thread reaches another thread that is spinning
//! inside chained compiled code (it never returns to its dispatcher on
//! its own).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use xarch_a64::state::A64State;
use xarch_engine::{Backend, Engine, EngineOptions, Exit};

/// `movz w3, #imm`.
fn movz_w3(imm: u32) -> u32 {
    0x5280_0003 | (imm << 5)
}

fn wait_for(cell: &AtomicU64, value: u64) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        if cell.load(Ordering::Acquire) == value {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

fn spinning_thread_sees_invalidation(backend: Backend) {
    // loop: movz w3, #1 ; str w3, [x4] ; ldr x1, [x2] ; cbz x1, loop ; brk #0
    let code: Arc<[AtomicU32]> = [
        movz_w3(1),
        0xb900_0083,
        0xf940_0041,
        0xb4ff_ffa1,
        0xd420_0000,
    ]
    .into_iter()
    .map(AtomicU32::new)
    .collect();
    // [0]: the stop flag read by the loop; [1]: the value it stores.
    let cells: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let spinner = {
        let (code, cells) = (code.clone(), cells.clone());
        std::thread::spawn(move || {
            let mut engine = Engine::new(EngineOptions {
                backend,
                ..Default::default()
            });
            let mut s = A64State {
                pc: code.as_ptr() as u64,
                ..Default::default()
            };
            s.x[2] = cells[0].as_ptr() as u64;
            s.x[4] = cells[1].as_ptr() as u64;
            let exit = engine.run(&mut s);
            (exit, engine.regions_compiled())
        })
    };
    assert!(wait_for(&cells[1], 1), "the loop never ran");
    // Rewrite the loop's first instruction and invalidate it from here,
    // as a guest thread's mprotect or IC IVAU would.
    code[0].store(movz_w3(2), Ordering::Release);
    let mut engine = Engine::new(EngineOptions {
        backend,
        ..Default::default()
    });
    engine.invalidate(code.as_ptr() as u64, 4);
    let seen = wait_for(&cells[1], 2);
    cells[0].store(1, Ordering::Release);
    let (exit, regions) = spinner.join().unwrap();
    assert!(
        seen,
        "{backend:?}: the spinning thread kept running stale code"
    );
    assert_eq!(exit, Exit::Breakpoint { imm: 0 });
    if backend == Backend::Opt {
        assert!(regions > 0, "the loop never ran as a region");
    }
}

#[test]
fn spinning_baseline_thread_sees_invalidation() {
    spinning_thread_sees_invalidation(Backend::Baseline);
}

#[test]
fn spinning_tiered_thread_sees_invalidation() {
    spinning_thread_sees_invalidation(Backend::Tiered);
}

#[test]
fn spinning_region_thread_sees_invalidation() {
    // The loop is a region from its first run.
    spinning_thread_sees_invalidation(Backend::Opt);
}

/// Every guest thread gets optimizing-tier code with precise faults, not
/// only the first few: 40 engines live at once (one per thread) each run
/// a region whose load faults.
#[test]
fn many_threads_run_regions_that_fault_precisely() {
    const THREADS: usize = 40;
    // ldr x1, [x2] ; brk #0
    let code: Arc<[u32]> = Arc::from([0xf940_0041u32, 0xd420_0000]);
    let barrier = Arc::new(std::sync::Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (code, barrier) = (code.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut engine = Engine::new(EngineOptions {
                    backend: Backend::Opt,
                    ..Default::default()
                });
                let mut s = A64State {
                    pc: code.as_ptr() as u64,
                    ..Default::default()
                };
                // Unmapped: the first page is never mapped.
                s.x[2] = 8 * i as u64;
                // All engines (and their code caches) exist at once.
                barrier.wait();
                let exit = engine.run(&mut s);
                let result = (exit, s.pc, engine.regions_compiled());
                barrier.wait();
                result
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let (exit, pc, regions) = t.join().unwrap();
        assert_eq!(
            exit,
            Exit::MemoryFault {
                addr: 8 * i as u64,
                write: false
            },
            "thread {i}"
        );
        assert_eq!(pc, code.as_ptr() as u64, "thread {i}: faulting PC");
        assert!(regions > 0, "thread {i} got no optimizing-tier code");
    }
}
