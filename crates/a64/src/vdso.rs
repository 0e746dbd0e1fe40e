//! The fast path of xarch's guest vDSO (the image itself is built and
//! mapped by the Linux layer).
//!
//! Each vDSO entry is `mov x8, #nr; svc #VDSO_CALL_IMM; ret`. As an
//! ordinary `SVC` this is the system call `nr`, so the code is correct
//! even where the fast path is not taken. Inside the vDSO's address range
//! the lifter instead emits a call to [`VDSO_CALL`], which serves the time
//! calls from the host's own vDSO without leaving compiled code: a few
//! tens of nanoseconds instead of a round trip through the system call
//! layer.

use core::sync::atomic::{AtomicU64, Ordering};
use xarch_ir::Helper;

/// The `SVC` immediate that marks a vDSO fast call.
pub const VDSO_CALL_IMM: u16 = 0x5856;

/// arm64 system call numbers served by the fast path.
pub const NR_GETTIMEOFDAY: u64 = 169;
/// `clock_gettime`.
pub const NR_CLOCK_GETTIME: u64 = 113;
/// `clock_getres`.
pub const NR_CLOCK_GETRES: u64 = 114;

static START: AtomicU64 = AtomicU64::new(0);
static END: AtomicU64 = AtomicU64::new(0);

/// Tells the lifter where the guest vDSO's code is (process-wide: one
/// guest image per process).
pub fn set_range(start: u64, len: u64) {
    START.store(start, Ordering::Relaxed);
    END.store(start.saturating_add(len), Ordering::Relaxed);
}

/// Whether `pc` is inside the guest vDSO.
pub fn contains(pc: u64) -> bool {
    pc >= START.load(Ordering::Relaxed) && pc < END.load(Ordering::Relaxed)
}

/// Stores a 16-byte `{i64, i64}` (timespec or timeval) at a guest address.
fn put_pair(addr: u64, a: i64, b: i64) -> Result<(), ()> {
    let v = (a as u64 as u128) | ((b as u64 as u128) << 64);
    xarch_ir::guest_mem::store(addr, 16, v).map_err(|_| ())
}

fn errno() -> u64 {
    (-(std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL) as i64)) as u64
}

unsafe extern "C" fn vdso_call(_state: *mut u8, nr: u64, a0: u64, a1: u64, _: u64) -> u64 {
    const EFAULT: u64 = (-(libc::EFAULT as i64)) as u64;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match nr {
        // Clock ids and the timespec layout are the same on both sides.
        NR_CLOCK_GETTIME | NR_CLOCK_GETRES => {
            // SAFETY: `ts` is a valid timespec; the host validates the id.
            let r = unsafe {
                if nr == NR_CLOCK_GETTIME {
                    libc::clock_gettime(a0 as libc::clockid_t, &mut ts)
                } else {
                    libc::clock_getres(a0 as libc::clockid_t, &mut ts)
                }
            };
            if r != 0 {
                return errno();
            }
            if a1 != 0 && put_pair(a1, ts.tv_sec, ts.tv_nsec).is_err() {
                return EFAULT;
            }
            0
        }
        NR_GETTIMEOFDAY => {
            let mut tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            let mut tz = [0i32; 2];
            // SAFETY: both out-parameters are valid for writes.
            if unsafe { libc::gettimeofday(&mut tv, tz.as_mut_ptr().cast()) } != 0 {
                return errno();
            }
            if a0 != 0 && put_pair(a0, tv.tv_sec, tv.tv_usec).is_err() {
                return EFAULT;
            }
            let tzv = (tz[0] as u32 as u128) | ((tz[1] as u32 as u128) << 32);
            if a1 != 0 && xarch_ir::guest_mem::store(a1, 8, tzv).is_err() {
                return EFAULT;
            }
            0
        }
        _ => (-(libc::ENOSYS as i64)) as u64,
    }
}

/// The vDSO fast call: `(nr, a0, a1)` → the system call's return value.
pub static VDSO_CALL: Helper = Helper {
    name: "vdso_call",
    func: vdso_call,
};

#[cfg(test)]
mod tests {
    use super::*;
    use xarch_ir::{ExitReason, Op, Terminator};

    /// `mov x8, #113; svc #0x5856; ret` lifted at `base`.
    fn lift_at(code: &[u32; 3], base: u64) -> xarch_ir::Block {
        crate::lift_block(base, |a| {
            (a >= base && a < base + 12).then(|| code[((a - base) / 4) as usize])
        })
        .expect("lifts")
    }

    #[test]
    fn fast_call_only_inside_the_vdso() {
        let code = [0xd280_0e28, 0xd40b_0ac1, 0xd65f_03c0];
        let base = 0x7000_0000_u64;
        let calls = |b: &xarch_ir::Block| {
            b.insts
                .iter()
                .filter(|i| matches!(i.op, Op::Call(h, ..) if core::ptr::eq(h, &VDSO_CALL)))
                .count()
        };
        // Outside the vDSO it is an ordinary system call.
        set_range(0, 0);
        let b = lift_at(&code, base);
        assert_eq!(calls(&b), 0);
        assert!(matches!(
            b.term,
            Terminator::Exit {
                reason: ExitReason::Syscall,
                ..
            }
        ));
        // Inside, an inline call, and the block goes on to the RET.
        set_range(base, 4096);
        let b = lift_at(&code, base);
        set_range(0, 0);
        assert_eq!(calls(&b), 1);
        assert!(matches!(b.term, Terminator::JumpDyn(..)), "{b}");
    }

    #[test]
    fn time_calls_match_the_host() {
        let mut out = [0i64; 2];
        // SAFETY: helpers may be called with any state pointer they ignore.
        let r = unsafe {
            vdso_call(
                core::ptr::null_mut(),
                NR_CLOCK_GETTIME,
                1,
                out.as_mut_ptr() as u64,
                0,
            )
        };
        assert_eq!(r, 0);
        let mut host = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid out-parameter.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut host) };
        assert!(
            out[0] <= host.tv_sec && host.tv_sec - out[0] <= 1,
            "{out:?} vs {}",
            host.tv_sec
        );
        assert!((0..1_000_000_000).contains(&out[1]));
        // A bad clock is the host's EINVAL.
        // SAFETY: as above.
        let r = unsafe {
            vdso_call(
                core::ptr::null_mut(),
                NR_CLOCK_GETRES,
                12345,
                out.as_mut_ptr() as u64,
                0,
            )
        };
        assert_eq!(r as i64, -(libc::EINVAL as i64));
        // SAFETY: as above.
        let r = unsafe {
            vdso_call(
                core::ptr::null_mut(),
                NR_GETTIMEOFDAY,
                out.as_mut_ptr() as u64,
                0,
                0,
            )
        };
        assert_eq!(r, 0);
        assert!(out[0] > 1_700_000_000 && (0..1_000_000).contains(&out[1]));
        // SAFETY: as above.
        let r = unsafe { vdso_call(core::ptr::null_mut(), 64, 0, 0, 0) };
        assert_eq!(r as i64, -(libc::ENOSYS as i64));
    }
}
