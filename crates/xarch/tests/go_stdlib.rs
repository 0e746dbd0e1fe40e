//! Go standard library test binaries, cross-built for arm64 with the
//! host's `go` (`CGO_ENABLED=0 GOARCH=arm64 go test -c`), run under
//! `xarch run` with `-test.short` in their source directories: threads,
//! futexes, signals (preemption with SIGURG, per-thread syscalls on
//! signal 33), timers and process spawning. Skips when `go` is missing.
//!
//! Tests that make a *host* program execute an arm64 binary (nohup, `sh
//! -c ./os.test`) need binfmt_misc and are the only failures allowed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Tests that need the host kernel to run arm64 binaries (binfmt_misc).
const NEEDS_BINFMT: &[&str] = &["TestNohup", "TestDetectNohup", "TestStatStdin"];

fn goroot() -> Option<PathBuf> {
    let out = Command::new("go").args(["env", "GOROOT"]).output().ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn run_pkg(pkg: &str) {
    let Some(root) = goroot() else {
        eprintln!("skipping: go is not available");
        return;
    };
    let dir = std::env::temp_dir().join(format!("xarch-go-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join(pkg.replace('/', "_") + ".test");
    let st = Command::new("go")
        .args(["test", "-c", "-o"])
        .arg(&bin)
        .arg(pkg)
        .env("CGO_ENABLED", "0")
        .env("GOARCH", "arm64")
        .env("GOFLAGS", "-buildvcs=false")
        .status()
        .expect("running go");
    assert!(st.success(), "go test -c {pkg}");
    let src: &Path = &root.join("src").join(pkg);
    let out = Command::new(env!("CARGO_BIN_EXE_xarch"))
        .arg("run")
        .arg(&bin)
        .args(["-test.short", "-test.timeout=300s"])
        .current_dir(src)
        .output()
        .expect("running xarch");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("--- FAIL: "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|t| !t.contains('/'))
        .collect();
    let unexpected: Vec<&&str> = failed
        .iter()
        .filter(|t| !NEEDS_BINFMT.contains(t))
        .collect();
    let clean = out.status.success() || (!failed.is_empty() && unexpected.is_empty());
    assert!(
        clean && stdout.lines().any(|l| l == "PASS" || l == "FAIL"),
        "{pkg}: {:?}, unexpected failures {unexpected:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn go_sync() {
    run_pkg("sync");
}

#[test]
fn go_sync_atomic() {
    run_pkg("sync/atomic");
}

#[test]
fn go_context() {
    run_pkg("context");
}

#[test]
fn go_runtime_debug() {
    run_pkg("runtime/debug");
}

#[test]
fn go_os_signal() {
    run_pkg("os/signal");
}

#[test]
fn go_os() {
    run_pkg("os");
}

#[test]
fn go_time() {
    if goroot().is_some_and(|r| !r.join("lib/time/zoneinfo.zip").exists()) {
        eprintln!("skipping: the time tests need $GOROOT/lib/time/zoneinfo.zip");
        return;
    }
    run_pkg("time");
}
