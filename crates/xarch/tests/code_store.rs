//! The persistent code cache (`XARCH_CODE_CACHE`): a second run of a
//! program installs the blocks the first one compiled and behaves the
//! same; changed guest code at the same address, code no longer mapped
//! executable, a damaged cache file and a cache directory that cannot be
//! made never change what the guest does.
//!
//! Fixtures: `scripts/fixtures.sh` (busybox); the C program is built with
//! `aarch64-linux-gnu-gcc` (skipped when it is missing).

mod common;

use common::{Outcome, Status, TempDir};
use std::path::{Path, PathBuf};

/// Runs `prog args` with the code cache in `cache` and `XARCH_STATS=1`;
/// returns the outcome with xarch's own report lines taken out of stderr,
/// and the report.
fn run(engine: &str, cache: &Path, prog: &Path, args: &[&str], dir: &Path) -> (Outcome, Report) {
    let argv = common::xarch_argv(engine, prog, args);
    let env = [
        ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        ("LC_ALL", "C"),
        ("XARCH_STATS", "1"),
        ("XARCH_CODE_CACHE", cache.to_str().expect("utf-8 path")),
    ];
    let mut out = common::run(&argv, dir, &env, b"");
    let (ours, guest): (Vec<&str>, Vec<&str>) =
        out.stderr.lines().partition(|l| l.starts_with("xarch: "));
    let report = Report::parse(&ours);
    out.stderr = guest.join("\n");
    (out, report)
}

/// The code store line of `XARCH_STATS` (summed over the processes).
#[derive(Debug, Default)]
struct Report {
    lines: usize,
    installed: u64,
    stale: u64,
    saved: u64,
}

impl Report {
    fn parse(lines: &[&str]) -> Report {
        let mut r = Report::default();
        for l in lines {
            let Some((_, rest)) = l
                .strip_prefix("xarch: code store ")
                .and_then(|l| l.split_once(": "))
            else {
                continue;
            };
            r.lines += 1;
            let num = |after: &str| -> u64 {
                rest.split(", ")
                    .find_map(|part| part.strip_suffix(after))
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0)
            };
            r.installed += num(" blocks installed");
            r.stale += num(" stale");
            r.saved += rest
                .split(", ")
                .find_map(|p| p.split_once(" saved ("))
                .and_then(|(n, _)| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
        r
    }
}

fn busybox() -> Option<PathBuf> {
    common::fixture(
        common::cache_dir().join("busybox/arm64/busybox"),
        "scripts/fixtures.sh",
    )
}

/// A shell script with forks, pipes and a loop: several processes, each
/// with its own store report.
const SCRIPT: &str = "i=0; s=0; while [ $i -lt 300 ]; do i=$((i+1)); s=$((s+i*i%7)); done; \
                      echo $s; seq 1 500 | sort -r | md5sum; echo done | tr a-z A-Z";

#[test]
fn warm_runs_install_stored_code_and_behave_the_same() {
    let Some(bb) = busybox() else { return };
    for engine in ["baseline", "tiered"] {
        let cache = TempDir::new("store-cache");
        let tmp = TempDir::new("store-run");
        let (want, _) = run(
            "interp",
            cache.path(),
            &bb,
            &["sh", "-c", SCRIPT],
            tmp.path(),
        );
        assert_eq!(want.status, Status::Exit(0), "{want:?}");
        let (cold, cold_report) = run(engine, cache.path(), &bb, &["sh", "-c", SCRIPT], tmp.path());
        assert_eq!(cold, want, "--engine={engine}, cold cache");
        // (Processes of the script that start after others exited
        // already find some of their code.)
        assert!(
            cold_report.saved > 0,
            "--engine={engine}: a cold run saves: {cold_report:?}"
        );
        for _ in 0..2 {
            let (warm, report) = run(engine, cache.path(), &bb, &["sh", "-c", SCRIPT], tmp.path());
            assert_eq!(warm, want, "--engine={engine}, warm cache");
            assert!(
                report.installed > cold_report.installed + 500 && report.stale == 0,
                "--engine={engine}: a warm run installs the stored blocks: {report:?}, cold: {cold_report:?}"
            );
            eprintln!("--engine={engine}: cold {cold_report:?}, warm {report:?}");
        }
    }
}

/// xarch's lines from processes running at once stay whole lines (one
/// write each): `eprintln!` wrote them piece by piece, and a shell's
/// concurrent jobs interleaved theirs mid-line.
#[test]
fn concurrent_processes_print_whole_lines() {
    let Some(bb) = busybox() else { return };
    let cache = TempDir::new("store-lines");
    let tmp = TempDir::new("store-lines-run");
    let script = "for i in 1 2 3 4 5 6 7 8 9 10; do seq 1 300 | md5sum >/dev/null & done; wait";
    for _ in 0..3 {
        let argv = common::xarch_argv("baseline", &bb, &["sh", "-c", script]);
        let env = [
            ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            ("XARCH_STATS", "1"),
            (
                "XARCH_CODE_CACHE",
                cache.path().to_str().expect("utf-8 path"),
            ),
        ];
        let out = common::run(&argv, tmp.path(), &env, b"");
        assert_eq!(out.status, Status::Exit(0), "{out:?}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert!(lines.len() >= 40, "{} lines: {out:?}", lines.len());
        for l in lines {
            assert!(
                l.starts_with("xarch: ") && !l[7..].contains("xarch: "),
                "a broken line: {l:?}"
            );
        }
    }
}

#[test]
fn the_interpreter_and_threshold_zero_keep_no_store() {
    let Some(bb) = busybox() else { return };
    let cache = TempDir::new("store-none");
    let tmp = TempDir::new("store-none-run");
    for engine in ["interp", "opt"] {
        let (out, report) = run(engine, cache.path(), &bb, &["sh", "-c", SCRIPT], tmp.path());
        assert_eq!(out.status, Status::Exit(0), "{out:?}");
        assert_eq!(report.lines, 0, "--engine={engine} uses no store");
    }
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

/// Builds `exit(VALUE)` after some libc work as a static (fixed-address)
/// program.
fn build_exit_with(dir: &Path, value: u32) -> Option<PathBuf> {
    let src = dir.join(format!("exit{value}.c"));
    std::fs::write(
        &src,
        format!(
            "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\
             int main(void) {{ char b[64]; snprintf(b, sizeof b, \"%d-%s\", 42, \"x\");\n\
             printf(\"%s %zu\\n\", b, strlen(b)); return {value}; }}\n"
        ),
    )
    .ok()?;
    common::cross_compile_static(&src, &dir.join(format!("exit{value}")))
}

/// The store's file for the program is chosen by its path and file
/// identity; when a program is rewritten in place with the same size and
/// time stamp, the same file is used, and the changed guest code must be
/// noticed at its address.
#[test]
fn changed_guest_code_at_the_same_address_is_not_reused() {
    let build = TempDir::new("store-build");
    let (Some(three), Some(five)) = (
        build_exit_with(build.path(), 3),
        build_exit_with(build.path(), 5),
    ) else {
        return;
    };
    let a = std::fs::read(&three).unwrap();
    let b = std::fs::read(&five).unwrap();
    assert_eq!(a.len(), b.len(), "the two programs differ in one immediate");
    let cache = TempDir::new("store-changed");
    let tmp = TempDir::new("store-changed-run");
    let prog = tmp.path().join("prog");
    std::fs::write(&prog, &a).unwrap();
    std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let stamp = std::fs::metadata(&prog).unwrap().modified().unwrap();
    for _ in 0..2 {
        let (out, _) = run("baseline", cache.path(), &prog, &[], tmp.path());
        assert_eq!(out.status, Status::Exit(3), "{out:?}");
        assert_eq!(out.stdout, b"42-x 4\n");
    }
    // Same inode, size and modification time: same store file.
    std::fs::write(&prog, &b).unwrap();
    std::fs::File::options()
        .append(true)
        .open(&prog)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    let (out, report) = run("baseline", cache.path(), &prog, &[], tmp.path());
    assert_eq!(out.status, Status::Exit(5), "stale code ran: {out:?}");
    assert_eq!(out.stdout, b"42-x 4\n");
    assert!(report.stale > 0 && report.installed > 0, "{report:?}");
}

#[test]
fn a_damaged_store_or_no_store_changes_nothing() {
    let Some(bb) = busybox() else { return };
    let cache = TempDir::new("store-damaged");
    let tmp = TempDir::new("store-damaged-run");
    let args = ["sh", "-c", SCRIPT];
    let (want, _) = run("baseline", cache.path(), &bb, &args, tmp.path());
    assert_eq!(want.status, Status::Exit(0), "{want:?}");
    // Flip bits all over every file (headers, indexes, code).
    for f in std::fs::read_dir(cache.path()).unwrap().flatten() {
        let mut bytes = std::fs::read(f.path()).unwrap();
        for i in (7..bytes.len()).step_by(509) {
            bytes[i] ^= 0x5a;
        }
        std::fs::write(f.path(), &bytes).unwrap();
    }
    let (got, _) = run("baseline", cache.path(), &bb, &args, tmp.path());
    assert_eq!(got, want, "with a damaged store");
    // A store directory that cannot be made: no store, same result.
    let nowhere = Path::new("/proc/self/xarch-no-such-dir");
    let (got, report) = run("baseline", nowhere, &bb, &args, tmp.path());
    assert_eq!(got, want, "without a store");
    assert_eq!(report.lines, 0);
}

/// A program whose other thread is still running when the process exits
/// (`exit` in main with a thread asleep, or `exit` in a thread with main
/// asleep): the process ends at once, with the exiting thread's code
/// stored first.
const THREADS_AT_EXIT: &str = r#"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static int from_thread;
static void *worker(void *arg) {
    (void)arg;
    if (from_thread) {
        char b[32];
        snprintf(b, sizeof b, "thread %d", 9);
        printf("%s\n", b);
        exit(9);
    }
    for (;;) pause();
}
int main(int argc, char **argv) {
    pthread_t t;
    from_thread = argc > 1 && strcmp(argv[1], "thread") == 0;
    pthread_create(&t, 0, worker, 0);
    if (from_thread) for (;;) pause();
    printf("main %d\n", 7);
    exit(7);
}
"#;

#[test]
fn processes_ending_with_threads_running_store_their_code() {
    let build = TempDir::new("store-threads-build");
    let src = build.path().join("threads_at_exit.c");
    std::fs::write(&src, THREADS_AT_EXIT).unwrap();
    let Some(prog) = common::cross_compile_static(&src, &build.path().join("threads_at_exit"))
    else {
        return;
    };
    for (args, want_out, want_status) in [
        (&[][..], &b"main 7\n"[..], 7),
        (&["thread"][..], &b"thread 9\n"[..], 9),
    ] {
        let cache = TempDir::new("store-threads");
        let tmp = TempDir::new("store-threads-run");
        let (cold, cold_report) = run("tiered", cache.path(), &prog, args, tmp.path());
        assert_eq!(
            (cold.status, &cold.stdout[..]),
            (Status::Exit(want_status), want_out),
            "{args:?}: {cold:?}"
        );
        assert!(cold_report.saved > 0, "{args:?}: {cold_report:?}");
        let (warm, report) = run("tiered", cache.path(), &prog, args, tmp.path());
        assert_eq!(warm, cold, "{args:?}");
        assert!(report.installed > 100, "{args:?}: {report:?}");
    }
}

/// Code at a fixed address, run from a page mapped executable (argument
/// `x`) or only readable: the second case must fault, also when the
/// store holds the block from a run where the page was executable.
fn build_exec_check(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("execcheck.c");
    std::fs::write(
        &src,
        r#"#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
static sigjmp_buf env;
static void on_segv(int s) { (void)s; siglongjmp(env, 1); }
int main(int argc, char **argv) {
    int exec = argc > 1 && argv[1][0] == 'x';
    void *want = (void *)0x50000000;
    void *p = mmap(want, 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != want) return 2;
    unsigned code[] = {0x52800540u /* mov w0, #42 */, 0xd65f03c0u /* ret */};
    memcpy(p, code, sizeof code);
    __builtin___clear_cache((char *)p, (char *)p + sizeof code);
    mprotect(p, 4096, exec ? PROT_READ | PROT_EXEC : PROT_READ);
    signal(SIGSEGV, on_segv);
    if (sigsetjmp(env, 1)) { printf("segv\n"); return 0; }
    int (*f)(void) = (int (*)(void))p;
    printf("ran %d\n", f());
    return 0;
}
"#,
    )
    .ok()?;
    common::cross_compile_static(&src, &dir.join("execcheck"))
}

/// A stored block is installed only where the guest maps its code
/// executable now (installs check each mapping once per batch: the check
/// must still happen).
#[test]
fn stored_code_no_longer_mapped_executable_is_not_run() {
    let build = TempDir::new("store-exec-build");
    let Some(prog) = build_exec_check(build.path()) else {
        return;
    };
    let cache = TempDir::new("store-exec");
    for _ in 0..2 {
        let (out, _) = run("baseline", cache.path(), &prog, &["x"], build.path());
        assert_eq!(out.status, Status::Exit(0), "{out:?}");
        assert_eq!(out.stdout, b"ran 42\n");
    }
    let (out, report) = run("baseline", cache.path(), &prog, &[], build.path());
    assert_eq!(out.status, Status::Exit(0), "{out:?}");
    assert_eq!(out.stdout, b"segv\n", "code ran from a page not executable");
    assert!(report.installed > 0, "{report:?}");
}
