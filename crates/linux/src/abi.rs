//! The arm64 Linux user ABI: structures whose layout differs from the
//! x86_64 host's, constants whose values differ, and the auxiliary-vector
//! tags. Every structure is `#[repr(C)]` with its size pinned by a
//! compile-time assertion against the arm64 kernel headers
//! (`arch/arm64/include/uapi/asm/*`, `include/uapi/asm-generic/*`).

use core::mem::{offset_of, size_of};

/// Guest page size reported in `AT_PAGESZ` (arm64 kernels with 4 KiB pages).
pub const PAGE_SIZE: u64 = 4096;

/// The `AT_HWCAP` value: exactly the features the a64 frontend implements
/// (one definition, shared with MRS of the ID registers and /proc/cpuinfo).
pub const GUEST_HWCAP: u64 = xarch_a64::sysregs::HWCAP;
/// The `AT_HWCAP2` value.
pub const GUEST_HWCAP2: u64 = xarch_a64::sysregs::HWCAP2;

/// `AT_MINSIGSTKSZ` as an arm64 kernel without SVE/SME computes it:
/// `sizeof(struct rt_sigframe)` (4688) + a frame record (16) + 16 bytes of
/// alignment slack (`minsigstksz_setup` in arch/arm64/kernel/signal.c).
pub const GUEST_MINSIGSTKSZ: u64 = (size_of::<RtSigframe>() + 16 + 16) as u64;

/// Auxiliary vector tags (include/uapi/linux/auxvec.h, asm/auxvec.h).
#[allow(missing_docs)]
pub mod at {
    pub const NULL: u64 = 0;
    pub const PHDR: u64 = 3;
    pub const PHENT: u64 = 4;
    pub const PHNUM: u64 = 5;
    pub const PAGESZ: u64 = 6;
    pub const BASE: u64 = 7;
    pub const FLAGS: u64 = 8;
    pub const ENTRY: u64 = 9;
    pub const UID: u64 = 11;
    pub const EUID: u64 = 12;
    pub const GID: u64 = 13;
    pub const EGID: u64 = 14;
    pub const PLATFORM: u64 = 15;
    pub const HWCAP: u64 = 16;
    pub const CLKTCK: u64 = 17;
    pub const SECURE: u64 = 23;
    pub const RANDOM: u64 = 25;
    pub const HWCAP2: u64 = 26;
    pub const EXECFN: u64 = 31;
    pub const SYSINFO_EHDR: u64 = 33;
    pub const MINSIGSTKSZ: u64 = 51;
}

/// arm64 `open`/`fcntl` flag bits that differ from x86_64
/// (arch/arm64/include/uapi/asm/fcntl.h vs asm-generic/fcntl.h).
pub mod oflags {
    /// arm64 `O_DIRECTORY`.
    pub const A64_O_DIRECTORY: u64 = 0o40000;
    /// arm64 `O_NOFOLLOW`.
    pub const A64_O_NOFOLLOW: u64 = 0o100000;
    /// arm64 `O_DIRECT`.
    pub const A64_O_DIRECT: u64 = 0o200000;
    /// arm64 `O_LARGEFILE`.
    pub const A64_O_LARGEFILE: u64 = 0o400000;
    /// x86_64 `O_DIRECT`.
    pub const X64_O_DIRECT: u64 = 0o40000;
    /// x86_64 `O_LARGEFILE`.
    pub const X64_O_LARGEFILE: u64 = 0o100000;
    /// x86_64 `O_DIRECTORY`.
    pub const X64_O_DIRECTORY: u64 = 0o200000;
    /// x86_64 `O_NOFOLLOW`.
    pub const X64_O_NOFOLLOW: u64 = 0o400000;

    /// (guest bit, host bit) pairs; every other bit means the same on both.
    const TABLE: [(u64, u64); 4] = [
        (A64_O_DIRECTORY, X64_O_DIRECTORY),
        (A64_O_NOFOLLOW, X64_O_NOFOLLOW),
        (A64_O_DIRECT, X64_O_DIRECT),
        (A64_O_LARGEFILE, X64_O_LARGEFILE),
    ];
    const GUEST_MASK: u64 = A64_O_DIRECTORY | A64_O_NOFOLLOW | A64_O_DIRECT | A64_O_LARGEFILE;
    const HOST_MASK: u64 = X64_O_DIRECTORY | X64_O_NOFOLLOW | X64_O_DIRECT | X64_O_LARGEFILE;

    /// Converts guest (arm64) open flags to host (x86_64) ones.
    pub fn to_host(guest: u64) -> u64 {
        let mut host = guest & !GUEST_MASK;
        for (g, h) in TABLE {
            if guest & g != 0 {
                host |= h;
            }
        }
        host
    }

    /// Converts host (x86_64) open flags to guest (arm64) ones.
    pub fn to_guest(host: u64) -> u64 {
        let mut guest = host & !HOST_MASK;
        for (g, h) in TABLE {
            if host & h != 0 {
                guest |= g;
            }
        }
        guest
    }
}

/// arm64 `struct stat` (asm-generic/stat.h), as returned by `fstat` and
/// `newfstatat`. x86_64's is 144 bytes with a different field order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_mode: u32,
    pub st_nlink: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub st_rdev: u64,
    pub __pad1: u64,
    pub st_size: i64,
    pub st_blksize: i32,
    pub __pad2: i32,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: u64,
    pub st_mtime: i64,
    pub st_mtime_nsec: u64,
    pub st_ctime: i64,
    pub st_ctime_nsec: u64,
    pub __unused4: u32,
    pub __unused5: u32,
}
const _: () = assert!(size_of::<Stat>() == 128);
const _: () = assert!(offset_of!(Stat, st_size) == 48);
const _: () = assert!(offset_of!(Stat, st_atime) == 72);

impl Stat {
    /// Converts the host's `struct stat`.
    pub fn from_host(h: &libc::stat) -> Stat {
        Stat {
            st_dev: h.st_dev,
            st_ino: h.st_ino,
            st_mode: h.st_mode,
            st_nlink: h.st_nlink as u32,
            st_uid: h.st_uid,
            st_gid: h.st_gid,
            st_rdev: h.st_rdev,
            st_size: h.st_size,
            st_blksize: h.st_blksize as i32,
            st_blocks: h.st_blocks,
            st_atime: h.st_atime,
            st_atime_nsec: h.st_atime_nsec as u64,
            st_mtime: h.st_mtime,
            st_mtime_nsec: h.st_mtime_nsec as u64,
            st_ctime: h.st_ctime,
            st_ctime_nsec: h.st_ctime_nsec as u64,
            ..Stat::default()
        }
    }
}

/// arm64 `struct statfs` (asm-generic/statfs.h with 64-bit words). It has
/// the same layout as x86_64's, so `statfs`/`fstatfs` pass through; the
/// assertion documents that this was checked.
#[repr(C)]
#[allow(missing_docs)]
pub struct Statfs {
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_fsid: [i32; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    pub f_flags: i64,
    pub f_spare: [i64; 4],
}
const _: () = assert!(size_of::<Statfs>() == 120);
const _: () = assert!(size_of::<libc::statfs>() == size_of::<Statfs>());
const _: () = assert!(offset_of!(Statfs, f_namelen) == offset_of!(libc::statfs, f_namelen));

/// arm64 `struct epoll_event`: naturally aligned, 16 bytes (x86_64 packs
/// it into 12).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)]
pub struct EpollEvent {
    pub events: u32,
    pub _pad: u32,
    pub data: u64,
}
const _: () = assert!(size_of::<EpollEvent>() == 16);

/// The x86_64 host's packed `struct epoll_event`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)]
pub struct HostEpollEvent {
    pub events: u32,
    pub data: u64,
}
const _: () = assert!(size_of::<HostEpollEvent>() == 12);

/// arm64 kernel `struct sigaction` as passed to `rt_sigaction`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}
const _: () = assert!(size_of::<SigAction>() == 32);

/// `sa_flags` bits (asm-generic/signal-defs.h, identical on both).
#[allow(missing_docs)]
pub mod sa {
    pub const NOCLDSTOP: u64 = 0x0000_0001;
    pub const NOCLDWAIT: u64 = 0x0000_0002;
    pub const SIGINFO: u64 = 0x0000_0004;
    pub const ONSTACK: u64 = 0x0800_0000;
    pub const RESTART: u64 = 0x1000_0000;
    pub const NODEFER: u64 = 0x4000_0000;
    pub const RESETHAND: u64 = 0x8000_0000;
    pub const RESTORER: u64 = 0x0400_0000;
}

/// `stack_t` (same on both).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)]
pub struct StackT {
    pub ss_sp: u64,
    pub ss_flags: i32,
    pub _pad: i32,
    pub ss_size: u64,
}
const _: () = assert!(size_of::<StackT>() == 24);

/// `struct _aarch64_ctx`, the header of each record in `__reserved`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)]
pub struct Aarch64Ctx {
    pub magic: u32,
    pub size: u32,
}

/// `FPSIMD_MAGIC`.
pub const FPSIMD_MAGIC: u32 = 0x4650_8001;

/// `struct fpsimd_context`.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug)]
#[allow(missing_docs)]
pub struct FpsimdContext {
    pub head: Aarch64Ctx,
    pub fpsr: u32,
    pub fpcr: u32,
    pub vregs: [u128; 32],
}
const _: () = assert!(size_of::<FpsimdContext>() == 528);

/// `struct sigcontext` (arch/arm64/include/uapi/asm/sigcontext.h).
#[repr(C, align(16))]
#[allow(missing_docs)]
pub struct SigContext {
    pub fault_address: u64,
    pub regs: [u64; 31],
    pub sp: u64,
    pub pc: u64,
    pub pstate: u64,
    pub _align: u64,
    pub reserved: [u8; 4096],
}
const _: () = assert!(offset_of!(SigContext, reserved) == 288);
const _: () = assert!(size_of::<SigContext>() == 4384);

/// arm64 `struct ucontext`.
#[repr(C, align(16))]
#[allow(missing_docs)]
pub struct UContext {
    pub uc_flags: u64,
    pub uc_link: u64,
    pub uc_stack: StackT,
    pub uc_sigmask: u64,
    pub _unused: [u8; 120],
    pub _align: u64,
    pub uc_mcontext: SigContext,
}
const _: () = assert!(offset_of!(UContext, uc_sigmask) == 40);
const _: () = assert!(offset_of!(UContext, uc_mcontext) == 176);
const _: () = assert!(size_of::<UContext>() == 4560);

/// arm64 `struct rt_sigframe`: what a signal handler's x1/x2 point into.
#[repr(C, align(16))]
#[allow(missing_docs)]
pub struct RtSigframe {
    pub info: [u8; 128],
    pub uc: UContext,
}
const _: () = assert!(offset_of!(RtSigframe, uc) == 128);
const _: () = assert!(size_of::<RtSigframe>() == 4688);

/// `siginfo_t` is 128 bytes with the same layout on arm64 and x86_64.
const _: () = assert!(size_of::<libc::siginfo_t>() == 128);
/// `struct rlimit`, `struct timespec`, `struct rusage`, `struct utsname`,
/// `struct termios` (kernel), `struct winsize`, `struct linux_dirent64`,
/// `struct flock` and `struct statx` are identical on both 64-bit ABIs.
const _: () = assert!(size_of::<libc::rlimit>() == 16);
const _: () = assert!(size_of::<libc::timespec>() == 16);
const _: () = assert!(size_of::<libc::rusage>() == 144);
const _: () = assert!(size_of::<libc::utsname>() == 390);
const _: () = assert!(size_of::<libc::flock>() == 32);
const _: () = assert!(size_of::<libc::statx>() == 256);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_round_trip_and_differ() {
        let g = libc::O_CREAT as u64 | A64 | libc::O_CLOEXEC as u64;
        const A64: u64 = oflags::A64_O_DIRECTORY | oflags::A64_O_NOFOLLOW;
        let h = oflags::to_host(g);
        assert_eq!(h & libc::O_DIRECTORY as u64, libc::O_DIRECTORY as u64);
        assert_eq!(h & libc::O_NOFOLLOW as u64, libc::O_NOFOLLOW as u64);
        assert_eq!(h & libc::O_DIRECT as u64, 0);
        assert_eq!(h & oflags::X64_O_LARGEFILE, 0);
        assert_eq!(oflags::to_guest(h), g);
        assert_eq!(oflags::to_host(oflags::A64_O_LARGEFILE), 0o100000);
        assert_eq!(
            oflags::to_guest(libc::O_DIRECT as u64),
            oflags::A64_O_DIRECT
        );
    }

    #[test]
    fn minsigstksz_matches_kernel_formula() {
        assert_eq!(GUEST_MINSIGSTKSZ, 4720);
    }
}
