//! The guest process: loading a program, the run loop that turns engine
//! exits into system calls and signals, and how the process ends.

use crate::error::LoadError;
use crate::loader::{self, LoadedElf};
use crate::mm::GuestMemory;
use crate::signal::{Delivery, Fault, Signals, esr};
use crate::stack::{self, AuxInfo};
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use xarch_a64::state::A64State;
use xarch_engine::{Backend, Engine, Exit};

/// Address space kept free after the program for its break (Linux moves a
/// static-pie's break elsewhere; xarch reserves room instead).
pub const BRK_RESERVE: u64 = 1 << 30;

/// Where the program comes from.
#[derive(Debug)]
pub enum Program {
    /// A path, opened by xarch.
    Path(PathBuf),
    /// An already-open file (binfmt_misc `O` flag) and the name it was
    /// executed as.
    Fd(File, PathBuf),
}

/// Takes over descriptor `fd`, inherited for this process alone (the
/// program of `xarch run --exec-fd`), close-on-exec from now on; `None`
/// when it is not open.
pub fn inherited_file(fd: i32) -> Option<File> {
    // SAFETY: F_SETFD only sets a flag; it fails on a number not open.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return None;
    }
    // SAFETY: the descriptor is open and was passed to this process for
    // this use alone: nothing else owns it.
    Some(File::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
}

/// Everything needed to start a guest.
#[derive(Debug)]
pub struct GuestConfig {
    /// The program.
    pub program: Program,
    /// The guest's argv, argv[0] included (it may differ from the path).
    pub argv: Vec<OsString>,
    /// The guest's environment, `NAME=value` strings.
    pub env: Vec<OsString>,
    /// Where to look for the program interpreter first.
    pub sysroot: Option<PathBuf>,
    /// Print system calls to stderr.
    pub strace: bool,
    /// Report unimplemented instructions.
    pub log_unimplemented: bool,
    /// Which execution backend runs guest code.
    pub backend: Backend,
}

/// How the guest ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestExit {
    /// `exit_group(code)`.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// `execve` of a program that runs in this process next
    /// ([`Process::exec`], see [`crate::exec`]).
    Exec,
}

/// Options that outlive loading (execve passes them on).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Print system calls.
    pub strace: bool,
    /// Report unimplemented instructions.
    pub log_unimplemented: bool,
    /// Sysroot for interpreters.
    pub sysroot: Option<PathBuf>,
    /// Which execution backend runs guest code (passed on by execve).
    pub backend: Backend,
}

/// What the run loop needs from an execution engine. [`Engine`] is the
/// real one; tests script exits with a fake.
pub trait Cpu {
    /// Runs guest code until an exit.
    fn run(&mut self, state: &mut A64State) -> Exit;
    /// Drops translations of `[start, start+len)`.
    fn invalidate(&mut self, start: u64, len: u64);
}

impl Cpu for Engine {
    fn run(&mut self, state: &mut A64State) -> Exit {
        Engine::run(self, state)
    }
    fn invalidate(&mut self, start: u64, len: u64) {
        Engine::invalidate(self, start, len)
    }
}

/// One guest process (single-threaded for now).
#[derive(Debug)]
pub struct Process {
    /// Guest memory bookkeeping.
    pub mm: GuestMemory,
    /// Signal dispositions and mask.
    pub signals: Signals,
    /// Options.
    pub opts: Options,
    /// Absolute path of the guest program (`/proc/self/exe`).
    pub exe: PathBuf,
    /// `set_tid_address` pointer.
    pub clear_child_tid: u64,
    /// Whether this process was forked by a guest or is one of several
    /// threads (strace prefixes thread ids).
    pub forked: bool,
    /// Set when this thread ended with `exit` while others live on.
    pub thread_exited: bool,
    /// The guest's auxiliary vector (`/proc/self/auxv`).
    pub auxv: Vec<u8>,
    /// The guest's argv, NUL-terminated strings (`/proc/self/cmdline`).
    pub cmdline: Vec<u8>,
    /// The program's persistent code cache, if there is one (see
    /// [`code_store`]).
    pub code_store: Option<std::sync::Arc<xarch_engine::persist::CodeStore>>,
    /// The program an in-process `execve` loads next ([`GuestExit::Exec`]).
    pub exec: Option<GuestConfig>,
}

impl Process {
    /// An empty process (tests set memory and registers up themselves).
    pub fn new(opts: Options) -> Process {
        Process {
            mm: GuestMemory::new(),
            signals: Signals {
                trace: opts.strace,
                ..Signals::default()
            },
            opts,
            exe: PathBuf::new(),
            clear_child_tid: 0,
            forked: false,
            thread_exited: false,
            auxv: Vec::new(),
            cmdline: Vec::new(),
            code_store: None,
            exec: None,
        }
    }

    /// The per-thread view of a new thread of this process: shared memory
    /// and dispositions, the parent's signal mask.
    pub fn new_thread(&self) -> Process {
        Process {
            mm: self.mm.clone(),
            signals: self.signals.for_new_thread(),
            opts: self.opts.clone(),
            exe: self.exe.clone(),
            clear_child_tid: 0,
            forked: true,
            thread_exited: false,
            auxv: self.auxv.clone(),
            cmdline: self.cmdline.clone(),
            code_store: self.code_store.clone(),
            exec: None,
        }
    }

    /// Loads `cfg.program` and builds its initial stack and registers.
    pub fn load(cfg: GuestConfig) -> Result<(Process, A64State), LoadError> {
        let opts = Options {
            strace: cfg.strace,
            log_unimplemented: cfg.log_unimplemented,
            sysroot: cfg.sysroot.clone(),
            backend: cfg.backend,
        };
        let mut p = Process::new(opts);
        let (file, path) = match cfg.program {
            Program::Path(path) => (loader::open_program(&path)?, path),
            Program::Fd(f, path) => (f, path),
        };
        // Like the kernel's /proc/self/exe: absolute, symlinks resolved.
        p.exe = std::fs::canonicalize(&path)
            .or_else(|_| std::path::absolute(&path))
            .unwrap_or_else(|_| path.clone());
        let main = loader::load_elf(&file, &path, &mut p.mm, BRK_RESERVE)?;
        p.code_store = code_store(&p, &file).map(std::sync::Arc::new);
        drop(file);
        let interp: Option<LoadedElf> = match &main.interp {
            Some(i) => Some(loader::load_interpreter(
                i,
                &path,
                cfg.sysroot.as_deref(),
                &mut p.mm,
            )?),
            None => None,
        };
        p.mm.init_brk(main.end);
        p.mm.reserve_brk(BRK_RESERVE);
        let map_err = |what: &str, source| LoadError::Map {
            path: path.clone(),
            what: what.into(),
            source,
        };
        let vdso = crate::vdso::map(&mut p.mm).map_err(|e| map_err("vdso", e))?;
        p.signals
            .init_with_trampoline(&mut p.mm, vdso.map(|v| v.sigreturn))
            .map_err(|e| map_err("signal trampoline", e))?;
        let aux = AuxInfo {
            phdr: main.phdr,
            phent: main.phent,
            phnum: main.phnum,
            base: interp.as_ref().map_or(0, |i| i.bias),
            entry: main.entry,
            sysinfo_ehdr: vdso.map_or(0, |v| v.base),
        };
        let bytes = |v: &[OsString]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        let execfn = path.as_os_str().as_bytes();
        let st = stack::setup_stack(&mut p.mm, &bytes(&cfg.argv), &bytes(&cfg.env), execfn, &aux)
            .map_err(|e| map_err("stack", e))?;
        p.auxv = read_auxv(st.auxv);
        p.cmdline = cfg
            .argv
            .iter()
            .flat_map(|a| a.as_bytes().iter().copied().chain([0]))
            .collect();
        set_comm(&p.exe);
        if main.exec_stack {
            // PT_GNU_STACK absent or executable: the guest may run code there.
            let rwx = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
            p.mm.mprotect(st.low, st.high - st.low, rwx)
                .map_err(|e| map_err("stack", std::io::Error::from_raw_os_error(e)))?;
        }
        let state = A64State {
            sp: st.sp,
            pc: interp.as_ref().map_or(main.entry, |i| i.entry),
            ..A64State::default()
        };
        Ok((p, state))
    }

    /// Runs the guest until it exits or dies.
    pub fn run<C: Cpu>(&mut self, engine: &mut C, state: &mut A64State) -> GuestExit {
        crate::signal::set_current_state(state);
        let r = loop {
            let exit = engine.run(state);
            let delivery = match exit {
                Exit::Syscall => match crate::syscall::dispatch(self, state) {
                    Some(e) => break e,
                    None => Delivery::Continue,
                },
                Exit::Interrupted => Delivery::Continue,
                Exit::Breakpoint { imm } => self.signals.force_fault(
                    state,
                    &self.mm,
                    Fault {
                        sig: libc::SIGTRAP,
                        code: 1, /* TRAP_BRKPT */
                        si_addr: state.pc,
                        fault_address: 0,
                        esr: esr::EC_BRK64 | esr::IL | imm as u64,
                    },
                ),
                Exit::Undefined { insn, unallocated } => {
                    if self.opts.strace || self.opts.log_unimplemented {
                        let what = if unallocated {
                            "undefined"
                        } else {
                            "unimplemented"
                        };
                        xarch_engine::diag!(
                            "xarch: {what} instruction {insn:#010x} at pc {:#x}",
                            state.pc
                        );
                    }
                    self.signals.force_fault(
                        state,
                        &self.mm,
                        Fault {
                            sig: libc::SIGILL,
                            code: 1, /* ILL_ILLOPC */
                            si_addr: state.pc,
                            fault_address: 0,
                            esr: 0,
                        },
                    )
                }
                Exit::MemoryFault { addr, write } => {
                    let (code, fsc) = if self.mm.prot_at(addr).is_some() {
                        (2 /* SEGV_ACCERR */, esr::FSC_PERM_L3)
                    } else {
                        (1 /* SEGV_MAPERR */, esr::FSC_TRANS_L3)
                    };
                    let wnr = if write { esr::WNR } else { 0 };
                    self.signals.force_fault(
                        state,
                        &self.mm,
                        Fault {
                            sig: libc::SIGSEGV,
                            code,
                            si_addr: addr,
                            fault_address: addr,
                            esr: esr::EC_DABT_LOW | esr::IL | wnr | fsc,
                        },
                    )
                }
                Exit::FetchFault => {
                    let pc = state.pc;
                    let (code, fsc) = if self.mm.prot_at(pc).is_some() {
                        (2, esr::FSC_PERM_L3)
                    } else {
                        (1, esr::FSC_TRANS_L3)
                    };
                    self.signals.force_fault(
                        state,
                        &self.mm,
                        Fault {
                            sig: libc::SIGSEGV,
                            code,
                            si_addr: pc,
                            fault_address: pc,
                            esr: esr::EC_IABT_LOW | esr::IL | fsc,
                        },
                    )
                }
            };
            for (start, len) in self.mm.take_invalidations() {
                engine.invalidate(start, len);
            }
            if let Delivery::Kill(sig) = delivery {
                break GuestExit::Signaled(sig);
            }
            if let Delivery::Kill(sig) = self.signals.deliver_pending(state, &self.mm) {
                break GuestExit::Signaled(sig);
            }
        };
        crate::signal::clear_current_state();
        if self.opts.strace && !self.thread_exited {
            match r {
                GuestExit::Exited(c) => xarch_engine::diag!("+++ exited with {c} +++"),
                GuestExit::Signaled(s) => {
                    xarch_engine::diag!("+++ killed by {} +++", crate::syscall::signame(s as u64))
                }
                GuestExit::Exec => {}
            }
        }
        r
    }
}

/// Ends xarch with the guest's exit status, now: the guest is gone and
/// its code saved, and Rust's and libc's exit handlers (destructors,
/// unregistering unwind tables, stdio cleanup) only cost time at every
/// process end, with page faults on code run nowhere else (a shell's
/// children end thousands of times in a build).
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: ends the process; nothing of it runs after.
    unsafe { libc::_exit(code) }
}

/// Copies the auxiliary vector at `at` (up to and including AT_NULL).
fn read_auxv(at: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut a = at;
    loop {
        // SAFETY: the loader just wrote the vector on the guest stack,
        // terminated by AT_NULL.
        let (k, v) = unsafe { (*(a as *const u64), *((a + 8) as *const u64)) };
        out.extend_from_slice(&k.to_ne_bytes());
        out.extend_from_slice(&v.to_ne_bytes());
        if k == 0 || out.len() > 4096 {
            return out;
        }
        a += 16;
    }
}

/// Where persistent code caches live: `$XARCH_CODE_CACHE` (`off` or
/// empty: none), else `$XDG_CACHE_HOME/xarch/code`, else
/// `$HOME/.cache/xarch/code` — but by default only in the root file
/// system xarch was installed in: inside a container or a `--rootfs`
/// root (a build of an image, a bootstrapped distribution) the cache
/// would end up in the guest's files. `Err`: why there is none.
pub fn code_cache_dir() -> Result<PathBuf, &'static str> {
    match std::env::var_os("XARCH_CODE_CACHE") {
        Some(v) if v.is_empty() || v == "off" || v == "0" => Err("XARCH_CODE_CACHE turns it off"),
        Some(v) => Ok(PathBuf::from(v)),
        None if !in_own_root() => {
            Err("inside a container or another root, only a place XARCH_CODE_CACHE names is used")
        }
        None => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache"))
            })
            .map(|c| c.join("xarch").join("code"))
            .ok_or("neither XDG_CACHE_HOME nor HOME is set (name one with XARCH_CODE_CACHE)"),
    }
}

/// Whether xarch runs in the root file system it was installed in: the
/// path of its own executable names that same file here. (A container or
/// a foreign root has another file, or none, at that path; a replaced
/// binary is `(deleted)`.)
fn in_own_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(path) = std::fs::read_link("/proc/self/exe") else {
        return false;
    };
    match (
        std::fs::metadata("/proc/self/exe"),
        std::fs::metadata(&path),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The persistent code cache of the program `file` that `p` runs (keyed
/// by its path and file identity: a rebuilt program gets a new cache),
/// if the engine uses one. Its size is bounded by
/// `$XARCH_CODE_CACHE_MAX_MB` (default 1024). Why there is none is
/// reported with the engine's other figures (`XARCH_STATS`).
fn code_store(p: &Process, file: &File) -> Option<xarch_engine::persist::CodeStore> {
    use std::os::unix::fs::MetadataExt;
    let options = crate::thread::engine_options(p);
    // (The interpreter and threshold 0 never use one.)
    let settings = Engine::code_settings(&options)?;
    let opened = code_cache_dir().map_err(String::from).and_then(|dir| {
        let m = file.metadata().map_err(|e| e.to_string())?;
        let program = format!(
            "{} {} {} {} {}.{}",
            p.exe.display(),
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec()
        );
        xarch_engine::persist::CodeStore::open(&dir, &program, &settings)
            .map_err(|e| format!("{}: {e}", dir.display()))
    });
    let store = match opened {
        Ok(s) => s,
        Err(why) => {
            if options.stats {
                xarch_engine::diag!("xarch: no code store: {why}");
            }
            return None;
        }
    };
    Some(
        match std::env::var("XARCH_CODE_CACHE_MAX_MB")
            .ok()
            .and_then(|m| m.parse::<u64>().ok())
        {
            Some(mb) => store.with_max_dir_bytes(mb << 20),
            None => store,
        },
    )
}

/// Names the host thread after the guest program, as the kernel names a
/// process after the file it executes (`/proc/self/comm`, `ps`).
fn set_comm(exe: &Path) {
    let Some(name) = exe.file_name() else { return };
    let mut b: Vec<u8> = name.as_bytes().iter().copied().take(15).collect();
    b.push(0);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, b.as_ptr()) };
}

/// Loads and runs a guest program to completion (and the programs it
/// executes in this process, see [`crate::exec`]).
pub fn run_guest(cfg: GuestConfig) -> Result<GuestExit, LoadError> {
    // Rust's runtime ignores SIGPIPE in xarch; the guest must start with
    // the default disposition (and pass it on to what it execs).
    // SAFETY: resetting one disposition before any guest code runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    crate::thread::save_host_robust_list();
    let (p, state) = Process::load(cfg)?;
    let engine = crate::thread::new_engine(&p);
    // Past an in-process exec's point of no return, a program that does not
    // load ends the process (as it ends a new xarch): the error returns.
    let (exit, p, engine) = crate::exec::run_through_execs(p, state, engine)?;
    // The process ends now: freeing every translation, block of code and
    // guest mapping one by one would only cost time (milliseconds for a
    // large program). The engine's report (XARCH_STATS) prints on drop.
    if crate::thread::engine_options(&p).stats {
        drop(engine);
    } else {
        std::mem::forget(engine);
    }
    if let GuestExit::Exited(code) = exit
        && crate::thread::live_threads() > 1
    {
        // exit_group with other guest threads running: they end now.
        // SAFETY: ending the process.
        unsafe { libc::syscall(libc::SYS_exit_group, code) };
    }
    std::mem::forget(p);
    Ok(exit)
}

/// Whether a path names an arm64 ELF file (for execve and binfmt).
pub fn is_guest_program(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let mut head = [0u8; 20];
    let n = std::os::unix::fs::FileExt::read_at(&f, &mut head, 0).unwrap_or(0);
    loader::is_guest_elf(&head[..n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{SigAction, sa};

    type Step = Box<dyn FnMut(&mut A64State) -> Exit>;

    /// A CPU that plays a script of exits, one per `run`.
    struct Script {
        steps: std::collections::VecDeque<Step>,
        invalidated: Vec<(u64, u64)>,
    }

    impl Script {
        fn new(steps: Vec<Step>) -> Script {
            Script {
                steps: steps.into(),
                invalidated: vec![],
            }
        }
    }

    impl Cpu for Script {
        fn run(&mut self, state: &mut A64State) -> Exit {
            let mut step = self
                .steps
                .pop_front()
                .expect("the guest ran past the script");
            step(state)
        }
        fn invalidate(&mut self, start: u64, len: u64) {
            self.invalidated.push((start, len));
        }
    }

    fn syscall(nr: u64, args: &[u64]) -> impl FnMut(&mut A64State) -> Exit + use<> {
        let args = args.to_vec();
        move |s: &mut A64State| {
            s.x[8] = nr;
            s.x[..args.len()].copy_from_slice(&args);
            s.pc += 4;
            Exit::Syscall
        }
    }

    fn process() -> (Process, A64State) {
        let mut p = Process::new(Options::default());
        p.signals.init(&mut p.mm).unwrap();
        let stack =
            p.mm.mmap(
                0,
                1 << 16,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
            .unwrap();
        let st = A64State {
            sp: stack + (1 << 16),
            pc: 0x1000,
            ..A64State::default()
        };
        (p, st)
    }

    #[test]
    fn syscalls_then_exit_group() {
        let _g = crate::signal::TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (mut p, mut st) = process();
        let mut cpu = Script::new(vec![
            Box::new(syscall(172, &[])),
            Box::new(|s: &mut A64State| {
                // SAFETY: getpid cannot fail.
                assert_eq!(s.x[0], unsafe { libc::getpid() } as u64);
                syscall(94, &[7])(s)
            }),
        ]);
        assert_eq!(p.run(&mut cpu, &mut st), GuestExit::Exited(7));
    }

    #[test]
    fn faults_kill_without_a_handler() {
        let _g = crate::signal::TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (exit, sig) in [
            (
                Exit::MemoryFault {
                    addr: 8,
                    write: true,
                },
                libc::SIGSEGV,
            ),
            (Exit::FetchFault, libc::SIGSEGV),
            (
                Exit::Undefined {
                    insn: 0,
                    unallocated: true,
                },
                libc::SIGILL,
            ),
            (Exit::Breakpoint { imm: 0 }, libc::SIGTRAP),
        ] {
            let (mut p, mut st) = process();
            let mut cpu = Script::new(vec![Box::new(move |_: &mut A64State| exit)]);
            assert_eq!(p.run(&mut cpu, &mut st), GuestExit::Signaled(sig));
        }
    }

    #[test]
    fn segv_handler_runs_and_returns() {
        let _g = crate::signal::TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (mut p, mut st) = process();
        let handler = 0x7000;
        let act = SigAction {
            handler,
            flags: sa::SIGINFO,
            restorer: 0,
            mask: 0,
        };
        p.signals.set_action(libc::SIGSEGV, Some(act)).unwrap();
        let fault_pc = st.pc;
        let mut cpu = Script::new(vec![
            Box::new(|s: &mut A64State| {
                s.x[19] = 0x1919;
                Exit::MemoryFault {
                    addr: 0xdead_0000,
                    write: false,
                }
            }),
            Box::new(move |s: &mut A64State| {
                assert_eq!(s.pc, handler);
                assert_eq!(s.x[0], libc::SIGSEGV as u64);
                // SAFETY: x1 points at the siginfo the frame holds.
                let addr = unsafe { *((s.x[1] + 16) as *const u64) };
                assert_eq!(addr, 0xdead_0000);
                s.x[19] = 0;
                // The handler skips the faulting instruction in its ucontext.
                // SAFETY: x2 points at the ucontext; pc is at mcontext + 264.
                unsafe { *((s.x[2] + 176 + 264) as *mut u64) += 4 };
                s.pc = s.x[30];
                syscall(139, &[])(s)
            }),
            Box::new(move |s: &mut A64State| {
                assert_eq!(s.pc, fault_pc + 4);
                assert_eq!(s.x[19], 0x1919);
                syscall(94, &[0])(s)
            }),
        ]);
        assert_eq!(p.run(&mut cpu, &mut st), GuestExit::Exited(0));
    }

    #[test]
    fn unmapping_code_invalidates_translations() {
        let _g = crate::signal::TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (mut p, mut st) = process();
        let code =
            p.mm.mmap(
                0,
                8192,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
            .unwrap();
        p.mm.take_invalidations();
        let mut cpu = Script::new(vec![
            Box::new(syscall(215, &[code, 8192])),
            Box::new(syscall(94, &[0])),
        ]);
        p.run(&mut cpu, &mut st);
        assert_eq!(cpu.invalidated, vec![(code, 8192)]);
    }
}
