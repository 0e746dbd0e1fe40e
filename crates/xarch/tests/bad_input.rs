//! `xarch run` on programs it cannot run: each case must end with one clear
//! line on stderr naming the problem (no panic, no backtrace) and its own
//! non-zero exit status, distinct from the other cases'. These are about
//! xarch itself, so they always use the `xarch` binary built by cargo, never
//! XARCH_TEST_RUNNER.

mod common;

use common::{Outcome, Status, TempDir};
use std::ffi::OsString;
use std::path::Path;

fn xarch_run(dir: &Path, program: &Path) -> Outcome {
    let argv: Vec<OsString> = vec![
        env!("CARGO_BIN_EXE_xarch").into(),
        "run".into(),
        "--".into(),
        program.into(),
        "arg".into(),
    ];
    // No XARCH_SYSROOT: the missing-loader case must not find one.
    common::run(&argv, dir, &[("PATH", "/usr/bin:/bin")], b"")
}

/// Checks the one-line error; returns the exit code.
fn check_error(case: &str, out: &Outcome, mentions: &[&str]) -> i32 {
    let code = match out.status {
        Status::Exit(c) if c != 0 => c,
        other => panic!("{case}: expected a non-zero exit status, got {other}\n{out:?}"),
    };
    assert!(
        out.stdout.is_empty(),
        "{case}: nothing may go to stdout\n{out:?}"
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{case}: expected exactly one line on stderr\n{out:?}"
    );
    let line = lines[0].to_lowercase();
    assert!(
        !line.contains("panicked"),
        "{case}: xarch panicked\n{out:?}"
    );
    assert!(
        line.starts_with("xarch"),
        "{case}: the error should say it comes from xarch\n{out:?}"
    );
    assert!(
        mentions.iter().any(|m| line.contains(m)),
        "{case}: the error should mention one of {mentions:?}\n{out:?}"
    );
    code
}

fn copy_prefix(from: &Path, to: &Path, len: usize) {
    let data = std::fs::read(from).unwrap();
    std::fs::write(to, &data[..len.min(data.len())]).unwrap();
}

#[test]
fn bad_programs_give_one_line_errors_with_distinct_statuses() {
    let guest = common::cache_dir().join("guest");
    let (Some(native), Some(arm_static), Some(dynamic)) = (
        common::fixture(guest.join("x86_64-O2/loader"), "tests/guest/build.sh"),
        common::fixture(guest.join("aarch64-O2/loader"), "tests/guest/build.sh"),
        common::fixture(
            guest.join("aarch64-dynamic-noloader"),
            "tests/guest/build.sh",
        ),
    ) else {
        return;
    };
    let tmp = TempDir::new("bad-input");
    let dir = tmp.path();

    let text = dir.join("notes.txt");
    std::fs::write(&text, "this is not an ELF file\n").unwrap();
    // The ELF header survives, the program headers it points at do not.
    let truncated = dir.join("truncated");
    copy_prefix(&arm_static, &truncated, 100);

    let mut codes = Vec::new();
    let cases: [(&str, &Path, &[&str]); 4] = [
        ("non-ELF file", &text, &["elf", "format", "exec"]),
        (
            "x86_64 ELF",
            &native,
            &["x86", "architecture", "machine", "aarch64", "arm64"],
        ),
        (
            "truncated ELF",
            &truncated,
            &["truncated", "short", "header", "corrupt", "invalid"],
        ),
        (
            "missing loader",
            &dynamic,
            &["interpreter", "loader", "ld-linux", "sysroot"],
        ),
    ];
    for (case, program, mentions) in cases {
        let out = xarch_run(dir, program);
        codes.push((case, check_error(case, &out, mentions)));
    }
    for (i, (a, ca)) in codes.iter().enumerate() {
        for (b, cb) in &codes[i + 1..] {
            assert_ne!(ca, cb, "'{a}' and '{b}' exit with the same status {ca}");
        }
    }
}

#[test]
fn missing_program_is_a_one_line_error() {
    let tmp = TempDir::new("bad-input-missing");
    let out = xarch_run(tmp.path(), &tmp.path().join("does-not-exist"));
    check_error(
        "missing program",
        &out,
        &["no such file", "not found", "does-not-exist"],
    );
}
