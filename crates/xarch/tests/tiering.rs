//! The engines that tier up: `--engine opt` (every block through the
//! optimizing tier at its first run; hot threshold 0, and 1 where a region
//! holds only blocks that already ran) and `--engine tiered` at a low hot
//! threshold, on real guest programs, against the interpreter or the
//! programs' own checks. The guest JIT program (selfmod.c) checks that
//! regions are dropped when their code is rewritten.
//!
//! Fixtures: `scripts/fixtures.sh` (busybox), `tests/guest/build.sh`;
//! the C programs of `tests/guest/` here are built with
//! `aarch64-linux-gnu-gcc` (skipped when it is missing).

mod common;

use common::{Outcome, Status, TempDir};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The tiering configurations: engine and `XARCH_HOT_THRESHOLD`.
const TIERED: [(&str, &str); 3] = [("opt", "0"), ("opt", "1"), ("tiered", "3")];

fn xarch(engine: &str, threshold: &str, prog: &Path, args: &[&str], dir: &Path) -> Outcome {
    let argv = common::xarch_argv(engine, prog, args);
    let env = [
        ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        ("LC_ALL", "C"),
        ("TZ", "UTC"),
        ("XARCH_HOT_THRESHOLD", threshold),
    ];
    common::run(&argv, dir, &env, b"")
}

fn build(name: &str) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guest")
        .join(format!("{name}.c"));
    let dir = std::env::temp_dir().join(format!("xarch-tiering-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    common::cross_compile_static(&src, &dir.join(name))
}

/// A self-checking C program (prints "<name> ok") under tiering
/// configurations.
fn self_checking(name: &str, configs: &[(&str, &str)]) {
    let Some(prog) = build(name) else { return };
    for &(engine, threshold) in configs {
        let tmp = TempDir::new(&format!("tier-{name}"));
        let out = xarch(engine, threshold, &prog, &[], tmp.path());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status == Status::Exit(0) && stdout.contains(&format!("{name} ok")),
            "{name} (--engine {engine}, threshold {threshold}):\n{out:?}"
        );
    }
}

#[test]
fn rewritten_guest_code_drops_regions() {
    self_checking("selfmod", &TIERED);
}

#[test]
fn precise_faults_and_signal_frames_in_regions() {
    self_checking("sigframe", &[TIERED[0], TIERED[2]]);
}

#[test]
fn threads_in_regions() {
    // Test builds run Cranelift unoptimised: the full set takes minutes.
    self_checking("threads", &[TIERED[0]]);
}

/// A program run under the interpreter and each tiering configuration:
/// same stdout, stderr and status.
fn against_interpreter(prog: &Path, args: &[&str]) {
    let tmp = TempDir::new("tier-interp");
    let want = xarch("interp", "0", prog, args, tmp.path());
    assert!(
        want.status != Status::TimedOut,
        "the interpreter run timed out:\n{want:?}"
    );
    for (engine, threshold) in TIERED {
        let tmp = TempDir::new("tier-run");
        let got = xarch(engine, threshold, prog, args, tmp.path());
        assert_eq!(
            got,
            want,
            "{} {args:?} under --engine {engine} (threshold {threshold}) differs from the interpreter",
            prog.display()
        );
    }
}

#[test]
fn guest_programs_match_the_interpreter() {
    let dir = common::cache_dir().join("guest/aarch64-O2");
    for name in ["compute", "memory"] {
        let Some(prog) = common::fixture(dir.join(name), "tests/guest/build.sh") else {
            return;
        };
        against_interpreter(&prog, &[]);
    }
}

#[test]
fn busybox_shell_and_text_tools_match_the_interpreter() {
    let Some(bb) = common::fixture(
        common::cache_dir().join("busybox/arm64/busybox"),
        "scripts/fixtures.sh",
    ) else {
        return;
    };
    // Few processes: under `opt` each compiles hundreds of regions, and
    // test builds run Cranelift unoptimised.
    let script = "i=0; s=0; while [ $i -lt 200 ]; do i=$((i+1)); s=$((s+i*i%7)); done; echo $s; \
                  seq 1 300 | sort -r | md5sum";
    against_interpreter(&bb, &["sh", "-c", script]);
}

/// The default tiered engine (default threshold) compiles regions for a
/// hot loop: `XARCH_STATS=1` reports them.
#[test]
fn hot_loop_reaches_a_region() {
    let Some(bb) = common::fixture(
        common::cache_dir().join("busybox/arm64/busybox"),
        "scripts/fixtures.sh",
    ) else {
        return;
    };
    let tmp = TempDir::new("tier-hot");
    let argv: Vec<OsString> = vec![
        env!("CARGO_BIN_EXE_xarch").into(),
        "run".into(),
        "--engine=tiered".into(),
        "--".into(),
        bb.into(),
        "sh".into(),
        "-c".into(),
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i".into(),
    ];
    let out = common::run(&argv, tmp.path(), &[("XARCH_STATS", "1")], b"");
    assert_eq!(out.stdout, b"20000\n", "{out:?}");
    let regions = out
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("xarch: regions compiled: "))
        .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
        .max();
    assert!(
        regions.is_some_and(|n| n > 0),
        "no region compiled for a hot loop:\n{out:?}"
    );
}
