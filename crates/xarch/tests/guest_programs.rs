//! The project's own guest C programs (tests/guest/*.c): each arm64 build
//! (-O0 and -O2) runs under the runner and must print exactly what the native
//! x86_64 build of the same source prints, with the same exit status. The
//! programs check architecture-specific values (AT_PLATFORM, uname -m,
//! the signal raised by a trap instruction) themselves and print only "ok".
//!
//! Fixtures: `tests/guest/build.sh` (see docs/TESTING.md).

mod common;

use common::{Status, TempDir};
use std::ffi::OsString;
use std::path::Path;

const ARGS: [&str; 4] = ["arg1", "two words", "", "-x=\u{e9}\u{1f600}"];
const ENV: [(&str, &str); 4] = [
    ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    ("XT_HELLO", "hi there"),
    ("XT_EMPTY", ""),
    ("LC_ALL", "C"),
];

fn compare(name: &str, opt: &str) {
    compare_args(name, opt, &ARGS, None);
}

/// Runs `name ARGS` both ways; `want` is the native run's status, or None
/// for "exit 0 and prints `failures: 0`".
fn compare_args(name: &str, opt: &str, args: &[&str], want: Option<Status>) {
    let dir = common::cache_dir().join("guest");
    let (Some(arm), Some(native)) = (
        common::fixture(
            dir.join(format!("aarch64-{opt}")).join(name),
            "tests/guest/build.sh",
        ),
        common::fixture(
            dir.join(format!("x86_64-{opt}")).join(name),
            "tests/guest/build.sh",
        ),
    ) else {
        return;
    };
    let one = |bin: &Path, prefix: Vec<OsString>, tag: &str| {
        let tmp = TempDir::new(&format!("guest-{name}-{opt}-{tag}"));
        let mut argv = prefix;
        argv.push(bin.into());
        argv.extend(args.iter().map(OsString::from));
        let mut out = common::run(&argv, tmp.path(), &ENV, b"");
        out.stderr = common::normalize(&out.stderr, &[(tmp.path().to_str().unwrap(), "$TMP")]);
        out
    };
    let native_out = one(&native, Vec::new(), "x86_64");
    let ok = match want {
        None => {
            native_out.status == Status::Exit(0) && native_out.stdout.ends_with(b"failures: 0\n")
        }
        Some(status) => native_out.status == status,
    };
    assert!(
        ok,
        "{name} {args:?} -{opt}: the native x86_64 build itself misbehaves:\n{native_out:?}"
    );
    let got = one(&arm, common::runner(), "aarch64");
    common::assert_same(&format!("{name} {args:?} -{opt}"), &native_out, &got);
}

macro_rules! guest_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            compare(stringify!($name), "O0");
            compare(stringify!($name), "O2");
        }
    )*};
}

guest_tests!(
    loader, memory, procs, signals, fileio, timecheck, compute, threads, fds, jobctl, sentsig,
    execat, vfork, execs
);

/// The exec chain of `execs` loads each link in the same xarch process (an
/// in-process execve) and, with `XARCH_EXEC=reexec`, executes xarch again:
/// both print what the native program prints. `XARCH_LOG=exec` says which
/// path each of the five execs took.
#[test]
fn execve_in_process_and_by_reexec_agree_with_native() {
    let dir = common::cache_dir().join("guest");
    let (Some(arm), Some(native)) = (
        common::fixture(dir.join("aarch64-O2/execs"), "tests/guest/build.sh"),
        common::fixture(dir.join("x86_64-O2/execs"), "tests/guest/build.sh"),
    ) else {
        return;
    };
    let tmp = TempDir::new("guest-execs-paths");
    let native_out = common::run(&[native.into()], tmp.path(), &ENV, b"");
    assert_eq!(native_out.status, Status::Exit(0), "{native_out:?}");
    for (path, said) in [
        ("inprocess", "in this process"),
        ("reexec", "executes xarch again: XARCH_EXEC=reexec"),
    ] {
        let mut env = ENV.to_vec();
        env.push(("XARCH_LOG", "exec"));
        env.push(("XARCH_EXEC", path));
        let mut argv = common::runner();
        argv.push(arm.clone().into());
        let mut got = common::run(&argv, tmp.path(), &env, b"");
        let lines = got.stderr.lines().filter(|l| l.contains(said)).count();
        assert_eq!(lines, 5, "{path}: {got:?}");
        got.stderr = got
            .stderr
            .lines()
            .filter(|l| !l.starts_with("xarch: execve of"))
            .map(|l| format!("{l}\n"))
            .collect();
        common::assert_same(&format!("execs ({path})"), &native_out, &got);
    }
}

/// The runner passes the guest's exit status through.
#[test]
fn exit_status_passes_through() {
    for code in ["0", "3", "42", "255"] {
        let want = Status::Exit(code.parse().unwrap());
        compare_args("procs", "O2", &["child", code, "arg"], Some(want));
    }
}

/// A guest killed by a signal kills the runner with the same signal.
#[test]
fn death_by_signal_passes_through() {
    // die_by() in signals.c: 0 SIGTERM, 1 SIGSEGV, 2 SIGABRT (abort), 3 SIGKILL, 7 SIGHUP
    for (how, sig) in [("0", 15), ("1", 11), ("2", 6), ("3", 9), ("7", 1)] {
        compare_args("signals", "O0", &["die-by", how], Some(Status::Signal(sig)));
    }
}

/// SIGSEGV/SIGBUS sent with kill (by the process itself or a child), not
/// caused by a fault, kill a guest without a handler as they do natively.
#[test]
fn sent_fault_signals_kill_as_natively() {
    for sig in [11, 7] {
        for how in ["die", "die-from-child"] {
            compare_args(
                "sentsig",
                "O0",
                &[how, &sig.to_string()],
                Some(Status::Signal(sig)),
            );
        }
    }
}

/// Every source file in tests/guest has a test above: a new program cannot
/// be silently left out.
#[test]
fn every_guest_program_is_tested() {
    let known = [
        "loader",
        "memory",
        "procs",
        "signals",
        "fileio",
        "timecheck",
        "compute",
        "threads",
        "fds",
        "jobctl",
        "sentsig",
        "execat",
        "vfork",
        "execs",
    ];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/guest");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "c") {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            assert!(
                known.contains(&stem.as_str()),
                "tests/guest/{stem}.c has no test in guest_programs.rs"
            );
        }
    }
}
