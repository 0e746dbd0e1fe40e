//! Guest threads: one host thread per guest thread.
//!
//! `clone(CLONE_VM|CLONE_THREAD|...)` starts a host thread (with a small
//! host stack of its own) that runs its own [`Engine`] on a copy of the
//! parent's registers; guest memory is host memory, so the guest's stacks,
//! TLS, futexes and pthread structures need nothing more. The host thread
//! id is the guest thread id (gettid, tgkill and futex owner ids pass
//! through). Memory bookkeeping ([`crate::mm::GuestMemory`]) and signal
//! dispositions are shared; masks, pending signals and the alternate
//! stack are per thread; translations dropped by one thread are dropped by
//! all (the engine's invalidation generation).
//!
//! Thread exit: `exit` ends only the calling thread (clearing and waking
//! its CLONE_CHILD_CLEARTID word as the kernel does); when the leader
//! exits first the process lives on until the last thread, whose exit
//! reports the leader's status. `exit_group` and fatal signals end every
//! thread at once.

use crate::process::{GuestExit, Process};
use crate::syscall::{Ret, raw};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use xarch_a64::state::A64State;
use xarch_engine::{Engine, EngineOptions};

/// Host stack of a guest thread's host thread (the guest runs on its own
/// stack; this one only carries xarch's frames).
const HOST_STACK: usize = 1 << 20;

/// Guest threads alive in this process.
static LIVE: AtomicUsize = AtomicUsize::new(1);
/// The leader's `exit` status once it has exited with other threads left.
static LEADER_EXIT: AtomicI32 = AtomicI32::new(-1);

/// Number of live guest threads.
pub fn live_threads() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// In the child of a fork: only the forking thread exists.
pub fn reset_after_fork() {
    LIVE.store(1, Ordering::SeqCst);
    LEADER_EXIT.store(-1, Ordering::SeqCst);
}

thread_local! {
    /// The host libc's robust-list head of this host thread, restored when
    /// its guest thread ends (the guest's own list, registered by
    /// passing set_robust_list through, may be freed right after).
    static HOST_ROBUST: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

fn gettid() -> i64 {
    raw(libc::SYS_gettid, &[0; 6])
}

/// Whether this host thread is the process's first (the guest's leader).
pub(crate) fn is_leader() -> bool {
    // SAFETY: getpid cannot fail.
    gettid() == unsafe { libc::getpid() } as i64
}

/// An engine for a thread of `p`: guest code is only fetched from memory
/// the guest mapped executable (a jump into data is SIGSEGV, as on
/// hardware; the host side of guest memory is never executable).
pub fn new_engine(p: &Process) -> Engine {
    let mut engine = Engine::new(engine_options(p));
    let mm = p.mm.clone();
    engine.set_fetch_validator(Box::new(move |addr| {
        mm.region_at(addr)
            .filter(|&(_, _, prot)| prot & libc::PROT_EXEC != 0)
            .map(|(start, end, _)| start..end)
    }));
    engine
}

/// The engine options of the process's threads.
pub fn engine_options(p: &Process) -> EngineOptions {
    EngineOptions {
        log_unimplemented: p.opts.log_unimplemented,
        dump_ir: std::env::var_os("XARCH_DUMP_IR").is_some(),
        backend: p.opts.backend,
        stats: std::env::var_os("XARCH_STATS").is_some(),
        hot_threshold: std::env::var("XARCH_HOT_THRESHOLD")
            .ok()
            .and_then(|t| t.parse().ok()),
        interp_runs: std::env::var("XARCH_INTERP_RUNS")
            .ok()
            .and_then(|t| t.parse().ok()),
        raw_ir: std::env::var_os("XARCH_RAW_IR").is_some(),
        background_compile: std::env::var_os("XARCH_SYNC_COMPILE").is_none(),
        code_store: p.code_store.clone(),
    }
}

/// Starts a guest thread for `clone(flags, newsp, ptid, tls, ctid)` with
/// CLONE_THREAD; `state.pc` is already past the SVC. Returns the new
/// thread's id or `-errno`.
pub fn spawn(
    p: &Process,
    state: &A64State,
    flags: u64,
    newsp: u64,
    ptid: u64,
    tls: u64,
    ctid: u64,
) -> i64 {
    let need = (libc::CLONE_VM | libc::CLONE_SIGHAND) as u64;
    if flags & need != need {
        return -(libc::EINVAL as i64);
    }
    let mut child = p.new_thread();
    if flags & libc::CLONE_CHILD_CLEARTID as u64 != 0 {
        child.clear_child_tid = ctid;
    }
    let mut cs = state.clone();
    cs.x[0] = 0;
    if newsp != 0 {
        cs.sp = newsp;
    }
    if flags & libc::CLONE_SETTLS as u64 != 0 {
        cs.tpidr_el0 = tls;
    }
    cs.interrupt = 0;
    cs.exit_info = 0;
    cs.excl_addr = u64::MAX;
    let (tx, rx) = std::sync::mpsc::sync_channel::<i64>(1);
    xarch_engine::host_threads::before_spawn();
    LIVE.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .stack_size(HOST_STACK)
        .spawn(move || {
            let tid = gettid();
            save_host_robust_list();
            // Both ids are in place before either thread runs guest code.
            if flags & libc::CLONE_CHILD_SETTID as u64 != 0 {
                let _ = crate::syscall::write_guest(&child, ctid, &(tid as u32));
            }
            if flags & libc::CLONE_PARENT_SETTID as u64 != 0 {
                let _ = crate::syscall::write_guest(&child, ptid, &(tid as u32));
            }
            let _ = tx.send(tid);
            // Until exit_group, a fatal signal, or this thread's own end
            // (with others left). A fork's child that this thread forked
            // has it as its only one, and may execute in process: the new
            // program runs on here.
            let engine = new_engine(&child);
            let (exit, child, engine) = match crate::exec::run_through_execs(child, cs, engine) {
                Ok((_, child, _)) if child.thread_exited => return,
                Ok(ended) => ended,
                Err(e) => {
                    eprintln!("xarch: {e}");
                    // SAFETY: ending the process.
                    unsafe { libc::syscall(libc::SYS_exit_group, e.exit_code() as i32) };
                    return;
                }
            };
            if engine_options(&child).stats {
                drop(engine); // prints the report
            }
            match exit {
                GuestExit::Exited(code) => {
                    // SAFETY: ending the process.
                    unsafe { libc::syscall(libc::SYS_exit_group, code) };
                }
                GuestExit::Signaled(sig) => crate::signal::die_with_signal(sig),
                // (run_through_execs loads the next program.)
                GuestExit::Exec => {}
            }
        });
    match spawned {
        Ok(_) => rx.recv().unwrap_or(-(libc::EAGAIN as i64)),
        Err(_) => {
            LIVE.fetch_sub(1, Ordering::SeqCst);
            -(libc::EAGAIN as i64)
        }
    }
}

/// What the kernel does with CLONE_CHILD_CLEARTID / set_tid_address when
/// a thread ends: store 0 and wake one waiter.
fn clear_child_tid(p: &Process) {
    let addr = p.clear_child_tid;
    if addr != 0 && crate::syscall::write_guest(p, addr, &0u32).is_ok() {
        // SAFETY: a futex wake on a guest word (guest memory is host memory).
        unsafe { libc::syscall(libc::SYS_futex, addr, libc::FUTEX_WAKE, 1, 0, 0, 0) };
    }
}

/// Remembers this host thread's robust-list head (libc's), which the
/// guest replaces by passing `set_robust_list` through.
pub fn save_host_robust_list() {
    let (mut head, mut len) = (0u64, 0u64);
    // SAFETY: get_robust_list of this thread into two locals.
    if unsafe { libc::syscall(libc::SYS_get_robust_list, 0, &mut head, &mut len) } == 0 {
        HOST_ROBUST.with(|c| c.set((head, len)));
    }
}

/// Registers libc's robust-list head again (the guest's list, in guest
/// memory, may be gone next: a thread's end, an in-process exec).
pub fn restore_host_robust_list() {
    let (head, len) = HOST_ROBUST.with(|c| c.get());
    if head != 0 {
        // SAFETY: re-registering libc's own list head of this thread.
        unsafe { libc::syscall(libc::SYS_set_robust_list, head, len) };
    }
}

/// What the kernel does with a thread's robust futex list when its
/// memory goes (exec): every robust futex it still holds gets
/// FUTEX_OWNER_DIED and one waiter is woken, so that a process sharing the
/// mutex gets EOWNERDEAD instead of waiting forever. Reads the guest's
/// list (registered by passing `set_robust_list` through) before guest
/// memory is unmapped.
pub fn release_robust_futexes(p: &Process) {
    const LIMIT: usize = 2048; // the kernel's ROBUST_LIST_LIMIT
    let (mut head, mut len) = (0u64, 0u64);
    // SAFETY: get_robust_list of this thread into two locals.
    if unsafe { libc::syscall(libc::SYS_get_robust_list, 0, &mut head, &mut len) } != 0
        || head == 0
        || len != 24
        || head == HOST_ROBUST.with(|c| c.get()).0
    {
        return;
    }
    let word = |at: u64| -> Option<u64> {
        let b = crate::syscall::read_guest(p, at, 8, false)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    };
    let (Some(first), Some(offset), Some(pending)) = (word(head), word(head + 8), word(head + 16))
    else {
        return;
    };
    let tid = gettid() as u32;
    let mut entry = first;
    for _ in 0..LIMIT {
        if entry & !1 == head {
            break;
        }
        let next = word(entry & !1);
        if entry & !1 != pending & !1 {
            owner_died(
                p,
                (entry & !1).wrapping_add(offset),
                entry & 1 != 0,
                false,
                tid,
            );
        }
        match next {
            Some(n) => entry = n,
            None => break,
        }
    }
    if pending != 0 {
        owner_died(
            p,
            (pending & !1).wrapping_add(offset),
            pending & 1 != 0,
            true,
            tid,
        );
    }
}

/// The kernel's `handle_futex_death` for the futex word at `addr`.
fn owner_died(p: &Process, addr: u64, pi: bool, pending_op: bool, tid: u32) {
    const WAITERS: u32 = 0x8000_0000;
    const OWNER_DIED: u32 = 0x4000_0000;
    const TID_MASK: u32 = 0x3fff_ffff;
    if !addr.is_multiple_of(4) || !crate::signal::writable(&p.mm, addr, addr + 4) {
        return;
    }
    // SAFETY: four aligned bytes of writable guest memory (guest memory
    // is host memory), changed atomically as the kernel changes them.
    let word = unsafe { std::sync::atomic::AtomicU32::from_ptr(addr as *mut u32) };
    let wake = || {
        // SAFETY: FUTEX_WAKE of one waiter on a valid address.
        unsafe { libc::syscall(libc::SYS_futex, addr, libc::FUTEX_WAKE, 1, 0, 0, 0) };
    };
    let mut val = word.load(std::sync::atomic::Ordering::SeqCst);
    loop {
        if pending_op && !pi && val == 0 {
            wake();
            return;
        }
        if val & TID_MASK != tid {
            return;
        }
        let new = (val & WAITERS) | OWNER_DIED;
        match word.compare_exchange(
            val,
            new,
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
        ) {
            Ok(_) => break,
            Err(now) => val = now,
        }
    }
    if !pi && val & WAITERS != 0 {
        wake();
    }
}

/// Guest `exit(code)`: ends the calling thread; the process ends with the
/// last thread.
pub fn exit_thread(p: &mut Process, code: i32) -> Ret {
    restore_host_robust_list();
    clear_child_tid(p);
    let before = LIVE.fetch_sub(1, Ordering::SeqCst);
    if before <= 1 {
        LIVE.store(1, Ordering::SeqCst);
        let leader = LEADER_EXIT.load(Ordering::SeqCst);
        let code = if leader >= 0 { leader } else { code };
        return Ret::Exit(GuestExit::Exited(code));
    }
    if is_leader() {
        // Linux keeps the process (and its id) until the last thread; the
        // host does the same when only the main thread ends.
        LEADER_EXIT.store(code, Ordering::SeqCst);
        crate::signal::clear_current_state();
        // SAFETY: ends only this host thread; it holds no lock and nothing
        // refers to its stack any more.
        unsafe { libc::syscall(libc::SYS_exit, 0) };
    }
    p.thread_exited = true;
    Ret::Exit(GuestExit::Exited(code))
}

/// Guest `exit_group(code)`: the calling thread's run loop ends; its
/// caller stores the thread's new code (see `Engine::save_code`) and, with
/// other threads running, ends the process at once with the host's
/// exit_group (they must not run on while xarch unwinds).
pub fn exit_group(p: &mut Process, code: i32) -> Ret {
    if live_threads() > 1 && p.opts.strace {
        xarch_engine::diag!("+++ exited with {code} +++");
    }
    Ret::Exit(GuestExit::Exited(code))
}
