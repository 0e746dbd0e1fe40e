//! arm64 system calls: the table (number, name, argument kinds, handler),
//! the dispatcher and the strace printer. Handlers live in topic modules;
//! calls whose ABI is identical on arm64 and x86_64 pass straight to the
//! host kernel through [`pass`].

pub mod fd;
pub mod fs;
pub mod hidden;
pub mod mem;
pub mod names;
pub mod proc;
pub mod signal;

use crate::process::{GuestExit, Process};
use std::fmt::Write as _;
use std::sync::OnceLock;
use xarch_a64::state::A64State;

/// The six argument registers x0..x5.
pub type Args = [u64; 6];

/// What a handler did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// Return this value in x0 (negative errno for errors).
    Val(i64),
    /// Registers were set by the handler (rt_sigreturn).
    NoWrite,
    /// The process ends.
    Exit(GuestExit),
}

/// A system call handler.
pub type Handler = fn(&mut Process, &mut A64State, &Args) -> Ret;

/// How strace shows an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Signed decimal.
    Int,
    /// Hexadecimal.
    Hex,
    /// A file descriptor.
    Fd,
    /// A directory fd for *at calls (AT_FDCWD shown by name).
    DirFd,
    /// A NUL-terminated path.
    Path,
    /// open flags (guest values).
    OFlags,
    /// Octal mode.
    Mode,
    /// A signal number.
    Sig,
    /// A buffer written by the guest, length in argument n.
    BufIn(u8),
    /// A buffer filled by the call, length = result.
    BufOut,
}

/// One row of the system call table.
#[derive(Clone, Copy, Debug)]
pub struct Def {
    /// arm64 number.
    pub nr: u32,
    /// Name.
    pub name: &'static str,
    /// Argument kinds, for strace.
    pub args: &'static [Arg],
    /// Handler.
    pub handler: Handler,
}

/// Calls the host system call `nr` with the raw arguments and returns the
/// result or a negative errno.
/// A guest signal arriving before a call that may block enters the
/// kernel makes it return `-EINTR` instead of sleeping (see
/// [`crate::safe_syscall`]); other calls are made anyway.
pub fn raw(nr: libc::c_long, a: &Args) -> i64 {
    // The guest's arguments are valid (or the kernel reports EFAULT);
    // guest pointers are host pointers. Callers only pass calls whose ABI
    // is the same for arm64 and x86_64.
    let r = crate::safe_syscall::safe_syscall(crate::signal::interrupt_flag(), nr, a);
    if r != crate::safe_syscall::NOT_STARTED {
        return r;
    }
    if may_block(nr, a) {
        return -(libc::EINTR as i64);
    }
    // A call that cannot wait for long: as if the signal had come just
    // after it (it is delivered when the call returns).
    // SAFETY: as above.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r < 0 { -(errno() as i64) } else { r }
}

/// Host calls that may wait indefinitely (for input, a child, a lock, a
/// timeout, a signal): a signal that arrives before one starts must
/// interrupt it. Interrupting any other call with EINTR would be wrong
/// (getpid, kill and most calls never fail with EINTR); those that block
/// only rarely (opening a FIFO, some terminal ioctls) are made, and a
/// later signal interrupts them in the kernel.
fn may_block(nr: libc::c_long, a: &Args) -> bool {
    match nr {
        libc::SYS_fcntl => matches!(a[1] as i32, libc::F_SETLKW | libc::F_OFD_SETLKW),
        libc::SYS_read
        | libc::SYS_write
        | libc::SYS_readv
        | libc::SYS_writev
        | libc::SYS_pread64
        | libc::SYS_pwrite64
        | libc::SYS_preadv
        | libc::SYS_pwritev
        | libc::SYS_preadv2
        | libc::SYS_pwritev2
        | libc::SYS_recvfrom
        | libc::SYS_recvmsg
        | libc::SYS_recvmmsg
        | libc::SYS_sendto
        | libc::SYS_sendmsg
        | libc::SYS_sendmmsg
        | libc::SYS_accept
        | libc::SYS_accept4
        | libc::SYS_connect
        | libc::SYS_wait4
        | libc::SYS_waitid
        | libc::SYS_nanosleep
        | libc::SYS_clock_nanosleep
        | libc::SYS_futex
        | libc::SYS_futex_waitv
        | libc::SYS_epoll_wait
        | libc::SYS_epoll_pwait
        | libc::SYS_epoll_pwait2
        | libc::SYS_poll
        | libc::SYS_ppoll
        | libc::SYS_select
        | libc::SYS_pselect6
        | libc::SYS_rt_sigsuspend
        | libc::SYS_rt_sigtimedwait
        | libc::SYS_pause
        | libc::SYS_msgrcv
        | libc::SYS_msgsnd
        | libc::SYS_semop
        | libc::SYS_semtimedop
        | libc::SYS_mq_timedreceive
        | libc::SYS_mq_timedsend
        | libc::SYS_flock
        | libc::SYS_splice
        | libc::SYS_tee
        | libc::SYS_vmsplice
        | libc::SYS_sendfile
        | libc::SYS_copy_file_range
        | libc::SYS_io_getevents
        | libc::SYS_io_uring_enter => true,
        _ => false,
    }
}

/// The current host errno.
pub fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Passes the call through to host system call `N`.
pub fn pass<const N: libc::c_long>(_: &mut Process, _: &mut A64State, a: &Args) -> Ret {
    Ret::Val(raw(N, a))
}

/// Returns `-errno`.
pub fn err(e: i32) -> Ret {
    Ret::Val(-(e as i64))
}

fn enosys(_: &mut Process, _: &mut A64State, _: &Args) -> Ret {
    err(libc::ENOSYS)
}

/// Tracing is refused: every request would act on the host's (x86-64)
/// view of a process (registers, memory layout, xarch's own signals), and
/// PTRACE_TRACEME would stop the tracee at each of xarch's internal steps.
/// EPERM, not ENOSYS, because it is what Linux itself answers when tracing
/// is not permitted (Yama, seccomp, containers), and what programs such as
/// Go's `SysProcAttr.Ptrace` and debuggers report cleanly.
fn ptrace(_: &mut Process, _: &mut A64State, _: &Args) -> Ret {
    err(libc::EPERM)
}

fn ok0(_: &mut Process, _: &mut A64State, _: &Args) -> Ret {
    Ret::Val(0)
}

macro_rules! table {
    ($( $nr:literal $name:ident [$($a:expr),*] $h:expr; )*) => {
        /// The implemented system calls.
        pub static TABLE: &[Def] = &[ $( Def { nr: $nr, name: stringify!($name), args: &[$($a),*], handler: $h } ),* ];
    };
}

use Arg::*;
use libc as l;
table! {
    5 setxattr [Path, Path, Hex, Int, Hex] pass::<{ l::SYS_setxattr }>;
    6 lsetxattr [Path, Path, Hex, Int, Hex] pass::<{ l::SYS_lsetxattr }>;
    7 fsetxattr [Fd, Path, Hex, Int, Hex] pass::<{ l::SYS_fsetxattr }>;
    8 getxattr [Path, Path, Hex, Int] pass::<{ l::SYS_getxattr }>;
    9 lgetxattr [Path, Path, Hex, Int] pass::<{ l::SYS_lgetxattr }>;
    10 fgetxattr [Fd, Path, Hex, Int] pass::<{ l::SYS_fgetxattr }>;
    11 listxattr [Path, Hex, Int] pass::<{ l::SYS_listxattr }>;
    12 llistxattr [Path, Hex, Int] pass::<{ l::SYS_llistxattr }>;
    13 flistxattr [Fd, Hex, Int] pass::<{ l::SYS_flistxattr }>;
    14 removexattr [Path, Path] pass::<{ l::SYS_removexattr }>;
    15 lremovexattr [Path, Path] pass::<{ l::SYS_lremovexattr }>;
    16 fremovexattr [Fd, Path] pass::<{ l::SYS_fremovexattr }>;
    17 getcwd [Hex, Int] fs::getcwd;
    19 eventfd2 [Int, Hex] pass::<{ l::SYS_eventfd2 }>;
    20 epoll_create1 [Hex] pass::<{ l::SYS_epoll_create1 }>;
    21 epoll_ctl [Fd, Int, Fd, Hex] fd::epoll_ctl;
    22 epoll_pwait [Fd, Hex, Int, Int, Hex, Int] fd::epoll_pwait;
    23 dup [Fd] pass::<{ l::SYS_dup }>;
    24 dup3 [Fd, Fd, OFlags] fd::dup3;
    25 fcntl [Fd, Int, Hex] fd::fcntl;
    26 inotify_init1 [Hex] pass::<{ l::SYS_inotify_init1 }>;
    27 inotify_add_watch [Fd, Path, Hex] pass::<{ l::SYS_inotify_add_watch }>;
    28 inotify_rm_watch [Fd, Int] pass::<{ l::SYS_inotify_rm_watch }>;
    29 ioctl [Fd, Hex, Hex] fd::ioctl;
    32 flock [Fd, Int] pass::<{ l::SYS_flock }>;
    33 mknodat [DirFd, Path, Mode, Hex] pass::<{ l::SYS_mknodat }>;
    34 mkdirat [DirFd, Path, Mode] pass::<{ l::SYS_mkdirat }>;
    35 unlinkat [DirFd, Path, Hex] pass::<{ l::SYS_unlinkat }>;
    36 symlinkat [Path, DirFd, Path] pass::<{ l::SYS_symlinkat }>;
    37 linkat [DirFd, Path, DirFd, Path, Hex] pass::<{ l::SYS_linkat }>;
    38 renameat [DirFd, Path, DirFd, Path] pass::<{ l::SYS_renameat }>;
    39 umount2 [Path, Hex] pass::<{ l::SYS_umount2 }>;
    40 mount [Path, Path, Path, Hex, Hex] pass::<{ l::SYS_mount }>;
    41 pivot_root [Path, Path] pass::<{ l::SYS_pivot_root }>;
    43 statfs [Path, Hex] pass::<{ l::SYS_statfs }>;
    44 fstatfs [Fd, Hex] pass::<{ l::SYS_fstatfs }>;
    45 truncate [Path, Int] pass::<{ l::SYS_truncate }>;
    46 ftruncate [Fd, Int] pass::<{ l::SYS_ftruncate }>;
    47 fallocate [Fd, Hex, Int, Int] pass::<{ l::SYS_fallocate }>;
    48 faccessat [DirFd, Path, Hex] pass::<{ l::SYS_faccessat }>;
    49 chdir [Path] pass::<{ l::SYS_chdir }>;
    50 fchdir [Fd] pass::<{ l::SYS_fchdir }>;
    51 chroot [Path] pass::<{ l::SYS_chroot }>;
    52 fchmod [Fd, Mode] pass::<{ l::SYS_fchmod }>;
    53 fchmodat [DirFd, Path, Mode] pass::<{ l::SYS_fchmodat }>;
    54 fchownat [DirFd, Path, Int, Int, Hex] pass::<{ l::SYS_fchownat }>;
    55 fchown [Fd, Int, Int] pass::<{ l::SYS_fchown }>;
    56 openat [DirFd, Path, OFlags, Mode] fs::openat;
    57 close [Fd] pass::<{ l::SYS_close }>;
    58 vhangup [] pass::<{ l::SYS_vhangup }>;
    59 pipe2 [Hex, OFlags] fd::pipe2;
    61 getdents64 [Fd, Hex, Int] pass::<{ l::SYS_getdents64 }>;
    62 lseek [Fd, Int, Int] pass::<{ l::SYS_lseek }>;
    63 read [Fd, BufOut, Int] pass::<{ l::SYS_read }>;
    64 write [Fd, BufIn(2), Int] pass::<{ l::SYS_write }>;
    65 readv [Fd, Hex, Int] pass::<{ l::SYS_readv }>;
    66 writev [Fd, Hex, Int] pass::<{ l::SYS_writev }>;
    67 pread64 [Fd, BufOut, Int, Int] pass::<{ l::SYS_pread64 }>;
    68 pwrite64 [Fd, BufIn(2), Int, Int] pass::<{ l::SYS_pwrite64 }>;
    69 preadv [Fd, Hex, Int, Int] pass::<{ l::SYS_preadv }>;
    70 pwritev [Fd, Hex, Int, Int] pass::<{ l::SYS_pwritev }>;
    71 sendfile [Fd, Fd, Hex, Int] pass::<{ l::SYS_sendfile }>;
    72 pselect6 [Int, Hex, Hex, Hex, Hex, Hex] fd::pselect6;
    73 ppoll [Hex, Int, Hex, Hex, Int] fd::ppoll;
    74 signalfd4 [Fd, Hex, Int, Hex] pass::<{ l::SYS_signalfd4 }>;
    75 vmsplice [Fd, Hex, Int, Hex] pass::<{ l::SYS_vmsplice }>;
    76 splice [Fd, Hex, Fd, Hex, Int, Hex] pass::<{ l::SYS_splice }>;
    77 tee [Fd, Fd, Int, Hex] pass::<{ l::SYS_tee }>;
    78 readlinkat [DirFd, Path, Hex, Int] fs::readlinkat;
    79 newfstatat [DirFd, Path, Hex, Hex] fs::newfstatat;
    80 fstat [Fd, Hex] fs::fstat;
    81 sync [] pass::<{ l::SYS_sync }>;
    82 fsync [Fd] pass::<{ l::SYS_fsync }>;
    83 fdatasync [Fd] pass::<{ l::SYS_fdatasync }>;
    84 sync_file_range [Fd, Int, Int, Hex] pass::<{ l::SYS_sync_file_range }>;
    85 timerfd_create [Int, Hex] pass::<{ l::SYS_timerfd_create }>;
    86 timerfd_settime [Fd, Hex, Hex, Hex] pass::<{ l::SYS_timerfd_settime }>;
    87 timerfd_gettime [Fd, Hex] pass::<{ l::SYS_timerfd_gettime }>;
    88 utimensat [DirFd, Path, Hex, Hex] pass::<{ l::SYS_utimensat }>;
    89 acct [Path] pass::<{ l::SYS_acct }>;
    90 capget [Hex, Hex] pass::<{ l::SYS_capget }>;
    91 capset [Hex, Hex] pass::<{ l::SYS_capset }>;
    93 exit [Int] proc::exit;
    94 exit_group [Int] proc::exit_group;
    95 waitid [Int, Int, Hex, Hex, Hex] pass::<{ l::SYS_waitid }>;
    96 set_tid_address [Hex] proc::set_tid_address;
    97 unshare [Hex] pass::<{ l::SYS_unshare }>;
    98 futex [Hex, Int, Int, Hex, Hex, Int] pass::<{ l::SYS_futex }>;
    99 set_robust_list [Hex, Int] pass::<{ l::SYS_set_robust_list }>;
    100 get_robust_list [Int, Hex, Hex] pass::<{ l::SYS_get_robust_list }>;
    101 nanosleep [Hex, Hex] pass::<{ l::SYS_nanosleep }>;
    102 getitimer [Int, Hex] pass::<{ l::SYS_getitimer }>;
    103 setitimer [Int, Hex, Hex] pass::<{ l::SYS_setitimer }>;
    113 clock_gettime [Int, Hex] pass::<{ l::SYS_clock_gettime }>;
    114 clock_getres [Int, Hex] pass::<{ l::SYS_clock_getres }>;
    115 clock_nanosleep [Int, Hex, Hex, Hex] pass::<{ l::SYS_clock_nanosleep }>;
    116 syslog [Int, Hex, Int] pass::<{ l::SYS_syslog }>;
    117 ptrace [Int, Int, Hex, Hex] ptrace;
    118 sched_setparam [Int, Hex] pass::<{ l::SYS_sched_setparam }>;
    119 sched_setscheduler [Int, Int, Hex] pass::<{ l::SYS_sched_setscheduler }>;
    120 sched_getscheduler [Int] pass::<{ l::SYS_sched_getscheduler }>;
    121 sched_getparam [Int, Hex] pass::<{ l::SYS_sched_getparam }>;
    122 sched_setaffinity [Int, Int, Hex] pass::<{ l::SYS_sched_setaffinity }>;
    123 sched_getaffinity [Int, Int, Hex] pass::<{ l::SYS_sched_getaffinity }>;
    124 sched_yield [] pass::<{ l::SYS_sched_yield }>;
    125 sched_get_priority_max [Int] pass::<{ l::SYS_sched_get_priority_max }>;
    126 sched_get_priority_min [Int] pass::<{ l::SYS_sched_get_priority_min }>;
    129 kill [Int, Sig] pass::<{ l::SYS_kill }>;
    130 tkill [Int, Sig] pass::<{ l::SYS_tkill }>;
    131 tgkill [Int, Int, Sig] pass::<{ l::SYS_tgkill }>;
    132 sigaltstack [Hex, Hex] signal::sigaltstack;
    133 rt_sigsuspend [Hex, Int] signal::rt_sigsuspend;
    134 rt_sigaction [Sig, Hex, Hex, Int] signal::rt_sigaction;
    135 rt_sigprocmask [Int, Hex, Hex, Int] signal::rt_sigprocmask;
    136 rt_sigpending [Hex, Int] signal::rt_sigpending;
    137 rt_sigtimedwait [Hex, Hex, Hex, Int] pass::<{ l::SYS_rt_sigtimedwait }>;
    138 rt_sigqueueinfo [Int, Sig, Hex] pass::<{ l::SYS_rt_sigqueueinfo }>;
    139 rt_sigreturn [] signal::rt_sigreturn;
    140 setpriority [Int, Int, Int] pass::<{ l::SYS_setpriority }>;
    141 getpriority [Int, Int] pass::<{ l::SYS_getpriority }>;
    143 setregid [Int, Int] pass::<{ l::SYS_setregid }>;
    144 setgid [Int] pass::<{ l::SYS_setgid }>;
    145 setreuid [Int, Int] pass::<{ l::SYS_setreuid }>;
    146 setuid [Int] pass::<{ l::SYS_setuid }>;
    147 setresuid [Int, Int, Int] pass::<{ l::SYS_setresuid }>;
    148 getresuid [Hex, Hex, Hex] pass::<{ l::SYS_getresuid }>;
    149 setresgid [Int, Int, Int] pass::<{ l::SYS_setresgid }>;
    150 getresgid [Hex, Hex, Hex] pass::<{ l::SYS_getresgid }>;
    151 setfsuid [Int] pass::<{ l::SYS_setfsuid }>;
    152 setfsgid [Int] pass::<{ l::SYS_setfsgid }>;
    153 times [Hex] pass::<{ l::SYS_times }>;
    154 setpgid [Int, Int] proc::setpgid;
    155 getpgid [Int] pass::<{ l::SYS_getpgid }>;
    156 getsid [Int] pass::<{ l::SYS_getsid }>;
    157 setsid [] pass::<{ l::SYS_setsid }>;
    158 getgroups [Int, Hex] pass::<{ l::SYS_getgroups }>;
    159 setgroups [Int, Hex] pass::<{ l::SYS_setgroups }>;
    160 uname [Hex] proc::uname;
    161 sethostname [Path, Int] pass::<{ l::SYS_sethostname }>;
    162 setdomainname [Path, Int] pass::<{ l::SYS_setdomainname }>;
    163 getrlimit [Int, Hex] pass::<{ l::SYS_getrlimit }>;
    164 setrlimit [Int, Hex] pass::<{ l::SYS_setrlimit }>;
    165 getrusage [Int, Hex] pass::<{ l::SYS_getrusage }>;
    166 umask [Mode] pass::<{ l::SYS_umask }>;
    167 prctl [Int, Hex, Hex, Hex, Hex] proc::prctl;
    168 getcpu [Hex, Hex, Hex] pass::<{ l::SYS_getcpu }>;
    169 gettimeofday [Hex, Hex] pass::<{ l::SYS_gettimeofday }>;
    170 settimeofday [Hex, Hex] pass::<{ l::SYS_settimeofday }>;
    171 adjtimex [Hex] pass::<{ l::SYS_adjtimex }>;
    172 getpid [] pass::<{ l::SYS_getpid }>;
    173 getppid [] pass::<{ l::SYS_getppid }>;
    174 getuid [] pass::<{ l::SYS_getuid }>;
    175 geteuid [] pass::<{ l::SYS_geteuid }>;
    176 getgid [] pass::<{ l::SYS_getgid }>;
    177 getegid [] pass::<{ l::SYS_getegid }>;
    178 gettid [] pass::<{ l::SYS_gettid }>;
    179 sysinfo [Hex] pass::<{ l::SYS_sysinfo }>;
    198 socket [Int, Hex, Int] pass::<{ l::SYS_socket }>;
    199 socketpair [Int, Hex, Int, Hex] pass::<{ l::SYS_socketpair }>;
    200 bind [Fd, Hex, Int] pass::<{ l::SYS_bind }>;
    201 listen [Fd, Int] pass::<{ l::SYS_listen }>;
    202 accept [Fd, Hex, Hex] pass::<{ l::SYS_accept }>;
    203 connect [Fd, Hex, Int] pass::<{ l::SYS_connect }>;
    204 getsockname [Fd, Hex, Hex] pass::<{ l::SYS_getsockname }>;
    205 getpeername [Fd, Hex, Hex] pass::<{ l::SYS_getpeername }>;
    206 sendto [Fd, BufIn(2), Int, Hex, Hex, Int] pass::<{ l::SYS_sendto }>;
    207 recvfrom [Fd, BufOut, Int, Hex, Hex, Hex] pass::<{ l::SYS_recvfrom }>;
    208 setsockopt [Fd, Int, Int, Hex, Int] pass::<{ l::SYS_setsockopt }>;
    209 getsockopt [Fd, Int, Int, Hex, Hex] pass::<{ l::SYS_getsockopt }>;
    210 shutdown [Fd, Int] pass::<{ l::SYS_shutdown }>;
    211 sendmsg [Fd, Hex, Hex] pass::<{ l::SYS_sendmsg }>;
    212 recvmsg [Fd, Hex, Hex] pass::<{ l::SYS_recvmsg }>;
    213 readahead [Fd, Int, Int] pass::<{ l::SYS_readahead }>;
    214 brk [Hex] mem::brk;
    215 munmap [Hex, Int] mem::munmap;
    216 mremap [Hex, Int, Int, Hex, Hex] mem::mremap;
    220 clone [Hex, Hex, Hex, Hex, Hex] proc::clone;
    221 execve [Path, Hex, Hex] proc::execve;
    222 mmap [Hex, Int, Hex, Hex, Fd, Hex] mem::mmap;
    223 fadvise64 [Fd, Int, Int, Int] pass::<{ l::SYS_fadvise64 }>;
    226 mprotect [Hex, Int, Hex] mem::mprotect;
    227 msync [Hex, Int, Hex] mem::msync;
    228 mlock [Hex, Int] ok0;
    229 munlock [Hex, Int] ok0;
    232 mincore [Hex, Int, Hex] mem::mincore;
    233 madvise [Hex, Int, Int] mem::madvise;
    240 rt_tgsigqueueinfo [Int, Int, Sig, Hex] pass::<{ l::SYS_rt_tgsigqueueinfo }>;
    242 accept4 [Fd, Hex, Hex, Hex] pass::<{ l::SYS_accept4 }>;
    243 recvmmsg [Fd, Hex, Int, Hex, Hex] pass::<{ l::SYS_recvmmsg }>;
    260 wait4 [Int, Hex, Hex, Hex] pass::<{ l::SYS_wait4 }>;
    261 prlimit64 [Int, Int, Hex, Hex] pass::<{ l::SYS_prlimit64 }>;
    264 name_to_handle_at [DirFd, Path, Hex, Hex, Hex] enosys;
    266 clock_adjtime [Int, Hex] pass::<{ l::SYS_clock_adjtime }>;
    267 syncfs [Fd] pass::<{ l::SYS_syncfs }>;
    268 setns [Fd, Hex] pass::<{ l::SYS_setns }>;
    269 sendmmsg [Fd, Hex, Int, Hex] pass::<{ l::SYS_sendmmsg }>;
    276 renameat2 [DirFd, Path, DirFd, Path, Hex] pass::<{ l::SYS_renameat2 }>;
    277 seccomp [Int, Hex, Hex] enosys;
    278 getrandom [Hex, Int, Hex] pass::<{ l::SYS_getrandom }>;
    279 memfd_create [Path, Hex] pass::<{ l::SYS_memfd_create }>;
    281 execveat [DirFd, Path, Hex, Hex, Hex] proc::execveat;
    283 membarrier [Int, Hex, Int] pass::<{ l::SYS_membarrier }>;
    284 mlock2 [Hex, Int, Hex] ok0;
    285 copy_file_range [Fd, Hex, Fd, Hex, Int, Hex] pass::<{ l::SYS_copy_file_range }>;
    286 preadv2 [Fd, Hex, Int, Int, Int, Hex] pass::<{ l::SYS_preadv2 }>;
    287 pwritev2 [Fd, Hex, Int, Int, Int, Hex] pass::<{ l::SYS_pwritev2 }>;
    291 statx [DirFd, Path, Hex, Hex, Hex] fs::statx;
    293 rseq [Hex, Int, Hex, Hex] enosys;
    424 pidfd_send_signal [Fd, Sig, Hex, Hex] pass::<{ l::SYS_pidfd_send_signal }>;
    434 pidfd_open [Int, Hex] pass::<{ l::SYS_pidfd_open }>;
    435 clone3 [Hex, Int] proc::clone3;
    436 close_range [Fd, Fd, Hex] fd::close_range;
    439 faccessat2 [DirFd, Path, Hex, Hex] pass::<{ l::SYS_faccessat2 }>;
    449 futex_waitv [Hex, Int, Hex, Hex, Int] pass::<449>;
}

/// Calls never restarted after a handler (the kernel returns EINTR for
/// them regardless of SA_RESTART).
const NO_RESTART: &[u32] = &[22, 72, 73, 101, 115, 133, 137];

/// Calls that fail with EINTR even when the signal that interrupted them
/// runs no handler (a stop and SIGCONT; signal(7)).
const EINTR_WITHOUT_HANDLER: &[u32] = &[22, 137, 192, 193];

/// Whether call `nr`, interrupted by a signal about to be delivered with
/// action `act`, is re-executed: after a handler with SA_RESTART, or when
/// no handler runs (the default action of a stop signal the init of a pid
/// namespace carries out), as the kernel restarts it.
fn restarts(nr: u64, act: crate::abi::SigAction) -> bool {
    if act.handler == 0 {
        return !EINTR_WITHOUT_HANDLER.contains(&(nr as u32));
    }
    !NO_RESTART.contains(&(nr as u32)) && act.flags & crate::abi::sa::RESTART != 0
}

/// The table row for `nr`.
pub fn lookup(nr: u64) -> Option<&'static Def> {
    static INDEX: OnceLock<Vec<Option<&'static Def>>> = OnceLock::new();
    let idx = INDEX.get_or_init(|| {
        let mut v = vec![None; 512];
        for d in TABLE {
            v[d.nr as usize] = Some(d);
        }
        v
    });
    idx.get(usize::try_from(nr).ok()?).copied().flatten()
}

/// The arm64 name of system call `nr`, implemented or not.
pub fn name(nr: u64) -> Option<&'static str> {
    names::NAMES
        .binary_search_by_key(&nr, |&(n, _)| n as u64)
        .ok()
        .map(|i| names::NAMES[i].1)
}

/// Handles the `SVC #0` that made the engine exit: reads x8 and x0..x5,
/// runs the handler, writes x0. Returns `Some` when the process ends.
pub fn dispatch(p: &mut Process, state: &mut A64State) -> Option<GuestExit> {
    let nr = state.x[8];
    let a: Args = [
        state.x[0], state.x[1], state.x[2], state.x[3], state.x[4], state.x[5],
    ];
    let def = lookup(nr);
    if p.opts.strace
        && (nr == 221 || nr == 281)
        && let Some(d) = def
    {
        // A successful execve does not come back to print its line.
        xarch_engine::diag!("{} ...", format_call(p, d, &a, Ret::NoWrite));
    }
    let ret = match def {
        Some(d) => match hidden::before(p, d, &a) {
            Some(r) => r,
            None => {
                let ta = crate::paths::translate_args(p, nr, &a);
                let r = (d.handler)(p, state, &ta);
                crate::paths::clear_scratch();
                hidden::after(d, &a, r)
            }
        },
        None => {
            if p.opts.strace {
                xarch_engine::diag!(
                    "{}xarch: unimplemented syscall {nr} ({})",
                    pid_prefix(p),
                    name(nr).unwrap_or("unknown")
                );
            }
            err(libc::ENOSYS)
        }
    };
    // (An execve that loads its program in this process printed its line
    // above, as one that executes xarch again.)
    if p.opts.strace
        && let Some(d) = def
        && !matches!(ret, Ret::Exit(crate::process::GuestExit::Exec))
    {
        xarch_engine::diag!("{}", format_call(p, d, &a, ret));
    }
    match ret {
        Ret::Val(v) => {
            if v == -(libc::EINTR as i64)
                && let Some(sig) = p.signals.next_deliverable()
                && restarts(nr, p.signals.action(sig))
            {
                // Re-execute the SVC after the handler returns.
                state.pc -= 4;
                return None;
            }
            state.x[0] = v as u64;
            None
        }
        Ret::NoWrite => None,
        Ret::Exit(e) => Some(e),
    }
}

fn pid_prefix(p: &Process) -> String {
    if p.forked {
        // SAFETY: gettid cannot fail.
        format!("[pid {}] ", unsafe { libc::syscall(libc::SYS_gettid) })
    } else {
        String::new()
    }
}

/// Reads up to `max` bytes of guest memory at `addr`, stopping at a NUL
/// when `cstr`; `None` if any byte is not guest-readable.
pub fn read_guest(p: &Process, addr: u64, max: usize, cstr: bool) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut a = addr;
    while out.len() < max {
        let prot = p.mm.prot_at(a)?;
        if prot & libc::PROT_READ == 0 {
            return None;
        }
        let page_end = crate::mm::page_down(a) + crate::mm::PAGE;
        let n = ((page_end - a) as usize).min(max - out.len());
        // SAFETY: the page is guest-owned and readable.
        let chunk = unsafe { std::slice::from_raw_parts(a as *const u8, n) };
        if cstr && let Some(z) = chunk.iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..z]);
            return Some(out);
        }
        out.extend_from_slice(chunk);
        a += n as u64;
    }
    Some(out)
}

/// Reads a NUL-terminated guest string (at most PATH_MAX bytes).
pub fn guest_cstr(p: &Process, addr: u64) -> Result<Vec<u8>, i32> {
    if let Some(s) = crate::paths::scratch_lookup(addr) {
        return Ok(s);
    }
    match read_guest(p, addr, 4096, true) {
        Some(s) if s.len() < 4096 => Ok(s),
        Some(_) => Err(libc::ENAMETOOLONG),
        None => Err(libc::EFAULT),
    }
}

/// Copies a value into guest memory, checking that it is writable.
pub fn write_guest<T: Copy>(p: &Process, addr: u64, v: &T) -> Result<(), i32> {
    let len = size_of::<T>() as u64;
    if !crate::signal::writable(&p.mm, addr, addr + len) {
        return Err(libc::EFAULT);
    }
    // SAFETY: checked writable guest memory; unaligned write is fine.
    unsafe { (addr as *mut T).write_unaligned(*v) };
    Ok(())
}

/// Copies a value out of guest memory, checking that it is readable.
pub fn read_guest_val<T: Copy>(p: &Process, addr: u64) -> Result<T, i32> {
    let len = size_of::<T>() as u64;
    if !crate::signal::readable(&p.mm, addr, addr + len) {
        return Err(libc::EFAULT);
    }
    // SAFETY: checked readable guest memory; T is a plain C value.
    Ok(unsafe { (addr as *const T).read_unaligned() })
}

fn escape(bytes: &[u8], limit: usize) -> String {
    let mut s = String::from("\"");
    for &b in bytes.iter().take(limit) {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    if bytes.len() > limit {
        s.push_str("...");
    }
    s
}

fn format_oflags(f: u64) -> String {
    const NAMES: &[(u64, &str)] = &[
        (0o100, "O_CREAT"),
        (0o200, "O_EXCL"),
        (0o400, "O_NOCTTY"),
        (0o1000, "O_TRUNC"),
        (0o2000, "O_APPEND"),
        (0o4000, "O_NONBLOCK"),
        (0o10000, "O_DSYNC"),
        (0o20000, "O_ASYNC"),
        (crate::abi::oflags::A64_O_DIRECTORY, "O_DIRECTORY"),
        (crate::abi::oflags::A64_O_NOFOLLOW, "O_NOFOLLOW"),
        (crate::abi::oflags::A64_O_DIRECT, "O_DIRECT"),
        (crate::abi::oflags::A64_O_LARGEFILE, "O_LARGEFILE"),
        (0o1000000, "O_NOATIME"),
        (0o2000000, "O_CLOEXEC"),
        (0o10000000, "O_PATH"),
    ];
    let mut parts = vec![match f & 3 {
        0 => "O_RDONLY".to_string(),
        1 => "O_WRONLY".to_string(),
        2 => "O_RDWR".to_string(),
        _ => "O_ACCMODE".to_string(),
    }];
    let mut rest = f & !3;
    for &(b, n) in NAMES {
        if rest & b != 0 {
            parts.push(n.into());
            rest &= !b;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#o}"));
    }
    parts.join("|")
}

/// A signal's name.
pub fn signame(sig: u64) -> String {
    const N: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match sig {
        1..=31 => N[sig as usize].into(),
        32..=64 => format!("SIGRT_{}", sig - 32),
        _ => sig.to_string(),
    }
}

/// The symbolic name of an errno value.
pub fn errname(e: i32) -> String {
    let n = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::EPIPE => "EPIPE",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::ENODATA => "ENODATA",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        _ => return format!("E{e}"),
    };
    n.into()
}

/// Formats one strace line: `name(args) = result`.
pub fn format_call(p: &Process, d: &Def, a: &Args, ret: Ret) -> String {
    let mut s = pid_prefix(p);
    s.push_str(d.name);
    s.push('(');
    for (i, kind) in d.args.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let v = a[i];
        match *kind {
            Arg::Int => {
                let _ = write!(s, "{}", v as i64);
            }
            Arg::Hex => {
                let _ = write!(s, "{v:#x}");
            }
            Arg::Fd => {
                let _ = write!(s, "{}", v as i32);
            }
            Arg::DirFd => {
                if v as i32 == libc::AT_FDCWD {
                    s.push_str("AT_FDCWD");
                } else {
                    let _ = write!(s, "{}", v as i32);
                }
            }
            Arg::Path => match read_guest(p, v, 256, true) {
                Some(b) if v != 0 => s.push_str(&escape(&b, 64)),
                _ => {
                    let _ = write!(s, "{v:#x}");
                }
            },
            Arg::OFlags => s.push_str(&format_oflags(v)),
            Arg::Mode if v == 0 => s.push('0'),
            Arg::Mode => {
                let _ = write!(s, "0{v:o}");
            }
            Arg::Sig => s.push_str(&signame(v)),
            Arg::BufIn(n) => match read_guest(p, v, (a[n as usize] as usize).min(4096), false) {
                Some(b) => s.push_str(&escape(&b, 32)),
                None => {
                    let _ = write!(s, "{v:#x}");
                }
            },
            Arg::BufOut => match ret {
                Ret::Val(n) if n > 0 => match read_guest(p, v, (n as usize).min(4096), false) {
                    Some(b) => s.push_str(&escape(&b, 32)),
                    None => {
                        let _ = write!(s, "{v:#x}");
                    }
                },
                _ => {
                    let _ = write!(s, "{v:#x}");
                }
            },
        }
    }
    s.push(')');
    match ret {
        Ret::Val(v) if (-4095..0).contains(&v) => {
            let e = -v as i32;
            let msg = std::io::Error::from_raw_os_error(e).to_string();
            let msg = msg.split(" (os error").next().unwrap_or_default();
            let _ = write!(s, " = -1 {} ({msg})", errname(e));
        }
        Ret::Val(v)
            if v > 0xffff || (d.args.first() == Some(&Arg::Hex) && d.name.starts_with('m')) =>
        {
            let _ = write!(s, " = {v:#x}");
        }
        Ret::Val(v) => {
            let _ = write!(s, " = {v}");
        }
        Ret::NoWrite => s.push_str(" = ?"),
        Ret::Exit(_) => s.push_str(" = ?"),
    }
    s
}

#[cfg(test)]
pub(crate) mod tests;
