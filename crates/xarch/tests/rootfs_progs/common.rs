//! Shared by the --sysroot and --rootfs tests: the cache, cross-compiling
//! the C programs next to this file, and running xarch.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The arm64 glibc of Debian's cross toolchain (libc6-arm64-cross).
pub const CROSS_SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// `$XARCH_CACHE/rootfs-tests` (default `<repo>/.cache`).
pub fn cache_dir() -> PathBuf {
    let d = std::env::var_os("XARCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache"));
    let d = d.join("rootfs-tests");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The source directory of the test programs.
pub fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rootfs_progs")
}

/// Whether the arm64 cross compiler and its glibc are installed (prints
/// why a test skips when not).
pub fn have_cross() -> bool {
    let ok = Command::new("aarch64-linux-gnu-gcc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Path::new(CROSS_SYSROOT).join("lib/libc.so.6").exists();
    if !ok {
        eprintln!(
            "skipping: aarch64-linux-gnu-gcc and {CROSS_SYSROOT} are needed (apt-get install gcc-aarch64-linux-gnu)"
        );
    }
    ok
}

/// Runs `aarch64-linux-gnu-gcc ARGS -o OUT` in the cache directory unless
/// OUT is newer than every source; returns OUT.
pub fn cc(out: &str, args: &[&str]) -> PathBuf {
    let dir = cache_dir();
    let target = dir.join(out);
    // Unique per call: tests of one binary compile the same program in
    // parallel threads.
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{out}.tmp{}.{n}", std::process::id()));
    let st = Command::new("aarch64-linux-gnu-gcc")
        .current_dir(src_dir())
        .args(args)
        .arg("-o")
        .arg(&tmp)
        .status()
        .expect("running aarch64-linux-gnu-gcc");
    assert!(st.success(), "aarch64-linux-gnu-gcc {args:?} failed");
    std::fs::rename(&tmp, &target).unwrap();
    target
}

/// The xarch under test.
pub fn xarch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xarch"));
    c.env_remove("XARCH_SYSROOT")
        .env_remove("QEMU_LD_PREFIX")
        .env_remove("XARCH_STRACE");
    c
}

/// Runs a command and returns (exit status, stdout, stderr).
pub fn run(mut c: Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("running xarch");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}
