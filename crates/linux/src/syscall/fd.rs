//! File descriptor calls that need conversion: fcntl flags, pipe2/dup3
//! flags, epoll events, ioctl, and the calls with temporary signal masks.

use super::{Args, Ret, err, raw, read_guest_val, write_guest};
use crate::abi::{EpollEvent, HostEpollEvent, oflags};
use crate::process::Process;
use xarch_a64::state::A64State;

/// `fcntl(fd, cmd, arg)`: file status flags are converted both ways.
pub fn fcntl(_: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    match a[1] as i32 {
        libc::F_GETFL => {
            let r = raw(libc::SYS_fcntl, a);
            Ret::Val(if r < 0 {
                r
            } else {
                oflags::to_guest(r as u64) as i64
            })
        }
        libc::F_SETFL => Ret::Val(raw(
            libc::SYS_fcntl,
            &[a[0], a[1], oflags::to_host(a[2]), 0, 0, 0],
        )),
        // Every other command has the same number and argument layout.
        _ => Ret::Val(raw(libc::SYS_fcntl, a)),
    }
}

/// `pipe2(fds, flags)`: O_DIRECT differs.
pub fn pipe2(_: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    Ret::Val(raw(
        libc::SYS_pipe2,
        &[a[0], oflags::to_host(a[1]), 0, 0, 0, 0],
    ))
}

/// `dup3(old, new, flags)`.
pub fn dup3(_: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    Ret::Val(raw(
        libc::SYS_dup3,
        &[a[0], a[1], oflags::to_host(a[2]), 0, 0, 0],
    ))
}

/// `ioctl(fd, req, arg)`: the terminal and FIO* requests have the same
/// numbers and structures on arm64 and x86_64 (both use
/// asm-generic/ioctls.h and termbits.h), so they pass through.
pub fn ioctl(_: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    Ret::Val(raw(libc::SYS_ioctl, a))
}

/// `epoll_ctl(epfd, op, fd, event)`: 16-byte arm64 event to packed host.
pub fn epoll_ctl(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    let mut host = HostEpollEvent::default();
    let ptr = if a[3] != 0 {
        match read_guest_val::<EpollEvent>(p, a[3]) {
            Ok(e) => {
                host = HostEpollEvent {
                    events: e.events,
                    data: e.data,
                }
            }
            Err(e) if a[1] as i32 != libc::EPOLL_CTL_DEL => return err(e),
            Err(_) => {}
        }
        &mut host as *mut _ as u64
    } else {
        0
    };
    Ret::Val(raw(libc::SYS_epoll_ctl, &[a[0], a[1], a[2], ptr, 0, 0]))
}

/// `epoll_pwait(epfd, events, maxevents, timeout, sigmask, sigsetsize)`.
pub fn epoll_pwait(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    let max = a[2] as i32;
    if max <= 0 || max > 1 << 16 {
        return err(libc::EINVAL);
    }
    if let Err(e) = set_temp_mask(p, a[4]) {
        return err(e);
    }
    let mut buf = vec![HostEpollEvent::default(); max as usize];
    let r = raw(
        libc::SYS_epoll_pwait,
        &[a[0], buf.as_mut_ptr() as u64, a[2], a[3], a[4], a[5]],
    );
    end_temp_mask(p, r);
    if r > 0 {
        for (i, h) in buf.iter().take(r as usize).enumerate() {
            let ev = EpollEvent {
                events: h.events,
                _pad: 0,
                data: h.data,
            };
            if let Err(e) = write_guest(p, a[1] + 16 * i as u64, &ev) {
                return err(e);
            }
        }
    }
    Ret::Val(r)
}

/// Remembers the temporary mask a waiting call installs, so a signal that
/// interrupts it is delivered even if the normal mask blocks it.
fn set_temp_mask(p: &mut Process, mask_ptr: u64) -> Result<(), i32> {
    if mask_ptr != 0 {
        p.signals.temp_mask = Some(read_guest_val::<u64>(p, mask_ptr)?);
    }
    Ok(())
}

fn end_temp_mask(p: &mut Process, r: i64) {
    if r != -(libc::EINTR as i64) {
        p.signals.temp_mask = None;
    }
}

/// `ppoll(fds, nfds, timeout, sigmask, sigsetsize)`: struct pollfd is
/// identical; only the temporary mask needs bookkeeping.
pub fn ppoll(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    if let Err(e) = set_temp_mask(p, a[3]) {
        return err(e);
    }
    let r = raw(libc::SYS_ppoll, a);
    end_temp_mask(p, r);
    Ret::Val(r)
}

/// `pselect6(n, in, out, ex, timeout, {sigmask, size})`.
pub fn pselect6(p: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    if a[5] != 0 {
        match read_guest_val::<[u64; 2]>(p, a[5]) {
            Ok([mask, _]) => {
                if let Err(e) = set_temp_mask(p, mask) {
                    return err(e);
                }
            }
            Err(e) => return err(e),
        }
    }
    let r = raw(libc::SYS_pselect6, a);
    end_temp_mask(p, r);
    Ret::Val(r)
}

/// `close_range`: a range that covers xarch's own descriptors is split
/// around them (the guest does not see them; see `hidden`).
pub fn close_range(_: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    let (first, last, flags) = (a[0] as u32, a[1] as u32, a[2]);
    if first > last {
        return err(libc::EINVAL);
    }
    let mut inside: Vec<u32> = crate::selfexe::hidden()
        .map(|s| s as u32)
        .filter(|s| (first..=last).contains(s))
        .collect();
    inside.sort_unstable();
    let mut lo = first;
    for s in inside {
        if s > lo {
            let r = raw(
                libc::SYS_close_range,
                &[lo as u64, (s - 1) as u64, flags, 0, 0, 0],
            );
            if r != 0 {
                return Ret::Val(r);
            }
        }
        match s.checked_add(1) {
            Some(n) => lo = n,
            None => return Ret::Val(0),
        }
    }
    if lo > last {
        return Ret::Val(0);
    }
    Ret::Val(raw(
        libc::SYS_close_range,
        &[lo as u64, last as u64, flags, 0, 0, 0],
    ))
}
