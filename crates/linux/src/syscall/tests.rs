//! Dispatcher tests: registers in, registers and guest memory out.

use super::*;
use crate::abi::{self, SigAction, Stat, oflags, sa};
use crate::process::Options;

/// Tests that touch process-wide signal state run one at a time.
use crate::signal::TEST_LOCK as SIGNAL_LOCK;

fn process() -> Process {
    let mut p = Process::new(Options::default());
    p.exe = "/usr/bin/guest-prog".into();
    p
}

/// Guest memory for arguments.
fn alloc(p: &mut Process, len: u64) -> u64 {
    p.mm.mmap(
        0,
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    )
    .unwrap()
}

fn put_str(p: &mut Process, s: &str) -> u64 {
    let a = alloc(p, s.len() as u64 + 1);
    // SAFETY: fresh guest memory, large enough.
    unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), a as *mut u8, s.len()) };
    a
}

fn call(p: &mut Process, st: &mut A64State, nr: u64, args: &[u64]) -> i64 {
    st.x[8] = nr;
    for (i, v) in args.iter().enumerate() {
        st.x[i] = *v;
    }
    st.pc += 4;
    assert_eq!(dispatch(p, st), None, "syscall {nr} ended the process");
    st.x[0] as i64
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("xarch-linux-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn table_is_sorted_unique_and_named() {
    let mut last = None;
    for d in TABLE {
        assert!(Some(d.nr) > last, "table not sorted at {}", d.name);
        last = Some(d.nr);
        assert_eq!(
            name(d.nr as u64),
            Some(d.name),
            "name mismatch for {}",
            d.nr
        );
        assert!(d.args.len() <= 6);
    }
    assert_eq!(name(435), Some("clone3"));
}

#[test]
fn simple_calls_reach_the_host() {
    let mut p = process();
    let mut st = A64State::default();
    // SAFETY: getpid cannot fail.
    assert_eq!(call(&mut p, &mut st, 172, &[]), unsafe { libc::getpid() }
        as i64);
    assert_eq!(call(&mut p, &mut st, 9999, &[]), -(libc::ENOSYS as i64));
    assert_eq!(
        call(&mut p, &mut st, 293, &[0, 0, 0, 0]),
        -(libc::ENOSYS as i64)
    );
}

/// ptrace is refused with EPERM (as under Yama or seccomp), and
/// PTRACE_TRACEME does not reach the host: the process stays untraced.
#[test]
fn ptrace_is_not_permitted() {
    let mut p = process();
    let mut st = A64State::default();
    let tracer = || {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("TracerPid:").map(|v| v.trim().to_owned()))
            .unwrap()
    };
    let before = tracer();
    // PTRACE_TRACEME = 0, PTRACE_PEEKDATA = 2, PTRACE_ATTACH = 16.
    for req in [0, 2, 16] {
        assert_eq!(
            call(&mut p, &mut st, 117, &[req, 1, 0, 0]),
            -(libc::EPERM as i64),
            "request {req}"
        );
    }
    assert_eq!(tracer(), before);
}

#[test]
fn pipe_write_read() {
    let mut p = process();
    let mut st = A64State::default();
    let fds = alloc(&mut p, 8);
    assert_eq!(
        call(
            &mut p,
            &mut st,
            59,
            &[fds, oflags::A64_O_DIRECT | libc::O_CLOEXEC as u64]
        ),
        0
    );
    let [r, w]: [i32; 2] = read_guest_val(&p, fds).unwrap();
    // arm64 O_DIRECT became the host's packet mode pipe flag.
    let fl = call(&mut p, &mut st, 25, &[w as u64, libc::F_GETFL as u64]);
    assert_eq!(
        fl as u64 & oflags::A64_O_DIRECT,
        oflags::A64_O_DIRECT,
        "F_GETFL reports arm64 O_DIRECT"
    );
    let msg = put_str(&mut p, "hello");
    assert_eq!(call(&mut p, &mut st, 64, &[w as u64, msg, 5]), 5);
    let buf = alloc(&mut p, 16);
    assert_eq!(call(&mut p, &mut st, 63, &[r as u64, buf, 16]), 5);
    assert_eq!(read_guest(&p, buf, 5, false).unwrap(), b"hello");
    assert_eq!(call(&mut p, &mut st, 57, &[r as u64]), 0);
    assert_eq!(call(&mut p, &mut st, 57, &[w as u64]), 0);
    assert_eq!(
        call(&mut p, &mut st, 57, &[w as u64]),
        -(libc::EBADF as i64)
    );
}

#[test]
fn openat_converts_arm64_flags() {
    let mut p = process();
    let mut st = A64State::default();
    let d = tmpdir("open");
    std::fs::write(d.join("file"), b"0123456789").unwrap();
    std::os::unix::fs::symlink(d.join("file"), d.join("link")).unwrap();
    let file = put_str(&mut p, d.join("file").to_str().unwrap());
    let link = put_str(&mut p, d.join("link").to_str().unwrap());
    let dir = put_str(&mut p, d.to_str().unwrap());
    let fdcwd = libc::AT_FDCWD as u64;
    // arm64 O_DIRECTORY (0o40000, x86_64's O_DIRECT) on a file: ENOTDIR.
    assert_eq!(
        call(
            &mut p,
            &mut st,
            56,
            &[fdcwd, file, oflags::A64_O_DIRECTORY, 0]
        ),
        -(libc::ENOTDIR as i64)
    );
    let fd = call(
        &mut p,
        &mut st,
        56,
        &[fdcwd, dir, oflags::A64_O_DIRECTORY, 0],
    );
    assert!(fd >= 0);
    call(&mut p, &mut st, 57, &[fd as u64]);
    // arm64 O_NOFOLLOW (0o100000, x86_64's O_LARGEFILE) on a symlink: ELOOP.
    assert_eq!(
        call(
            &mut p,
            &mut st,
            56,
            &[fdcwd, link, oflags::A64_O_NOFOLLOW, 0]
        ),
        -(libc::ELOOP as i64)
    );
    let fd = call(
        &mut p,
        &mut st,
        56,
        &[fdcwd, link, libc::O_RDONLY as u64, 0],
    );
    assert!(fd >= 0);
    // The host forces O_LARGEFILE; the guest sees the arm64 bit.
    let fl = call(&mut p, &mut st, 25, &[fd as u64, libc::F_GETFL as u64]) as u64;
    assert_eq!(fl & oflags::A64_O_LARGEFILE, oflags::A64_O_LARGEFILE);
    assert_eq!(fl & oflags::A64_O_NOFOLLOW, 0);

    // fstat and newfstatat fill the arm64 layout.
    let sb = alloc(&mut p, 128);
    assert_eq!(call(&mut p, &mut st, 80, &[fd as u64, sb]), 0);
    let s: Stat = read_guest_val(&p, sb).unwrap();
    assert_eq!(s.st_size, 10);
    assert_eq!(s.st_mode & libc::S_IFMT, libc::S_IFREG);
    // SAFETY: st_size is at offset 48 in the arm64 layout.
    assert_eq!(unsafe { *((sb + 48) as *const i64) }, 10);
    let host = std::fs::metadata(d.join("file")).unwrap();
    assert_eq!(s.st_ino, std::os::unix::fs::MetadataExt::ino(&host));
    assert_eq!(
        call(
            &mut p,
            &mut st,
            79,
            &[fdcwd, link, sb, libc::AT_SYMLINK_NOFOLLOW as u64]
        ),
        0
    );
    let s: Stat = read_guest_val(&p, sb).unwrap();
    assert_eq!(s.st_mode & libc::S_IFMT, libc::S_IFLNK);
    // A bad buffer is EFAULT, not a crash.
    assert_eq!(
        call(&mut p, &mut st, 80, &[fd as u64, 8]),
        -(libc::EFAULT as i64)
    );
    call(&mut p, &mut st, 57, &[fd as u64]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn readlink_proc_self_exe_names_the_guest() {
    let mut p = process();
    let mut st = A64State::default();
    let path = put_str(&mut p, "/proc/self/exe");
    let buf = alloc(&mut p, 256);
    let n = call(
        &mut p,
        &mut st,
        78,
        &[libc::AT_FDCWD as u64, path, buf, 256],
    );
    assert_eq!(
        read_guest(&p, buf, n as usize, false).unwrap(),
        b"/usr/bin/guest-prog"
    );
    let other = put_str(&mut p, "/proc/self/cwd");
    let n = call(
        &mut p,
        &mut st,
        78,
        &[libc::AT_FDCWD as u64, other, buf, 256],
    );
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        read_guest(&p, buf, n as usize, false).unwrap(),
        cwd.to_str().unwrap().as_bytes()
    );
}

#[test]
fn uname_says_aarch64() {
    let mut p = process();
    let mut st = A64State::default();
    let buf = alloc(&mut p, 390);
    assert_eq!(call(&mut p, &mut st, 160, &[buf]), 0);
    assert_eq!(read_guest(&p, buf + 4 * 65, 65, true).unwrap(), b"aarch64");
    assert_eq!(read_guest(&p, buf, 65, true).unwrap(), b"Linux");
}

#[test]
fn memory_calls_use_guest_bookkeeping() {
    let mut p = process();
    let mut st = A64State::default();
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
    let a = call(
        &mut p,
        &mut st,
        222,
        &[0, 8192, rw | 0x10 /* PROT_BTI */, anon, u64::MAX, 0],
    ) as u64;
    assert!(p.mm.covered(a, a + 8192));
    assert_eq!(
        call(&mut p, &mut st, 226, &[a, 4096, libc::PROT_READ as u64]),
        0
    );
    assert_eq!(p.mm.prot_at(a), Some(libc::PROT_READ));
    assert_eq!(call(&mut p, &mut st, 215, &[a, 8192]), 0);
    assert!(!p.mm.covered(a, a + 4096));
    // MAP_FIXED over xarch's own stack fails.
    let local = 0u64;
    let mine = crate::mm::page_down(&local as *const u64 as u64);
    assert_eq!(
        call(
            &mut p,
            &mut st,
            222,
            &[mine, 4096, rw, anon | libc::MAP_FIXED as u64, u64::MAX, 0]
        ),
        -(libc::ENOMEM as i64)
    );
    // brk(0) reports the break; growing works.
    let base = call(&mut p, &mut st, 222, &[0, 1 << 20, rw, anon, u64::MAX, 0]) as u64;
    call(&mut p, &mut st, 215, &[base, 1 << 20]);
    p.mm.init_brk(base);
    assert_eq!(call(&mut p, &mut st, 214, &[0]) as u64, base);
    assert_eq!(
        call(&mut p, &mut st, 214, &[base + 10000]) as u64,
        base + 10000
    );
    assert!(p.mm.covered(base, base + 12288));
}

#[test]
fn epoll_events_are_repacked() {
    let mut p = process();
    let mut st = A64State::default();
    let ep = call(&mut p, &mut st, 20, &[libc::EPOLL_CLOEXEC as u64]);
    assert!(ep >= 0);
    let fds = alloc(&mut p, 8);
    assert_eq!(call(&mut p, &mut st, 59, &[fds, 0]), 0);
    let [r, w]: [i32; 2] = read_guest_val(&p, fds).unwrap();
    let ev = alloc(&mut p, 64);
    write_guest(
        &p,
        ev,
        &abi::EpollEvent {
            events: libc::EPOLLIN as u32,
            _pad: 0,
            data: 0x1122_3344_5566_7788,
        },
    )
    .unwrap();
    assert_eq!(
        call(
            &mut p,
            &mut st,
            21,
            &[ep as u64, libc::EPOLL_CTL_ADD as u64, r as u64, ev]
        ),
        0
    );
    let one = put_str(&mut p, "x");
    call(&mut p, &mut st, 64, &[w as u64, one, 1]);
    let out = alloc(&mut p, 64);
    assert_eq!(
        call(&mut p, &mut st, 22, &[ep as u64, out, 4, 1000, 0, 8]),
        1
    );
    let got: abi::EpollEvent = read_guest_val(&p, out).unwrap();
    assert_eq!(got.events, libc::EPOLLIN as u32);
    assert_eq!(got.data, 0x1122_3344_5566_7788);
    for fd in [ep, r as i64, w as i64] {
        call(&mut p, &mut st, 57, &[fd as u64]);
    }
}

#[test]
fn strace_lines_decode_arguments() {
    let mut p = process();
    let path = put_str(&mut p, "/nonexistent/x");
    let d = lookup(56).unwrap();
    let a = [
        libc::AT_FDCWD as u64,
        path,
        libc::O_CLOEXEC as u64 | oflags::A64_O_DIRECTORY,
        0,
        0,
        0,
    ];
    let line = format_call(&p, d, &a, Ret::Val(-2));
    assert_eq!(
        line,
        "openat(AT_FDCWD, \"/nonexistent/x\", O_RDONLY|O_DIRECTORY|O_CLOEXEC, 0) = -1 ENOENT (No such file or directory)"
    );
    let msg = put_str(&mut p, "hi\n");
    let line = format_call(&p, lookup(64).unwrap(), &[1, msg, 3, 0, 0, 0], Ret::Val(3));
    assert_eq!(line, "write(1, \"hi\\n\", 3) = 3");
    let line = format_call(&p, lookup(129).unwrap(), &[42, 15, 0, 0, 0, 0], Ret::Val(0));
    assert_eq!(line, "kill(42, SIGTERM) = 0");
}

#[test]
fn exit_group_ends_the_process() {
    let mut p = process();
    let mut st = A64State::default();
    st.x[8] = 94;
    st.x[0] = 0x1234;
    assert_eq!(dispatch(&mut p, &mut st), Some(GuestExit::Exited(0x34)));
}

#[test]
fn fork_child_continues_with_zero() {
    let _g = SIGNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = process();
    let mut st = A64State::default();
    let ctid = alloc(&mut p, 8);
    let flags = libc::SIGCHLD as u64 | libc::CLONE_CHILD_SETTID as u64;
    let pid = call(&mut p, &mut st, 220, &[flags, 0, 0, 0x5555, ctid]);
    if pid == 0 {
        // Child: x0 = 0, TLS untouched without CLONE_SETTLS, ctid set.
        let tid: u32 = read_guest_val(&p, ctid).unwrap();
        // SAFETY: getpid cannot fail.
        let ok = st.x[0] == 0
            && p.forked
            && tid == unsafe { libc::getpid() } as u32
            && st.tpidr_el0 == 0;
        // SAFETY: leave the forked test harness immediately.
        unsafe { libc::_exit(if ok { 42 } else { 1 }) };
    }
    assert!(pid > 0);
    let status = alloc(&mut p, 4);
    assert_eq!(call(&mut p, &mut st, 260, &[pid as u64, status, 0, 0]), pid);
    let s: i32 = read_guest_val(&p, status).unwrap();
    assert!(
        libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 42,
        "child status {s:#x}"
    );
}

#[test]
fn signal_handler_frame_and_sigreturn() {
    let _g = SIGNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = process();
    let mut st = A64State::default();
    p.signals.init(&mut p.mm).unwrap();
    let stack = alloc(&mut p, 64 * 1024);
    st.sp = stack + 64 * 1024 - 32;
    for i in 0..31 {
        st.x[i] = 0x1000 + i as u64;
    }
    st.v[3] = 0xdead_beef_u128 << 64;
    st.nzcv = 0x6000_0000;
    st.fpcr = 0x0200_0000;
    let act = alloc(&mut p, 32);
    let handler = 0x4000_1000u64;
    write_guest(
        &p,
        act,
        &SigAction {
            handler,
            flags: sa::SIGINFO,
            restorer: 0,
            mask: 0,
        },
    )
    .unwrap();
    assert_eq!(
        call(&mut p, &mut st, 134, &[libc::SIGUSR1 as u64, act, 0, 8]),
        0
    );
    // Reading it back gives the same action.
    let old = alloc(&mut p, 32);
    assert_eq!(
        call(&mut p, &mut st, 134, &[libc::SIGUSR1 as u64, 0, old, 8]),
        0
    );
    assert_eq!(
        read_guest_val::<SigAction>(&p, old).unwrap().handler,
        handler
    );
    // SIGKILL cannot be caught.
    assert_eq!(
        call(&mut p, &mut st, 134, &[libc::SIGKILL as u64, act, 0, 8]),
        -(libc::EINVAL as i64)
    );

    // The guest sends itself SIGUSR1: the host handler records it.
    // SAFETY: getpid/gettid cannot fail.
    let (pid, tid) = unsafe {
        (
            libc::getpid() as u64,
            libc::syscall(libc::SYS_gettid) as u64,
        )
    };
    let before = st.clone();
    crate::signal::set_current_state(&mut st);
    assert_eq!(
        call(&mut p, &mut st, 131, &[pid, tid, libc::SIGUSR1 as u64]),
        0
    );
    crate::signal::clear_current_state();
    assert_ne!(
        crate::signal::pending() & crate::signal::bit(libc::SIGUSR1),
        0
    );
    assert_eq!(st.interrupt, 1);
    let interrupted = st.clone();
    assert_eq!(
        p.signals.deliver_pending(&mut st, &p.mm),
        crate::signal::Delivery::Continue
    );
    assert_eq!(st.pc, handler);
    assert_eq!(st.x[0], libc::SIGUSR1 as u64);
    assert_eq!(st.x[30], p.signals.trampoline);
    assert_eq!(st.sp % 16, 0);
    assert!(st.sp < before.sp);
    // siginfo and ucontext.
    assert_eq!(read_guest_val::<i32>(&p, st.x[1]).unwrap(), libc::SIGUSR1);
    assert_eq!(st.x[2], st.x[1] + 128);
    let mc = st.x[2] + 176;
    assert_eq!(read_guest_val::<u64>(&p, mc + 8 + 8 * 5).unwrap(), 0x1005);
    assert_eq!(
        read_guest_val::<u64>(&p, mc + 8 + 31 * 8 + 8).unwrap(),
        interrupted.pc
    );
    assert_eq!(
        read_guest_val::<u32>(&p, mc + 288).unwrap(),
        abi::FPSIMD_MAGIC
    );
    // The signal is blocked inside its handler.
    assert_ne!(p.signals.blocked & crate::signal::bit(libc::SIGUSR1), 0);
    // The trampoline is `mov x8, #139; svc #0`.
    assert_eq!(
        read_guest_val::<[u32; 2]>(&p, p.signals.trampoline).unwrap(),
        crate::signal::TRAMPOLINE_CODE
    );

    // The handler clobbers registers, then returns through rt_sigreturn.
    st.x[5] = 0;
    st.v[3] = 0;
    st.sp += 0;
    st.x[8] = 139;
    assert_eq!(dispatch(&mut p, &mut st), None);
    assert_eq!(st.x, interrupted.x);
    assert_eq!(st.pc, interrupted.pc);
    assert_eq!(st.sp, interrupted.sp);
    assert_eq!(st.nzcv, 0x6000_0000);
    assert_eq!(st.v[3], 0xdead_beef_u128 << 64);
    assert_eq!(st.fpcr, 0x0200_0000);
    assert_eq!(p.signals.blocked & crate::signal::bit(libc::SIGUSR1), 0);

    // A blocking read interrupted by the signal: EINTR without SA_RESTART,
    // re-executed SVC with it.
    let fds = alloc(&mut p, 8);
    call(&mut p, &mut st, 59, &[fds, 0]);
    let [r, w]: [i32; 2] = read_guest_val(&p, fds).unwrap();
    let buf = alloc(&mut p, 8);
    for (flags, restarted) in [(0, false), (sa::RESTART, true)] {
        write_guest(
            &p,
            act,
            &SigAction {
                handler,
                flags,
                restorer: 0,
                mask: 0,
            },
        )
        .unwrap();
        assert_eq!(
            call(&mut p, &mut st, 134, &[libc::SIGUSR1 as u64, act, 0, 8]),
            0
        );
        let killer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            // SAFETY: signalling the test thread.
            unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
        });
        st.pc = 0x5000;
        let x0 = call(&mut p, &mut st, 63, &[r as u64, buf, 8]);
        killer.join().unwrap();
        if restarted {
            assert_eq!(st.pc, 0x5000, "SVC re-executed");
            assert_eq!(x0, r as i64, "x0 keeps the first argument");
        } else {
            assert_eq!(st.pc, 0x5004);
            assert_eq!(x0, -(libc::EINTR as i64));
        }
        let saved = st.clone();
        p.signals.deliver_pending(&mut st, &p.mm);
        assert_eq!(st.pc, handler);
        st.x[8] = 139;
        dispatch(&mut p, &mut st);
        assert_eq!(st.pc, saved.pc);
    }
    // Back to the default disposition.
    write_guest(&p, act, &SigAction::default()).unwrap();
    call(&mut p, &mut st, 134, &[libc::SIGUSR1 as u64, act, 0, 8]);
    for fd in [r, w] {
        call(&mut p, &mut st, 57, &[fd as u64]);
    }
}

#[test]
fn sigprocmask_round_trip() {
    let _g = SIGNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = process();
    let mut st = A64State::default();
    let set = alloc(&mut p, 16);
    let usr2 = crate::signal::bit(libc::SIGUSR2);
    write_guest(&p, set, &usr2).unwrap();
    assert_eq!(
        call(&mut p, &mut st, 135, &[libc::SIG_BLOCK as u64, set, 0, 8]),
        0
    );
    assert_eq!(
        call(
            &mut p,
            &mut st,
            135,
            &[libc::SIG_UNBLOCK as u64, 0, set + 8, 8]
        ),
        0
    );
    assert_eq!(read_guest_val::<u64>(&p, set + 8).unwrap() & usr2, usr2);
    assert_eq!(
        call(&mut p, &mut st, 135, &[libc::SIG_UNBLOCK as u64, set, 0, 8]),
        0
    );
    assert_eq!(p.signals.blocked & usr2, 0);
    assert_eq!(
        call(&mut p, &mut st, 135, &[99, set, 0, 8]),
        -(libc::EINVAL as i64)
    );
}

#[test]
fn faults_without_handlers_kill() {
    // Dispositions are process-wide: not while another test installs
    // handlers.
    let _g = SIGNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = process();
    let mut st = A64State::default();
    let d = p.signals.force(&mut st, &p.mm, libc::SIGSEGV, 1, 0x10);
    assert_eq!(d, crate::signal::Delivery::Kill(libc::SIGSEGV));
}

#[test]
fn shebang_parsing() {
    assert_eq!(
        proc::parse_shebang(b"#!/bin/sh\necho"),
        Some((b"/bin/sh".to_vec(), None))
    );
    assert_eq!(
        proc::parse_shebang(b"#! /usr/bin/env  python3 \n"),
        Some((b"/usr/bin/env".to_vec(), Some(b"python3".to_vec())))
    );
    assert_eq!(proc::parse_shebang(b"#!\n"), None);
    assert_eq!(proc::parse_shebang(b"\x7fELF"), None);
}

#[test]
fn native_programs_exec_on_the_host() {
    assert_eq!(
        proc::plan_exec(b"/bin/sh", &[b"sh".to_vec()]),
        Ok(proc::ExecPlan::Host)
    );
    assert_eq!(proc::plan_exec(b"/nonexistent", &[]), Err(libc::ENOENT));
    let p = process();
    let argv = proc::reexec_argv(&p, b"/bin/busybox", b"-sh", &[b"-c".to_vec()]);
    assert_eq!(
        argv,
        [
            &b"xarch"[..],
            b"run",
            b"--argv0=-sh",
            b"--engine=interp",
            b"--",
            b"/bin/busybox",
            b"-c"
        ]
        .map(|s| s.to_vec())
    );
}

#[test]
fn execve_of_a_missing_program_fails_like_the_kernel() {
    let mut p = process();
    let mut st = A64State::default();
    let path = put_str(&mut p, "/nonexistent/prog");
    let argv = alloc(&mut p, 16);
    write_guest(&p, argv, &[path, 0u64]).unwrap();
    assert_eq!(
        call(&mut p, &mut st, 221, &[path, argv, 0]),
        -(libc::ENOENT as i64)
    );
    // A bad argv pointer is EFAULT.
    let sh = put_str(&mut p, "/bin/sh");
    assert_eq!(
        call(&mut p, &mut st, 221, &[sh, 16, 0]),
        -(libc::EFAULT as i64)
    );
    // /proc/self/exe means the guest program.
    let me = put_str(&mut p, "/proc/self/exe");
    assert_eq!(
        call(&mut p, &mut st, 221, &[me, argv, 0]),
        -(libc::ENOENT as i64),
        "p.exe does not exist"
    );
}

#[test]
fn fionread_counts_pipe_bytes() {
    let mut p = process();
    let mut st = A64State::default();
    let fds = alloc(&mut p, 8);
    call(&mut p, &mut st, 59, &[fds, 0]);
    let [r, w]: [i32; 2] = read_guest_val(&p, fds).unwrap();
    let msg = put_str(&mut p, "abc");
    call(&mut p, &mut st, 64, &[w as u64, msg, 3]);
    let n = alloc(&mut p, 4);
    assert_eq!(call(&mut p, &mut st, 29, &[r as u64, libc::FIONREAD, n]), 0);
    assert_eq!(read_guest_val::<i32>(&p, n).unwrap(), 3);
    // A pipe is not a terminal.
    let t = alloc(&mut p, 64);
    assert_eq!(
        call(&mut p, &mut st, 29, &[r as u64, libc::TCGETS, t]),
        -(libc::ENOTTY as i64)
    );
    for fd in [r, w] {
        call(&mut p, &mut st, 57, &[fd as u64]);
    }
}

#[test]
fn blocked_signals_wait_for_unblock_and_sigsuspend() {
    let _g = SIGNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = process();
    let mut st = A64State::default();
    p.signals.init(&mut p.mm).unwrap();
    let stack = alloc(&mut p, 64 * 1024);
    st.sp = stack + 64 * 1024;
    let usr2 = crate::signal::bit(libc::SIGUSR2);
    let handler = 0x4000_2000u64;
    let act = alloc(&mut p, 32);
    write_guest(
        &p,
        act,
        &SigAction {
            handler,
            flags: sa::SIGINFO,
            restorer: 0,
            mask: 0,
        },
    )
    .unwrap();
    assert_eq!(
        call(&mut p, &mut st, 134, &[libc::SIGUSR2 as u64, act, 0, 8]),
        0
    );
    let set = alloc(&mut p, 8);
    write_guest(&p, set, &usr2).unwrap();
    assert_eq!(
        call(&mut p, &mut st, 135, &[libc::SIG_BLOCK as u64, set, 0, 8]),
        0
    );
    // SAFETY: getpid/gettid cannot fail.
    let (pid, tid) = unsafe {
        (
            libc::getpid() as u64,
            libc::syscall(libc::SYS_gettid) as u64,
        )
    };

    // Sent while blocked: the host holds it.
    assert_eq!(
        call(&mut p, &mut st, 131, &[pid, tid, libc::SIGUSR2 as u64]),
        0
    );
    assert_eq!(crate::signal::pending() & usr2, 0);
    let pend = alloc(&mut p, 8);
    assert_eq!(call(&mut p, &mut st, 136, &[pend, 8]), 0);
    assert_eq!(read_guest_val::<u64>(&p, pend).unwrap() & usr2, usr2);
    // Unblocking lets it through, and the run loop delivers it.
    assert_eq!(
        call(&mut p, &mut st, 135, &[libc::SIG_UNBLOCK as u64, set, 0, 8]),
        0
    );
    assert_ne!(crate::signal::pending() & usr2, 0);
    let pc = st.pc;
    p.signals.deliver_pending(&mut st, &p.mm);
    assert_eq!(st.pc, handler);
    st.x[8] = 139;
    dispatch(&mut p, &mut st);
    assert_eq!(st.pc, pc);

    // rt_sigsuspend with an empty mask while SIGUSR2 is blocked: the signal
    // interrupts it and the frame saves the original mask.
    assert_eq!(
        call(&mut p, &mut st, 135, &[libc::SIG_BLOCK as u64, set, 0, 8]),
        0
    );
    let empty = alloc(&mut p, 8);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        // SAFETY: signalling the test thread.
        unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR2) };
    });
    assert_eq!(
        call(&mut p, &mut st, 133, &[empty, 8]),
        -(libc::EINTR as i64)
    );
    killer.join().unwrap();
    p.signals.deliver_pending(&mut st, &p.mm);
    assert_eq!(st.pc, handler);
    let saved_mask: u64 = read_guest_val(&p, st.x[2] + 40).unwrap();
    assert_eq!(saved_mask & usr2, usr2);
    st.x[8] = 139;
    dispatch(&mut p, &mut st);
    assert_eq!(p.signals.blocked & usr2, usr2);
    assert_eq!(p.signals.temp_mask, None);

    write_guest(&p, act, &SigAction::default()).unwrap();
    call(&mut p, &mut st, 134, &[libc::SIGUSR2 as u64, act, 0, 8]);
    call(&mut p, &mut st, 135, &[libc::SIG_UNBLOCK as u64, set, 0, 8]);
}
