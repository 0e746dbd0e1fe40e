//! The optimizing tier's compiler thread: Cranelift compiles hot regions
//! while the guest thread that asked goes on running their baseline code.
//!
//! - A guest thread's engine queues a [`Job`] (the region's blocks) and
//!   marks the entry pending; one process-wide thread, started on the
//!   first job, compiles jobs in order into position-independent bytes
//!   ([`xarch_jit::opt::RegionCode`]).
//! - The result goes to the engine's [`Mailbox`]; if that engine is inside
//!   `Engine::run`, the compiler sets [`EXIT_INFO_REGION_READY`] in its
//!   guest state, which makes chained code return to the dispatcher, where
//!   the engine installs the region in its own code cache (only the owning
//!   thread ever writes its code cache).
//! - Results compiled from code that was invalidated meanwhile are thrown
//!   away by the engine (the region's blocks are no longer its current
//!   translations).
//! - fork: the compiler thread does not exist in the child. The guest
//!   fork takes [`fork_lock`] across the fork so the child never inherits
//!   the queue in the middle of an update; the child starts its own
//!   compiler thread when it needs one (queued jobs are still compiled,
//!   the one being compiled at the fork is lost: its region stays
//!   baseline code).
//! - The thread blocks every signal: guest signals are for guest threads.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use xarch_ir::Block;
use xarch_jit::baseline::ChainConfig;
use xarch_jit::opt::{OptError, RegionBlock, RegionCode};

/// `exit_info` bit: a compiled region is waiting in the engine's mailbox.
pub const EXIT_INFO_REGION_READY: u64 = 2;

/// A region to compile.
pub(crate) struct Job {
    /// Entry PC.
    pub pc: u64,
    /// The region's blocks, entry first, with the serial numbers of the
    /// translations they came from.
    pub blocks: Vec<(Arc<Block>, u64)>,
    pub chain: ChainConfig,
    pub mailbox: Arc<Mailbox>,
}

/// A finished job.
pub(crate) struct Done {
    pub pc: u64,
    pub blocks: Vec<(Arc<Block>, u64)>,
    pub result: Result<RegionCode, OptError>,
    pub compile_time: Duration,
}

/// Where one engine receives its compiled regions.
#[derive(Default)]
pub(crate) struct Mailbox {
    done: Mutex<Vec<Done>>,
    /// Address of the `exit_info` word of the engine's guest state while
    /// it runs guest code with jobs outstanding (0 otherwise). Changed and
    /// used only under the `done` lock.
    poke: AtomicUsize,
    /// Results are waiting (checked without the lock).
    ready: AtomicBool,
    /// The engine is gone: its jobs need not be compiled.
    closed: AtomicBool,
}

impl Mailbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Done>> {
        self.done.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks to be told (through `exit_info`) when results arrive while
    /// the engine runs guest code, or stops asking (`None`).
    pub fn watch(&self, exit_info: Option<*mut u64>) {
        let g = self.lock();
        self.poke
            .store(exit_info.map_or(0, |p| p as usize), Ordering::Relaxed);
        if let Some(p) = exit_info
            && !g.is_empty()
        {
            // Delivered before the engine watched: tell it now.
            // SAFETY: the caller's live guest state (see `deliver`).
            unsafe { AtomicU64::from_ptr(p) }.fetch_or(EXIT_INFO_REGION_READY, Ordering::Release);
        }
    }

    /// Whether results are waiting.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Takes the waiting results.
    pub fn take(&self) -> Vec<Done> {
        let mut g = self.lock();
        self.ready.store(false, Ordering::Release);
        std::mem::take(&mut *g)
    }

    /// The engine is going away.
    pub fn close(&self) {
        self.watch(None);
        self.closed.store(true, Ordering::Release);
    }

    fn deliver(&self, done: Done) {
        let mut g = self.lock();
        g.push(done);
        self.ready.store(true, Ordering::Release);
        let p = self.poke.load(Ordering::Relaxed);
        if p != 0 {
            // SAFETY: a watched exit_info word belongs to a guest state
            // that stays alive until its engine stops watching (which
            // takes this lock); other threads update it atomically.
            unsafe { AtomicU64::from_ptr(p as *mut u64) }
                .fetch_or(EXIT_INFO_REGION_READY, Ordering::Release);
        }
    }
}

/// The queue and the compiler thread, process-wide.
struct Shared {
    queue: VecDeque<Job>,
    /// The compiler thread and the process it belongs to (after a fork
    /// the child has none).
    worker: Option<(std::thread::Thread, u32)>,
}

static SHARED: Mutex<Shared> = Mutex::new(Shared {
    queue: VecDeque::new(),
    worker: None,
});

fn shared() -> MutexGuard<'static, Shared> {
    SHARED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Held across a guest `fork` (see the module documentation), like the
/// Linux layer's own locks: the child, with only the forking thread,
/// then finds the queue consistent and releases it.
pub struct ForkGuard {
    shared: MutexGuard<'static, Shared>,
    pid: u32,
}

/// Takes the compiler queue's lock for a fork; dropping the guard in
/// the child forgets the parent's compiler thread.
pub(crate) fn fork_lock() -> ForkGuard {
    ForkGuard {
        shared: shared(),
        pid: std::process::id(),
    }
}

impl Drop for ForkGuard {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            self.shared.worker = None;
        }
    }
}

/// Queues a job, starting the compiler thread if this process has none;
/// gives the job back if no thread could be started (the caller then
/// compiles on its own thread).
pub(crate) fn submit(job: Job) -> Result<(), Job> {
    let pid = std::process::id();
    let mut job = Some(job);
    let wake = (|| {
        let mut s = shared();
        let wake = match &s.worker {
            Some((t, p)) if *p == pid => Some(t.clone()),
            _ => {
                s.worker = Some((spawn_worker()?, pid));
                None
            }
        };
        s.queue.extend(job.take());
        Some(wake)
    })();
    match (wake, job) {
        (Some(Some(t)), _) => t.unpark(),
        (Some(None), _) => {}
        (None, Some(job)) => return Err(job),
        (None, None) => unreachable!("the job is queued only with a thread"),
    }
    Ok(())
}

/// Tests: make starting the compiler thread fail.
#[cfg(test)]
pub(crate) static REFUSE_THREAD: AtomicBool = AtomicBool::new(false);

fn spawn_worker() -> Option<std::thread::Thread> {
    #[cfg(test)]
    if REFUSE_THREAD.load(Ordering::Relaxed) {
        return None;
    }
    crate::host_threads::before_spawn();
    // The thread inherits this mask: block everything while spawning it.
    let old = crate::host_threads::block_all_signals();
    let handle = std::thread::Builder::new()
        .name("xarch-compiler".into())
        .spawn(worker)
        .ok();
    // SAFETY: restoring the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut()) };
    handle.map(|h| h.thread().clone())
}

fn worker() {
    loop {
        let next = shared().queue.pop_front();
        let Some(job) = next else {
            // `submit` unparks after queueing; a wake-up between the
            // check and the park is kept by the park token.
            std::thread::park();
            continue;
        };
        if job.mailbox.closed.load(Ordering::Acquire) {
            continue;
        }
        let t0 = Instant::now();
        let region: Vec<RegionBlock<'_>> = job
            .blocks
            .iter()
            .map(|(b, _)| RegionBlock::from(&**b))
            .collect();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            xarch_jit::opt::compile_region_code(&region, job.chain)
        }));
        drop(region);
        let panicked = result.is_err();
        let result = result.unwrap_or_else(|p| {
            Err(OptError::Codegen(format!(
                "panic: {}",
                crate::panic_message(&*p)
            )))
        });
        let done = Done {
            pc: job.pc,
            blocks: job.blocks,
            result,
            compile_time: t0.elapsed(),
        };
        if panicked {
            // Cranelift's contexts in this thread may be inconsistent:
            // hand over to a fresh thread (the next job starts one).
            let mut s = shared();
            job.mailbox.deliver(done);
            s.worker = if s.queue.is_empty() {
                None
            } else {
                spawn_worker().map(|t| (t, std::process::id()))
            };
            return;
        }
        // Under the queue's lock: a fork never sees a delivery half done.
        let _queue = shared();
        job.mailbox.deliver(done);
    }
}
