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

/// Signals recorded by the host handler and not yet delivered.
static PENDING: AtomicU64 = AtomicU64::new(0);

struct InfoSlots([UnsafeCell<[u8; 128]>; NSIG]);
// SAFETY: a slot is written by the host handler (all signals blocked while
// it runs) before its PENDING bit is set, and read by the same thread after
// the bit is cleared; there is one guest thread per process for now.
unsafe impl Sync for InfoSlots {}
static INFO: InfoSlots = InfoSlots([const { UnsafeCell::new([0; 128]) }; NSIG]);

thread_local! {
    static INTERRUPT: Cell<*mut u64> = const { Cell::new(std::ptr::null_mut()) };
}

/// Makes the host handler raise `state.interrupt` of this thread's guest.
pub fn set_current_state(state: &mut A64State) {
    INTERRUPT.with(|c| c.set(&mut state.interrupt));
}

/// Forgets this thread's guest state pointer.
pub fn clear_current_state() {
    INTERRUPT.with(|c| c.set(std::ptr::null_mut()));
}

extern "C" fn host_handler(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    if !(1..=NSIG as i32).contains(&sig) {
        return;
    }
    // SAFETY: the kernel passes a valid siginfo; the slot is ours (see InfoSlots).
    unsafe {
        std::ptr::copy_nonoverlapping(
            info as *const u8,
            INFO.0[sig as usize - 1].get().cast::<u8>(),
            128,
        )
    };
    PENDING.fetch_or(bit(sig), Ordering::SeqCst);
    let p = INTERRUPT.with(|c| c.get());
    if !p.is_null() {
        // SAFETY: the pointer targets the live guest state of this thread;
        // the engine polls this word, so write it atomically.
        unsafe { AtomicU64::from_ptr(p).store(1, Ordering::SeqCst) };
    }
}

/// Marks `sig` pending as if the host handler had caught it (tests, and
/// signals xarch raises on the guest's behalf).
pub fn post(sig: i32, info: &[u8; 128]) {
    // SAFETY: see InfoSlots.
    unsafe { *INFO.0[sig as usize - 1].get() = *info };
    PENDING.fetch_or(bit(sig), Ordering::SeqCst);
}

/// Signals recorded and not delivered yet.
pub fn pending() -> u64 {
    PENDING.load(Ordering::SeqCst)
}

fn take(sig: i32) -> [u8; 128] {
    PENDING.fetch_and(!bit(sig), Ordering::SeqCst);
    // SAFETY: see InfoSlots.
    unsafe { *INFO.0[sig as usize - 1].get() }
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

/// Per-process signal state.
#[derive(Debug)]
pub struct Signals {
    /// Guest dispositions, index = signal number.
    pub actions: [SigAction; NSIG + 1],
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
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            actions: [SigAction::default(); NSIG + 1],
            blocked: 0,
            temp_mask: None,
            altstack: StackT {
                ss_flags: libc::SS_DISABLE,
                ..StackT::default()
            },
            trampoline: 0,
            trace: false,
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
        for sig in 1..=NSIG as i32 {
            let mut old: libc::sigaction = unsafe_zeroed();
            // SAFETY: querying a disposition.
            if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } == 0
                && old.sa_sigaction == libc::SIG_IGN
            {
                self.actions[sig as usize].handler = libc::SIG_IGN as u64;
            }
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
        let old = self.actions[sig as usize];
        let Some(mut act) = act else { return Ok(old) };
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return Err(libc::EINVAL);
        }
        act.mask &= !UNBLOCKABLE;
        self.actions[sig as usize] = act;
        self.apply_host(sig);
        Ok(old)
    }

    fn apply_host(&self, sig: i32) {
        if bit(sig) & SYNC_SIGNALS != 0 {
            return;
        }
        let act = self.actions[sig as usize];
        let mut h: libc::sigaction = unsafe_zeroed();
        h.sa_sigaction = match act.handler {
            0 => libc::SIG_DFL,
            1 => libc::SIG_IGN,
            _ => host_handler as *const () as usize,
        };
        h.sa_flags = libc::SA_SIGINFO | (act.flags & (sa::NOCLDSTOP | sa::NOCLDWAIT)) as i32;
        // SAFETY: sigfillset on our own struct.
        unsafe { libc::sigfillset(&mut h.sa_mask) };
        // SAFETY: installing a disposition; the handler is async-signal-safe.
        unsafe { libc::sigaction(sig, &h, std::ptr::null_mut()) };
    }

    /// Sets the guest's blocked mask (and the host's).
    pub fn set_blocked(&mut self, mask: u64) {
        self.blocked = mask & !UNBLOCKABLE;
        set_host_mask(self.blocked);
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
            let d = self.deliver(state, mm, sig, &info, 0);
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
        let act = self.actions[sig as usize];
        if act.handler <= 1 || self.blocked & bit(sig) != 0 {
            return Delivery::Kill(sig);
        }
        self.deliver(state, mm, sig, &make_info(sig, code, addr), addr)
    }

    fn deliver(
        &mut self,
        state: &mut A64State,
        mm: &GuestMemory,
        sig: i32,
        info: &[u8; 128],
        fault: u64,
    ) -> Delivery {
        let act = self.actions[sig as usize];
        match act.handler {
            0 => {
                return match default_action(sig) {
                    DefaultAction::Kill => Delivery::Kill(sig),
                    _ => Delivery::Continue,
                };
            }
            1 => return Delivery::Continue,
            _ => {}
        }
        if self.trace {
            let code = i32::from_le_bytes([info[8], info[9], info[10], info[11]]);
            let field = i64::from_le_bytes(info[16..24].try_into().unwrap_or_default());
            eprintln!(
                "--- {} {{si_code={code}, si_addr/si_pid={field:#x}}} ---",
                crate::syscall::signame(sig as u64)
            );
        }
        let old_mask = self.blocked;
        if !self.setup_frame(state, mm, sig, act, info, fault, old_mask) {
            return Delivery::Kill(libc::SIGSEGV);
        }
        self.temp_mask = None;
        let mut new = old_mask | act.mask;
        if act.flags & sa::NODEFER == 0 {
            new |= bit(sig);
        }
        if act.flags & sa::RESETHAND != 0 {
            self.actions[sig as usize] = SigAction::default();
            self.apply_host(sig);
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
        fault: u64,
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
        mc.fault_address = fault;
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

fn unsafe_zeroed<T>() -> T {
    // SAFETY: only used for plain C structs (sigaction) valid when zeroed.
    unsafe { std::mem::zeroed() }
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
