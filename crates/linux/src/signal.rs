//! Guest signals: dispositions, masks, host-side catching and arm64 signal
//! frames.
//!
//! Guest signal numbers equal the host's (arm64 and x86_64 both follow the
//! generic numbering), so masks and `kill` pass through. The guest's mask
//! is mirrored into the host's thread mask, except for the synchronous
//! signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP) that the engine
//! reports as exits. A signal with a guest handler gets a host handler that
//! only records it and raises `state.interrupt`; the run loop then builds
//! the arm64 `rt_sigframe` on the guest stack.

use crate::abi::{self, FpsimdContext, RtSigframe, SigAction, StackT, sa};
use crate::mm::GuestMemory;
use core::mem::{offset_of, size_of};
use std::cell::{Cell, UnsafeCell};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use xarch_a64::state::A64State;

/// Highest signal number.
pub const NSIG: usize = 64;

/// Signals the engine raises synchronously; never blocked or caught on
/// the host side.
pub const SYNC_SIGNALS: u64 = bit(libc::SIGSEGV)
    | bit(libc::SIGBUS)
    | bit(libc::SIGILL)
    | bit(libc::SIGFPE)
    | bit(libc::SIGTRAP);
const UNBLOCKABLE: u64 = bit(libc::SIGKILL) | bit(libc::SIGSTOP);

/// The mask bit of a signal.
pub const fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Guest dispositions, process-wide like the kernel's `sighand` (all
/// guest threads share them; there is one guest process per xarch).
static ACTIONS: Mutex<[SigAction; NSIG + 1]> = Mutex::new(
    [SigAction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    }; NSIG + 1],
);

fn actions() -> std::sync::MutexGuard<'static, [SigAction; NSIG + 1]> {
    ACTIONS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Holds the dispositions' lock (across fork).
pub fn fork_lock() -> std::sync::MutexGuard<'static, [SigAction; NSIG + 1]> {
    actions()
}

/// The guest disposition of `sig` (1..=64).
pub fn action(sig: i32) -> SigAction {
    actions()[sig as usize]
}

/// Per-thread signal record, written by the host handler of the thread the
/// host kernel chose (the guest's masks are mirrored into the host's, so
/// the kernel's choice of thread is the guest's).
struct ThreadSig {
    /// Signals caught on this thread and not yet delivered.
    pending: AtomicU64,
    /// Their siginfo.
    info: [UnsafeCell<[u8; 128]>; NSIG],
    /// This thread's `state.interrupt`, or null.
    interrupt: Cell<*mut u64>,
}

impl ThreadSig {
    const fn new() -> ThreadSig {
        ThreadSig {
            pending: AtomicU64::new(0),
            info: [const { UnsafeCell::new([0; 128]) }; NSIG],
            interrupt: Cell::new(std::ptr::null_mut()),
        }
    }
}

thread_local! {
    // A const initialiser and no destructor: plain TLS, safe to touch from
    // a signal handler. A slot is written by the handler (all signals
    // blocked while it runs) before its pending bit is set, and read by the
    // same thread after taking the bit.
    static THREAD: ThreadSig = const { ThreadSig::new() };
}

/// Makes the host handler raise `state.interrupt` of this thread's guest.
pub fn set_current_state(state: &mut A64State) {
    THREAD.with(|t| t.interrupt.set(&mut state.interrupt));
    if pending() != 0 {
        // Caught before the thread had a guest state (a new thread).
        // SAFETY: the state's own interrupt word.
        unsafe { xarch_a64::helpers::raise_interrupt(&mut state.interrupt) };
    }
}

/// Forgets this thread's guest state pointer.
pub fn clear_current_state() {
    THREAD.with(|t| t.interrupt.set(std::ptr::null_mut()));
}

/// This thread's interrupt word (null without guest state), the flag
/// [`crate::safe_syscall::safe_syscall`] tests.
pub fn interrupt_flag() -> *const u64 {
    THREAD.with(|t| t.interrupt.get() as *const u64)
}

extern "C" fn host_handler(sig: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    if !(1..=NSIG as i32).contains(&sig) {
        return;
    }
    // SAFETY: the kernel passes a valid siginfo.
    let code = unsafe { (*info).si_code };
    if bit(sig) & SYNC_SIGNALS != 0 && code > 0 {
        // A fault of xarch itself (e.g. `ud2` of an abort), not a signal
        // for the guest: die of it with the default action.
        reset_host_default(sig);
        return;
    }
    THREAD.with(|t| {
        // SAFETY: the slot is this thread's (see THREAD); the siginfo is valid.
        unsafe {
            std::ptr::copy_nonoverlapping(
                info as *const u8,
                t.info[sig as usize - 1].get().cast::<u8>(),
                128,
            )
        };
        t.pending.fetch_or(bit(sig), Ordering::SeqCst);
        let p = t.interrupt.get();
        if !p.is_null() {
            // SAFETY: the pointer targets the interrupt word of the live
            // guest state of this thread.
            unsafe { xarch_a64::helpers::raise_interrupt(p) };
        }
    });
    // SAFETY: `uc` is this handler's ucontext.
    unsafe { crate::safe_syscall::rewind(uc as *mut libc::ucontext_t) };
}

/// Marks `sig` pending on this thread as if the host handler had caught it
/// (tests, and signals xarch raises on the guest's behalf).
pub fn post(sig: i32, info: &[u8; 128]) {
    THREAD.with(|t| {
        // SAFETY: see THREAD.
        unsafe { *t.info[sig as usize - 1].get() = *info };
        t.pending.fetch_or(bit(sig), Ordering::SeqCst);
    });
}

/// Signals recorded on this thread and not delivered yet.
pub fn pending() -> u64 {
    THREAD.with(|t| t.pending.load(Ordering::SeqCst))
}

fn take(sig: i32) -> [u8; 128] {
    THREAD.with(|t| {
        t.pending.fetch_and(!bit(sig), Ordering::SeqCst);
        // SAFETY: see THREAD.
        unsafe { *t.info[sig as usize - 1].get() }
    })
}

// The kernel's x86_64 `struct sigaction` for the raw system call, which
// (unlike glibc's sigaction) accepts the real-time signals glibc keeps for
// itself, so all 64 guest signals are usable.
use xarch_engine::host_threads::KernelSigaction;

fn host_sigaction(sig: i32, new: Option<&KernelSigaction>) -> Option<usize> {
    let mut old = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: rt_sigaction with valid (or null) kernel sigaction structs.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            new.map_or(std::ptr::null(), |n| n as *const KernelSigaction),
            &mut old as *mut KernelSigaction,
            8,
        )
    };
    (r == 0).then_some(old.handler)
}

fn reset_host_default(sig: i32) {
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    host_sigaction(sig, Some(&dfl));
}

/// What the default action of a signal does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// Terminate (maybe with a core dump).
    Kill,
    /// Nothing.
    Ignore,
    /// Stop or continue: handled by the host kernel.
    Stop,
}

/// The default action of `sig`.
pub fn default_action(sig: i32) -> DefaultAction {
    match sig {
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH | libc::SIGCONT => DefaultAction::Ignore,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => DefaultAction::Stop,
        _ => DefaultAction::Kill,
    }
}

/// Builds a siginfo with signo, code and (for faults) the address.
pub fn make_info(sig: i32, code: i32, addr: u64) -> [u8; 128] {
    let mut info = [0u8; 128];
    info[0..4].copy_from_slice(&sig.to_le_bytes());
    info[8..12].copy_from_slice(&code.to_le_bytes());
    info[16..24].copy_from_slice(&addr.to_le_bytes());
    info
}

/// Sets the host thread mask.
fn set_host_mask(mask: u64) {
    let m = mask & !SYNC_SIGNALS & !UNBLOCKABLE;
    // SAFETY: rt_sigprocmask with a valid 8-byte set and no old set.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &m as *const u64,
            std::ptr::null_mut::<u64>(),
            8,
        )
    };
}

/// Per-thread signal state (dispositions are process-wide: [`action`]).
#[derive(Debug, Clone)]
pub struct Signals {
    /// The guest's blocked mask.
    pub blocked: u64,
    /// Temporary mask of rt_sigsuspend/ppoll/pselect6 while a signal that
    /// interrupted it is delivered.
    pub temp_mask: Option<u64>,
    /// The alternate signal stack.
    pub altstack: StackT,
    /// Address of the `mov x8,#139; svc #0` trampoline.
    pub trampoline: u64,
    /// Print deliveries strace-style.
    pub trace: bool,
    /// Like the kernel's `thread.fault_address`: the last fault's address,
    /// reported in every later frame's `fault_address`.
    pub fault_address: u64,
    /// Like the kernel's `thread.fault_code`: the last fault's ESR; a
    /// frame has an `esr_context` record while it is non-zero.
    pub fault_code: u64,
}

/// A synchronous exception as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Signal number.
    pub sig: i32,
    /// `si_code`.
    pub code: i32,
    /// `si_addr`.
    pub si_addr: u64,
    /// `sigcontext.fault_address` (the kernel's `thread.fault_address`).
    pub fault_address: u64,
    /// The ESR the kernel records (0: none, no `esr_context`).
    pub esr: u64,
}

/// ESR_ELx exception classes and bits used in `esr_context`.
pub mod esr {
    /// Instruction abort from EL0.
    pub const EC_IABT_LOW: u64 = 0x20 << 26;
    /// Data abort from EL0.
    pub const EC_DABT_LOW: u64 = 0x24 << 26;
    /// BRK instruction.
    pub const EC_BRK64: u64 = 0x3c << 26;
    /// 32-bit instruction length.
    pub const IL: u64 = 1 << 25;
    /// Write not Read (data aborts).
    pub const WNR: u64 = 1 << 6;
    /// Fault status: translation fault, level 3.
    pub const FSC_TRANS_L3: u64 = 0x07;
    /// Fault status: permission fault, level 3.
    pub const FSC_PERM_L3: u64 = 0x0f;
}

/// `ESR_MAGIC` of `struct esr_context`.
pub const ESR_MAGIC: u32 = 0x4553_5201;

impl Default for Signals {
    fn default() -> Self {
        Signals {
            blocked: 0,
            temp_mask: None,
            altstack: StackT {
                ss_flags: libc::SS_DISABLE,
                ..StackT::default()
            },
            trampoline: 0,
            trace: false,
            fault_address: 0,
            fault_code: 0,
        }
    }
}

/// Outcome of a delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Nothing happened or a handler frame was pushed.
    Continue,
    /// The default action kills the process with this signal.
    Kill(i32),
}

/// `mov x8, #139` (rt_sigreturn); `svc #0`.
pub const TRAMPOLINE_CODE: [u32; 2] = [0xd280_1168, 0xd400_0001];

impl Signals {
    /// Reads the current state from the host (inherited mask and ignored
    /// signals) and maps the sigreturn trampoline.
    pub fn init(&mut self, mm: &mut GuestMemory) -> std::io::Result<()> {
        self.init_with_trampoline(mm, None)
    }

    /// As [`Signals::init`], returning through `trampoline` (the vDSO's
    /// `__kernel_rt_sigreturn`, as Linux does) when given instead of
    /// mapping a page for it.
    pub fn init_with_trampoline(
        &mut self,
        mm: &mut GuestMemory,
        trampoline: Option<u64>,
    ) -> std::io::Result<()> {
        let mut m: u64 = 0;
        // SAFETY: reading the current mask into an 8-byte set.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_BLOCK,
                std::ptr::null::<u64>(),
                &mut m as *mut u64,
                8,
            )
        };
        self.blocked = m;
        // After an in-process exec the table and the host agree already.
        if !RESET_FOR_EXEC.swap(false, Ordering::Relaxed) {
            let mut acts = actions();
            for sig in 1..=NSIG as i32 {
                acts[sig as usize] = SigAction::default();
                if host_sigaction(sig, None) == Some(libc::SIG_IGN) {
                    acts[sig as usize].handler = libc::SIG_IGN as u64;
                }
            }
            let defaults: Vec<i32> = (1..=NSIG as i32)
                .filter(|&sig| acts[sig as usize].handler == 0)
                .collect();
            drop(acts);
            if namespace_init() {
                for sig in defaults {
                    apply_host(sig, SigAction::default());
                }
            }
        }
        // A SIGSEGV/SIGBUS sent with kill/tgkill reaches the engine's fault
        // handler, which passes it here, as for any other guest signal.
        xarch_engine::set_sent_signal_handler(host_handler);
        if let Some(t) = trampoline {
            self.trampoline = t;
            return Ok(());
        }
        let rx = libc::PROT_READ | libc::PROT_EXEC;
        let page = mm
            .mmap(
                0,
                crate::mm::PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
            .map_err(std::io::Error::from_raw_os_error)?;
        // SAFETY: the page was just mapped writable.
        unsafe { std::ptr::copy_nonoverlapping(TRAMPOLINE_CODE.as_ptr(), page as *mut u32, 2) };
        mm.mprotect(page, crate::mm::PAGE, rx)
            .map_err(std::io::Error::from_raw_os_error)?;
        self.trampoline = page;
        Ok(())
    }

    /// Guest `rt_sigaction`: returns the old action or an errno.
    pub fn set_action(&mut self, sig: i32, act: Option<SigAction>) -> Result<SigAction, i32> {
        if !(1..=NSIG as i32).contains(&sig) {
            return Err(libc::EINVAL);
        }
        let mut acts = actions();
        let old = acts[sig as usize];
        let Some(mut act) = act else { return Ok(old) };
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return Err(libc::EINVAL);
        }
        act.mask &= !UNBLOCKABLE;
        acts[sig as usize] = act;
        apply_host(sig, act);
        Ok(old)
    }

    /// The signal state a new thread of this one starts with: the same
    /// mask, no alternate stack (clone with CLONE_VM clears it).
    pub fn for_new_thread(&self) -> Signals {
        Signals {
            blocked: self.blocked,
            trampoline: self.trampoline,
            trace: self.trace,
            ..Signals::default()
        }
    }

    /// Sets the guest's blocked mask (and the host's).
    pub fn set_blocked(&mut self, mask: u64) {
        self.blocked = mask & !UNBLOCKABLE;
        set_host_mask(self.blocked);
    }

    /// The guest disposition of `sig` (process-wide).
    pub fn action(&self, sig: i32) -> SigAction {
        action(sig)
    }

    /// The lowest pending signal deliverable under the effective mask.
    pub fn next_deliverable(&self) -> Option<i32> {
        let mask = self.temp_mask.unwrap_or(self.blocked);
        let p = pending() & !mask;
        (p != 0).then(|| p.trailing_zeros() as i32 + 1)
    }

    /// Delivers every deliverable pending signal.
    pub fn deliver_pending(&mut self, state: &mut A64State, mm: &GuestMemory) -> Delivery {
        state.interrupt = 0;
        while let Some(sig) = self.next_deliverable() {
            let info = take(sig);
            let d = self.deliver(state, mm, sig, &info);
            if d != Delivery::Continue {
                return d;
            }
        }
        if self.temp_mask.take().is_some() {
            set_host_mask(self.blocked);
        }
        Delivery::Continue
    }

    /// A synchronous signal from an engine exit (fault, undefined
    /// instruction, breakpoint): runs the handler, or kills when the signal
    /// is blocked, ignored or at its default.
    pub fn force(
        &mut self,
        state: &mut A64State,
        mm: &GuestMemory,
        sig: i32,
        code: i32,
        addr: u64,
    ) -> Delivery {
        self.force_fault(
            state,
            mm,
            Fault {
                sig,
                code,
                si_addr: addr,
                fault_address: addr,
                esr: 0,
            },
        )
    }

    /// Like [`Signals::force`] with the kernel's full fault record
    /// (`fault_address` and ESR for the frame's `esr_context`).
    pub fn force_fault(&mut self, state: &mut A64State, mm: &GuestMemory, f: Fault) -> Delivery {
        self.fault_address = f.fault_address;
        self.fault_code = f.esr;
        let act = action(f.sig);
        if act.handler <= 1 || self.blocked & bit(f.sig) != 0 {
            return Delivery::Kill(f.sig);
        }
        self.deliver(state, mm, f.sig, &make_info(f.sig, f.code, f.si_addr))
    }

    fn deliver(
        &mut self,
        state: &mut A64State,
        mm: &GuestMemory,
        sig: i32,
        info: &[u8; 128],
    ) -> Delivery {
        let act = {
            let mut acts = actions();
            let act = acts[sig as usize];
            if act.handler > 1 && act.flags & sa::RESETHAND != 0 {
                // Reset before anything else can see the old handler.
                acts[sig as usize] = SigAction::default();
                apply_host(sig, SigAction::default());
            }
            act
        };
        match act.handler {
            0 => {
                return match default_action(sig) {
                    DefaultAction::Kill => Delivery::Kill(sig),
                    DefaultAction::Stop => {
                        // Only a namespace init catches its stop signals
                        // (or a child it forked, caught before
                        // `after_fork`).
                        if namespace_init() {
                            stop_namespace_init(sig);
                        } else {
                            stop_self(sig);
                        }
                        Delivery::Continue
                    }
                    _ => Delivery::Continue,
                };
            }
            1 => return Delivery::Continue,
            _ => {}
        }
        if self.trace {
            let code = i32::from_le_bytes([info[8], info[9], info[10], info[11]]);
            let field = i64::from_le_bytes(info[16..24].try_into().unwrap_or_default());
            xarch_engine::diag!(
                "--- {} {{si_code={code}, si_addr/si_pid={field:#x}}} ---",
                crate::syscall::signame(sig as u64)
            );
        }
        let old_mask = self.blocked;
        if !self.setup_frame(state, mm, sig, act, info, old_mask) {
            return Delivery::Kill(libc::SIGSEGV);
        }
        self.temp_mask = None;
        let mut new = old_mask | act.mask;
        if act.flags & sa::NODEFER == 0 {
            new |= bit(sig);
        }
        self.set_blocked(new);
        Delivery::Continue
    }

    fn on_altstack(&self, sp: u64) -> bool {
        let s = &self.altstack;
        s.ss_flags & libc::SS_DISABLE == 0 && sp > s.ss_sp && sp - s.ss_sp <= s.ss_size
    }

    #[allow(clippy::too_many_arguments)]
    fn setup_frame(
        &self,
        state: &mut A64State,
        mm: &GuestMemory,
        sig: i32,
        act: SigAction,
        info: &[u8; 128],
        old_mask: u64,
    ) -> bool {
        let mut sp = state.sp;
        if act.flags & sa::ONSTACK != 0
            && self.altstack.ss_flags & libc::SS_DISABLE == 0
            && !self.on_altstack(sp)
        {
            sp = self.altstack.ss_sp + self.altstack.ss_size;
        }
        let record = (sp.wrapping_sub(16)) & !15;
        let frame = (record.wrapping_sub(size_of::<RtSigframe>() as u64)) & !15;
        if !writable(mm, frame, record + 16) {
            return false;
        }
        // SAFETY: the frame range is guest-owned writable memory (checked).
        let f = unsafe { &mut *(frame as *mut RtSigframe) };
        f.info = *info;
        let uc = &mut f.uc;
        uc.uc_flags = 0;
        uc.uc_link = 0;
        uc.uc_stack = StackT {
            ss_sp: self.altstack.ss_sp,
            ss_flags: if self.on_altstack(state.sp) {
                libc::SS_ONSTACK
            } else {
                self.altstack.ss_flags
            },
            _pad: 0,
            ss_size: self.altstack.ss_size,
        };
        uc.uc_sigmask = old_mask;
        let mc = &mut uc.uc_mcontext;
        mc.fault_address = self.fault_address;
        mc.regs = state.x;
        mc.sp = state.sp;
        mc.pc = state.pc;
        mc.pstate = state.nzcv & 0xf000_0000;
        mc.reserved = [0; 4096];
        let fp = FpsimdContext {
            head: abi::Aarch64Ctx {
                magic: abi::FPSIMD_MAGIC,
                size: size_of::<FpsimdContext>() as u32,
            },
            fpsr: state.fpsr as u32,
            fpcr: state.fpcr as u32,
            vregs: state.v,
        };
        // SAFETY: the record fits at the start of __reserved (4096 bytes),
        // which is 16-byte aligned; the end marker (zeros) follows it.
        unsafe { (mc.reserved.as_mut_ptr() as *mut FpsimdContext).write(fp) };
        if self.fault_code != 0 {
            // Like Linux: an esr_context after fpsimd_context while the
            // thread's last fault recorded an ESR.
            let at = size_of::<FpsimdContext>();
            let rec = &mut mc.reserved[at..at + 16];
            rec[0..4].copy_from_slice(&ESR_MAGIC.to_le_bytes());
            rec[4..8].copy_from_slice(&16u32.to_le_bytes());
            rec[8..16].copy_from_slice(&self.fault_code.to_le_bytes());
        }
        // SAFETY: the frame record slot was checked writable with the frame.
        unsafe { (record as *mut [u64; 2]).write([state.x[29], state.x[30]]) };

        state.x[0] = sig as u64;
        if act.flags & sa::SIGINFO != 0 {
            // Like Linux: x1/x2 only for SA_SIGINFO handlers.
            state.x[1] = frame + offset_of!(RtSigframe, info) as u64;
            state.x[2] = frame + offset_of!(RtSigframe, uc) as u64;
        }
        state.x[29] = record;
        state.x[30] = if act.flags & sa::RESTORER != 0 && act.restorer != 0 {
            act.restorer
        } else {
            self.trampoline
        };
        state.sp = frame;
        state.pc = act.handler;
        true
    }

    /// Guest `rt_sigreturn`: restores the registers and mask saved in the
    /// frame at `state.sp`. Returns false for a bad frame.
    pub fn sigreturn(&mut self, state: &mut A64State, mm: &GuestMemory) -> bool {
        let frame = state.sp;
        if !frame.is_multiple_of(16) || !readable(mm, frame, frame + size_of::<RtSigframe>() as u64)
        {
            return false;
        }
        // SAFETY: checked readable and aligned.
        let f = unsafe { &*(frame as *const RtSigframe) };
        let mc = &f.uc.uc_mcontext;
        // SAFETY: __reserved is 16-byte aligned and large enough.
        let fp = unsafe { (mc.reserved.as_ptr() as *const FpsimdContext).read() };
        if fp.head.magic != abi::FPSIMD_MAGIC || fp.head.size as usize != size_of::<FpsimdContext>()
        {
            return false;
        }
        if mc.pstate & !0xf000_0000 != 0 {
            return false;
        }
        state.x = mc.regs;
        state.sp = mc.sp;
        state.pc = mc.pc;
        state.nzcv = mc.pstate;
        state.v = fp.vregs;
        state.fpsr = fp.fpsr as u64;
        state.fpcr = fp.fpcr as u64;
        self.set_blocked(f.uc.uc_sigmask);
        true
    }
}

/// Whether xarch is the init process of a pid namespace (`xarch run
/// --rootfs`, containers). The kernel drops signals an init process has
/// left at SIG_DFL (even Ctrl-C and a supervisor's SIGTERM), which would
/// make `timeout xarch run --rootfs DIR sleep 100` or ^C do nothing where
/// `chroot DIR sleep 100` stops. So for an init, xarch catches the signals
/// whose default action kills and carries that action out itself
/// ([`die_with_signal`] ends with exit status 128+N, what the supervisor
/// reports for death by signal N anyway), and those whose default action
/// stops when its supervisor can stop it ([`stop_namespace_init`]).
fn namespace_init() -> bool {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() == 1 }
}

/// The stop signals are caught too when a supervisor can stop the init
/// ([`stop_namespace_init`]).
fn init_carries_out(sig: i32) -> bool {
    namespace_init()
        && match default_action(sig) {
            DefaultAction::Kill => true,
            DefaultAction::Stop => sig != libc::SIGSTOP && crate::selfexe::job_fd().is_some(),
            DefaultAction::Ignore => false,
        }
}

/// Carries out the default action of stop signal `sig` for the init of a
/// pid namespace, which the kernel never stops from inside (Ctrl-Z,
/// SIGTTIN/SIGTTOU of a background read or write): the supervisor of
/// `xarch run --rootfs`, in the parent namespace, is asked through the job
/// control socket to stop this process (SIGSTOP, which it may send) and
/// itself, so the caller's shell sees its job stop. Returns once the job
/// has been continued (`fg`, `bg`, SIGCONT), when the supervisor answers,
/// which makes the stop as synchronous as the kernel's. Without a
/// supervisor the signal is discarded, as the kernel does.
fn stop_namespace_init(sig: i32) {
    let Some(fd) = crate::selfexe::job_fd() else {
        return;
    };
    let req = [sig as u8];
    // SAFETY: sending one byte from a live buffer on our own socket.
    let sent = unsafe { libc::send(fd, req.as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
    if sent != 1 {
        return;
    }
    let mut ack = [0u8; 1];
    loop {
        // SAFETY: receiving into a live one-byte buffer.
        let n = unsafe { libc::recv(fd, ack.as_mut_ptr().cast(), 1, 0) };
        if n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
}

/// Whether host handlers stand for default actions ([`init_carries_out`]).
static INIT_HANDLERS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stops this process (not a namespace init) with `sig`, as its host
/// default action does.
fn stop_self(sig: i32) {
    reset_host_default(sig);
    // SAFETY: tgkill of our own thread; the stop happens before it returns.
    unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            libc::syscall(libc::SYS_gettid),
            sig,
        )
    };
    apply_host(sig, action(sig));
}

/// `execve`: caught signals get their default actions back, ignored
/// ones stay ignored, every flag and handler mask is cleared (the
/// kernel's `flush_signal_handlers`).
///
/// The host dispositions mirror the guest's (`apply_host`), so only the
/// changed ones are set, and the next [`Signals::init`] takes the table as
/// it is instead of reading all 64 back (two hundred system calls an exec).
pub fn reset_for_exec() {
    let mut acts = actions();
    for sig in 1..=NSIG as i32 {
        let ignored = acts[sig as usize].handler == libc::SIG_IGN as u64;
        let act = SigAction {
            handler: if ignored { libc::SIG_IGN as u64 } else { 0 },
            ..SigAction::default()
        };
        if acts[sig as usize] != act {
            acts[sig as usize] = act;
            apply_host(sig, act);
        }
    }
    RESET_FOR_EXEC.store(true, Ordering::Relaxed);
}

/// The dispositions were just reset for an exec ([`reset_for_exec`]).
static RESET_FOR_EXEC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// In a child the init of a pid namespace forked (which is no init): the
/// signals the init carried out itself get their host default actions
/// back, so the kernel stops (Ctrl-Z) or kills the child as any process.
pub fn after_fork() {
    if namespace_init() || !INIT_HANDLERS.swap(false, Ordering::Relaxed) {
        return;
    }
    let acts = *actions();
    for sig in 1..=NSIG as i32 {
        let act = acts[sig as usize];
        if act.handler == 0 && default_action(sig) != DefaultAction::Ignore {
            apply_host(sig, act);
        }
    }
}

/// Installs the host disposition that mirrors guest action `act`.
fn apply_host(sig: i32, act: SigAction) {
    if sig == libc::SIGSEGV || sig == libc::SIGBUS || sig == libc::SIGKILL || sig == libc::SIGSTOP {
        // The engine's fault handler owns the first two; the others
        // cannot be caught.
        return;
    }
    let handler = match act.handler {
        0 if init_carries_out(sig) => {
            INIT_HANDLERS.store(true, Ordering::Relaxed);
            host_handler as *const () as usize
        }
        0 => libc::SIG_DFL,
        1 => libc::SIG_IGN,
        _ => host_handler as *const () as usize,
    };
    let h = KernelSigaction {
        handler,
        flags: libc::SA_SIGINFO as u64
            | sa::RESTORER
            | (act.flags & (sa::NOCLDSTOP | sa::NOCLDWAIT)),
        restorer: crate::safe_syscall::xarch_host_restorer as *const () as usize,
        mask: !0,
    };
    host_sigaction(sig, Some(&h));
}

fn range_has(mm: &GuestMemory, start: u64, end: u64, prot: i32) -> bool {
    let mut a = crate::mm::page_down(start);
    while a < end {
        match mm.prot_at(a) {
            Some(p) if p & prot == prot => {}
            _ => return false,
        }
        a += crate::mm::PAGE;
    }
    true
}

/// Whether `[start, end)` is guest memory the guest may write.
pub fn writable(mm: &GuestMemory, start: u64, end: u64) -> bool {
    range_has(mm, start, end, libc::PROT_WRITE)
}

/// Whether `[start, end)` is guest memory the guest may read.
pub fn readable(mm: &GuestMemory, start: u64, end: u64) -> bool {
    range_has(mm, start, end, libc::PROT_READ)
}

/// Kills xarch with `sig` the way the guest would have died: default
/// disposition, unblocked, raised. Falls back to exit status 128+sig.
pub fn die_with_signal(sig: i32) -> ! {
    // SAFETY: resetting a disposition, unblocking and raising; then _exit.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        // tgkill rather than raise: after a raw clone libc's idea of the
        // thread id may be stale.
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            libc::syscall(libc::SYS_gettid),
            sig,
        );
        libc::_exit(128 + sig)
    }
}

/// Serialises tests that touch the process-wide pending set.
#[cfg(test)]
pub(crate) static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
