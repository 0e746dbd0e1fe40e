//! GCC's c-torture execute suite as a correctness oracle (docs/TESTING-ctorture.md).
//!
//! The work is done by `scripts/ctorture.sh`, which the heavier full-suite
//! command (`scripts/ctorture.sh --full`) uses too; these tests only choose
//! its arguments. They need `aarch64-linux-gnu-gcc`, `qemu-aarch64` and
//! Debian's archive (the script installs what is missing when root, and
//! caches the pinned sources and compiled tests under `$XARCH_CACHE`).

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A results directory of the test's own, so tests may run concurrently.
fn out_dir(test: &str) -> String {
    let cache = std::env::var_os("XARCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache"));
    cache.join("ctorture").join(test).display().to_string()
}

/// Runs the harness with `args`; returns (exit code, stdout).
fn ctorture(args: &[&str]) -> Option<(i32, String)> {
    if !cfg!(target_arch = "x86_64") || !cfg!(target_os = "linux") {
        eprintln!("skipping: the c-torture harness runs on x86_64 Linux hosts only");
        return None;
    }
    let on_path = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let have_tools = on_path("aarch64-linux-gnu-gcc") && on_path("qemu-aarch64");
    if !(root || have_tools) {
        eprintln!(
            "skipping: needs aarch64-linux-gnu-gcc and qemu-aarch64 \
             (or root, to apt-get install them)"
        );
        return None;
    }
    let out = Command::new("bash")
        .arg(repo().join("scripts/ctorture.sh"))
        .args(args)
        .output()
        .expect("run bash scripts/ctorture.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    println!("{stdout}");
    let code = out.status.code().unwrap_or(-1);
    assert_ne!(code, 2, "the harness itself failed:\n{stderr}");
    Some((code, stdout))
}

/// The harness works: qemu against itself has no regression, and a runner
/// that fails every test is reported with every test that qemu passes.
#[test]
fn ctorture_harness_detects_regressions() {
    let out_dir = out_dir("run-test-harness");
    let few = [
        "--full",
        "--filter",
        "^(execute/2000011|ieee/fp-cmp-1$|builtins/strlen$)",
        "--opts",
        "O0,O2",
        "--out",
        &out_dir,
    ];
    let Some((code, out)) = ctorture(&[&few[..], &["--runner", "qemu-aarch64"]].concat()) else {
        return;
    };
    assert_eq!(code, 0, "qemu vs qemu must have no regression:\n{out}");
    assert!(out.contains("no regressions"), "{out}");
    let passed = out
        .lines()
        .find_map(|l| l.strip_prefix("ctorture: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse::<u32>().ok())
        .expect("closing line 'ctorture: N passed, M failed'");
    assert!(passed >= 4, "too few tests ran:\n{out}");

    let Some((code, out)) = ctorture(&[&few[..], &["--runner", "false"]].concat()) else {
        return;
    };
    assert_eq!(code, 1, "a failing runner must be reported:\n{out}");
    assert!(out.contains("REGRESSIONS"), "{out}");
    assert!(
        out.contains(&format!("ctorture: 0 passed, {passed} failed")),
        "every test qemu passes must regress:\n{out}"
    );
}

/// The CI sample: every 10th test at -O0, -O2 and -O3+armv8.2 extensions,
/// under xarch; fails on any test qemu-aarch64 passes and xarch does not.
#[test]
fn ctorture_sample_under_xarch() {
    let runner = format!("{} run --", env!("CARGO_BIN_EXE_xarch"));
    let out_dir = out_dir("run-test-sample");
    let args = ["--sample", "10", "--runner", &runner, "--out", &out_dir];
    let Some((code, out)) = ctorture(&args) else {
        return;
    };
    assert_eq!(code, 0, "c-torture regressions under xarch:\n{out}");
}
