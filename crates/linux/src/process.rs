//! The guest process: loading a program, the run loop that turns engine
//! exits into system calls and signals, and how the process ends.

use crate::error::LoadError;
use crate::loader::{self, LoadedElf};
use crate::mm::GuestMemory;
use crate::signal::{Delivery, Signals};
use crate::stack::{self, AuxInfo};
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use xarch_a64::state::A64State;
use xarch_engine::{Engine, EngineOptions, Exit};

/// Where the program comes from.
#[derive(Debug)]
pub enum Program {
    /// A path, opened by xarch.
    Path(PathBuf),
    /// An already-open file (binfmt_misc `O` flag) and the name it was
    /// executed as.
    Fd(File, PathBuf),
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
}

/// How the guest ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestExit {
    /// `exit_group(code)`.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
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
    /// Whether this process was forked by a guest (strace prefixes pids).
    pub forked: bool,
}

impl Process {
    /// An empty process (tests set memory and registers up themselves).
    pub fn new(opts: Options) -> Process {
        Process {
            mm: GuestMemory::new(),
            signals: Signals::default(),
            opts,
            exe: PathBuf::new(),
            clear_child_tid: 0,
            forked: false,
        }
    }

    /// Loads `cfg.program` and builds its initial stack and registers.
    pub fn load(cfg: GuestConfig) -> Result<(Process, A64State), LoadError> {
        let opts = Options {
            strace: cfg.strace,
            log_unimplemented: cfg.log_unimplemented,
            sysroot: cfg.sysroot.clone(),
        };
        let mut p = Process::new(opts);
        let (file, path) = match cfg.program {
            Program::Path(path) => (loader::open_program(&path)?, path),
            Program::Fd(f, path) => (f, path),
        };
        p.exe = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        let main = loader::load_elf(&file, &path, &mut p.mm)?;
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
        let map_err = |what: &str, source| LoadError::Map {
            path: path.clone(),
            what: what.into(),
            source,
        };
        p.signals
            .init(&mut p.mm)
            .map_err(|e| map_err("signal trampoline", e))?;
        let aux = AuxInfo {
            phdr: main.phdr,
            phent: main.phent,
            phnum: main.phnum,
            base: interp.as_ref().map_or(0, |i| i.bias),
            entry: main.entry,
        };
        let bytes = |v: &[OsString]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        let execfn = path.as_os_str().as_bytes();
        let st = stack::setup_stack(&mut p.mm, &bytes(&cfg.argv), &bytes(&cfg.env), execfn, &aux)
            .map_err(|e| map_err("stack", e))?;
        let state = A64State {
            sp: st.sp,
            pc: interp.as_ref().map_or(main.entry, |i| i.entry),
            ..A64State::default()
        };
        Ok((p, state))
    }

    /// Runs the guest until it exits or dies.
    pub fn run(&mut self, engine: &mut Engine, state: &mut A64State) -> GuestExit {
        crate::signal::set_current_state(state);
        let r = loop {
            let exit = engine.run(state);
            let delivery = match exit {
                Exit::Syscall => match crate::syscall::dispatch(self, state) {
                    Some(e) => break e,
                    None => Delivery::Continue,
                },
                Exit::Interrupted => Delivery::Continue,
                Exit::Breakpoint { .. } => self.signals.force(
                    state,
                    &self.mm,
                    libc::SIGTRAP,
                    1, /* TRAP_BRKPT */
                    state.pc,
                ),
                Exit::Undefined { insn, unallocated } => {
                    if self.opts.strace || self.opts.log_unimplemented {
                        let what = if unallocated {
                            "undefined"
                        } else {
                            "unimplemented"
                        };
                        eprintln!(
                            "xarch: {what} instruction {insn:#010x} at pc {:#x}",
                            state.pc
                        );
                    }
                    self.signals.force(
                        state,
                        &self.mm,
                        libc::SIGILL,
                        1, /* ILL_ILLOPC */
                        state.pc,
                    )
                }
                Exit::MemoryFault { addr, .. } => {
                    let code = if self.mm.prot_at(addr).is_some() {
                        2 /* SEGV_ACCERR */
                    } else {
                        1 /* SEGV_MAPERR */
                    };
                    self.signals
                        .force(state, &self.mm, libc::SIGSEGV, code, addr)
                }
                Exit::FetchFault => self
                    .signals
                    .force(state, &self.mm, libc::SIGSEGV, 1, state.pc),
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
        r
    }
}

/// Loads and runs a guest program to completion.
pub fn run_guest(cfg: GuestConfig) -> Result<GuestExit, LoadError> {
    let log = cfg.log_unimplemented;
    let (mut p, mut state) = Process::load(cfg)?;
    let mut engine = Engine::new(EngineOptions {
        log_unimplemented: log,
    });
    Ok(p.run(&mut engine, &mut state))
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
