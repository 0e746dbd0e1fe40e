//! The execution engine: translation cache, dispatch loop and backend
//! selection. It runs guest code until something the Linux layer must
//! handle happens (a system call, an exception, a pending signal).

use xarch_a64::state::A64State;

/// Why [`Engine::run`] returned to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `SVC #0`: `state.pc` already points after the SVC instruction.
    Syscall,
    /// `BRK #imm`: `state.pc` is the BRK instruction (guest gets SIGTRAP).
    Breakpoint {
        /// The 16-bit immediate of the BRK.
        imm: u16,
    },
    /// An undefined or unimplemented encoding at `state.pc` (guest gets
    /// SIGILL). `known` is false for encodings the architecture defines but
    /// xarch does not implement yet, so a diagnostic can say which.
    Undefined {
        /// The instruction word.
        insn: u32,
        /// Whether the encoding is architecturally unallocated.
        unallocated: bool,
    },
    /// The guest touched memory it may not: `state.pc` is the faulting
    /// instruction, registers are as before it.
    MemoryFault {
        /// The faulting data address.
        addr: u64,
        /// Whether it was a write.
        write: bool,
    },
    /// The instruction fetch at `state.pc` failed (unmapped or not executable).
    FetchFault,
    /// `state.interrupt` was set (an asynchronous signal is pending).
    Interrupted,
}

/// Engine options chosen by the user or the tests.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Log each unimplemented encoding to stderr once.
    pub log_unimplemented: bool,
}

/// A translation cache and the code that runs it. One per guest thread
/// for now.
pub struct Engine {
    #[allow(dead_code)]
    options: EngineOptions,
}

impl Engine {
    /// Creates an engine with an empty translation cache.
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    /// Runs guest code from `state.pc` until an [`Exit`] happens.
    pub fn run(&mut self, state: &mut A64State) -> Exit {
        Exit::Undefined { insn: 0, unallocated: false }.tap(state)
    }

    /// Forgets translations of guest code in `[start, start+len)`, after
    /// munmap/mprotect/`IC IVAU` or a write to code.
    pub fn invalidate(&mut self, start: u64, len: u64) {
        let _ = (start, len);
    }
}

trait Tap {
    fn tap(self, state: &mut A64State) -> Self;
}
impl Tap for Exit {
    fn tap(self, _state: &mut A64State) -> Self {
        self
    }
}
