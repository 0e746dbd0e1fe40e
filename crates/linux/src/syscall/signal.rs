//! Signal calls: dispositions and masks are kept by
//! [`crate::signal::Signals`] and mirrored into the host.

use super::{Args, Ret, err, raw, read_guest_val, write_guest};
use crate::abi::{SigAction, StackT};
use crate::process::{GuestExit, Process};
use xarch_a64::state::A64State;

/// `rt_sigaction(sig, act, oldact, sigsetsize)`.
pub fn rt_sigaction(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    if a[3] != 8 {
        return err(libc::EINVAL);
    }
    let act = if a[1] != 0 {
        match read_guest_val::<SigAction>(p, a[1]) {
            Ok(v) => Some(v),
            Err(e) => return err(e),
        }
    } else {
        None
    };
    match p.signals.set_action(a[0] as i32, act) {
        Ok(old) => {
            if a[2] != 0
                && let Err(e) = write_guest(p, a[2], &old)
            {
                return err(e);
            }
            Ret::Val(0)
        }
        Err(e) => err(e),
    }
}

/// `rt_sigprocmask(how, set, oldset, sigsetsize)`.
pub fn rt_sigprocmask(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    if a[3] != 8 {
        return err(libc::EINVAL);
    }
    let old = p.signals.blocked;
    if a[1] != 0 {
        let set = match read_guest_val::<u64>(p, a[1]) {
            Ok(v) => v,
            Err(e) => return err(e),
        };
        let new = match a[0] as i32 {
            libc::SIG_BLOCK => old | set,
            libc::SIG_UNBLOCK => old & !set,
            libc::SIG_SETMASK => set,
            _ => return err(libc::EINVAL),
        };
        p.signals.set_blocked(new);
    }
    if a[2] != 0
        && let Err(e) = write_guest(p, a[2], &old)
    {
        return err(e);
    }
    Ret::Val(0)
}

/// `rt_sigpending(set, sigsetsize)`: host-pending plus caught-but-undelivered.
pub fn rt_sigpending(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    let mut host: u64 = 0;
    let r = raw(
        libc::SYS_rt_sigpending,
        &[&mut host as *mut u64 as u64, 8, 0, 0, 0, 0],
    );
    if r < 0 {
        return Ret::Val(r);
    }
    let set = (host | crate::signal::pending()) & p.signals.blocked;
    match write_guest(p, a[0], &set) {
        Ok(()) => Ret::Val(0),
        Err(e) => err(e),
    }
}

/// `rt_sigsuspend(mask, sigsetsize)`: waits with a temporary mask; the
/// signal's frame saves the original one.
pub fn rt_sigsuspend(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    let mask = match read_guest_val::<u64>(p, a[0]) {
        Ok(v) => v,
        Err(e) => return err(e),
    };
    p.signals.temp_mask = Some(mask);
    // A signal caught before the call must not be slept through.
    if p.signals.next_deliverable().is_some() {
        return err(libc::EINTR);
    }
    let host = mask & !crate::signal::SYNC_SIGNALS;
    Ret::Val(raw(
        libc::SYS_rt_sigsuspend,
        &[&host as *const u64 as u64, 8, 0, 0, 0, 0],
    ))
}

/// `sigaltstack(ss, old)`.
pub fn sigaltstack(p: &mut Process, state: &mut A64State, a: &Args) -> Ret {
    let cur = p.signals.altstack;
    let on = cur.ss_flags & libc::SS_DISABLE == 0
        && state.sp > cur.ss_sp
        && state.sp - cur.ss_sp <= cur.ss_size;
    if a[1] != 0 {
        let mut old = cur;
        if on {
            old.ss_flags = libc::SS_ONSTACK;
        }
        if let Err(e) = write_guest(p, a[1], &old) {
            return err(e);
        }
    }
    if a[0] != 0 {
        let ss = match read_guest_val::<StackT>(p, a[0]) {
            Ok(v) => v,
            Err(e) => return err(e),
        };
        if on {
            return err(libc::EPERM);
        }
        if ss.ss_flags & !(libc::SS_DISABLE | libc::SS_ONSTACK) != 0 {
            return err(libc::EINVAL);
        }
        if ss.ss_flags & libc::SS_DISABLE != 0 {
            p.signals.altstack = StackT {
                ss_flags: libc::SS_DISABLE,
                ..StackT::default()
            };
        } else {
            if ss.ss_size < crate::abi::GUEST_MINSIGSTKSZ {
                return err(libc::ENOMEM);
            }
            p.signals.altstack = StackT { ss_flags: 0, ..ss };
        }
    }
    Ret::Val(0)
}

/// `rt_sigreturn()`: restores the interrupted context from the frame.
pub fn rt_sigreturn(p: &mut Process, state: &mut A64State, _: &Args) -> Ret {
    if p.signals.sigreturn(state, &p.mm) {
        Ret::NoWrite
    } else {
        Ret::Exit(GuestExit::Signaled(libc::SIGSEGV))
    }
}
