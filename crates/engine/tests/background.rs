//! Regions compiled on the compiler thread: installed while the guest
//! keeps running (even spinning in chained code that never returns to the
//! dispatcher on its own), with the same results as baseline code, and
//! thrown away when the code they came from is invalidated meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use xarch_a64::state::A64State;
use xarch_engine::{Backend, Engine, EngineOptions, Exit};

fn background_engine(threshold: u32) -> Engine {
    Engine::new(EngineOptions {
        backend: Backend::Tiered,
        hot_threshold: Some(threshold),
        interp_runs: Some(1),
        background_compile: true,
        ..Default::default()
    })
}

/// `loop: add x0, x0, #1 ; ldr x1, [x2] ; cbz x1, loop ; brk #0`: spins in
/// chained baseline code until the host sets the word at x2.
#[test]
fn region_reaches_a_thread_spinning_in_chained_code() {
    let code: Arc<[u32]> = Arc::from([0x9100_0400u32, 0xf940_0041, 0xb4ff_ffc1, 0xd420_0000]);
    let flag = Arc::new(AtomicU64::new(0));
    let spinner = {
        let (code, flag) = (code.clone(), flag.clone());
        std::thread::spawn(move || {
            let mut engine = background_engine(1000);
            let mut s = A64State {
                pc: code.as_ptr() as u64,
                ..Default::default()
            };
            s.x[2] = flag.as_ptr() as u64;
            let exit = engine.run(&mut s);
            (exit, s.x[0], engine.regions_compiled())
        })
    };
    // Long enough for the compiler thread to deliver (milliseconds).
    std::thread::sleep(Duration::from_secs(2));
    flag.store(1, Ordering::Release);
    let (exit, iterations, regions) = spinner.join().unwrap();
    assert_eq!(exit, Exit::Breakpoint { imm: 0 });
    assert!(iterations > 1000, "the loop hardly ran: {iterations}");
    assert_eq!(
        regions, 1,
        "the region compiled in the background never replaced the spinning baseline code"
    );
}

/// x0 = 1 + 2 + ... + n with `n` in x1, then `svc #0` (to the host) and
/// again from the top: the second round runs the region installed
/// meanwhile and must compute the same.
fn sum_then_syscall() -> Vec<u32> {
    vec![
        0xd280_0000, // movz x0, #0
        0xaa01_03e3, // mov x3, x1
        0x8b03_0000, // loop: add x0, x0, x3
        0xf100_0463, // subs x3, x3, #1
        0x54ff_ffc1, // b.ne loop
        0xd400_0001, // svc #0
        0x17ff_fffa, // b start
    ]
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn background_region_computes_what_baseline_code_computes() {
    let code = sum_then_syscall();
    let mut engine = background_engine(100);
    let mut s = A64State {
        pc: code.as_ptr() as u64,
        ..Default::default()
    };
    let n = 5000u64;
    s.x[1] = n;
    assert_eq!(engine.run(&mut s), Exit::Syscall);
    assert_eq!(s.x[0], n * (n + 1) / 2);
    // Usually the loop ends before the compiler thread delivers; on a
    // busy machine that preempts the guest thread the region may have
    // arrived (and been installed) during the run already.
    if engine.regions_compiled() == 0 {
        wait_until("the compiler thread", || engine.regions_ready());
    }
    for round in 0..3 {
        s.x[1] = n + round;
        assert_eq!(engine.run(&mut s), Exit::Syscall);
        assert_eq!(s.x[0], (n + round) * (n + round + 1) / 2, "round {round}");
    }
    assert_eq!(engine.regions_compiled(), 1);
}

#[test]
fn region_of_invalidated_code_is_not_installed() {
    let code: Vec<AtomicU32> = sum_then_syscall().into_iter().map(AtomicU32::new).collect();
    let base = code.as_ptr() as u64;
    let mut engine = background_engine(100);
    let mut s = A64State {
        pc: base,
        ..Default::default()
    };
    s.x[1] = 5000;
    assert_eq!(engine.run(&mut s), Exit::Syscall);
    // The loop's add becomes a sub before the region arrives.
    code[2].store(0xcb03_0000, Ordering::Release);
    engine.invalidate(base + 8, 4);
    wait_until("the compiler thread", || engine.regions_ready());
    s.x[1] = 10;
    assert_eq!(engine.run(&mut s), Exit::Syscall);
    assert_eq!(s.x[0], (-55i64) as u64, "stale code ran");
    assert_eq!(engine.regions_compiled(), 0, "a stale region was installed");
}
